/* Batch error-constrained clustering: the three greedy methods of svdcluster.h. */
#include "svdcluster.h"

#include "svdcluster_internal.h"

#include <cblas.h>
#include <errno.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Residual directions below this fraction of a block's norm are rounding (see isvd.h). */
#define SPX_SVDCLUSTER_RANK_TOL 1e-12

typedef struct keyed {
    double key;
    size_t idx;
} keyed;

typedef struct batch {
    const spx_svdcluster_params *p;
    const spx_svdcluster_blocks *b;
    size_t m, r, K, nmax;
    double eps2;
    double *norm2;       /* K: ||A_i||_F^2 */
    size_t *avail;       /* remaining blocks, descending norm */
    size_t navail;
    unsigned char *used; /* K */
    keyed *order;        /* K */
    size_t *member;      /* the group being built */
    size_t nmember;
    double *gather;      /* m x nmax: seed columns side by side */
    double *coef;        /* q x nmax */
    /* RESIDUAL: the group's basis Q = [Q_1, Q_2, ...] grows by the new directions of each block
     * (row block j = rows rb_off[j] .. + rb_len[j] of Q^T M); G_j = Q_j^T M M^T Q_j (over the blocks
     * from the one that made Q_j on) is kept at gdiag + rb_off[j] * nmax, leading dimension nmax. */
    size_t *rb_off, *rb_len;
    size_t nrb;
    double *gdiag;       /* m x nmax */
    double *coefbuf;     /* m x nmax: Q^T A */
    double *residbuf;    /* nmax x nmax: the block's coefficients in its new directions */
    double *gscratch;    /* nmax x nmax */
    double *vals;        /* m: eigenvalues of every G_j */
    double *ework;       /* 2 nmax + 1 */
    double dropped;      /* residual energy never given a direction */
    spx_isvd_work *w;
    spx_isvd_state st;
    double *u, *s;
    size_t q;
} batch;

static size_t cols_of(const batch *bt, size_t i)
{
    return bt->b->col_offset[i + 1] - bt->b->col_offset[i];
}

static const double *data_of(const batch *bt, size_t i)
{
    return bt->b->data + bt->b->col_offset[i] * bt->m;
}

static int by_key_then_index(const void *x, const void *y)
{
    const keyed *a = x, *b = y;
    if (a->key < b->key)
        return -1;
    if (a->key > b->key)
        return 1;
    return a->idx < b->idx ? -1 : a->idx > b->idx;
}

static void batch_free(batch *bt)
{
    free(bt->norm2);
    free(bt->avail);
    free(bt->used);
    free(bt->order);
    free(bt->member);
    free(bt->gather);
    free(bt->coef);
    free(bt->rb_off);
    free(bt->rb_len);
    free(bt->gdiag);
    free(bt->coefbuf);
    free(bt->residbuf);
    free(bt->gscratch);
    free(bt->vals);
    free(bt->ework);
    free(bt->u);
    free(bt->s);
    spx_isvd_work_free(bt->w);
}

static int batch_init(batch *bt, const spx_svdcluster_params *p, const spx_svdcluster_blocks *b)
{
    memset(bt, 0, sizeof *bt);
    bt->p = p;
    bt->b = b;
    bt->m = b->rows;
    bt->r = p->rank;
    bt->K = b->count;
    bt->eps2 = p->eps * p->eps;
    size_t widest = 1;
    for (size_t i = 0; i < b->count; i++)
        if (cols_of(bt, i) > widest)
            widest = cols_of(bt, i);
    bt->nmax = widest > bt->r ? widest : bt->r;
    switch (p->method) {
    case SPX_SVDCLUSTER_APPROX:
        bt->q = p->rank + p->oversample < bt->m ? p->rank + p->oversample : bt->m;
        break;
    case SPX_SVDCLUSTER_RESIDUAL:
        bt->q = bt->m; /* the basis of everything in the group */
        break;
    case SPX_SVDCLUSTER_MAXNORM:
        bt->q = 0;
        break;
    }
    size_t K = bt->K > 0 ? bt->K : 1, m = bt->m, n = bt->nmax, q = bt->q > 0 ? bt->q : 1;
    bt->norm2 = malloc(K * sizeof *bt->norm2);
    bt->avail = malloc(K * sizeof *bt->avail);
    bt->used = calloc(K, 1);
    bt->order = malloc(K * sizeof *bt->order);
    bt->member = malloc(K * sizeof *bt->member);
    bt->gather = malloc(m * n * sizeof *bt->gather);
    bt->coef = malloc(q * n * sizeof *bt->coef);
    if (p->method == SPX_SVDCLUSTER_RESIDUAL) {
        bt->rb_off = malloc(m * sizeof *bt->rb_off);
        bt->rb_len = malloc(m * sizeof *bt->rb_len);
        bt->gdiag = malloc(m * n * sizeof *bt->gdiag);
        bt->coefbuf = malloc(m * n * sizeof *bt->coefbuf);
        bt->residbuf = malloc(n * n * sizeof *bt->residbuf);
        bt->gscratch = malloc(n * n * sizeof *bt->gscratch);
        bt->vals = malloc(m * sizeof *bt->vals);
        bt->ework = malloc((2 * n + 1) * sizeof *bt->ework);
        if (!bt->rb_off || !bt->rb_len || !bt->gdiag || !bt->coefbuf || !bt->residbuf ||
            !bt->gscratch || !bt->vals || !bt->ework)
            return -ENOMEM;
    }
    bt->u = malloc(m * q * sizeof *bt->u);
    bt->s = malloc(q * sizeof *bt->s);
    if (!bt->norm2 || !bt->avail || !bt->used || !bt->order || !bt->member || !bt->gather ||
        !bt->coef || !bt->u || !bt->s)
        return -ENOMEM;
    if (bt->q > 0) {
        int rc = spx_isvd_work_create(&bt->w, m, bt->q, n);
        if (rc != 0)
            return rc;
        spx_isvd_state_init(&bt->st, m, bt->q, bt->u, bt->s);
    }
    for (size_t i = 0; i < bt->K; i++) {
        const double *a = data_of(bt, i);
        double e = 0.0;
        for (size_t k = 0; k < m * cols_of(bt, i); k++)
            e += a[k] * a[k];
        if (!isfinite(e))
            return -EINVAL;
        bt->norm2[i] = e;
        bt->order[i].key = -e;
        bt->order[i].idx = i;
    }
    qsort(bt->order, bt->K, sizeof *bt->order, by_key_then_index);
    for (size_t i = 0; i < bt->K; i++)
        bt->avail[i] = bt->order[i].idx;
    bt->navail = bt->K;
    return 0;
}

/* The seed: the largest remaining block and then the next largest while the seed has at most r
 * columns (stopping at the first that does not fit). Returns how many avail entries it took. */
static size_t take_seed(batch *bt)
{
    size_t cols = cols_of(bt, bt->avail[0]), k = 1;
    bt->member[0] = bt->avail[0];
    while (k < bt->navail && cols + cols_of(bt, bt->avail[k]) <= bt->r) {
        cols += cols_of(bt, bt->avail[k]);
        bt->member[k] = bt->avail[k];
        k++;
    }
    bt->nmember = k;
    return k;
}

/* Copies the seed's columns side by side into gather; returns the column count. */
static size_t gather_seed(batch *bt)
{
    size_t col = 0;
    for (size_t i = 0; i < bt->nmember; i++) {
        size_t nc = cols_of(bt, bt->member[i]);
        memcpy(bt->gather + col * bt->m, data_of(bt, bt->member[i]), bt->m * nc * sizeof(double));
        col += nc;
    }
    return col;
}

/* Exact rank-r tail energy of the seed: 0 when it has at most r columns (its rank is at most r),
 * else the smallest singular values of the single wide block, summed smallest first. */
static int seed_tail(batch *bt, double *tail)
{
    size_t ncols = gather_seed(bt);
    *tail = 0.0;
    if (ncols <= bt->r || bt->m <= bt->r)
        return 0;
    size_t ns = bt->m < ncols ? bt->m : ncols;
    double *sv = malloc(ns * sizeof *sv);
    if (!sv)
        return -ENOMEM;
    lapack_int info = LAPACKE_dgesdd(LAPACK_COL_MAJOR, 'N', (lapack_int)bt->m, (lapack_int)ncols,
                                     bt->gather, (lapack_int)bt->m, sv, NULL, 1, NULL, 1);
    double t = 0.0;
    for (size_t i = ns; i > bt->r; i--)
        t += sv[i - 1] * sv[i - 1];
    free(sv);
    *tail = t;
    return info == 0 ? 0 : -EIO;
}

/* Drops the group's members from avail, keeping the norm order. */
static void remove_members(batch *bt)
{
    for (size_t i = 0; i < bt->nmember; i++)
        bt->used[bt->member[i]] = 1;
    size_t k = 0;
    for (size_t i = 0; i < bt->navail; i++)
        if (!bt->used[bt->avail[i]])
            bt->avail[k++] = bt->avail[i];
    bt->navail = k;
}

/* Candidates (avail past the seed) in increasing residual norm ||A - UU^T A||_F against the
 * state's basis. Returns their count (in bt->order). */
static size_t residual_order(batch *bt, size_t from)
{
    size_t m = bt->m, cur = bt->st.cur, nc = 0;
    for (size_t k = from; k < bt->navail; k++) {
        size_t i = bt->avail[k], n = cols_of(bt, i);
        double in = 0.0;
        if (cur > 0 && n > 0) {
            cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, (int)cur, (int)n, (int)m, 1.0,
                        bt->st.u, (int)m, data_of(bt, i), (int)m, 0.0, bt->coef, (int)cur);
            for (size_t t = 0; t < cur * n; t++)
                in += bt->coef[t] * bt->coef[t];
        }
        double res = bt->norm2[i] - in; /* only an ordering key: the cancellation is harmless */
        bt->order[nc].key = res > 0.0 ? res : 0.0;
        bt->order[nc].idx = i;
        nc++;
    }
    qsort(bt->order, nc, sizeof *bt->order, by_key_then_index);
    return nc;
}

static int descending(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return a > b ? -1 : a < b;
}

static int apply_approx(batch *bt, const double *a, size_t n)
{
    return spx_isvd_state_update(&bt->st, bt->w, a, bt->m, n, 1.0, SPX_SVDCLUSTER_RANK_TOL);
}

/* RESIDUAL: extends the basis with A, adds its contribution to every G_j (and opens a row block
 * for its new directions), then bounds the tail. With P = diag(P_j) in the basis Q, P_j the top
 * eigenvectors of G_j chosen so that their ranks sum to r, ||P Q^T M||^2 = sum_j tr(P_j G_j) is at
 * most the rank-r head of M (Ky Fan), so the tail is at most the dropped energy plus every
 * eigenvalue of the G_j outside the r largest of their union; summed directly, smallest first.
 * (Counting only each block's own residual values, as the reference code does, treats all energy
 * that later blocks put into earlier directions as lost.) */
static int apply_residual(batch *bt, const double *a, size_t n, double *tail)
{
    size_t ld = bt->nmax, cur0 = bt->st.cur, nk = 0;
    double drop = 0.0;
    int rc = spx_isvd_state_extend(&bt->st, bt->w, a, bt->m, n, SPX_SVDCLUSTER_RANK_TOL,
                                   bt->coefbuf, bt->residbuf, &nk, &drop);
    if (rc != 0)
        return rc;
    bt->dropped += drop;
    for (size_t j = 0; j < bt->nrb && cur0 > 0; j++)
        cblas_dsyrk(CblasColMajor, CblasLower, CblasNoTrans, (int)bt->rb_len[j], (int)n, 1.0,
                    bt->coefbuf + bt->rb_off[j], (int)cur0, 1.0, bt->gdiag + bt->rb_off[j] * ld,
                    (int)ld);
    if (nk > 0) {
        bt->rb_off[bt->nrb] = cur0;
        bt->rb_len[bt->nrb] = nk;
        cblas_dsyrk(CblasColMajor, CblasLower, CblasNoTrans, (int)nk, (int)n, 1.0, bt->residbuf,
                    (int)nk, 0.0, bt->gdiag + cur0 * ld, (int)ld);
        bt->nrb++;
    }
    size_t nv = 0;
    for (size_t j = 0; j < bt->nrb; j++) {
        size_t len = bt->rb_len[j];
        const double *g = bt->gdiag + bt->rb_off[j] * ld;
        for (size_t c = 0; c < len; c++)
            memcpy(bt->gscratch + c * len, g + c * ld, len * sizeof *g);
        lapack_int one = 0;
        if (LAPACKE_dsyevd_work(LAPACK_COL_MAJOR, 'N', 'L', (lapack_int)len, bt->gscratch,
                                (lapack_int)len, bt->vals + nv, bt->ework,
                                (lapack_int)(2 * ld + 1), &one, 1) != 0)
            return -EIO;
        nv += len;
    }
    qsort(bt->vals, nv, sizeof *bt->vals, descending);
    double t = 0.0;
    for (size_t i = nv; i > bt->r; i--)
        t += bt->vals[i - 1] > 0.0 ? bt->vals[i - 1] : 0.0;
    *tail = bt->dropped + t;
    return 0;
}

/* Grows one group from the seed in bt->member; returns the number of candidates accepted. */
static int grow_group(batch *bt, size_t seed_len, size_t *accepted, double *bound)
{
    const spx_svdcluster_method method = bt->p->method;
    double energy = 0.0, tail = 0.0;
    for (size_t i = 0; i < seed_len; i++)
        energy += bt->norm2[bt->member[i]];
    *accepted = 0;
    int rc = 0;
    if (method == SPX_SVDCLUSTER_MAXNORM) {
        rc = seed_tail(bt, &tail);
        if (rc != 0)
            return rc;
        /* smallest norm first, from the end of avail */
        for (size_t k = bt->navail; k > seed_len; k--) {
            size_t i = bt->avail[k - 1];
            double t = tail + bt->norm2[i], e = energy + bt->norm2[i];
            if (t > bt->eps2 * e)
                break;
            tail = t;
            energy = e;
            bt->member[bt->nmember++] = i;
            (*accepted)++;
        }
        *bound = energy > 0.0 ? sqrt(tail / energy) : 0.0;
        return 0;
    }

    spx_isvd_state_clear(&bt->st);
    bt->nrb = 0;
    bt->dropped = 0.0;
    size_t ncols = gather_seed(bt);
    if (method == SPX_SVDCLUSTER_APPROX) {
        if (ncols > 0)
            rc = apply_approx(bt, bt->gather, ncols);
        tail = spx_isvd_state_tail(&bt->st, bt->r);
    } else if (ncols > 0) {
        rc = apply_residual(bt, bt->gather, ncols, &tail);
    }
    if (rc != 0)
        return rc;
    *bound = energy > 0.0 ? sqrt(tail / energy) : 0.0;

    size_t nc = residual_order(bt, seed_len);
    for (size_t k = 0; k < nc; k++) {
        size_t i = bt->order[k].idx, n = cols_of(bt, i);
        double e = energy + bt->norm2[i], t = tail;
        if (n > 0) {
            if (method == SPX_SVDCLUSTER_APPROX) {
                rc = apply_approx(bt, data_of(bt, i), n);
                t = spx_isvd_state_tail(&bt->st, bt->r);
            } else {
                rc = apply_residual(bt, data_of(bt, i), n, &t);
            }
            if (rc != 0)
                return rc;
        }
        /* the state now holds the candidate; a rejected one ends the group, so no rollback */
        if (t > bt->eps2 * e)
            break;
        tail = t;
        energy = e;
        *bound = energy > 0.0 ? sqrt(tail / energy) : 0.0;
        bt->member[bt->nmember++] = i;
        (*accepted)++;
    }
    return 0;
}

int spx_svdcluster_batch(const spx_svdcluster_params *p, const spx_svdcluster_blocks *b,
                         spx_svdcluster_groups *out)
{
    if (!out || !spx_svdcluster_params_valid(p) || !spx_svdcluster_blocks_valid(b) ||
        b->rows != p->rows)
        return -EINVAL;
    batch bt;
    int rc = batch_init(&bt, p, b);
    if (rc == 0)
        rc = spx_svdcluster_groups_alloc(out, b->count);
    size_t fruitless = 0;
    while (rc == 0 && bt.navail > 0) {
        size_t seed_len = take_seed(&bt), accepted = 0;
        double bound = 0.0;
        if (p->patience > 0 && fruitless >= p->patience) {
            /* given up: pack the rest into exact seed groups */
            rc = seed_tail(&bt, &bound);
            if (rc == 0) {
                double e = 0.0;
                for (size_t i = 0; i < seed_len; i++)
                    e += bt.norm2[bt.member[i]];
                bound = e > 0.0 ? sqrt(bound / e) : 0.0;
            }
        } else {
            rc = grow_group(&bt, seed_len, &accepted, &bound);
            fruitless = accepted == 0 ? fruitless + 1 : 0;
        }
        if (rc != 0)
            break;
        spx_svdcluster_groups_push(out, bt.member, bt.nmember, bound);
        remove_members(&bt);
    }
    batch_free(&bt);
    if (rc != 0)
        spx_svdcluster_groups_free(out);
    return rc;
}
