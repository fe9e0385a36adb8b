package metricsauth

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/go-logr/logr"
	authnv1 "k8s.io/api/authentication/v1"
	authzv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// fakeTokens authenticates the token "reader" and "stranger", and fails on "broken".
type fakeTokens struct{ calls int }

func (f *fakeTokens) Create(_ context.Context, r *authnv1.TokenReview, _ metav1.CreateOptions) (*authnv1.TokenReview,
	error) {
	f.calls++
	switch r.Spec.Token {
	case "broken":
		return nil, errors.New("connection refused")
	case "reader", "stranger":
		r.Status = authnv1.TokenReviewStatus{Authenticated: true, User: authnv1.UserInfo{
			Username: "system:serviceaccount:monitoring:" + r.Spec.Token, Groups: []string{"system:serviceaccounts"}}}
	}
	return r, nil
}

// fakeAccess allows get /metrics to the reader alone.
type fakeAccess struct{ calls int }

func (f *fakeAccess) Create(_ context.Context, r *authzv1.SubjectAccessReview, _ metav1.CreateOptions) (
	*authzv1.SubjectAccessReview, error) {
	f.calls++
	a := r.Spec.NonResourceAttributes
	r.Status.Allowed = r.Spec.User == "system:serviceaccount:monitoring:reader" && a != nil && a.Verb == "get" &&
		a.Path == "/metrics" && r.Spec.ResourceAttributes == nil
	return r, nil
}

// TestFilterLetsOnlyAuthorizedReadersThrough checks each answer, and that verdicts
// are cached for their time and asked again after it.
func TestFilterLetsOnlyAuthorizedReadersThrough(t *testing.T) {
	tokens, access := &fakeTokens{}, &fakeAccess{}
	g := newGate(tokens, access)
	now := time.Now()
	g.now = func() time.Time { return now }
	h, err := g.filter(logr.Discard(), http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("metrics"))
	}))
	if err != nil {
		t.Fatal(err)
	}
	scrape := func(header string) int {
		req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		if header != "" {
			req.Header.Set("Authorization", header)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	for _, tc := range []struct {
		name, header string
		want         int
	}{
		{"no token", "", http.StatusUnauthorized},
		{"not a bearer token", "Basic cmVhZGVyOg==", http.StatusUnauthorized},
		{"unknown token", "Bearer nobody", http.StatusUnauthorized},
		{"review failed", "Bearer broken", http.StatusInternalServerError},
		{"not allowed", "Bearer stranger", http.StatusForbidden},
		{"allowed", "Bearer reader", http.StatusOK},
		{"allowed, lower-case scheme", "bearer reader", http.StatusOK},
	} {
		if got := scrape(tc.header); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}

	tokenCalls, accessCalls := tokens.calls, access.calls
	scrape("Bearer reader")
	scrape("Bearer stranger")
	if tokens.calls != tokenCalls || access.calls != accessCalls {
		t.Errorf("cached verdicts asked again: %d token and %d access reviews", tokens.calls-tokenCalls,
			access.calls-accessCalls)
	}
	now = now.Add(denyTTL + time.Second)
	scrape("Bearer stranger")
	if access.calls != accessCalls+1 {
		t.Errorf("a denial past %s was not asked again", denyTTL)
	}
	scrape("Bearer reader")
	if access.calls != accessCalls+1 {
		t.Errorf("an allowance was asked again within %s", allowTTL)
	}
	now = now.Add(allowTTL)
	scrape("Bearer reader")
	if tokens.calls != tokenCalls+1 || access.calls != accessCalls+2 {
		t.Errorf("expired verdicts were not asked again: %d token and %d access reviews",
			tokens.calls-tokenCalls, access.calls-accessCalls)
	}
}
