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

#include <cblas.h>

/* One BLAS thread: the machine's cores are shared, and OpenBLAS threads spin while waiting. */
static void one_blas_thread(void) { openblas_set_num_threads(1); }
TestSuite(topeig, .init = one_blas_thread);

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

static spx_topeig *make_k(size_t d, spx_topeig_method m, uint64_t seed, size_t k)
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
    p.k = k;
    spx_topeig *t = NULL;
    cr_assert_eq(spx_topeig_create(&t, &p), 0);
    return t;
}

static spx_topeig *make(size_t d, spx_topeig_method m, uint64_t seed)
{
    return make_k(d, m, seed, 1);
}

static const spx_topeig_method all_methods[] = {SPX_TOPEIG_ADAOJA, SPX_TOPEIG_OJA, SPX_TOPEIG_POWER,
                                                SPX_TOPEIG_FD, SPX_TOPEIG_RANDORDER};
#define N_ALL (sizeof all_methods / sizeof all_methods[0])

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
    const spx_topeig_method *methods = all_methods;
    for (size_t di = 0; di < 3; di++) {
        size_t d = dims[di], n = 200 * d;
        double *a = planted_spike(n, d, 30.0, 100 + d);
        double ev_exact, v1[200], v[200];
        cr_assert_eq(spx_test_exact_top_eig(a, n, d, 1, &ev_exact, v1), 0);
        for (size_t mi = 0; mi < N_ALL; mi++) {
            run_f64(methods[mi], a, n, d, 1000, 7, v);
            double c = corr2(v, v1, d);
            cr_expect_geq(c, 0.99, "%s d=%zu: <v,v1>^2 = %.5f", spx_topeig_method_name(methods[mi]), d, c);
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
    /* POWER and RANDORDER estimate by per-block Ritz values z^T (A_b^T A_b / |b|) z with z from the
     * previous step: unbiased for z^T (A^T A / n) z, so low by the same two effects; their noise is
     * that of one block (POWER: the last, ~n/2 rows) or of the averaged blocks (RANDORDER).
     * FD: l = dim here, so the sketch is exact up to rounding. */
    const double tol[N_ALL] = {0.03, 0.03, 0.05, 1e-9, 0.05};
    for (size_t mi = 0; mi < N_ALL; mi++) {
        double ev = run_f64(all_methods[mi], a, n, d, 333, 3, v);
        double rel = fabs(ev - lambda) / lambda;
        cr_expect_leq(rel, tol[mi], "%s: estimate %.4f exact %.4f (rel %.4f)",
                      spx_topeig_method_name(all_methods[mi]), ev, lambda, rel);
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
    const spx_topeig_method *methods = all_methods;
    for (size_t mi = 0; mi < N_ALL; mi++) {
        spx_topeig *t32 = make(d, methods[mi], 4);
        cr_assert_eq(spx_topeig_update_f32(t32, af, n), 0);
        spx_topeig_result r32;
        spx_topeig_result_get(t32, &r32);
        double v64[103], vr[103];
        double ev64 = run_f64(methods[mi], a, n, d, 1000, 4, v64);
        double evr = run_f64(methods[mi], ar, n, d, 1000, 4, vr);
        /* The f32 kernel widens each element and then does exactly the f64 arithmetic. */
        cr_expect_eq(memcmp(r32.vector, vr, sizeof vr), 0, "%s: f32 path differs from f64 on widened rows",
                     spx_topeig_method_name(methods[mi]));
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
    const spx_topeig_method *methods = all_methods;
    const size_t chunks[] = {1, 7, 1000, 5000};
    for (size_t mi = 0; mi < N_ALL; mi++) {
        double ref[64], v[64];
        double ev_ref = run_f64(methods[mi], a, n, d, chunks[0], 5, ref);
        for (size_t ci = 1; ci < 4; ci++) {
            double ev = run_f64(methods[mi], a, n, d, chunks[ci], 5, v);
            cr_expect_eq(memcmp(ref, v, sizeof v), 0, "%s chunk %zu", spx_topeig_method_name(methods[mi]),
                         chunks[ci]);
            cr_expect_eq(ev, ev_ref);
        }
        /* A different seed starts elsewhere: different bits, same answer. FD has no randomness. */
        run_f64(methods[mi], a, n, d, 1000, 6, v);
        if (methods[mi] != SPX_TOPEIG_FD)
            cr_expect_neq(memcmp(ref, v, sizeof v), 0);
        cr_expect_geq(corr2(ref, v, d), 0.95);
    }
    free(a);
}

Test(topeig, zero_rows_do_not_collapse_the_vector)
{
    const size_t d = 20;
    static double zeros[20 * 600];
    const spx_topeig_method *methods = all_methods;
    for (size_t mi = 0; mi < N_ALL; mi++) {
        spx_topeig *t = make(d, methods[mi], 2);
        cr_assert_eq(spx_topeig_update_f64(t, zeros, 600), 0); /* > one block / sketch */
        spx_topeig_result res;
        spx_topeig_result_get(t, &res);
        cr_expect_float_eq(corr2(res.vector, res.vector, d), 1.0, 1e-12);
        double nn = 0.0;
        for (size_t i = 0; i < d; i++)
            nn += res.vector[i] * res.vector[i];
        cr_expect_float_eq(nn, 1.0, 1e-12);
        cr_expect_eq(res.eigenvalues[0], 0.0);
        cr_expect_eq(res.frobenius, 0.0);
        cr_expect_eq(res.order_alarm, 0);
        /* ... and the estimator still learns afterwards. */
        double *a = planted_spike(8000, d, 30.0, 8);
        double ev, v1[20];
        cr_assert_eq(spx_test_exact_top_eig(a, 8000, d, 1, &ev, v1), 0);
        cr_assert_eq(spx_topeig_update_f64(t, a, 8000), 0);
        spx_topeig_result_get(t, &res);
        double c = corr2(res.vector, v1, d);
        cr_expect_geq(c, 0.99, "%s: <v,v1>^2 = %.5f", spx_topeig_method_name(methods[mi]), c);
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
    const spx_topeig_method *methods = all_methods;
    for (size_t mi = 0; mi < N_ALL; mi++) {
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

Test(topeig, method_names_round_trip)
{
    for (int m = 0; m < SPX_TOPEIG_N_METHODS; m++)
        cr_expect_eq(spx_topeig_method_parse(spx_topeig_method_name((spx_topeig_method)m)), m);
    cr_expect_eq(spx_topeig_method_parse("randorder"), SPX_TOPEIG_RANDORDER);
    cr_expect_eq(spx_topeig_method_parse("Power"), -1);
    cr_expect_eq(spx_topeig_method_parse(""), -1);
    cr_expect_eq(spx_topeig_method_parse(NULL), -1);
    cr_expect_str_eq(spx_topeig_method_name((spx_topeig_method)99), "unknown");
}

Test(topeig, bad_params_of_the_block_methods)
{
    spx_topeig_params p;
    spx_topeig *t = NULL;
    spx_topeig_params_default(&p, 4);
    p.method = SPX_TOPEIG_POWER;
    p.k = 3; /* k + oversample > dim */
    cr_expect_eq(spx_topeig_create(&t, &p), -EINVAL);
    p.k = 2;
    cr_expect_eq(spx_topeig_create(&t, &p), 0);
    spx_topeig_free(t);
    p.block_growth = 0.5;
    cr_expect_eq(spx_topeig_create(&t, &p), -EINVAL);
    spx_topeig_params_default(&p, 10);
    p.method = SPX_TOPEIG_RANDORDER;
    p.heavy_factor = 0.0;
    cr_expect_eq(spx_topeig_create(&t, &p), -EINVAL);
    spx_topeig_params_default(&p, 10);
    p.order_z = -1.0;
    cr_expect_eq(spx_topeig_create(&t, &p), -EINVAL);
    spx_topeig_params_default(&p, 10);
    p.method = (spx_topeig_method)17;
    cr_expect_eq(spx_topeig_create(&t, &p), -EINVAL);
}

/* Three planted spikes with distinct strengths: x = sum_j sqrt(s_j) g_j u_j + g. */
static double *three_spikes(size_t n, size_t d, uint64_t seed)
{
    spx_rng rng;
    spx_rng_seed(&rng, seed);
    double *u = malloc(3 * d * sizeof *u), *a = malloc(n * d * sizeof *a);
    cr_assert(u && a);
    spx_rng_normal_fill(&rng, u, 3 * d); /* nearly orthogonal at d = 80; exactness not needed */
    for (size_t j = 0; j < 3; j++) {
        double s = 0.0;
        for (size_t i = 0; i < d; i++)
            s += u[j * d + i] * u[j * d + i];
        for (size_t i = 0; i < d; i++)
            u[j * d + i] /= sqrt(s);
    }
    const double amp[3] = {sqrt(40.0), sqrt(20.0), sqrt(10.0)};
    for (size_t r = 0; r < n; r++) {
        double g[3];
        for (size_t j = 0; j < 3; j++)
            g[j] = amp[j] * spx_rng_normal(&rng);
        for (size_t i = 0; i < d; i++)
            a[r * d + i] = g[0] * u[i] + g[1] * u[d + i] + g[2] * u[2 * d + i] + spx_rng_normal(&rng);
    }
    free(u);
    return a;
}

Test(topeig, top_k_subspace_and_eigenvalues)
{
    const size_t d = 80, n = 30000, k = 3;
    double *a = three_spikes(n, d, 31);
    double vals[3], vecs[3 * 80];
    cr_assert_eq(spx_test_exact_top_eig(a, n, d, k, vals, vecs), 0);
    const spx_topeig_method methods[] = {SPX_TOPEIG_POWER, SPX_TOPEIG_FD, SPX_TOPEIG_RANDORDER};
    const double eig_tol[] = {0.08, 1e-9, 0.08}; /* FD: l = dim, exact */
    for (size_t mi = 0; mi < 3; mi++) {
        spx_topeig *t = make_k(d, methods[mi], 9, k);
        cr_assert_eq(spx_topeig_update_f64(t, a, n), 0);
        spx_topeig_result r;
        spx_topeig_result_get(t, &r);
        cr_assert_eq(r.k, k);
        /* Orthonormal rows ... */
        for (size_t i = 0; i < k; i++)
            for (size_t j = 0; j < k; j++) {
                double s = 0.0;
                for (size_t c = 0; c < d; c++)
                    s += r.vector[i * d + c] * r.vector[j * d + c];
                cr_expect_float_eq(s, i == j ? 1.0 : 0.0, 1e-9);
            }
        /* ... spanning the exact top-3 subspace (mean squared sine of the principal angles) ... */
        double f = 0.0;
        for (size_t i = 0; i < k; i++)
            for (size_t j = 0; j < k; j++) {
                double s = 0.0;
                for (size_t c = 0; c < d; c++)
                    s += r.vector[i * d + c] * vecs[j * d + c];
                f += s * s;
            }
        double change = 1.0 - f / (double)k;
        cr_expect_leq(change, 0.01, "%s: subspace error %.5f", spx_topeig_method_name(methods[mi]),
                      change);
        /* ... each vector matching its own eigenvector, with its eigenvalue. */
        for (size_t i = 0; i < k; i++) {
            double c = corr2(r.vector + i * d, vecs + i * d, d);
            cr_expect_geq(c, 0.98, "%s: vector %zu corr %.5f", spx_topeig_method_name(methods[mi]), i, c);
            double lam = vals[i] / (double)n;
            cr_expect_leq(fabs(r.eigenvalues[i] - lam) / lam, eig_tol[mi], "%s: eig %zu %.4f vs %.4f",
                          spx_topeig_method_name(methods[mi]), i, r.eigenvalues[i], lam);
        }
        spx_topeig_free(t);
    }
    free(a);
}

Test(topeig, gap_estimate)
{
    const size_t d = 50, n = 30000;
    double *a = planted_spike(n, d, 10.0, 17);
    double vals[2], vecs[2 * 50];
    cr_assert_eq(spx_test_exact_top_eig(a, n, d, 2, vals, vecs), 0);
    double R = vals[0] / vals[1];
    spx_topeig_result r;
    spx_topeig *t = make(d, SPX_TOPEIG_FD, 1); /* l = dim: exact */
    cr_assert_eq(spx_topeig_update_f64(t, a, n), 0);
    spx_topeig_result_get(t, &r);
    cr_expect_float_eq(r.gap, R, 1e-9 * R);
    cr_expect_leq(r.shrink, 1e-9, "l = dim: nothing is shrunk");
    spx_topeig_free(t);
    /* The block methods' second Ritz value comes from a p-dimensional subspace that need not hold
     * the second eigenvector (all of the bulk is nearly flat here): it is an underestimate of
     * s2^2, so the gap is overestimated, but within a factor 1.5 of it. */
    const spx_topeig_method blockm[] = {SPX_TOPEIG_POWER, SPX_TOPEIG_RANDORDER};
    for (size_t mi = 0; mi < 2; mi++) {
        t = make(d, blockm[mi], 1);
        cr_assert_eq(spx_topeig_update_f64(t, a, n), 0);
        spx_topeig_result_get(t, &r);
        cr_expect(r.gap > R / 1.5 && r.gap < R * 1.5, "%s: gap %.3f vs R %.3f",
                  spx_topeig_method_name(blockm[mi]), r.gap, R);
        spx_topeig_free(t);
    }
    /* Oja methods cannot tell. */
    t = make(d, SPX_TOPEIG_ADAOJA, 1);
    cr_assert_eq(spx_topeig_update_f64(t, a, 1000), 0);
    spx_topeig_result_get(t, &r);
    cr_expect_eq(r.gap, 0.0);
    spx_topeig_free(t);
    free(a);
}

Test(topeig, change_since_mark)
{
    const size_t d = 40, n = 20000;
    double *a = planted_spike(n, d, 10.0, 23);
    for (size_t mi = 0; mi < N_ALL; mi++) {
        spx_topeig *t = make(d, all_methods[mi], 3);
        spx_topeig_result r;
        spx_topeig_result_get(t, &r);
        cr_expect_eq(r.change, 1.0, "no mark yet");
        cr_expect_eq(r.rows_since_mark, 0);
        cr_assert_eq(spx_topeig_update_f64(t, a, 2000), 0);
        spx_topeig_mark(t);
        spx_topeig_result_get(t, &r);
        cr_expect_leq(r.change, 1e-12, "%s: right after the mark", spx_topeig_method_name(all_methods[mi]));
        cr_expect_eq(r.rows_since_mark, 0);
        cr_assert_eq(spx_topeig_update_f64(t, a + 2000 * d, n - 2000), 0);
        spx_topeig_result_get(t, &r);
        cr_expect_eq(r.rows_since_mark, n - 2000);
        /* Converged early on this strong spike: later rows move it only slightly. */
        cr_expect_leq(r.change, 0.05, "%s: change %.5f", spx_topeig_method_name(all_methods[mi]), r.change);
        spx_topeig_mark(t);
        cr_assert_eq(spx_topeig_update_f64(t, a, 5000), 0);
        spx_topeig_result_get(t, &r);
        cr_expect_leq(r.change, 0.02);
        spx_topeig_free(t);
    }
    free(a);
}

Test(topeig, power_and_randorder_keep_heavy_rows)
{
    const size_t d = 50, n = 20000, n_heavy = 40;
    double *a = planted_spike(n, d, 5.0, 29);
    /* Rows 100, 600, ... scaled by 30: 900x the energy of a typical row. */
    for (size_t h = 0; h < n_heavy; h++)
        for (size_t c = 0; c < d; c++)
            a[(100 + 500 * h) * d + c] *= 30.0;
    spx_topeig *t = make(d, SPX_TOPEIG_RANDORDER, 5);
    cr_assert_eq(spx_topeig_update_f64(t, a, n), 0);
    spx_topeig_result r;
    spx_topeig_result_get(t, &r);
    /* Threshold at the end: F^2 / (4 d log2(2d)) ~ 20000 * 54 * 1.8 / 1330 ~ 1,500 > light rows'
     * ~54 (at most ~2x that), < heavy rows' ~54 * 900. */
    cr_expect_eq(r.heavy_rows, n_heavy);
    double vals[1], v1[50];
    cr_assert_eq(spx_test_exact_top_eig(a, n, d, 1, vals, v1), 0);
    cr_expect_geq(corr2(r.vector, v1, d), 0.95);
    spx_topeig_free(t);
    /* POWER keeps them the same way (and steps with them exactly). */
    t = make(d, SPX_TOPEIG_POWER, 5);
    cr_assert_eq(spx_topeig_update_f64(t, a, n), 0);
    spx_topeig_result_get(t, &r);
    cr_expect_eq(r.heavy_rows, n_heavy);
    cr_expect_geq(corr2(r.vector, v1, d), 0.95);
    spx_topeig_free(t);
    free(a);
}

/* k = 3 gives p = 5 columns: the grouped GEMM path with its staging buffer (p <= 4 goes row by
 * row). Same invariances: batch-split and f32 = widened f64. */
Test(topeig, grouped_path_is_batch_split_invariant)
{
    const size_t d = 40, n = 3000, k = 3;
    double *a = three_spikes(n, d, 41);
    float *af = malloc(n * d * sizeof *af);
    double *ar = malloc(n * d * sizeof *ar);
    cr_assert(af && ar);
    for (size_t i = 0; i < n * d; i++) {
        af[i] = (float)a[i];
        ar[i] = af[i];
    }
    const spx_topeig_method methods[] = {SPX_TOPEIG_POWER, SPX_TOPEIG_RANDORDER, SPX_TOPEIG_FD};
    const size_t chunks[] = {1, 7, 1000};
    for (size_t mi = 0; mi < 3; mi++) {
        double ref[3 * 40];
        for (size_t ci = 0; ci < 3; ci++) {
            spx_topeig *t = make_k(d, methods[mi], 2, k);
            for (size_t r = 0; r < n; r += chunks[ci])
                cr_assert_eq(spx_topeig_update_f64(t, ar + r * d, n - r < chunks[ci] ? n - r : chunks[ci]), 0);
            spx_topeig_result res;
            spx_topeig_result_get(t, &res);
            if (ci == 0)
                memcpy(ref, res.vector, sizeof ref);
            else
                cr_expect_eq(memcmp(ref, res.vector, sizeof ref), 0, "%s chunk %zu",
                             spx_topeig_method_name(methods[mi]), chunks[ci]);
            spx_topeig_free(t);
        }
        spx_topeig *t = make_k(d, methods[mi], 2, k);
        for (size_t r = 0; r < n; r += 7)
            cr_assert_eq(spx_topeig_update_f32(t, af + r * d, n - r < 7 ? n - r : 7), 0);
        spx_topeig_result res;
        spx_topeig_result_get(t, &res);
        cr_expect_eq(memcmp(ref, res.vector, sizeof ref), 0, "%s: f32 differs from widened f64",
                     spx_topeig_method_name(methods[mi]));
        spx_topeig_free(t);
    }
    free(a);
    free(af);
    free(ar);
}
