package bench

import (
	"os"
	"os/exec"
	"slices"
	"syscall"
	"testing"
	"time"
)

func TestReadProcOfThisProcess(t *testing.T) {
	// Touch 32 MiB, and spend CPU, so that both show.
	buf := make([]byte, 32<<20)
	for i := range buf {
		buf[i] = byte(i)
	}
	for cpuByRusage(t) < 200*time.Millisecond { //nolint:revive // spinning on purpose
	}
	st, err := readProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	rusage := cpuByRusage(t)
	if st.PeakRSS < 32<<20 || st.RSS <= 0 || st.RSS > st.PeakRSS {
		t.Errorf("VmRSS %d, VmHWM %d: want VmHWM ≥ 32 MiB and 0 < VmRSS ≤ VmHWM", st.RSS, st.PeakRSS)
	}
	// getrusage counts the same time at a finer grain than /proc's ticks.
	if d := rusage - st.CPU; d < 0 || d > 50*time.Millisecond {
		t.Errorf("CPU from /proc %s, from getrusage just after %s: want them within a few ticks", st.CPU, rusage)
	}
	_ = buf[len(buf)-1]
}

func TestThousands(t *testing.T) {
	for n, want := range map[int]string{0: "0", 200: "200", 1000: "1,000", 10000: "10,000", 1234567: "1,234,567"} {
		if got := Thousands(n); got != want {
			t.Errorf("Thousands(%d) = %q, want %q", n, got, want)
		}
	}
}

func cpuByRusage(t *testing.T) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func TestCommandOf(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(dir+"/token", nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("tail", "-f", dir+"/token")
	cmd.Env = append(os.Environ(), "BENCH_TEST_VAR=1")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	// Start returns once the exec has begun; /proc shows the new command line a
	// moment later.
	var args, env []string
	for deadline := time.Now().Add(5 * time.Second); len(args) == 0 && time.Now().Before(deadline); {
		var err error
		if args, env, err = commandOf(cmd.Process.Pid, dir); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if want := []string{"-f", "<work dir>/token"}; !slices.Equal(args, want) {
		t.Errorf("args %q, want %q", args, want)
	}
	if want := []string{"BENCH_TEST_VAR=1"}; !slices.Equal(env, want) {
		t.Errorf("env %q, want %q", env, want)
	}
}

func TestUnderBacklog(t *testing.T) {
	cfg := DefaultConfig(200)
	for _, tt := range []struct {
		before, after int
		want          bool
	}{{150, 20, true}, {150, 19, false}, {19, 150, false}, {-1, 150, false}, {200, 200, true}} {
		b := Backlog{QueueDepth: tt.before, QueueDepthAfter: tt.after}
		if got := b.UnderBacklog(cfg); got != tt.want {
			t.Errorf("depths %d then %d of 200 accounts: UnderBacklog = %v, want %v", tt.before, tt.after, got, tt.want)
		}
	}
}
