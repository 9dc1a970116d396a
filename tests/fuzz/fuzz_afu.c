/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_afu.c - Description: the software AFU executing whatever a client
 * puts in its queues: IOARCBs (any req_flags, resource handle, LUN id,
 * data length and EA, CDB of any opcode) through the IOARRIN mailbox and
 * the submission queue, context resets and interrupt clears, against two
 * small memory LUNs and an RHT/LXT set up here as the master would.
 *
 * No worker thread: the harness is the context's worker. It builds the
 * context as afu_ctx_start() does (window mode: the EA window is a heap
 * buffer at a made-up EA, so ASan flags any access the AFU makes outside
 * it), writes a command, and runs worker passes (afu_ctx_poll, backend
 * completions, reset settling, afu_ctx_publish) until nothing moves.
 *
 * Input: byte 0 sets the context (bit 0 REAL_MODE, bit 1 no WRITE_CMD,
 * bit 2 no READ_CMD, bit 3 AFU_CMD and GSCSI_CMD capabilities, bit 4 a
 * garbage HRRQ: u64 start, u64 end follow; bit 5 a garbage SQ: the same;
 * bit 6 data: u8 n, then n bytes for the start of the data area), then
 * commands of 38 bytes:
 *   u8 route    bit 0 through the SQ (else IOARRIN); bit 1 data_ea is the
 *               raw u64 below (else an offset into the data area); bit 2 the
 *               IOARCB EA is the raw u64 (IOARRIN) / the IOASA EA (SQ);
 *               bit 3 then ask for a context reset; bit 4 write intr_clear;
 *               bit 5 res_hndl is the full u32 below (else its low 3 bits)
 *   u16 req_flags, u32 res_hndl, u8 lun_id, u32 data_len,
 *   u64 data (offset or EA), u8 timeout, cdb[16], u8 sq_tail_skew
 *
 * Checks: the AFU never touches memory outside the window (ASan); every
 * command fetched through IOARRIN completes exactly once, with one HRRQ
 * entry naming its IOARCB EA with the current toggle bit, unless a reset
 * or a broken HRRQ dropped it (checked until an input uses a raw EA, which
 * may point into the HRRQ itself); nothing is left in flight after each
 * command.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <cxlflash/sislite.h>

#include "afu/afu_internal.h"
#include "backend/backend.h"
#include "fuzz_util.h"
#include "util/byteorder.h"

#define EA_BASE     0x7e0000000000ull
#define WIN_SIZE    (256u << 10)
#define HRRQ_OFF    0x0000u
#define HRRQ_N      64u
#define SQ_OFF      0x1000u
#define SQ_N        16u
#define SA_OFF      0x2000u          /* SQ mode: one IOASA per SQ slot */
#define CMD_OFF     0x3000u          /* IOARRIN mode: IOARCB + IOASA blocks */
#define CMD_N       16u
#define DATA_OFF    0x10000u
#define DATA_LEN    (WIN_SIZE - DATA_OFF)
#define RHT_CNT     8u
#define CMD_BYTES   38u

static struct afu *afu;
static struct afu_worker *w;
static struct sisl_host_map *map;
static uint8_t *win;                 /* the EA window: EA_BASE + off is win + off */
static struct sisl_rht_entry rht[RHT_CNT];
static struct sisl_lxt_entry lxt_rw[2], lxt_bad[1];

static uint64_t ea(uint64_t off)
{
	return EA_BASE + off;
}

static struct backend *open_ram(const char *name)
{
	struct be_spec spec;
	struct backend *be;

	if (be_parse_spec(name, &spec) || be_open(&spec, &be))
		abort();
	return be;
}

/* Format-1 (physical) RHT entry for @lun with @perm. */
static void rht_phys(unsigned i, uint64_t lun, uint8_t perm)
{
	struct sisl_rht_entry_f1 *f = (struct sisl_rht_entry_f1 *)&rht[i];

	memset(f, 0, sizeof(*f));
	f->lun_id = lun;
	f->valid = SISL_RHT_VALID;
	f->fp = SISL_RHT_FP(SISL_RHT_FORMAT_DIRECT, perm);
	f->port_sel = 1;
}

static void rht_virt(unsigned i, struct sisl_lxt_entry *lxt, uint32_t cnt, uint8_t perm)
{
	rht[i].lxt_start = lxt;
	rht[i].lxt_cnt = cnt;
	rht[i].fp = SISL_RHT_FP(SISL_RHT_FORMAT_VIRTUAL, perm);
	rht[i].nmask = SISL_NMASK;
}

static uint64_t lxt_entry(uint64_t chunk, unsigned lun, unsigned perm)
{
	return (chunk << SISL_NMASK) | (uint64_t)lun << SISL_LXT_LUNIDX_SHIFT |
	       (uint64_t)perm << SISL_LXT_PERM_SHIFT | 1;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const uint8_t wwid0[16] = { 0x60, 0x0a, 0x0b, 0x80, 1 };
	static const uint8_t wwid1[16] = { 0x60, 0x0a, 0x0b, 0x80, 2 };

	(void)argc;
	(void)argv;
	fuzz_quiet();
	afu = calloc(1, sizeof(*afu));
	w = calloc(1, sizeof(*w));
	if (!afu || !w)
		abort();
	pthread_mutex_init(&afu->ctl_lock, NULL);
	pthread_cond_init(&afu->ctl_cond, NULL);
	pthread_mutex_init(&afu->lun_lock, NULL);
	afu->nworkers = 1;
	afu->workers = w;
	afu->fair_quantum = AFU_FAIR_QUANTUM;   /* as afu_create() by default */
	afu->slice_ns = AFU_SLICE_NS;
	/* A worker as worker_init() makes one, without its thread. */
	w->afu = afu;
	w->ctl_tail = &w->ctl_head;
	w->cont_tail = &w->cont_head;
	w->cmds = calloc(AFU_POOL_CMDS, sizeof(*w->cmds));
	if (!w->cmds || be_engine_create(&w->eng, AFU_ENGINE_DEPTH))
		abort();
	for (unsigned i = 0; i < AFU_POOL_CMDS; i++) {
		w->cmds[i].next = w->free;
		w->free = &w->cmds[i];
	}
	w->nfree = AFU_POOL_CMDS;

	/* LUN 0: 4 MiB (1024 blocks); LUN 1: 64 KiB; slots 2.. empty. */
	afu_set_lun(afu, 0, open_ram("ram:4M"), wwid0);
	afu_set_lun(afu, 1, open_ram("ram:64K"), wwid1);

	/* The RHT as the master builds it: two physical handles, a virtual
	 * LUN of two chunks (the second past LUN 1's end), an empty vLUN,
	 * a free entry, a handle on an empty LUN slot, a chunk on an empty
	 * LUN slot. */
	rht_phys(0, 0, SISL_RHT_PERM_RW);
	rht_phys(1, 1, SISL_RHT_PERM_READ);
	lxt_rw[0].rlba_base = lxt_entry(0, 0, SISL_RHT_PERM_RW);
	lxt_rw[1].rlba_base = lxt_entry(1, 1, SISL_RHT_PERM_READ);
	rht_virt(2, lxt_rw, 2, SISL_RHT_PERM_RW);
	rht_virt(3, NULL, 0, SISL_RHT_PERM_RW);
	rht_phys(5, 7, SISL_RHT_PERM_RW);
	lxt_bad[0].rlba_base = lxt_entry(0, 9, SISL_RHT_PERM_RW);
	rht_virt(6, lxt_bad, 1, SISL_RHT_PERM_WRITE);

	map = mmap(NULL, SISL_HOST_MAP_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		   -1, 0);
	/* On the heap, so ASan's redzones sit right before and after it. */
	win = malloc(WIN_SIZE);
	if (map == MAP_FAILED || !win)
		abort();
	return 0;
}

/* A context as afu_ctx_start() makes one, served by our worker. */
static struct afu_ctx *ctx_new(uint64_t cap)
{
	struct afu_ctx *c;
	void *mem;

	if (posix_memalign(&mem, 64, sizeof(*c)))
		abort();
	c = mem;
	memset(c, 0, sizeof(*c));
	c->afu = afu;
	c->worker = w;
	c->map = map;
	c->handle = 3;
	c->rht = rht;
	c->rht_cnt = RHT_CNT;
	c->ctx_cap = cap;
	c->ea.ea_base = EA_BASE;
	c->ea.host_base = win;
	c->ea.len = WIN_SIZE;
	pthread_mutex_init(&c->xlate_lock, NULL);
	pthread_mutex_init(&c->sync_lock, NULL);
	c->state = AFU_CTX_ACTIVE;
	c->toggle = SISL_RESP_HANDLE_T_BIT;
	c->cmd_room = AFU_CMD_ROOM;
	map->endian_ctrl = SISL_ENDIAN_CTRL_HOST;
	map->cmd_room = AFU_CMD_ROOM;
	map->ctx_ctrl = SISL_CTX_CTRL_UNMAP_SECTOR;
	return c;
}

/* Worker passes (worker.c's worker_pass) until the context is idle and
 * nothing is in flight. */
static void run(struct afu_ctx *c)
{
	for (unsigned pass = 0; pass < 256; pass++) {
		unsigned did = 0;

		/* The pass's share, as worker_pass() gives it: a context out
		 * of credit starts nothing. */
		did += afu_ctx_fair_topup(c, afu->fair_quantum);
		if (c->state == AFU_CTX_ACTIVE)
			did += afu_ctx_poll(w, c);
		else if (c->cmds_inflight == 0 && c->state == AFU_CTX_RESETTING) {
			afu_ctx_do_reset(c);
			did++;
		}
		if (w->cont_head)   /* commands with slices left to issue */
			did += afu_cmds_continue(w);
		while (be_engine_inflight(w->eng)) {
			int r = be_engine_poll(w->eng, 64);

			if (r > 0)
				did += (unsigned)r;
			else
				be_engine_wait(w->eng, 1000);
		}
		afu_ctx_publish(c, did == 0);
		if (!did && c->cmds_inflight == 0)
			return;
	}
	FUZZ_CHECK(!"the AFU kept finding work for 256 passes");
}

/* The host's HRRQ cursor. */
static uint64_t *hrrq_cur;
static uint64_t host_toggle;

/* After a context reset the AFU posts from the start with toggle 1 again. */
static void host_hrrq_reset(void)
{
	hrrq_cur = (uint64_t *)(win + HRRQ_OFF);
	host_toggle = SISL_RESP_HANDLE_T_BIT;
	memset(win + HRRQ_OFF, 0, HRRQ_N * 8);
}

/* The next HRRQ entry the AFU posted into *@ea. Return: false if none. */
static bool reap_one(uint64_t *ea_out)
{
	uint64_t *start = (uint64_t *)(win + HRRQ_OFF), *end = start + HRRQ_N - 1;
	uint64_t e = __atomic_load_n(hrrq_cur, __ATOMIC_ACQUIRE);

	if ((e & SISL_RESP_HANDLE_T_BIT) != host_toggle)
		return false;
	*ea_out = e & ~SISL_RESP_HANDLE_T_BIT;
	if (hrrq_cur == end) {
		hrrq_cur = start;
		host_toggle ^= SISL_RESP_HANDLE_T_BIT;
	} else {
		hrrq_cur++;
	}
	return true;
}

/* Entries the AFU posted since the last call; each must be @want_ea. */
static unsigned reap(uint64_t want_ea)
{
	uint64_t e;
	unsigned n = 0;

	while (n <= HRRQ_N && reap_one(&e)) {
		FUZZ_CHECK(e == want_ea);
		n++;
	}
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	uint8_t cfg = fuzz_u8(&in);
	uint64_t cap = SISL_CTX_CAP_READ_CMD | SISL_CTX_CAP_WRITE_CMD;
	struct afu_ctx *c;
	unsigned ncmd = 0, sq_next = 0;
	uint64_t resets;
	bool trust_hrrq = !(cfg & 16);

	if (cfg & 1)
		cap |= SISL_CTX_CAP_REAL_MODE;
	if (cfg & 2)
		cap &= ~SISL_CTX_CAP_WRITE_CMD;
	if (cfg & 4)
		cap &= ~SISL_CTX_CAP_READ_CMD;
	if (cfg & 8)
		cap |= SISL_CTX_CAP_AFU_CMD | SISL_CTX_CAP_GSCSI_CMD;
	memset(map, 0, SISL_HOST_MAP_SIZE);
	memset(win, 0, WIN_SIZE);
	c = ctx_new(cap);
	host_hrrq_reset();
	map->rrq_start = cfg & 16 ? fuzz_u64(&in) : ea(HRRQ_OFF);
	map->rrq_end = cfg & 16 ? fuzz_u64(&in) : ea(HRRQ_OFF + (HRRQ_N - 1) * 8);
	map->sq_start = cfg & 32 ? fuzz_u64(&in) : ea(SQ_OFF);
	map->sq_end = cfg & 32 ? fuzz_u64(&in) : ea(SQ_OFF + (SQ_N - 1) * 64);
	if (cfg & 64) {
		/* Data the host put in its buffers first (an UNMAP parameter
		 * list, a WRITE SAME block): at the data area's start. */
		size_t n = fuzz_u8(&in);

		fuzz_bytes(&in, win + DATA_OFF, n);
	}

	while (in.left >= CMD_BYTES) {
		uint8_t route = fuzz_u8(&in);
		struct sisl_ioarcb rcb;
		uint64_t raw, post_ea, skew;
		uint32_t res;

		memset(&rcb, 0, sizeof(rcb));
		rcb.ctx_id = c->handle;
		rcb.req_flags = fuzz_u16(&in);
		res = fuzz_u32(&in);
		rcb.res_hndl = route & 32 ? res : res & 7;
		rcb.lun_id = fuzz_u8(&in);
		rcb.data_len = fuzz_u32(&in);
		raw = fuzz_u64(&in);
		rcb.data_ea = route & 2 ? raw : ea(DATA_OFF + raw % DATA_LEN);
		rcb.timeout = fuzz_u8(&in);
		fuzz_bytes(&in, rcb.cdb, sizeof(rcb.cdb));
		skew = fuzz_u8(&in);

		if (route & 16)
			map->intr_clear = ~0ull;
		if (route & 1) {
			/* SQ: the next slot, its IOASA, the tail one past it. */
			unsigned slot = sq_next % SQ_N;
			uint8_t *p = win + SQ_OFF + slot * 64;

			post_ea = route & 4 ? raw : ea(SA_OFF + slot * 64);
			rcb.sq_ioasa_ea = post_ea;
			memcpy(p, &rcb, sizeof(rcb));
			sq_next++;
			map->sq_tail = skew & 0x80 ? ea(SQ_OFF) + skew * 8
						   : ea(SQ_OFF + (sq_next % SQ_N) * 64);
		} else {
			uint8_t *p = win + CMD_OFF + (ncmd % CMD_N) * 128;

			post_ea = route & 4 ? raw : ea(CMD_OFF + (ncmd % CMD_N) * 128);
			memcpy(p, &rcb, sizeof(rcb));
			map->ioarrin = post_ea;
		}
		ncmd++;
		resets = c->stats.resets;
		run(c);
		FUZZ_CHECK(c->cmds_inflight == 0 && c->ioarrin_inflight == 0);
		FUZZ_CHECK(w->nfree == AFU_POOL_CMDS);
		if (c->stats.resets != resets) {
			/* An IOARCB EA of 1 is a reset request: the HRRQ starts
			 * over, as after the explicit resets below. */
			host_hrrq_reset();
			continue;
		}
		/* One completion for a command the AFU could fetch and post,
		 * none for one it could not; never two. A skewed SQ tail may
		 * make it run slots written earlier (each naming its IOASA). */
		/* A raw EA may name the HRRQ itself (a client may scribble on
		 * its own queue): from then on the entries prove nothing. */
		if (route & 6)
			trust_hrrq = false;
		if (!trust_hrrq) {
			uint64_t e;

			for (unsigned n = 0; n <= HRRQ_N && reap_one(&e); n++)
				;
		} else if (!(route & 1)) {
			unsigned n = reap(post_ea);

			FUZZ_CHECK(n <= 1);
			if (c->rrq_latched)
				FUZZ_CHECK(n == 1);
		} else {
			uint64_t e;

			for (unsigned n = 0; n <= HRRQ_N && reap_one(&e); n++)
				;
		}
		if (route & 8) {
			if (route & 1)
				map->sq_ctx_reset = 1;
			else
				map->ioarrin = 1;
			run(c);
			FUZZ_CHECK(map->ioarrin == 0 && map->sq_ctx_reset == 0);
			host_hrrq_reset();
			sq_next = 0;
		}
	}
	if (log_enabled(LOG_DEBUG))   /* FUZZ_VERBOSE=1: what the input did */
		dprintf(2, "fuzz_afu: %u commands written, %llu completed, %llu with errors, "
			"%llu blocks read, %llu written, %llu resets, intr_status %#llx\n", ncmd,
			(unsigned long long)c->stats.cmds, (unsigned long long)c->stats.errors,
			(unsigned long long)c->stats.blocks_read,
			(unsigned long long)c->stats.blocks_written,
			(unsigned long long)c->stats.resets, (unsigned long long)c->intr_status);
	pthread_mutex_destroy(&c->sync_lock);
	pthread_mutex_destroy(&c->xlate_lock);
	free(c);
	return 0;
}
