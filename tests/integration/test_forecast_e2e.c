/* End to end: issue 6 (streaming forecasting) through a real spectrad, driven with libspectra.
 *
 * ETTh1 rows [0, 14400) read with the client's table reader (dates as sample times), z-scored with
 * the train rows' mean/std (as `spectra push --normalize train=8640` does), pushed as a 7-channel
 * series in chunks. Two `forecast` pipelines on the stream, with the attach policy off so bodies
 * come only per forecast origin:
 *   online  L = 96, H = 96, learning online (the configuration of the algorithm's real-data test);
 *   frozen  the same, learn = false, forecast_every = 24.
 * Every body is received on a SUB socket and its forecast compared bit for bit with the in-process
 * forecaster fed the same samples (same code, deterministic); counts, origins, times and the final
 * leak-free metrics (get detail "metrics") must equal the in-process ones exactly, and the online
 * test MSE must be within 1% of the notes' ridge reference 0.3815 (shared/notes/algorithms.md).
 *
 * Integration tests link libspectra and the test support only, so the forecaster's sources are
 * compiled into this test: the reference is the very code the daemon runs. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon_harness.h"
#include "spectra.h"
#include "testdata.h"

#include "../../algorithms/forecast_eval.c"
#include "../../algorithms/forecast_orthotrans.c"
#include "../../algorithms/forecast_rls.c"
#include "../../algorithms/forecast_model.c"

#define ROWS 14400
#define TRAIN 8640
#define TEST_FROM 11520
#define CHANNELS 7
#define LOOKBACK 96
#define HORIZON 96
#define FROZEN_EVERY 24
#define CHUNK 480
#define NOTES_RIDGE_H96 0.3815

static spectra_client *client_for(const spx_daemon_proc *d)
{
    spectra_options o;
    spectra_options_init(&o);
    o.control = d->control;
    o.ingest = d->ingest;
    o.publish = d->publish;
    o.timeout_ms = 120000;     /* the warm-up fit under ASan takes a while */
    spectra_client *c = spectra_connect(&o);
    cr_assert(c);
    return c;
}

/* Subscriptions reach a PUB socket asynchronously: results are published on a probe stream until
 * one arrives, after which the earlier subscription to `prefix` is in effect too. */
static void subscribe_and_settle(spectra_client *c, const char *prefix)
{
    cr_assert_eq(spectra_subscribe(c, prefix), 0);
    cr_assert_eq(spectra_subscribe(c, "probe."), 0);
    cr_assert_eq(spectra_create(c, "probe", SPECTRA_ROWS, 2, 0, NULL, 0), 0);
    cr_assert_eq(spectra_attach(c, "probe", "p", "topeig", NULL, 0, 1, 0), 0);
    const double row[2] = {1.0, 2.0};
    for (int attempt = 0; attempt < 100; attempt++) {
        cr_assert_eq(spectra_push_rows(c, "probe", SPECTRA_F64, row, 1, 2), 0);
        char topic[SPECTRA_TOPIC_MAX + 1];
        spectra_msg *body = NULL;
        if (spectra_recv_result(c, 100, topic, sizeof topic, &body) == 0) {
            spectra_msg_free(body);
            cr_assert_eq(spectra_unsubscribe(c, "probe."), 0);
            cr_assert_eq(spectra_drop(c, "probe"), 0);
            return;
        }
    }
    cr_assert(0, "no result on the probe stream in 10 s");
}

static uint64_t msg_uint(const spectra_msg *m, const char *path)
{
    uint64_t v;
    cr_assert_eq(spectra_msg_uint(m, path, &v), 0, "%s", path);
    return v;
}

static double msg_double(const spectra_msg *m, const char *path)
{
    double v;
    cr_assert_eq(spectra_msg_double(m, path, &v), 0, "%s", path);
    return v;
}

/* `get` with a detail. */
static spectra_msg *detail(spectra_client *c, const char *stream, const char *pipeline,
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
    int rc = spectra_request(c, sb.data, sb.size, &reply);
    msgpack_sbuffer_destroy(&sb);
    cr_assert_eq(rc, 0, "get %s: %s", name, spectra_last_error(c));
    return reply;
}

/* ETTh1 rows [0, ROWS): values (ROWS x 7) and times, through the client's table reader. */
static void load_etth1(double **x, double **t)
{
    char path[4096];
    SPX_REQUIRE_DATA(path, "forecast/ETTh1.csv");
    spectra_table_options o;
    spectra_table_options_init(&o);
    o.time_column = "date";
    spectra_table *tab = spectra_table_new(&o);
    cr_assert(tab);
    cr_assert_eq(spectra_table_open(tab, path), 0, "%s", spectra_table_error(tab));
    cr_assert_eq(spectra_table_width(tab), CHANNELS);
    *x = malloc((size_t)ROWS * CHANNELS * sizeof **x);
    *t = malloc((size_t)ROWS * sizeof **t);
    cr_assert(*x && *t);
    size_t n = 0;
    cr_assert_eq(spectra_table_read_times(tab, *x, *t, ROWS, &n), 0, "%s",
                 spectra_table_error(tab));
    cr_assert_eq(n, ROWS);
    spectra_table_free(tab);
}

/* Per channel: (x - mean) / std over rows [0, TRAIN), std with ddof 0. */
static void zscore_train(double *x)
{
    for (size_t j = 0; j < CHANNELS; j++) {
        double m = 0.0, v = 0.0;
        for (size_t i = 0; i < TRAIN; i++)
            m += x[i * CHANNELS + j];
        m /= TRAIN;
        for (size_t i = 0; i < TRAIN; i++)
            v += (x[i * CHANNELS + j] - m) * (x[i * CHANNELS + j] - m);
        const double sd = sqrt(v / TRAIN);
        for (size_t i = 0; i < ROWS; i++)
            x[i * CHANNELS + j] = (x[i * CHANNELS + j] - m) / sd;
    }
}

/* One pipeline's view: its in-process twin, fed up to each body's origin, and what arrived. */
typedef struct tracked {
    const char *name;
    spx_forecast *ref;
    uint64_t fed;              /* samples given to ref */
    uint64_t bodies;
    uint64_t last_origin;      /* UINT64_MAX: none yet */
    uint64_t last_seq;
} tracked;

static void tracked_init(tracked *tr, const char *name, int learn, size_t every)
{
    spx_forecast_params p;
    spx_forecast_params_default(&p, CHANNELS);
    p.lookback = LOOKBACK;
    p.horizon = HORIZON;
    p.rank = 96;
    p.ridge = 100.0;
    p.forget = 0.999;
    p.warmup = TRAIN;
    p.standardize = 0;
    p.score_from = TEST_FROM;
    p.learn = learn;
    p.every = every;
    char err[256];
    memset(tr, 0, sizeof *tr);
    tr->name = name;
    cr_assert_eq(spx_forecast_create(&tr->ref, &p, err, sizeof err), 0, "%s", err);
    tr->last_origin = UINT64_MAX;
}

/* One received body of pipeline tr: contiguous seq, origin as expected, the input count and time
 * of that sample, and the forecast bit for bit the in-process one at the same origin. */
static void check_body(tracked *tr, const spectra_msg *body, const double *x, const double *t,
                       size_t every)
{
    const uint64_t seq = msg_uint(body, "seq");
    cr_assert_eq(seq, tr->last_seq + 1, "%s: body %llu after %llu (lost results?)", tr->name,
                 (unsigned long long)seq, (unsigned long long)tr->last_seq);
    tr->last_seq = seq;
    const uint64_t origin = msg_uint(body, "result.origin");
    const uint64_t want = tr->last_origin == UINT64_MAX ? TRAIN - 1 : tr->last_origin + every;
    cr_assert_eq(origin, want, "%s: origin %llu, expected %llu", tr->name,
                 (unsigned long long)origin, (unsigned long long)want);
    tr->last_origin = origin;
    tr->bodies++;
    cr_assert_eq(msg_uint(body, "count"), origin + 1);
    cr_assert_eq(msg_double(body, "t_in"), t[origin], "%s: t_in of origin %llu", tr->name,
                 (unsigned long long)origin);
    cr_assert_eq(msg_double(body, "result.origin_t"), t[origin]);
    cr_assert_eq(spx_forecast_update_f64(tr->ref, x + tr->fed * CHANNELS, origin + 1 - tr->fed),
                 0);
    tr->fed = origin + 1;
    spx_forecast_result r;
    spx_forecast_result_get(tr->ref, &r);
    cr_assert(r.ready && r.origin == origin);
    double *fc = NULL;
    size_t shape[2], ndim;
    cr_assert_eq(spectra_msg_ndarray(body, "result.forecast", &fc, shape, 2, &ndim), 0);
    cr_assert(ndim == 2 && shape[0] == HORIZON && shape[1] == CHANNELS);
    cr_assert_eq(memcmp(fc, r.forecast, HORIZON * CHANNELS * sizeof *fc), 0,
                 "%s: forecast at origin %llu differs from the in-process one", tr->name,
                 (unsigned long long)origin);
    free(fc);
}

/* The pipeline's final metrics (get detail) equal the in-process forecaster's, exactly. */
static double check_metrics(spectra_client *c, tracked *tr, const double *x, uint64_t scored)
{
    cr_assert_eq(spx_forecast_update_f64(tr->ref, x + tr->fed * CHANNELS, ROWS - tr->fed), 0);
    tr->fed = ROWS;
    spx_forecast_result r;
    spx_forecast_result_get(tr->ref, &r);
    spectra_msg *m = detail(c, "etth1", tr->name, "metrics");
    cr_assert_eq(msg_uint(m, "value.forecasts_scored"), scored, "%s: every test window", tr->name);
    cr_assert_eq(r.metrics.forecasts_scored, scored);
    cr_assert_eq(msg_double(m, "value.mse"), r.metrics.mse, "%s: mse", tr->name);
    cr_assert_eq(msg_double(m, "value.mae"), r.metrics.mae, "%s: mae", tr->name);
    cr_assert_eq(msg_uint(m, "value.samples"), ROWS);
    double *steps = NULL;
    size_t shape[2], ndim;
    cr_assert_eq(spectra_msg_ndarray(m, "value.mse_step", &steps, shape, 2, &ndim), 0);
    cr_assert(ndim == 1 && shape[0] == HORIZON);
    cr_assert_eq(memcmp(steps, r.metrics.mse_step, HORIZON * sizeof *steps), 0);
    free(steps);
    spectra_msg_free(m);
    cr_log_info("%s: %llu test windows, MSE %.4f MAE %.4f (daemon = in process)", tr->name,
                (unsigned long long)scored, r.metrics.mse, r.metrics.mae);
    return r.metrics.mse;
}

Test(forecast_e2e, etth1_through_the_daemon_equals_in_process, .timeout = 600)
{
    /* spectrad runs BLAS on one thread; a threaded BLAS may split sums differently */
    openblas_set_num_threads(1);
    double *x, *t;
    load_etth1(&x, &t);
    zscore_train(x);
    const double rate = 1.0 / (t[1] - t[0]);
    cr_assert_eq(t[1] - t[0], 3600.0, "ETTh1 is hourly");

    spx_daemon_proc d;
    spx_daemon_start(&d, NULL);
    spectra_client *c = client_for(&d);
    cr_assert_eq(spectra_create(c, "etth1", SPECTRA_SERIES, CHANNELS, rate, NULL, 0), 0);
    const char *common[] = {"lookback=96", "horizon=96", "rank=96", "ridge=100", "forget=0.999",
                            "warmup=8640", "standardize=false", "score_from=11520"};
    const char *online[8], *frozen[10];
    memcpy(online, common, sizeof common);
    memcpy(frozen, common, sizeof common);
    frozen[8] = "learn=false";
    frozen[9] = "forecast_every=24";
    cr_assert_eq(spectra_attach(c, "etth1", "online", "forecast", online, 8, 0, 0), 0, "%s",
                 spectra_last_error(c));
    cr_assert_eq(spectra_attach(c, "etth1", "frozen", "forecast", frozen, 10, 0, 0), 0, "%s",
                 spectra_last_error(c));
    subscribe_and_settle(c, "etth1.");

    tracked on, fr;
    tracked_init(&on, "online", 1, 1);
    tracked_init(&fr, "frozen", 0, FROZEN_EVERY);
    /* At most two chunks in flight beyond what has come back, so neither high-water mark can drop
     * a body (a PUB drops for slow subscribers). */
    for (size_t start = 0; start < ROWS; start += CHUNK) {
        cr_assert_eq(spectra_push_series(c, "etth1", SPECTRA_F64, x + start * CHANNELS, CHUNK,
                                         CHANNELS, t[start], rate, NULL, 0),
                     0, "%s", spectra_last_error(c));
        /* the previous chunk is done once its last sample's forecast is in */
        const uint64_t confirmed = start >= TRAIN ? start - 1 : 0;
        const bool last = start + CHUNK == ROWS;
        while ((confirmed && (on.last_origin == UINT64_MAX || on.last_origin < confirmed)) ||
               (last && (on.last_origin != ROWS - 1 || fr.last_origin != ROWS - 1))) {
            char topic[SPECTRA_TOPIC_MAX + 1];
            spectra_msg *body = NULL;
            cr_assert_eq(spectra_recv_result(c, 120000, topic, sizeof topic, &body), 0,
                         "no body (online at %llu)", (unsigned long long)on.last_origin);
            if (!strcmp(topic, "etth1.online"))
                check_body(&on, body, x, t, 1);
            else if (!strcmp(topic, "etth1.frozen"))
                check_body(&fr, body, x, t, FROZEN_EVERY);
            else
                cr_assert(0, "unexpected topic %s", topic);
            spectra_msg_free(body);
        }
    }
    cr_assert_eq(on.bodies, ROWS - TRAIN + 1, "one body per origin after the warm-up");
    cr_assert_eq(fr.bodies, (ROWS - TRAIN) / FROZEN_EVERY + 1);

    /* test windows: origins o >= TEST_FROM - 1 whose targets o + 1 .. o + H are all in */
    const double mse = check_metrics(c, &on, x, ROWS - HORIZON - TEST_FROM + 1);
    cr_expect_leq(mse, NOTES_RIDGE_H96 * 1.01, "ETTh1 H=96 online test MSE %.4f (notes 0.3815)",
                  mse);
    check_metrics(c, &fr, x, (ROWS - HORIZON - TEST_FROM) / FROZEN_EVERY + 1);

    spectra_msg *st = NULL;
    cr_assert_eq(spectra_stats(c, &st), 0);
    cr_assert_eq(msg_uint(st, "streams.etth1.pipelines.online.errors"), 0);
    cr_assert_eq(msg_uint(st, "streams.etth1.pipelines.online.published"), ROWS - TRAIN + 1);
    cr_assert_eq(msg_uint(st, "streams.etth1.pipelines.frozen.count"), ROWS);
    cr_assert_eq(msg_uint(st, "results.dropped"), 0);
    spectra_msg_free(st);

    spx_forecast_free(on.ref);
    spx_forecast_free(fr.ref);
    spectra_close(c);
    cr_assert_eq(spx_daemon_stop(&d), 0);
    free(x);
    free(t);
}

/* Attach errors reach the client with the adapter's reason. */
Test(forecast_e2e, attach_errors, .timeout = 120)
{
    spx_daemon_proc d;
    spx_daemon_start(&d, NULL);
    spectra_client *c = client_for(&d);
    cr_assert_eq(spectra_create(c, "s", SPECTRA_SERIES, 3, 10.0, NULL, 0), 0);
    cr_assert_eq(spectra_create(c, "r", SPECTRA_ROWS, 3, 0, NULL, 0), 0);
    const char *every[] = {"every=5"};
    cr_assert_eq(spectra_attach(c, "s", "f", "forecast", every, 1, -1, -1), SPECTRA_EDAEMON);
    cr_assert_str_eq(spectra_last_error_code(c), "bad_param");
    cr_assert(strstr(spectra_last_error(c), "forecast_every"), "%s", spectra_last_error(c));
    const char *warm[] = {"lookback=50", "horizon=50", "warmup=20"};
    cr_assert_eq(spectra_attach(c, "s", "f", "forecast", warm, 3, -1, -1), SPECTRA_EDAEMON);
    cr_assert(strstr(spectra_last_error(c), "warmup must be >= 101"), "%s",
              spectra_last_error(c));
    cr_assert_eq(spectra_attach(c, "r", "f", "forecast", NULL, 0, -1, -1), SPECTRA_EDAEMON);
    cr_assert_str_eq(spectra_last_error_code(c), "kind_mismatch");
    spectra_close(c);
    cr_assert_eq(spx_daemon_stop(&d), 0);
}
