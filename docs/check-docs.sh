#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Check the documentation. Output is TAP; the exit status is non-zero if any
# test fails, and any warning is a failure.
#
#  - every reST file under docs/ builds to HTML with plain docutils at
#    --halt=warning: the admin guide goes into the kernel's Sphinx tree, so
#    it must not use Sphinx- or kernel-only roles and directives (:ref:,
#    :c:func:, kernel-doc, code-block), which docutils rejects; it starts
#    with an SPDX line;
#  - C examples in reST literal blocks (those starting with #include)
#    compile with -Wall -Wextra -Werror against uapi/;
#  - the admin guide names every sysfs file the kernel creates per partition;
#  - relative links and images in README.md and docs/**/*.md point at files
#    inside the repository, and #anchors into Markdown files exist;
#  - every SVG under docs/ is well-formed SVG 1.1 XML and renders with
#    rsvg-convert without a message;
#  - no trailing whitespace in the files above;
#  - the man pages pass tests/man/check-man.sh.
#
# Needs python3 with docutils (python3-docutils), rsvg-convert (librsvg2-bin),
# a C compiler, and what tests/man/check-man.sh needs.
# Usage: docs/check-docs.sh
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cc=${CC:-cc}
# shellcheck source=tests/check/tap.sh
source "$top/tests/check/tap.sh"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$top"

# A python3 with docutils: the one on PATH, else Debian's.
py=""
for cand in python3 /usr/bin/python3; do
	if command -v "$cand" >/dev/null && "$cand" -c 'import docutils' 2>/dev/null; then
		py=$cand
		break
	fi
done

mapfile -t rst_files < <(find docs -name '*.rst' | sort)
mapfile -t md_files < <({ echo README.md; find docs -name '*.md'; } | sort -u)
mapfile -t svg_files < <(find docs -name '*.svg' | sort)

# ---- reST: docutils without warnings, SPDX line
for f in "${rst_files[@]}"; do
	if [[ -z $py ]]; then
		not_ok "$f: no python3 with docutils (scripts/deps.sh docs: python3-docutils)"
		continue
	fi
	problems=""
	if ! out=$("$py" -m docutils --halt=warning --report=warning \
		--no-datestamp "$f" "$tmp/out.html" 2>&1) || [[ -n $out ]]; then
		problems+="docutils: ${out:-failed without a message}"$'\n'
	fi
	[[ $(head -n1 "$f") == ".. SPDX-License-Identifier: "* ]] ||
		problems+="first line is not '.. SPDX-License-Identifier: ...'"$'\n'
	if [[ -z $problems ]]; then
		ok "$f builds with docutils without warnings"
	else
		not_ok "$f" "${problems%$'\n'}"
	fi
done

# ---- C examples in reST literal blocks
for f in "${rst_files[@]}"; do
	# A literal block: the indented lines after a line ending in "::".
	# One that has an #include line is a C example.
	awk -v out="$tmp/ex" '
		function flush() {
			if (buf ~ /(^|\n)#include /) { k++; printf "%s", buf > (out k ".c") }
			buf = ""; inblock = 0
		}
		/::[[:space:]]*$/ { flush(); inblock = 1; next }
		inblock && /^[[:space:]]*$/ { buf = buf "\n"; next }
		inblock && /^    / { line = $0; sub(/^    /, "", line); buf = buf line "\n"; next }
		{ flush() }
		END { flush() }' "$f"
	for src in "$tmp"/ex*.c; do
		[[ -e $src ]] || continue
		if out=$("$cc" -std=gnu11 -Wall -Wextra -Werror -fsyntax-only \
			-I"$top/uapi" "$src" 2>&1); then
			ok "$f: C example $(basename "$src" .c | tr -dc 0-9) compiles"
		else
			not_ok "$f: C example $(basename "$src" .c | tr -dc 0-9) does not compile" "$out"
		fi
		rm -f "$src"
	done
done

# ---- the admin guide names every file and column the kernel shows root
# The files of /sys/kernel/mm/ksm/partitions/ (enabled, and the sums declared
# with KSM_TOTAL_ATTR) and the columns of /proc/ksm_partitions (its header
# line in ksm_partitions_show()) must be named where the guide describes the
# statistics.
guide=docs/admin-guide/ksm_partition.rst
kfile=kernel/mm/ksm_partition.c
if [[ -f $guide && -f $kfile ]]; then
	mapfile -t names < <({
		grep -oP '^KSM_TOTAL_ATTR\(\K[a-z][a-z_]*' "$kfile"
		grep -oP '__ATTR_RW\(\K[a-z][a-z_]*' "$kfile"
		grep -oP 'seq_puts\(m, "\Kid uid gid[a-z_ ]*' "$kfile" | tr ' ' '\n'
	} | sort -u)
	# Where the guide describes the statistics and root's views.
	section=$(awk '/^Partition statistics$/ { on = 1 } /^fdinfo$/ { on = 0 } on' "$guide")
	missing=()
	for a in "${names[@]}"; do
		grep -qw -- "$a" <<<"$section" || missing+=("$a")
	done
	if ((${#names[@]} < 10)); then
		not_ok "$guide: the sysfs files and /proc/ksm_partitions columns of $kfile were not found"
	elif ((${#missing[@]} == 0)); then
		ok "$guide names all ${#names[@]} sysfs files and /proc/ksm_partitions columns of $kfile"
	else
		not_ok "$guide does not name: ${missing[*]}"
	fi
fi

# ---- Markdown: relative links and anchors
if [[ -z $py ]]; then
	not_ok "Markdown links: no python3"
else
	while IFS=$'\t' read -r verdict file detail; do
		if [[ $verdict == ok ]]; then
			ok "$file: $detail"
		else
			not_ok "$file: broken links" "${detail//$'\x1f'/$'\n'}"
		fi
	done < <("$py" - "$top" "${md_files[@]}" <<'EOF'
import os, re, sys

top = os.path.realpath(sys.argv[1])

def slug(heading):
    # GitHub's anchors: links reduced to their text, lower case, punctuation
    # other than '-' and '_' dropped, spaces to '-'.
    heading = re.sub(r'\[([^\]]*)\]\([^)]*\)', r'\1', heading)
    heading = re.sub(r'[^\w\- ]', '', heading.strip().lower())
    return heading.replace(' ', '-')

def anchors(path):
    seen, out, fence = {}, set(), False
    for line in open(path, encoding='utf-8'):
        if line.lstrip().startswith('```'):
            fence = not fence
        m = None if fence else re.match(r'#{1,6}\s+(.*?)\s*#*\s*$', line)
        if m:
            s = slug(m.group(1))
            k = seen.get(s, 0)
            seen[s] = k + 1
            out.add(s if k == 0 else '%s-%d' % (s, k))
    return out

def links(path):
    fence = False
    for no, line in enumerate(open(path, encoding='utf-8'), 1):
        if line.lstrip().startswith('```'):
            fence = not fence
            continue
        if fence:
            continue
        line = re.sub(r'`[^`]*`', '', line)
        for m in re.finditer(r'!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)', line):
            yield no, m.group(1)
        m = re.match(r'\s*\[[^\]]+\]:\s*<?(\S+?)>?(\s|$)', line)
        if m:
            yield no, m.group(1)

for md in sys.argv[2:]:
    path = os.path.join(top, md)
    bad, count = [], 0
    for no, target in links(path):
        if re.match(r'[a-z][a-z0-9+.-]*:', target, re.I):
            continue            # http:, https:, mailto: ...
        count += 1
        ref, _, frag = target.partition('#')
        dest = os.path.realpath(os.path.join(os.path.dirname(path), ref)) if ref else path
        if dest != top and not dest.startswith(top + os.sep):
            bad.append('%s:%d: %s is outside the repository' % (md, no, target))
        elif not os.path.exists(dest):
            bad.append('%s:%d: %s does not exist' % (md, no, target))
        elif frag and dest.endswith('.md') and frag not in anchors(dest):
            bad.append('%s:%d: no heading for #%s in %s' % (md, no, frag, os.path.relpath(dest, top)))
    if bad:
        print('not ok\t%s\t%s' % (md, '\x1f'.join(bad)))
    else:
        print('ok\t%s\t%d relative links resolve' % (md, count))
EOF
	)
fi

# ---- SVG: well-formed SVG 1.1, renders without a message
for f in "${svg_files[@]}"; do
	problems=""
	if [[ -z $py ]]; then
		problems+="no python3"$'\n'
	elif ! out=$("$py" - "$f" 2>&1 <<'EOF'
import sys, xml.dom.minidom, xml.parsers.expat
try:
    root = xml.dom.minidom.parse(sys.argv[1]).documentElement
except xml.parsers.expat.ExpatError as e:
    sys.exit('not well-formed: %s' % e)
if root.tagName != 'svg' or root.getAttribute('xmlns') != 'http://www.w3.org/2000/svg':
    sys.exit('root is not an <svg> in the SVG namespace')
if root.getAttribute('version') != '1.1':
    sys.exit('version is not 1.1')
EOF
	); then
		problems+="XML: $out"$'\n'
	fi
	if ! command -v rsvg-convert >/dev/null; then
		problems+="rsvg-convert missing (scripts/deps.sh docs: librsvg2-bin)"$'\n'
	elif ! out=$(rsvg-convert -o "$tmp/out.png" "$f" 2>&1) || [[ -n $out ]]; then
		problems+="rsvg-convert: ${out:-failed}"$'\n'
	fi
	if [[ -z $problems ]]; then
		ok "$f is well-formed SVG 1.1 and renders"
	else
		not_ok "$f" "${problems%$'\n'}"
	fi
done

# ---- trailing whitespace
files=("${rst_files[@]}" "${md_files[@]}" "${svg_files[@]}" docs/check-docs.sh)
if out=$(grep -nE '[[:space:]]+$' "${files[@]}"); then
	not_ok "trailing whitespace" "$out"
else
	ok "no trailing whitespace in ${#files[@]} files"
fi

# ---- man pages: tests/man/check-man.sh does the work
if out=$(bash tests/man/check-man.sh 2>&1); then
	ok "man pages: tests/man/check-man.sh ($(grep -c '^ok ' <<<"$out") passed)"
else
	not_ok "man pages: tests/man/check-man.sh failed" \
		"$(grep -vE '^ok ' <<<"$out")"
fi

echo "1..$n"
((failed == 0))
