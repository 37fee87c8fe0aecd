/* Oja's rule and AdaOja (k = 1).
 *   v <- normalize(v + eta_t <x, v> x)
 *   AdaOja: eta_t = 1 / b_t, b_t^2 = b_{t-1}^2 + ||g_t||^2, g_t = <x, v> x (Henriksen & Ward 2019).
 *   Oja:    eta_t = eta0 / (m_t (1 + t / t0)^decay), m_t = mean ||x||^2 so far. */
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
    return 0;
}

static void oja_release(spx_topeig *t) { free(t->oja.w); }

/* Rescales w to unit norm with an exactly recomputed norm. A w that is no longer a usable direction
 * (non-finite after extreme rows) restarts from a fresh Gaussian vector rather than poisoning every
 * later result. */
static void oja_renormalise(spx_topeig *t)
{
    spx_topeig_oja *o = &t->oja;
    double s = 0.0;
    for (size_t i = 0; i < t->d; i++)
        s += o->w[i] * o->w[i];
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
static inline double oja_coefficient(spx_topeig *t, double wx, double xx, double xr)
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
static inline int oja_renorm_due(spx_topeig *t)
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

static void oja_update_f64(spx_topeig *t, const double *rows, size_t n)
{
    OJA_UPDATE_BODY(double, f64)
}

static void oja_update_f32(spx_topeig *t, const float *rows, size_t n)
{
    OJA_UPDATE_BODY(float, f32)
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
