/* SPDX-License-Identifier: Apache-2.0 */
/*
 * scsi.c - SCSI command execution: the AFU-level checks every command
 * passes (AFU commands, LUN-id mode, task management), then one function
 * per CDB: READ/WRITE(10/16), READ CAPACITY(16), WRITE SAME(16), UNMAP,
 * INQUIRY (standard data and VPD pages 00 80 83 B0 B2), REPORT LUNS,
 * TEST UNIT READY and SYNCHRONIZE CACHE(10/16). Anything else is ILLEGAL
 * REQUEST / INVALID COMMAND OPERATION CODE.
 *
 * The CDB decides the direction of a command, not req_flags. Errors go
 * into the IOASA: afu_rc for AFU-level failures (translation, capability,
 * data EA), fixed-format sense with CHECK CONDITION for SCSI-level ones.
 * Data moving to or from the host is checked against data_len: a shorter
 * buffer than the command needs is INVALID FIELD IN CDB (data-out, READ)
 * or an overrun (parameter data, truncated); a longer one reports the
 * difference in resid with rc.flags UNDERRUN unless SUP_UNDERRUN is set.
 *
 * Every path ends in exactly one afu_cmd_done() (directly, or through
 * afu_cmd_issue() when backend I/O is needed).
 */
#include "afu/afu_internal.h"
#include "afu/scsi_spec.h"
#include "util/byteorder.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char inq_vendor[8] = { 'C', 'X', 'L', 'F', 'L', 'A', 'S', 'H' };
static const char inq_product[16] = { 'S', 'O', 'F', 'T', 'W', 'A', 'R', 'E',
				      ' ', 'A', 'F', 'U', ' ', 'L', 'U', 'N' };
static const char inq_revision[4] = { '0', '0', '0', '1' };

/*
 * afu_sense() - fixed-format sense data (response code 0x70, sense key at
 * byte 2, additional length 10, ASC/ASCQ at bytes 12/13) into @sa, with
 * CHECK CONDITION and SENSE_VALID.
 */
void afu_sense(struct sisl_ioasa *sa, uint8_t key, uint8_t asc, uint8_t ascq)
{
	memset(sa->sense_data, 0, sizeof(sa->sense_data));
	sa->sense_data[0] = SCSI_SENSE_FIXED_CURRENT;
	sa->sense_data[2] = key;
	sa->sense_data[7] = SCSI_SENSE_ADDL_LEN;
	sa->sense_data[12] = asc;
	sa->sense_data[13] = ascq;
	sa->rc.scsi_rc = SISL_SCSI_RC_CHECK;
	sa->rc.flags |= SISL_RC_FLAGS_SENSE_VALID;
}

/* Complete @cmd with ILLEGAL REQUEST and @asc. */
static void fail_illegal(struct afu_cmd *cmd, uint8_t asc)
{
	cmd->nios = 0;
	afu_sense(&cmd->sa, SCSI_SK_ILLEGAL_REQUEST, asc, 0);
	afu_cmd_done(cmd);
}

/* Complete @cmd with an afu_rc. */
static void fail_afu(struct afu_cmd *cmd, uint8_t afu_rc, uint8_t extra)
{
	cmd->nios = 0;
	cmd->sa.rc.afu_rc = afu_rc;
	cmd->sa.afu_extra = extra;
	afu_cmd_done(cmd);
}

/* The data buffer's first @len bytes are unreachable: DATA_DMA_ERR. */
static void fail_dma(struct afu_cmd *cmd)
{
	fail_afu(cmd, SISL_AFU_RC_DATA_DMA_ERR, SISL_AFU_DMA_ERR_INVALID_EA);
}

/* Resolve the first @len bytes of the data buffer (NULL: unreachable). */
static uint8_t *data_ptr(struct afu_cmd *cmd, uint64_t len)
{
	return afu_ea_resolve(&cmd->ctx->ea, cmd->rcb.data_ea, len, 1);
}

/* Report the bytes of data_len beyond @used as residual (an underrun). */
static void set_resid(struct afu_cmd *cmd, uint64_t used)
{
	if (cmd->rcb.data_len > used) {
		cmd->sa.resid = (uint32_t)(cmd->rcb.data_len - used);
		if (!(cmd->rcb.req_flags & SISL_REQ_FLAGS_SUP_UNDERRUN))
			cmd->sa.rc.flags |= SISL_RC_FLAGS_UNDERRUN;
	}
}

/*
 * data_in() - return parameter data to the host and complete.
 * @cmd: the command
 * @src: the data the device server has
 * @avail: its length
 * @alloc: the CDB's allocation length
 *
 * Sends min(@avail, @alloc) bytes; if data_len is shorter, as much as fits
 * with rc.flags OVERRUN.
 */
static void data_in(struct afu_cmd *cmd, const void *src, uint32_t avail, uint32_t alloc)
{
	uint32_t n = avail < alloc ? avail : alloc;
	uint8_t *dst;

	if (n > cmd->rcb.data_len) {
		n = cmd->rcb.data_len;
		cmd->sa.rc.flags |= SISL_RC_FLAGS_OVERRUN;
	}
	if (n) {
		dst = data_ptr(cmd, n);
		if (!dst) {
			cmd->sa.rc.flags = 0;
			fail_dma(cmd);
			return;
		}
		memcpy(dst, src, n);
	}
	set_resid(cmd, n);
	afu_cmd_done(cmd);
}

/* ---------------------------------------------------------------------------
 * Data commands.
 */

/*
 * READ(10/16), WRITE(10/16). A write with FUA completes once durable: each
 * backend request carries BE_IO_FUA (RWF_DSYNC on a file). On a read FUA
 * asks for nothing here: there is no cache to bypass.
 */
static void exec_rw(struct afu_cmd *cmd, bool write, uint64_t lba, uint32_t nblocks)
{
	uint64_t need = (uint64_t)nblocks << BE_BLOCK_SHIFT;
	struct afu_xl x;
	int rc = 0;

	if (nblocks > AFU_MAX_XFER_BLOCKS || cmd->rcb.data_len < need) {
		fail_illegal(cmd, SCSI_ASC_INVALID_FIELD_IN_CDB);
		return;
	}
	if (afu_xlate_begin(cmd, write ? AFU_CLASS_WRITE : AFU_CLASS_READ, &x)) {
		afu_cmd_done(cmd);
		return;
	}
	if (nblocks)
		rc = afu_xlate_range(cmd, &x, lba, nblocks,
				     write ? BE_OP_WRITE : BE_OP_READ, 0);
	else if (x.lun_id_mode && !x.lun)
		rc = AFU_XL_NO_LUN;
	afu_xlate_end(cmd);
	if (rc) {
		afu_xlate_fail(cmd, rc);
		afu_cmd_done(cmd);
		return;
	}
	if (write && (cmd->rcb.cdb[1] & SCSI_RW_FUA))
		for (uint32_t i = 0; i < cmd->nios; i++)
			cmd->ios[i].io.flags |= BE_IO_FUA;
	if (nblocks) {
		cmd->data = data_ptr(cmd, need);
		if (!cmd->data) {
			fail_dma(cmd);
			return;
		}
	}
	set_resid(cmd, need);
	cmd->write_err = write;
	cmd->blocks = nblocks;
	cmd->blocks_write = write;
	afu_cmd_issue(cmd);
}

static bool all_zero(const uint8_t *p, size_t len)
{
	const uint64_t *q = (const uint64_t *)p;

	for (size_t i = 0; i < len / 8; i++)
		if (q[i])
			return false;
	return true;
}

/*
 * split_writes() - turn each request of @cmd into requests of at most
 * @max blocks that all write from the start of the data buffer (WRITE SAME
 * replicating a pattern held @max times in the buffer).
 * Return: 0 or -1 (no memory).
 */
static int split_writes(struct afu_cmd *cmd, uint32_t max)
{
	struct afu_io *old = cmd->ios, *n;
	uint32_t nold = cmd->nios, total = 0, k = 0;

	for (uint32_t i = 0; i < nold; i++)
		total += (old[i].io.nblocks + max - 1) / max;
	if (total == nold) {    /* every request already fits */
		for (uint32_t i = 0; i < nold; i++)
			old[i].buf_off = 0;
		return 0;
	}
	n = malloc(total * sizeof(*n));
	if (!n)
		return -1;
	for (uint32_t i = 0; i < nold; i++) {
		for (uint32_t b = 0; b < old[i].io.nblocks; b += max, k++) {
			uint32_t left = old[i].io.nblocks - b;

			n[k] = old[i];
			n[k].io.lba = old[i].io.lba + b;
			n[k].io.nblocks = left < max ? left : max;
			n[k].buf_off = 0;
		}
	}
	if (old != cmd->inline_ios)
		free(old);
	cmd->ios = n;
	cmd->nios = cmd->ios_cap = total;
	return 0;
}

/*
 * WRITE SAME(16): one block of data (none with NDOB) written to a range of
 * 1..AFU_WS_MAX_BLOCKS blocks. Zeroes (NDOB or an all-zero block) become a
 * DISCARD with the UNMAP bit, else WRITE_ZEROES; other data is replicated.
 */
static void exec_write_same(struct afu_cmd *cmd)
{
	const uint8_t *cdb = cmd->rcb.cdb;
	bool unmap = cdb[1] & SCSI_WS_UNMAP, ndob = cdb[1] & SCSI_WS_NDOB, zero = true;
	uint64_t lba = get_be64(cdb + 2);
	uint32_t nblocks = get_be32(cdb + 10);
	uint32_t need = ndob ? 0 : BE_BLOCK_SIZE, rep = 0;
	enum be_op op;
	struct afu_xl x;
	uint8_t *buf = NULL;
	int rc;

	if (nblocks == 0 || nblocks > AFU_WS_MAX_BLOCKS || cmd->rcb.data_len < need) {
		fail_illegal(cmd, SCSI_ASC_INVALID_FIELD_IN_CDB);
		return;
	}
	if (!ndob) {
		const uint8_t *src = data_ptr(cmd, BE_BLOCK_SIZE);

		if (!src) {
			fail_dma(cmd);
			return;
		}
		/* Copy before looking: the client may change it meanwhile. */
		rep = nblocks < AFU_WS_CHUNK ? nblocks : AFU_WS_CHUNK;
		buf = malloc((size_t)rep << BE_BLOCK_SHIFT);
		if (!buf) {
			fail_afu(cmd, SISL_AFU_RC_OUT_OF_DATA_BUFS, 0);
			return;
		}
		memcpy(buf, src, BE_BLOCK_SIZE);
		cmd->aux = buf;
		zero = all_zero(buf, BE_BLOCK_SIZE);
	}
	op = !zero ? BE_OP_WRITE : unmap ? BE_OP_DISCARD : BE_OP_WRITE_ZEROES;

	if (afu_xlate_begin(cmd, AFU_CLASS_WRITE, &x)) {
		afu_cmd_done(cmd);
		return;
	}
	rc = afu_xlate_range(cmd, &x, lba, nblocks, op, 0);
	afu_xlate_end(cmd);
	if (rc) {
		afu_xlate_fail(cmd, rc);
		afu_cmd_done(cmd);
		return;
	}
	if (op == BE_OP_WRITE) {
		for (uint32_t i = 1; i < rep; i++)
			memcpy(buf + ((size_t)i << BE_BLOCK_SHIFT), buf, BE_BLOCK_SIZE);
		if (split_writes(cmd, rep)) {
			fail_afu(cmd, SISL_AFU_RC_OUT_OF_DATA_BUFS, 0);
			return;
		}
		cmd->data = buf;
	}
	set_resid(cmd, need);
	cmd->write_err = true;
	cmd->blocks = nblocks;
	cmd->blocks_write = true;
	afu_cmd_issue(cmd);
}

/* UNMAP: a parameter list of (LBA, count) descriptors to discard. */
static void exec_unmap(struct afu_cmd *cmd)
{
	uint32_t plen = get_be16(cmd->rcb.cdb + 7);
	uint32_t bddl, ndesc;
	uint64_t total = 0;
	const uint8_t *src;
	struct afu_xl x;
	uint8_t *p;
	int rc = 0;

	if (plen > 0 && plen < SCSI_UNMAP_HDR_LEN) {
		fail_illegal(cmd, SCSI_ASC_PARAM_LIST_LENGTH_ERROR);
		return;
	}
	if (cmd->rcb.data_len < plen) {
		fail_illegal(cmd, SCSI_ASC_INVALID_FIELD_IN_CDB);
		return;
	}
	if (plen == 0) {
		/* Nothing to unmap; still a command on this handle. */
		if (afu_xlate_begin(cmd, AFU_CLASS_WRITE, &x) == 0) {
			if (x.lun_id_mode && !x.lun)
				afu_xlate_fail(cmd, AFU_XL_NO_LUN);
			else
				set_resid(cmd, 0);
			afu_xlate_end(cmd);
		}
		afu_cmd_done(cmd);
		return;
	}
	src = data_ptr(cmd, plen);
	if (!src) {
		fail_dma(cmd);
		return;
	}
	p = malloc(plen);
	if (!p) {
		fail_afu(cmd, SISL_AFU_RC_OUT_OF_DATA_BUFS, 0);
		return;
	}
	memcpy(p, src, plen);
	cmd->aux = p;

	/* A block descriptor data length past the list is cut to the list;
	 * a ragged last descriptor is ignored (SBC). */
	bddl = get_be16(p + 2);
	if (bddl > plen - SCSI_UNMAP_HDR_LEN)
		bddl = plen - SCSI_UNMAP_HDR_LEN;
	ndesc = bddl / SCSI_UNMAP_DESC_LEN;
	if (ndesc > AFU_UNMAP_MAX_DESC) {
		fail_illegal(cmd, SCSI_ASC_INVALID_FIELD_IN_PARAM);
		return;
	}
	for (uint32_t i = 0; i < ndesc; i++)
		total += get_be32(p + SCSI_UNMAP_HDR_LEN + i * SCSI_UNMAP_DESC_LEN + 8);
	if (total > AFU_UNMAP_MAX_LBAS) {
		fail_illegal(cmd, SCSI_ASC_INVALID_FIELD_IN_PARAM);
		return;
	}

	if (afu_xlate_begin(cmd, AFU_CLASS_WRITE, &x)) {
		afu_cmd_done(cmd);
		return;
	}
	for (uint32_t i = 0; i < ndesc && !rc; i++) {
		const uint8_t *d = p + SCSI_UNMAP_HDR_LEN + i * SCSI_UNMAP_DESC_LEN;
		uint32_t cnt = get_be32(d + 8);

		if (cnt)
			rc = afu_xlate_range(cmd, &x, get_be64(d), cnt, BE_OP_DISCARD, 0);
	}
	if (!rc && ndesc == 0 && x.lun_id_mode && !x.lun)
		rc = AFU_XL_NO_LUN;
	afu_xlate_end(cmd);
	if (rc) {
		afu_xlate_fail(cmd, rc);
		afu_cmd_done(cmd);
		return;
	}
	set_resid(cmd, plen);
	cmd->write_err = true;
	afu_cmd_issue(cmd);
}

/* SYNCHRONIZE CACHE(10/16): flush every backend the handle reaches. */
static void exec_sync_cache(struct afu_cmd *cmd)
{
	struct afu *afu = cmd->ctx->afu;
	struct afu_xl x;
	int rc = 0;

	if (afu_xlate_begin(cmd, AFU_CLASS_FLUSH, &x)) {
		afu_cmd_done(cmd);
		return;
	}
	if (x.fmt == AFU_XL_PHYS) {
		if (!x.lun)
			rc = AFU_XL_NO_LUN;
		else if (afu_cmd_add_io(cmd, x.lun->be, BE_OP_FLUSH, 0, 0, 0))
			rc = AFU_XL_NOMEM;
	} else {
		uint64_t seen[AFU_MAX_LUNS / 64] = { 0 };

		for (uint32_t i = 0; i < x.lxt_cnt && !rc; i++) {
			unsigned idx = SISL_LXT_LUNIDX(x.lxt[i].rlba_base);
			struct afu_lun *lun;

			if (seen[idx / 64] & (1ull << (idx % 64)))
				continue;
			seen[idx / 64] |= 1ull << (idx % 64);
			lun = afu_lun_get(afu, idx);
			if (lun && afu_cmd_add_io(cmd, lun->be, BE_OP_FLUSH, 0, 0, 0))
				rc = AFU_XL_NOMEM;
		}
	}
	afu_xlate_end(cmd);
	if (rc) {
		afu_xlate_fail(cmd, rc);
		afu_cmd_done(cmd);
		return;
	}
	cmd->write_err = true;
	afu_cmd_issue(cmd);
}

/* ---------------------------------------------------------------------------
 * Informational commands.
 */

/* READ CAPACITY(16): last LBA and block length of what the handle addresses. */
static void exec_read_capacity(struct afu_cmd *cmd)
{
	const uint8_t *cdb = cmd->rcb.cdb;
	uint8_t buf[SCSI_RC16_LEN];
	uint64_t cap;
	struct afu_xl x;

	if ((cdb[1] & SCSI_SAI_MASK) != SCSI_SAI_READ_CAPACITY_16) {
		fail_illegal(cmd, SCSI_ASC_INVALID_FIELD_IN_CDB);
		return;
	}
	if (afu_xlate_begin(cmd, AFU_CLASS_INFO, &x)) {
		afu_cmd_done(cmd);
		return;
	}
	if (x.lun_id_mode && !x.lun) {
		afu_xlate_end(cmd);
		afu_xlate_fail(cmd, AFU_XL_NO_LUN);
		afu_cmd_done(cmd);
		return;
	}
	cap = afu_xlate_capacity(&x);
	afu_xlate_end(cmd);

	memset(buf, 0, sizeof(buf));
	put_be64(buf, cap - 1);         /* an empty virtual LUN reads all ones */
	put_be32(buf + 8, BE_BLOCK_SIZE);
	buf[14] = SCSI_RC16_LBPME | SCSI_RC16_LBPRZ;
	data_in(cmd, buf, sizeof(buf), get_be32(cdb + 10));
}

/* Write @wwid as 32 upper-case hex digits. */
static void wwid_hex(char *out, const uint8_t wwid[16])
{
	static const char hex[] = "0123456789ABCDEF";

	for (int i = 0; i < 16; i++) {
		out[2 * i] = hex[wwid[i] >> 4];
		out[2 * i + 1] = hex[wwid[i] & 0xF];
	}
}

/* Build INQUIRY data for @page (-1: standard) into @buf. Return: length or -1. */
static int inquiry_page(int page, const uint8_t wwid[16], bool no_lun, uint8_t *buf)
{
	memset(buf, 0, 256);
	switch (page) {
	case -1:
		/* No LUN at this slot (LUN-id mode): qualifier 011b, type 1Fh. */
		buf[0] = no_lun ? 0x7F : 0x00;
		buf[2] = SCSI_INQ_VERSION_SPC4;
		buf[3] = SCSI_INQ_RESP_FMT;
		buf[4] = SCSI_INQ_STD_LEN - 5;
		buf[7] = SCSI_INQ_CMDQUE;
		memcpy(buf + 8, inq_vendor, sizeof(inq_vendor));
		memcpy(buf + 16, inq_product, sizeof(inq_product));
		memcpy(buf + 32, inq_revision, sizeof(inq_revision));
		return SCSI_INQ_STD_LEN;
	case SCSI_VPD_SUPPORTED: {
		static const uint8_t pages[] = { SCSI_VPD_SUPPORTED, SCSI_VPD_SERIAL,
						 SCSI_VPD_DEVICE_ID, SCSI_VPD_BLOCK_LIMITS,
						 SCSI_VPD_LBP };

		buf[1] = SCSI_VPD_SUPPORTED;
		buf[3] = sizeof(pages);
		memcpy(buf + 4, pages, sizeof(pages));
		return 4 + (int)sizeof(pages);
	}
	case SCSI_VPD_SERIAL:
		buf[1] = SCSI_VPD_SERIAL;
		buf[3] = 32;
		wwid_hex((char *)buf + 4, wwid);
		return 4 + 32;
	case SCSI_VPD_DEVICE_ID:
		buf[1] = SCSI_VPD_DEVICE_ID;
		buf[3] = 4 + 16;
		buf[4] = SCSI_DESIG_CODESET_BINARY;
		buf[5] = (SCSI_DESIG_ASSOC_LUN << 4) | SCSI_DESIG_TYPE_NAA;
		buf[7] = 16;
		memcpy(buf + 8, wwid, 16);
		return 4 + 4 + 16;
	case SCSI_VPD_BLOCK_LIMITS:
		buf[1] = SCSI_VPD_BLOCK_LIMITS;
		buf[3] = SCSI_VPD_B0_LEN;
		buf[4] = 0x01;                           /* WSNZ */
		put_be16(buf + 6, 1);                    /* optimal granularity */
		put_be32(buf + 8, AFU_MAX_XFER_BLOCKS);  /* max transfer */
		put_be32(buf + 12, AFU_MAX_XFER_BLOCKS); /* optimal transfer */
		put_be32(buf + 20, AFU_UNMAP_MAX_LBAS);  /* max unmap LBA count */
		put_be32(buf + 24, AFU_UNMAP_MAX_DESC);  /* max unmap descriptors */
		put_be32(buf + 28, 1);                   /* optimal unmap granularity */
		put_be64(buf + 36, AFU_WS_MAX_BLOCKS);   /* max write same length */
		return 4 + SCSI_VPD_B0_LEN;
	case SCSI_VPD_LBP:
		buf[1] = SCSI_VPD_LBP;
		buf[3] = 4;
		buf[5] = SCSI_LBP_LBPU | SCSI_LBP_LBPWS | SCSI_LBP_LBPRZ;
		buf[6] = SCSI_LBP_TYPE_THIN;
		return 8;
	default:
		return -1;
	}
}

/* INQUIRY: standard data or a VPD page about the LUN the handle reaches. */
static void exec_inquiry(struct afu_cmd *cmd)
{
	const uint8_t *cdb = cmd->rcb.cdb;
	uint8_t wwid[16] = { 0 }, buf[256];
	bool evpd = cdb[1] & SCSI_INQ_EVPD, no_lun = false;
	struct afu_lun *lun = NULL;
	struct afu_xl x;
	int len;

	if ((cdb[1] & SCSI_INQ_CMDDT) || (!evpd && cdb[2] != 0)) {
		fail_illegal(cmd, SCSI_ASC_INVALID_FIELD_IN_CDB);
		return;
	}
	if (afu_xlate_begin(cmd, AFU_CLASS_INFO, &x)) {
		afu_cmd_done(cmd);
		return;
	}
	if (x.fmt == AFU_XL_PHYS)
		lun = x.lun;
	else if (x.lxt_cnt)     /* a virtual LUN lives on its first chunk's LUN */
		lun = afu_lun_get(cmd->ctx->afu, SISL_LXT_LUNIDX(x.lxt[0].rlba_base));
	if (lun)
		memcpy(wwid, lun->wwid, sizeof(wwid));
	no_lun = x.lun_id_mode && !x.lun;
	afu_xlate_end(cmd);

	if (no_lun && evpd) {
		afu_xlate_fail(cmd, AFU_XL_NO_LUN);
		afu_cmd_done(cmd);
		return;
	}
	len = inquiry_page(evpd ? cdb[2] : -1, wwid, no_lun, buf);
	if (len < 0) {
		fail_illegal(cmd, SCSI_ASC_INVALID_FIELD_IN_CDB);
		return;
	}
	data_in(cmd, buf, (uint32_t)len, get_be16(cdb + 3));
}

/*
 * REPORT LUNS: through a handle the context sees one LUN, LUN 0; in
 * LUN-id mode (real-mode contexts) every populated AFU LUN table slot.
 */
static void exec_report_luns(struct afu_cmd *cmd)
{
	uint32_t alloc = get_be32(cmd->rcb.cdb + 6);
	uint8_t buf[8 + 8 * AFU_MAX_LUNS];
	uint32_t n = 0;
	struct afu_xl x;

	if (alloc < SCSI_RL_MIN_ALLOC) {
		fail_illegal(cmd, SCSI_ASC_INVALID_FIELD_IN_CDB);
		return;
	}
	if (afu_xlate_begin(cmd, AFU_CLASS_INFO, &x)) {
		afu_cmd_done(cmd);
		return;
	}
	memset(buf, 0, sizeof(buf));
	if (x.lun_id_mode) {
		for (unsigned i = 0; i < AFU_MAX_LUNS; i++)
			if (afu_lun_get(cmd->ctx->afu, i))
				buf[8 + 8 * n++ + 1] = (uint8_t)i;  /* peripheral addressing */
	} else {
		n = 1;  /* LUN 0: all zero */
	}
	afu_xlate_end(cmd);
	put_be32(buf, 8 * n);
	data_in(cmd, buf, 8 + 8 * n, alloc);
}

/* TEST UNIT READY: good if the handle (or LUN) is usable. */
static void exec_tur(struct afu_cmd *cmd)
{
	struct afu_xl x;

	if (afu_xlate_begin(cmd, AFU_CLASS_INFO, &x) == 0) {
		if (x.lun_id_mode && !x.lun)
			afu_xlate_fail(cmd, AFU_XL_NO_LUN);
		afu_xlate_end(cmd);
	}
	afu_cmd_done(cmd);
}

/*
 * AFU commands (SISL_REQ_FLAGS_AFU_CMD; contexts with SISL_CTX_CAP_AFU_CMD).
 * LW and global syncs complete at once (translations are read under the
 * xlate lock, so additions are visible immediately). A HW sync through a
 * queue is not offered: the master calls afu_ctx_sync(), which can wait
 * without holding up a worker thread; a queued one gets INVALID FIELD.
 */
static void exec_afu_cmd(struct afu_cmd *cmd)
{
	const uint8_t *cdb = cmd->rcb.cdb;

	if (!(cmd->ctx->ctx_cap & SISL_CTX_CAP_AFU_CMD)) {
		fail_afu(cmd, SISL_AFU_RC_CAP_VIOLATION, 0);
		return;
	}
	if (cdb[0] != SISL_AFU_CMD_SYNC) {
		fail_illegal(cmd, SCSI_ASC_INVALID_OPCODE);
		return;
	}
	if (cdb[1] != SISL_AFU_LW_SYNC && cdb[1] != SISL_AFU_GSYNC) {
		fail_illegal(cmd, SCSI_ASC_INVALID_FIELD_IN_CDB);
		return;
	}
	afu_cmd_done(cmd);
}

/*
 * afu_scsi_exec() - run a fetched command.
 *
 * Order of checks: AFU commands need SISL_CTX_CAP_AFU_CMD; a command
 * without SISL_REQ_FLAGS_RES_HNDL needs a real-mode context; task
 * management needs SISL_CTX_CAP_GSCSI_CMD (and has nothing to abort here,
 * so it completes good); then the opcode. Translation, capability and
 * permission checks happen inside each command (afu_xlate_begin).
 */
void afu_scsi_exec(struct afu_cmd *cmd)
{
	const struct sisl_ioarcb *rcb = &cmd->rcb;
	const uint8_t *cdb = rcb->cdb;
	uint64_t cap = cmd->ctx->ctx_cap;

	if (rcb->req_flags & SISL_REQ_FLAGS_AFU_CMD) {
		exec_afu_cmd(cmd);
		return;
	}
	if (!(rcb->req_flags & SISL_REQ_FLAGS_RES_HNDL) && !(cap & SISL_CTX_CAP_REAL_MODE)) {
		fail_afu(cmd, SISL_AFU_RC_CAP_VIOLATION, 0);
		return;
	}
	if (rcb->req_flags & SISL_REQ_FLAGS_TMF_CMD) {
		if (!(cap & SISL_CTX_CAP_GSCSI_CMD))
			fail_afu(cmd, SISL_AFU_RC_CAP_VIOLATION, 0);
		else
			afu_cmd_done(cmd);
		return;
	}

	switch (cdb[0]) {
	case SCSI_OP_READ_16:
		exec_rw(cmd, false, get_be64(cdb + 2), get_be32(cdb + 10));
		break;
	case SCSI_OP_WRITE_16:
		exec_rw(cmd, true, get_be64(cdb + 2), get_be32(cdb + 10));
		break;
	case SCSI_OP_READ_10:
		exec_rw(cmd, false, get_be32(cdb + 2), get_be16(cdb + 7));
		break;
	case SCSI_OP_WRITE_10:
		exec_rw(cmd, true, get_be32(cdb + 2), get_be16(cdb + 7));
		break;
	case SCSI_OP_WRITE_SAME_16:
		exec_write_same(cmd);
		break;
	case SCSI_OP_UNMAP:
		exec_unmap(cmd);
		break;
	case SCSI_OP_SYNC_CACHE_10:
	case SCSI_OP_SYNC_CACHE_16:
		exec_sync_cache(cmd);
		break;
	case SCSI_OP_SERVICE_ACTION_IN_16:
		exec_read_capacity(cmd);
		break;
	case SCSI_OP_INQUIRY:
		exec_inquiry(cmd);
		break;
	case SCSI_OP_REPORT_LUNS:
		exec_report_luns(cmd);
		break;
	case SCSI_OP_TEST_UNIT_READY:
		exec_tur(cmd);
		break;
	default:
		fail_illegal(cmd, SCSI_ASC_INVALID_OPCODE);
		break;
	}
}
