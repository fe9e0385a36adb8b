package partneraccount

import (
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	billingv1alpha1 "github.com/partnerbilling/partner-account-operator/api/v1alpha1"
	"github.com/partnerbilling/partner-account-operator/internal/testenv"
)

// Uninstalling: deleting the CRD deletes every PartnerAccount, which must never
// deactivate the customers' accounts.
var _ = Describe("Uninstalling", Serial, func() {
	It("deactivates no account when the CRD is deleted while the operator runs, and deletes normally once it is back", func() {
		h := startHarness(harnessOptions{})
		accounts := make([]*billingv1alpha1.PartnerAccount, 0, 2)
		for _, uid := range []string{"uninstall-1", "uninstall-2"} {
			pa := newAccount(h.ns(), uid, uid)
			Expect(k8sClient.Create(ctx, pa)).To(Succeed())
			accounts = append(accounts, pa)
		}
		for _, pa := range accounts {
			Eventually(get(pa)).WithTimeout(waitReady).WithPolling(poll).
				Should(haveReady(metav1.ConditionTrue, billingv1alpha1.ReasonAccountReady))
		}
		DeferCleanup(reinstallCRD)
		releaseOthers(h.ns())

		crd := &unstructured.Unstructured{}
		crd.SetGroupVersionKind(crdGVK)
		crd.SetName(crdName)
		Expect(k8sClient.Delete(ctx, crd)).To(Succeed())
		Eventually(crdGone).WithTimeout(30*time.Second).WithPolling(poll).Should(BeTrue(),
			"the CRD was not deleted: a PartnerAccount kept its finalizer")

		for _, uid := range []string{"uninstall-1", "uninstall-2"} {
			Expect(h.remote(uid).Deleted).To(BeFalse(), "uninstalling deactivated %s", uid)
		}
		Expect(h.requests("delete 204")).To(BeZero())
		for _, pa := range accounts {
			Expect(eventReasons(pa)(Default)).To(ContainElement(billingv1alpha1.EventOrphanedByUninstall))
		}

		By("the CRD created again (an Argo CD self-heal): a deletion deactivates its account again")
		reinstallCRD()
		pa := newAccount(h.ns(), "after", "uninstall-3")
		Eventually(func() error { return k8sClient.Create(ctx, pa) }).WithTimeout(waitReady).Should(Succeed())
		Eventually(get(pa)).WithTimeout(waitReady).WithPolling(poll).
			Should(haveReady(metav1.ConditionTrue, billingv1alpha1.ReasonAccountReady))
		Expect(k8sClient.Delete(ctx, pa)).To(Succeed())
		Eventually(gone(pa)).WithTimeout(waitReady).WithPolling(poll).Should(BeTrue())
		Expect(h.remote("uninstall-3").Deleted).To(BeTrue(), "a deletion after the CRD came back orphaned the account")
		Expect(eventReasons(pa)(Default)).NotTo(ContainElement(billingv1alpha1.EventOrphanedByUninstall))
	})
})

// releaseOthers takes the finalizer off every PartnerAccount outside namespace:
// those the specs before left behind, whose controllers are gone, and which would
// otherwise keep the CRD from being deleted.
func releaseOthers(namespace string) {
	GinkgoHelper()
	var list billingv1alpha1.PartnerAccountList
	Expect(k8sClient.List(ctx, &list)).To(Succeed())
	for i := range list.Items {
		pa := &list.Items[i]
		if pa.Namespace == namespace || len(pa.Finalizers) == 0 {
			continue
		}
		base := pa.DeepCopy()
		pa.Finalizers = nil
		Expect(client.IgnoreNotFound(k8sClient.Patch(ctx, pa, client.MergeFrom(base)))).To(Succeed())
	}
}

// crdLive reports whether the PartnerAccount CRD exists and is not being deleted.
func crdLive() bool {
	crd := &unstructured.Unstructured{}
	crd.SetGroupVersionKind(crdGVK)
	return k8sClient.Get(ctx, client.ObjectKey{Name: crdName}, crd) == nil && crd.GetDeletionTimestamp() == nil
}

// crdGone reports whether the PartnerAccount CRD is gone.
func crdGone() bool {
	crd := &unstructured.Unstructured{}
	crd.SetGroupVersionKind(crdGVK)
	return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKey{Name: crdName}, crd))
}

// reinstallCRD installs the PartnerAccount CRD again, once the deleted one is gone,
// for the specs that follow.
func reinstallCRD() {
	if crdLive() {
		return // installed again already
	}
	Eventually(crdGone).WithTimeout(time.Minute).WithPolling(poll).Should(BeTrue())
	_, err := envtest.InstallCRDs(cfg, envtest.CRDInstallOptions{
		Paths: []string{filepath.Join(testenv.Root(), "config", "crd", "bases")}, ErrorIfPathMissing: true,
	})
	Expect(err).NotTo(HaveOccurred())
	Eventually(func() error {
		return k8sClient.List(ctx, &billingv1alpha1.PartnerAccountList{})
	}).WithTimeout(30 * time.Second).WithPolling(poll).Should(Succeed())
}
