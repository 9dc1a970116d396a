/* SPDX-License-Identifier: Apache-2.0 */
/*
 * backend_fault.c - the fault wrapper's write cache: spec parsing, writes
 * then a flush then more writes and a power cut (all: exactly the flushed
 * data remains; random: every block is either its flushed or its newest
 * contents, and a seed repeats itself), multi-block writes over journaled
 * and fresh blocks, zeroing and discard, asynchronous writes on an io_uring
 * engine, a journal left by a SIGKILLed writer (kept, first touch still
 * counts across opens), a torn last record, read-only opens, and FUA
 * writes (kept by every power cut, before and after a reopen, while the
 * writes around them are lost). Injected faults: the Nth request, a block
 * range (reads, writes or both), a torn multi-block write, a delay, a
 * control file rewritten at run time, synchronous and on an engine.
 */
#include "t_util.h"
#include "backend/backend.h"

#include <fcntl.h>
#include <signal.h>
#include <time.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define BS    4096u
#define NBLK  2048u   /* 8 MiB */

static char g_spec[4200];
static char g_journal[4200];
static const char *g_file;

static struct backend *open_spec(const char *name)
{
	struct be_spec s;
	struct backend *be = NULL;

	T_EQ(be_parse_spec(name, &s), 0);
	T_EQ(be_open(&s, &be), 0);
	T_ASSERT(be);
	return be;
}

/* A fresh zeroed 8 MiB LUN file, no journal; g_spec wraps it. */
static void fresh(void)
{
	g_file = t_path("fault_lun");
	unlink(g_file);
	snprintf(g_journal, sizeof(g_journal), "%s.wcache", g_file);
	unlink(g_journal);
	snprintf(g_spec, sizeof(g_spec), "fault:file:%s?size=8M", g_file);
}

static void *blocks(size_t n)
{
	void *p = NULL;

	T_ASSERT(posix_memalign(&p, BS, n * BS) == 0);
	memset(p, 0, n * BS);
	return p;
}

static void put(struct backend *be, uint64_t lba, uint32_t n, uint64_t seed)
{
	uint8_t *b = blocks(n);

	t_pattern_fill(b, (size_t)n * BS, seed, lba);
	T_EQ(be_write_sync(be, lba, n, b), 0);
	free(b);
}

/* Block @lba holds pattern @seed (0: zeroes). */
static bool holds(struct backend *be, uint64_t lba, uint64_t seed)
{
	uint8_t *b = blocks(1), *z = blocks(1);
	bool ok;

	T_EQ(be_read_sync(be, lba, 1, b), 0);
	ok = seed ? t_pattern_check(b, BS, seed, lba) == 0 : memcmp(b, z, BS) == 0;
	free(b);
	free(z);
	return ok;
}

static off_t journal_size(void)
{
	struct stat st;

	return stat(g_journal, &st) ? -1 : st.st_size;
}

static void parse(void)
{
	struct be_spec s;

	T_EQ(be_parse_spec("fault:ram:1G", &s), 0);
	T_ASSERT(s.fault.on && s.fault.wcache && !s.fault.journal[0]);
	T_EQ(strcmp(s.kind, "ram"), 0);
	T_EQ(s.size, 1ull << 30);
	T_EQ(be_parse_spec("fault[wcache,journal=/tmp/j.x]:file:/tmp/l.img?size=1G&ro", &s), 0);
	T_ASSERT(s.fault.on && s.fault.wcache && s.readonly && s.create);
	T_EQ(strcmp(s.fault.journal, "/tmp/j.x"), 0);
	T_EQ(strcmp(s.path, "/tmp/l.img"), 0);
	T_EQ(be_parse_spec("fault[journal=/j]:/some/path", &s), 0);
	T_ASSERT(s.fault.wcache);   /* no fault named: the write cache */
	T_EQ(strcmp(s.kind, "file"), 0);
	T_EQ(strcmp(s.path, "/some/path"), 0);
	T_EQ(be_parse_spec("ram:1G", &s), 0);
	T_ASSERT(!s.fault.on);
	T_EQ(be_parse_spec("fault:", &s), -EINVAL);
	T_EQ(be_parse_spec("fault[wcache]", &s), -EINVAL);
	T_EQ(be_parse_spec("fault[bogus]:ram:1G", &s), -EINVAL);
	T_EQ(be_parse_spec("fault[journal=]:ram:1G", &s), -EINVAL);
	T_EQ(be_parse_spec("fault[wcache:ram:1G", &s), -EINVAL);
	T_EQ(be_parse_spec("fault:fault:ram:1G", &s), -EINVAL);
	T_EQ(be_parse_spec("fault:ram:0", &s), -EINVAL);
}

/* Write, flush, write again, cut: the flushed data and nothing newer. */
static void cut_all(void)
{
	struct backend *be;

	fresh();
	be = open_spec(g_spec);
	put(be, 10, 4, 1);                 /* 10..13 = 1 */
	T_EQ(be_flush_sync(be), 0);
	T_EQ(journal_size(), 0);
	put(be, 12, 4, 2);                 /* 12..15 = 2: 12, 13 journaled with 1 */
	put(be, 13, 1, 3);                 /* already journaled: no new record */
	put(be, 100, 300, 4);              /* more than one record's worth */
	T_EQ(be_zero_sync(be, 11, 1), 0);
	T_EQ(be->ops->io_sync(be, BE_OP_DISCARD, 10, 1, NULL), 0);
	T_ASSERT(journal_size() > 0);
	T_ASSERT(holds(be, 13, 3) && holds(be, 10, 0));
	T_EQ(be_fault_powercut(be, BE_CUT_ALL, 0), 2 + 2 + 300 + 2);
	T_EQ(journal_size(), 0);
	for (uint64_t l = 10; l < 14; l++)
		T_ASSERT(holds(be, l, 1));
	T_ASSERT(holds(be, 14, 0) && holds(be, 15, 0) && holds(be, 100, 0) && holds(be, 399, 0));
	/* A cut with nothing journaled changes nothing. */
	T_EQ(be_fault_powercut(be, BE_CUT_ALL, 0), 0);
	T_ASSERT(holds(be, 12, 1));
	be_close(be);
	unlink(g_file);
	unlink(g_journal);
}

/* Random: each block is old or new; the same seed gives the same result. */
static uint64_t cut_random_once(uint64_t seed, uint8_t *kept)
{
	struct backend *be;
	int64_t n;
	uint64_t lost = 0;

	fresh();
	be = open_spec(g_spec);
	put(be, 0, 64, 1);
	T_EQ(be_flush_sync(be), 0);
	put(be, 0, 64, 2);
	n = be_fault_powercut(be, BE_CUT_RANDOM, seed);
	T_ASSERT(n > 0 && n < 64);    /* 2^-64 odds of a false failure */
	for (uint64_t l = 0; l < 64; l++) {
		bool old = holds(be, l, 1);

		T_ASSERT(old || holds(be, l, 2));
		kept[l] = !old;
		lost += old;
	}
	T_EQ(lost, n);
	be_close(be);
	unlink(g_file);
	unlink(g_journal);
	return lost;
}

static void cut_random(void)
{
	uint8_t a[64], b[64];

	cut_random_once(42, a);
	cut_random_once(42, b);
	T_EQ(memcmp(a, b, sizeof(a)), 0);
	cut_random_once(43, b);
	T_ASSERT(memcmp(a, b, sizeof(a)) != 0);
}

static void on_done(struct be_io *io, int res)
{
	int *r = io->cb_arg;

	*r = res;
}

/* Writes and a flush submitted on an engine (io_uring when available). */
static void async_engine(void)
{
	struct be_engine *eng;
	struct backend *be;
	struct be_io io[8];
	int res[8];
	uint8_t *b = blocks(8);

	fresh();
	be = open_spec(g_spec);
	T_EQ(be_engine_create(&eng, 8), 0);
	put(be, 0, 8, 1);
	T_EQ(be_flush_sync(be), 0);
	t_pattern_fill(b, 8 * BS, 2, 0);
	for (int i = 0; i < 8; i++) {
		io[i] = (struct be_io){ .op = BE_OP_WRITE, .lba = (uint64_t)i, .nblocks = 1,
					.buf = b + (size_t)i * BS, .cb = on_done,
					.cb_arg = &res[i] };
		res[i] = 1;
		T_EQ(be->ops->submit(be, eng, &io[i]), 0);
		if (i == 3) {
			/* Half written and flushed: those stay. */
			while (be_engine_inflight(eng)) {
				T_ASSERT(be_engine_wait(eng, 100000) >= 0);
				T_ASSERT(be_engine_poll(eng, 0) >= 0);
			}
			io[7] = (struct be_io){ .op = BE_OP_FLUSH, .cb = on_done, .cb_arg = &res[7] };
			res[7] = 1;
			T_EQ(be->ops->submit(be, eng, &io[7]), 0);
			while (be_engine_inflight(eng) || res[7] == 1) {
				T_ASSERT(be_engine_wait(eng, 100000) >= 0);
				T_ASSERT(be_engine_poll(eng, 0) >= 0);
			}
			T_EQ(res[7], 0);
		}
		if (i == 6)
			break;
	}
	while (be_engine_inflight(eng)) {
		T_ASSERT(be_engine_wait(eng, 100000) >= 0);
		T_ASSERT(be_engine_poll(eng, 0) >= 0);
	}
	for (int i = 0; i < 7; i++)
		T_EQ(res[i], 0);
	T_EQ(be_fault_powercut(be, BE_CUT_ALL, 0), 3);
	for (uint64_t l = 0; l < 4; l++)
		T_ASSERT(holds(be, l, 2));
	for (uint64_t l = 4; l < 7; l++)
		T_ASSERT(holds(be, l, 1));
	T_ASSERT(holds(be, 7, 1));
	be_engine_destroy(eng);
	be_close(be);
	free(b);
	unlink(g_file);
	unlink(g_journal);
}

/* One write with BE_IO_FUA of pattern @seed, waited for on @eng. */
static void fua_put(struct backend *be, struct be_engine *eng, uint64_t lba, uint32_t n,
		    uint64_t seed)
{
	uint8_t *b = blocks(n);
	int res = 1;
	struct be_io io = { .op = BE_OP_WRITE, .lba = lba, .nblocks = n, .buf = b,
			    .flags = BE_IO_FUA, .cb = on_done, .cb_arg = &res };

	t_pattern_fill(b, (size_t)n * BS, seed, lba);
	T_EQ(be->ops->submit(be, eng, &io), 0);
	while (res == 1) {
		T_ASSERT(be_engine_wait(eng, 100000) >= 0);
		T_ASSERT(be_engine_poll(eng, 0) >= 0);
	}
	T_EQ(res, 0);
	free(b);
}

/* Flushed 1 everywhere, then 2 on 0..3, FUA 3 on 2..5, then 4 on 5..6. */
static struct backend *fua_sequence(struct be_engine *eng, bool reopen)
{
	struct backend *be = open_spec(g_spec);

	put(be, 0, 8, 1);
	T_EQ(be_flush_sync(be), 0);
	put(be, 0, 4, 2);
	fua_put(be, eng, 2, 4, 3);
	put(be, 5, 2, 4);
	if (reopen) {
		/* Another process's view: the journal as it was left. */
		be_close(be);
		be = open_spec(g_spec);
		put(be, 4, 1, 5);          /* untouched since the FUA write: journaled with 3 */
	}
	return be;
}

/* FUA writes survive power cuts; the writes around them do not. */
static void fua_writes(void)
{
	struct be_engine *eng;
	struct backend *be;

	T_EQ(be_engine_create(&eng, 8), 0);
	for (int reopen = 0; reopen < 2; reopen++) {
		fresh();
		be = fua_sequence(eng, reopen);
		T_ASSERT(be_fault_powercut(be, BE_CUT_ALL, 0) > 0);
		T_ASSERT(holds(be, 0, 1) && holds(be, 1, 1));
		for (uint64_t l = 2; l < 6; l++)
			T_ASSERT(holds(be, l, 3));
		T_ASSERT(holds(be, 6, 1) && holds(be, 7, 1));
		be_close(be);
		for (uint64_t seed = 1; seed <= 8; seed++) {
			fresh();
			be = fua_sequence(eng, reopen);
			T_ASSERT(be_fault_powercut(be, BE_CUT_RANDOM, seed) >= 0);
			for (uint64_t l = 2; l < 4; l++)
				T_ASSERT(holds(be, l, 3));
			T_ASSERT(holds(be, 4, 3) || (reopen && holds(be, 4, 5)));
			T_ASSERT(holds(be, 5, 3) || holds(be, 5, 4));
			T_ASSERT(holds(be, 0, 1) || holds(be, 0, 2));
			be_close(be);
		}
	}
	/* Without a write cache in the way FUA is a plain durable write. */
	be = open_spec("ram:8M");
	fua_put(be, eng, 1, 2, 6);
	T_ASSERT(holds(be, 1, 6) && holds(be, 2, 6));
	be_close(be);
	be_engine_destroy(eng);
	unlink(g_file);
	unlink(g_journal);
}

static void inject_parse(void)
{
	struct be_spec s;
	struct be_fault_inject in;

	T_EQ(be_parse_spec("fault[fail-nth=3]:ram:1M", &s), 0);
	T_ASSERT(s.fault.on && !s.fault.wcache);   /* a fault named: no write cache */
	T_EQ(s.fault.inject.fail_nth, 3);
	T_ASSERT(s.fault.inject.fail_reads && s.fault.inject.fail_writes);
	T_EQ(be_parse_spec("fault[wcache,fail-lba=10-12,fail-on=read,delay=5,tear-nth=2]:ram:1M",
			   &s), 0);
	T_ASSERT(s.fault.wcache && s.fault.inject.fail_lba);
	T_EQ(s.fault.inject.fail_lba_first, 10);
	T_EQ(s.fault.inject.fail_lba_last, 12);
	T_ASSERT(s.fault.inject.fail_reads && !s.fault.inject.fail_writes);
	T_EQ(s.fault.inject.delay_us, 5);
	T_EQ(s.fault.inject.tear_nth, 2);
	T_EQ(be_parse_spec("fault[ctl=/tmp/x.ctl]:ram:1M", &s), 0);
	T_EQ(strcmp(s.fault.ctl, "/tmp/x.ctl"), 0);
	T_ASSERT(!s.fault.wcache);
	T_EQ(be_parse_spec("fault[fail-lba=7]:ram:1M", &s), 0);
	T_EQ(s.fault.inject.fail_lba_first, 7);
	T_EQ(s.fault.inject.fail_lba_last, 7);
	T_EQ(be_parse_spec("fault[fail-nth=0]:ram:1M", &s), -EINVAL);
	T_EQ(be_parse_spec("fault[fail-lba=5-3]:ram:1M", &s), -EINVAL);
	T_EQ(be_parse_spec("fault[fail-lba=-3]:ram:1M", &s), -EINVAL);
	T_EQ(be_parse_spec("fault[fail-on=sometimes]:ram:1M", &s), -EINVAL);
	T_EQ(be_parse_spec("fault[delay=abc]:ram:1M", &s), -EINVAL);
	T_EQ(be_parse_spec("fault[ctl=]:ram:1M", &s), -EINVAL);
	T_EQ(be_parse_fault_inject("fail-lba=1-2\nfail-on=write  tear-nth=4\n", &in), 0);
	T_ASSERT(in.fail_lba && in.fail_writes && !in.fail_reads && in.tear_nth == 4);
	T_EQ(be_parse_fault_inject("none", &in), 0);
	T_ASSERT(!in.fail_lba && !in.fail_nth);
	T_EQ(be_parse_fault_inject("fail-lba=x", &in), -EINVAL);
	T_EQ(be_parse_fault_inject("wcache", &in), -EINVAL);   /* open-time only */
}

static int write_one(struct backend *be, uint64_t lba, uint32_t n)
{
	uint8_t *b = blocks(n);
	int rc = be_write_sync(be, lba, n, b);

	free(b);
	return rc;
}

static int read_one(struct backend *be, uint64_t lba, uint32_t n)
{
	uint8_t *b = blocks(n);
	int rc = be_read_sync(be, lba, n, b);

	free(b);
	return rc;
}

/* The Nth request, a range of blocks, a torn write: synchronously. */
static void inject_sync(void)
{
	struct backend *be = open_spec("fault[fail-nth=3]:ram:8M");

	T_EQ(write_one(be, 0, 1), 0);
	T_EQ(read_one(be, 0, 1), 0);
	T_EQ(write_one(be, 0, 1), -EIO);        /* the third */
	T_EQ(write_one(be, 0, 1), 0);
	T_EQ(be_flush_sync(be), 0);             /* no journal, nothing to clear */
	be_close(be);

	be = open_spec("fault[fail-lba=10-12,fail-on=read]:ram:8M");
	T_EQ(read_one(be, 8, 2), 0);
	T_EQ(read_one(be, 9, 2), -EIO);         /* touches 10 */
	T_EQ(read_one(be, 12, 4), -EIO);
	T_EQ(read_one(be, 13, 4), 0);
	T_EQ(write_one(be, 10, 3), 0);          /* reads only */
	be_close(be);

	be = open_spec("fault[tear-nth=2]:ram:8M");
	put(be, 20, 4, 1);                      /* the first multi-block write */
	uint8_t *b = blocks(4);
	t_pattern_fill(b, 4 * BS, 2, 20);
	T_EQ(write_one(be, 30, 1), 0);          /* single blocks do not count */
	T_EQ(be_write_sync(be, 20, 4, b), -EIO);
	T_ASSERT(holds(be, 20, 2) && holds(be, 21, 2) && holds(be, 22, 1) && holds(be, 23, 1));
	T_EQ(be_write_sync(be, 20, 4, b), 0);   /* only the Nth */
	T_ASSERT(holds(be, 23, 2));
	free(b);
	be_close(be);
}

/* The same on an engine: failed requests complete through their callback. */
static void inject_async(void)
{
	struct be_engine *eng;
	struct backend *be;
	uint8_t *b = blocks(4);
	int res[3];
	struct be_io io[3];

	fresh();
	snprintf(g_spec, sizeof(g_spec), "fault[fail-lba=5,tear-nth=1]:file:%s?size=8M", g_file);
	be = open_spec(g_spec);
	T_EQ(be_engine_create(&eng, 8), 0);
	t_pattern_fill(b, 4 * BS, 3, 0);
	io[0] = (struct be_io){ .op = BE_OP_READ, .lba = 4, .nblocks = 2, .buf = b,
				.cb = on_done, .cb_arg = &res[0] };
	io[1] = (struct be_io){ .op = BE_OP_WRITE, .lba = 0, .nblocks = 4, .buf = b,
				.cb = on_done, .cb_arg = &res[1] };
	io[2] = (struct be_io){ .op = BE_OP_READ, .lba = 6, .nblocks = 1, .buf = b + 3 * BS,
				.cb = on_done, .cb_arg = &res[2] };
	for (int i = 0; i < 3; i++) {
		res[i] = 1;
		T_EQ(be->ops->submit(be, eng, &io[i]), 0);
	}
	while (be_engine_inflight(eng) || res[0] == 1 || res[1] == 1 || res[2] == 1) {
		T_ASSERT(be_engine_wait(eng, 100000) >= 0);
		T_ASSERT(be_engine_poll(eng, 0) >= 0);
	}
	T_EQ(res[0], -EIO);
	T_EQ(res[1], -EIO);                     /* torn: blocks 0 and 1 written */
	T_EQ(res[2], 0);
	T_ASSERT(holds(be, 0, 3) && holds(be, 1, 3) && holds(be, 2, 0) && holds(be, 3, 0));
	be_engine_destroy(eng);
	be_close(be);
	free(b);
	unlink(g_file);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A control file changes the faults of an open LUN; a delay slows every request. */
static void inject_ctl(void)
{
	char spec[4300];
	const char *ctl = t_path("fault.ctl");
	struct backend *be;
	double t0;
	FILE *fp;

	unlink(ctl);
	snprintf(spec, sizeof(spec), "fault[ctl=%s]:ram:8M", ctl);
	be = open_spec(spec);
	T_EQ(write_one(be, 7, 1), 0);           /* no file: no faults */
	fp = fopen(ctl, "w");
	T_ASSERT(fp);
	fputs("fail-lba=7\n", fp);
	fclose(fp);
	T_EQ(write_one(be, 7, 1), -EIO);
	T_EQ(read_one(be, 7, 1), -EIO);
	T_EQ(write_one(be, 8, 1), 0);
	fp = fopen(ctl, "w");
	fputs("bogus-option\n", fp);            /* refused: the faults before stay */
	fclose(fp);
	T_EQ(write_one(be, 7, 1), -EIO);
	fp = fopen(ctl, "w");
	fputs("delay=30000\n", fp);
	fclose(fp);
	t0 = now_s();
	T_EQ(write_one(be, 7, 1), 0);
	T_ASSERT(now_s() - t0 >= 0.029);
	unlink(ctl);                            /* gone: no faults */
	T_EQ(write_one(be, 7, 1), 0);
	be_close(be);
}

/*
 * A writer killed with SIGKILL leaves its journal; a later opener keeps it
 * (first touch still counts: its own write to a journaled block adds no
 * record) and the cut brings back what the writer had flushed.
 */
static void killed_writer(void)
{
	int pfd[2];
	pid_t pid;
	char c;
	struct backend *be;

	fresh();
	T_EQ(pipe(pfd), 0);
	pid = fork();
	T_ASSERT(pid >= 0);
	if (pid == 0) {
		be = open_spec(g_spec);
		put(be, 5, 3, 1);
		T_EQ(be_flush_sync(be), 0);
		put(be, 5, 3, 2);
		put(be, 50, 2, 2);
		T_EQ(write(pfd[1], "x", 1), 1);
		pause();
		_exit(T_FAIL);
	}
	close(pfd[1]);
	T_EQ(read(pfd[0], &c, 1), 1);
	close(pfd[0]);
	kill(pid, SIGKILL);
	T_EQ(waitpid(pid, NULL, 0), pid);

	T_ASSERT(journal_size() > 0);
	be = open_spec(g_spec);
	T_ASSERT(holds(be, 5, 2));
	put(be, 5, 1, 3);                 /* journaled by the writer: stays as it was */
	put(be, 60, 1, 3);                /* new: journaled now */
	T_EQ(be_fault_powercut(be, BE_CUT_ALL, 0), 3 + 2 + 1);
	for (uint64_t l = 5; l < 8; l++)
		T_ASSERT(holds(be, l, 1));
	T_ASSERT(holds(be, 50, 0) && holds(be, 51, 0) && holds(be, 60, 0));
	be_close(be);
	unlink(g_file);
	unlink(g_journal);
}

/* A torn last record (a writer killed while appending) is ignored and overwritten. */
static void torn_tail(void)
{
	struct backend *be;
	char junk[100];
	int fd;

	fresh();
	be = open_spec(g_spec);
	put(be, 1, 1, 1);
	T_EQ(be_flush_sync(be), 0);
	put(be, 1, 1, 2);
	be_close(be);
	memset(junk, 0x5a, sizeof(junk));
	fd = open(g_journal, O_WRONLY | O_APPEND);
	T_ASSERT(fd >= 0);
	T_EQ(write(fd, junk, sizeof(junk)), (ssize_t)sizeof(junk));
	close(fd);

	be = open_spec(g_spec);
	put(be, 2, 1, 2);
	T_EQ(be_fault_powercut(be, BE_CUT_ALL, 0), 2);
	T_ASSERT(holds(be, 1, 1) && holds(be, 2, 0));
	be_close(be);
	unlink(g_file);
	unlink(g_journal);
}

/* Read-only opens journal nothing and cannot cut; memory LUNs cut in-process. */
static void readonly_and_ram(void)
{
	struct backend *be;
	char spec[4300];

	fresh();
	be = open_spec(g_spec);
	be_close(be);
	unlink(g_journal);
	snprintf(spec, sizeof(spec), "fault:file:%s?ro", g_file);
	be = open_spec(spec);
	T_EQ(journal_size(), -1);
	T_EQ(be_fault_powercut(be, BE_CUT_ALL, 0), -EINVAL);
	be_close(be);
	unlink(g_file);

	be = open_spec("fault:ram:8M");
	put(be, 3, 1, 1);
	T_EQ(be_flush_sync(be), 0);
	put(be, 3, 2, 2);
	T_EQ(be_fault_powercut(be, BE_CUT_ALL, 0), 2);
	T_ASSERT(holds(be, 3, 1) && holds(be, 4, 0));
	be_close(be);

	be = open_spec("ram:8M");
	T_EQ(be_fault_powercut(be, BE_CUT_ALL, 0), -EINVAL);   /* not a fault LUN */
	be_close(be);
}

int main(void)
{
	T_RUN(parse);
	T_RUN(cut_all);
	T_RUN(cut_random);
	T_RUN(async_engine);
	T_RUN(fua_writes);
	T_RUN(inject_parse);
	T_RUN(inject_sync);
	T_RUN(inject_async);
	T_RUN(inject_ctl);
	T_RUN(killed_writer);
	T_RUN(torn_tail);
	T_RUN(readonly_and_ram);
	return T_PASS;
}
