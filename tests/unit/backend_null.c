/* SPDX-License-Identifier: Apache-2.0 */
/*
 * backend_null.c - the null backend: capacity from the size, every request
 * completes inline with 0 and moves no data, range checks still apply.
 */
#include "t_util.h"
#include "backend/backend.h"

struct done {
	int calls;
	int res;
};

static void on_done(struct be_io *io, int res)
{
	struct done *d = io->cb_arg;

	d->calls++;
	d->res = res;
}

static void test_null(void)
{
	struct be_spec s;
	struct backend *be;
	struct be_engine *eng;
	uint8_t buf[3 * 4096];
	static const enum be_op ops[] = { BE_OP_READ, BE_OP_WRITE, BE_OP_WRITE_ZEROES,
					  BE_OP_DISCARD, BE_OP_FLUSH };

	T_EQ(be_parse_spec("null:1G", &s), 0);
	T_EQ(be_open(&s, &be), 0);
	T_EQ(be->nblocks, 1u << 18);
	T_ASSERT(!strcmp(be->ops->name, "null"));
	T_ASSERT(!strncmp(be->id, "null:1073741824", 15));
	T_EQ(be->lock_fd, -1);
	T_EQ(be_engine_create(&eng, 4), 0);

	for (unsigned i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		struct done d = { 0, 1 };
		struct be_io io = { .op = ops[i], .lba = be->nblocks - 3, .nblocks = 3, .buf = buf,
				    .cb = on_done, .cb_arg = &d };

		memset(buf, 0xA5, sizeof(buf));
		T_EQ(be->ops->submit(be, i & 1 ? eng : NULL, &io), 0);
		T_EQ(d.calls, 1);
		T_EQ(d.res, 0);
		/* no data moved: a READ leaves the buffer alone */
		for (size_t j = 0; j < sizeof(buf); j++)
			T_EQ(buf[j], 0xA5);
		T_EQ(be->ops->io_sync(be, ops[i], 0, 3, buf), 0);
	}
	T_EQ(be_engine_inflight(eng), 0);
	T_EQ(be_engine_poll(eng, 0), 0);
	T_EQ(be_engine_wait(eng, 1000), 0);

	/* checks still apply */
	{
		struct done d = { 0, 1 };
		struct be_io io = { .op = BE_OP_READ, .lba = be->nblocks, .nblocks = 1, .buf = buf,
				    .cb = on_done, .cb_arg = &d };

		T_EQ(be->ops->submit(be, eng, &io), -ERANGE);
		T_EQ(d.calls, 0);
		T_EQ(be_read_sync(be, be->nblocks - 1, 2, buf), -ERANGE);
	}
	be_engine_destroy(eng);
	be_close(be);

	/* two null LUNs of one size still have distinct ids */
	{
		struct backend *a, *b;

		T_EQ(be_open(&s, &a), 0);
		T_EQ(be_open(&s, &b), 0);
		T_ASSERT(strcmp(a->id, b->id) != 0);
		be_close(a);
		be_close(b);
	}
}

int main(void)
{
	T_RUN(test_null);
	return T_PASS;
}
