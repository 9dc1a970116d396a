/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: the chunk allocator keeps its invariants under randomised
 * alloc/free/clone: free count == popcount, no chunk handed out twice,
 * clone counts and saturation, double free refused, tail bits never free;
 * ca_take of a given chunk (a reloaded vLUN map); ca_grow (the LUN grew:
 * new chunks taken until the caller frees them, old ones as they were).
 */
#include "t_util.h"

#include "master/chunk_alloc.h"

static void check(struct chunk_alloc *ca)
{
	char why[256];

	if (ca_check(ca, why, sizeof(why))) {
		fprintf(stderr, "invariant broken: %s\n", why);
		exit(T_FAIL);
	}
}

static void test_basics(void)
{
	struct chunk_alloc ca;

	T_EQ(ca_init(&ca, 0), -EINVAL);
	T_EQ(ca_init(&ca, 70), 0); /* not a multiple of 64: tail bits */
	check(&ca);
	T_EQ(ca_free_count(&ca), 70);
	for (int i = 0; i < 70; i++) {
		int64_t c = ca_alloc(&ca);

		T_ASSERT(c >= 0 && c < 70);
		T_EQ(ca_refs(&ca, (uint64_t)c), 1);
	}
	T_EQ(ca_alloc(&ca), -ENOSPC);
	T_EQ(ca_free_count(&ca), 0);
	check(&ca);
	T_EQ(ca_free(&ca, 70), -EINVAL);   /* out of range */
	T_EQ(ca_free(&ca, 5), 1);
	T_EQ(ca_free(&ca, 5), -EINVAL);    /* double free */
	T_EQ(ca_clone(&ca, 5), -EINVAL);   /* clone of a free chunk */
	T_EQ(ca_refs(&ca, 5), 0);
	check(&ca);
	ca_destroy(&ca);
	ca_destroy(&ca); /* safe twice */
}

static void test_clone_saturation(void)
{
	struct chunk_alloc ca;
	int64_t c;

	T_EQ(ca_init(&ca, 4), 0);
	c = ca_alloc(&ca);
	for (int i = 0; i < CA_MAX_CLONES; i++)
		T_EQ(ca_clone(&ca, (uint64_t)c), 0);
	T_EQ(ca_clone(&ca, (uint64_t)c), -EIO);
	T_EQ(ca_refs(&ca, (uint64_t)c), CA_MAX_CLONES + 1);
	for (int i = 0; i < CA_MAX_CLONES; i++)
		T_EQ(ca_free(&ca, (uint64_t)c), 0); /* still allocated */
	T_EQ(ca_free_count(&ca), 3);
	T_EQ(ca_free(&ca, (uint64_t)c), 1);
	T_EQ(ca_free_count(&ca), 4);
	check(&ca);
	ca_destroy(&ca);
}

/* Random walk with a shadow model of every chunk's reference count. */
static void test_random(void)
{
	const uint64_t n = 1000;
	struct chunk_alloc ca;
	unsigned refs[1000] = { 0 };
	uint64_t seed = 42, held = 0;

	T_EQ(ca_init(&ca, n), 0);
	for (int step = 0; step < 200000; step++) {
		uint64_t r = t_rand(&seed) % 100;
		uint64_t c = t_rand(&seed) % n;

		if (r < 45) {
			int64_t got = ca_alloc(&ca);

			if (held == n) {
				T_EQ(got, -ENOSPC);
				continue;
			}
			T_ASSERT(got >= 0 && (uint64_t)got < n);
			T_EQ(refs[got], 0); /* never handed out twice */
			refs[got] = 1;
			held++;
		} else if (r < 85) {
			int rc = ca_free(&ca, c);

			if (refs[c] == 0) {
				T_EQ(rc, -EINVAL);
			} else {
				T_EQ(rc, refs[c] == 1 ? 1 : 0);
				if (--refs[c] == 0)
					held--;
			}
		} else {
			int rc = ca_clone(&ca, c);

			if (refs[c] == 0)
				T_EQ(rc, -EINVAL);
			else if (refs[c] == CA_MAX_CLONES + 1)
				T_EQ(rc, -EIO);
			else {
				T_EQ(rc, 0);
				refs[c]++;
			}
		}
		T_EQ(ca_free_count(&ca), n - held);
		if (step % 1000 == 0) {
			check(&ca);
			for (uint64_t i = 0; i < n; i++)
				T_EQ(ca_refs(&ca, i), refs[i]);
		}
	}
	check(&ca);
	ca_destroy(&ca);
}

/* ca_take: a reloaded map takes its own chunks; the allocator then skips them. */
static void test_grow(void)
{
	struct chunk_alloc ca;
	int64_t c;

	T_EQ(ca_init(&ca, 70), 0);
	for (int i = 0; i < 69; i++)
		T_ASSERT(ca_alloc(&ca) >= 0);
	T_EQ(ca_free_count(&ca), 1);
	T_EQ(ca_grow(&ca, 60), 0);              /* smaller: nothing changes */
	T_EQ(ca.nchunks, 70);
	T_EQ(ca_grow(&ca, 200), 0);
	check(&ca);
	T_EQ(ca.nchunks, 200);
	T_EQ(ca_free_count(&ca), 1);            /* the new ones start taken */
	T_EQ(ca_refs(&ca, 150), 1);
	for (uint64_t i = 70; i < 200; i++)
		T_EQ(ca_free(&ca, i), 1);
	check(&ca);
	T_EQ(ca_free_count(&ca), 131);
	for (int i = 0; i < 131; i++) {
		c = ca_alloc(&ca);
		T_ASSERT(c >= 0 && c < 200);
	}
	T_EQ(ca_alloc(&ca), -ENOSPC);
	check(&ca);
	T_EQ(ca_grow(&ca, 201), 0);             /* one more: a new word's first bit */
	T_EQ(ca_free(&ca, 200), 1);
	T_EQ(ca_alloc(&ca), 200);
	check(&ca);
	ca_destroy(&ca);
}

static void test_take(void)
{
	struct chunk_alloc ca;

	T_EQ(ca_init(&ca, 8), 0);
	T_EQ(ca_take(&ca, 3), 0);
	T_EQ(ca_refs(&ca, 3), 1);
	T_EQ(ca_take(&ca, 3), 0);          /* a second map sharing it: a clone */
	T_EQ(ca_refs(&ca, 3), 2);
	T_EQ(ca_take(&ca, 8), -EINVAL);    /* out of range */
	T_EQ(ca_free_count(&ca), 7);
	check(&ca);
	for (int i = 0; i < 7; i++)
		T_ASSERT(ca_alloc(&ca) != 3);
	T_EQ(ca_alloc(&ca), -ENOSPC);
	T_EQ(ca_free(&ca, 3), 0);
	T_EQ(ca_free(&ca, 3), 1);
	check(&ca);
	ca_destroy(&ca);
}

int main(void)
{
	T_RUN(test_basics);
	T_RUN(test_grow);
	T_RUN(test_clone_saturation);
	T_RUN(test_take);
	T_RUN(test_random);
	return T_PASS;
}
