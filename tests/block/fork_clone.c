/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fork_clone.c - cblk_clone_after_fork: a forked child reads (and, when
 * allowed, writes) the parent's vLUN and physical LUN through its own
 * context; read-only clones cannot write; access cannot widen; an inherited
 * chunk is unusable until cloned; growth in either process is safe.
 * Runs in-process (the parent's master serves the child) and, when
 * CXLFLASH_SOCKET names a running cxlflashd, through it (tests/daemon).
 */
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <capiblock.h>

#include "blk_test.h"
#include "client/client.h"

#define NBLK 1024

static const char *g_lun = "ram:1G";

/*
 * Run @fn in a forked child; its exit status must be 0. First wait until
 * the previous child's connection to our master is gone: a server thread
 * still freeing it while we fork could hold an allocator lock the child
 * then inherits locked (glibc's malloc handles fork; ASan's allocator in
 * GCC 12 does not, and the child hangs in its first allocation).
 */
static void in_child(int (*fn)(chunk_id_t), chunk_id_t id)
{
	int status;
	pid_t pid;

	for (int i = 0; i < 1000 && children_server_connections(); i++)
		usleep(1000);
	pid = fork();

	T_ASSERT(pid >= 0);
	if (pid == 0)
		_exit(fn(id));
	T_EQ(waitpid(pid, &status, 0), pid);
	T_ASSERT(WIFEXITED(status));
	T_EQ(WEXITSTATUS(status), 0);
}

#define C_ASSERT(cond, code) do { if (!(cond)) { \
	fprintf(stderr, "child: %s failed (errno %d: %s)\n", #cond, errno, strerror(errno)); \
	return code; } } while (0)

static int child_reads_only(chunk_id_t id)
{
	uint8_t *b = bt_buf(NBLK);

	errno = 0;
	C_ASSERT(cblk_read(id, b, 0, 1, 0) == -1 && errno == EINVAL, 10); /* not cloned yet */
	C_ASSERT(cblk_clone_after_fork(id, O_RDONLY, 0) == 0, 11);
	for (int i = 0; i < NBLK; i++)
		C_ASSERT(cblk_read(id, b + (size_t)i * BLK, i, 1, 0) == 1, 12);
	C_ASSERT(t_pattern_check(b, (size_t)NBLK * BLK, 1, 0) == 0, 13);
	errno = 0;
	C_ASSERT(cblk_write(id, b, 0, 1, 0) == -1, 14); /* cloned read-only */
	fprintf(stderr, "child: write on a read-only clone failed with errno %d (%s)\n", errno,
		strerror(errno));
	C_ASSERT(cblk_close(id, 0) == 0, 15);
	return 0;
}

static int child_writes(chunk_id_t id)
{
	uint8_t *b = bt_buf(16);
	size_t size = 0;

	C_ASSERT(cblk_clone_after_fork(id, O_RDWR, 0) == 0, 20);
	t_pattern_fill(b, 16 * BLK, 2, 100);
	C_ASSERT(cblk_write(id, b, 100, 16, 0) == 16 || errno == EINVAL, 21);
	for (int i = 0; i < 16; i++)
		C_ASSERT(cblk_write(id, b + (size_t)i * BLK, 100 + i, 1, 0) == 1, 22);
	/* Growth in the child: the new chunk is the child's alone. */
	C_ASSERT(cblk_get_size(id, &size, 0) == 0 && size == NBLK, 23);
	C_ASSERT(cblk_set_size(id, 70000, 0) == 0, 24);
	C_ASSERT(cblk_write(id, b, 69999, 1, 0) == 1, 25);
	C_ASSERT(cblk_close(id, 0) == 0, 26);
	return 0;
}

static int child_widen(chunk_id_t id)
{
	errno = 0;
	C_ASSERT(cblk_clone_after_fork(id, O_RDWR, 0) == -1 && errno == EINVAL, 30);
	C_ASSERT(cblk_close(id, 0) == 0, 31);
	return 0;
}

static int child_physical(chunk_id_t id)
{
	uint8_t *b = bt_buf(4);

	C_ASSERT(cblk_clone_after_fork(id, O_RDWR, 0) == 0, 40);
	C_ASSERT(cblk_read(id, b, 5000, 4, 0) == 4 || cblk_read(id, b, 5000, 1, 0) == 1, 41);
	C_ASSERT(t_pattern_check(b, BLK, 3, 5000) == 0, 42);
	C_ASSERT(cblk_close(id, 0) == 0, 43);
	return 0;
}

static int child_close_uncloned(chunk_id_t id)
{
	C_ASSERT(cblk_close(id, 0) == 0, 50);
	return 0;
}

static void virtual_lun(void)
{
	chunk_id_t id = bt_open_virt(g_lun, 16, 0, NBLK);
	uint8_t *b = bt_buf(NBLK);
	size_t size = 0;

	t_pattern_fill(b, (size_t)NBLK * BLK, 1, 0);
	for (int i = 0; i < NBLK; i++)
		T_EQ(cblk_write(id, b + (size_t)i * BLK, i, 1, 0), 1);
	in_child(child_reads_only, id);
	in_child(child_close_uncloned, id);
	/* The parent's chunk still works after the children. */
	T_EQ(cblk_read(id, b, 5, 1, 0), 1);
	T_EQ(t_pattern_check(b, BLK, 1, 5), 0);
	in_child(child_writes, id);
	/* Shared chunks: the child's writes are ours to read. */
	for (int i = 0; i < 16; i++)
		T_EQ(cblk_read(id, b + (size_t)i * BLK, 100 + i, 1, 0), 1);
	T_EQ(t_pattern_check(b, 16 * BLK, 2, 100), 0);
	T_EQ(cblk_get_size(id, &size, 0), 0);
	T_EQ(size, NBLK);
	/* And the parent may grow too. */
	T_EQ(cblk_set_size(id, 3 * 65536, 0), 0);
	T_EQ(cblk_write(id, b, 3 * 65536 - 1, 1, 0), 1);
	T_EQ(cblk_close(id, 0), 0);
	free(b);
}

static void read_only_parent(void)
{
	chunk_id_t id = bt_open(g_lun, 16, O_RDONLY, CBLK_OPN_VIRT_LUN);

	in_child(child_widen, id);
	T_EQ(cblk_close(id, 0), 0);
}

static void physical_lun(void)
{
	chunk_id_t id = bt_open(g_lun, 16, O_RDWR, 0);
	uint8_t *b = bt_buf(1);

	t_pattern_fill(b, BLK, 3, 5000);
	T_EQ(cblk_write(id, b, 5000, 1, 0), 1);
	in_child(child_physical, id);
	T_EQ(cblk_close(id, 0), 0);
	free(b);
}

int main(void)
{
	const char *lun = getenv("CXLFLASH_TEST_LUN");

	if (lun && *lun)
		g_lun = lun;
	T_RUN(virtual_lun);
	T_RUN(read_only_parent);
	T_RUN(physical_lun);
	return T_PASS;
}
