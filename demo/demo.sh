#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The ksmpart demo, run as root inside the VM by `make demo` (release kernel).
#
# Three tenants, each several processes holding much identical memory:
#   alpha  3 Python interpreters (demo/tenant.py): the same modules, data built from "alpha"
#   beta   3 Python interpreters, the same program with data built from "beta"
#   gamma  3 synthetic processes (demo/synth-tenant.c): 16 MiB equal pages, 4 MiB unique
# alpha and beta hold identical interpreter and module pages, so global KSM
# merges across tenants. An operator puts each tenant (a cgroup) into its own
# partition with ksmpart-tool; /proc/PID/pagemap then shows the pages shared
# within every tenant and none across. Then the same processes leave, opt in to
# global KSM, ksmd runs at full speed, and pagemap shows what partitions
# prevent: physical pages shared across tenants.
#
# Usage: demo.sh BUILD_DIR
# Environment: KSMPART_TOOL (default BUILD_DIR/user/ksmpart-tool/ksmpart-tool),
#   DEMO_PROCS (processes per tenant, 3), DEMO_SAME_MIB / DEMO_UNIQUE_MIB (gamma),
#   DEMO_ASLR=1 (tenants with ASLR and a random hash seed), DEMO_KEEP (a
#   directory to keep the JSON of the tool and the snapshots in).
# Exit status 0 only if every claim above was observed.
set -euo pipefail
build=${1:?usage: demo.sh BUILD_DIR}
build=$(cd "$build" && pwd)
demo=$(cd "$(dirname "$0")" && pwd)
tool=${KSMPART_TOOL:-$build/user/ksmpart-tool/ksmpart-tool}
procs=${DEMO_PROCS:-3}
same_mib=${DEMO_SAME_MIB:-16}
unique_mib=${DEMO_UNIQUE_MIB:-4}
python=/usr/bin/python3
# no __pycache__ in the source tree (show.py imports memscan.py)
export PYTHONDONTWRITEBYTECODE=1
tenants=(alpha beta gamma)
cgroot=/sys/fs/cgroup/ksmpart-demo
ksm=/sys/kernel/mm/ksm
run=$(mktemp -d /tmp/ksmpart-demo.XXXXXX)
pids=()
declare -A tenant_of
ksmd_saved=()

section() { printf '\n== %s  [%ds]\n' "$*" "$SECONDS"; }
die() { echo "demo: FAIL: $*" >&2; exit 1; }
# An operator's command: show it, run it with its JSON output to RUNDIR/OUT.
op() {
	local out=$1
	shift
	printf '  # ksmpart-tool %s > %s\n' "$*" "$out"
	"$tool" "$@" >"$run/$out" || die "ksmpart-tool $1 $2 failed (exit status $?)"
}

cleanup() {
	local pid t
	set +e
	for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done
	for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null; done
	for t in "${tenants[@]}"; do
		[[ -e /run/ksmpart/$t.pid ]] && "$tool" release "$t" >/dev/null 2>&1
	done
	if ((${#ksmd_saved[@]})); then
		echo 2 >$ksm/run
		echo "${ksmd_saved[0]}" >$ksm/pages_to_scan
		echo "${ksmd_saved[1]}" >$ksm/sleep_millisecs
		echo "${ksmd_saved[2]}" >$ksm/run
	fi
	for t in "${tenants[@]}"; do rmdir "$cgroot/$t" 2>/dev/null; done
	rmdir "$cgroot" 2>/dev/null
	[[ -n ${DEMO_KEEP:-} ]] && mkdir -p "$DEMO_KEEP" && cp "$run"/*.json "$DEMO_KEEP"/
	rm -rf "$run"
}
trap cleanup EXIT

# Wait until every tenant process wrote RUNDIR/KIND.PID; fail if one died.
await() {
	local kind=$1 limit=$2 pid n
	for ((n = 0; ; n++)); do
		local missing=0
		for pid in "${pids[@]}"; do
			[[ -f $run/$kind.$pid ]] && continue
			kill -0 "$pid" 2>/dev/null || die "tenant process $pid exited"
			missing=$((missing + 1))
		done
		((missing == 0)) && return 0
		((n < limit * 5)) || die "$missing tenant processes did not report '$kind' in ${limit}s"
		sleep 0.2
	done
}

# Every tenant process checks its data against its content function or digest.
verify_tenants() {
	local pid
	rm -f "$run"/verify.*
	for pid in "${pids[@]}"; do kill -USR2 "$pid"; done
	await verify 120
	for pid in "${pids[@]}"; do
		[[ $(<"$run/verify.$pid") == ok ]] || die "process $pid: data corrupted"
	done
	echo "  all ${#pids[@]} processes checked their data: intact"
}

# Tables of what the tool wrote: show KIND FILE-PREFIX
show() {
	local files=() t
	for t in "${tenants[@]}"; do files+=("$run/$2.$t.json"); done
	"$python" "$demo/show.py" "$1" "${files[@]}"
}

snapshot() {
	local specs=() t
	for t in "${tenants[@]}"; do specs+=("$t=$cgroot/$t"); done
	"$python" "$demo/memscan.py" snapshot "$run/$1.json" "${specs[@]}"
}

section "kernel"
uname -sr
[[ -d $ksm/partitions ]] || die "this kernel has no ksmpart (no $ksm/partitions)"
[[ -x $tool ]] || die "no ksmpart-tool at $tool"
[[ -f /sys/fs/cgroup/cgroup.procs ]] || die "no cgroup v2 hierarchy at /sys/fs/cgroup"
echo "  tool: $tool ($("$tool" --version))"

# The synthetic tenant: built on the host by the Makefile, or here if missing.
synth=$build/demo/synth-tenant
if [[ ! -x $synth || $demo/synth-tenant.c -nt $synth ]]; then
	mkdir -p "$build/demo"
	gcc -O2 -Wall -Wextra -Werror -o "$synth" "$demo/synth-tenant.c"
fi

section "start the tenants: $procs processes each, one cgroup per tenant"
if [[ ${DEMO_ASLR:-0} == 1 ]]; then
	start_as=(env)
	echo "  With ASLR, as started normally (DEMO_ASLR=1)."
else
	start_as=(setarch -R env PYTHONHASHSEED=0)
	cat <<-EOF
	  ASLR is off for them and Python's hash seed fixed, so that identical programs
	  lay out identical heaps, as clones of one image (VMs, containers) do.
	  (DEMO_ASLR=1 keeps both random.)
	EOF
fi
mkdir -p "$cgroot"
for t in "${tenants[@]}"; do
	mkdir -p "$cgroot/$t"
	for ((i = 0; i < procs; i++)); do
		if [[ $t == gamma ]]; then
			cmd=("$synth" "$t" "$run" "$same_mib" "$unique_mib")
		else
			cmd=("$python" "$demo/tenant.py" "$t" "$run")
		fi
		(
			echo "$BASHPID" >"$cgroot/$t/cgroup.procs"
			exec "${start_as[@]}" "${cmd[@]}"
		) &
		pids+=($!)
		tenant_of[$!]=$t
	done
	printf '  %-6s pids %s: %s\n' "$t" "${pids[*]: -procs}" "${cmd[*]}"
done
start=$SECONDS
await ready 300
echo "  all ${#pids[@]} processes ready after $((SECONDS - start))s"

section "before merging: anonymous memory and PFNs (pagemap)"
snapshot before

section "the operator: one partition per tenant, merge its cgroup"
for t in "${tenants[@]}"; do
	op "create.$t.json" create "$t" --hold --mode 0600 --json
done
show create create
for t in "${tenants[@]}"; do
	op "merge.$t.json" merge "$t" --cgroup "ksmpart-demo/$t" --json
done
show merge merge
for t in "${tenants[@]}"; do
	op "stats.$t.json" stats "$t" --json
done
show stats stats
# The kernel's view of membership, independent of the tool: ksm_stat's
# partition id is the id of the sysfs directory named after the tenant.
for pid in "${pids[@]}"; do
	t=${tenant_of[$pid]}
	read -r _ id < <(grep ksm_partition "/proc/$pid/ksm_stat")
	[[ $(<"$ksm/partitions/$id/name") == "$t" ]] 2>/dev/null ||
		die "process $pid of $t is in partition $id (/proc/$pid/ksm_stat)"
done
echo "  /proc/PID/ksm_stat: every process is a member of its tenant's partition"

section "after merging in partitions: pagemap"
snapshot partition
verify_tenants

section "the operator: the tenants leave their partitions"
for t in "${tenants[@]}"; do
	op "leave.$t.json" leave "$t" --cgroup "ksmpart-demo/$t" --json
	op "release.$t.json" release "$t" --json
done
show leave leave
show release release
[[ -z $(ls "$ksm/partitions") ]] || die "partitions left after release: $(ls "$ksm/partitions")"
[[ $(<$ksm/pages_sharing) == 0 ]] || die "pages still shared after leaving"
echo "  no partition left (/sys/kernel/mm/ksm/partitions/ empty), pages_sharing 0"

section "global KSM on the same processes: PR_SET_MEMORY_MERGE, ksmd at full speed"
for pid in "${pids[@]}"; do kill -USR1 "$pid"; done
await global 60
for pid in "${pids[@]}"; do
	[[ $(<"$run/global.$pid") == 0 ]] || die "process $pid: prctl(PR_SET_MEMORY_MERGE) failed"
done
echo "  all ${#pids[@]} processes opted in to global KSM"
ksmd_saved=("$(<$ksm/pages_to_scan)" "$(<$ksm/sleep_millisecs)" "$(<$ksm/run)")
echo 10000 >$ksm/pages_to_scan
echo 0 >$ksm/sleep_millisecs
scans0=$(<$ksm/full_scans)
start=$SECONDS
echo 1 >$ksm/run
# Done when pages_sharing did not change over a whole scan (ksmd needs two
# scans of an unchanged page before it merges, so at least three).
last_scan=$scans0 at_last=-1 stable=0
while ((stable == 0)); do
	sleep 1
	scans=$(<$ksm/full_scans) sharing=$(<$ksm/pages_sharing)
	if ((scans > last_scan)); then
		printf '  %3ds: full_scans %d, pages_sharing %d\n' $((SECONDS - start)) \
			$((scans - scans0)) "$sharing"
		((scans - scans0 >= 3 && sharing == at_last)) && stable=1
		last_scan=$scans at_last=$sharing
	fi
	((SECONDS - start < 180)) || die "ksmd did not settle in 180s"
done
echo 0 >$ksm/run
echo "  ksmd stopped after $((SECONDS - start))s: $(<$ksm/pages_sharing) pages sharing"

section "after global KSM: pagemap"
snapshot global
verify_tenants

section "summary"
"$python" "$demo/memscan.py" summary "$run"
