module github.com/chvmm/chvmm/versions/v52

go 1.26.0
