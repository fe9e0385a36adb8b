package partneraccount

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	billingv1alpha1 "github.com/partnerbilling/partner-account-operator/api/v1alpha1"
	"github.com/partnerbilling/partner-account-operator/internal/connection"
	"github.com/partnerbilling/partner-account-operator/internal/controller"
	"github.com/partnerbilling/partner-account-operator/internal/controller/partnerconnection"
	"github.com/partnerbilling/partner-account-operator/internal/events"
	"github.com/partnerbilling/partner-account-operator/internal/partnerapi"
	"github.com/partnerbilling/partner-account-operator/internal/partnerapi/simulator"
)

// testToken is the partner token the simulator accepts in these tests.
const testToken = "test-partner-token-0123456789"

// harness is one controller (its own manager, watching its own namespaces) talking
// to its own simulator through the real HTTP client, so that request counts and
// timing options belong to one test.
type harness struct {
	sim   *simulator.Server
	front *apiFront
	// serverURL is the front's address; apiURL the base URL the controller calls.
	serverURL  string
	apiURL     string
	tokenFile  string
	namespaces []string
	// secretNamespace is the operator's own namespace, where PartnerConnections'
	// Secrets are, when the harness runs the PartnerConnection controller.
	secretNamespace string
	opts            harnessOptions
	stopController  func()
	// apiClockOffset is how far the simulator's clock is from this machine's, in
	// nanoseconds: a skewed API clock, or time that passed while the operator was
	// down.
	apiClockOffset atomic.Int64
	// connections is the running controller's connection registry.
	connections *connection.Registry
	// reconciler is the running controller's reconciler.
	reconciler *Reconciler
}

type harnessOptions struct {
	dialect    simulator.Dialect
	resync     time.Duration
	namespaces int
	// noTokenInStatus runs the controller as --activation-token-in-status=false does.
	noTokenInStatus bool
	// readBackRate limits background read-backs; 0: no limit.
	readBackRate float64
	// unauthorizedRetry is the controller's UnauthorizedRetryPeriod; 0: a second.
	unauthorizedRetry time.Duration
	// apiUnauthorizedRetry is the client's; 0: its default.
	apiUnauthorizedRetry time.Duration
	// defaultDeletionPolicy is --default-deletion-policy; empty: Delete.
	defaultDeletionPolicy billingv1alpha1.DeletionPolicy
	// schedule reads accounts back as the read-back schedule says, at most resync
	// apart; without it every account is read back exactly every resync, so that
	// the requests a spec counts are its own.
	schedule bool
	// connections runs the PartnerConnection controller too, with its Secrets in a
	// namespace of the harness's own (secretNamespace), verifying every
	// verifyPeriod (0: its default).
	connections  bool
	verifyPeriod time.Duration
	// probe leaves the default connection as on a cluster with no account known:
	// its first new resource reads before it creates (connection.CreateMode).
	// Without it the connection creates at once, as once any account is known, so
	// that a spec's first request is its own.
	probe bool
}

var namespaceSeq atomic.Int64

// startHarness creates fresh namespaces and starts a simulator and a controller for
// them; both stop when the current spec ends.
func startHarness(opts harnessOptions) *harness {
	GinkgoHelper()
	if opts.namespaces == 0 {
		opts.namespaces = 1
	}
	if opts.resync == 0 {
		opts.resync = 10 * time.Minute
	}
	h := &harness{}
	for range opts.namespaces {
		ns := fmt.Sprintf("test-%d", namespaceSeq.Add(1))
		Expect(k8sClient.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
		h.namespaces = append(h.namespaces, ns)
	}
	if opts.connections {
		h.secretNamespace = fmt.Sprintf("operator-%d", namespaceSeq.Add(1))
		Expect(k8sClient.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: h.secretNamespace}})).
			To(Succeed())
	}

	var err error
	h.sim, err = simulator.New(simulator.Options{Dialect: opts.dialect, Tokens: []string{testToken},
		Now: func() time.Time { return time.Now().Add(time.Duration(h.apiClockOffset.Load())) }})
	Expect(err).NotTo(HaveOccurred())
	h.front = &apiFront{sim: h.sim}
	srv := httptest.NewServer(h.front)
	DeferCleanup(srv.Close)
	h.serverURL = srv.URL
	h.apiURL = srv.URL + "/api/v1"

	h.tokenFile = filepath.Join(GinkgoT().TempDir(), "token")
	h.setToken(testToken)
	h.opts = opts
	h.stopController = h.startController()
	DeferCleanup(func() { h.stopController() })
	return h
}

// startController starts a manager and the controller (with its own API client)
// for the harness's namespaces, as the operator's process does, and returns what
// stops them.
func (h *harness) startController() (stop func()) {
	GinkgoHelper()
	opts := h.opts
	api, err := partnerapi.New(partnerapi.Config{
		BaseURL: h.apiURL, TokenFile: h.tokenFile, Timeout: 5 * time.Second,
		RequestsPerSecond: 1000, Burst: 1000, UnauthorizedRetryPeriod: opts.apiUnauthorizedRetry,
	})
	Expect(err).NotTo(HaveOccurred())

	namespaces := map[string]cache.Config{}
	for _, ns := range h.namespaces {
		namespaces[ns] = cache.Config{}
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Cache:                  cacheOptions(namespaces, h.secretNamespace),
		// Every harness registers the same controller name in one process.
		Controller: config.Controller{SkipNameValidation: new(true)},
	})
	Expect(err).NotTo(HaveOccurred())
	mctx, cancel := context.WithCancel(ctx)
	unauthorizedRetry := time.Second
	if opts.unauthorizedRetry != 0 {
		unauthorizedRetry = opts.unauthorizedRetry
	}
	options := Options{
		ResyncPeriod:            opts.resync,
		UnauthorizedRetryPeriod: unauthorizedRetry,
		BackoffBase:             100 * time.Millisecond,
		BackoffMax:              2 * time.Second,
		NoTokenInStatus:         opts.noTokenInStatus,
		ReadBackRate:            opts.readBackRate,
		DefaultDeletionPolicy:   opts.defaultDeletionPolicy,
		MinReadBackInterval:     minReadBack(opts),
	}
	h.connections = connection.NewRegistry(api, opts.readBackRate,
		connection.Options{ResyncPeriod: opts.resync, Log: mgr.GetLogger()})
	if !opts.probe {
		h.connections.Default().ProbeDone(false, true)
	}
	recorder, err := events.ForManager(mgr, "partner-account-operator")
	Expect(err).NotTo(HaveOccurred())
	r := &Reconciler{
		Client:      mgr.GetClient(),
		APIReader:   mgr.GetAPIReader(),
		Connections: h.connections,
		Recorder:    recorder,
		Options:     options,
	}
	Expect(r.SetupWithManager(mctx, mgr)).To(Succeed())
	h.reconciler = r
	if opts.connections {
		Expect((&partnerconnection.Reconciler{
			Client:      mgr.GetClient(),
			Connections: h.connections,
			Defaults: partnerapi.Config{Timeout: 5 * time.Second, RequestsPerSecond: 1000, Burst: 1000,
				UnauthorizedRetryPeriod: opts.apiUnauthorizedRetry},
			SecretNamespace: h.secretNamespace,
			VerifyPeriod:    opts.verifyPeriod,
		}).SetupWithManager(mctx, mgr)).To(Succeed())
	}
	done := make(chan struct{})
	go func() {
		defer GinkgoRecover()
		defer close(done)
		Expect(mgr.Start(mctx)).To(Succeed())
	}()
	return func() {
		cancel()
		<-done
	}
}

// restartController stops the controller and starts a new one, as a restart of
// the operator's pod does.
func (h *harness) restartController() {
	GinkgoHelper()
	h.stopController()
	h.stopController = h.startController()
}

// restartWithURL restarts the controller calling the API at apiURL, as an operator
// whose --partner-api-url was changed.
func (h *harness) restartWithURL(apiURL string) {
	GinkgoHelper()
	h.apiURL = apiURL
	h.restartController()
}

// skewAPIClock moves the simulator's clock by d from now on.
func (h *harness) skewAPIClock(d time.Duration) { h.apiClockOffset.Add(int64(d)) }

func (h *harness) ns() string { return h.namespaces[0] }

// cacheOptions are the operator's cache options, limited to namespaces, with the
// PartnerConnections' Secrets in secretNamespace.
func cacheOptions(namespaces map[string]cache.Config, secretNamespace string) cache.Options {
	opts := cache.Options{DefaultNamespaces: namespaces}
	controller.ConfigureCache(&opts, secretNamespace)
	return opts
}

func (h *harness) setToken(token string) {
	GinkgoHelper()
	Expect(os.WriteFile(h.tokenFile, []byte(token+"\n"), 0o600)).To(Succeed())
}

// requests returns the simulator's count for a key such as "create 201".
func (h *harness) requests(key string) int { return h.sim.Requests()[key] }

// totalRequests returns how many /api requests the simulator answered.
func (h *harness) totalRequests() int {
	n := 0
	for _, c := range h.sim.Requests() {
		n += c
	}
	return n
}

// createRemote seeds an account in b5test.com made an hour ago, as the partner's
// billing system or another cluster would have made it.
func (h *harness) createRemote(uid, accountType string) {
	GinkgoHelper()
	_, err := h.sim.Seed(simulator.Seed{UID: uid, Type: accountType, Domain: "b5test.com", CreatedAt: time.Now().Add(-time.Hour)})
	Expect(err).NotTo(HaveOccurred())
}

// frontMode is how the harness's front answers in place of the simulator.
type frontMode int32

const (
	// frontPass passes every request to the simulator.
	frontPass frontMode = iota
	// frontHTML404 answers every API request with an HTML 404, as a wrong path
	// behind an ingress does.
	frontHTML404
	// frontNoCreatedAt removes created_at from every account the simulator sends,
	// as the contract allows.
	frontNoCreatedAt
	// frontDuplicateIs200 answers a create of an existing account with 200 and that
	// account, as a published server may.
	frontDuplicateIs200
	// frontCreateLacksTypeAndDomain removes account_type and domain from the answer
	// to a create, as a terse server may.
	frontCreateLacksTypeAndDomain
	// frontOtherUID answers with an account under another UID.
	frontOtherUID
	// frontGet400 answers every read with the API's 400.
	frontGet400
	// frontPatchIgnored answers an end-date change with the account unchanged.
	frontPatchIgnored
)

// apiFront stands between the controller and the simulator, to answer as servers
// the simulator does not model would.
type apiFront struct {
	sim  http.Handler
	mode atomic.Int32
	// intercept, when set, answers the requests it reports true for, in place of
	// the mode.
	intercept atomic.Pointer[func(http.ResponseWriter, *http.Request) bool]
	// refusedReads counts the reads frontGet400 answered.
	refusedReads atomic.Int32
	// reads counts the reads of each account that went through the front.
	reads sync.Map // account UID → *atomic.Int32
}

// readsOf returns how many reads of the account uid went through the front.
func (f *apiFront) readsOf(uid string) int {
	if n, ok := f.reads.Load(uid); ok {
		return int(n.(*atomic.Int32).Load())
	}
	return 0
}

func (f *apiFront) set(m frontMode) { f.mode.Store(int32(m)) }

// interceptWith makes fn answer the API requests it reports true for; nil stops.
func (f *apiFront) interceptWith(fn func(http.ResponseWriter, *http.Request) bool) {
	if fn == nil {
		f.intercept.Store(nil)
		return
	}
	f.intercept.Store(&fn)
}

func (f *apiFront) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer GinkgoRecover()
	if r.Method == http.MethodGet {
		uid := r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]
		n, _ := f.reads.LoadOrStore(uid, new(atomic.Int32))
		n.(*atomic.Int32).Add(1)
	}
	if fn := f.intercept.Load(); fn != nil && strings.HasPrefix(r.URL.Path, "/api/") && (*fn)(w, r) {
		return
	}
	mode := frontMode(f.mode.Load())
	if mode == frontPass || !strings.HasPrefix(r.URL.Path, "/api/") {
		f.sim.ServeHTTP(w, r)
		return
	}
	if mode == frontHTML404 {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, "<html><head><title>404 Not Found</title></head><body><h1>Not Found</h1></body></html>")
		return
	}
	reqBody, err := io.ReadAll(r.Body)
	Expect(err).NotTo(HaveOccurred())
	if mode == frontGet400 && r.Method == http.MethodGet {
		f.refusedReads.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"status":400,"message":"Bad request.","code":"bad_request"}`)
		return
	}
	if mode == frontPatchIgnored && r.Method == http.MethodPatch {
		r.Method, reqBody = http.MethodGet, nil
	}
	r.Body = io.NopCloser(bytes.NewReader(reqBody))
	rec := httptest.NewRecorder()
	f.sim.ServeHTTP(rec, r)
	body := rec.Body.Bytes()
	rewrite := func(edit func(acct map[string]any)) {
		var acct map[string]any
		Expect(json.Unmarshal(body, &acct)).To(Succeed())
		edit(acct)
		body, _ = json.Marshal(acct)
	}
	switch {
	case mode == frontCreateLacksTypeAndDomain && r.Method == http.MethodPost && rec.Code < 300:
		rewrite(func(acct map[string]any) { delete(acct, "account_type"); delete(acct, "domain") })
	case mode == frontOtherUID && rec.Code < 300 && len(body) > 0:
		rewrite(func(acct map[string]any) { acct["account_uid"] = "someone-else" })
	case mode == frontNoCreatedAt && rec.Code < 300 && len(body) > 0:
		rewrite(func(acct map[string]any) { delete(acct, "created_at") })
	case mode == frontDuplicateIs200 && r.Method == http.MethodPost && (rec.Code == http.StatusConflict || rec.Code == http.StatusBadRequest):
		var req map[string]any
		Expect(json.Unmarshal(reqBody, &req)).To(Succeed())
		get := httptest.NewRequest(http.MethodGet, r.URL.Path+"/"+fmt.Sprint(req["account_uid"]), nil)
		get.Header = r.Header.Clone()
		rec = httptest.NewRecorder()
		f.sim.ServeHTTP(rec, get)
		body = rec.Body.Bytes()
		if rec.Code == http.StatusOK {
			rec.Code = http.StatusCreated
		}
	}
	for k, v := range rec.Header() {
		if k != "Content-Length" {
			w.Header()[k] = v
		}
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(body)
}

// remote returns the simulator's account uid, which must exist.
func (h *harness) remote(uid string) simulator.AccountState {
	GinkgoHelper()
	acct, ok := h.sim.Account(uid)
	Expect(ok).To(BeTrue(), "no remote account %q", uid)
	return acct
}

// newAccount returns a PartnerAccount for an Individual account in b5test.com.
func newAccount(namespace, name, uid string) *billingv1alpha1.PartnerAccount {
	return &billingv1alpha1.PartnerAccount{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec: billingv1alpha1.PartnerAccountSpec{
			AccountUID:  uid,
			AccountType: billingv1alpha1.AccountTypeIndividual,
			Domain:      "b5test.com",
		},
	}
}

// get reads pa back from the API server.
func get(pa *billingv1alpha1.PartnerAccount) func(Gomega) *billingv1alpha1.PartnerAccount {
	return func(g Gomega) *billingv1alpha1.PartnerAccount {
		out := &billingv1alpha1.PartnerAccount{}
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(pa), out)).To(Succeed())
		return out
	}
}

// haveReady matches a PartnerAccount whose Ready condition has the given status and
// reason, for its current generation.
func haveReady(status metav1.ConditionStatus, reason string) OmegaMatcher {
	return WithTransform(readyOf, Equal(string(status)+"/"+reason))
}

// readyOf is "status/reason" of pa's Ready condition, or "<not observed>" when the
// status does not describe pa's generation.
func readyOf(pa *billingv1alpha1.PartnerAccount) string {
	c := meta.FindStatusCondition(pa.Status.Conditions, billingv1alpha1.ConditionReady)
	if c == nil || pa.Status.ObservedGeneration != pa.Generation {
		return "<not observed>"
	}
	return string(c.Status) + "/" + c.Reason
}

// isStalledWith matches a PartnerAccount with Stalled=True for reason.
func isStalledWith(reason string) OmegaMatcher {
	return WithTransform(func(pa *billingv1alpha1.PartnerAccount) string {
		c := meta.FindStatusCondition(pa.Status.Conditions, billingv1alpha1.ConditionStalled)
		if c == nil || c.Status != metav1.ConditionTrue {
			return "<not stalled>"
		}
		return c.Reason
	}, Equal(reason))
}

// readyMessage returns pa's Ready message.
func readyMessage(pa *billingv1alpha1.PartnerAccount) string {
	if c := meta.FindStatusCondition(pa.Status.Conditions, billingv1alpha1.ConditionReady); c != nil {
		return c.Message
	}
	return ""
}

// eventReasons returns the reasons of the events recorded about pa, oldest first.
func eventReasons(pa *billingv1alpha1.PartnerAccount) func(Gomega) []string {
	return func(g Gomega) []string {
		var list eventsv1.EventList
		g.Expect(k8sClient.List(ctx, &list, client.InNamespace(pa.Namespace))).To(Succeed())
		var reasons []string
		for _, e := range list.Items {
			if e.Regarding.Name == pa.Name && e.Regarding.Kind == "PartnerAccount" {
				reasons = append(reasons, e.Reason)
			}
		}
		return reasons
	}
}

// gone reports whether pa no longer exists.
func gone(pa *billingv1alpha1.PartnerAccount) func() bool {
	return func() bool {
		err := k8sClient.Get(ctx, client.ObjectKeyFromObject(pa), &billingv1alpha1.PartnerAccount{})
		return client.IgnoreNotFound(err) == nil && err != nil
	}
}

// Timeouts for Eventually and Consistently.
const (
	waitReady = 20 * time.Second
	poll      = 100 * time.Millisecond
)

func keyOf(namespace, name string) client.ObjectKey {
	return client.ObjectKey{Namespace: namespace, Name: name}
}

// minReadBack is the controller's MinReadBackInterval for opts.
func minReadBack(opts harnessOptions) time.Duration {
	if opts.schedule {
		return 0
	}
	return opts.resync
}
