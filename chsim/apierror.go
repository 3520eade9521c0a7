package chsim

import "net/http"

// apiErr is an error of the VMM: CH's ApiError (action) wrapping a VmError
// chain (cause), answered as ["Error from API", action, cause...].
type apiErr struct {
	action string
	cause  []string
	// notCreated: the root VmError is VmNotCreated or VmMissingConfig, which
	// CH v53+ answers with 404.
	notCreated bool
	// status overrides the status (429 for a pending vCPU removal).
	status int
	// raw replaces the whole body (an HTTP-layer error raised late).
	raw []string
}

// VmError texts of the real VMM.
const (
	errVMNotCreated     = "VM is not created"
	errVMMissingConfig  = "VM config is missing"
	errVMNotRunning     = "VM is not running"
	errVMAlreadyCreated = "VM is already created"
)

func fail(action string, cause ...string) *apiErr { return &apiErr{action: action, cause: cause} }

func failNotCreated(action string) *apiErr {
	return &apiErr{action: action, cause: []string{errVMNotCreated}, notCreated: true}
}

func failMissingConfig(action string) *apiErr {
	return &apiErr{action: action, cause: []string{errVMMissingConfig}, notCreated: true}
}

func (s *Server) errorResponse(e *apiErr) apiResponse {
	status := http.StatusInternalServerError
	if e.notCreated && s.rel.notCreatedIs404() {
		status = http.StatusNotFound
	}
	if e.status != 0 {
		status = e.status
	}
	if e.raw != nil {
		return apiResponse{status: status, body: errorBody(e.raw...)}
	}
	return apiResponse{status: status, body: errorBody(append([]string{"Error from API", e.action}, e.cause...)...)}
}

// ApiError texts (the action that failed).
const (
	actBoot          = "The VM could not boot"
	actCreate        = "The VM could not be created"
	actDelete        = "The VM could not be deleted"
	actInfo          = "The VM info is not available"
	actPause         = "The VM could not be paused"
	actResume        = "The VM could not resume"
	actShutdown      = "The VM could not shutdown"
	actReboot        = "The VM could not reboot"
	actSnapshot      = "The VM could not be snapshotted"
	actCoredump      = "The VM could not be coredumped"
	actVmmShutdown   = "The VMM could not shutdown"
	actResize        = "The VM could not be resized"
	actResizeZone    = "The memory zone could not be resized"
	actResizeDisk    = "The disk could not be resized"
	actAddDevice     = "The device could not be added to the VM"
	actAddUserDevice = "The user device could not be added to the VM"
	actRemoveDevice  = "The device could not be removed from the VM"
	actAddDisk       = "The disk could not be added to the VM"
	actAddFs         = "The fs could not be added to the VM"
	actAddPmem       = "The pmem device could not be added to the VM"
	actAddNet        = "The network device could not be added to the VM"
	actAddVdpa       = "The vDPA device could not be added to the VM"
	actAddVsock      = "The vsock device could not be added to the VM"
	actAddGeneric    = "The generic vhost-user device could not be added to the VM"
	actPowerButton   = "Error triggering power button"
	actNmi           = "Error triggering NMI"
)
