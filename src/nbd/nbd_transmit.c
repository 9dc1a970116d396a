/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nbd_transmit.c - the transmission phase: READ, WRITE, FLUSH, TRIM,
 * WRITE_ZEROES (NO_HOLE, FAST_ZERO) with FUA, CACHE, BLOCK_STATUS (answered
 * by nbd_meta.c) and DISC.
 *
 * One thread per connection reads requests and submits them on its own
 * be_engine, so many are in flight at once (up to the queue depth and
 * INFLIGHT_BYTES of buffers); between reads it reaps completions, and each
 * completion writes its reply whole (out of order, as the protocol allows).
 * Block-aligned requests go to the backend as they are. A WRITE that
 * covers part of a 4 KiB block goes as it is too when the backend takes
 * such writes at its granularity (be->part_align: RAM, the page cache,
 * 512-byte sectors under O_DIRECT), else it is an asynchronous
 * read-modify-write. Either way it takes its first and last block in the
 * server's block table (nbd_blklock.c) first (a read-modify-write then
 * reads the partial ones, patches them and writes the range) and lets
 * them go when its write completes; one that finds a block taken is
 * parked and tried again, so two partial writes of one block never lose
 * either.
 * A FLUSH waits for every write the connection has in flight (no new
 * request is read meanwhile), then flushes: conservative, the protocol only
 * asks for the writes completed before it. Sub-block WRITE_ZEROES / TRIM
 * and FAST_ZERO are rare and stay synchronous (with the same block table).
 * Minimum block size 1 is advertised: see docs/nbd.md.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/backend.h"
#include "nbd/nbd_internal.h"
#include "nbd/nbd_proto.h"
#include "util/byteorder.h"
#include "util/log.h"

#define BLK_MASK          ((uint64_t)BE_BLOCK_SIZE - 1)
#define INFLIGHT_BYTES    (64u << 20)   /* payload buffers per connection */
#define WRITE_DRAIN_MAX   (256u << 20)  /* bigger "payloads" are garbage: hang up */
#define ENGINE_WAIT_US    200u
#define PARKED_WAIT_NS    100000        /* retry parked requests this often */

struct nbd_req {
	struct be_io io;                /* first: the callback gets it */
	struct nbd_conn *c;
	uint64_t cookie;
	uint64_t offset;
	uint32_t len;
	uint16_t type, flags;
	uint8_t *buf;                   /* block-aligned data, or NULL */
	const uint8_t *mem;             /* READ: the blocks in the medium (be->ops->mem) */
	uint8_t *data;                  /* a sub-block WRITE: the client's payload */
	size_t buf_size, data_size;     /* as buf_get() was asked for them */
	size_t bytes;                   /* accounted in c->inflight_bytes */
	uint32_t skew;                  /* READ: offset within the first block */
	bool flush_after;               /* FUA: flush once the write is done */
	bool is_write;                  /* counted in c->writes_inflight */
	/* sub-block WRITE (read-modify-write) */
	struct be_io io2;               /* the last block's read */
	struct nbd_req *pnext;          /* on c->parked */
	unsigned pending;               /* reads outstanding (+1 while starting them) */
	int err;                        /* the first of their errors */
	bool fua;                       /* the patched write is a FUA write */
	bool part;                      /* the backend writes it as it is (part_align) */
	bool locked;                    /* holds its first and last block */
	/* a READ's reply, held in place until it is written (nbd_hold) */
	struct nbd_req *hnext;          /* on c->held, or c->req_cache */
	uint8_t hdr[NBD_STRUCT_REPLY_LEN + 8];
};

uint32_t nbd_errno_to_nbd(int err)
{
	switch (err) {
	case -EPERM:
	case -EROFS:
	case -EACCES:
		return NBD_EPERM;
	case -ENOMEM:
		return NBD_ENOMEM;
	case -EINVAL:
		return NBD_EINVAL;
	case -ENOSPC:
	case -EDQUOT:
	case -EFBIG:
		return NBD_ENOSPC;
	case -EOVERFLOW:
		return NBD_EOVERFLOW;
	case -EOPNOTSUPP:
		return NBD_ENOTSUP;
	case -ESHUTDOWN:
		return NBD_ESHUTDOWN;
	default:
		return NBD_EIO;
	}
}

/*
 * Requests and their 4 KiB buffers (the common size) are kept for reuse,
 * up to the queue depth's worth each: no malloc, memalign and free per
 * request at hundreds of thousands a second.
 */
#define CACHE_MAX   256u

static void *alloc_blocks(size_t bytes)
{
	void *p = NULL;

	if (posix_memalign(&p, BE_BLOCK_SIZE, bytes ? bytes : BE_BLOCK_SIZE))
		return NULL;
	return p;
}

/* A buffer of at least @bytes, block aligned; 4 KiB and less from the cache. */
static void *buf_get(struct nbd_conn *c, size_t bytes)
{
	void *p = c->buf_cache;

	if (bytes > BE_BLOCK_SIZE || !p)
		return alloc_blocks(bytes > BE_BLOCK_SIZE ? bytes : BE_BLOCK_SIZE);
	c->buf_cache = *(void **)p;
	c->nbuf_cache--;
	return p;
}

/* Give back a buffer buf_get() returned for @bytes. */
static void buf_put(struct nbd_conn *c, void *p, size_t bytes)
{
	if (!p)
		return;
	if (bytes > BE_BLOCK_SIZE || c->nbuf_cache >= CACHE_MAX) {
		free(p);
		return;
	}
	*(void **)p = c->buf_cache;
	c->buf_cache = p;
	c->nbuf_cache++;
}

static struct nbd_req *req_get(struct nbd_conn *c)
{
	struct nbd_req *r = c->req_cache;

	if (!r)
		return calloc(1, sizeof(*r));
	c->req_cache = r->hnext;
	c->nreq_cache--;
	memset(r, 0, sizeof(*r));
	return r;
}

/* Free what the caches hold (the connection ends). */
static void caches_free(struct nbd_conn *c)
{
	while (c->req_cache) {
		struct nbd_req *r = c->req_cache;

		c->req_cache = r->hnext;
		free(r);
	}
	while (c->buf_cache) {
		void *p = c->buf_cache;

		c->buf_cache = *(void **)p;
		free(p);
	}
	c->nreq_cache = c->nbuf_cache = 0;
}

static void put_simple_hdr(uint8_t *hdr, uint32_t err, uint64_t cookie)
{
	put_be32(hdr, NBD_SIMPLE_REPLY_MAGIC);
	put_be32(hdr + 4, err);
	put_be64(hdr + 8, cookie);
}

/* A simple reply without data (a READ's data goes through reply_read()). */
static int send_simple(struct nbd_conn *c, uint64_t cookie, uint32_t err)
{
	uint8_t hdr[NBD_SIMPLE_REPLY_LEN];

	put_simple_hdr(hdr, err, cookie);
	return nbd_send(c, hdr, sizeof(hdr));
}

static void put_struct_hdr(uint8_t *hdr, uint16_t flags, uint16_t type, uint64_t cookie,
			   uint32_t len)
{
	put_be32(hdr, NBD_STRUCTURED_REPLY_MAGIC);
	put_be16(hdr + 4, flags);
	put_be16(hdr + 6, type);
	put_be64(hdr + 8, cookie);
	put_be32(hdr + 16, len);
}

/*
 * A READ's data reply, held in place: its header in @r, its data in
 * r->buf, both written with the next batch of replies (nbd_hold), and @r
 * freed after that by held_sent() (maybe before this returns).
 */
static void reply_read(struct nbd_conn *c, struct nbd_req *r)
{
	const uint8_t *data = r->mem ? r->mem : r->buf;
	struct iovec iov[2] = { { r->hdr, NBD_SIMPLE_REPLY_LEN },
				{ (void *)(data + r->skew), r->len } };

	if (c->structured) {
		put_struct_hdr(r->hdr, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_OFFSET_DATA, r->cookie,
			       r->len + 8);
		put_be64(r->hdr + NBD_STRUCT_REPLY_LEN, r->offset);
		iov[0].iov_len = NBD_STRUCT_REPLY_LEN + 8;
	} else {
		put_simple_hdr(r->hdr, 0, r->cookie);
	}
	r->hnext = NULL;
	if (c->held_tail)
		c->held_tail->hnext = r;
	else
		c->held = r;
	c->held_tail = r;
	nbd_hold(c, iov, 2);
}

/* The one place a request's reply is written: success or an error.
 * Return: true when @r went with it (reply_read()), else the caller frees it. */
static bool reply(struct nbd_conn *c, struct nbd_req *r, int res, const char *why)
{
	uint32_t err = res ? nbd_errno_to_nbd(res) : 0;

	if (c->dead)
		return false;
	if (!err && r->type == NBD_CMD_READ) {
		reply_read(c, r);
		return true;
	}
	if (res)
		log_info("request type %u offset %llu length %u: %s", r->type,
			 (unsigned long long)r->offset, r->len, why ? why : strerror(-res));
	if (!c->structured || r->type != NBD_CMD_READ) {
		/* Simple replies for everything but structured READs (allowed). */
		send_simple(c, r->cookie, err);
		return false;
	}
	/* A structured READ's error: the code and a message. */
	uint8_t hdr[NBD_STRUCT_REPLY_LEN + 6];
	const char *msg = why ? why : strerror(-res);
	uint16_t mlen = (uint16_t)strnlen(msg, 256);
	struct iovec iov[2] = { { hdr, sizeof(hdr) }, { (void *)msg, mlen } };

	put_struct_hdr(hdr, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_ERROR, r->cookie, 6u + mlen);
	put_be32(hdr + NBD_STRUCT_REPLY_LEN, err);
	put_be16(hdr + NBD_STRUCT_REPLY_LEN + 4, mlen);
	nbd_sendv(c, iov, mlen ? 2 : 1);
	return false;
}

static void req_free(struct nbd_req *r)
{
	struct nbd_conn *c = r->c;

	c->inflight--;
	c->inflight_bytes -= r->bytes;
	if (r->is_write)
		c->writes_inflight--;
	buf_put(c, r->buf, r->buf_size);
	buf_put(c, r->data, r->data_size);
	if (c->nreq_cache >= CACHE_MAX) {
		free(r);
		return;
	}
	r->hnext = c->req_cache;
	c->req_cache = r;
	c->nreq_cache++;
}

/* nbd_hold()'s callback: the held READ replies are out (or the connection
 * is dead); their requests go. */
static void held_sent(struct nbd_conn *c)
{
	struct nbd_req *r = c->held;

	c->held = c->held_tail = NULL;
	while (r) {
		struct nbd_req *next = r->hnext;

		req_free(r);
		r = next;
	}
}

static void req_finish(struct nbd_req *r, int res, const char *why)
{
	if (!reply(r->c, r, res, why))
		req_free(r);
}

static void req_done(struct be_io *io, int res);

/* Hand @r's be_io to the backend; a refusal completes it here. */
static void req_submit(struct nbd_req *r)
{
	struct backend *be = r->c->be;
	int rc;

	r->io.cb = req_done;
	r->io.cb_arg = r;
	rc = be->ops->submit(be, r->c->eng, &r->io);
	if (rc < 0)
		req_finish(r, rc, NULL);
	/* else: @r may already be gone (inline completion) */
}

static void req_done(struct be_io *io, int res)
{
	struct nbd_req *r = io->cb_arg;

	if (res == 0 && r->flush_after) {
		r->flush_after = false;
		r->io.op = BE_OP_FLUSH;
		r->io.lba = 0;
		r->io.nblocks = 0;
		r->io.buf = NULL;
		req_submit(r);
		return;
	}
	req_finish(r, res, NULL);
}

static void submit_io(struct nbd_req *r, enum be_op op, uint64_t lba, uint32_t nblocks,
		      void *buf, uint32_t flags)
{
	memset(&r->io, 0, sizeof(r->io));
	r->io.op = op;
	r->io.lba = lba;
	r->io.nblocks = nblocks;
	r->io.buf = buf;
	r->io.flags = flags;
	req_submit(r);
}

static void submit_op(struct nbd_req *r, enum be_op op, uint64_t lba, uint32_t nblocks,
		      void *buf)
{
	submit_io(r, op, lba, nblocks, buf, 0);
}

static void reap(struct nbd_conn *c, unsigned wait_us);

/* Take blocks @a..@b of the table for a synchronous read-modify-write:
 * while another request holds one, complete this connection's own I/O
 * (the holder may be one of them) or let another connection's finish. */
static int blk_lock_sync(struct nbd_conn *c, uint64_t a, uint64_t b)
{
	int rc;

	while ((rc = nbd_blk_trylock(c->srv, c->be, a, b)) == -EBUSY) {
		if (be_engine_inflight(c->eng)) {
			reap(c, ENGINE_WAIT_US);
		} else {
			struct timespec ts = { 0, PARKED_WAIT_NS };

			nbd_uncork(c);
			nanosleep(&ts, NULL);
		}
	}
	return rc;
}

/*
 * Zero @len bytes at byte @off that do not start and end on block
 * boundaries: read the partial head and tail blocks, zero the range in
 * them, write the covering blocks. Synchronous (WRITEs take the
 * asynchronous path below).
 */
static int rmw_zero(struct nbd_conn *c, uint64_t off, uint32_t len)
{
	uint64_t first = off >> BE_BLOCK_SHIFT, last = (off + len - 1) >> BE_BLOCK_SHIFT;
	uint32_t n = (uint32_t)(last - first + 1);
	uint32_t head = (uint32_t)(off & BLK_MASK);
	uint8_t *buf = alloc_blocks((size_t)n << BE_BLOCK_SHIFT);
	int rc;

	if (!buf)
		return -ENOMEM;
	rc = blk_lock_sync(c, first, last);
	if (rc) {
		free(buf);
		return rc;
	}
	if (head)
		rc = be_read_sync(c->be, first, 1, buf);
	if (!rc && ((off + len) & BLK_MASK) && (last != first || !head))
		rc = be_read_sync(c->be, last, 1, buf + ((size_t)(n - 1) << BE_BLOCK_SHIFT));
	if (!rc) {
		memset(buf + head, 0, len);
		rc = be_write_sync(c->be, first, n, buf);
	}
	nbd_blk_unlock(c->srv, c->be, first, last);
	free(buf);
	return rc;
}

/* ---- asynchronous read-modify-write of a sub-block WRITE ------------------ */

static void rmw_start(struct nbd_req *r);

static void park(struct nbd_req *r)
{
	struct nbd_conn *c = r->c;

	r->pnext = NULL;
	if (c->parked_tail)
		c->parked_tail->pnext = r;
	else
		c->parked = r;
	c->parked_tail = r;
}

/* Try the parked requests again, in the order they came. */
static void retry_parked(struct nbd_conn *c)
{
	struct nbd_req *r = c->parked;

	c->parked = c->parked_tail = NULL;
	while (r) {
		struct nbd_req *next = r->pnext;

		rmw_start(r);      /* may park it again, at the tail */
		r = next;
	}
}

static void rmw_end(struct nbd_req *r, int res)
{
	uint64_t first = r->offset >> BE_BLOCK_SHIFT;
	uint64_t last = (r->offset + r->len - 1) >> BE_BLOCK_SHIFT;

	if (r->locked) {
		nbd_blk_unlock(r->c->srv, r->c->be, first, last);
		r->locked = false;
	}
	req_finish(r, res, NULL);
}

static void rmw_write_done(struct be_io *io, int res)
{
	rmw_end(io->cb_arg, res);
}

/* One read done (or the starter's own count dropped): when none is left,
 * patch the payload in and write the blocks. */
static void rmw_step(struct nbd_req *r, int res)
{
	uint64_t first = r->offset >> BE_BLOCK_SHIFT;
	uint32_t n = (uint32_t)(((r->offset + r->len - 1) >> BE_BLOCK_SHIFT) - first + 1);
	struct backend *be = r->c->be;
	int rc;

	if (res && !r->err)
		r->err = res;
	if (--r->pending)
		return;
	if (r->err) {
		rmw_end(r, r->err);
		return;
	}
	memcpy(r->buf + (r->offset & BLK_MASK), r->data, r->len);
	memset(&r->io, 0, sizeof(r->io));
	r->io.op = BE_OP_WRITE;
	r->io.lba = first;
	r->io.nblocks = n;
	r->io.buf = r->buf;
	r->io.flags = r->fua ? BE_IO_FUA : 0;
	r->io.cb = rmw_write_done;
	r->io.cb_arg = r;
	rc = be->ops->submit(be, r->c->eng, &r->io);
	if (rc < 0)
		rmw_end(r, rc);
}

static void rmw_read_done(struct be_io *io, int res)
{
	rmw_step(io->cb_arg, res);
}

static void rmw_read(struct nbd_req *r, struct be_io *io, uint64_t lba, uint8_t *buf)
{
	struct backend *be = r->c->be;
	int rc;

	memset(io, 0, sizeof(*io));
	io->op = BE_OP_READ;
	io->lba = lba;
	io->nblocks = 1;
	io->buf = buf;
	io->cb = rmw_read_done;
	io->cb_arg = r;
	r->pending++;
	rc = be->ops->submit(be, r->c->eng, io);
	if (rc < 0)
		rmw_step(r, rc);
}

/* Take the first and last block (or park), read the partial ones. */
static void rmw_start(struct nbd_req *r)
{
	struct nbd_conn *c = r->c;
	uint64_t end = r->offset + r->len;
	uint64_t first = r->offset >> BE_BLOCK_SHIFT, last = (end - 1) >> BE_BLOCK_SHIFT;
	uint32_t n = (uint32_t)(last - first + 1);
	bool head = r->offset & BLK_MASK, tail = end & BLK_MASK;
	int rc = nbd_blk_trylock(c->srv, c->be, first, last);

	if (rc == -EBUSY) {
		park(r);
		return;
	}
	if (rc) {
		req_finish(r, rc, NULL);
		return;
	}
	r->locked = true;
	if (r->part) {
		/* No read: the backend writes the bytes where they go. */
		memset(&r->io, 0, sizeof(r->io));
		r->io.op = BE_OP_WRITE;
		r->io.lba = first;
		r->io.nblocks = n;
		r->io.buf = r->data;
		r->io.part_off = r->offset;
		r->io.part_len = r->len;
		r->io.flags = r->fua ? BE_IO_FUA : 0;
		r->io.cb = rmw_write_done;
		r->io.cb_arg = r;
		rc = c->be->ops->submit(c->be, c->eng, &r->io);
		if (rc < 0)
			rmw_end(r, rc);
		return;
	}
	if (!r->buf) {
		r->buf_size = (size_t)n << BE_BLOCK_SHIFT;
		r->buf = buf_get(c, r->buf_size);
		if (!r->buf) {
			rmw_end(r, -ENOMEM);
			return;
		}
		r->bytes += (size_t)n << BE_BLOCK_SHIFT;
		c->inflight_bytes += (size_t)n << BE_BLOCK_SHIFT;
	}
	r->pending = 1;             /* ours, until both reads are started */
	r->err = 0;
	if (head)
		rmw_read(r, &r->io, first, r->buf);
	if (tail && (last != first || !head))
		rmw_read(r, &r->io2, last, r->buf + ((size_t)(n - 1) << BE_BLOCK_SHIFT));
	rmw_step(r, 0);             /* @r may be gone now */
}

/* WRITE_ZEROES / TRIM over a range that is not block aligned: for a
 * WRITE_ZEROES (@trim false) partial blocks are zeroed by read-modify-write;
 * a TRIM leaves them alone (it is only a hint). Whole blocks in between get
 * @op. Synchronous. */
static int unaligned_zero(struct nbd_conn *c, uint64_t off, uint32_t len, enum be_op op,
			  bool trim)
{
	uint64_t end = off + len;
	uint64_t a = (off + BLK_MASK) & ~BLK_MASK, b = end & ~BLK_MASK;
	int rc = 0;

	if (a >= b)             /* inside one block or across one boundary */
		return trim ? 0 : rmw_zero(c, off, len);
	if (!trim && off < a)
		rc = rmw_zero(c, off, (uint32_t)(a - off));
	if (!rc)
		rc = c->be->ops->io_sync(c->be, op, a >> BE_BLOCK_SHIFT,
					 (uint32_t)((b - a) >> BE_BLOCK_SHIFT), NULL);
	if (!rc && !trim && b < end)
		rc = rmw_zero(c, b, (uint32_t)(end - b));
	return rc;
}

/*
 * WRITE_ZEROES with FAST_ZERO: the whole blocks first, by the backend's
 * zero_fast (a hole, or an allocated zero range, per @op), so that a zero
 * that would mean writing zeroes fails with ENOTSUP having changed
 * nothing; then the partial head and tail blocks by read-modify-write. A
 * range with no whole block in it is only read-modify-write: ENOTSUP.
 * Synchronous.
 */
static int fast_zero(struct nbd_conn *c, uint64_t off, uint32_t len, enum be_op op)
{
	uint64_t end = off + len;
	uint64_t a = (off + BLK_MASK) & ~BLK_MASK, b = end & ~BLK_MASK;
	struct backend *be = c->be;
	int rc;

	if (a >= b || !be->ops->zero_fast)
		return -EOPNOTSUPP;
	rc = be->ops->zero_fast(be, op, a >> BE_BLOCK_SHIFT, (uint32_t)((b - a) >> BE_BLOCK_SHIFT));
	if (!rc && off < a)
		rc = rmw_zero(c, off, (uint32_t)(a - off));
	if (!rc && b < end)
		rc = rmw_zero(c, b, (uint32_t)(end - b));
	return rc;
}

static bool aligned(uint64_t off, uint32_t len)
{
	return !(off & BLK_MASK) && !(len & BLK_MASK);
}

/* Synchronous work finished: flush for FUA, then reply. */
static void finish_sync(struct nbd_req *r, int rc)
{
	if (!rc && r->flush_after) {
		r->flush_after = false;
		submit_op(r, BE_OP_FLUSH, 0, 0, NULL);
		return;
	}
	req_finish(r, rc, NULL);
}

static void do_read(struct nbd_req *r)
{
	uint64_t first = r->offset >> BE_BLOCK_SHIFT;
	uint64_t last = (r->offset + r->len - 1) >> BE_BLOCK_SHIFT;
	uint32_t n = (uint32_t)(last - first + 1);

	r->skew = (uint32_t)(r->offset & BLK_MASK);
	r->flush_after = false;
	/* Memory (a RAM LUN): the reply is written from the medium itself,
	 * with no copy into a buffer first (a third of the server's CPU at
	 * QD 32 was that memcpy). */
	if (r->c->be->ops->mem) {
		r->mem = r->c->be->ops->mem(r->c->be, first, n);
		if (r->mem) {
			req_finish(r, 0, NULL);
			return;
		}
	}
	r->bytes = (size_t)n << BE_BLOCK_SHIFT;
	r->c->inflight_bytes += r->bytes;
	r->buf_size = r->bytes;
	r->buf = buf_get(r->c, r->bytes);
	if (!r->buf) {
		req_finish(r, -ENOMEM, NULL);
		return;
	}
	submit_op(r, BE_OP_READ, first, n, r->buf);
}

static void do_write(struct nbd_req *r, uint8_t *data)
{
	uint32_t pa;

	if (aligned(r->offset, r->len)) {
		/* FUA: the write itself is made durable (RWF_DSYNC on a file),
		 * not the whole LUN flushed after it. */
		uint32_t flags = r->flush_after ? BE_IO_FUA : 0;

		r->flush_after = false;
		r->buf = data;
		r->buf_size = r->len;
		submit_io(r, BE_OP_WRITE, r->offset >> BE_BLOCK_SHIFT,
			  r->len >> BE_BLOCK_SHIFT, data, flags);
		return;
	}
	r->data = data;
	r->data_size = r->len;
	r->fua = r->flush_after;
	r->flush_after = false;
	pa = r->c->be->part_align;
	r->part = pa && !(r->offset % pa) && !(r->len % pa);
	/* Behind those already waiting: a block let go goes to them first. */
	if (r->c->parked)
		park(r);
	else
		rmw_start(r);
}

static void do_zero(struct nbd_req *r, enum be_op op)
{
	if (aligned(r->offset, r->len)) {
		submit_op(r, op, r->offset >> BE_BLOCK_SHIFT, r->len >> BE_BLOCK_SHIFT, NULL);
		return;
	}
	finish_sync(r, unaligned_zero(r->c, r->offset, r->len, op, r->type == NBD_CMD_TRIM));
}

/* Which command flags each command accepts (given what was negotiated). */
static uint16_t allowed_flags(const struct nbd_conn *c, uint16_t type)
{
	uint16_t f = NBD_CMD_FLAG_FUA;  /* valid on every command with SEND_FUA */

	if (type == NBD_CMD_READ && c->structured)
		f |= NBD_CMD_FLAG_DF;
	if (type == NBD_CMD_WRITE_ZEROES)
		f |= NBD_CMD_FLAG_NO_HOLE | NBD_CMD_FLAG_FAST_ZERO;
	if (type == NBD_CMD_BLOCK_STATUS)
		f |= NBD_CMD_FLAG_REQ_ONE;
	return f;
}

/*
 * Check a request against the export. Return 0, or a negative errno with
 * @why set: the request gets an error reply (a WRITE's payload is drained
 * by the caller first).
 */
static int check_request(struct nbd_conn *c, const struct nbd_req *r, const char **why)
{
	bool has_range = r->type == NBD_CMD_READ || r->type == NBD_CMD_WRITE ||
			 r->type == NBD_CMD_TRIM || r->type == NBD_CMD_WRITE_ZEROES ||
			 r->type == NBD_CMD_CACHE || r->type == NBD_CMD_BLOCK_STATUS;
	bool writes = r->type == NBD_CMD_WRITE || r->type == NBD_CMD_TRIM ||
		      r->type == NBD_CMD_WRITE_ZEROES;

	if (!has_range && r->type != NBD_CMD_FLUSH) {
		*why = "unknown command";
		return -EINVAL;
	}
	/* Writes to a read-only export are EPERM whatever their flags (FUA is
	 * not advertised there, but a write is refused for being a write). */
	if (writes && c->readonly) {
		*why = "export is read-only";
		return -EPERM;
	}
	if (r->flags & ~allowed_flags(c, r->type)) {
		*why = "command flag not valid for this command";
		return -EINVAL;
	}
	if (!has_range)
		return 0;
	if (r->type == NBD_CMD_BLOCK_STATUS && !c->meta_alloc) {
		*why = "no metadata context was negotiated";
		return -EINVAL;
	}
	if (r->len == 0) {
		*why = "zero-length request";
		return -EINVAL;
	}
	if ((r->type == NBD_CMD_READ || r->type == NBD_CMD_WRITE) && r->len > NBD_MAX_PAYLOAD) {
		*why = "request exceeds the maximum block size (32 MiB)";
		return -EINVAL;
	}
	if (r->offset > c->size || r->len > c->size - r->offset) {
		*why = "request beyond the end of the export";
		return writes && r->type != NBD_CMD_TRIM ? -ENOSPC : -EINVAL;
	}
	return 0;
}

/* Read one request and start it. Return 1 to go on, 0 on DISC or EOF,
 * or a negative errno (the connection is closed). */
static int handle_request(struct nbd_conn *c)
{
	uint8_t hdr[NBD_REQUEST_LEN];
	struct nbd_req *r;
	const char *why = NULL;
	uint8_t *data = NULL;
	int rc;

	rc = nbd_recv(c, hdr, sizeof(hdr));
	if (rc)
		return rc == -ECONNRESET ? 0 : rc;
	if (get_be32(hdr) != NBD_REQUEST_MAGIC) {
		log_info("bad request magic %#x: closing", get_be32(hdr));
		return -EPROTO;
	}
	r = req_get(c);
	if (!r)
		return -ENOMEM;
	r->c = c;
	r->flags = get_be16(hdr + 4);
	r->type = get_be16(hdr + 6);
	r->cookie = get_be64(hdr + 8);
	r->offset = get_be64(hdr + 16);
	r->len = get_be32(hdr + 24);
	c->inflight++;
	log_debug("request type %u flags %#x offset %llu length %u", r->type, r->flags,
		  (unsigned long long)r->offset, r->len);

	if (r->type == NBD_CMD_DISC) {
		req_free(r);
		return 0;
	}
	rc = check_request(c, r, &why);
	if (r->type == NBD_CMD_WRITE) {
		/* The payload follows whatever we think of the request. */
		if (rc) {
			int err = rc;

			if (r->len > WRITE_DRAIN_MAX) {
				log_info("WRITE of %u bytes: closing", r->len);
				req_free(r);
				return -EPROTO;
			}
			rc = nbd_discard(c, r->len);
			if (rc) {
				req_free(r);
				return rc;
			}
			req_finish(r, err, why);
			return 1;
		}
		data = buf_get(c, r->len);
		if (!data) {
			rc = nbd_discard(c, r->len);
			req_finish(r, -ENOMEM, NULL);
			return rc ? rc : 1;
		}
		r->bytes = r->len;
		c->inflight_bytes += r->bytes;
		rc = nbd_recv(c, data, r->len);
		if (rc) {
			buf_put(c, data, r->len);
			req_free(r);
			return rc;
		}
	} else if (rc) {
		req_finish(r, rc, why);
		return 1;
	}

	r->flush_after = (r->flags & NBD_CMD_FLAG_FUA) && r->type != NBD_CMD_READ &&
			 r->type != NBD_CMD_FLUSH && r->type != NBD_CMD_CACHE;
	if (r->type == NBD_CMD_WRITE || r->type == NBD_CMD_TRIM ||
	    r->type == NBD_CMD_WRITE_ZEROES) {
		r->is_write = true;
		c->writes_inflight++;
	}
	switch (r->type) {
	case NBD_CMD_READ:
		do_read(r);
		break;
	case NBD_CMD_WRITE:
		do_write(r, data);
		break;
	case NBD_CMD_FLUSH:
		/* After the writes in flight (the loop reads nothing more
		 * until it is submitted). */
		if (c->writes_inflight)
			c->flush_wait = r;
		else
			submit_op(r, BE_OP_FLUSH, 0, 0, NULL);
		break;
	case NBD_CMD_TRIM:
		do_zero(r, BE_OP_DISCARD);
		break;
	case NBD_CMD_WRITE_ZEROES: {
		/* NO_HOLE: the client wants allocated zeroes, not a hole. */
		enum be_op op = (r->flags & NBD_CMD_FLAG_NO_HOLE) || !c->be->can_unmap
				? BE_OP_WRITE_ZEROES : BE_OP_DISCARD;

		if (r->flags & NBD_CMD_FLAG_FAST_ZERO)
			finish_sync(r, fast_zero(c, r->offset, r->len, op));
		else
			do_zero(r, op);
		break;
	}
	case NBD_CMD_BLOCK_STATUS:
		/* Synchronous and bounded (nbd_meta.c caps the reply). */
		rc = nbd_meta_block_status(c, r->cookie, r->offset, r->len,
					   r->flags & NBD_CMD_FLAG_REQ_ONE);
		if (rc)
			req_finish(r, rc, NULL);
		else
			req_free(r);
		break;
	case NBD_CMD_CACHE:
		/* Nothing to prefetch into: file LUNs are read with O_DIRECT
		 * where the file system allows it, RAM LUNs are memory. The
		 * range was checked like a READ's. */
		req_finish(r, 0, NULL);
		break;
	}
	return 1;
}

static void reap(struct nbd_conn *c, unsigned wait_us)
{
	if (!be_engine_inflight(c->eng))
		return;
	if (wait_us) {
		nbd_uncork(c);          /* the replies out before waiting */
		be_engine_wait(c->eng, wait_us);
	}
	if (be_engine_poll(c->eng, 0) < 0)
		log_err("I/O engine poll failed");
}

/* What may move without a new request: parked requests whose blocks may
 * be free now, a FLUSH whose writes are done. */
static void progress(struct nbd_conn *c)
{
	if (c->parked)
		retry_parked(c);
	if (c->flush_wait && !c->writes_inflight) {
		struct nbd_req *r = c->flush_wait;

		c->flush_wait = NULL;
		submit_op(r, BE_OP_FLUSH, 0, 0, NULL);
	}
}

/* Nothing on the engine, only parked requests: wait a little for another
 * connection to let their blocks go, or for a request (when @rx). */
static void wait_parked(struct nbd_conn *c, bool rx)
{
	struct pollfd p = { .fd = c->fd, .events = POLLIN };
	struct timespec ts = { 0, PARKED_WAIT_NS };

	nbd_uncork(c);
	if (rx)
		ppoll(&p, 1, &ts, NULL);
	else
		nanosleep(&ts, NULL);
}

void nbd_transmit(struct nbd_conn *c)
{
	unsigned depth = c->srv->cfg.queue_depth;
	int rc;

	rc = be_engine_create(&c->eng, depth);
	if (rc) {
		log_err("cannot create an I/O engine: %s", strerror(-rc));
		return;
	}
	c->out_len = c->out_off = 0;    /* the handshake's are out (conn_main) */
	c->cork = true;
	c->held_sent = held_sent;
	while (!c->dead) {
		bool busy;

		progress(c);
		busy = be_engine_inflight(c->eng) > 0;
		/* Back-pressure, or a FLUSH waiting: complete before reading. */
		if (c->flush_wait || c->inflight >= depth || c->inflight_bytes >= INFLIGHT_BYTES) {
			if (busy)
				reap(c, 1000);
			else
				wait_parked(c, false);
			continue;
		}
		if (busy) {
			reap(c, 0);
			if (!nbd_rx_ready(c)) {
				reap(c, ENGINE_WAIT_US);
				continue;
			}
		} else if (c->parked && !nbd_rx_ready(c)) {
			wait_parked(c, true);
			continue;
		}
		rc = handle_request(c);
		if (rc <= 0) {
			if (rc < 0 && rc != -ECONNRESET && rc != -EPROTO)
				log_info("connection ends: %s", strerror(-rc));
			break;
		}
	}
	/* Requests in flight finish (their replies may still go out), parked
	 * ones and a waiting FLUSH included. */
	for (;;) {
		progress(c);
		if (be_engine_inflight(c->eng))
			reap(c, 100000);
		else if (c->parked)
			wait_parked(c, false);
		else
			break;
	}
	nbd_uncork(c);
	c->cork = false;
	c->held_sent = NULL;
	be_engine_destroy(c->eng);
	c->eng = NULL;
	caches_free(c);
}
