/* The `topeig` pipeline's durable state (save/load) against the shared contract
 * (state_roundtrip.h), for every method, with f64 and f32 rows. Each case is saved where the state
 * is at its most awkward, and the test checks that it is: mid-block with rows staged for a GEMM
 * group (power, randorder with k = 3), heavy rows held (randorder), a partly filled sketch (fd),
 * the ordering alarm raised (oja on sorted rows). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapter_msgpack.h"
#include "pipeline_kind.h"
#include "rng.h"
#include "state_roundtrip.h"

typedef struct rows_case {
    uint32_t dim;
    size_t n_inputs, rows_per_input, split;
    double heavy_every;        /* 0: none; else one row in this many is heavy (x 10) */
    int sorted;                /* rows sorted by energy (not random order: raises the alarm) */
    spx_dtype dtype;
} rows_case;

typedef struct rows_data {
    spx_input *inputs;
    void *data;
} rows_data;

/* Rows with a clear top direction (coordinate 0, scale 3; then 2, 1.5, 1, ...), optionally some
 * heavy ones, as inputs of rows_per_input rows. */
static rows_data make_rows(const rows_case *c)
{
    const size_t d = c->dim, n = c->n_inputs * c->rows_per_input;
    double *x = malloc(n * d * sizeof *x);
    cr_assert(x);
    spx_rng rng;
    spx_rng_seed(&rng, 42);
    for (size_t r = 0; r < n; r++) {
        int heavy = c->heavy_every > 0 && spx_rng_uniform(&rng) * c->heavy_every < 1.0;
        double boost = heavy ? 10.0 : 1.0;
        for (size_t i = 0; i < d; i++) {
            double scale = i == 0 ? 3.0 : i == 1 ? 2.0 : i == 2 ? 1.5 : 1.0;
            x[r * d + i] = boost * scale * spx_rng_normal(&rng);
        }
    }
    if (c->sorted) { /* ascending energy, by insertion sort on row norms (small n) */
        double *tmp = malloc(d * sizeof *tmp);
        cr_assert(tmp);
        for (size_t r = 1; r < n; r++) {
            memcpy(tmp, x + r * d, d * sizeof *tmp);
            double e = 0;
            for (size_t i = 0; i < d; i++)
                e += tmp[i] * tmp[i];
            size_t j = r;
            for (; j > 0; j--) {
                double f = 0;
                for (size_t i = 0; i < d; i++)
                    f += x[(j - 1) * d + i] * x[(j - 1) * d + i];
                if (f <= e)
                    break;
                memcpy(x + j * d, x + (j - 1) * d, d * sizeof *x);
            }
            memcpy(x + j * d, tmp, d * sizeof *tmp);
        }
        free(tmp);
    }
    rows_data out = {.inputs = calloc(c->n_inputs, sizeof *out.inputs)};
    cr_assert(out.inputs);
    if (c->dtype == SPX_DTYPE_F32) {
        float *f = malloc(n * d * sizeof *f);
        cr_assert(f);
        for (size_t i = 0; i < n * d; i++)
            f[i] = (float)x[i];
        free(x);
        out.data = f;
    } else {
        out.data = x;
    }
    const size_t esize = c->dtype == SPX_DTYPE_F32 ? sizeof(float) : sizeof(double);
    for (size_t i = 0; i < c->n_inputs; i++)
        out.inputs[i] = (spx_input){
            .kind = SPX_KIND_ROWS,
            .dtype = c->dtype,
            .n = (uint32_t)c->rows_per_input,
            .d = (uint32_t)d,
            .data = (const char *)out.data + i * c->rows_per_input * d * esize,
            .t = (double)i,
            .seq = i + 1,
        };
    return out;
}

/* Parses "key=value" strings into params (storage in the caller's arrays). */
static size_t to_params(const char *const *kv, spx_param *params, char (*keys)[32],
                        char (*vals)[32])
{
    size_t n = 0;
    for (; kv[n]; n++) {
        const char *eq = strchr(kv[n], '=');
        cr_assert(eq);
        snprintf(keys[n], 32, "%.*s", (int)(eq - kv[n]), kv[n]);
        snprintf(vals[n], 32, "%s", eq + 1);
        params[n] = (spx_param){.key = keys[n], .value = vals[n]};
    }
    return n;
}

/* The integer `key` of the state saved after `split` inputs (the case is what it claims). */
static int64_t saved_int(const spx_pipeline_ops *ops, const spx_stream_info *info,
                         const spx_param *params, size_t np, const rows_data *rd, size_t split,
                         const char *key)
{
    void *st = rt_create(ops, info, params, np);
    msgpack_sbuffer sink;
    msgpack_sbuffer_init(&sink);
    rt_feed(ops, st, rd->inputs, 0, split, &sink);
    msgpack_sbuffer sb;
    rt_save(ops, st, &sb);
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    cr_assert_eq(msgpack_unpack_next(&up, sb.data, sb.size, NULL), MSGPACK_UNPACK_SUCCESS);
    const msgpack_object *v = get(&up.data, key);
    cr_assert(v->type == MSGPACK_OBJECT_POSITIVE_INTEGER ||
              v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER);
    int64_t out = v->via.i64;
    msgpack_unpacked_destroy(&up);
    msgpack_sbuffer_destroy(&sb);
    msgpack_sbuffer_destroy(&sink);
    ops->destroy(st);
    return out;
}

/* Runs the contract on one case; `want_key` (if any) must be positive in the state at the split. */
static void run_case(const rows_case *c, const char *const *kv, const char *const *want_keys)
{
    const spx_pipeline_ops *ops = spx_pipeline_kind_find("topeig");
    cr_assert(ops);
    cr_assert_eq(ops->state_version, 1);
    spx_param params[16];
    char keys[16][32], vals[16][32];
    size_t np = to_params(kv, params, keys, vals);
    spx_stream_info info = {.name = "s", .kind = SPX_KIND_ROWS, .dim = c->dim};
    rows_data rd = make_rows(c);
    for (size_t i = 0; want_keys && want_keys[i]; i++)
        cr_assert_gt(saved_int(ops, &info, params, np, &rd, c->split, want_keys[i]), 0,
                     "%s: the state at the split has no %s: the case does not test it", kv[0],
                     want_keys[i]);
    check_state_roundtrip(ops, &info, params, np, rd.inputs, c->n_inputs, c->split);
    free(rd.inputs);
    free(rd.data);
}

static void both_dtypes(rows_case c, const char *const *kv, const char *const *want_keys)
{
    c.dtype = SPX_DTYPE_F64;
    run_case(&c, kv, want_keys);
    c.dtype = SPX_DTYPE_F32;
    run_case(&c, kv, want_keys);
}

Test(state_topeig, adaoja)
{
    rows_case c = {.dim = 24, .n_inputs = 40, .rows_per_input = 13, .split = 21};
    /* Small check blocks so the ordering check has history, a reference checkpoint and an
     * unfinished block at the split. */
    const char *kv[] = {"method=adaoja", "order_block=16", NULL};
    const char *want[] = {"order_in_block", "oja_since_renorm", "order_along_n", NULL};
    both_dtypes(c, kv, want);
}

Test(state_topeig, oja_with_order_alarm)
{
    rows_case c = {.dim = 12, .n_inputs = 30, .rows_per_input = 20, .split = 17, .sorted = 1};
    const char *kv[] = {"method=oja", "order_block=16", "eta0=0.5", "t0=100", "decay=0.7", NULL};
    const char *want[] = {"order_alarm", NULL};
    both_dtypes(c, kv, want);
}

Test(state_topeig, adaoja_and_oja_mid_batch)
{
    /* 13 rows per input, batches of 8 (and 10: not a multiple of 4): the split falls inside a
     * batch, with a partial step sum pending. */
    rows_case c = {.dim = 21, .n_inputs = 30, .rows_per_input = 13, .split = 11};
    const char *want[] = {"oja_batch", NULL};
    const char *ada[] = {"method=adaoja", "batch=8", "order_block=16", NULL};
    both_dtypes(c, ada, want);
    const char *oja[] = {"method=oja", "batch=10", "t0=100", NULL};
    both_dtypes(c, oja, want);
}

Test(state_topeig, power_k1_mid_block)
{
    rows_case c = {.dim = 16, .n_inputs = 30, .rows_per_input = 9, .split = 14};
    const char *kv[] = {"method=power", "block_rows=40", NULL};
    const char *want[] = {"blk_block_rows", "blk_blocks", NULL};
    both_dtypes(c, kv, want);
}

Test(state_topeig, power_k3_rows_staged)
{
    /* p = 5: GEMM groups; 7-row inputs leave rows staged across calls. */
    rows_case c = {.dim = 20, .n_inputs = 60, .rows_per_input = 7, .split = 30};
    const char *kv[] = {"method=power", "k=3", "block_rows=100", NULL};
    const char *want[] = {"blk_staged", "blk_block_rows", "blk_blocks", NULL};
    both_dtypes(c, kv, want);
}

Test(state_topeig, fd_k3_sketch)
{
    rows_case c = {.dim = 30, .n_inputs = 40, .rows_per_input = 5, .split = 27};
    const char *kv[] = {"method=fd", "k=3", "sketch_rows=8", NULL};
    const char *want[] = {"fd_filled", NULL};
    both_dtypes(c, kv, want);
}

Test(state_topeig, fd_exact)
{
    /* sketch_rows = dim: A^T A kept exactly, with rows still in the buffer at the split. */
    rows_case c = {.dim = 10, .n_inputs = 30, .rows_per_input = 3, .split = 11};
    const char *kv[] = {"method=fd", "k=2", NULL};
    const char *want[] = {"fd_filled", "fd_exact", NULL};
    both_dtypes(c, kv, want);
}

Test(state_topeig, randorder_heavy_rows)
{
    rows_case c = {.dim = 16, .n_inputs = 40, .rows_per_input = 11, .split = 23,
                   .heavy_every = 30};
    const char *kv[] = {"method=randorder", "block_rows=48", NULL};
    const char *want[] = {"blk_n_heavy", "blk_block_rows", "blk_n_prev", NULL};
    both_dtypes(c, kv, want);
}

Test(state_topeig, randorder_k3_heavy_evicted_rows_staged)
{
    /* A small heavy store (evictions) and p = 5 (GEMM groups, rows staged at the split). */
    rows_case c = {.dim = 20, .n_inputs = 60, .rows_per_input = 7, .split = 41,
                   .heavy_every = 15};
    const char *kv[] = {"method=randorder", "k=3", "block_rows=100", "heavy_max=3", NULL};
    const char *want[] = {"blk_n_heavy", "blk_staged", "blk_block_rows", NULL};
    both_dtypes(c, kv, want);
}

Test(state_topeig, refuses_other_params)
{
    /* A state saved under one configuration is refused by an instance of another. */
    const spx_pipeline_ops *ops = spx_pipeline_kind_find("topeig");
    spx_stream_info info = {.name = "s", .kind = SPX_KIND_ROWS, .dim = 20};
    spx_param pa[] = {{"method", "power"}, {"k", "3"}};
    spx_param pb[] = {{"method", "power"}, {"k", "2"}};
    spx_param pc[] = {{"method", "fd"}, {"k", "3"}};
    void *a = rt_create(ops, &info, pa, 2);
    msgpack_sbuffer sb;
    rt_save(ops, a, &sb);
    void *others[] = {rt_create(ops, &info, pb, 2), rt_create(ops, &info, pc, 2)};
    for (size_t i = 0; i < 2; i++) {
        char err[256] = "";
        cr_assert_eq(rt_load_bytes(ops, others[i], sb.data, sb.size, err, sizeof err), -1);
        cr_assert(strstr(err, "state:"), "message: %s", err);
        ops->destroy(others[i]);
    }
    spx_stream_info wider = info;
    wider.dim = 21;
    void *w = rt_create(ops, &wider, pa, 2);
    char err[256] = "";
    cr_assert_eq(rt_load_bytes(ops, w, sb.data, sb.size, err, sizeof err), -1);
    cr_assert(strstr(err, "dim"), "message: %s", err);
    ops->destroy(w);
    ops->destroy(a);
    msgpack_sbuffer_destroy(&sb);
}

/* The save of `st` with integer `key` set to `value` (or bin `key` zeroed when zero_bin). */
static void pack_with(void *buf, size_t len, const char *key, uint64_t value, int zero_bin,
                      msgpack_sbuffer *out)
{
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    cr_assert_eq(msgpack_unpack_next(&up, buf, len, NULL), MSGPACK_UNPACK_SUCCESS);
    msgpack_sbuffer_init(out);
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, msgpack_sbuffer_write);
    const msgpack_object *m = &up.data;
    msgpack_pack_map(&pk, m->via.map.size);
    int found = 0;
    for (uint32_t i = 0; i < m->via.map.size; i++) {
        const msgpack_object_kv *kv = &m->via.map.ptr[i];
        msgpack_pack_object(&pk, kv->key);
        if (str_is(&kv->key, key)) {
            found = 1;
            if (zero_bin) {
                cr_assert_eq(kv->val.type, MSGPACK_OBJECT_BIN);
                char *z = calloc(1, kv->val.via.bin.size);
                msgpack_pack_bin(&pk, kv->val.via.bin.size);
                msgpack_pack_bin_body(&pk, z, kv->val.via.bin.size);
                free(z);
            } else {
                msgpack_pack_uint64(&pk, value);
            }
        } else {
            msgpack_pack_object(&pk, kv->val);
        }
    }
    cr_assert(found, "no key %s in the save", key);
    msgpack_unpacked_destroy(&up);
}

typedef struct bad_value {
    const char *key;
    uint64_t value;
    int zero_bin;
} bad_value;

/* Feeds `n_inputs` of a case, saves, and checks that each altered save is refused with a message
 * naming the key (or the relation) and that the unaltered save still loads. */
static void check_refused(const rows_case *c, const char *const *kv, const bad_value *bad,
                          size_t n_bad)
{
    const spx_pipeline_ops *ops = spx_pipeline_kind_find("topeig");
    spx_param params[16];
    char keys[16][32], vals[16][32];
    size_t np = to_params(kv, params, keys, vals);
    spx_stream_info info = {.name = "s", .kind = SPX_KIND_ROWS, .dim = c->dim};
    rows_data rd = make_rows(c);
    void *st = rt_create(ops, &info, params, np);
    msgpack_sbuffer sink, sb;
    msgpack_sbuffer_init(&sink);
    rt_feed(ops, st, rd.inputs, 0, c->n_inputs, &sink);
    rt_save(ops, st, &sb);
    for (size_t i = 0; i < n_bad; i++) {
        msgpack_sbuffer alt;
        pack_with(sb.data, sb.size, bad[i].key, bad[i].value, bad[i].zero_bin, &alt);
        void *fresh = rt_create(ops, &info, params, np);
        char err[256] = "";
        cr_assert_eq(rt_load_bytes(ops, fresh, alt.data, alt.size, err, sizeof err), -1,
                     "%s = %llu accepted", bad[i].key, (unsigned long long)bad[i].value);
        cr_assert(strstr(err, "state:"), "message for %s: %s", bad[i].key, err);
        ops->destroy(fresh);
        msgpack_sbuffer_destroy(&alt);
    }
    void *fresh = rt_create(ops, &info, params, np);
    char err[256] = "";
    cr_assert_eq(rt_load_bytes(ops, fresh, sb.data, sb.size, err, sizeof err), 0, "%s", err);
    ops->destroy(fresh);
    ops->destroy(st);
    msgpack_sbuffer_destroy(&sb);
    msgpack_sbuffer_destroy(&sink);
    free(rd.inputs);
    free(rd.data);
}

Test(state_topeig, refuses_out_of_range_values)
{
    rows_case blk = {.dim = 20, .n_inputs = 41, .rows_per_input = 7, .heavy_every = 15,
                     .dtype = SPX_DTYPE_F64};
    const char *kv_blk[] = {"method=randorder", "k=3", "block_rows=100", "heavy_max=3", NULL};
    const bad_value bad_blk[] = {
        {"blk_staged", 64, 0},             /* a group holds 64 rows at d = 20 */
        {"blk_staged", 1u << 30, 0},
        {"blk_n_heavy", 4, 0},             /* heavy_max = 3 */
        {"blk_block_rows", 100, 0},        /* not below the block target */
        {"blk_block_target", 99, 0},       /* below the first block */
        {"blk_next_restart", 3, 0},        /* not a power of two */
        {"blk_n_cur", 1000, 0},            /* more than the blocks done */
        {"order_in_block", 1u << 20, 0},
        {"order_energy_cnt", 0, 0},        /* not the rows of the check block */
        {"order_alarm", 5, 0},
        {"marked", 2, 0},
        {"mark_rows", 1u << 30, 0},        /* beyond the rows seen */
        {"rng", 0, 1},                     /* the generator's all-zero state */
    };
    check_refused(&blk, kv_blk, bad_blk, sizeof bad_blk / sizeof bad_blk[0]);

    rows_case fd = {.dim = 30, .n_inputs = 7, .rows_per_input = 5, .dtype = SPX_DTYPE_F32};
    const char *kv_fd[] = {"method=fd", "k=3", "sketch_rows=8", NULL};
    const bad_value bad_fd[] = {
        {"fd_filled", 16, 0},              /* the buffer holds 2 x 8 rows */
        {"fd_sketch_rows", 9, 0},
        {"fd_exact", 1, 0},
        {"dim", 31, 0},
        {"method", 2, 0},
    };
    check_refused(&fd, kv_fd, bad_fd, sizeof bad_fd / sizeof bad_fd[0]);

    rows_case oja = {.dim = 12, .n_inputs = 10, .rows_per_input = 7, .dtype = SPX_DTYPE_F64};
    const char *kv_oja[] = {"method=oja", NULL};
    const bad_value bad_oja[] = {{"oja_since_renorm", 256, 0}, {"k", 2, 0}};
    check_refused(&oja, kv_oja, bad_oja, 2);
}
