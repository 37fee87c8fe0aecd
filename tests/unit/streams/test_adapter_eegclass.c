/* The `eegclass` adapter driven through its ops, without a daemon, on synthetic EEG-like series
 * whose classes have planted spatial covariances: class k multiplies white noise by a mixing
 * matrix A_k during its cue's span, rest periods are plain white noise. Every result body the
 * adapter publishes (spx_input.publish) is decoded and kept, so the tests check what a subscriber
 * would see: one body per window, their spans, labels and scores; and the model bytes round trip
 * and refusal of hostile bytes. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"
#include "stream.h"

extern const spx_pipeline_ops spx_eegclass_ops;

enum { C = 6, MAX_REC = 4096 };
#define RATE 128.0
#define CUE_EVERY 4.0
#define CUE_SPAN 3.5
#define T_START 1700000000.0

/* ---- a stream producer and a subscriber in one --------------------------------------------- */

typedef struct rec {
    char what[16];
    double t_start, t_end, t_cue;
    int cls, truth;             /* truth -1 when nil */
    double latency_ms, compute_ms, p_sum;
} rec;

typedef struct harness {
    void *st;
    double t;                   /* stream time of the next sample */
    uint64_t sample;            /* samples pushed */
    spx_rng rng;
    double mix[3][C * C];       /* rest, class 0, class 1 */
    /* the cue schedule: cue i at cue_t[i], class cue_cls[i] */
    double cue_t[256];
    int cue_cls[256];
    size_t n_cues;
    rec recs[MAX_REC];
    size_t n_recs;
    unsigned char *last_body;
    size_t last_len;
    spx_dtype dtype;
} harness;

static void on_publish_body(harness *h)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    cr_assert_eq(spx_eegclass_ops.result(h->st, &pk), 0);
    free(h->last_body);
    h->last_body = malloc(sb.size);
    memcpy(h->last_body, sb.data, sb.size);
    h->last_len = sb.size;
    msgpack_sbuffer_destroy(&sb);
}

static int publish_hook(void *ctx, uint32_t applied, double t)
{
    harness *h = ctx;
    (void)applied;
    on_publish_body(h);
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    cr_assert_eq(msgpack_unpack_next(&up, (const char *)h->last_body, h->last_len, NULL),
                 MSGPACK_UNPACK_SUCCESS);
    cr_assert_lt(h->n_recs, MAX_REC);
    rec *r = &h->recs[h->n_recs++];
    memset(r, 0, sizeof *r);
    cr_assert_eq(spx_obj_str(spx_map_get(&up.data, "what"), r->what, sizeof r->what), 0);
    const char *key = strcmp(r->what, "trial") == 0 ? "trial" : "window";
    const msgpack_object *w = spx_map_get(&up.data, key);
    if (strcmp(r->what, "window") == 0 || strcmp(r->what, "trial") == 0) {
        cr_assert(w && w->type == MSGPACK_OBJECT_MAP);
        uint64_t cls;
        cr_assert_eq(spx_obj_double(spx_map_get(w, "t_start"), &r->t_start), 0);
        cr_assert_eq(spx_obj_double(spx_map_get(w, "t_end"), &r->t_end), 0);
        cr_assert_eq(spx_obj_uint(spx_map_get(w, "class"), &cls), 0);
        r->cls = (int)cls;
        char truth[16];
        r->truth = -1;
        if (spx_obj_str(spx_map_get(w, "truth"), truth, sizeof truth) == 0)
            r->truth = truth[0] - 'A';
        cr_assert_eq(spx_obj_double(spx_map_get(w, "latency_ms"), &r->latency_ms), 0);
        cr_assert_eq(spx_obj_double(spx_map_get(w, "compute_ms"), &r->compute_ms), 0);
        if (strcmp(r->what, "trial") == 0)
            cr_assert_eq(spx_obj_double(spx_map_get(w, "t_cue"), &r->t_cue), 0);
        const msgpack_object *pr = spx_map_get(w, "proba");
        const msgpack_object *data = spx_map_get(pr, "data");
        cr_assert(data && data->type == MSGPACK_OBJECT_BIN && data->via.bin.size == 16);
        double p[2];
        memcpy(p, data->via.bin.ptr, 16);
        r->p_sum = p[0] + p[1];
        cr_assert_float_eq(t, r->t_end, 1e-9, "t_in of the body is the window's end");
    }
    msgpack_unpacked_destroy(&up);
    return 0;
}

static void *create(const char *const *kv, size_t n, double rate, size_t channels, char *err)
{
    spx_param params[32];
    char keys[32][64];
    for (size_t i = 0; i < n; i++) {
        const char *eq = strchr(kv[i], '=');
        snprintf(keys[i], sizeof keys[i], "%.*s", (int)(eq - kv[i]), kv[i]);
        params[i] = (spx_param){keys[i], eq + 1};
    }
    spx_stream_info info = {.name = "eeg", .kind = SPX_KIND_SERIES, .dim = (uint32_t)channels,
                            .rate = rate};
    void *st = NULL;
    err[0] = '\0';
    if (spx_eegclass_ops.create(&st, &info, params, n, err, 256) != 0)
        return NULL;
    return st;
}

static void harness_init(harness *h, const char *const *kv, size_t n, uint64_t seed)
{
    memset(h, 0, sizeof *h);
    char err[256];
    h->st = create(kv, n, 0, C, err);
    cr_assert_not_null(h->st, "create: %s", err);
    h->t = T_START;
    h->dtype = SPX_DTYPE_F64;
    spx_rng_seed(&h->rng, seed);
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < C; i++)
            for (int j = 0; j < C; j++)
                h->mix[k][i * C + j] = (i == j) + 0.1 * spx_rng_normal(&h->rng);
    /* class 0: strong channels 0-1, class 1: strong channels 2-3 */
    for (int j = 0; j < C; j++) {
        h->mix[1][0 * C + j] *= 3.0;
        h->mix[1][1 * C + j] *= 2.5;
        h->mix[2][2 * C + j] *= 3.0;
        h->mix[2][3 * C + j] *= 2.5;
    }
}

static void harness_free(harness *h)
{
    spx_eegclass_ops.destroy(h->st);
    free(h->last_body);
}

static int class_at(const harness *h, double t)
{
    for (size_t i = 0; i < h->n_cues; i++)
        if (t >= h->cue_t[i] && t < h->cue_t[i] + CUE_SPAN)
            return h->cue_cls[i];
    return -1;
}

/* Pushes n samples (one message) with the given events; the data follow the cue schedule. */
static int push(harness *h, size_t n, const spx_event *ev, size_t n_ev, char *err)
{
    double *x = malloc((n ? n : 1) * C * sizeof *x);
    float *xf = malloc((n ? n : 1) * C * sizeof *xf);
    for (size_t s = 0; s < n; s++) {
        double z[C];
        spx_rng_normal_fill(&h->rng, z, C);
        int k = class_at(h, h->t + (double)s / RATE) + 1;
        for (int i = 0; i < C; i++) {
            double v = 0;
            for (int j = 0; j < C; j++)
                v += h->mix[k][i * C + j] * z[j];
            x[s * C + i] = 20.0 * v;
            xf[s * C + i] = (float)x[s * C + i];
        }
    }
    spx_input in = {.kind = SPX_KIND_SERIES, .dtype = h->dtype, .n = (uint32_t)n, .d = C,
                    .data = h->dtype == SPX_DTYPE_F32 ? (const void *)xf : (const void *)x,
                    .t = spx_now(), .t0 = h->t, .rate = RATE, .events = ev, .n_events = n_ev,
                    .publish = publish_hook, .publish_ctx = h};
    int rc = spx_eegclass_ops.update(h->st, &in, err, 256);
    if (rc == 0) {
        h->t += (double)n / RATE;
        h->sample += n;
    }
    free(x);
    free(xf);
    return rc;
}

typedef enum { LABELS_ON_CUE, LABELS_BY_FEEDBACK, LABELS_LATE } label_mode;

/* Plays n_trials cues (every CUE_EVERY s, the first 1.5 s from now) in chunks of `chunk`
 * samples. Labels go with the cue, or the cue is unlabelled ("cue") and a feedback event follows
 * at its end, or the labelled marker arrives 2 s late. */
static void play(harness *h, size_t n_trials, size_t chunk, label_mode mode)
{
    static const char *names[2] = {"A", "B"};
    double first = h->t + 1.5;
    size_t base = h->n_cues;
    for (size_t i = 0; i < n_trials; i++) {
        cr_assert_lt(h->n_cues, 256);
        h->cue_t[h->n_cues] = first + CUE_EVERY * (double)i;
        /* balanced: each pair of cues is one of each class, in random order */
        h->cue_cls[h->n_cues] = i % 2 ? 1 - h->cue_cls[h->n_cues - 1]
                                      : (int)spx_rng_below(&h->rng, 2);
        h->n_cues++;
    }
    double end = first + CUE_EVERY * (double)n_trials;
    char err[256];
    while (h->t < end) {
        double t1 = h->t + (double)chunk / RATE;
        spx_event ev[4];
        size_t n_ev = 0;
        for (size_t i = base; i < h->n_cues; i++) {
            double when = mode == LABELS_LATE ? h->cue_t[i] + 2.0
                          : mode == LABELS_BY_FEEDBACK ? h->cue_t[i] : h->cue_t[i];
            if (when >= h->t && when < t1) {
                ev[n_ev] = (spx_event){.t = h->cue_t[i], .value = NAN, .duration = CUE_SPAN};
                snprintf(ev[n_ev].label, sizeof ev[n_ev].label, "%s",
                         mode == LABELS_BY_FEEDBACK ? "cue" : names[h->cue_cls[i]]);
                n_ev++;
            }
            double fb = h->cue_t[i] + CUE_SPAN;
            if (mode == LABELS_BY_FEEDBACK && fb >= h->t && fb < t1) {
                ev[n_ev] = (spx_event){.t = fb, .value = h->cue_cls[i]};
                snprintf(ev[n_ev].label, sizeof ev[n_ev].label, "feedback");
                n_ev++;
            }
        }
        cr_assert_eq(push(h, chunk, ev, n_ev, err), 0, "%s", err);
    }
}

static msgpack_unpacked result_now(harness *h)
{
    on_publish_body(h);
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    cr_assert_eq(msgpack_unpack_next(&up, (const char *)h->last_body, h->last_len, NULL),
                 MSGPACK_UNPACK_SUCCESS);
    return up;
}

static double num(const msgpack_object *root, const char *a, const char *b, const char *c)
{
    const msgpack_object *o = spx_map_get(root, a);
    if (b)
        o = spx_map_get(o, b);
    if (c)
        o = spx_map_get(o, c);
    double v = NAN;
    if (o && o->type != MSGPACK_OBJECT_NIL)
        cr_assert_eq(spx_obj_double(o, &v), 0, "%s.%s.%s", a, b ? b : "", c ? c : "");
    return v;
}

static char *str_of(const msgpack_object *root, const char *key, char *buf, size_t cap)
{
    cr_assert_eq(spx_obj_str(spx_map_get(root, key), buf, cap), 0, "key %s", key);
    return buf;
}

/* Runs a command; returns the code and leaves the packed value in *out (malloc'd) on success. */
static spx_errcode command(harness *h, const char *name, const msgpack_object *args,
                           unsigned char **out, size_t *len, char *err)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    err[0] = '\0';
    spx_errcode code = spx_eegclass_ops.command(h->st, name, args, &pk, err, 256);
    if (code != SPX_OK)
        cr_assert_eq(sb.size, 0, "nothing packed on failure");
    if (out) {
        *out = NULL;
        if (code == SPX_OK) {
            *out = malloc(sb.size);
            memcpy(*out, sb.data, sb.size);
            *len = sb.size;
        }
    }
    msgpack_sbuffer_destroy(&sb);
    return code;
}

/* The model's bytes (the bin of detail "model"). */
static unsigned char *model_bytes(harness *h, size_t *len)
{
    unsigned char *v;
    size_t vlen;
    char err[256];
    cr_assert_eq(command(h, "model", NULL, &v, &vlen, err), SPX_OK, "%s", err);
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    cr_assert_eq(msgpack_unpack_next(&up, (const char *)v, vlen, NULL), MSGPACK_UNPACK_SUCCESS);
    cr_assert_eq(up.data.type, MSGPACK_OBJECT_BIN);
    *len = up.data.via.bin.size;
    unsigned char *b = malloc(*len);
    memcpy(b, up.data.via.bin.ptr, *len);
    msgpack_unpacked_destroy(&up);
    free(v);
    return b;
}

static spx_errcode load_model(harness *h, const unsigned char *b, size_t len, char *err)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 1);
    spx_pack_cstr(&pk, "model");
    msgpack_pack_bin(&pk, len);
    msgpack_pack_bin_body(&pk, b, len);
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    cr_assert_eq(msgpack_unpack_next(&up, sb.data, sb.size, NULL), MSGPACK_UNPACK_SUCCESS);
    spx_errcode code = command(h, "load_model", &up.data, NULL, NULL, err);
    msgpack_unpacked_destroy(&up);
    msgpack_sbuffer_destroy(&sb);
    return code;
}

/* Window accuracy as a subscriber measures it: windows lying inside a cue's span. */
static double subscriber_window_accuracy(const harness *h, size_t from_rec, size_t *scored)
{
    size_t hit = 0, n = 0;
    for (size_t i = from_rec; i < h->n_recs; i++) {
        const rec *r = &h->recs[i];
        if (strcmp(r->what, "window") != 0)
            continue;
        for (size_t c = 0; c < h->n_cues; c++)
            if (r->t_start >= h->cue_t[c] - 1e-6 && r->t_end <= h->cue_t[c] + CUE_SPAN + 1e-6) {
                n++;
                hit += r->cls == h->cue_cls[c];
                break;
            }
    }
    *scored = n;
    return n ? (double)hit / (double)n : NAN;
}

static const char *const base_params[] = {"classes=A,B", "window=1", "hop=0.25", "tmin=0.5",
                                          "tmax=3", "min_trials=6"};
#define N_BASE (sizeof base_params / sizeof base_params[0])

/* ---- tests --------------------------------------------------------------------------------- */

Test(eegclass, params_are_validated)
{
    char err[256];
    const char *none[] = {"cov=oas"};
    cr_assert_null(create(none, 1, 160, 8, err));
    cr_assert(strstr(err, "classes"), "%s", err);
    struct { const char *kv[3]; size_t n; const char *says; } bad[] = {
        {{"classes=A"}, 1, "two classes"},
        {{"classes=A,A"}, 1, "twice"},
        {{"classes=A,,B"}, 1, "classes"},
        {{"classes=A,B", "colour=red"}, 2, "unknown parameter colour"},
        {{"classes=A,B", "cov=ledoit"}, 2, "cov=ledoit"},
        {{"classes=A,B", "classifier=svm"}, 2, "classifier=svm"},
        {{"classes=A,B,C", "classifier=ts"}, 2, "two classes"},
        {{"classes=A,B", "order=9"}, 2, "order=9"},
        {{"classes=A,B", "order=x"}, 2, "order=x"},
        {{"classes=A,B", "lags=1,0"}, 2, "lags=1,0"},
        {{"classes=A,B", "mode=all"}, 2, "mode=all"},
        {{"classes=A,B", "tmin=2", "tmax=1"}, 3, "tmax"},
        {{"classes=A,B", "fmin=30", "fmax=8"}, 3, "fmin"},
        {{"classes=A,B", "fmax=90"}, 2, "half the sample rate"},
        {{"classes=A,B", "window=0.02"}, 2, "too short"},
        {{"classes=A,B", "order=8", "lag=30"}, 3, "does not fit"},
        {{"classes=A,cue"}, 1, "cue"},
        {{"classes=A,B", "min_trials=300"}, 2, "max_trials"},
        {{"classes=A,B", "window=NaN"}, 2, "window"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_null(create(bad[i].kv, bad[i].n, 160, 8, err), "case %zu accepted", i);
        cr_assert(strstr(err, bad[i].says), "case %zu: '%s' lacks '%s'", i, err, bad[i].says);
    }
    const char *good[] = {"classes=left_hand,right_hand,feet", "cov=lw", "order=auto",
                          "orders=1,2", "lags=1,3", "mode=cues", "filter=none", "seed=7"};
    void *st = create(good, 8, 0, 8, err);   /* rate unknown: sized on the first samples */
    cr_assert_not_null(st, "%s", err);
    spx_eegclass_ops.destroy(st);
    cr_assert_str_eq(spx_eegclass_ops.commands, "model,fit,load_model,reset");
}

Test(eegclass, calibrates_on_cues_then_predicts_every_window, .timeout = 120)
{
    harness h;
    harness_init(&h, base_params, N_BASE, 1);
    play(&h, 16, 16, LABELS_ON_CUE);   /* calibration: fits once both classes have 6 */
    msgpack_unpacked up = result_now(&h);
    char s[32];
    cr_assert_str_eq(str_of(&up.data, "state", s, sizeof s), "ready");
    cr_assert_eq(num(&up.data, "counters", "fits", NULL), 1);
    cr_assert_eq(num(&up.data, "model", "trained_on", NULL), 12, "fit at 6 + 6 trials");
    const msgpack_object *trials = spx_map_get(&up.data, "trials");
    cr_assert(trials && trials->type == MSGPACK_OBJECT_ARRAY && trials->via.array.size == 2);
    cr_assert_eq(trials->via.array.ptr[0].via.u64, 6);
    cr_assert_eq(trials->via.array.ptr[1].via.u64, 6);
    msgpack_unpacked_destroy(&up);
    size_t fit_rec = 0;
    while (fit_rec < h.n_recs && strcmp(h.recs[fit_rec].what, "fit") != 0)
        fit_rec++;
    cr_assert_lt(fit_rec, h.n_recs, "the fit published a body");

    size_t test_from = h.n_recs;
    size_t test_cue = h.n_cues;
    play(&h, 20, 16, LABELS_ON_CUE);   /* live */
    up = result_now(&h);
    double w_acc = num(&up.data, "accuracy", "windows", "value");
    double t_acc = num(&up.data, "accuracy", "trials", "value");
    double windows = num(&up.data, "counters", "windows", NULL);
    cr_assert_eq(num(&up.data, "counters", "windows_skipped", NULL), 0);
    cr_assert_eq(num(&up.data, "counters", "windows_failed", NULL), 0);
    cr_assert_eq(num(&up.data, "counters", "resets", NULL), 0);

    /* One body per window, in order, on the hop grid, each 1 s long. */
    size_t n_windows = 0, n_trials = 0;
    double prev_start = 0;
    for (size_t i = fit_rec; i < h.n_recs; i++) {
        const rec *r = &h.recs[i];
        if (strcmp(r->what, "trial") == 0) {
            n_trials++;
            cr_assert_float_eq(r->t_end - r->t_cue, 3.0, 1e-6);
            continue;
        }
        if (strcmp(r->what, "window") != 0)
            continue;
        cr_assert_float_eq(r->t_end - r->t_start, 1.0, 1e-6);
        if (n_windows)
            cr_assert_float_eq(r->t_start - prev_start, 0.25, 1e-6);
        cr_assert_float_eq(r->p_sum, 1.0, 1e-9);
        cr_assert_geq(r->latency_ms, r->compute_ms);
        prev_start = r->t_start;
        n_windows++;
    }
    cr_assert_eq((double)n_windows, windows, "every window was published");
    cr_assert_geq(n_trials, 20, "the test cues' trials (and any pending at the fit)");

    size_t scored;
    double sub = subscriber_window_accuracy(&h, test_from, &scored);
    cr_assert_gt(scored, 150);
    cr_log_info("synthetic: windows %.3f (adapter) %.3f (subscriber, %zu), trials %.3f", w_acc,
                sub, scored, t_acc);
    cr_assert_geq(sub, 0.9, "planted covariances: window accuracy %.3f", sub);
    cr_assert_geq(t_acc, 0.9, "trial accuracy %.3f", t_acc);
    /* The adapter's own running score counts the same windows (scored right when predicted). */
    cr_assert_geq(num(&up.data, "accuracy", "windows", "scored"), (double)scored);
    cr_assert_geq(w_acc, 0.9);
    (void)test_cue;
    msgpack_unpacked_destroy(&up);
    harness_free(&h);
}

Test(eegclass, chunk_sizes_and_f32_do_not_change_the_windows, .timeout = 120)
{
    /* The same signal in chunks of 1, 37 and 200 samples: same windows, same predictions. */
    size_t chunks[3] = {7, 37, 200};
    int labels[3][512];
    size_t counts[3];
    for (int v = 0; v < 3; v++) {
        harness h;
        harness_init(&h, base_params, N_BASE, 2);
        h.dtype = v == 2 ? SPX_DTYPE_F32 : SPX_DTYPE_F64;
        play(&h, 24, v == 2 ? 16 : chunks[v], LABELS_ON_CUE);
        counts[v] = 0;
        for (size_t i = 0; i < h.n_recs; i++)
            if (strcmp(h.recs[i].what, "window") == 0 && counts[v] < 512)
                labels[v][counts[v]++] = h.recs[i].cls;
        harness_free(&h);
    }
    cr_assert_gt(counts[0], 50);
    /* Chunk sizes only shift where a chunk ends, not the grid: the windows all exist. */
    size_t n = counts[0] < counts[1] ? counts[0] : counts[1];
    cr_assert_geq(n + 2, counts[0]);
    size_t same = 0;
    for (size_t i = 0; i < n; i++)
        same += labels[0][n - 1 - i + (counts[0] - n)] == labels[1][n - 1 - i + (counts[1] - n)];
    cr_assert_eq(same, n, "identical predictions whatever the chunking");
    size_t m = counts[2] < counts[0] ? counts[2] : counts[0], agree = 0;
    for (size_t i = 0; i < m; i++)
        agree += labels[2][counts[2] - 1 - i] == labels[0][counts[0] - 1 - i];
    cr_assert_geq((double)agree, 0.95 * (double)m, "f32 input: %zu of %zu agree", agree, m);
}

Test(eegclass, a_gap_resets_and_no_window_spans_it, .timeout = 120)
{
    harness h;
    harness_init(&h, base_params, N_BASE, 3);
    play(&h, 16, 16, LABELS_ON_CUE);
    double gap_from = h.t;
    h.t += 2.5;                         /* 2.5 s of samples never sent */
    double gap_to = h.t;
    size_t from = h.n_recs;
    play(&h, 4, 16, LABELS_ON_CUE);
    h.t -= 1.0;                         /* an overlap: the producer's clock went back 1 s */
    play(&h, 2, 16, LABELS_ON_CUE);
    msgpack_unpacked up = result_now(&h);
    cr_assert_eq(num(&up.data, "counters", "gaps", NULL), 1);
    cr_assert_eq(num(&up.data, "counters", "overlaps", NULL), 1);
    cr_assert_eq(num(&up.data, "counters", "resets", NULL), 2);
    double seg = num(&up.data, "segment_t0", NULL, NULL);
    msgpack_unpacked_destroy(&up);
    size_t after = 0;
    for (size_t i = from; i < h.n_recs; i++) {
        const rec *r = &h.recs[i];
        if (strcmp(r->what, "window") != 0)
            continue;
        cr_assert(r->t_end <= gap_from + 1e-9 || r->t_start >= gap_to + 0.5 - 1e-9,
                  "window [%.3f, %.3f] spans the gap [%.3f, %.3f] or its settling",
                  r->t_start - T_START, r->t_end - T_START, gap_from - T_START, gap_to - T_START);
        after++;
    }
    cr_assert_gt(after, 20);
    cr_assert_gt(seg, gap_to, "the last segment began at the overlap");
    harness_free(&h);
}

Test(eegclass, labels_arriving_late_or_by_feedback_are_scored, .timeout = 120)
{
    harness h;
    harness_init(&h, base_params, N_BASE, 4);
    play(&h, 16, 16, LABELS_ON_CUE);
    msgpack_unpacked up = result_now(&h);
    double w0 = num(&up.data, "accuracy", "windows", "scored");
    double t0 = num(&up.data, "accuracy", "trials", "scored");
    msgpack_unpacked_destroy(&up);

    /* Unlabelled cues, their class told by feedback at the end of each cue. */
    size_t from = h.n_recs;
    play(&h, 8, 16, LABELS_BY_FEEDBACK);
    up = result_now(&h);
    cr_assert_eq(num(&up.data, "counters", "feedback", NULL), 8);
    cr_assert_eq(num(&up.data, "counters", "feedback_unmatched", NULL), 0);
    double t1 = num(&up.data, "accuracy", "trials", "scored");
    double w1 = num(&up.data, "accuracy", "windows", "scored");
    msgpack_unpacked_destroy(&up);
    cr_assert_eq(t1 - t0, 8, "every unlabelled trial scored once its feedback came");
    size_t sub;
    subscriber_window_accuracy(&h, from, &sub);
    cr_assert_eq(w1 - w0, (double)sub, "windows inside those cues scored at the feedback");
    for (size_t i = from; i < h.n_recs; i++)
        if (strcmp(h.recs[i].what, "trial") == 0)
            cr_assert_eq(h.recs[i].truth, -1, "truth unknown when the trial was predicted");

    /* A late marker alone (no samples): its epoch is already in the ring, so the trial is
     * predicted and scored at once. */
    up = result_now(&h);
    double predicted = num(&up.data, "counters", "trials_predicted", NULL);
    double trials_scored = num(&up.data, "accuracy", "trials", "scored");
    msgpack_unpacked_destroy(&up);
    h.cue_t[h.n_cues] = h.t - 3.2;
    h.cue_cls[h.n_cues++] = 1;
    spx_event late = {.t = h.t - 3.2, .value = NAN, .duration = 3.0};
    snprintf(late.label, sizeof late.label, "B");
    char err[256];
    cr_assert_eq(push(&h, 0, &late, 1, err), 0, "%s", err);
    up = result_now(&h);
    cr_assert_eq(num(&up.data, "counters", "trials_predicted", NULL), predicted + 1);
    cr_assert_eq(num(&up.data, "accuracy", "trials", "scored"), trials_scored + 1);
    msgpack_unpacked_destroy(&up);

    /* Events at absurd times are dropped, not mapped to samples. */
    spx_event odd[2] = {{.t = 1e300, .value = NAN}, {.t = -1e300, .value = NAN}};
    snprintf(odd[0].label, sizeof odd[0].label, "A");
    snprintf(odd[1].label, sizeof odd[1].label, "cue");
    up = result_now(&h);
    double dropped = num(&up.data, "counters", "cues_dropped", NULL);
    msgpack_unpacked_destroy(&up);
    cr_assert_eq(push(&h, 16, odd, 2, err), 0, "%s", err);
    up = result_now(&h);
    cr_assert_eq(num(&up.data, "counters", "cues_dropped", NULL), dropped + 2);
    msgpack_unpacked_destroy(&up);

    /* Markers 2 s late: the windows predicted before the marker came are scored when it does. */
    from = h.n_recs;
    play(&h, 6, 16, LABELS_LATE);
    up = result_now(&h);
    double w2 = num(&up.data, "accuracy", "windows", "scored");
    msgpack_unpacked_destroy(&up);
    subscriber_window_accuracy(&h, from, &sub);
    cr_assert_eq(w2 - w1, (double)sub, "late markers score every window inside their cue");
    harness_free(&h);
}

Test(eegclass, model_round_trip_predicts_identically, .timeout = 120)
{
    harness a, b;
    harness_init(&a, base_params, N_BASE, 5);
    harness_init(&b, base_params, N_BASE, 5);
    play(&a, 16, 16, LABELS_ON_CUE);
    size_t len;
    unsigned char *bytes = model_bytes(&a, &len);
    char err[256];
    /* b has seen nothing at all: the model sets it up for the rate it records. */
    cr_assert_eq(load_model(&b, bytes, len, err), SPX_OK, "%s", err);
    size_t len2;
    unsigned char *again = model_bytes(&b, &len2);
    cr_assert_eq(len2, len);
    cr_assert_eq(memcmp(bytes, again, len), 0, "the loaded model encodes to the same bytes");
    /* Same samples into both: identical predictions. b's window grid starts at its first
     * sample (plus settling), so a is first brought to a multiple of the 32-sample hop. */
    if (a.sample % 32) {
        cr_assert_eq(push(&a, 32 - a.sample % 32, NULL, 0, err), 0, "%s", err);
    }
    size_t fa = a.n_recs;
    b.t = a.t;
    b.rng = a.rng;
    memcpy(b.cue_t, a.cue_t, sizeof a.cue_t);
    memcpy(b.cue_cls, a.cue_cls, sizeof a.cue_cls);
    b.n_cues = a.n_cues;
    play(&a, 5, 16, LABELS_ON_CUE);
    play(&b, 5, 16, LABELS_ON_CUE);
    size_t nb = 0;
    for (size_t i = 0; i < b.n_recs; i++)
        if (strcmp(b.recs[i].what, "window") == 0)
            nb++;
    size_t na = 0;
    for (size_t i = fa; i < a.n_recs; i++)
        if (strcmp(a.recs[i].what, "window") == 0)
            na++;
    cr_assert_gt(nb, 40);
    /* b's segment started later (its first samples), so it may lack windows of a's first
     * seconds; the windows both made match exactly. */
    size_t matched = 0;
    for (size_t i = fa; i < a.n_recs; i++)
        for (size_t j = 0; j < b.n_recs; j++)
            if (strcmp(a.recs[i].what, "window") == 0 && strcmp(b.recs[j].what, "window") == 0 &&
                fabs(a.recs[i].t_start - b.recs[j].t_start) < 1e-9) {
                /* b's filter started from zero at its first sample: compare once settled. */
                if (a.recs[i].t_start - b.recs[0].t_start > 2.0) {
                    cr_assert_eq(a.recs[i].cls, b.recs[j].cls);
                    matched++;
                }
            }
    cr_assert_gt(matched, 20);
    msgpack_unpacked up = result_now(&b);
    char s[32];
    cr_assert_str_eq(str_of(spx_map_get(&up.data, "model"), "source", s, sizeof s), "loaded");
    msgpack_unpacked_destroy(&up);
    free(bytes);
    free(again);
    harness_free(&a);
    harness_free(&b);
}

/* Re-signs bytes after an edit so that only the header/values checks can refuse them. */
static void resign(unsigned char *b, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < len - 8; i++) {
        h ^= b[i];
        h *= 0x100000001b3ull;
    }
    for (int i = 0; i < 8; i++)
        b[len - 8 + (size_t)i] = (unsigned char)(h >> (8 * i));
}

/* A copy of bytes whose header map is re-packed with one key replaced (value packed by fn). */
static unsigned char *edit_header(const unsigned char *b, size_t len, const char *key,
                                  void (*fn)(msgpack_packer *), size_t *out_len)
{
    uint32_t hlen = (uint32_t)b[12] | (uint32_t)b[13] << 8 | (uint32_t)b[14] << 16 |
                    (uint32_t)b[15] << 24;
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    cr_assert_eq(msgpack_unpack_next(&up, (const char *)b + 16, hlen, NULL),
                 MSGPACK_UNPACK_SUCCESS);
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    const msgpack_object_map *m = &up.data.via.map;
    msgpack_pack_map(&pk, m->size);
    for (uint32_t i = 0; i < m->size; i++) {
        msgpack_pack_object(&pk, m->ptr[i].key);
        if (m->ptr[i].key.via.str.size == strlen(key) &&
            memcmp(m->ptr[i].key.via.str.ptr, key, strlen(key)) == 0)
            fn(&pk);
        else
            msgpack_pack_object(&pk, m->ptr[i].val);
    }
    size_t rest = len - 16 - hlen;
    *out_len = 16 + sb.size + rest;
    unsigned char *o = malloc(*out_len);
    memcpy(o, b, 12);
    o[12] = (unsigned char)sb.size;
    o[13] = (unsigned char)(sb.size >> 8);
    o[14] = (unsigned char)(sb.size >> 16);
    o[15] = (unsigned char)(sb.size >> 24);
    memcpy(o + 16, sb.data, sb.size);
    memcpy(o + 16 + sb.size, b + 16 + hlen, rest);
    resign(o, *out_len);
    msgpack_sbuffer_destroy(&sb);
    msgpack_unpacked_destroy(&up);
    return o;
}

static void pack_7(msgpack_packer *pk) { msgpack_pack_uint64(pk, 7); }
static void pack_2(msgpack_packer *pk) { msgpack_pack_uint64(pk, 2); }
static void pack_big(msgpack_packer *pk) { msgpack_pack_uint64(pk, UINT64_MAX / 4); }
static void pack_str(msgpack_packer *pk) { spx_pack_cstr(pk, "svm"); }
static void pack_rate(msgpack_packer *pk) { msgpack_pack_double(pk, 250.0); }
static void pack_band(msgpack_packer *pk) { msgpack_pack_double(pk, 30.0); }
static void pack_nan(msgpack_packer *pk) { msgpack_pack_double(pk, NAN); }
static void pack_huge(msgpack_packer *pk) { msgpack_pack_double(pk, 1e300); }
static void pack_swapped(msgpack_packer *pk)
{
    msgpack_pack_array(pk, 2);
    spx_pack_cstr(pk, "B");
    spx_pack_cstr(pk, "A");
}

Test(eegclass, hostile_model_bytes_are_refused_and_change_nothing, .timeout = 180)
{
    harness a, b;
    harness_init(&a, base_params, N_BASE, 6);
    harness_init(&b, base_params, N_BASE, 7);
    play(&a, 16, 16, LABELS_ON_CUE);
    play(&b, 16, 16, LABELS_ON_CUE);
    size_t len, blen;
    unsigned char *good = model_bytes(&a, &len);
    unsigned char *before = model_bytes(&b, &blen);
    char err[256];

    typedef struct bad_case { unsigned char *bytes; size_t len; const char *says; } bad_case;
    bad_case cases[32];
    size_t n = 0;
#define ADD(ptr, l, s) (cases[n++] = (bad_case){(ptr), (l), (s)})
    ADD(memcpy(malloc(len), good, len), 10, "too short");
    ADD(memcpy(malloc(len), good, len), len - 1, "checksum");
    unsigned char *m = memcpy(malloc(len), good, len);
    m[0] = 'X';
    ADD(m, len, "magic");
    m = memcpy(malloc(len), good, len);
    m[8] = 2;
    resign(m, len);
    ADD(m, len, "version 2");
    m = memcpy(malloc(len), good, len);
    m[len / 2] ^= 0x40;
    ADD(m, len, "checksum");
    m = memcpy(malloc(len), good, len);
    m[12] = 0xff;
    m[13] = 0xff;
    m[14] = 0xff;
    resign(m, len);
    ADD(m, len, "header length");
    size_t el;
    m = edit_header(good, len, "channels", pack_7, &el);
    ADD(m, el, "7 channels");
    m = edit_header(good, len, "classes", pack_swapped, &el);
    ADD(m, el, "classes");
    m = edit_header(good, len, "rate", pack_rate, &el);
    ADD(m, el, "250 Hz");
    m = edit_header(good, len, "fmax", pack_band, &el);
    ADD(m, el, "band-pass");
    m = edit_header(good, len, "order", pack_2, &el);
    ADD(m, el, "order");
    m = edit_header(good, len, "values", pack_big, &el);
    ADD(m, el, "values");
    m = edit_header(good, len, "classifier", pack_str, &el);
    ADD(m, el, "classifier");
    m = edit_header(good, len, "fmin", pack_nan, &el);
    ADD(m, el, "fmin");
    /* values that are not a model: the first class mean negated (not positive definite) */
    m = memcpy(malloc(len), good, len);
    {
        uint32_t hlen = (uint32_t)m[12] | (uint32_t)m[13] << 8;
        for (size_t i = 0; i < C * (C + 1) / 2; i++)
            m[16 + hlen + 8 * i + 7] ^= 0x80;
        resign(m, len);
    }
    ADD(m, len, "positive definite");
    m = memcpy(malloc(len), good, len);
    {
        uint32_t hlen = (uint32_t)m[12] | (uint32_t)m[13] << 8;
        memset(m + 16 + hlen + 8, 0xff, 8);   /* a NaN value */
        resign(m, len);
    }
    ADD(m, len, "not finite");
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(load_model(&b, cases[i].bytes, cases[i].len, err), SPX_E_BAD_PARAM,
                     "case %zu accepted", i);
        cr_assert(strstr(err, cases[i].says), "case %zu: '%s' lacks '%s'", i, err,
                  cases[i].says);
        free(cases[i].bytes);
    }
    /* Random corruption: never accepted, never a crash. */
    spx_rng r;
    spx_rng_seed(&r, 11);
    unsigned char *f = malloc(len);
    for (int i = 0; i < 300; i++) {
        memcpy(f, good, len);
        size_t flips = 1 + spx_rng_below(&r, 4);
        for (size_t k = 0; k < flips; k++)
            f[spx_rng_below(&r, len)] ^= (unsigned char)(1 + spx_rng_below(&r, 255));
        size_t cut = spx_rng_below(&r, 8) == 0 ? spx_rng_below(&r, len) : len;
        cr_assert_eq(load_model(&b, f, cut, err), SPX_E_BAD_PARAM);
    }
    free(f);
    /* Argument shapes. */
    cr_assert_eq(command(&b, "load_model", NULL, NULL, NULL, err), SPX_E_BAD_PARAM);
    cr_assert_eq(command(&b, "frobnicate", NULL, NULL, NULL, err), SPX_E_UNKNOWN_OP);
    /* A pipeline that has seen no samples takes its rate from a model, within reason. */
    harness fresh;
    harness_init(&fresh, base_params, N_BASE, 12);
    unsigned char *huge = edit_header(good, len, "rate", pack_huge, &el);
    cr_assert_eq(load_model(&fresh, huge, el, err), SPX_E_BAD_PARAM);
    cr_assert(strstr(err, "Hz"), "%s", err);
    free(huge);
    cr_assert_eq(command(&fresh, "model", NULL, NULL, NULL, err), SPX_E_BAD_PARAM, "no model");
    harness_free(&fresh);
    /* b's own model is untouched by all of it. */
    size_t alen;
    unsigned char *after = model_bytes(&b, &alen);
    cr_assert_eq(alen, blen);
    cr_assert_eq(memcmp(before, after, blen), 0, "state unchanged");
    /* And a model for another channel count, made by a real pipeline, is refused too. */
    const char *kv[] = {"classes=A,B"};
    void *other = create(kv, 1, RATE, C + 2, err);
    cr_assert_not_null(other, "%s", err);
    void *keep = b.st;
    b.st = other;
    cr_assert_eq(load_model(&b, good, len, err), SPX_E_BAD_PARAM);
    cr_assert(strstr(err, "channels"), "%s", err);
    b.st = keep;
    spx_eegclass_ops.destroy(other);
    free(good);
    free(before);
    free(after);
    harness_free(&a);
    harness_free(&b);
}

Test(eegclass, operations_fit_reset_and_their_errors, .timeout = 120)
{
    const char *kv[] = {"classes=A,B", "window=1", "hop=0.25", "tmin=0.5", "tmax=3",
                        "min_trials=0", "classifier=ts", "order=auto", "orders=1,2",
                        "lags=1,2", "folds=3"};
    harness h;
    harness_init(&h, kv, sizeof kv / sizeof kv[0], 8);
    char err[256];
    cr_assert_eq(command(&h, "model", NULL, NULL, NULL, err), SPX_E_BAD_PARAM);
    cr_assert(strstr(err, "no model"), "%s", err);
    cr_assert_eq(command(&h, "fit", NULL, NULL, NULL, err), SPX_E_BAD_PARAM);
    play(&h, 4, 16, LABELS_ON_CUE);
    cr_assert_eq(command(&h, "fit", NULL, NULL, NULL, err), SPX_E_BAD_PARAM);
    cr_assert(strstr(err, "at least 3"), "%s", err);
    play(&h, 14, 16, LABELS_ON_CUE);
    msgpack_unpacked up = result_now(&h);
    char s[32];
    cr_assert_str_eq(str_of(&up.data, "state", s, sizeof s), "calibrating",
                     "min_trials=0: no fit until asked");
    msgpack_unpacked_destroy(&up);
    unsigned char *v;
    size_t vlen;
    cr_assert_eq(command(&h, "fit", NULL, &v, &vlen, err), SPX_OK, "%s", err);
    msgpack_unpacked_init(&up);
    cr_assert_eq(msgpack_unpack_next(&up, (const char *)v, vlen, NULL), MSGPACK_UNPACK_SUCCESS);
    double order = num(&up.data, "order", NULL, NULL), cv = num(&up.data, "cv_accuracy", NULL, NULL);
    cr_assert(order == 1 || order == 2);
    cr_assert_geq(cv, 0.8, "cross-validated accuracy of the chosen order %.3f", cv);
    cr_assert_eq(num(&up.data, "trained_on", NULL, NULL), 18);
    msgpack_unpacked_destroy(&up);
    free(v);
    /* The tangent-space model (reference, weights, intercept) round trips through its bytes. */
    size_t blen, blen2;
    unsigned char *bytes = model_bytes(&h, &blen);
    harness h2;
    harness_init(&h2, kv, sizeof kv / sizeof kv[0], 8);
    cr_assert_eq(load_model(&h2, bytes, blen, err), SPX_OK, "%s", err);
    unsigned char *again = model_bytes(&h2, &blen2);
    cr_assert_eq(blen2, blen);
    cr_assert_eq(memcmp(bytes, again, blen), 0);
    free(bytes);
    free(again);
    harness_free(&h2);
    size_t from = h.n_recs;
    play(&h, 6, 16, LABELS_ON_CUE);
    size_t scored;
    double acc = subscriber_window_accuracy(&h, from, &scored);
    cr_assert_geq(acc, 0.9, "tangent space + LR windows %.3f", acc);
    cr_assert_eq(command(&h, "reset", NULL, &v, &vlen, err), SPX_OK);
    free(v);
    up = result_now(&h);
    cr_assert_str_eq(str_of(&up.data, "state", s, sizeof s), "calibrating");
    msgpack_unpacked_destroy(&up);
    harness_free(&h);
}

Test(eegclass, through_a_pipeline_one_body_per_window_with_its_count, .timeout = 120)
{
    spx_registry *r = spx_registry_new();
    spx_stream *s;
    char err[256];
    cr_assert_eq(spx_registry_create(r, "eeg", SPX_KIND_SERIES, C, RATE, NULL, 0, &s, err,
                                     sizeof err), SPX_OK);
    spx_stream_info info;
    spx_stream_get_info(s, &info);
    spx_param params[N_BASE];
    char keys[N_BASE][32];
    for (size_t i = 0; i < N_BASE; i++) {
        const char *eq = strchr(base_params[i], '=');
        snprintf(keys[i], sizeof keys[i], "%.*s", (int)(eq - base_params[i]), base_params[i]);
        params[i] = (spx_param){keys[i], eq + 1};
    }
    spx_pipeline *p;
    cr_assert_eq(spx_pipeline_create(&p, "eeg", &info, "clf", &spx_eegclass_ops, params, N_BASE,
                                     (spx_publish_policy){0, 0}, err, sizeof err), SPX_OK, "%s",
                 err);
    cr_assert_eq(spx_stream_attach(s, p, err, sizeof err), SPX_OK);
    /* Drive the adapter's state directly for calibration (harness), then swap it in. */
    harness h;
    harness_init(&h, base_params, N_BASE, 9);
    play(&h, 16, 16, LABELS_ON_CUE);
    spx_eegclass_ops.destroy(p->state);
    p->state = h.st;
    /* 2 s of samples in chunks of 50 (not a multiple of the 32-sample hop) through the pipeline. */
    uint64_t total = 0;
    size_t bodies = 0;
    for (int k = 0; k < 6; k++) {
        size_t n = 50;
        double *x = malloc(n * C * sizeof *x);
        spx_rng_normal_fill(&h.rng, x, n * C);
        spx_ingest_header hd;
        memset(&hd, 0, sizeof hd);
        hd.version = 1;
        snprintf(hd.stream, sizeof hd.stream, "eeg");
        hd.kind = SPX_KIND_SERIES;
        hd.dtype = SPX_DTYPE_F64;
        hd.shape[0] = n;
        hd.shape[1] = C;
        hd.has_t0 = true;
        hd.t0 = h.t;
        hd.rate = RATE;
        hd.scale = 1;
        spx_batch *b = spx_batch_new(&hd, x, n * C * sizeof *x, spx_now(), x, free,
                                     spx_registry_bytes_held(r));
        cr_assert_eq(spx_stream_accept(s, &hd, b), 0);
        h.t += (double)n / RATE;
        spx_job *job = spx_pipeline_take_job(p, 8, spx_now());
        cr_assert_not_null(job);
        spx_job_run(job);
        for (size_t i = 0; i < job->n_bodies; i++) {
            msgpack_unpacked up;
            msgpack_unpacked_init(&up);
            cr_assert_eq(msgpack_unpack_next(&up, (const char *)job->bodies[i],
                                             job->body_lens[i], NULL), MSGPACK_UNPACK_SUCCESS);
            const msgpack_object *res = spx_map_get(&up.data, "result");
            char what[16];
            cr_assert_eq(spx_obj_str(spx_map_get(res, "what"), what, sizeof what), 0);
            cr_assert_str_eq(what, "window");
            double count = num(&up.data, "count", NULL, NULL);
            double t_in = num(&up.data, "t_in", NULL, NULL);
            double t_end = num(res, "window", "t_end", NULL);
            cr_assert_float_eq(t_in, t_end, 1e-9);
            /* count = samples applied up to the window's end, in this pipeline's own count */
            double expect = (double)total + (t_end - hd.t0) * RATE;
            cr_assert_float_eq(count, expect, 1e-6, "count %.0f vs %.0f", count, expect);
            msgpack_unpacked_destroy(&up);
            bodies++;
        }
        spx_job_finish(job);
        spx_job_free(job);
        total += n;
    }
    cr_assert_geq(bodies, 8, "300 samples at a 32-sample hop: 9 windows (%zu)", bodies);
    cr_assert_leq(bodies, 10);
    p->state = NULL;           /* the harness frees it */
    harness_free(&h);
    spx_registry_free(r);
}
