/* SPDX-License-Identifier: Apache-2.0 */
/*
 * run_kv_async.c - IBM's asynchronous key/value driver for arkdb.h: per
 * context (ark), N jobs each with one request in flight through
 * ark_set_async_cb / ark_get_async_cb / ark_exists_async_cb /
 * ark_del_async_cb, every job looping over its own keys (set all, get all
 * comparing values, exists all, del all) until the time is up; prints
 * IBM's line
 *   ctxt:C async_ops:N k/v:KxV: op/s:N io/s:N secs:S
 * One driver thread per context issues the jobs' requests and handles their
 * completions, which the callbacks queue to it; a request refused with
 * EAGAIN (the ark's queue is full) is issued again after the next completion.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arkdb.h>

#include "kvtool.h"

enum step { SET, GET, EXISTS, DEL };
static const char *step_name[] = { "ark_set_async_cb", "ark_get_async_cb", "ark_exists_async_cb",
				   "ark_del_async_cb" };

struct ctxt;

struct job {
	struct ctxt *c;
	struct job *next;       /* on the done or retry list */
	uint64_t id, num;       /* worker id (keys, values), number in its context */
	enum step step;
	uint64_t j;             /* key being worked on */
	uint8_t *pattern, *key, *buf;
	int err;
	int64_t res;
	bool running;
};

struct ctxt {
	uint64_t num;
	ARK *ark;
	struct job *jobs;
	pthread_t pth;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct job *done;       /* completed, pushed by the callbacks */
	int rc;
};

static struct kvt_opts o = { .per = 40, .len = 100, .klen = 16, .vlen = 65536, .secs = 15 };
static uint64_t end_ns;
static atomic_int stop_all;

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: run_kv_async [options] [DEV]\n"
		"Asynchronous arkdb I/O: C contexts (arks) with N jobs each, every job one\n"
		"request in flight (*_async_cb): it sets its L keys, gets them (comparing each\n"
		"value), checks them with exists, deletes them, and loops until S seconds have\n"
		"passed. Prints\n"
		"  ctxt:C async_ops:N k/v:KxV: op/s:N io/s:N secs:S\n"
		"(ark_stats' key/value operations and block I/Os per second over the run).\n"
		"\n"
		"  DEV, -d DEV  the store: absent or \"memory\" = a memory store; ram:SIZE,\n"
		"               file:/p?size=8G, a LUN name (each ark in a vLUN of it)\n"
		"  -c N         contexts (arks); default 2 for memory or /dev/..., else 1 (IBM's)\n"
		"  -q N         async jobs per context = requests in flight per ark (default 40)\n"
		"  -l N         keys per job (default 100)\n"
		"  -k N         key bytes, >= 8 (default 16)\n"
		"  -v N         value bytes (default 65536)\n"
		"  -s N         seconds; a job finishes the loop it is in (default 15)\n"
		"  -p           the ark on the LUN itself, not in a vLUN (one context)\n"
		"  -V           also print the totals: ops, ios, elapsed seconds\n"
		"  -h, --help   this help\n"
		"\n"
		"Exit status: 0; 1 if any call failed or a value read back differed (the\n"
		"result line then says FAILED); 2 on bad usage.\n");
}

static void cb(int errcode, uint64_t dt, int64_t res)
{
	struct job *jb = (struct job *)(uintptr_t)dt;
	struct ctxt *c = jb->c;

	jb->err = errcode;
	jb->res = res;
	pthread_mutex_lock(&c->mu);
	jb->next = c->done;
	c->done = jb;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

static int issue(struct job *jb)
{
	ARK *ark = jb->c->ark;
	uint64_t dt = (uint64_t)(uintptr_t)jb;

	kvt_key(jb->key, o.klen, jb->id, jb->j);
	switch (jb->step) {
	case SET:
		return ark_set_async_cb(ark, o.klen, jb->key, o.vlen, jb->pattern + 8 * jb->j, cb, dt);
	case GET:
		return ark_get_async_cb(ark, o.klen, jb->key, o.vlen, jb->buf, 0, cb, dt);
	case EXISTS:
		return ark_exists_async_cb(ark, o.klen, jb->key, cb, dt);
	case DEL:
		return ark_del_async_cb(ark, o.klen, jb->key, cb, dt);
	}
	return EINVAL;
}

static void fail(struct job *jb, const char *why, int rc)
{
	fprintf(stderr, "run_kv_async: ctxt %" PRIu64 " job %" PRIu64 " key %" PRIu64 ": %s: %s\n",
		jb->c->num, jb->num, jb->j, step_name[jb->step], why ? why : strerror(rc));
	jb->c->rc = rc;
	atomic_store(&stop_all, 1);
}

/* A completion checked: false if the job failed. Then its next request, if any. */
static bool check(struct job *jb)
{
	char why[96];

	if (jb->err) {
		fail(jb, NULL, jb->err);
		return false;
	}
	if (jb->res != (int64_t)o.vlen) {
		snprintf(why, sizeof(why), "res %" PRId64 ", expected %" PRIu64, jb->res, o.vlen);
		fail(jb, why, EPROTO);
		return false;
	}
	if (jb->step == GET && memcmp(jb->buf, jb->pattern + 8 * jb->j, o.vlen)) {
		fail(jb, "the value read back differs from the one set", EILSEQ);
		return false;
	}
	if (++jb->j < o.len)
		return true;
	jb->j = 0;
	if (jb->step == DEL) {     /* a loop done: stop here once the time is up */
		if (atomic_load(&stop_all) || tool_now_ns() >= end_ns) {
			jb->running = false;
			return true;
		}
		jb->step = SET;
	} else {
		jb->step++;
	}
	return true;
}

static void *ctxt_main(void *arg)
{
	struct ctxt *c = arg;
	struct job *retry = NULL, *done;
	uint64_t inflight = 0;

	for (uint64_t i = 0; i < o.per; i++) {
		c->jobs[i].next = retry;
		retry = &c->jobs[i];
	}
	for (;;) {
		/* (re)issue what is waiting, until the ark refuses */
		while (retry && !(c->rc && inflight)) {
			struct job *jb = retry;
			int rc;

			if (c->rc) {       /* failed: issue nothing more, drain */
				retry = NULL;
				break;
			}
			retry = jb->next;  /* off the list first: its callback may run at once */
			rc = issue(jb);
			if (rc == EAGAIN) {
				jb->next = retry;
				retry = jb;
				break;
			}
			if (rc) {
				fail(jb, NULL, rc);
				jb->running = false;
				continue;
			}
			inflight++;
		}
		if (!inflight) {
			if (!retry)
				break;
			sched_yield();    /* refused with nothing in flight: try again */
			continue;
		}
		pthread_mutex_lock(&c->mu);
		while (!c->done)
			pthread_cond_wait(&c->cv, &c->mu);
		done = c->done;
		c->done = NULL;
		pthread_mutex_unlock(&c->mu);
		while (done) {
			struct job *jb = done;

			done = jb->next;
			inflight--;
			if (check(jb) && jb->running && !c->rc) {
				jb->next = retry;
				retry = jb;
			}
		}
	}
	return NULL;
}

int main(int argc, char **argv)
{
	struct ctxt *cs;
	uint64_t ops0 = 0, ios0 = 0, ops1 = 0, ios1 = 0, t0, t1, started = 0;
	double secs;
	int rc = kvt_parse("run_kv_async", 'q', &o, argc, argv, usage), failed = 0;

	if (rc)
		return rc < 0 ? 0 : rc;
	if (!o.ctxts_set)
		o.ctxts = !o.dev || !strncmp(o.dev, "/dev/", 5) ? 2 : 1;
	if (o.plun && o.dev && o.ctxts > 1) {
		fprintf(stderr, "run_kv_async: -p puts one ark on the whole LUN: use -c 1\n");
		return 2;
	}
	cs = calloc(o.ctxts, sizeof(*cs));
	if (!cs) {
		fprintf(stderr, "run_kv_async: out of memory\n");
		return 1;
	}
	for (uint64_t n = 0; n < o.ctxts; n++) {
		struct ctxt *c = &cs[n];

		c->num = n;
		pthread_mutex_init(&c->mu, NULL);
		pthread_cond_init(&c->cv, NULL);
		c->jobs = calloc(o.per, sizeof(*c->jobs));
		if (!c->jobs) {
			fprintf(stderr, "run_kv_async: out of memory\n");
			return 1;
		}
		for (uint64_t i = 0; i < o.per; i++) {
			struct job *jb = &c->jobs[i];

			jb->c = c;
			jb->id = n * o.per + i;
			jb->num = i;
			jb->running = true;
			jb->pattern = kvt_pattern(&o, jb->id);
			jb->key = malloc(o.klen);
			jb->buf = malloc(o.vlen ? o.vlen : 1);
			if (!jb->pattern || !jb->key || !jb->buf) {
				fprintf(stderr, "run_kv_async: out of memory\n");
				return 1;
			}
		}
		rc = ark_create(o.dev, &c->ark, kvt_flags(&o));
		if (rc || !c->ark) {
			fprintf(stderr, "run_kv_async: ark_create %s (context %" PRIu64 "): %s\n",
				o.dev ? o.dev : "(memory)", n, strerror(rc ? rc : EIO));
			while (n--)
				ark_delete(cs[n].ark);
			return 1;
		}
	}
	printf("ctxt:%" PRIu64 " async_ops:%" PRIu64 " k/v:%" PRIu64 "x%" PRIu64 ": ", o.ctxts, o.per,
	       o.klen, o.vlen);
	fflush(stdout);
	for (uint64_t n = 0; n < o.ctxts; n++) {
		uint64_t a = 0, b = 0;

		if (!ark_stats(cs[n].ark, &a, &b))
			ops0 += a, ios0 += b;
	}
	t0 = tool_now_ns();
	end_ns = t0 + o.secs * 1000000000ull;
	for (; started < o.ctxts; started++) {
		if (pthread_create(&cs[started].pth, NULL, ctxt_main, &cs[started])) {
			fprintf(stderr, "run_kv_async: pthread_create failed\n");
			failed = 1;
			break;
		}
	}
	for (uint64_t n = 0; n < started; n++) {
		pthread_join(cs[n].pth, NULL);
		if (cs[n].rc)
			failed = 1;
	}
	t1 = tool_now_ns();
	for (uint64_t n = 0; n < o.ctxts; n++) {
		uint64_t a = 0, b = 0;

		rc = ark_stats(cs[n].ark, &a, &b);
		if (rc) {
			fprintf(stderr, "run_kv_async: ark_stats: %s\n", strerror(rc));
			failed = 1;
		}
		ops1 += a, ios1 += b;
		rc = ark_delete(cs[n].ark);
		if (rc) {
			fprintf(stderr, "run_kv_async: ark_delete: %s\n", strerror(rc));
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
	for (uint64_t n = 0; n < o.ctxts; n++) {
		for (uint64_t i = 0; i < o.per; i++) {
			free(cs[n].jobs[i].pattern);
			free(cs[n].jobs[i].key);
			free(cs[n].jobs[i].buf);
		}
		free(cs[n].jobs);
		pthread_mutex_destroy(&cs[n].mu);
		pthread_cond_destroy(&cs[n].cv);
	}
	free(cs);
	return failed;
}
