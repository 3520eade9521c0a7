package core

import "slices"

// AdvisoryKind says what an advisory is about.
type AdvisoryKind string

// The kinds of advisories.
const (
	// AdvisorySecurity: a guest or a local user can break out of what CH
	// should confine them to.
	AdvisorySecurity AdvisoryKind = "security"
	// AdvisoryDataLoss: CH can lose or corrupt guest data.
	AdvisoryDataLoss AdvisoryKind = "data-loss"
)

// An Advisory is a known security vulnerability or data-loss bug of CH
// releases that chvmm embeds. Old releases stay embedded because VMs paused
// or snapshotted under them can only be resumed by them; their users must
// see what they run. Each entry cites its sources.
type Advisory struct {
	// ID is the CVE, or the upstream issue ("CH#8358").
	ID string
	// Aliases are other ids of it (its GHSA).
	Aliases []string
	// Kind is security or data-loss.
	Kind AdvisoryKind
	// Summary says what goes wrong, and when (some apply only with certain
	// disk formats or settings).
	Summary string
	// Affected lists the embedded releases it affects.
	Affected []string
	// FixedIn is the first release with the fix; "" when none has it yet.
	FixedIn string
	// Sources are the advisory, issue, pull request or commit URLs.
	Sources []string
}

// Advisories returns the known advisories that affect the release.
// StartProcess logs a warning for each when a VMM of the release starts.
func (r *Release) Advisories() []Advisory {
	var out []Advisory
	for _, a := range advisories {
		if slices.Contains(a.Affected, r.tag) {
			out = append(out, a)
		}
	}
	return out
}
