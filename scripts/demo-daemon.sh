#!/usr/bin/env bash
# `make run`'s daemon part: start cxlflashd on a RAM LUN, run two blockio
# clients on two virtual LUNs at once, show `cxlflash status` while they
# run, then stop the daemon (SIGTERM: clients detached, LUNs flushed).
set -euo pipefail
BUILD=${1:-build}
SOCK="$PWD/$BUILD/cxlflashd-demo.sock"
export CXLFLASH_SOCKET="$SOCK"

"$BUILD/tools/cxlflashd" --lun demo=ram:4G --allow demo=all --socket "$SOCK" \
	--nbd-socket none --nbd-tcp none > "$BUILD/cxlflashd-demo.out" &
daemon=$!
trap 'kill $daemon 2>/dev/null || true' EXIT
for _ in $(seq 50); do
	grep -q ready "$BUILD/cxlflashd-demo.out" 2>/dev/null && break
	sleep 0.1
done
cat "$BUILD/cxlflashd-demo.out"
echo "two clients, each on its own virtual LUN of 'demo' (blockio -v, QD16, 3 s):"
# -l 1000000: only commands slower than 1 s are listed one by one
"$BUILD/tools/blockio" -d demo -v -l 1000000 -q 16 -s 3 -S 1 > "$BUILD/demo-client1.out" 2>&1 &
c1=$!
"$BUILD/tools/blockio" -d demo -v -l 1000000 -r 70 -q 16 -s 3 -S 1 \
	> "$BUILD/demo-client2.out" 2>&1 &
c2=$!
sleep 1.5
"$BUILD/tools/cxlflash" status
wait $c1 $c2
sed 's/^/  client 1: /' "$BUILD/demo-client1.out"
sed 's/^/  client 2: /' "$BUILD/demo-client2.out"
kill -TERM $daemon
wait $daemon
trap - EXIT
