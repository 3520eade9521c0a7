package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/chvmm/chvmm/chsim/recording"
)

func testRelease(verbs ...string) release {
	r := release{tag: "v53.0", verbs: map[string]bool{}}
	for _, v := range verbs {
		r.verbs[v] = true
	}
	return r
}

// TestScriptIsWellFormed: every VMM is started before its steps and ends
// with an exit step; no step refers to a VMM that is gone; labels say what
// each call is.
func TestScriptIsWellFormed(t *testing.T) {
	steps := script(testRelease("resize-disk", "add-generic-vhost-user"))
	started, ended := map[int]bool{}, map[int]bool{}
	labels := map[string]bool{}
	for i, s := range steps {
		switch {
		case s.Kind == recording.KindStart:
			if started[s.VMM] {
				t.Errorf("step %d starts VMM %d again", i, s.VMM)
			}
			started[s.VMM] = true
			continue
		case !started[s.VMM] || ended[s.VMM]:
			t.Errorf("step %d (%s) is for VMM %d, which does not run", i, s.Label, s.VMM)
		case s.Kind == recording.KindExit:
			ended[s.VMM] = true
		}
		if s.Label == "" {
			t.Errorf("step %d has no label", i)
		}
		key := fmt.Sprint(s.VMM, "\x00", s.Label)
		if s.Kind == recording.KindCall && labels[key] {
			t.Errorf("step %d: label %q used twice in VMM %d", i, s.Label, s.VMM)
		}
		labels[key] = true
	}
	for vmm := range started {
		if !ended[vmm] {
			t.Errorf("VMM %d has no exit step: the recorder would leave it to be killed", vmm)
		}
	}
}

// TestScriptFollowsTheReleasesCHRemote: verbs the release's ch-remote lacks
// are not run.
func TestScriptFollowsTheReleasesCHRemote(t *testing.T) {
	verbs := func(r release) string {
		var out []string
		for _, s := range script(r) {
			if s.Kind == recording.KindCHRemote {
				out = append(out, recording.Verb(s.Args))
			}
		}
		return strings.Join(out, " ")
	}
	if v := verbs(testRelease()); strings.Contains(v, "resize-disk") || strings.Contains(v, "add-generic-vhost-user") {
		t.Errorf("a ch-remote without resize-disk and add-generic-vhost-user runs them: %s", v)
	}
	if v := verbs(testRelease("resize-disk", "add-generic-vhost-user")); !strings.Contains(v, "resize-disk") || !strings.Contains(v, "add-generic-vhost-user") {
		t.Errorf("verbs the release has are left out: %s", v)
	}
}

func TestHelpVerbs(t *testing.T) {
	help := "Usage: ch-remote [OPTIONS] <COMMAND>\n\nCommands:\n  add-disk   Add block device\n  resize-disk  Resize\n  help  Print this message\n\nOptions:\n  -h, --help\n"
	got := helpVerbs(help)
	if len(got) != 2 || !got["add-disk"] || !got["resize-disk"] {
		t.Errorf("helpVerbs = %v", got)
	}
}

func TestFindLine(t *testing.T) {
	log := []byte("noise CHVMM-GUEST-READY\n0\n1\nCHVMM-GUEST-READY\n0")
	end, ok := findLine(log, 0, recording.WaitMarker)
	if !ok || end != len("noise CHVMM-GUEST-READY\n") {
		t.Fatalf("first marker: %d %v", end, ok)
	}
	end, ok = findLine(log, end, recording.WaitCounter)
	if !ok || string(log[:end]) != "noise CHVMM-GUEST-READY\n0\n" {
		t.Fatalf("counter: %q %v", log[:end], ok)
	}
	end, ok = findLine(log, end, recording.WaitMarker)
	if !ok || end != len(log)-1 {
		t.Fatalf("second marker: %d %v", end, ok)
	}
	if _, ok := findLine(log, end, recording.WaitCounter); ok {
		t.Error("an unterminated last line counts")
	}
}
