package chsim

import (
	"fmt"

	v48spec "github.com/chvmm/chvmm/versions/v48/spec"
	v49spec "github.com/chvmm/chvmm/versions/v49/spec"
	v50spec "github.com/chvmm/chvmm/versions/v50/spec"
	v51spec "github.com/chvmm/chvmm/versions/v51/spec"
	v52spec "github.com/chvmm/chvmm/versions/v52/spec"
	v53spec "github.com/chvmm/chvmm/versions/v53/spec"
)

// specs are the OpenAPI specs of the modelled releases, as apigen generated
// them (the official spec with its documented fix-ups, as JSON).
var specs = map[string]string{
	"v48.0": v48spec.JSON,
	"v49.0": v49spec.JSON,
	"v50.2": v50spec.JSON,
	"v51.2": v51spec.JSON,
	"v52.0": v52spec.JSON,
	"v53.0": v53spec.JSON,
}

// Spec returns the OpenAPI spec (JSON) the simulator serves and validates
// CH release tag ("v50.2") against: the official spec with apigen's
// documented fix-ups.
func Spec(tag string) ([]byte, error) {
	s, ok := specs[tag]
	if !ok {
		return nil, fmt.Errorf("no OpenAPI spec for CH %s", tag)
	}
	return []byte(s), nil
}
