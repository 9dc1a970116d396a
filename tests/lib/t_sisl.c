/* SPDX-License-Identifier: Apache-2.0 */
/* t_sisl.c - raw SISLite client for tests (see t_sisl.h). */
#include "t_sisl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "master/embedded.h"
#include "t_util.h"
#include "util/byteorder.h"

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* 128-byte aligned memory (aligned_alloc wants a multiple of the alignment). */
static void *alloc128(size_t size)
{
	return aligned_alloc(128, (size + 127) & ~(size_t)127);
}

void t_sisl_setup_queues(struct t_sisl *s)
{
	sisl_hrrq_init(&s->hrrq, s->map, s->hrrq_mem, s->ntags);
	if (s->sq_mode) {
		memset(s->sq, 0, (s->ntags + 1) * sizeof(*s->sq));
		s->sq_curr = s->sq;
		s->sq_credits = s->ntags;
		sisl_write64(&s->map->sq_start, (uint64_t)(uintptr_t)s->sq);
		sisl_write64(&s->map->sq_end, (uint64_t)(uintptr_t)(s->sq + s->ntags));
		sisl_write64(&s->map->sq_tail, (uint64_t)(uintptr_t)s->sq);
	}
	s->cmd_room = 0;
	s->inflight = 0;
	memset(s->busy, 0, sizeof(s->busy));
}

int t_sisl_map(struct t_sisl *s, int fd1, const struct dk_cxlflash_attach *a, bool sq,
	       unsigned ntags)
{
	memset(s, 0, sizeof(*s));
	if (ntags == 0 || ntags > T_SISL_MAX_TAGS)
		ntags = 64;
	s->fd1 = fd1;
	s->ctxid = a->context_id;
	s->adap_fd = (int)a->adap_fd;
	s->last_lba = a->last_lba;
	s->return_flags = a->hdr.return_flags;
	s->map = mmap(NULL, a->mmio_size, PROT_READ | PROT_WRITE, MAP_SHARED, s->adap_fd, 0);
	if (s->map == MAP_FAILED)
		return -1;
	s->sq_mode = sq;
	s->ntags = ntags;
	s->hrrq_mem = alloc128(ntags * sizeof(uint64_t));
	s->sq = alloc128((ntags + 1) * sizeof(struct sisl_ioarcb));
	s->cmds = alloc128(ntags * sizeof(struct sisl_iocmd));
	memset(s->cmds, 0, ntags * sizeof(struct sisl_iocmd));
	t_sisl_setup_queues(s);
	return 0;
}

int t_sisl_attach(struct t_sisl *s, int fd1, int oflags, bool sq, unsigned ntags)
{
	struct dk_cxlflash_attach a = { 0 };

	a.hdr.flags = (uint64_t)oflags;
	a.num_interrupts = 4;
	if (cxlflash_ioctl(fd1, DK_CXLFLASH_ATTACH, &a))
		return -1;
	return t_sisl_map(s, fd1, &a, sq, ntags);
}

/* After RECOVER_AFU: map the new window, drop the old one, reset the queues. */
int t_sisl_remap(struct t_sisl *s, uint64_t ctxid, int adap_fd)
{
	struct sisl_host_map *map = mmap(NULL, SISL_HOST_MAP_SIZE, PROT_READ | PROT_WRITE,
					 MAP_SHARED, adap_fd, 0);

	if (map == MAP_FAILED)
		return -1;
	munmap(s->map, SISL_HOST_MAP_SIZE);
	close(s->adap_fd);
	s->map = map;
	s->adap_fd = adap_fd;
	s->ctxid = ctxid;
	t_sisl_setup_queues(s);
	return 0;
}

void t_sisl_detach(struct t_sisl *s, bool detach)
{
	if (detach)
		t_detach(s->fd1, s->ctxid);
	if (s->map && s->map != MAP_FAILED)
		munmap(s->map, SISL_HOST_MAP_SIZE);
	if (s->adap_fd >= 0)
		close(s->adap_fd);
	free(s->hrrq_mem);
	free(s->sq);
	free(s->cmds);
	memset(s, 0, sizeof(*s));
	s->adap_fd = -1;
}

void t_sisl_prep(struct t_sisl *s, unsigned tag, uint32_t res_hndl, const uint8_t cdb[16],
		 void *buf, uint32_t len, bool write)
{
	struct sisl_iocmd *c = &s->cmds[tag];

	memset(c, 0, sizeof(*c));
	c->rcb.ctx_id = (uint16_t)(s->ctxid & 0xFFFF);
	c->rcb.req_flags = SISL_REQ_FLAGS_RES_HNDL |
			   (write ? SISL_REQ_FLAGS_HOST_WRITE : SISL_REQ_FLAGS_HOST_READ);
	c->rcb.res_hndl = res_hndl;
	c->rcb.data_len = len;
	c->rcb.data_ea = (uint64_t)(uintptr_t)buf;
	memcpy(c->rcb.cdb, cdb, 16);
	c->rcb.sq_ioasa_ea = (uint64_t)(uintptr_t)&c->sa;
}

void t_sisl_prep_rw(struct t_sisl *s, unsigned tag, uint32_t res_hndl, uint64_t lba,
		    uint32_t nblocks, void *buf, bool write)
{
	uint8_t cdb[16] = { 0 };

	cdb[0] = write ? 0x8A : 0x88;
	put_be64(cdb + 2, lba);
	put_be32(cdb + 10, nblocks);
	t_sisl_prep(s, tag, res_hndl, cdb, buf, nblocks * 4096u, write);
}

int t_sisl_submit(struct t_sisl *s, unsigned tag)
{
	struct sisl_iocmd *c = &s->cmds[tag];

	if (s->sq_mode) {
		if (s->sq_credits == 0)
			return -1;
		*s->sq_curr = c->rcb;
		s->sq_curr = s->sq_curr == s->sq + s->ntags ? s->sq : s->sq_curr + 1;
		s->sq_credits--;
		sisl_write64(&s->map->sq_tail, (uint64_t)(uintptr_t)s->sq_curr);
		sisl_ring_doorbell(s->map);
	} else {
		if (s->cmd_room == 0) {
			uint64_t room = sisl_read64(&s->map->cmd_room);

			if (room == 0 || room == SISL_ALL_ONES)
				return -1;
			s->cmd_room = (unsigned)room;
		}
		if (sisl_ioarrin_write(s->map, (uint64_t)(uintptr_t)&c->rcb))
			return -1;
		s->cmd_room--;
	}
	s->busy[tag] = true;
	s->inflight++;
	return 0;
}

int t_sisl_reap(struct t_sisl *s, unsigned timeout_ms)
{
	uint64_t deadline = now_ms() + timeout_ms;

	for (;;) {
		uint64_t ea = sisl_hrrq_next(&s->hrrq);

		if (ea && ea != SISL_ALL_ONES) {
			uintptr_t base = (uintptr_t)s->cmds;
			unsigned tag;

			if (s->sq_mode) {
				tag = (unsigned)((ea - base - offsetof(struct sisl_iocmd, sa)) /
						 sizeof(struct sisl_iocmd));
				s->sq_credits++;
			} else {
				tag = (unsigned)((ea - base) / sizeof(struct sisl_iocmd));
			}
			if (tag >= s->ntags || !s->busy[tag]) {
				fprintf(stderr, "t_sisl_reap: unexpected completion EA 0x%llx\n",
					(unsigned long long)ea);
				return -2;
			}
			s->busy[tag] = false;
			s->inflight--;
			return (int)tag;
		}
		if (now_ms() > deadline)
			return -1;
		sisl_cpu_relax();
	}
}

/* Is an HRRQ entry (or all ones) waiting? The queue does not move. */
static bool hrrq_ready(const struct sisl_hrrq *q)
{
	uint64_t e = __atomic_load_n(q->curr, __ATOMIC_ACQUIRE);

	return e == SISL_ALL_ONES || (e & SISL_RESP_HANDLE_T_BIT) == q->toggle;
}

static uint64_t now_ns_(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int t_sisl_reap_wait(struct t_sisl *s, uint64_t spin_ns, unsigned timeout_ms)
{
	uint64_t deadline = now_ms() + timeout_ms, start = now_ns_();
	struct timespec ts = { .tv_sec = 0, .tv_nsec = 10 * 1000000L };

	for (unsigned i = 0; !hrrq_ready(&s->hrrq); i++) {
		if ((i & 31) == 31 && now_ns_() - start >= spin_ns)
			break;
		sisl_cpu_relax();
	}
	for (;;) {
		if (hrrq_ready(&s->hrrq))
			return t_sisl_reap(s, 0);
		if (now_ms() > deadline)
			return -1;
		/* The library's protocol (src/block/thread.c): raise
		 * host_waiting, read host_wake, look again, then sleep. */
		__atomic_fetch_add(&s->map->host_waiting, 1, __ATOMIC_SEQ_CST);
		{
			uint32_t v = __atomic_load_n(&s->map->host_wake, __ATOMIC_SEQ_CST);

			if (!hrrq_ready(&s->hrrq))
				syscall(SYS_futex, &s->map->host_wake, FUTEX_WAIT, v, &ts, NULL, 0);
		}
		__atomic_fetch_sub(&s->map->host_waiting, 1, __ATOMIC_SEQ_CST);
	}
}

int t_sisl_reap_sleep(struct t_sisl *s, unsigned timeout_ms)
{
	return t_sisl_reap_wait(s, 2000, timeout_ms);
}

uint32_t t_sisl_run_wait(struct t_sisl *s, uint32_t res_hndl, const uint8_t cdb[16], void *buf,
			 uint32_t len, bool write, uint64_t spin_ns)
{
	int tag;

	t_sisl_prep(s, 0, res_hndl, cdb, buf, len, write);
	if (t_sisl_submit(s, 0)) {
		fprintf(stderr, "t_sisl_run_wait: submit failed\n");
		return 0xFFFFFFFFu;
	}
	tag = t_sisl_reap_wait(s, spin_ns, 10000);
	if (tag != 0) {
		fprintf(stderr, "t_sisl_run_wait: no completion (%d)\n", tag);
		return 0xFFFFFFFFu;
	}
	return s->cmds[0].sa.ioasc;
}

uint32_t t_sisl_run_sleep(struct t_sisl *s, uint32_t res_hndl, const uint8_t cdb[16], void *buf,
			  uint32_t len, bool write)
{
	return t_sisl_run_wait(s, res_hndl, cdb, buf, len, write, 2000);
}

uint32_t t_sisl_run(struct t_sisl *s, uint32_t res_hndl, const uint8_t cdb[16], void *buf,
		    uint32_t len, bool write)
{
	int tag;

	t_sisl_prep(s, 0, res_hndl, cdb, buf, len, write);
	if (t_sisl_submit(s, 0)) {
		fprintf(stderr, "t_sisl_run: submit failed\n");
		return 0xFFFFFFFFu;
	}
	tag = t_sisl_reap(s, 10000);
	if (tag != 0) {
		fprintf(stderr, "t_sisl_run: no completion (%d)\n", tag);
		return 0xFFFFFFFFu;
	}
	return s->cmds[0].sa.ioasc;
}

uint32_t t_sisl_rw(struct t_sisl *s, uint32_t res_hndl, uint64_t lba, uint32_t nblocks, void *buf,
		   bool write)
{
	uint8_t cdb[16] = { 0 };

	cdb[0] = write ? 0x8A : 0x88;
	put_be64(cdb + 2, lba);
	put_be32(cdb + 10, nblocks);
	return t_sisl_run(s, res_hndl, cdb, buf, nblocks * 4096u, write);
}

int t_udirect(int fd1, uint64_t ctxid, uint64_t *handle)
{
	struct dk_cxlflash_udirect d = { 0 };
	int rc;

	d.context_id = ctxid;
	rc = cxlflash_ioctl(fd1, DK_CXLFLASH_USER_DIRECT, &d);
	if (!rc && handle)
		*handle = d.rsrc_handle;
	return rc;
}

int t_uvirtual(int fd1, uint64_t ctxid, uint64_t size, uint64_t flags, uint64_t *handle,
	       uint64_t *last_lba)
{
	struct dk_cxlflash_uvirtual v = { 0 };
	int rc;

	v.hdr.flags = flags;
	v.context_id = ctxid;
	v.lun_size = size;
	rc = cxlflash_ioctl(fd1, DK_CXLFLASH_USER_VIRTUAL, &v);
	if (!rc && handle)
		*handle = v.rsrc_handle;
	if (!rc && last_lba)
		*last_lba = v.last_lba;
	return rc;
}

int t_resize(int fd1, uint64_t ctxid, uint64_t handle, uint64_t size, uint64_t *last_lba)
{
	struct dk_cxlflash_resize r = { 0 };
	int rc;

	r.context_id = ctxid;
	r.rsrc_handle = handle;
	r.req_size = size;
	rc = cxlflash_ioctl(fd1, DK_CXLFLASH_VLUN_RESIZE, &r);
	if (!rc && last_lba)
		*last_lba = r.last_lba;
	return rc;
}

int t_release(int fd1, uint64_t ctxid, uint64_t handle)
{
	struct dk_cxlflash_release r = { 0 };

	r.context_id = ctxid;
	r.rsrc_handle = handle;
	return cxlflash_ioctl(fd1, DK_CXLFLASH_RELEASE, &r);
}

int t_detach(int fd1, uint64_t ctxid)
{
	struct dk_cxlflash_detach d = { 0 };

	d.context_id = ctxid;
	return cxlflash_ioctl(fd1, DK_CXLFLASH_DETACH, &d);
}

void t_check_master(int fd1)
{
	char why[256];

	if (cxlflash_debug_check(fd1, why, sizeof(why))) {
		fprintf(stderr, "master invariant broken: %s\n", why);
		exit(T_FAIL);
	}
}
