/* Butterworth band-pass design against SciPy's coefficients (committed table) and filter
 * properties: unit gain at the centre, -3 dB at the edges, stability, chunked == one-shot. */
#include <criterion/criterion.h>

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eeg_reference_data.h"
#include "iir_filter.h"
#include "rng.h"

Test(iir, butter_bandpass_matches_scipy_sos)
{
    for (int d = 0; d < REF_N_DESIGNS; d++) {
        double sos[SPX_IIR_MAX_ORDER * 6];
        size_t ns = 0;
        cr_assert_eq(spx_iir_butter_bandpass(ref_butter[d].order, ref_butter[d].lo, ref_butter[d].hi,
                                             ref_butter[d].fs, sos, &ns), 0);
        cr_assert_eq((int)ns, ref_butter[d].n_sections, "design %d", d);
        for (size_t i = 0; i < ns * 6; i++) {
            double ref = ref_butter[d].sos[i];
            cr_assert(fabs(sos[i] - ref) <= 1e-12 * fmax(1.0, fabs(ref)),
                      "design %d coef %zu: %.17g vs scipy %.17g", d, i, sos[i], ref);
        }
    }
}

Test(iir, gain_centre_edges_and_stability)
{
    const double fs = 160, lo = 8, hi = 35;
    double sos[4 * 6];
    size_t ns;
    cr_assert_eq(spx_iir_butter_bandpass(4, lo, hi, fs, sos, &ns), 0);
    cr_assert(spx_iir_is_stable(sos, ns));
    /* The bilinear transform maps the analog centre sqrt(wl wh) to this digital frequency. */
    double wl = tan(M_PI * lo / fs), wh = tan(M_PI * hi / fs);
    double fc = fs / M_PI * atan(sqrt(wl * wh));
    cr_assert(fabs(spx_iir_magnitude(sos, ns, fc, fs) - 1.0) < 1e-12);
    cr_assert(fabs(spx_iir_magnitude(sos, ns, lo, fs) - sqrt(0.5)) < 1e-12);
    cr_assert(fabs(spx_iir_magnitude(sos, ns, hi, fs) - sqrt(0.5)) < 1e-12);
    cr_assert(spx_iir_magnitude(sos, ns, 0.0, fs) < 1e-12);
    cr_assert(spx_iir_magnitude(sos, ns, fs / 2, fs) < 1e-12);
    cr_assert(spx_iir_magnitude(sos, ns, 2.0, fs) < 0.01);  /* order-4 roll-off */
    double big[SPX_IIR_MAX_ORDER * 6];
    for (int order = 1; order <= SPX_IIR_MAX_ORDER; order++) {
        cr_assert_eq(spx_iir_butter_bandpass(order, 0.5, 45, 250, big, &ns), 0);
        cr_assert_eq((int)ns, order);
        cr_assert(spx_iir_is_stable(big, ns), "order %d", order);
    }
    cr_assert_eq(spx_iir_butter_bandpass(8, 8, 35, 160, big, &ns), 0);
    cr_assert(spx_iir_is_stable(big, ns));
    cr_assert_eq(spx_iir_butter_bandpass(4, 35, 8, 160, sos, &ns), -EINVAL);
    cr_assert_eq(spx_iir_butter_bandpass(4, 8, 80, 160, sos, &ns), -EINVAL);
    cr_assert_eq(spx_iir_butter_bandpass(0, 8, 35, 160, sos, &ns), -EINVAL);
}

Test(iir, sosfilt_output_matches_scipy)
{
    double sos[4 * 6];
    size_t ns;
    cr_assert_eq(spx_iir_butter_bandpass(4, 8, 35, 160, sos, &ns), 0);
    spx_iir *f;
    cr_assert_eq(spx_iir_create(&f, sos, ns, 1), 0);
    double y[400];
    cr_assert_eq(spx_iir_process(f, ref_filt_in, y, 400), 0);
    for (size_t i = 0; i < 400; i++)
        cr_assert(fabs(y[i] - ref_filt_out[i]) < 1e-12, "sample %zu: %.17g vs %.17g", i, y[i],
                  ref_filt_out[i]);
    spx_iir_free(f);
}

Test(iir, chunked_equals_one_shot_bit_for_bit_and_channels_independent)
{
    enum { C = 5, T = 1000 };
    double sos[4 * 6];
    size_t ns;
    cr_assert_eq(spx_iir_butter_bandpass(4, 8, 35, 160, sos, &ns), 0);
    double *x = malloc(C * T * sizeof *x), *y1 = malloc(C * T * sizeof *y1),
           *y2 = malloc(C * T * sizeof *y2), *y3 = malloc(T * sizeof *y3), *x1 = malloc(T * sizeof *x1);
    spx_rng r;
    spx_rng_seed(&r, 11);
    spx_rng_normal_fill(&r, x, C * T);
    spx_iir *a, *b, *one;
    cr_assert_eq(spx_iir_create(&a, sos, ns, C), 0);
    cr_assert_eq(spx_iir_create(&b, sos, ns, C), 0);
    cr_assert_eq(spx_iir_process(a, x, y1, T), 0);
    /* Irregular chunks, in place. */
    memcpy(y2, x, C * T * sizeof *x);
    size_t t = 0, k = 1;
    while (t < T) {
        size_t len = (k * 7) % 23;
        if (len > T - t) len = T - t;
        cr_assert_eq(spx_iir_process(b, y2 + t * C, y2 + t * C, len), 0);
        t += len;
        k++;
    }
    cr_assert_eq(memcmp(y1, y2, C * T * sizeof *y1), 0);
    /* Channel 3 filtered alone gives the same numbers. */
    cr_assert_eq(spx_iir_create(&one, sos, ns, 1), 0);
    for (size_t i = 0; i < T; i++) x1[i] = x[i * C + 3];
    cr_assert_eq(spx_iir_process(one, x1, y3, T), 0);
    for (size_t i = 0; i < T; i++) cr_assert(y3[i] == y1[i * C + 3]);
    /* reset restarts from zero state */
    spx_iir_reset(a);
    cr_assert_eq(spx_iir_process(a, x, y2, T), 0);
    cr_assert_eq(memcmp(y1, y2, C * T * sizeof *y1), 0);
    spx_iir_free(a);
    spx_iir_free(b);
    spx_iir_free(one);
    free(x); free(y1); free(y2); free(y3); free(x1);
}

Test(iir, sinusoid_steady_state_amplitude)
{
    /* After the transient a pure tone comes out scaled by |H(f)|. */
    const double fs = 160;
    double sos[4 * 6];
    size_t ns;
    cr_assert_eq(spx_iir_butter_bandpass(4, 8, 35, fs, sos, &ns), 0);
    spx_iir *f;
    cr_assert_eq(spx_iir_create(&f, sos, ns, 2), 0);
    enum { T = 4000 };
    double *x = malloc(2 * T * sizeof *x);
    const double f0 = 5.0, f1 = 20.0;
    for (size_t i = 0; i < T; i++) {
        x[2 * i] = sin(2 * M_PI * f0 * i / fs);
        x[2 * i + 1] = sin(2 * M_PI * f1 * i / fs);
    }
    cr_assert_eq(spx_iir_process(f, x, x, T), 0);
    /* Amplitude from the mean square over whole periods (1920 samples = 60 and 240 periods). */
    double m0 = 0, m1 = 0;
    for (size_t i = T - 1920; i < T; i++) {
        m0 += x[2 * i] * x[2 * i];
        m1 += x[2 * i + 1] * x[2 * i + 1];
    }
    m0 = sqrt(2 * m0 / 1920);
    m1 = sqrt(2 * m1 / 1920);
    cr_assert(fabs(m0 - spx_iir_magnitude(sos, ns, f0, fs)) < 1e-6, "%g", m0);
    cr_assert(fabs(m1 - spx_iir_magnitude(sos, ns, f1, fs)) < 1e-6, "%g", m1);
    free(x);
    spx_iir_free(f);
}

Test(iir, rejects_bad_arguments)
{
    double sos[6] = {1, 0, 0, 0, 0, 0};
    spx_iir *f;
    cr_assert_eq(spx_iir_create(&f, sos, 1, 2), -EINVAL);
    sos[3] = 1;
    cr_assert_eq(spx_iir_create(&f, sos, 1, 0), -EINVAL);
    sos[4] = NAN;
    cr_assert_eq(spx_iir_create(&f, sos, 1, 2), -EINVAL);
}
