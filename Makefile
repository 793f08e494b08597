# ksmpart: one entry point.
#   make          build everything (release kernel, user space, tests) and run the demo
#   make check    build the debug kernel and run every test suite; ends with "N passed, N failed"
# See README.md for the rest (make help).

# KSMPART_BUILD from the environment (what the scripts read) moves build/ too.
BUILD ?= $(or $(KSMPART_BUILD),$(CURDIR)/build)
export KSMPART_BUILD := $(BUILD)

TREE := $(BUILD)/linux
HEADERS := $(BUILD)/kernel-headers/usr/include
SELFTESTS := $(BUILD)/selftests/mm
KSELFTEST_SRCS := $(wildcard tests/kselftest/*.c)
KSELFTESTS := $(patsubst tests/kselftest/%.c,$(BUILD)/tests/kselftest/%,$(KSELFTEST_SRCS))
# Helper programs of the kselftests, not suites themselves (so not in
# $(BUILD)/tests/kselftest): a 32-bit static one for ksm_part_compat (review
# 2026-12 F1/L8: the kernel must meet a compat task).
KSELFTEST_HELPERS := $(BUILD)/tests/kselftest-helpers/ksm_compat32_helper
# Stress and fuzzer (issue 7): short forms in make check, long ones in
# make stress / make fuzz.
HARDENING := $(BUILD)/tests/stress/ksm_stress $(BUILD)/tests/fuzz/ksm_fuzz
VM_FLAVOUR ?= release

MAKEFLAGS += --no-print-directory
.NOTPARALLEL:
.PHONY: all demo check deps kernel-tree export-patches kernel-release kernel-debug kernel-kcsan \
	headers selftests kselftests user shell shell-debug clean help checkpatch install

all: deps kernel-release user selftests kselftests demo

help:
	@sed -n 's/^## //p' $(MAKEFILE_LIST)

## make                 build everything and run the demo (release kernel)
## make check           debug kernel + all test suites (host and VM)
## make demo            boot the release kernel and run the demo
## make shell           interactive shell in the VM (make shell-debug: debug kernel)
## make kernel-tree     build/linux as git: pinned source + kernel/patches/ as commits
## make export-patches  write build/linux's commits back to kernel/patches/
## make checkpatch      checkpatch --strict on kernel/patches/ and our new kernel files
## make kernel-release  build the release kernel (make kernel-debug: the debug one,
##                      make kernel-kcsan: the data race detector one)
## make user            libksmpart, ksmpart-tool and their tests (CMake)
## make install         install the library, headers, pkg-config/CMake files, tool, daemon,
##                      OCI hook, systemd units and man pages (PREFIX=/usr/local, DESTDIR=)
## make uninstall       remove what the last make install wrote
## make clean           remove build/ (the ccache in ~/.cache/ksmpart stays)
## make docs-check     docs build without warnings (reST, links, SVG, man pages)
## make stress         the stress test on the debug kernel (STRESS_SECONDS=600)
## make stress-kcsan   the same on the KCSAN kernel, 2 vCPUs; data races collected in
##                      build/stress-kcsan/kcsan-reports.txt (not failures)
## make fuzz            the system call fuzzer on the release kernel (FUZZ_CALLS=1050000)
## make patches        the upstream series in build/patches/ (cover letter, man-pages patch),
##                      each patch checked: checkpatch --strict, kernel-doc, docutils, builds
##                      (release, CONFIG_KSM_PARTITION=n, allnoconfig+KSM), boot + selftests
##                      (KSMPART_PATCHES_NOBOOT=1: no boots, KSMPART_PATCHES_NOBUILD=1: neither)
## make check-arm64    cross-build the arm64 kernel, boot it under qemu-system-aarch64 (2 vCPUs)
##                      and run the partition kselftests, stress and fuzz (ARM64_FLAVOUR=arm64-64k:
##                      64 KiB pages)
## make deb            installable linux-image/linux-headers .debs from Debian's config
##                      (DEB_FLAVOUR=cloud-amd64|amd64, DEB_DEBUG_INFO=1), in build/deb-FLAVOUR/
## make check-deb      boot the kernel of those packages (2 vCPUs) and run every VM suite
## make kernel-configs compile-only builds: CONFIG_KSM_PARTITION=n and CONFIG_NUMA=n
## make shell-deb      interactive shell on the packaged kernel
## make bench-deb      make bench on the packaged kernel (build/bench-deb/)
## make bench           ksm_merge vs ksmd benchmark in the release VM, ratios in build/bench/
##                      (BENCH_QUICK=1: ~3 min smoke run; BENCH_* sizes: docs/performance.md)

deps:
	@scripts/deps.sh kernel vm user docs

kernel-tree:
	@kernel/scripts/prepare-tree.sh

export-patches:
	@kernel/scripts/export-patches.sh

kernel-release kernel-debug kernel-kcsan: kernel-tree
	@kernel/scripts/build.sh $(@:kernel-%=%)

# User-space view of the patched kernel's UAPI, for the selftests.
headers: kernel-tree
	@$(MAKE) -s -C $(TREE) O=$(BUILD)/kernel-headers headers_install

selftests: headers
	@mkdir -p $(SELFTESTS)
	@$(MAKE) -s -C $(TREE)/tools/testing/selftests/mm OUTPUT=$(SELFTESTS) \
		KHDR_INCLUDES="-isystem $(HEADERS)" $(SELFTESTS)/ksm_tests $(SELFTESTS)/ksm_functional_tests

kselftests: headers $(KSELFTESTS) $(KSELFTEST_HELPERS) $(HARDENING)

# The 32-bit static helper of ksm_part_compat (needs gcc-multilib).
$(BUILD)/tests/kselftest-helpers/%: tests/kselftest/helpers/%.c
	@mkdir -p $(@D)
	$(CC) -m32 -static -O2 -g -Wall -Werror -o $@ $<

$(BUILD)/tests/kselftest/%: tests/kselftest/%.c $(wildcard tests/kselftest/*.h) $(HEADERS)/linux/ksmpart.h
	@mkdir -p $(@D)
	$(CC) -O2 -g -Wall -Werror -isystem $(HEADERS) -I$(TREE)/tools/testing/selftests \
		-o $@ $<

$(BUILD)/tests/stress/%: tests/stress/%.c $(wildcard tests/kselftest/*.h) $(HEADERS)/linux/ksmpart.h
	@mkdir -p $(@D)
	$(CC) -O2 -g -Wall -Wextra -Werror -isystem $(HEADERS) -Itests/kselftest -o $@ $< -lpthread

$(BUILD)/tests/fuzz/%: tests/fuzz/%.c $(wildcard tests/kselftest/*.h) $(HEADERS)/linux/ksmpart.h
	@mkdir -p $(@D)
	$(CC) -O2 -g -Wall -Wextra -Werror -isystem $(HEADERS) -Itests/kselftest -o $@ $< -lpthread

# Warnings are errors here (and so in CI); a distribution's own build
# (cmake -DCMAKE_BUILD_TYPE=Release) does not get -Werror unless it asks.
user:
	@cmake -S . -B $(BUILD)/user -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKSMPART_WERROR=ON >/dev/null
	@cmake --build $(BUILD)/user -j$$(nproc)

PREFIX ?= /usr/local
install: user
	@DESTDIR=$(DESTDIR) cmake --install $(BUILD)/user --prefix $(PREFIX)

# Removes what the last 'make install' wrote (build/user/install_manifest.txt).
.PHONY: uninstall
uninstall:
	@cmake --build $(BUILD)/user --target uninstall

demo: kernel-release user $(BUILD)/demo/synth-tenant
	tests/vm/run --release --timeout 600 -- $(CURDIR)/demo/demo.sh $(BUILD)

$(BUILD)/demo/synth-tenant: demo/synth-tenant.c
	@mkdir -p $(@D)
	$(CC) -O2 -g -Wall -Wextra -Werror -o $@ $<

check: deps kernel-debug user selftests kselftests
	@tests/check/check.sh

shell: kernel-$(VM_FLAVOUR) user
	tests/vm/run --$(VM_FLAVOUR) --shell

shell-debug:
	@$(MAKE) shell VM_FLAVOUR=debug

# Run from the kernel tree: in our repository checkpatch would take the tracked
# .patch files for source files (git ls-files) and flag every blank context line.
# The tree is Debian's source snapshot without upstream history: the ids of the
# fixes' Fixes: tags cannot be looked up in it.
checkpatch: kernel-tree
	@cd $(TREE) && for p in $(CURDIR)/kernel/patches/*.patch; do \
		scripts/checkpatch.pl --strict -q --ignore UNKNOWN_COMMIT_ID $$p || exit 1; done && \
	scripts/checkpatch.pl --strict -q --no-tree -f \
		$(abspath $(wildcard kernel/mm/*.c kernel/mm/*.h)) && echo "checkpatch: clean"

clean:
	rm -rf $(BUILD)

# The benchmark (docs/performance.md): one VM boot runs every measurement,
# the report (ratio table, summary.json, throughput.png) is made on the host.
# BENCH_* variables given to make are passed to bench/run.sh in the guest.
# make bench-deb: the same on the kernel of make deb (results in build/bench-deb/).
.PHONY: bench bench-deb
BENCH_VM ?= --release
BENCH_OUT ?= $(BUILD)/bench
# Guest memory: the largest size step (4 GiB of pages) plus the kernel's own.
BENCH_MEM ?= 6G
bench:
	@scripts/deps.sh kernel vm user bench
	@$(MAKE) $(if $(filter --release,$(BENCH_VM)),kernel-release) user
	tests/vm/run $(BENCH_VM) --smp 2 --mem $(BENCH_MEM) --timeout 5400 --append slab_nomerge \
		$(foreach v,$(filter-out BENCH_VM BENCH_OUT BENCH_MEM,$(filter BENCH_%,$(.VARIABLES))),--env '$(v)=$($(v))') \
		-- $(CURDIR)/bench/run.sh $(BENCH_OUT)
	@$(firstword $(wildcard /usr/bin/python3) python3) bench/report.py $(BENCH_OUT)

bench-deb:
	@[ -f $(DEB_DIR)/packages ] || $(MAKE) deb
	@$(MAKE) bench BENCH_VM="--deb $(DEB_DIR)" BENCH_OUT=$(BUILD)/bench-deb

# An installable kernel (kernel/scripts/build-deb.sh, README "Installing on a
# Debian machine"): Debian's own configuration of the flavour plus ours.
DEB_FLAVOUR ?= cloud-amd64
DEB_DIR ?= $(BUILD)/deb-$(DEB_FLAVOUR)
.PHONY: deb check-deb shell-deb kernel-configs
deb:
	@scripts/deps.sh kernel deb
	@$(MAKE) kernel-tree
	@kernel/scripts/build-deb.sh $(DEB_FLAVOUR)

# The packaged kernel under the same VM suites as make check; DEB_DIR=DIR
# tests packages built elsewhere (then nothing is rebuilt).
check-deb: deps user selftests kselftests
	@scripts/deps.sh deb
	@[ "$(origin DEB_DIR)" != file ] || $(MAKE) deb
	@tests/check/check.sh --deb $(DEB_DIR)

shell-deb: user
	@[ -f $(DEB_DIR)/packages ] || $(MAKE) deb
	tests/vm/run --deb $(DEB_DIR) --shell

# Configurations the series promises to build (compile only, tinyconfig +
# kernel/configs/common.config + release.config + one of no-*.config).
kernel-configs: deps kernel-tree
	@kernel/scripts/build.sh no-partition
	@kernel/scripts/build.sh no-numa

# The mailed series (kernel/series/, kernel/scripts/make-patches.sh): composed
# in build/series/linux, every patch checked and built in order.
.PHONY: patches
patches: kernel-release
	@scripts/deps.sh kernel docs
	@kernel/scripts/make-patches.sh

# arm64 (issue 19): clang/LLVM as the cross compiler (see README) and
# qemu-system-aarch64; the tests are cross-compiled into the initramfs
# (tests/vm/arm64/run).
ARM64_FLAVOUR ?= arm64
.PHONY: check-arm64
check-arm64: kernel-tree
	@scripts/deps.sh kernel arm64
	@kernel/scripts/build.sh $(ARM64_FLAVOUR)
	@tests/vm/arm64/run --flavour $(ARM64_FLAVOUR)

.PHONY: docs-check
docs-check:
	@scripts/deps.sh user docs
	@docs/check-docs.sh

# Long runs of the hardening tests (short forms run in make check on the
# debug kernel); a kernel splat fails them like any test (exit 125).
STRESS_SECONDS ?= 600
FUZZ_CALLS ?= 1050000
.PHONY: stress stress-kcsan fuzz
stress: deps kernel-debug kselftests
	tests/vm/run --debug --timeout $$(($(STRESS_SECONDS) + 1200)) -- \
		$(BUILD)/tests/stress/ksm_stress --duration $(STRESS_SECONDS)

# The stress test on the KCSAN kernel (kernel/configs/kcsan.config) with two
# vCPUs: data race reports do not fail the run, they are collected for triage
# in build/stress-kcsan/kcsan-reports.txt (console log next to it); any other
# splat fails it as usual.
stress-kcsan: deps kernel-kcsan kselftests
	@mkdir -p $(BUILD)/stress-kcsan
	@rm -f $(BUILD)/stress-kcsan/kcsan-reports.txt
	tests/vm/run --kcsan --smp 2 --timeout $$(($(STRESS_SECONDS) + 1200)) \
		--log $(BUILD)/stress-kcsan/console.log \
		--kcsan-reports $(BUILD)/stress-kcsan/kcsan-reports.txt -- \
		$(BUILD)/tests/stress/ksm_stress --duration $(STRESS_SECONDS)

# ~1M calls take 10-15 min on the release kernel and ~2 h on the debug one
# (make check runs a 5000-call slice there). The default budget is above 1M
# because calls a thread skips (e.g. no live target) are not made.
fuzz: deps kernel-release kselftests
	tests/vm/run --release --timeout 3600 -- $(BUILD)/tests/fuzz/ksm_fuzz --calls $(FUZZ_CALLS)
