#!/usr/bin/env bash
# Description: `cmake --install` of the build tree into a scratch DESTDIR
# puts every file where docs/install.md says; the systemd unit names the
# installed binary and configuration; the relocatable .pc files work from
# the DESTDIR; the docs' link recipes (shared, our code static, all static)
# build the examples and a key/value program against the staged tree and
# they run; the installed tools run; and uninstall (cmake/uninstall.cmake,
# what `make uninstall` runs) leaves no file behind.
# Usage: install.sh SOURCE_DIR BUILD_DIR. Exit 0 pass, 1 fail, 77 skip.
set -uo pipefail
src=$(cd "$1" && pwd) build=$(cd "$2" && pwd)
cache() { sed -n "s/^$1:[A-Z]*=//p" "$build/CMakeCache.txt"; }
prefix=$(cache CMAKE_INSTALL_PREFIX)
libdir=$(cache CMAKE_INSTALL_LIBDIR)
case $libdir in /*) ;; *) libdir=$prefix/$libdir ;; esac
case $prefix in /usr) etc=/etc ;; *) etc=$prefix/etc ;; esac
cc=${CC:-cc}
command -v pkg-config >/dev/null || { echo "SKIP: no pkg-config"; exit 77; }

fail=0
bad() { echo "FAIL: $*"; fail=1; }
stage=$(mktemp -d)
manifest=$build/install_manifest.txt
# A real `make install` before this test keeps its manifest.
[ -f "$manifest" ] && cp "$manifest" "$stage.manifest"
cleanup() {
	rm -rf "$stage"
	if [ -f "$stage.manifest" ]; then mv "$stage.manifest" "$manifest"; else rm -f "$manifest"; fi
}
trap cleanup EXIT
root=$stage$prefix
lib=$stage$libdir

DESTDIR=$stage cmake --install "$build" >"$stage.log" 2>&1 || { cat "$stage.log"; rm -f "$stage.log"; exit 1; }
rm -f "$stage.log"
echo "installed $(find "$stage" -type f | wc -l) files, $(find "$stage" -type l | wc -l) symlinks under DESTDIR"
unit=$(grep '/cxlflashd\.service$' "$manifest")
unitdir=$(cache CXLFLASH_SYSTEMD_UNITDIR)
[ -n "$unitdir" ] || unitdir=$prefix/lib/systemd/system
[ "$unit" = "$unitdir/cxlflashd.service" ] || bad "the unit went to '$unit', not $unitdir"

# 1. The files.
want=(
	"$root/sbin/cxlflashd"
	"$root/bin/cxlflash" "$root/bin/blockio" "$root/bin/blocklistio"
	"$root/bin/run_kv_sync" "$root/bin/run_kv_async" "$root/bin/arkdb-check"
	"$lib/libcxlflash.so.0" "$lib/libcflsh_block.so.0" "$lib/libarkdb.so.0"
	"$lib/libcxlflash.so" "$lib/libcflsh_block.so" "$lib/libarkdb.so"
	"$lib/libcxlflash.a" "$lib/libcflsh_block.a" "$lib/libarkdb.a"
	"$lib/pkgconfig/cxlflash.pc" "$lib/pkgconfig/cflsh_block.pc" "$lib/pkgconfig/arkdb.pc"
	"$root/include/capiblock.h" "$root/include/arkdb.h"
	"$root/include/cxlflash/cxlflash_ioctl.h" "$root/include/cxlflash/sislite.h"
	"$stage$unit"
	"$stage$etc/cxlflash/cxlflashd.conf"
	"$root/share/doc/cxlflash/README.md" "$root/share/doc/cxlflash/install.md"
	"$root/share/doc/cxlflash/examples/cxlflashd.conf"
)
if grep -q '^SCDOC:FILEPATH=/' "$build/CMakeCache.txt"; then
	want+=("$root/share/man/man8/cxlflashd.8" "$root/share/man/man8/cxlflash.8"
		"$root/share/man/man1/blockio.1" "$root/share/man/man1/blocklistio.1"
		"$root/share/man/man5/cxlflashd.conf.5" "$root/share/man/man3/cxlflash_open.3"
		"$root/share/man/man3/cxlflash_ioctl.3" "$root/share/man/man3/cblk_open.3"
		"$root/share/man/man3/cblk_write.3" "$root/share/man/man3/ark_create.3"
		"$root/share/man/man1/run_kv_async.1")
	grep -qx '.so man3/cblk_read.3' "$root/share/man/man3/cblk_write.3" ||
		bad "cblk_write.3 does not source cblk_read.3"
else
	echo "(scdoc not found at configure time: man pages not checked)"
fi
for f in "${want[@]}"; do [ -e "$f" ] || bad "missing: ${f#"$stage"}"; done

# 2. The unit runs the installed daemon on the installed configuration.
unit=$stage$unit
exec_line=$(sed -n 's/^ExecStart=//p' "$unit")
set -- $exec_line
[ "$1" = "$prefix/sbin/cxlflashd" ] || bad "unit ExecStart runs $1, not $prefix/sbin/cxlflashd"
[ "$2 $3" = "--config $etc/cxlflash/cxlflashd.conf" ] || bad "unit ExecStart: '$exec_line'"
for d in StateDirectory=cxlflash RuntimeDirectory=cxlflash; do
	grep -qx "$d" "$unit" || bad "unit lacks $d"
done
"$stage$1" --help >/dev/null || bad "installed cxlflashd --help failed"

# 3. pkg-config from the DESTDIR, and the docs' link recipes.
export PKG_CONFIG_PATH=$lib/pkgconfig
for pc in cxlflash cflsh_block arkdb; do
	got=$(pkg-config --variable=includedir $pc)
	[ "$(cd "$got" 2>/dev/null && pwd)" = "$root/include" ] || bad "$pc.pc: includedir '$got'"
done
cat >"$stage/kv.c" <<'PROG'
#include <arkdb.h>
#include <stdio.h>
#include <string.h>
int main(void)
{
	ARK *ark;
	int64_t res;
	char v[8];
	if (ark_create(NULL, &ark, 0) || ark_set(ark, 3, "key", 5, "value", &res) ||
	    ark_get(ark, 3, "key", sizeof(v), v, 0, &res) || res != 5 || memcmp(v, "value", 5))
		return 1;
	ark_delete(ark);
	puts("kv ok");
	return 0;
}
PROG
ex=$src/examples
build_run() { # NAME RUN-ARGS... -- CC-ARGS...
	local name=$1 args=() ; shift
	while [ "$1" != -- ]; do args+=("$1"); shift; done
	shift
	if ! $cc -o "$stage/$name" "$@" 2>"$stage/cc.err"; then
		bad "link $name: $cc $* : $(head -5 "$stage/cc.err")"
		return
	fi
	LD_LIBRARY_PATH=$lib timeout 60 "$stage/$name" "${args[@]}" >"$stage/out" 2>&1 ||
		bad "$name did not run: $(tail -3 "$stage/out")"
	echo "linked and ran: $name"
}
cblk_cflags=$(pkg-config --cflags cflsh_block)
build_run cblk_shared -- "$ex/cblk_example.c" $(pkg-config --cflags --libs cflsh_block)
build_run cblk_static_ours -- "$ex/cblk_example.c" $cblk_cflags -L"$lib" -l:libcflsh_block.a -luring -lpthread
if ldd "$stage/cblk_static_ours" 2>/dev/null | grep -q libcflsh_block; then
	bad "cblk_static_ours still needs libcflsh_block.so"
fi
build_run cblk_static_all -- -static "$ex/cblk_example.c" $(pkg-config --cflags --libs --static cflsh_block)
build_run hello_shared ram:1G -- "$ex/superpipe_hello.c" $(pkg-config --cflags --libs cxlflash)
build_run hello_static ram:1G -- "$ex/superpipe_hello.c" $(pkg-config --cflags cxlflash) \
	-L"$lib" -l:libcxlflash.a -luring -lpthread
# libarkdb.so needs libcflsh_block.so.0, which the linker looks for in the
# system's directories only: a staged tree needs -rpath-link (an installed
# one does not).
build_run kv_shared -- "$stage/kv.c" $(pkg-config --cflags --libs arkdb) -Wl,-rpath-link,"$lib"
build_run kv_static_all -- -static "$stage/kv.c" $(pkg-config --cflags --libs --static arkdb)

# 4. The installed tools run.
CXLFLASH_SOCKET=none timeout 60 "$root/bin/blockio" -d ram:1G -p -q 8 -s 1 >"$stage/out" 2>&1 &&
	grep -q 'iops:' "$stage/out" || bad "installed blockio: $(tail -2 "$stage/out")"
for t in cxlflash blocklistio run_kv_sync run_kv_async arkdb-check; do
	"$root/bin/$t" --help >/dev/null 2>&1 || bad "installed $t --help failed"
done

# 5. Uninstall leaves nothing (the directories of other projects may stay).
rm -f "$stage"/{kv.c,out,cc.err} "$stage"/cblk_* "$stage"/hello_* "$stage"/kv_*
DESTDIR=$stage cmake -DMANIFEST="$manifest" -DCONF_EXAMPLE="$src/contrib/cxlflashd.conf" \
	-P "$src/cmake/uninstall.cmake" >/dev/null || bad "uninstall failed"
left=$(find "$stage" ! -type d)
[ -z "$left" ] || bad "left after uninstall: $left"
[ -d "$root/include/cxlflash" ] && bad "include/cxlflash left after uninstall"
[ -d "$root/share/doc/cxlflash" ] && bad "share/doc/cxlflash left after uninstall"

[ $fail = 0 ] && echo "install: ok"
exit $fail
