/* SPDX-License-Identifier: Apache-2.0 */
/*
 * master.h - the trusted master: LUNs, contexts, resource handles, virtual
 * LUNs, and the DK_CXLFLASH_* request handlers.
 *
 * Terminology (as in the kernel driver):
 *   LUN        a backend with a WWID, an access mode and a chunk allocator.
 *   open       one client's open of a LUN (fd1 in embedded mode, one
 *              connection's open in the daemon). Closing it detaches what was
 *              attached through it.
 *   context    a client's superpipe: a window (host map), an RHT of
 *              MASTER_RHT_PER_CONTEXT entries, an AFU context. Known to
 *              clients by a 64-bit cookie (generation << 32 | handle).
 *   handle     the context's slot, 0..AFU_MAX_CONTEXTS-1 (IOARCB ctx_id).
 *   rsrc_handle an index into the context's RHT.
 *   user       one open RHT entry on a LUN; the LUN's mode is NONE exactly
 *              when it has no users.
 *
 * Locking: one mutex per master serialises every control operation; the
 * data path never takes it. RHT/LXT changes are published under the AFU's
 * per-context xlate lock and followed by an AFU sync (afu.h).
 */
#ifndef CXLFLASH_MASTER_H
#define CXLFLASH_MASTER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdint.h>
#include <sys/types.h>

#include <cxlflash/cxlflash_ioctl.h>
#include <cxlflash/sislite.h>

#include "afu/afu.h"
#include "master/chunk_alloc.h"
#include "util/pident.h"

struct backend;
struct mscrub;
struct mrate;

/* RHT entries per context: one 4 KiB page of 16-byte entries, as the kernel
 * driver has on 4 KiB-page machines. */
#define MASTER_RHT_PER_CONTEXT 256

/* Chunk geometry: 2^16 blocks of 4 KiB = 256 MiB. */
#define MC_CHUNK_SHIFT 16
#define MC_CHUNK_SIZE  (1ull << MC_CHUNK_SHIFT)
#define LXT_GROUP_SIZE 8

enum lun_mode { MODE_NONE = 0, MODE_VIRTUAL, MODE_PHYSICAL };

struct mlun {
	struct master *m;
	unsigned index;            /* slot in the AFU LUN table; LXT lun index */
	struct backend *be;
	char name[4096];           /* as opened: "ram:1G", a path, ... */
	uint8_t wwid[CXLFLASH_WWID_LEN];
	uint64_t max_lba;          /* last physical LBA (4 KiB blocks) */
	enum lun_mode mode;
	unsigned users;            /* open RHT entries across all contexts */
	bool superpipe;            /* MANAGE_LUN state: false = legacy */
	bool ca_ready;             /* allocator initialised (virtual mode) */
	struct chunk_alloc ca;
	uint64_t retired_chunks;   /* chunks kept out of use after a failed scrub */
	bool vstore;               /* vLUN maps kept in the backend's metadata (vstore.c) */
	struct mvorphan *orphans;  /* kept vLUNs no context holds (each holds one user) */
	uint64_t scrub_pending;    /* freed chunks still allocated until their
				    * background scrub ends (scrub.c) */
	unsigned opens;            /* live opens of this LUN */
	unsigned legacy_users;     /* legacy-mode (NBD) clients: superpipe refused while > 0 */
};

/* One client's open of a LUN. */
struct mopen {
	struct master *m;
	struct mlun *lun;
	pid_t pid;                 /* who opened it */
};

/*
 * Who is asking: a process identity that is never reused (pident.h), not
 * a bare pid, and for VLUN_CLONE its parent's. A context belongs to the
 * identity that attached it; every request naming a context must come
 * from that identity (VLUN_CLONE's source: from its child).
 * @remote: the caller is another process (a daemon client, or a child of
 * the embedded master's process); its contexts' EAs are bounded by their
 * DMA area, and @pidfd (a pidfd of the caller, or -1) is watched while it
 * owns contexts: its death detaches them (owner.c).
 */
struct mcaller {
	struct pident id;
	struct pident parent;      /* VLUN_CLONE only; { 0 }: unknown, matches nothing */
	uid_t uid;
	int pidfd;
	bool remote;
	const struct mlimits *lim; /* the caller's uid's quotas; NULL: none */
	int buf_fd;                /* remote ATTACH: the descriptor sent with it, or -1 */
};

/*
 * Per-uid limits (issue 12): what one uid may hold, resolved by the server
 * for a caller (cxlflashd's quota rules). MLIMIT_NONE: no limit. The
 * master enforces contexts and chunks (quota.c); the server connections.
 */
#define MLIMIT_NONE UINT64_MAX
struct mlimits {
	uint64_t contexts;         /* contexts attached by the uid, all LUNs */
	uint64_t chunks;           /* chunks of one LUN held by the uid's vLUNs */
	unsigned chunks_pct;       /* 1..100: @chunks is this share of each LUN instead */
	uint64_t connections;      /* control connections of the uid (server.c) */
	bool exempt;               /* root or an administrator: no limit unless set */
	/* Rates of all the uid's contexts together (rates.c; the AFU holds
	 * them to it): commands/s and bytes/s; MLIMIT_NONE or 0: none. */
	uint64_t iops;
	uint64_t bps;
};

/* A context's attachment to a LUN (the kernel's lun_access). */
struct mlun_access {
	struct mlun *lun;
	struct mopen *via;         /* the open it was attached through */
	struct mlun_access *next;
};

struct mctx {
	uint64_t ctxid;            /* cookie: generation << 32 | handle */
	uint16_t handle;
	struct pident owner;       /* who attached it (see struct mcaller) */
	uid_t owner_uid;
	int owner_fd;              /* remote: the owner's pidfd, watched; -1: none */
	uint64_t serial;           /* never reused: names the context to the owner watch */
	uint8_t perms;             /* SISL_RHT_PERM_* from ATTACH */
	bool err;                  /* in the error state, awaiting RECOVER_AFU */
	struct sisl_rht_entry *rht;
	struct mlun *rht_lun[MASTER_RHT_PER_CONTEXT];
	bool rht_needs_ws[MASTER_RHT_PER_CONTEXT];
	uint64_t rht_vid[MASTER_RHT_PER_CONTEXT]; /* kept vLUN's id (vstore.c); 0: not kept */
	unsigned rht_out;
	struct mlun_access *luns;
	struct sisl_host_map *map; /* master's mapping of the window (+ DMA area) */
	uint64_t dma_size;         /* bytes of DMA area after the window, 0 if none */
	uint64_t dma_ea;           /* bounded: the client's address of the DMA area */
	bool bounded;              /* EAs must fall in the DMA area (remote caller) */
	uint8_t *buf_map;          /* bounded: the client's buffer area, mapped; or NULL */
	uint64_t buf_ea, buf_len;  /* its address in the client, its length */
	int adap_fd;               /* the fd2 handed out (owned by the client) */
	dev_t adap_dev;            /* identity of fd2's file, to notice its close */
	ino_t adap_ino;
	struct afu_ctx *actx;
	struct afu_rate *rate;     /* its owner's rate bucket (rates.c), or NULL */
};

struct master_config {
	struct afu_config afu;
	bool check_adap_fds;       /* embedded: a closed fd2 releases its context */
	bool sq_mode;              /* report DK_CXLFLASH_CONTEXT_SQ_CMD_MODE */
	uint64_t max_dma;          /* largest DMA area per context; 0 = MASTER_MAX_DMA */
	uint64_t default_dma;      /* remote ATTACH with dma_size 0; 0 = MASTER_DEFAULT_DMA */
};

#define MASTER_MAX_DMA     (1ull << 30)
#define MASTER_DEFAULT_DMA (1ull << 20)

/* A window (memfd + our mapping) made ahead of use or waiting to be unmapped. */
struct mwin {
	struct sisl_host_map *map;
	size_t size;
	int fd;
	struct mwin *next;
};

struct master {
	pthread_mutex_t lock;
	struct master_config cfg;
	struct afu *afu;
	struct mlun *luns[AFU_MAX_LUNS];
	struct mctx *ctx_tbl[AFU_MAX_CONTEXTS];
	uint32_t ctx_gen[AFU_MAX_CONTEXTS];
	/* Work a server does after its reply (master_deferred_work). */
	struct mwin *dead_windows;  /* detached remote contexts' windows */
	struct mwin spare;          /* a fresh window for the next remote ATTACH */
	size_t spare_want;          /* its size: that of the last one */
	/* Background scrubs of freed chunks (scrub.c); the lists are under
	 * scrub_lock, which is taken after m->lock, never before it. */
	pthread_mutex_t scrub_lock;
	pthread_cond_t scrub_cond;
	struct mscrub *scrub_head, **scrub_tail;  /* waiting */
	struct mscrub *scrub_busy;                /* being scrubbed by the thread */
	struct mscrub *scrub_done;                /* scrubbed, to free (m->lock) */
	struct mlun *scrub_steal;                 /* a LUN whose busy chunk to hand back */
	pthread_t scrub_thread;
	bool scrub_started, scrub_exit;
	struct mrate *rates;        /* per-uid rate buckets (rates.c) */
	bool keep_vluns;            /* stopping: kept vLUN maps stay (master_keep_vluns) */
	/* Remote contexts' owners (owner.c). */
	int owner_ep;               /* epoll of their pidfds; -1 until a server asks */
	uint64_t next_serial;
};

/* master.c */
int master_create(const struct master_config *cfg, struct master **out);
/* master_destroy() - all opens must be closed. */
void master_destroy(struct master *m);
/*
 * master_keep_vluns() - this master is stopping (a clean daemon stop), its
 * clients are not letting go: from now on a detach leaves each vLUN whose
 * map the LUN keeps (vstore.c) as it is, record and chunks, for the next
 * master to load and the client to take back (vlun_keep).
 */
void master_keep_vluns(struct master *m);
/* master_lun_count() - LUNs currently in the table. */
unsigned master_lun_count(struct master *m);

/*
 * master_open_lun() - open @be as a LUN (taking ownership of @be) or, when
 * a LUN with @be's identity is already in the table, open that one and close
 * @be. @wwid may be NULL to derive one.
 * Return: 0 and *@out, or -errno (-ENOSPC when the LUN table is full).
 */
int master_open_lun(struct master *m, const char *name, struct backend *be,
		    const uint8_t *wwid, pid_t pid, struct mopen **out);
/* master_reopen_lun() - another open of a LUN already in the table
 * (found with master_find_lun). Return 0 and *@out, or -ENOMEM. */
int master_reopen_lun(struct master *m, struct mlun *lun, pid_t pid, struct mopen **out);
/* master_find_lun() - the LUN named @name (a ram/null spec) or with a file
 * identity (@dev, @ino); NULL if not open. Caller holds no lock. */
struct mlun *master_find_lun(struct master *m, const char *name, uint64_t dev, uint64_t ino);
/* master_close_open() - detach every context attached through @o, then drop
 * the open; the last open of a LUN closes its backend. */
void master_close_open(struct mopen *o);

/*
 * master_deferred_work() - what a server does after replying to any
 * request, off the client's path: wake the AFU workers that remote
 * contexts were started for, unmap the windows of remote contexts
 * detached since, and (@prepare) make the window the next remote ATTACH
 * will take. Caller holds no lock.
 */
void master_deferred_work(struct master *m, bool prepare);
/* master_windows_free() - drop the spare and dead windows (master_destroy). */
void master_windows_free(struct master *m);

/*
 * master_ioctl() - run one DK_CXLFLASH_* request. @arg is the request struct,
 * already copied in (at least the request's size); it is updated only on
 * success. Return: 0 or -errno.
 */
int master_ioctl(struct mopen *o, const struct mcaller *who, unsigned long request, void *arg);
/* The size of @request's struct, or 0 for an unknown request. */
size_t master_ioctl_size(unsigned long request);
/* A name for logs ("DK_CXLFLASH_ATTACH"). */
const char *master_ioctl_name(unsigned long request);

/* How the status shows LUNs: a label (cxlflashd's LUN name) and the number
 * of legacy-mode (NBD) clients. Both optional; called with the master lock
 * held. @only_uid: list (and count) only the contexts attached by @uid, for
 * a caller who is not an administrator. */
struct master_status_names {
	const char *(*label)(void *arg, const struct mlun *l);
	unsigned (*legacy_clients)(void *arg, const struct mlun *l);
	void *arg;
	bool only_uid;
	uid_t uid;
	/* More of the full status (cxlflashd's tenants): text at the end, or
	 * JSON members (",\"key\":...") before the closing brace. */
	void (*extra)(void *arg, FILE *f, bool json);
	void *extra_arg;
};
/* master_status() - print LUNs, contexts and resource handles to @f as a
 * table or as JSON; @vluns_only: just the resource handles. */
void master_status(struct master *m, FILE *f, bool json, bool vluns_only,
		   const struct master_status_names *names);

/* master_ctx_runner() - for a context of this process (not a remote
 * caller's), what afu_run_inline() takes; NULL if there is no such
 * context. Valid while the master lives. */
struct afu_runner *master_ctx_runner(struct master *m, uint64_t ctxid);

/* Test and admin hooks. */
/* master_ctx_error() - put a context in the error state, as an AFU reset
 * would (its window then reads all ones until RECOVER_AFU). */
int master_ctx_error(struct master *m, uint64_t ctxid);
/* master_ctx_owned() - does @id own context @ctxid? 1 yes, 0 no, -EINVAL:
 * no such context. */
int master_ctx_owned(struct master *m, uint64_t ctxid, const struct pident *id);

/* owner.c: who owns a context, and what happens when the owner dies. */
/* mcaller_local() - @who for a request made by this process itself. */
void mcaller_local(struct mcaller *who);
/*
 * master_owner_fd() - a descriptor that polls readable when the owner of a
 * remote context has died (made on first call; -errno if it cannot be).
 * The server serving the master polls it and then calls
 * master_reap_dead_owners(). Caller holds no lock.
 */
int master_owner_fd(struct master *m);
/* master_reap_dead_owners() - detach every context whose owner has died,
 * whoever still holds the connection it came through; the number detached.
 * Caller holds no lock. */
unsigned master_reap_dead_owners(struct master *m);
/* master_check() - verify allocator and user-count invariants of every LUN.
 * Return 0, or -1 with the first violation in @why. */
int master_check(struct master *m, char *why, size_t len);

/* quota.c: per-uid use against struct mlimits. */
/* The chunk limit of @lim on @lun (MLIMIT_NONE: none). */
uint64_t mlimits_chunks(const struct mlimits *lim, const struct mlun *lun);
/* Contexts attached by @uid now; master lock held. */
unsigned quota_contexts_used(struct master *m, uid_t uid);
/* Chunks of @lun mapped by @uid's vLUNs, and by those of @plus (NULL, or a
 * context about to be cloned for @uid); a chunk shared by clones counts
 * once. Master lock held. */
uint64_t quota_chunks_used(struct master *m, uid_t uid, const struct mlun *lun,
			   const struct mctx *plus);
/* quota_log() - a refusal's log line naming the quota, the uid and its use
 * (at most one a second per quota). Any thread, any lock. */
enum mquota { MQ_CONTEXTS, MQ_CHUNKS, MQ_CONNECTIONS };
void quota_log(enum mquota q, uid_t uid, uint64_t used, uint64_t limit, const char *what);

/* scrub.c: freed chunks are scrubbed in the background (1 MiB slices at
 * low priority); a chunk stays allocated until its scrub ends. */
/* scrub_chunk() - scrub then free @chunk of @lun (its last reference);
 * queued for the scrub thread, or done here when it cannot be. */
void scrub_chunk(struct master *m, struct mlun *lun, uint64_t chunk);
/* scrub_all() - queue every chunk of a LUN's new allocator (all allocated):
 * what the LUN held before (a crashed daemon's vLUNs, physical data) is
 * never handed out unscrubbed. */
void scrub_all(struct master *m, struct mlun *lun);
/* scrub_finish() - free the chunks already scrubbed, then scrub here and
 * free up to @want more of @lun's waiting chunks (UINT64_MAX: all, before
 * the allocator or the LUN goes). Return: chunks freed for @lun. */
uint64_t scrub_finish(struct master *m, struct mlun *lun, uint64_t want);
/* scrub_stop() - end the scrub thread (master_destroy: no LUN left). */
void scrub_stop(struct master *m);

/* rates.c: per-uid rate limits (struct mlimits iops, bps). */
/* rate_for() - the bucket of @who's uid with its limits applied, made on
 * first use; NULL when @who has no rate limit (or no memory: unlimited).
 * Master lock held. */
struct afu_rate *rate_for(struct master *m, const struct mcaller *who);
/* master_rate_get() - @uid's bucket's limits and counters; false: none.
 * Master lock held. */
bool master_rate_get(struct master *m, uid_t uid, struct afu_rate_stats *st);
/* rates_free() - master_destroy, after the AFU is gone. */
void rates_free(struct master *m);

/* Internal, shared between the master's files (master lock held). */
enum ctx_lookup { CTX_PLAIN = 0, CTX_ERR_FALLBACK = 1, CTX_ANY_LUN = 2, CTX_CLONE = 4 };
struct mctx *ctx_get(struct master *m, uint64_t ctxid, struct mlun *lun,
		     const struct mcaller *who, int flags);
struct mlun_access *ctx_access(struct mctx *c, struct mlun *lun);
int rhte_checkout(struct mctx *c, struct mlun *lun);
int rhte_open(struct mopen *o, const struct mcaller *who, uint64_t ctxid, enum lun_mode mode,
	      struct mctx **out);
void rhte_checkin(struct mctx *c, unsigned h);
struct sisl_rht_entry *rhte_get(struct mctx *c, struct mlun *lun, uint64_t h);
int lun_attach(struct mlun *lun, enum lun_mode mode);
void lun_detach(struct mlun *lun);
int vlun_resize(struct mctx *c, struct mlun *lun, unsigned h, uint64_t req_size,
		const struct mlimits *lim, uint64_t *last_lba);
int release_handle(struct mctx *c, struct mlun *lun, unsigned h);
int vlun_init(struct mlun *lun);
int vlun_init_alloc(struct mlun *lun, bool scrub);
int vlun_free_chunk(struct mlun *lun, uint64_t chunk);
void vlun_keep(struct mctx *c, struct mlun *lun, unsigned h);
uint64_t vlun_lxt_entry(const struct mlun *lun, uint64_t chunk);
void ctx_detach_lun(struct master *m, struct mctx *c, struct mlun *lun);
void master_reap_closed_fds(struct master *m);
void ctx_detach_all(struct master *m, struct mctx *c);
int owner_watch(struct master *m, struct mctx *c, const struct mcaller *who);
void owner_unwatch(struct master *m, struct mctx *c);
void lun_derive_wwid(struct backend *be, uint8_t wwid[CXLFLASH_WWID_LEN]);

int handle_attach(struct mopen *o, const struct mcaller *who, void *arg);
int handle_detach(struct mopen *o, const struct mcaller *who, void *arg);
int handle_recover(struct mopen *o, const struct mcaller *who, void *arg);
int handle_udirect(struct mopen *o, const struct mcaller *who, void *arg);
int handle_release(struct mopen *o, const struct mcaller *who, void *arg);
int handle_verify(struct mopen *o, const struct mcaller *who, void *arg);
int handle_manage_lun(struct mopen *o, const struct mcaller *who, void *arg);
int handle_uvirtual(struct mopen *o, const struct mcaller *who, void *arg);
int handle_resize(struct mopen *o, const struct mcaller *who, void *arg);
int handle_clone(struct mopen *o, const struct mcaller *who, void *arg);

/*
 * vstore.c: vLUN maps kept with the LUN's storage (backend metadata: an rbd
 * image's), so that another master that opens the LUN after this one was
 * lost gives each vLUN back to its client (DK_CXLFLASH_UVIRTUAL_REATTACH).
 * All with the master lock held.
 */
/* A kept vLUN that no context holds: loaded at open, waiting for its owner. */
struct mvorphan {
	uint64_t id;
	uid_t uid;
	uint64_t nchunks;
	uint64_t *chunks;
	uint64_t since_ns;         /* CLOCK_MONOTONIC when loaded */
	struct mvorphan *next;
};
/* How long a loaded vLUN waits for its client before it is freed. */
#define MASTER_VLUN_ORPHAN_S 300
/* vstore_open() - a new LUN: keep maps if the backend can, and load the
 * maps a lost master left as orphans (their chunks taken, one user each). */
void vstore_open(struct mlun *lun);
/* vstore_close() - the LUN closes: forget the orphans (they stay kept). */
void vstore_close(struct mlun *lun);
/* vstore_new_id() - an id for a new kept vLUN of @lun (0 when not kept). */
uint64_t vstore_new_id(struct mlun *lun);
/* vstore_save() - write entry @h's map, its first @nchunks LXT entries. */
int vstore_save(struct mctx *c, struct mlun *lun, unsigned h, uint64_t nchunks);
/* vstore_forget() - the vLUN of entry @h is gone: remove its map. */
void vstore_forget(struct mctx *c, struct mlun *lun, unsigned h);
/* vstore_expire() - free orphans that waited longer than MASTER_VLUN_ORPHAN_S. */
void vstore_expire(struct mlun *lun);
/* vstore_reattach() - USER_VIRTUAL with DK_CXLFLASH_UVIRTUAL_REATTACH. */
int vstore_reattach(struct mopen *o, const struct mcaller *who,
		    struct dk_cxlflash_uvirtual *req);
/* vstore_orphan_refs() - users and chunk references the orphans hold. */
void vstore_orphan_refs(const struct mlun *lun, unsigned *users, uint64_t *refs);

static inline uint64_t vlun_last_lba(uint64_t chunks)
{
	return chunks ? chunks * MC_CHUNK_SIZE - 1 : UINT64_MAX;
}

#endif /* CXLFLASH_MASTER_H */
