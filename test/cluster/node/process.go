package node

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// process is a component of the cluster, running in a process group of its own with
// its output in a log file. The kernel kills it if the harness dies, and Stop ends it
// by its PID.
type process struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error // set before done is closed
}

func startProcess(name, logPath string, env []string, path string, args ...string) (*process, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(path, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		_ = logFile.Close()
		close(p.done)
	}()
	return p, nil
}

// exited returns an error naming the process and the end of its log if it has ended.
func (p *process) exited() error {
	select {
	case <-p.done:
		return fmt.Errorf("%s exited (%v)%s", p.name, p.err, logTail(p.log, 20))
	default:
		return nil
	}
}

// stop sends SIGTERM to the process group and, if the process has not ended within
// grace, SIGKILL. It returns once the process has been reaped.
func (p *process) stop(grace time.Duration) error {
	select {
	case <-p.done:
		return nil
	default:
	}
	pgid := p.cmd.Process.Pid
	_ = signalGroup(pgid, syscall.SIGTERM)
	select {
	case <-p.done:
		_ = signalGroup(pgid, syscall.SIGKILL) // whatever the leader left in its group
		return nil
	case <-time.After(grace):
	}
	_ = signalGroup(pgid, syscall.SIGKILL)
	<-p.done
	return fmt.Errorf("%s (PID %d) did not stop within %s of SIGTERM and was killed", p.name, pgid, grace)
}

func signalGroup(pgid int, sig syscall.Signal) error {
	err := syscall.Kill(-pgid, sig)
	if errors.Is(err, syscall.ESRCH) {
		return nil
	}
	return err
}

// logTail returns the last n lines of a log file, indented, for an error message.
func logTail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil || len(data) == 0 {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "\n  last lines of " + path + ":\n    " + strings.Join(lines, "\n    ")
}

// run runs a command to completion and returns its combined output; a non-zero exit
// is an error that carries the output.
func run(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}
