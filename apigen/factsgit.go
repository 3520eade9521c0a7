package main

// Reading a Cloud Hypervisor tag straight from git objects (no checkout):
// git rev-parse for the commit, git ls-tree for the file list, git cat-file
// --batch for the contents.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os/exec"
	"sort"
	"strconv"
	"strings"
)

// A sourceTree is the files of one Cloud Hypervisor commit.
type sourceTree interface {
	// Files returns every file path, sorted.
	Files() []string
	// Read returns the content of path.
	Read(path string) (string, error)
}

// memTree is a sourceTree held in memory (path → content).
type memTree map[string]string

// Files returns the paths of t, sorted.
func (t memTree) Files() []string {
	paths := make([]string, 0, len(t))
	for p := range t {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	return paths
}

// Read returns the content of path.
func (t memTree) Read(path string) (string, error) {
	s, ok := t[path]
	if !ok {
		return "", fmt.Errorf("%s: no such file", path)
	}
	return s, nil
}

// gitOutput runs git --git-dir gitDir args and returns its standard output.
func gitOutput(ctx context.Context, gitDir string, stdin io.Reader, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "git", append([]string{"--git-dir", gitDir}, args...)...)
	cmd.Stdin = stdin
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(errOut.String()))
	}
	return out.Bytes(), nil
}

// readGitTree returns the commit that tag names in the git directory
// gitDir and the files of that commit that keep passes, read in one
// git cat-file --batch.
func readGitTree(ctx context.Context, gitDir, tag string, keep func(path string) bool) (commit string, tree memTree, err error) {
	out, err := gitOutput(ctx, gitDir, nil, "rev-parse", "--verify", "--end-of-options", tag+"^{commit}")
	if err != nil {
		return "", nil, fmt.Errorf("%s is not a tag of the Cloud Hypervisor repository %s (fetch its tags): %w", tag, gitDir, err)
	}
	commit = strings.TrimSpace(string(out))
	out, err = gitOutput(ctx, gitDir, nil, "ls-tree", "-r", "-z", "--name-only", commit)
	if err != nil {
		return "", nil, err
	}
	var paths []string
	for _, p := range strings.Split(string(out), "\x00") {
		if p != "" && keep(p) {
			paths = append(paths, p)
		}
	}
	var req bytes.Buffer
	for _, p := range paths {
		fmt.Fprintf(&req, "%s:%s\n", commit, p)
	}
	out, err = gitOutput(ctx, gitDir, &req, "cat-file", "--batch")
	if err != nil {
		return "", nil, err
	}
	tree = memTree{}
	r := bufio.NewReader(bytes.NewReader(out))
	for _, p := range paths {
		header, err := r.ReadString('\n')
		if err != nil {
			return "", nil, fmt.Errorf("git cat-file: reading %s: %w", p, err)
		}
		fields := strings.Fields(header)
		if len(fields) != 3 || fields[1] != "blob" {
			return "", nil, fmt.Errorf("git cat-file: %s: unexpected header %q", p, strings.TrimSpace(header))
		}
		size, err := strconv.Atoi(fields[2])
		if err != nil {
			return "", nil, fmt.Errorf("git cat-file: %s: bad size in %q", p, strings.TrimSpace(header))
		}
		buf := make([]byte, size+1) // the content and a newline
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", nil, fmt.Errorf("git cat-file: reading %s: %w", p, err)
		}
		tree[p] = string(buf[:size])
	}
	return commit, tree, nil
}
