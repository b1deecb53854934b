/* SPDX-License-Identifier: MIT */
#ifndef MS_CHECKSUM_H
#define MS_CHECKSUM_H

#include <stddef.h>
#include <stdint.h>

/* CRC-32C (Castagnoli), as used by the segment format. Start with crc = 0. */
uint32_t ms_crc32c(uint32_t crc, const void *buf, size_t len);

/* The same, table-driven; ms_crc32c() uses the CPU's instruction where
 * there is one. For tests. */
uint32_t ms_crc32c_sw(uint32_t crc, const void *buf, size_t len);

#endif
