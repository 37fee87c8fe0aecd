/* The forecaster's state, shared by forecast_model.c (numerics) and forecast_state.c (the durable
 * state field list). Not public. */
#ifndef SPX_FORECAST_INTERNAL_H
#define SPX_FORECAST_INTERNAL_H

#include <stdint.h>
#include <string.h>

#include "forecast.h"
#include "forecast_eval.h"
#include "forecast_orthotrans.h"
#include "forecast_rls.h"

/* C, L, H, r, k, ku, warmup, ring_len, method, metrics, q_refresh, norm/scale/cross code */
#define SPX_FORECAST_STATE_DIMS 12

struct spx_forecast {
    spx_forecast_params p;
    size_t nc, nl, nh;     /* C, L, H */
    size_t r;              /* transform components (ORTHO), L (RLS_RAW), 0 (baselines) */
    size_t k;              /* features per channel in the shared map */
    size_t ku;             /* VAR cross vector length, 0 when off */
    size_t ring_len;
    int uses_rls;

    uint64_t t;            /* samples consumed */
    uint64_t restarts;     /* failed warm-up fits */
    uint64_t fitted, ready; /* 0/1; uint64_t so the durable-state field list can point at them */
    uint64_t origin;
    uint64_t q_refreshes;

    /* warm-up (freed after the fit) */
    double *warm;          /* C x warmup, channel-major */
    double *mu, *sigma;    /* C: standardisation (0 / 1 when off) */
    double *chan_scale;    /* C: 1 / std of each channel, for pooling windows in OrthoTrans */

    double *ring;          /* C x 2 ring_len: every sample written twice so windows are contiguous */

    spx_forecast_ortho ortho;
    double *q_old;         /* L x r: the basis before a refresh */
    double *rot;           /* k x k rotation + 2 k^2 work for a refresh */
    double *mix;           /* C x C NormLin weights */

    size_t nslots;         /* H + 1 */
    double *zc;            /* nslots x C x k: features by origin */
    double *shift, *scl;   /* nslots x C */
    double *uc;            /* nslots x ku */
    uint64_t *ztag;        /* origin + 1 cached in each slot, 0 = none */

    spx_forecast_rls rls;  /* shared map: k -> H, batch C */
    spx_forecast_rls crls; /* VAR cross stage: ku -> C H, batch 1 */

    double *zraw;          /* C x r */
    double *yt;            /* C x H targets (normalised) */
    double *yh;            /* C x H predictions (normalised) */
    double *res;           /* C H */
    double *zs;            /* C: the current sample, standardised */
    double *conv;          /* C: f32 -> f64 */
    double *fc;            /* H x C forecast, input units */
    double *fz;            /* H x C forecast, standardised units (what the metrics see) */

    spx_forecast_eval eval;
    double *mse_step, *mae_step;
    double mse, mae;

    uint64_t dims[SPX_FORECAST_STATE_DIMS]; /* configuration fingerprint for durable state */
};

/* The configuration fingerprint (at create; and to check a loaded one). Inline so the sources of
 * forecast_model.c alone still build the forecaster (the e2e test compiles them in). */
static inline void spx_forecast_state_dims(const spx_forecast *f, uint64_t *dims)
{
    const spx_forecast_params *p = &f->p;
    const uint64_t d[SPX_FORECAST_STATE_DIMS] = {
        f->nc, f->nl, f->nh, f->r, f->k, f->ku, p->warmup, f->ring_len, (uint64_t)p->method,
        (uint64_t)(p->metrics != 0), p->q_refresh,
        (uint64_t)p->norm | (uint64_t)(p->scale != 0) << 8 | (uint64_t)p->cross << 16,
    };
    memcpy(dims, d, sizeof d);
}

#endif
