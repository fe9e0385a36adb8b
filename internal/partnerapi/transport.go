package partnerapi

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
)

// Causes of a call that failed before an answer came, as Error.Cause names them.
const (
	// CauseDNS: the API's host name could not be resolved.
	CauseDNS = "dns"
	// CauseTLS: the TLS handshake failed, most often because the server's
	// certificate is not trusted.
	CauseTLS = "tls"
	// CauseConnect: the connection was refused, or the host or network is
	// unreachable.
	CauseConnect = "connect"
	// CauseTimeout: no answer came within the request timeout.
	CauseTimeout = "timeout"
	// CauseProxy: the HTTPS proxy in the environment failed.
	CauseProxy = "proxy"
	// CauseNetwork: the connection broke some other way, such as a reset.
	CauseNetwork = "network"
	// CauseTokenFile: the bearer token file could not be read, or is empty; nothing
	// was sent.
	CauseTokenFile = "token-file"
)

// hints say, for each cause, what to check.
var hints = map[string]string{
	CauseDNS: "check the host in --partner-api-url, and that the operator's pods can resolve it " +
		"(cluster DNS, egress to port 53)",
	CauseTLS: "the operator does not trust the server's certificate: give its CA with --partner-api-ca-file " +
		"(chart: partnerAPI.caBundle), or look for a proxy that intercepts TLS",
	CauseConnect: "check the port in --partner-api-url, and that egress from the operator's pods to it is allowed " +
		"(NetworkPolicy, firewall)",
	CauseTimeout: "check that egress to the API is allowed and not blackholed (NetworkPolicy, firewall, proxy); " +
		"the limit is --partner-api-timeout",
	CauseProxy:   "check HTTPS_PROXY and NO_PROXY in the operator's environment, and the proxy itself",
	CauseNetwork: "retried with backoff; if it lasts, check the network path to the API",
}

// Hint returns what to check for a call that failed with cause, or "".
func Hint(cause string) string { return hints[cause] }

// transportFailure classifies err, the failure of a request that got no answer,
// and describes it in words that stay the same from one attempt to the next (no
// local port, no time).
func transportFailure(err error) (cause, detail string) {
	var dnsErr *net.DNSError
	var unknownCA x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var invalid x509.CertificateInvalidError
	var record tls.RecordHeaderError
	var alert tls.AlertError
	var opErr *net.OpError
	switch {
	case errors.As(err, &dnsErr):
		return CauseDNS, fmt.Sprintf("cannot resolve %s: %s", dnsErr.Name, dnsErr.Err)
	case errors.As(err, &unknownCA):
		return CauseTLS, "x509: certificate signed by unknown authority"
	case errors.As(err, &hostErr):
		return CauseTLS, hostErr.Error()
	case errors.As(err, &invalid):
		if invalid.Reason == x509.Expired {
			return CauseTLS, "x509: the server's certificate has expired or is not yet valid"
		}
		return CauseTLS, "x509: the server's certificate is not valid"
	case errors.As(err, &record), strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		return CauseTLS, "the server did not answer in TLS: is it an http:// server?"
	case errors.As(err, &alert):
		return CauseTLS, "the server refused the TLS handshake: " + alert.Error()
	case errors.Is(err, context.DeadlineExceeded), isTimeout(err):
		return CauseTimeout, "no answer within the request timeout"
	case errors.As(err, &opErr) && opErr.Op == "proxyconnect":
		return CauseProxy, "the proxy failed: " + errnoText(err)
	case errors.As(err, &opErr) && opErr.Op == "dial":
		where := ""
		if opErr.Addr != nil {
			where = " " + opErr.Addr.String()
		}
		return CauseConnect, "cannot connect to" + where + ": " + errnoText(err)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET):
		return CauseNetwork, "the connection was closed before an answer came"
	}
	return CauseNetwork, "the connection failed: " + errnoText(err)
}

// isTimeout reports whether err says it is a timeout.
func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// errnoText is the system's words for err's errno, or a fixed text when it has
// none.
func errnoText(err error) string {
	if errno, ok := errors.AsType[syscall.Errno](err); ok {
		return errno.Error()
	}
	return "no system error given"
}
