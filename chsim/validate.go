package chsim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
)

// ViolationKind says which side broke the spec.
type ViolationKind int

const (
	// RequestViolation: the client sent a request the spec does not allow
	// (unknown path or method, body not matching its schema, …).
	RequestViolation ViolationKind = iota
	// ResponseViolation: the simulator answered something the spec does not
	// allow and that is not one of the real server's documented departures.
	// It is a bug of the simulator.
	ResponseViolation
)

// String returns "request" or "response".
func (k ViolationKind) String() string {
	if k == ResponseViolation {
		return "response"
	}
	return "request"
}

// A Violation is a request or response that does not conform to the
// release's OpenAPI spec.
type Violation struct {
	Kind   ViolationKind
	Method string // HTTP method of the request
	Path   string // endpoint, "/vm.boot"
	Status int    // response status (ResponseViolation only)
	Err    error  // what kin-openapi or the simulator found wrong
}

// Error describes the violation.
func (v Violation) Error() string {
	if v.Kind == ResponseViolation {
		return fmt.Sprintf("chsim: %s %s answered %d against the spec: %v", v.Method, v.Path, v.Status, v.Err)
	}
	return fmt.Sprintf("chsim: %s %s: request violates the spec: %v", v.Method, v.Path, v.Err)
}

// Unwrap returns the underlying validation error.
func (v Violation) Unwrap() error { return v.Err }

// apiSpec is a loaded, validated spec and its operations by path and method.
type apiSpec struct {
	doc   *openapi3.T
	paths map[string]*openapi3.PathItem // "/vm.boot"
	// resp is the spec that answers are validated against: the spec with
	// the real server's documented departures (serverDepartures) applied.
	resp *apiSpec
}

var specCache sync.Map // tag → *apiSpec or error

// loadSpec loads (once per process) the spec of a release.
func loadSpec(tag string) (*apiSpec, error) {
	if v, ok := specCache.Load(tag); ok {
		if err, isErr := v.(error); isErr {
			return nil, err
		}
		return v.(*apiSpec), nil
	}
	s, err := parseSpec(tag)
	if err != nil {
		specCache.Store(tag, err)
		return nil, err
	}
	v, _ := specCache.LoadOrStore(tag, s)
	if err, isErr := v.(error); isErr {
		return nil, err
	}
	return v.(*apiSpec), nil
}

func parseSpec(tag string) (*apiSpec, error) {
	src, err := Spec(tag)
	if err != nil {
		return nil, err
	}
	s, err := loadDoc(tag, src)
	if err != nil {
		return nil, err
	}
	if s.resp, err = loadDoc(tag, src); err != nil {
		return nil, err
	}
	serverDepartures(s.resp.doc)
	return s, nil
}

// serverDepartures relaxes doc where every real server's answers depart
// from the spec: VmConfig's required members are not the server's
// (serde's are), and a VM created from {} reports a config without
// payload.
func serverDepartures(doc *openapi3.T) {
	if ref := doc.Components.Schemas["VmConfig"]; ref != nil && ref.Value != nil {
		ref.Value.Required = nil
	}
}

func loadDoc(tag string, src []byte) (*apiSpec, error) {
	doc, err := openapi3.NewLoader().LoadFromData(src)
	if err != nil {
		return nil, fmt.Errorf("load the OpenAPI spec of CH %s: %w", tag, err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("the OpenAPI spec of CH %s is invalid: %w", tag, err)
	}
	s := &apiSpec{doc: doc, paths: map[string]*openapi3.PathItem{}}
	for p, item := range doc.Paths.Map() {
		s.paths[p] = item
	}
	return s, nil
}

// operation returns the spec's operation for method and endpoint path, or nil.
func (s *apiSpec) operation(method, path string) *openapi3.Operation {
	item := s.paths[path]
	if item == nil {
		return nil
	}
	return item.GetOperation(method)
}

func (s *apiSpec) route(method, path string) *routers.Route {
	return &routers.Route{Spec: s.doc, Path: path, PathItem: s.paths[path], Method: method, Operation: s.operation(method, path)}
}

var validationOptions = &openapi3filter.Options{
	AuthenticationFunc:    openapi3filter.NoopAuthenticationFunc,
	IncludeResponseStatus: true,
	MultiError:            false,
}

func (s *apiSpec) requestInput(method, path string, header http.Header, body []byte) (*openapi3filter.RequestValidationInput, error) {
	req, err := http.NewRequest(method, "http://localhost/api/v1"+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if ct := header.Get("Content-Type"); ct != "" {
		req.Header.Set("Content-Type", ct)
	} else if len(body) > 0 {
		// CH ignores Content-Type; a body without one is read as JSON.
		req.Header.Set("Content-Type", "application/json")
	}
	if len(body) == 0 {
		req.Body = http.NoBody
	}
	return &openapi3filter.RequestValidationInput{Request: req, Route: s.route(method, path), Options: validationOptions}, nil
}

// checkRequest validates a routed request against its operation.
func (s *apiSpec) checkRequest(ctx context.Context, method, path string, header http.Header, body []byte) error {
	if s.operation(method, path) == nil {
		if s.paths[path] == nil {
			return fmt.Errorf("the spec has no path %s", path)
		}
		return fmt.Errorf("the spec has no %s operation on %s", method, path)
	}
	in, err := s.requestInput(method, path, header, body)
	if err != nil {
		return err
	}
	return openapi3filter.ValidateRequest(ctx, in)
}

// checkResponse validates the answer to a routed request. It accepts the
// real server's documented departures from its spec and nothing else:
//   - every error (400, 404, 429, 500) is a JSON array of strings, whatever
//     statuses the operation lists (a PATCH answered by CH's generic
//     handler is a 400 without a body);
//   - vmm.shutdown answers 200 with an empty body (the spec says 204);
//   - CH serialises absent optional fields as null, which the spec does not
//     mark nullable: nulls in objects are dropped before validating.
//
// notFoundOK says whether the release answers 404 to a routed request
// (from v53.0, for a VM that is not created).
func (s *apiSpec) checkResponse(ctx context.Context, method, path string, reqHeader http.Header, reqBody []byte, status int, body []byte, notFoundOK bool) error {
	if s.operation(method, path) == nil {
		return nil // answered by the transport layer, nothing to validate against
	}
	if status >= 400 {
		switch status {
		case http.StatusBadRequest, http.StatusTooManyRequests, http.StatusInternalServerError:
		case http.StatusNotFound:
			if !notFoundOK {
				return fmt.Errorf("CH before v53.0 answers no 404 to a routed request")
			}
		default:
			return fmt.Errorf("CH never answers status %d to a routed request", status)
		}
		if len(body) == 0 && status == http.StatusBadRequest {
			return nil
		}
		var chain []string
		if err := json.Unmarshal(body, &chain); err != nil || len(chain) == 0 {
			return fmt.Errorf("error body %q is not a non-empty JSON array of strings", body)
		}
		return nil
	}
	if path == "/vmm.shutdown" && status == http.StatusOK && len(body) == 0 {
		return nil
	}
	if len(body) > 0 {
		var v any
		if err := json.Unmarshal(body, &v); err != nil {
			return fmt.Errorf("body is not JSON: %w", err)
		}
		b, err := json.Marshal(dropNulls(v))
		if err != nil {
			return err
		}
		body = b
	}
	in, err := s.resp.requestInput(method, path, reqHeader, reqBody)
	if err != nil {
		return err
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	return openapi3filter.ValidateResponse(ctx, &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 status,
		Header:                 h,
		Body:                   io.NopCloser(bytes.NewReader(body)),
		Options:                validationOptions,
	})
}

// dropNulls removes null members of objects, recursively.
func dropNulls(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			if e == nil {
				delete(t, k)
				continue
			}
			t[k] = dropNulls(e)
		}
	case []any:
		for i, e := range t {
			t[i] = dropNulls(e)
		}
	}
	return v
}

// openapiSchema is a resolved schema of the spec.
type openapiSchema = openapi3.Schema

func errUnknownPath(p string) error {
	return fmt.Errorf("the spec (or this build of CH) has no endpoint %s", p)
}
