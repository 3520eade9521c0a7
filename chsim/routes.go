package chsim

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
)

// apiRoot prefixes every endpoint path.
const apiRoot = "/api/v1"

// handlerKind is how CH's HTTP layer treats an endpoint before the VMM sees
// the request.
type handlerKind int

const (
	// get: a VmActionHandler answering GET (vm.counters); a body is ignored.
	get handlerKind = iota
	// putNoBody: a VmActionHandler PUT action that refuses a body (vm.boot).
	putNoBody
	// putBody: a VmActionHandler PUT action that needs a JSON body.
	putBody
	// special: vm.info, vmm.ping, vmm.shutdown and vm.create, which have
	// handlers of their own (any other method: ["Bad Request"]).
	special
)

// endpoint is one route of the API.
type endpoint struct {
	method string // GET or PUT
	kind   handlerKind
	// handle runs the VMM action; it returns the 200 body (nil for 204).
	handle func(v *vmm, r *apiRequest, body map[string]any) ([]byte, *apiErr)
}

// endpoints knows every endpoint of every modelled release; a server only
// routes those its release's spec has.
var endpoints = map[string]endpoint{
	"/vmm.ping":                  {http.MethodGet, special, (*vmm).ping},
	"/vmm.shutdown":              {http.MethodPut, special, (*vmm).vmmShutdown},
	"/vm.info":                   {http.MethodGet, special, (*vmm).info},
	"/vm.create":                 {http.MethodPut, special, (*vmm).create},
	"/vm.counters":               {http.MethodGet, get, (*vmm).counters},
	"/vm.delete":                 {http.MethodPut, putNoBody, (*vmm).delete},
	"/vm.boot":                   {http.MethodPut, putNoBody, (*vmm).boot},
	"/vm.pause":                  {http.MethodPut, putNoBody, (*vmm).pause},
	"/vm.resume":                 {http.MethodPut, putNoBody, (*vmm).resume},
	"/vm.shutdown":               {http.MethodPut, putNoBody, (*vmm).shutdown},
	"/vm.reboot":                 {http.MethodPut, putNoBody, (*vmm).reboot},
	"/vm.power-button":           {http.MethodPut, putNoBody, (*vmm).powerButton},
	"/vm.nmi":                    {http.MethodPut, putNoBody, (*vmm).nmi},
	"/vm.resize":                 {http.MethodPut, putBody, (*vmm).resize},
	"/vm.resize-zone":            {http.MethodPut, putBody, (*vmm).resizeZone},
	"/vm.resize-disk":            {http.MethodPut, putBody, (*vmm).resizeDisk},
	"/vm.add-device":             {http.MethodPut, putBody, addDevice(kindVfio)},
	"/vm.add-user-device":        {http.MethodPut, putBody, addDevice(kindUserDevice)},
	"/vm.add-disk":               {http.MethodPut, putBody, addDevice(kindDisk)},
	"/vm.add-fs":                 {http.MethodPut, putBody, addDevice(kindFs)},
	"/vm.add-pmem":               {http.MethodPut, putBody, addDevice(kindPmem)},
	"/vm.add-net":                {http.MethodPut, putBody, addDevice(kindNet)},
	"/vm.add-vsock":              {http.MethodPut, putBody, addDevice(kindVsock)},
	"/vm.add-vdpa":               {http.MethodPut, putBody, addDevice(kindVdpa)},
	"/vm.add-generic-vhost-user": {http.MethodPut, putBody, addDevice(kindGenericVhostUser)},
	"/vm.remove-device":          {http.MethodPut, putBody, (*vmm).removeDevice},
	"/vm.snapshot":               {http.MethodPut, putBody, (*vmm).snapshot},
	"/vm.restore":                {http.MethodPut, putBody, (*vmm).restore},
	"/vm.coredump":               {http.MethodPut, putBody, (*vmm).coredump},
	"/vm.send-migration":         {http.MethodPut, putBody, (*vmm).sendMigration},
	"/vm.receive-migration":      {http.MethodPut, putBody, (*vmm).receiveMigration},
}

// routes reports whether the server routes endpoint path.
func (s *Server) routes(path string) (endpoint, bool) {
	if s.spec.paths[path] == nil {
		return endpoint{}, false
	}
	if path == "/vm.coredump" && !s.opts.guestDebug {
		return endpoint{}, false // only builds with the guest_debug feature have it
	}
	ep, ok := endpoints[path]
	return ep, ok
}

// errorBody is the API's error body: a JSON array of strings.
func errorBody(msgs ...string) []byte {
	b, _ := json.Marshal(msgs)
	return b
}

func badRequest() apiResponse {
	return apiResponse{status: http.StatusBadRequest, body: errorBody("Bad Request")}
}

// dispatch answers one request, as CH's HTTP thread and VMM would.
func (s *Server) dispatch(ctx context.Context, r *apiRequest) apiResponse {
	path, inRoot := strings.CutPrefix(r.fullPath, apiRoot)
	r.path = path
	ep, ok := s.routes(path)
	if !inRoot || !ok {
		s.violation(Violation{Kind: RequestViolation, Method: r.method, Path: r.fullPath, Err: errUnknownPath(r.fullPath)})
		return apiResponse{status: http.StatusNotFound, body: errorBody("Not Found")}
	}
	if err := s.spec.checkRequest(ctx, r.method, path, r.header, r.body); err != nil {
		s.violation(Violation{Kind: RequestViolation, Method: r.method, Path: path, Err: err})
	}
	resp := s.handle(ep, r)
	if err := s.spec.checkResponse(ctx, r.method, path, r.header, r.body, resp.status, resp.body, s.rel.notCreatedIs404()); err != nil {
		s.violation(Violation{Kind: ResponseViolation, Method: r.method, Path: path, Status: resp.status, Err: err})
	}
	return resp
}

func (s *Server) handle(ep endpoint, r *apiRequest) apiResponse {
	if ep.kind == special {
		if r.method != ep.method {
			return badRequest()
		}
	} else {
		switch {
		case r.method == http.MethodPatch:
			return apiResponse{status: http.StatusBadRequest}
		case r.method != ep.method:
			return badRequest()
		case ep.kind == putNoBody && r.hasBody:
			return badRequest()
		case ep.kind == putBody && !r.hasBody:
			return badRequest()
		}
	}
	var body map[string]any
	if r.method == http.MethodPut && r.hasBody && ep.kind != putNoBody {
		if msg := serdeCheck(r.body, s.requestSchema(r.path)); msg != "" {
			return apiResponse{status: http.StatusBadRequest, body: errorBody("Failed to deserialize JSON", msg)}
		}
		if err := json.Unmarshal(r.body, &body); err != nil {
			return apiResponse{status: http.StatusBadRequest, body: errorBody("Failed to deserialize JSON", "invalid type: expected a JSON object at line 1 column 1")}
		}
	} else if path := r.path; path == "/vm.create" && !r.hasBody {
		return apiResponse{status: http.StatusBadRequest}
	}
	s.vmmMu.Lock()
	out, aerr := ep.handle(s.vmm, r, body)
	crashing := s.vmm.crashing
	s.vmmMu.Unlock()
	if aerr != nil {
		return s.errorResponse(aerr)
	}
	if crashing {
		return apiResponse{status: http.StatusNoContent, closeAfter: true, shutdown: true}
	}
	if r.path == "/vmm.shutdown" {
		return apiResponse{status: http.StatusOK, noLength: true, closeAfter: true, shutdown: true}
	}
	if out == nil {
		return apiResponse{status: http.StatusNoContent}
	}
	return apiResponse{status: http.StatusOK, body: out}
}

// requestSchema returns the schema of the JSON body of PUT path, if any.
func (s *Server) requestSchema(path string) *openapiSchema {
	op := s.spec.operation(http.MethodPut, path)
	if op == nil || op.RequestBody == nil || op.RequestBody.Value == nil {
		return nil
	}
	mt := op.RequestBody.Value.Content.Get("application/json")
	if mt == nil || mt.Schema == nil {
		return nil
	}
	return mt.Schema.Value
}
