package core

import (
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type capNetConfig struct {
	ID         *string `json:"id,omitempty"`
	OffloadTso *bool   `json:"offload_tso,omitempty"`
}

type capEnum string

var registerCapsOnce sync.Once

// capReleases registers two releases of versions no other test uses: the
// older without resize-disk and offload_tso, the newer with both.
func capReleases(t *testing.T) (older, newer *Release) {
	t.Helper()
	registerCapsOnce.Do(func() {
		Register(&Release{Version: "v81.0", Endpoints: []Endpoint{{"PUT", "/vm.boot"}}, Schemas: map[string]reflect.Type{
			"NetConfig": reflect.TypeFor[oldNetConfig](),
		}})
		Register(&Release{Version: "v81.1", Endpoints: []Endpoint{{"PUT", "/vm.boot"}, {"PUT", "/vm.caps-test"}}, Schemas: map[string]reflect.Type{
			"NetConfig":    reflect.TypeFor[*capNetConfig](),
			"CapsTestMode": reflect.TypeFor[capEnum](),
		}})
	})
	older, err := Lookup("v81.0")
	require.NoError(t, err)
	newer, err = Lookup("v81.1")
	require.NoError(t, err)
	return older, newer
}

func TestHas(t *testing.T) {
	older, newer := capReleases(t)
	for feature, want := range map[string][2]bool{
		"PUT /vm.boot":           {true, true},
		"PUT /vm.caps-test":      {false, true},
		"GET /vm.caps-test":      {false, false},
		"NetConfig":              {true, true},
		"NetConfig.id":           {true, true},
		"NetConfig.offload_tso":  {false, true}, // through a pointer type
		"NetConfig.no_such":      {false, false},
		"CapsTestMode":           {false, true},
		"CapsTestMode.anything":  {false, false}, // not a struct
		"NoSuchSchema":           {false, false},
		"NoSuchSchema.something": {false, false},
	} {
		assert.Equal(t, want[0], older.Has(feature), "v81.0 Has(%q)", feature)
		assert.Equal(t, want[1], newer.Has(feature), "v81.1 Has(%q)", feature)
	}
}

func TestSupporting(t *testing.T) {
	_, newer := capReleases(t)
	assert.Equal(t, []*Release{newer}, Supporting("PUT /vm.caps-test"))
	assert.Empty(t, Supporting("PUT /vm.never"))
	both := Supporting("PUT /vm.boot")
	assert.True(t, slices.IsSortedFunc(both, func(a, b *Release) int { return a.SemVer().Compare(b.SemVer()) }), "oldest first")
	assert.Contains(t, both, newer)
	assert.Equal(t, "v81.1", FeatureSince("PUT /vm.caps-test"), "from the registered releases when the tables lack it")
}

func TestFeatureSince(t *testing.T) {
	assert.Equal(t, "v50.2", FeatureSince("PUT /vm.resize-disk"))
	assert.Equal(t, "", FeatureSince("PUT /vm.nmi"), "every server routes vm.nmi")
	assert.Equal(t, "v49.0", FeatureSince("NetConfig.offload_tso"))
	assert.Equal(t, "v52.0", FeatureSince("GenericVhostUserConfig"))
	assert.Equal(t, "", FeatureSince("PUT /vm.boot"), "the oldest release has it")
	assert.Equal(t, "", FeatureSince("NoSuch.feature"))
}

func TestFeatures(t *testing.T) {
	fs := Features()
	require.NotEmpty(t, fs)
	assert.True(t, slices.IsSortedFunc(fs, func(a, b Feature) int { return strings.Compare(a.Name, b.Name) }), "sorted by name")
	assert.Contains(t, fs, Feature{Name: "NetConfig.offload_tso", Since: "v49.0"})
	assert.Contains(t, fs, Feature{Name: "PUT /vm.resize-disk", Since: "v50.2"})
	assert.Contains(t, fs, Feature{Name: "GenericVhostUserConfig.queue_sizes", Since: "v52.0"})
	for _, f := range fs {
		assert.True(t, f.Since != "" || f.Until != "", "%s differs between no releases", f.Name)
	}
}

func TestSupportsError(t *testing.T) {
	r := &Release{Version: "v53.0"}
	err := r.supports("PUT", "/vmm.nmi")
	require.ErrorIs(t, err, ErrUnsupported)
	assert.ErrorContains(t, err, "CH v53.0 has no PUT /vmm.nmi")
	err = (&Release{Version: "v48.0"}).supports("PUT", "/vm.resize-disk")
	assert.ErrorContains(t, err, "first in CH v50.2")
	assert.NoError(t, (&Release{Endpoints: []Endpoint{{"GET", "/vm.info"}}}).supports("GET", "/vm.info"))
}
