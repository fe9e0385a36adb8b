package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/partnerbilling/partner-account-operator/test/childproc"
)

// startupMetric is the operator's gauge of the seconds from its controller's start
// until it has indexed every PartnerAccount its cache listed: ready to act.
const startupMetric = "partneraccount_startup_seconds"

// heapTopNodes is how many functions a heap top shows.
const heapTopNodes = 15

// profiler reads the operator's pprof endpoints and its metrics, which
// Config.Profile has every operator process of a run serve in plain HTTP on
// loopback, at the same addresses across restarts.
type profiler struct {
	pprofAddr, metricsAddr string
}

// newProfiler chooses the addresses on free ports.
func newProfiler() (*profiler, error) {
	p := &profiler{}
	for _, addr := range []*string{&p.pprofAddr, &p.metricsAddr} {
		port, err := childproc.FreePort()
		if err != nil {
			return nil, err
		}
		*addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	}
	return p, nil
}

// args are the operator's flags that serve the endpoints; given after the chart's,
// they override its metrics address and its HTTPS.
func (p *profiler) args() []string {
	return []string{"--pprof-bind-address=" + p.pprofAddr, "--metrics-bind-address=" + p.metricsAddr,
		"--metrics-secure=false"}
}

// heap fetches the operator's heap profile into workDir as heap-<name>.pb.gz and
// returns the bytes in use it accounts for and its top functions by in-use space,
// as go tool pprof -top shows them.
func (p *profiler) heap(ctx context.Context, workDir, name string) (inUse int64, top []string, err error) {
	profileURL := "http://" + p.pprofAddr + "/debug/pprof/heap"
	body, err := get(ctx, profileURL)
	if err != nil {
		return 0, nil, err
	}
	file := filepath.Join(workDir, "heap-"+name+".pb.gz")
	if err := os.WriteFile(file, body, 0o644); err != nil {
		return 0, nil, err
	}
	cmd := exec.CommandContext(ctx, "go", "tool", "pprof", "-top", "-sample_index=inuse_space",
		"-nodecount="+strconv.Itoa(heapTopNodes), file)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return 0, nil, fmt.Errorf("go tool pprof -top %s: %w: %s", file, err, strings.TrimSpace(stderr.String()))
	}
	inUse, top, err = parseTop(string(out))
	if err != nil {
		return 0, nil, fmt.Errorf("go tool pprof -top %s: %w", file, err)
	}
	return inUse, top, nil
}

// startupSeconds reads the operator's partneraccount_startup_seconds.
func (p *profiler) startupSeconds(ctx context.Context) (float64, error) {
	metricsURL := "http://" + p.metricsAddr + "/metrics"
	body, err := get(ctx, metricsURL)
	if err != nil {
		return 0, err
	}
	seconds, err := startupSeconds(bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("operator %s: %w", metricsURL, err)
	}
	return seconds, nil
}

// startupSeconds is the value of the gauge partneraccount_startup_seconds, without
// labels, in metrics in Prometheus's text format. The operator sets it once its
// controller has indexed every PartnerAccount; a value of 0 is not set yet.
func startupSeconds(metrics io.Reader) (float64, error) {
	families, err := parseMetrics(metrics)
	if err != nil {
		return 0, err
	}
	for _, m := range families[startupMetric].GetMetric() {
		if len(m.GetLabel()) > 0 || m.GetGauge() == nil {
			continue
		}
		if v := m.GetGauge().GetValue(); v > 0 {
			return v, nil
		}
		return 0, fmt.Errorf("%s is 0: the controller has not indexed every PartnerAccount yet", startupMetric)
	}
	return 0, fmt.Errorf("no gauge %s: the operator does not report when it is ready to act after its start",
		startupMetric)
}

// parseTop reads the output of go tool pprof -top: the total of the profile, from
// its line "Showing nodes accounting for X, Y% of Z total", and the lines from
// that one on (the table and its header), without trailing spaces.
func parseTop(out string) (total int64, top []string, err error) {
	const showing = "Showing nodes accounting for "
	for line := range strings.Lines(out) {
		line = strings.TrimRight(line, " \t\r\n")
		if len(top) == 0 {
			_, rest, ok := strings.Cut(line, showing)
			if !ok {
				continue
			}
			_, z, ok := strings.Cut(rest, " of ")
			z, ok2 := strings.CutSuffix(z, " total")
			if !ok || !ok2 {
				return 0, nil, fmt.Errorf("unexpected line %q", line)
			}
			if total, err = parseBytes(z); err != nil {
				return 0, nil, fmt.Errorf("line %q: %w", line, err)
			}
		}
		if line != "" {
			top = append(top, line)
		}
	}
	if len(top) == 0 {
		return 0, nil, fmt.Errorf("no line %q…", showing)
	}
	return total, top, nil
}

// pprofUnits are the units pprof shows an amount of memory in, each 1024 of the
// one before.
var pprofUnits = []string{"B", "kB", "MB", "GB", "TB", "PB"}

// parseBytes parses an amount of memory as pprof shows it, e.g. 16852.23kB or 0.
func parseBytes(s string) (int64, error) {
	number, factor := s, 1.0
	for i, unit := range slices.Backward(pprofUnits) { // B last: every unit ends with it
		if n, ok := strings.CutSuffix(s, unit); ok {
			number, factor = n, float64(int64(1)<<(10*i))
			break
		}
	}
	v, err := strconv.ParseFloat(number, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("%q is not an amount of memory", s)
	}
	return int64(v * factor), nil
}

// get returns the body of a 200 answer to a GET of url.
func get(ctx context.Context, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("operator %s: %s", url, resp.Status)
	}
	return io.ReadAll(resp.Body)
}
