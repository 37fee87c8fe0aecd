/* Block power methods: POWER (the plain streaming noisy power method) and RANDORDER (heavy rows
 * kept verbatim, light rows driving the power steps, iterates averaged).
 *
 * Both keep a d x p iterate Z (p = k + oversample, orthonormal columns) and, over a block of rows,
 * accumulate S = A_b^T A_b Z and T = Z^T A_b^T A_b Z. At the end of the block:
 *   Ritz:  T = W Theta W^T (descending), Theta / rows = per-row Ritz values (eigenvalue and gap
 *          estimates; Z does not depend on the block's rows, so they are unbiased in random order);
 *   step:  Z <- orth(S W), i.e. one power step applied to the Ritz vectors.
 * With p <= 4 (the default p = 3) rows are taken one at a time by fused kernels (y = Z^T x with the
 * row's norm in its first read, S += x y^T in its second). With more columns rows arrive in groups
 * of `group` rows that never straddle a block end, so each group is two GEMMs (Y = X Z,
 * S += X^T Y) plus T += Y^T Y; a group split across calls is gathered in a staging buffer first.
 * Group and block boundaries depend only on row counts, so the result does not depend on how the
 * caller batches rows.
 *
 * RANDORDER design (after Kacham & Woodruff, NeurIPS 2024; the details are ours and measured):
 *  - Heavy rows: ||x||^2 >= F_t^2 / (heavy_factor d log2(2d)), F_t the running Frobenius norm
 *    including x; "polylog d" = heavy_factor log2(2d) with heavy_factor 4 by default (1% of rows
 *    with 100x the energy, d = 100, n = 50,000: factor 1 keeps 12 of them at the end and gives
 *    <v,v1>^2 = 0.983, factor 4 keeps all 500 and gives 0.988), and at least HEAVY_MIN_RATIO
 *    times the mean row energy so far (see heavy_threshold()). They are stored verbatim, at most
 *    heavy_max (the largest are kept: a new heavy row evicts the smallest stored one if larger;
 *    the evicted row is treated as a light row of the current block). At each block end, stored
 *    rows that fell below the grown threshold are moved to the light side the same way.
 *  - Each power step uses the per-row operator estimate
 *        M = H^T H / t + (t - h) / (m_b t) L_b^T L_b
 *    (H the h stored rows, L_b the m_b light rows of the block, t rows so far): in random order
 *    the light block is a uniform sample of the light rows, so M estimates A^T A / n, and the heavy
 *    part, whose sampling noise would dominate a block (one heavy row can outweigh the whole block),
 *    enters exactly.
 *  - The result is the average of the step results over the recent half of the blocks (segments
 *    restarted at block counts 2, 4, 8, ...; each vector sign-aligned to the running sum before it
 *    is added), orthonormalised. After convergence consecutive iterates carry nearly independent
 *    block noise (it contracts by 1/R per step), so averaging J of them cuts the squared error by
 *    about J: all rows contribute, not just the last block. Eigenvalues: the same average of the
 *    per-block Ritz values.
 *  - Block length: see auto_block_rows().
 *  - Known limits: the average is of unit vectors, so it needs a clear top direction per block
 *    (R_block > 1); for k > 1 each vector is averaged on its own and the set re-orthonormalised,
 *    which is poor when eigenvalues k and k+1 are close. Not random order: the light blocks are no
 *    longer samples of A, and the ordering check in topeig.c raises the alarm. */
#include "topeig_internal.h"

#include <cblas.h>
#include <errno.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Rows per GEMM group: large enough for level-3 efficiency, small enough (<= 512 KiB of rows) that
 * the group is still in L2 when the second GEMM reads it. */
static size_t group_rows(size_t d)
{
    size_t g = (512u * 1024u / sizeof(double)) / d;
    return g < 1 ? 1 : g > 64 ? 64 : g;
}

/* First (POWER) or every (RANDORDER) block: max(256, 4d) rows. The averaged RANDORDER wants many
 * blocks, each still in the linear regime (block noise below the gap). Measured at d = 200,
 * n = 50,000, block 2d / 4d / 8d / 20d: R = 1.34: 0.972 / 0.985 / 0.988 / 0.773; R = 2.65: 0.9988 /
 * 0.9990 / 0.9991 / 0.9986; z-scored spambase (n = 4,601, median of 5 orders) with 400 / 1600 /
 * 4000-row blocks: 0.998 / 0.754 / 0.501 (too few blocks to average). */
static uint64_t auto_block_rows(const spx_topeig *t)
{
    uint64_t b = 4 * (uint64_t)t->d;
    return b < 256 ? 256 : b;
}

/* POWER: growing blocks give both the many early steps a random start needs and the long late
 * blocks that lower the noise of the one block the result comes from. Measured at d = 200,
 * n = 50,000 (<v,v1>^2 at R = 1.34 / 2.65 / 8.9, z-scored spambase median of 5 orders): growth 2:
 * 0.24 / 0.994 / 0.999 / 0.998; 1.5: 0.79 / 0.997 / 0.999 / 0.993; 1.25: 0.978 / 0.994 / 0.998 /
 * 0.990; fixed 4d blocks: 0.68 / 0.92 / 0.98. */
static double block_growth(const spx_topeig *t)
{
    if (t->p.block_growth > 0.0)
        return t->p.block_growth;
    return t->p.method == SPX_TOPEIG_POWER ? 1.25 : 1.0;
}

/* At most F^2 / threshold = heavy_factor d log2(2d) rows can be heavy; memory caps it at 16 MiB. */
static size_t auto_heavy_max(size_t d, double heavy_factor)
{
    size_t by_theory = (size_t)ceil(heavy_factor * (double)d * log2(2.0 * (double)d));
    size_t by_memory = (16u << 20) / (sizeof(double) * d);
    if (by_memory < 64)
        by_memory = 64;
    return by_theory < by_memory ? by_theory : by_memory;
}

static void block_release(spx_topeig *t)
{
    spx_topeig_block *b = &t->blk;
    double *ptrs[] = {b->Z, b->S, b->T, b->Y, b->stage, b->W, b->ritz, b->tau, b->work, b->pp,
                      b->V, b->theta, b->avg_cur, b->avg_prev, b->th_cur, b->th_prev, b->heavy,
                      b->heavy_norm2, b->HZ, b->gxx, b->gtau};
    for (size_t i = 0; i < sizeof ptrs / sizeof ptrs[0]; i++)
        free(ptrs[i]);
}

/* Orthonormalises the d x p column-major a in place (Householder QR). */
static void orthonormalise(spx_topeig_block *b, double *a, size_t d, size_t p)
{
    LAPACKE_dgeqrf_work(LAPACK_COL_MAJOR, (lapack_int)d, (lapack_int)p, a, (lapack_int)d, b->tau,
                        b->work, (lapack_int)b->lwork);
    LAPACKE_dorgqr_work(LAPACK_COL_MAJOR, (lapack_int)d, (lapack_int)p, (lapack_int)p, a,
                        (lapack_int)d, b->tau, b->work, (lapack_int)b->lwork);
}

static int block_init(spx_topeig *t)
{
    spx_topeig_block *b = &t->blk;
    const size_t d = t->d, k = t->k, p = k + t->p.oversample;
    b->p = p;
    b->group = group_rows(d);
    b->block_first = t->p.block_rows ? t->p.block_rows : auto_block_rows(t);
    b->block_target = b->block_first;
    b->next_restart = 2;

    /* Workspace sizes: QR of d x p and the symmetric eigensolver of p x p. */
    double q1 = 0, q2 = 0, q3 = 0, dummy = 0;
    LAPACKE_dgeqrf_work(LAPACK_COL_MAJOR, (lapack_int)d, (lapack_int)p, NULL, (lapack_int)d, NULL,
                        &q1, -1);
    LAPACKE_dorgqr_work(LAPACK_COL_MAJOR, (lapack_int)d, (lapack_int)p, (lapack_int)p, NULL,
                        (lapack_int)d, NULL, &q2, -1);
    LAPACKE_dsyev_work(LAPACK_COL_MAJOR, 'V', 'U', (lapack_int)p, &dummy, (lapack_int)p, &dummy,
                       &q3, -1);
    double lw = q1 > q2 ? q1 : q2;
    lw = lw > q3 ? lw : q3;
    b->lwork = (size_t)lw + 1;

    b->Z = calloc(d * p, sizeof *b->Z);
    b->S = calloc(d * p, sizeof *b->S);
    b->T = calloc(p * p, sizeof *b->T);
    b->Y = calloc(b->group * p, sizeof *b->Y);
    b->stage = calloc(b->group * d, sizeof *b->stage);
    b->gxx = calloc(b->group, sizeof *b->gxx);
    b->gtau = calloc(b->group, sizeof *b->gtau);
    b->W = calloc(p * p, sizeof *b->W);
    b->pp = calloc(p * p, sizeof *b->pp);
    b->ritz = calloc(p, sizeof *b->ritz);
    b->tau = calloc(p, sizeof *b->tau);
    b->work = calloc(b->lwork, sizeof *b->work);
    b->V = calloc(d * k, sizeof *b->V);
    b->theta = calloc(k + 1, sizeof *b->theta);
    if (!b->Z || !b->S || !b->T || !b->Y || !b->stage || !b->gxx || !b->gtau || !b->W || !b->pp || !b->ritz || !b->tau ||
        !b->work || !b->V || !b->theta)
        return -ENOMEM;
    /* Both methods keep heavy rows verbatim (see the file comment). */
    b->heavy_max = t->p.heavy_max ? t->p.heavy_max : auto_heavy_max(d, t->p.heavy_factor);
    b->log_term = (double)d * log2(2.0 * (double)d);
    b->heavy = calloc(b->heavy_max * d, sizeof *b->heavy);
    b->heavy_norm2 = calloc(b->heavy_max, sizeof *b->heavy_norm2);
    b->HZ = calloc(b->heavy_max * p, sizeof *b->HZ);
    if (!b->heavy || !b->heavy_norm2 || !b->HZ)
        return -ENOMEM;
    if (t->p.method == SPX_TOPEIG_RANDORDER) {
        b->avg_cur = calloc(d * k, sizeof *b->avg_cur);
        b->avg_prev = calloc(d * k, sizeof *b->avg_prev);
        b->th_cur = calloc(k + 1, sizeof *b->th_cur);
        b->th_prev = calloc(k + 1, sizeof *b->th_prev);
        if (!b->avg_cur || !b->avg_prev || !b->th_cur || !b->th_prev)
            return -ENOMEM;
    }
    for (size_t j = 0; j < p; j++)
        spx_rng_normal_fill(&t->rng, b->Z + j * d, d);
    orthonormalise(b, b->Z, d, p);
    memcpy(b->V, b->Z, d * k * sizeof *b->V);
    return 0;
}

/* Accumulates m light rows (row-major, contiguous) into S and T. Up to 4 columns row by row with
 * the fused kernels (faster than 3-column GEMMs), more with GEMMs. */
static void accumulate_light(spx_topeig *t, const double *x, size_t m)
{
    spx_topeig_block *b = &t->blk;
    if (b->p <= 4) {
        const size_t d = t->d, p = b->p;
        double y[4];
        for (size_t r = 0; r < m; r++) {
            const double *xr = x + r * d;
            spx_topeig_project_small(xr, b->Z, d, p, y);
            spx_topeig_rank_update_small(b->S, xr, y, d, p);
            for (size_t i = 0; i < p; i++)
                for (size_t j = 0; j < p; j++)
                    b->T[i + j * p] += y[i] * y[j];
        }
        b->block_light += m;
        return;
    }
    const int d = (int)t->d, p = (int)b->p, mm = (int)m;
    cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, mm, p, d, 1.0, x, d, b->Z, d, 0.0, b->Y,
                mm);
    cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, d, p, mm, 1.0, x, d, b->Y, mm, 1.0, b->S,
                d);
    cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, p, p, mm, 1.0, b->Y, mm, b->Y, mm, 1.0,
                b->T, p);
    b->block_light += m;
}

/* A heavy row must also carry at least this many times the mean row energy. Early in the stream
 * F_t^2 / (heavy_factor d log2(2d)) is below the typical row (every row would be "heavy" for the
 * first heavy_factor d log2(2d) rows, filling the buffer with ordinary rows only to demote them
 * later, at a cost of a copy and a buffer scan per row); a row with 8x the mean energy is ~2% of a
 * 400-row block's energy and cannot swing a power step. */
#define HEAVY_MIN_RATIO 8.0

static double heavy_threshold(const spx_topeig *t)
{
    double by_norm = t->fro2 / (t->p.heavy_factor * t->blk.log_term);
    double by_mean = HEAVY_MIN_RATIO * t->fro2 / (double)t->rows;
    return by_norm > by_mean ? by_norm : by_mean;
}

/* RANDORDER: stores x (norm^2 xx) as heavy, evicting the smallest stored row if the buffer is
 * full. Returns 0 when x itself must be treated as light. */
static int heavy_insert(spx_topeig *t, const double *x, double xx)
{
    spx_topeig_block *b = &t->blk;
    const size_t d = t->d;
    size_t slot = b->n_heavy;
    if (b->n_heavy == b->heavy_max) {
        size_t imin = 0;
        for (size_t i = 1; i < b->n_heavy; i++)
            if (b->heavy_norm2[i] < b->heavy_norm2[imin])
                imin = i;
        if (!(b->heavy_norm2[imin] < xx))
            return 0;
        accumulate_light(t, b->heavy + imin * d, 1);
        slot = imin;
    } else {
        b->n_heavy++;
    }
    memcpy(b->heavy + slot * d, x, d * sizeof *x);
    b->heavy_norm2[slot] = xx;
    return 1;
}

/* Moves stored rows that are no longer heavy to the light side of the current block, keeping the
 * order of the rest (determinism). */
static void heavy_demote(spx_topeig *t)
{
    spx_topeig_block *b = &t->blk;
    const size_t d = t->d;
    const double tau = heavy_threshold(t);
    size_t keep = 0;
    for (size_t i = 0; i < b->n_heavy; i++) {
        if (b->heavy_norm2[i] < tau) {
            accumulate_light(t, b->heavy + i * d, 1);
            continue;
        }
        if (keep != i) {
            memcpy(b->heavy + keep * d, b->heavy + i * d, d * sizeof *b->heavy);
            b->heavy_norm2[keep] = b->heavy_norm2[i];
        }
        keep++;
    }
    b->n_heavy = keep;
}

/* Ritz step at the end of a block (see the file comment). */
static void block_end(spx_topeig *t)
{
    spx_topeig_block *b = &t->blk;
    const size_t d = t->d, p = b->p, k = t->k;
    const int randorder = t->p.method == SPX_TOPEIG_RANDORDER;
    heavy_demote(t);

    /* Per-row operator estimate applied to Z: S and T scaled, plus the heavy part. */
    double rows = (double)t->rows;
    double s_light =
        b->block_light ? (rows - (double)b->n_heavy) / ((double)b->block_light * rows) : 0.0;
    for (size_t i = 0; i < d * p; i++)
        b->S[i] *= s_light;
    for (size_t i = 0; i < p * p; i++)
        b->T[i] *= s_light;
    if (b->n_heavy) {
        const int h = (int)b->n_heavy, dd = (int)d, pp = (int)p;
        cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, h, pp, dd, 1.0, b->heavy, dd, b->Z, dd,
                    0.0, b->HZ, h);
        cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, dd, pp, h, 1.0 / rows, b->heavy, dd,
                    b->HZ, h, 1.0, b->S, dd);
        cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, pp, pp, h, 1.0 / rows, b->HZ, h, b->HZ,
                    h, 1.0, b->T, pp);
    }

    double snorm = 0.0;
    for (size_t i = 0; i < d * p; i++)
        snorm += b->S[i] * b->S[i];
    if (snorm > 0.0 && isfinite(snorm)) {
        /* Ritz decomposition of the symmetrised T (ascending from LAPACK; reversed below). */
        for (size_t i = 0; i < p; i++)
            for (size_t j = 0; j < p; j++)
                b->W[i + j * p] = 0.5 * (b->T[i + j * p] + b->T[j + i * p]);
        LAPACKE_dsyev_work(LAPACK_COL_MAJOR, 'V', 'U', (lapack_int)p, b->W, (lapack_int)p, b->ritz,
                           b->work, (lapack_int)b->lwork);
        for (size_t j = 0; j < p; j++) /* descending order of Ritz values */
            memcpy(b->pp + j * p, b->W + (p - 1 - j) * p, p * sizeof *b->pp);
        cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, (int)d, (int)p, (int)p, 1.0, b->S,
                    (int)d, b->pp, (int)p, 0.0, b->Z, (int)d);
        orthonormalise(b, b->Z, d, p);
        size_t nth = k + 1 < p ? k + 1 : p;
        for (size_t i = 0; i < nth; i++)
            b->theta[i] = b->ritz[p - 1 - i];
        b->last_gap = p >= 2 && b->ritz[p - 2] > 0.0 ? b->ritz[p - 1] / b->ritz[p - 2] : 0.0;
        memcpy(b->V, b->Z, d * k * sizeof *b->V);
    }
    b->blocks++;

    if (randorder) {
        /* Sign-align each vector with the window's running sum, then add it. */
        for (size_t j = 0; j < k; j++) {
            const double *v = b->V + j * d;
            double *ac = b->avg_cur + j * d, *ap = b->avg_prev + j * d;
            double s = 0.0;
            for (size_t i = 0; i < d; i++)
                s += v[i] * (ac[i] + ap[i]);
            double sign = s < 0.0 ? -1.0 : 1.0;
            for (size_t i = 0; i < d; i++)
                ac[i] += sign * v[i];
        }
        size_t nth = k + 1 < p ? k + 1 : p;
        for (size_t i = 0; i < nth; i++)
            b->th_cur[i] += b->theta[i];
        b->n_cur++;
        if (b->blocks == b->next_restart) {
            memcpy(b->avg_prev, b->avg_cur, d * k * sizeof *b->avg_prev);
            memcpy(b->th_prev, b->th_cur, (k + 1) * sizeof *b->th_prev);
            memset(b->avg_cur, 0, d * k * sizeof *b->avg_cur);
            memset(b->th_cur, 0, (k + 1) * sizeof *b->th_cur);
            b->n_prev = b->n_cur;
            b->n_cur = 0;
            b->next_restart *= 2;
        }
    }

    memset(b->S, 0, d * p * sizeof *b->S);
    memset(b->T, 0, p * p * sizeof *b->T);
    double next = (double)b->block_target * block_growth(t);
    double cap = 64.0 * (double)b->block_first;
    b->block_target = (uint64_t)(next < cap ? next : cap);
    if (b->block_target < b->block_first)
        b->block_target = b->block_first;
    b->block_rows = 0;
    b->block_light = 0;
}

/* Per-row bookkeeping at arrival (so rows_seen, the Frobenius norm and the ordering check include
 * rows still waiting in the staging buffer): norms and the heavy threshold each row met, stored at
 * group positions [at, at + m). */
static void rows_arrived(spx_topeig *t, const double *x, size_t m, size_t at)
{
    spx_topeig_block *b = &t->blk;
    const size_t d = t->d;
    for (size_t r = 0; r < m; r++) {
        double xx;
        double along = spx_topeig_dot_norm_f64(x + r * d, t->order.ref, d, &xx);
        spx_topeig_row_seen(t, xx, along);
        b->gxx[at + r] = xx;
        b->gtau[at + r] = heavy_threshold(t);
    }
}

/* m rows (row-major, contiguous, m <= group, not crossing the block end), already counted by
 * rows_arrived(). Light rows go to the GEMMs in runs between heavy rows. */
static void process_group(spx_topeig *t, const double *x, size_t m)
{
    spx_topeig_block *b = &t->blk;
    const size_t d = t->d;
    size_t run = 0;
    for (size_t r = 0; r < m; r++) {
        double xx = b->gxx[r];
        if (xx > 0.0 && xx >= b->gtau[r] && heavy_insert(t, x + r * d, xx)) {
            if (r > run)
                accumulate_light(t, x + run * d, r - run);
            run = r + 1;
        }
    }
    if (m > run)
        accumulate_light(t, x + run * d, m - run);
    b->block_rows += m;
    if (b->block_rows == b->block_target)
        block_end(t);
}

static size_t next_group_len(const spx_topeig_block *b)
{
    uint64_t left = b->block_target - b->block_rows;
    return left < b->group ? (size_t)left : b->group;
}

/* p <= 4: one row at a time, no groups. The row's first read (from memory) gives y = Z^T x with
 * its norm and ordering statistic, the second (from L1) the update S += x y^T. */
static void small_row(spx_topeig *t, const double *x)
{
    spx_topeig_block *b = &t->blk;
    const size_t d = t->d, p = b->p;
    double y[4], xr, xx;
    spx_topeig_project_small_ex(x, b->Z, t->order.ref, d, p, y, &xr, &xx);
    spx_topeig_row_seen(t, xx, xr);
    if (!(xx > 0.0 && xx >= heavy_threshold(t) && heavy_insert(t, x, xx))) {
        spx_topeig_rank_update_small(b->S, x, y, d, p);
        for (size_t i = 0; i < p; i++)
            for (size_t j = 0; j < p; j++)
                b->T[i + j * p] += y[i] * y[j];
        b->block_light++;
    }
    if (++b->block_rows == b->block_target)
        block_end(t);
}

/* small_row for an f32 row, read as it is; widened (into the unused staging buffer) only when it
 * is heavy and must be stored. */
static void small_row_f32(spx_topeig *t, const float *x)
{
    spx_topeig_block *b = &t->blk;
    const size_t d = t->d, p = b->p;
    double y[4], xr, xx;
    spx_topeig_project_small_ex_f32(x, b->Z, t->order.ref, d, p, y, &xr, &xx);
    spx_topeig_row_seen(t, xx, xr);
    int held = 0;
    if (xx > 0.0 && xx >= heavy_threshold(t)) {
        for (size_t i = 0; i < d; i++)
            b->stage[i] = x[i];
        held = heavy_insert(t, b->stage, xx);
    }
    if (!held) {
        spx_topeig_rank_update_small_f32(b->S, x, y, d, p);
        for (size_t i = 0; i < p; i++)
            for (size_t j = 0; j < p; j++)
                b->T[i + j * p] += y[i] * y[j];
        b->block_light++;
    }
    if (++b->block_rows == b->block_target)
        block_end(t);
}

static void block_update_f64(spx_topeig *t, const double *rows, size_t n)
{
    spx_topeig_block *b = &t->blk;
    const size_t d = t->d;
    if (b->p <= 4) {
        for (size_t r = 0; r < n; r++)
            small_row(t, rows + r * d);
        return;
    }
    while (n > 0) {
        size_t want = next_group_len(b);
        if (b->staged == 0 && n >= want) {
            rows_arrived(t, rows, want, 0);
            process_group(t, rows, want);
            rows += want * d;
            n -= want;
            continue;
        }
        size_t take = want - b->staged < n ? want - b->staged : n;
        memcpy(b->stage + b->staged * d, rows, take * d * sizeof *rows);
        rows_arrived(t, b->stage + b->staged * d, take, b->staged);
        b->staged += take;
        rows += take * d;
        n -= take;
        if (b->staged == want) {
            b->staged = 0;
            process_group(t, b->stage, want);
        }
    }
}

static void block_update_f32(spx_topeig *t, const float *rows, size_t n)
{
    spx_topeig_block *b = &t->blk;
    const size_t d = t->d;
    if (b->p <= 4) {
        for (size_t r = 0; r < n; r++)
            small_row_f32(t, rows + r * d);
        return;
    }
    while (n > 0) {
        size_t want = next_group_len(b);
        size_t take = want - b->staged < n ? want - b->staged : n;
        double *dst = b->stage + b->staged * d;
        for (size_t i = 0; i < take * d; i++)
            dst[i] = rows[i];
        rows_arrived(t, dst, take, b->staged);
        b->staged += take;
        rows += take * d;
        n -= take;
        if (b->staged == want) {
            b->staged = 0;
            process_group(t, b->stage, want);
        }
    }
}

/* Modified Gram-Schmidt on the k columns (length d) of a; a column that vanishes is left zero. */
static void gram_schmidt(double *a, size_t d, size_t k)
{
    for (size_t j = 0; j < k; j++) {
        double *v = a + j * d;
        for (size_t i = 0; i < j; i++) {
            const double *u = a + i * d;
            double s = 0.0;
            for (size_t c = 0; c < d; c++)
                s += u[c] * v[c];
            for (size_t c = 0; c < d; c++)
                v[c] -= s * u[c];
        }
        double nn = 0.0;
        for (size_t c = 0; c < d; c++)
            nn += v[c] * v[c];
        if (nn > 0.0) {
            double inv = 1.0 / sqrt(nn);
            for (size_t c = 0; c < d; c++)
                v[c] *= inv;
        }
    }
}

static void block_result(const spx_topeig *t, spx_topeig_result *out)
{
    const spx_topeig_block *b = &t->blk;
    const size_t d = t->d, k = t->k;
    uint64_t nw = b->n_cur + b->n_prev;
    if (t->p.method == SPX_TOPEIG_RANDORDER && nw > 0) {
        for (size_t i = 0; i < d * k; i++)
            t->vec[i] = b->avg_cur[i] + b->avg_prev[i];
        gram_schmidt(t->vec, d, k);
        double th[2] = {0, 0};
        for (size_t i = 0; i < k; i++)
            t->eig[i] = (b->th_cur[i] + b->th_prev[i]) / (double)nw;
        for (size_t i = 0; i < 2 && i < k + 1 && i < b->p; i++)
            th[i] = (b->th_cur[i] + b->th_prev[i]) / (double)nw;
        out->gap = b->p >= 2 && th[1] > 0.0 ? th[0] / th[1] : 0.0;
        out->heavy_rows = b->n_heavy;
    } else {
        memcpy(t->vec, b->V, d * k * sizeof *t->vec);
        for (size_t i = 0; i < k; i++)
            t->eig[i] = b->blocks ? b->theta[i] : 0.0;
        out->gap = b->blocks ? b->last_gap : 0.0;
        out->heavy_rows = b->n_heavy;
    }
}

const spx_topeig_method_ops spx_topeig_power_ops = {
    .init = block_init,
    .release = block_release,
    .update_f64 = block_update_f64,
    .update_f32 = block_update_f32,
    .result = block_result,
};
