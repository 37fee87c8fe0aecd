/* Speed of error-constrained clustering, one thread.
 *
 *   OPENBLAS_NUM_THREADS=1 build/bin/bench_svdcluster [blocks=3000]
 *
 * 1. Online: blocks/s with 100 open groups (m = 256 and 1024, n = 8, r = 20, p = 5, eps = 0.05), on
 *    a stream drawn from 100 latent 16-dimensional subspaces so that every group stays open: each
 *    block is screened against all 100 groups (one GEMM + eigenvalues-only tests).
 * 2. Batch and online on the golden blocks in ../shared/data/isvd: groups, seconds, compression. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rng.h"
#include "svdcluster.h"
#include "testdata.h"

void openblas_set_num_threads(int n);

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* One block from latent subspace `which`: basis (m x dim) times Gaussian coefficients (flat, so two
 * subspaces, 24 directions, never fit one rank-20 group within eps), noise, a mild random block
 * scale. Column-major m x n. */
static void latent_block(spx_rng *rng, const double *bases, size_t which, size_t m, size_t dim,
                         size_t n, double *out)
{
    const double *B = bases + which * m * dim;
    /* per-column noise energy 0.0025 against ~12 of signal: one subspace alone has error ~0.014 */
    const double noise = 0.05 / sqrt((double)m);
    double scale = exp(0.3 * spx_rng_normal(rng));
    for (size_t j = 0; j < n; j++) {
        double c[16];
        for (size_t l = 0; l < dim; l++)
            c[l] = spx_rng_normal(rng);
        for (size_t i = 0; i < m; i++) {
            double v = 0.0;
            for (size_t l = 0; l < dim; l++)
                v += B[i + l * m] * c[l];
            out[i + j * m] = scale * (v + noise * spx_rng_normal(rng));
        }
    }
}

static void online_speed(size_t m, size_t total, size_t depth)
{
    const size_t n = 8, dim = 16, latent = 100, warm = 3 * latent;
    spx_rng rng;
    spx_rng_seed(&rng, 42);
    double *bases = malloc(latent * m * dim * sizeof *bases);
    double *blocks = malloc(total * m * n * sizeof *blocks);
    if (!bases || !blocks)
        return;
    for (size_t k = 0; k < latent * m * dim; k++)
        bases[k] = spx_rng_normal(&rng) / sqrt((double)m);
    for (size_t b = 0; b < total; b++)
        latent_block(&rng, bases, b < warm ? b / 3 : (size_t)spx_rng_below(&rng, latent), m, dim,
                     n, blocks + b * m * n);
    spx_svdcluster_params p;
    spx_svdcluster_params_default(&p, m);
    p.max_open = 100;
    p.max_blocks = 0; /* throughput of the online path alone */
    p.screen_depth = depth;
    spx_svdcluster *c = NULL;
    if (spx_svdcluster_create(&c, &p) != 0)
        return;
    /* three blocks of each subspace in a row open the 100 groups (a group holding fewer than 16
     * directions would still take a foreign block within eps) */
    for (size_t b = 0; b < warm; b++)
        spx_svdcluster_add(c, blocks + b * m * n, n, SPX_ISVD_COLMAJOR_F64, NULL);
    size_t open_before = spx_svdcluster_open_groups(c), opened = 0;
    double t0 = now();
    for (size_t b = warm; b < total; b++) {
        spx_svdcluster_assignment as;
        spx_svdcluster_add(c, blocks + b * m * n, n, SPX_ISVD_COLMAJOR_F64, &as);
        opened += (size_t)as.opened;
    }
    double dt = now() - t0;
    printf("online m=%4zu n=8 r=20 p=5 eps=0.05 screen_depth=%zu: %zu open groups, %.0f blocks/s "
           "(%.2f ms/block; %zu of %zu timed blocks opened a group)\n",
           m, depth, open_before, (double)(total - warm) / dt, 1e3 * dt / (double)(total - warm), opened,
           total - warm);
    spx_svdcluster_free(c);
    free(bases);
    free(blocks);
}

static void golden(const char *rel, size_t K, size_t m, size_t n)
{
    char path[4096];
    if (!spx_test_data_path(path, sizeof path, rel)) {
        printf("%s: skipped: no ../shared/data\n", rel);
        return;
    }
    FILE *f = fopen(path, "rb");
    double *raw = malloc(K * m * n * sizeof *raw), *data = malloc(K * m * n * sizeof *data);
    size_t *off = malloc((K + 1) * sizeof *off);
    if (!f || !raw || !data || !off || fread(raw, sizeof *raw, K * m * n, f) != K * m * n) {
        printf("%s: cannot read\n", rel);
        if (f)
            fclose(f);
        free(raw);
        free(data);
        free(off);
        return;
    }
    fclose(f);
    for (size_t b = 0; b < K; b++)
        for (size_t i = 0; i < m; i++)
            for (size_t j = 0; j < n; j++)
                data[(b * n + j) * m + i] = raw[(b * m + i) * n + j];
    for (size_t b = 0; b <= K; b++)
        off[b] = b * n;
    spx_svdcluster_blocks bs = {.rows = m, .count = K, .data = data, .col_offset = off};
    spx_svdcluster_params p;
    spx_svdcluster_params_default(&p, m);
    const spx_svdcluster_method methods[] = {SPX_SVDCLUSTER_APPROX, SPX_SVDCLUSTER_RESIDUAL,
                                             SPX_SVDCLUSTER_MAXNORM};
    for (size_t t = 0; t < 3; t++) {
        p.method = methods[t];
        spx_svdcluster_groups g;
        double t0 = now();
        if (spx_svdcluster_batch(&p, &bs, &g) != 0)
            continue;
        double dt = now() - t0;
        double worst = 0.0;
        for (size_t k = 0; k < g.count; k++)
            worst = fmax(worst, g.bound[k]);
        printf("%s batch %-8s  : %4zu groups, max bound %.5f, compression %.3f, %.3f s\n", rel,
               spx_svdcluster_method_name(p.method), g.count, worst,
               spx_svdcluster_compression(&bs, &g, p.rank), dt);
        spx_svdcluster_groups_free(&g);
    }
    for (size_t depth = 0; depth <= 1; depth++) {
        spx_svdcluster *c = NULL;
        p.screen_depth = depth;
        if (spx_svdcluster_create(&c, &p) != 0)
            continue;
        double t0 = now();
        for (size_t b = 0; b < K; b++)
            spx_svdcluster_add(c, raw + b * m * n, n, SPX_ISVD_ROWMAJOR_F64, NULL);
        double dt = now() - t0;
        spx_svdcluster_groups g;
        if (spx_svdcluster_online_groups(c, &g) == 0) {
            double worst = 0.0;
            for (size_t k = 0; k < g.count; k++)
                worst = fmax(worst, g.bound[k]);
            printf("%s online depth=%zu: %4zu groups, max bound %.5f, compression %.3f, %.3f s "
                   "(%.0f blocks/s)\n",
                   rel, depth, g.count, worst, spx_svdcluster_compression(&bs, &g, p.rank), dt,
                   (double)K / dt);
            spx_svdcluster_groups_free(&g);
        }
        spx_svdcluster_free(c);
    }
    free(raw);
    free(data);
    free(off);
}

int main(int argc, char **argv)
{
    size_t total = argc > 1 ? (size_t)atol(argv[1]) : 3000;
    if (total < 400)
        total = 400;
    if (!getenv("OPENBLAS_NUM_THREADS"))
        openblas_set_num_threads(1);
    online_speed(256, total, 0);
    online_speed(256, total, 1);
    online_speed(1024, total, 0);
    online_speed(1024, total, 1);
    golden("isvd/synth_K400_m128_n8.f64", 400, 128, 8);
    golden("isvd/synth_K1000_m256_n8.f64", 1000, 256, 8);
    return 0;
}
