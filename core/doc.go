// Package core drives Cloud Hypervisor (CH) releases that are compiled into
// the program, the way database/sql drives SQL databases through drivers.
//
// Each supported CH major lives in its own module
// (github.com/chvmm/chvmm/versions/v48 … /v53). Importing one for its side
// effect registers that release with this package:
//
//	import _ "github.com/chvmm/chvmm/versions/v50"
//
// A registered [Release] carries the CH version, the API version of its
// OpenAPI spec, the CH binaries embedded for each architecture, and a
// constructor for its generated, typed API client. [Lookup] finds a release by
// exact version ("v50.2", "50.2", "50") or by constraint (">= 49, < 52",
// "~> 50.0"); [GetBinaryPath] extracts a release's binary to a data directory,
// atomically and verified, once; [ParseVersion] asks a CH binary its version.
//
// The file names of this package give its design: registry.go (the registry),
// release.go (what a release carries), version.go (CH version strings),
// extract.go (binary extraction), errors.go (sentinel errors).
package core
