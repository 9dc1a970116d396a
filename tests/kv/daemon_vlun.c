/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kv/daemon_vlun: several processes, each with its own store on its own
 * vLUN of one LUN that cxlflashd serves, at once: each sees exactly its
 * own keys and values, through sync and async calls, while its vLUN grows.
 */
#include "kv_test.h"
#include "t_daemon.h"

#include <stdatomic.h>
#include <sys/wait.h>

#define NPROC 4
#define NKEYS 3000

static atomic_int done, errors;

static void cb(int errcode, uint64_t dt, int64_t res)
{
	(void)dt;
	(void)res;
	if (errcode)
		atomic_fetch_add(&errors, 1);
	atomic_fetch_add(&done, 1);
}

static void tenant(int me)
{
	ARK *ark;
	int64_t res, count;
	static uint8_t val[6000], out[6000];
	static uint64_t keys[NKEYS];

	T_OK(ark_create("lun0", &ark, ARK_KV_VIRTUAL_LUN));
	for (uint64_t k = 0; k < NKEYS; k++) {
		size_t n = (k * 31 + (uint64_t)me) % sizeof(val);
		kv_t_value(val, n, k, (uint64_t)me + 1);
		T_OK(ark_set(ark, sizeof(k), &k, n, val, &res));
	}
	/* Async reads of every key, in windows below the queue depth. */
	for (uint64_t k = 0; k < NKEYS; k++) {
		keys[k] = k;
		while (ark_exists_async_cb(ark, sizeof(keys[k]), &keys[k], cb, k) == EAGAIN)
			usleep(100);
	}
	while (atomic_load(&done) < NKEYS)
		usleep(100);
	T_EQ(atomic_load(&errors), 0);
	for (uint64_t k = 0; k < NKEYS; k++) {
		size_t n = (k * 31 + (uint64_t)me) % sizeof(val);
		T_OK(ark_get(ark, sizeof(k), &k, sizeof(out), out, 0, &res));
		T_EQ(res, n);
		T_EQ(kv_t_value_ok(out, n, k, (uint64_t)me + 1), 0);
	}
	T_OK(ark_count(ark, &count));
	T_EQ(count, NKEYS);
	T_OK(ark_delete(ark));
}

int main(void)
{
	struct t_daemon d;
	const char *args[] = { "--lun", "lun0=ram:4G", NULL };
	pid_t pids[NPROC];

	T_EQ(t_daemon_start(&d, args), 0);
	for (int i = 0; i < NPROC; i++) {
		pids[i] = fork();
		T_ASSERT(pids[i] >= 0);
		if (pids[i] == 0) {
			tenant(i);
			_exit(T_PASS);
		}
	}
	int failed = 0;
	for (int i = 0; i < NPROC; i++) {
		int status;
		T_ASSERT(waitpid(pids[i], &status, 0) == pids[i]);
		if (!WIFEXITED(status) || WEXITSTATUS(status) != T_PASS) {
			fprintf(stderr, "tenant %d failed (status %#x)\n", i, status);
			failed = 1;
		}
	}
	T_EQ(t_daemon_stop(&d), 0);
	return failed ? T_FAIL : T_PASS;
}
