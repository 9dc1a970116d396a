/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: several clients at once on one file LUN, each keeping 16
 * requests in flight (replies may come out of order): pipelined writes of
 * a pattern, FUA writes and flushes, then pipelined reads that verify it.
 * Meanwhile every client also writes its own 512-byte sector of shared 4 KiB
 * blocks (read-modify-write on the server), and all the sectors survive.
 */
#include "nbd_test.h"

#define NCLIENTS   4
#define QD         16
#define IO_BYTES   (64u << 10)
#define ROUNDS     8
#define REGION     ((uint64_t)QD * IO_BYTES * 2)   /* per client */
#define SHARED_BLOCKS 4

static char sock[4096];

/* Send @n requests, then take the @n replies in any order. */
static void pipelined(int fd, uint16_t type, uint16_t flags, uint64_t base, int n, uint8_t *bufs,
		      uint64_t seed)
{
	bool seen[QD] = { false };

	for (int i = 0; i < n; i++) {
		uint8_t *b = bufs + (size_t)i * IO_BYTES;
		uint64_t off = base + (uint64_t)i * IO_BYTES;

		if (type == NBD_CMD_WRITE)
			t_pattern_fill(b, IO_BYTES, seed, off >> 12);
		nc_request(fd, type, flags, 1000 + (uint64_t)i, off, IO_BYTES,
			   type == NBD_CMD_WRITE ? b : NULL);
	}
	for (int i = 0; i < n; i++) {
		uint64_t ck;
		int k;

		T_EQ(nc_simple_reply(fd, &ck), 0);
		k = (int)(ck - 1000);
		T_ASSERT(k >= 0 && k < n && !seen[k]);
		seen[k] = true;
		if (type == NBD_CMD_READ) {
			uint8_t *b = bufs + (size_t)k * IO_BYTES;

			T_EQ(nc_recv(fd, b, IO_BYTES), 0);
			T_EQ(t_pattern_check(b, IO_BYTES, seed, (base + (uint64_t)k * IO_BYTES) >> 12), 0);
		}
	}
}

static void *client(void *arg)
{
	int id = (int)(intptr_t)arg;
	uint8_t *bufs = malloc((size_t)QD * IO_BYTES);
	uint8_t sector[512];
	uint64_t base = (uint64_t)SHARED_BLOCKS * 4096 + (uint64_t)id * REGION;
	int fd = nc_open(sock, "lun", false, NULL);

	T_ASSERT(bufs);
	for (int r = 0; r < ROUNDS; r++) {
		uint64_t half = (uint64_t)(r & 1) * QD * IO_BYTES;

		pipelined(fd, NBD_CMD_WRITE, r == 3 ? NBD_CMD_FLAG_FUA : 0, base + half, QD, bufs,
			  (uint64_t)(id * 100 + r));
		for (int b = 0; b < SHARED_BLOCKS; b++) {
			memset(sector, 0x10 + id * 16 + r, sizeof(sector));
			T_EQ(nc_write(fd, 0, (uint64_t)b * 4096 + (uint64_t)id * 512, 512, sector), 0);
		}
		if (r == 5)
			T_EQ(nc_cmd(fd, NBD_CMD_FLUSH, 0, 0, 0), 0);
		pipelined(fd, NBD_CMD_READ, 0, base + half, QD, bufs, (uint64_t)(id * 100 + r));
	}
	nc_disc(fd);
	free(bufs);
	return NULL;
}

int main(void)
{
	char lun[4200];
	struct nt_export e;
	struct nbd_server *srv;
	pthread_t th[NCLIENTS];
	uint8_t blk[4096];
	int fd;

	signal(SIGPIPE, SIG_IGN);
	snprintf(sock, sizeof(sock), "%s", t_path("nbd-concurrent.sock"));
	snprintf(lun, sizeof(lun), "file:%s?size=64M", t_path("nbd-concurrent.img"));
	unlink(t_path("nbd-concurrent.img"));
	srv = nt_serve(&e, lun, sock);
	for (int i = 0; i < NCLIENTS; i++)
		T_EQ(pthread_create(&th[i], NULL, client, (void *)(intptr_t)i), 0);
	for (int i = 0; i < NCLIENTS; i++)
		pthread_join(th[i], NULL);
	/* Every client's last sector is in every shared block. */
	fd = nc_open(sock, "", false, NULL);
	for (int b = 0; b < SHARED_BLOCKS; b++) {
		T_EQ(nc_read(fd, (uint64_t)b * 4096, sizeof(blk), blk), 0);
		for (int id = 0; id < NCLIENTS; id++)
			for (int k = 0; k < 512; k++)
				T_EQ(blk[id * 512 + k], 0x10 + id * 16 + ROUNDS - 1);
	}
	nc_disc(fd);
	T_EQ(e.gets, NCLIENTS + 1);
	nt_unserve(srv, &e);
	unlink(t_path("nbd-concurrent.img"));
	return T_PASS;
}
