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
(physical and virtual LUNs, ram and file backends, embedded and through
cxlflashd), over NBD (fio's nbd engine against cxlflashd's export of a
legacy RAM LUN and against nbdkit's memory plugin) and on plain memcpy;
then tenants: a reader's latency beside a noisy neighbour, and a QD 1
tenant's share beside a saturating one through cxlflashd.

  --build DIR     build directory with bench/ programs (default: build)
  --out DIR       where results go (default: BUILD/bench)
  --dir DIR       where the data file is created (default: BUILD/bench/data)
  --size-mb N     data file, RAM LUN and memcpy region size (default 1024)
  --secs S        seconds per measured rep (default 1.5)
  --reps N        reps per configuration; medians are reported (default 3)
  --only REGEX    run only the configurations whose label matches
  --no-loop       skip the loop device (it needs root and /dev/loop-control)
  --no-callgrind  skip the instruction counts (e.g. under ASan)
  --keep-data     keep the data file afterwards (its space is reused when the size matches)
  --smoke         seconds, not minutes: tiny sizes and durations, one mix;
                  checks only that everything ran and produced its output
  -h, --help      this help

Environment: CXLFLASH_* and CFLSH_BLK_* knobs reach the engine unchanged.
Exit status: 0, 1 if a measurement failed or output is missing.
EOF
}

BUILD=build OUT="" DIR="" SIZE_MB=1024 SECS=1.5 REPS=3 ONLY="" LOOP=1 CALLGRIND=1
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
LOOPDEV="" DPID="" KPID=""
: >"$TSV"
: >"$RAW"
: >"$OUT/control.tsv"
failed=0 skipped=()

cleanup() {
	[ -n "$DPID" ] && kill "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
	[ -n "$KPID" ] && kill "$KPID" 2>/dev/null
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
			[ -n "${RELAY:-}" ] && relay_file
			if [ -n "${PAIR:-}" ] && [ "$qd" = 32 ]; then
				# io_uring on the same file just before (see PAIRED BASELINE)
				log "pair-$label rw=$rw qd=$qd"
				"$BIN/iobench" -t uring -p "$FILE" -l "pair-$label" -r "$rw" -q "$qd" \
					-s "$SECS" -n "$REPS" -w "$WARMUP" -j "$RAW" >>"$TSV" ||
					{ log "FAILED: pair-$label rw=$rw qd=$qd"; failed=$((failed + 1)); }
			fi
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
# relay_file writes every block of the data file again. A vLUN's chunks are
# scrubbed when it closes, and the file backend scrubs with
# FALLOC_FL_ZERO_RANGE: the extents become unwritten, so later O_DIRECT reads
# would be answered without touching the disk and writes would pay for extent
# conversion. Every run after a vLUN on the file therefore starts on fresh data.
relay_file() {
	log "writing $FILE ($SIZE_MB MiB)"
	dd if=/dev/zero of="$FILE" bs=1M count="$SIZE_MB" oflag=direct conv=notrunc,fsync status=none ||
		dd if=/dev/zero of="$FILE" bs=1M count="$SIZE_MB" conv=notrunc,fsync status=none   # no O_DIRECT here
}
# Written at every start, kept or not: a kept file may hold holes.
[ -f "$FILE" ] && [ "$(stat -c %s "$FILE")" != $((SIZE_MB << 20)) ] && rm -f "$FILE"
relay_file
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
# The block stack over the same RAM: a loop device (direct I/O) on the tmpfs
# twin, what the RAM LUN's CPU per I/O is compared with.
if [ $LOOP = 1 ] && { [ -z "$ONLY" ] || [[ loop-tmpfs-uring-direct =~ $ONLY ]]; }; then
	if LOOPDEV=$(losetup --direct-io=on -f --show "$SHM" 2>/dev/null); then
		run loop-tmpfs-uring-direct uring "$LOOPDEV" "$QDS"
		losetup -d "$LOOPDEV" && LOOPDEV=""
	else
		LOOPDEV=""
		skipped+=("loop device on tmpfs (losetup failed)")
	fi
fi
rm -f "$SHM"
run memcpy memcpy "" "1" -z $((SIZE_MB << 20)) --lat-every 16

# ---- ours, embedded: libcflsh_block with the master and AFU in this process ----
# PAIRED BASELINE: the virtio disk's speed drifts by 20-30 % over minutes,
# more than the gap the file-backend target is about. So every QD 32 row of
# ours on the file (PAIR=1) is preceded by the same io_uring O_DIRECT run
# on the same file (label pair-LABEL), and the target compares the two.
RAM=ram:${SIZE_MB}M
run cblk-phys-ram cblk "$RAM" "$QDS" --prefill
run cblk-virt-ram cblk "$RAM" "$QDS" --prefill --virt
run cblk-phys-ram-thread cblk "$RAM" "$QDS" --prefill --intr-thread
PAIR=1 run cblk-phys-file cblk "$FILE" "$QDS"
PAIR=1 RELAY=1 run cblk-virt-file cblk "$FILE" "$QDS" --virt   # fresh data before each (see relay_file)
{ [ -z "$ONLY" ] || [[ cblk-virt-file =~ $ONLY ]]; } && relay_file

# ---- ours, through cxlflashd (issue 4) -------------------------------------
# DAEMON CONFIGURATION: the same cblk runs with the LUNs served by the daemon.
# Clients find it through CXLFLASH_SOCKET and open a LUN by its NAME
# (bench-ram, bench-file; bench-ctl, as ram:2G embedded, for ctlbench);
# the daemon's CPU is added to each I/O's cost
# with --cpu-pid. The daemon says "cxlflashd: ready ..." on stdout once it
# listens: that line, read through a FIFO, is the readiness check.
# Then bench-ram is switched to legacy mode (`cxlflash lun mode`) and
# measured over NBD (below). The smoke runs one tiny row of each.
DAEMON=$BUILD/tools/cxlflashd ADMIN=$BUILD/tools/cxlflash
SOCK=$OUT/cxlflashd-$$.sock NSOCK=$OUT/cxlflashd-nbd-$$.sock
# Within the 10 minutes of `make bench`: randread and randwrite only (the
# mix is measured embedded), and QD 1 only where a target or the NBD
# comparison uses it (daemon-phys-ram).
DRWS="100 0"
NBD_READY=0
if [ $SMOKE = 1 ]; then DRWS=$RWS; fi               # the smoke: its one mix
if [ -x "$DAEMON" ] && [ -x "$ADMIN" ]; then
	fifo=$OUT/cxlflashd-$$.ready
	rm -f "$fifo" "$SOCK" "$NSOCK"
	mkfifo "$fifo"
	"$DAEMON" --socket "$SOCK" --nbd-socket "$NSOCK" --nbd-tcp none \
		--lun "bench-ram=$RAM" --lun "bench-file=$FILE" --lun "bench-ctl=ram:2G" >"$fifo" 2>"$OUT/cxlflashd.log" &
	DPID=$!
	ready=""
	exec 3<"$fifo"
	read -r -t 10 -u 3 ready || true
	exec 3<&-
	rm -f "$fifo"
	if [[ $ready == "cxlflashd: ready"* ]]; then
		log "$ready (pid $DPID)"
		export CXLFLASH_SOCKET=$SOCK
		if [ $SMOKE = 1 ]; then
			RWS=$DRWS run daemon-phys-ram cblk bench-ram "32" --prefill --cpu-pid "$DPID"
		else
			RWS=$DRWS run daemon-phys-ram cblk bench-ram "$QDS" --prefill --cpu-pid "$DPID"
			RWS=$DRWS run daemon-virt-ram cblk bench-ram "32" --prefill --virt --cpu-pid "$DPID"
			PAIR=1 RWS=$DRWS run daemon-phys-file cblk bench-file "32" --cpu-pid "$DPID"
		fi
		if [ -z "$ONLY" ] || [[ daemon-control =~ $ONLY ]]; then
			"$BIN/ctlbench" -d bench-ctl -n "$CTL_N" -j "$RAW" -l daemon- \
				>>"$OUT/control.tsv" || { log "FAILED: ctlbench through cxlflashd"; failed=$((failed + 1)); }
		fi
		unset CXLFLASH_SOCKET
		# Legacy mode: the same RAM LUN (prefilled above) becomes an NBD export.
		if "$ADMIN" lun mode bench-ram legacy --socket "$SOCK" >/dev/null; then
			NBD_READY=1
		else
			log "FAILED: cxlflash lun mode bench-ram legacy"
			failed=$((failed + 1))
		fi
	else
		log "FAILED: cxlflashd did not get ready (said '$ready'; see $OUT/cxlflashd.log)"
		failed=$((failed + 1))
	fi
else
	skipped+=("through cxlflashd ($DAEMON not built yet)")
fi

# ---- NBD (issue 5): fio's nbd engine against cxlflashd and nbdkit ----------
# 4 KiB randread and randwrite at QD 1 and 32 over a Unix socket, against
# cxlflashd's export of the legacy RAM LUN and nbdkit's memory plugin of the
# same size. Same columns as iobench: IOPS and latency percentiles (submit
# to completion, lat_ns) from fio's JSON; CPU per I/O: fio's own (process
# column) plus the server's from /proc/PID/stat (cpu_extra), and the whole
# machine's from /proc/stat; both over the whole fio run (connection and
# warm-up included), divided by IOPS × the run's wall time.
TICK=$(getconf CLK_TCK)
busy_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8; exit }' /proc/stat; }
pid_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }

# fio_one LABEL URI PID RW QD: one configuration, REPS reps, medians.
fio_one() {
	local label=$1 uri=$2 pid=$3 rw=$4 qd=$5 key runs="" tmp=$OUT/fio-$$.json
	local ms wms s0 s1 p0 p1 t0 t1 rep
	key=${rw#rand}
	ms=$(awk -v s="$SECS" 'BEGIN { printf "%d", s * 1000 }')
	wms=$(awk -v s="$WARMUP" 'BEGIN { printf "%d", s * 1000 }')
	for rep in $(seq "$REPS"); do
		s0=$(busy_ticks) p0=$(pid_ticks "$pid") t0=$(date +%s%N)
		fio --name="$label" --ioengine=nbd --uri="$uri" --rw="$rw" --bs=4k --iodepth="$qd" \
			--time_based --runtime="${ms}ms" --ramp_time="${wms}ms" --lat_percentiles=1 \
			--percentile_list=50:99:99.9 --output-format=json --output="$tmp" \
			>/dev/null 2>>"$OUT/fio.log" || return 1
		s1=$(busy_ticks) p1=$(pid_ticks "$pid") t1=$(date +%s%N)
		runs+=$(jq -c --arg k "$key" --argjson wall "$(((t1 - t0) / 1000))" \
			--argjson sys "$((s1 - s0))" --argjson extra "$((p1 - p0))" --argjson tick "$TICK" '
			.jobs[0] as $j | $j[$k] as $d | $d.iops as $iops | ($iops * $wall / 1e6) as $ops |
			{ iops: $iops,
			  p50_us: ($d.lat_ns.percentile["50.000000"] / 1000),
			  p99_us: ($d.lat_ns.percentile["99.000000"] / 1000),
			  p999_us: ($d.lat_ns.percentile["99.900000"] / 1000),
			  cpu_proc_us: (if $d.total_ios > 0 then ($j.usr_cpu + $j.sys_cpu) / 100 *
					$j.job_runtime * 1000 / $d.total_ios else 0 end),
			  cpu_extra_us: (if $ops > 0 then $extra / $tick * 1e6 / $ops else 0 end),
			  cpu_sys_us: (if $ops > 0 then $sys / $tick * 1e6 / $ops else 0 end) }' "$tmp")
		runs+=$'\n'
	done
	rm -f "$tmp"
	printf '%s' "$runs" | jq -sc --arg lab "$label" --arg uri "$uri" --arg rw "$rw" \
		--argjson qd "$qd" --argjson secs "$SECS" --argjson span "$((SIZE_MB << 8))" '
		def med: sort | if length % 2 == 1 then .[length / 2 | floor]
			else (.[length / 2 - 1] + .[length / 2]) / 2 end;
		. as $r | { label: $lab, target: "fio-nbd", path: $uri, rw: $rw,
		  read_pct: (if $rw == "randread" then 100 else 0 end), qd: $qd, secs: $secs,
		  reps: ($r | length), span_blocks: $span, virt: false, intr_thread: false, lat_every: 1 } +
		( ["iops", "p50_us", "p99_us", "p999_us", "cpu_proc_us", "cpu_extra_us", "cpu_sys_us"] |
		  map({ key: ., value: (. as $k | $r | map(.[$k]) | med) }) | from_entries ) +
		{ runs: $r }' >>"$RAW"
	jq -r --arg lab "$label" --arg rw "$rw" --argjson qd "$qd" 'select(.label == $lab and
		.rw == $rw and .qd == $qd) | [.label, .rw, .qd, (.iops | round), .p50_us, .p99_us,
		.p999_us, (.cpu_proc_us + .cpu_extra_us), .cpu_sys_us] | @tsv' "$RAW" | tail -1 >>"$TSV"
}

# fio_nbd LABEL URI PID "QDS" "RWS": prefill the export, then every rw at every QD.
fio_nbd() {
	local label=$1 uri=$2 pid=$3 qds=$4 rws=$5 rw qd
	[ -n "$ONLY" ] && ! [[ $label =~ $ONLY ]] && return 0
	# Written whole first, as the RAM LUNs are: no read of a hole.
	fio --name=prefill --ioengine=nbd --uri="$uri" --rw=write --bs=1M --iodepth=4 \
		--output="$OUT/fio-prefill.txt" >/dev/null 2>>"$OUT/fio.log" ||
		{ log "FAILED: $label prefill"; failed=$((failed + 1)); return 0; }
	for rw in $rws; do
		for qd in $qds; do
			log "$label rw=$rw qd=$qd"
			fio_one "$label" "$uri" "$pid" "$rw" "$qd" ||
				{ log "FAILED: $label rw=$rw qd=$qd (see $OUT/fio.log)"; failed=$((failed + 1)); }
		done
	done
}

NQDS=$QDS NRWS="randread randwrite"
[ $SMOKE = 1 ] && NQDS="32" NRWS="randread"
if ! command -v fio >/dev/null || ! fio --enghelp=nbd >/dev/null 2>&1; then
	skipped+=("NBD rows (fio with the nbd engine is not installed)")
else
	if [ $NBD_READY = 1 ]; then
		fio_nbd nbd-cxlflashd-ram "nbd+unix:///bench-ram?socket=$NSOCK" "$DPID" "$NQDS" "$NRWS"
	fi
	if [ $SMOKE = 1 ]; then
		:   # the smoke measures our server only
	elif command -v nbdkit >/dev/null; then
		KSOCK=$OUT/nbdkit-$$.sock KPIDF=$OUT/nbdkit-$$.pid
		# Without -f nbdkit forks once it listens: its exit is the readiness check.
		if nbdkit -U "$KSOCK" -P "$KPIDF" memory "${SIZE_MB}M" 2>>"$OUT/fio.log"; then
			KPID=$(cat "$KPIDF")
			fio_nbd nbd-nbdkit-memory "nbd+unix:///?socket=$KSOCK" "$KPID" "$NQDS" "$NRWS"
			kill "$KPID" 2>/dev/null || true
			KPID=""
		else
			log "FAILED: nbdkit memory did not start"
			failed=$((failed + 1))
		fi
		rm -f "$KSOCK" "$KPIDF"
	else
		skipped+=("nbdkit memory plugin (nbdkit is not installed)")
	fi
fi
if [ -n "$DPID" ]; then
	kill "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
	DPID=""
fi
rm -f "$SOCK" "$NSOCK"
# -----------------------------------------------------------------------------

# ---- tenants (issue 12): a victim beside a noisy neighbour, fair share ----
# Two test programs measure and append JSON lines ("tenants"):
# integration-noisy_neighbour (a QD 1 4 KiB reader's latency beside 256 MiB
# WRITE SAMEs of data, zeroes and unmap, and beside vLUNs made, filled and
# released back to back, embedded, one AFU worker) and daemon-fair (a QD 1
# tenant's IOPS alone and beside 32 reads of 4 KiB or 64 KiB in flight,
# two processes through cxlflashd, one AFU worker).
TBIN=$BUILD/tests
if [ -n "$ONLY" ] && ! [[ tenants =~ $ONLY ]]; then
	:
elif [ -x "$TBIN/integration-noisy_neighbour" ] && [ -x "$TBIN/daemon-fair" ]; then
	TSECS=2
	[ $SMOKE = 1 ] && TSECS=1
	log "tenants: noisy neighbour (${TSECS}s per kind)"
	CXLFLASH_BENCH_JSON=$RAW CXLFLASH_NOISY_SECS=$TSECS CXLFLASH_TEST_DIR=$BUILD/testdata \
		"$TBIN/integration-noisy_neighbour" >"$OUT/tenants.log" 2>&1 ||
		{ log "FAILED: integration-noisy_neighbour (see $OUT/tenants.log)"; failed=$((failed + 1)); }
	log "tenants: fair share through cxlflashd (${TSECS}s per phase)"
	CXLFLASH_BENCH_JSON=$RAW CXLFLASH_FAIR_SECS=$TSECS CXLFLASH_TEST_DIR=$BUILD/testdata \
		"$TBIN/daemon-fair" >>"$OUT/tenants.log" 2>&1 ||
		{ log "FAILED: daemon-fair (see $OUT/tenants.log)"; failed=$((failed + 1)); }
else
	skipped+=("tenants rows ($TBIN/integration-noisy_neighbour or daemon-fair not built)")
fi

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
	  tenants: (map(select(has("tenants")) | .tenants) | add // []),
	  callgrind: $cg }' "$RAW" >"$OUT/results.json"

"$(dirname "$0")/report.sh" "$OUT" | tee "$OUT/results.md"
if command -v gnuplot >/dev/null; then
	"$(dirname "$0")/chart.sh" "$OUT" || log "chart failed"
else
	log "gnuplot not installed: no chart"
fi
for s in "${skipped[@]+"${skipped[@]}"}"; do log "skipped: $s"; done

# Done means: a row for every configuration run, valid JSON, the table printed.
rows=$(jq '(.results | length) + (.tenants | length)' "$OUT/results.json")
if [ "$failed" -ne 0 ] || [ "$rows" -eq 0 ] || ! [ -s "$OUT/results.md" ]; then
	log "$failed failed, $rows results"
	exit 1
fi
log "$rows results in $OUT/results.json (${elapsed}s of measurements)"
