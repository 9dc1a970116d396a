/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: raw SISLite I/O through the mmapped window, on ram and file
 * backends, SQ and IOARRIN submission: physical and virtual write/read-back
 * of patterns, a transfer across a chunk boundary, many commands in flight,
 * HRRQ wrap over several laps, and the afu_rc / sense of bad commands (bad
 * handle, free handle, out-of-bounds vLBA, write through a read-only
 * context, LBA beyond a physical LUN).
 */
#include "t_util.h"

#include <fcntl.h>
#include <unistd.h>

#include "t_sisl.h"
#include "util/byteorder.h"

#define CHUNK 65536ull

static void *blocks(size_t n)
{
	void *p = aligned_alloc(4096, n * 4096);

	T_ASSERT(p);
	return p;
}

static void rw_check(struct t_sisl *s, uint32_t h, uint64_t lba, uint32_t n, uint64_t seed)
{
	uint8_t *b = blocks(n);

	t_pattern_fill(b, n * 4096u, seed, lba);
	T_EQ(t_sisl_rw(s, h, lba, n, b, true), 0);
	memset(b, 0, n * 4096u);
	T_EQ(t_sisl_rw(s, h, lba, n, b, false), 0);
	T_EQ(t_pattern_check(b, n * 4096u, seed, lba), 0);
	free(b);
}

/* Keep @depth commands in flight over @total random blocks, then verify. */
static void queue_depth(struct t_sisl *s, uint32_t h, uint64_t nblocks, unsigned depth,
			unsigned total)
{
	uint8_t *buf = blocks(depth);
	uint64_t lbas[T_SISL_MAX_TAGS], seed = 99, *written = calloc(total, sizeof(uint64_t));
	unsigned issued = 0, done = 0;

	T_ASSERT(written);
	/* writes of distinct blocks */
	while (done < total) {
		while (issued < total && s->inflight < depth) {
			unsigned tag = 0;

			while (s->busy[tag]) /* completions come back in any order */
				tag++;
			lbas[tag] = (issued * 7919ull) % nblocks;
			written[issued] = lbas[tag];
			t_pattern_fill(buf + tag * 4096, 4096, seed, lbas[tag]);
			t_sisl_prep_rw(s, tag, h, lbas[tag], 1, buf + tag * 4096, true);
			T_EQ(t_sisl_submit(s, tag), 0);
			issued++;
		}
		{
			int tag = t_sisl_reap(s, 10000);

			T_ASSERT(tag >= 0);
			T_EQ(s->cmds[tag].sa.ioasc, 0);
			done++;
		}
	}
	for (unsigned i = 0; i < total; i += 13) {
		T_EQ(t_sisl_rw(s, h, written[i], 1, buf, false), 0);
		T_EQ(t_pattern_check(buf, 4096, seed, written[i]), 0);
	}
	free(written);
	free(buf);
}

static void bad_commands(struct t_sisl *s, uint32_t h, bool virt)
{
	uint8_t *b = blocks(2);
	uint8_t cdb[16] = { 0 };

	/* handle beyond the RHT, and a free entry */
	T_ASSERT(t_sisl_rw(s, 300, 0, 1, b, false) != 0);
	T_EQ(s->cmds[0].sa.rc.afu_rc, SISL_AFU_RC_RHT_OUT_OF_BOUNDS);
	T_ASSERT(t_sisl_rw(s, 200, 0, 1, b, false) != 0);
	T_EQ(s->cmds[0].sa.rc.afu_rc, SISL_AFU_RC_RHT_INVALID);
	if (virt) {
		/* past the vLUN's last chunk, and a range whose last block is past it */
		T_ASSERT(t_sisl_rw(s, h, 2 * CHUNK, 1, b, false) != 0);
		T_EQ(s->cmds[0].sa.rc.afu_rc, SISL_AFU_RC_LXT_OUT_OF_BOUNDS);
		T_ASSERT(t_sisl_rw(s, h, 2 * CHUNK - 1, 2, b, false) != 0);
		T_EQ(s->cmds[0].sa.rc.afu_rc, SISL_AFU_RC_LXT_OUT_OF_BOUNDS);
	} else {
		/* beyond a physical LUN: CHECK CONDITION, ILLEGAL REQUEST, LBA OUT OF RANGE */
		T_ASSERT(t_sisl_rw(s, h, s->last_lba, 2, b, false) != 0);
		T_EQ(s->cmds[0].sa.rc.scsi_rc, SISL_SCSI_RC_CHECK);
		T_ASSERT(s->cmds[0].sa.rc.flags & SISL_RC_FLAGS_SENSE_VALID);
		T_EQ(s->cmds[0].sa.sense_data[2] & 0xF, 0x5);
		T_EQ(s->cmds[0].sa.sense_data[12], 0x21);
	}
	/* an opcode nobody knows */
	cdb[0] = 0xEE;
	T_ASSERT(t_sisl_run(s, h, cdb, b, 4096, false) != 0);
	T_EQ(s->cmds[0].sa.sense_data[2] & 0xF, 0x5);
	T_EQ(s->cmds[0].sa.sense_data[12], 0x20);
	/* no RES_HNDL flag: a user context may not address LUNs directly */
	t_sisl_prep_rw(s, 0, h, 0, 1, b, false);
	s->cmds[0].rcb.req_flags &= (uint16_t)~SISL_REQ_FLAGS_RES_HNDL;
	T_EQ(t_sisl_submit(s, 0), 0);
	T_EQ(t_sisl_reap(s, 10000), 0);
	T_EQ(s->cmds[0].sa.rc.afu_rc, SISL_AFU_RC_CAP_VIOLATION);
	free(b);
}

static void run_lun(const char *name, bool sq)
{
	int fd = cxlflash_open(name, O_RDWR);
	struct t_sisl s, ro;
	uint64_t ph, vh, last;

	fprintf(stderr, "   %s, %s mode\n", name, sq ? "SQ" : "IOARRIN");
	T_ASSERT(fd >= 0);
	/* physical */
	T_EQ(t_sisl_attach(&s, fd, O_RDWR, sq, 8), 0);
	T_EQ(t_udirect(fd, s.ctxid, &ph), 0);
	rw_check(&s, (uint32_t)ph, 0, 1, 1);
	rw_check(&s, (uint32_t)ph, s.last_lba, 1, 2);
	rw_check(&s, (uint32_t)ph, 1000, 64, 3);
	rw_check(&s, (uint32_t)ph, 5000, 4096, 4);           /* max_xfer */
	for (int i = 0; i < 40; i++)                         /* 5 laps of an 8-entry HRRQ */
		rw_check(&s, (uint32_t)ph, (uint64_t)i * 3, 1, 10 + (uint64_t)i);
	queue_depth(&s, (uint32_t)ph, s.last_lba + 1, 8, (unsigned)t_scale(2000, 100));
	bad_commands(&s, (uint32_t)ph, false);
	T_EQ(t_release(fd, s.ctxid, ph), 0);
	/* virtual */
	T_EQ(t_uvirtual(fd, s.ctxid, 2 * CHUNK, 0, &vh, &last), 0);
	T_EQ(last, 2 * CHUNK - 1);
	rw_check(&s, (uint32_t)vh, CHUNK - 3, 6, 20);        /* spans the chunk boundary */
	rw_check(&s, (uint32_t)vh, 2 * CHUNK - 1, 1, 21);
	queue_depth(&s, (uint32_t)vh, 2 * CHUNK, 8, (unsigned)t_scale(2000, 100));
	bad_commands(&s, (uint32_t)vh, true);
	/* a read-only context on the same LUN cannot write */
	T_EQ(t_sisl_attach(&ro, fd, O_RDONLY, sq, 8), 0);
	{
		uint64_t rh;
		uint8_t *b = blocks(1);

		T_EQ(t_uvirtual(fd, ro.ctxid, CHUNK, 0, &rh, NULL), 0);
		T_EQ(t_sisl_rw(&ro, (uint32_t)rh, 0, 1, b, false), 0);
		T_ASSERT(t_sisl_rw(&ro, (uint32_t)rh, 0, 1, b, true) != 0);
		T_EQ(ro.cmds[0].sa.rc.afu_rc, SISL_AFU_RC_RHT_RW_PERM);
		free(b);
	}
	t_sisl_detach(&ro, true);
	t_sisl_detach(&s, true);
	T_EQ(cxlflash_close(fd), 0);
}

int main(void)
{
	char name[4200];

	setenv("CXLFLASH_LOG", "quiet", 0);
	run_lun("ram:1G", true);
	run_lun("ram:1G", false);
	snprintf(name, sizeof(name), "file:%s?size=1G", t_path("raw_io.img"));
	run_lun(name, true);
	run_lun(name, false);
	unlink(t_path("raw_io.img"));
	return T_PASS;
}
