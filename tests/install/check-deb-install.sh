#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# TAP: the packages of `make deb` install and remove cleanly on a Debian
# system, as an admin would do it: a minimal bookworm root made by debootstrap
# (cached in build/deb-root, with initramfs-tools as a real machine has it),
# `apt-get install ./linux-image-….deb ./linux-headers-….deb` inside it, and
# Debian's kernel hooks run by the package's postinst (initramfs-tools builds
# the initrd). Then `apt-get remove` takes everything away again.
# Usage: check-deb-install.sh DEB_DIR
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
build=${KSMPART_BUILD:-$top/build}
dir=$(cd "${1:?usage: check-deb-install.sh DEB_DIR}" && pwd)
root=$build/deb-root
# shellcheck source=tests/check/tap.sh
source "$top/tests/check/tap.sh"

echo "TAP version 13"
echo "1..7"

image=$(grep '^linux-image-' "$dir/packages" | grep -v -- '-dbg_' | head -n 1)
headers=$(grep '^linux-headers-' "$dir/packages" | head -n 1)
release=${image#linux-image-}
release=${release%%_*}
echo "# $image, $headers"

mounted=()
cleanup() {
	local m
	for m in "${mounted[@]}"; do umount -l "$m" 2>/dev/null; done
}
trap cleanup EXIT

if [[ ! -x $root/usr/bin/apt-get || ! -f $root/.ksmpart-ready ]]; then
	rm -rf "$root"
	log=$build/deb-root.log
	if debootstrap --variant=minbase --include=initramfs-tools,kmod bookworm "$root" \
		http://deb.debian.org/debian >"$log" 2>&1; then
		touch "$root/.ksmpart-ready"
	else
		tail -5 "$log" | sed 's/^/# /'
	fi
fi
if [[ -f $root/.ksmpart-ready ]]; then
	ok "a minimal Debian bookworm root with initramfs-tools ($root)"
else
	not_ok "a minimal Debian bookworm root with initramfs-tools" "debootstrap failed, see $build/deb-root.log"
	for t in 2 3 4 5 6 7; do not_ok "(needs the root)" ""; done
	exit 1
fi

for m in proc sys dev; do
	mount --bind "/$m" "$root/$m" && mounted=("$root/$m" "${mounted[@]}")
done
cp "$dir/$image" "$dir/$headers" "$root/tmp/"
in_root() { chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive "$@"; }

out=$(in_root apt-get install -y --no-install-recommends "/tmp/$image" "/tmp/$headers" 2>&1)
rc=$?
if ((rc == 0)); then
	ok "apt-get install ./$image ./$headers"
else
	not_ok "apt-get install ./$image ./$headers" "exit $rc: $(tail -n 8 <<<"$out")"
fi

status=$(in_root dpkg-query -W -f='${Status} ${Version}\n' "linux-image-$release" "linux-headers-$release" 2>&1)
if [[ $(grep -c "install ok installed" <<<"$status") == 2 ]]; then
	ok "dpkg: both installed ($(head -n 1 <<<"$status" | awk '{print $4}'))"
else
	not_ok "dpkg: both installed" "$status"
fi

files=("boot/vmlinuz-$release" "boot/System.map-$release" "boot/config-$release"
	"lib/modules/$release/modules.dep" "usr/src/linux-headers-$release/Makefile")
missing=
for f in "${files[@]}"; do [[ -s $root/$f ]] || missing+="$f "; done
if [[ -z $missing ]] && grep -q '^CONFIG_KSM_PARTITION=y' "$root/boot/config-$release"; then
	ok "kernel, System.map, config (CONFIG_KSM_PARTITION=y), modules.dep, headers in place"
else
	not_ok "kernel, System.map, config, modules.dep, headers in place" "missing: ${missing:-none}; config: $(grep KSM_PARTITION "$root/boot/config-$release")"
fi

# The postinst ran Debian's hook: initramfs-tools made an initrd holding
# this kernel's modules.
initrd=$root/boot/initrd.img-$release
if [[ -s $initrd ]] && in_root lsinitramfs "/boot/initrd.img-$release" | grep -q "lib/modules/$release/modules.dep"; then
	ok "postinst: initramfs-tools built /boot/initrd.img-$release ($(du -h "$initrd" | cut -f1)) with its modules"
else
	not_ok "postinst: initramfs-tools built /boot/initrd.img-$release with its modules" "$(ls -l "$root/boot")"
fi

# The headers are usable: an out-of-tree module builds against them.
mod=$root/tmp/hello-mod
mkdir -p "$mod"
printf '#include <linux/module.h>\nMODULE_LICENSE("GPL");\nstatic int __init h(void) { return 0; }\nmodule_init(h);\n' >"$mod/hello.c"
echo 'obj-m := hello.o' >"$mod/Makefile"
in_root apt-get install -y --no-install-recommends gcc make libc6-dev libelf-dev >/dev/null 2>&1
out=$(in_root make -C "/usr/src/linux-headers-$release" M=/tmp/hello-mod modules 2>&1)
if [[ -f $mod/hello.ko ]] && in_root modinfo /tmp/hello-mod/hello.ko | grep -q "vermagic: *$release "; then
	ok "an out-of-tree module builds against linux-headers-$release (vermagic $release)"
else
	not_ok "an out-of-tree module builds against linux-headers-$release" "$(tail -n 8 <<<"$out")"
fi
rm -rf "$mod"

out=$(in_root apt-get remove -y --purge "linux-image-$release" "linux-headers-$release" 2>&1)
left=$(ls -d "$root/boot/vmlinuz-$release" "$root/boot/initrd.img-$release" \
	"$root/lib/modules/$release" "$root/usr/src/linux-headers-$release" 2>/dev/null)
if [[ -z $left ]] && ! in_root dpkg-query -W "linux-image-$release" >/dev/null 2>&1; then
	ok "apt-get remove --purge leaves no kernel, initrd, modules or headers behind"
else
	not_ok "apt-get remove --purge leaves nothing behind" "left: $left; $(tail -n 5 <<<"$out")"
fi
rm -f "$root/tmp/$image" "$root/tmp/$headers"
exit $((failed > 0))
