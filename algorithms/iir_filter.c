#include "iir_filter.h"

#include <complex.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

struct spx_iir {
    size_t channels, n_sections;
    double *coef;   /* n_sections x 5: b0 b1 b2 a1 a2 */
    double *state;  /* n_sections x 2 x channels */
};

/* A pole/zero as SciPy's _cplxreal leaves it: one representative per conjugate pair
 * (imag > 0), real values with imag exactly 0. */
static int is_real(double complex z) { return cimag(z) == 0.0; }

static size_t idx_worst(const double complex *p, size_t n)
{
    size_t best = 0;
    double bd = INFINITY;
    for (size_t i = 0; i < n; i++) {
        double d = fabs(1.0 - cabs(p[i]));
        if (d < bd) {
            bd = d;
            best = i;
        }
    }
    return best;
}

static size_t nearest(const double complex *z, size_t n, double complex to, int real_only)
{
    size_t best = n;
    double bd = INFINITY;
    for (size_t i = 0; i < n; i++) {
        if (real_only && !is_real(z[i]))
            continue;
        double d = cabs(z[i] - to);
        if (d < bd) {
            bd = d;
            best = i;
        }
    }
    return best;
}

static void remove_at(double complex *a, size_t *n, size_t i)
{
    for (size_t k = i + 1; k < *n; k++)
        a[k - 1] = a[k];
    (*n)--;
}

int spx_iir_butter_bandpass(int order, double lo_hz, double hi_hz, double fs, double *sos,
                            size_t *n_sections)
{
    if (order < 1 || order > SPX_IIR_MAX_ORDER || !sos || !n_sections || !(fs > 0) ||
        !(lo_hz > 0) || !(hi_hz > lo_hz) || !(hi_hz < fs / 2))
        return -EINVAL;
    const int n = order;
    /* Pre-warped edges with SciPy's internal fs = 2 (so 2 * fs = 4). */
    const double fs2 = 4.0;
    double wl = fs2 * tan(M_PI * lo_hz / fs), wh = fs2 * tan(M_PI * hi_hz / fs);
    double bw = wh - wl, wo = sqrt(wl * wh);

    double complex p[2 * SPX_IIR_MAX_ORDER];
    size_t np_all = 0;
    double complex denom = 1.0;
    for (int m = -n + 1; m < n; m += 2) {
        double complex proto = -cexp(I * M_PI * m / (2.0 * n));
        double complex plp = proto * bw / 2.0;
        double complex root = csqrt(plp * plp - wo * wo);
        double complex pa[2] = {plp + root, plp - root};
        for (int k = 0; k < 2; k++) {
            denom *= fs2 - pa[k];
            p[np_all++] = (fs2 + pa[k]) / (fs2 - pa[k]);
        }
    }
    /* Keep one pole per conjugate pair; snap the (near-)real ones to the real axis as SciPy's
     * _cplxreal does (tolerance 100 eps |z|). */
    double complex poles[2 * SPX_IIR_MAX_ORDER];
    size_t npl = 0;
    for (size_t i = 0; i < np_all; i++) {
        if (fabs(cimag(p[i])) <= 100 * DBL_EPSILON * cabs(p[i]))
            poles[npl++] = creal(p[i]);
        else if (cimag(p[i]) > 0)
            poles[npl++] = p[i];
    }
    /* Zeros: n at z = -1 (from the relative degree) and n at z = +1 (the analog zeros at 0). */
    double complex zeros[2 * SPX_IIR_MAX_ORDER];
    size_t nz = 0;
    for (int i = 0; i < n; i++) zeros[nz++] = -1.0;
    for (int i = 0; i < n; i++) zeros[nz++] = 1.0;
    double gain = creal(pow(bw, n) * pow(fs2, n) / denom);

    size_t ns = (size_t)n;
    for (size_t si = ns; si-- > 0;) {
        size_t i1 = idx_worst(poles, npl);
        double complex p1 = poles[i1], p2;
        remove_at(poles, &npl, i1);
        if (is_real(p1)) {
            /* Band-pass real poles come in pairs: pair with the next worst real pole. */
            size_t best = npl;
            double bd = INFINITY;
            for (size_t i = 0; i < npl; i++)
                if (is_real(poles[i]) && fabs(1.0 - cabs(poles[i])) < bd) {
                    bd = fabs(1.0 - cabs(poles[i]));
                    best = i;
                }
            if (best == npl)
                return -EINVAL; /* cannot happen for a Butterworth band-pass */
            p2 = poles[best];
            remove_at(poles, &npl, best);
        } else {
            p2 = conj(p1);
        }
        size_t j1 = nearest(zeros, nz, p1, 0);
        double complex z1 = zeros[j1];
        remove_at(zeros, &nz, j1);
        size_t j2 = nearest(zeros, nz, p1, 1);
        double complex z2 = zeros[j2];
        remove_at(zeros, &nz, j2);
        double *row = sos + si * 6;
        row[0] = 1.0;
        row[1] = -creal(z1 + z2);
        row[2] = creal(z1 * z2);
        row[3] = 1.0;
        row[4] = -creal(p1 + p2);
        row[5] = creal(p1 * p2);
    }
    for (int k = 0; k < 3; k++)
        sos[k] *= gain;
    *n_sections = ns;
    return 0;
}

double spx_iir_magnitude(const double *sos, size_t n_sections, double f_hz, double fs)
{
    double complex zi = cexp(-I * 2.0 * M_PI * f_hz / fs); /* z^-1 */
    double complex h = 1.0;
    for (size_t s = 0; s < n_sections; s++) {
        const double *r = sos + 6 * s;
        h *= (r[0] + r[1] * zi + r[2] * zi * zi) / (r[3] + r[4] * zi + r[5] * zi * zi);
    }
    return cabs(h);
}

int spx_iir_is_stable(const double *sos, size_t n_sections)
{
    for (size_t s = 0; s < n_sections; s++) {
        const double *r = sos + 6 * s;
        if (r[3] == 0)
            return 0;
        double a1 = r[4] / r[3], a2 = r[5] / r[3];
        /* Stability triangle of z^2 + a1 z + a2. */
        if (!(fabs(a2) < 1.0 && fabs(a1) < 1.0 + a2))
            return 0;
    }
    return 1;
}

int spx_iir_create(spx_iir **out, const double *sos, size_t n_sections, size_t channels)
{
    if (!out || !sos || n_sections == 0 || n_sections > 64 || channels == 0 || channels > 1u << 20)
        return -EINVAL;
    *out = NULL;
    for (size_t s = 0; s < n_sections; s++) {
        for (int k = 0; k < 6; k++)
            if (!isfinite(sos[6 * s + k]))
                return -EINVAL;
        if (sos[6 * s + 3] == 0)
            return -EINVAL;
    }
    spx_iir *f = calloc(1, sizeof *f);
    if (!f)
        return -ENOMEM;
    f->channels = channels;
    f->n_sections = n_sections;
    f->coef = malloc(n_sections * 5 * sizeof *f->coef);
    f->state = calloc(n_sections * 2 * channels, sizeof *f->state);
    if (!f->coef || !f->state) {
        spx_iir_free(f);
        return -ENOMEM;
    }
    for (size_t s = 0; s < n_sections; s++) {
        const double *r = sos + 6 * s;
        double a0 = r[3];
        double *c = f->coef + 5 * s;
        c[0] = r[0] / a0;
        c[1] = r[1] / a0;
        c[2] = r[2] / a0;
        c[3] = r[4] / a0;
        c[4] = r[5] / a0;
    }
    *out = f;
    return 0;
}

void spx_iir_free(spx_iir *f)
{
    if (!f)
        return;
    free(f->coef);
    free(f->state);
    free(f);
}

void spx_iir_reset(spx_iir *f)
{
    if (f)
        memset(f->state, 0, f->n_sections * 2 * f->channels * sizeof *f->state);
}

size_t spx_iir_channels(const spx_iir *f) { return f ? f->channels : 0; }

int spx_iir_process(spx_iir *f, const double *in, double *out, size_t n)
{
    if (!f || (n > 0 && (!in || !out)))
        return -EINVAL;
    const size_t C = f->channels;
    for (size_t t = 0; t < n; t++) {
        double *y = out + t * C;
        if (y != in + t * C)
            memcpy(y, in + t * C, C * sizeof *y);
        for (size_t s = 0; s < f->n_sections; s++) {
            const double *c = f->coef + 5 * s;
            const double b0 = c[0], b1 = c[1], b2 = c[2], a1 = c[3], a2 = c[4];
            double *restrict z1 = f->state + 2 * s * C;
            double *restrict z2 = z1 + C;
            for (size_t ch = 0; ch < C; ch++) {
                double x = y[ch];
                double v = b0 * x + z1[ch];
                z1[ch] = b1 * x - a1 * v + z2[ch];
                z2[ch] = b2 * x - a2 * v;
                y[ch] = v;
            }
        }
    }
    return 0;
}

size_t spx_iir_state_size(const spx_iir *f) { return f ? f->n_sections * 2 * f->channels : 0; }

void spx_iir_state_get(const spx_iir *f, double *state)
{
    memcpy(state, f->state, spx_iir_state_size(f) * sizeof *state);
}

int spx_iir_state_set(spx_iir *f, const double *state)
{
    if (!f || !state)
        return -EINVAL;
    size_t n = spx_iir_state_size(f);
    for (size_t i = 0; i < n; i++)
        if (!isfinite(state[i]))
            return -EINVAL;
    memcpy(f->state, state, n * sizeof *state);
    return 0;
}
