/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nbd_blklock.c - the server's table of 4 KiB blocks under a
 * read-modify-write: a sub-block write holds the first and last block of
 * its range from before it reads them until its write of the patched
 * blocks completes, so two partial writes to one block (from one
 * connection or two) never both read the old contents and lose one patch.
 *
 * Taking is all or nothing and never waits: a request that cannot have its
 * blocks is parked by its connection and tried again later (nbd_transmit.c).
 * A connection thread therefore never sleeps on a lock held by a request
 * whose completion only another thread's engine can reap, and a holder of
 * one block never waits for a second one (no deadlock, whatever the order).
 * The one mutex guards a small hash of held blocks; it is held for a few
 * comparisons, never across I/O.
 */
#include <errno.h>
#include <stdlib.h>

#include "nbd/nbd_internal.h"

struct nbd_blk {
	struct nbd_blk *next;
	const void *be;
	uint64_t blk;
};

static unsigned bucket(const void *be, uint64_t blk)
{
	uint64_t h = blk * 0x9e3779b97f4a7c15ull ^ (uint64_t)(uintptr_t)be;

	return (unsigned)((h ^ (h >> 29)) % NBD_BLKLOCK_BUCKETS);
}

static bool held_locked(struct nbd_server *srv, const void *be, uint64_t blk)
{
	for (struct nbd_blk *b = srv->blk_hash[bucket(be, blk)]; b; b = b->next)
		if (b->be == be && b->blk == blk)
			return true;
	return false;
}

static void put_locked(struct nbd_server *srv, struct nbd_blk *b, const void *be, uint64_t blk)
{
	unsigned i = bucket(be, blk);

	b->be = be;
	b->blk = blk;
	b->next = srv->blk_hash[i];
	srv->blk_hash[i] = b;
}

static void drop_locked(struct nbd_server *srv, const void *be, uint64_t blk)
{
	for (struct nbd_blk **p = &srv->blk_hash[bucket(be, blk)]; *p; p = &(*p)->next) {
		if ((*p)->be == be && (*p)->blk == blk) {
			struct nbd_blk *b = *p;

			*p = b->next;
			free(b);
			return;
		}
	}
}

int nbd_blk_trylock(struct nbd_server *srv, const void *be, uint64_t a, uint64_t b)
{
	struct nbd_blk *na = malloc(sizeof(*na)), *nb = a != b ? malloc(sizeof(*nb)) : NULL;
	int rc = 0;

	if (!na || (a != b && !nb)) {
		free(na);
		free(nb);
		return -ENOMEM;
	}
	pthread_mutex_lock(&srv->blk_lock);
	if (held_locked(srv, be, a) || (a != b && held_locked(srv, be, b))) {
		rc = -EBUSY;
	} else {
		put_locked(srv, na, be, a);
		if (nb)
			put_locked(srv, nb, be, b);
		na = nb = NULL;
	}
	pthread_mutex_unlock(&srv->blk_lock);
	free(na);
	free(nb);
	return rc;
}

void nbd_blk_unlock(struct nbd_server *srv, const void *be, uint64_t a, uint64_t b)
{
	pthread_mutex_lock(&srv->blk_lock);
	drop_locked(srv, be, a);
	if (b != a)
		drop_locked(srv, be, b);
	pthread_mutex_unlock(&srv->blk_lock);
}
