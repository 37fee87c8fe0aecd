/* Incremental truncated SVD against LAPACK's dgesdd of the whole concatenated matrix. */
#include <criterion/criterion.h>
#include <errno.h>
#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "isvd.h"
#include "rng.h"

/* OpenBLAS threads only contend on these small matrices (and with other test processes). */
void openblas_set_num_threads(int n);

static void one_blas_thread(void) { openblas_set_num_threads(1); }

/* M = G1 diag(d) G2 (m x ncols, column-major) with Gaussian G1 (m x rank), G2 (rank x ncols) and
 * d_i = 10^(-2 i / rank): exactly rank `rank`, condition number about 100 times that of G1 G2. */
static double *low_rank(size_t m, size_t ncols, size_t rank, uint64_t seed)
{
    spx_rng rng;
    spx_rng_seed(&rng, seed);
    double *g1 = malloc(m * rank * sizeof *g1), *g2 = malloc(rank * ncols * sizeof *g2);
    double *a = calloc(m * ncols, sizeof *a);
    cr_assert(g1 && g2 && a);
    spx_rng_normal_fill(&rng, g1, m * rank);
    spx_rng_normal_fill(&rng, g2, rank * ncols);
    for (size_t l = 0; l < rank; l++) {
        double d = pow(10.0, -2.0 * (double)l / (double)rank);
        for (size_t j = 0; j < ncols; j++)
            for (size_t i = 0; i < m; i++)
                a[i + j * m] += g1[i + l * m] * d * g2[l + j * rank];
    }
    free(g1);
    free(g2);
    return a;
}

static void add_noise(double *a, size_t count, double level, uint64_t seed)
{
    spx_rng rng;
    spx_rng_seed(&rng, seed);
    for (size_t i = 0; i < count; i++)
        a[i] += level * spx_rng_normal(&rng);
}

/* All min(m, ncols) singular values of the column-major m x ncols matrix, descending (dgesdd). */
static double *exact_sv(const double *a, size_t m, size_t ncols)
{
    size_t ns = m < ncols ? m : ncols;
    double *copy = malloc(m * ncols * sizeof *copy), *s = malloc(ns * sizeof *s);
    cr_assert(copy && s);
    memcpy(copy, a, m * ncols * sizeof *copy);
    lapack_int info = LAPACKE_dgesdd(LAPACK_COL_MAJOR, 'N', (lapack_int)m, (lapack_int)ncols, copy,
                                     (lapack_int)m, s, NULL, 1, NULL, 1);
    cr_assert_eq(info, 0);
    free(copy);
    return s;
}

static spx_isvd *make(size_t m, size_t k, size_t p, double forget, uint64_t reorth)
{
    spx_isvd_params par;
    spx_isvd_params_default(&par, m, k);
    par.oversample = p;
    par.forget = forget;
    par.reorth_every = reorth;
    spx_isvd *s = NULL;
    cr_assert_eq(spx_isvd_create(&s, &par), 0);
    return s;
}

static void feed(spx_isvd *s, const double *a, size_t m, size_t ncols, size_t n)
{
    for (size_t j0 = 0; j0 < ncols; j0 += n) {
        size_t nc = ncols - j0 < n ? ncols - j0 : n;
        cr_assert_eq(spx_isvd_update(s, a + j0 * m, nc, SPX_ISVD_COLMAJOR_F64), 0);
    }
}

Test(isvd, exact_low_rank_matches_dgesdd, .init = one_blas_thread)
{
    const size_t m = 120, ncols = 1500, rank = 12;
    size_t widths[] = {1, 5, 16};
    for (size_t t = 0; t < 3; t++) {
        double *a = low_rank(m, ncols, rank, 11 + t);
        double *sv = exact_sv(a, m, ncols);
        spx_isvd *s = make(m, rank, 4, 1.0, 100);
        feed(s, a, m, ncols, widths[t]);
        spx_isvd_result r;
        spx_isvd_result_get(s, &r);
        cr_assert_eq(r.columns, ncols);
        double worst = 0.0;
        for (size_t i = 0; i < rank; i++) {
            double rel = fabs(r.sigma[i] - sv[i]) / sv[i];
            if (rel > worst)
                worst = rel;
        }
        cr_log_info("exact rank %zu, n=%zu: max relative singular value error %.3g", rank,
                    widths[t], worst);
        cr_expect_lt(worst, 1e-8, "n=%zu: relative error %.3g", widths[t], worst);
        /* nothing real was cut: the estimated rank-k error is rounding */
        cr_expect_lt(r.rel_error, 1e-7, "n=%zu: rel_error %.3g", widths[t], r.rel_error);
        cr_expect_lt(spx_isvd_orth_error(s), 1e-12);
        spx_isvd_free(s);
        free(sv);
        free(a);
    }
}

/* Noisy input, k below the numerical rank: truncation discards a PSD part Delta of M M^T with
 * trace D (the discarded energy). Tested, for every i <= k, with sigma the dgesdd values:
 *   (a) shat_i <= sigma_i                          (Weyl: M M^T - Delta <= M M^T)
 *   (b) sigma_i^2 - shat_i^2 <= D                  (Weyl: ||Delta||_2 <= tr Delta)
 *   (c) tail = D + sum_{k<i<=q} shat_i^2 >= sum_{i>k} sigma_i^2   (Eckart-Young: never underestimates)
 *   (d) D <= T * sum_{i>q} sigma_i^2   (each of the T updates cuts at most the rank-q tail of a matrix
 *       whose eigenvalues interlace below those of the final M M^T)
 * with a relative slack of 1e-10 for rounding. */
Test(isvd, noisy_within_eckart_young, .init = one_blas_thread)
{
    const size_t m = 100, ncols = 2000, rank = 10, k = 8, p = 4, n = 8;
    double *a = low_rank(m, ncols, rank, 5);
    add_noise(a, m * ncols, 0.05, 6);
    double *sv = exact_sv(a, m, ncols);
    spx_isvd *s = make(m, k, p, 1.0, 100);
    feed(s, a, m, ncols, n);
    spx_isvd_result r;
    spx_isvd_result_get(s, &r);
    double total = 0.0, tail_true = 0.0, tail_q = 0.0;
    for (size_t i = 0; i < m; i++) {
        double v = sv[i] * sv[i];
        total += v;
        if (i >= k)
            tail_true += v;
        if (i >= k + p)
            tail_q += v;
    }
    double D = r.discarded, tracked_tail = 0.0;
    cr_assert_eq(r.capacity, k + p);
    cr_assert_eq(r.tracked, k + p);
    for (size_t i = k; i < k + p; i++)
        tracked_tail += r.sigma[i] * r.sigma[i];
    double T = (double)(ncols / n);
    cr_expect(fabs(r.energy - total) <= 1e-10 * total, "energy %.17g vs %.17g", r.energy, total);
    for (size_t i = 0; i < k; i++) {
        cr_expect(r.sigma[i] <= sv[i] * (1.0 + 1e-10), "(a) i=%zu: %.17g > %.17g", i, r.sigma[i],
                  sv[i]);
        cr_expect(sv[i] * sv[i] - r.sigma[i] * r.sigma[i] <= D + 1e-10 * total,
                  "(b) i=%zu: gap %.6g > D %.6g", i, sv[i] * sv[i] - r.sigma[i] * r.sigma[i], D);
    }
    cr_expect(fabs(r.tail_energy - (D + tracked_tail)) <= 1e-9 * total);
    cr_expect(r.tail_energy >= tail_true * (1.0 - 1e-10), "(c) tail %.6g < true %.6g",
              r.tail_energy, tail_true);
    cr_expect(D <= T * tail_q * (1.0 + 1e-10), "(d) D %.6g > T tail_q %.6g", D, T * tail_q);
    cr_log_info("noisy: tail estimate / true tail = %.4f, D / tail_q = %.2f, "
                "max rel sv error %.3g",
                r.tail_energy / tail_true, D / tail_q, (sv[k - 1] - r.sigma[k - 1]) / sv[k - 1]);
    /* and the estimate is useful: with this noise the top values are within 1e-3 */
    for (size_t i = 0; i < k; i++)
        cr_expect_lt((sv[i] - r.sigma[i]) / sv[i], 1e-3);
    spx_isvd_free(s);
    free(sv);
    free(a);
}

/* Every singular direction kept in an exactly low-rank stream: with forgetting lambda the result
 * must be the SVD of [lambda^(T-1) A_1, ..., lambda A_(T-1), A_T]. */
Test(isvd, forgetting_matches_weighted_matrix, .init = one_blas_thread)
{
    const size_t m = 60, rank = 6, n = 4, T = 50;
    const double lambda = 0.9;
    double *a = low_rank(m, n * T, rank, 21);
    double *wgt = malloc(m * n * T * sizeof *wgt);
    cr_assert(wgt);
    for (size_t t = 0; t < T; t++) {
        double f = pow(lambda, (double)(T - 1 - t));
        for (size_t k = 0; k < m * n; k++)
            wgt[t * m * n + k] = f * a[t * m * n + k];
    }
    double *sv = exact_sv(wgt, m, n * T);
    spx_isvd *s = make(m, 8, 2, lambda, 10);
    feed(s, a, m, n * T, n);
    spx_isvd_result r;
    spx_isvd_result_get(s, &r);
    double e = 0.0;
    for (size_t k = 0; k < m * n * T; k++)
        e += wgt[k] * wgt[k];
    cr_expect(fabs(r.energy - e) <= 1e-12 * e, "weighted energy %.17g vs %.17g", r.energy, e);
    for (size_t i = 0; i < rank; i++)
        cr_expect(fabs(r.sigma[i] - sv[i]) <= 1e-8 * sv[i], "i=%zu %.17g vs %.17g", i, r.sigma[i],
                  sv[i]);
    spx_isvd_free(s);
    free(sv);
    free(wgt);
    free(a);
}

/* Many small full-rank updates: every one truncates, so rounding in the rotation accumulates. */
Test(isvd, orthonormal_after_many_updates, .init = one_blas_thread)
{
    const size_t m = 64, n = 2, updates = 20000;
    spx_rng rng;
    spx_rng_seed(&rng, 3);
    double blk[64 * 2];
    spx_isvd *raw = make(m, 6, 2, 1.0, 0), *fixed = make(m, 6, 2, 1.0, 100);
    for (size_t t = 0; t < updates; t++) {
        spx_rng_normal_fill(&rng, blk, m * n);
        for (size_t i = 0; i < 3; i++) /* a dominant 3-dimensional signal */
            blk[i] *= 20.0, blk[m + i] *= 20.0;
        cr_assert_eq(spx_isvd_update(raw, blk, n, SPX_ISVD_COLMAJOR_F64), 0);
        cr_assert_eq(spx_isvd_update(fixed, blk, n, SPX_ISVD_COLMAJOR_F64), 0);
    }
    double e_raw = spx_isvd_orth_error(raw), e_fixed = spx_isvd_orth_error(fixed);
    spx_isvd_result r;
    spx_isvd_result_get(fixed, &r);
    cr_log_info("after %zu updates: max|U^T U - I| = %.3g without, %.3g with re-orthonormalisation "
                "(last measured drift %.3g)",
                updates, e_raw, e_fixed, r.orth_error);
    cr_expect_lt(e_raw, 1e-10);
    cr_expect_lt(e_fixed, 1e-13);
    cr_expect(r.orth_error >= 0.0 && r.orth_error < 1e-12);
    spx_isvd_free(raw);
    spx_isvd_free(fixed);
}

/* Blocks that lie in the tracked span up to tiny perturbations (0, 1e-14, ..., 1e-6): the residual
 * is then mostly rounding noise, the case that breaks a plain Gram-Schmidt update. q exceeds the
 * signal rank so the weak directions are kept. No re-orthonormalisation: each update on its own
 * must keep U orthonormal. */
Test(isvd, nearly_dependent_blocks_keep_orthonormality, .init = one_blas_thread)
{
    const size_t m = 50, n = 3, sig = 5;
    const double levels[] = {0.0, 1e-14, 1e-12, 1e-10, 1e-8, 1e-6};
    spx_rng rng;
    spx_rng_seed(&rng, 8);
    double basis[50 * 5], coef[5 * 3], blk[50 * 3];
    spx_rng_normal_fill(&rng, basis, m * sig);
    spx_isvd *s = make(m, 8, 4, 1.0, 0);
    double worst = 0.0;
    for (size_t t = 0; t < 3000; t++) {
        spx_rng_normal_fill(&rng, coef, sig * n);
        double lev = levels[t % 6];
        for (size_t j = 0; j < n; j++)
            for (size_t i = 0; i < m; i++) {
                double v = 0.0;
                for (size_t l = 0; l < sig; l++)
                    v += basis[i + l * m] * coef[l + j * sig];
                blk[i + j * m] = v + lev * spx_rng_normal(&rng);
            }
        cr_assert_eq(spx_isvd_update(s, blk, n, SPX_ISVD_COLMAJOR_F64), 0);
        if (t % 50 == 49) {
            double e = spx_isvd_orth_error(s);
            if (e > worst)
                worst = e;
        }
    }
    cr_log_info("nearly dependent blocks: worst max|U^T U - I| %.3g", worst);
    cr_expect_lt(worst, 1e-12);
    spx_isvd_free(s);
}

static void expect_same_result(spx_isvd *x, spx_isvd *y, double tol)
{
    spx_isvd_result rx, ry;
    spx_isvd_result_get(x, &rx);
    spx_isvd_result_get(y, &ry);
    cr_expect_eq(rx.tracked, ry.tracked);
    cr_expect_eq(rx.columns, ry.columns);
    for (size_t i = 0; i < rx.capacity; i++)
        cr_expect(fabs(rx.sigma[i] - ry.sigma[i]) <= tol * rx.sigma[0], "i=%zu %.17g vs %.17g", i,
                  rx.sigma[i], ry.sigma[i]);
}

Test(isvd, layouts_and_chunks_agree, .init = one_blas_thread)
{
    const size_t m = 40, n = 150;
    spx_rng rng;
    spx_rng_seed(&rng, 4);
    float *f = malloc(m * n * sizeof *f);
    double *rowm = malloc(m * n * sizeof *rowm), *colm = malloc(m * n * sizeof *colm);
    cr_assert(f && rowm && colm);
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < n; j++) {
            f[i * n + j] = (float)(spx_rng_normal(&rng) * (1.0 + (double)(j % 7)));
            rowm[i * n + j] = f[i * n + j];
            colm[i + j * m] = f[i * n + j];
        }
    spx_isvd_params par;
    spx_isvd_params_default(&par, m, 10);
    par.chunk_cols = 64;
    spx_isvd *a = NULL, *b = NULL, *c = NULL, *d = NULL;
    cr_assert_eq(spx_isvd_create(&a, &par), 0);
    cr_assert_eq(spx_isvd_create(&b, &par), 0);
    cr_assert_eq(spx_isvd_create(&c, &par), 0);
    cr_assert_eq(spx_isvd_create(&d, &par), 0);
    cr_assert_eq(spx_isvd_update(a, colm, n, SPX_ISVD_COLMAJOR_F64), 0);
    cr_assert_eq(spx_isvd_update(b, rowm, n, SPX_ISVD_ROWMAJOR_F64), 0);
    cr_assert_eq(spx_isvd_update(c, f, n, SPX_ISVD_ROWMAJOR_F32), 0);
    /* the same columns as three blocks of 64, 64, 22: identical arithmetic */
    cr_assert_eq(spx_isvd_update(d, colm, 64, SPX_ISVD_COLMAJOR_F64), 0);
    cr_assert_eq(spx_isvd_update(d, colm + 64 * m, 64, SPX_ISVD_COLMAJOR_F64), 0);
    cr_assert_eq(spx_isvd_update(d, colm + 128 * m, 22, SPX_ISVD_COLMAJOR_F64), 0);
    expect_same_result(a, b, 0.0);
    expect_same_result(a, c, 0.0);
    expect_same_result(a, d, 0.0);
    double ua[40 * 10], ub[40 * 10];
    spx_isvd_left_vectors(a, ua, 0);
    spx_isvd_left_vectors(b, ub, 1);
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < 10; j++)
            cr_expect_eq(ua[i + j * m], ub[i * 10 + j]);
    spx_isvd_free(a);
    spx_isvd_free(b);
    spx_isvd_free(c);
    spx_isvd_free(d);
    free(f);
    free(rowm);
    free(colm);
}

Test(isvd, bad_input_leaves_state_unchanged, .init = one_blas_thread)
{
    const size_t m = 30;
    spx_isvd_params par;
    spx_isvd_params_default(&par, m, 4);
    par.chunk_cols = 8;
    spx_isvd *s = NULL;
    cr_assert_eq(spx_isvd_create(&s, &par), 0);
    double *a = low_rank(m, 20, 3, 9);
    cr_assert_eq(spx_isvd_update(s, a, 5, SPX_ISVD_COLMAJOR_F64), 0);
    spx_isvd_result before;
    spx_isvd_result_get(s, &before);
    double sig[9];
    memcpy(sig, before.sigma, before.capacity * sizeof *sig);
    double *bad = malloc(m * 20 * sizeof *bad);
    cr_assert(bad);
    memcpy(bad, a, m * 20 * sizeof *bad);
    bad[m * 19 + 3] = NAN; /* in the last chunk of a multi-chunk block */
    cr_expect_eq(spx_isvd_update(s, bad, 20, SPX_ISVD_COLMAJOR_F64), -EINVAL);
    bad[m * 19 + 3] = INFINITY;
    cr_expect_eq(spx_isvd_update(s, bad, 5 /* single chunk */, SPX_ISVD_COLMAJOR_F64), 0);
    cr_expect_eq(spx_isvd_update(s, bad + m * 15, 5, SPX_ISVD_COLMAJOR_F64), -EINVAL);
    cr_expect_eq(spx_isvd_update(s, a, 0, SPX_ISVD_COLMAJOR_F64), -EINVAL);
    cr_expect_eq(spx_isvd_update(s, a, 3, (spx_isvd_layout)7), -EINVAL);
    spx_isvd_result after;
    spx_isvd_result_get(s, &after);
    cr_expect_eq(after.updates, before.updates + 1);
    spx_isvd_reset(s);
    cr_assert_eq(spx_isvd_update(s, a, 5, SPX_ISVD_COLMAJOR_F64), 0);
    spx_isvd_result_get(s, &after);
    cr_expect_eq(after.updates, 1);
    for (size_t i = 0; i < after.capacity; i++)
        cr_expect_eq(after.sigma[i], sig[i]);

    spx_isvd *x = NULL;
    spx_isvd_params q = par;
    q.rank = 0;
    cr_expect_eq(spx_isvd_create(&x, &q), -EINVAL);
    q = par;
    q.rank = m + 1;
    cr_expect_eq(spx_isvd_create(&x, &q), -EINVAL);
    q = par;
    q.forget = 0.0;
    cr_expect_eq(spx_isvd_create(&x, &q), -EINVAL);
    q.forget = NAN;
    cr_expect_eq(spx_isvd_create(&x, &q), -EINVAL);
    q = par;
    q.rank_tol = -1.0;
    cr_expect_eq(spx_isvd_create(&x, &q), -EINVAL);
    free(bad);
    free(a);
    spx_isvd_free(s);
}

/* The eigenvalues-only prediction equals what the full update then records, and the energy
 * identity energy = sum s^2 + discarded holds. */
Test(isvd, predict_matches_commit, .init = one_blas_thread)
{
    const size_t m = 70, q = 9, r = 6, n = 5;
    spx_isvd_work *w = NULL;
    cr_assert_eq(spx_isvd_work_create(&w, m, q, 8), 0);
    double *u = malloc(m * q * sizeof *u), *sv = malloc(q * sizeof *sv);
    double *c = malloc(q * n * sizeof *c), ata[25];
    cr_assert(u && sv && c);
    spx_isvd_state st;
    spx_isvd_state_init(&st, m, q, u, sv);
    double *a = low_rank(m, n * 40, 12, 31);
    add_noise(a, m * n * 40, 0.1, 32);
    for (size_t t = 0; t < 40; t++) {
        const double *blk = a + t * m * n;
        if (st.cur > 0)
            cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, (int)st.cur, (int)n, (int)m, 1.0,
                        st.u, (int)m, blk, (int)m, 0.0, c, (int)q);
        cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, (int)n, (int)n, (int)m, 1.0, blk,
                    (int)m, blk, (int)m, 0.0, ata, (int)n);
        double pred = 0.0;
        cr_assert_eq(spx_isvd_state_predict(&st, w, c, q, ata, n, r, &pred), 0);
        cr_assert_eq(spx_isvd_state_update(&st, w, blk, m, n, 1.0, 1e-12), 0);
        double got = spx_isvd_state_tail(&st, r);
        cr_expect(fabs(pred - got) <= 1e-10 * st.energy, "t=%zu predicted %.17g, got %.17g", t, pred,
                  got);
        double s2 = 0.0;
        for (size_t i = 0; i < st.cur; i++)
            s2 += st.s[i] * st.s[i];
        cr_expect(fabs(s2 + st.discarded - st.energy) <= 1e-12 * st.energy);
    }
    free(a);
    free(u);
    free(sv);
    free(c);
    spx_isvd_work_free(w);
}
