/* SPDX-License-Identifier: Apache-2.0 */
/*
 * unit/kv_threads: the key/value store's own concurrency, small enough to
 * run under ThreadSanitizer in `make test`: threads doing sync set, get,
 * del and async calls on one store while an iterator walks it, on a memory
 * store and on a small durable RAM LUN store where the writer's batches,
 * the cleaner and checkpoints run at the same time (one batch on its way
 * at a time, then two: CXLFLASH_KV_WRITE_DEPTH=2).
 *
 * Under TSan nothing is suppressed: the engine's host <-> AFU handoffs
 * are visible to it (src/afu/afu_tsan.h), so every race fails the test.
 */
#include <arkdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "t_util.h"

#define NTHR 6
#if defined(__SANITIZE_THREAD__)
#define PER  60       /* the engine polls: under TSan it crawls */
#define LUN  "ram:4M" /* still small enough for the cleaner to run */
#else
#define PER  400
#define LUN  "ram:16M"
#endif
#define ROUNDS 6

static ARK *g_ark;
static atomic_int g_stop, g_cb_done, g_cb_err;
static atomic_int g_thread_done[NTHR];

/* dt: the thread that asked. */
static void cb(int errcode, uint64_t dt, int64_t res)
{
	(void)res;
	if (errcode)
		atomic_fetch_add(&g_cb_err, 1);
	atomic_fetch_add(&g_thread_done[dt], 1);
	atomic_fetch_add(&g_cb_done, 1);
}

static void *worker(void *arg)
{
	uint64_t t = (uint64_t)(uintptr_t)arg;
	static _Thread_local uint64_t keys[PER];
	uint8_t val[2000], out[2000];
	int64_t res;

	for (int round = 0; round < ROUNDS; round++) {
		for (uint64_t i = 0; i < PER; i++) {
			uint64_t k = t * PER + i;
			size_t n = 1 + (k * 7 + (uint64_t)round) % sizeof(val);
			memset(val, (int)(k + (uint64_t)round), n);
			int rc = ark_set(g_ark, sizeof(k), &k, n, val, &res);
			if (rc) {
				fprintf(stderr, "thread %llu: set: %s\n", (unsigned long long)t, strerror(rc));
				return (void *)1;
			}
		}
		for (uint64_t i = 0; i < PER; i += 5) {
			uint64_t k = t * PER + i;
			size_t n = 1 + (k * 7 + (uint64_t)round) % sizeof(val);
			int rc = ark_get(g_ark, sizeof(k), &k, sizeof(out), out, 0, &res);
			if (rc || (size_t)res != n || out[0] != (uint8_t)(k + (uint64_t)round) ||
			    out[n - 1] != out[0]) {
				fprintf(stderr, "thread %llu: get of key %llu: %s, %lld bytes\n",
					(unsigned long long)t, (unsigned long long)k, strerror(rc),
					(long long)res);
				return (void *)2;
			}
		}
		/* Async deletes of half the keys; the next round sets them again
		 * once they are done. */
		int issued = 0;
		for (uint64_t i = 0; i < PER; i += 2) {
			keys[i] = t * PER + i;
			while (ark_del_async_cb(g_ark, sizeof(keys[i]), &keys[i], cb, t) == EAGAIN)
				usleep(50);
			issued++;
		}
		while (atomic_load(&g_thread_done[t]) < (round + 1) * issued)
			usleep(50);
	}
	return NULL;
}

static void *iterator(void *arg)
{
	uint8_t kbuf[16];
	int64_t klen;

	(void)arg;
	while (!atomic_load(&g_stop)) {
		ARI *it = ark_first(g_ark, sizeof(kbuf), &klen, kbuf);
		if (!it)
			continue;
		while (ark_next(it, sizeof(kbuf), &klen, kbuf) == 0)
			;
		uint64_t kl;
		ark_random(g_ark, sizeof(kbuf), &kl, kbuf);
		usleep(2000);   /* a walk now and then, not a lock hog */
	}
	return NULL;
}

static void run(const char *path, uint64_t flags)
{
	pthread_t th[NTHR], it;
	void *ret;

	fprintf(stderr, "-- %s\n", path ? path : "(memory)");
	T_EQ(ark_create_verbose((char *)path, &g_ark, 0, 4096, NTHR * PER, 3, 0, 0, flags), 0);
	atomic_store(&g_stop, 0);
	atomic_store(&g_cb_done, 0);
	for (int i = 0; i < NTHR; i++)
		atomic_store(&g_thread_done[i], 0);
	T_ASSERT(pthread_create(&it, NULL, iterator, NULL) == 0);
	for (int i = 0; i < NTHR; i++)
		T_ASSERT(pthread_create(&th[i], NULL, worker, (void *)(uintptr_t)i) == 0);
	for (int i = 0; i < NTHR; i++) {
		pthread_join(th[i], &ret);
		T_ASSERT(ret == NULL);
	}
	while (atomic_load(&g_cb_done) < NTHR * ROUNDS * (PER / 2))
		usleep(100);
	atomic_store(&g_stop, 1);
	pthread_join(it, NULL);
	T_EQ(atomic_load(&g_cb_err), 0);
	int64_t count;
	T_EQ(ark_count(g_ark, &count), 0);
	T_EQ(count, NTHR * PER / 2);
	T_EQ(ark_delete(g_ark), 0);
}

int main(void)
{
	run(NULL, 0);
	/* 16 MiB: small segments, so the cleaner and checkpoints run. */
	run(LUN, ARK_KV_PERSIST_STORE);
	/* Again with two batches on their way at once (two writer threads,
	 * acknowledgements in log order, checkpoints waiting for both). */
	setenv("CXLFLASH_KV_WRITE_DEPTH", "2", 1);
	run(LUN, ARK_KV_PERSIST_STORE);
	unsetenv("CXLFLASH_KV_WRITE_DEPTH");
	return T_PASS;
}
