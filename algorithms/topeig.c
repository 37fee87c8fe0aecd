#include "topeig.h"

#include "topeig_internal.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Renormalise the lazily normalised Oja iterate this often: it bounds the drift of the norm that is
 * carried by the update formula (one rounding per row) and keeps w far from overflow. */
enum { OJA_RENORM_EVERY = 256 };

void spx_topeig_params_default(spx_topeig_params *p, size_t dim)
{
    memset(p, 0, sizeof *p);
    p->dim = dim;
    p->method = SPX_TOPEIG_ADAOJA;
    p->k = 1;
    p->eta0 = 1.0;
    p->t0 = 1000.0;
    p->decay = 1.0;
    p->b0 = 1e-5;
    p->seed = 1;
}

static int params_valid(const spx_topeig_params *p)
{
    if (p->dim == 0 || p->k == 0 || p->k > p->dim)
        return 0;
    if (p->dim > SIZE_MAX / sizeof(double) / p->k)
        return 0;
    switch (p->method) {
    case SPX_TOPEIG_ADAOJA:
        return p->k == 1 && isfinite(p->b0) && p->b0 > 0.0;
    case SPX_TOPEIG_OJA:
        return p->k == 1 && isfinite(p->eta0) && p->eta0 > 0.0 && isfinite(p->t0) && p->t0 > 0.0 &&
               isfinite(p->decay) && p->decay >= 0.0;
    }
    return 0;
}

static void random_unit(spx_rng *rng, double *w, size_t d, double *norm2)
{
    double s;
    do {
        spx_rng_normal_fill(rng, w, d);
        s = 0.0;
        for (size_t i = 0; i < d; i++)
            s += w[i] * w[i];
    } while (s == 0.0);
    double inv = 1.0 / sqrt(s);
    for (size_t i = 0; i < d; i++)
        w[i] *= inv;
    *norm2 = 1.0;
}

int spx_topeig_create(spx_topeig **out, const spx_topeig_params *p)
{
    if (!out || !p || !params_valid(p))
        return -EINVAL;
    spx_topeig *t = calloc(1, sizeof *t);
    if (!t)
        return -ENOMEM;
    t->p = *p;
    t->d = p->dim;
    t->k = p->k;
    t->vec = calloc(t->k * t->d, sizeof *t->vec);
    t->eig = calloc(t->k, sizeof *t->eig);
    t->oja.w = calloc(t->d, sizeof *t->oja.w);
    if (!t->vec || !t->eig || !t->oja.w) {
        spx_topeig_free(t);
        return -ENOMEM;
    }
    spx_rng_seed(&t->rng, p->seed);
    random_unit(&t->rng, t->oja.w, t->d, &t->oja.w_norm2);
    t->oja.b2 = p->b0 * p->b0;
    *out = t;
    return 0;
}

void spx_topeig_free(spx_topeig *t)
{
    if (!t)
        return;
    free(t->vec);
    free(t->eig);
    free(t->oja.w);
    free(t);
}

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
        random_unit(&t->rng, o->w, t->d, &o->w_norm2);
    } else {
        double inv = 1.0 / sqrt(s);
        for (size_t i = 0; i < t->d; i++)
            o->w[i] *= inv;
        o->w_norm2 = 1.0;
    }
    o->since_renorm = 0;
}

/* One Oja/AdaOja row given wx = <x, w> and xx = ||x||^2. Returns the coefficient c of the update
 * w += c x (0 when the row does not move w). With v = w/||w|| and y = <x, v>:
 *   v' ~ v + eta y x  <=>  w' = w + (eta y ||w||) x,  ||w'||^2 = ||w||^2 (1 + 2 eta y^2 + eta^2 y^2 xx)
 * All terms are non-negative, so the norm never shrinks: w cannot collapse to 0, whatever the rows
 * (all-zero rows give y = 0 and leave w unchanged). */
static double oja_coefficient(spx_topeig *t, double wx, double xx)
{
    spx_topeig_oja *o = &t->oja;
    double nw = sqrt(o->w_norm2);
    double y = wx / nw;
    double y2 = y * y;
    t->rows++;
    t->fro2 += xx;
    t->y2_sum += y2;

    double eta;
    if (t->p.method == SPX_TOPEIG_ADAOJA) {
        o->b2 += y2 * xx;             /* ||g_t||^2 with g_t = y x */
        eta = 1.0 / sqrt(o->b2);
    } else {
        /* Scaled by the mean squared row norm so the trajectory does not depend on the units of
         * the data: eta0 is then a dimensionless step. */
        double mean_sq = t->fro2 / (double)t->rows;
        double base = 1.0 + (double)t->rows / t->p.t0;
        double decay = t->p.decay == 1.0 ? base : t->p.decay == 0.0 ? 1.0 : pow(base, t->p.decay);
        eta = mean_sq > 0.0 ? t->p.eta0 / (mean_sq * decay) : 0.0;
    }
    double c = eta * y * nw;
    o->w_norm2 *= 1.0 + 2.0 * eta * y2 + eta * eta * y2 * xx;
    return c;
}

static void oja_after_row(spx_topeig *t)
{
    if (++t->oja.since_renorm >= OJA_RENORM_EVERY || !(t->oja.w_norm2 < 1e200))
        oja_renormalise(t);
}

static void oja_update_f64(spx_topeig *t, const double *rows, size_t n)
{
    const size_t d = t->d;
    double *w = t->oja.w;
    for (size_t r = 0; r < n; r++) {
        const double *x = rows + r * d;
        double xx;
        double wx = spx_topeig_dot_norm_f64(x, w, d, &xx);
        double c = oja_coefficient(t, wx, xx);
        if (c != 0.0)
            spx_topeig_axpy_f64(w, c, x, d);
        oja_after_row(t);
    }
}

static void oja_update_f32(spx_topeig *t, const float *rows, size_t n)
{
    const size_t d = t->d;
    double *w = t->oja.w;
    for (size_t r = 0; r < n; r++) {
        const float *x = rows + r * d;
        double xx;
        double wx = spx_topeig_dot_norm_f32(x, w, d, &xx);
        double c = oja_coefficient(t, wx, xx);
        if (c != 0.0)
            spx_topeig_axpy_f32(w, c, x, d);
        oja_after_row(t);
    }
}

int spx_topeig_update_f64(spx_topeig *t, const double *rows, size_t n)
{
    if (!t || (!rows && n))
        return -EINVAL;
    oja_update_f64(t, rows, n);
    return 0;
}

int spx_topeig_update_f32(spx_topeig *t, const float *rows, size_t n)
{
    if (!t || (!rows && n))
        return -EINVAL;
    oja_update_f32(t, rows, n);
    return 0;
}

void spx_topeig_result_get(const spx_topeig *t, spx_topeig_result *out)
{
    const size_t d = t->d;
    double s = 0.0;
    for (size_t i = 0; i < d; i++)
        s += t->oja.w[i] * t->oja.w[i];
    double inv = 1.0 / sqrt(s);
    for (size_t i = 0; i < d; i++)
        t->vec[i] = t->oja.w[i] * inv;
    t->eig[0] = t->rows ? t->y2_sum / (double)t->rows : 0.0;

    memset(out, 0, sizeof *out);
    out->vector = t->vec;
    out->eigenvalues = t->eig;
    out->k = t->k;
    out->dim = d;
    out->rows_seen = t->rows;
    out->frobenius = sqrt(t->fro2);
}
