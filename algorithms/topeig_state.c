/* Durable state of the top-eigenvector estimators (see topeig.h): the scalars are walked by one
 * function in both directions (copy out, or check and copy in), so the list saved and the list
 * restored cannot drift apart; the arrays are listed with lengths that follow from the scalars.
 * Scratch buffers (GEMM outputs, LAPACK workspaces, the result buffers) are left out: every
 * update or result writes them before reading them. */
#include "topeig_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

typedef struct walk {
    spx_topeig_state_scalar *v; /* copy out: appended to; copy in: read from */
    size_t n, have;
    int in;
    int failed;
    char *err;
    size_t errlen;
} walk;

static void walk_fail(walk *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void walk_fail(walk *w, const char *fmt, ...)
{
    if (!w->failed) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(w->err, w->errlen, fmt, ap);
        va_end(ap);
    }
    w->failed = 1;
}

/* The next slot, or NULL (failed) when copying in and the slot is not `name` of `type`. */
static spx_topeig_state_scalar *walk_slot(walk *w, const char *name, spx_topeig_value_type type)
{
    if (w->failed)
        return NULL;
    if (w->n >= w->have) {
        walk_fail(w, "%s: missing (the state has %zu scalars)", name, w->have);
        return NULL;
    }
    spx_topeig_state_scalar *s = &w->v[w->n++];
    if (!w->in) {
        s->name = name;
        s->type = type;
        return s;
    }
    if (!s->name || strcmp(s->name, name) != 0 || s->type != type) {
        walk_fail(w, "%s: scalar %zu is %s", name, w->n - 1, s->name ? s->name : "unnamed");
        return NULL;
    }
    return s;
}

static void walk_u64(walk *w, const char *name, uint64_t *field, uint64_t lo, uint64_t hi)
{
    spx_topeig_state_scalar *s = walk_slot(w, name, SPX_TOPEIG_U64);
    if (!s)
        return;
    if (!w->in) {
        s->v.u = *field;
        return;
    }
    if (s->v.u < lo || s->v.u > hi) {
        walk_fail(w, "%s: %" PRIu64 " outside [%" PRIu64 ", %" PRIu64 "]", name, s->v.u, lo, hi);
        return;
    }
    *field = s->v.u;
}

static void walk_size(walk *w, const char *name, size_t *field, uint64_t lo, uint64_t hi)
{
    uint64_t u = *field;
    walk_u64(w, name, &u, lo, hi);
    if (w->in && !w->failed)
        *field = (size_t)u;
}

/* A value the instance already has (a size fixed by the params): copying in only checks it. */
static void walk_fixed(walk *w, const char *name, uint64_t value)
{
    uint64_t u = value;
    walk_u64(w, name, &u, value, value);
}

static void walk_int(walk *w, const char *name, int *field, int lo, int hi)
{
    spx_topeig_state_scalar *s = walk_slot(w, name, SPX_TOPEIG_I64);
    if (!s)
        return;
    if (!w->in) {
        s->v.i = *field;
        return;
    }
    if (s->v.i < lo || s->v.i > hi) {
        walk_fail(w, "%s: %" PRId64 " outside [%d, %d]", name, s->v.i, lo, hi);
        return;
    }
    *field = (int)s->v.i;
}

static void walk_f64(walk *w, const char *name, double *field)
{
    spx_topeig_state_scalar *s = walk_slot(w, name, SPX_TOPEIG_F64);
    if (!s)
        return;
    if (!w->in)
        s->v.f = *field;
    else
        *field = s->v.f;
}

static void walk_channel(walk *w, spx_topeig_order_channel *c, const char *const names[7],
                         uint64_t block)
{
    walk_f64(w, names[0], &c->sum);
    walk_f64(w, names[1], &c->sumsq);
    walk_u64(w, names[2], &c->cnt, 0, block - 1);
    walk_u64(w, names[3], &c->n, 0, UINT64_MAX);
    walk_f64(w, names[4], &c->mean);
    walk_f64(w, names[5], &c->m2);
    walk_int(w, names[6], &c->streak, -INT_MAX, INT_MAX);
}

static const char *const energy_names[7] = {
    "order_energy_sum", "order_energy_sumsq", "order_energy_cnt", "order_energy_n",
    "order_energy_mean", "order_energy_m2", "order_energy_streak",
};
static const char *const along_names[7] = {
    "order_along_sum", "order_along_sumsq", "order_along_cnt", "order_along_n",
    "order_along_mean", "order_along_m2", "order_along_streak",
};

static int is_block_method(spx_topeig_method m)
{
    return m == SPX_TOPEIG_POWER || m == SPX_TOPEIG_RANDORDER;
}

/* Every scalar of the state, in one fixed order, out of or into t. */
static void walk_scalars(spx_topeig *t, walk *w)
{
    const spx_topeig_method m = t->p.method;
    walk_fixed(w, "method", (uint64_t)m);
    walk_fixed(w, "dim", t->d);
    walk_fixed(w, "k", t->k);

    walk_u64(w, "rows", &t->rows, 0, UINT64_MAX);
    walk_f64(w, "fro2", &t->fro2);
    walk_int(w, "marked", &t->marked, 0, 1);
    walk_u64(w, "mark_rows", &t->mark_rows, 0, UINT64_MAX);

    spx_topeig_order *o = &t->order;
    walk_fixed(w, "order_block", o->block);
    walk_size(w, "order_in_block", &o->in_block, 0, o->block - 1);
    walk_channel(w, &o->energy, energy_names, o->block);
    walk_channel(w, &o->along, along_names, o->block);
    walk_u64(w, "order_next_checkpoint", &o->next_checkpoint, 4 * (uint64_t)o->block, UINT64_MAX);
    int reason = 0;
    for (int i = 1; i < SPX_TOPEIG_ORDER_REASONS; i++)
        if (o->alarm && o->reason == spx_topeig_order_reasons[i])
            reason = i;
    walk_int(w, "order_alarm", &reason, 0, SPX_TOPEIG_ORDER_REASONS - 1);
    if (w->in && !w->failed) {
        o->alarm = reason != 0;
        o->reason = reason ? spx_topeig_order_reasons[reason] : NULL;
    }

    if (m == SPX_TOPEIG_ADAOJA || m == SPX_TOPEIG_OJA) {
        spx_topeig_oja *j = &t->oja;
        walk_f64(w, "oja_w_norm2", &j->w_norm2);
        walk_f64(w, "oja_b2", &j->b2);
        walk_u64(w, "oja_since_renorm", &j->since_renorm, 0, SPX_TOPEIG_OJA_RENORM_EVERY - 1);
        walk_f64(w, "oja_y2_sum", &j->y2_sum);
        /* Only with mini-batches (older snapshots of batch = 1 pipelines stay readable). */
        if (t->p.batch > 1)
            walk_fixed(w, "oja_batch", t->p.batch);
    } else if (is_block_method(m)) {
        spx_topeig_block *b = &t->blk;
        walk_fixed(w, "blk_p", b->p);
        walk_fixed(w, "blk_group", b->group);
        walk_fixed(w, "blk_block_first", b->block_first);
        /* Rows are staged only with p > 4 (the GEMM path); a group is processed once full. */
        walk_size(w, "blk_staged", &b->staged, 0, b->p <= 4 ? 0 : b->group - 1);
        walk_u64(w, "blk_block_rows", &b->block_rows, 0, UINT64_MAX);
        walk_u64(w, "blk_block_light", &b->block_light, 0, UINT64_MAX);
        walk_u64(w, "blk_block_target", &b->block_target, b->block_first, 64 * b->block_first);
        walk_u64(w, "blk_blocks", &b->blocks, 0, UINT64_MAX);
        walk_f64(w, "blk_last_gap", &b->last_gap);
        walk_fixed(w, "blk_heavy_max", b->heavy_max);
        walk_size(w, "blk_n_heavy", &b->n_heavy, 0, b->heavy_max);
        if (m == SPX_TOPEIG_RANDORDER) {
            walk_u64(w, "blk_n_cur", &b->n_cur, 0, UINT64_MAX);
            walk_u64(w, "blk_n_prev", &b->n_prev, 0, UINT64_MAX);
            walk_u64(w, "blk_next_restart", &b->next_restart, 2, UINT64_MAX);
        }
    } else {
        spx_topeig_fd *f = &t->fd;
        walk_fixed(w, "fd_sketch_rows", f->l);
        walk_fixed(w, "fd_exact", (uint64_t)f->exact);
        walk_size(w, "fd_filled", &f->filled, 0, f->cap - 1);
        walk_f64(w, "fd_shrink", &f->shrink);
    }
}

size_t spx_topeig_state_scalars(const spx_topeig *t, spx_topeig_state_scalar *out)
{
    /* Copying out only reads t; the walk is shared with copying in, hence the cast. */
    walk w = {.v = out, .have = SPX_TOPEIG_STATE_MAX};
    walk_scalars((spx_topeig *)t, &w);
    return w.n;
}

static int relation_fail(char *err, size_t errlen, const char *what)
{
    snprintf(err, errlen, "%s", what);
    return -EINVAL;
}

int spx_topeig_state_set_scalars(spx_topeig *t, const spx_topeig_state_scalar *in, size_t n,
                                 char *err, size_t errlen)
{
    walk w = {.v = (spx_topeig_state_scalar *)in, .have = n, .in = 1, .err = err, .errlen = errlen};
    walk_scalars(t, &w);
    if (w.failed)
        return -EINVAL;
    if (w.n != n)
        return relation_fail(err, errlen, "state has more scalars than this configuration");
    /* Relations the update code relies on. */
    if (t->mark_rows > t->rows)
        return relation_fail(err, errlen, "mark_rows: beyond rows");
    if (t->order.energy.cnt != t->order.in_block || t->order.along.cnt > t->order.in_block)
        return relation_fail(err, errlen, "order_*_cnt: not the rows of the current check block");
    if (is_block_method(t->p.method)) {
        const spx_topeig_block *b = &t->blk;
        /* Staged rows belong to a group that does not cross the block end. */
        if (b->block_rows >= b->block_target || b->staged >= b->block_target - b->block_rows)
            return relation_fail(err, errlen, "blk_block_rows: not below blk_block_target");
        if (t->p.method == SPX_TOPEIG_RANDORDER &&
            ((b->next_restart & (b->next_restart - 1)) != 0 || b->next_restart <= b->blocks ||
             b->n_cur > b->blocks || b->n_prev > b->blocks - b->n_cur))
            return relation_fail(err, errlen, "blk_n_cur/blk_n_prev/blk_next_restart: inconsistent "
                                              "with blk_blocks");
    }
    return 0;
}

static void add_array(spx_topeig_state_array *out, size_t *n, const char *name,
                      spx_topeig_value_type type, void *data, size_t count)
{
    out[*n] = (spx_topeig_state_array){.name = name, .type = type, .data = data, .n = count};
    (*n)++;
}

size_t spx_topeig_state_arrays(spx_topeig *t, spx_topeig_state_array *out)
{
    const size_t d = t->d, k = t->k;
    const spx_topeig_method m = t->p.method;
    size_t n = 0;
    add_array(out, &n, "mark", SPX_TOPEIG_F64, t->mark, k * d);
    add_array(out, &n, "rng", SPX_TOPEIG_U64, t->rng.s, 4);
    add_array(out, &n, "order_ref", SPX_TOPEIG_F64, t->order.ref, d);
    if (m == SPX_TOPEIG_ADAOJA || m == SPX_TOPEIG_OJA) {
        add_array(out, &n, "oja_w", SPX_TOPEIG_F64, t->oja.w, d);
        if (t->p.batch > 1)
            add_array(out, &n, "oja_batch_sum", SPX_TOPEIG_F64, t->oja.h, d);
    } else if (is_block_method(m)) {
        spx_topeig_block *b = &t->blk;
        const size_t p = b->p;
        add_array(out, &n, "blk_Z", SPX_TOPEIG_F64, b->Z, d * p);
        add_array(out, &n, "blk_S", SPX_TOPEIG_F64, b->S, d * p);
        add_array(out, &n, "blk_T", SPX_TOPEIG_F64, b->T, p * p);
        add_array(out, &n, "blk_V", SPX_TOPEIG_F64, b->V, d * k);
        add_array(out, &n, "blk_theta", SPX_TOPEIG_F64, b->theta, k + 1);
        add_array(out, &n, "blk_stage", SPX_TOPEIG_F64, b->stage, b->staged * d);
        add_array(out, &n, "blk_stage_xx", SPX_TOPEIG_F64, b->gxx, b->staged);
        add_array(out, &n, "blk_stage_tau", SPX_TOPEIG_F64, b->gtau, b->staged);
        if (m == SPX_TOPEIG_RANDORDER) {
            add_array(out, &n, "blk_avg_cur", SPX_TOPEIG_F64, b->avg_cur, d * k);
            add_array(out, &n, "blk_avg_prev", SPX_TOPEIG_F64, b->avg_prev, d * k);
            add_array(out, &n, "blk_th_cur", SPX_TOPEIG_F64, b->th_cur, k + 1);
            add_array(out, &n, "blk_th_prev", SPX_TOPEIG_F64, b->th_prev, k + 1);
        }
        add_array(out, &n, "blk_heavy", SPX_TOPEIG_F64, b->heavy, b->n_heavy * d);
        add_array(out, &n, "blk_heavy_norm2", SPX_TOPEIG_F64, b->heavy_norm2, b->n_heavy);
    } else {
        spx_topeig_fd *f = &t->fd;
        add_array(out, &n, "fd_B", SPX_TOPEIG_F64, f->B, f->filled * d);
        if (f->exact)
            add_array(out, &n, "fd_cov", SPX_TOPEIG_F64, f->cov, d * d);
    }
    return n;
}

int spx_topeig_state_check(const spx_topeig *t, char *err, size_t errlen)
{
    const uint64_t *s = t->rng.s;
    /* xoshiro256** never leaves the all-zero state: it would emit zeros for ever. */
    if ((s[0] | s[1] | s[2] | s[3]) == 0)
        return relation_fail(err, errlen, "rng: the all-zero state");
    return 0;
}
