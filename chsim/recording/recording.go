// Package recording holds what a real Cloud Hypervisor (CH) release
// answered to a fixed script of API calls and ch-remote invocations, as
// e2e/cmd/chrecord records it (chsim/testdata/real/vNN.N.json), and the
// pieces both sides of a comparison share: the file format, a raw HTTP
// client for CH's unix socket, a ch-remote runner and the normalisation
// that makes two runs (or CH and chsim) comparable byte for byte.
//
// Paths in a recording are relative to a working directory written
// "<tmp>": [Expand] turns them into real paths, [Normaliser] turns real
// paths (and pids, timestamps, orders of Rust hash maps) back into the
// recorded form.
package recording

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Step kinds.
const (
	// KindStart starts VMM number Step.VMM, serving Step.Socket.
	KindStart = "start"
	// KindCall is one HTTP request to the VMM and its answer.
	KindCall = "call"
	// KindExit waits for the VMM to end; Step.Exit is how it ended.
	KindExit = "exit"
	// KindGuest waits for the guest to print its ready marker (real CH
	// only: the simulator runs no guest).
	KindGuest = "guest"
	// KindList lists the names in directory Step.Path (Step.Response,
	// one name a line, sorted).
	KindList = "ls"
	// KindCHRemote runs the release's ch-remote with Step.Args.
	KindCHRemote = "ch-remote"
)

// What a KindGuest step waits for.
const (
	// WaitMarker waits for a new ready marker: the guest booted or reset.
	WaitMarker = "marker"
	// WaitCounter waits for a new counter line: the guest runs on.
	WaitCounter = "counter"
)

// File kinds of the working directory.
const (
	// FileDir is a directory.
	FileDir = "dir"
	// FileKernel is the chtest PVH guest kernel.
	FileKernel = "kernel"
	// FileZeroes is a file of File.Size zero bytes (a raw disk image).
	FileZeroes = "zeroes"
	// FileText is a file holding File.Content.
	FileText = "text"
)

// A Recording is the script as one CH release answered it.
type Recording struct {
	// Release is the CH release tag ("v49.0").
	Release string `json:"release"`
	// Version is what the binary's --version printed (first line).
	Version string `json:"version"`
	// Files are created in the working directory before the first step.
	Files []File `json:"files"`
	// Steps run in order.
	Steps []Step `json:"steps"`
}

// A File is created in the working directory before the script runs.
type File struct {
	Path    string `json:"path"` // "<tmp>/disk.raw"
	Kind    string `json:"kind"` // FileDir, FileKernel, FileZeroes, FileText
	Size    int64  `json:"size,omitempty"`
	Content string `json:"content,omitempty"`
}

// A Step is one action of the script and, for calls, what CH answered.
type Step struct {
	Kind  string `json:"kind"`
	VMM   int    `json:"vmm,omitempty"`
	Label string `json:"label,omitempty"`
	// Socket is the API socket of a started VMM.
	Socket string `json:"socket,omitempty"`

	// Method, Path and Body are the request of a call, the body exactly
	// as sent but for placeholders (see Expand).
	Method string `json:"method,omitempty"`
	Path   string `json:"path,omitempty"`
	Body   string `json:"body,omitempty"`
	// Status, Header and Response are CH's answer, normalised.
	Status   int      `json:"status,omitempty"`
	Header   []string `json:"header,omitempty"`
	Response string   `json:"response,omitempty"`

	// Args are ch-remote's arguments (after the program name).
	Args []string `json:"args,omitempty"`
	// ExitCode, Stdout and Stderr are what ch-remote did.
	ExitCode int    `json:"exit_code,omitempty"`
	Stdout   string `json:"stdout,omitempty"`
	Stderr   string `json:"stderr,omitempty"`

	// Exit is how a VMM ended ("exit status 0", "signal: killed").
	Exit string `json:"exit,omitempty"`

	// Wait is what a KindGuest step waits for in the serial log at Path:
	// WaitMarker or WaitCounter. Its Response is what happened.
	Wait string `json:"wait,omitempty"`

	// Outcomes, when set, are the answers ("500 [...]", "0 no answer: …")
	// the call may get, one or another from run to run: real CH races
	// with itself there. The recording keeps the list, not the answer of
	// one run.
	Outcomes []string `json:"outcomes,omitempty"`

	// NotReplayable, when set, says why the simulator cannot reproduce
	// this step (it needs a guest that really runs, …); replays skip it.
	NotReplayable string `json:"not_replayable,omitempty"`
}

// Outcome is how Outcomes writes an answer: the status and the body, or
// 0 and CallError's text.
func Outcome(status int, body string) string { return fmt.Sprintf("%d %s", status, body) }

// Name is how test output and errors refer to the step.
func (s Step) Name(i int) string {
	switch s.Kind {
	case KindCall:
		return fmt.Sprintf("step %d, VMM %d: %s %s (%s)", i, s.VMM, s.Method, s.Path, s.Label)
	case KindCHRemote:
		return fmt.Sprintf("step %d, VMM %d: ch-remote %s (%s)", i, s.VMM, strings.Join(s.Args, " "), s.Label)
	}
	return fmt.Sprintf("step %d, VMM %d: %s (%s)", i, s.VMM, s.Kind, s.Label)
}

// Load reads a recording file.
func Load(path string) (*Recording, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read recording: %w", err)
	}
	var r Recording
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("recording %s is not valid (re-record it with make record-real): %w", path, err)
	}
	if r.Release == "" || len(r.Steps) == 0 {
		return nil, fmt.Errorf("recording %s names no release or has no steps; re-record it with make record-real", path)
	}
	return &r, nil
}

// Marshal encodes r as indented JSON, one member a line, ending in a
// newline: the same recording always gives the same bytes.
func (r *Recording) Marshal() ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Save writes r to path atomically.
func (r *Recording) Save(path string) error {
	b, err := r.Marshal()
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// Placeholders of recorded requests and answers.
const (
	// TmpPlaceholder stands for the working directory.
	TmpPlaceholder = "<tmp>"
	// PIDPlaceholder stands for the VMM's process id.
	PIDPlaceholder = "<pid>"
	// TimePlaceholder stands for a timestamp.
	TimePlaceholder = "<time>"
	padPrefix       = "<pad:"
)

// Pad is the placeholder for n bytes of 'x' in a request body (an
// oversized body is recorded without its padding).
func Pad(n int) string { return padPrefix + strconv.Itoa(n) + ">" }

// Expand turns a recorded string into what is sent: TmpPlaceholder
// becomes dir and Pad(n) n bytes of 'x'.
func Expand(s, dir string) string {
	s = strings.ReplaceAll(s, TmpPlaceholder, dir)
	for {
		i := strings.Index(s, padPrefix)
		if i < 0 {
			return s
		}
		j := strings.IndexByte(s[i:], '>')
		if j < 0 {
			return s
		}
		n, err := strconv.Atoi(s[i+len(padPrefix) : i+j])
		if err != nil || n < 0 {
			return s // not a placeholder: leave it
		}
		s = s[:i] + strings.Repeat("x", n) + s[i+j+1:]
	}
}

// CreateFiles creates files in dir (TmpPlaceholder in their paths), the
// kernel ones with kernel's bytes.
func CreateFiles(files []File, dir string, kernel []byte) error {
	for _, f := range files {
		p := Expand(f.Path, dir)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		var err error
		switch f.Kind {
		case FileDir:
			err = os.MkdirAll(p, 0o755)
		case FileKernel:
			err = os.WriteFile(p, kernel, 0o644)
		case FileZeroes:
			err = os.WriteFile(p, nil, 0o644)
			if err == nil {
				err = os.Truncate(p, f.Size)
			}
		case FileText:
			err = os.WriteFile(p, []byte(Expand(f.Content, dir)), 0o644)
		default:
			err = fmt.Errorf("unknown kind %q", f.Kind)
		}
		if err != nil {
			return fmt.Errorf("create %s: %w", p, err)
		}
	}
	return nil
}

// List returns the names in directory dir, sorted, one a line.
func List(dir string) (string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return strings.Join(names, "\n"), nil // ReadDir sorts by name
}
