package plugin

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	billingv1alpha1 "github.com/partnerbilling/partner-account-operator/api/v1alpha1"
)

// adoptPatch sets spec.adoptExisting.
var adoptPatch = []byte(`{"spec":{"adoptExisting":true}}`)

func newAdoptCommand(o *Options) *cobra.Command {
	var (
		yes, all bool
		selector string
	)
	cmd := &cobra.Command{
		Use:   "adopt [NAME...] [-l SELECTOR | --all] [-n NAMESPACE] [--yes]",
		Short: "Bring resources whose account existed before back under management",
		Long: `Set spec.adoptExisting on the PartnerAccounts named (or matching -l, or --all in
the namespace) whose Ready reason is AccountExists: the operator found their
account on the Partnership API, made before the resource, and left it alone. It
then adopts each account and shows its activation token again; nothing is created
or deactivated. This is how a cluster rebuilt from Git gets its accounts back:
applied to a new cluster, every resource meets its own account as one that
existed before.

Resources with another reason are listed as skipped, with it. What will be
adopted is listed first and, on a terminal, confirmed; --yes skips the question,
and is needed when stdin is not a terminal.`,
		Example: `  kubectl partneraccount adopt --all -n billing
  kubectl partneraccount adopt customer-0001 customer-0002 -n billing --yes`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if ways := btoi(len(args) > 0) + btoi(selector != "") + btoi(all); ways != 1 {
				return fmt.Errorf("name the resources, or give -l SELECTOR, or --all: one of the three")
			}
			c, ns, err := o.client()
			if err != nil {
				return err
			}
			pas, err := selectPartnerAccounts(cmd.Context(), c, ns, args, selector)
			if err != nil {
				return err
			}
			return o.adopt(cmd.Context(), c, ns, pas, yes)
		},
	}
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "Adopt without asking.")
	cmd.Flags().BoolVar(&all, "all", false, "Every PartnerAccount of the namespace.")
	cmd.Flags().StringVarP(&selector, "selector", "l", "", "Label selector of the PartnerAccounts, as kubectl's.")
	return cmd
}

// btoi is 1 for true, 0 for false.
func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// selectPartnerAccounts returns the PartnerAccounts of namespace that names name,
// in that order, or, with no names, those selector matches (every one for "").
func selectPartnerAccounts(ctx context.Context, c client.Reader, namespace string, names []string,
	selector string) ([]billingv1alpha1.PartnerAccount, error) {
	if len(names) > 0 {
		out := make([]billingv1alpha1.PartnerAccount, 0, len(names))
		for _, name := range names {
			pa, err := getPartnerAccount(ctx, c, namespace, name)
			if err != nil {
				return nil, err
			}
			out = append(out, *pa)
		}
		return out, nil
	}
	sel, err := labels.Parse(selector)
	if err != nil {
		return nil, fmt.Errorf("-l %q: %w", selector, err)
	}
	var out []billingv1alpha1.PartnerAccount
	var list billingv1alpha1.PartnerAccountList
	opts := []client.ListOption{client.InNamespace(namespace), client.MatchingLabelsSelector{Selector: sel},
		client.Limit(listPage)}
	for {
		if err := c.List(ctx, &list, opts...); err != nil {
			return nil, fmt.Errorf("listing the PartnerAccounts of namespace %s: %w", namespace, err)
		}
		out = append(out, list.Items...)
		if list.Continue == "" {
			return out, nil
		}
		opts = append(opts[:3:3], client.Continue(list.Continue))
	}
}

// adoptable reports whether pa waits to be adopted: its Ready reason, for its
// generation, is AccountExists. Otherwise why says why not.
func adoptable(pa *billingv1alpha1.PartnerAccount) (ok bool, why string) {
	ready := meta.FindStatusCondition(pa.Status.Conditions, billingv1alpha1.ConditionReady)
	switch {
	case pa.Spec.AdoptExisting:
		return false, "spec.adoptExisting is true already"
	case ready == nil || pa.Status.ObservedGeneration != pa.Generation:
		return false, "the operator has not read its account yet; try again once it has"
	case ready.Reason != billingv1alpha1.ReasonAccountExists:
		return false, "its reason is " + ready.Reason + ", not AccountExists"
	}
	return true, ""
}

// adopt sets spec.adoptExisting on the adoptable ones of pas, once confirmed.
func (o *Options) adopt(ctx context.Context, c client.Client, ns string, pas []billingv1alpha1.PartnerAccount,
	yes bool) error {
	var take []*billingv1alpha1.PartnerAccount
	tw := tabwriter.NewWriter(o.Out, 0, 4, 2, ' ', 0)
	_, _ = fmt.Fprintln(tw, "NAME\tACCOUNT-UID\tACTION")
	for i := range pas {
		pa := &pas[i]
		action := "adopt"
		if ok, why := adoptable(pa); !ok {
			action = "skip: " + why
		} else {
			take = append(take, pa)
		}
		_, _ = fmt.Fprintf(tw, "%s\t%s\t%s\n", pa.Name, pa.Spec.AccountUID, action)
	}
	_ = tw.Flush()
	if len(take) == 0 {
		_, _ = fmt.Fprintf(o.Out, "Nothing to adopt in namespace %s\n", ns)
		return nil
	}
	if !yes {
		if !o.terminal(o.In) {
			return fmt.Errorf("not adopting: stdin is not a terminal to confirm on; pass --yes")
		}
		if !confirm(o.Out, o.In, fmt.Sprintf("Adopt the %d accounts above, in namespace %s?", len(take), ns)) {
			return &ExitError{Code: 1, Err: fmt.Errorf("aborted: nothing adopted")}
		}
	}
	adopted := 0
	for _, pa := range take {
		if err := c.Patch(ctx, pa, client.RawPatch(types.MergePatchType, adoptPatch)); err != nil {
			_, _ = fmt.Fprintf(o.ErrOut, "failed %s: %v\n", pa.Name, err)
			continue
		}
		adopted++
	}
	_, _ = fmt.Fprintf(o.Out, "adopted %d, skipped %d, failed %d of %d PartnerAccounts; the operator now takes each "+
		"account over and shows its token (kubectl get pa -n %s)\n", adopted, len(pas)-len(take), len(take)-adopted,
		len(pas), ns)
	if adopted < len(take) {
		return &ExitError{Code: 1}
	}
	return nil
}

// confirm asks question on out and reports whether the answer read from in is
// yes.
func confirm(out io.Writer, in io.Reader, question string) bool {
	_, _ = fmt.Fprint(out, question+" [y/N] ")
	answer, _ := bufio.NewReader(in).ReadString('\n')
	a := strings.ToLower(strings.TrimSpace(answer))
	return a == "y" || a == "yes"
}
