#!/usr/bin/env bash
# `make patches`: the upstream series, as git format-patch files with a cover
# letter in build/patches/, and a check that every patch of it builds, boots
# and passes the tests that exist at that point.
#
# The development series (kernel/patches/) keeps our new files out of the
# patches (build/linux links to them), so it is not what we mail. This script
# composes the mailed series in its own worktree, build/series/linux:
#   - the development patches before "mm/ksm: partitions" as they are: the
#     independent fixes (Fixes:/Cc: stable, each applies to the base alone)
#     and the no-functional-change tree refactor;
#   - "mm/ksm: partitions" with the new files (kernel/mm/, uapi/), mailed as
#     the partition object (message kernel/series/02-mm-ksm-partitions.msg)
#     and a patch per feature on top (kernel/series/split/: merge, unmerge
#     and leave, statistics, tracepoints, admin controls);
#   - the development patches after it (syscalls for every architecture,
#     statistics, sysfs);
#   - Documentation: docs/admin-guide/ksm_partition.rst, a pointer in
#     ksm.rst (kernel/series/ksm-rst-partitions.rst), the ioctl number;
#   - the selftests, one patch per group of kernel/series/selftests.list,
#     with their run_vmtests.sh lines.
# Then, for every patch in order (TAP): checkpatch --strict; kernel-doc
# -none on the C files it adds or changes; docutils on the .rst it adds; if
# it changes the kernel, three builds: bzImage with the release config, the
# release config with CONFIG_KSM_PARTITION=n, and allnoconfig + 64BIT + KSM
# (+ KSM_PARTITION once it exists), all with -Werror for the last two; then
# a boot of that release kernel (2 vCPUs) running the upstream KSM selftests
# of that tree and the partition selftests the patch adds (a selftest patch
# boots the last kernel built: the kernel is the same).
# KSMPART_PATCHES_NOBUILD=1 skips builds and boots; KSMPART_PATCHES_NOBOOT=1
# only the boots; KSMPART_PATCHES_ONLY="5 6" checks only those patches (the
# others are reported as skipped).
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

# refactor_header <ksm_internal.h: the header as the tree refactor adds it,
# before partitions exist: the structures without their partition members,
# and none of the declarations of functions that the refactor leaves static
# (they start at the first forward declaration, "struct folio;").
refactor_header() {
	python3 -c '
import re, sys
s = sys.stdin.read()
end = "#endif /* _MM_KSM_INTERNAL_H */"
cut = s.index("/*\n * There is one KSM")
s = s[:cut].rstrip("\n") + "\n\n" + end + "\n"
s = re.sub(r"#ifdef CONFIG_KSM_PARTITION\n(?:(?!#e).*\n)*?#endif\n", "", s)
s = re.sub(r" \* @(tree|checksum|cand_node): .*\n", "", s)
s = re.sub(r"\t\tstruct hlist_node cand_node;.*\n", "", s)
if "PARTITION" in s or "partition" in s:
	sys.exit("refactor_header: a partition remains in ksm_internal.h")
sys.stdout.write(s)
'
}

[[ -d $src/.git ]] || die "no build/linux; run 'make kernel-tree'"
git -C "$src" rev-parse -q --verify ksmpart-base >/dev/null || die "build/linux has no ksmpart-base tag"

# --- compose --------------------------------------------------------------
mkdir -p "$work"
if [[ ! -e $tree/.git ]]; then
	git -C "$src" worktree prune
	git -C "$src" worktree add -q --detach "$tree" ksmpart-base
fi
git_t am --abort >/dev/null 2>&1 || true
git_t rebase --abort >/dev/null 2>&1 || true
git_t checkout -q --detach ksmpart-base
git_t reset -q --hard ksmpart-base
git_t clean -q -fdx

# The development series in order; the partitions patch is the one the new
# files join.
mapfile -t devs < <(sed '/^$/d' "$dev/series")
core=
for p in "${devs[@]}"; do
	[[ $p == *-mm-ksm-partitions-* ]] && core=$p
done
[[ -n $core ]] || die "no *-mm-ksm-partitions-* patch in kernel/patches/series"
mapfile -t splits < <(ls "$series"/split/*.patch | sort)
((${#splits[@]})) || die "no kernel/series/split/*.patch"
seen= internal=
for p in "${devs[@]}"; do
	git_t am -q "$dev/$p" || die "kernel/patches/$p does not apply"
	# The tree refactor moves the stable tree's structures to
	# mm/ksm_internal.h: that patch adds the header as far as it goes
	# (refactor_header), the partitions patch the rest.
	if [[ -z $internal && -z $seen ]] && grep -q '^#include "ksm_internal.h"$' "$tree/mm/ksm.c"; then
		internal=$p
		refactor_header <"$top/kernel/mm/ksm_internal.h" >"$tree/mm/ksm_internal.h"
		git_t add -f mm/ksm_internal.h
		git_t commit -q --amend --no-edit
	fi
	[[ $p == "$core" ]] || continue
	seen=1
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
	# Mailed as a stack: the partition object first, then one patch per
	# feature (kernel/series/split/). Those are taken back here, last
	# first, and applied again on top as patches of their own.
	for ((i = ${#splits[@]} - 1; i >= 0; i--)); do
		git_t apply -R --index "${splits[i]}" ||
			die "kernel/series/split/$(basename "${splits[i]}") no longer fits the code; refresh it (docs/design.md)"
	done
	git_t commit -q --amend --author="$author" -F "$series/02-mm-ksm-partitions.msg"
	for f in "${splits[@]}"; do
		git_t am -q "$f" || die "kernel/series/split/$(basename "$f") does not apply"
	done
done
[[ -n $seen ]] || die "internal: partitions patch not applied"
[[ -n $internal ]] || die "no development patch before the partitions patch includes ksm_internal.h"

rst=${KSMPART_ADMIN_GUIDE:-$top/docs/admin-guide/ksm_partition.rst}
[[ -f $rst ]] || die "missing $rst"
cp "$rst" "$tree/Documentation/admin-guide/mm/ksm_partition.rst"
# The toctree lists the mm guides alphabetically; ours follows ksm.
sed -i '/^   ksm$/a\   ksm_partition' "$tree/Documentation/admin-guide/mm/index.rst"
grep -q '^   ksm_partition$' "$tree/Documentation/admin-guide/mm/index.rst" ||
	die "could not add ksm_partition to Documentation/admin-guide/mm/index.rst"
# ksm.rst: where partitions fit, before its sysfs section.
ksmrst=$tree/Documentation/admin-guide/mm/ksm.rst
awk -v f="$series/ksm-rst-partitions.rst" '
	/^\.\. _ksm_sysfs:$/ && !done { while ((getline l < f) > 0) print l; done = 1 }
	{ print }' "$ksmrst" >"$ksmrst.new"
mv "$ksmrst.new" "$ksmrst"
grep -q '^Merging in partitions$' "$ksmrst" || die "could not add the partitions section to ksm.rst"
ioctls=$tree/Documentation/userspace-api/ioctl/ioctl-number.rst
line=$(printf '%-6s%-7s%-58s%s' 0xB9 00-0F uapi/linux/ksmpart.h '<mailto:linux-mm@kvack.org>')
awk -v l="$line" '!done && /^0x(B[A-F]|[C-F])/ { print l; done = 1 } { print }' "$ioctls" >"$ioctls.new"
mv "$ioctls.new" "$ioctls"
grep -q '^0xB9 ' "$ioctls" || die "could not register 0xB9 in ioctl-number.rst"
maintainers_add 'include/linux/gfp.h' 'Documentation/admin-guide/mm/ksm_partition.rst' before
git_t add Documentation MAINTAINERS
git_t commit -q --author="$author" -F "$series/04-docs.msg"

# install_selftest FILE: tests/kselftest/FILE into the tree's mm selftests,
# where the harness is one directory up.
install_selftest() {
	sed 's|^#include "kselftest_harness.h"|#include "../kselftest_harness.h"|' \
		"$top/tests/kselftest/$1" >"$mm/$1"
}

# Selftests, a patch per group.
mm=$tree/tools/testing/selftests/mm
listed=()
while read -r msg files; do
	[[ -z $msg || $msg == \#* ]] && continue
	[[ -f $series/$msg ]] || die "kernel/series/$msg missing"
	progs=()
	for f in $files; do
		[[ -f $top/tests/kselftest/$f ]] || die "tests/kselftest/$f (kernel/series/selftests.list) missing"
		install_selftest "$f"
		[[ $f == *.c ]] && progs+=("${f%.c}") && listed+=("$f")
	done
	# Build rules and run_vmtests.sh lines after the last KSM ones (the
	# pristine tree does not track the selftests' .gitignore files, so no
	# entries there: one would add the whole file).
	anchor=$(grep -E '^TEST_GEN_FILES \+= (ksm_functional_tests|ksm_part_)' "$mm/Makefile" | tail -1)
	gen=$(printf 'TEST_GEN_FILES += %s\\n' "${progs[@]}")
	sed -i "\\|^${anchor}\$|a\\${gen%\\n}" "$mm/Makefile"
	anchor=$(grep -E '^CATEGORY="ksm" run_test \./(ksm_functional_tests|ksm_part_)' "$mm/run_vmtests.sh" | tail -1)
	run=$(printf 'CATEGORY="ksm" run_test ./%s\\n' "${progs[@]}")
	sed -i "\\|^${anchor}\$|a\\${run%\\n}" "$mm/run_vmtests.sh"
	for t in "${progs[@]}"; do
		grep -q "^TEST_GEN_FILES += $t$" "$mm/Makefile" || die "could not add $t to the mm selftests' Makefile"
		grep -q "run_test ./$t$" "$mm/run_vmtests.sh" || die "could not add $t to run_vmtests.sh"
	done
	git_t add tools/testing/selftests/mm
	git_t commit -q --author="$author" -F "$series/$msg"
done <"$series/selftests.list"
for f in "$top"/tests/kselftest/ksm_part_*.c; do
	[[ " ${listed[*]} " == *" $(basename "$f") "* ]] ||
		die "tests/kselftest/$(basename "$f") is in no patch of kernel/series/selftests.list"
done

# --- format ---------------------------------------------------------------
# The cover letter's numbers are written in it (from docs/performance.md):
# a single bench run under TCG is too noisy to quote alone.
rm -rf "$out"
git_t format-patch -q --cover-letter --thread --zero-commit --base=ksmpart-base \
	--subject-prefix="RFC PATCH v2" -o "$out" ksmpart-base..HEAD
cover=$(ls "$out"/0000-*.patch)
python3 - "$cover" "$series/cover-letter.txt" <<'EOF'
import sys
cover, template = sys.argv[1], open(sys.argv[2]).read()
subject, _, body = template.partition("\n\n")
text = open(cover).read()
text = text.replace("*** SUBJECT HERE ***", subject.strip())
text = text.replace("*** BLURB HERE ***", body.rstrip())
# base-commit names a local tag; say what it is.
text = text.replace("base-commit:", "Based on Debian linux-source-6.12 (6.12.117).\nbase-commit:", 1)
open(cover, "w").write(text)
EOF
grep -q '\*\*\*' "$cover" && die "cover letter still has placeholders"

# man-pages: the system calls' pages as a patch for the man-pages project
# (whose tree keeps them in man/man2/), in build/patches/man-pages/.
manout=$out/man-pages
mantree=$work/man-pages
git_m() {
	git -C "$mantree" -c user.name=ksmpart -c user.email=ksmpart@example.org \
		-c commit.gpgsign=false "$@"
}
rm -rf "$mantree"
mkdir -p "$mantree/man/man2"
git_m init -q
git_m commit -q --allow-empty -m "man-pages (empty base)"
cp "$top"/man/man2/ksm_*.2 "$top"/man/man2/ioctl_ksm_partition.2 "$mantree/man/man2/"
# man-pages' own footer instead of ours.
sed -i '/^\.TH /s/"ksmpart [^"]*"$/"Linux man-pages (unreleased)"/' "$mantree"/man/man2/*.2
grep -q '^\.TH .*"Linux man-pages (unreleased)"$' "$mantree"/man/man2/ksm_open.2 ||
	die "man-pages: could not set the .TH footer"
git_m add man
git_m commit -q --author="$author" -F "$series/man-pages.msg"
git_m format-patch -q --zero-commit --subject-prefix="RFC PATCH v2" -o "$manout" HEAD~1..HEAD
say "man-pages patch: $(ls "$manout")"

# --- check ----------------------------------------------------------------
fails=0
fail() { echo "not ok - $*"; fails=$((fails + 1)); }
ok() { echo "ok - $*"; }

nobuild=${KSMPART_PATCHES_NOBUILD:-0}
noboot=${KSMPART_PATCHES_NOBOOT:-$nobuild}
export CCACHE_DIR=${KSMPART_CCACHE_DIR:-$HOME/.cache/ksmpart/ccache}
export CCACHE_BASEDIR=$top CCACHE_NOHASHDIR=1 CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-8G}
export KBUILD_BUILD_TIMESTAMP="2025-01-01" KBUILD_BUILD_USER=ksmpart KBUILD_BUILD_HOST=ksmpart
# kmake DIR ARGS...: a kernel build of the series tree into $work/DIR
kmake() {
	local dir=$work/$1
	shift
	mkdir -p "$dir"
	make -C "$tree" O="$dir" -j"$(nproc)" -s LOCALVERSION= CC="ccache gcc" HOSTCC="ccache gcc" "$@"
}
# The configurations every kernel patch is built in. Each build starts from
# the same saved configuration, so that an option a patch introduces gets
# its value from it, not from olddefconfig's default at an earlier patch.
if [[ $nobuild != 1 ]]; then
	[[ -f $build/kernel-release/.config ]] || die "no build/kernel-release/.config; run 'make kernel-release'"
	mkdir -p "$work/configs"
	cp "$build/kernel-release/.config" "$work/configs/release"
	cp "$build/kernel-release/.config" "$work/configs/no-partition"
	"$src/scripts/config" --file "$work/configs/no-partition" --disable KSM_PARTITION --enable WERROR \
		--set-str LOCALVERSION -ksmpart-no-partition
fi
# build_config NAME: configure $work/kernel-NAME for the checked-out patch.
build_config() {
	case $1 in
	release | no-partition)
		cp "$work/configs/$1" "$work/kernel-$1/.config" 2>/dev/null ||
			{ mkdir -p "$work/kernel-$1" && cp "$work/configs/$1" "$work/kernel-$1/.config"; }
		kmake "kernel-$1" olddefconfig
		;;
	allno)
		kmake kernel-allno KCONFIG_ALLCONFIG="$top/kernel/configs/allno-ksm.config" allnoconfig
		grep -q '^CONFIG_KSM=y$' "$work/kernel-allno/.config" || { echo "allnoconfig: no CONFIG_KSM"; return 1; }
		if grep -q '^config KSM_PARTITION$' "$tree/mm/Kconfig"; then
			grep -q '^CONFIG_KSM_PARTITION=y$' "$work/kernel-allno/.config" ||
				{ echo "allnoconfig: no CONFIG_KSM_PARTITION"; return 1; }
		fi
		;;
	esac
	if [[ $1 == release ]] && grep -q '^config KSM_PARTITION$' "$tree/mm/Kconfig" &&
		! grep -q '^CONFIG_KSM_PARTITION=y$' "$work/kernel-release/.config"; then
		echo "release: CONFIG_KSM_PARTITION did not survive olddefconfig"
		return 1
	fi
}
# The mm selftests of the checked-out patch, against its own UAPI headers.
build_selftests() {
	local progs=(ksm_tests ksm_functional_tests "$@")
	rm -rf "$work/headers" "$work/selftests"
	mkdir -p "$work/selftests"
	kmake kernel-release headers_install INSTALL_HDR_PATH="$work/headers" &&
		make -C "$tree/tools/testing/selftests/mm" -s OUTPUT="$work/selftests" \
			KHDR_INCLUDES="-isystem $work/headers/include" "${progs[@]/#/$work/selftests/}"
}

# build_ahead [PROGRAM...]: build_selftests $progs, plus these programs of
# tests/kselftest/ that the tree does not have yet (removed again after).
build_ahead() {
	local f rc=0 copied=()
	(($#)) && copied=(ksmpart.h "${@/%/.c}")
	for f in "${copied[@]}"; do
		install_selftest "$f"
	done
	build_selftests $progs "$@" || rc=$?
	for f in "${copied[@]}"; do rm -f "$mm/$f"; done
	return $rc
}

commits=$(git_t rev-list --reverse ksmpart-base..HEAD)
n=0
echo "TAP version 13"
echo "1..$(($(wc -w <<<"$commits") * 7))"
for c in $commits; do
	n=$((n + 1))
	patch=$(ls "$out"/"$(printf '%04d' $n)"-*.patch)
	name="patch $n ($(git_t log -1 --format=%s "$c"))"
	if [[ -n ${KSMPART_PATCHES_ONLY:-} && " $KSMPART_PATCHES_ONLY " != *" $n "* ]]; then
		for _ in 1 2 3 4 5 6 7; do ok "$name # SKIP not in KSMPART_PATCHES_ONLY"; done
		continue
	fi
	git_t checkout -q --detach "$c"
	files=$(git_t diff --name-only --diff-filter=AM "$c~1" "$c")

	# "does MAINTAINERS need updating?" is answered by get_maintainer.pl: a
	# patch whose new files all have an M: in MAINTAINERS need not touch it.
	ignore=() inmaint=
	added=$(git_t diff --name-only --diff-filter=A "$c~1" "$c")
	if [[ -n $added ]] && ! git_t diff --quiet "$c~1" "$c" -- MAINTAINERS; then
		:
	elif [[ -n $added ]] && (cd "$tree" && for f in $added; do
		scripts/get_maintainer.pl --no-git --no-git-fallback --no-rolestats -f "$f" |
			grep -qv '@vger.kernel.org$\|@kvack.org$' || exit 1
	done); then
		ignore=(--ignore FILE_PATH_CHANGES)
		inmaint=" (its new files are in MAINTAINERS already)"
	fi
	# The tree is Debian's source snapshot, without upstream history: the
	# ids of Fixes: tags cannot be looked up in it.
	ignore+=(--ignore UNKNOWN_COMMIT_ID)
	if (cd "$tree" && scripts/checkpatch.pl --strict -q "${ignore[@]}" "$patch" >"$work/checkpatch.log" 2>&1); then
		ok "$name: checkpatch --strict$inmaint"
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

	# The partition selftests this patch adds.
	progs=$(git_t diff --name-only --diff-filter=A "$c~1" "$c" -- 'tools/testing/selftests/mm/ksm_part_*.c' |
		sed 's|.*/\(.*\)\.c$|\1|')
	# The first patch builds every configuration, as the base of the
	# incremental builds after it, whatever it changes.
	kernel=$( ((n == 1)) || grep -qvE '^(Documentation|tools)/' <<<"$files" && echo 1 || true)
	selftests=$(grep '^tools/testing/selftests/mm/' <<<"$files" || true)
	# A kernel patch after the system calls are wired and before the
	# selftests come (they follow all kernel patches) would boot with
	# callable partitions and no test of them: it runs the first two
	# selftest programs of the series, copied in for their build only.
	ahead=
	if [[ -n $kernel && -z $progs && ! -e $mm/ksm_part_abi.c ]] &&
		grep -qP '\tksm_open\t' "$tree/arch/x86/entry/syscalls/syscall_64.tbl"; then
		ahead="ksm_part_abi ksm_part_merge"
	fi
	for cfg in release no-partition allno; do
		what="builds ($cfg)"
		if [[ $nobuild == 1 ]]; then
			ok "$name: $what # SKIP KSMPART_PATCHES_NOBUILD=1"
		elif [[ -z $kernel ]]; then
			ok "$name: $what # SKIP no kernel change"
		else
			say "building $name ($cfg)"
			target=bzImage
			[[ $cfg == allno ]] && target=vmlinux
			if (build_config "$cfg" && kmake "kernel-$cfg" $target) >"$work/build.log" 2>&1; then
				ok "$name: $what"
				[[ $cfg == release ]] && built=$n
			else
				tail -40 "$work/build.log"
				fail "$name: $what"
				[[ $cfg == release ]] && built=
			fi
		fi
	done

	what="boots (release, 2 vCPUs): upstream KSM selftests${progs:+ and $(echo $progs)}${ahead:+ and, ahead of their patch, $ahead}"
	if [[ $noboot == 1 ]]; then
		ok "$name: boots # SKIP KSMPART_PATCHES_NOBOOT=1"
	elif [[ -z $kernel && -z $selftests ]]; then
		ok "$name: boots # SKIP neither the kernel nor an mm selftest changed"
	elif [[ -z ${built:-} ]]; then
		fail "$name: boots (no release kernel built for it)"
	elif ! build_ahead $ahead >"$work/build.log" 2>&1; then
		tail -40 "$work/build.log"
		fail "$name: builds its selftests"
	else
		progs="$progs $ahead"
		say "booting $name"
		log=$work/boot-$n.log
		rc=0
		"$top/tests/vm/run" --kernel "$work/kernel-release/arch/x86/boot/bzImage" --smp 2 \
			--timeout 2400 --share "$work" --log "$log" \
			-- "$top/kernel/scripts/series-guest.sh" "$work/selftests" $progs >"$work/boot-$n.out" 2>&1 || rc=$?
		grep '^# series-result' "$work/boot-$n.out" | sed "s/^# series-result/# patch $n:/"
		if ((rc == 0)); then
			ok "$name: $what (kernel of patch $built)"
		else
			grep '^not ok\|^# *not ok' "$work/boot-$n.out" | head -20
			fail "$name: $what: exit $rc (125: splat in $log), output $work/boot-$n.out"
		fi
	fi
done
git_t checkout -q --detach HEAD

echo "# series: $out ($(ls "$out" | wc -l) files, cover letter $(basename "$cover"))"
if ((fails)); then
	echo "# $fails check(s) failed"
	exit 1
fi
echo "# every patch: checkpatch --strict, kernel-doc, docutils, builds and boot clean"
