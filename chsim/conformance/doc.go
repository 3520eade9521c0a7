// Package conformance holds, in its tests, the conformance suite of
// core.Hypervisor run on every release chvmm embeds, against the simulator
// of that release (chsimtest.TestHypervisor), and what needs every release
// registered at once: restoring a snapshot on the release that wrote it,
// and moving a VM's config from each release to every later one.
//
// The version modules' own tests need core only, so that a program that
// imports one of them pulls in nothing else of this repository; the suite
// lives here, beside the simulator.
package conformance
