/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: every SCSI command the AFU executes, with its data and its
 * sense: INQUIRY (standard data, VPD 00 80 83 B0 B2, bad pages, allocation
 * length, underrun/overrun), READ CAPACITY(16) physical and virtual, WRITE
 * SAME(16) with and without UNMAP/NDOB, UNMAP, SYNCHRONIZE CACHE(10/16),
 * TEST UNIT READY, REPORT LUNS, READ/WRITE(10), transfer limits and
 * residuals, an unknown opcode, and backend failures as MEDIUM ERROR.
 */
#include "afu_harness.h"

#define LUN_BYTES (1ull << 30)
#define NBLOCKS   (LUN_BYTES / 4096)
#define CHUNK     SISL_CHUNK_LBAS

static struct afu *afu;
static struct backend *ram;
static struct h_ctx h;
static uint8_t *buf;
static uint8_t wwid0[16];

/* ---------------------------------------------------------------------------
 * A backend that fails: LBAs 100..109 complete with -EIO, 200..209 are
 * refused by submit, and FLUSH fails while fail_flush is set. Everything
 * else goes to a RAM backend.
 */
struct err_be {
	struct backend be;
	struct backend *inner;
};
static bool fail_flush;

static int err_submit(struct backend *be, struct be_engine *eng, struct be_io *io)
{
	struct err_be *e = (struct err_be *)be;

	if (io->op == BE_OP_FLUSH && __atomic_load_n(&fail_flush, __ATOMIC_ACQUIRE)) {
		io->cb(io, -EIO);
		return 0;
	}
	if (io->op != BE_OP_FLUSH && io->lba < 110 && io->lba + io->nblocks > 100) {
		io->cb(io, -EIO);
		return 0;
	}
	if (io->op != BE_OP_FLUSH && io->lba < 210 && io->lba + io->nblocks > 200)
		return -EIO;
	return e->inner->ops->submit(e->inner, eng, io);
}

static int err_io_sync(struct backend *be, enum be_op op, uint64_t lba, uint32_t n, void *b)
{
	return ((struct err_be *)be)->inner->ops->io_sync(((struct err_be *)be)->inner, op, lba, n, b);
}

static void err_destroy(struct backend *be)
{
	be_close(((struct err_be *)be)->inner);
	free(be);
}

static const struct backend_ops err_ops = {
	.name = "err",
	.submit = err_submit,
	.io_sync = err_io_sync,
	.destroy = err_destroy,
};

static struct backend *err_backend(void)
{
	struct err_be *e = calloc(1, sizeof(*e));

	T_ASSERT(e);
	e->inner = h_ram(64ull << 20);
	e->be.ops = &err_ops;
	e->be.nblocks = e->inner->nblocks;
	e->be.lock_fd = -1;
	return &e->be;
}

/* ---------------------------------------------------------------------------
 * Helpers.
 */
static struct sisl_ioasa run(unsigned handle, const uint8_t *cdb, uint32_t len)
{
	struct sisl_ioarcb rcb;

	h_rcb(&h, &rcb, handle, cdb, 16, len ? buf : NULL, len);
	return h_exec(&h, &rcb);
}

static void expect_good(const struct sisl_ioasa *sa)
{
	if (sa->ioasc)
		fprintf(stderr, "ioasc %08x key %x asc %02x\n", sa->ioasc, sa->sense_data[2],
			sa->sense_data[12]);
	T_EQ(sa->ioasc, 0);
}

static void expect_sense(const struct sisl_ioasa *sa, uint8_t key, uint8_t asc)
{
	if (sa->sense_data[2] != key || sa->sense_data[12] != asc)
		fprintf(stderr, "ioasc %08x key %x asc %02x; expected key %x asc %02x\n",
			sa->ioasc, sa->sense_data[2], sa->sense_data[12], key, asc);
	T_EQ(sa->rc.afu_rc, 0);
	T_EQ(sa->rc.scsi_rc, SISL_SCSI_RC_CHECK);
	T_ASSERT(sa->rc.flags & SISL_RC_FLAGS_SENSE_VALID);
	T_EQ(sa->sense_data[0], 0x70);
	T_EQ(sa->sense_data[2], key);
	T_EQ(sa->sense_data[7], 10);
	T_EQ(sa->sense_data[12], asc);
	T_EQ(sa->sense_data[13], 0);
}

static bool all_bytes(const uint8_t *p, size_t n, uint8_t v)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != v)
			return false;
	return true;
}

static bool lun_blocks_are(uint64_t lba, uint32_t n, uint8_t v)
{
	uint8_t *b = malloc(n * 4096ull);
	bool ok;

	T_ASSERT(b);
	T_EQ(be_read_sync(ram, lba, n, b), 0);
	ok = all_bytes(b, n * 4096ull, v);
	free(b);
	return ok;
}

static void lun_fill(uint64_t lba, uint32_t n, uint8_t v)
{
	uint8_t *b = malloc(n * 4096ull);

	T_ASSERT(b);
	memset(b, v, n * 4096ull);
	T_EQ(be_write_sync(ram, lba, n, b), 0);
	free(b);
}

/* ---------------------------------------------------------------------------
 * Cases.
 */
static void test_inquiry_std(void)
{
	uint8_t cdb[16] = { 0x12, 0, 0, 0, 96 };
	struct sisl_ioasa sa;

	memset(buf, 0xEE, 128);
	sa = run(0, cdb, 96);
	/* 36 bytes into a 96-byte buffer: an underrun of 60 */
	T_EQ(sa.rc.flags, SISL_RC_FLAGS_UNDERRUN);
	T_EQ(sa.rc.afu_rc | sa.rc.scsi_rc | sa.rc.fc_rc, 0);
	T_EQ(sa.resid, 60);
	T_EQ(buf[0], 0x00);     /* direct access block device */
	T_EQ(buf[2], 0x06);     /* SPC-4 */
	T_EQ(buf[3] & 0x0F, 2);
	T_EQ(buf[4], 31);
	T_ASSERT(!memcmp(buf + 8, "CXLFLASH", 8));
	T_ASSERT(!memcmp(buf + 16, "SOFTWARE AFU LUN", 16));
	T_ASSERT(!memcmp(buf + 32, "0001", 4));
	T_ASSERT(all_bytes(buf + 36, 60, 0xEE));

	/* SUP_UNDERRUN: good status, resid still says how much. */
	{
		struct sisl_ioarcb rcb;

		h_rcb(&h, &rcb, 0, cdb, 16, buf, 96);
		rcb.req_flags |= SISL_REQ_FLAGS_SUP_UNDERRUN;
		sa = h_exec(&h, &rcb);
		T_EQ(sa.ioasc, 0);
		T_EQ(sa.resid, 60);
	}
	/* Allocation length 5: five bytes. */
	memset(buf, 0xEE, 128);
	cdb[4] = 5;
	sa = run(0, cdb, 36);
	T_EQ(sa.resid, 31);
	T_EQ(buf[4], 31);
	T_EQ(buf[5], 0xEE);
	/* A buffer shorter than what is sent: truncated, OVERRUN. */
	cdb[4] = 36;
	memset(buf, 0xEE, 128);
	sa = run(0, cdb, 20);
	T_EQ(sa.rc.flags, SISL_RC_FLAGS_OVERRUN);
	T_EQ(buf[19], 'T');
	T_EQ(buf[20], 0xEE);
	/* EVPD clear with a page code, and CMDDT: INVALID FIELD IN CDB. */
	cdb[2] = 0x80;
	sa = run(0, cdb, 36);
	expect_sense(&sa, 0x05, 0x24);
	cdb[1] = 0x02;
	cdb[2] = 0;
	sa = run(0, cdb, 36);
	expect_sense(&sa, 0x05, 0x24);
}

static void inquiry_vpd(unsigned handle, uint8_t page, uint32_t len, struct sisl_ioasa *sa)
{
	uint8_t cdb[16] = { 0x12, 0x01, page };

	put_be16(cdb + 3, 255);
	memset(buf, 0xEE, 256);
	*sa = run(handle, cdb, len);
}

static void test_inquiry_vpd(void)
{
	static const uint8_t supported[] = { 0x00, 0x80, 0x83, 0xB0, 0xB2 };
	struct sisl_ioasa sa;
	char serial[33];

	inquiry_vpd(0, 0x00, 9, &sa);
	expect_good(&sa);
	T_EQ(buf[1], 0x00);
	T_EQ(get_be16(buf + 2), 5);
	T_ASSERT(!memcmp(buf + 4, supported, 5));

	inquiry_vpd(0, 0x80, 36, &sa);
	expect_good(&sa);
	T_EQ(buf[1], 0x80);
	T_EQ(get_be16(buf + 2), 32);
	for (int i = 0; i < 16; i++)
		snprintf(serial + 2 * i, 3, "%02X", wwid0[i]);
	T_ASSERT(!memcmp(buf + 4, serial, 32));

	inquiry_vpd(0, 0x83, 24, &sa);
	expect_good(&sa);
	T_EQ(buf[1], 0x83);
	T_EQ(get_be16(buf + 2), 20);
	T_EQ(buf[4] & 0x0F, 1);         /* binary */
	T_EQ(buf[5] & 0x30, 0x00);      /* associated with the LUN */
	T_EQ(buf[5] & 0x0F, 3);         /* NAA */
	T_EQ(buf[7], 16);
	T_ASSERT(!memcmp(buf + 8, wwid0, 16));

	inquiry_vpd(0, 0xB0, 64, &sa);
	expect_good(&sa);
	T_EQ(buf[1], 0xB0);
	T_EQ(get_be16(buf + 2), 0x3C);
	T_EQ(buf[4] & 1, 1);            /* WSNZ */
	T_EQ(get_be32(buf + 8), AFU_MAX_XFER_BLOCKS);
	T_ASSERT(get_be32(buf + 20) > 0);
	T_ASSERT(get_be32(buf + 24) > 0);
	T_EQ(get_be64(buf + 36), 65536);

	inquiry_vpd(0, 0xB2, 8, &sa);
	expect_good(&sa);
	T_EQ(buf[1], 0xB2);
	T_EQ(get_be16(buf + 2), 4);
	T_EQ(buf[5] & 0xC4, 0xC4);      /* LBPU, LBPWS, LBPRZ */

	/* A virtual handle reports its LUN's identity. */
	inquiry_vpd(2, 0x83, 24, &sa);
	expect_good(&sa);
	T_ASSERT(!memcmp(buf + 8, wwid0, 16));

	inquiry_vpd(0, 0x81, 64, &sa);
	expect_sense(&sa, 0x05, 0x24);
	inquiry_vpd(0, 0xB1, 64, &sa);
	expect_sense(&sa, 0x05, 0x24);
}

static void test_read_capacity(void)
{
	uint8_t cdb[16] = { 0x9E, 0x10 };
	struct sisl_ioasa sa;

	put_be32(cdb + 10, 32);
	sa = run(0, cdb, 32);
	expect_good(&sa);
	T_EQ(get_be64(buf), NBLOCKS - 1);
	T_EQ(get_be32(buf + 8), 4096);
	T_EQ(buf[14] & 0xC0, 0xC0);     /* LBPME, LBPRZ */

	sa = run(2, cdb, 32);           /* virtual: 3 chunks */
	expect_good(&sa);
	T_EQ(get_be64(buf), 3 * CHUNK - 1);
	T_EQ(get_be32(buf + 8), 4096);

	put_be32(cdb + 10, 12);         /* allocation length 12 */
	memset(buf, 0xEE, 32);
	sa = run(0, cdb, 32);
	T_EQ(sa.resid, 20);
	T_EQ(get_be32(buf + 8), 4096);
	T_EQ(buf[12], 0xEE);

	cdb[1] = 0x11;                  /* another service action */
	sa = run(0, cdb, 32);
	expect_sense(&sa, 0x05, 0x24);
	cdb[1] = 0x10;
	sa = run(9, cdb, 32);           /* a free handle */
	T_EQ(sa.rc.afu_rc, SISL_AFU_RC_RHT_INVALID);
}

static void ws16(uint8_t *cdb, uint8_t flags, uint64_t lba, uint32_t n)
{
	memset(cdb, 0, 16);
	cdb[0] = 0x93;
	cdb[1] = flags;
	put_be64(cdb + 2, lba);
	put_be32(cdb + 10, n);
}

static void test_write_same(void)
{
	uint8_t cdb[16], *chk = malloc(300 * 4096);
	struct sisl_ioasa sa;

	T_ASSERT(chk);
	/* A pattern block replicated over 300 blocks (more than one copy buffer). */
	lun_fill(1000, 302, 0x11);
	t_pattern_fill(buf, 4096, 77, 0);
	ws16(cdb, 0, 1001, 300);
	sa = run(0, cdb, 4096);
	expect_good(&sa);
	T_EQ(be_read_sync(ram, 1001, 300, chk), 0);
	for (int i = 0; i < 300; i++)
		T_EQ(t_pattern_check(chk + i * 4096, 4096, 77, 0), 0);
	T_ASSERT(lun_blocks_are(1000, 1, 0x11));
	T_ASSERT(lun_blocks_are(1301, 1, 0x11));

	/* A zero block, with and without UNMAP; NDOB without data. */
	memset(buf, 0, 4096);
	ws16(cdb, 0x08, 1001, 100);
	expect_good((sa = run(0, cdb, 4096), &sa));
	T_ASSERT(lun_blocks_are(1001, 100, 0));
	T_EQ(t_pattern_check(chk + 100 * 4096, 4096, 77, 0), 0);
	ws16(cdb, 0x00, 1101, 100);
	expect_good((sa = run(0, cdb, 4096), &sa));
	T_ASSERT(lun_blocks_are(1101, 100, 0));
	ws16(cdb, 0x01, 1201, 100);
	expect_good((sa = run(0, cdb, 0), &sa));
	T_ASSERT(lun_blocks_are(1201, 100, 0));
	T_ASSERT(lun_blocks_are(1301, 1, 0x11));
	/* UNMAP bit with non-zero data: the data is written. */
	memset(buf, 0x5C, 4096);
	ws16(cdb, 0x08, 1001, 3);
	expect_good((sa = run(0, cdb, 4096), &sa));
	T_ASSERT(lun_blocks_are(1001, 3, 0x5C));

	/* Across a chunk boundary of the virtual LUN (chunks 2 and 0 of LUN 0). */
	lun_fill(3 * CHUNK - 2, 2, 0x11);
	lun_fill(0, 3, 0x11);
	memset(buf, 0x6D, 4096);
	ws16(cdb, 0, CHUNK - 2, 4);
	expect_good((sa = run(2, cdb, 4096), &sa));
	T_ASSERT(lun_blocks_are(3 * CHUNK - 2, 2, 0x6D));
	T_ASSERT(lun_blocks_are(0, 2, 0x6D));
	T_ASSERT(lun_blocks_are(2, 1, 0x11));

	/* Limits: 0 blocks (WSNZ), more than 65536, a short buffer. */
	ws16(cdb, 0, 1001, 0);
	expect_sense((sa = run(0, cdb, 4096), &sa), 0x05, 0x24);
	ws16(cdb, 0, 1001, 65537);
	expect_sense((sa = run(0, cdb, 4096), &sa), 0x05, 0x24);
	ws16(cdb, 0, 1001, 1);
	expect_sense((sa = run(0, cdb, 512), &sa), 0x05, 0x24);
	/* The whole 65536 is fine; past the end of the LUN is not. */
	ws16(cdb, 0x08, NBLOCKS - 65536, 65536);
	memset(buf, 0, 4096);
	expect_good((sa = run(0, cdb, 4096), &sa));
	ws16(cdb, 0, NBLOCKS - 1, 2);
	expect_sense((sa = run(0, cdb, 4096), &sa), 0x05, 0x21);
	free(chk);
}

static void unmap_list(uint8_t *p, unsigned ndesc, const uint64_t *lba, const uint32_t *cnt)
{
	memset(p, 0, 8 + 16 * ndesc);
	put_be16(p, (uint16_t)(6 + 16 * ndesc));
	put_be16(p + 2, (uint16_t)(16 * ndesc));
	for (unsigned i = 0; i < ndesc; i++) {
		put_be64(p + 8 + 16 * i, lba[i]);
		put_be32(p + 8 + 16 * i + 8, cnt[i]);
	}
}

static void test_unmap(void)
{
	uint8_t cdb[16] = { 0x42 };
	uint64_t lba[2] = { 2000, 2100 };
	uint32_t cnt[2] = { 10, 20 };
	struct sisl_ioasa sa;

	lun_fill(1999, 130, 0x22);
	unmap_list(buf, 2, lba, cnt);
	put_be16(cdb + 7, 8 + 32);
	expect_good((sa = run(0, cdb, 40), &sa));
	T_ASSERT(lun_blocks_are(2000, 10, 0));
	T_ASSERT(lun_blocks_are(2100, 20, 0));
	T_ASSERT(lun_blocks_are(1999, 1, 0x22));
	T_ASSERT(lun_blocks_are(2010, 90, 0x22));
	T_ASSERT(lun_blocks_are(2120, 1, 0x22));

	/* A parameter list length of 0 does nothing; 1..7 is an error. */
	put_be16(cdb + 7, 0);
	expect_good((sa = run(0, cdb, 0), &sa));
	put_be16(cdb + 7, 4);
	expect_sense((sa = run(0, cdb, 40), &sa), 0x05, 0x1A);
	/* data_len shorter than the list */
	put_be16(cdb + 7, 40);
	expect_sense((sa = run(0, cdb, 24), &sa), 0x05, 0x24);
	/* A range past the end: LBA OUT OF RANGE, nothing unmapped. */
	lun_fill(2000, 10, 0x22);
	lba[1] = NBLOCKS - 5;
	unmap_list(buf, 2, lba, cnt);
	expect_sense((sa = run(0, cdb, 40), &sa), 0x05, 0x21);
	T_ASSERT(lun_blocks_are(2000, 10, 0x22));
	/* Too many descriptors: INVALID FIELD IN PARAMETER LIST. */
	{
		uint64_t l[100];
		uint32_t c[100];

		for (int i = 0; i < 100; i++) {
			l[i] = 5000 + 2 * i;
			c[i] = 1;
		}
		unmap_list(buf, 100, l, c);
		put_be16(cdb + 7, 8 + 1600);
		expect_sense((sa = run(0, cdb, 8 + 1600), &sa), 0x05, 0x26);
	}
	/* Through the virtual handle, across its chunk boundary. */
	lun_fill(3 * CHUNK - 1, 1, 0x22);
	lun_fill(0, 2, 0x22);
	lba[0] = CHUNK - 1;
	cnt[0] = 2;
	unmap_list(buf, 1, lba, cnt);
	put_be16(cdb + 7, 24);
	expect_good((sa = run(2, cdb, 24), &sa));
	T_ASSERT(lun_blocks_are(3 * CHUNK - 1, 1, 0));
	T_ASSERT(lun_blocks_are(0, 1, 0));
	T_ASSERT(lun_blocks_are(1, 1, 0x22));
	/* A read-only handle may not unmap. */
	sa = run(3, cdb, 24);
	T_EQ(sa.rc.afu_rc, SISL_AFU_RC_RHT_RW_PERM);
}

static void test_sync_tur_report(void)
{
	uint8_t sc10[16] = { 0x35 }, sc16[16] = { 0x91 }, tur[16] = { 0 };
	uint8_t rl[16] = { 0xA0 };
	struct sisl_ioasa sa;

	expect_good((sa = run(0, sc10, 0), &sa));
	expect_good((sa = run(0, sc16, 0), &sa));
	expect_good((sa = run(2, sc16, 0), &sa));
	expect_good((sa = run(0, tur, 0), &sa));
	expect_good((sa = run(2, tur, 0), &sa));
	T_EQ((sa = run(9, tur, 0)).rc.afu_rc, SISL_AFU_RC_RHT_INVALID);
	T_EQ((sa = run(99, tur, 0)).rc.afu_rc, SISL_AFU_RC_RHT_OUT_OF_BOUNDS);

	put_be32(rl + 6, 64);
	memset(buf, 0xEE, 64);
	sa = run(0, rl, 64);
	T_EQ(sa.rc.flags, SISL_RC_FLAGS_UNDERRUN);
	T_EQ(sa.resid, 48);
	T_EQ(get_be32(buf), 8);         /* one LUN */
	T_ASSERT(all_bytes(buf + 4, 12, 0));
	T_EQ(buf[16], 0xEE);
	put_be32(rl + 6, 15);
	expect_sense((sa = run(0, rl, 64), &sa), 0x05, 0x24);
}

static void test_rw10_and_limits(void)
{
	uint8_t cdb[16];
	struct sisl_ioasa sa;
	struct sisl_ioarcb rcb;

	memset(cdb, 0, 16);
	cdb[0] = 0x2A;
	put_be32(cdb + 2, 4242);
	put_be16(cdb + 7, 3);
	t_pattern_fill(buf, 3 * 4096, 8, 4242);
	expect_good((sa = run(0, cdb, 3 * 4096), &sa));
	cdb[0] = 0x28;
	memset(buf, 0, 3 * 4096);
	expect_good((sa = run(0, cdb, 3 * 4096), &sa));
	T_EQ(t_pattern_check(buf, 3 * 4096, 8, 4242), 0);
	/* A longer buffer: resid and UNDERRUN. */
	sa = run(0, cdb, 5 * 4096);
	T_EQ(sa.rc.flags, SISL_RC_FLAGS_UNDERRUN);
	T_EQ(sa.resid, 2 * 4096);
	/* A shorter buffer: INVALID FIELD IN CDB. */
	expect_sense((sa = run(0, cdb, 2 * 4096), &sa), 0x05, 0x24);
	/* Transfer length 0: good, no transfer. */
	put_be16(cdb + 7, 0);
	expect_good((sa = run(0, cdb, 0), &sa));
	/* More than the maximum transfer. */
	h_rw16(&h, &rcb, false, 0, 0, AFU_MAX_XFER_BLOCKS + 1, buf);
	expect_sense((sa = h_exec(&h, &rcb), &sa), 0x05, 0x24);
	/* An unknown opcode. */
	memset(cdb, 0, 16);
	cdb[0] = 0x5A;
	expect_sense((sa = run(0, cdb, 0), &sa), 0x05, 0x20);
	cdb[0] = 0x25;  /* READ CAPACITY(10) is not offered either */
	expect_sense((sa = run(0, cdb, 8), &sa), 0x05, 0x20);
}

static void test_medium_errors(void)
{
	struct sisl_ioarcb rcb;
	struct sisl_ioasa sa;
	uint8_t sc[16] = { 0x35 };

	/* Handle 4 -> LUN 1, the failing backend. */
	h_rw16(&h, &rcb, false, 4, 98, 4, buf);       /* completes with -EIO */
	expect_sense((sa = h_exec(&h, &rcb), &sa), 0x03, 0x11);
	h_rw16(&h, &rcb, true, 4, 105, 1, buf);
	expect_sense((sa = h_exec(&h, &rcb), &sa), 0x03, 0x0C);
	h_rw16(&h, &rcb, false, 4, 200, 1, buf);      /* refused by submit */
	expect_sense((sa = h_exec(&h, &rcb), &sa), 0x03, 0x11);
	h_rw16(&h, &rcb, false, 4, 300, 1, buf);
	expect_good((sa = h_exec(&h, &rcb), &sa));
	__atomic_store_n(&fail_flush, true, __ATOMIC_RELEASE);
	expect_sense((sa = run(4, sc, 0), &sa), 0x03, 0x0C);
	__atomic_store_n(&fail_flush, false, __ATOMIC_RELEASE);
	expect_good((sa = run(4, sc, 0), &sa));
}

int main(void)
{
	static struct sisl_lxt_entry lxt[3];
	struct backend *bad;
	uint8_t wwid1[16];

	afu = h_afu(1, 50);
	ram = h_ram(LUN_BYTES);
	bad = err_backend();
	h_wwid(wwid0, 1);
	h_wwid(wwid1, 2);
	afu_set_lun(afu, 0, ram, wwid0);
	afu_set_lun(afu, 1, bad, wwid1);

	h_open(&h, afu, 16, 16);
	buf = h_alloc(&h, 4u << 20, 4096);
	h_rht_phys(&h, 0, 0, SISL_RHT_PERM_RW);
	lxt[0].rlba_base = h_lxt(2, 0, SISL_RHT_PERM_RW);
	lxt[1].rlba_base = h_lxt(0, 0, SISL_RHT_PERM_RW);
	lxt[2].rlba_base = h_lxt(3, 0, SISL_RHT_PERM_RW);
	h_rht_virt(&h, 2, lxt, 3, SISL_RHT_PERM_RW);
	h_rht_virt(&h, 3, lxt, 3, SISL_RHT_PERM_READ);
	h_rht_phys(&h, 4, 1, SISL_RHT_PERM_RW);

	T_RUN(test_inquiry_std);
	T_RUN(test_inquiry_vpd);
	T_RUN(test_read_capacity);
	T_RUN(test_write_same);
	T_RUN(test_unmap);
	T_RUN(test_sync_tur_report);
	T_RUN(test_rw10_and_limits);
	T_RUN(test_medium_errors);

	h_close(&h);
	afu_destroy(afu);
	be_close(ram);
	be_close(bad);
	return T_PASS;
}
