package partneraccount

import (
	"flag"
	"fmt"
	"strconv"

	billingv1alpha1 "github.com/partnerbilling/partner-account-operator/api/v1alpha1"
)

// BindFlags defines the controller's flags on fs, each writing to its field of o:
// --resync-period, --min-read-back-interval, --max-concurrent-reconciles,
// --default-deletion-policy and --activation-token-in-status. A flag's default is
// the field's value in o when it is set, otherwise the controller's default.
func (o *Options) BindFlags(fs *flag.FlagSet) {
	d := o.WithDefaults()
	fs.DurationVar(&o.ResyncPeriod, "resync-period", d.ResyncPeriod,
		"The longest any PartnerAccount's remote account goes unread (±20%); within it, accounts are read back by the "+
			"odds that they changed, young entitled ones most often. Longer only when there are more accounts than half "+
			"of a connection's requests per second can read within it.")
	fs.DurationVar(&o.MinReadBackInterval, "min-read-back-interval", o.MinReadBackInterval,
		"The shortest interval at which an account is read back; 0 leaves it to the schedule (20s for an account "+
			"made in the last 10 minutes). A resource's "+billingv1alpha1.ReadBackIntervalAnnotation+" annotation wins.")
	fs.IntVar(&o.MaxConcurrentReconciles, "max-concurrent-reconciles", d.MaxConcurrentReconciles,
		"How many PartnerAccounts are reconciled at once.")
	fs.Func("default-deletion-policy", "What deleting a PartnerAccount that sets no spec.deletionPolicy does to its "+
		"remote account: Delete (deactivate it, the default) or Orphan (leave it). A resource's own policy always wins.",
		func(v string) error {
			switch p := billingv1alpha1.DeletionPolicy(v); p {
			case billingv1alpha1.DeletionPolicyDelete, billingv1alpha1.DeletionPolicyOrphan:
				o.DefaultDeletionPolicy = p
				return nil
			}
			return fmt.Errorf("must be Delete or Orphan, not %q", v)
		})
	fs.Var((*negatedBool)(&o.NoTokenInStatus), "activation-token-in-status",
		"Write activation tokens and redemption links to PartnerAccount status. When false, none is ever written to "+
			"a status: a PartnerAccount without spec.activationTokenSecretRef gets its Secret at <name>-activation.")
}

// negatedBool is a boolean flag that sets the opposite of what it says.
type negatedBool bool

func (b *negatedBool) String() string {
	if b == nil {
		return "true"
	}
	return strconv.FormatBool(!bool(*b))
}

func (b *negatedBool) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return err
	}
	*b = negatedBool(!v)
	return nil
}

// IsBoolFlag lets the flag be given without a value.
func (b *negatedBool) IsBoolFlag() bool { return true }
