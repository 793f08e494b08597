#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Where ksm_merge spends its time: runs one ksmpart-bench measurement under
# `perf record -e cpu-clock` in the VM and prints the top kernel symbols of
# the merging process. The release kernel has no kallsyms, so kernel
# addresses are resolved here against the vmlinux it was built with
# (`nm -n`; the kernel is not relocated: no CONFIG_RANDOMIZE_BASE).
#
# Usage (in the VM, as root): bench/profile.sh OUTDIR [ksmpart-bench ARGS...]
#   default ARGS: merge --workload dup --total-mib 256 --procs 4
# Environment: BENCH_BIN (as run.sh), VMLINUX (default OUTDIR/../kernel-release/vmlinux),
#   PROFILE_TOP (symbols shown, default 25)
set -euo pipefail
out=${1:?usage: profile.sh OUTDIR [ksmpart-bench ARGS...]}
shift
mkdir -p "$out"
out=$(cd "$out" && pwd)
bin=${BENCH_BIN:-$out/../user/bench/ksmpart-bench}
vmlinux=${VMLINUX:-$out/../kernel-release/vmlinux}
(($#)) || set -- merge --workload dup --total-mib 256 --procs 4
command -v perf >/dev/null || { echo "profile.sh: no perf" >&2; exit 2; }
[[ -f $vmlinux ]] || { echo "profile.sh: no vmlinux at $vmlinux" >&2; exit 2; }

perf record -q -e cpu-clock -F 4000 -o "$out/perf.data" -- "$bin" "$@" >"$out/profile.json"
perf script -i "$out/perf.data" -F comm,pid,ip 2>/dev/null >"$out/perf.samples"
nm -n "$vmlinux" >"$out/vmlinux.nm"
python3 - "$out" "${PROFILE_TOP:-25}" <<'EOF'
import bisect, collections, sys
out, top = sys.argv[1], int(sys.argv[2])
syms = []
for line in open(f"{out}/vmlinux.nm"):
    parts = line.split()
    if len(parts) == 3 and parts[1] in "tTwW":
        syms.append((int(parts[0], 16), parts[2]))
syms.sort()
addrs = [a for a, _ in syms]
samples = []
for line in open(f"{out}/perf.samples"):
    parts = line.split()
    if len(parts) >= 3 and parts[0] == "ksmpart-bench":
        samples.append((int(parts[1]), int(parts[2], 16)))
if not samples:
    sys.exit("profile.sh: no samples")
# The measuring process is the first ksmpart-bench (its children come later).
parent = min(p for p, _ in samples)
count = collections.Counter()
total = 0
for pid, ip in samples:
    if pid != parent:
        continue
    total += 1
    if ip < 0xffffffff80000000:
        count["[user space]"] += 1
        continue
    i = bisect.bisect_right(addrs, ip) - 1
    count[syms[i][1] if i >= 0 else "[unknown kernel]"] += 1
print(f"{total} samples of the merging process (pid {parent}); {sys.argv[0]} top {top}:")
for name, n in count.most_common(top):
    print(f"  {100.0 * n / total:6.2f}%  {name}")
EOF
