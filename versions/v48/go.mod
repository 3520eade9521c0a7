module github.com/chvmm/chvmm/versions/v48

go 1.26.0
