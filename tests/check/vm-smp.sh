#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Inside the VM (TAP): the guest really has the CPUs make check asks for, so
# that the VM suites cannot silently fall back to one vCPU (a kernel without
# a way to see the second CPU, a runner started with --smp 1). Checks that at
# least MIN CPUs are online, that a task pinned to each of them runs there,
# and that the NUMA nodes are still there with every CPU in one of them.
# Usage: vm-smp.sh [MIN]   (default 2)
set -uo pipefail
min=${1:-2}
# shellcheck source=tests/check/tap.sh
source "$(dirname "$0")/tap.sh"

echo "TAP version 13"
echo "1..4"
echo "# $(nproc) CPUs online ($(cat /sys/devices/system/cpu/online)), kernel $(uname -r)"

cpus=$(nproc)
if ((cpus >= min)); then
	ok "at least $min CPUs online ($cpus)"
else
	not_ok "at least $min CPUs online" "nproc says $cpus; /sys/devices/system/cpu/online: $(cat /sys/devices/system/cpu/online)"
fi

# Every online CPU takes a task pinned to it (field 39 of /proc/PID/stat is
# the CPU the task last ran on).
bad=
for c in $(seq 0 $((cpus - 1))); do
	ran=$(taskset -c "$c" awk '{ print $39 }' /proc/self/stat 2>&1)
	[[ $ran == "$c" ]] || bad+="cpu $c: pinned task reported '$ran'"$'\n'
done
if [[ -z $bad ]]; then
	ok "a task pinned to each of the $cpus CPUs runs there"
else
	not_ok "a task pinned to each of the $cpus CPUs runs there" "$bad"
fi

# Both CPUs busy at once: each accumulates its own user time.
stat_user() { awk -v c="cpu$1" '$1 == c { print $2 + $3 }' /proc/stat; }
declare -a before after
for c in $(seq 0 $((cpus - 1))); do before[c]=$(stat_user "$c"); done
pids=()
for c in $(seq 0 $((cpus - 1))); do
	taskset -c "$c" sh -c 'i=0; while [ $i -lt 20000 ]; do i=$((i + 1)); done' &
	pids+=($!)
done
wait "${pids[@]}"
idle=
for c in $(seq 0 $((cpus - 1))); do
	after[c]=$(stat_user "$c")
	echo "# cpu$c: $((after[c] - before[c])) user ticks during the busy loops"
	((after[c] > before[c])) || idle+="cpu$c accumulated no user time"$'\n'
done
if [[ -z $idle ]]; then
	ok "every CPU runs user work"
else
	not_ok "every CPU runs user work" "$idle"
fi

# The NUMA nodes tests/vm/run made (--numa, default 2) are there with SMP and
# every online CPU belongs to one: numa=fake=N on the lab kernels, QEMU's own
# nodes (ACPI SRAT) on a distribution kernel (--deb). check.sh says how many
# it asked for in KSMPART_CHECK_NUMA; otherwise the command line does.
fake=$(sed -n 's/.*numa=fake=\([0-9]*\).*/\1/p' /proc/cmdline)
want=${KSMPART_CHECK_NUMA:-$fake}
how=${fake:+numa=fake=$fake}
how=${how:-ACPI SRAT}
nodes=$(ls -d /sys/devices/system/node/node[0-9]* 2>/dev/null | wc -l)
incpus=$(cat /sys/devices/system/node/node*/cpulist 2>/dev/null | tr '\n' ' ')
echo "# NUMA nodes asked: ${want:-none} ($how): $nodes nodes, cpulists: $incpus"
if [[ -z $want ]]; then
	ok "NUMA nodes # SKIP no node count asked for (KSMPART_CHECK_NUMA, numa=fake=)"
elif ((nodes == want)) && [[ -n ${incpus// /} ]]; then
	ok "$want NUMA nodes ($how), CPUs assigned to nodes"
else
	not_ok "$want NUMA nodes ($how), CPUs assigned to nodes" "nodes: $nodes, cpulists: '$incpus'"
fi
exit $((failed > 0))
