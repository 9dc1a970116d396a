#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# run-bench.sh - the superpipe against the kernel's own I/O paths, in one
# run, on the same data (issue 6). Drives build/bench/iobench over every
# configuration, ctlbench for the control path and iocount under callgrind,
# then prints markdown tables and writes results.json, results.tsv and
# chart.png into the output directory.
set -euo pipefail

usage() {
	cat <<EOF
Usage: bench/run-bench.sh [options]
Measure 4 KiB random read, write and 70/30 mix at QD 1 and 32 on kernel
paths (pread, O_DIRECT, io_uring, a loop device, tmpfs), on libcflsh_block
(physical and virtual LUNs, ram and file backends) and on plain memcpy.

  --build DIR     build directory with bench/ programs (default: build)
  --out DIR       where results go (default: BUILD/bench)
  --dir DIR       where the data file is created (default: BUILD/bench/data)
  --size-mb N     data file, RAM LUN and memcpy region size (default 1024)
  --secs S        seconds per measured rep (default 2)
  --reps N        reps per configuration; medians are reported (default 3)
  --only REGEX    run only the configurations whose label matches
  --no-loop       skip the loop device (it needs root and /dev/loop-control)
  --no-callgrind  skip the instruction counts (e.g. under ASan)
  --keep-data     keep the data file afterwards (reused when the size matches)
  --smoke         seconds, not minutes: tiny sizes and durations, one mix;
                  checks only that everything ran and produced its output
  -h, --help      this help

Environment: CXLFLASH_* and CFLSH_BLK_* knobs reach the engine unchanged.
Exit status: 0, 1 if a measurement failed or output is missing.
EOF
}

BUILD=build OUT="" DIR="" SIZE_MB=1024 SECS=2 REPS=3 ONLY="" LOOP=1 CALLGRIND=1
KEEP=0 SMOKE=0 WARMUP=0.25 CTL_N=500 CG_N=2000
RWS="100 0 70"        # read %: randread, randwrite, 70/30 mix
QDS="1 32"
while [ $# -gt 0 ]; do
	case "$1" in
	--build) BUILD=$2; shift ;;
	--out) OUT=$2; shift ;;
	--dir) DIR=$2; shift ;;
	--size-mb) SIZE_MB=$2; shift ;;
	--secs) SECS=$2; shift ;;
	--reps) REPS=$2; shift ;;
	--only) ONLY=$2; shift ;;
	--no-loop) LOOP=0 ;;
	--no-callgrind) CALLGRIND=0 ;;
	--keep-data) KEEP=1 ;;
	--smoke) SMOKE=1 ;;
	-h|--help) usage; exit 0 ;;
	*) echo "run-bench: unknown option '$1' (try --help)" >&2; exit 2 ;;
	esac
	shift
done
if [ $SMOKE = 1 ]; then
	SIZE_MB=256 SECS=0.1 REPS=1 WARMUP=0.02 CTL_N=20 CG_N=50 RWS="70"
fi

BIN=$BUILD/bench
OUT=${OUT:-$BUILD/bench}
DIR=${DIR:-$OUT/data}
for p in iobench ctlbench iocount; do
	[ -x "$BIN/$p" ] || { echo "run-bench: $BIN/$p not built (make build)" >&2; exit 1; }
done
command -v jq >/dev/null || { echo "run-bench: jq is needed (scripts/install-deps.sh)" >&2; exit 1; }
mkdir -p "$OUT" "$DIR"
FILE=$DIR/bench-$SIZE_MB.dat                  # the data every file path shares
SHM=/dev/shm/cxlflash-bench-$$.dat            # tmpfs twin, unique per run
TSV=$OUT/results.tsv RAW=$OUT/results.jsonl
LOOPDEV="" DPID=""
: >"$TSV"
: >"$RAW"
: >"$OUT/control.tsv"
failed=0 skipped=()

cleanup() {
	[ -n "$DPID" ] && kill "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
	[ -n "$LOOPDEV" ] && losetup -d "$LOOPDEV" 2>/dev/null
	rm -f "$SHM"
	[ $KEEP = 1 ] || rm -f "$FILE"
}
trap cleanup EXIT

log() { echo "run-bench: $*" >&2; }

# run LABEL TARGET PATH "QDS" [iobench args...]: every rw mix at every QD.
run() {
	local label=$1 target=$2 path=$3 qds=$4
	shift 4
	[ -n "$ONLY" ] && ! [[ $label =~ $ONLY ]] && return 0
	for rw in $RWS; do
		for qd in $qds; do
			log "$label rw=$rw qd=$qd"
			if ! "$BIN/iobench" -t "$target" ${path:+-p "$path"} -l "$label" -r "$rw" \
				-q "$qd" -s "$SECS" -n "$REPS" -w "$WARMUP" -j "$RAW" "$@" >>"$TSV"; then
				log "FAILED: $label rw=$rw qd=$qd"
				failed=$((failed + 1))
			fi
		done
	done
}

# ---- the data: one file written for real (no unwritten extents), a tmpfs copy ----
if [ ! -f "$FILE" ] || [ "$(stat -c %s "$FILE")" != $((SIZE_MB << 20)) ]; then
	log "writing $FILE ($SIZE_MB MiB)"
	dd if=/dev/zero of="$FILE" bs=1M count="$SIZE_MB" oflag=direct conv=fsync status=none ||
		dd if=/dev/zero of="$FILE" bs=1M count="$SIZE_MB" conv=fsync status=none   # no O_DIRECT here
fi
dd if=/dev/zero of="$SHM" bs=1M count="$SIZE_MB" status=none

start=$(date +%s)
# ---- kernel paths on the file ----
cat "$FILE" >/dev/null                        # buffered runs read a warm page cache
run file-pread-buffered pread "$FILE" "1"
sync "$FILE"                                  # no dirty pages left for O_DIRECT runs
run file-pread-direct pread-direct "$FILE" "1"
run file-uring-direct uring "$FILE" "$QDS"

# ---- the traditional block stack: a loop device (direct I/O) over the same file ----
if [ $LOOP = 1 ] && { [ -z "$ONLY" ] || [[ loop-uring-direct =~ $ONLY ]]; }; then
	if LOOPDEV=$(losetup --direct-io=on -f --show "$FILE" 2>/dev/null); then
		run loop-uring-direct uring "$LOOPDEV" "$QDS"
		losetup -d "$LOOPDEV" && LOOPDEV=""
	else
		LOOPDEV=""
		skipped+=("loop device (losetup failed: not root or no /dev/loop-control)")
	fi
elif [ $LOOP = 0 ]; then
	skipped+=("loop device (--no-loop)")
fi

# ---- tmpfs and the physical ceiling ----
run tmpfs-pread pread "$SHM" "1"
rm -f "$SHM"
run memcpy memcpy "" "1" -z $((SIZE_MB << 20)) --lat-every 16

# ---- ours, embedded: libcflsh_block with the master and AFU in this process ----
RAM=ram:${SIZE_MB}M
run cblk-phys-ram cblk "$RAM" "$QDS" --prefill
run cblk-virt-ram cblk "$RAM" "$QDS" --prefill --virt
run cblk-phys-ram-thread cblk "$RAM" "$QDS" --prefill --intr-thread
run cblk-phys-file cblk "$FILE" "$QDS"
run cblk-virt-file cblk "$FILE" "$QDS" --virt

# ---- ours, through cxlflashd (issue 4) -------------------------------------
# DAEMON CONFIGURATION: the same cblk runs with the LUNs served by the daemon.
# Clients find it through CXLFLASH_SOCKET and open the LUN by its NAME; the
# daemon's CPU is added to each I/O's cost with --cpu-pid. Adjust the LUN
# names if the daemon's naming differs.
DAEMON=$BUILD/tools/cxlflashd
if [ -x "$DAEMON" ]; then
	SOCK=$OUT/cxlflashd-$$.sock
	"$DAEMON" --lun "bench-ram=$RAM" --lun "bench-file=$FILE" --socket "$SOCK" &
	DPID=$!
	for _ in $(seq 100); do [ -S "$SOCK" ] && break; sleep 0.05; done
	if [ -S "$SOCK" ]; then
		export CXLFLASH_SOCKET=$SOCK
		run daemon-phys-ram cblk bench-ram "$QDS" --prefill --cpu-pid "$DPID"
		run daemon-virt-ram cblk bench-ram "$QDS" --prefill --virt --cpu-pid "$DPID"
		run daemon-phys-file cblk bench-file "$QDS" --cpu-pid "$DPID"
		"$BIN/ctlbench" -d bench-ram -n "$CTL_N" -j "$RAW" -l daemon- \
			>>"$OUT/control.tsv" || failed=$((failed + 1))
		unset CXLFLASH_SOCKET
	else
		log "FAILED: cxlflashd did not create $SOCK"
		failed=$((failed + 1))
	fi
	kill "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
	DPID=""
else
	skipped+=("through cxlflashd ($DAEMON not built yet)")
fi
# -----------------------------------------------------------------------------

# ---- control path (embedded) ----
if ! "$BIN/ctlbench" -d "ram:2G" -n "$CTL_N" -j "$RAW" >>"$OUT/control.tsv"; then
	log "FAILED: ctlbench"
	failed=$((failed + 1))
fi
elapsed=$(($(date +%s) - start))

# ---- instruction counts: client submit + complete of one 4 KiB I/O ----
CG="{}"
if [ $CALLGRIND = 1 ] && command -v valgrind >/dev/null && command -v callgrind_annotate >/dev/null; then
	CG=$("$(dirname "$0")/callgrind-count.sh" "$BIN/iocount" "$CG_N" "$OUT") || {
		log "FAILED: callgrind"
		failed=$((failed + 1))
		CG="{}"
	}
else
	skipped+=("callgrind (--no-callgrind or valgrind not installed)")
fi

# ---- output: JSON, tables, chart ----
jq -s --argjson cg "$CG" --arg secs "$SECS" --arg reps "$REPS" --arg size "$SIZE_MB" \
	--arg cpu "$(lscpu | sed -n 's/^Model name: *//p' | head -1)" --arg kernel "$(uname -r)" \
	--arg fs "$(df -T "$DIR" | awk 'NR==2 {print $2}')" --arg ncpu "$(nproc)" \
	--arg date "$(date -u +%FT%TZ)" --arg smoke "$SMOKE" --arg elapsed "$elapsed" \
	--arg skipped "$(printf '%s\n' "${skipped[@]+"${skipped[@]}"}")" '
	{ meta: { date: $date, cpu: $cpu, ncpu: ($ncpu | tonumber), kernel: $kernel, fs: $fs,
	          secs: ($secs | tonumber), reps: ($reps | tonumber), size_mb: ($size | tonumber),
	          smoke: ($smoke == "1"), elapsed_s: ($elapsed | tonumber),
	          skipped: ($skipped | split("\n") | map(select(length > 0))) },
	  results: map(select(has("label"))),
	  control: (map(select(has("control")) | .control) | add // []),
	  callgrind: $cg }' "$RAW" >"$OUT/results.json"

"$(dirname "$0")/report.sh" "$OUT" | tee "$OUT/results.md"
if command -v gnuplot >/dev/null; then
	"$(dirname "$0")/chart.sh" "$OUT" || log "chart failed"
else
	log "gnuplot not installed: no chart"
fi
for s in "${skipped[@]+"${skipped[@]}"}"; do log "skipped: $s"; done

# Done means: a row for every configuration run, valid JSON, the table printed.
rows=$(jq '.results | length' "$OUT/results.json")
if [ "$failed" -ne 0 ] || [ "$rows" -eq 0 ] || ! [ -s "$OUT/results.md" ]; then
	log "$failed failed, $rows results"
	exit 1
fi
log "$rows results in $OUT/results.json (${elapsed}s of measurements)"
