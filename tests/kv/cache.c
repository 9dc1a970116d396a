/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kv/cache: the value cache of LUN stores (CXLFLASH_KV_CACHE). A get of a
 * value just set or read needs no block I/O (ark_stats' ios stay put); a
 * set, del or flush is seen at once; partial gets from the cache; a cache
 * far smaller than the data evicts and every value still reads right; a
 * full cache admits a value read again and again;
 * values too large to cache are read every time; no cache (0, and a RAM
 * LUN's default) reads every time; a reopened durable store starts cold and reads right; a bad
 * setting falls back to the default with a message.
 */
#include "kv_test.h"

#include <stdlib.h>

static uint64_t ios_of(ARK *ark)
{
	uint64_t ops = 0, ios = 0;

	T_OK(ark_stats(ark, &ops, &ios));
	return ios;
}

static void get_check(ARK *ark, uint64_t k, size_t len, uint64_t gen)
{
	static uint8_t buf[300016];
	int64_t res = 0;

	memset(buf, 0xee, len + 1);
	T_OK(ark_get(ark, sizeof(k), &k, sizeof(buf), buf, 0, &res));
	T_EQ(res, len);
	T_EQ(kv_t_value_ok(buf, len, k, gen), 0);
}

static void set_val(ARK *ark, uint64_t k, size_t len, uint64_t gen)
{
	static uint8_t val[300000];
	int64_t res = 0;

	kv_t_value(val, len, k, gen);
	T_OK(ark_set(ark, sizeof(k), &k, len, val, &res));
	T_EQ(res, len);
}

/* With a 64 MiB cache (the default but on a RAM LUN: @setting NULL), sets
 * and gets of small values need no reads. */
static void hits(const char *spec, uint64_t flags, const char *setting)
{
	ARK *ark = NULL;
	int64_t res = 0;
	uint8_t part[8], val[1000];

	fprintf(stderr, "-- hits on %s (CXLFLASH_KV_CACHE=%s)\n", spec, setting ? setting : "");
	if (setting)
		setenv("CXLFLASH_KV_CACHE", setting, 1);
	else
		unsetenv("CXLFLASH_KV_CACHE");
	T_OK(ark_create((char *)spec, &ark, flags));
	for (uint64_t k = 0; k < 200; k++)
		set_val(ark, k, 10 + (size_t)k * 20, 1);
	uint64_t ios = ios_of(ark);
	for (int pass = 0; pass < 2; pass++)
		for (uint64_t k = 0; k < 200; k++)
			get_check(ark, k, 10 + (size_t)k * 20, 1);
	T_EQ(ios_of(ark), ios);   /* every get came from the cache */

	/* Partial gets from a cached value. */
	uint64_t k = 150;
	kv_t_value(val, sizeof(val), k, 1);
	T_OK(ark_get(ark, sizeof(k), &k, 5, part, 7, &res));
	T_EQ(res, 10 + 150 * 20);
	T_EQ(memcmp(part, val + 7, 5), 0);
	T_OK(ark_get(ark, sizeof(k), &k, 5, part, 5000, &res));   /* past the end */
	T_EQ(res, 10 + 150 * 20);
	T_EQ(ios_of(ark), ios);

	/* A set replaces the cached value, a del and a flush remove it. */
	for (k = 0; k < 200; k += 2)
		set_val(ark, k, 33, 2);
	for (k = 0; k < 200; k++)
		get_check(ark, k, k % 2 ? 10 + (size_t)k * 20 : 33, k % 2 ? 1 : 2);
	for (k = 1; k < 200; k += 4)
		T_OK(ark_del(ark, sizeof(k), &k, &res));
	for (k = 1; k < 200; k += 4)
		T_RC(ark_get(ark, sizeof(k), &k, sizeof(val), val, 0, &res), ENOENT);
	T_OK(ark_flush(ark));
	for (k = 0; k < 200; k++)
		T_RC(ark_get(ark, sizeof(k), &k, sizeof(val), val, 0, &res), ENOENT);
	set_val(ark, 7, 100, 3);
	get_check(ark, 7, 100, 3);

	/* Too large to cache: read every time. */
	k = 999;
	set_val(ark, k, 300000, 4);
	ios = ios_of(ark);
	get_check(ark, k, 300000, 4);
	T_ASSERT(ios_of(ark) > ios);
	ios = ios_of(ark);
	get_check(ark, k, 300000, 4);
	T_ASSERT(ios_of(ark) > ios);
	T_OK(ark_delete(ark));
}

/* A cache of 256 KiB (4 KiB a shard) under 2,000 values of 500 bytes. */
static void evictions(const char *spec, uint64_t flags)
{
	ARK *ark = NULL;

	fprintf(stderr, "-- evictions on %s\n", spec);
	setenv("CXLFLASH_KV_CACHE", "256K", 1);
	T_OK(ark_create((char *)spec, &ark, flags));
	for (uint64_t k = 0; k < 2000; k++)
		set_val(ark, k, 500, 1);
	uint64_t ios = ios_of(ark);
	for (int pass = 0; pass < 3; pass++)
		for (uint64_t k = 0; k < 2000; k++)
			get_check(ark, (k * 7919) % 2000, 500, 1);
	T_ASSERT(ios_of(ark) > ios + 1000);   /* most were evicted and read again */
	for (uint64_t k = 0; k < 2000; k += 3)
		set_val(ark, k, 480, 2);
	for (uint64_t k = 0; k < 2000; k++)
		get_check(ark, k, k % 3 ? 500 : 480, k % 3 ? 1 : 2);
	T_OK(ark_delete(ark));
	unsetenv("CXLFLASH_KV_CACHE");
}

/* A full cache admits a value read again and again within a few reads. */
static void admission(const char *spec)
{
	ARK *ark = NULL;

	fprintf(stderr, "-- admission on %s\n", spec);
	setenv("CXLFLASH_KV_CACHE", "256K", 1);
	T_OK(ark_create((char *)spec, &ark, 0));
	for (uint64_t k = 0; k < 2000; k++)
		set_val(ark, k, 500, 1);   /* the cache is full of the last ones */
	for (uint64_t k = 0; k < 2000; k += 50) {
		for (int i = 0; i < 16; i++)
			get_check(ark, k, 500, 1);
		uint64_t ios = ios_of(ark);
		for (int i = 0; i < 4; i++)
			get_check(ark, k, 500, 1);
		T_EQ(ios_of(ark), ios);   /* cached by now */
	}
	T_OK(ark_delete(ark));
	unsetenv("CXLFLASH_KV_CACHE");
}

/* CXLFLASH_KV_CACHE=0, or a RAM LUN by default (@setting NULL): every get reads. */
static void off(const char *spec, const char *setting)
{
	ARK *ark = NULL;

	fprintf(stderr, "-- no cache on %s (CXLFLASH_KV_CACHE=%s)\n", spec, setting ? setting : "");
	if (setting)
		setenv("CXLFLASH_KV_CACHE", setting, 1);
	else
		unsetenv("CXLFLASH_KV_CACHE");
	T_OK(ark_create((char *)spec, &ark, 0));
	set_val(ark, 1, 100, 1);
	uint64_t ios = ios_of(ark);
	get_check(ark, 1, 100, 1);
	T_ASSERT(ios_of(ark) > ios);
	ios = ios_of(ark);
	get_check(ark, 1, 100, 1);
	T_ASSERT(ios_of(ark) > ios);
	T_OK(ark_delete(ark));
	unsetenv("CXLFLASH_KV_CACHE");
}

/* A durable store reopened: cold cache, values from the LUN, then cached. */
static void reopen(void)
{
	const char *spec = kv_t_file("kv-cache.img", "256M");
	ARK *ark = NULL;

	fprintf(stderr, "-- reopen %s\n", spec);
	T_OK(ark_create((char *)spec, &ark, ARK_KV_PERSIST_STORE));
	for (uint64_t k = 0; k < 300; k++)
		set_val(ark, k, 200 + (size_t)k, 1);
	T_OK(ark_delete(ark));
	T_OK(ark_create((char *)spec, &ark, ARK_KV_PERSIST_LOAD));
	uint64_t ios = ios_of(ark);
	for (uint64_t k = 0; k < 300; k++)
		get_check(ark, k, 200 + (size_t)k, 1);
	uint64_t cold = ios_of(ark);
	T_ASSERT(cold >= ios + 300);   /* each value read once */
	for (uint64_t k = 0; k < 300; k++)
		get_check(ark, k, 200 + (size_t)k, 1);
	T_EQ(ios_of(ark), cold);        /* then from the cache */
	T_OK(ark_delete(ark));
	unlink(spec + 5);
}

/* Not a size: the default, and a message saying so. */
static void bad_setting(void)
{
	ARK *ark = NULL;

	fprintf(stderr, "-- CXLFLASH_KV_CACHE=lots (a message follows)\n");
	setenv("CXLFLASH_KV_CACHE", "lots", 1);
	T_OK(ark_create("ram:256M", &ark, 0));
	set_val(ark, 5, 100, 1);
	uint64_t ios = ios_of(ark);
	get_check(ark, 5, 100, 1);
	T_EQ(ios_of(ark), ios);   /* the default cache is on */
	T_OK(ark_delete(ark));
	unsetenv("CXLFLASH_KV_CACHE");
}

int main(void)
{
	hits("ram:512M", 0, "64M");
	hits(kv_t_file("kv-cache-d.img", "512M"), ARK_KV_PERSIST_STORE, NULL);
	evictions("ram:512M", 0);
	evictions(kv_t_file("kv-cache-e.img", "512M"), ARK_KV_PERSIST_STORE);
	admission("ram:256M");
	off("ram:256M", "0");
	off("ram:256M", NULL);   /* a RAM LUN has none by default */
	reopen();
	bad_setting();
	fprintf(stderr, "kv/cache: passed\n");
	return 0;
}
