/* OrthoTrans (Yue et al., OLinear): an orthonormal basis for length-L windows from their temporal
 * Pearson correlation.
 *
 * Windows of every channel are pooled: each channel's windows are scaled by the caller (1 / its
 * std) and centred by that channel's mean window, the pooled covariance is turned into a Pearson
 * correlation (divided by sqrt(c_ii c_jj)), and Q holds its eigenvectors by descending eigenvalue.
 * OLinear averages per-channel Pearson matrices instead; for channels scaled to unit variance the
 * two agree up to how each channel's window variance departs from its overall variance, and the
 * pooled form needs one L x L accumulator instead of C, which is what lets it be refreshed online.
 *
 * Eigenvectors are sign-normalised (largest-magnitude entry positive) so Q is reproducible. */
#ifndef SPX_FORECAST_ORTHOTRANS_H
#define SPX_FORECAST_ORTHOTRANS_H

#include <stddef.h>

typedef struct spx_forecast_ortho {
    size_t lookback, channels, rank;
    double count;   /* windows per channel accumulated (weighted) */
    double *outer;  /* L x L, upper triangle: sum of w w^T over windows and channels */
    double *sums;   /* C x L: per-channel sum of windows */
    double *corr;   /* L x L work; eigenvectors (column-major) after compute */
    double *evals;  /* L, descending after compute */
    double *q;      /* L x r row-major: column k = component k */
    double *q1;     /* r: Q^T 1, for shifting windows after the transform */
    double *work;
    int *iwork;
    int lwork, liwork;
} spx_forecast_ortho;

int spx_forecast_ortho_init(spx_forecast_ortho *o, size_t lookback, size_t channels, size_t rank);
void spx_forecast_ortho_free(spx_forecast_ortho *o);

/* Adds nw windows of channel c (row i at win + i * ld, L values each), each multiplied by scale.
 * count advances once per window of channel 0, so call it for every channel with the same nw. */
void spx_forecast_ortho_add(spx_forecast_ortho *o, size_t c, const double *win, size_t nw,
                            size_t ld, double scale);

/* Multiplies the accumulated statistics by f in (0, 1] (exponential forgetting). */
void spx_forecast_ortho_decay(spx_forecast_ortho *o, double f);

/* Recomputes q, q1 and evals from the statistics. Returns 0 or -EDOM. */
int spx_forecast_ortho_compute(spx_forecast_ortho *o);

#endif
