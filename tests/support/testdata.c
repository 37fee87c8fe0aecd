#include "testdata.h"

#include <errno.h>
#include <lapacke.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cblas.h>

const char *spx_test_data_dir(void)
{
    static char dir[PATH_MAX];
    const char *env = getenv("SPX_DATA_DIR");
    char cand[PATH_MAX];
    if (env && *env)
        snprintf(cand, sizeof cand, "%s", env);
    else
        snprintf(cand, sizeof cand, "%s/../shared/data", SPX_SOURCE_DIR);
    if (!realpath(cand, dir))
        return NULL;
    return dir;
}

char *spx_test_data_path(char *buf, size_t len, const char *rel)
{
    const char *dir = spx_test_data_dir();
    if (!dir)
        return NULL;
    snprintf(buf, len, "%s/%s", dir, rel);
    if (access(buf, R_OK) != 0)
        return NULL;
    return buf;
}

int spx_test_under_ci(void)
{
    const char *ci = getenv("CI");
    return ci && (strcmp(ci, "true") == 0 || strcmp(ci, "1") == 0);
}

int spx_test_load_text_matrix(const char *path, size_t col0, size_t ncols, double **out,
                              size_t *nrows)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t cap = 1024, n = 0;
    double *a = malloc(cap * ncols * sizeof *a);
    char *line = NULL;
    size_t linecap = 0;
    while (a && getline(&line, &linecap, f) > 0) {
        char *p = line;
        size_t col = 0, got = 0;
        if (n == cap) {
            cap *= 2;
            double *na = realloc(a, cap * ncols * sizeof *a);
            if (!na) { free(a); a = NULL; break; }
            a = na;
        }
        while (*p && got < ncols) {
            while (*p == ' ' || *p == ',' || *p == '\t') p++;
            if (*p == '\n' || *p == '\r' || !*p) break;
            char *end;
            double v = strtod(p, &end);
            if (end == p) break;
            if (col >= col0) a[n * ncols + got++] = v;
            col++;
            p = end;
        }
        if (got == ncols) n++;
        else if (got != 0 || col != 0) {
            fprintf(stderr, "%s: row %zu has too few numeric columns\n", path, n + 1);
            free(a); a = NULL;
        }
    }
    free(line);
    fclose(f);
    if (!a) return -1;
    *out = a;
    *nrows = n;
    return 0;
}

int spx_test_exact_top_eig(const double *a, size_t n, size_t d, size_t k, double *vals,
                           double *vecs)
{
    double *g = calloc(d * d, sizeof *g), *w = malloc(d * sizeof *w);
    if (!g || !w) { free(g); free(w); return -1; }
    cblas_dsyrk(CblasColMajor, CblasUpper, CblasNoTrans, (int)d, (int)n, 1.0, a, (int)d, 0.0,
                g, (int)d);
    int info = LAPACKE_dsyevd(LAPACK_COL_MAJOR, 'V', 'U', (int)d, g, (int)d, w);
    if (info == 0) {
        for (size_t j = 0; j < k; j++) {           /* dsyevd sorts ascending */
            vals[j] = w[d - 1 - j];
            memcpy(vecs + j * d, g + (d - 1 - j) * d, d * sizeof *vecs);
        }
    }
    free(g);
    free(w);
    return info == 0 ? 0 : -1;
}
