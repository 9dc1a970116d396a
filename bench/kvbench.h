/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kvbench.h - what arkbench (libarkdb) and its peers kvpeer_rocksdb and
 * kvpeer_lmdb share, so the three measure the same thing and print the
 * same lines: the options, the keys and values, the phases, the threads
 * running synchronous operations, and the result line and JSON.
 *
 * A program defines a struct kv_engine (open, set, get, del, close; all
 * return 0 or an errno value) and calls kvb_main(). arkbench adds its
 * asynchronous runner through kv_engine.run_async.
 *
 * Keys: key j is 8 bytes of a bijective mix of j followed by j again, cut
 * or padded to --ksize bytes (>= 8), so every key is distinct. Values: 8
 * bytes naming the key, then --vsize - 8 bytes of a fixed random pattern
 * starting at an offset that depends on the key; every get is compared
 * with the value its key must have.
 *
 * Live keys: the set phase writes the keys of a shuffled permutation in
 * order, the del phase deletes them in the same order, so the live keys
 * are always the permutation's window [lo, hi); get and mix phases pick
 * uniformly among them.
 */
#ifndef CXLFLASH_KVBENCH_H
#define CXLFLASH_KVBENCH_H

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"

#define KVB_MAX_PHASES  16
#define KVB_MAX_THREADS 1024
#define KVB_PATTERN_SLOTS 4093u   /* value offsets into the pattern (a prime) */

enum kvb_op { KVB_SET, KVB_GET, KVB_DEL };

struct kvb_phase {
	char name[16];          /* set, get, del, mix50 */
	enum kvb_op kind;       /* KVB_SET, KVB_GET, KVB_DEL, or KVB_GET with read_pct < 100: mix */
	unsigned read_pct;      /* mix: percentage of gets; get 100, set/del 0 */
};

struct kvb_opts {
	const char *path;       /* NULL: the engine's default (ours: memory) */
	const char *label;
	const char *json;
	uint64_t ksize, vsize, keys, ops, seed, map_size;
	double secs;
	unsigned threads, depth, arks, ark_threads;
	bool persist, vlun, keep;
	bool chain;             /* arkbench --chain: callbacks issue the next requests */
	struct kvb_phase phases[KVB_MAX_PHASES];
	int nphases;
};

struct kvb;
struct kvb_thread;

struct kv_engine {
	const char *name;       /* ark, rocksdb, lmdb */
	const char *prog;       /* arkbench, kvpeer_rocksdb, ... */
	const char *path_help;  /* what --path means for this engine */
	const char *extra_help; /* engine-specific notes for --help, or NULL */
	bool has_async;         /* --async N accepted */
	int (*open)(struct kvb *b);
	int (*set)(struct kvb *b, const void *key, uint64_t klen, const void *val, uint64_t vlen);
	/* copies at most @buflen bytes of the value into @buf, *@vlen = its length */
	int (*get)(struct kvb *b, const void *key, uint64_t klen, void *buf, uint64_t buflen,
		   uint64_t *vlen);
	int (*del)(struct kvb *b, const void *key, uint64_t klen);
	int (*close)(struct kvb *b);
	/* optional: block I/Os done so far (ark_stats) */
	int (*ios)(struct kvb *b, uint64_t *ops, uint64_t *ios);
	/* optional: one thread's share of a phase with --async depth requests in flight */
	int (*run_async)(struct kvb *b, struct kvb_thread *t);
};

/* One phase in progress: what every thread reads and claims. */
struct kvb_run {
	const struct kvb_phase *ph;
	uint64_t lo, hi;        /* live keys: perm[j % keys] for lo <= j < hi (before the phase) */
	uint64_t limit;         /* operations in this phase */
	uint64_t end_ns;        /* 0: no time limit */
	_Atomic uint64_t next;  /* set/del: the next sequence number claimed */
	_Atomic uint64_t claimed; /* get/mix: operations claimed */
	_Atomic int failed;
};

struct kvb_thread {
	struct kvb *b;
	unsigned id;
	pthread_t pth;
	uint64_t rng;
	uint8_t *key, *val, *buf; /* ksize, vsize and vsize bytes */
	struct hist hist;
	uint64_t ops, sets, gets, dels;
	int rc;
};

struct kvb {
	const struct kv_engine *e;
	struct kvb_opts o;
	uint32_t *perm;         /* a shuffled permutation of the key numbers */
	uint8_t *pattern;       /* vsize + 8 * KVB_PATTERN_SLOTS bytes */
	uint64_t lo, hi;        /* the live window between phases */
	struct kvb_run run;
	struct kvb_thread *th;
	void *priv;             /* the engine's */
};

/* ---- keys and values ---- */

static inline uint64_t kvb_mix(uint64_t x)     /* splitmix64's finalizer: a bijection */
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return x;
}

static inline void kvb_key(const struct kvb *b, uint64_t k, uint8_t *out)
{
	uint64_t w[2] = { kvb_mix(k ^ b->o.seed), k };
	uint64_t n = b->o.ksize < 16 ? b->o.ksize : 16;

	memcpy(out, w, n);
	if (b->o.ksize > 16)
		memset(out + 16, 'k', b->o.ksize - 16);
}

static inline const uint8_t *kvb_pattern_at(const struct kvb *b, uint64_t k)
{
	return b->pattern + 8 * (kvb_mix(k) % KVB_PATTERN_SLOTS);
}

/* The value of key @k into @out (vsize bytes). */
static inline void kvb_value(const struct kvb *b, uint64_t k, uint8_t *out)
{
	uint64_t tag = k ^ 0x5641ull << 48;
	uint64_t n = b->o.vsize < 8 ? b->o.vsize : 8;

	memcpy(out, &tag, n);
	if (b->o.vsize > 8)
		memcpy(out + 8, kvb_pattern_at(b, k), b->o.vsize - 8);
}

/* 0 if @got (@len bytes) is key @k's value, else EILSEQ (and says so). */
static inline int kvb_check(const struct kvb *b, uint64_t k, const uint8_t *got, uint64_t len)
{
	uint64_t tag = k ^ 0x5641ull << 48;
	uint64_t n = b->o.vsize < 8 ? b->o.vsize : 8;

	if (len != b->o.vsize) {
		fprintf(stderr, "%s: key %" PRIu64 ": value of %" PRIu64 " bytes, set %" PRIu64 "\n",
			b->e->prog, k, len, b->o.vsize);
		return EILSEQ;
	}
	if (memcmp(got, &tag, n) ||
	    (b->o.vsize > 8 && memcmp(got + 8, kvb_pattern_at(b, k), b->o.vsize - 8))) {
		fprintf(stderr, "%s: key %" PRIu64 ": value read back differs from the one set\n",
			b->e->prog, k);
		return EILSEQ;
	}
	return 0;
}

/* ---- choosing operations ---- */

/*
 * The next operation of thread @t in the current phase: its kind and key
 * number. Returns false when the phase is over (count or time).
 */
static inline bool kvb_next(struct kvb_thread *t, enum kvb_op *op, uint64_t *k, uint64_t now)
{
	struct kvb *b = t->b;
	struct kvb_run *r = &b->run;
	uint64_t j, live = r->hi - r->lo;

	if (atomic_load_explicit(&r->failed, memory_order_relaxed))
		return false;
	if (r->end_ns && now >= r->end_ns)
		return false;
	switch (r->ph->kind) {
	case KVB_SET:
	case KVB_DEL:
		j = atomic_fetch_add_explicit(&r->next, 1, memory_order_relaxed);
		if (j >= r->limit)
			return false;
		*op = r->ph->kind;
		*k = b->perm[(r->ph->kind == KVB_SET ? r->hi + j : r->lo + j) % b->o.keys];
		return true;
	case KVB_GET:
		if (atomic_fetch_add_explicit(&r->claimed, 1, memory_order_relaxed) >= r->limit)
			return false;
		*op = r->ph->read_pct >= 100 || bench_rand(&t->rng) % 100 < r->ph->read_pct ? KVB_GET
											   : KVB_SET;
		*k = b->perm[(r->lo + bench_rand(&t->rng) % live) % b->o.keys];
		return true;
	}
	return false;
}

/* @rc from the engine for one finished operation, or, for a get that
 * succeeded, whether @got (@len bytes) is key @k's value; says what failed.
 * Reads only @b: callers may run it outside their accounting lock. */
static inline int kvb_verify(const struct kvb *b, enum kvb_op op, uint64_t k, int rc,
			     const uint8_t *got, uint64_t len)
{
	static const char *names[] = { "set", "get", "del" };

	if (!rc && op == KVB_GET)
		rc = kvb_check(b, k, got, len);
	else if (rc)
		fprintf(stderr, "%s: %s of key %" PRIu64 ": %s\n", b->e->prog, names[op], k,
			strerror(rc));
	return rc;
}

/* Account one finished operation whose kvb_verify() said @rc. */
static inline int kvb_count(struct kvb_thread *t, enum kvb_op op, int rc, uint64_t ns)
{
	if (rc) {
		t->rc = rc;
		atomic_store(&t->b->run.failed, 1);
		return rc;
	}
	hist_add(&t->hist, ns);
	t->ops++;
	if (op == KVB_SET)
		t->sets++;
	else if (op == KVB_GET)
		t->gets++;
	else
		t->dels++;
	return 0;
}

/* Account one finished operation (@rc from the engine, @len the value length of a get). */
static inline int kvb_done(struct kvb_thread *t, enum kvb_op op, uint64_t k, int rc,
			   const uint8_t *got, uint64_t len, uint64_t ns)
{
	return kvb_count(t, op, kvb_verify(t->b, op, k, rc, got, len), ns);
}

/* ---- the synchronous runner: every thread one operation at a time ---- */

static void *kvb_sync_thread(void *arg)
{
	struct kvb_thread *t = arg;
	struct kvb *b = t->b;
	enum kvb_op op;
	uint64_t k, len = 0, t0 = bench_now_ns(), t1;
	int rc;

	while (kvb_next(t, &op, &k, t0)) {
		kvb_key(b, k, t->key);
		if (op == KVB_SET)
			kvb_value(b, k, t->val);
		t0 = bench_now_ns();
		if (op == KVB_SET)
			rc = b->e->set(b, t->key, b->o.ksize, t->val, b->o.vsize);
		else if (op == KVB_GET)
			rc = b->e->get(b, t->key, b->o.ksize, t->buf, b->o.vsize, &len);
		else
			rc = b->e->del(b, t->key, b->o.ksize);
		t1 = bench_now_ns();
		if (kvb_done(t, op, k, rc, t->buf, len, t1 - t0))
			break;
		t0 = t1;
	}
	return NULL;
}

static void *kvb_async_thread(void *arg)
{
	struct kvb_thread *t = arg;
	int rc = t->b->e->run_async(t->b, t);

	if (rc && !t->rc) {
		t->rc = rc;
		atomic_store(&t->b->run.failed, 1);
	}
	return NULL;
}

/* ---- output ---- */

static inline void kvb_json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; s && *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', f);
		if ((unsigned char)*s >= 0x20)
			fputc(*s, f);
	}
	fputc('"', f);
}

struct kvb_result {
	const struct kvb_phase *ph;
	uint64_t ops, sets, gets, dels, ios, live;
	double secs, ops_s, p50, p99, p999, cpu_us, io_s;
	bool have_ios;
};

static inline const char *kvb_store_path(const struct kvb *b)
{
	return b->o.path && *b->o.path ? b->o.path : "memory";
}

static inline void kvb_print(struct kvb *b, const struct kvb_result *r)
{
	const struct kvb_opts *o = &b->o;
	unsigned inflight = o->threads * (o->depth ? o->depth : 1);
	FILE *f;

	printf("engine=%s label=%s path=%s phase=%s read_pct=%u ksize=%" PRIu64 " vsize=%" PRIu64
	       " keys=%" PRIu64 " live=%" PRIu64 " arks=%u threads=%u depth=%u chain=%d inflight=%u"
	       " durable=%d"
	       " ops=%" PRIu64 " secs=%.3f ops_s=%.0f p50_us=%.2f p99_us=%.2f p999_us=%.2f"
	       " cpu_us_op=%.3f",
	       b->e->name, o->label ? o->label : b->e->name, kvb_store_path(b), r->ph->name,
	       r->ph->read_pct, o->ksize, o->vsize, o->keys, r->live, o->arks, o->threads,
	       o->depth, o->chain, inflight, o->persist, r->ops, r->secs, r->ops_s, r->p50, r->p99, r->p999,
	       r->cpu_us);
	if (r->have_ios)
		printf(" ios=%" PRIu64 " io_s=%.0f", r->ios, r->io_s);
	printf("\n");
	fflush(stdout);
	if (!o->json)
		return;
	f = fopen(o->json, "a");
	if (!f) {
		fprintf(stderr, "%s: %s: %s\n", b->e->prog, o->json, strerror(errno));
		return;
	}
	fprintf(f, "{\"engine\":\"%s\",\"label\":", b->e->name);
	kvb_json_str(f, o->label ? o->label : b->e->name);
	fprintf(f, ",\"path\":");
	kvb_json_str(f, kvb_store_path(b));
	fprintf(f, ",\"phase\":\"%s\",\"read_pct\":%u,\"ksize\":%" PRIu64 ",\"vsize\":%" PRIu64
		   ",\"keys\":%" PRIu64 ",\"live\":%" PRIu64 ",\"arks\":%u,\"threads\":%u,\"depth\":%u,\"chain\":%s"
		   ",\"inflight\":%u,\"durable\":%s,\"ops\":%" PRIu64 ",\"sets\":%" PRIu64
		   ",\"gets\":%" PRIu64 ",\"dels\":%" PRIu64 ",\"secs\":%.4f,\"ops_s\":%.1f"
		   ",\"p50_us\":%.3f,\"p99_us\":%.3f,\"p999_us\":%.3f,\"cpu_us_op\":%.4f",
		r->ph->name, r->ph->read_pct, o->ksize, o->vsize, o->keys, r->live, o->arks,
		o->threads, o->depth, o->chain ? "true" : "false", inflight, o->persist ? "true" : "false", r->ops, r->sets,
		r->gets, r->dels, r->secs, r->ops_s, r->p50, r->p99, r->p999, r->cpu_us);
	if (r->have_ios)
		fprintf(f, ",\"ios\":%" PRIu64 ",\"io_s\":%.1f", r->ios, r->io_s);
	fprintf(f, "}\n");
	fclose(f);
}

/* ---- one phase ---- */

static inline int kvb_phase(struct kvb *b, const struct kvb_phase *ph)
{
	struct kvb_run *r = &b->run;
	struct kvb_result res = { .ph = ph };
	struct hist *h;
	struct cpu_snap c0, c1;
	uint64_t t0, t1, ops0 = 0, ios0 = 0, ops1 = 0, ios1 = 0, live = b->hi - b->lo;
	void *(*fn)(void *) = b->o.depth ? kvb_async_thread : kvb_sync_thread;
	int rc = 0;

	memset(r, 0, sizeof(*r));
	r->ph = ph;
	r->lo = b->lo;
	r->hi = b->hi;
	switch (ph->kind) {
	case KVB_SET:
		r->limit = b->o.ops ? b->o.ops : b->o.keys;
		break;
	case KVB_DEL:
		r->limit = b->o.ops && b->o.ops < live ? b->o.ops : live;
		break;
	case KVB_GET:
		if (!live) {
			fprintf(stderr, "%s: phase %s: no keys stored (run a set phase first)\n",
				b->e->prog, ph->name);
			return EINVAL;
		}
		r->limit = b->o.ops ? b->o.ops : b->o.keys;
		break;
	}
	if (b->e->ios && b->e->ios(b, &ops0, &ios0))
		res.have_ios = false;
	cpu_snap_take(&c0, NULL, 0);
	t0 = bench_now_ns();
	r->end_ns = b->o.secs > 0 ? t0 + (uint64_t)(b->o.secs * 1e9) : 0;
	for (unsigned i = 0; i < b->o.threads; i++) {
		struct kvb_thread *t = &b->th[i];

		memset(&t->hist, 0, sizeof(t->hist));
		t->ops = t->sets = t->gets = t->dels = 0;
		t->rc = 0;
		if (b->o.threads == 1) {
			fn(t);
			break;
		}
		if (pthread_create(&t->pth, NULL, fn, t)) {
			fprintf(stderr, "%s: pthread_create failed\n", b->e->prog);
			atomic_store(&r->failed, 1);
			for (unsigned j = 0; j < i; j++)
				pthread_join(b->th[j].pth, NULL);
			return EAGAIN;
		}
	}
	if (b->o.threads > 1)
		for (unsigned i = 0; i < b->o.threads; i++)
			pthread_join(b->th[i].pth, NULL);
	t1 = bench_now_ns();
	cpu_snap_take(&c1, NULL, 0);
	h = &b->th[0].hist;
	for (unsigned i = 0; i < b->o.threads; i++) {
		struct kvb_thread *t = &b->th[i];

		if (t->rc && !rc)
			rc = t->rc;
		if (i)
			for (unsigned x = 0; x < HIST_BUCKETS; x++)
				h->n[x] += t->hist.n[x];
		if (i)
			h->count += t->hist.count;
		res.ops += t->ops;
		res.sets += t->sets;
		res.gets += t->gets;
		res.dels += t->dels;
	}
	/* the live window moves by what was done */
	if (ph->kind == KVB_SET) {
		b->hi += res.ops;
		if (b->hi - b->lo > b->o.keys)
			b->lo = b->hi - b->o.keys;
	} else if (ph->kind == KVB_DEL) {
		b->lo += res.ops;
	}
	if (rc)
		return rc;
	res.live = b->hi - b->lo;
	res.secs = (double)(t1 - t0) / 1e9;
	res.ops_s = res.secs > 0 ? (double)res.ops / res.secs : 0;
	res.p50 = hist_quantile_us(h, 0.50);
	res.p99 = hist_quantile_us(h, 0.99);
	res.p999 = hist_quantile_us(h, 0.999);
	res.cpu_us = res.ops ? (c1.proc_s - c0.proc_s) * 1e6 / (double)res.ops : 0;
	if (b->e->ios && !b->e->ios(b, &ops1, &ios1)) {
		res.have_ios = true;
		res.ios = ios1 - ios0;
		res.io_s = res.secs > 0 ? (double)res.ios / res.secs : 0;
	}
	kvb_print(b, &res);
	return 0;
}

/* ---- options ---- */

/* A size: a number with an optional K, M or G (powers of 1024). */
static inline bool kvb_parse_size(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;
	unsigned shift = 0;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *s == '-')
		return false;
	if (*end == 'k' || *end == 'K')
		shift = 10;
	else if (*end == 'm' || *end == 'M')
		shift = 20;
	else if (*end == 'g' || *end == 'G')
		shift = 30;
	if (shift)
		end++;
	if (*end || (v << shift) >> shift != v)
		return false;
	v <<= shift;
	if (v < min || v > max)
		return false;
	*out = v;
	return true;
}

/* "set,get,mix:50,mix:95,del" into o->phases. */
static inline bool kvb_parse_phases(struct kvb_opts *o, const char *list)
{
	char buf[256], *save = NULL, *tok;

	if (strlen(list) >= sizeof(buf))
		return false;
	strcpy(buf, list);
	o->nphases = 0;
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		struct kvb_phase *p;
		uint64_t pct;

		if (o->nphases == KVB_MAX_PHASES)
			return false;
		p = &o->phases[o->nphases++];
		if (!strcmp(tok, "set")) {
			*p = (struct kvb_phase){ "set", KVB_SET, 0 };
		} else if (!strcmp(tok, "get")) {
			*p = (struct kvb_phase){ "get", KVB_GET, 100 };
		} else if (!strcmp(tok, "del")) {
			*p = (struct kvb_phase){ "del", KVB_DEL, 0 };
		} else if (!strncmp(tok, "mix:", 4) && kvb_parse_size(tok + 4, 0, 100, &pct)) {
			*p = (struct kvb_phase){ "", KVB_GET, (unsigned)pct };
			snprintf(p->name, sizeof(p->name), "mix%u", (unsigned)pct);
		} else {
			return false;
		}
	}
	return o->nphases > 0;
}

static inline void kvb_usage(const struct kv_engine *e, FILE *f)
{
	fprintf(f,
		"Usage: %s [options]\n"
		"Measure %s with key/value operations in phases; print one line per phase:\n"
		"  engine= label= path= phase= read_pct= ksize= vsize= keys= live= arks= threads=\n"
		"  depth= chain= inflight= durable= ops= secs= ops_s= p50_us= p99_us= p999_us=\n"
		"  cpu_us_op= [ios= io_s=]\n"
		"\n"
		"  -p, --path P        %s\n"
		"  -w, --workload L    phases, comma separated (default set,get,mix:50,mix:95,del):\n"
		"                      set   the keys of a shuffled permutation, in order\n"
		"                      get   random live keys, every value compared\n"
		"                      mix:N N %% gets, the rest sets of random live keys\n"
		"                      del   the live keys, in the order they were set\n"
		"  -k, --ksize N       key bytes, >= 8 (default 16)\n"
		"  -v, --vsize N       value bytes, K/M suffixes (default 100)\n"
		"  -n, --keys N        distinct keys (default 100000)\n"
		"  -o, --ops N         operations per phase (default: --keys; del: the live keys)\n"
		"  -s, --secs S        at most S seconds per phase (default: no limit)\n"
		"  -t, --threads N     threads, each one synchronous operation at a time (default 1)\n"
		"%s"
		"      --persist       durable writes (%s)\n"
		"  -l, --label L       label in the output (default: the engine)\n"
		"  -j, --json FILE     append one JSON object per phase to FILE\n"
		"      --seed N        key and order seed (default 1)\n"
		"  -h, --help          this help\n"
		"%s"
		"\n"
		"Latency is per operation, from the call to its return (or callback), over all\n"
		"threads. cpu_us_op is the process's user+system CPU time (getrusage, every\n"
		"thread, the engine's own included) during the phase divided by its operations.\n"
		"Exit status: 0, 1 if an operation failed or a value read back differed, 2 on\n"
		"bad usage.\n",
		e->prog, e->name, e->path_help,
		e->has_async ? "  -q, --async N       N requests in flight per thread (*_async_cb; default 0:\n"
			       "                      synchronous calls)\n"
			     : "",
		e->name[0] == 'a' ? "ARK_KV_PERSIST_STORE: a set returns once it is on the LUN"
		: e->name[0] == 'r' ? "WriteOptions sync=1: every write syncs the WAL; without it sync=0"
				    : "LMDB's default sync per commit; without it MDB_NOSYNC",
		e->extra_help ? e->extra_help : "");
}

enum { KVB_OPT_PERSIST = 256, KVB_OPT_SEED, KVB_OPT_ARK_THREADS, KVB_OPT_VLUN, KVB_OPT_MAPSIZE,
       KVB_OPT_KEEP, KVB_OPT_CHAIN };

/* Parse argv into b->o. Returns 0, or the exit status (help: -1 for 0). */
static inline int kvb_parse(struct kvb *b, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "path", required_argument, NULL, 'p' },
		{ "workload", required_argument, NULL, 'w' },
		{ "ksize", required_argument, NULL, 'k' },
		{ "vsize", required_argument, NULL, 'v' },
		{ "keys", required_argument, NULL, 'n' },
		{ "ops", required_argument, NULL, 'o' },
		{ "secs", required_argument, NULL, 's' },
		{ "threads", required_argument, NULL, 't' },
		{ "async", required_argument, NULL, 'q' },
		{ "arks", required_argument, NULL, 'a' },
		{ "label", required_argument, NULL, 'l' },
		{ "json", required_argument, NULL, 'j' },
		{ "persist", no_argument, NULL, KVB_OPT_PERSIST },
		{ "seed", required_argument, NULL, KVB_OPT_SEED },
		{ "ark-threads", required_argument, NULL, KVB_OPT_ARK_THREADS },
		{ "vlun", no_argument, NULL, KVB_OPT_VLUN },
		{ "map-size", required_argument, NULL, KVB_OPT_MAPSIZE },
		{ "keep", no_argument, NULL, KVB_OPT_KEEP },
		{ "chain", no_argument, NULL, KVB_OPT_CHAIN },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct kvb_opts *o = &b->o;
	const char *prog = b->e->prog;
	uint64_t v;
	int c;

	*o = (struct kvb_opts){ .ksize = 16, .vsize = 100, .keys = 100000, .seed = 1,
				.threads = 1, .arks = 1 };
	kvb_parse_phases(o, "set,get,mix:50,mix:95,del");
	while ((c = getopt_long(argc, argv, "p:w:k:v:n:o:s:t:q:a:l:j:h", lo, NULL)) != -1) {
		bool ok = true;

		switch (c) {
		case 'p':
			o->path = optarg;
			break;
		case 'w':
			ok = kvb_parse_phases(o, optarg);
			break;
		case 'k':
			ok = kvb_parse_size(optarg, 8, 1 << 20, &o->ksize);
			break;
		case 'v':
			ok = kvb_parse_size(optarg, 1, 64ull << 20, &o->vsize);
			break;
		case 'n':
			ok = kvb_parse_size(optarg, 1, UINT32_MAX, &o->keys);
			break;
		case 'o':
			ok = kvb_parse_size(optarg, 1, UINT64_MAX >> 12, &o->ops);
			break;
		case 's': {
			char *end;

			errno = 0;
			o->secs = strtod(optarg, &end);
			ok = !errno && end != optarg && !*end && o->secs > 0 && o->secs < 1e6;
			break;
		}
		case 't':
			ok = kvb_parse_size(optarg, 1, KVB_MAX_THREADS, &v);
			o->threads = (unsigned)v;
			break;
		case 'q':
			ok = b->e->has_async && kvb_parse_size(optarg, 0, 65536, &v);
			if (!b->e->has_async) {
				fprintf(stderr, "%s: --async is arkbench's; use --threads N for N in flight\n",
					prog);
				return 2;
			}
			o->depth = (unsigned)v;
			break;
		case 'a':
			if (strcmp(b->e->name, "ark")) {
				fprintf(stderr, "%s: --arks is arkbench's\n", prog);
				return 2;
			}
			ok = kvb_parse_size(optarg, 1, 64, &v);
			o->arks = (unsigned)v;
			break;
		case 'l':
			o->label = optarg;
			break;
		case 'j':
			o->json = optarg;
			break;
		case KVB_OPT_PERSIST:
			o->persist = true;
			break;
		case KVB_OPT_SEED:
			ok = kvb_parse_size(optarg, 0, UINT64_MAX, &o->seed);
			break;
		case KVB_OPT_ARK_THREADS:
			ok = kvb_parse_size(optarg, 1, 1024, &v);
			o->ark_threads = (unsigned)v;
			break;
		case KVB_OPT_VLUN:
			o->vlun = true;
			break;
		case KVB_OPT_MAPSIZE:
			ok = kvb_parse_size(optarg, 1 << 20, UINT64_MAX >> 1, &o->map_size);
			break;
		case KVB_OPT_KEEP:
			o->keep = true;
			break;
		case KVB_OPT_CHAIN:
			if (!b->e->has_async) {
				fprintf(stderr, "%s: --chain is arkbench's\n", prog);
				return 2;
			}
			o->chain = true;
			break;
		case 'h':
			kvb_usage(b->e, stdout);
			return -1;
		default:
			fprintf(stderr, "%s: try --help\n", prog);
			return 2;
		}
		if (!ok) {
			fprintf(stderr, "%s: bad value '%s' for -%c (try --help)\n", prog, optarg,
				c < 256 ? c : '-');
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "%s: unexpected argument '%s' (try --help)\n", prog, argv[optind]);
		return 2;
	}
	if (o->chain && !o->depth) {
		fprintf(stderr, "%s: --chain needs --async N\n", prog);
		return 2;
	}
	if (o->threads * (o->depth ? o->depth : 1) > 65536) {
		fprintf(stderr, "%s: --threads x --async is too large\n", prog);
		return 2;
	}
	return 0;
}

/* ---- main ---- */

static inline int kvb_main(const struct kv_engine *e, int argc, char **argv)
{
	static struct kvb b;
	uint64_t rng, plen;
	int rc;

	b.e = e;
	rc = kvb_parse(&b, argc, argv);
	if (rc)
		return rc < 0 ? 0 : rc;
	b.perm = malloc(sizeof(*b.perm) * b.o.keys);
	plen = b.o.vsize + 8ull * KVB_PATTERN_SLOTS;
	b.pattern = malloc(plen);
	b.th = calloc(b.o.threads, sizeof(*b.th));
	if (!b.perm || !b.pattern || !b.th) {
		fprintf(stderr, "%s: out of memory\n", e->prog);
		return 1;
	}
	rng = kvb_mix(b.o.seed + 1) | 1;
	for (uint64_t i = 0; i < plen; i += 8) {
		uint64_t x = bench_rand(&rng);

		memcpy(b.pattern + i, &x, plen - i < 8 ? plen - i : 8);
	}
	for (uint64_t i = 0; i < b.o.keys; i++)
		b.perm[i] = (uint32_t)i;
	for (uint64_t i = b.o.keys - 1; i > 0; i--) {   /* Fisher-Yates */
		uint64_t j = bench_rand(&rng) % (i + 1);
		uint32_t x = b.perm[i];

		b.perm[i] = b.perm[j];
		b.perm[j] = x;
	}
	for (unsigned i = 0; i < b.o.threads; i++) {
		struct kvb_thread *t = &b.th[i];

		t->b = &b;
		t->id = i;
		t->rng = kvb_mix(b.o.seed * 1000003 + i + 7) | 1;
		t->key = malloc(b.o.ksize);
		t->val = malloc(b.o.vsize);
		t->buf = malloc(b.o.vsize);
		if (!t->key || !t->val || !t->buf) {
			fprintf(stderr, "%s: out of memory\n", e->prog);
			return 1;
		}
	}
	rc = e->open(&b);
	if (rc)
		return 1;
	for (int i = 0; i < b.o.nphases && !rc; i++)
		rc = kvb_phase(&b, &b.o.phases[i]);
	if (e->close(&b) && !rc)
		rc = EIO;
	for (unsigned i = 0; i < b.o.threads; i++) {
		free(b.th[i].key);
		free(b.th[i].val);
		free(b.th[i].buf);
	}
	free(b.th);
	free(b.perm);
	free(b.pattern);
	return rc ? 1 : 0;
}

#endif
