/* The forecaster on the real ETT / WTH series (../shared/data/forecast), against the reference
 * numbers of the notes (docs: shared/notes/algorithms.md section 4):
 *   - standard split, ETTh1, L = 96, leak-free online: H = 96 within 1% of the independent ridge
 *     reference (0.3815) with the shared map alone, and <= 0.375 (the target) with phase
 *     maps (one map per hour of day, shrunk towards the shared map); H = 720 <= 0.48 (ridge
 *     reference 0.4999);
 *   - FSNet/OneNet online protocol at H = 1, L = 60: ETTh2 <= 0.380, ETTm1 <= 0.082,
 *     WTH <= 0.156 (OneNet's numbers), with the configuration the offline bench chose on the
 *     validation split (VAR cross stage, 8 lags, ridge 100).
 * Hyperparameters are fixed here (chosen on val by bench_forecast_offline), never tuned on test. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "forecast.h"
/* testdata.h's SPX_REQUIRE_DATA uses cr_fatal, which Criterion 2.4 only has in its new assert API. */
#ifndef cr_fatal
#define cr_fatal(...) cr_assert_fail(__VA_ARGS__)
#endif
#include "testdata.h"

static void one_blas_thread(void) { openblas_set_num_threads(1); }
TestSuite(forecast_data, .init = one_blas_thread, .timeout = 120);

/* "date,v1,...,vC" lines after a header; returns n x C row-major, the first max_rows rows. */
static double *load_csv(const char *path, size_t max_rows, size_t *n_out, size_t *c_out)
{
    FILE *fp = fopen(path, "r");
    cr_assert(fp, "cannot open %s", path);
    char line[8192];
    cr_assert(fgets(line, sizeof line, fp));
    size_t c = 0;
    for (char *s = line; *s; s++)
        c += *s == ',';
    double *x = malloc(max_rows * c * sizeof *x);
    size_t n = 0;
    while (n < max_rows && fgets(line, sizeof line, fp)) {
        char *s = strchr(line, ',');
        for (size_t j = 0; j < c; j++) {
            cr_assert(s, "short line %zu", n);
            char *end;
            x[n * c + j] = strtod(s + 1, &end);
            s = strchr(end, ',');
        }
        n++;
    }
    fclose(fp);
    *n_out = n;
    *c_out = c;
    return x;
}

static void zscore(double *x, size_t n, size_t c, size_t train)
{
    for (size_t j = 0; j < c; j++) {
        double m = 0.0, v = 0.0;
        for (size_t i = 0; i < train; i++)
            m += x[i * c + j];
        m /= (double)train;
        for (size_t i = 0; i < train; i++)
            v += (x[i * c + j] - m) * (x[i * c + j] - m);
        const double sd = sqrt(v / (double)train);
        for (size_t i = 0; i < n; i++)
            x[i * c + j] = (x[i * c + j] - m) / sd;
    }
}

static double run(const double *x, size_t n, const spx_forecast_params *p, uint64_t *scored)
{
    spx_forecast *f = NULL;
    char err[256];
    cr_assert_eq(spx_forecast_create(&f, p, err, sizeof err), 0, "%s", err);
    cr_assert_eq(spx_forecast_update_f64(f, x, n), 0);
    spx_forecast_result r;
    spx_forecast_result_get(f, &r);
    *scored = r.metrics.forecasts_scored;
    const double mse = r.metrics.mse;
    spx_forecast_free(f);
    return mse;
}

Test(forecast_data, etth1_standard_split)
{
    char path[4096];
    SPX_REQUIRE_DATA(path, "forecast/ETTh1.csv");
    size_t n, c;
    double *x = load_csv(path, 14400, &n, &c);
    cr_assert_eq(n, 14400);
    cr_assert_eq(c, 7);
    zscore(x, n, c, 8640);
    spx_forecast_params p;
    spx_forecast_params_default(&p, c);
    p.lookback = 96;
    p.warmup = 8640;
    p.standardize = 0;
    p.score_from = 11520;
    uint64_t scored;

    p.horizon = 96;
    p.rank = 96;
    p.ridge = 100.0;
    p.forget = 0.999;
    const double m96 = run(x, n, &p, &scored);
    cr_assert_eq(scored, 2785, "every standard test window");
    cr_expect_leq(m96, 0.3815 * 1.01, "ETTh1 H=96 online MSE %.4f (ridge reference 0.3815)", m96);

    /* phase maps, hour of day (the stream starts at midnight): everything as bench_forecast_offline
     * chose it on the validation windows (the shared map's ridge, then its forgetting, then the
     * phase ridge, phase forgetting and one-hot) */
    p.ridge = 1000.0;
    p.forget = 0.9995;
    p.phase_period = 24;
    p.phase_ridge = 1000.0;
    p.phase_forget = 1.0;
    p.phase_onehot = 0;
    const double m96p = run(x, n, &p, &scored);
    cr_assert_eq(scored, 2785);
    cr_expect_leq(m96p, 0.375, "ETTh1 H=96 online MSE with phase maps %.4f (target 0.375)", m96p);
    cr_expect_lt(m96p, m96, "phase maps %.4f vs the shared map %.4f", m96p, m96);
    p.phase_period = 0;

    p.horizon = 720;
    p.rank = 32;
    p.forget = 1.0;
    const double m720 = run(x, n, &p, &scored);
    cr_assert_eq(scored, 2161);
    cr_expect_leq(m720, 0.48, "ETTh1 H=720 online MSE %.4f (target 0.48, ridge 0.4999)", m720);
    free(x);
}

static double h1_protocol(const char *rel, int fsnet_custom_split, double forget)
{
    char path[4096];
    if (!spx_test_data_path(path, sizeof path, rel)) {
        if (spx_test_under_ci())
            cr_fatal("CI=true but ../shared/data/%s is missing", rel);
        cr_skip_test("skipped: no ../shared/data");
    }
    size_t n, c;
    double *x = load_csv(path, 100000, &n, &c);
    size_t train = 2880, val = 3600, end = 14400;
    if (fsnet_custom_split) {
        /* FSNet's Dataset_Custom: 20% train, last 75% test */
        train = (size_t)((double)n * 0.2);
        val = n - (size_t)((double)n * 0.75);
        end = n;
    }
    cr_assert_geq(n, end);
    zscore(x, end, c, train);
    spx_forecast_params p;
    spx_forecast_params_default(&p, c);
    p.lookback = 60;
    p.horizon = 1;
    p.rank = 0; /* all 60 components: at H = 1 the step is cheap anyway */
    p.warmup = train;
    p.standardize = 0;
    p.score_from = val;
    p.cross = SPX_FORECAST_CROSS_VAR;
    p.cross_lags = 8;
    p.cross_ridge = 100.0;
    p.forget = forget;
    uint64_t scored;
    const double mse = run(x, end, &p, &scored);
    cr_assert_eq(scored, end - val, "every test step scored once");
    free(x);
    return mse;
}

Test(forecast_data, fsnet_protocol_etth2_h1)
{
    const double m = h1_protocol("forecast/ETTh2.csv", 0, 0.999);
    cr_expect_leq(m, 0.380, "ETTh2 H=1 cumulative MSE %.4f (OneNet 0.380)", m);
}

Test(forecast_data, fsnet_protocol_ettm1_h1)
{
    const double m = h1_protocol("forecast/ETTm1.csv", 0, 1.0);
    cr_expect_leq(m, 0.082, "ETTm1 H=1 cumulative MSE %.4f (OneNet 0.082)", m);
}

Test(forecast_data, fsnet_protocol_wth_h1)
{
    const double m = h1_protocol("forecast/WTH.csv", 1, 0.998);
    cr_expect_leq(m, 0.156, "WTH H=1 cumulative MSE %.4f (OneNet 0.156)", m);
}
