/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kv_format.h - the on-LUN format of a key/value store (docs/kv.md has the
 * picture and the reasons). All integers are little-endian; every block
 * the store writes, except the raw data blocks of large values, starts
 * with a kv_blk_hdr whose CRC-32C covers the whole 4 KiB block.
 *
 *   LBA 0, 1            two superblock copies (written alternately)
 *   LBA seg_blocks ...  segments of seg_blocks blocks: log or checkpoint
 *
 * The log is a chain of meta blocks; each holds packed records and the
 * LBA of the next meta block. A record's key and value are inline in the
 * meta block when small, else in raw blocks listed by the record (their
 * CRC is the record's dcrc). A checkpoint is the whole index written as a
 * stream of entries into checkpoint segments; the superblock names the
 * newest one and where the log goes on after it.
 */
#ifndef CXLFLASH_KV_FORMAT_H
#define CXLFLASH_KV_FORMAT_H

#include <stdint.h>

#define KV_BLOCK          4096u
#define KV_MAGIC_SUPER    0x314b5241u  /* "ARK1" */
#define KV_MAGIC_META     0x474d4b41u  /* "AKMG": a log meta block */
#define KV_MAGIC_CKPT     0x50434b41u  /* "AKCP": a checkpoint block */
/* Version 2: a meta block's flags carry KV_META_PENDING (batches written
 * while the one before was on its way). Version 1 stores (no such batches)
 * are read as they are and become version 2 at their first writable open. */
#define KV_FORMAT_VERSION 2u
#define KV_FORMAT_VERSION_MIN 1u

/* Header of every self-describing block (meta, checkpoint, superblock). */
struct kv_blk_hdr {
	uint32_t magic;
	uint32_t crc;         /* CRC-32C of the block with this field 0 */
	uint32_t epoch;       /* the open (generation) that wrote it */
	uint16_t used;        /* payload bytes used */
	uint16_t flags;       /* meta: KV_META_BATCH_END, and KV_META_PENDING's count */
	uint64_t seq;         /* meta: the meta block's sequence; ckpt: block index */
	uint64_t next;        /* meta: LBA of the next meta block; ckpt: its generation */
	uint64_t batch;       /* meta: sequence of its batch's first meta block; else 0 */
};
#define KV_META_BATCH_END 0x1
/*
 * Bits 1-15 of a meta block's flags: how many meta blocks right before its
 * batch's first were not yet durable when the batch was written (the
 * batches still on their way: the writer has two in flight). Every meta
 * block with a sequence below batch - pending was durable then, and so
 * acknowledged before this batch could be. 0: every earlier block was.
 */
#define KV_META_PENDING_SHIFT 1
#define KV_META_PENDING_MAX 0x7fffu
#define KV_META_PENDING(flags) ((uint16_t)(flags) >> KV_META_PENDING_SHIFT)
#define KV_PAYLOAD (KV_BLOCK - sizeof(struct kv_blk_hdr))

/* Record operations in the log. */
enum kv_rec_op {
	KV_REC_SET = 1,
	KV_REC_DEL = 2,
	KV_REC_CLEAR = 3,     /* ark_flush: every key removed */
};
#define KV_REC_KEY_INLINE 0x1
#define KV_REC_VAL_INLINE 0x2

/* A contiguous run of raw blocks. */
struct kv_piece {
	uint64_t lba;
	uint32_t nblocks;
	uint32_t rsvd;
};

/*
 * A log record, 8-byte aligned in a meta block's payload. It is followed
 * by the inline key, then the inline value (each when its flag is set),
 * then npieces pieces (8-byte aligned) holding the rest: key (if not
 * inline) then value (if not inline), packed from the first raw block on.
 */
struct kv_rec {
	uint8_t op;
	uint8_t flags;
	uint16_t npieces;
	uint32_t klen;
	uint64_t vlen;
	uint32_t dcrc;        /* CRC-32C of key || value */
	uint32_t rsvd;
};

/* Superblock (in a block of its own, after a kv_blk_hdr with magic SUPER). */
struct kv_super {
	uint64_t gen;         /* bumped at every write; the newer valid copy wins */
	uint32_t version;
	uint32_t seg_blocks;
	uint64_t nsegs;       /* segments in use by the format */
	uint64_t store_id;    /* random, names the store in messages */
	uint32_t epoch;       /* the newest open generation */
	uint32_t ckpt_nsegs;  /* checkpoint segments (0: none yet) */
	uint64_t ckpt_gen;
	uint64_t ckpt_bytes;  /* checkpoint stream length */
	uint32_t ckpt_crc;    /* CRC-32C of the checkpoint stream */
	uint32_t rsvd;
	uint64_t log_lba;     /* first meta block after the checkpoint */
	uint64_t log_seq;     /* its expected sequence */
	uint64_t ops;         /* ark_stats counters at the checkpoint */
	uint64_t ios;
	/* uint32_t ckpt_seg[ckpt_nsegs] follows, as many as fit */
};
/* Checkpoint segments a superblock can name. */
#define KV_SUPER_MAX_SEGS ((KV_PAYLOAD - sizeof(struct kv_super)) / sizeof(uint32_t))

/* One index entry in a checkpoint stream (then key, then pieces or the
 * inline location). */
struct kv_ckpt_ent {
	uint32_t klen;
	uint16_t npieces;     /* 0: the value is inline in a meta block */
	uint16_t rsvd;
	uint64_t vlen;
	uint64_t loc;         /* inline: LBA << 12 | offset of the value in the block */
	uint32_t dcrc;        /* the record's CRC over key || value */
	uint32_t rsvd2;
};

#endif /* CXLFLASH_KV_FORMAT_H */
