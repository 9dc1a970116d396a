/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: RAID0 chunk groups (CBLK_GROUP_RAID0): parsing "a:b:..."
 * paths with our "ram:SIZE" members, the size (min member * N), striping
 * with a 1-block stripe unit (group block L on member L % N at L / N,
 * checked by reading the member chunks directly and in their statistics),
 * write/read-compare with many range shapes, ranges beyond the group,
 * the 1-block limit of aread/awrite and their tags, NEXT_TAG across the
 * members, virtual members with cblk_cg_set_size rounding and rollback,
 * unmap, and cblk_open/plain calls with CBLK_GROUP_RAID0.
 */
#include "t_util.h"

#include <fcntl.h>
#include <stdbool.h>

#include <capiblock.h>

#define BS 4096u
#define R0 CBLK_GROUP_RAID0

/* Three physical members of different sizes: 64M, 128M and 96M. */
#define PATH3    "ram:64M:ram:128M:ram:96M"
#define MEMBER0  16384u         /* blocks of the smallest member */

static void *blocks(size_t n)
{
	void *p = aligned_alloc(BS, n * BS);

	T_ASSERT(p);
	memset(p, 0, n * BS);
	return p;
}

static chunk_r0_id_t r0_open(const char *path, int flags)
{
	chunk_r0_id_t id = cblk_cg_open(path, 64, O_RDWR, 1, 0,
					R0 | CBLK_OPN_NO_INTRP_THREADS | flags);

	T_ASSERT(id != NULL_CHUNK_ID);
	return id;
}

static void wait_tag(chunk_r0_id_t id, cflsh_cg_tag_t *t, int rc)
{
	uint64_t status;

	T_ASSERT(rc >= 0);
	if (rc == 0)
		T_EQ(cblk_cg_aresult(id, t, &status, R0 | CBLK_ARESULT_BLOCKING), 1);
}

/* The member chunk holding group block @lba, from an aread's tag. */
static chunk_id_t member_of(chunk_r0_id_t id, cflash_offset_t lba)
{
	uint8_t *b = blocks(1);
	cflsh_cg_tag_t t = { NULL_CHUNK_ID, -1 };
	int rc = cblk_cg_aread(id, b, lba, 1, &t, NULL, R0);

	wait_tag(id, &t, rc);
	free(b);
	T_ASSERT(t.id != NULL_CHUNK_ID);
	return t.id;
}

static void test_parse(void)
{
	chunk_r0_id_t id;
	size_t n;

	id = r0_open(PATH3, 0);
	T_EQ(cblk_cg_get_num_chunks(id, R0), 3);
	T_EQ(cblk_cg_get_size(id, &n, R0), 0);
	T_EQ(n, 3 * MEMBER0); /* min(member) * N */
	T_EQ(cblk_cg_get_lun_size(id, &n, R0), 0);
	T_EQ(n, 3 * MEMBER0);
	T_EQ(cblk_cg_close(id, R0), 0);

	id = r0_open("ram:64M", 0); /* one member */
	T_EQ(cblk_cg_get_num_chunks(id, R0), 1);
	T_EQ(cblk_cg_close(id, R0), 0);

	id = r0_open("ram:4M:null:8M", 0);
	T_EQ(cblk_cg_get_num_chunks(id, R0), 2);
	T_EQ(cblk_cg_get_size(id, &n, R0), 0);
	T_EQ(n, 2 * 1024);
	T_EQ(cblk_cg_close(id, R0), 0);

	errno = 0;
	T_EQ(cblk_cg_open("ram:1M:ram:2M:ram:3M:ram:4M:ram:5M:ram:6M:ram:7M:ram:8M:ram:9M",
			  64, O_RDWR, 1, 0, R0), NULL_CHUNK_ID);
	T_EQ(errno, EINVAL); /* 9 members */
	id = r0_open("ram:1M:ram:2M:ram:3M:ram:4M:ram:5M:ram:6M:ram:7M:ram:8M", 0);
	T_EQ(cblk_cg_get_num_chunks(id, R0), 8);
	T_EQ(cblk_cg_close(id, R0), 0);
	T_EQ(cblk_cg_open("ram:4M::ram:8M", 64, O_RDWR, 1, 0, R0), NULL_CHUNK_ID);
	T_EQ(errno, EINVAL);
	T_EQ(cblk_cg_open("ram:4M:ram:8M:", 64, O_RDWR, 1, 0, R0), NULL_CHUNK_ID);
	T_EQ(errno, EINVAL);
	T_EQ(cblk_cg_open(":ram:4M", 64, O_RDWR, 1, 0, R0), NULL_CHUNK_ID);
	T_EQ(errno, EINVAL);
	T_EQ(cblk_cg_open("ram:4M:ram:4M", 64, O_RDWR, 1, 0, R0), NULL_CHUNK_ID);
	T_EQ(errno, EINVAL); /* one LUN twice, physical: the members would overlap */
	T_EQ(cblk_cg_open("RAID0:2", 64, O_RDWR, 1, 0, R0), NULL_CHUNK_ID);
	T_EQ(errno, ENODEV);
	T_EQ(cblk_cg_open("", 64, O_RDWR, 1, 0, R0), NULL_CHUNK_ID);
	T_EQ(errno, EINVAL);
	/* a member that does not open: the others are closed again */
	T_EQ(cblk_cg_open("ram:4M:ram:bogus", 64, O_RDWR, 1, 0, R0), NULL_CHUNK_ID);
	T_ASSERT(errno != 0);
}

/* Group block L is member L % 3's block L / 3. */
static void test_striping(void)
{
	chunk_r0_id_t id = r0_open(PATH3, 0);
	enum { START = 5, NB = 300 };
	uint8_t *w = blocks(NB), *r = blocks(1);
	chunk_id_t mem[3];
	chunk_stats_t st, before[3];

	for (int k = 0; k < 3; k++) {
		mem[k] = member_of(id, k);
		for (int j = 0; j < k; j++)
			T_ASSERT(mem[j] != mem[k]);
		T_EQ(cblk_get_stats(mem[k], &before[k], 0), 0);
	}
	t_pattern_fill(w, NB * BS, 41, START);
	T_EQ(cblk_cg_write(id, w, START, NB, R0), NB);
	for (int k = 0; k < 3; k++) {
		T_EQ(cblk_get_stats(mem[k], &st, 0), 0);
		T_EQ(st.num_blocks_written - before[k].num_blocks_written, NB / 3);
	}
	for (uint64_t l = START; l < START + NB; l++) {
		memset(r, 0, BS);
		T_EQ(cblk_read(mem[l % 3], r, (cflash_offset_t)(l / 3), 1, 0), 1);
		T_EQ(t_pattern_check(r, BS, 41, l), 0);
	}
	/* the member blocks next to the range were not touched */
	T_EQ(cblk_read(mem[(START - 1) % 3], r, (START - 1) / 3, 1, 0), 1);
	for (unsigned i = 0; i < BS; i++)
		T_EQ(r[i], 0);
	T_EQ(cblk_cg_close(id, R0), 0);
	free(w);
	free(r);
}

/* Many range shapes: every start offset mod N, lengths across pieces. */
static void test_rw_shapes(const char *path, int flags)
{
	chunk_r0_id_t id = r0_open(path, flags);
	chunk_attrs_t at;
	size_t size, maxn;
	uint8_t *w, *r;
	uint64_t rng = 3;

	if (flags & CBLK_OPN_VIRT_LUN)
		T_EQ(cblk_cg_set_size(id, 5000, R0), 0);
	T_EQ(cblk_cg_get_size(id, &size, R0), 0);
	T_EQ(cblk_cg_get_attrs(id, &at, R0), 0);
	/* beyond 3 pieces of max_transfer_size per member, bounded for memory */
	maxn = 3 * 3 * at.max_transfer_size + 7;
	if (maxn > 2048)
		maxn = 2048;
	if (maxn > size)
		maxn = size;
	w = blocks(maxn);
	r = blocks(maxn);
	for (int i = 0; i < 40; i++) {
		size_t n = i < 8 ? (size_t)i + 1 : (size_t)(1 + t_rand(&rng) % maxn);
		uint64_t lba = i < 8 ? (uint64_t)i : t_rand(&rng) % (size - n + 1);

		if (i == 39)
			n = maxn, lba = size - maxn; /* the very end of the group */
		t_pattern_fill(w, n * BS, 50 + i, lba);
		T_EQ(cblk_cg_write(id, w, (cflash_offset_t)lba, n, R0), (int)n);
		memset(r, 0, n * BS);
		T_EQ(cblk_cg_read(id, r, (cflash_offset_t)lba, n, R0), (int)n);
		T_EQ(t_pattern_check(r, n * BS, 50 + i, lba), 0);
		/* a sub-range read with another alignment */
		if (n > 2) {
			memset(r, 0, n * BS);
			T_EQ(cblk_cg_read(id, r, (cflash_offset_t)lba + 1, n - 2, R0), (int)n - 2);
			T_EQ(t_pattern_check(r, (n - 2) * BS, 50 + i, lba + 1), 0);
		}
	}
	/* beyond the group: EINVAL even where a member still has room */
	T_ERRNO(cblk_cg_read(id, r, (cflash_offset_t)size, 1, R0), EINVAL);
	T_ERRNO(cblk_cg_read(id, r, (cflash_offset_t)size + 1, 1, R0), EINVAL);
	T_ERRNO(cblk_cg_write(id, w, (cflash_offset_t)size - 1, 2, R0), EINVAL);
	T_ERRNO(cblk_cg_read(id, r, -1, 1, R0), EINVAL);
	T_ERRNO(cblk_cg_read(id, NULL, 0, 1, R0), EINVAL);
	T_ERRNO(cblk_cg_read(id, r, 0, 0, R0), EINVAL); /* as a chunk */
	T_EQ(cblk_cg_close(id, R0), 0);
	free(w);
	free(r);
}

static void test_rw_physical(void)
{
	test_rw_shapes(PATH3, 0);
}

static void test_rw_virtual(void)
{
	test_rw_shapes("ram:512M:ram:256M", CBLK_OPN_VIRT_LUN);
}

static void test_async(void)
{
	chunk_r0_id_t id = r0_open(PATH3, 0);
	enum { N = 30 };
	uint8_t *b = blocks(N);
	cflsh_cg_tag_t t[N];
	chunk_id_t mem[3];
	bool seen[N] = { false };
	uint64_t status;
	size_t size;
	int rc, pending = 0;

	T_EQ(cblk_cg_get_size(id, &size, R0), 0);
	for (int k = 0; k < 3; k++)
		mem[k] = member_of(id, 3 + k);
	T_ERRNO(cblk_cg_aread(id, b, 0, 2, &t[0], NULL, R0), EINVAL);
	T_ERRNO(cblk_cg_aread(id, b, 0, 0, &t[0], NULL, R0), EINVAL);
	T_ERRNO(cblk_cg_awrite(id, b, 0, 2, &t[0], NULL, R0), EINVAL);
	T_ERRNO(cblk_cg_aread(id, b, (cflash_offset_t)size + 1, 1, &t[0], NULL, R0), EINVAL);
	T_ERRNO(cblk_cg_aread(id, b, 0, 1, NULL, NULL, R0), EINVAL);

	for (int i = 0; i < N; i++) {
		t_pattern_fill(b + i * BS, BS, 61, 700 + i);
		rc = cblk_cg_awrite(id, b + i * BS, 700 + i, 1, &t[i], NULL, R0);
		T_ASSERT(rc >= 0);
		T_EQ(t[i].id, mem[(700 + i) % 3]); /* the tag names the member */
		wait_tag(id, &t[i], rc);
	}
	memset(b, 0, N * BS);
	for (int i = 0; i < N; i++) {
		rc = cblk_cg_aread(id, b + i * BS, 700 + i, 1, &t[i], NULL, R0);
		T_ASSERT(rc >= 0);
		if (rc == 0)
			pending++;
		else
			seen[i] = true;
	}
	while (pending) { /* NEXT_TAG across the three members */
		cflsh_cg_tag_t c = { NULL_CHUNK_ID, -1 };
		int i;

		rc = cblk_cg_aresult(id, &c, &status,
				     R0 | CBLK_ARESULT_NEXT_TAG | CBLK_ARESULT_BLOCKING);
		T_EQ(rc, 1);
		for (i = 0; i < N; i++)
			if (!seen[i] && t[i].id == c.id && t[i].tag == c.tag)
				break;
		T_ASSERT(i < N);
		seen[i] = true;
		pending--;
	}
	for (int i = 0; i < N; i++)
		T_EQ(t_pattern_check(b + i * BS, BS, 61, 700 + i), 0);
	T_ERRNO(cblk_cg_aresult(id, &t[0], &status, R0 | CBLK_ARESULT_NEXT_TAG), ENOENT);
	/* a RAID0 tag also works on its member chunk directly */
	rc = cblk_cg_aread(id, b, 701, 1, &t[0], NULL, R0);
	T_ASSERT(rc >= 0);
	if (rc == 0)
		T_EQ(cblk_aresult(t[0].id, &t[0].tag, &status, CBLK_ARESULT_BLOCKING), 1);
	T_EQ(t_pattern_check(b, BS, 61, 701), 0);
	T_EQ(cblk_cg_close(id, R0), 0);
	free(b);
}

static void test_set_size(void)
{
	chunk_r0_id_t id = r0_open("ram:1G:ram:512M", CBLK_OPN_VIRT_LUN);
	chunk_id_t mem[2];
	size_t n, m;

	T_EQ(cblk_cg_get_size(id, &n, R0), 0);
	T_EQ(n, 0); /* virtual members start empty */
	T_EQ(cblk_cg_set_size(id, 1001, R0), 0);
	T_EQ(cblk_cg_get_size(id, &n, R0), 0);
	T_EQ(n, 1002); /* each member ceil(1001 / 2) = 501 */
	mem[0] = member_of(id, 0);
	mem[1] = member_of(id, 1);
	for (int k = 0; k < 2; k++) {
		T_EQ(cblk_get_size(mem[k], &m, 0), 0);
		T_EQ(m, 501);
	}
	T_EQ(cblk_cg_set_size(id, 4000, R0), 0);
	T_EQ(cblk_cg_get_size(id, &n, R0), 0);
	T_EQ(n, 4000);
	/* too big for the 512M member: fails, and the 1G member is put back */
	errno = 0;
	T_EQ(cblk_cg_set_size(id, 2 * 131072 + 2, R0), -1);
	T_ASSERT(errno != 0);
	T_EQ(cblk_cg_get_size(id, &n, R0), 0);
	T_EQ(n, 4000);
	T_EQ(cblk_get_size(mem[0], &m, 0), 0);
	T_EQ(m, 2000);
	T_EQ(cblk_cg_set_size(id, 0, R0), 0);
	T_EQ(cblk_cg_get_size(id, &n, R0), 0);
	T_EQ(n, 0);
	T_EQ(cblk_cg_close(id, R0), 0);

	/* the same LUN twice is fine for virtual members */
	id = r0_open("ram:1G:ram:1G", CBLK_OPN_VIRT_LUN);
	T_EQ(cblk_cg_set_size(id, 10, R0), 0);
	T_EQ(cblk_cg_get_size(id, &n, R0), 0);
	T_EQ(n, 10);
	T_EQ(cblk_cg_close(id, R0), 0);
}

static void test_unmap(void)
{
	chunk_r0_id_t id = r0_open(PATH3, 0);
	uint8_t *w = blocks(30), *z = blocks(1), *r = blocks(30);
	chunk_attrs_t at;

	T_EQ(cblk_cg_get_attrs(id, &at, R0), 0);
	if (!(at.flags1 & CFLSH_ATTR_UNMAP)) {
		fprintf(stderr, "   (no unmap on these members)\n");
		T_EQ(cblk_cg_close(id, R0), 0);
		goto out;
	}
	t_pattern_fill(w, 30 * BS, 71, 100);
	T_EQ(cblk_cg_write(id, w, 100, 30, R0), 30);
	T_EQ(cblk_cg_unmap(id, z, 104, 20, R0), 20);
	T_EQ(cblk_cg_read(id, r, 100, 30, R0), 30);
	T_EQ(t_pattern_check(r, 4 * BS, 71, 100), 0);
	for (unsigned i = 4 * BS; i < 24 * BS; i++)
		T_EQ(r[i], 0);
	T_EQ(t_pattern_check(r + 24 * BS, 6 * BS, 71, 124), 0);
	T_EQ(cblk_cg_close(id, R0), 0);
out:
	free(w);
	free(z);
	free(r);
}

/* cblk_open() with CBLK_GROUP_RAID0 and the plain calls with it. */
static void test_plain_dispatch(void)
{
	chunk_id_t id = cblk_open(PATH3, 64, O_RDWR, 0, R0 | CBLK_OPN_NO_INTRP_THREADS);
	uint8_t *w = blocks(10), *r = blocks(10);
	uint64_t status;
	size_t n;
	int tag, rc;

	T_ASSERT(id != NULL_CHUNK_ID);
	T_EQ(cblk_cg_get_num_chunks(id, R0), 3);
	T_EQ(cblk_get_size(id, &n, R0), 0);
	T_EQ(n, 3 * MEMBER0);
	t_pattern_fill(w, 10 * BS, 81, 20);
	T_EQ(cblk_write(id, w, 20, 10, R0), 10);
	T_EQ(cblk_read(id, r, 20, 10, R0), 10);
	T_EQ(t_pattern_check(r, 10 * BS, 81, 20), 0);
	memset(r, 0, BS);
	rc = cblk_aread(id, r, 25, 1, &tag, NULL, R0);
	T_ASSERT(rc >= 0);
	if (rc == 0)
		T_EQ(cblk_aresult(id, &tag, &status, R0 | CBLK_ARESULT_BLOCKING), 1);
	T_EQ(t_pattern_check(r, BS, 81, 25), 0);
	T_ERRNO(cblk_aread(id, r, 25, 2, &tag, NULL, R0), EINVAL);
	T_EQ(cblk_close(id, R0), 0);
	free(w);
	free(r);
}

int main(void)
{
	T_RUN(test_parse);
	T_RUN(test_striping);
	T_RUN(test_rw_physical);
	T_RUN(test_rw_virtual);
	T_RUN(test_async);
	T_RUN(test_set_size);
	T_RUN(test_unmap);
	T_RUN(test_plain_dispatch);
	return T_PASS;
}
