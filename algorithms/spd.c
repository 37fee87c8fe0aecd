#include "spd.h"

#include <cblas.h>
#include <errno.h>
#include <float.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct spx_spd_ws {
    size_t n;
    lapack_int lwork, liwork;
    double *work;
    lapack_int *iwork;
    double *w;      /* eigenvalues */
    double *fw;     /* f(eigenvalues) */
    double *v;      /* eigenvectors / LAPACK scratch (n x n) */
    double *b;      /* second LAPACK operand (n x n) */
    double *cols;   /* scaled eigenvector columns for the rank-k rebuild (n x n) */
    double *t1, *t2;             /* congruence scratch */
    double *msqrt, *misqrt, *acc, *tmp;  /* Riemannian mean iteration */
};

struct spx_spd_ref {
    size_t n;
    lapack_int lwork, liwork;
    double *work;
    lapack_int *iwork;
    double *chol;   /* upper Cholesky factor U, R = U^T U (column-major) */
    double *buf;
    double *w;
};

static int lapack_status(lapack_int info) { return info == 0 ? 0 : (info < 0 ? -EINVAL : -EIO); }

static void mirror_upper(double *a, size_t n)
{
    /* Column-major upper (i <= j at a[i + j n]) copied into the lower triangle. */
    for (size_t j = 0; j < n; j++)
        for (size_t i = 0; i < j; i++)
            a[j + i * n] = a[i + j * n];
}

static void symmetrize(double *a, size_t n)
{
    for (size_t j = 0; j < n; j++)
        for (size_t i = 0; i < j; i++) {
            double m = 0.5 * (a[i + j * n] + a[j + i * n]);
            a[i + j * n] = m;
            a[j + i * n] = m;
        }
}

int spx_spd_ws_create(spx_spd_ws **out, size_t n)
{
    if (!out || n == 0 || n > 46340)
        return -EINVAL;
    *out = NULL;
    spx_spd_ws *ws = calloc(1, sizeof *ws);
    if (!ws)
        return -ENOMEM;
    ws->n = n;
    size_t nn = n * n;
    /* Documented minimum sizes of dsyevd(jobz='V'), which also cover dsyevd('N') and dsygvd('N');
     * the query may ask for more (blocked tridiagonalisation). */
    lapack_int ln = (lapack_int)n;
    ws->lwork = 1 + 6 * ln + 2 * ln * ln;
    ws->liwork = 3 + 5 * ln;
    double wq = 0;
    lapack_int iq = 0;
    double dummy = 0, dw = 0;
    if (LAPACKE_dsyevd_work(LAPACK_COL_MAJOR, 'V', 'U', ln, &dummy, ln, &dw, &wq, -1, &iq, -1) == 0) {
        if ((lapack_int)wq > ws->lwork) ws->lwork = (lapack_int)wq;
        if (iq > ws->liwork) ws->liwork = iq;
    }
    ws->work = malloc((size_t)ws->lwork * sizeof *ws->work);
    ws->iwork = malloc((size_t)ws->liwork * sizeof *ws->iwork);
    ws->w = malloc(n * sizeof *ws->w);
    ws->fw = malloc(n * sizeof *ws->fw);
    double **mats[] = {&ws->v, &ws->b, &ws->cols, &ws->t1, &ws->t2,
                       &ws->msqrt, &ws->misqrt, &ws->acc, &ws->tmp};
    int ok = ws->work && ws->iwork && ws->w && ws->fw;
    for (size_t i = 0; i < sizeof mats / sizeof mats[0]; i++) {
        *mats[i] = malloc(nn * sizeof(double));
        ok = ok && *mats[i];
    }
    if (!ok) {
        spx_spd_ws_free(ws);
        return -ENOMEM;
    }
    *out = ws;
    return 0;
}

void spx_spd_ws_free(spx_spd_ws *ws)
{
    if (!ws)
        return;
    free(ws->work);
    free(ws->iwork);
    free(ws->w);
    free(ws->fw);
    free(ws->v);
    free(ws->b);
    free(ws->cols);
    free(ws->t1);
    free(ws->t2);
    free(ws->msqrt);
    free(ws->misqrt);
    free(ws->acc);
    free(ws->tmp);
    free(ws);
}

size_t spx_spd_ws_dim(const spx_spd_ws *ws) { return ws ? ws->n : 0; }

/* Eigen-decomposition of a into ws->w / ws->v. */
static int eig_ws(spx_spd_ws *ws, const double *a, char jobz)
{
    size_t n = ws->n;
    memcpy(ws->v, a, n * n * sizeof *a);
    lapack_int info = LAPACKE_dsyevd_work(LAPACK_COL_MAJOR, jobz, 'U', (lapack_int)n, ws->v,
                                          (lapack_int)n, ws->w, ws->work, ws->lwork, ws->iwork,
                                          ws->liwork);
    return lapack_status(info);
}

int spx_spd_eigh(spx_spd_ws *ws, const double *a, double *w, double *v)
{
    if (!ws || !a || !w)
        return -EINVAL;
    int rc = eig_ws(ws, a, v ? 'V' : 'N');
    if (rc)
        return rc;
    memcpy(w, ws->w, ws->n * sizeof *w);
    if (v)
        memcpy(v, ws->v, ws->n * ws->n * sizeof *v);
    return 0;
}

/* out = V diag(fw) V^T from ws->v and ws->fw as P P^T - N N^T, where P holds the columns with
 * fw >= 0 scaled by sqrt(fw) and N the others scaled by sqrt(-fw): two dsyrk, exact symmetry. */
static void rebuild(spx_spd_ws *ws, double *out)
{
    size_t n = ws->n, npos = 0, nneg = 0;
    for (size_t j = 0; j < n; j++) {
        double f = ws->fw[j];
        double *dst;
        if (f >= 0)
            dst = ws->cols + (npos++) * n;
        else
            dst = ws->cols + (n - 1 - nneg++) * n;
        double s = sqrt(fabs(f));
        const double *src = ws->v + j * n;
        for (size_t i = 0; i < n; i++)
            dst[i] = s * src[i];
    }
    int ln = (int)n;
    if (npos > 0)
        cblas_dsyrk(CblasColMajor, CblasUpper, CblasNoTrans, ln, (int)npos, 1.0, ws->cols, ln,
                    0.0, out, ln);
    else
        memset(out, 0, n * n * sizeof *out);
    if (nneg > 0)
        cblas_dsyrk(CblasColMajor, CblasUpper, CblasNoTrans, ln, (int)nneg, -1.0,
                    ws->cols + npos * n, ln, 1.0, out, ln);
    mirror_upper(out, n);
}

enum spd_fn { FN_SQRT, FN_INVSQRT, FN_LOG, FN_EXP, FN_POWER };

static int apply_fn(spx_spd_ws *ws, const double *a, enum spd_fn fn, double p, double *out)
{
    if (!ws || !a || !out)
        return -EINVAL;
    int rc = eig_ws(ws, a, 'V');
    if (rc)
        return rc;
    size_t n = ws->n;
    if (fn != FN_EXP && !(ws->w[0] > 0))
        return -EDOM;
    for (size_t j = 0; j < n; j++) {
        double l = ws->w[j];
        switch (fn) {
        case FN_SQRT: ws->fw[j] = sqrt(l); break;
        case FN_INVSQRT: ws->fw[j] = 1.0 / sqrt(l); break;
        case FN_LOG: ws->fw[j] = log(l); break;
        case FN_EXP: ws->fw[j] = exp(l); break;
        case FN_POWER: ws->fw[j] = pow(l, p); break;
        }
    }
    rebuild(ws, out);
    return 0;
}

int spx_spd_sqrt(spx_spd_ws *ws, const double *a, double *out) { return apply_fn(ws, a, FN_SQRT, 0, out); }
int spx_spd_invsqrt(spx_spd_ws *ws, const double *a, double *out) { return apply_fn(ws, a, FN_INVSQRT, 0, out); }
int spx_spd_log(spx_spd_ws *ws, const double *a, double *out) { return apply_fn(ws, a, FN_LOG, 0, out); }
int spx_spd_exp(spx_spd_ws *ws, const double *a, double *out) { return apply_fn(ws, a, FN_EXP, 0, out); }
int spx_spd_power(spx_spd_ws *ws, const double *a, double p, double *out)
{
    if (!isfinite(p))
        return -EINVAL;
    return apply_fn(ws, a, FN_POWER, p, out);
}

int spx_spd_sqrt_invsqrt(spx_spd_ws *ws, const double *a, double *sqrt_out, double *invsqrt_out)
{
    if (!ws || !a)
        return -EINVAL;
    int rc = eig_ws(ws, a, 'V');
    if (rc)
        return rc;
    size_t n = ws->n;
    if (!(ws->w[0] > 0))
        return -EDOM;
    if (sqrt_out) {
        for (size_t j = 0; j < n; j++)
            ws->fw[j] = sqrt(ws->w[j]);
        rebuild(ws, sqrt_out);
    }
    if (invsqrt_out) {
        for (size_t j = 0; j < n; j++)
            ws->fw[j] = 1.0 / sqrt(ws->w[j]);
        rebuild(ws, invsqrt_out);
    }
    return 0;
}

/* out = W A W^T, symmetrised; out may alias a but not w. Uses ws->t1. */
static void congruence_ws(spx_spd_ws *ws, const double *w, const double *a, double *out)
{
    int n = (int)ws->n;
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0, w, n, a, n, 0.0, ws->t1, n);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, n, 1.0, ws->t1, n, w, n, 0.0, out, n);
    symmetrize(out, ws->n);
}

int spx_spd_congruence(spx_spd_ws *ws, const double *w, const double *a, double *out)
{
    if (!ws || !w || !a || !out || out == w)
        return -EINVAL;
    congruence_ws(ws, w, a, out);
    return 0;
}

int spx_spd_distance(spx_spd_ws *ws, const double *a, const double *b, double *dist)
{
    if (!ws || !a || !b || !dist)
        return -EINVAL;
    size_t n = ws->n;
    memcpy(ws->v, a, n * n * sizeof *a);
    memcpy(ws->b, b, n * n * sizeof *b);
    lapack_int info = LAPACKE_dsygvd_work(LAPACK_COL_MAJOR, 1, 'N', 'U', (lapack_int)n, ws->v,
                                          (lapack_int)n, ws->b, (lapack_int)n, ws->w, ws->work,
                                          ws->lwork, ws->iwork, ws->liwork);
    if (info > (lapack_int)n)
        return -EDOM; /* b is not positive definite */
    if (info)
        return lapack_status(info);
    double s = 0;
    for (size_t i = 0; i < n; i++) {
        if (!(ws->w[i] > 0))
            return -EDOM;
        double l = log(ws->w[i]);
        s += l * l;
    }
    *dist = sqrt(s);
    return 0;
}

int spx_spd_geodesic(spx_spd_ws *ws, const double *a, const double *b, double t, double *out)
{
    if (!ws || !a || !b || !out || !isfinite(t))
        return -EINVAL;
    int rc = spx_spd_sqrt_invsqrt(ws, a, ws->msqrt, ws->misqrt);
    if (rc)
        return rc;
    congruence_ws(ws, ws->misqrt, b, ws->acc);
    rc = apply_fn(ws, ws->acc, FN_POWER, t, ws->acc);
    if (rc)
        return rc;
    congruence_ws(ws, ws->msqrt, ws->acc, out);
    return 0;
}

int spx_spd_mean_euclid(const double *mats, size_t count, size_t n, const double *weights,
                        double *mean)
{
    if (!mats || !mean || count == 0 || n == 0)
        return -EINVAL;
    size_t nn = n * n;
    double wsum = 0;
    for (size_t i = 0; i < count; i++) {
        double wi = weights ? weights[i] : 1.0;
        if (!(wi >= 0) || !isfinite(wi))
            return -EINVAL;
        wsum += wi;
    }
    if (!(wsum > 0))
        return -EINVAL;
    memset(mean, 0, nn * sizeof *mean);
    for (size_t i = 0; i < count; i++) {
        double wi = (weights ? weights[i] : 1.0) / wsum;
        cblas_daxpy((int)nn, wi, mats + i * nn, 1, mean, 1);
    }
    return 0;
}

void spx_spd_mean_params_default(spx_spd_mean_params *p)
{
    p->tol = 1e-8;
    p->max_iter = 50;
}

int spx_spd_mean_riemann(spx_spd_ws *ws, const double *mats, size_t count, const double *weights,
                         const spx_spd_mean_params *params, double *mean,
                         spx_spd_mean_info *info)
{
    if (!ws || !mats || !mean || count == 0)
        return -EINVAL;
    spx_spd_mean_params p;
    spx_spd_mean_params_default(&p);
    if (params)
        p = *params;
    if (!(p.tol >= 0) || p.max_iter < 0)
        return -EINVAL;
    size_t n = ws->n, nn = n * n;
    int rc = spx_spd_mean_euclid(mats, count, n, weights, mean);
    if (rc)
        return rc;
    double wsum = 0;
    for (size_t i = 0; i < count; i++)
        wsum += weights ? weights[i] : 1.0;

    spx_spd_mean_info inf = {0, 0.0, 0};
    if (count == 1) {
        inf.converged = 1;
        if (info) *info = inf;
        return 0;
    }
    double nu = 1.0, tau = DBL_MAX;
    for (int it = 0; it < p.max_iter; it++) {
        rc = spx_spd_sqrt_invsqrt(ws, mean, ws->msqrt, ws->misqrt);
        if (rc)
            return rc;
        memset(ws->acc, 0, nn * sizeof *ws->acc);
        for (size_t i = 0; i < count; i++) {
            double wi = weights ? weights[i] / wsum : 1.0 / (double)count;
            if (wi == 0)
                continue;
            congruence_ws(ws, ws->misqrt, mats + i * nn, ws->tmp);
            rc = apply_fn(ws, ws->tmp, FN_LOG, 0, ws->tmp);
            if (rc)
                return rc;
            cblas_daxpy((int)nn, wi, ws->tmp, 1, ws->acc, 1);
        }
        double crit = cblas_dnrm2((int)nn, ws->acc, 1);
        cblas_dscal((int)nn, nu, ws->acc, 1);
        rc = apply_fn(ws, ws->acc, FN_EXP, 0, ws->tmp);
        if (rc)
            return rc;
        congruence_ws(ws, ws->msqrt, ws->tmp, mean);
        inf.iterations = it + 1;
        inf.criterion = crit;
        double h = nu * crit;
        if (h < tau) {
            nu *= 0.95;
            tau = h;
        } else {
            nu *= 0.5;
        }
        if (crit <= p.tol || nu <= p.tol) {
            inf.converged = 1;
            break;
        }
    }
    if (info)
        *info = inf;
    return 0;
}

int spx_spd_ref_create(spx_spd_ref **out, size_t n)
{
    if (!out || n == 0 || n > 46340)
        return -EINVAL;
    *out = NULL;
    spx_spd_ref *r = calloc(1, sizeof *r);
    if (!r)
        return -ENOMEM;
    r->n = n;
    lapack_int ln = (lapack_int)n;
    r->lwork = 2 * ln + 1;
    r->liwork = 1;
    double wq = 0, dummy = 0, dw = 0;
    lapack_int iq = 0;
    if (LAPACKE_dsyevd_work(LAPACK_COL_MAJOR, 'N', 'U', ln, &dummy, ln, &dw, &wq, -1, &iq, -1) == 0) {
        if ((lapack_int)wq > r->lwork) r->lwork = (lapack_int)wq;
        if (iq > r->liwork) r->liwork = iq;
    }
    r->work = malloc((size_t)r->lwork * sizeof *r->work);
    r->iwork = malloc((size_t)r->liwork * sizeof *r->iwork);
    r->chol = malloc(n * n * sizeof *r->chol);
    r->buf = malloc(n * n * sizeof *r->buf);
    r->w = malloc(n * sizeof *r->w);
    if (!r->work || !r->iwork || !r->chol || !r->buf || !r->w) {
        spx_spd_ref_free(r);
        return -ENOMEM;
    }
    *out = r;
    return 0;
}

void spx_spd_ref_free(spx_spd_ref *r)
{
    if (!r)
        return;
    free(r->work);
    free(r->iwork);
    free(r->chol);
    free(r->buf);
    free(r->w);
    free(r);
}

int spx_spd_ref_set(spx_spd_ref *ref, const double *r)
{
    if (!ref || !r)
        return -EINVAL;
    size_t n = ref->n;
    memcpy(ref->chol, r, n * n * sizeof *r);
    lapack_int info = LAPACKE_dpotrf_work(LAPACK_COL_MAJOR, 'U', (lapack_int)n, ref->chol,
                                          (lapack_int)n);
    if (info > 0)
        return -EDOM;
    return lapack_status(info);
}

int spx_spd_ref_distance2(spx_spd_ref *ref, const double *c, double *dist2)
{
    if (!ref || !c || !dist2)
        return -EINVAL;
    size_t n = ref->n;
    lapack_int ln = (lapack_int)n;
    memcpy(ref->buf, c, n * n * sizeof *c);
    /* buf <- U^-T C U^-1: same generalized eigenvalues as (C, R), as dsygvd would do after its
     * own Cholesky factorisation, which is done once in spx_spd_ref_set. */
    lapack_int info = LAPACKE_dsygst_work(LAPACK_COL_MAJOR, 1, 'U', ln, ref->buf, ln, ref->chol, ln);
    if (info)
        return lapack_status(info);
    info = LAPACKE_dsyevd_work(LAPACK_COL_MAJOR, 'N', 'U', ln, ref->buf, ln, ref->w, ref->work,
                               ref->lwork, ref->iwork, ref->liwork);
    if (info)
        return lapack_status(info);
    double s = 0;
    for (size_t i = 0; i < n; i++) {
        if (!(ref->w[i] > 0))
            return -EDOM;
        double l = log(ref->w[i]);
        s += l * l;
    }
    *dist2 = s;
    return 0;
}
