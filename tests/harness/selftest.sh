#!/usr/bin/env bash
# Tests of the test harness itself (TAP): the splat scanner, the result
# summariser, and the VM runner's exit status and argument passing against the
# debug kernel. Usage: selftest.sh
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
fx=$top/tests/harness/fixtures
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

n=0 failed=0
check() { # check DESCRIPTION EXPECTED ACTUAL
	n=$((n + 1))
	if [[ $2 == "$3" ]]; then
		echo "ok $n $1"
	else
		echo "not ok $n $1"
		echo "#   expected: $2"
		echo "#   actual:   $3"
		failed=1
	fi
}

summary_of() { # the closing line report.py prints for these fixture files
	rm -rf "$tmp/r" && mkdir "$tmp/r" && cp "$@" "$tmp/r/"
	"$top/tests/check/report.py" "$tmp/r" | tail -n 1
}

echo "TAP version 13"
echo "1..18"

# A real console log of the debug kernel booting and running a command, kept
# from a clean run, must not be flagged; each kind of splat must be.
"$top/tests/vm/splat-scan" "$fx/clean-boot.log" 2>/dev/null
check "splat-scan: clean debug boot log passes" 0 $?
for kind in warn kasan lockdep hung panic; do
	"$top/tests/vm/splat-scan" "$fx/$kind.log" 2>/dev/null
	check "splat-scan: $kind splat is caught" 1 $?
done
# KCSAN data races: a splat like any other normally; with --kcsan FILE
# (make stress-kcsan) collected in FILE instead, while any other splat in the
# same log still fails.
"$top/tests/vm/splat-scan" "$fx/kcsan.log" 2>/dev/null
check "splat-scan: KCSAN report is a splat without --kcsan" 1 $?
"$top/tests/vm/splat-scan" --kcsan "$tmp/kcsan.txt" "$fx/kcsan.log" 2>/dev/null
check "splat-scan --kcsan: KCSAN report collected, not a failure" "0 1" \
	"$? $(grep -c '^\[ *[0-9.]*\] BUG: KCSAN: data-race' "$tmp/kcsan.txt")"
"$top/tests/vm/splat-scan" --kcsan "$tmp/kcsan2.txt" "$fx/kcsan-warn.log" 2>/dev/null
check "splat-scan --kcsan: a WARNING next to a KCSAN report still fails" 1 $?
# A memcg OOM kill a test announced ("ksmpart-test: expect memcg oom" in
# /dev/kmsg) is not a splat; unannounced, or with a WARNING inside, it is.
"$top/tests/vm/splat-scan" "$fx/memcg-oom-expected.log" 2>/dev/null
check "splat-scan: an announced memcg OOM report is not a splat" 0 $?
"$top/tests/vm/splat-scan" "$fx/memcg-oom-unannounced.log" 2>/dev/null
check "splat-scan: an unannounced OOM report is a splat" 1 $?
"$top/tests/vm/splat-scan" "$fx/memcg-oom-warn.log" 2>/dev/null
check "splat-scan: a WARNING inside an announced OOM report still fails" 1 $?

check "report: TAP subtests, skips and a failed parent" \
	"2 passed, 2 failed, 2 skipped" "$(summary_of "$fx/report-mixed.tap")"
check "report: a suite that stops short of its plan fails" \
	"1 passed, 1 failed, 0 skipped" "$(summary_of "$fx/report-crashed.tap")"
check "report: GoogleTest XML" \
	"1 passed, 1 failed, 1 skipped" "$(summary_of "$fx/report-gtest.xml")"

# The runner returns the guest command's own status and passes its arguments
# through unchanged (quoting, spaces).
"$top/tests/vm/run" --debug --timeout 300 -- /bin/sh -c 'exit 3' >/dev/null
check "vm/run: guest 'exit 3' exits 3" 3 $?
"$top/tests/vm/run" --debug --timeout 300 -- /bin/sh -c '[ "$1" = "a b" ] && [ "$2" = "\$x" ]' sh 'a b' '$x' >/dev/null
check "vm/run: arguments arrive intact" 0 $?
# The debug kernel boots with two vCPUs by default (make check's VM suites
# rely on it; tests/check/vm-smp.sh checks the same inside that run).
check "vm/run: the debug guest has 2 CPUs" 2 \
	"$("$top/tests/vm/run" --debug --timeout 300 -- nproc 2>/dev/null | tr -d '\r')"

exit $failed
