package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat: 100 on
// every Linux architecture Go supports (the kernel fixes it for user space).
const clockTicks = 100

// procStat is what /proc says about a process at one moment.
type procStat struct {
	// RSS is VmRSS, the resident set now; PeakRSS is VmHWM, its high-water mark
	// since the process started. Both in bytes.
	RSS, PeakRSS int64
	// CPU is utime+stime: CPU time spent in user and kernel mode since it started.
	CPU time.Duration
}

// readProc reads /proc/<pid>/status and /proc/<pid>/stat.
func readProc(pid int) (procStat, error) {
	var st procStat
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return st, err
	}
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		key, value, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		var dst *int64
		switch key {
		case "VmRSS":
			dst = &st.RSS
		case "VmHWM":
			dst = &st.PeakRSS
		default:
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 10, 64)
		if err != nil {
			return st, fmt.Errorf("/proc/%d/status %s: %w", pid, key, err)
		}
		*dst = kb << 10
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return st, err
	}
	// pid (comm) state ppid ...: comm may hold spaces and parentheses, so the fields
	// are counted from the last ')'. utime and stime are fields 14 and 15 of the
	// line, so the 12th and 13th after comm.
	at := bytes.LastIndexByte(stat, ')')
	if at < 0 {
		return st, fmt.Errorf("/proc/%d/stat: no ')' in %q", pid, stat)
	}
	fields := strings.Fields(string(stat[at+1:]))
	if len(fields) < 13 {
		return st, fmt.Errorf("/proc/%d/stat: %d fields after comm", pid, len(fields))
	}
	var ticks int64
	for _, f := range fields[11:13] {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return st, fmt.Errorf("/proc/%d/stat: %w", pid, err)
		}
		ticks += n
	}
	st.CPU = time.Duration(ticks) * time.Second / clockTicks
	return st, nil
}

// rssSampler reads a process's /proc entries every interval, keeping the highest
// VmRSS seen, until stopped. VmHWM is the real peak; the samples show that it is
// not a blip of startup.
type rssSampler struct {
	pid  int
	stop chan struct{}
	done chan struct{}

	mu      sync.Mutex
	maxRSS  int64
	last    procStat
	lastErr error
}

func startSampler(pid int, interval time.Duration) *rssSampler {
	s := &rssSampler{pid: pid, stop: make(chan struct{}), done: make(chan struct{})}
	s.sample()
	go func() {
		defer close(s.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-t.C:
				s.sample()
			}
		}
	}()
	return s
}

func (s *rssSampler) sample() {
	st, err := readProc(s.pid)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.lastErr = err
		return
	}
	s.last = st
	s.maxRSS = max(s.maxRSS, st.RSS)
}

// Stop takes a last sample, stops sampling and returns the last reading (with
// VmHWM, the peak) and the highest VmRSS sampled. Call it while the process runs.
func (s *rssSampler) Stop() (last procStat, maxSampled int64, err error) {
	close(s.stop)
	<-s.done
	s.sample()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.last.PeakRSS == 0 {
		return s.last, s.maxRSS, fmt.Errorf("no reading of /proc/%d: %v", s.pid, s.lastErr)
	}
	return s.last, s.maxRSS, nil
}

// commandOf returns the arguments a process runs with (/proc/<pid>/cmdline, less
// the program), with workDir shown as <work dir>, and the variables of its
// environment (/proc/<pid>/environ) that this process's own lacks: those the
// environment set for it, such as the chart's MEMORY_LIMIT and GOGC.
func commandOf(pid int, workDir string) (args, env []string, err error) {
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return nil, nil, err
	}
	environ, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		return nil, nil, err
	}
	dir, err := filepath.Abs(workDir)
	if err != nil {
		return nil, nil, err
	}
	for i, a := range nulSeparated(cmdline) {
		if i > 0 {
			args = append(args, strings.ReplaceAll(a, dir, "<work dir>"))
		}
	}
	own := os.Environ()
	for _, v := range nulSeparated(environ) {
		if !slices.Contains(own, v) {
			env = append(env, v)
		}
	}
	return args, env, nil
}

// nulSeparated splits the NUL-terminated strings of a /proc file.
func nulSeparated(data []byte) []string {
	return strings.Split(strings.TrimSuffix(string(data), "\x00"), "\x00")
}
