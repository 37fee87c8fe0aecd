/* spx_validate_payload: exact lengths, finiteness of f32/f64 at every position that matters (first,
 * last, chunk boundaries), unaligned buffers, and agreement with isfinite() on random bit patterns. */
#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "codec.h"
#include "rng.h"

static spx_ingest_header header(spx_dtype dtype, uint64_t n, uint64_t d)
{
    spx_ingest_header h;
    memset(&h, 0, sizeof h);
    h.version = 1;
    strcpy(h.stream, "p");
    h.kind = dtype == SPX_DTYPE_I16 ? SPX_KIND_SERIES : SPX_KIND_ROWS;
    h.dtype = dtype;
    h.shape[0] = n;
    h.shape[1] = d;
    h.scale = 1;
    return h;
}

/* A buffer of n values starting at byte `misalign` of a fresh allocation. */
typedef struct buf {
    unsigned char *base;
    unsigned char *p;
} buf;

static buf make_buf(spx_dtype dtype, size_t n, size_t misalign, uint64_t seed)
{
    size_t size = spx_dtype_size(dtype);
    buf b;
    b.base = malloc(n * size + misalign + 1);
    b.p = b.base + misalign;
    spx_rng rng;
    spx_rng_seed(&rng, seed);
    for (size_t i = 0; i < n; i++) {
        double x = spx_rng_normal(&rng) * 1e3;
        if (dtype == SPX_DTYPE_F64) {
            memcpy(b.p + 8 * i, &x, 8);
        } else if (dtype == SPX_DTYPE_F32) {
            float f = (float)x;
            memcpy(b.p + 4 * i, &f, 4);
        } else {
            int16_t v = (int16_t)spx_rng_next(&rng);
            memcpy(b.p + 2 * i, &v, 2);
        }
    }
    return b;
}

static void put_bits(buf *b, spx_dtype dtype, size_t i, uint64_t bits)
{
    if (dtype == SPX_DTYPE_F64) {
        memcpy(b->p + 8 * i, &bits, 8);
    } else {
        uint32_t b32 = (uint32_t)bits;
        memcpy(b->p + 4 * i, &b32, 4);
    }
}

Test(codec_payload, exact_length_is_required)
{
    char err[256];
    spx_dtype dtypes[] = {SPX_DTYPE_F32, SPX_DTYPE_F64, SPX_DTYPE_I16};
    for (size_t k = 0; k < 3; k++) {
        spx_ingest_header h = header(dtypes[k], 5, 3);
        size_t want = 15 * spx_dtype_size(dtypes[k]);
        buf b = make_buf(dtypes[k], 16, 0, 1);
        cr_assert_eq(spx_validate_payload(&h, b.p, want, err, sizeof err), SPX_OK, "%s", err);
        size_t wrong[] = {0, 1, want - 1, want + 1, want - spx_dtype_size(dtypes[k]),
                          want + spx_dtype_size(dtypes[k])};
        for (size_t w = 0; w < sizeof wrong / sizeof wrong[0]; w++) {
            cr_assert_eq(spx_validate_payload(&h, b.p, wrong[w], err, sizeof err),
                         SPX_E_BAD_LENGTH);
            char expect[64];
            snprintf(expect, sizeof expect, "payload is %zu bytes, expected %zu", wrong[w], want);
            cr_assert(strstr(err, expect), "'%s' lacks '%s'", err, expect);
        }
        free(b.base);
    }
}

Test(codec_payload, zero_element_shapes_take_no_payload)
{
    char err[256];
    spx_ingest_header h = header(SPX_DTYPE_F64, 0, 4);
    cr_assert_eq(spx_validate_payload(&h, NULL, 0, err, sizeof err), SPX_OK);
    double x = 1;
    cr_assert_eq(spx_validate_payload(&h, &x, 8, err, sizeof err), SPX_E_BAD_LENGTH);
    h = header(SPX_DTYPE_F32, 7, 0); /* an empty block */
    cr_assert_eq(spx_validate_payload(&h, NULL, 0, err, sizeof err), SPX_OK);
    cr_assert_eq(spx_validate_payload(&h, &x, 4, err, sizeof err), SPX_E_BAD_LENGTH);
}

Test(codec_payload, a_header_not_from_the_decoder_cannot_overflow)
{
    char err[256];
    spx_ingest_header h = header(SPX_DTYPE_F64, UINT64_MAX, 2);
    cr_assert_eq(spx_validate_payload(&h, NULL, 0, err, sizeof err), SPX_E_INTERNAL);
    h = header(SPX_DTYPE_F64, (UINT64_MAX >> 3) + 1, 1); /* n fits, n x 8 does not */
    cr_assert_eq(spx_validate_payload(&h, NULL, 0, err, sizeof err), SPX_E_INTERNAL);
    h = header((spx_dtype)9, 1, 1);
    cr_assert_eq(spx_validate_payload(&h, NULL, 0, err, sizeof err), SPX_E_INTERNAL);
}

static const uint64_t bad64[] = {
    0x7ff0000000000000u, /* +Inf */
    0xfff0000000000000u, /* -Inf */
    0x7ff8000000000000u, /* quiet NaN */
    0xfff8000000000000u, /* negative quiet NaN */
    0x7ff0000000000001u, /* signalling NaN */
    0x7fffffffffffffffu, /* NaN, all payload bits */
};
static const uint64_t bad32[] = {0x7f800000u, 0xff800000u, 0x7fc00000u, 0xffc00000u, 0x7f800001u,
                                 0x7fffffffu};

Test(codec_payload, first_non_finite_is_named_as_row_and_col, .timeout = 120)
{
    char err[256];
    const size_t sizes[] = {1, 3, 255, 256, 257, 511, 512, 1000, 4099};
    const size_t cols_of[] = {1, 3, 5, 8, 257, 1, 64, 10, 4099};
    for (int k = 0; k < 2; k++) {
        spx_dtype dtype = k ? SPX_DTYPE_F64 : SPX_DTYPE_F32;
        size_t esize = spx_dtype_size(dtype);
        const uint64_t *bad = k ? bad64 : bad32;
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
            size_t n = sizes[s], cols = cols_of[s];
            cr_assert_eq(n % cols, 0);
            spx_ingest_header h = header(dtype, n / cols, cols);
            size_t positions[] = {0, n - 1, n / 2, 255, 256, 257, 3 * n / 4};
            for (size_t misalign = 0; misalign < 8; misalign += (misalign < 3 ? 1 : 4)) {
                buf b = make_buf(dtype, n, misalign, 42 + n);
                cr_assert_eq(spx_validate_payload(&h, b.p, n * esize, err, sizeof err), SPX_OK,
                             "%s", err);
                for (size_t q = 0; q < sizeof positions / sizeof positions[0]; q++) {
                    size_t at = positions[q];
                    if (at >= n)
                        continue;
                    for (size_t v = 0; v < 6; v++) {
                        unsigned char saved[8];
                        memcpy(saved, b.p + at * esize, esize);
                        put_bits(&b, dtype, at, bad[v]);
                        /* a second bad value later must not be the one reported */
                        unsigned char saved_last[8];
                        memcpy(saved_last, b.p + (n - 1) * esize, esize);
                        if (at < n - 1)
                            put_bits(&b, dtype, n - 1, bad[(v + 1) % 6]);
                        cr_assert_eq(spx_validate_payload(&h, b.p, n * esize, err, sizeof err),
                                     SPX_E_NOT_FINITE, "%s n %zu at %zu bits %zu", spx_dtype_name(dtype),
                                     n, at, v);
                        char expect[64];
                        snprintf(expect, sizeof expect, "row %zu, col %zu is %s", at / cols,
                                 at % cols, v < 2 ? "Inf" : "NaN");
                        cr_assert(strstr(err, expect), "'%s' lacks '%s'", err, expect);
                        memcpy(b.p + (n - 1) * esize, saved_last, esize);
                        memcpy(b.p + at * esize, saved, esize);
                    }
                }
                free(b.base);
            }
        }
    }
}

Test(codec_payload, extreme_finite_values_pass)
{
    char err[256];
    double d[] = {DBL_MAX, -DBL_MAX, DBL_MIN, -DBL_MIN, 4.9e-324, -4.9e-324, 0.0, -0.0, 1.0};
    spx_ingest_header h = header(SPX_DTYPE_F64, 1, 9);
    cr_assert_eq(spx_validate_payload(&h, d, sizeof d, err, sizeof err), SPX_OK, "%s", err);
    float f[] = {FLT_MAX, -FLT_MAX, FLT_MIN, 1e-45f, -0.0f, 0.0f};
    h = header(SPX_DTYPE_F32, 2, 3);
    cr_assert_eq(spx_validate_payload(&h, f, sizeof f, err, sizeof err), SPX_OK, "%s", err);
    /* the largest exponent below Inf, with every mantissa bit: still finite */
    uint64_t almost = 0x7fefffffffffffffu;
    h = header(SPX_DTYPE_F64, 1, 1);
    cr_assert_eq(spx_validate_payload(&h, &almost, 8, err, sizeof err), SPX_OK);
}

Test(codec_payload, i16_is_always_finite)
{
    char err[256];
    uint16_t v[1024];
    for (size_t i = 0; i < 1024; i++)
        v[i] = (uint16_t)(0x7f80 + i * 61); /* bit patterns that would be Inf/NaN as floats */
    spx_ingest_header h = header(SPX_DTYPE_I16, 512, 2);
    unsigned char *odd = malloc(sizeof v + 1);
    memcpy(odd + 1, v, sizeof v);
    cr_assert_eq(spx_validate_payload(&h, odd + 1, sizeof v, err, sizeof err), SPX_OK);
    free(odd);
}

Test(codec_payload, agrees_with_isfinite_on_random_bit_patterns, .timeout = 120)
{
    spx_rng rng;
    spx_rng_seed(&rng, 5);
    char err[256];
    for (int iter = 0; iter < 400; iter++) {
        int f64 = (int)spx_rng_below(&rng, 2);
        spx_dtype dtype = f64 ? SPX_DTYPE_F64 : SPX_DTYPE_F32;
        size_t n = 1 + spx_rng_below(&rng, 3000), misalign = spx_rng_below(&rng, 8);
        unsigned char *base = malloc(n * 8 + 8), *p = base + misalign;
        size_t expected = n;
        /* random bits, but with the exponent forced to all-ones rarely */
        double rate = spx_rng_uniform(&rng) * 0.002;
        for (size_t i = 0; i < n; i++) {
            uint64_t bits = spx_rng_next(&rng);
            if (spx_rng_uniform(&rng) >= rate)
                bits &= f64 ? 0xbfffffffffffffffu : 0xbfffffffu; /* clears an exponent bit */
            if (f64) {
                double x;
                memcpy(p + 8 * i, &bits, 8);
                memcpy(&x, &bits, 8);
                if (expected == n && !isfinite(x))
                    expected = i;
            } else {
                uint32_t b32 = (uint32_t)bits;
                float x;
                memcpy(p + 4 * i, &b32, 4);
                memcpy(&x, &b32, 4);
                if (expected == n && !isfinite(x))
                    expected = i;
            }
        }
        spx_ingest_header h = header(dtype, n, 1);
        spx_errcode rc = spx_validate_payload(&h, p, n * spx_dtype_size(dtype), err, sizeof err);
        if (expected == n) {
            cr_assert_eq(rc, SPX_OK, "%s", err);
        } else {
            cr_assert_eq(rc, SPX_E_NOT_FINITE);
            char want[48];
            snprintf(want, sizeof want, "row %zu, col 0 ", expected);
            cr_assert(strstr(err, want), "'%s' lacks '%s'", err, want);
        }
        free(base);
    }
}
