#!/usr/bin/env bash
# Run the upstream KSM selftests (tools/testing/selftests/mm of the pinned
# tree) as one TAP suite: ksm_tests in the modes run_vmtests.sh uses plus -D
# and -C, each as one test point, then ksm_functional_tests' own TAP.
# Runs as root inside the VM (PFN checks read as 0 without CAP_SYS_ADMIN).
# Usage: ksm-selftests.sh SELFTEST_DIR [SIZE_MIB]
set -uo pipefail
dir=${1:?usage: ksm-selftests.sh SELFTEST_DIR [SIZE_MIB]}
size=${2:-100}

modes=(
	"-M -p 10"
	"-M -p 10 -t 1"
	"-U"
	"-Z -p 10 -z 0"
	"-Z -p 10 -z 1"
	"-P -s $size"
	"-H -s $size"
	"-D -s $size"
	"-C -s $size"
)
echo "TAP version 13"
echo "1..$((${#modes[@]} + 1))"
n=0
for m in "${modes[@]}"; do
	n=$((n + 1))
	out=$("$dir/ksm_tests" $m 2>&1)
	rc=$?
	sed 's/^/# /' <<<"$out"
	case $rc in
	0) echo "ok $n ksm_tests $m" ;;
	4) echo "ok $n ksm_tests $m # SKIP $(tail -n 1 <<<"$out")" ;;
	*) echo "not ok $n ksm_tests $m (exit $rc)" ;;
	esac
done

# ksm_functional_tests speaks TAP itself: fold it in as a subtest so its
# points are counted one by one.
n=$((n + 1))
# It re-executes itself as ./ksm_functional_tests, so it must run from its
# own directory (otherwise the exec fails and the child runs the remaining
# tests a second time). Line-buffered, so fork()ed children do not flush
# copies of the parent's unwritten output.
(cd "$dir" && stdbuf -oL ./ksm_functional_tests) 2>&1 | sed 's/^/    /'
rc=${PIPESTATUS[0]}
if [[ $rc -eq 0 ]]; then
	echo "ok $n ksm_functional_tests"
else
	echo "not ok $n ksm_functional_tests (exit $rc)"
fi
