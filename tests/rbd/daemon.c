/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: rbd LUNs served by cxlflashd, on a one-node Ceph cluster: a
 * client process's physical chunk and vLUN through the daemon's superpipe
 * with verified random I/O; a legacy-mode rbd LUN exported over NBD
 * (nbdinfo's size and flags, qemu-io writes, FUA writes, zeroes and
 * read-back checks); after the daemon stops, `cxlflash nbd` exports the
 * same image on its own and qemu-io reads what went in through the daemon.
 */
#include "../daemon/dnbd_test.h"
#include "../block/blk_test.h"
#include "t_ceph.h"

#include <signal.h>

static struct t_daemon g_d;
static char out[65536];

static void rw_verify(chunk_id_t id, size_t max_n, unsigned ios, uint64_t seed)
{
	size_t size = 0, slots;
	uint64_t rs = seed;
	uint8_t *w = bt_buf(max_n), *r = bt_buf(max_n);

	T_EQ(cblk_get_size(id, &size, 0), 0);
	slots = size / max_n;
	T_ASSERT(slots >= ios);
	for (unsigned pass = 0; pass < 2; pass++) {
		rs = seed;
		for (unsigned i = 0; i < ios; i++) {
			uint64_t lba = ((i * 7919ull + seed) % slots) * max_n;
			size_t n = 1 + t_rand(&rs) % max_n;

			if (!pass) {
				t_pattern_fill(w, n * BLK, seed + i, lba);
				T_EQ(cblk_write(id, w, (cflash_offset_t)lba, n,
						(i & 3) ? 0 : CBLK_ARW_FUA_FLAG), n);
			} else {
				memset(r, 0xEE, n * BLK);
				T_EQ(cblk_read(id, r, (cflash_offset_t)lba, n, 0), n);
				T_EQ(t_pattern_check(r, n * BLK, seed + i, lba), 0);
			}
		}
	}
	free(w);
	free(r);
}

/* A client of the daemon: the superpipe in its shared memory. */
static void superpipe_client(void)
{
	chunk_id_t p = bt_open("lun0", 16, O_RDWR, 0);
	chunk_id_t v;
	size_t size = 0;

	T_EQ(cblk_get_size(p, &size, 0), 0);
	T_EQ(size, (256ull << 20) / BLK);
	rw_verify(p, 8, 200, 41);
	T_EQ(cblk_sync(p, 0), 0);
	T_EQ(cblk_close(p, 0), 0);
	v = bt_open_virt("lun0", 8, 0, 1024);
	rw_verify(v, 1, 200, 42);
	T_EQ(cblk_close(v, 0), 0);
}

static int qemu_io(const char *uri, const char *const *cmds)
{
	const char *argv[24] = { "qemu-io", "-f", "raw" };
	int n = 3;

	for (int i = 0; cmds[i]; i++) {
		argv[n++] = "-c";
		argv[n++] = cmds[i];
	}
	argv[n++] = uri;
	argv[n] = NULL;
	return nt_run_all(argv, NULL, out, sizeof(out));
}

static void nbd_export(void)
{
	const char *uri = dn_unix_uri(&g_d, "old");

	T_EQ(nt_run((const char *[]){ "nbdinfo", "--json", uri, NULL }, out, sizeof(out)), 0);
	T_ASSERT(strstr(out, "\"export-size\": 67108864"));
	T_ASSERT(strstr(out, "\"can_flush\": true") && strstr(out, "\"can_fua\": true"));
	T_ASSERT(strstr(out, "\"is_read_only\": false"));
	if (!nt_have("qemu-io")) {
		fprintf(stderr, "   (no qemu-io: data checks skipped)\n");
		return;
	}
	T_EQ(qemu_io(uri, (const char *[]){ "write -P 0x5a 12288 1M", "write -f -P 0xa5 8M 64k",
					    "write -P 0x33 16M 256k", "write -z 16M 128k",
					    "flush", NULL }), 0);
	T_EQ(qemu_io(uri, (const char *[]){ "read -P 0x5a 12288 1M", "read -P 0xa5 8M 64k",
					    "read -P 0 16M 128k", "read -P 0x33 16908288 128k",
					    "read -P 0 0 12288", NULL }), 0);
	T_ASSERT(!strstr(out, "Pattern verification failed"));
}

/* The same image exported by `cxlflash nbd` alone, after the daemon left. */
static void standalone_nbd(void)
{
	struct nt_server s;
	char sock[256], uri[400];

	snprintf(sock, sizeof(sock), "%s", t_path("rbd-nbd.sock"));
	unlink(sock);
	T_EQ(nt_server_start(&s, (const char *[]){ "--socket", sock, "rbd:rbd/d1", NULL }), 0);
	snprintf(uri, sizeof(uri), "nbd+unix:///?socket=%s", sock);
	T_EQ(nt_run((const char *[]){ "nbdinfo", "--json", uri, NULL }, out, sizeof(out)), 0);
	T_ASSERT(strstr(out, "\"export-size\": 67108864"));
	if (nt_have("qemu-io")) {
		T_EQ(qemu_io(uri, (const char *[]){ "read -P 0x5a 12288 1M", "read -P 0xa5 8M 64k",
						    "read -P 0 16M 128k", NULL }), 0);
		T_ASSERT(!strstr(out, "Pattern verification failed"));
	}
	T_EQ(nt_server_stop(&s, SIGTERM), 0);
	unlink(sock);
}

int main(void)
{
	const char *args[] = { "--lun", "lun0=rbd:rbd/d0?size=256M", "--lun",
			       "old=rbd:rbd/d1?size=64M", "--legacy", "old", NULL };

	signal(SIGPIPE, SIG_IGN);
	T_SKIP_IF(access(t_tool_path("cxlflashd"), X_OK), "no cxlflashd binary");
	T_SKIP_IF(!nt_have("nbdinfo"), "nbdinfo is not installed (Debian: libnbd-bin)");
	t_ceph_start_rbd();

	T_EQ(t_daemon_start(&g_d, args), 0);
	T_RUN(superpipe_client);
	T_RUN(nbd_export);
	T_EQ(t_daemon_stop(&g_d), 0);
	T_RUN(standalone_nbd);
	return T_PASS;
}
