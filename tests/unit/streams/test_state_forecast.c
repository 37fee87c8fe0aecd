/* The `forecast` kind keeps the durable-state contract (state_roundtrip.h): save is pure, a loaded
 * instance saves the same bytes and continues with byte-identical result bodies, damaged saves are
 * refused. Run for every method, with and without the cross stages, basis refreshes, frequent RLS
 * checkpoints and metrics, f32 and f64 input, and saves taken during the warm-up, just after the
 * fit, and once forecasts are being scored. Sizes are tiny so the damage sweep (three loads per
 * key) stays fast under ASan. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline_kind.h"
#include "rng.h"
#include "state_roundtrip.h"

#define C 3
#define RATE 10.0
#define CHUNK 5
#define MAX_INPUTS 64

static const spx_pipeline_ops *fops(void)
{
    const spx_pipeline_ops *ops = spx_pipeline_kind_find("forecast");
    cr_assert(ops, "forecast is registered");
    return ops;
}

typedef struct series {
    double x[MAX_INPUTS * CHUNK * C];
    float xf[MAX_INPUTS * CHUNK * C];
    spx_input in[MAX_INPUTS];
    size_t n_inputs;
} series;

/* Two periods, a trend, cross-channel coupling and noise, cut into chunks of CHUNK samples. */
static void make_series(series *s, size_t n_inputs, spx_dtype dtype, uint64_t seed)
{
    cr_assert_leq(n_inputs, MAX_INPUTS);
    spx_rng rng;
    spx_rng_seed(&rng, seed);
    const size_t n = n_inputs * CHUNK;
    double prev = 0.0;
    for (size_t i = 0; i < n; i++) {
        const double ti = (double)i;
        for (size_t c = 0; c < C; c++) {
            double v = 3.0 * (double)c + 0.01 * ti + sin(ti * 0.7 + (double)c) +
                       0.5 * cos(ti * 0.21) + 0.3 * spx_rng_normal(&rng);
            if (c > 0)
                v += 0.4 * prev;
            s->x[i * C + c] = v;
            s->xf[i * C + c] = (float)v;
            prev = v;
        }
    }
    for (size_t j = 0; j < n_inputs; j++) {
        const size_t off = j * CHUNK * C;
        s->in[j] = (spx_input){
            .kind = SPX_KIND_SERIES, .dtype = dtype, .n = CHUNK, .d = C,
            .data = dtype == SPX_DTYPE_F32 ? (const void *)(s->xf + off) : (const void *)(s->x + off),
            .t = (double)j, .t0 = (double)(j * CHUNK) / RATE, .rate = RATE, .seq = j + 1,
        };
    }
    s->n_inputs = n_inputs;
}

typedef struct kvs {
    spx_param params[24];
    char keys[24][32], vals[24][32];
    size_t n;
} kvs;

/* "key=value" strings, NULL-terminated. */
static void kvs_parse(kvs *k, const char *const *kv)
{
    k->n = 0;
    for (; kv && kv[k->n]; k->n++) {
        cr_assert_lt(k->n, 24);
        const char *eq = strchr(kv[k->n], '=');
        cr_assert(eq);
        snprintf(k->keys[k->n], sizeof k->keys[k->n], "%.*s", (int)(eq - kv[k->n]), kv[k->n]);
        snprintf(k->vals[k->n], sizeof k->vals[k->n], "%s", eq + 1);
        k->params[k->n].key = k->keys[k->n];
        k->params[k->n].value = k->vals[k->n];
    }
}

static const spx_stream_info info = {.name = "s", .kind = SPX_KIND_SERIES, .dim = C, .rate = RATE};

/* The contract for one parameter set, with the save taken after each input count in `splits`
 * (terminated by 0; warmup=40 with CHUNK=5 means the fit happens in input 8). */
static void roundtrip(const char *const *kv, spx_dtype dtype, size_t n_inputs, const size_t *splits)
{
    static series s;
    make_series(&s, n_inputs, dtype, 42);
    kvs k;
    kvs_parse(&k, kv);
    for (const size_t *sp = splits; *sp; sp++)
        check_state_roundtrip(fops(), &info, k.params, k.n, s.in, s.n_inputs, *sp);
}

/* during the warm-up, at the fit, before the first forecast is scored, after scoring began */
static const size_t splits_default[] = {3, 8, 9, 14, 0};

Test(state_forecast, version)
{
    cr_assert_eq(fops()->state_version, 1);
    cr_assert(fops()->save && fops()->load);
}

Test(state_forecast, ortho_small_f64)
{
    const char *kv[] = {"lookback=8", "horizon=4", "rank=4", "warmup=40", NULL};
    roundtrip(kv, SPX_DTYPE_F64, 24, splits_default);
}

Test(state_forecast, ortho_full_rank_f32_mean_scale)
{
    const char *kv[] = {"lookback=6", "horizon=5", "rank=0", "warmup=40", "norm=mean", "scale=true",
                        "forget=0.98", "resym_every=3", NULL};
    roundtrip(kv, SPX_DTYPE_F32, 24, splits_default);
}

Test(state_forecast, ortho_var_refresh)
{
    /* a VAR cross stage, the basis refreshed every 10 samples from running statistics */
    const char *kv[] = {"lookback=8", "horizon=3", "rank=3", "warmup=40", "cross=var",
                        "cross_lags=2", "cross_forget=0.99", "q_refresh=10", "q_stride=2", NULL};
    const size_t splits[] = {8, 11, 17, 0};
    roundtrip(kv, SPX_DTYPE_F64, 24, splits);
}

Test(state_forecast, ortho_normlin_every_f32)
{
    const char *kv[] = {"lookback=8", "horizon=4", "rank=2", "warmup=40", "cross=normlin",
                        "forecast_every=3", "score_from=50", NULL};
    roundtrip(kv, SPX_DTYPE_F32, 24, splits_default);
}

Test(state_forecast, rls_raw_no_metrics)
{
    const char *kv[] = {"lookback=5", "horizon=2", "method=rls_raw", "warmup=40", "metrics=false",
                        "standardize=false", "learn=true", NULL};
    roundtrip(kv, SPX_DTYPE_F64, 20, splits_default);
}

Test(state_forecast, frozen_after_warmup)
{
    const char *kv[] = {"lookback=6", "horizon=3", "rank=3", "warmup=40", "learn=false", NULL};
    const size_t splits[] = {5, 12, 0};
    roundtrip(kv, SPX_DTYPE_F64, 20, splits);
}

Test(state_forecast, baselines)
{
    const char *last[] = {"lookback=4", "horizon=3", "method=last", "warmup=40", NULL};
    const char *seasonal[] = {"lookback=4", "horizon=6", "method=seasonal", "season=12",
                              "warmup=40", NULL};
    const size_t splits[] = {2, 9, 15, 0};
    roundtrip(last, SPX_DTYPE_F64, 20, splits);
    roundtrip(seasonal, SPX_DTYPE_F32, 20, splits);
}

/* A state saved by one configuration is refused by another whose arrays happen to have the same
 * sizes (only the fingerprint tells them apart), with a reason; the same state loads where it came
 * from. */
Test(state_forecast, other_configuration_refused)
{
    static series s;
    make_series(&s, 12, SPX_DTYPE_F64, 7);
    const char *kv_a[] = {"lookback=8", "horizon=4", "rank=4", "warmup=40", NULL};
    const char *kv_b[] = {"lookback=8", "horizon=4", "rank=4", "warmup=40", "norm=mean", NULL};
    kvs ka, kb;
    kvs_parse(&ka, kv_a);
    kvs_parse(&kb, kv_b);
    void *a = rt_create(fops(), &info, ka.params, ka.n);
    msgpack_sbuffer res;
    msgpack_sbuffer_init(&res);
    rt_feed(fops(), a, s.in, 0, s.n_inputs, &res);
    msgpack_sbuffer saved;
    rt_save(fops(), a, &saved);

    void *b = rt_create(fops(), &info, kb.params, kb.n);
    char err[256] = "";
    cr_assert_eq(rt_load_bytes(fops(), b, saved.data, saved.size, err, sizeof err), -1,
                 "a norm=last state loaded into norm=mean");
    cr_assert(strstr(err, "dims"), "reason: %s", err);
    fops()->destroy(b);

    void *c = rt_create(fops(), &info, ka.params, ka.n);
    cr_assert_eq(rt_load_bytes(fops(), c, saved.data, saved.size, err, sizeof err), 0, "%s", err);
    fops()->destroy(c);

    fops()->destroy(a);
    msgpack_sbuffer_destroy(&saved);
    msgpack_sbuffer_destroy(&res);
}
