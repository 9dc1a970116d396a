/* SPDX-License-Identifier: Apache-2.0 */
/*
 * lunlock.h - the cross-process ownership lock of a file or device LUN,
 * taken by every front that serves a LUN on its own (the embedded master,
 * `cxlflash nbd`), so two processes never drive one LUN at once.
 */
#ifndef CXLFLASH_MASTER_LUNLOCK_H
#define CXLFLASH_MASTER_LUNLOCK_H

#include <stdbool.h>

struct backend;

/*
 * lun_lock() - lock @be (a no-op for memory LUNs: lock_fd < 0) shared when
 * @readonly, else exclusive. The lock lives as long as be->lock_fd.
 * Return: 0, -EBUSY when another process holds it (logged with the holder's
 * pid and name, and @name), or another negative errno from fcntl.
 */
int lun_lock(struct backend *be, const char *name, bool readonly);

#endif
