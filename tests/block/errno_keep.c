/* SPDX-License-Identifier: Apache-2.0 */
/*
 * errno_keep.c - no library call changes errno when it succeeds (IBM's
 * block tests read errno after successful calls). Every cblk_* call, the
 * group and RAID0 calls, clone after fork, and cxlflash_open/ioctl/close
 * run with errno set to a sentinel first, in both completion models, on
 * physical and virtual chunks, and with blocking waits that outlast the
 * library's futex naps (their timeouts once leaked ETIMEDOUT).
 *
 * CXLFLASH_TEST_LUN names the LUN (default ram:1G); tests/daemon/errno_keep
 * runs this program against a cxlflashd, where the AFU cannot be paused.
 */
#include <pthread.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>

#include "blk_afu.h"
#include "client/client.h"

#include <cxlflash/cxlflash_ioctl.h>

#define SENTINEL 4242   /* no errno value */

static const char *g_lun = "ram:1G";
static bool g_embedded = true;

/* Run @call with errno = SENTINEL; fail if it returned @bad or moved errno. */
#define KEEP(call, bad) __extension__({ \
	__typeof__(call) r_; \
	errno = SENTINEL; \
	r_ = (call); \
	if (r_ == (bad) || errno != SENTINEL) { \
		fprintf(stderr, "%s:%d: %s returned %lld, errno %d (%s)\n", __FILE__, \
			__LINE__, #call, (long long)r_, errno, \
			errno == SENTINEL ? "kept" : strerror(errno)); \
		exit(T_FAIL); \
	} \
	r_; })

static void msleep(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

static void prep(cblk_io_t *io, uint8_t type, void *buf, uint64_t lba)
{
	memset(io, 0, sizeof(*io));
	io->request_type = type;
	io->buf = buf;
	io->lba = (cflash_offset_t)lba;
	io->nblocks = 1;
}

/* The sync, async and list calls on an open chunk of at least 64 blocks. */
static void io_calls(chunk_id_t id, int oflags)
{
	uint8_t *b = bt_buf(8), *zero = bt_buf(1);
	cblk_io_t io[4], comp[4], *il[4], *cl[4];
	cblk_arw_status_t st;
	chunk_attrs_t attrs;
	chunk_stats_t stats;
	size_t n = 0;
	uint64_t status;
	int tag, ncomp, rc;

	KEEP(cblk_get_lun_size(id, &n, 0), -1);
	KEEP(cblk_get_size(id, &n, 0), -1);
	T_ASSERT(n >= 64);
	KEEP(cblk_get_attrs(id, &attrs, 0), -1);
	KEEP(cblk_get_stats(id, &stats, 0), -1);
	t_pattern_fill(b, BLK, 9, 3);
	T_EQ(KEEP(cblk_write(id, b, 3, 1, 0), -1), 1);
	T_EQ(KEEP(cblk_read(id, b + BLK, 3, 1, 0), -1), 1);
	T_EQ(t_pattern_check(b + BLK, BLK, 9, 3), 0);
	if (attrs.flags1 & CFLSH_ATTR_UNMAP)
		T_EQ(KEEP(cblk_unmap(id, zero, 4, 1, 0), -1), 1);
	KEEP(cblk_sync(id, 0), -1);

	/* async: blocking and polled results, library and user tags */
	rc = KEEP(cblk_awrite(id, b, 5, 1, &tag, NULL, 0), -1);
	if (rc == 0)
		T_EQ(KEEP(cblk_aresult(id, &tag, &status, CBLK_ARESULT_BLOCKING), -1), 1);
	rc = KEEP(cblk_aread(id, b + BLK, 5, 1, &tag, NULL, 0), -1);
	for (int loops = 0; rc == 0; loops++) {
		T_ASSERT(loops < 1000000);
		rc = KEEP(cblk_aresult(id, &tag, &status, 0), -1);
	}
	tag = 77;
	rc = KEEP(cblk_aread(id, b + BLK, 5, 1, &tag, NULL, CBLK_ARW_USER_TAG_FLAG), -1);
	if (rc == 0)
		T_EQ(KEEP(cblk_aresult(id, &tag, &status,
				       CBLK_ARESULT_USER_TAG | CBLK_ARESULT_BLOCKING), -1), 1);
	rc = KEEP(cblk_aread(id, b + BLK, 6, 1, &tag, NULL, CBLK_ARW_WAIT_CMD_FLAGS), -1);
	if (rc == 0)
		T_EQ(KEEP(cblk_aresult(id, &tag, &status,
				       CBLK_ARESULT_NEXT_TAG | CBLK_ARESULT_BLOCKING), -1), 1);
	if (attrs.flags1 & CFLSH_ATTR_UNMAP) {
		rc = KEEP(cblk_aunmap(id, zero, 7, 1, &tag, NULL, 0), -1);
		if (rc == 0)
			T_EQ(KEEP(cblk_aresult(id, &tag, &status, CBLK_ARESULT_BLOCKING), -1), 1);
	}
	if (!(oflags & CBLK_OPN_NO_INTRP_THREADS)) {
		memset(&st, 0, sizeof(st));
		KEEP(cblk_aread(id, b + BLK, 3, 1, &tag, &st, CBLK_ARW_USER_STATUS_FLAG), -1);
		for (int loops = 0; __atomic_load_n(&st.status, __ATOMIC_ACQUIRE) ==
				    CBLK_ARW_STATUS_PENDING; loops++) {
			T_ASSERT(loops < 5000);
			msleep(1);
		}
		T_EQ(st.status, CBLK_ARW_STATUS_SUCCESS);
	}

	/* list I/O: issue + wait, then issue and poll with completion slots */
	for (int i = 0; i < 4; i++) {
		prep(&io[i], CBLK_IO_TYPE_READ, b + (size_t)i * BLK, (uint64_t)i);
		il[i] = &io[i];
		cl[i] = &comp[i];
	}
	ncomp = 0;
	KEEP(cblk_listio(id, il, 4, NULL, 0, il, 4, NULL, &ncomp, 0, 0), -1);
	ncomp = 0;
	KEEP(cblk_listio(id, il, 4, NULL, 0, il, 4, NULL, &ncomp, 5000000, 0), -1);
	ncomp = 4;
	KEEP(cblk_listio(id, il, 4, NULL, 0, NULL, 0, cl, &ncomp, 0, 0), -1);
	for (int got = ncomp, loops = 0; got < 4; loops++) {
		cblk_io_t *pl[4];
		int np = 0;

		T_ASSERT(loops < 1000000);
		for (int i = 0; i < 4; i++)
			if (io[i].stat.status == CBLK_ARW_STATUS_PENDING)
				pl[np++] = &io[i];
		ncomp = np;
		KEEP(cblk_listio(id, NULL, 0, pl, np, NULL, 0, cl + got, &ncomp, 0, 0), -1);
		got += ncomp;
	}
	free(b);
	free(zero);
}

static void physical(int oflags)
{
	chunk_id_t id;

	KEEP(cblk_init(NULL, 0), -1);
	id = KEEP(cblk_open(g_lun, 16, O_RDWR, 0, oflags), NULL_CHUNK_ID);
	io_calls(id, oflags);
	KEEP(cblk_close(id, 0), -1);
	KEEP(cblk_term(NULL, 0), -1);
}

static void physical_thread(void) { physical(0); }
static void physical_polled(void) { physical(CBLK_OPN_NO_INTRP_THREADS); }

static void virtual(int oflags)
{
	chunk_id_t id = KEEP(cblk_open(g_lun, 16, O_RDWR, 0, oflags | CBLK_OPN_VIRT_LUN),
			     NULL_CHUNK_ID);

	KEEP(cblk_set_size(id, 100000, 0), -1);
	KEEP(cblk_set_size(id, 1000, 0), -1);
	io_calls(id, oflags);
	KEEP(cblk_close(id, 0), -1);
}

static void virtual_thread(void) { virtual(0); }
static void virtual_polled(void) { virtual(CBLK_OPN_NO_INTRP_THREADS); }

/* The AFU is looked up before the thread starts: the chunk may be closing
 * while the thread runs (and must not be looked at then). */
static void *resume_later(void *arg)
{
	msleep(60);
	afu_resume(arg);
	return NULL;
}

/*
 * Blocking calls that wait longer than one futex nap (BLK_SLEEP_CAP_NS,
 * 10 ms): the AFU is paused for 60 ms while they wait.
 */
static void long_waits(int oflags)
{
	chunk_id_t id;
	uint8_t *b;
	cblk_io_t io[2], *il[2] = { &io[0], &io[1] };
	pthread_t t;
	uint64_t status;
	int tag, ncomp;
	chunk_id_t hold;
	struct afu *afu;

	if (!g_embedded)
		return;
	b = bt_buf(4);
	id = KEEP(cblk_open(g_lun, 16, O_RDWR, 0, oflags), NULL_CHUNK_ID);
	afu = bt_afu(id);
	/* blocking aresult */
	bt_pause(id);
	T_EQ(KEEP(cblk_aread(id, b, 1, 1, &tag, NULL, 0), -1), 0);
	T_EQ(pthread_create(&t, NULL, resume_later, afu), 0);
	T_EQ(KEEP(cblk_aresult(id, &tag, &status, CBLK_ARESULT_BLOCKING), -1), 1);
	pthread_join(t, NULL);
	/* a synchronous read */
	bt_pause(id);
	T_EQ(pthread_create(&t, NULL, resume_later, afu), 0);
	T_EQ(KEEP(cblk_read(id, b, 1, 1, 0), -1), 1);
	pthread_join(t, NULL);
	/* listio's wait list, with and without a timeout */
	for (int k = 0; k < 2; k++) {
		prep(&io[0], CBLK_IO_TYPE_READ, b, 1);
		prep(&io[1], CBLK_IO_TYPE_READ, b + BLK, 2);
		bt_pause(id);
		T_EQ(pthread_create(&t, NULL, resume_later, afu), 0);
		ncomp = 0;
		KEEP(cblk_listio(id, il, 2, NULL, 0, il, 2, NULL, &ncomp, k ? 10000000 : 0, 0),
		     -1);
		pthread_join(t, NULL);
		T_EQ(io[1].stat.status, CBLK_ARW_STATUS_SUCCESS);
	}
	/* close waiting for a request in flight; a second chunk on the LUN
	 * keeps the master (and the AFU the thread resumes) alive after it */
	hold = bt_open(g_lun, 4, O_RDWR, oflags);
	bt_pause(id);
	T_EQ(KEEP(cblk_aread(id, b, 1, 1, &tag, NULL, 0), -1), 0);
	T_EQ(pthread_create(&t, NULL, resume_later, afu), 0);
	KEEP(cblk_close(id, 0), -1);
	pthread_join(t, NULL);
	T_EQ(cblk_close(hold, 0), 0);
	free(b);
}

static void long_waits_thread(void) { long_waits(0); }
static void long_waits_polled(void) { long_waits(CBLK_OPN_NO_INTRP_THREADS); }

/* Chunk groups (physical members) and RAID0 (virtual members: one LUN can back them all). */
static void groups(void)
{
	char path[512];
	int kinds[2] = { CBLK_GROUP_ID, CBLK_GROUP_RAID0 };
	uint8_t *b = bt_buf(2);

	snprintf(path, sizeof(path), "%s:%s", g_lun, g_lun);
	for (int k = 0; k < 2; k++) {
		int g = kinds[k];
		const char *p = g == CBLK_GROUP_RAID0 ? path : g_lun;
		chunk_cg_id_t cg = KEEP(cblk_cg_open(p, 16, O_RDWR, 2, 0,
						     g == CBLK_GROUP_RAID0 ?
						     CBLK_OPN_VIRT_LUN | CBLK_GROUP_RAID0 : 0),
					NULL_CHUNK_ID);
		cflsh_cg_tag_t t = { NULL_CHUNK_ID, -1 };
		chunk_attrs_t attrs;
		chunk_stats_t stats;
		uint64_t status;
		size_t n;
		int rc;

		T_EQ(KEEP(cblk_cg_get_num_chunks(cg, g), -1), 2);
		if (g == CBLK_GROUP_RAID0) {
			KEEP(cblk_cg_set_size(cg, 2000, g), -1);
			KEEP(cblk_cg_get_size(cg, &n, g), -1);
			T_EQ(n, 2000);
		}
		KEEP(cblk_cg_get_size(cg, &n, g), -1);
		KEEP(cblk_cg_get_lun_size(cg, &n, g), -1);
		KEEP(cblk_cg_get_stats(cg, &stats, g), -1);
		KEEP(cblk_cg_get_attrs(cg, &attrs, g), -1);
		T_EQ(KEEP(cblk_cg_write(cg, b, 10, 1, g), -1), 1);
		T_EQ(KEEP(cblk_cg_read(cg, b, 10, 1, g), -1), 1);
		T_EQ(KEEP(cblk_read(cg, b, 11, 1, g), -1), 1);   /* the plain call, dispatched */
		KEEP(cblk_cg_sync(cg, g), -1);
		if (attrs.flags1 & CFLSH_ATTR_UNMAP) {
			memset(b + BLK, 0, BLK);
			T_EQ(KEEP(cblk_cg_unmap(cg, b + BLK, 12, 1, g), -1), 1);
			rc = KEEP(cblk_cg_aunmap(cg, b + BLK, 12, 1, &t, NULL, g), -1);
			if (rc == 0)
				T_EQ(KEEP(cblk_cg_aresult(cg, &t, &status,
							  g | CBLK_ARESULT_BLOCKING), -1), 1);
		}
		rc = KEEP(cblk_cg_awrite(cg, b, 13, 1, &t, NULL, g), -1);
		if (rc == 0)
			T_EQ(KEEP(cblk_cg_aresult(cg, &t, &status, g | CBLK_ARESULT_BLOCKING),
				  -1), 1);
		rc = KEEP(cblk_cg_aread(cg, b, 13, 1, &t, NULL, g), -1);
		for (int loops = 0; rc == 0; loops++) {
			T_ASSERT(loops < 1000000);
			rc = KEEP(cblk_cg_aresult(cg, &t, &status, g), -1);
		}
		KEEP(cblk_cg_close(cg, g), -1);
	}
	free(b);
}

#define C_KEEP(call, bad, code) do { \
	errno = SENTINEL; \
	if ((call) == (bad) || errno != SENTINEL) { \
		fprintf(stderr, "child: %s: errno %d\n", #call, errno); \
		_exit(code); \
	} } while (0)

static void in_child(chunk_id_t id, chunk_cg_id_t cg)
{
	uint8_t *b = bt_buf(1);
	int status;
	pid_t pid;

	for (int i = 0; i < 1000 && children_server_connections(); i++)
		msleep(1);
	pid = fork();
	T_ASSERT(pid >= 0);
	if (pid == 0) {
		C_KEEP(cblk_clone_after_fork(id, O_RDONLY, 0), -1, 10);
		C_KEEP(cblk_read(id, b, 0, 1, 0), -1, 11);
		C_KEEP(cblk_cg_clone_after_fork(cg, O_RDONLY, CBLK_GROUP_RAID0), -1, 12);
		C_KEEP(cblk_cg_read(cg, b, 0, 1, CBLK_GROUP_RAID0), -1, 13);
		C_KEEP(cblk_close(id, 0), -1, 14);
		C_KEEP(cblk_cg_close(cg, CBLK_GROUP_RAID0), -1, 15);
		_exit(0);
	}
	T_EQ(waitpid(pid, &status, 0), pid);
	T_ASSERT(WIFEXITED(status));
	T_EQ(WEXITSTATUS(status), 0);
	free(b);
}

static void clone_after_fork(void)
{
	chunk_id_t id;
	chunk_cg_id_t cg;
	char path[512];

	T_SKIP_UNDER_TSAN("the child starts threads while the parent's run");
	id = bt_open_virt(g_lun, 16, 0, 100);

	snprintf(path, sizeof(path), "%s:%s", g_lun, g_lun);
	cg = cblk_cg_open(path, 16, O_RDWR, 2, 0, CBLK_OPN_VIRT_LUN | CBLK_GROUP_RAID0);
	T_ASSERT(cg != NULL_CHUNK_ID);
	T_EQ(cblk_cg_set_size(cg, 100, CBLK_GROUP_RAID0), 0);
	in_child(id, cg);
	KEEP(cblk_cg_close(cg, CBLK_GROUP_RAID0), -1);
	KEEP(cblk_close(id, 0), -1);
}

/* The control API: every request a program makes on the way to I/O. */
static void control(void)
{
	struct dk_cxlflash_attach attach = { 0 };
	struct dk_cxlflash_udirect udirect = { 0 };
	struct dk_cxlflash_uvirtual uvirt = { 0 };
	struct dk_cxlflash_resize resize = { 0 };
	struct dk_cxlflash_release release = { 0 };
	struct dk_cxlflash_verify verify = { 0 };
	struct dk_cxlflash_detach detach = { 0 };
	int fd = KEEP(cxlflash_open(g_lun, O_RDWR), -1);
	void *map;

	attach.hdr.flags = O_RDWR;
	KEEP(cxlflash_ioctl(fd, DK_CXLFLASH_ATTACH, &attach), -1);
	map = mmap(NULL, attach.mmio_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		   (int)attach.adap_fd, 0);
	T_ASSERT(map != MAP_FAILED);
	uvirt.context_id = attach.context_id;
	uvirt.lun_size = 1000;
	KEEP(cxlflash_ioctl(fd, DK_CXLFLASH_USER_VIRTUAL, &uvirt), -1);
	resize.context_id = attach.context_id;
	resize.rsrc_handle = uvirt.rsrc_handle;
	resize.req_size = 200000;
	KEEP(cxlflash_ioctl(fd, DK_CXLFLASH_VLUN_RESIZE, &resize), -1);
	verify.context_id = attach.context_id;
	verify.rsrc_handle = uvirt.rsrc_handle;
	KEEP(cxlflash_ioctl(fd, DK_CXLFLASH_VERIFY, &verify), -1);
	release.context_id = attach.context_id;
	release.rsrc_handle = uvirt.rsrc_handle;
	KEEP(cxlflash_ioctl(fd, DK_CXLFLASH_RELEASE, &release), -1);
	udirect.context_id = attach.context_id;
	udirect.hdr.flags = O_RDWR;
	KEEP(cxlflash_ioctl(fd, DK_CXLFLASH_USER_DIRECT, &udirect), -1);
	detach.context_id = attach.context_id;
	KEEP(cxlflash_ioctl(fd, DK_CXLFLASH_DETACH, &detach), -1);
	munmap(map, attach.mmio_size);
	close((int)attach.adap_fd);
	KEEP(cxlflash_close(fd), -1);
}

/* A plain file LUN: the backend's open, O_DIRECT and io_uring probes. */
static void file_lun(void)
{
	const char *p;
	chunk_id_t id;

	if (!g_embedded)
		return;
	p = bt_file("errno_keep.img", 64ull << 20);
	id = KEEP(cblk_open(p, 16, O_RDWR, 0, 0), NULL_CHUNK_ID);
	io_calls(id, 0);
	KEEP(cblk_close(id, 0), -1);
	unlink(p);
}

int main(void)
{
	const char *lun = getenv("CXLFLASH_TEST_LUN");

	if (lun && *lun) {
		g_lun = lun;
		g_embedded = false;
	}
	T_RUN(physical_thread);
	T_RUN(physical_polled);
	T_RUN(virtual_thread);
	T_RUN(virtual_polled);
	T_RUN(long_waits_thread);
	T_RUN(long_waits_polled);
	T_RUN(groups);
	T_RUN(clone_after_fork);
	T_RUN(control);
	T_RUN(file_lun);
	return T_PASS;
}
