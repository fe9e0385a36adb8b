package node

import (
	"fmt"
	"os/exec"
	"strings"

	"github.com/partnerbilling/partner-account-operator/test/childproc"
)

// exited returns an error naming p and the end of its log if it has ended.
func exited(p *childproc.Process) error {
	select {
	case <-p.Exited():
		return fmt.Errorf("%w%s", p.ExitErr(), childproc.LogTail(p.LogPath(), 20))
	default:
		return nil
	}
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
