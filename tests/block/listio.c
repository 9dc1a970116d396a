/* SPDX-License-Identifier: Apache-2.0 */
/*
 * listio.c - cblk_listio: issue + wait on the same items and on copies,
 * issue then poll through the pending list with a completion list, user
 * tags and user status words, invalid items, IBM's argument checks (EINVAL
 * before anything is issued), ETIMEDOUT, EWOULDBLOCK and
 * CBLK_LISTIO_WAIT_ISSUE_CMD, in both completion models.
 */
#include "blk_afu.h"

#include <time.h>

#define N 16

static void msleep(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

static void prep(cblk_io_t *io, uint8_t type, void *buf, uint64_t lba, size_t n)
{
	memset(io, 0, sizeof(*io));
	io->request_type = type;
	io->buf = buf;
	io->lba = (cflash_offset_t)lba;
	io->nblocks = n;
}

/* Issue N writes and wait on the same objects; then N reads waited on as copies. */
static void issue_and_wait(int oflags)
{
	chunk_id_t id = bt_open("ram:1G", 64, O_RDWR, oflags);
	uint8_t *w = bt_buf(N * 2), *r = bt_buf(N * 2);
	cblk_io_t io[N], cp[N], *il[N], *wl[N];
	int ncomp = 0;

	for (int i = 0; i < N; i++) {
		t_pattern_fill(w + (size_t)i * 2 * BLK, 2 * BLK, 4, 10 + (uint64_t)i * 2);
		prep(&io[i], CBLK_IO_TYPE_WRITE, w + (size_t)i * 2 * BLK, 10 + (uint64_t)i * 2, 2);
		il[i] = &io[i];
	}
	T_EQ(cblk_listio(id, il, N, NULL, 0, il, N, NULL, &ncomp, 0, 0), 0);
	for (int i = 0; i < N; i++) {
		T_EQ(io[i].stat.status, CBLK_ARW_STATUS_SUCCESS);
		T_EQ(io[i].stat.blocks_transferred, 2);
	}
	for (int i = 0; i < N; i++) {
		prep(&io[i], CBLK_IO_TYPE_READ, r + (size_t)i * 2 * BLK, 10 + (uint64_t)i * 2, 2);
		cp[i] = io[i];
		wl[i] = &cp[i];
	}
	ncomp = 0;
	T_EQ(cblk_listio(id, il, N, NULL, 0, wl, N, NULL, &ncomp, 1000000, 0), 0);
	T_EQ(ncomp, 0);
	for (int i = 0; i < N; i++) {
		T_EQ(cp[i].stat.status, CBLK_ARW_STATUS_SUCCESS);
		T_EQ(cp[i].stat.blocks_transferred, 2);
		T_EQ(t_pattern_check(r + (size_t)i * 2 * BLK, 2 * BLK, 4, 10 + (uint64_t)i * 2), 0);
	}
	T_EQ(cblk_close(id, 0), 0);
	free(w);
	free(r);
}

static void iw_thread(void) { issue_and_wait(0); }
static void iw_polled(void) { issue_and_wait(CBLK_OPN_NO_INTRP_THREADS); }

/* Issue without waiting, then poll with the pending list; completions are copied out. */
static void issue_then_poll(int oflags)
{
	chunk_id_t id = bt_open("ram:1G", 64, O_RDWR, oflags);
	uint8_t *r = bt_buf(N);
	cblk_io_t io[N], comp[N], *il[N], *cl[N], *pl[N];
	int ncomp = N, total = 0, seen[N] = { 0 };

	for (int i = 0; i < N; i++) {
		prep(&io[i], CBLK_IO_TYPE_READ, r + (size_t)i * BLK, (uint64_t)i, 1);
		if (i & 1) {
			io[i].flags = CBLK_IO_USER_TAG;
			io[i].tag = 5000 + i;
		}
		il[i] = &io[i];
		cl[i] = &comp[i];
	}
	memset(comp, 0, sizeof(comp));
	T_EQ(cblk_listio(id, il, N, NULL, 0, NULL, 0, cl, &ncomp, 0, 0), 0);
	total = ncomp;
	for (int i = 0; i < N; i++)
		if (i & 1)
			T_EQ(io[i].tag, 5000 + i);
	for (int loops = 0; total < N; loops++) {
		int np = 0;

		/* Polls that find nothing let the AFU and completion threads
		 * have the CPU (a loaded machine gave them none in 100,000
		 * busy polls); a hang is still caught (about 10 s). */
		T_ASSERT(loops < 100000);
		if (loops >= 1000)
			usleep(100);

		/* only the items still pending: IBM's check wants a completion
		 * slot for each */
		for (int i = 0; i < N; i++)
			if (io[i].stat.status == CBLK_ARW_STATUS_PENDING)
				pl[np++] = &io[i];
		T_EQ(np, N - total);
		ncomp = N - total;
		T_EQ(cblk_listio(id, NULL, 0, pl, np, NULL, 0, cl + total, &ncomp, 0, 0), 0);
		total += ncomp;
	}
	T_EQ(total, N);
	for (int i = 0; i < N; i++) {
		T_EQ(io[i].stat.status, CBLK_ARW_STATUS_SUCCESS);
		T_EQ(comp[i].stat.status, CBLK_ARW_STATUS_SUCCESS);
		T_EQ(comp[i].stat.blocks_transferred, 1);
		T_ASSERT(comp[i].buf >= (void *)r && comp[i].buf < (void *)(r + N * BLK));
		seen[((uint8_t *)comp[i].buf - r) / BLK]++;
	}
	for (int i = 0; i < N; i++)
		T_EQ(seen[i], 1);
	/* nothing left to reap */
	{
		uint64_t st;
		int tag;

		T_ERRNO(cblk_aresult(id, &tag, &st, CBLK_ARESULT_NEXT_TAG), ENOENT);
	}
	T_EQ(cblk_close(id, 0), 0);
	free(r);
}

static void ip_thread(void) { issue_then_poll(0); }
static void ip_polled(void) { issue_then_poll(CBLK_OPN_NO_INTRP_THREADS); }

static void bad_items(void)
{
	chunk_id_t id = bt_open("ram:1G", 8, O_RDWR, 0);
	uint8_t *b = bt_buf(1);
	cblk_io_t io[3], *il[3] = { &io[0], &io[1], &io[2] };
	int ncomp = 0;

	/* an unknown type is INVALID, a bad LBA FAIL: the call itself succeeds */
	prep(&io[1], 9, b, 0, 1);
	prep(&io[2], CBLK_IO_TYPE_READ, b, 300000, 1);
	T_EQ(cblk_listio(id, il + 1, 2, NULL, 0, il + 1, 2, NULL, &ncomp, 0, 0), 0);
	T_EQ(io[1].stat.status, CBLK_ARW_STATUS_INVALID);
	T_EQ(io[1].stat.fail_errno, EINVAL);
	T_EQ(io[2].stat.status, CBLK_ARW_STATUS_FAIL);
	T_EQ(io[2].stat.fail_errno, EINVAL);

	T_ERRNO(cblk_listio(id, NULL, 2, NULL, 0, NULL, 0, NULL, &ncomp, 0, 0), EINVAL);
	T_ERRNO(cblk_listio(id, NULL, 0, NULL, 1, NULL, 0, NULL, &ncomp, 0, 0), EINVAL);
	T_ERRNO(cblk_listio(id, NULL, 0, NULL, 0, NULL, 3, NULL, &ncomp, 0, 0), EINVAL);
	ncomp = 2;
	T_ERRNO(cblk_listio(id, il, 1, NULL, 0, NULL, 0, NULL, &ncomp, 0, 0), EINVAL);
	T_ERRNO(cblk_listio(id, il, -1, NULL, 0, NULL, 0, NULL, NULL, 0, 0), EINVAL);
	T_ERRNO(cblk_listio(id + 100, il, 1, NULL, 0, NULL, 0, NULL, NULL, 0, 0), EINVAL);
	T_EQ(cblk_close(id, 0), 0);
	free(b);
}

/*
 * IBM's argument checks: each fails the whole call with EINVAL before any
 * item is issued (the items keep the status they had, nothing is left for
 * cblk_aresult to reap).
 */
static void nothing_issued(chunk_id_t id, cblk_io_t *io, int n)
{
	uint64_t st;
	int tag;

	for (int i = 0; i < n; i++)
		T_EQ(io[i].stat.status, (cblk_status_type_t)77);
	T_ERRNO(cblk_aresult(id, &tag, &st, CBLK_ARESULT_NEXT_TAG), ENOENT);
}

static void ibm_arg_checks(void)
{
	chunk_id_t id = bt_open("ram:1G", 16, O_RDWR, CBLK_OPN_NO_INTRP_THREADS);
	uint8_t *b = bt_buf(4);
	cblk_io_t io[4], comp[4], *il[4], *cl[4];
	int ncomp;

	for (int i = 0; i < 4; i++) {
		prep(&io[i], CBLK_IO_TYPE_READ, b + (size_t)i * BLK, (uint64_t)i, 1);
		io[i].stat.status = (cblk_status_type_t)77;
		il[i] = &io[i];
		cl[i] = &comp[i];
	}
	/* a NULL completion_items */
	T_ERRNO(cblk_listio(id, il, 1, NULL, 0, il, 1, cl, NULL, 0, 0), EINVAL);
	nothing_issued(id, io, 4);
	/* all three lists empty, with or without completion room */
	ncomp = 0;
	T_ERRNO(cblk_listio(id, NULL, 0, NULL, 0, NULL, 0, NULL, &ncomp, 0, 0), EINVAL);
	ncomp = 4;
	T_ERRNO(cblk_listio(id, il, 0, il, 0, il, 0, cl, &ncomp, 0, 0), EINVAL);
	T_EQ(ncomp, 4);
	/* an issue item with a NULL buffer fails the call, not just the item */
	io[2].buf = NULL;
	ncomp = 4;
	T_ERRNO(cblk_listio(id, il, 4, NULL, 0, NULL, 0, cl, &ncomp, 0, 0), EINVAL);
	T_EQ(ncomp, 4);
	nothing_issued(id, io, 4);
	io[2].buf = b + 2 * BLK;
	/* a NULL item in the issue list likewise */
	il[3] = NULL;
	T_ERRNO(cblk_listio(id, il, 4, NULL, 0, il, 3, cl, &ncomp, 0, 0), EINVAL);
	nothing_issued(id, io, 4);
	il[3] = &io[3];
	/* wait + completion slots fewer than issue + pending items */
	ncomp = 2;
	T_ERRNO(cblk_listio(id, il, 4, NULL, 0, il, 1, cl, &ncomp, 0, 0), EINVAL);
	nothing_issued(id, io, 4);
	ncomp = 0;
	T_ERRNO(cblk_listio(id, il, 4, NULL, 0, NULL, 0, NULL, &ncomp, 0, 0), EINVAL);
	T_ERRNO(cblk_listio(id, NULL, 0, il, 2, il, 1, NULL, &ncomp, 0, 0), EINVAL);
	nothing_issued(id, io, 4);
	/* exactly enough: 4 issued, 1 waited for, 3 completion slots */
	ncomp = 3;
	T_EQ(cblk_listio(id, il, 4, NULL, 0, il, 1, cl, &ncomp, 0, 0), 0);
	T_EQ(io[0].stat.status, CBLK_ARW_STATUS_SUCCESS);
	T_ASSERT(ncomp >= 0 && ncomp <= 3);
	{
		cblk_io_t *pl[3];
		int np = 0, got = ncomp;

		for (int loops = 0; got < 3; loops++) {
			T_ASSERT(loops < 100000);
			np = 0;
			for (int i = 1; i < 4; i++)
				if (io[i].stat.status == CBLK_ARW_STATUS_PENDING)
					pl[np++] = &io[i];
			ncomp = np;
			T_EQ(cblk_listio(id, NULL, 0, pl, np, NULL, 0, cl + got, &ncomp, 0, 0), 0);
			got += ncomp;
		}
	}
	for (int i = 0; i < 4; i++)
		T_EQ(io[i].stat.status, CBLK_ARW_STATUS_SUCCESS);
	T_EQ(cblk_close(id, 0), 0);
	free(b);
}

/* The AFU holds the request: the wait times out, then completes later. */
static void timeout(void)
{
	chunk_id_t id = bt_open("ram:1G", 8, O_RDWR, 0);
	uint8_t *b = bt_buf(1);
	cblk_io_t io, *il[1] = { &io };
	struct timespec t0, t1;
	int ncomp = 0;
	long us;

	prep(&io, CBLK_IO_TYPE_READ, b, 0, 1);
	bt_pause(id);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	T_ERRNO(cblk_listio(id, il, 1, NULL, 0, il, 1, NULL, &ncomp, 30000, 0), ETIMEDOUT);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	us = (t1.tv_sec - t0.tv_sec) * 1000000L + (t1.tv_nsec - t0.tv_nsec) / 1000;
	T_ASSERT(us >= 30000 && us < 2000000L * T_SLOW);
	T_EQ(io.stat.status, CBLK_ARW_STATUS_PENDING);
	bt_resume(id);
	T_EQ(cblk_listio(id, NULL, 0, il, 1, il, 1, NULL, &ncomp, 0, 0), 0);
	T_EQ(io.stat.status, CBLK_ARW_STATUS_SUCCESS);
	T_EQ(cblk_close(id, 0), 0);
	free(b);
}

/* Depth 4, 8 items: EWOULDBLOCK without WAIT_ISSUE_CMD; all issued with it. */
static void issue_waits(void)
{
	chunk_id_t id = bt_open("ram:1G", 4, O_RDWR, 0);
	uint8_t *b = bt_buf(8);
	cblk_io_t io[8], comp[8], *il[8], *cl[8];
	int fails = 0, ncomp = 8;

	for (int i = 0; i < 8; i++) {
		prep(&io[i], CBLK_IO_TYPE_READ, b + (size_t)i * BLK, (uint64_t)i, 1);
		il[i] = &io[i];
		cl[i] = &comp[i];
	}
	bt_pause(id);
	T_ERRNO(cblk_listio(id, il, 8, NULL, 0, NULL, 0, cl, &ncomp, 0, 0), EWOULDBLOCK);
	T_EQ(ncomp, 4);   /* the four that failed are final: copied out */
	for (int i = 0; i < 8; i++) {
		if (io[i].stat.status == CBLK_ARW_STATUS_FAIL) {
			T_EQ(io[i].stat.fail_errno, EWOULDBLOCK);
			fails++;
		} else {
			T_EQ(io[i].stat.status, CBLK_ARW_STATUS_PENDING);
		}
	}
	T_EQ(fails, 4);
	bt_resume(id);
	ncomp = 0;
	T_EQ(cblk_listio(id, NULL, 0, il, 8, il, 8, NULL, &ncomp, 0, 0), 0);

	/* User status words free their commands at completion: WAIT_ISSUE_CMD gets them all out. */
	for (int i = 0; i < 8; i++)
		io[i].flags = CBLK_IO_USER_STATUS;
	T_EQ(cblk_listio(id, il, 8, NULL, 0, il, 8, NULL, &ncomp, 0, CBLK_LISTIO_WAIT_ISSUE_CMD), 0);
	for (int i = 0; i < 8; i++)
		T_EQ(io[i].stat.status, CBLK_ARW_STATUS_SUCCESS);
	T_EQ(cblk_close(id, 0), 0);
	free(b);
}

/* IBM's blocklistio pattern: issue with user status, then watch the words. */
static void user_status_watch(void)
{
	chunk_id_t id = bt_open("ram:1G", 64, O_RDWR, CBLK_OPN_VIRT_LUN);
	chunk_id_t np = bt_open("ram:512M", 8, O_RDWR, CBLK_OPN_NO_INTRP_THREADS);
	uint8_t *b = bt_buf(N);
	cblk_io_t io[N], *il[N], comp[N], *cl[N];
	int ncomp = N, done = 0;

	T_EQ(cblk_set_size(id, 1000, 0), 0);
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < N; i++) {
			prep(&io[i], CBLK_IO_TYPE_READ, b + (size_t)i * BLK, (uint64_t)i * 2, 1);
			io[i].flags = CBLK_IO_USER_STATUS;
			il[i] = &io[i];
			cl[i] = &comp[i];
		}
		ncomp = N;
		T_EQ(cblk_listio(id, il, N, NULL, 0, NULL, 0, cl, &ncomp, 0, 0), 0);
		for (int loops = 0;; loops++) {
			done = 0;
			for (int i = 0; i < N; i++)
				done += __atomic_load_n(&io[i].stat.status, __ATOMIC_ACQUIRE) ==
					CBLK_ARW_STATUS_SUCCESS;
			if (done == N)
				break;
			T_ASSERT(loops < 5000);
			msleep(1);
		}
	}
	/* without a completion thread a status word is refused */
	prep(&io[0], CBLK_IO_TYPE_READ, b, 0, 1);
	io[0].flags = CBLK_IO_USER_STATUS;
	ncomp = 1;
	T_EQ(cblk_listio(np, il, 1, NULL, 0, NULL, 0, cl, &ncomp, 0, 0), 0);
	T_EQ(ncomp, 1);
	T_EQ(io[0].stat.status, CBLK_ARW_STATUS_FAIL);
	T_EQ(io[0].stat.fail_errno, EINVAL);
	T_EQ(cblk_close(np, 0), 0);
	T_EQ(cblk_close(id, 0), 0);
	free(b);
}

int main(void)
{
	T_RUN(iw_thread);
	T_RUN(iw_polled);
	T_RUN(ip_thread);
	T_RUN(ip_polled);
	T_RUN(bad_items);
	T_RUN(ibm_arg_checks);
	T_RUN(timeout);
	T_RUN(issue_waits);
	T_RUN(user_status_watch);
	return T_PASS;
}
