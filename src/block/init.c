/* SPDX-License-Identifier: Apache-2.0 */
/*
 * init.c - cblk_init() and cblk_term(). IBM's library did its set-up in a
 * constructor and these did nothing on Linux; ours sets up lazily at the
 * first cblk_open(), so they are kept for source compatibility only.
 */
#include <capiblock.h>

int cblk_init(void *arg, uint64_t flags)
{
	(void)arg;
	(void)flags;
	return 0;
}

int cblk_term(void *arg, uint64_t flags)
{
	(void)arg;
	(void)flags;
	return 0;
}
