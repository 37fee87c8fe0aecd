#include "isvd.h"

#include <cblas.h>
#include <errno.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A kept residual direction whose singular value is below this fraction of ||R|| may carry
 * rounding-level components along U of relative size eps * ||R|| / sigma_j; past 1e-13 that would
 * show in U^T U, so such directions get one more projection and a QR. */
#define SPX_ISVD_REPROJECT_BELOW 1e-3

struct spx_isvd_work {
    size_t m, q, nmax, nc; /* nc = q + nmax: largest core */
    double *r;             /* m x nmax: residual, then its QR reflectors */
    double *c;             /* q x nmax: U^T A */
    double *c2;            /* q x nmax: second-pass coefficients / U^T P */
    double *colnorm;       /* nmax */
    double *tau;           /* nmax */
    double *b;             /* nmax x nmax: R factor of the residual */
    double *bsvd;          /* nmax x nmax: copy destroyed by dgesvd */
    double *x;             /* nmax x nmax: left singular vectors of B */
    double *sig;           /* nmax */
    double *p;             /* m x nmax: new orthonormal directions */
    double *z;             /* nmax x nmax: coefficients of the residual in P */
    double *t;             /* nmax x nmax */
    double *g;             /* nc x nc: core Gram matrix, then its eigenvectors */
    double *lam;           /* nc */
    double *vsel;          /* nc x q: the kept eigenvectors, descending */
    double *unew;          /* m x q */
    double *gram;          /* q x q */
    double *lwork;
    lapack_int nlwork;
    lapack_int *iwork;
    lapack_int niwork;
};

struct spx_isvd {
    spx_isvd_params p;
    size_t q;
    spx_isvd_state st;
    spx_isvd_work *w;
    double *u, *s;         /* the state's storage */
    double *u_saved, *s_saved; /* rollback copy for multi-chunk updates */
    double *a;             /* m x chunk_cols: the loaded chunk */
    uint64_t updates, columns, since_reorth;
    double orth_error;
};

/* ---- workspace --------------------------------------------------------------------------------- */

static lapack_int max_li(lapack_int a, lapack_int b) { return a > b ? a : b; }

static size_t min_sz(size_t a, size_t b) { return a < b ? a : b; }

/* Optimal LAPACK work sizes for every call an update or a prediction makes at the largest sizes. */
static int query_work(spx_isvd_work *w, lapack_int *lwork, lapack_int *liwork)
{
    lapack_int m = (lapack_int)w->m, n = (lapack_int)w->nmax, nc = (lapack_int)w->nc;
    lapack_int nb = (lapack_int)min_sz(w->m, w->nmax);
    double q = 0.0, d = 0.0;
    lapack_int iq = 0, best = 1, ibest = 1;
    if (LAPACKE_dgeqrf_work(LAPACK_COL_MAJOR, m, n, &d, m, &d, &q, -1) != 0)
        return -EINVAL;
    best = max_li(best, (lapack_int)q);
    if (LAPACKE_dormqr_work(LAPACK_COL_MAJOR, 'L', 'N', m, n, nb, &d, m, &d, &d, m, &q, -1) != 0)
        return -EINVAL;
    best = max_li(best, (lapack_int)q);
    if (LAPACKE_dorgqr_work(LAPACK_COL_MAJOR, m, nb, nb, &d, m, &d, &q, -1) != 0)
        return -EINVAL;
    best = max_li(best, (lapack_int)q);
    if (LAPACKE_dgesvd_work(LAPACK_COL_MAJOR, 'S', 'N', nb, n, &d, nb, &d, &d, nb, &d, 1, &q, -1) != 0)
        return -EINVAL;
    best = max_li(best, (lapack_int)q);
    lapack_int nq = (lapack_int)w->q;
    if (LAPACKE_dgeqrf_work(LAPACK_COL_MAJOR, m, nq, &d, m, &d, &q, -1) != 0)
        return -EINVAL;
    best = max_li(best, (lapack_int)q);
    if (LAPACKE_dorgqr_work(LAPACK_COL_MAJOR, m, nq, nq, &d, m, &d, &q, -1) != 0)
        return -EINVAL;
    best = max_li(best, (lapack_int)q);
    if (LAPACKE_dsyevd_work(LAPACK_COL_MAJOR, 'V', 'L', nc, &d, nc, &d, &q, -1, &iq, -1) != 0)
        return -EINVAL;
    best = max_li(best, (lapack_int)q);
    ibest = max_li(ibest, iq);
    if (LAPACKE_dsyevd_work(LAPACK_COL_MAJOR, 'N', 'L', nc, &d, nc, &d, &q, -1, &iq, -1) != 0)
        return -EINVAL;
    best = max_li(best, (lapack_int)q);
    ibest = max_li(ibest, iq);
    *lwork = best;
    *liwork = ibest;
    return 0;
}

int spx_isvd_work_create(spx_isvd_work **out, size_t m, size_t q, size_t max_cols)
{
    if (!out || m == 0 || q == 0 || q > m || max_cols == 0 || m > (size_t)1 << 30 ||
        max_cols > (size_t)1 << 20)
        return -EINVAL;
    spx_isvd_work *w = calloc(1, sizeof *w);
    if (!w)
        return -ENOMEM;
    w->m = m;
    w->q = q;
    w->nmax = max_cols;
    w->nc = q + max_cols;
    size_t n = max_cols, nc = w->nc;
    w->r = malloc(m * n * sizeof(double));
    w->c = malloc(q * n * sizeof(double));
    w->c2 = malloc(q * n * sizeof(double));
    w->colnorm = malloc(n * sizeof(double));
    w->tau = malloc((n > q ? n : q) * sizeof(double));
    w->b = malloc(n * n * sizeof(double));
    w->bsvd = malloc(n * n * sizeof(double));
    w->x = malloc(n * n * sizeof(double));
    w->sig = malloc(n * sizeof(double));
    w->p = malloc(m * n * sizeof(double));
    w->z = malloc(n * n * sizeof(double));
    w->t = malloc(n * n * sizeof(double));
    w->g = malloc(nc * nc * sizeof(double));
    w->lam = malloc(nc * sizeof(double));
    w->vsel = malloc(nc * q * sizeof(double));
    w->unew = malloc(m * q * sizeof(double));
    w->gram = malloc(q * q * sizeof(double));
    lapack_int lwork = 0, liwork = 0;
    int rc = query_work(w, &lwork, &liwork);
    if (rc == 0) {
        w->nlwork = lwork;
        w->niwork = liwork;
        w->lwork = malloc((size_t)lwork * sizeof(double));
        w->iwork = malloc((size_t)liwork * sizeof(lapack_int));
    }
    if (rc != 0 || !w->r || !w->c || !w->c2 || !w->colnorm || !w->tau || !w->b || !w->bsvd ||
        !w->x || !w->sig || !w->p || !w->z || !w->t || !w->g || !w->lam || !w->vsel || !w->unew ||
        !w->gram || !w->lwork || !w->iwork) {
        spx_isvd_work_free(w);
        return rc != 0 ? rc : -ENOMEM;
    }
    *out = w;
    return 0;
}

void spx_isvd_work_free(spx_isvd_work *w)
{
    if (!w)
        return;
    free(w->r);
    free(w->c);
    free(w->c2);
    free(w->colnorm);
    free(w->tau);
    free(w->b);
    free(w->bsvd);
    free(w->x);
    free(w->sig);
    free(w->p);
    free(w->z);
    free(w->t);
    free(w->g);
    free(w->lam);
    free(w->vsel);
    free(w->unew);
    free(w->gram);
    free(w->lwork);
    free(w->iwork);
    free(w);
}

size_t spx_isvd_work_max_cols(const spx_isvd_work *w) { return w->nmax; }

/* ---- state ------------------------------------------------------------------------------------- */

void spx_isvd_state_init(spx_isvd_state *st, size_t m, size_t q, double *u, double *s)
{
    st->m = m;
    st->q = q;
    st->u = u;
    st->s = s;
    spx_isvd_state_clear(st);
}

void spx_isvd_state_clear(spx_isvd_state *st)
{
    st->cur = 0;
    st->energy = 0.0;
    st->discarded = 0.0;
    memset(st->u, 0, st->m * st->q * sizeof *st->u);
    memset(st->s, 0, st->q * sizeof *st->s);
}

double spx_isvd_state_tail(const spx_isvd_state *st, size_t r)
{
    double tail = 0.0;
    /* smallest first, so the sum rounds the way the values decay */
    for (size_t i = st->cur; i > r; i--)
        tail += st->s[i - 1] * st->s[i - 1];
    return st->discarded + tail;
}

static int load_cols(double *dst, size_t m, const void *a, size_t n, size_t j0, size_t nc,
                     spx_isvd_layout layout, double *energy)
{
    double e = 0.0;
    switch (layout) {
    case SPX_ISVD_COLMAJOR_F64: {
        const double *src = (const double *)a + j0 * m;
        for (size_t k = 0; k < m * nc; k++) {
            dst[k] = src[k];
            e += src[k] * src[k];
        }
        break;
    }
    case SPX_ISVD_ROWMAJOR_F64: {
        const double *src = a;
        for (size_t i = 0; i < m; i++)
            for (size_t j = 0; j < nc; j++) {
                double v = src[i * n + j0 + j];
                dst[i + j * m] = v;
                e += v * v;
            }
        break;
    }
    case SPX_ISVD_ROWMAJOR_F32: {
        const float *src = a;
        for (size_t i = 0; i < m; i++)
            for (size_t j = 0; j < nc; j++) {
                double v = src[i * n + j0 + j];
                dst[i + j * m] = v;
                e += v * v;
            }
        break;
    }
    default:
        return -EINVAL;
    }
    /* a NaN or Inf anywhere makes the sum non-finite; so does overflow of the squares */
    if (!isfinite(e))
        return -EINVAL;
    if (energy)
        *energy = e;
    return 0;
}

int spx_isvd_load_block(double *dst, size_t m, const void *a, size_t n, spx_isvd_layout layout,
                        double *energy)
{
    if (!dst || !a || m == 0 || n == 0)
        return -EINVAL;
    return load_cols(dst, m, a, n, 0, n, layout, energy);
}

/* Residual R = (I - U U^T) A into w->r with coefficients C = U^T A in w->c (ld q); the second
 * Gram-Schmidt pass runs when any column lost more than half of its squared norm. */
static void project_out(const spx_isvd_state *st, spx_isvd_work *w, const double *a, size_t lda,
                        size_t n)
{
    size_t m = st->m, cur = st->cur, q = w->q;
    for (size_t j = 0; j < n; j++) {
        const double *aj = a + j * lda;
        double *rj = w->r + j * m;
        memcpy(rj, aj, m * sizeof *rj);
        w->colnorm[j] = cblas_ddot((int)m, aj, 1, aj, 1);
    }
    if (cur == 0)
        return;
    cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, (int)cur, (int)n, (int)m, 1.0, st->u,
                (int)m, a, (int)lda, 0.0, w->c, (int)q);
    cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)n, (int)cur, -1.0, st->u,
                (int)m, w->c, (int)q, 1.0, w->r, (int)m);
    int again = 0;
    for (size_t j = 0; j < n && !again; j++) {
        const double *rj = w->r + j * m;
        again = 2.0 * cblas_ddot((int)m, rj, 1, rj, 1) < w->colnorm[j];
    }
    if (!again)
        return;
    cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, (int)cur, (int)n, (int)m, 1.0, st->u,
                (int)m, w->r, (int)m, 0.0, w->c2, (int)q);
    cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)n, (int)cur, -1.0, st->u,
                (int)m, w->c2, (int)q, 1.0, w->r, (int)m);
    for (size_t j = 0; j < n; j++)
        cblas_daxpy((int)cur, 1.0, w->c2 + j * q, 1, w->c + j * q, 1);
}

/* Rank-revealing orthonormalisation of the residual: R = P Z with P (m x *kept) orthonormal and
 * orthogonal to U, Z (*kept x n, ld nmax). Directions with singular value <= thresh are dropped and
 * their energy returned in *dropped. */
static int residual_basis(const spx_isvd_state *st, spx_isvd_work *w, size_t n, double thresh,
                          size_t room, size_t *kept, double *dropped)
{
    size_t m = st->m, cur = st->cur, q = w->q, ld = w->nmax;
    lapack_int nb = (lapack_int)min_sz(m, n);
    lapack_int info;
    info = LAPACKE_dgeqrf_work(LAPACK_COL_MAJOR, (lapack_int)m, (lapack_int)n, w->r, (lapack_int)m,
                               w->tau, w->lwork, w->nlwork);
    if (info != 0)
        return -EIO;
    for (size_t j = 0; j < n; j++)
        for (size_t i = 0; i < (size_t)nb; i++) {
            double v = i <= j ? w->r[i + j * m] : 0.0;
            w->b[i + j * ld] = v;
            w->bsvd[i + j * ld] = v;
        }
    double dummy = 0.0;
    info = LAPACKE_dgesvd_work(LAPACK_COL_MAJOR, 'S', 'N', nb, (lapack_int)n, w->bsvd,
                               (lapack_int)ld, w->sig, w->x, (lapack_int)ld, &dummy, 1, w->lwork,
                               w->nlwork);
    if (info != 0)
        return -EIO;
    size_t nk = 0;
    double rnorm2 = 0.0;
    for (size_t j = 0; j < (size_t)nb; j++) {
        rnorm2 += w->sig[j] * w->sig[j];
        if (w->sig[j] > thresh)
            nk = j + 1;
    }
    if (nk > room)
        nk = room;
    double drop = 0.0;
    for (size_t j = (size_t)nb; j > nk; j--)
        drop += w->sig[j - 1] * w->sig[j - 1];
    *dropped = drop;
    *kept = nk;
    if (nk == 0)
        return 0;
    cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, (int)nk, (int)n, nb, 1.0, w->x, (int)ld,
                w->b, (int)ld, 0.0, w->z, (int)ld);
    memset(w->p, 0, m * nk * sizeof *w->p);
    for (size_t j = 0; j < nk; j++)
        memcpy(w->p + j * m, w->x + j * ld, (size_t)nb * sizeof *w->p);
    info = LAPACKE_dormqr_work(LAPACK_COL_MAJOR, 'L', 'N', (lapack_int)m, (lapack_int)nk, nb, w->r,
                               (lapack_int)m, w->tau, w->p, (lapack_int)m, w->lwork, w->nlwork);
    if (info != 0)
        return -EIO;
    if (cur == 0 || w->sig[nk - 1] >= SPX_ISVD_REPROJECT_BELOW * sqrt(rnorm2))
        return 0;
    /* P = P' T + U W after one more projection: fold U W Z into C and T Z into Z. */
    cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, (int)cur, (int)nk, (int)m, 1.0, st->u,
                (int)m, w->p, (int)m, 0.0, w->c2, (int)q);
    cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)nk, (int)cur, -1.0, st->u,
                (int)m, w->c2, (int)q, 1.0, w->p, (int)m);
    info = LAPACKE_dgeqrf_work(LAPACK_COL_MAJOR, (lapack_int)m, (lapack_int)nk, w->p, (lapack_int)m,
                               w->tau, w->lwork, w->nlwork);
    if (info != 0)
        return -EIO;
    for (size_t j = 0; j < nk; j++)
        for (size_t i = 0; i < nk; i++)
            w->t[i + j * ld] = i <= j ? w->p[i + j * m] : 0.0;
    info = LAPACKE_dorgqr_work(LAPACK_COL_MAJOR, (lapack_int)m, (lapack_int)nk, (lapack_int)nk, w->p,
                               (lapack_int)m, w->tau, w->lwork, w->nlwork);
    if (info != 0)
        return -EIO;
    cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, (int)cur, (int)n, (int)nk, 1.0, w->c2,
                (int)q, w->z, (int)ld, 1.0, w->c, (int)q);
    cblas_dtrmm(CblasColMajor, CblasLeft, CblasUpper, CblasNoTrans, CblasNonUnit, (int)nk, (int)n,
                1.0, w->t, (int)ld, w->z, (int)ld);
    return 0;
}

int spx_isvd_state_update(spx_isvd_state *st, spx_isvd_work *w, const double *a, size_t lda,
                          size_t n, double forget, double rank_tol)
{
    if (!st || !w || !a || n == 0 || n > w->nmax || st->m != w->m || st->q > w->q || lda < st->m ||
        !(forget > 0.0 && forget <= 1.0) || !(rank_tol >= 0.0))
        return -EINVAL;
    size_t m = st->m, cur = st->cur, q = w->q, ld = w->nmax;
    project_out(st, w, a, lda, n);
    double a2 = 0.0;
    for (size_t j = 0; j < n; j++)
        a2 += w->colnorm[j];
    if (!isfinite(a2))
        return -EINVAL;
    size_t nk = 0;
    double dropped = 0.0;
    /* R is orthogonal to the cur columns of U, so at most m - cur of its directions are real */
    int rc = residual_basis(st, w, n, rank_tol * sqrt(a2), m - cur, &nk, &dropped);
    if (rc != 0)
        return rc;

    /* Gram matrix of the core K = [f S, C; 0, Z]: [[f^2 S^2 + C C^T, C Z^T], [Z C^T, Z Z^T]]
     * (lower triangle, column-major, ld nn). */
    size_t nn = cur + nk;
    double f2 = forget * forget;
    size_t keep = min_sz(st->q, nn);
    double cut = 0.0;
    if (nn > 0) {
        double *g = w->g;
        if (cur > 0) {
            cblas_dsyrk(CblasColMajor, CblasLower, CblasNoTrans, (int)cur, (int)n, 1.0, w->c, (int)q,
                        0.0, g, (int)nn);
            for (size_t i = 0; i < cur; i++)
                g[i + i * nn] += f2 * st->s[i] * st->s[i];
        }
        if (nk > 0) {
            if (cur > 0)
                cblas_dgemm(CblasColMajor, CblasNoTrans, CblasTrans, (int)nk, (int)cur, (int)n, 1.0,
                            w->z, (int)ld, w->c, (int)q, 0.0, g + cur, (int)nn);
            cblas_dsyrk(CblasColMajor, CblasLower, CblasNoTrans, (int)nk, (int)n, 1.0, w->z, (int)ld,
                        0.0, g + cur + cur * nn, (int)nn);
        }
        lapack_int info = LAPACKE_dsyevd_work(LAPACK_COL_MAJOR, 'V', 'L', (lapack_int)nn, g,
                                              (lapack_int)nn, w->lam, w->lwork, w->nlwork, w->iwork,
                                              w->niwork);
        if (info != 0)
            return -EIO;
        /* ascending: the nn - keep smallest are cut, summed smallest first */
        for (size_t i = 0; i + keep < nn; i++)
            cut += w->lam[i] > 0.0 ? w->lam[i] : 0.0;
        for (size_t j = 0; j < keep; j++)
            memcpy(w->vsel + j * nn, g + (nn - 1 - j) * nn, nn * sizeof *w->vsel);
        /* U_new = U V(0:cur, :) + P V(cur:nn, :) */
        if (cur > 0)
            cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)keep, (int)cur, 1.0,
                        st->u, (int)m, w->vsel, (int)nn, 0.0, w->unew, (int)m);
        if (nk > 0)
            cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)keep, (int)nk, 1.0,
                        w->p, (int)m, w->vsel + cur, (int)nn, cur > 0 ? 1.0 : 0.0, w->unew, (int)m);
    }

    /* commit: nothing above touched the state */
    if (nn > 0)
        memcpy(st->u, w->unew, m * keep * sizeof *st->u);
    for (size_t j = 0; j < keep; j++) {
        double l = w->lam[nn - 1 - j];
        st->s[j] = l > 0.0 ? sqrt(l) : 0.0;
    }
    for (size_t j = keep; j < st->q; j++)
        st->s[j] = 0.0;
    st->cur = keep;
    st->energy = f2 * st->energy + a2;
    st->discarded = f2 * st->discarded + dropped + cut;
    return 0;
}

int spx_isvd_state_extend(spx_isvd_state *st, spx_isvd_work *w, const double *a, size_t lda,
                          size_t n, double rank_tol, double *coef, double *resid, size_t *nnew,
                          double *dropped)
{
    if (!st || !w || !a || !nnew || !dropped || n == 0 || n > w->nmax || st->m != w->m ||
        st->q > w->q || lda < st->m || !(rank_tol >= 0.0))
        return -EINVAL;
    size_t m = st->m, cur = st->cur, q = w->q, ld = w->nmax;
    project_out(st, w, a, lda, n);
    double a2 = 0.0;
    for (size_t j = 0; j < n; j++)
        a2 += w->colnorm[j];
    if (!isfinite(a2))
        return -EINVAL;
    size_t nk = 0;
    double drop = 0.0;
    int rc = residual_basis(st, w, n, rank_tol * sqrt(a2), st->q - cur, &nk, &drop);
    if (rc != 0)
        return rc;
    if (coef)
        for (size_t j = 0; j < n; j++)
            memcpy(coef + j * cur, w->c + j * q, cur * sizeof *coef);
    if (resid)
        for (size_t j = 0; j < n; j++)
            memcpy(resid + j * nk, w->z + j * ld, nk * sizeof *resid);
    if (nk > 0)
        memcpy(st->u + cur * m, w->p, m * nk * sizeof *st->u);
    st->cur = cur + nk;
    st->energy += a2;
    st->discarded += drop;
    *nnew = nk;
    *dropped = drop;
    return 0;
}

int spx_isvd_state_predict(const spx_isvd_state *st, spx_isvd_work *w, const double *c, size_t ldc,
                           const double *ata, size_t n, size_t r, double *tail)
{
    if (!st || !w || !ata || !tail || n == 0 || n > w->nmax || st->m != w->m || st->q > w->q ||
        (st->cur > 0 && (!c || ldc < st->cur)))
        return -EINVAL;
    size_t cur = st->cur, nn = cur + n;
    double *h = w->g;
    /* lower triangle of [[S^2, S C], [C^T S, A^T A]] */
    for (size_t j = 0; j < cur; j++) {
        double sj = st->s[j];
        for (size_t i = j; i < cur; i++)
            h[i + j * nn] = i == j ? sj * sj : 0.0;
        for (size_t i = 0; i < n; i++)
            h[cur + i + j * nn] = c[j + i * ldc] * sj;
    }
    for (size_t j = 0; j < n; j++)
        for (size_t i = j; i < n; i++)
            h[cur + i + (cur + j) * nn] = ata[i + j * n];
    lapack_int info = LAPACKE_dsyevd_work(LAPACK_COL_MAJOR, 'N', 'L', (lapack_int)nn, h,
                                          (lapack_int)nn, w->lam, w->lwork, w->nlwork, w->iwork,
                                          w->niwork);
    if (info != 0)
        return -EIO;
    double t = 0.0;
    for (size_t i = 0; i + r < nn; i++)
        t += w->lam[i] > 0.0 ? w->lam[i] : 0.0;
    *tail = st->discarded + t;
    return 0;
}

/* g = U^T U (upper triangle, cur x cur); returns max |U^T U - I|. */
static double gram_orth_error(const double *u, size_t m, size_t cur, double *g)
{
    cblas_dsyrk(CblasColMajor, CblasUpper, CblasTrans, (int)cur, (int)m, 1.0, u, (int)m, 0.0, g,
                (int)cur);
    double err = 0.0;
    for (size_t j = 0; j < cur; j++)
        for (size_t i = 0; i <= j; i++) {
            double d = fabs(g[i + j * cur] - (i == j ? 1.0 : 0.0));
            if (d > err)
                err = d;
        }
    return err;
}

int spx_isvd_state_reorth(spx_isvd_state *st, spx_isvd_work *w, double *orth_error)
{
    if (!st || !w || st->m != w->m || st->q > w->q)
        return -EINVAL;
    size_t m = st->m, cur = st->cur;
    if (cur == 0) {
        if (orth_error)
            *orth_error = 0.0;
        return 0;
    }
    double *g = w->gram;
    double err = gram_orth_error(st->u, m, cur, g);
    if (orth_error)
        *orth_error = err;
    lapack_int info = LAPACKE_dpotrf_work(LAPACK_COL_MAJOR, 'U', (lapack_int)cur, g, (lapack_int)cur);
    if (info == 0) {
        /* U^T U = R^T R, so U R^{-1} is orthonormal; R ~ I keeps each column where it was */
        cblas_dtrsm(CblasColMajor, CblasRight, CblasUpper, CblasNoTrans, CblasNonUnit, (int)m,
                    (int)cur, 1.0, g, (int)cur, st->u, (int)m);
        return 0;
    }
    /* U^T U not positive definite: U has lost orthonormality badly; Householder QR is stable for
     * any input. */
    info = LAPACKE_dgeqrf_work(LAPACK_COL_MAJOR, (lapack_int)m, (lapack_int)cur, st->u,
                               (lapack_int)m, w->tau, w->lwork, w->nlwork);
    if (info == 0)
        info = LAPACKE_dorgqr_work(LAPACK_COL_MAJOR, (lapack_int)m, (lapack_int)cur, (lapack_int)cur,
                                   st->u, (lapack_int)m, w->tau, w->lwork, w->nlwork);
    return info == 0 ? 0 : -EIO;
}

/* ---- the single-stream estimator --------------------------------------------------------------- */

void spx_isvd_params_default(spx_isvd_params *p, size_t rows, size_t rank)
{
    memset(p, 0, sizeof *p);
    p->rows = rows;
    p->rank = rank;
    p->oversample = 5;
    p->chunk_cols = 64;
    p->forget = 1.0;
    p->reorth_every = 100;
    p->rank_tol = 1e-12;
}

static int params_valid(const spx_isvd_params *p)
{
    return p->rows > 0 && p->rows <= (size_t)1 << 30 && p->rank > 0 && p->rank <= p->rows &&
           p->oversample <= p->rows && p->chunk_cols > 0 && p->chunk_cols <= 4096 &&
           p->forget > 0.0 && p->forget <= 1.0 && p->rank_tol >= 0.0 && p->rank_tol <= 1e-3;
}

int spx_isvd_create(spx_isvd **out, const spx_isvd_params *p)
{
    if (!out || !p || !params_valid(p))
        return -EINVAL;
    spx_isvd *s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    s->p = *p;
    size_t m = p->rows;
    s->q = min_sz(p->rank + p->oversample, m);
    s->u = malloc(m * s->q * sizeof *s->u);
    s->s = malloc(s->q * sizeof *s->s);
    s->u_saved = malloc(m * s->q * sizeof *s->u);
    s->s_saved = malloc(s->q * sizeof *s->s);
    s->a = malloc(m * p->chunk_cols * sizeof *s->a);
    int rc = -ENOMEM;
    if (s->u && s->s && s->u_saved && s->s_saved && s->a)
        rc = spx_isvd_work_create(&s->w, m, s->q, p->chunk_cols);
    if (rc != 0) {
        spx_isvd_free(s);
        return rc;
    }
    spx_isvd_state_init(&s->st, m, s->q, s->u, s->s);
    s->orth_error = -1.0;
    *out = s;
    return 0;
}

void spx_isvd_free(spx_isvd *s)
{
    if (!s)
        return;
    spx_isvd_work_free(s->w);
    free(s->u);
    free(s->s);
    free(s->u_saved);
    free(s->s_saved);
    free(s->a);
    free(s);
}

void spx_isvd_reset(spx_isvd *s)
{
    spx_isvd_state_clear(&s->st);
    s->updates = s->columns = s->since_reorth = 0;
    s->orth_error = -1.0;
}

/* True when every value of the block is finite (checked before a multi-chunk update starts). */
static int block_finite(const void *a, size_t count, spx_isvd_layout layout)
{
    double acc = 0.0;
    if (layout == SPX_ISVD_ROWMAJOR_F32) {
        const float *x = a;
        for (size_t i = 0; i < count; i++)
            acc += (double)x[i] * 0.0;
    } else {
        const double *x = a;
        for (size_t i = 0; i < count; i++)
            acc += x[i] * 0.0;
    }
    return acc == 0.0; /* Inf * 0 and NaN * 0 are NaN */
}

int spx_isvd_update(spx_isvd *s, const void *a, size_t n, spx_isvd_layout layout)
{
    if (!s || !a || n == 0 || (layout != SPX_ISVD_COLMAJOR_F64 && layout != SPX_ISVD_ROWMAJOR_F64 &&
                               layout != SPX_ISVD_ROWMAJOR_F32))
        return -EINVAL;
    size_t m = s->p.rows, chunk = s->p.chunk_cols;
    int multi = n > chunk;
    spx_isvd_state saved = s->st;
    if (multi) {
        if (!block_finite(a, m * n, layout))
            return -EINVAL;
        memcpy(s->u_saved, s->u, m * s->q * sizeof *s->u);
        memcpy(s->s_saved, s->s, s->q * sizeof *s->s);
    }
    int rc = 0;
    for (size_t j0 = 0; j0 < n && rc == 0; j0 += chunk) {
        size_t nc = min_sz(chunk, n - j0);
        rc = load_cols(s->a, m, a, n, j0, nc, layout, NULL);
        if (rc == 0)
            rc = spx_isvd_state_update(&s->st, s->w, s->a, m, nc, j0 == 0 ? s->p.forget : 1.0,
                                       s->p.rank_tol);
    }
    if (rc != 0) {
        if (multi) {
            memcpy(s->u, s->u_saved, m * s->q * sizeof *s->u);
            memcpy(s->s, s->s_saved, s->q * sizeof *s->s);
            s->st = saved;
        }
        return rc;
    }
    s->updates++;
    s->columns += n;
    if (s->p.reorth_every && ++s->since_reorth >= s->p.reorth_every) {
        double err = 0.0;
        if (spx_isvd_state_reorth(&s->st, s->w, &err) == 0) {
            s->orth_error = err;
            s->since_reorth = 0;
        }
    }
    return 0;
}

void spx_isvd_result_get(const spx_isvd *s, spx_isvd_result *out)
{
    memset(out, 0, sizeof *out);
    out->rows = s->p.rows;
    out->rank = s->p.rank;
    out->tracked = s->st.cur;
    out->capacity = s->q;
    out->discarded = s->st.discarded;
    out->sigma = s->s;
    out->updates = s->updates;
    out->columns = s->columns;
    out->energy = s->st.energy;
    out->tail_energy = spx_isvd_state_tail(&s->st, s->p.rank);
    out->rel_error = s->st.energy > 0.0 ? sqrt(out->tail_energy / s->st.energy) : 0.0;
    if (out->rel_error > 1.0)
        out->rel_error = 1.0;
    out->orth_error = s->orth_error;
}

void spx_isvd_left_vectors(const spx_isvd *s, double *u, int row_major)
{
    size_t m = s->p.rows, k = s->p.rank;
    for (size_t j = 0; j < k; j++)
        for (size_t i = 0; i < m; i++) {
            double v = j < s->st.cur ? s->u[i + j * m] : 0.0;
            if (row_major)
                u[i * k + j] = v;
            else
                u[i + j * m] = v;
        }
}

double spx_isvd_orth_error(spx_isvd *s)
{
    size_t m = s->p.rows, cur = s->st.cur;
    if (cur == 0)
        return 0.0;
    return gram_orth_error(s->u, m, cur, s->w->gram);
}

/* ---- durable state ----------------------------------------------------------------------------- */

void spx_isvd_snapshot_get(const spx_isvd *s, spx_isvd_snapshot *out)
{
    memset(out, 0, sizeof *out);
    out->rows = s->p.rows;
    out->capacity = s->q;
    out->tracked = s->st.cur;
    out->u = s->u;
    out->s = s->s;
    out->energy = s->st.energy;
    out->discarded = s->st.discarded;
    out->orth_error = s->orth_error;
    out->updates = s->updates;
    out->columns = s->columns;
    out->since_reorth = s->since_reorth;
}

static int refuse(const char **why, const char *reason)
{
    if (why)
        *why = reason;
    return -EINVAL;
}

/* Largest drift of U^T U from I a saved basis may show: rounding keeps it near 1e-14 (re-
 * orthonormalised) and far below this even without; anything larger is not a basis we wrote. */
#define SPX_ISVD_SNAPSHOT_ORTH_TOL 1e-6

int spx_isvd_snapshot_set(spx_isvd *s, const spx_isvd_snapshot *in, const char **why)
{
    if (!s || !in)
        return refuse(why, "no snapshot");
    size_t m = s->p.rows, q = s->q, cur = in->tracked;
    if (in->rows != m || in->capacity != q)
        return refuse(why, "rows or capacity differ from the estimator's");
    if (cur > q || (cur > 0 && !in->u) || !in->s)
        return refuse(why, "tracked directions exceed the capacity");
    if (!(isfinite(in->energy) && in->energy >= 0.0 && isfinite(in->discarded) &&
          in->discarded >= 0.0))
        return refuse(why, "energy or discarded energy is negative or not finite");
    if (!(in->orth_error == -1.0 || (isfinite(in->orth_error) && in->orth_error >= 0.0)))
        return refuse(why, "orth_error out of range");
    if (in->columns < in->updates || cur > in->columns)
        return refuse(why, "counters disagree (columns, updates, tracked)");
    if (s->p.reorth_every ? in->since_reorth > in->updates : in->since_reorth != 0)
        return refuse(why, "since_reorth out of range");
    for (size_t j = 0; j < q; j++) {
        double v = in->s[j];
        if (!isfinite(v) || v < 0.0 || (j >= cur && v != 0.0) || (j > 0 && v > in->s[j - 1]))
            return refuse(why, "singular values not finite, descending and zero past tracked");
    }
    for (size_t k = 0; k < m * cur; k++)
        if (!isfinite(in->u[k]))
            return refuse(why, "basis not finite");
    if (cur > 0 && gram_orth_error(in->u, m, cur, s->w->gram) > SPX_ISVD_SNAPSHOT_ORTH_TOL)
        return refuse(why, "basis not orthonormal");
    spx_isvd_state_clear(&s->st);
    memcpy(s->u, in->u, m * cur * sizeof *s->u);
    memcpy(s->s, in->s, q * sizeof *s->s);
    s->st.cur = cur;
    s->st.energy = in->energy;
    s->st.discarded = in->discarded;
    s->orth_error = in->orth_error;
    s->updates = in->updates;
    s->columns = in->columns;
    s->since_reorth = in->since_reorth;
    return 0;
}
