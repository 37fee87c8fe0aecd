/* Covariance of one EEG epoch / window: sample, Ledoit-Wolf, OAS, and the augmented covariance
 * (ACM) of Carrara & Papadopoulo (arXiv 2302.04508).
 *
 * Input: an epoch X of C channels x T samples, channel-major (row c = channel c, contiguous in
 * time, leading dimension ldx >= T), as the epoching module produces it.
 *
 * Augmentation (order, lag): for order > 1 the rows of the (C*order) x (T - order*lag) matrix are
 * the delayed copies X[:, p*lag : T - (order - p)*lag] for p = 0..order-1 (the reference code's
 * slicing, also MOABB's AugmentedDataset: every block drops order*lag samples); order 1 is X itself,
 * whatever the lag.
 *
 * Estimators (on the augmented matrix Y, p = rows, n = columns, Y centred per row unless
 * assume_centered, S = Y Y^T / n, mu = tr(S) / p), matching scikit-learn's formulas:
 *   SAMPLE       S (maximum likelihood, 1/n; sklearn.covariance.empirical_covariance).
 *   LEDOIT_WOLF  sklearn.covariance.ledoit_wolf_shrinkage: delta = ||S - mu I||_F^2 / p,
 *                beta = (sum_t ||y_t||^4 / n - ||S||_F^2) / (p n), shrinkage = min(beta, delta) / delta.
 *   OAS          sklearn.covariance.oas (identical in sklearn 1.2 and >= 1.3): alpha = ||S||_F^2 / p^2,
 *                shrinkage = min((alpha + mu^2) / ((n + 1)(alpha - mu^2 / p)), 1).
 * Shrunk result: (1 - shrinkage) S + shrinkage mu I.
 *
 * All buffers are allocated in spx_cov_create; spx_cov_compute never allocates. */
#ifndef SPX_COVARIANCE_H
#define SPX_COVARIANCE_H

#include <stddef.h>

typedef enum spx_cov_estimator {
    SPX_COV_SAMPLE = 0,
    SPX_COV_LEDOIT_WOLF = 1,
    SPX_COV_OAS = 2,
} spx_cov_estimator;

typedef struct spx_cov_params {
    size_t channels;            /* C, required */
    size_t samples;             /* T, required */
    spx_cov_estimator estimator;/* default OAS */
    size_t order;               /* augmentation order, default 1 (plain covariance) */
    size_t lag;                 /* augmentation lag in samples, default 1 */
    int assume_centered;        /* default 0: subtract each row's mean, as sklearn does */
} spx_cov_params;

void spx_cov_params_default(spx_cov_params *p, size_t channels, size_t samples);

typedef struct spx_cov spx_cov;

/* Returns 0, -EINVAL (bad params, e.g. order*lag >= T) or -ENOMEM. */
int spx_cov_create(spx_cov **out, const spx_cov_params *p);
void spx_cov_free(spx_cov *c);

/* Dimension of the output matrix: channels * order. */
size_t spx_cov_dim(const spx_cov *c);
/* Columns of the augmented matrix: T for order 1, T - order*lag otherwise. */
size_t spx_cov_effective_samples(const spx_cov *c);

/* cov: dim x dim, full symmetric. shrinkage (may be NULL) receives the shrinkage used (0 for
 * SAMPLE). Returns 0 or -EINVAL. */
int spx_cov_compute(spx_cov *c, const double *x, size_t ldx, double *cov, double *shrinkage);

/* Shrinkage formulas on an already computed sample covariance (exposed for tests and for callers
 * that accumulate S themselves). s: p x p; n: samples behind S. sum_norm4 = sum_t ||y_t||^4 of the
 * centred columns (Ledoit-Wolf only). */
double spx_cov_oas_shrinkage(const double *s, size_t p, size_t n);
double spx_cov_ledoit_wolf_shrinkage(const double *s, size_t p, size_t n, double sum_norm4);

#endif
