package plugin

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	billingv1alpha1 "github.com/partnerbilling/partner-account-operator/api/v1alpha1"
)

const (
	policyObserve = billingv1alpha1.ManagementPolicyObserve
	policyManage  = billingv1alpha1.ManagementPolicyManage
)

func newPolicyCommand(o *Options, to billingv1alpha1.ManagementPolicy) *cobra.Command {
	var yes bool
	cmd := &cobra.Command{Args: cobra.ExactArgs(1)}
	switch to {
	case policyObserve:
		cmd.Use = "observe NAME [-n NAMESPACE] [--yes]"
		cmd.Short = "Stop all writes to a resource's account: managementPolicy Observe"
		cmd.Long = `Set spec.managementPolicy of the PartnerAccount NAME to Observe: the operator
reads its account and nothing else, and deleting it deletes nothing remotely.

The change is printed first and, on a terminal, confirmed; --yes skips the
question, and is needed when stdin is not a terminal.`
		cmd.Example = `  kubectl partneraccount observe customer-0001 -n billing`
	case policyManage:
		cmd.Use = "manage NAME [-n NAMESPACE] [--yes]"
		cmd.Short = "Let the operator manage a resource's account: managementPolicy Manage"
		cmd.Long = `Set spec.managementPolicy of the PartnerAccount NAME to Manage: the operator
writes the declared end date to its account and, as spec.deletionPolicy says,
deactivates it when the resource is deleted. When the resource does not own its
account (status.accountUID is empty: the account existed before), spec.adoptExisting
is set too, so that the operator takes the account over.

The change is printed first and, on a terminal, confirmed; --yes skips the
question, and is needed when stdin is not a terminal.`
		cmd.Example = `  kubectl partneraccount manage customer-0001 -n billing --yes`
	}
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		c, ns, err := o.client()
		if err != nil {
			return err
		}
		return o.setPolicy(cmd.Context(), c, ns, args[0], to, yes)
	}
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "Change it without asking.")
	return cmd
}

// PolicyChange is what observe or manage changes in a PartnerAccount's spec.
type PolicyChange struct {
	// From and To are the management policies in effect before and after (an
	// empty spec.managementPolicy is Manage).
	From, To billingv1alpha1.ManagementPolicy
	// AdoptFrom and AdoptTo are spec.adoptExisting before and after.
	AdoptFrom, AdoptTo bool
}

// PlanPolicy returns the change that sets pa's management policy to to, and
// whether there is any. Switching to Manage also sets adoptExisting when pa does
// not own its account (status.accountUID is empty).
func PlanPolicy(pa *billingv1alpha1.PartnerAccount, to billingv1alpha1.ManagementPolicy) (PolicyChange, bool) {
	ch := PolicyChange{From: pa.Spec.ManagementPolicy, To: to, AdoptFrom: pa.Spec.AdoptExisting, AdoptTo: pa.Spec.AdoptExisting}
	if ch.From == "" {
		ch.From = policyManage
	}
	if ch.From == ch.To {
		return ch, false
	}
	if to == policyManage && pa.Status.AccountUID == "" {
		ch.AdoptTo = true
	}
	return ch, true
}

// String describes the change: "managementPolicy Observe -> Manage, adoptExisting false -> true".
func (ch PolicyChange) String() string {
	s := fmt.Sprintf("managementPolicy %s -> %s", ch.From, ch.To)
	if ch.AdoptFrom != ch.AdoptTo {
		s += fmt.Sprintf(", adoptExisting %t -> %t", ch.AdoptFrom, ch.AdoptTo)
	}
	return s
}

// Patch returns the JSON merge patch of the change: the spec fields only.
func (ch PolicyChange) Patch() ([]byte, error) {
	spec := map[string]any{"managementPolicy": ch.To}
	if ch.AdoptFrom != ch.AdoptTo {
		spec["adoptExisting"] = ch.AdoptTo
	}
	return json.Marshal(map[string]any{"spec": spec})
}

func (o *Options) setPolicy(ctx context.Context, c client.Client, ns, name string,
	to billingv1alpha1.ManagementPolicy, yes bool) error {
	pa, err := getPartnerAccount(ctx, c, ns, name)
	if err != nil {
		return err
	}
	ref := fmt.Sprintf("partneraccount %s/%s", ns, name)
	ch, changed := PlanPolicy(pa, to)
	if !changed {
		_, _ = fmt.Fprintf(o.Out, "%s: managementPolicy is already %s; nothing to change\n", ref, ch.To)
		return nil
	}
	_, _ = fmt.Fprintf(o.Out, "%s: %s\n", ref, ch)
	if !yes {
		if !o.terminal(o.In) {
			return fmt.Errorf("not changing %s: stdin is not a terminal to confirm on; pass --yes", ref)
		}
		if !confirm(o.Out, o.In, "Proceed?") {
			return &ExitError{Code: 1, Err: fmt.Errorf("aborted: %s not changed", ref)}
		}
	}
	patch, err := ch.Patch()
	if err != nil {
		return err
	}
	if err := c.Patch(ctx, pa, client.RawPatch(types.MergePatchType, patch)); err != nil {
		return fmt.Errorf("patching %s: %w", ref, err)
	}
	_, _ = fmt.Fprintf(o.Out, "%s: managementPolicy is now %s\n", ref, ch.To)
	return nil
}
