/* SPDX-License-Identifier: Apache-2.0 */
/*
 * reset_storm.c - contexts put into error (the window reads all ones) at
 * random, every few milliseconds, while 8 clients run verified I/O through
 * cxlflashd: each client's library notices, runs RECOVER_AFU, moves to its
 * new context and resubmits what the AFU dropped. No client sees an error,
 * no acknowledged write is lost (every read is checked against what the
 * client last wrote; at the end each client reads its whole vLUN back),
 * nothing hangs (no op takes 2 s; a client stuck past the end is killed and
 * fails the test), and the master's invariants hold afterwards.
 *
 * The clients differ: synchronous or 8 asynchronous requests in flight,
 * with the completion thread or polling, SQ or IOARRIN rings (the library
 * picks). Duration: 3 s (CXLFLASH_SOAK=1: 60 s; CXLFLASH_RESET_SECS=N).
 * The run prints how many resets each client went through; a soak run
 * gives each well over 1,000.
 */
#include "d_test.h"

#include <cxlflash/cxlflash_ioctl.h>

#include "block/block_debug.h"
#include "master/embedded.h"

#define NCLIENTS 8
#define VBLOCKS  1024
#define QD       8

static struct t_daemon g_d;

struct storm {
	volatile int stop;
	struct {
		volatile uint64_t ctxid;   /* current context (0: not yet) */
		volatile uint64_t ops;
		volatile uint64_t resets;
		volatile uint64_t max_op_us;
	} c[NCLIENTS];
};

static int fail(int k, const char *what, int code)
{
	fprintf(stderr, "client %d: %s: %s\n", k, what, strerror(errno));
	return code;
}

/*
 * One client: @async picks QD requests in flight on distinct blocks,
 * waited for together; otherwise one synchronous request at a time.
 */
static int client(int k, struct storm *sh, bool async, int oflags)
{
	chunk_id_t id = cblk_open("lun0", 64, O_RDWR, 0, CBLK_OPN_VIRT_LUN | oflags);
	uint32_t *gen = calloc(VBLOCKS, sizeof(*gen));
	uint8_t *buf = bt_buf(QD);
	uint64_t seed = 0x9e3779b97f4a7c15ull ^ (uint64_t)k;
	chunk_stats_t st;

	if (id == NULL_CHUNK_ID || cblk_set_size(id, VBLOCKS, 0))
		return fail(k, "open", 10);
	sh->c[k].ctxid = cblk_debug_context_id(id);
	while (!sh->stop) {
		unsigned n = async ? QD : 1;
		uint64_t lba[QD], t0 = d_now_us(), dt;
		bool wr = t_rand(&seed) & 1;
		int tags[QD];

		/* Distinct blocks: a slot of VBLOCKS / QD each. */
		for (unsigned i = 0; i < n; i++)
			lba[i] = i * (VBLOCKS / QD) + t_rand(&seed) % (VBLOCKS / QD);
		for (unsigned i = 0; i < n; i++) {
			uint8_t *b = buf + (size_t)i * BLK;
			int rc;

			if (wr)
				t_pattern_fill(b, BLK, d_seed(k, gen[lba[i]] + 1), lba[i]);
			if (!async)
				rc = wr ? cblk_write(id, b, (cflash_offset_t)lba[i], 1, 0)
					: cblk_read(id, b, (cflash_offset_t)lba[i], 1, 0);
			else
				rc = wr ? cblk_awrite(id, b, (cflash_offset_t)lba[i], 1, &tags[i],
						      NULL, CBLK_ARW_WAIT_CMD_FLAGS)
					: cblk_aread(id, b, (cflash_offset_t)lba[i], 1, &tags[i],
						     NULL, CBLK_ARW_WAIT_CMD_FLAGS);
			if (rc < 0 || (!async && rc != 1))
				return fail(k, wr ? "write" : "read", 11);
		}
		for (unsigned i = 0; async && i < n; i++) {
			uint64_t status;

			if (cblk_aresult(id, &tags[i], &status, CBLK_ARESULT_BLOCKING) != 1)
				return fail(k, "aresult", 12);
		}
		for (unsigned i = 0; i < n; i++) {
			if (wr) {
				gen[lba[i]]++;   /* acknowledged */
			} else if (d_check_block(buf + (size_t)i * BLK, k, gen[lba[i]], lba[i])) {
				fprintf(stderr, "client %d: lba %llu gen %u: data mismatch\n", k,
					(unsigned long long)lba[i], gen[lba[i]]);
				return 13;
			}
		}
		dt = d_now_us() - t0;
		if (dt > sh->c[k].max_op_us)
			sh->c[k].max_op_us = dt;
		if (dt > D_MAX_OP_US) {
			fprintf(stderr, "client %d: one round took %llu us\n", k,
				(unsigned long long)dt);
			return 14;
		}
		sh->c[k].ops += n;
		sh->c[k].ctxid = cblk_debug_context_id(id);
	}
	/* Every acknowledged write is there. */
	for (uint64_t lba = 0; lba < VBLOCKS; lba++) {
		if (cblk_read(id, buf, (cflash_offset_t)lba, 1, 0) != 1)
			return fail(k, "final read", 15);
		if (d_check_block(buf, k, gen[lba], lba)) {
			fprintf(stderr, "client %d: final: lba %llu: data mismatch\n", k,
				(unsigned long long)lba);
			return 16;
		}
	}
	if (cblk_get_stats(id, &st, 0))
		return fail(k, "stats", 17);
	sh->c[k].resets = st.num_reset_contexts;
	if (st.num_reset_contxt_fails) {
		fprintf(stderr, "client %d: %llu failed context resets\n", k,
			(unsigned long long)st.num_reset_contxt_fails);
		return 18;
	}
	free(gen);
	free(buf);
	return cblk_close(id, 0) ? fail(k, "close", 19) : 0;
}

static void storm(void)
{
	const char *args[] = { "--lun", "lun0=ram:4G", "--allow", "lun0=all", NULL };
	unsigned long secs = d_iters("CXLFLASH_RESET_SECS", 3, 60);
	struct storm *sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
				MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	uint64_t seed = 12345, injected = 0, refused = 0, end, total_resets = 0, ops = 0;
	pid_t pids[NCLIENTS];
	char why[256];
	int fd1;

	T_ASSERT(sh != MAP_FAILED);
	memset(sh, 0, sizeof(*sh));
	T_EQ(d_start(&g_d, args), 0);
	for (int k = 0; k < NCLIENTS; k++) {
		pids[k] = d_fork();
		if (pids[k] == 0) {
			alarm((unsigned)secs + 60);   /* a hang fails the test, not CI */
			_exit(client(k, sh, k % 2, k & 2 ? CBLK_OPN_NO_INTRP_THREADS : 0));
		}
	}
	/* The injector: a connection of its own (root may error any context). */
	fd1 = cxlflash_open("lun0", O_RDWR);
	T_ASSERT(fd1 >= 0);
	end = d_now_us() + secs * 1000000;
	while (d_now_us() < end) {
		int k = (int)(t_rand(&seed) % NCLIENTS);
		uint64_t ctx = sh->c[k].ctxid;

		d_sleep_us(2000 + t_rand(&seed) % 6000);
		if (!ctx)
			continue;
		/* The client may be recovering already: its old context is gone. */
		if (cxlflash_debug_ctx_error(fd1, ctx) == 0)
			injected++;
		else
			refused++;
	}
	sh->stop = 1;
	for (int k = 0; k < NCLIENTS; k++) {
		T_EQ(d_wait(pids[k]), 0);
		total_resets += sh->c[k].resets;
		ops += sh->c[k].ops;
		fprintf(stderr, "   client %d: %llu ops, %llu resets, slowest round %llu us\n", k,
			(unsigned long long)sh->c[k].ops, (unsigned long long)sh->c[k].resets,
			(unsigned long long)sh->c[k].max_op_us);
		T_ASSERT(sh->c[k].ops > 0);
	}
	fprintf(stderr, "%lu s, %llu contexts put into error (%llu refused: already gone), "
		"%llu resets recovered, %llu verified ops\n", secs,
		(unsigned long long)injected, (unsigned long long)refused,
		(unsigned long long)total_resets, (unsigned long long)ops);
	/* An error injected twice before the client noticed is one reset. */
	T_ASSERT(injected > 0);
	T_ASSERT(total_resets > 0 && total_resets <= injected);
	T_EQ(t_daemon_check("lun0", why, sizeof(why)), 0);
	T_EQ(cxlflash_close(fd1), 0);
	T_EQ(t_daemon_stop(&g_d), 0);
}

int main(void)
{
	T_SKIP_IF(access(t_tool_path("cxlflashd"), X_OK), "no cxlflashd binary");
	T_RUN(storm);
	return T_PASS;
}
