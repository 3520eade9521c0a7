package e2e

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// The real-CH suite's record of what ran: every operation of every release
// is one cell of the summary table TestRealCH logs at the end.

// opStatus is how an operation ended on one release.
type opStatus int

const (
	opOK          opStatus = iota // ran and did what CH does
	opUnsupported                 // refused as the release lacks it, as expected
	opLogged                      // ran; its outcome is logged, not asserted
	opSkipped                     // not run: the host lacks what it needs
	opFailed                      // an assertion failed
)

func (s opStatus) String() string {
	return [...]string{"ok", "unsupported (expected)", "logged", "skipped", "FAILED"}[s]
}

// outcome is what a step reports besides its assertions.
type outcome struct {
	status opStatus
	detail string
}

// ran is the outcome of a step whose assertions passed.
func ran() outcome { return outcome{status: opOK} }

// ranWith is ran, with a detail for the summary.
func ranWith(format string, args ...any) outcome {
	return outcome{status: opOK, detail: fmt.Sprintf(format, args...)}
}

// unsupportedAsExpected is the outcome of an operation the release lacks
// and refused as chvmm documents.
func unsupportedAsExpected(format string, args ...any) outcome {
	return outcome{status: opUnsupported, detail: fmt.Sprintf(format, args...)}
}

// logged is the outcome of an operation whose result is only reported.
func logged(format string, args ...any) outcome {
	return outcome{status: opLogged, detail: fmt.Sprintf(format, args...)}
}

// cell is one operation on one release.
type cell struct {
	status opStatus
	detail string
}

// suiteReport collects every release's cells. Safe for concurrent use.
type suiteReport struct {
	mu       sync.Mutex
	releases []string
	ops      []string                   // in the order first recorded
	cells    map[string]map[string]cell // op -> release -> cell
	times    map[string]time.Duration
}

func newSuiteReport(releases []string) *suiteReport {
	return &suiteReport{releases: releases, cells: map[string]map[string]cell{}, times: map[string]time.Duration{}}
}

func (rep *suiteReport) set(release, op string, c cell) {
	rep.mu.Lock()
	defer rep.mu.Unlock()
	if rep.cells[op] == nil {
		rep.cells[op] = map[string]cell{}
		rep.ops = append(rep.ops, op)
	}
	rep.cells[op][release] = c
}

// ranOps lists the operations release ran (not skipped), in order.
func (rep *suiteReport) ranOps(release string) []string {
	rep.mu.Lock()
	defer rep.mu.Unlock()
	var out []string
	for _, op := range rep.ops {
		if c, ok := rep.cells[op][release]; ok && c.status != opSkipped {
			out = append(out, op)
		}
	}
	return out
}

// table is the summary: one row per operation, one column per release,
// then the details of every cell that is not a plain "ok".
func (rep *suiteReport) table() string {
	rep.mu.Lock()
	defer rep.mu.Unlock()
	var b strings.Builder
	w := 26
	for _, op := range rep.ops {
		w = max(w, len(op)+2)
	}
	fmt.Fprintf(&b, "%-*s", w, "OPERATION")
	for _, r := range rep.releases {
		fmt.Fprintf(&b, "%-10s", r)
	}
	b.WriteString("\n")
	short := map[opStatus]string{opOK: "ok", opUnsupported: "unsup", opLogged: "logged", opSkipped: "skip", opFailed: "FAILED"}
	var notes []string
	for _, op := range rep.ops {
		fmt.Fprintf(&b, "%-*s", w, op)
		// The details, each once with the releases it holds for.
		var details []string
		where := map[string][]string{}
		for _, r := range rep.releases {
			c, ok := rep.cells[op][r]
			mark := "-"
			if ok {
				mark = short[c.status]
				if c.detail != "" {
					d := c.status.String() + ": " + c.detail
					if where[d] == nil {
						details = append(details, d)
					}
					where[d] = append(where[d], r)
				}
			}
			fmt.Fprintf(&b, "%-10s", mark)
		}
		b.WriteString("\n")
		for _, d := range details {
			rs := strings.Join(where[d], ", ")
			if len(where[d]) == len(rep.releases) {
				rs = "every release"
			}
			notes = append(notes, fmt.Sprintf("  %s (%s): %s", op, rs, d))
		}
	}
	b.WriteString("(ok: ran and behaved as CH does; unsup: refused as unsupported by the release, as expected; logged: outcome reported, not asserted; skip: not run, reason below; -: not reached)\n")
	b.WriteString("suite time per release:")
	for _, r := range rep.releases {
		if d, ok := rep.times[r]; ok {
			fmt.Fprintf(&b, " %s %v", r, d.Round(10*time.Millisecond))
		}
	}
	b.WriteString("\n")
	if len(notes) > 0 {
		b.WriteString("details:\n" + strings.Join(notes, "\n") + "\n")
	}
	return b.String()
}

// recorder records one release's steps into the report.
type recorder struct {
	t       *testing.T
	release string
	rep     *suiteReport
}

// step runs fn as operation op of the release and records how it ended:
// FAILED when fn failed the test (or stopped it with FailNow), else what fn
// returned. Steps after a fatal failure do not run.
func (rc recorder) step(op string, fn func() outcome) {
	rc.t.Helper()
	failedBefore := rc.t.Failed()
	finished := false
	var out outcome
	defer func() {
		if !finished || (!failedBefore && rc.t.Failed()) {
			rc.rep.set(rc.release, op, cell{status: opFailed, detail: "see the test's failure messages"})
			return
		}
		rc.rep.set(rc.release, op, cell(out))
	}()
	out = fn()
	finished = true
}

// skip records op as skipped for reason, and shows it as a skipped
// subtest so that go test's output lists it too.
func (rc recorder) skip(op, reason string) {
	rc.rep.set(rc.release, op, cell{status: opSkipped, detail: reason})
	rc.t.Run(op, func(t *testing.T) { t.Skip(reason) })
}

// skipQuiet records op as skipped for reason without a subtest, for
// operations this suite never exercises (their reason repeats on every
// release).
func (rc recorder) skipQuiet(op, reason string) {
	rc.rep.set(rc.release, op, cell{status: opSkipped, detail: reason})
}

// finish records the release's suite time and logs what ran.
func (rc recorder) finish(elapsed time.Duration) {
	rc.rep.mu.Lock()
	rc.rep.times[rc.release] = elapsed
	rc.rep.mu.Unlock()
	ops := rc.rep.ranOps(rc.release)
	rc.t.Logf("CH %s: suite time %v; %d operations ran: %s", rc.release, elapsed.Round(time.Millisecond), len(ops), strings.Join(ops, ", "))
}

// skipRelease records that release did not run at all, and why.
func (rep *suiteReport) skipRelease(release, reason string) {
	rep.set(release, "start", cell{status: opSkipped, detail: reason})
}
