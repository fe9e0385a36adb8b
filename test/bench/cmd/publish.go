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

// Each part's section of the document lies between the lines sectionStart(part)
// and sectionEnd(part); a run that leaves a part out keeps its section as it was.
func sectionStart(part string) string { return "<!-- make bench: " + part + " -->" }
func sectionEnd(part string) string   { return "<!-- make bench: " + part + " end -->" }

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

// docData is what the document's template shows: a section for each part, nil
// for a part that did not run.
type docData struct {
	Machine    machine
	Command    string
	Sizes      *sizesDoc
	Scale      *scaleDoc
	Signup     *signupDoc
	Import     *importDoc
	Simulation *simulationDoc
}

// sizesDoc is the section of the sizes.
type sizesDoc struct {
	Date, ServerVersion, Table string
	Config                     bench.Config
	Runs, SecretRefRuns        []docRun
	SecretRefsTable            string
	// OperatorArgs and OperatorEnv are what the first run's operator ran with;
	// ChartResync is the chart's --resync-period among those arguments.
	OperatorArgs, OperatorEnv []string
	ChartResync               string
}

// scaleDoc is the section of the scale part.
type scaleDoc struct {
	Date, ServerVersion, Table string
	// Config is the first run's; MemoryLimit the chart's memory limit it set.
	Config      bench.Config
	MemoryLimit string
	// OperatorArgs and OperatorEnv are what the first run's operator ran with.
	OperatorArgs, OperatorEnv []string
	Runs                      []scaleDocRun
	// Before is the Markdown of -scale-before, shown as it is; empty: none.
	Before string
}

// scaleDocRun is one run of the scale part as the document shows it.
type scaleDocRun struct {
	docRun
	// Startup says how soon the restarted operator was ready to act; Target
	// compares the peak RSS with issue 28's target, empty for a size without one.
	Startup, Target string
	// HeapTop and HeapTopIdle are the heap tops, a line each.
	HeapTop, HeapTopIdle string
}

// signupDoc is the section of the signup scenario.
type signupDoc struct {
	Date, Table           string
	Result                *bench.SignupResult
	Config                bench.SignupConfig
	ChartResync           string
	LoadBefore, LoadAfter string
	Took                  time.Duration
	// Cycle is how long reading every account once takes at the budget.
	Cycle time.Duration
}

// importDoc is the section of the plugin's import.
type importDoc struct {
	Date, Table           string
	Result                *bench.ImportResult
	LoadBefore, LoadAfter string
	Took                  time.Duration
}

// simulationDoc is the section of the simulation.
type simulationDoc struct {
	Date, Markdown string
}

// newDocData gathers the document's data from what ran.
func newDocData(o *outcome) docData {
	data := docData{Machine: o.machine, Command: command()}
	if len(o.runs) > 0 {
		data.Sizes = newSizesDoc(o.runs, o.withouts, o.withRefs)
	}
	if len(o.scale) > 0 {
		data.Scale = newScaleDoc(o.scale, o.scaleBefore)
	}
	if s := o.signup; s != nil {
		c := s.result.Config
		data.Signup = &signupDoc{Date: s.date, Table: bench.SignupTable(s.result), Result: s.result, Config: c,
			ChartResync: firstFlag(s.result.OperatorArgs, "--resync-period"), LoadBefore: s.before,
			LoadAfter: s.after, Took: s.took,
			Cycle: time.Duration(float64(c.Accounts) / c.Budget() * float64(time.Second))}
	}
	if i := o.imp; i != nil {
		data.Import = &importDoc{Date: i.date, Table: bench.ImportTable(i.result), Result: i.result,
			LoadBefore: i.before, LoadAfter: i.after, Took: i.took}
	}
	if s := o.simulation; s != nil {
		data.Simulation = &simulationDoc{Date: s.date, Markdown: s.markdown}
	}
	return data
}

// newSizesDoc gathers the sizes' section: runs are the sizes, withRefs the runs
// again with token Secrets of withoutRefs, some of runs. Each of runs has its PNG.
func newSizesDoc(runs, withoutRefs, withRefs []*sizeRun) *sizesDoc {
	first := runs[0].result
	d := &sizesDoc{
		Date:          now(),
		ServerVersion: first.ServerVersion,
		Table:         bench.Table(results(runs)...),
		Config:        first.Config,
		OperatorArgs:  first.OperatorArgs,
		OperatorEnv:   first.OperatorEnv,
		ChartResync:   firstFlag(first.OperatorArgs, "--resync-period"),
	}
	for _, r := range runs {
		d.Runs = append(d.Runs, newDocRun(r, pngName(r.result)))
	}
	if len(withRefs) > 0 {
		d.SecretRefsTable = bench.SecretRefsTable(results(withoutRefs), results(withRefs))
	}
	for _, r := range withRefs {
		d.SecretRefRuns = append(d.SecretRefRuns, newDocRun(r, ""))
	}
	return d
}

// newScaleDoc gathers the scale part's section: runs are its sizes, before the
// Markdown of -scale-before.
func newScaleDoc(runs []*sizeRun, before string) *scaleDoc {
	first := runs[0].result
	d := &scaleDoc{
		Date:          now(),
		ServerVersion: first.ServerVersion,
		Table:         bench.Table(results(runs)...),
		Config:        first.Config,
		MemoryLimit:   memoryLimit(first.Config),
		OperatorArgs:  first.OperatorArgs,
		OperatorEnv:   first.OperatorEnv,
		Before:        before,
	}
	for _, r := range runs {
		d.Runs = append(d.Runs, scaleDocRun{docRun: newDocRun(r, ""), Startup: startupSummary(r.result),
			Target: peakRSSTarget(r.result), HeapTop: strings.Join(r.result.HeapTop, "\n"),
			HeapTopIdle: strings.Join(r.result.HeapTopIdle, "\n")})
	}
	return d
}

// pngName is the file name of the plot of r, beside the document.
func pngName(r *bench.Result) string {
	return fmt.Sprintf("benchmarks-ready-%d.png", r.Config.Accounts)
}

// render executes the document's template.
func render(data docData) (string, error) {
	tmpl, err := template.New("doc").Option("missingkey=error").Funcs(template.FuncMap{
		"thousands":    bench.Thousands,
		"secs":         func(d time.Duration) string { return d.Round(time.Second).String() },
		"secs1":        func(d time.Duration) string { return fmt.Sprintf("%.1f s", d.Seconds()) },
		"mib":          func(bytes int64) string { return fmt.Sprintf("%.1f MiB", float64(bytes)/(1<<20)) },
		"join":         strings.Join,
		"sectionStart": sectionStart,
		"sectionEnd":   sectionEnd,
	}).Parse(docTemplate)
	if err != nil {
		return "", err
	}
	var out strings.Builder
	err = tmpl.Execute(&out, data)
	return out.String(), err
}

// keepSections replaces in doc the section of each part not run by that part's
// section in previous, the document as it was, when it has one.
func keepSections(doc, previous string, ran map[string]bool) (string, error) {
	for _, part := range allParts {
		if ran[part] {
			continue
		}
		old, ok := section(previous, part)
		if !ok {
			continue
		}
		start, end, ok := sectionBounds(doc, part)
		if !ok {
			return "", fmt.Errorf("the template has no section %q", part)
		}
		doc = doc[:start] + old + doc[end:]
	}
	return doc, nil
}

// section returns the section of part in doc, markers included.
func section(doc, part string) (string, bool) {
	start, end, ok := sectionBounds(doc, part)
	return doc[start:end], ok
}

// sectionBounds returns where the section of part starts and ends in doc.
func sectionBounds(doc, part string) (start, end int, ok bool) {
	start = strings.Index(doc, sectionStart(part))
	if start < 0 {
		return 0, 0, false
	}
	n := strings.Index(doc[start:], sectionEnd(part))
	if n < 0 {
		return 0, 0, false
	}
	return start, start + n + len(sectionEnd(part)), true
}

// publish writes the document, the PNGs beside it and README.md's summary, as
// the flags say: the sections of the parts that ran, and those of the others as
// the document had them.
func publish(f *flags, o *outcome) error {
	if f.doc == "" {
		return nil
	}
	root := testenv.Root()
	doc := abs(root, f.doc)
	if err := os.MkdirAll(filepath.Dir(doc), 0o755); err != nil {
		return err
	}
	data := newDocData(o)
	if f.plot {
		for _, r := range o.runs {
			if err := plot(root, r.result, filepath.Join(filepath.Dir(doc), pngName(r.result))); err != nil {
				return err
			}
		}
	}
	out, err := render(data)
	if err != nil {
		return err
	}
	previous, err := os.ReadFile(doc)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if out, err = keepSections(out, string(previous), f.parts); err != nil {
		return err
	}
	if err := os.WriteFile(doc, []byte(out), 0o644); err != nil {
		return err
	}
	fmt.Println("Wrote", doc)
	if f.readme == "" || data.Sizes == nil {
		return nil
	}
	return updateReadme(abs(root, f.readme), data.Sizes.Date, data.Machine,
		data.Sizes.Table+secretRefsSummary(o.withouts, o.withRefs))
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
