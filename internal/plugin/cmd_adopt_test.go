package plugin

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	billingv1alpha1 "github.com/partnerbilling/partner-account-operator/api/v1alpha1"
)

func TestAdoptCommand(t *testing.T) {
	exists := ready(metav1.ConditionFalse, billingv1alpha1.ReasonAccountExists, "created before")
	seen := func(p *billingv1alpha1.PartnerAccount) { p.Generation, p.Status.ObservedGeneration = 1, 1 }
	newCluster := func() []*billingv1alpha1.PartnerAccount {
		return []*billingv1alpha1.PartnerAccount{
			pa("team-a", "a", "uid-a", exists, seen),
			pa("team-a", "b", "uid-b", exists, seen),
			pa("team-a", "ready", "uid-r", ready(metav1.ConditionTrue, billingv1alpha1.ReasonAccountReady, "ok"), seen),
			pa("team-a", "new", "uid-n"),
			pa("team-b", "elsewhere", "uid-e", exists, seen),
		}
	}
	objects := func() []client.Object {
		cluster := newCluster()
		objs := make([]client.Object, 0, len(cluster))
		for _, p := range cluster {
			objs = append(objs, p)
		}
		return objs
	}

	t.Run("--all adopts what waits for it, lists the rest, and asks", func(t *testing.T) {
		c := newFake(objects()...)
		code, stdout, stderr := run(t, c, "y\n", true, "adopt", "--all")
		if code != 0 {
			t.Fatalf("exit status %d: %s", code, stderr)
		}
		for _, want := range []string{"a  ", "uid-a", "adopt", "skip: its reason is AccountReady, not AccountExists",
			"skip: the operator has not read its account yet", "Adopt the 2 accounts above, in namespace team-a? [y/N]",
			"adopted 2, skipped 2, failed 0 of 4 PartnerAccounts"} {
			if !strings.Contains(stdout, want) {
				t.Errorf("stdout lacks %q:\n%s", want, stdout)
			}
		}
		for name, want := range map[string]bool{"a": true, "b": true, "ready": false, "new": false} {
			if got := getPA(t, c, "team-a", name).Spec.AdoptExisting; got != want {
				t.Errorf("%s: adoptExisting %v, want %v", name, got, want)
			}
		}
		if getPA(t, c, "team-b", "elsewhere").Spec.AdoptExisting {
			t.Error("another namespace's resource was adopted")
		}
	})
	t.Run("names, declined", func(t *testing.T) {
		c := newFake(objects()...)
		code, _, stderr := run(t, c, "n\n", true, "adopt", "b")
		if code != 1 || !strings.Contains(stderr, "aborted: nothing adopted") || getPA(t, c, "team-a", "b").Spec.AdoptExisting {
			t.Errorf("exit status %d, stderr %q", code, stderr)
		}
	})
	t.Run("not a terminal needs --yes; with it, one name", func(t *testing.T) {
		c := newFake(objects()...)
		if code, _, stderr := run(t, c, "", false, "adopt", "b"); code != 1 || !strings.Contains(stderr, "pass --yes") {
			t.Errorf("exit status %d, stderr %q", code, stderr)
		}
		if code, _, stderr := run(t, c, "", false, "adopt", "b", "--yes"); code != 0 || !getPA(t, c, "team-a", "b").Spec.AdoptExisting {
			t.Errorf("exit status %d, stderr %q", code, stderr)
		}
	})
	t.Run("one way of choosing", func(t *testing.T) {
		c := newFake()
		for _, args := range [][]string{{"adopt"}, {"adopt", "a", "--all"}, {"adopt", "-l", "x=y", "--all"}} {
			if code, _, stderr := run(t, c, "", false, args...); code != 1 || !strings.Contains(stderr, "one of the three") {
				t.Errorf("%v: exit status %d, stderr %q", args, code, stderr)
			}
		}
		if code, _, stderr := run(t, c, "", false, "adopt", "missing", "--yes"); code != 1 || !strings.Contains(stderr, "not found") {
			t.Errorf("a missing name: exit status %d, stderr %q", code, stderr)
		}
	})
}

// getPA returns the PartnerAccount namespace/name of c.
func getPA(t *testing.T, c client.Client, namespace, name string) *billingv1alpha1.PartnerAccount {
	t.Helper()
	p, err := getPartnerAccount(t.Context(), c, namespace, name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
