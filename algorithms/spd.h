/* Symmetric positive-definite (SPD) matrix toolkit on LAPACK dsyevd / dsygvd / dsygst.
 *
 * Matrices are n x n, dense, full storage (both triangles filled on output). Row- and column-major
 * are the same thing for a symmetric matrix; inputs are read from the upper triangle in column-major
 * terms (= lower triangle row-major), so a slightly asymmetric input is treated as its symmetric part
 * of that triangle, as LAPACK does.
 *
 * Every operation runs in a workspace made once for a dimension (spx_spd_ws_create); no call after
 * that allocates. A workspace is not thread-safe: one per thread / pipeline.
 *
 * Matrix functions f(A) = V diag(f(w)) V^T are rebuilt with two rank-k updates (dsyrk) over the
 * columns where f >= 0 and f < 0, so the result is exactly symmetric.
 *
 * Riemannian geometry is the affine-invariant one (as in pyRiemann):
 *   distance d(A, B) = sqrt(sum_i log^2 lambda_i), lambda = generalized eigenvalues of (A, B);
 *   geodesic A #_t B = A^1/2 (A^-1/2 B A^-1/2)^t A^1/2;
 *   mean: fixed point M <- M^1/2 expm(nu sum_i w_i logm(M^-1/2 C_i M^-1/2)) M^1/2 from the Euclidean
 *   mean, step nu adapted as in pyRiemann's mean_riemann (x0.95 on progress, x0.5 otherwise).
 *
 * Errors: 0, or -EINVAL (bad argument), -EDOM (a matrix that must be SPD is not), -EIO (LAPACK did
 * not converge). */
#ifndef SPX_SPD_H
#define SPX_SPD_H

#include <stddef.h>

typedef struct spx_spd_ws spx_spd_ws;

/* Workspace for n x n matrices. Returns 0, -EINVAL (n == 0) or -ENOMEM. */
int spx_spd_ws_create(spx_spd_ws **out, size_t n);
void spx_spd_ws_free(spx_spd_ws *ws);
size_t spx_spd_ws_dim(const spx_spd_ws *ws);

/* Eigen-decomposition of symmetric a: w ascending (n), v column-major (column j = eigenvector j).
 * v may be NULL when only eigenvalues are wanted. */
int spx_spd_eigh(spx_spd_ws *ws, const double *a, double *w, double *v);

/* Matrix functions. out may alias a. sqrt/invsqrt/log/power need a SPD (-EDOM otherwise);
 * exp accepts any symmetric a. */
int spx_spd_sqrt(spx_spd_ws *ws, const double *a, double *out);
int spx_spd_invsqrt(spx_spd_ws *ws, const double *a, double *out);
int spx_spd_log(spx_spd_ws *ws, const double *a, double *out);
int spx_spd_exp(spx_spd_ws *ws, const double *a, double *out);
int spx_spd_power(spx_spd_ws *ws, const double *a, double p, double *out);
/* A^1/2 and A^-1/2 from one eigen-decomposition (either output may be NULL). */
int spx_spd_sqrt_invsqrt(spx_spd_ws *ws, const double *a, double *sqrt_out, double *invsqrt_out);

/* out = W A W^T for a general square W (n x n, row-major) and symmetric A; exactly symmetric. */
int spx_spd_congruence(spx_spd_ws *ws, const double *w, const double *a, double *out);

/* Affine-invariant distance through the generalized eigenvalues of (a, b) (dsygvd). */
int spx_spd_distance(spx_spd_ws *ws, const double *a, const double *b, double *dist);

/* Point at t on the geodesic from a (t = 0) to b (t = 1). out may alias a or b. */
int spx_spd_geodesic(spx_spd_ws *ws, const double *a, const double *b, double t, double *out);

/* Weighted Euclidean mean (weights NULL = uniform; weights are normalised to sum 1). */
int spx_spd_mean_euclid(const double *mats, size_t count, size_t n, const double *weights,
                        double *mean);

typedef struct spx_spd_mean_params {
    double tol;         /* stop when ||J||_F <= tol (default 1e-8) */
    int max_iter;       /* default 50 */
} spx_spd_mean_params;

typedef struct spx_spd_mean_info {
    int iterations;
    double criterion;   /* ||J||_F at the last iteration */
    int converged;      /* criterion <= tol (or the step vanished) */
} spx_spd_mean_info;

void spx_spd_mean_params_default(spx_spd_mean_params *p);

/* Riemannian (affine-invariant) mean of count SPD matrices stored back to back (count x n x n).
 * params and info may be NULL. Not converging within max_iter is not an error (see info). */
int spx_spd_mean_riemann(spx_spd_ws *ws, const double *mats, size_t count, const double *weights,
                         const spx_spd_mean_params *params, double *mean,
                         spx_spd_mean_info *info);

/* A fixed SPD reference R prepared once (Cholesky factor) so that distances to it cost one dsygst
 * and one eigenvalue-only dsyevd: the fast path for MDM prediction. */
typedef struct spx_spd_ref spx_spd_ref;
int spx_spd_ref_create(spx_spd_ref **out, size_t n);
void spx_spd_ref_free(spx_spd_ref *r);
/* -EDOM if r is not SPD. */
int spx_spd_ref_set(spx_spd_ref *ref, const double *r);
/* Squared distance d^2(c, R). */
int spx_spd_ref_distance2(spx_spd_ref *ref, const double *c, double *dist2);

#endif
