/* Payload checks: exact length, and every f32/f64 finite.
 *
 * This runs over every ingested byte, so the finiteness test looks at bit patterns instead of
 * calling isfinite() per element: a value is Inf or NaN exactly when all its exponent bits are set,
 * and adding one unit of the lowest exponent bit to the masked exponent then carries into the sign
 * bit. OR-ing those sums over a fixed-size chunk is branch-free integer work the compiler
 * vectorises; only a chunk that flags is rescanned element by element to name the first bad index.
 * Loads go through memcpy, so a payload at any address is fine. */
#include <inttypes.h>
#include <string.h>

#include "codec.h"
#include "codec_internal.h"

#define SCAN_CHUNK 256 /* elements between two checks of the accumulated flag; a multiple of 4 */

/* Four independent accumulators per chunk: GCC -O2 (the "very cheap" vectoriser cost model) does
 * not vectorise a single-accumulator 64-bit loop here, but it turns the four lanes into SSE2
 * vector operations (SLP); measured 2.5x faster than an isfinite() loop for f64 (see the report). */
#define FLAG4(T, q, i, size, mask, one, a0, a1, a2, a3)                                       \
    do {                                                                                    \
        T b0_, b1_, b2_, b3_;                                                               \
        memcpy(&b0_, (q) + (size) * (i), size);                                             \
        memcpy(&b1_, (q) + (size) * ((i) + 1), size);                                       \
        memcpy(&b2_, (q) + (size) * ((i) + 2), size);                                       \
        memcpy(&b3_, (q) + (size) * ((i) + 3), size);                                       \
        a0 |= (b0_ & (mask)) + (one);                                                       \
        a1 |= (b1_ & (mask)) + (one);                                                       \
        a2 |= (b2_ & (mask)) + (one);                                                       \
        a3 |= (b3_ & (mask)) + (one);                                                       \
    } while (0)

static size_t first_nonfinite_f64(const unsigned char *p, size_t n)
{
    const uint64_t exp_mask = UINT64_C(0x7ff0000000000000), exp_one = UINT64_C(1) << 52;
    size_t base = 0;
    for (; base + SCAN_CHUNK <= n; base += SCAN_CHUNK) {
        const unsigned char *q = p + 8 * base;
        uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
        for (size_t i = 0; i < SCAN_CHUNK; i += 4)
            FLAG4(uint64_t, q, i, 8, exp_mask, exp_one, a0, a1, a2, a3);
        if ((a0 | a1 | a2 | a3) >> 63)
            break;
    }
    for (size_t i = base; i < n; i++) {
        uint64_t b;
        memcpy(&b, p + 8 * i, 8);
        if ((b & exp_mask) == exp_mask)
            return i;
    }
    return n;
}

static size_t first_nonfinite_f32(const unsigned char *p, size_t n)
{
    const uint32_t exp_mask = UINT32_C(0x7f800000), exp_one = UINT32_C(1) << 23;
    size_t base = 0;
    for (; base + SCAN_CHUNK <= n; base += SCAN_CHUNK) {
        const unsigned char *q = p + 4 * base;
        uint32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
        for (size_t i = 0; i < SCAN_CHUNK; i += 4)
            FLAG4(uint32_t, q, i, 4, exp_mask, exp_one, a0, a1, a2, a3);
        if ((a0 | a1 | a2 | a3) >> 31)
            break;
    }
    for (size_t i = base; i < n; i++) {
        uint32_t b;
        memcpy(&b, p + 4 * i, 4);
        if ((b & exp_mask) == exp_mask)
            return i;
    }
    return n;
}

static const char *nonfinite_kind(const unsigned char *p, spx_dtype dtype, size_t i)
{
    if (dtype == SPX_DTYPE_F64) {
        uint64_t b;
        memcpy(&b, p + 8 * i, 8);
        return (b & 0x000fffffffffffffu) ? "NaN" : "Inf";
    }
    uint32_t b;
    memcpy(&b, p + 4 * i, 4);
    return (b & 0x007fffffu) ? "NaN" : "Inf";
}

spx_errcode spx_validate_payload(const spx_ingest_header *h, const void *payload, size_t len,
                                 char *err, size_t errlen)
{
    size_t size = spx_dtype_size(h->dtype);
    uint64_t rows = h->shape[0], cols = h->shape[1];
    /* Checked again here so a header that did not come from the decoder cannot overflow. */
    if (size == 0 || (cols != 0 && rows > UINT64_MAX / cols) ||
        (rows * cols > UINT64_MAX / size)) {
        spx_codec_errf(err, errlen, "invalid header passed to payload validation");
        return SPX_E_INTERNAL;
    }
    uint64_t n = rows * cols;
    uint64_t expected = n * size;
    if ((uint64_t)len != expected) {
        spx_codec_errf(err, errlen,
                       "payload is %zu bytes, expected %" PRIu64 " (%" PRIu64 " x %" PRIu64
                       " x %zu)", len, expected, rows, cols, size);
        return SPX_E_BAD_LENGTH;
    }
    if (n == 0 || h->dtype == SPX_DTYPE_I16)
        return SPX_OK;

    const unsigned char *p = payload;
    size_t bad = h->dtype == SPX_DTYPE_F64 ? first_nonfinite_f64(p, (size_t)n)
                                           : first_nonfinite_f32(p, (size_t)n);
    if (bad == n)
        return SPX_OK;
    spx_codec_errf(err, errlen, "payload value at row %" PRIu64 ", col %" PRIu64 " is %s",
                   (uint64_t)bad / cols, (uint64_t)bad % cols, nonfinite_kind(p, h->dtype, bad));
    return SPX_E_NOT_FINITE;
}
