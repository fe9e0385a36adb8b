package partneraccount

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	billingv1alpha1 "github.com/partnerbilling/partner-account-operator/api/v1alpha1"
	"github.com/partnerbilling/partner-account-operator/internal/partnerapi/simulator"
)

// partnerServer is a simulated Partnership API server of its own, for a
// PartnerConnection, that remembers every request's path and bearer token.
type partnerServer struct {
	sim *simulator.Server
	url string

	mu       sync.Mutex
	requests []seenRequest
}

// seenRequest is what a partnerServer saw of one request.
type seenRequest struct {
	Method, Path, Token string
}

var connectionSeq int

// startPartnerServer starts a simulator that accepts token, speaking dialect (the
// contract's when none is given); it stops when the spec ends.
func startPartnerServer(token string, dialect ...simulator.Dialect) *partnerServer {
	GinkgoHelper()
	opts := simulator.Options{Tokens: []string{token}}
	if len(dialect) > 0 {
		opts.Dialect = dialect[0]
	}
	sim, err := simulator.New(opts)
	Expect(err).NotTo(HaveOccurred())
	ps := &partnerServer{sim: sim}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ps.mu.Lock()
		ps.requests = append(ps.requests, seenRequest{Method: r.Method, Path: r.URL.Path,
			Token: strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")})
		ps.mu.Unlock()
		sim.ServeHTTP(w, r)
	}))
	DeferCleanup(srv.Close)
	ps.url = srv.URL + "/api/v1"
	return ps
}

// seen returns the requests the server saw.
func (ps *partnerServer) seen() []seenRequest {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return slices.Clone(ps.requests)
}

// account returns the server's account uid, which must exist.
func (ps *partnerServer) account(uid string) simulator.AccountState {
	GinkgoHelper()
	acct, ok := ps.sim.Account(uid)
	Expect(ok).To(BeTrue(), "no remote account %q", uid)
	return acct
}

// accountUIDs returns the UIDs of the server's accounts.
func (ps *partnerServer) accountUIDs() []string {
	accounts := ps.sim.Accounts()
	uids := make([]string, 0, len(accounts))
	for _, a := range accounts {
		uids = append(uids, a.UID)
	}
	return uids
}

// createConnection creates a Secret holding token in the harness's operator
// namespace and a PartnerConnection to url using it, both removed when the spec
// ends; edit may change the connection before it is created.
func (h *harness) createConnection(url, token string, edit ...func(*billingv1alpha1.PartnerConnection)) *billingv1alpha1.PartnerConnection {
	GinkgoHelper()
	connectionSeq++
	name := fmt.Sprintf("conn-%d-%d", GinkgoParallelProcess(), connectionSeq)
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: h.secretNamespace, Name: name + "-token"},
		StringData: map[string]string{"token": token + "\n"}}
	Expect(k8sClient.Create(ctx, secret)).To(Succeed())
	pc := &billingv1alpha1.PartnerConnection{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: billingv1alpha1.PartnerConnectionSpec{URL: url,
			TokenSecretRef: billingv1alpha1.SecretKeySelector{Name: secret.Name, Key: "token"}},
	}
	for _, e := range edit {
		e(pc)
	}
	Expect(k8sClient.Create(ctx, pc)).To(Succeed())
	DeferCleanup(func() {
		// The accounts on it go first; then its finalizer lets it go.
		_ = k8sClient.Delete(ctx, pc)
		for _, ns := range h.namespaces {
			var list billingv1alpha1.PartnerAccountList
			Expect(k8sClient.List(ctx, &list, client.InNamespace(ns))).To(Succeed())
			for i := range list.Items {
				if ref := list.Items[i].Spec.ConnectionRef; ref != nil && ref.Name == pc.Name {
					_ = k8sClient.Delete(ctx, &list.Items[i])
				}
			}
		}
		Eventually(func() bool {
			return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(pc), pc))
		}).WithTimeout(waitReady).WithPolling(poll).Should(BeTrue(), "PartnerConnection %s stays", pc.Name)
	})
	return pc
}

// onConnection returns a PartnerAccount on the PartnerConnection pc.
func onConnection(pa *billingv1alpha1.PartnerAccount, pc *billingv1alpha1.PartnerConnection) *billingv1alpha1.PartnerAccount {
	pa.Spec.ConnectionRef = &billingv1alpha1.ConnectionReference{Name: pc.Name}
	return pa
}

// createAccount creates pa and deletes it when the spec ends, before the
// connections it may use.
func createAccount(pa *billingv1alpha1.PartnerAccount) *billingv1alpha1.PartnerAccount {
	GinkgoHelper()
	Expect(k8sClient.Create(ctx, pa)).To(Succeed())
	DeferCleanup(func() {
		_ = k8sClient.Delete(ctx, pa)
		Eventually(gone(pa)).WithTimeout(waitReady).WithPolling(poll).Should(BeTrue(), "%s stays", pa.Name)
	})
	return pa
}

// getConnection reads pc back from the API server.
func getConnection(pc *billingv1alpha1.PartnerConnection) func(Gomega) *billingv1alpha1.PartnerConnection {
	return func(g Gomega) *billingv1alpha1.PartnerConnection {
		out := &billingv1alpha1.PartnerConnection{}
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(pc), out)).To(Succeed())
		return out
	}
}

// connectionReady is "status/reason" of a PartnerConnection's Ready condition.
func connectionReady(pc *billingv1alpha1.PartnerConnection) string {
	c := meta.FindStatusCondition(pc.Status.Conditions, billingv1alpha1.ConditionReady)
	if c == nil || c.ObservedGeneration != pc.Generation {
		return "<not observed>"
	}
	return string(c.Status) + "/" + c.Reason
}

var _ = Describe("PartnerConnections", func() {
	It("sends each resource's calls to its own connection's server with its token, and nothing else there", func() {
		h := startHarness(harnessOptions{connections: true})
		serverA, serverB := startPartnerServer("token-of-brand-a"), startPartnerServer("token-of-brand-b")
		connA := h.createConnection(serverA.url, "token-of-brand-a")
		connB := h.createConnection(serverB.url, "token-of-brand-b")

		Eventually(getConnection(connA)).WithTimeout(waitReady).WithPolling(poll).
			Should(WithTransform(connectionReady, Equal("True/"+billingv1alpha1.ReasonConnectionTokenAccepted)))
		Expect(getConnection(connA)(Default).Status.EndpointProven).To(BeFalse(),
			"a 404 for an account no one has proved the endpoint")

		a := createAccount(onConnection(newAccount(h.ns(), "brand-a", "brand-a-1"), connA))
		b := createAccount(onConnection(newAccount(h.ns(), "brand-b", "brand-b-1"), connB))
		def := createAccount(newAccount(h.ns(), "default", "default-1"))
		for _, pa := range []*billingv1alpha1.PartnerAccount{a, b, def} {
			Eventually(get(pa)).WithTimeout(waitReady).WithPolling(poll).
				Should(haveReady(metav1.ConditionTrue, billingv1alpha1.ReasonAccountReady))
		}

		Expect(serverA.accountUIDs()).To(ConsistOf("brand-a-1"))
		Expect(serverB.accountUIDs()).To(ConsistOf("brand-b-1"))
		Expect(h.sim.Accounts()).To(ConsistOf(HaveField("UID", "default-1")),
			"a resource without connectionRef no longer uses the flags' server")
		for server, want := range map[*partnerServer]string{serverA: "token-of-brand-a", serverB: "token-of-brand-b"} {
			for _, req := range server.seen() {
				Expect(req.Token).To(Equal(want), "%s %s carried another connection's token", req.Method, req.Path)
				Expect(req.Path).NotTo(ContainSubstring("default-1"))
			}
		}
		Expect(serverA.seen()).NotTo(ContainElement(HaveField("Path", ContainSubstring("brand-b-1"))))
		Expect(h.requests("get 401") + h.requests("create 401")).To(BeZero())

		By("each connection counts its accounts, and is proven once it answered with one")
		for _, pc := range []*billingv1alpha1.PartnerConnection{connA, connB} {
			Eventually(getConnection(pc)).WithTimeout(waitReady).WithPolling(poll).Should(SatisfyAll(
				WithTransform(connectionReady, Equal("True/"+billingv1alpha1.ReasonConnectionVerified)),
				HaveField("Status.Accounts", BeEquivalentTo(1)),
				HaveField("Status.EndpointProven", BeTrue()),
				HaveField("Status.LastVerifiedAt", Not(BeNil()))))
		}
	})

	It("makes no call for a namespace the connection does not admit, until it does", func() {
		h := startHarness(harnessOptions{connections: true})
		server := startPartnerServer("token-of-team-a")
		pc := h.createConnection(server.url, "token-of-team-a", func(pc *billingv1alpha1.PartnerConnection) {
			pc.Spec.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"team": "a"}}
		})
		Eventually(getConnection(pc)).WithTimeout(waitReady).WithPolling(poll).
			Should(WithTransform(connectionReady, HavePrefix("True/")))
		before := len(server.seen())

		pa := createAccount(onConnection(newAccount(h.ns(), "team-b", "team-b-1"), pc))
		Eventually(get(pa)).WithTimeout(waitReady).WithPolling(poll).
			Should(haveReady(metav1.ConditionFalse, billingv1alpha1.ReasonConnectionNotAllowed))
		Expect(readyMessage(get(pa)(Default))).To(SatisfyAll(ContainSubstring(pc.Name), ContainSubstring(h.ns()),
			ContainSubstring("namespaceSelector")))
		Consistently(func() int { return len(server.seen()) }).WithTimeout(2*time.Second).Should(Equal(before),
			"a call went out for a namespace the connection does not admit")
		Expect(server.accountUIDs()).To(BeEmpty())

		By("the namespace is admitted")
		ns := &corev1.Namespace{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Name: h.ns()}, ns)).To(Succeed())
		ns.Labels["team"] = "a"
		Expect(k8sClient.Update(ctx, ns)).To(Succeed())
		Eventually(get(pa)).WithTimeout(waitReady).WithPolling(poll).
			Should(haveReady(metav1.ConditionTrue, billingv1alpha1.ReasonAccountReady))
		Expect(server.accountUIDs()).To(ConsistOf("team-b-1"))
	})

	It("makes no call for a connection that does not exist, and goes on when it is created", func() {
		h := startHarness(harnessOptions{connections: true})
		pa := newAccount(h.ns(), "early", "early-1")
		pa.Spec.ConnectionRef = &billingv1alpha1.ConnectionReference{Name: fmt.Sprintf("later-%d", GinkgoRandomSeed())}
		createAccount(pa)
		Eventually(get(pa)).WithTimeout(waitReady).WithPolling(poll).
			Should(haveReady(metav1.ConditionFalse, billingv1alpha1.ReasonConnectionNotFound))
		Expect(readyMessage(get(pa)(Default))).To(ContainSubstring(pa.Spec.ConnectionRef.Name))
		Expect(h.totalRequests()).To(BeZero(), "the default connection was used instead")

		By("the connection is created")
		server := startPartnerServer("token-of-later")
		h.createConnection(server.url, "token-of-later", func(pc *billingv1alpha1.PartnerConnection) {
			pc.Name = pa.Spec.ConnectionRef.Name
		})
		Eventually(get(pa)).WithTimeout(waitReady).WithPolling(poll).
			Should(haveReady(metav1.ConditionTrue, billingv1alpha1.ReasonAccountReady))
		Expect(server.accountUIDs()).To(ConsistOf("early-1"))
		Expect(h.totalRequests()).To(BeZero())
	})

	It("waits for a connection's missing token Secret, saying which, and goes on when it is created", func() {
		h := startHarness(harnessOptions{connections: true})
		server := startPartnerServer("token-late")
		pc := h.createConnection(server.url, "token-late", func(pc *billingv1alpha1.PartnerConnection) {
			pc.Spec.TokenSecretRef.Name = "not-yet"
		})
		Eventually(getConnection(pc)).WithTimeout(waitReady).WithPolling(poll).
			Should(WithTransform(connectionReady, Equal("False/"+billingv1alpha1.ReasonConnectionMisconfigured)))
		c := meta.FindStatusCondition(getConnection(pc)(Default).Status.Conditions, billingv1alpha1.ConditionReady)
		Expect(c.Message).To(SatisfyAll(ContainSubstring("spec.tokenSecretRef"),
			ContainSubstring(h.secretNamespace+"/not-yet"), ContainSubstring("kubectl -n "+h.secretNamespace)))

		pa := createAccount(onConnection(newAccount(h.ns(), "waiting", "late-1"), pc))
		Eventually(get(pa)).WithTimeout(waitReady).WithPolling(poll).
			Should(haveReady(metav1.ConditionFalse, billingv1alpha1.ReasonConnectionNotReady))
		Expect(readyMessage(get(pa)(Default))).To(SatisfyAll(ContainSubstring(pc.Name), ContainSubstring("not-yet")))
		Expect(server.seen()).To(BeEmpty())

		By("the Secret is created")
		Expect(k8sClient.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: h.secretNamespace,
			Name: "not-yet"}, StringData: map[string]string{"token": "token-late"}})).To(Succeed())
		Eventually(get(pa)).WithTimeout(waitReady).WithPolling(poll).
			Should(haveReady(metav1.ConditionTrue, billingv1alpha1.ReasonAccountReady))
		Eventually(getConnection(pc)).WithTimeout(waitReady).WithPolling(poll).
			Should(WithTransform(connectionReady, Equal("True/"+billingv1alpha1.ReasonConnectionVerified)))
	})

	It("refuses to change a resource's connection", func() {
		h := startHarness(harnessOptions{connections: true})
		pa := createAccount(newAccount(h.ns(), "fixed", "fixed-1"))
		pa.Spec.ConnectionRef = &billingv1alpha1.ConnectionReference{Name: "elsewhere"}
		err := k8sClient.Update(ctx, pa)
		Expect(apierrors.IsInvalid(err)).To(BeTrue(), "err = %v", err)
		Expect(err.Error()).To(ContainSubstring("connectionRef is immutable"))
	})

	It("keeps a connection in use until its resources are gone, and deletes nothing remotely", func() {
		h := startHarness(harnessOptions{connections: true})
		server := startPartnerServer("token-in-use")
		pc := h.createConnection(server.url, "token-in-use")
		pa := onConnection(newAccount(h.ns(), "user", "user-1"), pc)
		pa.Spec.DeletionPolicy = billingv1alpha1.DeletionPolicyDelete
		Expect(k8sClient.Create(ctx, pa)).To(Succeed())
		Eventually(get(pa)).WithTimeout(waitReady).WithPolling(poll).
			Should(haveReady(metav1.ConditionTrue, billingv1alpha1.ReasonAccountReady))
		Eventually(getConnection(pc)).WithTimeout(waitReady).WithPolling(poll).
			Should(HaveField("ObjectMeta.Finalizers", ContainElement(billingv1alpha1.ConnectionFinalizer)))

		Expect(k8sClient.Delete(ctx, pc)).To(Succeed())
		Eventually(getConnection(pc)).WithTimeout(waitReady).WithPolling(poll).Should(SatisfyAll(
			WithTransform(connectionReady, Equal("False/"+billingv1alpha1.ReasonConnectionInUse)),
			HaveField("Status.UsedBy", ConsistOf(h.ns()+"/user"))))
		Consistently(getConnection(pc)).WithTimeout(2 * time.Second).Should(HaveField("ObjectMeta.DeletionTimestamp", Not(BeNil())))
		Expect(server.account("user-1").Deleted).To(BeFalse(), "deleting the connection touched the account")

		By("the resource goes, deactivating its account through the connection; then the connection goes")
		Expect(k8sClient.Delete(ctx, pa)).To(Succeed())
		Eventually(gone(pa)).WithTimeout(waitReady).WithPolling(poll).Should(BeTrue())
		Eventually(func() bool {
			return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(pc), &billingv1alpha1.PartnerConnection{}))
		}).WithTimeout(waitReady).WithPolling(poll).Should(BeTrue())
		Expect(server.account("user-1").Deleted).To(BeTrue())
	})

	It("uses a rotated token at once, without a restart", func() {
		h := startHarness(harnessOptions{connections: true, apiUnauthorizedRetry: time.Hour})
		server := startPartnerServer("token-before")
		pc := h.createConnection(server.url, "token-before")
		first := createAccount(onConnection(newAccount(h.ns(), "first", "rotate-1"), pc))
		Eventually(get(first)).WithTimeout(waitReady).WithPolling(poll).
			Should(haveReady(metav1.ConditionTrue, billingv1alpha1.ReasonAccountReady))

		By("1Password revokes the old token and issues a new one")
		Expect(server.sim.SetTokens([]string{"token-after"})).To(Succeed())
		revoked := createAccount(onConnection(newAccount(h.ns(), "revoked", "rotate-2"), pc))
		Eventually(get(revoked)).WithTimeout(waitReady).WithPolling(poll).
			Should(haveReady(metav1.ConditionFalse, billingv1alpha1.ReasonUnauthorized))
		Expect(readyMessage(get(revoked)(Default))).To(SatisfyAll(ContainSubstring(pc.Spec.TokenSecretRef.Name),
			Not(ContainSubstring("token-before"))))

		By("the Secret gets the new token")
		secret := &corev1.Secret{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: h.secretNamespace, Name: pc.Spec.TokenSecretRef.Name}, secret)).
			To(Succeed())
		secret.Data["token"] = []byte("token-after")
		Expect(k8sClient.Update(ctx, secret)).To(Succeed())
		Eventually(get(revoked)).WithTimeout(waitReady).WithPolling(poll).
			Should(haveReady(metav1.ConditionTrue, billingv1alpha1.ReasonAccountReady))
		Expect(server.seen()[len(server.seen())-1].Token).To(Equal("token-after"))
	})

	It("lets a 429 with a long Retry-After on one connection delay nothing on another", func() {
		h := startHarness(harnessOptions{connections: true})
		slow, fast := startPartnerServer("token-slow"), startPartnerServer("token-fast")
		slowConn, fastConn := h.createConnection(slow.url, "token-slow"), h.createConnection(fast.url, "token-fast")
		for _, pc := range []*billingv1alpha1.PartnerConnection{slowConn, fastConn} {
			Eventually(getConnection(pc)).WithTimeout(waitReady).WithPolling(poll).
				Should(WithTransform(connectionReady, HavePrefix("True/")))
		}

		By("the slow connection's server answers 429 with Retry-After: 600")
		Expect(slow.sim.SetFaults(simulator.Faults{RateLimitRate: 1, RetryAfter: 600})).To(Succeed())
		limited := createAccount(onConnection(newAccount(h.ns(), "limited", "limited-1"), slowConn))
		Eventually(get(limited)).WithTimeout(waitReady).WithPolling(poll).
			Should(haveReady(metav1.ConditionFalse, billingv1alpha1.ReasonRateLimited))
		for i := range 3 {
			createAccount(onConnection(newAccount(h.ns(), fmt.Sprintf("queued-%d", i), fmt.Sprintf("queued-%d", i)), slowConn))
		}

		By("the other connection's new account is Ready in seconds")
		start := time.Now()
		quick := createAccount(onConnection(newAccount(h.ns(), "quick", "quick-1"), fastConn))
		Eventually(get(quick)).WithTimeout(5 * time.Second).WithPolling(poll).
			Should(haveReady(metav1.ConditionTrue, billingv1alpha1.ReasonAccountReady))
		GinkgoWriter.Printf("A new account on the other connection was Ready after %s\n", time.Since(start))
		Expect(fast.accountUIDs()).To(ConsistOf("quick-1"))
		Expect(get(quick)(Default).Status.Conditions).NotTo(ContainElement(HaveField("Reason",
			billingv1alpha1.ReasonRateLimited)))
		Expect(slow.sim.Requests()["create 429"]+slow.sim.Requests()["get 429"]).To(Equal(1),
			"the pause let more calls go to the slow server")
	})
})
