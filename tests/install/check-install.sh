#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Installs the user-space build into a staging directory (DESTDIR) and builds
# the examples against it the way users would: C with pkg-config, C++ with
# find_package(ksmpart). Prints TAP; exits non-zero if a test failed.
# Usage: check-install.sh [USER_BUILD_DIR]   (default: build/user)
# The built examples are run in the VM by run-examples.sh.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${KSMPART_BUILD:-$top/build}
user=${1:-$build/user}
dest=$build/install-check
prefix=/usr/local
out=$dest/examples-build

n=0 failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() {
	n=$((n + 1)) failed=$((failed + 1))
	echo "not ok $n - $1"
	[[ -f $dest/log ]] && sed 's/^/#   /' "$dest/log" | tail -20
}
check() { # check DESCRIPTION COMMAND...
	local d=$1
	shift
	if "$@" >"$dest/log" 2>&1; then ok "$d"; else not_ok "$d"; fi
}

rm -rf "$dest"
mkdir -p "$dest" "$out"
echo "TAP version 13"
echo "1..23"

check "DESTDIR install of $user" env DESTDIR="$dest" cmake --install "$user" --prefix "$prefix"

root=$dest$prefix
pc=$(find "$root" -name ksmpart.pc | head -1)
libdir=$(dirname "$(dirname "${pc:-/nonexistent/x/y}")")
check "ksmpart.pc installed" test -f "$pc"
check "shared library with SONAME libksmpart.so.0" \
	bash -c "readelf -d '$libdir/libksmpart.so' | grep -q 'SONAME.*\[libksmpart.so.0\]'"
check "static library installed" test -f "$libdir/libksmpart.a"
check "headers installed" test -f "$root/include/ksmpart.h" -a -f "$root/include/ksmpart/ksmpart.hpp" \
	-a -f "$root/include/ksmpart/version.h" -a -f "$root/include/ksmpart/system.hpp"
check "the UAPI header is installed as <linux/ksmpart.h> below include/ksmpart/uapi" \
	test -f "$root/include/ksmpart/uapi/linux/ksmpart.h"
check "no test hooks or internals in the installed headers" bash -c "
	! grep -rlE 'ScopedBackend|class Backend|namespace detail' '$root/include'"
# ABI: the shared library exports the C API and nothing else, versioned.
check "libksmpart.so exports only ksmpart_* functions, all @@LIBKSMPART_0" bash -c "
	syms=\$(nm -D --defined-only '$libdir/libksmpart.so' | awk '{print \$3}' | grep -v '^LIBKSMPART_0\$')
	[ -n \"\$syms\" ] && ! grep -v '^ksmpart_[a-z_]*@@LIBKSMPART_0\$' <<<\"\$syms\""
check "every function of ksmpart.h is exported" bash -c "
	for f in \$(grep -oE '^KSMPART_API [^(]*\\bksmpart_[a-z_]+\\(' '$root/include/ksmpart.h' |
		grep -oE 'ksmpart_[a-z_]+'); do
		nm -D --defined-only '$libdir/libksmpart.so' | grep -q \" \$f@@LIBKSMPART_0\\\$\" || { echo missing \$f; exit 1; }
	done"
check "no RPATH or RUNPATH on the library and the tool" bash -c "
	! readelf -d '$libdir/libksmpart.so' '$root/bin/ksmpart-tool' | grep -qE 'RPATH|RUNPATH'"
check "CMake package installed" test -f "$libdir/cmake/ksmpart/ksmpartConfig.cmake"

export PKG_CONFIG_SYSROOT_DIR=$dest PKG_CONFIG_PATH=$libdir/pkgconfig
check "pkg-config points into the staging tree" \
	bash -c "pkg-config --cflags --libs ksmpart | grep -q -- '-I$root/include' &&
		 pkg-config --libs ksmpart | grep -q -- '-L$libdir'"
grep -q "^prefix=$prefix\$" "$pc" 2>/dev/null && ok "ksmpart.pc has prefix=$prefix" ||
	not_ok "ksmpart.pc has prefix=$prefix"

mkdir -p "$out/c"
check "C example builds with pkg-config" \
	make -C "$out/c" -f "$top/examples/c/Makefile" VPATH="$top/examples/c" \
	LDFLAGS="-Wl,-rpath,$libdir"
unset PKG_CONFIG_SYSROOT_DIR PKG_CONFIG_PATH

check "C++ example builds with find_package(ksmpart)" bash -c "
	cmake -S '$top/examples/cpp' -B '$out/cpp' -DCMAKE_PREFIX_PATH='$root' >/dev/null &&
	cmake --build '$out/cpp'"
check "C++ example links statically with ksmpart::static" bash -c "
	cmake -S '$top/examples/cpp' -B '$out/cpp-static' -DCMAKE_PREFIX_PATH='$root' \
		-DEXAMPLE_STATIC=ON >/dev/null &&
	cmake --build '$out/cpp-static' && ! ldd '$out/cpp-static/merge-self-cpp' | grep -q libksmpart"
check "the C example loads the staged libksmpart.so.0" bash -c "
	ldd '$out/c/merge-self-c' | grep -q 'libksmpart.so.0 => $libdir/'"
check "the C++ example has the C++ API compiled in (no libksmpart.so)" bash -c "
	! ldd '$out/cpp/merge-self-cpp' | grep -q libksmpart"
export PKG_CONFIG_SYSROOT_DIR=$dest PKG_CONFIG_PATH=$libdir/pkgconfig
check "a raw system call program builds with <linux/ksmpart.h> from pkg-config" bash -c "
	printf '#include <linux/ksmpart.h>\\n#include <ksmpart.h>\\n#if !KSMPART_CHECK_VERSION(0, 1)\\n#error\\n#endif\\nint main(void) { return __NR_ksm_open > 0 && sizeof(struct ksm_merge_result) >= KSM_MERGE_RESULT_SIZE_VER0 ? 0 : 1; }\\n' >'$out/raw.c' &&
	cc -Wall -Werror \$(pkg-config --cflags ksmpart) -o '$out/raw' '$out/raw.c'"
unset PKG_CONFIG_SYSROOT_DIR PKG_CONFIG_PATH
check "tool, man pages and bash completion installed" test -x "$root/bin/ksmpart-tool" \
	-a -f "$root/share/man/man1/ksmpart-tool.1" -a -f "$root/share/man/man3/libksmpart.3" \
	-a -f "$root/share/bash-completion/completions/ksmpart-tool"
check "ksmpartd, the OCI hook and their files installed" test -x "$root/sbin/ksmpartd" \
	-a -x "$root/libexec/ksmpart/ksmpart-oci-hook" -a -f "$root/lib/systemd/system/ksmpartd.service" \
	-a -f "$root/share/containers/oci/hooks.d/ksmpart.json"
# The units as installed, with the staged paths, pass systemd's own checks
# (executables exist, directives are known, the man pages they name exist).
mkdir -p "$dest/units"
for u in ksmpartd.service ksmpart-hold@.service; do
	sed "s|$prefix/|$root/|g" "$root/lib/systemd/system/$u" >"$dest/units/$u"
done
check "systemd-analyze verify: the installed units" env MANPATH="$root/share/man:" \
	systemd-analyze verify "$dest/units/ksmpartd.service" "$dest/units/ksmpart-hold@.service"
# make uninstall removes what make install wrote.
cp "$user/install_manifest.txt" "$dest/manifest"
check "uninstall removes every installed file" bash -c "
	cmake --build '$user' --target uninstall >/dev/null &&
	while read -r f; do [ ! -e \"\$f\" ] || { echo left: \$f; exit 1; }; done <'$dest/manifest'"

rm -f "$dest/log"
echo "# $((n - failed)) passed, $failed failed; run the examples with:"
echo "#   tests/vm/run --debug -- $top/tests/install/run-examples.sh"
((failed == 0))
