/* CRC-32C (Castagnoli), the checksum of snapshot files and journal records: detects torn writes
 * and bit rot, not tampering. */
#ifndef SPX_CRC32C_H
#define SPX_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Continues a CRC: start with crc = 0. */
uint32_t spx_crc32c(uint32_t crc, const void *data, size_t len);

#endif
