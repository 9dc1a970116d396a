#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# chart.sh OUTDIR - OUTDIR/chart.png from OUTDIR/results.json with gnuplot:
# IOPS (top) and system CPU µs per I/O (bottom) of every configuration and
# queue depth, one bar per read/write mix. Log scales: the paths differ by
# orders of magnitude.
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: chart.sh OUTDIR" >&2; exit 2; }
OUT=$1
DAT=$OUT/chart.dat

# one row per "label QDn": iops and cpu for randread, randwrite, randrw ('-' if absent)
jq -r '
	.results as $r | [$r[] | {l: .label, qd: .qd}] | unique_by([.l, .qd]) as $keys |
	($r | map(.label) | reduce .[] as $l ([]; if index([$l]) then . else . + [$l] end)) as $order |
	($keys | sort_by(. as $x | [($order | index([$x.l])), $x.qd]))[] as $k |
	[ "\($k.l) QD\($k.qd)" ] +
	([ "randread", "randwrite", "randrw" ] | map(. as $rw |
		(first($r[] | select(.label == $k.l and .qd == $k.qd and .rw == $rw)) // null) |
		if . == null then "-" else (.iops | tostring) end)) +
	([ "randread", "randwrite", "randrw" ] | map(. as $rw |
		(first($r[] | select(.label == $k.l and .qd == $k.qd and .rw == $rw)) // null) |
		if . == null or .cpu_sys_us <= 0 then "-" else (.cpu_sys_us | tostring) end)) |
	map(gsub(" "; "_")) | join(" ")' "$OUT/results.json" >"$DAT"
[ -s "$DAT" ] || { echo "chart.sh: no results" >&2; exit 1; }
title=$(jq -r '"4 KiB random I/O, \(.meta.ncpu) vCPU, \(.meta.kernel), \(.meta.size_mb) MiB, median of \(.meta.reps) × \(.meta.secs) s\(if .meta.smoke then " (SMOKE)" else "" end)"' "$OUT/results.json")

gnuplot 2> >(grep -v "no valid points" >&2) <<EOF2
set terminal pngcairo size 1600,1000 font "DejaVu Sans,10" noenhanced
set output "$OUT/chart.png"
set datafile missing "-"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set grid ytics
set key top right
set logscale y
set multiplot layout 2,1 title "$title"
set ylabel "IOPS (log)"
set format y "%.0s%c"
set xtics format ""
unset xtics
plot "$DAT" using 2 title "randread" lc rgb "#1f77b4", \
     "" using 3 title "randwrite" lc rgb "#d62728", \
     "" using 4 title "70/30 mix" lc rgb "#2ca02c"
set ylabel "system CPU µs per I/O (log)"
set format y "%g"
set xtics rotate by -35 left nomirror font ",9"
set bmargin 9
plot "$DAT" using 5:xtic(stringcolumn(1)) title "randread" lc rgb "#1f77b4", \
     "" using 6 title "randwrite" lc rgb "#d62728", \
     "" using 7 title "70/30 mix" lc rgb "#2ca02c"
unset multiplot
EOF2
