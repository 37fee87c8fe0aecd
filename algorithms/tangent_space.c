#include "tangent_space.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct spx_tangent {
    size_t dim;
    int has_ref;
    spx_spd_ws *ws;
    double *ref, *ref_sqrt, *ref_isqrt, *tmp;
};

size_t spx_tangent_n_features(size_t dim) { return dim * (dim + 1) / 2; }

int spx_tangent_create(spx_tangent **out, size_t dim)
{
    if (!out || dim == 0)
        return -EINVAL;
    *out = NULL;
    spx_tangent *t = calloc(1, sizeof *t);
    if (!t)
        return -ENOMEM;
    t->dim = dim;
    int rc = spx_spd_ws_create(&t->ws, dim);
    size_t nn = dim * dim;
    t->ref = malloc(nn * sizeof *t->ref);
    t->ref_sqrt = malloc(nn * sizeof *t->ref_sqrt);
    t->ref_isqrt = malloc(nn * sizeof *t->ref_isqrt);
    t->tmp = malloc(nn * sizeof *t->tmp);
    if (rc || !t->ref || !t->ref_sqrt || !t->ref_isqrt || !t->tmp) {
        spx_tangent_free(t);
        return rc ? rc : -ENOMEM;
    }
    *out = t;
    return 0;
}

void spx_tangent_free(spx_tangent *t)
{
    if (!t)
        return;
    spx_spd_ws_free(t->ws);
    free(t->ref);
    free(t->ref_sqrt);
    free(t->ref_isqrt);
    free(t->tmp);
    free(t);
}

int spx_tangent_set_reference(spx_tangent *t, const double *ref)
{
    if (!t || !ref)
        return -EINVAL;
    t->has_ref = 0;
    if (ref != t->ref)
        memcpy(t->ref, ref, t->dim * t->dim * sizeof *ref);
    int rc = spx_spd_sqrt_invsqrt(t->ws, t->ref, t->ref_sqrt, t->ref_isqrt);
    if (rc)
        return rc;
    t->has_ref = 1;
    return 0;
}

int spx_tangent_fit(spx_tangent *t, const double *covs, size_t count,
                    const spx_spd_mean_params *params)
{
    if (!t || !covs || count == 0)
        return -EINVAL;
    t->has_ref = 0;
    int rc = spx_spd_mean_riemann(t->ws, covs, count, NULL, params, t->ref, NULL);
    if (rc)
        return rc;
    return spx_tangent_set_reference(t, t->ref);
}

const double *spx_tangent_reference(const spx_tangent *t)
{
    return t && t->has_ref ? t->ref : NULL;
}

int spx_tangent_transform(spx_tangent *t, const double *cov, double *vec)
{
    if (!t || !cov || !vec || !t->has_ref)
        return -EINVAL;
    int rc = spx_spd_congruence(t->ws, t->ref_isqrt, cov, t->tmp);
    if (rc)
        return rc;
    rc = spx_spd_log(t->ws, t->tmp, t->tmp);
    if (rc)
        return rc;
    const size_t n = t->dim;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        vec[k++] = t->tmp[i * n + i];
        for (size_t j = i + 1; j < n; j++)
            vec[k++] = M_SQRT2 * t->tmp[i * n + j];
    }
    return 0;
}

int spx_tangent_inverse(spx_tangent *t, const double *vec, double *cov)
{
    if (!t || !vec || !cov || !t->has_ref)
        return -EINVAL;
    const size_t n = t->dim;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        t->tmp[i * n + i] = vec[k++];
        for (size_t j = i + 1; j < n; j++) {
            double v = vec[k++] / M_SQRT2;
            t->tmp[i * n + j] = v;
            t->tmp[j * n + i] = v;
        }
    }
    int rc = spx_spd_exp(t->ws, t->tmp, t->tmp);
    if (rc)
        return rc;
    return spx_spd_congruence(t->ws, t->ref_sqrt, t->tmp, cov);
}
