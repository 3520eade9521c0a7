package chsim_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/chvmm/chvmm/chsim"
	"github.com/chvmm/chvmm/chsim/recording"
	"github.com/chvmm/chvmm/core/chtest"
)

// The recordings of what each real CH release answered to chrecord's
// script (make record-real), replayed against the simulator of that
// release: every answer must be the same, byte for byte once normalised.

const recordingsDir = "testdata/real"

// loadRecordings returns every committed recording, one per release.
func loadRecordings(t *testing.T) []*recording.Recording {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(recordingsDir, "v*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, paths, "no recordings in %s: run make record-real on a host with KVM and the CH binaries", recordingsDir)
	var recs []*recording.Recording
	for _, p := range paths {
		rec, err := recording.Load(p)
		require.NoError(t, err)
		require.Equal(t, strings.TrimSuffix(filepath.Base(p), ".json"), rec.Release, "%s records another release", p)
		recs = append(recs, rec)
	}
	return recs
}

// TestReplayReal replays, for every recorded release, the steps of the
// VMMs that the recording drives through the API.
func TestReplayReal(t *testing.T) {
	for _, rec := range loadRecordings(t) {
		t.Run(rec.Release, func(t *testing.T) {
			t.Parallel()
			r := newReplayer(t, rec)
			same, total := r.run(func(vmm int) bool { return !r.usesCHRemote(vmm) }, "")
			t.Logf("%s: %d of %d answers identical (API calls, snapshot listings, VMM exits)", rec.Release, same, total)
		})
	}
}

// TestReplayRealCHRemote runs each release's own ch-remote against the
// simulator of that release in the recorded order and compares its exit
// status and output with what it did against the real server.
func TestReplayRealCHRemote(t *testing.T) {
	for _, rec := range loadRecordings(t) {
		t.Run(rec.Release, func(t *testing.T) {
			t.Parallel()
			bin := chRemoteBinary(t, rec.Release)
			r := newReplayer(t, rec)
			same, total := r.run(r.usesCHRemote, bin)
			t.Logf("%s: %d of %d answers identical (ch-remote runs, the exit of their VMM)", rec.Release, same, total)
		})
	}
}

// chRemoteBinary returns release's ch-remote: under $CHVMM_TEST_BINARY_DIR,
// or in ../shared/ch-bin beside the repository (where CI has it). It skips
// the test when there is none.
func chRemoteBinary(t *testing.T, release string) string {
	t.Helper()
	var dirs []string
	if d := os.Getenv(chtest.BinaryDirEnv); d != "" {
		dirs = append(dirs, d)
	}
	dirs = append(dirs, filepath.Join("..", "..", "shared", "ch-bin"))
	for _, d := range dirs {
		p := filepath.Join(d, release, chtest.HostArch(), "ch-remote")
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			abs, err := filepath.Abs(p)
			require.NoError(t, err)
			return abs
		}
	}
	t.Skipf("no ch-remote of CH %s: looked in %s (set %s to a directory holding %s/%s/ch-remote)",
		release, strings.Join(dirs, " and "), chtest.BinaryDirEnv, release, chtest.HostArch())
	return ""
}

// replayer replays one recording against simulators.
type replayer struct {
	t    *testing.T
	rec  *recording.Recording
	dir  string
	norm recording.Normaliser
	srvs map[int]*chsim.Server
	sock map[int]string

	mu         sync.Mutex
	violations []chsim.Violation
}

func newReplayer(t *testing.T, rec *recording.Recording) *replayer {
	// t.TempDir's path is long; socket paths must stay under 108 bytes.
	dir, err := os.MkdirTemp("", "chsim-replay-")
	require.NoError(t, err)
	dir, err = filepath.EvalSymlinks(dir)
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(t, recording.CreateFiles(rec.Files, dir, chtest.PVHKernel()))
	r := &replayer{t: t, rec: rec, dir: dir, norm: recording.Normaliser{Dir: dir}, srvs: map[int]*chsim.Server{}, sock: map[int]string{}}
	t.Cleanup(func() {
		for _, s := range r.srvs {
			s.Close()
		}
	})
	return r
}

// usesCHRemote reports whether VMM vmm is driven by ch-remote.
func (r *replayer) usesCHRemote(vmm int) bool {
	for _, s := range r.rec.Steps {
		if s.VMM == vmm && s.Kind == recording.KindCHRemote {
			return true
		}
	}
	return false
}

// run replays the steps of the VMMs for which want is true and returns how
// many answers (calls, ch-remote runs, exits, listings) were identical and
// how many were compared. remote is the ch-remote binary.
func (r *replayer) run(want func(vmm int) bool, remote string) (same, total int) {
	t := r.t
	for i, s := range r.rec.Steps {
		if !want(s.VMM) {
			continue
		}
		name := s.Name(i)
		if s.NotReplayable != "" {
			t.Logf("%s: not replayed: %s", name, s.NotReplayable)
			continue
		}
		got, ok := r.step(name, s, remote)
		if !ok {
			continue
		}
		total++
		if s.Outcomes != nil {
			if slices.Contains(s.Outcomes, got) {
				same++
			} else {
				t.Errorf("%s: the simulator answers none of real CH %s's answers\nreal:      %s\nsimulator: %s", name, r.rec.Release, strings.Join(s.Outcomes, "\n       or: "), got)
			}
			continue
		}
		if want := r.expected(s); got == want {
			same++
		} else {
			t.Errorf("%s: the simulator differs from real CH %s\n%s", name, r.rec.Release, describeDiff(want, got))
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, v := range r.violations {
		if v.Kind == chsim.ResponseViolation {
			t.Errorf("the simulator's validator refuses an answer the replay expects: %v", v)
		}
	}
	return same, total
}

// expected is the recorded outcome of s, in the form step returns.
func (r *replayer) expected(s recording.Step) string {
	switch s.Kind {
	case recording.KindCall:
		if s.Status == 0 {
			return "0 " + s.Response
		}
		return answerText(s.Status, s.Header, s.Response)
	case recording.KindCHRemote:
		return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", s.ExitCode, s.Stdout, s.Stderr)
	case recording.KindExit:
		if strings.HasPrefix(s.Exit, "exit status ") {
			return s.Exit
		}
		return "still running"
	}
	return s.Response
}

// step runs one step against the simulator and returns its outcome; ok is
// false for steps that have none to compare.
func (r *replayer) step(name string, s recording.Step, remote string) (got string, ok bool) {
	t := r.t
	switch s.Kind {
	case recording.KindStart:
		sock := recording.Expand(s.Socket, r.dir)
		srv, err := chsim.Start(context.Background(), r.rec.Release, sock, chsim.WithViolationHook(func(v chsim.Violation) {
			r.mu.Lock()
			r.violations = append(r.violations, v)
			r.mu.Unlock()
		}))
		require.NoError(t, err, name)
		r.srvs[s.VMM], r.sock[s.VMM] = srv, sock
		return "", false
	case recording.KindCall:
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		a, err := recording.Do(ctx, r.sock[s.VMM], s.Method, recording.Expand(s.Path, r.dir), recording.Expand(s.Body, r.dir))
		if err != nil {
			return "0 " + recording.CallError(err), true
		}
		if s.Outcomes != nil {
			return recording.Outcome(a.Status, r.norm.Body(s.Path, a.Body)), true
		}
		return answerText(a.Status, r.norm.Header(a.Header), r.norm.Body(s.Path, a.Body)), true
	case recording.KindCHRemote:
		require.NotEmpty(t, remote, "%s: no ch-remote binary", name)
		args := make([]string, len(s.Args))
		for i, a := range s.Args {
			args[i] = recording.Expand(a, r.dir)
		}
		code, stdout, stderr, err := recording.RunCHRemote(context.Background(), remote, args)
		require.NoError(t, err, name)
		return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", code, r.norm.CHRemoteStdout(s.Args, stdout), r.norm.Text(stderr)), true
	case recording.KindExit:
		srv := r.srvs[s.VMM]
		if !strings.HasPrefix(s.Exit, "exit status ") {
			// Real CH still ran when the recorder gave up on it.
			select {
			case <-srv.Done():
				return fmt.Sprintf("exit status %d", srv.ExitCode()), true
			case <-time.After(100 * time.Millisecond):
				return "still running", true
			}
		}
		select {
		case <-srv.Done():
			return fmt.Sprintf("exit status %d", srv.ExitCode()), true
		case <-time.After(5 * time.Second):
			return "still running", true
		}
	case recording.KindList:
		names, err := recording.List(recording.Expand(s.Path, r.dir))
		if err != nil {
			return "error: " + err.Error(), true
		}
		return names, true
	case recording.KindGuest:
		return "", false // no guest runs in the simulator
	}
	t.Fatalf("%s: unknown step kind %q", name, s.Kind)
	return "", false
}

// answerText is an HTTP answer as the replay compares it.
func answerText(status int, header []string, body string) string {
	return fmt.Sprintf("%d\n%s\n\n%s", status, strings.Join(header, "\n"), body)
}

// describeDiff shows where got departs from want: both in full when they
// are short, else the stretch around the first difference.
func describeDiff(want, got string) string {
	i := 0
	for i < len(want) && i < len(got) && want[i] == got[i] {
		i++
	}
	if len(want)+len(got) < 600 {
		return fmt.Sprintf("real:      %s\nsimulator: %s", want, got)
	}
	from := max(0, i-150)
	return fmt.Sprintf("first difference at byte %d of %d (real) and %d (simulator):\n  real:      …%s…\n  simulator: …%s…",
		i, len(want), len(got), snippet(want, from, i+150), snippet(got, from, i+150))
}

func snippet(s string, from, to int) string {
	return s[min(from, len(s)):min(to, len(s))]
}
