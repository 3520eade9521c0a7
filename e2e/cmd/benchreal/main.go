// Command benchreal runs the real-CH benchmarks of e2e/bench_real_test.go
// and prints, per release, each chvmm benchmark against its baseline: the
// two medians, their ratio and the goal (make bench-real):
//
//	go run ./e2e/cmd/benchreal -binary-dir ../shared/ch-bin -count 3
//
// It builds the e2e test binary once, then runs it -count rounds. In each
// round every pair runs for every release found under
// <binary-dir>/vNN.N/<arch>/cloud-hypervisor, one test process per side,
// the two sides one right after the other, in an order that alternates
// from round to round, so that a busy machine slows both sides alike. A
// side's figure is the median over the rounds of the med-ns/op each run
// reports (the median of its iterations); ratio is chvmm's over the
// baseline's. Every run's output is appended to -out (go test -bench
// format), for benchstat.
//
// The benchmarks need /dev/kvm and the binaries; without them they skip,
// and benchreal says why and fails: it has nothing to report.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/chvmm/chvmm/core/chtest"
)

func main() {
	binDir := flag.String("binary-dir", "../shared/ch-bin", "directory of CH binaries, laid out <dir>/vNN.N/<arch>/cloud-hypervisor")
	count := flag.Int("count", 3, "rounds: runs of each benchmark per release and side")
	out := flag.String("out", "", "file the raw benchmark output is written to (default: none)")
	only := flag.String("bench", "", "run only the pairs whose name matches one of these comma-separated names, such as StartToReady,Ping")
	versions := flag.String("versions", "", "comma-separated releases to run, such as v48.0,v53.0 (default: every one under -binary-dir)")
	steps := flag.Bool("steps", true, "also time StartProcess step by step (core's BenchmarkStartSteps, on the newest release) for the StartToReady breakdown")
	flag.Parse()
	if flag.NArg() > 0 || *count < 1 {
		flag.Usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *binDir, *count, *out, *only, *versions, *steps); err != nil {
		fmt.Fprintf(os.Stderr, "benchreal: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, binDir string, count int, outPath, only, versions string, steps bool) error {
	binDir, err := filepath.Abs(binDir)
	if err != nil {
		return err
	}
	rels, err := findReleases(binDir, chtest.HostArch())
	if err != nil {
		return err
	}
	if versions != "" {
		rels = selectNames(rels, strings.Split(versions, ","))
	}
	pairs := selectPairs(benchPairs, only)
	if len(rels) == 0 || len(pairs) == 0 {
		return fmt.Errorf("nothing to run: releases %v under %s, pairs %v", rels, binDir, pairNames(pairs))
	}
	tmp, err := os.MkdirTemp("", "benchreal-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	testBin, err := buildTest(ctx, tmp, "e2e")
	if err != nil {
		return err
	}
	coreBin := ""
	if steps {
		if coreBin, err = buildTest(ctx, tmp, "core"); err != nil {
			return err
		}
	}
	var raw io.Writer = io.Discard
	if outPath != "" {
		f, err := os.Create(outPath)
		if err != nil {
			return err
		}
		defer f.Close()
		raw = f
	}
	env := environment()
	fmt.Fprintf(os.Stderr, "benchreal: %d rounds of %v on %v (%s)\n", count, pairNames(pairs), rels, env)
	res := newResults()
	began := time.Now()
	for round := range count {
		for _, p := range pairs {
			for _, rel := range rels {
				for _, fn := range p.order(round) {
					if err := runOne(ctx, testBin, binDir, fn, rel, p.iterations, raw, res); err != nil {
						return err
					}
				}
			}
		}
		if coreBin != "" {
			if err := runSteps(ctx, coreBin, binDir, raw, res); err != nil {
				res.fail("BenchmarkStartSteps", "")
				fmt.Fprintf(os.Stderr, "benchreal: %v\n", err)
			}
		}
		fmt.Fprintf(os.Stderr, "benchreal: round %d of %d done (%v)\n", round+1, count, time.Since(began).Round(time.Second))
	}
	if len(res.skips) > 0 && len(res.runs) == 0 {
		return fmt.Errorf("nothing measured: %s", strings.Join(res.skipReasons(), "; "))
	}
	fmt.Printf("Real-CH benchmarks: %d rounds, %s, %v\n\n", count, env, time.Since(began).Round(time.Second))
	fmt.Print(res.table(pairs, rels))
	fmt.Println()
	fmt.Print(res.summary(pairs, rels))
	if coreBin != "" {
		fmt.Println()
		fmt.Print(res.breakdown(rels[len(rels)-1]))
	}
	if len(res.skips) > 0 {
		fmt.Printf("\nskipped: %s\n", strings.Join(res.skipReasons(), "; "))
	}
	if n := res.failedRuns(); n > 0 {
		return fmt.Errorf("%d runs failed (their output is above and in -out)", n)
	}
	return nil
}

// tail is the end of out, at most n bytes.
func tail(out []byte, n int) []byte {
	if len(out) > n {
		return out[len(out)-n:]
	}
	return out
}

// buildTest builds the test binary of the workspace module name (e2e,
// core) into dir.
func buildTest(ctx context.Context, dir, name string) (string, error) {
	bin := filepath.Join(dir, name+".test")
	build := exec.CommandContext(ctx, "go", "test", "-c", "-o", bin, "github.com/chvmm/chvmm/"+name)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return "", fmt.Errorf("building the %s test binary: %w", name, err)
	}
	return bin, nil
}

// runSteps runs core's BenchmarkStartSteps once and records each step.
func runSteps(ctx context.Context, coreBin, binDir string, raw io.Writer, res *results) error {
	cmd := exec.CommandContext(ctx, coreBin, "-test.run", "^$", "-test.bench", "^BenchmarkStartSteps$",
		"-test.benchtime", fmt.Sprintf("%dx", stepIterations), "-test.count", "1", "-test.timeout", "10m")
	cmd.Env = append(os.Environ(), "CHVMM_TEST_BINARY_DIR="+binDir)
	out, err := cmd.CombinedOutput()
	_, _ = raw.Write(out)
	if err != nil {
		return fmt.Errorf("core BenchmarkStartSteps failed (%w); its output ends with:\n%s", err, tail(out, 4000))
	}
	for _, st := range startSteps {
		if r, _ := parseOutput(string(out), "BenchmarkStartSteps", st.name); r != nil {
			res.add("BenchmarkStartSteps", st.name, *r)
			if d, ok := metric(r.rest, "proc-stat-ns/op"); ok {
				res.add("BenchmarkStartSteps", "proc-stat", result{median: time.Duration(d)})
			}
		}
	}
	return nil
}

// runOne runs benchmark fn on release rel in a test process of its own and
// records its result.
func runOne(ctx context.Context, testBin, binDir, fn, rel string, iterations int, raw io.Writer, res *results) error {
	pattern := "^" + fn + "$/^" + strings.ReplaceAll(rel, ".", `\.`) + "$"
	cmd := exec.CommandContext(ctx, testBin, "-test.run", "^$", "-test.bench", pattern,
		"-test.benchtime", fmt.Sprintf("%dx", iterations), "-test.count", "1", "-test.timeout", "10m")
	cmd.Env = append(os.Environ(), "CHVMM_TEST_BINARY_DIR="+binDir)
	out, err := cmd.CombinedOutput()
	_, _ = raw.Write(out)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil {
		// A failed run (a VMM that failed or hung) is reported, and the
		// other runs go on.
		res.fail(fn, rel)
		fmt.Fprintf(os.Stderr, "benchreal: %s on %s failed (%v); its output ends with:\n%s\n", fn, rel, err, tail(out, 4000))
		return nil
	}
	found, skip := parseOutput(string(out), fn, rel)
	switch {
	case found != nil:
		res.add(fn, rel, *found)
	case skip != "":
		res.skip(fn, rel, skip)
	default:
		// No sub-benchmark of that name ran: a binary of a release this
		// chvmm does not register.
		res.skip(fn, rel, fmt.Sprintf("no %s/%s ran: is %s a release this chvmm registers?", fn, rel, rel))
	}
	return nil
}

// findReleases lists the releases with a binary under dir, oldest first.
func findReleases(dir, arch string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("binary directory: %w", err)
	}
	var rels []string
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), "v") {
			continue
		}
		if fi, err := os.Stat(filepath.Join(dir, e.Name(), arch, "cloud-hypervisor")); err == nil && fi.Mode().IsRegular() {
			rels = append(rels, e.Name())
		} else if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
	}
	sortVersions(rels)
	return rels, nil
}

// environment describes the machine for the report's header.
func environment() string {
	cpu := "unknown CPU"
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(data)) {
			if name, ok := strings.CutPrefix(line, "model name"); ok {
				cpu = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(name), ":"))
				break
			}
		}
	}
	load := ""
	if data, err := os.ReadFile("/proc/loadavg"); err == nil {
		load = ", load " + strings.Join(strings.Fields(string(data))[:3], " ")
	}
	return fmt.Sprintf("%d CPUs (%s), %s%s", runtime.NumCPU(), cpu, runtime.Version(), load)
}
