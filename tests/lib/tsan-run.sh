#!/usr/bin/env bash
# tsan-run.sh PROGRAM [ARGS...] - run one test of the ThreadSanitizer build
# (CMake wraps every test of build-tsan in it) and fail it when any process
# of the test reported: the test itself, its forked children, the cxlflashd
# it started, the tools it ran. Each process writes its reports to a file
# of its own under a scratch directory (TSAN_OPTIONS log_path), so a report
# counts even from a daemon the test kills with SIGKILL or whose exit status
# it never reads. The reports are printed after the test's own output.
# Exit: the test's status (77 = skipped), or 1 if anything was reported.
set -u
dir=$(mktemp -d "${TMPDIR:-/tmp}/cxlflash-tsan.XXXXXX") || exit 1
trap 'rm -rf "$dir"' EXIT
export TSAN_OPTIONS="${TSAN_OPTIONS:-} log_path=$dir/report"
"$@"
rc=$?
shopt -s nullglob
reports=("$dir"/report.*)
if [ ${#reports[@]} -gt 0 ]; then
	for f in "${reports[@]}"; do
		echo "== ThreadSanitizer, process ${f##*.}:"
		cat "$f"
	done
	echo "tsan-run: ${#reports[@]} process(es) reported (test exit status $rc)"
	exit 1
fi
exit $rc
