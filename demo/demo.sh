#!/usr/bin/env bash
# The ksmpart demo, run inside the VM by `make demo` (release kernel).
# Until the partition syscalls land it shows the baseline they are measured
# against: the kernel we booted and global KSM's ksmd merging 100 MiB.
# Usage: demo.sh BUILD_DIR
set -euo pipefail
build=${1:?usage: demo.sh BUILD_DIR}

echo "== kernel"
uname -a
echo
echo "== global KSM (/sys/kernel/mm/ksm)"
for f in run pages_to_scan sleep_millisecs pages_shared pages_sharing full_scans; do
	printf '  %-16s %s\n' "$f" "$(cat /sys/kernel/mm/ksm/$f)"
done
echo
echo "== baseline: ksmd at full speed merging 100 MiB of duplicates (ksm_tests -P)"
"$build/selftests/mm/ksm_tests" -P -s 100
