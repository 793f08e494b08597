#!/usr/bin/env bash
# `make patches`: the upstream series, as git format-patch files with a cover
# letter in build/patches/, and a check that it is bisectable and clean.
#
# The development series (kernel/patches/) keeps our new files out of the
# patches (build/linux links to them), so it is not what we mail. This script
# composes the mailed series in its own worktree, build/series/linux:
#   1  kernel/patches/0001 (selftests fix)
#   2  kernel/patches/0005 (MADV_FREE fix; fixes first)
#   3  kernel/patches/0002 + 0004 and the new files (kernel/mm/, uapi/),
#      message kernel/series/02-*.msg
#   4  kernel/patches/0006 (fork: KSM zero page count of the child)
#   5  kernel/patches/0003 (syscall tables)
#   6  Documentation: docs/admin-guide/ksm_partition.rst, index, ioctl number
#   7  selftests: tests/kselftest/ (ksmpart.h and ksm_part_*.c)
# Then, for every patch in order: checkpatch --strict, kernel-doc -none on
# the C files it adds or changes, docutils on the .rst it touches, and an
# incremental build of what it touches (bzImage with the release config,
# the mm selftests against the tree's own headers).
# KSMPART_PATCHES_NOBUILD=1 skips the builds.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${KSMPART_BUILD:-$top/build}
src=$build/linux
series=$top/kernel/series
dev=$top/kernel/patches
# tree and objects side by side as in build/, so that the compiler sees the
# same relative paths as for build/kernel-release and ccache hits.
work=$build/series
tree=$work/linux
obj=$work/kernel-release
out=$build/patches
author="ksmpart <ksmpart@example.org>"

# Debian's python3 (docutils, and ply for checkpatch's spdxcheck.py), not
# another one earlier in PATH.
export PATH=/usr/bin:$PATH

die() { echo "make-patches: $*" >&2; exit 1; }
say() { echo "make-patches: $*" >&2; }
git_t() {
	git -C "$tree" -c user.name=ksmpart -c user.email=ksmpart@example.org \
		-c commit.gpgsign=false "$@"
}
dev_patch() {
	local p
	p=$(ls "$dev"/"$1"-*.patch 2>/dev/null | head -1)
	[[ -n $p ]] || die "no kernel/patches/$1-*.patch"
	echo "$p"
}

# maintainers_add ANCHOR NEW before|after: an F: line for NEW next to the
# F: line of ANCHOR in the MEMORY MANAGEMENT section (its lines are sorted).
maintainers_add() {
	local cmd=a
	[[ $3 == before ]] && cmd=i
	sed -i "/^MEMORY MANAGEMENT$/,/^$/{\\|^F:\t$1$|$cmd\\
F:\t$2
}" "$tree/MAINTAINERS"
	grep -qP "^F:\t\Q$2\E$" "$tree/MAINTAINERS" || die "could not add $2 to MAINTAINERS"
	git_t add MAINTAINERS
}

[[ -d $src/.git ]] || die "no build/linux; run 'make kernel-tree'"
git -C "$src" rev-parse -q --verify ksmpart-base >/dev/null || die "build/linux has no ksmpart-base tag"

# --- compose --------------------------------------------------------------
mkdir -p "$work"
if [[ ! -e $tree/.git ]]; then
	git -C "$src" worktree prune
	git -C "$src" worktree add -q --detach "$tree" ksmpart-base
fi
git_t checkout -q --detach ksmpart-base
git_t reset -q --hard ksmpart-base
git_t clean -q -fdx

git_t am -q "$(dev_patch 0001)" "$(dev_patch 0005)"

git_t am -q "$(dev_patch 0002)" "$(dev_patch 0004)"
git_t reset -q --soft HEAD~2
while IFS= read -r f; do
	rel=${f#"$top"/}
	case $rel in
	kernel/*) dst=${rel#kernel/} ;;
	uapi/*) dst=include/uapi/${rel#uapi/} ;;
	esac
	mkdir -p "$tree/$(dirname "$dst")"
	cp "$f" "$tree/$dst"
	git_t add -f "$dst"
done < <(find "$top/kernel/mm" "$top/uapi" -type f -not -name '.*' | sort)
maintainers_add 'include/trace/events/ksm.h' 'include/uapi/linux/ksmpart.h' after
git_t commit -q --author="$author" -F "$series/02-mm-ksm-partitions.msg"

git_t am -q "$(dev_patch 0006)" "$(dev_patch 0003)"

rst=${KSMPART_ADMIN_GUIDE:-$top/docs/admin-guide/ksm_partition.rst}
[[ -f $rst ]] || die "missing $rst"
cp "$rst" "$tree/Documentation/admin-guide/mm/ksm_partition.rst"
# The toctree lists the mm guides alphabetically; ours follows ksm.
sed -i '/^   ksm$/a\   ksm_partition' "$tree/Documentation/admin-guide/mm/index.rst"
grep -q '^   ksm_partition$' "$tree/Documentation/admin-guide/mm/index.rst" ||
	die "could not add ksm_partition to Documentation/admin-guide/mm/index.rst"
ioctls=$tree/Documentation/userspace-api/ioctl/ioctl-number.rst
line=$(printf '%-6s%-7s%-58s%s' 0xB9 00-0F uapi/linux/ksmpart.h '<mailto:linux-mm@kvack.org>')
awk -v l="$line" '!done && /^0x(B[A-F]|[C-F])/ { print l; done = 1 } { print }' "$ioctls" >"$ioctls.new"
mv "$ioctls.new" "$ioctls"
grep -q '^0xB9 ' "$ioctls" || die "could not register 0xB9 in ioctl-number.rst"
maintainers_add 'include/linux/gfp.h' 'Documentation/admin-guide/mm/ksm_partition.rst' before
git_t add Documentation MAINTAINERS
git_t commit -q --author="$author" -F "$series/04-docs.msg"

mm=$tree/tools/testing/selftests/mm
tests=()
for f in "$top"/tests/kselftest/ksm_part_*.c; do
	tests+=("$(basename "$f" .c)")
done
# In tools/testing/selftests/mm the harness is one directory up.
for f in "$top"/tests/kselftest/ksmpart.h "$top"/tests/kselftest/ksm_part_*.c; do
	sed 's|^#include "kselftest_harness.h"|#include "../kselftest_harness.h"|' "$f" >"$mm/$(basename "$f")"
done
gen=$(printf 'TEST_GEN_FILES += %s\\n' "${tests[@]}")
sed -i "/^TEST_GEN_FILES += ksm_functional_tests$/a\\${gen%\\n}" "$mm/Makefile"
# (No .gitignore entries: the pristine tree does not track the selftests'
# .gitignore files, so an entry would add the whole file.)
git_t add tools/testing/selftests/mm
git_t commit -q --author="$author" -F "$series/05-selftests.msg"

# --- format ---------------------------------------------------------------
bench=$build/bench/summary.txt
if [[ -f $bench ]]; then
	table=$(sed -n '/^Ratios/,/^$/p' "$bench" | sed '/^$/d')
else
	table="(no build/bench/summary.txt: run 'make bench' for the numbers)"
fi
rm -rf "$out"
git_t format-patch -q --cover-letter --thread --zero-commit --base=ksmpart-base \
	--subject-prefix="RFC PATCH" -o "$out" ksmpart-base..HEAD
cover=$(ls "$out"/0000-*.patch)
python3 - "$cover" "$series/cover-letter.txt" "$table" <<'EOF'
import sys
cover, template, table = sys.argv[1], open(sys.argv[2]).read(), sys.argv[3]
subject, _, body = template.partition("\n\n")
body = body.replace("@BENCH@", "\n".join("  " + l if l else l for l in table.splitlines()))
text = open(cover).read()
text = text.replace("*** SUBJECT HERE ***", subject.strip())
text = text.replace("*** BLURB HERE ***", body.rstrip())
# base-commit names a local tag; say what it is.
text = text.replace("base-commit:", "Based on Debian linux-source-6.12 (6.12.117).\nbase-commit:", 1)
open(cover, "w").write(text)
EOF
grep -q '\*\*\*' "$cover" && die "cover letter still has placeholders"

# --- check ----------------------------------------------------------------
fails=0
fail() { echo "not ok - $*"; fails=$((fails + 1)); }
ok() { echo "ok - $*"; }

if [[ ${KSMPART_PATCHES_NOBUILD:-0} != 1 ]]; then
	mkdir -p "$obj"
	[[ -f $build/kernel-release/.config ]] || die "no build/kernel-release/.config; run 'make kernel-release'"
	cp "$build/kernel-release/.config" "$obj/.config"
fi
export CCACHE_DIR=${KSMPART_CCACHE_DIR:-$HOME/.cache/ksmpart/ccache}
export CCACHE_BASEDIR=$top CCACHE_NOHASHDIR=1 CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-8G}
export KBUILD_BUILD_TIMESTAMP="2025-01-01" KBUILD_BUILD_USER=ksmpart KBUILD_BUILD_HOST=ksmpart
kmake=(make -C "$tree" O="$obj" -j"$(nproc)" -s LOCALVERSION= CC="ccache gcc" HOSTCC="ccache gcc")

commits=$(git_t rev-list --reverse ksmpart-base..HEAD)
n=0
echo "TAP version 13"
echo "1..$(($(wc -w <<<"$commits") * 4))"
for c in $commits; do
	n=$((n + 1))
	patch=$(ls "$out"/"$(printf '%04d' $n)"-*.patch)
	name="patch $n ($(git_t log -1 --format=%s "$c"))"
	git_t checkout -q --detach "$c"
	files=$(git_t diff --name-only --diff-filter=AM "$c~1" "$c")

	# "does MAINTAINERS need updating?" is answered by get_maintainer.pl: a
	# patch whose new files all have an M: in MAINTAINERS need not touch it.
	ignore=()
	added=$(git_t diff --name-only --diff-filter=A "$c~1" "$c")
	if [[ -n $added ]] && ! git_t diff --quiet "$c~1" "$c" -- MAINTAINERS; then
		:
	elif [[ -n $added ]] && (cd "$tree" && for f in $added; do
		scripts/get_maintainer.pl --no-git --no-git-fallback --no-rolestats -f "$f" |
			grep -qv '@vger.kernel.org$\|@kvack.org$' || exit 1
	done); then
		ignore=(--ignore FILE_PATH_CHANGES)
	fi
	if (cd "$tree" && scripts/checkpatch.pl --strict -q "${ignore[@]}" "$patch" >"$work/checkpatch.log" 2>&1); then
		ok "$name: checkpatch --strict${ignore[*]:+ (its new files are in MAINTAINERS already)}"
	else
		cat "$work/checkpatch.log"
		fail "$name: checkpatch --strict"
	fi

	cfiles=$(grep -E '^(mm|include|kernel|fs)/.*\.[ch]$' <<<"$files" || true)
	if [[ -n $cfiles ]]; then
		# Upstream files have old warnings: only new ones count (line numbers
		# dropped, they move).
		kdoc() { (cd "$tree" && scripts/kernel-doc -none $cfiles 2>&1 | sed 's/:[0-9]*: /: /' | sort -u); }
		after=$(kdoc)
		git_t checkout -q --detach "$c~1"
		cfiles=$(cd "$tree" && ls $cfiles 2>/dev/null || true)
		before=$([[ -n $cfiles ]] && kdoc || true)
		git_t checkout -q --detach "$c"
		new=$(comm -13 <(echo "$before") <(echo "$after") | sed '/^$/d')
		if [[ -z $new ]]; then
			ok "$name: kernel-doc -none (no new warnings)"
		else
			echo "$new"
			fail "$name: kernel-doc -none"
		fi
	else
		ok "$name: kernel-doc # SKIP no C files in mm/, include/, kernel/, fs/"
	fi

	# New pages only: index.rst and friends use Sphinx directives.
	rsts=$(git_t diff --name-only --diff-filter=A "$c~1" "$c" -- '*.rst')
	if [[ -n $rsts ]]; then
		bad=0
		for r in $rsts; do
			# Plain docutils: the kernel's Sphinx extensions are not needed by
			# our page, and any warning fails.
			/usr/bin/python3 -m docutils --halt=warning --report=warning "$tree/$r" /dev/null ||
				bad=1
		done
		if ((bad)); then fail "$name: docutils on $rsts"; else ok "$name: docutils"; fi
	else
		ok "$name: docutils # SKIP no .rst files"
	fi

	if [[ ${KSMPART_PATCHES_NOBUILD:-0} == 1 ]]; then
		ok "$name: build # SKIP KSMPART_PATCHES_NOBUILD=1"
	elif grep -qvE '^(Documentation|tools)/' <<<"$files"; then
		say "building $name"
		if "${kmake[@]}" olddefconfig bzImage >"$work/build.log" 2>&1; then
			ok "$name: builds (bzImage, release config)"
		else
			tail -40 "$work/build.log"
			fail "$name: builds (bzImage, release config)"
		fi
	elif grep -q '^tools/testing/selftests/mm/' <<<"$files"; then
		say "building the mm selftests of $name"
		sel=$work/selftests
		mkdir -p "$sel"
		if "${kmake[@]}" headers_install INSTALL_HDR_PATH="$work/headers" >"$work/build.log" 2>&1 &&
			targets=$(cd "$tree" && git diff --name-only "$c~1" "$c" -- tools/testing/selftests/mm |
				sed -n 's|^tools/testing/selftests/mm/\(.*\)\.c$|'"$sel"'/\1|p') &&
			make -C "$tree/tools/testing/selftests/mm" -s OUTPUT="$sel" \
				KHDR_INCLUDES="-isystem $work/headers/include" $targets >>"$work/build.log" 2>&1; then
			ok "$name: builds (selftests: $(wc -w <<<"$targets") programs)"
		else
			tail -40 "$work/build.log"
			fail "$name: builds (selftests)"
		fi
	else
		ok "$name: build # SKIP documentation only"
	fi
done
git_t checkout -q --detach HEAD

echo "# series: $out ($(ls "$out" | wc -l) files, cover letter $(basename "$cover"))"
if ((fails)); then
	echo "# $fails check(s) failed"
	exit 1
fi
echo "# every patch: checkpatch --strict, kernel-doc, docutils and build clean"
