/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kill9.c - clients killed with SIGKILL at random moments (while opening,
 * attaching, sizing, or mid-I/O) are detached: after each kill the master's
 * invariants hold, status shows no context or vLUN of the dead, every chunk
 * is accounted for, the daemon's RSS and descriptor count do not grow, and
 * two long-lived clients keep verifying their data throughout.
 * Iterations: 20 (CXLFLASH_SOAK=1: 1000; CXLFLASH_KILL_ITERS=N overrides).
 */
#include "d_test.h"

/*
 * How far the daemon's RSS may rise after warm-up. Under ASan freed memory
 * sits in quarantine (per thread, then globally, up to 256 MiB) before it
 * is reused, so RSS climbs without a leak: with two AFU workers (more
 * freeing threads) a 20-iteration run rose 8.9 MiB in CI. LeakSanitizer
 * checks the daemon for leaks at its exit there; the soak's 1,000 rounds in
 * the normal build check the trend.
 */
#if defined(__SANITIZE_ADDRESS__)
#define RSS_SLACK_KB 32768
#else
#define RSS_SLACK_KB 8192
#endif

#define LIVE       2          /* long-lived verifying clients */
#define EPHEMERAL  2          /* vLUN clients per iteration, maybe killed */
#define VBLOCKS    1024       /* per vLUN: one chunk */
#define PHYS_BLKS  256        /* the physical reader's pre-written range */
#define PHYS_SEED  4242

static struct t_daemon g_d;

/* Write the physical LUN's pattern (in a child: the parent stays cblk-free). */
static void phys_prepare(void)
{
	pid_t pid = d_fork();

	if (pid == 0) {
		chunk_id_t id = cblk_open("phys", 8, O_RDWR, 0, 0);
		uint8_t *w = bt_buf(PHYS_BLKS);

		if (id == NULL_CHUNK_ID)
			_exit(2);
		t_pattern_fill(w, (size_t)PHYS_BLKS * BLK, PHYS_SEED, 0);
		for (unsigned lba = 0; lba < PHYS_BLKS; lba += 8)
			if (cblk_write(id, w + (size_t)lba * BLK, lba, 8, 0) != 8)
				_exit(3);
		_exit(cblk_close(id, 0) ? 4 : 0);
	}
	T_EQ(d_wait(pid), 0);
}

/* A physical reader: random reads of the pre-written range, verified. */
static int phys_reader(struct d_shared *sh, int k)
{
	chunk_id_t id = cblk_open("phys", 8, O_RDONLY, 0, 0);
	uint8_t *r = bt_buf(8);
	uint64_t seed = (uint64_t)getpid() * 7919;

	if (id == NULL_CHUNK_ID) {
		fprintf(stderr, "phys reader: open: %s\n", strerror(errno));
		return 20;
	}
	sh->c[k].ready = 1;
	while (!sh->stop) {
		uint32_t cnt = 1 + (uint32_t)(t_rand(&seed) % 8);
		uint64_t lba = t_rand(&seed) % (PHYS_BLKS - cnt + 1);

		if (cblk_read(id, r, (cflash_offset_t)lba, cnt, 0) != (int)cnt) {
			fprintf(stderr, "phys reader: read: %s\n", strerror(errno));
			return 21;
		}
		for (uint32_t i = 0; i < cnt; i++) {
			/* Block lba+i as the whole-range fill wrote it. */
			if (t_pattern_check(r + (size_t)i * BLK, BLK, PHYS_SEED, lba + i)) {
				fprintf(stderr, "phys reader: lba %llu: mismatch\n",
					(unsigned long long)(lba + i));
				return 22;
			}
		}
		sh->c[k].ops++;
	}
	return cblk_close(id, 0) ? 23 : 0;
}

struct counts {
	long long contexts, used, nfree;
};

static struct counts counts_of(const char *st)
{
	const char *l = d_lun_json(st, "lun0");
	struct counts c = { t_json_num(st, "contexts"), t_json_num(l, "chunks_used"),
			    t_json_num(l, "chunks_free") };

	return c;
}

/*
 * Poll the status (1 s at most) until it matches @want and shows nothing
 * of @dead. Return: the last status.
 */
static const char *settle(struct counts want, const pid_t *dead, int ndead)
{
	uint64_t end = d_now_us() + 1000000;
	const char *st;

	for (;;) {
		struct counts c;
		bool ok;

		st = d_status(&g_d);
		c = counts_of(st);
		ok = c.contexts == want.contexts && c.used == want.used && c.nfree == want.nfree;
		for (int i = 0; ok && i < ndead; i++)
			ok = !d_status_has_owner(st, dead[i]);
		if (ok)
			return st;
		if (d_now_us() > end) {
			fprintf(stderr, "status did not settle: contexts %lld used %lld free %lld, "
				"want %lld/%lld/%lld\n%s\n", c.contexts, c.used, c.nfree,
				want.contexts, want.used, want.nfree, st);
			exit(T_FAIL);
		}
		d_sleep_us(5000);
	}
}

/* Chunks waiting for their scrub, over every LUN of a status; -1 unknown. */
static long scrubbing(const char *st)
{
	static const char key[] = "\"chunks_scrubbing\":";
	long n = -1;

	for (const char *p = strstr(st, key); p; p = strstr(p, key)) {
		p += sizeof(key) - 1;
		n = (n < 0 ? 0 : n) + strtol(p, NULL, 10);
	}
	return n;
}

/* Freed chunks are scrubbed in the background (src/master/scrub.c); a RAM
 * chunk's memory goes back only then. Wait (up to 10 s) for none to be
 * waiting, so the RSS compared is not whatever the scrub had not reached. */
static bool wait_scrubbed(void)
{
	static char st[65536];

	for (int i = 0; i < 1000; i++) {
		if (t_daemon_status(&g_d, st, sizeof(st)) == 0 && scrubbing(st) == 0)
			return true;
		d_sleep_us(10000);
	}
	return false;
}

static void kill_loop(void)
{
	unsigned long iters = d_iters("CXLFLASH_KILL_ITERS", 20, 1000);
	unsigned long warm = iters / 4 < 5 ? (iters < 5 ? 0 : 5) : iters / 4;
	struct d_shared *live = d_shared_new(), *eph = d_shared_new();
	pid_t lpid[LIVE];
	struct counts base;
	long rss0 = 0, rss_max = 0;
	bool scrubbed;
	int fds0 = -1;
	uint64_t seed = (uint64_t)getpid() ^ 0x5eed, t0 = d_now_us();
	unsigned long killed = 0, kills_during_setup = 0;

	for (int k = 0; k < LIVE; k++)
		lpid[k] = d_spawn_client("lun0", k, VBLOCKS, live, 0);
	for (int k = 0; k < LIVE; k++)
		d_wait_ready(live, k);
	base = counts_of(d_status(&g_d));
	T_EQ(base.used, LIVE);

	for (unsigned long it = 0; it < iters; it++) {
		pid_t pids[EPHEMERAL + 1], dead[EPHEMERAL + 1];
		int ndead = 0;
		unsigned mask;
		uint64_t delay;

		memset(eph, 0, sizeof(*eph));
		for (int k = 0; k < EPHEMERAL; k++)
			pids[k] = d_spawn_client("lun0", k, VBLOCKS, eph, 0);
		pids[EPHEMERAL] = d_fork();
		if (pids[EPHEMERAL] == 0)
			_exit(phys_reader(eph, EPHEMERAL));

		/* A random moment: a quarter of the time within the first few
		 * milliseconds (the control path: open, attach, size), else
		 * up to 150 ms into the I/O. */
		delay = t_rand(&seed) % 4 == 0 ? t_rand(&seed) % 2000 : t_rand(&seed) % 150000;
		d_sleep_us(delay);
		mask = 1 + (unsigned)(t_rand(&seed) % ((1u << (EPHEMERAL + 1)) - 1));
		for (int k = 0; k <= EPHEMERAL; k++) {
			if (!(mask & (1u << k)))
				continue;
			if (!eph->c[k].ready)
				kills_during_setup++;
			T_EQ(kill(pids[k], SIGKILL), 0);
			dead[ndead++] = pids[k];
		}
		eph->stop = 1;
		for (int k = 0; k <= EPHEMERAL; k++) {
			int rc = d_wait(pids[k]);

			if (mask & (1u << k)) {
				/* Killed, unless it had already failed. */
				if (rc != 128 + SIGKILL) {
					fprintf(stderr, "iteration %lu: client %d: status %d\n", it, k,
						rc);
					exit(T_FAIL);
				}
			} else if (rc != 0) {
				fprintf(stderr, "iteration %lu: surviving client %d: status %d\n",
					it, k, rc);
				exit(T_FAIL);
			}
		}
		killed += (unsigned long)ndead;
		settle(base, dead, ndead);
		d_check("lun0");
		d_check("phys");
		for (int k = 0; k < LIVE; k++)
			T_EQ(waitpid(lpid[k], NULL, WNOHANG), 0);
		T_ASSERT(t_daemon_alive(&g_d));
		/* On a loaded machine the scrub may not be done in 10 s (a
		 * 2026-12-07 run beside a soak): that round's RSS is not
		 * compared (it holds what the scrub has not reached yet). */
		scrubbed = it >= warm && wait_scrubbed();
		if (it == warm) {
			rss0 = scrubbed ? t_daemon_rss_kb(&g_d) : 0;
			fds0 = t_daemon_fds(&g_d);
		} else if (it > warm) {
			long rss = t_daemon_rss_kb(&g_d);
			int fds = t_daemon_fds(&g_d);

			if (!scrubbed)
				rss = 0;
			else if (!rss0)
				rss0 = rss;
			if (rss > rss_max)
				rss_max = rss;
			/* The last status or check connection may still be closing
			 * (then, or at warm-up): a leak is a count that stays above
			 * the lowest seen. */
			for (int i = 0; i < 200 && fds > fds0; i++) {
				d_sleep_us(5000);
				fds = t_daemon_fds(&g_d);
			}
			if (fds < fds0)
				fds0 = fds;
			if (fds > fds0) {
				fprintf(stderr, "iteration %lu: daemon fds %d, were %d\n", it, fds,
					fds0);
				exit(T_FAIL);
			}
		}
	}
	live->stop = 1;
	for (int k = 0; k < LIVE; k++) {
		T_EQ(d_wait(lpid[k]), 0);
		T_ASSERT(live->c[k].ops > 0);
	}
	fprintf(stderr, "%lu iterations, %lu clients killed (%lu before their vLUN was sized), "
		"%.1f s; live clients: %llu + %llu ops, slowest %llu us; daemon RSS %ld KiB "
		"after warm-up, %ld KiB max after; fds %d\n",
		iters, killed, kills_during_setup, (double)(d_now_us() - t0) / 1e6,
		(unsigned long long)live->c[0].ops, (unsigned long long)live->c[1].ops,
		(unsigned long long)(live->c[0].max_op_us > live->c[1].max_op_us ?
				     live->c[0].max_op_us : live->c[1].max_op_us),
		rss0, rss_max, fds0);
	/* RSS: no trend beyond a small bound after warm-up (allocator and
	 * sanitizer caches settle; a leak per iteration would show). */
	if (rss0 && rss_max > rss0 + RSS_SLACK_KB + (long)(iters / 100) * 512) {
		fprintf(stderr, "daemon RSS grew from %ld to %ld KiB\n", rss0, rss_max);
		exit(T_FAIL);
	}
	settle((struct counts){ 0, 0, 8 }, lpid, LIVE);
	d_check("lun0");
}

int main(void)
{
	const char *args[] = { "--lun", "lun0=ram:2G", "--lun", "phys=ram:64M",
			       "--allow", "lun0=all", NULL };

	T_SKIP_IF(access(t_tool_path("cxlflashd"), X_OK), "no cxlflashd binary");
	setenv("CFLSH_BLK_MAX_XFER", "8", 0); /* multi-block vLUN commands too */
	T_EQ(d_start(&g_d, args), 0);
	phys_prepare();
	T_RUN(kill_loop);
	T_EQ(t_daemon_stop(&g_d), 0);
	return T_PASS;
}
