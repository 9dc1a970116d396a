#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# dma-ab.sh [BUILD [OUT]] - A/B of cblk_dma_alloc buffers through cxlflashd
# (issue 13): per round the memcpy ceiling, the daemon's RAM LUN at QD 32
# with DMA buffers and with plain ones (--plain-bufs), then for randread and
# randwrite io_uring QD 32 on a 1 GiB file, each followed by the daemon's
# file LUN at QD 32 (DMA, then plain). ROUNDS rounds (default 3), SECS per
# rep (default 1.5). TSV lines of iobench on stdout (docs/performance.md).
set -u
B=${1:-build}
OUT=${2:-$B/dmabench}
mkdir -p "$OUT"
FILE=$OUT/data.img
ROUNDS=${ROUNDS:-3}
SECS=${SECS:-1.5}
[ -f "$FILE" ] || dd if=/dev/zero of="$FILE" bs=1M count=1024 oflag=direct status=none
export CXLFLASH_SOCKET=$OUT/d.sock
rm -f "$CXLFLASH_SOCKET"
"$B/tools/cxlflashd" --socket "$CXLFLASH_SOCKET" --no-nbd --lun bench-ram=ram:1024M --lun "bench-file=$FILE" >"$OUT/ready" 2>"$OUT/d.log" &
DPID=$!
for i in $(seq 50); do grep -q ready "$OUT/ready" 2>/dev/null && break; sleep 0.1; done
IO="$B/bench/iobench -s $SECS -n 3 -w 0.25"
for r in $(seq "$ROUNDS"); do
	echo "# round $r load $(cut -d' ' -f1-3 /proc/loadavg)"
	$IO -t memcpy -z $((1 << 30)) --lat-every 16 -l memcpy
	$IO -t cblk -p bench-ram -q 32 --prefill --cpu-pid $DPID -l d-ram-dma
	$IO -t cblk -p bench-ram -q 32 --prefill --cpu-pid $DPID --plain-bufs -l d-ram-plain
	for rw in 100 0; do
		$IO -t uring -p "$FILE" -q 32 -r $rw -l pair-file
		$IO -t cblk -p bench-file -q 32 -r $rw --cpu-pid $DPID -l d-file-dma
		$IO -t uring -p "$FILE" -q 32 -r $rw -l pair-file
		$IO -t cblk -p bench-file -q 32 -r $rw --cpu-pid $DPID --plain-bufs -l d-file-plain
	done
done
kill $DPID; wait $DPID 2>/dev/null
