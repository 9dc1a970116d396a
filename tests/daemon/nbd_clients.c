/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: many NBD clients of cxlflashd at once, and clients that
 * vanish mid-request, leave it healthy. Four raw clients keep 16 requests
 * in flight each (pipelined writes with FUA and flushes, then verified
 * reads) while nbdcopy copies a file in and out of another LUN; then
 * clients disconnect with a WRITE payload half sent, with READ replies
 * unread, inside a request header and inside the handshake. Afterwards
 * the daemon is alive, every NBD reference is dropped (status shows no NBD
 * clients and the switch to superpipe works), its descriptors are back to
 * where they were, and a new client reads the data.
 */
#include "dnbd_test.h"

#define NCLIENTS 4
#define QD       16
#define IO_BYTES (64u << 10)
#define ROUNDS   6
#define REGION   ((uint64_t)QD * IO_BYTES)

static struct t_daemon g_d;
static char out[65536];

static void *client(void *arg)
{
	int id = (int)(intptr_t)arg;
	uint8_t *bufs = malloc((size_t)QD * IO_BYTES);
	uint64_t base = (uint64_t)id * REGION;
	int fd = nc_open(g_d.nbd_socket, "c", false, NULL);

	T_ASSERT(bufs);
	for (int r = 0; r < ROUNDS; r++) {
		uint64_t seed = (uint64_t)(id * 100 + r);
		bool seen[QD] = { false };

		for (int i = 0; i < QD; i++) {
			uint64_t off = base + (uint64_t)i * IO_BYTES;

			t_pattern_fill(bufs + (size_t)i * IO_BYTES, IO_BYTES, seed, off >> 12);
			nc_request(fd, NBD_CMD_WRITE, r == 2 && i == 5 ? NBD_CMD_FLAG_FUA : 0,
				   100 + (uint64_t)i, off, IO_BYTES, bufs + (size_t)i * IO_BYTES);
		}
		for (int i = 0; i < QD; i++)
			T_EQ(nc_simple_reply(fd, NULL), 0);
		if (r == 3)
			T_EQ(nc_cmd(fd, NBD_CMD_FLUSH, 0, 0, 0), 0);
		for (int i = 0; i < QD; i++)
			nc_request(fd, NBD_CMD_READ, 0, 100 + (uint64_t)i,
				   base + (uint64_t)i * IO_BYTES, IO_BYTES, NULL);
		for (int i = 0; i < QD; i++) {
			uint64_t ck;
			int k;

			T_EQ(nc_simple_reply(fd, &ck), 0);
			k = (int)(ck - 100);
			T_ASSERT(k >= 0 && k < QD && !seen[k]);
			seen[k] = true;
			T_EQ(nc_recv(fd, bufs, IO_BYTES), 0);
			T_EQ(t_pattern_check(bufs, IO_BYTES, seed, (base + (uint64_t)k * IO_BYTES) >> 12),
			     0);
		}
	}
	nc_disc(fd);
	free(bufs);
	return NULL;
}

static void concurrent(void)
{
	const char *in = t_path("dcl-in.raw"), *copy = t_path("dcl-out.raw");
	uint8_t *b = malloc(8u << 20), *c = malloc(8u << 20);
	pthread_t th[NCLIENTS];
	FILE *f;

	T_ASSERT(b && c);
	t_pattern_fill(b, 8u << 20, 99, 0);
	f = fopen(in, "w");
	T_ASSERT(f && fwrite(b, 1, 8u << 20, f) == 8u << 20);
	fclose(f);
	for (int i = 0; i < NCLIENTS; i++)
		T_EQ(pthread_create(&th[i], NULL, client, (void *)(intptr_t)i), 0);
	/* Meanwhile a real client on the other LUN, in and out. */
	T_EQ(nt_run((const char *[]){ "nbdcopy", in, dn_unix_uri(&g_d, "other"), NULL }, out,
		    sizeof(out)), 0);
	unlink(copy);
	T_EQ(nt_run((const char *[]){ "nbdcopy", dn_tcp_uri(&g_d, "other"), copy, NULL }, out,
		    sizeof(out)), 0);
	for (int i = 0; i < NCLIENTS; i++)
		pthread_join(th[i], NULL);
	f = fopen(copy, "r");
	T_ASSERT(f && fread(c, 1, 8u << 20, f) == 8u << 20);
	fclose(f);
	T_ASSERT(!memcmp(b, c, 8u << 20));
	unlink(in);
	unlink(copy);
	free(b);
	free(c);
}

/* Clients that go away at every awkward moment. */
static void vanishing(void)
{
	static uint8_t payload[IO_BYTES];
	uint8_t hdr[NBD_REQUEST_LEN] = { 0 };

	memset(payload, 0xee, sizeof(payload));
	for (int round = 0; round < 10; round++) {
		int fd;

		/* A WRITE whose payload stops half way. */
		fd = nc_open(g_d.nbd_socket, "c", false, NULL);
		nc_request(fd, NBD_CMD_WRITE, 0, 1, 0, IO_BYTES, NULL);
		nc_send(fd, payload, IO_BYTES / 2);
		close(fd);
		/* Sixteen READs and writes whose replies nobody reads. */
		fd = nc_open(g_d.nbd_socket, "c", round & 1, NULL);
		for (int i = 0; i < QD; i++)
			nc_request(fd, NBD_CMD_READ, 0, (uint64_t)i, (uint64_t)i * IO_BYTES, IO_BYTES,
				   NULL);
		nc_request(fd, NBD_CMD_WRITE, NBD_CMD_FLAG_FUA, 99, (8u << 20), IO_BYTES, payload);
		close(fd);
		/* Half a request header. */
		fd = nc_open(g_d.nbd_socket, "c", false, NULL);
		put_be32(hdr, NBD_REQUEST_MAGIC);
		nc_send(fd, hdr, 10);
		close(fd);
		/* GO sent, reply never read; and a bare connect. */
		fd = nc_connect(g_d.nbd_socket);
		nc_hello(fd, NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES);
		nc_option(fd, NBD_OPT_GO, "\0\0\0\1c\0\0", 7);
		close(fd);
		close(nc_connect(g_d.nbd_socket));
	}
}

/* Wait (5 s at most) until the daemon holds no NBD reference on @lun. */
static void wait_no_clients(const char *lun)
{
	for (int i = 0; i < 100 && dn_lun_num(&g_d, lun, "nbd_clients") != 0; i++)
		usleep(50000);
	T_EQ(dn_lun_num(&g_d, lun, "nbd_clients"), 0);
}

int main(void)
{
	char spec[4200], why[256];
	const char *img = t_path("dcl.img");
	const char *args[] = { "--lun", spec, "--lun", "other=ram:16M", "--legacy", "c",
			       "--legacy", "other", "--nbd-tcp-anonymous", "other", NULL };
	uint8_t blk[IO_BYTES];
	int fds0, fds, fd;

	signal(SIGPIPE, SIG_IGN);
	T_SKIP_IF(access(t_tool_path("cxlflashd"), X_OK), "no cxlflashd binary");
	T_SKIP_IF(!nt_have("nbdcopy"), "nbdcopy is not installed (Debian: libnbd-bin)");
	unlink(img);
	snprintf(spec, sizeof(spec), "c=file:%s?size=64M", img);
	T_EQ(t_daemon_start(&g_d, args), 0);
	fds0 = t_daemon_fds(&g_d);
	T_RUN(concurrent);
	T_RUN(vanishing);

	fprintf(stderr, "-- healthy afterwards\n");
	T_ASSERT(t_daemon_alive(&g_d));
	wait_no_clients("c");
	wait_no_clients("other");
	for (int i = 0; i < 100 && (fds = t_daemon_fds(&g_d)) > fds0; i++)
		usleep(50000);
	fprintf(stderr, "daemon descriptors: %d at start, %d now\n", fds0, fds);
	T_ASSERT(fds <= fds0);
	/* One more that leaves without NBD_CMD_DISC; then the data of client
	 * 1's last round is intact. */
	close(nc_open(g_d.nbd_socket, "c", true, NULL));
	fd = nc_open(g_d.nbd_socket, "c", false, NULL);
	T_EQ(nc_read(fd, REGION + 3 * IO_BYTES, IO_BYTES, blk), 0);
	T_EQ(t_pattern_check(blk, IO_BYTES, 100 + ROUNDS - 1, (REGION + 3 * IO_BYTES) >> 12), 0);
	nc_disc(fd);
	wait_no_clients("c");
	T_EQ(dn_lun_mode(&g_d, "c", "superpipe", out, sizeof(out)), 0);
	T_EQ(t_daemon_check("c", why, sizeof(why)), 0);
	T_EQ(t_daemon_stop(&g_d), 0);
	unlink(img);
	return T_PASS;
}
