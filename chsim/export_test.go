package chsim

// SpecSource exposes the releases' specs to the package's external tests.
var SpecSource = specSource
