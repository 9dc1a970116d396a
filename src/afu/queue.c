/* SPDX-License-Identifier: Apache-2.0 */
/*
 * queue.c - a context's queues as the AFU sees them: fetching IOARCBs from
 * the IOARRIN mailbox and the submission queue (SQ), latching the HRRQ and
 * SQ bounds, issuing a command's backend requests, posting completions
 * (IOASA, then the HRRQ entry with the toggle bit), the interrupt status
 * registers, and the context reset the host asks for.
 *
 * Everything here runs on the context's worker thread. Host memory is
 * reached only through afu_ea_resolve(); every word the host also touches
 * is accessed atomically, and an IOARCB is copied to AFU-private memory
 * before anything in it is looked at (a client may rewrite it at any time).
 *
 * The IOARCB's ctx_id field is ignored: the window a command arrives
 * through identifies its context, so a client cannot name another one.
 */
#include "afu/afu_internal.h"
#include "afu/afu_tsan.h"
#include "afu/scsi_spec.h"
#include "util/clock.h"
#include "util/log.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* Latch-time error: set @bits in intr_status (the host sees them at once). */
static void raise_intr(struct afu_ctx *c, uint64_t bits)
{
	c->intr_status |= bits;
	STORE_RELEASE(&c->map->intr_status, c->intr_status);
}

/* Copy a 64-byte IOARCB out of host memory, one atomic word at a time. */
static void copy_rcb(struct sisl_ioarcb *dst, const struct sisl_ioarcb *src)
{
	const uint64_t *s = (const uint64_t *)src;
	uint64_t *d = (uint64_t *)dst;

	for (unsigned i = 0; i < sizeof(*dst) / 8; i++)
		d[i] = LOAD_RELAXED(&s[i]);
}

/*
 * ensure_rrq() - latch the HRRQ bounds on the first command after the
 * context started or was reset. A bad HRRQ sets PERM_ERR_RRQ_WRITE and
 * every command is dropped until the next reset.
 * Return: whether commands can complete.
 */
static bool ensure_rrq(struct afu_ctx *c)
{
	uint64_t s, e, len;
	uint64_t *host;

	if (c->rrq_latched)
		return true;
	if (c->rrq_broken)
		return false;
	s = LOAD_ACQUIRE(&c->map->rrq_start);
	e = LOAD_ACQUIRE(&c->map->rrq_end);
	if (!s || (s & 7) || (e & 7) || s > e || e - s > UINT64_MAX - 8)
		goto broken;
	len = e - s + 8;
	host = afu_ea_resolve(&c->ea, s, len, AFU_EA_ALIGN);
	if (!host)
		goto broken;
	c->hrrq_start = host;
	c->hrrq_end = host + (e - s) / 8;
	c->hrrq_cur = host;
	c->rrq_start_ea = s;
	c->toggle = SISL_RESP_HANDLE_T_BIT;
	c->rrq_latched = true;
	return true;
broken:
	c->rrq_broken = true;
	raise_intr(c, SISL_ISTATUS_PERM_ERR_RRQ_WRITE);
	return false;
}

/* Latch sq_start/sq_end on the first SQ submission. Return: success. */
static bool latch_sq(struct afu_ctx *c)
{
	uint64_t s = LOAD_ACQUIRE(&c->map->sq_start);
	uint64_t e = LOAD_ACQUIRE(&c->map->sq_end);
	uint8_t *host;

	if (!s || (s & (AFU_EA_ALIGN - 1)) || s > e ||
	    (e - s) % sizeof(struct sisl_ioarcb) ||
	    e - s > UINT64_MAX - sizeof(struct sisl_ioarcb))
		return false;
	host = afu_ea_resolve(&c->ea, s, e - s + sizeof(struct sisl_ioarcb), AFU_EA_ALIGN);
	if (!host)
		return false;
	c->sq_start_ea = s;
	c->sq_end_ea = e;
	c->sq_head_ea = s;
	c->sq_host = host;
	c->sq_latched = true;
	return true;
}

/* Take a command from the worker's pool for @c (the caller checked w->free). */
static struct afu_cmd *cmd_alloc(struct afu_worker *w, struct afu_ctx *c)
{
	struct afu_cmd *cmd = w->free;

	w->free = cmd->next;
	w->nfree--;
	cmd->ctx = c;
	memset(&cmd->sa, 0, sizeof(cmd->sa));
	cmd->ioarrin = false;
	cmd->counted = false;
	cmd->write_err = false;
	cmd->pending = 0;
	cmd->io_err = 0;
	cmd->blocks = 0;
	cmd->blocks_write = false;
	cmd->data = NULL;
	cmd->ios = cmd->inline_ios;
	cmd->nios = 0;
	cmd->ios_cap = AFU_INLINE_IOS;
	cmd->aux = NULL;
	c->cmds_inflight++;
	c->fair_credit -= AFU_FAIR_CMD_COST;
	afu_ctx_rate_take(c, 1, 0);
	return cmd;
}

/* Take the IOARCB at @ea that the host put in the mailbox. */
static void fetch_ioarrin(struct afu_worker *w, struct afu_ctx *c, uint64_t ea)
{
	uint8_t *hc;
	struct afu_cmd *cmd;

	/* IOARCB then IOASA, as struct sisl_iocmd lays them out; the host
	 * only owes AFU_EA_ALIGN, not that struct's 128-byte alignment, so
	 * the pointers are formed from bytes, never through the struct. */
	hc = afu_ea_resolve(&c->ea, ea, sizeof(struct sisl_iocmd), AFU_EA_ALIGN);
	if (!hc) {
		raise_intr(c, SISL_ISTATUS_PERM_ERR_RCB_READ);
		return;
	}
	if (!ensure_rrq(c))
		return;
	cmd = cmd_alloc(w, c);
	copy_rcb(&cmd->rcb, (const struct sisl_ioarcb *)hc);
	cmd->post_ea = ea;
	cmd->sa_host = (struct sisl_ioasa *)(hc + offsetof(struct sisl_iocmd, sa));
	cmd->ioarrin = true;
	c->ioarrin_inflight++;
	afu_scsi_exec(cmd);
}

/* The SQ slot after @ea. */
static inline uint64_t sq_next(const struct afu_ctx *c, uint64_t ea)
{
	return ea == c->sq_end_ea ? c->sq_start_ea : ea + sizeof(struct sisl_ioarcb);
}

/* Fetch up to AFU_SQ_BATCH entries from the SQ. Return: work done. */
static unsigned poll_sq(struct afu_worker *w, struct afu_ctx *c)
{
	uint64_t t = LOAD_ACQUIRE(&c->map->sq_tail), pf;
	unsigned n = 0;

	afu_tsan_acquire(c, &c->map->sq_tail);

	if (t == 0)
		return 0;
	if (!c->sq_latched) {
		if (c->sq_broken)
			return 0;
		if (!latch_sq(c)) {
			c->sq_broken = true;
			raise_intr(c, SISL_ISTATUS_PERM_ERR_RCB_READ);
			return 1;
		}
	}
	if (t == c->sq_head_ea || t == c->sq_bad_tail)
		return 0;
	if (t < c->sq_start_ea || t > c->sq_end_ea ||
	    (t - c->sq_start_ea) % sizeof(struct sisl_ioarcb)) {
		c->sq_bad_tail = t;
		raise_intr(c, SISL_ISTATUS_PERM_ERR_RCB_READ);
		return 1;
	}
	c->sq_bad_tail = 0;

	/* The slots were just written by another CPU: start their misses
	 * early, keeping AFU_SQ_PREFETCH slots ahead of the one read. */
	pf = c->sq_head_ea;
	for (unsigned i = 0; pf != t && i < AFU_SQ_PREFETCH; i++) {
		__builtin_prefetch(c->sq_host + (pf - c->sq_start_ea));
		pf = sq_next(c, pf);
	}
	while (c->sq_head_ea != t && n < AFU_SQ_BATCH && w->free && afu_ctx_may_start(c)) {
		const struct sisl_ioarcb *slot =
			(const struct sisl_ioarcb *)(c->sq_host + (c->sq_head_ea - c->sq_start_ea));
		struct sisl_ioasa *sa;
		struct afu_cmd *cmd;
		uint64_t sa_ea;

		c->sq_head_ea = sq_next(c, c->sq_head_ea);
		n++;
		if (pf != t) {
			__builtin_prefetch(c->sq_host + (pf - c->sq_start_ea));
			pf = sq_next(c, pf);
		}
		if (!ensure_rrq(c))
			continue;
		sa_ea = LOAD_RELAXED(&slot->sq_ioasa_ea);
		sa = afu_ea_resolve(&c->ea, sa_ea, sizeof(*sa), AFU_EA_ALIGN);
		if (!sa) {
			raise_intr(c, SISL_ISTATUS_PERM_ERR_SA_WRITE);
			continue;
		}
		/* The next command's data, while this one runs (memory LUNs). */
		if (c->sq_head_ea != t)
			afu_xlate_prefetch(c, (const struct sisl_ioarcb *)
					   (c->sq_host + (c->sq_head_ea - c->sq_start_ea)));
		cmd = cmd_alloc(w, c);
		copy_rcb(&cmd->rcb, slot);
		cmd->rcb.sq_ioasa_ea = sa_ea;   /* the value that was checked */
		cmd->post_ea = sa_ea;
		cmd->sa_host = sa;
		afu_scsi_exec(cmd);
	}
	if (n)
		c->sq_head_dirty = true;
	return n;
}

/* The host asked for a context reset: stop fetching, drain, then reset. */
static void begin_reset(struct afu_ctx *c, enum afu_reset_src src)
{
	c->state = AFU_CTX_RESETTING;
	c->reset_src = src;
}

/*
 * afu_ctx_poll() - one pass over a context's registers and queues.
 * @w: the worker serving it
 * @c: an active context
 *
 * Handles intr_clear, reset requests (ioarrin == 1 or sq_ctx_reset == 1),
 * at most one IOARRIN command and up to AFU_SQ_BATCH SQ commands.
 * Return: how much work was done (0 = nothing happened).
 */
unsigned afu_ctx_poll(struct afu_worker *w, struct afu_ctx *c)
{
	struct sisl_host_map *m = c->map;
	unsigned did = 0;
	uint64_t v;

	if (LOAD_RELAXED(&m->intr_clear)) {
		v = __atomic_exchange_n(&m->intr_clear, 0, __ATOMIC_ACQ_REL);
		c->intr_status &= ~v;
		STORE_RELEASE(&m->intr_status, c->intr_status);
		did++;
	}

	v = LOAD_ACQUIRE(&m->ioarrin);
	afu_tsan_acquire(c, &m->ioarrin);
	if (v == 1) {
		begin_reset(c, AFU_RESET_IOARRIN);
		return did + 1;
	}
	if (v != 0 && c->ioarrin_inflight < AFU_CMD_ROOM && w->free && afu_ctx_may_start(c)) {
		/* A CAS, not a store: a reset request written over the EA
		 * before we took it must not be lost. */
		if (__atomic_compare_exchange_n(&m->ioarrin, &v, 0, false,
						__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
			fetch_ioarrin(w, c, v);
		did++;
	}

	v = LOAD_ACQUIRE(&m->sq_ctx_reset);
	if (v == 1) {
		begin_reset(c, AFU_RESET_SQ);
		return did + 1;
	}
	return did + poll_sq(w, c);
}

/*
 * afu_ctx_has_work() - whether a pass over @c would find something to do.
 * Used after afu_idle was set: the seq_cst loads pair with the host's
 * fence in sisl_ring_doorbell(), so either we see its store here or it
 * sees afu_idle and rings.
 */
bool afu_ctx_has_work(struct afu_ctx *c)
{
	struct sisl_host_map *m = c->map;
	uint64_t t;

	if (c->state != AFU_CTX_ACTIVE)
		return false;
	if (LOAD_SEQ(&m->ioarrin) != 0 || LOAD_SEQ(&m->sq_ctx_reset) == 1 ||
	    LOAD_SEQ(&m->intr_clear) != 0)
		return true;
	t = LOAD_SEQ(&m->sq_tail);
	if (t == 0)
		return false;
	if (!c->sq_latched)
		return !c->sq_broken;
	return t != c->sq_head_ea && t != c->sq_bad_tail;
}

/*
 * afu_ctx_publish() - the per-pass register updates: sq_head and cmd_room
 * when they changed, and the host_wake bump (with a FUTEX_WAKE only if the
 * host sleeps) after completions were posted.
 * @c: the context
 * @idle: the pass found nothing to do
 *
 * The bump is a seq_cst RMW followed by the host_waiting load, the AFU's
 * half of the Dekker pairing with a host going to sleep; it waits for every
 * IOASA and HRRQ store before it to reach the host's cache. While the
 * worker stays busy it is done only every AFU_WAKE_DEFER passes, unless a
 * host is seen waiting already, and always on a pass that found nothing to
 * do, so it never waits past the spin.
 */
void afu_ctx_publish(struct afu_ctx *c, bool idle)
{
	afu_ctx_publish_wake(c, idle, NULL);
}

void afu_ctx_publish_wake(struct afu_ctx *c, bool idle, uint32_t **wake)
{
	struct sisl_host_map *m = c->map;
	uint64_t room;

	if (c->window_dead)
		return;
	if (c->sq_head_dirty) {
		c->sq_head_dirty = false;
		afu_tsan_release(c, &m->sq_head);
		STORE_RELEASE(&m->sq_head, c->sq_head_ea);
	}
	room = AFU_CMD_ROOM - c->ioarrin_inflight;
	if (room != c->cmd_room) {
		c->cmd_room = room;
		afu_tsan_release(c, &m->cmd_room);
		STORE_RELEASE(&m->cmd_room, room);
	}
	/* A host already asleep is woken now: deferring would leave it to
	 * its sleep cap if this worker is preempted before the next pass. */
	if (c->posted && (idle || LOAD_RELAXED(&m->host_waiting) != 0 ||
			  ++c->wake_defer >= AFU_WAKE_DEFER)) {
		c->posted = false;
		c->wake_defer = 0;
		__atomic_fetch_add(&m->host_wake, 1, __ATOMIC_SEQ_CST);
		if (LOAD_SEQ(&m->host_waiting) != 0) {
			if (wake)
				*wake = &m->host_wake;
			else
				afu_futex_wake_shared(&m->host_wake, 0x7fffffff);
		}
	}
}

/*
 * afu_ctx_do_reset() - finish a context reset once nothing is in flight:
 * forget the latched queues (the next command latches them again, with
 * the toggle back at 1), put sq_head at sq_start and clear sq_tail, give
 * back the whole cmd_room, clear intr_status, drop a command left in the
 * mailbox, and last store 0 to the register that asked.
 */
void afu_ctx_do_reset(struct afu_ctx *c)
{
	struct sisl_host_map *m = c->map;
	enum afu_reset_src src = c->reset_src;

	afu_tsan_release_regs(c);
	c->rrq_latched = false;
	c->rrq_broken = false;
	c->hrrq_start = c->hrrq_end = c->hrrq_cur = NULL;
	c->toggle = SISL_RESP_HANDLE_T_BIT;
	c->sq_latched = false;
	c->sq_broken = false;
	c->sq_head_ea = 0;
	c->sq_bad_tail = 0;
	c->sq_host = NULL;
	c->sq_head_dirty = false;

	STORE_RELAXED(&m->sq_tail, 0);
	STORE_RELAXED(&m->sq_head, LOAD_RELAXED(&m->sq_start));
	c->cmd_room = AFU_CMD_ROOM;
	STORE_RELAXED(&m->cmd_room, c->cmd_room);
	c->intr_status = 0;
	STORE_RELAXED(&m->intr_status, 0);
	COUNTER_ADD(&c->stats.resets, 1);
	c->state = AFU_CTX_ACTIVE;
	c->reset_src = 0;

	if (src == AFU_RESET_SQ) {
		STORE_RELEASE(&m->ioarrin, 0);
		STORE_RELEASE(&m->sq_ctx_reset, 0);
	} else {
		STORE_RELEASE(&m->sq_ctx_reset, 0);
		STORE_RELEASE(&m->ioarrin, 0);
	}
}

/*
 * afu_ctx_fill_error() - make every word of the window read all ones, then
 * wake a host sleeping on host_wake so it notices.
 */
void afu_ctx_fill_error(struct afu_ctx *c)
{
	uint64_t *p = (uint64_t *)c->map;

	afu_tsan_release_regs(c);
	/* The last store releases the others; the wake syscall orders it. */
	for (size_t i = 0; i < SISL_HOST_MAP_SIZE / sizeof(*p) - 1; i++)
		STORE_RELAXED(&p[i], SISL_ALL_ONES);
	STORE_RELEASE(&p[SISL_HOST_MAP_SIZE / sizeof(*p) - 1], SISL_ALL_ONES);
	c->window_dead = true;
	afu_futex_wake_shared(&c->map->host_wake, 0x7fffffff);
}

/* ---------------------------------------------------------------------------
 * Commands: backend requests and completion.
 */

/*
 * afu_cmd_add_io() - append a backend request to @cmd, merging it into the
 * previous one when both are the same operation on consecutive blocks of
 * one backend with consecutive data.
 * Return: 0 or -ENOMEM.
 */
int afu_cmd_add_io(struct afu_cmd *cmd, struct backend *be, enum be_op op,
		   uint64_t lba, uint32_t nblocks, uint64_t buf_off)
{
	struct afu_io *aio;

	if (cmd->nios && op != BE_OP_FLUSH) {
		aio = &cmd->ios[cmd->nios - 1];
		if (aio->be == be && aio->io.op == op &&
		    aio->io.lba + aio->io.nblocks == lba &&
		    aio->io.nblocks + (uint64_t)nblocks <= UINT32_MAX &&
		    (op == BE_OP_DISCARD || op == BE_OP_WRITE_ZEROES ||
		     aio->buf_off + ((uint64_t)aio->io.nblocks << BE_BLOCK_SHIFT) == buf_off)) {
			aio->io.nblocks += nblocks;
			return 0;
		}
	}
	if (cmd->nios == cmd->ios_cap) {
		uint32_t cap = cmd->ios_cap * 4;
		struct afu_io *n;

		if (cmd->ios == cmd->inline_ios) {
			n = malloc(cap * sizeof(*n));
			if (n)
				memcpy(n, cmd->ios, cmd->nios * sizeof(*n));
		} else {
			n = realloc(cmd->ios, cap * sizeof(*n));
		}
		if (!n)
			return -ENOMEM;
		cmd->ios = n;
		cmd->ios_cap = cap;
	}
	aio = &cmd->ios[cmd->nios++];
	memset(&aio->io, 0, sizeof(aio->io));
	aio->io.op = op;
	aio->io.lba = lba;
	aio->io.nblocks = nblocks;
	aio->be = be;
	aio->buf_off = buf_off;
	return 0;
}

static void io_done(struct be_io *io, int res)
{
	struct afu_cmd *cmd = io->cb_arg;

	if (res < 0 && !cmd->io_err)
		cmd->io_err = res;
	if (--cmd->pending == 0)
		afu_cmd_done(cmd);
}

/*
 * Cut every request of @cmd longer than its backend's piece (AFU_REQ_BLOCKS
 * where the backend works in this thread, else AFU_SLICE_BLOCKS) into
 * pieces, so a slice is bounded whatever one request would have moved.
 * Without memory for the longer array the requests stay whole (correct,
 * only less fair).
 */
static uint32_t piece(const struct afu_io *o)
{
	return o->be->cpu_inline ? AFU_REQ_BLOCKS : AFU_SLICE_BLOCKS;
}

static void cut_requests(struct afu_cmd *cmd)
{
	uint32_t total = 0, k = 0;
	struct afu_io *n;

	for (uint32_t i = 0; i < cmd->nios; i++) {
		uint32_t p = piece(&cmd->ios[i]);

		total += cmd->ios[i].io.nblocks > p ? (cmd->ios[i].io.nblocks + p - 1) / p : 1;
	}
	if (total == cmd->nios)
		return;
	n = malloc(total * sizeof(*n));
	if (!n)
		return;
	for (uint32_t i = 0; i < cmd->nios; i++) {
		const struct afu_io *o = &cmd->ios[i];
		bool data = o->io.op == BE_OP_READ || o->io.op == BE_OP_WRITE;
		uint32_t p = piece(o);

		if (o->io.nblocks <= p) {
			n[k++] = *o;
			continue;
		}
		for (uint32_t b = 0; b < o->io.nblocks; b += p, k++) {
			uint32_t left = o->io.nblocks - b;

			n[k] = *o;
			n[k].io.lba = o->io.lba + b;
			n[k].io.nblocks = left < p ? left : p;
			if (data)
				n[k].buf_off = o->buf_off + ((uint64_t)b << BE_BLOCK_SHIFT);
		}
	}
	if (cmd->ios != cmd->inline_ios)
		free(cmd->ios);
	cmd->ios = n;
	cmd->nios = cmd->ios_cap = total;
}

/*
 * issue_slice() - start @cmd's next requests: up to AFU_SLICE_BLOCKS blocks
 * and until AFU_SLICE_NS have passed (at least one request), while fewer
 * than AFU_SLICE_INFLIGHT of its requests are at the backend. With requests left the command goes on the
 * worker's list for the next pass; else its issuing reference is dropped,
 * which completes it when nothing is in flight. A context no longer active
 * (reset, stop, error: its results are dropped) gets nothing more issued.
 * Return: requests issued.
 */
static unsigned issue_slice(struct afu_cmd *cmd)
{
	struct afu_worker *w = cmd->ctx->worker;
	uint64_t blocks = 0, start = 0;
	unsigned issued = 0;

	if (cmd->ctx->state != AFU_CTX_ACTIVE && cmd->next_io) {
		if (!cmd->io_err)
			cmd->io_err = -EIO;
		cmd->next_io = cmd->nios;
	}
	while (cmd->next_io < cmd->nios && blocks < AFU_SLICE_BLOCKS &&
	       cmd->pending - 1 < AFU_SLICE_INFLIGHT) {
		struct afu_io *aio = &cmd->ios[cmd->next_io++];
		int rc;

		blocks += aio->io.nblocks ? aio->io.nblocks : 1;
		aio->io.buf = (aio->io.op == BE_OP_READ || aio->io.op == BE_OP_WRITE) ?
			      cmd->data + aio->buf_off : NULL;
		aio->io.cb = io_done;
		aio->io.cb_arg = cmd;
		cmd->pending++;
		issued++;
		if (!start && cmd->next_io < cmd->nios && w->afu->slice_ns != UINT64_MAX)
			start = now_ns();
		rc = aio->be->ops->submit(aio->be, w->eng, &aio->io);
		if (rc < 0)
			io_done(&aio->io, rc);
		/* A RAM request ran right here: the worker's time is the bound. */
		if (start && now_ns() - start >= w->afu->slice_ns)
			break;
	}
	cmd->ctx->fair_credit -= (int64_t)(blocks * BE_BLOCK_SIZE);
	afu_ctx_rate_take(cmd->ctx, 0, blocks * BE_BLOCK_SIZE);
	if (cmd->next_io < cmd->nios) {
		cmd->cont_next = NULL;
		*w->cont_tail = cmd;
		w->cont_tail = &cmd->cont_next;
		w->cont_ready += !cmd->ctx->rate_held;
		return issued;
	}
	if (--cmd->pending == 0)
		afu_cmd_done(cmd);
	return issued;
}

/*
 * afu_cmd_issue() - start the backend requests of @cmd: a first slice now,
 * the rest one slice per worker pass. The command completes (afu_cmd_done)
 * when the last request does, maybe before this returns; the first error
 * wins. With no request it completes at once.
 */
void afu_cmd_issue(struct afu_cmd *cmd)
{
	if (cmd->nios == 0) {
		afu_cmd_done(cmd);
		return;
	}
	cut_requests(cmd);
	cmd->next_io = 0;
	cmd->pending = 1;   /* held until every request is out */
	issue_slice(cmd);
}

unsigned afu_cmds_continue(struct afu_worker *w)
{
	struct afu_cmd *list = w->cont_head;
	unsigned issued = 0;

	w->cont_head = NULL;
	w->cont_tail = &w->cont_head;
	w->cont_ready = 0;
	while (list) {
		struct afu_cmd *cmd = list;

		list = cmd->cont_next;
		if (cmd->ctx->state == AFU_CTX_ACTIVE && !afu_ctx_may_start(cmd->ctx)) {
			/* Out of its share this pass, or over its rate: wait in line
			 * (a rate's wait lets the worker sleep). */
			cmd->cont_next = NULL;
			*w->cont_tail = cmd;
			w->cont_tail = &cmd->cont_next;
			w->cont_ready += !cmd->ctx->rate_held;
			continue;
		}
		issued += issue_slice(cmd);
	}
	return issued;
}

/* Write the 32 status bytes of the IOASA (never host_use) and the HRRQ entry. */
static void post(struct afu_ctx *c, struct afu_cmd *cmd)
{
	const uint64_t *s = (const uint64_t *)&cmd->sa;
	uint64_t *d = (uint64_t *)cmd->sa_host;

	for (unsigned i = 0; i < offsetof(struct sisl_ioasa, host_use) / 8; i++)
		STORE_RELAXED(&d[i], s[i]);
	STORE_RELEASE(c->hrrq_cur, cmd->post_ea | c->toggle);
	if (c->hrrq_cur == c->hrrq_end) {
		c->hrrq_cur = c->hrrq_start;
		c->toggle ^= SISL_RESP_HANDLE_T_BIT;
	} else {
		c->hrrq_cur++;
	}
	c->posted = true;
}

/*
 * afu_cmd_done() - the single completion of a command. An active context
 * gets the IOASA and HRRQ entry; a context being reset, stopped or put in
 * error drops the command silently, as the hardware drops pending ones.
 * Either way the in-flight counts fall and the command returns to the pool.
 */
void afu_cmd_done(struct afu_cmd *cmd)
{
	struct afu_ctx *c = cmd->ctx;
	struct afu_worker *w = c->worker;
	struct afu_ctx_stats *st = &c->stats;
	/* Its LUN was taken over by another host (be_fence): a daemon drops
	 * the command rather than answer with an error, and closes the
	 * client's connection (server.c); the client, its master gone,
	 * resubmits it to the host that serves the LUN now. */
	bool drop = cmd->io_err == -ESHUTDOWN && w->afu->drop_fenced;

	if (c->state == AFU_CTX_ACTIVE && !drop) {
		if (cmd->io_err) {
			memset(&cmd->sa, 0, sizeof(cmd->sa));
			afu_sense(&cmd->sa, SCSI_SK_MEDIUM_ERROR,
				  cmd->write_err ? SCSI_ASC_WRITE_ERROR :
						   SCSI_ASC_UNRECOVERED_READ_ERROR, 0);
		} else if (cmd->blocks) {
			if (cmd->blocks_write)
				COUNTER_ADD(&st->blocks_written, cmd->blocks);
			else
				COUNTER_ADD(&st->blocks_read, cmd->blocks);
		}
		COUNTER_ADD(&st->cmds, 1);
		if (cmd->sa.ioasc != 0)
			COUNTER_ADD(&st->errors, 1);
		post(c, cmd);
	}
	if (cmd->aux)
		free(cmd->aux);
	if (cmd->ios != cmd->inline_ios)
		free(cmd->ios);
	if (cmd->counted)
		STORE_RELEASE(&c->gen_inflight[cmd->parity],
			      LOAD_RELAXED(&c->gen_inflight[cmd->parity]) - 1);
	if (cmd->ioarrin)
		c->ioarrin_inflight--;
	c->cmds_inflight--;
	cmd->next = w->free;
	w->free = cmd;
	w->nfree++;
}
