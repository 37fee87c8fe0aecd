#include "forecast_rls.h"

#include <cblas.h>
#include <errno.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static void set_prior(spx_forecast_rls *r)
{
    memset(r->p, 0, r->k * r->k * sizeof *r->p);
    for (size_t i = 0; i < r->k; i++)
        r->p[i * r->k + i] = 1.0 / r->delta;
}

int spx_forecast_rls_init(spx_forecast_rls *r, size_t k, size_t m, size_t max_batch, double forget,
                          double delta, size_t resym_every)
{
    if (!r)
        return -EINVAL;
    memset(r, 0, sizeof *r);
    if (k == 0 || m == 0 || max_batch == 0 || !(forget > 0.0 && forget <= 1.0) || !(delta > 0.0) ||
        !isfinite(delta) || (forget < 1.0 && resym_every == 0))
        return -EINVAL;
    r->k = k;
    r->m = m;
    r->max_batch = max_batch;
    r->forget = forget;
    r->delta = delta;
    r->interval = resym_every;
    if (forget < 1.0) {
        /* forget at most half the information between checkpoints */
        const double half = floor(log(0.5) / log(forget));
        if (half < (double)r->interval)
            r->interval = half < 1.0 ? 1 : (size_t)half;
    }
    r->p = malloc(k * k * sizeof *r->p);
    r->w = calloc(k * m, sizeof *r->w);
    r->g = malloc(k * max_batch * sizeof *r->g);
    r->s = malloc(max_batch * max_batch * sizeof *r->s);
    r->e = malloc(max_batch * m * sizeof *r->e);
    r->a = malloc(k * k * sizeof *r->a);
    r->t = malloc(k * k * sizeof *r->t);
    r->wt = malloc(k * m * sizeof *r->wt);
    if (!r->p || !r->w || !r->g || !r->s || !r->e || !r->a || !r->t || !r->wt) {
        spx_forecast_rls_free(r);
        return -ENOMEM;
    }
    set_prior(r);
    return 0;
}

void spx_forecast_rls_free(spx_forecast_rls *r)
{
    if (!r)
        return;
    free(r->p);
    free(r->w);
    free(r->g);
    free(r->s);
    free(r->e);
    free(r->a);
    free(r->t);
    free(r->wt);
    memset(r, 0, sizeof *r);
}

void spx_forecast_rls_reset(spx_forecast_rls *r)
{
    set_prior(r);
    memset(r->w, 0, r->k * r->m * sizeof *r->w);
    r->since = 0;
}

void spx_forecast_rls_symmetrize(spx_forecast_rls *r)
{
    const size_t k = r->k;
    for (size_t i = 0; i < k; i++)
        for (size_t j = i + 1; j < k; j++)
            r->p[j * k + i] = r->p[i * k + j];
}

int spx_forecast_rls_set_gram(spx_forecast_rls *r, double *gram, double *xty)
{
    const lapack_int k = (lapack_int)r->k, m = (lapack_int)r->m;
    if (LAPACKE_dpotrf(LAPACK_ROW_MAJOR, 'U', k, gram, k) != 0)
        return -EDOM;
    if (LAPACKE_dpotrs(LAPACK_ROW_MAJOR, 'U', k, m, gram, k, xty, m) != 0)
        return -EDOM;
    if (LAPACKE_dpotri(LAPACK_ROW_MAJOR, 'U', k, gram, k) != 0)
        return -EDOM;
    memcpy(r->w, xty, r->k * r->m * sizeof *r->w);
    memcpy(r->p, gram, r->k * r->k * sizeof *r->p);
    spx_forecast_rls_symmetrize(r);
    r->since = 0;
    return 0;
}

void spx_forecast_rls_checkpoint(spx_forecast_rls *r)
{
    const size_t k = r->k, m = r->m;
    double *p = r->p;
    spx_forecast_rls_symmetrize(r);
    if (r->forget < 1.0 && r->since > 0) {
        /* give back the prior forgotten since the last checkpoint */
        const double eps = r->delta * (1.0 - pow(r->forget, (double)r->since));
        double *a = r->a, *t = r->t;
        for (size_t i = 0; i < k * k; i++)
            a[i] = eps * p[i];
        for (size_t i = 0; i < k; i++)
            a[i * k + i] += 1.0;
        memcpy(t, p, k * k * sizeof *t);
        if (LAPACKE_dpotrf(LAPACK_ROW_MAJOR, 'U', (lapack_int)k, a, (lapack_int)k) == 0 &&
            LAPACKE_dpotrs(LAPACK_ROW_MAJOR, 'U', (lapack_int)k, (lapack_int)k, a, (lapack_int)k, t,
                           (lapack_int)k) == 0) {
            /* (I + eps P)^-1 P is symmetric in exact arithmetic: average away the rounding */
            for (size_t i = 0; i < k; i++)
                for (size_t j = i; j < k; j++)
                    p[i * k + j] = p[j * k + i] = 0.5 * (t[i * k + j] + t[j * k + i]);
            /* W <- W - eps P_new W */
            cblas_dsymm(CblasRowMajor, CblasLeft, CblasUpper, (int)k, (int)m, 1.0, p, (int)k, r->w,
                        (int)m, 0.0, r->wt, (int)m);
            cblas_daxpy((int)(k * m), -eps, r->wt, 1, r->w, 1);
        }
    }
    r->since = 0;
    /* health: fall back to the prior if P lost positivity or finiteness (W is kept: it is still
     * the best estimate there is) */
    for (size_t i = 0; i < k; i++) {
        const double d = p[i * k + i];
        if (!(d > 0.0) || !isfinite(d)) {
            set_prior(r);
            r->resets++;
            return;
        }
    }
}

int spx_forecast_rls_update(spx_forecast_rls *r, const double *x, const double *y, size_t b)
{
    if (b == 0 || b > r->max_batch)
        return -EINVAL;
    const size_t k = r->k, m = r->m;
    const double lam = r->forget;
    double *gt = r->g; /* b x k: G^T = X P, later V^T */
    double *s = r->s;  /* b x b */
    double *e = r->e;  /* b x m */

    cblas_dsymm(CblasRowMajor, CblasRight, CblasUpper, (int)b, (int)k, 1.0, r->p, (int)k, x, (int)k,
                0.0, gt, (int)k);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)b, (int)b, (int)k, 1.0, x, (int)k, gt,
                (int)k, 0.0, s, (int)b);
    for (size_t i = 0; i < b; i++)
        s[i * b + i] += lam;
    if (LAPACKE_dpotrf(LAPACK_ROW_MAJOR, 'U', (lapack_int)b, s, (lapack_int)b) != 0) {
        set_prior(r);
        r->resets++;
        return -EDOM;
    }
    memcpy(e, y, b * m * sizeof *e);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)b, (int)m, (int)k, -1.0, x, (int)k,
                r->w, (int)m, 1.0, e, (int)m);
    /* V^T = U^-T G^T and F = U^-T E; then K E = V F and K G^T = V V^T. */
    cblas_dtrsm(CblasRowMajor, CblasLeft, CblasUpper, CblasTrans, CblasNonUnit, (int)b, (int)k, 1.0,
                s, (int)b, gt, (int)k);
    cblas_dtrsm(CblasRowMajor, CblasLeft, CblasUpper, CblasTrans, CblasNonUnit, (int)b, (int)m, 1.0,
                s, (int)b, e, (int)m);
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)k, (int)m, (int)b, 1.0, gt, (int)k, e,
                (int)m, 1.0, r->w, (int)m);
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)k, (int)b, -1.0 / lam, gt, (int)k,
                1.0 / lam, r->p, (int)k);
    r->updates++;
    r->since++;
    if (r->interval && r->since >= r->interval)
        spx_forecast_rls_checkpoint(r);
    return 0;
}

void spx_forecast_rls_predict(const spx_forecast_rls *r, const double *x, size_t b, double *yhat)
{
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)b, (int)r->m, (int)r->k, 1.0, x,
                (int)r->k, r->w, (int)r->m, 0.0, yhat, (int)r->m);
}

void spx_forecast_rls_rotate(spx_forecast_rls *r, const double *rot, double *work)
{
    const int k = (int)r->k, m = (int)r->m;
    double *t = work; /* k x max(k, m) is not needed: W is rotated in m-column strips below */
    spx_forecast_rls_symmetrize(r);
    /* P <- R P R^T */
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, k, k, k, 1.0, rot, k, r->p, k, 0.0, t, k);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, k, k, k, 1.0, t, k, rot, k, 0.0, r->p, k);
    spx_forecast_rls_symmetrize(r);
    /* W <- R W, one k x k block of columns at a time so work stays 2 k^2. */
    double *col = work + (size_t)k * (size_t)k;
    for (int j0 = 0; j0 < m; j0 += k) {
        const int nb = (m - j0 < k) ? m - j0 : k;
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, k, nb, k, 1.0, rot, k, r->w + j0, m,
                    0.0, col, nb);
        for (int i = 0; i < k; i++)
            memcpy(r->w + (size_t)i * (size_t)m + (size_t)j0, col + (size_t)i * (size_t)nb,
                   (size_t)nb * sizeof *col);
    }
}

/* ---- bank ---- */

static void bank_select(spx_forecast_rls_bank *b, size_t i)
{
    spx_forecast_rls *r = &b->cur;
    r->p = b->p + i * r->k * r->k;
    r->w = b->w + i * r->k * r->m;
    r->since = b->counters[3 * i];
    r->updates = b->counters[3 * i + 1];
    r->resets = b->counters[3 * i + 2];
}

static void bank_store(spx_forecast_rls_bank *b, size_t i)
{
    b->counters[3 * i] = b->cur.since;
    b->counters[3 * i + 1] = b->cur.updates;
    b->counters[3 * i + 2] = b->cur.resets;
}

int spx_forecast_rls_bank_init(spx_forecast_rls_bank *b, size_t n, size_t k, size_t m,
                               size_t max_batch, double forget, double delta, size_t resym_every)
{
    if (!b)
        return -EINVAL;
    memset(b, 0, sizeof *b);
    if (n == 0)
        return -EINVAL;
    int rc = spx_forecast_rls_init(&b->cur, k, m, max_batch, forget, delta, resym_every);
    if (rc)
        return rc;
    /* the cursor's own P and W are never used: it always points into the packed arrays */
    free(b->cur.p);
    free(b->cur.w);
    b->cur.p = b->cur.w = NULL;
    b->n = n;
    b->p = malloc(n * k * k * sizeof *b->p);
    b->w = malloc(n * k * m * sizeof *b->w);
    b->counters = malloc(3 * n * sizeof *b->counters);
    if (!b->p || !b->w || !b->counters) {
        spx_forecast_rls_bank_free(b);
        return -ENOMEM;
    }
    spx_forecast_rls_bank_reset(b);
    memset(b->counters, 0, 3 * n * sizeof *b->counters);
    return 0;
}

void spx_forecast_rls_bank_free(spx_forecast_rls_bank *b)
{
    if (!b)
        return;
    b->cur.p = b->cur.w = NULL;
    spx_forecast_rls_free(&b->cur);
    free(b->p);
    free(b->w);
    free(b->counters);
    memset(b, 0, sizeof *b);
}

void spx_forecast_rls_bank_reset(spx_forecast_rls_bank *b)
{
    for (size_t i = 0; i < b->n; i++) {
        bank_select(b, i);
        spx_forecast_rls_reset(&b->cur);
        bank_store(b, i);
    }
    b->cur.p = b->cur.w = NULL;
}

int spx_forecast_rls_bank_set_gram(spx_forecast_rls_bank *b, size_t i, double *gram, double *xty)
{
    bank_select(b, i);
    int rc = spx_forecast_rls_set_gram(&b->cur, gram, xty);
    bank_store(b, i);
    return rc;
}

int spx_forecast_rls_bank_update(spx_forecast_rls_bank *b, size_t i, const double *x,
                                 const double *y, size_t rows)
{
    bank_select(b, i);
    int rc = spx_forecast_rls_update(&b->cur, x, y, rows);
    bank_store(b, i);
    return rc;
}

void spx_forecast_rls_bank_rotate(spx_forecast_rls_bank *b, const double *rot, double *work)
{
    for (size_t i = 0; i < b->n; i++) {
        bank_select(b, i);
        spx_forecast_rls_rotate(&b->cur, rot, work);
        bank_store(b, i);
    }
}

const double *spx_forecast_rls_bank_p(const spx_forecast_rls_bank *b, size_t i)
{
    return b->p + i * b->cur.k * b->cur.k;
}

const double *spx_forecast_rls_bank_w(const spx_forecast_rls_bank *b, size_t i)
{
    return b->w + i * b->cur.k * b->cur.m;
}
