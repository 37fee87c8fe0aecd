/* Accuracy of the covariance classifiers on real EEG (EEGMMIDB S001), conservative versions of the
 * reference numbers in the notes (section 3; 45 trials per task, so about +-0.1 is noise):
 *   fists/feet imagery (runs 6, 10, 14): OAS+TS+LR >= 0.85, OAS+MDM >= 0.80;
 *   left/right imagery (runs 4, 8, 12):  OAS+TS+LR >= 0.65;
 *   pseudo-online (causal filter, MDM trained on runs 6+10, 1-s windows every 125 ms over run 14,
 *   windows lying inside a cue): >= 0.70 (reference 0.82).
 * Setting: 8-35 Hz Butterworth order 4, zero-phase; epochs 0-3 s after the T1/T2 cues; stratified
 * 5-fold CV repeated 3 times (seeds 0, 1, 2).
 *
 * Reading EDF needs libbiosig: this file is compiled with SPX_HAVE_BIOSIG only where the build links
 * libbiosig into the unit tests; otherwise its single test reports a skip. */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

#include "testdata.h"

#ifndef SPX_HAVE_BIOSIG
Test(eeg_accuracy, needs_biosig)
{
    cr_skip_test("skipped: unit tests built without libbiosig (SPX_HAVE_BIOSIG)");
}
#else
#include "../../bench/eeg_edf.h"
#include "covclf.h"
#include "epoching.h"
#include "iir_filter.h"

enum { C = 64, T = 480, MAX_EP = 64 };

static size_t load_task(const int runs[3], int zero_phase, double *epochs, int *labels)
{
    double sos[6 * SPX_IIR_MAX_ORDER];
    size_t ns, n = 0;
    cr_assert_eq(spx_iir_butter_bandpass(4, 8.0, 35.0, 160.0, sos, &ns), 0);
    for (int i = 0; i < 3; i++) {
        char rel[128], path[4096];
        snprintf(rel, sizeof rel, "eeg/eegmmidb/S001/S001R%02d.edf", runs[i]);
        SPX_REQUIRE_DATA(path, rel);
        eeg_run run;
        cr_assert_eq(eeg_run_load(path, &run), 0, "cannot read %s", path);
        cr_assert_eq(run.channels, C);
        cr_assert_eq(run.fs, 160.0);
        cr_assert_eq(eeg_run_filter(&run, sos, ns, zero_phase), 0);
        n = eeg_run_epochs(&run, 0, T, epochs, labels, n, MAX_EP);
        eeg_run_free(&run);
    }
    return n;
}

static double cv_accuracy(const double *epochs, const int *labels, size_t n, spx_covclf_kind kind)
{
    spx_covclf_params p;
    spx_covclf_params_default(&p, C, T);
    p.kind = kind;
    spx_covclf *c;
    cr_assert_eq(spx_covclf_create(&c, &p), 0);
    double *covs = malloc(n * C * C * sizeof *covs), acc = 0;
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(spx_covclf_covariance(c, epochs + i * C * T, T, covs + i * C * C), 0);
    spx_covclf_free(c);
    cr_assert_eq(spx_covclf_cv_accuracy(&p, covs, labels, n, 5, 3, 0, &acc), 0);
    free(covs);
    return acc;
}

Test(eeg_accuracy, fists_feet_oas_mdm_and_ts, .timeout = 600)
{
    static double epochs[MAX_EP * C * T];
    int labels[MAX_EP];
    const int runs[3] = {6, 10, 14};
    size_t n = load_task(runs, 1, epochs, labels);
    cr_assert_eq(n, 45);
    double mdm = cv_accuracy(epochs, labels, n, SPX_COVCLF_MDM);
    double ts = cv_accuracy(epochs, labels, n, SPX_COVCLF_TS_LR);
    cr_log_info("S001 fists/feet: OAS+MDM %.3f, OAS+TS+LR %.3f", mdm, ts);
    cr_expect_geq(mdm, 0.80, "OAS+MDM %.3f (reference 0.91 numpy, 0.88 pyRiemann)", mdm);
    cr_expect_geq(ts, 0.85, "OAS+TS+LR %.3f (reference 0.93 numpy, 0.92 pyRiemann)", ts);
}

Test(eeg_accuracy, left_right_oas_ts, .timeout = 600)
{
    static double epochs[MAX_EP * C * T];
    int labels[MAX_EP];
    const int runs[3] = {4, 8, 12};
    size_t n = load_task(runs, 1, epochs, labels);
    cr_assert_eq(n, 45);
    double ts = cv_accuracy(epochs, labels, n, SPX_COVCLF_TS_LR);
    cr_log_info("S001 left/right: OAS+TS+LR %.3f", ts);
    cr_expect_geq(ts, 0.65, "OAS+TS+LR %.3f (reference 0.79 numpy, 0.76 pyRiemann)", ts);
}

Test(eeg_accuracy, pseudo_online_windows, .timeout = 600)
{
    static double epochs[MAX_EP * C * T];
    int labels[MAX_EP];
    const int runs[3] = {6, 10, 10}; /* the second run 10 is ignored below */
    size_t n = load_task(runs, 0, epochs, labels);
    size_t n_train = 2 * (n / 3);
    cr_assert_eq(n_train, 30);
    enum { WIN = 160, HOP = 20 };
    spx_covclf_params p3, p1;
    spx_covclf_params_default(&p3, C, T);
    p3.max_train = n_train;
    p1 = p3;
    p1.samples = WIN;
    spx_covclf *c3, *c1;
    cr_assert_eq(spx_covclf_create(&c3, &p3), 0);
    cr_assert_eq(spx_covclf_create(&c1, &p1), 0);
    double *covs = malloc(n_train * C * C * sizeof *covs);
    for (size_t i = 0; i < n_train; i++)
        cr_assert_eq(spx_covclf_covariance(c3, epochs + i * C * T, T, covs + i * C * C), 0);
    cr_assert_eq(spx_covclf_fit_covs(c1, covs, labels, n_train), 0);
    free(covs);
    spx_covclf_free(c3);

    char path[4096];
    SPX_REQUIRE_DATA(path, "eeg/eegmmidb/S001/S001R14.edf");
    eeg_run run;
    cr_assert_eq(eeg_run_load(path, &run), 0);
    double sos[6 * SPX_IIR_MAX_ORDER];
    size_t ns;
    cr_assert_eq(spx_iir_butter_bandpass(4, 8.0, 35.0, 160.0, sos, &ns), 0);
    spx_iir *f;
    spx_ring *ring;
    spx_windows w;
    cr_assert_eq(spx_iir_create(&f, sos, ns, C), 0);
    cr_assert_eq(spx_ring_create(&ring, C, 4 * WIN), 0);
    cr_assert_eq(spx_windows_init(&w, WIN, HOP, 0), 0);
    double chunk[16 * C], win[C * WIN];
    size_t hit = 0, total = 0;
    for (size_t t0 = 0; t0 < run.samples; t0 += 16) {
        size_t m = run.samples - t0 < 16 ? run.samples - t0 : 16;
        for (size_t t = 0; t < m; t++)
            for (size_t c = 0; c < C; c++) chunk[t * C + c] = run.data[c * run.samples + t0 + t];
        cr_assert_eq(spx_iir_process(f, chunk, chunk, m), 0);
        cr_assert_eq(spx_ring_push(ring, chunk, m), 0);
        uint64_t s;
        while (spx_windows_next(&w, ring, win, WIN, &s) == 1) {
            int lab;
            cr_assert_eq(spx_covclf_predict(c1, win, WIN, NULL, &lab), 0);
            for (size_t e = 0; e < run.n_events; e++)
                if (run.code[e] != 0 && s >= run.onset[e] &&
                    s + WIN <= run.onset[e] + run.duration[e]) {
                    total++;
                    hit += lab == run.code[e] - 1;
                }
        }
    }
    cr_assert_eq(w.skipped, 0);
    cr_assert_gt(total, 300);
    double acc = (double)hit / (double)total;
    cr_log_info("S001 pseudo-online window accuracy %.3f over %zu windows", acc, total);
    cr_expect_geq(acc, 0.70, "pseudo-online window accuracy %.3f (reference 0.82)", acc);
    eeg_run_free(&run);
    spx_iir_free(f);
    spx_ring_free(ring);
    spx_covclf_free(c1);
}
#endif
