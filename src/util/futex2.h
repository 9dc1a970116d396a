/* SPDX-License-Identifier: Apache-2.0 */
/*
 * futex2.h - futex_waitv(2) names that older kernel headers lack (Linux
 * 5.16 added the call; the values are its uapi's).
 */
#ifndef CXLFLASH_UTIL_FUTEX2_H
#define CXLFLASH_UTIL_FUTEX2_H

#include <linux/futex.h>
#include <sys/syscall.h>

#ifndef FUTEX2_SIZE_U32
#define FUTEX2_SIZE_U32 0x02
#endif
#ifndef FUTEX2_PRIVATE
#define FUTEX2_PRIVATE FUTEX_PRIVATE_FLAG
#endif
#ifndef FUTEX_WAITV_MAX
#define FUTEX_WAITV_MAX 128
#endif
#ifndef SYS_futex_waitv
#define SYS_futex_waitv 449
#endif

#endif
