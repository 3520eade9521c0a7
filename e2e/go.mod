module github.com/chvmm/chvmm/e2e

go 1.26.0

replace (
	github.com/chvmm/chvmm/chsim => ../chsim
	github.com/chvmm/chvmm/core => ../core
	github.com/chvmm/chvmm/versions/v48 => ../versions/v48
	github.com/chvmm/chvmm/versions/v49 => ../versions/v49
	github.com/chvmm/chvmm/versions/v50 => ../versions/v50
	github.com/chvmm/chvmm/versions/v51 => ../versions/v51
	github.com/chvmm/chvmm/versions/v52 => ../versions/v52
	github.com/chvmm/chvmm/versions/v53 => ../versions/v53
)

require (
	github.com/chvmm/chvmm/chsim v0.0.0
	github.com/chvmm/chvmm/core v0.0.0
	github.com/chvmm/chvmm/versions/v48 v48.0.0
	github.com/chvmm/chvmm/versions/v49 v49.0.0
	github.com/chvmm/chvmm/versions/v50 v50.0.0
	github.com/chvmm/chvmm/versions/v51 v51.0.0
	github.com/chvmm/chvmm/versions/v52 v52.0.0
	github.com/chvmm/chvmm/versions/v53 v53.0.0
	github.com/stretchr/testify v1.12.1
	golang.org/x/sys v0.50.0
)

require (
	github.com/getkin/kin-openapi v0.153.0 // indirect
	github.com/go-openapi/jsonpointer v0.22.5 // indirect
	github.com/go-openapi/swag/jsonname v0.25.5 // indirect
	github.com/hashicorp/go-version v1.9.0 // indirect
	github.com/santhosh-tekuri/jsonschema/v6 v6.0.3 // indirect
	go.yaml.in/yaml/v3 v3.0.5 // indirect
	go.yaml.in/yaml/v4 v4.0.0 // indirect
	golang.org/x/text v0.14.0 // indirect
)
