#!/usr/bin/env bash
# Inside the VM, for `make patches`: the selftests that exist at one patch of
# the mailed series. Upstream KSM selftests (ksm_tests, ksm_functional_tests)
# always; the KSM partition tests named on the command line (those the patch
# adds) after them. One summary line per program; exit 1 if any failed.
# Usage: series-guest.sh SELFTEST_DIR [PROGRAM...]
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
dir=${1:?usage: series-guest.sh SELFTEST_DIR [PROGRAM...]}
shift
echo "# kernel $(uname -r), $(nproc) vCPUs"
fails=0
out=$("$top/tests/upstream/ksm-selftests.sh" "$dir" 20 2>&1)
echo "$out"
bad=$(grep -c '^not ok' <<<"$out")
echo "# series-result upstream-ksm ok $(grep -c '^ok' <<<"$out") not-ok $bad"
((bad)) && fails=1
for t in "$@"; do
	out=$(cd "$dir" && "./$t" 2>&1)
	rc=$?
	echo "$out"
	echo "# series-result $t exit $rc $(grep '^# Totals' <<<"$out")"
	((rc)) && fails=1
done
exit $fails
