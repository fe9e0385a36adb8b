package partneraccount

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/event"

	billingv1alpha1 "github.com/partnerbilling/partner-account-operator/api/v1alpha1"
)

func TestTokenSecretName(t *testing.T) {
	ref := &billingv1alpha1.SecretReference{Name: "named"}
	tests := []struct {
		name            string
		ref             *billingv1alpha1.SecretReference
		noTokenInStatus bool
		want            string
	}{
		{"status by default", nil, false, ""},
		{"the ref", ref, false, "named"},
		{"the ref wins over the default name", ref, true, "named"},
		{"the default name when status is off", nil, true, "acct-activation"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pa := &billingv1alpha1.PartnerAccount{ObjectMeta: metav1.ObjectMeta{Name: "acct"}}
			pa.Spec.ActivationTokenSecretRef = tt.ref
			if got := tokenSecretName(pa, tt.noTokenInStatus); got != tt.want {
				t.Errorf("tokenSecretName = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestBoundedNames(t *testing.T) {
	long := strings.Repeat("a", 61) + ".b-c" + strings.Repeat("d", 188) // 253 characters, dots and dashes inside
	tests := []struct {
		name, base, suffix string
		limit              int
		want               string // "" when the result is shortened
	}{
		{"a short name as it is", "customer-1", "-activation", 253, "customer-1-activation"},
		{"a label value as it is", "customer-1", "", 63, "customer-1"},
		{"a 63-character label value as it is", strings.Repeat("a", 63), "", 63, strings.Repeat("a", 63)},
		{"a 70-character label value", strings.Repeat("a", 70), "", 63, ""},
		{"the longest name as a label value", long, "", 63, ""},
		{"the longest name with a suffix", long, "-activation", 253, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := boundedName(tt.base, tt.suffix, tt.limit)
			if tt.want != "" && got != tt.want {
				t.Errorf("boundedName = %q, want %q", got, tt.want)
			}
			if len(got) > tt.limit || !strings.HasSuffix(got, tt.suffix) {
				t.Errorf("boundedName = %q (%d characters), want at most %d ending in %q", got, len(got), tt.limit, tt.suffix)
			}
			valid := validation.IsDNS1123Subdomain(got)
			if tt.limit == validation.LabelValueMaxLength {
				valid = validation.IsValidLabelValue(got)
			}
			if len(valid) > 0 {
				t.Errorf("boundedName = %q: %v", got, valid)
			}
		})
	}
	if a, b := boundedName(strings.Repeat("a", 70), "", 63), boundedName(strings.Repeat("a", 69)+"b", "", 63); a == b {
		t.Errorf("two long names share the bounded name %q", a)
	}
}

func TestTokenSecretLabelsFitEveryName(t *testing.T) {
	pa := &billingv1alpha1.PartnerAccount{ObjectMeta: metav1.ObjectMeta{Name: strings.Repeat("x", 253)}}
	for k, v := range tokenSecretLabels(pa) {
		if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
			t.Errorf("label %s=%q: %v", k, v, errs)
		}
	}
	pa.Spec.ActivationTokenSecretRef = nil
	if got := tokenSecretName(pa, true); len(validation.IsDNS1123Subdomain(got)) > 0 {
		t.Errorf("default Secret name %q is not a valid name", got)
	}
}

func TestTokenSecretTampered(t *testing.T) {
	secret := func(token string, labels map[string]string) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Labels: labels},
			Data: map[string][]byte{billingv1alpha1.SecretKeyActivationToken: []byte(token)}}
	}
	ours := map[string]string{billingv1alpha1.ManagedByLabel: billingv1alpha1.ManagedByValue}
	p := tokenSecretTampered()
	if p.Create(event.CreateEvent{Object: secret("a", ours)}) {
		t.Error("the controller's own create wakes it up")
	}
	if !p.Delete(event.DeleteEvent{Object: secret("a", ours)}) {
		t.Error("a deletion does not wake it up")
	}
	for _, tc := range []struct {
		name     string
		old, cur *corev1.Secret
		want     bool
	}{
		{"metadata only", secret("a", ours), secret("a", map[string]string{"x": "y", billingv1alpha1.ManagedByLabel: billingv1alpha1.ManagedByValue}), false},
		{"token edited", secret("a", ours), secret("b", ours), true},
		{"label removed", secret("a", ours), secret("a", nil), true},
	} {
		if got := p.Update(event.UpdateEvent{ObjectOld: tc.old, ObjectNew: tc.cur}); got != tc.want {
			t.Errorf("%s: Update = %v, want %v", tc.name, got, tc.want)
		}
	}
}
