/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: one context issues 256 MiB WRITE SAMEs back to back (data
 * replicated, zeroes written, zeroes unmapped) while another, on the same
 * AFU worker, reads single 4 KiB blocks at queue depth 1. The AFU issues a
 * command's backend work one slice (AFU_SLICE_BLOCKS) per worker pass, so
 * the quiet context's reads interleave instead of waiting for 256 MiB.
 * Prints the victim's latency percentiles (measured, not asserted: only a
 * stall over 1 s fails) and checks both contexts' data. First the victim
 * alone ("solo": this machine's baseline under its current load). The
 * neighbour and the victim wait for their commands as the block library's
 * callers do (a short spin, then asleep on host_wake); "data-spin" repeats
 * "data" with both polling their HRRQ until the completion, as raw SISLite
 * clients may (one more CPU-bound thread beside the worker and the victim:
 * three on two vCPUs).
 * Then "release": both on vLUNs of the same LUN, the neighbour creates a
 * vLUN of one chunk, fills it with one 256 MiB data WRITE SAME and
 * releases it, back to back: each release queues a 256 MiB scrub (done in
 * the background, scrub.c) beside the victim's reads.
 * With CXLFLASH_BENCH_JSON=FILE each kind appends one JSON line (the bench's
 * "tenants" rows).
 * Duration: 2 s per kind (CXLFLASH_NOISY_SECS), 1 s under
 * CXLFLASH_TEST_SCALE (the TSan build), whose WRITE SAMEs shrink with it.
 */
#include "t_util.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "t_sisl.h"
#include "util/byteorder.h"

#define WS_BLOCKS  65536u          /* 256 MiB per WRITE SAME (t_scale()d) */
#define WS_LBA     (1ull << 18)    /* the neighbour's range starts at 1 GiB */
#define VICTIM_BLK 1024u           /* the victim reads [0, 1024) */
#define MAX_SAMPLES (1u << 22)

static int g_stop;                 /* atomic: the neighbour stops */
static uint32_t g_ws_blocks;

enum kind { K_DATA, K_ZEROES, K_UNMAP, K_RELEASE, K_DATA_SPIN, K_SOLO };

struct neighbour {
	struct t_sisl s;
	uint64_t handle;
	enum kind kind;            /* data, zeroes written, zeroes unmapped, data
				    * into a new vLUN then released, data waited
				    * for by spinning */
	int fd;
	uint64_t cmds;             /* atomic: the main thread waits for the first */
	uint32_t bad_ioasc;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void *noisy(void *arg)
{
	struct neighbour *n = arg;
	uint8_t *blk = aligned_alloc(4096, 4096);
	uint8_t cdb[16] = { 0 };

	memset(blk, n->kind == K_ZEROES || n->kind == K_UNMAP ? 0 : 0x5a, 4096);
	cdb[0] = 0x93;                      /* WRITE SAME(16) */
	cdb[1] = n->kind == K_UNMAP ? 0x08 : 0;
	put_be64(cdb + 2, n->kind == K_RELEASE ? 0 : WS_LBA);
	put_be32(cdb + 10, g_ws_blocks);
	while (!__atomic_load_n(&g_stop, __ATOMIC_ACQUIRE)) {
		uint64_t last;
		uint32_t rc;

		if (n->kind == K_RELEASE && t_uvirtual(n->fd, n->s.ctxid, WS_BLOCKS, 0, &n->handle, &last)) {
			if (!n->bad_ioasc)
				n->bad_ioasc = 0xdead;
			break;
		}
		/* As the block library waits (a short spin, then asleep on
		 * host_wake), but for K_DATA_SPIN: a thread polling for the
		 * whole command is one more CPU-bound thread beside the AFU
		 * worker and the victim (3 on 2 vCPUs: the victim then waits
		 * for the scheduler's ticks, 4 ms at HZ=250, whatever the AFU
		 * does). */
		rc = n->kind == K_DATA_SPIN ?
		     t_sisl_run(&n->s, (uint32_t)n->handle, cdb, blk, 4096, true) :
		     t_sisl_run_sleep(&n->s, (uint32_t)n->handle, cdb, blk, 4096, true);
		if (rc && !n->bad_ioasc)
			n->bad_ioasc = rc;
		if (n->kind == K_RELEASE && t_release(n->fd, n->s.ctxid, n->handle) && !n->bad_ioasc)
			n->bad_ioasc = 0xdeaf;
		__atomic_store_n(&n->cmds, n->cmds + 1, __ATOMIC_RELEASE);
	}
	free(blk);
	return NULL;
}

/*
 * One 4 KiB read of the victim. It waits as the block library's callers do
 * (CFLSH_BLK_SPIN_US, 20 us, on the HRRQ, then asleep on host_wake until
 * the AFU's wake-up); with @spin it polls the HRRQ until the completion
 * (a raw SISLite poller: on a CPU it shares with the AFU worker it then
 * holds that CPU until the scheduler's tick).
 */
static uint32_t victim_read(struct t_sisl *v, uint32_t res, uint64_t lba, void *b, bool spin)
{
	uint8_t cdb[16] = { 0x88 };         /* READ(16) */

	if (spin)
		return t_sisl_rw(v, res, lba, 1, b, false);
	put_be64(cdb + 2, lba);
	put_be32(cdb + 10, 1);
	return t_sisl_run_wait(v, res, cdb, b, 4096, false, 20000);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void one_kind(int fd, struct t_sisl *v, uint64_t hv, enum kind kind, unsigned secs)
{
	static const char *names[] = { "data", "zeroes", "unmap", "release", "data-spin", "solo" };
	static uint64_t lat[MAX_SAMPLES];
	struct neighbour n = { .kind = kind, .fd = fd };
	uint8_t *b = aligned_alloc(4096, 4096);
	uint64_t seed = 7, end, nlat = 0;
	const char *json = getenv("CXLFLASH_BENCH_JSON");
	pthread_t th;

	T_EQ(t_sisl_attach(&n.s, fd, O_RDWR, true, 4), 0);
	if (kind != K_RELEASE)
		T_EQ(t_udirect(fd, n.s.ctxid, &n.handle), 0);
	__atomic_store_n(&g_stop, 0, __ATOMIC_RELEASE);
	if (kind != K_SOLO) {
		T_EQ(pthread_create(&th, NULL, noisy, &n), 0);
		while (__atomic_load_n(&n.cmds, __ATOMIC_ACQUIRE) == 0)
			sched_yield();
	}
	end = now_ns() + (uint64_t)secs * 1000000000ull;
	while (now_ns() < end && nlat < MAX_SAMPLES) {
		uint64_t lba = t_rand(&seed) % VICTIM_BLK, t0 = now_ns();

		T_EQ(victim_read(v, (uint32_t)hv, lba, b, kind == K_DATA_SPIN), 0);
		lat[nlat++] = now_ns() - t0;
		T_EQ(t_pattern_check(b, 4096, 99, lba), 0);
	}
	__atomic_store_n(&g_stop, 1, __ATOMIC_RELEASE);
	if (kind != K_SOLO)
		T_EQ(pthread_join(th, NULL), 0);
	T_EQ(n.bad_ioasc, 0);
	qsort(lat, nlat, sizeof(lat[0]), cmp_u64);
	fprintf(stderr, "   neighbour %-6s: %llu WRITE SAMEs of %u MiB (%.0f MiB/s); victim 4 KiB "
		"reads: %llu, p50 %.1f us, p99 %.1f us, p99.9 %.1f us, max %.1f us\n",
		names[kind], (unsigned long long)n.cmds, g_ws_blocks / 256,
		(double)n.cmds * (g_ws_blocks / 256) / secs,
		(unsigned long long)nlat, lat[nlat / 2] / 1e3, lat[nlat * 99 / 100] / 1e3,
		lat[nlat * 999 / 1000] / 1e3, lat[nlat - 1] / 1e3);
	if (json && *json) {
		FILE *f = fopen(json, "a");

		T_ASSERT(f);
		fprintf(f, "{\"tenants\":[{\"row\":\"noisy-%s\",\"ws_mib\":%u,\"ws\":%llu,"
			"\"secs\":%u,\"reads\":%llu,\"p50_us\":%.1f,\"p99_us\":%.1f,"
			"\"p999_us\":%.1f,\"max_us\":%.1f}]}\n", names[kind], g_ws_blocks / 256,
			(unsigned long long)n.cmds, secs, (unsigned long long)nlat,
			lat[nlat / 2] / 1e3, lat[nlat * 99 / 100] / 1e3, lat[nlat * 999 / 1000] / 1e3,
			lat[nlat - 1] / 1e3);
		fclose(f);
	}
	T_ASSERT((n.cmds > 0 || kind == K_SOLO) && nlat > 0);
	T_ASSERT(lat[nlat - 1] < 1000000000ull * T_SLOW);   /* a stall, not a slow machine */
	t_sisl_detach(&n.s, true);
	free(b);
}

static void interleave(void)
{
	const char *secs_env = getenv("CXLFLASH_NOISY_SECS");
	unsigned secs = secs_env && *secs_env ? (unsigned)atoi(secs_env) :
			(unsigned)t_scale(2, 1);
	int fd = cxlflash_open("ram:2G", O_RDWR);
	uint8_t *w = aligned_alloc(4096, VICTIM_BLK * 4096);
	struct t_sisl v;
	uint64_t hv;

	T_ASSERT(fd >= 0 && w);
	g_ws_blocks = (uint32_t)t_scale(WS_BLOCKS, 16384); /* covers WS_LBA + 12345 */
	T_EQ(t_sisl_attach(&v, fd, O_RDWR, true, 4), 0);
	T_EQ(t_udirect(fd, v.ctxid, &hv), 0);
	t_pattern_fill(w, VICTIM_BLK * 4096, 99, 0);
	T_EQ(t_sisl_rw(&v, (uint32_t)hv, 0, VICTIM_BLK, w, true), 0);
	/* The victim alone first: the baseline of this machine's load. */
	one_kind(fd, &v, hv, K_SOLO, secs);
	for (enum kind k = K_DATA; k <= K_UNMAP; k++)
		one_kind(fd, &v, hv, k, secs);
	one_kind(fd, &v, hv, K_DATA_SPIN, secs);
	/* The neighbour's range holds what its last kind left: data. */
	T_EQ(t_sisl_rw(&v, (uint32_t)hv, WS_LBA + 12345, 1, w, false), 0);
	for (unsigned i = 0; i < 4096; i++)
		T_EQ(w[i], 0x5a);
	t_check_master(fd);
	t_sisl_detach(&v, true);
	T_EQ(cxlflash_close(fd), 0);
	free(w);
}

/* The victim on a vLUN, the neighbour making, filling and releasing vLUNs. */
static void releases(void)
{
	const char *secs_env = getenv("CXLFLASH_NOISY_SECS");
	unsigned secs = secs_env && *secs_env ? (unsigned)atoi(secs_env) :
			(unsigned)t_scale(2, 1);
	int fd = cxlflash_open("ram:2G", O_RDWR);
	uint8_t *w = aligned_alloc(4096, VICTIM_BLK * 4096);
	struct t_sisl v;
	uint64_t hv, last;

	T_ASSERT(fd >= 0 && w);
	g_ws_blocks = (uint32_t)t_scale(WS_BLOCKS, 16384);
	T_EQ(t_sisl_attach(&v, fd, O_RDWR, true, 4), 0);
	T_EQ(t_uvirtual(fd, v.ctxid, VICTIM_BLK, 0, &hv, &last), 0);
	t_pattern_fill(w, VICTIM_BLK * 4096, 99, 0);
	T_EQ(t_sisl_rw(&v, (uint32_t)hv, 0, VICTIM_BLK, w, true), 0);
	one_kind(fd, &v, hv, K_RELEASE, secs);
	t_check_master(fd);
	t_sisl_detach(&v, true);
	T_EQ(cxlflash_close(fd), 0);
	free(w);
}

int main(void)
{
	setenv("CXLFLASH_SOCKET", "none", 1);
	setenv("CXLFLASH_AFU_THREADS", "1", 1);   /* both contexts on one worker */
	T_RUN(interleave);
	T_RUN(releases);
	return T_PASS;
}
