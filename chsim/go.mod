module github.com/chvmm/chvmm/chsim

go 1.26.0
