package partneraccount

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	billingv1alpha1 "github.com/partnerbilling/partner-account-operator/api/v1alpha1"
)

// The activation token in a Secret of the resource's own, instead of its status.
var _ = Describe("Activation token Secrets", func() {
	It("writes, restores, moves and gives back the token Secret", func() {
		h := startHarness(harnessOptions{})
		pa := newAccount(h.ns(), "kept", "secret-1")
		pa.Spec.ActivationTokenSecretRef = &billingv1alpha1.SecretReference{Name: "kept-token"}
		Expect(k8sClient.Create(ctx, pa)).To(Succeed())
		Eventually(get(pa)).WithTimeout(waitReady).WithPolling(poll).
			Should(haveReady(metav1.ConditionTrue, billingv1alpha1.ReasonAccountReady))
		remote := h.remote("secret-1")
		wantLink := "https://start.b5test.com/partnership/redeem?c=" + remote.ActivationToken + "&t=I"

		By("writing the Secret, owned by the PartnerAccount, with nothing secret in status")
		got := get(pa)(Default)
		Expect(got.Status.ActivationToken).To(BeEmpty())
		Expect(got.Status.RedemptionURL).To(BeEmpty())
		Expect(got.Status.ActivationTokenSecretName).To(Equal("kept-token"))
		secret := secretOf(h.ns(), "kept-token")(Default)
		Expect(secret.Type).To(Equal(corev1.SecretTypeOpaque))
		Expect(secret.Data).To(Equal(map[string][]byte{
			"activationToken": []byte(remote.ActivationToken),
			"redemptionURL":   []byte(wantLink),
			"accountUID":      []byte("secret-1"),
		}))
		Expect(secret.Labels).To(HaveKeyWithValue("app.kubernetes.io/managed-by", "partner-account-operator"))
		Expect(metav1.IsControlledBy(secret, got)).To(BeTrue(), "owner references: %+v", secret.OwnerReferences)
		Expect(h.sim.Requests()).To(Equal(map[string]int{"create 201": 1}), "writing the Secret cost API calls")

		By("writing it again when deleted by hand")
		Expect(k8sClient.Delete(ctx, secret)).To(Succeed())
		Eventually(func(g Gomega) []byte { return secretOf(h.ns(), "kept-token")(g).Data["activationToken"] }).
			WithTimeout(waitReady).WithPolling(poll).Should(Equal([]byte(remote.ActivationToken)))

		By("writing it again when edited by hand")
		edited := secretOf(h.ns(), "kept-token")(Default)
		base := edited.DeepCopy()
		edited.Data["activationToken"] = []byte("PNS-FAKE0000")
		Expect(k8sClient.Patch(ctx, edited, client.MergeFrom(base))).To(Succeed())
		Eventually(func(g Gomega) []byte { return secretOf(h.ns(), "kept-token")(g).Data["activationToken"] }).
			WithTimeout(waitReady).WithPolling(poll).Should(Equal([]byte(remote.ActivationToken)))

		By("moving it when the ref changes")
		patchSpec(pa, func(p *billingv1alpha1.PartnerAccount) {
			p.Spec.ActivationTokenSecretRef = &billingv1alpha1.SecretReference{Name: "moved-token"}
		})
		Eventually(func(g Gomega) []byte { return secretOf(h.ns(), "moved-token")(g).Data["activationToken"] }).
			WithTimeout(waitReady).WithPolling(poll).Should(Equal([]byte(remote.ActivationToken)))
		Eventually(secretGone(h.ns(), "kept-token")).WithTimeout(waitReady).WithPolling(poll).Should(BeTrue())
		Expect(get(pa)(Default).Status.ActivationTokenSecretName).To(Equal("moved-token"))

		By("putting the token back in status when the ref is removed")
		patchSpec(pa, func(p *billingv1alpha1.PartnerAccount) { p.Spec.ActivationTokenSecretRef = nil })
		Eventually(func(g Gomega) string { return get(pa)(g).Status.ActivationToken }).
			WithTimeout(waitReady).WithPolling(poll).Should(Equal(remote.ActivationToken))
		Eventually(secretGone(h.ns(), "moved-token")).WithTimeout(waitReady).WithPolling(poll).Should(BeTrue())
		got = get(pa)(Default)
		Expect(got.Status.RedemptionURL).To(Equal(wantLink))
		Expect(got.Status.ActivationTokenSecretName).To(BeEmpty())
	})

	It("never overwrites a Secret that is not its own, and says so", func() {
		h := startHarness(harnessOptions{})
		foreign := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: h.ns(), Name: "taken"},
			StringData: map[string]string{"password": "hunter2"},
		}
		Expect(k8sClient.Create(ctx, foreign)).To(Succeed())
		pa := newAccount(h.ns(), "clash", "secret-2")
		pa.Spec.ActivationTokenSecretRef = &billingv1alpha1.SecretReference{Name: "taken"}
		Expect(k8sClient.Create(ctx, pa)).To(Succeed())

		Eventually(get(pa)).WithTimeout(waitReady).WithPolling(poll).
			Should(haveReady(metav1.ConditionFalse, billingv1alpha1.ReasonSecretConflict))
		got := get(pa)(Default)
		Expect(readyMessage(got)).To(ContainSubstring(`"taken"`))
		Expect(got.Status.ActivationToken).To(BeEmpty())
		Expect(got.Status.ActivationTokenSecretName).To(BeEmpty())
		Expect(secretOf(h.ns(), "taken")(Default).Data).To(Equal(map[string][]byte{"password": []byte("hunter2")}))
		Eventually(eventReasons(pa)).Should(ContainElement(billingv1alpha1.ReasonSecretConflict))

		By("writing it once the other Secret is gone")
		Expect(k8sClient.Delete(ctx, foreign)).To(Succeed())
		requestReconcile(pa, "secret-freed")
		Eventually(get(pa)).WithTimeout(waitReady).WithPolling(poll).
			Should(haveReady(metav1.ConditionTrue, billingv1alpha1.ReasonAccountReady))
		Expect(secretOf(h.ns(), "taken")(Default).Data["activationToken"]).
			To(Equal([]byte(h.remote("secret-2").ActivationToken)))
	})

	It("keeps every token out of status when the operator says so", func() {
		h := startHarness(harnessOptions{noTokenInStatus: true})
		pa := newAccount(h.ns(), "quiet", "secret-3")
		Expect(k8sClient.Create(ctx, pa)).To(Succeed())
		Eventually(get(pa)).WithTimeout(waitReady).WithPolling(poll).
			Should(haveReady(metav1.ConditionTrue, billingv1alpha1.ReasonAccountReady))
		got := get(pa)(Default)
		Expect(got.Status.ActivationToken).To(BeEmpty())
		Expect(got.Status.RedemptionURL).To(BeEmpty())
		Expect(got.Status.ActivationTokenSecretName).To(Equal("quiet-activation"))
		Expect(secretOf(h.ns(), "quiet-activation")(Default).Data["activationToken"]).
			To(Equal([]byte(h.remote("secret-3").ActivationToken)))
	})
})

// secretOf reads a Secret from the API server.
func secretOf(namespace, name string) func(Gomega) *corev1.Secret {
	return func(g Gomega) *corev1.Secret {
		s := &corev1.Secret{}
		g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, s)).To(Succeed())
		return s
	}
}

// secretGone reports whether a Secret no longer exists.
func secretGone(namespace, name string) func() bool {
	return func() bool {
		err := k8sClient.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &corev1.Secret{})
		return apierrors.IsNotFound(err)
	}
}
