/* Durable state of the `eegclass` kind: the shared round-trip contract (state_roundtrip.h) on a
 * synthetic EEG-like series with events (class cues with spans, unlabelled cues told by feedback,
 * late markers, an events-only message, a gap that resets the segment), saved during calibration
 * with epochs pending, right after the model was fitted, and while predicting; with and without a
 * band-pass, MDM and tangent space + LR, f64 and f32 samples, a stream whose rate is known at
 * attach and one where it comes with the first samples. The `model`, `fit` and `reset` operations
 * of a restored instance answer like the original's. Result bodies carry timings (latency_ms,
 * compute_ms): the clocks behind them are fixed here so that bodies compare byte for byte. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/eegclass_internal.h"
#include "codec.h"
#include "pipeline_kind.h"
#include "rng.h"
#include "state_commands.h"
#include "state_roundtrip.h"

enum { C = 4, MAX_INPUTS = 160, MAX_EV = 4 };
#define RATE 64.0
#define T0 1000.0
#define CUE_EVERY 3.0
#define CUE_SPAN 2.0

static double fixed_monotonic(void) { return 5.0; }
static double fixed_wall(void) { return T0 + 500.0; }

static void fixed_clocks(void) { spx_eeg_set_clocks(fixed_monotonic, fixed_wall); }

typedef struct series {
    spx_stream_info info;
    spx_input in[MAX_INPUTS];
    spx_event ev[MAX_INPUTS][MAX_EV];
    void *data[MAX_INPUTS];
    size_t count;
    size_t fitted_after;       /* inputs after which the model exists (0 if never) */
} series;

static int cue_class(size_t i) { return (int)((i * 5 + i / 2) % 2); }

/* n_cues cues every CUE_EVERY s from T0 + 1; cue i is labelled on time, unless i % 5 == 3 (an
 * unlabelled "cue", then "feedback" at its end) or i % 5 == 4 (the labelled marker arrives 1 s
 * late). Chunks of 40, 23, 64, 17, 50 samples; after chunk gap_at the stream jumps 0.5 s ahead;
 * chunk events_only_at is replaced by a message without samples carrying the next late marker. */
static void series_make(series *s, size_t n_cues, spx_dtype dtype, double attach_rate,
                        size_t gap_at, size_t events_only_at, uint64_t seed)
{
    memset(s, 0, sizeof *s);
    s->info = (spx_stream_info){.name = "eeg", .kind = SPX_KIND_SERIES, .dim = C,
                                .rate = attach_rate};
    spx_rng rng;
    spx_rng_seed(&rng, seed);
    double mix[3][C * C];
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < C; i++)
            for (int j = 0; j < C; j++)
                mix[k][i * C + j] = (i == j) + 0.1 * spx_rng_normal(&rng);
    for (int j = 0; j < C; j++) {
        mix[1][0 * C + j] *= 3.0;
        mix[2][2 * C + j] *= 3.0;
    }
    static const size_t chunks[] = {40, 23, 64, 17, 50};
    static const char *const names[] = {"A", "B"};
    double t = T0, end = T0 + 1.0 + CUE_EVERY * (double)n_cues;
    size_t late_pending = SIZE_MAX;
    while (t < end) {
        cr_assert_lt(s->count, MAX_INPUTS);
        size_t k = s->count, n = chunks[k % 5];
        bool events_only = k == events_only_at;
        if (events_only)
            n = 0;
        double t1 = t + (double)n / RATE;
        spx_input *in = &s->in[k];
        size_t ne = 0;
        for (size_t i = 0; i < n_cues; i++) {
            double ti = T0 + 1.0 + CUE_EVERY * (double)i;
            double when = i % 5 == 4 ? ti + 1.0 : ti;
            bool now = events_only ? i == late_pending : (when >= t && when < t1);
            if (!now || ne + 2 > MAX_EV)
                continue;
            spx_event *e = &s->ev[k][ne++];
            *e = (spx_event){.t = ti, .value = NAN, .duration = CUE_SPAN};
            snprintf(e->label, sizeof e->label, "%s", i % 5 == 3 ? "cue" : names[cue_class(i)]);
            if (i % 5 == 4 && !events_only && k + 1 == events_only_at)
                ne--;   /* held back for the events-only message */
            if (i % 5 == 4 && k + 1 == events_only_at)
                late_pending = i;
        }
        for (size_t i = 0; i < n_cues && !events_only; i++) {
            double fb = T0 + 1.0 + CUE_EVERY * (double)i + CUE_SPAN;
            if (i % 5 == 3 && fb >= t && fb < t1 && ne < MAX_EV) {
                s->ev[k][ne] = (spx_event){.t = fb, .value = cue_class(i)};
                snprintf(s->ev[k][ne].label, sizeof s->ev[k][ne].label, "feedback");
                ne++;
            }
        }
        size_t elem = dtype == SPX_DTYPE_F32 ? sizeof(float) : sizeof(double);
        s->data[k] = malloc((n ? n : 1) * C * elem);
        cr_assert(s->data[k]);
        for (size_t j = 0; j < n; j++) {
            double ts = t + (double)j / RATE, z[C];
            int cls = 0;
            for (size_t i = 0; i < n_cues; i++) {
                double ti = T0 + 1.0 + CUE_EVERY * (double)i;
                if (ts >= ti && ts < ti + CUE_SPAN)
                    cls = cue_class(i) + 1;
            }
            spx_rng_normal_fill(&rng, z, C);
            for (int r = 0; r < C; r++) {
                double v = 0;
                for (int c = 0; c < C; c++)
                    v += mix[cls][r * C + c] * z[c];
                v *= 20.0;
                if (dtype == SPX_DTYPE_F32)
                    ((float *)s->data[k])[j * C + (size_t)r] = (float)v;
                else
                    ((double *)s->data[k])[j * C + (size_t)r] = v;
            }
        }
        *in = (spx_input){.kind = SPX_KIND_SERIES, .dtype = dtype, .n = (uint32_t)n, .d = C,
                          .data = s->data[k], .t = t1 + 0.01, .t0 = t, .rate = RATE,
                          .events = ne ? s->ev[k] : NULL, .n_events = ne, .seq = k + 1};
        s->count++;
        t = t1;
        if (k == gap_at)
            t += 0.5;
    }
}

static void series_free(series *s)
{
    for (size_t i = 0; i < s->count; i++)
        free(s->data[i]);
}

static const spx_pipeline_ops *eeg_ops(void)
{
    const spx_pipeline_ops *ops = spx_pipeline_kind_find("eegclass");
    cr_assert(ops);
    return ops;
}

/* The value of the result's "state" ("calibrating" / "ready") after each input: the first input
 * after which the model exists (0 if never). */
static size_t first_ready(const spx_pipeline_ops *ops, const series *s, const spx_param *params,
                          size_t n_params)
{
    void *st = rt_create(ops, &s->info, params, n_params);
    size_t ready = 0;
    for (size_t i = 0; i < s->count && !ready; i++) {
        char err[256] = "";
        cr_assert_eq(ops->update(st, &s->in[i], err, sizeof err), 0, "update %zu: %s", i, err);
        msgpack_sbuffer sb;
        rt_result(ops, st, &sb);
        msgpack_unpacked up;
        msgpack_unpacked_init(&up);
        cr_assert_eq(msgpack_unpack_next(&up, sb.data, sb.size, NULL), MSGPACK_UNPACK_SUCCESS);
        char state[16] = "";
        cr_assert_eq(spx_obj_str(spx_map_get(&up.data, "state"), state, sizeof state), 0);
        if (strcmp(state, "ready") == 0)
            ready = i + 1;
        msgpack_unpacked_destroy(&up);
        msgpack_sbuffer_destroy(&sb);
    }
    ops->destroy(st);
    return ready;
}

/* Counter `key` of the result after the whole series, which must be positive: the series
 * reaches what the round trips are meant to cover. */
static void assert_reached(const spx_pipeline_ops *ops, const series *s, const spx_param *params,
                           size_t n_params, const char *const *keys, size_t n_keys)
{
    void *st = rt_create(ops, &s->info, params, n_params);
    for (size_t i = 0; i < s->count; i++) {
        char err[256] = "";
        cr_assert_eq(ops->update(st, &s->in[i], err, sizeof err), 0, "update %zu: %s", i, err);
    }
    msgpack_sbuffer sb;
    rt_result(ops, st, &sb);
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    cr_assert_eq(msgpack_unpack_next(&up, sb.data, sb.size, NULL), MSGPACK_UNPACK_SUCCESS);
    const msgpack_object *counters = spx_map_get(&up.data, "counters");
    for (size_t k = 0; k < n_keys; k++) {
        uint64_t v = 0;
        cr_assert_eq(spx_obj_uint(spx_map_get(counters, keys[k]), &v), 0, "%s", keys[k]);
        cr_assert_gt(v, 0, "the series never reaches %s", keys[k]);
    }
    msgpack_unpacked_destroy(&up);
    msgpack_sbuffer_destroy(&sb);
    ops->destroy(st);
}

/* The contract at splits spread over calibration, the fit and prediction. */
static void roundtrip_everywhere(const spx_param *params, size_t n_params, spx_dtype dtype,
                                 double attach_rate, uint64_t seed)
{
    const spx_pipeline_ops *ops = eeg_ops();
    series s;
    series_make(&s, 14, dtype, attach_rate, 30, 45, seed);
    size_t ready = first_ready(ops, &s, params, n_params);
    cr_assert_gt(ready, 0, "the model is fitted during the series");
    cr_assert_lt(ready + 20, s.count, "and predicts for a while after");
    static const char *const reached[] = {"windows", "trials_predicted", "resets", "gaps",
                                          "feedback", "fits"};
    assert_reached(ops, &s, params, n_params, reached, 6);
    size_t splits[] = {0, 1, 7, ready - 1, ready, ready + 3, 44, 45, s.count - 2, s.count};
    for (size_t i = 0; i < sizeof splits / sizeof splits[0]; i++)
        check_state_roundtrip(ops, &s.info, params, n_params, s.in, s.count, splits[i]);
    series_free(&s);
}

Test(state_eegclass, declares_a_version)
{
    const spx_pipeline_ops *ops = eeg_ops();
    cr_assert(ops->save && ops->load);
    cr_assert_eq(ops->state_version, 1);
}

Test(state_eegclass, roundtrip_mdm_bandpass_f64, .init = fixed_clocks)
{
    spx_param params[] = {{"classes", "A,B"}, {"window", "1"},    {"hop", "0.25"},
                          {"tmin", "0.25"},   {"tmax", "2"},      {"min_trials", "3"},
                          {"settle", "0.25"}, {"fmin", "6"},    {"fmax", "25"}};
    roundtrip_everywhere(params, 9, SPX_DTYPE_F64, RATE, 31);
}

Test(state_eegclass, roundtrip_ts_lr_no_filter_f32_rate_from_samples, .init = fixed_clocks)
{
    /* no rate at attach: the buffers are sized by the first samples, so a save at split 0 holds
     * no rate and the restored instance sizes itself later, like the original */
    spx_param params[] = {{"classes", "A,B"}, {"window", "0.75"}, {"hop", "0.125"},
                          {"tmin", "-0.25"},  {"tmax", "1.75"},   {"min_trials", "3"},
                          {"classifier", "ts"}, {"cov", "lw"},    {"filter", "none"},
                          {"order", "2"},     {"lag", "3"}};
    roundtrip_everywhere(params, 11, SPX_DTYPE_F32, 0.0, 32);
}

Test(state_eegclass, roundtrip_order_chosen_by_cv, .init = fixed_clocks)
{
    spx_param params[] = {{"classes", "A,B"}, {"window", "1"},      {"hop", "0.5"},
                          {"tmin", "0"},      {"tmax", "2"},        {"min_trials", "3"},
                          {"order", "auto"},  {"orders", "1,2"},    {"lags", "1,2"},
                          {"folds", "3"},     {"mode", "cues"}, {"fmax", "25"}};
    const spx_pipeline_ops *ops = eeg_ops();
    series s;
    series_make(&s, 12, SPX_DTYPE_F64, RATE, 1000, 1000, 33);
    size_t ready = first_ready(ops, &s, params, 12);
    cr_assert_gt(ready, 0);
    size_t splits[] = {ready - 1, ready, s.count - 5};
    for (size_t i = 0; i < sizeof splits / sizeof splits[0]; i++)
        check_state_roundtrip(ops, &s.info, params, 12, s.in, s.count, splits[i]);
    series_free(&s);
}

Test(state_eegclass, operations_after_restore, .init = fixed_clocks)
{
    const spx_pipeline_ops *ops = eeg_ops();
    spx_param params[] = {{"classes", "A,B"}, {"window", "1"},   {"hop", "0.25"},
                          {"tmin", "0.25"},   {"tmax", "2"},     {"min_trials", "3"},
                          {"fmax", "25"}};
    series s;
    series_make(&s, 14, SPX_DTYPE_F64, RATE, 1000, 1000, 34);
    size_t ready = first_ready(ops, &s, params, 7);
    cr_assert_gt(ready, 0);

    /* before the model: `model` is refused alike, `fit` on the trials so far works alike */
    void *a = rt_create(ops, &s.info, params, 7);
    for (size_t i = 0; i < ready - 1; i++) {
        char err[256] = "";
        cr_assert_eq(ops->update(a, &s.in[i], err, sizeof err), 0, "%s", err);
    }
    void *b = rt_restore(ops, &s.info, params, 7, a);
    cr_assert_eq(rt_command_same(ops, a, b, "model", NULL), SPX_E_BAD_PARAM);
    cr_assert_eq(rt_command_same(ops, a, b, "fit", NULL), SPX_OK);
    cr_assert_eq(rt_command_same(ops, a, b, "model", NULL), SPX_OK);
    ops->destroy(b);

    /* after the model: the model bytes, predictions, then `reset` and re-calibration */
    for (size_t i = ready - 1; i < ready + 10; i++) {
        char err[256] = "";
        cr_assert_eq(ops->update(a, &s.in[i], err, sizeof err), 0, "%s", err);
    }
    b = rt_restore(ops, &s.info, params, 7, a);
    cr_assert_eq(rt_command_same(ops, a, b, "model", NULL), SPX_OK);
    cr_assert_eq(rt_command_same(ops, a, b, "reset", NULL), SPX_OK);
    cr_assert_eq(rt_command_same(ops, a, b, "model", NULL), SPX_E_BAD_PARAM);
    for (size_t i = ready + 10; i < s.count; i++) {
        char err[256] = "";
        cr_assert_eq(ops->update(a, &s.in[i], err, sizeof err), 0, "%s", err);
        cr_assert_eq(ops->update(b, &s.in[i], err, sizeof err), 0, "%s", err);
    }
    msgpack_sbuffer ra, rb;
    rt_result(ops, a, &ra);
    rt_result(ops, b, &rb);
    cr_assert(ra.size == rb.size && !memcmp(ra.data, rb.data, ra.size));
    msgpack_sbuffer_destroy(&ra);
    msgpack_sbuffer_destroy(&rb);
    cr_assert_eq(rt_command_same(ops, a, b, "model", NULL), SPX_OK, "re-fitted after reset");
    ops->destroy(b);

    /* a model installed by load_model (its matrices symmetrised from the bytes) is "loaded" in
     * results, and stays so, with the same values, in a restored instance */
    msgpack_sbuffer mb;
    cr_assert_eq(rt_command(ops, a, "model", NULL, &mb), SPX_OK);
    msgpack_unpacked mu;
    msgpack_unpacked_init(&mu);
    cr_assert_eq(msgpack_unpack_next(&mu, mb.data, mb.size, NULL), MSGPACK_UNPACK_SUCCESS);
    rt_args args;
    rt_args_begin(&args, 1);
    spx_pack_cstr(&args.pk, "model");
    msgpack_pack_object(&args.pk, mu.data);
    msgpack_sbuffer lb;
    cr_assert_eq(rt_command(ops, a, "load_model", rt_args_end(&args), &lb), SPX_OK);
    b = rt_restore(ops, &s.info, params, 7, a);
    rt_result(ops, a, &ra);
    rt_result(ops, b, &rb);
    cr_assert(ra.size == rb.size && !memcmp(ra.data, rb.data, ra.size));
    bool says_loaded = false;
    for (size_t i = 0; i + 6 <= ra.size && !says_loaded; i++)
        says_loaded = !memcmp(ra.data + i, "loaded", 6);
    cr_assert(says_loaded, "the result says the model was loaded");
    cr_assert_eq(rt_command_same(ops, a, b, "model", NULL), SPX_OK);
    msgpack_sbuffer_destroy(&ra);
    msgpack_sbuffer_destroy(&rb);
    msgpack_sbuffer_destroy(&lb);
    msgpack_sbuffer_destroy(&mb);
    msgpack_unpacked_destroy(&mu);
    rt_args_free(&args);
    ops->destroy(a);
    ops->destroy(b);
    series_free(&s);
}

/* ---- hostile values: right keys and types, wrong contents ------------------------------------ */

/* Loading a's save with bin `key` replaced by n bytes must fail with `needle` in the message. */
static void refused_with(const spx_pipeline_ops *ops, void *a, const series *s,
                         const spx_param *params, size_t n_params, const char *key,
                         const void *bytes, size_t n, const char *needle)
{
    msgpack_sbuffer save, out;
    rt_save(ops, a, &save);
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    cr_assert_eq(msgpack_unpack_next(&up, save.data, save.size, NULL), MSGPACK_UNPACK_SUCCESS);
    msgpack_sbuffer_init(&out);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &out, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, up.data.via.map.size);
    bool found = false;
    for (uint32_t i = 0; i < up.data.via.map.size; i++) {
        const msgpack_object_kv *kv = &up.data.via.map.ptr[i];
        msgpack_pack_object(&pk, kv->key);
        if (kv->key.via.str.size == strlen(key) && !memcmp(kv->key.via.str.ptr, key, strlen(key))) {
            msgpack_pack_bin(&pk, n);
            msgpack_pack_bin_body(&pk, bytes, n);
            found = true;
        } else {
            msgpack_pack_object(&pk, kv->val);
        }
    }
    cr_assert(found, "no key %s", key);
    void *c = rt_create(ops, &s->info, params, n_params);
    char err[256] = "";
    cr_assert_eq(rt_load_bytes(ops, c, out.data, out.size, err, sizeof err), -1,
                 "%s: accepted a save that should fail with '%s'", key, needle);
    cr_assert(strstr(err, needle), "%s: error '%s' lacks '%s'", key, err, needle);
    ops->destroy(c);
    msgpack_unpacked_destroy(&up);
    msgpack_sbuffer_destroy(&save);
    msgpack_sbuffer_destroy(&out);
}

Test(state_eegclass, hostile_values_are_refused, .init = fixed_clocks)
{
    const spx_pipeline_ops *ops = eeg_ops();
    spx_param params[] = {{"classes", "A,B"}, {"window", "1"},   {"hop", "0.25"},
                          {"tmin", "0.25"},   {"tmax", "2"},     {"min_trials", "3"},
                          {"fmax", "25"}};
    series s;
    series_make(&s, 14, SPX_DTYPE_F64, RATE, 1000, 1000, 35);
    void *a = rt_create(ops, &s.info, params, 7);
    for (size_t i = 0; i < s.count - 3; i++) {
        char err[256] = "";
        cr_assert_eq(ops->update(a, &s.in[i], err, sizeof err), 0, "%s", err);
    }
    /* a window predicted as class 5 of 2 */
    unsigned char cls[2] = {6, 0};
    refused_with(ops, a, &s, params, 7, "window_classes", cls, 2, "class");
    /* a prediction without a class */
    cls[0] = 0;
    refused_with(ops, a, &s, params, 7, "window_classes", cls, 2, "without a class");
    /* per-class counts that disagree with the calibration trials' labels */
    uint64_t per_class[2] = {1, 1};
    refused_with(ops, a, &s, params, 7, "per_class", per_class, sizeof per_class, "per_class");
    /* pending epochs for a cue never seen, and more than the queue holds */
    uint64_t serial[65], cue[65];
    for (size_t i = 0; i < 65; i++) {
        serial[i] = (1u << 20) + i;
        cue[i] = 1000 + i;
    }
    refused_with(ops, a, &s, params, 7, "pending_serial", serial, 8, "pending");
    refused_with(ops, a, &s, params, 7, "pending_cue", cue, sizeof cue, "pending");
    /* a band-pass delay line that is not finite, a model that is not SPD */
    double bad[64];
    for (size_t i = 0; i < 64; i++)
        bad[i] = NAN;
    size_t iir_n = 0, model_n = 0;
    {
        msgpack_sbuffer sv;
        rt_save(ops, a, &sv);
        msgpack_unpacked up;
        msgpack_unpacked_init(&up);
        cr_assert_eq(msgpack_unpack_next(&up, sv.data, sv.size, NULL), MSGPACK_UNPACK_SUCCESS);
        iir_n = spx_map_get(&up.data, "iir")->via.bin.size / 8;
        model_n = spx_map_get(&up.data, "model_state")->via.bin.size / 8;
        msgpack_unpacked_destroy(&up);
        msgpack_sbuffer_destroy(&sv);
    }
    cr_assert(iir_n > 0 && iir_n <= 64 && model_n > 0 && model_n <= 64, "%zu %zu", iir_n, model_n);
    refused_with(ops, a, &s, params, 7, "iir", bad, iir_n * 8, "iir");
    for (size_t i = 0; i < 64; i++)
        bad[i] = -1.0;
    refused_with(ops, a, &s, params, 7, "model_state", bad, model_n * 8, "model");
    ops->destroy(a);
    series_free(&s);
}
