#!/usr/bin/env bash
# Runs CTest in each build directory given, then prints one summary line
# "N passed, N failed, N skipped" over all of them. Exits non-zero on any failure.
# A directory may carry CTest arguments after a colon: "build-tsan:-L unit".
set -uo pipefail
passed=0 failed=0 skipped=0 rc=0
for arg in "$@"; do
	dir=${arg%%:*}
	extra=""
	[ "$dir" != "$arg" ] && extra=${arg#*:}
	echo "== tests in $dir $extra"
	log=$(mktemp)
	# shellcheck disable=SC2086
	ctest --test-dir "$dir" --output-on-failure -j "${CTEST_JOBS:-2}" $extra 2>&1 | tee "$log"
	[ "${PIPESTATUS[0]}" -eq 0 ] || rc=1
	total=$(sed -n 's/.*tests passed, \([0-9]*\) tests failed out of \([0-9]*\).*/\2/p' "$log" | tail -1)
	nfail=$(sed -n 's/.*tests passed, \([0-9]*\) tests failed out of \([0-9]*\).*/\1/p' "$log" | tail -1)
	nskip=$(grep -c '(Skipped)' "$log" || true)
	[ -n "$total" ] || { total=0; nfail=1; rc=1; }
	passed=$((passed + total - nfail - nskip))
	failed=$((failed + nfail))
	skipped=$((skipped + nskip))
	rm -f "$log"
done
echo "${passed} passed, ${failed} failed, ${skipped} skipped"
exit $rc
