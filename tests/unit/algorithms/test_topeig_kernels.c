/* Oja's per-row kernels: the AVX-512 set returns the same bits as the portable set (so results do
 * not depend on the machine), and both agree with a plain long double computation. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"
#include "topeig_internal.h"

/* Every remainder mod 8 (the partial last group), and the sizes the benchmarks use. */
static const size_t dims[] = {1, 2, 3, 5, 6, 7, 8, 11, 13, 14, 15, 16, 100, 257, 1000};

typedef struct kernel_outputs {
    double ret[4], xr[4], xx[4];
    double *w2, *w3; /* w after the two axpy_dot kernels */
} kernel_outputs;

/* Runs the four f32 kernels of set k on the same inputs (w copied for the updating ones). */
static void run_f32(const spx_topeig_oja_kernels *k, const float *x, const float *xp,
                    const double *w, const double *r, size_t d, double c, kernel_outputs *o)
{
    o->ret[0] = k->dot_norm_f32(x, w, d, &o->xx[0]);
    o->ret[1] = k->dot2_norm_f32(x, w, r, d, &o->xr[1], &o->xx[1]);
    memcpy(o->w2, w, d * sizeof *w);
    o->ret[2] = k->axpy_dot_norm_f32(o->w2, c, xp, x, d, &o->xx[2]);
    memcpy(o->w3, w, d * sizeof *w);
    o->ret[3] = k->axpy_dot2_norm_f32(o->w3, c, xp, x, r, d, &o->xr[3], &o->xx[3]);
    o->xr[0] = o->xr[1];
    o->xr[2] = o->xr[3];
}

static void fill(spx_rng *rng, size_t d, float *x, float *xp, double *w, double *r)
{
    for (size_t i = 0; i < d; i++) {
        x[i] = (float)(spx_rng_uniform(rng) - 0.5);
        xp[i] = (float)(spx_rng_uniform(rng) - 0.5);
        w[i] = spx_rng_uniform(rng) - 0.5;
        r[i] = spx_rng_uniform(rng) - 0.5;
    }
}

Test(topeig_kernels, portable_f32_kernels_match_long_double)
{
    spx_rng rng;
    spx_rng_seed(&rng, 11);
    const spx_topeig_oja_kernels *k = spx_topeig_oja_kernels_get(0);
    for (size_t di = 0; di < sizeof dims / sizeof dims[0]; di++) {
        size_t d = dims[di];
        float *x = malloc(d * sizeof *x), *xp = malloc(d * sizeof *xp);
        double *w = malloc(d * sizeof *w), *r = malloc(d * sizeof *r);
        kernel_outputs o = {.w2 = malloc(d * sizeof(double)), .w3 = malloc(d * sizeof(double))};
        cr_assert(x && xp && w && r && o.w2 && o.w3);
        fill(&rng, d, x, xp, w, r);
        const double c = 0.37;
        run_f32(k, x, xp, w, r, d, c, &o);
        long double s = 0, su = 0, xr = 0, q = 0;
        for (size_t i = 0; i < d; i++) {
            double wi = w[i] + c * (double)xp[i];
            cr_assert_eq(o.w2[i], wi, "d %zu: w[%zu]", d, i);
            s += (long double)x[i] * w[i];
            su += (long double)x[i] * wi;
            xr += (long double)x[i] * r[i];
            q += (long double)x[i] * x[i];
        }
        double tol = 1e-13 * (double)d;
        cr_expect(fabs(o.ret[0] - (double)s) <= tol, "d %zu", d);
        cr_expect(fabs(o.ret[1] - (double)s) <= tol, "d %zu", d);
        cr_expect(fabs(o.ret[2] - (double)su) <= tol, "d %zu", d);
        cr_expect(fabs(o.ret[3] - (double)su) <= tol, "d %zu", d);
        cr_expect(fabs(o.xr[1] - (double)xr) <= tol, "d %zu", d);
        cr_expect(fabs(o.xr[3] - (double)xr) <= tol, "d %zu", d);
        for (int j = 0; j < 4; j++)
            cr_expect(fabs(o.xx[j] - (double)q) <= tol, "d %zu kernel %d", d, j);
        free(x), free(xp), free(w), free(r), free(o.w2), free(o.w3);
    }
}

Test(topeig_kernels, avx512_f32_kernels_give_the_portable_bits)
{
    const spx_topeig_oja_kernels *port = spx_topeig_oja_kernels_get(0);
    const spx_topeig_oja_kernels *fast = spx_topeig_oja_kernels_get(1);
    if (fast == port)
        cr_skip_test("no AVX-512 on this CPU: only the portable kernels exist here");
    spx_rng rng;
    spx_rng_seed(&rng, 12);
    for (size_t di = 0; di < sizeof dims / sizeof dims[0]; di++) {
        size_t d = dims[di];
        /* Rows at odd float offsets: the 8-lane loads must not assume alignment. */
        float *xbuf = malloc((d + 1) * sizeof *xbuf), *xp = malloc(d * sizeof *xp);
        double *w = malloc(d * sizeof *w), *r = malloc(d * sizeof *r);
        kernel_outputs a = {.w2 = malloc(d * sizeof(double)), .w3 = malloc(d * sizeof(double))};
        kernel_outputs b = {.w2 = malloc(d * sizeof(double)), .w3 = malloc(d * sizeof(double))};
        cr_assert(xbuf && xp && w && r && a.w2 && a.w3 && b.w2 && b.w3);
        float *x = xbuf + 1;
        fill(&rng, d, x, xp, w, r);
        run_f32(port, x, xp, w, r, d, -1.7, &a);
        run_f32(fast, x, xp, w, r, d, -1.7, &b);
        cr_expect(memcmp(a.ret, b.ret, sizeof a.ret) == 0, "d %zu: <x, w> differs", d);
        cr_expect(memcmp(a.xr, b.xr, sizeof a.xr) == 0, "d %zu: <x, r> differs", d);
        cr_expect(memcmp(a.xx, b.xx, sizeof a.xx) == 0, "d %zu: ||x||^2 differs", d);
        cr_expect(memcmp(a.w2, b.w2, d * sizeof(double)) == 0, "d %zu: updated w differs", d);
        cr_expect(memcmp(a.w3, b.w3, d * sizeof(double)) == 0, "d %zu: updated w differs", d);
        free(xbuf), free(xp), free(w), free(r), free(a.w2), free(a.w3), free(b.w2), free(b.w3);
    }
}

/* The mini-batch kernels give exactly the single-row kernels' bits, in both sets: dots4 = dot2_norm
 * on row 0 and dot_norm on rows 1-3; axpy4 = four axpys in order. */
Test(topeig_kernels, four_row_kernels_give_the_single_row_bits)
{
    const spx_topeig_oja_kernels *sets[] = {spx_topeig_oja_kernels_get(0), spx_topeig_oja_kernels_get(1)};
    spx_rng rng;
    spx_rng_seed(&rng, 13);
    for (size_t di = 0; di < sizeof dims / sizeof dims[0]; di++) {
        size_t d = dims[di];
        float *x32 = malloc((4 * d + 1) * sizeof *x32);
        double *x64 = malloc(4 * d * sizeof *x64), *w = malloc(d * sizeof *w), *r = malloc(d * sizeof *r);
        double *h1 = malloc(d * sizeof *h1), *h2 = malloc(d * sizeof *h2);
        double *wide = aligned_alloc(64, 4 * SPX_TOPEIG_WIDE_STRIDE(d) * sizeof *wide);
        cr_assert(x32 && x64 && w && r && h1 && h2 && wide);
        float *x = x32 + 1; /* rows at an odd float offset */
        for (size_t i = 0; i < 4 * d; i++)
            x64[i] = x[i] = (float)(spx_rng_uniform(&rng) - 0.5);
        for (size_t i = 0; i < d; i++) {
            w[i] = spx_rng_uniform(&rng) - 0.5;
            r[i] = spx_rng_uniform(&rng) - 0.5;
        }
        const double c[4] = {0.3, -1.25, 2.0 / 3.0, 1e-3};
        for (size_t s = 0; s < 2; s++) {
            const spx_topeig_oja_kernels *k = sets[s];
            double y[4], xx[4], xr, y64[4], xx64[4], xr64, want_xx, want_xr;
            k->dots4_f32(x, w, r, d, y, xx, &xr, wide);
            k->dots4_f64(x64, w, r, d, y64, xx64, &xr64);
            double want = sets[0]->dot2_norm_f32(x, w, r, d, &want_xr, &want_xx);
            cr_expect(y[0] == want && xx[0] == want_xx && xr == want_xr, "set %zu d %zu row 0", s, d);
            for (size_t j = 1; j < 4; j++) {
                want = sets[0]->dot_norm_f32(x + j * d, w, d, &want_xx);
                cr_expect(y[j] == want && xx[j] == want_xx, "set %zu d %zu row %zu", s, d, j);
            }
            /* f64 rows holding the same values: the same bits as the f32 rows. */
            cr_expect(memcmp(y, y64, sizeof y) == 0 && memcmp(xx, xx64, sizeof xx) == 0 && xr == xr64,
                      "set %zu d %zu: f64 rows differ", s, d);
            for (size_t i = 0; i < d; i++)
                h1[i] = h2[i] = w[i];
            k->axpy4_f32(h1, c, x, wide, d);
            for (size_t j = 0; j < 4; j++)
                spx_topeig_axpy_f32(h2, c[j], x + j * d, d);
            cr_expect(memcmp(h1, h2, d * sizeof *h1) == 0, "set %zu d %zu: axpy4_f32", s, d);
            /* Without the widened copy (large d): the same. */
            double y2[4], xx2[4], xr2;
            k->dots4_f32(x, w, r, d, y2, xx2, &xr2, NULL);
            cr_expect(memcmp(y, y2, sizeof y) == 0 && memcmp(xx, xx2, sizeof xx) == 0 && xr == xr2,
                      "set %zu d %zu: dots4_f32 without wide", s, d);
            for (size_t i = 0; i < d; i++)
                h1[i] = w[i];
            k->axpy4_f32(h1, c, x, NULL, d);
            cr_expect(memcmp(h1, h2, d * sizeof *h1) == 0, "set %zu d %zu: axpy4_f32 without wide",
                      s, d);
            for (size_t i = 0; i < d; i++)
                h1[i] = w[i];
            k->axpy4_f64(h1, c, x64, d);
            cr_expect(memcmp(h1, h2, d * sizeof *h1) == 0, "set %zu d %zu: axpy4_f64", s, d);
        }
        free(x32), free(x64), free(w), free(r), free(h1), free(h2), free(wide);
    }
}

/* spx_topeig_apply_batch: w += a h element by element, h zeroed, ||w||^2 as dot_norm sums it. */
Test(topeig_kernels, apply_batch)
{
    spx_rng rng;
    spx_rng_seed(&rng, 14);
    for (size_t di = 0; di < sizeof dims / sizeof dims[0]; di++) {
        size_t d = dims[di];
        double *w = malloc(d * sizeof *w), *h = malloc(d * sizeof *h), *want = malloc(d * sizeof *want);
        cr_assert(w && h && want);
        for (size_t i = 0; i < d; i++) {
            w[i] = spx_rng_uniform(&rng) - 0.5;
            h[i] = spx_rng_uniform(&rng) - 0.5;
            want[i] = w[i];
        }
        spx_topeig_axpy_f64(want, 0.7, h, d);
        double s = spx_topeig_apply_batch(w, 0.7, h, d), want_s;
        spx_topeig_dot_norm_f64(want, want, d, &want_s);
        cr_expect(memcmp(w, want, d * sizeof *w) == 0, "d %zu: w", d);
        cr_expect(s == want_s, "d %zu: ||w||^2", d);
        for (size_t i = 0; i < d; i++)
            cr_expect(h[i] == 0.0, "d %zu: h[%zu] not zeroed", d, i);
        free(w), free(h), free(want);
    }
}
