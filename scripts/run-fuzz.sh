#!/usr/bin/env bash
# Runs the libFuzzer harnesses (docs/fuzz.md) one after the other, each for
# a bounded time over its seed corpus, and says how much CPU each used.
#
#   scripts/run-fuzz.sh [--build DIR] [--time SECONDS] [NAME]...
#     --build DIR     the fuzz build (default build-fuzz; `make build-fuzz`)
#     --time SECONDS  fuzzing time per harness (default 60); 0 only replays
#                     the corpus (every seed and regression input once)
#     NAME            wire, nbd, afu, lunspec, config, kv (default: all)
#
# Each run reads tests/fuzz/corpus/NAME/ (never written here) and keeps
# what it finds in DIR/fuzz/corpus/NAME/; a crashing input is saved as
# DIR/fuzz/artifacts/NAME/crash-* (or leak-*, timeout-*, oom-*). The
# fuzzer's output is DIR/fuzz/logs/NAME.log; one line per run is appended
# to DIR/fuzz/cpu.tsv (date, harness, wall s, CPU s, executions).
# Exit status: 0 when every harness ran clean, 1 when one crashed.
set -uo pipefail
cd "$(dirname "$0")/.."

build=build-fuzz
secs=60
names=()
while [ $# -gt 0 ]; do
	case "$1" in
	--build) build=$2; shift 2 ;;
	--time) secs=$2; shift 2 ;;
	-h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	-*) echo "run-fuzz: unknown option $1" >&2; exit 2 ;;
	*) names+=("$1"); shift ;;
	esac
done
[ ${#names[@]} -gt 0 ] || names=(wire nbd afu lunspec config kv)

# Longest input each harness is given (bytes), and how long one input may
# run before it counts as a hang (seconds): a kv input opens a LUN twice,
# which took over 10 s on a 2-CPU machine at a load of 12.
declare -A MAXLEN=([wire]=8192 [nbd]=16384 [afu]=4096 [lunspec]=4400 [config]=16384 [kv]=4096)
declare -A TIMEOUT=([kv]=30)

rc=0
mkdir -p "$build/fuzz/logs"
for n in "${names[@]}"; do
	bin="$build/fuzz/fuzz_$n"
	seeds="tests/fuzz/corpus/$n"
	work="$build/fuzz/corpus/$n"
	art="$build/fuzz/artifacts/$n"
	log="$build/fuzz/logs/$n.log"
	if [ ! -x "$bin" ]; then
		echo "run-fuzz: $bin not built (make build-fuzz)" >&2
		rc=1
		continue
	fi
	mkdir -p "$work" "$art" "$seeds"
	args=(-timeout="${TIMEOUT[$n]:-10}" -rss_limit_mb=4096 -max_len="${MAXLEN[$n]:-4096}"
	      -artifact_prefix="$art/" -print_final_stats=1)
	if [ "$secs" = 0 ]; then
		args+=(-runs=0)
	else
		args+=(-max_total_time="$secs")
	fi
	tfile=$(mktemp)
	start=$(date +%s.%N)
	# The fuzzer's own CPU (user + system, threads included), from bash's time.
	{ TIMEFORMAT='%U %S'; time "$bin" "${args[@]}" "$work" "$seeds" >"$log" 2>&1; } 2>"$tfile"
	status=$?
	wall=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
	cpu=$(awk '{ printf "%.1f", $1 + $2 }' "$tfile")
	rm -f "$tfile"
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
	printf '%s\t%s\t%.1f\t%s\t%s\n' "$(date -u +%FT%TZ)" "$n" "$wall" "$cpu" "${execs:-0}" \
		>>"$build/fuzz/cpu.tsv"
	if [ $status -eq 0 ]; then
		printf 'fuzz %-8s ok: %s runs, %s, %.0f s wall, %s s CPU\n' "$n" "${execs:-0}" \
			"${cov:-cov: ?}" "$wall" "$cpu"
	else
		rc=1
		printf 'fuzz %-8s FAILED (exit %d) after %.0f s; log %s\n' "$n" "$status" "$wall" "$log"
		grep -E '^(==[0-9]+== ?ERROR|SUMMARY|artifact_prefix)|FUZZ_CHECK|runtime error' "$log" | head -8
		grep -A40 -E '^==[0-9]+== ?ERROR' "$log" | grep -E '^ *#[0-9]' | grep -v -E 'fuzzer::|libc|_start|sanitizer|abort' | head -10
		echo "  reproduce: $bin <the crash file>; once fixed, copy it to $seeds/ (docs/fuzz.md)"
	fi
done
exit $rc
