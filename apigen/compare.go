package main

// The comparison of each release's spec (after fix-ups) with its server's
// facts, run by `apigen generate`: every difference must be removed by a
// fix-up (fixups.go) or listed, with its reason, in acceptedDifferences
// (accepted.go). An unlisted difference, or a listed one that no longer
// occurs, is an error.

import (
	"fmt"
	"slices"
	"strings"
)

// diffKind is the kind of a difference between a spec and its server.
type diffKind string

const (
	// diffRouteNotServed: the spec has an operation the server does not route.
	diffRouteNotServed diffKind = "route-not-served"
	// diffRouteNotInSpec: the server routes a method and path the spec lacks.
	diffRouteNotInSpec diffKind = "route-not-in-spec"
	// diffSchemaNotInServer: a spec schema has no server type.
	diffSchemaNotInServer diffKind = "schema-not-in-server"
	// diffMemberNotInServer: a spec property the server's type neither
	// names nor aliases: serde ignores it (or, with deny_unknown_fields,
	// refuses the body).
	diffMemberNotInServer diffKind = "member-not-in-server"
	// diffMemberNotInSpec: a member of the server's type the spec lacks.
	diffMemberNotInSpec diffKind = "member-not-in-spec"
	// diffRequiredOnlyInSpec: the spec requires a member the server does
	// not (serde defaults it; in a response-only type: it may be omitted).
	diffRequiredOnlyInSpec diffKind = "required-only-in-spec"
	// diffRequiredOnlyInServer: the server requires a member the spec
	// leaves optional (in a response-only type: the server always writes it).
	diffRequiredOnlyInServer diffKind = "required-only-in-server"
	// diffRequiredUndefined: the spec's required list names a member its
	// properties lack.
	diffRequiredUndefined diffKind = "required-undefined"
	// diffEnumValueNotInServer: a spec enum value the server's enum does
	// not read.
	diffEnumValueNotInServer diffKind = "enum-value-not-in-server"
	// diffEnumValueNotInSpec: a value the server's enum reads that the
	// spec's enum lacks.
	diffEnumValueNotInSpec diffKind = "enum-value-not-in-spec"
)

// A difference is one way a spec and its server disagree.
type difference struct {
	Schema string // spec component schema; "" for a route
	Member string // property of Schema; "" for the schema itself
	Route  string // "PUT /vm.nmi" for a route difference
	Value  string // the enum value of an enum difference
	Kind   diffKind
	Detail string // what the spec and the server say
}

// where names what differs: schema VmConfig, member payload.
func (d difference) where() string {
	var parts []string
	if d.Route != "" {
		parts = append(parts, "route "+d.Route)
	}
	if d.Schema != "" {
		parts = append(parts, "schema "+d.Schema)
	}
	if d.Member != "" {
		parts = append(parts, "member "+d.Member)
	}
	if d.Value != "" {
		parts = append(parts, "value "+d.Value)
	}
	return strings.Join(parts, ", ")
}

// String renders the difference for an error message.
func (d difference) String() string {
	return fmt.Sprintf("%s: %s: %s", d.where(), d.Kind, d.Detail)
}

// differences lists where k's spec and server disagree, in a stable order.
func differences(k *releaseKnowledge) []difference {
	var out []difference
	for _, r := range k.Routes {
		route := r.Method + " " + r.Path
		switch {
		case r.InSpec && !r.InServer:
			out = append(out, difference{Route: route, Kind: diffRouteNotServed,
				Detail: "the spec has this operation; the server (vmm/src/api/http) routes no " + route})
		case r.InServer && !r.InSpec:
			out = append(out, difference{Route: route, Kind: diffRouteNotInSpec,
				Detail: "the server routes " + route + gateText(r.Cfg) + "; the spec has no such operation"})
		}
	}
	for i := range k.Schemas {
		out = append(out, schemaDifferences(&k.Schemas[i])...)
	}
	return out
}

// schemaDifferences lists where one schema and its server type disagree.
func schemaDifferences(sk *schemaKnowledge) []difference {
	if sk.Rust == "" {
		return []difference{{Schema: sk.Schema, Kind: diffSchemaNotInServer,
			Detail: fmt.Sprintf("the server defines no type %s (if it has another name, map it in schemaRustNames, apigen/knowledge.go)", rustTypeName(sk.Schema))}}
	}
	var out []difference
	if sk.ServerEnumType || len(sk.SpecEnum) > 0 {
		out = append(out, enumDifferences(sk, "", sk.SpecEnum, sk.ServerEnum)...)
	}
	for _, r := range sk.RequiredUndefined {
		out = append(out, difference{Schema: sk.Schema, Member: r, Kind: diffRequiredUndefined,
			Detail: fmt.Sprintf("the spec's required list names %s, which is none of its properties", r)})
	}
	if sk.ServerEnumType {
		return out
	}
	for i := range sk.Members {
		m := &sk.Members[i]
		d := difference{Schema: sk.Schema, Member: m.Name}
		switch {
		case m.InSpec && !m.InServer:
			d.Kind = diffMemberNotInServer
			effect := "serde ignores it, so what a client sends there is lost"
			if sk.DenyUnknownFields {
				effect = "the server refuses a body with it (deny_unknown_fields)"
			}
			d.Detail = fmt.Sprintf("the server's %s (%s) has no member or alias %s: %s", sk.Rust, sk.File, m.Name, effect)
			out = append(out, d)
			continue
		case m.InServer && !m.InSpec:
			d.Kind = diffMemberNotInSpec
			d.Detail = fmt.Sprintf("the server reads %s into %s; the spec has no such property", m.JSON, describeMember(sk, m))
			out = append(out, d)
			continue
		}
		serverRequired, what := m.Required, "serde requires it"
		if !sk.Request {
			serverRequired, what = m.AlwaysSerialized, "the server always writes it"
		}
		if m.SpecRequired != serverRequired {
			if m.SpecRequired {
				d.Kind = diffRequiredOnlyInSpec
				d.Detail = "the spec requires it; " + serverOptional(sk, m)
			} else {
				d.Kind = diffRequiredOnlyInServer
				d.Detail = fmt.Sprintf("the spec leaves it optional; %s (%s)", what, describeMember(sk, m))
			}
			out = append(out, d)
		}
		if len(m.SpecEnum) > 0 {
			out = append(out, enumDifferences(sk, m.Name, m.SpecEnum, m.ServerEnum)...)
		}
	}
	return out
}

// serverOptional says why the server does without a member.
func serverOptional(sk *schemaKnowledge, m *memberKnowledge) string {
	if !sk.Request {
		return fmt.Sprintf("the server may leave it out of its answers (%s)", describeMember(sk, m))
	}
	if m.Default != nil {
		v := ""
		if m.Default.Value != nil {
			v = " = " + string(m.Default.Value)
		}
		return fmt.Sprintf("serde defaults it (%s%s; %s)", m.Default.Fn, v, describeMember(sk, m))
	}
	return "serde does not require it (" + describeMember(sk, m) + ")"
}

// enumDifferences compares a spec enum with the server's values.
func enumDifferences(sk *schemaKnowledge, member string, spec, server []string) []difference {
	var out []difference
	where := sk.Rust
	if member != "" {
		where = sk.Rust + "." + member
	}
	for _, v := range spec {
		if !slices.Contains(server, v) {
			out = append(out, difference{Schema: sk.Schema, Member: member, Value: v, Kind: diffEnumValueNotInServer,
				Detail: fmt.Sprintf("the server's %s (%s) reads %s, not %s", where, sk.File, orNone(server), v)})
		}
	}
	for _, v := range server {
		if !slices.Contains(spec, v) {
			out = append(out, difference{Schema: sk.Schema, Member: member, Value: v, Kind: diffEnumValueNotInSpec,
				Detail: fmt.Sprintf("the server's %s (%s) reads %s; the spec's enum is %s", where, sk.File, v, orNone(spec))})
		}
	}
	return out
}

// orNone renders values for a message, or says there are none.
func orNone(values []string) string {
	if len(values) == 0 {
		return "no value"
	}
	return joinQuoted(values)
}

// An acceptedDifference is a difference between specs and their servers
// that apigen accepts, and why.
type acceptedDifference struct {
	Tags   []string // the releases it occurs in
	Schema string
	Member string
	Route  string
	Value  string
	Kind   diffKind
	Reason string // why it is harmless, or why the client keeps the spec's way
}

// matches reports whether a accepts d.
func (a acceptedDifference) matches(d difference) bool {
	return a.Schema == d.Schema && a.Member == d.Member && a.Route == d.Route && a.Value == d.Value && a.Kind == d.Kind
}

// String names the entry for an error message.
func (a acceptedDifference) String() string {
	d := difference{Schema: a.Schema, Member: a.Member, Route: a.Route, Value: a.Value}
	return fmt.Sprintf("{%s; %s: %s}", strings.Join(a.Tags, ", "), d.where(), a.Kind)
}

// compareWithServer compares spec s with its server's facts f: each difference
// must be accepted by an entry of accepted for s.Tag, and each entry for
// s.Tag must accept a difference. It returns the knowledge and the
// differences that were accepted.
func compareWithServer(s *spec, f *chFacts, accepted []acceptedDifference) (*releaseKnowledge, []difference, error) {
	k, err := newReleaseKnowledge(s, f)
	if err != nil {
		return nil, nil, err
	}
	diffs := differences(k)
	used := make([]bool, len(accepted))
	var unlisted []difference
	var ok []difference
	for _, d := range diffs {
		found := false
		for i, a := range accepted {
			if slices.Contains(a.Tags, s.Tag) && a.matches(d) {
				used[i], found = true, true
			}
		}
		if found {
			ok = append(ok, d)
		} else {
			unlisted = append(unlisted, d)
		}
	}
	var stale []string
	for i, a := range accepted {
		if slices.Contains(a.Tags, s.Tag) && !used[i] {
			stale = append(stale, a.String())
		}
	}
	var msg strings.Builder
	if len(unlisted) > 0 {
		fmt.Fprintf(&msg, "the %s spec (fix-ups applied: %s) differs from its server (%s, commit %.12s) where no fix-up repairs it and no accepted difference says why:\n",
			s.Tag, fixupList(s.Fixups), factsDir+"/"+s.Tag+".json", f.Commit)
		for _, d := range unlisted {
			fmt.Fprintf(&msg, "  %s: %s\n", s.Tag, d)
		}
		msg.WriteString("for each: if clients must follow the server, add a fix-up that repairs the spec (apigen/fixups.go); " +
			"if the difference is harmless, add it to acceptedDifferences (apigen/accepted.go) with its tag, schema, member, kind and the reason; " +
			"if the server changed, regenerate its facts (make facts CH_SRC=<cloud-hypervisor git dir>)")
	}
	if len(stale) > 0 {
		if msg.Len() > 0 {
			msg.WriteString("\n")
		}
		fmt.Fprintf(&msg, "accepted differences (apigen/accepted.go) that no longer occur between the %s spec and its server: %s; remove %s from their tags (or the entries)",
			s.Tag, strings.Join(stale, " "), s.Tag)
	}
	if msg.Len() > 0 {
		return k, ok, fmt.Errorf("%s", msg.String())
	}
	return k, ok, nil
}
