/* Durable state of the `eegclass` pipeline (spx_pipeline_ops.save / .load).
 *
 * One flat map holding everything later inputs, results and operations depend on: the sample rate
 * the buffers were sized for, the band-pass delay lines, the samples in the ring, the window grid,
 * the cue epochs waiting for samples, the segment's time anchor, the calibration trials, the model
 * (covclf's full trained state, not the model bytes' halved matrices, so predictions continue bit
 * for bit), the scoring histories, the last predictions, the counters and the last error. Every
 * key is always present (zeros and empty arrays when unused), so a missing key always means a
 * damaged save. Derived sizes (W, H, E, the filter's sections) are recomputed from the rate by
 * spx_eeg_setup, never read. Small signed values (class indices, -1 for none) are bytes k + 1. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "eegclass_internal.h"
#include "state_codec.h"

#define EEG_STATE_KEYS 50
#define EEG_N_COUNTERS (sizeof(eeg_counters) / sizeof(uint64_t))
_Static_assert(sizeof(eeg_counters) == EEG_N_COUNTERS * sizeof(uint64_t),
               "eeg_counters holds only uint64_t counters");
/* The times of a prediction, then its probabilities. */
#define EEG_PRED_TIMES 6

static unsigned char class_byte(int k) { return (unsigned char)(k + 1); }

/* ---- saving -------------------------------------------------------------------------------- */

static void pack_prediction_state(msgpack_packer *pk, const char *values_key,
                                  const char *index_key, const char *classes_key,
                                  const eeg_prediction *pr, size_t n_classes)
{
    double v[EEG_PRED_TIMES + EEG_MAX_CLASSES] = {pr->t_start, pr->t_end, pr->t_cue,
                                                  pr->arrival, pr->latency_ms, pr->compute_ms};
    memcpy(v + EEG_PRED_TIMES, pr->proba, n_classes * sizeof *v);
    spx_state_pack_f64s(pk, values_key, v, EEG_PRED_TIMES + n_classes);
    spx_state_pack_u64(pk, index_key, pr->index);
    unsigned char cls[2] = {class_byte(pr->predicted), class_byte(pr->truth)};
    spx_state_pack_bytes(pk, classes_key, cls, 2);
}

/* The scoring histories, one array per field. */
static int pack_histories(msgpack_packer *pk, const spx_eeg_state *st)
{
    enum { NW = EEG_WINDOW_HISTORY, NC = EEG_CUE_HISTORY };
    uint64_t *u = malloc(NW * sizeof *u);
    double *a = malloc(NW * sizeof *a), *b = malloc(NW * sizeof *b);
    unsigned char *p = malloc(NW), *q = malloc(NW);
    if (!u || !a || !b || !p || !q) {
        free(u);
        free(a);
        free(b);
        free(p);
        free(q);
        return -1;
    }
    for (size_t i = 0; i < NW; i++) {
        const eeg_window_rec *w = &st->windows[i];
        u[i] = w->index;
        a[i] = w->t_start;
        b[i] = w->t_end;
        p[i] = class_byte(w->predicted);
        q[i] = w->scored;
    }
    spx_state_pack_u64s(pk, "win_index", u, NW);
    spx_state_pack_f64s(pk, "win_t_start", a, NW);
    spx_state_pack_f64s(pk, "win_t_end", b, NW);
    spx_state_pack_bytes(pk, "win_predicted", p, NW);
    spx_state_pack_bytes(pk, "win_scored", q, NW);
    double *t = malloc(NC * sizeof *t);
    unsigned char *r = malloc(NC);
    if (t && r) {
        for (size_t i = 0; i < NC; i++) {
            const eeg_cue_rec *c = &st->cues[i];
            u[i] = c->serial;
            t[i] = c->t;
            a[i] = c->truth_from;
            b[i] = c->truth_to;
            p[i] = class_byte(c->truth);
            q[i] = class_byte(c->predicted);
            r[i] = c->scored;
        }
        spx_state_pack_u64s(pk, "cue_serial", u, NC);
        spx_state_pack_f64s(pk, "cue_t", t, NC);
        spx_state_pack_f64s(pk, "cue_from", a, NC);
        spx_state_pack_f64s(pk, "cue_to", b, NC);
        spx_state_pack_bytes(pk, "cue_truth", p, NC);
        spx_state_pack_bytes(pk, "cue_predicted", q, NC);
        spx_state_pack_bytes(pk, "cue_scored", r, NC);
    }
    int rc = t && r ? 0 : -1;
    free(u);
    free(a);
    free(b);
    free(p);
    free(q);
    free(t);
    free(r);
    return rc;
}

int spx_eeg_state_save(void *state, msgpack_packer *pk, char *err, size_t errlen)
{
    const spx_eeg_state *st = state;
    const spx_eeg_model *m = st->model;
    size_t iir_n = st->iir ? spx_iir_state_size(st->iir) : 0;
    size_t ring_n = st->ring ? spx_ring_held(st->ring) * st->C : 0;
    size_t pending = spx_cue_epochs_pending(st->pending);
    size_t model_n = m ? spx_covclf_state_size(m->clf) : 0;
    size_t n_trials = st->n_trials;
    double *iir = malloc((iir_n ? iir_n : 1) * sizeof *iir);
    double *ring = malloc((ring_n ? ring_n : 1) * sizeof *ring);
    double *model = malloc((model_n ? model_n : 1) * sizeof *model);
    uint64_t *cue = malloc((pending ? pending : 1) * sizeof *cue);
    uint64_t *serial = malloc((pending ? pending : 1) * sizeof *serial);
    int *label = malloc((pending ? pending : 1) * sizeof *label);
    unsigned char *trial_labels = malloc(n_trials ? n_trials : 1);
    int rc = iir && ring && model && cue && serial && label && trial_labels ? 0 : -ENOMEM;
    if (!rc) {
        if (iir_n)
            spx_iir_state_get(st->iir, iir);
        if (ring_n)
            spx_ring_state_get(st->ring, ring);
        if (pending)
            spx_cue_epochs_state_get(st->pending, cue, label);
        for (size_t i = 0; i < pending; i++)
            serial[i] = (uint64_t)label[i];
        for (size_t i = 0; i < n_trials; i++)
            trial_labels[i] = (unsigned char)st->trial_labels[i];
        if (m)
            rc = spx_covclf_state_get(m->clf, model);
    }
    if (rc) {
        snprintf(err, errlen, "eegclass: save: %s", strerror(-rc));
    } else {
        msgpack_pack_map(pk, EEG_STATE_KEYS);
        spx_state_pack_bool(pk, "setup", st->setup);
        spx_state_pack_f64(pk, "rate", st->setup ? st->rate : 0.0);
        spx_state_pack_f64s(pk, "iir", iir, iir_n);
        spx_state_pack_u64(pk, "ring_end", spx_ring_end(st->ring));
        spx_state_pack_f64s(pk, "ring", ring, ring_n);
        spx_state_pack_u64(pk, "win_next", st->win.next_start);
        spx_state_pack_u64(pk, "win_skipped", st->win.skipped);
        spx_state_pack_u64s(pk, "pending_cue", cue, pending);
        spx_state_pack_u64s(pk, "pending_serial", serial, pending);
        spx_state_pack_bool(pk, "in_segment", st->in_segment);
        spx_state_pack_f64(pk, "anchor_t0", st->anchor_t0);
        spx_state_pack_u64(pk, "anchor_idx", st->anchor_idx);
        spx_state_pack_f64(pk, "next_t0", st->next_t0);
        spx_state_pack_f64(pk, "segment_t0", st->segment_t0);

        spx_state_pack_u64(pk, "n_trials", n_trials);
        spx_state_pack_f64s(pk, "trials", st->trials, n_trials * st->C * st->E);
        spx_state_pack_bytes(pk, "trial_labels", trial_labels, n_trials);
        uint64_t per_class[EEG_MAX_CLASSES];
        for (size_t k = 0; k < st->p.n_classes; k++)
            per_class[k] = st->per_class[k];
        spx_state_pack_u64s(pk, "per_class", per_class, st->p.n_classes);

        spx_state_pack_bool(pk, "has_model", m != NULL);
        spx_state_pack_u64(pk, "model_cov", m ? (uint64_t)m->cov : 0);
        spx_state_pack_u64(pk, "model_classifier", m ? (uint64_t)m->classifier : 0);
        spx_state_pack_u64(pk, "model_order", m ? m->order : 0);
        spx_state_pack_u64(pk, "model_lag", m ? m->lag : 0);
        spx_state_pack_u64(pk, "model_trained_on", m ? m->trained_on : 0);
        spx_state_pack_f64(pk, "model_cv_accuracy", m ? m->cv_accuracy : NAN);
        spx_state_pack_bool(pk, "model_loaded", m && m->loaded);
        spx_state_pack_f64s(pk, "model_state", model, model_n);

        if (pack_histories(pk, st) != 0) {
            /* the map is incomplete: the caller discards the buffer on failure */
            snprintf(err, errlen, "eegclass: save: out of memory");
            rc = -ENOMEM;
        }
    }
    if (!rc) {
        spx_state_pack_u64(pk, "n_cues", st->n_cues);
        spx_state_pack_bool(pk, "has_window", st->has_window);
        pack_prediction_state(pk, "window_values", "window_index", "window_classes",
                              &st->last_window, st->p.n_classes);
        spx_state_pack_bool(pk, "has_trial", st->has_trial);
        pack_prediction_state(pk, "trial_values", "trial_index", "trial_classes",
                              &st->last_trial, st->p.n_classes);
        uint64_t counters[EEG_N_COUNTERS];
        memcpy(counters, &st->c, sizeof counters);
        spx_state_pack_u64s(pk, "counters", counters, EEG_N_COUNTERS);
        spx_pack_key_cstr(pk, "last_error", st->last_error);
    }
    free(iir);
    free(ring);
    free(model);
    free(cue);
    free(serial);
    free(label);
    free(trial_labels);
    return rc ? -1 : 0;
}

/* ---- loading ------------------------------------------------------------------------------- */


/* Class bytes (k + 1) that must all name a class or none (0). */
static int read_classes(const msgpack_object *map, const char *key, unsigned char *dst, size_t n,
                        size_t n_classes, char *err, size_t errlen)
{
    if (spx_state_read_bytes(map, key, dst, n, err, errlen) != 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (dst[i] > n_classes) {
            snprintf(err, errlen, "state: %s: class %d out of range", key, (int)dst[i] - 1);
            return -1;
        }
    return 0;
}

static int read_flags(const msgpack_object *map, const char *key, unsigned char *dst, size_t n,
                      char *err, size_t errlen)
{
    return read_classes(map, key, dst, n, 1, err, errlen);
}

static int refuse(char *err, size_t errlen, const char *what)
{
    snprintf(err, errlen, "state: %s", what);
    return -1;
}

/* Rate, band-pass delay lines, ring, window grid, pending epochs and segment anchor. */
static int load_stream(spx_eeg_state *st, const msgpack_object *saved, char *err, size_t errlen)
{
    bool setup, in_segment;
    double rate, anchor_t0, next_t0, segment_t0;
    uint64_t ring_end, win_next, win_skipped, anchor_idx;
    if (spx_state_read_bool(saved, "setup", &setup, err, errlen) ||
        spx_state_read_f64(saved, "rate", &rate, err, errlen) ||
        spx_state_read_bool(saved, "in_segment", &in_segment, err, errlen) ||
        spx_state_read_u64(saved, "ring_end", &ring_end, err, errlen) ||
        spx_state_read_u64(saved, "win_next", &win_next, err, errlen) ||
        spx_state_read_u64(saved, "win_skipped", &win_skipped, err, errlen) ||
        spx_state_read_u64(saved, "anchor_idx", &anchor_idx, err, errlen) ||
        spx_state_read_f64(saved, "anchor_t0", &anchor_t0, err, errlen) ||
        spx_state_read_f64(saved, "next_t0", &next_t0, err, errlen) ||
        spx_state_read_f64(saved, "segment_t0", &segment_t0, err, errlen))
        return -1;
    if (!setup) {
        if (st->setup)
            return refuse(err, errlen, "setup: the stream has a rate, the saved state none");
        if (in_segment || ring_end || win_next || win_skipped || anchor_idx)
            return refuse(err, errlen, "samples recorded without a sample rate");
    } else if (st->setup) {
        if (rate != st->rate)
            return refuse(err, errlen, "rate: differs from the stream's");
    } else if (spx_eeg_setup(st, rate, err, errlen) != 0) {
        return -1;
    }
    if (!in_segment && (ring_end || win_next || win_skipped || anchor_idx))
        return refuse(err, errlen, "samples recorded outside a segment");
    if (in_segment && !(isfinite(anchor_t0) && isfinite(next_t0) && isfinite(segment_t0)))
        return refuse(err, errlen, "segment times not finite");
    if (anchor_idx > ring_end)
        return refuse(err, errlen, "anchor_idx: past the ring's end");

    size_t iir_n = st->iir ? spx_iir_state_size(st->iir) : 0;
    size_t held = 0;
    if (st->ring) {
        size_t cap = spx_ring_capacity(st->ring);
        held = ring_end < cap ? (size_t)ring_end : cap;
    }
    double *iir = NULL, *ring = NULL;
    uint64_t *cue = NULL, *serial = NULL;
    int *label = NULL;
    size_t pending = 0;
    int rc = spx_state_read_alloc(saved, "iir", sizeof *iir, iir_n, (void **)&iir, err, errlen);
    if (!rc)
        rc = spx_state_read_alloc(saved, "ring", sizeof *ring, held * st->C, (void **)&ring, err,
                                  errlen);
    if (!rc)
        rc = spx_state_count(saved, "pending_cue", sizeof *cue, &pending, err, errlen);
    if (!rc && pending > (st->pending ? EEG_MAX_PENDING_CUES : 0))
        rc = refuse(err, errlen, "pending_cue: more cues than the queue holds");
    if (!rc)
        rc = spx_state_read_alloc(saved, "pending_cue", sizeof *cue, pending, (void **)&cue, err,
                                  errlen);
    if (!rc)
        rc = spx_state_read_alloc(saved, "pending_serial", sizeof *serial, pending,
                                  (void **)&serial, err,
                        errlen);
    if (!rc && !(label = malloc((pending ? pending : 1) * sizeof *label)))
        rc = refuse(err, errlen, "out of memory");
    for (size_t i = 0; !rc && i < pending; i++) {
        if (serial[i] > (uint64_t)INT32_MAX)
            rc = refuse(err, errlen, "pending_serial: out of range");
        else
            label[i] = (int)serial[i];
    }
    if (!rc && iir_n && spx_iir_state_set(st->iir, iir) != 0)
        rc = refuse(err, errlen, "iir: not finite");
    if (!rc && st->ring && spx_ring_state_set(st->ring, ring_end, ring, held) != 0)
        rc = refuse(err, errlen, "ring: not finite");
    if (!rc && st->pending && spx_cue_epochs_state_set(st->pending, cue, label, pending) != 0)
        rc = refuse(err, errlen, "pending_cue: out of order or before the first sample");
    if (!rc) {
        st->in_segment = in_segment;
        if (in_segment)
            spx_windows_init(&st->win, st->W, st->H, win_next);
        st->win.next_start = win_next;
        st->win.skipped = win_skipped;
        st->anchor_t0 = anchor_t0;
        st->anchor_idx = anchor_idx;
        st->next_t0 = next_t0;
        st->segment_t0 = segment_t0;
    }
    free(iir);
    free(ring);
    free(cue);
    free(serial);
    free(label);
    return rc;
}

static int load_trials(spx_eeg_state *st, const msgpack_object *saved, char *err, size_t errlen)
{
    const spx_eeg_params *p = &st->p;
    uint64_t n;
    if (spx_state_read_range(saved, "n_trials", 0, st->setup ? p->max_trials : 0, &n, err,
                             errlen))
        return -1;
    double *trials = NULL;
    unsigned char *labels = NULL;
    uint64_t per_class[EEG_MAX_CLASSES] = {0}, count[EEG_MAX_CLASSES] = {0};
    int *trial_labels = NULL;
    int rc = spx_state_read_alloc(saved, "trials", sizeof *trials, (size_t)n * st->C * st->E,
                        (void **)&trials, err, errlen);
    if (!rc && !(labels = malloc(n ? (size_t)n : 1)))
        rc = refuse(err, errlen, "out of memory");
    if (!rc)
        rc = spx_state_read_bytes(saved, "trial_labels", labels, (size_t)n, err, errlen);
    if (!rc)
        rc = spx_state_read_u64s(saved, "per_class", per_class, p->n_classes, err, errlen);
    for (size_t i = 0; !rc && i < n; i++) {
        if (labels[i] >= p->n_classes)
            rc = refuse(err, errlen, "trial_labels: class out of range");
        else
            count[labels[i]]++;
    }
    for (size_t k = 0; !rc && k < p->n_classes; k++)
        if (count[k] != per_class[k])
            rc = refuse(err, errlen, "per_class: disagrees with trial_labels");
    for (size_t i = 0; !rc && i < (size_t)n * st->C * st->E; i++)
        if (!isfinite(trials[i]))
            rc = refuse(err, errlen, "trials: not finite");
    /* Room as keep_trial would have it: at least its first 16 (growing by half needs >= 2). */
    size_t cap = (size_t)n, first = p->max_trials < 16 ? p->max_trials : 16, ct = st->C * st->E;
    if (cap < first)
        cap = first;
    double *room = NULL;
    if (!rc && n) {
        room = realloc(trials, cap * ct * sizeof *room);
        if (room)
            trials = room;
        trial_labels = malloc(cap * sizeof *trial_labels);
        if (!room || !trial_labels)
            rc = refuse(err, errlen, "out of memory");
    }
    if (rc) {
        free(trials);
        free(labels);
        free(trial_labels);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        trial_labels[i] = labels[i];
    free(labels);
    free(st->trials);
    free(st->trial_labels);
    st->trials = n ? trials : NULL;
    if (!n)
        free(trials);
    st->trial_labels = trial_labels;
    st->n_trials = (size_t)n;
    st->cap_trials = n ? cap : 0;
    for (size_t k = 0; k < p->n_classes; k++)
        st->per_class[k] = (size_t)per_class[k];
    return 0;
}

static int load_model(spx_eeg_state *st, const msgpack_object *saved, char *err, size_t errlen)
{
    bool has, loaded;
    uint64_t cov, classifier, order, lag, trained_on;
    double cv;
    size_t n = 0;
    if (spx_state_read_bool(saved, "has_model", &has, err, errlen) ||
        spx_state_read_range(saved, "model_cov", 0, SPX_COV_OAS, &cov, err, errlen) ||
        spx_state_read_range(saved, "model_classifier", 0, SPX_COVCLF_TS_LR, &classifier, err,
                             errlen) ||
        spx_state_read_range(saved, "model_order", has ? 1 : 0, has ? 8 : 0, &order, err,
                             errlen) ||
        spx_state_read_range(saved, "model_lag", has ? 1 : 0, has ? 64 : 0, &lag, err, errlen) ||
        spx_state_read_u64(saved, "model_trained_on", &trained_on, err, errlen) ||
        spx_state_read_f64(saved, "model_cv_accuracy", &cv, err, errlen) ||
        spx_state_read_bool(saved, "model_loaded", &loaded, err, errlen) ||
        spx_state_count(saved, "model_state", sizeof(double), &n, err, errlen))
        return -1;
    if (!has) {
        if (n)
            return refuse(err, errlen, "model_state: values without a model");
        spx_eeg_model_free(st->model);
        st->model = NULL;
        return 0;
    }
    if (!st->setup)
        return refuse(err, errlen, "has_model: a model without a sample rate");
    if (order * lag + 2 > st->W || order * lag + 2 > st->E)
        return refuse(err, errlen, "model_order: order x lag does not fit in a window or epoch");
    if (classifier == SPX_COVCLF_TS_LR && st->p.n_classes != 2)
        return refuse(err, errlen, "model_classifier: ts takes two classes");
    if (!isnan(cv) && !(cv >= 0.0 && cv <= 1.0))
        return refuse(err, errlen, "model_cv_accuracy: out of range");
    spx_eeg_model *m;
    /* max_train only sizes a later fit, which makes a new model anyway (as load_model does) */
    int rc = spx_eeg_model_new(st, (spx_cov_estimator)cov, (spx_covclf_kind)classifier,
                               (size_t)order, (size_t)lag, 2, &m);
    if (rc) {
        snprintf(err, errlen, "state: model: %s", strerror(-rc));
        return -1;
    }
    double *values = NULL;
    rc = spx_state_read_alloc(saved, "model_state", sizeof *values, spx_covclf_state_size(m->clf),
                    (void **)&values, err, errlen);
    if (!rc && spx_covclf_state_set(m->clf, values) != 0)
        rc = refuse(err, errlen, "model_state: not a valid model (not finite or not SPD)");
    free(values);
    if (rc) {
        spx_eeg_model_free(m);
        return -1;
    }
    m->trained_on = (size_t)trained_on;
    m->cv_accuracy = cv;
    m->loaded = loaded;
    spx_eeg_model_free(st->model);
    st->model = m;
    return 0;
}

static int load_histories(spx_eeg_state *st, const msgpack_object *saved, char *err, size_t errlen)
{
    enum { NW = EEG_WINDOW_HISTORY, NC = EEG_CUE_HISTORY };
    size_t K = st->p.n_classes;
    uint64_t *u = malloc(NW * sizeof *u);
    double *a = malloc(NW * sizeof *a), *b = malloc(NW * sizeof *b), *t = malloc(NC * sizeof *t);
    unsigned char *p = malloc(NW), *q = malloc(NW), *r = malloc(NC);
    int rc = u && a && b && t && p && q && r ? 0 : refuse(err, errlen, "out of memory");
    if (!rc && (spx_state_read_u64s(saved, "win_index", u, NW, err, errlen) ||
                spx_state_read_f64s(saved, "win_t_start", a, NW, err, errlen) ||
                spx_state_read_f64s(saved, "win_t_end", b, NW, err, errlen) ||
                read_classes(saved, "win_predicted", p, NW, K, err, errlen) ||
                read_flags(saved, "win_scored", q, NW, err, errlen)))
        rc = -1;
    for (size_t i = 0; !rc && i < NW; i++)
        st->windows[i] = (eeg_window_rec){.index = u[i], .t_start = a[i], .t_end = b[i],
                                          .predicted = (int)p[i] - 1, .scored = q[i] != 0};
    if (!rc && (spx_state_read_u64s(saved, "cue_serial", u, NC, err, errlen) ||
                spx_state_read_f64s(saved, "cue_t", t, NC, err, errlen) ||
                spx_state_read_f64s(saved, "cue_from", a, NC, err, errlen) ||
                spx_state_read_f64s(saved, "cue_to", b, NC, err, errlen) ||
                read_classes(saved, "cue_truth", p, NC, K, err, errlen) ||
                read_classes(saved, "cue_predicted", q, NC, K, err, errlen) ||
                read_flags(saved, "cue_scored", r, NC, err, errlen)))
        rc = -1;
    for (size_t i = 0; !rc && i < NC; i++)
        st->cues[i] = (eeg_cue_rec){.serial = u[i], .t = t[i], .truth_from = a[i],
                                    .truth_to = b[i], .truth = (int)p[i] - 1,
                                    .predicted = (int)q[i] - 1, .scored = r[i] != 0};
    free(u);
    free(a);
    free(b);
    free(t);
    free(p);
    free(q);
    free(r);
    return rc;
}

static int load_prediction(const msgpack_object *saved, const char *has_key,
                           const char *values_key, const char *index_key, const char *classes_key,
                           size_t n_classes, bool *has, eeg_prediction *pr, char *err,
                           size_t errlen)
{
    double v[EEG_PRED_TIMES + EEG_MAX_CLASSES];
    unsigned char cls[2];
    eeg_prediction out = {0};
    if (spx_state_read_bool(saved, has_key, has, err, errlen) ||
        spx_state_read_f64s(saved, values_key, v, EEG_PRED_TIMES + n_classes, err, errlen) ||
        spx_state_read_u64(saved, index_key, &out.index, err, errlen) ||
        read_classes(saved, classes_key, cls, 2, n_classes, err, errlen))
        return -1;
    if (*has && cls[0] == 0)
        return refuse(err, errlen, "a prediction without a class");
    out.t_start = v[0];
    out.t_end = v[1];
    out.t_cue = v[2];
    out.arrival = v[3];
    out.latency_ms = v[4];
    out.compute_ms = v[5];
    memcpy(out.proba, v + EEG_PRED_TIMES, n_classes * sizeof *v);
    out.predicted = (int)cls[0] - 1;
    out.truth = (int)cls[1] - 1;
    *pr = out;
    return 0;
}

int spx_eeg_state_load(void *state, const msgpack_object *saved, char *err, size_t errlen)
{
    spx_eeg_state *st = state;
    if (!saved || saved->type != MSGPACK_OBJECT_MAP)
        return refuse(err, errlen, "not a map");
    if (load_stream(st, saved, err, errlen) || load_trials(st, saved, err, errlen) ||
        load_model(st, saved, err, errlen) || load_histories(st, saved, err, errlen))
        return -1;
    uint64_t n_cues, counters[EEG_N_COUNTERS];
    if (spx_state_read_u64(saved, "n_cues", &n_cues, err, errlen) ||
        spx_state_read_u64s(saved, "counters", counters, EEG_N_COUNTERS, err, errlen) ||
        load_prediction(saved, "has_window", "window_values", "window_index", "window_classes",
                        st->p.n_classes, &st->has_window, &st->last_window, err, errlen) ||
        load_prediction(saved, "has_trial", "trial_values", "trial_index", "trial_classes",
                        st->p.n_classes, &st->has_trial, &st->last_trial, err, errlen))
        return -1;
    size_t pending = spx_cue_epochs_pending(st->pending);
    if (pending) {
        uint64_t cue[EEG_MAX_PENDING_CUES];
        int serial[EEG_MAX_PENDING_CUES];
        spx_cue_epochs_state_get(st->pending, cue, serial);
        for (size_t i = 0; i < pending; i++)
            if ((uint64_t)serial[i] >= n_cues)
                return refuse(err, errlen, "pending_serial: a cue that was never seen");
    }
    const msgpack_object *msg = spx_state_get(saved, "last_error", MSGPACK_OBJECT_STR, err, errlen);
    if (!msg)
        return -1;
    if (msg->via.str.size >= sizeof st->last_error ||
        memchr(msg->via.str.ptr, '\0', msg->via.str.size))
        return refuse(err, errlen, "last_error: too long or not text");
    memcpy(st->last_error, msg->via.str.ptr, msg->via.str.size);
    st->last_error[msg->via.str.size] = '\0';
    st->n_cues = n_cues;
    memcpy(&st->c, counters, sizeof st->c);
    return 0;
}
