/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tk_test.h - what the rbd ownership tests (takeover.c, failover.c) share:
 * two cxlflashd on one host as two sockets (a.sock, b.sock) serving the
 * same images of a one-node Ceph cluster, whose OSD drops a silent
 * client's watch after 5 s (tests/lib/ceph-cluster.sh).
 */
#ifndef CXLFLASH_TK_TEST_H
#define CXLFLASH_TK_TEST_H

#include "../block/blk_test.h"
#include "t_ceph.h"
#include "t_daemon.h"
#include "t_tool.h"
#include "backend/backend.h"

#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#define IMG   "rbd:rbd/tk?size=256M"
#define VIMG  "rbd:rbd/tv?size=256M"     /* a second LUN, for a vLUN */
#define QD    16
#define SPAN  4096u          /* blocks the kill9 client writes */
#define SLOTS (SPAN / QD)

static struct t_daemon g_a, g_b;
static char g_out[65536];

static inline double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Start daemon @d named @name on the image, with --takeover when @takeover. */
static inline void start(struct t_daemon *d, const char *name, bool takeover)
{
	const char *args[] = { "--lun", "lun0=" IMG, "--lun", "vl=" VIMG, "--no-nbd",
			       takeover ? "--takeover" : NULL, NULL };
	double t0 = now_s();

	T_EQ(t_daemon_start_as(d, name, 60, args), 0);
	fprintf(stderr, "   daemon %s (pid %d) ready in %.2f s%s\n", name, (int)d->pid,
		now_s() - t0, takeover ? " (--takeover)" : "");
}

/* The LUN's WWID as daemon @d reports it. */
static inline void wwid_of(struct t_daemon *d, char w[33])
{
	const char *p;

	T_EQ(t_daemon_status(d, g_out, sizeof(g_out)), 0);
	p = strstr(g_out, "\"wwid\":\"");
	T_ASSERT(p);
	memcpy(w, p + 8, 32);
	w[32] = 0;
}

static inline void use_sockets(const struct t_daemon *first, const struct t_daemon *second)
{
	char list[300];

	if (second)
		snprintf(list, sizeof(list), "%s:%s", first->socket, second->socket);
	else
		snprintf(list, sizeof(list), "%s", first->socket);
	setenv("CXLFLASH_SOCKET", list, 1);
}

static inline void write_blocks(uint64_t lba, unsigned n, uint64_t seed, int flags)
{
	chunk_id_t id = bt_open("lun0", 4, O_RDWR, 0);
	uint8_t *b = bt_buf(n);

	t_pattern_fill(b, (size_t)n * BLK, seed, lba);
	T_EQ(cblk_write(id, b, (cflash_offset_t)lba, n, flags), n);
	T_EQ(cblk_sync(id, 0), 0);
	T_EQ(cblk_close(id, 0), 0);
	free(b);
}

static inline void check_blocks(uint64_t lba, unsigned n, uint64_t seed)
{
	chunk_id_t id = bt_open("lun0", 4, O_RDWR, 0);
	uint8_t *b = bt_buf(n);

	T_EQ(cblk_read(id, b, (cflash_offset_t)lba, n, 0), n);
	T_EQ(t_pattern_check(b, (size_t)n * BLK, seed, lba), 0);
	T_EQ(cblk_close(id, 0), 0);
	free(b);
}

/* Start a cluster; skip without librbd. */
static inline void tk_setup(void)
{
	signal(SIGPIPE, SIG_IGN);
	T_SKIP_IF(access(t_tool_path("cxlflashd"), X_OK), "no cxlflashd binary");
	t_ceph_start_rbd();
}

#endif
