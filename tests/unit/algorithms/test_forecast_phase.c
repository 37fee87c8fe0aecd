/* Phase maps of the forecaster (phase_period > 0): every phase's map and every issued forecast
 * against exponentially weighted ridge solved by LAPACK in the test, on a synthetic series whose
 * dynamics change with the phase; and that the phase maps then forecast it better than the shared
 * map alone. */
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
TestSuite(forecast_phase, .init = one_blas_thread);

#define PERIOD 6

/* C channels, x_t = a_h x_{t-1} + b_h + noise with h = t mod PERIOD: each phase has its own
 * one-step dynamics and level. */
static double *periodic_series(size_t n, size_t c, uint64_t seed)
{
    static const double a[PERIOD] = {0.9, 0.2, -0.5, 0.7, 0.0, 0.95};
    static const double b[PERIOD] = {1.0, -0.5, 0.3, 2.0, -1.5, 0.0};
    spx_rng g;
    spx_rng_seed(&g, seed);
    double *x = malloc(n * c * sizeof *x);
    cr_assert(x);
    for (size_t j = 0; j < c; j++)
        x[j] = 0.0;
    for (size_t t = 1; t < n; t++)
        for (size_t j = 0; j < c; j++)
            x[t * c + j] = a[t % PERIOD] * x[(t - 1) * c + j] + b[t % PERIOD] +
                           (0.3 + 0.1 * (double)j) * spx_rng_normal(&g);
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

/* Raw-window features (lookback l, channel j, window ending at origin o) and the phase one-hot. */
static void features(const double *x, size_t c, size_t l, size_t o, size_t j, int onehot,
                     double *z)
{
    for (size_t i = 0; i < l; i++)
        z[i] = x[(o + 1 - l + i) * c + j];
    if (onehot)
        for (size_t i = 0; i < PERIOD; i++)
            z[l + i] = i == o % PERIOD ? 1.0 : 0.0;
}

/* argmin_W sum_o lam^age(o) sum_j ||y_oj - W^T z_oj||^2 + delta ||W - prior||^2 over the origins
 * o in [o_first, o_last] with o mod PERIOD == phase (every origin when phase < 0). age(o) = the
 * model's updates after window o: windows up to warm_last were fitted in one batch at the warm-up,
 * each later one is an update. Solved through the normal equations by dposv. */
static void weighted_ridge(const double *x, size_t c, size_t l, size_t h, int onehot,
                           size_t o_first, size_t o_last, size_t warm_last, int phase, double lam,
                           double delta, const double *prior, double *w /* k x h */)
{
    const size_t k = l + (onehot ? PERIOD : 0);
    double *g = calloc(k * k, sizeof *g), *z = malloc(k * sizeof *z);
    cr_assert(g && z);
    memset(w, 0, k * h * sizeof *w);
    for (size_t o = o_first; o <= o_last; o++) {
        if (phase >= 0 && o % PERIOD != (size_t)phase)
            continue;
        size_t age = 0;
        for (size_t u = (o > warm_last ? o : warm_last) + 1; u <= o_last; u++)
            age += phase < 0 || u % PERIOD == (size_t)phase;
        const double wt = pow(lam, (double)age);
        for (size_t j = 0; j < c; j++) {
            features(x, c, l, o, j, onehot, z);
            cblas_dsyr(CblasRowMajor, CblasUpper, (int)k, wt, z, 1, g, (int)k);
            for (size_t a = 0; a < k; a++)
                for (size_t s = 0; s < h; s++)
                    w[a * h + s] += wt * z[a] * x[(o + 1 + s) * c + j];
        }
    }
    for (size_t i = 0; i < k; i++)
        g[i * k + i] += delta;
    if (prior)
        for (size_t i = 0; i < k * h; i++)
            w[i] += delta * prior[i];
    cr_assert_eq(LAPACKE_dposv(LAPACK_ROW_MAJOR, 'U', (lapack_int)k, (lapack_int)h, g,
                               (lapack_int)k, w, (lapack_int)h),
                 0);
    free(g);
    free(z);
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

/* Streams the series and, at the warm-up fit and then every 23 samples, checks the shared map,
 * every phase map and the forecast just issued against the weighted ridge solutions. With
 * resym_every = 1 every RLS update ends in a checkpoint, where regularised forgetting is exactly
 * the exponentially weighted ridge; the phase maps forget phase_forget^PERIOD per update. */
static void check_against_ridge(int onehot, double forget, double phase_forget)
{
    const size_t c = 2, n = 460, l = 8, h = 3;
    double *x = periodic_series(n, c, 7);
    spx_forecast_params p;
    spx_forecast_params_default(&p, c);
    p.method = SPX_FORECAST_RLS_RAW;
    p.lookback = l;
    p.horizon = h;
    p.warmup = 200;
    p.standardize = 0;
    p.ridge = 0.5;
    p.forget = forget;
    p.resym_every = 1;
    p.phase_period = PERIOD;
    p.phase_ridge = 4.0;
    p.phase_forget = phase_forget;
    p.phase_onehot = onehot;
    spx_forecast *f = make(&p);
    const size_t k = l + (onehot ? PERIOD : 0), warm_last = p.warmup - 1 - h;
    double *ws = malloc(k * h * sizeof *ws), *wh = malloc(PERIOD * k * h * sizeof *wh);
    double *got = malloc(k * h * sizeof *got), *z = malloc(k * sizeof *z);
    cr_assert(ws && wh && got && z);
    cr_assert_eq(spx_forecast_phase_weights(f, 0, got), -EINVAL, "no phase maps before the fit");
    size_t checks = 0;
    for (size_t t = 0; t < n; t++) {
        cr_assert_eq(spx_forecast_update_f64(f, x + t * c, 1), 0);
        if (t + 1 < p.warmup || (t % 23 != 0 && t + 1 != p.warmup && t + 1 != n))
            continue;
        const size_t o_last = t - h; /* the last window whose horizon has arrived */
        weighted_ridge(x, c, l, h, onehot, l - 1, o_last, warm_last, -1, forget, p.ridge, NULL, ws);
        size_t kk, hh;
        const double *wsg = spx_forecast_weights(f, &kk, &hh);
        cr_assert_eq(kk, k);
        cr_assert_eq(hh, h);
        cr_expect_lt(rel_diff(wsg, ws, k * h), 1e-8, "t %zu shared map rel %.3g", t,
                     rel_diff(wsg, ws, k * h));
        for (int ph = 0; ph < PERIOD; ph++) {
            weighted_ridge(x, c, l, h, onehot, l - 1, o_last, warm_last, ph,
                           pow(phase_forget, PERIOD), p.phase_ridge, ws, wh + ph * k * h);
            cr_assert_eq(spx_forecast_phase_weights(f, (size_t)ph, got), 0);
            const double d = rel_diff(got, wh + ph * k * h, k * h);
            cr_expect_lt(d, 1e-8, "t %zu phase %d map rel %.3g", t, ph, d);
        }
        /* the forecast from origin t used its phase's map */
        spx_forecast_result r;
        spx_forecast_result_get(f, &r);
        cr_assert(r.ready);
        cr_assert_eq(r.origin, t);
        const double *w = wh + (t % PERIOD) * k * h;
        for (size_t j = 0; j < c; j++) {
            features(x, c, l, t, j, onehot, z);
            for (size_t s = 0; s < h; s++) {
                double ref = 0.0;
                for (size_t a = 0; a < k; a++)
                    ref += z[a] * w[a * h + s];
                cr_expect_lt(fabs(r.forecast[s * c + j] - ref), 1e-8 * (1.0 + fabs(ref)),
                             "t %zu channel %zu step %zu: %.12g vs %.12g", t, j, s,
                             r.forecast[s * c + j], ref);
            }
        }
        checks++;
    }
    cr_assert_gt(checks, 10);
    /* the maps really differ between phases (the test would be vacuous otherwise) */
    cr_assert_gt(rel_diff(wh, wh + k * h, k * h), 0.05);
    cr_assert_eq(spx_forecast_phase_weights(f, PERIOD, got), -EINVAL);
    free(ws);
    free(wh);
    free(got);
    free(z);
    spx_forecast_free(f);
    free(x);
}

Test(forecast_phase, maps_equal_ridge_towards_the_shared_map)
{
    check_against_ridge(1, 1.0, 1.0);
}

Test(forecast_phase, maps_equal_ridge_without_one_hot)
{
    check_against_ridge(0, 1.0, 1.0);
}

Test(forecast_phase, maps_equal_exponentially_weighted_ridge_with_forgetting)
{
    check_against_ridge(1, 0.99, 0.995);
}

/* On phase-dependent dynamics the phase maps must forecast clearly better than the shared map
 * (same data, same leak-free metrics), and in the ortho pipeline too. */
Test(forecast_phase, phase_maps_beat_the_shared_map_on_periodic_dynamics)
{
    const size_t c = 3, n = 2400;
    double *x = periodic_series(n, c, 11);
    for (int method = 0; method < 2; method++) {
        spx_forecast_params p;
        spx_forecast_params_default(&p, c);
        p.method = method ? SPX_FORECAST_RLS_RAW : SPX_FORECAST_ORTHO;
        p.lookback = 24;
        p.horizon = 6;
        p.rank = 12;
        p.warmup = 600;
        p.ridge = 1.0;
        p.score_from = 1200;
        spx_forecast *fs = make(&p);
        p.phase_period = PERIOD;
        p.phase_ridge = 10.0;
        spx_forecast *fp = make(&p);
        cr_assert_eq(spx_forecast_update_f64(fs, x, n), 0);
        cr_assert_eq(spx_forecast_update_f64(fp, x, n), 0);
        spx_forecast_result rs, rp;
        spx_forecast_result_get(fs, &rs);
        spx_forecast_result_get(fp, &rp);
        cr_assert_eq(rs.metrics.forecasts_scored, rp.metrics.forecasts_scored);
        cr_assert_gt(rp.metrics.forecasts_scored, 1000);
        cr_expect_lt(rp.metrics.mse, 0.9 * rs.metrics.mse, "%s: phase %.4f vs shared %.4f",
                     spx_forecast_method_name(p.method), rp.metrics.mse, rs.metrics.mse);
        spx_forecast_free(fs);
        spx_forecast_free(fp);
    }
    free(x);
}

Test(forecast_phase, parameter_checks)
{
    spx_forecast_params p;
    spx_forecast *f = NULL;
    char err[256];
    spx_forecast_params_default(&p, 2);
    cr_assert_eq(p.phase_period, 0, "phase maps are off by default");
    p.phase_period = 10001;
    cr_assert_eq(spx_forecast_create(&f, &p, err, sizeof err), -EINVAL);
    cr_assert(strstr(err, "phase_period"));
    p.phase_period = 24;
    p.phase_ridge = 0.0;
    cr_assert_eq(spx_forecast_create(&f, &p, err, sizeof err), -EINVAL);
    cr_assert(strstr(err, "phase_ridge"));
    p.phase_ridge = 10.0;
    p.phase_forget = 1.5;
    cr_assert_eq(spx_forecast_create(&f, &p, err, sizeof err), -EINVAL);
    cr_assert(strstr(err, "phase_forget"));
    p.phase_forget = 1e-300; /* phase_forget^24 underflows */
    cr_assert_eq(spx_forecast_create(&f, &p, err, sizeof err), -EINVAL);
    p.phase_forget = 0.9998;
    p.method = SPX_FORECAST_SEASONAL;
    cr_assert_eq(spx_forecast_create(&f, &p, err, sizeof err), -EINVAL);
    cr_assert(strstr(err, "phase maps"));
    p.method = SPX_FORECAST_ORTHO;
    p.phase_onehot = 1;
    cr_assert_eq(spx_forecast_create(&f, &p, err, sizeof err), 0, "%s", err);
    size_t k;
    spx_forecast_weights(f, &k, NULL);
    cr_assert_eq(k, 32 + 24, "rank 32 + the 24-phase one-hot");
    spx_forecast_free(f);
}
