/* Oja's rule and AdaOja (k = 1).
 *   v <- normalize(v + eta_t <x, v> x)
 *   AdaOja: eta_t = 1 / b_t, b_t^2 = b_{t-1}^2 + ||g_t||^2, g_t = <x, v> x (Henriksen & Ward 2019).
 *   Oja:    eta_t = eta0 / (m_t (1 + t / t0)^decay), m_t = mean ||x||^2 so far.
 * With mini-batches of B rows (params.batch) every row of a batch is read against the iterate v of
 * the batch's start:
 *   AdaOja: G = (1/B) sum_j <x_j, v> x_j, b^2 += ||G||^2, v <- normalize(v + G / b)
 *           (Henriksen & Ward's algorithm with batch size B; B = 1 is the rule above);
 *   Oja:    v <- normalize(v + sum_j eta_j <x_j, v> x_j), eta_j as above for each row. */
#include "topeig_internal.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static int oja_init(spx_topeig *t)
{
    spx_topeig_oja *o = &t->oja;
    o->kern = spx_topeig_oja_kernels_get(1);
    /* Cache-line aligned: the AVX-512 kernels load and store w 64 bytes at a time. */
    size_t bytes = (t->d * sizeof *o->w + 63) & ~(size_t)63;
    o->w = aligned_alloc(64, bytes);
    if (!o->w)
        return -ENOMEM;
    memset(o->w, 0, bytes);
    spx_topeig_random_unit(t, o->w);
    o->w_norm2 = 1.0;
    o->b2 = t->p.b0 * t->p.b0;
    if (t->p.batch > 1) {
        o->h = aligned_alloc(64, bytes);
        if (t->d <= SPX_TOPEIG_WIDE_MAX_DIM) {
            o->wide = aligned_alloc(64, 4 * SPX_TOPEIG_WIDE_STRIDE(t->d) * sizeof *o->wide);
            if (!o->wide)
                return -ENOMEM;
        }
        if (!o->h)
            return -ENOMEM;
        memset(o->h, 0, bytes);
    }
    return 0;
}

static void oja_release(spx_topeig *t)
{
    free(t->oja.w);
    free(t->oja.h);
    free(t->oja.wide);
}

/* Rescales w to unit norm with an exactly recomputed norm. A w that is no longer a usable direction
 * (non-finite after extreme rows) restarts from a fresh Gaussian vector rather than poisoning every
 * later result. */
static void oja_renormalise(spx_topeig *t)
{
    spx_topeig_oja *o = &t->oja;
    double s;
    spx_topeig_dot_norm_f64(o->w, o->w, t->d, &s);
    if (!(s > 0.0) || !isfinite(s)) {
        spx_topeig_random_unit(t, o->w);
    } else {
        double inv = 1.0 / sqrt(s);
        for (size_t i = 0; i < t->d; i++)
            o->w[i] *= inv;
    }
    o->w_norm2 = 1.0;
    o->since_renorm = 0;
}

/* One row given wx = <x, w>, xx = ||x||^2 and xr = <x, r> (ordering check). Returns the coefficient c of the update w += c x
 * (0 when the row does not move w). With v = w/||w|| and y = <x, v>:
 *   v' ~ v + eta y x  <=>  w' = w + (eta y ||w||) x = w + (eta wx) x = w + c x,
 *   ||w'||^2 = ||w||^2 + 2 c wx + c^2 xx,   2 c wx = 2 eta wx^2 >= 0,
 * so the norm never shrinks: w cannot collapse to 0, whatever the rows (all-zero rows give wx = 0
 * and leave w unchanged). c comes out of wx without a square root of ||w||^2, and the norm's
 * update carries no division from row to row (the former ||w||^2 (1 + 2 eta y^2 + eta^2 y^2 xx)
 * did, through y^2 = wx^2 / ||w||^2: ~2 ns more per f32 row at d = 8, 15 vs 13 ns). */
static inline __attribute__((always_inline)) double oja_coefficient(spx_topeig *t, double wx,
                                                                    double xx, double xr)
{
    spx_topeig_oja *o = &t->oja;
    double wx2 = wx * wx;
    double y2 = wx2 / o->w_norm2; /* y^2 */
    spx_topeig_row_seen(t, xx, xr);
    o->y2_sum += y2;

    double c;
    if (t->p.method == SPX_TOPEIG_ADAOJA) {
        /* ||g||^2 = y^2 xx, with xx / ||w||^2 formed while wx is still being completed. */
        o->b2 += wx2 * (xx / o->w_norm2);
        c = wx / sqrt(o->b2);
    } else {
        double base = 1.0 + (double)t->rows / t->p.t0;
        double decay = t->p.decay == 1.0 ? base : t->p.decay == 0.0 ? 1.0 : pow(base, t->p.decay);
        /* eta = eta0 / (mean ||x||^2 decay) */
        double den = t->fro2 * decay;
        c = den > 0.0 ? t->p.eta0 * (double)t->rows / den * wx : 0.0;
    }
    o->w_norm2 += c * (2.0 * wx + c * xx);
    return c;
}

/* Counts the row; whether w must be renormalised after its update. */
static inline __attribute__((always_inline)) int oja_renorm_due(spx_topeig *t)
{
    return ++t->oja.since_renorm >= SPX_TOPEIG_OJA_RENORM_EVERY || !(t->oja.w_norm2 < 1e200);
}

/* Rows are applied with the update of each row deferred into the next row's first read (the fused
 * axpy-dot kernels): the pending update is flushed on its own before a renormalisation and at the
 * end of the call, so the arithmetic, and with it the result, is that of one dot and one axpy per
 * row whatever the batching. */
#define OJA_UPDATE_BODY(T, SFX)                                                                  \
    const size_t d = t->d;                                                                       \
    double *w = t->oja.w;                                                                        \
    const spx_topeig_oja_kernels *kern = t->oja.kern;                                            \
    const T *xp = NULL; /* the row whose update w += cp xp is pending */                         \
    double cp = 0.0;                                                                             \
    for (size_t r = 0; r < n; r++) {                                                             \
        const T *x = rows + r * d;                                                               \
        double xx, xr = NAN; /* the ordering check samples every 4th row along r */              \
        double wx;                                                                               \
        const int along = (t->rows & 3) == 0;                                                    \
        if (xp)                                                                                  \
            wx = along ? kern->axpy_dot2_norm_##SFX(w, cp, xp, x, t->order.ref, d, &xr, &xx) \
                       : kern->axpy_dot_norm_##SFX(w, cp, xp, x, d, &xx);                   \
        else                                                                                     \
            wx = along ? kern->dot2_norm_##SFX(x, w, t->order.ref, d, &xr, &xx)             \
                       : kern->dot_norm_##SFX(x, w, d, &xx);                                \
        double c = oja_coefficient(t, wx, xx, xr);                                               \
        xp = c != 0.0 ? x : NULL;                                                                \
        cp = c;                                                                                  \
        if (oja_renorm_due(t)) {                                                                 \
            if (xp)                                                                              \
                spx_topeig_axpy_##SFX(w, cp, xp, d);                                             \
            xp = NULL;                                                                           \
            oja_renormalise(t);                                                                  \
        }                                                                                        \
    }                                                                                            \
    if (xp)                                                                                      \
        spx_topeig_axpy_##SFX(w, cp, xp, d);

/* Mini-batch row: the bookkeeping, and the coefficient of x in the batch's sum h. w stays
 * unnormalised as in the row-by-row rule: with y = <x, v> = wx / ||w||, ||w|| y = wx, so
 *   Oja:    w' = w + sum_j eta_j wx_j x_j  (coefficient eta_j wx_j),
 *   AdaOja: h = sum_j wx_j x_j = B ||w|| G, w' = w + ||w|| G / b = w + h / (B b).
 * inv_n2 = 1 / ||w||^2 of the batch's iterate. */
static inline __attribute__((always_inline)) double batch_coefficient(spx_topeig *t, double wx,
                                                                      double xx, double xr,
                                                                      double inv_n2)
{
    spx_topeig_row_seen(t, xx, xr);
    t->oja.y2_sum += wx * wx * inv_n2;
    if (t->p.method == SPX_TOPEIG_ADAOJA)
        return wx;
    /* eta = eta0 / (m (1 + rows / t0)^decay), m = fro2 / rows; with the default decay 1 as
     * eta0 rows t0 / (fro2 (t0 + rows)): one division per row instead of two. */
    const double rows = (double)t->rows, t0 = t->p.t0;
    double num = t->p.eta0 * rows, den = t->fro2;
    if (t->p.decay == 1.0) {
        num *= t0;
        den *= t0 + rows;
    } else if (t->p.decay != 0.0) {
        den *= pow(1.0 + rows / t0, t->p.decay);
    }
    return den > 0.0 ? num * wx / den : 0.0;
}

/* The batch's end: w += (step) h and h = 0 in one pass, which also gives the new ||w||^2;
 * renormalised every SPX_TOPEIG_OJA_RENORM_EVERY rows as in the row-by-row rule. */
static void batch_end(spx_topeig *t)
{
    spx_topeig_oja *o = &t->oja;
    double a = 1.0;
    if (t->p.method == SPX_TOPEIG_ADAOJA) {
        const double B = (double)t->p.batch;
        double hh;
        spx_topeig_dot_norm_f64(o->h, o->h, t->d, &hh);
        o->b2 += hh / (B * B * o->w_norm2); /* ||G||^2 */
        a = 1.0 / (B * sqrt(o->b2));
    }
    o->w_norm2 = spx_topeig_apply_batch(o->w, a, o->h, t->d);
    o->since_renorm += t->p.batch;
    if (o->since_renorm >= SPX_TOPEIG_OJA_RENORM_EVERY || !(o->w_norm2 > 1e-200) ||
        !(o->w_norm2 < 1e200))
        oja_renormalise(t); /* a w that is no longer usable restarts from a fresh direction */
}

/* The f32 four-row kernels pass the rows widened once between them. */
#define OJA_WIDE_f32 , o->wide
#define OJA_WIDE_f64

/* Rows four at a time (dots4, axpy4) where four start at a multiple of 4 (the row the ordering
 * check samples is then the first) inside one batch and one call; single rows elsewhere. Both give
 * the same bits, so results do not depend on how rows are split into calls. */
#define OJA_BATCH_BODY(T, SFX)                                                                   \
    const size_t d = t->d;                                                                       \
    const uint64_t B = t->p.batch;                                                               \
    spx_topeig_oja *o = &t->oja;                                                                 \
    const spx_topeig_oja_kernels *kern = o->kern;                                                \
    uint64_t left = B - t->rows % B; /* rows to the batch's end (one division per call) */       \
    double inv_n2 = 1.0 / o->w_norm2;                                                            \
    size_t r = 0;                                                                                \
    while (r < n) {                                                                              \
        const T *x = rows + r * d;                                                               \
        if ((t->rows & 3) == 0 && left >= 4 && n - r >= 4) {                                     \
            double y[4], xx[4], xr, c[4];                                                        \
            kern->dots4_##SFX(x, o->w, t->order.ref, d, y, xx, &xr OJA_WIDE_##SFX);              \
            c[0] = batch_coefficient(t, y[0], xx[0], xr, inv_n2);                                \
            c[1] = batch_coefficient(t, y[1], xx[1], NAN, inv_n2);                               \
            c[2] = batch_coefficient(t, y[2], xx[2], NAN, inv_n2);                               \
            c[3] = batch_coefficient(t, y[3], xx[3], NAN, inv_n2);                               \
            kern->axpy4_##SFX(o->h, c, x OJA_WIDE_##SFX, d);                                     \
            r += 4;                                                                              \
            left -= 4;                                                                           \
        } else {                                                                                 \
            double xx, xr = NAN;                                                                 \
            double wx = (t->rows & 3) == 0                                                       \
                            ? kern->dot2_norm_##SFX(x, o->w, t->order.ref, d, &xr, &xx)          \
                            : kern->dot_norm_##SFX(x, o->w, d, &xx);                             \
            spx_topeig_axpy_##SFX(o->h, batch_coefficient(t, wx, xx, xr, inv_n2), x, d);         \
            r++;                                                                                 \
            left--;                                                                              \
        }                                                                                        \
        if (left == 0) {                                                                         \
            batch_end(t);                                                                        \
            left = B;                                                                            \
            inv_n2 = 1.0 / o->w_norm2;                                                           \
        }                                                                                        \
    }

static void oja_update_f64(spx_topeig *t, const double *rows, size_t n)
{
    if (t->p.batch > 1) {
        OJA_BATCH_BODY(double, f64)
    } else {
        OJA_UPDATE_BODY(double, f64)
    }
}

static void oja_update_f32(spx_topeig *t, const float *rows, size_t n)
{
    if (t->p.batch > 1) {
        OJA_BATCH_BODY(float, f32)
    } else {
        OJA_UPDATE_BODY(float, f32)
    }
}

static void oja_result(const spx_topeig *t, spx_topeig_result *out)
{
    const size_t d = t->d;
    double s = 0.0;
    for (size_t i = 0; i < d; i++)
        s += t->oja.w[i] * t->oja.w[i];
    double inv = 1.0 / sqrt(s);
    for (size_t i = 0; i < d; i++)
        t->vec[i] = t->oja.w[i] * inv;
    t->eig[0] = t->rows ? t->oja.y2_sum / (double)t->rows : 0.0;
    (void)out;
}

const spx_topeig_method_ops spx_topeig_oja_ops = {
    .init = oja_init,
    .release = oja_release,
    .update_f64 = oja_update_f64,
    .update_f32 = oja_update_f32,
    .result = oja_result,
};
