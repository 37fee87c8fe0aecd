/* Helpers shared by the codec_*.c files; not part of the public codec API. */
#ifndef SPX_CODEC_INTERNAL_H
#define SPX_CODEC_INTERNAL_H

#include <stddef.h>

/* The wire carries little-endian IEEE 754 numbers and the codec reads them in place (memcpy of the
 * raw bytes), so the host must be little-endian with IEEE 754 binary32/binary64 floats. */
#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "spectrad reads little-endian wire payloads in place: build on a little-endian host"
#endif
_Static_assert(sizeof(float) == 4 && sizeof(double) == 8, "IEEE 754 binary32/binary64 expected");

/* snprintf into a caller's error buffer; err may be NULL or errlen 0. */
void spx_codec_errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
