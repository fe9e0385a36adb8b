package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"

	"github.com/partnerbilling/partner-account-operator/internal/testenv"
)

// unknown stands for what could not be found out.
const unknown = "unknown"

// machine describes where the benchmark ran, for the report.
type machine struct {
	CPUs      int
	CPUModel  string
	Memory    string
	GoVersion string
	Commit    string
}

func (m machine) String() string {
	return fmt.Sprintf("%d CPUs (%s), %s memory, %s, operator at %s", m.CPUs, m.CPUModel, m.Memory, m.GoVersion, m.Commit)
}

func describeMachine() machine {
	return machine{
		CPUs:      runtime.NumCPU(),
		CPUModel:  procField("/proc/cpuinfo", "model name"),
		Memory:    memory(procField("/proc/meminfo", "MemTotal")),
		GoVersion: runtime.Version(),
		Commit:    commit(),
	}
}

// procField returns the value of the first "key: value" line with key in a /proc
// file, or "unknown".
func procField(path, key string) string {
	f, err := os.Open(path)
	if err != nil {
		return unknown
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return unknown
}

// memory shows /proc/meminfo's "24684096 kB" as "23.5 GiB".
func memory(kB string) string {
	n, err := strconv.ParseFloat(strings.TrimSuffix(kB, " kB"), 64)
	if err != nil {
		return kB
	}
	return fmt.Sprintf("%.1f GiB", n/(1<<20))
}

// loadAverage is /proc/loadavg's 1, 5 and 15 minute load averages.
func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return unknown
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return unknown
	}
	return strings.Join(f[:3], " ")
}

// commit is the repository's commit, with "+ uncommitted changes" when the work
// tree differs from it outside docs/ and README.md, which the benchmark writes.
func commit() string {
	root := testenv.Root()
	out, err := exec.Command("git", "-C", root, "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "an unknown commit"
	}
	c := "commit " + strings.TrimSpace(string(out))
	status, err := exec.Command("git", "-C", root, "status", "--porcelain", "--untracked-files=no",
		"--", ".", ":!docs", ":!README.md").Output()
	if err == nil && len(status) > 0 {
		c += " + uncommitted changes"
	}
	return c
}
