/* Adapter: the `topeig` pipeline (online top eigenvector(s) of A^T A) on a rows stream. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "pipeline_kind.h"
#include "topeig.h"

static const char *const param_names =
    "method, k, eta0, t0, decay, b0, seed, block_rows, block_growth, oversample, sketch_rows, "
    "heavy_factor, heavy_max, order_block, order_z";

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
    spx_topeig *t;
    int rc = spx_topeig_create(&t, &tp);
    if (rc != 0) {
        snprintf(err, errlen, "topeig (%s, k=%zu, dim=%zu): %s", spx_topeig_method_name(tp.method),
                 tp.k, tp.dim,
                 rc == -EINVAL ? "parameters out of range (k must be 1 for adaoja/oja; k + "
                                 "oversample <= dim for power/randorder)"
                               : strerror(-rc));
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

const spx_pipeline_ops spx_topeig_ops = {
    .algo = "topeig",
    .summary = "online top eigenvector(s) of A^T A from a row stream (adaoja, oja, power, fd, "
               "randorder)",
    .kinds = SPX_KIND_ROWS,
    .create = topeig_create,
    .update = topeig_update,
    .result = topeig_result,
    .destroy = topeig_destroy,
};
