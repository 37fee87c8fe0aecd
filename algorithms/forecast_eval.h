/* Leak-free running forecast metrics.
 *
 * A forecast issued after sample s (its origin) covers samples s+1 .. s+H. It is stored as issued
 * and scored when sample s+H arrives, i.e. only once every target has been observed; nothing is
 * recomputed later (a model updated in between must not get credit for what it learned from those
 * targets). Running sums give MSE/MAE per horizon step and overall. All memory is allocated in
 * init: (H + 1) pending forecasts and the last H samples. */
#ifndef SPX_FORECAST_EVAL_H
#define SPX_FORECAST_EVAL_H

#include <stddef.h>
#include <stdint.h>

typedef struct spx_forecast_eval {
    size_t channels, horizon;
    uint64_t score_from;   /* score forecasts with origin + 1 >= score_from */
    double *pending;       /* (H + 1) slots x (H x C): forecast by origin mod (H + 1) */
    uint64_t *pending_tag; /* origin + 1 of the forecast in each slot; 0 = empty */
    double *recent;        /* H slots x C: sample t at t mod H */
    double *sse, *sae;     /* H: sums over scored forecasts and channels, per step */
    uint64_t scored;
} spx_forecast_eval;

int spx_forecast_eval_init(spx_forecast_eval *ev, size_t channels, size_t horizon,
                           uint64_t score_from);
void spx_forecast_eval_free(spx_forecast_eval *ev);

/* Sample t (C values) has arrived: the forecast issued at origin t - H, if any and eligible, is
 * scored now. Call before recording the forecast issued after sample t. */
void spx_forecast_eval_observe(spx_forecast_eval *ev, uint64_t t, const double *sample);

/* Stores the forecast (H x C row-major) issued after sample `origin`. */
void spx_forecast_eval_record(spx_forecast_eval *ev, uint64_t origin, const double *forecast);

/* mse_step / mae_step: H values each (may be NULL); returns the number of forecasts scored. */
uint64_t spx_forecast_eval_get(const spx_forecast_eval *ev, double *mse, double *mae,
                               double *mse_step, double *mae_step);

#endif
