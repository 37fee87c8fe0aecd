/* Offline evaluation of the streaming forecaster (algorithms/forecast.h) on ../shared/data/forecast.
 *
 * Section "std": the long-horizon protocol (Informer/DLinear/OLinear): ETTh1/ETTh2 z-scored with
 *   the train rows' mean/std (population std), warm-up on train [0, 8640), lookback 96,
 *   H in {96, 192, 336, 720}, MSE/MAE over every test window (targets in [11520, 14400)) and every
 *   channel. Hyperparameters (ridge, then the forgetting factor) are chosen on the validation
 *   windows (targets in [8640, 11520)), never on test. "frozen" = the warm-up fit, no updates;
 *   "online" = RLS updates with every window whose horizon has completed. Ablation rows show what
 *   each part buys.
 * Section "h1": the FSNet/OneNet online protocol at H = 1, lookback 60, predict then update one step
 *   at a time, cumulative MSE over the test part. Splits as in FSNet's data_loader.py
 *   (salesforce/fsnet): ETTh2 and ETTm1 rows train [0, 2880), val [2880, 3600), test [3600, 14400)
 *   -- for ETTm1 too: FSNet's Dataset_ETT_minute uses the hourly borders (no x4); WTH train 20%,
 *   test the last 75%, val between. Forgetting factor and cross stage chosen on val.
 * Section "speed": in-process steps/s (one time step = one sample of every channel: an update and a
 *   forecast) on ETTh1 at L = 96, H = 96, then the same model in numpy and statsmodels' state-space
 *   models updated online (tests/bench/forecast_numpy.py, forecast_statsmodels.py), with ratios.
 *
 * Usage: bench_forecast_offline [--section std|h1|speed|all] [--dataset ETTh1] [--quick]
 *          [--no-python]
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cblas.h>

#include "forecast.h"
#include "testdata.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- CSV: a header line, then "date,v1,...,vC" ---- */

typedef struct series {
    double *x; /* n x c row-major */
    size_t n, c;
} series;

static int load_csv(const char *rel, series *out)
{
    char path[4096];
    if (!spx_test_data_path(path, sizeof path, rel)) {
        fprintf(stderr, "missing ../shared/data/%s\n", rel);
        return -1;
    }
    FILE *fp = fopen(path, "r");
    if (!fp)
        return -1;
    char line[8192];
    if (!fgets(line, sizeof line, fp)) {
        fclose(fp);
        return -1;
    }
    size_t c = 0;
    for (char *s = line; *s; s++)
        c += *s == ',';
    size_t cap = 1 << 16, n = 0;
    double *x = malloc(cap * c * sizeof *x);
    while (x && fgets(line, sizeof line, fp)) {
        char *s = strchr(line, ',');
        if (!s)
            continue;
        if (n == cap) {
            cap *= 2;
            double *nx = realloc(x, cap * c * sizeof *x);
            if (!nx) {
                free(x);
                x = NULL;
                break;
            }
            x = nx;
        }
        for (size_t j = 0; j < c; j++) {
            char *end;
            x[n * c + j] = strtod(s + 1, &end);
            s = strchr(end, ',');
            if (!s && j + 1 < c) {
                fclose(fp);
                free(x);
                return -1;
            }
        }
        n++;
    }
    fclose(fp);
    if (!x)
        return -1;
    out->x = x;
    out->n = n;
    out->c = c;
    return 0;
}

/* z-score every channel with the mean/std (ddof 0) of rows [0, train). */
static void zscore(series *s, size_t train)
{
    for (size_t j = 0; j < s->c; j++) {
        double m = 0.0, v = 0.0;
        for (size_t i = 0; i < train; i++)
            m += s->x[i * s->c + j];
        m /= (double)train;
        for (size_t i = 0; i < train; i++)
            v += (s->x[i * s->c + j] - m) * (s->x[i * s->c + j] - m);
        const double sd = sqrt(v / (double)train);
        for (size_t i = 0; i < s->n; i++)
            s->x[i * s->c + j] = (s->x[i * s->c + j] - m) / sd;
    }
}

/* ---- one run: warm up on [0, warmup), stream up to `end`, score targets from score_from ---- */

typedef struct run_out {
    double mse, mae;
    uint64_t scored;
    double seconds;     /* streaming time after warm-up */
    double fit_seconds; /* warm-up fit */
    uint64_t steps;
} run_out;

static int run(const series *s, const spx_forecast_params *p, size_t end, run_out *o)
{
    spx_forecast *f = NULL;
    char err[256];
    int rc = spx_forecast_create(&f, p, err, sizeof err);
    if (rc) {
        fprintf(stderr, "create: %s\n", err);
        return rc;
    }
    double t0 = now_s();
    rc = spx_forecast_update_f64(f, s->x, p->warmup);
    double t1 = now_s();
    if (!rc)
        rc = spx_forecast_update_f64(f, s->x + p->warmup * s->c, end - p->warmup);
    double t2 = now_s();
    spx_forecast_result res;
    spx_forecast_result_get(f, &res);
    o->mse = res.metrics.mse;
    o->mae = res.metrics.mae;
    o->scored = res.metrics.forecasts_scored;
    o->fit_seconds = t1 - t0;
    o->seconds = t2 - t1;
    o->steps = end - p->warmup;
    spx_forecast_free(f);
    return rc;
}

static spx_forecast_params base_params(size_t c, size_t l, size_t h, size_t warmup)
{
    spx_forecast_params p;
    spx_forecast_params_default(&p, c);
    p.lookback = l;
    p.horizon = h;
    p.warmup = warmup;
    p.standardize = 0; /* the protocol z-scores with train statistics itself */
    if (h == 1)
        p.rank = 0; /* all components: at H = 1 the step is cheap anyway */
    return p;
}

/* ---- section std ---- */

#define STD_TRAIN 8640
#define STD_VAL 11520
#define STD_TEST 14400

static double val_mse(const series *s, spx_forecast_params p)
{
    run_out o;
    p.score_from = STD_TRAIN;
    if (run(s, &p, STD_VAL, &o))
        return INFINITY;
    return o.mse;
}

static int test_run(const series *s, spx_forecast_params p, run_out *o)
{
    p.score_from = STD_TRAIN + (STD_VAL - STD_TRAIN);
    return run(s, &p, STD_TEST, o);
}

static void print_row(const char *ds, size_t h, const char *name, const run_out *o, const char *note)
{
    printf("%-6s %4zu  %-34s %.4f  %.4f  %5llu  %8.0f  %s\n", ds, h, name, o->mse, o->mae,
           (unsigned long long)o->scored, o->steps / (o->seconds > 0 ? o->seconds : 1e-9), note);
    fflush(stdout);
}

/* Ridge on val for the frozen fit, then the forgetting factor on val for the online model. */
static void choose_on_val(const series *s, spx_forecast_params *p, const double *ridges, size_t nr,
                          const double *forgets, size_t nf, char *note, size_t notelen)
{
    double best = INFINITY, best_ridge = p->ridge;
    spx_forecast_params q = *p;
    q.learn = 0;
    for (size_t i = 0; i < nr; i++) {
        q.ridge = ridges[i];
        double m = val_mse(s, q);
        if (m < best) {
            best = m;
            best_ridge = ridges[i];
        }
    }
    p->ridge = best_ridge;
    double best_f = 1.0, bestf = INFINITY;
    q = *p;
    q.learn = 1;
    for (size_t i = 0; i < nf; i++) {
        q.forget = forgets[i];
        double m = val_mse(s, q);
        if (m < bestf) {
            bestf = m;
            best_f = forgets[i];
        }
    }
    p->forget = best_f;
    snprintf(note, notelen, "ridge %g forget %g (val %.4f / %.4f)", best_ridge, best_f, best, bestf);
}

/* Phase maps (period 24: hour of day) on top of p's shared map: phase ridge x phase forgetting x
 * the hour one-hot, chosen on val. */
static void choose_phase_on_val(const series *s, spx_forecast_params *p, int quick, char *note,
                                size_t notelen)
{
    const double pridges[] = {300.0, 1000.0, 3000.0};
    const double pforgets[] = {1.0, 0.9998, 0.9995};
    double best = INFINITY;
    spx_forecast_params bestp = *p;
    for (int onehot = 1; onehot >= 0; onehot--) {
        for (size_t i = 0; i < 3; i++) {
            for (size_t j = 0; j < 3; j++) {
                if (quick && (i != 1 || j == 2))
                    continue;
                spx_forecast_params q = *p;
                q.phase_period = 24;
                q.phase_onehot = onehot;
                q.phase_ridge = pridges[i];
                q.phase_forget = pforgets[j];
                const double m = val_mse(s, q);
                if (m < best) {
                    best = m;
                    bestp = q;
                }
            }
        }
    }
    *p = bestp;
    snprintf(note, notelen, "phase ridge %g forget %g onehot %d (val %.4f)", p->phase_ridge,
             p->phase_forget, p->phase_onehot, best);
}

static void section_std(const char *ds, int quick)
{
    char rel[64];
    snprintf(rel, sizeof rel, "forecast/%s.csv", ds);
    series s;
    if (load_csv(rel, &s)) {
        printf("%s: cannot load\n", ds);
        return;
    }
    s.n = STD_TEST < s.n ? STD_TEST : s.n;
    zscore(&s, STD_TRAIN);
    const size_t hs[] = {96, 192, 336, 720};
    const double ridges[] = {1.0, 100.0, 1000.0};
    const double forgets[] = {1.0, 0.9998, 0.9995, 0.999};
    printf("\n== %s, standard split, L = 96: test MSE / MAE over all windows and channels ==\n", ds);
    printf("%-6s %4s  %-34s %-6s  %-6s  %5s  %8s  %s\n", "data", "H", "model", "MSE", "MAE", "wins",
           "steps/s", "choice (on val)");
    for (size_t hi = 0; hi < 4; hi++) {
        const size_t h = hs[hi];
        if (quick && h != 96 && h != 720)
            continue;
        run_out o;
        char note[160];
        spx_forecast_params p = base_params(s.c, 96, h, STD_TRAIN);

        p.method = SPX_FORECAST_LAST;
        if (!test_run(&s, p, &o))
            print_row(ds, h, "last value", &o, "");
        p.method = SPX_FORECAST_SEASONAL;
        p.season = 24;
        if (!test_run(&s, p, &o))
            print_row(ds, h, "seasonal naive (24)", &o, "");

        p = base_params(s.c, 96, h, STD_TRAIN);
        p.method = SPX_FORECAST_RLS_RAW;
        choose_on_val(&s, &p, ridges, 3, forgets, 4, note, sizeof note);
        p.learn = 0;
        if (!test_run(&s, p, &o))
            print_row(ds, h, "RLS raw windows, frozen (= ridge)", &o, note);
        p.learn = 1;
        if (!test_run(&s, p, &o))
            print_row(ds, h, "RLS raw windows, online", &o, note);

        /* The model: OrthoTrans rank 32 + RevIN(last) + RLS. */
        p = base_params(s.c, 96, h, STD_TRAIN);
        p.rank = 32;
        choose_on_val(&s, &p, ridges, 3, forgets, 4, note, sizeof note);
        p.learn = 0;
        if (!test_run(&s, p, &o))
            print_row(ds, h, "ortho r32 revin-last, frozen", &o, note);
        p.learn = 1;
        if (!test_run(&s, p, &o))
            print_row(ds, h, "ortho r32 revin-last, online", &o, note);

        /* Phase maps (hour of day) on the online model, at rank 32 and at full rank; the shared
         * map's ridge / forgetting as chosen above (rank 96: chosen again on val). */
        const spx_forecast_params m = p;
        for (size_t rank = 32; rank <= 96; rank += 64) {
            spx_forecast_params q = m;
            char pnote[320];
            if (rank != 32) {
                q.rank = rank;
                choose_on_val(&s, &q, ridges, 3, forgets, 4, note, sizeof note);
            }
            q.learn = 1;
            choose_phase_on_val(&s, &q, quick, pnote, sizeof pnote);
            char full[512];
            snprintf(full, sizeof full, "%s; %s", note, pnote);
            if (!test_run(&s, q, &o))
                print_row(ds, h, rank == 32 ? "ortho r32 + phase maps (24), online"
                                            : "ortho r96 + phase maps (24), online",
                          &o, full);
            if (quick || h != 96)
                break;
        }

        /* Ablations around it, same ridge / forgetting. */
        struct {
            const char *name;
            size_t rank;
            spx_forecast_norm norm;
            int scale;
            spx_forecast_cross cross;
            size_t q_refresh;
        } ab[] = {
            {"  full rank 96 (no truncation)", 96, SPX_FORECAST_NORM_LAST, 0, SPX_FORECAST_CROSS_OFF, 0},
            {"  rank 16", 16, SPX_FORECAST_NORM_LAST, 0, SPX_FORECAST_CROSS_OFF, 0},
            {"  rank 8", 8, SPX_FORECAST_NORM_LAST, 0, SPX_FORECAST_CROSS_OFF, 0},
            {"  no RevIN (norm none)", 32, SPX_FORECAST_NORM_NONE, 0, SPX_FORECAST_CROSS_OFF, 0},
            {"  RevIN mean", 32, SPX_FORECAST_NORM_MEAN, 0, SPX_FORECAST_CROSS_OFF, 0},
            {"  RevIN last + scale", 32, SPX_FORECAST_NORM_LAST, 1, SPX_FORECAST_CROSS_OFF, 0},
            {"  + NormLin cross stage", 32, SPX_FORECAST_NORM_LAST, 0, SPX_FORECAST_CROSS_NORMLIN, 0},
            {"  + VAR cross stage", 32, SPX_FORECAST_NORM_LAST, 0, SPX_FORECAST_CROSS_VAR, 0},
            {"  + Q refresh every 720", 32, SPX_FORECAST_NORM_LAST, 0, SPX_FORECAST_CROSS_OFF, 720},
        };
        for (size_t a = 0; a < sizeof ab / sizeof ab[0]; a++) {
            if (quick && a > 3)
                break;
            spx_forecast_params q = m;
            q.rank = ab[a].rank;
            q.norm = ab[a].norm;
            q.scale = ab[a].scale;
            q.cross = ab[a].cross;
            q.q_refresh = ab[a].q_refresh;
            q.learn = 1;
            if (!test_run(&s, q, &o))
                print_row(ds, h, ab[a].name, &o, "online");
        }
    }
    free(s.x);
}

/* ---- section h1 ---- */

typedef struct h1_split {
    const char *ds;
    size_t train, val, end;
} h1_split;

static void section_h1(int quick)
{
    h1_split splits[] = {
        {"ETTh2", 2880, 3600, 14400},
        {"ETTm1", 2880, 3600, 14400},
        {"WTH", 0, 0, 0},
    };
    const double reference_onenet[] = {0.380, 0.082, 0.156};
    const double reference_fsnet[] = {0.466, 0.085, 0.162};
    printf("\n== FSNet/OneNet online protocol, H = 1, L = 60: cumulative test MSE (z-scored) ==\n");
    printf("%-6s  %-40s %-7s %-7s %8s  %s\n", "data", "model", "MSE", "MAE", "steps/s",
           "choice (on val)");
    for (size_t d = 0; d < 3; d++) {
        char rel[64];
        snprintf(rel, sizeof rel, "forecast/%s.csv", splits[d].ds);
        series s;
        if (load_csv(rel, &s)) {
            printf("%s: cannot load\n", splits[d].ds);
            continue;
        }
        h1_split sp = splits[d];
        if (sp.end == 0) {
            sp.train = (size_t)((double)s.n * 0.2);
            sp.end = s.n;
            sp.val = s.n - (size_t)((double)s.n * 0.75);
        }
        s.n = sp.end;
        zscore(&s, sp.train);
        run_out o;
        spx_forecast_params p = base_params(s.c, 60, 1, sp.train);
        p.score_from = sp.val;

        p.method = SPX_FORECAST_LAST;
        if (!run(&s, &p, sp.end, &o))
            printf("%-6s  %-40s %.4f  %.4f  %8.0f\n", sp.ds, "last value", o.mse, o.mae,
                   o.steps / o.seconds);

        /* choose on val: forgetting x cross stage (VAR with 4 or 8 lags, ridge 1 or 100) */
        const double forgets[] = {1.0, 0.9999, 0.9995, 0.999, 0.998};
        const spx_forecast_cross crosses[] = {SPX_FORECAST_CROSS_OFF, SPX_FORECAST_CROSS_NORMLIN,
                                              SPX_FORECAST_CROSS_VAR, SPX_FORECAST_CROSS_VAR,
                                              SPX_FORECAST_CROSS_VAR, SPX_FORECAST_CROSS_VAR};
        const size_t lags[] = {4, 4, 4, 4, 8, 8};
        const double cridge[] = {1, 1, 1, 100, 1, 100};
        spx_forecast_params best = base_params(s.c, 60, 1, sp.train);
        double bestv = INFINITY;
        for (size_t ci = 0; ci < 6; ci++) {
            for (size_t fi = 0; fi < 5; fi++) {
                if (quick && fi > 0 && fi != 3)
                    continue;
                spx_forecast_params q = base_params(s.c, 60, 1, sp.train);
                q.cross = crosses[ci];
                q.cross_lags = lags[ci];
                q.cross_ridge = cridge[ci];
                q.forget = forgets[fi];
                q.score_from = sp.train;
                if (run(&s, &q, sp.val, &o))
                    continue;
                if (o.mse < bestv) {
                    bestv = o.mse;
                    best = q;
                }
            }
        }
        char note[128];
        if (best.cross == SPX_FORECAST_CROSS_VAR)
            snprintf(note, sizeof note, "cross var lags %zu ridge %g, forget %g (val %.4f)",
                     best.cross_lags, best.cross_ridge, best.forget, bestv);
        else
            snprintf(note, sizeof note, "cross %s, forget %g (val %.4f)",
                     spx_forecast_cross_name(best.cross), best.forget, bestv);

        spx_forecast_params q = base_params(s.c, 60, 1, sp.train);
        q.score_from = sp.val;
        q.method = SPX_FORECAST_RLS_RAW;
        q.forget = 0.999;
        if (!run(&s, &q, sp.end, &o))
            printf("%-6s  %-40s %.4f  %.4f  %8.0f  forget 0.999\n", sp.ds,
                   "RLS raw windows, online (notes' setup)", o.mse, o.mae, o.steps / o.seconds);
        q = base_params(s.c, 60, 1, sp.train);
        q.score_from = sp.val;
        q.learn = 0;
        if (!run(&s, &q, sp.end, &o))
            printf("%-6s  %-40s %.4f  %.4f  %8.0f\n", sp.ds, "ortho revin-last, frozen", o.mse,
                   o.mae, o.steps / o.seconds);
        q.learn = 1;
        q.forget = 0.999;
        if (!run(&s, &q, sp.end, &o))
            printf("%-6s  %-40s %.4f  %.4f  %8.0f  forget 0.999\n", sp.ds,
                   "ortho revin-last, online", o.mse, o.mae, o.steps / o.seconds);
        best.score_from = sp.val;
        if (!run(&s, &best, sp.end, &o))
            printf("%-6s  %-40s %.4f  %.4f  %8.0f  %s\n", sp.ds, "ortho, chosen on val", o.mse,
                   o.mae, o.steps / o.seconds, note);
        q = best;
        q.cross = SPX_FORECAST_CROSS_VAR;
        if (best.cross != SPX_FORECAST_CROSS_VAR && !run(&s, &q, sp.end, &o))
            printf("%-6s  %-40s %.4f  %.4f  %8.0f  (not chosen on val)\n", sp.ds,
                   "ortho + VAR cross stage", o.mse, o.mae, o.steps / o.seconds);
        printf("%-6s  %-40s %.3f   (FSNet %.3f)\n", sp.ds, "OneNet (paper)", reference_onenet[d],
               reference_fsnet[d]);
        fflush(stdout);
        free(s.x);
    }
}

/* ---- section speed ---- */

static double steps_per_s(const series *s, spx_forecast_params p, size_t steps, double *fit_s)
{
    run_out o;
    size_t end = p.warmup + steps;
    if (end > s->n)
        end = s->n;
    if (run(s, &p, end, &o))
        return 0.0;
    if (fit_s)
        *fit_s = o.fit_seconds;
    return (double)o.steps / o.seconds;
}

static double python_rate(const char *script, const char *args, char *label, size_t labellen)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/tests/bench/%s %s", SPX_SOURCE_DIR, script, args);
    FILE *fp = popen(cmd, "r");
    if (!fp)
        return 0.0;
    char line[512];
    double rate = 0.0;
    label[0] = 0;
    while (fgets(line, sizeof line, fp)) {
        fputs("    | ", stdout);
        fputs(line, stdout);
        double r;
        char name[128];
        if (sscanf(line, "RATE %127s %lf", name, &r) == 2 && rate == 0.0) {
            rate = r;
            snprintf(label, labellen, "%s", name);
        }
    }
    pclose(fp);
    return rate;
}

static void section_speed(int quick, int with_python)
{
    series s;
    if (load_csv("forecast/ETTh1.csv", &s)) {
        printf("ETTh1: cannot load\n");
        return;
    }
    s.n = STD_TEST;
    zscore(&s, STD_TRAIN);
    const size_t steps = quick ? 2000 : 5760;
    printf("\n== speed: ETTh1, C = 7, L = 96, H = 96, one step = update + forecast, one thread ==\n");
    struct {
        const char *name;
        spx_forecast_method m;
        size_t rank;
        spx_forecast_cross cross;
    } cfg[] = {
        {"ortho rank 96", SPX_FORECAST_ORTHO, 96, SPX_FORECAST_CROSS_OFF},
        {"ortho rank 32 (default model)", SPX_FORECAST_ORTHO, 32, SPX_FORECAST_CROSS_OFF},
        {"ortho rank 16", SPX_FORECAST_ORTHO, 16, SPX_FORECAST_CROSS_OFF},
        {"ortho rank 32 + VAR cross", SPX_FORECAST_ORTHO, 32, SPX_FORECAST_CROSS_VAR},
        {"ortho rank 32 + phase maps (24)", SPX_FORECAST_ORTHO, 32, SPX_FORECAST_CROSS_OFF},
        {"ortho rank 96 + phase maps (24)", SPX_FORECAST_ORTHO, 96, SPX_FORECAST_CROSS_OFF},
        {"RLS raw windows", SPX_FORECAST_RLS_RAW, 0, SPX_FORECAST_CROSS_OFF},
        {"last value", SPX_FORECAST_LAST, 0, SPX_FORECAST_CROSS_OFF},
    };
    double rate32 = 0.0, rate96 = 0.0;
    for (size_t i = 0; i < sizeof cfg / sizeof cfg[0]; i++) {
        spx_forecast_params p = base_params(s.c, 96, 96, STD_TRAIN);
        p.method = cfg[i].m;
        p.rank = cfg[i].rank;
        p.cross = cfg[i].cross;
        if (strstr(cfg[i].name, "phase")) {
            p.phase_period = 24;
            p.phase_forget = 1.0;
            p.phase_onehot = 0;
        }
        double fit = 0.0;
        double r = steps_per_s(&s, p, steps, &fit);
        if (i == 0)
            rate96 = r;
        if (i == 1)
            rate32 = r;
        printf("  %-34s %9.0f steps/s  (%6.1f us/step; warm-up fit %.2f s)\n", cfg[i].name, r,
               1e6 / r, fit);
    }
    /* the same with a forecast only every 24 samples (updates still every sample) */
    spx_forecast_params p = base_params(s.c, 96, 96, STD_TRAIN);
    p.rank = 32;
    p.every = 24;
    double r24 = steps_per_s(&s, p, steps, NULL);
    printf("  %-34s %9.0f steps/s\n", "ortho rank 32, forecast every 24", r24);
    fflush(stdout);
    if (!with_python) {
        free(s.x);
        return;
    }
    char label[128], args[256];
    snprintf(args, sizeof args, "--steps %zu", quick ? (size_t)100 : (size_t)300);
    double np96 = python_rate("forecast_numpy.py", "--rank 96 --steps 2000", label, sizeof label);
    double np32 = python_rate("forecast_numpy.py", "--rank 32 --steps 2000", label, sizeof label);
    double sm = python_rate("forecast_statsmodels.py", args, label, sizeof label);
    printf("  ratios (same run): C/numpy rank 96 %.1fx, rank 32 %.1fx; C rank 32 / statsmodels "
           "(%s) %.0fx\n",
           np96 > 0 ? rate96 / np96 : 0.0, np32 > 0 ? rate32 / np32 : 0.0, label,
           sm > 0 ? rate32 / sm : 0.0);
    free(s.x);
}

int main(int argc, char **argv)
{
    const char *section = "all", *dataset = NULL;
    int quick = 0, with_python = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--section") && i + 1 < argc)
            section = argv[++i];
        else if (!strcmp(argv[i], "--dataset") && i + 1 < argc)
            dataset = argv[++i];
        else if (!strcmp(argv[i], "--quick"))
            quick = 1;
        else if (!strcmp(argv[i], "--no-python"))
            with_python = 0;
        else {
            fprintf(stderr, "usage: %s [--section std|h1|speed|all] [--dataset ETTh1] [--quick] "
                            "[--no-python]\n",
                    argv[0]);
            return 2;
        }
    }
    openblas_set_num_threads(1);
    const int all = !strcmp(section, "all");
    if (all || !strcmp(section, "std")) {
        if (!dataset || !strcmp(dataset, "ETTh1"))
            section_std("ETTh1", quick);
        if (!dataset || !strcmp(dataset, "ETTh2"))
            section_std("ETTh2", quick);
    }
    if (all || !strcmp(section, "h1"))
        section_h1(quick);
    if (all || !strcmp(section, "speed"))
        section_speed(quick, with_python);
    return 0;
}
