/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kv/space: space freed by overwrites and deletes is reused. A steady load
 * of random overwrites and deletes writes several times the LUN's size
 * while a third of it is live; it never fails with ENOSPC, a vLUN store
 * does not keep growing, and every key reads back its newest value, on a
 * plain file LUN, a durable one (reopened at the end) and a vLUN.
 */
#include "kv_test.h"

#include <stdlib.h>

#define VLEN 4000   /* one raw block each */

static void steady(const char *spec, uint64_t flags, uint64_t lun_mb, uint64_t passes)
{
	ARK *ark;
	int64_t res;
	static uint8_t val[VLEN], out[VLEN];
	uint64_t nkeys = lun_mb * 256 / 3;           /* a third of the LUN live */
	uint32_t *gen = calloc(nkeys, sizeof(*gen)); /* 0 = absent */
	uint64_t rnd = 42, sz_first = 0, sz;

	T_ASSERT(gen);
	fprintf(stderr, "-- %s flags %#llx: %llu keys, %llu MiB written\n", spec,
		(unsigned long long)flags, (unsigned long long)nkeys,
		(unsigned long long)(passes * lun_mb));
	T_OK(ark_create_verbose((char *)spec, &ark, 0, 4096, nkeys, 2, 0, 0, flags));
	uint64_t ops = passes * lun_mb * 256;
	for (uint64_t i = 0; i < ops; i++) {
		uint64_t k = t_rand(&rnd) % nkeys;
		if (gen[k] && t_rand(&rnd) % 8 == 0) {
			T_OK(ark_del(ark, sizeof(k), &k, &res));
			gen[k] = 0;
			continue;
		}
		gen[k]++;
		kv_t_value(val, VLEN, k, gen[k]);
		int rc = ark_set(ark, sizeof(k), &k, VLEN, val, &res);
		if (rc) {
			fprintf(stderr, "set %llu of %llu failed: %d (%s)\n", (unsigned long long)i,
				(unsigned long long)ops, rc, strerror(rc));
			exit(T_FAIL);
		}
		if (i == ops / 4)
			T_OK(ark_allocated(ark, &sz_first));
	}
	T_OK(ark_allocated(ark, &sz));
	if (flags & ARK_KV_VIRTUAL_LUN)
		T_ASSERT(sz <= sz_first + (64ull << 20));  /* stopped growing */
	if (flags & ARK_KV_PERSIST_STORE) {
		T_OK(ark_delete(ark));
		T_OK(ark_create_verbose((char *)spec, &ark, 0, 4096, nkeys, 2, 0, 0,
					ARK_KV_PERSIST_STORE | ARK_KV_PERSIST_LOAD));
	}
	int64_t count = 0, want = 0;
	for (uint64_t k = 0; k < nkeys; k++) {
		int rc = ark_get(ark, sizeof(k), &k, sizeof(out), out, 0, &res);
		if (!gen[k]) {
			T_EQ(rc, ENOENT);
			continue;
		}
		want++;
		T_OK(rc);
		T_EQ(res, VLEN);
		T_EQ(kv_t_value_ok(out, VLEN, k, gen[k]), 0);
	}
	T_OK(ark_count(ark, &count));
	T_EQ(count, want);
	T_OK(ark_delete(ark));
	free(gen);
}

int main(void)
{
	steady(kv_t_file("kv-space.img", "64M"), 0, 64, 4);
	steady(kv_t_file("kv-space-durable.img", "32M"), ARK_KV_PERSIST_STORE, 32, 3);
	steady("ram:2G", ARK_KV_VIRTUAL_LUN, 256, 1);
	return T_PASS;
}
