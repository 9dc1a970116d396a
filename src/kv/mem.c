/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mem.c - where a memory store keeps its entries (key and value in one
 * object): size classes carved from chunks of the store's own mappings,
 * 256 KiB for objects up to 16 KiB, 2 MiB for larger ones.
 *
 * Why not malloc: a store filling with new values grows glibc's heaps a
 * little at a time, and each step is an mprotect (thread arenas) or brk
 * call that takes the process's mmap lock for writing while the other
 * threads fault in the pages of their new values. 4 KiB sets at 32 in
 * flight spent a third of their time there, plus a page-fault trap per
 * 4 KiB page. Here a store maps 64 MiB at a time (no call per step) and
 * maps the pages a chunk is about to hand out 64 KiB at a time
 * (MADV_POPULATE_WRITE: one call, no trap per page).
 *
 * Each chunk serves one class; its free objects are on its own list, so a
 * chunk whose objects are all free goes back to the store (its pages to
 * the kernel, MADV_DONTNEED) for any class of its chunk size to use. Four
 * arenas, each with its own lock, chosen by the key's shard: a key's
 * entries are always taken from and given back to the same arena. Objects
 * above KV_MEM_MAX come from malloc (with their pages mapped in one call).
 *
 * The cost: each class of each arena in use holds a chunk. With values of
 * every size from 1 to 9,000 bytes at once (22 MB live), the chunks held
 * came to 74 MiB, 34 MiB of it resident (unit/kv_mem); with one value
 * size, a few percent more than the live bytes.
 */
#include "kv/kv_internal.h"
#include "util/mutex.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#define KV_MEM_CHUNK (2ul << 20)        /* big chunks; regions are made of these */
#define KV_MEM_SMALL_CHUNK (256ul << 10)
#define KV_MEM_SMALL_MAX (16ul << 10)   /* the largest class in small chunks */
#define KV_MEM_REGION (64ul << 20)      /* mapped at once */
#define KV_MEM_POPULATE (64ul << 10)    /* pages mapped ahead of the bump pointer */
#define KV_MEM_NCLASS 96                /* 16 B steps to 256 B, then 8 per doubling */
#define KV_MEM_NARENA 4
#define KV_MEM_HDR 64                   /* the chunk header's share of a chunk */

struct kv_mem_chunk {                   /* at the start of its (aligned) chunk */
	struct kv_mem_chunk *next, *prev; /* the class's chunks with room, or the free chunks */
	void *free;                      /* freed objects (each holds the next) */
	uint32_t cls;
	uint32_t arena;
	uint32_t size;                   /* object bytes */
	uint32_t cap;                    /* objects that fit */
	uint32_t carved;                 /* objects handed out by the bump pointer so far */
	uint32_t live;
	uint64_t populated;              /* offset below which the pages are mapped */
	bool listed;                     /* on the class's list */
};
_Static_assert(sizeof(struct kv_mem_chunk) <= KV_MEM_HDR, "chunk header");

struct kv_mem_arena {
	pthread_mutex_t lock;
	struct kv_mem_chunk *room[KV_MEM_NCLASS]; /* chunks with a free or uncarved object */
} __attribute__((aligned(64)));

struct kv_mem {
	struct kv_mem_arena arenas[KV_MEM_NARENA];
	pthread_mutex_t lock;            /* regions and free chunks */
	struct kv_mem_chunk *free_big, *free_small;
	uintptr_t next, end;             /* uncarved part of the newest region */
	void **regions;                  /* mappings, KV_MEM_REGION + a chunk each */
	size_t nregions, cap;
	uint64_t held;                   /* chunks in use by a class, in bytes */
};

/* cls_of() - the class of an object of n bytes (1 <= n <= KV_MEM_MAX) */
static unsigned cls_of(size_t n)
{
	if (n <= 256)
		return (unsigned)((n + 15) / 16 - 1);
	unsigned p = 63 - (unsigned)__builtin_clzl(n - 1);    /* 2^p < n <= 2^(p+1) */
	return 16 + (p - 8) * 8 + (unsigned)((n - 1 - (1ul << p)) >> (p - 3));
}

static size_t cls_size(unsigned c)
{
	if (c < 16)
		return (c + 1) * 16;
	unsigned p = 8 + (c - 16) / 8, k = (c - 16) % 8;
	return (1ul << p) + (k + 1) * (1ul << (p - 3));
}
_Static_assert(KV_MEM_MAX == 256 << 10, "the class table ends at 256 KiB");

static bool kv_mem_small(size_t n)
{
	return n <= KV_MEM_MAX;
}

struct kv_mem *kv_mem_new(void)
{
	struct kv_mem *m = aligned_alloc(64, sizeof(*m));

	if (!m)
		return NULL;
	memset(m, 0, sizeof(*m));
	for (int i = 0; i < KV_MEM_NARENA; i++)
		mutex_init_adaptive(&m->arenas[i].lock);
	pthread_mutex_init(&m->lock, NULL);
	return m;
}

void kv_mem_destroy(struct kv_mem *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->nregions; i++) {
		UNPOISON(m->regions[i], KV_MEM_REGION + KV_MEM_CHUNK);
		munmap(m->regions[i], KV_MEM_REGION + KV_MEM_CHUNK);
	}
	free(m->regions);
	for (int i = 0; i < KV_MEM_NARENA; i++)
		pthread_mutex_destroy(&m->arenas[i].lock);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

/* kv_mem_forget() - an object the store is about to be destroyed with:
 * freed if it came from malloc, else left to kv_mem_destroy() */
void kv_mem_forget(struct kv_mem *m, void *p, size_t n)
{
	(void)m;
	if (!kv_mem_small(n))
		free(p);
}

/* kv_mem_fork_child() - a forked child's locks (their holders are not in it) */
void kv_mem_fork_child(struct kv_mem *m)
{
	if (!m)
		return;
	for (int i = 0; i < KV_MEM_NARENA; i++)
		mutex_init_adaptive(&m->arenas[i].lock);
	pthread_mutex_init(&m->lock, NULL);
}

static void populate(void *p, size_t n)
{
	/* Only saves the page-fault traps: on a kernel without it, the
	 * first writes map the pages as they would anyway. */
	(void)madvise(p, n, MADV_POPULATE_WRITE);
}

/* The chunk size of a class's objects. */
static size_t chunk_size(size_t obj)
{
	return obj <= KV_MEM_SMALL_MAX ? KV_MEM_SMALL_CHUNK : KV_MEM_CHUNK;
}

/* big_locked() - an empty big chunk: a freed one, or the next of a region */
static uint8_t *big_locked(struct kv_mem *m)
{
	struct kv_mem_chunk *c = m->free_big;

	if (c) {
		m->free_big = c->next;
		return (uint8_t *)c;
	}
	if (m->next == m->end) {
		if (m->nregions == m->cap) {
			size_t cap = m->cap ? m->cap * 2 : 8;
			void **r = realloc(m->regions, cap * sizeof(*r));
			if (!r)
				return NULL;
			m->regions = r;
			m->cap = cap;
		}
		/* A chunk more than the region, to align the region's chunks. */
		void *p = mmap(NULL, KV_MEM_REGION + KV_MEM_CHUNK, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (p == MAP_FAILED)
			return NULL;
		m->regions[m->nregions++] = p;
		m->next = ((uintptr_t)p + KV_MEM_CHUNK - 1) & ~(KV_MEM_CHUNK - 1);
		m->end = m->next + KV_MEM_REGION;
		POISON(p, KV_MEM_REGION + KV_MEM_CHUNK);
	}
	uint8_t *b = (uint8_t *)m->next;
	m->next += KV_MEM_CHUNK;
	return b;
}

/* chunk_get() - an empty chunk of @csize bytes (small ones are cut from a big one) */
static struct kv_mem_chunk *chunk_get(struct kv_mem *m, size_t csize)
{
	struct kv_mem_chunk *c = NULL;

	pthread_mutex_lock(&m->lock);
	if (csize == KV_MEM_CHUNK) {
		c = (struct kv_mem_chunk *)big_locked(m);
	} else if (m->free_small) {
		c = m->free_small;
		m->free_small = c->next;
	} else {
		uint8_t *b = big_locked(m);
		if (b) {
			for (size_t off = KV_MEM_CHUNK - KV_MEM_SMALL_CHUNK; off; off -= KV_MEM_SMALL_CHUNK) {
				struct kv_mem_chunk *f = (struct kv_mem_chunk *)(b + off);
				UNPOISON(f, KV_MEM_HDR);
				f->next = m->free_small;
				m->free_small = f;
			}
			c = (struct kv_mem_chunk *)b;
		}
	}
	if (c)
		m->held += csize;
	pthread_mutex_unlock(&m->lock);
	if (c)
		UNPOISON(c, KV_MEM_HDR);
	return c;
}

/* chunk_put() - an emptied chunk back to the store, its pages to the kernel */
static void chunk_put(struct kv_mem *m, struct kv_mem_chunk *c, size_t csize)
{
	madvise((uint8_t *)c + 4096, csize - 4096, MADV_DONTNEED);
	POISON((uint8_t *)c + KV_MEM_HDR, csize - KV_MEM_HDR);
	pthread_mutex_lock(&m->lock);
	if (csize == KV_MEM_CHUNK) {
		c->next = m->free_big;
		m->free_big = c;
	} else {
		c->next = m->free_small;
		m->free_small = c;
	}
	m->held -= csize;
	pthread_mutex_unlock(&m->lock);
}

uint64_t kv_mem_held(struct kv_mem *m)
{
	pthread_mutex_lock(&m->lock);
	uint64_t n = m->held;
	pthread_mutex_unlock(&m->lock);
	return n;
}

static void room_add(struct kv_mem_arena *a, struct kv_mem_chunk *c)
{
	c->prev = NULL;
	c->next = a->room[c->cls];
	if (c->next)
		c->next->prev = c;
	a->room[c->cls] = c;
	c->listed = true;
}

static void room_del(struct kv_mem_arena *a, struct kv_mem_chunk *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		a->room[c->cls] = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->listed = false;
}

static bool chunk_full(const struct kv_mem_chunk *c)
{
	return !c->free && c->carved == c->cap;
}

void *kv_mem_alloc(struct kv_mem *m, unsigned arena, size_t n)
{
	if (!kv_mem_small(n)) {
		/* Values this large: malloc maps them; one call maps their pages. */
		void *p = malloc(n);
		if (p) {
			uintptr_t a = ((uintptr_t)p + 4095) & ~(uintptr_t)4095;
			uintptr_t e = ((uintptr_t)p + n) & ~(uintptr_t)4095;
			if (e > a)
				populate((void *)a, e - a);
		}
		return p;
	}
	unsigned cls = cls_of(n);
	size_t size = cls_size(cls), csize = chunk_size(size);
	struct kv_mem_arena *a = &m->arenas[arena % KV_MEM_NARENA];
	struct kv_mem_chunk *c;
	uint8_t *obj, *pop = NULL;
	size_t pop_n = 0;

	pthread_mutex_lock(&a->lock);
	c = a->room[cls];
	if (!c) {
		pthread_mutex_unlock(&a->lock);
		c = chunk_get(m, csize);
		if (!c)
			return NULL;
		memset(c, 0, sizeof(*c));
		c->cls = cls;
		c->arena = arena % KV_MEM_NARENA;
		c->size = (uint32_t)size;
		c->cap = (uint32_t)((csize - KV_MEM_HDR) / size);
		c->populated = 4096;     /* the header's page */
		pthread_mutex_lock(&a->lock);
		room_add(a, c);
	}
	if (c->free) {
		obj = c->free;
		UNPOISON(obj, sizeof(void *));
		c->free = *(void **)obj;
	} else {
		uint64_t off = KV_MEM_HDR + (uint64_t)c->carved++ * c->size;
		obj = (uint8_t *)c + off;
		if (off + c->size > c->populated) {
			uint64_t to = off + c->size;
			if (to < c->populated + KV_MEM_POPULATE)
				to = c->populated + KV_MEM_POPULATE;
			to = (to + 4095) & ~4095ul;
			if (to > csize)
				to = csize;
			pop = (uint8_t *)c + c->populated;
			pop_n = to - c->populated;
			c->populated = to;
		}
	}
	c->live++;
	if (chunk_full(c))
		room_del(a, c);
	pthread_mutex_unlock(&a->lock);
	/* Mapping the pages outside the lock: another caller of this chunk
	 * whose object lies in them faults them in, as it would anyway. */
	if (pop_n)
		populate(pop, pop_n);
	UNPOISON(obj, n);
	return obj;
}

void kv_mem_free(struct kv_mem *m, void *p, size_t n)
{
	if (!p)
		return;
	if (!kv_mem_small(n)) {
		free(p);
		return;
	}
	size_t csize = chunk_size(cls_size(cls_of(n)));
	struct kv_mem_chunk *c = (struct kv_mem_chunk *)((uintptr_t)p & ~(csize - 1));
	struct kv_mem_arena *a = &m->arenas[c->arena];
	bool release = false;

	POISON(p, n);
	pthread_mutex_lock(&a->lock);
	UNPOISON(p, sizeof(void *));
	*(void **)p = c->free;
	POISON(p, sizeof(void *));
	c->free = p;
	c->live--;
	if (!c->listed) {
		room_add(a, c);
	} else if (!c->live && (c->next || c->prev)) {
		/* Empty and not its class's last chunk with room: give it back
		 * (the last one stays, or a set/del cycle would map and unmap it). */
		room_del(a, c);
		release = true;
	}
	pthread_mutex_unlock(&a->lock);
	if (release)
		chunk_put(m, c, csize);
}
