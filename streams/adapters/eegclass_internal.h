/* The `eegclass` pipeline's state, shared by its three files:
 *   eegclass.c         ops: preprocessing (band-pass, ring, windows, cue epochs), live prediction,
 *                      scoring against late labels, results and operations;
 *   eegclass_params.c  attach parameters;
 *   eegclass_model.c   fitting (calibration epochs -> covclf) and the model bytes.
 * Everything here runs on the pipeline's worker (create/destroy on the loop thread), one call at a
 * time, so nothing is locked. */
#ifndef SPX_EEGCLASS_INTERNAL_H
#define SPX_EEGCLASS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "covariance.h"
#include "covclf.h"
#include "epoching.h"
#include "iir_filter.h"
#include "pipeline_kind.h"

#define EEG_MAX_CLASSES 16
#define EEG_GRID_MAX 8
#define EEG_WINDOW_HISTORY 512     /* windows kept for scoring when their label arrives late */
#define EEG_CUE_HISTORY 128        /* cues kept for scoring */
#define EEG_MAX_PENDING_CUES 64    /* cue epochs waiting for their samples */
#define EEG_LATE_SECONDS 10.0      /* how late a cue marker may arrive after its samples */

enum { EEG_MODE_WINDOWS = 1, EEG_MODE_CUES = 2 };

typedef struct spx_eeg_params {
    size_t n_classes;
    char classes[EEG_MAX_CLASSES][SPX_LABEL_MAX + 1];
    char cue_label[SPX_LABEL_MAX + 1];       /* a cue whose class is not told (yet) */
    char feedback_label[SPX_LABEL_MAX + 1];  /* tells the class of the latest such cue */
    spx_cov_estimator cov;
    spx_covclf_kind classifier;
    size_t order, lag;                       /* order 0: chosen by cross-validation */
    size_t grid_orders[EEG_GRID_MAX], n_grid_orders;
    size_t grid_lags[EEG_GRID_MAX], n_grid_lags;
    size_t folds;
    size_t min_trials, max_trials;
    unsigned mode;
    double window, hop, tmin, tmax, settle;  /* seconds */
    bool filter;
    double fmin, fmax;
    int filter_order;
    double lr_c;
    uint64_t seed;
} spx_eeg_params;

int spx_eeg_params_parse(spx_eeg_params *p, const spx_param *params, size_t n_params, char *err,
                         size_t errlen);
const char *spx_eeg_cov_name(spx_cov_estimator e);
const char *spx_eeg_classifier_name(spx_covclf_kind k);
int spx_eeg_cov_parse(const char *s, spx_cov_estimator *out);
int spx_eeg_classifier_parse(const char *s, spx_covclf_kind *out);

/* A trained model and what predicting with it needs. */
typedef struct spx_eeg_model {
    spx_cov_estimator cov;
    spx_covclf_kind classifier;
    size_t order, lag, dim;
    size_t trained_on;          /* calibration trials behind it */
    double cv_accuracy;         /* of the chosen (order, lag) when chosen by CV, else NAN */
    bool loaded;                /* restored by load_model rather than fitted here */
    spx_covclf *clf;            /* samples = window length */
    spx_cov *epoch_cov;         /* the same estimator over cue epochs */
    double *cov_buf;            /* dim x dim */
} spx_eeg_model;

void spx_eeg_model_free(spx_eeg_model *m);

typedef struct eeg_window_rec {
    uint64_t index;
    double t_start, t_end;
    int predicted;
    bool scored;
} eeg_window_rec;

typedef struct eeg_cue_rec {
    uint64_t serial;
    double t, truth_from, truth_to;   /* windows inside [from, to] take this cue's class */
    int truth;                        /* class index, -1 while unknown */
    int predicted;                    /* -1 until its epoch was classified */
    bool scored;
} eeg_cue_rec;

typedef struct eeg_prediction {
    uint64_t index;
    double t_start, t_end;            /* windows: its span; trials: the epoch's span */
    double t_cue;                     /* trials */
    double arrival;                   /* t of the input that completed it */
    int predicted, truth;             /* truth -1 when unknown when predicted */
    double proba[EEG_MAX_CLASSES];
    double latency_ms, compute_ms;
} eeg_prediction;

typedef struct eeg_counters {
    uint64_t windows, windows_failed, windows_skipped, windows_idle;
    uint64_t cues, cues_dropped, trials_predicted, trials_failed, trials_dropped;
    uint64_t resets, gaps, overlaps;
    uint64_t fits, fit_errors;
    uint64_t feedback, feedback_unmatched, events_ignored;
    uint64_t win_scored, win_correct, trial_scored, trial_correct;
} eeg_counters;

typedef struct spx_eeg_state {
    spx_eeg_params p;
    size_t C;

    /* Set up once the sample rate is known (at attach when the stream has one, else on the first
     * samples): everything below is sized for it. */
    bool setup;
    double rate;
    size_t W, H, E, settle_n, piece_n;
    int64_t offset;                   /* epoch start relative to the cue, samples */
    double sos[6 * SPX_IIR_MAX_ORDER];
    size_t n_sos;
    spx_iir *iir;
    spx_ring *ring;
    spx_windows win;
    spx_cue_epochs *pending;
    double *piece;                    /* piece_n x C */
    double *win_buf;                  /* C x W */
    double *epoch_buf;                /* C x E */
    size_t *event_order;              /* SPX_MAX_EVENTS */

    /* The current continuous segment: ring indices count its samples from 0; the newest chunk
     * anchors sample times (anchor_t0 is the time of sample anchor_idx). */
    bool in_segment;
    double anchor_t0;
    uint64_t anchor_idx;
    double next_t0;
    double segment_t0;

    /* Calibration trials: raw epochs (C x E each) and class indices. */
    double *trials;
    int *trial_labels;
    size_t n_trials, cap_trials;
    size_t per_class[EEG_MAX_CLASSES];

    spx_eeg_model *model;

    eeg_window_rec windows[EEG_WINDOW_HISTORY];
    eeg_cue_rec cues[EEG_CUE_HISTORY];
    uint64_t n_cues;                  /* serials handed out */

    bool has_window, has_trial;
    eeg_prediction last_window, last_trial;
    eeg_counters c;
    const char *why;                  /* why the body being packed is made */
    char last_error[160];
} spx_eeg_state;

/* Fits a model on the calibration trials (choosing order and lag by cross-validation when the
 * order is "auto") and installs it; on failure the previous model stays. Returns 0 or -1 with err
 * filled. */
int spx_eeg_fit(spx_eeg_state *st, char *err, size_t errlen);
/* Builds a model object (no trained values yet) for the given structure. */
int spx_eeg_model_new(const spx_eeg_state *st, spx_cov_estimator cov, spx_covclf_kind classifier,
                      size_t order, size_t lag, size_t max_train, spx_eeg_model **out);

/* The model as bytes (see eegclass_model.c for the format). *out is malloc'd. */
int spx_eeg_model_encode(const spx_eeg_state *st, unsigned char **out, size_t *len);
/* Validates bytes and installs the model they hold; nothing changes on failure (bad_param). */
int spx_eeg_model_load(spx_eeg_state *st, const unsigned char *buf, size_t len, char *err,
                       size_t errlen);
/* A rate the buffers can be sized for (finite, positive, windows of at most 2^24 samples). */
bool spx_eeg_rate_ok(const spx_eeg_params *p, double rate);
/* Sizes everything for a sample rate (idempotent once done). Returns 0 or -1 with err. */
int spx_eeg_setup(spx_eeg_state *st, double rate, char *err, size_t errlen);

/* Durable state (spx_pipeline_ops.save / .load, eegclass_state.c). */
int spx_eeg_state_save(void *state, msgpack_packer *pk, char *err, size_t errlen);
int spx_eeg_state_load(void *state, const msgpack_object *saved, char *err, size_t errlen);

/* The clocks behind latency_ms, compute_ms and fit's seconds (seconds; NULL: the system's
 * CLOCK_MONOTONIC / CLOCK_REALTIME). Process-wide, for tests that compare result bodies byte for
 * byte across instances (e.g. a restored one): set it before any instance runs, never while one
 * does. */
void spx_eeg_set_clocks(double (*monotonic)(void), double (*wall)(void));

#endif
