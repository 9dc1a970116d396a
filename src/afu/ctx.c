/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ctx.c - the AFU's master-facing side (afu.h): creating and destroying
 * the AFU, the LUN table, starting, stopping and failing contexts, the
 * translation lock, the sync command, statistics and the test hooks.
 *
 * Nothing here touches a context's queues: changes to a context's state go
 * to its worker as control requests (worker.c) and are acknowledged once
 * the worker has applied them, after the context's in-flight backend I/O
 * drained where that matters (stop, error).
 */
#include "afu/afu_internal.h"
#include "util/cpus.h"
#include "util/log.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static unsigned env_uint(const char *name, unsigned dflt, unsigned max)
{
	const char *s = getenv(name);
	char *end;
	unsigned long v;

	if (!s || !*s)
		return dflt;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v > max) {
		log_warn("ignoring %s=%s (expected 0..%u)", name, s, max);
		return dflt;
	}
	return (unsigned)v;
}

int afu_create(const struct afu_config *cfg, struct afu **out)
{
	struct afu *afu;
	int rc;

	*out = NULL;
	afu = calloc(1, sizeof(*afu));
	if (!afu)
		return -ENOMEM;
	afu->nworkers = cfg && cfg->workers ? cfg->workers :
			env_uint("CXLFLASH_AFU_THREADS", afu_default_workers(), AFU_MAX_WORKERS);
	if (afu->nworkers == 0)
		afu->nworkers = 1;
	if (afu->nworkers > AFU_MAX_WORKERS)
		afu->nworkers = AFU_MAX_WORKERS;
	afu->drop_fenced = cfg && cfg->drop_fenced;
	afu->spin_us = cfg && cfg->spin_us ? cfg->spin_us :
		       env_uint("CXLFLASH_AFU_SPIN_US", 50, 10000000);
	/* KiB; 0: no fair share (each context fetches AFU_SQ_BATCH a pass). */
	afu->fair_quantum = (int64_t)env_uint("CXLFLASH_AFU_FAIR_KIB", AFU_FAIR_QUANTUM >> 10,
					      1u << 20) << 10;
	if (!afu->fair_quantum)
		afu->fair_quantum = INT64_MAX / 4;
	afu->pass_stats = env_uint("CXLFLASH_AFU_PASS_STATS", 0, 1) == 1;
	afu->slice_ns = (uint64_t)env_uint("CXLFLASH_AFU_SLICE_US", AFU_SLICE_NS / 1000,
					   1000000) * 1000;
	if (!afu->slice_ns)
		afu->slice_ns = UINT64_MAX;
	pthread_mutex_init(&afu->ctl_lock, NULL);
	pthread_cond_init(&afu->ctl_cond, NULL);
	pthread_mutex_init(&afu->lun_lock, NULL);

	rc = afu_workers_start(afu);
	if (rc) {
		log_err("cannot start the AFU's workers: %s", strerror(-rc));
		afu_destroy(afu);
		return rc;
	}
	log_info("AFU up: %u worker(s), spin %u us", afu->nworkers, afu->spin_us);
	*out = afu;
	return 0;
}

void afu_destroy(struct afu *afu)
{
	struct afu_lun *l;

	if (!afu)
		return;
	afu_workers_stop(afu);
	for (unsigned i = 0; i < AFU_MAX_LUNS; i++)
		free(afu->luns[i]);
	while ((l = afu->retired)) {
		afu->retired = l->retired_next;
		free(l);
	}
	pthread_mutex_destroy(&afu->lun_lock);
	pthread_cond_destroy(&afu->ctl_cond);
	pthread_mutex_destroy(&afu->ctl_lock);
	free(afu);
}

/*
 * afu_set_lun() - publish a new immutable slot for @lun_index. Workers may
 * still hold the old slot for a command in flight, so it is kept until
 * afu_destroy() (LUN changes are rare; the list stays short).
 */
void afu_set_lun(struct afu *afu, unsigned lun_index, struct backend *be,
		 const uint8_t wwid[16])
{
	struct afu_lun *nl = NULL, *old;

	if (lun_index >= AFU_MAX_LUNS) {
		log_err("LUN index %u out of range", lun_index);
		return;
	}
	if (be) {
		nl = calloc(1, sizeof(*nl));
		if (!nl) {
			log_err("no memory for LUN %u; the slot is unchanged", lun_index);
			return;
		}
		nl->be = be;
		if (wwid)
			memcpy(nl->wwid, wwid, sizeof(nl->wwid));
	}
	pthread_mutex_lock(&afu->lun_lock);
	old = __atomic_exchange_n(&afu->luns[lun_index], nl, __ATOMIC_ACQ_REL);
	if (nl && nl->be->ops->mem)
		__atomic_add_fetch(&afu->mem_luns, 1, __ATOMIC_RELAXED);
	if (old && old->be->ops->mem)
		__atomic_sub_fetch(&afu->mem_luns, 1, __ATOMIC_RELAXED);
	if (old) {
		old->retired_next = afu->retired;
		afu->retired = old;
	}
	pthread_mutex_unlock(&afu->lun_lock);
}

/* afu_ctx.serial: contexts started in this process (atomic). */
static uint64_t ctx_serials;

static bool ea_window_ok(const struct afu_ea_window *ea)
{
	if (ea->identity)
		return true;
	if (ea->buf_len && (!ea->buf_host || ea->buf_ea + ea->buf_len < ea->buf_ea))
		return false;
	return ea->host_base && ea->len && ea->ea_base + ea->len >= ea->ea_base;
}

/*
 * afu_ctx_start() - initialise the window's AFU-owned registers, pick a
 * worker (round-robin) and hand it the context.
 */
int afu_ctx_start(struct afu *afu, const struct afu_ctx_params *p, struct afu_ctx **out)
{
	struct afu_ctx *c;
	struct afu_worker *w;
	void *mem;

	*out = NULL;
	if (!p || !p->map || (p->rht_cnt && !p->rht) || !ea_window_ok(&p->ea))
		return -EINVAL;
	if (posix_memalign(&mem, 64, sizeof(*c)))
		return -ENOMEM;
	c = mem;
	memset(c, 0, sizeof(*c));
	c->afu = afu;
	c->serial = __atomic_add_fetch(&ctx_serials, 1, __ATOMIC_RELAXED);
	c->map = p->map;
	c->handle = p->handle;
	c->rht = p->rht;
	c->rht_cnt = p->rht_cnt;
	c->ctx_cap = p->ctx_cap;
	c->ea = p->ea;
	pthread_mutex_init(&c->xlate_lock, NULL);
	pthread_mutex_init(&c->sync_lock, NULL);
	c->state = AFU_CTX_ACTIVE;
	c->toggle = SISL_RESP_HANDLE_T_BIT;
	c->cmd_room = AFU_CMD_ROOM;

	STORE_RELAXED(&c->map->endian_ctrl, SISL_ENDIAN_CTRL_HOST);
	STORE_RELAXED(&c->map->cmd_room, (uint64_t)AFU_CMD_ROOM);
	STORE_RELEASE(&c->map->ctx_ctrl, SISL_CTX_CTRL_UNMAP_SECTOR);

	pthread_mutex_lock(&afu->ctl_lock);
	/* The worker with the fewest contexts; among those, the next in turn. */
	w = &afu->workers[afu->next_worker++ % afu->nworkers];
	for (unsigned i = 0; i < afu->nworkers; i++) {
		struct afu_worker *x = &afu->workers[(afu->next_worker + i) % afu->nworkers];

		if (x->nassigned < w->nassigned)
			w = x;
	}
	w->nassigned++;
	pthread_mutex_unlock(&afu->ctl_lock);
	c->worker = w;

	c->add_req.op = AFU_CTL_ADD;
	c->add_req.ctx = c;
	/* No need to wait: the worker adds it on its next pass, before any
	 * later request for it, and commands posted meanwhile are found then.
	 * Saves the worker's wake-up latency on every ATTACH. */
	afu_ctl_post(w, &c->add_req, !p->defer_wake);
	*out = c;
	return 0;
}

void afu_ctx_stop(struct afu_ctx *ctx)
{
	struct afu_ctl_req req = { .op = AFU_CTL_STOP, .ctx = ctx };
	struct afu *afu;

	if (!ctx)
		return;
	afu = ctx->afu;
	/* A sleeping worker need not be woken for an idle context. */
	if (!afu_ctl_stop_asleep(ctx))
		afu_ctl_request(ctx->worker, &req);
	pthread_mutex_lock(&afu->ctl_lock);
	ctx->worker->nassigned--;
	pthread_mutex_unlock(&afu->ctl_lock);
	pthread_mutex_destroy(&ctx->sync_lock);
	pthread_mutex_destroy(&ctx->xlate_lock);
	free(ctx);
}

void afu_ctx_error(struct afu_ctx *ctx)
{
	struct afu_ctl_req req = { .op = AFU_CTL_ERROR, .ctx = ctx };

	if (__atomic_exchange_n(&ctx->in_error, true, __ATOMIC_ACQ_REL))
		return;
	afu_ctl_request(ctx->worker, &req);
}

bool afu_ctx_in_error(const struct afu_ctx *ctx)
{
	return __atomic_load_n(&ctx->in_error, __ATOMIC_ACQUIRE);
}

void afu_xlate_lock(struct afu_ctx *ctx)
{
	pthread_mutex_lock(&ctx->xlate_lock);
}

void afu_xlate_unlock(struct afu_ctx *ctx)
{
	pthread_mutex_unlock(&ctx->xlate_lock);
}

/* Take one injected sync failure, if any is left. */
static bool take_sync_error(struct afu *afu)
{
	unsigned v = LOAD_RELAXED(&afu->sync_errors);

	while (v && !__atomic_compare_exchange_n(&afu->sync_errors, &v, v - 1, false,
						 __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
		;
	return v != 0;
}

/* Wait until no command of translation generation parity @p is in flight. */
static void wait_generation(struct afu_ctx *c, unsigned p)
{
	const struct timespec ts = { .tv_sec = 0, .tv_nsec = 20000 };

	for (unsigned spins = 0; LOAD_ACQUIRE(&c->gen_inflight[p]) != 0; spins++) {
		if (spins < 64)
			sched_yield();
		else
			nanosleep(&ts, NULL);
	}
}

/*
 * afu_ctx_sync() - LW: nothing to do (translation reads the tables under
 * the xlate lock). HW: start a new translation generation, then wait until
 * every command translated in the old one has completed or been dropped.
 * Commands translated after the bump count in the other generation, so the
 * wait ends even under load. An injected failure still syncs (so a master
 * that ignored the error would be safe) but reports -EAGAIN.
 */
int afu_ctx_sync(struct afu_ctx *ctx, int mode)
{
	bool fail = take_sync_error(ctx->afu);
	uint32_t old;

	switch (mode) {
	case SISL_AFU_LW_SYNC:
	case SISL_AFU_GSYNC:
		break;
	case SISL_AFU_HW_SYNC:
		pthread_mutex_lock(&ctx->sync_lock);
		pthread_mutex_lock(&ctx->xlate_lock);
		old = ctx->gen++;
		pthread_mutex_unlock(&ctx->xlate_lock);
		wait_generation(ctx, old & 1);
		pthread_mutex_unlock(&ctx->sync_lock);
		break;
	default:
		return -EINVAL;
	}
	return fail ? -EAGAIN : 0;
}

void afu_ctx_stats(const struct afu_ctx *ctx, struct afu_ctx_stats *st)
{
	st->cmds = LOAD_RELAXED(&ctx->stats.cmds);
	st->errors = LOAD_RELAXED(&ctx->stats.errors);
	st->blocks_read = LOAD_RELAXED(&ctx->stats.blocks_read);
	st->blocks_written = LOAD_RELAXED(&ctx->stats.blocks_written);
	st->resets = LOAD_RELAXED(&ctx->stats.resets);
}

void afu_inject_sync_error(struct afu *afu, unsigned count)
{
	STORE_RELEASE(&afu->sync_errors, count);
}

static void pause_all(struct afu *afu, enum afu_ctl_op op)
{
	for (unsigned i = 0; i < afu->nworkers; i++) {
		struct afu_ctl_req req = { .op = op };

		afu_ctl_request(&afu->workers[i], &req);
	}
}

void afu_pause(struct afu *afu)
{
	pause_all(afu, AFU_CTL_PAUSE);
}

void afu_resume(struct afu *afu)
{
	pause_all(afu, AFU_CTL_RESUME);
}
