package core

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

// maxAPIErrorText bounds APIError.Error(): the operation, the status line,
// the body excerpt quoted (at most 4 bytes of %q escape per byte of
// maxBodyExcerpt) and the notes.
const maxAPIErrorText = 512 + 4*maxBodyExcerpt + 256

// FuzzAPIErrorBody builds the APIError of arbitrary answers: it never
// panics, its text stays bounded, and it keeps the status and operation.
func FuzzAPIErrorBody(f *testing.F) {
	seeds := []struct {
		status int
		body   string
	}{
		{500, `["Error from API","The VM could not boot","VM config is missing"]`},
		{404, `["Not Found"]`},
		{400, `{ "error": "Request payload with size 60102 is larger than the limit of 51200 allowed by server." }`},
		{429, ``},
		{502, `<html>bad gateway</html>`},
		{500, strings.Repeat("x", maxErrorBody+10)},
		{500, `{"error": null}`},
		{500, `{"error": 5}`},
		{500, `null`},
		{500, `[1, 2]`},
		{500, `["a", null]`},
		{400, "\xff\xfe invalid utf-8"},
		{0, ``},
		{-1, `[]`},
		{999, `{}`},
		{500, `["` + strings.Repeat(`\"`, maxBodyExcerpt) + `"]`},
	}
	for _, s := range seeds {
		f.Add(s.status, []byte(s.body), false)
	}
	f.Add(500, []byte(`["Error from API","VM is not created"]`), true)
	f.Fuzz(func(t *testing.T, status int, body []byte, truncated bool) {
		if len(body) > maxErrorBody {
			body, truncated = body[:maxErrorBody], true // what the transport hands over
		}
		e := newAPIError("PUT /vm.boot", status, body, truncated)
		require.Equal(t, status, e.StatusCode)
		require.Equal(t, "PUT /vm.boot", e.Operation)
		text := e.Error()
		require.True(t, strings.HasPrefix(text, "PUT /vm.boot: HTTP "), text)
		require.LessOrEqual(t, len(e.Body), maxBodyExcerpt)
		if truncated && len(e.Messages) == 0 {
			require.True(t, e.Truncated, "a cut answer says so")
		}
		var msgLen int
		for _, m := range e.Messages {
			msgLen += len(m) + 2
		}
		// Messages are CH's own error chain, shown in full; everything
		// else is bounded.
		require.LessOrEqual(t, len(text), maxAPIErrorText+msgLen, "Error() of %d bytes", len(text))
		if !utf8.Valid(body) && len(e.Messages) == 0 {
			require.True(t, utf8.ValidString(text), "a non-UTF-8 body is quoted: %q", text)
		}
		var target *APIError
		require.True(t, errors.As(error(e), &target))
		for _, k := range e.Unwrap() {
			require.ErrorIs(t, e, k)
		}
	})
}
