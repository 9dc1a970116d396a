/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: an RBD image's owner fails and another cxlflashd takes it
 * over (--takeover), with two daemons on one host as two sockets (a.sock,
 * b.sock) on a one-node Ceph cluster (tk_test.h):
 *
 *   kill9     a client with CXLFLASH_SOCKET=b:a keeps writing (QD 16, each
 *             round flushed) and reading while B is killed (SIGKILL) and A
 *             started with --takeover: B was a process of this machine that
 *             has exited, so A blocklists B at once, takes the image, the
 *             client reconnects to it and goes on, and at the end every
 *             acknowledged, flushed round reads back. A flush that was in
 *             flight at the kill (or the next one) fails when B had
 *             acknowledged writes since the last flush (they may have been
 *             in its librbd cache): the client writes that round again,
 *             and this process's unflushed write through B makes its next
 *             flush fail once. A virtual chunk opened through B (on a
 *             second LUN of both daemons) reattaches to A with its data:
 *             its map was kept in the image (more in vlun_takeover);
 *   paused    the owner is paused (SIGSTOP), the other daemon takes over
 *             (--takeover) once the paused one's watch expired (5 s) and
 *             writes; after SIGCONT the paused one's client (its list
 *             a:b) writes with FUA: the resumed owner, blocklisted, drops
 *             the write and ends the client's connection, the client
 *             reconnects to the new owner (the old one no longer serves
 *             the LUN) and writes it there; the flush after it fails once
 *             (the old owner acknowledged a write it may have held in its
 *             cache only); a virtual chunk opened through A moves to B
 *             with its data at its next request (its map kept in the image);
 *             every block reads back as the client last wrote it;
 *   restart   the owner killed and started again without --takeover gets
 *             its image back at once (its dead self held it).
 */
#include "tk_test.h"

/*
 * The client of kill9: rounds of QD one-block async writes into slot
 * (round % SLOTS), a cblk_sync, then their read-back; until SIGUSR1. Then
 * every slot must hold the last round acknowledged in it. Exit 0 when all
 * of it held.
 */
static volatile sig_atomic_t g_stop;

static void on_usr1(int sig)
{
	(void)sig;
	g_stop = 1;
}

static int client(void)
{
	chunk_id_t id = cblk_open("lun0", QD, O_RDWR, 0, 0);
	uint8_t *w = bt_buf(QD), *r = bt_buf(QD);
	int64_t last[SLOTS];
	uint64_t round = 0;
	unsigned failed_syncs = 0;
	double t = now_s(), gap = 0;

	if (id == NULL_CHUNK_ID)
		return 2;
	for (unsigned s = 0; s < SLOTS; s++)
		last[s] = -1;
	while (!g_stop) {
		unsigned slot = (unsigned)(round % SLOTS);
		uint64_t lba0 = (uint64_t)slot * QD;
		int tags[QD];
		uint64_t st;

		for (int i = 0; i < QD; i++) {
			t_pattern_fill(w + (size_t)i * BLK, BLK, round, lba0 + (uint64_t)i);
			if (cblk_awrite(id, w + (size_t)i * BLK, (cflash_offset_t)(lba0 + i), 1,
					&tags[i], NULL, 0))
				return 3;
		}
		for (int i = 0; i < QD; i++)
			if (cblk_aresult(id, &tags[i], &st, CBLK_ARESULT_BLOCKING) != 1) {
				fprintf(stderr, "client: write failed: %s\n", strerror(errno));
				return 4;
			}
		if (cblk_sync(id, 0)) {
			/* Once, after the takeover, when B died with writes it had
			 * acknowledged but not flushed (its librbd cache): this
			 * round is not durable, so it is written again. */
			fprintf(stderr, "client: sync failed: %s\n", strerror(errno));
			if (errno != EIO || ++failed_syncs > 2)
				return 5;
			continue;
		}
		last[slot] = (int64_t)round;   /* acknowledged and flushed */
		if (cblk_read(id, r, (cflash_offset_t)lba0, QD, 0) != QD ||
		    t_pattern_check(r, (size_t)QD * BLK, round, lba0))
			return 6;
		round++;
		if (now_s() - t > gap)
			gap = now_s() - t;
		t = now_s();
	}
	for (unsigned s = 0; s < SLOTS; s++) {
		if (last[s] < 0)
			continue;
		if (cblk_read(id, r, (cflash_offset_t)s * QD, QD, 0) != QD ||
		    t_pattern_check(r, (size_t)QD * BLK, (uint64_t)last[s], (uint64_t)s * QD)) {
			fprintf(stderr, "client: slot %u lost round %lld\n", s, (long long)last[s]);
			return 7;
		}
	}
	fprintf(stderr, "client: %llu rounds, all flushed rounds read back, %u flush(es) "
		"failed (a round written again); longest pause %.2f s\n",
		(unsigned long long)round, failed_syncs, gap);
	return cblk_close(id, 0) ? 8 : 0;
}

/*
 * B (the owner) killed under a client's load; A takes over; the client
 * follows, and so does a virtual chunk (its map kept in the image).
 */
static void kill9(void)
{
	chunk_id_t v, p;
	uint8_t *b = bt_buf(1);
	pid_t pid;
	int status;
	double t0;

	snprintf(g_a.socket, sizeof(g_a.socket), "%s", t_path("a.sock"));  /* A: not up yet */
	use_sockets(&g_b, &g_a);
	pid = fork();
	T_ASSERT(pid >= 0);
	if (pid == 0) {
		signal(SIGUSR1, on_usr1);
		_exit(client());
	}
	v = bt_open_virt("vl", 4, 0, 64);
	t_pattern_fill(b, BLK, 21, 3);
	T_EQ(cblk_write(v, b, 3, 1, CBLK_ARW_FUA_FLAG), 1);
	/* A write B acknowledged and nobody flushed: maybe only in its cache. */
	p = bt_open("lun0", 4, O_RDWR, 0);
	t_pattern_fill(b, BLK, 22, 20000);
	T_EQ(cblk_write(p, b, 20000, 1, 0), 1);
	usleep(700000);
	t0 = now_s();
	t_daemon_kill(&g_b);
	start(&g_a, "a", true);
	fprintf(stderr, "   taken over %.2f s after the kill\n", now_s() - t0);
	usleep(1000000);   /* the client works through A for a while */
	kill(pid, SIGUSR1);
	T_EQ(waitpid(pid, &status, 0), pid);
	T_ASSERT(WIFEXITED(status));
	T_EQ(WEXITSTATUS(status), 0);
	/* The vLUN's map was kept in the image: A gave it back. */
	memset(b, 0, BLK);
	T_EQ(cblk_read(v, b, 3, 1, 0), 1);
	T_EQ(t_pattern_check(b, BLK, 21, 3), 0);
	T_EQ(cblk_close(v, 0), 0);
	t_pattern_fill(b, BLK, 22, 20000);
	/* The flush after the takeover cannot vouch for that write: EIO, once. */
	errno = 0;
	T_EQ(cblk_sync(p, 0), -1);
	T_EQ(errno, EIO);
	T_EQ(cblk_sync(p, 0), 0);
	T_EQ(cblk_write(p, b, 20000, 1, 0), 1);
	T_EQ(cblk_sync(p, 0), 0);
	memset(b, 0, BLK);
	T_EQ(cblk_read(p, b, 20000, 1, 0), 1);
	T_EQ(t_pattern_check(b, BLK, 22, 20000), 0);
	T_EQ(cblk_close(p, 0), 0);
	free(b);
	use_sockets(&g_a, NULL);
	check_blocks(10000, 8, 11);    /* handover's data is still there */
}

/* A (the owner) paused; B takes over; A, resumed, is fenced: its client
 * moves to B. */
static void paused(void)
{
	chunk_id_t id, v;
	uint8_t *b = bt_buf(2);
	double t0;
	int rc;

	use_sockets(&g_a, &g_b);
	id = bt_open("lun0", 4, O_RDWR, 0);
	v = bt_open_virt("vl", 4, 0, 64);
	t_pattern_fill(b, BLK, 35, 7);
	T_EQ(cblk_write(v, b, 7, 1, CBLK_ARW_FUA_FLAG), 1);
	t_pattern_fill(b, BLK, 31, 5000);
	T_EQ(cblk_write(id, b, 5000, 1, CBLK_ARW_FUA_FLAG), 1);
	t_pattern_fill(b, BLK, 34, 5001);
	T_EQ(cblk_write(id, b, 5001, 1, 0), 1);   /* not flushed */
	T_EQ(kill(g_a.pid, SIGSTOP), 0);
	t0 = now_s();
	start(&g_b, "b", true);
	fprintf(stderr, "   taken over %.2f s after the pause\n", now_s() - t0);
	use_sockets(&g_b, NULL);
	write_blocks(5000, 1, 32, CBLK_ARW_FUA_FLAG);
	T_EQ(kill(g_a.pid, SIGCONT), 0);
	/* A, resumed, believes it still serves the LUN; the OSDs do not: the
	 * write fails there, A drops it and sends the client away, and the
	 * client writes it through B. */
	t_pattern_fill(b, BLK, 33, 5000);
	t0 = now_s();
	T_EQ(cblk_write(id, b, 5000, 1, CBLK_ARW_FUA_FLAG), 1);
	fprintf(stderr, "   the fenced owner's client wrote through the new one in %.2f s\n",
		now_s() - t0);
	/* The unflushed write A acknowledged may have been in its cache
	 * only: the flush cannot vouch for it, once. */
	errno = 0;
	rc = cblk_sync(id, 0);
	fprintf(stderr, "   the first flush after the move: %s\n", rc ? strerror(errno) : "ok");
	T_EQ(rc, -1);
	T_EQ(errno, EIO);
	t_pattern_fill(b, BLK, 34, 5001);
	T_EQ(cblk_write(id, b, 5001, 1, 0), 1);
	T_EQ(cblk_sync(id, 0), 0);
	memset(b, 0, BLK);
	T_EQ(cblk_read(id, b, 5000, 1, 0), 1);
	T_EQ(t_pattern_check(b, BLK, 33, 5000), 0);
	T_EQ(cblk_close(id, 0), 0);
	check_blocks(5000, 1, 33);
	check_blocks(5001, 1, 34);
	/* The vLUN (its map kept in the image) goes to B the same way, at its
	 * first request after A learnt it was fenced on that image. */
	t_pattern_fill(b, BLK, 36, 8);
	T_EQ(cblk_write(v, b, 8, 1, CBLK_ARW_FUA_FLAG), 1);
	memset(b, 0, BLK);
	T_EQ(cblk_read(v, b, 7, 1, 0), 1);
	T_EQ(t_pattern_check(b, BLK, 35, 7), 0);
	T_EQ(cblk_read(v, b, 8, 1, 0), 1);
	T_EQ(t_pattern_check(b, BLK, 36, 8), 0);
	T_EQ(cblk_close(v, 0), 0);
	free(b);
}

/*
 * B (the owner) killed and started again, without --takeover: its dead
 * self held the image, a process of this machine that no longer exists,
 * so the image is taken at once (no wait for the watch to expire).
 */
static void restart(void)
{
	double t0;

	t_daemon_kill(&g_b);
	t0 = now_s();
	start(&g_b, "b", false);
	fprintf(stderr, "   restarted in %.2f s\n", now_s() - t0);
	use_sockets(&g_b, NULL);
	check_blocks(5000, 1, 33);
	check_blocks(10000, 8, 11);
}

int main(void)
{
	tk_setup();
	start(&g_b, "b", false);
	use_sockets(&g_b, NULL);
	write_blocks(10000, 8, 11, 0);
	T_RUN(kill9);
	T_RUN(paused);
	t_daemon_stop(&g_a);   /* fenced: its flush at exit fails, said in its log */
	T_RUN(restart);
	T_EQ(t_daemon_stop(&g_b), 0);
	return T_PASS;
}
