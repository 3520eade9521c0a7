package recording

import (
	"bytes"
	"encoding/json"
	"regexp"
	"sort"
	"strings"
)

// A Normaliser turns what a VMM or ch-remote answered into its recorded
// form, so that two runs, or CH and the simulator, compare byte for byte:
//   - the working directory becomes TmpPlaceholder;
//   - vmm.ping's pid becomes PIDPlaceholder;
//   - env_logger's timestamps ("[2025-01-02T03:04:05Z ") become
//     TimePlaceholder;
//   - members of objects that CH builds from Rust hash maps, whose order
//     changes from run to run, are sorted by name: vm.counters (both
//     levels) and vm.info's device_tree. Every other byte is kept.
type Normaliser struct {
	// Dir is the working directory of the run.
	Dir string
}

var (
	pidRE  = regexp.MustCompile(`"pid":[0-9]+`)
	timeRE = regexp.MustCompile(`\[[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?Z `)
)

// Text normalises a string: the working directory, pids, timestamps.
func (n Normaliser) Text(s string) string {
	if n.Dir != "" {
		s = strings.ReplaceAll(s, n.Dir, TmpPlaceholder)
	}
	s = pidRE.ReplaceAllString(s, `"pid":`+PIDPlaceholder)
	return timeRE.ReplaceAllString(s, "["+TimePlaceholder+" ")
}

// Body normalises the body of an answer to a request for path
// ("/api/v1/vm.info").
func (n Normaliser) Body(path string, body []byte) string {
	return n.Text(string(SortHashMaps(path, body)))
}

// SortHashMaps sorts, in the body of an answer to a request for path, the
// members of the objects CH serialises from Rust hash maps. A body that is
// not such an answer, or not JSON, is returned as it is.
func SortHashMaps(path string, body []byte) []byte {
	switch strings.TrimPrefix(path, "/api/v1") {
	case "/vm.counters":
		return rewriteObject(body, func(key string, v json.RawMessage) json.RawMessage {
			return rewriteObject(v, nil, true)
		}, true)
	case "/vm.info":
		return rewriteObject(body, func(key string, v json.RawMessage) json.RawMessage {
			if key == "device_tree" {
				return rewriteObject(v, nil, true)
			}
			return v
		}, false)
	}
	return body
}

type member struct {
	key   string
	value json.RawMessage
}

// rewriteObject re-emits the JSON object raw, compactly as serde_json
// writes it, with each member's value passed through f (when f is not nil)
// and the members sorted by name when sorted is set. Anything but an object
// (null included) comes back unchanged.
func rewriteObject(raw []byte, f func(string, json.RawMessage) json.RawMessage, sorted bool) []byte {
	members, ok := objectMembers(raw)
	if !ok {
		return raw
	}
	if sorted {
		sort.SliceStable(members, func(i, j int) bool { return members[i].key < members[j].key })
	}
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range members {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := marshalNoEscape(m.key)
		b.Write(k)
		b.WriteByte(':')
		v := m.value
		if f != nil {
			v = f(m.key, v)
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes()
}

// objectMembers splits a JSON object into its members, in order, keeping
// each value's bytes.
func objectMembers(raw []byte) ([]member, bool) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return nil, false
	}
	var out []member
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, false
		}
		key, ok := tok.(string)
		if !ok {
			return nil, false
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, false
		}
		out = append(out, member{key, v})
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return nil, false
	}
	if len(bytes.TrimSpace(raw[dec.InputOffset():])) > 0 {
		return nil, false // trailing data: leave the body alone
	}
	return out, true
}

func marshalNoEscape(s string) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// remoteVerbPaths are the ch-remote verbs that print the body of an answer
// with hash maps in it, and the endpoint that answers.
var remoteVerbPaths = map[string]string{"info": "/vm.info", "counters": "/vm.counters"}

// CHRemoteStdout normalises what ch-remote printed on stdout when run with
// args: like Body for the verbs that print vm.info or vm.counters, like
// Text otherwise.
func (n Normaliser) CHRemoteStdout(args []string, stdout string) string {
	if path, ok := remoteVerbPaths[Verb(args)]; ok {
		body, rest, found := strings.Cut(stdout, "\n")
		if found {
			return n.Text(string(SortHashMaps(path, []byte(body)))) + "\n" + n.Text(rest)
		}
	}
	return n.Text(stdout)
}

// Verb returns ch-remote's subcommand in args: the first argument that is
// neither an option nor --api-socket's value.
func Verb(args []string) string {
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "--api-socket":
			i++
		case strings.HasPrefix(a, "-"):
		default:
			return a
		}
	}
	return ""
}

// Header normalises an answer's header lines: a Content-Length other than
// 0 becomes "<length>" (it counts bytes of paths that differ between runs).
func (n Normaliser) Header(lines []string) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		name, value, _ := strings.Cut(l, ":")
		if strings.EqualFold(name, "Content-Length") && strings.TrimSpace(value) != "0" {
			l = name + ": <length>"
		}
		out[i] = l
	}
	return out
}
