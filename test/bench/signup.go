package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	billingv1alpha1 "github.com/partnerbilling/partner-account-operator/api/v1alpha1"
	"github.com/partnerbilling/partner-account-operator/test/localenv"
)

// SignupConfig says how to measure how soon the operator sees customers sign up
// (issue 22): it creates Accounts PartnerAccounts, and the customers of Signups of
// them, chosen at random, redeem their activation token at a random time within
// Within of their account's creation; each signup is timed from the redeem call to
// the watch event that shows the PartnerAccount's status.accountStatus
// provisioned. The operator runs with the chart's read-back settings: its
// --resync-period, no --min-read-back-interval, so the read-back schedule as
// shipped, at --partner-api-rps=RPS.
type SignupConfig struct {
	// Accounts is how many PartnerAccounts to create; Signups how many of them are
	// redeemed.
	Accounts, Signups int
	// Within is how long after its account's creation (the watch first seeing the
	// PartnerAccount Ready: the account exists in the API and its token is
	// issued) each signup comes at most, uniformly.
	Within time.Duration
	// RPS is the operator's --partner-api-rps; read-backs may use half.
	RPS float64
	// Latency is the simulator's delay on every Partnership API answer.
	Latency time.Duration
	// CreateWorkers is how many creates the benchmark sends at once.
	CreateWorkers int
	// SeenTimeout is how long, after the last signup, to wait for all to be seen.
	SeenTimeout time.Duration
	// Seed chooses the accounts redeemed and when.
	Seed uint64
	// OperatorArgs are added to the operator's command line, after the chart's.
	OperatorArgs []string
	// Helm, WorkDir, BinDir and Logf are as in Config.
	Helm, WorkDir, BinDir string
	Logf                  func(format string, args ...any)
}

// DefaultSignupConfig returns the settings of make bench: 500 accounts, 150
// signups within 5 minutes, at the operator's default rate limit.
func DefaultSignupConfig() SignupConfig {
	return SignupConfig{
		Accounts:      500,
		Signups:       150,
		Within:        5 * time.Minute,
		RPS:           10,
		Latency:       100 * time.Millisecond,
		CreateWorkers: 32,
		SeenTimeout:   10 * time.Minute,
		Seed:          1,
		Helm:          defaultHelm(),
	}
}

// Budget is the read-backs' budget: half of the rate limit, GETs a second.
func (c SignupConfig) Budget() float64 { return c.RPS / 2 }

func (c SignupConfig) validate() error {
	switch {
	case c.Accounts < 1 || c.Signups < 1 || c.Signups > c.Accounts:
		return fmt.Errorf("bench: %d signups of %d accounts: want 1 to the number of accounts", c.Signups, c.Accounts)
	case c.RPS <= 0:
		return fmt.Errorf("bench: rate %v must be positive", c.RPS)
	case c.Within <= 0 || c.SeenTimeout <= 0:
		return errors.New("bench: the signups' spread and the timeout must be positive")
	case c.CreateWorkers < 1:
		return fmt.Errorf("bench: %d create workers: want at least 1", c.CreateWorkers)
	case c.WorkDir == "":
		return errors.New("bench: SignupConfig.WorkDir is required")
	case c.Helm == "":
		return fmt.Errorf("bench: SignupConfig.Helm is required, to render %s", chart)
	}
	return nil
}

func (c SignupConfig) logf(format string, args ...any) {
	if c.Logf != nil {
		c.Logf(format, args...)
	}
}

// SignupResult holds what RunSignup measured. Times are since the first create.
type SignupResult struct {
	Config SignupConfig
	// ServerVersion is kube-apiserver's version; OperatorArgs and OperatorEnv what
	// the operator ran with, as in Result.
	ServerVersion             string
	OperatorArgs, OperatorEnv []string
	// CreateTime is how long the benchmark took to create the PartnerAccounts;
	// ReadyTime until the watch had seen all Ready.
	CreateTime, ReadyTime time.Duration
	// Lags are from each redeem call to the watch event that showed its
	// PartnerAccount provisioned, sorted; Redeemed counts the signups made.
	Lags     []time.Duration
	Redeemed int
	// FirstSignup and LastSignup are when the first and the last redeem call were
	// made; End when the last signup was seen (or the wait gave up).
	FirstSignup, LastSignup, End time.Duration
	// Unexpected names accounts shown provisioned that no signup was made for.
	Unexpected []string
	// Calls are the simulator's request counts from the first create to End.
	Calls Counts
	// Gets are the simulator's count of GETs, read every second from the first
	// create: the GET rate over time.
	Gets []GetSample
}

// GetSample is the simulator's count of GETs since the first create, At then.
type GetSample struct {
	At   time.Duration
	Gets int
}

// Seen is how many signups the watch saw.
func (r *SignupResult) Seen() int { return len(r.Lags) }

// Lag is the p-th percentile (0 to 100, nearest rank) of the detection lags.
func (r *SignupResult) Lag(p float64) time.Duration {
	if len(r.Lags) == 0 {
		return 0
	}
	i := int(math.Ceil(p/100*float64(len(r.Lags)))) - 1
	return r.Lags[min(max(i, 0), len(r.Lags)-1)]
}

// GetRate is the GETs a second from the first create to End.
func (r *SignupResult) GetRate() float64 {
	return float64(r.Calls.Op("get")) / r.End.Seconds()
}

// GetRateAfterReady is the GETs a second from all Ready to End, once no create
// competes with the read-backs.
func (r *SignupResult) GetRateAfterReady() (float64, bool) {
	first, last, ok := r.samplesBetween(r.ReadyTime, r.End)
	if !ok {
		return 0, false
	}
	return float64(last.Gets-first.Gets) / (last.At - first.At).Seconds(), true
}

// samplesBetween returns the first sample at or after from and the last at or
// before to.
func (r *SignupResult) samplesBetween(from, to time.Duration) (first, last GetSample, ok bool) {
	i := slices.IndexFunc(r.Gets, func(s GetSample) bool { return s.At >= from })
	j := len(r.Gets) - 1
	for j >= 0 && r.Gets[j].At > to {
		j--
	}
	if i < 0 || j <= i {
		return GetSample{}, GetSample{}, false
	}
	return r.Gets[i], r.Gets[j], true
}

// GetsPerMinute are the GETs in each whole minute from the first create, and
// those in the part of a minute left before End.
func (r *SignupResult) GetsPerMinute() (whole []int, rest int, restFor time.Duration) {
	at := func(t time.Duration) GetSample {
		last := GetSample{}
		for _, s := range r.Gets {
			if s.At > t {
				break
			}
			last = s
		}
		return last
	}
	prev := GetSample{}
	for m := time.Minute; m <= r.End; m += time.Minute {
		s := at(m)
		whole = append(whole, s.Gets-prev.Gets)
		prev = s
	}
	if len(r.Gets) > 0 {
		last := r.Gets[len(r.Gets)-1]
		rest, restFor = last.Gets-prev.Gets, last.At-prev.At
	}
	return whole, rest, restFor
}

// PeakWindow is the most GETs in any window of the samples about d long (the
// samples are a second apart), and when it began.
func (r *SignupResult) PeakWindow(d time.Duration) (gets int, at time.Duration) {
	j := 0
	for i := range r.Gets {
		for j < len(r.Gets) && r.Gets[j].At-r.Gets[i].At < d {
			j++
		}
		if j == len(r.Gets) {
			break
		}
		// Samples i and j are at least d apart: count over that span, scaled to d.
		n := int(math.Round(float64(r.Gets[j].Gets-r.Gets[i].Gets) * d.Seconds() /
			(r.Gets[j].At - r.Gets[i].At).Seconds()))
		if n > gets {
			gets, at = n, r.Gets[i].At
		}
	}
	return gets, at
}

// RunSignup starts a fresh environment with the operator as the chart installs it
// (followed by --partner-api-rps and cfg.OperatorArgs: no read-back settings of
// the benchmark's own), creates the accounts, redeems the chosen ones, times each
// signup until the watch sees it, and stops the environment.
func RunSignup(ctx context.Context, cfg SignupConfig) (res *SignupResult, err error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	env, err := startEnv(ctx, cfg.WorkDir, cfg.BinDir, cfg.Helm, cfg.Latency, nil, cfg.logf,
		append([]string{"--partner-api-rps=" + strconv.FormatFloat(cfg.RPS, 'f', -1, 64)}, cfg.OperatorArgs...)...)
	if err != nil {
		return nil, err
	}
	defer func() {
		if stopErr := env.Stop(); stopErr != nil {
			err = errors.Join(err, fmt.Errorf("stop the environment: %w", stopErr))
		}
	}()
	c, watchCache, err := benchClients(ctx, env)
	if err != nil {
		return nil, err
	}
	s := newSignups(ctx, cfg, env)
	if err := s.watch(ctx, watchCache); err != nil {
		return nil, err
	}
	stopCache, err := startWatch(ctx, watchCache)
	if err != nil {
		return nil, err
	}
	defer stopCache()

	name := fmt.Sprintf("Create %d PartnerAccounts; the customers of %d sign up within %s of their account's creation",
		cfg.Accounts, cfg.Signups, cfg.Within)
	cfg.logf("==> %s", name)
	if err := s.run(ctx, c); err != nil {
		return nil, &localenv.StepError{Step: name, Err: err}
	}
	s.res.ServerVersion = env.ServerVersion
	return s.res, nil
}

// signups is the signup scenario in progress.
type signups struct {
	cfg SignupConfig
	env *localenv.Env
	ctx context.Context
	// delay is when each chosen account is redeemed, after it was first seen Ready.
	delay map[string]time.Duration

	mu         sync.Mutex
	start      time.Time
	readyAt    map[string]time.Duration
	redeemedAt map[string]time.Time
	seen       map[string]time.Time
	redeemErr  error
	allReady   chan struct{}
	allSeen    chan struct{}
	timers     []*time.Timer
	res        *SignupResult
}

func newSignups(ctx context.Context, cfg SignupConfig, env *localenv.Env) *signups {
	r := rand.New(rand.NewPCG(cfg.Seed, 22))
	s := &signups{cfg: cfg, env: env, ctx: ctx, delay: map[string]time.Duration{},
		readyAt: map[string]time.Duration{}, redeemedAt: map[string]time.Time{}, seen: map[string]time.Time{},
		allReady: make(chan struct{}), allSeen: make(chan struct{}), res: &SignupResult{Config: cfg}}
	for _, i := range r.Perm(cfg.Accounts)[:cfg.Signups] {
		s.delay[accountName(i)] = time.Duration(r.Float64() * float64(cfg.Within))
	}
	return s
}

// watch registers the scenario's handlers on the cache's PartnerAccount informer.
func (s *signups) watch(ctx context.Context, c cache.Cache) error {
	inf, err := c.GetInformer(ctx, &billingv1alpha1.PartnerAccount{}, cache.BlockUntilSynced(false))
	if err != nil {
		return err
	}
	_, err = inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    s.observe,
		UpdateFunc: func(_, obj any) { s.observe(obj) },
	})
	return err
}

// observe notes, at the watch event, when a PartnerAccount is first Ready (and
// then sets the time of its signup, if it is one of those redeemed) and when it
// is first shown provisioned.
func (s *signups) observe(obj any) {
	pa, ok := obj.(*billingv1alpha1.PartnerAccount)
	if !ok {
		return
	}
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.start.IsZero() {
		return
	}
	if _, ready := s.readyAt[pa.Name]; !ready && meta.IsStatusConditionTrue(pa.Status.Conditions,
		billingv1alpha1.ConditionReady) {
		s.readyAt[pa.Name] = now.Sub(s.start)
		if d, chosen := s.delay[pa.Name]; chosen {
			name := pa.Name
			s.timers = append(s.timers, time.AfterFunc(d, func() { s.redeem(name) }))
		}
		if len(s.readyAt) == s.cfg.Accounts {
			close(s.allReady)
		}
	}
	if _, seen := s.seen[pa.Name]; !seen && pa.Status.AccountStatus == "provisioned" {
		s.seen[pa.Name] = now
		if _, redeemed := s.redeemedAt[pa.Name]; !redeemed {
			s.res.Unexpected = append(s.res.Unexpected, pa.Name)
		}
		if len(s.seen) == s.cfg.Signups {
			close(s.allSeen)
		}
	}
}

// redeem signs the customer of account name up, as its activation token's
// redemption does, and notes the time just before the call.
func (s *signups) redeem(name string) {
	at := time.Now()
	s.mu.Lock()
	s.redeemedAt[name] = at
	s.mu.Unlock()
	if err := s.env.Redeem(s.ctx, name); err != nil {
		s.mu.Lock()
		s.redeemErr = errors.Join(s.redeemErr, fmt.Errorf("redeem %s: %w", name, err))
		s.mu.Unlock()
	}
}

// run creates the accounts and waits until every signup has been seen, reading
// the simulator's GET count every second meanwhile.
func (s *signups) run(ctx context.Context, c client.Client) error {
	if err := s.env.ResetSimulatorRequests(ctx); err != nil {
		return err
	}
	start := time.Now()
	s.mu.Lock()
	s.start = start
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		for _, t := range s.timers {
			t.Stop()
		}
		s.mu.Unlock()
	}()
	sampler := s.sampleGets(ctx, start)

	if _, err := createAccounts(ctx, c, s.cfg.Accounts, s.cfg.CreateWorkers, false); err != nil {
		return err
	}
	s.res.CreateTime = time.Since(start)
	s.cfg.logf("    Created %d in %s", s.cfg.Accounts, s.res.CreateTime.Round(time.Millisecond))
	if err := s.wait(ctx, s.allReady, 3*time.Duration(float64(s.cfg.Accounts)/s.cfg.RPS*float64(time.Second))+
		2*time.Minute, "Ready"); err != nil {
		return err
	}
	s.res.ReadyTime = time.Since(start)
	s.cfg.logf("    All Ready after %s; signups until about %s after that", s.res.ReadyTime.Round(time.Millisecond),
		s.cfg.Within)
	s.res.OperatorArgs, s.res.OperatorEnv, _ = commandOf(s.env.OperatorPID(), s.cfg.WorkDir)
	if s.res.OperatorArgs == nil {
		s.res.OperatorArgs = []string{unknownArgs}
	}
	waitErr := s.wait(ctx, s.allSeen, s.cfg.Within+s.cfg.SeenTimeout, "shown provisioned")
	s.res.End = time.Since(start)
	calls, err := s.env.SimulatorRequests(ctx)
	gets := sampler()
	if err != nil {
		return errors.Join(waitErr, err)
	}
	s.res.Calls, s.res.Gets = calls, gets

	s.mu.Lock()
	defer s.mu.Unlock()
	s.res.Redeemed = len(s.redeemedAt)
	first, last := time.Duration(math.MaxInt64), time.Duration(0)
	for name, at := range s.redeemedAt {
		first, last = min(first, at.Sub(start)), max(last, at.Sub(start))
		if seen, ok := s.seen[name]; ok {
			s.res.Lags = append(s.res.Lags, seen.Sub(at))
		}
	}
	slices.Sort(s.res.Lags)
	slices.Sort(s.res.Unexpected)
	s.res.FirstSignup, s.res.LastSignup = first, last
	if s.redeemErr != nil {
		return s.redeemErr
	}
	if waitErr != nil {
		// Not a failure of the step: the figures say how many were seen.
		s.cfg.logf("    %v", waitErr)
	}
	p50, p95 := s.res.Lag(50), s.res.Lag(95)
	peak, _ := s.res.PeakWindow(10 * time.Second)
	s.cfg.logf("    %d of %d signups seen; lag p50 %s, p95 %s, max %s; %.2f GETs/s, at most %d in 10 s",
		s.res.Seen(), s.res.Redeemed, secs(p50), secs(p95), secs(s.res.Lag(100)), s.res.GetRate(), peak)
	return nil
}

// unknownArgs stands for the operator's command line when /proc could not say.
const unknownArgs = "(unknown)"

// wait waits until done is closed, for at most timeout; what names what is awaited.
func (s *signups) wait(ctx context.Context, done <-chan struct{}, timeout time.Duration, what string) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	progress := time.NewTicker(30 * time.Second)
	defer progress.Stop()
	for {
		select {
		case <-done:
			return nil
		case <-progress.C:
			s.mu.Lock()
			s.cfg.logf("    Ready: %d of %d; signups made: %d, shown provisioned: %d", len(s.readyAt),
				s.cfg.Accounts, len(s.redeemedAt), len(s.seen))
			s.mu.Unlock()
		case <-t.C:
			return fmt.Errorf("not all accounts were %s within %s", what, timeout)
		case <-s.env.OperatorExited():
			return fmt.Errorf("the operator exited; see %s", s.env.OperatorLog)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// sampleGets reads the simulator's GET count every second from start until the
// function it returns is called, which returns the samples.
func (s *signups) sampleGets(ctx context.Context, start time.Time) func() []GetSample {
	stop, done := make(chan struct{}), make(chan struct{})
	var samples []GetSample
	go func() {
		defer close(done)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			if calls, err := s.env.SimulatorRequests(ctx); err == nil {
				samples = append(samples, GetSample{At: time.Since(start), Gets: Counts(calls).Op("get")})
			}
			select {
			case <-t.C:
			case <-stop:
				return
			case <-ctx.Done():
				return
			}
		}
	}()
	return func() []GetSample {
		close(stop)
		<-done
		return samples
	}
}
