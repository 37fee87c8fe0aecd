/* The streaming forecaster: warm-up buffering and fit, the per-sample step (update with the window
 * whose horizon just completed, then forecast), baselines. See forecast.h. */
#include "forecast.h"

#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "forecast_internal.h"

/* RevIN's variance floor (on standardised data a window this flat carries no shape). */
#define REVIN_EPS 1e-5
/* Warm-up chunks are capped to about this many doubles of features + targets. */
#define CHUNK_DOUBLES ((size_t)1 << 20)


/* ---- names ---- */

static const char *const method_names[] = {"ortho", "rls_raw", "last", "seasonal"};
static const char *const norm_names[] = {"none", "last", "mean"};
static const char *const cross_names[] = {"off", "var", "normlin"};

const char *spx_forecast_method_name(spx_forecast_method m)
{
    return (unsigned)m < 4 ? method_names[m] : "?";
}
const char *spx_forecast_norm_name(spx_forecast_norm n)
{
    return (unsigned)n < 3 ? norm_names[n] : "?";
}
const char *spx_forecast_cross_name(spx_forecast_cross c)
{
    return (unsigned)c < 3 ? cross_names[c] : "?";
}

static int parse_name(const char *s, const char *const *names, int n)
{
    if (!s)
        return -1;
    for (int i = 0; i < n; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

int spx_forecast_method_parse(const char *s, spx_forecast_method *out)
{
    int i = parse_name(s, method_names, 4);
    if (i < 0)
        return -EINVAL;
    *out = (spx_forecast_method)i;
    return 0;
}
int spx_forecast_norm_parse(const char *s, spx_forecast_norm *out)
{
    int i = parse_name(s, norm_names, 3);
    if (i < 0)
        return -EINVAL;
    *out = (spx_forecast_norm)i;
    return 0;
}
int spx_forecast_cross_parse(const char *s, spx_forecast_cross *out)
{
    int i = parse_name(s, cross_names, 3);
    if (i < 0)
        return -EINVAL;
    *out = (spx_forecast_cross)i;
    return 0;
}

/* ---- params ---- */

void spx_forecast_params_default(spx_forecast_params *p, size_t channels)
{
    memset(p, 0, sizeof *p);
    p->channels = channels;
    p->lookback = 96;
    p->horizon = 96;
    p->method = SPX_FORECAST_ORTHO;
    p->rank = 32;
    p->norm = SPX_FORECAST_NORM_LAST;
    p->scale = 0;
    p->forget = 0.9995;
    p->ridge = 1.0;
    p->learn = 1;
    p->warmup = 0; /* resolved in check/create: max(8 (L + H), 1000) */
    p->standardize = 1;
    p->cross = SPX_FORECAST_CROSS_OFF;
    p->cross_lags = 4;
    p->cross_forget = 1.0;
    p->cross_ridge = 1.0;
    p->cross_temp = 0.25;
    p->season = 24;
    p->every = 1;
    p->q_refresh = 0;
    p->q_stride = 8;
    p->resym_every = 64;
    p->score_from = 0;
    p->metrics = 1;
}

static size_t default_warmup(const spx_forecast_params *p)
{
    size_t w = 8 * (p->lookback + p->horizon);
    return w < 1000 ? 1000 : w;
}

static size_t min_warmup(const spx_forecast_params *p)
{
    size_t w = p->lookback + p->horizon + 1;
    if (p->method == SPX_FORECAST_SEASONAL && p->season + 1 > w)
        w = p->season + 1;
    return w;
}

#define FAIL(...)                                                                                  \
    do {                                                                                           \
        if (err && errlen)                                                                         \
            snprintf(err, errlen, __VA_ARGS__);                                                    \
        return -EINVAL;                                                                            \
    } while (0)

int spx_forecast_params_check(const spx_forecast_params *p, char *err, size_t errlen)
{
    if (!p)
        FAIL("no parameters");
    if (p->channels < 1 || p->channels > 4096)
        FAIL("channels must be in [1, 4096], got %zu", p->channels);
    if (p->lookback < 2 || p->lookback > 4096)
        FAIL("lookback must be in [2, 4096], got %zu", p->lookback);
    if (p->horizon < 1 || p->horizon > 4096)
        FAIL("horizon must be in [1, 4096], got %zu", p->horizon);
    if ((unsigned)p->method > SPX_FORECAST_SEASONAL)
        FAIL("unknown method");
    if ((unsigned)p->norm > SPX_FORECAST_NORM_MEAN)
        FAIL("unknown norm");
    if ((unsigned)p->cross > SPX_FORECAST_CROSS_NORMLIN)
        FAIL("unknown cross");
    if (p->rank > 4096)
        FAIL("rank must be in [0, 4096], got %zu", p->rank);
    if (!(p->forget > 0.0 && p->forget <= 1.0))
        FAIL("forget must be in (0, 1], got %g", p->forget);
    if (!(p->ridge > 0.0) || !isfinite(p->ridge))
        FAIL("ridge must be > 0, got %g", p->ridge);
    if (p->season < 1 || p->season > 1000000)
        FAIL("season must be in [1, 1000000], got %zu", p->season);
    if (p->every < 1)
        FAIL("every must be >= 1");
    if (p->q_stride < 1)
        FAIL("q_stride must be >= 1");
    if (p->resym_every < 1 || p->resym_every > 1000000)
        FAIL("resym_every must be in [1, 1000000], got %zu", p->resym_every);
    const size_t w = p->warmup ? p->warmup : default_warmup(p);
    if (w < min_warmup(p))
        FAIL("warmup must be >= %zu (lookback + horizon + 1%s), got %zu", min_warmup(p),
             p->method == SPX_FORECAST_SEASONAL ? ", season + 1" : "", w);
    if (w > 100000000 || w * p->channels > ((size_t)1 << 31))
        FAIL("warmup x channels too large (%zu x %zu)", w, p->channels);
    if (p->cross != SPX_FORECAST_CROSS_OFF && p->method != SPX_FORECAST_ORTHO)
        FAIL("cross stages need method ortho");
    if (p->cross == SPX_FORECAST_CROSS_VAR) {
        if (p->cross_lags < 1 || p->cross_lags > p->lookback)
            FAIL("cross_lags must be in [1, lookback], got %zu", p->cross_lags);
        if (!(p->cross_forget > 0.0 && p->cross_forget <= 1.0))
            FAIL("cross_forget must be in (0, 1], got %g", p->cross_forget);
        if (!(p->cross_ridge > 0.0) || !isfinite(p->cross_ridge))
            FAIL("cross_ridge must be > 0, got %g", p->cross_ridge);
    }
    if (p->cross == SPX_FORECAST_CROSS_NORMLIN && (!(p->cross_temp > 0.0) || !isfinite(p->cross_temp)))
        FAIL("cross_temp must be > 0, got %g", p->cross_temp);
    if (p->q_refresh && p->method != SPX_FORECAST_ORTHO)
        FAIL("q_refresh needs method ortho");
    return 0;
}

/* ---- create / free ---- */

void spx_forecast_free(spx_forecast *f)
{
    if (!f)
        return;
    free(f->warm);
    free(f->mu);
    free(f->sigma);
    free(f->chan_scale);
    free(f->ring);
    spx_forecast_ortho_free(&f->ortho);
    free(f->q_old);
    free(f->rot);
    free(f->mix);
    free(f->zc);
    free(f->shift);
    free(f->scl);
    free(f->uc);
    free(f->ztag);
    spx_forecast_rls_free(&f->rls);
    spx_forecast_rls_free(&f->crls);
    free(f->zraw);
    free(f->yt);
    free(f->yh);
    free(f->res);
    free(f->zs);
    free(f->conv);
    free(f->fc);
    free(f->fz);
    spx_forecast_eval_free(&f->eval);
    free(f->mse_step);
    free(f->mae_step);
    free(f);
}

int spx_forecast_create(spx_forecast **out, const spx_forecast_params *pin, char *err, size_t errlen)
{
    if (!out)
        FAIL("no output pointer");
    *out = NULL;
    int rc = spx_forecast_params_check(pin, err, errlen);
    if (rc)
        return rc;
    spx_forecast *f = calloc(1, sizeof *f);
    if (!f)
        return -ENOMEM;
    f->p = *pin;
    spx_forecast_params *p = &f->p;
    if (!p->warmup)
        p->warmup = default_warmup(p);
    f->nc = p->channels;
    f->nl = p->lookback;
    f->nh = p->horizon;
    const size_t nc = f->nc, nl = f->nl, nh = f->nh;
    f->uses_rls = p->method == SPX_FORECAST_ORTHO || p->method == SPX_FORECAST_RLS_RAW;
    if (p->method == SPX_FORECAST_ORTHO)
        f->r = (p->rank && p->rank < nl) ? p->rank : nl;
    else if (p->method == SPX_FORECAST_RLS_RAW)
        f->r = nl;
    if (p->method == SPX_FORECAST_RLS_RAW) {
        /* plain RLS on raw windows: no window normalisation, no cross stage */
        p->norm = SPX_FORECAST_NORM_NONE;
        p->scale = 0;
    }
    f->k = p->cross == SPX_FORECAST_CROSS_NORMLIN ? 2 * f->r : f->r;
    f->ku = p->cross == SPX_FORECAST_CROSS_VAR ? nc * p->cross_lags + 1 : 0;
    f->ring_len = nl + nh;
    if (p->method == SPX_FORECAST_SEASONAL && p->season > f->ring_len)
        f->ring_len = p->season;
    f->nslots = nh + 1;

    int ok = 1;
#define ALLOC(ptr, n) ok &= ((ptr) = calloc(((n) > 0) ? (n) : 1, sizeof *(ptr))) != NULL
    ALLOC(f->warm, nc * p->warmup);
    ALLOC(f->mu, nc);
    ALLOC(f->sigma, nc);
    ALLOC(f->chan_scale, nc);
    ALLOC(f->ring, nc * 2 * f->ring_len);
    ALLOC(f->zs, nc);
    ALLOC(f->conv, nc);
    ALLOC(f->fc, nh * nc);
    ALLOC(f->fz, nh * nc);
    ALLOC(f->mse_step, nh);
    ALLOC(f->mae_step, nh);
    ALLOC(f->yh, nc * nh);
    if (f->uses_rls) {
        ALLOC(f->zc, f->nslots * nc * f->k);
        ALLOC(f->shift, f->nslots * nc);
        ALLOC(f->scl, f->nslots * nc);
        ALLOC(f->ztag, f->nslots);
        ALLOC(f->zraw, nc * f->r);
        ALLOC(f->yt, nc * nh);
    }
    if (f->ku) {
        ALLOC(f->uc, f->nslots * f->ku);
        ALLOC(f->res, nc * nh);
    }
    if (p->cross == SPX_FORECAST_CROSS_NORMLIN)
        ALLOC(f->mix, nc * nc);
    if (p->q_refresh) {
        ALLOC(f->q_old, nl * f->r);
        ALLOC(f->rot, 3 * f->k * f->k);
    }
#undef ALLOC
    if (!ok) {
        spx_forecast_free(f);
        return -ENOMEM;
    }
    if (p->method == SPX_FORECAST_ORTHO && (rc = spx_forecast_ortho_init(&f->ortho, nl, nc, f->r))) {
        spx_forecast_free(f);
        return rc;
    }
    if (f->uses_rls &&
        (rc = spx_forecast_rls_init(&f->rls, f->k, nh, nc, p->forget, p->ridge, p->resym_every))) {
        spx_forecast_free(f);
        return rc;
    }
    if (f->ku && (rc = spx_forecast_rls_init(&f->crls, f->ku, nc * nh, 1, p->cross_forget,
                                             p->cross_ridge, p->resym_every))) {
        spx_forecast_free(f);
        return rc;
    }
    if (p->metrics && (rc = spx_forecast_eval_init(&f->eval, nc, nh, p->score_from))) {
        spx_forecast_free(f);
        return rc;
    }
    spx_forecast_state_dims(f, f->dims);
    *out = f;
    return 0;
}

/* ---- windows and features ---- */

/* The window features of every channel: channel c's window is base[c * ld + start .. + L - 1].
 * Writes z (C x k), shift and scl (C), and u (ku) when the VAR stage is on. */
static void window_features(spx_forecast *f, const double *base, size_t ld, size_t start, double *z,
                            double *shift, double *scl, double *u)
{
    const size_t nc = f->nc, nl = f->nl, r = f->r, k = f->k;
    const spx_forecast_params *p = &f->p;
    for (size_t c = 0; c < nc; c++) {
        const double *x = base + c * ld + start;
        double sh = 0.0, sc = 1.0;
        if (p->norm == SPX_FORECAST_NORM_LAST)
            sh = x[nl - 1];
        if (p->norm == SPX_FORECAST_NORM_MEAN || p->scale) {
            double m = 0.0;
            for (size_t i = 0; i < nl; i++)
                m += x[i];
            m /= (double)nl;
            if (p->norm == SPX_FORECAST_NORM_MEAN)
                sh = m;
            if (p->scale) {
                double v = 0.0;
                for (size_t i = 0; i < nl; i++)
                    v += (x[i] - m) * (x[i] - m);
                sc = sqrt(v / (double)nl + REVIN_EPS);
            }
        }
        shift[c] = sh;
        scl[c] = sc;
    }
    if (p->method == SPX_FORECAST_RLS_RAW) {
        for (size_t c = 0; c < nc; c++)
            memcpy(z + c * k, base + c * ld + start, nl * sizeof *z);
    } else {
        /* Z = diag(1/scl) (X Q - shift (Q^T 1)^T): the transform reads the raw window in place. */
        double *zr = f->zraw;
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)nc, (int)r, (int)nl, 1.0,
                    base + start, (int)ld, f->ortho.q, (int)r, 0.0, zr, (int)r);
        for (size_t c = 0; c < nc; c++) {
            const double sh = shift[c], inv = 1.0 / scl[c];
            double *zi = zr + c * r;
            for (size_t j = 0; j < r; j++)
                zi[j] = (zi[j] - sh * f->ortho.q1[j]) * inv;
            memcpy(z + c * k, zi, r * sizeof *z);
        }
        if (p->cross == SPX_FORECAST_CROSS_NORMLIN)
            /* second half of each row: sum_j A_cj z_j */
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)nc, (int)r, (int)nc, 1.0,
                        f->mix, (int)nc, zr, (int)r, 0.0, z + r, (int)k);
    }
    if (u) {
        const size_t lags = p->cross_lags;
        for (size_t c = 0; c < nc; c++)
            for (size_t i = 0; i < lags; i++)
                u[c * lags + i] = base[c * ld + start + nl - 1 - i];
        u[nc * lags] = 1.0;
    }
}

/* Targets base[c * ld + first .. + H - 1], normalised by their window's shift/scale: yt (C x H). */
static void window_targets(const spx_forecast *f, const double *base, size_t ld, size_t first,
                           const double *shift, const double *scl, double *yt)
{
    const size_t nc = f->nc, nh = f->nh;
    for (size_t c = 0; c < nc; c++) {
        const double *y = base + c * ld + first;
        const double sh = shift[c], inv = 1.0 / scl[c];
        for (size_t h = 0; h < nh; h++)
            yt[c * nh + h] = (y[h] - sh) * inv;
    }
}

/* Ring view: channel c's samples live at ring + c * 2R, sample j at positions j mod R and
 * j mod R + R, so the `span` samples ending at `end` (all among the last R) start at position
 * (end + 1 - span) mod R and run contiguously. */
static size_t ring_start(const spx_forecast *f, uint64_t end, size_t span)
{
    return (size_t)((end + 1 - span) % f->ring_len);
}

static double softplus(double x)
{
    return x > 30.0 ? x : log1p(exp(x));
}

/* ---- warm-up fit ---- */

static int fit_warmup(spx_forecast *f)
{
    spx_forecast_params *p = &f->p;
    const size_t nc = f->nc, nl = f->nl, nh = f->nh, n = p->warmup;
    double *w = f->warm;

    for (size_t c = 0; c < nc; c++) {
        double m = 0.0, v = 0.0;
        const double *x = w + c * n;
        for (size_t i = 0; i < n; i++)
            m += x[i];
        m /= (double)n;
        for (size_t i = 0; i < n; i++)
            v += (x[i] - m) * (x[i] - m);
        double sd = sqrt(v / (double)n);
        if (!(sd > 1e-12 * (fabs(m) + 1.0)))
            sd = 1.0;
        if (!isfinite(m) || !isfinite(sd))
            return -EDOM;
        if (p->standardize) {
            f->mu[c] = m;
            f->sigma[c] = sd;
            f->chan_scale[c] = 1.0;
            double *xm = w + c * n;
            for (size_t i = 0; i < n; i++)
                xm[i] = (xm[i] - m) / sd;
        } else {
            f->mu[c] = 0.0;
            f->sigma[c] = 1.0;
            f->chan_scale[c] = 1.0 / sd;
        }
    }

    /* the ring takes the last ring_len samples */
    const size_t rl = f->ring_len;
    const size_t first = n > rl ? n - rl : 0;
    for (size_t c = 0; c < nc; c++) {
        double *rg = f->ring + c * 2 * rl;
        for (size_t i = first; i < n; i++) {
            rg[i % rl] = w[c * n + i];
            rg[i % rl + rl] = w[c * n + i];
        }
    }
    if (!f->uses_rls)
        return 0;

    const size_t k = f->k, ku = f->ku, nwin = n - nl - nh + 1;
    size_t nb = CHUNK_DOUBLES / (nc * (k + nh + nl) + ku + nc * nh + 1);
    if (nb < 1)
        nb = 1;
    if (nb > 256)
        nb = 256;
    if (nb > nwin)
        nb = nwin;
    int rc = 0;
    double *cz = malloc(nb * nc * k * sizeof *cz);
    double *cy = malloc(nb * nc * nh * sizeof *cy);
    double *gram = calloc(k * k, sizeof *gram);
    double *xty = calloc(k * nh, sizeof *xty);
    double *cwin = malloc(nb * nl * sizeof *cwin);
    double *sh = malloc(nc * sizeof *sh), *sc = malloc(nc * sizeof *sc);
    double *cu = NULL, *cr = NULL, *gram2 = NULL, *xty2 = NULL;
    if (ku) {
        cu = malloc(nb * ku * sizeof *cu);
        cr = malloc(nb * nc * nh * sizeof *cr);
        gram2 = calloc(ku * ku, sizeof *gram2);
        xty2 = calloc(ku * nc * nh, sizeof *xty2);
    }
    if (!cz || !cy || !gram || !xty || !cwin || !sh || !sc || (ku && (!cu || !cr || !gram2 || !xty2))) {
        rc = -ENOMEM;
        goto out;
    }

    if (p->method == SPX_FORECAST_ORTHO) {
        /* OrthoTrans basis from every full window of the warm-up segment */
        const size_t nq = n - nl + 1;
        for (size_t c = 0; c < nc; c++) {
            for (size_t s0 = 0; s0 < nq; s0 += nb) {
                const size_t m = nq - s0 < nb ? nq - s0 : nb;
                for (size_t i = 0; i < m; i++)
                    memcpy(cwin + i * nl, w + c * n + s0 + i, nl * sizeof *cwin);
                spx_forecast_ortho_add(&f->ortho, c, cwin, m, nl, f->chan_scale[c]);
            }
        }
        if ((rc = spx_forecast_ortho_compute(&f->ortho)))
            goto out;
    }
    if (p->cross == SPX_FORECAST_CROSS_NORMLIN) {
        /* channel correlations on the (scaled) warm-up segment -> positive row-normalised mix */
        double *cm = f->mix;
        for (size_t a = 0; a < nc; a++) {
            for (size_t b = 0; b < nc; b++) {
                double sab = 0.0, sa = 0.0, sb = 0.0, saa = 0.0, sbb = 0.0;
                for (size_t i = 0; i < n; i++) {
                    const double xa = w[a * n + i], xb = w[b * n + i];
                    sa += xa;
                    sb += xb;
                    sab += xa * xb;
                    saa += xa * xa;
                    sbb += xb * xb;
                }
                const double dn = (double)n;
                const double cov = sab / dn - (sa / dn) * (sb / dn);
                const double va = saa / dn - (sa / dn) * (sa / dn);
                const double vb = sbb / dn - (sb / dn) * (sb / dn);
                const double rho = (va > 0 && vb > 0) ? cov / sqrt(va * vb) : (a == b ? 1.0 : 0.0);
                cm[a * nc + b] = softplus(rho / p->cross_temp);
            }
            double s = 0.0;
            for (size_t b = 0; b < nc; b++)
                s += cm[a * nc + b];
            for (size_t b = 0; b < nc; b++)
                cm[a * nc + b] /= s;
        }
    }

    /* Stage 1: ridge on every warm-up window (origins L-1 .. n-1-H), all channels stacked. */
    for (size_t o0 = 0; o0 < nwin; o0 += nb) {
        const size_t m = nwin - o0 < nb ? nwin - o0 : nb;
        for (size_t i = 0; i < m; i++) {
            const size_t origin = nl - 1 + o0 + i;
            window_features(f, w, n, origin + 1 - nl, cz + i * nc * k, sh, sc, NULL);
            window_targets(f, w, n, origin + 1, sh, sc, cy + i * nc * nh);
        }
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)k, (int)(m * nc), 1.0, cz, (int)k,
                    1.0, gram, (int)k);
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)k, (int)nh, (int)(m * nc), 1.0, cz,
                    (int)k, cy, (int)nh, 1.0, xty, (int)nh);
    }
    for (size_t i = 0; i < k; i++)
        gram[i * k + i] += p->ridge;
    if ((rc = spx_forecast_rls_set_gram(&f->rls, gram, xty)))
        goto out;

    /* Stage 2 (VAR): ridge of the stage-1 residuals on the common cross vector. */
    if (ku) {
        for (size_t o0 = 0; o0 < nwin; o0 += nb) {
            const size_t m = nwin - o0 < nb ? nwin - o0 : nb;
            for (size_t i = 0; i < m; i++) {
                const size_t origin = nl - 1 + o0 + i;
                window_features(f, w, n, origin + 1 - nl, cz + i * nc * k, sh, sc, cu + i * ku);
                window_targets(f, w, n, origin + 1, sh, sc, cr + i * nc * nh);
            }
            /* residual = target - Z W */
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)(m * nc), (int)nh, (int)k,
                        -1.0, cz, (int)k, f->rls.w, (int)nh, 1.0, cr, (int)nh);
            cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)ku, (int)m, 1.0, cu, (int)ku, 1.0,
                        gram2, (int)ku);
            cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)ku, (int)(nc * nh), (int)m, 1.0,
                        cu, (int)ku, cr, (int)(nc * nh), 1.0, xty2, (int)(nc * nh));
        }
        for (size_t i = 0; i < ku; i++)
            gram2[i * ku + i] += p->cross_ridge;
        if ((rc = spx_forecast_rls_set_gram(&f->crls, gram2, xty2)))
            goto out;
    }
out:
    free(cz);
    free(cy);
    free(gram);
    free(xty);
    free(cwin);
    free(sh);
    free(sc);
    free(cu);
    free(cr);
    free(gram2);
    free(xty2);
    return rc;
}

/* ---- the per-sample step ---- */

/* Features of the window ending at `origin` (within the ring), from the cache or computed. */
static size_t slot_features(spx_forecast *f, uint64_t origin)
{
    const size_t slot = (size_t)(origin % f->nslots);
    if (f->ztag[slot] != origin + 1) {
        window_features(f, f->ring, 2 * f->ring_len, ring_start(f, origin, f->nl),
                        f->zc + slot * f->nc * f->k,
                        f->shift + slot * f->nc, f->scl + slot * f->nc,
                        f->ku ? f->uc + slot * f->ku : NULL);
        f->ztag[slot] = origin + 1;
    }
    return slot;
}

static void learn_step(spx_forecast *f, uint64_t t)
{
    const size_t nc = f->nc, nh = f->nh, k = f->k;
    const uint64_t origin = t - nh;
    const size_t slot = slot_features(f, origin);
    const double *z = f->zc + slot * nc * k;
    const double *sh = f->shift + slot * nc, *sc = f->scl + slot * nc;
    /* targets origin+1 .. t: a window of H samples ending at t */
    window_targets(f, f->ring, 2 * f->ring_len, ring_start(f, t, nh), sh, sc, f->yt);
    if (f->ku) {
        spx_forecast_rls_predict(&f->rls, z, nc, f->yh);
        for (size_t i = 0; i < nc * nh; i++)
            f->res[i] = f->yt[i] - f->yh[i];
    }
    spx_forecast_rls_update(&f->rls, z, f->yt, nc);
    if (f->ku)
        spx_forecast_rls_update(&f->crls, f->uc + slot * f->ku, f->res, 1);
}

static void forecast_step(spx_forecast *f, uint64_t t)
{
    const size_t nc = f->nc, nh = f->nh;
    const spx_forecast_params *p = &f->p;
    if (f->uses_rls) {
        const size_t slot = slot_features(f, t);
        const double *sh = f->shift + slot * nc, *sc = f->scl + slot * nc;
        spx_forecast_rls_predict(&f->rls, f->zc + slot * nc * f->k, nc, f->yh);
        if (f->ku)
            /* the C H cross outputs laid out channel-major match yh */
            cblas_dgemv(CblasRowMajor, CblasTrans, (int)f->ku, (int)(nc * nh), 1.0, f->crls.w,
                        (int)(nc * nh), f->uc + slot * f->ku, 1, 1.0, f->yh, 1);
        for (size_t c = 0; c < nc; c++)
            for (size_t h = 0; h < nh; h++)
                f->fz[h * nc + c] = sh[c] + sc[c] * f->yh[c * nh + h];
    } else {
        const size_t rl = f->ring_len;
        const size_t season = p->method == SPX_FORECAST_SEASONAL ? p->season : 1;
        for (size_t h = 0; h < nh; h++) {
            /* seasonal naive: the latest past sample in the same phase */
            const uint64_t periods = (h + season) / season; /* ceil((h + 1) / season) */
            const uint64_t src = t + 1 + h - season * periods;
            for (size_t c = 0; c < nc; c++)
                f->fz[h * nc + c] = f->ring[c * 2 * rl + (size_t)(src % rl)];
        }
    }
    for (size_t h = 0; h < nh; h++)
        for (size_t c = 0; c < nc; c++)
            f->fc[h * nc + c] = f->mu[c] + f->sigma[c] * f->fz[h * nc + c];
    if (p->metrics)
        spx_forecast_eval_record(&f->eval, t, f->fz);
    f->origin = t;
    f->ready = 1;
}

/* OrthoTrans refresh: add this window to the running statistics; every q_refresh samples recompute
 * Q and rotate the learned map (and its covariance) into the new basis. */
static void refresh_step(spx_forecast *f, uint64_t t)
{
    const spx_forecast_params *p = &f->p;
    const size_t nc = f->nc, nl = f->nl, r = f->r, k = f->k;
    const uint64_t since = t + 1 - p->warmup;
    if (since % p->q_stride == 0) {
        /* exponential weighting with a time constant of one warm-up length */
        double decay = 1.0 - (double)p->q_stride / (double)p->warmup;
        if (decay < 0.5)
            decay = 0.5;
        spx_forecast_ortho_decay(&f->ortho, decay);
        const size_t start = ring_start(f, t, nl);
        for (size_t c = 0; c < nc; c++)
            spx_forecast_ortho_add(&f->ortho, c, f->ring + c * 2 * f->ring_len + start, 1, nl,
                                   f->chan_scale[c]);
    }
    if (since % p->q_refresh != 0)
        return;
    memcpy(f->q_old, f->ortho.q, nl * r * sizeof *f->q_old);
    if (spx_forecast_ortho_compute(&f->ortho) != 0) {
        memcpy(f->ortho.q, f->q_old, nl * r * sizeof *f->q_old);
        return;
    }
    /* R = Q_new^T Q_old (block-diagonal over the NormLin halves): z_new ~= R z_old */
    double *rot = f->rot;
    memset(rot, 0, k * k * sizeof *rot);
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)r, (int)r, (int)nl, 1.0, f->ortho.q,
                (int)r, f->q_old, (int)r, 0.0, rot, (int)k);
    if (k == 2 * r)
        for (size_t i = 0; i < r; i++)
            memcpy(rot + (r + i) * k + r, rot + i * k, r * sizeof *rot);
    spx_forecast_rls_rotate(&f->rls, rot, rot + k * k);
    memset(f->ztag, 0, f->nslots * sizeof *f->ztag);
    f->q_refreshes++;
}

static int step(spx_forecast *f, const double *x)
{
    const size_t nc = f->nc, rl = f->ring_len;
    const spx_forecast_params *p = &f->p;
    const uint64_t t = f->t;
    for (size_t c = 0; c < nc; c++)
        if (!isfinite(x[c]))
            return -EINVAL;
    if (!f->fitted) {
        for (size_t c = 0; c < nc; c++)
            f->warm[c * p->warmup + t] = x[c];
        f->t++;
        if (f->t < p->warmup)
            return 0;
        int rc = fit_warmup(f);
        if (rc) {
            /* start the warm-up again rather than run on a broken fit */
            f->t = 0;
            f->restarts++;
            if (f->ortho.outer) {
                memset(f->ortho.outer, 0, f->nl * f->nl * sizeof *f->ortho.outer);
                memset(f->ortho.sums, 0, nc * f->nl * sizeof *f->ortho.sums);
                f->ortho.count = 0.0;
            }
            if (f->uses_rls)
                spx_forecast_rls_reset(&f->rls);
            if (f->ku)
                spx_forecast_rls_reset(&f->crls);
            return rc;
        }
        f->fitted = 1;
        free(f->warm);
        f->warm = NULL;
        if ((t + 1) % p->every == 0)
            forecast_step(f, t);
        return 0;
    }
    for (size_t c = 0; c < nc; c++) {
        const double z = (x[c] - f->mu[c]) / f->sigma[c];
        f->zs[c] = z;
        f->ring[c * 2 * rl + (size_t)(t % rl)] = z;
        f->ring[c * 2 * rl + (size_t)(t % rl) + rl] = z;
    }
    if (p->metrics) {
        const uint64_t before = f->eval.scored;
        spx_forecast_eval_observe(&f->eval, t, f->zs);
        if (f->eval.scored != before)
            spx_forecast_eval_get(&f->eval, &f->mse, &f->mae, f->mse_step, f->mae_step);
    }
    if (f->uses_rls && p->learn)
        learn_step(f, t);
    if (p->q_refresh)
        refresh_step(f, t);
    if ((t + 1) % p->every == 0)
        forecast_step(f, t);
    f->t++;
    return 0;
}

int spx_forecast_update_f64(spx_forecast *f, const double *samples, size_t n)
{
    if (!f || (n && !samples))
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        int rc = step(f, samples + i * f->nc);
        if (rc)
            return rc;
    }
    return 0;
}

int spx_forecast_update_f32(spx_forecast *f, const float *samples, size_t n)
{
    if (!f || (n && !samples))
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        for (size_t c = 0; c < f->nc; c++)
            f->conv[c] = (double)samples[i * f->nc + c];
        int rc = step(f, f->conv);
        if (rc)
            return rc;
    }
    return 0;
}

void spx_forecast_result_get(const spx_forecast *f, spx_forecast_result *out)
{
    memset(out, 0, sizeof *out);
    out->ready = f->ready;
    out->samples = f->t;
    out->warmup_restarts = f->restarts;
    out->origin = f->origin;
    out->horizon = f->nh;
    out->channels = f->nc;
    out->forecast = f->ready ? f->fc : NULL;
    out->updates = f->uses_rls ? f->rls.updates : 0;
    out->q_refreshes = f->q_refreshes;
    out->rank = f->r;
    out->metrics.forecasts_scored = f->eval.scored;
    out->metrics.mse = f->mse;
    out->metrics.mae = f->mae;
    out->metrics.mse_step = f->mse_step;
    out->metrics.mae_step = f->mae_step;
}

void spx_forecast_params_get(const spx_forecast *f, spx_forecast_params *out) { *out = f->p; }

const double *spx_forecast_basis(const spx_forecast *f, size_t *lookback, size_t *rank,
                                 const double **eigenvalues)
{
    if (lookback)
        *lookback = f->nl;
    if (rank)
        *rank = f->r;
    if (eigenvalues)
        *eigenvalues = NULL;
    if (f->p.method != SPX_FORECAST_ORTHO || !f->fitted)
        return NULL;
    if (eigenvalues)
        *eigenvalues = f->ortho.evals;
    return f->ortho.q;
}

const double *spx_forecast_weights(const spx_forecast *f, size_t *features, size_t *horizon)
{
    if (features)
        *features = f->k;
    if (horizon)
        *horizon = f->nh;
    return f->uses_rls ? f->rls.w : NULL;
}
