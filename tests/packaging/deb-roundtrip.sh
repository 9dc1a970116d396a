#!/usr/bin/env bash
# Description: the .debs of `make deb` install on this machine, work, and
# purge cleanly. Installs them with dpkg; checks the man pages, pkg-config
# and a program built against the system's headers and libraries; starts
# cxlflashd exactly as the unit's ExecStart line says (with the shipped
# /etc/cxlflash/cxlflashd.conf, after creating the unit's RuntimeDirectory
# and StateDirectory as systemd would); runs blockio on the configuration's
# LUNs (a virtual LUN of the RAM LUN, the file LUN physically) and
# `cxlflash status` through it; stops it with the unit's KillSignal; purges
# the packages and checks that nothing is left.
# Needs root and a machine where the packages are not installed; changes
# the system while it runs (/usr, /etc/cxlflash, /run/cxlflash,
# /var/lib/cxlflash). Run by `make test-deb`, not by `make test`.
# Usage: deb-roundtrip.sh DEB_DIR. Exit 0 pass, 1 fail, 77 skip.
set -uo pipefail
dir=$(cd "${1:-build/deb}" && pwd)
pkgs=(libcxlflash0 libcflsh-block0 libarkdb0 libcxlflash-dev cxlflash)
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (dpkg -i)"; exit 77; }
command -v dpkg >/dev/null || { echo "SKIP: no dpkg"; exit 77; }
debs=()
for p in "${pkgs[@]}"; do
	f=$(ls "$dir/${p}"_*.deb 2>/dev/null | head -1)
	[ -n "$f" ] || { echo "FAIL: no ${p}_*.deb in $dir (make deb)"; exit 1; }
	debs+=("$f")
	if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q installed; then
		echo "SKIP: $p is installed on this machine already; not touching it"
		exit 77
	fi
done
for d in /etc/cxlflash /run/cxlflash /var/lib/cxlflash; do
	[ -e "$d" ] && { echo "SKIP: $d exists already; not touching it"; exit 77; }
done
unset CXLFLASH_SOCKET
tmp=$(mktemp -d)
daemon=""
fail=0
bad() { echo "FAIL: $*"; fail=1; }
cleanup() {
	[ -n "$daemon" ] && kill -9 "$daemon" 2>/dev/null
	dpkg --purge "${pkgs[@]}" >/dev/null 2>&1
	rm -rf /run/cxlflash /var/lib/cxlflash "$tmp"
}
trap cleanup EXIT

# 1. Install.
dpkg -i "${debs[@]}" >"$tmp/dpkg.log" 2>&1 || { cat "$tmp/dpkg.log"; bad "dpkg -i failed"; exit 1; }
echo "installed: ${pkgs[*]}"
for f in /usr/sbin/cxlflashd /usr/bin/blockio /usr/bin/cxlflash /etc/cxlflash/cxlflashd.conf \
	/lib/systemd/system/cxlflashd.service; do
	[ -e "$f" ] || bad "missing $f"
done
for page in cxlflashd.8 cxlflash.8 cxlflashd.conf.5 blockio.1 cblk_open.3 cblk_write.3 ark_get.3; do
	man -w "${page##*.}" "${page%.*}" >/dev/null 2>&1 || bad "man page ${page} not found"
	man "${page##*.}" "${page%.*}" 2>/dev/null | grep -q NAME || bad "man ${page} does not render"
done
[ "$(pkg-config --modversion cflsh_block 2>/dev/null)" = "$(dpkg-query -W -f='${Version}' cxlflash)" ] ||
	bad "pkg-config cflsh_block: '$(pkg-config --modversion cflsh_block 2>&1)'"
src=$(cd "$(dirname "$0")/../.." && pwd)
if cc -o "$tmp/cblk" "$src/examples/cblk_example.c" $(pkg-config --cflags --libs cflsh_block) \
	2>"$tmp/cc.err"; then
	CXLFLASH_SOCKET=none "$tmp/cblk" >"$tmp/out" 2>&1 || bad "cblk_example against the system library: $(tail -2 "$tmp/out")"
	ldd "$tmp/cblk" | grep -qE 'libcflsh_block.so.0 => (/usr)?/lib/' ||
		bad "cblk_example does not use the system's libcflsh_block.so.0: $(ldd "$tmp/cblk")"
else
	bad "cc cblk_example.c \$(pkg-config --cflags --libs cflsh_block): $(head -3 "$tmp/cc.err")"
fi

# 2. The daemon from the unit's ExecStart line.
unit=/lib/systemd/system/cxlflashd.service
cmdline=$(sed -n 's/^ExecStart=//p' "$unit")
echo "ExecStart: $cmdline"
for key in RuntimeDirectory StateDirectory; do
	d=$(sed -n "s/^$key=//p" "$unit")
	[ -n "$d" ] || { bad "the unit has no $key="; continue; }
	case $key in RuntimeDirectory) mkdir -p "/run/$d" ;; StateDirectory) mkdir -p "/var/lib/$d" ;; esac
done
# shellcheck disable=SC2086  # ExecStart is split into words as systemd does
setsid $cmdline >"$tmp/daemon.out" 2>"$tmp/daemon.err" </dev/null &
daemon=$!
for _ in $(seq 100); do
	grep -q 'cxlflashd: ready' "$tmp/daemon.out" && break
	kill -0 "$daemon" 2>/dev/null || break
	sleep 0.1
done
if grep -q 'cxlflashd: ready' "$tmp/daemon.out"; then
	echo "daemon: $(cat "$tmp/daemon.out")"
	# The configuration's LUNs: 'scratch' (RAM, allow=all) as a 1 GiB
	# virtual LUN, 'lun0' (a sparse 64 GiB file in the StateDirectory)
	# physically.
	for args in "-d scratch -q 16 -s 1" "-d lun0 -p -r 70 -q 16 -s 1"; do
		# shellcheck disable=SC2086
		if timeout 60 blockio $args >"$tmp/out" 2>&1 && grep -q 'iops:' "$tmp/out"; then
			echo "blockio $args: $(grep 'iops:' "$tmp/out")"
		else
			bad "blockio $args: $(tail -3 "$tmp/out")"
		fi
	done
	timeout 30 cxlflash status >"$tmp/status" 2>&1 && grep -q scratch "$tmp/status" ||
		bad "cxlflash status: $(tail -3 "$tmp/status")"
	[ -S /run/cxlflash/cxlflashd.sock ] || bad "no control socket in the RuntimeDirectory"
	[ -f /var/lib/cxlflash/lun0.img ] || bad "no lun0.img in the StateDirectory"
else
	bad "cxlflashd did not start: $(tail -5 "$tmp/daemon.err")"
fi
# KillSignal=SIGTERM, TimeoutStopSec=30.
kill -TERM "$daemon" 2>/dev/null
for _ in $(seq 300); do kill -0 "$daemon" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$daemon" 2>/dev/null; then
	bad "cxlflashd still running 30 s after SIGTERM"
else
	wait "$daemon"
	rc=$?
	[ $rc = 0 ] || bad "cxlflashd exited $rc after SIGTERM: $(tail -3 "$tmp/daemon.err")"
fi
daemon=""

# 3. Purge: nothing of ours is left.
dpkg --purge "${pkgs[@]}" >"$tmp/dpkg.log" 2>&1 || { cat "$tmp/dpkg.log"; bad "dpkg --purge failed"; }
for f in /usr/sbin/cxlflashd /usr/bin/blockio /etc/cxlflash /lib/systemd/system/cxlflashd.service \
	/usr/include/cxlflash /usr/share/doc/cxlflash /usr/share/man/man8/cxlflashd.8.gz; do
	[ -e "$f" ] && bad "$f left after purge"
done
ls /usr/lib/*/libcflsh_block.so* >/dev/null 2>&1 && bad "libcflsh_block left after purge"
echo "purged: ${pkgs[*]}"

[ $fail = 0 ] && echo "deb round trip: ok"
exit $fail
