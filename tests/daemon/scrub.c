/* SPDX-License-Identifier: Apache-2.0 */
/*
 * scrub.c - freed chunks are scrubbed in the background (issue 12, part 3):
 *   background: a neighbour fills vLUNs (1 MiB writes over 64 MiB of a
 *               chunk) and releases them back to back, each release
 *               queueing a 256 MiB scrub, while a victim on the same LUN
 *               reads single 4 KiB blocks at queue depth 1. The victim's
 *               latency percentiles are printed (not asserted: only a stall
 *               over 2 s fails), first alone (this machine's baseline),
 *               then beside the neighbour; with CXLFLASH_BENCH_JSON=FILE
 *               both are appended as the bench's tenants rows;
 *   no stale:   a tenant takes every chunk of the LUN, marks each 1 MiB of
 *               it and lets go; at once another takes them all again (its
 *               grow must take chunks whose scrub is still queued or under
 *               way, scrubbing them itself) and reads zeroes at every mark;
 *               several rounds;
 *   restart:    a file LUN: a vLUN is marked, the daemon killed (its
 *               chunks never scrubbed) and restarted; a new vLUN over the
 *               whole LUN reads zeroes (a new allocator scrubs every chunk
 *               before handing it out).
 * The master's invariants are checked after each (chunks waiting for their
 * scrub stay allocated and counted).
 */
#include <stdlib.h>

#include "d_test.h"

#define CHUNK      65536ull   /* blocks per chunk */
#define MIB        256u       /* blocks per MiB */
#define VICTIM_BLK 256u
#define MAX_SAMPLES (1u << 21)

static struct t_daemon g_d;

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The neighbour: vLUNs of one chunk, 64 MiB written (the largest writes the
 * DMA area stages), released; loops
 * until @sh->stop. Exit status 0, or where it failed. */
static int neighbour(struct d_shared *sh)
{
	uint8_t *buf = bt_buf(MIB);
	uint64_t rounds = 0;
	chunk_attrs_t attrs;
	uint32_t x;

	setenv("CFLSH_BLK_MAX_XFER", "256", 1);
	memset(buf, 0x5a, (size_t)MIB * BLK);
	while (!sh->c[0].ready)      /* the victim's vLUN first */
		d_sleep_us(1000);
	while (!sh->stop) {
		chunk_id_t id = cblk_open("lun0", 8, O_RDWR, 0, CBLK_OPN_VIRT_LUN);

		if (id == NULL_CHUNK_ID || cblk_set_size(id, CHUNK, 0)) {
			fprintf(stderr, "neighbour: open/set_size: %s\n", strerror(errno));
			return 20;
		}
		if (cblk_get_attrs(id, &attrs, 0))
			return 23;
		/* As much per command as the DMA area's staging allows. */
		x = attrs.max_transfer_size < MIB ? (uint32_t)attrs.max_transfer_size : MIB;
		for (uint64_t lba = 0; lba < 64 * MIB; lba += x)
			if (cblk_write(id, buf, (cflash_offset_t)lba, x, 0) != (int)x) {
				fprintf(stderr, "neighbour: write: %s\n", strerror(errno));
				return 21;
			}
		if (cblk_close(id, 0))
			return 22;
		sh->c[1].ops = ++rounds;
		sh->c[1].ready = 1;
	}
	return 0;
}

/* The victim's QD 1 reads of @v for @secs; prints and (CXLFLASH_BENCH_JSON)
 * appends its percentiles as the bench's tenants row @row. */
static void victim(chunk_id_t v, uint8_t *b, unsigned secs, const char *row,
		   const volatile uint64_t *count)
{
	static uint64_t lat[MAX_SAMPLES];
	const char *json = getenv("CXLFLASH_BENCH_JSON");
	uint64_t seed = 11, end, nlat = 0, ops = count ? *count : 0;

	end = d_now_us() + (uint64_t)secs * 1000000;
	while (d_now_us() < end && nlat < MAX_SAMPLES) {
		uint64_t lba = t_rand(&seed) % VICTIM_BLK, t0 = d_now_us();

		T_EQ(cblk_read(v, b, (cflash_offset_t)lba, 1, 0), 1);
		lat[nlat++] = d_now_us() - t0;
		T_EQ(t_pattern_check(b, BLK, 77, lba), 0);
	}
	ops = count ? *count - ops : 0;   /* the neighbour's releases meanwhile */
	T_ASSERT(nlat > 0);
	qsort(lat, nlat, sizeof(lat[0]), cmp_u64);
	fprintf(stderr, "   %s: %llu releases; victim 4 KiB reads: %llu, p50 %llu us, p99 %llu us, p99.9 %llu us, "
		"max %llu us\n", row, (unsigned long long)ops, (unsigned long long)nlat,
		(unsigned long long)lat[nlat / 2], (unsigned long long)lat[nlat * 99 / 100],
		(unsigned long long)lat[nlat * 999 / 1000], (unsigned long long)lat[nlat - 1]);
	if (json && *json) {
		FILE *f = fopen(json, "a");

		T_ASSERT(f);
		fprintf(f, "{\"tenants\":[{\"row\":\"%s\",\"releases\":%llu,\"secs\":%u,"
			"\"reads\":%llu,\"p50_us\":%llu,\"p99_us\":%llu,\"p999_us\":%llu,"
			"\"max_us\":%llu}]}\n", row, (unsigned long long)ops, secs,
			(unsigned long long)nlat, (unsigned long long)lat[nlat / 2],
			(unsigned long long)lat[nlat * 99 / 100],
			(unsigned long long)lat[nlat * 999 / 1000], (unsigned long long)lat[nlat - 1]);
		fclose(f);
	}
	T_ASSERT(lat[nlat - 1] < D_MAX_OP_US);
}

static void background(void)
{
	const char *secs_env = getenv("CXLFLASH_NOISY_SECS");
	unsigned secs = secs_env && *secs_env ? (unsigned)atoi(secs_env) : 3;
	struct d_shared *sh = d_shared_new();
	uint8_t *b = bt_buf(VICTIM_BLK);
	chunk_id_t v;
	pid_t nb;

	secs = (unsigned)t_scale(secs, 1);
	/* Forked before this process has the library's threads (TSan). */
	nb = d_fork();
	if (nb == 0)
		_exit(neighbour(sh));
	v = cblk_open("lun0", 8, O_RDWR, 0, CBLK_OPN_VIRT_LUN);
	T_ASSERT(v != NULL_CHUNK_ID);
	T_EQ(cblk_set_size(v, VICTIM_BLK, 0), 0);
	for (uint32_t i = 0; i < VICTIM_BLK; i++) {
		t_pattern_fill(b, BLK, 77, i);
		T_EQ(cblk_write(v, b, i, 1, 0), 1);
	}
	/* Alone first: this machine's baseline under its current load. */
	victim(v, b, secs, "scrub-solo", NULL);
	sh->c[0].ready = 1;
	for (int i = 0; i < 20000 && !sh->c[1].ready; i++) {
		int st;

		if (waitpid(nb, &st, WNOHANG) == nb) {
			fprintf(stderr, "neighbour failed: status %d\n", WEXITSTATUS(st));
			T_ASSERT(0);
		}
		d_sleep_us(1000);
	}
	T_ASSERT(sh->c[1].ready);
	victim(v, b, secs, "scrub-release", &sh->c[1].ops);
	sh->stop = 1;
	T_EQ(d_wait(nb), 0);
	fprintf(stderr, "   neighbour: %llu vLUNs of 256 MiB filled (64 MiB) and released in all\n",
		(unsigned long long)sh->c[1].ops);
	T_ASSERT(sh->c[1].ops > 0);
	T_EQ(cblk_close(v, 0), 0);
	d_check("lun0");
	munmap(sh, sizeof(*sh));
	free(b);
}

/* Mark the first block of every MiB of @id's @nblocks. */
static int mark(chunk_id_t id, uint64_t nblocks, uint8_t *b, int gen)
{
	for (uint64_t lba = 0; lba < nblocks; lba += MIB) {
		t_pattern_fill(b, BLK, (uint64_t)gen << 32 | 1, lba);
		if (cblk_write(id, b, (cflash_offset_t)lba, 1, 0) != 1)
			return -1;
	}
	return 0;
}

/* Every mark reads zeroes. Return: marks that did not. */
static uint64_t stale_marks(chunk_id_t id, uint64_t nblocks, uint8_t *b)
{
	uint64_t bad = 0;

	for (uint64_t lba = 0; lba < nblocks; lba += MIB) {
		T_EQ(cblk_read(id, b, (cflash_offset_t)lba, 1, 0), 1);
		for (unsigned i = 0; i < BLK; i++)
			if (b[i]) {
				bad++;
				break;
			}
	}
	return bad;
}

static void no_stale(void)
{
	const uint64_t all = 4 * CHUNK;   /* lun1 = ram:1G: 4 chunks */
	uint8_t *b = bt_buf(1);
	unsigned rounds = (unsigned)t_scale(4, 2);

	for (unsigned r = 0; r < rounds; r++) {
		chunk_id_t a = cblk_open("lun1", 8, O_RDWR, 0, CBLK_OPN_VIRT_LUN);
		chunk_id_t c;

		T_ASSERT(a != NULL_CHUNK_ID);
		T_EQ(cblk_set_size(a, all, 0), 0);
		T_EQ(mark(a, all, b, (int)r + 1), 0);
		T_EQ(cblk_close(a, 0), 0);
		/* At once: its chunks are queued for the scrub thread. */
		c = cblk_open("lun1", 8, O_RDWR, 0, CBLK_OPN_VIRT_LUN);
		T_ASSERT(c != NULL_CHUNK_ID);
		T_EQ(cblk_set_size(c, all, 0), 0);
		T_EQ(stale_marks(c, all, b), 0);
		T_EQ(cblk_close(c, 0), 0);
	}
	fprintf(stderr, "   %u rounds: all 4 chunks released and taken again at once, "
		"no mark left\n", rounds);
	d_check("lun1");
	free(b);
}

static void restart(void)
{
	char spec[600];
	const char *dir = getenv("CXLFLASH_TEST_DIR");
	const char *args[] = { "--lun", spec, "--allow", "lun2=all", NULL };
	const uint64_t all = 4 * CHUNK;
	uint8_t *b = bt_buf(1);
	chunk_id_t id;

	T_EQ(t_daemon_stop(&g_d), 0);
	snprintf(spec, sizeof(spec), "lun2=file:%s/scrub_restart.img?size=1G",
		 dir && *dir ? dir : "/tmp");
	unlink(spec + strlen("lun2=file:"));
	T_EQ(d_start(&g_d, args), 0);
	id = cblk_open("lun2", 8, O_RDWR, 0, CBLK_OPN_VIRT_LUN);
	T_ASSERT(id != NULL_CHUNK_ID);
	T_EQ(cblk_set_size(id, all, 0), 0);
	T_EQ(mark(id, all, b, 9), 0);
	/* A crash: the vLUN's chunks are never released nor scrubbed. */
	t_daemon_kill(&g_d);
	cblk_close(id, 0);
	T_EQ(d_start(&g_d, args), 0);
	id = cblk_open("lun2", 8, O_RDWR, 0, CBLK_OPN_VIRT_LUN);
	T_ASSERT(id != NULL_CHUNK_ID);
	T_EQ(cblk_set_size(id, all, 0), 0);
	T_EQ(stale_marks(id, all, b), 0);
	T_EQ(cblk_close(id, 0), 0);
	d_check("lun2");
	unlink(spec + strlen("lun2=file:"));
	free(b);
}

int main(void)
{
	const char *args[] = { "--lun", "lun0=ram:4G", "--lun", "lun1=ram:1G",
			       "--allow", "lun0=all", "--allow", "lun1=all", NULL };

	T_SKIP_IF(access(t_tool_path("cxlflashd"), X_OK), "no cxlflashd binary");
	setenv("CXLFLASH_AFU_THREADS", "1", 1);   /* every context on one worker */
	T_EQ(d_start(&g_d, args), 0);
	T_RUN(background);
	T_RUN(no_stale);
	T_RUN(restart);
	T_EQ(t_daemon_stop(&g_d), 0);
	return T_PASS;
}
