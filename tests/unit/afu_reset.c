/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: context lifecycle in the AFU with commands genuinely in
 * flight: a context reset (SQ and IOARRIN) drops them and restarts the
 * HRRQ at toggle 1; afu_ctx_error() waits for them, then the window reads
 * all ones and nothing more is processed; afu_ctx_sync(HW) waits for
 * commands of the old translation generation only; injected sync errors;
 * afu_ctx_stop() with commands in flight; two contexts on two workers at
 * once, each reaching only its own LUN; stopping a context while its
 * worker sleeps, and a context whose worker is woken only by afu_kick().
 *
 * Commands are held in flight by a "gate" backend: requests below
 * GATE_LBA wait inside it until the test allows them, and are released
 * (on the worker thread) by the next request the backend sees, which a
 * second context sends above GATE_LBA.
 */
#include "afu_harness.h"
#include "afu/afu_internal.h"  /* the worker's asleep flag (test_sleeping_worker) */

#define LUN_BYTES (256ull << 20)
#define GATE_LBA  1000
#define MAX_HELD  1024

struct gate_be {
	struct backend be;
	struct backend *inner;
	struct be_io *held[MAX_HELD];   /* worker thread only */
	unsigned nheld, released;       /* worker thread only */
	unsigned allow;                 /* atomic: requests that may complete */
	unsigned held_total;            /* atomic: requests ever held */
};

static void gate_release(struct gate_be *g, struct be_engine *eng)
{
	unsigned allow = __atomic_load_n(&g->allow, __ATOMIC_ACQUIRE);

	while (g->released < g->nheld && g->released < allow) {
		struct be_io *io = g->held[g->released++];
		int rc = g->inner->ops->submit(g->inner, eng, io);

		if (rc < 0)
			io->cb(io, rc);
	}
}

static int gate_submit(struct backend *be, struct be_engine *eng, struct be_io *io)
{
	struct gate_be *g = (struct gate_be *)be;

	if (io->op != BE_OP_FLUSH && io->lba < GATE_LBA) {
		T_ASSERT(g->nheld < MAX_HELD);
		g->held[g->nheld++] = io;
		__atomic_store_n(&g->held_total, g->nheld, __ATOMIC_RELEASE);
		gate_release(g, eng);
		return 0;
	}
	gate_release(g, eng);
	return g->inner->ops->submit(g->inner, eng, io);
}

static int gate_io_sync(struct backend *be, enum be_op op, uint64_t lba, uint32_t n, void *b)
{
	struct gate_be *g = (struct gate_be *)be;

	return g->inner->ops->io_sync(g->inner, op, lba, n, b);
}

static void gate_destroy(struct backend *be)
{
	be_close(((struct gate_be *)be)->inner);
	free(be);
}

static const struct backend_ops gate_ops = {
	.name = "gate",
	.submit = gate_submit,
	.io_sync = gate_io_sync,
	.destroy = gate_destroy,
};

static struct gate_be *gate;
static struct afu *afu;

static void gate_allow(unsigned n)
{
	__atomic_store_n(&gate->allow, n, __ATOMIC_RELEASE);
}

static unsigned gate_held(void)
{
	return __atomic_load_n(&gate->held_total, __ATOMIC_ACQUIRE);
}

/* Wait until the gate has held @n requests in total. */
static void wait_held(unsigned n)
{
	for (int i = 0; i < 5000 && gate_held() < n; i++)
		h_sleep_us(1000);
	T_EQ(gate_held(), n);
}

/* The second context: one command above the gate releases what is allowed. */
static struct h_ctx trig;
static uint8_t *trig_buf;

static void trigger(void)
{
	struct sisl_ioarcb rcb;

	h_rw16(&trig, &rcb, false, 0, GATE_LBA + 1, 1, trig_buf);
	T_EQ(h_exec(&trig, &rcb).ioasc, 0);
}

/* Poll a register until it reads @want (up to 5 s). */
static void wait_reg(uint64_t *reg, uint64_t want)
{
	for (int i = 0; i < 5000 && sisl_read64(reg) != want; i++)
		h_sleep_us(1000);
	T_EQ(sisl_read64(reg), want);
}

static void open_ctx(struct h_ctx *h, unsigned hrrq_n, unsigned sq_n, uint8_t **buf)
{
	h_open(h, afu, hrrq_n, sq_n);
	h_rht_phys(h, 0, 0, SISL_RHT_PERM_RW);
	*buf = h_alloc(h, 64 * 4096, 4096);
}

/* Move the context's HRRQ cursor off slot 0 and its toggle to 0. */
static void advance_hrrq(struct h_ctx *h, uint8_t *buf, unsigned n)
{
	struct sisl_ioarcb rcb;

	h_rw16(h, &rcb, false, 0, GATE_LBA + 10, 1, buf);
	for (unsigned i = 0; i < n; i++)
		T_EQ(h_exec(h, &rcb).ioasc, 0);
}

static void test_reset_sq(void)
{
	struct h_ctx h;
	struct sisl_ioarcb rcb;
	struct afu_ctx_stats st;
	uint8_t *buf;
	unsigned base = gate_held();

	open_ctx(&h, 4, 8, &buf);
	advance_hrrq(&h, buf, 5);           /* cursor at slot 1, toggle 0 */
	T_EQ(h.toggle, 0);

	/* Three writes held in flight. */
	for (unsigned t = 0; t < 3; t++) {
		h_rw16(&h, &rcb, true, 0, 10 + t, 1, buf + t * 4096);
		h_sq_submit(&h, &rcb, t);
	}
	wait_held(base + 3);
	T_EQ(h_reap(&h, 20), 0);

	/* The reset waits for them ... */
	sisl_write64(&h.map->sq_ctx_reset, 1);
	sisl_ring_doorbell(h.map);
	h_sleep_us(20000);
	T_EQ(sisl_read64(&h.map->sq_ctx_reset), 1);
	/* ... and completes once they finished, without completing them. */
	gate_allow(base + 3);
	trigger();
	wait_reg(&h.map->sq_ctx_reset, 0);
	T_EQ(h_hrrq_peek(&h), 0);
	T_EQ(__atomic_load_n(&h.hrrq[1], __ATOMIC_ACQUIRE), h_ea(&h, &h.sa[0]) | 1);  /* last lap's */
	T_EQ(sisl_read64(&h.map->sq_head), h_ea(&h, h.sq));
	T_EQ(sisl_read64(&h.map->sq_tail), 0);
	T_EQ(sisl_read64(&h.map->cmd_room), AFU_CMD_ROOM);
	afu_ctx_stats(h.ctx, &st);
	T_EQ(st.resets, 1);
	T_EQ(st.cmds, 5);

	/* A fresh HRRQ and SQ: the first completion is slot 0 with toggle 1. */
	h_hrrq_init(&h);
	h_sq_init(&h);
	h_rw16(&h, &rcb, false, 0, GATE_LBA + 10, 1, buf);
	T_EQ(h_exec(&h, &rcb).ioasc, 0);
	T_EQ(__atomic_load_n(&h.hrrq[0], __ATOMIC_ACQUIRE), h_ea(&h, &h.sa[0]) | 1);
	T_EQ(__atomic_load_n(&h.hrrq[1], __ATOMIC_ACQUIRE), 0);
	h_close(&h);
}

static void test_reset_ioarrin(void)
{
	struct h_ctx h;
	struct sisl_ioarcb rcb;
	struct afu_ctx_stats st;
	uint8_t *buf;
	unsigned base = gate_held();

	open_ctx(&h, 4, 0, &buf);
	h_rw16(&h, &rcb, false, 0, GATE_LBA + 10, 1, buf);
	for (unsigned i = 0; i < 3; i++)
		T_EQ(h_exec_ioarrin(&h, &rcb).ioasc, 0);
	for (unsigned t = 0; t < 2; t++) {
		h_rw16(&h, &rcb, false, 0, 20 + t, 1, buf + t * 4096);
		h_ioarrin_submit(&h, &rcb, t);
	}
	wait_held(base + 2);
	wait_reg(&h.map->cmd_room, AFU_CMD_ROOM - 2);

	sisl_write64(&h.map->ioarrin, 1);
	sisl_ring_doorbell(h.map);
	h_sleep_us(20000);
	T_EQ(sisl_read64(&h.map->ioarrin), 1);
	gate_allow(base + 2);
	trigger();
	wait_reg(&h.map->ioarrin, 0);
	T_EQ(sisl_read64(&h.map->cmd_room), AFU_CMD_ROOM);
	T_EQ(h_hrrq_peek(&h), 0);
	afu_ctx_stats(h.ctx, &st);
	T_EQ(st.resets, 1);
	T_EQ(st.cmds, 3);

	h_hrrq_init(&h);
	h_rw16(&h, &rcb, false, 0, GATE_LBA + 10, 1, buf);
	T_EQ(h_exec_ioarrin(&h, &rcb).ioasc, 0);
	T_EQ(__atomic_load_n(&h.hrrq[0], __ATOMIC_ACQUIRE), h_ea(&h, &h.cmds[0]) | 1);
	h_close(&h);
}

struct call {
	struct afu_ctx *ctx;
	int mode;
	int rc;
	bool done;
};

static void *do_error(void *p)
{
	struct call *c = p;

	afu_ctx_error(c->ctx);
	__atomic_store_n(&c->done, true, __ATOMIC_RELEASE);
	return NULL;
}

static void *do_stop(void *p)
{
	struct call *c = p;

	afu_ctx_stop(c->ctx);
	__atomic_store_n(&c->done, true, __ATOMIC_RELEASE);
	return NULL;
}

static void *do_sync(void *p)
{
	struct call *c = p;

	c->rc = afu_ctx_sync(c->ctx, c->mode);
	__atomic_store_n(&c->done, true, __ATOMIC_RELEASE);
	return NULL;
}

static bool call_done(struct call *c)
{
	return __atomic_load_n(&c->done, __ATOMIC_ACQUIRE);
}

static void test_ctx_error(void)
{
	struct h_ctx h;
	struct sisl_ioarcb rcb;
	struct call c = { 0 };
	pthread_t th;
	uint8_t *buf, blk[4096];
	uint64_t *w;
	unsigned base = gate_held();

	open_ctx(&h, 8, 8, &buf);
	advance_hrrq(&h, buf, 2);
	T_ASSERT(!afu_ctx_in_error(h.ctx));
	h_rw16(&h, &rcb, false, 0, 30, 1, buf);
	h_sq_submit(&h, &rcb, 0);
	wait_held(base + 1);

	c.ctx = h.ctx;
	T_EQ(pthread_create(&th, NULL, do_error, &c), 0);
	h_sleep_us(20000);
	T_ASSERT(afu_ctx_in_error(h.ctx));
	T_ASSERT(!call_done(&c));           /* waits for the command in flight */
	gate_allow(base + 1);
	trigger();
	T_EQ(pthread_join(th, NULL), 0);
	T_ASSERT(call_done(&c));

	/* Every word reads all ones; the dropped command posted nothing. */
	w = (uint64_t *)h.map;
	for (size_t i = 0; i < SISL_HOST_MAP_SIZE / 8; i++)
		T_EQ(__atomic_load_n(&w[i], __ATOMIC_ACQUIRE), SISL_ALL_ONES);
	T_EQ(__atomic_load_n(&h.hrrq[2], __ATOMIC_ACQUIRE), 0);
	T_EQ(sisl_ioarrin_write(h.map, h_ea(&h, &h.cmds[0])), -1);

	/* A host that ignores it and writes a command gets no service. */
	memset(blk, 0x31, sizeof(blk));
	T_EQ(be_write_sync(&gate->be, GATE_LBA + 40, 1, blk), 0);
	memset(buf, 0x99, 4096);
	h_rw16(&h, &rcb, true, 0, GATE_LBA + 40, 1, buf);
	h.sq[0] = rcb;
	h.sq[0].sq_ioasa_ea = h_ea(&h, &h.sa[0]);
	sisl_write64(&h.map->sq_tail, h_ea(&h, &h.sq[1]));
	sisl_ring_doorbell(h.map);
	h_sleep_us(20000);
	T_EQ(__atomic_load_n(&h.hrrq[2], __ATOMIC_ACQUIRE), 0);
	T_EQ(be_read_sync(&gate->be, GATE_LBA + 40, 1, blk), 0);
	T_EQ(blk[0], 0x31);
	afu_ctx_error(h.ctx);       /* again: no effect */
	h_close(&h);
}

static void test_sync(void)
{
	struct h_ctx h;
	struct sisl_ioarcb rcb;
	struct call c = { 0 };
	pthread_t th;
	uint8_t *buf;
	unsigned base = gate_held();

	open_ctx(&h, 8, 8, &buf);
	T_EQ(afu_ctx_sync(h.ctx, SISL_AFU_LW_SYNC), 0);
	T_EQ(afu_ctx_sync(h.ctx, SISL_AFU_HW_SYNC), 0);     /* nothing in flight */

	/* One command of the old generation in flight. */
	h_rw16(&h, &rcb, false, 0, 40, 1, buf);
	h_sq_submit(&h, &rcb, 0);
	wait_held(base + 1);
	c.ctx = h.ctx;
	c.mode = SISL_AFU_HW_SYNC;
	T_EQ(pthread_create(&th, NULL, do_sync, &c), 0);
	h_sleep_us(10000);
	T_ASSERT(!call_done(&c));
	/* LW does not wait. */
	T_EQ(afu_ctx_sync(h.ctx, SISL_AFU_LW_SYNC), 0);
	/* A command translated after the HW sync started is not waited for. */
	h_rw16(&h, &rcb, false, 0, 41, 1, buf + 4096);
	h_sq_submit(&h, &rcb, 1);
	wait_held(base + 2);
	h_sleep_us(10000);
	T_ASSERT(!call_done(&c));
	gate_allow(base + 1);               /* only the old one */
	trigger();
	T_EQ(pthread_join(th, NULL), 0);
	T_EQ(c.rc, 0);
	T_EQ(h_sq_tag(&h, h_reap(&h, 5000)), 0);
	T_EQ(h_reap(&h, 20), 0);            /* the new one is still held */
	gate_allow(base + 2);
	trigger();
	T_EQ(h_sq_tag(&h, h_reap(&h, 5000)), 1);

	/* Injected failures: -EAGAIN twice, then good again. */
	afu_inject_sync_error(afu, 2);
	T_EQ(afu_ctx_sync(h.ctx, SISL_AFU_HW_SYNC), -EAGAIN);
	T_EQ(afu_ctx_sync(h.ctx, SISL_AFU_LW_SYNC), -EAGAIN);
	T_EQ(afu_ctx_sync(h.ctx, SISL_AFU_HW_SYNC), 0);
	T_EQ(afu_ctx_sync(h.ctx, 7), -EINVAL);
	h_close(&h);
}

static void test_stop_inflight(void)
{
	struct h_ctx h;
	struct sisl_ioarcb rcb;
	struct call c = { 0 };
	pthread_t th;
	uint8_t *buf;
	uint64_t *hrrq_copy;
	unsigned base = gate_held();

	open_ctx(&h, 8, 8, &buf);
	advance_hrrq(&h, buf, 1);
	for (unsigned t = 0; t < 4; t++) {
		h_rw16(&h, &rcb, t & 1, 0, 50 + t, 1, buf + t * 4096);
		h_sq_submit(&h, &rcb, t);
	}
	wait_held(base + 4);
	c.ctx = h.ctx;
	T_EQ(pthread_create(&th, NULL, do_stop, &c), 0);
	h_sleep_us(20000);
	T_ASSERT(!call_done(&c));
	gate_allow(base + 4);
	trigger();
	T_EQ(pthread_join(th, NULL), 0);
	h.ctx = NULL;   /* stopped and freed */
	hrrq_copy = h.hrrq;
	T_EQ(__atomic_load_n(&hrrq_copy[1], __ATOMIC_ACQUIRE), 0);
	h_close(&h);
}

/* ---------------------------------------------------------------------------
 * Two contexts on two workers at once, each with its own RHT and LUN.
 */
struct runner {
	struct h_ctx *h;
	struct backend *lun;
	uint64_t id, seed, done;
};

static void *run_io(void *p)
{
	struct runner *r = p;
	struct h_ctx *h = r->h;
	uint8_t *bufs = h_alloc(h, 8 * 4096, 4096);
	struct sisl_ioarcb rcb;
	double end = h_now() + 0.5;

	while (h_now() < end) {
		uint64_t lba[8];

		for (unsigned t = 0; t < 8; t++) {
			lba[t] = t_rand(&r->seed) % (LUN_BYTES / 4096 / 8) * 8 + t;
			t_pattern_fill(bufs + t * 4096, 4096, r->id, lba[t]);
			h_rw16(h, &rcb, true, 0, lba[t], 1, bufs + t * 4096);
			h_sq_put(h, &rcb, t);
		}
		sisl_ring_doorbell(h->map);
		for (unsigned t = 0; t < 8; t++) {
			unsigned tag = h_sq_tag(h, h_reap(h, 5000));

			T_EQ(h->sa[tag].ioasc, 0);
		}
		for (unsigned t = 0; t < 8; t++) {
			memset(bufs + t * 4096, 0, 4096);
			h_rw16(h, &rcb, false, 0, lba[t], 1, bufs + t * 4096);
			h_sq_put(h, &rcb, t);
		}
		sisl_ring_doorbell(h->map);
		for (unsigned t = 0; t < 8; t++) {
			unsigned tag = h_sq_tag(h, h_reap(h, 5000));

			T_EQ(h->sa[tag].ioasc, 0);
			T_EQ(t_pattern_check(bufs + tag * 4096, 4096, r->id, lba[tag]), 0);
		}
		/* The data landed on this context's LUN. */
		T_EQ(be_read_sync(r->lun, lba[3], 1, bufs), 0);
		T_EQ(t_pattern_check(bufs, 4096, r->id, lba[3]), 0);
		r->done += 16;
	}
	return NULL;
}

static void test_two_contexts(void)
{
	struct afu *a2 = h_afu(2, 50);
	struct backend *l0 = h_ram(LUN_BYTES), *l1 = h_ram(LUN_BYTES);
	struct h_ctx h0, h1;
	struct runner r0, r1;
	pthread_t t0, t1;
	uint8_t wwid[16];

	h_wwid(wwid, 5);
	afu_set_lun(a2, 0, l0, wwid);
	h_wwid(wwid, 6);
	afu_set_lun(a2, 1, l1, wwid);
	h_open(&h0, a2, 16, 16);
	h_open(&h1, a2, 16, 16);
	h_rht_phys(&h0, 0, 0, SISL_RHT_PERM_RW);    /* handle 0 means LUN 0 here */
	h_rht_phys(&h1, 0, 1, SISL_RHT_PERM_RW);    /* and LUN 1 there */
	r0 = (struct runner){ .h = &h0, .lun = l0, .id = 1, .seed = 11 };
	r1 = (struct runner){ .h = &h1, .lun = l1, .id = 2, .seed = 22 };
	T_EQ(pthread_create(&t0, NULL, run_io, &r0), 0);
	T_EQ(pthread_create(&t1, NULL, run_io, &r1), 0);
	T_EQ(pthread_join(t0, NULL), 0);
	T_EQ(pthread_join(t1, NULL), 0);
	fprintf(stderr, "   %llu and %llu commands\n", (unsigned long long)r0.done,
		(unsigned long long)r1.done);
	T_ASSERT(r0.done > 0 && r1.done > 0);
	h_close(&h0);
	h_close(&h1);
	afu_destroy(a2);
	be_close(l0);
	be_close(l1);
}

/* Is @a's only worker asleep (in futex_waitv, its array open to the master)? */
static bool worker_asleep(struct afu *a)
{
	bool v;

	pthread_mutex_lock(&a->ctl_lock);
	v = a->workers[0].asleep;
	pthread_mutex_unlock(&a->ctl_lock);
	return v;
}

static void wait_asleep(struct afu *a)
{
	double end = h_now() + 5;

	while (!worker_asleep(a)) {
		T_ASSERT(h_now() < end);
		h_sleep_us(1000);
	}
}

/*
 * A context stopped while its worker sleeps is taken off the worker's array
 * without waking it, and the worker still serves the others; a context
 * started with defer_wake is served once afu_kick() has run.
 */
static void test_sleeping_worker(void)
{
	struct afu *a1 = h_afu(1, 50);
	struct backend *l0 = h_ram(LUN_BYTES);
	struct h_ctx h0, h1, h2;
	struct sisl_ioarcb rcb;
	uint8_t wwid[16], *b0, *b1, *b2;

	h_wwid(wwid, 7);
	afu_set_lun(a1, 0, l0, wwid);
	h_open(&h0, a1, 16, 16);
	h_open(&h1, a1, 16, 16);
	h_rht_phys(&h0, 0, 0, SISL_RHT_PERM_RW);
	h_rht_phys(&h1, 0, 0, SISL_RHT_PERM_RW);
	b0 = h_alloc(&h0, 4096, 4096);
	b1 = h_alloc(&h1, 4096, 4096);
	h_rw16(&h0, &rcb, false, 0, 1, 1, b0);
	T_EQ(h_exec(&h0, &rcb).ioasc, 0);
	h_rw16(&h1, &rcb, false, 0, 1, 1, b1);
	T_EQ(h_exec(&h1, &rcb).ioasc, 0);

	wait_asleep(a1);
	h_close(&h1);
	T_ASSERT(worker_asleep(a1));    /* not woken for it */
	t_pattern_fill(b0, 4096, 7, 9);
	h_rw16(&h0, &rcb, true, 0, 9, 1, b0);
	T_EQ(h_exec(&h0, &rcb).ioasc, 0);

	wait_asleep(a1);
	h_open_wake(&h2, a1, 0, 16, 16, true, 64, true);
	h_rht_phys(&h2, 0, 0, SISL_RHT_PERM_RW);
	b2 = h_alloc(&h2, 4096, 4096);
	h_rw16(&h2, &rcb, false, 0, 9, 1, b2);
	h_sq_submit(&h2, &rcb, 0);
	afu_kick(a1);
	T_ASSERT(h_reap(&h2, 5000) != 0);
	T_EQ(h2.sa[0].ioasc, 0);
	T_EQ(t_pattern_check(b2, 4096, 7, 9), 0);

	h_close(&h0);
	h_close(&h2);
	afu_destroy(a1);
	be_close(l0);
}

int main(void)
{
	uint8_t wwid[16];

	gate = calloc(1, sizeof(*gate));
	T_ASSERT(gate);
	gate->inner = h_ram(LUN_BYTES);
	gate->be.ops = &gate_ops;
	gate->be.nblocks = gate->inner->nblocks;
	gate->be.lock_fd = -1;

	afu = h_afu(1, 50);
	h_wwid(wwid, 3);
	afu_set_lun(afu, 0, &gate->be, wwid);
	h_open(&trig, afu, 16, 16);
	h_rht_phys(&trig, 0, 0, SISL_RHT_PERM_RW);
	trig_buf = h_alloc(&trig, 4096, 4096);

	T_RUN(test_reset_sq);
	T_RUN(test_reset_ioarrin);
	T_RUN(test_ctx_error);
	T_RUN(test_sync);
	T_RUN(test_stop_inflight);
	T_RUN(test_two_contexts);
	T_RUN(test_sleeping_worker);

	h_close(&trig);
	afu_destroy(afu);
	be_close(&gate->be);
	return T_PASS;
}
