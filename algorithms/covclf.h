/* Covariance-based EEG epoch classifier: the composition the eegclass pipeline and the offline
 * evaluation share, plus the calibration helpers (stratified folds, cross-validated accuracy,
 * grid search of the augmentation order and lag).
 *
 *   epoch (C x T, channel-major) -> covariance (sample / LW / OAS, optionally augmented with
 *   (order, lag), see covariance.h) -> MDM, or tangent space at the training Riemannian mean +
 *   L2 logistic regression (two classes).
 *
 * spx_covclf_create allocates everything predict needs; predict never allocates. fit allocates
 * its temporary training matrices (it is calibration, not the hot path) and frees them. Deterministic: no randomness except
 * the seeded folds. */
#ifndef SPX_COVCLF_H
#define SPX_COVCLF_H

#include <stddef.h>
#include <stdint.h>

#include "covariance.h"
#include "spd.h"

typedef enum spx_covclf_kind {
    SPX_COVCLF_MDM = 0,
    SPX_COVCLF_TS_LR = 1,
} spx_covclf_kind;

typedef struct spx_covclf_params {
    size_t channels, samples;       /* epoch shape C x T, required */
    spx_cov_estimator estimator;    /* default OAS */
    size_t order, lag;              /* augmentation, default 1, 1 (plain covariance) */
    spx_covclf_kind kind;           /* default MDM */
    size_t n_classes;               /* default 2 (TS_LR supports exactly 2) */
    double lr_c;                    /* logistic regression C, default 1.0 */
    size_t max_train;               /* largest training set, default 256 */
    spx_spd_mean_params mean;       /* Riemannian mean: tol 1e-8, 50 iterations */
} spx_covclf_params;

void spx_covclf_params_default(spx_covclf_params *p, size_t channels, size_t samples);

typedef struct spx_covclf spx_covclf;

int spx_covclf_create(spx_covclf **out, const spx_covclf_params *p);
void spx_covclf_free(spx_covclf *c);
/* Matrix dimension (channels * order). */
size_t spx_covclf_dim(const spx_covclf *c);

/* The covariance of one epoch (x: C x T, leading dimension ldx), dim x dim. */
int spx_covclf_covariance(spx_covclf *c, const double *x, size_t ldx, double *cov);

/* Training on precomputed covariances (count x dim x dim) or on epochs (count x C x T). */
int spx_covclf_fit_covs(spx_covclf *c, const double *covs, const int *labels, size_t count);
int spx_covclf_fit(spx_covclf *c, const double *epochs, const int *labels, size_t count);

/* proba (n_classes, may be NULL); label: argmax. */
int spx_covclf_predict_cov(spx_covclf *c, const double *cov, double *proba, int *label);
int spx_covclf_predict(spx_covclf *c, const double *x, size_t ldx, double *proba, int *label);

/* The fitted parts, for snapshots and inspection (NULL when not part of this kind). */
struct spx_mdm;
struct spx_tangent;
struct spx_logreg;
const struct spx_mdm *spx_covclf_mdm(const spx_covclf *c);
const struct spx_tangent *spx_covclf_tangent(const spx_covclf *c);
const struct spx_logreg *spx_covclf_logreg(const spx_covclf *c);

/* Trained state as a flat vector of doubles, for snapshots: MDM: the class means
 * (n_classes x dim x dim); TS_LR: the reference (dim x dim), the LR weights (dim (dim+1)/2) and the
 * intercept. The parameters themselves are not included (the caller stores them). state_get
 * returns -EINVAL before fit; state_set validates (-EDOM if a matrix is not SPD). */
size_t spx_covclf_state_size(const spx_covclf *c);
int spx_covclf_state_get(const spx_covclf *c, double *state);
int spx_covclf_state_set(spx_covclf *c, const double *state);

/* Stratified k-fold assignment: within each class the items are shuffled (seeded) and dealt
 * round-robin, continuing across classes, so every fold gets floor or ceil of its share of each
 * class. fold_of[i] in [0, k). Returns 0 or -EINVAL (k < 2 or k > n). */
int spx_cv_stratified_folds(const int *labels, size_t n, size_t k, uint64_t seed, int *fold_of);

/* Cross-validated accuracy of the classifier described by p on precomputed covariances:
 * repeats x k folds (fold seeds seed, seed+1, ...). Returns 0 and the mean accuracy. */
int spx_covclf_cv_accuracy(const spx_covclf_params *p, const double *covs, const int *labels,
                           size_t n, size_t k, size_t repeats, uint64_t seed, double *accuracy);

typedef struct spx_acm_grid {
    const size_t *orders;
    size_t n_orders;
    const size_t *lags;
    size_t n_lags;
    size_t folds;           /* inner folds, default 5 when 0 */
    uint64_t seed;
} spx_acm_grid;

/* Picks (order, lag) for the classifier p (its order/lag are ignored) by k-fold cross-validated
 * accuracy over the grid on the calibration epochs (n x C x T). Ties go to the smaller
 * order * lag, then the smaller order. Combinations that do not fit in T (order * lag + 2 > T)
 * are skipped. scores (n_orders x n_lags, may be NULL) receives each accuracy (NAN if skipped). */
int spx_covclf_select_acm(const spx_covclf_params *p, const double *epochs, const int *labels,
                          size_t n, const spx_acm_grid *grid, size_t *best_order,
                          size_t *best_lag, double *scores);

#endif
