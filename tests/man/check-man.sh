#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Lint the manual pages in man/ and check that they cover the interfaces.
# Output is TAP; the exit status is non-zero if any test fails.
#
#  - every page renders with man(1) and with groff -ww without any warning,
#    its .TH names the file, and lexgrog(1) can parse its NAME section
#    (so whatis/apropos find it);
#  - every .so stub points at a page that exists;
#  - every function declared in libksmpart/include/ksmpart.h is named in
#    the NAME section of a man3 page and has a man3/<function>.3 file;
#  - every errno in docs/abi.md's ERRORS table of a system call is in the
#    ERRORS section of its man2 page, and that section names no other errno
#    (except ENOSYS, which docs/abi.md section 1 gives every call);
#  - every example program marked `.\" SRC BEGIN` ... `.\" SRC END`
#    compiles with -Wall -Wextra -Werror.
#
# Needs man-db (man, lexgrog), groff-base and a C compiler.
# Usage: tests/man/check-man.sh [MANDIR]   (default: man/ of this checkout)
set -uo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
mandir=${1:-$top/man}
header=${KSMPART_HEADER:-$top/libksmpart/include/ksmpart.h}
abi=${KSMPART_ABI:-$top/docs/abi.md}
cc=${CC:-cc}

# shellcheck source=tests/check/tap.sh
source "$top/tests/check/tap.sh"

missing=()
for tool in man groff lexgrog "$cc"; do
	command -v "$tool" >/dev/null || missing+=("$tool")
done
if ((${#missing[@]})); then
	echo "1..0 # SKIP missing ${missing[*]} (scripts/deps.sh: man-db groff-base build-essential)"
	# Not a pass: the pages were not checked.
	exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The man root is the working directory: .so requests are relative to it.
cd "$mandir" || { echo "1..0 # SKIP no directory $mandir"; exit 1; }
pages=()
for f in man[1-8]/*.[1-8]; do
	[[ -f $f ]] && pages+=("$f")
done

# A .so stub is a page whose only request is `.so target`.
so_target()
{
	awk 'NF && !/^\.\\"/ && !/^'"'"'\\"/ { if ($1 == ".so" && NF == 2) t = $2; else { t = ""; exit } }
	     END { print t }' "$1"
}

# Lines of section $2 (e.g. NAME) of page $1, without the .SH line.
section()
{
	awk -v want="$2" '/^\.SH / { sub(/^\.SH +"?/, ""); sub(/"$/, ""); on = ($0 == want); next }
	                  on' "$1"
}

# ---- pages: rendering, .TH, NAME
for p in "${pages[@]}"; do
	target=$(so_target "$p")
	if [[ -n $target ]]; then
		if [[ -f $target && -z $(so_target "$target") ]]; then
			ok "$p (.so $target)"
		else
			not_ok "$p: .so target $target is missing or is itself a stub"
		fi
		continue
	fi

	problems=""
	out=$(LC_ALL=C.UTF-8 MANROFFSEQ='' MANWIDTH=80 \
		man --warnings -E UTF-8 -l -Tutf8 -Z "$p" 2>&1 >/dev/null)
	[[ -z $out ]] || problems+="man: $out"$'\n'
	# -ww: all warnings, not only man's default set; -t: tables.
	out=$(LC_ALL=C.UTF-8 groff -t -k -man -ww -z "$p" 2>&1)
	[[ -z $out ]] || problems+="groff: $out"$'\n'

	# Text must fit the 80 columns it is rendered for (long .nf lines overflow).
	wide=$(LC_ALL=C.UTF-8 MANWIDTH=80 man -E UTF-8 -l "$p" 2>/dev/null |
		LC_ALL=C.UTF-8 grep -nE '^.{81,}')
	[[ -z $wide ]] || problems+="wider than 80 columns: $wide"$'\n'

	base=${p#*/}
	name=${base%.*}
	sec=${base##*.}
	read -r _ th_name th_sec _ < <(grep -m1 '^\.TH ' "$p")
	[[ $th_name == "$name" && $th_sec == "$sec" ]] ||
		problems+=".TH says '$th_name $th_sec', file is $p"$'\n'

	out=$(lexgrog "$p" 2>&1)
	[[ $out == *"parse failed"* || -z $out ]] && problems+="lexgrog: ${out:-no output}"$'\n'
	names=$(section "$p" NAME | tr '\n' ' ' | sed 's/ *\\- .*//; s/,/ /g')
	[[ " $names " == *" $name "* ]] || problems+="NAME section does not name $name"$'\n'

	if [[ -z $problems ]]; then
		ok "$p"
	else
		not_ok "$p: renders with warnings or malformed" "${problems%$'\n'}"
	fi
done

# ---- every C API function has a page
# Strip comments, then every remaining `ksmpart_xxx(` is a declaration.
funcs=$(awk '{
		line = $0; out = ""
		while (length(line)) {
			if (incomment) {
				i = index(line, "*/"); if (!i) { line = ""; break }
				line = substr(line, i + 2); incomment = 0
			} else {
				i = index(line, "/*"); if (!i) { out = out line; break }
				out = out substr(line, 1, i - 1); line = substr(line, i + 2); incomment = 1
			}
		}
		print out
	}' "$header" | grep -v '^[[:space:]]*#' |
	grep -oE '\bksmpart_[a-z0-9_]+[[:space:]]*\(' | sed 's/[[:space:](]//g' | sort -u)
if [[ -z $funcs ]]; then
	not_ok "functions of $header: none found"
fi
all_names=" "
for p in man3/*.3; do
	[[ -f $p && -z $(so_target "$p") ]] || continue
	all_names+="$(section "$p" NAME | tr '\n' ' ' | sed 's/ *\\- .*//; s/,/ /g') "
done
for f in $funcs; do
	if [[ $all_names != *" $f "* ]]; then
		not_ok "function $f: no man3 page names it in NAME"
	elif [[ ! -f man3/$f.3 ]]; then
		not_ok "function $f: named in a page, but no man3/$f.3 (page or .so stub)"
	else
		ok "function $f documented"
	fi
done

# ---- every errno of docs/abi.md is in the system call's ERRORS
# The ERRORS table rows of `## N. call` sections: `| EXXX | condition |`.
abi_errnos()
{
	awk -v call="$1" '/^## / { split($0, w, " "); on = (w[3] == call); next }
	                  on && /^\| *E[A-Z0-9]+ *\|/ { gsub(/[| ]/, "", $2); print $2 }' FS='|' "$abi" |
		sort -u
}
for call in ksm_open ksm_merge ksm_unmerge ksm_leave; do
	page=man2/$call.2
	want=$(abi_errnos "$call")
	if [[ -z $want ]]; then
		not_ok "$page: docs/abi.md has no ERRORS table for $call"
		continue
	fi
	if [[ ! -f $page ]]; then
		not_ok "$page: missing"
		continue
	fi
	# Errnos that head an entry: the line after .TP, e.g. `.B EINVAL`.
	have=$(section "$page" ERRORS | awk 'tp { print } { tp = ($1 == ".TP") }' |
		grep -oE '\bE[A-Z0-9]{3,}\b' | sort -u)
	lacking=$(comm -23 <(echo "$want") <(echo "$have") | tr '\n' ' ')
	extra=$(comm -13 <(echo "$want") <(echo "$have") | grep -vx ENOSYS | tr '\n' ' ')
	if [[ -z $lacking && -z $extra ]]; then
		ok "$page ERRORS match docs/abi.md ($(echo $want | wc -w) errnos)"
	else
		not_ok "$page ERRORS differ from docs/abi.md: missing [${lacking% }] not in abi.md [${extra% }]"
	fi
done

# ---- example programs compile
# Undo the troff escapes the examples use; \e last, through a placeholder.
unescape()
{
	sed -e 's/\\e/\x01/g' -e 's/\\-/-/g' -e "s/\\\\(aq/'/g" -e 's/\\(dq/"/g' \
		-e 's/\\(ti/~/g' -e 's/\\(ha/^/g' -e 's/\\&//g' -e 's/\\f[BIRP]//g' \
		-e 's/\x01/\\/g'
}
for p in "${pages[@]}"; do
	grep -q '^\.\\" SRC BEGIN' "$p" || continue
	src=$tmp/$(basename "$p").c
	awk '/^\.\\" SRC END/ { on = 0 } on && !/^\.(EX|EE|in)/ { print } /^\.\\" SRC BEGIN/ { on = 1 }' \
		"$p" | unescape >"$src"
	# Section 3 examples need the library to link: syntax only.
	mode=-c
	[[ $p == man3/* ]] && mode=-fsyntax-only
	if out=$("$cc" -std=gnu11 -Wall -Wextra -Werror $mode -o "$tmp/a.o" \
		-I"$top/uapi" -I"$top/libksmpart/include" "$src" 2>&1); then
		ok "$p example compiles"
	else
		not_ok "$p example does not compile" "$out"
	fi
done

echo "1..$n"
((failed == 0))
