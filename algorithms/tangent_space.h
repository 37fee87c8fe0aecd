/* Tangent-space mapping of SPD matrices (Barachant et al. 2013; pyRiemann's TangentSpace):
 * v = upper triangle of logm(R^-1/2 C R^-1/2), row by row (i <= j), off-diagonal entries times
 * sqrt(2) so that ||v||_2 = ||logm(.)||_F. The reference R is the Riemannian mean of the training
 * matrices (spx_tangent_fit) or given (spx_tangent_set_reference).
 *
 * All memory is allocated in spx_tangent_create; transform never allocates. */
#ifndef SPX_TANGENT_SPACE_H
#define SPX_TANGENT_SPACE_H

#include <stddef.h>

#include "spd.h"

typedef struct spx_tangent spx_tangent;

/* Number of tangent features for dim x dim matrices: dim (dim + 1) / 2. */
size_t spx_tangent_n_features(size_t dim);

int spx_tangent_create(spx_tangent **out, size_t dim);
void spx_tangent_free(spx_tangent *t);

/* Reference = Riemannian mean of count matrices (params may be NULL for the defaults). */
int spx_tangent_fit(spx_tangent *t, const double *covs, size_t count,
                    const spx_spd_mean_params *params);
int spx_tangent_set_reference(spx_tangent *t, const double *ref);
/* dim x dim; NULL before a reference is set. */
const double *spx_tangent_reference(const spx_tangent *t);

/* vec: spx_tangent_n_features(dim) values. Returns 0, -EINVAL (no reference), -EDOM, -EIO. */
int spx_tangent_transform(spx_tangent *t, const double *cov, double *vec);
/* Inverse map: cov = R^1/2 expm(unvec(vec)) R^1/2. */
int spx_tangent_inverse(spx_tangent *t, const double *vec, double *cov);

#endif
