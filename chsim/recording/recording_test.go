package recording

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestNormaliserKeepsBytesButRunDependentOnes(t *testing.T) {
	n := Normaliser{Dir: "/tmp/run-42"}
	got := n.Body("/api/v1/vmm.ping", []byte(`{"build_version":"v48.0","pid":12345,"path":"/tmp/run-42/x"}`))
	if want := `{"build_version":"v48.0","pid":<pid>,"path":"<tmp>/x"}`; got != want {
		t.Errorf("ping: got %s, want %s", got, want)
	}
	got = n.Text("[2025-01-02T03:04:05Z ERROR ch_remote] Error opening HTTP socket")
	if want := "[<time> ERROR ch_remote] Error opening HTTP socket"; got != want {
		t.Errorf("log line: got %q, want %q", got, want)
	}
}

func TestSortHashMapsSortsOnlyCHsHashMaps(t *testing.T) {
	counters := `{"net0":{"tx_bytes":0,"rx_bytes":1},"disk0":{"write_ops":0,"read_ops":2}}`
	if got, want := string(SortHashMaps("/api/v1/vm.counters", []byte(counters))), `{"disk0":{"read_ops":2,"write_ops":0},"net0":{"rx_bytes":1,"tx_bytes":0}}`; got != want {
		t.Errorf("counters: got %s, want %s", got, want)
	}
	// vm.info: the device tree's ids are sorted; the config's struct
	// order, and each node's, is kept.
	info := `{"config":{"cpus":{"max_vcpus":1,"boot_vcpus":1}},"state":"Running","device_tree":{"b":{"id":"b","parent":null},"a":{"id":"a"}}}`
	want := `{"config":{"cpus":{"max_vcpus":1,"boot_vcpus":1}},"state":"Running","device_tree":{"a":{"id":"a"},"b":{"id":"b","parent":null}}}`
	if got := string(SortHashMaps("/api/v1/vm.info", []byte(info))); got != want {
		t.Errorf("info: got %s, want %s", got, want)
	}
	for _, body := range []string{`["Error from API"]`, `{ "error": "x` + "\n" + `y" }`, ``, `{"a":1}x`} {
		if got := string(SortHashMaps("/api/v1/vm.info", []byte(body))); got != body {
			t.Errorf("%q changed to %q: only objects are rewritten", body, got)
		}
	}
}

func TestExpandAndCreateFiles(t *testing.T) {
	if got := Expand(`{"p":"<tmp>/a","pad":"`+Pad(3)+`"}`, "/d"); got != `{"p":"/d/a","pad":"xxx"}` {
		t.Errorf("Expand: %s", got)
	}
	if got := Expand("<pad:x>", "/d"); got != "<pad:x>" {
		t.Errorf("Expand of a malformed placeholder: %s", got)
	}
	dir := t.TempDir()
	files := []File{{Path: "<tmp>/k", Kind: FileKernel}, {Path: "<tmp>/d/img", Kind: FileZeroes, Size: 4096}, {Path: "<tmp>/s", Kind: FileDir},
		{Path: "<tmp>/c.json", Kind: FileText, Content: `{"kernel":"<tmp>/k"}`}}
	if err := CreateFiles(files, dir, []byte("ELF")); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "d", "img")); err != nil || fi.Size() != 4096 {
		t.Errorf("zeroes: %v %v", fi, err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "c.json")); string(b) != `{"kernel":"`+dir+`/k"}` {
		t.Errorf("text: %s", b)
	}
	if names, err := List(dir); err != nil || names != "c.json\nd\nk\ns" {
		t.Errorf("List: %q %v", names, err)
	}
	if err := CreateFiles([]File{{Path: "<tmp>/x", Kind: "socket"}}, dir, nil); err == nil {
		t.Error("an unknown kind is an error")
	}
}

func TestMarshalRoundTrips(t *testing.T) {
	r := &Recording{Release: "v48.0", Version: "cloud-hypervisor v48.0", Steps: []Step{{Kind: KindCall, VMM: 1, Method: "GET", Path: "/api/v1/vm.info", Status: 500, Response: `["<x>&"]`}}}
	b, err := r.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(`"response": "[\"<x>&\"]"`)) {
		t.Errorf("HTML characters are kept as they are:\n%s", b)
	}
	p := filepath.Join(t.TempDir(), "v48.0.json")
	if err := r.Save(p); err != nil {
		t.Fatal(err)
	}
	got, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if b2, _ := got.Marshal(); !bytes.Equal(b, b2) {
		t.Errorf("Load(Save(r)) differs:\n%s\n%s", b, b2)
	}
	if err := os.WriteFile(p, []byte(`{"release":"v48.0","steps":[{"kind":"call","bogus":1}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(p); err == nil || !strings.Contains(err.Error(), "make record-real") {
		t.Errorf("an unknown member: %v", err)
	}
}

// TestDoReadsAsCHRemoteDoes: the body is Content-Length bytes, or empty
// without that header; an answer sent before the request was read whole
// is still read.
func TestDoReadsAsCHRemoteDoes(t *testing.T) {
	for _, tc := range []struct{ answer, status, body string }{
		{"HTTP/1.1 200 \r\nContent-Length: 4\r\n\r\nabcdEXTRA", "200", "abcd"},
		{"HTTP/1.1 204 \r\nServer: x\r\n\r\n", "204", ""},
		{"HTTP/1.1 400 \r\n\r\nunframed", "400", ""},
	} {
		sock := filepath.Join(t.TempDir(), "s")
		l, err := net.Listen("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
			_, _ = c.Write([]byte(tc.answer))
		}()
		a, err := Do(context.Background(), sock, "PUT", "/api/v1/vm.create", strings.Repeat("x", 1000))
		l.Close()
		if err != nil {
			t.Fatalf("%q: %v", tc.answer, err)
		}
		if got := Outcome(a.Status, string(a.Body)); got != tc.status+" "+tc.body {
			t.Errorf("%q: got %q", tc.answer, got)
		}
	}
	if _, err := Do(context.Background(), filepath.Join(t.TempDir(), "none"), "GET", "/", ""); CallError(err) != "no answer: nothing serves the socket" {
		t.Errorf("no server: %v", err)
	}
}
