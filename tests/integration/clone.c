/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: VLUN_CLONE at the master, with the caller identities a
 * forked child would have (its own, its parent's): the child's context gets
 * the parent's vLUNs at the same handles, sharing chunks, with ANDed
 * permissions; the rules (src == dst, non-empty destination, a source not
 * owned by the parent, the parent's pid recycled by another process, a LUN
 * not in virtual mode); the parent releasing
 * while the child still reads (no scrub while a clone maps a chunk); private
 * growth; rollback when the sync fails part-way.
 */
#include "t_util.h"

#include <fcntl.h>
#include <unistd.h>

#include "afu/afu.h"
#include "master/embedded.h"
#include "master/master.h"
#include "t_sisl.h"

#define CHUNK 65536ull

/* Identities as the server makes them (pid, never-reused id); local
 * callers, so no pidfd is watched. */
#define ID(pid) { (pid), 0x70000000ull + (pid) }
static const struct mcaller parent = { .id = ID(4000), .parent = ID(1), .pidfd = -1 };
static const struct mcaller child = { .id = ID(4001), .parent = ID(4000), .pidfd = -1 };
static const struct mcaller stranger = { .id = ID(4002), .parent = ID(1), .pidfd = -1 };
/* The parent's pid, recycled by another process: not the parent. */
static const struct mcaller recycled = { .id = { 4000, 0x7fff0000ull }, .parent = ID(1),
					 .pidfd = -1 };
static const struct mcaller recycled_child = { .id = ID(4003), .parent = { 4000, 0x7fff0000ull },
					       .pidfd = -1 };

static int req(struct mopen *o, const struct mcaller *who, unsigned long r, void *arg)
{
	int rc = master_ioctl(o, who, r, arg);

	errno = rc < 0 ? -rc : 0;
	return rc ? -1 : 0;
}

static void attach_as(struct mopen *o, int fd, const struct mcaller *who, int oflags,
		      struct t_sisl *s)
{
	struct dk_cxlflash_attach a = { 0 };

	a.hdr.flags = (uint64_t)oflags;
	T_EQ(req(o, who, DK_CXLFLASH_ATTACH, &a), 0);
	T_EQ(t_sisl_map(s, fd, &a, true, 16), 0);
}

static uint64_t uvirtual_as(struct mopen *o, const struct mcaller *who, uint64_t ctxid,
			    uint64_t size, uint64_t flags)
{
	struct dk_cxlflash_uvirtual v = { 0 };

	v.hdr.flags = flags;
	v.context_id = ctxid;
	v.lun_size = size;
	T_EQ(req(o, who, DK_CXLFLASH_USER_VIRTUAL, &v), 0);
	return v.rsrc_handle;
}

static int clone_as(struct mopen *o, const struct mcaller *who, uint64_t src, uint64_t dst)
{
	struct dk_cxlflash_clone c = { 0 };

	c.context_id_src = src;
	c.context_id_dst = dst;
	return req(o, who, DK_CXLFLASH_VLUN_CLONE, &c);
}

static int resize_as(struct mopen *o, const struct mcaller *who, uint64_t ctxid, uint64_t h,
		     uint64_t size)
{
	struct dk_cxlflash_resize r = { 0 };

	r.context_id = ctxid;
	r.rsrc_handle = h;
	r.req_size = size;
	return req(o, who, DK_CXLFLASH_VLUN_RESIZE, &r);
}

static int release_as(struct mopen *o, const struct mcaller *who, uint64_t ctxid, uint64_t h)
{
	struct dk_cxlflash_release r = { 0 };

	r.context_id = ctxid;
	r.rsrc_handle = h;
	return req(o, who, DK_CXLFLASH_RELEASE, &r);
}

static int detach_as(struct mopen *o, const struct mcaller *who, uint64_t ctxid)
{
	struct dk_cxlflash_detach d = { 0 };

	d.context_id = ctxid;
	return req(o, who, DK_CXLFLASH_DETACH, &d);
}

static void test_clone(void)
{
	int fd = cxlflash_open("ram:2G", O_RDWR); /* 8 chunks */
	struct mopen *o = cxlflash_debug_open(fd);
	struct t_sisl ps, cs, xs, ys;
	uint64_t h, h2;
	void *b = aligned_alloc(4096, 4096);

	T_ASSERT(fd >= 0 && o && b);
	attach_as(o, fd, &parent, O_RDWR, &ps);
	h = uvirtual_as(o, &parent, ps.ctxid, 2 * CHUNK, DK_CXLFLASH_UVIRTUAL_NEED_WRITE_SAME);
	h2 = uvirtual_as(o, &parent, ps.ctxid, CHUNK, 0);
	for (uint64_t lba = 0; lba < 2 * CHUNK; lba += CHUNK - 1) {
		t_pattern_fill(b, 4096, 11, lba);
		T_EQ(t_sisl_rw(&ps, (uint32_t)h, lba, 1, b, true), 0);
	}
	attach_as(o, fd, &child, O_RDONLY, &cs);

	/* the rules */
	T_ERRNO(clone_as(o, &child, cs.ctxid, cs.ctxid), EINVAL);
	T_ERRNO(clone_as(o, &stranger, ps.ctxid, cs.ctxid), EINVAL);  /* not the parent's */
	T_ERRNO(clone_as(o, &parent, ps.ctxid, cs.ctxid), EINVAL);    /* dst not the caller's */
	attach_as(o, fd, &stranger, O_RDWR, &xs);
	uvirtual_as(o, &stranger, xs.ctxid, 0, 0);
	T_ERRNO(clone_as(o, &stranger, ps.ctxid, xs.ctxid), EINVAL);
	/* a process that got the parent's pid again owns nothing of the
	 * parent's, and its child clones nothing (issue 12) */
	T_ERRNO(resize_as(o, &recycled, ps.ctxid, h2, 2 * CHUNK), EINVAL);
	T_ERRNO(detach_as(o, &recycled, ps.ctxid), EINVAL);
	attach_as(o, fd, &recycled_child, O_RDWR, &ys);
	T_ERRNO(clone_as(o, &recycled_child, ps.ctxid, ys.ctxid), EINVAL);
	T_EQ(detach_as(o, &recycled_child, ys.ctxid), 0);
	t_sisl_detach(&ys, false);

	/* the clone: same handles, shared data, read-only */
	T_EQ(clone_as(o, &child, ps.ctxid, cs.ctxid), 0);
	t_check_master(fd);
	for (uint64_t lba = 0; lba < 2 * CHUNK; lba += CHUNK - 1) {
		memset(b, 0, 4096);
		T_EQ(t_sisl_rw(&cs, (uint32_t)h, lba, 1, b, false), 0);
		T_EQ(t_pattern_check(b, 4096, 11, lba), 0);
	}
	T_ASSERT(t_sisl_rw(&cs, (uint32_t)h, 0, 1, b, true) != 0);
	T_EQ(cs.cmds[0].sa.rc.afu_rc, SISL_AFU_RC_RHT_RW_PERM);
	T_ERRNO(clone_as(o, &child, ps.ctxid, cs.ctxid), EINVAL);    /* dst not empty now */

	/* the parent lets go: chunks stay (and are not scrubbed) for the child */
	T_EQ(release_as(o, &parent, ps.ctxid, h), 0);
	t_check_master(fd);
	T_EQ(t_sisl_rw(&cs, (uint32_t)h, CHUNK - 1, 1, b, false), 0);
	T_EQ(t_pattern_check(b, 4096, 11, CHUNK - 1), 0);

	/* the child grows privately */
	T_EQ(resize_as(o, &child, cs.ctxid, h2, 3 * CHUNK), 0);
	t_check_master(fd);
	T_EQ(detach_as(o, &child, cs.ctxid), 0);
	t_check_master(fd);
	T_EQ(detach_as(o, &parent, ps.ctxid), 0);
	T_EQ(detach_as(o, &stranger, xs.ctxid), 0);
	t_check_master(fd);
	t_sisl_detach(&ps, false);
	t_sisl_detach(&cs, false);
	t_sisl_detach(&xs, false);
	free(b);
	cxlflash_close(fd);
}

static void test_physical_lun_refused(void)
{
	int fd = cxlflash_open("ram:1G", O_RDWR);
	struct mopen *o = cxlflash_debug_open(fd);
	struct dk_cxlflash_udirect d = { 0 };
	struct t_sisl ps, cs;

	T_ASSERT(fd >= 0 && o);
	attach_as(o, fd, &parent, O_RDWR, &ps);
	d.context_id = ps.ctxid;
	T_EQ(req(o, &parent, DK_CXLFLASH_USER_DIRECT, &d), 0);
	attach_as(o, fd, &child, O_RDWR, &cs);
	T_ERRNO(clone_as(o, &child, ps.ctxid, cs.ctxid), EINVAL);
	T_EQ(detach_as(o, &child, cs.ctxid), 0);
	T_EQ(detach_as(o, &parent, ps.ctxid), 0);
	t_sisl_detach(&ps, false);
	t_sisl_detach(&cs, false);
	cxlflash_close(fd);
}

static void test_rollback(void)
{
	int fd = cxlflash_open("ram:2G", O_RDWR);
	struct mopen *o = cxlflash_debug_open(fd);
	struct t_sisl ps, cs;

	T_ASSERT(fd >= 0 && o);
	attach_as(o, fd, &parent, O_RDWR, &ps);
	uvirtual_as(o, &parent, ps.ctxid, 2 * CHUNK, 0);
	uvirtual_as(o, &parent, ps.ctxid, 3 * CHUNK, 0);
	uvirtual_as(o, &parent, ps.ctxid, CHUNK, 0);
	attach_as(o, fd, &child, O_RDWR, &cs);
	/* the AFU sync fails: the clone is undone (chunk references, handles, users) */
	afu_inject_sync_error(o->m->afu, 1);
	T_ERRNO(clone_as(o, &child, ps.ctxid, cs.ctxid), EAGAIN);
	t_check_master(fd);
	/* the destination is empty again, so a retry works */
	T_EQ(clone_as(o, &child, ps.ctxid, cs.ctxid), 0);
	t_check_master(fd);
	T_EQ(detach_as(o, &parent, ps.ctxid), 0);
	T_EQ(detach_as(o, &child, cs.ctxid), 0);
	t_check_master(fd);
	t_sisl_detach(&ps, false);
	t_sisl_detach(&cs, false);
	cxlflash_close(fd);
}

int main(void)
{
	setenv("CXLFLASH_LOG", "quiet", 0);
	T_RUN(test_clone);
	T_RUN(test_physical_lun_refused);
	T_RUN(test_rollback);
	return T_PASS;
}
