/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kv/long_key: keys too long to be inline (over 1024 bytes) with values of
 * every kind (none, inline-sized, raw-sized) read back whole after a clean
 * close (checkpoint) and after a crash (log replay), and arkdb-check finds
 * the store sound. A long key with a short value came back as EIO once
 * (fuzz_kv found it; tests/fuzz/corpus/kv/seed-intact* replay it too).
 */
#include "kv_test.h"

#include <sys/wait.h>

#include "t_daemon.h"   /* t_tool_path() */

static char g_path[512], g_spec[600];

static const size_t klens[] = { 1025, 2000, 5000 };
static const size_t vlens[] = { 0, 1, 10, 1024, 1025, 6000 };
#define NK (sizeof(klens) / sizeof(klens[0]))
#define NV (sizeof(vlens) / sizeof(vlens[0]))

/* Key (i, j): klens[i] bytes derived from its number; value vlens[j] bytes. */
static void key_of(uint8_t *key, size_t i, size_t j)
{
	kv_t_value(key, klens[i], 1000 + i * NV + j, 7);
}

static void set_all(ARK *ark, uint64_t gen)
{
	static uint8_t key[5000], val[6000];
	int64_t res;

	for (size_t i = 0; i < NK; i++) {
		for (size_t j = 0; j < NV; j++) {
			key_of(key, i, j);
			kv_t_value(val, vlens[j], i * NV + j, gen);
			T_OK(ark_set(ark, klens[i], key, vlens[j], val, &res));
		}
	}
}

static void check_all(uint64_t gen)
{
	static uint8_t key[5000], val[6000];
	ARK *ark;
	int64_t res;

	T_OK(kv_t_create(g_spec, &ark, ARK_KV_PERSIST_LOAD));
	for (size_t i = 0; i < NK; i++) {
		for (size_t j = 0; j < NV; j++) {
			key_of(key, i, j);
			T_OK(ark_get(ark, klens[i], key, sizeof(val), val, 0, &res));
			T_EQ(res, (int64_t)vlens[j]);
			T_EQ(kv_t_value_ok(val, vlens[j], i * NV + j, gen), 0);
		}
	}
	T_OK(ark_delete(ark));
}

static int run_check(void)
{
	char cmd[1200];

	snprintf(cmd, sizeof(cmd), "%s '%s' >&2", t_tool_path("arkdb-check"), g_path);
	int st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Set, close (a checkpoint), reopen. */
static void after_checkpoint(void)
{
	ARK *ark;

	unlink(g_path);
	T_OK(kv_t_create(g_spec, &ark, ARK_KV_PERSIST_STORE));
	set_all(ark, 1);
	T_OK(ark_delete(ark));
	check_all(1);
	T_EQ(run_check(), 0);
}

/* Set in a child that exits without closing: the log replays them. */
static void after_crash(void)
{
	pid_t pid = fork();
	int st;

	T_ASSERT(pid >= 0);
	if (pid == 0) {
		ARK *ark;

		T_OK(kv_t_create(g_spec, &ark, ARK_KV_PERSIST_LOAD));
		set_all(ark, 2);
		_exit(T_PASS);
	}
	T_EQ(waitpid(pid, &st, 0), pid);
	T_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == T_PASS);
	T_EQ(run_check(), 0);
	check_all(2);
}

int main(void)
{
	snprintf(g_path, sizeof(g_path), "%s", t_path("kv-long-key.img"));
	snprintf(g_spec, sizeof(g_spec), "file:%s?size=64M", g_path);
	T_RUN(after_checkpoint);
	T_RUN(after_crash);
	unlink(g_path);
	return T_PASS;
}
