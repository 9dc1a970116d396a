/* SPDX-License-Identifier: Apache-2.0 */
/*
 * xlate.c - resource handle translation: a command's handle and LBA range
 * through the context's RHT (and, for virtual LUNs, the LXT) to backend
 * requests, with the capability, permission and bounds checks and the
 * exact afu_rc each failure reports.
 *
 * Everything the master may change (RHT entries, LXT arrays, lxt_cnt) is
 * read only between afu_xlate_begin() and afu_xlate_end(), under the
 * context's xlate lock. A command that passes afu_xlate_begin() is counted
 * in the in-flight count of the current translation generation until it
 * completes or is dropped (afu_cmd_done), which is what afu_ctx_sync(HW)
 * waits for.
 *
 * A range is validated completely before any request is added: a bad
 * command issues no I/O at all.
 */
#include "afu/afu_internal.h"
#include "afu/scsi_spec.h"
#include "util/byteorder.h"

#include <errno.h>
#include <string.h>

/* Capability and RHT permission a command class needs. */
static void class_needs(enum afu_class cls, uint64_t *cap, uint8_t *perm)
{
	switch (cls) {
	case AFU_CLASS_READ:
		*cap = SISL_CTX_CAP_READ_CMD;
		*perm = SISL_RHT_PERM_READ;
		break;
	case AFU_CLASS_WRITE:
		*cap = SISL_CTX_CAP_WRITE_CMD;
		*perm = SISL_RHT_PERM_WRITE;
		break;
	case AFU_CLASS_FLUSH:
		*cap = SISL_CTX_CAP_WRITE_CMD;
		*perm = 0;
		break;
	case AFU_CLASS_INFO:
	default:
		*cap = SISL_CTX_CAP_READ_CMD;
		*perm = 0;
		break;
	}
}

/*
 * resolve_handle() - look the command's handle up in the RHT.
 * Called with the xlate lock held. Return: 0 or a SISL_AFU_RC_* code.
 */
static int resolve_handle(struct afu_ctx *c, uint32_t h, struct afu_xl *x)
{
	const struct sisl_rht_entry *e;
	const struct sisl_rht_entry_f1 *f1;

	if (h >= c->rht_cnt || !c->rht)
		return SISL_AFU_RC_RHT_OUT_OF_BOUNDS;
	e = &c->rht[h];
	if (e->nmask == 0)
		return SISL_AFU_RC_RHT_INVALID;
	x->perm = SISL_RHT_PERM(e->fp);
	switch (SISL_RHT_FMT(e->fp)) {
	case SISL_RHT_FORMAT_DIRECT:
		f1 = (const struct sisl_rht_entry_f1 *)e;
		if (f1->valid != SISL_RHT_VALID)
			return SISL_AFU_RC_RHT_INVALID;
		x->fmt = AFU_XL_PHYS;
		x->lun = afu_lun_get(c->afu, f1->lun_id);
		if (!x->lun)
			return SISL_AFU_RC_RHT_INVALID;
		return 0;
	case SISL_RHT_FORMAT_VIRTUAL:
		if (e->nmask >= 64 || (e->lxt_cnt && !e->lxt_start))
			return SISL_AFU_RC_RHT_INVALID;
		x->fmt = AFU_XL_VIRT;
		x->nmask = e->nmask;
		x->lxt = e->lxt_start;
		x->lxt_cnt = e->lxt_cnt;
		return 0;
	default:
		return SISL_AFU_RC_RHT_INVALID;
	}
}

/*
 * afu_xlate_begin() - check a command's right to run and resolve its handle.
 * @cmd: the command (its rcb is the private copy)
 * @cls: what the command does
 * @x: filled with the translation
 *
 * User contexts (no SISL_CTX_CAP_REAL_MODE) must name a resource handle;
 * real-mode contexts without SISL_REQ_FLAGS_RES_HNDL address the AFU LUN
 * table directly with rcb.lun_id (x->lun may then be NULL: an empty slot).
 *
 * Return: 0 with the xlate lock held (end with afu_xlate_end), or non-zero
 * with the lock released and the failure already in cmd->sa.
 */
int afu_xlate_begin(struct afu_cmd *cmd, enum afu_class cls, struct afu_xl *x)
{
	struct afu_ctx *c = cmd->ctx;
	uint64_t need_cap;
	uint8_t need_perm;
	int rc;

	memset(x, 0, sizeof(*x));
	class_needs(cls, &need_cap, &need_perm);
	if (!(c->ctx_cap & need_cap)) {
		afu_xlate_fail(cmd, SISL_AFU_RC_CAP_VIOLATION);
		return -1;
	}
	pthread_mutex_lock(&c->xlate_lock);
	if (cmd->rcb.req_flags & SISL_REQ_FLAGS_RES_HNDL) {
		rc = resolve_handle(c, cmd->rcb.res_hndl, x);
		if (!rc && need_perm && !(x->perm & need_perm))
			rc = SISL_AFU_RC_RHT_RW_PERM;
		if (rc) {
			pthread_mutex_unlock(&c->xlate_lock);
			afu_xlate_fail(cmd, rc);
			return -1;
		}
	} else {
		/* afu_scsi_exec() only lets real-mode contexts get here. */
		x->fmt = AFU_XL_PHYS;
		x->lun_id_mode = true;
		x->perm = SISL_RHT_PERM_RW;
		x->lun = afu_lun_get(c->afu, cmd->rcb.lun_id);
	}
	cmd->parity = c->gen & 1;
	cmd->counted = true;
	COUNTER_ADD(&c->gen_inflight[cmd->parity], 1);
	return 0;
}

void afu_xlate_end(struct afu_cmd *cmd)
{
	pthread_mutex_unlock(&cmd->ctx->xlate_lock);
}

/* LXT permission bits an operation needs. */
static uint8_t op_perm(enum be_op op)
{
	return op == BE_OP_READ ? SISL_RHT_PERM_READ : SISL_RHT_PERM_WRITE;
}

/*
 * afu_xlate_range() - translate [@lba, @lba + @nblocks) and append the
 * backend requests to @cmd.
 * @cmd: the command
 * @x: from afu_xlate_begin() (lock held)
 * @lba: first block as the command names it (virtual for format 0)
 * @nblocks: blocks, > 0
 * @op: the backend operation
 * @buf_off: byte offset of the range's data in the command's buffer
 *
 * A virtual range crossing chunks becomes one request per chunk (adjacent
 * chunks that are contiguous on one LUN merge). The whole range is checked
 * before the first request is added.
 *
 * Return: 0, a SISL_AFU_RC_* code, or AFU_XL_LBA_RANGE / AFU_XL_NOMEM /
 * AFU_XL_NO_LUN. On failure nothing was added.
 */
int afu_xlate_range(struct afu_cmd *cmd, const struct afu_xl *x, uint64_t lba,
		    uint64_t nblocks, enum be_op op, uint64_t buf_off)
{
	struct afu *afu = cmd->ctx->afu;
	uint32_t first_io = cmd->nios;
	uint64_t last, v, mask, cap;
	uint8_t need = op_perm(op);
	int rc = 0;

	if (x->fmt == AFU_XL_PHYS) {
		if (!x->lun)
			return AFU_XL_NO_LUN;
		cap = afu_be_nblocks(x->lun->be);
		if (lba >= cap || nblocks > cap - lba)
			return AFU_XL_LBA_RANGE;
		if (afu_cmd_add_io(cmd, x->lun->be, op, lba, (uint32_t)nblocks, buf_off))
			return AFU_XL_NOMEM;
		return 0;
	}

	/* Virtual: the last block decides the bounds (no wrap allowed). */
	last = lba + nblocks - 1;
	if (last < lba || (last >> x->nmask) >= x->lxt_cnt)
		return SISL_AFU_RC_LXT_OUT_OF_BOUNDS;
	mask = (1ull << x->nmask) - 1;

	/* Pass 1: permissions, LUNs and physical bounds of every chunk. */
	for (v = lba; ; v = (v | mask) + 1) {
		uint64_t e = x->lxt[v >> x->nmask].rlba_base;
		uint64_t end = (v | mask) < last ? (v | mask) : last;
		struct afu_lun *lun;
		uint64_t plba;

		if (!(SISL_LXT_PERM(e) & need))
			return SISL_AFU_RC_LXT_RW_PERM;
		lun = afu_lun_get(afu, SISL_LXT_LUNIDX(e));
		if (!lun)
			return SISL_AFU_RC_RHT_INVALID;
		plba = SISL_LXT_BASE(e) | (v & mask);
		cap = afu_be_nblocks(lun->be);
		if (plba >= cap || end - v + 1 > cap - plba)
			return AFU_XL_LBA_RANGE;
		if (end == last)
			break;
	}

	/* Pass 2: the requests. */
	for (v = lba; ; v = (v | mask) + 1) {
		uint64_t e = x->lxt[v >> x->nmask].rlba_base;
		uint64_t end = (v | mask) < last ? (v | mask) : last;
		struct afu_lun *lun = afu_lun_get(afu, SISL_LXT_LUNIDX(e));

		if (!lun) {     /* cleared between the passes: master bug */
			rc = SISL_AFU_RC_RHT_INVALID;
			break;
		}
		if (afu_cmd_add_io(cmd, lun->be, op, SISL_LXT_BASE(e) | (v & mask),
				   (uint32_t)(end - v + 1),
				   buf_off + ((v - lba) << BE_BLOCK_SHIFT))) {
			rc = AFU_XL_NOMEM;
			break;
		}
		if (end == last)
			break;
	}
	if (rc)
		cmd->nios = first_io;
	return rc;
}

/*
 * afu_xlate_prefetch() - start the cache and TLB misses of the first block
 * of the data the SQ command @r (fetched next) reads or writes, where its
 * LUN's medium is this process's memory (be->ops->mem: a RAM LUN). The
 * worker copies a command's data right after it fetches it, and from a
 * medium page the CPU had not touched each 4 KiB copy waited for its own
 * misses, one command after the other: 0.73 us a copy against 0.50 us in a
 * loop of copies alone, and 1.0-1.1 M reads a second at QD 32 against
 * 1.5 M with this. A hint only: a handle, LBA or opcode it cannot read
 * leaves it, nothing is checked or changed (the command's translation does
 * that), only the context's own LUNs and chunks are touched, and it is
 * skipped while the master holds the translation lock.
 */
void afu_xlate_prefetch(struct afu_ctx *c, const struct sisl_ioarcb *r)
{
	uint8_t op = r->cdb[0];
	const void *m = NULL;
	struct afu_lun *lun;
	struct afu_xl x;
	uint64_t lba;

	if (!__atomic_load_n(&c->afu->mem_luns, __ATOMIC_RELAXED))
		return;
	if (op == SCSI_OP_READ_16 || op == SCSI_OP_WRITE_16)
		lba = get_be64(r->cdb + 2);
	else if (op == SCSI_OP_READ_10 || op == SCSI_OP_WRITE_10)
		lba = get_be32(r->cdb + 2);
	else
		return;
	if (!(r->req_flags & SISL_REQ_FLAGS_RES_HNDL) || pthread_mutex_trylock(&c->xlate_lock))
		return;
	memset(&x, 0, sizeof(x));
	if (resolve_handle(c, r->res_hndl, &x) == 0) {
		lun = x.lun;
		if (x.fmt == AFU_XL_VIRT) {
			lun = NULL;
			if ((lba >> x.nmask) < x.lxt_cnt) {
				uint64_t e = x.lxt[lba >> x.nmask].rlba_base;

				lun = afu_lun_get(c->afu, SISL_LXT_LUNIDX(e));
				lba = SISL_LXT_BASE(e) | (lba & ((1ull << x.nmask) - 1));
			}
		}
		if (lun && lun->be->ops->mem)
			m = lun->be->ops->mem(lun->be, lba, 1);
	}
	pthread_mutex_unlock(&c->xlate_lock);
	if (!m)
		return;
	/* The page's first line: its TLB walk, and the hardware prefetcher
	 * streams the rest of the page as the copy reads on. */
	if (op == SCSI_OP_WRITE_16 || op == SCSI_OP_WRITE_10)
		__builtin_prefetch(m, 1);
	else
		__builtin_prefetch(m, 0);
}

/* afu_xlate_capacity() - blocks the handle addresses (lock held). */
uint64_t afu_xlate_capacity(const struct afu_xl *x)
{
	if (x->fmt == AFU_XL_VIRT)
		return (uint64_t)x->lxt_cnt << x->nmask;
	return x->lun ? afu_be_nblocks(x->lun->be) : 0;
}

/*
 * afu_xlate_fail() - record why a command did not translate in its IOASA
 * and forget any backend request already added.
 */
void afu_xlate_fail(struct afu_cmd *cmd, int why)
{
	cmd->nios = 0;
	switch (why) {
	case AFU_XL_LBA_RANGE:
		afu_sense(&cmd->sa, SCSI_SK_ILLEGAL_REQUEST, SCSI_ASC_LBA_OUT_OF_RANGE, 0);
		break;
	case AFU_XL_NO_LUN:
		afu_sense(&cmd->sa, SCSI_SK_ILLEGAL_REQUEST, SCSI_ASC_LUN_NOT_SUPPORTED, 0);
		break;
	case AFU_XL_NOMEM:
		cmd->sa.rc.afu_rc = SISL_AFU_RC_OUT_OF_DATA_BUFS;
		break;
	default:
		cmd->sa.rc.afu_rc = (uint8_t)why;
		break;
	}
}
