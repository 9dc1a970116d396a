/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cxlflash_ioctl.h - the control API of the superpipe master.
 *
 * The DK_CXLFLASH_* requests, their structs, flags and request codes are those
 * of the Linux cxlflash driver's UAPI, so a program written against the kernel
 * interface keeps its structs. Instead of ioctl(2) on /dev/sdX, a program calls
 * cxlflash_open() / cxlflash_ioctl() / cxlflash_close(), which follow the
 * kernel's semantics and errno values. The master and the software AFU run in
 * the calling process (embedded mode) or in cxlflashd (shared mode).
 *
 * Sizes: every virtual size and last_lba of a virtual LUN is in 4 KiB blocks,
 * as in the kernel. Physical LUNs here always have 4 KiB blocks.
 */
#ifndef CXLFLASH_IOCTL_H
#define CXLFLASH_IOCTL_H

#include <stdint.h>
#include <sys/ioctl.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CXLFLASH_WWID_LEN    16
#define DK_CXLFLASH_VERSION_0 0
#define HT_CXLFLASH_VERSION_0 0

/* Common header of every DK request. version, rsvd and return_flags must be 0 on input. */
struct dk_cxlflash_hdr {
	uint16_t version;
	uint16_t rsvd[3];
	uint64_t flags;        /* in: request-specific */
	uint64_t return_flags; /* out */
};

/* Generic return flags (bottom-up); request-specific flags grow down from bit 63. */
#define DK_CXLFLASH_ALL_PORTS_ACTIVE     0x0000000000000001ULL
#define DK_CXLFLASH_APP_CLOSE_ADAP_FD    0x0000000000000002ULL
#define DK_CXLFLASH_CONTEXT_SQ_CMD_MODE  0x0000000000000004ULL
/* This project: the context's commands may only name addresses inside its
 * DMA area (a context served by cxlflashd or by a parent process); IOARCBs,
 * IOASAs, the HRRQ, the SQ and data buffers must live there. */
#define DK_CXLFLASH_DMA_AREA_ONLY        0x0000000000010000ULL
/* This project, in USER_DIRECT's and USER_VIRTUAL's reply: the LUN's
 * backend may acknowledge a write from a volatile cache of the master's own
 * process (librbd's write-back cache), so a master that is lost (killed,
 * taken over) may lose writes it acknowledged and nobody flushed. Without
 * it, a completed write is in the backend (or its device's cache, which a
 * flush on a new master still covers). */
#define DK_CXLFLASH_MASTER_CACHE         0x0000000000020000ULL
/* This project, in ATTACH's reply: the client's DMA buffer area (buf_ea ..
 * + buf_size) is reachable by the AFU too (cblk_dma_alloc). */
#define DK_CXLFLASH_BUF_AREA             0x0000000000040000ULL

/* Block size of every user-visible virtual size. */
#define CXLFLASH_BLOCK_SIZE 4096

/*
 * ATTACH: create a context (or add a LUN to one with REUSE_CONTEXT).
 * hdr.flags low bits: O_RDONLY / O_WRONLY / O_RDWR (the context's permission).
 * Out: context_id, mmio_size (64 KiB), block_size, adap_fd (mmap it; the
 * caller closes it: APP_CLOSE_ADAP_FD), last_lba, max_xfer (in blocks).
 */
#define DK_CXLFLASH_ATTACH_REUSE_CONTEXT 0x8000000000000000ULL
struct dk_cxlflash_attach {
	struct dk_cxlflash_hdr hdr;
	uint64_t num_interrupts; /* in: at most 4 */
	uint64_t context_id;     /* in (reuse) / out */
	uint64_t mmio_size;      /* out */
	uint64_t block_size;     /* out */
	uint64_t adap_fd;        /* out: fd2 */
	uint64_t last_lba;       /* out: physical last LBA */
	uint64_t max_xfer;       /* out: in blocks */
	/* This project's extension (reserved words in the kernel's header, so
	 * programs that zero them get the kernel's behaviour): a DMA area of
	 * dma_size bytes that follows the 64 KiB window in adap_fd. */
	uint64_t dma_size;       /* in: bytes wanted (0 = none, or the daemon's default) */
	uint64_t dma_ea;         /* out: the DMA area's address in this process, 0 if none */
	/* Also this project's: a buffer area of the caller's own memory the
	 * AFU may move data to and from besides the DMA area (cblk_dma_alloc):
	 * buf_fd is a memfd sealed against shrinking (F_SEAL_SHRINK), mapped
	 * shared at buf_ea for buf_size bytes (page multiples). Through a
	 * daemon the descriptor travels with the request; in-process every
	 * address is reachable and these are ignored. return_flags has
	 * DK_CXLFLASH_BUF_AREA when the area was taken. */
	uint64_t buf_ea;         /* in: the area's address in this process (0 = none) */
	uint64_t buf_size;       /* in: its length in bytes */
	uint64_t buf_fd;         /* in: its memfd */
	uint64_t reserved[3];
};

/* USER_DIRECT: a resource handle for the whole physical LUN (format 1). */
struct dk_cxlflash_udirect {
	struct dk_cxlflash_hdr hdr;
	uint64_t context_id;
	uint64_t rsrc_handle; /* out */
	uint64_t last_lba;    /* out */
	uint64_t reserved[8];
};

/*
 * USER_VIRTUAL: a virtual LUN of lun_size 4 KiB blocks (0 is legal).
 * This project's extension: when the LUN's storage keeps vLUN maps (an rbd
 * image, docs/scale-out.md), the reply's vlun_id names the vLUN there (0:
 * not kept). With DK_CXLFLASH_UVIRTUAL_REATTACH, the request takes back
 * the kept vLUN vlun_id, left by a master that was lost (killed, taken
 * over), with its chunks and data, onto context_id (lun_size ignored); only
 * its owner's uid may, and only while no context holds it: ENOENT if no
 * such vLUN is waiting, EACCES for another uid.
 */
#define DK_CXLFLASH_UVIRTUAL_NEED_WRITE_SAME 0x8000000000000000ULL
#define DK_CXLFLASH_UVIRTUAL_REATTACH        0x4000000000000000ULL
struct dk_cxlflash_uvirtual {
	struct dk_cxlflash_hdr hdr;
	uint64_t context_id;
	uint64_t lun_size;    /* in: 4 KiB blocks */
	uint64_t rsrc_handle; /* out */
	uint64_t last_lba;    /* out: 4 KiB blocks; UINT64_MAX when empty */
	uint64_t vlun_id;     /* out; in with REATTACH (reserved in the kernel's header) */
	uint64_t reserved[7];
};

/* RELEASE: give back a resource handle (a virtual LUN is resized to 0 first). */
struct dk_cxlflash_release {
	struct dk_cxlflash_hdr hdr;
	uint64_t context_id;
	uint64_t rsrc_handle;
	uint64_t reserved[8];
};

/* DETACH: release every handle of the context on this LUN and drop the context's hold on it. */
struct dk_cxlflash_detach {
	struct dk_cxlflash_hdr hdr;
	uint64_t context_id;
	uint64_t reserved[8];
};

/* VERIFY: re-check a LUN (capacity change) after a unit attention. */
#define DK_CXLFLASH_VERIFY_SENSE_LEN 18
#define DK_CXLFLASH_VERIFY_HINT_SENSE 0x8000000000000000ULL
struct dk_cxlflash_verify {
	struct dk_cxlflash_hdr hdr;
	uint64_t context_id;
	uint64_t rsrc_handle;
	uint64_t hint;        /* DK_CXLFLASH_VERIFY_HINT_* */
	uint64_t last_lba;    /* out */
	uint8_t sense_data[DK_CXLFLASH_VERIFY_SENSE_LEN];
	uint8_t pad[6];
	uint64_t reserved[8];
};

/* RECOVER_AFU: recover a context in error; a reset one has a new id and adap_fd. */
#define DK_CXLFLASH_RECOVER_AFU_CONTEXT_RESET 0x8000000000000000ULL
struct dk_cxlflash_recover_afu {
	struct dk_cxlflash_hdr hdr;
	uint64_t reason;      /* in: logged only */
	uint64_t context_id;  /* in / out */
	uint64_t mmio_size;   /* out */
	uint64_t adap_fd;     /* out */
	uint64_t reserved[8];
};

/* MANAGE_LUN: switch a LUN (by its page-83 WWID) between legacy and superpipe. */
#define DK_CXLFLASH_MANAGE_LUN_WWID_LEN          CXLFLASH_WWID_LEN
#define DK_CXLFLASH_MANAGE_LUN_ENABLE_SUPERPIPE  0x8000000000000000ULL
#define DK_CXLFLASH_MANAGE_LUN_DISABLE_SUPERPIPE 0x4000000000000000ULL
#define DK_CXLFLASH_MANAGE_LUN_ALL_PORTS_ACCESSIBLE 0x2000000000000000ULL
struct dk_cxlflash_manage_lun {
	struct dk_cxlflash_hdr hdr;
	uint8_t wwid[DK_CXLFLASH_MANAGE_LUN_WWID_LEN];
	uint64_t reserved[8];
};

/* VLUN_RESIZE: grow or shrink a virtual LUN (req_size in 4 KiB blocks). */
struct dk_cxlflash_resize {
	struct dk_cxlflash_hdr hdr;
	uint64_t context_id;
	uint64_t rsrc_handle;
	uint64_t req_size;
	uint64_t last_lba;    /* out */
	uint64_t reserved[8];
};

/* VLUN_CLONE: a forked child copies its parent's virtual LUNs into its own context. */
struct dk_cxlflash_clone {
	struct dk_cxlflash_hdr hdr;
	uint64_t context_id_src;
	uint64_t context_id_dst;
	uint64_t adap_fd_src;  /* unused */
	uint64_t reserved[8];
};

union cxlflash_ioctls {
	struct dk_cxlflash_attach attach;
	struct dk_cxlflash_udirect udirect;
	struct dk_cxlflash_release release;
	struct dk_cxlflash_detach detach;
	struct dk_cxlflash_verify verify;
	struct dk_cxlflash_recover_afu recover_afu;
	struct dk_cxlflash_manage_lun manage_lun;
	struct dk_cxlflash_uvirtual uvirtual;
	struct dk_cxlflash_resize resize;
	struct dk_cxlflash_clone clone;
};

#define MAX_CXLFLASH_IOCTL_SZ (sizeof(union cxlflash_ioctls))

#define CXL_MAGIC 0xCA
#define CXL_IOWR(_n, _s) _IOWR(CXL_MAGIC, _n, struct _s)

#define DK_CXLFLASH_ATTACH          CXL_IOWR(0x80, dk_cxlflash_attach)
#define DK_CXLFLASH_USER_DIRECT     CXL_IOWR(0x81, dk_cxlflash_udirect)
#define DK_CXLFLASH_RELEASE         CXL_IOWR(0x82, dk_cxlflash_release)
#define DK_CXLFLASH_DETACH          CXL_IOWR(0x83, dk_cxlflash_detach)
#define DK_CXLFLASH_VERIFY          CXL_IOWR(0x84, dk_cxlflash_verify)
#define DK_CXLFLASH_RECOVER_AFU     CXL_IOWR(0x85, dk_cxlflash_recover_afu)
#define DK_CXLFLASH_MANAGE_LUN      CXL_IOWR(0x86, dk_cxlflash_manage_lun)
#define DK_CXLFLASH_USER_VIRTUAL    CXL_IOWR(0x87, dk_cxlflash_uvirtual)
#define DK_CXLFLASH_VLUN_RESIZE     CXL_IOWR(0x88, dk_cxlflash_resize)
#define DK_CXLFLASH_VLUN_CLONE      CXL_IOWR(0x89, dk_cxlflash_clone)

/* Host (adapter) requests: layouts kept for completeness. They are issued on the
 * adapter, not on a LUN; cxlflash_ioctl() on a LUN rejects them with EINVAL. */
struct ht_cxlflash_hdr {
	uint16_t version;
	uint16_t subcmd;
	uint16_t rsvd[2];
	uint64_t flags;
	uint64_t return_flags;
};
#define HT_CXLFLASH_HOST_READ  0x0000000000000000ULL
#define HT_CXLFLASH_HOST_WRITE 0x0000000000000001ULL

#define HT_CXLFLASH_LUN_PROVISION_SUBCMD_CREATE_LUN 0x0001
#define HT_CXLFLASH_LUN_PROVISION_SUBCMD_DELETE_LUN 0x0002
#define HT_CXLFLASH_LUN_PROVISION_SUBCMD_QUERY_PORT 0x0003
struct ht_cxlflash_lun_provision {
	struct ht_cxlflash_hdr hdr;
	uint16_t port;
	uint16_t reserved16[3];
	uint64_t size;
	uint64_t lun_id;
	uint8_t wwid[CXLFLASH_WWID_LEN];
	uint64_t max_num_luns;
	uint64_t cur_num_luns;
	uint64_t max_cap_port;
	uint64_t cur_cap_port;
	uint64_t reserved[8];
};

#define HT_CXLFLASH_AFU_DEBUG_MAX_DATA_LEN 262144
#define HT_CXLFLASH_AFU_DEBUG_SUBCMD_LEN   12
struct ht_cxlflash_afu_debug {
	struct ht_cxlflash_hdr hdr;
	uint8_t reserved8[4];
	uint8_t afu_subcmd[HT_CXLFLASH_AFU_DEBUG_SUBCMD_LEN];
	uint64_t data_ea;
	uint32_t data_len;
	uint32_t reserved32;
	uint64_t reserved[8];
};

union cxlflash_ht_ioctls {
	struct ht_cxlflash_lun_provision lun_provision;
	struct ht_cxlflash_afu_debug afu_debug;
};

#define MAX_HT_CXLFLASH_IOCTL_SZ (sizeof(union cxlflash_ht_ioctls))

#define HT_CXLFLASH_LUN_PROVISION   CXL_IOWR(0xBF, ht_cxlflash_lun_provision)
#define HT_CXLFLASH_AFU_DEBUG       CXL_IOWR(0xBE, ht_cxlflash_afu_debug)

/*
 * cxlflash_open() - open a LUN, like open(2) on its /dev/sdX.
 * @lun: "ram:SIZE", "null:SIZE", "file:PATH[?size=SIZE]" (created at SIZE if
 *       absent), or a plain path to an existing file or block device.
 *       SIZE takes K, M, G, T suffixes (powers of 1024), a multiple of 4 KiB.
 * @oflags: O_RDWR or O_RDONLY (O_RDONLY opens the backing file read-only).
 *
 * One process owns a file or device LUN at a time; another process gets EBUSY
 * (the message on stderr names the holder). Opening the same LUN again in the
 * same process shares its master.
 * Return: a descriptor (fd1) for cxlflash_ioctl(), or -1 with errno set.
 */
int cxlflash_open(const char *lun, int oflags);

/*
 * cxlflash_ioctl() - issue a DK_CXLFLASH_* request on fd1, with the kernel
 * driver's semantics: the struct is read whole, checked (version 0, reserved
 * header fields and return_flags 0), and written back only on success.
 * Return: 0, or -1 with errno set (EINVAL, EFAULT, ENOMEM, ENOSPC, EMFILE,
 * EBUSY, EAGAIN, EIO, ENODEV, EPERM as the kernel would).
 */
int cxlflash_ioctl(int fd1, unsigned long request, void *arg);

/*
 * cxlflash_close() - close fd1. Contexts still attached through it are
 * detached, as when their process exits.
 * Return: 0, or -1 with errno set (EBADF).
 */
int cxlflash_close(int fd1);

#ifdef __cplusplus
}
#endif

#endif /* CXLFLASH_IOCTL_H */
