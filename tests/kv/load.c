/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kv/load: big and many. Values of 1 byte to 64 MiB and keys up to 64 KiB
 * (raw keys on a LUN), 40 stores open at once, 16 threads on one store
 * with an iteration running beside them, on memory and LUN stores.
 */
#include "kv_test.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

static void big(const char *spec, uint64_t flags)
{
	ARK *ark;
	int64_t res;
	/* The two biggest shrink with CXLFLASH_TEST_SCALE (to 4 and 16 MiB
	 * under TSan, where copying 64 MiB through the engine takes seconds). */
	const uint64_t sizes[] = { 1, 4095, 4096, 1 << 20, t_scale(17u << 20, 1 << 20),
				   t_scale(64u << 20, 1 << 20) };
	uint8_t *val = malloc(64u << 20), *out = malloc(64u << 20);

	T_ASSERT(val && out);
	fprintf(stderr, "-- big values on %s\n", spec ? spec : "(memory)");
	T_OK(ark_create((char *)spec, &ark, flags));
	for (unsigned i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint64_t k = i;
		kv_t_value(val, sizes[i], k, 1);
		T_OK(ark_set(ark, sizeof(k), &k, sizes[i], val, &res));
		T_EQ(res, sizes[i]);
	}
	for (unsigned i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint64_t k = i;
		memset(out, 0, sizes[i]);
		T_OK(ark_get(ark, sizeof(k), &k, 64u << 20, out, 0, &res));
		T_EQ(res, sizes[i]);
		T_EQ(kv_t_value_ok(out, sizes[i], k, 1), 0);
		/* A slice in the middle. */
		if (sizes[i] > 100) {
			T_OK(ark_get(ark, sizeof(k), &k, 50, out, sizes[i] / 2, &res));
			kv_t_value(val, sizes[i], k, 1);
			T_EQ(memcmp(out, val + sizes[i] / 2, 50), 0);
		}
	}
	/* Long keys: 1 KiB (inline on a LUN), 1 KiB + 1 and 64 KiB (raw). */
	const uint64_t klens[] = { 1024, 1025, 64 << 10 };
	uint8_t *key = malloc(64 << 10);
	T_ASSERT(key);
	for (unsigned i = 0; i < 3; i++) {
		kv_t_value(key, klens[i], 900 + i, 3);
		kv_t_value(val, 5000, 900 + i, 4);
		T_OK(ark_set(ark, klens[i], key, 5000, val, &res));
	}
	for (unsigned i = 0; i < 3; i++) {
		kv_t_value(key, klens[i], 900 + i, 3);
		T_OK(ark_get(ark, klens[i], key, 5000, out, 0, &res));
		T_EQ(res, 5000);
		T_EQ(kv_t_value_ok(out, 5000, 900 + i, 4), 0);
		T_OK(ark_del(ark, klens[i], key, &res));
	}
	if (flags & ARK_KV_PERSIST_STORE) {
		/* Everything also comes back from the LUN. */
		T_OK(ark_delete(ark));
		T_OK(ark_create((char *)spec, &ark, flags | ARK_KV_PERSIST_LOAD));
		for (unsigned i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			uint64_t k = i;
			T_OK(ark_get(ark, sizeof(k), &k, 64u << 20, out, 0, &res));
			T_EQ(res, sizes[i]);
			T_EQ(kv_t_value_ok(out, sizes[i], k, 1), 0);
		}
	}
	T_OK(ark_delete(ark));
	free(key);
	free(val);
	free(out);
}

static void forty_stores(void)
{
	ARK *arks[40];
	int64_t res, count;

	static char names[40][32];

	for (int i = 0; i < 40; i++) {
		/* Memory stores, RAM LUNs of their own (the size tells them apart)
		 * and vLUNs of one RAM LUN, mixed. */
		snprintf(names[i], sizeof(names[i]), "ram:%dM", 256 + i);
		char *path = i % 3 == 0 ? NULL : (i % 3 == 1 ? names[i] : "ram:8G");
		T_OK(ark_create_verbose(path, &arks[i], 0, 4096, 1000, 2, 0, 0,
					i % 3 == 2 ? ARK_KV_VIRTUAL_LUN : 0));
	}
	/* A second store on a LUN a store of this process uses whole: EBUSY. */
	ARK *again;
	T_RC(ark_create(names[1], &again, 0), EBUSY);
	for (uint64_t k = 0; k < 500; k++)
		for (int i = 0; i < 40; i++) {
			uint64_t v = k * 100 + (uint64_t)i;
			T_OK(ark_set(arks[i], sizeof(k), &k, sizeof(v), &v, &res));
		}
	for (int i = 0; i < 40; i++) {
		T_OK(ark_count(arks[i], &count));
		T_EQ(count, 500);
		for (uint64_t k = 0; k < 500; k += 13) {
			uint64_t v = 0;
			T_OK(ark_get(arks[i], sizeof(k), &k, sizeof(v), &v, 0, &res));
			T_EQ(v, k * 100 + (uint64_t)i);
		}
	}
	for (int i = 0; i < 40; i++)
		T_OK(ark_delete(arks[i]));
}

#define NTHR 16

static ARK *g_ark;
static uint64_t PER;
static atomic_int g_stop;

static void *worker(void *arg)
{
	uint64_t t = (uint64_t)(uintptr_t)arg;
	uint8_t val[300], out[300];

	/* Keys t * PER .. : every thread its own. */
	int64_t res;

	for (int round = 0; round < 3; round++) {
		for (uint64_t i = 0; i < PER; i++) {
			uint64_t k = t * PER + i;
			kv_t_value(val, 1 + k % 300, k, (uint64_t)round);
			T_OK(ark_set(g_ark, sizeof(k), &k, 1 + k % 300, val, &res));
		}
		for (uint64_t i = 0; i < PER; i += 3) {
			uint64_t k = t * PER + i;
			T_OK(ark_get(g_ark, sizeof(k), &k, sizeof(out), out, 0, &res));
			T_EQ(res, 1 + k % 300);
			T_EQ(kv_t_value_ok(out, (size_t)res, k, (uint64_t)round), 0);
		}
		for (uint64_t i = 0; i < PER; i += 2) {
			uint64_t k = t * PER + i;
			T_OK(ark_del(g_ark, sizeof(k), &k, &res));
		}
	}
	return NULL;
}

static void *iterator(void *arg)
{
	uint8_t kbuf[64];
	int64_t klen;
	(void)arg;
	while (!atomic_load(&g_stop)) {
		ARI *it = ark_first(g_ark, sizeof(kbuf), &klen, kbuf);
		if (!it)
			continue;   /* ENOENT: empty for the moment */
		int n = 1, rc;
		while ((rc = ark_next(it, sizeof(kbuf), &klen, kbuf)) == 0) {
			T_EQ(klen, 8);
			n++;
		}
		T_EQ(rc, ENOENT);
	}
	return NULL;
}

static void threads(const char *spec, uint64_t flags, uint64_t per)
{
	pthread_t th[NTHR], it;
	int64_t count;

	PER = per;
	fprintf(stderr, "-- %d threads and an iterator on %s\n", NTHR, spec ? spec : "(memory)");
	T_OK(ark_create_verbose((char *)spec, &g_ark, 0, 4096, NTHR * PER, 4, 0, 0, flags));
	atomic_store(&g_stop, 0);
	T_ASSERT(pthread_create(&it, NULL, iterator, NULL) == 0);
	for (int i = 0; i < NTHR; i++)
		T_ASSERT(pthread_create(&th[i], NULL, worker, (void *)(uintptr_t)i) == 0);
	for (int i = 0; i < NTHR; i++)
		pthread_join(th[i], NULL);
	atomic_store(&g_stop, 1);
	pthread_join(it, NULL);
	T_OK(ark_count(g_ark, &count));
	T_EQ(count, NTHR * PER / 2);
	T_OK(ark_delete(g_ark));
}

int main(void)
{
	big(NULL, 0);
	big(kv_t_file("kv-load-big.img", "1G"), ARK_KV_PERSIST_STORE);
	big("ram:2G", ARK_KV_VIRTUAL_LUN);
	T_RUN(forty_stores);
	/* Even counts: each thread deletes every other key (CXLFLASH_TEST_SCALE
	 * shrinks them under TSan). */
	threads(NULL, 0, t_scale(2000, 60) & ~1ul);
	threads("ram:1G", 0, t_scale(500, 60) & ~1ul);
	threads(kv_t_file("kv-load-threads.img", "512M"), ARK_KV_PERSIST_STORE,
		t_scale(300, 60) & ~1ul);
	return T_PASS;
}
