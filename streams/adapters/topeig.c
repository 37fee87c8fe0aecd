/* Adapter: the `topeig` pipeline (online top eigenvector(s) of A^T A) on a rows stream. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "pipeline_kind.h"
#include "state_codec.h"
#include "topeig.h"

static const char *const param_names =
    "method, k, eta0, t0, decay, b0, seed, block_rows, block_growth, oversample, sketch_rows, "
    "heavy_factor, heavy_max, order_block, order_z, batch";

/* Reads one size parameter into a size_t field. */
static int param_size(const spx_param *p, uint64_t lo, uint64_t hi, size_t *out, char *err,
                      size_t errlen)
{
    uint64_t u;
    if (spx_param_uint(p, lo, hi, &u, err, errlen) != 0)
        return -1;
    *out = (size_t)u;
    return 0;
}

static int parse_param(spx_topeig_params *tp, const spx_param *p, char *err, size_t errlen)
{
    const char *k = p->key;
    if (!strcmp(k, "method")) {
        int m = spx_topeig_method_parse(p->value);
        if (m < 0) {
            snprintf(err, errlen, "method=%s: unknown (adaoja, oja, power, fd, randorder)", p->value);
            return -1;
        }
        tp->method = (spx_topeig_method)m;
        return 0;
    }
    if (!strcmp(k, "k")) return param_size(p, 1, 4096, &tp->k, err, errlen);
    if (!strcmp(k, "eta0")) return spx_param_double(p, 1e-12, 1e12, &tp->eta0, err, errlen);
    if (!strcmp(k, "t0")) return spx_param_double(p, 1e-12, 1e15, &tp->t0, err, errlen);
    if (!strcmp(k, "decay")) return spx_param_double(p, 0.0, 1.0, &tp->decay, err, errlen);
    if (!strcmp(k, "b0")) return spx_param_double(p, 1e-300, 1e300, &tp->b0, err, errlen);
    if (!strcmp(k, "seed")) return spx_param_uint(p, 0, UINT64_MAX, &tp->seed, err, errlen);
    if (!strcmp(k, "block_rows")) return param_size(p, 0, 1ULL << 40, &tp->block_rows, err, errlen);
    if (!strcmp(k, "block_growth")) {
        if (spx_param_double(p, 0.0, 64.0, &tp->block_growth, err, errlen) != 0)
            return -1;
        if (tp->block_growth != 0.0 && tp->block_growth < 1.0) {
            snprintf(err, errlen, "block_growth=%s: 0 (auto) or >= 1", p->value);
            return -1;
        }
        return 0;
    }
    if (!strcmp(k, "oversample")) return param_size(p, 0, 4096, &tp->oversample, err, errlen);
    if (!strcmp(k, "sketch_rows")) return param_size(p, 0, 1u << 20, &tp->sketch_rows, err, errlen);
    if (!strcmp(k, "heavy_factor"))
        return spx_param_double(p, 1e-6, 1e6, &tp->heavy_factor, err, errlen);
    if (!strcmp(k, "heavy_max")) return param_size(p, 0, 1u << 24, &tp->heavy_max, err, errlen);
    if (!strcmp(k, "order_block")) return param_size(p, 0, 1ULL << 40, &tp->order_block, err, errlen);
    if (!strcmp(k, "order_z")) return spx_param_double(p, 1e-3, 1e6, &tp->order_z, err, errlen);
    if (!strcmp(k, "batch")) return param_size(p, 1, SPX_TOPEIG_BATCH_MAX, &tp->batch, err, errlen);
    snprintf(err, errlen, "unknown parameter %s (%s)", k, param_names);
    return -1;
}

static int topeig_create(void **state, const spx_stream_info *stream, const spx_param *params,
                         size_t n_params, char *err, size_t errlen)
{
    spx_topeig_params tp;
    spx_topeig_params_default(&tp, stream->dim);
    for (size_t i = 0; i < n_params; i++)
        if (parse_param(&tp, &params[i], err, errlen) != 0)
            return -1;
    if (tp.method == SPX_TOPEIG_FD) {
        /* The sketch holds 2 l rows of d doubles: refuse what would not fit in 1 GiB. */
        size_t l = tp.sketch_rows ? tp.sketch_rows : (tp.dim < 128 ? tp.dim : 128);
        if ((double)l * 2.0 * (double)tp.dim * 8.0 > (double)(1u << 30)) {
            snprintf(err, errlen, "fd: sketch_rows x dim too large (a 2 x %zu x %zu sketch)", l,
                     tp.dim);
            return -1;
        }
    }
    const char *problem = spx_topeig_params_problem(&tp);
    spx_topeig *t;
    int rc = problem ? -EINVAL : spx_topeig_create(&t, &tp);
    if (rc != 0) {
        snprintf(err, errlen, "topeig (%s, k=%zu, dim=%zu): %s", spx_topeig_method_name(tp.method),
                 tp.k, tp.dim, problem ? problem : strerror(-rc));
        return -1;
    }
    *state = t;
    return 0;
}

static int topeig_update(void *state, const spx_input *in, char *err, size_t errlen)
{
    int rc = in->dtype == SPX_DTYPE_F32 ? spx_topeig_update_f32(state, in->data, in->n)
                                        : spx_topeig_update_f64(state, in->data, in->n);
    if (rc != 0)
        snprintf(err, errlen, "topeig update: %s", strerror(-rc));
    return rc;
}

static int topeig_result(void *state, msgpack_packer *pk)
{
    spx_topeig_result r;
    spx_topeig_result_get(state, &r);
    msgpack_pack_map(pk, 13);
    size_t shape[2] = {r.k, r.dim};
    spx_pack_key_cstr(pk, "method", spx_topeig_method_name(r.method));
    spx_pack_cstr(pk, "vector");                 /* the top eigenvector; all k in `vectors` */
    spx_pack_ndarray_f64(pk, r.vector, 1, &shape[1]);
    spx_pack_cstr(pk, "vectors");
    spx_pack_ndarray_f64(pk, r.vector, 2, shape);
    spx_pack_key_double(pk, "eigenvalue", r.eigenvalues[0]);
    spx_pack_cstr(pk, "eigenvalues");
    spx_pack_ndarray_f64(pk, r.eigenvalues, 1, &shape[0]);
    spx_pack_key_uint(pk, "rows_seen", r.rows_seen);
    spx_pack_key_double(pk, "frobenius", r.frobenius);
    spx_pack_key_double(pk, "gap", r.gap);
    spx_pack_key_uint(pk, "heavy_rows", r.heavy_rows);
    spx_pack_key_double(pk, "shrink", r.shrink);
    /* Change since the previous published result: mark after packing. */
    spx_pack_key_double(pk, "change", r.change);
    spx_pack_key_bool(pk, "order_alarm", r.order_alarm != 0);
    spx_pack_key_cstr(pk, "order_reason", r.order_reason ? r.order_reason : "");
    spx_topeig_mark(state);
    return 0;
}

static void topeig_destroy(void *state) { spx_topeig_free(state); }

/* Durable state: the estimator's own list of scalars and arrays (topeig.h), one map key each, so a
 * damaged snapshot is refused naming the key. Empty arrays (no rows staged, none held) are left
 * out: their length follows from the scalars, and an absent key is as clear as an empty bin. */
static size_t nonempty_arrays(const spx_topeig_state_array *ar, size_t na)
{
    size_t n = 0;
    for (size_t i = 0; i < na; i++)
        n += ar[i].n > 0;
    return n;
}

static int topeig_save(void *state, msgpack_packer *pk, char *err, size_t errlen)
{
    spx_topeig_state_scalar sc[SPX_TOPEIG_STATE_MAX];
    spx_topeig_state_array ar[SPX_TOPEIG_STATE_MAX];
    size_t ns = spx_topeig_state_scalars(state, sc);
    size_t na = spx_topeig_state_arrays(state, ar);
    for (size_t i = 0; i < na; i++)
        if (ar[i].n > UINT32_MAX / 8) { /* a msgpack bin holds < 4 GiB */
            snprintf(err, errlen, "topeig save: %s too large (%zu values)", ar[i].name, ar[i].n);
            return -1;
        }
    msgpack_pack_map(pk, (uint32_t)(ns + nonempty_arrays(ar, na)));
    for (size_t i = 0; i < ns; i++) {
        switch (sc[i].type) {
        case SPX_TOPEIG_U64: spx_state_pack_u64(pk, sc[i].name, sc[i].v.u); break;
        case SPX_TOPEIG_I64: spx_state_pack_i64(pk, sc[i].name, sc[i].v.i); break;
        case SPX_TOPEIG_F64: spx_state_pack_f64(pk, sc[i].name, sc[i].v.f); break;
        }
    }
    for (size_t i = 0; i < na; i++) {
        if (ar[i].n == 0)
            continue;
        if (ar[i].type == SPX_TOPEIG_U64)
            spx_state_pack_u64s(pk, ar[i].name, ar[i].data, ar[i].n);
        else
            spx_state_pack_f64s(pk, ar[i].name, ar[i].data, ar[i].n);
    }
    return 0;
}

static int topeig_load(void *state, const msgpack_object *saved, char *err, size_t errlen)
{
    if (!saved || saved->type != MSGPACK_OBJECT_MAP) {
        snprintf(err, errlen, "state: not a map");
        return -1;
    }
    spx_topeig_state_scalar sc[SPX_TOPEIG_STATE_MAX];
    spx_topeig_state_array ar[SPX_TOPEIG_STATE_MAX];
    size_t ns = spx_topeig_state_scalars(state, sc);
    /* The scalars first: they fix the arrays' lengths. */
    for (size_t i = 0; i < ns; i++) {
        int rc = 0;
        const char *key = sc[i].name;
        switch (sc[i].type) {
        case SPX_TOPEIG_U64: rc = spx_state_read_u64(saved, key, &sc[i].v.u, err, errlen); break;
        case SPX_TOPEIG_I64: rc = spx_state_read_i64(saved, key, &sc[i].v.i, err, errlen); break;
        case SPX_TOPEIG_F64: rc = spx_state_read_f64(saved, key, &sc[i].v.f, err, errlen); break;
        }
        if (rc != 0)
            return -1;
    }
    char why[200] = "";
    if (spx_topeig_state_set_scalars(state, sc, ns, why, sizeof why) != 0) {
        snprintf(err, errlen, "state: %s", why);
        return -1;
    }
    size_t na = spx_topeig_state_arrays(state, ar);
    for (size_t i = 0; i < na; i++) {
        if (ar[i].n == 0)
            continue;
        int rc = ar[i].type == SPX_TOPEIG_U64
                     ? spx_state_read_u64s(saved, ar[i].name, ar[i].data, ar[i].n, err, errlen)
                     : spx_state_read_f64s(saved, ar[i].name, ar[i].data, ar[i].n, err, errlen);
        if (rc != 0)
            return -1;
    }
    /* Every expected key was found: more keys means one that does not belong (e.g. rows in a
     * buffer the scalars say is empty). */
    size_t keys = ns + nonempty_arrays(ar, na);
    if (saved->via.map.size != keys) {
        snprintf(err, errlen, "state: %u keys, expected %zu", saved->via.map.size, keys);
        return -1;
    }
    if (spx_topeig_state_check(state, why, sizeof why) != 0) {
        snprintf(err, errlen, "state: %s", why);
        return -1;
    }
    return 0;
}

const spx_pipeline_ops spx_topeig_ops = {
    .algo = "topeig",
    .summary = "online top eigenvector(s) of A^T A from a row stream (adaoja, oja, power, fd, "
               "randorder)",
    .kinds = SPX_KIND_ROWS,
    .create = topeig_create,
    .update = topeig_update,
    .result = topeig_result,
    .destroy = topeig_destroy,
    .save = topeig_save,
    .load = topeig_load,
    .state_version = 1,
};
