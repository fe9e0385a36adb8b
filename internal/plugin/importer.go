package plugin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/partnerbilling/partner-account-operator/internal/partnerapi"
)

// ErrInterrupted is the cause of a context cancelled by SIGINT or SIGTERM.
var ErrInterrupted = errors.New("interrupted")

// Getter reads one account: partnerapi.Client's Get.
type Getter interface {
	Get(ctx context.Context, uid string) (*partnerapi.Account, error)
}

// Managed is what the cluster already holds, for an import into one namespace.
type Managed struct {
	// ByUID maps each spec.accountUID that a PartnerAccount anywhere in the
	// cluster names on the import's connection to that PartnerAccount, as
	// namespace/name. The same UID on another connection is another contract's
	// account.
	ByUID map[string]string
	// Names maps the name of each PartnerAccount in the import's namespace to its
	// spec.accountUID.
	Names map[string]string
}

// Defaults of an Importer.
const (
	// DefaultWorkers is how many accounts are read at once. The client's rate
	// limiter paces them; more workers only hide the latency of each call.
	DefaultWorkers = 4
	// getAttempts is how many times a UID is read when the API answers 429 or is
	// unavailable (a 5xx, a timeout, no answer).
	getAttempts = 3
	// defaultRetryDelay is the wait before the second attempt, doubled for the
	// third, unless a 429 named its own.
	defaultRetryDelay = time.Second
)

// Importer reads the accounts of a UID file through the Partnership API and writes
// a PartnerAccount for each to Out, in the order of the file.
//
// It streams: the UIDs are read as the accounts are, a few at a time (Workers),
// and each document is written as soon as those before it are; it holds no more
// than a window of accounts in memory, whatever the number of UIDs. Each document
// is written with a single Write, so an interruption leaves a valid YAML stream.
type Importer struct {
	// API reads the accounts.
	API Getter
	// Namespace is the namespace of the PartnerAccounts written.
	Namespace string
	// Connection is the PartnerConnection they name in spec.connectionRef, and
	// whose server API reads; "" for the operator's default connection.
	Connection string
	// Observe writes managementPolicy Observe; otherwise adoptExisting true.
	Observe bool
	// Managed is what the cluster holds: UIDs to skip, names taken.
	Managed Managed
	// Workers is how many accounts are read at once; 0 means DefaultWorkers.
	Workers int
	// Out receives the YAML stream.
	Out io.Writer
	// Progress receives a line for each UID skipped or failed, and counts them all.
	Progress progress
	// RetryDelay is the wait before reading a UID again after a 429 that named no
	// delay, or an unavailable API; doubled each time. 0 means one second.
	RetryDelay time.Duration
}

// Summary counts what an import did.
type Summary struct {
	// Total is the number of UIDs read from the file.
	Total int
	// Imported, Skipped and Failed count the UIDs written, skipped (already
	// managed, or listed twice) and failed (invalid, unknown, or not read).
	Imported, Skipped, Failed int
	// NotDone counts the UIDs read from the file but not dealt with, after an
	// interruption or a stop.
	NotDone int
	// Elapsed is the time the import took.
	Elapsed time.Duration
	// Interrupted is set when the import was interrupted (SIGINT, SIGTERM).
	Interrupted bool
	// Stopped is why the import stopped before the end of the file: an error that
	// every other UID would meet too (a rejected token, a wrong URL), a YAML stream
	// that could not be written, or a UID file that could not be read.
	Stopped error
}

// String is the one-line summary: "imported 3, skipped 1, failed 1 of 5 UIDs in 0.4s".
func (s Summary) String() string {
	counts := fmt.Sprintf("imported %d, skipped %d, failed %d of %d UIDs", s.Imported, s.Skipped, s.Failed, s.Total)
	elapsed := fmt.Sprintf("%.1fs", s.Elapsed.Seconds())
	switch {
	case s.Interrupted:
		return fmt.Sprintf("interrupted: %s read in %s; %d not done", counts, elapsed, s.NotDone)
	case s.Stopped != nil:
		return fmt.Sprintf("stopped: %s read in %s; %d not done: %v", counts, elapsed, s.NotDone, s.Stopped)
	}
	return counts + " in " + elapsed
}

// Err returns the error the import ends with: an *ExitError of status 130 when it
// was interrupted, of status 1 when a UID failed or it stopped, nil otherwise.
// Skipped UIDs are no failure. The summary says it all, so the error is silent.
func (s Summary) Err() error {
	switch {
	case s.Interrupted:
		return &ExitError{Code: 130}
	case s.Stopped != nil || s.Failed > 0:
		return &ExitError{Code: 1}
	}
	return nil
}

// job is one UID of the file on its way through the import.
type job struct {
	UIDLine
	res chan outcome // receives exactly one outcome
}

// outcome is what became of one UID.
type outcome struct {
	acct *partnerapi.Account
	err  error
	// skip, when set, is why the UID was skipped.
	skip string
}

// Run imports the UIDs sc reads. It returns when all are dealt with, or soon after
// ctx is cancelled: documents already read are still written, in order; the
// others are counted as not done.
func (im *Importer) Run(ctx context.Context, sc *UIDScanner) Summary {
	start := time.Now()
	workers := im.Workers
	if workers <= 0 {
		workers = DefaultWorkers
	}
	prog := im.Progress
	if prog == nil {
		prog = lines{w: io.Discard}
	}

	runCtx, stop := context.WithCancelCause(ctx)
	defer stop(nil)

	// The reader hands each UID to the workers and, in file order, to the writer
	// below. order's capacity bounds how far reading runs ahead of writing.
	jobs := make(chan job)
	order := make(chan job, 8*workers)
	var scanErr error
	go func() {
		defer close(order)
		defer close(jobs)
		seen := make(map[string]int) // UID -> its first line
		for runCtx.Err() == nil && sc.Scan() {
			j := job{UIDLine: sc.UID(), res: make(chan outcome, 1)}
			pre, decided := im.precheck(j.UIDLine, seen)
			if decided {
				j.res <- pre
			}
			select {
			case order <- j:
			case <-runCtx.Done():
				return
			}
			if decided {
				continue
			}
			select {
			case jobs <- j:
			case <-runCtx.Done():
				j.res <- outcome{err: errors.Join(context.Canceled, context.Cause(runCtx))}
				return
			}
		}
		scanErr = sc.Err()
	}()
	for range workers {
		go func() {
			for j := range jobs {
				j.res <- im.get(runCtx, j.UID)
			}
		}()
	}

	var sum Summary
	namer := NewNamer(im.Managed.Names)
	for j := range order {
		o := <-j.res
		sum.Total++
		switch {
		case o.skip != "":
			sum.Skipped++
			prog.Printf("skipped %s: %s", j.UID, o.skip)
		case o.err != nil && runCtx.Err() != nil:
			// Interrupted or stopped: a UID whose read was cut short, or that came
			// after the one that stopped the import, is not done rather than failed.
			sum.NotDone++
		case o.err != nil:
			sum.Failed++
			prog.Printf("failed %s: %v", j.UID, o.err)
			if fatal(o.err) {
				stop(fmt.Errorf("every UID would fail: %w", o.err))
			}
		case sum.Stopped != nil:
			sum.NotDone++ // the stream cannot be written
		default:
			if err := im.write(namer, j, o.acct); err != nil {
				if _, ok := errors.AsType[*writeError](err); ok {
					sum.Stopped = err
					sum.NotDone++
					stop(err)
					break
				}
				sum.Failed++
				prog.Printf("failed %s: %v", j.UID, err)
				break
			}
			sum.Imported++
		}
		prog.Step()
	}
	if scanErr != nil && sum.Stopped == nil {
		sum.Stopped = fmt.Errorf("reading the UIDs: %w", scanErr)
	}
	if cause := context.Cause(runCtx); cause != nil && sum.Stopped == nil {
		if errors.Is(cause, ErrInterrupted) || ctx.Err() != nil {
			sum.Interrupted = true
		} else {
			sum.Stopped = cause
		}
	}
	sum.Elapsed = time.Since(start)
	prog.Done()
	return sum
}

// precheck decides a UID without the API: invalid, listed before, or already
// managed. It returns false when the account must be read.
func (im *Importer) precheck(l UIDLine, seen map[string]int) (outcome, bool) {
	if err := CheckUID(l.UID); err != nil {
		return outcome{err: fmt.Errorf("line %d: %w", l.Line, err)}, true
	}
	if first, ok := seen[l.UID]; ok {
		return outcome{skip: fmt.Sprintf("listed again on line %d (first on line %d)", l.Line, first)}, true
	}
	seen[l.UID] = l.Line
	if pa, ok := im.Managed.ByUID[l.UID]; ok {
		return outcome{skip: "already managed by " + pa}, true
	}
	return outcome{}, false
}

// get reads the account uid, again after a 429 or while the API is unavailable,
// up to getAttempts times.
func (im *Importer) get(ctx context.Context, uid string) outcome {
	delay := im.RetryDelay
	if delay <= 0 {
		delay = defaultRetryDelay
	}
	for attempt := 1; ; attempt++ {
		acct, err := im.API.Get(ctx, uid)
		if err == nil {
			return outcome{acct: acct}
		}
		if ctx.Err() != nil {
			return outcome{err: errors.Join(context.Canceled, err)}
		}
		if attempt == getAttempts ||
			!errors.Is(err, partnerapi.ErrRateLimited) && !errors.Is(err, partnerapi.ErrTransient) {
			return outcome{err: err}
		}
		wait := delay << (attempt - 1)
		if d, ok := partnerapi.RetryAfter(err); ok {
			wait = d
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return outcome{err: errors.Join(context.Canceled, err)}
		}
	}
}

// fatal reports whether every other UID would fail with err too: the token is
// rejected or unreadable, or what answers is not the Partnership API.
func fatal(err error) bool {
	return errors.Is(err, partnerapi.ErrUnauthorized) || errors.Is(err, partnerapi.ErrMisconfigured)
}

// writeError is a failure to write the YAML stream.
type writeError struct{ err error }

func (e *writeError) Error() string { return "writing the YAML stream: " + e.err.Error() }
func (e *writeError) Unwrap() error { return e.err }

// write names the PartnerAccount for acct and writes its document with one Write.
func (im *Importer) write(namer *Namer, j job, acct *partnerapi.Account) error {
	name, err := namer.Name(j.UID)
	if err != nil {
		return err
	}
	doc, err := Document(acct, j.UID, name, im.Namespace, im.Connection, im.Observe)
	if err != nil {
		return err
	}
	if _, err := im.Out.Write(doc); err != nil {
		return &writeError{err: err}
	}
	return nil
}
