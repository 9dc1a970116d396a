/* SPDX-License-Identifier: Apache-2.0 */
/*
 * unit/kv_mem: the memory store's allocator (src/kv/mem.c). Objects of
 * every size up to its largest class and beyond hold their bytes (no two
 * overlap), are 16-byte aligned, and are reused after a free; chunks
 * whose objects are all free go back (the bytes held fall), so a steady
 * set/delete churn does not grow; threads allocating and freeing in the
 * same arenas at once (under ThreadSanitizer in make test) each keep
 * their objects intact.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv/kv_internal.h"
#include "t_util.h"

struct obj {
	uint8_t *p;
	size_t n;
	uint8_t tag;
};

static void fill(struct obj *o)
{
	memset(o->p, o->tag, o->n);
}

static void check(const struct obj *o)
{
	for (size_t i = 0; i < o->n; i++)
		if (o->p[i] != o->tag) {
			fprintf(stderr, "object of %zu bytes at %p: byte %zu is %u, not %u\n", o->n,
				(void *)o->p, i, o->p[i], o->tag);
			T_ASSERT(0);
		}
}

/* The process's resident bytes. */
static uint64_t resident(void)
{
	unsigned long size = 0, res = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (f) {
		if (fscanf(f, "%lu %lu", &size, &res) != 2)
			res = 0;
		fclose(f);
	}
	return (uint64_t)res * 4096;
}

static uint64_t rnd(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/* Every size from 1 to 4 KiB, then steps to past the largest class. */
static void sizes(void)
{
	struct kv_mem *m = kv_mem_new();
	size_t cap = 8192, n = 0;
	struct obj *o = calloc(cap, sizeof(*o));

	T_ASSERT(m && o);
	for (size_t sz = 1; sz <= KV_MEM_MAX + 70000; sz += sz < 4096 ? 1 : 997) {
		T_ASSERT(n < cap);
		o[n] = (struct obj){ kv_mem_alloc(m, (unsigned)n, sz), sz, (uint8_t)(n * 7 + 1) };
		T_ASSERT(o[n].p);
		T_EQ((uintptr_t)o[n].p % 16, 0u);
		fill(&o[n]);
		n++;
	}
	for (size_t i = 0; i < n; i++)
		check(&o[i]);
	T_ASSERT(kv_mem_held(m) > 0);
	for (size_t i = 0; i < n; i++)
		kv_mem_free(m, o[i].p, o[i].n);
	/* At most one chunk a class and arena stays. */
	T_ASSERT(kv_mem_held(m) <= 96ull * 4 * (2 << 20));
	kv_mem_destroy(m);
	free(o);
}

/* A freed object is handed out again; emptied chunks go back, and a
 * churn of sets and deletes holds no more than its live data needs. */
static void reuse(void)
{
	struct kv_mem *m = kv_mem_new();
	enum { N = 20000 };
	static struct obj o[N];
	uint64_t x = 88172645463325252ull;

	T_ASSERT(m);
	void *a = kv_mem_alloc(m, 3, 200);
	kv_mem_free(m, a, 200);
	T_ASSERT(kv_mem_alloc(m, 3, 200) == a);   /* the same class and arena */
	kv_mem_free(m, a, 200);

	for (int i = 0; i < N; i++) {
		o[i] = (struct obj){ kv_mem_alloc(m, (unsigned)i, 4096 + 112), 4096 + 112, (uint8_t)i };
		T_ASSERT(o[i].p);
		fill(&o[i]);
	}
	uint64_t full = kv_mem_held(m);
	T_ASSERT(full >= (uint64_t)N * 4208);
	for (int i = 0; i < N; i++)
		kv_mem_free(m, o[i].p, o[i].n);
	uint64_t empty = kv_mem_held(m);
	T_ASSERT(empty <= 5ull * (256 << 10));   /* a chunk per arena kept, and the 200 B one */

	/* Churn: replace random objects with ones of other sizes. */
	uint64_t rss0 = resident();
	for (int i = 0; i < N / 4; i++) {
		o[i].n = 1 + rnd(&x) % 9000;
		o[i].p = kv_mem_alloc(m, (unsigned)i, o[i].n);
		o[i].tag = (uint8_t)rnd(&x);
		fill(&o[i]);
	}
	uint64_t peak = 0;
	for (int r = 0; r < 40 * N; r++) {
		struct obj *v = &o[rnd(&x) % (N / 4)];
		unsigned arena = (unsigned)(v - o);
		check(v);
		kv_mem_free(m, v->p, v->n);
		v->n = 1 + rnd(&x) % 9000;
		v->p = kv_mem_alloc(m, arena, v->n);
		T_ASSERT(v->p);
		v->tag = (uint8_t)rnd(&x);
		fill(v);
		if (r > 4 * N && kv_mem_held(m) > peak)
			peak = kv_mem_held(m);
	}
	/* Live: 5,000 objects of 4.5 KB on average, 22 MB. */
	fprintf(stderr, "churn: %.1f MiB held at most once settled, %.1f MiB more resident\n",
		peak / 1048576.0, (double)(resident() - rss0) / 1048576.0);
	T_ASSERT(peak < 96ull << 20);
	for (int i = 0; i < N / 4; i++) {
		check(&o[i]);
		kv_mem_free(m, o[i].p, o[i].n);
	}
	kv_mem_destroy(m);
}

struct worker {
	struct kv_mem *m;
	unsigned id;
};

static void *churn_thread(void *arg)
{
	struct worker *w = arg;
	enum { LIVE = 512 };
	struct obj o[LIVE];
	uint64_t x = 0x9e3779b97f4a7c15ull * (w->id + 1);
	int n = (int)t_scale(200000, 20000);

	for (int i = 0; i < LIVE; i++) {
		o[i].n = 1 + rnd(&x) % 5000;
		o[i].p = kv_mem_alloc(w->m, (unsigned)rnd(&x), o[i].n);
		o[i].tag = (uint8_t)(w->id * 31 + i);
		fill(&o[i]);
	}
	for (int r = 0; r < n; r++) {
		struct obj *v = &o[rnd(&x) % LIVE];
		check(v);
		kv_mem_free(w->m, v->p, v->n);
		v->n = 1 + rnd(&x) % 5000;
		v->p = kv_mem_alloc(w->m, (unsigned)rnd(&x), v->n);
		T_ASSERT(v->p);
		fill(v);
	}
	for (int i = 0; i < LIVE; i++) {
		check(&o[i]);
		kv_mem_free(w->m, o[i].p, o[i].n);
	}
	return NULL;
}

static void threads(void)
{
	struct kv_mem *m = kv_mem_new();
	pthread_t t[4];
	struct worker w[4];

	T_ASSERT(m);
	for (unsigned i = 0; i < 4; i++) {
		w[i] = (struct worker){ m, i };
		T_EQ(pthread_create(&t[i], NULL, churn_thread, &w[i]), 0);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	T_ASSERT(kv_mem_held(m) <= 96ull * 4 * (2 << 20));
	kv_mem_destroy(m);
}

int main(void)
{
	T_RUN(sizes);
	T_RUN(reuse);
	T_RUN(threads);
	return T_PASS;
}
