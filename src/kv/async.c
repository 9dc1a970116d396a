/* SPDX-License-Identifier: Apache-2.0 */
/*
 * async.c - the *_async_cb calls: a queue of at most nqueue requests
 * (EAGAIN beyond) served by nthreads pool threads, which also run the
 * callbacks, as IBM's did. A set or del on a LUN store does not hold its
 * thread while the batch is written: the writer hands the finished
 * requests back to the pool, whose threads call their callbacks. Requests
 * that callbacks issue on a pool thread stay with that thread (up to
 * POOL_LOCAL_MAX) as its next batch, so chained requests keep running in
 * batches (a LUN store's gets then read together) instead of being split
 * between threads that race for the shared queue.
 */
#include "kv/kv_internal.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum kv_aop { AOP_SET, AOP_GET, AOP_DEL, AOP_EXISTS };

struct kv_areq {
	struct kv_waiter w;        /* first: the writer hands back &w */
	enum kv_aop op;
	uint64_t klen;
	const void *key;
	uint64_t vlen;
	const void *val;
	uint64_t vbuflen, voff;
	void *vbuf;
	struct kv_areq *next;
};

struct kv_async {
	pthread_mutex_t lock;
	pthread_cond_t cv;
	struct kv_areq *slots;
	struct kv_areq *free_list;
	struct kv_areq *q_head, **q_tail;     /* to execute */
	struct kv_waiter *done_head, **done_tail; /* to call back */
	uint64_t busy;                        /* slots taken */
	uint64_t qlen;                        /* requests queued, not yet taken */
	int idle;                             /* pool threads waiting for work */
	int blocked;                          /* pool threads in a long wait (kv_async_blocking) */
	int nthreads;
	int max_at_work;                      /* outside requests wake up to this many (CPUs) */
	pthread_t *threads;
	bool stop;
};

static __thread struct ark_impl *pool_of;   /* set on pool threads */

/* A pool thread's own next batch: requests its callbacks issued. */
struct pool_local {
	struct kv_areq *head, **tail;
	unsigned n;
};
static __thread struct pool_local *pool_local;

#define POOL_BATCH 64   /* requests a pool thread takes at once */
#define POOL_WAKE_QLEN 16 /* queued behind busy threads: wake another */
/* Requests a pool thread's callbacks keep for it; more go to the shared
 * queue (and, at POOL_WAKE_QLEN, to another thread): 32 chained gets on a
 * RAM LUN ran as two batches of 16, 340-383 K/s at 2.8-3.5 us CPU each,
 * against 288-314 K/s at 3.6-4.4 us with every request on the shared
 * queue (batches of 1 to 5) and 185-254 K/s with all 32 kept (one CPU). */
#define POOL_LOCAL_MAX 16

/*
 * Finished requests: their slots go back to the free list in one go, and
 * only then are their callbacks called (with copies of what they report),
 * so a caller that has seen every callback finds every slot free again.
 */
struct slot_batch {
	struct kv_areq *slot[POOL_BATCH];
	struct {
		void (*cb)(int, uint64_t, int64_t);
		int rc;
		uint64_t dt;
		int64_t res;
	} call[POOL_BATCH];
	unsigned n;
};

static void release(struct kv_async *a, struct slot_batch *b)
{
	if (!b->n)
		return;
	pthread_mutex_lock(&a->lock);
	for (unsigned i = 0; i < b->n; i++) {
		b->slot[i]->next = a->free_list;
		a->free_list = b->slot[i];
	}
	a->busy -= b->n;
	if (a->stop && !a->busy)
		pthread_cond_broadcast(&a->cv);   /* the pool may end */
	pthread_mutex_unlock(&a->lock);
	for (unsigned i = 0; i < b->n; i++)
		b->call[i].cb(b->call[i].rc, b->call[i].dt, b->call[i].res);
	b->n = 0;
}

/* Keep the request's callback and slot for release(). */
static void finish(struct kv_async *a, struct kv_waiter *w, struct slot_batch *b)
{
	b->slot[b->n] = (struct kv_areq *)w;
	b->call[b->n].cb = w->cb;
	b->call[b->n].rc = w->rc;
	b->call[b->n].dt = w->dt;
	b->call[b->n].res = w->res;
	if (++b->n == POOL_BATCH)
		release(a, b);
}

static void finish_list(struct kv_async *a, struct kv_waiter *list)
{
	struct slot_batch b;

	b.n = 0;
	for (struct kv_waiter *w = list, *n; w; w = n) {
		n = w->next;
		finish(a, w, &b);
	}
	release(a, &b);
}

void kv_async_complete(struct ark_impl *s, struct kv_waiter *list)
{
	struct kv_async *a = s->async;

	if (pool_of == s) {
		/* Already on a pool thread: call back here. */
		finish_list(a, list);
		return;
	}
	pthread_mutex_lock(&a->lock);
	for (struct kv_waiter *w = list, *n; w; w = n) {
		n = w->next;
		w->next = NULL;
		*a->done_tail = w;
		a->done_tail = &w->next;
	}
	if (a->idle)
		pthread_cond_signal(&a->cv);   /* one thread takes the whole list */
	pthread_mutex_unlock(&a->lock);
}

/* Run one set, del or exists; exists and failures call back at once (into @b). */
static void execute(struct ark_impl *s, struct kv_areq *r, struct slot_batch *b)
{
	struct kv_waiter *w = &r->w;
	int64_t res = -1;
	int rc;

	switch (r->op) {
	case AOP_SET:
		rc = kv_op_set(s, r->klen, r->key, r->vlen, r->val, &res, w);
		break;
	case AOP_DEL:
		rc = kv_op_del(s, r->klen, r->key, &res, w);
		break;
	default:
		rc = kv_op_exists(s, r->klen, r->key, &res);
		w->rc = rc;
		w->res = rc ? -1 : res;
		finish(s->async, w, b);
		return;
	}
	/* A set or del that failed before reaching the log completes now; one
	 * that reached it completes when its batch is written (or, on a memory
	 * store, already has, through kv_async_complete). */
	if (rc) {
		w->rc = rc;
		w->res = -1;
		finish(s->async, w, b);
	}
}

/* Run gets r[0..n) together: on a LUN store their reads are in flight at once. */
static void execute_gets(struct ark_impl *s, struct kv_areq **r, unsigned n, struct slot_batch *b)
{
	struct kv_get g[POOL_BATCH];

	for (unsigned i = 0; i < n; i++)
		g[i] = (struct kv_get){ .klen = r[i]->klen, .key = r[i]->key,
					.vbuflen = r[i]->vbuflen, .vbuf = r[i]->vbuf,
					.voff = r[i]->voff };
	kv_op_get_batch(s, g, n);
	for (unsigned i = 0; i < n; i++) {
		r[i]->w.rc = g[i].rc;
		r[i]->w.res = g[i].res;
		finish(s->async, &r[i]->w, b);
	}
}

/* Run a batch in order; runs of gets go to execute_gets() together. */
static void execute_batch(struct ark_impl *s, struct kv_areq **batch, unsigned n)
{
	struct slot_batch b;
	unsigned gets = 0;   /* batch[i - gets, i) are gets not yet run */

	b.n = 0;
	for (unsigned i = 0; i < n; i++) {
		if (batch[i]->op == AOP_GET) {
			gets++;
			continue;
		}
		if (gets)
			execute_gets(s, batch + i - gets, gets, &b);
		gets = 0;
		execute(s, batch[i], &b);
	}
	if (gets)
		execute_gets(s, batch + n - gets, gets, &b);
	release(s->async, &b);
}

static void *pool_main(void *arg)
{
	struct ark_impl *s = arg;
	struct kv_async *a = s->async;
	struct kv_areq *batch[POOL_BATCH];
	struct pool_local local = { .head = NULL, .tail = &local.head };

	pool_of = s;
	pool_local = &local;
	pthread_mutex_lock(&a->lock);
	for (;;) {
		if (a->done_head) {
			struct kv_waiter *list = a->done_head;
			a->done_head = NULL;
			a->done_tail = &a->done_head;
			pthread_mutex_unlock(&a->lock);
			finish_list(a, list);
			pthread_mutex_lock(&a->lock);
			continue;
		}
		if (local.head || a->q_head) {
			/* First what this thread's callbacks issued, whole (the
			 * shared queue would split it between the threads that
			 * race for it, in batches of one or two); with it one
			 * request of the shared queue, so that a thread whose
			 * callbacks keep it busy still serves the queue (the rest
			 * is for other threads); without it, the queue. */
			unsigned n = 0, max = local.head ? local.n + 1 : POOL_BATCH;
			for (struct kv_areq *r = local.head; r; r = r->next)
				batch[n++] = r;
			local.head = NULL;
			local.tail = &local.head;
			local.n = 0;
			while (a->q_head && n < max) {
				batch[n++] = a->q_head;
				a->q_head = a->q_head->next;
				a->qlen--;
			}
			if (!a->q_head)
				a->q_tail = &a->q_head;
			else if (a->idle && a->nthreads - a->idle - a->blocked < a->max_at_work)
				pthread_cond_signal(&a->cv);   /* more for another thread (submit()) */
			pthread_mutex_unlock(&a->lock);
			execute_batch(s, batch, n);
			pthread_mutex_lock(&a->lock);
			continue;
		}
		if (a->stop && !a->busy)
			break;
		a->idle++;
		pthread_cond_wait(&a->cv, &a->lock);
		a->idle--;
	}
	pthread_mutex_unlock(&a->lock);
	return NULL;
}

int kv_async_start(struct ark_impl *s, int nthreads, int nqueue)
{
	struct kv_async *a = calloc(1, sizeof(*a));

	if (!a)
		return -ENOMEM;
	if (nqueue <= 0)
		nqueue = ARK_MAX_NASYNCS;
	kv_lock_init(&a->lock);
	pthread_cond_init(&a->cv, NULL);
	a->slots = calloc((size_t)nqueue, sizeof(*a->slots));
	a->threads = calloc((size_t)nthreads, sizeof(*a->threads));
	if (!a->slots || !a->threads) {
		free(a->slots);
		free(a->threads);
		free(a);
		return -ENOMEM;
	}
	for (int i = nqueue - 1; i >= 0; i--) {
		a->slots[i].next = a->free_list;
		a->free_list = &a->slots[i];
	}
	a->q_tail = &a->q_head;
	a->done_tail = &a->done_head;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	a->max_at_work = cpus > 0 ? (int)cpus : 1;
	s->async = a;
	for (int i = 0; i < nthreads; i++) {
		int rc = pthread_create(&a->threads[i], NULL, pool_main, s);
		if (rc) {
			kv_async_stop(s);
			return -rc;
		}
		a->nthreads++;
	}
	return 0;
}

/* Stop the pool after every accepted request has called back. */
void kv_async_stop(struct ark_impl *s)
{
	struct kv_async *a = s->async;

	if (!a)
		return;
	pthread_mutex_lock(&a->lock);
	a->stop = true;
	pthread_cond_broadcast(&a->cv);
	pthread_mutex_unlock(&a->lock);
	for (int i = 0; i < a->nthreads; i++)
		pthread_join(a->threads[i], NULL);
	pthread_mutex_destroy(&a->lock);
	pthread_cond_destroy(&a->cv);
	free(a->slots);
	free(a->threads);
	free(a);
	s->async = NULL;
}

/*
 * kv_async_blocking() - the calling thread enters (@on) or leaves a wait
 * that may be long (room in the log, a batch being written). On a pool
 * thread, queued requests must not wait behind it: another thread is woken
 * for them.
 */
void kv_async_blocking(struct ark_impl *s, bool on)
{
	struct kv_async *a = s->async;

	if (pool_of != s || !a)
		return;
	pthread_mutex_lock(&a->lock);
	a->blocked += on ? 1 : -1;
	if (on && pool_local && pool_local->head) {
		/* This thread's own next batch goes to the others too. */
		*a->q_tail = pool_local->head;
		a->q_tail = pool_local->tail;
		a->qlen += pool_local->n;
		pool_local->head = NULL;
		pool_local->tail = &pool_local->head;
		pool_local->n = 0;
	}
	if (on && a->qlen && a->idle)
		pthread_cond_signal(&a->cv);
	pthread_mutex_unlock(&a->lock);
}

uint64_t kv_async_pending(struct ark_impl *s)
{
	struct kv_async *a = s->async;

	if (!a)
		return 0;
	pthread_mutex_lock(&a->lock);
	uint64_t n = a->busy;
	pthread_mutex_unlock(&a->lock);
	return n;
}

/* Queue a request; EAGAIN when all nqueue slots are taken. */
static int submit(struct ark_impl *s, enum kv_aop op, uint64_t klen, const void *key,
		  uint64_t vlen, const void *val, uint64_t vbuflen, void *vbuf, uint64_t voff,
		  void (*cb)(int, uint64_t, int64_t), uint64_t dt)
{
	struct kv_async *a = s->async;

	pthread_mutex_lock(&a->lock);
	struct kv_areq *r = a->free_list;
	if (!r || a->stop) {
		pthread_mutex_unlock(&a->lock);
		return EAGAIN;
	}
	a->free_list = r->next;
	a->busy++;
	memset(r, 0, sizeof(*r));
	r->op = op;
	r->klen = klen;
	r->key = key;
	r->vlen = vlen;
	r->val = val;
	r->vbuflen = vbuflen;
	r->vbuf = vbuf;
	r->voff = voff;
	r->w.cb = cb;
	r->w.dt = dt;
	if (pool_of == s && pool_local && pool_local->n < POOL_LOCAL_MAX) {
		/* Issued by a callback on a pool thread: that thread runs it
		 * with the others its callbacks issue, once they are done. */
		*pool_local->tail = r;
		pool_local->tail = &r->next;
		pool_local->n++;
		pthread_mutex_unlock(&a->lock);
		return 0;
	}
	*a->q_tail = r;
	a->q_tail = &r->next;
	/* A request from outside the pool wakes a thread when the queue was
	 * empty, up to as many at work as there are CPUs (threads at work take
	 * what queues behind them in batches). One a callback issues on a pool
	 * thread beyond the POOL_LOCAL_MAX that thread keeps is taken by it
	 * once its batch is done, unless another takes it first: another is
	 * woken only when the queue grows long, or none is at work (a thread
	 * in a long wait does not count), and never beyond as many at work as
	 * CPUs: a third thread on two CPUs took a request or two of the shared
	 * queue and then kept running it alone, a get per batch (an eighth of
	 * 32 chained gets), each read its own AFU run beside the others'. */
	a->qlen++;
	int at_work = a->nthreads - a->idle - a->blocked;
	if (a->idle && at_work < a->max_at_work &&
	    (pool_of == s ? !at_work || a->qlen == POOL_WAKE_QLEN : a->qlen == 1))
		pthread_cond_signal(&a->cv);
	pthread_mutex_unlock(&a->lock);
	return 0;
}

int kv_async_submit(struct ark_impl *s, int op, uint64_t klen, const void *key, uint64_t vlen,
		    const void *val, uint64_t vbuflen, void *vbuf, uint64_t voff,
		    void (*cb)(int, uint64_t, int64_t), uint64_t dt)
{
	return submit(s, (enum kv_aop)op, klen, key, vlen, val, vbuflen, vbuf, voff, cb, dt);
}
