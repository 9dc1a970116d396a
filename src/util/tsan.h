/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tsan.h - ThreadSanitizer annotations for the few places where threads
 * synchronise through something TSan does not see: memory mapped twice
 * (the AFU's windows: afu/afu_tsan.h) or mapped and unmapped by raw system
 * calls (io_uring rings: backend/engine.c). In other builds every call
 * here compiles to nothing.
 *
 * tsan_release(addr) / tsan_acquire(addr): what TSan's atomics do at @addr
 * (any address of the program's memory, mapped or not): a later acquire of
 * @addr sees everything the releasing thread did before its release. Not
 * while another thread unmaps @addr: TSan resets its metadata for the range
 * then, and a concurrent acquire there crashed inside TSan (SEGV in
 * MetaMap::GetSync; block/chunk.c's TSAN_DETACH_FIRST).
 */
#ifndef CXLFLASH_UTIL_TSAN_H
#define CXLFLASH_UTIL_TSAN_H

#include <stddef.h>
#include <stdint.h>

#if defined(__SANITIZE_THREAD__)
#define CXLFLASH_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CXLFLASH_TSAN 1
#endif
#endif

#ifdef CXLFLASH_TSAN
/* ThreadSanitizer's annotation interface (libtsan, clang's runtime). */
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);

static inline void tsan_acquire(const void *addr)
{
	__tsan_acquire((void *)(uintptr_t)addr);
}

static inline void tsan_release(const void *addr)
{
	__tsan_release((void *)(uintptr_t)addr);
}
#else
static inline void tsan_acquire(const void *addr)
{
	(void)addr;
}

static inline void tsan_release(const void *addr)
{
	(void)addr;
}
#endif

/*
 * tsan_release_pages() / tsan_acquire_pages() - the same for every page
 * of [@p, @p + @len): memory that raw system calls unmapped (release, just
 * before) and mapped again at an overlapping address (acquire, just after).
 */
static inline void tsan_release_pages(const void *p, size_t len)
{
#ifdef CXLFLASH_TSAN
	for (uintptr_t a = (uintptr_t)p & ~(uintptr_t)4095; a < (uintptr_t)p + len; a += 4096)
		tsan_release((const void *)a);
#else
	(void)p;
	(void)len;
#endif
}

static inline void tsan_acquire_pages(const void *p, size_t len)
{
#ifdef CXLFLASH_TSAN
	for (uintptr_t a = (uintptr_t)p & ~(uintptr_t)4095; a < (uintptr_t)p + len; a += 4096)
		tsan_acquire((const void *)a);
#else
	(void)p;
	(void)len;
#endif
}

#endif /* CXLFLASH_UTIL_TSAN_H */
