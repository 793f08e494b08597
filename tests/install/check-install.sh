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
echo "1..12"

check "DESTDIR install of $user" env DESTDIR="$dest" cmake --install "$user" --prefix "$prefix"

root=$dest$prefix
pc=$(find "$root" -name ksmpart.pc | head -1)
libdir=$(dirname "$(dirname "${pc:-/nonexistent/x/y}")")
check "ksmpart.pc installed" test -f "$pc"
check "shared library with SONAME libksmpart.so.0" \
	bash -c "readelf -d '$libdir/libksmpart.so' | grep -q 'SONAME.*\[libksmpart.so.0\]'"
check "static library installed" test -f "$libdir/libksmpart.a"
check "headers installed" test -f "$root/include/ksmpart.h" -a -f "$root/include/ksmpart/ksmpart.hpp"
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
check "examples load the staged libksmpart.so.0" bash -c "
	ldd '$out/c/merge-self-c' | grep -q 'libksmpart.so.0 => $libdir/' &&
	ldd '$out/cpp/merge-self-cpp' | grep -q 'libksmpart.so.0 => $libdir/'"

rm -f "$dest/log"
echo "# $((n - failed)) passed, $failed failed; run the examples with:"
echo "#   tests/vm/run --debug -- $top/tests/install/run-examples.sh"
((failed == 0))
