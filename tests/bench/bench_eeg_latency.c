/* Per-window latency of the live EEG classification path, 64 channels x 160 samples (1 s at
 * 160 Hz), one window at a time on one thread:
 *   A: OAS covariance + MDM (2 classes)                   (target p99 < 1 ms)
 *   B: augmented covariance (order 4, lag --lag) + OAS + tangent space + logistic regression
 * and the same computations in numpy (tests/bench/eeg_numpy.py under /usr/bin/python3) on the same
 * windows with the same trained models, in the same run: p50 / p99 / windows per second, the
 * speed ratio, and whether both predicted the same labels.
 *
 * Windows: S001 run 14 (causally filtered 8-35 Hz, every 125 ms) and models trained on 1-s
 * windows after the cues of runs 6 and 10 when libbiosig and ../shared/data are there; otherwise
 * synthetic mixtures of Gaussian noise (say so in the output).
 *
 * Usage: bench_eeg_latency [--windows N] [--lag L] [--no-python]
 * Set OPENBLAS_NUM_THREADS=1 for numbers comparable with the daemon (which runs BLAS single
 * threaded). */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "covclf.h"
#include "epoching.h"
#include "iir_filter.h"
#include "rng.h"
#include "spd.h"
#include "tangent_space.h"
#include "testdata.h"
#include "logreg.h"
#include "riemann_mdm.h"
#ifdef SPX_HAVE_BIOSIG
#include "eeg_edf.h"
#endif

enum { C = 64, W = 160, ORDER = 4, MAX_TRAIN = 64 };

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double percentile(double *v, size_t n, double q)
{
    qsort(v, n, sizeof *v, cmp_double);
    size_t i = (size_t)floor(q * (double)(n - 1) + 0.5);
    return v[i];
}

/* Training windows (n x C x W) + labels and test windows (m x C x W). */
typedef struct dataset {
    double *train, *test;
    int labels[MAX_TRAIN];
    size_t n_train, n_test;
    int real;
} dataset;

static void synthetic(dataset *d, size_t n_test)
{
    spx_rng r;
    spx_rng_seed(&r, 5);
    double *mix = malloc(2 * C * C * sizeof *mix), *z = malloc(C * W * sizeof *z);
    spx_rng_normal_fill(&r, mix, 2 * C * C);
    d->n_train = 40;
    d->n_test = n_test;
    d->train = malloc(d->n_train * C * W * sizeof *d->train);
    d->test = malloc(n_test * C * W * sizeof *d->test);
    for (size_t i = 0; i < d->n_train + n_test; i++) {
        int lab = (int)(i % 2);
        double *x = i < d->n_train ? d->train + i * C * W : d->test + (i - d->n_train) * C * W;
        if (i < d->n_train) d->labels[i] = lab;
        spx_rng_normal_fill(&r, z, C * W);
        for (size_t a = 0; a < C; a++)
            for (size_t t = 0; t < W; t++) {
                double s = 0;
                for (size_t b = 0; b < C; b++) s += mix[lab * C * C + a * C + b] * z[b * W + t];
                x[a * W + t] = s;
            }
    }
    free(mix);
    free(z);
    d->real = 0;
}

#ifdef SPX_HAVE_BIOSIG
static int real_data(dataset *d, size_t max_test)
{
    double sos[6 * SPX_IIR_MAX_ORDER];
    size_t ns;
    spx_iir_butter_bandpass(4, 8.0, 35.0, 160.0, sos, &ns);
    const int runs[3] = {6, 10, 14};
    d->n_train = 0;
    d->train = malloc(MAX_TRAIN * C * W * sizeof *d->train);
    d->test = malloc(max_test * C * W * sizeof *d->test);
    for (int k = 0; k < 3; k++) {
        char rel[128], path[4096];
        snprintf(rel, sizeof rel, "eeg/eegmmidb/S001/S001R%02d.edf", runs[k]);
        eeg_run run;
        if (!spx_test_data_path(path, sizeof path, rel) || eeg_run_load(path, &run) != 0 ||
            run.channels != C)
            return -1;
        eeg_run_filter(&run, sos, ns, 0);
        if (k < 2) {
            /* 1-s windows from 0.5 s after each cue */
            d->n_train = eeg_run_epochs(&run, 80, W, d->train, d->labels, d->n_train, MAX_TRAIN);
        } else {
            d->n_test = 0;
            for (size_t s = 0; s + W <= run.samples && d->n_test < max_test; s += 20, d->n_test++)
                for (size_t c = 0; c < C; c++)
                    memcpy(d->test + (d->n_test * C + c) * W, run.data + c * run.samples + s,
                           W * sizeof *d->test);
        }
        eeg_run_free(&run);
    }
    d->real = 1;
    return 0;
}
#endif

static void free_dataset(dataset *d)
{
    free(d->train);
    free(d->test);
}

typedef struct timing {
    double p50, p99, wps;
} timing;

/* Times predict over all test windows (after a warm-up), one window at a time. */
static int time_pipeline(spx_covclf *c, const dataset *d, int *labels, timing *t)
{
    double *lat = malloc(d->n_test * sizeof *lat);
    int rc = 0;
    for (size_t i = 0; !rc && i < 20 && i < d->n_test; i++)
        rc = spx_covclf_predict(c, d->test + i * C * W, W, NULL, &labels[i]);
    double t0 = now_s();
    for (size_t i = 0; !rc && i < d->n_test; i++) {
        double a = now_s();
        rc = spx_covclf_predict(c, d->test + i * C * W, W, NULL, &labels[i]);
        lat[i] = now_s() - a;
    }
    double total = now_s() - t0;
    if (!rc) {
        t->wps = (double)d->n_test / total;
        t->p50 = 1e3 * percentile(lat, d->n_test, 0.50);
        t->p99 = 1e3 * percentile(lat, d->n_test, 0.99);
    }
    free(lat);
    return rc;
}

/* Model file for eeg_numpy.py: see its docstring. */
static int write_model(const char *path, const dataset *d, size_t lag,
                       const double *mean_isqrt, const double *ref_isqrt, const double *w, double b)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    int64_t hdr[5] = {C, W, (int64_t)d->n_test, ORDER, (int64_t)lag};
    size_t dim = C * ORDER, nf = dim * (dim + 1) / 2;
    int ok = fwrite(hdr, sizeof hdr[0], 5, f) == 5 &&
             fwrite(d->test, sizeof(double), d->n_test * C * W, f) == d->n_test * C * W &&
             fwrite(mean_isqrt, sizeof(double), 2 * C * C, f) == 2 * C * C &&
             fwrite(ref_isqrt, sizeof(double), dim * dim, f) == dim * dim &&
             fwrite(w, sizeof(double), nf, f) == nf && fwrite(&b, sizeof b, 1, f) == 1;
    return fclose(f) == 0 && ok ? 0 : -1;
}

int main(int argc, char **argv)
{
    size_t n_windows = 960, lag = 1;
    int python = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--windows") && i + 1 < argc) n_windows = strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--lag") && i + 1 < argc) lag = strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--no-python")) python = 0;
        else { fprintf(stderr, "usage: bench_eeg_latency [--windows N] [--lag L] [--no-python]\n"); return 2; }
    }
    if (n_windows < 20 || lag < 1 || ORDER * lag + 2 > W) {
        fprintf(stderr, "bad options\n");
        return 2;
    }
    dataset d = {0};
#ifdef SPX_HAVE_BIOSIG
    if (real_data(&d, n_windows) != 0) {
        free_dataset(&d);
        memset(&d, 0, sizeof d);
        synthetic(&d, n_windows);
    }
#else
    synthetic(&d, n_windows);
#endif
    printf("%zu windows of %d channels x %d samples (%s), trained on %zu windows; one thread "
           "(OPENBLAS_NUM_THREADS=%s)\n", d.n_test, C, W,
           d.real ? "S001 run 14, causal 8-35 Hz, every 125 ms" : "synthetic Gaussian mixtures",
           d.n_train, getenv("OPENBLAS_NUM_THREADS") ? getenv("OPENBLAS_NUM_THREADS") : "unset");

    /* A: OAS + MDM */
    spx_covclf_params pa;
    spx_covclf_params_default(&pa, C, W);
    pa.max_train = d.n_train;
    spx_covclf *ca, *cb;
    int rc = spx_covclf_create(&ca, &pa);
    if (!rc) rc = spx_covclf_fit(ca, d.train, d.labels, d.n_train);
    /* B: ACM order 4 + TS + LR */
    spx_covclf_params pb = pa;
    pb.order = ORDER;
    pb.lag = lag;
    pb.kind = SPX_COVCLF_TS_LR;
    if (!rc) rc = spx_covclf_create(&cb, &pb);
    if (!rc) rc = spx_covclf_fit(cb, d.train, d.labels, d.n_train);
    if (rc) {
        fprintf(stderr, "training failed: %s\n", strerror(-rc));
        return 1;
    }
    int *lab_a = malloc(d.n_test * sizeof *lab_a), *lab_b = malloc(d.n_test * sizeof *lab_b);
    timing ta, tb;
    rc = time_pipeline(ca, &d, lab_a, &ta);
    if (!rc) rc = time_pipeline(cb, &d, lab_b, &tb);
    if (rc) {
        fprintf(stderr, "predict failed: %s\n", strerror(-rc));
        return 1;
    }
    printf("%-44s %9s %9s %10s\n", "per window", "p50 ms", "p99 ms", "windows/s");
    printf("%-44s %9.3f %9.3f %10.0f\n", "C  A: OAS + MDM", ta.p50, ta.p99, ta.wps);
    char nameb[64];
    snprintf(nameb, sizeof nameb, "C  B: ACM(4,%zu) + OAS + TS + LR", lag);
    printf("%-44s %9.3f %9.3f %10.0f\n", nameb, tb.p50, tb.p99, tb.wps);

    if (python) {
        /* Export the trained models in the form the numpy twin uses. */
        size_t dim = C * ORDER;
        spx_spd_ws *ws64, *wsd;
        double *mis = malloc(2 * C * C * sizeof *mis), *ris = malloc(dim * dim * sizeof *ris);
        spx_spd_ws_create(&ws64, C);
        spx_spd_ws_create(&wsd, dim);
        const double *means = spx_mdm_means(spx_covclf_mdm(ca));
        const double *ref = spx_tangent_reference(spx_covclf_tangent(cb));
        double b = 0;
        const double *w = spx_logreg_coef(spx_covclf_logreg(cb), &b);
        rc = means && ref && w ? 0 : -EINVAL;
        for (int k = 0; !rc && k < 2; k++)
            rc = spx_spd_invsqrt(ws64, means + k * C * C, mis + k * C * C);
        if (!rc) rc = spx_spd_invsqrt(wsd, ref, ris);
        char model[] = "/tmp/spx_eeg_model_XXXXXX", out[] = "/tmp/spx_eeg_labels_XXXXXX";
        int fm = mkstemp(model), fo = mkstemp(out);
        if (fm >= 0) close(fm);
        if (fo >= 0) close(fo);
        if (!rc && w && fm >= 0 && fo >= 0 && write_model(model, &d, lag, mis, ris, w, b) == 0) {
            char cmd[8192];
            snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/tests/bench/eeg_numpy.py %s %s",
                     SPX_SOURCE_DIR, model, out);
            FILE *p = popen(cmd, "r");
            timing na = {0}, nb = {0};
            char line[256];
            while (p && fgets(line, sizeof line, p)) {
                char which;
                timing t;
                if (sscanf(line, "%c %lf %lf %lf", &which, &t.p50, &t.p99, &t.wps) == 4) {
                    if (which == 'A') na = t;
                    if (which == 'B') nb = t;
                }
            }
            int prc = p ? pclose(p) : -1;
            int *pl = malloc(2 * d.n_test * sizeof *pl);
            FILE *fl = fopen(out, "rb");
            size_t got = fl ? fread(pl, sizeof(int), 2 * d.n_test, fl) : 0;
            if (fl) fclose(fl);
            if (prc == 0 && got == 2 * d.n_test && na.wps > 0 && nb.wps > 0) {
                size_t same_a = 0, same_b = 0;
                for (size_t i = 0; i < d.n_test; i++) {
                    same_a += pl[i] == lab_a[i];
                    same_b += pl[d.n_test + i] == lab_b[i];
                }
                printf("%-44s %9.3f %9.3f %10.0f\n", "numpy A: OAS + MDM", na.p50, na.p99, na.wps);
                snprintf(nameb, sizeof nameb, "numpy B: ACM(4,%zu) + OAS + TS + LR", lag);
                printf("%-44s %9.3f %9.3f %10.0f\n", nameb, nb.p50, nb.p99, nb.wps);
                printf("speed ratio C / numpy (windows/s): A %.2fx, B %.2fx; identical labels: "
                       "A %zu/%zu, B %zu/%zu\n", ta.wps / na.wps, tb.wps / nb.wps, same_a,
                       d.n_test, same_b, d.n_test);
            } else {
                printf("numpy comparison failed (python exit %d, %zu labels)\n", prc, got);
            }
            free(pl);
        } else {
            printf("numpy comparison skipped: could not export the models\n");
        }
        unlink(model);
        unlink(out);
        free(mis);
        free(ris);
        spx_spd_ws_free(ws64);
        spx_spd_ws_free(wsd);
    }
    free(lab_a);
    free(lab_b);
    spx_covclf_free(ca);
    spx_covclf_free(cb);
    free_dataset(&d);
    return 0;
}
