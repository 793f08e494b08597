#!/usr/bin/env bash
# `make check` after everything is built: host suites, then one boot of the
# debug kernel running every VM suite, then the summary (tests/check/report.py).
# Exits non-zero on any failed test, kernel splat, timeout or guest crash.
#
# `check.sh --deb DIR` (make check-deb): the same VM suites in one boot of the
# kernel packaged by make deb (DIR holds its .debs), after installing and
# removing the packages in a Debian root (tests/install/check-deb-install.sh);
# the other host suites do not depend on the kernel and are left out.
# Results in build/check-deb/.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${KSMPART_BUILD:-$top/build}
kernel=(--debug) check=$build/check label="debug kernel"
if [[ ${1:-} == --deb ]]; then
	deb=${2:?usage: check.sh [--deb DIR]}
	kernel=(--deb "$deb") check=$build/check-deb label="packaged kernel from $deb"
fi
results=$check/results
rm -rf "$results"
mkdir -p "$results"

# shellcheck source=tests/check/suites.sh
source "$top/tests/check/suites.sh"

if [[ -z ${deb:-} ]]; then
	echo "# ===== host suites"
	tap_suite harness "$top/tests/harness/selftest.sh"
	for t in $(find "$build/user/tests/unit" -name '*_test' -type f -perm -u+x | sort); do
		gtest_suite "$(basename "$t")" "$t"
	done
	# Docs: reST, links, SVG, and the man page lint (tests/man/check-man.sh).
	tap_suite docs "$top/docs/check-docs.sh"
	tap_suite tool-completion "$top/tests/unit/tool/completion-check.sh" \
		"$build/user/ksmpart-tool/ksmpart-tool"
else
	echo "# ===== host suites (the packages themselves)"
	# apt-get install/remove in a debootstrapped Debian root, hooks included.
	tap_suite deb-install "$top/tests/install/check-deb-install.sh" "$deb"
fi
# Installs into build/install-check and builds examples/ against it (pkg-config,
# find_package); the VM runs them (tests/install/run-examples.sh).
tap_suite install-check "$top/tests/install/check-install.sh" "$build/user"

echo "# ===== VM suites ($label, 2 vCPUs)"
fails=()
# Two vCPUs, each its own host thread: the kernel's locking and the merge
# engine race for real. The vm-smp suite fails the run if the guest has fewer.
smp=2
console=$check/console.log
"$top/tests/vm/run" "${kernel[@]}" --smp "$smp" --timeout "${KSMPART_CHECK_TIMEOUT:-3000}" \
	--log "$console" --env KSMPART_CHECK_SMP="$smp" --numa 2 --env KSMPART_CHECK_NUMA=2 \
	-- "$top/tests/check/guest-suites.sh" "$build" "$results"
case $? in
0) ;;
123) fails+=("VM: the guest stopped without reporting (panic?), see $console") ;;
124) fails+=("VM: timeout, see $console") ;;
125) fails+=("VM: kernel splat in $console") ;;
*) fails+=("VM: suite runner failed") ;;
esac

# A suite that should have run but left no status is a failure, not a pass.
[[ -f $results/vm-smp.status ]] || fails+=("VM: suite vm-smp did not run")
for t in $(find "$build/user/tests/vm" -name '*_vmtest' -type f -perm -u+x | sort) \
	"$build"/tests/kselftest/* "$build"/tests/stress/ksm_stress "$build"/tests/fuzz/ksm_fuzz; do
	[[ -x $t ]] || continue
	name=$(basename "$t")
	[[ $t == */kselftest/* ]] && name=kselftest-$name
	[[ $name == ksm_stress ]] && name=stress
	[[ $name == ksm_fuzz ]] && name=fuzz
	[[ -f $results/$name.status ]] || fails+=("VM: suite $name did not run")
done

args=()
for f in "${fails[@]}"; do args+=(--fail "$f"); done
exec "$top/tests/check/report.py" "$results" "${args[@]}"
