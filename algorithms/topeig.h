/* Online top eigenvector(s) of A^T A from a stream of rows of A.
 *
 * Pure numerics (BLAS/LAPACK only, no I/O). Deterministic given the seed. All memory is allocated in
 * spx_topeig_create(); updates never allocate.
 *
 * Methods (spx_topeig_method):
 *   ADAOJA   Oja's rule v <- normalize(v + eta_t <x,v> x) with the AdaOja step eta_t = 1 / b_t,
 *            b_t^2 = b_{t-1}^2 + ||g_t||^2 (Henriksen & Ward 2019). The default.
 *   OJA      Oja's rule with eta_t = eta0 / (m_t (1 + t / t0)^decay) (decay 0 = fixed step), m_t the
 *            running mean of ||x||^2, so eta0 is dimensionless and results do not depend on units.
 *            Both Oja methods take mini-batches (params.batch).
 *   POWER    Streaming block (noisy) power method (Mitliagkas et al. 2013): a d x p block Z,
 *            p = k + oversample; each block of rows gives Z <- orth(A_b^T A_b Z). Blocks grow by
 *            1.25x by default (quick start, then ever less noise); the result is the last complete
 *            block's step.
 *   FD       Frequent Directions (Liberty 2013; Ghashami et al. 2016): a sketch B of sketch_rows
 *            rows (2 x sketch_rows buffer) with 0 <= x^T (A^T A - B^T B) x <= shrink for all unit x.
 *            Deterministic, order-independent guarantee; exact when sketch_rows >= dim (then A^T A
 *            itself is kept). Eigenvalues: (sigma_i^2(B) + total shrinkage) / n.
 *   RANDORDER After Kacham & Woodruff (NeurIPS 2024) for rows in random order: heavy rows are kept
 *            verbatim and enter every power step exactly; light rows drive a block power method
 *            whose iterates are averaged over the recent half of the blocks. Design: topeig_block.c.
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
    SPX_TOPEIG_POWER = 2,
    SPX_TOPEIG_FD = 3,
    SPX_TOPEIG_RANDORDER = 4,
} spx_topeig_method;

#define SPX_TOPEIG_N_METHODS 5

/* "adaoja", "oja", "power", "fd", "randorder" -> the method, or -1 for an unknown name / NULL. */
int spx_topeig_method_parse(const char *name);
/* The method's name as above, or "unknown". */
const char *spx_topeig_method_name(spx_topeig_method m);

typedef struct spx_topeig_params {
    size_t dim;                 /* d, required */
    spx_topeig_method method;   /* default ADAOJA */
    size_t k;                   /* eigenvectors wanted; 1 for the Oja methods */
    double eta0;                /* OJA: initial step (default 1.0) */
    double t0;                  /* OJA: step decay time scale in rows (default 1000) */
    double decay;               /* OJA: exponent (default 1.0; 0 = fixed step) */
    double b0;                  /* ADAOJA: initial b_0 (default 1e-5) */
    uint64_t seed;              /* start vector seed (default 1) */
    /* Added by the eigenvector issue. Where a comment says so, 0 selects an automatic value. */
    size_t block_rows;          /* POWER, RANDORDER: rows per power step (first block for POWER);
                                   0 = auto: max(256, 4 dim) */
    double block_growth;        /* POWER, RANDORDER: each block this many times the previous one, up to
                                   64 x block_rows (0 = auto: POWER 1.25, RANDORDER 1 = fixed) */
    size_t oversample;          /* POWER, RANDORDER: extra iterate columns, p = k + oversample (default 2;
                                   >= 1 gives a gap estimate) */
    size_t sketch_rows;         /* FD: l, the sketch size (0 = auto: min(dim, max(2k, 128))) */
    double heavy_factor;        /* POWER, RANDORDER: a row is heavy when ||x||^2 >= F_t^2 / (heavy_factor d log2(2d)),
                                   F_t the running Frobenius norm (default 4) */
    size_t heavy_max;           /* POWER, RANDORDER: heavy rows kept at most (0 = auto) */
    size_t order_block;         /* rows per ordering check (0 = auto: max(256, 2 dim)) */
    double order_z;             /* ordering alarm threshold in standard errors (default 6) */
    size_t batch;               /* ADAOJA, OJA: rows per mini-batch (default 1: w moves after every
                                   row). B > 1: the B rows of a batch are all read against the same
                                   iterate and their steps applied together at the batch's end
                                   (AdaOja as in Henriksen & Ward, with the batch-mean gradient);
                                   batches are fixed by row count, not by how rows are split into
                                   update calls. Removes the row-to-row dependency: faster at small
                                   dim (docs/benchmarks.md). At most 65536. */
} spx_topeig_params;

#define SPX_TOPEIG_BATCH_MAX 65536

/* Fills p with the defaults for dimension d. */
void spx_topeig_params_default(spx_topeig_params *p, size_t dim);
/* NULL when spx_topeig_create() accepts p, else why not (a static string naming the parameter). */
const char *spx_topeig_params_problem(const spx_topeig_params *p);

typedef struct spx_topeig spx_topeig;

typedef struct spx_topeig_result {
    const double *vector;       /* k x d, row-major, unit rows; valid until the next update/free */
    const double *eigenvalues;  /* k estimates of s_i^2 / n */
    size_t k, dim;
    uint64_t rows_seen;
    double frobenius;           /* running ||A||_F */
    /* Added by the eigenvector issue. */
    spx_topeig_method method;
    double gap;                 /* estimate of R = s1^2 / s2^2, or 0 when the method cannot tell */
    uint64_t heavy_rows;        /* heavy rows held verbatim (POWER, RANDORDER), else 0 */
    double shrink;              /* FD: total shrinkage / n, a bound on the eigenvalue error; else 0 */
    double change;              /* 1 - ||V_mark V^T||_F^2 / k: mean squared sine of the angles between
                                   the current subspace and the one at the last spx_topeig_mark()
                                   (1 before the first mark) */
    uint64_t rows_since_mark;
    int order_alarm;            /* non-zero once the stream looked clearly not randomly ordered */
    const char *order_reason;   /* static string: why the alarm was raised ("" when not) */
} spx_topeig_result;

/* Returns 0, or -EINVAL (bad params) / -ENOMEM. */
int spx_topeig_create(spx_topeig **out, const spx_topeig_params *p);
/* Consumes n rows (row-major n x dim). Rows must be finite (the wire codec rejects NaN/Inf before
 * any pipeline sees them). Returns 0, or -EINVAL for bad arguments. */
int spx_topeig_update_f64(spx_topeig *t, const double *rows, size_t n);
int spx_topeig_update_f32(spx_topeig *t, const float *rows, size_t n);
void spx_topeig_result_get(const spx_topeig *t, spx_topeig_result *out);
/* Remembers the current estimate; later results report their change against it. */
void spx_topeig_mark(spx_topeig *t);
void spx_topeig_free(spx_topeig *t);

/* ---- Durable state (snapshots) ------------------------------------------------------------------
 * The estimator's state as named values, so that the stream layer can save and restore it (this
 * layer does no I/O). Everything later updates and results depend on is included; a restored
 * estimator continues bit for bit like the original.
 *   save:    spx_topeig_state_scalars() copies the scalars out; spx_topeig_state_arrays() lists
 *            the arrays (pointers into the estimator; lengths follow from the scalars, e.g. only
 *            the rows held in a buffer).
 *   restore: into an estimator freshly created with the same params: take its scalar list (names,
 *            types), replace the values, spx_topeig_state_set_scalars() (checks each value and
 *            the relations between them against this instance), then list the arrays (lengths now
 *            those of the restored state), fill each with exactly n values, and
 *            spx_topeig_state_check(). After a failed restore the estimator is unusable: free it.
 * The first scalars (method, dim, k and the method's sizes) identify the configuration: a state
 * saved under other params is refused. */
typedef enum spx_topeig_value_type {
    SPX_TOPEIG_U64 = 0,
    SPX_TOPEIG_I64 = 1,
    SPX_TOPEIG_F64 = 2,
} spx_topeig_value_type;

typedef struct spx_topeig_state_scalar {
    const char *name;           /* static */
    spx_topeig_value_type type;
    union {
        uint64_t u;
        int64_t i;
        double f;
    } v;
} spx_topeig_state_scalar;

typedef struct spx_topeig_state_array {
    const char *name;           /* static */
    spx_topeig_value_type type; /* SPX_TOPEIG_U64 or SPX_TOPEIG_F64 */
    void *data;                 /* n values inside the estimator */
    size_t n;
} spx_topeig_state_array;

/* Room the callers' lists need (either kind). */
#define SPX_TOPEIG_STATE_MAX 64

/* Fills out[0..SPX_TOPEIG_STATE_MAX) and returns the count (fixed for a method). */
size_t spx_topeig_state_scalars(const spx_topeig *t, spx_topeig_state_scalar *out);
/* Returns 0, or -EINVAL with the reason in err (names, types, ranges, relations). */
int spx_topeig_state_set_scalars(spx_topeig *t, const spx_topeig_state_scalar *in, size_t n,
                                 char *err, size_t errlen);
size_t spx_topeig_state_arrays(spx_topeig *t, spx_topeig_state_array *out);
/* Checks what the arrays hold (after they are filled). 0, or -EINVAL with err. */
int spx_topeig_state_check(const spx_topeig *t, char *err, size_t errlen);

#endif
