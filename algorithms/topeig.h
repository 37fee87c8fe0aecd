/* Online top eigenvector(s) of A^T A from a stream of rows of A.
 *
 * Pure numerics (BLAS/LAPACK only, no I/O). Deterministic given the seed. All memory is allocated in
 * spx_topeig_create(); updates never allocate.
 *
 * Methods (spx_topeig_method):
 *   ADAOJA   Oja's rule v <- normalize(v + eta_t <x,v> x) with the AdaOja step eta_t = 1 / b_t,
 *            b_t^2 = b_{t-1}^2 + ||g_t||^2 (Henriksen & Ward 2019). The default.
 *   OJA      Oja's rule with eta_t = eta0 / (1 + t / t0)^decay (decay 0 = fixed step).
 *   Further methods (power, fd, randorder) are added by the eigenvector issue.
 *
 * The eigenvalue estimate is of s1^2 / n, the top eigenvalue of the sample second-moment matrix
 * A^T A / n (see docs/algorithms.md). */
#ifndef SPX_TOPEIG_H
#define SPX_TOPEIG_H

#include <stddef.h>
#include <stdint.h>

typedef enum spx_topeig_method {
    SPX_TOPEIG_ADAOJA = 0,
    SPX_TOPEIG_OJA = 1,
} spx_topeig_method;

typedef struct spx_topeig_params {
    size_t dim;                 /* d, required */
    spx_topeig_method method;   /* default ADAOJA */
    size_t k;                   /* eigenvectors wanted; 1 for the Oja methods */
    double eta0;                /* OJA: initial step (default 1.0) */
    double t0;                  /* OJA: step decay time scale in rows (default 1000) */
    double decay;               /* OJA: exponent (default 1.0; 0 = fixed step) */
    double b0;                  /* ADAOJA: initial b_0 (default 1e-5) */
    uint64_t seed;              /* start vector seed (default 1) */
} spx_topeig_params;

/* Fills p with the defaults for dimension d. */
void spx_topeig_params_default(spx_topeig_params *p, size_t dim);

typedef struct spx_topeig spx_topeig;

typedef struct spx_topeig_result {
    const double *vector;       /* k x d, row-major, unit rows; valid until the next update/free */
    const double *eigenvalues;  /* k estimates of s_i^2 / n */
    size_t k, dim;
    uint64_t rows_seen;
    double frobenius;           /* running ||A||_F */
} spx_topeig_result;

/* Returns 0, or -EINVAL (bad params) / -ENOMEM. */
int spx_topeig_create(spx_topeig **out, const spx_topeig_params *p);
/* Consumes n rows (row-major n x dim). Rows must be finite (the wire codec rejects NaN/Inf before
 * any pipeline sees them). Returns 0, or -EINVAL for bad arguments. */
int spx_topeig_update_f64(spx_topeig *t, const double *rows, size_t n);
int spx_topeig_update_f32(spx_topeig *t, const float *rows, size_t n);
void spx_topeig_result_get(const spx_topeig *t, spx_topeig_result *out);
void spx_topeig_free(spx_topeig *t);

#endif
