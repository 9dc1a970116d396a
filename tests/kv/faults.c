/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kv/faults: a durable store on a LUN that starts failing (the fault
 * wrapper's injected errors, docs/fault.md). While writes fail, a set
 * fails with EIO instead of being acknowledged, later sets fail too (the
 * store stops writing) and gets of what was acknowledged still work; a
 * failing read gives EIO for that key only. After a reopen on a healthy
 * LUN every acknowledged key is there with its value and the failed set's
 * key is not. Also a torn batch write: the set fails, the reopened store
 * has everything acknowledged before it.
 */
#include "kv_test.h"

#include <stdio.h>

static char g_file[512], g_ctl[600], g_spec[1400];

static void set_faults(const char *text)
{
	t_set_faults(g_ctl, text);
}

static void fresh(const char *name)
{
	const char *spec = kv_t_file(name, "256M");

	/* kv_t_file gives "file:PATH?size=..."; the wrapper goes around it. */
	snprintf(g_file, sizeof(g_file), "%s", spec + 5);
	*strchr(g_file, '?') = '\0';
	unlink(g_file);
	snprintf(g_ctl, sizeof(g_ctl), "%s.ctl", g_file);
	unlink(g_ctl);
	snprintf(g_spec, sizeof(g_spec), "fault[ctl=%s]:%s", g_ctl, spec);
}

static void set_key(ARK *ark, uint64_t k, size_t n, int want)
{
	static uint8_t val[6000];
	int64_t res;

	kv_t_value(val, n, k, 1);
	T_RC(ark_set(ark, sizeof(k), &k, n, val, &res), want);
}

static void check_key(ARK *ark, uint64_t k, size_t n, int want)
{
	static uint8_t val[6000];
	int64_t res;

	T_RC(ark_get(ark, sizeof(k), &k, sizeof(val), val, 0, &res), want);
	if (!want) {
		T_EQ(res, (int64_t)n);
		T_EQ(kv_t_value_ok(val, n, k, 1), 0);
	}
}

static size_t vsize(uint64_t k)
{
	return k % 2 ? 6000 : 100;
}

/* Reopen the store on the healthy LUN: keys 0..@n-1 and nothing else. */
static ARK *reopen_checked(uint64_t n)
{
	ARK *ark;
	int64_t count;

	T_OK(kv_t_create(g_spec, &ark, ARK_KV_PERSIST_LOAD | ARK_KV_PERSIST_STORE));
	for (uint64_t k = 0; k < n; k++)
		check_key(ark, k, vsize(k), 0);
	T_OK(ark_count(ark, &count));
	T_EQ(count, (int64_t)n);
	return ark;
}

static void failing_writes(void)
{
	ARK *ark;

	fresh("kv_faults_w");
	T_OK(kv_t_create(g_spec, &ark, ARK_KV_PERSIST_STORE));
	for (uint64_t k = 0; k < 100; k++)
		set_key(ark, k, vsize(k), 0);
	set_faults("fail-lba=0-100000000,fail-on=write");
	set_key(ark, 1000, 100, EIO);
	/* The store stopped writing; what it acknowledged still reads. */
	set_key(ark, 1001, 100, EIO);
	for (uint64_t k = 0; k < 100; k++)
		check_key(ark, k, vsize(k), 0);
	set_faults("none");
	ark_delete(ark);

	ark = reopen_checked(100);
	check_key(ark, 1000, 100, ENOENT);
	check_key(ark, 1001, 100, ENOENT);
	/* And it writes again. */
	set_key(ark, 1002, 100, 0);
	ark_delete(ark);
	unlink(g_file);
	unlink(g_ctl);
}

static void failing_reads(void)
{
	ARK *ark;

	fresh("kv_faults_r");
	setenv("CXLFLASH_KV_CACHE", "0", 1);   /* every get reads the LUN */
	T_OK(kv_t_create(g_spec, &ark, ARK_KV_PERSIST_STORE));
	for (uint64_t k = 0; k < 50; k++)
		set_key(ark, k, vsize(k), 0);
	set_faults("fail-lba=0-100000000,fail-on=read");
	check_key(ark, 1, vsize(1), EIO);
	check_key(ark, 2, vsize(2), EIO);
	set_key(ark, 60, 100, 0);               /* writes still work */
	set_faults("none");
	for (uint64_t k = 0; k < 50; k++)
		check_key(ark, k, vsize(k), 0);
	check_key(ark, 60, 100, 0);
	ark_delete(ark);
	unsetenv("CXLFLASH_KV_CACHE");
	unlink(g_file);
	unlink(g_ctl);
}

static void torn_batch(void)
{
	ARK *ark;

	fresh("kv_faults_t");
	T_OK(kv_t_create(g_spec, &ark, ARK_KV_PERSIST_STORE));
	for (uint64_t k = 0; k < 20; k++)
		set_key(ark, k, vsize(k), 0);
	/* A 6000 B value's batch is more than one block: torn. */
	set_faults("tear-nth=1");
	set_key(ark, 500, 6000, EIO);
	set_faults("none");
	ark_delete(ark);

	ark = reopen_checked(20);
	check_key(ark, 500, 6000, ENOENT);
	ark_delete(ark);
	unlink(g_file);
	unlink(g_ctl);
}

int main(void)
{
	setenv("CXLFLASH_SOCKET", "none", 1);
	T_RUN(failing_writes);
	T_RUN(failing_reads);
	T_RUN(torn_batch);
	return T_PASS;
}
