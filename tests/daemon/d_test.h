/* SPDX-License-Identifier: Apache-2.0 */
/*
 * d_test.h - shared by the daemon's isolation and lifecycle tests: a
 * verifying client (a process that owns one vLUN, remembers what it wrote
 * to every block, checks every read against that and times every
 * operation), a page of shared memory to steer and watch such clients,
 * soak scaling, and status checks (contexts, chunks, owners).
 */
#ifndef CXLFLASH_D_TEST_H
#define CXLFLASH_D_TEST_H

#include <signal.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <capiblock.h>

#include "../block/blk_test.h"
#include "t_daemon.h"
#include "t_tool.h"

#define D_MAX_CLIENTS 16
#define D_MAX_OP_US   (2000000ull * T_SLOW) /* a bystander op slower than this is a stall */

/* What a verifying client reports (in shared memory). */
struct d_client_state {
	volatile uint64_t ops;         /* reads + writes done */
	volatile uint64_t max_op_us;   /* slowest single op */
	volatile int ready;            /* vLUN open and sized */
	volatile int done;
};

struct d_shared {
	volatile int stop;             /* set by the parent: finish, verify all, exit */
	struct d_client_state c[D_MAX_CLIENTS];
};

static inline struct d_shared *d_shared_new(void)
{
	struct d_shared *s = mmap(NULL, sizeof(*s), PROT_READ | PROT_WRITE,
				  MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	T_ASSERT(s != MAP_FAILED);
	memset(s, 0, sizeof(*s));
	return s;
}

static inline uint64_t d_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static inline void d_sleep_us(uint64_t us)
{
	struct timespec ts = { (time_t)(us / 1000000), (long)(us % 1000000) * 1000 };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* Soak runs (make soak) set CXLFLASH_SOAK=1: @normal becomes @soak. An
 * explicit count in @env_name (e.g. CXLFLASH_KILL_ITERS) wins over both.
 * @normal is scaled by CXLFLASH_TEST_SCALE (t_scale(), at least 2). */
static inline unsigned long d_iters(const char *env_name, unsigned long normal, unsigned long soak)
{
	const char *e = getenv(env_name), *s = getenv("CXLFLASH_SOAK");

	if (e && *e)
		return strtoul(e, NULL, 10);
	return s && *s && strcmp(s, "0") ? soak : t_scale(normal, 2);
}

static inline bool d_soak(void)
{
	const char *s = getenv("CXLFLASH_SOAK");

	return s && *s && strcmp(s, "0");
}

/* The seed of block @lba's content at generation @gen (0 = never written: zeros). */
static inline uint64_t d_seed(int k, uint32_t gen)
{
	return (uint64_t)(k + 1) << 40 | gen;
}

static inline int d_check_block(const uint8_t *p, int k, uint32_t gen, uint64_t lba)
{
	if (gen == 0) {
		for (unsigned i = 0; i < BLK; i++)
			if (p[i])
				return -1;
		return 0;
	}
	return t_pattern_check(p, BLK, d_seed(k, gen), lba);
}

/*
 * d_verify_client() - client @k: a vLUN of @nblocks on @lun; random writes
 * and reads of 1..8 blocks, every read checked against what this process
 * wrote (never-written blocks must read zero: scrubbed); every op timed.
 * Runs until @sh->stop (or @rounds ops when not 0), then reads the whole
 * vLUN back and closes. Return: the exit status (0 pass).
 */
static inline int d_verify_client(const char *lun, int k, size_t nblocks, struct d_shared *sh,
				  uint64_t rounds)
{
	struct d_client_state *st = &sh->c[k];
	/* Scrubbed when freed: then a chunk this client gets from a dead one
	 * reads zero, which the never-written check below proves. */
	chunk_id_t id = cblk_open(lun, 8, O_RDWR, 0, CBLK_OPN_VIRT_LUN | CBLK_OPN_SCRUB_DATA);
	uint32_t *gen = calloc(nblocks, sizeof(*gen));
	uint8_t *buf = bt_buf(8);
	uint64_t seed = 0x9e3779b97f4a7c15ull ^ (uint64_t)getpid();
	chunk_attrs_t attrs;
	uint32_t maxx;

	if (id == NULL_CHUNK_ID || cblk_set_size(id, nblocks, 0) || cblk_get_attrs(id, &attrs, 0)) {
		fprintf(stderr, "client %d: open/set_size: %s\n", k, strerror(errno));
		return 10;
	}
	/* A vLUN moves 1 block per command (IBM's), unless CFLSH_BLK_MAX_XFER. */
	maxx = attrs.max_transfer_size < 8 ? (uint32_t)attrs.max_transfer_size : 8;
	st->ready = 1;
	for (uint64_t n = 0; rounds ? n < rounds : !sh->stop; n++) {
		uint32_t cnt = 1 + (uint32_t)(t_rand(&seed) % maxx);
		uint64_t lba = t_rand(&seed) % (nblocks - cnt + 1), t0 = d_now_us(), dt;
		bool wr = t_rand(&seed) & 1;
		int rc;

		if (wr) {
			for (uint32_t i = 0; i < cnt; i++) {
				gen[lba + i]++;
				t_pattern_fill(buf + (size_t)i * BLK, BLK, d_seed(k, gen[lba + i]),
					       lba + i);
			}
			rc = cblk_write(id, buf, (cflash_offset_t)lba, cnt, 0);
		} else {
			rc = cblk_read(id, buf, (cflash_offset_t)lba, cnt, 0);
		}
		dt = d_now_us() - t0;
		if (dt > st->max_op_us)
			st->max_op_us = dt;
		if (rc != (int)cnt) {
			fprintf(stderr, "client %d: %s lba %llu x%u: rc %d: %s\n", k,
				wr ? "write" : "read", (unsigned long long)lba, cnt, rc,
				strerror(errno));
			return 11;
		}
		for (uint32_t i = 0; !wr && i < cnt; i++) {
			if (d_check_block(buf + (size_t)i * BLK, k, gen[lba + i], lba + i)) {
				fprintf(stderr, "client %d: lba %llu gen %u: data mismatch\n", k,
					(unsigned long long)(lba + i), gen[lba + i]);
				return 12;
			}
		}
		st->ops++;
		if (dt > D_MAX_OP_US) {
			fprintf(stderr, "client %d: one op took %llu us\n", k,
				(unsigned long long)dt);
			return 13;
		}
	}
	for (uint64_t lba = 0; lba < nblocks; lba += maxx) {
		uint32_t cnt = nblocks - lba < maxx ? (uint32_t)(nblocks - lba) : maxx;

		if (cblk_read(id, buf, (cflash_offset_t)lba, cnt, 0) != (int)cnt) {
			fprintf(stderr, "client %d: final read: %s\n", k, strerror(errno));
			return 14;
		}
		for (uint32_t i = 0; i < cnt; i++)
			if (d_check_block(buf + (size_t)i * BLK, k, gen[lba + i], lba + i)) {
				fprintf(stderr, "client %d: final: lba %llu: data mismatch\n", k,
					(unsigned long long)(lba + i));
				return 15;
			}
	}
	free(gen);
	free(buf);
	st->done = 1;
	return cblk_close(id, 0) ? 16 : 0;
}

/*
 * A failing test exits at once; its daemon and children must not outlive it
 * (they hold the test's output open, and CTest would wait for them). The
 * test's own process kills what d_fork() started and the daemon at exit.
 */
static pid_t d_children[256];
static unsigned d_nchildren;
static pid_t d_parent;
static struct t_daemon *d_daemon;

static void d_cleanup(void)
{
	if (getpid() != d_parent)
		return;
	for (unsigned i = 0; i < d_nchildren; i++)
		if (d_children[i] > 0)
			kill(d_children[i], SIGKILL);
	if (d_daemon && d_daemon->pid > 0)
		t_daemon_kill(d_daemon);
}

/* t_daemon_start() with the clean-up at exit armed. */
static inline int d_start(struct t_daemon *d, const char *const *args)
{
	d_parent = getpid();
	d_daemon = d;
	atexit(d_cleanup);
	return t_daemon_start(d, args);
}

/* fork(), remembering the child for the clean-up at exit. */
static inline pid_t d_fork(void)
{
	pid_t pid = fork();

	T_ASSERT(pid >= 0);
	if (pid > 0) {
		unsigned i;

		for (i = 0; i < d_nchildren && d_children[i] > 0; i++)
			;
		if (i < 256) {
			d_children[i] = pid;
			if (i == d_nchildren)
				d_nchildren++;
		}
	}
	return pid;
}

/* Fork a verifying client; the child exits with its result. */
static inline pid_t d_spawn_client(const char *lun, int k, size_t nblocks, struct d_shared *sh,
				   uint64_t rounds)
{
	pid_t pid = d_fork();

	if (pid == 0)
		_exit(d_verify_client(lun, k, nblocks, sh, rounds));
	return pid;
}

/* Wait for @pid: its exit status, or 128 + signal. */
static inline int d_wait(pid_t pid)
{
	int status;

	T_EQ(waitpid(pid, &status, 0), pid);
	for (unsigned i = 0; i < d_nchildren; i++)
		if (d_children[i] == pid)
			d_children[i] = 0;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Wait until client @k is ready (its vLUN sized), 10 s at most. */
static inline void d_wait_ready(struct d_shared *sh, int k)
{
	for (int i = 0; i < 10000 && !sh->c[k].ready; i++)
		d_sleep_us(1000);
	T_ASSERT(sh->c[k].ready);
}

/* `cxlflash status --json` in a static buffer. */
static inline const char *d_status(struct t_daemon *d)
{
	static char out[1 << 17];

	t_tool_quiet = 1;
	T_EQ(t_daemon_status(d, out, sizeof(out)), 0);
	t_tool_quiet = 0;
	return out;
}

/* The JSON object of LUN @name in a status (its text from '{"name":"NAME"'). */
static inline const char *d_lun_json(const char *status, const char *name)
{
	char pat[128];
	const char *p;

	snprintf(pat, sizeof(pat), "{\"name\":\"%s\"", name);
	p = strstr(status, pat);
	T_ASSERT(p);
	return p;
}

/* Does any vLUN row of the status belong to @pid? */
static inline bool d_status_has_owner(const char *status, pid_t pid)
{
	char pat[64];

	snprintf(pat, sizeof(pat), "\"owner\":%d,", (int)pid);
	return strstr(status, pat) != NULL;
}

/* The master's invariants hold (through a LUN connection). */
static inline void d_check(const char *lun)
{
	char why[256] = "";

	if (t_daemon_check(lun, why, sizeof(why))) {
		fprintf(stderr, "invariant violated: %s\n", why);
		exit(T_FAIL);
	}
}

#endif /* CXLFLASH_D_TEST_H */
