#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The tour of make shell: three processes each hold the same 32 MiB of data;
# two are merged into partition 'tour', the third stays out.
set -euo pipefail
start() {
	# The same pseudo-random 32 MiB in each (seeded), distinct page by page.
	python3 -c 'import random, time
data = random.Random(42).randbytes(32 << 20)
time.sleep(3600)' &
}
pids=()
for _ in 1 2 3; do
	start
	pids+=($!)
done
sleep 5
echo "started ${pids[*]} (each with the same 32 MiB)"
echo "+ ksmpart-tool merge --create tour ${pids[0]} ${pids[1]}"
ksmpart-tool merge --create tour "${pids[0]}" "${pids[1]}"
echo "+ ksmpart-tool which ${pids[*]}"
ksmpart-tool which "${pids[@]}"
echo "(stop them with: kill ${pids[*]})"
