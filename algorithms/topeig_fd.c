/* Frequent Directions (Liberty 2013; Ghashami, Liberty, Phillips & Woodruff 2016), the fast variant
 * with a 2l-row buffer. Rows are appended verbatim; when the buffer is full its Gram matrix
 * G = B B^T = U diag(mu) U^T is diagonalised (dsyevd on 2l x 2l rather than an SVD of 2l x d: the
 * Gram matrix costs one SYRK and the small eigenproblem is cheap), the shrinkage is
 * delta = mu_{l+1} (the (l+1)-th largest), and the buffer becomes the l rows
 *     sqrt((mu_i - delta) / mu_i) u_i^T B,  i = 1..l,
 * i.e. the right singular vectors of B scaled by sqrt(sigma_i^2 - delta). Guarantee: for every
 * unit x, 0 <= x^T (A^T A - B^T B) x <= sum of deltas <= ||A - A_k||_F^2 / (l + 1 - k). With
 * l >= d nothing is ever shrunk (rank <= d < l + 1), so the sketch is exact.
 * The Gram matrix squares the condition number, which only affects directions with
 * mu_i ~ 1e-16 mu_1: those are shrunk away anyway.
 * When l reaches d (the default for d <= 128) no shrinkage can ever happen and the sketch is A^T A
 * itself, so the buffer is folded into a d x d A^T A with one SYRK whenever it fills (d^2 flops per
 * row instead of ~8 l d plus a 2l x 2l eigenproblem per l rows: 45 k -> millions of rows/s at
 * d = 100), and the result diagonalises it. */
#include "topeig_internal.h"

#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static int fd_init(spx_topeig *t)
{
    spx_topeig_fd *f = &t->fd;
    const size_t d = t->d, k = t->k;
    size_t l = t->p.sketch_rows;
    if (l == 0)
        l = 2 * k > 128 ? 2 * k : 128;
    if (l > d)
        l = d; /* rank <= d: a larger sketch holds nothing more */
    if (l < k)
        l = k;
    f->l = l;
    f->cap = 2 * l;
    f->exact = l == d;
    const size_t cap = f->cap;

    double wq = 0;
    lapack_int iwq = 0;
    LAPACKE_dsyevd_work(LAPACK_COL_MAJOR, 'V', 'U', (lapack_int)cap, NULL, (lapack_int)cap, NULL,
                        &wq, -1, &iwq, -1);
    f->lwork = (size_t)wq + 1;
    f->liwork = (size_t)iwq + 1;

    f->B = calloc(cap * d, sizeof *f->B);
    f->B2 = calloc(cap * d, sizeof *f->B2);
    f->G = calloc(cap * cap, sizeof *f->G);
    f->mu = calloc(cap, sizeof *f->mu);
    f->C = calloc(cap * cap, sizeof *f->C);
    f->work = calloc(f->lwork, sizeof *f->work);
    f->iwork = calloc(f->liwork, sizeof *f->iwork);
    if (f->exact)
        f->cov = calloc(d * d, sizeof *f->cov);
    if (!f->B || !f->B2 || !f->G || !f->mu || !f->C || !f->work || !f->iwork || (f->exact && !f->cov))
        return -ENOMEM;
    return 0;
}

static void fd_release(spx_topeig *t)
{
    spx_topeig_fd *f = &t->fd;
    free(f->B);
    free(f->B2);
    free(f->G);
    free(f->mu);
    free(f->C);
    free(f->work);
    free(f->iwork);
    free(f->cov);
}

/* Eigen-decomposes the Gram matrix of the first m buffer rows into f->G (eigenvectors, columns)
 * and f->mu (ascending). */
static void gram_eigen(const spx_topeig_fd *f, size_t d, size_t m)
{
    cblas_dsyrk(CblasColMajor, CblasUpper, CblasTrans, (int)m, (int)d, 1.0, f->B, (int)d, 0.0,
                f->G, (int)m);
    LAPACKE_dsyevd_work(LAPACK_COL_MAJOR, 'V', 'U', (lapack_int)m, f->G, (lapack_int)m, f->mu,
                        f->work, (lapack_int)f->lwork, f->iwork, (lapack_int)f->liwork);
}

static void fd_compress(spx_topeig *t)
{
    spx_topeig_fd *f = &t->fd;
    const size_t d = t->d, cap = f->cap, l = f->l;
    if (f->exact) {
        cblas_dsyrk(CblasColMajor, CblasUpper, CblasNoTrans, (int)d, (int)cap, 1.0, f->B, (int)d,
                    1.0, f->cov, (int)d);
        f->filled = 0;
        return;
    }
    gram_eigen(f, d, cap);
    /* Descending: mu_desc[i] = mu[cap - 1 - i], eigenvector column cap - 1 - i. */
    double delta = f->mu[cap - 1 - l];
    if (delta < 0.0)
        delta = 0.0;
    size_t keep = 0;
    for (size_t i = 0; i < l; i++) {
        double mu = f->mu[cap - 1 - i];
        double c = mu > delta ? sqrt((mu - delta) / mu) : 0.0;
        if (c == 0.0)
            break;
        const double *u = f->G + (cap - 1 - i) * cap;
        for (size_t j = 0; j < cap; j++)
            f->C[i * cap + j] = c * u[j];
        keep++;
    }
    if (keep)
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)keep, (int)d, (int)cap, 1.0,
                    f->C, (int)cap, f->B, (int)d, 0.0, f->B2, (int)d);
    double *tmp = f->B;
    f->B = f->B2;
    f->B2 = tmp;
    f->filled = keep;
    f->shrink += delta;
}

static void fd_update_f64(spx_topeig *t, const double *rows, size_t n)
{
    spx_topeig_fd *f = &t->fd;
    const size_t d = t->d;
    for (size_t r = 0; r < n; r++) {
        const double *x = rows + r * d;
        double xx;
        double xr = spx_topeig_dot_norm_f64(x, t->order.ref, d, &xx);
        spx_topeig_row_seen(t, xx, xr);
        memcpy(f->B + f->filled * d, x, d * sizeof *x);
        if (++f->filled == f->cap)
            fd_compress(t);
    }
}

static void fd_update_f32(spx_topeig *t, const float *rows, size_t n)
{
    spx_topeig_fd *f = &t->fd;
    const size_t d = t->d;
    for (size_t r = 0; r < n; r++) {
        const float *x = rows + r * d;
        double *dst = f->B + f->filled * d, xx;
        for (size_t i = 0; i < d; i++)
            dst[i] = x[i];
        double xr = spx_topeig_dot_norm_f64(dst, t->order.ref, d, &xx); /* as the f64 path */
        spx_topeig_row_seen(t, xx, xr);
        if (++f->filled == f->cap)
            fd_compress(t);
    }
}

static void fd_result(const spx_topeig *t, spx_topeig_result *out)
{
    const spx_topeig_fd *f = &t->fd;
    const size_t d = t->d, k = t->k, m = f->filled;
    const double n = t->rows ? (double)t->rows : 1.0;
    memset(t->vec, 0, k * d * sizeof *t->vec);
    memset(t->eig, 0, k * sizeof *t->eig);
    if (f->exact && t->rows > 0) {
        /* A^T A = cov + the rows still buffered; eigenvectors into G (d x d fits: cap = 2d). */
        memcpy(f->G, f->cov, d * d * sizeof *f->G);
        if (m)
            cblas_dsyrk(CblasColMajor, CblasUpper, CblasNoTrans, (int)d, (int)m, 1.0, f->B, (int)d,
                        1.0, f->G, (int)d);
        LAPACKE_dsyevd_work(LAPACK_COL_MAJOR, 'V', 'U', (lapack_int)d, f->G, (lapack_int)d, f->mu,
                            f->work, (lapack_int)f->lwork, f->iwork, (lapack_int)f->liwork);
        for (size_t i = 0; i < k; i++) {
            double mu = f->mu[d - 1 - i];
            memcpy(t->vec + i * d, f->G + (d - 1 - i) * d, d * sizeof *t->vec);
            t->eig[i] = (mu > 0.0 ? mu : 0.0) / n;
        }
        out->gap = d >= 2 && f->mu[d - 2] > 0.0 ? f->mu[d - 1] / f->mu[d - 2] : 0.0;
        return;
    }
    if (m == 0) {
        for (size_t i = 0; i < k; i++)
            t->vec[i * d + i] = 1.0;
        return;
    }
    gram_eigen(f, d, m);
    /* v_i = B^T u_i / sqrt(mu_i): as a GEMM, V (k x d) = (diag(mu^-1/2) U_k^T) B. */
    size_t kk = k < m ? k : m;
    for (size_t i = 0; i < kk; i++) {
        double mu = f->mu[m - 1 - i];
        double c = mu > 0.0 ? 1.0 / sqrt(mu) : 0.0;
        const double *u = f->G + (m - 1 - i) * m;
        for (size_t j = 0; j < m; j++)
            f->C[i * m + j] = c * u[j];
        /* Every compression shrinks each kept direction by delta, so a direction that stayed in
         * the sketch lost exactly the total shrinkage: add it back (an upper bound in general). */
        t->eig[i] = ((mu > 0.0 ? mu : 0.0) + f->shrink) / n;
    }
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)kk, (int)d, (int)m, 1.0, f->C,
                (int)m, f->B, (int)d, 0.0, t->vec, (int)d);
    /* Directions the sketch does not span (rank < k) stay zero rows; fill them with unit vectors
     * orthogonal to the rest so the result keeps orthonormal rows. */
    for (size_t i = 0; i < k; i++) {
        double *v = t->vec + i * d;
        double nn = 0.0;
        for (size_t c = 0; c < d; c++)
            nn += v[c] * v[c];
        if (nn > 0.5)
            continue;
        for (size_t e = 0; e < d; e++) {
            memset(v, 0, d * sizeof *v);
            v[e] = 1.0;
            for (size_t j = 0; j < k; j++) {
                if (j == i)
                    continue;
                const double *u = t->vec + j * d;
                double s = 0.0;
                for (size_t c = 0; c < d; c++)
                    s += u[c] * v[c];
                for (size_t c = 0; c < d; c++)
                    v[c] -= s * u[c];
            }
            nn = 0.0;
            for (size_t c = 0; c < d; c++)
                nn += v[c] * v[c];
            if (nn > 0.5) {
                double inv = 1.0 / sqrt(nn);
                for (size_t c = 0; c < d; c++)
                    v[c] *= inv;
                break;
            }
        }
    }
    double mu1 = f->mu[m - 1], mu2 = m >= 2 ? f->mu[m - 2] : 0.0;
    out->gap = mu2 > 0.0 ? (mu1 + f->shrink) / (mu2 + f->shrink) : 0.0;
    out->shrink = f->shrink / n;
}

const spx_topeig_method_ops spx_topeig_fd_ops = {
    .init = fd_init,
    .release = fd_release,
    .update_f64 = fd_update_f64,
    .update_f32 = fd_update_f32,
    .result = fd_result,
};
