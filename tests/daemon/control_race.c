/* SPDX-License-Identifier: Apache-2.0 */
/*
 * control_race.c - control operations racing live I/O: bystander processes
 * verify their own vLUNs while other processes create vLUNs, grow and
 * shrink them (cblk_set_size and raw VLUN_RESIZE), release them, detach
 * and drop connections in a loop, often on a full LUN. The bystanders see
 * no failed or wrong I/O and no operation slower than 2 s; the churners see
 * only ENOSPC (raw) or ENOMEM (cblk's grow failure) when space runs out,
 * never EIO; the master's invariants hold throughout, and at the end every
 * chunk is free again. A clone churner forks children that clone its vLUN
 * (VLUN_CLONE through the daemon), verify the shared data, grow their own
 * copy and exit, while the parent resizes.
 * Duration: 6 s (CXLFLASH_SOAK=1: 120 s; CXLFLASH_RACE_SECS=N overrides).
 */
#include <cxlflash/cxlflash_ioctl.h>

#include "d_test.h"

#define BYSTANDERS 3
#define CHURN_CBLK 2
#define CHURN_RAW  2
#define CHURN_CLONE_K (CHURN_CBLK + CHURN_RAW) /* index of the clone churner */
#define NCHUNKS    16          /* ram:4G */
#define CHUNK      65536ull    /* blocks */

static struct t_daemon g_d;

static bool space_errno(int e, bool cblk)
{
	return cblk ? e == ENOMEM : e == ENOSPC;
}

/* Open a vLUN, resize it up and down a few times, check a block at its end. */
static int churn_cblk(struct d_shared *sh, int k)
{
	uint64_t seed = (uint64_t)getpid() * 31 + 7;
	uint8_t *w = bt_buf(1), *r = bt_buf(1);

	while (!sh->stop) {
		int flags = CBLK_OPN_VIRT_LUN | (t_rand(&seed) & 1 ? CBLK_OPN_SCRUB_DATA : 0);
		chunk_id_t id = cblk_open("lun0", 4, O_RDWR, 0, flags);
		size_t size = 0;

		if (id == NULL_CHUNK_ID) {
			fprintf(stderr, "churner %d: cblk_open: %s\n", k, strerror(errno));
			return 40;
		}
		for (int i = 0; i < 6 && !sh->stop; i++) {
			size_t want = (size_t)(t_rand(&seed) % (3 * CHUNK)) + 1;

			if (cblk_set_size(id, want, 0)) {
				if (!space_errno(errno, true)) {
					fprintf(stderr, "churner %d: set_size %zu: %s\n", k, want,
						strerror(errno));
					return 41;
				}
				continue;
			}
			if (cblk_get_size(id, &size, 0) || size != want)
				return 42;
			t_pattern_fill(w, BLK, (uint64_t)k << 32 | (uint64_t)i, want - 1);
			if (cblk_write(id, w, (cflash_offset_t)(want - 1), 1, 0) != 1 ||
			    cblk_read(id, r, (cflash_offset_t)(want - 1), 1, 0) != 1) {
				fprintf(stderr, "churner %d: I/O at %zu: %s\n", k, want - 1,
					strerror(errno));
				return 43;
			}
			if (t_pattern_check(r, BLK, (uint64_t)k << 32 | (uint64_t)i, want - 1))
				return 44;
			sh->c[k].ops++;
		}
		if (cblk_close(id, 0)) {
			fprintf(stderr, "churner %d: close: %s\n", k, strerror(errno));
			return 45;
		}
	}
	free(w);
	free(r);
	return 0;
}

/* Raw: attach, a few vLUNs, resize, release some, then detach or just hang up. */
static int churn_raw(struct d_shared *sh, int k)
{
	uint64_t seed = (uint64_t)getpid() * 131 + 3;

	while (!sh->stop) {
		int fd1 = cxlflash_open("lun0", O_RDWR);
		struct dk_cxlflash_attach a = { 0 };
		uint64_t handles[4];
		unsigned nh = 0;

		if (fd1 < 0)
			return 50;
		a.hdr.flags = O_RDWR;
		a.num_interrupts = 4;
		if (cxlflash_ioctl(fd1, DK_CXLFLASH_ATTACH, &a)) {
			fprintf(stderr, "raw churner %d: attach: %s\n", k, strerror(errno));
			return 51;
		}
		for (unsigned i = 0; i < 1 + t_rand(&seed) % 4; i++) {
			struct dk_cxlflash_uvirtual v = { 0 };

			v.context_id = a.context_id;
			v.lun_size = t_rand(&seed) % (2 * CHUNK);
			if (t_rand(&seed) & 1)
				v.hdr.flags = DK_CXLFLASH_UVIRTUAL_NEED_WRITE_SAME;
			if (cxlflash_ioctl(fd1, DK_CXLFLASH_USER_VIRTUAL, &v)) {
				if (!space_errno(errno, false)) {
					fprintf(stderr, "raw churner %d: uvirtual: %s\n", k,
						strerror(errno));
					return 52;
				}
				continue;
			}
			handles[nh++] = v.rsrc_handle;
		}
		for (unsigned i = 0; nh && i < 8 && !sh->stop; i++) {
			struct dk_cxlflash_resize rs = { 0 };

			rs.context_id = a.context_id;
			rs.rsrc_handle = handles[t_rand(&seed) % nh];
			rs.req_size = t_rand(&seed) % (3 * CHUNK);
			if (cxlflash_ioctl(fd1, DK_CXLFLASH_VLUN_RESIZE, &rs)) {
				if (!space_errno(errno, false) && errno != EAGAIN) {
					fprintf(stderr, "raw churner %d: resize to %llu: %s\n", k,
						(unsigned long long)rs.req_size, strerror(errno));
					return 53;
				}
				continue;
			}
			/* Granted: all of it, or (grow) a partial amount. */
			if (rs.last_lba != UINT64_MAX && rs.last_lba + 1 > ((rs.req_size + CHUNK - 1) /
									 CHUNK) * CHUNK)
				return 54;
			sh->c[k].ops++;
		}
		for (unsigned i = 0; i < nh; i++) {
			struct dk_cxlflash_release rl = { 0 };

			if (t_rand(&seed) % 3 == 0)
				continue;           /* left for DETACH / hang-up */
			rl.context_id = a.context_id;
			rl.rsrc_handle = handles[i];
			if (cxlflash_ioctl(fd1, DK_CXLFLASH_RELEASE, &rl)) {
				fprintf(stderr, "raw churner %d: release: %s\n", k, strerror(errno));
				return 55;
			}
		}
		if (t_rand(&seed) % 4) {
			struct dk_cxlflash_detach d = { 0 };

			d.context_id = a.context_id;
			if (cxlflash_ioctl(fd1, DK_CXLFLASH_DETACH, &d)) {
				fprintf(stderr, "raw churner %d: detach: %s\n", k, strerror(errno));
				return 56;
			}
		}
		close((int)a.adap_fd); /* ours to close (APP_CLOSE_ADAP_FD) */
		cxlflash_close(fd1);
	}
	return 0;
}

/* A child's turn: clone the parent's vLUN, check it, grow it, go. */
static int clone_child(chunk_id_t id, uint64_t tag)
{
	uint8_t *b = bt_buf(1);
	size_t size = 0;

	if (cblk_clone_after_fork(id, O_RDWR, 0))
		return 60;
	if (cblk_read(id, b, 7, 1, 0) != 1 || t_pattern_check(b, BLK, tag, 7))
		return 61;
	if (cblk_get_size(id, &size, 0))
		return 62;
	if (cblk_set_size(id, size + CHUNK, 0) == 0) {
		t_pattern_fill(b, BLK, tag + 1, size + CHUNK - 1);
		if (cblk_write(id, b, (cflash_offset_t)(size + CHUNK - 1), 1, 0) != 1)
			return 63;
	} else if (errno != ENOMEM) {
		return 64;
	}
	return cblk_close(id, 0) ? 65 : 0;
}

/* Under ThreadSanitizer the parent polls (no completion thread): TSan's
 * runtime cannot follow a child that starts threads (the clone does) when
 * it was forked while other threads ran. */
#ifdef T_TSAN
#define CLONE_PARENT_FLAGS (CBLK_OPN_VIRT_LUN | CBLK_OPN_NO_INTRP_THREADS)
#else
#define CLONE_PARENT_FLAGS CBLK_OPN_VIRT_LUN
#endif

static int churn_clone(struct d_shared *sh, int k)
{
	chunk_id_t id = cblk_open("lun0", 4, O_RDWR, 0, CLONE_PARENT_FLAGS);
	uint64_t tag = (uint64_t)getpid() << 8;
	uint8_t *b = bt_buf(1);

	if (id == NULL_CHUNK_ID) {
		fprintf(stderr, "clone churner %d: cblk_open: %s\n", k, strerror(errno));
		return 66;
	}
	/* The other churners often hold every chunk: wait for one (ENOMEM is
	 * the cblk grow failure the test expects on a full LUN). */
	while (cblk_set_size(id, 1024, 0)) {
		if (!space_errno(errno, true) || sh->stop) {
			fprintf(stderr, "clone churner %d: cblk_set_size: %s\n", k, strerror(errno));
			return sh->stop ? 0 : 66;
		}
		usleep(1000);
	}
	t_pattern_fill(b, BLK, tag, 7);
	if (cblk_write(id, b, 7, 1, 0) != 1)
		return 67;
	while (!sh->stop) {
		int status;
		pid_t pid = fork();

		if (pid < 0)
			return 68;
		if (pid == 0)
			_exit(clone_child(id, tag));
		/* Meanwhile the parent grows and shrinks its own vLUN. */
		if (cblk_set_size(id, 1024 + CHUNK, 0) && errno != ENOMEM)
			return 69;
		if (cblk_set_size(id, 1024, 0))
			return 70;
		if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
		    WEXITSTATUS(status)) {
			fprintf(stderr, "clone churner: child exit %d\n", WEXITSTATUS(status));
			return 71;
		}
		if (cblk_read(id, b, 7, 1, 0) != 1 || t_pattern_check(b, BLK, tag, 7))
			return 72;
		sh->c[k].ops++;
	}
	free(b);
	return cblk_close(id, 0) ? 73 : 0;
}

static void race(void)
{
	unsigned long secs = d_iters("CXLFLASH_RACE_SECS", 6, 120);
	struct d_shared *by = d_shared_new(), *ch = d_shared_new();
	pid_t bp[BYSTANDERS], cp[CHURN_CBLK + CHURN_RAW + 1];
	uint64_t end, checks = 0;
	const char *st;

	for (int k = 0; k < BYSTANDERS; k++)
		bp[k] = d_spawn_client("lun0", k, 2048, by, 0);
	for (int k = 0; k < BYSTANDERS; k++)
		d_wait_ready(by, k);
	for (int k = 0; k <= CHURN_CLONE_K; k++) {
		cp[k] = d_fork();
		if (cp[k] == 0)
			_exit(k < CHURN_CBLK ? churn_cblk(ch, k) :
			      k < CHURN_CLONE_K ? churn_raw(ch, k) : churn_clone(ch, k));
	}
	end = d_now_us() + secs * 1000000;
	while (d_now_us() < end) {
		for (int k = 0; k < BYSTANDERS; k++)
			T_EQ(waitpid(bp[k], NULL, WNOHANG), 0);
		for (int k = 0; k <= CHURN_CLONE_K; k++) {
			int status = 0;

			if (waitpid(cp[k], &status, WNOHANG) != 0) {
				fprintf(stderr, "churner %d ended early: exit %d signal %d\n", k,
					WIFEXITED(status) ? WEXITSTATUS(status) : -1,
					WIFSIGNALED(status) ? WTERMSIG(status) : 0);
				exit(T_FAIL);
			}
		}
		d_check("lun0");
		st = d_status(&g_d);
		T_ASSERT(t_json_num(st, "chunks_used") + t_json_num(st, "chunks_free") == NCHUNKS);
		checks++;
		d_sleep_us(100000);
	}
	ch->stop = 1;
	for (int k = 0; k <= CHURN_CLONE_K; k++) {
		T_EQ(d_wait(cp[k]), 0);
		T_ASSERT(ch->c[k].ops > 0);
	}
	by->stop = 1;
	for (int k = 0; k < BYSTANDERS; k++) {
		T_EQ(d_wait(bp[k]), 0);
		T_ASSERT(by->c[k].max_op_us < D_MAX_OP_US);
	}
	fprintf(stderr, "%lu s, %llu checks; churners: %llu %llu (cblk) %llu %llu (raw) resizes, "
		"%llu clones; "
		"bystanders: %llu %llu %llu ops, slowest %llu %llu %llu us\n", secs,
		(unsigned long long)checks,
		(unsigned long long)ch->c[0].ops, (unsigned long long)ch->c[1].ops,
		(unsigned long long)ch->c[2].ops, (unsigned long long)ch->c[3].ops,
		(unsigned long long)ch->c[CHURN_CLONE_K].ops,
		(unsigned long long)by->c[0].ops, (unsigned long long)by->c[1].ops,
		(unsigned long long)by->c[2].ops, (unsigned long long)by->c[0].max_op_us,
		(unsigned long long)by->c[1].max_op_us, (unsigned long long)by->c[2].max_op_us);
	d_check("lun0");
	for (int i = 0;; i++) {
		st = d_status(&g_d);
		if (t_json_num(st, "contexts") == 0 && t_json_num(st, "chunks_free") == NCHUNKS)
			break;
		T_ASSERT(i < 200);
		d_sleep_us(5000);
	}
}

int main(void)
{
	const char *args[] = { "--lun", "lun0=ram:4G", "--allow", "lun0=all", NULL };

	T_SKIP_IF(access(t_tool_path("cxlflashd"), X_OK), "no cxlflashd binary");
	T_EQ(d_start(&g_d, args), 0);
	T_RUN(race);
	T_EQ(t_daemon_stop(&g_d), 0);
	return T_PASS;
}
