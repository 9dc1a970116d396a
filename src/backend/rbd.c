/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rbd.c - the "rbd" backend: a Ceph RBD image through librbd
 * (docs/scale-out.md). "rbd:POOL[/NAMESPACE]/IMAGE?OPTIONS".
 *
 * Data requests go through librbd's aio calls. librbd finishes them on its
 * own threads; the completion callback hands the request to the
 * submitting engine as a foreign completion (engine_internal.h), with no
 * thread per request: the AFU worker's engine completes it right there on
 * librbd's thread when nobody runs the worker's passes (direct
 * completions, backend.h), else the be_io callback runs on the engine's
 * thread. With no engine (NULL), and on the control path (io_sync), a
 * request is started the same way and waited for.
 *
 * Mapping: READ/WRITE -> rbd_aio_read / rbd_aio_write2; a FUA WRITE is the
 * write, then rbd_aio_flush, before the callback (librbd has no FUA write:
 * LIBRADOS_OP_FLAG_FADVISE_FUA is passed along as the hint it is); FLUSH ->
 * rbd_aio_flush; DISCARD -> rbd_aio_discard (with rbd_skip_partial_discard
 * off, so every discarded block reads back as zeroes); WRITE_ZEROES ->
 * rbd_aio_write_zeroes with RBD_WRITE_ZEROES_FLAG_THICK_PROVISION (zeroes
 * written, never a hole). The capacity is rbd_get_size. Block status:
 * rbd_diff_iterate2 from the image's creation (parent included), at most
 * RBD_BS_SCAN bytes per call: the extents it reports are data, the rest
 * holes of zeroes.
 *
 * One owner per image: a writable open takes the image's exclusive lock
 * (enabling the feature if the image lacks it) and never hands it over on
 * request; held by another client, the open fails naming it, or with the
 * takeover option waits for the holder to be gone, blocklists it and
 * breaks its lock (take_lock()). The LUN's identity for its WWID (be->uid)
 * is the cluster's fsid with the pool's and the image's ids.
 *
 * librbd and librados are loaded with dlopen() at the first rbd: open, not
 * linked: programs that never name an rbd LUN do not load Ceph's client
 * libraries (about 30 MB and many threads), and the static libraries stay
 * linkable without them. The build needs librbd's headers
 * (CXLFLASH_HAVE_RBD); without them be_rbd_create() says so.
 */
#include "backend/backend_internal.h"
#include "backend/engine_internal.h"
#include "util/log.h"
#include "util/tsan.h"

#include <errno.h>
#include <string.h>

#ifndef CXLFLASH_HAVE_RBD

void be_rbd_set_owner_note(const char *note)
{
	(void)note;
}

int be_rbd_create(const struct be_spec *spec, struct backend **out)
{
	*out = NULL;
	log_err("rbd:%s/%s: this cxlflash was built without librbd (install librbd-dev and "
		"librados-dev, then rebuild)", spec->rbd.pool, spec->rbd.image);
	return -ENOTSUP;
}

#else /* CXLFLASH_HAVE_RBD */

#include <dlfcn.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <rados/librados.h>
#include <rbd/librbd.h>

/* Client timeouts (seconds) set unless the configuration sets its own:
 * Ceph's defaults are 300 s to mount and no limit on operations, so a down
 * cluster would hang a LUN open or a command for minutes or forever. */
#define RBD_MOUNT_TIMEOUT  "30"
#define RBD_OP_TIMEOUT     "30"
/* Block status looks at no more than this per call (64 objects of the
 * default 4 MiB): without an object map librbd asks every object. */
#define RBD_BS_SCAN        (256ull << 20)

/* ---- librbd / librados, loaded at run time ---- */

#define RBD_FUNCS(X)                                                                  \
	X(rados_create2) X(rados_conf_read_file) X(rados_conf_parse_env)             \
	X(rados_conf_set) X(rados_conf_get) X(rados_connect) X(rados_shutdown)        \
	X(rados_ioctx_create) X(rados_ioctx_set_namespace) X(rados_ioctx_destroy)     \
	X(rbd_open) X(rbd_open_read_only) X(rbd_close) X(rbd_create) X(rbd_get_size)   \
	X(rbd_aio_create_completion) X(rbd_aio_get_return_value) X(rbd_aio_release)    \
	X(rbd_aio_wait_for_complete) X(rbd_aio_read) X(rbd_aio_write2)                 \
	X(rbd_aio_flush) X(rbd_aio_discard) X(rbd_aio_write_zeroes) X(rbd_diff_iterate2) \
	X(rados_cluster_fsid) X(rados_ioctx_get_id) X(rados_getaddrs)                \
	X(rados_blocklist_add) X(rados_wait_for_latest_osdmap) X(rbd_get_id) X(rbd_get_features) \
	X(rbd_update_features) X(rbd_lock_acquire) X(rbd_lock_get_owners)             \
	X(rbd_lock_get_owners_cleanup) X(rbd_lock_break) X(rbd_watchers_list)          \
	X(rbd_watchers_list_cleanup) X(rbd_metadata_get) X(rbd_metadata_set)        \
	X(rbd_metadata_remove) X(rbd_metadata_list) X(rbd_update_watch) X(rbd_update_unwatch)

static struct {
#define X(fn) __typeof__(fn) *fn;
	RBD_FUNCS(X)
#undef X
} lib;

static pthread_once_t lib_once = PTHREAD_ONCE_INIT;
static int lib_err;

static void lib_load(void)
{
	void *rados = dlopen("librados.so.2", RTLD_NOW | RTLD_LOCAL);
	void *rbd = rados ? dlopen("librbd.so.1", RTLD_NOW | RTLD_LOCAL) : NULL;

	if (!rbd) {
		log_err("rbd: cannot load %s (install librbd1 and librados2): %s",
			rados ? "librbd.so.1" : "librados.so.2", dlerror());
		lib_err = -ENOTSUP;
		return;
	}
	/* Never unloaded: Ceph's libraries do not survive dlclose(). */
#define X(fn)                                                                         \
	if (!(*(void **)&lib.fn = dlsym(!strncmp(#fn, "rbd_", 4) ? rbd : rados, #fn))) {  \
		log_err("rbd: librbd/librados lack %s", #fn);                           \
		lib_err = -ENOTSUP;                                                      \
		return;                                                                  \
	}
	RBD_FUNCS(X)
#undef X
}

/* ---- the backend ---- */

struct be_rbd {
	struct backend be;
	rados_t cluster;
	rados_ioctx_t ioctx;
	rbd_image_t image;
	bool readonly;
	bool watching;            /* update_handle is registered */
	uint64_t update_handle;   /* rbd_update_watch: the header changed (a resize) */
};

/* One request in librbd's hands (a FUA write is two: the write, the flush). */
struct rbd_req {
	struct be_foreign f;      /* first: the engine hands it back */
	struct be_rbd *r;
	struct be_engine *eng;    /* NULL: someone waits for it */
	struct be_io *io;         /* NULL on the control path */
	enum be_op op;            /* what is in librbd's hands now */
	uint64_t lba;
	uint32_t nblocks;
	void *buf;
	uint32_t flags;
	ssize_t ret;              /* librbd's return value */
};

static inline struct be_rbd *to_rbd(struct backend *be)
{
	return (struct be_rbd *)be;
}

/* librbd's thread: note the result and give the request back to its engine. */
static void aio_done(rbd_completion_t c, void *arg)
{
	struct rbd_req *q = arg;

	/* librbd hands @q over inside itself, where TSan does not look. */
	tsan_acquire(q);
	q->ret = lib.rbd_aio_get_return_value(c);
	lib.rbd_aio_release(c);
	be_engine_foreign_done(q->eng, &q->f);
}

/* Hand @q's current op to librbd with completion @c. Return: 0 or -errno. */
static int issue(struct rbd_req *q, rbd_completion_t c)
{
	rbd_image_t img = q->r->image;
	uint64_t off = q->lba << BE_BLOCK_SHIFT;
	size_t len = (size_t)q->nblocks << BE_BLOCK_SHIFT;

	switch (q->op) {
	case BE_OP_READ:
		return lib.rbd_aio_read(img, off, len, q->buf, c);
	case BE_OP_WRITE:
		return lib.rbd_aio_write2(img, off, len, q->buf, c,
					  (q->flags & BE_IO_FUA) ? LIBRADOS_OP_FLAG_FADVISE_FUA : 0);
	case BE_OP_FLUSH:
		return lib.rbd_aio_flush(img, c);
	case BE_OP_DISCARD:
		return lib.rbd_aio_discard(img, off, len, c);
	case BE_OP_WRITE_ZEROES:
		return lib.rbd_aio_write_zeroes(img, off, len, c,
						RBD_WRITE_ZEROES_FLAG_THICK_PROVISION, 0);
	}
	return -EINVAL;
}

/* What librbd's return value means for @q: 0 or a negative errno. */
static int result(const struct rbd_req *q)
{
	if (q->ret == -ESHUTDOWN && be_fence(&q->r->be))
		log_err("%s: this client was blocklisted (another host took the image over): "
			"every request fails from now on", q->r->be.id);
	if (q->ret < 0)
		return (int)q->ret;
	/* A read returns the bytes read: anything short is an I/O error. */
	if (q->op == BE_OP_READ && (size_t)q->ret != (size_t)q->nblocks << BE_BLOCK_SHIFT)
		return -EIO;
	return 0;
}

/* Start @q's current op on its engine. Return: 0 (aio_done will run) or -errno. */
static int start_async(struct rbd_req *q)
{
	rbd_completion_t c;
	int rc;

	/* An inline runner's engine lends its foreign requests to the
	 * worker's: completed there (or on librbd's thread), not waited for. */
	q->eng = be_engine_foreign_home(q->eng);
	/* The completion of a FUA write's write starts its flush: never on
	 * librbd's own thread. */
	q->f.no_direct = q->op == BE_OP_WRITE && (q->flags & BE_IO_FUA);
	rc = be_engine_foreign_begin(q->eng);
	if (rc)
		return rc;
	rc = lib.rbd_aio_create_completion(q, aio_done, &c);
	if (rc >= 0) {
		tsan_release(q);
		rc = issue(q, c);
		if (rc >= 0)
			return 0;
		lib.rbd_aio_release(c);
	}
	be_engine_foreign_cancel(q->eng);
	return rc < 0 ? rc : -EIO;
}

/* Run @q's current op and wait for it (control path, no engine). */
static int run_sync_op(struct rbd_req *q)
{
	rbd_completion_t c;
	int rc = lib.rbd_aio_create_completion(NULL, NULL, &c);

	if (rc < 0)
		return rc;
	rc = issue(q, c);
	if (rc < 0) {
		lib.rbd_aio_release(c);
		return rc;
	}
	lib.rbd_aio_wait_for_complete(c);
	q->ret = lib.rbd_aio_get_return_value(c);
	lib.rbd_aio_release(c);
	return result(q);
}

/* A whole request, synchronously: a FUA write is the write, then a flush. */
static int run_sync(struct rbd_req *q)
{
	int rc;

	if ((q->op == BE_OP_READ || q->op == BE_OP_WRITE || q->op == BE_OP_DISCARD ||
	     q->op == BE_OP_WRITE_ZEROES) && !q->nblocks)
		return 0;
	rc = run_sync_op(q);
	if (!rc && q->op == BE_OP_WRITE && (q->flags & BE_IO_FUA)) {
		q->op = BE_OP_FLUSH;
		rc = run_sync_op(q);
	}
	return rc;
}

/* The engine's thread: the op in librbd's hands finished. */
static void req_complete(struct be_foreign *f)
{
	struct rbd_req *q = (struct rbd_req *)f;
	struct be_io *io = q->io;
	int res = result(q);

	if (!res && q->op == BE_OP_WRITE && (q->flags & BE_IO_FUA)) {
		/* FUA: durable before it completes, so flush first. */
		q->op = BE_OP_FLUSH;
		res = start_async(q);
		if (!res)
			return;
	}
	free(q);
	io->cb(io, res);
}

static int rbd_io_sync(struct backend *be, enum be_op op, uint64_t lba, uint32_t nblocks,
		       void *buf)
{
	struct be_rbd *r = to_rbd(be);
	struct rbd_req q = {
		.r = r, .op = op, .lba = lba, .nblocks = nblocks, .buf = buf,
	};
	int ret = be_check_io(be, op, lba, nblocks, buf, r->readonly);

	return ret ? ret : run_sync(&q);
}

/*
 * NBD's FAST_ZERO: a discard is always cheap on rbd (whole objects are
 * removed, the rest zeroed by the OSDs: no zeroes cross the network), so
 * DISCARD is done; zeroes that must stay allocated are written as zeroes
 * (a thick write-zeroes), never fast.
 */
static int rbd_zero_fast(struct backend *be, enum be_op op, uint64_t lba, uint32_t nblocks)
{
	struct be_rbd *r = to_rbd(be);
	int ret = be_check_io(be, op, lba, nblocks, NULL, r->readonly);

	if (ret)
		return ret;
	if (op == BE_OP_WRITE_ZEROES)
		return -EOPNOTSUPP;
	if (op != BE_OP_DISCARD)
		return -EINVAL;
	return nblocks ? rbd_io_sync(be, op, lba, nblocks, NULL) : 0;
}

static int rbd_submit(struct backend *be, struct be_engine *eng, struct be_io *io)
{
	struct be_rbd *r = to_rbd(be);
	struct rbd_req *q;
	int ret = be_check_io(be, io->op, io->lba, io->nblocks, io->buf, r->readonly);

	if (ret)
		return ret;
	io->be = be;
	io->bounce = NULL;
	io->done = 0;
	if (io->op != BE_OP_FLUSH && !io->nblocks) {
		io->cb(io, 0);
		return 0;
	}
	q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	*q = (struct rbd_req){
		.f.complete = req_complete, .r = r, .eng = eng, .io = io, .op = io->op,
		.lba = io->lba, .nblocks = io->nblocks, .buf = io->buf, .flags = io->flags,
	};
	if (!eng) {
		/* No engine to come back on: do it here and now. */
		ret = run_sync(q);
		free(q);
		io->cb(io, ret);
		return 0;
	}
	ret = start_async(q);
	if (ret)
		free(q);
	return ret;
}

static int rbd_refresh(struct backend *be)
{
	struct be_rbd *r = to_rbd(be);
	uint64_t bytes;
	int ret = lib.rbd_get_size(r->image, &bytes);

	if (ret < 0) {
		log_err("%s: cannot read the size: %s", be->id, strerror(-ret));
		return ret;
	}
	__atomic_store_n(&be->nblocks, bytes >> BE_BLOCK_SHIFT, __ATOMIC_RELAXED);
	return 0;
}

/*
 * The image's header changed (librbd's update watch, on one of its threads):
 * a resize (`rbd resize`) shows at once in the capacity the AFU reads
 * (READ CAPACITY, the range check of every command) and the next VERIFY.
 */
static void rbd_header_changed(void *arg)
{
	struct be_rbd *r = arg;
	uint64_t bytes, old = __atomic_load_n(&r->be.nblocks, __ATOMIC_RELAXED);

	if (lib.rbd_get_size(r->image, &bytes) < 0 || bytes >> BE_BLOCK_SHIFT == old ||
	    bytes < BE_BLOCK_SIZE)
		return;
	__atomic_store_n(&r->be.nblocks, bytes >> BE_BLOCK_SHIFT, __ATOMIC_RELAXED);
	log_notice("%s: resized from %" PRIu64 " to %" PRIu64 " blocks of 4 KiB", r->be.id, old,
		   bytes >> BE_BLOCK_SHIFT);
}

/* The image's metadata (librbd's image-meta, in the header object's omap). */
static int rbd_meta_set(struct backend *be, const char *key, const char *val)
{
	struct be_rbd *r = to_rbd(be);
	int rc;

	if (r->readonly)
		return -EROFS;
	rc = val ? lib.rbd_metadata_set(r->image, key, val) : lib.rbd_metadata_remove(r->image, key);
	if (rc == -ENOENT && !val)
		rc = 0;
	if (rc < 0)
		log_err("%s: cannot %s the image's metadata %s: %s", be->id, val ? "set" : "remove",
			key, strerror(-rc));
	return rc < 0 ? rc : 0;
}

static int rbd_meta_list(struct backend *be, const char *prefix,
			 int (*fn)(void *arg, const char *key, const char *val), void *arg)
{
	struct be_rbd *r = to_rbd(be);
	size_t klen = 4096, vlen = 65536;
	char *keys = NULL, *vals = NULL;
	int rc;

	for (;;) {
		char *k = realloc(keys, klen), *v;

		if (!k)
			break;
		keys = k;
		v = realloc(vals, vlen);
		if (!v)
			break;
		vals = v;
		rc = lib.rbd_metadata_list(r->image, "", 0, keys, &klen, vals, &vlen);
		if (rc != -ERANGE)
			goto listed;
		klen += 4096; /* what it said, and room for a key added meanwhile */
		vlen += 65536;
	}
	free(keys);
	free(vals);
	return -ENOMEM;
listed:
	if (rc < 0) {
		log_err("%s: cannot list the image's metadata: %s", be->id, strerror(-rc));
	} else {
		size_t ko = 0, vo = 0, plen = strlen(prefix);

		rc = 0;
		while (ko < klen && vo < vlen && keys[ko] && !rc) {
			if (!strncmp(keys + ko, prefix, plen))
				rc = fn(arg, keys + ko, vals + vo);
			ko += strlen(keys + ko) + 1;
			vo += strlen(vals + vo) + 1;
		}
	}
	free(keys);
	free(vals);
	return rc;
}

static void rbd_destroy(struct backend *be)
{
	struct be_rbd *r = to_rbd(be);

	if (r->watching)
		lib.rbd_update_unwatch(r->image, r->update_handle);
	if (r->image)
		lib.rbd_close(r->image);  /* writes back what librbd's cache holds */
	if (r->ioctx)
		lib.rados_ioctx_destroy(r->ioctx);
	if (r->cluster)
		lib.rados_shutdown(r->cluster);
	free(r);
}

/* What rbd_diff_iterate2 reported so far, as extents in whole blocks. */
struct bs_walk {
	struct be_extent *ext;
	unsigned n, max;
	uint64_t pos, end;   /* blocks: described up to @pos, of [.., @end) */
	bool full;
};

/* Blocks [pos, to) in @state; false once @max extents are in use. */
static bool bs_add(struct bs_walk *w, uint64_t to, uint32_t state)
{
	if (to > w->end)
		to = w->end;
	if (to <= w->pos)
		return true;
	if (!be_extent_add(w->ext, &w->n, w->max, to - w->pos, state)) {
		w->full = true;
		return false;
	}
	w->pos = to;
	return true;
}

static int bs_cb(uint64_t off, size_t len, int exists, void *arg)
{
	struct bs_walk *w = arg;
	uint64_t first = off >> BE_BLOCK_SHIFT;
	uint64_t last = (off + len + BE_BLOCK_SIZE - 1) >> BE_BLOCK_SHIFT;

	/* A block that is data in part is data. */
	if (!bs_add(w, first, BE_STATE_HOLE | BE_STATE_ZERO) ||
	    !bs_add(w, last, exists ? 0 : BE_STATE_HOLE | BE_STATE_ZERO))
		return -ECANCELED;   /* enough: stop the walk */
	return 0;
}

static int rbd_block_status(struct backend *be, uint64_t lba, uint64_t nblocks,
			    struct be_extent *ext, unsigned max)
{
	struct be_rbd *r = to_rbd(be);
	struct bs_walk w = { .ext = ext, .max = max, .pos = lba, .end = lba + nblocks };
	int rc;

	if (nblocks > RBD_BS_SCAN >> BE_BLOCK_SHIFT)
		w.end = lba + (RBD_BS_SCAN >> BE_BLOCK_SHIFT);
	rc = lib.rbd_diff_iterate2(r->image, NULL, lba << BE_BLOCK_SHIFT,
				   (w.end - lba) << BE_BLOCK_SHIFT, 1, 0, bs_cb, &w);
	if (rc < 0 && !(rc == -ECANCELED && w.full))
		return w.n ? (int)w.n : rc;
	if (!w.full)
		bs_add(&w, w.end, BE_STATE_HOLE | BE_STATE_ZERO);
	return (int)w.n;
}

static const struct backend_ops rbd_ops = {
	.name = "rbd",
	.submit = rbd_submit,
	.io_sync = rbd_io_sync,
	.zero_fast = rbd_zero_fast,
	.block_status = rbd_block_status,
	.refresh = rbd_refresh,
	.meta_set = rbd_meta_set,
	.meta_list = rbd_meta_list,
	.destroy = rbd_destroy,
};

/* Set @opt to @val unless the configuration changed it from Ceph's default @dflt. */
static void set_unless_configured(rados_t c, const char *opt, double dflt, const char *val)
{
	char cur[64];

	if (lib.rados_conf_get(c, opt, cur, sizeof(cur)) == 0 && strtod(cur, NULL) != dflt)
		return;
	if (lib.rados_conf_set(c, opt, val) < 0)
		log_warn("rbd: cannot set %s=%s", opt, val);
}

/* The cluster handle, configured and connected. */
static int connect_cluster(struct be_rbd *r, const struct be_rbd_spec *s, const char *id)
{
	char user[sizeof(s->user) + 8];
	int rc;

	snprintf(user, sizeof(user), "client.%s", s->user[0] ? s->user : "admin");
	rc = lib.rados_create2(&r->cluster, s->cluster[0] ? s->cluster : "ceph", user, 0);
	if (rc < 0) {
		r->cluster = NULL;
		log_err("%s: cannot create a cluster handle: %s", id, strerror(-rc));
		return rc;
	}
	/* The configuration file: conf=PATH, else $CEPH_CONF or Ceph's search. */
	rc = lib.rados_conf_read_file(r->cluster, s->conf[0] ? s->conf : NULL);
	if (rc < 0) {
		if (s->conf[0] || getenv("CEPH_CONF")) {
			log_err("%s: cannot read the Ceph configuration %s: %s", id,
				s->conf[0] ? s->conf : getenv("CEPH_CONF"), strerror(-rc));
			return rc;
		}
		log_info("%s: no Ceph configuration file found (%s)", id, strerror(-rc));
	}
	lib.rados_conf_parse_env(r->cluster, NULL);  /* $CEPH_ARGS */
	if (s->keyring[0] && (rc = lib.rados_conf_set(r->cluster, "keyring", s->keyring)) < 0) {
		log_err("%s: bad keyring %s: %s", id, s->keyring, strerror(-rc));
		return rc;
	}
	set_unless_configured(r->cluster, "client_mount_timeout", 300, RBD_MOUNT_TIMEOUT);
	set_unless_configured(r->cluster, "rados_osd_op_timeout", 0, RBD_OP_TIMEOUT);
	set_unless_configured(r->cluster, "rados_mon_op_timeout", 0, RBD_OP_TIMEOUT);
	/* A discard must leave zeroes everywhere it covers (BE_OP_DISCARD):
	 * librbd's default skips the parts smaller than its granularity. */
	lib.rados_conf_set(r->cluster, "rbd_skip_partial_discard", "false");
	rc = lib.rados_connect(r->cluster);
	if (rc < 0) {
		log_err("%s: cannot connect to the Ceph cluster: %s%s", id, strerror(-rc),
			rc == -ETIMEDOUT ? " (are the monitors up? is mon_host right?)" : "");
		return rc;
	}
	return 0;
}

static int open_image(struct be_rbd *r, const struct be_spec *spec, const char *id)
{
	const struct be_rbd_spec *s = &spec->rbd;
	int order = 0, rc;

	rc = lib.rados_ioctx_create(r->cluster, s->pool, &r->ioctx);
	if (rc < 0) {
		r->ioctx = NULL;
		log_err("%s: cannot open pool '%s': %s", id, s->pool,
			rc == -ENOENT ? "no such pool" : strerror(-rc));
		return rc;
	}
	if (s->ns[0])
		lib.rados_ioctx_set_namespace(r->ioctx, s->ns);
	for (int tries = 0; tries < 2; tries++) {
		if (spec->readonly)
			rc = lib.rbd_open_read_only(r->ioctx, s->image, &r->image, NULL);
		else
			rc = lib.rbd_open(r->ioctx, s->image, &r->image, NULL);
		if (rc != -ENOENT || !spec->create || spec->readonly || tries)
			break;
		rc = lib.rbd_create(r->ioctx, s->image, spec->size, &order);
		if (rc < 0 && rc != -EEXIST) {
			log_err("%s: cannot create the image: %s", id, strerror(-rc));
			return rc;
		}
		if (!rc)
			log_info("%s: created, %" PRIu64 " bytes", id, spec->size);
	}
	if (rc < 0) {
		r->image = NULL;
		if (rc == -ENOENT)
			log_err("%s: no such image (add ?size=SIZE to create it)", id);
		else
			log_err("%s: cannot open the image: %s", id, strerror(-rc));
		return rc;
	}
	return 0;
}

/* ---- the image's identity and its one owner ---- */

/*
 * The identity every host sees alike (be->uid, from which the WWID comes):
 * the cluster's fsid, the pool's id, the namespace and the image's id. Not
 * the names: an image renamed (or a pool) keeps its WWID; an image deleted
 * and created again under its name gets a new one.
 */
static int set_uid(struct be_rbd *r, const struct be_rbd_spec *s, const char *id)
{
	char fsid[64], image_id[64];
	int rc = lib.rados_cluster_fsid(r->cluster, fsid, sizeof(fsid));

	if (rc >= 0)
		rc = lib.rbd_get_id(r->image, image_id, sizeof(image_id));
	if (rc < 0) {
		log_err("%s: cannot read the image's id: %s", id, strerror(-rc));
		return rc;
	}
	snprintf(r->be.uid, sizeof(r->be.uid), "rbd:%.40s/%" PRId64 "/%s/%.63s", fsid,
		 lib.rados_ioctx_get_id(r->ioctx), s->ns, image_id);
	return 0;
}

#define OWNER_KEY "cxlflash.owner"   /* image metadata: who holds the lock, in words */

static char g_note[200];
static pthread_mutex_t g_note_lock = PTHREAD_MUTEX_INITIALIZER;

void be_rbd_set_owner_note(const char *note)
{
	pthread_mutex_lock(&g_note_lock);
	snprintf(g_note, sizeof(g_note), "%s", note);
	pthread_mutex_unlock(&g_note_lock);
}

/* When process @pid started (clock ticks after boot), or 0 if there is none. */
static unsigned long long proc_start(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long start = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	p = fgets(buf, sizeof(buf), f) ? strrchr(buf, ')') : NULL;
	fclose(f);
	/* After "pid (comm)": state is field 3, starttime field 22. */
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d "
			 "%*d %*d %*d %llu", &start) != 1)
		return 0;
	return start;
}

/* This machine's boot and this process's pid namespace: "BOOTID|PIDNS". */
static void machine_ident(char *out, size_t len)
{
	char boot[64] = "", ns[64] = "";
	FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");
	ssize_t n;

	if (f) {
		if (!fgets(boot, sizeof(boot), f))
			boot[0] = 0;
		boot[strcspn(boot, "\n")] = 0;
		fclose(f);
	}
	n = readlink("/proc/self/ns/pid", ns, sizeof(ns) - 1);
	ns[n > 0 ? n : 0] = 0;
	snprintf(out, len, "%s|%s", boot, ns);
}

/*
 * Was the holder that wrote @ident ("BOOTID|PIDNS|PID|STARTTIME") a
 * process of this machine (same boot, same pid namespace) that no longer
 * exists? Then it is certainly gone, with no need to wait for its watch to
 * expire: a daemon restarted after a crash gets its images back at once.
 */
static bool holder_exited_here(const char *ident)
{
	char here[160], boot[64], ns[64];
	unsigned long long start;
	int pid;

	if (sscanf(ident, "%63[^|]|%63[^|]|%d|%llu", boot, ns, &pid, &start) != 4 || pid <= 0 ||
	    !boot[0] || !ns[0])
		return false;
	machine_ident(here, sizeof(here));
	if (strncmp(here, boot, strlen(boot)) || here[strlen(boot)] != '|' ||
	    strcmp(here + strlen(boot) + 1, ns))
		return false;
	return pid != (int)getpid() && proc_start(pid) != start;
}

/* Say in the image's metadata who we are, beside our client address. */
static void write_owner_note(struct be_rbd *r)
{
	char note[sizeof(g_note)], host[64] = "?", value[768], when[32], here[160];
	char *addrs = NULL;
	time_t now = time(NULL);
	struct tm tm;
	int rc;

	pthread_mutex_lock(&g_note_lock);
	snprintf(note, sizeof(note), "%s", g_note);
	pthread_mutex_unlock(&g_note_lock);
	if (!note[0]) {
		gethostname(host, sizeof(host) - 1);
		snprintf(note, sizeof(note), "%s pid %d on host %s", program_invocation_short_name,
			 (int)getpid(), host);
	}
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
	if (lib.rados_getaddrs(r->cluster, &addrs) < 0)
		addrs = NULL;
	machine_ident(here, sizeof(here));
	/* ADDRS|BOOTID|PIDNS|PID|STARTTIME|words */
	snprintf(value, sizeof(value), "%s|%s|%d|%llu|%s, since %s", addrs ? addrs : "", here,
		 (int)getpid(), proc_start(getpid()), note, when);
	free(addrs);
	rc = lib.rbd_metadata_set(r->image, OWNER_KEY, value);
	if (rc < 0)
		log_warn("%s: cannot note the owner in the image's metadata: %s", r->be.id,
			 strerror(-rc));
}

/*
 * Who holds the lock: 1 and its client address in @holder (with, when it
 * is the same client that wrote the owner note, the note's words in
 * @about and its machine identity in @ident), 0 when nobody does, or -errno.
 */
static int lock_holder(struct be_rbd *r, char *holder, size_t hlen, char *about, size_t alen,
		       char *ident, size_t ilen)
{
	char *owners[4], value[768];
	size_t n = 4, vlen = sizeof(value);
	rbd_lock_mode_t mode;
	int rc = lib.rbd_lock_get_owners(r->image, &mode, owners, &n);

	if (rc == -ENOENT)
		return 0;
	if (rc < 0)
		return rc;
	if (n == 0)
		return 0;
	snprintf(holder, hlen, "%s", owners[0]);
	lib.rbd_lock_get_owners_cleanup(owners, n);
	snprintf(about, alen, "it did not say who it is");
	ident[0] = 0;
	if (lib.rbd_metadata_get(r->image, OWNER_KEY, value, &vlen) >= 0) {
		char *f[6], *p = value;
		int nf = 0;

		value[sizeof(value) - 1] = 0;
		/* ADDRS|BOOTID|PIDNS|PID|STARTTIME|words; the words may hold '|'. */
		while (nf < 5 && (f[nf] = strsep(&p, "|")))
			nf++;
		/* rados_getaddrs() may bracket and prefix ("[v2:...]"). */
		if (nf == 5 && p && strstr(f[0], holder)) {
			snprintf(about, alen, "%s", p);
			snprintf(ident, ilen, "%s|%s|%s|%s", f[1], f[2], f[3], f[4]);
		}
	}
	return 1;
}

/* Is @holder still watching the image (its session alive)? 1, 0 or -errno. */
static int holder_alive(struct be_rbd *r, const char *holder)
{
	rbd_image_watcher_t w[32];
	size_t n = 32;
	int alive = 0, rc = lib.rbd_watchers_list(r->image, w, &n);

	if (rc < 0)
		return rc;
	for (size_t i = 0; i < n; i++)
		alive |= !strcmp(w[i].addr, holder);
	lib.rbd_watchers_list_cleanup(w, n);
	return alive;
}

/* Blocklist @holder, then break its lock. Return: 0 or -errno (said). */
static int evict(struct be_rbd *r, const char *holder, const char *id)
{
	int rc = lib.rados_blocklist_add(r->cluster, (char *)holder, 0);

	if (rc < 0) {
		log_err("%s: cannot blocklist %s: %s (its lock is left alone)", id, holder,
			strerror(-rc));
		return rc;
	}
	/* The OSDs refuse it once they have this map: be sure it is out. */
	rc = lib.rados_wait_for_latest_osdmap(r->cluster);
	if (rc < 0)
		log_warn("%s: waiting for the OSD map that blocklists %s: %s", id, holder,
			 strerror(-rc));
	rc = lib.rbd_lock_break(r->image, RBD_LOCK_MODE_EXCLUSIVE, holder);
	if (rc < 0 && rc != -ENOENT) {
		log_err("%s: cannot break the lock of %s: %s", id, holder, strerror(-rc));
		return rc;
	}
	return 0;
}

/* The caller's stop flag (a standby's), or a SIGTERM or SIGINT waiting
 * for us (cxlflashd blocks them for sigwait while it starts). */
static bool stop_asked(const struct be_rbd_spec *s)
{
	sigset_t set;

	if (s->stop && atomic_load(s->stop))
		return true;
	return !sigpending(&set) && (sigismember(&set, SIGTERM) || sigismember(&set, SIGINT));
}

static double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * take_lock() - make this client the image's one owner (docs/scale-out.md):
 * RBD's exclusive lock, in the mode where librbd never hands it to another
 * client that asks. Held by another: refuse, naming it; or with takeover,
 * wait for the holder to be gone (its watch on the image has expired: the
 * OSDs heard nothing from it for osd_client_watch_timeout), blocklist it so
 * that it can never write again even if it was only paused, break its
 * lock and take it. A standby waits with no time limit, until its stop
 * flag is set.
 */
static int take_lock(struct be_rbd *r, const struct be_rbd_spec *s, const char *id)
{
	/* A standby's deadline: never (about 30,000 years). */
	double deadline = mono_s() + (s->standby ? 1e12 : (double)s->takeover_wait_s);
	bool takeover = s->takeover || s->standby;
	char holder[160], about[300], ident[200], waited_for[160] = "";
	uint64_t features = 0;
	bool waiting = false, broke = false;
	unsigned evictions = 0;
	int rc;

	rc = lib.rbd_get_features(r->image, &features);
	if (rc >= 0 && !(features & RBD_FEATURE_EXCLUSIVE_LOCK)) {
		rc = lib.rbd_update_features(r->image, RBD_FEATURE_EXCLUSIVE_LOCK, 1);
		if (rc >= 0)
			log_notice("%s: exclusive-lock feature enabled", id);
	}
	if (rc < 0) {
		log_err("%s: the image lacks the exclusive-lock feature and it cannot be enabled: "
			"%s", id, strerror(-rc));
		return rc;
	}
	for (;;) {
		rc = lock_holder(r, holder, sizeof(holder), about, sizeof(about), ident,
				 sizeof(ident));
		if (rc < 0) {
			log_err("%s: cannot read the image's lock: %s", id, strerror(-rc));
			return rc;
		}
		if (rc == 0) {
			rc = lib.rbd_lock_acquire(r->image, RBD_LOCK_MODE_EXCLUSIVE);
			if (rc == 0)
				break;
			if (rc != -EROFS && rc != -EBUSY && rc != -EAGAIN) {
				log_err("%s: cannot take the image's exclusive lock: %s", id,
					strerror(-rc));
				return rc;
			}
			/* Another client took it first: see who. */
			if (mono_s() > deadline) {
				log_err("%s: another client took the image's lock first", id);
				return -EBUSY;
			}
			if (stop_asked(s))
				return -EINTR;
			usleep(100000);
			continue;
		}
		if (evictions > 8) {
			log_err("%s: the lock of %s is still there after breaking it", id, holder);
			return -EBUSY;
		}
		if (holder_exited_here(ident)) {
			log_warn("%s: holder %s (%s) was a process of this machine that has exited: "
				 "blocklisting it, then breaking its lock", id, holder, about);
			goto evict_it;
		}
		if (!takeover) {
			log_err("%s: in use: its exclusive lock is held by client %s (%s); "
				"cxlflashd --takeover (LUN option takeover) waits for that holder "
				"to be gone and takes the image", id, holder, about);
			return -EBUSY;
		}
		rc = holder_alive(r, holder);
		if (rc < 0) {
			log_err("%s: cannot list the image's watchers: %s", id, strerror(-rc));
			return rc;
		}
		if (!rc) {
			log_warn("%s: holder %s (%s) is gone (its watch on the image expired): "
				 "blocklisting it, then breaking its lock", id, holder, about);
			goto evict_it;
		}
		if (s->on_wait && strcmp(waited_for, holder)) {
			snprintf(waited_for, sizeof(waited_for), "%s", holder);
			s->on_wait(s->on_wait_arg, holder, about);
		}
		if (!waiting && s->standby) {
			log_notice("%s: standby: held by client %s (%s), which is alive; taking "
				   "the image once that holder is gone", id, holder, about);
			waiting = true;
		} else if (!waiting) {
			log_notice("%s: held by client %s (%s), which is alive; waiting up to %u s "
				   "for it to go", id, holder, about, s->takeover_wait_s);
			waiting = true;
		}
		if (mono_s() > deadline) {
			log_err("%s: still held by client %s (%s) after %u s: not taken over", id,
				holder, about, s->takeover_wait_s);
			return -EBUSY;
		}
		for (int i = 0; i < 5; i++) {
			if (stop_asked(s)) {
				log_notice("%s: stopped while waiting for the image", id);
				return -EINTR;
			}
			usleep(100000);
		}
		continue;
evict_it:
		/* Blocklisted before its lock is broken: a holder that was only
		 * paused can never write again. */
		rc = evict(r, holder, id);
		if (rc)
			return rc;
		broke = true;
		evictions++;
	}
	write_owner_note(r);
	if (waiting || broke)
		log_notice("%s: taken over", id);
	return 0;
}

/*
 * has_write_back() - whether librbd may acknowledge a write from its cache
 * (write-back or write-around, possibly only after the first flush), as the
 * connection's configuration says: then a write acknowledged by this
 * process and not flushed is lost if the process dies (struct backend's
 * master_cache). Unknown settings count as a cache.
 */
static bool has_write_back(rados_t c)
{
	char v[64];

	if (lib.rados_conf_get(c, "rbd_cache", v, sizeof(v)) == 0 &&
	    (!strcmp(v, "false") || !strcmp(v, "0")))
		return false;
	if (lib.rados_conf_get(c, "rbd_cache_policy", v, sizeof(v)) == 0 &&
	    !strcmp(v, "writethrough"))
		return false;
	if (lib.rados_conf_get(c, "rbd_cache_max_dirty", v, sizeof(v)) == 0 &&
	    strtoull(v, NULL, 10) == 0 && v[0] == '0')
		return false;
	return true;
}

int be_rbd_create(const struct be_spec *spec, struct backend **out)
{
	const struct be_rbd_spec *s = &spec->rbd;
	struct be_rbd *r;
	uint64_t bytes;
	int rc;

	*out = NULL;
	pthread_once(&lib_once, lib_load);
	if (lib_err)
		return lib_err;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->be.ops = &rbd_ops;
	r->be.lock_fd = -1;
	r->readonly = spec->readonly;
	/* The identity (WWID, logs, the master's LUN table): "rbd:[CLUSTER:]POOL/[NS/]IMAGE". */
	if (snprintf(r->be.id, sizeof(r->be.id), "rbd:%s%s%s/%s%s%s",
		     s->cluster[0] ? s->cluster : "", s->cluster[0] ? ":" : "", s->pool, s->ns,
		     s->ns[0] ? "/" : "", s->image) >= (int)sizeof(r->be.id))
		log_warn("%s...: name cut to %zu bytes", r->be.id, sizeof(r->be.id) - 1);

	rc = connect_cluster(r, s, r->be.id);
	if (!rc)
		rc = open_image(r, spec, r->be.id);
	if (!rc)
		rc = set_uid(r, s, r->be.id);
	if (!rc && !spec->readonly)
		rc = take_lock(r, s, r->be.id);
	if (!rc && (rc = lib.rbd_get_size(r->image, &bytes)) < 0)
		log_err("%s: cannot read the size: %s", r->be.id, strerror(-rc));
	if (!rc && bytes < BE_BLOCK_SIZE) {
		log_err("%s: %" PRIu64 " bytes is less than one %u-byte block", r->be.id, bytes,
			BE_BLOCK_SIZE);
		rc = -EINVAL;
	}
	if (rc) {
		rbd_destroy(&r->be);
		return rc;
	}
	r->be.nblocks = bytes >> BE_BLOCK_SHIFT;
	r->be.can_unmap = true;
	r->be.direct = true;     /* no page cache (librbd's own cache: docs/scale-out.md) */
	r->be.master_cache = has_write_back(r->cluster);
	if (lib.rbd_update_watch(r->image, &r->update_handle, rbd_header_changed, r) == 0)
		r->watching = true;
	else
		log_warn("%s: cannot watch the image for a resize: noticed only at VERIFY "
			 "with a unit attention", r->be.id);
	*out = &r->be;
	return 0;
}

#endif /* CXLFLASH_HAVE_RBD */
