package plugin

import (
	"fmt"
	"io"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// isTerminal reports whether v (a stream) is a terminal.
func isTerminal(v any) bool {
	f, ok := v.(interface{ Fd() uintptr })
	return ok && term.IsTerminal(int(f.Fd()))
}

// progress reports an import's progress on stderr: the lines about each UID
// skipped or failed, and, on a terminal, a bar. Only the import's writer calls
// it, one call at a time.
type progress interface {
	// Printf writes a line about one UID.
	Printf(format string, args ...any)
	// Step counts one UID as dealt with.
	Step()
	// Done removes the bar, before the summary.
	Done()
}

// lines is the progress of an import whose stderr is not a terminal: the lines only.
type lines struct{ w io.Writer }

func (l lines) Printf(format string, args ...any) { _, _ = fmt.Fprintf(l.w, format+"\n", args...) }
func (lines) Step()                               {}
func (lines) Done()                               {}

// bar is the progress of an import whose stderr is a terminal: a bar with the
// count, the rate and, when the total is known, the time left; the lines go above it.
type bar struct {
	w   io.Writer
	bar *progressbar.ProgressBar
}

// newBar returns a bar for total UIDs on w; total -1 means unknown (stdin).
func newBar(w io.Writer, total int) *bar {
	opts := []progressbar.Option{
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription("importing"),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("UIDs"),
		progressbar.OptionSetPredictTime(total > 0),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionThrottle(100 * time.Millisecond),
		progressbar.OptionFullWidth(),
		// No spinner of its own: it would draw from another goroutine between a
		// Clear and the line written after it.
		progressbar.OptionSetSpinnerChangeInterval(0),
	}
	if total == 0 {
		total = -1
	}
	b := &bar{w: w, bar: progressbar.NewOptions64(int64(total), opts...)}
	_ = b.bar.RenderBlank()
	return b
}

func (b *bar) Printf(format string, args ...any) {
	_ = b.bar.Clear()
	_, _ = fmt.Fprintf(b.w, format+"\n", args...)
	_ = b.bar.Add(0)
}

func (b *bar) Step() { _ = b.bar.Add(1) }

func (b *bar) Done() {
	_ = b.bar.Clear()
	_ = b.bar.Exit()
}

// stderrProgress returns a bar on w when it is a terminal, otherwise plain lines.
// total is the number of UIDs, -1 when unknown.
func stderrProgress(w io.Writer, total int, terminal func(any) bool) progress {
	if terminal(w) {
		return newBar(w, total)
	}
	return lines{w: w}
}
