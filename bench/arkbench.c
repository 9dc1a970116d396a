/* SPDX-License-Identifier: Apache-2.0 */
/*
 * arkbench.c - libarkdb (arkdb.h) under set / get / mixed / del phases at a
 * given key and value size, synchronous calls from --threads threads or
 * --async N requests in flight per thread through the *_async_cb calls.
 * The options, phases and output are kvbench.h's, shared with
 * kvpeer_rocksdb and kvpeer_lmdb; bench/run-bench-kv.sh runs the three.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arkdb.h>

#include "kvbench.h"
#include "util/mutex.h"

#define MAX_ARKS 64

struct arkb {
	ARK *arks[MAX_ARKS];
	unsigned n;
};

static ARK *ark_of(struct kvb *b, const void *key)
{
	struct arkb *a = b->priv;
	uint64_t h;

	memcpy(&h, key, sizeof(h));   /* keys are >= 8 bytes, the first 8 a hash */
	return a->arks[h % a->n];
}

static int arkb_open(struct kvb *b)
{
	static struct arkb a;
	const char *p = b->o.path;
	uint64_t flags = 0;

	if (p && (!*p || !strcmp(p, "memory") || !strcmp(p, "mem")))
		p = NULL;
	if (b->o.persist)
		flags |= ARK_KV_PERSIST_STORE;
	if (b->o.vlun)
		flags |= ARK_KV_VIRTUAL_LUN;
	b->priv = &a;
	for (a.n = 0; a.n < b->o.arks; a.n++) {
		ARK *ark = NULL;
		int rc;

		if (b->o.ark_threads)
			rc = ark_create_verbose((char *)p, &ark, ARK_VERBOSE_SIZE_DEF,
						ARK_VERBOSE_BSIZE_DEF, ARK_VERBOSE_HASH_DEF,
						(int)b->o.ark_threads, ARK_MAX_NASYNCS,
						ARK_MAX_BASYNCS, flags);
		else
			rc = ark_create((char *)p, &ark, flags);
		if (rc || !ark) {
			fprintf(stderr, "arkbench: ark_create %s (ark %u of %u): %s\n",
				p ? p : "(memory)", a.n + 1, b->o.arks, strerror(rc ? rc : EIO));
			while (a.n)
				ark_delete(a.arks[--a.n]);
			return rc ? rc : EIO;
		}
		a.arks[a.n] = ark;
	}
	return 0;
}

static int arkb_close(struct kvb *b)
{
	struct arkb *a = b->priv;
	int rc, first = 0;

	while (a->n) {
		rc = ark_delete(a->arks[--a->n]);
		if (rc) {
			fprintf(stderr, "arkbench: ark_delete: %s\n", strerror(rc));
			first = first ? first : rc;
		}
	}
	return first;
}

static int arkb_set(struct kvb *b, const void *key, uint64_t klen, const void *val, uint64_t vlen)
{
	int64_t res = -1;
	int rc;

	while ((rc = ark_set(ark_of(b, key), klen, (void *)key, vlen, (void *)val, &res)) == EAGAIN)
		sched_yield();
	if (!rc && res != (int64_t)vlen) {
		fprintf(stderr, "arkbench: ark_set returned res %" PRId64 ", not %" PRIu64 "\n", res,
			vlen);
		return EPROTO;
	}
	return rc;
}

static int arkb_get(struct kvb *b, const void *key, uint64_t klen, void *buf, uint64_t buflen,
		    uint64_t *vlen)
{
	int64_t res = -1;
	int rc;

	while ((rc = ark_get(ark_of(b, key), klen, (void *)key, buflen, buf, 0, &res)) == EAGAIN)
		sched_yield();
	*vlen = res < 0 ? 0 : (uint64_t)res;
	return rc;
}

static int arkb_del(struct kvb *b, const void *key, uint64_t klen)
{
	int64_t res = -1;
	int rc;

	while ((rc = ark_del(ark_of(b, key), klen, (void *)key, &res)) == EAGAIN)
		sched_yield();
	return rc;
}

static int arkb_ios(struct kvb *b, uint64_t *ops, uint64_t *ios)
{
	struct arkb *a = b->priv;

	*ops = *ios = 0;
	for (unsigned i = 0; i < a->n; i++) {
		uint64_t o = 0, io = 0;
		int rc = ark_stats(a->arks[i], &o, &io);

		if (rc)
			return rc;
		*ops += o;
		*ios += io;
	}
	return 0;
}

/* ---- asynchronous: --async N requests in flight per thread ---- */

struct aq;

struct chain;

struct aslot {
	struct aq *q;
	struct chain *c;
	struct aslot *next;
	enum kvb_op op;
	uint64_t k, t0, t1;
	int err;
	int64_t res;
	uint8_t *key, *val, *buf;
};

/* Completed requests, pushed by the library's callback threads. */
struct aq {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct aslot *done;
};

static void arkb_cb(int errcode, uint64_t dt, int64_t res)
{
	struct aslot *s = (struct aslot *)(uintptr_t)dt;
	struct aq *q = s->q;

	s->t1 = bench_now_ns();
	s->err = errcode;
	s->res = res;
	pthread_mutex_lock(&q->mu);
	s->next = q->done;
	q->done = s;
	pthread_cond_signal(&q->cv);
	pthread_mutex_unlock(&q->mu);
}

static void chain_cb(int errcode, uint64_t dt, int64_t res);

static int arkb_submit(struct kvb *b, struct aslot *s)
{
	ARK *ark = ark_of(b, s->key);
	uint64_t dt = (uint64_t)(uintptr_t)s;
	void (*cb)(int, uint64_t, int64_t) = b->o.chain ? chain_cb : arkb_cb;

	s->t0 = bench_now_ns();
	switch (s->op) {
	case KVB_SET:
		return ark_set_async_cb(ark, b->o.ksize, s->key, b->o.vsize, s->val, cb, dt);
	case KVB_GET:
		return ark_get_async_cb(ark, b->o.ksize, s->key, b->o.vsize, s->buf, 0, cb, dt);
	case KVB_DEL:
		return ark_del_async_cb(ark, b->o.ksize, s->key, cb, dt);
	}
	return EINVAL;
}

static void slots_free(struct aslot *slots, unsigned depth)
{
	for (unsigned i = 0; i < depth; i++) {
		free(slots[i].key);
		free(slots[i].val);
		free(slots[i].buf);
	}
	free(slots);
}

/* @depth request slots with their key, value and get buffers; NULL without memory. */
static struct aslot *slots_new(struct kvb *b, unsigned depth)
{
	struct aslot *slots = calloc(depth, sizeof(*slots));

	for (unsigned i = 0; slots && i < depth; i++) {
		slots[i].key = malloc(b->o.ksize);
		slots[i].val = malloc(b->o.vsize);
		slots[i].buf = malloc(b->o.vsize);
		if (!slots[i].key || !slots[i].val || !slots[i].buf) {
			slots_free(slots, depth);
			return NULL;
		}
	}
	return slots;
}

static int arkb_run_async(struct kvb *b, struct kvb_thread *t)
{
	unsigned depth = b->o.depth, inflight = 0;
	struct aq q = { .done = NULL };
	struct aslot *slots = slots_new(b, depth), *free_list = NULL, *pending = NULL;
	bool stop = false;
	int rc = 0;

	if (!slots)
		return ENOMEM;
	mutex_init_adaptive(&q.mu);
	pthread_cond_init(&q.cv, NULL);
	for (unsigned i = 0; i < depth; i++) {
		struct aslot *s = &slots[i];

		s->q = &q;
		s->next = free_list;
		free_list = s;
	}
	for (;;) {
		struct aslot *done;

		/* fill the window */
		while (!stop && inflight < depth) {
			struct aslot *s = pending;
			int src;

			if (!s) {
				enum kvb_op op;
				uint64_t k;

				if (!kvb_next(t, &op, &k, bench_now_ns())) {
					stop = true;
					break;
				}
				s = free_list;
				free_list = s->next;
				s->op = op;
				s->k = k;
				kvb_key(b, k, s->key);
				if (op == KVB_SET)
					kvb_value(b, k, s->val);
			}
			src = arkb_submit(b, s);
			if (src == EAGAIN) {     /* the ark's queue is full: retry later */
				pending = s;
				break;
			}
			pending = NULL;
			if (src) {
				fprintf(stderr, "arkbench: async submit: %s\n", strerror(src));
				rc = src;
				stop = true;
				s->next = free_list;
				free_list = s;
				break;
			}
			inflight++;
		}
		if (!inflight) {
			if (pending && !stop) {
				sched_yield();
				continue;
			}
			if (stop || !pending)
				break;
		}
		/* harvest */
		pthread_mutex_lock(&q.mu);
		while (!q.done)
			pthread_cond_wait(&q.cv, &q.mu);
		done = q.done;
		q.done = NULL;
		pthread_mutex_unlock(&q.mu);
		while (done) {
			struct aslot *s = done;
			int err = s->err;

			done = s->next;
			inflight--;
			if (!err && s->op == KVB_SET && s->res != (int64_t)b->o.vsize) {
				fprintf(stderr, "arkbench: ark_set_async_cb res %" PRId64 ", not %" PRIu64
					"\n", s->res, b->o.vsize);
				err = EPROTO;
			}
			if (!rc && kvb_done(t, s->op, s->k, err, s->buf,
					    s->res < 0 ? 0 : (uint64_t)s->res, s->t1 - s->t0)) {
				rc = t->rc;
				stop = true;
			}
			s->next = free_list;
			free_list = s;
		}
		if (stop && pending) {   /* claimed but never accepted: it counts as not done */
			pending->next = free_list;
			free_list = pending;
			pending = NULL;
			if (!rc)
				rc = EAGAIN;
			fprintf(stderr, "arkbench: a request stayed refused with EAGAIN\n");
		}
	}
	slots_free(slots, depth);
	pthread_mutex_destroy(&q.mu);
	pthread_cond_destroy(&q.cv);
	return rc;
}

/* ---- asynchronous, chained (--chain): each callback issues its slot's next
 * request, as an event-driven program continues its work in the callback;
 * the runner thread only starts the slots and waits for them to end. ---- */

/* One callback thread's accounting for a chained run: the callbacks of
 * the store's pool threads count and draw their next operations without a
 * lock between them, as the peers' threads do (one shared lock made them
 * take turns at every callback). Merged into the run's thread at its end. */
struct chain_shard {
	struct kvb_thread t;
	struct chain_shard *next;
};

struct chain {
	struct kvb *b;
	struct kvb_thread *t;   /* the runner's: the slots' first operations, the merged counts */
	unsigned gen;           /* tells this run's shards from a earlier run's */
	pthread_mutex_t mu;     /* the fields below */
	pthread_cond_t cv;
	struct chain_shard *shards;
	unsigned live;          /* slots not yet ended (atomic) */
	struct aslot *retry;    /* refused with EAGAIN: the runner issues them again */
	bool stop;              /* (atomic) */
	int rc;
};

static unsigned chain_gen;                 /* runs so far (atomic) */
static __thread struct chain_shard *my_shard;
static __thread unsigned my_gen;

/* The calling callback thread's accounting in run @c, made on its first callback. */
static struct kvb_thread *chain_shard_of(struct chain *c)
{
	struct chain_shard *sh;

	if (my_shard && my_gen == c->gen)
		return &my_shard->t;
	sh = calloc(1, sizeof(*sh));
	if (!sh)
		return NULL;
	sh->t.b = c->b;
	sh->t.id = c->t->id;
	pthread_mutex_lock(&c->mu);
	sh->t.rng = c->t->rng ^ (0x9e3779b97f4a7c15ull * (uint64_t)(uintptr_t)sh);
	if (!sh->t.rng)
		sh->t.rng = 1;
	sh->next = c->shards;
	c->shards = sh;
	pthread_mutex_unlock(&c->mu);
	my_shard = sh;
	my_gen = c->gen;
	return &sh->t;
}

/* A slot ended (once a phase per slot, so the lock costs nothing): the last
 * one wakes the runner, under the lock, so the runner cannot return and
 * take the chain off its stack before this thread is done with it. */
static void chain_slot_ended(struct chain *c)
{
	pthread_mutex_lock(&c->mu);
	if (__atomic_sub_fetch(&c->live, 1, __ATOMIC_ACQ_REL) == 0)
		pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

/* Claim the slot's next operation from @t's draw; false (the slot ended) when the phase is over. */
static bool chain_next(struct chain *c, struct kvb_thread *t, struct aslot *s)
{
	enum kvb_op op;
	uint64_t k;

	if (__atomic_load_n(&c->stop, __ATOMIC_ACQUIRE) || !kvb_next(t, &op, &k, bench_now_ns()))
		return false;
	s->op = op;
	s->k = k;
	return true;
}

static void chain_fail(struct chain *c, int rc)
{
	pthread_mutex_lock(&c->mu);
	if (!c->rc)
		c->rc = rc;
	pthread_mutex_unlock(&c->mu);
	__atomic_store_n(&c->stop, true, __ATOMIC_RELEASE);
}

/* Issue the slot's claimed operation. */
static void chain_issue(struct chain *c, struct aslot *s)
{
	int rc;

	kvb_key(c->b, s->k, s->key);
	if (s->op == KVB_SET)
		kvb_value(c->b, s->k, s->val);
	rc = arkb_submit(c->b, s);
	if (!rc)
		return;
	if (rc == EAGAIN) {       /* the ark's queue is full: the runner retries */
		pthread_mutex_lock(&c->mu);
		s->next = c->retry;
		c->retry = s;
		pthread_cond_signal(&c->cv);
		pthread_mutex_unlock(&c->mu);
		return;
	}
	fprintf(stderr, "arkbench: async submit: %s\n", strerror(rc));
	chain_fail(c, rc);
	chain_slot_ended(c);
}

static void chain_cb(int errcode, uint64_t dt, int64_t res)
{
	struct aslot *s = (struct aslot *)(uintptr_t)dt;
	struct chain *c = s->c;
	uint64_t t1 = bench_now_ns();
	struct kvb_thread *t = chain_shard_of(c);

	if (!errcode && s->op == KVB_SET && res != (int64_t)c->b->o.vsize) {
		fprintf(stderr, "arkbench: ark_set_async_cb res %" PRId64 ", not %" PRIu64 "\n", res,
			c->b->o.vsize);
		errcode = EPROTO;
	}
	if (!t) {
		chain_fail(c, ENOMEM);
		chain_slot_ended(c);
		return;
	}
	errcode = kvb_verify(c->b, s->op, s->k, errcode, s->buf, res < 0 ? 0 : (uint64_t)res);
	if (kvb_count(t, s->op, errcode, t1 - s->t0))
		chain_fail(c, t->rc);
	if (chain_next(c, t, s))
		chain_issue(c, s);
	else
		chain_slot_ended(c);
}

/* Fold the callback threads' counts into the run's thread. */
static void chain_merge(struct chain *c)
{
	struct kvb_thread *t = c->t;

	while (c->shards) {
		struct chain_shard *sh = c->shards;

		for (unsigned i = 0; i < HIST_BUCKETS; i++)
			t->hist.n[i] += sh->t.hist.n[i];
		t->hist.count += sh->t.hist.count;
		t->ops += sh->t.ops;
		t->sets += sh->t.sets;
		t->gets += sh->t.gets;
		t->dels += sh->t.dels;
		if (sh->t.rc && !t->rc)
			t->rc = sh->t.rc;
		c->shards = sh->next;
		free(sh);
	}
}

static int arkb_run_chain(struct kvb *b, struct kvb_thread *t)
{
	unsigned depth = b->o.depth;
	struct aslot *slots = slots_new(b, depth);
	struct chain c = { .b = b, .t = t };

	if (!slots)
		return ENOMEM;
	c.gen = __atomic_add_fetch(&chain_gen, 1, __ATOMIC_RELAXED);
	for (unsigned i = 0; i < depth; i++)
		slots[i].c = &c;
	/* Taken by callbacks on the store's pool threads: a plain mutex put
	 * the loser of a race to sleep (a tenth of their CPU in futex calls). */
	mutex_init_adaptive(&c.mu);
	pthread_cond_init(&c.cv, NULL);
	c.live = depth;
	for (unsigned i = 0; i < depth; i++) {
		if (!chain_next(&c, t, &slots[i])) {
			chain_slot_ended(&c);
			continue;
		}
		chain_issue(&c, &slots[i]);
	}
	pthread_mutex_lock(&c.mu);
	while (__atomic_load_n(&c.live, __ATOMIC_ACQUIRE)) {
		struct aslot *s = c.retry;

		if (!s) {
			pthread_cond_wait(&c.cv, &c.mu);
			continue;
		}
		c.retry = s->next;
		pthread_mutex_unlock(&c.mu);
		sched_yield();
		chain_issue(&c, s);
		pthread_mutex_lock(&c.mu);
	}
	pthread_mutex_unlock(&c.mu);
	chain_merge(&c);
	slots_free(slots, depth);
	pthread_mutex_destroy(&c.mu);
	pthread_cond_destroy(&c.cv);
	return c.rc ? c.rc : t->rc;
}

static int arkb_run(struct kvb *b, struct kvb_thread *t)
{
	return b->o.chain ? arkb_run_chain(b, t) : arkb_run_async(b, t);
}

static const struct kv_engine ark_engine = {
	.name = "ark",
	.prog = "arkbench",
	.path_help = "the store: memory (default), ram:SIZE, file:/p?size=4G, a LUN",
	.extra_help = "  -a, --arks N        N arks on the path, keys spread by hash (default 1)\n"
		      "      --vlun          ARK_KV_VIRTUAL_LUN (each ark in a vLUN)\n"
		      "      --ark-threads N ark_create_verbose with N library threads\n"
		      "                      (default: ark_create's)\n"
		      "      --chain         with --async N: each callback issues its slot's next\n"
		      "                      request (event-driven use); without it the thread\n"
		      "                      that issued the requests collects their completions\n"
		      "\nios= and io_s= are ark_stats' block I/Os during the phase.\n",
	.has_async = true,
	.open = arkb_open,
	.set = arkb_set,
	.get = arkb_get,
	.del = arkb_del,
	.close = arkb_close,
	.ios = arkb_ios,
	.run_async = arkb_run,
};

int main(int argc, char **argv)
{
	return kvb_main(&ark_engine, argc, argv);
}
