package core_test

import (
	"errors"
	"fmt"
	"go/ast"
	"go/build"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The repository's README.md shows code; make test proves that it compiles
// against the current API and says what the code really says. Each ```go
// block of the README follows a marker naming where its code lives:
//
//	<!-- go: core.ExampleStartProcess -->          a function: directory (from the repository root) . name
//	<!-- go: e2e/example_install_test.go -->       a whole file (for an import block)
//
// and every line of the block, indentation and blank lines aside, must be a
// line of that function (or file), in the same order; the function may have
// more lines in between. A line that is only "…" or "// …" stands for
// omitted code; a "…" within a line stands for any text, over several lines
// if need be (`if err != nil { … }`). Runs of spaces count as one, so the
// README may align comments its own way. The function is compiled by
// make test (go vet and go test of every module), usually an Example
// function without an Output comment (one that needs KVM is compiled, not
// run).

// readmeMarker is the line before a ```go block that names its code.
var readmeMarker = regexp.MustCompile(`^<!--\s*go:\s*(\S+)\s*-->$`)

// A readmeBlock is one ```go block of the README.
type readmeBlock struct {
	fence  int      // line number of its opening fence
	target string   // what its marker names; "" without a marker
	lines  []string // its code lines
	lineNo []int    // their line numbers
}

// readmeGoBlocks returns the ```go blocks of a README, and an error for each
// marker that is not right before one.
func readmeGoBlocks(text string) (blocks []readmeBlock, errs []error) {
	lines := strings.Split(text, "\n")
	marker, markerLine := "", 0 // the last marker seen, not yet used
	staleMarker := func() {
		if marker != "" {
			errs = append(errs, fmt.Errorf("README.md:%d: marker <!-- go: %s --> is not right before a ```go block; move it there or remove it", markerLine, marker))
		}
		marker = ""
	}
	for i := 0; i < len(lines); i++ {
		line := strings.TrimSpace(lines[i])
		if m := readmeMarker.FindStringSubmatch(line); m != nil {
			staleMarker()
			marker, markerLine = m[1], i+1
			continue
		}
		if line == "" {
			continue // a blank line may separate the marker from its block
		}
		if !strings.HasPrefix(line, "```") {
			staleMarker()
			continue
		}
		lang := strings.TrimSpace(strings.TrimPrefix(line, "```"))
		b := readmeBlock{fence: i + 1}
		for i++; i < len(lines) && strings.TrimSpace(lines[i]) != "```"; i++ {
			b.lines = append(b.lines, lines[i])
			b.lineNo = append(b.lineNo, i+1)
		}
		if lang != "go" {
			staleMarker()
			continue
		}
		b.target = marker
		marker = ""
		blocks = append(blocks, b)
	}
	staleMarker()
	return blocks, errs
}

// normaliseCode trims each line, makes each run of spaces one space and
// drops empty lines; it returns the lines kept and their indices.
func normaliseCode(lines []string) (kept []string, index []int) {
	for i, l := range lines {
		l = strings.Join(strings.Fields(l), " ")
		if l != "" {
			kept = append(kept, l)
			index = append(index, i)
		}
	}
	return kept, index
}

// readmeLinePattern matches a normalised README line as a whole line of
// normalised source, where "…" stands for any text, newlines included.
func readmeLinePattern(line string) *regexp.Regexp {
	pieces := strings.Split(line, "…")
	for i := range pieces {
		if i > 0 {
			pieces[i] = strings.TrimLeft(pieces[i], " ")
		}
		if i < len(pieces)-1 {
			pieces[i] = strings.TrimRight(pieces[i], " ")
		}
		pieces[i] = regexp.QuoteMeta(pieces[i])
	}
	return regexp.MustCompile(`(?m)^` + strings.Join(pieces, `(?s:.*?)`) + `$`)
}

// isPlaceholder reports a README line that only stands for omitted code.
func isPlaceholder(normalised string) bool {
	return normalised == "…" || normalised == "// …"
}

// checkReadmeBlock checks that b's code is in src, the source of what its
// marker names (described by where).
func checkReadmeBlock(b readmeBlock, src, where string) error {
	lines, index := normaliseCode(b.lines)
	srcLines, _ := normaliseCode(strings.Split(src, "\n"))
	hay := strings.Join(srcLines, "\n")
	pos, checked := 0, 0
	for i, l := range lines {
		if isPlaceholder(l) {
			continue
		}
		checked++
		re := readmeLinePattern(l)
		loc := re.FindStringIndex(hay[pos:])
		if loc == nil {
			how := "is not a line of"
			if re.MatchString(hay) {
				how = "is out of order in"
			}
			return fmt.Errorf("README.md:%d: %q %s %s (the ```go block at line %d must be its code, in order): change the README or the code",
				b.lineNo[index[i]], l, how, where, b.fence)
		}
		pos += loc[1]
		if pos < len(hay) && hay[pos] == '\n' {
			pos++
		}
	}
	if checked == 0 {
		return fmt.Errorf("README.md:%d: the ```go block has no code to check", b.fence)
	}
	return nil
}

// readmeSource returns the source text of what a marker names, under the
// repository root, and a description of it for messages: a function
// ("core/api.ExampleDirectBoot": directory and name) or a file
// ("e2e/example_install_test.go"). It must be Go that make test compiles:
// in a module of go.work, not under testdata, in a file this platform
// builds.
func readmeSource(root, target string) (src, where string, err error) {
	dir, name, file := "", "", ""
	if strings.HasSuffix(target, ".go") {
		dir, file = filepath.Split(filepath.FromSlash(target))
	} else if i := strings.LastIndex(target, "."); i > 0 && token.IsIdentifier(target[i+1:]) {
		dir, name = filepath.FromSlash(target[:i]), target[i+1:]
	} else {
		return "", "", fmt.Errorf("%q names neither a function (dir.Name, such as core.ExampleStartProcess) nor a .go file", target)
	}
	dir = filepath.Clean(dir)
	if err := checkCompiledDir(root, dir); err != nil {
		return "", "", fmt.Errorf("%s: %w", target, err)
	}
	entries, err := os.ReadDir(filepath.Join(root, dir))
	if err != nil {
		return "", "", fmt.Errorf("%s: %w", target, err)
	}
	fset := token.NewFileSet()
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".go") || (file != "" && e.Name() != file) {
			continue
		}
		path := filepath.Join(root, dir, e.Name())
		rel := filepath.ToSlash(filepath.Join(dir, e.Name()))
		if ok, err := build.Default.MatchFile(filepath.Join(root, dir), e.Name()); err != nil || !ok {
			if file != "" {
				return "", "", fmt.Errorf("%s is not built on %s/%s (build constraints), so make test would not compile it", rel, build.Default.GOOS, build.Default.GOARCH)
			}
			continue
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return "", "", err
		}
		if file != "" {
			if _, err := parser.ParseFile(fset, path, data, parser.SkipObjectResolution); err != nil {
				return "", "", err
			}
			return string(data), rel, nil
		}
		f, err := parser.ParseFile(fset, path, data, parser.ParseComments|parser.SkipObjectResolution)
		if err != nil {
			return "", "", err
		}
		for _, d := range f.Decls {
			if fd, ok := d.(*ast.FuncDecl); ok && fd.Recv == nil && fd.Name.Name == name {
				start, end := fset.Position(fd.Pos()).Offset, fset.Position(fd.End()).Offset
				return string(data[start:end]), fmt.Sprintf("func %s (%s:%d)", name, rel, fset.Position(fd.Pos()).Line), nil
			}
		}
	}
	if file != "" {
		return "", "", fmt.Errorf("%s: no such file", target)
	}
	return "", "", fmt.Errorf("%s: no func %s in %s", target, name, filepath.ToSlash(dir))
}

// checkCompiledDir fails for a directory that make test does not compile:
// outside the repository, under testdata or a directory go ignores, or
// not in a module of go.work.
func checkCompiledDir(root, dir string) error {
	parts := strings.Split(filepath.ToSlash(dir), "/")
	for _, p := range parts {
		if p == ".." || p == "testdata" || strings.HasPrefix(p, ".") && p != "." || strings.HasPrefix(p, "_") {
			return fmt.Errorf("directory %s is not compiled by make test", filepath.ToSlash(dir))
		}
	}
	work, err := os.ReadFile(filepath.Join(root, "go.work"))
	if err != nil {
		return err
	}
	var used []string
	for _, l := range strings.Split(string(work), "\n") {
		f := strings.Fields(l)
		if len(f) > 0 && f[0] == "use" {
			f = f[1:]
		}
		if len(f) == 1 && strings.HasPrefix(f[0], "./") {
			used = append(used, strings.TrimPrefix(f[0], "./"))
		}
	}
	for d := filepath.ToSlash(dir); ; d = filepath.ToSlash(filepath.Dir(d)) {
		if _, err := os.Stat(filepath.Join(root, d, "go.mod")); err == nil {
			if slices.Contains(used, d) {
				return nil
			}
			return fmt.Errorf("module %s is not in go.work, so make test does not compile it", d)
		}
		if d == "." {
			return fmt.Errorf("directory %s is in no module", filepath.ToSlash(dir))
		}
	}
}

// checkReadme checks every ```go block of the README at root/README.md and
// returns how many it checked and what is wrong.
func checkReadme(root string) (checked int, errs []error) {
	text, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		return 0, []error{err}
	}
	blocks, errs := readmeGoBlocks(string(text))
	for _, b := range blocks {
		if b.target == "" {
			errs = append(errs, fmt.Errorf("README.md:%d: a ```go block without a marker: put <!-- go: dir.ExampleName --> (or <!-- go: dir/file.go -->) on the line before it, naming the function (or file) that holds its code, such as core.ExampleStartProcess in core/example_process_test.go", b.fence))
			continue
		}
		src, where, err := readmeSource(root, b.target)
		if err != nil {
			errs = append(errs, fmt.Errorf("README.md:%d: <!-- go: %s -->: %w", b.fence, b.target, err))
			continue
		}
		if err := checkReadmeBlock(b, src, where); err != nil {
			errs = append(errs, err)
			continue
		}
		checked++
	}
	return checked, errs
}

// TestReadmeGoBlocks checks every ```go block of the repository's README.
func TestReadmeGoBlocks(t *testing.T) {
	root := ".."
	if _, err := os.Stat(filepath.Join(root, "go.work")); errors.Is(err, os.ErrNotExist) {
		t.Skip("not in the chvmm repository (no ../go.work): no README to check")
	}
	checked, errs := checkReadme(root)
	for _, err := range errs {
		t.Error(err)
	}
	assert.NotZero(t, checked, "README.md has no ```go block")
	t.Logf("%d ```go blocks of README.md checked", checked)
}

// TestReadmeCheckerRefuses proves the README check fails where it should:
// a repository in a temporary directory, with a README of every mistake.
func TestReadmeCheckerRefuses(t *testing.T) {
	root := t.TempDir()
	write := func(name, text string) {
		t.Helper()
		require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(root, name)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(root, name), []byte(text), 0o644))
	}
	write("go.work", "go 1.26.0\n\nuse (\n\t./m\n)\n")
	write("m/go.mod", "module example.com/m\n")
	write("m/x_test.go", `package m

import "fmt"

func ExampleF() {
	a := 1
	if a > 0 {
		fmt.Println(a)
	}
	b := a  // aligned
	fmt.Println(b)
}
`)
	write("m/ignored.go", "//go:build ignore\n\npackage m\n\nfunc G() {}\n")
	write("other/go.mod", "module example.com/other\n")
	write("other/y.go", "package other\n\nfunc H() {}\n")
	write("m/testdata/z.go", "package z\n\nfunc Z() {}\n")

	readme := func(blocks ...string) {
		t.Helper()
		write("README.md", "# t\n\n"+strings.Join(blocks, "\n\n")+"\n")
	}
	check := func() []string {
		t.Helper()
		_, errs := checkReadme(root)
		var msgs []string
		for _, err := range errs {
			msgs = append(msgs, err.Error())
		}
		return msgs
	}
	block := func(marker, code string) string {
		if marker != "" {
			marker = "<!-- go: " + marker + " -->\n"
		}
		return marker + "```go\n" + code + "\n```"
	}

	// Accepted: a subset in order, placeholders, a "…" over lines, other
	// spacing, a whole file, other fences without markers.
	readme(block("m.ExampleF", "a := 1\n…\nif a > 0 { … }\n\tb := a // aligned"),
		block("m/x_test.go", "import \"fmt\"\n// …\nfmt.Println(b)"),
		"```sh\nmake test\n```")
	checked, errs := checkReadme(root)
	assert.Empty(t, errs)
	assert.Equal(t, 2, checked)

	for _, c := range []struct{ readme, want string }{
		{block("", "a := 1"), "README.md:3: a ```go block without a marker: put <!-- go: dir.ExampleName -->"},
		{block("m.ExampleF", "a := 2"), `README.md:5: "a := 2" is not a line of func ExampleF (m/x_test.go:5)`},
		{block("m.ExampleF", "fmt.Println(b)\na := 1"), `README.md:6: "a := 1" is out of order in func ExampleF`},
		{block("m.ExampleF", "a := 1\na := 1"), `README.md:6: "a := 1" is out of order in func ExampleF`},
		{block("m.ExampleF", "fmt.Println"), `"fmt.Println" is not a line of func ExampleF`},
		{block("m.ExampleF", "…"), "README.md:4: the ```go block has no code to check"},
		{block("m.Nope", "a := 1"), "<!-- go: m.Nope -->: m.Nope: no func Nope in m"},
		{block("m.G", "func G() {}"), "no func G in m"},
		{block("m/ignored.go", "package m"), "m/ignored.go is not built on"},
		{block("m/testdata.Z", "func Z() {}"), "directory m/testdata is not compiled by make test"},
		{block("other.H", "func H() {}"), "module other is not in go.work"},
		{block("m", "a := 1"), `"m" names neither a function`},
		{"<!-- go: m.ExampleF -->\ntext\n\n" + block("m.ExampleF", "a := 1"), "README.md:3: marker <!-- go: m.ExampleF --> is not right before a ```go block"},
	} {
		readme(c.readme)
		msgs := check()
		if assert.Len(t, msgs, 1, c.readme) {
			assert.Contains(t, msgs[0], c.want)
		}
	}
}
