package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/chvmm/chvmm/core"
)

// advisoryJSON is one known advisory of a CH release (core.Advisory) in
// --json output.
type advisoryJSON struct {
	// ID is the CVE, or the upstream issue ("CH#8358").
	ID      string   `json:"id"`
	Aliases []string `json:"aliases,omitempty"`
	// Kind is "security" or "data-loss".
	Kind    string `json:"kind"`
	Summary string `json:"summary"`
	// Affected are the embedded releases it affects.
	Affected []string `json:"affected"`
	// FixedIn is the first release with the fix; "" when none has it yet.
	FixedIn string   `json:"fixed_in"`
	Sources []string `json:"sources"`
}

// advisoriesOf returns r's known advisories for --json (never nil, so
// that a release without any shows an empty list).
func advisoriesOf(r *core.Release) []advisoryJSON {
	out := []advisoryJSON{}
	for _, a := range r.Advisories() {
		j := advisoryJSON{ID: a.ID, Kind: string(a.Kind), Summary: a.Summary, Affected: a.Affected, FixedIn: a.FixedIn, Sources: a.Sources}
		if len(a.Aliases) > 0 {
			j.Aliases = a.Aliases
		}
		out = append(out, j)
	}
	return out
}

// advisoryCount says how many advisories as holds, by kind (security
// first), for a table cell: "4 (2 security, 2 data-loss)", or "-" for none.
func advisoryCount(as []advisoryJSON) string {
	if len(as) == 0 {
		return "-"
	}
	n := map[string]int{}
	for _, a := range as {
		n[a.Kind]++
	}
	kinds := slices.Sorted(maps.Keys(n))
	if i := slices.Index(kinds, string(core.AdvisorySecurity)); i > 0 {
		kinds = append(append([]string{kinds[i]}, kinds[:i]...), kinds[i+1:]...)
	}
	parts := make([]string, len(kinds))
	for i, k := range kinds {
		parts[i] = fmt.Sprintf("%d %s", n[k], k)
	}
	return fmt.Sprintf("%d (%s)", len(as), strings.Join(parts, ", "))
}

// advisoryIDs lists the ids of as: "CVE-2026-45782, CH#8358".
func advisoryIDs(as []advisoryJSON) string {
	ids := make([]string, len(as))
	for i, a := range as {
		ids[i] = a.ID
	}
	return strings.Join(ids, ", ")
}

// advisorySummary is advisoryCount and the ids, for a table cell: "2
// (1 security, 1 data-loss): CVE-2026-45782, CH#8358; see chv versions".
func advisorySummary(as []advisoryJSON) string {
	if len(as) == 0 {
		return "-"
	}
	return advisoryCount(as) + ": " + advisoryIDs(as) + "; details: chv versions"
}

// fixedIn says which release fixes a: "fixed in v51.2", or that none does.
func (a advisoryJSON) fixedIn() string {
	if a.FixedIn == "" {
		return "no fixed release yet"
	}
	return "fixed in " + a.FixedIn
}

// printAdvisories writes the detail section of the advisories of some
// releases (each list one release's), each advisory once, in the order
// they first appear: id and aliases, kind, fix, affected releases, the
// summary and the first source (--json has them all). Without any, it
// says "none known".
func printAdvisories(w io.Writer, lists ...[]advisoryJSON) {
	seen := map[string]bool{}
	for _, as := range lists {
		for _, a := range as {
			if seen[a.ID] {
				continue
			}
			seen[a.ID] = true
			id := a.ID
			if len(a.Aliases) > 0 {
				id += " (" + strings.Join(a.Aliases, ", ") + ")"
			}
			fmt.Fprintf(w, "%s: %s, %s; affects %s\n", id, a.Kind, a.fixedIn(), strings.Join(a.Affected, ", "))
			for _, line := range wrap(a.Summary, 76) {
				fmt.Fprintf(w, "    %s\n", line)
			}
			if len(a.Sources) > 0 {
				more := ""
				if n := len(a.Sources) - 1; n > 0 {
					more = fmt.Sprintf(" (+%d more in --json)", n)
				}
				fmt.Fprintf(w, "    %s%s\n", a.Sources[0], more)
			}
		}
	}
	if len(seen) == 0 {
		fmt.Fprintln(w, "none known")
	}
}

// wrap breaks s into lines of at most width bytes at spaces (a longer
// word gets a line of its own).
func wrap(s string, width int) []string {
	var lines []string
	line := ""
	for _, word := range strings.Fields(s) {
		if line != "" && len(line)+1+len(word) > width {
			lines = append(lines, line)
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += word
	}
	if line != "" {
		lines = append(lines, line)
	}
	return lines
}
