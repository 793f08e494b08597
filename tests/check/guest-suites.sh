#!/usr/bin/env bash
# Inside the VM: run every test suite of `make check`, one after the other.
# Each suite's output goes to the console and to RESULTS/NAME.tap (TAP) or
# RESULTS/NAME.xml (GoogleTest); its exit status to RESULTS/NAME.status.
# tests/check/report.py reads them back on the host.
# Usage: guest-suites.sh BUILD_DIR RESULTS_DIR
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:?usage: guest-suites.sh BUILD_DIR RESULTS_DIR}
results=${2:?usage: guest-suites.sh BUILD_DIR RESULTS_DIR}
mkdir -p "$results"

echo "# kernel $(uname -r), $(nproc) vCPU, $(awk '/MemTotal/ {print $2 " kB"}' /proc/meminfo)"

# shellcheck source=tests/check/suites.sh
source "$top/tests/check/suites.sh"

# First: the guest has the vCPUs check.sh asked for (tests/vm/run --smp 2),
# so that every suite below really runs on two CPUs.
tap_suite vm-smp "$top/tests/check/vm-smp.sh" "${KSMPART_CHECK_SMP:-2}"
for t in "$build"/tests/kselftest/*; do
	[[ -x $t ]] && tap_suite "kselftest-$(basename "$t")" "$t"
done
# Short forms of the hardening runs (make stress / make fuzz run the long ones).
tap_suite stress "$build/tests/stress/ksm_stress" --duration "${KSMPART_STRESS_SECONDS:-60}"
tap_suite fuzz "$build/tests/fuzz/ksm_fuzz" --seed 1
# No process substitution: the guest has no /dev/fd. Paths have no blanks.
for t in $(find "$build/user/tests/vm" -name '*_vmtest' -type f -perm -u+x | sort); do
	gtest_suite "$(basename "$t")" "$t"
done
tap_suite install-examples env KSMPART_BUILD="$build" "$top/tests/install/run-examples.sh"
tap_suite upstream-ksm "$top/tests/upstream/ksm-selftests.sh" "$build/selftests/mm" \
	"${KSMPART_UPSTREAM_SIZE_MIB:-100}"
exit 0
