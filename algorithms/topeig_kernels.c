/* Per-row kernels of the top-eigenvector methods. The rows stream from memory once; these loops
 * must keep up with it, which the x86-64 baseline (SSE2, two doubles per instruction) cannot at
 * d >= 1000, so each kernel is also compiled for AVX2 and picked at load time (target_clones).
 * Explicit 4-wide vectors with independent accumulators fix the reduction order in the source:
 * both versions compute the same sums in the same order (GCC does not contract to FMA under
 * -std=c11), so results do not depend on the machine. Unaligned loads go through memcpy. */
#include "topeig_internal.h"

#include <string.h>

typedef double v4d __attribute__((vector_size(32)));
typedef float v4f __attribute__((vector_size(16)));

#define LOAD_D(dst, p) memcpy(&(dst), (p), sizeof(v4d))
#define LOAD_F(dst, p)                                                                           \
    do {                                                                                         \
        v4f f_;                                                                                  \
        memcpy(&f_, (p), sizeof f_);                                                             \
        (dst) = __builtin_convertvector(f_, v4d);                                                \
    } while (0)
#define STORE_D(p, v) memcpy((p), &(v), sizeof(v4d))
#define HSUM(a, b) (((a)[0] + (b)[0]) + ((a)[2] + (b)[2])) + (((a)[1] + (b)[1]) + ((a)[3] + (b)[3]))

#define CLONES __attribute__((target_clones("avx2", "default")))

#define DOT_NORM_BODY(LOAD)                                                                      \
    v4d s0 = {0, 0, 0, 0}, s1 = s0, q0 = s0, q1 = s0;                                            \
    const size_t ahead = d < 512 ? 512 : d;                                                      \
    size_t i = 0;                                                                                \
    for (; i + 8 <= d; i += 8) {                                                                 \
        v4d a0, a1, w0, w1;                                                                      \
        __builtin_prefetch(x + ahead + i);                                                       \
        LOAD(a0, x + i);                                                                         \
        LOAD(a1, x + i + 4);                                                                     \
        LOAD_D(w0, w + i);                                                                       \
        LOAD_D(w1, w + i + 4);                                                                   \
        s0 += a0 * w0;                                                                           \
        s1 += a1 * w1;                                                                           \
        q0 += a0 * a0;                                                                           \
        q1 += a1 * a1;                                                                           \
    }                                                                                            \
    double s = HSUM(s0, s1), q = HSUM(q0, q1);                                                   \
    for (; i < d; i++) {                                                                         \
        double xi = x[i];                                                                        \
        s += xi * w[i];                                                                          \
        q += xi * xi;                                                                            \
    }                                                                                            \
    *xx = q;                                                                                     \
    return s;

CLONES double spx_topeig_dot_norm_f64(const double *x, const double *w, size_t d, double *xx)
{
    DOT_NORM_BODY(LOAD_D)
}

CLONES double spx_topeig_dot_norm_f32(const float *x, const double *w, size_t d, double *xx)
{
    DOT_NORM_BODY(LOAD_F)
}

#define DOT2_NORM_BODY(LOAD)                                                                     \
    v4d s0 = {0, 0, 0, 0}, s1 = s0, t0 = s0, t1 = s0, q0 = s0, q1 = s0;                          \
    const size_t ahead = d < 512 ? 512 : d;                                                      \
    size_t i = 0;                                                                                \
    for (; i + 8 <= d; i += 8) {                                                                 \
        v4d a0, a1, w0, w1, r0, r1;                                                              \
        __builtin_prefetch(x + ahead + i);                                                       \
        LOAD(a0, x + i);                                                                         \
        LOAD(a1, x + i + 4);                                                                     \
        LOAD_D(w0, w + i);                                                                       \
        LOAD_D(w1, w + i + 4);                                                                   \
        LOAD_D(r0, r + i);                                                                       \
        LOAD_D(r1, r + i + 4);                                                                   \
        s0 += a0 * w0;                                                                           \
        s1 += a1 * w1;                                                                           \
        t0 += a0 * r0;                                                                           \
        t1 += a1 * r1;                                                                           \
        q0 += a0 * a0;                                                                           \
        q1 += a1 * a1;                                                                           \
    }                                                                                            \
    double s = HSUM(s0, s1), u = HSUM(t0, t1), q = HSUM(q0, q1);                                 \
    for (; i < d; i++) {                                                                         \
        double xi = x[i];                                                                        \
        s += xi * w[i];                                                                          \
        u += xi * r[i];                                                                          \
        q += xi * xi;                                                                            \
    }                                                                                            \
    *xr = u;                                                                                     \
    *xx = q;                                                                                     \
    return s;

CLONES double spx_topeig_dot2_norm_f64(const double *x, const double *w, const double *r, size_t d,
                                       double *xr, double *xx)
{
    DOT2_NORM_BODY(LOAD_D)
}

CLONES double spx_topeig_dot2_norm_f32(const float *x, const double *w, const double *r, size_t d,
                                       double *xr, double *xx)
{
    DOT2_NORM_BODY(LOAD_F)
}

/* The axpy re-reads x from cache; meanwhile the memory system would idle, so it prefetches what
 * follows: the next row, or for short rows the data at least 512 elements ahead (rows are
 * contiguous; a prefetch past the end of the caller's buffer is only a hint and never faults).
 * Measured at d = 1000: 1.9 -> 2.7-3.2 M rows/s. */
#define AXPY_BODY(LOAD)                                                                          \
    v4d cv = {c, c, c, c};                                                                       \
    const size_t ahead = d < 512 ? 512 : d;                                                      \
    size_t i = 0;                                                                                \
    for (; i + 8 <= d; i += 8) {                                                                 \
        v4d a0, a1, w0, w1;                                                                      \
        __builtin_prefetch(x + ahead + i);                                                       \
        LOAD(a0, x + i);                                                                         \
        LOAD(a1, x + i + 4);                                                                     \
        LOAD_D(w0, w + i);                                                                       \
        LOAD_D(w1, w + i + 4);                                                                   \
        w0 += cv * a0;                                                                           \
        w1 += cv * a1;                                                                           \
        STORE_D(w + i, w0);                                                                      \
        STORE_D(w + i + 4, w1);                                                                  \
    }                                                                                            \
    for (; i < d; i++)                                                                           \
        w[i] += c * (double)x[i];

CLONES void spx_topeig_axpy_f64(double *w, double c, const double *x, size_t d) { AXPY_BODY(LOAD_D) }

CLONES void spx_topeig_axpy_f32(double *w, double c, const float *x, size_t d) { AXPY_BODY(LOAD_F) }
