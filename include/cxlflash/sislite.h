/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sislite.h - the SISLite interface between a host context and the software AFU.
 *
 * Layouts follow IBM's SISLite as used by the CXL Flash ("CAPI Flash") adapter:
 * IOARCB and IOASA are 64 bytes each, a command block (struct sisl_iocmd) is 128,
 * the per-context host map is a 64 KiB window with the registers at the offsets
 * the hardware used.
 *
 * Byte order: everything here is in HOST byte order - registers, IOARCB, IOASA,
 * HRRQ entries, RHT and LXT entries - except the SCSI CDB, which is big-endian
 * as in SCSI. endian_ctrl reads back the host's order (SISL_ENDIAN_CTRL_LE on
 * little-endian machines). The hardware's MMIO registers were big-endian; this
 * software AFU lives in shared memory and has no reason to swap.
 *
 * Where the window is shared memory rather than a device, two registers behave
 * slightly differently from hardware (see "Software AFU notes" below).
 */
#ifndef CXLFLASH_SISLITE_H
#define CXLFLASH_SISLITE_H

#include <stdint.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------
 * IOARCB: the request control block (64 bytes, at least 16-byte aligned).
 */
struct sisl_ioarcb {
	uint16_t ctx_id;        /* context handle (low 16 bits of the handle) */
	uint16_t req_flags;     /* SISL_REQ_FLAGS_* */
	union {
		uint32_t res_hndl;  /* resource handle (RHT index) */
		uint32_t port_sel;  /* port mask in LUN-id mode (master only) */
	};
	uint64_t lun_id;        /* LUN-id mode only */
	uint32_t data_len;      /* bytes; one contiguous buffer */
	uint32_t ioadl_len;
	union {
		uint64_t data_ea;   /* effective address of the data buffer */
		uint64_t ioadl_ea;
	};
	uint8_t msi;            /* LISN raised on the HRRQ write (ignored: polled) */
	uint8_t rrq;            /* must be 0 */
	uint16_t timeout;       /* units from SISL_REQ_FLAGS_TIMEOUT_* */
	uint32_t rsvd1;
	uint8_t cdb[16];        /* SCSI CDB, big-endian */
	union {
		uint64_t reserved;
		uint64_t sq_ioasa_ea; /* SQ mode: where the AFU writes the IOASA */
	};
};

#define SISL_REQ_FLAGS_RES_HNDL      0x8000u /* res_hndl is valid (else LUN id) */
#define SISL_REQ_FLAGS_PORT_LUN_ID   0x0000u
#define SISL_REQ_FLAGS_SUP_UNDERRUN  0x4000u /* do not report an underrun */
#define SISL_REQ_FLAGS_TIMEOUT_SECS  0x0000u
#define SISL_REQ_FLAGS_TIMEOUT_MSECS 0x0040u
#define SISL_REQ_FLAGS_TIMEOUT_USECS 0x0080u
#define SISL_REQ_FLAGS_TIMEOUT_CYCLES 0x00C0u
#define SISL_REQ_FLAGS_TMF_CMD       0x0004u
#define SISL_REQ_FLAGS_AFU_CMD       0x0002u
#define SISL_REQ_FLAGS_HOST_WRITE    0x0001u
#define SISL_REQ_FLAGS_HOST_READ     0x0000u

/* LISNs (interrupt source numbers) */
#define SISL_MSI_CXL_PFAULT   0
#define SISL_MSI_SYNC_ERROR   1
#define SISL_MSI_RRQ_UPDATED  2
#define SISL_MSI_ASYNC_ERROR  3

/* AFU commands (cdb[0] with SISL_REQ_FLAGS_AFU_CMD; master contexts only) */
#define SISL_AFU_CMD_SYNC           0xC0
#define SISL_AFU_CMD_LUN_PROVISION  0xD0
#define SISL_AFU_CMD_DEBUG          0xE0
#define SISL_AFU_LW_SYNC 0
#define SISL_AFU_HW_SYNC 1
#define SISL_AFU_GSYNC   2

/* ---------------------------------------------------------------------------
 * IOASA: the status block (64 bytes). ioasc == 0 means success.
 */
struct sisl_rc {
	uint8_t flags;   /* SISL_RC_FLAGS_* */
	uint8_t afu_rc;  /* SISL_AFU_RC_* */
	uint8_t scsi_rc; /* SCSI status byte */
	uint8_t fc_rc;   /* SISL_FC_RC_* */
};

#define SISL_SENSE_DATA_LEN 20

struct sisl_ioasa {
	union {
		struct sisl_rc rc;
		uint32_t ioasc;
#define SISL_IOASC_GOOD_COMPLETION 0u
	};
	union {
		uint32_t resid;     /* bytes not transferred */
		uint32_t lunid_hi;
	};
	uint8_t port;
	uint8_t afu_extra;
	uint8_t scsi_extra;
	uint8_t fc_extra;
	union {
		uint8_t sense_data[SISL_SENSE_DATA_LEN]; /* fixed-format sense */
		struct {
			uint32_t lunid_lo;
			uint8_t wwid[16];
		};
	};
	union {
		uint64_t host_use[4];   /* never touched by the AFU */
		uint8_t host_use_b[32];
	};
};

#define SISL_RC_FLAGS_SENSE_VALID        0x80u
#define SISL_RC_FLAGS_FCP_RSP_CODE_VALID 0x40u
#define SISL_RC_FLAGS_OVERRUN            0x20u
#define SISL_RC_FLAGS_UNDERRUN           0x10u

#define SISL_AFU_RC_RHT_INVALID       0x01u /* free or invalid RHT entry */
#define SISL_AFU_RC_RHT_UNALIGNED     0x02u
#define SISL_AFU_RC_RHT_OUT_OF_BOUNDS 0x03u /* handle >= rht_cnt */
#define SISL_AFU_RC_RHT_DMA_ERR       0x04u
#define SISL_AFU_RC_RHT_RW_PERM       0x05u /* RHT permission violation */
#define SISL_AFU_RC_LXT_UNALIGNED     0x12u
#define SISL_AFU_RC_LXT_OUT_OF_BOUNDS 0x13u /* vLBA >= lxt_cnt << nmask */
#define SISL_AFU_RC_LXT_DMA_ERR       0x14u
#define SISL_AFU_RC_LXT_RW_PERM       0x15u /* LXT permission violation */
#define SISL_AFU_RC_NOT_XLATE_HOST    0x1au
#define SISL_AFU_RC_NO_CHANNELS       0x20u
#define SISL_AFU_RC_CAP_VIOLATION     0x21u /* command not allowed to this context */
#define SISL_AFU_RC_OUT_OF_DATA_BUFS  0x30u
#define SISL_AFU_RC_DATA_DMA_ERR      0x31u /* data EA not reachable */
#define SISL_AFU_RC_TIMED_OUT_PRE_FC  0x50u
#define SISL_AFU_RC_TIMED_OUT         0x51u

/* afu_extra for the DMA error codes */
#define SISL_AFU_DMA_ERR_PAGE_IN    0x0Au
#define SISL_AFU_DMA_ERR_INVALID_EA 0x0Bu

#define SISL_SCSI_RC_CHECK 0x02u
#define SISL_SCSI_RC_BUSY  0x08u

#define SISL_FC_RC_ABORTPEND   0x52u
#define SISL_FC_RC_WRABORTPEND 0x53u
#define SISL_FC_RC_NOLOGI      0x54u
#define SISL_FC_RC_NOEXP       0x55u
#define SISL_FC_RC_INUSE       0x56u
#define SISL_FC_RC_LINKDOWN    0x57u
#define SISL_FC_RC_ABORTOK     0x58u
#define SISL_FC_RC_ABORTFAIL   0x59u
#define SISL_FC_RC_RESID       0x5Au
#define SISL_FC_RC_RESIDERR    0x5Bu
#define SISL_FC_RC_TGTABORT    0x5Cu
#define SISL_FC_RC_SHUTDOWN    0x5Eu

/* A command block: IOARCB followed by its IOASA (IOARRIN mode). */
struct sisl_iocmd {
	struct sisl_ioarcb rcb;
	struct sisl_ioasa sa;
} __attribute__((aligned(128)));

/* HRRQ entries: EA | toggle bit */
#define SISL_RESP_HANDLE_T_BIT 0x1ull

/* ---------------------------------------------------------------------------
 * RHT and LXT: the translation tables the master builds and the AFU reads.
 */
struct sisl_lxt_entry {
	uint64_t rlba_base; /* IBM bits 0:47 base, 48:55 LUN index, 58:59 W/R, 60:63 port_sel */
};

struct sisl_rht_entry {
	struct sisl_lxt_entry *lxt_start;
	uint32_t lxt_cnt;
	uint16_t rsvd;
	uint8_t fp;    /* SISL_RHT_FP(format, perm) */
	uint8_t nmask; /* 0 = entry free */
} __attribute__((aligned(16)));

/* Format 1 (physical LUN) view of the same 16 bytes. */
struct sisl_rht_entry_f1 {
	uint64_t lun_id;
	union {
		struct {
			uint8_t valid;   /* 0x80 when valid */
			uint8_t rsvd[5];
			uint8_t fp;
			uint8_t port_sel; /* never 0 when in use: doubles as nmask */
		};
		uint64_t dw;
	};
} __attribute__((aligned(16)));

#define SISL_RHT_FP(fmt, perm)          (((fmt) << 4) | (perm))
#define SISL_RHT_FP_CLONE(src_fp, perm) ((src_fp) & (0xFC | (perm)))
#define SISL_RHT_PERM(fp)               ((fp) & 0x3)
#define SISL_RHT_FMT(fp)                (((fp) >> 4) & 0xF)
#define SISL_RHT_FORMAT_VIRTUAL  0
#define SISL_RHT_FORMAT_DIRECT   1
#define SISL_RHT_VALID           0x80

#define SISL_RHT_PERM_READ  0x1u
#define SISL_RHT_PERM_WRITE 0x2u
#define SISL_RHT_PERM_RW    (SISL_RHT_PERM_READ | SISL_RHT_PERM_WRITE)

/* LXT entry fields (shifts from the least significant bit) */
#define SISL_LXT_LUNIDX_SHIFT 8
#define SISL_LXT_PERM_SHIFT   4
#define SISL_LXT_BASE(e)      ((e) & ~0xFFFFull)
#define SISL_LXT_LUNIDX(e)    (((e) >> SISL_LXT_LUNIDX_SHIFT) & 0xFF)
#define SISL_LXT_PERM(e)      (((e) >> SISL_LXT_PERM_SHIFT) & 0x3)
#define SISL_LXT_PORTSEL(e)   ((e) & 0xF)

/* Chunk geometry of virtual LUNs: 2^16 LBAs per LXT entry. */
#define SISL_NMASK       16
#define SISL_CHUNK_LBAS  (1ull << SISL_NMASK)

/* ---------------------------------------------------------------------------
 * The per-context host map: the 64 KiB window the host mmaps from adap_fd.
 * Every register is 64 bits; access them with 64-bit loads and stores.
 */
struct sisl_host_map {
	uint64_t endian_ctrl;    /* 0x00 */
	uint64_t intr_status;    /* 0x08 SISL_ISTATUS_* */
	uint64_t intr_clear;     /* 0x10 */
	uint64_t intr_mask;      /* 0x18 */
	uint64_t ioarrin;        /* 0x20 IOARCB EA doorbell; 1 = context reset */
	uint64_t rrq_start;      /* 0x28 first HRRQ entry (inclusive) */
	uint64_t rrq_end;        /* 0x30 last HRRQ entry (inclusive) */
	uint64_t cmd_room;       /* 0x38 */
	uint64_t ctx_ctrl;       /* 0x40 */
	uint64_t mbox_w;         /* 0x48 */
	uint64_t sq_start;       /* 0x50 first SQ entry (inclusive) */
	uint64_t sq_end;         /* 0x58 last SQ entry (inclusive) */
	uint64_t sq_head;        /* 0x60 read-only: next entry the AFU reads */
	uint64_t sq_tail;        /* 0x68 EA of the next entry the host fills */
	uint64_t sq_ctx_reset;   /* 0x70 write 1 to reset the context */
	uint64_t rsvd_regs[17];  /* 0x78 .. 0xFF */

	/* 0x100: software AFU extension, written by the AFU (see notes). */
	uint32_t afu_idle;       /* 0x100 non-zero while the AFU may sleep */
	uint32_t afu_doorbell;   /* 0x104 futex word the AFU sleeps on */
	uint32_t afu_rsvd[14];
	/* 0x140: software AFU extension, written by the host. */
	uint32_t host_waiting;   /* 0x140 non-zero while the host sleeps on host_wake */
	uint32_t host_wake;      /* 0x144 futex word the AFU bumps after posting completions */
	uint64_t host_self;      /* 0x148 ThreadSanitizer builds: the host's address of this window */
	uint32_t host_rsvd[12];

	uint8_t rsvd_window[0x10000 - 0x180];
};

#define SISL_HOST_MAP_SIZE 0x10000u

#define SISL_ENDIAN_CTRL_BE 0x8000000000000080ull
#define SISL_ENDIAN_CTRL_LE 0x0000000000000000ull
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define SISL_ENDIAN_CTRL_HOST SISL_ENDIAN_CTRL_BE
#else
#define SISL_ENDIAN_CTRL_HOST SISL_ENDIAN_CTRL_LE
#endif

#define SISL_ISTATUS_PERM_ERR_CMDROOM  0x10ull
#define SISL_ISTATUS_PERM_ERR_RCB_READ 0x08ull
#define SISL_ISTATUS_PERM_ERR_SA_WRITE 0x04ull
#define SISL_ISTATUS_PERM_ERR_RRQ_WRITE 0x02ull
#define SISL_ISTATUS_TEMP_ERR_PAGEIN   0x01ull
#define SISL_ISTATUS_MASK              0x1Full
#define SISL_ISTATUS_UNMASK            0x1Full

#define SISL_CTX_CTRL_UNMAP_SECTOR 0x8000000000000000ull /* read-only */
#define SISL_CTX_CTRL_LISN_MASK    0xFFull

/* ctx_cap bits (control map; master side) */
#define SISL_CTX_CAP_PROXY_ISSUE  0x8000000000000000ull
#define SISL_CTX_CAP_REAL_MODE    0x4000000000000000ull
#define SISL_CTX_CAP_HOST_XLATE   0x2000000000000000ull
#define SISL_CTX_CAP_PROXY_TARGET 0x1000000000000000ull
#define SISL_CTX_CAP_AFU_CMD      0x8ull
#define SISL_CTX_CAP_GSCSI_CMD    0x4ull
#define SISL_CTX_CAP_WRITE_CMD    0x2ull
#define SISL_CTX_CAP_READ_CMD     0x1ull

/* ---------------------------------------------------------------------------
 * Software AFU notes (how this AFU differs from a device behind MMIO):
 *
 * - ioarrin is a one-entry mailbox. The AFU takes an EA by storing 0 back.
 *   The host writes ioarrin only when it reads 0 (sisl_ioarrin_write() does
 *   this) and never more commands than cmd_room allows: cmd_room reads the
 *   number of commands the AFU will still accept for this context before
 *   some complete. Writing 1 asks for a context reset; the AFU writes 0 back
 *   when the reset is done.
 * - SQ mode: sq_start/sq_end bound a ring of IOARCBs (one slot always empty);
 *   the host copies an IOARCB with sq_ioasa_ea set into the slot at sq_tail's
 *   old value and then stores the next slot's EA in sq_tail. The AFU publishes
 *   its progress in sq_head. Writing 1 to sq_ctx_reset resets the context.
 * - The AFU latches rrq_start/rrq_end (and sq_start/sq_end) when it first
 *   sees a command after the context was created or reset; later changes are
 *   ignored until the next reset.
 * - Doorbell: after an ioarrin or sq_tail store, if afu_idle is non-zero the
 *   host clears it, increments afu_doorbell and FUTEX_WAKEs it
 *   (sisl_ring_doorbell(); a ring that finds it cleared by another needs no
 *   wake-up). While the AFU is busy this costs nothing but a load.
 * - Completions: after posting HRRQ entries the AFU increments host_wake and
 *   FUTEX_WAKEs it if host_waiting is non-zero, so a host may sleep instead
 *   of polling the HRRQ.
 * - A context in error reads all ones everywhere in the window until the
 *   master recovers it (DK_CXLFLASH_RECOVER_AFU), which hands out a new one.
 * - host_self: a host built with ThreadSanitizer stores the address of its
 *   mapping of the window there (sisl_hrrq_init() does). An AFU in the same
 *   process maps the window at another address, so TSan cannot pair its
 *   register accesses with the host's; a TSan build of the AFU mirrors its
 *   acquires and releases onto the host's addresses (src/afu/afu_tsan.h).
 *   Other builds neither write nor read it.
 */

#ifndef __cplusplus
_Static_assert(sizeof(struct sisl_ioarcb) == 64, "IOARCB is 64 bytes");
_Static_assert(sizeof(struct sisl_ioasa) == 64, "IOASA is 64 bytes");
_Static_assert(sizeof(struct sisl_iocmd) == 128, "sisl_iocmd is 128 bytes");
_Static_assert(sizeof(struct sisl_rht_entry) == 16, "RHT entries are 16 bytes");
_Static_assert(sizeof(struct sisl_host_map) == SISL_HOST_MAP_SIZE, "the host map is 64 KiB");
#endif

#ifdef __cplusplus
}
#endif

#include <cxlflash/sislite_host.h>

#endif /* CXLFLASH_SISLITE_H */
