#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# callgrind-count.sh IOCOUNT N OUTDIR - instructions per 4 KiB I/O, the
# deterministic regression guard: run iocount (N one-block requests, one at
# a time, RAM LUN, polling mode) under callgrind for reads and for writes,
# and print JSON with the inclusive instruction counts per I/O of
#   client: cblk_aread/cblk_awrite (submit) + cblk_aresult (complete)
#   afu:    afu_scsi_exec (decode, translate, backend copy, post the IOASA;
#           the queue fetch and the idle polling are not counted: they
#           depend on timing)
set -euo pipefail
[ $# -eq 3 ] || { echo "usage: callgrind-count.sh IOCOUNT N OUTDIR" >&2; exit 2; }
IOCOUNT=$1 N=$2 OUT=$3

# inclusive Ir of one function from a callgrind output file (0 if absent)
ir() {
	callgrind_annotate --inclusive=yes --threshold=100 "$1" 2>/dev/null |
		awk -v f=":$2" '{ for (i = 1; i <= NF; i++) if (substr($i, length($i) - length(f) + 1) == f) { gsub(",", "", $1); print $1; exit } }' |
		grep . || echo 0
}

json="{\"n\":$N"
for op in read write; do
	out=$OUT/callgrind.out.$op
	flag=""
	[ $op = write ] && flag=-w
	line=$(valgrind --tool=callgrind --fair-sched=yes --callgrind-out-file="$out" \
		"$IOCOUNT" -n "$N" -u "${IOCOUNT_SLEEP_US:-1000}" $flag 2>/dev/null)
	misses=$(sed -n 's/.*misses:\([0-9]*\).*/\1/p' <<<"$line")
	submit=$(ir "$out" "cblk_a$op")
	complete=$(ir "$out" cblk_aresult)
	afu=$(ir "$out" afu_scsi_exec)
	json+=$(awk -v op=$op -v n="$N" -v s="$submit" -v c="$complete" -v a="$afu" -v m="${misses:-0}" \
		'BEGIN { printf ",\"%s\":{\"submit\":%.0f,\"complete\":%.0f,\"client\":%.0f,\"afu_exec\":%.0f,\"total\":%.0f,\"misses\":%d}", op, s/n, c/n, (s+c)/n, a/n, (s+c+a)/n, m }')
done
echo "$json}"
