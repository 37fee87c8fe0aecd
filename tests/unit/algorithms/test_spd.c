/* SPD toolkit against direct LAPACK computations and exact identities. */
#include <criterion/criterion.h>

#include <cblas.h>
#include <errno.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"
#include "spd.h"

/* Random orthogonal Q (row-major) from the QR factorisation of a Gaussian matrix. */
static void random_orthogonal(spx_rng *r, size_t n, double *q)
{
    double *tau = malloc(n * sizeof *tau);
    spx_rng_normal_fill(r, q, n * n);
    cr_assert_eq(LAPACKE_dgeqrf(LAPACK_ROW_MAJOR, (int)n, (int)n, q, (int)n, tau), 0);
    cr_assert_eq(LAPACKE_dorgqr(LAPACK_ROW_MAJOR, (int)n, (int)n, (int)n, q, (int)n, tau), 0);
    free(tau);
}

/* A = Q diag(eig) Q^T with eigenvalues log-uniform in [1/sqrt(cond), sqrt(cond)]. */
static void random_spd(spx_rng *r, size_t n, double cond, double *a, double *eig_out)
{
    double *q = malloc(n * n * sizeof *q), *qd = malloc(n * n * sizeof *qd);
    random_orthogonal(r, n, q);
    for (size_t j = 0; j < n; j++) {
        double e = exp((spx_rng_uniform(r) - 0.5) * log(cond));
        if (eig_out) eig_out[j] = e;
        for (size_t i = 0; i < n; i++)
            qd[i * n + j] = q[i * n + j] * e;
    }
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)n, (int)n, 1.0, qd, (int)n,
                q, (int)n, 0.0, a, (int)n);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < i; j++)
            a[i * n + j] = a[j * n + i] = 0.5 * (a[i * n + j] + a[j * n + i]);
    free(q);
    free(qd);
}

static double max_abs_diff(const double *a, const double *b, size_t len)
{
    double m = 0;
    for (size_t i = 0; i < len; i++)
        m = fmax(m, fabs(a[i] - b[i]));
    return m;
}

static double max_abs(const double *a, size_t len)
{
    double m = 0;
    for (size_t i = 0; i < len; i++)
        m = fmax(m, fabs(a[i]));
    return m;
}

static void matmul(size_t n, const double *a, const double *b, double *c)
{
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, (int)n, (int)n, 1.0, a, (int)n,
                b, (int)n, 0.0, c, (int)n);
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

/* Independent distance: L = chol(B), eigenvalues of L^-1 A L^-T by triangular solves + dsyev. */
static double direct_distance(size_t n, const double *a, const double *b)
{
    double *l = malloc(n * n * sizeof *l), *m = malloc(n * n * sizeof *m), *w = malloc(n * sizeof *w);
    memcpy(l, b, n * n * sizeof *l);
    memcpy(m, a, n * n * sizeof *m);
    cr_assert_eq(LAPACKE_dpotrf(LAPACK_ROW_MAJOR, 'L', (int)n, l, (int)n), 0);
    cblas_dtrsm(CblasRowMajor, CblasLeft, CblasLower, CblasNoTrans, CblasNonUnit, (int)n, (int)n,
                1.0, l, (int)n, m, (int)n);
    cblas_dtrsm(CblasRowMajor, CblasRight, CblasLower, CblasTrans, CblasNonUnit, (int)n, (int)n,
                1.0, l, (int)n, m, (int)n);
    cr_assert_eq(LAPACKE_dsyev(LAPACK_ROW_MAJOR, 'N', 'U', (int)n, m, (int)n, w), 0);
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += log(w[i]) * log(w[i]);
    free(l);
    free(m);
    free(w);
    return sqrt(s);
}

#define N 12

Test(spd, eigh_recovers_constructed_spectrum)
{
    spx_rng r;
    spx_rng_seed(&r, 1);
    double a[N * N], eig[N], w[N], v[N * N];
    random_spd(&r, N, 1e4, a, eig);
    spx_spd_ws *ws;
    cr_assert_eq(spx_spd_ws_create(&ws, N), 0);
    cr_assert_eq(spx_spd_eigh(ws, a, w, v), 0);
    qsort(eig, N, sizeof eig[0], cmp_double);
    for (size_t i = 0; i < N; i++)
        cr_assert(fabs(w[i] - eig[i]) <= 1e-12 * eig[N - 1], "eig %zu: %g vs %g", i, w[i], eig[i]);
    /* A v_j = w_j v_j (v column-major). */
    for (size_t j = 0; j < N; j++)
        for (size_t i = 0; i < N; i++) {
            double s = 0;
            for (size_t k = 0; k < N; k++) s += a[i * N + k] * v[k + j * N];
            cr_assert(fabs(s - w[j] * v[i + j * N]) < 1e-10 * eig[N - 1]);
        }
    spx_spd_ws_free(ws);
}

Test(spd, sqrt_invsqrt_power_against_products_and_inverse)
{
    spx_rng r;
    spx_rng_seed(&r, 2);
    double a[N * N], s[N * N], is[N * N], t[N * N], p[N * N], inv[N * N], id[N * N] = {0};
    for (size_t i = 0; i < N; i++) id[i * N + i] = 1;
    random_spd(&r, N, 1e3, a, NULL);
    spx_spd_ws *ws;
    cr_assert_eq(spx_spd_ws_create(&ws, N), 0);
    cr_assert_eq(spx_spd_sqrt(ws, a, s), 0);
    matmul(N, s, s, t);
    cr_assert(max_abs_diff(t, a, N * N) < 1e-11 * max_abs(a, N * N));
    cr_assert_eq(spx_spd_invsqrt(ws, a, is), 0);
    matmul(N, s, is, t);
    cr_assert(max_abs_diff(t, id, N * N) < 1e-11);
    /* Both outputs exactly symmetric. */
    for (size_t i = 0; i < N; i++)
        for (size_t j = 0; j < N; j++)
            cr_assert(s[i * N + j] == s[j * N + i] && is[i * N + j] == is[j * N + i]);
    /* power(-1) against LAPACK's Cholesky inverse. */
    memcpy(inv, a, sizeof inv);
    cr_assert_eq(LAPACKE_dpotrf(LAPACK_ROW_MAJOR, 'U', N, inv, N), 0);
    cr_assert_eq(LAPACKE_dpotri(LAPACK_ROW_MAJOR, 'U', N, inv, N), 0);
    for (size_t i = 0; i < N; i++)
        for (size_t j = 0; j < i; j++) inv[i * N + j] = inv[j * N + i];
    cr_assert_eq(spx_spd_power(ws, a, -1.0, p), 0);
    cr_assert(max_abs_diff(p, inv, N * N) < 1e-10 * max_abs(inv, N * N));
    cr_assert_eq(spx_spd_power(ws, a, 0.5, p), 0);
    cr_assert(max_abs_diff(p, s, N * N) < 1e-12 * max_abs(s, N * N));
    /* out aliasing a */
    memcpy(p, a, sizeof p);
    cr_assert_eq(spx_spd_sqrt(ws, p, p), 0);
    cr_assert(max_abs_diff(p, s, N * N) == 0);
    double s2[N * N], is2[N * N];
    cr_assert_eq(spx_spd_sqrt_invsqrt(ws, a, s2, is2), 0);
    cr_assert(max_abs_diff(s2, s, N * N) == 0 && max_abs_diff(is2, is, N * N) == 0);
    spx_spd_ws_free(ws);
}

Test(spd, log_exp_roundtrip_and_logdet)
{
    spx_rng r;
    spx_rng_seed(&r, 3);
    double a[N * N], l[N * N], e[N * N], ch[N * N];
    random_spd(&r, N, 1e5, a, NULL);
    spx_spd_ws *ws;
    cr_assert_eq(spx_spd_ws_create(&ws, N), 0);
    cr_assert_eq(spx_spd_log(ws, a, l), 0);
    cr_assert_eq(spx_spd_exp(ws, l, e), 0);
    cr_assert(max_abs_diff(e, a, N * N) < 1e-11 * max_abs(a, N * N));
    /* trace(log A) = log det A, det from LAPACK Cholesky. */
    memcpy(ch, a, sizeof ch);
    cr_assert_eq(LAPACKE_dpotrf(LAPACK_ROW_MAJOR, 'U', N, ch, N), 0);
    double logdet = 0, tr = 0;
    for (size_t i = 0; i < N; i++) {
        logdet += 2 * log(ch[i * N + i]);
        tr += l[i * N + i];
    }
    cr_assert(fabs(tr - logdet) < 1e-11 * fmax(1, fabs(logdet)), "%g vs %g", tr, logdet);
    /* exp of a symmetric indefinite matrix is SPD and log brings it back. */
    double s[N * N];
    spx_rng_normal_fill(&r, s, N * N);
    for (size_t i = 0; i < N; i++)
        for (size_t j = 0; j < i; j++) s[i * N + j] = s[j * N + i];
    cr_assert_eq(spx_spd_exp(ws, s, e), 0);
    cr_assert_eq(spx_spd_log(ws, e, l), 0);
    cr_assert(max_abs_diff(l, s, N * N) < 1e-10);
    spx_spd_ws_free(ws);
}

Test(spd, non_spd_is_rejected)
{
    double a[4] = {1, 2, 2, 1}; /* eigenvalues 3, -1 */
    double out[4], d;
    spx_spd_ws *ws;
    cr_assert_eq(spx_spd_ws_create(&ws, 2), 0);
    cr_assert_eq(spx_spd_sqrt(ws, a, out), -EDOM);
    cr_assert_eq(spx_spd_log(ws, a, out), -EDOM);
    double id[4] = {1, 0, 0, 1};
    cr_assert_eq(spx_spd_distance(ws, id, a, &d), -EDOM);
    cr_assert_eq(spx_spd_distance(ws, a, id, &d), -EDOM);
    cr_assert_eq(spx_spd_exp(ws, a, out), 0);
    spx_spd_ws_free(ws);
    cr_assert_eq(spx_spd_ws_create(&ws, 0), -EINVAL);
}

Test(spd, distance_identities_and_direct_lapack)
{
    spx_rng r;
    spx_rng_seed(&r, 4);
    double a[N * N], b[N * N], w[N * N], wa[N * N], wb[N * N];
    random_spd(&r, N, 1e3, a, NULL);
    random_spd(&r, N, 1e3, b, NULL);
    spx_spd_ws *ws;
    cr_assert_eq(spx_spd_ws_create(&ws, N), 0);
    double dab, dba, daa, dw;
    cr_assert_eq(spx_spd_distance(ws, a, b, &dab), 0);
    cr_assert_eq(spx_spd_distance(ws, b, a, &dba), 0);
    cr_assert_eq(spx_spd_distance(ws, a, a, &daa), 0);
    cr_assert(dab > 1.0);
    cr_assert(fabs(dab - dba) < 1e-12 * dab);
    cr_assert(daa < 1e-12, "d(A,A) = %g", daa);
    cr_assert(fabs(dab - direct_distance(N, a, b)) < 1e-11 * dab);
    /* Invariance under congruence with a random invertible W. */
    spx_rng_normal_fill(&r, w, N * N);
    cr_assert_eq(spx_spd_congruence(ws, w, a, wa), 0);
    cr_assert_eq(spx_spd_congruence(ws, w, b, wb), 0);
    cr_assert_eq(spx_spd_distance(ws, wa, wb, &dw), 0);
    cr_assert(fabs(dw - dab) < 1e-8 * dab, "%g vs %g", dw, dab);
    /* d(A, cA) = sqrt(n) |log c|. */
    double ca[N * N];
    for (size_t i = 0; i < N * N; i++) ca[i] = 3.0 * a[i];
    cr_assert_eq(spx_spd_distance(ws, a, ca, &dw), 0);
    cr_assert(fabs(dw - sqrt((double)N) * log(3.0)) < 1e-12 * dw);
    /* Prepared reference gives the same squared distance. */
    spx_spd_ref *ref;
    double d2;
    cr_assert_eq(spx_spd_ref_create(&ref, N), 0);
    cr_assert_eq(spx_spd_ref_set(ref, b), 0);
    cr_assert_eq(spx_spd_ref_distance2(ref, a, &d2), 0);
    cr_assert(fabs(d2 - dab * dab) < 1e-11 * dab * dab);
    double bad[N * N] = {0};
    cr_assert_eq(spx_spd_ref_set(ref, bad), -EDOM);
    spx_spd_ref_free(ref);
    spx_spd_ws_free(ws);
}

Test(spd, geodesic_endpoints_and_distance_split)
{
    spx_rng r;
    spx_rng_seed(&r, 5);
    double a[N * N], b[N * N], g[N * N];
    random_spd(&r, N, 100, a, NULL);
    random_spd(&r, N, 100, b, NULL);
    spx_spd_ws *ws;
    cr_assert_eq(spx_spd_ws_create(&ws, N), 0);
    cr_assert_eq(spx_spd_geodesic(ws, a, b, 0.0, g), 0);
    cr_assert(max_abs_diff(g, a, N * N) < 1e-11 * max_abs(a, N * N));
    cr_assert_eq(spx_spd_geodesic(ws, a, b, 1.0, g), 0);
    cr_assert(max_abs_diff(g, b, N * N) < 1e-11 * max_abs(b, N * N));
    double dab, dag, dgb;
    cr_assert_eq(spx_spd_distance(ws, a, b, &dab), 0);
    cr_assert_eq(spx_spd_geodesic(ws, a, b, 0.3, g), 0);
    cr_assert_eq(spx_spd_distance(ws, a, g, &dag), 0);
    cr_assert_eq(spx_spd_distance(ws, g, b, &dgb), 0);
    cr_assert(fabs(dag - 0.3 * dab) < 1e-10 * dab);
    cr_assert(fabs(dgb - 0.7 * dab) < 1e-10 * dab);
    spx_spd_ws_free(ws);
}

Test(spd, mean_of_one_and_two_matrices)
{
    spx_rng r;
    spx_rng_seed(&r, 6);
    double m2[2 * N * N], mean[N * N], mid[N * N];
    random_spd(&r, N, 100, m2, NULL);
    random_spd(&r, N, 100, m2 + N * N, NULL);
    spx_spd_ws *ws;
    cr_assert_eq(spx_spd_ws_create(&ws, N), 0);
    spx_spd_mean_info info;
    cr_assert_eq(spx_spd_mean_riemann(ws, m2, 1, NULL, NULL, mean, &info), 0);
    cr_assert(max_abs_diff(mean, m2, N * N) == 0);
    cr_assert_eq(spx_spd_mean_riemann(ws, m2, 2, NULL, NULL, mean, &info), 0);
    cr_assert(info.converged && info.iterations <= 50, "iters %d crit %g", info.iterations,
              info.criterion);
    cr_assert_eq(spx_spd_geodesic(ws, m2, m2 + N * N, 0.5, mid), 0);
    double d;
    cr_assert_eq(spx_spd_distance(ws, mean, mid, &d), 0);
    cr_assert(d < 1e-7, "d(mean, midpoint) = %g", d);
    /* Weighted mean of two = geodesic point at the second weight. */
    double wts[2] = {1.0, 3.0};
    cr_assert_eq(spx_spd_mean_riemann(ws, m2, 2, wts, NULL, mean, &info), 0);
    cr_assert_eq(spx_spd_geodesic(ws, m2, m2 + N * N, 0.75, mid), 0);
    cr_assert_eq(spx_spd_distance(ws, mean, mid, &d), 0);
    cr_assert(d < 1e-7, "weighted: %g", d);
    spx_spd_ws_free(ws);
}

Test(spd, mean_of_commuting_matrices_is_geometric_mean)
{
    /* Diagonal matrices commute: the Riemannian mean is the elementwise geometric mean. */
    enum { K = 7, D = 5 };
    double mats[K * D * D] = {0}, mean[D * D], expect[D] = {0};
    spx_rng r;
    spx_rng_seed(&r, 7);
    for (size_t k = 0; k < K; k++)
        for (size_t i = 0; i < D; i++) {
            double v = exp(3 * spx_rng_normal(&r));
            mats[k * D * D + i * D + i] = v;
            expect[i] += log(v) / K;
        }
    spx_spd_ws *ws;
    cr_assert_eq(spx_spd_ws_create(&ws, D), 0);
    spx_spd_mean_info info;
    cr_assert_eq(spx_spd_mean_riemann(ws, mats, K, NULL, NULL, mean, &info), 0);
    cr_assert(info.converged);
    for (size_t i = 0; i < D; i++) {
        cr_assert(fabs(log(mean[i * D + i]) - expect[i]) < 1e-8, "diag %zu", i);
        for (size_t j = 0; j < D; j++)
            if (j != i) cr_assert(fabs(mean[i * D + j]) < 1e-9 * mean[i * D + i]);
    }
    spx_spd_ws_free(ws);
}

Test(spd, mean_is_stationary_and_congruence_equivariant)
{
    enum { K = 10 };
    spx_rng r;
    spx_rng_seed(&r, 8);
    double *mats = malloc(K * N * N * sizeof *mats), *wm = malloc(K * N * N * sizeof *wm);
    double base[N * N], mean[N * N], wmean[N * N], w[N * N], t[N * N], l[N * N], g[N * N] = {0};
    double ms[N * N], mis[N * N];
    random_spd(&r, N, 10, base, NULL);
    for (size_t k = 0; k < K; k++) {
        double e[N * N];
        random_spd(&r, N, 30, e, NULL);
        /* spread around base */
        for (size_t i = 0; i < N * N; i++) mats[k * N * N + i] = base[i] + 0.5 * e[i];
    }
    spx_spd_ws *ws;
    cr_assert_eq(spx_spd_ws_create(&ws, N), 0);
    spx_spd_mean_info info;
    cr_assert_eq(spx_spd_mean_riemann(ws, mats, K, NULL, NULL, mean, &info), 0);
    cr_assert(info.converged, "crit %g after %d", info.criterion, info.iterations);
    /* Stationarity: sum_k log(M^-1/2 C_k M^-1/2) = 0. */
    cr_assert_eq(spx_spd_sqrt_invsqrt(ws, mean, ms, mis), 0);
    for (size_t k = 0; k < K; k++) {
        cr_assert_eq(spx_spd_congruence(ws, mis, mats + k * N * N, t), 0);
        cr_assert_eq(spx_spd_log(ws, t, l), 0);
        for (size_t i = 0; i < N * N; i++) g[i] += l[i] / K;
    }
    cr_assert(max_abs(g, N * N) < 1e-7, "gradient %g", max_abs(g, N * N));
    /* mean(W C W^T) = W mean(C) W^T */
    spx_rng_normal_fill(&r, w, N * N);
    for (size_t k = 0; k < K; k++)
        cr_assert_eq(spx_spd_congruence(ws, w, mats + k * N * N, wm + k * N * N), 0);
    cr_assert_eq(spx_spd_mean_riemann(ws, wm, K, NULL, NULL, wmean, &info), 0);
    cr_assert_eq(spx_spd_congruence(ws, w, mean, t), 0);
    double d;
    cr_assert_eq(spx_spd_distance(ws, wmean, t, &d), 0);
    cr_assert(d < 1e-6, "equivariance: %g", d);
    free(mats);
    free(wm);
    spx_spd_ws_free(ws);
}

Test(spd, euclid_mean_weights)
{
    double m[2 * 4] = {1, 0, 0, 1, 3, 0, 0, 5}, out[4];
    double wts[2] = {1, 1};
    cr_assert_eq(spx_spd_mean_euclid(m, 2, 2, wts, out), 0);
    cr_assert(out[0] == 2 && out[3] == 3 && out[1] == 0);
    double bad[2] = {1, -1};
    cr_assert_eq(spx_spd_mean_euclid(m, 2, 2, bad, out), -EINVAL);
}
