#!/usr/bin/env bash
# Build installable Debian packages of the ksmpart kernel: linux-image and
# linux-headers for KERNELRELEASE 6.12.N-ksmpartR-FLAVOUR, from build/linux
# (the pinned linux-source-6.12 plus kernel/patches) configured from Debian's
# own configuration of that flavour (package linux-config-6.12) plus
# kernel/configs/deb*.config.
#
# Usage: build-deb.sh [cloud-amd64|amd64]        (default: cloud-amd64)
# Environment:
#   DEB_DEBUG_INFO=1     keep Debian's DWARF + BTF (default 0, see
#                        kernel/configs/deb-nodebuginfo.config)
#   DEB_TEST_OPTIONS=0   leave out the test-only 9p modules (deb-test.config)
#   KSMPART_DEB_KEY      module signing key (PEM, key + certificate); default
#                        ~/.cache/ksmpart/deb/signing_key.pem, made on first use
#
# Out of the source tree (O=build/deb-FLAVOUR/obj), through ccache, with a
# fixed build identity: two builds with the same key give identical packages.
# The packages land in build/deb-FLAVOUR/ and their names in
# build/deb-FLAVOUR/packages.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${KSMPART_BUILD:-$top/build}
flavour=${1:-cloud-amd64}
case $flavour in
cloud-amd64 | amd64) ;;
*) echo "build-deb: unknown flavour '$flavour' (cloud-amd64, amd64)" >&2; exit 2 ;;
esac
. "$top/kernel/linux-source.conf"
tree=$build/linux
dir=$build/deb-$flavour
out=$dir/obj
mkdir -p "$out"

# Debian's configuration. linux-config-6.12 may be a stable release ahead of
# the pinned source (the archive keeps only its newest version); olddefconfig
# reconciles the few options that differ and the note below says so.
"$top/scripts/deps.sh" deb
debconfig=/usr/src/$DEB_CONFIG_PACKAGE/config.amd64_none_$flavour.xz
[[ -f $debconfig ]] || { echo "build-deb: no $debconfig" >&2; exit 1; }
config_version=$(dpkg-query -W -f='${Version}' "$DEB_CONFIG_PACKAGE")
sublevel=$(sed -n 's/^SUBLEVEL = //p' "$tree/Makefile")
base=6.12.$sublevel
[[ $config_version == "$base"-* ]] ||
	echo "build-deb: note: Debian's configuration is that of $config_version, the source is $base" >&2

# The module signing key: kept outside the build tree so that rebuilds (and
# clean clones on this machine) sign with the same key and give the same bytes.
key=${KSMPART_DEB_KEY:-$HOME/.cache/ksmpart/deb/signing_key.pem}
if [[ ! -f $key ]]; then
	mkdir -p "$(dirname "$key")"
	sed 's/^CN = .*/CN = ksmpart kernel module signing key (local build)/' \
		"$tree/certs/default_x509.genkey" >"$key.genkey"
	openssl req -new -nodes -utf8 -sha256 -days 36500 -batch -x509 \
		-config "$key.genkey" -outform PEM -out "$key" -keyout "$key" 2>/dev/null
	chmod 0600 "$key"
	echo "build-deb: made a module signing key: $key" >&2
fi

fragments=("$top/kernel/configs/deb.config")
[[ ${DEB_DEBUG_INFO:-0} == 1 ]] || fragments+=("$top/kernel/configs/deb-nodebuginfo.config")
[[ ${DEB_TEST_OPTIONS:-1} == 0 ]] || fragments+=("$top/kernel/configs/deb-test.config")
keyfrag=$dir/signing-key.config
echo "CONFIG_MODULE_SIG_KEY=\"$key\"" >"$keyfrag"
fragments+=("$keyfrag")

export CCACHE_DIR=${KSMPART_CCACHE_DIR:-$HOME/.cache/ksmpart/ccache}
export CCACHE_BASEDIR=$top CCACHE_NOHASHDIR=1 CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-12G}
# Fixed build identity (reproducible images, ccache hits for init/version.c).
export KBUILD_BUILD_TIMESTAMP="2025-01-01" KBUILD_BUILD_USER=ksmpart KBUILD_BUILD_HOST=ksmpart
export SOURCE_DATE_EPOCH=1735689600
release=$base-$DEB_REVISION-$flavour
export KDEB_PKGVERSION=$base-$DEB_REVISION KDEB_CHANGELOG_DIST=unstable
export DEBFULLNAME="ksmpart" DEBEMAIL="ksmpart@example.org"
# scripts/package/mkdebian dates the changelog with `date -R`, and
# dpkg-buildpackage derives SOURCE_DATE_EPOCH (every file's mtime in the
# packages) from that date: pin it.
shim=$dir/shim
mkdir -p "$shim"
cat >"$shim/date" <<EOF
#!/bin/sh
[ "\$*" = "-R" ] && exec /bin/date -u -R -d @$SOURCE_DATE_EPOCH
exec /bin/date "\$@"
EOF
chmod +x "$shim/date"
export PATH=$shim:$PATH

kmake=(make -C "$tree" O="$out" -j"$(nproc)" LOCALVERSION="-$DEB_REVISION-$flavour"
	CC="ccache gcc" HOSTCC="ccache gcc")

want=$( (cat "$debconfig" "${fragments[@]}") | sha256sum | cut -d' ' -f1)
if [[ ! -f $out/.config || $(cat "$out/.ksmpart-fragments" 2>/dev/null) != "$want" ]]; then
	xz -dc "$debconfig" >"$out/.config"
	(cd "$tree" && KCONFIG_CONFIG="$out/.config" \
		scripts/kconfig/merge_config.sh -m -O "$out" "$out/.config" "${fragments[@]}" >/dev/null)
	"${kmake[@]}" -s olddefconfig
	"$top/kernel/scripts/check-config.sh" "$out/.config" "${fragments[@]}"
	echo "$want" >"$out/.ksmpart-fragments"
fi

start=$SECONDS
rm -f "$dir"/*.deb "$dir"/*.buildinfo "$dir"/*.changes
"${kmake[@]}" -s bindeb-pkg KDEB_COMPRESS=xz
got=$(cat "$out/include/config/kernel.release")
[[ $got == "$release" ]] || { echo "build-deb: built $got, expected $release" >&2; exit 1; }
(cd "$dir" && ls -1 linux-image-"$release"_*.deb linux-headers-"$release"_*.deb) >"$dir/packages"
# The -dbg package (DEB_DEBUG_INFO=1) is listed too when there is one.
(cd "$dir" && ls -1 linux-image-"$release"-dbg_*.deb 2>/dev/null || true) >>"$dir/packages"
echo "build-deb: $release in $((SECONDS - start)) s:"
sed "s|^|  $dir/|" "$dir/packages"
