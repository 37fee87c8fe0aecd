/* Top eigenvector estimators (Oja, AdaOja) against LAPACK's exact eigenvector of A^T A. */
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"
/* testdata.h's SPX_REQUIRE_DATA uses cr_fatal, which Criterion 2.4 only has in its new assert API. */
#ifndef cr_fatal
#define cr_fatal(...) cr_assert_fail(__VA_ARGS__)
#endif
#include "testdata.h"
#include "topeig.h"

/* Planted spike: x = sqrt(R - 1) g0 u + g with g0 ~ N(0,1), g ~ N(0, I_d), u a random unit vector,
 * so E[x x^T] = I + (R - 1) u u^T has eigenvalue gap R. Row-major n x d, malloc'd. */
static double *planted_spike(size_t n, size_t d, double R, uint64_t seed)
{
    spx_rng rng;
    spx_rng_seed(&rng, seed);
    double *u = malloc(d * sizeof *u), *a = malloc(n * d * sizeof *a);
    cr_assert(u && a);
    spx_rng_normal_fill(&rng, u, d);
    double s = 0.0;
    for (size_t i = 0; i < d; i++)
        s += u[i] * u[i];
    for (size_t i = 0; i < d; i++)
        u[i] /= sqrt(s);
    double amp = sqrt(R - 1.0);
    for (size_t r = 0; r < n; r++) {
        double g0 = amp * spx_rng_normal(&rng);
        for (size_t i = 0; i < d; i++)
            a[r * d + i] = g0 * u[i] + spx_rng_normal(&rng);
    }
    free(u);
    return a;
}

static double corr2(const double *v, const double *u, size_t d)
{
    double s = 0.0, vv = 0.0, uu = 0.0;
    for (size_t i = 0; i < d; i++) {
        s += v[i] * u[i];
        vv += v[i] * v[i];
        uu += u[i] * u[i];
    }
    return s * s / (vv * uu);
}

static spx_topeig *make(size_t d, spx_topeig_method m, uint64_t seed)
{
    spx_topeig_params p;
    spx_topeig_params_default(&p, d);
    p.method = m;
    p.seed = seed;
    /* Oja's 1/t step works when eta_t ~ c / ((lambda1 - lambda2) t) with c of a few units. Here
     * eta_t = eta0 t0 / (mean ||x||^2 t), so c = eta0 t0 (lambda1 - lambda2) / mean ||x||^2, which
     * t0 = 20 puts in [1.5, 8] for the spikes below. */
    if (m == SPX_TOPEIG_OJA)
        p.t0 = 20.0;
    spx_topeig *t = NULL;
    cr_assert_eq(spx_topeig_create(&t, &p), 0);
    return t;
}

/* Runs method m over a in chunks of `chunk` rows; copies the result vector into v (d) and returns
 * the eigenvalue estimate. */
static double run_f64(spx_topeig_method m, const double *a, size_t n, size_t d, size_t chunk,
                      uint64_t seed, double *v)
{
    spx_topeig *t = make(d, m, seed);
    for (size_t r = 0; r < n; r += chunk) {
        size_t m_rows = n - r < chunk ? n - r : chunk;
        cr_assert_eq(spx_topeig_update_f64(t, a + r * d, m_rows), 0);
    }
    spx_topeig_result res;
    spx_topeig_result_get(t, &res);
    cr_assert_eq(res.rows_seen, n);
    cr_assert_eq(res.dim, d);
    cr_assert_eq(res.k, 1);
    memcpy(v, res.vector, d * sizeof *v);
    double ev = res.eigenvalues[0];
    spx_topeig_free(t);
    return ev;
}

Test(topeig, defaults_and_bad_params)
{
    spx_topeig_params p;
    spx_topeig_params_default(&p, 10);
    cr_assert_eq(p.method, SPX_TOPEIG_ADAOJA);
    cr_assert_eq(p.k, 1);
    spx_topeig *t = NULL;
    p.dim = 0;
    cr_assert_eq(spx_topeig_create(&t, &p), -EINVAL);
    spx_topeig_params_default(&p, 10);
    p.k = 2; /* Oja methods are k = 1 */
    cr_assert_eq(spx_topeig_create(&t, &p), -EINVAL);
    spx_topeig_params_default(&p, 10);
    p.method = SPX_TOPEIG_OJA;
    p.eta0 = -1.0;
    cr_assert_eq(spx_topeig_create(&t, &p), -EINVAL);
    p.eta0 = 1.0;
    p.t0 = 0.0;
    cr_assert_eq(spx_topeig_create(&t, &p), -EINVAL);
    spx_topeig_params_default(&p, 10);
    p.b0 = 0.0;
    cr_assert_eq(spx_topeig_create(&t, &p), -EINVAL);
    cr_assert_eq(spx_topeig_create(NULL, &p), -EINVAL);
    cr_assert_null(t);
    t = make(10, SPX_TOPEIG_ADAOJA, 1);
    cr_assert_eq(spx_topeig_update_f64(t, NULL, 3), -EINVAL);
    cr_assert_eq(spx_topeig_update_f64(t, NULL, 0), 0);
    spx_topeig_free(t);
    spx_topeig_free(NULL);
}

Test(topeig, planted_spike_matches_lapack)
{
    const size_t dims[] = {50, 100, 200};
    const spx_topeig_method methods[] = {SPX_TOPEIG_ADAOJA, SPX_TOPEIG_OJA};
    for (size_t di = 0; di < 3; di++) {
        size_t d = dims[di], n = 200 * d;
        double *a = planted_spike(n, d, 30.0, 100 + d);
        double ev_exact, v1[200], v[200];
        cr_assert_eq(spx_test_exact_top_eig(a, n, d, 1, &ev_exact, v1), 0);
        for (size_t mi = 0; mi < 2; mi++) {
            run_f64(methods[mi], a, n, d, 1000, 7, v);
            double c = corr2(v, v1, d);
            cr_expect_geq(c, 0.99, "method %d d=%zu: <v,v1>^2 = %.5f", methods[mi], d, c);
        }
        free(a);
    }
}

/* The eigenvalue estimate is the mean over all rows of <x, v_before>^2. Because v_before does not
 * depend on x (random order), each term estimates v^T (A^T A / n) v, so the estimate is low by the
 * burn-in (rows seen while v was still far from v1, ~ burn-in / n of the gap) and by
 * (lambda1 - lambda2)(1 - <v,v1>^2); measured -0.4% to -1.5% here. 3% is the bound. */
Test(topeig, eigenvalue_estimate_matches_lapack)
{
    const size_t d = 100, n = 40000;
    double *a = planted_spike(n, d, 10.0, 5);
    double ev_exact, v1[100], v[100];
    cr_assert_eq(spx_test_exact_top_eig(a, n, d, 1, &ev_exact, v1), 0);
    double lambda = ev_exact / (double)n;
    const spx_topeig_method methods[] = {SPX_TOPEIG_ADAOJA, SPX_TOPEIG_OJA};
    for (size_t mi = 0; mi < 2; mi++) {
        double ev = run_f64(methods[mi], a, n, d, 333, 3, v);
        double rel = fabs(ev - lambda) / lambda;
        cr_expect_leq(rel, 0.03, "method %d: estimate %.4f exact %.4f (rel %.4f)", methods[mi], ev,
                      lambda, rel);
    }
    free(a);
}

Test(topeig, frobenius_norm_is_exact)
{
    const size_t d = 37, n = 999;
    double *a = planted_spike(n, d, 3.0, 9);
    double s = 0.0;
    for (size_t i = 0; i < n * d; i++)
        s += a[i] * a[i];
    spx_topeig *t = make(d, SPX_TOPEIG_ADAOJA, 1);
    cr_assert_eq(spx_topeig_update_f64(t, a, n), 0);
    spx_topeig_result res;
    spx_topeig_result_get(t, &res);
    cr_expect_float_eq(res.frobenius, sqrt(s), 1e-12 * sqrt(s));
    spx_topeig_free(t);
    free(a);
}

Test(topeig, f32_path_agrees_with_f64)
{
    const size_t d = 103, n = 20000; /* d not a multiple of 8: exercises the tail loops */
    double *a = planted_spike(n, d, 10.0, 11);
    float *af = malloc(n * d * sizeof *af);
    double *ar = malloc(n * d * sizeof *ar);
    cr_assert(af && ar);
    for (size_t i = 0; i < n * d; i++) {
        af[i] = (float)a[i];
        ar[i] = af[i];
    }
    const spx_topeig_method methods[] = {SPX_TOPEIG_ADAOJA, SPX_TOPEIG_OJA};
    for (size_t mi = 0; mi < 2; mi++) {
        spx_topeig *t32 = make(d, methods[mi], 4);
        cr_assert_eq(spx_topeig_update_f32(t32, af, n), 0);
        spx_topeig_result r32;
        spx_topeig_result_get(t32, &r32);
        double v64[103], vr[103];
        double ev64 = run_f64(methods[mi], a, n, d, 1000, 4, v64);
        double evr = run_f64(methods[mi], ar, n, d, 1000, 4, vr);
        /* The f32 kernel widens each element and then does exactly the f64 arithmetic. */
        cr_expect_eq(memcmp(r32.vector, vr, sizeof vr), 0, "f32 path differs from f64 on widened rows");
        cr_expect_eq(r32.eigenvalues[0], evr);
        /* Against the unrounded data: float rounding (~6e-8 relative) barely moves the estimate. */
        cr_expect_geq(corr2(r32.vector, v64, d), 0.9999);
        cr_expect_float_eq(r32.eigenvalues[0], ev64, 1e-4 * ev64);
        spx_topeig_free(t32);
    }
    free(a);
    free(af);
    free(ar);
}

Test(topeig, same_seed_identical_bits_and_batch_split_invariant)
{
    const size_t d = 64, n = 5000;
    double *a = planted_spike(n, d, 10.0, 21);
    const spx_topeig_method methods[] = {SPX_TOPEIG_ADAOJA, SPX_TOPEIG_OJA};
    const size_t chunks[] = {1, 7, 1000, 5000};
    for (size_t mi = 0; mi < 2; mi++) {
        double ref[64], v[64];
        double ev_ref = run_f64(methods[mi], a, n, d, chunks[0], 5, ref);
        for (size_t ci = 1; ci < 4; ci++) {
            double ev = run_f64(methods[mi], a, n, d, chunks[ci], 5, v);
            cr_expect_eq(memcmp(ref, v, sizeof v), 0, "method %d chunk %zu", methods[mi], chunks[ci]);
            cr_expect_eq(ev, ev_ref);
        }
        /* A different seed starts elsewhere: different bits, same answer. */
        run_f64(methods[mi], a, n, d, 1000, 6, v);
        cr_expect_neq(memcmp(ref, v, sizeof v), 0);
        cr_expect_geq(corr2(ref, v, d), 0.95);
    }
    free(a);
}

Test(topeig, zero_rows_do_not_collapse_the_vector)
{
    const size_t d = 20;
    double zeros[20 * 50] = {0};
    const spx_topeig_method methods[] = {SPX_TOPEIG_ADAOJA, SPX_TOPEIG_OJA};
    for (size_t mi = 0; mi < 2; mi++) {
        spx_topeig *t = make(d, methods[mi], 2);
        cr_assert_eq(spx_topeig_update_f64(t, zeros, 50), 0);
        spx_topeig_result res;
        spx_topeig_result_get(t, &res);
        cr_expect_float_eq(corr2(res.vector, res.vector, d), 1.0, 1e-12);
        double nn = 0.0;
        for (size_t i = 0; i < d; i++)
            nn += res.vector[i] * res.vector[i];
        cr_expect_float_eq(nn, 1.0, 1e-12);
        cr_expect_eq(res.eigenvalues[0], 0.0);
        cr_expect_eq(res.frobenius, 0.0);
        /* ... and the estimator still learns afterwards. */
        double *a = planted_spike(4000, d, 30.0, 8);
        double ev, v1[20];
        cr_assert_eq(spx_test_exact_top_eig(a, 4000, d, 1, &ev, v1), 0);
        cr_assert_eq(spx_topeig_update_f64(t, a, 4000), 0);
        spx_topeig_result_get(t, &res);
        double c = corr2(res.vector, v1, d);
        cr_expect_geq(c, 0.99, "method %d: <v,v1>^2 = %.5f", methods[mi], c);
        spx_topeig_free(t);
        free(a);
    }
}

Test(topeig, oja_is_invariant_to_data_scale)
{
    const size_t d = 30, n = 3000;
    double *a = planted_spike(n, d, 10.0, 12);
    double *b = malloc(n * d * sizeof *b);
    cr_assert(b);
    for (size_t i = 0; i < n * d; i++)
        b[i] = 1024.0 * a[i]; /* a power of two: the scaled arithmetic is exact */
    const spx_topeig_method methods[] = {SPX_TOPEIG_ADAOJA, SPX_TOPEIG_OJA};
    for (size_t mi = 0; mi < 2; mi++) {
        double va[30], vb[30];
        double ea = run_f64(methods[mi], a, n, d, 100, 1, va);
        double eb = run_f64(methods[mi], b, n, d, 100, 1, vb);
        cr_expect_geq(corr2(va, vb, d), 1.0 - 1e-9, "method %d", methods[mi]);
        cr_expect_float_eq(eb, 1024.0 * 1024.0 * ea, 1e-9 * eb);
    }
    free(a);
    free(b);
}

Test(topeig, spambase_raw)
{
    char path[4096];
    SPX_REQUIRE_DATA(path, "matrices/spambase.data");
    double *a;
    size_t n, d = 57;
    cr_assert_eq(spx_test_load_text_matrix(path, 0, d, &a, &n), 0);
    cr_assert_eq(n, 4601);
    double ev, v1[57], v[57];
    cr_assert_eq(spx_test_exact_top_eig(a, n, d, 1, &ev, v1), 0);
    /* Raw spambase is dominated by a few rows of huge norm in one column; R = 15.9. */
    run_f64(SPX_TOPEIG_ADAOJA, a, n, d, 512, 1, v);
    double c = corr2(v, v1, d);
    cr_expect_geq(c, 0.99, "adaoja: <v,v1>^2 = %.5f", c);
    run_f64(SPX_TOPEIG_OJA, a, n, d, 512, 1, v);
    c = corr2(v, v1, d);
    cr_expect_geq(c, 0.98, "oja: <v,v1>^2 = %.5f", c);
    free(a);
}
