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
(physical and virtual LUNs, ram and file backends, the file also through
the page cache against pread, embedded and through cxlflashd), over NBD
(fio's nbd engine against cxlflashd's export of a legacy RAM LUN and
against nbdkit's memory plugin; at QD 32, 1 and 4 connections and 512 B
writes against nbdkit and qemu-nbd) and on plain memcpy;
each of ours again beside a CPU hog (one busy process per CPU) right after
the kernel's path under the same hog; the control path; and the scale of
one cxlflashd (512 contexts, 10,240 vLUNs: request times, memory, CPU).
With Ceph installed, also 4 KiB random read and write at QD 1 and 16 on an
RBD image of a throwaway one-node cluster (issue 17): the superpipe
embedded and through cxlflashd, fio's rbd engine and \`rbd bench\`.
Then tenants: a reader's latency beside a noisy neighbour, and a QD 1
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
  --no-rbd        skip the Ceph RBD rows (a throwaway one-node cluster)
  --rbd           run them in a --smoke too (one row of each kind)
  --rbd-size-mb N the RBD image's size (default 256)
  --keep-data     keep the data file afterwards (its space is reused when the size matches)
  --smoke         seconds, not minutes: tiny sizes and durations, one mix;
                  checks only that everything ran and produced its output
  -h, --help      this help

Environment: CXLFLASH_* and CFLSH_BLK_* knobs reach the engine unchanged.
Exit status: 0, 1 if a measurement failed or output is missing.
EOF
}

BUILD=build OUT="" DIR="" SIZE_MB=1024 SECS=1.5 REPS=3 ONLY="" LOOP=1 CALLGRIND=1
KEEP=0 SMOKE=0 WARMUP=0.25 CTL_N=500 CG_N=2000 RBD=1 RBD_MB=256
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
	--no-rbd) RBD=0 ;;
	--rbd) RBD=2 ;;
	--rbd-size-mb) RBD_MB=$2; shift ;;
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
for p in iobench ctlbench iocount scalebench; do
	[ -x "$BIN/$p" ] || { echo "run-bench: $BIN/$p not built (make build)" >&2; exit 1; }
done
command -v jq >/dev/null || { echo "run-bench: jq is needed (scripts/install-deps.sh)" >&2; exit 1; }
mkdir -p "$OUT" "$DIR"
FILE=$DIR/bench-$SIZE_MB.dat                  # the data every file path shares
SHM=/dev/shm/cxlflash-bench-$$.dat            # tmpfs twin, unique per run
TSV=$OUT/results.tsv RAW=$OUT/results.jsonl
LOOPDEV="" DPID="" KPID="" CEPH_DIR=""
CEPH_CLUSTER=$(cd "$(dirname "$0")/.." && pwd)/tests/lib/ceph-cluster.sh
: >"$TSV"
: >"$RAW"
: >"$OUT/control.tsv"
failed=0 skipped=()

# The CPU hog (HOG SECTION below): one busy shell loop per CPU.
HOGS=()
hog_start() {
	local i
	for i in $(seq "$(nproc)"); do
		sh -c 'while :; do :; done' &
		HOGS+=($!)
	done
	log "CPU hog: ${#HOGS[@]} busy processes (${HOGS[*]})"
}
hog_stop() {
	[ ${#HOGS[@]} -eq 0 ] && return 0
	kill "${HOGS[@]}" 2>/dev/null || true
	wait "${HOGS[@]}" 2>/dev/null || true
	HOGS=()
}

cleanup() {
	hog_stop
	[ -n "$DPID" ] && kill "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
	[ -n "$KPID" ] && kill "$KPID" 2>/dev/null
	[ -n "$LOOPDEV" ] && losetup -d "$LOOPDEV" 2>/dev/null
	[ -n "$CEPH_DIR" ] && "$CEPH_CLUSTER" stop "$CEPH_DIR" 2>/dev/null
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
			if [ -n "${PAIR:-}" ]; then
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
# more than the gap the file-backend target is about. So every row of ours
# on the file (PAIR=1) is preceded by the same io_uring O_DIRECT run on the
# same file at the same QD (label pair-LABEL), and the target compares the two.
RAM=ram:${SIZE_MB}M
run cblk-phys-ram cblk "$RAM" "$QDS" --prefill
run cblk-virt-ram cblk "$RAM" "$QDS" --prefill --virt
run cblk-phys-ram-thread cblk "$RAM" "$QDS" --prefill --intr-thread
PAIR=1 run cblk-phys-file cblk "$FILE" "$QDS"
# QD 1 as a program makes it with synchronous calls (cblk_read/cblk_write):
# the caller runs the AFU's pass itself (docs/design.md, "Inline execution")
PAIR=1 run cblk-sync-phys-file cblk-sync "$FILE" "1"
PAIR=1 RELAY=1 run cblk-virt-file cblk "$FILE" "$QDS" --virt   # fresh data before each (see relay_file)
{ [ -z "$ONLY" ] || [[ cblk-virt-file =~ $ONLY ]]; } && relay_file
# The page-cached file (issue 13): IBM's only software mode is a pread per
# I/O in the caller; ours is CXLFLASH_NO_DIRECT=1 (buffered reads through
# the AFU's io_uring). randread, right after pread on the same warm cache.
if [ $SMOKE = 0 ]; then
	cat "$FILE" >/dev/null
	RWS=100 run cached-K-pread pread "$FILE" "1"
	RWS=100 CXLFLASH_NO_DIRECT=1 run cblk-cached-file cblk "$FILE" "$QDS"
	sync "$FILE"
fi

# ---- beside a CPU hog (issue 13) -------------------------------------------
# HOG SECTION: one busy process per CPU (a shell loop at the default nice
# level, as another user's program would be) runs while each of our paths
# is measured, and the kernel's path on the same data is measured just
# before it under the same hog: hog-K-... is the kernel's row, hog-... ours.
# randread only (the smoke: its one mix); ours at QD 1 and 32.
HRWS="100"
[ $SMOKE = 1 ] && HRWS=$RWS
HQDS=$QDS
[ $SMOKE = 1 ] && HQDS="32"
# A hog part runs when --only may pick one of its rows (run() picks the rows).
hog_wanted() { [ -z "$ONLY" ] || [[ $ONLY == *hog* ]]; }
# hog_pair LABEL KTARGET KPATH KQDS TARGET PATH QDS [our iobench args...]:
# the kernel's row (hog-K-LABEL) then ours (hog-LABEL), both under the hog.
hog_pair() {
	local label=$1 ktarget=$2 kpath=$3 kqds=$4 target=$5 path=$6 qds=$7
	shift 7
	RWS=$HRWS run "hog-K-$label" "$ktarget" "$kpath" "$kqds"
	RWS=$HRWS run "hog-$label" "$target" "$path" "$qds" "$@"
}
if hog_wanted; then
	[ -f "$SHM" ] || dd if=/dev/zero of="$SHM" bs=1M count="$SIZE_MB" status=none
	cat "$FILE" >/dev/null                    # the page-cached rows read a warm cache
	hog_start
	# shellcheck disable=SC2046  # the smoke reads unwritten RAM: no prefill
	hog_pair ram pread "$SHM" 1 cblk "$RAM" "$HQDS" $([ $SMOKE = 1 ] || echo --prefill)
	if [ $SMOKE = 0 ]; then                   # the smoke: this one pair
		CXLFLASH_NO_DIRECT=1 hog_pair cached-file pread "$FILE" 1 cblk "$FILE" "$HQDS"
		sync "$FILE"
		for q in $HQDS; do                    # each QD right after io_uring's at that QD
			hog_pair file uring "$FILE" "$q" cblk "$FILE" "$q"
		done
	fi
	hog_stop
	rm -f "$SHM"
fi

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
# start_daemon LOG SECS ARGS...: cxlflashd with ARGS in the background
# (stderr to LOG), its pid in DPID and its first line in `ready`; success
# once it says it is ready within SECS. stop_daemon ends it.
start_daemon() {
	local dlog=$1 secs=$2 fifo=$OUT/cxlflashd-$$.ready
	shift 2
	rm -f "$fifo"
	mkfifo "$fifo"
	"$DAEMON" "$@" >"$fifo" 2>"$dlog" &
	DPID=$!
	ready=""
	exec 3<"$fifo"
	read -r -t "$secs" -u 3 ready || true
	exec 3<&-
	rm -f "$fifo"
	[[ $ready == "cxlflashd: ready"* ]]
}

stop_daemon() {
	kill "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
	DPID=""
}

SOCK=$OUT/cxlflashd-$$.sock NSOCK=$OUT/cxlflashd-nbd-$$.sock
# Within the 10 minutes of `make bench`: randread and randwrite only (the
# mix is measured embedded), and QD 1 only where a target or the NBD
# comparison uses it (daemon-phys-ram).
DRWS="100 0"
NBD_READY=0
if [ $SMOKE = 1 ]; then DRWS=$RWS; fi               # the smoke: its one mix
if [ -x "$DAEMON" ] && [ -x "$ADMIN" ]; then
	rm -f "$SOCK" "$NSOCK"
	if start_daemon "$OUT/cxlflashd.log" 10 --socket "$SOCK" --nbd-socket "$NSOCK" --nbd-tcp none \
		--lun "bench-ram=$RAM" --lun "bench-file=$FILE" --lun "bench-ctl=ram:2G"; then
		log "$ready (pid $DPID)"
		export CXLFLASH_SOCKET=$SOCK
		if [ $SMOKE = 1 ]; then
			RWS=$DRWS run daemon-phys-ram cblk bench-ram "32" --prefill --cpu-pid "$DPID"
		else
			RWS=$DRWS run daemon-phys-ram cblk bench-ram "$QDS" --prefill --cpu-pid "$DPID"
			# the same with plain buffers, staged through the DMA area (issue 13's before)
			RWS=$DRWS run daemon-phys-ram-staged cblk bench-ram "32" --prefill --plain-bufs --cpu-pid "$DPID"
			RWS=$DRWS run daemon-virt-ram cblk bench-ram "32" --prefill --virt --cpu-pid "$DPID"
			PAIR=1 RWS=$DRWS run daemon-phys-file cblk bench-file "32" --cpu-pid "$DPID"
		fi
		# The HOG SECTION's daemon rows (RAM LUN prefilled again: --only may
		# have skipped the rows above); not in the smoke, which has one pair.
		if hog_wanted && [ $SMOKE = 0 ]; then
			dd if=/dev/zero of="$SHM" bs=1M count="$SIZE_MB" status=none
			hog_start
			hog_pair daemon-ram pread "$SHM" 1 cblk bench-ram 32 --prefill --cpu-pid "$DPID"
			hog_pair daemon-file uring "$FILE" 32 cblk bench-file 32 --cpu-pid "$DPID"
			hog_stop
			rm -f "$SHM"
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

# with_nbdkit FUNC LABEL [ARGS...]: FUNC LABEL URI PID ARGS... against an
# nbdkit memory plugin of SIZE_MB started for it (without -f nbdkit forks
# once it listens: its exit is the readiness check), stopped after.
with_nbdkit() {
	local fn=$1 label=$2
	shift 2
	KSOCK=$OUT/nbdkit-$$.sock KPIDF=$OUT/nbdkit-$$.pid
	if nbdkit -U "$KSOCK" -P "$KPIDF" memory "${SIZE_MB}M" 2>>"$OUT/fio.log"; then
		KPID=$(cat "$KPIDF")
		"$fn" "$label" "nbd+unix:///?socket=$KSOCK" "$KPID" "$@"
		kill "$KPID" 2>/dev/null || true
		KPID=""
	else
		log "FAILED: nbdkit memory did not start"
		failed=$((failed + 1))
	fi
	rm -f "$KSOCK" "$KPIDF"
}

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
pid_ticks() { if [ -z "$1" ]; then echo 0; else sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; fi; }

# fio_one LABEL URI PID RW QD [TARGET]: one configuration, REPS reps,
# medians. TARGET (or the environment's TARGET; default fio-nbd): the nbd
# engine on URI, PID the server;
# fio-rbd: the rbd engine on the image URI (POOL/IMAGE), PID unused (""),
# its CPU that of the whole fio process less FIO_RBD_BASE (below).
# Environment: BS (default 4k), JOBS (connections, one per fio job; their
# IOPS summed; default 1; nbd only).
fio_one() {
	local label=$1 uri=$2 pid=$3 rw=$4 qd=$5 target=${6:-${TARGET:-fio-nbd}} key runs="" tmp=$OUT/fio-$$.json
	local ms wms s0 s1 p0 p1 t0 t1 rep eng self bs=${BS:-4k} jobs=${JOBS:-1}
	key=${rw#rand}
	ms=$(awk -v s="$SECS" 'BEGIN { printf "%d", s * 1000 }')
	wms=$(awk -v s="$WARMUP" 'BEGIN { printf "%d", s * 1000 }')
	if [ "$target" = fio-rbd ]; then
		eng=(--ioengine=rbd --pool="${uri%%/*}" --rbdname="${uri#*/}" --clientname=admin)
	else
		eng=(--ioengine=nbd --uri="$uri")
	fi
	for rep in $(seq "$REPS"); do
		if [ "$target" = fio-rbd ]; then
			# fio counts a job's CPU with RUSAGE_THREAD: librbd's threads
			# would be left out. So the whole process's user + system time
			# (/usr/bin/time), less that of a run of one I/O (start,
			# connection, exit: rbd_base), over every I/O of the run (no
			# ramp, whose I/Os fio would not count).
			s0=$(busy_ticks) t0=$(date +%s%N)
			/usr/bin/time -f '%U %S' -o "$tmp.time" fio --name="$label" "${eng[@]}" \
				--rw="$rw" --bs=4k --iodepth="$qd" --thread --time_based \
				--runtime="${ms}ms" --lat_percentiles=1 --percentile_list=50:99:99.9 \
				--output-format=json --output="$tmp" >/dev/null 2>>"$OUT/fio.log" || return 1
			s1=$(busy_ticks) t1=$(date +%s%N)
			p0=0 p1=0
			self=$(awk -v b="$FIO_RBD_BASE" '{ c = $1 + $2 - b; print (c > 0 ? c : 0) }' "$tmp.time")
			rm -f "$tmp.time"
		else
			s0=$(busy_ticks) p0=$(pid_ticks "$pid") t0=$(date +%s%N)
			fio --name="$label" "${eng[@]}" --rw="$rw" --bs="$bs" --iodepth="$qd" \
				--numjobs="$jobs" --group_reporting --time_based --runtime="${ms}ms" --ramp_time="${wms}ms" --lat_percentiles=1 \
				--percentile_list=50:99:99.9 --output-format=json --output="$tmp" \
				>/dev/null 2>>"$OUT/fio.log" || return 1
			s1=$(busy_ticks) p1=$(pid_ticks "$pid") t1=$(date +%s%N)
			self=-1
		fi
		runs+=$(jq -c --arg k "$key" --argjson wall "$(((t1 - t0) / 1000))" \
			--argjson sys "$((s1 - s0))" --argjson extra "$((p1 - p0))" --argjson tick "$TICK" \
			--argjson self "$self" '
			.jobs[0] as $j | $j[$k] as $d | $d.iops as $iops | ($iops * $wall / 1e6) as $ops |
			{ iops: $iops,
			  p50_us: ($d.lat_ns.percentile["50.000000"] / 1000),
			  p99_us: ($d.lat_ns.percentile["99.000000"] / 1000),
			  p999_us: ($d.lat_ns.percentile["99.900000"] / 1000),
			  cpu_proc_us: (if $d.total_ios == 0 then 0
					elif $self < 0 then ($j.usr_cpu + $j.sys_cpu) / 100 *
					$j.job_runtime * 1000 / $d.total_ios
					else $self * 1e6 / $d.total_ios end),
			  cpu_extra_us: (if $ops > 0 then $extra / $tick * 1e6 / $ops else 0 end),
			  cpu_sys_us: (if $ops > 0 then $sys / $tick * 1e6 / $ops else 0 end) }' "$tmp")
		runs+=$'\n'
	done
	rm -f "$tmp"
	printf '%s' "$runs" | jq -sc --arg lab "$label" --arg uri "$uri" --arg rw "$rw" \
		--argjson qd "$qd" --argjson secs "$SECS" --argjson span "$((SIZE_MB << 8))" \
		--arg target "$target" --arg bs "$bs" --argjson jobs "$jobs" '
		def med: sort | if length % 2 == 1 then .[length / 2 | floor]
			else (.[length / 2 - 1] + .[length / 2]) / 2 end;
		. as $r | { label: $lab, target: $target, bs: $bs, conns: $jobs, path: $uri, rw: $rw,
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
		with_nbdkit fio_nbd nbd-nbdkit-memory "$NQDS" "$NRWS"
	else
		skipped+=("nbdkit memory plugin (nbdkit is not installed)")
	fi
fi

# ---- NBD against nbdkit and qemu-nbd (issue 14) -----------------------------
# One run, the same fio nbd engine: 4 KiB randread and randwrite at QD 32 on
# one connection and on 4 (fio --numjobs=4: a connection per job, IOPS
# summed; every server here advertises multi-conn, qemu-nbd with
# --shared=8), and 512 B random writes at QD 32 (read-modify-write on our
# file LUN). Ours: cxlflashd's legacy RAM LUN and its file LUN (switched to
# legacy; O_DIRECT, io_uring); theirs: nbdkit's memory plugin and qemu-nbd
# on the same data file (its defaults: the page cache), run after cxlflashd
# has let the file go. Target "fio-nbd14"; the report compares ours with
# the better of the two.
N14=0
if [ $SMOKE = 0 ] && command -v fio >/dev/null && fio --enghelp=nbd >/dev/null 2>&1 &&
	{ [ -z "$ONLY" ] || [[ nbd14- =~ $ONLY ]] || [[ nbd14 =~ $ONLY ]]; }; then
	N14=1
fi
# nbd14 LABEL URI PID: the rows of one server.
nbd14() {
	local label=$1 uri=$2 pid=$3 rw j
	ONLY="" fio_nbd "$label" "$uri" "$pid" "" "" || true    # the prefill only
	for j in 1 4; do
		for rw in randread randwrite; do
			log "$label-j$j rw=$rw qd=32"
			JOBS=$j TARGET=fio-nbd14 fio_one "$label-j$j" "$uri" "$pid" "$rw" 32 ||
				{ log "FAILED: $label-j$j $rw"; failed=$((failed + 1)); }
		done
	done
	log "$label-512 rw=randwrite qd=32 bs=512"
	BS=512 TARGET=fio-nbd14 fio_one "$label-512" "$uri" "$pid" randwrite 32 ||
		{ log "FAILED: $label-512"; failed=$((failed + 1)); }
}
if [ $N14 = 1 ] && [ $NBD_READY = 1 ]; then
	nbd14 nbd14-cxlflashd-ram "nbd+unix:///bench-ram?socket=$NSOCK" "$DPID"
	if "$ADMIN" lun mode bench-file legacy --socket "$SOCK" >/dev/null; then
		nbd14 nbd14-cxlflashd-file "nbd+unix:///bench-file?socket=$NSOCK" "$DPID"
	else
		log "FAILED: cxlflash lun mode bench-file legacy"
		failed=$((failed + 1))
	fi
fi
[ -n "$DPID" ] && stop_daemon
rm -f "$SOCK" "$NSOCK"
if [ $N14 = 1 ]; then
	if command -v nbdkit >/dev/null; then
		with_nbdkit nbd14 nbd14-nbdkit-memory
	else
		skipped+=("issue 14 NBD rows of nbdkit (not installed)")
	fi
	if command -v qemu-nbd >/dev/null; then
		# qemu-nbd takes only an absolute socket path (OUT may be relative).
		QSOCK=$(cd "$OUT" && pwd)/qemu-nbd-$$.sock QPIDF=$OUT/qemu-nbd-$$.pid
		# --fork: qemu-nbd returns once the socket listens.
		if qemu-nbd --fork --pid-file="$QPIDF" -k "$QSOCK" -f raw --shared=8 -t "$FILE" \
			2>>"$OUT/fio.log"; then
			KPID=$(cat "$QPIDF")
			nbd14 nbd14-qemu-nbd-file "nbd+unix:///?socket=$QSOCK" "$KPID"
			kill "$KPID" 2>/dev/null || true
			KPID=""
		else
			log "FAILED: qemu-nbd did not start"
			failed=$((failed + 1))
		fi
		rm -f "$QSOCK" "$QPIDF"
	else
		skipped+=("issue 14 NBD rows of qemu-nbd (not installed)")
	fi
fi
# -----------------------------------------------------------------------------

# ---- scale of one daemon (issue 13) ----------------------------------------
# SCALE SECTION: a cxlflashd of its own serving one sparse file LUN of
# 4 TiB, quotas lifted (--quota default:contexts=unlimited,chunks=unlimited;
# root is exempt anyway), and bench/scalebench on it: 512 contexts (all the
# AFU has), 10,240 one-chunk vLUNs over them, one vLUN of 1 TiB; the
# daemon's RSS and CPU from /proc/PID. vLUNs allocate chunks without
# writing them and freed chunks are discarded, so the file stays sparse.
SC_CTX=512 SC_VLUN=10240 SC_IDLE=2
[ $SMOKE = 1 ] && SC_CTX=16 SC_VLUN=64 SC_IDLE=0
if [ -x "$DAEMON" ] && { [ -z "$ONLY" ] || [[ scale =~ $ONLY ]]; }; then
	SC_IMG=$DIR/scale-$$.img SC_SOCK=$OUT/cxlflashd-scale-$$.sock
	SC_NSOCK=$OUT/cxlflashd-scale-nbd-$$.sock
	rm -f "$SC_SOCK" "$SC_NSOCK" "$SC_IMG"
	if start_daemon "$OUT/cxlflashd-scale.log" 10 --socket "$SC_SOCK" --nbd-socket "$SC_NSOCK" \
		--nbd-tcp none --quota default:contexts=unlimited,chunks=unlimited \
		--lun "scale=file:$SC_IMG?size=4T"; then
		log "scale: $SC_CTX contexts, $SC_VLUN vLUNs on one cxlflashd (pid $DPID)"
		CXLFLASH_SOCKET=$SC_SOCK "$BIN/scalebench" -d scale -c "$SC_CTX" -v "$SC_VLUN" \
			-i "$SC_IDLE" -p "$DPID" -j "$RAW" >"$OUT/scale.tsv" ||
			{ log "FAILED: scalebench"; failed=$((failed + 1)); }
	else
		log "FAILED: the scale cxlflashd did not get ready (see $OUT/cxlflashd-scale.log)"
		failed=$((failed + 1))
	fi
	stop_daemon
	rm -f "$SC_SOCK" "$SC_NSOCK" "$SC_IMG"
fi

# ---- Ceph RBD (issue 17) ----------------------------------------------------
# A throwaway one-node cluster (tests/lib/ceph-cluster.sh: one mon, one
# memstore OSD on 127.0.0.1) and one image of RBD_MB MiB written whole first
# (fio's rbd engine, 1 MiB writes), then 4 KiB randread and randwrite at QD 1
# and 16 on it: the superpipe embedded (rbd-cblk; librbd runs in the
# benchmark's process) and through cxlflashd (rbd-daemon; the daemon's CPU
# added with --cpu-pid), fio's rbd engine (fio-rbd; CPU: the job process,
# librbd's threads included) and `rbd bench` (rbd-bench; CPU: the rbd
# process's user + system time from /usr/bin/time, over its whole run, start
# and connection included; no latency percentiles). The cluster's own CPU
# (mon, OSD) counts only in the system column. librbd's cache is Ceph's
# default for all of them, except that it is write-back from the first write
# (rbd_cache_writethrough_until_flush = false). fio's and rbd bench's CPU is measured over their
# whole run, less that of a run of one I/O (start-up, connection, exit).
rbd_bench_one() {
	local label=$1 rw=$2 qd=$3 type ops tmp=$OUT/rbd-bench-$$.txt runs="" rep n
	type=${rw#rand}
	n=$(awk -v s="$SECS" -v q="$qd" 'BEGIN { printf "%d", (q == 1 ? 2000 : 8000) * s }')
	for rep in $(seq "$REPS"); do
		s0=$(busy_ticks) t0=$(date +%s%N)
		/usr/bin/time -f 'TIME %e %U %S' rbd bench --io-type "$type" --io-size 4K \
			--io-threads "$qd" --io-pattern rand --io-total $((n * 4096)) rbd/bench \
			>"$tmp" 2>&1 || { cat "$tmp" >>"$OUT/fio.log"; return 1; }
		s1=$(busy_ticks) t1=$(date +%s%N)
		runs+=$(awk -v sys="$((s1 - s0))" -v tick="$TICK" -v wall="$(((t1 - t0) / 1000))" \
			-v base="$RBD_BENCH_BASE" '
			/^elapsed:/ { ops = $4; iops = $6 }
			/^TIME / { cpu = $3 + $4 - base; if (cpu < 0) cpu = 0 }
			END { if (ops > 0) printf "{\"iops\":%f,\"cpu_proc_us\":%f,\"cpu_sys_us\":%f}",
				iops, cpu * 1e6 / ops, sys / tick * 1e6 / (iops * wall / 1e6) }' "$tmp")
		runs+=$'\n'
	done
	rm -f "$tmp"
	printf '%s' "$runs" | jq -sc --arg lab "$label" --arg rw "$rw" --argjson qd "$qd" \
		--argjson secs "$SECS" --argjson span "$((RBD_MB << 8))" '
		def med: sort | if length % 2 == 1 then .[length / 2 | floor]
			else (.[length / 2 - 1] + .[length / 2]) / 2 end;
		. as $r | { label: $lab, target: "rbd-bench", path: "rbd/bench", rw: $rw,
		  read_pct: (if $rw == "randread" then 100 else 0 end), qd: $qd, secs: $secs,
		  reps: ($r | length), span_blocks: $span, virt: false, intr_thread: false, lat_every: 1,
		  p50_us: null, p99_us: null, p999_us: null, cpu_extra_us: 0 } +
		( ["iops", "cpu_proc_us", "cpu_sys_us"] |
		  map({ key: ., value: (. as $k | $r | map(.[$k]) | med) }) | from_entries ) +
		{ runs: $r }' >>"$RAW"
	jq -r --arg lab "$label" --arg rw "$rw" --argjson qd "$qd" 'select(.label == $lab and
		.rw == $rw and .qd == $qd) | [.label, .rw, .qd, (.iops | round), "-", "-", "-",
		.cpu_proc_us, .cpu_sys_us] | @tsv' "$RAW" | tail -1 >>"$TSV"
}

rbd_rows() {
	local rc=0 rw qd RBD_QDS="1 16" RBD_RWS="100 0" fifo ready
	[ $SMOKE = 1 ] && RBD_QDS="16" RBD_RWS="0"
	local nbase=3
	[ $SMOKE = 1 ] && nbase=1
	CEPH_DIR=$OUT/ceph-$$
	"$CEPH_CLUSTER" start "$CEPH_DIR" rbd >"$OUT/ceph.log" 2>&1 || rc=$?
	if [ $rc = 77 ]; then
		CEPH_DIR=""
		skipped+=("RBD rows (Ceph is not installed: scripts/install-deps.sh test)")
		return 0
	elif [ $rc != 0 ]; then
		CEPH_DIR=""
		log "FAILED: the Ceph test cluster did not start (see $OUT/ceph.log)"
		failed=$((failed + 1))
		return 0
	fi
	export CEPH_CONF=$CEPH_DIR/ceph.conf
	# librbd's cache write-back from the first write for every client (its
	# default is write-through until the image's first flush, which fio's
	# rbd engine and iobench would reach at different times or never).
	echo "rbd cache writethrough until flush = false" >>"$CEPH_CONF"   # in [client]
	log "Ceph cluster up in $CEPH_DIR; writing rbd/bench ($RBD_MB MiB)"
	if ! rbd create --size "${RBD_MB}M" rbd/bench 2>>"$OUT/ceph.log" ||
		! fio --name=prefill --ioengine=rbd --pool=rbd --rbdname=bench --clientname=admin \
			--rw=write --bs=1M --iodepth=4 --output="$OUT/fio-prefill.txt" \
			>/dev/null 2>>"$OUT/fio.log"; then
		log "FAILED: creating and writing rbd/bench (see $OUT/ceph.log, $OUT/fio.log)"
		failed=$((failed + 1))
		return 0
	fi
	# What fio and rbd bench cost to start, connect and exit (the median
	# of three runs of one I/O): taken off their CPU, which they measure
	# over their whole run, unlike iobench.
	FIO_RBD_BASE=$(for i in $(seq $nbase); do
		/usr/bin/time -f '%U %S' fio --name=base --ioengine=rbd --pool=rbd --rbdname=bench \
			--clientname=admin --rw=randread --bs=4k --number_ios=1 --thread \
			--output=/dev/null 2>&1 >/dev/null | tail -1; done |
		awk '{ print $1 + $2 }' | sort -n | sed -n "$(((nbase + 1) / 2))p")
	RBD_BENCH_BASE=$(for i in $(seq $nbase); do
		/usr/bin/time -f '%U %S' rbd bench --io-type read --io-size 4K --io-threads 1 \
			--io-total 4096 rbd/bench 2>&1 >/dev/null | tail -1; done |
		awk '{ print $1 + $2 }' | sort -n | sed -n "$(((nbase + 1) / 2))p")
	log "start-up CPU taken off: fio ${FIO_RBD_BASE:-?} s, rbd bench ${RBD_BENCH_BASE:-?} s"
	FIO_RBD_BASE=${FIO_RBD_BASE:-0} RBD_BENCH_BASE=${RBD_BENCH_BASE:-0}
	RWS=$RBD_RWS run rbd-cblk cblk "rbd:rbd/bench" "$RBD_QDS"
	if [ -x "$DAEMON" ] && { [ -z "$ONLY" ] || [[ rbd-daemon =~ $ONLY ]]; }; then
		rm -f "$SOCK"
		if start_daemon "$OUT/cxlflashd-rbd.log" 30 --socket "$SOCK" --nbd-socket none \
			--nbd-tcp none --lun "bench-rbd=rbd:rbd/bench"; then
			CXLFLASH_SOCKET=$SOCK RWS=$RBD_RWS run rbd-daemon cblk bench-rbd "$RBD_QDS" \
				--cpu-pid "$DPID"
		else
			log "FAILED: cxlflashd on rbd/bench did not get ready (see $OUT/cxlflashd-rbd.log)"
			failed=$((failed + 1))
		fi
		stop_daemon
		rm -f "$SOCK"
	fi
	for rw in $RBD_RWS; do
		rw=$([ "$rw" = 100 ] && echo randread || echo randwrite)
		for qd in $RBD_QDS; do
			if [ -z "$ONLY" ] || [[ fio-rbd =~ $ONLY ]]; then
				log "fio-rbd rw=$rw qd=$qd"
				fio_one fio-rbd rbd/bench "" "$rw" "$qd" fio-rbd ||
					{ log "FAILED: fio-rbd rw=$rw qd=$qd (see $OUT/fio.log)"; failed=$((failed + 1)); }
			fi
			if [ -z "$ONLY" ] || [[ rbd-bench =~ $ONLY ]]; then
				log "rbd-bench rw=$rw qd=$qd"
				rbd_bench_one rbd-bench "$rw" "$qd" ||
					{ log "FAILED: rbd bench rw=$rw qd=$qd (see $OUT/fio.log)"; failed=$((failed + 1)); }
			fi
		done
	done
	unset CEPH_CONF
	"$CEPH_CLUSTER" stop "$CEPH_DIR" >>"$OUT/ceph.log" 2>&1
	CEPH_DIR=""
}
if [ $RBD = 0 ]; then
	skipped+=("RBD rows (--no-rbd)")
elif [ $SMOKE = 1 ] && [ $RBD != 2 ]; then
	skipped+=("RBD rows (--smoke: a Ceph cluster takes too long; add --rbd)")
elif [ -n "$ONLY" ] && ! [[ rbd-cblk =~ $ONLY || rbd-daemon =~ $ONLY || fio-rbd =~ $ONLY || rbd-bench =~ $ONLY ]]; then
	:
elif ! command -v fio >/dev/null || ! fio --enghelp=rbd >/dev/null 2>&1 || ! command -v rbd >/dev/null ||
	! [ -x /usr/bin/time ]; then
	skipped+=("RBD rows (fio with the rbd engine, rbd or /usr/bin/time missing: scripts/install-deps.sh test)")
else
	rbd_rows
fi

# ---- tenants (issue 12): a victim beside a noisy neighbour, fair share ----
# Three test programs measure and append JSON lines ("tenants"):
# integration-noisy_neighbour (a QD 1 4 KiB reader's latency beside 256 MiB
# WRITE SAMEs of data, zeroes and unmap, and beside vLUNs made, filled and
# released back to back, embedded, one AFU worker; each kind and the victim
# alone), daemon-scrub (the same victim through cxlflashd, alone and beside a
# neighbour filling and releasing vLUNs) and daemon-fair (a QD 1
# tenant's IOPS alone and beside 32 reads of 4 KiB or 64 KiB in flight,
# two processes through cxlflashd, one AFU worker).
TBIN=$BUILD/tests
if [ -n "$ONLY" ] && ! [[ tenants =~ $ONLY ]]; then
	:
elif [ -x "$TBIN/integration-noisy_neighbour" ] && [ -x "$TBIN/daemon-fair" ] &&
     [ -x "$TBIN/daemon-scrub" ]; then
	TSECS=2
	[ $SMOKE = 1 ] && TSECS=1
	log "tenants: noisy neighbour (${TSECS}s per kind)"
	CXLFLASH_BENCH_JSON=$RAW CXLFLASH_NOISY_SECS=$TSECS CXLFLASH_TEST_DIR=$BUILD/testdata \
		"$TBIN/integration-noisy_neighbour" >"$OUT/tenants.log" 2>&1 ||
		{ log "FAILED: integration-noisy_neighbour (see $OUT/tenants.log)"; failed=$((failed + 1)); }
	log "tenants: a victim beside releases through cxlflashd (${TSECS}s per phase)"
	CXLFLASH_BENCH_JSON=$RAW CXLFLASH_NOISY_SECS=$TSECS CXLFLASH_TEST_DIR=$BUILD/testdata \
		"$TBIN/daemon-scrub" >>"$OUT/tenants.log" 2>&1 ||
		{ log "FAILED: daemon-scrub (see $OUT/tenants.log)"; failed=$((failed + 1)); }
	log "tenants: fair share through cxlflashd (${TSECS}s per phase)"
	CXLFLASH_BENCH_JSON=$RAW CXLFLASH_FAIR_SECS=$TSECS CXLFLASH_TEST_DIR=$BUILD/testdata \
		"$TBIN/daemon-fair" >>"$OUT/tenants.log" 2>&1 ||
		{ log "FAILED: daemon-fair (see $OUT/tenants.log)"; failed=$((failed + 1)); }
else
	skipped+=("tenants rows ($TBIN/integration-noisy_neighbour, daemon-scrub or daemon-fair not built)")
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
	# The NBD server's instructions per request (needs fio's nbd engine).
	if [ -x "$DAEMON" ] && command -v fio >/dev/null && [ $SMOKE = 0 ]; then
		if NCG=$("$(dirname "$0")/nbd-callgrind.sh" "$DAEMON" "$OUT" 2>>"$OUT/fio.log"); then
			CG=$(jq -c --argjson n "$NCG" '. + { nbd: $n }' <<<"$CG")
		else
			log "FAILED: nbd-callgrind"
			failed=$((failed + 1))
		fi
	fi
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
	  scale: (map(select(has("scale")) | .scale) | add // {}),
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
