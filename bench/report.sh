#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# report.sh OUTDIR - markdown tables from OUTDIR/results.json: every
# measurement, ours against the kernel's paths, the targets
# (reached or missed), the control path and the instruction counts.
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: report.sh OUTDIR" >&2; exit 2; }
J=$1/results.json

jq -r '
def r($l; $rw; $qd): first(.results[] | select(.label == $l and .rw == $rw and .qd == $qd)) // null;
def f0: if . == null then "–" else (. * 1 | round | tostring) end;
def f1: if . == null then "–" else ((. * 10 | round) / 10 | tostring) end;
def f2: if . == null then "–" else ((. * 100 | round) / 100 | tostring) end;
def ratio($a; $b): if $a == null or $b == null or $b == 0 then null else $a / $b end;
def ok($x; $goal; $le): if $x == null then "not measured"
	elif (if $le then $x <= $goal else $x >= $goal end) then "**reached**" else "missed" end;
# ours: through the daemon when it ran, else embedded
def qd1_status($xi; $xc; $o; $u): if $xi == null or $xc == null then "not measured"
	elif $xi >= 0.95 and $xc <= 1.2 and $o.p50_us <= $u.p50_us + 3 then "**reached**" else "missed" end;
def ours(kind): if any(.results[]; .label == "daemon-\(kind)") then "daemon-\(kind)" else "cblk-\(kind)" end;

# targets use randread; a run without it (the smoke) uses the mix
(if any(.results[]; .rw == "randread" and .target != "fio-nbd") then "randread" else "randrw" end) as $trw | (
"## Results (\(.meta.date), \(.meta.ncpu) CPUs \(.meta.cpu), kernel \(.meta.kernel), data on \(.meta.fs), \(.meta.size_mb) MiB, \(.meta.reps) × \(.meta.secs) s, medians\(if .meta.smoke then ", SMOKE RUN" else "" end))",
"",
"| configuration | rw | QD | IOPS | p50 µs | p99 µs | p99.9 µs | CPU µs/IO process | CPU µs/IO system |",
"|---|---|---:|---:|---:|---:|---:|---:|---:|",
(.results[] | "| \(.label) | \(.rw) | \(.qd) | \(.iops | f0) | \(.p50_us | f2) | \(.p99_us | f1) | \(.p999_us | f1) | \(.cpu_proc_us + .cpu_extra_us | f2) | \(.cpu_sys_us | f2) |"),
"",
"## Ours / kernel (IOPS ratio, system CPU per I/O ratio)",
"",
"io_uring O_DIRECT is the run made just before ours at the same QD on the same file (pair-cblk-phys-file) when there is one.",
"",
"| rw | QD | cblk file / io_uring O_DIRECT: IOPS | CPU | cblk file / loop device: IOPS | CPU | cblk ram / tmpfs pread (QD1): IOPS | CPU | cblk ram / memcpy: IOPS |",
"|---|---:|---:|---:|---:|---:|---:|---:|---:|",
(. as $d | [.results[] | select(.label == "cblk-phys-file") | {rw, qd}] | unique[] as $k | $d |
	r("cblk-phys-file"; $k.rw; $k.qd) as $cf |
	(r("pair-cblk-phys-file"; $k.rw; $k.qd) // r("file-uring-direct"; $k.rw; $k.qd)) as $ku |
	r("loop-uring-direct"; $k.rw; $k.qd) as $kl | r("cblk-phys-ram"; $k.rw; $k.qd) as $cr |
	r("tmpfs-pread"; $k.rw; 1) as $kt | r("memcpy"; $k.rw; 1) as $km |
	"| \($k.rw) | \($k.qd) | \(ratio($cf.iops; $ku.iops) | f2) | \(ratio($cf.cpu_sys_us; $ku.cpu_sys_us) | f2) | \(ratio($cf.iops; $kl.iops) | f2) | \(ratio($cf.cpu_sys_us; $kl.cpu_sys_us) | f2) | \(ratio($cr.iops; $kt.iops) | f2) | \(ratio($cr.cpu_sys_us; $kt.cpu_sys_us) | f2) | \(ratio($cr.iops; $km.iops) | f2) |"),
(if any(.results[]; .label == "cblk-sync-phys-file") then
"",
"## QD 1 on the file (issue 13)",
"",
"sync: cblk_read / cblk_write one at a time; async: cblk_aread + cblk_aresult at QD 1 (lone requests, whose wait runs the AFU pass inline once the pattern is seen). Each against io_uring O_DIRECT at QD 1 on the same file, run just before it (pair-LABEL; else the file-uring-direct row). Goal: ≥ 0.95 of its IOPS at ≤ 1.2× its CPU per I/O (system), p50 ≤ its + 3 µs.",
"",
"| rw | calls | IOPS | p50 µs | CPU µs/IO | io_uring IOPS | p50 µs | CPU µs/IO | ours / io_uring: IOPS | CPU | status |",
"|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
(. as $d | [.results[] | select(.label == "cblk-sync-phys-file") | .rw] | unique[] as $rw | $d |
	(["sync", "cblk-sync-phys-file"], ["async", "cblk-phys-file"]) as [$kind, $l] |
	r($l; $rw; 1) as $o | (r("pair-\($l)"; $rw; 1) // r("file-uring-direct"; $rw; 1)) as $u |
	ratio($o.iops; $u.iops) as $xi | ratio($o.cpu_sys_us; $u.cpu_sys_us) as $xc |
	"| \($rw) | \($kind) | \($o.iops // null | f0) | \($o.p50_us // null | f2) | \($o.cpu_sys_us // null | f2) | \($u.iops // null | f0) | \($u.p50_us // null | f2) | \($u.cpu_sys_us // null | f2) | \($xi | f2) | \($xc | f2) | \(qd1_status($xi; $xc; $o; $u)) |")
else empty end),
(if any(.results[]; .label == "cblk-cached-file") then
"",
"## The page-cached file (issue 13)",
"",
"Ours embedded on the data file through the page cache (`CXLFLASH_NO_DIRECT=1`: the AFU reads through io_uring without O_DIRECT), against `pread` on the same warm cache at QD 1 (cached-K-pread, measured just before). Goal: ≥ 1.5 × its IOPS at ≤ 0.8 × its CPU per I/O (system).",
"",
"| QD | ours IOPS | CPU µs/IO | pread IOPS | CPU µs/IO | ours / pread: IOPS | CPU | status |",
"|---:|---:|---:|---:|---:|---:|---:|---|",
(. as $d | [.results[] | select(.label == "cblk-cached-file") | .qd] | unique[] as $qd | $d |
	r("cblk-cached-file"; "randread"; $qd) as $o | r("cached-K-pread"; "randread"; 1) as $k |
	ratio($o.iops; $k.iops) as $xi | ratio($o.cpu_sys_us; $k.cpu_sys_us) as $xc |
	"| \($qd) | \($o.iops | f0) | \($o.cpu_sys_us | f2) | \($k.iops // null | f0) | \($k.cpu_sys_us // null | f2) | \($xi | f2) | \($xc | f2) | \(if $xi == null or $xc == null then "not measured" elif $xi >= 1.5 and $xc <= 0.8 then "**reached**" else "missed" end) |")
else empty end),
(if any(.results[]; .target == "fio-nbd") then
"",
"## NBD: the export by cxlflashd of a legacy RAM LUN, the nbdkit memory plugin, the superpipe (fio nbd engine, Unix socket)",
"",
"| rw | QD | cxlflashd NBD IOPS | nbdkit memory IOPS | cxlflashd / nbdkit | superpipe (\(ours("phys-ram"))) IOPS | superpipe / cxlflashd NBD | CPU µs/IO process: cxlflashd NBD | nbdkit | superpipe |",
"|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
(. as $d | [.results[] | select(.target == "fio-nbd") | {rw, qd}] | unique[] as $k | $d |
	r("nbd-cxlflashd-ram"; $k.rw; $k.qd) as $c | r("nbd-nbdkit-memory"; $k.rw; $k.qd) as $n |
	r(ours("phys-ram"); $k.rw; $k.qd) as $s |
	"| \($k.rw) | \($k.qd) | \($c.iops | f0) | \($n.iops | f0) | \(ratio($c.iops; $n.iops) | f2) | \($s.iops | f0) | \(ratio($s.iops; $c.iops) | f2) | \(if $c == null then null else $c.cpu_proc_us + $c.cpu_extra_us end | f2) | \(if $n == null then null else $n.cpu_proc_us + $n.cpu_extra_us end | f2) | \(if $s == null then null else $s.cpu_proc_us + $s.cpu_extra_us end | f2) |")
else empty end),
(if any(.results[]; .label | startswith("hog-")) then
"",
"## Beside a CPU hog (issue 13: one busy process per CPU)",
"",
"Each row of ours (hog-LABEL) was measured right after the kernel path on the same data (hog-K-LABEL: tmpfs `pread` for RAM, `pread` on the cached file, io_uring O_DIRECT on the file) under the same hog. The goal, ≥ 0.5 of the kernel IOPS, is held to every rep of ours (the worst rep shows a collapse the median would hide).",
"",
"| ours | rw | QD | IOPS (worst rep) | kernel | QD | IOPS (worst rep) | ours / kernel | worst rep / kernel | CPU µs/IO process: ours | kernel | status (≥ 0.5) |",
"|---|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---|",
(. as $d | .results[] | select((.label | startswith("hog-")) and (.label | startswith("hog-K-") | not)) |
  . as $o | ($o.label | ltrimstr("hog-")) as $n |
  ($d | (r("hog-K-\($n)"; $o.rw; $o.qd) // r("hog-K-\($n)"; $o.rw; 1))) as $k |
  ([$o.runs[]?.iops] | min) as $ow | (if $k == null then null else [$k.runs[]?.iops] | min end) as $kw |
  ratio($ow; $k.iops) as $x |
  "| \($o.label) | \($o.rw) | \($o.qd) | \($o.iops | f0) (\($ow | f0)) | \($k.label // "–") | \($k.qd // null | f0) | \($k.iops // null | f0) (\($kw | f0)) | \(ratio($o.iops; $k.iops) | f2) | \($x | f2) | \($o.cpu_proc_us + $o.cpu_extra_us | f2) | \(if $k == null then null else $k.cpu_proc_us + $k.cpu_extra_us end | f2) | \(ok($x; 0.5; false)) |")
else empty end),
(if any(.results[]; .target == "fio-rbd" or (.label | startswith("rbd-"))) then
"",
"## Ceph RBD (issue 17): one image on a one-node memstore cluster, 4 KiB random",
"",
"Ours: the superpipe embedded (rbd-cblk) and through cxlflashd (rbd-daemon, with the CPU of the daemon), against the rbd engine of fio (fio-rbd) and `rbd bench`. CPU µs per I/O of the client process (+ daemon). Target: ours ≥ 0.95 × the IOPS of fio-rbd at ≤ 1.2 × its CPU per I/O.",
"",
"| rw | QD | rbd-cblk IOPS | rbd-daemon IOPS | fio-rbd IOPS | rbd bench IOPS | cblk / fio | daemon / fio | CPU µs/IO: cblk | daemon | fio-rbd | rbd bench | CPU cblk / fio | daemon / fio | target (cblk; daemon) |",
"|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
(. as $d | [.results[] | select(.target == "fio-rbd" or (.label | startswith("rbd-"))) | {rw, qd}] | unique[] as $k | $d |
	r("rbd-cblk"; $k.rw; $k.qd) as $c | r("rbd-daemon"; $k.rw; $k.qd) as $dm |
	r("fio-rbd"; $k.rw; $k.qd) as $f | r("rbd-bench"; $k.rw; $k.qd) as $b |
	def cpu(x): if x == null then null else x.cpu_proc_us + x.cpu_extra_us end;
	def hit(x): if x == null or $f == null then "–"
		elif ratio(x.iops; $f.iops) >= 0.95 and ratio(cpu(x); cpu($f)) <= 1.2 then "**reached**"
		else "missed" end;
	"| \($k.rw) | \($k.qd) | \($c.iops | f0) | \($dm.iops | f0) | \($f.iops | f0) | \($b.iops | f0) | \(ratio($c.iops; $f.iops) | f2) | \(ratio($dm.iops; $f.iops) | f2) | \(cpu($c) | f1) | \(cpu($dm) | f1) | \(cpu($f) | f1) | \(cpu($b) | f1) | \(ratio(cpu($c); cpu($f)) | f2) | \(ratio(cpu($dm); cpu($f)) | f2) | \(hit($c)); \(hit($dm)) |")
else empty end),
(if any(.results[]; .target == "fio-nbd14") then
"",
"## NBD against nbdkit and qemu-nbd (issue 14; fio nbd engine, Unix socket, QD 32, IOPS)",
"",
"| rw | bs | connections | cxlflashd RAM LUN | cxlflashd file LUN | nbdkit memory | qemu-nbd file | RAM / nbdkit | file / qemu-nbd | better ours / better theirs |",
"|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
(. as $d | [["randread", "j1", "4k", 1], ["randwrite", "j1", "4k", 1], ["randread", "j4", "4k", 4],
	  ["randwrite", "j4", "4k", 4], ["randwrite", "512", "512", 1]][] as $k | $d |
	r("nbd14-cxlflashd-ram-\($k[1])"; $k[0]; 32) as $xr | r("nbd14-cxlflashd-file-\($k[1])"; $k[0]; 32) as $xf |
	r("nbd14-nbdkit-memory-\($k[1])"; $k[0]; 32) as $tn | r("nbd14-qemu-nbd-file-\($k[1])"; $k[0]; 32) as $tq |
	([$xr.iops, $xf.iops] | map(select(. != null)) | max) as $bo |
	([$tn.iops, $tq.iops] | map(select(. != null)) | max) as $bt |
	"| \($k[0]) | \($k[2]) | \($k[3]) | \($xr.iops | f0) | \($xf.iops | f0) | \($tn.iops | f0) | \($tq.iops | f0) | \(ratio($xr.iops; $tn.iops) | f2) | \(ratio($xf.iops; $tq.iops) | f2) | \(ratio($bo; $bt) | f2) |"),
"",
"| target (issue 14) | measured | goal | status |",
"|---|---|---|---|",
(. as $d | [["randread", "j1", 2], ["randwrite", "j1", 2], ["randread", "j4", 3], ["randwrite", "j4", 3]][] as $k | $d |
	([r("nbd14-cxlflashd-ram-\($k[1])"; $k[0]; 32).iops, r("nbd14-cxlflashd-file-\($k[1])"; $k[0]; 32).iops] | map(select(. != null)) | max) as $bo |
	([r("nbd14-nbdkit-memory-\($k[1])"; $k[0]; 32).iops, r("nbd14-qemu-nbd-file-\($k[1])"; $k[0]; 32).iops] | map(select(. != null)) | max) as $bt |
	ratio($bo; $bt) as $x |
	"| 4 KiB \($k[0]) QD 32, \(if $k[1] == "j1" then "one connection" else "4 connections" end): better ours / better of nbdkit, qemu-nbd | \($x | f2) | ≥ \($k[2]) | \(ok($x; $k[2]; false)) |"),
( r("nbd14-cxlflashd-file-512"; "randwrite"; 32) as $o | (if $o == null then null else $o.iops * 512 / 1e6 end) as $mb |
  "| 512 B randwrite QD 32 on the file LUN, MB/s (issue: 3.0 before) | \($mb | f1) | ≥ 15 (5 × 3.0) | \(ok($mb; 15; false)) |" )
else empty end),
"",
"## Targets (issue 6)",
"",
"| target | measured | goal | status |",
"|---|---|---|---|",
( r(ours("phys-file"); $trw; 32) as $o | r("loop-uring-direct"; $trw; 32) as $l |
  ratio($o.cpu_sys_us; $l.cpu_sys_us) as $x |
  "| CPU per 4 KiB I/O, \(ours("phys-file")) / loop device, \($trw) QD32 (system CPU) | \($x | f2) (\($o.cpu_sys_us | f2) / \($l.cpu_sys_us | f2) µs) | ≤ 0.10 | \(ok($x; 0.10; true)) |" ),
( . as $d | [1, 32][] as $q | $d | r(ours("phys-ram"); $trw; $q) as $o |
  r("loop-tmpfs-uring-direct"; $trw; $q) as $l | r("memcpy"; $trw; 1) as $m |
  select($o != null and $l != null) | ratio($o.cpu_sys_us; $l.cpu_sys_us) as $x |
  "| CPU per 4 KiB I/O, \(ours("phys-ram")) / loop device on tmpfs (the same RAM), \($trw) QD\($q) (system CPU) | \($x | f2) (\($o.cpu_sys_us | f2) / \($l.cpu_sys_us | f2) µs; without the 4 KiB copy \(if $m == null then "–" else (ratio($o.cpu_sys_us - $m.cpu_sys_us; $l.cpu_sys_us - $m.cpu_sys_us) | f2) end)) | ≤ 0.10 | \(ok($x; 0.10; true)) |" ),
( r(ours("phys-ram"); $trw; 32) as $o | r("memcpy"; $trw; 1) as $m |
  ratio($o.iops; $m.iops) as $x |
  "| RAM QD32 IOPS, \(ours("phys-ram")) / memcpy ceiling, \($trw) | \($x | f2) | ≥ 0.80 | \(ok($x; 0.80; false)) |" ),
( r(ours("phys-ram"); $trw; 32) as $o | r("tmpfs-pread"; $trw; 1) as $t |
  ratio($o.iops; $t.iops) as $x |
  "| RAM QD32 IOPS, \(ours("phys-ram")) / tmpfs pread, \($trw) | \($x | f2) | ≥ 3 | \(ok($x; 3; false)) |" ),
( . as $d | ["randread", "randwrite", "randrw"][] as $rw | $d | r(ours("phys-file"); $rw; 32) as $o |
  (r("pair-\(ours("phys-file"))"; $rw; 32) // r("file-uring-direct"; $rw; 32)) as $u |
  select($o != null) | ratio($o.iops; $u.iops) as $x |
  "| file backend / io_uring O_DIRECT IOPS (vs \($u.label)\(if ($u.label | startswith("pair-")) then ", run just before" else "" end)), \($rw) QD32 | \($x | f2) (\($o.iops | f0) / \($u.iops | f0)) | ≥ 0.95 | \(ok($x; 0.95; false)) |" ),
( r(ours("phys-ram"); $trw; 1) as $o | r("tmpfs-pread"; $trw; 1) as $t |
  "| QD1 p50, \(ours("phys-ram")) vs tmpfs pread, \($trw) | \($o.p50_us | f2) vs \($t.p50_us | f2) µs | ≤ | \(ok(ratio($o.p50_us; $t.p50_us); 1; true)) |" ),
( . as $d | ["ram", "file"][] as $b | $d |
  (if any(.results[]; .label == "daemon-virt-\($b)") then "daemon" else "cblk" end) as $m |
  r("\($m)-virt-\($b)"; $trw; 32) as $v | r("\($m)-phys-\($b)"; $trw; 32) as $p |
  r("pair-\($m)-virt-\($b)"; $trw; 32) as $pv | r("pair-\($m)-phys-\($b)"; $trw; 32) as $pp |
  (if $pv != null and $pp != null then ratio(ratio($v.iops; $pv.iops); ratio($p.iops; $pp.iops))
   else ratio($v.iops; $p.iops) end) as $x |
  "| vLUN / physical IOPS, \($m)-\($b), \($trw) QD32\(if $pv != null and $pp != null then " (each over its io_uring pair)" else "" end) | \($x | f2) (\($v.iops | f0) / \($p.iops | f0)) | ≥ 0.97 | \(ok($x; 0.97; false)) |" ),
( . as $d | ["ioctl", "daemon-ioctl"][] as $p | $d |
  first(.control[] | select(.path == $p and .step == "total")) // null | select(. != null) | . as $c |
  (first($d.control[] | select(.path == "socket" and .step == "round_trip")) // null) as $rt |
  "| control path (\(if $p == "ioctl" then "in-process" else "through cxlflashd" end)): attach + 1 GiB vLUN + release + detach (p50) | \($c.p50_us | f1) µs\(if $p != "ioctl" and $rt != null then " (4 socket round trips alone: \($rt.p50_us * 4 | f1) µs)" else "" end) | ≤ 100 µs | \(ok($c.p50_us; 100; true)) |" ),
(if (.scale // {} | length) > 0 then
"",
"## Scale of one cxlflashd (issue 13: bench/scalebench on a sparse 4 TiB file LUN)",
"",
"| measure | value |",
"|---|---|",
(.scale | to_entries[] | "| \(.key) | \(.value | f2) |"),
"",
"| target | measured | goal | status |",
"|---|---|---|---|",
(.scale | "| contexts and vLUNs on one daemon | \(.contexts | f0) contexts, \(.vluns | f0) vLUNs | ≥ 512, ≥ 10,000 | \(if .contexts >= 512 and .vluns >= 10000 then "**reached**" else "not measured at that scale" end) |"),
(.scale | "| daemon RSS per idle context | \(.rss_per_idle_context_kib | f1) KiB | ≤ 512 KiB | \(ok(.rss_per_idle_context_kib; 512; true)) |"),
(.scale | select(.vlun_tib_rss_kib_per_tib != null) | (.vlun_tib_rss_kib_per_tib + .lun_alloc_kib_per_tib) as $m |
  "| master metadata per TiB of LUN (RSS growth of a 1 TiB vLUN + the allocator bitmap and clone counts; LXT alone \(.vlun_tib_lxt_kib_per_tib | f1) KiB) | \($m | f1) KiB | ≤ 64 KiB | \(ok($m; 64; true)) |")
else empty end),
"",
"## Tenants (issue 12): a QD 1 reader beside a noisy neighbour, one AFU worker",
"",
(if (.tenants // [] | length) > 0 then
	"| neighbour | its commands | victim reads | p50 µs | p99 µs | p99.9 µs | max µs |",
	"|---|---:|---:|---:|---:|---:|---:|",
	(.tenants[] | select(.row | startswith("noisy-")) |
	 "| \(if .row == "noisy-solo" then "none (the victim alone: baseline of this run)" else "\(.row | ltrimstr("noisy-")) (\(.ws_mib) MiB WRITE SAMEs)" end) | \(.ws) in \(.secs) s | \(.reads) | \(.p50_us | f1) | \(.p99_us | f1) | \(.p999_us | f1) | \(.max_us | f1) |"),
	"",
	"| victim through cxlflashd (daemon/scrub) | releases by the neighbour | victim reads | p50 µs | p99 µs | p99.9 µs | max µs |",
	"|---|---:|---:|---:|---:|---:|---:|",
	(.tenants[] | select(.row | startswith("scrub-")) |
	 "| \(if .row == "scrub-solo" then "alone (baseline of this run)" else "beside vLUNs filled (64 MiB) and released" end) | \(.releases) in \(.secs) s | \(.reads) | \(.p50_us | f1) | \(.p99_us | f1) | \(.p999_us | f1) | \(.max_us | f1) |"),
	"",
	"| noisy tenant (through cxlflashd) | its IOPS | quiet QD 1 alone | quiet beside it | share |",
	"|---|---:|---:|---:|---:|",
	(.tenants[] | select(.row | startswith("fair-")) |
	 "| \(.noisy_qd) × \(.noisy_kib) KiB reads in flight | \(.noisy_iops | f0) | \(.quiet_solo_iops | f0) | \(.quiet_iops | f0) | \(.share * 100 | f0) % |"),
	"",
	"| target (issue 12) | measured | goal | status |",
	"|---|---|---|---|",
	(first(.tenants[] | select(.row == "noisy-release")) // null | select(. != null) |
	 "| victim 4 KiB read p99.9 beside 256 MiB WRITE SAMEs and releases | \(.p999_us / 1000 | f2) ms | ≤ 2 ms | \(ok(.p999_us; 2000; true)) |"),
	(first(.tenants[] | select(.row == "noisy-data")) // null | select(. != null) |
	 "| victim 4 KiB read p99.9 beside 256 MiB data WRITE SAMEs | \(.p999_us / 1000 | f2) ms | ≤ 2 ms | \(ok(.p999_us; 2000; true)) |"),
	(first(.tenants[] | select(.row == "scrub-release")) // null | select(. != null) |
	 "| victim 4 KiB read p99.9 through cxlflashd beside vLUNs filled and released | \(.p999_us / 1000 | f2) ms | ≤ 2 ms | \(ok(.p999_us; 2000; true)) |"),
	(.tenants[] | select(.row | startswith("fair-")) |
	 "| quiet QD 1 tenant beside \(.noisy_qd) × \(.noisy_kib) KiB: share of its solo IOPS | \(.share * 100 | f0) % | ≥ 80 % | \(ok(.share; 0.8; false)) |")
 else "not measured" end),
"",
"## Control path (µs)",
"",
"| path | step | p50 | p99 |",
"|---|---|---:|---:|",
(.control[] | "| \(.path) | \(.step) | \(.p50_us | f1) | \(.p99_us | f1) |"),
"",
"## Instructions per 4 KiB I/O (callgrind, RAM LUN, polling; deterministic guard)",
"",
(if (.callgrind | has("read")) then
	"| op | submit | complete | client total | AFU execute | client + AFU | misses (of \(.callgrind.n)) |",
	"|---|---:|---:|---:|---:|---:|---:|",
	(.callgrind | to_entries[] | select(.key != "nbd" and (.value | type == "object")) |
	 "| \(.key) | \(.value.submit) | \(.value.complete) | \(.value.client) | \(.value.afu_exec) | \(.value.total) | \(.value.misses) |")
 else "not measured" end),
(if (.callgrind | has("nbd")) then
	"",
	"NBD server, user-space instructions per 4 KiB request (`bench/nbd-callgrind.sh`, the connection thread, QD 32, RAM LUN): read \(.callgrind.nbd.read), write \(.callgrind.nbd.write)"
 else empty end),
"",
(if (.meta.skipped | length) > 0 then "Skipped: " + (.meta.skipped | join("; ")) else empty end)
)' "$J"
