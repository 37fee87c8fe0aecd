/* Minimum Distance to Mean (MDM) classifier on SPD matrices (Barachant et al. 2012; pyRiemann's
 * MDM): one Riemannian mean per class; a matrix goes to the class whose mean is nearest in the
 * affine-invariant distance; probabilities are softmax(-d^2) over the classes.
 *
 * Fitting runs the Riemannian mean of each class over the whole training set with 0/1 weights (no
 * copies; only a weight vector sized to the largest training set is kept). Prediction uses the class means' Cholesky
 * factors prepared at fit time (spx_spd_ref), so it costs per class one dsygst and one
 * eigenvalue-only dsyevd, and never allocates. Not thread-safe per instance. */
#ifndef SPX_RIEMANN_MDM_H
#define SPX_RIEMANN_MDM_H

#include <stddef.h>

#include "spd.h"

typedef struct spx_mdm spx_mdm;

/* dim: matrix size; n_classes >= 2. Returns 0, -EINVAL or -ENOMEM. */
int spx_mdm_create(spx_mdm **out, size_t dim, size_t n_classes);
void spx_mdm_free(spx_mdm *m);
/* Mean iteration parameters (default spx_spd_mean_params_default). */
void spx_mdm_set_mean_params(spx_mdm *m, const spx_spd_mean_params *p);

/* covs: count x dim x dim; labels in [0, n_classes). Every class needs at least one matrix.
 * Returns 0, -EINVAL, -EDOM (a matrix not SPD) or -EIO. */
int spx_mdm_fit(spx_mdm *m, const double *covs, const int *labels, size_t count);
/* Installs class means directly (n_classes x dim x dim), e.g. restored from a snapshot. */
int spx_mdm_set_means(spx_mdm *m, const double *means);
/* n_classes x dim x dim, valid while m lives; NULL before fit. */
const double *spx_mdm_means(const spx_mdm *m);

/* Squared distances to each class mean (n_classes). */
int spx_mdm_distances2(spx_mdm *m, const double *cov, double *dist2);
/* label: nearest class; proba (n_classes, may be NULL): softmax(-d^2). */
int spx_mdm_predict(spx_mdm *m, const double *cov, double *proba, int *label);

#endif
