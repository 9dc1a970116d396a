/* SPDX-License-Identifier: Apache-2.0 */
/*
 * t_ceph.h - a throwaway one-node Ceph cluster for the rbd tests
 * (tests/lib/ceph-cluster.sh does the work: a mon and a memstore OSD on
 * 127.0.0.1, auth none, in a temporary directory, stopped by PID).
 */
#ifndef CXLFLASH_T_CEPH_H
#define CXLFLASH_T_CEPH_H

/*
 * t_ceph_start() - start a cluster with the pools named in @pools
 * (blank-separated; NULL: "rbd") and export CEPH_CONF to its ceph.conf, so
 * librbd and the ceph/rbd commands find it. The cluster is stopped at exit
 * (by the process that started it, not by forked children), or earlier by
 * t_ceph_stop(). Exits T_SKIP when the Ceph binaries are missing, T_FAIL
 * when the cluster does not come up. Return: the cluster's directory.
 */
const char *t_ceph_start(const char *pools);

/* t_ceph_start_rbd() - t_ceph_start("rbd"), and exit T_SKIP when this
 * build has no librbd (an rbd: LUN cannot be opened: ENOTSUP). */
void t_ceph_start_rbd(void);

/* t_ceph_stop() - stop the cluster and remove its directory. Idempotent. */
void t_ceph_stop(void);

/* t_ceph_cmd() - run a shell command with CEPH_CONF set (`rbd info ...`),
 * killed after 30 s. Return: its exit status. */
int t_ceph_cmd(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
