#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# nbd-sparse-copy.sh - issue 14's block status measurement: a 64 GiB
# sparse file LUN with 5 MiB of random data, served by `cxlflash nbd` on a
# Unix socket, copied by nbdcopy (into a new file) and by qemu-img convert
# -n (into a 64 GiB sparse file), with block status and with
# --no-block-status. Prints the time of each copy and the bytes the
# destination allocated. Usage: bench/nbd-sparse-copy.sh [BUILD_DIR]
# (default build; its testdata/ holds the files, which are removed after).
set -euo pipefail
build=${1:-build}
tool=$build/tools/cxlflash
dir=$build/testdata/sparse-copy
src=$dir/src.img dst=$dir/dst.img sock=$dir/s.sock
uri="nbd+unix:///big?socket=$sock"
mkdir -p "$dir"
rm -f "$src" "$dst"
truncate -s 64G "$src"
dd if=/dev/urandom of="$src" bs=1M count=1 conv=notrunc status=none
dd if=/dev/urandom of="$src" bs=1M seek=$((7 * 1024 + 3)) count=2 conv=notrunc status=none
dd if=/dev/urandom of="$src" bs=4k seek=$((33 * 262144 + 1)) count=1 conv=notrunc status=none
dd if=/dev/urandom of="$src" bs=4k seek=$((64 * 262144 - 512)) count=511 conv=notrunc status=none
echo "source: $(stat -c %s "$src") bytes, $(du -B1 "$src" | cut -f1) allocated"
for mode in on off; do
	extra=()
	[ $mode = off ] && extra=(--no-block-status)
	"$tool" nbd --socket "$sock" --name big "${extra[@]}" "file:$src" >"$dir/server.log" 2>&1 &
	pid=$!
	for _ in $(seq 50); do [ -S "$sock" ] && break; sleep 0.1; done
	for client in nbdcopy qemu-img; do
		rm -f "$dst"
		if [ $client = nbdcopy ]; then
			s=$(date +%s.%N); nbdcopy "$uri" "$dst"; e=$(date +%s.%N)
		else
			truncate -s 64G "$dst"
			s=$(date +%s.%N); qemu-img convert -n -f raw -O raw "$uri" "$dst"; e=$(date +%s.%N)
		fi
		cmp <(head -c 1M "$src") <(head -c 1M "$dst")
		printf "block status %-3s  %-8s  %7.2f s  destination %s bytes allocated\n" \
			$mode $client "$(echo "$e - $s" | bc)" "$(du -B1 "$dst" | cut -f1)"
	done
	kill $pid
	wait $pid || true
done
rm -f "$src" "$dst"
