/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: an in-process NBD server facing a raw socket: malformed
 * handshakes (bad magic, unknown client flags, truncated and huge options,
 * unknown options, STARTTLS, a refused export, requests before GO) and bad
 * requests (out of range, unknown command and flag, oversized and
 * read-only writes, a client gone mid-payload) get the protocol's answers,
 * and after each the server still serves a good client and every export
 * reference is dropped.
 */
#include "nbd_test.h"

#define LUN_SIZE (16ull << 20)

static struct nt_export exp_;
static char sock[4096];

/* The server still works: a fresh client writes and reads back. */
/* Wait until connections are gone and their references dropped. */
static void check_no_refs(void)
{
	for (int i = 0; i < 500 && nt_export_refs(&exp_); i++)
		usleep(10000);
	T_EQ(nt_export_refs(&exp_), 0);
}

static void check_healthy(void)
{
	static uint8_t w[8192], r[8192];
	uint64_t size = 0;
	int fd = nc_open(sock, "lun", false, &size);

	T_EQ(size, LUN_SIZE);
	t_pattern_fill(w, sizeof(w), 7, 3);
	T_EQ(nc_write(fd, 0, 3 * 4096, sizeof(w), w), 0);
	T_EQ(nc_read(fd, 3 * 4096, sizeof(r), r), 0);
	T_ASSERT(!memcmp(w, r, sizeof(w)));
	nc_disc(fd);
	/* Its thread puts the reference after the DISC: wait, so the next
	 * test counts only its own. */
	check_no_refs();
}

static void test_bad_option_magic(void)
{
	int fd = nc_connect(sock);
	uint8_t h[NBD_OPT_HDR_LEN] = { 0 };

	nc_hello(fd, NBD_FLAG_C_FIXED_NEWSTYLE);
	put_be64(h, 0x1122334455667788ull);
	nc_send(fd, h, sizeof(h));
	T_ASSERT(nc_closed(fd));
	close(fd);
	check_healthy();
}

static void test_unknown_client_flags(void)
{
	int fd = nc_connect(sock);

	nc_hello(fd, NBD_FLAG_C_FIXED_NEWSTYLE | (1u << 7));
	T_ASSERT(nc_closed(fd));
	close(fd);
}

static void test_truncated(void)
{
	uint8_t d[4];
	int fd = nc_connect(sock);

	/* Half of the client flags, then hang up. */
	T_EQ(nc_recv(fd, (uint8_t[NBD_HELLO_LEN]){ 0 }, NBD_HELLO_LEN), 0);
	nc_send(fd, d, 2);
	close(fd);
	/* An option that promises 100 bytes and sends 4. */
	fd = nc_connect(sock);
	nc_hello(fd, NBD_FLAG_C_FIXED_NEWSTYLE);
	put_be32(d, 96);
	{
		uint8_t h[NBD_OPT_HDR_LEN];

		put_be64(h, NBD_IHAVEOPT);
		put_be32(h + 8, NBD_OPT_GO);
		put_be32(h + 12, 100);
		nc_send(fd, h, sizeof(h));
		nc_send(fd, d, 4);
	}
	close(fd);
	check_healthy();
}

static void test_option_errors(void)
{
	static uint8_t big[20000];
	uint8_t d[64], r[600];
	char msg[600];
	uint32_t len;
	int fd = nc_connect(sock);

	nc_hello(fd, NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES);
	/* Unknown options and what we do not do. */
	nc_option(fd, 77, "xyz", 3);
	T_EQ(nc_opt_reply(fd, 77, NULL, 0, NULL), NBD_REP_ERR_UNSUP);
	nc_option(fd, NBD_OPT_STARTTLS, NULL, 0);
	T_EQ(nc_opt_reply(fd, NBD_OPT_STARTTLS, r, sizeof(r) - 1, NULL), NBD_REP_ERR_UNSUP);
	T_ASSERT(strstr((char *)r, "TLS"));
	/* Meta contexts before structured replies, and with no data. */
	nc_option(fd, NBD_OPT_SET_META_CONTEXT, NULL, 0);
	T_EQ(nc_opt_reply(fd, NBD_OPT_SET_META_CONTEXT, NULL, 0, NULL), NBD_REP_ERR_INVALID);
	/* Too long: drained and refused, the session goes on. */
	nc_option(fd, NBD_OPT_INFO, big, sizeof(big));
	T_EQ(nc_opt_reply(fd, NBD_OPT_INFO, NULL, 0, NULL), NBD_REP_ERR_TOO_BIG);
	/* Lengths that do not add up. */
	put_be32(d, 1000);
	put_be16(d + 4, 0);
	nc_option(fd, NBD_OPT_GO, d, 6);
	T_EQ(nc_opt_reply(fd, NBD_OPT_GO, NULL, 0, NULL), NBD_REP_ERR_INVALID);
	put_be32(d, 3);
	memcpy(d + 4, "lun", 3);
	put_be16(d + 7, 5);            /* 5 info requests, none sent */
	nc_option(fd, NBD_OPT_GO, d, 9);
	T_EQ(nc_opt_reply(fd, NBD_OPT_GO, NULL, 0, NULL), NBD_REP_ERR_INVALID);
	nc_option(fd, NBD_OPT_INFO, d, 2);
	T_EQ(nc_opt_reply(fd, NBD_OPT_INFO, NULL, 0, NULL), NBD_REP_ERR_INVALID);
	nc_option(fd, NBD_OPT_LIST, "x", 1);
	T_EQ(nc_opt_reply(fd, NBD_OPT_LIST, NULL, 0, NULL), NBD_REP_ERR_INVALID);
	nc_option(fd, NBD_OPT_STRUCTURED_REPLY, "x", 1);
	T_EQ(nc_opt_reply(fd, NBD_OPT_STRUCTURED_REPLY, NULL, 0, NULL), NBD_REP_ERR_INVALID);
	/* Unknown and refused exports, with the provider's words. */
	T_EQ(nc_go(fd, "nosuch", NULL, NULL, msg, sizeof(msg)), NBD_REP_ERR_UNKNOWN);
	T_ASSERT(strstr(msg, "nosuch"));
	T_EQ(nc_go(fd, "busy", NULL, NULL, msg, sizeof(msg)), NBD_REP_ERR_POLICY);
	T_ASSERT(strstr(msg, "superpipe mode"));
	/* LIST: both exports, then ACK. */
	nc_option(fd, NBD_OPT_LIST, NULL, 0);
	T_EQ(nc_opt_reply(fd, NBD_OPT_LIST, r, sizeof(r) - 1, &len), NBD_REP_SERVER);
	T_EQ(get_be32(r), 3);
	T_ASSERT(!memcmp(r + 4, "lun", 3));
	T_ASSERT(!memcmp(r + 7, "a ram LUN", 9));
	T_EQ(nc_opt_reply(fd, NBD_OPT_LIST, r, sizeof(r) - 1, &len), NBD_REP_SERVER);
	T_EQ(len, 6);
	T_EQ(nc_opt_reply(fd, NBD_OPT_LIST, NULL, 0, NULL), NBD_REP_ACK);
	/* INFO takes no reference; ABORT ends politely. */
	put_be32(d, 3);
	memcpy(d + 4, "lun", 3);
	put_be16(d + 7, 1);
	put_be16(d + 9, NBD_INFO_BLOCK_SIZE);
	nc_option(fd, NBD_OPT_INFO, d, 11);
	{
		bool bs = false, ex = false;
		uint32_t t;

		while ((t = nc_opt_reply(fd, NBD_OPT_INFO, r, sizeof(r) - 1, &len)) == NBD_REP_INFO) {
			if (get_be16(r) == NBD_INFO_BLOCK_SIZE) {
				T_EQ(len, 14);
				T_EQ(get_be32(r + 2), 1);
				T_EQ(get_be32(r + 6), 4096);
				T_EQ(get_be32(r + 10), 32u << 20);
				bs = true;
			}
			if (get_be16(r) == NBD_INFO_EXPORT) {
				T_EQ(get_be64(r + 2), LUN_SIZE);
				ex = true;
			}
		}
		T_EQ(t, NBD_REP_ACK);
		T_ASSERT(bs && ex);
	}
	T_EQ(nt_export_refs(&exp_), 0);
	nc_option(fd, NBD_OPT_ABORT, NULL, 0);
	T_EQ(nc_opt_reply(fd, NBD_OPT_ABORT, NULL, 0, NULL), NBD_REP_ACK);
	T_ASSERT(nc_closed(fd));
	close(fd);
	/* A huge option length: the server hangs up rather than read it. */
	fd = nc_connect(sock);
	nc_hello(fd, NBD_FLAG_C_FIXED_NEWSTYLE);
	{
		uint8_t h[NBD_OPT_HDR_LEN];

		put_be64(h, NBD_IHAVEOPT);
		put_be32(h + 8, NBD_OPT_GO);
		put_be32(h + 12, 0xfffffff0u);
		nc_send(fd, h, sizeof(h));
	}
	T_ASSERT(nc_closed(fd));
	close(fd);
	check_healthy();
}

static void test_export_name(void)
{
	uint8_t r[10 + 124];
	int fd = nc_connect(sock);

	/* Without NO_ZEROES: size, flags and 124 zero bytes. */
	nc_hello(fd, NBD_FLAG_C_FIXED_NEWSTYLE);
	nc_option(fd, NBD_OPT_EXPORT_NAME, "lun", 3);
	T_EQ(nc_recv(fd, r, sizeof(r)), 0);
	T_EQ(get_be64(r), LUN_SIZE);
	T_ASSERT(get_be16(r + 8) & NBD_FLAG_HAS_FLAGS);
	T_ASSERT(get_be16(r + 8) & NBD_FLAG_SEND_FUA);
	T_ASSERT(!(get_be16(r + 8) & NBD_FLAG_READ_ONLY));
	for (int i = 10; i < 134; i++)
		T_EQ(r[i], 0);
	T_EQ(nt_export_refs(&exp_), 1);
	nc_disc(fd);
	check_no_refs();
	/* An unknown name: the only answer is to hang up. */
	fd = nc_connect(sock);
	nc_hello(fd, NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES);
	nc_option(fd, NBD_OPT_EXPORT_NAME, "nosuch", 6);
	T_ASSERT(nc_closed(fd));
	close(fd);
}

static void test_request_before_go(void)
{
	int fd = nc_connect(sock);

	nc_hello(fd, NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES);
	/* A transmission request is not an option: bad magic, hang up. */
	nc_request(fd, NBD_CMD_READ, 0, 1, 0, 4096, NULL);
	T_ASSERT(nc_closed(fd));
	close(fd);
	check_healthy();
}

static void test_bad_requests(void)
{
	static uint8_t buf[1 << 16];
	uint64_t size;
	uint16_t flags;
	int fd = nc_connect(sock);

	nc_hello(fd, NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES);
	T_EQ(nc_go(fd, "lun", &size, &flags, NULL, 0), NBD_REP_ACK);
	T_EQ(flags & (NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH | NBD_FLAG_SEND_FUA |
		      NBD_FLAG_SEND_TRIM | NBD_FLAG_SEND_WRITE_ZEROES | NBD_FLAG_CAN_MULTI_CONN),
	     NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH | NBD_FLAG_SEND_FUA | NBD_FLAG_SEND_TRIM |
	     NBD_FLAG_SEND_WRITE_ZEROES | NBD_FLAG_CAN_MULTI_CONN);
	/* Out of range. */
	T_EQ(nc_read(fd, size, 4096, buf), NBD_EINVAL);
	T_EQ(nc_read(fd, size - 4096, 8192, buf), NBD_EINVAL);
	T_EQ(nc_read(fd, ~0ull - 10, 4096, buf), NBD_EINVAL);
	T_EQ(nc_write(fd, 0, size - 100, 4096, buf), NBD_ENOSPC);
	T_EQ(nc_cmd(fd, NBD_CMD_WRITE_ZEROES, 0, size, 4096), NBD_ENOSPC);
	T_EQ(nc_cmd(fd, NBD_CMD_TRIM, 0, size + 4096, 4096), NBD_EINVAL);
	T_EQ(nc_read(fd, 0, 0, buf), NBD_EINVAL);
	/* Unknown command and flags. */
	T_EQ(nc_cmd(fd, 42, 0, 0, 4096), NBD_EINVAL);
	T_EQ(nc_cmd(fd, NBD_CMD_BLOCK_STATUS, 0, 0, 4096), NBD_EINVAL);
	T_EQ(nc_cmd(fd, NBD_CMD_READ, 1u << 9, 0, 0), NBD_EINVAL);
	T_EQ(nc_cmd(fd, NBD_CMD_READ, NBD_CMD_FLAG_DF, 0, 0), NBD_EINVAL); /* no SR */
	T_EQ(nc_write(fd, NBD_CMD_FLAG_NO_HOLE, 0, 4096, buf), NBD_EINVAL);
	/* Oversized write: the payload is drained, the session goes on. */
	{
		size_t n = (32u << 20) + 4096;
		uint8_t *huge = calloc(1, n);

		T_ASSERT(huge);
		T_EQ(nc_write(fd, 0, 0, (uint32_t)n, huge), NBD_EINVAL);
		free(huge);
	}
	T_EQ(nc_read(fd, (1u << 20), 32u << 10, buf), 0);
	/* Unaligned I/O is served (minimum block size 1) by read-modify-write. */
	memset(buf, 0x5a, 4096);
	T_EQ(nc_write(fd, 0, 8192, 4096, buf), 0);
	memset(buf, 0xc3, 100);
	T_EQ(nc_write(fd, 0, 8192 + 1000, 100, buf), 0);
	T_EQ(nc_read(fd, 8192 + 999, 102, buf), 0);
	T_EQ(buf[0], 0x5a);
	for (int i = 1; i <= 100; i++)
		T_EQ(buf[i], 0xc3);
	T_EQ(buf[101], 0x5a);
	T_EQ(nc_cmd(fd, NBD_CMD_WRITE_ZEROES, 0, 8192 + 10, 20), 0);
	T_EQ(nc_read(fd, 8192, 4096, buf), 0);
	T_EQ(buf[9], 0x5a);
	T_EQ(buf[10], 0);
	T_EQ(buf[29], 0);
	T_EQ(buf[30], 0x5a);
	T_EQ(buf[1000], 0xc3);
	/* Bad request magic: hang up. */
	{
		uint8_t h[NBD_REQUEST_LEN] = { 0xde, 0xad };

		nc_send(fd, h, sizeof(h));
		T_ASSERT(nc_closed(fd));
		close(fd);
	}
	check_no_refs();
	check_healthy();
}

static void test_readonly(void)
{
	uint8_t buf[4096] = { 0 };
	uint16_t flags;
	int fd = nc_connect(sock);

	nc_hello(fd, NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES);
	T_EQ(nc_go(fd, "ro", NULL, &flags, NULL, 0), NBD_REP_ACK);
	T_ASSERT(flags & NBD_FLAG_READ_ONLY);
	T_EQ(nc_write(fd, 0, 0, 4096, buf), NBD_EPERM);
	T_EQ(nc_cmd(fd, NBD_CMD_TRIM, 0, 0, 4096), NBD_EPERM);
	T_EQ(nc_cmd(fd, NBD_CMD_WRITE_ZEROES, 0, 0, 4096), NBD_EPERM);
	T_EQ(nc_read(fd, 0, 4096, buf), 0);
	T_EQ(nc_cmd(fd, NBD_CMD_FLUSH, 0, 0, 0), 0);
	nc_disc(fd);
}

static void test_structured(void)
{
	uint8_t h[NBD_STRUCT_REPLY_LEN + 8], data[4096], w[4096];
	int fd = nc_open(sock, "lun", true, NULL);

	t_pattern_fill(w, sizeof(w), 9, 40);
	T_EQ(nc_write(fd, NBD_CMD_FLAG_FUA, 40 * 4096, 4096, w), 0);
	nc_request(fd, NBD_CMD_READ, NBD_CMD_FLAG_DF, 0xabc, 40 * 4096 + 8, 4000, NULL);
	T_EQ(nc_recv(fd, h, sizeof(h)), 0);
	T_ASSERT(get_be32(h) == NBD_STRUCTURED_REPLY_MAGIC);
	T_EQ(get_be16(h + 4), NBD_REPLY_FLAG_DONE);
	T_EQ(get_be16(h + 6), NBD_REPLY_TYPE_OFFSET_DATA);
	T_EQ(get_be64(h + 8), 0xabc);
	T_EQ(get_be32(h + 16), 4008);
	T_EQ(get_be64(h + 20), 40 * 4096 + 8);
	T_EQ(nc_recv(fd, data, 4000), 0);
	T_ASSERT(!memcmp(data, w + 8, 4000));
	/* An error: one ERROR chunk with a message. */
	nc_request(fd, NBD_CMD_READ, 0, 0xdef, LUN_SIZE, 4096, NULL);
	T_EQ(nc_recv(fd, h, NBD_STRUCT_REPLY_LEN), 0);
	T_EQ(get_be16(h + 6), NBD_REPLY_TYPE_ERROR);
	T_EQ(get_be64(h + 8), 0xdef);
	{
		uint32_t len = get_be32(h + 16);
		uint8_t p[600];

		T_ASSERT(len >= 6 && len < sizeof(p));
		T_EQ(nc_recv(fd, p, len), 0);
		T_EQ(get_be32(p), NBD_EINVAL);
		T_EQ(get_be16(p + 4), len - 6);
	}
	nc_disc(fd);
}

static void test_gone_mid_request(void)
{
	static uint8_t buf[1 << 20];
	int fd = nc_open(sock, "lun", false, NULL);

	/* A 1 MiB write of which 64 KiB arrive. */
	nc_request(fd, NBD_CMD_WRITE, 0, 1, 0, sizeof(buf), NULL);
	nc_send(fd, buf, 65536);
	close(fd);
	/* Many reads in flight, then gone without reading the replies. */
	fd = nc_open(sock, "lun", false, NULL);
	for (int i = 0; i < 64; i++)
		nc_request(fd, NBD_CMD_READ, 0, (uint64_t)i, (uint64_t)i * 65536, 65536, NULL);
	close(fd);
	check_no_refs();
	check_healthy();
}

int main(void)
{
	struct nbd_server *srv;

	signal(SIGPIPE, SIG_IGN);
	snprintf(sock, sizeof(sock), "%s", t_path("nbd-malformed.sock"));
	srv = nt_serve(&exp_, "ram:16M", sock);
	T_RUN(test_bad_option_magic);
	T_RUN(test_unknown_client_flags);
	T_RUN(test_truncated);
	T_RUN(test_option_errors);
	T_RUN(test_export_name);
	T_RUN(test_request_before_go);
	T_RUN(test_bad_requests);
	T_RUN(test_readonly);
	T_RUN(test_structured);
	T_RUN(test_gone_mid_request);
	check_no_refs();
	T_ASSERT(exp_.gets > 10);
	nt_unserve(srv, &exp_);
	return T_PASS;
}
