module github.com/chvmm/chvmm/versions/v49

go 1.26.0
