/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hostile.c - a client that attaches, gets a vLUN, then writes random bytes
 * into its window and DMA area and submits random IOARCBs (random context
 * ids, handles, flags, CDBs, LBAs, lengths, EAs inside and outside its DMA
 * area and into another context's, SQ pointers out of range, random
 * IOARRIN values, resets) while a victim process verifies its own vLUN.
 * The victim sees no wrong data, the daemon stays up and answers status,
 * the master's invariants hold, the hostile's other context is untouched,
 * and the context's memfd cannot be resized. Under ASan the daemon's own
 * checks would fail the test (a report aborts it).
 * Commands: 100k (CXLFLASH_SOAK=1: 10M; CXLFLASH_HOSTILE_CMDS=N overrides).
 */
#include <fcntl.h>

#include <cxlflash/cxlflash_ioctl.h>
#include <cxlflash/sislite.h>

#include "d_test.h"
#include "util/byteorder.h"

#define DMA_SIZE  (256u * 1024)
#define NQ        64u                  /* HRRQ and SQ entries */
#define OFF_HRRQ  0u
#define OFF_SQ    4096u
#define OFF_CMDS  16384u               /* IOARRIN commands (sisl_iocmd) */
#define OFF_DATA  65536u
#define CANARY    0xC0FFEE0DDBA11ull

static struct t_daemon g_d;

struct hctx {
	int fd1;
	uint64_t ctxid;
	int adap_fd;
	struct sisl_host_map *map;
	uint8_t *dma;                      /* DMA area (its EA is its address) */
	uint32_t vlun;                     /* our vLUN's resource handle */
	unsigned sq_tail;                  /* our idea of the next SQ slot */
};

struct hstats {
	uint64_t cmds, sq_cmds, ioarrin_cmds, pokes, scribbles, resets, stuck_resets;
};

static uint64_t rnd(uint64_t *s)
{
	return t_rand(s);
}

static int h_attach(struct hctx *h, int fd1)
{
	struct dk_cxlflash_attach a = { 0 };
	struct dk_cxlflash_uvirtual v = { 0 };

	memset(h, 0, sizeof(*h));
	h->fd1 = fd1;
	a.hdr.flags = O_RDWR;
	a.num_interrupts = 4;
	a.dma_size = DMA_SIZE;
	if (cxlflash_ioctl(fd1, DK_CXLFLASH_ATTACH, &a))
		return 30;
	if (!(a.hdr.return_flags & DK_CXLFLASH_DMA_AREA_ONLY) || !a.dma_ea ||
	    a.dma_size < DMA_SIZE || a.mmio_size != SISL_HOST_MAP_SIZE)
		return 31;
	h->ctxid = a.context_id;
	h->adap_fd = (int)a.adap_fd;
	h->dma = (uint8_t *)(uintptr_t)a.dma_ea;
	/* The client library maps window + DMA area in one piece. */
	h->map = (struct sisl_host_map *)(h->dma - SISL_HOST_MAP_SIZE);
	v.context_id = h->ctxid;
	v.lun_size = 1024;
	if (cxlflash_ioctl(fd1, DK_CXLFLASH_USER_VIRTUAL, &v))
		return 32;
	h->vlun = (uint32_t)v.rsrc_handle;
	return 0;
}

/* The sealed memfd: no resizing, no new seals; mapping past its end maps
 * nothing the daemon uses (a touch there is this process's own SIGBUS). */
static int memfd_checks(struct hctx *h)
{
	size_t total = SISL_HOST_MAP_SIZE + DMA_SIZE;
	int seals = fcntl(h->adap_fd, F_GET_SEALS);
	void *p;
	pid_t pid;
	int status;

	if (seals < 0 || !(seals & F_SEAL_SHRINK) || !(seals & F_SEAL_GROW) ||
	    !(seals & F_SEAL_SEAL))
		return 40;
	if (ftruncate(h->adap_fd, 4096) == 0 || errno != EPERM)
		return 41;
	if (ftruncate(h->adap_fd, (off_t)total * 4) == 0 || errno != EPERM)
		return 42;
	if (ftruncate(h->adap_fd, 0) == 0)
		return 43;
	if (fcntl(h->adap_fd, F_ADD_SEALS, F_SEAL_WRITE) == 0)
		return 44;
	if (fallocate(h->adap_fd, 0, 0, (off_t)total * 2) == 0)
		return 45;
	p = mmap(NULL, total * 2, PROT_READ | PROT_WRITE, MAP_SHARED, h->adap_fd, 0);
	if (p != MAP_FAILED) {
		pid = fork();
		if (pid == 0) {
			signal(SIGBUS, SIG_DFL); /* not a sanitizer's report: just die */
			((volatile uint8_t *)p)[total + 100] = 1; /* past the end: SIGBUS */
			_exit(0);
		}
		/* Under ASan the fault may still end in its report and exit 1. */
		if (pid < 0 || waitpid(pid, &status, 0) != pid ||
		    !((WIFSIGNALED(status) && WTERMSIG(status) == SIGBUS) ||
		      (WIFEXITED(status) && WEXITSTATUS(status) != 0)))
			return 46;
		munmap(p, total * 2);
	}
	/* Past the end of the file from the start: nothing there. */
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, h->adap_fd, (off_t)total);
	if (p != MAP_FAILED)
		munmap(p, 4096);
	return 0;
}

/* A sane state: reset the context, program the HRRQ and SQ in the DMA area. */
static bool h_sane(struct hctx *h)
{
	struct sisl_host_map *m = h->map;
	uint64_t end = d_now_us() + 200000;

	sisl_write64(&m->ioarrin, 1);
	sisl_ring_doorbell(m);
	while (sisl_read64(&m->ioarrin) == 1) {
		if (d_now_us() > end)
			return false;
		sisl_cpu_relax();
	}
	memset(h->dma + OFF_HRRQ, 0, NQ * 8);
	sisl_write64(&m->rrq_start, (uint64_t)(uintptr_t)(h->dma + OFF_HRRQ));
	sisl_write64(&m->rrq_end, (uint64_t)(uintptr_t)(h->dma + OFF_HRRQ + (NQ - 1) * 8));
	sisl_write64(&m->sq_start, (uint64_t)(uintptr_t)(h->dma + OFF_SQ));
	sisl_write64(&m->sq_end, (uint64_t)(uintptr_t)(h->dma + OFF_SQ +
							 (NQ - 1) * sizeof(struct sisl_ioarcb)));
	sisl_write64(&m->sq_tail, 0);
	sisl_write64(&m->intr_clear, SISL_ALL_ONES);
	h->sq_tail = 0;
	return true;
}

/* An EA for a data buffer or an IOASA: mostly ours, often not. */
static uint64_t rand_ea(struct hctx *h, struct hctx *other, uint64_t *s, uint32_t len)
{
	uint64_t dma = (uint64_t)(uintptr_t)h->dma;
	int stack;

	switch (rnd(s) % 12) {
	case 0: case 1: case 2: case 3:
		return dma + OFF_DATA + (rnd(s) % (DMA_SIZE - OFF_DATA - (len < 4096 ? len : 4096)));
	case 4: /* straddling the end */
		return dma + DMA_SIZE - (rnd(s) % 8192);
	case 5: /* the window (not DMA area) */
		return (uint64_t)(uintptr_t)h->map + (rnd(s) % SISL_HOST_MAP_SIZE);
	case 6: /* another context's DMA area (its canary) */
		return (uint64_t)(uintptr_t)other->dma + (rnd(s) % DMA_SIZE);
	case 7: /* this process's stack and heap */
		return rnd(s) & 1 ? (uint64_t)(uintptr_t)&stack : (uint64_t)(uintptr_t)s;
	case 8:
		return 0;
	case 9:
		return dma - 1 - (rnd(s) % 65536);
	case 10:
		return ~0ull - (rnd(s) % 4096);
	default:
		return rnd(s);
	}
}

static const uint8_t g_ops[] = { 0x88, 0x8A, 0x93, 0x42, 0x12, 0xA0, 0x9E, 0x00, 0x35, 0x91,
				 0x28, 0x2A, 0x25, 0xC0, 0xFF, 0x03 };

static void rand_rcb(struct hctx *h, struct hctx *other, uint64_t *s, struct sisl_ioarcb *r,
		     uint64_t ioasa_ea)
{
	uint64_t x = rnd(s);
	uint32_t len;

	memset(r, 0, sizeof(*r));
	for (unsigned i = 0; i < sizeof(*r) / 8; i++)
		if (x % 5 == 0)
			((uint64_t *)r)[i] = rnd(s);   /* a fully random one now and then */
	if (x % 5 == 0 && rnd(s) % 2)
		return;
	r->ctx_id = rnd(s) % 4 ? (uint16_t)h->ctxid : (uint16_t)rnd(s);
	r->req_flags = rnd(s) % 4 ? (uint16_t)(SISL_REQ_FLAGS_RES_HNDL | (rnd(s) & 1)) :
				    (uint16_t)rnd(s);
	switch (rnd(s) % 8) {
	case 0: r->res_hndl = (uint32_t)rnd(s); break;
	case 1: r->res_hndl = (uint32_t)(rnd(s) % 32); break;
	default: r->res_hndl = h->vlun; break;
	}
	switch (rnd(s) % 8) {
	case 0: len = 0; break;
	case 1: len = (uint32_t)rnd(s); break;
	case 2: len = 0xFFFFFFFFu; break;
	case 3: len = (uint32_t)(rnd(s) % (DMA_SIZE * 2)); break;
	default: len = 4096u * (1 + (uint32_t)(rnd(s) % 8)); break;
	}
	r->data_len = len;
	r->data_ea = rand_ea(h, other, s, len);
	r->timeout = (uint16_t)rnd(s);
	r->rrq = rnd(s) % 16 ? 0 : (uint8_t)rnd(s);
	r->cdb[0] = g_ops[rnd(s) % sizeof(g_ops)];
	for (unsigned i = 1; i < 16; i++)
		r->cdb[i] = (uint8_t)rnd(s);
	switch (rnd(s) % 6) {                 /* the LBA of 16-byte CDBs */
	case 0: case 1: put_be64(r->cdb + 2, rnd(s) % 1024); break;
	case 2: put_be64(r->cdb + 2, 65536 - (rnd(s) % 16)); break; /* the chunk's end */
	case 3: put_be64(r->cdb + 2, ~0ull - (rnd(s) % 16)); break;
	default: break;
	}
	if (rnd(s) % 2)
		put_be32(r->cdb + 10, (uint32_t)(rnd(s) % 16));
	r->sq_ioasa_ea = ioasa_ea;
}

/* Wait a little for the AFU to catch up with us; false if it did not. */
static bool h_drain(struct hctx *h)
{
	uint64_t end = d_now_us() + 2000;
	uint64_t want = (uint64_t)(uintptr_t)(h->dma + OFF_SQ +
					      h->sq_tail * sizeof(struct sisl_ioarcb));

	while (sisl_read64(&h->map->ioarrin) != 0 ||
	       (sisl_read64(&h->map->sq_tail) && sisl_read64(&h->map->sq_head) != want)) {
		if (d_now_us() > end)
			return false;
		sisl_cpu_relax();
	}
	return true;
}

static int hostile(uint64_t ncmds)
{
	int fd1 = cxlflash_open("lun0", O_RDWR), rc;
	struct hctx h, o;
	struct hstats st = { 0 };
	uint64_t seed = 0xbad5eed ^ (uint64_t)getpid(), t0 = d_now_us();

	if (fd1 < 0)
		return 29;
	rc = h_attach(&h, fd1);
	if (!rc)
		rc = h_attach(&o, fd1);
	if (!rc)
		rc = memfd_checks(&h);
	if (rc)
		return rc;
	for (unsigned i = 0; i < DMA_SIZE / 8; i++)
		((uint64_t *)o.dma)[i] = CANARY ^ i;
	/* The other context is left idle with no queues: nothing may land in it. */
	if (!h_sane(&h))
		return 33;

	while (st.cmds < ncmds) {
		unsigned r = (unsigned)(rnd(&seed) % 100);
		struct sisl_host_map *m = h.map;

		if (r < 45) {                       /* an SQ batch */
			unsigned n = 1 + (unsigned)(rnd(&seed) % 16);
			struct sisl_ioarcb *sq = (struct sisl_ioarcb *)(h.dma + OFF_SQ);
			uint64_t tail;

			for (unsigned i = 0; i < n; i++) {
				struct sisl_iocmd *c =
					(struct sisl_iocmd *)(h.dma + OFF_CMDS) + h.sq_tail;
				uint64_t sa = rnd(&seed) % 8 ? (uint64_t)(uintptr_t)&c->sa :
							       rand_ea(&h, &o, &seed, 32);

				rand_rcb(&h, &o, &seed, &sq[h.sq_tail], sa);
				h.sq_tail = (h.sq_tail + 1) % NQ;
			}
			tail = (uint64_t)(uintptr_t)&sq[h.sq_tail];
			if (rnd(&seed) % 50 == 0)
				tail = rnd(&seed) % 3 ? rand_ea(&h, &o, &seed, 64) : tail + 8;
			sisl_write64(&m->sq_tail, tail);
			sisl_ring_doorbell(m);
			st.cmds += n;
			st.sq_cmds += n;
		} else if (r < 75) {                /* IOARRIN */
			unsigned slot = (unsigned)(rnd(&seed) % NQ);
			struct sisl_iocmd *c = (struct sisl_iocmd *)(h.dma + OFF_CMDS) + slot;
			uint64_t ea = rnd(&seed) % 6 ? (uint64_t)(uintptr_t)c :
						       rand_ea(&h, &o, &seed, 128);

			rand_rcb(&h, &o, &seed, &c->rcb, 0);
			if (ea == 1)
				ea = 2;
			sisl_write64(&m->ioarrin, ea);
			sisl_ring_doorbell(m);
			st.cmds++;
			st.ioarrin_cmds++;
		} else if (r < 85) {                /* poke a register of the window */
			unsigned reg = (unsigned)(rnd(&seed) % (0x180 / 8));
			uint64_t v;

			switch (rnd(&seed) % 4) {
			case 0: v = rand_ea(&h, &o, &seed, 64); break;
			case 1: v = rnd(&seed) % 4; break;
			default: v = rnd(&seed); break;
			}
			sisl_write64((uint64_t *)m + reg, v);
			sisl_ring_doorbell(m);
			st.pokes++;
		} else if (r < 95) {                /* scribble over the window or the DMA area */
			bool win = rnd(&seed) % 4 == 0;
			uint8_t *base = win ? (uint8_t *)m : h.dma;
			size_t size = win ? SISL_HOST_MAP_SIZE : DMA_SIZE;
			size_t off = (size_t)(rnd(&seed) % size);
			size_t len = 1 + (size_t)(rnd(&seed) % 256);

			if (win && rnd(&seed) % 2)
				off %= 0x180;               /* mostly the registers */
			for (size_t i = 0; i < len && off + i < size; i++)
				base[off + i] = (uint8_t)rnd(&seed);
			sisl_ring_doorbell(m);
			st.scribbles++;
		} else {                            /* back to a sane state now and then */
			if (!h_sane(&h))
				st.stuck_resets++;
			st.resets++;
		}
		if (!h_drain(&h)) {     /* queues broken by us: start over */
			if (!h_sane(&h))
				st.stuck_resets++;
			st.resets++;
		}
	}
	/* Nothing landed in the other context's DMA area. */
	for (unsigned i = 0; i < DMA_SIZE / 8; i++)
		if (((uint64_t *)o.dma)[i] != (CANARY ^ i)) {
			fprintf(stderr, "hostile: the other context's DMA area changed at %u\n",
				i * 8);
			return 34;
		}
	fprintf(stderr, "hostile %d: %llu commands (%llu SQ, %llu IOARRIN), %llu register "
		"pokes, %llu scribbles, %llu resets (%llu unanswered) in %.1f s\n", (int)getpid(),
		(unsigned long long)st.cmds, (unsigned long long)st.sq_cmds,
		(unsigned long long)st.ioarrin_cmds, (unsigned long long)st.pokes,
		(unsigned long long)st.scribbles, (unsigned long long)st.resets,
		(unsigned long long)st.stuck_resets, (double)(d_now_us() - t0) / 1e6);
	/* Leave without DETACH: the closing connection detaches both. */
	return 0;
}

static void attack(void)
{
	unsigned long ncmds = d_iters("CXLFLASH_HOSTILE_CMDS", 100000, 10000000);
	struct d_shared *sh = d_shared_new();
	pid_t victim[2], bad;
	const char *st;

	victim[0] = d_spawn_client("lun0", 0, 1024, sh, 0);
	victim[1] = d_spawn_client("lun0", 1, 1024, sh, 0);
	d_wait_ready(sh, 0);
	d_wait_ready(sh, 1);
	bad = d_fork();
	if (bad == 0)
		_exit(hostile(ncmds));
	/* Status and invariants while the attack runs. */
	for (;;) {
		int status;
		pid_t r = waitpid(bad, &status, WNOHANG);

		T_ASSERT(r >= 0);
		T_ASSERT(t_daemon_alive(&g_d));
		st = d_status(&g_d);
		T_ASSERT(strstr(st, "\"contexts\":"));
		d_check("lun0");
		if (r == bad) {
			for (unsigned i = 0; i < d_nchildren; i++)
				if (d_children[i] == bad)
					d_children[i] = 0;
			T_ASSERT(WIFEXITED(status));
			T_EQ(WEXITSTATUS(status), 0);
			break;
		}
		for (int k = 0; k < 2; k++)
			T_EQ(waitpid(victim[k], NULL, WNOHANG), 0); /* still verifying */
		d_sleep_us(200000);
	}
	sh->stop = 1;
	for (int k = 0; k < 2; k++) {
		T_EQ(d_wait(victim[k]), 0);
		T_ASSERT(sh->c[k].ops > 0);
		fprintf(stderr, "victim %d: %llu verified ops, slowest %llu us\n", k,
			(unsigned long long)sh->c[k].ops, (unsigned long long)sh->c[k].max_op_us);
	}
	T_ASSERT(t_daemon_alive(&g_d));
	d_check("lun0");
	for (int i = 0;; i++) {
		st = d_status(&g_d);
		if (t_json_num(st, "contexts") == 0 && t_json_num(st, "chunks_free") == 8)
			break;
		T_ASSERT(i < 200);
		d_sleep_us(5000);
	}
}

int main(void)
{
	const char *args[] = { "--lun", "lun0=ram:2G", "--allow", "lun0=all", NULL };

	T_SKIP_IF(access(t_tool_path("cxlflashd"), X_OK), "no cxlflashd binary");
	T_EQ(d_start(&g_d, args), 0);
	T_RUN(attack);
	T_EQ(t_daemon_stop(&g_d), 0);
	return T_PASS;
}
