#!/usr/bin/env bash
# Builds the Debian packages (debian/) from a copy of the working tree, so
# nothing is written beside the repository, and checks them with lintian.
#   scripts/build-deb.sh [--out DIR] [--jobs N]    (make deb)
# The .debs, .dsc, source tarball, .changes and lintian.txt end up in DIR
# (default build/deb). Exit 1 when the build fails or lintian reports an
# error or a warning.
set -euo pipefail
cd "$(dirname "$0")/.."
out=build/deb jobs=1
while [ $# -gt 0 ]; do
	case "$1" in
	--out) out=$2; shift 2 ;;
	--jobs) jobs=$2; shift 2 ;;
	-h | --help) sed -n '2,8s/^# \{0,1\}//p' "$0"; exit 0 ;;
	*) echo "build-deb: unknown argument '$1' (try --help)" >&2; exit 2 ;;
	esac
done
for tool in dpkg-buildpackage dh lintian fakeroot; do
	command -v "$tool" >/dev/null || {
		echo "build-deb: $tool is missing (scripts/install-deps.sh package installs it)" >&2
		exit 1
	}
done
version=$(dpkg-parsechangelog -l debian/changelog -S Version)
mkdir -p "$out"
out=$(cd "$out" && pwd)
rm -rf "$out/src"
src=$out/src/cxlflash-$version
mkdir -p "$src"
# The tracked files and new ones not ignored: what a commit of the tree would hold.
git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf - | tar -xf - -C "$src"
echo "build-deb: building cxlflash $version in $src (log: $out/build.log)"
if ! (cd "$src" && DEB_BUILD_OPTIONS="nocheck parallel=$jobs" \
	dpkg-buildpackage -us -uc --build=full) >"$out/build.log" 2>&1; then
	tail -30 "$out/build.log"
	echo "build-deb: dpkg-buildpackage failed (log: $out/build.log)" >&2
	exit 1
fi
rm -f "$out"/*.deb "$out"/*.changes "$out"/*.dsc "$out"/*.tar.* "$out"/*.buildinfo
mv "$out"/src/*.deb "$out"/src/*.changes "$out"/src/*.dsc "$out"/src/*.tar.* \
	"$out"/src/*.buildinfo "$out"/
rm -rf "$out/src"
ls -l "$out"/*.deb | awk '{print "build-deb: " $NF " (" $5 " bytes)"}'
changes=$(ls "$out"/*.changes)
echo "build-deb: lintian $(basename "$changes")"
if ! lintian --display-info --fail-on error,warning "$changes" >"$out/lintian.txt" 2>&1; then
	cat "$out/lintian.txt"
	echo "build-deb: lintian reports errors or warnings (above)" >&2
	exit 1
fi
if [ -s "$out/lintian.txt" ]; then
	sed 's/^/lintian: /' "$out/lintian.txt"
else
	echo "build-deb: lintian: clean"
fi
