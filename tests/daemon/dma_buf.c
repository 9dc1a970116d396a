/* SPDX-License-Identifier: Apache-2.0 */
/*
 * dma_buf.c - cblk_dma_alloc / cblk_dma_free through cxlflashd: data in
 * the process's DMA buffer area moves without staging (sync, async,
 * listio, physical and virtual LUNs, chunk groups), a buffer partly
 * outside the area is staged and still right, allocation and free errors
 * (double free, interior pointer, full area), buffers keep their contents
 * and stay direct across a daemon restart (SIGKILL) and a context reset,
 * a forked child gets a private copy and an area of its own, an area the
 * daemon declines (over --max-dma) leaves I/O staged and right, and
 * embedded mode returns usable memory.
 *
 * The area is made small here (CFLSH_BLK_DMA_SIZE=1M) to test it full.
 */
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <capiblock.h>

#include "../block/blk_test.h"
#include "block/block_debug.h"
#include "master/embedded.h"
#include "t_daemon.h"

#define AREA  (1u << 20)
#define QD    8

/* Under ThreadSanitizer the parents of forked children poll (no completion
 * thread): its runtime cannot follow a child that starts threads when it
 * was forked while other threads ran (t_util.h, T_TSAN). */
#ifdef T_TSAN
#define FORK_PARENT_FLAGS CBLK_OPN_NO_INTRP_THREADS
#else
#define FORK_PARENT_FLAGS 0
#endif

static struct t_daemon g_d;
static char g_spec[4200];

static void start_daemon(void)
{
	const char *args[] = { "--lun", g_spec, NULL };

	T_EQ(t_daemon_start(&g_d, args), 0);
}

static void counts(chunk_id_t id, uint64_t *direct, uint64_t *staged)
{
	T_EQ(cblk_debug_dma_counts(id, direct, staged), 0);
}

static uint8_t *dma(chunk_id_t id, size_t nblocks)
{
	uint8_t *p = cblk_dma_alloc(id, nblocks * BLK, 0);

	T_ASSERT(p != NULL);
	T_EQ((uintptr_t)p % BLK, 0);
	return p;
}

/* Write then read back @n blocks at @lba through DMA buffers, synchronously. */
static void sync_rw(chunk_id_t id, uint64_t lba, size_t n, uint64_t seed)
{
	uint8_t *w = dma(id, n), *r = dma(id, n);

	t_pattern_fill(w, n * BLK, seed, lba);
	T_EQ(cblk_write(id, w, (cflash_offset_t)lba, n, 0), (int)n);
	memset(r, 0, n * BLK);
	T_EQ(cblk_read(id, r, (cflash_offset_t)lba, n, 0), (int)n);
	T_EQ(t_pattern_check(r, n * BLK, seed, lba), 0);
	T_EQ(cblk_dma_free(w, 0), 0);
	T_EQ(cblk_dma_free(r, 0), 0);
}

/* QD async writes and reads of one block each, DMA buffers. */
static void async_rw(chunk_id_t id, uint64_t lba0, uint64_t seed)
{
	uint8_t *w = dma(id, QD), *r = dma(id, QD);
	int tags[QD];
	uint64_t st;

	for (int i = 0; i < QD; i++) {
		t_pattern_fill(w + (size_t)i * BLK, BLK, seed, lba0 + (uint64_t)i);
		T_EQ(cblk_awrite(id, w + (size_t)i * BLK, (cflash_offset_t)(lba0 + i), 1, &tags[i],
				 NULL, 0), 0);
	}
	for (int i = 0; i < QD; i++)
		T_EQ(cblk_aresult(id, &tags[i], &st, CBLK_ARESULT_BLOCKING), 1);
	memset(r, 0, QD * BLK);
	for (int i = 0; i < QD; i++)
		T_EQ(cblk_aread(id, r + (size_t)i * BLK, (cflash_offset_t)(lba0 + i), 1, &tags[i],
				NULL, 0), 0);
	for (int i = 0; i < QD; i++)
		T_EQ(cblk_aresult(id, &tags[i], &st, CBLK_ARESULT_BLOCKING), 1);
	T_EQ(t_pattern_check(r, QD * BLK, seed, lba0), 0);
	T_EQ(cblk_dma_free(w, 0), 0);
	T_EQ(cblk_dma_free(r, 0), 0);
}

/* QD listio writes then reads, DMA buffers. */
static void listio_rw(chunk_id_t id, uint64_t lba0, uint64_t seed)
{
	uint8_t *w = dma(id, QD), *r = dma(id, QD);
	cblk_io_t io[QD], *il[QD];
	int ncomp = 0;

	for (int pass = 0; pass < 2; pass++) {
		for (int i = 0; i < QD; i++) {
			uint8_t *b = (pass ? r : w) + (size_t)i * BLK;

			if (!pass)
				t_pattern_fill(b, BLK, seed, lba0 + (uint64_t)i);
			memset(&io[i], 0, sizeof(io[i]));
			io[i].request_type = pass ? CBLK_IO_TYPE_READ : CBLK_IO_TYPE_WRITE;
			io[i].buf = b;
			io[i].lba = (cflash_offset_t)(lba0 + i);
			io[i].nblocks = 1;
			il[i] = &io[i];
		}
		T_EQ(cblk_listio(id, il, QD, NULL, 0, il, QD, NULL, &ncomp, 0, 0), 0);
		for (int i = 0; i < QD; i++)
			T_EQ(io[i].stat.status, CBLK_ARW_STATUS_SUCCESS);
	}
	T_EQ(t_pattern_check(r, QD * BLK, seed, lba0), 0);
	T_EQ(cblk_dma_free(w, 0), 0);
	T_EQ(cblk_dma_free(r, 0), 0);
}

/* Physical LUN: sync, async, listio, all direct (no staging). */
static void physical_direct(void)
{
	chunk_id_t id = bt_open("lun0", 16, O_RDWR, 0);
	uint64_t d, s;

	sync_rw(id, 100, 1, 1);
	sync_rw(id, 200, 16, 2);
	async_rw(id, 300, 3);
	listio_rw(id, 400, 4);
	counts(id, &d, &s);
	fprintf(stderr, "physical: %llu direct, %llu staged\n", (unsigned long long)d,
		(unsigned long long)s);
	T_EQ(d, 4 + 2 * QD + 2 * QD);
	T_EQ(s, 0);
	T_EQ(cblk_close(id, 0), 0);
}

/* A virtual LUN (one block per command, as IBM's), polled completions too. */
static void virtual_direct(void)
{
	chunk_id_t id = bt_open_virt("lun0", 16, CBLK_OPN_NO_INTRP_THREADS, 4096);
	uint64_t d, s;

	sync_rw(id, 7, 1, 11);
	async_rw(id, 1000, 12);
	listio_rw(id, 2000, 13);
	counts(id, &d, &s);
	T_EQ(d, 2 + 2 * QD + 2 * QD);
	T_EQ(s, 0);
	T_EQ(cblk_close(id, 0), 0);
}

/* Plain memory is staged as before; both kinds read back the same. */
static void plain_staged(void)
{
	chunk_id_t id = bt_open("lun0", 4, O_RDWR, 0);
	uint8_t *p = bt_buf(2), *q = dma(id, 2);
	uint64_t d, s;

	t_pattern_fill(p, 2 * BLK, 21, 500);
	T_EQ(cblk_write(id, p, 500, 2, 0), 2);
	T_EQ(cblk_read(id, q, 500, 2, 0), 2);
	T_EQ(t_pattern_check(q, 2 * BLK, 21, 500), 0);
	counts(id, &d, &s);
	T_EQ(d, 1);
	T_EQ(s, 1);
	T_EQ(cblk_dma_free(q, 0), 0);
	T_EQ(cblk_close(id, 0), 0);
	free(p);
}

/* Chunk groups (two chunks of one LUN, round robin): one buffer serves both. */
static void group_direct(void)
{
	chunk_cg_id_t cg = cblk_cg_open("lun0", 16, O_RDWR, 2, 0, 0);
	uint8_t *w, *r;

	T_ASSERT(cg != NULL_CHUNK_ID);
	w = cblk_dma_alloc(cg, 4 * BLK, CBLK_GROUP_ID);
	r = cblk_dma_alloc(cg, 4 * BLK, CBLK_GROUP_ID);
	T_ASSERT(w && r);
	for (int i = 0; i < 4; i++) {
		t_pattern_fill(w + (size_t)i * BLK, BLK, 31, 600 + (uint64_t)i);
		T_EQ(cblk_cg_write(cg, w + (size_t)i * BLK, 600 + i, 1, CBLK_GROUP_ID), 1);
	}
	for (int i = 0; i < 4; i++)
		T_EQ(cblk_cg_read(cg, r + (size_t)i * BLK, 600 + i, 1, CBLK_GROUP_ID), 1);
	T_EQ(t_pattern_check(r, 4 * BLK, 31, 600), 0);
	T_EQ(cblk_dma_free(w, 0), 0);
	T_EQ(cblk_dma_free(r, 0), 0);
	T_EQ(cblk_cg_close(cg, CBLK_GROUP_ID), 0);
}

/*
 * A buffer that starts in the area and runs past its end (into a page we
 * map there): the AFU could not reach all of it, so it is staged, and the
 * data is right. Then the area full: ENOMEM; and the free errors.
 */
static void edges_and_errors(void)
{
	chunk_id_t id = bt_open("lun0", 4, O_RDWR, 0);
	size_t pages = AREA / BLK;
	uint8_t *all = cblk_dma_alloc(id, AREA, 0), *after, *b;
	uint64_t d0, s0, d1, s1;
	int x;

	T_ASSERT(all != NULL);
	/* Full now. */
	errno = 0;
	T_EQ(cblk_dma_alloc(id, 1, 0), NULL);
	T_EQ(errno, ENOMEM);
	/* Plain memory in place of the guard page after the area (dmabuf.c
	 * keeps one PROT_NONE page either side). */
	after = mmap(all + AREA, BLK, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	T_ASSERT(after == all + AREA);
	b = all + (pages - 1) * BLK;
	{
		counts(id, &d0, &s0);
		t_pattern_fill(b, 2 * BLK, 41, 700);
		T_EQ(cblk_write(id, b, 700, 2, 0), 2);
		memset(b, 0, 2 * BLK);
		T_EQ(cblk_read(id, b, 700, 2, 0), 2);
		T_EQ(t_pattern_check(b, 2 * BLK, 41, 700), 0);
		counts(id, &d1, &s1);
		T_EQ(d1, d0);
		T_EQ(s1, s0 + 2);
		/* The guard back. */
		T_ASSERT(mmap(after, BLK, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED |
			      MAP_NORESERVE, -1, 0) == after);
	}
	/* Frees: interior pointer, plain memory, double free, flags, NULL. */
	T_ERRNO(cblk_dma_free(all + BLK, 0), EINVAL);
	T_ERRNO(cblk_dma_free(&x, 0), EINVAL);
	T_ERRNO(cblk_dma_free(all, 1), EINVAL);
	errno = 1234;
	T_EQ(cblk_dma_free(all, 0), 0);
	T_EQ(errno, 1234);
	T_ERRNO(cblk_dma_free(all, 0), EINVAL);
	T_EQ(cblk_dma_free(NULL, 0), 0);
	/* Allocation errors. */
	T_EQ(cblk_dma_alloc(id, 0, 0), NULL);
	T_EQ(errno, EINVAL);
	T_EQ(cblk_dma_alloc(id + 1000, BLK, 0), NULL);
	T_EQ(errno, EINVAL);
	T_EQ(cblk_dma_alloc(id, BLK, 0x4), NULL);
	T_EQ(errno, EINVAL);
	T_EQ(cblk_dma_alloc(id, AREA + 1, 0), NULL);
	T_EQ(errno, ENOMEM);
	/* Freed pages come back as zeroes, and the whole area again. */
	b = cblk_dma_alloc(id, AREA, 0);
	T_ASSERT(b == all);
	for (size_t i = 0; i < AREA; i += 512)
		T_EQ(b[i], 0);
	T_EQ(cblk_dma_free(b, 0), 0);
	T_EQ(cblk_close(id, 0), 0);
}

/*
 * The daemon killed and restarted: a buffer's contents are the caller's
 * and stay; the reattached chunk's context gets the area again (I/O stays
 * direct) and the data written before reads back.
 */
static void restart_keeps_buffers(void)
{
	chunk_id_t id = bt_open("lun0", 8, O_RDWR, 0);
	uint8_t *keep = dma(id, 4), *w = dma(id, 1), *r = dma(id, 1);
	uint64_t d0, s0, d1, s1;

	t_pattern_fill(keep, 4 * BLK, 51, 0);
	t_pattern_fill(w, BLK, 52, 800);
	T_EQ(cblk_write(id, w, 800, 1, 0), 1);
	counts(id, &d0, &s0);
	t_daemon_kill(&g_d);
	start_daemon();
	/* The first command finds the master gone, reattaches and resubmits. */
	T_EQ(cblk_read(id, r, 800, 1, 0), 1);
	T_EQ(t_pattern_check(r, BLK, 52, 800), 0);
	T_EQ(t_pattern_check(keep, 4 * BLK, 51, 0), 0);
	t_pattern_fill(w, BLK, 53, 801);
	T_EQ(cblk_write(id, w, 801, 1, 0), 1);
	memset(r, 0, BLK);
	T_EQ(cblk_read(id, r, 801, 1, 0), 1);
	T_EQ(t_pattern_check(r, BLK, 53, 801), 0);
	counts(id, &d1, &s1);
	fprintf(stderr, "restart: %llu direct, %llu staged after it\n",
		(unsigned long long)(d1 - d0), (unsigned long long)(s1 - s0));
	T_EQ(s1, s0);
	T_ASSERT(d1 >= d0 + 3);
	T_EQ(cblk_dma_free(keep, 0), 0);
	T_EQ(cblk_dma_free(w, 0), 0);
	T_EQ(cblk_dma_free(r, 0), 0);
	T_EQ(cblk_close(id, 0), 0);
}

/* A context reset (RECOVER_AFU) in the middle: the area stays reachable. */
static void reset_keeps_buffers(void)
{
	chunk_id_t id = bt_open("lun0", 8, O_RDWR, 0);
	uint64_t d, s;

	sync_rw(id, 900, 2, 61);
	T_EQ(cxlflash_debug_ctx_error(cblk_debug_fd1(id), cblk_debug_context_id(id)), 0);
	sync_rw(id, 910, 2, 62);
	async_rw(id, 920, 63);
	counts(id, &d, &s);
	T_EQ(s, 0);
	T_EQ(cblk_close(id, 0), 0);
}

/*
 * fork: the child sees the parent's buffer contents in a private copy (its
 * writes do not reach the parent), uses it after cblk_clone_after_fork
 * (staged now: not in the child's area) and gets direct buffers of its own.
 */
static int child_side(chunk_id_t id, uint8_t *inherited)
{
	uint64_t d0, s0, d, s;
	uint8_t *mine;

	if (t_pattern_check(inherited, 2 * BLK, 71, 1100))
		return 10;
	memset(inherited, 0xEE, 2 * BLK);
	if (cblk_clone_after_fork(id, O_RDWR, 0) || cblk_debug_dma_counts(id, &d0, &s0))
		return 11;
	if (cblk_read(id, inherited, 1100, 2, 0) != 2 ||
	    t_pattern_check(inherited, 2 * BLK, 71, 1100))
		return 12;
	mine = cblk_dma_alloc(id, 2 * BLK, 0);
	if (!mine || cblk_read(id, mine, 1100, 2, 0) != 2 ||
	    t_pattern_check(mine, 2 * BLK, 71, 1100))
		return 13;
	if (cblk_debug_dma_counts(id, &d, &s) || d != d0 + 1 || s != s0 + 1)
		return 14;
	if (cblk_dma_free(inherited, 0) || cblk_dma_free(mine, 0))
		return 15;
	return cblk_close(id, 0) ? 16 : 0;
}

static void fork_child_copy(void)
{
	chunk_id_t id = bt_open("lun0", 8, O_RDWR, FORK_PARENT_FLAGS);
	uint8_t *b = dma(id, 2);
	int status;
	pid_t pid;

	t_pattern_fill(b, 2 * BLK, 71, 1100);
	T_EQ(cblk_write(id, b, 1100, 2, 0), 2);
	pid = fork();
	T_ASSERT(pid >= 0);
	if (pid == 0)
		_exit(child_side(id, b));
	T_EQ(waitpid(pid, &status, 0), pid);
	T_ASSERT(WIFEXITED(status));
	T_EQ(WEXITSTATUS(status), 0);
	T_EQ(t_pattern_check(b, 2 * BLK, 71, 1100), 0);
	sync_rw(id, 1200, 1, 72);
	T_EQ(cblk_dma_free(b, 0), 0);
	T_EQ(cblk_close(id, 0), 0);
}

/*
 * A forked child whose area is larger than the daemon's --max-dma (1G by
 * default): the daemon declines it, and the child's DMA buffers are staged
 * like any memory, with the right data, instead of its ATTACH failing.
 */
static int declined_child(chunk_id_t id)
{
	uint64_t d0, s0, d, s;
	uint8_t *b;

	setenv("CFLSH_BLK_DMA_SIZE", "2G", 1);
	if (cblk_clone_after_fork(id, O_RDWR, 0) || cblk_debug_dma_counts(id, &d0, &s0))
		return 20;
	b = cblk_dma_alloc(id, BLK, 0);
	if (!b)
		return 21;
	t_pattern_fill(b, BLK, 91, 1300);
	if (cblk_write(id, b, 1300, 1, 0) != 1)
		return 22;
	memset(b, 0, BLK);
	if (cblk_read(id, b, 1300, 1, 0) != 1 || t_pattern_check(b, BLK, 91, 1300))
		return 23;
	if (cblk_debug_dma_counts(id, &d, &s) || d != d0 || s != s0 + 2)
		return 24;
	return cblk_dma_free(b, 0) || cblk_close(id, 0) ? 25 : 0;
}

static void declined_area(void)
{
	chunk_id_t id = bt_open("lun0", 8, O_RDWR, FORK_PARENT_FLAGS);
	int status;
	pid_t pid = fork();

	T_ASSERT(pid >= 0);
	if (pid == 0)
		_exit(declined_child(id));
	T_EQ(waitpid(pid, &status, 0), pid);
	T_ASSERT(WIFEXITED(status));
	T_EQ(WEXITSTATUS(status), 0);
	T_EQ(cblk_close(id, 0), 0);
}

/* In-process (no daemon for ram: names): the buffers work as any memory. */
static void embedded_mode(void)
{
	chunk_id_t id = bt_open("ram:64M", 8, O_RDWR, 0);
	uint64_t d, s;

	sync_rw(id, 5, 4, 81);
	async_rw(id, 50, 82);
	counts(id, &d, &s);
	T_EQ(d + s, 0);   /* counted only where the AFU reaches just the DMA area */
	T_EQ(cblk_close(id, 0), 0);
}

int main(void)
{
	const char *file;

	T_SKIP_IF(access(t_tool_path("cxlflashd"), X_OK), "no cxlflashd binary");
	setenv("CFLSH_BLK_DMA_SIZE", "1M", 1);
	file = bt_file("daemon_dma_buf.img", 1ull << 30);
	snprintf(g_spec, sizeof(g_spec), "lun0=%s", file);
	start_daemon();
	T_RUN(physical_direct);
	T_RUN(virtual_direct);
	T_RUN(plain_staged);
	T_RUN(group_direct);
	T_RUN(edges_and_errors);
	T_RUN(reset_keeps_buffers);
	T_RUN(fork_child_copy);
	T_RUN(declined_area);
	T_RUN(restart_keeps_buffers);
	T_RUN(embedded_mode);
	T_EQ(t_daemon_stop(&g_d), 0);
	unlink(file);
	return T_PASS;
}
