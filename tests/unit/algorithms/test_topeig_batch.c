/* Mini-batch Oja / AdaOja (params.batch > 1): the estimator against a direct implementation of the
 * batch rules, and its results independent of how the rows are split into calls and of whether
 * they arrive as f32 or f64. */
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"
#include "topeig.h"

static double *spike(size_t n, size_t d, double R, uint64_t seed)
{
    spx_rng rng;
    spx_rng_seed(&rng, seed);
    double *a = malloc(n * d * sizeof *a), *u = malloc(d * sizeof *u);
    cr_assert(a && u);
    spx_rng_normal_fill(&rng, u, d);
    double s = 0.0;
    for (size_t i = 0; i < d; i++)
        s += u[i] * u[i];
    for (size_t r = 0; r < n; r++) {
        double g0 = sqrt(R - 1.0) * spx_rng_normal(&rng);
        for (size_t i = 0; i < d; i++)
            a[r * d + i] = g0 * u[i] / sqrt(s) + spx_rng_normal(&rng);
    }
    free(u);
    return a;
}

static spx_topeig *make(spx_topeig_method m, size_t d, size_t batch)
{
    spx_topeig_params p;
    spx_topeig_params_default(&p, d);
    p.method = m;
    p.batch = batch;
    p.t0 = 20.0;
    p.order_block = 16;
    spx_topeig *t = NULL;
    cr_assert_eq(spx_topeig_create(&t, &p), 0);
    return t;
}

/* Feeds rows in calls of the sizes in `chunks` (cycled); f32 when a32 is given. */
static void feed(spx_topeig *t, const double *a64, const float *a32, size_t n, size_t d,
                 const size_t *chunks, size_t n_chunks)
{
    for (size_t r = 0, c = 0; r < n; c++) {
        size_t m = chunks[c % n_chunks];
        if (m > n - r)
            m = n - r;
        int rc = a32 ? spx_topeig_update_f32(t, a32 + r * d, m) : spx_topeig_update_f64(t, a64 + r * d, m);
        cr_assert_eq(rc, 0);
        r += m;
    }
}

static double dot(const double *a, const double *b, size_t d)
{
    double s = 0.0;
    for (size_t i = 0; i < d; i++)
        s += a[i] * b[i];
    return s;
}

/* The batch rules written out directly, on a unit v (topeig_oja.c keeps w unnormalised and
 * fuses passes): after every complete batch of B rows,
 *   AdaOja: G = (1/B) sum <x, v> x, b^2 += ||G||^2, v <- normalize(v + G / b);
 *   Oja:    v <- normalize(v + sum eta_t <x, v> x), eta_t = eta0 / (m_t (1 + t / t0)),
 *           t the row's number (from 1), m_t = mean ||x||^2 of rows 1..t.
 * Returns the mean of <x, v_batch start>^2 over all rows (the eigenvalue estimate). */
static double reference(spx_topeig_method m, const double *a, size_t n, size_t d, size_t B,
                        double *v)
{
    double *g = calloc(d, sizeof *g);
    cr_assert(g);
    double b2 = 1e-5 * 1e-5, fro2 = 0.0, y2 = 0.0;
    for (size_t r = 0; r < n; r++) {
        const double *x = a + r * d;
        double y = dot(x, v, d);
        y2 += y * y;
        fro2 += dot(x, x, d);
        double t = (double)(r + 1);
        double coef = m == SPX_TOPEIG_ADAOJA ? y / (double)B : 1.0 / (fro2 / t * (1.0 + t / 20.0)) * y;
        for (size_t i = 0; i < d; i++)
            g[i] += coef * x[i];
        if ((r + 1) % B)
            continue;
        double step = 1.0;
        if (m == SPX_TOPEIG_ADAOJA) {
            b2 += dot(g, g, d);
            step = 1.0 / sqrt(b2);
        }
        for (size_t i = 0; i < d; i++)
            v[i] += step * g[i];
        double nv = sqrt(dot(v, v, d));
        for (size_t i = 0; i < d; i++) {
            v[i] /= nv;
            g[i] = 0.0;
        }
    }
    free(g);
    return y2 / (double)n;
}

Test(topeig_batch, follows_the_batch_rules)
{
    const size_t d = 13, n = 2003; /* d: a partial group of 8; n: a partial last batch */
    double *a = spike(n, d, 6.0, 3);
    const size_t batches[] = {2, 5, 8, 64};
    const spx_topeig_method methods[] = {SPX_TOPEIG_ADAOJA, SPX_TOPEIG_OJA};
    const size_t chunks[] = {7, 1, 30};
    for (size_t mi = 0; mi < 2; mi++)
        for (size_t bi = 0; bi < 4; bi++) {
            spx_topeig *t = make(methods[mi], d, batches[bi]);
            spx_topeig_result res;
            spx_topeig_result_get(t, &res); /* the start vector, before any row */
            double v[13];
            memcpy(v, res.vector, sizeof v);
            double ev_ref = reference(methods[mi], a, n, d, batches[bi], v);
            feed(t, a, NULL, n, d, chunks, 3);
            spx_topeig_result_get(t, &res);
            double c = dot(v, res.vector, d);
            cr_expect_geq(c * c, 1.0 - 1e-12, "%s batch %zu: <v, v_ref>^2 = %.15f",
                          spx_topeig_method_name(methods[mi]), batches[bi], c * c);
            cr_expect_leq(fabs(res.eigenvalues[0] - ev_ref), 1e-10 * ev_ref, "%s batch %zu: %g vs %g",
                          spx_topeig_method_name(methods[mi]), batches[bi], res.eigenvalues[0], ev_ref);
            cr_expect_eq(res.rows_seen, n);
            spx_topeig_free(t);
        }
    free(a);
}

/* Same bits whatever the call sizes (the four-row and single-row paths agree bit for bit), and for
 * f32 rows the same bits as for the same values as f64 (the widening is exact and both kernel sets
 * do the same sums). d = 100 as in the benchmark, d = 21 with a partial group. */
Test(topeig_batch, bits_independent_of_call_sizes_and_row_type)
{
    const size_t dims[] = {100, 21}, n = 3001;
    const size_t splits[][4] = {{n, n, n, n}, {1, 1, 1, 1}, {3, 5, 2, 1}, {64, 7, 4, 1000}};
    for (size_t di = 0; di < 2; di++) {
        const size_t d = dims[di];
        double *a = spike(n, d, 4.0, 9 + di);
        float *a32 = malloc(n * d * sizeof *a32);
        cr_assert(a32);
        for (size_t i = 0; i < n * d; i++) {
            a32[i] = (float)a[i];
            a[i] = a32[i];
        }
        for (int m = 0; m < 2; m++)
            for (size_t b = 4; b <= 16; b += 6) { /* 4, 10, 16 */
                double ref[100], ev_ref = 0.0;
                for (size_t si = 0; si < 4; si++)
                    for (int f32 = 0; f32 < 2; f32++) {
                        spx_topeig *t = make(m ? SPX_TOPEIG_OJA : SPX_TOPEIG_ADAOJA, d, b);
                        feed(t, a, f32 ? a32 : NULL, n, d, splits[si], 4);
                        spx_topeig_result res;
                        spx_topeig_result_get(t, &res);
                        if (si == 0 && f32 == 0) {
                            memcpy(ref, res.vector, d * sizeof *ref);
                            ev_ref = res.eigenvalues[0];
                        } else {
                            cr_expect_eq(memcmp(ref, res.vector, d * sizeof *ref), 0,
                                         "d %zu method %d batch %zu split %zu f32 %d", d, m, b, si, f32);
                            cr_expect_eq(res.eigenvalues[0], ev_ref);
                        }
                        spx_topeig_free(t);
                    }
            }
        free(a);
        free(a32);
    }
}

Test(topeig_batch, params)
{
    spx_topeig_params p;
    spx_topeig_params_default(&p, 10);
    cr_expect_eq(p.batch, 1);
    cr_expect_null(spx_topeig_params_problem(&p));
    spx_topeig *t = NULL;
    p.batch = 0;
    cr_expect_eq(spx_topeig_create(&t, &p), -EINVAL);
    cr_expect_str_eq(spx_topeig_params_problem(&p), "batch must be in [1, 65536]");
    p.batch = SPX_TOPEIG_BATCH_MAX + 1;
    cr_expect_eq(spx_topeig_create(&t, &p), -EINVAL);
    p.batch = 8;
    p.method = SPX_TOPEIG_POWER; /* mini-batches are an Oja setting */
    cr_expect_eq(spx_topeig_create(&t, &p), -EINVAL);
    p.method = SPX_TOPEIG_OJA;
    cr_assert_eq(spx_topeig_create(&t, &p), 0);
    spx_topeig_free(t);
}
