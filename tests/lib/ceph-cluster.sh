#!/usr/bin/env bash
# Description: a throwaway one-node Ceph cluster for the rbd tests: one mon
# and one memstore OSD on 127.0.0.1, auth none, no mgr, everything (config,
# data, logs, admin sockets) under DIR; daemons run under setsid and are
# stopped by PID. About 1 s to a usable pool
# (../shared/reference/ceph-one-node.md has the why of every line).
#
#   ceph-cluster.sh start DIR [POOL...]   DIR: an empty directory; writes
#                                         DIR/ceph.conf (export CEPH_CONF=it)
#   ceph-cluster.sh stop DIR              stops the daemons, removes DIR
#
# Exit 0, 1 (failed: the logs' tails are printed), or 77 when the Ceph
# binaries are missing (scripts/install-deps.sh test installs them).
set -uo pipefail

die() { echo "ceph-cluster: $*" >&2; exit 1; }

# A process that is gone, or a zombie (a killed daemon reparented to init
# lingers a moment as one).
gone() {
	local st
	[ -r "/proc/$1/stat" ] || return 0
	st=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
	[ -z "$st" ] || [ "$st" = Z ]
}

stop() {
	local d=$1 p pids=() i
	[ -d "$d" ] || return 0
	for f in osd mon; do
		[ -f "$d/$f.pid" ] || continue
		p=$(cat "$d/$f.pid")
		# Only our daemon: its environment names this directory's config.
		if [ -r "/proc/$p/environ" ] && tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null |
			grep -qx "CEPH_CONF=$d/ceph.conf"; then
			kill -TERM "$p" 2>/dev/null && pids+=("$p")
			kill -CONT "$p" 2>/dev/null  # a paused (SIGSTOP) daemon too
		fi
	done
	for ((i = 0; i < 60; i++)); do
		local left=0
		for p in "${pids[@]}"; do gone "$p" || left=1; done
		[ $left = 0 ] && break
		sleep 0.05
	done
	[ -z "${CEPH_CLUSTER_DEBUG:-}" ] || echo "stop: $i polls" >&2
	for p in "${pids[@]}"; do gone "$p" || kill -KILL "$p" 2>/dev/null; done
	rm -rf "$d"
}

tails() {
	local d=$1 f
	for f in "$d"/log/*; do
		[ -f "$f" ] || continue
		echo "--- $f" >&2
		tail -n 15 "$f" >&2
	done
}

# A free TCP port on 127.0.0.1 (nobody listening), from a range of our own
# below the kernel's ephemeral ports: a port there may be the local end of
# some connection, which nobody listens on but the monitor cannot bind
# (a test failed so: "bind unable to bind ... Address already in use").
free_port() {
	local p i lo=32768 hi=60999 base span
	read -r lo hi </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || { lo=32768 hi=60999; }
	if [ "$lo" -gt 24096 ]; then
		base=20000 span=$((lo - 20000))                 # below the ephemeral range
	else
		base=$((hi + 1)) span=$((65535 - hi))           # it starts low: above it
	fi
	[ "$span" -gt 0 ] || { base=20000 span=20000; }
	for ((i = 0; i < 200; i++)); do
		p=$((base + RANDOM % span))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

start() {
	local d=$1; shift
	local pools=("$@") b
	for b in ceph-mon ceph-osd ceph monmaptool rbd uuidgen; do
		command -v "$b" >/dev/null || { echo "SKIP: $b not found (scripts/install-deps.sh test)" >&2; exit 77; }
	done
	[ ${#pools[@]} -gt 0 ] || pools=(rbd)
	mkdir -p "$d" || die "cannot create $d"
	d=$(cd "$d" && pwd)
	local fsid osd_uuid p2 p1 id
	fsid=$(uuidgen); osd_uuid=$(uuidgen)
	p2=$(free_port) && p1=$(free_port) || die "no free port"
	[ "$p1" != "$p2" ] || p1=$((p2 + 1))
	mkdir -p "$d/mon/ceph-a" "$d/osd/ceph-0" "$d/run" "$d/log"
	cat >"$d/ceph.conf" <<CONF
[global]
fsid = $fsid
mon host = v2:127.0.0.1:$p2,v1:127.0.0.1:$p1
public addr = 127.0.0.1
cluster addr = 127.0.0.1
auth cluster required = none
auth service required = none
auth client required = none
auth allow insecure global id reclaim = false
run dir = $d/run
log file = $d/log/\$name.log
mon cluster log file = $d/log/ceph.log
mon data = $d/mon/\$cluster-\$id
osd data = $d/osd/\$cluster-\$id
osd objectstore = memstore
memstore device bytes = 2147483648
memstore page set = true
memstore page size = 4096
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
mon warn on pool no redundancy = false
paxos propose interval = 0.05
paxos min wait = 0.01
# A client that stopped answering (killed, paused) loses its watches after
# 5 s, not 30, so rbd takeover tests wait seconds; live clients ping their
# watches every second (the objecter's tick), well within it.
osd client watch timeout = 5
objecter tick interval = 1
[client]
client mount timeout = 15
rados osd op timeout = 30
rados mon op timeout = 30
CONF
	export CEPH_CONF=$d/ceph.conf
	# Tear down what was started if anything below fails.
	trap 'tails "$d"; stop "$d"; exit 1' ERR
	set -e
	monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$p2,v1:127.0.0.1:$p1]" \
		"$d/monmap" >"$d/log/monmap.out" 2>&1
	ceph-mon --mkfs -i a --monmap "$d/monmap" >"$d/log/mon-mkfs.out" 2>&1
	setsid ceph-mon -i a -f </dev/null >"$d/log/mon.out" 2>&1 &
	echo $! >"$d/mon.pid"
	id=$(timeout 30 ceph osd new "$osd_uuid" 2>"$d/log/osd-new.out")
	ceph-osd -i "$id" --mkfs --osd-uuid "$osd_uuid" >"$d/log/osd-mkfs.out" 2>&1
	setsid ceph-osd -i "$id" -f </dev/null >"$d/log/osd.out" 2>&1 &
	echo $! >"$d/osd.pid"
	for p in "${pools[@]}"; do
		timeout 30 ceph osd pool create "$p" >>"$d/log/pool.out" 2>&1
		# Returns once the PGs are active: the readiness barrier.
		timeout 60 rbd pool init "$p" >>"$d/log/pool.out" 2>&1
	done
	set +e
	trap - ERR
}

case "${1:-}" in
start) [ $# -ge 2 ] || die "usage: $0 start DIR [POOL...]"; d=$2; shift 2; start "$d" "$@" ;;
stop) [ $# -eq 2 ] || die "usage: $0 stop DIR"; stop "$2" ;;
*) die "usage: $0 start DIR [POOL...] | stop DIR" ;;
esac
