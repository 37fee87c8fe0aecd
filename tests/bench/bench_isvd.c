/* Speed and long-run orthonormality of the incremental truncated SVD, with numpy doing the same
 * block update in the same run (tests/bench/isvd_numpy.py) for the ratio.
 *
 *   OPENBLAS_NUM_THREADS=1 build/bin/bench_isvd [updates=20000] [ortho_updates=100000]
 *
 * Prints block updates/s for m = 256 and 1024, n = 8, k = 25, p = 5 on one thread, the numpy figure
 * and the ratio, then max |U^T U - I| after ortho_updates small updates with and without periodic
 * re-orthonormalisation. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "isvd.h"
#include "rng.h"

/* OpenBLAS reads OPENBLAS_NUM_THREADS at load; this makes one thread the default when unset. */
void openblas_set_num_threads(int n);

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double bench_c(size_t m, size_t n, size_t k, size_t p, size_t updates, double *sigma0)
{
    spx_isvd_params par;
    spx_isvd_params_default(&par, m, k);
    par.oversample = p;
    spx_isvd *s = NULL;
    if (spx_isvd_create(&s, &par) != 0)
        return -1.0;
    enum { NBLK = 64 };
    double *blocks = malloc(NBLK * m * n * sizeof *blocks);
    spx_rng rng;
    spx_rng_seed(&rng, 1);
    spx_rng_normal_fill(&rng, blocks, NBLK * m * n);
    for (size_t t = 0; t < 8; t++)
        spx_isvd_update(s, blocks + (t % NBLK) * m * n, n, SPX_ISVD_COLMAJOR_F64);
    double t0 = now();
    for (size_t t = 0; t < updates; t++)
        spx_isvd_update(s, blocks + (t % NBLK) * m * n, n, SPX_ISVD_COLMAJOR_F64);
    double dt = now() - t0;
    spx_isvd_result r;
    spx_isvd_result_get(s, &r);
    *sigma0 = r.sigma[0];
    spx_isvd_free(s);
    free(blocks);
    return (double)updates / dt;
}

static double bench_numpy(size_t m, size_t n, size_t k, size_t p, size_t updates)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 /usr/bin/python3 "
             "%s/tests/bench/isvd_numpy.py %zu %zu %zu %zu %zu",
             SPX_SOURCE_DIR, m, n, k, p, updates);
    FILE *f = popen(cmd, "r");
    if (!f)
        return -1.0;
    char line[512];
    double rate = -1.0;
    while (fgets(line, sizeof line, f)) {
        const char *at = strstr(line, "updates_per_s=");
        if (at)
            rate = atof(at + strlen("updates_per_s="));
    }
    pclose(f);
    return rate;
}

static void ortho_run(size_t updates, uint64_t reorth)
{
    const size_t m = 256, n = 2;
    spx_isvd_params par;
    spx_isvd_params_default(&par, m, 25);
    par.reorth_every = reorth;
    spx_isvd *s = NULL;
    if (spx_isvd_create(&s, &par) != 0)
        return;
    spx_rng rng;
    spx_rng_seed(&rng, 2);
    double blk[256 * 2];
    double t0 = now();
    for (size_t t = 0; t < updates; t++) {
        spx_rng_normal_fill(&rng, blk, m * n);
        spx_isvd_update(s, blk, n, SPX_ISVD_COLMAJOR_F64);
    }
    double dt = now() - t0;
    printf("orthonormality m=256 n=2 k=25 p=5 updates=%zu reorth_every=%llu: max|U^T U - I| = %.3g "
           "(%.0f updates/s incl. data generation)\n",
           updates, (unsigned long long)reorth, spx_isvd_orth_error(s), (double)updates / dt);
    spx_isvd_free(s);
}

int main(int argc, char **argv)
{
    size_t updates = argc > 1 ? (size_t)atol(argv[1]) : 20000;
    size_t ortho = argc > 2 ? (size_t)atol(argv[2]) : 100000;
    if (!getenv("OPENBLAS_NUM_THREADS"))
        openblas_set_num_threads(1);
    printf("incremental SVD block update, n=8 columns, k=25, p=5, one thread\n");
    const size_t ms[] = {256, 1024};
    for (size_t i = 0; i < 2; i++) {
        size_t m = ms[i];
        size_t u = m > 256 ? updates / 4 : updates;
        double s0 = 0.0;
        double c = bench_c(m, 8, 25, 5, u, &s0);
        double np = bench_numpy(m, 8, 25, 5, u / 4 > 500 ? u / 4 : 500);
        printf("m=%4zu: C %9.0f updates/s (%.1f us/update)   numpy %8.0f updates/s   C/numpy %.1fx"
               "   (sigma0 %.6g)\n",
               m, c, 1e6 / c, np, np > 0 ? c / np : 0.0, s0);
    }
    ortho_run(ortho, 100);
    ortho_run(ortho, 0);
    return 0;
}
