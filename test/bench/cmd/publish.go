package main

import (
	_ "embed"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"text/template"
	"time"

	"github.com/partnerbilling/partner-account-operator/internal/testenv"
	"github.com/partnerbilling/partner-account-operator/test/bench"
)

//go:embed benchmarks.md.tmpl
var docTemplate string

// README.md's summary of the figures lies between these lines, which stay.
const (
	readmeStart = "<!-- make bench: start -->"
	readmeEnd   = "<!-- make bench: end -->"
)

// docRun is one run as the document shows it.
type docRun struct {
	Result                *bench.Result
	LoadBefore, LoadAfter string
	Took                  time.Duration
	PNG                   string // relative to the document; none for runs with token Secrets
}

func newDocRun(r *sizeRun, png string) docRun {
	return docRun{Result: r.result, LoadBefore: r.loadBefore, LoadAfter: r.loadAfter, Took: r.took, PNG: png}
}

// docData is what the document's template shows.
type docData struct {
	Date, Command, ServerVersion, Table string
	Machine                             machine
	Config                              bench.Config
	Runs, SecretRefRuns                 []docRun
	SecretRefsTable                     string
	// OperatorArgs and OperatorEnv are what the first run's operator ran with;
	// ChartResync is the chart's --resync-period among those arguments.
	OperatorArgs, OperatorEnv []string
	ChartResync               string
}

// newDocData gathers the document's data: runs are the sizes, withRefs the runs
// again with token Secrets of withoutRefs, some of runs. Each of runs has its PNG.
func newDocData(m machine, runs, withoutRefs, withRefs []*sizeRun) docData {
	first := runs[0].result
	data := docData{
		Date:          time.Now().UTC().Format("2006-01-02 15:04 MST"),
		Command:       command(),
		ServerVersion: first.ServerVersion,
		Table:         bench.Table(results(runs)...),
		Machine:       m,
		Config:        first.Config,
		OperatorArgs:  first.OperatorArgs,
		OperatorEnv:   first.OperatorEnv,
		ChartResync:   firstFlag(first.OperatorArgs, "--resync-period"),
	}
	for _, r := range runs {
		data.Runs = append(data.Runs, newDocRun(r, pngName(r.result)))
	}
	if len(withRefs) > 0 {
		data.SecretRefsTable = bench.SecretRefsTable(results(withoutRefs), results(withRefs))
	}
	for _, r := range withRefs {
		data.SecretRefRuns = append(data.SecretRefRuns, newDocRun(r, ""))
	}
	return data
}

// pngName is the file name of the plot of r, beside the document.
func pngName(r *bench.Result) string {
	return fmt.Sprintf("benchmarks-ready-%d.png", r.Config.Accounts)
}

// render executes the document's template.
func render(data docData) (string, error) {
	tmpl, err := template.New("doc").Option("missingkey=error").Funcs(template.FuncMap{
		"thousands": bench.Thousands,
		"secs":      func(d time.Duration) string { return d.Round(time.Second).String() },
		"join":      strings.Join,
	}).Parse(docTemplate)
	if err != nil {
		return "", err
	}
	var out strings.Builder
	err = tmpl.Execute(&out, data)
	return out.String(), err
}

// publish writes the document, the PNGs beside it and README.md's summary, as
// the flags say; see newDocData for the runs.
func publish(f *flags, m machine, runs, withoutRefs, withRefs []*sizeRun) error {
	if f.doc == "" {
		return nil
	}
	root := testenv.Root()
	doc := abs(root, f.doc)
	if err := os.MkdirAll(filepath.Dir(doc), 0o755); err != nil {
		return err
	}
	data := newDocData(m, runs, withoutRefs, withRefs)
	if f.plot {
		for _, r := range runs {
			if err := plot(root, r.result, filepath.Join(filepath.Dir(doc), pngName(r.result))); err != nil {
				return err
			}
		}
	}
	out, err := render(data)
	if err != nil {
		return err
	}
	if err := os.WriteFile(doc, []byte(out), 0o644); err != nil {
		return err
	}
	fmt.Println("Wrote", doc)
	if f.readme == "" {
		return nil
	}
	return updateReadme(abs(root, f.readme), data.Date, data.Machine, data.Table+secretRefsSummary(withoutRefs, withRefs))
}

// secretRefsSummary is a line per run with token Secrets for README.md's summary.
func secretRefsSummary(withoutRefs, withRefs []*sizeRun) string {
	var b strings.Builder
	for i, with := range withRefs {
		without := withoutRefs[i].result
		fmt.Fprintf(&b, "\nWith `spec.activationTokenSecretRef` on every account (tokens in Secrets), %s accounts: "+
			"peak RSS %.1f MiB against %.1f MiB with tokens in status, **%.2f×** (target: within 10%%).\n",
			bench.Thousands(without.Config.Accounts), float64(with.result.PeakRSS)/(1<<20),
			float64(without.PeakRSS)/(1<<20), bench.PeakRSSRatio(with.result, without))
	}
	return b.String()
}

// firstFlag is the value the first --name=value of args gives, or "unknown".
func firstFlag(args []string, name string) string {
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v
		}
	}
	return unknown
}

// plot writes the CSV of Ready over time and has hack/benchplot draw it.
func plot(root string, r *bench.Result, png string) error {
	var points strings.Builder
	points.WriteString("seconds,ready\n0,0\n")
	for i, t := range r.ReadyTimes {
		fmt.Fprintf(&points, "%.3f,%d\n", t.Seconds(), i+1)
	}
	csv, err := os.CreateTemp("", "bench-ready-*.csv")
	if err != nil {
		return err
	}
	defer func() { _ = os.Remove(csv.Name()) }()
	_, err = csv.WriteString(points.String())
	if err = errors.Join(err, csv.Close()); err != nil {
		return err
	}
	cmd := exec.Command("go", "-C", filepath.Join(root, "hack", "benchplot"), "run", ".",
		"-in", csv.Name(), "-out", png, "-accounts", fmt.Sprint(r.Config.Accounts),
		"-bound", fmt.Sprintf("%.3f", r.Bound().Seconds()),
		"-title", fmt.Sprintf("%d PartnerAccounts at --partner-api-rps=%g: Ready over time", r.Config.Accounts, r.Config.RPS))
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("hack/benchplot: %w", err)
	}
	fmt.Println("Wrote", png)
	return nil
}

// updateReadme replaces what lies between the README's markers.
func updateReadme(path, date string, m machine, table string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	text := string(data)
	start := strings.Index(text, readmeStart)
	end := strings.Index(text, readmeEnd)
	if start < 0 || end < start {
		return fmt.Errorf("%s has no lines %q and %q to write between", path, readmeStart, readmeEnd)
	}
	summary := fmt.Sprintf("%s\nMeasured by `make bench` on %s, on %d CPUs shared with whatever else ran; "+
		"how, and the environment, in [docs/benchmarks.md](docs/benchmarks.md).\n\n%s", readmeStart, date, m.CPUs, table)
	text = text[:start] + summary + text[end:]
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		return err
	}
	fmt.Println("Wrote the summary in", path)
	return nil
}

// command is how to run the benchmark again as it ran.
func command() string {
	if len(os.Args) < 2 {
		return "make bench"
	}
	return "make bench BENCH_ARGS=\"" + strings.Join(os.Args[1:], " ") + "\""
}

func abs(root, path string) string {
	if filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(root, path)
}
