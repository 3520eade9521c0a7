package main

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// A pair is a chvmm benchmark, its baseline and the goal for their ratio.
type pair struct {
	name     string   // the benchmark's name in the report ("StartToReady")
	chvmm    string   // its function ("BenchmarkRealStartToReady")
	baseline string   // the baseline's function
	refs     []string // reference baselines, reported without a goal
	goal     float64  // chvmm / baseline must not exceed it
	// iterations per run: enough for a stable median, few enough that a
	// round of every pair on six releases takes about a minute.
	iterations int
}

// benchPairs are the pairs of e2e/bench_real_test.go, with the goals of
// issue 13.
var benchPairs = []pair{
	{name: "StartToReady", chvmm: "BenchmarkRealStartToReady", baseline: "BenchmarkRealStartToReadyBaseline",
		refs: []string{"BenchmarkRealStartToReadyEventsBaseline"}, goal: 1.10, iterations: 30},
	{name: "BootToGuest", chvmm: "BenchmarkRealBootToGuest", baseline: "BenchmarkRealBootToGuestBaseline", goal: 1.05, iterations: 20},
	{name: "SnapshotPaused", chvmm: "BenchmarkRealSnapshotPaused", baseline: "BenchmarkRealSnapshotPausedBaseline", goal: 1.05, iterations: 10},
	{name: "RestoreToRunning", chvmm: "BenchmarkRealRestoreToRunning", baseline: "BenchmarkRealRestoreToRunningBaseline", goal: 1.10, iterations: 8},
	{name: "ConcurrentStart100Real", chvmm: "BenchmarkRealConcurrentStart100", baseline: "BenchmarkRealConcurrentStart100Baseline", goal: 1.2, iterations: 2},
	{name: "Ping", chvmm: "BenchmarkRealPing", baseline: "BenchmarkRealPingBaseline", goal: 1.05, iterations: 3000},
	{name: "CreateBootInfo", chvmm: "BenchmarkRealCreateBootInfo", baseline: "BenchmarkRealCreateBootInfoBaseline", goal: 1.05, iterations: 20},
}

// order returns the pair's functions in the order of round: rotated by one
// each round, so that no side always runs first.
func (p pair) order(round int) []string {
	fns := append([]string{p.chvmm, p.baseline}, p.refs...)
	k := round % len(fns)
	return append(fns[k:], fns[:k]...)
}

func selectPairs(all []pair, only string) []pair {
	if only == "" {
		return all
	}
	names := strings.Split(only, ",")
	var sel []pair
	for _, p := range all {
		if slices.Contains(names, p.name) {
			sel = append(sel, p)
		}
	}
	return sel
}

func pairNames(ps []pair) []string {
	var names []string
	for _, p := range ps {
		names = append(names, p.name)
	}
	return names
}

func selectNames(all, names []string) []string {
	var sel []string
	for _, n := range all {
		if slices.Contains(names, n) {
			sel = append(sel, n)
		}
	}
	return sel
}

// sortVersions sorts release tags ("v48.0", "v50.2") by their numbers.
func sortVersions(vs []string) {
	key := func(v string) []int {
		var k []int
		for _, part := range strings.Split(strings.TrimPrefix(v, "v"), ".") {
			n, _ := strconv.Atoi(part)
			k = append(k, n)
		}
		return k
	}
	slices.SortFunc(vs, func(a, b string) int { return slices.Compare(key(a), key(b)) })
}

// A result is one run's figures.
type result struct {
	median time.Duration // med-ns/op
	mean   time.Duration // ns/op
	rest   string        // the further metrics, as printed
}

// resultLine matches a benchmark result: name, iterations, ns/op, and the
// further metrics.
var resultLine = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+(\d+)\s+([\d.]+) ns/op(.*)$`)

// parseOutput finds fn's result on release rel in a test process's output,
// or, when it skipped, why.
func parseOutput(out, fn, rel string) (*result, string) {
	want := fn + "/" + rel
	skip := ""
	for line := range strings.Lines(out) {
		line = strings.TrimRight(line, "\r\n")
		if m := resultLine.FindStringSubmatch(line); m != nil && m[1] == want {
			mean, err := strconv.ParseFloat(m[3], 64)
			if err != nil {
				continue
			}
			r := &result{mean: time.Duration(mean), median: time.Duration(mean), rest: m[4]}
			if med, ok := metric(m[4], "med-ns/op"); ok {
				r.median = time.Duration(med)
			}
			return r, ""
		}
		if strings.Contains(line, "--- SKIP: "+fn) {
			skip = "skipped"
		} else if skip == "skipped" && strings.TrimSpace(line) != "" {
			// The line after "--- SKIP" is "    file.go:NN: reason".
			reason := strings.TrimSpace(line)
			if i := strings.Index(reason, ".go:"); i >= 0 {
				if j := strings.Index(reason[i:], ": "); j >= 0 {
					reason = reason[i+j+2:]
				}
			}
			skip = reason
		}
	}
	return nil, skip
}

// metric returns the value of unit in the metrics part of a result line
// ("  123 med-ns/op  456 B/op").
func metric(fields, unit string) (float64, bool) {
	f := strings.Fields(fields)
	for i := 1; i < len(f); i++ {
		if f[i] == unit {
			v, err := strconv.ParseFloat(f[i-1], 64)
			return v, err == nil
		}
	}
	return 0, false
}

// results collects the runs, by function and release.
type results struct {
	runs     map[[2]string][]result
	skips    map[[2]string]string
	failures map[[2]string]int
}

func newResults() *results {
	return &results{runs: map[[2]string][]result{}, skips: map[[2]string]string{}, failures: map[[2]string]int{}}
}

func (r *results) fail(fn, rel string) { r.failures[[2]string{fn, rel}]++ }

func (r *results) failedRuns() int {
	n := 0
	for _, k := range r.failures {
		n += k
	}
	return n
}

// failed is how many runs of pair p on rel failed, both sides.
func (r *results) failed(p pair, rel string) int {
	n := 0
	for _, fn := range append([]string{p.chvmm, p.baseline}, p.refs...) {
		n += r.failures[[2]string{fn, rel}]
	}
	return n
}

func (r *results) add(fn, rel string, x result) {
	r.runs[[2]string{fn, rel}] = append(r.runs[[2]string{fn, rel}], x)
}

func (r *results) skip(fn, rel, why string) { r.skips[[2]string{fn, rel}] = why }

func (r *results) skipReasons() []string {
	seen := map[string]bool{}
	for _, why := range r.skips {
		seen[why] = true
	}
	return slices.Sorted(maps.Keys(seen))
}

// median is the median of fn's run medians on rel, false when it never ran.
func (r *results) median(fn, rel string) (time.Duration, bool) {
	runs := r.runs[[2]string{fn, rel}]
	if len(runs) == 0 {
		return 0, false
	}
	ds := make([]time.Duration, len(runs))
	for i, x := range runs {
		ds[i] = x.median
	}
	return medianOf(ds), true
}

// medianOf is the median of ds (the mean of the middle two for an even
// count).
func medianOf(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// ratio is chvmm's median over the baseline's, for pair p on rel.
func (r *results) ratio(p pair, rel string) (c, b time.Duration, ratio float64, ok bool) {
	c, ok1 := r.median(p.chvmm, rel)
	b, ok2 := r.median(p.baseline, rel)
	if !ok1 || !ok2 || b == 0 {
		return c, b, 0, false
	}
	return c, b, float64(c) / float64(b), true
}

// table is the Markdown table of every pair on every release.
func (r *results) table(pairs []pair, rels []string) string {
	var s strings.Builder
	s.WriteString("| benchmark | release | chvmm | baseline | ratio | goal | met |\n| --- | --- | --- | --- | --- | --- | --- |\n")
	for _, p := range pairs {
		for _, rel := range rels {
			c, b, ratio, ok := r.ratio(p, rel)
			if !ok {
				why := r.skips[[2]string{p.chvmm, rel}]
				if why == "" {
					why = r.skips[[2]string{p.baseline, rel}]
				}
				if n := r.failed(p, rel); n > 0 {
					why = fmt.Sprintf("%d runs failed", n)
				} else {
					why = "skipped: " + why
				}
				fmt.Fprintf(&s, "| %s | %s | — | — | — | ≤ %.2f | %s |\n", p.name, rel, p.goal, why)
				continue
			}
			met := yesNo(ratio <= p.goal)
			if n := r.failed(p, rel); n > 0 {
				met += fmt.Sprintf(" (%d runs failed)", n)
			}
			fmt.Fprintf(&s, "| %s | %s | %s | %s | %.2f | ≤ %.2f | %s |\n", p.name, rel, formatDuration(c), formatDuration(b), ratio, p.goal, met)
			for _, ref := range p.refs {
				if d, ok := r.median(ref, rel); ok {
					fmt.Fprintf(&s, "| %s (reference: %s) | %s | | %s | %.2f | | |\n", p.name, strings.TrimPrefix(ref, "BenchmarkReal"), rel, formatDuration(d), float64(c)/float64(d))
				}
			}
		}
	}
	return s.String()
}

// summary is one line per pair: the newest release's figures, and the
// range of the ratio over all releases.
func (r *results) summary(pairs []pair, rels []string) string {
	var s strings.Builder
	newest := rels[len(rels)-1]
	fmt.Fprintf(&s, "| benchmark | chvmm (%s) | baseline (%s) | ratio (%s) | ratio, all releases | goal | met on |\n| --- | --- | --- | --- | --- | --- | --- |\n", newest, newest, newest)
	for _, p := range pairs {
		var ratios []float64
		met, failed := 0, 0
		for _, rel := range rels {
			failed += r.failed(p, rel)
			if _, _, ratio, ok := r.ratio(p, rel); ok {
				ratios = append(ratios, ratio)
				if ratio <= p.goal {
					met++
				}
			}
		}
		c, b, ratio, ok := r.ratio(p, newest)
		if !ok || len(ratios) == 0 {
			fmt.Fprintf(&s, "| %s | — | — | — | — | ≤ %.2f | — |\n", p.name, p.goal)
			continue
		}
		metOn := fmt.Sprintf("%d of %d", met, len(ratios))
		if failed > 0 {
			metOn += fmt.Sprintf(" (%d runs failed)", failed)
		}
		fmt.Fprintf(&s, "| %s | %s | %s | %.2f | %.2f–%.2f | ≤ %.2f | %s |\n", p.name, formatDuration(c), formatDuration(b), ratio,
			slices.Min(ratios), slices.Max(ratios), p.goal, metOn)
	}
	return s.String()
}

// formatDuration prints d with three significant digits and its unit.
func formatDuration(d time.Duration) string {
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.3g s", d.Seconds())
	case d >= time.Millisecond:
		return fmt.Sprintf("%.3g ms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.3g µs", float64(d)/float64(time.Microsecond))
	}
}

func yesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "no"
}

// stepIterations is how many times BenchmarkStartSteps runs each step per
// round.
const stepIterations = 100

// A step is one of core's BenchmarkStartSteps, in StartProcess's order.
type step struct {
	name, what string
	pre        bool // a step before the exec, on the path of every start
}

var startSteps = []step{
	{"kvm-check", "CheckKVM: open /dev/kvm read-write", true},
	{"trust-check", "path trust check of WithBinary's path: lstat of every component from /", true},
	{"open-version-cached", "open the binary, fstat it, its --version from the cache", true},
	{"socket-lock", "per-socket start lock: in-process lock, lock file, flock, stale-socket check", true},
	{"log-file", "VMM log file: mkdir, open without following symlinks, fstat", true},
	{"listen-fchmod-bind", "API socket: socket, fchmod 0600, bind, lstat, listen", true},
	{"event-pipe", "event monitor pipe", true},
	{"exec-spawner", "fork and exec from the verified descriptor, on the spawner thread", false},
	{"exec-direct", "(the same exec from the calling goroutine: the spawner's two thread hand-offs are the difference)", false},
	{"proc-stat", "(after the exec, overlapping CH's start-up) the start time from /proc/pid/stat, for Attach", false},
	{"ready-ping-up", "(reference) the readiness ping on a VMM that is already up", false},
	{"binary-path-warm", "(instead of trust-check and open-version-cached, for an embedded binary) the warm BinaryPath: one trust walk, lstat, open, fstat", false},
	{"start-to-ready", "StartProcess until the ping is answered, all of it", false},
}

// breakdown is the StartToReady breakdown table: each step's median, the
// steps before the exec summed, and what is left for CH (newest: the
// release the steps ran on).
func (r *results) breakdown(newest string) string {
	var s strings.Builder
	fmt.Fprintf(&s, "StartToReady breakdown (core BenchmarkStartSteps, CH %s; medians):\n\n| step | time | what |\n| --- | --- | --- |\n", newest)
	var pre time.Duration
	get := func(name string) (time.Duration, bool) { return r.median("BenchmarkStartSteps", name) }
	for _, st := range startSteps {
		d, ok := get(st.name)
		if !ok {
			continue
		}
		if st.pre {
			pre += d
		}
		fmt.Fprintf(&s, "| %s | %s | %s |\n", st.name, formatDuration(d), st.what)
	}
	total, ok1 := get("start-to-ready")
	exec, ok2 := get("exec-spawner")
	if ok1 && ok2 {
		fmt.Fprintf(&s, "| (sum) | %s | the steps before the exec |\n", formatDuration(pre))
		fmt.Fprintf(&s, "| (rest) | %s | start-to-ready less those and the exec: CH's start-up until it answers, and the answer's reading |\n", formatDuration(total-pre-exec))
	}
	base, ok3 := r.median("BenchmarkRealStartToReadyBaseline", newest)
	events, ok4 := r.median("BenchmarkRealStartToReadyEventsBaseline", newest)
	if ok3 && ok4 {
		fmt.Fprintf(&s, "| (CH event monitor) | %s | StartToReadyEventsBaseline less StartToReadyBaseline (%s): what --event-monitor costs CH |\n", formatDuration(events-base), newest)
	}
	return s.String()
}
