/* Streaming multichannel forecasting: an orthogonal-transform linear forecaster that learns online.
 *
 * Pure numerics (BLAS/LAPACK only, no I/O). Deterministic. All memory is allocated in
 * spx_forecast_create(); updates never allocate.
 *
 * The model (OLinear's idea made online; Yue et al., arXiv 2505.08550):
 *   1. Optional global standardisation per channel with the warm-up mean/std, so one shared map
 *      serves channels of any units, and metrics are on the usual z-scored scale.
 *   2. Per-window normalisation (RevIN-style): subtract the window's last value or mean, optionally
 *      divide by its std; the forecast is mapped back the same way.
 *   3. OrthoTrans: z = Q_r^T x, Q the eigenvectors (descending) of the temporal Pearson correlation
 *      of length-L windows, averaged over channels, estimated on the warm-up segment; optionally
 *      refreshed every q_refresh samples from running window statistics (the learned map is
 *      rotated into the new basis). Truncation to the top `rank` components makes every online
 *      update cheaper; plain ridge is rotation invariant, so at full rank Q changes nothing.
 *   4. One linear map z -> H outputs shared by all channels, learned by recursive least squares
 *      with a forgetting factor (block update per time step over the C channels, Cholesky of the
 *      C x C innovation matrix, covariance kept symmetric, trace-bounded against wind-up),
 *      warm-started with the exact ridge solution on the warm-up windows.
 *   4b. Optional phase maps (phase_period P > 0): the origin's phase h = origin index mod P (hour of
 *      day of hourly data when the stream starts at midnight) selects a second map
 *          W_h = argmin sum_{windows of phase h} phase_forget^age ||y - W^T z||^2
 *                       + phase_ridge ||W - W_s||^2  = V_h + phase_ridge P_h W_s,
 *      W_s the current shared map; V_h, P_h an RLS over phase h's windows alone with prior
 *      precision phase_ridge (towards 0). Each phase keeps the shared map's shape and learns its
 *      own daily-cycle dynamics; the forecast uses W_h. Optionally the features (of both maps) get
 *      a one-hot of the phase. Cost: one more RLS update and C k (k + H) more flops per step,
 *      P (k^2 + k H) doubles of state.
 *   5. Optional cross-variate stage:
 *      CROSS_VAR      a per-channel correction learned by RLS from the common vector of the last
 *                     `cross_lags` standardised values of every channel and a constant (a VAR on
 *                     the residual of the shared map; warm-started by ridge on the warm-up).
 *      CROSS_NORMLIN  NormLin-style: each channel's features are extended with a convex mix of all
 *                     channels' features, A = row-L1-normalise(softplus(rho / cross_temp)) with rho
 *                     the channels' warm-up correlation matrix (fixed positive mixing weights).
 *
 * Leak-free by construction: after sample t arrives, the model updates only with the window whose
 * whole horizon has now been observed (input ending at t-H, targets t-H+1..t), then forecasts
 * t+1..t+H. The running metrics score a forecast only once all its H targets have arrived, and
 * always the forecast as it was issued.
 *
 * Baselines in the same API: LAST (repeat the last value), SEASONAL (seasonal naive with period
 * `season`), RLS_RAW (the same RLS on raw windows: no transform, no window normalisation). */
#ifndef SPX_FORECAST_H
#define SPX_FORECAST_H

#include <stddef.h>
#include <stdint.h>

typedef enum spx_forecast_method {
    SPX_FORECAST_ORTHO = 0,    /* OrthoTrans + RevIN + RLS (the default) */
    SPX_FORECAST_RLS_RAW = 1,  /* RLS on raw windows */
    SPX_FORECAST_LAST = 2,     /* last value */
    SPX_FORECAST_SEASONAL = 3, /* seasonal naive */
} spx_forecast_method;

typedef enum spx_forecast_norm {
    SPX_FORECAST_NORM_NONE = 0,
    SPX_FORECAST_NORM_LAST = 1, /* subtract the window's last value (default) */
    SPX_FORECAST_NORM_MEAN = 2, /* subtract the window mean */
} spx_forecast_norm;

typedef enum spx_forecast_cross {
    SPX_FORECAST_CROSS_OFF = 0,
    SPX_FORECAST_CROSS_VAR = 1,
    SPX_FORECAST_CROSS_NORMLIN = 2,
} spx_forecast_cross;

typedef struct spx_forecast_params {
    size_t channels;            /* C, required, 1..4096 */
    size_t lookback;            /* L, 2..4096 (default 96) */
    size_t horizon;             /* H, 1..4096 (default 96) */
    spx_forecast_method method; /* default ORTHO */
    size_t rank;                /* r, OrthoTrans components kept, 0..4096; 0 = all L; values above
                                   L are clamped to L (default 32: ~3x fewer flops per step than
                                   96 for +0.7% MSE on ETTh1 H=96) */
    spx_forecast_norm norm;     /* default LAST */
    int scale;                  /* RevIN: also divide by the window std (default 0) */
    double forget;              /* RLS forgetting factor per time step, (0, 1] (default 0.9995) */
    double ridge;               /* ridge / RLS prior precision delta > 0 (default 1.0) */
    int learn;                  /* 1: RLS online after warm-up; 0: frozen after warm-up (default 1) */
    size_t warmup;              /* samples buffered before the first fit, >= L + H + 1
                                   (default max(8 (L + H), 1000)) */
    int standardize;            /* per-channel z-score with warm-up mean/std (default 1) */
    spx_forecast_cross cross;   /* default OFF */
    size_t cross_lags;          /* VAR: lags of every channel in the common vector (default 4) */
    double cross_forget;        /* VAR: its RLS forgetting factor (default 1.0) */
    double cross_ridge;         /* VAR: its prior precision (default 1.0) */
    double cross_temp;          /* NORMLIN: temperature of the correlation softplus (default 0.25) */
    size_t season;              /* SEASONAL: period in samples, >= 1 (default 24) */
    size_t every;               /* forecast after every `every`-th sample, >= 1 (default 1) */
    size_t q_refresh;           /* samples between OrthoTrans refreshes; 0 = never (default 0) */
    size_t q_stride;            /* refresh statistics take every q_stride-th window (default 8) */
    size_t resym_every;         /* RLS updates between re-symmetrisation/health checks (default 64) */
    size_t phase_period;        /* phase maps: one map per phase (origin index mod phase_period, e.g.
                                   the hour of day on hourly data), each shrunk towards the shared
                                   map; 0 = off (default). 1..10000 */
    double phase_ridge;         /* strength of the pull of each phase map to the shared one, > 0
                                   (default 1000) */
    double phase_forget;        /* forgetting of the phase maps per time step, (0, 1] (default 1;
                                   each phase map learns every phase_period steps and forgets
                                   phase_forget^phase_period per update) */
    int phase_onehot;           /* with phase maps: one-hot of the phase appended to every channel's
                                   features, shared map included (a per-phase bias; default 0) */
    uint64_t score_from;        /* metrics count forecasts whose first target index is >= this */
    int metrics;                /* keep running metrics (default 1); they hold (H + 1) issued
                                   forecasts, (H + 1) H C doubles: 29 MB at H = 720, C = 7 */
} spx_forecast_params;

/* Fills p with the defaults for C channels. */
void spx_forecast_params_default(spx_forecast_params *p, size_t channels);

/* Checks p; returns 0 or -EINVAL with the reason in err (may be NULL). */
int spx_forecast_params_check(const spx_forecast_params *p, char *err, size_t errlen);

typedef struct spx_forecast spx_forecast;

typedef struct spx_forecast_metrics {
    uint64_t forecasts_scored;  /* forecasts whose whole horizon has arrived and been scored */
    double mse, mae;            /* over scored forecasts, channels and horizon steps */
    const double *mse_step;     /* H values: MSE per horizon step (1..H), over channels */
    const double *mae_step;     /* H values */
} spx_forecast_metrics;

typedef struct spx_forecast_result {
    int ready;                  /* 0 while warming up, 1 once a forecast exists */
    uint64_t samples;           /* samples consumed (since the last warm-up restart, if any) */
    uint64_t warmup_restarts;   /* failed warm-up fits */
    uint64_t origin;            /* index (0-based) of the last sample the forecast used */
    size_t horizon, channels;
    const double *forecast;     /* H x C row-major, row h = sample origin + 1 + h, input units;
                                   valid until the next update/free; NULL when !ready */
    uint64_t updates;           /* RLS updates applied after warm-up */
    uint64_t q_refreshes;       /* OrthoTrans refreshes done after warm-up */
    size_t rank;                /* components in use (0 for LAST/SEASONAL) */
    spx_forecast_metrics metrics; /* standardised units when standardize = 1 */
} spx_forecast_result;

/* Returns 0, or -EINVAL (bad params, reason in err) / -ENOMEM. */
int spx_forecast_create(spx_forecast **out, const spx_forecast_params *p, char *err, size_t errlen);

/* Consumes n samples (row-major n x C). Returns 0; -EINVAL for bad arguments or a non-finite
 * sample (that sample and the rest of the batch are not applied; the ones before it are); -EDOM
 * when the warm-up fit fails (non-finite statistics): the warm-up then starts again with the next
 * sample. */
int spx_forecast_update_f64(spx_forecast *f, const double *samples, size_t n);
int spx_forecast_update_f32(spx_forecast *f, const float *samples, size_t n);

void spx_forecast_result_get(const spx_forecast *f, spx_forecast_result *out);

/* The parameters in use: those given to create with the defaults resolved (warmup) and what the
 * method overrides (RLS_RAW: norm NONE, no scale). */
void spx_forecast_params_get(const spx_forecast *f, spx_forecast_params *out);

/* The OrthoTrans basis in use: L x r row-major (column k = component k, descending), or NULL
 * before the warm-up fit and for the baselines. eigenvalues: r values (may be NULL). */
const double *spx_forecast_basis(const spx_forecast *f, size_t *lookback, size_t *rank,
                                 const double **eigenvalues);

/* The shared map (k x H row-major, k = features per channel) for inspection and tests. */
const double *spx_forecast_weights(const spx_forecast *f, size_t *features, size_t *horizon);

/* Phase maps: the map phase h's forecasts use now, W_h = V_h + phase_ridge P_h W_s, written to out
 * (k x H row-major). Returns 0, or -EINVAL without phase maps, h >= phase_period or before the
 * warm-up fit. */
int spx_forecast_phase_weights(const spx_forecast *f, size_t h, double *out);

void spx_forecast_free(spx_forecast *f);

const char *spx_forecast_method_name(spx_forecast_method m);
const char *spx_forecast_norm_name(spx_forecast_norm n);
const char *spx_forecast_cross_name(spx_forecast_cross c);
/* Parse the names above; return 0 or -EINVAL. */
int spx_forecast_method_parse(const char *s, spx_forecast_method *out);
int spx_forecast_norm_parse(const char *s, spx_forecast_norm *out);
int spx_forecast_cross_parse(const char *s, spx_forecast_cross *out);

#endif
