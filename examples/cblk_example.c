/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cblk_example.c - a first program with libcflsh_block (capiblock.h): open
 * a virtual LUN, give it a size, write and read blocks synchronously and
 * asynchronously, then stripe over two LUNs with a RAID0 chunk group.
 *
 * Build: cc cblk_example.c $(pkg-config --cflags --libs cflsh_block)
 *    or: cc cblk_example.c -lcflsh_block
 * Run:   ./cblk_example [LUN]        (default ram:1G, a LUN in memory)
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <capiblock.h>

#define BS 4096 /* every LBA and count is in 4 KiB blocks */

static int fail(const char *what)
{
	fprintf(stderr, "cblk_example: %s: %s\n", what, strerror(errno));
	return 1;
}

int main(int argc, char **argv)
{
	const char *lun = argc > 1 ? argv[1] : "ram:1G";
	char *wbuf = aligned_alloc(BS, 8 * BS), *rbuf = aligned_alloc(BS, 8 * BS);
	cflsh_cg_tag_t cgtag;
	chunk_stats_t stats;
	chunk_id_t id;
	chunk_r0_id_t r0;
	uint64_t status;
	size_t size;
	int tag, rc;

	if (!wbuf || !rbuf)
		return 1;
	cblk_init(NULL, 0);

	/* A virtual LUN: 64 commands, size 0 until cblk_set_size. */
	id = cblk_open(lun, 64, O_RDWR, 0, CBLK_OPN_VIRT_LUN);
	if (id == NULL_CHUNK_ID)
		return fail(lun);
	if (cblk_set_size(id, 1000, 0) < 0 || cblk_get_size(id, &size, 0) < 0)
		return fail("set_size");
	printf("virtual LUN of %zu blocks on %s\n", size, lun);

	/* Synchronous I/O returns the blocks transferred. A virtual LUN moves
	 * one block per request (max_transfer_size), so loop over the blocks. */
	for (int i = 0; i < 8; i++) {
		memset(wbuf + i * BS, 'a' + i, BS);
		if (cblk_write(id, wbuf + i * BS, 100 + i, 1, 0) != 1)
			return fail("write");
	}
	for (int i = 0; i < 8; i++)
		if (cblk_read(id, rbuf + i * BS, 100 + i, 1, 0) != 1)
			return fail("read");
	if (memcmp(wbuf, rbuf, 8 * BS))
		return fprintf(stderr, "cblk_example: data mismatch\n"), 1;

	/* Asynchronous I/O: 0 = issued (poll or wait with cblk_aresult),
	 * > 0 = already complete. */
	memset(rbuf, 0, BS);
	rc = cblk_aread(id, rbuf, 103, 1, &tag, NULL, 0);
	if (rc < 0)
		return fail("aread");
	if (rc == 0 && cblk_aresult(id, &tag, &status, CBLK_ARESULT_BLOCKING) != 1)
		return fail("aresult");
	if (rbuf[0] != 'd')
		return fprintf(stderr, "cblk_example: async data mismatch\n"), 1;

	if (cblk_get_stats(id, &stats, 0) < 0)
		return fail("stats");
	printf("%llu writes, %llu reads, %llu async reads\n",
	       (unsigned long long)stats.num_writes, (unsigned long long)stats.num_reads,
	       (unsigned long long)stats.num_areads);
	if (cblk_close(id, 0) < 0)
		return fail("close");

	/* RAID0 over two in-memory LUNs: block L lives on LUN L % 2. The group
	 * takes the same calls with CBLK_GROUP_RAID0 (or the cblk_cg_* ones). */
	r0 = cblk_cg_open("ram:256M:ram:512M", 64, O_RDWR, 1, 0, CBLK_GROUP_RAID0);
	if (r0 == NULL_CHUNK_ID)
		return fail("RAID0 open");
	if (cblk_cg_get_size(r0, &size, CBLK_GROUP_RAID0) < 0)
		return fail("RAID0 size");
	printf("RAID0 group of %d LUNs, %zu blocks\n",
	       cblk_cg_get_num_chunks(r0, CBLK_GROUP_RAID0), size);
	if (cblk_write(r0, wbuf, 0, 8, CBLK_GROUP_RAID0) != 8)
		return fail("RAID0 write");
	memset(rbuf, 0, 8 * BS);
	if (cblk_cg_read(r0, rbuf, 0, 8, CBLK_GROUP_RAID0) != 8 || memcmp(wbuf, rbuf, 8 * BS))
		return fail("RAID0 read");
	/* An asynchronous request of a group is named by {member chunk, tag}. */
	rc = cblk_cg_aread(r0, rbuf, 5, 1, &cgtag, NULL, CBLK_GROUP_RAID0);
	if (rc == 0)
		rc = cblk_cg_aresult(r0, &cgtag, &status,
				     CBLK_GROUP_RAID0 | CBLK_ARESULT_BLOCKING);
	if (rc != 1 || rbuf[0] != 'f')
		return fail("RAID0 aread");
	if (cblk_cg_close(r0, CBLK_GROUP_RAID0) < 0)
		return fail("RAID0 close");

	cblk_term(NULL, 0);
	free(wbuf);
	free(rbuf);
	printf("ok\n");
	return 0;
}
