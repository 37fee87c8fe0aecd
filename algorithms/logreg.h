/* Binary L2-regularised logistic regression, deterministic Newton solver.
 *
 * Objective (scikit-learn's LogisticRegression(penalty='l2', C) with the intercept unpenalised, as
 * its lbfgs/newton-cg solvers do): min_{w,b} 0.5 ||w||^2 + C sum_i log(1 + exp(-s_i (w.x_i + b))),
 * s_i = +1 for label 1, -1 for label 0.
 *
 * Tangent-space features are wide (d = dim (dim+1)/2, thousands) and trials few (n ~ 40). The
 * optimum lies in the row space of X (representer theorem), so when d > n the solver works in an
 * orthonormal basis of that row space (from the eigen-decomposition of the Gram matrix X X^T):
 * Newton with an (r+1) x (r+1) Hessian, r <= n, then w is mapped back. When d <= n it is the plain
 * primal Newton method. Either way the result is the exact optimum of the objective above
 * (stopping at a gradient max-norm <= tol), not an approximation.
 *
 * Buffers are allocated in spx_logreg_create for up to max_samples training rows; fit and decision
 * never allocate. */
#ifndef SPX_LOGREG_H
#define SPX_LOGREG_H

#include <stddef.h>

typedef struct spx_logreg_params {
    double c;        /* inverse regularisation strength (sklearn's C), default 1.0 */
    double tol;      /* stop when the gradient max-norm <= tol, default 1e-9 */
    int max_iter;    /* Newton iterations, default 100 */
} spx_logreg_params;

void spx_logreg_params_default(spx_logreg_params *p);

typedef struct spx_logreg spx_logreg;

int spx_logreg_create(spx_logreg **out, size_t n_features, size_t max_samples,
                      const spx_logreg_params *p);
void spx_logreg_free(spx_logreg *lr);

/* x: n x n_features row-major; y: 0/1 (both classes present). Returns 0, -EINVAL, -EIO (LAPACK)
 * or -ERANGE (no convergence in max_iter; the last iterate is kept). */
int spx_logreg_fit(spx_logreg *lr, const double *x, const int *y, size_t n);
/* score = w.x + b; P(label 1) = 1 / (1 + exp(-score)). */
int spx_logreg_decision(const spx_logreg *lr, const double *x, double *score);
double spx_logreg_sigmoid(double score);
/* Coefficients (n_features) and intercept; NULL before fit. */
const double *spx_logreg_coef(const spx_logreg *lr, double *intercept);
int spx_logreg_set_coef(spx_logreg *lr, const double *w, double b);
/* Newton iterations used by the last fit. */
int spx_logreg_iterations(const spx_logreg *lr);

#endif
