/* Internals shared by the top-eigenvector methods (topeig*.c). Not part of the public API. */
#ifndef SPX_TOPEIG_INTERNAL_H
#define SPX_TOPEIG_INTERNAL_H

#include "rng.h"
#include "topeig.h"

#include <stdint.h>
#include <string.h>

/* The per-row kernels. Explicit 2-wide (SSE2, the x86-64 baseline) vectors, eight doubles per
 * iteration in four accumulators: the reduction order is fixed by this code (deterministic,
 * independent of how rows are batched) and the sums stay in flight without -ffast-math.
 * Unaligned loads go through memcpy. */
typedef double spx_v2d __attribute__((vector_size(16)));
typedef float spx_v2f __attribute__((vector_size(8)));

static inline spx_v2d spx_load2d(const double *p)
{
    spx_v2d v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline spx_v2d spx_load2f(const float *p)
{
    spx_v2f v;
    memcpy(&v, p, sizeof v);
    return __builtin_convertvector(v, spx_v2d);
}

static inline void spx_store2d(double *p, spx_v2d v) { memcpy(p, &v, sizeof v); }

static inline double spx_hsum(spx_v2d a, spx_v2d b, spx_v2d c, spx_v2d e)
{
    spx_v2d s = (a + b) + (c + e);
    return s[0] + s[1];
}

#define SPX_TOPEIG_DOT_NORM_BODY(LOAD)                                                           \
    spx_v2d s0 = {0, 0}, s1 = {0, 0}, s2 = {0, 0}, s3 = {0, 0};                                  \
    spx_v2d q0 = {0, 0}, q1 = {0, 0}, q2 = {0, 0}, q3 = {0, 0};                                  \
    size_t i = 0;                                                                                \
    for (; i + 8 <= d; i += 8) {                                                                 \
        spx_v2d a0 = LOAD(x + i), a1 = LOAD(x + i + 2), a2 = LOAD(x + i + 4),                    \
                a3 = LOAD(x + i + 6);                                                            \
        s0 += a0 * spx_load2d(w + i);                                                            \
        s1 += a1 * spx_load2d(w + i + 2);                                                        \
        s2 += a2 * spx_load2d(w + i + 4);                                                        \
        s3 += a3 * spx_load2d(w + i + 6);                                                        \
        q0 += a0 * a0;                                                                           \
        q1 += a1 * a1;                                                                           \
        q2 += a2 * a2;                                                                           \
        q3 += a3 * a3;                                                                           \
    }                                                                                            \
    double s = spx_hsum(s0, s1, s2, s3), q = spx_hsum(q0, q1, q2, q3);                           \
    for (; i < d; i++) {                                                                         \
        double xi = x[i];                                                                        \
        s += xi * w[i];                                                                          \
        q += xi * xi;                                                                            \
    }                                                                                            \
    *xx = q;                                                                                     \
    return s;

/* Returns <x, w>; *xx = ||x||^2. One read of x. */
static inline double spx_topeig_dot_norm_f64(const double *x, const double *w, size_t d, double *xx)
{
    SPX_TOPEIG_DOT_NORM_BODY(spx_load2d)
}

static inline double spx_topeig_dot_norm_f32(const float *x, const double *w, size_t d, double *xx)
{
    SPX_TOPEIG_DOT_NORM_BODY(spx_load2f)
}

#define SPX_TOPEIG_AXPY_BODY(LOAD)                                                               \
    spx_v2d cv = {c, c};                                                                         \
    size_t i = 0;                                                                                \
    for (; i + 8 <= d; i += 8) {                                                                 \
        spx_store2d(w + i, spx_load2d(w + i) + cv * LOAD(x + i));                                \
        spx_store2d(w + i + 2, spx_load2d(w + i + 2) + cv * LOAD(x + i + 2));                    \
        spx_store2d(w + i + 4, spx_load2d(w + i + 4) + cv * LOAD(x + i + 4));                    \
        spx_store2d(w + i + 6, spx_load2d(w + i + 6) + cv * LOAD(x + i + 6));                    \
    }                                                                                            \
    for (; i < d; i++)                                                                           \
        w[i] += c * (double)x[i];

/* w += c x */
static inline void spx_topeig_axpy_f64(double *w, double c, const double *x, size_t d)
{
    SPX_TOPEIG_AXPY_BODY(spx_load2d)
}

static inline void spx_topeig_axpy_f32(double *w, double c, const float *x, size_t d)
{
    SPX_TOPEIG_AXPY_BODY(spx_load2f)
}

/* Oja / AdaOja state (k = 1). The iterate is kept unnormalised, v = w / ||w||: the new norm follows
 * from the two dot products already computed for the row, so a row costs one fused dot+norm pass
 * and one axpy pass, with no third pass to rescale w. */
typedef struct spx_topeig_oja {
    double *w;
    double w_norm2;
    double b2;                 /* AdaOja: b_t^2 */
    uint64_t since_renorm;
} spx_topeig_oja;

struct spx_topeig {
    spx_topeig_params p;
    size_t d, k;
    uint64_t rows;
    double fro2;
    double *vec;               /* k x d, the result rows (filled by result_get) */
    double *eig;               /* k */
    /* Eigenvalue estimate: mean over all rows of <x, v_before>^2, v_before being the iterate before
     * the row is applied. In random order v_before is independent of x, so each term estimates
     * v^T (A^T A / n) v <= s1^2 / n; the mean is low by the burn-in, ~ (burn-in rows / n) times the
     * gap. Every row counts once, so heavy or clustered rows anywhere in the stream are included:
     * a mean over only the recent half of the rows (which removes the burn-in) underestimated raw
     * spambase's s1^2/n by 71%, the full mean by 1%. */
    double y2_sum;
    spx_rng rng;
    spx_topeig_oja oja;
};

#endif
