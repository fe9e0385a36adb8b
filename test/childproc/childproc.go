// Package childproc runs the long-lived processes of the test environments (make
// demo, the end-to-end suite, the benchmark and make test-cluster's node): each in a
// process group of its own, so that Ctrl-C in a terminal does not reach it, with its
// output appended to a log file; on Linux the kernel kills it if this program dies
// without stopping it, and Stop ends it, with whatever it started, by its PID.
package childproc

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// Process is a running child.
type Process struct {
	name    string
	logPath string
	cmd     *exec.Cmd
	done    chan struct{}
	err     error // set before done is closed
}

// Start starts path with args and this process's environment plus env, its
// stderr (and stdout, unless firstLine is set) appended to logPath. With firstLine
// set, the first line the process writes to stdout is returned, and the rest of its
// stdout goes to the log as well; a process that ends or writes nothing for 20 s
// before that line is an error.
func Start(name, path string, args, env []string, logPath string, firstLine bool) (*Process, string, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, "", err
	}
	cmd := exec.Command(path, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = procAttr()
	cmd.Stderr = logFile
	cmd.Stdout = logFile
	lines := make(chan string, 1)
	if firstLine {
		// exec copies through a pipe to a Writer that is not a file, and Wait
		// waits for that copy, so nothing the child writes is lost or written
		// after the log is closed. WaitDelay bounds the wait when something the
		// child started still holds the pipe open.
		cmd.Stdout = &firstLineWriter{lines: lines, rest: logFile}
		cmd.WaitDelay = 5 * time.Second
	}
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return nil, "", fmt.Errorf("start %s: %w", name, err)
	}
	p := &Process{name: name, logPath: logPath, cmd: cmd, done: make(chan struct{})}
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
		return p, line, nil
	case <-p.done:
		select {
		case line := <-lines: // it wrote its line and ended at once
			return p, line, nil
		default:
		}
		return nil, "", fmt.Errorf("%s exited: %v%s", name, p.err, LogTail(logPath, 15))
	case <-time.After(20 * time.Second):
		_ = p.Stop(0)
		return nil, "", fmt.Errorf("%s wrote nothing within 20s%s", name, LogTail(logPath, 15))
	}
}

// firstLineWriter sends the first line written to it on lines and writes
// everything after that line to rest.
type firstLineWriter struct {
	lines chan<- string
	rest  io.Writer
	head  []byte
	sent  bool
}

func (w *firstLineWriter) Write(b []byte) (int, error) {
	if w.sent {
		return w.rest.Write(b)
	}
	w.head = append(w.head, b...)
	i := bytes.IndexByte(w.head, '\n')
	if i < 0 {
		return len(b), nil
	}
	w.sent = true
	w.lines <- strings.TrimSpace(string(w.head[:i]))
	if _, err := w.rest.Write(w.head[i+1:]); err != nil {
		return 0, err
	}
	w.head = nil
	return len(b), nil
}

// Name is the name the process was started with, for messages.
func (p *Process) Name() string { return p.name }

// PID is the process's id, which is also its process group's.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// LogPath is the file its output goes to.
func (p *Process) LogPath() string { return p.logPath }

// Exited is closed when the process has ended.
func (p *Process) Exited() <-chan struct{} { return p.done }

// ExitErr describes how the process ended; call it after Exited is closed.
func (p *Process) ExitErr() error {
	if p.err == nil {
		return fmt.Errorf("%s exited", p.name)
	}
	return fmt.Errorf("%s exited: %w", p.name, p.err)
}

// Stop sends SIGTERM to the process group and, if the process has not ended within
// grace, SIGKILL. It returns once the process has been reaped.
func (p *Process) Stop(grace time.Duration) error {
	select {
	case <-p.done:
		return nil
	default:
	}
	pgid := p.PID()
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
	return fmt.Errorf("%s (PID %d) did not stop within %s of SIGTERM and was killed", p.name, pgid, grace)
}

// Kill ends the process group at once with SIGKILL, as a node failure would, and
// returns once the process has been reaped.
func (p *Process) Kill() error {
	if err := signalGroup(p.PID(), syscall.SIGKILL); err != nil {
		return err
	}
	<-p.done
	return nil
}

func signalGroup(pgid int, sig syscall.Signal) error {
	err := syscall.Kill(-pgid, sig)
	if errors.Is(err, syscall.ESRCH) {
		return nil
	}
	return err
}

// LogTail returns the last n lines of a log file, indented, for an error message.
func LogTail(path string, n int) string {
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

// FreePort returns a TCP port on 127.0.0.1 that nothing listens on now.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port, nil
}
