/* Accuracy report for the top-eigenvector methods: <v, v1>^2 against LAPACK's exact top eigenvector
 * of A^T A, and the relative error of the eigenvalue estimate of s1^2 / n, on the matrices of the
 * eigenvector issue. Not a test: it prints a table (timings are not assertions).
 *
 *   bench_topeig_accuracy [--quick] [--shuffles N] [--dump DIR] [--block B] [--sketch L]
 *                         [--oversample P] [--heavy-factor F] [--growth G] [--k K] [--batch B]
 *
 * --batch B runs adaoja and oja with mini-batches of B rows (default 1, row by row).
 *
 * Matrices (all generated from spx_rng with fixed seeds; --dump DIR writes each one as
 * DIR/<name>.f64, raw little-endian row-major float64, with DIR/<name>.shape "n d", for
 * tests/bench/sklearn_ipca.py):
 *   spike-R   planted spike: x = sqrt(R - 1) g0 u + g, g0 ~ N(0,1), g ~ N(0, I_d), u a random unit
 *             vector; d = 200, n = 50,000; rows in random (generation) order. R = 1.5, 3, 10.
 *   heavy-iso spike-3 where 1% of the rows are multiplied by 10: they carry as much energy as all
 *             the others together; with 500 of them in 200 dimensions their own sample spectrum
 *             spreads, so R drops (to ~2).
 *   heavy-aligned spike-3 where the component along u of 1% of the rows is multiplied by 10.
 *   adversarial spike-3 with the rows sorted by |<x, u>|, largest first (aligned rows first).
 *   spambase-raw / spambase-z  the 57 feature columns of ../shared/data/matrices/spambase.data,
 *             raw, and centred + z-scored per column (R = 2.02); in file order (spam first: not
 *             random) and in --shuffles random orders (median and worst reported). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cblas.h>

#include "rng.h"
#include "testdata.h"
#include "topeig.h"

typedef struct opts {
    int quick;
    int shuffles;
    const char *dump;
    size_t block, sketch, oversample, k, batch;
    double heavy_factor, growth;
    int have_oversample;
} opts;

static double *planted_spike(size_t n, size_t d, double R, uint64_t seed, double *u)
{
    spx_rng rng;
    spx_rng_seed(&rng, seed);
    double *a = malloc(n * d * sizeof *a);
    if (!a)
        return NULL;
    spx_rng_normal_fill(&rng, u, d);
    double s = 0.0;
    for (size_t i = 0; i < d; i++)
        s += u[i] * u[i];
    for (size_t i = 0; i < d; i++)
        u[i] /= sqrt(s);
    double amp = sqrt(R - 1.0);
    for (size_t r = 0; r < n; r++) {
        double g0 = amp * spx_rng_normal(&rng);
        for (size_t i = 0; i < d; i++)
            a[r * d + i] = g0 * u[i] + spx_rng_normal(&rng);
    }
    return a;
}

/* Rows 37, 137, 237, ... (1%, distinct; the rows are i.i.d., so their positions are random):
 * iso: the whole row times `scale`; aligned: only its component along u times `scale`. */
static void make_heavy(double *a, size_t n, size_t d, double scale, const double *u, int aligned)
{
    for (size_t r = 37; r < n; r += 100) {
        double *x = a + r * d;
        if (aligned) {
            double s = 0.0;
            for (size_t c = 0; c < d; c++)
                s += x[c] * u[c];
            for (size_t c = 0; c < d; c++)
                x[c] += (scale - 1.0) * s * u[c];
        } else {
            for (size_t c = 0; c < d; c++)
                x[c] *= scale;
        }
    }
}

typedef struct keyed {
    double key;
    size_t row;
} keyed;

static int by_key_desc(const void *x, const void *y)
{
    const keyed *a = x, *b = y;
    return a->key < b->key ? 1 : a->key > b->key ? -1 : (a->row > b->row) - (a->row < b->row);
}

/* Rows sorted by |<x, u>| descending. */
static void sort_aligned_first(double *a, size_t n, size_t d, const double *u)
{
    keyed *k = malloc(n * sizeof *k);
    double *b = malloc(n * d * sizeof *b);
    if (!k || !b) {
        free(k);
        free(b);
        return;
    }
    for (size_t r = 0; r < n; r++) {
        double s = 0.0;
        for (size_t c = 0; c < d; c++)
            s += a[r * d + c] * u[c];
        k[r].key = fabs(s);
        k[r].row = r;
    }
    qsort(k, n, sizeof *k, by_key_desc);
    for (size_t r = 0; r < n; r++)
        memcpy(b + r * d, a + k[r].row * d, d * sizeof *b);
    memcpy(a, b, n * d * sizeof *b);
    free(k);
    free(b);
}

static void shuffle_rows(const double *a, double *out, size_t n, size_t d, uint64_t seed)
{
    spx_rng rng;
    spx_rng_seed(&rng, seed);
    size_t *perm = malloc(n * sizeof *perm);
    if (!perm)
        return;
    for (size_t i = 0; i < n; i++)
        perm[i] = i;
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = (size_t)spx_rng_below(&rng, i + 1);
        size_t tmp = perm[i];
        perm[i] = perm[j];
        perm[j] = tmp;
    }
    for (size_t i = 0; i < n; i++)
        memcpy(out + i * d, a + perm[i] * d, d * sizeof *out);
    free(perm);
}

static void zscore_columns(double *a, size_t n, size_t d)
{
    for (size_t c = 0; c < d; c++) {
        double m = 0.0, v = 0.0;
        for (size_t r = 0; r < n; r++)
            m += a[r * d + c];
        m /= (double)n;
        for (size_t r = 0; r < n; r++)
            v += (a[r * d + c] - m) * (a[r * d + c] - m);
        double sd = sqrt(v / (double)n);
        for (size_t r = 0; r < n; r++)
            a[r * d + c] = sd > 0.0 ? (a[r * d + c] - m) / sd : 0.0;
    }
}

static void dump(const opts *o, const char *name, const double *a, size_t n, size_t d)
{
    if (!o->dump)
        return;
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.f64", o->dump, name);
    FILE *f = fopen(path, "wb");
    if (!f)
        return;
    fwrite(a, sizeof *a, n * d, f);
    fclose(f);
    snprintf(path, sizeof path, "%s/%s.shape", o->dump, name);
    f = fopen(path, "w");
    if (f) {
        fprintf(f, "%zu %zu\n", n, d);
        fclose(f);
    }
}

typedef struct run_out {
    double corr, eig_rel, gap, secs;
    int alarm;
    unsigned long long heavy;
} run_out;

static const spx_topeig_method methods[] = {SPX_TOPEIG_ADAOJA, SPX_TOPEIG_OJA, SPX_TOPEIG_POWER,
                                            SPX_TOPEIG_FD, SPX_TOPEIG_RANDORDER};
#define N_METHODS (sizeof methods / sizeof methods[0])

static run_out run(const opts *o, spx_topeig_method m, const double *a, size_t n, size_t d,
                   const double *v1, double lambda1)
{
    run_out r = {0};
    spx_topeig_params p;
    spx_topeig_params_default(&p, d);
    p.method = m;
    if (o->k && m != SPX_TOPEIG_ADAOJA && m != SPX_TOPEIG_OJA)
        p.k = o->k;
    if (o->batch && (m == SPX_TOPEIG_ADAOJA || m == SPX_TOPEIG_OJA))
        p.batch = o->batch;
    if (o->block)
        p.block_rows = o->block;
    if (o->sketch)
        p.sketch_rows = o->sketch;
    if (o->have_oversample)
        p.oversample = o->oversample;
    if (o->heavy_factor > 0.0)
        p.heavy_factor = o->heavy_factor;
    if (o->growth > 0.0)
        p.block_growth = o->growth;
    spx_topeig *t;
    if (spx_topeig_create(&t, &p) != 0) {
        r.corr = NAN;
        return r;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (size_t i = 0; i < n; i += 1000)
        spx_topeig_update_f64(t, a + i * d, n - i < 1000 ? n - i : 1000);
    spx_topeig_result res;
    spx_topeig_result_get(t, &res);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = 0.0;
    for (size_t c = 0; c < d; c++)
        s += res.vector[c] * v1[c];
    r.corr = s * s;
    r.eig_rel = (res.eigenvalues[0] - lambda1) / lambda1;
    r.gap = res.gap;
    r.alarm = res.order_alarm;
    r.heavy = (unsigned long long)res.heavy_rows;
    r.secs = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    spx_topeig_free(t);
    return r;
}

static void print_header(void)
{
    printf("%-22s %6s", "matrix", "R");
    for (size_t i = 0; i < N_METHODS; i++)
        printf(" %21s", spx_topeig_method_name(methods[i]));
    printf("\n%-22s %6s", "", "");
    for (size_t i = 0; i < N_METHODS; i++)
        printf(" %21s", "<v,v1>^2  eig.err  al");
    printf("\n");
}

/* One matrix in one order: exact eigenpairs, then every method. */
static void report(const opts *o, const char *name, const double *a, size_t n, size_t d)
{
    double vals[2], *vecs = malloc(2 * d * sizeof *vecs);
    if (!vecs || spx_test_exact_top_eig(a, n, d, 2, vals, vecs) != 0) {
        printf("%-22s LAPACK failed\n", name);
        free(vecs);
        return;
    }
    printf("%-22s %6.2f", name, vals[0] / vals[1]);
    for (size_t i = 0; i < N_METHODS; i++) {
        run_out r = run(o, methods[i], a, n, d, vecs, vals[0] / (double)n);
        printf("   %8.5f %+7.3f %2s", r.corr, r.eig_rel, r.alarm ? "!" : "-");
    }
    printf("\n");
    fflush(stdout);
    free(vecs);
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

/* The same matrix in `shuffles` random orders: median and minimum correlation per method. */
static void report_shuffles(const opts *o, const char *name, const double *a, size_t n, size_t d)
{
    double vals[2], *vecs = malloc(2 * d * sizeof *vecs), *b = malloc(n * d * sizeof *b);
    double *c = malloc((size_t)o->shuffles * N_METHODS * sizeof *c);
    int *alarms = calloc(N_METHODS, sizeof *alarms);
    if (!vecs || !b || !c || !alarms || spx_test_exact_top_eig(a, n, d, 2, vals, vecs) != 0) {
        free(vecs);
        free(b);
        free(c);
        free(alarms);
        return;
    }
    for (int s = 0; s < o->shuffles; s++) {
        shuffle_rows(a, b, n, d, 1000 + (uint64_t)s);
        for (size_t i = 0; i < N_METHODS; i++) {
            run_out r = run(o, methods[i], b, n, d, vecs, vals[0] / (double)n);
            c[i * (size_t)o->shuffles + (size_t)s] = r.corr;
            alarms[i] += r.alarm;
        }
    }
    printf("%-22s %6.2f", name, vals[0] / vals[1]);
    for (size_t i = 0; i < N_METHODS; i++) {
        double *ci = c + i * (size_t)o->shuffles;
        qsort(ci, (size_t)o->shuffles, sizeof *ci, cmp_double);
        printf("  med %6.4f min %6.4f", ci[o->shuffles / 2], ci[0]);
    }
    printf("\n%-22s %6s", "", "");
    for (size_t i = 0; i < N_METHODS; i++)
        printf("  alarms %2d/%-2d        ", alarms[i], o->shuffles);
    printf("\n");
    fflush(stdout);
    free(vecs);
    free(b);
    free(c);
    free(alarms);
}

int main(int argc, char **argv)
{
    opts o = {.shuffles = 20};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0)
            o.quick = 1;
        else if (strcmp(argv[i], "--shuffles") == 0 && i + 1 < argc)
            o.shuffles = atoi(argv[++i]);
        else if (strcmp(argv[i], "--dump") == 0 && i + 1 < argc)
            o.dump = argv[++i];
        else if (strcmp(argv[i], "--block") == 0 && i + 1 < argc)
            o.block = (size_t)atol(argv[++i]);
        else if (strcmp(argv[i], "--sketch") == 0 && i + 1 < argc)
            o.sketch = (size_t)atol(argv[++i]);
        else if (strcmp(argv[i], "--oversample") == 0 && i + 1 < argc) {
            o.oversample = (size_t)atol(argv[++i]);
            o.have_oversample = 1;
        } else if (strcmp(argv[i], "--heavy-factor") == 0 && i + 1 < argc)
            o.heavy_factor = atof(argv[++i]);
        else if (strcmp(argv[i], "--growth") == 0 && i + 1 < argc)
            o.growth = atof(argv[++i]);
        else if (strcmp(argv[i], "--k") == 0 && i + 1 < argc)
            o.k = (size_t)atol(argv[++i]);
        else if (strcmp(argv[i], "--batch") == 0 && i + 1 < argc && atol(argv[i + 1]) >= 1 &&
                 atol(argv[i + 1]) <= SPX_TOPEIG_BATCH_MAX)
            o.batch = (size_t)atol(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--quick] [--shuffles N] [--dump DIR] [--block B] "
                            "[--sketch L] [--oversample P] [--heavy-factor F] [--growth G] [--k K] "
                            "[--batch B]\n",
                    argv[0]);
            return 2;
        }
    }
    if (o.shuffles < 1)
        o.shuffles = 1;
    openblas_set_num_threads(1);
    const size_t d = 200, n = o.quick ? 20000 : 50000;
    printf("top eigenvector accuracy: <v,v1>^2 vs LAPACK, eig.err = (estimate - s1^2/n) / (s1^2/n), "
           "al = ordering alarm; d = %zu, n = %zu for the spikes\n\n",
           d, n);
    print_header();
    double *u = malloc(d * sizeof *u);
    const double Rs[] = {1.5, 3.0, 10.0};
    for (size_t i = 0; i < 3; i++) {
        double *a = planted_spike(n, d, Rs[i], 42 + i, u);
        char name[64];
        snprintf(name, sizeof name, "spike-%g", Rs[i]);
        report(&o, name, a, n, d);
        dump(&o, name, a, n, d);
        free(a);
    }
    double *a = planted_spike(n, d, 3.0, 43, u);
    make_heavy(a, n, d, 10.0, u, 0);
    report(&o, "heavy-iso-1%", a, n, d);
    dump(&o, "heavy-iso", a, n, d);
    free(a);
    a = planted_spike(n, d, 3.0, 43, u);
    make_heavy(a, n, d, 10.0, u, 1);
    report(&o, "heavy-aligned-1%", a, n, d);
    dump(&o, "heavy-aligned", a, n, d);
    free(a);
    a = planted_spike(n, d, 3.0, 43, u);
    sort_aligned_first(a, n, d, u);
    report(&o, "adversarial", a, n, d);
    dump(&o, "adversarial", a, n, d);
    free(a);
    free(u);

    char path[4096];
    if (!spx_test_data_path(path, sizeof path, "matrices/spambase.data")) {
        printf("spambase: skipped (no ../shared/data)\n");
        return 0;
    }
    size_t sn;
    if (spx_test_load_text_matrix(path, 0, 57, &a, &sn) != 0)
        return 1;
    report(&o, "spambase-raw (file)", a, sn, 57);
    dump(&o, "spambase-raw", a, sn, 57);
    printf("\nin %d random orders:\n", o.shuffles);
    report_shuffles(&o, "spambase-raw", a, sn, 57);
    zscore_columns(a, sn, 57);
    printf("\n");
    print_header();
    report(&o, "spambase-z (file)", a, sn, 57);
    dump(&o, "spambase-z", a, sn, 57);
    printf("\nin %d random orders:\n", o.shuffles);
    report_shuffles(&o, "spambase-z", a, sn, 57);
    free(a);
    return 0;
}
