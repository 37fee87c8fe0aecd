/* Multi-output recursive least squares with exponential forgetting, for the forecaster.
 *
 * Model y = W^T x, x in R^k (features), y in R^m (outputs); W is k x m. Each update takes a batch
 * of b rows (the C channels of one time step share W and P) and applies the forgetting factor
 * once per batch:
 *     G = P X^T,  S = lambda I + X G = U^T U (Cholesky),  V = G U^{-1},
 *     W <- W + V U^{-T} (Y - X W),   P <- (P - V V^T) / lambda.
 * That is the exact block form of b sequential rank-1 updates (Woodbury), done with BLAS level 3.
 * P is updated on its upper triangle only (dsyrk) and read only there (dsymm), so it is symmetric
 * by construction between checkpoints.
 *
 * Regularised forgetting: plain exponential forgetting lets P grow as lambda^-t along directions
 * the features never excite (e.g. the last lag after last-value normalisation) until it overflows
 * or starves the other directions. Every `interval` updates (interval = min(resym_every,
 * log(1/2) / log(lambda))) the information matrix gets back the prior it forgot,
 * eps = delta (1 - lambda^interval):
 *     P <- (P^-1 + eps I)^-1 = (I + eps P)^-1 P,   W <- W - eps P W,
 * so at those checkpoints the model is exactly the exponentially weighted ridge solution
 *     argmin_W  sum_i lambda^(age_i) ||y_i - W^T x_i||^2 + delta ||W||_F^2
 * and P <= I / delta: no wind-up. The same checkpoint re-symmetrises P (averages it with its
 * transpose), checks it (finite, positive diagonal; otherwise it is reset to the prior, W kept).
 * With lambda = 1 nothing is forgotten, the checkpoint only re-symmetrises and checks.
 *
 * Warm start: spx_forecast_rls_set_gram() installs the exact ridge solution of a batch, after
 * which the recursion continues exactly as if the batch had been streamed. */
#ifndef SPX_FORECAST_RLS_H
#define SPX_FORECAST_RLS_H

#include <stddef.h>
#include <stdint.h>

typedef struct spx_forecast_rls {
    size_t k, m, max_batch;
    double forget, delta;
    size_t interval;        /* updates between checkpoints (0 = never) */
    uint64_t since;         /* updates since the last checkpoint (< interval) */
    double *p;      /* k x k row-major; upper triangle authoritative */
    double *w;      /* k x m row-major */
    double *g;      /* k x b work (row-major k x max_batch) */
    double *s;      /* b x b */
    double *e;      /* b x m */
    double *a, *t;  /* k x k checkpoint work */
    double *wt;     /* k x m checkpoint work */
    uint64_t updates;
    uint64_t resets;
} spx_forecast_rls;

/* Allocates; W = 0, P = I / delta. resym_every: maximum updates between checkpoints (>= 1 when
 * forget < 1; 0 with forget = 1 disables them). Returns 0, -EINVAL or -ENOMEM. */
int spx_forecast_rls_init(spx_forecast_rls *r, size_t k, size_t m, size_t max_batch, double forget,
                          double delta, size_t resym_every);
void spx_forecast_rls_free(spx_forecast_rls *r);

/* Resets to the prior (W = 0, P = I / delta). */
void spx_forecast_rls_reset(spx_forecast_rls *r);

/* Warm start from accumulated normal equations: gram = X^T X + delta I (k x k, upper triangle
 * read; destroyed), xty = X^T Y (k x m, destroyed). Sets P = gram^{-1}, W = gram^{-1} xty.
 * Returns 0 or -EDOM when gram is not positive definite. */
int spx_forecast_rls_set_gram(spx_forecast_rls *r, double *gram, double *xty);

/* One batch: x is b x k row-major, y is b x m row-major, 1 <= b <= max_batch.
 * Returns 0, or -EDOM when the innovation matrix is not positive definite (the update is then
 * skipped and P reset to the prior, W kept). */
int spx_forecast_rls_update(spx_forecast_rls *r, const double *x, const double *y, size_t b);

/* yhat (b x m) = x (b x k) W. */
void spx_forecast_rls_predict(const spx_forecast_rls *r, const double *x, size_t b, double *yhat);

/* Re-expresses the model in new coordinates x' = R x (R k x k, row-major, orthogonal or close):
 * W <- R W, P <- R P R^T. work must hold 2 k^2 doubles. */
void spx_forecast_rls_rotate(spx_forecast_rls *r, const double *rot, double *work);

/* Mirrors the upper triangle of P into the lower one. */
void spx_forecast_rls_symmetrize(spx_forecast_rls *r);

/* Runs the checkpoint now (regularise if anything was forgotten since the last one, re-symmetrise,
 * check). */
void spx_forecast_rls_checkpoint(spx_forecast_rls *r);

#endif
