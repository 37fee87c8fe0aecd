#include "covariance.h"

#include <cblas.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct spx_cov {
    spx_cov_params p;
    size_t dim;     /* C * order */
    size_t n;       /* columns of the augmented matrix */
    double *y;      /* dim x n, row-major: the (centred) augmented matrix */
    double *colsq;  /* n: squared column norms, for Ledoit-Wolf */
};

void spx_cov_params_default(spx_cov_params *p, size_t channels, size_t samples)
{
    memset(p, 0, sizeof *p);
    p->channels = channels;
    p->samples = samples;
    p->estimator = SPX_COV_OAS;
    p->order = 1;
    p->lag = 1;
}

int spx_cov_create(spx_cov **out, const spx_cov_params *p)
{
    if (!out || !p || p->channels == 0 || p->samples < 2 || p->order == 0 || p->lag == 0)
        return -EINVAL;
    *out = NULL;
    if (p->estimator != SPX_COV_SAMPLE && p->estimator != SPX_COV_LEDOIT_WOLF &&
        p->estimator != SPX_COV_OAS)
        return -EINVAL;
    if (p->order > 1 && (p->lag > p->samples / p->order || p->order * p->lag + 2 > p->samples))
        return -EINVAL;
    if (p->channels > 1u << 16 || p->order > 1u << 10)
        return -EINVAL;
    spx_cov *c = calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    c->p = *p;
    c->dim = p->channels * p->order;
    c->n = p->order == 1 ? p->samples : p->samples - p->order * p->lag;
    c->y = malloc(c->dim * c->n * sizeof *c->y);
    c->colsq = malloc(c->n * sizeof *c->colsq);
    if (!c->y || !c->colsq) {
        spx_cov_free(c);
        return -ENOMEM;
    }
    *out = c;
    return 0;
}

void spx_cov_free(spx_cov *c)
{
    if (!c)
        return;
    free(c->y);
    free(c->colsq);
    free(c);
}

size_t spx_cov_dim(const spx_cov *c) { return c ? c->dim : 0; }
size_t spx_cov_effective_samples(const spx_cov *c) { return c ? c->n : 0; }

static double frobenius2(const double *s, size_t p)
{
    double f = 0;
    for (size_t i = 0; i < p * p; i++)
        f += s[i] * s[i];
    return f;
}

static double trace(const double *s, size_t p)
{
    double t = 0;
    for (size_t i = 0; i < p; i++)
        t += s[i * p + i];
    return t;
}

double spx_cov_oas_shrinkage(const double *s, size_t p, size_t n)
{
    double pp = (double)p;
    double mu = trace(s, p) / pp;
    double alpha = frobenius2(s, p) / (pp * pp);
    double num = alpha + mu * mu;
    double den = ((double)n + 1.0) * (alpha - mu * mu / pp);
    if (den == 0)
        return 1.0;
    double sh = num / den;
    return sh < 1.0 ? sh : 1.0;
}

double spx_cov_ledoit_wolf_shrinkage(const double *s, size_t p, size_t n, double sum_norm4)
{
    if (p == 1)
        return 0.0;
    double pp = (double)p, nn = (double)n;
    double tr = trace(s, p), mu = tr / pp, f2 = frobenius2(s, p);
    double delta = (f2 - 2.0 * mu * tr + pp * mu * mu) / pp;
    double beta = (sum_norm4 / nn - f2) / (pp * nn);
    /* S already equals the target mu I (delta = 0): sklearn would divide by zero here. */
    if (!(delta > 0))
        return 0.0;
    if (beta > delta)
        beta = delta;
    return beta == 0 ? 0.0 : beta / delta;
}

int spx_cov_compute(spx_cov *c, const double *x, size_t ldx, double *cov, double *shrinkage)
{
    if (!c || !x || !cov || ldx < c->p.samples)
        return -EINVAL;
    size_t C = c->p.channels, n = c->n, dim = c->dim;
    /* Assemble Y: block p holds X[:, p*lag : p*lag + n] (order 1: the whole epoch). */
    for (size_t blk = 0; blk < c->p.order; blk++) {
        size_t off = c->p.order == 1 ? 0 : blk * c->p.lag;
        for (size_t ch = 0; ch < C; ch++) {
            double *dst = c->y + (blk * C + ch) * n;
            const double *src = x + ch * ldx + off;
            if (c->p.assume_centered) {
                memcpy(dst, src, n * sizeof *dst);
            } else {
                double m = 0;
                for (size_t t = 0; t < n; t++)
                    m += src[t];
                m /= (double)n;
                for (size_t t = 0; t < n; t++)
                    dst[t] = src[t] - m;
            }
        }
    }
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, (int)dim, (int)n, 1.0 / (double)n, c->y,
                (int)n, 0.0, cov, (int)dim);
    for (size_t i = 0; i < dim; i++)
        for (size_t j = 0; j < i; j++)
            cov[i * dim + j] = cov[j * dim + i];

    double sh = 0.0;
    if (c->p.estimator == SPX_COV_OAS) {
        sh = spx_cov_oas_shrinkage(cov, dim, n);
    } else if (c->p.estimator == SPX_COV_LEDOIT_WOLF) {
        memset(c->colsq, 0, n * sizeof *c->colsq);
        for (size_t r = 0; r < dim; r++) {
            const double *row = c->y + r * n;
            for (size_t t = 0; t < n; t++)
                c->colsq[t] += row[t] * row[t];
        }
        double s4 = 0;
        for (size_t t = 0; t < n; t++)
            s4 += c->colsq[t] * c->colsq[t];
        sh = spx_cov_ledoit_wolf_shrinkage(cov, dim, n, s4);
    }
    if (sh != 0.0) {
        double mu = trace(cov, dim) / (double)dim;
        for (size_t i = 0; i < dim * dim; i++)
            cov[i] *= 1.0 - sh;
        for (size_t i = 0; i < dim; i++)
            cov[i * dim + i] += sh * mu;
    }
    if (shrinkage)
        *shrinkage = sh;
    return 0;
}
