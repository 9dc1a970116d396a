/* SPDX-License-Identifier: Apache-2.0 */
/*
 * powercut.c - a power cut on a LUN nobody has open: the LUN lock keeps it
 * from cutting under a live writer (the journal and the data would change
 * beneath it).
 */
#include "master/powercut.h"

#include <errno.h>
#include <string.h>

#include "master/lunlock.h"
#include "util/log.h"

int64_t lun_powercut(const char *name, enum be_powercut how, uint64_t seed)
{
	struct be_spec spec;
	struct backend *be;
	int64_t rc;

	rc = be_parse_spec(name, &spec);
	if (rc)
		return rc;
	if (!spec.fault.on || !spec.fault.wcache) {
		log_err("%s: not a fault LUN with a write cache (fault:LUN)", name);
		return -EINVAL;
	}
	if (strcmp(spec.kind, "file")) {
		log_err("%s: a %s LUN does not outlive its process: nothing to cut", name,
			spec.kind);
		return -EINVAL;
	}
	spec.create = false;   /* a cut never makes a LUN */
	rc = be_open(&spec, &be);
	if (rc)
		return rc;
	rc = lun_lock(be, name, false);
	if (!rc)
		rc = be_fault_powercut(be, how, seed);
	be_close(be);
	return rc;
}
