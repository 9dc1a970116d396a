/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rates.c - per-uid rate limits (issue 12, part 4): one AFU rate bucket
 * (afu.h) per uid that has an IOPS or bandwidth limit, shared by every
 * context that uid attaches, so its tenants together stay under the rate
 * wherever their contexts run. The limits are those of the latest caller's
 * struct mlimits (a quota rule changes at the uid's next ATTACH). Buckets
 * live as long as the master: a handful of uids at most.
 */
#include "master/master.h"

#include <stdlib.h>

struct mrate {
	uid_t uid;
	struct afu_rate *r;
	struct mrate *next;
};

static uint64_t limit_of(uint64_t v)
{
	return v == MLIMIT_NONE ? 0 : v;
}

struct afu_rate *rate_for(struct master *m, const struct mcaller *who)
{
	uint64_t iops = who->lim ? limit_of(who->lim->iops) : 0;
	uint64_t bps = who->lim ? limit_of(who->lim->bps) : 0;
	struct mrate *mr;

	for (mr = m->rates; mr; mr = mr->next)
		if (mr->uid == who->uid)
			break;
	if (!mr && !iops && !bps)
		return NULL;
	if (!mr) {
		mr = calloc(1, sizeof(*mr));
		if (!mr || afu_rate_create(&mr->r)) {
			free(mr);
			return NULL;
		}
		mr->uid = who->uid;
		mr->next = m->rates;
		m->rates = mr;
	}
	afu_rate_set(mr->r, iops, bps);
	return mr->r;
}

bool master_rate_get(struct master *m, uid_t uid, struct afu_rate_stats *st)
{
	for (struct mrate *mr = m->rates; mr; mr = mr->next) {
		if (mr->uid == uid) {
			afu_rate_get(mr->r, st);
			return true;
		}
	}
	return false;
}

void rates_free(struct master *m)
{
	while (m->rates) {
		struct mrate *mr = m->rates;

		m->rates = mr->next;
		afu_rate_free(mr->r);
		free(mr);
	}
}
