/* SPDX-License-Identifier: Apache-2.0 */
/*
 * powercut.c - cblk_sync reaches the backend, shown end to end with the
 * fault wrapper's write cache: a child writes through cblk_* on a
 * "fault:" file LUN, syncs, writes more and is killed with SIGKILL; then
 * `cxlflash powercut` (mode all) runs and a reopen finds exactly the synced
 * data, and what was written with CBLK_ARW_FUA_FLAG (cblk_write and
 * cblk_awrite) after the sync. Physical chunks with a completion thread and polled, a virtual
 * chunk (its blocks found in the LUN file), through cxlflashd, and the
 * cut refused (EBUSY, naming the holder) while the LUN is open.
 */
#include "blk_test.h"
#include "t_daemon.h"
#include "t_tool.h"

#include <signal.h>
#include <sys/wait.h>

#define SYNCED 1   /* pattern seeds */
#define LOST   2
#define FUA    3
#define NFUA   2   /* blocks of [0, NB) overwritten with FUA after LOST */
#define NB     16  /* blocks written each time */

static char g_spec[4200];
static const char *g_file;

static void fresh(const char *name, uint64_t bytes)
{
	char j[4200];

	g_file = bt_file(name, bytes);
	snprintf(j, sizeof(j), "%s.wcache", g_file);
	unlink(j);
	snprintf(g_spec, sizeof(g_spec), "fault:%s", g_file);
}

static void done(void)
{
	char j[4200];

	snprintf(j, sizeof(j), "%s.wcache", g_file);
	unlink(j);
	unlink(g_file);
}

/*
 * In a child: open @lun, write SYNCED to [0, NB) and [100, 100 + NB), sync,
 * overwrite [0, NB) with LOST and write LOST to [200, 200 + NB), tell the
 * parent, and wait to be killed. @virt: a virtual chunk of 1024 blocks.
 */
static pid_t writer(const char *lun, int flags, bool virt)
{
	int pfd[2];
	pid_t pid;
	char c;

	T_EQ(pipe(pfd), 0);
	pid = fork();
	T_ASSERT(pid >= 0);
	if (pid == 0) {
		chunk_id_t id = virt ? bt_open_virt(lun, 8, flags, 1024)
				     : bt_open(lun, 8, O_RDWR, flags);
		uint8_t *b = bt_buf(NB);

		for (int i = 0; i < NB; i++) {
			t_pattern_fill(b, BLK, SYNCED, (uint64_t)i);
			T_EQ(cblk_write(id, b, i, 1, 0), 1);
			t_pattern_fill(b, BLK, SYNCED, 100 + (uint64_t)i);
			T_EQ(cblk_write(id, b, 100 + i, 1, 0), 1);
		}
		T_EQ(cblk_sync(id, 0), 0);
		for (int i = 0; i < NB; i++) {
			t_pattern_fill(b, BLK, LOST, (uint64_t)i);
			T_EQ(cblk_write(id, b, i, 1, 0), 1);
			t_pattern_fill(b, BLK, LOST, 200 + (uint64_t)i);
			T_EQ(cblk_write(id, b, 200 + i, 1, 0), 1);
		}
		/* FUA: durable one by one, without a sync: [0, NFUA) and
		 * [300 + NFUA, 300 + NB). */
		for (int i = 0; i < NB; i++) {
			uint64_t lba = i < NFUA ? (uint64_t)i : 300 + (uint64_t)i;
			int tag = 0;
			uint64_t st;

			t_pattern_fill(b, BLK, FUA, lba);
			if (i % 2) {
				T_EQ(cblk_write(id, b, (cflash_offset_t)lba, 1, CBLK_ARW_FUA_FLAG), 1);
				continue;
			}
			T_ASSERT(cblk_awrite(id, b, (cflash_offset_t)lba, 1, &tag, NULL,
					     CBLK_ARW_FUA_FLAG) >= 0);
			T_EQ(cblk_aresult(id, &tag, &st, CBLK_ARESULT_BLOCKING), 1);
		}
		T_EQ(write(pfd[1], "x", 1), 1);
		pause();
		_exit(T_FAIL);
	}
	close(pfd[1]);
	T_EQ(read(pfd[0], &c, 1), 1);
	close(pfd[0]);
	return pid;
}

static void kill9(pid_t pid)
{
	kill(pid, SIGKILL);
	T_EQ(waitpid(pid, NULL, 0), pid);
}

static int powercut(const char *lun, char *out, size_t len)
{
	const char *argv[] = { t_tool_path("cxlflash"), "powercut", lun, NULL };

	return t_run_argv(argv, NULL, T_RUN_STDERR, out, len);
}

/* Physical: after the cut, [0, NB) and [100, 100 + NB) hold SYNCED but for
 * the NFUA blocks written with FUA, [300 + NFUA, 300 + NB) FUA, the rest zeroes. */
static void check_phys(const char *lun)
{
	chunk_id_t id = bt_open(lun, 8, O_RDONLY, 0);
	uint8_t *b = bt_buf(1), *z = bt_buf(1);

	for (int i = 0; i < NB; i++) {
		T_EQ(cblk_read(id, b, i, 1, 0), 1);
		T_EQ(t_pattern_check(b, BLK, i < NFUA ? FUA : SYNCED, (uint64_t)i), 0);
		T_EQ(cblk_read(id, b, 300 + i, 1, 0), 1);
		if (i >= NFUA)
			T_EQ(t_pattern_check(b, BLK, FUA, 300 + (uint64_t)i), 0);
		T_EQ(cblk_read(id, b, 100 + i, 1, 0), 1);
		T_EQ(t_pattern_check(b, BLK, SYNCED, 100 + (uint64_t)i), 0);
		T_EQ(cblk_read(id, b, 200 + i, 1, 0), 1);
		T_EQ(memcmp(b, z, BLK), 0);
	}
	T_EQ(cblk_close(id, 0), 0);
	free(b);
	free(z);
}

static void physical(int flags)
{
	char out[4096];

	fresh("blk_powercut", 64ull << 20);
	kill9(writer(g_spec, flags, false));
	T_EQ(powercut(g_spec, out, sizeof(out)), 0);
	T_ASSERT(strstr(out, ": 30 blocks"));   /* [NFUA, NB) and [200, 200 + NB) */
	check_phys(g_spec);
	/* Nothing left to cut. */
	T_EQ(powercut(g_spec, out, sizeof(out)), 0);
	T_ASSERT(strstr(out, ": 0 blocks"));
	done();
}

static void phys_thread(void) { physical(0); }
static void phys_polled(void) { physical(CBLK_OPN_NO_INTRP_THREADS); }

/* How many blocks of the file hold pattern @seed at vLUN block @lba. */
static int count_in_file(uint64_t seed, uint64_t lba)
{
	uint8_t *b = bt_buf(256), *want = bt_buf(1);
	int fd = open(g_file, O_RDONLY), n = 0;
	off_t off = 0, end;

	T_ASSERT(fd >= 0);
	t_pattern_fill(want, BLK, seed, lba);
	end = lseek(fd, 0, SEEK_END);
	while (off < end) {
		off_t data = lseek(fd, off, SEEK_DATA);
		ssize_t r;

		if (data < 0)
			break;
		r = pread(fd, b, 256 * BLK, data);
		T_ASSERT(r > 0);
		for (ssize_t i = 0; i + (ssize_t)BLK <= r; i += BLK)
			n += memcmp(b + i, want, BLK) == 0;
		off = data + r;
	}
	close(fd);
	free(b);
	free(want);
	return n;
}

/* Virtual: the vLUN dies with its process, so look for its blocks in the file. */
static void virt(void)
{
	char out[4096];

	fresh("blk_powercut_v", 1ull << 30);
	kill9(writer(g_spec, 0, true));
	T_EQ(count_in_file(LOST, 3), 1);         /* before the cut: the newest data */
	T_EQ(powercut(g_spec, out, sizeof(out)), 0);
	T_EQ(count_in_file(SYNCED, 3), 1);
	T_EQ(count_in_file(SYNCED, 103), 1);
	T_EQ(count_in_file(FUA, 0), 1);
	T_EQ(count_in_file(FUA, 303), 1);
	T_EQ(count_in_file(LOST, 3), 0);
	T_EQ(count_in_file(LOST, 203), 0);
	done();
}

/* While a process has the LUN open, the cut is refused and names it. */
static void busy(void)
{
	char out[4096];
	pid_t pid;

	fresh("blk_powercut_b", 64ull << 20);
	pid = writer(g_spec, 0, false);
	T_EQ(powercut(g_spec, out, sizeof(out)), 1);
	T_ASSERT(strstr(out, "in use by process"));
	T_ASSERT(strstr(out, "Device or resource busy"));
	kill9(pid);
	T_EQ(powercut(g_spec, out, sizeof(out)), 0);
	check_phys(g_spec);
	/* Not a fault LUN, or memory: refused too. */
	T_EQ(powercut(g_file, out, sizeof(out)), 1);
	T_EQ(powercut("fault:ram:1G", out, sizeof(out)), 1);
	done();
}

/* Through cxlflashd: the daemon holds the LUN and is killed. */
static void daemon_mode(void)
{
	struct t_daemon d;
	char lunarg[4300], out[4096];
	const char *args[] = { "--lun", lunarg, "--allow", "lun0=all", NULL };
	pid_t pid;

	if (access(t_tool_path("cxlflashd"), X_OK)) {
		fprintf(stderr, "no cxlflashd: skipping the daemon case\n");
		return;
	}
	fresh("blk_powercut_d", 64ull << 20);
	snprintf(lunarg, sizeof(lunarg), "lun0=%s", g_spec);
	T_EQ(t_daemon_start(&d, args), 0);
	pid = writer("lun0", 0, false);
	kill9(pid);
	T_EQ(powercut(g_spec, out, sizeof(out)), 1);   /* the daemon has it */
	t_daemon_kill(&d);
	T_EQ(powercut(g_spec, out, sizeof(out)), 0);
	setenv("CXLFLASH_SOCKET", "none", 1);
	check_phys(g_spec);
	done();
}

int main(void)
{
	T_SKIP_IF(access(t_tool_path("cxlflash"), X_OK), "no cxlflash binary");
	setenv("CXLFLASH_SOCKET", "none", 1);
	T_RUN(phys_thread);
	T_RUN(phys_polled);
	T_RUN(virt);
	T_RUN(busy);
	T_RUN(daemon_mode);
	return T_PASS;
}
