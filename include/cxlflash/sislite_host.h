/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sislite_host.h - small inline helpers for a host driving a SISLite window:
 * register access, the IOARRIN mailbox, the doorbell, and HRRQ consumption
 * with the toggle-bit protocol. Included by sislite.h; not used on its own.
 */
#ifndef CXLFLASH_SISLITE_HOST_H
#define CXLFLASH_SISLITE_HOST_H

#include <stdint.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <linux/futex.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SISL_ALL_ONES 0xFFFFFFFFFFFFFFFFull

/* Whether this is a ThreadSanitizer build (GCC and clang spell it apart). */
#if defined(__SANITIZE_THREAD__)
#define SISL_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SISL_TSAN 1
#endif
#endif

#if defined(__x86_64__) || defined(__i386__)
#define sisl_cpu_relax() __builtin_ia32_pause()
#else
#define sisl_cpu_relax() __asm__ __volatile__("" ::: "memory")
#endif

/* 64-bit register load with acquire ordering (sees the AFU's prior stores). */
static inline uint64_t sisl_read64(const uint64_t *reg)
{
	return __atomic_load_n(reg, __ATOMIC_ACQUIRE);
}

/* 64-bit register store with release ordering (publishes prior stores). */
static inline void sisl_write64(uint64_t *reg, uint64_t val)
{
	__atomic_store_n(reg, val, __ATOMIC_RELEASE);
}

/*
 * sisl_ring_doorbell() - wake the AFU if it is sleeping. Call after storing
 * to ioarrin or sq_tail. Costs a fence and a load while the AFU is awake.
 * The first ring that finds the AFU idle takes the flag and wakes it; the
 * rings after it, until the AFU flags itself idle again, find the flag
 * clear and make no system call: the AFU is awake or being woken, and it
 * looks at every queue again after it sets the flag, before it sleeps.
 */
static inline void sisl_ring_doorbell(struct sisl_host_map *map)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (__atomic_load_n(&map->afu_idle, __ATOMIC_RELAXED) != 0 &&
	    __atomic_exchange_n(&map->afu_idle, 0, __ATOMIC_SEQ_CST) != 0) {
		__atomic_fetch_add(&map->afu_doorbell, 1, __ATOMIC_SEQ_CST);
		syscall(SYS_futex, &map->afu_doorbell, FUTEX_WAKE, 1, NULL, NULL, 0);
	}
}

/*
 * sisl_ioarrin_write() - submit one IOARCB in IOARRIN mode.
 * @map: the context's window
 * @ea: the IOARCB's effective address (16-byte aligned)
 *
 * Waits until the AFU has taken the previous request out of the mailbox.
 * The caller must hold a cmd_room credit.
 *
 * The mailbox alone cannot tell a context that died: if the window fills
 * with ones between our read of an empty mailbox and our write, the write
 * puts a non-zero, non-all-ones value back into a dead window, and the next
 * call would wait forever. So the wait also watches cmd_room, which nothing
 * but the AFU's error fill sets to all ones.
 * Return: 0, or -1 if the window reads all ones (context in error).
 */
static inline int sisl_ioarrin_write(struct sisl_host_map *map, uint64_t ea)
{
	uint64_t v;

	while ((v = sisl_read64(&map->ioarrin)) != 0) {
		if (v == SISL_ALL_ONES || sisl_read64(&map->cmd_room) == SISL_ALL_ONES)
			return -1;
		sisl_cpu_relax();
	}
	sisl_write64(&map->ioarrin, ea);
	sisl_ring_doorbell(map);
	return 0;
}

/* Host-side view of an HRRQ. */
struct sisl_hrrq {
	uint64_t *start;  /* first entry */
	uint64_t *end;    /* last entry (inclusive) */
	uint64_t *curr;   /* next entry to look at */
	uint64_t toggle;  /* expected toggle bit, starts at 1 */
};

/*
 * sisl_hrrq_init() - zero @nentries entries at @base, and program the
 * window's rrq_start/rrq_end (start first, then end). Under ThreadSanitizer
 * it also tells an AFU in this process where the host mapped the window
 * (host_self in sislite.h), so TSan sees the handoffs through its registers.
 */
static inline void sisl_hrrq_init(struct sisl_hrrq *q, struct sisl_host_map *map,
				  uint64_t *base, unsigned nentries)
{
#ifdef SISL_TSAN
	__atomic_store_n(&map->host_self, (uint64_t)(uintptr_t)map, __ATOMIC_RELAXED);
#endif
	for (unsigned i = 0; i < nentries; i++)
		__atomic_store_n(&base[i], 0, __ATOMIC_RELAXED);
	q->start = base;
	q->end = base + nentries - 1;
	q->curr = base;
	q->toggle = 1;
	sisl_write64(&map->rrq_start, (uint64_t)(uintptr_t)q->start);
	sisl_write64(&map->rrq_end, (uint64_t)(uintptr_t)q->end);
}

/*
 * sisl_hrrq_next() - take the next completion, if any.
 * Return: the EA the AFU posted (IOARCB in IOARRIN mode, IOASA in SQ mode),
 * 0 if none is pending, or SISL_ALL_ONES if the entry reads all ones.
 */
static inline uint64_t sisl_hrrq_next(struct sisl_hrrq *q)
{
	uint64_t e = __atomic_load_n(q->curr, __ATOMIC_ACQUIRE);

	if (e == SISL_ALL_ONES)
		return SISL_ALL_ONES;
	if ((e & SISL_RESP_HANDLE_T_BIT) != q->toggle)
		return 0;
	if (q->curr == q->end) {
		q->curr = q->start;
		q->toggle ^= SISL_RESP_HANDLE_T_BIT;
	} else {
		q->curr++;
	}
	return e & ~SISL_RESP_HANDLE_T_BIT;
}

#ifdef __cplusplus
}
#endif

#endif /* CXLFLASH_SISLITE_HOST_H */
