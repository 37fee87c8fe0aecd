/* Error-constrained clustering of matrix blocks (Shamrai, "Concatenated Matrix SVD: Compression
 * Bounds, Incremental Approximation, and Error-Constrained Clustering", arXiv 2601.11626).
 *
 * Blocks A_i have m rows and n_i columns. A group's horizontal concatenation M must have relative
 * rank-r error  sqrt(sum_{i>r} sigma_i(M)^2 / ||M||_F^2) <= eps. Every group carries an upper bound
 * of that error computed by its method; fewer groups means more compression.
 *
 * Batch methods (spx_svdcluster_batch), all greedy: the seed is the largest-norm remaining block
 * plus the next largest while the seed has at most r columns (its error is then exactly 0); then
 * candidates join one at a time until the first one that would break the bound:
 *   MAXNORM   Weyl-type bound err^2 <= 1 - ||seed||^2 / ||M||^2; candidates smallest norm first;
 *             no SVD at all; the most conservative.
 *   RESIDUAL  keeps an orthonormal basis Q = [Q_1, Q_2, ...] of everything in the group (up to m
 *             columns), Q_j the new directions of the residual (I - QQ^T) A_j of block j; with
 *             G_j = Q_j^T M M^T Q_j the bound is (the eigenvalues of all G_j past the r largest of
 *             their union) / ||M||^2: provable (Ky Fan with a block-diagonal projection). The
 *             reference code uses only each block's own residual values (G_j before later blocks
 *             add to it), which counts all energy in earlier directions as lost.
 *   APPROX    incremental truncated SVD (algorithms/isvd.h) with rank r + p; its error estimate is
 *             an upper bound in exact arithmetic. The default and the tightest.
 * RESIDUAL and APPROX take candidates in increasing order of their residual norm against the seed.
 * Patience: after `patience` seeds in a row that gained no block, the remaining blocks are packed
 * into seed groups (largest first, at most r columns each, exact) without further search.
 * (The reference code makes them singletons; packing is never worse.)
 *
 * Online mode (spx_svdcluster_add): each arriving block is screened against all open groups with
 * one stacked GEMM (all open bases side by side) and an eigenvalues-only test per group
 * (spx_isvd_state_predict); it joins the feasible group whose predicted tail energy grows least,
 * and only that group's factors are rotated. The tests run in increasing order of the block's
 * residual outside each group's basis; screen_depth bounds how many run once one has passed.
 * Otherwise the block opens a new group; when max_open groups are open the least recently extended
 * one is closed first (closed groups are final). Retained blocks can be re-clustered by any batch
 * method (spx_svdcluster_recluster). The per-block and per-group records and the retained block
 * store grow by amortised doubling (the only allocations after create).
 *
 * Pure numerics, no I/O. Errors: 0, -EINVAL, -ENOMEM, -EIO (LAPACK failure). */
#ifndef SPX_SVDCLUSTER_H
#define SPX_SVDCLUSTER_H

#include <stddef.h>
#include <stdint.h>

#include "isvd.h"

typedef enum spx_svdcluster_method {
    SPX_SVDCLUSTER_APPROX = 0,
    SPX_SVDCLUSTER_RESIDUAL = 1,
    SPX_SVDCLUSTER_MAXNORM = 2,
} spx_svdcluster_method;

/* "approx", "residual", "maxnorm"; NULL for an unknown value. */
const char *spx_svdcluster_method_name(spx_svdcluster_method m);
/* Parses a method name; returns 0 or -EINVAL. */
int spx_svdcluster_method_parse(const char *name, spx_svdcluster_method *out);

typedef struct spx_svdcluster_params {
    size_t rows;                  /* m >= 1, required */
    size_t rank;                  /* r in [1, m] (default 20) */
    double eps;                   /* relative error bound, (0, 1) (default 0.05) */
    size_t oversample;            /* p for APPROX and online (default 5) */
    size_t patience;              /* batch; 0 = never give up (default 10) */
    spx_svdcluster_method method; /* batch method (default APPROX) */
    size_t max_open;              /* online: open groups (default 100, >= 1) */
    size_t max_cols;              /* online: widest block accepted (default 64) */
    size_t screen_depth;          /* online: groups are tested in increasing residual order and
                                   * the search stops after d tests once one is feasible (default
                                   * 1: the feasible group of smallest residual); 0 tests every
                                   * open group and takes the least tail growth */
    size_t max_blocks;            /* online: blocks retained for re-clustering (default 100000;
                                   * 0 = keep none; further blocks are still assigned online) */
} spx_svdcluster_params;

void spx_svdcluster_params_default(spx_svdcluster_params *p, size_t rows);

/* A set of blocks, all columns side by side: block i is columns [col_offset[i], col_offset[i+1])
 * of the column-major m x col_offset[count] matrix data. */
typedef struct spx_svdcluster_blocks {
    size_t rows, count;
    const double *data;
    const size_t *col_offset;     /* count + 1 entries, col_offset[0] = 0, non-decreasing */
} spx_svdcluster_blocks;

/* A partition of blocks 0..blocks-1 into groups. */
typedef struct spx_svdcluster_groups {
    size_t count;                 /* groups */
    size_t blocks;                /* blocks partitioned */
    size_t *start;                /* count + 1: group g is member[start[g] .. start[g+1]) */
    size_t *member;               /* block indices, group by group, in joining order */
    size_t *label;                /* label[i] = group of block i */
    double *bound;                /* count: the method's upper bound of the group's relative error */
} spx_svdcluster_groups;

void spx_svdcluster_groups_free(spx_svdcluster_groups *g);

/* Batch clustering of a block set with p->method. Fills *out (free with groups_free). */
int spx_svdcluster_batch(const spx_svdcluster_params *p, const spx_svdcluster_blocks *b,
                         spx_svdcluster_groups *out);

/* Compressed factors of one group with the exact truncated SVD of its concatenation M (via the
 * eigen-decomposition of M M^T): u (m x r, column-major), s (r, descending) and coef (r x the
 * group's total columns, column-major, block after block in member order) with M ~ u coef,
 * coef = u^T M. Any output may be NULL, except that coef needs u. *rel_error (if not NULL) gets
 * the relative rank-r error of the exact SVD, summed from the smallest eigenvalues. */
int spx_svdcluster_factors(const spx_svdcluster_blocks *b, const size_t *member, size_t nmember,
                           size_t r, double *u, double *s, double *coef, double *rel_error);

/* The compression ratio m * total columns / stored values, where a group stores U_r and the
 * coefficients (S_r folded in) or its raw columns when that is smaller: min(m c_g, k_g (m + c_g))
 * with c_g the group's columns and k_g = min(r, c_g, m) (the accounting of the reference code). */
double spx_svdcluster_compression(const spx_svdcluster_blocks *b, const spx_svdcluster_groups *g,
                                  size_t r);

/* ---- online ------------------------------------------------------------------------------------ */

typedef struct spx_svdcluster spx_svdcluster;

typedef struct spx_svdcluster_assignment {
    uint64_t block;               /* arrival index, 0-based */
    uint64_t group;               /* group id, 0-based in order of opening */
    double bound;                 /* the group's error bound after this block */
    int opened;                   /* 1 when the block opened the group */
    int64_t closed;               /* group closed to make room, or -1 */
} spx_svdcluster_assignment;

int spx_svdcluster_create(spx_svdcluster **out, const spx_svdcluster_params *p);
/* Assigns one m x n block (1 <= n <= max_cols). On error nothing changes. */
int spx_svdcluster_add(spx_svdcluster *c, const void *a, size_t n, spx_isvd_layout layout,
                       spx_svdcluster_assignment *out);
uint64_t spx_svdcluster_blocks_seen(const spx_svdcluster *c);
size_t spx_svdcluster_open_groups(const spx_svdcluster *c);
/* The online partition of every block seen so far (open and closed groups). */
int spx_svdcluster_online_groups(const spx_svdcluster *c, spx_svdcluster_groups *out);
/* The retained blocks (valid until the next add or free); count < blocks seen when max_blocks
 * was reached. */
void spx_svdcluster_retained(const spx_svdcluster *c, spx_svdcluster_blocks *out);
/* Batch re-clustering of the retained blocks with the given method. */
int spx_svdcluster_recluster(const spx_svdcluster *c, spx_svdcluster_method method,
                             spx_svdcluster_groups *out);
/* Tracked factors of an open group: u (m x r, column-major), s (r). -ENOENT if not open. */
int spx_svdcluster_group_basis(const spx_svdcluster *c, uint64_t group, double *u, double *s);
/* Coefficients of an m x n block in an open group's tracked basis: coef = u^T A (r x n,
 * column-major), e.g. to publish the compressed form of the block just assigned. The group's
 * bound covers u coef as the approximation of all its blocks together. -ENOENT if not open. */
int spx_svdcluster_block_coefficients(spx_svdcluster *c, uint64_t group, const void *a, size_t n,
                                      spx_isvd_layout layout, double *coef);
void spx_svdcluster_free(spx_svdcluster *c);

/* ---- durable state (snapshots) ------------------------------------------------------------------
 * Everything later blocks, the online partition and re-clustering depend on, as plain values, so
 * that a clusterer made with the same params and given them continues bit for bit: the open
 * groups' factors in their slots (slot order decides ties and the stacked screening GEMM), the
 * LRU order, every group's record, every block's group and the retained blocks. */
typedef struct spx_svdcluster_slot_state {
    uint64_t group;               /* the open group in this slot */
    uint64_t touched;             /* arrival index of the last block that joined it (LRU) */
    size_t cur;                   /* directions its basis holds (<= capacity) */
    double energy, discarded;     /* as in spx_isvd_state */
} spx_svdcluster_slot_state;

typedef struct spx_svdcluster_group_state {
    uint64_t blocks;              /* blocks it holds (>= 1) */
    double bound;                 /* its error bound after its last block */
} spx_svdcluster_group_state;

typedef struct spx_svdcluster_snapshot {
    size_t rows, capacity;        /* m and q = min(rank + oversample, m): must be the clusterer's */
    size_t open;                  /* open groups, in slots 0 .. open-1 */
    size_t groups;                /* groups opened so far (open and closed) */
    uint64_t blocks;              /* blocks seen */
    size_t retained;              /* blocks retained: min(blocks, max_blocks) */
    size_t retained_cols;         /* their columns */
    const double *u;              /* m x (open q), column-major: slot i in columns [i q, (i+1) q),
                                   * zero past the slot's cur */
    const double *s;              /* open x q, each slot descending, zero past its cur */
    const spx_svdcluster_slot_state *slot;   /* open */
    const spx_svdcluster_group_state *group; /* groups */
    const uint64_t *label;        /* blocks: group of every block */
    const size_t *offset;         /* retained + 1 column offsets into store */
    const double *store;          /* m x retained_cols, column-major */
} spx_svdcluster_snapshot;

/* Sizes and the array views (pointing into the clusterer, valid until it changes); slot and group
 * are left NULL: fill caller arrays of `open` and `groups` records with snapshot_records. */
void spx_svdcluster_snapshot_get(const spx_svdcluster *c, spx_svdcluster_snapshot *out);
void spx_svdcluster_snapshot_records(const spx_svdcluster *c, spx_svdcluster_slot_state *slot,
                                     spx_svdcluster_group_state *group);
/* Checks a snapshot against the clusterer's params and installs it. Returns 0, -ENOMEM, or
 * -EINVAL when a size or value cannot come from this clusterer (sizes beyond max_open/max_cols/
 * max_blocks, non-orthonormal or non-finite factors, labels or group records that disagree, slot
 * groups repeated...); on failure nothing changes and *why (may be NULL) names the problem. */
int spx_svdcluster_snapshot_set(spx_svdcluster *c, const spx_svdcluster_snapshot *in,
                                const char **why);

#endif
