/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kvrecover - how long a durable key/value store takes to open: after a
 * clean ark_delete (its checkpoint only) and after the writer was killed
 * with SIGKILL (its checkpoint plus the log written since, up to the 64 MiB
 * between checkpoints). Prints one line per case:
 *
 *   case=clean keys=N open_ms=T replayed_batches=B replayed_records=R
 *   case=kill  keys=N open_ms=T replayed_batches=B replayed_records=R log_mib=M
 *
 * Every reopened store is checked: its key count, and a sample of values.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <arkdb.h>

#include "kv/kv_internal.h"
#include "util/clock.h"

#define DEPTH 512   /* async sets in flight while loading */

static atomic_uint_fast64_t g_err;
static atomic_int g_busy[DEPTH];   /* a request in slot i is in flight */

/* dt: the request's slot. */
static void cb(int errcode, uint64_t dt, int64_t res)
{
	(void)res;
	if (errcode)
		atomic_fetch_add(&g_err, 1);
	atomic_store(&g_busy[dt], 0);
}

static void key_of(uint64_t k, uint8_t out[16])
{
	uint64_t a = k * 0x9E3779B97F4A7C15ull, b = k;
	memcpy(out, &a, 8);
	memcpy(out + 8, &b, 8);
}

/* Set keys [from, to) with @vsize-byte values naming round @gen, @DEPTH in flight. */
static int load(ARK *ark, uint64_t from, uint64_t to, uint64_t vsize, uint64_t gen)
{
	static uint8_t keys[DEPTH][16], vals[DEPTH][4096];

	for (uint64_t i = 0; i < to - from; i++) {
		unsigned slot = (unsigned)(i % DEPTH);
		while (atomic_load(&g_busy[slot]))
			usleep(20);
		key_of(from + i, keys[slot]);
		memset(vals[slot], (int)(from + i + gen), vsize);
		atomic_store(&g_busy[slot], 1);
		int rc;
		while ((rc = ark_set_async_cb(ark, 16, keys[slot], vsize, vals[slot], cb, slot)) == EAGAIN)
			usleep(20);
		if (rc)
			return rc;
	}
	for (unsigned slot = 0; slot < DEPTH; slot++)
		while (atomic_load(&g_busy[slot]))
			usleep(100);
	return atomic_load(&g_err) ? EIO : 0;
}

static int check(ARK *ark, uint64_t keys, uint64_t vsize)
{
	int64_t count, res;
	uint8_t key[16], val[4096];

	if (ark_count(ark, &count) || (uint64_t)count != keys) {
		fprintf(stderr, "kvrecover: %lld keys after reopening, %llu expected\n", (long long)count,
			(unsigned long long)keys);
		return 1;
	}
	for (uint64_t k = 0; k < keys; k += keys / 1000 + 1) {
		key_of(k, key);
		if (ark_get(ark, 16, key, sizeof(val), val, 0, &res) || (uint64_t)res != vsize) {
			fprintf(stderr, "kvrecover: key %llu unreadable after reopening\n", (unsigned long long)k);
			return 1;
		}
	}
	return 0;
}

static int timed_open(const char *spec, uint64_t keys, uint64_t vsize, const char *name,
		      double log_mib)
{
	ARK *ark;
	uint64_t t0 = now_ns();
	int rc;

	for (int tries = 0; (rc = ark_create_verbose((char *)spec, &ark, 0, 4096, keys, 4, 0, 0,
						     ARK_KV_PERSIST_LOAD)) == EBUSY && tries < 500; tries++)
		usleep(10000);   /* a killed writer's LUN lock goes a moment later */
	if (rc) {
		fprintf(stderr, "kvrecover: reopening: %s\n", strerror(rc));
		return 1;
	}
	double ms = (double)(now_ns() - t0) / 1e6;
	struct ark_impl *s = ark_impl(ark);
	printf("case=%s keys=%llu vsize=%llu open_ms=%.1f replayed_batches=%llu replayed_records=%llu",
	       name, (unsigned long long)keys, (unsigned long long)vsize, ms,
	       (unsigned long long)s->replay_batches, (unsigned long long)s->replay_records);
	if (log_mib >= 0)
		printf(" log_mib=%.1f", log_mib);
	printf("\n");
	fflush(stdout);
	rc = check(ark, keys, vsize);
	return ark_delete(ark) || rc;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: kvrecover [-n KEYS] [-v VSIZE] [-m LOG_MIB] PATH\n"
		"Load KEYS keys (default 1000000) of 16 bytes with VSIZE-byte values (default\n"
		"100) into a new durable store on PATH (e.g. file:/tmp/kv.img?size=4G), then\n"
		"time reopening it after a clean close, and after a writer that overwrote\n"
		"LOG_MIB MiB (default 48) of values since its last checkpoint was killed.\n");
}

int main(int argc, char **argv)
{
	uint64_t keys = 1000000, vsize = 100, log_mib = 48;
	int c;

	while ((c = getopt(argc, argv, "n:v:m:h")) != -1) {
		switch (c) {
		case 'n': keys = strtoull(optarg, NULL, 0); break;
		case 'v': vsize = strtoull(optarg, NULL, 0); break;
		case 'm': log_mib = strtoull(optarg, NULL, 0); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc - 1 || !keys || vsize > 4096) {
		usage(stderr);
		return 2;
	}
	const char *spec = argv[optind];

	/* Load and close cleanly, in a child (the LUN stays with its process). */
	pid_t pid = fork();
	if (pid == 0) {
		ARK *ark;
		int rc = ark_create_verbose((char *)spec, &ark, 0, 4096, keys, 4, DEPTH, 0,
					    ARK_KV_PERSIST_STORE);
		if (!rc)
			rc = load(ark, 0, keys, vsize, 0);
		if (!rc)
			rc = ark_delete(ark);
		if (rc)
			fprintf(stderr, "kvrecover: loading: %s\n", strerror(rc));
		_exit(rc ? 1 : 0);
	}
	int st;
	waitpid(pid, &st, 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		return 1;
	pid = fork();
	if (pid == 0)
		_exit(timed_open(spec, keys, vsize, "clean", -1));
	waitpid(pid, &st, 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		return 1;

	/* Overwrite about LOG_MIB MiB worth of records after the open's own
	 * checkpoint (sync, one thread would take long: async), then die. */
	uint64_t per_rec = vsize <= 1024 ? vsize + 48 : 4096 + 64;
	uint64_t n = log_mib * 1024 * 1024 / per_rec;
	if (n > keys)
		n = keys;
	pid = fork();
	if (pid == 0) {
		ARK *ark;
		int rc = ark_create_verbose((char *)spec, &ark, 0, 4096, keys, 4, DEPTH, 0,
					    ARK_KV_PERSIST_STORE | ARK_KV_PERSIST_LOAD);
		if (!rc)
			rc = load(ark, 0, n, vsize, 1);
		if (rc)
			fprintf(stderr, "kvrecover: overwriting: %s\n", strerror(rc));
		raise(SIGKILL);
		_exit(1);
	}
	waitpid(pid, &st, 0);
	if (!WIFSIGNALED(st))
		return 1;
	pid = fork();
	if (pid == 0)
		_exit(timed_open(spec, keys, vsize, "kill", (double)(n * per_rec) / (1 << 20)));
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}
