/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nbd_proto.h - the Network Block Device protocol on the wire: magic
 * numbers, handshake and option codes, transmission commands and flags,
 * structured reply types and error values, as the public NBD protocol
 * document (NetworkBlockDevice/nbd, doc/proto.md) defines them. Every
 * integer on the wire is big-endian; the sizes below are wire sizes.
 */
#ifndef CXLFLASH_NBD_PROTO_H
#define CXLFLASH_NBD_PROTO_H

#include <stdint.h>

/* Handshake: "NBDMAGIC", then "IHAVEOPT" for (fixed) newstyle. */
#define NBD_MAGIC               0x4e42444d41474943ull
#define NBD_IHAVEOPT            0x49484156454f5054ull
#define NBD_OPT_REPLY_MAGIC     0x0003e889045565a9ull

/* Handshake flags (server, 16 bits) and client flags (32 bits). */
#define NBD_FLAG_FIXED_NEWSTYLE (1u << 0)
#define NBD_FLAG_NO_ZEROES      (1u << 1)
#define NBD_FLAG_C_FIXED_NEWSTYLE NBD_FLAG_FIXED_NEWSTYLE
#define NBD_FLAG_C_NO_ZEROES    NBD_FLAG_NO_ZEROES

/* Options. */
#define NBD_OPT_EXPORT_NAME      1
#define NBD_OPT_ABORT            2
#define NBD_OPT_LIST             3
#define NBD_OPT_PEEK_EXPORT      4
#define NBD_OPT_STARTTLS         5
#define NBD_OPT_INFO             6
#define NBD_OPT_GO               7
#define NBD_OPT_STRUCTURED_REPLY 8
#define NBD_OPT_LIST_META_CONTEXT 9
#define NBD_OPT_SET_META_CONTEXT 10
#define NBD_OPT_EXTENDED_HEADERS 11

/* Option replies; errors have bit 31 set. */
#define NBD_REP_ACK              1
#define NBD_REP_SERVER           2
#define NBD_REP_INFO             3
#define NBD_REP_META_CONTEXT     4
#define NBD_REP_FLAG_ERROR       (1u << 31)
#define NBD_REP_ERR_UNSUP        (NBD_REP_FLAG_ERROR | 1)
#define NBD_REP_ERR_POLICY       (NBD_REP_FLAG_ERROR | 2)
#define NBD_REP_ERR_INVALID      (NBD_REP_FLAG_ERROR | 3)
#define NBD_REP_ERR_PLATFORM     (NBD_REP_FLAG_ERROR | 4)
#define NBD_REP_ERR_TLS_REQD     (NBD_REP_FLAG_ERROR | 5)
#define NBD_REP_ERR_UNKNOWN      (NBD_REP_FLAG_ERROR | 6)
#define NBD_REP_ERR_SHUTDOWN     (NBD_REP_FLAG_ERROR | 7)
#define NBD_REP_ERR_BLOCK_SIZE_REQD (NBD_REP_FLAG_ERROR | 8)
#define NBD_REP_ERR_TOO_BIG      (NBD_REP_FLAG_ERROR | 9)

/* NBD_REP_INFO types (also the info requests of NBD_OPT_INFO/GO). */
#define NBD_INFO_EXPORT          0
#define NBD_INFO_NAME            1
#define NBD_INFO_DESCRIPTION     2
#define NBD_INFO_BLOCK_SIZE      3

/* Transmission flags (16 bits, sent with the export size). */
#define NBD_FLAG_HAS_FLAGS         (1u << 0)
#define NBD_FLAG_READ_ONLY         (1u << 1)
#define NBD_FLAG_SEND_FLUSH        (1u << 2)
#define NBD_FLAG_SEND_FUA          (1u << 3)
#define NBD_FLAG_ROTATIONAL        (1u << 4)
#define NBD_FLAG_SEND_TRIM         (1u << 5)
#define NBD_FLAG_SEND_WRITE_ZEROES (1u << 6)
#define NBD_FLAG_SEND_DF           (1u << 7)
#define NBD_FLAG_CAN_MULTI_CONN    (1u << 8)
#define NBD_FLAG_SEND_RESIZE       (1u << 9)
#define NBD_FLAG_SEND_CACHE        (1u << 10)
#define NBD_FLAG_SEND_FAST_ZERO    (1u << 11)

/* Requests and replies. */
#define NBD_REQUEST_MAGIC        0x25609513u
#define NBD_SIMPLE_REPLY_MAGIC   0x67446698u
#define NBD_STRUCTURED_REPLY_MAGIC 0x668e33efu

#define NBD_CMD_READ             0
#define NBD_CMD_WRITE            1
#define NBD_CMD_DISC             2
#define NBD_CMD_FLUSH            3
#define NBD_CMD_TRIM             4
#define NBD_CMD_CACHE            5
#define NBD_CMD_WRITE_ZEROES     6
#define NBD_CMD_BLOCK_STATUS     7

#define NBD_CMD_FLAG_FUA         (1u << 0)
#define NBD_CMD_FLAG_NO_HOLE     (1u << 1)
#define NBD_CMD_FLAG_DF          (1u << 2)
#define NBD_CMD_FLAG_REQ_ONE     (1u << 3)
#define NBD_CMD_FLAG_FAST_ZERO   (1u << 4)

/* Structured replies. */
#define NBD_REPLY_FLAG_DONE      (1u << 0)
#define NBD_REPLY_TYPE_NONE      0
#define NBD_REPLY_TYPE_OFFSET_DATA 1
#define NBD_REPLY_TYPE_OFFSET_HOLE 2
#define NBD_REPLY_TYPE_BLOCK_STATUS 5
#define NBD_REPLY_TYPE_ERROR     ((1u << 15) | 1)
#define NBD_REPLY_TYPE_ERROR_OFFSET ((1u << 15) | 2)

/* Error values in replies (not the host's errno numbers, though alike). */
#define NBD_EPERM     1
#define NBD_EIO       5
#define NBD_ENOMEM    12
#define NBD_EINVAL    22
#define NBD_ENOSPC    28
#define NBD_EOVERFLOW 75
#define NBD_ENOTSUP   95
#define NBD_ESHUTDOWN 108

/* Wire sizes. */
#define NBD_HELLO_LEN        18   /* NBDMAGIC, IHAVEOPT, 16-bit flags */
#define NBD_OPT_HDR_LEN      16   /* IHAVEOPT, option, length */
#define NBD_OPT_REPLY_HDR_LEN 20  /* magic, option, reply type, length */
#define NBD_REQUEST_LEN      28   /* magic, flags, type, cookie, offset, length */
#define NBD_SIMPLE_REPLY_LEN 16   /* magic, error, cookie */
#define NBD_STRUCT_REPLY_LEN 20   /* magic, flags, type, cookie, length */
#define NBD_EXPORT_NAME_PAD  124  /* zeroes after EXPORT_NAME's reply unless NO_ZEROES */

/* Strings (export names, messages) MUST NOT exceed this. */
#define NBD_MAX_STRING       4096u

#endif /* CXLFLASH_NBD_PROTO_H */
