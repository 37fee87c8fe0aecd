/* Incremental truncated SVD of a stream of column blocks (Brand 2006; Zha & Simon 1999).
 *
 * The matrix M = [A_1, A_2, ...] has m rows; each update appends a block A_t of n_t columns. The
 * estimator holds M ~ U diag(s) V^T with U (m x q) orthonormal, q = min(k + p, m) for rank k and
 * oversampling p; V is never formed. An update:
 *   1. C = U^T A and R = A - U C, with a second Gram-Schmidt pass when a column lost more than half
 *      its norm to the projection (Kahan/Parlett "twice is enough"), so R is orthogonal to U to
 *      working precision;
 *   2. R = Q B (Householder QR) and B = X diag(sigma) Y^T: the residual directions P = Q X whose
 *      sigma_j <= rank_tol * ||A||_F are rounding noise and are dropped (their energy is counted as
 *      discarded); if a kept sigma_j is small relative to ||R|| the directions are projected out of U
 *      once more and re-orthonormalised, so a nearly dependent block cannot spoil U;
 *   3. with Z = X^T B, the Gram matrix of the core K = [diag(s) C; 0 Z] is eigen-decomposed (dsyevd);
 *      the top q eigenpairs give s and the rotation U <- [U P] V_q; the rest is discarded energy.
 * Periodically U is re-orthonormalised by Cholesky QR (U^T U is within rounding of I, so this is
 * stable) to keep it orthonormal to ~1e-14 over millions of updates.
 *
 * Forgetting: with factor lambda, each update computes M <- [lambda M, A] (per block, not per
 * column), so old data decays geometrically; lambda = 1 keeps everything.
 *
 * Error estimate: truncation only ever removes a positive semi-definite part of M M^T, so the
 * tracked eigenvalues are lower bounds of the true ones and
 *   tail_energy = discarded + sum_{i>k} s_i^2  >=  sum_{i>k} sigma_i(M)^2   (exact arithmetic),
 * accumulated directly from the discarded eigenvalues (never as ||M||^2 - sum s^2, which cancels).
 *
 * Pure numerics: BLAS/LAPACK only, no I/O. All memory is allocated at create; updates never allocate.
 * Errors: 0, or -EINVAL (bad argument or non-finite input), -ENOMEM, -EIO (LAPACK did not converge).
 * After an error the estimator is unchanged.
 *
 * Two levels of API: the spx_isvd object (one stream), and the state/workspace functions below it,
 * which let a clusterer hold many small states (one per group) that share one workspace. */
#ifndef SPX_ISVD_H
#define SPX_ISVD_H

#include <stddef.h>
#include <stdint.h>

/* How the caller's block is laid out. The wire format of a "blocks" message is row-major. */
typedef enum spx_isvd_layout {
    SPX_ISVD_COLMAJOR_F64 = 0, /* element (i, j) at a[i + j * m] */
    SPX_ISVD_ROWMAJOR_F64 = 1, /* element (i, j) at a[i * n + j] */
    SPX_ISVD_ROWMAJOR_F32 = 2, /* as above, float */
} spx_isvd_layout;

typedef struct spx_isvd_params {
    size_t rows;           /* m >= 1, required */
    size_t rank;           /* k in [1, m]: singular values reported (default 10) */
    size_t oversample;     /* p: extra directions tracked for accuracy (default 5); q = min(k+p, m) */
    size_t chunk_cols;     /* widest column chunk processed at once (default 64); wider blocks are
                            * applied as consecutive chunks, which is the same update */
    double forget;         /* lambda in (0, 1] (default 1) */
    uint64_t reorth_every; /* updates between re-orthonormalisations of U (default 100; 0 = never) */
    double rank_tol;       /* residual directions below rank_tol * ||A||_F are dropped
                            * (default 1e-12, range [0, 1e-3]) */
} spx_isvd_params;

void spx_isvd_params_default(spx_isvd_params *p, size_t rows, size_t rank);

typedef struct spx_isvd spx_isvd;

typedef struct spx_isvd_result {
    size_t rows, rank;
    size_t tracked;        /* directions held now (<= q) */
    size_t capacity;       /* q = min(k + p, m) */
    const double *sigma;   /* capacity values, descending, zero past `tracked`: the first `rank` are
                            * the estimate, the rest the oversampled directions; valid until the
                            * next update */
    uint64_t updates;      /* blocks applied */
    uint64_t columns;      /* columns applied */
    double energy;         /* ||M||_F^2 of the (forgetting-weighted) matrix */
    double discarded;      /* energy cut by truncation and rank pruning */
    double tail_energy;    /* discarded + sum_{k<i<=q} sigma_i^2: upper bound of sum_{i>k} sigma_i(M)^2 */
    double rel_error;      /* sqrt(tail_energy / energy); 0 while energy is 0 */
    double orth_error;     /* max |U^T U - I| at the last re-orthonormalisation; -1 before any */
} spx_isvd_result;

/* Returns 0, -EINVAL (bad params) or -ENOMEM. */
int spx_isvd_create(spx_isvd **out, const spx_isvd_params *p);
/* Appends one m x n block (n >= 1). */
int spx_isvd_update(spx_isvd *s, const void *a, size_t n, spx_isvd_layout layout);
void spx_isvd_result_get(const spx_isvd *s, spx_isvd_result *out);
/* Copies the first k left singular vectors (columns beyond `tracked` are zero) into u as m x k,
 * column-major (row_major = 0) or row-major (row_major != 0). */
void spx_isvd_left_vectors(const spx_isvd *s, double *u, int row_major);
/* Measures max |U^T U - I| now (O(m q^2)); 0 when nothing is tracked. */
double spx_isvd_orth_error(spx_isvd *s);
void spx_isvd_reset(spx_isvd *s);
void spx_isvd_free(spx_isvd *s);

/* Durable state (snapshots): everything later updates and results depend on, as plain values, so
 * that an estimator made with the same params and given them continues bit for bit. */
typedef struct spx_isvd_snapshot {
    size_t rows, capacity;     /* m and q: must be the estimator's */
    size_t tracked;            /* directions held */
    const double *u;           /* rows x tracked, column-major: the held directions */
    const double *s;           /* capacity values, descending, zero past tracked */
    double energy, discarded;
    double orth_error;         /* -1 before any re-orthonormalisation */
    uint64_t updates, columns;
    uint64_t since_reorth;     /* updates since the last re-orthonormalisation */
} spx_isvd_snapshot;

/* Describes the state; the arrays point into the estimator (valid until it changes). */
void spx_isvd_snapshot_get(const spx_isvd *s, spx_isvd_snapshot *out);
/* Checks a snapshot against the estimator's params and installs it. Returns 0, or -EINVAL (the
 * estimator unchanged) when a size differs or a value cannot come from an update: non-finite or
 * negative values, s not descending, U not orthonormal to 1e-6, counters that disagree. *why (may
 * be NULL) then names the first problem. */
int spx_isvd_snapshot_set(spx_isvd *s, const spx_isvd_snapshot *in, const char **why);

/* ---- Lower level: states sharing one workspace ------------------------------------------------ */

/* The factors of one incrementally tracked matrix. Storage is the caller's: u (m x q, column-major,
 * leading dimension m) and s (q). Fields are read-only for callers except through the functions. */
typedef struct spx_isvd_state {
    size_t m, q;           /* rows; capacity in directions */
    size_t cur;            /* directions held, <= q */
    double *u;             /* m x q, column j < cur orthonormal, the rest zero */
    double *s;             /* q, descending, zero past cur */
    double energy;         /* ||M||_F^2 */
    double discarded;      /* energy removed by truncation and rank pruning */
} spx_isvd_state;

typedef struct spx_isvd_work spx_isvd_work;

/* Workspace for states of m rows, capacity q (<= m), blocks of at most max_cols columns. */
int spx_isvd_work_create(spx_isvd_work **out, size_t m, size_t q, size_t max_cols);
void spx_isvd_work_free(spx_isvd_work *w);
size_t spx_isvd_work_max_cols(const spx_isvd_work *w);

/* Binds storage (zeroed here) to an empty state. */
void spx_isvd_state_init(spx_isvd_state *st, size_t m, size_t q, double *u, double *s);
void spx_isvd_state_clear(spx_isvd_state *st);

/* Converts a caller's block into column-major doubles dst (m x n), checking every value is finite.
 * Returns 0 or -EINVAL. Sets *energy = ||A||_F^2 when energy is not NULL. */
int spx_isvd_load_block(double *dst, size_t m, const void *a, size_t n, spx_isvd_layout layout,
                        double *energy);

/* Appends the column-major block a (m x n, leading dimension lda, n <= max_cols): the update
 * described at the top of this file, with forgetting factor forget. */
int spx_isvd_state_update(spx_isvd_state *st, spx_isvd_work *w, const double *a, size_t lda,
                          size_t n, double forget, double rank_tol);

/* Eigenvalues-only prediction of appending a block, without changing the state: given
 * c = U^T A (cur x n, leading dimension ldc) and ata = A^T A (n x n, column-major, full), the
 * squared singular values of [U diag(s), A] are the eigenvalues of [[S^2, S C], [C^T S, A^T A]].
 * Writes the predicted tail energy discarded + sum_{i>r} lambda_i into *tail (no forgetting: the
 * update with forget = 1 then records this tail up to rounding and rank pruning). */
int spx_isvd_state_predict(const spx_isvd_state *st, spx_isvd_work *w, const double *c, size_t ldc,
                           const double *ata, size_t n, size_t r, double *tail);

/* Appends the directions of A not yet in span(U) to U without any rotation or truncation (for a
 * growing basis; s unused): the residual (I - UU^T) A is orthonormalised as in an update and its
 * kept directions P become new columns of U while capacity q allows, so that
 * A = U_old coef + P resid + (dropped part). Outputs (each may be NULL except nnew and dropped):
 * coef = U_old^T A (cur_old x n, column-major, leading dimension cur_old), resid (*nnew x n,
 * leading dimension *nnew; needs n x n room), *nnew directions appended, *dropped the residual
 * energy not appended (rounding below rank_tol, or no capacity left). */
int spx_isvd_state_extend(spx_isvd_state *st, spx_isvd_work *w, const double *a, size_t lda,
                          size_t n, double rank_tol, double *coef, double *resid, size_t *nnew,
                          double *dropped);

/* discarded + sum_{i>r} s_i^2: the error bound of the state at rank r. */
double spx_isvd_state_tail(const spx_isvd_state *st, size_t r);

/* Restores orthonormality of U (Cholesky QR). Writes max |U^T U - I| before the fix into
 * *orth_error when not NULL. */
int spx_isvd_state_reorth(spx_isvd_state *st, spx_isvd_work *w, double *orth_error);

#endif
