/* The forecaster's durable-state field list and the checks a loaded state must pass. See
 * forecast_state.h. */
#include "forecast_state.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "forecast_internal.h"

int spx_forecast_state_fitted(const spx_forecast *f) { return f->fitted != 0; }

typedef struct field_list {
    spx_forecast_field *out;
    size_t n;
} field_list;

static void add(field_list *l, const char *name, spx_forecast_field_type type, void *data,
                size_t count, int scalar)
{
    if (l->n < SPX_FORECAST_STATE_MAX_FIELDS)
        l->out[l->n++] = (spx_forecast_field){name, type, data, count, scalar};
}

static void f64s(field_list *l, const char *name, double *x, size_t n)
{
    add(l, name, SPX_FORECAST_FIELD_F64, x, n, 0);
}
static void u64s(field_list *l, const char *name, uint64_t *x, size_t n)
{
    add(l, name, SPX_FORECAST_FIELD_U64, x, n, 0);
}
static void f64(field_list *l, const char *name, double *x)
{
    add(l, name, SPX_FORECAST_FIELD_F64, x, 1, 1);
}
static void u64(field_list *l, const char *name, uint64_t *x)
{
    add(l, name, SPX_FORECAST_FIELD_U64, x, 1, 1);
}

size_t spx_forecast_state_fields(spx_forecast *f, int fitted, spx_forecast_field *out)
{
    field_list l = {out, 0};
    const size_t nc = f->nc, nl = f->nl, nh = f->nh, r = f->r, k = f->k, ku = f->ku;
    const spx_forecast_params *p = &f->p;

    u64s(&l, "dims", f->dims, SPX_FORECAST_STATE_DIMS);
    u64(&l, "fitted", &f->fitted);
    u64(&l, "t", &f->t);
    u64(&l, "restarts", &f->restarts);
    u64(&l, "ready", &f->ready);
    u64(&l, "origin", &f->origin);
    u64(&l, "q_refreshes", &f->q_refreshes);
    if (!fitted)
        /* the whole buffer, not just the t samples so far: fixed size, and bytes past t are
         * deterministic too (zeros, or an earlier attempt's samples after a restart) */
        f64s(&l, "warm", f->warm, nc * p->warmup);
    f64s(&l, "mu", f->mu, nc);
    f64s(&l, "sigma", f->sigma, nc);
    f64s(&l, "chan_scale", f->chan_scale, nc);
    f64s(&l, "ring", f->ring, nc * 2 * f->ring_len);
    f64s(&l, "forecast", f->fc, nh * nc);
    f64(&l, "mse", &f->mse);
    f64(&l, "mae", &f->mae);
    f64s(&l, "mse_step", f->mse_step, nh);
    f64s(&l, "mae_step", f->mae_step, nh);
    if (p->method == SPX_FORECAST_ORTHO) {
        f64s(&l, "ortho_q", f->ortho.q, nl * r);
        f64s(&l, "ortho_q1", f->ortho.q1, r);
        f64s(&l, "ortho_evals", f->ortho.evals, nl);
        if (p->q_refresh) {
            /* the running window statistics the next refresh recomputes the basis from */
            f64s(&l, "ortho_outer", f->ortho.outer, nl * nl);
            f64s(&l, "ortho_sums", f->ortho.sums, nc * nl);
            f64(&l, "ortho_count", &f->ortho.count);
        }
    }
    if (f->mix)
        f64s(&l, "mix", f->mix, nc * nc);
    if (f->uses_rls) {
        /* the feature cache: recomputing it on load could round differently (BLAS paths depend
         * on alignment), and the restored instance must continue bit for bit */
        f64s(&l, "zc", f->zc, f->nslots * nc * k);
        f64s(&l, "shift", f->shift, f->nslots * nc);
        f64s(&l, "scl", f->scl, f->nslots * nc);
        u64s(&l, "ztag", f->ztag, f->nslots);
        f64s(&l, "rls_p", f->rls.p, k * k);
        f64s(&l, "rls_w", f->rls.w, k * nh);
        u64(&l, "rls_since", &f->rls.since);
        u64(&l, "rls_updates", &f->rls.updates);
        u64(&l, "rls_resets", &f->rls.resets);
    }
    if (ku) {
        f64s(&l, "uc", f->uc, f->nslots * ku);
        f64s(&l, "cross_p", f->crls.p, ku * ku);
        f64s(&l, "cross_w", f->crls.w, ku * nc * nh);
        u64(&l, "cross_since", &f->crls.since);
        u64(&l, "cross_updates", &f->crls.updates);
        u64(&l, "cross_resets", &f->crls.resets);
    }
    if (p->metrics) {
        f64s(&l, "eval_pending", f->eval.pending, (nh + 1) * nh * nc);
        u64s(&l, "eval_pending_tag", f->eval.pending_tag, nh + 1);
        f64s(&l, "eval_recent", f->eval.recent, nh * nc);
        f64s(&l, "eval_sse", f->eval.sse, nh);
        f64s(&l, "eval_sae", f->eval.sae, nh);
        u64(&l, "eval_scored", &f->eval.scored);
    }
    return l.n;
}

#define FAIL(...)                                                                                  \
    do {                                                                                           \
        if (err && errlen)                                                                         \
            snprintf(err, errlen, __VA_ARGS__);                                                    \
        return -EINVAL;                                                                            \
    } while (0)

/* Slot tags hold origin + 1 of what the slot caches, in slot (origin mod nslots), never later than
 * the samples seen; 0 marks an empty slot. */
static int tags_valid(const uint64_t *tag, size_t nslots, uint64_t t)
{
    for (size_t s = 0; s < nslots; s++)
        if (tag[s] && ((tag[s] - 1) % nslots != s || tag[s] > t))
            return 0;
    return 1;
}

static int rls_valid(const spx_forecast_rls *r)
{
    return r->interval == 0 || r->since < r->interval;
}

int spx_forecast_state_finish_load(spx_forecast *f, int fitted, char *err, size_t errlen)
{
    const spx_forecast_params *p = &f->p;
    const size_t nc = f->nc;
    uint64_t want[SPX_FORECAST_STATE_DIMS];
    spx_forecast_state_dims(f, want);
    if (memcmp(want, f->dims, sizeof want) != 0)
        FAIL("dims: saved by a forecaster of another configuration (C, L, H, r = %" PRIu64
             ", %" PRIu64 ", %" PRIu64 ", %" PRIu64 "; this one %zu, %zu, %zu, %zu)",
             f->dims[0], f->dims[1], f->dims[2], f->dims[3], f->nc, f->nl, f->nh, f->r);
    if (f->fitted != (uint64_t)(fitted != 0))
        FAIL("fitted: %" PRIu64 ", the listed phase is %d", f->fitted, fitted);
    if (f->ready > 1 || (f->ready && !f->fitted))
        FAIL("ready: %" PRIu64 " with fitted %" PRIu64, f->ready, f->fitted);
    if (!f->fitted && f->t >= p->warmup)
        FAIL("t: %" PRIu64 " samples still warming up (warmup %zu)", f->t, p->warmup);
    if (f->fitted && f->t < p->warmup)
        FAIL("t: %" PRIu64 " samples, fewer than the warm-up (%zu)", f->t, p->warmup);
    if (f->ready && (f->origin >= f->t || f->origin + 1 < p->warmup))
        FAIL("origin: %" PRIu64 " outside [%zu, %" PRIu64 ")", f->origin, p->warmup - 1, f->t);
    if (!p->q_refresh && f->q_refreshes)
        FAIL("q_refreshes: %" PRIu64 " without q_refresh", f->q_refreshes);
    if (f->fitted) {
        for (size_t c = 0; c < nc; c++)
            if (!isfinite(f->mu[c]) || !(f->sigma[c] > 0.0) || !isfinite(f->sigma[c]) ||
                !(f->chan_scale[c] > 0.0) || !isfinite(f->chan_scale[c]))
                FAIL("mu/sigma/chan_scale: channel %zu not finite and positive", c);
    }
    if (p->q_refresh && !(f->ortho.count >= 0.0 && isfinite(f->ortho.count)))
        FAIL("ortho_count: %g", f->ortho.count);
    if (f->uses_rls) {
        if (!tags_valid(f->ztag, f->nslots, f->t))
            FAIL("ztag: a slot tag does not match its slot or lies ahead of t = %" PRIu64, f->t);
        for (size_t s = 0; s < f->nslots; s++)
            for (size_t c = 0; f->ztag[s] && c < nc; c++)
                if (!(f->scl[s * nc + c] > 0.0) || !isfinite(f->scl[s * nc + c]))
                    FAIL("scl: slot %zu channel %zu not finite and positive", s, c);
        if (!rls_valid(&f->rls))
            FAIL("rls_since: %" PRIu64 ", checkpoints every %zu", f->rls.since, f->rls.interval);
    }
    if (f->ku && !rls_valid(&f->crls))
        FAIL("cross_since: %" PRIu64 ", checkpoints every %zu", f->crls.since, f->crls.interval);
    if (p->metrics) {
        if (!tags_valid(f->eval.pending_tag, f->nh + 1, f->t))
            FAIL("eval_pending_tag: a slot tag does not match its slot or lies ahead of t = %" PRIu64,
                 f->t);
        if (f->eval.scored > f->t)
            FAIL("eval_scored: %" PRIu64 " forecasts scored in %" PRIu64 " samples",
                 f->eval.scored, f->t);
    }
    if (f->fitted) {
        /* past the warm-up the instance holds no warm-up buffer (as after the fit) */
        free(f->warm);
        f->warm = NULL;
    }
    return 0;
}
