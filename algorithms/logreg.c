#include "logreg.h"

#include <cblas.h>
#include <errno.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct spx_logreg {
    spx_logreg_params p;
    size_t d, max_n;
    int fitted, iterations;
    double *w, b;
    /* fit buffers */
    double *gram;   /* max_n x max_n: Gram matrix, then its eigenvectors */
    double *eig;    /* max_n */
    double *z;      /* max_n x r: the data in the working basis */
    double *beta, *trial, *grad, *step, *hess, *margin, *dvec;
};

void spx_logreg_params_default(spx_logreg_params *p)
{
    p->c = 1.0;
    p->tol = 1e-9;
    p->max_iter = 100;
}

int spx_logreg_create(spx_logreg **out, size_t n_features, size_t max_samples,
                      const spx_logreg_params *p)
{
    if (!out || n_features == 0 || max_samples < 2 || max_samples > 1u << 16)
        return -EINVAL;
    *out = NULL;
    spx_logreg *lr = calloc(1, sizeof *lr);
    if (!lr)
        return -ENOMEM;
    spx_logreg_params_default(&lr->p);
    if (p)
        lr->p = *p;
    if (!(lr->p.c > 0) || !(lr->p.tol > 0) || lr->p.max_iter < 1) {
        free(lr);
        return -EINVAL;
    }
    lr->d = n_features;
    lr->max_n = max_samples;
    size_t r = n_features < max_samples ? n_features : max_samples;
    lr->w = calloc(n_features, sizeof *lr->w);
    lr->gram = malloc(max_samples * max_samples * sizeof *lr->gram);
    lr->eig = malloc(max_samples * sizeof *lr->eig);
    lr->z = malloc(max_samples * r * sizeof *lr->z);
    lr->beta = malloc((r + 1) * sizeof *lr->beta);
    lr->trial = malloc((r + 1) * sizeof *lr->trial);
    lr->grad = malloc((r + 1) * sizeof *lr->grad);
    lr->step = malloc((r + 1) * sizeof *lr->step);
    lr->hess = malloc((r + 1) * (r + 1) * sizeof *lr->hess);
    lr->margin = malloc(max_samples * sizeof *lr->margin);
    lr->dvec = malloc(max_samples * sizeof *lr->dvec);
    if (!lr->w || !lr->gram || !lr->eig || !lr->z || !lr->beta || !lr->trial || !lr->grad ||
        !lr->step || !lr->hess || !lr->margin || !lr->dvec) {
        spx_logreg_free(lr);
        return -ENOMEM;
    }
    *out = lr;
    return 0;
}

void spx_logreg_free(spx_logreg *lr)
{
    if (!lr)
        return;
    free(lr->w);
    free(lr->gram);
    free(lr->eig);
    free(lr->z);
    free(lr->beta);
    free(lr->trial);
    free(lr->grad);
    free(lr->step);
    free(lr->hess);
    free(lr->margin);
    free(lr->dvec);
    free(lr);
}

double spx_logreg_sigmoid(double s)
{
    if (s >= 0)
        return 1.0 / (1.0 + exp(-s));
    double e = exp(s);
    return e / (1.0 + e);
}

/* log(1 + exp(-t)) without overflow. */
static double log1pexp_neg(double t)
{
    return t > 0 ? log1p(exp(-t)) : -t + log1p(exp(t));
}

/* Objective at (beta[0..r), beta[r] = intercept) for data z (n x r); margins s_i * f_i saved. */
static double objective(const spx_logreg *lr, const double *z, const int *y, size_t n, size_t r,
                        const double *beta, double *margin)
{
    double reg = 0;
    for (size_t j = 0; j < r; j++)
        reg += beta[j] * beta[j];
    double loss = 0;
    for (size_t i = 0; i < n; i++) {
        double f = beta[r];
        const double *zi = z + i * r;
        for (size_t j = 0; j < r; j++)
            f += zi[j] * beta[j];
        double m = y[i] ? f : -f;
        margin[i] = m;
        loss += log1pexp_neg(m);
    }
    return 0.5 * reg + lr->p.c * loss;
}

int spx_logreg_fit(spx_logreg *lr, const double *x, const int *y, size_t n)
{
    if (!lr || !x || !y || n < 2 || n > lr->max_n)
        return -EINVAL;
    size_t n1 = 0;
    for (size_t i = 0; i < n; i++) {
        if (y[i] != 0 && y[i] != 1)
            return -EINVAL;
        n1 += (size_t)y[i];
    }
    if (n1 == 0 || n1 == n)
        return -EINVAL;
    lr->fitted = 0;
    const size_t d = lr->d;
    const int reduced = d > n;
    size_t r;
    if (!reduced) {
        r = d;
        memcpy(lr->z, x, n * d * sizeof *x);
    } else {
        /* Row-space basis: X X^T = U diag(l) U^T; Z = U_r diag(sqrt l_r) has Z Z^T = X X^T, and
         * w = X^T U_r diag(l_r^-1/2) beta maps a solution on Z back to the features. */
        cblas_dsyrk(CblasColMajor, CblasUpper, CblasTrans, (int)n, (int)d, 1.0, x, (int)d, 0.0,
                    lr->gram, (int)n);
        lapack_int info = LAPACKE_dsyevd(LAPACK_COL_MAJOR, 'V', 'U', (lapack_int)n, lr->gram,
                                         (lapack_int)n, lr->eig);
        if (info)
            return info < 0 ? -EINVAL : -EIO;
        double lmax = lr->eig[n - 1];
        size_t first = 0;
        while (first < n && !(lr->eig[first] > 1e-12 * lmax))
            first++;
        r = n - first;
        if (r == 0)
            return -EINVAL;
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < r; j++)
                lr->z[i * r + j] = lr->gram[i + (first + j) * n] * sqrt(lr->eig[first + j]);
    }
    const double *z = lr->z;
    const size_t m = r + 1;
    const double c = lr->p.c;
    memset(lr->beta, 0, m * sizeof *lr->beta);
    double f = objective(lr, z, y, n, r, lr->beta, lr->margin);
    int converged = 0, it;
    for (it = 0; it < lr->p.max_iter; it++) {
        /* gradient and Hessian */
        memcpy(lr->grad, lr->beta, r * sizeof *lr->grad);
        lr->grad[r] = 0;
        memset(lr->hess, 0, m * m * sizeof *lr->hess);
        for (size_t j = 0; j < r; j++)
            lr->hess[j * m + j] = 1.0;
        for (size_t i = 0; i < n; i++) {
            double s = y[i] ? 1.0 : -1.0;
            double q = spx_logreg_sigmoid(-lr->margin[i]); /* = 1 - P(correct) */
            double g = -c * s * q;
            double h = c * q * (1.0 - q);
            const double *zi = z + i * r;
            for (size_t j = 0; j < r; j++)
                lr->grad[j] += g * zi[j];
            lr->grad[r] += g;
            lr->dvec[i] = h;
        }
        double gmax = 0;
        for (size_t j = 0; j < m; j++)
            gmax = fmax(gmax, fabs(lr->grad[j]));
        if (gmax <= lr->p.tol) {
            converged = 1;
            break;
        }
        for (size_t i = 0; i < n; i++) {
            const double *zi = z + i * r;
            double h = lr->dvec[i];
            for (size_t a = 0; a < r; a++) {
                double ha = h * zi[a];
                for (size_t bb = a; bb < r; bb++)
                    lr->hess[a * m + bb] += ha * zi[bb];
                lr->hess[a * m + r] += ha;
            }
            lr->hess[r * m + r] += h;
        }
        for (size_t j = 0; j < m; j++)
            lr->step[j] = -lr->grad[j];
        /* Upper triangle filled (row-major); dposv reads only it. */
        lapack_int info = LAPACKE_dposv(LAPACK_ROW_MAJOR, 'U', (lapack_int)m, 1, lr->hess,
                                        (lapack_int)m, lr->step, 1);
        if (info)
            return info < 0 ? -EINVAL : -EIO;
        double slope = 0;
        for (size_t j = 0; j < m; j++)
            slope += lr->grad[j] * lr->step[j];
        double t = 1.0, fnew = f;
        int accepted = 0;
        for (int ls = 0; ls < 60; ls++) {
            for (size_t j = 0; j < m; j++)
                lr->trial[j] = lr->beta[j] + t * lr->step[j];
            fnew = objective(lr, z, y, n, r, lr->trial, lr->dvec);
            if (fnew <= f + 1e-4 * t * slope) {
                accepted = 1;
                break;
            }
            t *= 0.5;
        }
        if (!accepted) {
            /* No decrease is representable any more: we are at the optimum to rounding. */
            converged = 1;
            break;
        }
        memcpy(lr->beta, lr->trial, m * sizeof *lr->beta);
        memcpy(lr->margin, lr->dvec, n * sizeof *lr->margin);
        f = fnew;
    }
    lr->iterations = it;
    if (!reduced) {
        memcpy(lr->w, lr->beta, d * sizeof *lr->w);
    } else {
        /* alpha = U_r diag(l_r^-1/2) beta (reuse dvec), w = X^T alpha. */
        size_t first = n - r;
        for (size_t i = 0; i < n; i++) {
            double a = 0;
            for (size_t j = 0; j < r; j++)
                a += lr->gram[i + (first + j) * n] * lr->beta[j] / sqrt(lr->eig[first + j]);
            lr->dvec[i] = a;
        }
        cblas_dgemv(CblasRowMajor, CblasTrans, (int)n, (int)d, 1.0, x, (int)d, lr->dvec, 1, 0.0,
                    lr->w, 1);
    }
    lr->b = lr->beta[r];
    lr->fitted = 1;
    return converged ? 0 : -ERANGE;
}

int spx_logreg_decision(const spx_logreg *lr, const double *x, double *score)
{
    if (!lr || !x || !score || !lr->fitted)
        return -EINVAL;
    *score = cblas_ddot((int)lr->d, lr->w, 1, x, 1) + lr->b;
    return 0;
}

const double *spx_logreg_coef(const spx_logreg *lr, double *intercept)
{
    if (!lr || !lr->fitted)
        return NULL;
    if (intercept)
        *intercept = lr->b;
    return lr->w;
}

int spx_logreg_set_coef(spx_logreg *lr, const double *w, double b)
{
    if (!lr || !w || !isfinite(b))
        return -EINVAL;
    memcpy(lr->w, w, lr->d * sizeof *w);
    lr->b = b;
    lr->fitted = 1;
    return 0;
}

int spx_logreg_iterations(const spx_logreg *lr) { return lr ? lr->iterations : 0; }
