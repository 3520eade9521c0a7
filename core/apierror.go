package core

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Sentinel errors for the common answers of the CH API. An [*APIError]
// matches, through errors.Is, every sentinel its answer stands for.
var (
	// ErrVMNotCreated: the VMM has no VM ("VM is not created", or
	// "VM config is missing" when booting without one). Create one first.
	ErrVMNotCreated = errors.New("VM is not created")
	// ErrVMAlreadyCreated: the VMM already has a VM ("VM is already
	// created"). Delete it first, or use another VMM.
	ErrVMAlreadyCreated = errors.New("VM is already created")
	// ErrInvalidState: the operation is not valid in the VM's current state
	// ("VM is not running", "invalid VM state transition: Running to
	// Running", "InvalidStateTransition(Paused, Paused)", …).
	ErrInvalidState = errors.New("operation not valid in the VM's current state")
	// ErrUnknownEndpoint: CH's router does not know the endpoint (it
	// answered 404 ["Not Found"]): this CH build does not serve it (see
	// [Release.Has]). A 404 about the VM (v53's "VM is not created") is not
	// this.
	ErrUnknownEndpoint = errors.New("endpoint not served by this Cloud Hypervisor version")
	// ErrRequestTooLarge: a request body is over 51,200 bytes, which CH
	// refuses. chvmm checks it before sending.
	ErrRequestTooLarge = errors.New("request body too large for the Cloud Hypervisor API")
	// ErrVMMUnreachable: the VMM's API socket refused the connection, or
	// the VMM closed it without answering: it is not running, or it exited
	// under the request. The error also wraps the network error.
	ErrVMMUnreachable = errors.New("Cloud Hypervisor VMM unreachable")
	// ErrTooManyRequests: the VMM answered 429, too many requests queued.
	// Retry later.
	ErrTooManyRequests = errors.New("Cloud Hypervisor API busy (too many requests)")
)

// maxErrorBody bounds how much of an error response is read; maxBodyExcerpt
// bounds the raw excerpt kept in an APIError.
const (
	maxErrorBody   = 64 << 10
	maxBodyExcerpt = 4 << 10
)

// An APIError is a non-2xx answer of the CH API. Every call through a
// Hypervisor, or a typed client from [ClientAs], returns one (maybe wrapped
// in a *url.Error, which errors.As sees through) when the VMM answers with
// an error status.
type APIError struct {
	// Operation is the request, as "PUT /vm.boot" (path relative to the API
	// base).
	Operation string
	// StatusCode is the HTTP status the VMM answered.
	StatusCode int
	// Messages is CH's error chain, outermost error first
	// (["Error from API", "The VM could not boot", "VM config is missing"]).
	// A body that is a JSON object {"error": "…"} gives one message; an
	// empty or non-JSON body gives none.
	Messages []string
	// Body is the raw response body when it was not a JSON array of
	// strings, cut to 4 KiB (Truncated then says so).
	Body string
	// Truncated reports that Body is only the beginning of the response.
	Truncated bool

	kinds []error // sentinels this answer matches
}

// Error returns "PUT /vm.boot: HTTP 500: Error from API: The VM could not
// boot: VM config is missing".
func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: HTTP %d", e.Operation, e.StatusCode)
	switch {
	case len(e.Messages) > 0:
		b.WriteString(": ")
		b.WriteString(strings.Join(e.Messages, ": "))
	case e.Body != "":
		fmt.Fprintf(&b, " %s: body %q", http.StatusText(e.StatusCode), e.Body)
		if e.Truncated {
			b.WriteString(" (truncated)")
		}
	default:
		fmt.Fprintf(&b, " %s (empty body)", http.StatusText(e.StatusCode))
	}
	for _, k := range e.kinds {
		if k == ErrRequestTooLarge {
			fmt.Fprintf(&b, " (CH accepts at most %d bytes)", maxRequestBodySize)
		}
	}
	return b.String()
}

// Unwrap returns the sentinels the answer matches (ErrVMNotCreated,
// ErrInvalidState, ErrUnknownEndpoint, …), so errors.Is works.
func (e *APIError) Unwrap() []error { return e.kinds }

// newAPIError builds the APIError for an answer with status and body (at most
// maxErrorBody bytes of it; truncated says there was more).
func newAPIError(op string, status int, body []byte, truncated bool) *APIError {
	e := &APIError{Operation: op, StatusCode: status}
	var msgs []string
	var obj struct {
		Error *string `json:"error"`
	}
	switch {
	case !truncated && json.Unmarshal(body, &msgs) == nil && msgs != nil:
		e.Messages = msgs
	case !truncated && json.Unmarshal(controlToSpace(body), &obj) == nil && obj.Error != nil:
		e.Messages = []string{*obj.Error}
		e.Body = excerpt(body, &e.Truncated)
	default:
		e.Body = excerpt(body, &e.Truncated)
		e.Truncated = e.Truncated || truncated
	}
	e.kinds = classify(status, e.Messages)
	return e
}

func excerpt(body []byte, truncated *bool) string {
	s := strings.TrimSpace(string(body))
	if len(s) > maxBodyExcerpt {
		*truncated = true
		return s[:maxBodyExcerpt]
	}
	return s
}

// classify maps an answer to the sentinels it stands for.
func classify(status int, msgs []string) []error {
	var kinds []error
	add := func(k error) {
		for _, have := range kinds {
			if have == k {
				return
			}
		}
		kinds = append(kinds, k)
	}
	switch status {
	case http.StatusNotFound:
		if len(msgs) == 1 && msgs[0] == "Not Found" { // the router's own answer
			add(ErrUnknownEndpoint)
		}
	case http.StatusTooManyRequests:
		add(ErrTooManyRequests)
	case http.StatusRequestEntityTooLarge:
		add(ErrRequestTooLarge)
	}
	for _, m := range msgs {
		lm := strings.ToLower(m)
		switch {
		case strings.Contains(lm, "vm is not created"), strings.Contains(lm, "vm config is missing"):
			add(ErrVMNotCreated)
		case strings.Contains(lm, "vm is already created"):
			add(ErrVMAlreadyCreated)
		case strings.Contains(lm, "vm is not running"),
			strings.Contains(lm, "invalid vm state transition"),
			strings.Contains(lm, "invalidstatetransition"),
			strings.Contains(lm, "invalid transition"),
			strings.Contains(lm, "while vm is running"):
			add(ErrInvalidState)
		case strings.Contains(lm, "larger than the limit"):
			add(ErrRequestTooLarge)
		}
	}
	return kinds
}

// controlToSpace returns body with its ASCII control characters replaced by
// spaces. CH's HTTP layer (micro_http) writes its own { "error": "…" }
// answers (unsupported method, body too large) with a raw newline inside
// the string, which is not valid JSON.
func controlToSpace(body []byte) []byte {
	isControl := func(r rune) bool { return r < 0x20 }
	if !bytes.ContainsFunc(body, isControl) {
		return body
	}
	out := bytes.Clone(body)
	for i, c := range out {
		if c < 0x20 {
			out[i] = ' '
		}
	}
	return out
}
