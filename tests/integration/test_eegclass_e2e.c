/* End to end: spectrad on free ports, an `eegclass` pipeline on a 64-channel series stream, and
 * PhysioNet EEGMMIDB S001 replayed through libspectra as fast as the daemon takes it: runs 6 and
 * 10 (imagined both fists T1 / both feet T2) for calibration, then run 14 live. Each run is pushed
 * in 0.125 s chunks (20 samples at 160 Hz) with its annotations as events, runs separated by 10 s
 * of stream time (a gap: the pipeline resets its filter, as the reference filters each run from
 * zero). The model is fitted by `call fit` after the calibration runs.
 *
 * Checked from the SUBSCRIBER's side: one result body per 1-s window every 125 ms over run 14, no
 * body lost, and the accuracy of the windows lying inside a T1/T2 cue >= 0.80 (the in-process
 * reference, tests/unit/algorithms/test_eeg_accuracy.c pseudo_online_windows: 0.808 over 375
 * windows; notes: 0.82). The trial accuracy on run 14's cues is reported. The model is then moved
 * with get detail "model" / call "load_model" into a second pipeline, which must predict exactly
 * the same labels on run 14. A third pipeline runs tangent space + logistic regression on the same
 * stream (reported; asserted only well above chance, there is no reference figure for it). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <msgpack.h>

#include "daemon_harness.h"
#include "spectra.h"
#include "testdata.h"

#ifndef SPX_HAVE_BIOSIG
Test(eegclass_e2e, needs_biosig)
{
    cr_skip_test("skipped: integration tests built without libbiosig (SPX_HAVE_BIOSIG)");
}
#else
#define SPX_EEG_EDF_NO_FILTER
#include "../bench/eeg_edf.h"

#define RATE 160.0
#define CHUNK 20
#define T_BASE 1700000000.0
#define MAX_WINDOWS 4096

static double wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct window_seen {
    double t_start, t_end, latency_ms, compute_ms, e2e_ms;
    int label;           /* 0 = T1, 1 = T2 */
} window_seen;

typedef struct subscriber {
    window_seen clf[MAX_WINDOWS], copy[MAX_WINDOWS], ts[MAX_WINDOWS];
    size_t n_clf, n_copy, n_ts;
    uint64_t last_seq[3], lost;
    size_t trials, trials_correct, ts_trials, ts_trials_correct;
} subscriber;

static int label_index(const char *s) { return strcmp(s, "T1") == 0 ? 0 : strcmp(s, "T2") == 0 ? 1 : -1; }

/* Reads every result waiting (timeout_ms for the first one). */
static void drain(spectra_client *c, subscriber *sub, int timeout_ms)
{
    for (;;) {
        char topic[SPECTRA_TOPIC_MAX + 1];
        spectra_msg *body;
        int rc = spectra_recv_result(c, timeout_ms, topic, sizeof topic, &body);
        if (rc == SPECTRA_ETIMEDOUT)
            return;
        cr_assert_eq(rc, 0, "recv: %s", spectra_strerror(rc));
        double now = wall();
        timeout_ms = 0;
        int which = strcmp(topic, "eeg.clf") == 0 ? 0 : strcmp(topic, "eeg.copy") == 0 ? 1
                    : strcmp(topic, "eeg.ts") == 0 ? 2 : -1;
        cr_assert_geq(which, 0, "topic %s", topic);
        uint64_t seq;
        cr_assert_eq(spectra_msg_uint(body, "seq", &seq), 0);
        uint64_t *last = &sub->last_seq[which];
        sub->lost += seq - *last - 1;
        *last = seq;
        char what[16], label[16], truth[16];
        cr_assert_eq(spectra_msg_str(body, "result.what", what, sizeof what), 0);
        if (strcmp(what, "window") == 0) {
            window_seen w;
            double arrival;
            cr_assert_eq(spectra_msg_double(body, "result.window.t_start", &w.t_start), 0);
            cr_assert_eq(spectra_msg_double(body, "result.window.t_end", &w.t_end), 0);
            cr_assert_eq(spectra_msg_double(body, "result.window.latency_ms", &w.latency_ms), 0);
            cr_assert_eq(spectra_msg_double(body, "result.window.compute_ms", &w.compute_ms), 0);
            cr_assert_eq(spectra_msg_double(body, "result.window.arrival", &arrival), 0);
            cr_assert_eq(spectra_msg_str(body, "result.window.label", label, sizeof label), 0);
            w.e2e_ms = (now - arrival) * 1e3;
            w.label = label_index(label);
            cr_assert_geq(w.label, 0);
            size_t *n = which == 0 ? &sub->n_clf : which == 1 ? &sub->n_copy : &sub->n_ts;
            cr_assert_lt(*n, MAX_WINDOWS);
            (which == 0 ? sub->clf : which == 1 ? sub->copy : sub->ts)[(*n)++] = w;
        } else if (strcmp(what, "trial") == 0 && which != 1) {
            cr_assert_eq(spectra_msg_str(body, "result.trial.label", label, sizeof label), 0);
            cr_assert_eq(spectra_msg_str(body, "result.trial.truth", truth, sizeof truth), 0,
                         "run 14's cues carry their class");
            if (which == 0) {
                sub->trials++;
                sub->trials_correct += strcmp(label, truth) == 0;
            } else {
                sub->ts_trials++;
                sub->ts_trials_correct += strcmp(label, truth) == 0;
            }
        }
        spectra_msg_free(body);
    }
}

/* Under valgrind (tests/run-all.sh sets SPX_VALGRIND) the daemon runs ~50x slower: the tests then
 * check memory and plumbing on less data (one calibration run, the first 25 s of run 14) and
 * leave the accuracy figures to the normal runs. */
static bool memcheck(void)
{
    const char *v = getenv("SPX_VALGRIND");
    return v && *v && strcmp(v, "0") != 0;
}

/* Pushes the first `limit` samples of a run (all when larger) starting at stream time t0. */
static void push_run(spectra_client *c, const eeg_run *run, double t0, size_t limit,
                     subscriber *sub)
{
    static const char *const names[3] = {"T0", "T1", "T2"};
    double chunk[CHUNK * 64];
    size_t C = run->channels, N = run->samples < limit ? run->samples : limit;
    for (size_t s0 = 0; s0 < N; s0 += CHUNK) {
        size_t m = N - s0 < CHUNK ? N - s0 : CHUNK;
        for (size_t t = 0; t < m; t++)
            for (size_t ch = 0; ch < C; ch++)
                chunk[t * C + ch] = run->data[ch * N + s0 + t];
        spectra_event ev[4];
        size_t n_ev = 0;
        for (size_t e = 0; e < run->n_events && n_ev < 4; e++)
            if (run->onset[e] >= s0 && run->onset[e] < s0 + m)
                ev[n_ev++] = (spectra_event){.t = t0 + (double)run->onset[e] / RATE,
                                             .label = names[run->code[e]], .value = NAN,
                                             .duration = (double)run->duration[e] / RATE};
        int rc = spectra_push_series(c, "eeg", SPECTRA_F64, chunk, m, C,
                                     t0 + (double)s0 / RATE, RATE, ev, n_ev);
        cr_assert_eq(rc, 0, "push: %s", spectra_last_error(c));
        if (sub && s0 % (CHUNK * 16) == 0)
            drain(c, sub, 0);
    }
}

static void wait_accepted(spectra_client *c, uint64_t messages)
{
    uint64_t got = 0;
    for (int i = 0; i < 6000 && got < messages; i++) {
        spectra_msg *st;
        cr_assert_eq(spectra_stats(c, &st), 0, "%s", spectra_last_error(c));
        cr_assert_eq(spectra_msg_uint(st, "streams.eeg.messages", &got), 0);
        spectra_msg_free(st);
        if (got < messages)
            usleep(10000);
    }
    cr_assert_eq(got, messages, "messages accepted");
}

/* {"op": op, "stream": "eeg", "pipeline": p, key: name[, "args": {"model": bin}]} */
static int request(spectra_client *c, const char *op, const char *p, const char *key,
                   const char *name, const void *bin, size_t bin_len, spectra_msg **reply)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, bin ? 5 : 4);
    const char *kv[8] = {"op", op, "stream", "eeg", "pipeline", p, key, name};
    for (int i = 0; i < 8; i++)
        msgpack_pack_str_with_body(&pk, kv[i], strlen(kv[i]));
    if (bin) {
        msgpack_pack_str_with_body(&pk, "args", 4);
        msgpack_pack_map(&pk, 1);
        msgpack_pack_str_with_body(&pk, "model", 5);
        msgpack_pack_bin_with_body(&pk, bin, bin_len);
    }
    int rc = spectra_request(c, sb.data, sb.size, reply);
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double percentile(double *v, size_t n, double q)
{
    qsort(v, n, sizeof *v, cmp_double);
    size_t i = (size_t)ceil(q * (double)n);
    return v[i ? i - 1 : 0];
}

Test(eegclass_e2e, eegmmidb_s001_calibrate_on_runs_6_10_live_on_14, .timeout = 600)
{
    static const int runs[3] = {6, 10, 14};
    eeg_run run[3];
    for (int i = 0; i < 3; i++) {
        char rel[128], path[4096];
        snprintf(rel, sizeof rel, "eeg/eegmmidb/S001/S001R%02d.edf", runs[i]);
        SPX_REQUIRE_DATA(path, rel);
        cr_assert_eq(eeg_run_load(path, &run[i]), 0, "cannot read %s", path);
        cr_assert_eq(run[i].channels, 64);
        cr_assert_eq(run[i].fs, RATE);
    }
    /* 10 s of stream time between runs: a gap. */
    double t_run[3];
    for (int i = 0; i < 3; i++)
        t_run[i] = T_BASE + (double)i * ((double)run[0].samples / RATE + 10.0);

    spx_daemon_proc d;
    spx_daemon_start(&d, NULL);
    spectra_options o;
    spectra_options_init(&o);
    o.control = d.control;
    o.ingest = d.ingest;
    o.publish = d.publish;
    o.timeout_ms = 120000;    /* fit and load run on the worker; ASan builds are slow */
    spectra_client *c = spectra_connect(&o);
    cr_assert_not_null(c);
    cr_assert_eq(spectra_create(c, "eeg", SPECTRA_SERIES, 64, RATE, NULL, 0), 0, "%s",
                 spectra_last_error(c));
    const char *params[] = {"classes=T1,T2", "min_trials=0", "window=1", "hop=0.125"};
    /* Only the pipeline's own per-window / per-trial bodies: no policy publishing. */
    cr_assert_eq(spectra_attach(c, "eeg", "clf", "eegclass", params, 4, 0, 0), 0, "%s",
                 spectra_last_error(c));
    const char *ts_params[] = {"classes=T1,T2", "min_trials=0", "classifier=ts"};
    cr_assert_eq(spectra_attach(c, "eeg", "ts", "eegclass", ts_params, 3, 0, 0), 0, "%s",
                 spectra_last_error(c));
    cr_assert_eq(spectra_subscribe(c, "eeg."), 0);

    static subscriber sub;
    memset(&sub, 0, sizeof sub);
    double t_start = wall();
    bool quick = memcheck();
    size_t n_calib = quick ? 1 : 2, live_n = quick ? (size_t)(25 * RATE) : run[2].samples;
    for (size_t i = 0; i < n_calib; i++)
        push_run(c, &run[i], t_run[i], SIZE_MAX, &sub);
    size_t per_run = (run[0].samples + CHUNK - 1) / CHUNK;
    wait_accepted(c, n_calib * per_run);
    double t_pushed = wall();

    spectra_msg *reply;
    int rc = request(c, "call", "clf", "method", "fit", NULL, 0, &reply);
    cr_assert_eq(rc, 0, "fit: %s", spectra_last_error(c));
    uint64_t trained;
    double fit_s;
    cr_assert_eq(spectra_msg_uint(reply, "value.trained_on", &trained), 0);
    cr_assert_eq(spectra_msg_double(reply, "value.seconds", &fit_s), 0);
    cr_assert_eq(trained, 15 * n_calib, "15 T1/T2 cues per calibration run");
    spectra_msg_free(reply);
    cr_assert_eq(request(c, "call", "ts", "method", "fit", NULL, 0, &reply), 0, "fit ts: %s",
                 spectra_last_error(c));
    spectra_msg_free(reply);
    cr_assert_eq(sub.n_clf, 0, "nothing predicted during calibration");

    /* The model, moved into a second pipeline through its bytes. */
    rc = request(c, "get", "clf", "detail", "model", NULL, 0, &reply);
    cr_assert_eq(rc, 0, "model: %s", spectra_last_error(c));
    const msgpack_object *model;
    cr_assert_eq(spectra_msg_find(reply, "value", &model), 0);
    cr_assert_eq(model->type, MSGPACK_OBJECT_BIN);
    cr_assert_eq(spectra_attach(c, "eeg", "copy", "eegclass", params, 4, 0, 0), 0, "%s",
                 spectra_last_error(c));
    spectra_msg *loaded;
    rc = request(c, "call", "copy", "method", "load_model", model->via.bin.ptr,
                 model->via.bin.size, &loaded);
    cr_assert_eq(rc, 0, "load_model: %s", spectra_last_error(c));
    spectra_msg_free(loaded);
    /* Hostile bytes are refused with bad_param and leave the copy as it was. */
    unsigned char junk[64];
    memcpy(junk, model->via.bin.ptr, sizeof junk);
    rc = request(c, "call", "copy", "method", "load_model", junk, sizeof junk, &loaded);
    cr_assert_eq(rc, SPECTRA_EDAEMON);
    cr_assert_str_eq(spectra_last_error_code(c), "bad_param");
    spectra_msg_free(loaded);
    spectra_msg_free(reply);

    double t_live = wall();
    push_run(c, &run[2], t_run[2], live_n, &sub);
    wait_accepted(c, n_calib * per_run + (live_n + CHUNK - 1) / CHUNK);
    /* get applies everything accepted; its reply carries the adapter's counters. */
    spectra_msg *g;
    cr_assert_eq(spectra_get(c, "eeg", "clf", &g), 0);
    uint64_t windows, adapter_scored, adapter_correct, resets;
    cr_assert_eq(spectra_msg_uint(g, "result.result.counters.windows", &windows), 0);
    cr_assert_eq(spectra_msg_uint(g, "result.result.counters.resets", &resets), 0);
    cr_assert_eq(spectra_msg_uint(g, "result.result.accuracy.windows.scored", &adapter_scored),
                 0);
    cr_assert_eq(spectra_msg_uint(g, "result.result.accuracy.windows.correct", &adapter_correct),
                 0);
    spectra_msg_free(g);
    double t_done = wall();
    for (int i = 0; i < 3000 && (sub.n_clf < windows || sub.n_copy < windows ||
                                 sub.n_ts < windows); i++)
        drain(c, &sub, 10);
    cr_assert_eq(sub.lost, 0, "no result body lost");
    cr_assert_eq(sub.n_clf, windows, "one body per window (%zu of %llu)", sub.n_clf,
                 (unsigned long long)windows);
    cr_assert_eq(sub.n_copy, windows);
    cr_assert_eq(resets, n_calib, "the gaps between runs");

    /* The subscriber's own accounting: windows lying inside a T1/T2 cue of run 14. */
    const eeg_run *r = &run[2];
    size_t scored = 0, correct = 0, same = 0;
    double *lat = malloc(sub.n_clf * sizeof *lat), *cmp = malloc(sub.n_clf * sizeof *cmp),
           *e2e = malloc(sub.n_clf * sizeof *e2e);
    for (size_t i = 0; i < sub.n_clf; i++) {
        const window_seen *w = &sub.clf[i];
        cr_assert_geq(w->t_start, t_run[2], "windows of run 14 only");
        cr_assert_float_eq(w->t_end - w->t_start, 1.0, 1e-6);
        if (i)
            cr_assert_float_eq(w->t_start - sub.clf[i - 1].t_start, 0.125, 1e-6);
        same += w->label == sub.copy[i].label && w->t_start == sub.copy[i].t_start;
        lat[i] = w->latency_ms;
        cmp[i] = w->compute_ms;
        e2e[i] = w->e2e_ms;
        for (size_t e = 0; e < r->n_events; e++) {
            if (r->code[e] == 0)
                continue;
            double on = t_run[2] + (double)r->onset[e] / RATE;
            double off = on + (double)r->duration[e] / RATE;
            if (w->t_start >= on - 1e-6 && w->t_end <= off + 1e-6) {
                scored++;
                correct += w->label == r->code[e] - 1;
                break;
            }
        }
    }
    size_t ts_scored = 0, ts_correct = 0;
    for (size_t i = 0; i < sub.n_ts; i++)
        for (size_t e = 0; e < r->n_events; e++) {
            double on = t_run[2] + (double)r->onset[e] / RATE;
            double off = on + (double)r->duration[e] / RATE;
            if (r->code[e] != 0 && sub.ts[i].t_start >= on - 1e-6 &&
                sub.ts[i].t_end <= off + 1e-6) {
                ts_scored++;
                ts_correct += sub.ts[i].label == r->code[e] - 1;
                break;
            }
        }
    double acc = scored ? (double)correct / (double)scored : 0;
    double ts_acc = ts_scored ? (double)ts_correct / (double)ts_scored : 0;
    cr_log_info("classifier=ts: window accuracy %.3f over %zu windows, trial accuracy %zu/%zu",
                ts_acc, ts_scored, sub.ts_trials_correct, sub.ts_trials);
    double trial_acc = sub.trials ? (double)sub.trials_correct / (double)sub.trials : 0;
    cr_log_info("S001 run 14 through spectrad: window accuracy %.3f over %zu windows inside "
                "cues (subscriber), adapter %llu/%llu; trial accuracy %.3f over %zu cues; "
                "%zu windows", acc, scored, (unsigned long long)adapter_correct,
                (unsigned long long)adapter_scored, trial_acc, sub.trials, sub.n_clf);
    cr_log_info("times: calibration push %.2f s, fit %.2f s (worker), live push+predict %.2f s, "
                "total %.2f s", t_pushed - t_start, fit_s, t_done - t_live, wall() - t_start);
    double l50 = percentile(lat, sub.n_clf, 0.5), l99 = percentile(lat, sub.n_clf, 0.99);
    double c50 = percentile(cmp, sub.n_clf, 0.5), c99 = percentile(cmp, sub.n_clf, 0.99);
    double e50 = percentile(e2e, sub.n_clf, 0.5), e99 = percentile(e2e, sub.n_clf, 0.99);
    cr_log_info("per window (pushed as fast as possible, so queueing included): compute p50 "
                "%.2f p99 %.2f ms; in-daemon latency p50 %.1f p99 %.1f ms; to subscriber p50 "
                "%.1f p99 %.1f ms", c50, c99, l50, l99, e50, e99);
    free(lat);
    free(cmp);
    free(e2e);
    cr_assert_eq(adapter_scored, scored, "the adapter scores the same windows");
    cr_assert_eq(adapter_correct, correct);
    size_t cues = 0;
    for (size_t e = 0; e < r->n_events; e++)
        cues += r->code[e] != 0 && r->onset[e] + 3 * (size_t)RATE <= live_n;
    cr_assert_eq(sub.trials, cues, "run 14's T1/T2 cues whose epoch was pushed");
    cr_assert_eq(same, sub.n_clf, "the loaded model predicts exactly as the fitted one");
    if (quick) {
        cr_assert_gt(scored, 50);
        cr_assert_eq(ts_scored, scored);
    } else {
        cr_assert_eq(cues, 15);
        cr_assert_eq(scored, 375, "the reference's windows inside cues");
        cr_assert_geq(acc, 0.80, "window accuracy %.3f (reference 0.808 in process, 0.82 notes)",
                      acc);
        cr_assert_eq(ts_scored, 375);
        cr_assert_geq(ts_acc, 0.70, "tangent space + LR window accuracy %.3f", ts_acc);
    }


    spectra_close(c);
    for (int i = 0; i < 3; i++)
        eeg_run_free(&run[i]);
    cr_assert_eq(spx_daemon_stop(&d), 0);
}

/* Latency through the daemon, closed loop: after calibration on runs 6 and 10, run 14 is pushed
 * one 20-sample chunk at a time and the next chunk goes only once the window it completed has
 * reached the subscriber, so no queue builds up. Per window: compute (covariance + MDM, measured
 * in the adapter), in-daemon latency (receive of the chunk -> result made) and end to end (client
 * send -> subscriber receive). Reported, never asserted (timings depend on the machine). */
Test(eegclass_e2e, closed_loop_latency_per_window, .timeout = 600)
{
    static const int runs[3] = {6, 10, 14};
    eeg_run run[3];
    for (int i = 0; i < 3; i++) {
        char rel[128], path[4096];
        snprintf(rel, sizeof rel, "eeg/eegmmidb/S001/S001R%02d.edf", runs[i]);
        SPX_REQUIRE_DATA(path, rel);
        cr_assert_eq(eeg_run_load(path, &run[i]), 0, "cannot read %s", path);
    }
    double t_run[3];
    for (int i = 0; i < 3; i++)
        t_run[i] = T_BASE + (double)i * ((double)run[0].samples / RATE + 10.0);
    spx_daemon_proc d;
    spx_daemon_start(&d, NULL);
    spectra_options o;
    spectra_options_init(&o);
    o.control = d.control;
    o.ingest = d.ingest;
    o.publish = d.publish;
    o.timeout_ms = 120000;
    spectra_client *c = spectra_connect(&o);
    cr_assert_not_null(c);
    cr_assert_eq(spectra_create(c, "eeg", SPECTRA_SERIES, 64, RATE, NULL, 0), 0);
    const char *params[] = {"classes=T1,T2", "min_trials=0", "mode=windows"};
    cr_assert_eq(spectra_attach(c, "eeg", "clf", "eegclass", params, 3, 0, 0), 0, "%s",
                 spectra_last_error(c));
    cr_assert_eq(spectra_subscribe(c, "eeg.clf"), 0);
    bool quick = memcheck();
    size_t n_calib = quick ? 1 : 2;
    for (size_t i = 0; i < n_calib; i++)
        push_run(c, &run[i], t_run[i], SIZE_MAX, NULL);
    size_t per_run = (run[0].samples + CHUNK - 1) / CHUNK;
    wait_accepted(c, n_calib * per_run);
    spectra_msg *reply;
    cr_assert_eq(request(c, "call", "clf", "method", "fit", NULL, 0, &reply), 0, "%s",
                 spectra_last_error(c));
    spectra_msg_free(reply);

    const eeg_run *r = &run[2];
    size_t C = r->channels, N = quick ? 60 * CHUNK + 240 : r->samples, n = 0;
    double *cmp = malloc(N / CHUNK * sizeof *cmp), *lat = malloc(N / CHUNK * sizeof *lat),
           *e2e = malloc(N / CHUNK * sizeof *e2e);
    double chunk[CHUNK * 64];
    for (size_t s0 = 0; s0 + CHUNK <= N; s0 += CHUNK) {
        for (size_t t = 0; t < CHUNK; t++)
            for (size_t ch = 0; ch < C; ch++)
                chunk[t * C + ch] = r->data[ch * N + s0 + t];
        double sent = wall();
        cr_assert_eq(spectra_push_series(c, "eeg", SPECTRA_F64, chunk, CHUNK, C,
                                         t_run[2] + (double)s0 / RATE, RATE, NULL, 0), 0);
        /* windows end on the 20-sample grid once 0.5 s settling + 1 s are in */
        if (s0 + CHUNK < 240)
            continue;
        char topic[SPECTRA_TOPIC_MAX + 1];
        spectra_msg *body;
        int rc = spectra_recv_result(c, 10000, topic, sizeof topic, &body);
        double got = wall();
        cr_assert_eq(rc, 0, "window ending at sample %zu: %s", s0 + CHUNK, spectra_strerror(rc));
        double t_end;
        cr_assert_eq(spectra_msg_double(body, "result.window.t_end", &t_end), 0);
        cr_assert_float_eq(t_end, t_run[2] + (double)(s0 + CHUNK) / RATE, 1e-6);
        cr_assert_eq(spectra_msg_double(body, "result.window.compute_ms", &cmp[n]), 0);
        cr_assert_eq(spectra_msg_double(body, "result.window.latency_ms", &lat[n]), 0);
        e2e[n++] = (got - sent) * 1e3;
        spectra_msg_free(body);
    }
    cr_assert_gt(n, quick ? 50 : 900);
    cr_log_info("closed loop, 64 channels, 1-s windows, OAS + MDM, %zu windows: compute p50 %.3f "
                "p99 %.3f ms; in daemon (receive -> result) p50 %.3f p99 %.3f ms; end to end "
                "(client send -> subscriber receive) p50 %.3f p99 %.3f ms", n,
                percentile(cmp, n, 0.5), percentile(cmp, n, 0.99), percentile(lat, n, 0.5),
                percentile(lat, n, 0.99), percentile(e2e, n, 0.5), percentile(e2e, n, 0.99));
    free(cmp);
    free(lat);
    free(e2e);
    spectra_close(c);
    for (int i = 0; i < 3; i++)
        eeg_run_free(&run[i]);
    cr_assert_eq(spx_daemon_stop(&d), 0);
}
#endif
