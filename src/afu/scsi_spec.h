/* SPDX-License-Identifier: Apache-2.0 */
/*
 * scsi_spec.h - the SCSI wire constants the software AFU uses: operation
 * codes, sense keys, additional sense codes, and the layout facts of the
 * parameter data it returns (SPC-4 / SBC-3). No logic here.
 */
#ifndef CXLFLASH_AFU_SCSI_SPEC_H
#define CXLFLASH_AFU_SCSI_SPEC_H

/* Operation codes */
#define SCSI_OP_TEST_UNIT_READY   0x00
#define SCSI_OP_INQUIRY           0x12
#define SCSI_OP_READ_10           0x28
#define SCSI_OP_WRITE_10          0x2A
#define SCSI_OP_SYNC_CACHE_10     0x35
#define SCSI_OP_UNMAP             0x42
#define SCSI_OP_READ_16           0x88
#define SCSI_OP_WRITE_16          0x8A
#define SCSI_OP_SYNC_CACHE_16     0x91
#define SCSI_OP_WRITE_SAME_16     0x93
#define SCSI_OP_SERVICE_ACTION_IN_16 0x9E
#define SCSI_OP_REPORT_LUNS       0xA0

/* SERVICE ACTION IN(16) service actions (low 5 bits of byte 1) */
#define SCSI_SAI_READ_CAPACITY_16 0x10
#define SCSI_SAI_MASK             0x1F

/* Sense keys */
#define SCSI_SK_NO_SENSE        0x0
#define SCSI_SK_NOT_READY       0x2
#define SCSI_SK_MEDIUM_ERROR    0x3
#define SCSI_SK_HARDWARE_ERROR  0x4
#define SCSI_SK_ILLEGAL_REQUEST 0x5
#define SCSI_SK_UNIT_ATTENTION  0x6

/* Additional sense codes (ASCQ 0 unless noted) */
#define SCSI_ASC_WRITE_ERROR             0x0C
#define SCSI_ASC_UNRECOVERED_READ_ERROR  0x11
#define SCSI_ASC_PARAM_LIST_LENGTH_ERROR 0x1A
#define SCSI_ASC_INVALID_OPCODE          0x20
#define SCSI_ASC_LBA_OUT_OF_RANGE        0x21
#define SCSI_ASC_INVALID_FIELD_IN_CDB    0x24
#define SCSI_ASC_LUN_NOT_SUPPORTED       0x25
#define SCSI_ASC_INVALID_FIELD_IN_PARAM  0x26

/* Fixed-format sense data */
#define SCSI_SENSE_FIXED_CURRENT 0x70
#define SCSI_SENSE_ADDL_LEN      10     /* bytes after byte 7 */

/* CDB bits */
#define SCSI_INQ_EVPD            0x01
#define SCSI_INQ_CMDDT           0x02
#define SCSI_WS_NDOB             0x01   /* WRITE SAME: no data-out buffer */
#define SCSI_WS_UNMAP            0x08
#define SCSI_RW_FUA              0x08   /* READ/WRITE(10/16) byte 1: force unit access */

/* INQUIRY */
#define SCSI_INQ_STD_LEN         36
#define SCSI_INQ_VERSION_SPC4    0x06
#define SCSI_INQ_RESP_FMT        0x02
#define SCSI_INQ_CMDQUE          0x02   /* byte 7 */
#define SCSI_VPD_SUPPORTED       0x00
#define SCSI_VPD_SERIAL          0x80
#define SCSI_VPD_DEVICE_ID       0x83
#define SCSI_VPD_BLOCK_LIMITS    0xB0
#define SCSI_VPD_LBP             0xB2
#define SCSI_VPD_B0_LEN          0x3C   /* page length of Block Limits */
#define SCSI_DESIG_CODESET_BINARY 0x1
#define SCSI_DESIG_TYPE_NAA      0x3
#define SCSI_DESIG_ASSOC_LUN     0x0
#define SCSI_LBP_LBPU            0x80   /* B2 byte 5 */
#define SCSI_LBP_LBPWS           0x40
#define SCSI_LBP_LBPRZ           0x04
#define SCSI_LBP_TYPE_THIN       0x02   /* B2 byte 6 */

/* READ CAPACITY(16) */
#define SCSI_RC16_LEN            32
#define SCSI_RC16_LBPME          0x80   /* byte 14 */
#define SCSI_RC16_LBPRZ          0x40

/* REPORT LUNS */
#define SCSI_RL_MIN_ALLOC        16

/* UNMAP parameter list */
#define SCSI_UNMAP_HDR_LEN       8
#define SCSI_UNMAP_DESC_LEN      16

#endif /* CXLFLASH_AFU_SCSI_SPEC_H */
