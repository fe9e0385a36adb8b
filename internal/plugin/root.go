// Package plugin is kubectl-partneraccount, the kubectl plugin for PartnerAccounts:
// import existing Partnership API accounts as PartnerAccount manifests, request a
// reconcile and wait for it, switch a resource between Observe and Manage, and print
// an account's redemption link. cmd/kubectl-partneraccount only calls Main.
package plugin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
)

// ExitError ends the plugin with Code. Err, when set, is printed as "error: ...";
// without it the command has already said why.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return e.Err.Error()
}

func (e *ExitError) Unwrap() error { return e.Err }

// Options are what every command shares: the kubectl flags, the streams, and what
// tests replace.
type Options struct {
	// ConfigFlags are kubectl's: --kubeconfig, --context, -n/--namespace, ...
	ConfigFlags *genericclioptions.ConfigFlags
	genericiooptions.IOStreams

	// NewClient returns a client of the cluster and the namespace to use (-n, or
	// the kubeconfig's). Nil means one built from ConfigFlags.
	NewClient func() (client.Client, string, error)
	// IsTerminal reports whether a stream is a terminal; nil means the real test.
	IsTerminal func(any) bool
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// PollInterval is how often reconcile reads the resource; 0 means 250 ms.
	PollInterval time.Duration
}

func (o *Options) client() (client.Client, string, error) {
	if o.NewClient != nil {
		return o.NewClient()
	}
	cfg, err := o.ConfigFlags.ToRESTConfig()
	if err != nil {
		return nil, "", err
	}
	ns, _, err := o.ConfigFlags.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return nil, "", err
	}
	c, err := client.New(cfg, client.Options{Scheme: Scheme})
	if err != nil {
		return nil, "", err
	}
	return c, ns, nil
}

func (o *Options) terminal(v any) bool {
	if o.IsTerminal != nil {
		return o.IsTerminal(v)
	}
	return isTerminal(v)
}

func (o *Options) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

// NewCommand returns the kubectl partneraccount command and its subcommands.
func NewCommand(o *Options) *cobra.Command {
	if o.ConfigFlags == nil {
		o.ConfigFlags = genericclioptions.NewConfigFlags(true)
	}
	root := &cobra.Command{
		Use:   "kubectl-partneraccount",
		Short: "Import, reconcile, observe, manage PartnerAccounts, and print their redemption links",
		Long: `kubectl partneraccount works with the PartnerAccounts of the partner-account-operator.

  import     write a PartnerAccount manifest for each account UID of a file, read
             from the Partnership API as the operator reads it
  reconcile  ask the operator to read an account again now, and wait for it
  observe    stop all writes to a resource's account (managementPolicy Observe)
  manage     let the operator manage a resource's account (managementPolicy Manage)
  link       print the link that redeems a resource's account
  adopt      take over the accounts that existed before their resources (a
             cluster rebuilt from Git)`,
		Annotations:       map[string]string{cobra.CommandDisplayNameAnnotation: "kubectl partneraccount"},
		SilenceUsage:      true,
		SilenceErrors:     true,
		CompletionOptions: cobra.CompletionOptions{DisableDefaultCmd: true},
	}
	root.SetIn(o.In)
	root.SetOut(o.Out)
	root.SetErr(o.ErrOut)
	o.ConfigFlags.AddFlags(root.PersistentFlags())
	root.AddCommand(newImportCommand(o), newReconcileCommand(o),
		newPolicyCommand(o, policyObserve), newPolicyCommand(o, policyManage), newLinkCommand(o), newAdoptCommand(o))
	return root
}

// Execute runs cmd with args and returns the exit status: 0, the status of an
// *ExitError, 130 when ctx was interrupted, 1 for any other error, which it
// prints on errOut.
func Execute(ctx context.Context, cmd *cobra.Command, args []string, errOut io.Writer) int {
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	code := 1
	if exit, ok := errors.AsType[*ExitError](err); ok {
		code = exit.Code
		err = exit.Err
	} else if errors.Is(context.Cause(ctx), ErrInterrupted) {
		code = 130
	}
	if err != nil {
		_, _ = fmt.Fprintf(errOut, "error: %v\n", err)
	}
	return code
}

// Main runs the plugin as a program: the command line, the standard streams, and
// a context that the first SIGINT or SIGTERM cancels (the second ends the program
// at once). It returns the exit status.
func Main() int {
	// controller-runtime's client logs nothing worth showing here; without a logger
	// it would complain that none was set.
	ctrllog.SetLogger(logr.Discard())
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	go func() {
		select {
		case <-signals:
			signal.Stop(signals)
			cancel(ErrInterrupted)
		case <-ctx.Done():
		}
	}()
	streams := genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}
	cmd := NewCommand(&Options{IOStreams: streams})
	return Execute(ctx, cmd, os.Args[1:], os.Stderr)
}
