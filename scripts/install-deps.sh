#!/usr/bin/env bash
# Installs the Debian packages this project needs, if missing, and says what
# it installs and why. Idempotent and quiet when everything is present; needs
# root (or sudo) otherwise.
#
#   scripts/install-deps.sh [build|test|package|all]...   (default: all)
#     build    what compiling the libraries and tools needs
#     test     what the tests and benchmarks need besides (make test, make bench*)
#     package  what the man pages and the Debian packages need (make deb, and
#              the man-page and install tests of make test)
#     all      the three
#
# SKIP_DEPS=1, or a machine without apt-get and dpkg-query, skips it with a
# message (then install the packages yourself: README.md lists them).
set -euo pipefail

# Debian package, then why; one group per array.
BUILD=(
	"build-essential:the C compiler, make and libc headers"
	"cmake:the build system (3.18 or later)"
	"pkg-config:finds liburing and GnuTLS"
	"liburing-dev:io_uring, the file and block-device backends' I/O path"
	"librbd-dev:librbd.h, for the rbd backend (Ceph RBD images as LUNs; librbd is loaded at run time)"
	"librados-dev:librados.h, which librbd.h includes (the rbd backend)"
	"libgnutls28-dev:GnuTLS, for TLS on the NBD export (NBD_OPT_STARTTLS, X.509 and PSK); without it TLS is not built"
)
TEST=(
	"libnbd-bin:nbdinfo and nbdcopy, NBD clients the NBD tests run"
	"qemu-utils:qemu-img, qemu-io and qemu-nbd, NBD clients the NBD tests run"
	"nbdkit:the NBD benchmark's peer server"
	"fio:the NBD benchmark's load generator, and (its rbd engine) the RBD rows' peer"
	"time:/usr/bin/time, the CPU of fio and rbd bench (librbd's threads included) in the RBD rows"
	"gnutls-bin:certtool and psktool, which the NBD TLS tests make their certificates and keys with"
	"jq:the benchmarks read their JSON results with it"
	"gnuplot-nox:the benchmarks' charts"
	"valgrind:callgrind, the benchmarks' instruction counts"
	"util-linux:losetup, the loop-device rows of the benchmark"
	"librocksdb-dev:the key/value benchmark's RocksDB peer (bench/kvpeer_rocksdb.c)"
	"liblmdb-dev:the key/value benchmark's LMDB peer (bench/kvpeer_lmdb.c)"
	"ceph-mon:the monitor of the one-node Ceph cluster the rbd tests start (tests/lib/ceph-cluster.sh)"
	"ceph-osd:the (memstore) OSD of that cluster"
	"ceph-common:the ceph and rbd commands that set that cluster up"
	"clang:the compiler of the fuzz harnesses (make build-fuzz, make fuzz; libFuzzer is clang's)"
	"libclang-rt-dev:libFuzzer and clang's ASan/UBSan runtimes, which the fuzz harnesses link"
)
PACKAGE=(
	"scdoc:turns man/*.scd into the man pages"
	"man-db:man, to check that the man pages render"
	"debhelper:dh, which builds the .debs (make deb)"
	"dpkg-dev:dpkg-buildpackage (make deb)"
	"fakeroot:builds the .debs without root (make deb)"
	"lintian:checks the .debs (make deb)"
)

if [ "${SKIP_DEPS:-0}" = 1 ]; then
	echo "install-deps: SKIP_DEPS=1: not checking or installing packages" >&2
	exit 0
fi
if ! command -v apt-get >/dev/null || ! command -v dpkg-query >/dev/null; then
	echo "install-deps: no apt-get here: not installing packages (README.md lists what" \
		"the build needs: cmake, a C compiler, pkg-config, liburing)" >&2
	exit 0
fi

groups=("$@")
[ ${#groups[@]} -gt 0 ] || groups=(all)
wanted=()
for g in "${groups[@]}"; do
	case "$g" in
	build) wanted+=("${BUILD[@]}") ;;
	test) wanted+=("${TEST[@]}") ;;
	package) wanted+=("${BUILD[@]}" "${PACKAGE[@]}") ;;
	all) wanted+=("${BUILD[@]}" "${TEST[@]}" "${PACKAGE[@]}") ;;
	*) echo "install-deps: unknown group '$g' (build, test, package or all)" >&2; exit 2 ;;
	esac
done

missing=()
for entry in "${wanted[@]}"; do
	p=${entry%%:*}
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" && continue
	case " ${missing[*]} " in *" $p "*) continue ;; esac
	missing+=("$p")
	echo "install-deps: $p: ${entry#*:}" >&2
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
