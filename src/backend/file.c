/* SPDX-License-Identifier: Apache-2.0 */
/*
 * file.c - the "file" backend: a regular file or a block device. Data goes
 * through O_DIRECT when the file system takes it (else the page cache),
 * asynchronously on the caller's io_uring engine, or with pread/pwrite when
 * there is no ring. Unaligned caller buffers are bounced through aligned
 * memory because O_DIRECT needs it. Zeroing and discard use fallocate (or the
 * block-device ioctls) synchronously inside submit, writing zeroes by hand
 * when nothing better is supported.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE  /* O_DIRECT, fallocate() */
#endif
#include "backend/backend_internal.h"
#include "backend/engine_internal.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define ALIGN          BE_BLOCK_SIZE  /* O_DIRECT alignment we provide */
#define MAX_SQE_BYTES  (1u << 30)     /* one READ/WRITE SQE moves at most this */
#define SYNC_CHUNK     (1u << 20)     /* bounce / zero buffer for the sync paths */

struct be_file {
	struct backend be;
	int fd;
	bool bdev;
	bool readonly;
	/* fallocate modes the file system refused (EOPNOTSUPP); set once, read
	 * by any thread, so accessed atomically. */
	int no_punch;
	int no_zero_range;
	int no_zeroout;
	int no_seek_data;   /* lseek(SEEK_DATA) refused: every block is data */
};

static inline struct be_file *to_file(struct backend *be)
{
	return (struct be_file *)be;
}

static bool needs_bounce(const struct be_file *f, const void *buf)
{
	return f->be.direct && ((uintptr_t)buf & (ALIGN - 1));
}

/* pread/pwrite all of [off, off + len); @buf must suit the fd's alignment. */
static int rw_sync(struct be_file *f, enum be_op op, uint64_t off, void *buf, size_t len,
		   uint32_t flags)
{
	uint8_t *p = buf;

	while (len) {
		size_t n = len > INT_MAX ? (INT_MAX & ~(size_t)(ALIGN - 1)) : len;
		ssize_t r;

		if (op == BE_OP_READ) {
			r = pread(f->fd, p, n, (off_t)off);
		} else if (flags & BE_IO_FUA) {
			struct iovec iov = { p, n };

			r = pwritev2(f->fd, &iov, 1, (off_t)off, RWF_DSYNC);
		} else {
			r = pwrite(f->fd, p, n, (off_t)off);
		}
		if (r < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -errno;
		}
		if (r == 0)
			return -EIO;  /* past the end of the file */
		p += r;
		off += (uint64_t)r;
		len -= (size_t)r;
	}
	return 0;
}

/* rw_sync() for any buffer: unaligned ones go through a bounce in chunks. */
static int rw_sync_any(struct be_file *f, enum be_op op, uint64_t off, void *buf, size_t len,
		       uint32_t flags)
{
	uint8_t *p = buf;
	void *bounce;
	int ret = 0;

	if (!needs_bounce(f, buf))
		return rw_sync(f, op, off, buf, len, flags);
	if (posix_memalign(&bounce, ALIGN, len < SYNC_CHUNK ? len : SYNC_CHUNK))
		return -ENOMEM;
	while (len && !ret) {
		size_t n = len < SYNC_CHUNK ? len : SYNC_CHUNK;

		if (op == BE_OP_WRITE)
			memcpy(bounce, p, n);
		ret = rw_sync(f, op, off, bounce, n, flags);
		if (!ret && op == BE_OP_READ)
			memcpy(p, bounce, n);
		p += n;
		off += n;
		len -= n;
	}
	free(bounce);
	return ret;
}

static int flush_sync(struct be_file *f)
{
	while (fdatasync(f->fd)) {
		if (errno != EINTR)
			return -errno;
	}
	return 0;
}

static int write_zeroes_by_hand(struct be_file *f, uint64_t off, uint64_t len)
{
	size_t sz = len < SYNC_CHUNK ? (size_t)len : SYNC_CHUNK;
	void *z;
	int ret = 0;

	if (posix_memalign(&z, ALIGN, sz))
		return -ENOMEM;
	memset(z, 0, sz);
	while (len && !ret) {
		size_t n = len < sz ? (size_t)len : sz;

		ret = rw_sync(f, BE_OP_WRITE, off, z, n, 0);
		off += n;
		len -= n;
	}
	free(z);
	return ret;
}

static bool unsupported(int err)
{
	return err == EOPNOTSUPP || err == ENOSYS || err == ENOTTY || err == EINVAL;
}

/* Try one fallocate mode unless it is known to be refused. Return: 0,
 * -EOPNOTSUPP (refused, now or before), or another negative errno. */
static int try_fallocate(struct be_file *f, int *refused, int mode, uint64_t off, uint64_t len)
{
	if (__atomic_load_n(refused, __ATOMIC_RELAXED))
		return -EOPNOTSUPP;
	if (!fallocate(f->fd, mode, (off_t)off, (off_t)len))
		return 0;
	if (unsupported(errno)) {
		__atomic_store_n(refused, 1, __ATOMIC_RELAXED);
		return -EOPNOTSUPP;
	}
	return -errno;
}

/*
 * Make [off, off + len) read back as zeroes. DISCARD prefers punching a hole
 * (frees the space; on a block device it is an unmapping write-zeroes that
 * the kernel refuses unless the device guarantees zeroes), then an allocated
 * zero range. WRITE_ZEROES must leave the range allocated (NBD's NO_HOLE,
 * WRITE SAME without UNMAP), so it never punches: an allocated zero range,
 * BLKZEROOUT on a device (the kernel asks it not to unmap), else written
 * zeroes (tmpfs has no ZERO_RANGE). DISCARD falls back to the same.
 */
static int zero_range(struct be_file *f, enum be_op op, uint64_t off, uint64_t len)
{
	const int punch = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
	const int zero = FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE;

	if (!len)
		return 0;
	if (op == BE_OP_DISCARD && !try_fallocate(f, &f->no_punch, punch, off, len))
		return 0;
	if (!try_fallocate(f, &f->no_zero_range, zero, off, len))
		return 0;
	if (f->bdev && !__atomic_load_n(&f->no_zeroout, __ATOMIC_RELAXED)) {
		uint64_t range[2] = { off, len };

		if (!ioctl(f->fd, BLKZEROOUT, range))
			return 0;
		if (unsupported(errno))
			__atomic_store_n(&f->no_zeroout, 1, __ATOMIC_RELAXED);
	}
	return write_zeroes_by_hand(f, off, len);
}

/*
 * zero_range() without the slow ways: a punched hole (DISCARD; on a block
 * device the kernel punches only where the device unmaps to zeroes) or an
 * allocated zero range on a regular file. ZERO_RANGE and BLKZEROOUT on a
 * device may be the kernel writing zeroes, so a device never claims a fast
 * WRITE_ZEROES.
 */
static int file_zero_fast(struct backend *be, enum be_op op, uint64_t lba, uint32_t nblocks)
{
	struct be_file *f = to_file(be);
	uint64_t off = lba << BE_BLOCK_SHIFT, len = (uint64_t)nblocks << BE_BLOCK_SHIFT;
	int ret = be_check_io(be, op, lba, nblocks, NULL, f->readonly);

	if (ret)
		return ret;
	if (op != BE_OP_DISCARD && op != BE_OP_WRITE_ZEROES)
		return -EINVAL;
	if (!len)
		return 0;
	if (op == BE_OP_DISCARD) {
		ret = try_fallocate(f, &f->no_punch, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				    off, len);
		if (ret != -EOPNOTSUPP)
			return ret;
	}
	if (f->bdev)
		return -EOPNOTSUPP;
	return try_fallocate(f, &f->no_zero_range, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE,
			     off, len);
}

/*
 * Holes of a regular file by lseek(SEEK_DATA / SEEK_HOLE): a hole (or, on
 * ext4 and xfs, an unwritten extent: ZERO_RANGE) is HOLE|ZERO, anything
 * else data. A block that is data in part is data. Two lseeks per pair of
 * extents, whatever their length, so the cost is bounded by @max. A block
 * device, or a file system that refuses SEEK_DATA, is all data.
 */
static int file_block_status(struct backend *be, uint64_t lba, uint64_t nblocks,
			     struct be_extent *ext, unsigned max)
{
	struct be_file *f = to_file(be);
	const uint64_t mask = BE_BLOCK_SIZE - 1;
	uint64_t off = lba << BE_BLOCK_SHIFT, end = (lba + nblocks) << BE_BLOCK_SHIFT;
	unsigned n = 0;

	while (off < end) {
		uint64_t next;
		off_t d, h;

		if (f->bdev || __atomic_load_n(&f->no_seek_data, __ATOMIC_RELAXED))
			break;
		d = lseek(f->fd, (off_t)off, SEEK_DATA);
		if (d < 0 && errno == ENXIO) {
			d = (off_t)end;          /* no data from @off to the end of the file */
		} else if (d < 0) {
			if (!unsupported(errno))
				return n ? (int)n : -errno;
			__atomic_store_n(&f->no_seek_data, 1, __ATOMIC_RELAXED);
			break;
		}
		next = (uint64_t)d & ~mask;      /* the block where data starts is data */
		if (next > end)
			next = end;
		if (next > off) {
			if (!be_extent_add(ext, &n, max, (next - off) >> BE_BLOCK_SHIFT,
					   BE_STATE_HOLE | BE_STATE_ZERO))
				return (int)n;
			off = next;
			continue;
		}
		h = lseek(f->fd, (off_t)off, SEEK_HOLE);
		if (h < 0)
			return n ? (int)n : -errno;
		next = ((uint64_t)h + mask) & ~mask;
		if (next <= off)
			next = off + BE_BLOCK_SIZE;
		if (next > end)
			next = end;
		if (!be_extent_add(ext, &n, max, (next - off) >> BE_BLOCK_SHIFT, 0))
			return (int)n;
		off = next;
	}
	if (off < end && !be_extent_add(ext, &n, max, (end - off) >> BE_BLOCK_SHIFT, 0))
		return (int)n;
	return (int)n;
}

static int file_do_sync(struct be_file *f, enum be_op op, uint64_t lba, uint32_t nblocks,
			void *buf, uint32_t flags)
{
	uint64_t off = lba << BE_BLOCK_SHIFT, len = (uint64_t)nblocks << BE_BLOCK_SHIFT;

	switch (op) {
	case BE_OP_READ:
	case BE_OP_WRITE:
		return len ? rw_sync_any(f, op, off, buf, (size_t)len, flags) : 0;
	case BE_OP_WRITE_ZEROES:
	case BE_OP_DISCARD:
		return zero_range(f, op, off, len);
	case BE_OP_FLUSH:
		return flush_sync(f);
	}
	return -EINVAL;
}

static int file_io_sync(struct backend *be, enum be_op op, uint64_t lba, uint32_t nblocks,
			void *buf)
{
	struct be_file *f = to_file(be);
	int ret = be_check_io(be, op, lba, nblocks, buf, f->readonly);

	return ret ? ret : file_do_sync(f, op, lba, nblocks, buf, 0);
}

/* Where a READ/WRITE starts, in bytes (a part write: its own offset). */
static uint64_t io_off(const struct be_io *io)
{
	return io->part_len ? io->part_off : io->lba << BE_BLOCK_SHIFT;
}

static size_t io_bytes(const struct be_io *io)
{
	if (io->part_len)
		return io->part_len;
	return (size_t)io->nblocks << BE_BLOCK_SHIFT;
}

/* Complete a READ/WRITE: copy a bounced read out, free the bounce, call back. */
static void rw_finish(struct be_io *io, int res)
{
	if (io->bounce) {
		if (!res && io->op == BE_OP_READ)
			memcpy(io->buf, io->bounce, io_bytes(io));
		free(io->bounce);
		io->bounce = NULL;
	}
	io->cb(io, res);
}

/* Queue the part of a READ/WRITE not yet moved. Return: 0 or -EAGAIN (no SQE). */
static int rw_queue(struct be_file *f, struct be_engine *eng, struct be_io *io)
{
	struct io_uring_sqe *sqe = be_engine_get_sqe(eng);
	uint8_t *p = (uint8_t *)(io->bounce ? io->bounce : io->buf) + io->done;
	size_t len = io_bytes(io) - io->done;
	uint64_t off = io_off(io) + io->done;

	if (!sqe)
		return -EAGAIN;
	if (len > MAX_SQE_BYTES)
		len = MAX_SQE_BYTES;  /* the rest goes as a "short transfer" */
	if (io->op == BE_OP_READ)
		io_uring_prep_read(sqe, f->fd, p, (unsigned)len, off);
	else
		io_uring_prep_write(sqe, f->fd, p, (unsigned)len, off);
	if (io->op == BE_OP_WRITE && (io->flags & BE_IO_FUA))
		sqe->rw_flags = RWF_DSYNC;
	io_uring_sqe_set_data(sqe, io);
	return 0;
}

/* No SQE to be had: move the rest synchronously and complete inline. */
static void rw_rest_sync(struct be_file *f, struct be_io *io)
{
	uint8_t *p = (uint8_t *)(io->bounce ? io->bounce : io->buf) + io->done;

	rw_finish(io, rw_sync(f, io->op, io_off(io) + io->done, p,
			      io_bytes(io) - io->done, io->flags));
}

void be_file_complete(struct be_engine *eng, struct be_io *io, int res)
{
	struct be_file *f = to_file(io->be);

	if (io->op == BE_OP_FLUSH) {
		io->cb(io, res < 0 ? res : 0);
		return;
	}
	if (res == -EAGAIN || res == -EINTR) {
		/* transient: same request again */
	} else if (res < 0) {
		rw_finish(io, res);
		return;
	} else if (res == 0) {
		rw_finish(io, -EIO);  /* nothing moved: past the end of the file */
		return;
	} else {
		io->done += (uint32_t)res;
		if (io->done >= io_bytes(io)) {
			rw_finish(io, 0);
			return;
		}
	}
	if (rw_queue(f, eng, io))
		rw_rest_sync(f, io);
}

/* A part write: a WRITE, at part_align, inside its covering blocks. */
static bool part_ok(const struct be_file *f, const struct be_io *io)
{
	uint32_t a = f->be.part_align;
	uint64_t lo = io->lba << BE_BLOCK_SHIFT, hi = (io->lba + io->nblocks) << BE_BLOCK_SHIFT;

	return a && io->op == BE_OP_WRITE && !(io->part_off % a) && !(io->part_len % a) &&
	       io->part_off >= lo && io->part_off + io->part_len <= hi;
}

static int file_submit(struct backend *be, struct be_engine *eng, struct be_io *io)
{
	struct be_file *f = to_file(be);
	struct io_uring_sqe *sqe;
	int ret = be_check_io(be, io->op, io->lba, io->nblocks, io->buf, f->readonly);

	if (ret)
		return ret;
	if (io->part_len && !part_ok(f, io))
		return -EINVAL;
	io->be = be;
	io->bounce = NULL;
	io->done = 0;

	switch (io->op) {
	case BE_OP_READ:
	case BE_OP_WRITE:
		if (!io->nblocks || be_engine_is_sync(eng))
			break;
		if (io_bytes(io) > UINT32_MAX - ALIGN + 1)
			return -EINVAL;  /* io->done could not count it */
		if (needs_bounce(f, io->buf)) {
			if (posix_memalign(&io->bounce, ALIGN, io_bytes(io))) {
				io->bounce = NULL;
				return -ENOMEM;
			}
			if (io->op == BE_OP_WRITE)
				memcpy(io->bounce, io->buf, io_bytes(io));
		}
		if (rw_queue(f, eng, io))
			rw_rest_sync(f, io);
		return 0;
	case BE_OP_FLUSH:
		if (be_engine_is_sync(eng))
			break;
		sqe = be_engine_get_sqe(eng);
		if (!sqe)
			break;
		io_uring_prep_fsync(sqe, f->fd, IORING_FSYNC_DATASYNC);
		io_uring_sqe_set_data(sqe, io);
		return 0;
	case BE_OP_WRITE_ZEROES:
	case BE_OP_DISCARD:
		break;
	}
	/* Everything else runs here and now. */
	if (io->part_len)
		ret = rw_sync_any(f, BE_OP_WRITE, io->part_off, io->buf, io->part_len, io->flags);
	else
		ret = file_do_sync(f, io->op, io->lba, io->nblocks, io->buf, io->flags);
	io->cb(io, ret);
	return 0;
}

static int query_size(struct be_file *f, uint64_t *bytes)
{
	struct stat st;

	if (fstat(f->fd, &st))
		return -errno;
	if (f->bdev) {
		if (ioctl(f->fd, BLKGETSIZE64, bytes))
			return -errno;
	} else {
		*bytes = (uint64_t)st.st_size;
	}
	return 0;
}

static int file_refresh(struct backend *be)
{
	struct be_file *f = to_file(be);
	uint64_t bytes;
	int ret = query_size(f, &bytes);

	if (ret) {
		log_err("%s: cannot read the size: %s", be->id, strerror(-ret));
		return ret;
	}
	__atomic_store_n(&be->nblocks, bytes >> BE_BLOCK_SHIFT, __ATOMIC_RELAXED);
	return 0;
}

static void file_destroy(struct backend *be)
{
	struct be_file *f = to_file(be);

	close(f->fd);
	free(f);
}

static const struct backend_ops file_ops = {
	.name = "file",
	.submit = file_submit,
	.io_sync = file_io_sync,
	.zero_fast = file_zero_fast,
	.block_status = file_block_status,
	.refresh = file_refresh,
	.destroy = file_destroy,
};

/* Create @spec->path at @spec->size. Return: 0, -EEXIST (use it as it is), or an error. */
static bool make_dirs;   /* be_file_make_dirs() */

void be_file_make_dirs(bool on)
{
	make_dirs = on;
}

/*
 * make_parent() - create the directory of @path (mode 0750) when it is
 * missing and its own parent exists: a fresh system has /var/lib but not
 * /var/lib/cxlflash. Only after be_file_make_dirs(true).
 * Return: 0 when created, else -errno (nothing done).
 */
static int make_parent(const char *path)
{
	char dir[sizeof(((struct be_spec *)0)->path)];
	char *slash;

	if (!make_dirs)
		return -ENOENT;
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return -ENOENT;
	*slash = 0;
	if (mkdir(dir, 0750))
		return -errno;
	log_notice("%s: created the directory", dir);
	return 0;
}

/*
 * prealloc=full: write zeroes over a new file, as qemu-img's preallocation=full
 * does. On a sparse file every first write of a block is an allocation, and an
 * O_DSYNC write (FUA) that allocates waits for a file-system journal commit;
 * on ext4 that made durable 128 KiB writes 1.65x slower than on written
 * blocks (fio, docs/performance.md). Direct I/O when the file system takes
 * it, so gigabytes of zeroes do not pass through the page cache.
 */
static int zero_fill(int fd, const struct be_spec *spec)
{
	enum { CHUNK = 4 << 20 };
	int dfd = -1, wfd = fd, err = 0;
	char path[64];
	void *zero;

	if (posix_memalign(&zero, ALIGN, CHUNK))
		return -ENOMEM;
	memset(zero, 0, CHUNK);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	dfd = open(path, O_WRONLY | O_DIRECT | O_CLOEXEC);
	if (dfd >= 0)
		wfd = dfd;
	log_info("%s: writing %" PRIu64 " bytes of zeroes (prealloc=full)", spec->path,
		 spec->size);
	for (uint64_t off = 0; off < spec->size;) {
		size_t n = spec->size - off < CHUNK ? (size_t)(spec->size - off) : CHUNK;
		ssize_t w;

		if (wfd == dfd && (n & (ALIGN - 1)))
			wfd = fd;  /* a tail shorter than a block: through the page cache */
		w = pwrite(wfd, zero, n, (off_t)off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			err = w < 0 ? errno : ENOSPC;
			log_err("%s: cannot write zeroes at byte %" PRIu64 ": %s", spec->path, off,
				strerror(err));
			break;
		}
		off += (uint64_t)w;
	}
	if (!err && fdatasync(fd)) {
		err = errno;
		log_err("%s: cannot flush the zeroes: %s", spec->path, strerror(err));
	}
	if (dfd >= 0)
		close(dfd);
	free(zero);
	return -err;
}

static int create_file(const struct be_spec *spec)
{
	int fd = open(spec->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	int err;

	if (fd < 0 && errno == ENOENT && make_parent(spec->path) == 0)
		fd = open(spec->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);

	if (fd < 0) {
		err = errno;
		if (err == EEXIST)
			return -EEXIST;
		log_err("%s: cannot create: %s", spec->path, strerror(err));
		return -err;
	}
	/* Sparse unless asked otherwise: blocks are allocated as they are written. */
	if (ftruncate(fd, (off_t)spec->size)) {
		err = errno;
		log_err("%s: cannot size to %" PRIu64 " bytes: %s", spec->path, spec->size,
			strerror(err));
		close(fd);
		unlink(spec->path);
		return -err;
	}
	if (spec->prealloc) {
		err = zero_fill(fd, spec);
		if (err) {
			close(fd);
			unlink(spec->path);
			return err;
		}
	}
	close(fd);
	log_info("%s: created, %" PRIu64 " bytes%s", spec->path, spec->size,
		 spec->prealloc ? ", written with zeroes" : "");
	return 0;
}

/* Some file systems accept O_DIRECT at open and refuse it at I/O time. */
static bool direct_works(int fd)
{
	void *buf;
	bool ok;

	if (posix_memalign(&buf, ALIGN, ALIGN))
		return true;  /* cannot tell; the first I/O will */
	ok = pread(fd, buf, ALIGN, 0) >= 0 || errno != EINVAL;
	free(buf);
	return ok;
}

/* Whether a block device can unmap: its queue says how much one discard may cover. */
static bool bdev_can_discard(dev_t rdev)
{
	static const char *const rel[] = { "queue", "../queue" };  /* disk, partition */
	char path[128];
	unsigned long long max = 0;

	for (unsigned i = 0; i < 2; i++) {
		FILE *fp;

		snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/%s/discard_max_bytes",
			 major(rdev), minor(rdev), rel[i]);
		fp = fopen(path, "re");
		if (!fp)
			continue;
		if (fscanf(fp, "%llu", &max) != 1)
			max = 0;
		fclose(fp);
		return max > 0;
	}
	return false;
}

/* The id is the real path; a long one keeps its tail, where paths tend to differ. */
static void set_id(struct backend *be, const char *real)
{
	size_t len = strlen(real), room = sizeof(be->id) - 1;

	if (len <= room) {
		memcpy(be->id, real, len + 1);
		return;
	}
	memcpy(be->id, "...", 3);
	memcpy(be->id + 3, real + len - (room - 3), room - 3 + 1);
}

/*
 * Writes of part of a block need no read-modify-write when the file takes
 * them as they are: through the page cache any bytes; with O_DIRECT,
 * multiples of the offset alignment the kernel reports (statx
 * STATX_DIOALIGN: the device's logical block size, 512 on most disks), or
 * when it reports none, the smallest of 512, 1024 and 2048 at which an
 * O_DIRECT read of the first block's second part works (reads and writes
 * have the same alignment rules). 0 when none does.
 */
static uint32_t part_align(const struct be_file *f)
{
	uint32_t a = 0;
	void *buf;

	if (!f->be.direct)
		return 1;
#ifdef STATX_DIOALIGN
	{
		struct statx stx;

		if (!statx(f->fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) &&
		    (stx.stx_mask & STATX_DIOALIGN) && stx.stx_dio_offset_align) {
			a = stx.stx_dio_offset_align;
			return a < BE_BLOCK_SIZE && stx.stx_dio_mem_align <= ALIGN ? a : 0;
		}
	}
#endif
	if (posix_memalign(&buf, ALIGN, ALIGN))
		return 0;
	for (uint32_t try = 512; try < BE_BLOCK_SIZE && !a; try *= 2)
		if (pread(f->fd, buf, try, (off_t)try) == (ssize_t)try)
			a = try;
	free(buf);
	return a;
}

int be_file_create(const struct be_spec *spec, struct backend **out)
{
	int flags = (spec->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC;
	char real[PATH_MAX];
	const char *nodirect;
	bool warn_direct = false;
	struct be_file *f;
	struct stat st;
	uint64_t bytes;
	int ret, err;

	*out = NULL;
	if (!spec->path[0]) {
		log_err("file: empty path");
		return -EINVAL;
	}
	if (spec->create) {
		ret = create_file(spec);
		if (ret && ret != -EEXIST)
			return ret;
	}
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->readonly = spec->readonly;
	/* CXLFLASH_NO_DIRECT=1 forces the page cache (debugging, tests). */
	nodirect = getenv("CXLFLASH_NO_DIRECT");
	if (nodirect && !strcmp(nodirect, "1")) {
		f->fd = open(spec->path, flags);
	} else {
		f->be.direct = true;
		f->fd = open(spec->path, flags | O_DIRECT);
		if (f->fd < 0 && errno == EINVAL) {
			f->fd = open(spec->path, flags);
			f->be.direct = false;
			warn_direct = true;  /* once we know it is a file worth using */
		}
	}
	if (f->fd < 0) {
		err = errno;
		if (err == ENOENT)
			log_err("%s: no such file (use file:PATH?size=SIZE to create one)",
				spec->path);
		else
			log_err("%s: cannot open: %s", spec->path, strerror(err));
		free(f);
		return -err;
	}
	if (fstat(f->fd, &st)) {
		ret = -errno;
		log_err("%s: cannot stat: %s", spec->path, strerror(-ret));
		goto fail;
	}
	if (S_ISBLK(st.st_mode)) {
		f->bdev = true;
	} else if (!S_ISREG(st.st_mode)) {
		log_err("%s: not a regular file or block device", spec->path);
		ret = -EINVAL;
		goto fail;
	}
	ret = query_size(f, &bytes);
	if (ret) {
		log_err("%s: cannot read the size: %s", spec->path, strerror(-ret));
		goto fail;
	}
	if (bytes < BE_BLOCK_SIZE) {
		log_err("%s: %" PRIu64 " bytes is less than one %u-byte block", spec->path, bytes,
			BE_BLOCK_SIZE);
		ret = -EINVAL;
		goto fail;
	}
	if (f->be.direct && !direct_works(f->fd)) {
		int fl = fcntl(f->fd, F_GETFL);

		if (fl < 0 || fcntl(f->fd, F_SETFL, fl & ~O_DIRECT) < 0) {
			ret = -errno;
			log_err("%s: cannot turn O_DIRECT off: %s", spec->path, strerror(-ret));
			goto fail;
		}
		f->be.direct = false;
		warn_direct = true;
	}
	if (warn_direct)
		log_warn("%s: O_DIRECT unavailable, using the page cache", spec->path);
	f->be.part_align = part_align(f);

	f->be.ops = &file_ops;
	f->be.nblocks = bytes >> BE_BLOCK_SHIFT;
	/* What stat() of the path says, so callers can match a path to an open LUN. */
	f->be.dev = st.st_dev;
	f->be.ino = st.st_ino;
	if (f->bdev)
		f->be.can_unmap = bdev_can_discard(st.st_rdev);
	else
		f->be.can_unmap = true;  /* hole punching, or ZERO_RANGE / zeroes at worst */
	f->be.lock_fd = f->fd;
	if (!realpath(spec->path, real))
		snprintf(real, sizeof(real), "%s", spec->path);
	set_id(&f->be, real);
	*out = &f->be;
	return 0;
fail:
	close(f->fd);
	free(f);
	return ret;
}
