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
	Config json.RawMessage `json:"config"`
}

// The ApiError texts of migrations: v53.0 renamed both.
func (v *vmm) sendAction() string {
	if v.rel().atLeast(53, 0) {
		return "Error dispatching the migration worker"
	}
	return "Error starting migration sender"
}

func (v *vmm) receiveAction() string {
	if v.rel().atLeast(53, 0) {
		return "Error receiving migration"
	}
	return "Error starting migration receiver"
}

const (
	migSendFailed    = "Failed to send migratable component snapshot"
	migReceiveFailed = "Failed to receive migratable component snapshot"
)

// badMigrationURL is the error chain for a URL neither unix: nor tcp:;
// which says what differs by release.
func (v *vmm) badMigrationURL(url string, receive bool) []string {
	member := "destination_url"
	if receive {
		member = "receiver_url"
	}
	switch {
	case v.rel().atLeast(53, 0):
		kind := "send"
		if receive {
			kind = "receive"
		}
		return []string{"Invalid " + kind + " migration configuration",
			fmt.Sprintf("Error validating %s migration parameters: %s must use tcp:<host>:<port> or unix:<path>.", kind, member)}
	case v.rel().atLeast(52, 0) && !receive:
		return []string{"Invalid send migration configuration", "Error validating send migration parameters"}
	}
	return []string{"Could not extract path from URL: " + url}
}

// socketError is "Error connecting to UNIX socket: <os error>", split in
// two from v52.0 where the release says so.
func (v *vmm) socketError(what string, err error, split bool) []string {
	if split {
		return []string{"Error " + what + " UNIX socket", osErrorText(err)}
	}
	return []string{fmt.Sprintf("Error %s UNIX socket: %s", what, osErrorText(err))}
}

func (v *vmm) sendMigration(_ *apiRequest, body map[string]any) ([]byte, *apiErr) {
	act := v.sendAction()
	if v.config == nil && !v.rel().atLeast(53, 0) {
		// Before v53.0 the VMM thread panics (it unwraps the missing VM):
		// the API thread answers that its request went unanswered, and
		// the process exits with status 1.
		v.s.log.Warn("send-migration without a VM: the VMM thread panics and the VMM exits with status 1, as CH does before v53.0")
		v.crashing = true
		v.s.exitCode.Store(1)
		return nil, &apiErr{raw: []string{"Error from API", "API response receive error", "receiving on a closed channel"}}
	}
	if !v.booted() && !v.migrating {
		return nil, fail(act, migSendFailed, errVMNotRunning)
	}
	dest, _ := body["destination_url"].(string)
	path, isUnix := strings.CutPrefix(dest, "unix:")
	if !isUnix && !strings.HasPrefix(dest, "tcp:") {
		return nil, fail(act, append([]string{migSendFailed}, v.badMigrationURL(dest, false)...)...)
	}
	if !isUnix {
		return nil, fail(act, migSendFailed, "The simulator migrates over unix: sockets only, got "+dest)
	}
	if v.rel().atLeast(53, 0) {
		if v.migrating {
			return nil, fail(act, migSendFailed, "There is already an ongoing migration")
		}
		// The migration runs in a worker thread, which owns the VM until it
		// ends: the request is answered at once, and a failure only shows
		// in the VMM's log.
		cfg := encodeJSON(v.s.shapes.get("VmConfig"), v.config)
		v.migrating = true
		go func() {
			err := migrateTo(path, cfg, v.s.done)
			v.s.vmmMu.Lock()
			defer v.s.vmmMu.Unlock()
			v.migrating = false
			if err != nil {
				v.s.log.Warn("migration failed", "error", err)
				return
			}
			v.migratedAway()
		}()
		return nil, nil
	}
	if err := migrateTo(path, encodeJSON(v.s.shapes.get("VmConfig"), v.config), v.s.done); err != nil {
		if oe, ok := err.(*net.OpError); ok && oe.Op == "dial" {
			return nil, fail(act, append([]string{migSendFailed}, v.socketError("connecting to", oe.Err, false)...)...)
		}
		return nil, fail(act, migSendFailed, err.Error())
	}
	v.migratedAway()
	return nil, nil
}

// migrateTo sends cfg to a receiving simulator at path; it gives up when
// done is closed (the sending server ended).
func migrateTo(path string, cfg []byte, done <-chan struct{}) error {
	c, err := net.DialTimeout("unix", path, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	finished := make(chan struct{})
	defer close(finished)
	go func() {
		select {
		case <-done:
			c.Close()
		case <-finished:
		}
	}()
	_ = c.SetDeadline(time.Now().Add(migrationTimeout))
	if err := json.NewEncoder(c).Encode(migrationMessage{Config: cfg}); err != nil {
		return fmt.Errorf("Error sending migration state: %v", err)
	}
	var ack string
	if err := json.NewDecoder(c).Decode(&ack); err != nil || ack != "ok" {
		return fmt.Errorf("The destination did not complete the migration")
	}
	return nil
}

// migratedAway stops the VM and ends the VMM, as a migrated CH does.
func (v *vmm) migratedAway() {
	v.shutdownVM()
	v.config = nil
	v.s.shutdownSoon()
}

func (v *vmm) receiveMigration(_ *apiRequest, body map[string]any) ([]byte, *apiErr) {
	act := v.receiveAction()
	recv := func(msg ...string) *apiErr { return fail(act, append([]string{migReceiveFailed}, msg...)...) }
	if v.vm != nil && v.rel().atLeast(53, 0) {
		return nil, recv("Can't receive a migration when a VM is already created")
	}
	url, _ := body["receiver_url"].(string)
	path, ok := strings.CutPrefix(url, "unix:")
	if !ok {
		msg := v.badMigrationURL(url, true)
		if !v.rel().atLeast(52, 0) {
			// CH before v52.0 shares the sender's URL parser and wording.
			return nil, fail(act, append([]string{migSendFailed}, msg...)...)
		}
		return nil, recv(msg...)
	}
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		var cause error = err
		if oe, ok := err.(*net.OpError); ok {
			cause = oe.Err
			if se, ok := cause.(*os.SyscallError); ok {
				cause = se.Err
			}
		}
		return nil, recv(v.socketError("binding to", cause, v.rel().atLeast(52, 0))...)
	}
	if v.config != nil {
		l.Close()
		return nil, recv(errVMAlreadyCreated)
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
	cfg, msg := decodeBody(m.Config, v.s.shapes.get("VmConfig"))
	if msg != "" {
		return nil, recv("Error receiving migration state: " + msg)
	}
	v.config = cfg.(map[string]any)
	v.buildVM()
	v.vm.state = vmRunning
	_ = json.NewEncoder(c).Encode("ok")
	return nil, nil
}
