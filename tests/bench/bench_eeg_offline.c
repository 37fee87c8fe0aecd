/* Offline accuracy of the EEG covariance classifiers on EEGMMIDB subject S001 (or --subject), as
 * in docs/algorithms notes section 3: 8-35 Hz Butterworth band-pass (order 4), 0-3 s epochs after
 * the T1/T2 cues, stratified 5-fold cross-validation repeated 5 times (seeded), for
 *   imagined left/right fist (runs 4, 8, 12) and imagined both fists/both feet (runs 6, 10, 14):
 *   OAS+MDM, OAS+TS+LR, ACM+MDM, ACM+TS+LR (order, lag chosen by an inner CV grid search on the
 *   training folds only: nested, no test data used for the choice). The nested search costs a
 *   Riemannian mean of up to 192 x 192 matrices per inner fit, so by default the ACM rows use one
 *   outer 5-fold pass (same folds as the first repeat of the others), orders 1-3, lags 1, 2, 4 and
 *   3 inner folds; --acm-repeats 5 --inner-folds 5 gives the full protocol (about an hour).
 * Then the pseudo-online check: causal filter, OAS+MDM trained on runs 6 and 10, 1-s windows every
 * 125 ms over run 14 through the same ring buffer / window code a live pipeline uses, each window
 * labelled by the cue active at its last sample (and, second figure, only windows lying wholly
 * inside a cue).
 *
 * Usage: bench_eeg_offline [--subject S001] [--repeats 5] [--folds 5] [--inner-folds 3]
 *          [--acm-repeats 1] [--orders 1,2,3] [--lags 1,2,4] [--filter causal|zerophase]
 *          [--no-acm] [--online-only] [--seed 0] [--task ff|lr|both]
 * Needs libbiosig (SPX_HAVE_BIOSIG) and ../shared/data/eeg/eegmmidb. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "covclf.h"
#include "epoching.h"
#include "iir_filter.h"
#include "testdata.h"

#ifndef SPX_HAVE_BIOSIG
int main(void)
{
    fprintf(stderr, "bench_eeg_offline: built without libbiosig (SPX_HAVE_BIOSIG); nothing to do\n");
    return 77;
}
#else
#include "eeg_edf.h"

#define MAX_EPOCHS 128
#define MAX_GRID 16

typedef struct options {
    const char *subject;
    size_t repeats, folds, inner_folds, acm_repeats;
    size_t orders[MAX_GRID], n_orders, lags[MAX_GRID], n_lags;
    int zero_phase, acm, do_ff, do_lr;
    uint64_t seed;
} options;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static size_t parse_list(const char *s, size_t *out)
{
    size_t n = 0;
    while (*s && n < MAX_GRID) {
        char *end;
        unsigned long v = strtoul(s, &end, 10);
        if (end == s)
            break;
        out[n++] = (size_t)v;
        s = *end == ',' ? end + 1 : end;
    }
    return n;
}

static int load_task(const options *o, const int runs[3], const double *sos, size_t ns,
                     double *epochs, int *labels, size_t *count, size_t *channels, double *fs)
{
    *count = 0;
    for (int i = 0; i < 3; i++) {
        char rel[256], path[4096];
        snprintf(rel, sizeof rel, "eeg/eegmmidb/%s/%sR%02d.edf", o->subject, o->subject, runs[i]);
        if (!spx_test_data_path(path, sizeof path, rel)) {
            fprintf(stderr, "missing ../shared/data/%s\n", rel);
            return -1;
        }
        eeg_run run;
        if (eeg_run_load(path, &run) != 0)
            return -1;
        if (eeg_run_filter(&run, sos, ns, o->zero_phase) != 0) {
            eeg_run_free(&run);
            return -1;
        }
        *channels = run.channels;
        *fs = run.fs;
        size_t len = (size_t)spx_epoch_samples(3.0, run.fs);
        *count = eeg_run_epochs(&run, 0, len, epochs, labels, *count, MAX_EPOCHS);
        eeg_run_free(&run);
    }
    return 0;
}

typedef struct result {
    double mean, sd;    /* accuracy over repeats */
    double seconds;
    size_t hist[MAX_GRID][MAX_GRID];   /* chosen (order, lag) counts */
} result;

/* Plain pipelines on precomputed order-1 covariances. */
static int eval_plain(const options *o, spx_covclf_kind kind, const double *covs, const int *labels,
                      size_t n, size_t C, size_t T, result *res)
{
    spx_covclf_params p;
    spx_covclf_params_default(&p, C, T);
    p.kind = kind;
    double t0 = now_s(), acc[16], s = 0, s2 = 0;
    for (size_t r = 0; r < o->repeats; r++) {
        int rc = spx_covclf_cv_accuracy(&p, covs, labels, n, o->folds, 1, o->seed + r, &acc[r]);
        if (rc)
            return rc;
        s += acc[r];
    }
    res->mean = s / (double)o->repeats;
    for (size_t r = 0; r < o->repeats; r++)
        s2 += (acc[r] - res->mean) * (acc[r] - res->mean);
    res->sd = o->repeats > 1 ? sqrt(s2 / (double)(o->repeats - 1)) : 0;
    res->seconds = now_s() - t0;
    return 0;
}

/* ACM pipelines: nested CV, (order, lag) picked on each outer training set. */
static int eval_acm(const options *o, spx_covclf_kind kind, const double *epochs,
                    const int *labels, size_t n, size_t C, size_t T, result *res)
{
    memset(res, 0, sizeof *res);
    double t0 = now_s(), acc[16], s = 0, s2 = 0;
    int fold[MAX_EPOCHS], tr_lab[MAX_EPOCHS];
    double *tr = malloc(n * C * T * sizeof *tr);
    if (!tr)
        return -ENOMEM;
    int rc = 0;
    for (size_t r = 0; !rc && r < o->acm_repeats; r++) {
        size_t correct = 0, total = 0;
        rc = spx_cv_stratified_folds(labels, n, o->folds, o->seed + r, fold);
        for (size_t f = 0; !rc && f < o->folds; f++) {
            size_t m = 0;
            for (size_t i = 0; i < n; i++)
                if (fold[i] != (int)f) {
                    memcpy(tr + m * C * T, epochs + i * C * T, C * T * sizeof *tr);
                    tr_lab[m++] = labels[i];
                }
            spx_covclf_params p;
            spx_covclf_params_default(&p, C, T);
            p.kind = kind;
            p.max_train = m;
            spx_acm_grid g = {o->orders, o->n_orders, o->lags, o->n_lags, o->inner_folds,
                              o->seed + 1000 + r * 100 + f};
            size_t bo, bl;
            rc = spx_covclf_select_acm(&p, tr, tr_lab, m, &g, &bo, &bl, NULL);
            if (rc)
                break;
            for (size_t io = 0; io < o->n_orders; io++)
                for (size_t il = 0; il < o->n_lags; il++)
                    if (o->orders[io] == bo && o->lags[il] == bl)
                        res->hist[io][il]++;
            p.order = bo;
            p.lag = bl;
            spx_covclf *c;
            rc = spx_covclf_create(&c, &p);
            if (!rc)
                rc = spx_covclf_fit(c, tr, tr_lab, m);
            for (size_t i = 0; !rc && i < n; i++) {
                if (fold[i] != (int)f)
                    continue;
                int lab = -1;
                rc = spx_covclf_predict(c, epochs + i * C * T, T, NULL, &lab);
                correct += lab == labels[i];
                total++;
            }
            spx_covclf_free(c);
        }
        if (!rc) {
            acc[r] = (double)correct / (double)total;
            s += acc[r];
            fprintf(stderr, "    repeat %zu: %.3f (%.0f s so far)\n", r, acc[r], now_s() - t0);
        }
    }
    free(tr);
    if (rc)
        return rc;
    res->mean = s / (double)o->acm_repeats;
    for (size_t r = 0; r < o->acm_repeats; r++)
        s2 += (acc[r] - res->mean) * (acc[r] - res->mean);
    res->sd = o->acm_repeats > 1 ? sqrt(s2 / (double)(o->acm_repeats - 1)) : 0;
    res->seconds = now_s() - t0;
    return 0;
}

static void print_row(const char *task, const char *name, const result *r, const char *ref)
{
    printf("%-10s %-12s %6.3f  %5.3f  %8.1f  %s\n", task, name, r->mean, r->sd, r->seconds, ref);
}

static void print_hist(const options *o, const result *r)
{
    printf("           chosen (order,lag):");
    for (size_t io = 0; io < o->n_orders; io++)
        for (size_t il = 0; il < o->n_lags; il++)
            if (r->hist[io][il])
                printf(" (%zu,%zu)x%zu", o->orders[io], o->lags[il], r->hist[io][il]);
    printf("\n");
}

static int run_task(const options *o, const char *task, const int runs[3], const char *refs[4])
{
    double sos[6 * SPX_IIR_MAX_ORDER];
    size_t ns;
    if (spx_iir_butter_bandpass(4, 8.0, 35.0, 160.0, sos, &ns) != 0)
        return -1;
    double *epochs = malloc((size_t)MAX_EPOCHS * 64 * 480 * sizeof *epochs);
    int labels[MAX_EPOCHS];
    size_t n, C = 0;
    double fs = 0;
    if (!epochs || load_task(o, runs, sos, ns, epochs, labels, &n, &C, &fs) != 0 || C != 64) {
        free(epochs);
        return -1;
    }
    size_t T = (size_t)spx_epoch_samples(3.0, fs);
    size_t n1 = 0;
    for (size_t i = 0; i < n; i++) n1 += (size_t)labels[i];
    fprintf(stderr, "%s: %zu epochs (%zu T1, %zu T2), %zu channels x %zu samples\n", task, n, n - n1,
            n1, C, T);
    /* Order-1 covariances once for the plain pipelines. */
    spx_covclf_params p;
    spx_covclf_params_default(&p, C, T);
    spx_covclf *cc;
    if (spx_covclf_create(&cc, &p) != 0) {
        free(epochs);
        return -1;
    }
    double *covs = malloc(n * C * C * sizeof *covs);
    for (size_t i = 0; i < n; i++)
        spx_covclf_covariance(cc, epochs + i * C * T, T, covs + i * C * C);
    spx_covclf_free(cc);
    result r;
    int rc = eval_plain(o, SPX_COVCLF_MDM, covs, labels, n, C, T, &r);
    if (!rc) print_row(task, "OAS+MDM", &r, refs[0]);
    fflush(stdout);
    if (!rc) rc = eval_plain(o, SPX_COVCLF_TS_LR, covs, labels, n, C, T, &r);
    if (!rc) print_row(task, "OAS+TS+LR", &r, refs[1]);
    fflush(stdout);
    if (o->acm) {
        if (!rc) rc = eval_acm(o, SPX_COVCLF_MDM, epochs, labels, n, C, T, &r);
        if (!rc) { print_row(task, "ACM+MDM", &r, refs[2]); print_hist(o, &r); }
        fflush(stdout);
        if (!rc) rc = eval_acm(o, SPX_COVCLF_TS_LR, epochs, labels, n, C, T, &r);
        if (!rc) { print_row(task, "ACM+TS+LR", &r, refs[3]); print_hist(o, &r); }
        fflush(stdout);
    }
    if (rc)
        fprintf(stderr, "%s: evaluation failed: %s\n", task, strerror(-rc));
    free(covs);
    free(epochs);
    return rc;
}

/* Pseudo-online: the live path (chunks -> causal filter -> ring -> windows -> OAS -> MDM). */
static int pseudo_online(const options *o)
{
    double sos[6 * SPX_IIR_MAX_ORDER];
    size_t ns;
    spx_iir_butter_bandpass(4, 8.0, 35.0, 160.0, sos, &ns);
    options causal = *o;
    causal.zero_phase = 0;
    const int train_runs[3] = {6, 10, 10};
    double *epochs = malloc((size_t)MAX_EPOCHS * 64 * 480 * sizeof *epochs);
    int labels[MAX_EPOCHS];
    size_t n = 0, C = 0;
    double fs = 0;
    /* load_task reads three runs; read 6 and 10 and drop the duplicate of run 10. */
    if (!epochs || load_task(&causal, train_runs, sos, ns, epochs, labels, &n, &C, &fs) != 0) {
        free(epochs);
        return -1;
    }
    size_t n_train = n / 3 * 2; /* runs 6 and 10 contribute the same count each (15 cues) */
    {
        size_t per_run = n / 3;
        n_train = 2 * per_run;
    }
    size_t T = (size_t)spx_epoch_samples(3.0, fs), W = (size_t)spx_epoch_samples(1.0, fs),
           hop = (size_t)spx_epoch_samples(0.125, fs);
    spx_covclf_params p;
    spx_covclf_params_default(&p, C, T);
    p.max_train = n_train;
    spx_covclf *train;
    int rc = spx_covclf_create(&train, &p);
    if (!rc) rc = spx_covclf_fit(train, epochs, labels, n_train);
    if (rc) {
        free(epochs);
        spx_covclf_free(train);
        return rc;
    }
    /* A window-sized classifier sharing the trained class means. */
    spx_covclf_params pw = p;
    pw.samples = W;
    spx_covclf *live;
    rc = spx_covclf_create(&live, &pw);
    double *means = malloc(2 * C * C * sizeof *means);
    /* Fit the live classifier on the same training covariances (the class means do not depend
     * on the window length; the covariances of the 3-s epochs are what was trained on). */
    double *covs = malloc(n_train * C * C * sizeof *covs);
    for (size_t i = 0; !rc && i < n_train; i++)
        rc = spx_covclf_covariance(train, epochs + i * C * T, T, covs + i * C * C);
    if (!rc) rc = spx_covclf_fit_covs(live, covs, labels, n_train);
    free(means);
    free(covs);
    free(epochs);
    spx_covclf_free(train);
    if (rc) {
        spx_covclf_free(live);
        return rc;
    }
    char rel[256], path[4096];
    snprintf(rel, sizeof rel, "eeg/eegmmidb/%s/%sR14.edf", o->subject, o->subject);
    eeg_run run;
    if (!spx_test_data_path(path, sizeof path, rel) || eeg_run_load(path, &run) != 0) {
        spx_covclf_free(live);
        return -1;
    }
    spx_iir *filt;
    spx_ring *ring;
    spx_windows win;
    spx_iir_create(&filt, sos, ns, C);
    spx_ring_create(&ring, C, 4 * W);
    spx_windows_init(&win, W, hop, 0);
    const size_t chunk = 16; /* 100 ms at 160 Hz */
    double *buf = malloc(chunk * C * sizeof *buf), *wbuf = malloc(C * W * sizeof *wbuf);
    size_t hit_end = 0, tot_end = 0, hit_in = 0, tot_in = 0, windows = 0;
    double t_pred = 0;
    for (size_t t0 = 0; t0 < run.samples; t0 += chunk) {
        size_t m = run.samples - t0 < chunk ? run.samples - t0 : chunk;
        for (size_t t = 0; t < m; t++)
            for (size_t c = 0; c < C; c++)
                buf[t * C + c] = run.data[c * run.samples + t0 + t];
        spx_iir_process(filt, buf, buf, m);
        spx_ring_push(ring, buf, m);
        uint64_t start;
        while (spx_windows_next(&win, ring, wbuf, W, &start) == 1) {
            double ts = now_s();
            int lab = -1;
            rc = spx_covclf_predict(live, wbuf, W, NULL, &lab);
            t_pred += now_s() - ts;
            windows++;
            if (rc) break;
            uint64_t last = start + W - 1;
            for (size_t e = 0; e < run.n_events; e++) {
                if (run.code[e] == 0) continue;
                uint64_t a = run.onset[e], b = run.onset[e] + run.duration[e];
                if (last >= a && last < b) {
                    tot_end++;
                    hit_end += lab == run.code[e] - 1;
                }
                if (start >= a && last < b) {
                    tot_in++;
                    hit_in += lab == run.code[e] - 1;
                }
            }
        }
        if (rc) break;
    }
    if (!rc)
        printf("pseudo-online (train runs 6+10: %zu epochs, test run 14, 1 s windows / 125 ms, "
               "causal): window accuracy %.3f over %zu windows ending in a cue, %.3f over %zu "
               "windows inside a cue (reference 0.82); %.3f ms per window (covariance + MDM)\n",
               n_train, (double)hit_end / (double)tot_end, tot_end,
               (double)hit_in / (double)tot_in, tot_in, 1e3 * t_pred / (double)windows);
    free(buf);
    free(wbuf);
    spx_iir_free(filt);
    spx_ring_free(ring);
    eeg_run_free(&run);
    spx_covclf_free(live);
    return rc;
}

int main(int argc, char **argv)
{
    options o = {"S001", 5, 5, 3, 1, {1, 2, 3}, 3, {1, 2, 4}, 3, 0, 1, 1, 1, 0};
    int online_only = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : "";
        if (!strcmp(a, "--subject")) { o.subject = v; i++; }
        else if (!strcmp(a, "--repeats")) { o.repeats = strtoul(v, NULL, 10); i++; }
        else if (!strcmp(a, "--folds")) { o.folds = strtoul(v, NULL, 10); i++; }
        else if (!strcmp(a, "--inner-folds")) { o.inner_folds = strtoul(v, NULL, 10); i++; }
        else if (!strcmp(a, "--acm-repeats")) { o.acm_repeats = strtoul(v, NULL, 10); i++; }
        else if (!strcmp(a, "--orders")) { o.n_orders = parse_list(v, o.orders); i++; }
        else if (!strcmp(a, "--lags")) { o.n_lags = parse_list(v, o.lags); i++; }
        else if (!strcmp(a, "--filter")) { o.zero_phase = !strcmp(v, "zerophase"); i++; }
        else if (!strcmp(a, "--seed")) { o.seed = strtoull(v, NULL, 10); i++; }
        else if (!strcmp(a, "--no-acm")) o.acm = 0;
        else if (!strcmp(a, "--online-only")) online_only = 1;
        else if (!strcmp(a, "--task")) { o.do_ff = strcmp(v, "lr") != 0; o.do_lr = strcmp(v, "ff") != 0; i++; }
        else { fprintf(stderr, "unknown option %s (see the comment at the top)\n", a); return 2; }
    }
    if (o.repeats < 1 || o.repeats > 16 || o.acm_repeats < 1 || o.acm_repeats > 16 || o.folds < 2 || o.n_orders == 0 || o.n_lags == 0) {
        fprintf(stderr, "bad options\n");
        return 2;
    }
    int rc = 0;
    if (!online_only) {
        printf("subject %s, 8-35 Hz Butterworth order 4 (%s), epochs 0-3 s after T1/T2, "
               "stratified %zu-fold CV x %zu (seeds %llu..), ACM grid orders", o.subject,
               o.zero_phase ? "zero-phase" : "causal", o.folds, o.repeats,
               (unsigned long long)o.seed);
        for (size_t i = 0; i < o.n_orders; i++) printf("%s%zu", i ? "," : " ", o.orders[i]);
        printf(" lags");
        for (size_t i = 0; i < o.n_lags; i++) printf("%s%zu", i ? "," : " ", o.lags[i]);
        printf(", inner %zu-fold, ACM outer CV repeated %zu x\n", o.inner_folds, o.acm_repeats);
        printf("%-10s %-12s %6s  %5s  %8s  %s\n", "task", "pipeline", "acc", "sd", "seconds",
               "reference (notes: numpy | pyRiemann 0.12)");
        const int ff[3] = {6, 10, 14}, lr[3] = {4, 8, 12};
        const char *ff_ref[4] = {"0.91 | 0.880", "0.93 | 0.924", "-", "0.96 (ACM+TS+SVM)"};
        const char *lr_ref[4] = {"0.63 | 0.578", "0.79 | 0.764", "-", "0.76 (ACM+TS+SVM)"};
        if (o.do_ff) rc = run_task(&o, "fists/feet", ff, ff_ref);
        if (!rc && o.do_lr) rc = run_task(&o, "left/right", lr, lr_ref);
    }
    if (!rc)
        rc = pseudo_online(&o);
    return rc ? 1 : 0;
}
#endif
