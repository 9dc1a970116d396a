/* SPDX-License-Identifier: Apache-2.0 */
/*
 * gc.c - the cleaner of a LUN store: it moves the live values out of
 * mostly dead segments to the head of the log, so those segments die
 * whole and are reused (after the next checkpoint on a durable store).
 *
 * It wakes when free segments run low (or a caller waits for space),
 * picks the non-head log segments with the fewest live bytes, finds the
 * index entries that point into them with one scan of the index, reads
 * each value and appends it again, unless the key changed meanwhile (the
 * entry's version tells). Moves are ordinary SET records, so recovery
 * needs nothing special; they may use the reserve that user sets may not.
 */
#include "kv/kv_internal.h"

#include <stdlib.h>
#include <string.h>

#define GC_MAX_VICTIMS 16

struct gc_item {
	uint8_t *key;
	uint32_t klen;
	uint64_t vlen;
	uint64_t ver;
	struct kv_loc loc;     /* a copy (pieces owned) */
};

static bool touches(struct ark_impl *s, const struct kv_loc *l, const uint64_t *victims,
		    unsigned nv)
{
	for (unsigned v = 0; v < nv; v++) {
		if (!l->npieces) {
			if (lba_seg(s, l->lba) == victims[v])
				return true;
			continue;
		}
		for (unsigned i = 0; i < l->npieces; i++)
			if (lba_seg(s, l->pieces[i].lba) == victims[v])
				return true;
	}
	return false;
}

/*
 * The emptiest non-head log segments under @limit live bytes, as many as
 * their live data fits in @budget blocks: moving it must not take the room
 * a checkpoint needs to free them.
 */
static unsigned pick_victims(struct ark_impl *s, uint64_t *victims, uint64_t limit,
			     uint64_t budget)
{
	unsigned nv = 0;

	pthread_mutex_lock(&s->log_lock);
	uint64_t written = s->written_lsn;
	pthread_mutex_unlock(&s->log_lock);
	pthread_mutex_lock(&s->seg_lock);
	for (uint64_t i = 0; i < s->nsegs; i++) {
		struct kv_seg *g = kv_seg(s, i);
		if (g->state != SEG_LOG || g->head || !g->live || g->live >= limit ||
		    g->last_lsn >= written)
			continue;
		if (nv < GC_MAX_VICTIMS) {
			victims[nv++] = i;
			continue;
		}
		unsigned worst = 0;
		for (unsigned v = 1; v < nv; v++)
			if (kv_seg(s, victims[v])->live > kv_seg(s, victims[worst])->live)
				worst = v;
		if (g->live < kv_seg(s, victims[worst])->live)
			victims[worst] = i;
	}
	/* Emptiest first, while the moves fit (with a block a value of slack). */
	for (unsigned a = 1; a < nv; a++)
		for (unsigned b = a; b > 0 && kv_seg(s, victims[b])->live < kv_seg(s, victims[b - 1])->live; b--) {
			uint64_t t = victims[b];
			victims[b] = victims[b - 1];
			victims[b - 1] = t;
		}
	uint64_t used = 0;
	unsigned fit = 0;
	for (; fit < nv; fit++) {
		uint64_t blocks = kv_seg(s, victims[fit])->live / KV_BLOCK * 2 + s->seg_blocks / 8;
		if (used + blocks > budget)
			break;
		used += blocks;
	}
	pthread_mutex_unlock(&s->seg_lock);
	return fit;
}

/* Collect copies of the entries that live in the victims. */
static int collect(struct ark_impl *s, const uint64_t *victims, unsigned nv,
		   struct gc_item **out, uint64_t *nout)
{
	struct gc_item *items = NULL;
	uint64_t n = 0, cap = 0;

	for (int i = 0; i < KV_NSHARDS; i++) {
		struct kv_shard *sh = &s->shards[i];
		pthread_mutex_lock(&sh->lock);
		for (uint64_t b = 0; b < sh->nbuckets; b++) {
			for (struct kv_ent *e = sh->buckets[b]; e; e = e->next) {
				if (!touches(s, &e->loc, victims, nv))
					continue;
				if (n == cap) {
					cap = cap ? cap * 2 : 256;
					struct gc_item *t = realloc(items, cap * sizeof(*t));
					if (!t)
						goto nomem;
					items = t;
				}
				struct gc_item *it = &items[n];
				memset(it, 0, sizeof(*it));
				it->key = malloc(e->klen);
				if (!it->key)
					goto nomem;
				memcpy(it->key, e->key, e->klen);
				it->klen = e->klen;
				it->vlen = e->vlen;
				it->ver = e->ver;
				it->loc = e->loc;
				if (e->loc.npieces) {
					it->loc.pieces = malloc(e->loc.npieces * sizeof(struct kv_piece));
					if (!it->loc.pieces) {
						free(it->key);
						goto nomem;
					}
					memcpy(it->loc.pieces, e->loc.pieces,
					       e->loc.npieces * sizeof(struct kv_piece));
				}
				kv_seg_readers(s, &it->loc, 1);
				n++;
			}
		}
		pthread_mutex_unlock(&sh->lock);
		continue;
nomem:
		pthread_mutex_unlock(&sh->lock);
		*out = items;
		*nout = n;
		return -ENOMEM;
	}
	*out = items;
	*nout = n;
	return 0;
}

/* One pass: returns the number of values moved, or -errno. */
static int64_t clean_pass(struct ark_impl *s)
{
	uint64_t victims[GC_MAX_VICTIMS];
	struct gc_item *items = NULL;
	uint64_t n = 0;
	int64_t moved = 0;

	/* Mostly dead segments first; nearly full ones only when space is short. */
	pthread_mutex_lock(&s->seg_lock);
	bool short_of_space = s->nfree < KV_RESERVE_SEGS * 2;
	pthread_mutex_unlock(&s->seg_lock);
	pthread_mutex_lock(&s->log_lock);
	uint64_t budget = kv_gc_budget_locked(s);
	pthread_mutex_unlock(&s->log_lock);
	unsigned nv = pick_victims(s, victims, kv_gc_limit(s, short_of_space), budget);
	if (!nv)
		return 0;
	int rc = collect(s, victims, nv, &items, &n);
	for (uint64_t i = 0; i < n; i++) {
		struct gc_item *it = &items[i];
		uint8_t *val = NULL;
		if (!rc && it->vlen) {
			val = malloc(it->vlen);
			if (!val)
				rc = -ENOMEM;
			else if (kv_read_value(s, it->key, it->klen, &it->loc, it->vlen, val))
				goto next;   /* damaged: it stays where it is (and says so) */
		}
		if (!rc) {
			uint64_t h = kv_hash(it->key, it->klen);
			struct kv_shard *sh = kv_shard_of(s, h);
			pthread_mutex_lock(&sh->lock);
			struct kv_ent *e = kv_find_locked(sh, h, it->key, it->klen);
			if (e && e->ver == it->ver &&
			    !kv_log_append_locked(s, KV_REC_SET, e, val, it->vlen, NULL, true))
				moved++;
			pthread_mutex_unlock(&sh->lock);
		}
next:
		free(val);
		kv_seg_readers(s, &it->loc, -1);
		kv_loc_free(&it->loc);
		free(it->key);
	}
	free(items);
	return rc ? rc : moved;
}

static void *cleaner_main(void *arg)
{
	struct ark_impl *s = arg;

	pthread_mutex_lock(&s->log_lock);
	for (;;) {
		while (!s->cleaner_stop && !s->clean_wanted)
			pthread_cond_wait(&s->cleaner_cv, &s->log_lock);
		if (s->cleaner_stop)
			break;
		s->clean_wanted = false;
		pthread_mutex_unlock(&s->log_lock);
		int64_t moved = clean_pass(s);
		pthread_mutex_lock(&s->log_lock);
		s->gc_passes++;
		if (moved > 0) {
			s->gc_moved += (uint64_t)moved;
			s->clean_wanted = true;   /* maybe more to do */
		}
		s->gc_progress = moved > 0;
		pthread_cond_broadcast(&s->log_cv);
		if (moved > 0 && s->durable) {
			/* The victims are free only after a checkpoint: have one, and
			 * wait for it before moving more (the moves took room). */
			uint64_t n = s->ckpts;
			s->ckpt_wanted = true;
			kv_writer_kick_locked(s);
			while (s->ckpts == n && !s->cleaner_stop && !s->writer_err)
				pthread_cond_wait(&s->log_cv, &s->log_lock);
		}
	}
	pthread_mutex_unlock(&s->log_lock);
	return NULL;
}

/*
 * cleaner_running is written under log_lock, where the writer thread reads
 * it (kv_cleaner_kick_locked): the writer runs before the cleaner starts
 * and after it stops. Only the thread that starts and stops the cleaner
 * reads it unlocked.
 */
int kv_cleaner_start(struct ark_impl *s)
{
	pthread_cond_init(&s->cleaner_cv, NULL);
	int rc = pthread_create(&s->cleaner, NULL, cleaner_main, s);
	if (rc)
		return -rc;
	pthread_mutex_lock(&s->log_lock);
	s->cleaner_running = true;
	pthread_mutex_unlock(&s->log_lock);
	return 0;
}

void kv_cleaner_stop(struct ark_impl *s)
{
	if (!s->cleaner_running)
		return;
	/* Not running from here on: the writer stops signalling cleaner_cv,
	 * which is destroyed below. */
	pthread_mutex_lock(&s->log_lock);
	s->cleaner_stop = true;
	s->cleaner_running = false;
	pthread_cond_broadcast(&s->cleaner_cv);
	pthread_mutex_unlock(&s->log_lock);
	pthread_join(s->cleaner, NULL);
	pthread_cond_destroy(&s->cleaner_cv);
}

/* Ask for a pass. log_lock held. */
void kv_cleaner_kick_locked(struct ark_impl *s)
{
	if (!s->cleaner_running || s->clean_wanted)
		return;
	s->clean_wanted = true;
	pthread_cond_signal(&s->cleaner_cv);
}
