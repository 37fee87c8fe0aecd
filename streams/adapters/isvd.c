/* Adapter: the `isvd` pipeline (incremental truncated SVD, algorithms/isvd.h) on a blocks stream.
 *
 * Each block (m rows = the stream's dim, n columns) is appended to M = [A_1, A_2, ...]. The result
 * carries the top `rank` singular values and the error accounting; the left singular vectors are
 * the detail "left_vectors" (m x rank values: too many to publish with every block). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "isvd.h"
#include "pipeline_kind.h"
#include "state_codec.h"

/* A state whose fixed buffers would exceed this is refused at create: a clear bad_param rather
 * than an allocation that overcommit grants and the OOM killer later collects. */
#define ISVD_STATE_MAX_BYTES ((double)(4ull << 30))

typedef struct isvd_adapter {
    spx_isvd *isvd;
    size_t rows, rank;
    double forget;
    double *u;                 /* rows x rank, row-major: the left_vectors reply, allocated once */
} isvd_adapter;

static void isvd_destroy(void *state)
{
    isvd_adapter *a = state;
    if (!a)
        return;
    spx_isvd_free(a->isvd);
    free(a->u);
    free(a);
}

/* Doubles held by spx_isvd_create's buffers and workspace (isvd.c), roughly. */
static double isvd_state_bytes(const spx_isvd_params *p)
{
    double m = (double)p->rows, n = (double)p->chunk_cols;
    double q = (double)(p->rank + p->oversample < p->rows ? p->rank + p->oversample : p->rows);
    double nc = q + n;
    return 8.0 * (4.0 * m * q + 3.0 * m * n + 2.0 * q * n + 5.0 * n * n + nc * nc + nc * q +
                  m * (double)p->rank);
}

static int isvd_create(void **state, const spx_stream_info *stream, const spx_param *params,
                       size_t n_params, char *err, size_t errlen)
{
    size_t m = stream->dim;
    spx_isvd_params ip;
    spx_isvd_params_default(&ip, m, m < 10 ? m : 10);
    if (ip.oversample > m)     /* the default 5 is more than a tiny stream has */
        ip.oversample = m;
    for (size_t i = 0; i < n_params; i++) {
        const spx_param *p = &params[i];
        uint64_t u = 0;
        int rc;
        if (strcmp(p->key, "rank") == 0) {
            rc = spx_param_uint(p, 1, m, &u, err, errlen);
            ip.rank = (size_t)u;
        } else if (strcmp(p->key, "oversample") == 0) {
            rc = spx_param_uint(p, 0, m, &u, err, errlen);
            ip.oversample = (size_t)u;
        } else if (strcmp(p->key, "chunk_cols") == 0) {
            rc = spx_param_uint(p, 1, 4096, &u, err, errlen);
            ip.chunk_cols = (size_t)u;
        } else if (strcmp(p->key, "forget") == 0) {
            rc = spx_param_double(p, 0.0, 1.0, &ip.forget, err, errlen);
            if (rc == 0 && !(ip.forget > 0.0)) {
                snprintf(err, errlen, "forget=%s: must be in (0, 1]", p->value);
                rc = -1;
            }
        } else if (strcmp(p->key, "reorth_every") == 0) {
            rc = spx_param_uint(p, 0, UINT64_MAX, &u, err, errlen);
            ip.reorth_every = u;
        } else if (strcmp(p->key, "rank_tol") == 0) {
            rc = spx_param_double(p, 0.0, 1e-3, &ip.rank_tol, err, errlen);
        } else if (strcmp(p->key, "rows") == 0) {
            snprintf(err, errlen, "rows is the stream's dim (m = %zu), not a parameter", m);
            rc = -1;
        } else {
            snprintf(err, errlen,
                     "unknown parameter %s (rank, oversample, chunk_cols, forget, reorth_every, "
                     "rank_tol)",
                     p->key);
            rc = -1;
        }
        if (rc != 0)
            return -1;
    }
    double bytes = isvd_state_bytes(&ip);
    if (bytes > ISVD_STATE_MAX_BYTES) {
        snprintf(err, errlen, "isvd: m = %zu, rank = %zu, chunk_cols = %zu would need %.1f GiB "
                 "(limit %.0f GiB)", m, ip.rank, ip.chunk_cols, bytes / (1u << 30),
                 ISVD_STATE_MAX_BYTES / (1u << 30));
        return -1;
    }
    isvd_adapter *a = calloc(1, sizeof *a);
    if (!a || !(a->u = malloc(m * ip.rank * sizeof *a->u))) {
        isvd_destroy(a);
        snprintf(err, errlen, "isvd: out of memory");
        return -1;
    }
    int rc = spx_isvd_create(&a->isvd, &ip);
    if (rc != 0) {
        isvd_destroy(a);
        snprintf(err, errlen, "isvd: %s", strerror(-rc));
        return -1;
    }
    a->rows = m;
    a->rank = ip.rank;
    a->forget = ip.forget;
    *state = a;
    return 0;
}

static int isvd_update(void *state, const spx_input *in, char *err, size_t errlen)
{
    isvd_adapter *a = state;
    if (in->d == 0) {
        if (in->end)           /* a bare end-of-stream marker: nothing to append */
            return 0;
        snprintf(err, errlen, "isvd: block '%s' has no columns", in->block_id);
        return -1;
    }
    if (in->n != a->rows) {
        snprintf(err, errlen, "isvd: block '%s' has %" PRIu32 " rows, the stream has %zu",
                 in->block_id, in->n, a->rows);
        return -1;
    }
    spx_isvd_layout layout =
        in->dtype == SPX_DTYPE_F32 ? SPX_ISVD_ROWMAJOR_F32 : SPX_ISVD_ROWMAJOR_F64;
    int rc = spx_isvd_update(a->isvd, in->data, in->d, layout);
    if (rc != 0) {
        snprintf(err, errlen, "isvd: block '%s': %s", in->block_id,
                 rc == -EIO ? "LAPACK did not converge" : strerror(-rc));
        return -1;
    }
    return 0;
}

static int isvd_result(void *state, msgpack_packer *pk)
{
    isvd_adapter *a = state;
    spx_isvd_result r;
    spx_isvd_result_get(a->isvd, &r);
    msgpack_pack_map(pk, 13);
    spx_pack_cstr(pk, "singular_values");
    spx_pack_ndarray_f64(pk, r.sigma, 1, &r.rank);
    spx_pack_key_uint(pk, "rank", r.rank);
    spx_pack_key_uint(pk, "rows", r.rows);
    spx_pack_key_uint(pk, "tracked", r.tracked);
    spx_pack_key_uint(pk, "capacity", r.capacity);
    spx_pack_key_uint(pk, "updates", r.updates);
    spx_pack_key_uint(pk, "columns", r.columns);
    spx_pack_key_double(pk, "energy", r.energy);
    spx_pack_key_double(pk, "discarded", r.discarded);
    spx_pack_key_double(pk, "tail_energy", r.tail_energy);
    spx_pack_key_double(pk, "rel_error", r.rel_error);
    spx_pack_key_double(pk, "orth_error", r.orth_error);
    spx_pack_key_double(pk, "forget", a->forget);
    return 0;
}

static spx_errcode isvd_command(void *state, const char *name, const msgpack_object *args,
                                msgpack_packer *pk, char *err, size_t errlen)
{
    isvd_adapter *a = state;
    if (strcmp(name, "left_vectors") != 0)
        return SPX_E_UNKNOWN_OP;
    if (args && args->type == MSGPACK_OBJECT_MAP && args->via.map.size > 0) {
        snprintf(err, errlen, "left_vectors takes no arguments");
        return SPX_E_BAD_PARAM;
    }
    spx_isvd_result r;
    spx_isvd_result_get(a->isvd, &r);
    spx_isvd_left_vectors(a->isvd, a->u, 1);
    size_t shape[2] = {a->rows, a->rank};
    msgpack_pack_map(pk, 5);
    spx_pack_cstr(pk, "u");
    spx_pack_ndarray_f64(pk, a->u, 2, shape);
    spx_pack_cstr(pk, "singular_values");
    spx_pack_ndarray_f64(pk, r.sigma, 1, &r.rank);
    spx_pack_key_uint(pk, "tracked", r.tracked);
    spx_pack_key_uint(pk, "updates", r.updates);
    spx_pack_key_double(pk, "rel_error", r.rel_error);
    return SPX_OK;
}

/* ---- durable state ---------------------------------------------------------------------------- */

static int isvd_save(void *state, msgpack_packer *pk, char *err, size_t errlen)
{
    isvd_adapter *a = state;
    spx_isvd_snapshot sn;
    spx_isvd_snapshot_get(a->isvd, &sn);
    msgpack_pack_map(pk, 11);
    spx_state_pack_u64(pk, "rows", sn.rows);
    spx_state_pack_u64(pk, "capacity", sn.capacity);
    spx_state_pack_u64(pk, "tracked", sn.tracked);
    spx_state_pack_f64s(pk, "u", sn.u, sn.rows * sn.tracked);
    spx_state_pack_f64s(pk, "s", sn.s, sn.capacity);
    spx_state_pack_f64(pk, "energy", sn.energy);
    spx_state_pack_f64(pk, "discarded", sn.discarded);
    spx_state_pack_f64(pk, "orth_error", sn.orth_error);
    spx_state_pack_u64(pk, "updates", sn.updates);
    spx_state_pack_u64(pk, "columns", sn.columns);
    spx_state_pack_u64(pk, "since_reorth", sn.since_reorth);
    return 0;
}

static int isvd_load(void *state, const msgpack_object *saved, char *err, size_t errlen)
{
    isvd_adapter *a = state;
    spx_isvd_snapshot want;
    spx_isvd_snapshot_get(a->isvd, &want);
    uint64_t rows, capacity, tracked;
    spx_isvd_snapshot sn = {0};
    if (spx_state_read_range(saved, "rows", want.rows, want.rows, &rows, err, errlen) ||
        spx_state_read_range(saved, "capacity", want.capacity, want.capacity, &capacity, err,
                             errlen) ||
        spx_state_read_range(saved, "tracked", 0, want.capacity, &tracked, err, errlen) ||
        spx_state_read_f64(saved, "energy", &sn.energy, err, errlen) ||
        spx_state_read_f64(saved, "discarded", &sn.discarded, err, errlen) ||
        spx_state_read_f64(saved, "orth_error", &sn.orth_error, err, errlen) ||
        spx_state_read_u64(saved, "updates", &sn.updates, err, errlen) ||
        spx_state_read_u64(saved, "columns", &sn.columns, err, errlen) ||
        spx_state_read_u64(saved, "since_reorth", &sn.since_reorth, err, errlen))
        return -1;
    sn.rows = (size_t)rows;
    sn.capacity = (size_t)capacity;
    sn.tracked = (size_t)tracked;
    double *u = malloc((sn.rows * sn.tracked + sn.capacity) * sizeof *u);
    if (!u) {
        snprintf(err, errlen, "isvd: out of memory");
        return -1;
    }
    double *s = u + sn.rows * sn.tracked;
    int rc = -1;
    if (spx_state_read_f64s(saved, "u", u, sn.rows * sn.tracked, err, errlen) == 0 &&
        spx_state_read_f64s(saved, "s", s, sn.capacity, err, errlen) == 0) {
        sn.u = u;
        sn.s = s;
        const char *why = "";
        rc = spx_isvd_snapshot_set(a->isvd, &sn, &why) == 0 ? 0 : -1;
        if (rc)
            snprintf(err, errlen, "state: %s", why);
    }
    free(u);
    return rc;
}

const spx_pipeline_ops spx_isvd_ops = {
    .algo = "isvd",
    .summary = "incremental truncated SVD of a stream of column blocks (Brand), left vectors on get",
    .kinds = SPX_KIND_BLOCKS,
    .create = isvd_create,
    .update = isvd_update,
    .result = isvd_result,
    .destroy = isvd_destroy,
    .command = isvd_command,
    .commands = "left_vectors",
    .save = isvd_save,
    .load = isvd_load,
    .state_version = 1,
};
