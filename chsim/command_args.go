package chsim

import (
	"fmt"
	"strings"
)

// commandArgs are the command-line options the simulator acts on.
type commandArgs struct {
	apiSocket    string
	version      bool
	verbosity    int
	logFile      string
	eventMonitor string
	seccomp      string
	ignored      []string // CH options the simulator accepts and ignores
}

// ignoredValueFlags are CH options taking a value that the simulator accepts
// and ignores (it creates no VM from the command line).
var ignoredValueFlags = map[string]bool{
	"cpus": true, "platform": true, "memory": true, "memory-zone": true, "firmware": true,
	"kernel": true, "initramfs": true, "cmdline": true, "rate-limit-group": true, "disk": true,
	"net": true, "rng": true, "balloon": true, "fs": true, "pmem": true, "serial": true,
	"console": true, "debug-console": true, "device": true, "user-device": true, "vdpa": true,
	"vsock": true, "numa": true, "restore": true, "tpm": true, "sgx-epc": true,
	"landlock-rules": true, "generic-vhost-user": true,
}

// ignoredSwitches are CH options without a value that the simulator ignores.
var ignoredSwitches = map[string]bool{"watchdog": true, "pvpanic": true, "landlock": true}

// errArg is a command-line error, reported the way CH's parser (clap) does.
type errArg struct{ msg string }

func (e errArg) Error() string { return e.msg }

func parseArgs(argv []string) (commandArgs, error) {
	var a commandArgs
	for i := 0; i < len(argv); i++ {
		arg := argv[i]
		if arg == "--" {
			if i+1 < len(argv) {
				return a, errArg{fmt.Sprintf("unexpected argument '%s' found", argv[i+1])}
			}
			break
		}
		if strings.HasPrefix(arg, "-") && !strings.HasPrefix(arg, "--") && len(arg) > 1 {
			for _, c := range arg[1:] {
				switch c {
				case 'v':
					a.verbosity++
				case 'V':
					a.version = true
				case 'h':
					return a, errArg{"help is not available in the simulator"}
				default:
					return a, errArg{fmt.Sprintf("unexpected argument '-%c' found", c)}
				}
			}
			continue
		}
		name, value, hasValue := strings.Cut(strings.TrimPrefix(arg, "--"), "=")
		if !strings.HasPrefix(arg, "--") {
			return a, errArg{fmt.Sprintf("unexpected argument '%s' found", arg)}
		}
		takeValue := func() (string, error) {
			if hasValue {
				return value, nil
			}
			if i+1 >= len(argv) || strings.HasPrefix(argv[i+1], "--") {
				return "", errArg{fmt.Sprintf("a value is required for '--%s <%s>' but none was supplied", name, name)}
			}
			i++
			return argv[i], nil
		}
		var err error
		switch {
		case name == "version":
			a.version = true
		case name == "api-socket":
			a.apiSocket, err = takeValue()
		case name == "log-file":
			a.logFile, err = takeValue()
		case name == "event-monitor":
			a.eventMonitor, err = takeValue()
		case name == "seccomp":
			a.seccomp, err = takeValue()
			if err == nil && a.seccomp != "true" && a.seccomp != "false" && a.seccomp != "log" {
				err = errArg{fmt.Sprintf("invalid value '%s' for '--seccomp <seccomp>'\n  [possible values: true, false, log]", a.seccomp)}
			}
		case ignoredSwitches[name]:
			a.ignored = append(a.ignored, arg)
		case ignoredValueFlags[name]:
			var v string
			v, err = takeValue()
			a.ignored = append(a.ignored, "--"+name+"="+v)
		default:
			err = errArg{fmt.Sprintf("unexpected argument '--%s' found", name)}
		}
		if err != nil {
			return a, err
		}
	}
	return a, nil
}

// usageError formats a command-line error as clap does.
func usageError(err error) string {
	return fmt.Sprintf("error: %v\n\nUsage: cloud-hypervisor [OPTIONS]\n\nFor more information, try '--help'.\n", err)
}
