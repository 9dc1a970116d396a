/* SPDX-License-Identifier: Apache-2.0 */
/*
 * scrub.c - freed chunks are scrubbed in the background (issue 12).
 *
 * A chunk whose last reference goes (a vLUN shrinks or is released) must
 * read back as zeroes before anyone else gets it: the next owner may be
 * another tenant. Scrubbing it in the request that freed it held the
 * master lock for a whole 256 MiB discard (everyone's control requests
 * waited) and, for a RAM LUN, burnt the CPU the AFU workers needed. Now
 * the chunk stays allocated in the LUN's allocator, owned by nobody, and
 * goes on a queue; one thread per master discards it in
 * SCRUB_SLICE_BLOCKS slices without any lock, yielding the CPU after each,
 * then takes the master lock only to free it. So:
 *   - a chunk is never handed out before its scrub ends (it is not free
 *     until then);
 *   - a grow that finds too few free chunks while some are waiting takes
 *     them and scrubs them itself (scrub_finish): no ENOSPC that a
 *     synchronous scrub would not have given;
 *   - a LUN going physical, to legacy (NBD) mode, or closing scrubs what is
 *     left first; a LUN whose last vLUN went keeps its allocator (mode
 *     NONE) until its queue is empty;
 *   - a restart cannot hand out a chunk a lost daemon did not scrub: a new
 *     allocator (the first virtual use of a LUN, after every start) begins
 *     with every chunk queued (scrub_all), so nothing a LUN held before is
 *     reused unscrubbed (a crashed daemon's vLUNs, physical data).
 * A failed scrub retires the chunk (kept allocated) as before.
 *
 * Locks: m->lock, then m->scrub_lock. The thread holds neither while it
 * discards; a slice in progress is waited for under scrub_lock only.
 */
#include "master/master.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "util/log.h"

/* 1 MiB per discard, as the AFU's slices (AFU_SLICE_BLOCKS): a RAM slice
 * (madvise of 256 pages) costs ~50 us, a file's a hole punch; the thread
 * never holds the CPU or the backend long, and still scrubs a chunk in a
 * few ms when the machine is idle. */
#define SCRUB_SLICE_BLOCKS 256u

struct mscrub {
	struct mscrub *next;
	struct mlun *lun;
	uint64_t chunk;
	uint64_t done;          /* blocks of the chunk discarded so far */
	int err;
};

/* Is @chunk past the end of a LUN that shrank (vlun_follow_capacity)? */
static bool past_end(const struct mlun *lun, uint64_t chunk)
{
	return ((chunk + 1) << MC_CHUNK_SHIFT) - 1 > lun->max_lba;
}

/* The allocator of a LUN with no user goes with its last waiting scrub. */
static void lun_scrubbed(struct mlun *lun)
{
	if (lun->mode == MODE_NONE && lun->scrub_pending == 0 && lun->ca_ready) {
		ca_destroy(&lun->ca);
		lun->ca_ready = false;
		lun->retired_chunks = 0;
	}
}

/* Free (or retire) a scrubbed chunk. Master lock held. */
static bool scrub_free(struct mscrub *s)
{
	struct mlun *lun = s->lun;
	bool ok = !s->err;

	lun->scrub_pending--;
	if (s->err) {
		/* Never hand out a chunk that may still hold data. */
		log_err("LUN %s: scrub of chunk %llu failed (%s); chunk retired", lun->name,
			(unsigned long long)s->chunk, strerror(-s->err));
		lun->retired_chunks++;
	} else if (past_end(lun, s->chunk)) {
		lun->retired_chunks++;  /* never handed out */
	} else if (ca_free(&lun->ca, s->chunk) != 1) {
		log_err("LUN %s: freeing scrubbed chunk %llu that is not held once", lun->name,
			(unsigned long long)s->chunk);
		ok = false;
	}
	free(s);
	lun_scrubbed(lun);
	return ok;
}

/*
 * Does all of @chunk read back as zeroes already (holes of a sparse file,
 * RAM never written, per the backend's block_status)? Then it needs no
 * discard: a LUN's first virtual use queues every chunk (scrub_all), and
 * 256 discards per chunk of a sparse 4 TiB file would take the scrub
 * thread minutes for nothing. Nobody uses a queued chunk, so what the
 * backend says stays true. A bounded look: false when unsure.
 */
static bool chunk_reads_zero(struct backend *be, uint64_t chunk)
{
	struct be_extent ext[16];
	uint64_t lba = chunk << MC_CHUNK_SHIFT, left = MC_CHUNK_SIZE;

	for (int calls = 0; left && calls < 8; calls++) {
		int n = be_block_status(be, lba, left, ext, 16);

		if (n <= 0)
			return false;
		for (int i = 0; i < n; i++) {
			if (!(ext[i].state & BE_STATE_ZERO) || ext[i].nblocks > left)
				return false;
			lba += ext[i].nblocks;
			left -= ext[i].nblocks;
		}
	}
	return left == 0;
}

/* Discard what is left of @s's chunk, here. */
static void scrub_rest(struct mscrub *s)
{
	if (!s->err && s->done == 0 && chunk_reads_zero(s->lun->be, s->chunk))
		s->done = MC_CHUNK_SIZE;
	if (!s->err && s->done < MC_CHUNK_SIZE)
		s->err = be_discard_sync(s->lun->be, (s->chunk << MC_CHUNK_SHIFT) + s->done,
					 (uint32_t)(MC_CHUNK_SIZE - s->done));
	s->done = MC_CHUNK_SIZE;
}

static void *scrub_main(void *arg)
{
	struct master *m = arg;
	struct mscrub *s;
	uint64_t n;
	bool zero;
	int rc;

	pthread_setname_np(pthread_self(), "scrub");
	pthread_mutex_lock(&m->scrub_lock);
	for (;;) {
		if (!m->scrub_busy && m->scrub_head && !m->scrub_steal) {
			m->scrub_busy = m->scrub_head;
			m->scrub_head = m->scrub_busy->next;
			if (!m->scrub_head)
				m->scrub_tail = &m->scrub_head;
			m->scrub_busy->next = NULL;
		}
		if (!m->scrub_busy) {
			if (m->scrub_exit)
				break;
			pthread_cond_wait(&m->scrub_cond, &m->scrub_lock);
			continue;
		}
		s = m->scrub_busy;
		pthread_mutex_unlock(&m->scrub_lock);
		zero = s->done == 0 && chunk_reads_zero(s->lun->be, s->chunk);
		n = MC_CHUNK_SIZE - s->done;
		if (!zero && n > SCRUB_SLICE_BLOCKS)
			n = SCRUB_SLICE_BLOCKS;
		rc = zero ? 0 : be_discard_sync(s->lun->be, (s->chunk << MC_CHUNK_SHIFT) + s->done,
						(uint32_t)n);
		/* Others first between slices. Not a low priority (nice 19,
		 * tried first): a starved thread keeps whoever waits for it
		 * waiting (a grow taking its chunk waits for its slice under the
		 * master lock; the kernel's memory-map locks while it is in
		 * madvise()); one run on a loaded machine stalled both tenants
		 * of tests/daemon/scrub for 15 s. */
		sched_yield();
		pthread_mutex_lock(&m->scrub_lock);
		s->done += n;
		if (rc) {
			s->err = rc;
			s->done = MC_CHUNK_SIZE;
		}
		if (s->done == MC_CHUNK_SIZE) {
			m->scrub_busy = NULL;
			s->next = m->scrub_done;
			m->scrub_done = s;
			pthread_cond_broadcast(&m->scrub_cond);
			pthread_mutex_unlock(&m->scrub_lock);
			pthread_mutex_lock(&m->lock);
			scrub_finish(m, NULL, 0);
			pthread_mutex_unlock(&m->lock);
			pthread_mutex_lock(&m->scrub_lock);
		} else if (m->scrub_steal == s->lun) {
			/* Its LUN wants it now: back to the head, for the taker. */
			m->scrub_busy = NULL;
			s->next = m->scrub_head;
			m->scrub_head = s;
			if (m->scrub_tail == &m->scrub_head)
				m->scrub_tail = &s->next;
			pthread_cond_broadcast(&m->scrub_cond);
		}
	}
	pthread_mutex_unlock(&m->scrub_lock);
	return NULL;
}

static bool scrub_start(struct master *m)
{
	int rc;

	if (m->scrub_started)
		return true;
	rc = pthread_create(&m->scrub_thread, NULL, scrub_main, m);
	if (rc) {
		log_warn("scrub thread: %s; freed chunks are scrubbed synchronously", strerror(rc));
		return false;
	}
	m->scrub_started = true;
	return true;
}

void scrub_chunk(struct master *m, struct mlun *lun, uint64_t chunk)
{
	struct mscrub *s = calloc(1, sizeof(*s));

	if (!s) {
		/* No memory for a queue entry: scrub and free in place. */
		struct mscrub one = { .lun = lun, .chunk = chunk };

		scrub_rest(&one);
		if (one.err) {
			log_err("LUN %s: scrub of chunk %llu failed (%s); chunk retired",
				lun->name, (unsigned long long)chunk, strerror(-one.err));
			lun->retired_chunks++;
		} else if (past_end(lun, chunk)) {
			lun->retired_chunks++;
		} else {
			ca_free(&lun->ca, chunk);
		}
		return;
	}
	s->lun = lun;
	s->chunk = chunk;
	lun->scrub_pending++;
	if (!scrub_start(m)) {
		scrub_rest(s);
		scrub_free(s);
		return;
	}
	pthread_mutex_lock(&m->scrub_lock);
	*m->scrub_tail = s;
	m->scrub_tail = &s->next;
	pthread_cond_broadcast(&m->scrub_cond);
	pthread_mutex_unlock(&m->scrub_lock);
}

void scrub_all(struct master *m, struct mlun *lun)
{
	for (uint64_t i = 0, n = lun->ca.nchunks; i < n; i++) {
		int64_t chunk = ca_alloc(&lun->ca);

		if (chunk < 0)
			break;
		scrub_chunk(m, lun, (uint64_t)chunk);
	}
}

/* With scrub_lock held: a slice of one of @lun's chunks in progress on
 * the thread is handed back (or finished) before this returns. */
static void wait_busy(struct master *m, struct mlun *lun)
{
	while (m->scrub_busy && m->scrub_busy->lun == lun) {
		m->scrub_steal = lun;
		pthread_cond_wait(&m->scrub_cond, &m->scrub_lock);
	}
	m->scrub_steal = NULL;
}

/* With scrub_lock held: move up to *@need of @lun's entries from @list to
 * *@mine. */
static void take_lun(struct mscrub **list, struct mlun *lun, struct mscrub **mine,
		     uint64_t *need)
{
	for (struct mscrub **pp = list, *s; *pp && *need;) {
		s = *pp;
		if (s->lun != lun) {
			pp = &s->next;
			continue;
		}
		*pp = s->next;
		s->next = *mine;
		*mine = s;
		(*need)--;
	}
}

uint64_t scrub_finish(struct master *m, struct mlun *lun, uint64_t want)
{
	struct mscrub *done, *mine = NULL, *s;
	uint64_t freed = 0, need = 0;

	pthread_mutex_lock(&m->scrub_lock);
	if (lun && lun->scrub_pending)
		wait_busy(m, lun);   /* a slice of one of its chunks in progress */
	done = m->scrub_done;
	m->scrub_done = NULL;
	pthread_mutex_unlock(&m->scrub_lock);
	for (; done; done = s) {
		s = done->next;
		if (done->lun == lun && scrub_free(done))
			freed++;
		else if (done->lun != lun)
			scrub_free(done);
	}
	if (!lun || !lun->scrub_pending)
		goto out;
	if (want == UINT64_MAX)
		need = UINT64_MAX;
	else if (lun->ca_ready && ca_free_count(&lun->ca) < want)
		need = want - ca_free_count(&lun->ca);
	if (!need)
		goto out;
	pthread_mutex_lock(&m->scrub_lock);
	for (;;) {
		take_lun(&m->scrub_head, lun, &mine, &need);
		/* The thread may have taken one of this LUN's chunks since the
		 * wait above (we let go of the lock between): have it back, or
		 * take it from the done list once it is finished (scrub_rest()
		 * then has nothing left to do). Without this a grow got one
		 * chunk fewer than were there (ENOMEM on a fresh LUN whose
		 * chunks all waited for their first scrub). */
		if (!need || !m->scrub_busy || m->scrub_busy->lun != lun)
			break;
		wait_busy(m, lun);
		take_lun(&m->scrub_done, lun, &mine, &need);
	}
	m->scrub_tail = &m->scrub_head;
	while (*m->scrub_tail)
		m->scrub_tail = &(*m->scrub_tail)->next;
	pthread_cond_broadcast(&m->scrub_cond);
	pthread_mutex_unlock(&m->scrub_lock);
	for (; mine; mine = s) {
		s = mine->next;
		scrub_rest(mine);
		if (scrub_free(mine))
			freed++;
	}
out:
	return freed;
}

void scrub_stop(struct master *m)
{
	if (!m->scrub_started)
		return;
	pthread_mutex_lock(&m->scrub_lock);
	m->scrub_exit = true;
	pthread_cond_broadcast(&m->scrub_cond);
	pthread_mutex_unlock(&m->scrub_lock);
	pthread_join(m->scrub_thread, NULL);
	m->scrub_started = false;
	/* Every LUN closed has finished its own; anything left is a bug. */
	if (m->scrub_head || m->scrub_done)
		log_err("scrub thread stopped with chunks still queued");
}
