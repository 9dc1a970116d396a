#!/usr/bin/env bash
# Description: the man pages (man/*.scd) render without warnings and match
# the code: every option a tool's --help prints is in its page and every
# option its page lists is in --help; every cxlflashd.conf directive the
# parser knows is in cxlflashd.conf(5) and no other; every public call of
# the installed headers is on the NAME line of a section-3 page; every
# DK_CXLFLASH request is in cxlflash_ioctl(3).
# Usage: manpages.sh SOURCE_DIR BUILD_DIR. Exit 0 pass, 1 fail, 77 skip.
set -uo pipefail
src=$1 build=$2
command -v scdoc >/dev/null || { echo "SKIP: scdoc not installed (scripts/install-deps.sh)"; exit 77; }
command -v man >/dev/null || { echo "SKIP: man not installed (scripts/install-deps.sh)"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
bad() { echo "FAIL: $*"; fail=1; }

# 1. Each page converts and renders without a warning.
n=0
for scd in "$src"/man/*.scd; do
	page=$(basename "$scd" .scd)
	n=$((n + 1))
	if ! scdoc <"$scd" >"$tmp/$page" 2>"$tmp/err"; then
		bad "$page: scdoc: $(cat "$tmp/err")"
		continue
	fi
	MANWIDTH=80 man --warnings=all -l "$tmp/$page" >/dev/null 2>"$tmp/err" </dev/null
	[ -s "$tmp/err" ] && bad "$page: man warns: $(head -3 "$tmp/err")"
done
echo "$n pages rendered"

# Option tokens (-x, --long-name) of a text, one per line, sorted.
opts() {
	sed 's/[*\\]//g' | grep -oE '(^|[][ ,(|])--?[A-Za-z][A-Za-z0-9-]*' |
		sed -E 's/^[][ ,(|]//' | sort -u
}

# 2. Tools: the options of --help (one or several texts) against the page.
check_tool() { # PAGE HELP-FILE
	local page=$1 help=$2 o
	opts <"$help" >"$tmp/h"
	sed '/^```/,/^```/d' "$src/man/$page.scd" | opts >"$tmp/m"   # not the examples
	for o in $(comm -23 "$tmp/h" "$tmp/m"); do bad "$page: $o is in --help, not in the page"; done
	for o in $(comm -13 "$tmp/h" "$tmp/m"); do bad "$page: $o is in the page, not in --help"; done
	echo "$page: $(wc -l <"$tmp/h") options checked against --help"
}
tools=$build/tools
help() { "$tools/$1" "${@:2}" 2>&1; }
help cxlflashd --help >"$tmp/help"
check_tool cxlflashd.8 "$tmp/help"
for t in blockio blocklistio arkdb-check; do
	help "$t" --help >"$tmp/help"
	check_tool "$t.1" "$tmp/help"
done
{ help run_kv_sync --help; help run_kv_async --help; } >"$tmp/help"
check_tool run_kv_sync.1 "$tmp/help"
{
	help cxlflash --help
	for sub in status "vlun" "lun" nbd powercut; do help cxlflash $sub --help; done
} >"$tmp/help"
check_tool cxlflash.8 "$tmp/help"
# Every subcommand cxlflash --help lists has its section in cxlflash(8).
for sub in $(help cxlflash --help | sed -n 's/^  \([a-z]\+\) .*/\1/p'); do
	grep -q "^\*$sub" "$src/man/cxlflash.8.scd" || bad "cxlflash.8: subcommand $sub missing"
done

# 3. cxlflashd.conf(5): the directives and LUN keys the parser compares.
conf=$src/src/daemon/config.c
{
	grep -oE 'strcmp\(w\[0\], "[a-z-]+"\)' "$conf"
	grep -oE 'strcmp\(key, "[a-z-]+"\)' "$conf"
} | sed -E 's/.*"([a-z-]+)".*/\1/' | sort -u >"$tmp/parsed"
sed -n '/^# DIRECTIVES/,/^# EXAMPLE/p' "$src/man/cxlflashd.conf.5.scd" |
	grep -oE '^\*[a-z][a-z-]*\*|\*[a-z][a-z-]*=\*' | tr -d '*=' | sort -u >"$tmp/documented"
for d in $(comm -23 "$tmp/parsed" "$tmp/documented"); do bad "cxlflashd.conf.5: '$d' is parsed, not documented"; done
for d in $(comm -13 "$tmp/parsed" "$tmp/documented"); do bad "cxlflashd.conf.5: '$d' is documented, not parsed"; done
echo "cxlflashd.conf.5: $(wc -l <"$tmp/parsed") directives and keys checked against config.c"

# 4. Section 3: every public call is on a page's NAME line.
for scd in "$src"/man/*.3.scd; do
	sed -n '/^# NAME/{n;n;p}' "$scd" | sed 's/ - .*//; s/\\//g' | tr ',' '\n'
done | tr -d ' ' | sort -u >"$tmp/named"
grep -hoE '^[a-zA-Z_][a-zA-Z0-9_ \*]*[ \*](cxlflash|cblk|ark)_[a-zA-Z0-9_]+\(' \
	"$src"/include/cxlflash/cxlflash_ioctl.h "$src"/include/cxlflash/capiblock.h \
	"$src"/include/cxlflash/arkdb.h | grep -oE '(cxlflash|cblk|ark)_[a-zA-Z0-9_]+\($' |
	tr -d '(' | sort -u >"$tmp/calls"
for c in $(comm -23 "$tmp/calls" "$tmp/named"); do bad "no section-3 page names $c"; done
for c in $(comm -13 "$tmp/calls" "$tmp/named"); do bad "a page names $c, which no header declares"; done
echo "section 3: $(wc -l <"$tmp/calls") calls, each on a page"

# 5. cxlflash_ioctl(3): every DK request.
for r in $(grep -oE '^#define DK_CXLFLASH_[A-Z_]+ +CXL_IOWR' "$src/include/cxlflash/cxlflash_ioctl.h" |
	awk '{print $2}'); do
	grep -q "^\*$r\*" "$src/man/cxlflash_ioctl.3.scd" || bad "cxlflash_ioctl.3: $r has no entry"
done

[ $fail = 0 ] && echo "man pages: ok"
exit $fail
