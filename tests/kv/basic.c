/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kv/basic: set, get (whole and partial), replace, exists, del, count,
 * zero-length values, inline and raw values, on every kind of store:
 * memory, a RAM LUN, a file LUN, a durable file LUN and a vLUN.
 */
#include "kv_test.h"

#include <stdlib.h>

static void exercise(const char *path, uint64_t flags)
{
	ARK *ark = NULL;
	int64_t res = 0, count = 0;
	static uint8_t val[300000], buf[300016];
	const size_t sizes[] = { 0, 1, 7, 100, 1024, 1025, 4096, 4097, 65536, 300000 };
	const int nsizes = sizeof(sizes) / sizeof(sizes[0]);

	fprintf(stderr, "-- store %s flags %#llx\n", path ? path : "(memory)", (unsigned long long)flags);
	T_OK(ark_create((char *)path, &ark, flags));
	for (int i = 0; i < nsizes; i++) {
		uint64_t k = 1000 + (uint64_t)i;
		kv_t_value(val, sizes[i], k, 1);
		T_OK(ark_set(ark, sizeof(k), &k, sizes[i], val, &res));
		T_EQ(res, sizes[i]);
	}
	T_OK(ark_count(ark, &count));
	T_EQ(count, nsizes);
	for (int i = 0; i < nsizes; i++) {
		uint64_t k = 1000 + (uint64_t)i;
		memset(buf, 0xee, sizes[i] + 1);
		T_OK(ark_get(ark, sizeof(k), &k, sizeof(buf), buf, 0, &res));
		T_EQ(res, sizes[i]);
		T_EQ(kv_t_value_ok(buf, sizes[i], k, 1), 0);
		T_OK(ark_exists(ark, sizeof(k), &k, &res));
		T_EQ(res, sizes[i]);
		if (sizes[i] > 10) {
			/* Partial: 5 bytes from offset 3; res is still the full length. */
			memset(buf, 0, 16);
			T_OK(ark_get(ark, sizeof(k), &k, 5, buf, 3, &res));
			T_EQ(res, sizes[i]);
			kv_t_value(val, sizes[i], k, 1);
			T_EQ(memcmp(buf, val + 3, 5), 0);
			/* An offset past the end copies nothing. */
			T_OK(ark_get(ark, sizeof(k), &k, 5, buf, sizes[i] + 10, &res));
			T_EQ(res, sizes[i]);
		}
	}
	/* Replace with another size, then delete half. */
	for (int i = 0; i < nsizes; i++) {
		uint64_t k = 1000 + (uint64_t)i;
		size_t n = sizes[nsizes - 1 - i];
		kv_t_value(val, n, k, 2);
		T_OK(ark_set(ark, sizeof(k), &k, n, val, &res));
	}
	for (int i = 0; i < nsizes; i += 2) {
		uint64_t k = 1000 + (uint64_t)i;
		T_OK(ark_del(ark, sizeof(k), &k, &res));
		T_EQ(res, sizes[nsizes - 1 - i]);
		T_RC(ark_del(ark, sizeof(k), &k, &res), ENOENT);
		T_RC(ark_get(ark, sizeof(k), &k, sizeof(buf), buf, 0, &res), ENOENT);
		T_RC(ark_exists(ark, sizeof(k), &k, &res), ENOENT);
	}
	for (int i = 1; i < nsizes; i += 2) {
		uint64_t k = 1000 + (uint64_t)i;
		size_t n = sizes[nsizes - 1 - i];
		T_OK(ark_get(ark, sizeof(k), &k, sizeof(buf), buf, 0, &res));
		T_EQ(res, n);
		T_EQ(kv_t_value_ok(buf, n, k, 2), 0);
	}
	T_OK(ark_count(ark, &count));
	T_EQ(count, nsizes / 2);
	/* Many small keys (fewer where each set waits for its own flush, and
	 * under CXLFLASH_TEST_SCALE). */
	uint64_t nsmall = t_scale((flags & ARK_KV_PERSIST_STORE) ? 3000 : 20000, 100);
	for (uint64_t k = 0; k < nsmall; k++) {
		kv_t_value(val, 100, k, 3);
		T_OK(ark_set(ark, sizeof(k), &k, 100, val, &res));
	}
	for (uint64_t k = 0; k < nsmall; k += 7) {
		T_OK(ark_get(ark, sizeof(k), &k, sizeof(buf), buf, 0, &res));
		T_EQ(res, 100);
		T_EQ(kv_t_value_ok(buf, 100, k, 3), 0);
	}
	uint64_t ops = 0, ios = 0, sz = 0;
	T_OK(ark_stats(ark, &ops, &ios));
	T_ASSERT(ops > nsmall);
	T_OK(ark_allocated(ark, &sz));
	T_ASSERT(sz > 0);
	T_OK(ark_actual(ark, &sz));
	T_ASSERT(sz >= nsmall * (100 + 8));
	T_OK(ark_flush(ark));
	T_OK(ark_count(ark, &count));
	T_EQ(count, 0);
	uint64_t k = 5;
	T_RC(ark_get(ark, sizeof(k), &k, sizeof(buf), buf, 0, &res), ENOENT);
	T_OK(ark_delete(ark));
}

int main(void)
{
	exercise(NULL, 0);
	exercise("ram:1G", 0);
	exercise(kv_t_file("kv-basic.img", "1G"), 0);
	exercise(kv_t_file("kv-basic-durable.img", "1G"), ARK_KV_PERSIST_STORE);
	exercise("ram:2G", ARK_KV_VIRTUAL_LUN);
	return T_PASS;
}
