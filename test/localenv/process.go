package localenv

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// process is a long-running child (the simulator or the operator) in a process group
// of its own: Ctrl-C in the terminal does not reach it, so it is stopped in order
// by Stop, and on Linux the kernel kills it if this program dies without stopping it.
type process struct {
	name string
	cmd  *exec.Cmd
	log  *os.File
	done chan struct{}
	err  error // set before done is closed
}

// startProcess starts path with args and this process's environment plus env, its
// stderr (and stdout, unless firstLine is
// set) appended to logPath. With firstLine set, the first line the process writes
// to stdout is returned, and the rest of its stdout goes to the log as well.
func startProcess(name, path string, args, env []string, logPath string, firstLine bool) (*process, string, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, "", err
	}
	cmd := exec.Command(path, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = childProcAttr()
	cmd.Stderr = logFile
	var stdout io.ReadCloser
	if firstLine {
		if stdout, err = cmd.StdoutPipe(); err != nil {
			_ = logFile.Close()
			return nil, "", err
		}
	} else {
		cmd.Stdout = logFile
	}
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return nil, "", fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, log: logFile, done: make(chan struct{})}

	lines := make(chan string, 1)
	if firstLine {
		go func() {
			r := bufio.NewReader(stdout)
			line, _ := r.ReadString('\n')
			lines <- strings.TrimSpace(line)
			_, _ = io.Copy(logFile, r)
		}()
	}
	go func() {
		p.err = cmd.Wait()
		_ = logFile.Close()
		close(p.done)
	}()
	if !firstLine {
		return p, "", nil
	}
	select {
	case line := <-lines:
		if line != "" {
			return p, line, nil
		}
		<-p.done
		return nil, "", fmt.Errorf("%s exited: %v%s", name, p.err, logTail(logPath))
	case <-time.After(20 * time.Second):
		_ = p.Stop(0)
		return nil, "", fmt.Errorf("%s wrote nothing within 20s%s", name, logTail(logPath))
	}
}

// Exited is closed when the process has ended.
func (p *process) Exited() <-chan struct{} { return p.done }

// ExitErr describes how the process ended; call it after Exited is closed.
func (p *process) ExitErr() error {
	if p.err == nil {
		return fmt.Errorf("%s exited", p.name)
	}
	return fmt.Errorf("%s exited: %w", p.name, p.err)
}

// Stop sends SIGTERM to the process group and, if it has not ended within grace,
// SIGKILL. It returns once the process has been reaped.
func (p *process) Stop(grace time.Duration) error {
	select {
	case <-p.done:
		return nil
	default:
	}
	pgid := p.cmd.Process.Pid
	_ = signalGroup(pgid, syscall.SIGTERM)
	select {
	case <-p.done:
		// The leader is gone; take anything it left in its group with it.
		_ = signalGroup(pgid, syscall.SIGKILL)
		return nil
	case <-time.After(grace):
	}
	_ = signalGroup(pgid, syscall.SIGKILL)
	<-p.done
	return fmt.Errorf("%s did not stop within %s of SIGTERM and was killed", p.name, grace)
}

func signalGroup(pgid int, sig syscall.Signal) error {
	err := syscall.Kill(-pgid, sig)
	if errors.Is(err, syscall.ESRCH) {
		return nil
	}
	return err
}

// logTail returns the last lines of a log file, indented, for an error message.
func logTail(path string) string {
	data, err := os.ReadFile(path)
	if err != nil || len(data) == 0 {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > 15 {
		lines = lines[len(lines)-15:]
	}
	return "\nlast lines of " + path + ":\n    " + strings.Join(lines, "\n    ")
}

// run runs a short command (go build, kubectl) in dir and returns its stdout and
// stderr; the error carries stderr.
func run(ctx context.Context, dir string, env []string, stdin, name string, args ...string) (string, string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = strings.TrimSpace(stdout.String())
		}
		err = fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, msg)
	}
	return stdout.String(), stderr.String(), err
}
