module github.com/chvmm/chvmm/apigen

go 1.26.0
