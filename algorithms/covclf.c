#include "covclf.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "logreg.h"
#include "riemann_mdm.h"
#include "rng.h"
#include "tangent_space.h"

struct spx_covclf {
    spx_covclf_params p;
    size_t dim, n_features;
    spx_cov *cov;
    spx_mdm *mdm;
    spx_tangent *ts;
    spx_logreg *lr;
    double *cov_buf;    /* dim x dim: predict */
    double *feat;       /* n_features: predict's tangent vector */
};

void spx_covclf_params_default(spx_covclf_params *p, size_t channels, size_t samples)
{
    memset(p, 0, sizeof *p);
    p->channels = channels;
    p->samples = samples;
    p->estimator = SPX_COV_OAS;
    p->order = 1;
    p->lag = 1;
    p->kind = SPX_COVCLF_MDM;
    p->n_classes = 2;
    p->lr_c = 1.0;
    p->max_train = 256;
    spx_spd_mean_params_default(&p->mean);
}

int spx_covclf_create(spx_covclf **out, const spx_covclf_params *p)
{
    if (!out || !p || p->max_train < 2 || p->n_classes < 2)
        return -EINVAL;
    if (p->kind != SPX_COVCLF_MDM && p->kind != SPX_COVCLF_TS_LR)
        return -EINVAL;
    if (p->kind == SPX_COVCLF_TS_LR && p->n_classes != 2)
        return -EINVAL;
    *out = NULL;
    spx_covclf *c = calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    c->p = *p;
    spx_cov_params cp;
    spx_cov_params_default(&cp, p->channels, p->samples);
    cp.estimator = p->estimator;
    cp.order = p->order;
    cp.lag = p->lag;
    int rc = spx_cov_create(&c->cov, &cp);
    if (rc) {
        free(c);
        return rc;
    }
    c->dim = spx_cov_dim(c->cov);
    size_t nn = c->dim * c->dim;
    c->cov_buf = malloc(nn * sizeof *c->cov_buf);
    if (!c->cov_buf) {
        spx_covclf_free(c);
        return -ENOMEM;
    }
    if (p->kind == SPX_COVCLF_MDM) {
        rc = spx_mdm_create(&c->mdm, c->dim, p->n_classes);
        if (!rc)
            spx_mdm_set_mean_params(c->mdm, &p->mean);
    } else {
        c->n_features = spx_tangent_n_features(c->dim);
        spx_logreg_params lp;
        spx_logreg_params_default(&lp);
        lp.c = p->lr_c;
        rc = spx_tangent_create(&c->ts, c->dim);
        if (!rc)
            rc = spx_logreg_create(&c->lr, c->n_features, p->max_train, &lp);
        if (!rc) {
            c->feat = malloc(c->n_features * sizeof *c->feat);
            if (!c->feat)
                rc = -ENOMEM;
        }
    }
    if (rc) {
        spx_covclf_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

void spx_covclf_free(spx_covclf *c)
{
    if (!c)
        return;
    spx_cov_free(c->cov);
    spx_mdm_free(c->mdm);
    spx_tangent_free(c->ts);
    spx_logreg_free(c->lr);
    free(c->cov_buf);
    free(c->feat);
    free(c);
}

size_t spx_covclf_dim(const spx_covclf *c) { return c ? c->dim : 0; }

int spx_covclf_covariance(spx_covclf *c, const double *x, size_t ldx, double *cov)
{
    if (!c)
        return -EINVAL;
    return spx_cov_compute(c->cov, x, ldx, cov, NULL);
}

int spx_covclf_fit_covs(spx_covclf *c, const double *covs, const int *labels, size_t count)
{
    if (!c || !covs || !labels || count < 2 || count > c->p.max_train)
        return -EINVAL;
    if (c->p.kind == SPX_COVCLF_MDM)
        return spx_mdm_fit(c->mdm, covs, labels, count);
    int rc = spx_tangent_fit(c->ts, covs, count, &c->p.mean);
    if (rc)
        return rc;
    /* The training features live only while fitting: count x dim (dim+1)/2 can be large. */
    size_t nn = c->dim * c->dim;
    double *feat = malloc(count * c->n_features * sizeof *feat);
    if (!feat)
        return -ENOMEM;
    for (size_t i = 0; !rc && i < count; i++)
        rc = spx_tangent_transform(c->ts, covs + i * nn, feat + i * c->n_features);
    if (!rc)
        rc = spx_logreg_fit(c->lr, feat, labels, count);
    free(feat);
    return rc == -ERANGE ? 0 : rc; /* the last Newton iterate is still a usable model */
}

int spx_covclf_fit(spx_covclf *c, const double *epochs, const int *labels, size_t count)
{
    if (!c || !epochs || !labels || count < 2 || count > c->p.max_train)
        return -EINVAL;
    size_t nn = c->dim * c->dim, ct = c->p.channels * c->p.samples;
    double *covs = malloc(count * nn * sizeof *covs);
    if (!covs)
        return -ENOMEM;
    int rc = 0;
    for (size_t i = 0; !rc && i < count; i++)
        rc = spx_cov_compute(c->cov, epochs + i * ct, c->p.samples, covs + i * nn, NULL);
    if (!rc)
        rc = spx_covclf_fit_covs(c, covs, labels, count);
    free(covs);
    return rc;
}

int spx_covclf_predict_cov(spx_covclf *c, const double *cov, double *proba, int *label)
{
    if (!c || !cov || !label)
        return -EINVAL;
    if (c->p.kind == SPX_COVCLF_MDM)
        return spx_mdm_predict(c->mdm, cov, proba, label);
    int rc = spx_tangent_transform(c->ts, cov, c->feat);
    if (rc)
        return rc;
    double score;
    rc = spx_logreg_decision(c->lr, c->feat, &score);
    if (rc)
        return rc;
    double p1 = spx_logreg_sigmoid(score);
    *label = score > 0 ? 1 : 0;
    if (proba) {
        proba[0] = 1.0 - p1;
        proba[1] = p1;
    }
    return 0;
}

int spx_covclf_predict(spx_covclf *c, const double *x, size_t ldx, double *proba, int *label)
{
    if (!c)
        return -EINVAL;
    int rc = spx_cov_compute(c->cov, x, ldx, c->cov_buf, NULL);
    if (rc)
        return rc;
    return spx_covclf_predict_cov(c, c->cov_buf, proba, label);
}

size_t spx_covclf_state_size(const spx_covclf *c)
{
    if (!c)
        return 0;
    size_t nn = c->dim * c->dim;
    return c->p.kind == SPX_COVCLF_MDM ? c->p.n_classes * nn : nn + c->n_features + 1;
}

int spx_covclf_state_get(const spx_covclf *c, double *state)
{
    if (!c || !state)
        return -EINVAL;
    size_t nn = c->dim * c->dim;
    if (c->p.kind == SPX_COVCLF_MDM) {
        const double *m = spx_mdm_means(c->mdm);
        if (!m)
            return -EINVAL;
        memcpy(state, m, c->p.n_classes * nn * sizeof *state);
        return 0;
    }
    const double *ref = spx_tangent_reference(c->ts);
    double b;
    const double *w = spx_logreg_coef(c->lr, &b);
    if (!ref || !w)
        return -EINVAL;
    memcpy(state, ref, nn * sizeof *state);
    memcpy(state + nn, w, c->n_features * sizeof *state);
    state[nn + c->n_features] = b;
    return 0;
}

int spx_covclf_state_set(spx_covclf *c, const double *state)
{
    if (!c || !state)
        return -EINVAL;
    size_t n = spx_covclf_state_size(c);
    for (size_t i = 0; i < n; i++)
        if (!isfinite(state[i]))
            return -EINVAL;
    if (c->p.kind == SPX_COVCLF_MDM)
        return spx_mdm_set_means(c->mdm, state);
    size_t nn = c->dim * c->dim;
    int rc = spx_tangent_set_reference(c->ts, state);
    if (rc)
        return rc;
    return spx_logreg_set_coef(c->lr, state + nn, state[nn + c->n_features]);
}

const struct spx_mdm *spx_covclf_mdm(const spx_covclf *c) { return c ? c->mdm : NULL; }
const struct spx_tangent *spx_covclf_tangent(const spx_covclf *c) { return c ? c->ts : NULL; }
const struct spx_logreg *spx_covclf_logreg(const spx_covclf *c) { return c ? c->lr : NULL; }

int spx_cv_stratified_folds(const int *labels, size_t n, size_t k, uint64_t seed, int *fold_of)
{
    if (!labels || !fold_of || k < 2 || k > n)
        return -EINVAL;
    int lmax = -1;
    for (size_t i = 0; i < n; i++) {
        if (labels[i] < 0)
            return -EINVAL;
        if (labels[i] > lmax)
            lmax = labels[i];
    }
    size_t *idx = malloc(n * sizeof *idx);
    if (!idx)
        return -ENOMEM;
    spx_rng r;
    spx_rng_seed(&r, seed);
    size_t dealt = 0;
    for (int cls = 0; cls <= lmax; cls++) {
        size_t m = 0;
        for (size_t i = 0; i < n; i++)
            if (labels[i] == cls)
                idx[m++] = i;
        for (size_t i = m; i > 1; i--) { /* Fisher-Yates */
            size_t j = (size_t)spx_rng_below(&r, i);
            size_t t = idx[i - 1];
            idx[i - 1] = idx[j];
            idx[j] = t;
        }
        for (size_t i = 0; i < m; i++)
            fold_of[idx[i]] = (int)(dealt++ % k);
    }
    free(idx);
    return 0;
}

int spx_covclf_cv_accuracy(const spx_covclf_params *p, const double *covs, const int *labels,
                           size_t n, size_t k, size_t repeats, uint64_t seed, double *accuracy)
{
    if (!p || !covs || !labels || !accuracy || repeats == 0 || k < 2 || k > n)
        return -EINVAL;
    spx_covclf_params q = *p;
    q.max_train = n;
    spx_covclf *c;
    int rc = spx_covclf_create(&c, &q);
    if (rc)
        return rc;
    size_t nn = c->dim * c->dim;
    int *fold = malloc(n * sizeof *fold), *tr_lab = malloc(n * sizeof *tr_lab);
    double *tr = malloc(n * nn * sizeof *tr);
    size_t correct = 0, total = 0;
    if (!fold || !tr_lab || !tr)
        rc = -ENOMEM;
    for (size_t rep = 0; !rc && rep < repeats; rep++) {
        rc = spx_cv_stratified_folds(labels, n, k, seed + rep, fold);
        for (size_t f = 0; !rc && f < k; f++) {
            size_t m = 0;
            for (size_t i = 0; i < n; i++)
                if (fold[i] != (int)f) {
                    memcpy(tr + m * nn, covs + i * nn, nn * sizeof *tr);
                    tr_lab[m++] = labels[i];
                }
            rc = spx_covclf_fit_covs(c, tr, tr_lab, m);
            for (size_t i = 0; !rc && i < n; i++) {
                if (fold[i] != (int)f)
                    continue;
                int lab = -1;
                rc = spx_covclf_predict_cov(c, covs + i * nn, NULL, &lab);
                correct += lab == labels[i];
                total++;
            }
        }
    }
    if (!rc)
        *accuracy = (double)correct / (double)total;
    free(fold);
    free(tr_lab);
    free(tr);
    spx_covclf_free(c);
    return rc;
}

int spx_covclf_select_acm(const spx_covclf_params *p, const double *epochs, const int *labels,
                          size_t n, const spx_acm_grid *grid, size_t *best_order,
                          size_t *best_lag, double *scores)
{
    if (!p || !epochs || !labels || !grid || !grid->orders || !grid->lags || !grid->n_orders ||
        !grid->n_lags || !best_order || !best_lag)
        return -EINVAL;
    size_t k = grid->folds ? grid->folds : 5;
    double best = -1;
    size_t bo = 0, bl = 0;
    size_t ct = p->channels * p->samples;
    for (size_t io = 0; io < grid->n_orders; io++) {
        for (size_t il = 0; il < grid->n_lags; il++) {
            size_t order = grid->orders[io], lag = grid->lags[il];
            if (scores)
                scores[io * grid->n_lags + il] = NAN;
            /* order 1 ignores the lag: evaluate it once, with the first lag. */
            if (order == 0 || lag == 0 || order * lag + 2 > p->samples || (order == 1 && il > 0))
                continue;
            spx_cov_params cp;
            spx_cov_params_default(&cp, p->channels, p->samples);
            cp.estimator = p->estimator;
            cp.order = order;
            cp.lag = lag;
            spx_cov *cv;
            int rc = spx_cov_create(&cv, &cp);
            if (rc)
                return rc;
            size_t dim = spx_cov_dim(cv), nn = dim * dim;
            double *covs = malloc(n * nn * sizeof *covs);
            if (!covs) {
                spx_cov_free(cv);
                return -ENOMEM;
            }
            for (size_t i = 0; !rc && i < n; i++)
                rc = spx_cov_compute(cv, epochs + i * ct, p->samples, covs + i * nn, NULL);
            spx_cov_free(cv);
            spx_covclf_params q = *p;
            q.order = order;
            q.lag = lag;
            double acc = 0;
            if (!rc)
                rc = spx_covclf_cv_accuracy(&q, covs, labels, n, k, 1, grid->seed, &acc);
            free(covs);
            if (rc)
                return rc;
            if (scores)
                scores[io * grid->n_lags + il] = acc;
            int better = acc > best ||
                         (acc == best && (order * lag < bo * bl ||
                                          (order * lag == bo * bl && order < bo)));
            if (better) {
                best = acc;
                bo = order;
                bl = lag;
            }
        }
    }
    if (best < 0)
        return -EINVAL;
    *best_order = bo;
    *best_lag = bl;
    return 0;
}
