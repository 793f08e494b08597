#!/usr/bin/env bash
# Configure and build one kernel flavour from build/linux into build/kernel-FLAVOUR.
# Usage: build.sh release|debug|kcsan|no-partition|no-numa
#   release: tinyconfig + kernel/configs/release.config
#   debug:   the same + kernel/configs/debug.config (KASAN, lockdep, DEBUG_VM, ...)
#   kcsan:   the same + kernel/configs/kcsan.config (KCSAN, lockdep, DEBUG_VM, ...)
#   no-partition, no-numa: release + kernel/configs/FLAVOUR.config, the
#            configurations the series must also build in (compile only)
# Compiles through ccache; the cache lives outside the build tree
# (KSMPART_CCACHE_DIR, default ~/.cache/ksmpart/ccache) so it survives clean clones.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${KSMPART_BUILD:-$top/build}
flavour=${1:?usage: build.sh release|debug|kcsan}
tree=$build/linux
out=$build/kernel-$flavour

fragments=("$top/kernel/configs/release.config")
case $flavour in
release) ;;
debug) fragments+=("$top/kernel/configs/debug.config") ;;
kcsan) fragments+=("$top/kernel/configs/kcsan.config") ;;
no-partition | no-numa) fragments+=("$top/kernel/configs/$flavour.config") ;;
*) echo "build.sh: unknown flavour '$flavour'" >&2; exit 2 ;;
esac

export CCACHE_DIR=${KSMPART_CCACHE_DIR:-$HOME/.cache/ksmpart/ccache}
export CCACHE_BASEDIR=$top CCACHE_NOHASHDIR=1 CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-8G}
# Fixed build identity: reproducible images and ccache hits for init/version.c.
export KBUILD_BUILD_TIMESTAMP="2025-01-01" KBUILD_BUILD_USER=ksmpart KBUILD_BUILD_HOST=ksmpart
# LOCALVERSION= keeps setlocalversion from appending "+" for a git tree.
kmake=(make -C "$tree" O="$out" -j"$(nproc)" LOCALVERSION= CC="ccache gcc" HOSTCC="ccache gcc")

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
"${kmake[@]}" -s ${KSMPART_TARGETS:-bzImage}
echo "build.sh: $out/arch/x86/boot/bzImage ($(cat "$out/include/config/kernel.release"))"
