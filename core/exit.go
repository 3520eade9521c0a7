package core

import (
	"fmt"
	"os"
	"strings"
)

// ExitReason says why a VMM process ended.
type ExitReason int

const (
	// ExitRequested: this program asked for it: Stop, Kill, a vmm.shutdown
	// sent through chvmm (a Hypervisor, a typed client from ClientAs), or
	// the end of the lifetime given with WithLifetime.
	ExitRequested ExitReason = iota + 1
	// ExitGuestShutdown: the guest powered itself off (or triple-faulted):
	// CH reported its orderly shutdown (events "vm deleted", "vmm
	// shutdown") and exited 0, and its output reports no vCPU failure.
	ExitGuestShutdown
	// ExitCrashed: the VMM ended by itself otherwise, whatever its status:
	// CH exits 0 when a vCPU fails. Treat the VM as lost.
	ExitCrashed
	// ExitKilled: a signal this program did not send ended it (the OOM
	// killer, an operator). Treat the VM as lost. Only a VMM that is this
	// program's child can be seen to be killed: an attached VMM that is not
	// (Exit.State nil) and ends without reporting a shutdown is
	// ExitCrashed.
	ExitKilled
)

// String returns "requested", "guest shutdown", "crashed" or "killed".
func (r ExitReason) String() string {
	switch r {
	case ExitRequested:
		return "requested"
	case ExitGuestShutdown:
		return "guest shutdown"
	case ExitCrashed:
		return "crashed"
	case ExitKilled:
		return "killed"
	}
	return fmt.Sprintf("ExitReason(%d)", int(r))
}

// An Exit records how a VMM process ended.
type Exit struct {
	// Reason says why.
	Reason ExitReason
	// State is how the process ended; nil for an attached VMM that is not
	// this program's child, whose status cannot be known.
	State *os.ProcessState
	// Detail is what chvmm saw that decided Reason, such as "vmm shutdown
	// event" or CH's line reporting a vCPU failure.
	Detail string
}

// String says why and how the VMM ended: "crashed (exit status 0: …)".
func (e Exit) String() string {
	var b strings.Builder
	b.WriteString(e.Reason.String())
	var parts []string
	if e.State != nil {
		parts = append(parts, e.State.String())
	}
	if e.Detail != "" {
		parts = append(parts, e.Detail)
	}
	if len(parts) > 0 {
		b.WriteString(" (" + strings.Join(parts, ": ") + ")")
	}
	return b.String()
}

// vcpuFailureMarkers are what CH logs when a vCPU fails, after which it
// exits with status 0 as after a guest's power-off (vmm/src/cpu.rs).
var vcpuFailureMarkers = []string{"VCPU generated error", "Error running vCPU", "panicked at"}

// classifyExit decides why a VMM ended: requested says this program asked
// for it (or sent the signal), shutdownEvent that CH reported its orderly
// shutdown, output is the end of what it wrote ("" when unknown).
func classifyExit(state *os.ProcessState, requested, shutdownEvent bool, output string) Exit {
	e := Exit{State: state}
	switch {
	case requested:
		e.Reason = ExitRequested
	case state != nil && !state.Exited():
		e.Reason = ExitKilled
	case state != nil && state.ExitCode() != 0:
		e.Reason = ExitCrashed
	case !shutdownEvent:
		e.Reason = ExitCrashed
		e.Detail = "it ended without reporting a shutdown"
	default:
		e.Reason = ExitGuestShutdown
		e.Detail = "vmm shutdown event"
		for _, m := range vcpuFailureMarkers {
			if i := strings.LastIndex(output, m); i >= 0 {
				line, _, _ := strings.Cut(output[i:], "\n")
				e.Reason, e.Detail = ExitCrashed, strings.TrimSpace(line)
				break
			}
		}
	}
	return e
}
