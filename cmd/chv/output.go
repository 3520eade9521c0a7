package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/chvmm/chvmm/core"
)

// table writes aligned columns (text/tabwriter).
type table struct{ tw *tabwriter.Writer }

func newTable(w io.Writer) *table {
	return &table{tw: tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)}
}

// row writes one row; cells must not contain tabs or newlines.
func (t *table) row(cells ...string) {
	fmt.Fprintln(t.tw, strings.Join(cells, "\t"))
}

func (t *table) flush() { _ = t.tw.Flush() }

// emit writes v as indented JSON when --json is set, else calls human.
func (e *env) emit(v any, human func(w io.Writer)) error {
	if e.global.json {
		return writeJSON(e.stdout, v)
	}
	human(e.stdout)
	return nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// errorJSON is what --json prints on stderr for a failed command.
type errorJSON struct {
	Error    string        `json:"error"`
	ExitCode int           `json:"exit_code"`
	API      *apiErrorJSON `json:"api_error,omitempty"`
}

// apiErrorJSON is an answer of CH with an error status.
type apiErrorJSON struct {
	Operation  string   `json:"operation"`
	StatusCode int      `json:"status_code"`
	Messages   []string `json:"messages,omitempty"`
	Body       string   `json:"body,omitempty"`
}

// fail reports err on stderr (`chv: message`, with CH's own message chain
// for an API error; a JSON object with --json) and returns the exit status.
func (e *env) fail(err error) int {
	code := exitFailed
	var ue usageError
	if errors.As(err, &ue) {
		code = exitUsage
	}
	var ae *core.APIError
	hasAPI := errors.As(err, &ae)
	if e.global.json {
		out := errorJSON{Error: err.Error(), ExitCode: code}
		if hasAPI {
			out.API = &apiErrorJSON{Operation: ae.Operation, StatusCode: ae.StatusCode, Messages: ae.Messages, Body: ae.Body}
		}
		_ = writeJSON(e.stderr, out)
		return code
	}
	fmt.Fprintf(e.stderr, "chv: %v\n", err)
	if hasAPI && len(ae.Messages) > 0 {
		fmt.Fprintf(e.stderr, "Cloud Hypervisor answered %s (HTTP %d):\n", ae.Operation, ae.StatusCode)
		for i, m := range ae.Messages {
			fmt.Fprintf(e.stderr, "  %s%s\n", strings.Repeat("  ", i), m)
		}
	}
	return code
}

// ms formats a duration for tables: "12ms", "1.204s".
func ms(d time.Duration) string {
	if d < 10*time.Millisecond {
		return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000)
	}
	if d < time.Second {
		return fmt.Sprintf("%dms", d.Milliseconds())
	}
	return fmt.Sprintf("%.3fs", d.Seconds())
}

// orDash returns s, or "-" when it is empty.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// humanBytes formats a byte count as CH sizes are usually given: "512M".
func humanBytes(n int64) string {
	units := []string{"", "K", "M", "G", "T"}
	i := 0
	for i < len(units)-1 && n != 0 && n%1024 == 0 {
		n /= 1024
		i++
	}
	return fmt.Sprintf("%d%s", n, units[i])
}
