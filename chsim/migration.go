package chsim

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strings"
	"time"
)

// migrationTimeout bounds how long a receiving simulator waits for a sender.
const migrationTimeout = 30 * time.Second

// migrationMessage is what one simulator sends another over a unix socket
// (CH speaks its own binary protocol; simulators only talk to simulators).
type migrationMessage struct {
	Config map[string]any `json:"config"`
}

func (v *vmm) sendMigration(_ *apiRequest, body map[string]any) ([]byte, *apiErr) {
	if !v.booted {
		return nil, fail(actSend, "Migration failed", errVMNotRunning)
	}
	dest, _ := body["destination_url"].(string)
	path, ok := strings.CutPrefix(dest, "unix:")
	if !ok {
		return nil, fail(actSend, "Migration failed", "Invalid URL: the simulator migrates over unix: sockets only, got "+dest)
	}
	c, err := net.DialTimeout("unix", path, 5*time.Second)
	if err != nil {
		return nil, fail(actSend, "Migration failed", fmt.Sprintf("Error connecting to UNIX socket: %s", osErrorText(err)))
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(migrationTimeout))
	if err := json.NewEncoder(c).Encode(migrationMessage{Config: v.config}); err != nil {
		return nil, fail(actSend, "Migration failed", "Error sending migration state: "+err.Error())
	}
	var ack string
	if err := json.NewDecoder(c).Decode(&ack); err != nil || ack != "ok" {
		return nil, fail(actSend, "Migration failed", "The destination did not complete the migration")
	}
	// A migrated-away VM stops and the source VMM exits.
	v.shutdownVM()
	v.config = nil
	v.s.shutdownSoon()
	return nil, nil
}

func (v *vmm) receiveMigration(_ *apiRequest, body map[string]any) ([]byte, *apiErr) {
	recv := func(msg string) *apiErr { return fail(actReceive, "Migration failed", msg) }
	if v.config != nil {
		return nil, recv(errVMAlreadyCreated)
	}
	url, _ := body["receiver_url"].(string)
	path, ok := strings.CutPrefix(url, "unix:")
	if !ok {
		return nil, recv("Invalid URL: the simulator migrates over unix: sockets only, got " + url)
	}
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, recv(fmt.Sprintf("Error binding to UNIX socket: %s", osErrorText(err)))
	}
	defer l.Close()
	_ = l.SetDeadline(time.Now().Add(migrationTimeout))
	c, err := l.Accept()
	if err != nil {
		return nil, recv(fmt.Sprintf("Error accepting on UNIX socket: %s", osErrorText(err)))
	}
	defer c.Close()
	_ = os.Remove(path)
	_ = c.SetDeadline(time.Now().Add(migrationTimeout))
	var m migrationMessage
	if err := json.NewDecoder(c).Decode(&m); err != nil || m.Config == nil {
		return nil, recv("Error receiving migration state")
	}
	v.config = m.Config
	v.booted, v.paused = true, false
	v.pci = pciBus{}
	v.assignBootDevices()
	_ = json.NewEncoder(c).Encode("ok")
	return nil, nil
}
