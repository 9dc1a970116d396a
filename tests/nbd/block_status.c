/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: block status over a raw socket. NBD_OPT_LIST_META_CONTEXT
 * and NBD_OPT_SET_META_CONTEXT: base:allocation listed with no query and
 * for "base:", selected by "base:allocation" only, other namespaces
 * ignored, a query with no namespace, malformed lengths, no structured
 * replies, an unknown export and a server with block status turned off
 * refused. NBD_CMD_BLOCK_STATUS: the extents of a RAM LUN (never written:
 * hole|zero; written: data; WRITE_ZEROES NO_HOLE: zero; trimmed: hole
 * again), unaligned ranges, REQ_ONE (one descriptor, never past the
 * request), a 4 GiB request capped at 1 GiB, EINVAL for length 0, ranges
 * past the end, a flag other than REQ_ONE and no negotiated context
 * (never set, or set for another export than GO's); the fault wrapper
 * passes through; file LUNs on tmpfs and in the test directory report
 * their holes (SEEK_DATA), punched by TRIM too. One client writes while
 * another asks for block status (the RAM bitmaps under concurrency).
 */
#include "nbd_test.h"

#define KIB 1024ull
#define MIB (1024ull * KIB)
#define GIB (1024ull * MIB)

static uint8_t buf[1u << 20];

struct ext {
	uint32_t len, flags;
};

/* Send LIST/SET_META_CONTEXT for export @name with @nq queries. */
static void meta_opt(int fd, uint32_t opt, const char *name, const char *const *q, unsigned nq)
{
	uint8_t d[4096];
	uint32_t pos = 0, nlen = (uint32_t)strlen(name);

	put_be32(d, nlen);
	memcpy(d + 4, name, nlen);
	pos = 4 + nlen;
	put_be32(d + pos, nq);
	pos += 4;
	for (unsigned i = 0; i < nq; i++) {
		uint32_t l = (uint32_t)strlen(q[i]);

		put_be32(d + pos, l);
		memcpy(d + pos + 4, q[i], l);
		pos += 4 + l;
	}
	nc_option(fd, opt, d, pos);
}

/* The replies to a meta option: how many contexts, the last one's id and
 * name; the final reply type (ACK or an error) returned. */
static uint32_t meta_replies(int fd, uint32_t opt, unsigned *n, uint32_t *id, char *name)
{
	uint8_t r[512];
	uint32_t type, len;

	*n = 0;
	for (;;) {
		type = nc_opt_reply(fd, opt, r, sizeof(r) - 1, &len);
		if (type != NBD_REP_META_CONTEXT)
			return type;
		T_ASSERT(len >= 5 && len < sizeof(r));
		(*n)++;
		*id = get_be32(r);
		memcpy(name, r + 4, len - 4);
		name[len - 4] = 0;
	}
}

static uint32_t meta(int fd, uint32_t opt, const char *exp, const char *const *q, unsigned nq,
		     unsigned *n, uint32_t *id)
{
	char name[512] = "";

	meta_opt(fd, opt, exp, q, nq);
	*id = 0xdead;
	uint32_t type = meta_replies(fd, opt, n, id, name);

	if (*n)
		T_ASSERT(!strcmp(name, "base:allocation"));
	return type;
}

static int hello(const char *sock, bool sr)
{
	int fd = nc_connect(sock);

	nc_hello(fd, NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES);
	if (sr) {
		nc_option(fd, NBD_OPT_STRUCTURED_REPLY, NULL, 0);
		T_EQ(nc_opt_reply(fd, NBD_OPT_STRUCTURED_REPLY, NULL, 0, NULL), NBD_REP_ACK);
	}
	return fd;
}

/* Connect, structured replies, SET base:allocation for "lun", GO. */
static int open_bs(const char *sock, uint64_t *size)
{
	int fd = hello(sock, true);
	unsigned n;
	uint32_t id;

	T_EQ(meta(fd, NBD_OPT_SET_META_CONTEXT, "lun",
		  (const char *const[]){ "base:allocation" }, 1, &n, &id), NBD_REP_ACK);
	T_EQ(n, 1);
	T_ASSERT(id != 0);
	T_EQ(nc_go(fd, "lun", size, NULL, NULL, 0), NBD_REP_ACK);
	return fd;
}

/* One reply on a structured connection: the error (0 on success) and, for
 * a BLOCK_STATUS chunk, its extents. Simple replies are allowed too. */
static uint32_t bs_reply(int fd, uint64_t cookie, struct ext *e, unsigned cap, unsigned *n)
{
	uint8_t h[NBD_STRUCT_REPLY_LEN], p[4 + 8 * 1100];
	uint32_t len;

	*n = 0;
	T_EQ(nc_recv(fd, h, 4), 0);
	if (get_be32(h) == NBD_SIMPLE_REPLY_MAGIC) {
		T_EQ(nc_recv(fd, h + 4, NBD_SIMPLE_REPLY_LEN - 4), 0);
		T_EQ(get_be64(h + 8), cookie);
		T_ASSERT(get_be32(h + 4) != 0);  /* success would be a chunk */
		return get_be32(h + 4);
	}
	T_ASSERT(get_be32(h) == NBD_STRUCTURED_REPLY_MAGIC);
	T_EQ(nc_recv(fd, h + 4, sizeof(h) - 4), 0);
	T_EQ(get_be64(h + 8), cookie);
	T_EQ(get_be16(h + 4), NBD_REPLY_FLAG_DONE);   /* one chunk, the last */
	len = get_be32(h + 16);
	T_ASSERT(len <= sizeof(p));
	T_EQ(nc_recv(fd, p, len), 0);
	if (get_be16(h + 6) == NBD_REPLY_TYPE_ERROR)
		return get_be32(p);
	T_EQ(get_be16(h + 6), NBD_REPLY_TYPE_BLOCK_STATUS);
	T_ASSERT(len >= 12 && (len - 4) % 8 == 0);
	T_ASSERT(get_be32(p) != 0);          /* the id SET gave */
	*n = (len - 4) / 8;
	T_ASSERT(*n <= cap);
	for (unsigned i = 0; i < *n; i++) {
		e[i].len = get_be32(p + 4 + 8 * i);
		e[i].flags = get_be32(p + 8 + 8 * i);
		T_ASSERT(e[i].len > 0);
	}
	return 0;
}

static uint32_t bs(int fd, uint16_t flags, uint64_t off, uint32_t len, struct ext *e,
		   unsigned cap, unsigned *n)
{
	nc_request(fd, NBD_CMD_BLOCK_STATUS, flags, 0xb5, off, len, NULL);
	return bs_reply(fd, 0xb5, e, cap, n);
}

/* Expect exactly the extents @want (terminated by len 0) for [off, off + len). */
static void expect_map(int fd, uint64_t off, uint32_t len, const struct ext *want)
{
	static struct ext e[1100];
	unsigned n, k = 0;
	uint64_t sum = 0;

	T_EQ(bs(fd, 0, off, len, e, 1100, &n), 0);
	for (unsigned i = 0; i < n; i++) {
		fprintf(stderr, "      %llu +%u %u\n", (unsigned long long)(off + sum), e[i].len,
			e[i].flags);
		sum += e[i].len;
	}
	while (want[k].len)
		k++;
	T_EQ(n, k);
	for (unsigned i = 0; i < n; i++) {
		T_EQ(e[i].len, want[i].len);
		T_EQ(e[i].flags, want[i].flags);
	}
	T_EQ(sum, len);
}

#define HZ (1u | 2u)   /* NBD_STATE_HOLE | NBD_STATE_ZERO */
#define Z  2u          /* NBD_STATE_ZERO */
#define D  0u

static void options(const char *sock)
{
	unsigned n;
	uint32_t id;
	int fd;

	/* No structured replies yet: INVALID, for both. */
	fd = hello(sock, false);
	T_EQ(meta(fd, NBD_OPT_LIST_META_CONTEXT, "lun", NULL, 0, &n, &id), NBD_REP_ERR_INVALID);
	T_EQ(meta(fd, NBD_OPT_SET_META_CONTEXT, "lun",
		  (const char *const[]){ "base:allocation" }, 1, &n, &id), NBD_REP_ERR_INVALID);
	T_EQ(n, 0);
	nc_option(fd, NBD_OPT_STRUCTURED_REPLY, NULL, 0);
	T_EQ(nc_opt_reply(fd, NBD_OPT_STRUCTURED_REPLY, NULL, 0, NULL), NBD_REP_ACK);

	/* LIST: everything, the namespace, the name; others ignored. */
	T_EQ(meta(fd, NBD_OPT_LIST_META_CONTEXT, "lun", NULL, 0, &n, &id), NBD_REP_ACK);
	T_EQ(n, 1);
	T_EQ(id, 0);
	T_EQ(meta(fd, NBD_OPT_LIST_META_CONTEXT, "lun", (const char *const[]){ "base:" }, 1, &n,
		  &id), NBD_REP_ACK);
	T_EQ(n, 1);
	T_EQ(meta(fd, NBD_OPT_LIST_META_CONTEXT, "",
		  (const char *const[]){ "qemu:dirty-bitmap:x", "base:allocation",
					 "base:allocation" }, 3, &n, &id), NBD_REP_ACK);
	T_EQ(n, 1);
	T_EQ(meta(fd, NBD_OPT_LIST_META_CONTEXT, "lun",
		  (const char *const[]){ "qemu:allocation-depth", "base:other", "x-y:z" }, 3, &n,
		  &id), NBD_REP_ACK);
	T_EQ(n, 0);
	/* A query with no namespace is malformed. */
	T_EQ(meta(fd, NBD_OPT_LIST_META_CONTEXT, "lun", (const char *const[]){ "allocation" }, 1,
		  &n, &id), NBD_REP_ERR_INVALID);
	/* Unknown and refusing exports. */
	T_EQ(meta(fd, NBD_OPT_LIST_META_CONTEXT, "nope", NULL, 0, &n, &id), NBD_REP_ERR_UNKNOWN);
	T_EQ(meta(fd, NBD_OPT_SET_META_CONTEXT, "busy",
		  (const char *const[]){ "base:allocation" }, 1, &n, &id), NBD_REP_ERR_POLICY);
	/* SET: the namespace alone selects nothing; the name does. */
	T_EQ(meta(fd, NBD_OPT_SET_META_CONTEXT, "lun", (const char *const[]){ "base:" }, 1, &n,
		  &id), NBD_REP_ACK);
	T_EQ(n, 0);
	T_EQ(meta(fd, NBD_OPT_SET_META_CONTEXT, "lun", NULL, 0, &n, &id), NBD_REP_ACK);
	T_EQ(n, 0);
	T_EQ(meta(fd, NBD_OPT_SET_META_CONTEXT, "lun",
		  (const char *const[]){ "x-foo:bar", "base:allocation" }, 2, &n, &id),
	     NBD_REP_ACK);
	T_EQ(n, 1);
	T_ASSERT(id != 0);
	/* Malformed: lengths that do not add up. */
	{
		uint8_t d[32];

		put_be32(d, 3);
		memcpy(d + 4, "lun", 3);
		put_be32(d + 7, 2);          /* two queries, data for none */
		nc_option(fd, NBD_OPT_SET_META_CONTEXT, d, 11);
		T_EQ(meta_replies(fd, NBD_OPT_SET_META_CONTEXT, &n, &id, (char *)buf),
		     NBD_REP_ERR_INVALID);
		put_be32(d, 100);            /* a name longer than the option */
		nc_option(fd, NBD_OPT_LIST_META_CONTEXT, d, 11);
		T_EQ(meta_replies(fd, NBD_OPT_LIST_META_CONTEXT, &n, &id, (char *)buf),
		     NBD_REP_ERR_INVALID);
		put_be32(d, 3);
		put_be32(d + 7, 1);
		put_be32(d + 11, 15);
		memcpy(d + 15, "base:allocation", 15);
		nc_option(fd, NBD_OPT_SET_META_CONTEXT, d, 31);   /* one byte too many */
		T_EQ(meta_replies(fd, NBD_OPT_SET_META_CONTEXT, &n, &id, (char *)buf),
		     NBD_REP_ERR_INVALID);
		T_EQ(n, 0);
	}
	/* The failed SET replaced the good one: no context, EINVAL. */
	T_EQ(nc_go(fd, "lun", NULL, NULL, NULL, 0), NBD_REP_ACK);
	T_EQ(bs(fd, 0, 0, 4096, NULL, 0, &n), NBD_EINVAL);
	nc_disc(fd);

	/* Structured replies but never SET: EINVAL. */
	fd = hello(sock, true);
	T_EQ(nc_go(fd, "lun", NULL, NULL, NULL, 0), NBD_REP_ACK);
	T_EQ(bs(fd, 0, 0, 4096, NULL, 0, &n), NBD_EINVAL);
	nc_disc(fd);

	/* SET for "ro", GO "lun": the context does not carry over. */
	fd = hello(sock, true);
	T_EQ(meta(fd, NBD_OPT_SET_META_CONTEXT, "ro",
		  (const char *const[]){ "base:allocation" }, 1, &n, &id), NBD_REP_ACK);
	T_EQ(n, 1);
	T_EQ(nc_go(fd, "lun", NULL, NULL, NULL, 0), NBD_REP_ACK);
	T_EQ(bs(fd, 0, 0, 4096, NULL, 0, &n), NBD_EINVAL);
	nc_disc(fd);

	/* Simple replies only: BLOCK_STATUS is EINVAL (a simple reply). */
	fd = nc_open(sock, "lun", false, NULL);
	T_EQ(nc_cmd(fd, NBD_CMD_BLOCK_STATUS, 0, 0, 4096), NBD_EINVAL);
	nc_disc(fd);
}

static void ram_map(const char *sock, uint64_t size)
{
	static struct ext e[1100];
	uint64_t sz;
	unsigned n;
	int fd = open_bs(sock, &sz);

	T_EQ(sz, size);
	/* Never written: one hole of zeroes. */
	expect_map(fd, 0, 16 * MIB, (const struct ext[]){ { 16 * MIB, HZ }, { 0, 0 } });
	memset(buf, 0xa5, sizeof(buf));
	T_EQ(nc_write(fd, 0, 1 * MIB, 8192, buf), 0);
	T_EQ(nc_write(fd, 0, 3 * MIB + 100, 10, buf), 0);        /* one block, by RMW */
	T_EQ(nc_cmd(fd, NBD_CMD_WRITE_ZEROES, NBD_CMD_FLAG_NO_HOLE, 2 * MIB, 64 * KIB), 0);
	T_EQ(nc_write(fd, 0, 5 * MIB, 256 * KIB, buf), 0);
	T_EQ(nc_cmd(fd, NBD_CMD_TRIM, 0, 5 * MIB + 64 * KIB, 64 * KIB), 0);   /* a hole again */
	expect_map(fd, 0, 8 * MIB, (const struct ext[]){
		{ 1 * MIB, HZ }, { 8 * KIB, D }, { 1 * MIB - 8 * KIB, HZ },
		{ 64 * KIB, Z }, { 1 * MIB - 64 * KIB, HZ },
		{ 4 * KIB, D }, { 2 * MIB - 4 * KIB, HZ },
		{ 64 * KIB, D }, { 64 * KIB, HZ }, { 128 * KIB, D }, { 3 * MIB - 256 * KIB, HZ },
		{ 0, 0 } });
	/* Unaligned: the partial blocks take their block's state. */
	expect_map(fd, 1 * MIB - 100, 300, (const struct ext[]){ { 100, HZ }, { 200, D },
								 { 0, 0 } });
	expect_map(fd, 1 * MIB + 8191, 2, (const struct ext[]){ { 1, D }, { 1, HZ }, { 0, 0 } });
	/* REQ_ONE: one descriptor, never longer than asked. */
	T_EQ(bs(fd, NBD_CMD_FLAG_REQ_ONE, 0, 8 * MIB, e, 1, &n), 0);
	T_EQ(n, 1);
	T_EQ(e[0].len, 1 * MIB);
	T_EQ(e[0].flags, HZ);
	T_EQ(bs(fd, NBD_CMD_FLAG_REQ_ONE, 1 * MIB + 4096, 100, e, 1, &n), 0);
	T_EQ(n, 1);
	T_EQ(e[0].len, 100);
	T_EQ(e[0].flags, D);
	T_EQ(bs(fd, NBD_CMD_FLAG_REQ_ONE, size - 4096, 4096, e, 1, &n), 0);
	T_EQ(e[0].len, 4096);
	/* The largest request: one reply covers at most 1 GiB. */
	T_EQ(bs(fd, 0, 0, 0xfffff000u, e, 1100, &n), 0);
	{
		uint64_t sum = 0;

		for (unsigned i = 0; i < n; i++)
			sum += e[i].len;
		fprintf(stderr, "   a 4 GiB request: %u extents, %llu bytes\n", n,
			(unsigned long long)sum);
		T_EQ(sum, 1 * GIB);
	}
	/* Errors: length 0, past the end, bad flags. */
	T_EQ(bs(fd, 0, 0, 0, e, 1, &n), NBD_EINVAL);
	T_EQ(bs(fd, 0, size - 4096, 8192, e, 1, &n), NBD_EINVAL);
	T_EQ(bs(fd, 0, size, 1, e, 1, &n), NBD_EINVAL);
	T_EQ(bs(fd, 0, UINT64_MAX - 10, 100, e, 1, &n), NBD_EINVAL);
	T_EQ(bs(fd, NBD_CMD_FLAG_NO_HOLE, 0, 4096, e, 1, &n), NBD_EINVAL);
	T_EQ(bs(fd, NBD_CMD_FLAG_DF, 0, 4096, e, 1, &n), NBD_EINVAL);
	/* REQ_ONE is for BLOCK_STATUS only. */
	T_EQ(nc_cmd(fd, NBD_CMD_FLUSH, NBD_CMD_FLAG_REQ_ONE, 0, 0), NBD_EINVAL);
	/* Still in step after all that. */
	expect_map(fd, 1 * MIB, 8192, (const struct ext[]){ { 8192, D }, { 0, 0 } });
	nc_disc(fd);
}

/* Writes on one connection while another asks; afterwards exactly the
 * written blocks are data. */
#define CW_BASE (64 * MIB)
#define CW_N    256u

struct cw {
	const char *sock;
	int done;
};

static void *cw_writer(void *arg)
{
	struct cw *w = arg;
	static uint8_t blk[4096];
	int fd = nc_open(w->sock, "lun", false, NULL);

	memset(blk, 0x77, sizeof(blk));
	for (unsigned i = 0; i < CW_N; i++)
		T_EQ(nc_write(fd, 0, CW_BASE + i * 64 * KIB, 4096, blk), 0);
	nc_disc(fd);
	__atomic_store_n(&w->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void concurrent(const char *sock)
{
	static struct ext e[1100];
	struct cw w = { .sock = sock };
	pthread_t t;
	unsigned n, rounds = 0;
	int fd = open_bs(sock, NULL);

	T_EQ(pthread_create(&t, NULL, cw_writer, &w), 0);
	do {
		uint64_t sum = 0;

		T_EQ(bs(fd, 0, CW_BASE, CW_N * 64 * KIB, e, 1100, &n), 0);
		for (unsigned i = 0; i < n; i++)
			sum += e[i].len;
		T_EQ(sum, CW_N * 64 * KIB);
		rounds++;
	} while (!__atomic_load_n(&w.done, __ATOMIC_ACQUIRE));
	T_EQ(pthread_join(t, NULL), 0);
	T_EQ(bs(fd, 0, CW_BASE, CW_N * 64 * KIB, e, 1100, &n), 0);
	fprintf(stderr, "   concurrent: %u block status replies during %u writes\n", rounds, CW_N);
	T_EQ(n, 2 * CW_N);
	for (unsigned i = 0; i < n; i++) {
		T_EQ(e[i].len, i % 2 ? 60 * KIB : 4 * KIB);
		T_EQ(e[i].flags, i % 2 ? HZ : D);
	}
	nc_disc(fd);
}

static void ram_case(const char *lun, uint64_t size)
{
	struct nt_export e;
	struct nbd_server *srv;
	char sock[4096];

	fprintf(stderr, "   %s\n", lun);
	snprintf(sock, sizeof(sock), "%s", t_path("nbd-bs.sock"));
	srv = nt_serve(&e, lun, sock);
	options(sock);
	ram_map(sock, size);
	concurrent(sock);
	nt_unserve(srv, &e);
}

/* A file LUN: holes by SEEK_DATA, punched by TRIM. */
static void file_case(const char *path)
{
	struct nt_export e;
	struct nbd_server *srv;
	char sock[4096], lun[4200];
	int fd;

	fprintf(stderr, "   file:%s\n", path);
	unlink(path);
	snprintf(lun, sizeof(lun), "file:%s?size=64M", path);
	snprintf(sock, sizeof(sock), "%s", t_path("nbd-bs-file.sock"));
	srv = nt_serve(&e, lun, sock);
	fd = open_bs(sock, NULL);
	expect_map(fd, 0, 64 * MIB, (const struct ext[]){ { 64 * MIB, HZ }, { 0, 0 } });
	memset(buf, 0x3c, sizeof(buf));
	T_EQ(nc_write(fd, 0, 4 * MIB, 1 * MIB, buf), 0);
	T_EQ(nc_write(fd, 0, 63 * MIB, 1 * MIB, buf), 0);
	T_EQ(nc_cmd(fd, NBD_CMD_FLUSH, 0, 0, 0), 0);
	expect_map(fd, 0, 64 * MIB, (const struct ext[]){
		{ 4 * MIB, HZ }, { 1 * MIB, D }, { 58 * MIB, HZ }, { 1 * MIB, D }, { 0, 0 } });
	/* A punched hole in the middle of the data. */
	T_EQ(nc_cmd(fd, NBD_CMD_TRIM, 0, 4 * MIB + 256 * KIB, 512 * KIB), 0);
	expect_map(fd, 4 * MIB, 1 * MIB, (const struct ext[]){
		{ 256 * KIB, D }, { 512 * KIB, HZ }, { 256 * KIB, D }, { 0, 0 } });
	/* The tail, unaligned, to the last byte. */
	expect_map(fd, 62 * MIB + 7, 2 * MIB - 7, (const struct ext[]){
		{ 1 * MIB - 7, HZ }, { 1 * MIB, D }, { 0, 0 } });
	nc_disc(fd);
	nt_unserve(srv, &e);
	unlink(path);
}

static void turned_off(void)
{
	struct nt_export e;
	struct nbd_server *srv;
	char sock[4096];
	unsigned n;
	uint32_t id;
	int fd;

	snprintf(sock, sizeof(sock), "%s", t_path("nbd-bs-off.sock"));
	srv = nt_serve_cfg(&e, "ram:64M", sock,
			   (struct nbd_server_config){ .no_block_status = true });
	fd = hello(sock, true);
	T_EQ(meta(fd, NBD_OPT_LIST_META_CONTEXT, "lun", NULL, 0, &n, &id), NBD_REP_ERR_UNSUP);
	T_EQ(meta(fd, NBD_OPT_SET_META_CONTEXT, "lun",
		  (const char *const[]){ "base:allocation" }, 1, &n, &id), NBD_REP_ERR_UNSUP);
	T_EQ(nc_go(fd, "lun", NULL, NULL, NULL, 0), NBD_REP_ACK);
	T_EQ(bs(fd, 0, 0, 4096, NULL, 0, &n), NBD_EINVAL);
	nc_disc(fd);
	nt_unserve(srv, &e);
}

int main(void)
{
	char path[4096];
	struct stat st;

	ram_case("ram:8G", 8 * GIB);
	ram_case("fault:ram:8G", 8 * GIB);
	turned_off();
	if (stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode)) {
		snprintf(path, sizeof(path), "/dev/shm/cxlflash-bs-%d.img", (int)getpid());
		file_case(path);
	}
	snprintf(path, sizeof(path), "%s", t_path("nbd-bs.img"));
	file_case(path);
	return T_PASS;
}
