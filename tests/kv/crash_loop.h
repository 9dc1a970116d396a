/* SPDX-License-Identifier: Apache-2.0 */
/*
 * crash_loop.h - the crash loop of kv/crash and kv/crash_daemon: writers
 * killed at random moments, simulated power cuts, and a check that every
 * acknowledged operation is on the LUN and nothing else is half there.
 *
 * Each round a child opens the store (recovering it), and 8 threads set
 * and delete keys of their own, recording in shared memory the state each
 * key had when its last operation was acknowledged and the operation in
 * flight. The round kills it, optionally cuts the power, reopens the store
 * in another child and checks every key: its value must be the
 * acknowledged one or the one in flight, whole and intact. Every other
 * writer has two batches on their way at once (CXLFLASH_KV_WRITE_DEPTH=2),
 * so a crash can tear a batch written beside a later one.
 */
#ifndef CXLFLASH_KV_CRASH_LOOP_H
#define CXLFLASH_KV_CRASH_LOOP_H

#include "kv_test.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>

#include "backend/backend.h"
#include "master/powercut.h"

#define NTHREADS 8
#define NKEYS    4096          /* keys, NKEYS / NTHREADS per thread */
#define ABSENT   0

/* Per key: the acknowledged generation (0 = absent) and the one in flight
 * (0 = none; a deletion in flight is UINT32_MAX). */
struct kstate {
	_Atomic uint32_t acked;
	_Atomic uint32_t inflight;
};

static struct kstate *st;
static ARK *ark;

static size_t vlen_of(uint64_t k, uint32_t gen)
{
	static const size_t lens[] = { 0, 5, 100, 1000, 1500, 4096, 9000, 40000 };
	return lens[(k + gen) % 8];
}

static void *writer(void *arg)
{
	uint64_t t = (uint64_t)(uintptr_t)arg;
	uint64_t rnd = 0x1234567 + t * 7919 + (uint64_t)getpid();
	static __thread uint8_t val[40000];

	for (;;) {
		uint64_t k = t + NTHREADS * (t_rand(&rnd) % (NKEYS / NTHREADS));
		uint32_t cur = atomic_load(&st[k].acked);
		int64_t res;
		int rc;
		if (cur != ABSENT && t_rand(&rnd) % 4 == 0) {
			atomic_store(&st[k].inflight, UINT32_MAX);
			rc = ark_del(ark, sizeof(k), &k, &res);
			if (rc) {
				fprintf(stderr, "child: del failed: %d\n", rc);
				_exit(3);
			}
			atomic_store(&st[k].acked, ABSENT);
		} else {
			uint32_t gen = cur + 1 + (uint32_t)(t_rand(&rnd) % 3);
			if (gen >= UINT32_MAX - 4)
				gen = 1;
			size_t n = vlen_of(k, gen);
			kv_t_value(val, n, k, gen);
			atomic_store(&st[k].inflight, gen);
			rc = ark_set(ark, sizeof(k), &k, n, val, &res);
			if (rc) {
				fprintf(stderr, "child: set failed: %d\n", rc);
				_exit(3);
			}
			atomic_store(&st[k].acked, gen);
		}
		atomic_store(&st[k].inflight, 0);
	}
	return NULL;
}

static void child(const char *spec, bool pipelined)
{
	pthread_t th[NTHREADS];

	if (pipelined)
		setenv("CXLFLASH_KV_WRITE_DEPTH", "2", 1);
	int rc = kv_t_open(spec, &ark, 2, ARK_KV_PERSIST_STORE | ARK_KV_PERSIST_LOAD);
	if (rc) {
		fprintf(stderr, "child: ark_create: %d (%s)\n", rc, strerror(rc));
		/* kv/crash_daemon kills cxlflashd at a random moment: on a
		 * loaded machine that may be before the open (a recovery) is
		 * done. Then wait for our own kill, as a writer would. */
		if (rc == ECONNRESET || rc == EPIPE || rc == ENOTCONN)
			for (;;)
				pause();
		_exit(2);
	}
	for (int i = 0; i < NTHREADS; i++)
		pthread_create(&th[i], NULL, writer, (void *)(uintptr_t)i);
	for (;;)
		pause();
}

/* Reopen and check every key; settle the shared state to what is there. */
static void verify(const char *spec, int round)
{
	static uint8_t buf[40000];
	int64_t res, count = 0, want = 0;
	ARK *a = NULL;
	int rc = kv_t_open(spec, &a, 2, ARK_KV_PERSIST_STORE | ARK_KV_PERSIST_LOAD);

	if (rc) {
		fprintf(stderr, "round %d: reopen failed: %d (%s)\n", round, rc, strerror(rc));
		exit(T_FAIL);
	}
	for (uint64_t k = 0; k < NKEYS; k++) {
		uint32_t acked = atomic_load(&st[k].acked);
		uint32_t fl = atomic_load(&st[k].inflight);
		rc = ark_get(a, sizeof(k), &k, sizeof(buf), buf, 0, &res);
		uint32_t seen;
		if (rc == ENOENT) {
			seen = ABSENT;
			if (acked != ABSENT && fl != UINT32_MAX) {
				fprintf(stderr, "round %d: key %llu lost (acknowledged gen %u, in flight %u)\n",
					round, (unsigned long long)k, acked, fl);
				exit(T_FAIL);
			}
		} else if (rc) {
			fprintf(stderr, "round %d: key %llu: get failed: %d (%s)\n", round,
				(unsigned long long)k, rc, strerror(rc));
			exit(T_FAIL);
		} else {
			if (acked && (size_t)res == vlen_of(k, acked) &&
			    !kv_t_value_ok_quiet(buf, (size_t)res, k, acked))
				seen = acked;
			else if (fl && fl != UINT32_MAX && (size_t)res == vlen_of(k, fl) &&
				 !kv_t_value_ok_quiet(buf, (size_t)res, k, fl))
				seen = fl;
			else {
				fprintf(stderr, "round %d: key %llu holds %lld bytes that are neither gen %u nor %u\n",
					round, (unsigned long long)k, (long long)res, acked, fl);
				exit(T_FAIL);
			}
		}
		atomic_store(&st[k].acked, seen);
		atomic_store(&st[k].inflight, 0);
		want += seen != ABSENT;
	}
	T_OK(ark_count(a, &count));
	if (count != want) {
		fprintf(stderr, "round %d: %lld keys in the store, %lld expected\n", round,
			(long long)count, (long long)want);
		exit(T_FAIL);
	}
	T_OK(ark_delete(a));
}


/* Shared state for the rounds: call once before the first. */
static void crash_loop_init(void)
{
	st = mmap(NULL, NKEYS * sizeof(*st), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
		  -1, 0);
	T_ASSERT(st != MAP_FAILED);
}

/* Run @fn(@spec) in a child process; T_FAIL unless it exits with T_PASS. */
static void in_child(void (*fn)(const char *, int), const char *spec, int round)
{
	pid_t pid = fork();
	int status;

	T_ASSERT(pid >= 0);
	if (pid == 0) {
		fn(spec, round);
		_exit(T_PASS);
	}
	T_ASSERT(waitpid(pid, &status, 0) == pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != T_PASS)
		exit(T_FAIL);
}

static void create_store(const char *spec, int round)
{
	ARK *a;

	(void)round;
	T_OK(kv_t_open(spec, &a, 2, ARK_KV_PERSIST_STORE));
	T_OK(ark_delete(a));
}

/* Start a writer child on @spec; the caller kills it. */
static pid_t start_writer(const char *spec)
{
	static unsigned started;
	bool pipelined = started++ % 2 == 0;
	pid_t pid = fork();

	T_ASSERT(pid >= 0);
	if (pid == 0)
		child(spec, pipelined);
	return pid;
}

/* Reap a killed writer: it must not have ended by itself. */
static void reap_writer(pid_t pid, int round)
{
	int status;

	T_ASSERT(waitpid(pid, &status, 0) == pid);
	if (!WIFSIGNALED(status)) {
		fprintf(stderr, "round %d: the writer ended by itself (status %#x)\n", round, status);
		exit(T_FAIL);
	}
}

/* Power cut @how (0 none, 1 every unflushed write, 2 a random subset) on a
 * closed fault LUN, retried while a killed process's files close. */
static void power_cut(const char *lun, int how, uint64_t seed)
{
	int64_t n = 0;

	if (!how)
		return;
	for (int tries = 0; tries < 500; tries++) {
		n = lun_powercut(lun, how == 1 ? BE_CUT_ALL : BE_CUT_RANDOM, seed);
		if (n != -EBUSY && n != -EAGAIN)
			break;
		usleep(10000);
	}
	T_ASSERT(n >= 0);
}

#endif
