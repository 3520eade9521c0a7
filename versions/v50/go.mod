module github.com/chvmm/chvmm/versions/v50

go 1.26.0

require (
	github.com/chvmm/chvmm/core v0.0.0
	github.com/stretchr/testify v1.12.1
)

require (
	github.com/hashicorp/go-version v1.9.0 // indirect
	go.yaml.in/yaml/v3 v3.0.5 // indirect
	golang.org/x/sys v0.50.0 // indirect
)

replace github.com/chvmm/chvmm/core => ../../core
