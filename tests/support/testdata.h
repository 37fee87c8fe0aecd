/* Locating the real data sets in ../shared/data for tests and benchmarks.
 *
 * Under CI (CI=true) a missing data set is a test failure; in a plain clone elsewhere the test is
 * skipped with the message "skipped: no ../shared/data", which Criterion reports as a skip, never as
 * a pass. */
#ifndef SPX_TESTDATA_H
#define SPX_TESTDATA_H

#include <stddef.h>
#include <stdio.h>

/* Absolute path of ../shared/data relative to the source tree (or $SPX_DATA_DIR), or NULL. */
const char *spx_test_data_dir(void);

/* Writes <data dir>/<rel> into buf; returns buf, or NULL when the data dir or the file is missing. */
char *spx_test_data_path(char *buf, size_t len, const char *rel);

/* Non-zero when running under CI (CI=true), where missing data must fail, not skip. */
int spx_test_under_ci(void);

/* Loads a whitespace/comma separated numeric text file into a malloc'd row-major matrix.
 * Takes the columns [col0, col0 + ncols) of every row. Returns 0, or -1 with a message on stderr. */
int spx_test_load_text_matrix(const char *path, size_t col0, size_t ncols,
                              double **out, size_t *nrows);

/* Exact top-k eigenpairs of A^T A for a row-major n x d matrix, by LAPACK dsyevd on the Gram matrix.
 * vecs: d x k column-major (column j = eigenvector j, descending eigenvalues). */
int spx_test_exact_top_eig(const double *a, size_t n, size_t d, size_t k,
                           double *vals, double *vecs);

/* In a Criterion test: resolve <data>/<rel> into buf or skip/fail as the rules above say. */
#define SPX_REQUIRE_DATA(buf, rel)                                                        \
    do {                                                                                  \
        if (!spx_test_data_path((buf), sizeof(buf), (rel))) {                            \
            if (spx_test_under_ci())                                                      \
                cr_assert(0, "CI=true but ../shared/data/%s is missing", (rel));              \
            else {                                                                        \
                fprintf(stderr, "skipped: no ../shared/data\n");                           \
                cr_skip_test("skipped: no ../shared/data");                               \
            }                                                                             \
        }                                                                                 \
    } while (0)

#endif
