package plugin

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	billingv1alpha1 "github.com/partnerbilling/partner-account-operator/api/v1alpha1"
	"github.com/partnerbilling/partner-account-operator/internal/partnerapi"
)

// DefaultConnectionSecretNamespace is where the chart installs the operator, and
// so where PartnerConnections' token and CA Secrets are.
const DefaultConnectionSecretNamespace = "partner-account-operator-system"

// ConnectionConfig returns base configured to call the server of the
// PartnerConnection name as the operator does: its URL, the partner token and CA
// bundle of its Secrets in secretNamespace, and its rate limit when it sets one.
// The errors name what is missing.
func ConnectionConfig(ctx context.Context, c client.Reader, name, secretNamespace string,
	base partnerapi.Config) (partnerapi.Config, error) {
	pc := &billingv1alpha1.PartnerConnection{}
	if err := c.Get(ctx, client.ObjectKey{Name: name}, pc); err != nil {
		if apierrors.IsNotFound(err) {
			return base, fmt.Errorf("partnerconnection %s not found (--connection)", name)
		}
		return base, fmt.Errorf("reading partnerconnection %s: %w", name, err)
	}
	token, err := secretKey(ctx, c, secretNamespace, pc.Spec.TokenSecretRef)
	if err != nil {
		return base, fmt.Errorf("partnerconnection %s's token (spec.tokenSecretRef): %w", name, err)
	}
	cfg := base
	cfg.BaseURL, cfg.TokenFile, cfg.CAFile, cfg.Name = pc.Spec.URL, "", "", name
	cfg.TokenSecret = fmt.Sprintf("Secret %s/%s, key %s", secretNamespace, pc.Spec.TokenSecretRef.Name,
		pc.Spec.TokenSecretRef.Key)
	cfg.Token = func() (string, error) { return token, nil }
	if ref := pc.Spec.CASecretRef; ref != nil {
		ca, err := secretKey(ctx, c, secretNamespace, *ref)
		if err != nil {
			return base, fmt.Errorf("partnerconnection %s's CA bundle (spec.caSecretRef): %w", name, err)
		}
		cfg.CAData = []byte(ca)
	}
	if rl := pc.Spec.RateLimit; rl != nil {
		cfg.RequestsPerSecond, cfg.Burst = float64(rl.RPS), int(rl.Burst)
		if cfg.Burst == 0 {
			cfg.Burst = max(int(rl.RPS)*2, 1) // as the operator does
		}
	}
	return cfg, nil
}

// secretKey reads the key ref names of a Secret in namespace, trimmed.
func secretKey(ctx context.Context, c client.Reader, namespace string, ref billingv1alpha1.SecretKeySelector) (string, error) {
	secret := &corev1.Secret{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: ref.Name}, secret); err != nil {
		if apierrors.IsNotFound(err) {
			return "", fmt.Errorf("secret %s/%s not found (see --connection-secret-namespace)", namespace, ref.Name)
		}
		return "", fmt.Errorf("reading secret %s/%s: %w", namespace, ref.Name, err)
	}
	v := strings.TrimSpace(string(secret.Data[ref.Key]))
	if v == "" {
		return "", fmt.Errorf("secret %s/%s has no key %s, or it is empty", namespace, ref.Name, ref.Key)
	}
	return v, nil
}
