# chvmm: code generation, Cloud Hypervisor binaries and tests of the workspace.
#
#   make specs              fetch the spec of every release in versions/*/spec.lock into ./specs
#   make generate           specs, then regenerate every version module (apigen generate), after
#                           comparing each spec with its server's facts (apigen/facts/<tag>.json)
#   make facts CH_SRC=dir   read each release's server (routes, serde types) from the Cloud
#                           Hypervisor git directory dir at its tag into apigen/facts/<tag>.json
#   make check-generated    generate, then fail if versions/, core/*.gen.go or README.md differ from git
#   make new-version V=54.0 [CH_SRC=dir]
#                           fetch the v54.0 spec (and, with CH_SRC, write its server's facts)
#                           and create versions/v54 (apigen new-version)
#   make check-new-version  try new-version on a copy of the repository (a fake next release)
#   make binaries [FROM=dir] [VERSIONS="v48 v53"]
#                           download (or import from dir/<tag>/<arch>/cloud-hypervisor) the
#                           CH binaries, checked against versions/vNN/binaries.lock
#   make release R=N        make the working tree release N's commit on a branch release/v0.N
#                           (binaries added, requirements on the tags, no replace lines) and
#                           print the tags: core/v0.N.0, versions/vMAJOR.MINOR.N, chsim/v0.N.0, …
#   make check-release      rehearse release 1 in a copy with stand-in binaries; consumer
#                           programs built from a file proxy download only what they import
#   make test               gofmt check, then go vet and go test in every module of go.work
#   make bench              benchmarks against their baselines (BENCH=regexp COUNT=n)
#   make bench-supervision [VMMS=1000 SOAK=60s]
#                           the cost of supervision: VMMS simulator VMMs from one process,
#                           idle for SOAK; fails if an idle VMM costs more than its bounds
#                           or anything grows (minutes; not in make test or CI)
#   make bench-real [BINARY_DIR=dir] [COUNT=n]
#                           the real-CH benchmarks, each against its raw exec/net/http baseline,
#                           on every release in dir/vNN.N/<arch>/cloud-hypervisor (default
#                           ../shared/ch-bin; needs /dev/kvm), COUNT rounds interleaved: a table
#                           of chvmm, baseline, ratio and goal per release, and the StartToReady
#                           breakdown (e2e/cmd/benchreal; raw output in .cache/bench-real.txt).
#                           A few minutes; not part of make test
#   make fuzz               every fuzz target for FUZZTIME (30s)
#   make test-real [BINARY_DIR=dir]
#                           the real-CH suite (needs /dev/kvm and CH binaries, embedded or
#                           in dir/vNN.N/<arch>/cloud-hypervisor)
#   make test-assets        a Debian kernel + busybox initramfs for make test-real
#   make record-real [RECORD_BINARY_DIR=dir]
#                           record what each real CH release (dir/vNN.N/<arch>/{cloud-hypervisor,
#                           ch-remote}, default ../shared/ch-bin) answers to chrecord's script into
#                           chsim/testdata/real/vNN.N.json (needs /dev/kvm and root; not in make test)
#
# SPEC_SOURCE=dir takes specs from dir/<tag>/cloud-hypervisor.yaml instead of upstream
# (CI: SPEC_SOURCE=../shared/ch-specs). Releases come from versions/*/spec.lock.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := test

SPEC_SOURCE ?=
SPEC_UPSTREAM := https://raw.githubusercontent.com/cloud-hypervisor/cloud-hypervisor
SPEC_UPSTREAM_PATH := vmm/src/api/openapi/cloud-hypervisor.yaml
SPECS_DIR := specs

# Release tags of the version modules, oldest first, from their spec.lock.
TAGS := $(shell cat versions/*/spec.lock 2>/dev/null | cut -d' ' -f1 | sort -V)
# Tags `make specs` fetches (new-version fetches just the new one).
SPEC_TAGS ?= $(TAGS)

APIGEN := go run ./apigen
FROM ?=
VERSIONS ?=
V ?=
CH_SRC ?=

COUNT ?= 3
BENCH ?= .
FUZZTIME ?= 30s
TEST_ASSETS := .cache/test-assets
FUZZ_TARGETS := core/chversion:FuzzReadBinary core:FuzzAPIErrorBody e2e:FuzzConstraint e2e:FuzzVMConfigConvert

.PHONY: specs facts generate check-generated new-version check-new-version binaries test bench bench-supervision bench-real fuzz test-real test-assets record-real

specs:
	@test -n "$(strip $(SPEC_TAGS))" || { echo "no release tags: versions/*/spec.lock is missing" >&2; exit 1; }
	@for tag in $(SPEC_TAGS); do \
		dst="$(SPECS_DIR)/$$tag/cloud-hypervisor.yaml"; \
		mkdir -p "$(SPECS_DIR)/$$tag"; \
		if [ -n "$(SPEC_SOURCE)" ]; then \
			src="$(SPEC_SOURCE)/$$tag/cloud-hypervisor.yaml"; \
			test -f "$$src" || { echo "make specs: $$src does not exist (SPEC_SOURCE=$(SPEC_SOURCE))" >&2; exit 1; }; \
			cat "$$src" > "$$dst.tmp"; \
		else \
			curl -fsSL --retry 3 -o "$$dst.tmp" "$(SPEC_UPSTREAM)/$$tag/$(SPEC_UPSTREAM_PATH)" || \
				{ echo "make specs: cannot download the $$tag spec; set SPEC_SOURCE=dir to copy dir/$$tag/cloud-hypervisor.yaml instead" >&2; rm -f "$$dst.tmp"; exit 1; }; \
		fi; \
		mv "$$dst.tmp" "$$dst"; \
	done
	@echo "specs: $(SPEC_TAGS) in $(SPECS_DIR)/"

generate: specs
	$(APIGEN) generate -specs $(SPECS_DIR)

# The facts need the Cloud Hypervisor source (a git directory with the release
# tags, read without a checkout); make generate only reads the committed files.
facts:
	@test -n "$(CH_SRC)" || { echo "usage: make facts CH_SRC=<cloud-hypervisor git dir> [VERSIONS=\"v48 v53\"]" >&2; exit 1; }
	$(APIGEN) facts -ch $(CH_SRC) $(VERSIONS)

check-generated: generate
	@changes="$$(git status --porcelain --untracked-files=all -- versions 'core/*.gen.go' README.md)"; \
	if [ -n "$$changes" ]; then \
		echo "check-generated: versions/, core/*.gen.go or README.md's generated table differ from what make generate produces; run make generate and commit:" >&2; \
		echo "$$changes" >&2; \
		git --no-pager diff --stat -- versions 'core/*.gen.go' README.md >&2; \
		exit 1; \
	fi
	@echo "check-generated: versions/, core/*.gen.go and README.md's generated table are up to date"

new-version:
	@test -n "$(V)" || { echo "usage: make new-version V=54.0 [SPEC_SOURCE=dir]" >&2; exit 1; }
	$(MAKE) --no-print-directory specs SPEC_TAGS="$(TAGS) v$(patsubst v%,%,$(V))"
	$(if $(CH_SRC),$(APIGEN) facts -ch $(CH_SRC) v$(patsubst v%,%,$(V)))
	$(APIGEN) new-version -V $(V) -specs $(SPECS_DIR)

# A copy of the repository gets a fake next release (the newest spec and facts
# under the next major's tag) through make new-version; its module must build
# and pass. As a maintainer would for a release with the newest one's defects,
# the copy extends the newest tag's fix-ups and accepted differences to it.
check-new-version: specs
	@latest="$(lastword $(TAGS))"; major="$${latest#v}"; major="$${major%%.*}"; next="$$((major + 1)).0"; \
	tmp="$$(mktemp -d)"; trap 'rm -rf "$$tmp"' EXIT; \
	mkdir -p "$$tmp/repo" "$$tmp/specs"; \
	cp -R $(SPECS_DIR)/. "$$tmp/specs/"; mkdir -p "$$tmp/specs/v$$next"; \
	tar --exclude=./.git --exclude=./$(SPECS_DIR) --exclude='./versions/*/binaries/*/*' -cf - . | tar -C "$$tmp/repo" -xf -; \
	cp "$(SPECS_DIR)/$$latest/cloud-hypervisor.yaml" "$$tmp/specs/v$$next/cloud-hypervisor.yaml"; \
	sed 's/^  "tag": "'"$$latest"'",$$/  "tag": "v'"$$next"'",/' "apigen/facts/$$latest.json" > "$$tmp/repo/apigen/facts/v$$next.json"; \
	grep -q '"tag": "v'"$$next"'"' "$$tmp/repo/apigen/facts/v$$next.json" || { echo "check-new-version: apigen/facts/$$latest.json has no tag line to rewrite" >&2; exit 1; }; \
	sed -i 's/"'"$$latest"'"/"'"$$latest"'", "v'"$$next"'"/g' "$$tmp/repo/apigen/fixups.go" "$$tmp/repo/apigen/accepted.go"; \
	echo "check-new-version: make new-version V=$$next in $$tmp/repo (spec, facts, fix-ups and accepted differences of $$latest)"; \
	$(MAKE) --no-print-directory -C "$$tmp/repo" new-version V="$$next" SPEC_SOURCE="$$tmp/specs"; \
	grep -q "versions/v$$((major + 1))\$$" "$$tmp/repo/go.work" || { echo "check-new-version: go.work does not use versions/v$$((major + 1))" >&2; exit 1; }; \
	test "$$(cut -d' ' -f1 "$$tmp/repo/versions/v$$((major + 1))/spec.lock")" = "v$$next"; \
	cd "$$tmp/repo/versions/v$$((major + 1))"; \
	go build ./... && go vet ./... && go test -count=1 ./... || { echo "check-new-version: versions/v$$((major + 1)) does not build or pass" >&2; exit 1; }; \
	echo "check-new-version: versions/v$$((major + 1)) created, built and tested"

binaries:
	$(APIGEN) binaries $(if $(FROM),-from $(FROM)) $(VERSIONS)

R ?=
release:
	@test -n "$(R)" || { echo "usage: make release R=N (the chvmm release number; make binaries first)" >&2; exit 1; }
	$(APIGEN) release -r $(R)

check-release:
	$(APIGEN) check-release $(if $(FROM),-from $(FROM))

test:
	@unformatted="$$(git ls-files '*.go' | xargs gofmt -l)"; \
	if [ -n "$$unformatted" ]; then echo "make test: gofmt -w these files:" >&2; echo "$$unformatted" >&2; exit 1; fi
	@failed=""; \
	for dir in $$(go list -m -f '{{.Dir}}'); do \
		if [ -z "$$(cd "$$dir" && go list -e ./... 2>/dev/null)" ]; then continue; fi; \
		echo "== $${dir#$(CURDIR)/}"; \
		(cd "$$dir" && go vet ./... && go test ./...) || failed="$$failed $${dir#$(CURDIR)/}"; \
	done; \
	if [ -n "$$failed" ]; then echo "make test: failed in:$$failed" >&2; exit 1; fi

# Benchmarks, each with its baseline in the same run (BENCH=regexp, COUNT=n).
bench:
	go test -run '^$$' -bench '$(BENCH)' -benchmem -count $(COUNT) ./e2e ./core

# The cost of supervision at scale (e2e BenchmarkSupervisionCost): VMMS
# simulator child processes of one supervisor, soaked idle for SOAK.
VMMS ?= 1000
SOAK ?= 60s
bench-supervision:
	CHVMM_BENCH_SUPERVISION=1 CHVMM_SUPERVISION_VMMS=$(VMMS) CHVMM_SUPERVISION_SOAK=$(SOAK) \
		go test -run '^$$' -bench '^BenchmarkSupervisionCost$$' -benchtime 1x -timeout 30m ./e2e
# Real-CH benchmarks against their baselines (e2e/bench_real_test.go), every
# release in BENCH_REAL_BINARY_DIR, COUNT rounds; needs /dev/kvm.
BENCH_REAL_BINARY_DIR = $(or $(BINARY_DIR),$(CHVMM_TEST_BINARY_DIR),../shared/ch-bin)
bench-real:
	@mkdir -p .cache
	go run ./e2e/cmd/benchreal -binary-dir "$(abspath $(BENCH_REAL_BINARY_DIR))" -count $(COUNT) -out .cache/bench-real.txt

# Every fuzz target for FUZZTIME (30 s) each; not in CI (their seeds run in make test).
fuzz:
	@for target in $(FUZZ_TARGETS); do \
		pkg="./$${target%%:*}"; name="$${target#*:}"; \
		echo "== $$name ($$pkg, $(FUZZTIME))"; \
		go test -list "^$$name\$$" "$$pkg" | grep -x "$$name" >/dev/null || { echo "make fuzz: no fuzz target $$name in $$pkg" >&2; exit 1; }; \
		go test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) "$$pkg" || exit 1; \
	done

# Real Cloud Hypervisor suite: needs /dev/kvm and binaries (embedded, or
# BINARY_DIR=dir with dir/vNN.N/<arch>/cloud-hypervisor, as ../shared/ch-bin);
# boots the Linux guest of make test-assets when CHVMM_TEST_KERNEL and
# CHVMM_TEST_INITRAMFS name it. Without KVM or binaries it skips, saying why.
BINARY_DIR ?= $(CHVMM_TEST_BINARY_DIR)
test-real:
	@if [ -n "$(BINARY_DIR)" ] && [ ! -d "$(BINARY_DIR)" ]; then \
		echo "make test-real: BINARY_DIR=$(BINARY_DIR) is no directory (want dir/vNN.N/<arch>/cloud-hypervisor)" >&2; exit 1; fi
	CHVMM_TEST_BINARY_DIR="$(if $(BINARY_DIR),$(abspath $(BINARY_DIR)))" \
		go test -count=1 -v -timeout 10m -run '^TestReal' ./e2e

# Debian's linux-image-amd64 bzImage + a busybox-static initramfs, cached in .cache/test-assets.
test-assets:
	e2e/scripts/test-assets.sh $(TEST_ASSETS)
	@echo "now: CHVMM_TEST_KERNEL=$(CURDIR)/$(TEST_ASSETS)/vmlinuz CHVMM_TEST_INITRAMFS=$(CURDIR)/$(TEST_ASSETS)/initramfs.cpio.gz make test-real"

# What real CH answers, recorded for chsim's replay tests (chsim/replay_test.go):
# needs /dev/kvm, root (add-net makes CH create TAP devices) and the binaries.
RECORD_BINARY_DIR ?= ../shared/ch-bin
record-real:
	go run ./e2e/cmd/chrecord -binary-dir "$(RECORD_BINARY_DIR)" -out chsim/testdata/real
