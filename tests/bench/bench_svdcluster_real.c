/* Error-constrained clustering on real blocks that no generator made (a report, not a test).
 *
 *   OPENBLAS_NUM_THREADS=1 build/bin/bench_svdcluster_real
 *
 * EEG: consecutive 1-second windows of PhysioNet EEGMMIDB S001 run 4 (64 channels x 160 samples at
 *   160 Hz; one block = 64 rows (channels) x 160 columns (samples), so a group shares one spatial
 *   basis). Each channel's mean over the run is removed first: the amplifier offsets would otherwise
 *   be one dominant direction shared by everything. Needs libbiosig (SPX_HAVE_BIOSIG); read through
 *   tests/bench/eeg_edf.h.
 * ETTm1: consecutive days of the 15-minute series (69,680 x 7): one block = 96 rows (time of day)
 *   x 7 columns (variables), z-scored with the mean/std of the standard train rows [0, 34560), so
 *   a group shares one basis of daily profiles. Non-overlapping windows: overlapping ones would
 *   repeat data and inflate the compression.
 * For each (r, eps): groups, the maximum TRUE error over groups (dgesdd of each concatenation, tail
 * summed from the smallest singular value), the maximum bound, the compression ratio and the time,
 * for the three batch methods and the online mode. Blocks wider than r may exceed eps alone; their
 * count is printed, and such a block always ends up in a group of its own. */
#include <lapacke.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef SPX_HAVE_BIOSIG
#include "eeg_edf.h" /* libbiosig loading shared with the EEG benches */
#endif

#include "svdcluster.h"
#include "testdata.h"

void openblas_set_num_threads(int n);

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct blockset {
    size_t m, n, K;
    double *data; /* column-major m x (K n) */
    size_t *offset;
} blockset;

static int blockset_alloc(blockset *bs, size_t m, size_t n, size_t K)
{
    bs->m = m;
    bs->n = n;
    bs->K = K;
    bs->data = calloc(m * n * K, sizeof *bs->data);
    bs->offset = malloc((K + 1) * sizeof *bs->offset);
    if (!bs->data || !bs->offset)
        return -1;
    for (size_t b = 0; b <= K; b++)
        bs->offset[b] = b * n;
    return 0;
}

static void blockset_free(blockset *bs)
{
    free(bs->data);
    free(bs->offset);
}

static double true_error(const blockset *bs, const size_t *member, size_t nm, size_t r)
{
    size_t m = bs->m, nc = nm * bs->n, ns = m < nc ? m : nc;
    double *a = malloc(m * nc * sizeof *a), *sv = malloc(ns * sizeof *sv);
    if (!a || !sv) {
        free(a);
        free(sv);
        return NAN;
    }
    for (size_t i = 0; i < nm; i++)
        memcpy(a + i * bs->n * m, bs->data + member[i] * bs->n * m, bs->n * m * sizeof *a);
    double total = 0.0;
    for (size_t k = 0; k < m * nc; k++)
        total += a[k] * a[k];
    double tail = 0.0;
    if (LAPACKE_dgesdd(LAPACK_COL_MAJOR, 'N', (lapack_int)m, (lapack_int)nc, a, (lapack_int)m, sv,
                       NULL, 1, NULL, 1) != 0)
        tail = NAN;
    for (size_t i = ns; i > r; i--)
        tail += sv[i - 1] * sv[i - 1];
    free(a);
    free(sv);
    return total > 0.0 ? sqrt(tail / total) : 0.0;
}

static void summarize(const char *what, const blockset *bs, const spx_svdcluster_groups *g,
                      size_t r, double eps, double seconds)
{
    spx_svdcluster_blocks v = {.rows = bs->m, .count = bs->K, .data = bs->data,
                               .col_offset = bs->offset};
    double worst = 0.0, worst_multi = 0.0, bound = 0.0;
    size_t over = 0, multi = 0;
    for (size_t k = 0; k < g->count; k++) {
        size_t nm = g->start[k + 1] - g->start[k];
        double e = true_error(bs, g->member + g->start[k], nm, r);
        worst = fmax(worst, e);
        bound = fmax(bound, g->bound[k]);
        if (nm > 1) {
            multi++;
            worst_multi = fmax(worst_multi, e);
            over += e > eps;
        }
    }
    printf("  %-16s %5zu groups (%4zu with >1 block), max true error %.4f (groups of >1 block: "
           "%.4f, %zu over eps), max bound %.4f, compression %.3f, %.3f s\n",
           what, g->count, multi, worst, worst_multi, over, bound,
           spx_svdcluster_compression(&v, g, r), seconds);
}

static void report(const char *name, const blockset *bs, size_t r, double eps)
{
    size_t alone = 0;
    for (size_t b = 0; b < bs->K; b++)
        if (bs->n > r && true_error(bs, &b, 1, r) > eps)
            alone++;
    printf("%s: %zu blocks of %zu x %zu, r = %zu, eps = %.3f (%zu blocks exceed eps alone)\n", name,
           bs->K, bs->m, bs->n, r, eps, alone);
    spx_svdcluster_blocks v = {.rows = bs->m, .count = bs->K, .data = bs->data,
                               .col_offset = bs->offset};
    spx_svdcluster_params p;
    spx_svdcluster_params_default(&p, bs->m);
    p.rank = r;
    p.eps = eps;
    p.max_cols = bs->n;
    const spx_svdcluster_method methods[] = {SPX_SVDCLUSTER_APPROX, SPX_SVDCLUSTER_RESIDUAL,
                                             SPX_SVDCLUSTER_MAXNORM};
    for (size_t t = 0; t < 3; t++) {
        p.method = methods[t];
        spx_svdcluster_groups g;
        double t0 = now();
        if (spx_svdcluster_batch(&p, &v, &g) != 0) {
            printf("  batch %s failed\n", spx_svdcluster_method_name(p.method));
            continue;
        }
        char what[64];
        snprintf(what, sizeof what, "batch %s", spx_svdcluster_method_name(p.method));
        summarize(what, bs, &g, r, eps, now() - t0);
        spx_svdcluster_groups_free(&g);
    }
    spx_svdcluster *c = NULL;
    if (spx_svdcluster_create(&c, &p) != 0)
        return;
    double t0 = now();
    int ok = 1;
    for (size_t b = 0; b < bs->K && ok; b++)
        ok = spx_svdcluster_add(c, bs->data + b * bs->n * bs->m, bs->n, SPX_ISVD_COLMAJOR_F64,
                                NULL) == 0;
    double dt = now() - t0;
    spx_svdcluster_groups g;
    if (ok && spx_svdcluster_online_groups(c, &g) == 0) {
        summarize("online", bs, &g, r, eps, dt);
        spx_svdcluster_groups_free(&g);
    }
    spx_svdcluster_free(c);
}

#ifdef SPX_HAVE_BIOSIG
static int load_eeg(blockset *bs, const char *path)
{
    eeg_run run;
    if (eeg_run_load(path, &run) != 0)
        return -1;
    const size_t C = 64, win = 160;
    int rc = -1;
    if (run.channels >= C && blockset_alloc(bs, C, win, run.samples / win) == 0) {
        for (size_t ch = 0; ch < C; ch++) {
            const double *x = run.data + ch * run.samples;
            double mean = 0.0;
            for (size_t t = 0; t < run.samples; t++)
                mean += x[t];
            mean /= (double)run.samples;
            for (size_t t = 0; t < bs->K * win; t++) /* sample t is column t of the run */
                bs->data[t * C + ch] = x[t] - mean;
        }
        rc = 0;
    }
    eeg_run_free(&run);
    return rc;
}
#endif

static int load_ett(blockset *bs, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    const size_t V = 7, day = 96, train = 34560;
    size_t cap = 80000, T = 0;
    double *x = malloc(cap * V * sizeof *x);
    char line[1024];
    while (x && fgets(line, sizeof line, f)) {
        char *p = strchr(line, ',');
        if (!p || line[0] < '0' || line[0] > '9')
            continue; /* the header */
        size_t got = 0;
        while (got < V && p && *p == ',') {
            char *end;
            x[T * V + got] = strtod(p + 1, &end);
            if (end == p + 1)
                break;
            got++;
            p = end;
        }
        if (got == V && ++T == cap)
            break;
    }
    fclose(f);
    if (!x || T < train) {
        free(x);
        return -1;
    }
    for (size_t v = 0; v < V; v++) {
        double mu = 0.0, s2 = 0.0;
        for (size_t t = 0; t < train; t++)
            mu += x[t * V + v];
        mu /= (double)train;
        for (size_t t = 0; t < train; t++)
            s2 += (x[t * V + v] - mu) * (x[t * V + v] - mu);
        double sd = sqrt(s2 / (double)(train - 1));
        for (size_t t = 0; t < T; t++)
            x[t * V + v] = (x[t * V + v] - mu) / sd;
    }
    size_t K = T / day;
    if (blockset_alloc(bs, day, V, K) != 0) {
        free(x);
        return -1;
    }
    for (size_t b = 0; b < K; b++)
        for (size_t v = 0; v < V; v++)
            for (size_t i = 0; i < day; i++)
                bs->data[(b * V + v) * day + i] = x[(b * day + i) * V + v];
    free(x);
    return 0;
}

int main(void)
{
    if (!getenv("OPENBLAS_NUM_THREADS"))
        openblas_set_num_threads(1);
    char path[4096];
#ifdef SPX_HAVE_BIOSIG
    if (spx_test_data_path(path, sizeof path, "eeg/eegmmidb/S001/S001R04.edf")) {
        blockset eeg;
        if (load_eeg(&eeg, path) == 0) {
            const size_t rs[] = {8, 16, 16};
            const double es[] = {0.2, 0.1, 0.2};
            for (size_t i = 0; i < 3; i++)
                report("EEG S001R04, 1-s windows", &eeg, rs[i], es[i]);
        } else {
            printf("EEG: cannot read %s\n", path);
        }
        blockset_free(&eeg);
    } else {
        printf("EEG: skipped: no ../shared/data\n");
    }
#else
    printf("EEG: skipped: built without libbiosig\n");
#endif
    if (spx_test_data_path(path, sizeof path, "forecast/ETTm1.csv")) {
        blockset ett;
        if (load_ett(&ett, path) == 0) {
            const size_t rs[] = {7, 7, 14};
            const double es[] = {0.1, 0.2, 0.1};
            for (size_t i = 0; i < 3; i++)
                report("ETTm1, daily 96 x 7 windows", &ett, rs[i], es[i]);
        } else {
            printf("ETTm1: cannot read %s\n", path);
        }
        blockset_free(&ett);
    } else {
        printf("ETTm1: skipped: no ../shared/data\n");
    }
    return 0;
}
