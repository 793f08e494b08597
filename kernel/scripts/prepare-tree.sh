#!/usr/bin/env bash
# Leave build/linux as a git tree: the pinned Debian source as the commit
# tagged ksmpart-base, our series from kernel/patches/ applied on top as
# commits, and our new files (kernel/<path>, uapi/<path>) linked into place.
#
# Re-running is cheap: the tree is only reset and re-patched when the series
# changed, and only re-extracted when the source version changed. A tree with
# commits or edits that were not exported (make export-patches) is never
# thrown away unless KSMPART_FORCE_TREE=1.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${KSMPART_BUILD:-$top/build}
tree=$build/linux
patches=$top/kernel/patches
stamp=$tree/.git/ksmpart-applied

die() { echo "prepare-tree: $*" >&2; exit 1; }
git_tree() { git -C "$tree" "$@"; }

extract() {
	echo "prepare-tree: extracting linux-source $version into $tree" >&2
	rm -rf "$tree" "$build/linux-source-6.12"
	mkdir -p "$build"
	tar -C "$build" -xf /usr/src/linux-source-6.12.tar.xz
	mv "$build/linux-source-6.12" "$tree"
	# Debian's top-level .gitignore ignores the whole tree (it is meant for
	# Debian's packaging repository); drop that stanza so git sees the source.
	sed -i -e '/^# Debian packaging: ignore everything/,/^!\/debian\/$/d' "$tree/.gitignore"
	git init -q "$tree"
	# A repack of the 1.7 GB base would cost minutes of CPU for nothing.
	git_tree config gc.auto 0
	git_tree add -A
	git_tree -c user.name=ksmpart -c user.email=ksmpart@localhost \
		commit -q -m "Debian $LINUX_SOURCE_PACKAGE $version" \
		-m "Pristine source from /usr/src/linux-source-6.12.tar.xz, with the
top-level ignore-everything stanza of Debian's .gitignore removed."
	git_tree tag -f ksmpart-base >/dev/null
}

apply_series() {
	git_tree reset -q --hard ksmpart-base
	[[ -f $patches/series ]] || return 0
	local p
	while read -r p; do
		[[ -z $p || $p == \#* ]] && continue
		[[ -f $patches/$p ]] || die "series names $p, which is not in kernel/patches/"
		if ! git_tree -c user.name="${GIT_COMMITTER_NAME:-ksmpart}" \
			-c user.email="${GIT_COMMITTER_EMAIL:-ksmpart@localhost}" \
			am -q --keep-cr "$patches/$p"; then
			git_tree am --abort || true
			die "patch $p does not apply"
		fi
	done <"$patches/series"
}

# Link every new file of ours into the tree, so that editing either copy edits
# the one in the project. kernel/<path> goes to <path>, uapi/<path> to
# include/uapi/<path>.
link_overlay() {
	local exclude=$tree/.git/info/exclude src rel dst
	mkdir -p "$(dirname "$exclude")"
	echo "# ksmpart overlay: links to files kept in the project" >"$exclude"
	# Links left by an earlier run whose target has gone.
	find "$tree" -path "$tree/.git" -prune -o -xtype l \( -lname '*../kernel/*' -o -lname '*../uapi/*' \) \
		-print0 | xargs -0 -r rm -f
	while IFS= read -r src; do
		rel=${src#"$top"/}
		case $rel in
		kernel/*) dst=${rel#kernel/} ;;
		uapi/*) dst=include/uapi/${rel#uapi/} ;;
		esac
		mkdir -p "$tree/$(dirname "$dst")"
		ln -sfr "$src" "$tree/$dst"
		echo "/$dst" >>"$exclude"
	done < <(find "$top/kernel" "$top/uapi" -type f \
		-not -path "$top/kernel/configs/*" -not -path "$top/kernel/patches/*" \
		-not -path "$top/kernel/scripts/*" -not -name linux-source.conf \
		-not -name 'README*' -not -name '.*' | sort)
}

. "$top/kernel/linux-source.conf"
version=$("$top/kernel/scripts/fetch-source.sh")
want=$("$top/kernel/scripts/series-hash.sh" "$version")

if [[ -f $stamp ]] && git_tree rev-parse -q --verify ksmpart-base >/dev/null &&
	[[ $(sed -n 1p "$stamp") == "$version" ]]; then
	if [[ $(sed -n 2p "$stamp") != "$want" ]]; then
		if [[ ${KSMPART_FORCE_TREE:-0} != 1 ]] &&
			{ [[ $(git_tree rev-parse HEAD) != $(sed -n 3p "$stamp") ]] ||
				! git_tree diff --quiet HEAD; }; then
			die "build/linux has commits or edits that are not in kernel/patches/
  and the series changed. Run 'make export-patches' to keep them, or
  KSMPART_FORCE_TREE=1 to throw them away."
		fi
		echo "prepare-tree: series changed, re-applying kernel/patches/" >&2
		apply_series
	fi
else
	extract
	apply_series
fi
printf '%s\n%s\n%s\n' "$version" "$want" "$(git_tree rev-parse HEAD)" >"$stamp"
link_overlay
