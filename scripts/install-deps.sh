#!/usr/bin/env bash
# Installs what building and testing the project needs on Debian, if missing.
# Idempotent and quiet when everything is present; needs root (or sudo) otherwise.
set -euo pipefail

# Debian package names this project builds and tests with.
# libnbd-bin and qemu-utils: the NBD tests' clients; nbdkit and fio: the NBD
# benchmark; jq, gnuplot-nox and valgrind: the benchmarks (bench/);
# util-linux gives losetup; librocksdb-dev and liblmdb-dev: the key/value
# benchmark's peers (bench/kvpeer_rocksdb.c, bench/kvpeer_lmdb.c, built only
# when found).
PACKAGES=(build-essential cmake pkg-config liburing-dev libnbd-bin qemu-utils nbdkit fio
	jq gnuplot-nox valgrind util-linux librocksdb-dev liblmdb-dev)

missing=()
for p in "${PACKAGES[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
