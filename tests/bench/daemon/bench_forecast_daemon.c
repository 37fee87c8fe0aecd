/* Issue 6 through spectrad: the forecasting table and speed measured end to end.
 *
 * Starts its own spectrad (free loopback ports), replays ../shared/data/forecast with libspectra
 * (series streams; sample times from the `date` column; values z-scored with the train rows'
 * mean/std, ddof 0, as `spectra push --normalize train=ROWS` does), attaches `forecast` pipelines
 * with the attach policy off (one body per forecast origin), and receives every body on a SUB
 * socket. Each figure is checked three ways: the pipeline's own leak-free metrics (get detail
 * "metrics", restricted with score_from), the same metrics recomputed here from the forecasts
 * received on the SUB socket, and the in-process forecaster (algorithms/forecast.h) run on the
 * same samples in this process.
 *
 * Section "std": ETTh1 and ETTh2, standard split (train [0, 8640) = warm-up and normalisation,
 *   test targets in [11520, 14400)), L = 96, H in {96, 192, 336, 720}, the default model
 *   (OrthoTrans rank 32 + RevIN last + RLS) frozen after the warm-up (learn=false) and learning
 *   online; ridge and forgetting factor as chosen on the validation windows by
 *   bench_forecast_offline (never on test). ETTh1 H = 96 also with the configuration of the
 *   algorithm's real-data test (rank 96, ridge 100, forget 0.999).
 * Section "h1": the FSNet/OneNet online protocol, H = 1, L = 60, cumulative MSE over the test part:
 *   ETTh2 and ETTm1 train [0, 2880), val [2880, 3600), test [3600, 14400) (FSNet's hourly borders,
 *   ETTm1 included); WTH 20% / 5% / 75%. Configuration of the algorithm's real-data test (VAR
 *   cross stage, 8 lags, cross ridge 100; forgetting 0.999 / 1 / 0.998, chosen on val).
 * Section "speed": ETTh1, C = 7, L = 96, H = 96, rank 32, a forecast per step: steps/s end to end
 *   (push chunks, receive and decode every forecast) for several chunk sizes, the daemon worker's
 *   own rate (stats update_seconds) and the in-process rate measured in the same run.
 *
 * Usage: bench_forecast_daemon [--section std|h1|speed|all] [--dataset ETTh1] [--quick]
 *          [--spectrad PATH] [--workers N]
 * Needs libspectra, spx_algorithms and the test support (data path); see the CMake lines in the
 * helper's report. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <msgpack.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cblas.h>

#include "forecast.h"
#include "daemon_proc.h"
#include "spectra.h"
#include "testdata.h"

#define NONE UINT64_MAX

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

#define die bench_die

/* ---- data ------------------------------------------------------------------------------------- */

typedef struct dataset {
    const char *name;
    double *x;                 /* n x c row-major, z-scored */
    double *t;                 /* n sample times (seconds since the epoch) */
    size_t n, c;
    double rate;               /* Hz */
} dataset;

/* WTH's dates read "1/1/2010 0:00", which spectra_time_parse() does not take (ISO 8601 or seconds
 * only): its rows are hourly without gaps from 2010-01-01 00:00 UTC to 2013-12-31 23:00 (35,064 =
 * 1461 days x 24), so its times are made from that. */
#define WTH_START 1262304000.0
#define WTH_STEP 3600.0

static int load_dataset(const char *name, size_t max_rows, dataset *ds)
{
    char rel[64], path[4096];
    snprintf(rel, sizeof rel, "forecast/%s.csv", name);
    if (!spx_test_data_path(path, sizeof path, rel)) {
        fprintf(stderr, "missing ../shared/data/%s\n", rel);
        return -1;
    }
    const bool iso_dates = strcmp(name, "WTH") != 0;
    spectra_table_options o;
    spectra_table_options_init(&o);
    if (iso_dates)
        o.time_column = "date";
    else
        o.skip_columns = "date";
    spectra_table *tab = spectra_table_new(&o);
    if (!tab || spectra_table_open(tab, path) != 0) {
        fprintf(stderr, "%s: %s\n", path, tab ? spectra_table_error(tab) : "out of memory");
        spectra_table_free(tab);
        return -1;
    }
    memset(ds, 0, sizeof *ds);
    ds->name = name;
    ds->c = spectra_table_width(tab);
    size_t cap = 1 << 15;
    ds->x = malloc(cap * ds->c * sizeof *ds->x);
    ds->t = malloc(cap * sizeof *ds->t);
    while (ds->x && ds->t && ds->n < max_rows) {
        if (ds->n == cap) {
            cap *= 2;
            ds->x = realloc(ds->x, cap * ds->c * sizeof *ds->x);
            ds->t = realloc(ds->t, cap * sizeof *ds->t);
            if (!ds->x || !ds->t)
                break;
        }
        size_t want = cap - ds->n < max_rows - ds->n ? cap - ds->n : max_rows - ds->n, got = 0;
        int rc = iso_dates ? spectra_table_read_times(tab, ds->x + ds->n * ds->c, ds->t + ds->n,
                                                      want, &got)
                           : spectra_table_read(tab, ds->x + ds->n * ds->c, want, &got);
        if (rc != 0) {
            fprintf(stderr, "%s\n", spectra_table_error(tab));
            spectra_table_free(tab);
            return -1;
        }
        if (got == 0)
            break;
        if (!iso_dates)
            for (size_t i = ds->n; i < ds->n + got; i++)
                ds->t[i] = WTH_START + WTH_STEP * (double)i;
        ds->n += got;
    }
    spectra_table_free(tab);
    if (!ds->x || !ds->t || ds->n < 2)
        die(name, "cannot load");
    ds->rate = 1.0 / (ds->t[1] - ds->t[0]);
    return 0;
}

/* Per channel: (x - mean) / std over rows [0, train), std with ddof 0 (the protocol's and
 * bench_forecast_offline's normalisation). */
static void zscore(dataset *ds, size_t train)
{
    for (size_t j = 0; j < ds->c; j++) {
        double m = 0.0, v = 0.0;
        for (size_t i = 0; i < train; i++)
            m += ds->x[i * ds->c + j];
        m /= (double)train;
        for (size_t i = 0; i < train; i++)
            v += (ds->x[i * ds->c + j] - m) * (ds->x[i * ds->c + j] - m);
        const double sd = sqrt(v / (double)train);
        for (size_t i = 0; i < ds->n; i++)
            ds->x[i * ds->c + j] = (ds->x[i * ds->c + j] - m) / sd;
    }
}

static void dataset_free(dataset *ds)
{
    free(ds->x);
    free(ds->t);
}

/* ---- one pipeline under test ------------------------------------------------------------------ */

typedef struct fpipe {
    char name[40];
    const char *label;         /* for the table */
    spx_forecast_params fp;    /* what it is attached with, and the in-process twin's params */
    char kv[24][64];
    const char *params[24];
    size_t n_params;
    uint64_t first_origin;     /* first sample with a forecast */
    bool decode_every;         /* decode every body's forecast, scored or not (speed runs) */
    /* received on SUB */
    uint64_t bodies, next_origin, last_seq, lost;
    double *sse, *sae;         /* per horizon step, over the scored forecasts received */
    uint64_t sub_scored;
    /* the pipeline's own metrics (get detail "metrics") */
    double mse, mae;
    uint64_t scored;
    /* in process */
    double ip_mse, ip_mae, ip_seconds;
    uint64_t ip_scored;
} fpipe;

static void add_kv(fpipe *p, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void add_kv(fpipe *p, const char *key, const char *fmt, ...)
{
    char value[48];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(value, sizeof value, fmt, ap);
    va_end(ap);
    snprintf(p->kv[p->n_params], sizeof p->kv[p->n_params], "%s=%s", key, value);
    p->params[p->n_params] = p->kv[p->n_params];
    p->n_params++;
}

/* The attach parameters spelled from fp (every key the benches set), so both sides run the very
 * same configuration. */
static void fpipe_init(fpipe *p, const char *name, const char *label, const spx_forecast_params *fp)
{
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name);
    p->label = label;
    p->fp = *fp;
    add_kv(p, "lookback", "%zu", fp->lookback);
    add_kv(p, "horizon", "%zu", fp->horizon);
    add_kv(p, "method", "%s", spx_forecast_method_name(fp->method));
    add_kv(p, "rank", "%zu", fp->rank);
    add_kv(p, "norm", "%s", spx_forecast_norm_name(fp->norm));
    add_kv(p, "forget", "%.17g", fp->forget);
    add_kv(p, "ridge", "%.17g", fp->ridge);
    add_kv(p, "learn", "%s", fp->learn ? "true" : "false");
    add_kv(p, "warmup", "%zu", fp->warmup);
    add_kv(p, "standardize", "%s", fp->standardize ? "true" : "false");
    add_kv(p, "cross", "%s", spx_forecast_cross_name(fp->cross));
    add_kv(p, "cross_lags", "%zu", fp->cross_lags);
    add_kv(p, "cross_ridge", "%.17g", fp->cross_ridge);
    add_kv(p, "season", "%zu", fp->season);
    add_kv(p, "forecast_every", "%zu", fp->every);
    add_kv(p, "phase_period", "%zu", fp->phase_period);
    add_kv(p, "phase_ridge", "%.17g", fp->phase_ridge);
    add_kv(p, "phase_forget", "%.17g", fp->phase_forget);
    add_kv(p, "phase_onehot", "%s", fp->phase_onehot ? "true" : "false");
    add_kv(p, "score_from", "%llu", (unsigned long long)fp->score_from);
    /* the first origin: the last warm-up sample or the first multiple of `every` after it */
    uint64_t o = fp->warmup - 1;
    while ((o + 1) % fp->every)
        o++;
    p->first_origin = o;
    p->next_origin = o;
    p->sse = calloc(fp->horizon, sizeof *p->sse);
    p->sae = calloc(fp->horizon, sizeof *p->sae);
    if (!p->sse || !p->sae)
        die("fpipe", "out of memory");
}

static void fpipe_free(fpipe *p)
{
    free(p->sse);
    free(p->sae);
}

/* A received body: order, and the forecast scored here against the data exactly as the pipeline's
 * metrics do (forecasts whose first target is >= score_from and whose targets are all in `end`;
 * per step the sum over channels, then over forecasts in origin order). */
static void fpipe_take(fpipe *p, const spectra_msg *body, const dataset *ds, size_t end)
{
    uint64_t seq = 0, origin = 0;
    if (spectra_msg_uint(body, "seq", &seq) || spectra_msg_uint(body, "result.origin", &origin))
        die(p->name, "body without seq/origin");
    if (seq != p->last_seq + 1)
        p->lost += seq - p->last_seq - 1;
    p->last_seq = seq;
    if (origin != p->next_origin) {
        fprintf(stderr, "%s: origin %llu, expected %llu\n", p->name, (unsigned long long)origin,
                (unsigned long long)p->next_origin);
        p->lost++;
    }
    p->next_origin = origin + p->fp.every;
    p->bodies++;
    const size_t h = p->fp.horizon, c = ds->c;
    const bool scored = origin + 1 >= p->fp.score_from && origin + h < end;
    if (!scored && !p->decode_every)
        return;
    double *fc = NULL;
    size_t shape[2], ndim;
    if (spectra_msg_ndarray(body, "result.forecast", &fc, shape, 2, &ndim) || ndim != 2 ||
        shape[0] != h || shape[1] != c)
        die(p->name, "bad forecast array");
    if (!scored) {
        free(fc);
        return;
    }
    for (size_t s = 0; s < h; s++) {
        const double *y = ds->x + (origin + 1 + s) * c;
        double se = 0.0, ae = 0.0;
        for (size_t j = 0; j < c; j++) {
            const double d = fc[s * c + j] - y[j];
            se += d * d;
            ae += fabs(d);
        }
        p->sse[s] += se;
        p->sae[s] += ae;
    }
    p->sub_scored++;
    free(fc);
}

static void sub_metrics(const fpipe *p, size_t c, double *mse, double *mae)
{
    double se = 0.0, ae = 0.0;
    for (size_t s = 0; s < p->fp.horizon; s++) {
        se += p->sse[s];
        ae += p->sae[s];
    }
    const double per = (double)p->sub_scored * (double)c * (double)p->fp.horizon;
    *mse = per > 0 ? se / per : 0.0;
    *mae = per > 0 ? ae / per : 0.0;
}

/* The in-process forecaster on samples [0, end): metrics and the time after the warm-up. */
static void fpipe_in_process(fpipe *p, const dataset *ds, size_t end)
{
    spx_forecast *f = NULL;
    char err[256];
    if (spx_forecast_create(&f, &p->fp, err, sizeof err))
        die(p->name, err);
    spx_forecast_update_f64(f, ds->x, p->fp.warmup);
    const double t0 = now_s();
    spx_forecast_update_f64(f, ds->x + p->fp.warmup * ds->c, end - p->fp.warmup);
    p->ip_seconds = now_s() - t0;
    spx_forecast_result r;
    spx_forecast_result_get(f, &r);
    p->ip_mse = r.metrics.mse;
    p->ip_mae = r.metrics.mae;
    p->ip_scored = r.metrics.forecasts_scored;
    spx_forecast_free(f);
}

/* ---- control helpers -------------------------------------------------------------------------- */

static spectra_msg *get_detail(spectra_client *c, const char *stream, const char *pipeline,
                               const char *name)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 4);
    const char *kv[][2] = {{"op", "get"}, {"stream", stream}, {"pipeline", pipeline},
                           {"detail", name}};
    for (size_t i = 0; i < 4; i++)
        for (size_t j = 0; j < 2; j++) {
            msgpack_pack_str(&pk, strlen(kv[i][j]));
            msgpack_pack_str_body(&pk, kv[i][j], strlen(kv[i][j]));
        }
    spectra_msg *reply = NULL;
    if (spectra_request(c, sb.data, sb.size, &reply) != 0)
        die("get detail", spectra_last_error(c));
    msgpack_sbuffer_destroy(&sb);
    return reply;
}

/* Subscriptions reach a PUB socket asynchronously: results are published on a probe stream until
 * one arrives, after which the earlier subscription to `prefix` is in effect too. */
static void subscribe_and_settle(spectra_client *c, const char *prefix)
{
    if (spectra_subscribe(c, prefix) || spectra_subscribe(c, "probe.") ||
        spectra_create(c, "probe", SPECTRA_ROWS, 2, 0, NULL, 0) ||
        spectra_attach(c, "probe", "p", "topeig", NULL, 0, 1, 0))
        die("subscribe", spectra_last_error(c));
    const double row[2] = {1.0, 2.0};
    for (int attempt = 0; attempt < 100; attempt++) {
        spectra_push_rows(c, "probe", SPECTRA_F64, row, 1, 2);
        char topic[SPECTRA_TOPIC_MAX + 1];
        spectra_msg *body = NULL;
        if (spectra_recv_result(c, 100, topic, sizeof topic, &body) == 0) {
            spectra_msg_free(body);
            spectra_unsubscribe(c, "probe.");
            spectra_drop(c, "probe");
            return;
        }
    }
    die("subscribe", "no result on the probe stream in 10 s");
}

static void stream_setup(spectra_client *c, const dataset *ds, const char *stream, fpipe *ps,
                         size_t np)
{
    if (spectra_create(c, stream, SPECTRA_SERIES, (uint32_t)ds->c, ds->rate, NULL, 0))
        die("create", spectra_last_error(c));
    for (size_t i = 0; i < np; i++)
        if (spectra_attach(c, stream, ps[i].name, "forecast", ps[i].params, ps[i].n_params, 0, 0))
            die(ps[i].name, spectra_last_error(c));
    char prefix[80];
    snprintf(prefix, sizeof prefix, "%s.", stream);
    subscribe_and_settle(c, prefix);
}

/* Receives one body (waiting up to timeout_ms) and hands it to its pipeline. 0, or -1 on
 * timeout. */
static int receive_one(spectra_client *c, const char *stream, fpipe *ps, size_t np,
                       const dataset *ds, size_t end, int timeout_ms)
{
    char topic[SPECTRA_TOPIC_MAX + 1];
    spectra_msg *body = NULL;
    if (spectra_recv_result(c, timeout_ms, topic, sizeof topic, &body) != 0)
        return -1;
    const size_t sl = strlen(stream);
    for (size_t i = 0; i < np; i++)
        if (!strncmp(topic, stream, sl) && topic[sl] == '.' && !strcmp(topic + sl + 1, ps[i].name))
            fpipe_take(&ps[i], body, ds, end);
    spectra_msg_free(body);
    return 0;
}

/* True when every pipeline has delivered all its origins below `upto`. */
static bool all_in(const fpipe *ps, size_t np, uint64_t upto)
{
    for (size_t i = 0; i < np; i++)
        if (ps[i].next_origin < upto && upto > ps[i].first_origin)
            return false;
    return true;
}

/* Pushes samples [0, end) in chunks, at most two chunks ahead of what has come back (so no
 * high-water mark can drop a body), receives every body, then reads each pipeline's metrics. */
static void replay(spectra_client *c, const dataset *ds, const char *stream, fpipe *ps, size_t np,
                   size_t end, size_t chunk)
{
    for (size_t start = 0; start < end; start += chunk) {
        const size_t m = end - start < chunk ? end - start : chunk;
        if (spectra_push_series(c, stream, SPECTRA_F64, ds->x + start * ds->c, m, ds->c,
                                ds->t[start], ds->rate, NULL, 0))
            die("push", spectra_last_error(c));
        while (!all_in(ps, np, start))
            if (receive_one(c, stream, ps, np, ds, end, 600000))
                die(stream, "no body for 10 minutes");
    }
    while (!all_in(ps, np, end))
        if (receive_one(c, stream, ps, np, ds, end, 600000))
            die(stream, "no body for 10 minutes");
    for (size_t i = 0; i < np; i++) {
        spectra_msg *m = get_detail(c, stream, ps[i].name, "metrics");
        if (spectra_msg_double(m, "value.mse", &ps[i].mse) ||
            spectra_msg_double(m, "value.mae", &ps[i].mae) ||
            spectra_msg_uint(m, "value.forecasts_scored", &ps[i].scored))
            die(ps[i].name, "metrics detail without mse/mae/forecasts_scored");
        spectra_msg_free(m);
    }
}

/* One table row: the pipeline's metrics, the SUB recomputation's largest relative difference from
 * them, and whether the in-process forecaster gives the very same numbers. */
static void print_row(const dataset *ds, const fpipe *p, const char *note)
{
    double smse, smae;
    sub_metrics(p, ds->c, &smse, &smae);
    const double dsub = fmax(fabs(smse - p->mse) / p->mse, fabs(smae - p->mae) / p->mae);
    const bool same = p->ip_mse == p->mse && p->ip_mae == p->mae && p->ip_scored == p->scored;
    char sub[32];
    if (p->lost || p->sub_scored != p->scored)
        snprintf(sub, sizeof sub, "LOST %llu", (unsigned long long)p->lost);
    else
        snprintf(sub, sizeof sub, "%.1e", dsub);
    printf("%-6s %4zu  %-28s %.4f  %.4f  %5llu  %6llu  %-8s %-10s %s\n", ds->name,
           p->fp.horizon, p->label, p->mse, p->mae, (unsigned long long)p->scored,
           (unsigned long long)p->bodies, sub, same ? "identical" : "DIFFERENT", note);
    fflush(stdout);
}

/* ---- section std ------------------------------------------------------------------------------ */

#define STD_TRAIN 8640
#define STD_TEST_FROM 11520
#define STD_END 14400

typedef struct std_choice {
    size_t h;
    double ridge, forget;
} std_choice;

/* Chosen on the validation windows by bench_forecast_offline --section std (ortho r32 revin-last):
 * ridge from {1, 100, 1000} for the frozen fit, then forgetting from {1, .9998, .9995, .999}. */
static const std_choice etth1_choice[] = {
    {96, 1000, 0.999}, {192, 1000, 0.999}, {336, 1000, 0.999}, {720, 1000, 1.0}};
static const std_choice etth2_choice[] = {
    {96, 1, 1.0}, {192, 1, 1.0}, {336, 1, 1.0}, {720, 100, 0.999}};
/* shared/notes/algorithms.md: ETTh1, one ridge map shared by the channels, lambda on val */
static const double etth1_ridge_ref[4][2] = {
    {0.3815, 0.3930}, {0.4318, 0.4244}, {0.4752, 0.4510}, {0.4999, 0.4973}};

static spx_forecast_params std_params(size_t c, size_t h, double ridge, double forget, int learn)
{
    spx_forecast_params p;
    spx_forecast_params_default(&p, c);
    p.lookback = 96;
    p.horizon = h;
    p.rank = 32;
    p.ridge = ridge;
    p.forget = forget;
    p.learn = learn;
    p.warmup = STD_TRAIN;
    p.standardize = 0;         /* z-scored by the producer with the train statistics */
    p.score_from = STD_TEST_FROM;
    return p;
}

static void section_std(daemon_proc *d, const char *name, int quick)
{
    dataset ds;
    if (load_dataset(name, STD_END, &ds))
        return;
    zscore(&ds, STD_TRAIN);
    const bool h1 = !strcmp(name, "ETTh1");
    const std_choice *ch = h1 ? etth1_choice : etth2_choice;
    fpipe ps[11];
    size_t np = 0;
    for (size_t i = 0; i < 4; i++) {
        if (quick && ch[i].h != 96 && ch[i].h != 720)
            continue;
        spx_forecast_params fz = std_params(ds.c, ch[i].h, ch[i].ridge, ch[i].forget, 0);
        spx_forecast_params on = std_params(ds.c, ch[i].h, ch[i].ridge, ch[i].forget, 1);
        char pname[40];
        snprintf(pname, sizeof pname, "h%zu-frozen", ch[i].h);
        fpipe_init(&ps[np++], pname, "ortho r32, frozen", &fz);
        snprintf(pname, sizeof pname, "h%zu-online", ch[i].h);
        fpipe_init(&ps[np++], pname, "ortho r32, online", &on);
        if (h1 && ch[i].h == 96) {
            spx_forecast_params t = std_params(ds.c, 96, 100, 0.999, 1);
            t.rank = 96;
            fpipe_init(&ps[np++], "h96-r96-online", "ortho r96, online (test cfg)", &t);
            /* phase maps (hour of day: the stream starts at midnight), chosen on val by
             * bench_forecast_offline: the shared map's ridge / forgetting, then phase ridge,
             * phase forgetting and the one-hot */
            t = std_params(ds.c, 96, 1000, 0.999, 1);
            t.phase_period = 24;
            t.phase_ridge = 1000;
            t.phase_forget = 1.0;
            t.phase_onehot = 0;
            fpipe_init(&ps[np++], "h96-phase-online", "ortho r32 + phase, online", &t);
            t.rank = 96;
            t.forget = 0.9995;
            fpipe_init(&ps[np++], "h96-r96-phase-online", "ortho r96 + phase, online", &t);
        }
    }
    spectra_client *c = client_for(d, 600000);
    const double t0 = now_s();
    stream_setup(c, &ds, name, ps, np);
    replay(c, &ds, name, ps, np, STD_END, 240);
    const double wall = now_s() - t0;
    for (size_t i = 0; i < np; i++)
        fpipe_in_process(&ps[i], &ds, STD_END);

    printf("\n== %s, standard split through spectrad (L = 96; z-scored with train [0, 8640); test "
           "targets in [11520, 14400)) ==\n", name);
    printf("%-6s %4s  %-28s %-6s  %-6s  %5s  %6s  %-8s %-10s %s\n", "data", "H", "model", "MSE",
           "MAE", "wins", "bodies", "SUB d", "in-proc", "ridge / forget (val); notes' ridge ref");
    for (size_t i = 0; i < np; i++) {
        char note[256], phase[96] = "";
        size_t hi = ps[i].fp.horizon == 96 ? 0 : ps[i].fp.horizon == 192 ? 1
                  : ps[i].fp.horizon == 336 ? 2 : 3;
        if (ps[i].fp.phase_period)
            snprintf(phase, sizeof phase, "; phase %zu: %g / %g%s", ps[i].fp.phase_period,
                     ps[i].fp.phase_ridge, ps[i].fp.phase_forget,
                     ps[i].fp.phase_onehot ? " one-hot" : "");
        if (h1)
            snprintf(note, sizeof note, "%g / %g%s; ref %.4f / %.4f", ps[i].fp.ridge,
                     ps[i].fp.forget, phase, etth1_ridge_ref[hi][0], etth1_ridge_ref[hi][1]);
        else
            snprintf(note, sizeof note, "%g / %g%s", ps[i].fp.ridge, ps[i].fp.forget, phase);
        print_row(&ds, &ps[i], note);
        fpipe_free(&ps[i]);
    }
    printf("  (%zu pipelines on one stream, %zu samples in chunks of 240: %.1f s wall)\n", np,
           (size_t)STD_END, wall);
    spectra_drop(c, name);
    spectra_close(c);
    dataset_free(&ds);
}

/* ---- section h1 ------------------------------------------------------------------------------- */

typedef struct h1_case {
    const char *name;
    size_t train, val, end;    /* 0: WTH's 20% / 5% / 75% of the file */
    double forget;
    double onenet, fsnet;
} h1_case;

static void section_h1(daemon_proc *d)
{
    const h1_case cases[] = {
        {"ETTh2", 2880, 3600, 14400, 0.999, 0.380, 0.466},
        {"ETTm1", 2880, 3600, 14400, 1.0, 0.082, 0.085},
        {"WTH", 0, 0, 0, 0.998, 0.156, 0.162},
    };
    printf("\n== FSNet/OneNet online protocol through spectrad: H = 1, L = 60, cumulative test MSE "
           "(z-scored) ==\n");
    printf("%-6s %4s  %-28s %-6s  %-6s  %5s  %6s  %-8s %-10s %s\n", "data", "H", "model", "MSE",
           "MAE", "steps", "bodies", "SUB d", "in-proc", "paper: OneNet / FSNet");
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        h1_case hc = cases[k];
        dataset ds;
        if (load_dataset(hc.name, 1000000, &ds))
            continue;
        if (hc.end == 0) {
            hc.train = (size_t)((double)ds.n * 0.2);
            hc.val = ds.n - (size_t)((double)ds.n * 0.75);
            hc.end = ds.n;
        }
        zscore(&ds, hc.train);
        spx_forecast_params p;
        spx_forecast_params_default(&p, ds.c);
        p.lookback = 60;
        p.horizon = 1;
        p.rank = 0;
        p.warmup = hc.train;
        p.standardize = 0;
        p.score_from = hc.val;
        spx_forecast_params last = p;
        last.method = SPX_FORECAST_LAST;
        p.cross = SPX_FORECAST_CROSS_VAR;
        p.cross_lags = 8;
        p.cross_ridge = 100.0;
        p.forget = hc.forget;
        fpipe ps[2];
        fpipe_init(&ps[0], "last", "last value", &last);
        fpipe_init(&ps[1], "ortho-var", "ortho + VAR cross, online", &p);
        spectra_client *c = client_for(d, 600000);
        stream_setup(c, &ds, hc.name, ps, 2);
        replay(c, &ds, hc.name, ps, 2, hc.end, 480);
        for (size_t i = 0; i < 2; i++) {
            fpipe_in_process(&ps[i], &ds, hc.end);
            char note[96] = "";
            if (i == 1)
                snprintf(note, sizeof note, "%.3f / %.3f (forget %g; test [%zu, %zu))", hc.onenet,
                         hc.fsnet, hc.forget, hc.val, hc.end);
            print_row(&ds, &ps[i], note);
            fpipe_free(&ps[i]);
        }
        spectra_drop(c, hc.name);
        spectra_close(c);
        dataset_free(&ds);
    }
}

/* ---- section speed ---------------------------------------------------------------------------- */

/* CPU seconds (user + system, all threads) of a process, from /proc/<pid>/stat. */
static double process_cpu_seconds(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *fp = fopen(path, "r");
    if (!fp)
        return 0.0;
    size_t got = fread(buf, 1, sizeof buf - 1, fp);
    fclose(fp);
    buf[got] = '\0';
    const char *s = strrchr(buf, ')');   /* the command name may contain spaces */
    unsigned long utime = 0, stime = 0;
    if (!s || sscanf(s + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime,
                     &stime) != 2)
        return 0.0;
    return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

static double pipeline_update_seconds(spectra_client *c, const char *stream, const char *pipeline)
{
    spectra_msg *st = NULL;
    if (spectra_stats(c, &st))
        die("stats", spectra_last_error(c));
    char path[160];
    snprintf(path, sizeof path, "streams.%s.pipelines.%s.update_seconds", stream, pipeline);
    double v = 0.0;
    spectra_msg_double(st, path, &v);
    spectra_msg_free(st);
    return v;
}

/* Samples for the speed runs: ETTh1's warm-up rows, then its rows [8640, n) replayed `cycles`
 * times with continuing times (values jump at each wrap; the cost per step does not depend on
 * them). */
static double *speed_samples(const dataset *ds, size_t cycles, size_t *n_out)
{
    const size_t tail = ds->n - STD_TRAIN, n = STD_TRAIN + cycles * tail;
    double *x = malloc(n * ds->c * sizeof *x);
    if (!x)
        die("speed", "out of memory");
    memcpy(x, ds->x, STD_TRAIN * ds->c * sizeof *x);
    for (size_t k = 0; k < cycles; k++)
        memcpy(x + (STD_TRAIN + k * tail) * ds->c, ds->x + STD_TRAIN * ds->c,
               tail * ds->c * sizeof *x);
    *n_out = n;
    return x;
}

static void section_speed(daemon_proc *d, int quick)
{
    dataset ds;
    if (load_dataset("ETTh1", 1000000, &ds))
        return;
    zscore(&ds, STD_TRAIN);
    size_t n;
    double *x = speed_samples(&ds, quick ? 1 : 3, &n);
    const size_t steps = n - STD_TRAIN;
    spx_forecast_params p = std_params(ds.c, 96, 1000, 0.999, 1);
    p.score_from = 0;

    /* in process, the same samples */
    double ip_best = 0.0;
    for (int rep = 0; rep < 2; rep++) {
        spx_forecast *f = NULL;
        char err[256];
        if (spx_forecast_create(&f, &p, err, sizeof err))
            die("in process", err);
        spx_forecast_update_f64(f, x, STD_TRAIN);
        const double t0 = now_s();
        spx_forecast_update_f64(f, x + STD_TRAIN * ds.c, steps);
        const double r = (double)steps / (now_s() - t0);
        ip_best = r > ip_best ? r : ip_best;
        spx_forecast_free(f);
    }
    printf("\n== speed: ETTh1, C = 7, L = 96, H = 96, rank 32, a forecast per step, %zu steps ==\n",
           steps);
    printf("  in process (this run, one BLAS thread): %8.0f steps/s (%.1f us/step)\n", ip_best,
           1e6 / ip_best);

    const size_t chunks[] = {1, 24, 96, 480, 2400};
    dataset sx = ds;
    sx.x = x;
    sx.n = n;
    for (size_t ci = 0; ci < sizeof chunks / sizeof chunks[0]; ci++) {
        const size_t chunk = chunks[ci];
        if (quick && chunk != 96)
            continue;
        char stream[32];
        snprintf(stream, sizeof stream, "speed%zu", chunk);
        fpipe fp;
        fpipe_init(&fp, "f", "speed", &p);
        fp.decode_every = true;
        spectra_client *c = client_for(d, 600000);
        stream_setup(c, &ds, stream, &fp, 1);
        const double dt = 1.0 / ds.rate;
        /* warm-up, and its fit, before the clock starts */
        if (spectra_push_series(c, stream, SPECTRA_F64, x, STD_TRAIN, ds.c, ds.t[0], ds.rate,
                                NULL, 0))
            die("push", spectra_last_error(c));
        while (fp.bodies == 0)
            if (receive_one(c, stream, &fp, 1, &sx, 0, 600000))
                die(stream, "no first forecast");
        const double busy0 = pipeline_update_seconds(c, stream, "f");
        const double dcpu0 = process_cpu_seconds(d->pid), ccpu0 = process_cpu_seconds(getpid());
        /* at most `window` samples pushed beyond the forecasts received */
        const size_t window = chunk * 4 > 4096 ? chunk * 4 : 4096;
        const double t0 = now_s();
        size_t pushed = STD_TRAIN;
        while (fp.next_origin < n) {
            if (pushed < n && pushed - fp.next_origin < window) {
                const size_t m = n - pushed < chunk ? n - pushed : chunk;
                if (spectra_push_series(c, stream, SPECTRA_F64, x + pushed * ds.c, m, ds.c,
                                        ds.t[0] + (double)pushed * dt, ds.rate, NULL, 0))
                    die("push", spectra_last_error(c));
                pushed += m;
                while (receive_one(c, stream, &fp, 1, &sx, 0, 0) == 0)
                    ;
            } else if (receive_one(c, stream, &fp, 1, &sx, 0, 600000)) {
                die(stream, "no body for 10 minutes");
            }
        }
        const double wall = now_s() - t0;
        const double dcpu = process_cpu_seconds(d->pid) - dcpu0;
        const double ccpu = process_cpu_seconds(getpid()) - ccpu0;
        const double busy = pipeline_update_seconds(c, stream, "f") - busy0;
        const double us = 1e6 / (double)steps;
        printf("  spectrad, chunks of %4zu: %8.0f steps/s end to end; per step: worker %5.1f us "
               "(wall), daemon CPU %5.1f us, client CPU %5.1f us; bodies %llu, lost %llu\n",
               chunk, (double)steps / wall, busy * us, dcpu * us, ccpu * us,
               (unsigned long long)fp.bodies, (unsigned long long)fp.lost);
        fflush(stdout);
        spectra_drop(c, stream);
        spectra_close(c);
        fpipe_free(&fp);
    }
    free(x);
    dataset_free(&ds);
}

int main(int argc, char **argv)
{
    bench_set_name("bench_forecast_daemon");
    const char *section = "all", *dataset_name = NULL, *workers = "4";
    static char bin[PATH_MAX];
    snprintf(bin, sizeof bin, "%s/spectrad", SPX_BIN_DIR);
    int quick = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--section") && i + 1 < argc)
            section = argv[++i];
        else if (!strcmp(argv[i], "--dataset") && i + 1 < argc)
            dataset_name = argv[++i];
        else if (!strcmp(argv[i], "--spectrad") && i + 1 < argc)
            snprintf(bin, sizeof bin, "%s", argv[++i]);
        else if (!strcmp(argv[i], "--workers") && i + 1 < argc)
            workers = argv[++i];
        else if (!strcmp(argv[i], "--quick"))
            quick = 1;
        else {
            fprintf(stderr, "usage: %s [--section std|h1|speed|all] [--dataset ETTh1] [--quick] "
                            "[--spectrad PATH] [--workers N]\n", argv[0]);
            return 2;
        }
    }
    /* spectrad runs BLAS on one thread; the in-process twin must too to give the same bits */
    openblas_set_num_threads(1);
    daemon_proc d;
    daemon_start(&d, bin, workers);
    const bool all = !strcmp(section, "all");
    printf("spectrad %s, %s workers; columns: SUB d = largest relative difference between the "
           "pipeline's metrics and those recomputed from the forecasts received on SUB; in-proc = "
           "the in-process forecaster's metrics on the same samples\n", bin, workers);
    if (all || !strcmp(section, "std")) {
        if (!dataset_name || !strcmp(dataset_name, "ETTh1"))
            section_std(&d, "ETTh1", quick);
        if (!dataset_name || !strcmp(dataset_name, "ETTh2"))
            section_std(&d, "ETTh2", quick);
    }
    if (all || !strcmp(section, "h1"))
        section_h1(&d);
    if (all || !strcmp(section, "speed"))
        section_speed(&d, quick);
    daemon_stop(&d);
    return 0;
}
