/* MDM, tangent space, logistic regression (against scikit-learn), and the covariance classifier
 * with its cross-validation / (order, lag) selection helpers. */
#include <criterion/criterion.h>

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "covclf.h"
#include "eeg_reference_data.h"
#include "logreg.h"
#include "riemann_mdm.h"
#include "rng.h"
#include "spd.h"
#include "tangent_space.h"

/* SPD matrix A^1/2 W A^1/2 with W a Wishart(I, dof)/dof sample: scattered around A. */
static void sample_around(spx_rng *r, spx_spd_ws *ws, size_t n, const double *a_sqrt, size_t dof,
                          double *out)
{
    double *g = malloc(n * dof * sizeof *g), *w = calloc(n * n, sizeof *w);
    spx_rng_normal_fill(r, g, n * dof);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) {
            double s = 0;
            for (size_t k = 0; k < dof; k++) s += g[i * dof + k] * g[j * dof + k];
            w[i * n + j] = s / (double)dof;
        }
    cr_assert_eq(spx_spd_congruence(ws, a_sqrt, w, out), 0);
    free(g);
    free(w);
}

static void random_spd(spx_rng *r, size_t n, double *a)
{
    double *g = malloc(n * 2 * n * sizeof *g);
    spx_rng_normal_fill(r, g, 2 * n * n);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) {
            double s = i == j ? 0.5 : 0.0;
            for (size_t k = 0; k < 2 * n; k++) s += g[i * 2 * n + k] * g[j * 2 * n + k] / (2.0 * n);
            a[i * n + j] = s;
        }
    free(g);
}

/* --- logistic regression --------------------------------------------------------------- */

static void check_logreg(const double *x, const int *y, size_t n, size_t d, const double *wref,
                         double bref)
{
    spx_logreg *lr;
    cr_assert_eq(spx_logreg_create(&lr, d, n, NULL), 0);
    cr_assert_eq(spx_logreg_fit(lr, x, y, n), 0);
    double b;
    const double *w = spx_logreg_coef(lr, &b);
    cr_assert_not_null(w);
    double wmax = fabs(bref);
    for (size_t j = 0; j < d; j++) wmax = fmax(wmax, fabs(wref[j]));
    for (size_t j = 0; j < d; j++)
        cr_assert(fabs(w[j] - wref[j]) < 1e-6 * wmax, "w[%zu] %.12g vs sklearn %.12g", j, w[j], wref[j]);
    cr_assert(fabs(b - bref) < 1e-6 * wmax, "b %.12g vs sklearn %.12g", b, bref);
    /* Stationarity of the primal objective, computed here directly: w = C sum_i s_i q_i x_i. */
    double *g = calloc(d + 1, sizeof *g);
    for (size_t i = 0; i < n; i++) {
        double f = b;
        for (size_t j = 0; j < d; j++) f += w[j] * x[i * d + j];
        double s = y[i] ? 1 : -1, q = 1.0 / (1.0 + exp(s * f));
        for (size_t j = 0; j < d; j++) g[j] -= s * q * x[i * d + j];
        g[d] -= s * q;
    }
    for (size_t j = 0; j < d; j++) cr_assert(fabs(g[j] + w[j]) < 1e-7, "grad %zu", j);
    cr_assert(fabs(g[d]) < 1e-7);
    free(g);
    spx_logreg_free(lr);
}

Test(logreg, matches_sklearn_tall)
{
    check_logreg(ref_lr_tall_x, ref_lr_tall_y, REF_LR_TALL_N, REF_LR_TALL_D, ref_lr_tall_w, ref_lr_tall_b);
}

Test(logreg, matches_sklearn_wide_row_space_newton)
{
    check_logreg(ref_lr_wide_x, ref_lr_wide_y, REF_LR_WIDE_N, REF_LR_WIDE_D, ref_lr_wide_w, ref_lr_wide_b);
}

Test(logreg, rejects_single_class_and_bad_sizes)
{
    spx_logreg *lr;
    cr_assert_eq(spx_logreg_create(&lr, 3, 4, NULL), 0);
    double x[12] = {0};
    int y[4] = {1, 1, 1, 1};
    cr_assert_eq(spx_logreg_fit(lr, x, y, 4), -EINVAL);
    cr_assert_eq(spx_logreg_fit(lr, x, y, 5), -EINVAL);
    double s;
    cr_assert_eq(spx_logreg_decision(lr, x, &s), -EINVAL);
    spx_logreg_free(lr);
}

/* --- tangent space --------------------------------------------------------------------- */

Test(tangent, identity_reference_gives_scaled_upper_triangle_of_log)
{
    enum { D = 4 };
    double s[D * D], c[D * D], v[D * (D + 1) / 2], id[D * D] = {0}, back[D * D];
    for (size_t i = 0; i < D; i++) id[i * D + i] = 1;
    spx_rng r;
    spx_rng_seed(&r, 21);
    spx_rng_normal_fill(&r, s, D * D);
    for (size_t i = 0; i < D; i++)
        for (size_t j = 0; j < i; j++) s[i * D + j] = s[j * D + i];
    spx_spd_ws *ws;
    cr_assert_eq(spx_spd_ws_create(&ws, D), 0);
    cr_assert_eq(spx_spd_exp(ws, s, c), 0);
    spx_tangent *t;
    cr_assert_eq(spx_tangent_create(&t, D), 0);
    cr_assert_eq(spx_tangent_transform(t, c, v), -EINVAL); /* no reference yet */
    cr_assert_eq(spx_tangent_set_reference(t, id), 0);
    cr_assert_eq(spx_tangent_transform(t, c, v), 0);
    size_t k = 0;
    for (size_t i = 0; i < D; i++)
        for (size_t j = i; j < D; j++, k++) {
            double expect = (i == j ? 1.0 : sqrt(2.0)) * s[i * D + j];
            cr_assert(fabs(v[k] - expect) < 1e-12, "(%zu,%zu)", i, j);
        }
    cr_assert_eq(spx_tangent_inverse(t, v, back), 0);
    for (size_t i = 0; i < D * D; i++) cr_assert(fabs(back[i] - c[i]) < 1e-12 * fabs(c[0]) + 1e-12);
    spx_tangent_free(t);
    spx_spd_ws_free(ws);
}

Test(tangent, norm_is_distance_to_reference_and_mean_maps_to_zero_sum)
{
    enum { D = 6, K = 8 };
    spx_rng r;
    spx_rng_seed(&r, 22);
    double covs[K * D * D], v[D * (D + 1) / 2], sum[D * (D + 1) / 2] = {0}, back[D * D];
    for (size_t k = 0; k < K; k++) random_spd(&r, D, covs + k * D * D);
    spx_tangent *t;
    spx_spd_ws *ws;
    cr_assert_eq(spx_tangent_create(&t, D), 0);
    cr_assert_eq(spx_spd_ws_create(&ws, D), 0);
    cr_assert_eq(spx_tangent_fit(t, covs, K, NULL), 0);
    const double *ref = spx_tangent_reference(t);
    cr_assert_not_null(ref);
    for (size_t k = 0; k < K; k++) {
        cr_assert_eq(spx_tangent_transform(t, covs + k * D * D, v), 0);
        double nrm = 0, dist;
        for (size_t i = 0; i < D * (D + 1) / 2; i++) { nrm += v[i] * v[i]; sum[i] += v[i]; }
        cr_assert_eq(spx_spd_distance(ws, covs + k * D * D, ref, &dist), 0);
        cr_assert(fabs(sqrt(nrm) - dist) < 1e-10 * dist, "k %zu: %g vs %g", k, sqrt(nrm), dist);
        cr_assert_eq(spx_tangent_inverse(t, v, back), 0);
        for (size_t i = 0; i < D * D; i++) cr_assert(fabs(back[i] - covs[k * D * D + i]) < 1e-10);
    }
    /* The Riemannian mean is where the tangent vectors sum to zero. */
    for (size_t i = 0; i < D * (D + 1) / 2; i++) cr_assert(fabs(sum[i]) < 1e-7, "%g", sum[i]);
    spx_tangent_free(t);
    spx_spd_ws_free(ws);
}

/* --- MDM ------------------------------------------------------------------------------- */

Test(mdm, separates_two_classes_and_probabilities_are_softmax)
{
    enum { D = 5, PER = 15, K = 2 * PER };
    spx_rng r;
    spx_rng_seed(&r, 31);
    spx_spd_ws *ws;
    cr_assert_eq(spx_spd_ws_create(&ws, D), 0);
    double a0[D * D], a1[D * D], s0[D * D], s1[D * D];
    random_spd(&r, D, a0);
    random_spd(&r, D, a1);
    cr_assert_eq(spx_spd_sqrt(ws, a0, s0), 0);
    cr_assert_eq(spx_spd_sqrt(ws, a1, s1), 0);
    double *covs = malloc(2 * K * D * D * sizeof *covs);
    int labels[2 * K];
    for (size_t i = 0; i < 2 * K; i++) {
        labels[i] = (int)(i % 2);
        sample_around(&r, ws, D, labels[i] ? s1 : s0, 200, covs + i * D * D);
    }
    spx_mdm *m;
    cr_assert_eq(spx_mdm_create(&m, D, 2), 0);
    cr_assert_null(spx_mdm_means(m));
    cr_assert_eq(spx_mdm_fit(m, covs, labels, K), 0);
    const double *means = spx_mdm_means(m);
    cr_assert_not_null(means);
    /* class means near the generating matrices */
    double d0, d1;
    cr_assert_eq(spx_spd_distance(ws, means, a0, &d0), 0);
    cr_assert_eq(spx_spd_distance(ws, means + D * D, a1, &d1), 0);
    cr_assert(d0 < 0.2 && d1 < 0.2, "%g %g", d0, d1);
    size_t correct = 0;
    for (size_t i = K; i < 2 * K; i++) {
        double proba[2], dist2[2];
        int lab;
        cr_assert_eq(spx_mdm_predict(m, covs + i * D * D, proba, &lab), 0);
        correct += lab == labels[i];
        for (int k = 0; k < 2; k++) {
            double dd;
            cr_assert_eq(spx_spd_distance(ws, covs + i * D * D, means + k * D * D, &dd), 0);
            dist2[k] = dd * dd;
        }
        double p0 = 1.0 / (1.0 + exp(dist2[0] - dist2[1]));
        cr_assert(fabs(proba[0] - p0) < 1e-10 && fabs(proba[0] + proba[1] - 1) < 1e-15);
        cr_assert_eq(lab, dist2[1] < dist2[0] ? 1 : 0);
    }
    cr_assert_geq(correct, K - 1, "held-out accuracy %zu/%d", correct, K);
    /* Means round-trip through set_means. */
    spx_mdm *m2;
    cr_assert_eq(spx_mdm_create(&m2, D, 2), 0);
    cr_assert_eq(spx_mdm_set_means(m2, means), 0);
    double e1[2], e2[2];
    cr_assert_eq(spx_mdm_distances2(m, covs, e1), 0);
    cr_assert_eq(spx_mdm_distances2(m2, covs, e2), 0);
    cr_assert(e1[0] == e2[0] && e1[1] == e2[1]);
    /* A class without training data is an error. */
    int all0[4] = {0, 0, 0, 0};
    cr_assert_eq(spx_mdm_fit(m2, covs, all0, 4), -EINVAL);
    spx_mdm_free(m);
    spx_mdm_free(m2);
    spx_spd_ws_free(ws);
    free(covs);
}

/* --- covariance classifier, folds, (order, lag) selection ------------------------------- */

Test(covclf, stratified_folds_are_balanced_and_seeded)
{
    enum { N = 45, K = 5 };
    int labels[N], f1[N], f2[N], f3[N];
    for (int i = 0; i < N; i++) labels[i] = i < 22 ? 0 : 1;
    cr_assert_eq(spx_cv_stratified_folds(labels, N, K, 42, f1), 0);
    cr_assert_eq(spx_cv_stratified_folds(labels, N, K, 42, f2), 0);
    cr_assert_eq(spx_cv_stratified_folds(labels, N, K, 43, f3), 0);
    cr_assert_eq(memcmp(f1, f2, sizeof f1), 0);
    cr_assert_neq(memcmp(f1, f3, sizeof f1), 0);
    for (int f = 0; f < K; f++) {
        int c0 = 0, c1 = 0;
        for (int i = 0; i < N; i++)
            if (f1[i] == f) { c0 += labels[i] == 0; c1 += labels[i] == 1; }
        cr_assert(c0 >= 4 && c0 <= 5 && c1 >= 4 && c1 <= 5, "fold %d: %d %d", f, c0, c1);
        cr_assert_eq(c0 + c1, 9);
    }
    cr_assert_eq(spx_cv_stratified_folds(labels, N, 1, 1, f1), -EINVAL);
}

/* Two classes with the same zero-lag covariance that differ only in their lag-3 structure:
 * class 1 is an MA(3) process e_t + 0.9 e_{t-3}, class 0 white noise with the same variance. */
static void make_lagged_epochs(spx_rng *r, size_t n, size_t C, size_t T, double *x, int *labels)
{
    double *e = malloc((T + 3) * sizeof *e);
    for (size_t i = 0; i < n; i++) {
        labels[i] = (int)(i % 2);
        for (size_t c = 0; c < C; c++) {
            spx_rng_normal_fill(r, e, T + 3);
            for (size_t t = 0; t < T; t++)
                x[(i * C + c) * T + t] = labels[i] ? e[t + 3] + 0.9 * e[t] : sqrt(1.81) * e[t + 3];
        }
    }
    free(e);
}

Test(covclf, select_acm_finds_the_informative_lag)
{
    enum { N = 40, C = 3, T = 120 };
    spx_rng r;
    spx_rng_seed(&r, 41);
    double *x = malloc(N * C * T * sizeof *x);
    int labels[N];
    make_lagged_epochs(&r, N, C, T, x, labels);
    size_t orders[] = {1, 2}, lags[] = {1, 2, 3};
    spx_acm_grid g = {orders, 2, lags, 3, 5, 7};
    double scores[6];
    size_t bo = 0, bl = 0;
    for (int kind = 0; kind < 2; kind++) {
        spx_covclf_params p;
        spx_covclf_params_default(&p, C, T);
        p.kind = (spx_covclf_kind)kind;
        cr_assert_eq(spx_covclf_select_acm(&p, x, labels, N, &g, &bo, &bl, scores), 0);
        cr_assert_eq(bo, 2, "kind %d order", kind);
        cr_assert_eq(bl, 3, "kind %d lag", kind);
        cr_assert(scores[0] < 0.8, "order 1 should be near chance: %g", scores[0]);
        cr_assert(isnan(scores[1]) && isnan(scores[2])); /* order 1 evaluated once */
        cr_assert(scores[5] >= 0.95, "order 2 lag 3: %g", scores[5]);
    }
    free(x);
}

Test(covclf, fit_predict_on_epochs_matches_fit_on_covariances)
{
    enum { N = 30, C = 3, T = 100 };
    spx_rng r;
    spx_rng_seed(&r, 42);
    double *x = malloc(N * C * T * sizeof *x);
    int labels[N];
    make_lagged_epochs(&r, N, C, T, x, labels);
    for (int kind = 0; kind < 2; kind++) {
        spx_covclf_params p;
        spx_covclf_params_default(&p, C, T);
        p.kind = (spx_covclf_kind)kind;
        p.order = 2;
        p.lag = 3;
        p.max_train = N;
        spx_covclf *a, *b;
        cr_assert_eq(spx_covclf_create(&a, &p), 0);
        cr_assert_eq(spx_covclf_create(&b, &p), 0);
        size_t dim = spx_covclf_dim(a);
        cr_assert_eq(dim, 2 * C);
        double *covs = malloc(N * dim * dim * sizeof *covs);
        for (size_t i = 0; i < N; i++)
            cr_assert_eq(spx_covclf_covariance(a, x + i * C * T, T, covs + i * dim * dim), 0);
        cr_assert_eq(spx_covclf_fit(a, x, labels, 20), 0);
        cr_assert_eq(spx_covclf_fit_covs(b, covs, labels, 20), 0);
        size_t correct = 0;
        for (size_t i = 20; i < N; i++) {
            double pa[2], pb[2];
            int la, lb;
            cr_assert_eq(spx_covclf_predict(a, x + i * C * T, T, pa, &la), 0);
            cr_assert_eq(spx_covclf_predict_cov(b, covs + i * dim * dim, pb, &lb), 0);
            cr_assert(la == lb && pa[0] == pb[0] && pa[1] == pb[1]);
            cr_assert(fabs(pa[0] + pa[1] - 1) < 1e-12);
            correct += la == labels[i];
        }
        cr_assert_geq(correct, 9, "kind %d: %zu/10", kind, correct);
        /* Snapshot round trip: a fresh classifier with the saved state predicts identically. */
        size_t ssz = spx_covclf_state_size(a);
        cr_assert_eq(ssz, kind == 0 ? 2 * dim * dim : dim * dim + dim * (dim + 1) / 2 + 1);
        double *state = malloc(ssz * sizeof *state);
        spx_covclf *fresh;
        cr_assert_eq(spx_covclf_create(&fresh, &p), 0);
        cr_assert_eq(spx_covclf_state_get(fresh, state), -EINVAL); /* not fitted */
        cr_assert_eq(spx_covclf_state_get(a, state), 0);
        cr_assert_eq(spx_covclf_state_set(fresh, state), 0);
        for (size_t i = 20; i < N; i++) {
            double pa[2], pf[2];
            int la, lf;
            cr_assert_eq(spx_covclf_predict(a, x + i * C * T, T, pa, &la), 0);
            cr_assert_eq(spx_covclf_predict(fresh, x + i * C * T, T, pf, &lf), 0);
            cr_assert(la == lf && fabs(pa[0] - pf[0]) < 1e-12);
        }
        state[0] = NAN;
        cr_assert_eq(spx_covclf_state_set(fresh, state), -EINVAL);
        free(state);
        spx_covclf_free(fresh);
        double acc;
        cr_assert_eq(spx_covclf_cv_accuracy(&p, covs, labels, N, 5, 2, 1, &acc), 0);
        cr_assert(acc >= 0.9, "kind %d cv %g", kind, acc);
        free(covs);
        spx_covclf_free(a);
        spx_covclf_free(b);
    }
    spx_covclf_params p;
    spx_covclf_params_default(&p, C, T);
    p.kind = SPX_COVCLF_TS_LR;
    p.n_classes = 3;
    spx_covclf *c;
    cr_assert_eq(spx_covclf_create(&c, &p), -EINVAL);
    free(x);
}
