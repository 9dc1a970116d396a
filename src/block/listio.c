/* SPDX-License-Identifier: Apache-2.0 */
/*
 * listio.c - cblk_listio(): issue a list of requests and/or poll and wait
 * for requests issued by earlier calls, in one call.
 *
 * Semantics (IBM's, where its documentation and code agree):
 * - issue list: each item's stat is reset to PENDING and the item issued as
 *   an async request; its tag goes into item->tag (or item->tag is the
 *   caller's with CBLK_IO_USER_TAG). A NULL buffer or an unknown
 *   request_type makes the item INVALID (EINVAL); an issue failure makes it
 *   FAIL with the errno. With CBLK_IO_USER_STATUS the library writes
 *   item->stat itself when the request completes (this needs the completion
 *   thread, like CBLK_ARW_USER_STATUS_FLAG). CBLK_LISTIO_WAIT_ISSUE_CMD
 *   waits for free commands; without it an item finding none fails with
 *   EWOULDBLOCK and the call returns -1/EWOULDBLOCK after doing the rest.
 * - pending list: items from earlier calls still PENDING are polled (never
 *   waited for); their stat is updated when complete.
 * - wait list: the call blocks until every PENDING item completes. A wait
 *   item may be the same object as an issue/pending item, or a copy: copies
 *   are matched by (buf, lba, nblocks) and, once issued, tag.
 * - completion list: issue/pending items that completed during the call and
 *   are not on the wait list are copied to *completion_io_list[i], up to
 *   *completion_items entries; *completion_items returns how many.
 * - timeout: in microseconds, for the wait list only; 0 waits without a
 *   limit (IBM's documented meaning). When it expires the call returns
 *   -1/ETIMEDOUT; wait items that did complete have their stat updated.
 * - Argument checks, as IBM's library makes them, fail the whole call with
 *   EINVAL before anything is issued: a NULL list with a non-zero count, a
 *   negative count, all of the issue, pending and wait lists empty, a NULL
 *   completion_items, fewer wait plus completion slots than issue plus
 *   pending items (wait_items + *completion_items < issue_items +
 *   pending_items), and an issue item that is NULL or has a NULL buffer.
 *   An issue item with an unknown request_type is still only marked
 *   INVALID.
 *
 * Requests issued here are async requests of the chunk like any other;
 * cblk_aresult with NEXT_TAG may reap them too (the item then stays
 * PENDING and a later poll of it fails with ENOMSG).
 */
#include "block/block_internal.h"

#include <errno.h>
#include <string.h>

struct lio_ctx {
	cblk_io_t **issue, **pending, **wait, **comp;
	int n_issue, n_pending, n_wait, n_avail, n_comp;
	bool harvested;
};

static bool valid_type(uint8_t t)
{
	return t == CBLK_IO_TYPE_READ || t == CBLK_IO_TYPE_WRITE || t == CBLK_IO_TYPE_UNMAP;
}

static enum blk_op type_op(uint8_t t)
{
	return t == CBLK_IO_TYPE_READ ? BLK_OP_READ : t == CBLK_IO_TYPE_WRITE ? BLK_OP_WRITE :
									       BLK_OP_UNMAP;
}

static bool same_request(const cblk_io_t *a, const cblk_io_t *b, bool with_tag)
{
	return a->buf == b->buf && a->lba == b->lba && a->nblocks == b->nblocks &&
	       (!with_tag || a->tag == b->tag);
}

static void set_stat(cblk_io_t *io, int rc)
{
	io->stat.blocks_transferred = rc > 0 ? (size_t)rc : 0;
	io->stat.fail_errno = rc < 0 ? -rc : 0;
	__atomic_store_n(&io->stat.status, rc > 0 ? CBLK_ARW_STATUS_SUCCESS : CBLK_ARW_STATUS_FAIL,
			 __ATOMIC_RELEASE);
}

static cblk_io_t *find_wait_twin(struct lio_ctx *l, const cblk_io_t *io, bool with_tag)
{
	for (int j = 0; j < l->n_wait; j++) {
		cblk_io_t *w = l->wait[j];

		if (w && (w == io || same_request(w, io, with_tag)))
			return w;
	}
	return NULL;
}

/*
 * finished() - an issue/pending item reached its final status: update its
 * wait-list twin, or else copy it to the completion list.
 */
static void finished(struct lio_ctx *l, cblk_io_t *io, bool with_tag)
{
	cblk_io_t *w = find_wait_twin(l, io, with_tag);

	if (w) {
		if (w != io) {
			w->tag = io->tag;
			w->stat.blocks_transferred = io->stat.blocks_transferred;
			w->stat.fail_errno = io->stat.fail_errno;
			__atomic_store_n(&w->stat.status, io->stat.status, __ATOMIC_RELEASE);
		}
		return;
	}
	if (l->comp && l->n_comp < l->n_avail && l->comp[l->n_comp]) {
		cblk_io_t *d = l->comp[l->n_comp++];

		if (d != io)
			*d = *io;
	}
}

static void do_issue(struct chunk *c, struct lio_ctx *l, int flags, bool *wouldblock)
{
	for (int i = 0; i < l->n_issue; i++) {
		cblk_io_t *io = l->issue[i];
		cblk_io_t *w;
		int aflags = 0, rc;

		io->stat.blocks_transferred = 0;
		io->stat.fail_errno = 0;
		io->stat.status = CBLK_ARW_STATUS_PENDING;
		if (!valid_type(io->request_type)) {
			io->stat.fail_errno = EINVAL;
			io->stat.status = CBLK_ARW_STATUS_INVALID;
			finished(l, io, false);
			continue;
		}
		if (io->flags & CBLK_IO_USER_TAG)
			aflags |= CBLK_ARW_USER_TAG_FLAG;
		if (io->flags & CBLK_IO_USER_STATUS)
			aflags |= CBLK_ARW_USER_STATUS_FLAG;
		if (flags & CBLK_LISTIO_WAIT_ISSUE_CMD)
			aflags |= CBLK_ARW_WAIT_CMD_FLAGS;
		rc = blk_async_issue_locked(c, type_op(io->request_type), io->buf, io->lba,
					    io->nblocks, &io->tag, &io->stat, aflags, false);
		if (rc < 0) {
			if (rc == -EWOULDBLOCK)
				*wouldblock = true;
			set_stat(io, rc);
			finished(l, io, false);
			continue;
		}
		/* In flight (or, with a status word, maybe done already). */
		w = find_wait_twin(l, io, false);
		if (w && w != io)
			w->tag = io->tag;
		if ((io->flags & CBLK_IO_USER_STATUS) &&
		    __atomic_load_n(&io->stat.status, __ATOMIC_ACQUIRE) != CBLK_ARW_STATUS_PENDING)
			finished(l, io, true);
	}
}

/* Poll one item (not waiting). Return: true when it is final now. */
static bool poll_item(struct chunk *c, struct lio_ctx *l, cblk_io_t *io)
{
	int aflags = 0, rc;

	if (__atomic_load_n(&io->stat.status, __ATOMIC_ACQUIRE) != CBLK_ARW_STATUS_PENDING)
		return true;
	if (!io->buf || !valid_type(io->request_type)) {
		io->stat.fail_errno = EINVAL;
		io->stat.status = CBLK_ARW_STATUS_INVALID;
		return true;
	}
	if (io->flags & CBLK_IO_USER_STATUS)
		return false;   /* the completion writes its status; never reaped */
	if (io->flags & CBLK_IO_USER_TAG)
		aflags |= CBLK_ARESULT_USER_TAG;
	if (l->harvested)
		aflags |= CBLK_ARESULT_NO_HARVEST;
	l->harvested = true;
	rc = blk_aresult_locked(c, &io->tag, aflags);
	if (rc == 0)
		return false;
	set_stat(io, rc);
	return true;
}

static void poll_pending(struct chunk *c, struct lio_ctx *l)
{
	for (int i = 0; i < l->n_pending; i++) {
		cblk_io_t *io = l->pending[i];

		if (!io || io->stat.status != CBLK_ARW_STATUS_PENDING)
			continue;
		if (poll_item(c, l, io))
			finished(l, io, true);
	}
}

/* A wait item that is a copy: take its twin's final status, if it has one. */
static bool twin_final(struct lio_ctx *l, cblk_io_t *w)
{
	cblk_io_t **lists[2] = { l->issue, l->pending };
	int counts[2] = { l->n_issue, l->n_pending };

	for (int k = 0; k < 2; k++) {
		for (int i = 0; i < counts[k]; i++) {
			cblk_io_t *io = lists[k][i];

			if (!io || io == w || !same_request(io, w, true))
				continue;
			if (__atomic_load_n(&io->stat.status, __ATOMIC_ACQUIRE) ==
			    CBLK_ARW_STATUS_PENDING)
				return false;
			w->stat.blocks_transferred = io->stat.blocks_transferred;
			w->stat.fail_errno = io->stat.fail_errno;
			w->stat.status = io->stat.status;
			return true;
		}
	}
	return false;
}

/* Update the issue/pending twins of a wait item that became final. */
static void wait_done(struct lio_ctx *l, cblk_io_t *w)
{
	cblk_io_t **lists[2] = { l->issue, l->pending };
	int counts[2] = { l->n_issue, l->n_pending };

	for (int k = 0; k < 2; k++) {
		for (int i = 0; i < counts[k]; i++) {
			cblk_io_t *io = lists[k][i];

			if (io && io != w && same_request(io, w, true))
				io->stat = w->stat;
		}
	}
}

/* Wait for the wait list. Return: 0, or -ETIMEDOUT. */
static int do_wait(struct chunk *c, struct lio_ctx *l, const struct timespec *deadline)
{
	for (;;) {
		bool all = true;

		for (int i = 0; i < l->n_wait; i++) {
			cblk_io_t *w = l->wait[i];

			if (!w || __atomic_load_n(&w->stat.status, __ATOMIC_ACQUIRE) !=
					  CBLK_ARW_STATUS_PENDING)
				continue;
			if (twin_final(l, w))
				continue;
			if (poll_item(c, l, w)) {
				wait_done(l, w);
				continue;
			}
			all = false;
		}
		if (all)
			return 0;
		if (deadline && blk_deadline_passed(deadline))
			return -ETIMEDOUT;
		blk_wait_locked(c, &c->cv_any, deadline);
		l->harvested = false;
	}
}

/*
 * args_ok() - the argument checks IBM's cblk_listio makes before it issues
 * anything (see the top of this file). Nothing is changed when they fail.
 */
static bool args_ok(const struct lio_ctx *l, const int *completion_items)
{
	if (l->n_issue < 0 || l->n_pending < 0 || l->n_wait < 0 || !completion_items ||
	    *completion_items < 0)
		return false;
	if ((l->n_issue && !l->issue) || (l->n_pending && !l->pending) ||
	    (l->n_wait && !l->wait) || (*completion_items && !l->comp))
		return false;
	if (l->n_issue == 0 && l->n_pending == 0 && l->n_wait == 0)
		return false;
	if ((int64_t)l->n_wait + *completion_items < (int64_t)l->n_issue + l->n_pending)
		return false;
	for (int i = 0; i < l->n_issue; i++)
		if (!l->issue[i] || !l->issue[i]->buf)
			return false;
	return true;
}

int cblk_listio(chunk_id_t chunk_id,
		cblk_io_t *issue_io_list[], int issue_items,
		cblk_io_t *pending_io_list[], int pending_items,
		cblk_io_t *wait_io_list[], int wait_items,
		cblk_io_t *completion_io_list[], int *completion_items,
		uint64_t timeout, int flags)
{
	struct lio_ctx l = {
		.issue = issue_io_list, .pending = pending_io_list, .wait = wait_io_list,
		.comp = completion_io_list, .n_issue = issue_items, .n_pending = pending_items,
		.n_wait = wait_items,
	};
	struct timespec deadline;
	bool wouldblock = false;
	struct chunk *c;
	int rc = 0;

	if (!args_ok(&l, completion_items) || (flags & CBLK_GROUP_MASK)) {
		errno = EINVAL;
		return -1;
	}
	l.n_avail = *completion_items;
	c = blk_chunk_get(chunk_id);
	if (!c) {
		errno = EINVAL;
		return -1;
	}
	if (timeout)
		blk_deadline_us(&deadline, timeout);
	pthread_mutex_lock(&c->lock);
	do_issue(c, &l, flags, &wouldblock);
	poll_pending(c, &l);
	if (l.n_wait)
		rc = do_wait(c, &l, timeout ? &deadline : NULL);
	pthread_mutex_unlock(&c->lock);
	blk_chunk_put(c);
	*completion_items = l.n_comp;
	if (rc)
		return blk_ret(rc);
	if (wouldblock) {
		errno = EWOULDBLOCK;
		return -1;
	}
	return 0;
}
