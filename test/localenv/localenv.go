// Package localenv runs the whole system on this machine, each part a separate
// process on loopback, for the demo (test/demo) and the end-to-end suite (test/e2e):
// etcd and kube-apiserver (started through envtest from the control plane that
// make control-plane builds into bin/k8s), the Partnership API simulator
// (cmd/partnerapi-sim) and the operator (cmd).
//
// It installs what a real install would, from config/default or from the Helm
// chart (Options.Chart), but for the pod the Deployment would run: the operator
// runs here as a process, with a kubeconfig for the ServiceAccount that install
// creates, so it has exactly the RBAC of the install; from the chart, with the
// rendered Deployment's arguments and environment too. More than one operator
// process can run, as replicas do. The partner token is
// a random one, in a file both the simulator and the operator read; it is never
// printed.
package localenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/partnerbilling/partner-account-operator/internal/testenv"
	"github.com/partnerbilling/partner-account-operator/test/childproc"
)

// Where config/default installs the operator, and as whom it runs.
const (
	// Namespace is the operator's namespace.
	Namespace = "partner-account-operator-system"
	// ServiceAccount is the operator's ServiceAccount, in Namespace.
	ServiceAccount = "partner-account-operator-controller-manager"
	// CRDName is the PartnerAccount CustomResourceDefinition.
	CRDName = "partneraccounts.billing.partnerbilling.io"
)

// Options configure Start.
type Options struct {
	// WorkDir receives the kubeconfigs, the partner token file and the logs. It must
	// exist; the caller removes it.
	WorkDir string
	// BinDir is where the operator (manager) and the simulator (partnerapi-sim) are
	// built, relative to the repository's root unless absolute; empty means WorkDir.
	BinDir string
	// Progress, when set, is called with the name of each step as it starts.
	Progress func(step string)
	// OperatorArgs are added to the operator's command line.
	OperatorArgs []string
	// Chart, when set, is the Helm chart (dist/chart) to install from: rendered by
	// the helm at Helm with the simulator as its Partnership API and applied
	// server-side, and the operator then runs with exactly the arguments and
	// environment of the rendered Deployment, but for what only a pod has (see
	// hostCommand), followed by OperatorArgs. Empty: config/default, and the
	// operator's own defaults.
	Chart, Helm string
	// ChartValues are given to helm template as --set values after its own, e.g.
	// manager.resources.limits.memory=256Mi; only with Chart.
	ChartValues []string
	// SimulatorArgs are added to the simulator's command line.
	SimulatorArgs []string
}

// StepError is the error of a step that failed.
type StepError struct {
	Step string
	Err  error
}

// Error names the step, then the cause.
func (e *StepError) Error() string { return e.Step + ": " + e.Err.Error() }

// Unwrap returns the cause.
func (e *StepError) Unwrap() error { return e.Err }

// Env is a running environment. Stop it.
type Env struct {
	// Root is the repository's top directory.
	Root string
	// Dir is Options.WorkDir.
	Dir string
	// KubectlPath is the kubectl that matches the server, from the control plane's directory.
	KubectlPath string
	// Kubeconfig is a cluster-admin kubeconfig, for people and tests.
	Kubeconfig string
	// AdminConfig is Kubeconfig's, for Go clients and for kube-apiserver's /metrics.
	AdminConfig *rest.Config
	// OperatorKubeconfig is the operator's: a token of its ServiceAccount.
	OperatorKubeconfig string
	// ServerVersion is kube-apiserver's version, e.g. v1.37.2.
	ServerVersion string
	// SimulatorAdmin calls the simulator's controls, at SimulatorURL.
	SimulatorAdmin
	// PartnerAPIURL is the simulator's Partnership API, as given to the operator.
	PartnerAPIURL string
	// TokenFile holds the partner token.
	TokenFile string
	// OperatorLog and SimulatorLog are the processes' output.
	OperatorLog, SimulatorLog string
	// ManagerBinary and SimulatorBinary are the binaries that run.
	ManagerBinary, SimulatorBinary string

	token        string
	assets       string
	operatorArgs []string
	// manager is the rendered Deployment's manager container, in chart mode.
	manager *corev1.Container
	cp      *envtest.Environment
	sim     *childproc.Process
	// simulators are those StartSimulator started.
	simulators []*Simulator
	operator   *Operator
	others     []*Operator
	stopped    bool
}

// mainOperator names the operator process Start starts, and its log (operator.log).
const mainOperator = "operator"

// Operator is one running operator process.
type Operator struct {
	proc *childproc.Process
	// Log is the process's output.
	Log string
	// MetricsURL is its /metrics endpoint (HTTPS, with authentication and
	// authorization) when it serves one, as the chart makes it do.
	MetricsURL string
}

// PID is the process's id, for reading its /proc entries.
func (o *Operator) PID() int { return o.proc.PID() }

// Exited is closed when the process ends.
func (o *Operator) Exited() <-chan struct{} { return o.proc.Exited() }

// Kill ends the process at once with SIGKILL, as a node failure would: it does not
// release its leader lease.
func (o *Operator) Kill() error { return o.proc.Kill() }

// Stop ends the process with SIGTERM, which releases its leader lease.
func (o *Operator) Stop() error { return o.proc.Stop(15 * time.Second) }

// Start builds the operator and the simulator, starts etcd and kube-apiserver,
// installs the CRD and the operator's RBAC, and starts the simulator and the
// operator. On failure it stops whatever it started and returns a *StepError.
func Start(ctx context.Context, opts Options) (*Env, error) {
	if opts.WorkDir == "" {
		return nil, errors.New("localenv: Options.WorkDir is required")
	}
	dir, err := filepath.Abs(opts.WorkDir)
	if err != nil {
		return nil, err
	}
	e := &Env{Dir: dir, operatorArgs: opts.OperatorArgs}
	binDir := opts.BinDir
	if binDir == "" {
		binDir = dir
	}
	steps := []struct {
		name string
		fn   func() error
	}{
		{"Find the repository and the control plane", e.locate},
		{"Build the operator and the simulator", func() error { return e.build(ctx, binDir) }},
		{"Start etcd and kube-apiserver", e.startControlPlane},
		{"Start the Partnership API simulator", func() error { return e.startSimulator(ctx, opts.SimulatorArgs) }},
		{installStep(opts.Chart), func() error { return e.install(ctx, opts.Helm, opts.Chart, opts.ChartValues) }},
		{"Create a token for the operator's ServiceAccount", func() error { return e.operatorKubeconfig(ctx) }},
		{"Start the operator", func() error {
			op, err := e.startOperator(ctx, mainOperator, e.operatorArgs)
			e.operator = op
			return err
		}},
	}
	for _, s := range steps {
		if opts.Progress != nil {
			opts.Progress(s.name)
		}
		err := ctx.Err()
		if err == nil {
			err = s.fn()
		}
		if err == nil {
			err = ctx.Err() // interrupted while the step ran
		}
		if err != nil {
			if stopErr := e.Stop(); stopErr != nil {
				err = errors.Join(err, fmt.Errorf("while stopping: %w", stopErr))
			}
			return nil, &StepError{Step: s.name, Err: err}
		}
	}
	return e, nil
}

// Stop stops the operator, the simulators, kube-apiserver and etcd, in that order.
// It may be called more than once.
func (e *Env) Stop() error {
	if e.stopped {
		return nil
	}
	e.stopped = true
	var errs []error
	for _, op := range append([]*Operator{e.operator}, e.others...) {
		if op != nil {
			errs = append(errs, op.Stop())
		}
	}
	if e.sim != nil {
		errs = append(errs, e.sim.Stop(5*time.Second))
	}
	for _, sim := range e.simulators {
		errs = append(errs, sim.Stop())
	}
	if e.cp != nil {
		errs = append(errs, e.cp.Stop())
	}
	return errors.Join(errs...)
}

// PartnerToken is the partner token the simulator accepts, for tests that check
// it never shows; never print it.
func (e *Env) PartnerToken() string { return e.token }

// OperatorExited is closed if the operator process ends.
func (e *Env) OperatorExited() <-chan struct{} { return e.operator.Exited() }

// OperatorPID is the operator process's id, for reading its /proc entries.
func (e *Env) OperatorPID() int { return e.operator.PID() }

// Operator is the operator process that Start started (or RestartOperator).
func (e *Env) Operator() *Operator { return e.operator }

// RestartOperator stops the operator as Stop does (SIGTERM, which also releases its
// leader lease) and starts it again with Options.OperatorArgs followed by extra, so
// a flag in extra overrides the same flag there. It returns once the new process
// answers /readyz.
func (e *Env) RestartOperator(ctx context.Context, extra ...string) error {
	if err := e.StopOperator(); err != nil {
		return err
	}
	op, err := e.startOperator(ctx, mainOperator, append(slices.Clone(e.operatorArgs), extra...))
	if op != nil {
		e.operator = op
	}
	return err
}

// StopOperator stops the operator alone; RestartOperator starts it again.
func (e *Env) StopOperator() error { return e.operator.Stop() }

// StartOperator starts one more operator process, named name (its log is
// name.log), as a second replica of the Deployment would run; Stop stops it too.
func (e *Env) StartOperator(ctx context.Context, name string) (*Operator, error) {
	op, err := e.startOperator(ctx, name, e.operatorArgs)
	if op != nil {
		e.others = append(e.others, op)
	}
	return op, err
}

// SimulatorExited is closed if the simulator process ends.
func (e *Env) SimulatorExited() <-chan struct{} { return e.sim.Exited() }

// Kubectl runs the kubectl of the control plane as cluster admin, with stdin when
// it is not empty, and returns its stdout and stderr. A non-zero exit is an error
// that carries stderr.
func (e *Env) Kubectl(ctx context.Context, stdin string, args ...string) (stdout, stderr string, err error) {
	return e.KubectlWith(ctx, e.Kubeconfig, stdin, args...)
}

// KubectlWith is Kubectl with another kubeconfig.
func (e *Env) KubectlWith(ctx context.Context, kubeconfig, stdin string, args ...string) (string, string, error) {
	return run(ctx, e.Root, []string{"KUBECACHEDIR=" + filepath.Join(e.Dir, "kube-cache")}, stdin,
		e.KubectlPath, append([]string{"--kubeconfig", kubeconfig}, args...)...)
}

func (e *Env) locate() error {
	e.Root = testenv.Root()
	assets, err := testenv.Assets()
	if err != nil {
		return err
	}
	e.assets = assets
	e.KubectlPath = filepath.Join(e.assets, "kubectl")
	return nil
}

func (e *Env) build(ctx context.Context, binDir string) error {
	if !filepath.IsAbs(binDir) {
		binDir = filepath.Join(e.Root, binDir)
	}
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return err
	}
	e.ManagerBinary = filepath.Join(binDir, "manager")
	e.SimulatorBinary = filepath.Join(binDir, "partnerapi-sim")
	// The manager as the image has it (see the Dockerfile): static, without symbol
	// tables, which would otherwise add to its resident memory.
	if _, _, err := run(ctx, e.Root, []string{"CGO_ENABLED=0"}, "", "go", "build", "-trimpath", "-ldflags=-s -w",
		"-o", e.ManagerBinary, "./cmd"); err != nil {
		return err
	}
	if _, _, err := run(ctx, e.Root, nil, "", "go", "build", "-o", e.SimulatorBinary, "./cmd/partnerapi-sim"); err != nil {
		return err
	}
	return nil
}

func (e *Env) startControlPlane() error {
	etcd, apiServer, err := controlPlaneShims(filepath.Join(e.Dir, "shims"), e.assets)
	if err != nil {
		return fmt.Errorf("control plane shims: %w", err)
	}
	e.cp = &envtest.Environment{
		BinaryAssetsDirectory: e.assets,
		ControlPlane: envtest.ControlPlane{
			Etcd:        &envtest.Etcd{Path: etcd},
			APIServer:   &envtest.APIServer{Path: apiServer},
			KubectlPath: e.KubectlPath,
		},
	}
	cfg, err := e.cp.Start()
	if err != nil {
		return err
	}
	e.AdminConfig = cfg
	e.Kubeconfig = filepath.Join(e.Dir, "kubeconfig")
	if err := os.WriteFile(e.Kubeconfig, e.cp.KubeConfig, 0o600); err != nil {
		return err
	}
	e.ServerVersion, err = testenv.ServerVersion(cfg)
	return err
}

// installStep names the install step.
func installStep(chart string) string {
	if chart != "" {
		return "Install the operator from the Helm chart " + chart + " (server-side apply), but for its Deployment's pod"
	}
	return "Install the CRD and the operator's RBAC from config/default"
}

// install installs what a real install would, but for the pod the Deployment would
// run, and waits for the CRD to be established: from the Helm chart when one is
// given, rendered with values (the whole render, applied server-side; a
// Deployment makes no pod here, with no kube-controller-manager), or else from
// config/default without the Deployment and the Service.
func (e *Env) install(ctx context.Context, helm, chart string, values []string) error {
	var manifests string
	var err error
	if chart != "" {
		if manifests, err = e.renderChart(ctx, helm, chart, values); err != nil {
			return err
		}
		if e.manager, err = managerContainer(manifests); err != nil {
			return err
		}
		if _, _, err := e.Kubectl(ctx, namespaceManifest(), "apply", "--server-side", "-f", "-"); err != nil {
			return err
		}
		if _, _, err := e.Kubectl(ctx, manifests, "apply", "--server-side", "-f", "-"); err != nil {
			return err
		}
	} else {
		if manifests, _, err = e.Kubectl(ctx, "", "kustomize", filepath.Join(e.Root, "config", "default")); err != nil {
			return err
		}
		var keep []string
		for doc := range strings.SplitSeq(manifests, "\n---\n") {
			if !hasKind(doc, "Deployment") && !hasKind(doc, "Service") {
				keep = append(keep, doc)
			}
		}
		if _, _, err := e.Kubectl(ctx, strings.Join(keep, "\n---\n"), "apply", "-f", "-"); err != nil {
			return err
		}
	}
	_, _, err = e.Kubectl(ctx, "", "wait", "--for=condition=Established", "--timeout=30s", "crd/"+CRDName)
	return err
}

// hasKind reports whether a YAML document from kustomize is of kind.
func hasKind(doc, kind string) bool {
	for line := range strings.SplitSeq(doc, "\n") {
		if line == "kind: "+kind {
			return true
		}
	}
	return false
}

// operatorKubeconfig writes a kubeconfig with a token of the operator's ServiceAccount.
func (e *Env) operatorKubeconfig(ctx context.Context) error {
	token, _, err := e.Kubectl(ctx, "", "create", "token", ServiceAccount, "-n", Namespace, "--duration=48h")
	if err != nil {
		return err
	}
	cfg := e.cp.Config
	kc := clientcmdapi.NewConfig()
	kc.Clusters["local"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	const user = mainOperator
	kc.AuthInfos[user] = &clientcmdapi.AuthInfo{Token: strings.TrimSpace(token)}
	kc.Contexts[user] = &clientcmdapi.Context{Cluster: "local", AuthInfo: user, Namespace: Namespace}
	kc.CurrentContext = user
	e.OperatorKubeconfig = filepath.Join(e.Dir, "operator.kubeconfig")
	return clientcmd.WriteToFile(*kc, e.OperatorKubeconfig)
}

func (e *Env) startSimulator(ctx context.Context, extra []string) error {
	sim, err := e.startSimulatorProcess(ctx, "partnerapi-sim", extra)
	if err != nil {
		return err
	}
	e.sim, e.token, e.TokenFile, e.SimulatorLog = sim.proc, sim.Token, sim.TokenFile, sim.Log
	e.SimulatorURL, e.PartnerAPIURL = sim.SimulatorURL, sim.PartnerAPIURL
	return nil
}

// Simulator is a Partnership API simulator process with a partner token of its own.
type Simulator struct {
	// SimulatorAdmin calls its controls.
	SimulatorAdmin
	// PartnerAPIURL is its Partnership API's base URL.
	PartnerAPIURL string
	// Token is the partner token it accepts, held in TokenFile.
	Token, TokenFile string
	// Log is its output.
	Log  string
	proc *childproc.Process
}

// Stop ends the simulator.
func (s *Simulator) Stop() error { return s.proc.Stop(5 * time.Second) }

// StartSimulator starts another simulator, named name, with a partner token of its
// own, for a PartnerConnection: a second server or partner contract. Env.Stop stops
// it too.
func (e *Env) StartSimulator(ctx context.Context, name string, extra ...string) (*Simulator, error) {
	sim, err := e.startSimulatorProcess(ctx, name, extra)
	if err == nil {
		e.simulators = append(e.simulators, sim)
	}
	return sim, err
}

// startSimulatorProcess starts the simulator binary as name, accepting a new random
// token, and waits until it answers.
func (e *Env) startSimulatorProcess(ctx context.Context, name string, extra []string) (*Simulator, error) {
	raw := make([]byte, 24)
	_, _ = rand.Read(raw)
	sim := &Simulator{Token: "pat-" + hex.EncodeToString(raw), TokenFile: filepath.Join(e.Dir, name+"-token"),
		Log: filepath.Join(e.Dir, name+".log")}
	if err := os.WriteFile(sim.TokenFile, []byte(sim.Token+"\n"), 0o600); err != nil {
		return nil, err
	}
	args := append([]string{"--addr", "127.0.0.1:0", "--token-file", sim.TokenFile}, extra...)
	p, line, err := childproc.Start(name, e.SimulatorBinary, args, nil, sim.Log, true)
	if err != nil {
		return nil, err
	}
	sim.proc = p
	// partnerapi-sim listening on http://127.0.0.1:PORT (dialect contract)
	_, after, ok := strings.Cut(line, " listening on ")
	url, _, _ := strings.Cut(after, " ")
	if !ok || !strings.HasPrefix(url, "http://") {
		return nil, fmt.Errorf("unexpected first line from %s: %q", name, line)
	}
	sim.SimulatorURL = url
	sim.PartnerAPIURL = url + "/api/v1"
	return sim, waitHTTP(ctx, p, url+"/sim/health")
}

// startOperator starts an operator process named name with the chart's command
// (in chart mode) or the operator's defaults, followed by extra, and waits until it
// answers /readyz.
func (e *Env) startOperator(ctx context.Context, name string, extra []string) (*Operator, error) {
	healthPort, err := childproc.FreePort()
	if err != nil {
		return nil, err
	}
	op := &Operator{Log: filepath.Join(e.Dir, name+".log")}
	if name == mainOperator {
		e.OperatorLog = op.Log
	}
	health := fmt.Sprintf("127.0.0.1:%d", healthPort)
	var args, env []string
	if e.manager != nil {
		metricsPort, err := childproc.FreePort()
		if err != nil {
			return nil, err
		}
		metrics := fmt.Sprintf("127.0.0.1:%d", metricsPort)
		op.MetricsURL = "https://" + metrics + "/metrics"
		if args, env, err = hostCommand(e.manager, e.TokenFile, metrics, health, e.OperatorKubeconfig); err != nil {
			return nil, err
		}
	} else {
		args = []string{
			"--kubeconfig", e.OperatorKubeconfig,
			"--partner-api-url", e.PartnerAPIURL,
			"--partner-api-token-file", e.TokenFile,
			"--metrics-bind-address", "0",
			"--health-probe-bind-address", health,
			// As in config/manager, so that the lease permissions are exercised too.
			"--leader-elect", "--leader-election-namespace", Namespace,
		}
	}
	// In a pod, the operator reads its namespace from its ServiceAccount's files;
	// here it is told.
	own := []string{"--connection-secret-namespace", Namespace}
	p, _, err := childproc.Start(name, e.ManagerBinary, slices.Concat(args, own, extra), env, op.Log, false)
	if err != nil {
		return nil, err
	}
	op.proc = p
	return op, waitHTTP(ctx, p, "http://"+health+"/readyz")
}

// waitHTTP waits until url answers 200, p exits, or 30 seconds pass.
func waitHTTP(ctx context.Context, p *childproc.Process, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if resp, err := client.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.Exited():
			return fmt.Errorf("%w%s", p.ExitErr(), childproc.LogTail(p.LogPath(), 15))
		case <-ctx.Done():
			return fmt.Errorf("%s did not answer 200 at %s: %w%s", p.Name(), url, ctx.Err(), childproc.LogTail(p.LogPath(), 15))
		case <-time.After(100 * time.Millisecond):
		}
	}
}
