/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fault.c - the "fault" wrapper: any other backend with faults injected for
 * tests: injected errors, torn writes and latency (below), and a volatile
 * write cache (wcache): before a
 * modifying request reaches the wrapped backend, the old contents of every
 * block it touches for the first time since the last completed flush are
 * appended to an undo journal; a flush flushes the wrapped backend and then
 * empties the journal. be_fault_powercut() writes journaled contents back,
 * so the writes since the last flush are lost as a drive's cache would lose
 * them. The journal is written with plain pwrite: tests kill processes,
 * they do not cut power, and the page cache keeps what was written.
 *
 * A write with BE_IO_FUA is durable when it completes: once it has, a
 * marker record (WC_F_DURABLE, no data) says its blocks must not be put
 * back to anything journaled before the marker, and the blocks count as
 * untouched again (a later write journals the FUA contents). Other
 * journaled blocks stay as they were: FUA flushes nothing else.
 *
 * The journal is a sequence of records, each a header (struct wc_rec) and
 * the old contents of nblocks blocks (none when they were all zeroes), with
 * a checksum over both. A killed process may leave a torn last record; its
 * write never reached the wrapped backend (the record is written first), so
 * reading stops there and the next record overwrites it. Only a flush or a
 * power cut empties the journal: a reopened LUN keeps the records (and the
 * first-touch rule) of the process before. The journal is read at the first
 * modifying request, when the opener holds the LUN's lock, not at open.
 *
 * Injected faults (struct be_fault_inject, from the name's options or a
 * control file a test rewrites at run time): a data request that is the
 * Nth since they were set, or touches a range of blocks, fails with EIO
 * before it reaches the storage (the AFU reports MEDIUM ERROR); the Nth
 * write of more than one block writes its first half and then fails; every
 * data request can wait a while first (the calling worker sleeps: a slow
 * device serving one request at a time).
 */
#include "backend/backend_internal.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define WC_MAGIC     0x31435746u  /* "FWC1" */
#define WC_F_ZERO    1u           /* the old contents were zeroes: no data follows */
#define WC_F_DURABLE 2u           /* a FUA write made these blocks durable: no data */
#define WC_MAX_RUN   256u         /* blocks per record */
#define SUM_SEED     0xcbf29ce484222325ull

struct wc_rec {
	uint32_t magic;
	uint32_t flags;
	uint64_t lba;
	uint32_t nblocks;
	uint32_t pad;
	uint64_t sum;       /* over the header (sum = 0) and the data */
};

struct be_fault {
	struct backend be;
	struct backend *inner;
	bool readonly;
	int jfd;                  /* the journal; -1 when read-only (nothing to undo) */
	char jpath[PATH_MAX];     /* for messages; "memory" for an anonymous journal */
	/* One request journals at a time, and a flush waits for it: the record
	 * of a block is complete before its write is submitted. */
	pthread_mutex_t lock;
	bool loaded;              /* the journal has been read (first modifying request) */
	uint64_t *touched;        /* bit per block: journaled since the last flush */
	uint64_t nbits;           /* blocks @touched covers */
	uint64_t jend;            /* end of the last good record */
	uint64_t nrecorded;       /* blocks in the journal */
	uint8_t *buf;             /* WC_MAX_RUN blocks, aligned */

	/* Injected faults, under inj_lock. */
	pthread_mutex_t inj_lock;
	struct be_fault_inject inj;
	uint64_t nreq;            /* data requests since @inj was set */
	uint64_t nmulti;          /* writes of more than one block since then */
	char ctl[PATH_MAX];       /* control file, or "" */
	struct stat ctl_st;       /* what it was when last read (st_ino 0: never) */
};

static const struct backend_ops fault_ops;

static inline struct be_fault *to_fault(struct backend *be)
{
	return (struct be_fault *)be;
}

/* A word-at-a-time FNV-style mix: catches torn and stale records. */
static uint64_t wc_sum(uint64_t h, const void *p, size_t len)
{
	const uint8_t *b = p;

	for (size_t i = 0; i + 8 <= len; i += 8) {
		uint64_t w;

		memcpy(&w, b + i, 8);
		h = (h ^ w) * 0x100000001b3ull;
		h ^= h >> 29;
	}
	return h;
}

static uint64_t rec_sum(const struct wc_rec *r, const void *data)
{
	struct wc_rec h = *r;
	uint64_t s;

	h.sum = 0;
	s = wc_sum(SUM_SEED, &h, sizeof(h));
	if (!(r->flags & (WC_F_ZERO | WC_F_DURABLE)))
		s = wc_sum(s, data, (size_t)r->nblocks << BE_BLOCK_SHIFT);
	return s;
}

static bool all_zero(const uint8_t *p, size_t len)
{
	static const uint8_t z[64];

	for (size_t i = 0; i < len; i += sizeof(z))
		if (memcmp(p + i, z, sizeof(z)))
			return false;
	return true;
}

static bool test_bit(const struct be_fault *f, uint64_t b)
{
	return b < f->nbits && (f->touched[b / 64] >> (b % 64)) & 1;
}

static void set_bit(struct be_fault *f, uint64_t b)
{
	f->touched[b / 64] |= 1ull << (b % 64);
}

static void clear_bit(struct be_fault *f, uint64_t b)
{
	if (b < f->nbits)
		f->touched[b / 64] &= ~(1ull << (b % 64));
}

/* Cover blocks [0, @n): the wrapped backend may have grown (refresh). */
static int ensure_bits(struct be_fault *f, uint64_t n)
{
	uint64_t have = (f->nbits + 63) / 64, want = (n + 63) / 64;
	uint64_t *p;

	if (n <= f->nbits)
		return 0;
	if (want > have) {
		if (want > SIZE_MAX / sizeof(*p))
			return -ENOMEM;
		p = realloc(f->touched, (size_t)want * sizeof(*p));
		if (!p)
			return -ENOMEM;
		memset(p + have, 0, (size_t)(want - have) * sizeof(*p));
		f->touched = p;
	}
	f->nbits = n;
	return 0;
}

static int pwrite_all(int fd, struct iovec *iov, int cnt, uint64_t off)
{
	while (cnt) {
		ssize_t r = pwritev(fd, iov, cnt, (off_t)off);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			return -EIO;
		off += (uint64_t)r;
		while (cnt && (size_t)r >= iov->iov_len) {
			r -= (ssize_t)iov->iov_len;
			iov++;
			cnt--;
		}
		if (cnt) {
			iov->iov_base = (uint8_t *)iov->iov_base + r;
			iov->iov_len -= (size_t)r;
		}
	}
	return 0;
}

static int pread_all(int fd, void *buf, size_t len, uint64_t off)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t r = pread(fd, p, len, (off_t)off);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			return -ENODATA;  /* the journal ends inside the record */
		p += r;
		off += (uint64_t)r;
		len -= (size_t)r;
	}
	return 0;
}

/*
 * Read the record at @off into @r and (unless zeroes) f->buf.
 * Return: 0, -EILSEQ for a torn or foreign record, -ENODATA at the end of
 * the journal, or a negative errno.
 */
static int rec_read(struct be_fault *f, uint64_t off, struct wc_rec *r)
{
	int ret = pread_all(f->jfd, r, sizeof(*r), off);

	if (ret)
		return ret;
	if (r->magic != WC_MAGIC || r->flags & ~(WC_F_ZERO | WC_F_DURABLE) ||
	    (r->flags & WC_F_ZERO && r->flags & WC_F_DURABLE) || !r->nblocks ||
	    r->nblocks > WC_MAX_RUN || r->lba > be_capacity(f->inner) ||
	    r->nblocks > be_capacity(f->inner) - r->lba)
		return -EILSEQ;
	if (!(r->flags & (WC_F_ZERO | WC_F_DURABLE))) {
		ret = pread_all(f->jfd, f->buf, (size_t)r->nblocks << BE_BLOCK_SHIFT,
				off + sizeof(*r));
		if (ret)
			return ret;
	}
	return rec_sum(r, f->buf) == r->sum ? 0 : -EILSEQ;
}

static uint64_t rec_len(const struct wc_rec *r)
{
	return sizeof(*r) + (r->flags & (WC_F_ZERO | WC_F_DURABLE) ? 0 :
			     (uint64_t)r->nblocks << BE_BLOCK_SHIFT);
}

/*
 * Walk the good records from the start, calling @fn (if any) on each, and
 * leave jend after the last one. Lock held.
 */
static int wc_walk(struct be_fault *f, int (*fn)(struct be_fault *f, const struct wc_rec *r,
						 uint64_t off, void *arg), void *arg)
{
	uint64_t off = 0;
	struct wc_rec r;

	for (;;) {
		int ret = rec_read(f, off, &r);

		if (ret == -ENODATA || ret == -EILSEQ)
			break;
		if (ret)
			return ret;
		if (fn) {
			ret = fn(f, &r, off, arg);
			if (ret)
				return ret;
		}
		off += rec_len(&r);
	}
	f->jend = off;
	return 0;
}

static int mark_rec(struct be_fault *f, const struct wc_rec *r, uint64_t off, void *arg)
{
	int ret = ensure_bits(f, r->lba + r->nblocks);

	(void)off;
	(void)arg;
	if (ret)
		return ret;
	for (uint32_t i = 0; i < r->nblocks; i++) {
		if (r->flags & WC_F_DURABLE)
			clear_bit(f, r->lba + i);
		else
			set_bit(f, r->lba + i);
	}
	if (!(r->flags & WC_F_DURABLE))
		f->nrecorded += r->nblocks;
	return 0;
}

/* Read what an earlier process journaled (first-touch state). Lock held. */
static int wc_load(struct be_fault *f)
{
	int ret;

	if (f->loaded)
		return 0;
	f->nrecorded = 0;
	ret = wc_walk(f, mark_rec, NULL);
	if (ret) {
		log_err("%s: cannot read the write cache journal %s: %s", f->be.id, f->jpath,
			strerror(-ret));
		return ret;
	}
	if (f->nrecorded)
		log_info("%s: journal %s holds %" PRIu64 " blocks written since the last flush; "
			 "kept (a power cut still loses them)", f->be.id, f->jpath, f->nrecorded);
	f->loaded = true;
	return 0;
}

/* Append the old contents of [lba, lba + n), n <= WC_MAX_RUN. Lock held. */
static int journal_run(struct be_fault *f, uint64_t lba, uint32_t n)
{
	struct wc_rec r = { .magic = WC_MAGIC, .lba = lba, .nblocks = n };
	size_t len = (size_t)n << BE_BLOCK_SHIFT;
	struct iovec iov[2] = { { &r, sizeof(r) }, { f->buf, len } };
	int ret = f->inner->ops->io_sync(f->inner, BE_OP_READ, lba, n, f->buf);

	if (ret)
		return ret;
	if (all_zero(f->buf, len))
		r.flags = WC_F_ZERO;
	r.sum = rec_sum(&r, f->buf);
	ret = pwrite_all(f->jfd, iov, r.flags & WC_F_ZERO ? 1 : 2, f->jend);
	if (ret)
		return ret;
	f->jend += rec_len(&r);
	f->nrecorded += n;
	for (uint32_t i = 0; i < n; i++)
		set_bit(f, lba + i);
	return 0;
}

/* Journal the blocks of [lba, lba + n) not journaled since the last flush. */
static int wc_journal(struct be_fault *f, uint64_t lba, uint32_t n)
{
	uint64_t end = lba + n;
	int ret;

	if (f->jfd < 0)
		return 0;   /* no write cache */

	pthread_mutex_lock(&f->lock);
	ret = wc_load(f);
	if (!ret)
		ret = ensure_bits(f, end);
	while (!ret && lba < end) {
		uint32_t run = 0;

		if (test_bit(f, lba)) {
			lba++;
			continue;
		}
		while (lba + run < end && run < WC_MAX_RUN && !test_bit(f, lba + run))
			run++;
		ret = journal_run(f, lba, run);
		lba += run;
	}
	pthread_mutex_unlock(&f->lock);
	if (ret)
		log_err("%s: cannot journal old contents to %s: %s", f->be.id, f->jpath,
			strerror(-ret));
	return ret;
}

/*
 * A FUA write of [lba, lba + n) completed: append markers so a power cut
 * keeps what it wrote, and let the next write of these blocks journal them
 * afresh. Only blocks journaled since the last flush need one.
 */
static int wc_durable(struct be_fault *f, uint64_t lba, uint32_t n)
{
	uint64_t end = lba + n;
	int ret;

	pthread_mutex_lock(&f->lock);
	ret = wc_load(f);
	while (!ret && lba < end) {
		struct wc_rec r = { .magic = WC_MAGIC, .flags = WC_F_DURABLE, .lba = lba };
		struct iovec iov = { &r, sizeof(r) };

		if (!test_bit(f, lba)) {
			lba++;
			continue;
		}
		while (lba + r.nblocks < end && r.nblocks < WC_MAX_RUN)
			r.nblocks++;
		r.sum = rec_sum(&r, NULL);
		ret = pwrite_all(f->jfd, &iov, 1, f->jend);
		if (ret)
			break;
		f->jend += rec_len(&r);
		for (uint32_t i = 0; i < r.nblocks; i++)
			clear_bit(f, lba + i);
		lba += r.nblocks;
	}
	pthread_mutex_unlock(&f->lock);
	if (ret)
		log_err("%s: cannot journal a FUA write to %s: %s", f->be.id, f->jpath,
			strerror(-ret));
	return ret;
}

/* ---------------------------------------------------------------------------
 * Injected faults
 */

/* Re-read the control file when it changed (a missing file: no faults). inj_lock held. */
static void ctl_reload_locked(struct be_fault *f)
{
	struct be_fault_inject inj;
	struct stat st;
	char text[4096];
	ssize_t n;
	int fd;

	if (stat(f->ctl, &st)) {
		if (f->ctl_st.st_ino) {
			memset(&f->ctl_st, 0, sizeof(f->ctl_st));
			memset(&f->inj, 0, sizeof(f->inj));
		}
		return;
	}
	if (st.st_ino == f->ctl_st.st_ino && st.st_size == f->ctl_st.st_size &&
	    st.st_mtim.tv_sec == f->ctl_st.st_mtim.tv_sec &&
	    st.st_mtim.tv_nsec == f->ctl_st.st_mtim.tv_nsec)
		return;
	f->ctl_st = st;
	fd = open(f->ctl, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	if (n < 0)
		return;
	text[n] = '\0';
	if (be_parse_fault_inject(text, &inj)) {
		log_err("%s: control file %s not applied (the faults before stay)", f->be.id, f->ctl);
		return;
	}
	f->inj = inj;
	f->nreq = f->nmulti = 0;
}

static bool is_write_op(enum be_op op)
{
	return op == BE_OP_WRITE || op == BE_OP_WRITE_ZEROES || op == BE_OP_DISCARD;
}

/*
 * inject() - the injected fault for a data request, if any: -EIO to fail
 * it, 0 to let it through (*@tear: write its first half, then fail). Sleeps
 * the configured delay first.
 */
static int inject(struct be_fault *f, enum be_op op, uint64_t lba, uint32_t n, bool *tear)
{
	struct be_fault_inject *in = &f->inj;
	bool hit_kind;
	uint32_t delay;
	int ret = 0;

	*tear = false;
	pthread_mutex_lock(&f->inj_lock);
	if (f->ctl[0])
		ctl_reload_locked(f);
	hit_kind = is_write_op(op) ? in->fail_writes : in->fail_reads;
	f->nreq++;
	if (hit_kind && in->fail_nth && f->nreq == in->fail_nth)
		ret = -EIO;
	if (hit_kind && in->fail_lba && n && lba <= in->fail_lba_last &&
	    lba + n - 1 >= in->fail_lba_first)
		ret = -EIO;
	if (!ret && op == BE_OP_WRITE && n > 1 && in->tear_nth && ++f->nmulti == in->tear_nth)
		*tear = true;
	delay = in->delay_us;
	pthread_mutex_unlock(&f->inj_lock);
	if (delay) {
		struct timespec ts = { delay / 1000000, (long)(delay % 1000000) * 1000 };

		while (nanosleep(&ts, &ts) && errno == EINTR)
			;
	}
	return ret;
}

/* A write on its way through the wrapped backend that needs more when it
 * completes: a FUA write's durability marker, or a torn write's error. */
struct fault_wrap {
	struct be_io io;        /* first: the wrapped backend's callback gets it */
	struct be_io *orig;
	struct be_fault *f;
	bool tear;
};

static void wrap_done(struct be_io *io, int res)
{
	struct fault_wrap *w = (struct fault_wrap *)io;
	struct be_io *orig = w->orig;

	if (!res && w->tear)
		res = -EIO;     /* half written: as a device failing mid-way */
	else if (!res && (orig->flags & BE_IO_FUA) && w->f->jfd >= 0)
		res = wc_durable(w->f, orig->lba, orig->nblocks);
	free(w);
	orig->cb(orig, res);
}

static int wrap_submit(struct be_fault *f, struct be_engine *eng, struct be_io *io, bool tear)
{
	struct fault_wrap *w = malloc(sizeof(*w));
	int ret;

	if (!w)
		return -ENOMEM;
	w->io = (struct be_io){ .op = io->op, .lba = io->lba,
				.nblocks = tear ? io->nblocks / 2 : io->nblocks,
				.buf = io->buf, .flags = io->flags, .cb = wrap_done, .cb_arg = w };
	w->orig = io;
	w->f = f;
	w->tear = tear;
	ret = f->inner->ops->submit(f->inner, eng, &w->io);
	if (ret)
		free(w);
	return ret;
}

/* Forget everything journaled: the blocks are durable. Lock held. */
static int wc_clear(struct be_fault *f)
{
	while (ftruncate(f->jfd, 0)) {
		if (errno != EINTR)
			return -errno;
	}
	if (f->touched)
		memset(f->touched, 0, (size_t)((f->nbits + 63) / 64) * sizeof(*f->touched));
	f->jend = 0;
	f->nrecorded = 0;
	f->loaded = true;
	return 0;
}

/* A flush: the wrapped backend's, then the journal is emptied. */
static int wc_flush(struct be_fault *f)
{
	int ret;

	pthread_mutex_lock(&f->lock);
	ret = f->inner->ops->io_sync(f->inner, BE_OP_FLUSH, 0, 0, NULL);
	if (!ret && f->jfd >= 0)
		ret = wc_clear(f);
	pthread_mutex_unlock(&f->lock);
	return ret;
}

static int fault_io_sync(struct backend *be, enum be_op op, uint64_t lba, uint32_t nblocks,
			 void *buf)
{
	struct be_fault *f = to_fault(be);
	int ret = be_check_io(be, op, lba, nblocks, buf, f->readonly);
	bool tear;

	if (ret)
		return ret;
	if (op == BE_OP_FLUSH)
		return wc_flush(f);
	ret = inject(f, op, lba, nblocks, &tear);
	if (ret)
		return ret;
	if (op != BE_OP_READ) {
		ret = wc_journal(f, lba, nblocks);
		if (ret)
			return ret;
	}
	if (tear) {
		ret = f->inner->ops->io_sync(f->inner, op, lba, nblocks / 2, buf);
		return ret ? ret : -EIO;
	}
	return f->inner->ops->io_sync(f->inner, op, lba, nblocks, buf);
}

/* The wrapped backend's fast zeroing, journaled like any write. */
static int fault_zero_fast(struct backend *be, enum be_op op, uint64_t lba, uint32_t nblocks)
{
	struct be_fault *f = to_fault(be);
	int ret = be_check_io(be, op, lba, nblocks, NULL, f->readonly);
	bool tear;

	if (ret)
		return ret;
	if (op != BE_OP_DISCARD && op != BE_OP_WRITE_ZEROES)
		return -EINVAL;
	if (!f->inner->ops->zero_fast)
		return -EOPNOTSUPP;
	ret = inject(f, op, lba, nblocks, &tear);
	if (ret)
		return ret;
	ret = wc_journal(f, lba, nblocks);
	if (ret)
		return ret;
	return f->inner->ops->zero_fast(f->inner, op, lba, nblocks);
}

/* The wrapped backend holds the current contents (the journal holds only
 * old ones, for a power cut), so its allocation is the answer. No faults
 * are injected here: block status moves no data. */
static int fault_block_status(struct backend *be, uint64_t lba, uint64_t nblocks,
			      struct be_extent *ext, unsigned max)
{
	return be_block_status(to_fault(be)->inner, lba, nblocks, ext, max);
}

/*
 * Reads and (once journaled) writes go to the wrapped backend as they are,
 * so they complete through its callback path and the engine sees only its
 * requests. A flush runs here: the journal must not be emptied before the
 * wrapped backend's flush completed.
 */
static int fault_submit(struct backend *be, struct be_engine *eng, struct be_io *io)
{
	struct be_fault *f = to_fault(be);
	int ret = be_check_io(be, io->op, io->lba, io->nblocks, io->buf, f->readonly);
	bool tear;

	if (ret)
		return ret;
	if (io->op == BE_OP_FLUSH) {
		io->be = be;
		io->bounce = NULL;
		io->done = 0;
		io->cb(io, wc_flush(f));
		return 0;
	}
	ret = inject(f, io->op, io->lba, io->nblocks, &tear);
	if (ret) {
		io->be = be;
		io->bounce = NULL;
		io->done = 0;
		io->cb(io, ret);   /* completes with an error, as the device would */
		return 0;
	}
	if (io->op != BE_OP_READ) {
		ret = wc_journal(f, io->lba, io->nblocks);
		if (ret)
			return ret;
	}
	if (tear || (io->op == BE_OP_WRITE && (io->flags & BE_IO_FUA) && f->jfd >= 0))
		return wrap_submit(f, eng, io, tear);
	return f->inner->ops->submit(f->inner, eng, io);
}

static int fault_refresh(struct backend *be)
{
	struct be_fault *f = to_fault(be);
	int ret = 0;

	if (f->inner->ops->refresh)
		ret = f->inner->ops->refresh(f->inner);
	if (!ret)
		__atomic_store_n(&be->nblocks, be_capacity(f->inner), __ATOMIC_RELAXED);
	return ret;
}

static void fault_destroy(struct backend *be)
{
	struct be_fault *f = to_fault(be);

	if (f->jfd >= 0)
		close(f->jfd);
	be_close(f->inner);
	pthread_mutex_destroy(&f->lock);
	pthread_mutex_destroy(&f->inj_lock);
	free(f->touched);
	free(f->buf);
	free(f);
}

static const struct backend_ops fault_ops = {
	.name = "fault",
	.submit = fault_submit,
	.io_sync = fault_io_sync,
	.zero_fast = fault_zero_fast,
	.block_status = fault_block_status,
	.refresh = fault_refresh,
	.destroy = fault_destroy,
};

/* The journal: the path given, else beside a file LUN, else anonymous memory. */
static int open_journal(struct be_fault *f, const struct be_spec *spec)
{
	char real[PATH_MAX];
	const char *base = spec->path;

	if (spec->fault.journal[0]) {
		snprintf(f->jpath, sizeof(f->jpath), "%s", spec->fault.journal);
	} else if (!strcmp(spec->kind, "file")) {
		/* Absolute, so a tool run from elsewhere finds the same journal. */
		if (realpath(spec->path, real))
			base = real;
		if (snprintf(f->jpath, sizeof(f->jpath), "%s.wcache", base) >=
		    (int)sizeof(f->jpath)) {
			log_err("%s: journal path too long", spec->path);
			return -ENAMETOOLONG;
		}
	} else {
		/* Memory LUNs die with the process; so may their journal. */
		snprintf(f->jpath, sizeof(f->jpath), "memory");
		f->jfd = memfd_create("cxlflash-wcache", MFD_CLOEXEC);
		if (f->jfd < 0) {
			log_err("fault: cannot create a memory journal: %s", strerror(errno));
			return -errno;
		}
		return 0;
	}
	f->jfd = open(f->jpath, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (f->jfd < 0) {
		int err = errno;

		log_err("%s: cannot open the write cache journal: %s", f->jpath, strerror(err));
		return -err;
	}
	return 0;
}

int be_fault_create(const struct be_spec *spec, struct backend **out)
{
	struct be_spec in = *spec;
	struct be_fault *f;
	int ret;

	*out = NULL;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->jfd = -1;
	f->readonly = spec->readonly;
	pthread_mutex_init(&f->lock, NULL);
	pthread_mutex_init(&f->inj_lock, NULL);
	f->inj = spec->fault.inject;
	if (spec->fault.ctl[0])
		snprintf(f->ctl, sizeof(f->ctl), "%s", spec->fault.ctl);
	in.fault.on = false;
	ret = be_open(&in, &f->inner);
	if (ret)
		goto fail;
	/* Read-only: nothing is written, so there is nothing to journal. */
	if (!f->readonly && spec->fault.wcache) {
		ret = open_journal(f, spec);
		if (ret)
			goto fail;
		ret = ensure_bits(f, be_capacity(f->inner));
		if (ret)
			goto fail;
		if (posix_memalign((void **)&f->buf, BE_BLOCK_SIZE,
				   (size_t)WC_MAX_RUN << BE_BLOCK_SHIFT)) {
			f->buf = NULL;
			ret = -ENOMEM;
			goto fail;
		}
	}
	f->be.ops = &fault_ops;
	f->be.nblocks = be_capacity(f->inner);
	f->be.can_unmap = f->inner->can_unmap;
	f->be.direct = f->inner->direct;
	f->be.cpu_inline = f->inner->cpu_inline;
	f->be.master_cache = f->inner->master_cache;
	f->be.dev = f->inner->dev;
	f->be.ino = f->inner->ino;
	f->be.lock_fd = f->inner->lock_fd;
	/* The same storage: the same identity (WWIDs, logs). */
	memcpy(f->be.id, f->inner->id, sizeof(f->be.id));
	memcpy(f->be.uid, f->inner->uid, sizeof(f->be.uid));
	*out = &f->be;
	return 0;
fail:
	if (f->jfd >= 0)
		close(f->jfd);
	be_close(f->inner);
	pthread_mutex_destroy(&f->lock);
	pthread_mutex_destroy(&f->inj_lock);
	free(f->touched);
	free(f);
	return ret;
}

/* ---------------------------------------------------------------------------
 * Power cuts
 */

struct cut {
	uint64_t *offs;     /* record offsets, in journal order */
	size_t n, cap;
};

static int collect(struct be_fault *f, const struct wc_rec *r, uint64_t off, void *arg)
{
	struct cut *c = arg;

	(void)f;
	(void)r;
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 64;
		uint64_t *p = realloc(c->offs, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		c->offs = p;
		c->cap = cap;
	}
	c->offs[c->n++] = off;
	return 0;
}

static uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static bool is_durable(const uint64_t *durable, uint64_t b)
{
	return (durable[b / 64] >> (b % 64)) & 1;
}

/* Put back blocks [i, i + n) of record @r (data in f->buf). */
static int restore(struct be_fault *f, const struct wc_rec *r, uint32_t i, uint32_t n)
{
	struct backend *in = f->inner;

	if (r->flags & WC_F_ZERO)
		return in->ops->io_sync(in, BE_OP_WRITE_ZEROES, r->lba + i, n, NULL);
	return in->ops->io_sync(in, BE_OP_WRITE, r->lba + i, n,
				f->buf + ((size_t)i << BE_BLOCK_SHIFT));
}

int64_t be_fault_powercut(struct backend *be, enum be_powercut how, uint64_t seed)
{
	struct be_fault *f;
	struct cut c = { NULL, 0, 0 };
	uint64_t *durable = NULL;
	uint64_t rng = seed;
	int64_t restored = 0;
	int ret;

	if (!be || be->ops != &fault_ops || to_fault(be)->jfd < 0)
		return -EINVAL;
	f = to_fault(be);
	pthread_mutex_lock(&f->lock);
	/* Read the journal afresh: another process may have written it since. */
	ret = wc_walk(f, collect, &c);
	/* A bit per block a FUA write made durable after the record at hand. */
	if (!ret && !(durable = calloc((size_t)(be_capacity(f->inner) / 64) + 1, sizeof(*durable))))
		ret = -ENOMEM;
	/* Newest first, so a block journaled twice ends with its oldest contents. */
	for (size_t k = c.n; k-- > 0 && !ret;) {
		struct wc_rec r;
		uint32_t i = 0;

		ret = rec_read(f, c.offs[k], &r);
		if (!ret && r.flags & WC_F_DURABLE) {
			for (uint32_t j = 0; j < r.nblocks; j++)
				durable[(r.lba + j) / 64] |= 1ull << ((r.lba + j) % 64);
			continue;
		}
		while (!ret && i < r.nblocks) {
			uint32_t n = 0;

			/* A run of blocks to put back, then one to keep. */
			while (i + n < r.nblocks && !is_durable(durable, r.lba + i + n) &&
			       (how == BE_CUT_ALL || (splitmix64(&rng) & 1)))
				n++;
			if (n)
				ret = restore(f, &r, i, n);
			restored += n;
			i += n + 1;
		}
	}
	free(durable);
	if (!ret)
		ret = f->inner->ops->io_sync(f->inner, BE_OP_FLUSH, 0, 0, NULL);
	if (!ret)
		ret = wc_clear(f);
	pthread_mutex_unlock(&f->lock);
	free(c.offs);
	if (ret) {
		log_err("%s: power cut failed: %s", be->id, strerror(-ret));
		return ret;
	}
	return restored;
}
