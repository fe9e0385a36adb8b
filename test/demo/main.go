// Command demo shows the operator at work on this machine, with nothing but Go: it
// starts etcd and kube-apiserver, the Partnership API simulator and the operator as
// separate processes on loopback (see test/localenv), applies config/samples, waits
// for the accounts to be Ready, and shows them with kubectl. Then it stops
// everything, or with DEMO_KEEP=1 keeps it running until Ctrl-C.
//
//	make demo
//	DEMO_KEEP=1 make demo
//
// It exits non-zero, naming the step, when a step fails.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/go-logr/logr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/partnerbilling/partner-account-operator/test/localenv"
)

// namespace is where the samples go.
const namespace = "default"

// resource is what kubectl calls PartnerAccounts.
const resource = "partneraccounts"

func main() {
	os.Exit(run())
}

func run() int {
	ctrllog.SetLogger(logr.Discard()) // envtest's own logging is not for the demo
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	keep := os.Getenv("DEMO_KEEP") != "" && os.Getenv("DEMO_KEEP") != "0"

	dir, err := os.MkdirTemp("", "partner-account-demo-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo: cannot create a work directory:", err)
		return 1
	}
	defer func() { _ = os.RemoveAll(dir) }()

	env, err := localenv.Start(ctx, localenv.Options{
		WorkDir:  dir,
		BinDir:   "bin", // where make build puts them too
		Progress: func(step string) { fmt.Printf("==> %s\n", step) },
	})
	if err != nil {
		return fail(ctx, err)
	}
	code := demo(ctx, env, keep)
	fmt.Println("==> Stop the operator, the simulator, kube-apiserver and etcd")
	if err := env.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "demo: step \"Stop\" failed:", err)
		return 1
	}
	return code
}

func demo(ctx context.Context, env *localenv.Env, keep bool) int {
	fmt.Printf("    kube-apiserver %s, simulator %s, operator as %s/%s\n",
		env.ServerVersion, env.SimulatorURL, localenv.Namespace, localenv.ServiceAccount)
	fmt.Printf("\nexport KUBECONFIG=%s\n", env.Kubeconfig)
	fmt.Printf("(use %s: it matches the server's version)\n\n", env.KubectlPath)

	samples := filepath.Join(env.Root, "config", "samples")
	steps := []struct {
		name string
		args []string
	}{
		{"Apply config/samples", []string{"apply", "-n", namespace, "-k", samples}},
		{"Wait for the accounts to be Ready", []string{"wait", "-n", namespace, "--for=condition=Ready",
			"--timeout=60s", resource, "--all"}},
		{"kubectl get partneraccounts -A -o wide", []string{"get", resource, "-A", "-o", "wide"}},
		{"Redemption links to send the customers", []string{"get", resource, "-A", "-o",
			`jsonpath={range .items[*]}{.metadata.namespace}/{.metadata.name}{"\t"}{.status.redemptionURL}{"\n"}{end}`}},
	}
	for _, s := range steps {
		fmt.Printf("==> %s\n", s.name)
		out, _, err := env.Kubectl(ctx, "", s.args...)
		if err != nil {
			// Show where the accounts are, with the Ready reason and message.
			if table, _, getErr := env.Kubectl(ctx, "", "get", resource, "-A", "-o", "wide"); getErr == nil {
				fmt.Print(indent(table))
			}
			return fail(ctx, &localenv.StepError{Step: s.name, Err: operatorDied(env, err)})
		}
		fmt.Print(indent(out))
	}
	if !keep {
		fmt.Println("\nDEMO_KEEP=1 make demo keeps all this running until Ctrl-C.")
		return 0
	}

	fmt.Printf(`
Everything keeps running until Ctrl-C. In another terminal:

  export KUBECONFIG=%s
  alias kubectl=%s
  kubectl get partneraccounts -o wide
  kubectl patch partneraccount customer-0002 --type merge -p '{"spec":{"endsAt":"2032-06-30T00:00:00Z"}}'
  kubectl delete partneraccount customer-0001
  curl -s %s/sim/accounts     # the simulator's view of the remote accounts

Logs: %s
      %s
`, env.Kubeconfig, env.KubectlPath, env.SimulatorURL, env.OperatorLog, env.SimulatorLog)
	select {
	case <-ctx.Done():
		fmt.Println("\nInterrupted")
		return 0
	case <-env.OperatorExited():
		fmt.Fprintln(os.Stderr, "demo: the operator exited; see", env.OperatorLog)
	case <-env.SimulatorExited():
		fmt.Fprintln(os.Stderr, "demo: the simulator exited; see", env.SimulatorLog)
	}
	return 1
}

// operatorDied adds to err that the operator is not running, when that is so.
func operatorDied(env *localenv.Env, err error) error {
	select {
	case <-env.OperatorExited():
		return fmt.Errorf("%w (the operator exited; see %s)", err, env.OperatorLog)
	default:
		return err
	}
}

// fail reports a failed step and returns the exit code.
func fail(ctx context.Context, err error) int {
	step := "start"
	if se, ok := errors.AsType[*localenv.StepError](err); ok {
		step, err = se.Step, se.Err
	}
	if ctx.Err() != nil {
		fmt.Fprintf(os.Stderr, "demo: interrupted during step %q\n", step)
		return 130
	}
	fmt.Fprintf(os.Stderr, "demo: step %q failed: %v\n", step, err)
	return 1
}

func indent(s string) string {
	if s == "" {
		return ""
	}
	return "    " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n    ") + "\n"
}
