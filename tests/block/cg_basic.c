/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: round-robin chunk groups (cblk_cg_*): open and close (also
 * with requests never reaped), get_num_chunks, sizes, requests spread
 * evenly over the member chunks (checked in each member's statistics and in
 * the merged group statistics),
 * write/read-compare through the group and through a member, aread/awrite
 * with cflsh_cg_tag_t and cblk_cg_aresult by tag and with NEXT_TAG, the
 * EINVAL cases, and the same group driven through the plain calls with
 * CBLK_GROUP_ID (and opened by cblk_open with CBLK_OPN_GROUP).
 */
#include "t_util.h"

#include <fcntl.h>
#include <stdbool.h>

#include <capiblock.h>

#define LUN     "ram:1G"
#define NCHUNKS 4
#define BS      4096u

static void *blocks(size_t n)
{
	void *p = aligned_alloc(BS, n * BS);

	T_ASSERT(p);
	memset(p, 0, n * BS);
	return p;
}

static chunk_cg_id_t open_group(int n)
{
	chunk_cg_id_t cg = cblk_cg_open(LUN, 64, O_RDWR, n, 0, CBLK_OPN_NO_INTRP_THREADS);

	T_ASSERT(cg != NULL_CHUNK_ID);
	return cg;
}

/* The member ids, learned from the tags of NCHUNKS consecutive areads. */
static void member_ids(chunk_cg_id_t cg, chunk_id_t ids[NCHUNKS])
{
	uint8_t *b = blocks(NCHUNKS);

	for (int i = 0; i < NCHUNKS; i++) {
		cflsh_cg_tag_t t = { NULL_CHUNK_ID, -1 };
		uint64_t st;
		int rc = cblk_cg_aread(cg, b + i * BS, i, 1, &t, NULL, CBLK_GROUP_ID);

		T_ASSERT(rc >= 0);
		T_ASSERT(t.id != NULL_CHUNK_ID);
		ids[i] = t.id;
		for (int j = 0; j < i; j++)
			T_ASSERT(ids[j] != t.id); /* round-robin: all different */
		if (rc == 0)
			T_EQ(cblk_cg_aresult(cg, &t, &st, CBLK_GROUP_ID | CBLK_ARESULT_BLOCKING),
			     1);
	}
	free(b);
}

static void test_open_close(void)
{
	chunk_cg_id_t cg = open_group(NCHUNKS), cg2;
	size_t n = 0;

	T_EQ(cblk_cg_get_num_chunks(cg, CBLK_GROUP_ID), NCHUNKS);
	T_EQ(cblk_cg_get_size(cg, &n, CBLK_GROUP_ID), 0);
	T_EQ(n, 262144);
	T_EQ(cblk_cg_get_lun_size(cg, &n, CBLK_GROUP_ID), 0);
	T_EQ(n, 262144);

	cg2 = open_group(1); /* ids come from their own counter, never reused */
	T_ASSERT(cg2 != cg);
	T_EQ(cblk_cg_get_num_chunks(cg2, 0), 1);
	T_EQ(cblk_cg_close(cg2, CBLK_GROUP_ID), 0);
	T_EQ(cblk_cg_close(cg, CBLK_GROUP_ID), 0);
	T_ERRNO(cblk_cg_close(cg, CBLK_GROUP_ID), EINVAL);
	T_ERRNO(cblk_cg_get_num_chunks(cg, 0), EINVAL);
	cg = open_group(2);
	T_ASSERT(cg != cg2);
	T_EQ(cblk_cg_close(cg, 0), 0);
}

/* Requests completed but never reaped do not keep a group open. */
static void test_close_unreaped(void)
{
	chunk_cg_id_t cg = open_group(NCHUNKS);
	uint8_t *b = blocks(NCHUNKS);
	cflsh_cg_tag_t t;

	for (int i = 0; i < NCHUNKS; i++)
		T_ASSERT(cblk_cg_awrite(cg, b + i * BS, i, 1, &t, NULL, CBLK_GROUP_ID) >= 0);
	T_EQ(cblk_cg_close(cg, CBLK_GROUP_ID), 0);
	free(b);
}

static void test_einval(void)
{
	chunk_cg_id_t cg = open_group(2);
	uint8_t *b = blocks(1);
	cflsh_cg_tag_t t = { NULL_CHUNK_ID, -1 };
	chunk_stats_t st;
	chunk_attrs_t at;
	uint64_t status;
	size_t n;

	T_EQ(cblk_cg_open(LUN, 64, O_RDWR, 0, 0, 0), NULL_CHUNK_ID);
	T_EQ(errno, EINVAL);
	T_EQ(cblk_cg_open(LUN, 64, O_RDWR, -1, 0, 0), NULL_CHUNK_ID);
	T_EQ(errno, EINVAL);
	T_EQ(cblk_cg_open(LUN, 64, O_RDWR, 65, 0, 0), NULL_CHUNK_ID);
	T_EQ(errno, EINVAL);
	T_EQ(cblk_cg_open(LUN, 64, O_RDWR, 2, 0, CBLK_OPN_VIRT_LUN), NULL_CHUNK_ID);
	T_EQ(errno, EINVAL);
	T_EQ(cblk_cg_open(NULL, 64, O_RDWR, 2, 0, 0), NULL_CHUNK_ID);
	T_EQ(errno, EINVAL);
	T_EQ(cblk_cg_open(LUN, 8193, O_RDWR, 2, 0, 0), NULL_CHUNK_ID); /* the members' limit */
	T_EQ(errno, ENOMEM);

	T_ERRNO(cblk_cg_read(12345, b, 0, 1, CBLK_GROUP_ID), EINVAL);
	T_ERRNO(cblk_cg_write(-1, b, 0, 1, CBLK_GROUP_ID), EINVAL);
	T_ERRNO(cblk_cg_aread(12345, b, 0, 1, &t, NULL, CBLK_GROUP_ID), EINVAL);
	T_ERRNO(cblk_cg_awrite(12345, b, 0, 1, &t, NULL, CBLK_GROUP_ID), EINVAL);
	T_ERRNO(cblk_cg_aresult(12345, &t, &status, CBLK_GROUP_ID), EINVAL);
	T_ERRNO(cblk_cg_get_stats(12345, &st, CBLK_GROUP_ID), EINVAL);
	T_ERRNO(cblk_cg_get_attrs(12345, &at, CBLK_GROUP_ID), EINVAL);
	T_ERRNO(cblk_cg_get_size(12345, &n, CBLK_GROUP_ID), EINVAL);
	T_ERRNO(cblk_cg_get_lun_size(12345, &n, CBLK_GROUP_ID), EINVAL);
	T_ERRNO(cblk_cg_set_size(12345, 10, CBLK_GROUP_ID), EINVAL);
	T_ERRNO(cblk_cg_get_num_chunks(12345, CBLK_GROUP_ID), EINVAL);

	T_ERRNO(cblk_cg_aread(cg, b, 0, 1, NULL, NULL, CBLK_GROUP_ID), EINVAL);
	T_ERRNO(cblk_cg_aresult(cg, NULL, &status, CBLK_GROUP_ID), EINVAL);
	T_ERRNO(cblk_cg_get_stats(cg, NULL, CBLK_GROUP_ID), EINVAL);
	T_ERRNO(cblk_cg_get_size(cg, NULL, CBLK_GROUP_ID), EINVAL);
	T_ERRNO(cblk_cg_read(cg, NULL, 0, 1, CBLK_GROUP_ID), EINVAL);   /* the member says so */
	T_ERRNO(cblk_cg_read(cg, b, 262144, 1, CBLK_GROUP_ID), EINVAL); /* beyond the LUN */
	T_ERRNO(cblk_cg_set_size(cg, 100, CBLK_GROUP_ID), EINVAL);      /* physical */
	/* a tag whose chunk is not a member */
	t.id = 9999;
	t.tag = 0;
	T_ERRNO(cblk_cg_aresult(cg, &t, &status, CBLK_GROUP_ID), EINVAL);
	/* nothing in flight */
	T_ERRNO(cblk_cg_aresult(cg, &t, &status, CBLK_GROUP_ID | CBLK_ARESULT_NEXT_TAG), ENOENT);
	T_EQ(cblk_cg_close(cg, CBLK_GROUP_ID), 0);
	free(b);
}

static void test_round_robin(void)
{
	chunk_cg_id_t cg = open_group(NCHUNKS);
	chunk_id_t ids[NCHUNKS];
	uint8_t *b = blocks(1);
	chunk_stats_t st, gs;

	member_ids(cg, ids);
	for (int i = 0; i < 40; i++)
		T_EQ(cblk_cg_write(cg, b, i, 1, CBLK_GROUP_ID), 1);
	for (int i = 0; i < 20; i++)
		T_EQ(cblk_cg_read(cg, b, i, 1, CBLK_GROUP_ID), 1);
	for (int k = 0; k < NCHUNKS; k++) {
		T_EQ(cblk_get_stats(ids[k], &st, 0), 0);
		T_EQ(st.num_writes, 10);
		T_EQ(st.num_blocks_written, 10);
		T_EQ(st.num_reads, 5);
		T_EQ(st.num_areads, 1);
	}
	T_EQ(cblk_cg_get_stats(cg, &gs, CBLK_GROUP_ID), 0);
	T_EQ(gs.num_writes, 40);
	T_EQ(gs.num_reads, 20);
	T_EQ(gs.num_areads, NCHUNKS);
	T_EQ(gs.num_blocks_written, 40);
	T_EQ(gs.block_size, 4096);
	T_EQ(gs.max_transfer_size, st.max_transfer_size);
	T_EQ(gs.num_act_areads, 0);
	T_EQ(cblk_cg_close(cg, CBLK_GROUP_ID), 0);
	free(b);
}

static void test_attrs(void)
{
	chunk_cg_id_t cg = open_group(2);
	chunk_id_t ids[NCHUNKS];
	chunk_attrs_t ga, ma;

	/* member_ids() needs NCHUNKS members; use a group of NCHUNKS for ids */
	T_EQ(cblk_cg_close(cg, 0), 0);
	cg = open_group(NCHUNKS);
	member_ids(cg, ids);
	memset(&ga, 0, sizeof(ga));
	memset(&ma, 0, sizeof(ma));
	T_EQ(cblk_cg_get_attrs(cg, &ga, CBLK_GROUP_ID), 0);
	T_EQ(cblk_get_attrs(ids[0], &ma, 0), 0);
	T_EQ(ga.block_size, 4096);
	T_EQ(ga.max_transfer_size, ma.max_transfer_size);
	T_EQ(ga.flags1, ma.flags1);
	T_EQ(cblk_cg_close(cg, 0), 0);
}

/* Patterns written through the group read back through it and a member. */
static void test_rw_compare(void)
{
	chunk_cg_id_t cg = open_group(NCHUNKS);
	chunk_id_t ids[NCHUNKS];
	chunk_attrs_t at;
	size_t mts, nb = 64;
	uint8_t *w, *r;
	uint64_t rng = 7;

	member_ids(cg, ids);
	T_EQ(cblk_cg_get_attrs(cg, &at, CBLK_GROUP_ID), 0);
	mts = at.max_transfer_size;
	T_ASSERT(mts >= 1);
	if (nb > mts)
		nb = mts;
	w = blocks(nb);
	r = blocks(nb);
	for (int i = 0; i < 50; i++) {
		uint64_t lba = t_rand(&rng) % (262144 - nb);
		size_t n = 1 + t_rand(&rng) % nb;

		t_pattern_fill(w, n * BS, 11, lba);
		T_EQ(cblk_cg_write(cg, w, (cflash_offset_t)lba, n, CBLK_GROUP_ID), (int)n);
		memset(r, 0, n * BS);
		T_EQ(cblk_cg_read(cg, r, (cflash_offset_t)lba, n, CBLK_GROUP_ID), (int)n);
		T_EQ(t_pattern_check(r, n * BS, 11, lba), 0);
		memset(r, 0, n * BS);
		/* every member is the whole LUN */
		T_EQ(cblk_read(ids[i % NCHUNKS], r, (cflash_offset_t)lba, n, 0), (int)n);
		T_EQ(t_pattern_check(r, n * BS, 11, lba), 0);
	}
	T_EQ(cblk_cg_close(cg, CBLK_GROUP_ID), 0);
	free(w);
	free(r);
}

/* awrite/aread with group tags, results by tag and by NEXT_TAG. */
static void test_async(void)
{
	enum { N = 32 };
	chunk_cg_id_t cg = open_group(NCHUNKS);
	cflsh_cg_tag_t tags[N];
	uint8_t *b = blocks(N);
	bool seen[N] = { false };
	int per_member[NCHUNKS] = { 0 };
	chunk_id_t ids[NCHUNKS];
	uint64_t status;
	int rc;

	member_ids(cg, ids);
	for (int i = 0; i < N; i++) {
		t_pattern_fill(b + i * BS, BS, 21, 1000 + i);
		rc = cblk_cg_awrite(cg, b + i * BS, 1000 + i, 1, &tags[i], NULL, CBLK_GROUP_ID);
		T_ASSERT(rc >= 0);
		for (int k = 0; k < NCHUNKS; k++)
			per_member[k] += tags[i].id == ids[k];
		if (rc > 0)
			tags[i].tag = -1;
	}
	for (int k = 0; k < NCHUNKS; k++)
		T_EQ(per_member[k], N / NCHUNKS);
	for (int i = N - 1; i >= 0; i--) { /* any order, by tag */
		if (tags[i].tag < 0)
			continue;
		rc = cblk_cg_aresult(cg, &tags[i], &status, CBLK_GROUP_ID | CBLK_ARESULT_BLOCKING);
		T_EQ(rc, 1);
	}
	memset(b, 0, N * BS);
	int pending = 0;

	for (int i = 0; i < N; i++) {
		rc = cblk_cg_aread(cg, b + i * BS, 1000 + i, 1, &tags[i], NULL, CBLK_GROUP_ID);
		T_ASSERT(rc >= 0);
		if (rc == 0)
			pending++;
		else
			seen[i] = true;
	}
	while (pending) {
		cflsh_cg_tag_t t = { NULL_CHUNK_ID, -1 };
		int i;

		rc = cblk_cg_aresult(cg, &t, &status,
				     CBLK_GROUP_ID | CBLK_ARESULT_NEXT_TAG | CBLK_ARESULT_BLOCKING);
		T_EQ(rc, 1);
		for (i = 0; i < N; i++)
			if (!seen[i] && tags[i].id == t.id && tags[i].tag == t.tag)
				break;
		T_ASSERT(i < N);
		seen[i] = true;
		pending--;
	}
	for (int i = 0; i < N; i++)
		T_EQ(t_pattern_check(b + i * BS, BS, 21, 1000 + i), 0);
	T_ERRNO(cblk_cg_aresult(cg, &tags[0], &status, CBLK_GROUP_ID | CBLK_ARESULT_NEXT_TAG),
		ENOENT);

	/* non-blocking NEXT_TAG: 0 or a completion, never an error */
	rc = cblk_cg_aread(cg, b, 5, 1, &tags[0], NULL, CBLK_GROUP_ID);
	T_ASSERT(rc >= 0);
	while (rc == 0) {
		cflsh_cg_tag_t t;

		rc = cblk_cg_aresult(cg, &t, &status, CBLK_GROUP_ID | CBLK_ARESULT_NEXT_TAG);
		T_ASSERT(rc >= 0);
		if (rc > 0) {
			T_EQ(t.id, tags[0].id);
			T_EQ(t.tag, tags[0].tag);
		}
	}
	T_EQ(cblk_cg_close(cg, CBLK_GROUP_ID), 0);
	free(b);
}

/* The same through cblk_open(CBLK_OPN_GROUP) and plain calls with CBLK_GROUP_ID. */
static void test_plain_dispatch(void)
{
	chunk_id_t cg = cblk_open(LUN, 64, O_RDWR, 3, CBLK_OPN_GROUP | CBLK_OPN_NO_INTRP_THREADS);
	uint8_t *b = blocks(8), *r = blocks(8);
	chunk_stats_t st;
	uint64_t status;
	size_t n;
	int tag, rc;

	T_ASSERT(cg != NULL_CHUNK_ID);
	T_EQ(cblk_cg_get_num_chunks(cg, CBLK_GROUP_ID), 3);
	T_EQ(cblk_get_size(cg, &n, CBLK_GROUP_ID), 0);
	T_EQ(n, 262144);
	t_pattern_fill(b, 8 * BS, 31, 500);
	T_EQ(cblk_write(cg, b, 500, 8, CBLK_GROUP_ID), 8);
	T_EQ(cblk_read(cg, r, 500, 8, CBLK_GROUP_ID), 8);
	T_EQ(t_pattern_check(r, 8 * BS, 31, 500), 0);

	memset(r, 0, BS);
	rc = cblk_aread(cg, r, 503, 1, &tag, NULL, CBLK_GROUP_ID);
	T_ASSERT(rc >= 0);
	if (rc == 0)
		T_EQ(cblk_aresult(cg, &tag, &status, CBLK_GROUP_ID | CBLK_ARESULT_BLOCKING), 1);
	T_EQ(t_pattern_check(r, BS, 31, 503), 0);

	rc = cblk_awrite(cg, b, 500, 1, &tag, NULL, CBLK_GROUP_ID);
	T_ASSERT(rc >= 0);
	if (rc == 0) {
		int t2 = -1;

		T_EQ(cblk_aresult(cg, &t2, &status, CBLK_GROUP_ID | CBLK_ARESULT_NEXT_TAG |
				  CBLK_ARESULT_BLOCKING), 1);
		T_EQ(t2, tag);
	}
	T_EQ(cblk_get_stats(cg, &st, CBLK_GROUP_ID), 0);
	T_EQ(st.num_writes, 1);
	T_EQ(st.num_reads, 1);
	T_EQ(st.num_areads, 1);
	T_EQ(st.num_awrites, 1);
	T_EQ(cblk_close(cg, CBLK_GROUP_ID), 0);
	T_ERRNO(cblk_cg_get_num_chunks(cg, CBLK_GROUP_ID), EINVAL);
	free(b);
	free(r);
}

int main(void)
{
	T_RUN(test_open_close);
	T_RUN(test_close_unreaped);
	T_RUN(test_einval);
	T_RUN(test_round_robin);
	T_RUN(test_attrs);
	T_RUN(test_rw_compare);
	T_RUN(test_async);
	T_RUN(test_plain_dispatch);
	return T_PASS;
}
