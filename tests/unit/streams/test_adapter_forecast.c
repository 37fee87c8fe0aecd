/* The `forecast` pipeline adapter driven through its ops and through the pipeline runner, without a
 * daemon: parameter errors, the result map decoded and compared bit for bit with the in-process
 * forecaster (algorithms/forecast.h) fed the same samples, one body per forecast origin whatever the
 * chunking (and every forecast_every-th after the warm-up), origin times t0 + k / rate, the leak-free
 * metrics restricted by score_from, and the metrics/params details. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "codec.h"
#include "adapter_msgpack.h"
#include "codec_test_util.h"
#include "forecast.h"
#include "pipeline.h"
#include "pipeline_kind.h"
#include "rng.h"

/* ---- helpers ---------------------------------------------------------------------------------- */

static const spx_pipeline_ops *fops(void)
{
    const spx_pipeline_ops *ops = spx_pipeline_kind_find("forecast");
    cr_assert(ops, "forecast is registered in pipeline_kinds.c");
    return ops;
}

typedef struct kvs {
    spx_param params[32];
    char keys[32][64], vals[32][64];
    size_t n;
} kvs;

/* "key=value" strings, NULL-terminated. */
static void kvs_parse(kvs *k, const char *const *kv)
{
    k->n = 0;
    for (; kv && kv[k->n]; k->n++) {
        const char *eq = strchr(kv[k->n], '=');
        cr_assert(eq);
        snprintf(k->keys[k->n], sizeof k->keys[k->n], "%.*s", (int)(eq - kv[k->n]), kv[k->n]);
        snprintf(k->vals[k->n], sizeof k->vals[k->n], "%s", eq + 1);
        k->params[k->n].key = k->keys[k->n];
        k->params[k->n].value = k->vals[k->n];
    }
}

static void *create_ok(uint32_t channels, const char *const *kv)
{
    kvs k;
    kvs_parse(&k, kv);
    spx_stream_info info = {.name = "s", .kind = SPX_KIND_SERIES, .dim = channels, .rate = 4.0};
    void *st = NULL;
    char err[256] = "";
    cr_assert_eq(fops()->create(&st, &info, k.params, k.n, err, sizeof err), 0, "create: %s", err);
    cr_assert(st);
    return st;
}

/* Creating with these params must fail with a message containing `needle`. */
static void create_fails(uint32_t channels, const char *const *kv, const char *needle)
{
    kvs k;
    kvs_parse(&k, kv);
    spx_stream_info info = {.name = "s", .kind = SPX_KIND_SERIES, .dim = channels};
    void *st = NULL;
    char err[256] = "";
    cr_assert_eq(fops()->create(&st, &info, k.params, k.n, err, sizeof err), -1, "%s... accepted",
                 kv[0]);
    cr_assert_null(st);
    cr_assert(strstr(err, needle), "%s...: error '%s' lacks '%s'", kv[0], err, needle);
}

/* An unpacked msgpack buffer. */
typedef struct packed {
    msgpack_sbuffer sb;
    msgpack_unpacked up;
    const msgpack_object *root;
} packed;

static void packed_open(packed *p)
{
    msgpack_unpacked_init(&p->up);
    p->root = NULL;
    if (p->sb.size) {
        cr_assert_eq(msgpack_unpack_next(&p->up, p->sb.data, p->sb.size, NULL),
                     MSGPACK_UNPACK_SUCCESS);
        p->root = &p->up.data;
    }
}

static void packed_from(packed *p, const void *buf, size_t len)
{
    msgpack_sbuffer_init(&p->sb);
    msgpack_sbuffer_write(&p->sb, buf, len);
    packed_open(p);
}

static void packed_free(packed *p)
{
    msgpack_unpacked_destroy(&p->up);
    msgpack_sbuffer_destroy(&p->sb);
}

static void result_of(void *st, packed *p)
{
    msgpack_packer pk;
    msgpack_sbuffer_init(&p->sb);
    msgpack_packer_init(&pk, &p->sb, msgpack_sbuffer_write);
    cr_assert_eq(fops()->result(st, &pk), 0);
    packed_open(p);
    cr_assert(p->root && p->root->type == MSGPACK_OBJECT_MAP);
}

static spx_errcode command_of(void *st, const char *name, const char *args, packed *p, char *err,
                              size_t errlen)
{
    msgpack_sbuffer asb;
    msgpack_unpacked aup;
    msgpack_sbuffer_init(&asb);
    msgpack_unpacked_init(&aup);
    const msgpack_object *argp = NULL;
    if (args) {
        mp_build(&asb, args);
        cr_assert_eq(msgpack_unpack_next(&aup, asb.data, asb.size, NULL), MSGPACK_UNPACK_SUCCESS);
        argp = &aup.data;
    }
    msgpack_packer pk;
    msgpack_sbuffer_init(&p->sb);
    msgpack_packer_init(&pk, &p->sb, msgpack_sbuffer_write);
    err[0] = '\0';
    spx_errcode code = fops()->command(st, name, argp, &pk, err, errlen);
    if (code != SPX_OK)
        cr_assert_eq(p->sb.size, 0, "%s failed (%s) but packed %zu bytes", name, err, p->sb.size);
    packed_open(p);
    msgpack_unpacked_destroy(&aup);
    msgpack_sbuffer_destroy(&asb);
    return code;
}

/* Forecast arrays are f64 only. */
static double *ndarray(const msgpack_object *nd, size_t *shape, size_t *ndim)
{
    return ndarray_decode(nd, false, shape, ndim);
}

/* C channels of noisy sinusoids with different periods and phases, n x C row-major. */
static double *make_series(size_t n, size_t c, uint64_t seed)
{
    spx_rng rng;
    spx_rng_seed(&rng, seed);
    double *x = malloc(n * c * sizeof *x);
    cr_assert(x);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < c; j++)
            x[i * c + j] = (10.0 + (double)j) * sin(0.2 * (double)i / (1.0 + 0.3 * (double)j) +
                                                    (double)j) +
                           3.0 * (double)j + 0.3 * spx_rng_normal(&rng);
    return x;
}

static spx_input series_input(const void *data, spx_dtype dtype, uint32_t n, uint32_t c, double t0,
                              double rate)
{
    static uint64_t seq;
    spx_input in = {.kind = SPX_KIND_SERIES, .dtype = dtype, .n = n, .d = c, .data = data,
                    .t = t0, .t0 = t0, .rate = rate, .block_id = "", .seq = ++seq};
    return in;
}

/* What a publish hook saw: per body, the applied count, t and the result packed at that moment. */
typedef struct recorder {
    void *state;
    size_t n, cap;
    uint32_t *applied;
    double *t;
    packed **bodies;           /* each on the heap: a packed's root points into itself */
    uint64_t chunk_start;      /* sample index of the current chunk's first sample */
    uint64_t *sample;          /* chunk_start + applied - 1 */
} recorder;

static int record_publish(void *ctx, uint32_t applied, double t)
{
    recorder *r = ctx;
    if (r->n == r->cap) {
        r->cap = r->cap ? 2 * r->cap : 64;
        r->applied = realloc(r->applied, r->cap * sizeof *r->applied);
        r->t = realloc(r->t, r->cap * sizeof *r->t);
        r->bodies = realloc(r->bodies, r->cap * sizeof *r->bodies);
        r->sample = realloc(r->sample, r->cap * sizeof *r->sample);
        cr_assert(r->applied && r->t && r->bodies && r->sample);
    }
    r->applied[r->n] = applied;
    r->t[r->n] = t;
    r->sample[r->n] = r->chunk_start + applied - 1;
    r->bodies[r->n] = malloc(sizeof **r->bodies);
    cr_assert(r->bodies[r->n]);
    result_of(r->state, r->bodies[r->n]);
    r->n++;
    return 0;
}

static void recorder_free(recorder *r)
{
    for (size_t i = 0; i < r->n; i++) {
        packed_free(r->bodies[i]);
        free(r->bodies[i]);
    }
    free(r->applied);
    free(r->t);
    free(r->bodies);
    free(r->sample);
}

/* Feeds x (n x c) in chunks of the sizes in `chunks` (cycled), sample k of the whole series at
 * time T0 + k / RATE, every chunk's publish hook recording into rec. */
#define T0 1.7e9
#define RATE 4.0
static void feed(void *st, recorder *rec, const double *x, size_t n, size_t c, const size_t *chunks,
                 size_t n_chunks)
{
    size_t done = 0;
    for (size_t ci = 0; done < n; ci++) {
        size_t m = chunks[ci % n_chunks];
        if (m > n - done)
            m = n - done;
        spx_input in = series_input(x + done * c, SPX_DTYPE_F64, (uint32_t)m, (uint32_t)c,
                                    T0 + (double)done / RATE, RATE);
        if (rec) {
            rec->state = st;
            rec->chunk_start = done;
            in.publish = record_publish;
            in.publish_ctx = rec;
        }
        char err[256] = "";
        cr_assert_eq(fops()->update(st, &in, err, sizeof err), 0, "update: %s", err);
        done += m;
    }
}

/* ---- tests ------------------------------------------------------------------------------------ */

Test(adapter_forecast, registered_for_series)
{
    const spx_pipeline_ops *ops = fops();
    cr_assert_eq(ops->kinds, SPX_KIND_SERIES);
    cr_assert(ops->command);
    cr_assert_str_eq(ops->commands, "metrics,params");
}

Test(adapter_forecast, bad_params)
{
    create_fails(3, (const char *const[]){"every=3", NULL}, "forecast_every");
    create_fails(3, (const char *const[]){"channels=3", NULL}, "stream's dim");
    create_fails(3, (const char *const[]){"lookbak=8", NULL}, "unknown parameter lookbak");
    create_fails(3, (const char *const[]){"lookback=1", NULL}, "lookback=1: must be in [2, 4096]");
    create_fails(3, (const char *const[]){"horizon=0", NULL}, "horizon=0: must be in [1, 4096]");
    create_fails(3, (const char *const[]){"horizon=-2", NULL}, "not a non-negative integer");
    create_fails(3, (const char *const[]){"method=arima", NULL}, "method=arima: unknown");
    create_fails(3, (const char *const[]){"norm=max", NULL}, "norm=max: unknown");
    create_fails(3, (const char *const[]){"cross=all", NULL}, "cross=all: unknown");
    create_fails(3, (const char *const[]){"forget=0", NULL}, "forget must be in (0, 1]");
    create_fails(3, (const char *const[]){"forget=1.5", NULL}, "forget=1.5: must be in [0, 1]");
    create_fails(3, (const char *const[]){"ridge=0", NULL}, "ridge must be > 0");
    create_fails(3, (const char *const[]){"ridge=abc", NULL}, "not a number");
    create_fails(3, (const char *const[]){"learn=maybe", NULL}, "true/false");
    create_fails(3, (const char *const[]){"forecast_every=0", NULL}, "forecast_every=0");
    /* the default L = 96, H = 96 needs L + H + 1 samples of warm-up */
    create_fails(3, (const char *const[]){"warmup=100", NULL}, "warmup must be >= 193");
    create_fails(3, (const char *const[]){"method=last", "cross=var", NULL},
                 "cross stages need method ortho");
    create_fails(3, (const char *const[]){"method=seasonal", "q_refresh=10", NULL},
                 "q_refresh needs method ortho");
    create_fails(3, (const char *const[]){"cross=var", "cross_lags=200", NULL}, "cross_lags");
    create_fails(3, (const char *const[]){"method=last", "phase_period=24", NULL},
                 "phase maps need method ortho or rls_raw");
    create_fails(3, (const char *const[]){"phase_period=10001", NULL}, "phase_period");
    /* 64 channels at H = 4096 would keep 4097 pending forecasts of 4096 x 64: refused up front */
    create_fails(64, (const char *const[]){"horizon=4096", "lookback=16", NULL}, "GiB (limit");
    /* booleans take true/false and 1/0; every documented key is accepted */
    void *st = create_ok(3, (const char *const[]){
        "lookback=24", "horizon=8", "method=ortho", "rank=8", "norm=mean", "scale=true",
        "forget=0.999", "ridge=10", "learn=false", "warmup=300", "standardize=0", "cross=var",
        "cross_lags=2", "cross_forget=0.9999", "cross_ridge=5", "cross_temp=0.5", "season=12",
        "forecast_every=2", "q_refresh=48", "q_stride=4", "resym_every=32", "score_from=10",
        "metrics=1", "phase_period=24", "phase_ridge=300", "phase_forget=0.9995",
        "phase_onehot=false", NULL});
    packed p;
    char err[256];
    cr_assert_eq(command_of(st, "params", NULL, &p, err, sizeof err), SPX_OK, "%s", err);
    cr_assert_eq(get_uint(p.root, "lookback"), 24);
    cr_assert_eq(get_uint(p.root, "horizon"), 8);
    cr_assert(str_is(get(p.root, "norm"), "mean"));
    cr_assert(get_bool(p.root, "scale"));
    cr_assert(!get_bool(p.root, "learn"));
    cr_assert(!get_bool(p.root, "standardize"));
    cr_assert(str_is(get(p.root, "cross"), "var"));
    cr_assert_eq(get_uint(p.root, "cross_lags"), 2);
    cr_assert_eq(get_double(p.root, "cross_temp"), 0.5);
    cr_assert_eq(get_uint(p.root, "forecast_every"), 2);
    cr_assert_eq(get_uint(p.root, "q_refresh"), 48);
    cr_assert_eq(get_uint(p.root, "score_from"), 10);
    cr_assert_eq(get_uint(p.root, "channels"), 3);
    cr_assert_eq(get_uint(p.root, "phase_period"), 24);
    cr_assert_eq(get_double(p.root, "phase_ridge"), 300.0);
    cr_assert_eq(get_double(p.root, "phase_forget"), 0.9995);
    cr_assert(!get_bool(p.root, "phase_onehot"));
    packed_free(&p);
    fops()->destroy(st);
}

/* Every published forecast equals, bit for bit, what the in-process forecaster issues at the same
 * sample; one body per sample from the end of the warm-up on, whatever the chunking. */
Test(adapter_forecast, one_body_per_origin_equal_to_the_algorithm)
{
    const size_t c = 3, n = 700, l = 24, h = 8, warmup = 200;
    double *x = make_series(n, c, 11);
    const char *const kv[] = {"lookback=24", "horizon=8", "warmup=200", "rank=12", NULL};
    void *st = create_ok((uint32_t)c, kv);

    /* reference: the algorithm itself, sample by sample, keeping every forecast */
    spx_forecast_params fp;
    spx_forecast_params_default(&fp, c);
    fp.lookback = l;
    fp.horizon = h;
    fp.warmup = warmup;
    fp.rank = 12;
    spx_forecast *ref = NULL;
    char err[256];
    cr_assert_eq(spx_forecast_create(&ref, &fp, err, sizeof err), 0, "%s", err);
    double *want = calloc(n * h * c, sizeof *want);
    cr_assert(want);
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(spx_forecast_update_f64(ref, x + i * c, 1), 0);
        spx_forecast_result r;
        spx_forecast_result_get(ref, &r);
        if (r.ready && r.origin == i)
            memcpy(want + i * h * c, r.forecast, h * c * sizeof *want);
    }

    const size_t chunks[] = {1, 7, 64, 2, 150, 3, 31};
    recorder rec = {0};
    feed(st, &rec, x, n, c, chunks, sizeof chunks / sizeof chunks[0]);
    cr_assert_eq(rec.n, n - warmup + 1, "one body per origin: %zu", rec.n);
    for (size_t b = 0; b < rec.n; b++) {
        const uint64_t k = warmup - 1 + b;
        cr_assert_eq(rec.sample[b], k, "body %zu at sample %llu", b,
                     (unsigned long long)rec.sample[b]);
        cr_assert_eq(rec.t[b], T0 + (double)k / RATE, "t of origin %llu",
                     (unsigned long long)k);
        const msgpack_object *res = rec.bodies[b]->root;
        cr_assert(get_bool(res, "ready"));
        cr_assert_eq(get_uint(res, "origin"), k);
        cr_assert_eq(get_double(res, "origin_t"), rec.t[b]);
        cr_assert_eq(get_uint(res, "samples"), k + 1);
        cr_assert_eq(get_uint(res, "forecasts"), b + 1);
        cr_assert_eq(get_uint(res, "horizon"), h);
        cr_assert_eq(get_uint(res, "channels"), c);
        cr_assert_eq(get_uint(res, "updates"), b, "one RLS update per sample after the fit");
        cr_assert_eq(get_uint(res, "rank"), 12);
        cr_assert_eq(get_uint(res, "publish_failures"), 0);
        size_t shape[2], nd;
        double *fc = ndarray(get(res, "forecast"), shape, &nd);
        cr_assert_eq(nd, 2);
        cr_assert_eq(shape[0], h);
        cr_assert_eq(shape[1], c);
        cr_assert_eq(memcmp(fc, want + k * h * c, h * c * sizeof *fc), 0,
                     "forecast at origin %llu differs from the algorithm's", (unsigned long long)k);
        free(fc);
    }

    /* the final metrics are the algorithm's, and the details agree with the result */
    spx_forecast_result r;
    spx_forecast_result_get(ref, &r);
    packed res, met;
    result_of(st, &res);
    const msgpack_object *m = get(res.root, "metrics");
    cr_assert_eq(get_uint(m, "forecasts_scored"), r.metrics.forecasts_scored);
    cr_assert_eq(r.metrics.forecasts_scored, n - warmup + 1 - h, "targets complete");
    cr_assert_eq(get_double(m, "mse"), r.metrics.mse);
    cr_assert_eq(get_double(m, "mae"), r.metrics.mae);
    cr_assert(r.metrics.mse > 0.0 && r.metrics.mse < 0.5, "a sane forecast: mse %g", r.metrics.mse);
    size_t shape[2], nd;
    double *ms = ndarray(get(m, "mse_step"), shape, &nd);
    cr_assert_eq(nd, 1);
    cr_assert_eq(shape[0], h);
    cr_assert_eq(memcmp(ms, r.metrics.mse_step, h * sizeof *ms), 0);
    free(ms);
    cr_assert_eq(command_of(st, "metrics", "{}", &met, err, sizeof err), SPX_OK, "%s", err);
    cr_assert_eq(get_uint(met.root, "forecasts_scored"), r.metrics.forecasts_scored);
    cr_assert_eq(get_double(met.root, "mse"), r.metrics.mse);
    cr_assert_eq(get_double(met.root, "rmse"), sqrt(r.metrics.mse));
    cr_assert_eq(get_uint(met.root, "score_from"), 0);
    cr_assert_eq(get_uint(met.root, "samples"), n);
    cr_assert(str_is(get(met.root, "units"), "standardized"));
    double *ma = ndarray(get(met.root, "mae_step"), shape, &nd);
    cr_assert_eq(memcmp(ma, r.metrics.mae_step, h * sizeof *ma), 0);
    free(ma);
    packed_free(&met);
    packed_free(&res);

    recorder_free(&rec);
    spx_forecast_free(ref);
    free(want);
    free(x);
    fops()->destroy(st);
}

/* With forecast_every = E, an origin is every sample k >= warmup - 1 with (k + 1) % E == 0. */
Test(adapter_forecast, forecast_every_publishes_every_eth_origin)
{
    const size_t c = 2, n = 600;
    double *x = make_series(n, c, 5);
    const size_t warmups[] = {200, 203};
    for (size_t w = 0; w < 2; w++) {
        char wkv[32];
        snprintf(wkv, sizeof wkv, "warmup=%zu", warmups[w]);
        const char *const kv[] = {"lookback=16", "horizon=4", wkv, "forecast_every=5", NULL};
        void *st = create_ok((uint32_t)c, kv);
        const size_t chunks[] = {13, 1, 40};
        recorder rec = {0};
        feed(st, &rec, x, n, c, chunks, 3);
        size_t expect = 0;
        for (size_t k = warmups[w] - 1; k < n; k++)
            if ((k + 1) % 5 == 0) {
                cr_assert_lt(expect, rec.n);
                cr_assert_eq(rec.sample[expect], k);
                cr_assert_eq(get_uint(rec.bodies[expect]->root, "origin"), k);
                expect++;
            }
        cr_assert_eq(rec.n, expect, "warmup %zu: %zu bodies, %zu origins", warmups[w], rec.n,
                     expect);
        recorder_free(&rec);
        fops()->destroy(st);
    }
    free(x);
}

/* Before the warm-up is done there is no forecast and nothing is published. */
Test(adapter_forecast, warming_up_and_empty_inputs)
{
    const size_t c = 2;
    double *x = make_series(100, c, 3);
    void *st = create_ok((uint32_t)c, (const char *const[]){"lookback=16", "horizon=4", NULL});
    packed res;
    result_of(st, &res);
    cr_assert(!get_bool(res.root, "ready"));
    cr_assert_eq(get(res.root, "forecast")->type, MSGPACK_OBJECT_NIL);
    cr_assert_eq(get_uint(res.root, "warmup"), 1000, "default warm-up max(8 (L + H), 1000)");
    packed_free(&res);
    const size_t chunks[] = {30};
    recorder rec = {0};
    feed(st, &rec, x, 100, c, chunks, 1);
    cr_assert_eq(rec.n, 0);
    /* an events-only message and a bare end marker apply nothing */
    spx_input in = series_input(NULL, SPX_DTYPE_F64, 0, (uint32_t)c, T0, 0.0);
    in.end = 1;
    char err[256];
    cr_assert_eq(fops()->update(st, &in, err, sizeof err), 0);
    result_of(st, &res);
    cr_assert(!get_bool(res.root, "ready"));
    cr_assert_eq(get_uint(res.root, "samples"), 100);
    packed_free(&res);
    recorder_free(&rec);
    fops()->destroy(st);
    free(x);
}

/* f32 samples give exactly what the f64 path gives on the same (rounded) values. */
Test(adapter_forecast, f32_equals_f64_of_the_same_values)
{
    const size_t c = 3, n = 400;
    double *x = make_series(n, c, 9);
    float *xf = malloc(n * c * sizeof *xf);
    cr_assert(xf);
    for (size_t i = 0; i < n * c; i++) {
        xf[i] = (float)x[i];
        x[i] = (double)xf[i];
    }
    const char *const kv[] = {"lookback=16", "horizon=6", "warmup=250", NULL};
    void *a = create_ok((uint32_t)c, kv), *b = create_ok((uint32_t)c, kv);
    const size_t chunks[] = {400};
    feed(a, NULL, x, n, c, chunks, 1);
    spx_input in = series_input(xf, SPX_DTYPE_F32, (uint32_t)n, (uint32_t)c, T0, RATE);
    char err[256];
    cr_assert_eq(fops()->update(b, &in, err, sizeof err), 0, "%s", err);
    packed ra, rb;
    result_of(a, &ra);
    result_of(b, &rb);
    size_t sa[2], sb[2], na, nb;
    double *fa = ndarray(get(ra.root, "forecast"), sa, &na);
    double *fb = ndarray(get(rb.root, "forecast"), sb, &nb);
    cr_assert_eq(memcmp(fa, fb, 6 * c * sizeof *fa), 0);
    cr_assert_eq(get_double(get(ra.root, "metrics"), "mse"),
                 get_double(get(rb.root, "metrics"), "mse"));
    free(fa);
    free(fb);
    packed_free(&ra);
    packed_free(&rb);
    fops()->destroy(a);
    fops()->destroy(b);
    free(x);
    free(xf);
}

/* score_from restricts the metrics to forecasts whose first target is at or after it, and a
 * forecast counts only once all its targets have arrived. */
Test(adapter_forecast, score_from_and_leak_free_count)
{
    const size_t c = 2, n = 500, h = 5, warmup = 150, from = 321;
    double *x = make_series(n, c, 21);
    const char *const kv[] = {"lookback=12", "horizon=5", "warmup=150", "score_from=321", NULL};
    void *st = create_ok((uint32_t)c, kv);
    const size_t chunks[] = {77};
    recorder rec = {0};
    feed(st, &rec, x, n, c, chunks, 1);
    /* origins o in [warmup - 1, n - 1]: scored when o + 1 >= from and o + h <= n - 1 */
    const uint64_t scored = (n - 1 - h) - (from - 1) + 1;
    (void)warmup;
    packed res;
    result_of(st, &res);
    cr_assert_eq(get_uint(get(res.root, "metrics"), "forecasts_scored"), scored);
    packed_free(&res);
    /* the scored count only moves once a forecast's last target is in: after origin o, the
     * forecasts of origins <= o - h are complete */
    for (size_t b = 0; b < rec.n; b++) {
        const uint64_t o = rec.sample[b];
        const uint64_t done = o >= h + from - 1 ? o - h - (from - 1) + 1 : 0;
        cr_assert_eq(get_uint(get(rec.bodies[b]->root, "metrics"), "forecasts_scored"), done,
                     "at origin %llu", (unsigned long long)o);
    }
    recorder_free(&rec);
    fops()->destroy(st);
    free(x);
}

Test(adapter_forecast, details_and_their_errors)
{
    void *st = create_ok(2, (const char *const[]){"lookback=8", "horizon=2", "rank=50", NULL});
    packed p;
    char err[256];
    cr_assert_eq(command_of(st, "model", NULL, &p, err, sizeof err), SPX_E_UNKNOWN_OP);
    packed_free(&p);
    cr_assert_eq(command_of(st, "metrics", "{x:1}", &p, err, sizeof err), SPX_E_BAD_PARAM);
    cr_assert(strstr(err, "no arguments"), "%s", err);
    packed_free(&p);
    cr_assert_eq(command_of(st, "params", NULL, &p, err, sizeof err), SPX_OK, "%s", err);
    cr_assert_eq(get_uint(p.root, "warmup"), 1000, "defaults resolved");
    cr_assert(str_is(get(p.root, "method"), "ortho"));
    cr_assert_eq(get_uint(p.root, "forecast_every"), 1);
    cr_assert_eq(get_double(p.root, "forget"), 0.9995);
    packed_free(&p);
    cr_assert_eq(command_of(st, "metrics", NULL, &p, err, sizeof err), SPX_OK, "%s", err);
    cr_assert_eq(get_uint(p.root, "forecasts_scored"), 0);
    cr_assert_eq(get_uint(p.root, "samples"), 0);
    packed_free(&p);
    fops()->destroy(st);
}

/* Through the pipeline runner (the daemon's worker code): with the attach policy off, one body per
 * origin, each with count = samples applied up to the origin and t_in = the origin's time. */
Test(adapter_forecast, pipeline_runner_bodies)
{
    const size_t c = 2, n = 300, warmup = 120, per = 50;
    double *x = make_series(n, c, 8);
    kvs k;
    kvs_parse(&k, (const char *const[]){"lookback=10", "horizon=3", "warmup=120", NULL});
    spx_stream_info info = {.name = "s", .kind = SPX_KIND_SERIES, .dim = (uint32_t)c, .rate = RATE};
    spx_pipeline *p = NULL;
    char err[256] = "";
    spx_publish_policy policy = {.every = 0, .interval_ms = 0};
    cr_assert_eq(spx_pipeline_create(&p, "s", &info, "fc", fops(), k.params, k.n, policy, err,
                                     sizeof err),
                 SPX_OK, "%s", err);
    for (size_t i = 0; i < n / per; i++) {
        spx_ingest_header hd = {.version = 1, .kind = SPX_KIND_SERIES, .dtype = SPX_DTYPE_F64,
                                .shape = {per, c}, .has_t0 = true,
                                .t0 = T0 + (double)(i * per) / RATE, .rate = RATE, .scale = 1.0};
        snprintf(hd.stream, sizeof hd.stream, "s");
        spx_batch *b = spx_batch_new(&hd, x + i * per * c, per * c * sizeof *x, T0, NULL, NULL,
                                     NULL);
        cr_assert(b);
        b->in.seq = i + 1;
        cr_assert_eq(spx_pipeline_reserve(p), 0);
        spx_pipeline_enqueue(p, b);
        spx_batch_unref(b);
    }
    spx_job *job = spx_pipeline_take_job(p, 64, spx_now());
    cr_assert(job);
    spx_job_run(job);
    cr_assert_eq(job->failed, 0);
    cr_assert_eq(job->n_bodies, n - warmup + 1);
    for (size_t i = 0; i < job->n_bodies; i++) {
        packed body;
        packed_from(&body, job->bodies[i], job->body_lens[i]);
        const uint64_t origin = warmup - 1 + i;
        cr_assert_eq(get_uint(body.root, "seq"), i + 1);
        cr_assert_eq(get_uint(body.root, "count"), origin + 1);
        cr_assert_eq(get_uint(body.root, "input_seq"), origin / per + 1);
        cr_assert_eq(get_double(body.root, "t_in"), T0 + (double)origin / RATE);
        cr_assert(str_is(get(body.root, "algo"), "forecast"));
        cr_assert_eq(get_uint(get(body.root, "result"), "origin"), origin);
        packed_free(&body);
    }
    spx_job_finish(job);
    spx_job_free(job);
    cr_assert_eq(p->stats.published, n - warmup + 1);
    cr_assert_eq(p->stats.count, n);
    spx_pipeline_free(p);
    free(x);
}
