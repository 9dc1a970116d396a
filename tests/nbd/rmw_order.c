/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: sub-4 KiB WRITEs are an asynchronous read-modify-write, or
 * a write of the bytes alone where the backend can (be->part_align), with
 * per-block ordering (issue 14). On a file LUN (io_uring) and a RAM LUN
 * and a fault-wrapped RAM LUN (completions inline; the wrapper takes no
 * part writes, so always RMW), one connection pipelines many 500-byte (RMW) or
 * 512-byte, and block-straddling, WRITEs of disjoint bytes of the same few
 * blocks, all in flight at once: none is lost. Two connections do the same to the same
 * blocks at once. A READ on another connection after a WRITE's reply sees
 * that WRITE. FUA sub-block writes succeed.
 */
#include "nbd_test.h"

#define BLOCKS   4
#define ROUNDS   12
#define PIECES   (BLOCKS * 8)        /* 512-byte pieces */

static char sock[4096];
static uint32_t plen;                 /* bytes written of each piece */

/* The byte piece @k of round @r written by writer @w holds. */
static uint8_t val(int w, int r, int k)
{
	return (uint8_t)(1 + w * 97 + r * 13 + k * 7);
}

/*
 * Writer @w of @nw owns the pieces k with k % nw == w. Per round, all its
 * pieces go out before any reply is read. Alone (@nw 1) it writes the last
 * piece of a block and the first of the next as one 1 KiB WRITE straddling
 * the boundary; every 5th round is FUA.
 */
static void writer(int fd, int w, int nw, int rounds)
{
	uint8_t piece[1024];

	for (int r = 0; r < rounds; r++) {
		int sent = 0;

		for (int k = w; k < PIECES; k += nw) {
			bool straddle = nw == 1 && k % 8 == 7 && k + 1 < PIECES;
			uint32_t len = straddle ? 512 + plen : plen;

			memset(piece, val(w, r, k), 512);
			if (straddle)
				memset(piece + 512, val(w, r, k + 1), 512);
			nc_request(fd, NBD_CMD_WRITE, r % 5 == 4 ? NBD_CMD_FLAG_FUA : 0,
				   (uint64_t)k, (uint64_t)k * 512, len, piece);
			sent++;
			if (straddle)
				k++;     /* written with k */
		}
		for (int i = 0; i < sent; i++)
			T_EQ(nc_simple_reply(fd, NULL), 0);
	}
}

static void check_all(int fd, int nw, int rounds)
{
	uint8_t buf[BLOCKS * 4096];

	T_EQ(nc_read(fd, 0, sizeof(buf), buf), 0);
	for (int k = 0; k < PIECES; k++) {
		int w = k % nw;

		for (uint32_t b = 0; b < plen; b++)
			if (buf[k * 512 + b] != val(w, rounds - 1, k)) {
				printf("piece %d byte %u: %#x, want %#x\n", k, b, buf[k * 512 + b],
				       val(w, rounds - 1, k));
				T_ASSERT(0);
			}
	}
}

struct two {
	int w;
};

static void *conn_writer(void *arg)
{
	struct two *t = arg;
	int fd = nc_open(sock, "lun", false, NULL);

	writer(fd, t->w, 2, ROUNDS);
	nc_disc(fd);
	return NULL;
}

/* A write acknowledged on @a is seen by a read on @b. */
static void read_after_ack(int a, int b)
{
	uint8_t p[300], q[4096];

	for (int i = 0; i < 64; i++) {
		uint64_t off = 4096u * 8 + (uint64_t)(i % 4) * 4096 + (uint64_t)(i * 37 % 3700);

		memset(p, 0xa0 + i, sizeof(p));
		T_EQ(nc_write(a, 0, off, sizeof(p), p), 0);
		T_EQ(nc_read(b, off & ~4095ull, sizeof(q), q), 0);
		T_EQ(memcmp(q + (off & 4095), p, sizeof(p)), 0);
	}
}

static void run(const char *lun)
{
	struct nt_export e;
	struct nbd_server *srv = nt_serve(&e, lun, sock);
	pthread_t th[2];
	struct two t[2] = { { 0 }, { 1 } };
	int fd = nc_open(sock, "lun", false, NULL), fd2;

	printf("%s, %u-byte pieces: the backend writes parts at %u (0: never)\n", lun, plen,
	       e.be->part_align);

	/* One connection, every piece of 4 blocks in flight at once. */
	writer(fd, 0, 1, ROUNDS);
	check_all(fd, 1, ROUNDS);
	/* Two connections on the same blocks at once. */
	for (int i = 0; i < 2; i++)
		T_EQ(pthread_create(&th[i], NULL, conn_writer, &t[i]), 0);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	check_all(fd, 2, ROUNDS);
	fd2 = nc_open(sock, "lun", false, NULL);
	read_after_ack(fd, fd2);
	nc_disc(fd2);
	nc_disc(fd);
	nt_unserve(srv, &e);
}

int main(void)
{
	char lun[4200];

	signal(SIGPIPE, SIG_IGN);
	snprintf(sock, sizeof(sock), "%s", t_path("nbd-rmw-order.sock"));
	snprintf(lun, sizeof(lun), "file:%s?size=16M", t_path("nbd-rmw-order.img"));
	unlink(t_path("nbd-rmw-order.img"));
	/* 500-byte pieces: read-modify-write everywhere; 512: written as
	 * they are where the backend can (RAM, 512-byte O_DIRECT sectors). */
	for (plen = 500; plen <= 512; plen += 12) {
		run(lun);
		run("ram:16M");
		run("fault:ram:16M");   /* no part writes: RMW, completions inline */
	}
	unlink(t_path("nbd-rmw-order.img"));
	return T_PASS;
}
