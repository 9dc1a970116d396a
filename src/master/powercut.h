/* SPDX-License-Identifier: Apache-2.0 */
/*
 * powercut.h - a simulated power cut on a closed "fault:" LUN, for tests and
 * `cxlflash powercut` (docs/fault.md).
 */
#ifndef CXLFLASH_MASTER_POWERCUT_H
#define CXLFLASH_MASTER_POWERCUT_H

#include <stdint.h>

#include "backend/backend.h"

/*
 * lun_powercut() - open the LUN @name names ("fault:" and a file LUN), take
 * its lock as a writer would, and run be_fault_powercut() on it.
 * Return: the blocks put back (>= 0); -EINVAL when @name is not a fault LUN
 * with a write cache over a file (memory does not outlive its process);
 * -EBUSY when a process has the LUN open (logged, naming it); or another
 * negative errno. Messages go to the log.
 */
int64_t lun_powercut(const char *name, enum be_powercut how, uint64_t seed);

#endif
