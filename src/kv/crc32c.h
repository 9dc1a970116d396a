/* SPDX-License-Identifier: Apache-2.0 */
/*
 * crc32c.h - CRC-32C (Castagnoli), the checksum of every block the
 * key/value store writes: the SSE4.2 instruction where the CPU has it,
 * slicing-by-8 tables elsewhere.
 */
#ifndef CXLFLASH_KV_CRC32C_H
#define CXLFLASH_KV_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* kv_crc32c() - continue @crc (0 to start) over @len bytes of @buf. */
uint32_t kv_crc32c(uint32_t crc, const void *buf, size_t len);

#endif
