// Package metricsauth lets only authorized readers scrape the operator's metrics:
// it authenticates each request's bearer token with a TokenReview and authorizes
// the request's verb on its path with a SubjectAccessReview, as controller-runtime's
// filters.WithAuthenticationAndAuthorization does, with the same answers (401,
// 403, 500) and cache times. It calls the two reviews through client-go's typed
// clients instead of k8s.io/apiserver's delegating authenticator and authorizer,
// which would link k8s.io/apiserver, OpenTelemetry, gRPC and CEL into the binary:
// 20 MB of code, most of it paged in at start, resident for the process's life.
package metricsauth

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	authnv1 "k8s.io/api/authentication/v1"
	authzv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	authenticationv1 "k8s.io/client-go/kubernetes/typed/authentication/v1"
	authorizationv1 "k8s.io/client-go/kubernetes/typed/authorization/v1"
	"k8s.io/client-go/rest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

// How long verdicts are kept, as controller-runtime's filter keeps them.
const (
	tokenTTL   = time.Minute
	allowTTL   = 5 * time.Minute
	denyTTL    = 30 * time.Second
	reviewWait = 10 * time.Second
	// maxCached bounds each cache; a full cache starts over.
	maxCached = 1024
)

// WithAuthenticationAndAuthorization is a metricsserver.Options.FilterProvider.
func WithAuthenticationAndAuthorization(config *rest.Config, httpClient *http.Client) (metricsserver.Filter, error) {
	authn, err := authenticationv1.NewForConfigAndClient(config, httpClient)
	if err != nil {
		return nil, err
	}
	authz, err := authorizationv1.NewForConfigAndClient(config, httpClient)
	if err != nil {
		return nil, err
	}
	g := newGate(authn.TokenReviews(), authz.SubjectAccessReviews())
	return g.filter, nil
}

// tokenReviewer and accessReviewer are the two reviews the gate asks for.
type (
	tokenReviewer interface {
		Create(context.Context, *authnv1.TokenReview, metav1.CreateOptions) (*authnv1.TokenReview, error)
	}
	accessReviewer interface {
		Create(context.Context, *authzv1.SubjectAccessReview, metav1.CreateOptions) (*authzv1.SubjectAccessReview,
			error)
	}
)

// gate holds the reviewers and their cached verdicts.
type gate struct {
	tokens tokenReviewer
	access accessReviewer
	now    func() time.Time

	mu sync.Mutex
	// users holds the user of each token (by its SHA-256), or nil for a token
	// that is not authenticated.
	users map[[32]byte]cached[*authnv1.UserInfo]
	// allowed holds each user's verdict on a verb and path.
	allowed map[string]cached[bool]
}

// cached is a verdict and when it expires.
type cached[T any] struct {
	value   T
	expires time.Time
}

func newGate(tokens tokenReviewer, access accessReviewer) *gate {
	return &gate{tokens: tokens, access: access, now: time.Now,
		users: map[[32]byte]cached[*authnv1.UserInfo]{}, allowed: map[string]cached[bool]{}}
}

// filter wraps handler so that only authorized requests reach it.
func (g *gate) filter(log logr.Logger, handler http.Handler) (http.Handler, error) {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		user, err := g.authenticate(req.Context(), bearerToken(req))
		if err != nil {
			log.Error(err, "Authentication failed")
			http.Error(w, "Authentication failed", http.StatusInternalServerError)
			return
		}
		if user == nil {
			log.V(4).Info("Authentication failed")
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
		verb := strings.ToLower(req.Method)
		allowed, err := g.authorize(req.Context(), user, verb, req.URL.Path)
		if err != nil {
			log.Error(err, "Authorization failed", "user", user.Username)
			http.Error(w, fmt.Sprintf("Authorization for user %s failed", user.Username), http.StatusInternalServerError)
			return
		}
		if !allowed {
			log.V(4).Info("Authorization denied", "user", user.Username, "verb", verb, "path", req.URL.Path)
			http.Error(w, fmt.Sprintf("Authorization denied for user %s", user.Username), http.StatusForbidden)
			return
		}
		handler.ServeHTTP(w, req)
	}), nil
}

// bearerToken is the request's bearer token, or "".
func bearerToken(req *http.Request) string {
	scheme, token, ok := strings.Cut(req.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(token)
}

// authenticate returns the user token authenticates as, or nil when it does not.
func (g *gate) authenticate(ctx context.Context, token string) (*authnv1.UserInfo, error) {
	if token == "" {
		return nil, nil
	}
	key := sha256.Sum256([]byte(token))
	if c, ok := lookup(g, g.users, key); ok {
		return c, nil
	}
	ctx, cancel := context.WithTimeout(ctx, reviewWait)
	defer cancel()
	review, err := g.tokens.Create(ctx, &authnv1.TokenReview{Spec: authnv1.TokenReviewSpec{Token: token}},
		metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("TokenReview: %w", err)
	}
	var user *authnv1.UserInfo
	if review.Status.Authenticated {
		user = &review.Status.User
	}
	store(g, g.users, key, user, tokenTTL)
	return user, nil
}

// authorize reports whether user may verb path.
func (g *gate) authorize(ctx context.Context, user *authnv1.UserInfo, verb, path string) (bool, error) {
	key := user.Username + "\x00" + user.UID + "\x00" + strings.Join(user.Groups, ",") + "\x00" + verb + "\x00" + path
	if allowed, ok := lookup(g, g.allowed, key); ok {
		return allowed, nil
	}
	extra := make(map[string]authzv1.ExtraValue, len(user.Extra))
	for k, v := range user.Extra {
		extra[k] = authzv1.ExtraValue(v)
	}
	ctx, cancel := context.WithTimeout(ctx, reviewWait)
	defer cancel()
	review, err := g.access.Create(ctx, &authzv1.SubjectAccessReview{Spec: authzv1.SubjectAccessReviewSpec{
		User: user.Username, UID: user.UID, Groups: user.Groups, Extra: extra,
		NonResourceAttributes: &authzv1.NonResourceAttributes{Path: path, Verb: verb},
	}}, metav1.CreateOptions{})
	if err != nil {
		return false, fmt.Errorf("SubjectAccessReview: %w", err)
	}
	ttl := denyTTL
	if review.Status.Allowed {
		ttl = allowTTL
	}
	store(g, g.allowed, key, review.Status.Allowed, ttl)
	return review.Status.Allowed, nil
}

// lookup returns the unexpired verdict under key in m.
func lookup[K comparable, V any](g *gate, m map[K]cached[V], key K) (V, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	c, ok := m[key]
	if !ok || !g.now().Before(c.expires) {
		var zero V
		return zero, false
	}
	return c.value, true
}

// store keeps value under key in m for ttl.
func store[K comparable, V any](g *gate, m map[K]cached[V], key K, value V, ttl time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(m) >= maxCached {
		clear(m)
	}
	m[key] = cached[V]{value: value, expires: g.now().Add(ttl)}
}
