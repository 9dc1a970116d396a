/* SPDX-License-Identifier: Apache-2.0 */
/*
 * open_close.c - cblk_open / cblk_close: every errno (mode, queue depth,
 * NULL path, missing file, not a file, closed and unknown ids), ids from a
 * counter never reused, relative and symlinked paths, many chunks of one
 * LUN at once, and a file LUN's release at close.
 */
#include "blk_test.h"

#include <limits.h>
#include <sys/stat.h>

static const char *g_file;

static void bad_args(void)
{
	T_ERRNO(cblk_open(NULL, 0, O_RDWR, 0, 0), EINVAL);
	T_ERRNO(cblk_open("ram:1G", 0, O_ACCMODE, 0, 0), EINVAL);
	T_ERRNO(cblk_open("ram:1G", 0, -1, 0, 0), EINVAL);
	T_ERRNO(cblk_open("ram:1G", -1, O_RDWR, 0, 0), EINVAL);
	T_ERRNO(cblk_open("ram:1G", 8193, O_RDWR, 0, 0), ENOMEM);
	T_ERRNO(cblk_open("ram:1G", 100000, O_RDWR, 0, 0), ENOMEM);
	T_ERRNO(cblk_open(t_path("blk_no_such_file"), 0, O_RDWR, 0, 0), ENOENT);
	T_ERRNO(cblk_open("/nonexistent/dir/lun", 0, O_RDWR, 0, CBLK_OPN_VIRT_LUN), ENOENT);
	T_ERRNO(cblk_open("/tmp", 0, O_RDWR, 0, 0), EINVAL);       /* a directory */
	T_ERRNO(cblk_open("/dev/null", 0, O_RDWR, 0, 0), EINVAL);  /* a character device */
}

static void depths(void)
{
	int depths[4] = { 0, 1, 64, 8192 };

	for (int i = 0; i < 4; i++) {
		chunk_id_t id = bt_open("ram:1G", depths[i], O_RDWR, 0);
		uint8_t *b = bt_buf(1);

		T_EQ(cblk_write(id, b, 0, 1, 0), 1);
		T_EQ(cblk_close(id, 0), 0);
		free(b);
	}
}

static void ids(void)
{
	chunk_id_t a = bt_open("ram:1G", 0, O_RDWR, 0);
	chunk_id_t b = bt_open("ram:1G", 0, O_RDONLY, 0);
	size_t n;

	T_ASSERT(a >= 0);
	T_ASSERT(b > a);
	T_EQ(cblk_close(a, 0), 0);
	T_ERRNO(cblk_close(a, 0), EINVAL);
	T_ERRNO(cblk_get_size(a, &n, 0), EINVAL);
	T_ERRNO(cblk_get_lun_size(a, &n, 0), EINVAL);
	T_ERRNO(cblk_set_size(a, 1, 0), EINVAL);
	{
		chunk_id_t c = bt_open("ram:1G", 0, O_RDWR, 0);

		T_ASSERT(c > b);   /* never reused */
		T_EQ(cblk_close(c, 0), 0);
	}
	T_ERRNO(cblk_close(NULL_CHUNK_ID, 0), EINVAL);
	T_ERRNO(cblk_close(1000000, 0), EINVAL);
	T_ERRNO(cblk_get_size(b, NULL, 0), EINVAL);
	T_EQ(cblk_close(b, 0), 0);
}

static void paths(void)
{
	char cwd[PATH_MAX], rel[PATH_MAX];
	const char *link = t_path("blk_open_link");
	const char *base = strrchr(g_file, '/') + 1;
	chunk_id_t id;

	T_ASSERT(getcwd(cwd, sizeof(cwd)));
	/* relative */
	{
		char dir[PATH_MAX];

		snprintf(dir, sizeof(dir), "%.*s", (int)(base - g_file), g_file);
		T_EQ(chdir(dir), 0);
		snprintf(rel, sizeof(rel), "./%s", base);
		id = bt_open(rel, 0, O_RDWR, 0);
		T_EQ(chdir(cwd), 0);
		T_EQ(cblk_close(id, 0), 0);
	}
	/* symlinked */
	unlink(link);
	T_EQ(symlink(g_file, link), 0);
	id = bt_open(link, 0, O_RDWR, CBLK_OPN_VIRT_LUN);
	T_EQ(cblk_close(id, 0), 0);
	unlink(link);
	/* file: names pass through */
	{
		char spec[PATH_MAX + 16];

		snprintf(spec, sizeof(spec), "file:%s", g_file);
		id = bt_open(spec, 0, O_RDWR, 0);
		T_EQ(cblk_close(id, 0), 0);
	}
}

/* Many chunks of one LUN in one process, physical then virtual. */
static void many_chunks(void)
{
	chunk_id_t ids[8];
	uint8_t *b = bt_buf(1);

	for (int i = 0; i < 8; i++)
		ids[i] = bt_open(g_file, 4, O_RDWR, 0);
	for (int i = 0; i < 8; i++) {
		t_pattern_fill(b, BLK, 100 + i, i);
		T_EQ(cblk_write(ids[i], b, i, 1, 0), 1);
	}
	for (int i = 0; i < 8; i++) {
		T_EQ(cblk_read(ids[(i + 3) % 8], b, i, 1, 0), 1);
		T_EQ(t_pattern_check(b, BLK, 100 + i, i), 0);
	}
	for (int i = 0; i < 8; i++)
		T_EQ(cblk_close(ids[i], 0), 0);

	for (int i = 0; i < 4; i++)
		ids[i] = bt_open_virt(g_file, 4, i & 1 ? CBLK_OPN_SCRUB_DATA : 0, 10);
	for (int i = 0; i < 4; i++) {
		t_pattern_fill(b, BLK, 200 + i, 3);
		T_EQ(cblk_write(ids[i], b, 3, 1, 0), 1);
	}
	for (int i = 0; i < 4; i++) {
		T_EQ(cblk_read(ids[i], b, 3, 1, 0), 1);
		T_EQ(t_pattern_check(b, BLK, 200 + i, 3), 0);   /* separate vLUNs */
	}
	for (int i = 0; i < 4; i++)
		T_EQ(cblk_close(ids[i], 0), 0);
	free(b);
}

/* After the last close the LUN is free: reopen works, data is on disk. */
static void reopen_file(void)
{
	uint8_t *b = bt_buf(1);
	chunk_id_t id = bt_open(g_file, 0, O_RDWR, 0);

	t_pattern_fill(b, BLK, 55, 9);
	T_EQ(cblk_write(id, b, 9, 1, 0), 1);
	T_EQ(cblk_close(id, 0), 0);
	id = bt_open(g_file, 0, O_RDONLY, CBLK_OPN_NO_INTRP_THREADS);
	memset(b, 0, BLK);
	T_EQ(cblk_read(id, b, 9, 1, 0), 1);
	T_EQ(t_pattern_check(b, BLK, 55, 9), 0);
	T_EQ(cblk_close(id, 0), 0);
	free(b);
}

int main(void)
{
	g_file = bt_file("blk_open_close", 1ull << 30);
	T_EQ(cblk_init(NULL, 0), 0);
	T_RUN(bad_args);
	T_RUN(depths);
	T_RUN(ids);
	T_RUN(paths);
	T_RUN(many_chunks);
	T_RUN(reopen_file);
	T_EQ(cblk_term(NULL, 0), 0);
	unlink(g_file);
	return T_PASS;
}
