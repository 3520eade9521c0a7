module github.com/chvmm/chvmm/core

go 1.26.0

require github.com/hashicorp/go-version v1.9.0
