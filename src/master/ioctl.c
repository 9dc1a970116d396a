/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ioctl.c - DK_CXLFLASH_* dispatch: one table of {request, size, handler},
 * one gate that checks the header, and a log line naming failed requests.
 * The same entry point serves in-process calls and (later) daemon messages.
 */
#include "master/master.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "util/log.h"

typedef int (*ioctl_handler)(struct mopen *o, const struct mcaller *who, void *arg);

static const struct {
	unsigned long request;
	size_t size;
	ioctl_handler fn;
	const char *name;
} ioctl_table[] = {
	{ DK_CXLFLASH_ATTACH, sizeof(struct dk_cxlflash_attach), handle_attach, "DK_CXLFLASH_ATTACH" },
	{ DK_CXLFLASH_USER_DIRECT, sizeof(struct dk_cxlflash_udirect), handle_udirect,
	  "DK_CXLFLASH_USER_DIRECT" },
	{ DK_CXLFLASH_RELEASE, sizeof(struct dk_cxlflash_release), handle_release,
	  "DK_CXLFLASH_RELEASE" },
	{ DK_CXLFLASH_DETACH, sizeof(struct dk_cxlflash_detach), handle_detach, "DK_CXLFLASH_DETACH" },
	{ DK_CXLFLASH_VERIFY, sizeof(struct dk_cxlflash_verify), handle_verify, "DK_CXLFLASH_VERIFY" },
	{ DK_CXLFLASH_RECOVER_AFU, sizeof(struct dk_cxlflash_recover_afu), handle_recover,
	  "DK_CXLFLASH_RECOVER_AFU" },
	{ DK_CXLFLASH_MANAGE_LUN, sizeof(struct dk_cxlflash_manage_lun), handle_manage_lun,
	  "DK_CXLFLASH_MANAGE_LUN" },
	{ DK_CXLFLASH_USER_VIRTUAL, sizeof(struct dk_cxlflash_uvirtual), handle_uvirtual,
	  "DK_CXLFLASH_USER_VIRTUAL" },
	{ DK_CXLFLASH_VLUN_RESIZE, sizeof(struct dk_cxlflash_resize), handle_resize,
	  "DK_CXLFLASH_VLUN_RESIZE" },
	{ DK_CXLFLASH_VLUN_CLONE, sizeof(struct dk_cxlflash_clone), handle_clone,
	  "DK_CXLFLASH_VLUN_CLONE" },
};

#define NENTRIES (sizeof(ioctl_table) / sizeof(ioctl_table[0]))

static int lookup(unsigned long request)
{
	for (unsigned i = 0; i < NENTRIES; i++)
		if (ioctl_table[i].request == request)
			return (int)i;
	return -1;
}

size_t master_ioctl_size(unsigned long request)
{
	int i = lookup(request);

	return i < 0 ? 0 : ioctl_table[i].size;
}

const char *master_ioctl_name(unsigned long request)
{
	int i = lookup(request);

	return i < 0 ? "unknown request" : ioctl_table[i].name;
}

int master_ioctl(struct mopen *o, const struct mcaller *who, unsigned long request, void *arg)
{
	union cxlflash_ioctls buf;
	struct dk_cxlflash_hdr *hdr = arg;
	struct master *m = o->m;
	int i = lookup(request), rc;

	if (i < 0) {
		log_info("request 0x%lx is not a DK_CXLFLASH request", request);
		return -EINVAL;
	}
	if (hdr->version != DK_CXLFLASH_VERSION_0) {
		log_info("%s: version %u is not supported", ioctl_table[i].name, hdr->version);
		return -EINVAL;
	}
	if (hdr->rsvd[0] || hdr->rsvd[1] || hdr->rsvd[2] || hdr->return_flags) {
		log_info("%s: reserved header fields or return_flags are not zero", ioctl_table[i].name);
		return -EINVAL;
	}
	/* Work on a copy: the caller's struct changes only on success. */
	memcpy(&buf, arg, ioctl_table[i].size);
	pthread_mutex_lock(&m->lock);
	master_reap_closed_fds(m);
	if (!o->lun->superpipe && request != DK_CXLFLASH_MANAGE_LUN) {
		log_info("%s: LUN %s is in legacy mode (MANAGE_LUN enables superpipe)",
			 ioctl_table[i].name, o->lun->name);
		rc = -EINVAL;
	} else {
		rc = ioctl_table[i].fn(o, who, &buf);
	}
	pthread_mutex_unlock(&m->lock);
	if (rc)
		log_info("%s on %s failed: %s", ioctl_table[i].name, o->lun->name, strerror(-rc));
	else
		memcpy(arg, &buf, ioctl_table[i].size);
	return rc;
}
