/* What the batch and online clusterers share: parameters, partitions, factors, accounting. */
#include "svdcluster.h"

#include "svdcluster_internal.h"

#include <cblas.h>
#include <errno.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *spx_svdcluster_method_name(spx_svdcluster_method m)
{
    switch (m) {
    case SPX_SVDCLUSTER_APPROX:
        return "approx";
    case SPX_SVDCLUSTER_RESIDUAL:
        return "residual";
    case SPX_SVDCLUSTER_MAXNORM:
        return "maxnorm";
    }
    return NULL;
}

int spx_svdcluster_method_parse(const char *name, spx_svdcluster_method *out)
{
    static const spx_svdcluster_method all[] = {SPX_SVDCLUSTER_APPROX, SPX_SVDCLUSTER_RESIDUAL,
                                                SPX_SVDCLUSTER_MAXNORM};
    for (size_t i = 0; name && i < sizeof all / sizeof all[0]; i++)
        if (strcmp(name, spx_svdcluster_method_name(all[i])) == 0) {
            *out = all[i];
            return 0;
        }
    return -EINVAL;
}

void spx_svdcluster_params_default(spx_svdcluster_params *p, size_t rows)
{
    memset(p, 0, sizeof *p);
    p->rows = rows;
    p->rank = rows < 20 ? rows : 20;
    p->eps = 0.05;
    p->oversample = 5;
    p->patience = 10;
    p->method = SPX_SVDCLUSTER_APPROX;
    p->max_open = 100;
    p->max_cols = 64;
    p->screen_depth = 1;
    p->max_blocks = 100000;
}

int spx_svdcluster_params_valid(const spx_svdcluster_params *p)
{
    return p && p->rows > 0 && p->rows <= (size_t)1 << 30 && p->rank > 0 && p->rank <= p->rows &&
           p->eps > 0.0 && p->eps < 1.0 && p->oversample <= p->rows &&
           spx_svdcluster_method_name(p->method) != NULL && p->max_open > 0 &&
           p->max_open <= 100000 && p->max_cols > 0 && p->max_cols <= 4096;
}

int spx_svdcluster_blocks_valid(const spx_svdcluster_blocks *b)
{
    if (!b || b->rows == 0 || (b->count > 0 && (!b->data || !b->col_offset)))
        return 0;
    if (b->count > 0 && b->col_offset[0] != 0)
        return 0;
    for (size_t i = 0; i < b->count; i++)
        if (b->col_offset[i + 1] < b->col_offset[i])
            return 0;
    return 1;
}

void spx_svdcluster_groups_free(spx_svdcluster_groups *g)
{
    if (!g)
        return;
    free(g->start);
    free(g->member);
    free(g->label);
    free(g->bound);
    memset(g, 0, sizeof *g);
}

int spx_svdcluster_groups_alloc(spx_svdcluster_groups *g, size_t blocks)
{
    memset(g, 0, sizeof *g);
    size_t n = blocks > 0 ? blocks : 1;
    g->start = calloc(n + 1, sizeof *g->start);
    g->member = calloc(n, sizeof *g->member);
    g->label = calloc(n, sizeof *g->label);
    g->bound = calloc(n, sizeof *g->bound);
    if (!g->start || !g->member || !g->label || !g->bound) {
        spx_svdcluster_groups_free(g);
        return -ENOMEM;
    }
    g->blocks = blocks;
    return 0;
}

void spx_svdcluster_groups_push(spx_svdcluster_groups *g, const size_t *member, size_t n,
                                double bound)
{
    size_t at = g->start[g->count];
    for (size_t i = 0; i < n; i++) {
        g->member[at + i] = member[i];
        g->label[member[i]] = g->count;
    }
    g->bound[g->count] = bound;
    g->count++;
    g->start[g->count] = at + n;
}

int spx_svdcluster_factors(const spx_svdcluster_blocks *b, const size_t *member, size_t nmember,
                           size_t r, double *u, double *s, double *coef, double *rel_error)
{
    if (!spx_svdcluster_blocks_valid(b) || !member || nmember == 0 || r == 0 || r > b->rows ||
        (coef && !u))
        return -EINVAL;
    for (size_t i = 0; i < nmember; i++)
        if (member[i] >= b->count)
            return -EINVAL;
    size_t m = b->rows;
    double *g = calloc(m * m, sizeof *g), *lam = malloc(m * sizeof *lam);
    if (!g || !lam) {
        free(g);
        free(lam);
        return -ENOMEM;
    }
    double total = 0.0;
    for (size_t i = 0; i < nmember; i++) {
        size_t j0 = b->col_offset[member[i]], nc = b->col_offset[member[i] + 1] - j0;
        const double *a = b->data + j0 * m;
        if (nc == 0)
            continue;
        cblas_dsyrk(CblasColMajor, CblasLower, CblasNoTrans, (int)m, (int)nc, 1.0, a, (int)m, 1.0, g,
                    (int)m);
        for (size_t k = 0; k < m * nc; k++)
            total += a[k] * a[k];
    }
    int rc = LAPACKE_dsyevd(LAPACK_COL_MAJOR, 'V', 'L', (lapack_int)m, g, (lapack_int)m, lam) == 0
                 ? 0
                 : -EIO;
    if (rc == 0) {
        double tail = 0.0;
        for (size_t i = 0; i + r < m; i++) /* ascending: smallest first */
            tail += lam[i] > 0.0 ? lam[i] : 0.0;
        if (rel_error)
            *rel_error = total > 0.0 ? sqrt(tail / total) : 0.0;
        for (size_t j = 0; j < r; j++) {
            double l = lam[m - 1 - j];
            if (s)
                s[j] = l > 0.0 ? sqrt(l) : 0.0;
            if (u)
                memcpy(u + j * m, g + (m - 1 - j) * m, m * sizeof *u);
        }
        if (coef && u) {
            size_t col = 0;
            for (size_t i = 0; i < nmember; i++) {
                size_t j0 = b->col_offset[member[i]], nc = b->col_offset[member[i] + 1] - j0;
                if (nc > 0)
                    cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, (int)r, (int)nc, (int)m, 1.0,
                                u, (int)m, b->data + j0 * m, (int)m, 0.0, coef + col * r, (int)r);
                col += nc;
            }
        }
    }
    free(g);
    free(lam);
    return rc;
}

double spx_svdcluster_compression(const spx_svdcluster_blocks *b, const spx_svdcluster_groups *g,
                                  size_t r)
{
    double m = (double)b->rows, raw = 0.0, stored = 0.0;
    for (size_t k = 0; k < g->count; k++) {
        double c = 0.0;
        for (size_t i = g->start[k]; i < g->start[k + 1]; i++) {
            size_t blk = g->member[i];
            c += (double)(b->col_offset[blk + 1] - b->col_offset[blk]);
        }
        double kk = fmin(fmin((double)r, c), m);
        raw += m * c;
        stored += fmin(m * c, kk * (m + c));
    }
    return stored > 0.0 ? raw / stored : 1.0;
}
