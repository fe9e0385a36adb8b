// Package controller holds what the controllers of both kinds share: the cache
// they read from, the finalizer patch and the jitter of their requeues. Each kind's
// controller is a package of its own: partneraccount and partnerconnection. The
// Partnership API connections they both use are internal/connection's.
package controller
