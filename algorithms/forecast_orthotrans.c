#include "forecast_orthotrans.h"

#include <cblas.h>
#include <errno.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int spx_forecast_ortho_init(spx_forecast_ortho *o, size_t lookback, size_t channels, size_t rank)
{
    if (!o)
        return -EINVAL;
    memset(o, 0, sizeof *o);
    if (lookback < 1 || channels < 1 || rank < 1 || rank > lookback)
        return -EINVAL;
    o->lookback = lookback;
    o->channels = channels;
    o->rank = rank;
    const size_t l = lookback;
    o->outer = calloc(l * l, sizeof *o->outer);
    o->sums = calloc(channels * l, sizeof *o->sums);
    o->corr = malloc(l * l * sizeof *o->corr);
    o->evals = malloc(l * sizeof *o->evals);
    o->q = malloc(l * rank * sizeof *o->q);
    o->q1 = malloc(rank * sizeof *o->q1);
    if (!o->outer || !o->sums || !o->corr || !o->evals || !o->q || !o->q1)
        goto nomem;
    /* Workspace query once, so compute() never allocates (LAPACKE's high-level and row-major
     * wrappers would; the matrix is symmetric, so column-major is the same matrix). */
    double wq = 0.0;
    lapack_int iwq = 0;
    if (LAPACKE_dsyevd_work(LAPACK_COL_MAJOR, 'V', 'L', (lapack_int)l, o->corr, (lapack_int)l,
                            o->evals, &wq, -1, &iwq, -1) != 0)
        goto nomem;
    o->lwork = (int)wq + 1;
    o->liwork = (int)iwq + 1;
    o->work = malloc((size_t)o->lwork * sizeof *o->work);
    o->iwork = malloc((size_t)o->liwork * sizeof *o->iwork);
    if (!o->work || !o->iwork)
        goto nomem;
    return 0;
nomem:
    spx_forecast_ortho_free(o);
    return -ENOMEM;
}

void spx_forecast_ortho_free(spx_forecast_ortho *o)
{
    if (!o)
        return;
    free(o->outer);
    free(o->sums);
    free(o->corr);
    free(o->evals);
    free(o->q);
    free(o->q1);
    free(o->work);
    free(o->iwork);
    memset(o, 0, sizeof *o);
}

void spx_forecast_ortho_add(spx_forecast_ortho *o, size_t c, const double *win, size_t nw,
                            size_t ld, double scale)
{
    const size_t l = o->lookback;
    if (nw == 0)
        return;
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)l, (int)nw, scale * scale, win, (int)ld,
                1.0, o->outer, (int)l);
    double *s = o->sums + c * l;
    for (size_t i = 0; i < nw; i++) {
        const double *w = win + i * ld;
        for (size_t j = 0; j < l; j++)
            s[j] += scale * w[j];
    }
    if (c == 0)
        o->count += (double)nw;
}

void spx_forecast_ortho_decay(spx_forecast_ortho *o, double f)
{
    const size_t l = o->lookback;
    for (size_t i = 0; i < l; i++)
        for (size_t j = i; j < l; j++)
            o->outer[i * l + j] *= f;
    for (size_t i = 0; i < o->channels * l; i++)
        o->sums[i] *= f;
    o->count *= f;
}

int spx_forecast_ortho_compute(spx_forecast_ortho *o)
{
    const size_t l = o->lookback, r = o->rank;
    double *a = o->corr;
    if (!(o->count > 0.0))
        return -EDOM;
    /* a = sum_c sum_w (w - m_c)(w - m_c)^T = outer - sum_c s_c s_c^T / n (upper triangle). */
    memcpy(a, o->outer, l * l * sizeof *a);
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)l, (int)o->channels, -1.0 / o->count,
                o->sums, (int)l, 1.0, a, (int)l);
    /* Pearson; a lag with no variance gets an isolated unit diagonal. */
    for (size_t i = 0; i < l; i++)
        o->evals[i] = a[i * l + i] > 0.0 ? 1.0 / sqrt(a[i * l + i]) : 0.0;
    for (size_t i = 0; i < l; i++) {
        for (size_t j = i; j < l; j++) {
            double v = a[i * l + j] * o->evals[i] * o->evals[j];
            if (i == j)
                v = 1.0;
            a[i * l + j] = v;
            a[j * l + i] = v;
        }
    }
    if (LAPACKE_dsyevd_work(LAPACK_COL_MAJOR, 'V', 'L', (lapack_int)l, a, (lapack_int)l, o->evals,
                            o->work, o->lwork, o->iwork, o->liwork) != 0)
        return -EDOM;
    /* Ascending from LAPACK; eigenvector j is contiguous at a + j * l. */
    for (size_t k = 0; k < r; k++) {
        const double *v = a + (l - 1 - k) * l;
        size_t imax = 0;
        for (size_t i = 1; i < l; i++)
            if (fabs(v[i]) > fabs(v[imax]))
                imax = i;
        const double sgn = v[imax] < 0.0 ? -1.0 : 1.0;
        double s1 = 0.0;
        for (size_t i = 0; i < l; i++) {
            o->q[i * r + k] = sgn * v[i];
            s1 += sgn * v[i];
        }
        o->q1[k] = s1;
    }
    /* evals descending (in place: reverse). */
    for (size_t i = 0; i < l / 2; i++) {
        const double t = o->evals[i];
        o->evals[i] = o->evals[l - 1 - i];
        o->evals[l - 1 - i] = t;
    }
    for (size_t i = 0; i < l; i++)
        if (!isfinite(o->evals[i]))
            return -EDOM;
    return 0;
}
