module github.com/chvmm/chvmm/versions/v51

go 1.26.0
