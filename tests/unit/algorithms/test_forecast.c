/* The streaming forecaster (algorithms/forecast.h): OrthoTrans basis, transform round trip, the
 * warm-up fit and the online recursion against ridge solved by LAPACK in the test, leak-freedom,
 * baselines, metrics against an independent recomputation. Synthetic series only. */
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#include <lapacke.h>

#include "forecast.h"
#include "rng.h"

static void one_blas_thread(void) { openblas_set_num_threads(1); }
TestSuite(forecast, .init = one_blas_thread);

/* C channels: daily-like sinusoids with channel-specific phase, AR(1) noise, a slow drift. */
static double *synth(size_t n, size_t c, uint64_t seed)
{
    spx_rng g;
    spx_rng_seed(&g, seed);
    double *x = malloc(n * c * sizeof *x), *ar = calloc(c, sizeof *ar);
    cr_assert(x && ar);
    for (size_t t = 0; t < n; t++) {
        for (size_t j = 0; j < c; j++) {
            ar[j] = 0.8 * ar[j] + 0.3 * spx_rng_normal(&g);
            x[t * c + j] = 2.0 + (double)j + sin(2.0 * M_PI * (double)t / 24.0 + 0.7 * (double)j) +
                           0.4 * sin(2.0 * M_PI * (double)t / 7.0) + ar[j] + 1e-3 * (double)t;
        }
    }
    free(ar);
    return x;
}

static spx_forecast *make(const spx_forecast_params *p)
{
    spx_forecast *f = NULL;
    char err[256] = "";
    int rc = spx_forecast_create(&f, p, err, sizeof err);
    cr_assert_eq(rc, 0, "create: %s", err);
    return f;
}

static spx_forecast_params small_params(size_t c)
{
    spx_forecast_params p;
    spx_forecast_params_default(&p, c);
    p.lookback = 24;
    p.horizon = 6;
    p.warmup = 400;
    p.rank = 0;
    return p;
}

Test(forecast, basis_is_orthonormal_and_matches_lapack)
{
    const size_t c = 3, n = 600;
    double *x = synth(n, c, 1);
    spx_forecast_params p = small_params(c);
    p.rank = 10;
    p.standardize = 1;
    spx_forecast *f = make(&p);
    cr_assert_eq(spx_forecast_update_f64(f, x, p.warmup), 0);
    size_t l, r;
    const double *ev;
    const double *q = spx_forecast_basis(f, &l, &r, &ev);
    cr_assert(q && ev);
    cr_assert_eq(l, 24);
    cr_assert_eq(r, 10);
    /* Q^T Q = I */
    double err = 0.0;
    for (size_t a = 0; a < r; a++)
        for (size_t b = 0; b < r; b++) {
            double s = 0.0;
            for (size_t i = 0; i < l; i++)
                s += q[i * r + a] * q[i * r + b];
            err = fmax(err, fabs(s - (a == b ? 1.0 : 0.0)));
        }
    cr_expect_lt(err, 1e-10, "max |Q^T Q - I| = %.3g", err);
    for (size_t a = 1; a < r; a++)
        cr_expect_geq(ev[a - 1], ev[a], "eigenvalues descending");

    /* Independent: pooled Pearson correlation of the standardised warm-up windows, plain loops,
     * then LAPACK dsyev; every kept eigenvector must match up to sign. */
    double *z = malloc(n * c * sizeof *z);
    for (size_t j = 0; j < c; j++) {
        double m = 0.0, v = 0.0;
        for (size_t t = 0; t < p.warmup; t++)
            m += x[t * c + j];
        m /= (double)p.warmup;
        for (size_t t = 0; t < p.warmup; t++)
            v += (x[t * c + j] - m) * (x[t * c + j] - m);
        for (size_t t = 0; t < p.warmup; t++)
            z[t * c + j] = (x[t * c + j] - m) / sqrt(v / (double)p.warmup);
    }
    const size_t nw = p.warmup - l + 1;
    double *cov = calloc(l * l, sizeof *cov), *mean = calloc(l, sizeof *mean);
    for (size_t j = 0; j < c; j++) {
        memset(mean, 0, l * sizeof *mean);
        for (size_t s0 = 0; s0 < nw; s0++)
            for (size_t i = 0; i < l; i++)
                mean[i] += z[(s0 + i) * c + j] / (double)nw;
        for (size_t s0 = 0; s0 < nw; s0++)
            for (size_t a = 0; a < l; a++)
                for (size_t b = 0; b < l; b++)
                    cov[a * l + b] +=
                        (z[(s0 + a) * c + j] - mean[a]) * (z[(s0 + b) * c + j] - mean[b]);
    }
    double *corr = malloc(l * l * sizeof *corr), *w = malloc(l * sizeof *w);
    for (size_t a = 0; a < l; a++)
        for (size_t b = 0; b < l; b++)
            corr[a * l + b] = cov[a * l + b] / sqrt(cov[a * l + a] * cov[b * l + b]);
    cr_assert_eq(LAPACKE_dsyev(LAPACK_ROW_MAJOR, 'V', 'U', (lapack_int)l, corr, (lapack_int)l, w), 0);
    for (size_t k = 0; k < r; k++) {
        const size_t col = l - 1 - k;
        cr_expect_lt(fabs(w[col] - ev[k]), 1e-9 * w[l - 1], "eigenvalue %zu", k);
        double dot = 0.0;
        for (size_t i = 0; i < l; i++)
            dot += corr[i * l + col] * q[i * r + k];
        cr_expect_gt(fabs(dot), 1.0 - 1e-9, "eigenvector %zu: |<v, q>| = %.12f", k, fabs(dot));
    }
    free(z);
    free(cov);
    free(mean);
    free(corr);
    free(w);
    spx_forecast_free(f);
    free(x);
}

Test(forecast, transform_round_trip_is_exact_at_full_rank)
{
    const size_t c = 2, n = 500;
    double *x = synth(n, c, 2);
    spx_forecast_params p = small_params(c);
    p.rank = 0; /* full */
    spx_forecast *f = make(&p);
    cr_assert_eq(spx_forecast_update_f64(f, x, p.warmup), 0);
    size_t l, r;
    const double *q = spx_forecast_basis(f, &l, &r, NULL);
    cr_assert(q);
    cr_assert_eq(r, l);
    spx_rng g;
    spx_rng_seed(&g, 9);
    double win[24], zz[24], back[24];
    double worst = 0.0;
    for (int trial = 0; trial < 50; trial++) {
        spx_rng_normal_fill(&g, win, l);
        /* z = Q^T x, x' = Q z */
        cblas_dgemv(CblasRowMajor, CblasTrans, (int)l, (int)r, 1.0, q, (int)r, win, 1, 0.0, zz, 1);
        cblas_dgemv(CblasRowMajor, CblasNoTrans, (int)l, (int)r, 1.0, q, (int)r, zz, 1, 0.0, back, 1);
        for (size_t i = 0; i < l; i++)
            worst = fmax(worst, fabs(back[i] - win[i]));
    }
    cr_expect_lt(worst, 1e-13, "round trip max error %.3g", worst);
    spx_forecast_free(f);
    free(x);
}

/* Windows of channel-major series for a reference ridge fit in the test: rows (origin, channel),
 * features the raw window, targets the next H values. */
static void ridge_reference(const double *x, size_t c, size_t l, size_t h, size_t o_first,
                            size_t o_last, double delta, double *w /* l x h */)
{
    const size_t nrow = (o_last - o_first + 1) * c;
    double *a = malloc(nrow * l * sizeof *a), *b = malloc(nrow * h * sizeof *b);
    size_t row = 0;
    for (size_t o = o_first; o <= o_last; o++)
        for (size_t j = 0; j < c; j++, row++) {
            for (size_t i = 0; i < l; i++)
                a[row * l + i] = x[(o + 1 - l + i) * c + j];
            for (size_t i = 0; i < h; i++)
                b[row * h + i] = x[(o + 1 + i) * c + j];
        }
    double *g = calloc(l * l, sizeof *g);
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)l, (int)nrow, 1.0, a, (int)l, 0.0, g,
                (int)l);
    for (size_t i = 0; i < l; i++)
        g[i * l + i] += delta;
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)l, (int)h, (int)nrow, 1.0, a, (int)l,
                b, (int)h, 0.0, w, (int)h);
    cr_assert_eq(LAPACKE_dposv(LAPACK_ROW_MAJOR, 'U', (lapack_int)l, (lapack_int)h, g,
                               (lapack_int)l, w, (lapack_int)h),
                 0);
    free(a);
    free(b);
    free(g);
}

/* Rotation invariance: full-rank OrthoTrans without window normalisation gives exactly the ridge
 * forecast on raw windows; and with forget = 1 the online model stays the batch ridge solution over
 * every window whose horizon has completed. */
Test(forecast, ortho_full_rank_equals_raw_ridge_and_rls_stays_batch)
{
    const size_t c = 3, n = 700;
    double *x = synth(n, c, 3);
    spx_forecast_params p = small_params(c);
    p.norm = SPX_FORECAST_NORM_NONE;
    p.standardize = 0;
    p.forget = 1.0;
    p.ridge = 0.5;
    spx_forecast *fo = make(&p);
    p.method = SPX_FORECAST_RLS_RAW;
    spx_forecast *fr = make(&p);
    const size_t l = p.lookback, h = p.horizon;
    double *w = malloc(l * h * sizeof *w);
    for (size_t t = 0; t < n; t++) {
        cr_assert_eq(spx_forecast_update_f64(fo, x + t * c, 1), 0);
        cr_assert_eq(spx_forecast_update_f64(fr, x + t * c, 1), 0);
        if (t + 1 < p.warmup || (t % 97 != 0 && t + 1 != p.warmup && t + 1 != n))
            continue;
        /* windows complete so far: origins l-1 .. t-h */
        ridge_reference(x, c, l, h, l - 1, t - h, p.ridge, w);
        size_t k, hh;
        const double *wr = spx_forecast_weights(fr, &k, &hh);
        cr_assert_eq(k, l);
        double d = 0.0, s = 0.0;
        for (size_t i = 0; i < l * h; i++) {
            d += (wr[i] - w[i]) * (wr[i] - w[i]);
            s += w[i] * w[i];
        }
        cr_expect_lt(sqrt(d / s), 1e-8, "t %zu: RLS raw vs batch ridge rel %.3g", t, sqrt(d / s));
        /* forecasts: ortho == raw == reference */
        spx_forecast_result ro, rr;
        spx_forecast_result_get(fo, &ro);
        spx_forecast_result_get(fr, &rr);
        cr_assert(ro.ready && rr.ready);
        cr_assert_eq(ro.origin, t);
        for (size_t j = 0; j < c; j++)
            for (size_t i = 0; i < h; i++) {
                double ref = 0.0;
                for (size_t a = 0; a < l; a++)
                    ref += x[(t + 1 - l + a) * c + j] * w[a * h + i];
                const double tol = 1e-8 * (1.0 + fabs(ref));
                cr_expect_lt(fabs(rr.forecast[i * c + j] - ref), tol);
                cr_expect_lt(fabs(ro.forecast[i * c + j] - ref), tol, "ortho %g vs ref %g",
                             ro.forecast[i * c + j], ref);
            }
    }
    free(w);
    spx_forecast_free(fo);
    spx_forecast_free(fr);
    free(x);
}

/* Leak-freedom. Two copies of a series agree up to T-1; from T on, one is poisoned with 1e12.
 * Feeding both sample by sample: until T arrives, weights, forecasts and metrics must be
 * bit-identical (nothing peeks ahead). When T arrives, exactly the update and the score whose
 * horizon ends at T see it. The forecasts issued before T are scored later against poisoned
 * targets, and their error must be the issued (clean) forecast minus the poison: the metric never
 * re-forecasts with a model that has learned from the targets. */
Test(forecast, leak_free_updates_and_metrics)
{
    const size_t c = 2, n = 700, T = 560;
    double *clean = synth(n, c, 4);
    double *dirty = malloc(n * c * sizeof *dirty);
    memcpy(dirty, clean, n * c * sizeof *dirty);
    const double poison = 1e12;
    for (size_t t = T; t < n; t++)
        for (size_t j = 0; j < c; j++)
            dirty[t * c + j] = poison;
    spx_forecast_params p = small_params(c);
    p.standardize = 0;
    p.forget = 0.99;
    spx_forecast *a = make(&p), *b = make(&p);
    const size_t h = p.horizon;
    double *issued = calloc(n * h * c, sizeof *issued); /* the dirty run's forecasts by origin */
    size_t k, hh;
    for (size_t t = 0; t < n; t++) {
        cr_assert_eq(spx_forecast_update_f64(a, clean + t * c, 1), 0);
        cr_assert_eq(spx_forecast_update_f64(b, dirty + t * c, 1), 0);
        spx_forecast_result ra, rb;
        spx_forecast_result_get(a, &ra);
        spx_forecast_result_get(b, &rb);
        if (rb.ready)
            memcpy(issued + t * h * c, rb.forecast, h * c * sizeof *issued);
        const double *wa = spx_forecast_weights(a, &k, &hh);
        const double *wb = spx_forecast_weights(b, &k, &hh);
        if (t < T) {
            cr_assert_eq(memcmp(wa, wb, k * hh * sizeof *wa), 0, "t %zu: weights differ", t);
            cr_assert_eq(ra.ready, rb.ready);
            if (ra.ready)
                cr_assert_eq(memcmp(ra.forecast, rb.forecast, h * c * sizeof(double)), 0);
            cr_assert_eq(ra.metrics.forecasts_scored, rb.metrics.forecasts_scored);
            cr_assert_eq(ra.metrics.mse, rb.metrics.mse, "t %zu: metric saw the future", t);
        } else if (t == T) {
            /* the window with targets T-h+1 .. T completed now: the update used it */
            cr_assert_neq(memcmp(wa, wb, k * hh * sizeof *wa), 0, "update at T did not happen");
            cr_assert_eq(rb.metrics.forecasts_scored, ra.metrics.forecasts_scored);
            cr_assert_gt(rb.metrics.mse, 1e18, "the forecast whose horizon ends at T was scored");
        }
    }
    /* The dirty run's metric is exactly the error of each forecast as issued (those before T equal
     * the clean run's, asserted above) against the targets that arrived later: recompute it. */
    spx_forecast_result rb;
    spx_forecast_result_get(b, &rb);
    const size_t o0 = p.warmup - 1, o1 = n - 1 - h;
    cr_assert_eq(rb.metrics.forecasts_scored, o1 - o0 + 1);
    double sse = 0.0;
    for (size_t o = o0; o <= o1; o++)
        for (size_t i = 0; i < h; i++)
            for (size_t j = 0; j < c; j++) {
                const double d = issued[o * h * c + i * c + j] - dirty[(o + 1 + i) * c + j];
                sse += d * d;
            }
    const double mse = sse / (double)((o1 - o0 + 1) * h * c);
    cr_expect_lt(fabs(rb.metrics.mse - mse), 1e-12 * mse, "metric %.17g vs issued %.17g",
                 rb.metrics.mse, mse);
    free(issued);
    spx_forecast_free(a);
    spx_forecast_free(b);
    free(clean);
    free(dirty);
}

/* Only forecasts whose whole horizon has arrived, and whose first target is at or after
 * score_from, are counted; with every = 3 forecasts are issued after every third sample only. */
Test(forecast, scoring_counts_and_every)
{
    const size_t c = 3, n = 640;
    double *x = synth(n, c, 5);
    spx_forecast_params p = small_params(c);
    p.score_from = 450;
    p.every = 3;
    spx_forecast *f = make(&p);
    const size_t h = p.horizon;
    int *has = calloc(n, sizeof *has);
    uint64_t scored = 0;
    for (size_t t = 0; t < n; t++) {
        cr_assert_eq(spx_forecast_update_f64(f, x + t * c, 1), 0);
        spx_forecast_result r;
        spx_forecast_result_get(f, &r);
        if (t >= h && has[t - h] && t - h + 1 >= p.score_from)
            scored++;
        cr_assert_eq(r.metrics.forecasts_scored, scored, "t %zu", t);
        if (t + 1 < p.warmup) {
            cr_assert_eq(r.ready, 0);
            continue;
        }
        if (r.ready && r.origin == t) {
            cr_assert_eq((t + 1) % p.every, 0, "forecast only every 3rd sample");
            has[t] = 1;
        } else {
            cr_assert_neq((t + 1) % p.every, 0, "t %zu", t);
        }
    }
    cr_assert_gt(scored, 50);
    free(has);
    spx_forecast_free(f);
    free(x);
}

/* With standardize = 0 the metrics are in input units: compare numbers, not just counts. */
Test(forecast, metric_values_in_input_units)
{
    const size_t c = 2, n = 600;
    double *x = synth(n, c, 6);
    spx_forecast_params p = small_params(c);
    p.standardize = 0;
    spx_forecast *f = make(&p);
    const size_t h = p.horizon;
    double *issued = calloc(n * h * c, sizeof *issued);
    double sse = 0.0, sae = 0.0, *sse_step = calloc(h, sizeof *sse_step);
    uint64_t scored = 0;
    for (size_t t = 0; t < n; t++) {
        cr_assert_eq(spx_forecast_update_f64(f, x + t * c, 1), 0);
        spx_forecast_result r;
        spx_forecast_result_get(f, &r);
        if (r.ready && r.origin == t)
            memcpy(issued + t * h * c, r.forecast, h * c * sizeof *issued);
        if (t >= h && t - h + 1 >= p.warmup) {
            const size_t o = t - h;
            for (size_t i = 0; i < h; i++)
                for (size_t j = 0; j < c; j++) {
                    const double d = issued[o * h * c + i * c + j] - x[(o + 1 + i) * c + j];
                    sse += d * d;
                    sae += fabs(d);
                    sse_step[i] += d * d;
                }
            scored++;
        }
    }
    spx_forecast_result r;
    spx_forecast_result_get(f, &r);
    cr_assert_eq(r.metrics.forecasts_scored, scored);
    const double denom = (double)(scored * h * c);
    cr_expect_lt(fabs(r.metrics.mse - sse / denom), 1e-12 * sse / denom);
    cr_expect_lt(fabs(r.metrics.mae - sae / denom), 1e-12 * sae / denom);
    for (size_t i = 0; i < h; i++)
        cr_expect_lt(fabs(r.metrics.mse_step[i] - sse_step[i] / (double)(scored * c)),
                     1e-12 * sse_step[i] / (double)(scored * c));
    free(issued);
    free(sse_step);
    spx_forecast_free(f);
    free(x);
}

Test(forecast, seasonal_naive_exact_on_periodic_signal)
{
    const size_t c = 3, n = 500, season = 24;
    double *x = malloc(n * c * sizeof *x);
    spx_rng g;
    spx_rng_seed(&g, 7);
    double pattern[24 * 3];
    spx_rng_normal_fill(&g, pattern, season * c);
    for (size_t t = 0; t < n; t++)
        for (size_t j = 0; j < c; j++)
            x[t * c + j] = 10.0 * j + pattern[(t % season) * c + j];
    spx_forecast_params p = small_params(c);
    p.method = SPX_FORECAST_SEASONAL;
    p.season = season;
    p.horizon = 50; /* longer than a season: wraps twice */
    p.lookback = 2;
    p.warmup = 100;
    spx_forecast *f = make(&p);
    cr_assert_eq(spx_forecast_update_f64(f, x, n), 0);
    spx_forecast_result r;
    spx_forecast_result_get(f, &r);
    cr_assert_eq(r.metrics.forecasts_scored, n - p.horizon - (p.warmup - 1));
    cr_assert_eq(r.metrics.mse, 0.0);
    cr_assert_eq(r.metrics.mae, 0.0);
    /* the current forecast continues the pattern in input units */
    for (size_t i = 0; i < p.horizon; i++)
        for (size_t j = 0; j < c; j++)
            cr_assert_float_eq(r.forecast[i * c + j], x[((n + i) % season) * c + j], 1e-12);
    spx_forecast_free(f);
    free(x);
}

Test(forecast, last_value_baseline_exact)
{
    const size_t c = 2, n = 300;
    double *x = synth(n, c, 8);
    spx_forecast_params p = small_params(c);
    p.method = SPX_FORECAST_LAST;
    p.standardize = 0;
    p.warmup = 50;
    spx_forecast *f = make(&p);
    cr_assert_eq(spx_forecast_update_f64(f, x, n), 0);
    spx_forecast_result r;
    spx_forecast_result_get(f, &r);
    for (size_t i = 0; i < p.horizon; i++)
        for (size_t j = 0; j < c; j++)
            cr_assert_eq(r.forecast[i * c + j], x[(n - 1) * c + j]);
    double sse = 0.0;
    size_t cnt = 0;
    for (size_t o = p.warmup - 1; o + p.horizon < n; o++)
        for (size_t i = 0; i < p.horizon; i++)
            for (size_t j = 0; j < c; j++, cnt++)
                sse += pow(x[(o + 1 + i) * c + j] - x[o * c + j], 2);
    cr_expect_lt(fabs(r.metrics.mse - sse / (double)cnt), 1e-12 * sse / (double)cnt);
    /* a constant series: zero error */
    spx_forecast *f2 = make(&p);
    double *k = malloc(n * c * sizeof *k);
    for (size_t i = 0; i < n * c; i++)
        k[i] = 3.25;
    cr_assert_eq(spx_forecast_update_f64(f2, k, n), 0);
    spx_forecast_result_get(f2, &r);
    cr_assert_eq(r.metrics.mse, 0.0);
    free(k);
    spx_forecast_free(f2);
    spx_forecast_free(f);
    free(x);
}

/* At full rank a refresh rotates W and P exactly (R orthogonal), so forecasts with and without
 * refreshes agree to rounding, while Q itself moves and stays orthonormal. */
Test(forecast, q_refresh_rotates_the_model_consistently)
{
    const size_t c = 2, n = 900;
    double *x = synth(n, c, 10);
    spx_forecast_params p = small_params(c);
    p.forget = 0.995;
    spx_forecast *a = make(&p);
    p.q_refresh = 50;
    p.q_stride = 1;
    spx_forecast *b = make(&p);
    double worst = 0.0;
    for (size_t t = 0; t < n; t++) {
        cr_assert_eq(spx_forecast_update_f64(a, x + t * c, 1), 0);
        cr_assert_eq(spx_forecast_update_f64(b, x + t * c, 1), 0);
        spx_forecast_result ra, rb;
        spx_forecast_result_get(a, &ra);
        spx_forecast_result_get(b, &rb);
        if (!ra.ready)
            continue;
        for (size_t i = 0; i < p.horizon * c; i++)
            worst = fmax(worst, fabs(ra.forecast[i] - rb.forecast[i]) / (1.0 + fabs(ra.forecast[i])));
    }
    spx_forecast_result rb;
    spx_forecast_result_get(b, &rb);
    cr_expect_eq(rb.q_refreshes, (n - p.warmup) / 50);
    cr_expect_lt(worst, 1e-8, "full-rank refresh changed forecasts by %.3g", worst);
    size_t l, r;
    const double *qa = spx_forecast_basis(a, &l, &r, NULL), *qb = spx_forecast_basis(b, NULL, NULL, NULL);
    double moved = 0.0, orth = 0.0;
    for (size_t i = 0; i < l * r; i++)
        moved = fmax(moved, fabs(qa[i] - qb[i]));
    for (size_t u = 0; u < r; u++)
        for (size_t v = 0; v < r; v++) {
            double s = 0.0;
            for (size_t i = 0; i < l; i++)
                s += qb[i * r + u] * qb[i * r + v];
            orth = fmax(orth, fabs(s - (u == v)));
        }
    cr_expect_gt(moved, 1e-6, "the refreshed basis moved");
    cr_expect_lt(orth, 1e-10);
    spx_forecast_free(a);
    spx_forecast_free(b);
    free(x);
}

/* Channel 1 follows channel 0 with a one-step lag; the shared per-channel map cannot see that,
 * the VAR cross stage can. */
Test(forecast, var_cross_stage_uses_other_channels)
{
    const size_t c = 2, n = 3000;
    double *x = malloc(n * c * sizeof *x);
    spx_rng g;
    spx_rng_seed(&g, 11);
    double a0 = 0.0;
    for (size_t t = 0; t < n; t++) {
        const double prev0 = a0;
        a0 = 0.5 * a0 + spx_rng_normal(&g);
        x[t * c + 0] = a0;
        x[t * c + 1] = 0.9 * prev0 + 0.1 * spx_rng_normal(&g);
    }
    spx_forecast_params p;
    spx_forecast_params_default(&p, c);
    p.lookback = 16;
    p.horizon = 1;
    p.warmup = 1000;
    p.forget = 1.0;
    p.rank = 0;
    double mse[2];
    for (int v = 0; v < 2; v++) {
        p.cross = v ? SPX_FORECAST_CROSS_VAR : SPX_FORECAST_CROSS_OFF;
        spx_forecast *f = make(&p);
        cr_assert_eq(spx_forecast_update_f64(f, x, n), 0);
        spx_forecast_result r;
        spx_forecast_result_get(f, &r);
        mse[v] = r.metrics.mse;
        spx_forecast_free(f);
    }
    cr_expect_lt(mse[1], 0.6 * mse[0], "VAR %.4f vs off %.4f", mse[1], mse[0]);
    free(x);
}

Test(forecast, normlin_weights_are_positive_and_row_stochastic_in_effect)
{
    /* Two identical channels and a third independent one: NormLin features must be finite and the
     * model must still forecast; with identical channels the forecasts of 0 and 1 coincide. */
    const size_t c = 3, n = 800;
    double *x = synth(n, c, 12);
    for (size_t t = 0; t < n; t++)
        x[t * c + 1] = x[t * c + 0];
    spx_forecast_params p = small_params(c);
    p.cross = SPX_FORECAST_CROSS_NORMLIN;
    p.rank = 8;
    spx_forecast *f = make(&p);
    cr_assert_eq(spx_forecast_update_f64(f, x, n), 0);
    spx_forecast_result r;
    spx_forecast_result_get(f, &r);
    size_t k;
    spx_forecast_weights(f, &k, NULL);
    cr_assert_eq(k, 16);
    for (size_t i = 0; i < p.horizon; i++) {
        cr_assert(isfinite(r.forecast[i * c + 2]));
        cr_assert_float_eq(r.forecast[i * c + 0], r.forecast[i * c + 1], 1e-9);
    }
    cr_assert(isfinite(r.metrics.mse) && r.metrics.mse < 1.0);
    spx_forecast_free(f);
    free(x);
}

Test(forecast, f32_input_matches_f64)
{
    const size_t c = 2, n = 500;
    double *x = synth(n, c, 13);
    float *xf = malloc(n * c * sizeof *xf);
    for (size_t i = 0; i < n * c; i++) {
        xf[i] = (float)x[i];
        x[i] = (double)xf[i];
    }
    spx_forecast_params p = small_params(c);
    spx_forecast *a = make(&p), *b = make(&p);
    cr_assert_eq(spx_forecast_update_f64(a, x, n), 0);
    cr_assert_eq(spx_forecast_update_f32(b, xf, n), 0);
    spx_forecast_result ra, rb;
    spx_forecast_result_get(a, &ra);
    spx_forecast_result_get(b, &rb);
    cr_assert_eq(memcmp(ra.forecast, rb.forecast, p.horizon * c * sizeof(double)), 0);
    cr_assert_eq(ra.metrics.mse, rb.metrics.mse);
    spx_forecast_free(a);
    spx_forecast_free(b);
    free(x);
    free(xf);
}

Test(forecast, warming_up_then_ready)
{
    const size_t c = 2;
    double *x = synth(500, c, 14);
    spx_forecast_params p = small_params(c);
    spx_forecast *f = make(&p);
    spx_forecast_result r;
    cr_assert_eq(spx_forecast_update_f64(f, x, p.warmup - 1), 0);
    spx_forecast_result_get(f, &r);
    cr_assert_eq(r.ready, 0);
    cr_assert_null(r.forecast);
    cr_assert_eq(r.samples, p.warmup - 1);
    cr_assert_eq(spx_forecast_update_f64(f, x + (p.warmup - 1) * c, 1), 0);
    spx_forecast_result_get(f, &r);
    cr_assert_eq(r.ready, 1);
    cr_assert_eq(r.origin, p.warmup - 1);
    cr_assert_eq(r.rank, p.lookback);
    spx_forecast_free(f);
    free(x);
}

Test(forecast, parameter_checks)
{
    spx_forecast_params p;
    char err[256];
    spx_forecast *f = NULL;
    spx_forecast_params_default(&p, 0);
    cr_expect_eq(spx_forecast_create(&f, &p, err, sizeof err), -EINVAL);
    cr_expect(strstr(err, "channels") != NULL, "%s", err);
    spx_forecast_params_default(&p, 3);
    p.rank = 5000;
    cr_expect_eq(spx_forecast_params_check(&p, err, sizeof err), -EINVAL);
    cr_expect(strstr(err, "rank") != NULL);
    p.rank = 97; /* clamped to L */
    cr_expect_eq(spx_forecast_params_check(&p, err, sizeof err), 0);
    p.resym_every = 0;
    cr_expect_eq(spx_forecast_params_check(&p, err, sizeof err), -EINVAL);
    spx_forecast_params_default(&p, 3);
    p.forget = 1.5;
    cr_expect_eq(spx_forecast_params_check(&p, err, sizeof err), -EINVAL);
    spx_forecast_params_default(&p, 3);
    p.warmup = 100; /* < L + H + 1 = 193 */
    cr_expect_eq(spx_forecast_params_check(&p, err, sizeof err), -EINVAL);
    cr_expect(strstr(err, "warmup") != NULL);
    spx_forecast_params_default(&p, 3);
    p.method = SPX_FORECAST_LAST;
    p.cross = SPX_FORECAST_CROSS_VAR;
    cr_expect_eq(spx_forecast_params_check(&p, err, sizeof err), -EINVAL);
    spx_forecast_params_default(&p, 3);
    p.ridge = 0.0;
    cr_expect_eq(spx_forecast_params_check(&p, err, sizeof err), -EINVAL);
    spx_forecast_params_default(&p, 3);
    cr_expect_eq(spx_forecast_params_check(&p, err, sizeof err), 0);
    spx_forecast_method m;
    spx_forecast_norm nm;
    spx_forecast_cross cx;
    cr_expect_eq(spx_forecast_method_parse("seasonal", &m), 0);
    cr_expect_eq(m, SPX_FORECAST_SEASONAL);
    cr_expect_eq(spx_forecast_norm_parse("mean", &nm), 0);
    cr_expect_eq(spx_forecast_cross_parse("normlin", &cx), 0);
    cr_expect_eq(spx_forecast_cross_parse("bogus", &cx), -EINVAL);
    cr_expect_str_eq(spx_forecast_method_name(SPX_FORECAST_RLS_RAW), "rls_raw");
}

/* A sample that is not finite is refused without touching the state; a warm-up whose statistics
 * overflow fails with -EDOM and the warm-up starts again. */
Test(forecast, bad_samples_and_failed_warmup)
{
    const size_t c = 2, n = 900;
    double *x = synth(n, c, 15);
    spx_forecast_params p = small_params(c);
    spx_forecast *a = make(&p), *b = make(&p);
    cr_assert_eq(spx_forecast_update_f64(a, x, 500), 0);
    cr_assert_eq(spx_forecast_update_f64(b, x, 500), 0);
    double bad[2] = {1.0, NAN};
    cr_assert_eq(spx_forecast_update_f64(b, bad, 1), -EINVAL);
    cr_assert_eq(spx_forecast_update_f64(a, x + 500 * c, 400), 0);
    cr_assert_eq(spx_forecast_update_f64(b, x + 500 * c, 400), 0);
    spx_forecast_result ra, rb;
    spx_forecast_result_get(a, &ra);
    spx_forecast_result_get(b, &rb);
    cr_assert_eq(ra.samples, rb.samples);
    cr_assert_eq(memcmp(ra.forecast, rb.forecast, p.horizon * c * sizeof(double)), 0);
    cr_assert_eq(ra.metrics.mse, rb.metrics.mse);

    spx_forecast *f = make(&p);
    double *huge = malloc(p.warmup * c * sizeof *huge);
    for (size_t i = 0; i < p.warmup * c; i++)
        huge[i] = (i % 2 ? 1e300 : -1e300);
    cr_assert_eq(spx_forecast_update_f64(f, huge, p.warmup), -EDOM);
    spx_forecast_result r;
    spx_forecast_result_get(f, &r);
    cr_assert_eq(r.ready, 0);
    cr_assert_eq(r.warmup_restarts, 1);
    cr_assert_eq(r.samples, 0);
    cr_assert_eq(spx_forecast_update_f64(f, x, n), 0);
    spx_forecast_result_get(f, &r);
    cr_assert_eq(r.ready, 1);
    spx_forecast_result_get(a, &ra);
    cr_assert_eq(memcmp(ra.forecast, r.forecast, p.horizon * c * sizeof(double)), 0,
                 "after the restart the model is the same as a fresh one");
    free(huge);
    spx_forecast_free(f);
    spx_forecast_free(a);
    spx_forecast_free(b);
    free(x);
}

Test(forecast, metrics_off_allocates_nothing_for_them)
{
    const size_t c = 2, n = 600;
    double *x = synth(n, c, 16);
    spx_forecast_params p = small_params(c);
    spx_forecast *a = make(&p);
    p.metrics = 0;
    spx_forecast *b = make(&p);
    cr_assert_eq(spx_forecast_update_f64(a, x, n), 0);
    cr_assert_eq(spx_forecast_update_f64(b, x, n), 0);
    spx_forecast_result ra, rb;
    spx_forecast_result_get(a, &ra);
    spx_forecast_result_get(b, &rb);
    cr_assert_eq(memcmp(ra.forecast, rb.forecast, p.horizon * c * sizeof(double)), 0);
    cr_assert_gt(ra.metrics.forecasts_scored, 0);
    cr_assert_eq(rb.metrics.forecasts_scored, 0);
    spx_forecast_free(a);
    spx_forecast_free(b);
    free(x);
}
