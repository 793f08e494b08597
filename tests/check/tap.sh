# SPDX-License-Identifier: GPL-2.0-or-later
# Sourced by the TAP-printing check scripts (docs/check-docs.sh,
# tests/man/check-man.sh): numbered ok / not ok lines, details as
# "#   " diagnostics; $failed counts the failures, $n the tests.
n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() {
	n=$((n + 1))
	failed=$((failed + 1))
	echo "not ok $n - $1"
	if [[ -n ${2:-} ]]; then
		sed 's/^/#   /' <<<"$2"
	fi
}
