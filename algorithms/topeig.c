/* Core of the top-eigenvector estimators: parameters, dispatch to the methods, the ordering check,
 * the change-since-mark indicator. The methods live in topeig_oja.c, topeig_block.c (power and
 * randorder) and topeig_fd.c. */
#include "topeig.h"

#include "topeig_internal.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const method_names[SPX_TOPEIG_N_METHODS] = {
    [SPX_TOPEIG_ADAOJA] = "adaoja",
    [SPX_TOPEIG_OJA] = "oja",
    [SPX_TOPEIG_POWER] = "power",
    [SPX_TOPEIG_FD] = "fd",
    [SPX_TOPEIG_RANDORDER] = "randorder",
};

int spx_topeig_method_parse(const char *name)
{
    if (!name)
        return -1;
    for (int i = 0; i < SPX_TOPEIG_N_METHODS; i++)
        if (strcmp(name, method_names[i]) == 0)
            return i;
    return -1;
}

const char *spx_topeig_method_name(spx_topeig_method m)
{
    return (unsigned)m < SPX_TOPEIG_N_METHODS ? method_names[m] : "unknown";
}

static const spx_topeig_method_ops *ops_of(spx_topeig_method m)
{
    switch (m) {
    case SPX_TOPEIG_ADAOJA:
    case SPX_TOPEIG_OJA:
        return &spx_topeig_oja_ops;
    case SPX_TOPEIG_POWER:
    case SPX_TOPEIG_RANDORDER:
        return &spx_topeig_power_ops;
    case SPX_TOPEIG_FD:
        return &spx_topeig_fd_ops;
    }
    return NULL;
}

void spx_topeig_params_default(spx_topeig_params *p, size_t dim)
{
    memset(p, 0, sizeof *p);
    p->dim = dim;
    p->method = SPX_TOPEIG_ADAOJA;
    p->k = 1;
    p->eta0 = 1.0;
    p->t0 = 1000.0;
    p->decay = 1.0;
    p->b0 = 1e-5;
    p->seed = 1;
    p->oversample = 2;
    p->heavy_factor = 4.0;
    p->order_z = 6.0;
    p->batch = 1;
}

const char *spx_topeig_params_problem(const spx_topeig_params *p)
{
    if (!ops_of(p->method))
        return "unknown method";
    if (p->dim == 0)
        return "dim must be >= 1";
    if (p->k == 0 || p->k > p->dim)
        return "k must be in [1, dim]";
    /* Keeps every d x (k + oversample) and (2 sketch_rows) x d allocation far from overflow. */
    if (p->dim > ((size_t)1 << 32) || p->k > 4096 || p->oversample > 4096 ||
        p->sketch_rows > ((size_t)1 << 20) || p->heavy_max > ((size_t)1 << 24) ||
        p->block_rows > ((size_t)1 << 40) || p->order_block > ((size_t)1 << 40))
        return "a size beyond its limit (dim 2^32, k and oversample 4096, sketch_rows 2^20, "
               "heavy_max 2^24, block_rows and order_block 2^40)";
    if (!(isfinite(p->order_z) && p->order_z > 0.0))
        return "order_z must be finite and > 0";
    if (!(isfinite(p->block_growth) && (p->block_growth == 0.0 || p->block_growth >= 1.0)))
        return "block_growth must be 0 (auto) or >= 1";
    if (p->batch == 0 || p->batch > SPX_TOPEIG_BATCH_MAX)
        return "batch must be in [1, 65536]";
    if (p->batch != 1 && p->method != SPX_TOPEIG_ADAOJA && p->method != SPX_TOPEIG_OJA)
        return "batch > 1: mini-batches are for method=adaoja and method=oja";
    switch (p->method) {
    case SPX_TOPEIG_ADAOJA:
    case SPX_TOPEIG_OJA:
        if (p->k != 1)
            return "k must be 1 for adaoja and oja";
        if (p->method == SPX_TOPEIG_ADAOJA && !(isfinite(p->b0) && p->b0 > 0.0))
            return "b0 must be finite and > 0";
        if (p->method == SPX_TOPEIG_OJA &&
            !(isfinite(p->eta0) && p->eta0 > 0.0 && isfinite(p->t0) && p->t0 > 0.0 &&
              isfinite(p->decay) && p->decay >= 0.0))
            return "eta0 and t0 must be finite and > 0, decay finite and >= 0";
        return NULL;
    case SPX_TOPEIG_POWER:
    case SPX_TOPEIG_RANDORDER:
        if (p->k + p->oversample > p->dim)
            return "k + oversample must be <= dim for power and randorder";
        if (!(isfinite(p->heavy_factor) && p->heavy_factor > 0.0))
            return "heavy_factor must be finite and > 0";
        return NULL;
    case SPX_TOPEIG_FD:
        return p->sketch_rows == 0 || p->sketch_rows >= p->k ? NULL
                                                             : "sketch_rows must be 0 (auto) or >= k";
    }
    return "unknown method";
}

void spx_topeig_random_unit(spx_topeig *t, double *x)
{
    double s;
    do {
        spx_rng_normal_fill(&t->rng, x, t->d);
        s = 0.0;
        for (size_t i = 0; i < t->d; i++)
            s += x[i] * x[i];
    } while (s == 0.0);
    double inv = 1.0 / sqrt(s);
    for (size_t i = 0; i < t->d; i++)
        x[i] *= inv;
}

int spx_topeig_create(spx_topeig **out, const spx_topeig_params *p)
{
    if (!out || !p || spx_topeig_params_problem(p))
        return -EINVAL;
    spx_topeig *t = calloc(1, sizeof *t);
    if (!t)
        return -ENOMEM;
    t->p = *p;
    t->d = p->dim;
    t->k = p->k;
    t->order.block = p->order_block ? p->order_block : (2 * t->d > 256 ? 2 * t->d : 256);
    t->vec = calloc(t->k * t->d, sizeof *t->vec);
    t->eig = calloc(t->k, sizeof *t->eig);
    t->mark = calloc(t->k * t->d, sizeof *t->mark);
    t->order.ref = calloc(t->d, sizeof *t->order.ref);
    t->order.next_checkpoint = 4 * (uint64_t)t->order.block;
    spx_rng_seed(&t->rng, p->seed);
    int rc = -ENOMEM;
    if (t->vec && t->eig && t->mark && t->order.ref) {
        rc = ops_of(p->method)->init(t);
        /* The first reference: a random direction independent of the rows. */
        if (rc == 0)
            spx_topeig_random_unit(t, t->order.ref);
    }
    if (rc != 0) {
        spx_topeig_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

void spx_topeig_free(spx_topeig *t)
{
    if (!t)
        return;
    ops_of(t->p.method)->release(t);
    free(t->vec);
    free(t->eig);
    free(t->mark);
    free(t->order.ref);
    free(t);
}

int spx_topeig_update_f64(spx_topeig *t, const double *rows, size_t n)
{
    if (!t || (!rows && n))
        return -EINVAL;
    if (n)
        ops_of(t->p.method)->update_f64(t, rows, n);
    return 0;
}

int spx_topeig_update_f32(spx_topeig *t, const float *rows, size_t n)
{
    if (!t || (!rows && n))
        return -EINVAL;
    if (n)
        ops_of(t->p.method)->update_f32(t, rows, n);
    return 0;
}

/* Why the ordering alarm was raised; index 0 while it was not (the index is what a saved state
 * holds). */
const char *const spx_topeig_order_reasons[SPX_TOPEIG_ORDER_REASONS] = {
    "",
    "rows not in random order: consecutive blocks carry more energy along the estimate than the "
    "rows before them",
    "rows not in random order: consecutive blocks carry less energy along the estimate than the "
    "rows before them",
    "rows not in random order: consecutive blocks carry more energy per row than the rows before "
    "them",
    "rows not in random order: consecutive blocks carry less energy per row than the rows before "
    "them",
};

/* Judges one channel's finished block; returns +1 / -1 when an alarm is due in that direction. */
static int order_judge(spx_topeig_order_channel *c, double zmax)
{
    if (c->cnt == 0)
        return 0;
    const double L = (double)c->cnt;
    const double bmean = c->sum / L;
    int due = 0;
    /* Four blocks of history before judging: the spread estimate needs them. */
    if (c->n >= 4 * c->cnt) {
        double var = c->m2 / (double)(c->n - 1);
        double diff = bmean - c->mean;
        double z = var > 0.0 ? diff / sqrt(var / L) : (diff == 0.0 ? 0.0 : copysign(INFINITY, diff));
        int sign = z > zmax ? 1 : z < -zmax ? -1 : 0;
        if (sign != 0 && (c->streak == 0 || (c->streak > 0) == (sign > 0)))
            c->streak += sign;
        else
            c->streak = sign;
        due = c->streak >= 3 ? 1 : c->streak <= -3 ? -1 : 0;
    }
    /* Merge the block into the running statistics (Chan et al.'s pairwise update). */
    double bm2 = c->sumsq - c->sum * bmean;
    if (bm2 < 0.0)
        bm2 = 0.0;
    double n0 = (double)c->n, ntot = n0 + L;
    double delta = bmean - c->mean;
    c->mean += delta * L / ntot;
    c->m2 += bm2 + delta * delta * n0 * L / ntot;
    c->n += c->cnt;
    c->sum = c->sumsq = 0.0;
    c->cnt = 0;
    return due;
}

void spx_topeig_order_block_end(spx_topeig *t)
{
    spx_topeig_order *o = &t->order;
    int e = order_judge(&o->energy, t->p.order_z);
    int a = order_judge(&o->along, t->p.order_z);
    o->in_block = 0;
    if (!o->alarm && (e || a)) {
        o->alarm = 1;
        o->reason = spx_topeig_order_reasons[a ? (a > 0 ? 1 : 2) : (e > 0 ? 3 : 4)];
    }
    if (t->rows >= o->next_checkpoint) {
        /* New reference direction: the current estimate. Its channel starts over. */
        spx_topeig_result r;
        memset(&r, 0, sizeof r);
        ops_of(t->p.method)->result(t, &r);
        double nn = 0.0;
        for (size_t i = 0; i < t->d; i++)
            nn += t->vec[i] * t->vec[i];
        if (nn > 0.0 && isfinite(nn))
            for (size_t i = 0; i < t->d; i++)
                o->ref[i] = t->vec[i] / sqrt(nn);
        memset(&o->along, 0, sizeof o->along);
        o->next_checkpoint *= 2;
    }
}

/* 1 - ||M V^T||_F^2 / k for k x d row-major M, V with orthonormal rows. */
static double subspace_change(const double *m, const double *v, size_t k, size_t d)
{
    double f = 0.0;
    for (size_t i = 0; i < k; i++)
        for (size_t j = 0; j < k; j++) {
            double s = 0.0;
            for (size_t c = 0; c < d; c++)
                s += m[i * d + c] * v[j * d + c];
            f += s * s;
        }
    double change = 1.0 - f / (double)k;
    return change < 0.0 ? 0.0 : change;
}

void spx_topeig_result_get(const spx_topeig *t, spx_topeig_result *out)
{
    memset(out, 0, sizeof *out);
    ops_of(t->p.method)->result(t, out);
    out->vector = t->vec;
    out->eigenvalues = t->eig;
    out->k = t->k;
    out->dim = t->d;
    out->rows_seen = t->rows;
    out->frobenius = sqrt(t->fro2);
    out->method = t->p.method;
    out->change = t->marked ? subspace_change(t->mark, t->vec, t->k, t->d) : 1.0;
    out->rows_since_mark = t->rows - (t->marked ? t->mark_rows : 0);
    out->order_alarm = t->order.alarm;
    out->order_reason = t->order.alarm ? t->order.reason : "";
}

void spx_topeig_mark(spx_topeig *t)
{
    spx_topeig_result r;
    spx_topeig_result_get(t, &r);
    memcpy(t->mark, t->vec, t->k * t->d * sizeof *t->mark);
    t->marked = 1;
    t->mark_rows = t->rows;
}
