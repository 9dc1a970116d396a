/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: vLUN maps kept in the pool (docs/scale-out.md, "Virtual
 * LUNs"): two cxlflashd on one host as two sockets (a.sock, b.sock) on a
 * 1 GiB image (4 chunks) of a one-node Ceph cluster (tk_test.h).
 *
 *   kill9    a client with CXLFLASH_SOCKET=a:b opens two vLUNs through A
 *            (one and two chunks), writes them (FUA, and flushed writes),
 *            and the image's metadata holds their maps; A is killed
 *            (SIGKILL) and B started with --takeover: B loads the maps, and
 *            the client's chunks reattach to B with their vLUNs and read
 *            back everything A acknowledged and flushed. A write nobody
 *            flushed before the kill makes the next flush fail once (A's
 *            librbd cache may have held it). The first vLUN then grows by
 *            a chunk that B hands out from what the second does not hold
 *            (the second's data stays), and once both are closed their
 *            maps are gone from the image's metadata;
 *   restart  B killed and started again (no --takeover): a vLUN is back
 *            with its data, as after a takeover;
 *   stop     B stopped cleanly (SIGTERM) with two clients' vLUNs open: the
 *            maps stay in the image (the clients did not let go), A started
 *            serves them; one client's vLUN reattaches there with its data
 *            (written FUA, and written then flushed); the other client was
 *            killed meanwhile, and `cxlflash status` lists its vLUN as kept,
 *            waiting for its client.
 */
#include "tk_test.h"

#include <sys/prctl.h>

#define VT    "rbd:rbd/vt?size=1G"
#define CHUNK 65536u          /* blocks in a chunk */

static void start_vt(struct t_daemon *d, const char *name, bool takeover)
{
	const char *args[] = { "--lun", "vt=" VT, "--no-nbd", takeover ? "--takeover" : NULL, NULL };
	double t0 = now_s();

	T_EQ(t_daemon_start_as(d, name, 60, args), 0);
	fprintf(stderr, "   daemon %s (pid %d) ready in %.2f s%s\n", name, (int)d->pid,
		now_s() - t0, takeover ? " (--takeover)" : "");
}

/* Does the image's metadata hold vLUN maps? */
static bool maps_kept(void)
{
	return t_ceph_cmd("rbd image-meta list rbd/vt | grep -q cxlflash.vlun.") == 0;
}

/* One block per request: a vLUN's requests are one block long by default
 * (CFLSH_BLK_MAX_XFER). */
static void put(chunk_id_t id, uint64_t lba, unsigned n, uint64_t seed, int flags)
{
	uint8_t *b = bt_buf(n);

	t_pattern_fill(b, (size_t)n * BLK, seed, lba);
	for (unsigned i = 0; i < n; i++)
		T_EQ(cblk_write(id, b + (size_t)i * BLK, (cflash_offset_t)(lba + i), 1, flags), 1);
	free(b);
}

static void check(chunk_id_t id, uint64_t lba, unsigned n, uint64_t seed)
{
	uint8_t *b = bt_buf(n);

	for (unsigned i = 0; i < n; i++)
		T_EQ(cblk_read(id, b + (size_t)i * BLK, (cflash_offset_t)(lba + i), 1, 0), 1);
	T_EQ(t_pattern_check(b, (size_t)n * BLK, seed, lba), 0);
	free(b);
}

static void kill9(void)
{
	chunk_id_t v1, v2;
	size_t size;
	double t0;

	snprintf(g_b.socket, sizeof(g_b.socket), "%s", t_path("b.sock"));  /* B: not up yet */
	use_sockets(&g_a, &g_b);
	v1 = bt_open_virt("vt", 4, 0, 64);
	v2 = bt_open_virt("vt", 4, 0, 2 * CHUNK);
	put(v1, 0, 8, 1, CBLK_ARW_FUA_FLAG);
	put(v1, 40, 4, 2, 0);
	T_EQ(cblk_sync(v1, 0), 0);
	put(v2, 10, 8, 3, CBLK_ARW_FUA_FLAG);
	put(v2, CHUNK + 7, 8, 4, CBLK_ARW_FUA_FLAG);   /* in its second chunk */
	T_ASSERT(maps_kept());
	/* Acknowledged by A, never flushed: maybe only in A's librbd cache. */
	put(v1, 50, 1, 5, 0);
	t0 = now_s();
	t_daemon_kill(&g_a);
	start_vt(&g_b, "b", true);
	fprintf(stderr, "   taken over %.2f s after the kill\n", now_s() - t0);
	check(v1, 0, 8, 1);
	check(v1, 40, 4, 2);
	check(v2, 10, 8, 3);
	check(v2, CHUNK + 7, 8, 4);
	fprintf(stderr, "   both vLUNs back through B with their data %.2f s after the kill\n",
		now_s() - t0);
	/* The flush cannot vouch for A's unflushed write: EIO once, then fine. */
	errno = 0;
	T_EQ(cblk_sync(v1, 0), -1);
	T_EQ(errno, EIO);
	put(v1, 50, 1, 5, 0);
	T_EQ(cblk_sync(v1, 0), 0);
	T_EQ(cblk_sync(v2, 0), 0);
	/* B's allocator knows v2's chunks: v1's new chunk is another one. */
	T_EQ(cblk_set_size(v1, 2 * CHUNK, 0), 0);
	T_EQ(cblk_get_size(v1, &size, 0), 0);
	T_EQ(size, 2 * CHUNK);
	put(v1, CHUNK, 8, 6, CBLK_ARW_FUA_FLAG);
	check(v2, 10, 8, 3);
	check(v2, CHUNK + 7, 8, 4);
	check(v1, 0, 8, 1);
	check(v1, 50, 1, 5);
	check(v1, CHUNK, 8, 6);
	T_EQ(cblk_close(v1, 0), 0);
	T_ASSERT(maps_kept());          /* v2's */
	T_EQ(cblk_close(v2, 0), 0);
	T_ASSERT(!maps_kept());
}

static void restart(void)
{
	chunk_id_t v;
	double t0;

	use_sockets(&g_b, NULL);
	v = bt_open_virt("vt", 4, 0, CHUNK);
	put(v, 123, 4, 7, CBLK_ARW_FUA_FLAG);
	t0 = now_s();
	t_daemon_kill(&g_b);
	start_vt(&g_b, "b", false);
	check(v, 123, 4, 7);
	fprintf(stderr, "   the vLUN back with its data %.2f s after the kill\n", now_s() - t0);
	put(v, 200, 1, 8, 0);
	T_EQ(cblk_sync(v, 0), 0);
	check(v, 200, 1, 8);
	T_EQ(cblk_close(v, 0), 0);
	T_ASSERT(!maps_kept());
}

/* Does the image's metadata hold @n vLUN maps? */
static bool maps_are(int n)
{
	return t_ceph_cmd("test \"$(rbd image-meta list rbd/vt | grep -c cxlflash.vlun.)\" = %d",
			  n) == 0;
}

static void stop(void)
{
	chunk_id_t v;
	double t0;
	int pfd[2];
	pid_t child;
	char c;

	use_sockets(&g_b, &g_a);
	v = bt_open_virt("vt", 4, 0, CHUNK);
	put(v, 300, 4, 9, CBLK_ARW_FUA_FLAG);
	put(v, 310, 2, 10, 0);
	T_EQ(cblk_sync(v, 0), 0);
	/* Another client's vLUN, whose client is gone by the time B is. */
	T_EQ(pipe(pfd), 0);
	child = fork();
	T_ASSERT(child >= 0);
	if (child == 0) {
		chunk_id_t w;

		prctl(PR_SET_PDEATHSIG, SIGKILL);   /* a failing test leaves no child */
		w = cblk_open("vt", 4, O_RDWR, 0, CBLK_OPN_VIRT_LUN);

		if (w == NULL_CHUNK_ID || cblk_set_size(w, CHUNK, 0) ||
		    write(pfd[1], "x", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	T_EQ(read(pfd[0], &c, 1), 1);
	T_ASSERT(maps_are(2));
	t0 = now_s();
	T_EQ(t_daemon_stop(&g_b), 0);
	T_ASSERT(maps_are(2));         /* both clients still held theirs */
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	start_vt(&g_a, "a", false);
	check(v, 300, 4, 9);
	check(v, 310, 2, 10);
	fprintf(stderr, "   the vLUN back through A %.2f s after B was stopped\n", now_s() - t0);
	/* The next flush may fail once (a lost master with a cache): then
	 * it succeeds. */
	put(v, 320, 1, 11, 0);
	if (cblk_sync(v, 0))
		T_EQ(cblk_sync(v, 0), 0);
	check(v, 320, 1, 11);
	/* The dead client's vLUN waits, and the status says so. */
	T_EQ(t_daemon_status(&g_a, g_out, sizeof(g_out)), 0);
	{
		const char *k = strstr(g_out, "\"kept_vluns\":[{\"lun\":\"vt\",\"vlun_id\":\"");
		const char *end = k ? strchr(k, ']') : NULL;
		int n = 0;

		T_ASSERT(k && end);
		for (const char *p = k; (p = strstr(p, "\"vlun_id\"")) && p < end; p++)
			n++;
		T_EQ(n, 1);                 /* the reattached one is not kept any more */
		T_ASSERT(strstr(k, "\"uid\":0,\"chunks\":1,\"waiting_s\":") < end);
	}
	{
		const char *args[] = { "status", "--socket", g_a.socket, NULL };

		T_EQ(t_run_tool(t_tool_path("cxlflash"), args, g_out, sizeof(g_out)), 0);
		T_ASSERT(strstr(g_out, "Kept vLUNs waiting for their client"));
	}
	T_EQ(cblk_close(v, 0), 0);
	T_ASSERT(maps_are(1));         /* the dead client's, until it expires */
	close(pfd[0]);
	close(pfd[1]);
}

int main(void)
{
	tk_setup();
	start_vt(&g_a, "a", false);
	T_RUN(kill9);
	T_RUN(restart);
	T_RUN(stop);
	T_EQ(t_daemon_stop(&g_a), 0);
	return T_PASS;
}
