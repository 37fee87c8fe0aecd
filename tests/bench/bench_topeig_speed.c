/* Throughput of the top-eigenvector methods against the machine's memory bandwidth, measured in the
 * same run. Not a test: it prints a table.
 *
 *   bench_topeig_speed [--quick] [--mib N] [--batch B]
 *
 * Bandwidth: the best of 5 streaming reads (sum of a 512 MiB buffer, four independent vector
 * accumulators) in GB/s. Ceiling for a method: bandwidth / bytes per row (8 d for f64, 4 d for f32)
 * rows/s, i.e. reading each row once from memory and doing nothing else. Each method consumes a
 * buffer of --mib MiB of rows (default 256, far larger than the caches) in calls of 1024 rows, one
 * BLAS thread; the best of 2 passes is reported. Times are the thread's CPU time. The Oja methods
 * run twice: row by row (batch 1, the default) and with mini-batches of B rows (--batch, default
 * 64), shown as e.g. "oja/64". */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rng.h"
#include "topeig.h"

/* CPU time of this thread: the machine is shared, and wall time would count the time slices other
 * processes take. (Memory bandwidth is still shared: run on a quiet machine for the ceiling.) */
static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef double v2d __attribute__((vector_size(16)));

static double stream_read_gbs(size_t bytes)
{
    size_t n = bytes / sizeof(double);
    double *buf = malloc(n * sizeof *buf);
    if (!buf)
        return 0.0;
    for (size_t i = 0; i < n; i++)
        buf[i] = (double)(i & 1023);
    double best = 0.0, sink = 0.0;
    for (int rep = 0; rep < 5; rep++) {
        v2d s0 = {0, 0}, s1 = {0, 0}, s2 = {0, 0}, s3 = {0, 0};
        double t0 = now();
        for (size_t i = 0; i + 8 <= n; i += 8) {
            v2d a, b, c, d;
            memcpy(&a, buf + i, 16);
            memcpy(&b, buf + i + 2, 16);
            memcpy(&c, buf + i + 4, 16);
            memcpy(&d, buf + i + 6, 16);
            s0 += a;
            s1 += b;
            s2 += c;
            s3 += d;
        }
        double t1 = now();
        v2d s = (s0 + s1) + (s2 + s3);
        sink += s[0] + s[1];
        double gbs = (double)(n * sizeof *buf) / (t1 - t0) / 1e9;
        if (gbs > best)
            best = gbs;
    }
    if (sink == 42.0)
        printf(" ");
    free(buf);
    return best;
}

/* Rows per second of method m over n rows (f64 or f32 buffer), best of 2 passes. */
static double rows_per_sec(spx_topeig_method m, size_t batch, size_t d, size_t n,
                           const double *a64, const float *a32)
{
    double best = 0.0;
    for (int rep = 0; rep < 2; rep++) {
        spx_topeig_params p;
        spx_topeig_params_default(&p, d);
        p.method = m;
        p.batch = batch;
        spx_topeig *t;
        if (spx_topeig_create(&t, &p) != 0)
            return 0.0;
        double t0 = now();
        for (size_t r = 0; r < n; r += 1024) {
            size_t m_rows = n - r < 1024 ? n - r : 1024;
            if (a64)
                spx_topeig_update_f64(t, a64 + r * d, m_rows);
            else
                spx_topeig_update_f32(t, a32 + r * d, m_rows);
        }
        spx_topeig_result res;
        spx_topeig_result_get(t, &res);
        double secs = now() - t0;
        spx_topeig_free(t);
        if ((double)n / secs > best)
            best = (double)n / secs;
    }
    return best;
}

int main(int argc, char **argv)
{
    size_t mib = 256, batch = 64;
    int quick = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0)
            quick = 1;
        else if (strcmp(argv[i], "--mib") == 0 && i + 1 < argc)
            mib = (size_t)atol(argv[++i]);
        else if (strcmp(argv[i], "--batch") == 0 && i + 1 < argc && atol(argv[i + 1]) > 1)
            batch = (size_t)atol(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--quick] [--mib N] [--batch B (> 1)]\n", argv[0]);
            return 2;
        }
    }
    if (quick)
        mib = 64;
    openblas_set_num_threads(1);
    double gbs = stream_read_gbs(512u << 20);
    printf("memory bandwidth (streaming read, best of 5): %.2f GB/s\n", gbs);
    printf("rows/s per method; ceiling = bandwidth / bytes per row; ratio = rows/s / ceiling\n\n");
    printf("%-10s %6s %5s %12s %12s %7s\n", "method", "d", "type", "rows/s", "ceiling", "ratio");
    const size_t dims[] = {100, 1000, 10000};
    spx_rng rng;
    spx_rng_seed(&rng, 1);
    for (size_t di = 0; di < 3; di++) {
        size_t d = dims[di];
        size_t n = (mib << 20) / (sizeof(double) * d);
        double *a64 = malloc(n * d * sizeof *a64);
        float *a32 = malloc(n * d * sizeof *a32);
        if (!a64 || !a32)
            return 1;
        for (size_t i = 0; i < n * d; i++) {
            a64[i] = spx_rng_uniform(&rng) - 0.5;
            a32[i] = (float)a64[i];
        }
        /* Each method once; the Oja methods again with mini-batches. */
        for (int run = 0; run < SPX_TOPEIG_N_METHODS + 2; run++) {
            const spx_topeig_method m =
                run < SPX_TOPEIG_N_METHODS ? (spx_topeig_method)run
                                           : (run == SPX_TOPEIG_N_METHODS ? SPX_TOPEIG_ADAOJA
                                                                          : SPX_TOPEIG_OJA);
            const size_t b = run < SPX_TOPEIG_N_METHODS ? 1 : batch;
            char name[32];
            if (b > 1)
                snprintf(name, sizeof name, "%s/%zu", spx_topeig_method_name(m), b);
            else
                snprintf(name, sizeof name, "%s", spx_topeig_method_name(m));
            for (int f32 = 0; f32 < 2; f32++) {
                /* FD at d = 10,000 spends ~10 MFlop per row: a quarter of the buffer (6+ sketch
                 * compressions) is plenty. */
                size_t nn = (m == SPX_TOPEIG_FD && d >= 10000) ? n / 4 : n;
                double rps = rows_per_sec(m, b, d, nn, f32 ? NULL : a64, f32 ? a32 : NULL);
                double ceiling = gbs * 1e9 / (double)(d * (f32 ? 4 : 8));
                printf("%-10s %6zu %5s %12.0f %12.0f %7.3f\n", name, d, f32 ? "f32" : "f64", rps,
                       ceiling, rps / ceiling);
                fflush(stdout);
            }
        }
        free(a64);
        free(a32);
    }
    return 0;
}
