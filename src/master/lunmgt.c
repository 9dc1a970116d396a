/* SPDX-License-Identifier: Apache-2.0 */
/*
 * lunmgt.c - LUN identity and modes: the WWID, the access mode with its user
 * count (NONE / VIRTUAL / PHYSICAL), legacy vs superpipe (MANAGE_LUN), and
 * VERIFY (capacity changes).
 */
#include "master/master.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/xattr.h>

#include "backend/backend.h"
#include "util/log.h"

#define WWID_XATTR "user.cxlflash.wwid"

/* FNV-1a, for a WWID derived from a name when nothing can be stored. */
static uint64_t fnv1a(const void *p, size_t n, uint64_t h)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return h;
}

/* NAA 6 (IEEE registered extended) with company id 0x000000: not a
 * registered id, the remaining 124 bits are ours. */
static void make_naa6(uint8_t w[CXLFLASH_WWID_LEN])
{
	w[0] = 0x60;
	w[1] = 0x00;
	w[2] = 0x00;
	w[3] &= 0x0F;
}

/* A WWID that depends only on the file's device and inode numbers. */
static void identity_wwid(const struct backend *be, uint8_t w[CXLFLASH_WWID_LEN])
{
	uint64_t h1 = fnv1a(&be->dev, sizeof(be->dev), 0xcbf29ce484222325ull);
	uint64_t h2;

	h1 = fnv1a(&be->ino, sizeof(be->ino), h1);
	h2 = fnv1a(&h1, sizeof(h1), 0x84222325cbf29ce4ull);
	memcpy(w, &h1, 8);
	memcpy(w + 8, &h2, 8);
	make_naa6(w);
}

/* A WWID that depends only on the backend's shared identity (be->uid). */
static void uid_wwid(const struct backend *be, uint8_t w[CXLFLASH_WWID_LEN])
{
	size_t n = strnlen(be->uid, sizeof(be->uid));
	uint64_t h1 = fnv1a(be->uid, n, 0xcbf29ce484222325ull);
	uint64_t h2 = fnv1a(be->uid, n, 0x84222325cbf29ce4ull ^ h1);

	memcpy(w, &h1, 8);
	memcpy(w + 8, &h2, 8);
	make_naa6(w);
}

/*
 * lun_derive_wwid() - a 16-byte NAA-6 WWID for a LUN opened without one.
 * A backend with a shared identity (an rbd image: its cluster, pool and
 * image ids) gets a hash of it, the same from every host and every open.
 * A file or device keeps its WWID in the user.cxlflash.wwid extended
 * attribute, created at random on first use; where the file system has no
 * user xattrs it is a hash of the device and inode numbers, stable for the
 * life of the file. Memory LUNs get a random WWID.
 */
void lun_derive_wwid(struct backend *be, uint8_t wwid[CXLFLASH_WWID_LEN])
{
	uint8_t w[CXLFLASH_WWID_LEN];

	if (be->uid[0]) {
		uid_wwid(be, wwid);
		return;
	}
	if (be->ino && be->lock_fd >= 0 &&
	    fgetxattr(be->lock_fd, WWID_XATTR, w, sizeof(w)) == sizeof(w) && (w[0] >> 4) == 6) {
		memcpy(wwid, w, sizeof(w));
		return;
	}
	if (getrandom(w, sizeof(w), GRND_NONBLOCK) != sizeof(w))
		identity_wwid(be, w);
	make_naa6(w);
	if (be->ino && (be->lock_fd < 0 ||
			fsetxattr(be->lock_fd, WWID_XATTR, w, sizeof(w), XATTR_CREATE) != 0))
		identity_wwid(be, w);
	memcpy(wwid, w, sizeof(w));
}

/*
 * lun_attach() - take one user of @lun in @mode. A LUN with no users takes
 * any mode; otherwise the mode must match. Return 0 or -EINVAL.
 */
int lun_attach(struct mlun *lun, enum lun_mode mode)
{
	if (lun->mode == MODE_NONE) {
		/* A physical user may write anywhere: no scrub may be left to
		 * run behind it. (The allocator of a LUN with none left is
		 * gone; a virtual user takes it back as it is.) */
		if (mode != MODE_VIRTUAL && lun->ca_ready)
			scrub_finish(lun->m, lun, UINT64_MAX);
		lun->mode = mode;
	} else if (lun->mode != mode) {
		log_info("LUN %s is in %s mode; %s access refused", lun->name,
			 lun->mode == MODE_VIRTUAL ? "virtual" : "physical",
			 mode == MODE_VIRTUAL ? "virtual" : "physical");
		return -EINVAL;
	}
	lun->users++;
	return 0;
}

/*
 * lun_detach() - drop one user. The last one returns the LUN to MODE_NONE
 * and drops its allocator: virtual LUNs do not outlive their handles. With
 * freed chunks still waiting for their scrub, the allocator stays until
 * the last of them is done (scrub.c).
 */
void lun_detach(struct mlun *lun)
{
	if (lun->users == 0) {
		log_err("LUN %s: user count underflow", lun->name);
		return;
	}
	if (--lun->users == 0) {
		lun->mode = MODE_NONE;
		if (lun->ca_ready && lun->scrub_pending == 0) {
			ca_destroy(&lun->ca);
			lun->ca_ready = false;
			lun->retired_chunks = 0;
		}
	}
}

int handle_manage_lun(struct mopen *o, const struct mcaller *who, void *arg)
{
	struct dk_cxlflash_manage_lun *req = arg;
	struct mlun *lun = o->lun;

	(void)who;
	if (memcmp(req->wwid, lun->wwid, CXLFLASH_WWID_LEN) != 0) {
		log_info("MANAGE_LUN: WWID does not match LUN %s", lun->name);
		return -EINVAL;
	}
	if (req->hdr.flags & DK_CXLFLASH_MANAGE_LUN_ENABLE_SUPERPIPE) {
		if (lun->legacy_users) {
			/* As the kernel refuses a disk that is in use. */
			log_info("MANAGE_LUN: LUN %s has %u legacy (NBD) clients", lun->name,
				 lun->legacy_users);
			return -EBUSY;
		}
		lun->superpipe = true;
	} else if (req->hdr.flags & DK_CXLFLASH_MANAGE_LUN_DISABLE_SUPERPIPE) {
		if (lun->mode != MODE_NONE) {
			log_info("MANAGE_LUN: LUN %s is in use (%u handles)", lun->name, lun->users);
			return -EBUSY;
		}
		/* NBD clients write anywhere: finish the scrubs first. */
		if (lun->ca_ready)
			scrub_finish(lun->m, lun, UINT64_MAX);
		lun->superpipe = false;
	}
	req->hdr.return_flags = 0;
	return 0;
}

/* Normalised sense: key, asc. Return 0, or -EINVAL for unusable data. */
static int parse_sense(const uint8_t *s, uint8_t *key, uint8_t *asc)
{
	switch (s[0] & 0x7F) {
	case 0x70:
	case 0x71: /* fixed format */
		*key = s[2] & 0x0F;
		*asc = s[12];
		return 0;
	case 0x72:
	case 0x73: /* descriptor format */
		*key = s[1] & 0x0F;
		*asc = s[2];
		return 0;
	default:
		return -EINVAL;
	}
}

/* Re-read the backend's capacity (the kernel's READ CAPACITY after a UA). */
static int lun_refresh_capacity(struct mlun *lun)
{
	struct backend *be = lun->be;
	uint64_t old = lun->max_lba;

	if (be->ops->refresh) {
		int rc = be->ops->refresh(be);

		if (rc) {
			log_err("LUN %s: capacity re-read failed: %s", lun->name, strerror(-rc));
			return -ENODEV;
		}
	}
	if (be->nblocks == 0)
		return -ENODEV;
	lun->max_lba = be->nblocks - 1;
	if (lun->max_lba != old)
		log_notice("LUN %s: capacity changed from %llu to %llu blocks", lun->name,
			   (unsigned long long)old + 1, (unsigned long long)lun->max_lba + 1);
	return 0;
}

int handle_verify(struct mopen *o, const struct mcaller *who, void *arg)
{
	struct dk_cxlflash_verify *req = arg;
	struct mlun *lun = o->lun;
	struct sisl_rht_entry *e;
	struct mctx *c;
	int rc;

	c = ctx_get(o->m, req->context_id, lun, who, CTX_PLAIN);
	if (!c)
		return -EINVAL;
	e = rhte_get(c, lun, req->rsrc_handle);
	if (!e)
		return -EINVAL;
	if (req->hint & DK_CXLFLASH_VERIFY_HINT_SENSE) {
		uint8_t key, asc;

		if (parse_sense(req->sense_data, &key, &asc))
			return -EINVAL;
		switch (key) {
		case 0x0: /* NO SENSE */
		case 0x1: /* RECOVERED ERROR */
		case 0x2: /* NOT READY */
			break;
		case 0x6: /* UNIT ATTENTION */
			if (asc == 0x29 || asc == 0x2A || asc == 0x3F) {
				rc = lun_refresh_capacity(lun);
				if (rc)
					return rc;
				break;
			}
			return -EIO;
		default:
			return -EIO;
		}
	}
	if (SISL_RHT_FMT(e->fp) == SISL_RHT_FORMAT_DIRECT) {
		/* A backend that notices a resize by itself (rbd's update
		 * watch) has the new capacity already: a physical LUN takes it. */
		uint64_t n = __atomic_load_n(&lun->be->nblocks, __ATOMIC_RELAXED);

		if (lun->mode == MODE_PHYSICAL && n && n - 1 != lun->max_lba) {
			log_notice("LUN %s: capacity changed from %llu to %llu blocks", lun->name,
				   (unsigned long long)lun->max_lba + 1, (unsigned long long)n);
			lun->max_lba = n - 1;
		}
		req->last_lba = lun->max_lba;
	} else
		req->last_lba = vlun_last_lba(e->lxt_cnt);
	req->hdr.return_flags = 0;
	return 0;
}
