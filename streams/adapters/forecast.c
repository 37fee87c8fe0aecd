/* Adapter: the `forecast` pipeline (streaming multichannel forecaster, algorithms/forecast.h) on a
 * series stream.
 *
 * Every sample is one time step of all C channels. After every forecast origin (each sample once the
 * warm-up is done, or every `forecast_every`-th) the update publishes one result body by itself, with
 * that sample's time as t_in: a chunk of n samples yields one body per origin in it, so subscribers
 * see every forecast whatever the producer's chunking. The attach policy (`every`, `interval_ms`)
 * still adds bodies of its own (after the warm-up they repeat the newest forecast; `origin` tells
 * them apart); `every` is that policy's key, which is why the forecaster's cadence is called
 * `forecast_every` here.
 *
 * Sample indices (origin, score_from) count the samples this pipeline has applied since it was
 * attached; times are t0 + k / rate for sample k of a chunk. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "forecast.h"
#include "forecast_state.h"
#include "pipeline_kind.h"
#include "state_codec.h"

/* A state whose buffers would exceed this is refused at create (a clear bad_param instead of an
 * allocation the OOM killer collects later): H = 720, C = 7 needs ~35 MB, mostly the metrics'
 * pending forecasts. */
#define FORECAST_STATE_MAX_BYTES ((double)(4ull << 30))

typedef struct forecast_adapter {
    spx_forecast *f;
    spx_forecast_params p;     /* in use (defaults resolved) */
    size_t nc, nh;
    uint64_t samples;          /* applied since attach */
    uint64_t origin;           /* sample index of the newest forecast's origin (since attach) */
    double origin_t;           /* its time */
    uint64_t forecasts;        /* forecasts issued */
    uint64_t publish_failures; /* origins whose body the pipeline could not pack (no memory) */
} forecast_adapter;

static void forecast_destroy(void *state)
{
    forecast_adapter *a = state;
    if (!a)
        return;
    spx_forecast_free(a->f);
    free(a);
}

/* ---- params ---- */

static int parse_bool(const spx_param *p, int *out, char *err, size_t errlen)
{
    if (!strcmp(p->value, "1") || !strcmp(p->value, "true")) {
        *out = 1;
        return 0;
    }
    if (!strcmp(p->value, "0") || !strcmp(p->value, "false")) {
        *out = 0;
        return 0;
    }
    snprintf(err, errlen, "%s=%s: expected true/false or 1/0", p->key, p->value);
    return -1;
}

static int parse_size(const spx_param *p, uint64_t lo, uint64_t hi, size_t *out, char *err,
                      size_t errlen)
{
    uint64_t u;
    if (spx_param_uint(p, lo, hi, &u, err, errlen) != 0)
        return -1;
    *out = (size_t)u;
    return 0;
}

static int parse_enum(const spx_param *p, int rc, const char *choices, char *err, size_t errlen)
{
    if (rc == 0)
        return 0;
    snprintf(err, errlen, "%s=%s: unknown (%s)", p->key, p->value, choices);
    return -1;
}

#define FORECAST_PARAM_NAMES                                                                       \
    "lookback, horizon, method, rank, norm, scale, forget, ridge, learn, warmup, standardize, "   \
    "cross, cross_lags, cross_forget, cross_ridge, cross_temp, season, forecast_every, "          \
    "q_refresh, q_stride, resym_every, score_from, metrics"

static int parse_param(spx_forecast_params *fp, const spx_param *p, char *err, size_t errlen)
{
    const char *k = p->key;
    if (!strcmp(k, "lookback"))
        return parse_size(p, 2, 4096, &fp->lookback, err, errlen);
    if (!strcmp(k, "horizon"))
        return parse_size(p, 1, 4096, &fp->horizon, err, errlen);
    if (!strcmp(k, "method"))
        return parse_enum(p, spx_forecast_method_parse(p->value, &fp->method),
                          "ortho, rls_raw, last, seasonal", err, errlen);
    if (!strcmp(k, "rank"))
        return parse_size(p, 0, 4096, &fp->rank, err, errlen);
    if (!strcmp(k, "norm"))
        return parse_enum(p, spx_forecast_norm_parse(p->value, &fp->norm), "none, last, mean",
                          err, errlen);
    if (!strcmp(k, "scale"))
        return parse_bool(p, &fp->scale, err, errlen);
    if (!strcmp(k, "forget"))
        return spx_param_double(p, 0.0, 1.0, &fp->forget, err, errlen);
    if (!strcmp(k, "ridge"))
        return spx_param_double(p, 0.0, 1e300, &fp->ridge, err, errlen);
    if (!strcmp(k, "learn"))
        return parse_bool(p, &fp->learn, err, errlen);
    if (!strcmp(k, "warmup"))
        return parse_size(p, 1, 100000000, &fp->warmup, err, errlen);
    if (!strcmp(k, "standardize"))
        return parse_bool(p, &fp->standardize, err, errlen);
    if (!strcmp(k, "cross"))
        return parse_enum(p, spx_forecast_cross_parse(p->value, &fp->cross), "off, var, normlin",
                          err, errlen);
    if (!strcmp(k, "cross_lags"))
        return parse_size(p, 1, 4096, &fp->cross_lags, err, errlen);
    if (!strcmp(k, "cross_forget"))
        return spx_param_double(p, 0.0, 1.0, &fp->cross_forget, err, errlen);
    if (!strcmp(k, "cross_ridge"))
        return spx_param_double(p, 0.0, 1e300, &fp->cross_ridge, err, errlen);
    if (!strcmp(k, "cross_temp"))
        return spx_param_double(p, 0.0, 1e300, &fp->cross_temp, err, errlen);
    if (!strcmp(k, "season"))
        return parse_size(p, 1, 1000000, &fp->season, err, errlen);
    if (!strcmp(k, "forecast_every"))
        return parse_size(p, 1, 100000000, &fp->every, err, errlen);
    if (!strcmp(k, "q_refresh"))
        return parse_size(p, 0, 100000000, &fp->q_refresh, err, errlen);
    if (!strcmp(k, "q_stride"))
        return parse_size(p, 1, 100000000, &fp->q_stride, err, errlen);
    if (!strcmp(k, "resym_every"))
        return parse_size(p, 1, 1000000, &fp->resym_every, err, errlen);
    if (!strcmp(k, "score_from"))
        return spx_param_uint(p, 0, UINT64_MAX, &fp->score_from, err, errlen);
    if (!strcmp(k, "metrics"))
        return parse_bool(p, &fp->metrics, err, errlen);
    if (!strcmp(k, "every")) {
        snprintf(err, errlen, "every is the attach publish policy (inputs between extra bodies); "
                              "the forecast cadence is forecast_every");
        return -1;
    }
    if (!strcmp(k, "channels")) {
        snprintf(err, errlen, "channels is the stream's dim, not a parameter");
        return -1;
    }
    snprintf(err, errlen, "unknown parameter %s (" FORECAST_PARAM_NAMES ")", k);
    return -1;
}

/* Bytes held by spx_forecast_create's buffers plus the warm-up fit's temporaries, roughly (see
 * forecast_model.c, forecast_rls.c, forecast_orthotrans.c, forecast_eval.c). */
static double forecast_state_bytes(const spx_forecast_params *p, size_t warmup)
{
    const double c = (double)p->channels, l = (double)p->lookback, h = (double)p->horizon;
    const bool rls = p->method == SPX_FORECAST_ORTHO || p->method == SPX_FORECAST_RLS_RAW;
    const double r = p->method == SPX_FORECAST_ORTHO && p->rank && p->rank < p->lookback
                         ? (double)p->rank : l;
    const double k = !rls ? 0.0 : p->cross == SPX_FORECAST_CROSS_NORMLIN ? 2.0 * r : r;
    const double ku = p->cross == SPX_FORECAST_CROSS_VAR ? c * (double)p->cross_lags + 1.0 : 0.0;
    double ring = l + h;
    if (p->method == SPX_FORECAST_SEASONAL && (double)p->season > ring)
        ring = (double)p->season;
    double d = c * (double)warmup + 2.0 * c * ring + 8.0 * c * h + 6.0 * c;
    if (p->metrics)
        d += (h + 1.0) * h * c + 4.0 * h;
    if (rls)
        d += (h + 1.0) * (c * k + 2.0 * c + ku) + c * r + 3.0 * k * k + 2.0 * k * h + k * c +
             c * c + c * h                                  /* RLS and its work */
             + (double)(1u << 20) + k * k + k * h;         /* warm-up fit chunks and normal eqs */
    if (ku > 0.0)
        d += 4.0 * ku * ku + 3.0 * ku * c * h;              /* cross RLS and its normal eqs */
    if (p->method == SPX_FORECAST_ORTHO)
        d += 5.0 * l * l + c * l + l * r + 8.0 * l;
    return 8.0 * d;
}

static int forecast_create(void **state, const spx_stream_info *stream, const spx_param *params,
                           size_t n_params, char *err, size_t errlen)
{
    spx_forecast_params fp;
    spx_forecast_params_default(&fp, stream->dim);
    for (size_t i = 0; i < n_params; i++)
        if (parse_param(&fp, &params[i], err, errlen) != 0)
            return -1;
    char why[200];
    if (spx_forecast_params_check(&fp, why, sizeof why) != 0) {
        snprintf(err, errlen, "forecast: %s", why);
        return -1;
    }
    const size_t warmup = fp.warmup ? fp.warmup
                                    : (8 * (fp.lookback + fp.horizon) > 1000
                                           ? 8 * (fp.lookback + fp.horizon) : 1000);
    const double bytes = forecast_state_bytes(&fp, warmup);
    if (bytes > FORECAST_STATE_MAX_BYTES) {
        snprintf(err, errlen, "forecast: C = %zu, lookback = %zu, horizon = %zu, warmup = %zu would "
                 "need %.1f GiB (limit %.0f GiB)", fp.channels, fp.lookback, fp.horizon, warmup,
                 bytes / (1u << 30), FORECAST_STATE_MAX_BYTES / (1u << 30));
        return -1;
    }
    forecast_adapter *a = calloc(1, sizeof *a);
    if (!a) {
        snprintf(err, errlen, "forecast: out of memory");
        return -1;
    }
    int rc = spx_forecast_create(&a->f, &fp, why, sizeof why);
    if (rc != 0) {
        snprintf(err, errlen, "forecast: %s", rc == -EINVAL ? why : strerror(-rc));
        forecast_destroy(a);
        return -1;
    }
    spx_forecast_params_get(a->f, &a->p);
    a->nc = fp.channels;
    a->nh = fp.horizon;
    *state = a;
    return 0;
}

/* ---- update ---- */

static int forecast_update(void *state, const spx_input *in, char *err, size_t errlen)
{
    forecast_adapter *a = state;
    if (in->n == 0)            /* events only, or a bare end marker */
        return 0;
    if (in->d != a->nc) {
        snprintf(err, errlen, "forecast: %" PRIu32 " channels, the pipeline has %zu", in->d, a->nc);
        return -1;
    }
    const bool f32 = in->dtype == SPX_DTYPE_F32;
    for (uint32_t i = 0; i < in->n; i++) {
        int rc = f32 ? spx_forecast_update_f32(a->f, (const float *)in->data + (size_t)i * a->nc, 1)
                     : spx_forecast_update_f64(a->f, (const double *)in->data + (size_t)i * a->nc,
                                               1);
        /* -EDOM / -ENOMEM: the warm-up fit failed and the forecaster starts its warm-up again with
         * the next sample; the sample was consumed, and result.warmup_restarts shows it. */
        if (rc != 0 && rc != -EDOM && rc != -ENOMEM) {
            /* Only a non-finite sample gets here, and the daemon refuses those on accept. */
            snprintf(err, errlen, "forecast: sample %" PRIu32 " of %" PRIu32 ": %s (%" PRIu32
                     " applied)", i, in->n, strerror(-rc), i);
            return -1;
        }
        const uint64_t k = a->samples++;
        spx_forecast_result r;
        spx_forecast_result_get(a->f, &r);
        if (!r.ready || r.samples == 0 || r.origin != r.samples - 1)
            continue;          /* no forecast at this sample */
        a->origin = k;
        a->origin_t = in->rate > 0.0 ? in->t0 + (double)i / in->rate : in->t;
        a->forecasts++;
        if (in->publish && in->publish(in->publish_ctx, i + 1, a->origin_t) != 0)
            a->publish_failures++;
    }
    return 0;
}

/* ---- result and details ---- */

static void pack_metrics(msgpack_packer *pk, const forecast_adapter *a,
                         const spx_forecast_result *r, bool detail)
{
    msgpack_pack_map(pk, detail ? 10 : 5);
    spx_pack_key_uint(pk, "forecasts_scored", r->metrics.forecasts_scored);
    spx_pack_key_double(pk, "mse", r->metrics.mse);
    spx_pack_key_double(pk, "mae", r->metrics.mae);
    spx_pack_cstr(pk, "mse_step");
    spx_pack_ndarray_f64(pk, r->metrics.mse_step, 1, &r->horizon);
    spx_pack_cstr(pk, "mae_step");
    spx_pack_ndarray_f64(pk, r->metrics.mae_step, 1, &r->horizon);
    if (!detail)
        return;
    spx_pack_key_double(pk, "rmse", sqrt(r->metrics.mse));
    spx_pack_key_uint(pk, "score_from", a->p.score_from);
    spx_pack_key_cstr(pk, "units", a->p.standardize ? "standardized" : "input");
    spx_pack_key_bool(pk, "enabled", a->p.metrics != 0);
    spx_pack_key_uint(pk, "samples", a->samples);
}

static int forecast_result(void *state, msgpack_packer *pk)
{
    forecast_adapter *a = state;
    spx_forecast_result r;
    spx_forecast_result_get(a->f, &r);
    msgpack_pack_map(pk, 15);
    spx_pack_key_bool(pk, "ready", r.ready != 0);
    spx_pack_key_uint(pk, "origin", a->origin);
    spx_pack_key_double(pk, "origin_t", a->origin_t);
    spx_pack_cstr(pk, "forecast");
    if (r.ready) {
        size_t shape[2] = {r.horizon, r.channels};
        spx_pack_ndarray_f64(pk, r.forecast, 2, shape);
    } else {
        msgpack_pack_nil(pk);
    }
    spx_pack_key_uint(pk, "horizon", r.horizon);
    spx_pack_key_uint(pk, "channels", r.channels);
    spx_pack_key_uint(pk, "samples", a->samples);
    spx_pack_key_uint(pk, "forecasts", a->forecasts);
    spx_pack_key_uint(pk, "updates", r.updates);
    spx_pack_key_uint(pk, "warmup", a->p.warmup);
    spx_pack_key_uint(pk, "warmup_restarts", r.warmup_restarts);
    spx_pack_key_uint(pk, "q_refreshes", r.q_refreshes);
    spx_pack_key_uint(pk, "rank", r.rank);
    spx_pack_key_uint(pk, "publish_failures", a->publish_failures);
    spx_pack_cstr(pk, "metrics");
    pack_metrics(pk, a, &r, false);
    return 0;
}

static void pack_params(msgpack_packer *pk, const spx_forecast_params *p)
{
    msgpack_pack_map(pk, 24);
    spx_pack_key_uint(pk, "channels", p->channels);
    spx_pack_key_uint(pk, "lookback", p->lookback);
    spx_pack_key_uint(pk, "horizon", p->horizon);
    spx_pack_key_cstr(pk, "method", spx_forecast_method_name(p->method));
    spx_pack_key_uint(pk, "rank", p->rank);
    spx_pack_key_cstr(pk, "norm", spx_forecast_norm_name(p->norm));
    spx_pack_key_bool(pk, "scale", p->scale != 0);
    spx_pack_key_double(pk, "forget", p->forget);
    spx_pack_key_double(pk, "ridge", p->ridge);
    spx_pack_key_bool(pk, "learn", p->learn != 0);
    spx_pack_key_uint(pk, "warmup", p->warmup);
    spx_pack_key_bool(pk, "standardize", p->standardize != 0);
    spx_pack_key_cstr(pk, "cross", spx_forecast_cross_name(p->cross));
    spx_pack_key_uint(pk, "cross_lags", p->cross_lags);
    spx_pack_key_double(pk, "cross_forget", p->cross_forget);
    spx_pack_key_double(pk, "cross_ridge", p->cross_ridge);
    spx_pack_key_double(pk, "cross_temp", p->cross_temp);
    spx_pack_key_uint(pk, "season", p->season);
    spx_pack_key_uint(pk, "forecast_every", p->every);
    spx_pack_key_uint(pk, "q_refresh", p->q_refresh);
    spx_pack_key_uint(pk, "q_stride", p->q_stride);
    spx_pack_key_uint(pk, "resym_every", p->resym_every);
    spx_pack_key_uint(pk, "score_from", p->score_from);
    spx_pack_key_bool(pk, "metrics", p->metrics != 0);
}

static spx_errcode forecast_command(void *state, const char *name, const msgpack_object *args,
                                    msgpack_packer *pk, char *err, size_t errlen)
{
    forecast_adapter *a = state;
    const bool is_metrics = !strcmp(name, "metrics"), is_params = !strcmp(name, "params");
    if (!is_metrics && !is_params)
        return SPX_E_UNKNOWN_OP;
    if (args && !(args->type == MSGPACK_OBJECT_NIL ||
                  (args->type == MSGPACK_OBJECT_MAP && args->via.map.size == 0))) {
        snprintf(err, errlen, "%s takes no arguments", name);
        return SPX_E_BAD_PARAM;
    }
    if (is_params) {
        pack_params(pk, &a->p);
        return SPX_OK;
    }
    spx_forecast_result r;
    spx_forecast_result_get(a->f, &r);
    pack_metrics(pk, a, &r, true);
    return SPX_OK;
}

/* ---- durable state ---- */

/* The adapter's own counters, beside the forecaster's fields (forecast_state.h). */
#define ADAPTER_STATE_KEYS 5

static int forecast_save(void *state, msgpack_packer *pk, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    forecast_adapter *a = state;
    spx_forecast_field fields[SPX_FORECAST_STATE_MAX_FIELDS];
    const size_t n = spx_forecast_state_fields(a->f, spx_forecast_state_fitted(a->f), fields);
    msgpack_pack_map(pk, (uint32_t)(n + ADAPTER_STATE_KEYS));
    spx_state_pack_u64(pk, "pipeline_samples", a->samples);
    spx_state_pack_u64(pk, "pipeline_origin", a->origin);
    spx_state_pack_f64(pk, "pipeline_origin_t", a->origin_t);
    spx_state_pack_u64(pk, "pipeline_forecasts", a->forecasts);
    spx_state_pack_u64(pk, "pipeline_publish_failures", a->publish_failures);
    for (size_t i = 0; i < n; i++) {
        const spx_forecast_field *fd = &fields[i];
        if (fd->type == SPX_FORECAST_FIELD_F64) {
            if (fd->scalar)
                spx_state_pack_f64(pk, fd->name, *(const double *)fd->data);
            else
                spx_state_pack_f64s(pk, fd->name, fd->data, fd->count);
        } else {
            if (fd->scalar)
                spx_state_pack_u64(pk, fd->name, *(const uint64_t *)fd->data);
            else
                spx_state_pack_u64s(pk, fd->name, fd->data, fd->count);
        }
    }
    return 0;
}

static int forecast_load(void *state, const msgpack_object *saved, char *err, size_t errlen)
{
    forecast_adapter *a = state;
    if (!saved || saved->type != MSGPACK_OBJECT_MAP) {
        snprintf(err, errlen, "state: not a map");
        return -1;
    }
    uint64_t fitted;
    if (spx_state_read_range(saved, "fitted", 0, 1, &fitted, err, errlen) != 0)
        return -1;
    spx_forecast_field fields[SPX_FORECAST_STATE_MAX_FIELDS];
    const size_t n = spx_forecast_state_fields(a->f, (int)fitted, fields);
    if (saved->via.map.size != n + ADAPTER_STATE_KEYS) {
        snprintf(err, errlen, "state: %" PRIu32 " keys, this forecaster saves %zu",
                 saved->via.map.size, n + ADAPTER_STATE_KEYS);
        return -1;
    }
    forecast_adapter in = *a;
    if (spx_state_read_u64(saved, "pipeline_samples", &in.samples, err, errlen) != 0 ||
        spx_state_read_u64(saved, "pipeline_origin", &in.origin, err, errlen) != 0 ||
        spx_state_read_f64(saved, "pipeline_origin_t", &in.origin_t, err, errlen) != 0 ||
        spx_state_read_u64(saved, "pipeline_forecasts", &in.forecasts, err, errlen) != 0 ||
        spx_state_read_u64(saved, "pipeline_publish_failures", &in.publish_failures, err,
                           errlen) != 0)
        return -1;
    if (in.forecasts > in.samples || in.publish_failures > in.forecasts ||
        (in.forecasts && in.origin >= in.samples)) {
        snprintf(err, errlen, "state: pipeline counters inconsistent (samples %" PRIu64
                 ", forecasts %" PRIu64 ", origin %" PRIu64 ", publish failures %" PRIu64 ")",
                 in.samples, in.forecasts, in.origin, in.publish_failures);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        const spx_forecast_field *fd = &fields[i];
        int rc;
        if (fd->type == SPX_FORECAST_FIELD_F64)
            rc = fd->scalar ? spx_state_read_f64(saved, fd->name, fd->data, err, errlen)
                            : spx_state_read_f64s(saved, fd->name, fd->data, fd->count, err,
                                                  errlen);
        else
            rc = fd->scalar ? spx_state_read_u64(saved, fd->name, fd->data, err, errlen)
                            : spx_state_read_u64s(saved, fd->name, fd->data, fd->count, err,
                                                  errlen);
        if (rc != 0)
            return -1;
    }
    char why[200];
    if (spx_forecast_state_finish_load(a->f, (int)fitted, why, sizeof why) != 0) {
        snprintf(err, errlen, "state: %s", why);
        return -1;
    }
    a->samples = in.samples;
    a->origin = in.origin;
    a->origin_t = in.origin_t;
    a->forecasts = in.forecasts;
    a->publish_failures = in.publish_failures;
    return 0;
}

const spx_pipeline_ops spx_forecast_ops = {
    .algo = "forecast",
    .summary = "streaming multichannel forecaster (OrthoTrans + RevIN + online RLS), one body per "
               "forecast origin with leak-free running metrics",
    .kinds = SPX_KIND_SERIES,
    .create = forecast_create,
    .update = forecast_update,
    .result = forecast_result,
    .destroy = forecast_destroy,
    .command = forecast_command,
    .commands = "metrics,params",
    .save = forecast_save,
    .load = forecast_load,
    .state_version = 1,
};
