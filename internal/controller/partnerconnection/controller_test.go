package partnerconnection

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/event"

	billingv1alpha1 "github.com/partnerbilling/partner-account-operator/api/v1alpha1"
	"github.com/partnerbilling/partner-account-operator/internal/partnerapi"
)

func TestSpecFieldErrorNamesTheSpecField(t *testing.T) {
	for _, tt := range []struct {
		cfg  partnerapi.Config
		want string
	}{
		{partnerapi.Config{BaseURL: "http://billing.example.com/api/v1"}, "spec.url: "},
		{partnerapi.Config{BaseURL: "https://billing.example.com", CAData: []byte("not PEM")}, "spec.caSecretRef: "},
	} {
		tt.cfg.Token = func() (string, error) { return "t", nil }
		_, err := partnerapi.New(tt.cfg)
		if err == nil {
			t.Fatalf("%+v: no error", tt.cfg)
		}
		if got := specFieldError(err); !strings.HasPrefix(got, tt.want) || strings.Contains(got, "Config.") {
			t.Errorf("specFieldError(%v) = %q, want it to start with %q", err, got, tt.want)
		}
	}
}

func TestConnectionConditionFollowsTheTable(t *testing.T) {
	for reason, status := range billingv1alpha1.ConnectionReasons {
		if c := condition(reason, "m"); c.Status != status || c.Type != billingv1alpha1.ConditionReady {
			t.Errorf("condition(%s) = %+v, the table says %s", reason, c, status)
		}
	}
	for _, reason := range []string{billingv1alpha1.ReasonConnectionVerified, billingv1alpha1.ReasonConnectionTokenAccepted} {
		if billingv1alpha1.ConnectionReasons[reason] != metav1.ConditionTrue {
			t.Errorf("%s is not Ready", reason)
		}
	}
}

func TestFirstAccountOnConnection(t *testing.T) {
	on := func(status string, ref bool) *billingv1alpha1.PartnerAccount {
		pa := &billingv1alpha1.PartnerAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "a"},
			Spec: billingv1alpha1.PartnerAccountSpec{AccountUID: "u"}}
		pa.Status.AccountStatus = status
		if ref {
			pa.Spec.ConnectionRef = &billingv1alpha1.ConnectionReference{Name: "brand-b"}
		}
		return pa
	}
	for _, tt := range []struct {
		name     string
		old, new *billingv1alpha1.PartnerAccount
		want     bool
	}{
		{"its account appears", on("", true), on("entitled", true), true},
		{"already had one", on("entitled", true), on("provisioned", true), false},
		{"no connectionRef", on("", false), on("entitled", false), false},
	} {
		if got := firstAccountOnConnection(event.UpdateEvent{ObjectOld: tt.old, ObjectNew: tt.new}); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}
