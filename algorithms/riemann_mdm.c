#include "riemann_mdm.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct spx_mdm {
    size_t dim, n_classes;
    int fitted;
    spx_spd_mean_params mean_params;
    spx_spd_ws *ws;
    spx_spd_ref **refs;
    double *means;      /* n_classes x dim x dim */
    double *d2;         /* n_classes */
    double *weights;    /* grows to the training set size; fit only */
    size_t weights_cap;
};

int spx_mdm_create(spx_mdm **out, size_t dim, size_t n_classes)
{
    if (!out || dim == 0 || n_classes < 2 || n_classes > 1024)
        return -EINVAL;
    *out = NULL;
    spx_mdm *m = calloc(1, sizeof *m);
    if (!m)
        return -ENOMEM;
    m->dim = dim;
    m->n_classes = n_classes;
    spx_spd_mean_params_default(&m->mean_params);
    int rc = spx_spd_ws_create(&m->ws, dim);
    m->refs = calloc(n_classes, sizeof *m->refs);
    m->means = malloc(n_classes * dim * dim * sizeof *m->means);
    m->d2 = malloc(n_classes * sizeof *m->d2);
    if (rc || !m->refs || !m->means || !m->d2) {
        spx_mdm_free(m);
        return rc ? rc : -ENOMEM;
    }
    for (size_t k = 0; k < n_classes; k++) {
        rc = spx_spd_ref_create(&m->refs[k], dim);
        if (rc) {
            spx_mdm_free(m);
            return rc;
        }
    }
    *out = m;
    return 0;
}

void spx_mdm_free(spx_mdm *m)
{
    if (!m)
        return;
    if (m->refs)
        for (size_t k = 0; k < m->n_classes; k++)
            spx_spd_ref_free(m->refs[k]);
    free(m->refs);
    spx_spd_ws_free(m->ws);
    free(m->means);
    free(m->d2);
    free(m->weights);
    free(m);
}

void spx_mdm_set_mean_params(spx_mdm *m, const spx_spd_mean_params *p)
{
    if (m && p)
        m->mean_params = *p;
}

static int prepare_refs(spx_mdm *m)
{
    size_t nn = m->dim * m->dim;
    for (size_t k = 0; k < m->n_classes; k++) {
        int rc = spx_spd_ref_set(m->refs[k], m->means + k * nn);
        if (rc)
            return rc;
    }
    m->fitted = 1;
    return 0;
}

int spx_mdm_fit(spx_mdm *m, const double *covs, const int *labels, size_t count)
{
    if (!m || !covs || !labels || count == 0)
        return -EINVAL;
    for (size_t i = 0; i < count; i++)
        if (labels[i] < 0 || (size_t)labels[i] >= m->n_classes)
            return -EINVAL;
    if (count > m->weights_cap) {
        double *w = realloc(m->weights, count * sizeof *w);
        if (!w)
            return -ENOMEM;
        m->weights = w;
        m->weights_cap = count;
    }
    m->fitted = 0;
    size_t nn = m->dim * m->dim;
    for (size_t k = 0; k < m->n_classes; k++) {
        size_t nk = 0;
        for (size_t i = 0; i < count; i++) {
            m->weights[i] = (size_t)labels[i] == k ? 1.0 : 0.0;
            nk += (size_t)labels[i] == k;
        }
        if (nk == 0)
            return -EINVAL;
        int rc = spx_spd_mean_riemann(m->ws, covs, count, m->weights, &m->mean_params,
                                      m->means + k * nn, NULL);
        if (rc)
            return rc;
    }
    return prepare_refs(m);
}

int spx_mdm_set_means(spx_mdm *m, const double *means)
{
    if (!m || !means)
        return -EINVAL;
    memcpy(m->means, means, m->n_classes * m->dim * m->dim * sizeof *means);
    m->fitted = 0;
    return prepare_refs(m);
}

const double *spx_mdm_means(const spx_mdm *m) { return m && m->fitted ? m->means : NULL; }

int spx_mdm_distances2(spx_mdm *m, const double *cov, double *dist2)
{
    if (!m || !cov || !dist2 || !m->fitted)
        return -EINVAL;
    for (size_t k = 0; k < m->n_classes; k++) {
        int rc = spx_spd_ref_distance2(m->refs[k], cov, dist2 + k);
        if (rc)
            return rc;
    }
    return 0;
}

int spx_mdm_predict(spx_mdm *m, const double *cov, double *proba, int *label)
{
    if (!m || !cov || !label)
        return -EINVAL;
    int rc = spx_mdm_distances2(m, cov, m->d2);
    if (rc)
        return rc;
    size_t best = 0;
    for (size_t k = 1; k < m->n_classes; k++)
        if (m->d2[k] < m->d2[best])
            best = k;
    *label = (int)best;
    if (proba) {
        /* softmax(-d^2), shifted by the smallest d^2 so the largest term is exp(0). */
        double s = 0;
        for (size_t k = 0; k < m->n_classes; k++) {
            proba[k] = exp(-(m->d2[k] - m->d2[best]));
            s += proba[k];
        }
        for (size_t k = 0; k < m->n_classes; k++)
            proba[k] /= s;
    }
    return 0;
}
