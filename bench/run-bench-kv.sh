#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# run-bench-kv.sh - libarkdb against RocksDB and LMDB, in one run, on the
# same workloads: 16-byte keys with 100 B, 4 KiB and 64 KiB values; set,
# get, 50/50 and 95/5 mixes of random live keys; 1 and 32 operations in
# flight (ours: synchronous calls, then 32 *_async_cb requests whose callbacks
# issue the next ones, and again with one thread collecting the completions;
# the peers: 1 and 32 threads, each synchronous). Non-durable rows: our memory store and
# RAM LUN against the peers on tmpfs; durable rows: our file LUN (written with
# zeroes when created, prealloc=full, and once more sparse) with
# ARK_KV_PERSIST_STORE against RocksDB with a synced WAL and LMDB with
# synced commits, in a directory on the same file system. Prints three tables
# and writes results.json and results.md.
set -euo pipefail

usage() {
	cat <<EOF2
Usage: bench/run-bench-kv.sh [options]
Run build/bench/arkbench, kvpeer_rocksdb and kvpeer_lmdb over every
configuration and print side-by-side tables (ops/s, p99 latency in us, CPU
us per operation). A full run takes about 10 minutes on 2 vCPUs.

  --build DIR   build directory with bench/ programs (default: build)
  --out DIR     where results go (default: BUILD/bench-kv)
  --dir DIR     directory for the durable rows' files (default: OUT/data;
                it decides the file system compared)
  --shm DIR     tmpfs directory for the peers' non-durable rows (default /dev/shm)
  --secs S      at most S seconds per phase (default 2)
  --only REGEX  run only the configurations whose name (e.g. ark-file-4096-qd32)
                matches
  --quick       under a minute: fewer keys, 0.3 s phases (a smoke check)
  --smoke       seconds: 100 B values, 500 keys, 0.05 s phases, implies
                --require-peers; checks only that everything ran (CTest kv/bench-smoke)
  --require-peers  exit 77 (skip) if a peer program is not built
  -h, --help    this help

Exit status: 0; 1 if a run failed or produced nothing; 77 with --require-peers
when RocksDB or LMDB is missing.
EOF2
}

BUILD=build OUT="" DIR="" SHM=/dev/shm SECS=2 ONLY="" QUICK=0 REQUIRE=0 SMOKE=0
while [ $# -gt 0 ]; do
	case "$1" in
	--build) BUILD=$2; shift ;;
	--out) OUT=$2; shift ;;
	--dir) DIR=$2; shift ;;
	--shm) SHM=$2; shift ;;
	--secs) SECS=$2; shift ;;
	--only) ONLY=$2; shift ;;
	--quick) QUICK=1 ;;
	--smoke) SMOKE=1 QUICK=1 REQUIRE=1 ;;
	--require-peers) REQUIRE=1 ;;
	-h|--help) usage; exit 0 ;;
	*) echo "run-bench-kv: unknown option '$1' (try --help)" >&2; exit 2 ;;
	esac
	shift
done
BIN=$BUILD/bench
OUT=${OUT:-$BUILD/bench-kv}
DIR=${DIR:-$OUT/data}
log() { echo "run-bench-kv: $*" >&2; }

[ -x "$BIN/arkbench" ] || { log "$BIN/arkbench not built (make build)"; exit 1; }
command -v jq >/dev/null || { log "jq is needed (scripts/install-deps.sh)"; exit 1; }
PEERS=()
skipped=()
for p in rocksdb lmdb; do
	if [ -x "$BIN/kvpeer_$p" ]; then
		PEERS+=("$p")
	else
		skipped+=("$p (bench/kvpeer_$p not built: lib$p-dev missing)")
	fi
done
if [ $REQUIRE = 1 ] && [ ${#PEERS[@]} -lt 2 ]; then
	log "skipped: ${skipped[*]}"
	exit 77
fi

VSIZES="100 4096 65536"
QDS="1 32"
WORK=set,get,mix:50,mix:95
# keys per value size: the data set stays near 256 MiB at 64 KiB
declare -A KEYS=([100]=100000 [4096]=50000 [65536]=4000)
if [ $QUICK = 1 ]; then
	KEYS=([100]=2000 [4096]=1000 [65536]=200)
	[ "$SECS" = 2 ] && SECS=0.3
fi
if [ $SMOKE = 1 ]; then
	VSIZES=100 KEYS=([100]=500) SECS=0.05
fi

mkdir -p "$OUT" "$DIR"
RAW=$OUT/results.jsonl
: >"$RAW"
TMPS=$SHM/cxlflash-kvbench-$$
cleanup() { rm -rf "$TMPS" "$DIR"/kv-$$.img "$DIR"/kvpeer-$$; }
trap cleanup EXIT
failed=0 runs=0
start=$(date +%s)

# one NAME PROGRAM CLASS VSIZE QD ARGS...: one program run, all phases
one() {
	local name=$1 prog=$2 class=$3 vs=$4 qd=$5
	shift 5
	[ -n "$ONLY" ] && ! [[ $name =~ $ONLY ]] && return 0
	log "$name"
	runs=$((runs + 1))
	if ! "$BIN/$prog" -l "$class" -w "$WORK" -v "$vs" -n "${KEYS[$vs]}" -s "$SECS" \
		-j "$RAW" "$@" >>"$OUT/results.txt"; then
		log "FAILED: $name"
		failed=$((failed + 1))
	fi
}

: >"$OUT/results.txt"
for vs in $VSIZES; do
	n=${KEYS[$vs]}
	# LUN size: twice a block-rounded record plus a block per key, + 256 MiB (a
	# synchronous set can take a 4 KiB block of its own: with 3x the data, 100 B
	# values at QD 1 ran out of space on a RAM LUN)
	mb=$(((n * ((vs + 64 + 4095) / 4096 * 4096 + 4096) * 2 >> 20) + 256))
	for qd in $QDS; do
		if [ "$qd" = 1 ]; then
			ours=() peer=()
		else
			ours=(-q "$qd" --chain) peer=(-t "$qd")
		fi
		# non-durable: ours in memory and on a RAM LUN, the peers on tmpfs
		one "ark-mem-$vs-qd$qd" arkbench mem "$vs" "$qd" "${ours[@]}"
		one "ark-ram-$vs-qd$qd" arkbench ram "$vs" "$qd" -p "ram:${mb}M" "${ours[@]}"
		if [ "$qd" != 1 ]; then
			# the same with the issuing thread collecting the completions
			one "ark-mem-collect-$vs-qd$qd" arkbench mem-collect "$vs" "$qd" -q "$qd"
			one "ark-ram-collect-$vs-qd$qd" arkbench ram-collect "$vs" "$qd" \
				-p "ram:${mb}M" -q "$qd"
			# and as the peers run: that many threads, one synchronous call each
			one "ark-mem-threads-$vs-qd$qd" arkbench mem-threads "$vs" "$qd" -t "$qd"
			one "ark-ram-threads-$vs-qd$qd" arkbench ram-threads "$vs" "$qd" \
				-p "ram:${mb}M" -t "$qd"
		fi
		mkdir -p "$TMPS" "$DIR/kvpeer-$$"
		for p in "${PEERS[@]}"; do
			one "$p-tmpfs-$vs-qd$qd" "kvpeer_$p" tmpfs "$vs" "$qd" -p "$TMPS/$p" "${peer[@]}"
		done
		# durable: a file LUN on the disk's file system vs the peers in a directory on it.
		# The LUN file is written with zeroes when created (prealloc=full), as a
		# device's blocks are there: an O_DSYNC write that allocates a block of a
		# sparse file waits for a journal commit. The sparse file has a row too.
		one "ark-file-$vs-qd$qd" arkbench file "$vs" "$qd" --persist \
			-p "file:$DIR/kv-$$.img?size=${mb}M&prealloc=full" "${ours[@]}"
		rm -f "$DIR/kv-$$.img"
		one "ark-file-sparse-$vs-qd$qd" arkbench file-sparse "$vs" "$qd" --persist \
			-p "file:$DIR/kv-$$.img?size=${mb}M" "${ours[@]}"
		rm -f "$DIR/kv-$$.img"
		if [ "$qd" != 1 ]; then
			one "ark-file-collect-$vs-qd$qd" arkbench file-collect "$vs" "$qd" --persist \
				-p "file:$DIR/kv-$$.img?size=${mb}M&prealloc=full" -q "$qd"
			rm -f "$DIR/kv-$$.img"
		fi
		for p in "${PEERS[@]}"; do
			one "$p-file-$vs-qd$qd" "kvpeer_$p" file "$vs" "$qd" --persist \
				-p "$DIR/kvpeer-$$/$p" "${peer[@]}"
		done
		rm -rf "$DIR/kvpeer-$$"
	done
done
elapsed=$(($(date +%s) - start))

jq -s --arg date "$(date -u +%FT%TZ)" --arg ncpu "$(nproc)" --arg kernel "$(uname -r)" \
	--arg cpu "$(lscpu | sed -n 's/^Model name: *//p' | head -1)" \
	--arg fs "$(df -T "$DIR" | awk 'NR==2 {print $2}')" --arg secs "$SECS" \
	--arg quick "$QUICK" --arg elapsed "$elapsed" \
	--arg skipped "$(printf '%s\n' "${skipped[@]+"${skipped[@]}"}")" '
	{ meta: { date: $date, cpu: $cpu, ncpu: ($ncpu | tonumber), kernel: $kernel, file_fs: $fs,
	          secs_per_phase: ($secs | tonumber), quick: ($quick == "1"),
	          elapsed_s: ($elapsed | tonumber),
	          skipped: ($skipped | split("\n") | map(select(length > 0))) },
	  results: . }' "$RAW" >"$OUT/results.json"

# The tables: one row per value size, phase and in-flight count (at least
# MIN in flight); a cell is "ops/s · p99 us · CPU us/op" of one engine and store.
table() {
	local title=$1 cols=$2 min=${3:-1}
	echo "### $title"
	echo
	jq -r --argjson cols "$cols" --argjson min "$min" '
	  def cell($e; $l): (.results | map(select(.engine == $e and .label == $l)));
	  def fmt: if . == null then "—" else
	      "\(.ops_s | floor) · \(.p99_us * 10 | floor / 10) · \(.cpu_us_op * 100 | floor / 100)" end;
	  . as $all
	  | ("| value | phase | in flight | " + ($cols | map(.[2]) | join(" | ")) + " |"),
	    ("|---|---|---|" + ($cols | map("---|") | join(""))),
	    ( [$all.results[] | select(.inflight >= $min)
	       | select(.label as $l | $cols | map(.[1]) | index($l))
	       | {vsize, phase, inflight}] | unique
	       | sort_by(.vsize, .inflight, (.phase | {set:0,get:1,mix50:2,mix95:3,del:4}[.] // 9))[] as $k
	      | "| \($k.vsize) | \($k.phase) | \($k.inflight) | " +
	        ($cols | map(. as $c | $all.results
	            | map(select(.engine == $c[0] and .label == $c[1] and .vsize == $k.vsize
	                         and .phase == $k.phase and .inflight == $k.inflight)) | first | fmt)
	         | join(" | ")) + " |" )' "$OUT/results.json"
	echo
}
{
	echo "## Key/value stores: ours (libarkdb) vs RocksDB vs LMDB"
	echo
	echo "Cells: ops/s · p99 µs · CPU µs/op (the whole process). 16-byte keys; $SECS s or"
	echo "the key count per phase, whichever ends first. $(nproc) vCPUs, $(uname -r)."
	echo
	table "Non-durable: our memory store and RAM LUN, the peers on tmpfs" \
		'[["ark","mem","ours memory"],["ark","ram","ours ram: LUN"],["rocksdb","tmpfs","RocksDB tmpfs (sync=0)"],["lmdb","tmpfs","LMDB tmpfs (NOSYNC)"]]'
	table "Durable: our file LUN (ARK_KV_PERSIST_STORE) vs the peers on the same file system ($(df -T "$DIR" | awk 'NR==2 {print $2}'))" \
		'[["ark","file","ours file LUN --persist"],["ark","file-sparse","ours, sparse LUN file"],["rocksdb","file","RocksDB (WAL sync=1)"],["lmdb","file","LMDB (synced commits)"]]'
	echo "Ours at 32 in flight above: each callback issues the next request (--chain)."
	echo "Below, the same requests with the issuing thread collecting the completions"
	echo "(callbacks queue them to it), the other way programs use the async calls,"
	echo "and 32 threads each making synchronous calls, as the peers run."
	echo
	table "Ours at 32 in flight: callbacks chained, a thread collecting completions, 32 synchronous threads" \
		'[["ark","mem","memory, chained"],["ark","mem-collect","memory, collected"],["ark","mem-threads","memory, 32 threads"],["ark","ram","ram: LUN, chained"],["ark","ram-collect","ram: LUN, collected"],["ark","ram-threads","ram: LUN, 32 threads"],["ark","file","file --persist, chained"],["ark","file-collect","file --persist, collected"]]' 2
} | tee "$OUT/results.md"
for s in "${skipped[@]+"${skipped[@]}"}"; do log "skipped: $s"; done

rows=$(jq '.results | length' "$OUT/results.json")
if [ "$failed" -ne 0 ] || [ "$rows" -eq 0 ]; then
	log "$failed of $runs runs failed, $rows results"
	exit 1
fi
log "$rows results from $runs runs in $OUT/results.json (${elapsed}s)"
