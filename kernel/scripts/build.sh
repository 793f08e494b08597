#!/usr/bin/env bash
# Configure and build one kernel flavour from build/linux into build/kernel-FLAVOUR.
# Usage: build.sh release|debug|kcsan|no-partition|no-numa|arm64|arm64-64k
#   release: tinyconfig + kernel/configs/common.config + release.config (x86_64)
#   debug:   the same + kernel/configs/debug.config (KASAN, lockdep, DEBUG_VM, ...)
#   kcsan:   the same + kernel/configs/kcsan.config (KCSAN, lockdep, DEBUG_VM, ...)
#   no-partition, no-numa: release + kernel/configs/FLAVOUR.config, the
#            configurations the series must also build in (compile only)
#   arm64:   tinyconfig + common.config + arm64.config, cross-compiled with
#            clang/LLVM (arm64-64k: + arm64-64k.config). Not Debian's
#            gcc-aarch64-linux-gnu: on Debian 12 it conflicts with gcc-multilib,
#            which make check needs (the 32-bit compat test helper).
# Compiles through ccache; the cache lives outside the build tree
# (KSMPART_CCACHE_DIR, default ~/.cache/ksmpart/ccache) so it survives clean clones.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${KSMPART_BUILD:-$top/build}
flavour=${1:?usage: build.sh release|debug|kcsan|no-partition|no-numa|arm64|arm64-64k}
tree=$build/linux
out=$build/kernel-$flavour

configs=$top/kernel/configs
fragments=("$configs/common.config" "$configs/release.config")
arch=() image=arch/x86/boot/bzImage
case $flavour in
release) ;;
arm64 | arm64-64k)
	fragments=("$configs/common.config" "$configs/arm64.config")
	[[ $flavour == arm64-64k ]] && fragments+=("$configs/arm64-64k.config")
	arch=(ARCH=arm64 LLVM=1) image=arch/arm64/boot/Image
	;;
debug | kcsan | no-partition | no-numa) fragments+=("$configs/$flavour.config") ;;
*) echo "build.sh: unknown flavour '$flavour'" >&2; exit 2 ;;
esac

export CCACHE_DIR=${KSMPART_CCACHE_DIR:-$HOME/.cache/ksmpart/ccache}
export CCACHE_BASEDIR=$top CCACHE_NOHASHDIR=1 CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-8G}
# Fixed build identity: reproducible images and ccache hits for init/version.c.
export KBUILD_BUILD_TIMESTAMP="2025-01-01" KBUILD_BUILD_USER=ksmpart KBUILD_BUILD_HOST=ksmpart
# LOCALVERSION= keeps setlocalversion from appending "+" for a git tree.
kmake=(make -C "$tree" O="$out" -j"$(nproc)" LOCALVERSION= "${arch[@]}" HOSTCC="ccache gcc")
if ((${#arch[@]})); then
	kmake+=(CC="ccache clang")
else
	kmake+=(CC="ccache gcc")
fi

# Reconfigure only when a fragment changed; an unchanged .config keeps the
# build incremental.
mkdir -p "$out"
want=$(cat "${fragments[@]}" | sha256sum | cut -d' ' -f1)
if [[ ! -f $out/.config || $(cat "$out/.ksmpart-fragments" 2>/dev/null) != "$want" ]]; then
	"${kmake[@]}" -s tinyconfig
	(cd "$tree" && KCONFIG_CONFIG="$out/.config" \
		scripts/kconfig/merge_config.sh -m -O "$out" "$out/.config" "${fragments[@]}" >/dev/null)
	"${kmake[@]}" -s olddefconfig
	"$top/kernel/scripts/check-config.sh" "$out/.config" "${fragments[@]}"
	echo "$want" >"$out/.ksmpart-fragments"
fi
# KSMPART_TARGETS: other make targets, e.g. single objects for a quick compile check.
"${kmake[@]}" -s ${KSMPART_TARGETS:-$(basename "$image")}
echo "build.sh: $out/$image ($(cat "$out/include/config/kernel.release"))"
