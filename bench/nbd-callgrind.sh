#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# nbd-callgrind.sh CXLFLASHD OUTDIR [N1 N2] - the NBD server's user-space
# instructions per 4 KiB request, a deterministic guard like
# callgrind-count.sh: cxlflashd (the binary given) under callgrind exports a
# 64 MiB legacy RAM LUN on a Unix socket; fio's nbd engine sends N1, then
# (another daemon) N2 random reads at QD 32 on one connection, and the same
# for writes. Counted: the connection thread's (nbd_transmit, inclusive:
# reading and parsing requests, the RAM backend's copy, the replies), per
# request (Ir of the N2 run - Ir of the N1 run) / (N2 - N1), so the
# connection's start and end cancel out; not the kernel's socket copies
# (user space only) nor the idle AFU worker (it polls by the clock).
# Prints JSON: {"n":N2-N1,"read":IR,"write":IR}. Needs valgrind and fio.
set -euo pipefail
case "${1:-}" in -h|--help) sed -n '4,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
[ $# -ge 2 ] || { echo "usage: nbd-callgrind.sh CXLFLASHD OUTDIR [N1 N2]" >&2; exit 2; }
DAEMON=$1 OUT=$2 N1=${3:-2000} N2=${4:-12000}
[ "$N2" -gt "$N1" ] || { echo "nbd-callgrind: N2 must be above N1" >&2; exit 2; }
mkdir -p "$OUT"

# total Ir of one daemon run serving N requests of kind RW
one() {
	local rw=$1 n=$2 d pid
	d=$(mktemp -d "$OUT/nbdcg.XXXXXX")
	valgrind --tool=callgrind --callgrind-out-file="$d/cg.out" "$DAEMON" -s "$d/c.sock" \
		--nbd-socket "$d/n.sock" --nbd-tcp none -l r=ram:64M -L r >"$d/daemon.log" 2>&1 &
	pid=$!
	for _ in $(seq 600); do [ -S "$d/n.sock" ] && break; sleep 0.05; done
	if ! fio --name=nbdcg --ioengine=nbd --uri="nbd+unix:///r?socket=$d/n.sock" --rw="$rw" \
		--bs=4k --iodepth=32 --size=64M --number_ios="$n" --output=/dev/null >/dev/null 2>&1; then
		kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true
		echo "nbd-callgrind: fio failed (daemon log: $d/daemon.log)" >&2
		return 1
	fi
	kill -INT "$pid"
	wait "$pid" 2>/dev/null || true
	callgrind_annotate --inclusive=yes --threshold=100 "$d/cg.out" 2>/dev/null |
		awk '!done { for (i = 2; i <= NF; i++) if ($i ~ /:nbd_transmit$/) { gsub(",", "", $1); print $1; done = 1 } }' |
		grep . || { echo "nbd-callgrind: no nbd_transmit in $d/cg.out" >&2; return 1; }
	rm -rf "$d"
}

json="{\"n\":$((N2 - N1))"
for rw in randread randwrite; do
	a=$(one $rw "$N1")
	z=$(one $rw "$N2")
	json+=",\"${rw#rand}\":$(( (z - a) / (N2 - N1) ))"
done
echo "$json}"
