/* The forecaster's RLS against batch least squares solved by LAPACK in the test. */
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#include <lapacke.h>

#include "forecast_rls.h"
#include "rng.h"

static void one_blas_thread(void) { openblas_set_num_threads(1); }
TestSuite(forecast_rls, .init = one_blas_thread);

static double *randn(size_t n, uint64_t seed)
{
    spx_rng g;
    spx_rng_seed(&g, seed);
    double *x = malloc(n * sizeof *x);
    cr_assert(x);
    spx_rng_normal_fill(&g, x, n);
    return x;
}

static double rel_diff(const double *a, const double *b, size_t n)
{
    double d = 0.0, s = 0.0;
    for (size_t i = 0; i < n; i++) {
        d += (a[i] - b[i]) * (a[i] - b[i]);
        s += b[i] * b[i];
    }
    return sqrt(d / s);
}

/* y = x W0 + noise, with correlated features so the problem is not trivially conditioned */
static void make_problem(size_t n, size_t k, size_t m, double **x, double **y, uint64_t seed)
{
    *x = randn(n * k, seed);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 1; j < k; j++)
            (*x)[i * k + j] += 0.7 * (*x)[i * k + j - 1];
    double *w0 = randn(k * m, seed + 1);
    *y = randn(n * m, seed + 2);
    for (size_t i = 0; i < n * m; i++)
        (*y)[i] *= 0.1;
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, (int)m, (int)k, 1.0, *x, (int)k,
                w0, (int)m, 1.0, *y, (int)m);
    free(w0);
}

/* Ridge by dgels on the augmented system [X; sqrt(delta) I] W = [Y; 0]: no normal equations. */
static double *ridge_dgels(const double *x, const double *y, size_t n, size_t k, size_t m,
                           double delta)
{
    double *a = calloc((n + k) * k, sizeof *a), *b = calloc((n + k) * m, sizeof *b);
    cr_assert(a && b);
    memcpy(a, x, n * k * sizeof *a);
    memcpy(b, y, n * m * sizeof *b);
    for (size_t i = 0; i < k; i++)
        a[(n + i) * k + i] = sqrt(delta);
    cr_assert_eq(LAPACKE_dgels(LAPACK_ROW_MAJOR, 'N', (lapack_int)(n + k), (lapack_int)k,
                               (lapack_int)m, a, (lapack_int)k, b, (lapack_int)m),
                 0);
    free(a);
    double *w = malloc(k * m * sizeof *w);
    memcpy(w, b, k * m * sizeof *w);
    free(b);
    return w;
}

Test(forecast_rls, equals_batch_least_squares_without_forgetting)
{
    const size_t n = 600, k = 12, m = 5, maxb = 7;
    const double delta = 1e-3;
    double *x, *y;
    make_problem(n, k, m, &x, &y, 11);
    spx_forecast_rls r;
    cr_assert_eq(spx_forecast_rls_init(&r, k, m, maxb, 1.0, delta, 16), 0);
    /* batches of 1..7 rows, as the C channels of a time step arrive */
    for (size_t i = 0, b = 1; i < n; i += b, b = b % maxb + 1) {
        const size_t nb = n - i < b ? n - i : b;
        cr_assert_eq(spx_forecast_rls_update(&r, x + i * k, y + i * m, nb), 0);
    }
    double *w = ridge_dgels(x, y, n, k, m, delta);
    const double e = rel_diff(r.w, w, k * m);
    cr_expect_lt(e, 1e-8, "RLS vs dgels ridge: relative difference %.3g", e);

    /* P = (X^T X + delta I)^-1: check P (X^T X + delta I) = I with a dposv solve */
    double *g = calloc(k * k, sizeof *g), *eye = calloc(k * k, sizeof *eye);
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)k, (int)n, 1.0, x, (int)k, 0.0, g,
                (int)k);
    for (size_t i = 0; i < k; i++) {
        g[i * k + i] += delta;
        eye[i * k + i] = 1.0;
    }
    cr_assert_eq(LAPACKE_dposv(LAPACK_ROW_MAJOR, 'U', (lapack_int)k, (lapack_int)k, g,
                               (lapack_int)k, eye, (lapack_int)k),
                 0);
    spx_forecast_rls_symmetrize(&r);
    const double ep = rel_diff(r.p, eye, k * k);
    cr_expect_lt(ep, 1e-8, "P vs (X^T X + delta I)^-1: %.3g", ep);
    for (size_t i = 0; i < k; i++)
        for (size_t j = 0; j < k; j++)
            cr_assert_eq(r.p[i * k + j], r.p[j * k + i]);
    free(g);
    free(eye);
    free(w);
    spx_forecast_rls_free(&r);
    free(x);
    free(y);
}

Test(forecast_rls, warm_start_then_stream_equals_batch)
{
    const size_t n = 500, n0 = 200, k = 9, m = 4;
    const double delta = 0.5;
    double *x, *y;
    make_problem(n, k, m, &x, &y, 21);
    double *g = calloc(k * k, sizeof *g), *b = calloc(k * m, sizeof *b);
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)k, (int)n0, 1.0, x, (int)k, 0.0, g,
                (int)k);
    for (size_t i = 0; i < k; i++)
        g[i * k + i] += delta;
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)k, (int)m, (int)n0, 1.0, x, (int)k, y,
                (int)m, 0.0, b, (int)m);
    spx_forecast_rls r;
    cr_assert_eq(spx_forecast_rls_init(&r, k, m, 3, 1.0, delta, 0), 0);
    cr_assert_eq(spx_forecast_rls_set_gram(&r, g, b), 0);
    for (size_t i = n0; i < n; i += 3)
        cr_assert_eq(spx_forecast_rls_update(&r, x + i * k, y + i * m, n - i < 3 ? n - i : 3), 0);
    double *w = ridge_dgels(x, y, n, k, m, delta);
    const double e = rel_diff(r.w, w, k * m);
    cr_expect_lt(e, 1e-8, "warm start + RLS vs dgels: %.3g", e);
    free(w);
    free(g);
    free(b);
    spx_forecast_rls_free(&r);
    free(x);
    free(y);
}

/* With forgetting, at every checkpoint RLS is exactly the exponentially weighted ridge solution:
 * batch j (of T) weighs lambda^(T-1-j), the ridge stays delta (the forgotten prior is given back). */
Test(forecast_rls, forgetting_equals_weighted_ridge_at_checkpoints)
{
    const size_t nbatch = 150, bsz = 4, k = 6, m = 3, n = nbatch * bsz;
    const double delta = 2.0, lam = 0.98;
    double *x, *y;
    make_problem(n, k, m, &x, &y, 31);
    spx_forecast_rls r;
    cr_assert_eq(spx_forecast_rls_init(&r, k, m, bsz, lam, delta, 10), 0);
    cr_assert_eq(r.interval, 10);
    for (size_t j = 0; j < nbatch; j++)
        cr_assert_eq(spx_forecast_rls_update(&r, x + j * bsz * k, y + j * bsz * m, bsz), 0);
    cr_assert_eq(r.since, 0, "150 updates end on a checkpoint");
    /* weighted rows through dgels: scale rows of batch j by sqrt(lambda^(T-1-j)) */
    double *xs = malloc(n * k * sizeof *xs), *ys = malloc(n * m * sizeof *ys);
    for (size_t j = 0; j < nbatch; j++) {
        const double s = sqrt(pow(lam, (double)(nbatch - 1 - j)));
        for (size_t i = j * bsz; i < (j + 1) * bsz; i++) {
            for (size_t a = 0; a < k; a++)
                xs[i * k + a] = s * x[i * k + a];
            for (size_t a = 0; a < m; a++)
                ys[i * m + a] = s * y[i * m + a];
        }
    }
    double *w = ridge_dgels(xs, ys, n, k, m, delta);
    const double e = rel_diff(r.w, w, k * m);
    cr_expect_lt(e, 1e-8, "forgetting RLS vs weighted ridge by dgels: %.3g", e);
    for (size_t i = 0; i < k; i++)
        for (size_t j = 0; j < k; j++)
            cr_assert_eq(r.p[i * k + j], r.p[j * k + i]);
    free(w);
    free(xs);
    free(ys);
    spx_forecast_rls_free(&r);
    free(x);
    free(y);
}

/* A feature that is always zero is never excited: with plain forgetting its P entry would grow as
 * lambda^-t (0.9^-20000 overflows). Regularised forgetting keeps it near 1/delta, and the excited
 * directions keep learning at full speed. */
Test(forecast_rls, regularised_forgetting_prevents_windup)
{
    const size_t k = 5, m = 2, n = 20000;
    const double delta = 1e-3;
    spx_forecast_rls r;
    cr_assert_eq(spx_forecast_rls_init(&r, k, m, 1, 0.9, delta, 64), 0);
    cr_assert_eq(r.interval, 6, "0.9^6 > 1/2 > 0.9^7");
    spx_rng g;
    spx_rng_seed(&g, 5);
    double x[5], y[2];
    for (size_t t = 0; t < n; t++) {
        for (size_t i = 0; i < k - 1; i++)
            x[i] = spx_rng_normal(&g);
        x[k - 1] = 0.0;
        y[0] = x[0] - 0.5 * x[1];
        y[1] = x[2];
        cr_assert_eq(spx_forecast_rls_update(&r, x, y, 1), 0);
        cr_assert_leq(r.p[(k - 1) * k + (k - 1)], 2.0 / delta);
    }
    for (size_t i = 0; i < k; i++)
        cr_assert(isfinite(r.p[i * k + i]) && r.p[i * k + i] > 0.0);
    cr_expect_eq(r.resets, 0);
    /* memory ~ 1/(1 - 0.9) = 10 samples, ridge 1e-3: shrinkage ~1e-4 */
    cr_expect_lt(fabs(r.w[0 * m + 0] - 1.0), 1e-3);
    cr_expect_lt(fabs(r.w[1 * m + 0] + 0.5), 1e-3);
    cr_expect_lt(fabs(r.w[2 * m + 1] - 1.0), 1e-3);
    spx_forecast_rls_free(&r);
}

/* Rotating the coordinates (W <- R W, P <- R P R^T) leaves predictions on rotated features, and
 * every later update, unchanged. */
Test(forecast_rls, rotation_is_a_change_of_coordinates)
{
    const size_t n = 300, k = 8, m = 3;
    double *x, *y;
    make_problem(n, k, m, &x, &y, 41);
    spx_forecast_rls a, b;
    cr_assert_eq(spx_forecast_rls_init(&a, k, m, 1, 0.99, 1.0, 16), 0);
    cr_assert_eq(spx_forecast_rls_init(&b, k, m, 1, 0.99, 1.0, 16), 0);
    /* a random orthogonal R from the QR of a Gaussian matrix */
    double *rot = randn(k * k, 43), tau[8];
    cr_assert_eq(LAPACKE_dgeqrf(LAPACK_ROW_MAJOR, (lapack_int)k, (lapack_int)k, rot, (lapack_int)k, tau),
                 0);
    cr_assert_eq(LAPACKE_dorgqr(LAPACK_ROW_MAJOR, (lapack_int)k, (lapack_int)k, (lapack_int)k, rot,
                                (lapack_int)k, tau),
                 0);
    double *work = malloc(2 * k * k * sizeof *work), xr[8], ya[3], yb[3];
    for (size_t i = 0; i < n; i++) {
        if (i == n / 2)
            spx_forecast_rls_rotate(&b, rot, work);
        const double *xi = x + i * k;
        if (i >= n / 2) {
            cblas_dgemv(CblasRowMajor, CblasNoTrans, (int)k, (int)k, 1.0, rot, (int)k, xi, 1, 0.0,
                        xr, 1);
        } else {
            memcpy(xr, xi, k * sizeof *xr);
        }
        spx_forecast_rls_predict(&a, xi, 1, ya);
        spx_forecast_rls_predict(&b, xr, 1, yb);
        for (size_t j = 0; j < m; j++)
            cr_assert_lt(fabs(ya[j] - yb[j]), 1e-9 * (1.0 + fabs(ya[j])));
        spx_forecast_rls_update(&a, xi, y + i * m, 1);
        spx_forecast_rls_update(&b, xr, y + i * m, 1);
    }
    free(work);
    free(rot);
    spx_forecast_rls_free(&a);
    spx_forecast_rls_free(&b);
    free(x);
    free(y);
}

Test(forecast_rls, bad_arguments)
{
    spx_forecast_rls r;
    cr_expect_eq(spx_forecast_rls_init(&r, 0, 1, 1, 1.0, 1.0, 0), -EINVAL);
    cr_expect_eq(spx_forecast_rls_init(&r, 2, 1, 1, 0.0, 1.0, 0), -EINVAL);
    cr_expect_eq(spx_forecast_rls_init(&r, 2, 1, 1, 1.5, 1.0, 0), -EINVAL);
    cr_expect_eq(spx_forecast_rls_init(&r, 2, 1, 1, 1.0, 0.0, 0), -EINVAL);
    cr_expect_eq(spx_forecast_rls_init(&r, 2, 1, 1, 0.99, 1.0, 0), -EINVAL);
    cr_assert_eq(spx_forecast_rls_init(&r, 2, 1, 2, 1.0, 1.0, 0), 0);
    double x[6] = {0}, y[3] = {0};
    cr_expect_eq(spx_forecast_rls_update(&r, x, y, 3), -EINVAL);
    cr_expect_eq(spx_forecast_rls_update(&r, x, y, 0), -EINVAL);
    spx_forecast_rls_free(&r);
}
