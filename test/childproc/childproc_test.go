package childproc

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestStartReturnsTheFirstLineAndLogsTheRest(t *testing.T) {
	logPath := filepath.Join(t.TempDir(), "child.log")
	p, line, err := Start("child", "/bin/sh", []string{"-c", "echo ready; sleep 0.2; echo more; echo oops >&2"},
		nil, logPath, true)
	if err != nil {
		t.Fatal(err)
	}
	if line != "ready" {
		t.Errorf("first line = %q, want ready", line)
	}
	select {
	case <-p.Exited():
	case <-time.After(10 * time.Second):
		t.Fatal("the child did not end")
	}
	tail := LogTail(logPath, 5)
	if !strings.Contains(tail, "more") || !strings.Contains(tail, "oops") || strings.Contains(tail, "ready") {
		t.Errorf("log = %q, want the rest of stdout and stderr, without the first line", tail)
	}
}

func TestStopEndsAChildThatHonoursSIGTERM(t *testing.T) {
	p, _, err := Start("child", "/bin/sh", []string{"-c", "echo up; exec sleep 60"},
		nil, filepath.Join(t.TempDir(), "child.log"), true)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Stop(5 * time.Second); err != nil {
		t.Errorf("Stop: %v", err)
	}
	select {
	case <-p.Exited():
	default:
		t.Fatal("Exited is not closed after Stop")
	}
}

func TestStopKillsWhatIgnoresSIGTERM(t *testing.T) {
	p, _, err := Start("stubborn", "/bin/sh", []string{"-c", "trap '' TERM; echo up; while :; do sleep 1; done"},
		nil, filepath.Join(t.TempDir(), "stubborn.log"), true)
	if err != nil {
		t.Fatal(err)
	}
	err = p.Stop(300 * time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "was killed") {
		t.Errorf("Stop = %v, want an error saying it was killed", err)
	}
	if p.ExitErr() == nil {
		t.Error("ExitErr is nil")
	}
}

func TestStartReportsAChildThatEndsBeforeItsFirstLine(t *testing.T) {
	logPath := filepath.Join(t.TempDir(), "failing.log")
	_, _, err := Start("failing", "/bin/sh", []string{"-c", "echo broken config >&2; exit 3"}, nil, logPath, true)
	if err == nil || !strings.Contains(err.Error(), "exit status 3") || !strings.Contains(err.Error(), "broken config") {
		t.Errorf("err = %v, want the exit status and the log's last lines", err)
	}
}

func TestLogTail(t *testing.T) {
	if got := LogTail(filepath.Join(t.TempDir(), "missing.log"), 3); got != "" {
		t.Errorf("LogTail of a missing file = %q, want empty", got)
	}
}

func TestFreePort(t *testing.T) {
	port, err := FreePort()
	if err != nil || port <= 0 {
		t.Errorf("FreePort = %d, %v", port, err)
	}
}
