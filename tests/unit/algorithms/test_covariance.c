/* Covariance estimators against scikit-learn (committed table) and the augmented covariance
 * against its definition. */
#include <criterion/criterion.h>

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "covariance.h"
#include "eeg_reference_data.h"
#include "rng.h"

static double rel_err(const double *a, const double *b, size_t n)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        num = fmax(num, fabs(a[i] - b[i]));
        den = fmax(den, fabs(b[i]));
    }
    return num / den;
}

static void check_estimator(spx_cov_estimator est, const double *ref, double ref_shrink)
{
    spx_cov_params p;
    spx_cov_params_default(&p, REF_C, REF_T);
    p.estimator = est;
    spx_cov *c;
    cr_assert_eq(spx_cov_create(&c, &p), 0);
    cr_assert_eq(spx_cov_dim(c), REF_C);
    double cov[REF_C * REF_C], sh = -1;
    cr_assert_eq(spx_cov_compute(c, ref_x, REF_T, cov, &sh), 0);
    cr_assert(rel_err(cov, ref, REF_C * REF_C) < 1e-13, "estimator %d: %g", est,
              rel_err(cov, ref, REF_C * REF_C));
    cr_assert(fabs(sh - ref_shrink) < 1e-13, "shrinkage %.17g vs %.17g", sh, ref_shrink);
    spx_cov_free(c);
}

Test(covariance, sample_matches_sklearn_empirical) { check_estimator(SPX_COV_SAMPLE, ref_cov_sample, 0.0); }
Test(covariance, ledoit_wolf_matches_sklearn) { check_estimator(SPX_COV_LEDOIT_WOLF, ref_cov_lw, ref_lw_shrinkage); }
Test(covariance, oas_matches_sklearn) { check_estimator(SPX_COV_OAS, ref_cov_oas, ref_oas_shrinkage); }

Test(covariance, augmented_oas_matches_reference_slicing)
{
    spx_cov_params p;
    spx_cov_params_default(&p, REF_C, REF_T);
    p.order = REF_ACM_ORDER;
    p.lag = REF_ACM_LAG;
    spx_cov *c;
    cr_assert_eq(spx_cov_create(&c, &p), 0);
    size_t d = spx_cov_dim(c);
    cr_assert_eq(d, REF_C * REF_ACM_ORDER);
    cr_assert_eq(spx_cov_effective_samples(c), REF_T - REF_ACM_ORDER * REF_ACM_LAG);
    double *cov = malloc(d * d * sizeof *cov), sh;
    cr_assert_eq(spx_cov_compute(c, ref_x, REF_T, cov, &sh), 0);
    cr_assert(rel_err(cov, ref_cov_acm_oas, d * d) < 1e-13);
    cr_assert(fabs(sh - ref_acm_oas_shrinkage) < 1e-13);
    free(cov);
    spx_cov_free(c);
}

Test(covariance, augmented_blocks_are_lagged_cross_covariances)
{
    /* Block (p, q) of the sample ACM is the cross-covariance of X delayed by p*lag and q*lag over
     * the common window, computed here directly; a leading dimension > T is honoured. */
    enum { C = 3, T = 50, LD = 57, ORDER = 4, LAG = 3 };
    double x[C * LD];
    spx_rng r;
    spx_rng_seed(&r, 3);
    spx_rng_normal_fill(&r, x, C * LD);
    spx_cov_params p;
    spx_cov_params_default(&p, C, T);
    p.estimator = SPX_COV_SAMPLE;
    p.order = ORDER;
    p.lag = LAG;
    spx_cov *c;
    cr_assert_eq(spx_cov_create(&c, &p), 0);
    const size_t n = T - ORDER * LAG, d = C * ORDER;
    double cov[C * ORDER * C * ORDER];
    cr_assert_eq(spx_cov_compute(c, x, LD, cov, NULL), 0);
    for (size_t bp = 0; bp < ORDER; bp++)
        for (size_t bq = 0; bq < ORDER; bq++)
            for (size_t i = 0; i < C; i++)
                for (size_t j = 0; j < C; j++) {
                    const double *xi = x + i * LD + bp * LAG, *xj = x + j * LD + bq * LAG;
                    double mi = 0, mj = 0, s = 0;
                    for (size_t t = 0; t < n; t++) { mi += xi[t]; mj += xj[t]; }
                    mi /= n; mj /= n;
                    for (size_t t = 0; t < n; t++) s += (xi[t] - mi) * (xj[t] - mj);
                    double got = cov[(bp * C + i) * d + bq * C + j];
                    cr_assert(fabs(got - s / n) < 1e-13, "(%zu,%zu) %zu %zu", bp, bq, i, j);
                }
    spx_cov_free(c);
    /* Order 1 ignores the lag and uses the whole epoch. */
    p.order = 1;
    p.lag = 9;
    cr_assert_eq(spx_cov_create(&c, &p), 0);
    cr_assert_eq(spx_cov_effective_samples(c), T);
    spx_cov_free(c);
}

Test(covariance, shrinkage_properties)
{
    /* Few samples in many dimensions: OAS and LW shrink, the result is SPD-ish (positive diagonal
     * dominance after shrinkage), the trace is preserved. */
    enum { C = 16, T = 10 };
    double x[C * T], s[C * C], o[C * C];
    spx_rng r;
    spx_rng_seed(&r, 4);
    spx_rng_normal_fill(&r, x, C * T);
    spx_cov_params p;
    spx_cov_params_default(&p, C, T);
    spx_cov *cs, *co;
    p.estimator = SPX_COV_SAMPLE;
    cr_assert_eq(spx_cov_create(&cs, &p), 0);
    p.estimator = SPX_COV_OAS;
    cr_assert_eq(spx_cov_create(&co, &p), 0);
    double sh;
    cr_assert_eq(spx_cov_compute(cs, x, T, s, NULL), 0);
    cr_assert_eq(spx_cov_compute(co, x, T, o, &sh), 0);
    cr_assert(sh > 0.2 && sh <= 1.0, "%g", sh);
    double ts = 0, to = 0;
    for (size_t i = 0; i < C; i++) { ts += s[i * C + i]; to += o[i * C + i]; }
    cr_assert(fabs(ts - to) < 1e-12 * ts);
    cr_assert(fabs(spx_cov_oas_shrinkage(s, C, T) - sh) < 1e-15);
    /* S = mu I is its own target: no shrinkage (and no division by zero). */
    double id[4] = {2, 0, 0, 2};
    cr_assert(spx_cov_ledoit_wolf_shrinkage(id, 2, 100, 0.0) == 0.0);
    spx_cov_free(cs);
    spx_cov_free(co);
}

Test(covariance, rejects_bad_parameters)
{
    spx_cov_params p;
    spx_cov *c;
    spx_cov_params_default(&p, 4, 20);
    p.order = 5;
    p.lag = 4; /* 20 samples cannot hold 5 blocks dropping 20 */
    cr_assert_eq(spx_cov_create(&c, &p), -EINVAL);
    spx_cov_params_default(&p, 0, 20);
    cr_assert_eq(spx_cov_create(&c, &p), -EINVAL);
    spx_cov_params_default(&p, 4, 20);
    p.estimator = (spx_cov_estimator)7;
    cr_assert_eq(spx_cov_create(&c, &p), -EINVAL);
}
