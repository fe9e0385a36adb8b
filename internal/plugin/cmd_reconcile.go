package plugin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	billingv1alpha1 "github.com/partnerbilling/partner-account-operator/api/v1alpha1"
)

const defaultPollInterval = 250 * time.Millisecond

func newReconcileCommand(o *Options) *cobra.Command {
	timeout := time.Minute
	cmd := &cobra.Command{
		Use:   "reconcile NAME [-n NAMESPACE] [--timeout 60s]",
		Short: "Ask the operator to read an account again now, and wait for it",
		Long: `Set the annotation ` + billingv1alpha1.ReconcileRequestedAtAnnotation + ` of the
PartnerAccount NAME to the current time, which makes the operator read its account
again at once, even when it is stalled; wait until status.lastHandledReconcileAt
echoes it; then print the Ready condition.

Exit status: 0 when the request was handled and Ready is True; 1 when it was
handled and Ready is not True (the reason and message say why), or when no answer
came within --timeout (is the operator running?). A suspended resource
(spec.suspend) handles no request: it is refused at once.`,
		Example: `  kubectl partneraccount reconcile customer-0001 -n billing`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, ns, err := o.client()
			if err != nil {
				return err
			}
			return o.reconcile(cmd.Context(), c, ns, args[0], timeout)
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", timeout, "How long to wait for the operator to handle the request.")
	return cmd
}

func (o *Options) reconcile(ctx context.Context, c client.Client, ns, name string, timeout time.Duration) error {
	pa, err := getPartnerAccount(ctx, c, ns, name)
	if err != nil {
		return err
	}
	ref := fmt.Sprintf("partneraccount %s/%s", ns, name)
	if pa.Spec.Suspend {
		return fmt.Errorf("%s is suspended (spec.suspend): the operator handles no reconcile request until it is "+
			"resumed: kubectl patch partneraccount %s -n %s --type merge -p '{\"spec\":{\"suspend\":false}}'",
			ref, name, ns)
	}
	requested := o.now().UTC().Format(time.RFC3339Nano)
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{
		billingv1alpha1.ReconcileRequestedAtAnnotation: requested,
	}}})
	if err != nil {
		return err
	}
	if err := c.Patch(ctx, pa, client.RawPatch(types.MergePatchType, patch)); err != nil {
		return fmt.Errorf("annotating %s: %w", ref, err)
	}
	_, _ = fmt.Fprintf(o.ErrOut, "► annotated %s with %s=%s\n", ref, billingv1alpha1.ReconcileRequestedAtAnnotation, requested)
	_, _ = fmt.Fprintf(o.ErrOut, "◎ waiting for the operator to handle it\n")

	interval := o.PollInterval
	if interval <= 0 {
		interval = defaultPollInterval
	}
	var last *billingv1alpha1.PartnerAccount
	err = wait.PollUntilContextTimeout(ctx, interval, timeout, true, func(ctx context.Context) (bool, error) {
		pa, err := getPartnerAccount(ctx, c, ns, name)
		if err != nil {
			return false, err
		}
		last = pa
		return pa.Status.LastHandledReconcileAt == requested, nil
	})
	if err != nil {
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		if wait.Interrupted(err) || errors.Is(err, context.DeadlineExceeded) {
			handled := ""
			if last != nil {
				handled = last.Status.LastHandledReconcileAt
			}
			return fmt.Errorf("timed out after %s: %s did not handle the request (status.lastHandledReconcileAt "+
				"is %q, not %q); is the operator running?", timeout, ref, handled, requested)
		}
		return err
	}
	line, ready := ReadyLine(last)
	if ready {
		_, _ = fmt.Fprintf(o.Out, "✔ reconciled: %s\n", line)
		return nil
	}
	_, _ = fmt.Fprintf(o.Out, "✗ reconciled: %s\n", line)
	return &ExitError{Code: 1}
}

// ReadyLine describes pa's Ready condition as "True AccountReady: message", and
// reports whether it is True.
func ReadyLine(pa *billingv1alpha1.PartnerAccount) (string, bool) {
	cond := apimeta.FindStatusCondition(pa.Status.Conditions, billingv1alpha1.ConditionReady)
	if cond == nil {
		return "no Ready condition", false
	}
	line := string(cond.Status) + " " + cond.Reason
	if cond.Message != "" {
		line += ": " + cond.Message
	}
	return line, cond.Status == "True"
}
