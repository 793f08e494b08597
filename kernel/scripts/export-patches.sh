#!/usr/bin/env bash
# Write the commits of build/linux on top of ksmpart-base back to
# kernel/patches/ (one git-am-able patch per commit, plus the series file).
# New files live in the project already (build/linux links to them).
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${KSMPART_BUILD:-$top/build}
tree=$build/linux
patches=$top/kernel/patches
stamp=$tree/.git/ksmpart-applied

[[ -d $tree/.git ]] || { echo "export-patches: no tree; run 'make kernel-tree'" >&2; exit 1; }
if ! git -C "$tree" diff --quiet HEAD; then
	echo "export-patches: build/linux has uncommitted changes; commit them first" >&2
	exit 1
fi

mkdir -p "$patches"
rm -f "$patches"/*.patch
git -C "$tree" format-patch -q --zero-commit --no-signature --no-numbered \
	-o "$patches" ksmpart-base..HEAD
(cd "$patches" && ls -1 -- *.patch 2>/dev/null || true) >"$patches/series"
echo "export-patches: $(grep -c . "$patches/series" || true) patches in kernel/patches/"

# The tree now matches the series: record that so prepare-tree leaves it alone.
version=$(sed -n 1p "$stamp")
hash=$("$top/kernel/scripts/series-hash.sh" "$version")
printf '%s\n%s\n%s\n' "$version" "$hash" "$(git -C "$tree" rev-parse HEAD)" >"$stamp"
