#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The ksmpart benchmark, run inside the VM (release kernel, as root) by
# `make bench`: every measurement of docs/performance.md in one boot. Each
# ksmpart-bench invocation appends one JSON line to OUTDIR/results.jsonl;
# progress goes to stderr. bench/report.py turns the lines into ratios.
#
# Usage: bench/run.sh OUTDIR
# Environment (sizes in MiB of workload memory in total, over all processes):
#   BENCH_QUICK=1          smoke run (~3 minutes) with small sizes
#   BENCH_BIN              ksmpart-bench binary (default: OUTDIR/../user/bench/ksmpart-bench)
#   BENCH_WORKLOADS        workloads compared with ksmd (default "dup unique zero thp worst")
#   BENCH_MIB              their size (default 256; quick 64)
#   BENCH_PROCS            member processes per workload (default 4; worst uses 2)
#   BENCH_SIZES            size scaling, dup workload (default "16 64 256 1024 4096"; quick "16 64")
#   BENCH_SIZE_KSMD=0      skip ksmd and read-once at the scaling sizes
#   BENCH_PARTS            partition counts (default "1 10 100 1000"; quick "1 10 100")
#   BENCH_PARTS_MIB        total memory of the partition scaling (default 256; quick 32)
#   BENCH_PARALLEL_MIB     memory of each of the 2 parallel partitions (default 128; quick 32)
#   BENCH_REPEAT           repetitions of each measurement, medians reported (default 3; quick 1)
#   BENCH_KSMD_TIMEOUT     seconds ksmd may take to reach full dedup (default 600)
set -uo pipefail
out=${1:?usage: run.sh OUTDIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
bin=${BENCH_BIN:-$out/../user/bench/ksmpart-bench}
results=$out/results.jsonl

quick=${BENCH_QUICK:-0}
[[ $quick == 0 ]] && q= || q=1
workloads=${BENCH_WORKLOADS:-dup unique zero thp worst}
mib=${BENCH_MIB:-${q:+64}}
mib=${mib:-256}
procs=${BENCH_PROCS:-4}
sizes=${BENCH_SIZES:-${q:+16 64}}
sizes=${sizes:-16 64 256 1024 4096}
size_ksmd=${BENCH_SIZE_KSMD:-1}
parts=${BENCH_PARTS:-${q:+1 10 100}}
parts=${parts:-1 10 100 1000}
parts_mib=${BENCH_PARTS_MIB:-${q:+32}}
parts_mib=${parts_mib:-256}
par_mib=${BENCH_PARALLEL_MIB:-${q:+32}}
par_mib=${par_mib:-128}
repeat=${BENCH_REPEAT:-${q:+1}}
repeat=${repeat:-3}
timeout=${BENCH_KSMD_TIMEOUT:-600}

[[ -x $bin ]] || { echo "run.sh: no benchmark binary at $bin (make user; needs libxxhash-dev)" >&2; exit 2; }
[[ -d /sys/kernel/mm/ksm/partitions ]] || { echo "run.sh: kernel without ksmpart (/sys/kernel/mm/ksm/partitions)" >&2; exit 2; }

start=$(date +%s)
failures=0
log() { printf '[bench %4ds] %s\n' $(($(date +%s) - start)) "$*" >&2; }

# One measurement: ksmpart-bench MODE ARGS..., its JSON line appended.
measure() {
	local line rc
	line=$("$bin" "$@")
	rc=$?
	if [[ -n $line ]]; then
		echo "$line" >>"$results"
	fi
	if ((rc)) || [[ $line != *'"valid": true'* ]]; then
		failures=$((failures + 1))
		log "  INVALID: $* -> ${line##*\"reason\": }"
	fi
	# Let the killed members' teardown finish before the next measurement.
	sync
	sleep 1
}

procs_for() { [[ $1 == worst ]] && echo 2 || echo "$procs"; }

# 2 unmerges what global KSM merged, 0 then stops ksmd: partitions refuse
# to merge while run is 2.
ksm_stop_and_unmerge() {
	echo 2 >/sys/kernel/mm/ksm/run
	echo 0 >/sys/kernel/mm/ksm/run
}

# Object size of a slab cache (KSM's tracking structures), null when the
# cache is merged into another one and not listed.
slab_objsize() {
	local v
	v=$(awk -v c="$1" '$1 == c { print $4 }' /proc/slabinfo 2>/dev/null)
	echo "${v:-null}"
}

: >"$results"
{
	echo "{\"mode\": \"env\", \"kernel\": \"$(uname -r)\", \"cpus\": $(nproc)," \
		"\"mem_kib\": $(awk '/MemTotal/ {print $2}' /proc/meminfo)," \
		"\"thp_enabled\": \"$(cat /sys/kernel/mm/transparent_hugepage/enabled)\"," \
		"\"max_page_sharing\": $(cat /sys/kernel/mm/ksm/max_page_sharing)," \
		"\"rmap_item_bytes\": $(slab_objsize ksm_rmap_item)," \
		"\"stable_node_bytes\": $(slab_objsize ksm_stable_node)," \
		"\"quick\": ${q:-0}, \"repeat\": $repeat}"
} >>"$results"
log "kernel $(uname -r), $(nproc) CPUs, results in $results"

ksm_stop_and_unmerge

# 1-4: each workload with ksm_merge (+ ksm_unmerge), ksmd (+ MADV_UNMERGEABLE),
# and the read-once limit.
for w in $workloads; do
	n=$(procs_for "$w")
	log "workload $w: $n processes, $mib MiB in total"
	# Interleaved, so that a slower phase of the host hits all three alike.
	for ((r = 0; r < repeat; r++)); do
		measure merge --tag workload --workload "$w" --total-mib "$mib" --procs "$n" --unmerge
		measure ksmd --tag workload --workload "$w" --total-mib "$mib" --procs "$n" \
			--timeout "$timeout"
		measure readonce --tag workload --workload "$w" --total-mib "$mib" --procs "$n"
	done
done

# 5a: per-page cost from 16 MiB to 4 GiB (dup workload).
for s in $sizes; do
	log "size $s MiB (dup, $procs processes)"
	for ((r = 0; r < repeat; r++)); do
		measure merge --tag size --workload dup --total-mib "$s" --procs "$procs" --unmerge
		if [[ $size_ksmd == 1 ]]; then
			measure ksmd --tag size --workload dup --total-mib "$s" --procs "$procs" \
				--timeout "$timeout"
			measure readonce --tag size --workload dup --total-mib "$s" --procs "$procs"
		fi
	done
done

# 5b: 1 to 1000 partitions, one member process each, same total memory.
for p in $parts; do
	log "partitions $p ($parts_mib MiB in total)"
	for ((r = 0; r < repeat; r++)); do
		measure merge --tag partitions --workload dup --total-mib "$parts_mib" \
			--procs "$p" --partitions "$p"
	done
done

# 5c: two partitions merged by two threads, on 2 vCPUs and pinned to one.
if (($(nproc) >= 2)); then
	for ((r = 0; r < repeat; r++)); do
		for pin in -1 0; do
			log "parallel: 2 partitions x $par_mib MiB, pin-cpu $pin"
			measure merge --tag parallel --workload dup --total-mib $((2 * par_mib)) \
				--procs 4 --partitions 2 --threads 2 --pin-cpu "$pin"
		done
	done
else
	log "parallel: skipped (1 CPU)"
fi

# What a merge costs others: a member's page faults and part->lock waiters
# (ksmpart-bench latency), once per workload with duplicates.
for w in $workloads; do
	[[ $w == unique ]] && continue
	log "latency: $w ($mib MiB)"
	for ((r = 0; r < repeat; r++)); do
		measure latency --tag latency --workload "$w" --total-mib "$mib" --procs "$(procs_for "$w")"
	done
done

ksm_stop_and_unmerge
log "done: $(wc -l <"$results") lines, $failures invalid"
# The report needs matplotlib for the plot only; the table is made without it.
if command -v python3 >/dev/null; then
	python3 "$(dirname "$0")/report.py" --no-plot "$out" >&2 || true
fi
exit 0
