/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: one connection with hundreds of requests in flight on a
 * file LUN and a RAM LUN (issue 14, concurrent serving; a RAM LUN's READ
 * replies are written from the medium itself): a sender thread pipelines
 * aligned and sub-block WRITEs (some FUA), READs, FLUSHes and CACHEs while
 * the main thread takes the replies in whatever order they come and checks
 * every cookie (each answered once) and every READ's payload; the same with
 * structured replies; a FLUSH is answered only after every WRITE sent
 * before it; DISC with requests in flight answers them all before closing;
 * a client that sends requests and vanishes leaves no reference, thread or
 * buffer behind (ASan, the export's refs).
 */
#include "nbd_test.h"

#define NREQ       600
#define SLOT       (64u << 10)     /* each request owns a 64 KiB slot */
#define SECTOR_REQ 5               /* every 5th WRITE is sub-block */

static char sock[4096];

struct req {
	uint16_t type, flags;
	uint64_t off;
	uint32_t len;
	uint64_t seed;
};

struct plan {
	int fd;
	struct req r[NREQ];
	uint8_t *wbuf;                 /* payloads, SLOT each */
	int n;
};

/* The slot of request @i and what it does: phase 0 writes every slot,
 * phase 1 reads the slots phase 0 wrote while writing others. */
static void make_plan(struct plan *p, int phase, uint64_t seed)
{
	p->n = NREQ;
	for (int i = 0; i < NREQ; i++) {
		struct req *q = &p->r[i];
		uint64_t slot = (uint64_t)i * SLOT;

		memset(q, 0, sizeof(*q));
		q->seed = seed + (uint64_t)i;
		if (phase == 0 || i % 3 == 0) {
			q->type = NBD_CMD_WRITE;
			q->off = slot + (phase ? (uint64_t)NREQ * SLOT : 0);
			q->len = (uint32_t)(4096u << (i % 4));
			if (i % SECTOR_REQ == 1) {
				/* sub-block: 700 bytes at an odd offset */
				q->off += 1000 + (uint64_t)(i % 7) * 11;
				q->len = 700;
			}
			if (i % 11 == 0)
				q->flags = NBD_CMD_FLAG_FUA;
		} else if (i % 29 == 0) {
			q->type = NBD_CMD_FLUSH;
		} else if (i % 31 == 0) {
			q->type = NBD_CMD_CACHE;
			q->off = slot;
			q->len = SLOT;
		} else {
			q->type = NBD_CMD_READ;   /* what phase 0's request i wrote */
			q->off = slot;
			q->len = (uint32_t)(4096u << (i % 4));
			if (i % SECTOR_REQ == 1) {
				q->off += 1000 + (uint64_t)(i % 7) * 11;
				q->len = 700;
			}
			q->seed = seed - 1000 + (uint64_t)i;   /* phase 0's seed */
		}
		if (q->type == NBD_CMD_WRITE)
			t_pattern_fill(p->wbuf + (size_t)i * SLOT, q->len, q->seed, 0);
	}
}

static void *sender(void *arg)
{
	struct plan *p = arg;

	for (int i = 0; i < p->n; i++) {
		struct req *q = &p->r[i];

		nc_request(p->fd, q->type, q->flags, 5000 + (uint64_t)i, q->off, q->len,
			   q->type == NBD_CMD_WRITE ? p->wbuf + (size_t)i * SLOT : NULL);
	}
	return NULL;
}

/*
 * Take one reply (simple, or structured when @sr): its cookie's index.
 * A READ's data lands in @buf. Return the NBD error.
 */
static uint32_t take_reply(int fd, bool sr, struct plan *p, uint8_t *buf, int *idx)
{
	uint8_t h[NBD_STRUCT_REPLY_LEN];
	uint64_t ck;
	uint32_t err = 0;

	T_EQ(nc_recv(fd, h, 4), 0);
	if (get_be32(h) == NBD_SIMPLE_REPLY_MAGIC) {
		T_EQ(nc_recv(fd, h + 4, NBD_SIMPLE_REPLY_LEN - 4), 0);
		err = get_be32(h + 4);
		ck = get_be64(h + 8);
		*idx = (int)(ck - 5000);
		T_ASSERT(*idx >= 0 && *idx < p->n);
		if (!err && p->r[*idx].type == NBD_CMD_READ) {
			T_ASSERT(!sr);     /* structured READs get structured replies */
			T_EQ(nc_recv(fd, buf, p->r[*idx].len), 0);
		}
		return err;
	}
	T_ASSERT(sr);
	T_EQ(get_be32(h), NBD_STRUCTURED_REPLY_MAGIC);
	T_EQ(nc_recv(fd, h + 4, NBD_STRUCT_REPLY_LEN - 4), 0);
	ck = get_be64(h + 8);
	*idx = (int)(ck - 5000);
	T_ASSERT(*idx >= 0 && *idx < p->n);
	T_EQ(get_be16(h + 4), NBD_REPLY_FLAG_DONE);
	T_EQ(get_be16(h + 6), NBD_REPLY_TYPE_OFFSET_DATA);
	T_EQ(get_be32(h + 16), p->r[*idx].len + 8);
	{
		uint8_t o[8];

		T_EQ(nc_recv(fd, o, 8), 0);
		T_EQ(get_be64(o), p->r[*idx].off);
	}
	T_EQ(nc_recv(fd, buf, p->r[*idx].len), 0);
	return 0;
}

/* Run @p on @fd: every reply checked. Return how many came out of order. */
static int run_plan(struct plan *p, bool sr)
{
	static bool seen[NREQ];
	uint8_t *buf = malloc(SLOT);
	pthread_t th;
	int ooo = 0, last = -1, writes_done = 0, writes_before[NREQ];

	T_ASSERT(buf);
	memset(seen, 0, sizeof(seen));
	for (int i = 0, w = 0; i < p->n; i++) {
		writes_before[i] = w;
		w += p->r[i].type == NBD_CMD_WRITE;
	}
	T_EQ(pthread_create(&th, NULL, sender, p), 0);
	for (int k = 0; k < p->n; k++) {
		int i;

		T_EQ(take_reply(p->fd, sr, p, buf, &i), 0);
		T_ASSERT(!seen[i]);
		seen[i] = true;
		ooo += i < last;
		last = i;
		if (p->r[i].type == NBD_CMD_WRITE)
			writes_done++;
		/* Conservative FLUSH: every WRITE sent before it is done. */
		if (p->r[i].type == NBD_CMD_FLUSH)
			T_ASSERT(writes_done >= writes_before[i]);
		if (p->r[i].type == NBD_CMD_READ)
			T_EQ(t_pattern_check(buf, p->r[i].len, p->r[i].seed, 0), 0);
	}
	pthread_join(th, NULL);
	free(buf);
	return ooo;
}

/* Requests in flight, then DISC (answered, then closed) or a vanishing
 * client (@vanish: nothing read, socket closed). */
static void disc_inflight(struct plan *p, bool vanish)
{
	int fd = nc_open(sock, "lun", false, NULL), got = 0;

	make_plan(p, 0, 9000);
	p->fd = fd;
	p->n = 64;
	sender(p);
	if (vanish) {
		close(fd);
		return;
	}
	nc_request(fd, NBD_CMD_DISC, 0, 0, 0, 0, NULL);
	for (;;) {
		uint8_t h[NBD_SIMPLE_REPLY_LEN];

		if (nc_recv(fd, h, sizeof(h)))
			break;
		T_EQ(get_be32(h), NBD_SIMPLE_REPLY_MAGIC);
		T_EQ(get_be32(h + 4), 0);
		got++;
	}
	close(fd);
	T_EQ(got, 64);       /* every WRITE answered before the close */
	/* ... and done: read them back on a fresh connection. */
	fd = nc_open(sock, "lun", false, NULL);
	for (int i = 0; i < 64; i++) {
		uint8_t *b = malloc(p->r[i].len);

		T_ASSERT(b);
		T_EQ(nc_read(fd, p->r[i].off, p->r[i].len, b), 0);
		T_EQ(t_pattern_check(b, p->r[i].len, p->r[i].seed, 0), 0);
		free(b);
	}
	nc_disc(fd);
}

/* Every check above on one server exporting @lun as "lun". */
static void run_lun(struct plan *p, const char *lun)
{
	struct nt_export e;
	struct nbd_server *srv;
	int ooo;

	printf("LUN %s\n", lun);
	srv = nt_serve(&e, lun, sock);

	/* Simple replies: write everything, then read it back while writing
	 * elsewhere, with flushes and caches among them. */
	p->fd = nc_open(sock, "lun", false, NULL);
	make_plan(p, 0, 1000);
	ooo = run_plan(p, false);
	make_plan(p, 1, 2000);
	ooo += run_plan(p, false);
	nc_disc(p->fd);
	/* Structured replies: the same reads on another connection. */
	p->fd = nc_open(sock, "lun", true, NULL);
	make_plan(p, 1, 2000);
	ooo += run_plan(p, true);
	nc_disc(p->fd);
	printf("%d of %d replies came before a reply to an earlier request\n", ooo, 3 * NREQ);

	disc_inflight(p, false);
	disc_inflight(p, true);
	for (int i = 0; i < 2000 && nbd_server_conn_count(srv); i++)
		usleep(5000);
	T_EQ(nbd_server_conn_count(srv), 0);
	T_EQ(nt_export_refs(&e), 0);
	nt_unserve(srv, &e);
}

int main(void)
{
	char lun[4200];
	struct plan *p = calloc(1, sizeof(*p));

	signal(SIGPIPE, SIG_IGN);
	T_ASSERT(p);
	p->wbuf = malloc((size_t)NREQ * SLOT);
	T_ASSERT(p->wbuf);
	snprintf(sock, sizeof(sock), "%s", t_path("nbd-pipeline.sock"));
	snprintf(lun, sizeof(lun), "file:%s?size=128M", t_path("nbd-pipeline.img"));
	unlink(t_path("nbd-pipeline.img"));
	run_lun(p, lun);
	unlink(t_path("nbd-pipeline.img"));
	run_lun(p, "ram:128M");
	free(p->wbuf);
	free(p);
	return T_PASS;
}
