/* Per-row kernels of the top-eigenvector methods. The rows stream from memory once; these loops
 * must keep up with it, which the x86-64 baseline (SSE2, two doubles per instruction) cannot at
 * d >= 1000, so each kernel is also compiled for AVX2 and picked at load time (target_clones).
 * Explicit 4-wide vectors with independent accumulators fix the reduction order in the source:
 * both versions compute the same sums in the same order (GCC does not contract to FMA under
 * -std=c11), so results do not depend on the machine. Unaligned loads go through memcpy. f32 lanes
 * are widened element by element: GCC 12 lowers __builtin_convertvector(v4f -> v4d) to two 2-wide
 * conversions through the stack (AVX2 clone), the element-wise form to one vcvtps2pd (both exact).
 * Measured at d = 1000, oja on f32 rows: 330 -> 220 ns per row. */
#include "topeig_internal.h"

#include <string.h>

typedef double v4d __attribute__((vector_size(32)));
typedef float v4f __attribute__((vector_size(16)));

#define LOAD_D(dst, p) memcpy(&(dst), (p), sizeof(v4d))
#define LOAD_F(dst, p)                                                                           \
    do {                                                                                         \
        v4f f_;                                                                                  \
        memcpy(&f_, (p), sizeof f_);                                                             \
        (dst) = (v4d){f_[0], f_[1], f_[2], f_[3]};                                               \
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

/* Oja: the previous row's update w += c xp fused with the next row's first read (<x, w>, ||x||^2,
 * optionally <x, r>): one pass over w per row instead of two. Element for element and sum for sum
 * the same arithmetic as spx_topeig_axpy_* followed by spx_topeig_dot(2)_norm_*, so results are
 * bit-identical to the two passes. */
#define AXPY_DOT_BODY(LOAD, WITH_R)                                                              \
    v4d cv = {c, c, c, c};                                                                       \
    v4d s0 = {0, 0, 0, 0}, s1 = s0, t0 = s0, t1 = s0, q0 = s0, q1 = s0;                          \
    const size_t ahead = d < 512 ? 512 : d;                                                      \
    size_t i = 0;                                                                                \
    for (; i + 8 <= d; i += 8) {                                                                 \
        v4d p0, p1, w0, w1, a0, a1;                                                              \
        __builtin_prefetch(x + ahead + i);                                                       \
        LOAD(p0, xp + i);                                                                        \
        LOAD(p1, xp + i + 4);                                                                    \
        LOAD_D(w0, w + i);                                                                       \
        LOAD_D(w1, w + i + 4);                                                                   \
        w0 += cv * p0;                                                                           \
        w1 += cv * p1;                                                                           \
        STORE_D(w + i, w0);                                                                      \
        STORE_D(w + i + 4, w1);                                                                  \
        LOAD(a0, x + i);                                                                         \
        LOAD(a1, x + i + 4);                                                                     \
        s0 += a0 * w0;                                                                           \
        s1 += a1 * w1;                                                                           \
        if (WITH_R) {                                                                            \
            v4d r0, r1;                                                                          \
            LOAD_D(r0, r + i);                                                                   \
            LOAD_D(r1, r + i + 4);                                                               \
            t0 += a0 * r0;                                                                       \
            t1 += a1 * r1;                                                                       \
        }                                                                                        \
        q0 += a0 * a0;                                                                           \
        q1 += a1 * a1;                                                                           \
    }                                                                                            \
    for (size_t j = i; j < d; j++)                                                               \
        w[j] += c * (double)xp[j];                                                               \
    double s = HSUM(s0, s1), u = HSUM(t0, t1), q = HSUM(q0, q1);                                 \
    for (; i < d; i++) {                                                                         \
        double xi = x[i];                                                                        \
        s += xi * w[i];                                                                          \
        if (WITH_R)                                                                              \
            u += xi * r[i];                                                                      \
        q += xi * xi;                                                                            \
    }                                                                                            \
    if (WITH_R)                                                                                  \
        *xr = u;                                                                                 \
    *xx = q;                                                                                     \
    return s;

CLONES double spx_topeig_axpy_dot_norm_f64(double *w, double c, const double *xp, const double *x,
                                           size_t d, double *xx)
{
    const double *r = NULL;
    double *xr = NULL;
    AXPY_DOT_BODY(LOAD_D, 0)
}

CLONES double spx_topeig_axpy_dot_norm_f32(double *w, double c, const float *xp, const float *x,
                                           size_t d, double *xx)
{
    const double *r = NULL;
    double *xr = NULL;
    AXPY_DOT_BODY(LOAD_F, 0)
}

CLONES double spx_topeig_axpy_dot2_norm_f64(double *w, double c, const double *xp, const double *x,
                                            const double *r, size_t d, double *xr, double *xx)
{
    AXPY_DOT_BODY(LOAD_D, 1)
}

CLONES double spx_topeig_axpy_dot2_norm_f32(double *w, double c, const float *xp, const float *x,
                                            const double *r, size_t d, double *xr, double *xx)
{
    AXPY_DOT_BODY(LOAD_F, 1)
}

/* Oja's f32 kernels once more with 8-lane vectors, for CPUs with AVX-512
 * (spx_topeig_oja_kernels_get picks them at create time): half the instructions per element;
 * oja on f32 rows at d = 1000 went from ~3.0M to ~5.2M rows/s (bench_topeig_speed). One 8-lane
 * accumulator holds exactly the two 4-lane accumulators of the kernels above (lanes 0-3 and 4-7)
 * and HSUM8 adds them in the order HSUM does, so both sets return the same bits. f64 rows keep
 * the 4-lane kernels: their 64-byte loads split cache lines unless the caller's rows are 64-byte
 * aligned, and measured slower. These are not target_clones of the kernels above because GCC
 * lowers 8-lane vectors on AVX2 / SSE2 through the stack. */
typedef double v8d __attribute__((vector_size(64)));
typedef float v8f __attribute__((vector_size(32)));

#define LOAD8_D(dst, p) memcpy(&(dst), (p), sizeof(v8d))
#define LOAD8_F(dst, p)                                                                          \
    do {                                                                                         \
        v8f f_;                                                                                  \
        memcpy(&f_, (p), sizeof f_);                                                             \
        (dst) = (v8d){f_[0], f_[1], f_[2], f_[3], f_[4], f_[5], f_[6], f_[7]};                   \
    } while (0)
#define STORE8_D(p, v) memcpy((p), &(v), sizeof(v8d))
#define HSUM8(a) (((a)[0] + (a)[4]) + ((a)[2] + (a)[6])) + (((a)[1] + (a)[5]) + ((a)[3] + (a)[7]))

#define AVX512 __attribute__((target("avx512f")))

/* As DOT2_NORM_BODY (WITH_R) or DOT_NORM_BODY. */
#define DOT_NORM8_BODY(LOAD, WITH_R)                                                             \
    v8d s = {0, 0, 0, 0, 0, 0, 0, 0}, u = s, q = s;                                              \
    const size_t ahead = d < 512 ? 512 : d;                                                      \
    size_t i = 0;                                                                                \
    for (; i + 8 <= d; i += 8) {                                                                 \
        v8d a, wv;                                                                               \
        __builtin_prefetch(x + ahead + i);                                                       \
        LOAD(a, x + i);                                                                          \
        LOAD8_D(wv, w + i);                                                                      \
        s += a * wv;                                                                             \
        if (WITH_R) {                                                                            \
            v8d rv;                                                                              \
            LOAD8_D(rv, r + i);                                                                  \
            u += a * rv;                                                                         \
        }                                                                                        \
        q += a * a;                                                                              \
    }                                                                                            \
    double ss = HSUM8(s), uu = HSUM8(u), qq = HSUM8(q);                                          \
    for (; i < d; i++) {                                                                         \
        double xi = x[i];                                                                        \
        ss += xi * w[i];                                                                         \
        if (WITH_R)                                                                              \
            uu += xi * r[i];                                                                     \
        qq += xi * xi;                                                                           \
    }                                                                                            \
    if (WITH_R)                                                                                  \
        *xr = uu;                                                                                \
    *xx = qq;                                                                                    \
    return ss;

/* As AXPY_DOT_BODY. */
#define AXPY_DOT8_BODY(LOAD, WITH_R)                                                             \
    v8d cv = {c, c, c, c, c, c, c, c};                                                           \
    v8d s = {0, 0, 0, 0, 0, 0, 0, 0}, u = s, q = s;                                              \
    const size_t ahead = d < 512 ? 512 : d;                                                      \
    size_t i = 0;                                                                                \
    for (; i + 8 <= d; i += 8) {                                                                 \
        v8d p, wv, a;                                                                            \
        __builtin_prefetch(x + ahead + i);                                                       \
        LOAD(p, xp + i);                                                                         \
        LOAD8_D(wv, w + i);                                                                      \
        wv += cv * p;                                                                            \
        STORE8_D(w + i, wv);                                                                     \
        LOAD(a, x + i);                                                                          \
        s += a * wv;                                                                             \
        if (WITH_R) {                                                                            \
            v8d rv;                                                                              \
            LOAD8_D(rv, r + i);                                                                  \
            u += a * rv;                                                                         \
        }                                                                                        \
        q += a * a;                                                                              \
    }                                                                                            \
    for (size_t j = i; j < d; j++)                                                               \
        w[j] += c * (double)xp[j];                                                               \
    double ss = HSUM8(s), uu = HSUM8(u), qq = HSUM8(q);                                          \
    for (; i < d; i++) {                                                                         \
        double xi = x[i];                                                                        \
        ss += xi * w[i];                                                                         \
        if (WITH_R)                                                                              \
            uu += xi * r[i];                                                                     \
        qq += xi * xi;                                                                           \
    }                                                                                            \
    if (WITH_R)                                                                                  \
        *xr = uu;                                                                                \
    *xx = qq;                                                                                    \
    return ss;

AVX512 static double dot_norm8_f32(const float *x, const double *w, size_t d, double *xx)
{
    const double *r = NULL;
    double *xr = NULL;
    DOT_NORM8_BODY(LOAD8_F, 0)
}

AVX512 static double dot2_norm8_f32(const float *x, const double *w, const double *r, size_t d,
                                    double *xr, double *xx)
{
    DOT_NORM8_BODY(LOAD8_F, 1)
}

AVX512 static double axpy_dot_norm8_f32(double *w, double c, const float *xp, const float *x,
                                        size_t d, double *xx)
{
    const double *r = NULL;
    double *xr = NULL;
    AXPY_DOT8_BODY(LOAD8_F, 0)
}

AVX512 static double axpy_dot2_norm8_f32(double *w, double c, const float *xp, const float *x,
                                         const double *r, size_t d, double *xr, double *xx)
{
    AXPY_DOT8_BODY(LOAD8_F, 1)
}

static const spx_topeig_oja_kernels oja_kernels_portable = {
    .dot_norm_f64 = spx_topeig_dot_norm_f64,
    .dot_norm_f32 = spx_topeig_dot_norm_f32,
    .dot2_norm_f64 = spx_topeig_dot2_norm_f64,
    .dot2_norm_f32 = spx_topeig_dot2_norm_f32,
    .axpy_dot_norm_f64 = spx_topeig_axpy_dot_norm_f64,
    .axpy_dot_norm_f32 = spx_topeig_axpy_dot_norm_f32,
    .axpy_dot2_norm_f64 = spx_topeig_axpy_dot2_norm_f64,
    .axpy_dot2_norm_f32 = spx_topeig_axpy_dot2_norm_f32,
};

static const spx_topeig_oja_kernels oja_kernels_avx512 = {
    .dot_norm_f64 = spx_topeig_dot_norm_f64,
    .dot_norm_f32 = dot_norm8_f32,
    .dot2_norm_f64 = spx_topeig_dot2_norm_f64,
    .dot2_norm_f32 = dot2_norm8_f32,
    .axpy_dot_norm_f64 = spx_topeig_axpy_dot_norm_f64,
    .axpy_dot_norm_f32 = axpy_dot_norm8_f32,
    .axpy_dot2_norm_f64 = spx_topeig_axpy_dot2_norm_f64,
    .axpy_dot2_norm_f32 = axpy_dot2_norm8_f32,
};

const spx_topeig_oja_kernels *spx_topeig_oja_kernels_get(int allow_avx512)
{
    __builtin_cpu_init();
    if (allow_avx512 && __builtin_cpu_supports("avx512f"))
        return &oja_kernels_avx512;
    return &oja_kernels_portable;
}

/* Block methods with few columns (p <= 4, the default p = 3): per row, y = Z^T x in one read of x
 * and S += x y^T in a second, the p columns of Z and S staying in cache. A GEMM with 3 columns
 * runs far below the machine's peak, so this is ~4x faster than the two skinny GEMMs per group.
 * P is a compile-time constant in each instance and the column loops are unrolled explicitly
 * (without it GCC -O2 keeps the accumulators on the stack: 3x slower). */
#define PROJ_BODY(P)                                                                             \
    v4d acc[P];                                                                                  \
    double tail[P];                                                                              \
    _Pragma("GCC unroll 4") for (size_t j = 0; j < (P); j++) {                                   \
        acc[j] = (v4d){0, 0, 0, 0};                                                              \
        tail[j] = 0.0;                                                                           \
    }                                                                                            \
    size_t i = 0;                                                                                \
    for (; i + 4 <= d; i += 4) {                                                                 \
        v4d a, z;                                                                                \
        LOAD_D(a, x + i);                                                                        \
        _Pragma("GCC unroll 4") for (size_t j = 0; j < (P); j++) {                               \
            LOAD_D(z, Z + j * d + i);                                                            \
            acc[j] += a * z;                                                                     \
        }                                                                                        \
    }                                                                                            \
    for (; i < d; i++)                                                                           \
        _Pragma("GCC unroll 4") for (size_t j = 0; j < (P); j++)                                 \
            tail[j] += x[i] * Z[j * d + i];                                                      \
    _Pragma("GCC unroll 4") for (size_t j = 0; j < (P); j++)                                     \
        y[j] = ((acc[j][0] + acc[j][2]) + (acc[j][1] + acc[j][3])) + tail[j];

#define RANK_BODY(P, LOAD)                                                                       \
    v4d yv[P];                                                                                   \
    _Pragma("GCC unroll 4") for (size_t j = 0; j < (P); j++)                                     \
        yv[j] = (v4d){y[j], y[j], y[j], y[j]};                                                   \
    size_t i = 0;                                                                                \
    for (; i + 4 <= d; i += 4) {                                                                 \
        v4d a, s;                                                                                \
        LOAD(a, x + i);                                                                          \
        _Pragma("GCC unroll 4") for (size_t j = 0; j < (P); j++) {                               \
            LOAD_D(s, S + j * d + i);                                                            \
            s += yv[j] * a;                                                                      \
            STORE_D(S + j * d + i, s);                                                           \
        }                                                                                        \
    }                                                                                            \
    for (; i < d; i++)                                                                           \
        _Pragma("GCC unroll 4") for (size_t j = 0; j < (P); j++)                                 \
            S[j * d + i] += y[j] * (double)x[i];

/* PROJ_BODY plus <x, r> and ||x||^2 in the same read of x (a row's first touch). */
#define PROJ_EX_BODY(P, LOAD, XT)                                                                \
    v4d acc[P], ar = {0, 0, 0, 0}, aq = ar;                                                      \
    double tail[P], tr = 0.0, tq = 0.0;                                                          \
    _Pragma("GCC unroll 4") for (size_t j = 0; j < (P); j++) {                                   \
        acc[j] = (v4d){0, 0, 0, 0};                                                              \
        tail[j] = 0.0;                                                                           \
    }                                                                                            \
    const size_t ahead = d < 512 ? 512 : d;                                                      \
    size_t i = 0;                                                                                \
    for (; i + 4 <= d; i += 4) {                                                                 \
        v4d a, z;                                                                                \
        __builtin_prefetch(x + ahead + i);                                                       \
        LOAD(a, x + i);                                                                          \
        _Pragma("GCC unroll 4") for (size_t j = 0; j < (P); j++) {                               \
            LOAD_D(z, Z + j * d + i);                                                            \
            acc[j] += a * z;                                                                     \
        }                                                                                        \
        LOAD_D(z, r + i);                                                                        \
        ar += a * z;                                                                             \
        aq += a * a;                                                                             \
    }                                                                                            \
    for (; i < d; i++) {                                                                         \
        double xi = (XT)x[i];                                                                    \
        _Pragma("GCC unroll 4") for (size_t j = 0; j < (P); j++)                                 \
            tail[j] += xi * Z[j * d + i];                                                        \
        tr += xi * r[i];                                                                         \
        tq += xi * xi;                                                                           \
    }                                                                                            \
    _Pragma("GCC unroll 4") for (size_t j = 0; j < (P); j++)                                     \
        y[j] = ((acc[j][0] + acc[j][2]) + (acc[j][1] + acc[j][3])) + tail[j];                    \
    *xr = ((ar[0] + ar[2]) + (ar[1] + ar[3])) + tr;                                              \
    *xx = ((aq[0] + aq[2]) + (aq[1] + aq[3])) + tq;

#define DEFINE_PROJ_RANK(P)                                                                      \
    CLONES static void proj_##P(const double *x, const double *Z, size_t d, double *y)           \
    {                                                                                            \
        PROJ_BODY(P)                                                                             \
    }                                                                                            \
    CLONES static void projx_##P(const double *x, const double *Z, const double *r, size_t d,    \
                                 double *y, double *xr, double *xx)                              \
    {                                                                                            \
        PROJ_EX_BODY(P, LOAD_D, double)                                                          \
    }                                                                                            \
    CLONES static void rank_##P(double *S, const double *x, const double *y, size_t d)           \
    {                                                                                            \
        RANK_BODY(P, LOAD_D)                                                                     \
    }                                                                                            \
    CLONES static void projx_f32_##P(const float *x, const double *Z, const double *r, size_t d, \
                                     double *y, double *xr, double *xx)                          \
    {                                                                                            \
        PROJ_EX_BODY(P, LOAD_F, double)                                                          \
    }                                                                                            \
    CLONES static void rank_f32_##P(double *S, const float *x, const double *y, size_t d)        \
    {                                                                                            \
        RANK_BODY(P, LOAD_F)                                                                     \
    }

DEFINE_PROJ_RANK(1)
DEFINE_PROJ_RANK(2)
DEFINE_PROJ_RANK(3)
DEFINE_PROJ_RANK(4)

void spx_topeig_project_small(const double *x, const double *Z, size_t d, size_t p, double *y)
{
    switch (p) {
    case 1: proj_1(x, Z, d, y); break;
    case 2: proj_2(x, Z, d, y); break;
    case 3: proj_3(x, Z, d, y); break;
    default: proj_4(x, Z, d, y); break;
    }
}

void spx_topeig_project_small_ex(const double *x, const double *Z, const double *r, size_t d,
                                 size_t p, double *y, double *xr, double *xx)
{
    switch (p) {
    case 1: projx_1(x, Z, r, d, y, xr, xx); break;
    case 2: projx_2(x, Z, r, d, y, xr, xx); break;
    case 3: projx_3(x, Z, r, d, y, xr, xx); break;
    default: projx_4(x, Z, r, d, y, xr, xx); break;
    }
}

void spx_topeig_rank_update_small(double *S, const double *x, const double *y, size_t d, size_t p)
{
    switch (p) {
    case 1: rank_1(S, x, y, d); break;
    case 2: rank_2(S, x, y, d); break;
    case 3: rank_3(S, x, y, d); break;
    default: rank_4(S, x, y, d); break;
    }
}

/* f32 rows read as they are (widened in registers): the same sums as widening the row first. */
void spx_topeig_project_small_ex_f32(const float *x, const double *Z, const double *r, size_t d,
                                     size_t p, double *y, double *xr, double *xx)
{
    switch (p) {
    case 1: projx_f32_1(x, Z, r, d, y, xr, xx); break;
    case 2: projx_f32_2(x, Z, r, d, y, xr, xx); break;
    case 3: projx_f32_3(x, Z, r, d, y, xr, xx); break;
    default: projx_f32_4(x, Z, r, d, y, xr, xx); break;
    }
}

void spx_topeig_rank_update_small_f32(double *S, const float *x, const double *y, size_t d,
                                      size_t p)
{
    switch (p) {
    case 1: rank_f32_1(S, x, y, d); break;
    case 2: rank_f32_2(S, x, y, d); break;
    case 3: rank_f32_3(S, x, y, d); break;
    default: rank_f32_4(S, x, y, d); break;
    }
}
