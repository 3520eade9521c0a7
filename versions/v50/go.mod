module github.com/chvmm/chvmm/versions/v50

go 1.26.0
