package chsim

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCheckResponseNotFoundOnlyFromV53: a 404 to a routed request is a
// departure only v53.0 has (VM not created); before, it is a violation.
func TestCheckResponseNotFoundOnlyFromV53(t *testing.T) {
	spec, err := loadSpec("v48.0")
	require.NoError(t, err)
	body := []byte(`["Error from API","The VM info is not available","VM is not created"]`)
	err = spec.checkResponse(t.Context(), http.MethodGet, "/vm.info", http.Header{}, nil, http.StatusNotFound, body, false)
	assert.ErrorContains(t, err, "no 404")
	assert.NoError(t, spec.checkResponse(t.Context(), http.MethodGet, "/vm.info", http.Header{}, nil, http.StatusNotFound, body, true))
	assert.NoError(t, spec.checkResponse(t.Context(), http.MethodGet, "/vm.info", http.Header{}, nil, http.StatusInternalServerError, body, false))
}
