/* Adapter: the `topeig` pipeline (online top eigenvector(s) of A^T A) on a rows stream. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "pipeline_kind.h"
#include "topeig.h"

static int parse_method(const spx_param *p, spx_topeig_method *out, char *err, size_t errlen)
{
    static const struct { const char *name; spx_topeig_method method; } methods[] = {
        {"adaoja", SPX_TOPEIG_ADAOJA},
        {"oja", SPX_TOPEIG_OJA},
    };
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
        if (strcmp(p->value, methods[i].name) == 0) {
            *out = methods[i].method;
            return 0;
        }
    snprintf(err, errlen, "method=%s: unknown (adaoja, oja)", p->value);
    return -1;
}

static int topeig_create(void **state, const spx_stream_info *stream, const spx_param *params,
                         size_t n_params, char *err, size_t errlen)
{
    spx_topeig_params tp;
    spx_topeig_params_default(&tp, stream->dim);
    for (size_t i = 0; i < n_params; i++) {
        const spx_param *p = &params[i];
        uint64_t u;
        int rc;
        if (strcmp(p->key, "method") == 0)
            rc = parse_method(p, &tp.method, err, errlen);
        else if (strcmp(p->key, "eta0") == 0)
            rc = spx_param_double(p, 1e-12, 1e12, &tp.eta0, err, errlen);
        else if (strcmp(p->key, "t0") == 0)
            rc = spx_param_double(p, 1e-12, 1e15, &tp.t0, err, errlen);
        else if (strcmp(p->key, "decay") == 0)
            rc = spx_param_double(p, 0.0, 1.0, &tp.decay, err, errlen);
        else if (strcmp(p->key, "b0") == 0)
            rc = spx_param_double(p, 1e-300, 1e300, &tp.b0, err, errlen);
        else if (strcmp(p->key, "seed") == 0) {
            rc = spx_param_uint(p, 0, UINT64_MAX, &u, err, errlen);
            tp.seed = u;
        } else {
            snprintf(err, errlen, "unknown parameter %s (method, eta0, t0, decay, b0, seed)",
                     p->key);
            rc = -1;
        }
        if (rc != 0)
            return -1;
    }
    spx_topeig *t;
    int rc = spx_topeig_create(&t, &tp);
    if (rc != 0) {
        snprintf(err, errlen, "topeig: %s", strerror(-rc));
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
    msgpack_pack_map(pk, 5);
    size_t shape[2] = {r.k, r.dim};
    spx_pack_cstr(pk, "vector");
    if (r.k == 1)
        spx_pack_ndarray_f64(pk, r.vector, 1, &shape[1]);
    else
        spx_pack_ndarray_f64(pk, r.vector, 2, shape);
    spx_pack_key_double(pk, "eigenvalue", r.eigenvalues[0]);
    spx_pack_cstr(pk, "eigenvalues");
    spx_pack_ndarray_f64(pk, r.eigenvalues, 1, &shape[0]);
    spx_pack_key_uint(pk, "rows_seen", r.rows_seen);
    spx_pack_key_double(pk, "frobenius", r.frobenius);
    return 0;
}

static void topeig_destroy(void *state) { spx_topeig_free(state); }

const spx_pipeline_ops spx_topeig_ops = {
    .algo = "topeig",
    .summary = "online top eigenvector of A^T A from a row stream (AdaOja by default)",
    .kinds = SPX_KIND_ROWS,
    .create = topeig_create,
    .update = topeig_update,
    .result = topeig_result,
    .destroy = topeig_destroy,
};
