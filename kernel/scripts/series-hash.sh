#!/usr/bin/env bash
# Print the identity of what build/linux should hold: the source version and
# the content of every patch in kernel/patches/series, hashed.
# Usage: series-hash.sh VERSION
set -euo pipefail
patches=$(cd "$(dirname "$0")/../patches" && pwd)
{
	echo "$1"
	[[ ! -f $patches/series ]] || while read -r p; do
		[[ -z $p || $p == \#* ]] || cat "$patches/$p"
	done <"$patches/series"
} | sha256sum | cut -d' ' -f1
