package bench

import (
	"context"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	billingv1alpha1 "github.com/partnerbilling/partner-account-operator/api/v1alpha1"
	"github.com/partnerbilling/partner-account-operator/test/localenv"
)

// timedEndsAt is the end date the backlog phase gives the accounts whose change it
// times.
var timedEndsAt = metav1.NewTime(time.Date(2032, 6, 30, 0, 0, 0, 0, time.UTC))

// patchEndsAt sets spec.endsAt of account name, as kubectl patch --type=merge would.
func patchEndsAt(ctx context.Context, c client.Client, name string, at metav1.Time) error {
	pa := &billingv1alpha1.PartnerAccount{}
	pa.Namespace, pa.Name = namespace, name
	patch := []byte(fmt.Sprintf(`{"spec":{"endsAt":%q}}`, at.Format(time.RFC3339)))
	if err := c.Patch(ctx, pa, client.RawPatch(types.MergePatchType, patch)); err != nil {
		return fmt.Errorf("patch %s: %w", name, err)
	}
	return nil
}

// changeEndsAt patches spec.endsAt of account name, then polls the simulator until
// its account holds the new end date. It returns the time from just before the
// patch until then, and false if that did not happen within timeout.
func changeEndsAt(ctx context.Context, c client.Client, env *localenv.Env, name string,
	timeout time.Duration) (time.Duration, bool, error) {
	newEndsAt := timedEndsAt
	start := time.Now()
	if err := patchEndsAt(ctx, c, name, newEndsAt); err != nil {
		return 0, false, err
	}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		acct, found, err := env.RemoteAccount(ctx, name)
		if err != nil {
			return 0, false, err
		}
		if found && acct.EndsAt != nil {
			at, err := time.Parse(time.RFC3339Nano, *acct.EndsAt)
			if err != nil {
				return 0, false, fmt.Errorf("simulator's ends_at %q: %w", *acct.EndsAt, err)
			}
			if at.Equal(newEndsAt.Time) {
				return time.Since(start), true, nil
			}
		}
		select {
		case <-ctx.Done():
			return 0, false, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return time.Since(start), false, nil
}
