/* Adapter: the `eegclass` pipeline, covariance-based EEG classification on a series stream
 * (calibration on labelled cues, then live predictions on sliding windows and cue epochs).
 *
 * Per input chunk: a gap or overlap in the stream's time (t0 against where the previous chunk
 * ended, the stream's own half-sample rule) starts a new segment: the band-pass state, the sample
 * ring, the window grid and the cue epochs waiting for data are reset, so no window or epoch spans
 * the discontinuity. Events are then read in time order (cues of a class, cues of unknown class,
 * feedback telling a cue's class), and the samples are filtered (causal Butterworth SOS, state
 * kept across chunks) and pushed through the ring in pieces of at most one hop, so every window
 * and epoch is taken as soon as its last sample is in, whatever the chunk sizes.
 *
 * Calibration: epochs [cue + tmin, cue + tmax) of cues labelled with a class are kept (raw, so
 * order=auto can cross-validate the augmentation) until every class has min_trials, or `call fit`.
 * Live: each window (mode windows/both) and each cue epoch (cues/both) is classified and published
 * as its own result body (spx_input.publish); the truth of a window is the class of a cue whose
 * span [t, t + duration] (or [t + tmin, t + tmax] without a duration) contains it, and may arrive
 * after the prediction (a late marker, or feedback for a cue of unknown class): scoring waits for
 * it over the last EEG_WINDOW_HISTORY windows and EEG_CUE_HISTORY cues. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codec.h"
#include "eegclass_internal.h"

static double system_monotonic_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double system_wall_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double (*monotonic_clock)(void) = system_monotonic_seconds;
static double (*wall_clock)(void) = system_wall_seconds;

void spx_eeg_set_clocks(double (*monotonic)(void), double (*wall)(void))
{
    monotonic_clock = monotonic ? monotonic : system_monotonic_seconds;
    wall_clock = wall ? wall : system_wall_seconds;
}

static double monotonic_seconds(void) { return monotonic_clock(); }

static double wall_seconds(void) { return wall_clock(); }

/* ---- set-up -------------------------------------------------------------------------------- */

bool spx_eeg_rate_ok(const spx_eeg_params *p, double rate)
{
    /* 2^24 samples (100 s at 160 kHz) bounds every buffer sized from the rate. */
    double longest = p->window > p->tmax - p->tmin ? p->window : p->tmax - p->tmin;
    if (p->hop > longest)
        longest = p->hop;
    return rate > 0 && isfinite(rate) && (longest + EEG_LATE_SECONDS) * rate <= 16777216.0;
}

static void free_buffers(spx_eeg_state *st)
{
    spx_iir_free(st->iir);
    spx_ring_free(st->ring);
    spx_cue_epochs_free(st->pending);
    free(st->piece);
    free(st->win_buf);
    free(st->epoch_buf);
    free(st->event_order);
    st->iir = NULL;
    st->ring = NULL;
    st->pending = NULL;
    st->piece = st->win_buf = st->epoch_buf = NULL;
    st->event_order = NULL;
}

int spx_eeg_setup(spx_eeg_state *st, double rate, char *err, size_t errlen)
{
    if (st->setup)
        return 0;
    const spx_eeg_params *p = &st->p;
    if (!spx_eeg_rate_ok(p, rate)) {
        snprintf(err, errlen, "sample rate %g Hz: unknown or too high for these windows", rate);
        return -1;
    }
    size_t W = (size_t)llround(p->window * rate), H = (size_t)llround(p->hop * rate);
    size_t E = (size_t)llround((p->tmax - p->tmin) * rate);
    int64_t offset = spx_epoch_samples(p->tmin, rate);
    /* The longest augmentation that may be used: order x lag samples are dropped per block. */
    size_t aug_o = p->order, aug_l = p->order > 1 ? p->lag : 0;
    for (size_t i = 0; !p->order && i < p->n_grid_orders; i++)
        aug_o = p->grid_orders[i] > aug_o ? p->grid_orders[i] : aug_o;
    for (size_t i = 0; !p->order && i < p->n_grid_lags; i++)
        aug_l = p->grid_lags[i] > aug_l ? p->grid_lags[i] : aug_l;
    size_t shortest = W < E ? W : E;
    if (H == 0 || W < 8 || E < 8) {
        snprintf(err, errlen, "at %g Hz the window (%zu samples), hop (%zu) or epoch (%zu) is too "
                              "short", rate, W, H, E);
        return -1;
    }
    if (aug_o * aug_l + 2 > shortest) {
        snprintf(err, errlen, "order %zu x lag %zu does not fit in %zu samples (window or epoch)",
                 aug_o, aug_l, shortest);
        return -1;
    }
    if (p->filter && !(p->fmax < rate / 2)) {
        snprintf(err, errlen, "fmax=%g must be below half the sample rate (%g Hz)", p->fmax, rate);
        return -1;
    }
    if (p->filter && spx_iir_butter_bandpass(p->filter_order, p->fmin, p->fmax, rate, st->sos,
                                             &st->n_sos) != 0) {
        snprintf(err, errlen, "cannot design a %d-order band-pass %g-%g Hz at %g Hz",
                 p->filter_order, p->fmin, p->fmax, rate);
        return -1;
    }
    /* The ring holds the longest span still needed when a piece has been pushed: a window or an
     * epoch (pre-cue part included), one piece, and how late a marker may come. */
    size_t pre = offset < 0 ? (size_t)(-offset) : 0;
    size_t span = (W > E + pre ? W : E + pre) + H + (size_t)llround(EEG_LATE_SECONDS * rate);
    size_t C = st->C;
    int rc = 0;
    if (p->filter)
        rc = spx_iir_create(&st->iir, st->sos, st->n_sos, C);
    if (!rc)
        rc = spx_ring_create(&st->ring, C, span);
    if (!rc)
        rc = spx_cue_epochs_create(&st->pending, EEG_MAX_PENDING_CUES, offset, E);
    if (!rc) {
        st->piece = malloc(H * C * sizeof *st->piece);
        st->win_buf = malloc(C * W * sizeof *st->win_buf);
        st->epoch_buf = malloc(C * E * sizeof *st->epoch_buf);
        st->event_order = malloc(SPX_MAX_EVENTS * sizeof *st->event_order);
        if (!st->piece || !st->win_buf || !st->epoch_buf || !st->event_order)
            rc = -ENOMEM;
    }
    if (rc) {
        free_buffers(st);
        snprintf(err, errlen, "set-up for %g Hz: %s", rate, strerror(-rc));
        return -1;
    }
    st->rate = rate;
    st->W = W;
    st->H = H;
    st->E = E;
    st->offset = offset;
    st->piece_n = H;
    st->settle_n = (size_t)llround(p->settle * rate);
    st->setup = true;
    return 0;
}

static int eeg_create(void **state, const spx_stream_info *stream, const spx_param *params,
                      size_t n_params, char *err, size_t errlen)
{
    spx_eeg_state *st = calloc(1, sizeof *st);
    if (!st) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    st->C = stream->dim;
    if (spx_eeg_params_parse(&st->p, params, n_params, err, errlen) != 0 ||
        (stream->rate > 0 && spx_eeg_setup(st, stream->rate, err, errlen) != 0)) {
        free(st);
        return -1;
    }
    *state = st;
    return 0;
}

static void eeg_destroy(void *state)
{
    spx_eeg_state *st = state;
    if (!st)
        return;
    free_buffers(st);
    free(st->trials);
    free(st->trial_labels);
    spx_eeg_model_free(st->model);
    free(st);
}

/* ---- segments ------------------------------------------------------------------------------ */

/* A new continuous segment starts at t0: nothing of the old one may reach a window or an epoch. */
static void start_segment(spx_eeg_state *st, double t0)
{
    if (st->in_segment) {
        st->c.resets++;
        size_t waiting = spx_cue_epochs_pending(st->pending);
        st->c.cues_dropped += waiting;
        if (waiting) {
            spx_cue_epochs *fresh;
            /* Same sizes as at set-up: it can only fail for lack of memory; then the stale
             * queue is kept and its epochs come out of range of the reset ring (dropped). */
            if (spx_cue_epochs_create(&fresh, EEG_MAX_PENDING_CUES, st->offset, st->E) == 0) {
                spx_cue_epochs_free(st->pending);
                st->pending = fresh;
            }
        }
    }
    if (st->iir)
        spx_iir_reset(st->iir);
    spx_ring_reset(st->ring);
    spx_windows_init(&st->win, st->W, st->H, st->settle_n);
    st->in_segment = true;
    st->anchor_t0 = t0;
    st->anchor_idx = 0;
    st->segment_t0 = t0;
}

static double sample_time(const spx_eeg_state *st, uint64_t idx)
{
    return st->anchor_t0 + ((double)idx - (double)st->anchor_idx) / st->rate;
}

/* ---- publishing ---------------------------------------------------------------------------- */

static void publish(spx_eeg_state *st, const spx_input *in, const char *why, uint64_t chunk_start,
                    uint64_t end_idx, double t)
{
    if (!in->publish)
        return;
    uint64_t applied = end_idx > chunk_start ? end_idx - chunk_start : 0;
    if (applied > in->n)
        applied = in->n;
    st->why = why;
    in->publish(in->publish_ctx, (uint32_t)applied, t);
    st->why = NULL;
}

/* ---- scoring ------------------------------------------------------------------------------- */

static eeg_cue_rec *cue_by_serial(spx_eeg_state *st, uint64_t serial)
{
    if (serial >= st->n_cues || st->n_cues - serial > EEG_CUE_HISTORY)
        return NULL;
    eeg_cue_rec *c = &st->cues[serial % EEG_CUE_HISTORY];
    return c->serial == serial ? c : NULL;
}

static bool inside(const spx_eeg_state *st, const eeg_cue_rec *c, double from, double to)
{
    double eps = 0.5 / st->rate;
    return from >= c->truth_from - eps && to <= c->truth_to + eps;
}

static void score_window(spx_eeg_state *st, eeg_window_rec *w, int truth)
{
    w->scored = true;
    st->c.win_scored++;
    st->c.win_correct += w->predicted == truth;
}

static void score_trial(spx_eeg_state *st, eeg_cue_rec *c)
{
    c->scored = true;
    st->c.trial_scored++;
    st->c.trial_correct += c->predicted == c->truth;
}

/* A cue's class became known: score its trial and the windows inside it predicted so far. */
static void truth_known(spx_eeg_state *st, eeg_cue_rec *c)
{
    if (c->predicted >= 0 && !c->scored)
        score_trial(st, c);
    uint64_t n = st->c.windows, first = n > EEG_WINDOW_HISTORY ? n - EEG_WINDOW_HISTORY : 0;
    for (uint64_t i = first; i < n; i++) {
        eeg_window_rec *w = &st->windows[i % EEG_WINDOW_HISTORY];
        if (!w->scored && inside(st, c, w->t_start, w->t_end))
            score_window(st, w, c->truth);
    }
}

/* The class of a window when a cue containing it is known now, else -1. */
static int window_truth(const spx_eeg_state *st, double from, double to)
{
    uint64_t n = st->n_cues, first = n > EEG_CUE_HISTORY ? n - EEG_CUE_HISTORY : 0;
    for (uint64_t i = n; i-- > first;) {
        const eeg_cue_rec *c = &st->cues[i % EEG_CUE_HISTORY];
        if (c->truth >= 0 && inside(st, c, from, to))
            return c->truth;
    }
    return -1;
}

/* ---- events -------------------------------------------------------------------------------- */

static int class_of(const spx_eeg_params *p, const char *label)
{
    for (size_t k = 0; k < p->n_classes; k++)
        if (strcmp(p->classes[k], label) == 0)
            return (int)k;
    return -1;
}

static void add_cue(spx_eeg_state *st, const spx_event *ev, int truth)
{
    const spx_eeg_params *p = &st->p;
    uint64_t serial = st->n_cues++;
    eeg_cue_rec *c = &st->cues[serial % EEG_CUE_HISTORY];
    bool has_span = ev->duration > 0 && isfinite(ev->duration);
    *c = (eeg_cue_rec){.serial = serial, .t = ev->t,
                       .truth_from = has_span ? ev->t : ev->t + p->tmin,
                       .truth_to = has_span ? ev->t + ev->duration : ev->t + p->tmax,
                       .truth = truth, .predicted = -1};
    st->c.cues++;
    if (truth >= 0)
        truth_known(st, c);   /* a late marker: windows already predicted inside it */
    /* Its epoch, if its samples are (or will be) in this segment. Serials fit an int for 2^31
     * cues; beyond that the epoch is dropped rather than mislabelled. */
    bool wanted = truth >= 0 ? (!st->model || (p->mode & EEG_MODE_CUES))
                             : (p->mode & EEG_MODE_CUES) != 0;
    if (!wanted)
        return;
    double rel = (ev->t - st->anchor_t0) * st->rate + (double)st->anchor_idx;
    int64_t idx = fabs(rel) < 4e18 ? (int64_t)llround(rel) : -1;   /* absurd times: dropped */
    if (!st->in_segment || serial > (uint64_t)INT32_MAX || idx < 0 ||
        idx + st->offset < (int64_t)st->settle_n ||
        spx_cue_epochs_add(st->pending, (uint64_t)idx, (int)serial) != 0)
        st->c.cues_dropped++;
}

static void feedback(spx_eeg_state *st, const spx_event *ev)
{
    st->c.feedback++;
    double v = ev->value;
    if (!isfinite(v) || v != floor(v) || v < 0 || v >= (double)st->p.n_classes) {
        st->c.feedback_unmatched++;
        return;
    }
    /* The latest cue at or before the feedback whose class is still unknown. */
    uint64_t n = st->n_cues, first = n > EEG_CUE_HISTORY ? n - EEG_CUE_HISTORY : 0;
    for (uint64_t i = n; i-- > first;) {
        eeg_cue_rec *c = &st->cues[i % EEG_CUE_HISTORY];
        if (c->t <= ev->t && c->truth < 0) {
            c->truth = (int)v;
            truth_known(st, c);
            return;
        }
    }
    st->c.feedback_unmatched++;
}

static void read_events(spx_eeg_state *st, const spx_input *in)
{
    size_t n = in->n_events < SPX_MAX_EVENTS ? in->n_events : SPX_MAX_EVENTS;
    size_t *order = st->event_order;
    for (size_t i = 0; i < n; i++) {   /* insertion sort by time: stable, n is small */
        size_t j = i;
        while (j > 0 && in->events[order[j - 1]].t > in->events[i].t) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = i;
    }
    for (size_t i = 0; i < n; i++) {
        const spx_event *ev = &in->events[order[i]];
        int k = class_of(&st->p, ev->label);
        if (k >= 0)
            add_cue(st, ev, k);
        else if (strcmp(ev->label, st->p.cue_label) == 0)
            add_cue(st, ev, -1);
        else if (strcmp(ev->label, st->p.feedback_label) == 0)
            feedback(st, ev);
        else
            st->c.events_ignored++;
    }
}

/* ---- calibration --------------------------------------------------------------------------- */

static int keep_trial(spx_eeg_state *st, int label)
{
    if (st->n_trials == st->p.max_trials) {
        st->c.trials_dropped++;
        return -1;
    }
    size_t ct = st->C * st->E;
    if (st->n_trials == st->cap_trials) {
        /* Calibration, not the hot path: grow by half up to max_trials. */
        size_t cap = st->cap_trials ? st->cap_trials + st->cap_trials / 2 : 16;
        if (cap > st->p.max_trials)
            cap = st->p.max_trials;
        double *t = realloc(st->trials, cap * ct * sizeof *t);
        if (!t) {
            st->c.trials_dropped++;
            return -1;
        }
        st->trials = t;
        int *l = realloc(st->trial_labels, cap * sizeof *l);
        if (!l) {
            st->c.trials_dropped++;
            return -1;
        }
        st->trial_labels = l;
        st->cap_trials = cap;
    }
    memcpy(st->trials + st->n_trials * ct, st->epoch_buf, ct * sizeof *st->trials);
    st->trial_labels[st->n_trials++] = label;
    st->per_class[label]++;
    return 0;
}

static bool enough_trials(const spx_eeg_state *st)
{
    if (st->p.min_trials == 0)
        return false;
    for (size_t k = 0; k < st->p.n_classes; k++)
        if (st->per_class[k] < st->p.min_trials)
            return false;
    return true;
}

static int fit_now(spx_eeg_state *st, char *err, size_t errlen)
{
    if (spx_eeg_fit(st, err, errlen) != 0) {
        st->c.fit_errors++;
        snprintf(st->last_error, sizeof st->last_error, "%s", err);
        return -1;
    }
    st->c.fits++;
    st->last_error[0] = '\0';
    return 0;
}

/* ---- prediction ---------------------------------------------------------------------------- */

static int classify(spx_eeg_state *st, const double *x, size_t len, spx_cov *epoch_cov,
                    eeg_prediction *out)
{
    spx_eeg_model *m = st->model;
    double t = monotonic_seconds();
    int rc = epoch_cov ? spx_cov_compute(epoch_cov, x, len, m->cov_buf, NULL)
                       : spx_covclf_covariance(m->clf, x, len, m->cov_buf);
    int label = -1;
    if (!rc)
        rc = spx_covclf_predict_cov(m->clf, m->cov_buf, out->proba, &label);
    out->compute_ms = (monotonic_seconds() - t) * 1e3;
    out->predicted = label;
    if (rc)
        snprintf(st->last_error, sizeof st->last_error, "prediction: %s",
                 rc == -EDOM ? "covariance not positive definite (flat channels?)"
                             : strerror(-rc));
    return rc;
}

static void on_epoch(spx_eeg_state *st, const spx_input *in, int serial, uint64_t cue_idx,
                     uint64_t chunk_start)
{
    eeg_cue_rec *c = cue_by_serial(st, (uint64_t)serial);
    if (!c)
        return;   /* fell out of the history: too old to score */
    uint64_t end_idx = (uint64_t)((int64_t)cue_idx + st->offset) + st->E;
    double t_end = sample_time(st, end_idx);
    if (!st->model) {
        if (c->truth < 0 || keep_trial(st, c->truth) != 0 || !enough_trials(st))
            return;
        char err[160];
        if (fit_now(st, err, sizeof err) == 0)
            publish(st, in, "fit", chunk_start, end_idx, t_end);
        return;
    }
    eeg_prediction pr = {.index = c->serial, .t_cue = c->t, .t_end = t_end,
                         .t_start = t_end - (double)st->E / st->rate, .arrival = in->t};
    if (classify(st, st->epoch_buf, st->E, st->model->epoch_cov, &pr) != 0) {
        st->c.trials_failed++;
        return;
    }
    pr.latency_ms = (wall_seconds() - in->t) * 1e3;
    pr.truth = c->truth;
    c->predicted = pr.predicted;
    st->c.trials_predicted++;
    if (c->truth >= 0)
        score_trial(st, c);
    st->last_trial = pr;
    st->has_trial = true;
    publish(st, in, "trial", chunk_start, end_idx, t_end);
}

static void drain_epochs(spx_eeg_state *st, const spx_input *in, uint64_t chunk_start)
{
    for (;;) {
        int serial;
        uint64_t cue_idx;
        int rc = spx_cue_epochs_next(st->pending, st->ring, st->epoch_buf, st->E, &serial,
                                     &cue_idx);
        if (rc == 0)
            return;
        if (rc == -ERANGE) {   /* its samples were already overwritten: dropped by the queue */
            st->c.cues_dropped++;
            continue;
        }
        if (rc < 0)
            return;
        on_epoch(st, in, serial, cue_idx, chunk_start);
    }
}

static void drain_windows(spx_eeg_state *st, const spx_input *in, uint64_t chunk_start)
{
    uint64_t end = spx_ring_end(st->ring);
    if (!st->model || !(st->p.mode & EEG_MODE_WINDOWS)) {
        /* Nothing to predict with (or windows off): keep the grid moving without copying. */
        while (st->win.next_start + st->W <= end) {
            st->win.next_start += st->H;
            st->c.windows_idle++;
        }
        return;
    }
    uint64_t skipped = st->win.skipped, start;
    while (spx_windows_next(&st->win, st->ring, st->win_buf, st->W, &start) == 1) {
        eeg_prediction pr = {.index = st->c.windows + st->c.windows_failed,
                             .t_start = sample_time(st, start),
                             .t_end = sample_time(st, start + st->W), .arrival = in->t};
        pr.t_cue = NAN;
        if (classify(st, st->win_buf, st->W, NULL, &pr) != 0) {
            st->c.windows_failed++;
            continue;
        }
        pr.latency_ms = (wall_seconds() - in->t) * 1e3;
        eeg_window_rec *w = &st->windows[st->c.windows % EEG_WINDOW_HISTORY];
        *w = (eeg_window_rec){.index = pr.index, .t_start = pr.t_start, .t_end = pr.t_end,
                              .predicted = pr.predicted};
        st->c.windows++;
        pr.truth = window_truth(st, pr.t_start, pr.t_end);
        if (pr.truth >= 0)
            score_window(st, w, pr.truth);
        st->last_window = pr;
        st->has_window = true;
        publish(st, in, "window", chunk_start, start + st->W, pr.t_end);
    }
    st->c.windows_skipped += st->win.skipped - skipped;
}

/* ---- update -------------------------------------------------------------------------------- */

static int eeg_update(void *state, const spx_input *in, char *err, size_t errlen)
{
    spx_eeg_state *st = state;
    if (in->d != st->C) {
        snprintf(err, errlen, "%u channels, the pipeline has %zu", in->d, st->C);
        return -1;
    }
    if (in->n > 0) {
        if (!(in->rate > 0)) {
            snprintf(err, errlen, "samples without a rate");
            return -1;
        }
        if (!st->setup && spx_eeg_setup(st, in->rate, err, errlen) != 0)
            return -1;
        if (fabs(in->rate - st->rate) > 1e-9 * st->rate) {
            snprintf(err, errlen, "rate %g Hz: this pipeline runs at %g Hz (attach it again for "
                                  "another rate)", in->rate, st->rate);
            return -1;
        }
    }
    /* Nothing below refuses the input: from here on it is applied. */
    uint64_t chunk_start = 0;
    if (in->n > 0) {
        double slack = 0.5 / st->rate;
        if (!st->in_segment) {
            start_segment(st, in->t0);
        } else if (fabs(in->t0 - st->next_t0) > slack) {
            if (in->t0 > st->next_t0)
                st->c.gaps++;
            else
                st->c.overlaps++;
            start_segment(st, in->t0);
        }
        chunk_start = spx_ring_end(st->ring);
        st->anchor_t0 = in->t0;
        st->anchor_idx = chunk_start;
        st->next_t0 = in->t0 + (double)in->n / st->rate;
    }
    if (in->n_events && st->setup)
        read_events(st, in);
    else if (in->n_events)
        st->c.events_ignored += in->n_events;   /* no time base yet */
    if (in->n == 0 && in->n_events && st->in_segment)
        drain_epochs(st, in, spx_ring_end(st->ring));   /* a late marker's epoch may be whole */
    size_t C = st->C;
    for (size_t done = 0; done < in->n;) {
        size_t m = in->n - done < st->piece_n ? in->n - done : st->piece_n;
        if (in->dtype == SPX_DTYPE_F32) {
            const float *x = (const float *)in->data + done * C;
            for (size_t i = 0; i < m * C; i++)
                st->piece[i] = (double)x[i];
        } else {
            memcpy(st->piece, (const double *)in->data + done * C, m * C * sizeof *st->piece);
        }
        if (st->iir)
            spx_iir_process(st->iir, st->piece, st->piece, m);
        spx_ring_push(st->ring, st->piece, m);
        done += m;
        drain_epochs(st, in, chunk_start);
        drain_windows(st, in, chunk_start);
    }
    return 0;
}

/* ---- results ------------------------------------------------------------------------------- */

static void pack_accuracy(msgpack_packer *pk, const char *key, uint64_t scored, uint64_t correct)
{
    spx_pack_cstr(pk, key);
    msgpack_pack_map(pk, 3);
    spx_pack_key_uint(pk, "scored", scored);
    spx_pack_key_uint(pk, "correct", correct);
    spx_pack_cstr(pk, "value");
    if (scored)
        msgpack_pack_double(pk, (double)correct / (double)scored);
    else
        msgpack_pack_nil(pk);
}

static void pack_label(msgpack_packer *pk, const spx_eeg_params *p, const char *key, int k)
{
    spx_pack_cstr(pk, key);
    if (k >= 0)
        spx_pack_cstr(pk, p->classes[k]);
    else
        msgpack_pack_nil(pk);
}

static void pack_prediction(msgpack_packer *pk, const spx_eeg_state *st, const eeg_prediction *pr,
                            bool trial)
{
    const spx_eeg_params *p = &st->p;
    msgpack_pack_map(pk, trial ? 11 : 10);
    spx_pack_key_uint(pk, "index", pr->index);
    if (trial)
        spx_pack_key_double(pk, "t_cue", pr->t_cue);
    spx_pack_key_double(pk, "t_start", pr->t_start);
    spx_pack_key_double(pk, "t_end", pr->t_end);
    pack_label(pk, p, "label", pr->predicted);
    spx_pack_key_uint(pk, "class", (uint64_t)pr->predicted);
    spx_pack_cstr(pk, "proba");
    spx_pack_ndarray_f64(pk, pr->proba, 1, &p->n_classes);
    pack_label(pk, p, "truth", pr->truth);
    spx_pack_key_double(pk, "arrival", pr->arrival);
    spx_pack_key_double(pk, "latency_ms", pr->latency_ms);
    spx_pack_key_double(pk, "compute_ms", pr->compute_ms);
}

static int eeg_result(void *state, msgpack_packer *pk)
{
    spx_eeg_state *st = state;
    const spx_eeg_params *p = &st->p;
    const eeg_counters *c = &st->c;
    msgpack_pack_map(pk, 11);
    spx_pack_key_cstr(pk, "what", st->why ? st->why : "state");
    spx_pack_key_cstr(pk, "state", st->model ? "ready" : "calibrating");
    spx_pack_cstr(pk, "classes");
    msgpack_pack_array(pk, (uint32_t)p->n_classes);
    for (size_t k = 0; k < p->n_classes; k++)
        spx_pack_cstr(pk, p->classes[k]);
    spx_pack_cstr(pk, "trials");
    msgpack_pack_array(pk, (uint32_t)p->n_classes);
    for (size_t k = 0; k < p->n_classes; k++)
        msgpack_pack_uint64(pk, st->per_class[k]);

    spx_pack_cstr(pk, "window");
    if (st->has_window)
        pack_prediction(pk, st, &st->last_window, false);
    else
        msgpack_pack_nil(pk);
    spx_pack_cstr(pk, "trial");
    if (st->has_trial)
        pack_prediction(pk, st, &st->last_trial, true);
    else
        msgpack_pack_nil(pk);

    spx_pack_cstr(pk, "accuracy");
    msgpack_pack_map(pk, 2);
    pack_accuracy(pk, "windows", c->win_scored, c->win_correct);
    pack_accuracy(pk, "trials", c->trial_scored, c->trial_correct);

    spx_pack_cstr(pk, "model");
    const spx_eeg_model *m = st->model;
    if (m) {
        msgpack_pack_map(pk, 8);
        spx_pack_key_cstr(pk, "cov", spx_eeg_cov_name(m->cov));
        spx_pack_key_cstr(pk, "classifier", spx_eeg_classifier_name(m->classifier));
        spx_pack_key_uint(pk, "order", m->order);
        spx_pack_key_uint(pk, "lag", m->lag);
        spx_pack_key_uint(pk, "dim", m->dim);
        spx_pack_key_uint(pk, "trained_on", m->trained_on);
        spx_pack_key_cstr(pk, "source", m->loaded ? "loaded" : "fitted");
        spx_pack_cstr(pk, "cv_accuracy");
        if (isnan(m->cv_accuracy))
            msgpack_pack_nil(pk);
        else
            msgpack_pack_double(pk, m->cv_accuracy);
    } else {
        msgpack_pack_nil(pk);
    }

    spx_pack_cstr(pk, "counters");
    msgpack_pack_map(pk, 17);
    spx_pack_key_uint(pk, "windows", c->windows);
    spx_pack_key_uint(pk, "windows_failed", c->windows_failed);
    spx_pack_key_uint(pk, "windows_skipped", c->windows_skipped);
    spx_pack_key_uint(pk, "windows_idle", c->windows_idle);
    spx_pack_key_uint(pk, "cues", c->cues);
    spx_pack_key_uint(pk, "cues_dropped", c->cues_dropped);
    spx_pack_key_uint(pk, "trials_predicted", c->trials_predicted);
    spx_pack_key_uint(pk, "trials_failed", c->trials_failed);
    spx_pack_key_uint(pk, "trials_dropped", c->trials_dropped);
    spx_pack_key_uint(pk, "resets", c->resets);
    spx_pack_key_uint(pk, "gaps", c->gaps);
    spx_pack_key_uint(pk, "overlaps", c->overlaps);
    spx_pack_key_uint(pk, "fits", c->fits);
    spx_pack_key_uint(pk, "fit_errors", c->fit_errors);
    spx_pack_key_uint(pk, "feedback", c->feedback);
    spx_pack_key_uint(pk, "feedback_unmatched", c->feedback_unmatched);
    spx_pack_key_uint(pk, "events_ignored", c->events_ignored);

    spx_pack_cstr(pk, "segment_t0");
    if (st->in_segment)
        msgpack_pack_double(pk, st->segment_t0);
    else
        msgpack_pack_nil(pk);
    spx_pack_key_cstr(pk, "last_error", st->last_error);
    return 0;
}

/* ---- operations ---------------------------------------------------------------------------- */

static bool no_args(const msgpack_object *args)
{
    return !args || args->type == MSGPACK_OBJECT_NIL ||
           (args->type == MSGPACK_OBJECT_MAP && args->via.map.size == 0);
}

static void pack_model_summary(msgpack_packer *pk, const spx_eeg_state *st, double seconds)
{
    const spx_eeg_model *m = st->model;
    msgpack_pack_map(pk, 7);
    spx_pack_key_cstr(pk, "state", "ready");
    spx_pack_key_uint(pk, "trained_on", m->trained_on);
    spx_pack_key_uint(pk, "order", m->order);
    spx_pack_key_uint(pk, "lag", m->lag);
    spx_pack_key_uint(pk, "dim", m->dim);
    spx_pack_cstr(pk, "cv_accuracy");
    if (isnan(m->cv_accuracy))
        msgpack_pack_nil(pk);
    else
        msgpack_pack_double(pk, m->cv_accuracy);
    spx_pack_key_double(pk, "seconds", seconds);
}

static spx_errcode eeg_command(void *state, const char *name, const msgpack_object *args,
                               msgpack_packer *pk, char *err, size_t errlen)
{
    spx_eeg_state *st = state;
    if (strcmp(name, "model") == 0) {
        if (!no_args(args)) {
            snprintf(err, errlen, "model takes no arguments");
            return SPX_E_BAD_PARAM;
        }
        if (!st->model) {
            snprintf(err, errlen, "no model yet: calibrating (call fit, or load_model)");
            return SPX_E_BAD_PARAM;
        }
        unsigned char *b;
        size_t len;
        int rc = spx_eeg_model_encode(st, &b, &len);
        if (rc) {
            snprintf(err, errlen, "model: %s", strerror(-rc));
            return SPX_E_INTERNAL;
        }
        msgpack_pack_bin(pk, len);
        msgpack_pack_bin_body(pk, b, len);
        free(b);
        return SPX_OK;
    }
    if (strcmp(name, "fit") == 0) {
        if (!no_args(args)) {
            snprintf(err, errlen, "fit takes no arguments");
            return SPX_E_BAD_PARAM;
        }
        double t = monotonic_seconds();
        if (fit_now(st, err, errlen) != 0)
            return SPX_E_BAD_PARAM;
        pack_model_summary(pk, st, monotonic_seconds() - t);
        return SPX_OK;
    }
    if (strcmp(name, "load_model") == 0) {
        const msgpack_object *bin =
            args && args->type == MSGPACK_OBJECT_MAP ? spx_map_get(args, "model") : NULL;
        if (!bin || bin->type != MSGPACK_OBJECT_BIN ||
            (args->via.map.size != 1)) {
            snprintf(err, errlen, "load_model takes {\"model\": bin} (the bytes of get detail "
                                  "\"model\")");
            return SPX_E_BAD_PARAM;
        }
        if (spx_eeg_model_load(st, (const unsigned char *)bin->via.bin.ptr, bin->via.bin.size, err,
                               errlen) != 0)
            return SPX_E_BAD_PARAM;
        pack_model_summary(pk, st, 0.0);
        return SPX_OK;
    }
    if (strcmp(name, "reset") == 0) {
        if (!no_args(args)) {
            snprintf(err, errlen, "reset takes no arguments");
            return SPX_E_BAD_PARAM;
        }
        /* Back to calibration: the model and the collected trials go; counters stay. */
        spx_eeg_model_free(st->model);
        st->model = NULL;
        st->n_trials = 0;
        memset(st->per_class, 0, sizeof st->per_class);
        msgpack_pack_map(pk, 1);
        spx_pack_key_cstr(pk, "state", "calibrating");
        return SPX_OK;
    }
    return SPX_E_UNKNOWN_OP;
}

const spx_pipeline_ops spx_eegclass_ops = {
    .algo = "eegclass",
    .summary = "EEG classification: band-pass, covariance (OAS/LW, augmented), MDM or tangent "
               "space + LR; calibration on cues, live windows and trials",
    .kinds = SPX_KIND_SERIES,
    .create = eeg_create,
    .update = eeg_update,
    .result = eeg_result,
    .destroy = eeg_destroy,
    .command = eeg_command,
    .commands = "model,fit,load_model,reset",
    .save = spx_eeg_state_save,
    .load = spx_eeg_state_load,
    .state_version = 1,
};
