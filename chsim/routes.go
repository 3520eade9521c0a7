package chsim

import (
	"bytes"
	"context"
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
	var b bytes.Buffer
	b.WriteByte('[')
	for i, m := range msgs {
		if i > 0 {
			b.WriteByte(',')
		}
		writeJSONString(&b, m)
	}
	b.WriteByte(']')
	return b.Bytes()
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
		if name := requestShapes[r.path]; name != "" {
			v, msg := decodeBody(r.body, s.shapes.get(name))
			if msg != "" {
				return apiResponse{status: http.StatusBadRequest, body: errorBody("Failed to deserialize JSON", msg)}
			}
			body, _ = v.(map[string]any)
		}
	} else if path := r.path; path == "/vm.create" && !r.hasBody {
		return apiResponse{status: http.StatusBadRequest}
	}
	s.vmmMu.Lock()
	out, aerr := ep.handle(s.vmm, r, body)
	crashing := s.vmm.crashing
	s.vmmMu.Unlock()
	if crashing {
		// The VMM exits once this answer is out.
		resp := apiResponse{status: http.StatusNoContent}
		if aerr != nil {
			resp = s.errorResponse(aerr)
		}
		resp.closeAfter, resp.shutdown = true, true
		return resp
	}
	if aerr != nil {
		return s.errorResponse(aerr)
	}
	if r.path == "/vmm.shutdown" {
		return apiResponse{status: http.StatusOK, closeAfter: true, shutdown: true}
	}
	if out == nil {
		return apiResponse{status: http.StatusNoContent}
	}
	return apiResponse{status: http.StatusOK, body: out}
}
