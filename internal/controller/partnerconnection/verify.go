package partnerconnection

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	billingv1alpha1 "github.com/partnerbilling/partner-account-operator/api/v1alpha1"
	"github.com/partnerbilling/partner-account-operator/internal/connection"
	"github.com/partnerbilling/partner-account-operator/internal/partnerapi"
)

// verifyUID is the account a verification reads when no account of the connection
// is known to exist: no account has it, so an authenticated server answers 404.
const verifyUID = "partner-account-operator-verify"

// clientConfig is the client configuration of pc, a fingerprint of what a new
// client would differ in, and a digest of the token now in the Secret; problem
// says why there can be no client yet (a Secret missing, say).
func (r *Reconciler) clientConfig(ctx context.Context, pc *billingv1alpha1.PartnerConnection) (
	cfg partnerapi.Config, fingerprint string, tokenSum [sha256.Size]byte, problem string) {
	if r.SecretNamespace == "" {
		return cfg, "", tokenSum, "The operator does not know its own namespace, where the token Secret is: run it " +
			"with --connection-secret-namespace"
	}
	tokenRef := pc.Spec.TokenSecretRef
	token, err := r.secretValue(ctx, tokenRef)
	if err != nil {
		return cfg, "", tokenSum, fmt.Sprintf("spec.tokenSecretRef: %v. Create it with the partner token for %s: "+
			"kubectl -n %s create secret generic %s --from-file=%s=./partner-token", err, pc.Spec.URL,
			r.SecretNamespace, tokenRef.Name, tokenRef.Key)
	}
	tokenSum = sha256.Sum256([]byte(strings.TrimSpace(token)))
	cfg = r.Defaults
	cfg.BaseURL, cfg.TokenFile, cfg.Name = pc.Spec.URL, "", pc.Name
	cfg.TokenSecret = fmt.Sprintf("Secret %s/%s, key %s", r.SecretNamespace, tokenRef.Name, tokenRef.Key)
	cfg.Token = func() (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		v, err := r.secretValue(ctx, tokenRef)
		return strings.TrimSpace(v), err
	}
	if rl := pc.Spec.RateLimit; rl != nil {
		cfg.RequestsPerSecond, cfg.Burst = float64(rl.RPS), int(rl.Burst)
		if cfg.Burst == 0 {
			cfg.Burst = max(int(rl.RPS)*2, 1)
		}
	}
	if ref := pc.Spec.CASecretRef; ref != nil {
		ca, err := r.secretValue(ctx, *ref)
		if err != nil {
			return cfg, "", tokenSum, fmt.Sprintf("spec.caSecretRef: %v; it holds the PEM certificates to trust for %s",
				err, pc.Spec.URL)
		}
		cfg.CAData = []byte(ca)
	}
	sum := sha256.Sum256(fmt.Appendf(nil, "%s\x00%v\x00%d\x00%s\x00%v", cfg.BaseURL, cfg.RequestsPerSecond, cfg.Burst,
		cfg.CAData, cfg.AllowInsecureHTTP))
	return cfg, hex.EncodeToString(sum[:]), tokenSum, ""
}

// secretValue reads the key of a Secret in the operator's namespace.
func (r *Reconciler) secretValue(ctx context.Context, ref billingv1alpha1.SecretKeySelector) (string, error) {
	secret := &corev1.Secret{}
	err := r.Get(ctx, client.ObjectKey{Namespace: r.SecretNamespace, Name: ref.Name}, secret)
	switch {
	case apierrors.IsNotFound(err):
		return "", fmt.Errorf("the Secret %s/%s does not exist", r.SecretNamespace, ref.Name)
	case err != nil:
		return "", fmt.Errorf("the Secret %s/%s cannot be read: %w", r.SecretNamespace, ref.Name, err)
	}
	v, ok := secret.Data[ref.Key]
	if !ok || len(strings.TrimSpace(string(v))) == 0 {
		return "", fmt.Errorf("the Secret %s/%s has no key %s, or it is empty", r.SecretNamespace, ref.Name, ref.Key)
	}
	return string(v), nil
}

// specFieldError is a client configuration error in the words of the
// PartnerConnection's spec, naming its field rather than the client's.
func specFieldError(err error) string {
	return strings.NewReplacer(
		"partnerapi: invalid ", "",
		"Config.BaseURL", "spec.url",
		"Config.CAData", "spec.caSecretRef",
		"Config.RequestsPerSecond", "spec.rateLimit.rps",
		"Config.Burst", "spec.rateLimit.burst",
	).Replace(err.Error())
}

// verify tries the connection's token against its server, unless the same token
// was tried on the same spec recently (see trustFor). It reads an account of the
// connection known to exist: its answer as the same account proves that the server
// serves the Partnership API and holds the connection's accounts; no such account,
// or another one under its UID, means that the URL or the token now reach another
// server or partner contract (EndpointChanged), unless the account is gone where it
// lived. With no account known it reads an account no one has: a 404 says the token
// was not refused, but not that the URL serves the Partnership API, since a wrong
// path prefix answers 404 too. Verified needs the proof; TokenAccepted is Ready
// without it. A connection whose server has answered for an account since becomes
// Verified without a call.
func (r *Reconciler) verify(ctx context.Context, s *scope, conn *connection.Connection, tokenSum [sha256.Size]byte) {
	pc := s.pc
	previous := s.previousReady()
	if previous != nil && conn.Verified.At.IsZero() && s.before.LastVerifiedAt != nil &&
		previous.ObservedGeneration == pc.Generation && previous.Status == metav1.ConditionTrue {
		// Verified before the operator started: it holds as long as it would have.
		conn.Verified = connection.Verification{At: s.before.LastVerifiedAt.Time, Generation: pc.Generation,
			Token: tokenSum, Reason: previous.Reason, Message: previous.Message}
	}
	if v := conn.Verified; v.Reason != "" && v.Generation == pc.Generation && v.Token == tokenSum &&
		time.Since(v.At) < r.trustFor(billingv1alpha1.ConnectionReasons[v.Reason])*8/10 {
		// The last verification holds; the cached object's status may lag behind it.
		s.proven = r.Connections.Served(conn.API.Origin())
		if v.Reason == billingv1alpha1.ReasonConnectionTokenAccepted && s.proven {
			s.setReady(billingv1alpha1.ReasonConnectionVerified, verifiedMessage(pc))
			return
		}
		s.setReady(v.Reason, v.Message)
		return
	}
	defer func() {
		conn.Verified.Reason, conn.Verified.Message = s.ready.Reason, s.ready.Message
	}()

	uid, at, created, known := r.Connections.KnownAccount(pc.Name, conn.API.Origin())
	if !known {
		uid = verifyUID
	}
	acct, err := conn.API.Get(ctx, uid)
	now := time.Now()
	conn.Verified = connection.Verification{At: now, Generation: pc.Generation, Token: tokenSum}
	accepted := err == nil || errors.Is(err, partnerapi.ErrNotFound) || errors.Is(err, partnerapi.ErrInvalidRequest)
	if accepted {
		s.verifiedAt = new(metav1.NewTime(now.Truncate(time.Second)))
	}
	if known && accepted {
		if moved := r.heldElsewhere(ctx, conn, uid, at, created, acct, err); moved != "" {
			s.proven = r.Connections.Served(conn.API.Origin())
			s.setReady(billingv1alpha1.ReasonConnectionEndpointChanged, moved)
			return
		}
	}
	s.proven = r.Connections.Served(conn.API.Origin())
	switch {
	case accepted && s.proven:
		s.setReady(billingv1alpha1.ReasonConnectionVerified, verifiedMessage(pc))
	case accepted:
		s.setReady(billingv1alpha1.ReasonConnectionTokenAccepted, tokenAcceptedMessage(pc, uid, err))
	case errors.Is(err, partnerapi.ErrUnauthorized):
		s.setReady(billingv1alpha1.ReasonConnectionUnauthorized, connection.UnauthorizedMessage("verify the connection", err))
	case errors.Is(err, partnerapi.ErrMisconfigured):
		s.setReady(billingv1alpha1.ReasonConnectionMisconfigured,
			connection.MisconfiguredMessage("verify the connection", err, "the PartnerConnection's spec.url"))
	default:
		s.setReady(billingv1alpha1.ReasonConnectionUnreachable, connection.UnavailableMessage("verify the connection", err))
	}
}

// heldElsewhere judges the answer (acct, or err) about uid, an account known to
// exist on conn, last answered at at and created at created (zero when unknown):
// it returns why the connection's server no longer holds its accounts, or "" when
// it does, or when the answer cannot tell (the account is gone where it lived).
func (r *Reconciler) heldElsewhere(ctx context.Context, conn *connection.Connection, uid string, at partnerapi.Origin,
	created time.Time, acct *partnerapi.Account, err error) string {
	if err != nil {
		answered, ok := partnerapi.OriginOf(err)
		if !ok || !errors.Is(err, partnerapi.ErrNotFound) || r.Connections.Holds(ctx, conn, at, answered, uid) {
			return ""
		}
		return fmt.Sprintf("The server at %s, with this token and CA bundle, has no account %q, which was last "+
			"answered at %s, and has not shown that it holds that server's accounts: the URL or the token reach another "+
			"server or partner contract than that account's. The PartnerAccounts last answered there are not taken "+
			"for gone (their reason is EndpointChanged): put the URL, token or CA back, or delete them with "+
			"spec.deletionPolicy Orphan if their accounts are gone", conn.API.Endpoint(), uid, at.URL)
	}
	same := !created.IsZero() && !acct.CreatedAt.IsZero() && acct.CreatedAt.Unix() == created.Unix()
	r.Connections.Answered(acct, at, same)
	if same || created.IsZero() || connection.SameOrigin(at, acct.Origin) {
		return ""
	}
	return fmt.Sprintf("The server at %s, with this token and CA bundle, answers for account %q with another account "+
		"(created at %s, not %s), and has not shown that it holds the accounts last answered at %s: the URL or the "+
		"token reach another server or partner contract. The PartnerAccounts last answered there are not taken for "+
		"gone (their reason is EndpointChanged): put the URL, token or CA back", conn.API.Endpoint(), uid,
		acct.CreatedAt.UTC().Format(time.RFC3339), created.UTC().Format(time.RFC3339), at.URL)
}

// verifiedMessage is the Ready message of a Verified connection.
func verifiedMessage(pc *billingv1alpha1.PartnerConnection) string {
	return fmt.Sprintf("The server at %s accepted the token and has answered with an account: it serves the "+
		"Partnership API", pc.Spec.URL)
}

// tokenAcceptedMessage is the Ready message of a connection whose server did not
// refuse the token but has not answered with an account yet.
func tokenAcceptedMessage(pc *billingv1alpha1.PartnerConnection, uid string, err error) string {
	return fmt.Sprintf("The server at %s did not refuse the token (it answered %d %s for account %q), but has not "+
		"answered with an account yet, which a wrong path prefix would not: the first account made or read on this "+
		"connection proves it. Until then no 404 from it counts as an account gone", pc.Spec.URL,
		connection.StatusOf(err), http.StatusText(connection.StatusOf(err)), uid)
}

// inUseMessage is the Ready message of a connection whose deletion waits for the
// users PartnerAccounts that use it, of which named are named.
func inUseMessage(users int, named []string) string {
	more := ""
	if users > len(named) {
		more = fmt.Sprintf(" and %d more", users-len(named))
	}
	return fmt.Sprintf("The deletion waits for the %d PartnerAccounts that use this connection (%s%s): delete them, "+
		"or their namespaces, first. Deleting the connection deletes nothing remotely", users,
		strings.Join(named, ", "), more)
}

// condition is the Ready condition of a PartnerConnection for reason.
func condition(reason, message string) metav1.Condition {
	return metav1.Condition{Type: billingv1alpha1.ConditionReady, Status: billingv1alpha1.ConnectionReasons[reason],
		Reason: reason, Message: message}
}
