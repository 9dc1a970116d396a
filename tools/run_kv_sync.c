/* SPDX-License-Identifier: Apache-2.0 */
/*
 * run_kv_sync.c - IBM's synchronous key/value driver for arkdb.h: contexts
 * (arks) with threads each, every thread looping over its own keys with
 * ark_set, then ark_get (value compared) and ark_exists, then ark_del,
 * until the time is up; prints IBM's line
 *   SYNC: ctxt:C threads:T k/v:KxV: op/s:N io/s:N secs:S
 * with ark_stats' operations and block I/Os per second of the run.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arkdb.h>

#include "kvtool.h"

struct worker {
	ARK *ark;
	uint64_t id, ctxt, thread;
	pthread_t pth;
	uint8_t *pattern, *key, *buf;
	uint64_t passes;
	int rc;
};

static struct kvt_opts o = { .per = 100, .len = 100, .klen = 16, .vlen = 65536, .secs = 15 };
static uint64_t end_ns;
static atomic_int stop_all;

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: run_kv_sync [options] [DEV]\n"
		"Synchronous arkdb I/O: C contexts (arks) with T threads each; every thread\n"
		"sets its L keys, gets (comparing each value) and checks each with ark_exists,\n"
		"then deletes them, and loops until S seconds have passed. Prints\n"
		"  SYNC: ctxt:C threads:T k/v:KxV: op/s:N io/s:N secs:S\n"
		"(ark_stats' key/value operations and block I/Os per second over the run).\n"
		"\n"
		"  DEV, -d DEV  the store: absent or \"memory\" = a memory store; ram:SIZE,\n"
		"               file:/p?size=8G, a LUN name (each ark in a vLUN of it)\n"
		"  -c N         contexts (arks); default 4 for memory or /dev/..., else 1 (IBM's)\n"
		"  -t N         threads per context (default 100)\n"
		"  -l N         keys per thread (default 100)\n"
		"  -k N         key bytes, >= 8 (default 16)\n"
		"  -v N         value bytes (default 65536)\n"
		"  -s N         seconds; a thread finishes the loop it is in (default 15)\n"
		"  -p           the arks on the LUN itself, not in vLUNs (one context)\n"
		"  -V           also print the totals: ops, ios, elapsed seconds\n"
		"  -h, --help   this help\n"
		"\n"
		"Exit status: 0; 1 if any call failed or a value read back differed (the\n"
		"result line then says FAILED); 2 on bad usage.\n");
}

static int call_failed(struct worker *w, const char *what, uint64_t j, int rc, int64_t res)
{
	if (rc)
		fprintf(stderr, "run_kv_sync: ctxt %" PRIu64 " thread %" PRIu64 " key %" PRIu64
			": %s: %s\n", w->ctxt, w->thread, j, what, strerror(rc));
	else
		fprintf(stderr, "run_kv_sync: ctxt %" PRIu64 " thread %" PRIu64 " key %" PRIu64
			": %s: res %" PRId64 ", expected %" PRIu64 "\n", w->ctxt, w->thread, j,
			what, res, o.vlen);
	w->rc = rc ? rc : EPROTO;
	atomic_store(&stop_all, 1);
	return w->rc;
}

/* Retry while the ark says its queue is full. */
#define RETRY(call) ({ int _rc; while ((_rc = (call)) == EAGAIN) usleep(100); _rc; })

static int one_pass(struct worker *w)
{
	int64_t res;
	int rc;

	for (uint64_t j = 0; j < o.len; j++) {
		kvt_key(w->key, o.klen, w->id, j);
		res = -1;
		rc = RETRY(ark_set(w->ark, o.klen, w->key, o.vlen, w->pattern + 8 * j, &res));
		if (rc || res != (int64_t)o.vlen)
			return call_failed(w, "ark_set", j, rc, res);
	}
	for (uint64_t j = 0; j < o.len; j++) {
		kvt_key(w->key, o.klen, w->id, j);
		res = -1;
		rc = RETRY(ark_get(w->ark, o.klen, w->key, o.vlen, w->buf, 0, &res));
		if (rc || res != (int64_t)o.vlen)
			return call_failed(w, "ark_get", j, rc, res);
		if (memcmp(w->buf, w->pattern + 8 * j, o.vlen)) {
			fprintf(stderr, "run_kv_sync: ctxt %" PRIu64 " thread %" PRIu64 " key %" PRIu64
				": ark_get returned a different value than was set\n", w->ctxt,
				w->thread, j);
			w->rc = EILSEQ;
			atomic_store(&stop_all, 1);
			return w->rc;
		}
		res = -1;
		rc = RETRY(ark_exists(w->ark, o.klen, w->key, &res));
		if (rc || res != (int64_t)o.vlen)
			return call_failed(w, "ark_exists", j, rc, res);
	}
	for (uint64_t j = 0; j < o.len; j++) {
		kvt_key(w->key, o.klen, w->id, j);
		res = -1;
		rc = RETRY(ark_del(w->ark, o.klen, w->key, &res));
		if (rc || res != (int64_t)o.vlen)
			return call_failed(w, "ark_del", j, rc, res);
	}
	return 0;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	do {
		if (one_pass(w))
			break;
		w->passes++;
	} while (!atomic_load(&stop_all) && tool_now_ns() < end_ns);
	return NULL;
}

int main(int argc, char **argv)
{
	struct worker *ws;
	ARK **arks;
	uint64_t nw, ops0 = 0, ios0 = 0, ops1 = 0, ios1 = 0, t0, t1;
	double secs;
	int rc = kvt_parse("run_kv_sync", 't', &o, argc, argv, usage), failed = 0;

	if (rc)
		return rc < 0 ? 0 : rc;
	if (!o.ctxts_set)
		o.ctxts = !o.dev || !strncmp(o.dev, "/dev/", 5) ? 4 : 1;
	if (o.plun && o.dev && o.ctxts > 1) {
		fprintf(stderr, "run_kv_sync: -p puts one ark on the whole LUN: use -c 1\n");
		return 2;
	}
	nw = o.ctxts * o.per;
	arks = calloc(o.ctxts, sizeof(*arks));
	ws = calloc(nw, sizeof(*ws));
	if (!arks || !ws) {
		fprintf(stderr, "run_kv_sync: out of memory\n");
		return 1;
	}
	for (uint64_t c = 0; c < o.ctxts; c++) {
		rc = ark_create(o.dev, &arks[c], kvt_flags(&o));
		if (rc || !arks[c]) {
			fprintf(stderr, "run_kv_sync: ark_create %s (context %" PRIu64 "): %s\n",
				o.dev ? o.dev : "(memory)", c, strerror(rc ? rc : EIO));
			while (c--)
				ark_delete(arks[c]);
			return 1;
		}
	}
	for (uint64_t i = 0; i < nw; i++) {
		struct worker *w = &ws[i];

		w->id = i;
		w->ctxt = i / o.per;
		w->thread = i % o.per;
		w->ark = arks[w->ctxt];
		w->pattern = kvt_pattern(&o, i);
		w->key = malloc(o.klen);
		w->buf = malloc(o.vlen ? o.vlen : 1);
		if (!w->pattern || !w->key || !w->buf) {
			fprintf(stderr, "run_kv_sync: out of memory\n");
			return 1;
		}
	}
	printf("SYNC: ctxt:%" PRIu64 " threads:%" PRIu64 " k/v:%" PRIu64 "x%" PRIu64 ": ", o.ctxts,
	       o.per, o.klen, o.vlen);
	fflush(stdout);
	for (uint64_t c = 0; c < o.ctxts; c++) {
		uint64_t a = 0, b = 0;

		if (!ark_stats(arks[c], &a, &b))
			ops0 += a, ios0 += b;
	}
	t0 = tool_now_ns();
	end_ns = t0 + o.secs * 1000000000ull;
	for (uint64_t i = 0; i < nw; i++) {
		if (pthread_create(&ws[i].pth, NULL, worker_main, &ws[i])) {
			fprintf(stderr, "run_kv_sync: pthread_create: thread %" PRIu64 " of %" PRIu64 "\n",
				i, nw);
			atomic_store(&stop_all, 1);
			nw = i;
			failed = 1;
			break;
		}
	}
	for (uint64_t i = 0; i < nw; i++) {
		pthread_join(ws[i].pth, NULL);
		if (ws[i].rc)
			failed = 1;
	}
	t1 = tool_now_ns();
	for (uint64_t c = 0; c < o.ctxts; c++) {
		uint64_t a = 0, b = 0;

		rc = ark_stats(arks[c], &a, &b);
		if (rc) {
			fprintf(stderr, "run_kv_sync: ark_stats: %s\n", strerror(rc));
			failed = 1;
		}
		ops1 += a, ios1 += b;
		rc = ark_delete(arks[c]);
		if (rc) {
			fprintf(stderr, "run_kv_sync: ark_delete: %s\n", strerror(rc));
			failed = 1;
		}
	}
	secs = (double)(t1 - t0) / 1e9;
	if (failed) {
		printf("FAILED\n");
	} else {
		printf("op/s:%.0f io/s:%.0f secs:%.0f\n", (double)(ops1 - ops0) / secs,
		       (double)(ios1 - ios0) / secs, secs);
		if (o.verbose)
			printf("ops:%" PRIu64 " ios:%" PRIu64 " elapsed:%.3f\n", ops1 - ops0,
			       ios1 - ios0, secs);
	}
	for (uint64_t i = 0; i < o.ctxts * o.per; i++) {
		free(ws[i].pattern);
		free(ws[i].key);
		free(ws[i].buf);
	}
	free(ws);
	free(arks);
	return failed;
}
