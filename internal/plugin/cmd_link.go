package plugin

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	billingv1alpha1 "github.com/partnerbilling/partner-account-operator/api/v1alpha1"
)

func newLinkCommand(o *Options) *cobra.Command {
	return &cobra.Command{
		Use:   "link NAME [-n NAMESPACE]",
		Short: "Print the link that redeems a resource's account",
		Long: `Print the redemption link to send the customer of the PartnerAccount NAME: from
status.redemptionURL, or, when the token is kept in a Secret, from that Secret
(status.activationTokenSecretName, key redemptionURL), which needs get on Secrets.`,
		Example: `  kubectl partneraccount link customer-0001 -n billing`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, ns, err := o.client()
			if err != nil {
				return err
			}
			pa, err := getPartnerAccount(cmd.Context(), c, ns, args[0])
			if err != nil {
				return err
			}
			link, err := RedemptionLink(cmd.Context(), c, pa)
			if err != nil {
				return err
			}
			_, _ = fmt.Fprintln(o.Out, link)
			return nil
		},
	}
}

// RedemptionLink returns pa's redemption link: status.redemptionURL, or the
// redemptionURL key of the Secret status.activationTokenSecretName names. Its
// error says why there is none.
func RedemptionLink(ctx context.Context, c client.Reader, pa *billingv1alpha1.PartnerAccount) (string, error) {
	ref := fmt.Sprintf("partneraccount %s/%s", pa.Namespace, pa.Name)
	if pa.Status.RedemptionURL != "" {
		return pa.Status.RedemptionURL, nil
	}
	if name := pa.Status.ActivationTokenSecretName; name != "" {
		var s corev1.Secret
		if err := c.Get(ctx, client.ObjectKey{Namespace: pa.Namespace, Name: name}, &s); err != nil {
			if apierrors.IsNotFound(err) {
				return "", fmt.Errorf("%s keeps its redemption link in Secret %s/%s, which does not exist (yet)",
					ref, pa.Namespace, name)
			}
			return "", fmt.Errorf("%s keeps its redemption link in Secret %s/%s: %w", ref, pa.Namespace, name, err)
		}
		if link := string(s.Data[billingv1alpha1.SecretKeyRedemptionURL]); link != "" {
			return link, nil
		}
		return "", fmt.Errorf("%s keeps its redemption link in Secret %s/%s, which has no %s key", ref,
			pa.Namespace, name, billingv1alpha1.SecretKeyRedemptionURL)
	}
	if pa.Spec.ManagementPolicy == billingv1alpha1.ManagementPolicyObserve {
		return "", fmt.Errorf("%s has no activation token: an observed resource never shows it "+
			"(kubectl partneraccount manage %s -n %s takes the account over)", ref, pa.Name, pa.Namespace)
	}
	ready, _ := ReadyLine(pa)
	return "", fmt.Errorf("%s has no redemption link (yet): Ready is %s", ref, ready)
}
