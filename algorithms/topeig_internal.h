/* Internals shared by the top-eigenvector methods (topeig*.c). Not part of the public API. */
#ifndef SPX_TOPEIG_INTERNAL_H
#define SPX_TOPEIG_INTERNAL_H

#include "rng.h"
#include "topeig.h"

#include <lapacke.h>
#include <math.h>

#include <stdint.h>
#include <string.h>

/* The per-row kernels (topeig_kernels.c): compiled for AVX2 and for the x86-64 baseline, chosen at
 * load time; both versions do the same arithmetic in the same order (no FMA contraction), so
 * results are identical on every machine and independent of how rows are batched. */

/* Returns <x, w>; *xx = ||x||^2. One read of x. */
double spx_topeig_dot_norm_f64(const double *x, const double *w, size_t d, double *xx);
double spx_topeig_dot_norm_f32(const float *x, const double *w, size_t d, double *xx);
/* Returns <x, w>; *xr = <x, r>, *xx = ||x||^2, in one read of x. */
double spx_topeig_dot2_norm_f64(const double *x, const double *w, const double *r, size_t d,
                                double *xr, double *xx);
double spx_topeig_dot2_norm_f32(const float *x, const double *w, const double *r, size_t d,
                                double *xr, double *xx);
/* w += c xp, then as spx_topeig_dot(2)_norm_* on x with the updated w, in one pass over w. */
double spx_topeig_axpy_dot_norm_f64(double *w, double c, const double *xp, const double *x,
                                    size_t d, double *xx);
double spx_topeig_axpy_dot_norm_f32(double *w, double c, const float *xp, const float *x, size_t d,
                                    double *xx);
double spx_topeig_axpy_dot2_norm_f64(double *w, double c, const double *xp, const double *x,
                                     const double *r, size_t d, double *xr, double *xx);
double spx_topeig_axpy_dot2_norm_f32(double *w, double c, const float *xp, const float *x,
                                     const double *r, size_t d, double *xr, double *xx);
/* The kernels Oja's update calls, as one set: the ones above, or their AVX-512 versions (same
 * results bit for bit, checked by test_topeig). allow_avx512 = 0 forces the portable set. */
typedef struct spx_topeig_oja_kernels {
    double (*dot_norm_f64)(const double *x, const double *w, size_t d, double *xx);
    double (*dot_norm_f32)(const float *x, const double *w, size_t d, double *xx);
    double (*dot2_norm_f64)(const double *x, const double *w, const double *r, size_t d,
                            double *xr, double *xx);
    double (*dot2_norm_f32)(const float *x, const double *w, const double *r, size_t d,
                            double *xr, double *xx);
    double (*axpy_dot_norm_f64)(double *w, double c, const double *xp, const double *x, size_t d,
                                double *xx);
    double (*axpy_dot_norm_f32)(double *w, double c, const float *xp, const float *x, size_t d,
                                double *xx);
    double (*axpy_dot2_norm_f64)(double *w, double c, const double *xp, const double *x,
                                 const double *r, size_t d, double *xr, double *xx);
    double (*axpy_dot2_norm_f32)(double *w, double c, const float *xp, const float *x,
                                 const double *r, size_t d, double *xr, double *xx);
    /* Mini-batches: four consecutive rows x (4 x d, row-major) against the same w in one pass:
     * y[j] = <x_j, w>, xx[j] = ||x_j||^2, bit for bit as dot_norm on each row, and
     * *xr = <x_0, r> as dot2_norm. The f32 version may also leave the rows widened to double in
     * `wide` (4 x SPX_TOPEIG_WIDE_STRIDE(d), 64-byte aligned; or NULL: not wanted) for the
     * axpy4_f32 that follows. */
    void (*dots4_f64)(const double *x, const double *w, const double *r, size_t d, double y[4],
                      double xx[4], double *xr);
    void (*dots4_f32)(const float *x, const double *w, const double *r, size_t d, double y[4],
                      double xx[4], double *xr, double *wide);
    /* h += c[0] x_0 + c[1] x_1 + c[2] x_2 + c[3] x_3, element by element in that order: the same
     * bits as four spx_topeig_axpy_* calls. axpy4_f32 reads `wide` where its set's dots4_f32
     * filled it (call it right after dots4_f32 on the same rows), else x. */
    void (*axpy4_f64)(double *h, const double c[4], const double *x, size_t d);
    void (*axpy4_f32)(double *h, const double c[4], const float *x, const double *wide, size_t d);
} spx_topeig_oja_kernels;
const spx_topeig_oja_kernels *spx_topeig_oja_kernels_get(int allow_avx512);
/* Row stride of the widened rows: d rounded up to whole 64-byte lines. Widened copies are used up
 * to this dimension (four rows, 16 KiB: they must stay in L1). */
#define SPX_TOPEIG_WIDE_STRIDE(d) (((d) + 7) & ~(size_t)7)
#define SPX_TOPEIG_WIDE_MAX_DIM 512
/* For p <= 4 columns (column-major d x p): y = Z^T x, and S += x y^T. */
void spx_topeig_project_small(const double *x, const double *Z, size_t d, size_t p, double *y);
void spx_topeig_rank_update_small(double *S, const double *x, const double *y, size_t d, size_t p);
/* y = Z^T x, *xr = <x, r>, *xx = ||x||^2 in one read of x (p <= 4). */
void spx_topeig_project_small_ex(const double *x, const double *Z, const double *r, size_t d,
                                 size_t p, double *y, double *xr, double *xx);
void spx_topeig_project_small_ex_f32(const float *x, const double *Z, const double *r, size_t d,
                                     size_t p, double *y, double *xr, double *xx);
void spx_topeig_rank_update_small_f32(double *S, const float *x, const double *y, size_t d,
                                      size_t p);
/* w += c x */
void spx_topeig_axpy_f64(double *w, double c, const double *x, size_t d);
void spx_topeig_axpy_f32(double *w, double c, const float *x, size_t d);
/* Mini-batch end: w += a h and h = 0 in one pass; returns the new ||w||^2 (summed as dot_norm). */
double spx_topeig_apply_batch(double *w, double a, double *h, size_t d);

/* Oja: renormalise the lazily normalised iterate this often: it bounds the drift of the norm
 * carried by the update formula (one rounding per row) and keeps w far from overflow. */
#define SPX_TOPEIG_OJA_RENORM_EVERY 256

/* Oja / AdaOja state (k = 1). The iterate is kept unnormalised, v = w / ||w||: the new norm follows
 * from the two dot products already computed for the row, so a row costs one fused dot+norm pass
 * and one axpy pass, with no third pass to rescale w. */
typedef struct spx_topeig_oja {
    const spx_topeig_oja_kernels *kern;
    double *w;
    double w_norm2;
    double b2;                 /* AdaOja: b_t^2 */
    uint64_t since_renorm;
    /* Eigenvalue estimate: mean over all rows of <x, v_before>^2, v_before being the iterate before
     * the row is applied. In random order v_before is independent of x, so each term estimates
     * v^T (A^T A / n) v <= s1^2 / n; the mean is low by the burn-in, ~ (burn-in rows / n) times the
     * gap. Every row counts once, so heavy or clustered rows anywhere in the stream are included:
     * a mean over only the recent half of the rows (which removes the burn-in) underestimated raw
     * spambase's s1^2/n by 71%, the full mean by 1%. */
    double y2_sum;
    /* Mini-batches (batch > 1): the sum of the current batch's steps, applied at its end. */
    double *h;
    double *wide;              /* scratch: four f32 rows widened (see dots4_f32); NULL for large d */
} spx_topeig_oja;

/* Block power state (POWER and RANDORDER). Matrices are column-major: Z is d x p with column j at
 * Z + j d. Rows arrive in groups (row-major m x d, i.e. column-major d x m), so a group costs two
 * GEMMs: Y = X Z, S += X^T Y. */
typedef struct spx_topeig_block {
    size_t p;                  /* iterate columns, k + oversample */
    size_t group;              /* rows per GEMM group */
    double *Z, *S;             /* d x p: iterate, accumulated A_b^T A_b Z */
    double *T;                 /* p x p: accumulated Z^T A_b^T A_b Z = Y^T Y */
    double *Y;                 /* group x p */
    double *stage;             /* group x d: rows gathered across calls, f32 rows widened */
    double *gxx, *gtau;        /* group: each row's ||x||^2 and the heavy threshold at its arrival */
    size_t staged;
    uint64_t block_rows;       /* stream rows in the current block (heavy ones included) */
    uint64_t block_light;      /* light rows accumulated into S, T for this block */
    uint64_t block_target, block_first;
    uint64_t blocks;           /* completed blocks */
    double *W, *ritz, *tau, *work, *pp; /* small workspaces (p x p, p, p, lwork, p x p) */
    size_t lwork;
    double *V;                 /* d x k: result vectors of the last completed block */
    double *theta;             /* k + 1 per-row Ritz values of the last completed block */
    double last_gap;
    /* RANDORDER: the recent-half average of the block results. The window holds the blocks since
     * the last restart and the segment before it; restarts happen at block counts 2, 4, 8, ... */
    double *avg_cur, *avg_prev;        /* d x k sums of sign-aligned result vectors */
    double *th_cur, *th_prev;          /* k + 1 sums of Ritz values */
    uint64_t n_cur, n_prev, next_restart;
    /* RANDORDER: heavy rows, kept verbatim. */
    double *heavy;             /* heavy_max x d row-major */
    double *heavy_norm2;       /* heavy_max */
    size_t n_heavy, heavy_max;
    double *HZ;                /* heavy_max x p */
    double log_term;           /* d log2(2d) */
} spx_topeig_block;

/* Frequent Directions: a 2l-row buffer compressed to l rows whenever it fills. */
typedef struct spx_topeig_fd {
    size_t l, cap, filled;
    double *B, *B2;            /* cap x d row-major; B2 receives the compressed rows */
    double *G, *mu;            /* cap x cap Gram matrix / eigenvectors, cap eigenvalues */
    double *C;                 /* cap x cap: scaled rotation (compress) or k x cap (result) */
    double *work;
    lapack_int *iwork;
    size_t lwork, liwork;
    double shrink;             /* sum of the shrinkages delta */
    int exact;                 /* l == d: the sketch would never shrink; keep A^T A itself */
    double *cov;               /* exact: d x d upper triangle of A^T A (rows already folded in) */
} spx_topeig_fd;

/* Ordering check. Two per-row quantities are watched: the row energy ||x||^2 and the energy along a
 * reference direction, <x, r>^2, with r the estimate frozen at checkpoints (rows = 4, 8, 16, ...
 * times the check block; the statistics of that channel restart there). For each check block the
 * block mean is compared with the running mean and spread of all earlier rows of the channel
 * (values winsorised at 20x the running mean so one huge row cannot swing a block): in random order
 * the rows are exchangeable and |z| stays within a few units. An alarm needs |z| > order_z in three
 * consecutive checks with the same sign, which one outlying block cannot produce. The reference
 * channel catches runs of rows aligned with one direction that the energy alone hides (the spike
 * adds little energy at large d). */
typedef struct spx_topeig_order_channel {
    double sum, sumsq;         /* of the current block */
    uint64_t cnt;              /* samples in the current block */
    uint64_t n;                /* rows in the running statistics */
    double mean, m2;
    int streak;
} spx_topeig_order_channel;

typedef struct spx_topeig_order {
    size_t block;
    size_t in_block;
    spx_topeig_order_channel energy, along;
    double *ref;               /* d: the reference direction r */
    uint64_t next_checkpoint;
    int alarm;
    const char *reason;
} spx_topeig_order;

struct spx_topeig {
    spx_topeig_params p;
    size_t d, k;
    uint64_t rows;
    double fro2;
    double *vec;               /* k x d, the result rows (filled by result_get) */
    double *eig;               /* k */
    double *mark;              /* k x d, the estimate at the last mark */
    int marked;
    uint64_t mark_rows;
    spx_rng rng;
    spx_topeig_order order;
    spx_topeig_oja oja;
    spx_topeig_block blk;
    spx_topeig_fd fd;
};

/* What the core needs from each method. result() fills t->vec and t->eig and the method's fields
 * of out (gap, heavy_rows, shrink). */
typedef struct spx_topeig_method_ops {
    int (*init)(spx_topeig *t);
    void (*release)(spx_topeig *t);
    void (*update_f64)(spx_topeig *t, const double *rows, size_t n);
    void (*update_f32)(spx_topeig *t, const float *rows, size_t n);
    void (*result)(const spx_topeig *t, spx_topeig_result *out);
} spx_topeig_method_ops;

extern const spx_topeig_method_ops spx_topeig_oja_ops;
extern const spx_topeig_method_ops spx_topeig_power_ops;
extern const spx_topeig_method_ops spx_topeig_fd_ops;

/* Why the ordering alarm was raised, [0] = "" (not raised) (topeig.c). */
#define SPX_TOPEIG_ORDER_REASONS 5
extern const char *const spx_topeig_order_reasons[SPX_TOPEIG_ORDER_REASONS];

/* Ends an ordering-check block (topeig.c). */
void spx_topeig_order_block_end(spx_topeig *t);

static inline void spx_topeig_order_add(spx_topeig_order_channel *c, double v)
{
    double cap = c->n ? 20.0 * c->mean : v;
    double e = v < cap ? v : cap;
    c->sum += e;
    c->sumsq += e * e;
    c->cnt++;
}

/* Bookkeeping every method does per row: row count, Frobenius norm, ordering check. xx = ||x||^2,
 * xr = <x, t->order.ref>, or NaN when the row is not sampled along r. */
static inline void spx_topeig_row_seen(spx_topeig *t, double xx, double xr)
{
    t->rows++;
    t->fro2 += xx;
    spx_topeig_order *o = &t->order;
    spx_topeig_order_add(&o->energy, xx);
    if (!isnan(xr))
        spx_topeig_order_add(&o->along, xr * xr);
    if (++o->in_block == o->block)
        spx_topeig_order_block_end(t);
}

/* <x, r> for the ordering check. */
static inline double spx_topeig_ref_dot(const spx_topeig *t, const double *x)
{
    double xx;
    return spx_topeig_dot_norm_f64(x, t->order.ref, t->d, &xx);
}

static inline double spx_topeig_ref_dot_f32(const spx_topeig *t, const float *x)
{
    double xx;
    return spx_topeig_dot_norm_f32(x, t->order.ref, t->d, &xx);
}

/* Fills x (d) with a Gaussian unit vector from the estimator's generator. */
void spx_topeig_random_unit(spx_topeig *t, double *x);

#endif
