/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: one owner per RBD image, and takeover, with two cxlflashd
 * on one host as two sockets (a.sock, b.sock) serving the same image of a
 * one-node Ceph cluster (whose OSD drops a silent client's watch after 5 s,
 * tests/lib/ceph-cluster.sh):
 *
 *   refused   while A holds the image, B configured with it does not start
 *             and its message names A (pid, socket);
 *   handover  A stopped cleanly, B started: B reads what A's client wrote,
 *             and both gave the LUN the same WWID;
 *   kill9     a client with CXLFLASH_SOCKET=b:a keeps writing (QD 16, each
 *             round flushed) and reading while B is killed (SIGKILL) and A
 *             started with --takeover: A blocklists B, takes the image, the
 *             client reconnects to it and goes on, and at the end every
 *             acknowledged, flushed round reads back. A flush that was in
 *             flight at the kill (or the next one) fails when B had
 *             acknowledged writes since the last flush (they may have been
 *             in its librbd cache): the client writes that round again,
 *             and this process's unflushed write through B makes its next
 *             flush fail once; a virtual chunk
 *             opened through B (on a second LUN of both daemons) fails
 *             with EIO (vLUN maps are not kept);
 *   paused    the owner is paused (SIGSTOP), the other daemon takes over
 *             (--takeover) and writes; after SIGCONT the paused one's
 *             client's FUA write fails (it was blocklisted) and the new
 *             owner's data is intact.
 */
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

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Start daemon @d named @name on the image, with --takeover when @takeover. */
static void start(struct t_daemon *d, const char *name, bool takeover)
{
	const char *args[] = { "--lun", "lun0=" IMG, "--lun", "vl=" VIMG, "--no-nbd",
			       takeover ? "--takeover" : NULL, NULL };
	double t0 = now_s();

	T_EQ(t_daemon_start_as(d, name, 60, args), 0);
	fprintf(stderr, "   daemon %s (pid %d) ready in %.2f s%s\n", name, (int)d->pid,
		now_s() - t0, takeover ? " (--takeover)" : "");
}

/* The LUN's WWID as daemon @d reports it. */
static void wwid_of(struct t_daemon *d, char w[33])
{
	const char *p;

	T_EQ(t_daemon_status(d, g_out, sizeof(g_out)), 0);
	p = strstr(g_out, "\"wwid\":\"");
	T_ASSERT(p);
	memcpy(w, p + 8, 32);
	w[32] = 0;
}

static void use_sockets(const struct t_daemon *first, const struct t_daemon *second)
{
	char list[300];

	if (second)
		snprintf(list, sizeof(list), "%s:%s", first->socket, second->socket);
	else
		snprintf(list, sizeof(list), "%s", first->socket);
	setenv("CXLFLASH_SOCKET", list, 1);
}

static void write_blocks(uint64_t lba, unsigned n, uint64_t seed, int flags)
{
	chunk_id_t id = bt_open("lun0", 4, O_RDWR, 0);
	uint8_t *b = bt_buf(n);

	t_pattern_fill(b, (size_t)n * BLK, seed, lba);
	T_EQ(cblk_write(id, b, (cflash_offset_t)lba, n, flags), n);
	T_EQ(cblk_sync(id, 0), 0);
	T_EQ(cblk_close(id, 0), 0);
	free(b);
}

static void check_blocks(uint64_t lba, unsigned n, uint64_t seed)
{
	chunk_id_t id = bt_open("lun0", 4, O_RDWR, 0);
	uint8_t *b = bt_buf(n);

	T_EQ(cblk_read(id, b, (cflash_offset_t)lba, n, 0), n);
	T_EQ(t_pattern_check(b, (size_t)n * BLK, seed, lba), 0);
	T_EQ(cblk_close(id, 0), 0);
	free(b);
}

/* A holds the image: B refuses it, naming A, and does not start. */
static void refused(void)
{
	char pid[32];
	const char *argv[] = { t_tool_path("cxlflashd"), "--socket", t_path("b.sock"),
			       "--no-nbd", "--lun", "lun0=" IMG, NULL };
	int st = t_run_argv(argv, NULL, T_RUN_STDERR, g_out, sizeof(g_out));

	fprintf(stderr, "%s", g_out);
	T_ASSERT(st != 0);
	snprintf(pid, sizeof(pid), "cxlflashd pid %d ", (int)g_a.pid);
	T_ASSERT(strstr(g_out, "held by client"));
	T_ASSERT(strstr(g_out, pid));
	T_ASSERT(strstr(g_out, g_a.socket));
	T_ASSERT(strstr(g_out, "--takeover"));
}

/* A stops cleanly (its lock released), B starts: same data, same WWID. */
static void handover(void)
{
	char wa[33], wb[33];

	use_sockets(&g_a, NULL);
	write_blocks(10000, 8, 11, 0);
	wwid_of(&g_a, wa);
	T_EQ(t_daemon_stop(&g_a), 0);
	start(&g_b, "b", false);
	wwid_of(&g_b, wb);
	fprintf(stderr, "   WWID from a: %s, from b: %s\n", wa, wb);
	T_ASSERT(!strcmp(wa, wb));
	use_sockets(&g_b, NULL);
	check_blocks(10000, 8, 11);
}

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
 * follows. A virtual chunk does not: its map lived in B (EIO).
 */
static void kill9(void)
{
	chunk_id_t v, p;
	uint8_t *b = bt_buf(1);
	pid_t pid;
	int status;
	double t0;

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
	usleep(1500000);   /* the client works through A for a while */
	kill(pid, SIGUSR1);
	T_EQ(waitpid(pid, &status, 0), pid);
	T_ASSERT(WIFEXITED(status));
	T_EQ(WEXITSTATUS(status), 0);
	errno = 0;
	T_EQ(cblk_read(v, b, 3, 1, 0), -1);
	T_EQ(errno, EIO);
	T_EQ(cblk_close(v, 0), 0);
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

/* A (the owner) paused; B takes over; A, resumed, can no longer write. */
static void paused(void)
{
	chunk_id_t id;
	uint8_t *b = bt_buf(2);
	double t0;

	use_sockets(&g_a, NULL);
	id = bt_open("lun0", 4, O_RDWR, 0);
	t_pattern_fill(b, BLK, 31, 5000);
	T_EQ(cblk_write(id, b, 5000, 1, CBLK_ARW_FUA_FLAG), 1);
	T_EQ(kill(g_a.pid, SIGSTOP), 0);
	t0 = now_s();
	start(&g_b, "b", true);
	fprintf(stderr, "   taken over %.2f s after the pause\n", now_s() - t0);
	use_sockets(&g_b, NULL);
	write_blocks(5000, 1, 32, CBLK_ARW_FUA_FLAG);
	T_EQ(kill(g_a.pid, SIGCONT), 0);
	/* A, resumed, believes it still serves the LUN; the OSDs do not. */
	t_pattern_fill(b, BLK, 33, 5000);
	errno = 0;
	T_EQ(cblk_write(id, b, 5000, 1, CBLK_ARW_FUA_FLAG), -1);
	fprintf(stderr, "   the fenced owner's FUA write failed: %s\n", strerror(errno));
	errno = 0;
	if (cblk_write(id, b, 5001, 1, 0) == 1)
		T_EQ(cblk_sync(id, 0), -1);   /* acknowledged from librbd's cache at most */
	cblk_close(id, 0);
	check_blocks(5000, 1, 32);
	free(b);
}

int main(void)
{
	struct be_spec spec;
	struct backend *be;
	int rc;

	signal(SIGPIPE, SIG_IGN);
	T_SKIP_IF(access(t_tool_path("cxlflashd"), X_OK), "no cxlflashd binary");
	t_ceph_start("rbd");
	T_EQ(be_parse_spec("rbd:rbd/probe?size=4K", &spec), 0);
	rc = be_open(&spec, &be);
	T_SKIP_IF(rc == -ENOTSUP, "built without librbd");
	T_EQ(rc, 0);
	be_close(be);

	start(&g_a, "a", false);
	T_RUN(refused);
	T_RUN(handover);
	T_RUN(kill9);
	T_RUN(paused);
	t_daemon_stop(&g_a);   /* fenced: its flush at exit fails, said in its log */
	T_EQ(t_daemon_stop(&g_b), 0);
	return T_PASS;
}
