// Command partnerapi-sim runs the simulated 1Password Partnership API (package
// internal/partnerapi/simulator) as its own process, for the demo and end-to-end
// tests. The API is under /api/v1/partners/accounts and needs a bearer token;
// the controls (redeem, suspend, out-of-band delete, request counts, faults) are
// under /sim.
//
//	partnerapi-sim --token-file=/run/secrets/token --dialect=published --error-rate=0.05
//
// With --tls-cert and --tls-key it serves HTTPS instead of HTTP.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/partnerbilling/partner-account-operator/internal/partnerapi/simulator"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
	case err != nil:
		fmt.Fprintln(os.Stderr, "partnerapi-sim:", err)
		os.Exit(2)
	}
}

// listFlag collects a flag that may be repeated and may hold comma-separated values.
type listFlag []string

func (l *listFlag) String() string { return fmt.Sprint(len(*l)) }

func (l *listFlag) Set(v string) error {
	for part := range strings.SplitSeq(v, ",") {
		if part = strings.TrimSpace(part); part != "" {
			*l = append(*l, part)
		}
	}
	return nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("partnerapi-sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		tokens  listFlag
		addr    = fs.String("addr", "127.0.0.1:8089", "address to listen on")
		dialect = fs.String("dialect", string(simulator.DialectContract),
			"API description to follow: contract (partnership-openapi.yml) or published (1Password's)")
		tokenFile = fs.String("token-file", "", "file of accepted bearer tokens, one a line")
		domains   = fs.String("domains", strings.Join(simulator.DefaultDomains(), ","),
			"comma-separated domains in which the partner has a promotion")
		stateFile  = fs.String("state-file", "", "JSON file that keeps the accounts across restarts")
		latency    = fs.Duration("latency", 0, "delay added to every API answer")
		jitter     = fs.Duration("latency-jitter", 0, "random extra delay, uniform in [0, jitter)")
		errorRate  = fs.Float64("error-rate", 0, "share of API requests answered 500 (0..1)")
		limitRate  = fs.Float64("rate-limit-rate", 0, "share of API requests answered 429 (0..1)")
		retryAfter = fs.Int("retry-after", 1, "Retry-After seconds sent with injected 429s")
		dropRate   = fs.Float64("drop-rate", 0, "share of API requests processed whose response is dropped (0..1)")
		tlsCert    = fs.String("tls-cert", "", "PEM certificate (chain) to serve HTTPS with; needs --tls-key")
		tlsKey     = fs.String("tls-key", "", "PEM private key of --tls-cert")
	)
	fs.Var(&tokens, "token", "accepted bearer token; repeat the flag or separate with commas (prefer --token-file: flags show in ps)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if len(tokens) == 0 && *tokenFile == "" {
		return errors.New("no bearer token: give --token or --token-file")
	}
	if (*tlsCert == "") != (*tlsKey == "") {
		return errors.New("--tls-cert and --tls-key go together")
	}
	var certs []tls.Certificate
	if *tlsCert != "" {
		cert, err := tls.LoadX509KeyPair(*tlsCert, *tlsKey)
		if err != nil {
			return fmt.Errorf("--tls-cert, --tls-key: %w", err)
		}
		certs = []tls.Certificate{cert}
	}
	d, err := simulator.ParseDialect(*dialect)
	if err != nil {
		return fmt.Errorf("--dialect: %w", err)
	}
	var domainList listFlag
	_ = domainList.Set(*domains)
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	sim, err := simulator.New(simulator.Options{
		Dialect:    d,
		Tokens:     tokens,
		TokenFile:  *tokenFile,
		Domains:    domainList,
		StateFile:  *stateFile,
		RetryAfter: *retryAfter,
		Logger:     logger,
		Faults: simulator.Faults{
			Latency:       *latency,
			LatencyJitter: *jitter,
			ErrorRate:     *errorRate,
			RateLimitRate: *limitRate,
			DropRate:      *dropRate,
		},
	})
	if errors.Is(err, simulator.ErrNoToken) {
		return fmt.Errorf("no bearer token: --token-file %s holds none", *tokenFile)
	}
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	scheme := "http"
	if certs != nil {
		scheme = "https"
		ln = tls.NewListener(ln, &tls.Config{Certificates: certs, MinVersion: tls.VersionTLS12})
	}
	srv := &http.Server{
		Handler:           sim,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	_, _ = fmt.Fprintf(stdout, "partnerapi-sim listening on %s://%s (dialect %s)\n", scheme, ln.Addr(), d)

	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}
