/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: cxlflashd --nbd-no-block-status, and the config line
 * `nbd-block-status no`, turn block status off (issue 14): the
 * metadata-context options get NBD_REP_ERR_UNSUP; without them
 * SET_META_CONTEXT base:allocation is granted.
 */
#include "dnbd_test.h"

/* SET_META_CONTEXT base:allocation for "x": the reply type that ends it. */
static uint32_t set_meta(const struct t_daemon *d)
{
	uint8_t q[64], r[256];
	const char *ctx = "base:allocation";
	uint32_t len = 0, type;
	int fd = nc_connect(d->nbd_socket);

	nc_hello(fd, NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES);
	nc_option(fd, NBD_OPT_STRUCTURED_REPLY, NULL, 0);
	T_EQ(nc_opt_reply(fd, NBD_OPT_STRUCTURED_REPLY, NULL, 0, NULL), NBD_REP_ACK);
	put_be32(q, 1);
	q[4] = 'x';
	put_be32(q + 5, 1);
	put_be32(q + 9, (uint32_t)strlen(ctx));
	memcpy(q + 13, ctx, strlen(ctx));
	nc_option(fd, NBD_OPT_SET_META_CONTEXT, q, 13 + (uint32_t)strlen(ctx));
	while ((type = nc_opt_reply(fd, NBD_OPT_SET_META_CONTEXT, r, sizeof(r) - 1, &len)) ==
	       NBD_REP_META_CONTEXT)
		;
	nc_option(fd, NBD_OPT_ABORT, NULL, 0);
	close(fd);
	return type;
}

static uint32_t with(const char *const *args)
{
	struct t_daemon d;
	uint32_t type;

	T_EQ(t_daemon_start(&d, args), 0);
	type = set_meta(&d);
	T_EQ(t_daemon_stop(&d), 0);
	return type;
}

int main(void)
{
	const char *conf = t_path("nbd-no-block-status.conf");
	FILE *f = fopen(conf, "w");

	T_ASSERT(f);
	fputs("# block status off\nnbd-block-status no\n", f);
	fclose(f);
	T_EQ(with((const char *[]){ "--lun", "x=ram:16M", "--legacy", "x", NULL }), NBD_REP_ACK);
	T_EQ(with((const char *[]){ "--lun", "x=ram:16M", "--legacy", "x", "--nbd-no-block-status",
				    NULL }), NBD_REP_ERR_UNSUP);
	T_EQ(with((const char *[]){ "--config", conf, "--lun", "x=ram:16M", "--legacy", "x",
				    NULL }), NBD_REP_ERR_UNSUP);
	unlink(conf);
	return T_PASS;
}
