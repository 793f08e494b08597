#!/usr/bin/env bash
# Install the Debian packages a ksmpart build or test run needs, only if missing.
# Usage: scripts/deps.sh GROUP...   (groups: kernel vm user bench docs deb arm64)
set -euo pipefail

declare -A group=(
	[kernel]="build-essential bc bison flex libelf-dev libssl-dev cpio xz-utils kmod ccache git python3 rsync libnuma-dev"
	[vm]="qemu-system-x86 busybox-static cpio gzip"
	[user]="build-essential cmake pkg-config libgtest-dev libgmock-dev libcli11-dev libcap-dev gcc-multilib libsmartcols-dev nlohmann-json3-dev libtomlplusplus-dev libsystemd-dev python3 man-db groff-base bash-completion systemd prometheus crun"
	[bench]="libxxhash-dev python3-matplotlib"
	[docs]="python3-docutils python3-ply python3-git librsvg2-bin"
	[arm64]="clang lld llvm libc6-dev-arm64-cross libgcc-12-dev-arm64-cross qemu-system-arm"
	[deb]="debhelper dpkg-dev linux-config-6.12 zstd openssl dwarves debootstrap"
)

want=()
for g in "$@"; do
	[[ -n ${group[$g]+x} ]] || { echo "deps.sh: unknown group '$g'" >&2; exit 2; }
	want+=(${group[$g]})
done

missing=()
for p in $(printf '%s\n' "${want[@]}" | sort -u); do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
((${#missing[@]})) || exit 0

echo "deps.sh: installing ${missing[*]}"
sudo=""
[[ $(id -u) -eq 0 ]] || sudo=sudo
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
