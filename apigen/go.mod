module github.com/chvmm/chvmm/apigen

go 1.26.0

require (
	github.com/chvmm/chvmm/core v0.0.0
	github.com/stretchr/testify v1.12.1
	golang.org/x/mod v0.38.0
	gopkg.in/yaml.v3 v3.0.1
)

require (
	github.com/hashicorp/go-version v1.9.0 // indirect
	go.yaml.in/yaml/v3 v3.0.6 // indirect
)

replace github.com/chvmm/chvmm/core => ../core
