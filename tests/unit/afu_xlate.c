/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: resource handle translation and isolation in the AFU: the
 * exact afu_rc of every failure (bad handle, free or invalid entry,
 * out-of-bounds vLBA including a range whose last block is out, RHT and LXT
 * permissions, capability violations, DMA errors through an EA window),
 * no partial I/O on a bad command, a transfer split across non-adjacent
 * chunks, LUN-id mode for real-mode contexts, the intr_status errors of bad
 * control EAs, and a fuzz run that must never reach unmapped chunks.
 */
#include "afu_harness.h"

#define LUN_BYTES (1ull << 30)        /* 4 chunks of 256 MiB */
#define CHUNK     SISL_CHUNK_LBAS

static struct afu *afu;
static struct backend *ram, *ram2;

/* Status of a command that should fail with afu_rc @rc (and nothing else). */
static void expect_afu_rc(const struct sisl_ioasa *sa, uint8_t rc)
{
	if (sa->rc.afu_rc != rc)
		fprintf(stderr, "ioasc %08x: afu_rc %02x, expected %02x\n", sa->ioasc,
			sa->rc.afu_rc, rc);
	T_EQ(sa->rc.afu_rc, rc);
	T_EQ(sa->rc.scsi_rc, 0);
	T_EQ(sa->rc.fc_rc, 0);
}

static void expect_sense(const struct sisl_ioasa *sa, uint8_t key, uint8_t asc)
{
	T_EQ(sa->rc.afu_rc, 0);
	T_EQ(sa->rc.scsi_rc, SISL_SCSI_RC_CHECK);
	T_ASSERT(sa->rc.flags & SISL_RC_FLAGS_SENSE_VALID);
	T_EQ(sa->sense_data[0], 0x70);
	T_EQ(sa->sense_data[2], key);
	T_EQ(sa->sense_data[12], asc);
}

/* A block of the backend holds @byte throughout? */
static bool blocks_are(struct backend *be, uint64_t lba, uint32_t n, uint8_t byte)
{
	uint8_t *b = malloc(n * 4096ull);
	bool ok = true;

	T_ASSERT(b);
	T_EQ(be_read_sync(be, lba, n, b), 0);
	for (uint64_t i = 0; i < n * 4096ull && ok; i++)
		ok = b[i] == byte;
	free(b);
	return ok;
}

static void fill_blocks(struct backend *be, uint64_t lba, uint32_t n, uint8_t byte)
{
	uint8_t *b = malloc(n * 4096ull);

	T_ASSERT(b);
	memset(b, byte, n * 4096ull);
	T_EQ(be_write_sync(be, lba, n, b), 0);
	free(b);
}

static struct sisl_ioasa rw(struct h_ctx *h, bool write, unsigned handle, uint64_t lba,
			    uint32_t n, void *buf)
{
	struct sisl_ioarcb rcb;

	h_rw16(h, &rcb, write, handle, lba, n, buf);
	return h_exec(h, &rcb);
}

static void test_handle_errors(void)
{
	struct h_ctx h;
	uint8_t *buf;
	struct sisl_ioasa sa;
	struct sisl_rht_entry_f1 *f1;

	h_open(&h, afu, 16, 16);
	buf = h_alloc(&h, 8 * 4096, 4096);
	h_rht_phys(&h, 0, 0, SISL_RHT_PERM_RW);
	T_EQ(rw(&h, true, 0, 10, 1, buf).ioasc, 0);

	/* handle >= rht_cnt */
	expect_afu_rc((sa = rw(&h, false, H_RHT_CNT, 0, 1, buf), &sa), SISL_AFU_RC_RHT_OUT_OF_BOUNDS);
	expect_afu_rc((sa = rw(&h, false, 0xFFFFFFFFu, 0, 1, buf), &sa), SISL_AFU_RC_RHT_OUT_OF_BOUNDS);
	/* free entry */
	expect_afu_rc((sa = rw(&h, false, 3, 0, 1, buf), &sa), SISL_AFU_RC_RHT_INVALID);
	/* format 1 without the valid bit */
	h_rht_phys(&h, 4, 0, SISL_RHT_PERM_RW);
	afu_xlate_lock(h.ctx);
	f1 = (struct sisl_rht_entry_f1 *)&h.rht[4];
	f1->valid = 0;
	afu_xlate_unlock(h.ctx);
	expect_afu_rc((sa = rw(&h, false, 4, 0, 1, buf), &sa), SISL_AFU_RC_RHT_INVALID);
	/* format 1 naming an empty LUN slot */
	h_rht_phys(&h, 5, 77, SISL_RHT_PERM_RW);
	expect_afu_rc((sa = rw(&h, false, 5, 0, 1, buf), &sa), SISL_AFU_RC_RHT_INVALID);
	/* an unknown format */
	afu_xlate_lock(h.ctx);
	h.rht[6].fp = SISL_RHT_FP(2, SISL_RHT_PERM_RW);
	h.rht[6].nmask = 16;
	afu_xlate_unlock(h.ctx);
	expect_afu_rc((sa = rw(&h, false, 6, 0, 1, buf), &sa), SISL_AFU_RC_RHT_INVALID);

	/* RHT permissions */
	h_rht_phys(&h, 7, 0, SISL_RHT_PERM_READ);
	fill_blocks(ram, 20, 1, 0x11);
	expect_afu_rc((sa = rw(&h, true, 7, 20, 1, buf), &sa), SISL_AFU_RC_RHT_RW_PERM);
	T_ASSERT(blocks_are(ram, 20, 1, 0x11));
	T_EQ(rw(&h, false, 7, 20, 1, buf).ioasc, 0);
	h_rht_phys(&h, 8, 0, SISL_RHT_PERM_WRITE);
	expect_afu_rc((sa = rw(&h, false, 8, 20, 1, buf), &sa), SISL_AFU_RC_RHT_RW_PERM);
	T_EQ(rw(&h, true, 8, 20, 1, buf).ioasc, 0);

	/* Physical LBA beyond the LUN: SCSI LBA OUT OF RANGE, nothing written. */
	fill_blocks(ram, LUN_BYTES / 4096 - 2, 2, 0x22);
	sa = rw(&h, true, 0, LUN_BYTES / 4096 - 2, 4, buf);
	expect_sense(&sa, 0x05, 0x21);
	T_ASSERT(blocks_are(ram, LUN_BYTES / 4096 - 2, 2, 0x22));
	sa = rw(&h, false, 0, UINT64_MAX, 2, buf);
	expect_sense(&sa, 0x05, 0x21);
	h_close(&h);
}

static void test_flags_and_caps(void)
{
	struct h_ctx h;
	struct sisl_ioarcb rcb;
	struct sisl_ioasa sa;
	uint8_t *buf;

	/* A user context must use a resource handle. */
	h_open(&h, afu, 16, 16);
	buf = h_alloc(&h, 4096, 4096);
	h_rht_phys(&h, 0, 0, SISL_RHT_PERM_RW);
	h_rw16(&h, &rcb, false, 0, 0, 1, buf);
	rcb.req_flags &= ~SISL_REQ_FLAGS_RES_HNDL;
	sa = h_exec(&h, &rcb);
	expect_afu_rc(&sa, SISL_AFU_RC_CAP_VIOLATION);
	/* ... and may not issue AFU commands. */
	h_rw16(&h, &rcb, false, 0, 0, 1, buf);
	rcb.req_flags |= SISL_REQ_FLAGS_AFU_CMD;
	rcb.cdb[0] = SISL_AFU_CMD_SYNC;
	sa = h_exec(&h, &rcb);
	expect_afu_rc(&sa, SISL_AFU_RC_CAP_VIOLATION);
	/* ... nor task management. */
	h_rw16(&h, &rcb, false, 0, 0, 1, buf);
	rcb.req_flags |= SISL_REQ_FLAGS_TMF_CMD;
	sa = h_exec(&h, &rcb);
	expect_afu_rc(&sa, SISL_AFU_RC_CAP_VIOLATION);
	/* The ctx_id field is ignored: the window decides. */
	h_rw16(&h, &rcb, false, 0, 0, 1, buf);
	rcb.ctx_id = 0x1234;
	T_EQ(h_exec(&h, &rcb).ioasc, 0);
	h_close(&h);

	/* A read-only context cannot write (the CDB decides, not req_flags). */
	h_open_ex(&h, afu, SISL_CTX_CAP_READ_CMD, 16, 16, true, 16);
	buf = h_alloc(&h, 4096, 4096);
	h_rht_phys(&h, 0, 0, SISL_RHT_PERM_RW);
	h_rw16(&h, &rcb, true, 0, 0, 1, buf);
	rcb.req_flags &= ~SISL_REQ_FLAGS_HOST_WRITE;
	sa = h_exec(&h, &rcb);
	expect_afu_rc(&sa, SISL_AFU_RC_CAP_VIOLATION);
	T_EQ(rw(&h, false, 0, 0, 1, buf).ioasc, 0);
	h_close(&h);

	/* A write-only context cannot read. */
	h_open_ex(&h, afu, SISL_CTX_CAP_WRITE_CMD, 16, 16, true, 16);
	buf = h_alloc(&h, 4096, 4096);
	h_rht_phys(&h, 0, 0, SISL_RHT_PERM_RW);
	sa = rw(&h, false, 0, 0, 1, buf);
	expect_afu_rc(&sa, SISL_AFU_RC_CAP_VIOLATION);
	h_close(&h);
}

/* Real-mode contexts address LUNs by table index when RES_HNDL is clear. */
static void test_lun_id_mode(void)
{
	struct h_ctx h;
	struct sisl_ioarcb rcb;
	struct sisl_ioasa sa;
	uint8_t *buf;
	uint64_t cap = SISL_CTX_CAP_REAL_MODE | SISL_CTX_CAP_HOST_XLATE | SISL_CTX_CAP_READ_CMD |
		       SISL_CTX_CAP_WRITE_CMD | SISL_CTX_CAP_AFU_CMD | SISL_CTX_CAP_GSCSI_CMD;

	h_open_ex(&h, afu, cap, 16, 16, true, 16);
	buf = h_alloc(&h, 2 * 4096, 4096);
	t_pattern_fill(buf, 2 * 4096, 5, 300);
	h_rw16(&h, &rcb, true, 0, 300, 2, buf);
	rcb.req_flags &= ~SISL_REQ_FLAGS_RES_HNDL;
	rcb.lun_id = 1;
	T_EQ(h_exec(&h, &rcb).ioasc, 0);
	memset(buf, 0, 2 * 4096);
	T_EQ(be_read_sync(ram2, 300, 2, buf), 0);
	T_EQ(t_pattern_check(buf, 2 * 4096, 5, 300), 0);
	/* An empty slot: LOGICAL UNIT NOT SUPPORTED. */
	rcb.lun_id = 9;
	sa = h_exec(&h, &rcb);
	expect_sense(&sa, 0x05, 0x25);
	/* AFU sync commands (LW) complete; task management completes. */
	h_rw16(&h, &rcb, false, 0, 0, 0, NULL);
	rcb.req_flags = SISL_REQ_FLAGS_AFU_CMD;
	memset(rcb.cdb, 0, 16);
	rcb.cdb[0] = SISL_AFU_CMD_SYNC;
	rcb.cdb[1] = SISL_AFU_LW_SYNC;
	T_EQ(h_exec(&h, &rcb).ioasc, 0);
	rcb.req_flags = SISL_REQ_FLAGS_TMF_CMD;
	T_EQ(h_exec(&h, &rcb).ioasc, 0);
	h_close(&h);
}

/* A virtual LUN of 3 chunks: LXT [2, 0, 3] of LUN 0 (chunk 1 unmapped). */
static struct sisl_lxt_entry vlxt[3];

/* Change an LXT entry as the master would: under the xlate lock. */
static void set_lxt(struct h_ctx *h, unsigned i, uint64_t v)
{
	afu_xlate_lock(h->ctx);
	vlxt[i].rlba_base = v;
	afu_xlate_unlock(h->ctx);
}

static void test_virtual(void)
{
	struct h_ctx h;
	struct sisl_ioasa sa;
	uint8_t *buf, *chk;

	vlxt[0].rlba_base = h_lxt(2, 0, SISL_RHT_PERM_RW);
	vlxt[1].rlba_base = h_lxt(0, 0, SISL_RHT_PERM_RW);
	vlxt[2].rlba_base = h_lxt(3, 0, SISL_RHT_PERM_READ);
	h_open(&h, afu, 16, 16);
	buf = h_alloc(&h, 64 * 4096, 4096);
	chk = malloc(64 * 4096);
	T_ASSERT(chk);
	h_rht_virt(&h, 2, vlxt, 3, SISL_RHT_PERM_RW);

	/* Across the chunk 0/1 boundary: physical chunk 2's end, then chunk 0. */
	fill_blocks(ram, 0, 8, 0);
	t_pattern_fill(buf, 8 * 4096, 9, CHUNK - 4);
	T_EQ(rw(&h, true, 2, CHUNK - 4, 8, buf).ioasc, 0);
	T_EQ(be_read_sync(ram, 2 * CHUNK + CHUNK - 4, 4, chk), 0);
	T_EQ(be_read_sync(ram, 0, 4, chk + 4 * 4096), 0);
	T_EQ(t_pattern_check(chk, 8 * 4096, 9, CHUNK - 4), 0);
	memset(buf, 0, 8 * 4096);
	T_EQ(rw(&h, false, 2, CHUNK - 4, 8, buf).ioasc, 0);
	T_EQ(t_pattern_check(buf, 8 * 4096, 9, CHUNK - 4), 0);

	/* vLBA beyond lxt_cnt << 16 */
	sa = rw(&h, false, 2, 3 * CHUNK, 1, buf);
	expect_afu_rc(&sa, SISL_AFU_RC_LXT_OUT_OF_BOUNDS);
	sa = rw(&h, false, 2, UINT64_MAX - 1, 4, buf);
	expect_afu_rc(&sa, SISL_AFU_RC_LXT_OUT_OF_BOUNDS);
	/* ... a range whose last block is out: no partial write. */
	fill_blocks(ram, 3 * CHUNK + CHUNK - 2, 2, 0x33);
	sa = rw(&h, true, 2, 3 * CHUNK - 2, 4, buf);
	expect_afu_rc(&sa, SISL_AFU_RC_LXT_OUT_OF_BOUNDS);
	T_ASSERT(blocks_are(ram, 3 * CHUNK + CHUNK - 2, 2, 0x33));

	/* LXT permission: chunk 2 of the vLUN is read-only. */
	sa = rw(&h, true, 2, 2 * CHUNK + 5, 1, buf);
	expect_afu_rc(&sa, SISL_AFU_RC_LXT_RW_PERM);
	T_EQ(rw(&h, false, 2, 2 * CHUNK + 5, 1, buf).ioasc, 0);
	/* ... and a write spanning into it is refused as a whole. */
	fill_blocks(ram, 0 * CHUNK + CHUNK - 1, 1, 0x44);
	sa = rw(&h, true, 2, 2 * CHUNK - 1, 2, buf);
	expect_afu_rc(&sa, SISL_AFU_RC_LXT_RW_PERM);
	T_ASSERT(blocks_are(ram, CHUNK - 1, 1, 0x44));

	/* RHT permission on a virtual entry. */
	h_rht_virt(&h, 3, vlxt, 3, SISL_RHT_PERM_READ);
	sa = rw(&h, true, 3, 0, 1, buf);
	expect_afu_rc(&sa, SISL_AFU_RC_RHT_RW_PERM);

	/* An LXT entry naming an empty LUN slot. */
	set_lxt(&h, 2, h_lxt(0, 200, SISL_RHT_PERM_RW));
	sa = rw(&h, false, 2, 2 * CHUNK, 1, buf);
	expect_afu_rc(&sa, SISL_AFU_RC_RHT_INVALID);
	/* ... or a chunk beyond its LUN: LBA OUT OF RANGE. */
	set_lxt(&h, 2, h_lxt(9, 0, SISL_RHT_PERM_RW));
	sa = rw(&h, false, 2, 2 * CHUNK, 1, buf);
	expect_sense(&sa, 0x05, 0x21);
	/* Chunks on two LUNs. */
	set_lxt(&h, 2, h_lxt(1, 1, SISL_RHT_PERM_RW));
	t_pattern_fill(buf, 4 * 4096, 12, 2 * CHUNK - 2);
	T_EQ(rw(&h, true, 2, 2 * CHUNK - 2, 4, buf).ioasc, 0);
	T_EQ(be_read_sync(ram, CHUNK - 2, 2, chk), 0);
	T_EQ(be_read_sync(ram2, CHUNK, 2, chk + 2 * 4096), 0);
	T_EQ(t_pattern_check(chk, 4 * 4096, 12, 2 * CHUNK - 2), 0);

	/* A zero-length transfer is good and moves nothing. */
	T_EQ(rw(&h, false, 2, 0, 0, NULL).ioasc, 0);
	free(chk);
	h_close(&h);
}

/* EA window mode: data outside the window is a DMA error. */
static void test_dma_window(void)
{
	struct h_ctx h;
	struct sisl_ioarcb rcb;
	struct sisl_ioasa sa;
	uint8_t *buf;

	h_open_ex(&h, afu, 0, 16, 16, false, 4);
	buf = h_alloc(&h, 4 * 4096, 4096);
	h_rht_phys(&h, 0, 0, SISL_RHT_PERM_RW);
	t_pattern_fill(buf, 4 * 4096, 3, 40);
	T_EQ(rw(&h, true, 0, 40, 4, buf).ioasc, 0);
	memset(buf, 0, 4 * 4096);
	T_EQ(rw(&h, false, 0, 40, 4, buf).ioasc, 0);
	T_EQ(t_pattern_check(buf, 4 * 4096, 3, 40), 0);

	/* Below, beyond, and straddling the end of the window. */
	fill_blocks(ram, 40, 1, 0x55);
	h_rw16(&h, &rcb, true, 0, 40, 1, buf);
	rcb.data_ea = H_WIN_BASE - 4096;
	sa = h_exec(&h, &rcb);
	expect_afu_rc(&sa, SISL_AFU_RC_DATA_DMA_ERR);
	T_EQ(sa.afu_extra, SISL_AFU_DMA_ERR_INVALID_EA);
	rcb.data_ea = H_WIN_BASE + h.arena_size;
	expect_afu_rc((sa = h_exec(&h, &rcb), &sa), SISL_AFU_RC_DATA_DMA_ERR);
	rcb.data_ea = H_WIN_BASE + h.arena_size - 2048;
	expect_afu_rc((sa = h_exec(&h, &rcb), &sa), SISL_AFU_RC_DATA_DMA_ERR);
	rcb.data_ea = (uint64_t)(uintptr_t)buf;     /* a real pointer is not an EA here */
	expect_afu_rc((sa = h_exec(&h, &rcb), &sa), SISL_AFU_RC_DATA_DMA_ERR);
	rcb.data_ea = UINT64_MAX - 100;
	expect_afu_rc((sa = h_exec(&h, &rcb), &sa), SISL_AFU_RC_DATA_DMA_ERR);
	T_ASSERT(blocks_are(ram, 40, 1, 0x55));

	/* An IOASA EA outside the window: PERM_ERR_SA_WRITE, no completion. */
	h_rw16(&h, &rcb, false, 0, 40, 1, buf);
	rcb.sq_ioasa_ea = 0;
	h.sq[h.sq_tail] = rcb;
	h.sq[h.sq_tail].sq_ioasa_ea = H_WIN_BASE - 64;
	h.sq_tail = (h.sq_tail + 1) % h.sq_n;
	sisl_write64(&h.map->sq_tail, h_ea(&h, &h.sq[h.sq_tail]));
	sisl_ring_doorbell(h.map);
	T_EQ(h_reap(&h, 100), 0);
	T_ASSERT(sisl_read64(&h.map->intr_status) & SISL_ISTATUS_PERM_ERR_SA_WRITE);
	/* intr_clear clears it. */
	sisl_write64(&h.map->intr_clear, SISL_ISTATUS_PERM_ERR_SA_WRITE);
	sisl_ring_doorbell(h.map);
	for (int i = 0; i < 1000 && sisl_read64(&h.map->intr_status); i++)
		h_sleep_us(1000);
	T_EQ(sisl_read64(&h.map->intr_status), 0);
	T_EQ(sisl_read64(&h.map->intr_clear), 0);

	/* An IOARCB EA outside the window (IOARRIN): PERM_ERR_RCB_READ. */
	T_EQ(sisl_ioarrin_write(h.map, (uint64_t)(uintptr_t)&h.cmds[0]), 0);
	for (int i = 0; i < 1000 && !sisl_read64(&h.map->intr_status); i++)
		h_sleep_us(1000);
	T_EQ(sisl_read64(&h.map->intr_status), SISL_ISTATUS_PERM_ERR_RCB_READ);
	T_EQ(sisl_read64(&h.map->ioarrin), 0);
	/* An SQ tail off the slot grid: PERM_ERR_RCB_READ, ignored. */
	sisl_write64(&h.map->intr_clear, SISL_ISTATUS_PERM_ERR_RCB_READ);
	sisl_ring_doorbell(h.map);
	for (int i = 0; i < 1000 && sisl_read64(&h.map->intr_status); i++)
		h_sleep_us(1000);
	T_EQ(sisl_read64(&h.map->intr_status), 0);
	sisl_write64(&h.map->sq_tail, h_ea(&h, &h.sq[h.sq_tail]) + 8);
	sisl_ring_doorbell(h.map);
	for (int i = 0; i < 1000 && !(sisl_read64(&h.map->intr_status) & SISL_ISTATUS_PERM_ERR_RCB_READ); i++)
		h_sleep_us(1000);
	T_EQ(sisl_read64(&h.map->intr_status), SISL_ISTATUS_PERM_ERR_RCB_READ);
	/* A good tail again works. */
	sisl_write64(&h.map->sq_tail, h_ea(&h, &h.sq[h.sq_tail]));
	T_EQ(rw(&h, false, 0, 40, 1, buf).ioasc, 0);
	h_close(&h);
}

/* A bad HRRQ: PERM_ERR_RRQ_WRITE and every command dropped until a reset. */
static void test_bad_hrrq(void)
{
	struct h_ctx h;
	struct sisl_ioarcb rcb;
	uint8_t *buf;

	h_open_ex(&h, afu, 0, 16, 16, false, 4);
	buf = h_alloc(&h, 4096, 4096);
	h_rht_phys(&h, 0, 0, SISL_RHT_PERM_RW);
	sisl_write64(&h.map->rrq_end, H_WIN_BASE + h.arena_size);  /* past the window */
	fill_blocks(ram, 60, 1, 0x66);
	memset(buf, 0x77, 4096);
	h_rw16(&h, &rcb, true, 0, 60, 1, buf);
	h_sq_submit(&h, &rcb, 0);
	for (int i = 0; i < 1000 && !sisl_read64(&h.map->intr_status); i++)
		h_sleep_us(1000);
	T_EQ(sisl_read64(&h.map->intr_status), SISL_ISTATUS_PERM_ERR_RRQ_WRITE);
	T_EQ(h_reap(&h, 50), 0);
	T_ASSERT(blocks_are(ram, 60, 1, 0x66));    /* dropped, not executed */

	/* Reset, program a good HRRQ, and it works. */
	sisl_write64(&h.map->sq_ctx_reset, 1);
	sisl_ring_doorbell(h.map);
	for (int i = 0; i < 1000 && sisl_read64(&h.map->sq_ctx_reset); i++)
		h_sleep_us(1000);
	T_EQ(sisl_read64(&h.map->sq_ctx_reset), 0);
	T_EQ(sisl_read64(&h.map->intr_status), 0);
	h_hrrq_init(&h);
	h_sq_init(&h);
	T_EQ(h_exec(&h, &rcb).ioasc, 0);
	T_ASSERT(blocks_are(ram, 60, 1, 0x77));
	h_close(&h);
}

/*
 * Isolation fuzz: a context whose only handle maps vLUN chunks to physical
 * chunks 1 and 2 of LUN 0 fires random commands (random opcodes, flags,
 * handles, LBAs, lengths, data EAs) through a bounded EA window. Chunks 0
 * and 3 and LUN 1 must never change, and every command completes.
 */
static void test_fuzz_isolation(void)
{
	static const uint8_t ops[] = { 0x8A, 0x2A, 0x93, 0x42, 0x88, 0x28, 0x12, 0x9E,
				       0xA0, 0x00, 0x35, 0x91, 0xC0, 0xFF };
	struct sisl_lxt_entry lxt[2];
	struct h_ctx h;
	uint8_t *buf;
	uint64_t seed = 2024;
	unsigned ncmds = 20000;

	fill_blocks(ram, CHUNK - 8, 8, 0xC3);       /* end of chunk 0 */
	fill_blocks(ram, 3 * CHUNK, 8, 0xC3);       /* start of chunk 3 */
	fill_blocks(ram2, 0, 8, 0xC3);
	lxt[0].rlba_base = h_lxt(1, 0, SISL_RHT_PERM_RW);
	lxt[1].rlba_base = h_lxt(2, 0, SISL_RHT_PERM_RW);
	h_open_ex(&h, afu, 0, 64, 64, false, 16);
	buf = h_alloc(&h, 8 << 20, 4096);
	memset(buf, 0xE1, 8 << 20);
	h_rht_virt(&h, 1, lxt, 2, SISL_RHT_PERM_RW);

	for (unsigned i = 0; i < ncmds; i++) {
		struct sisl_ioarcb rcb;
		uint64_t r = t_rand(&seed), ea;
		uint8_t *cdb = rcb.cdb;

		for (unsigned k = 0; k < sizeof(rcb) / 8; k++)
			((uint64_t *)&rcb)[k] = t_rand(&seed);
		rcb.req_flags = (uint16_t)((r & 1 ? SISL_REQ_FLAGS_RES_HNDL : 0) |
					   (r & 0x30 ? 0 : (r >> 8) & 0x4007));
		rcb.res_hndl = r & 0x300 ? 1 : (uint32_t)(r >> 16) % 20;
		cdb[0] = ops[(r >> 24) % sizeof(ops)];
		if (r & 0x4000) {       /* plausible LBAs near the chunk edges */
			uint64_t lba = ((r >> 32) % 3) * CHUNK - 16 + (r >> 40) % 32;

			put_be64(cdb + 2, lba);
			put_be32(cdb + 2, (uint32_t)lba);
		}
		if (r & 0x8000)
			put_be32(cdb + 10, (uint32_t)(r >> 48) % 64);
		if (r & 0x10000)
			put_be16(cdb + 7, (uint16_t)(r >> 48) % 128);
		if (r & 0x20000)
			cdb[1] &= 0x09;
		rcb.data_ea = r & 0x40000 ? h_ea(&h, buf) + ((r >> 20) % 4096) * 8 : rcb.data_ea;
		if (r & 0x80000)
			rcb.data_len %= 1 << 20;
		h_sq_submit(&h, &rcb, i % 32);
		ea = h_reap(&h, 5000);
		T_ASSERT(ea);
	}
	T_ASSERT(blocks_are(ram, CHUNK - 8, 8, 0xC3));
	T_ASSERT(blocks_are(ram, 3 * CHUNK, 8, 0xC3));
	T_ASSERT(blocks_are(ram2, 0, 8, 0xC3));
	{
		struct afu_ctx_stats st;

		afu_ctx_stats(h.ctx, &st);
		T_EQ(st.cmds, ncmds);
		fprintf(stderr, "   %u random commands: %llu failed, %llu blocks written\n", ncmds,
			(unsigned long long)st.errors, (unsigned long long)st.blocks_written);
	}
	h_close(&h);
}

int main(void)
{
	uint8_t wwid[16];

	afu = h_afu(1, 50);
	ram = h_ram(LUN_BYTES);
	ram2 = h_ram(LUN_BYTES);
	h_wwid(wwid, 1);
	afu_set_lun(afu, 0, ram, wwid);
	h_wwid(wwid, 2);
	afu_set_lun(afu, 1, ram2, wwid);

	T_RUN(test_handle_errors);
	T_RUN(test_flags_and_caps);
	T_RUN(test_lun_id_mode);
	T_RUN(test_virtual);
	T_RUN(test_dma_window);
	T_RUN(test_bad_hrrq);
	T_RUN(test_fuzz_isolation);

	afu_destroy(afu);
	be_close(ram);
	be_close(ram2);
	return T_PASS;
}
