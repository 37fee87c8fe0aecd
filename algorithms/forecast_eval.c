#include "forecast_eval.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int spx_forecast_eval_init(spx_forecast_eval *ev, size_t channels, size_t horizon,
                           uint64_t score_from)
{
    if (!ev)
        return -EINVAL;
    memset(ev, 0, sizeof *ev);
    if (channels == 0 || horizon == 0)
        return -EINVAL;
    ev->channels = channels;
    ev->horizon = horizon;
    ev->score_from = score_from;
    const size_t hc = horizon * channels;
    /* zeroed, not just allocated: the slots are part of the durable state, saved whole */
    ev->pending = calloc((horizon + 1) * hc, sizeof *ev->pending);
    ev->pending_tag = calloc(horizon + 1, sizeof *ev->pending_tag);
    ev->recent = calloc(hc, sizeof *ev->recent);
    ev->sse = calloc(horizon, sizeof *ev->sse);
    ev->sae = calloc(horizon, sizeof *ev->sae);
    if (!ev->pending || !ev->pending_tag || !ev->recent || !ev->sse || !ev->sae) {
        spx_forecast_eval_free(ev);
        return -ENOMEM;
    }
    return 0;
}

void spx_forecast_eval_free(spx_forecast_eval *ev)
{
    if (!ev)
        return;
    free(ev->pending);
    free(ev->pending_tag);
    free(ev->recent);
    free(ev->sse);
    free(ev->sae);
    memset(ev, 0, sizeof *ev);
}

void spx_forecast_eval_observe(spx_forecast_eval *ev, uint64_t t, const double *sample)
{
    const size_t h_len = ev->horizon, c_len = ev->channels;
    memcpy(ev->recent + (t % h_len) * c_len, sample, c_len * sizeof *sample);
    if (t < h_len)
        return;
    const uint64_t origin = t - h_len;
    const size_t slot = (size_t)(origin % (h_len + 1));
    if (ev->pending_tag[slot] != origin + 1)
        return;
    ev->pending_tag[slot] = 0;
    if (origin + 1 < ev->score_from)
        return;
    const double *f = ev->pending + slot * h_len * c_len;
    for (size_t h = 0; h < h_len; h++) {
        /* target of step h is sample origin + 1 + h, which is in the recent ring */
        const double *y = ev->recent + ((origin + 1 + h) % h_len) * c_len;
        double se = 0.0, ae = 0.0;
        for (size_t c = 0; c < c_len; c++) {
            const double d = f[h * c_len + c] - y[c];
            se += d * d;
            ae += fabs(d);
        }
        ev->sse[h] += se;
        ev->sae[h] += ae;
    }
    ev->scored++;
}

void spx_forecast_eval_record(spx_forecast_eval *ev, uint64_t origin, const double *forecast)
{
    const size_t hc = ev->horizon * ev->channels;
    const size_t slot = (size_t)(origin % (ev->horizon + 1));
    memcpy(ev->pending + slot * hc, forecast, hc * sizeof *forecast);
    ev->pending_tag[slot] = origin + 1;
}

uint64_t spx_forecast_eval_get(const spx_forecast_eval *ev, double *mse, double *mae,
                               double *mse_step, double *mae_step)
{
    const size_t h_len = ev->horizon;
    const double per_step = (double)ev->scored * (double)ev->channels;
    double se = 0.0, ae = 0.0;
    for (size_t h = 0; h < h_len; h++) {
        se += ev->sse[h];
        ae += ev->sae[h];
        if (mse_step)
            mse_step[h] = per_step > 0 ? ev->sse[h] / per_step : 0.0;
        if (mae_step)
            mae_step[h] = per_step > 0 ? ev->sae[h] / per_step : 0.0;
    }
    if (mse)
        *mse = per_step > 0 ? se / (per_step * (double)h_len) : 0.0;
    if (mae)
        *mae = per_step > 0 ? ae / (per_step * (double)h_len) : 0.0;
    return ev->scored;
}
