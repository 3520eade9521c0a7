module github.com/chvmm/chvmm/versions/v53

go 1.26.0
