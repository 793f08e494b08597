#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# In the VM (kernel with ksmpart): runs the examples built by
# check-install.sh, as root and as an unprivileged user. Prints TAP.
#   tests/vm/run --debug -- $PWD/tests/install/run-examples.sh
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${KSMPART_BUILD:-$top/build}
out=$build/install-check/examples-build
progs=("$out/c/merge-self-c" "$out/cpp/merge-self-cpp" "$out/cpp-static/merge-self-cpp")

echo "TAP version 13"
echo "1..$((2 * ${#progs[@]} + 2))"
n=0 failed=0
run() { # run DESCRIPTION COMMAND...
	local d=$1 o
	shift
	n=$((n + 1))
	if o=$("$@" 2>&1) && grep -q '^OK$' <<<"$o"; then
		echo "ok $n - $d"
	else
		failed=$((failed + 1))
		echo "not ok $n - $d"
	fi
	sed 's/^/#   /' <<<"$o"
}
for p in "${progs[@]}"; do
	name=${p#"$out"/}
	if [[ ! -x $p ]]; then
		for how in root nobody; do
			n=$((n + 1)) failed=$((failed + 1))
			echo "not ok $n - $name as $how # missing, run tests/install/check-install.sh"
		done
		continue
	fi
	run "$name as root" "$p"
	# No privilege is needed to merge one's own memory.
	run "$name as nobody" setpriv --reuid=65534 --regid=65534 --clear-groups "$p"
done
# Python through ctypes on the staged libksmpart.so.0 (the C ABI).
lib=$(find "$build/install-check" -name libksmpart.so.0 | head -1)
for how in root nobody; do
	if [[ $how == root ]]; then
		run "python/merge_self.py as root" env KSMPART_LIB="$lib" python3 "$top/examples/python/merge_self.py"
	else
		run "python/merge_self.py as nobody" setpriv --reuid=65534 --regid=65534 --clear-groups \
			env KSMPART_LIB="$lib" python3 "$top/examples/python/merge_self.py"
	fi
done
((failed == 0))
