# SPDX-License-Identifier: GPL-2.0-or-later
# Sourced by check.sh (host) and guest-suites.sh (VM): run one suite, its
# output to the console and to $results/NAME.tap (TAP) or NAME.xml
# (GoogleTest), its exit status to $results/NAME.status for report.py.

tap_suite() {
	local name=$1
	shift
	echo "# ===== suite $name: $*"
	"$@" 2>&1 | tee "$results/$name.tap"
	echo "${PIPESTATUS[0]}" >"$results/$name.status"
}

gtest_suite() {
	local name=$1
	shift
	echo "# ===== suite $name: $*"
	"$@" --gtest_output="xml:$results/$name.xml" 2>&1
	echo "$?" >"$results/$name.status"
}
