/* Adapter: the `svdcluster` pipeline (error-constrained clustering of matrix blocks,
 * algorithms/svdcluster.h) on a blocks stream.
 *
 * Online: every block joins the best open group or opens one; the result published after a block
 * carries its assignment. Batch: `call recluster` (or an input with end=1) re-clusters the retained
 * blocks with maxnorm/residual/approx. Details: "groups" (a whole partition with block ids and
 * bounds) and "factors" (U_r, S_r and every block's coefficients of one group).
 *
 * The algorithm numbers blocks by arrival (0, 1, ...); the wire ids are kept here in a table indexed
 * by that number, grown by amortised doubling like the algorithm's own per-block records, and
 * reserved before a block is applied so that a refused block changes nothing. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline_kind.h"
#include "state_codec.h"
#include "svdcluster.h"

/* A state whose fixed buffers would exceed this is refused at create (see isvd.c). */
#define SVDC_STATE_MAX_BYTES ((double)(4ull << 30))

typedef struct block_rec {
    uint64_t id_at;            /* offset of the id in the arena */
    uint32_t cols;
    uint8_t id_len;            /* ids are 1..SPX_LABEL_MAX bytes */
} block_rec;

typedef struct svdc_adapter {
    spx_svdcluster *c;
    spx_svdcluster_params p;
    block_rec *rec;            /* by arrival index */
    size_t nblocks, cap_rec;
    char *ids;                 /* the ids back to back, no terminators */
    size_t ids_len, cap_ids;
    uint64_t ngroups;          /* online groups opened */
    bool have_last;            /* the newest input added a block */
    spx_svdcluster_assignment last;
    /* the newest batch partition of the retained blocks */
    bool have_batch;
    spx_svdcluster_groups batch;
    spx_svdcluster_method batch_method;
    double batch_compression;
    char batch_error[160];     /* a re-clustering at end of stream that failed, else "" */
} svdc_adapter;

static void svdc_destroy(void *state)
{
    svdc_adapter *a = state;
    if (!a)
        return;
    spx_svdcluster_free(a->c);
    spx_svdcluster_groups_free(&a->batch);
    free(a->rec);
    free(a->ids);
    free(a);
}

static double svdc_state_bytes(const spx_svdcluster_params *p)
{
    double m = (double)p->rows, n = (double)p->max_cols, open = (double)p->max_open;
    double q = (double)(p->rank + p->oversample < p->rows ? p->rank + p->oversample : p->rows);
    double nc = q + n;
    return 8.0 * (m * q * (open + 1.0) + q * open * n + 4.0 * m * n + 2.0 * m * q +
                  6.0 * n * n + nc * nc + nc * q);
}

static int svdc_create(void **state, const spx_stream_info *stream, const spx_param *params,
                       size_t n_params, char *err, size_t errlen)
{
    size_t m = stream->dim;
    spx_svdcluster_params sp;
    spx_svdcluster_params_default(&sp, m);
    if (sp.oversample > m)     /* the default 5 is more than a tiny stream has */
        sp.oversample = m;
    for (size_t i = 0; i < n_params; i++) {
        const spx_param *p = &params[i];
        uint64_t u = 0;
        int rc;
        if (strcmp(p->key, "rank") == 0) {
            rc = spx_param_uint(p, 1, m, &u, err, errlen);
            sp.rank = (size_t)u;
        } else if (strcmp(p->key, "eps") == 0) {
            rc = spx_param_double(p, 0.0, 1.0, &sp.eps, err, errlen);
            if (rc == 0 && !(sp.eps > 0.0 && sp.eps < 1.0)) {
                snprintf(err, errlen, "eps=%s: must be in (0, 1)", p->value);
                rc = -1;
            }
        } else if (strcmp(p->key, "oversample") == 0) {
            rc = spx_param_uint(p, 0, m, &u, err, errlen);
            sp.oversample = (size_t)u;
        } else if (strcmp(p->key, "patience") == 0) {
            rc = spx_param_uint(p, 0, SIZE_MAX, &u, err, errlen);
            sp.patience = (size_t)u;
        } else if (strcmp(p->key, "method") == 0) {
            rc = spx_svdcluster_method_parse(p->value, &sp.method);
            if (rc != 0)
                snprintf(err, errlen, "method=%s: unknown (approx, residual, maxnorm)", p->value);
        } else if (strcmp(p->key, "max_open") == 0) {
            rc = spx_param_uint(p, 1, 100000, &u, err, errlen);
            sp.max_open = (size_t)u;
        } else if (strcmp(p->key, "max_cols") == 0) {
            rc = spx_param_uint(p, 1, 4096, &u, err, errlen);
            sp.max_cols = (size_t)u;
        } else if (strcmp(p->key, "screen_depth") == 0) {
            rc = spx_param_uint(p, 0, SIZE_MAX, &u, err, errlen);
            sp.screen_depth = (size_t)u;
        } else if (strcmp(p->key, "max_blocks") == 0) {
            rc = spx_param_uint(p, 0, SIZE_MAX, &u, err, errlen);
            sp.max_blocks = (size_t)u;
        } else if (strcmp(p->key, "rows") == 0) {
            snprintf(err, errlen, "rows is the stream's dim (m = %zu), not a parameter", m);
            rc = -1;
        } else {
            snprintf(err, errlen,
                     "unknown parameter %s (rank, eps, oversample, patience, method, max_open, "
                     "max_cols, screen_depth, max_blocks)",
                     p->key);
            rc = -1;
        }
        if (rc != 0)
            return -1;
    }
    double bytes = svdc_state_bytes(&sp);
    if (bytes > SVDC_STATE_MAX_BYTES) {
        snprintf(err, errlen, "svdcluster: m = %zu, max_open = %zu, max_cols = %zu would need "
                 "%.1f GiB (limit %.0f GiB)", m, sp.max_open, sp.max_cols, bytes / (1u << 30),
                 SVDC_STATE_MAX_BYTES / (1u << 30));
        return -1;
    }
    svdc_adapter *a = calloc(1, sizeof *a);
    if (!a) {
        snprintf(err, errlen, "svdcluster: out of memory");
        return -1;
    }
    a->p = sp;
    a->cap_rec = 1024;
    a->cap_ids = 8192;
    a->rec = malloc(a->cap_rec * sizeof *a->rec);
    a->ids = malloc(a->cap_ids);
    int rc = a->rec && a->ids ? spx_svdcluster_create(&a->c, &sp) : -ENOMEM;
    if (rc != 0) {
        svdc_destroy(a);
        snprintf(err, errlen, "svdcluster: %s", strerror(-rc));
        return -1;
    }
    *state = a;
    return 0;
}

static int grow(void **buf, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t nc = *cap;
    while (nc < need)
        nc *= 2;
    void *nb = realloc(*buf, nc * elem);
    if (!nb)
        return -ENOMEM;
    *buf = nb;
    *cap = nc;
    return 0;
}

static size_t retained_count(const svdc_adapter *a)
{
    spx_svdcluster_blocks b;
    spx_svdcluster_retained(a->c, &b);
    return b.count;
}

/* Re-clusters the retained blocks; on success replaces the stored batch partition. */
static int recluster(svdc_adapter *a, spx_svdcluster_method method)
{
    spx_svdcluster_groups g;
    int rc = spx_svdcluster_recluster(a->c, method, &g);
    if (rc != 0)
        return rc;
    spx_svdcluster_blocks b;
    spx_svdcluster_retained(a->c, &b);
    spx_svdcluster_groups_free(&a->batch);
    a->batch = g;
    a->have_batch = true;
    a->batch_method = method;
    a->batch_compression = spx_svdcluster_compression(&b, &g, a->p.rank);
    a->batch_error[0] = '\0';
    return 0;
}

static const char *errno_text(int rc)
{
    return rc == -EIO ? "LAPACK did not converge" : strerror(-rc);
}

static int svdc_update(void *state, const spx_input *in, char *err, size_t errlen)
{
    svdc_adapter *a = state;
    size_t n = in->d, id_len = strlen(in->block_id);
    if (n == 0 && !in->end) {
        snprintf(err, errlen, "svdcluster: block '%s' has no columns", in->block_id);
        return -1;
    }
    if (n > a->p.max_cols) {
        snprintf(err, errlen, "svdcluster: block '%s' has %zu columns, more than max_cols=%zu",
                 in->block_id, n, a->p.max_cols);
        return -1;
    }
    if (n > 0 && in->n != a->p.rows) {
        snprintf(err, errlen, "svdcluster: block '%s' has %" PRIu32 " rows, the stream has %zu",
                 in->block_id, in->n, a->p.rows);
        return -1;
    }
    if (id_len > SPX_LABEL_MAX) {
        snprintf(err, errlen, "svdcluster: block id longer than %d bytes", SPX_LABEL_MAX);
        return -1;
    }
    if (n > 0) {
        spx_svdcluster_assignment as;
        spx_isvd_layout layout =
            in->dtype == SPX_DTYPE_F32 ? SPX_ISVD_ROWMAJOR_F32 : SPX_ISVD_ROWMAJOR_F64;
        int rc = grow((void **)&a->rec, &a->cap_rec, a->nblocks + 1, sizeof *a->rec);
        if (rc == 0)
            rc = grow((void **)&a->ids, &a->cap_ids, a->ids_len + id_len, 1);
        if (rc == 0)
            rc = spx_svdcluster_add(a->c, in->data, n, layout, &as);
        if (rc != 0) {
            snprintf(err, errlen, "svdcluster: block '%s': %s", in->block_id, errno_text(rc));
            return -1;
        }
        block_rec *r = &a->rec[a->nblocks++];
        r->id_at = a->ids_len;
        r->id_len = (uint8_t)id_len;
        r->cols = (uint32_t)n;
        memcpy(a->ids + a->ids_len, in->block_id, id_len);
        a->ids_len += id_len;
        a->ngroups += (uint64_t)as.opened;
        a->last = as;
    }
    a->have_last = n > 0;
    if (in->end) {
        /* The block (if any) is in; a failed re-clustering cannot undo it, so it is reported in
         * the result rather than as a refused input. */
        int rc = recluster(a, a->p.method);
        if (rc != 0)
            snprintf(a->batch_error, sizeof a->batch_error, "re-clustering at end of stream: %s",
                     errno_text(rc));
    }
    return 0;
}

static void pack_block_id(msgpack_packer *pk, const svdc_adapter *a, size_t block)
{
    const block_rec *r = &a->rec[block];
    msgpack_pack_str(pk, r->id_len);
    msgpack_pack_str_body(pk, a->ids + r->id_at, r->id_len);
}

static double max_bound(const spx_svdcluster_groups *g)
{
    double mx = 0.0;
    for (size_t k = 0; k < g->count; k++)
        mx = fmax(mx, g->bound[k]);
    return mx;
}

static bool batch_current(const svdc_adapter *a)
{
    return a->have_batch && a->batch.blocks == a->nblocks;
}

/* Indices (labels, block numbers) as an i64 ndarray, without a temporary: the bin is written in
 * pieces. */
static void pack_indices(msgpack_packer *pk, const size_t *label, size_t n)
{
    msgpack_pack_map(pk, 3);
    spx_pack_key_cstr(pk, "dtype", "i64");
    spx_pack_cstr(pk, "shape");
    msgpack_pack_array(pk, 1);
    msgpack_pack_uint64(pk, n);
    spx_pack_cstr(pk, "data");
    msgpack_pack_bin(pk, n * 8);
    for (size_t i = 0; i < n; i++) {
        uint64_t v = (uint64_t)label[i];
        unsigned char le[8];
        for (int b = 0; b < 8; b++)
            le[b] = (unsigned char)(v >> (8 * b));
        msgpack_pack_bin_body(pk, le, 8);
    }
}

static int svdc_result(void *state, msgpack_packer *pk)
{
    svdc_adapter *a = state;
    msgpack_pack_map(pk, 8);
    spx_pack_cstr(pk, "assignment");
    if (a->have_last) {
        const spx_svdcluster_assignment *as = &a->last;
        msgpack_pack_map(pk, 6);
        spx_pack_cstr(pk, "block_id");
        pack_block_id(pk, a, (size_t)as->block);
        spx_pack_key_uint(pk, "block", as->block);
        spx_pack_key_uint(pk, "group", as->group);
        spx_pack_key_double(pk, "bound", as->bound);
        spx_pack_key_bool(pk, "opened", as->opened != 0);
        spx_pack_cstr(pk, "closed");
        msgpack_pack_int64(pk, as->closed);
    } else {
        msgpack_pack_nil(pk);
    }
    spx_pack_key_uint(pk, "blocks", a->nblocks);
    spx_pack_key_uint(pk, "groups", a->ngroups);
    spx_pack_key_uint(pk, "open_groups", spx_svdcluster_open_groups(a->c));
    spx_pack_key_uint(pk, "retained", retained_count(a));
    spx_pack_key_uint(pk, "rank", a->p.rank);
    spx_pack_key_double(pk, "eps", a->p.eps);
    spx_pack_cstr(pk, "batch");
    if (!a->have_batch && !a->batch_error[0]) {
        msgpack_pack_nil(pk);
        return 0;
    }
    bool current = batch_current(a);
    msgpack_pack_map(pk, 4 + (a->have_batch ? 3 : 0) + (current ? 2 : 0));
    spx_pack_key_cstr(pk, "method",
                      spx_svdcluster_method_name(a->have_batch ? a->batch_method : a->p.method));
    spx_pack_cstr(pk, "error");
    if (a->batch_error[0])
        spx_pack_cstr(pk, a->batch_error);
    else
        msgpack_pack_nil(pk);
    spx_pack_key_uint(pk, "blocks", a->have_batch ? a->batch.blocks : 0);
    spx_pack_key_bool(pk, "current", current);
    if (a->have_batch) {
        spx_pack_key_uint(pk, "groups", a->batch.count);
        spx_pack_key_double(pk, "max_bound", max_bound(&a->batch));
        spx_pack_key_double(pk, "compression", a->batch_compression);
    }
    if (current) {
        /* the whole partition while it covers every block (e.g. after end of stream) */
        spx_pack_cstr(pk, "labels");
        pack_indices(pk, a->batch.label, a->batch.blocks);
        spx_pack_cstr(pk, "bounds");
        spx_pack_ndarray_f64(pk, a->batch.bound, 1, &a->batch.count);
    }
    return 0;
}

/* ---- named operations ------------------------------------------------------------------------- */

/* Checks that args (NULL or a map) has only the allowed keys. */
static spx_errcode args_check(const msgpack_object *args, const char *op,
                              const char *const *allowed, char *err, size_t errlen)
{
    if (!args || args->type == MSGPACK_OBJECT_NIL)
        return SPX_OK;
    if (args->type != MSGPACK_OBJECT_MAP) {
        snprintf(err, errlen, "%s: args must be a map", op);
        return SPX_E_BAD_PARAM;
    }
    for (uint32_t i = 0; i < args->via.map.size; i++) {
        const msgpack_object *k = &args->via.map.ptr[i].key;
        bool known = false;
        for (size_t j = 0; allowed[j] && !known && k->type == MSGPACK_OBJECT_STR; j++)
            known = strlen(allowed[j]) == k->via.str.size &&
                    memcmp(allowed[j], k->via.str.ptr, k->via.str.size) == 0;
        if (!known) {
            int len = k->type == MSGPACK_OBJECT_STR ? (int)k->via.str.size : 0;
            snprintf(err, errlen, "%s: unknown argument '%.*s'", op, len > 64 ? 64 : len,
                     len ? k->via.str.ptr : "");
            return SPX_E_BAD_PARAM;
        }
    }
    return SPX_OK;
}

static const msgpack_object *arg(const msgpack_object *args, const char *key)
{
    return args && args->type == MSGPACK_OBJECT_MAP ? spx_map_get(args, key) : NULL;
}

/* A partition to report: the online one (built here, owned) or the stored batch one (borrowed). */
typedef struct partition {
    spx_svdcluster_groups online;
    const spx_svdcluster_groups *g;
    bool batch;
} partition;

static void partition_free(partition *pt)
{
    spx_svdcluster_groups_free(&pt->online);
}

/* args "partition": "online" | "batch"; default: the batch partition while it covers every block
 * seen, else the online one. */
static spx_errcode partition_get(svdc_adapter *a, const msgpack_object *args, const char *op,
                                 partition *pt, char *err, size_t errlen)
{
    memset(pt, 0, sizeof *pt);
    const msgpack_object *which = arg(args, "partition");
    bool batch = batch_current(a);
    if (which) {
        char name[16];
        if (spx_obj_str(which, name, sizeof name) != 0 ||
            (strcmp(name, "online") != 0 && strcmp(name, "batch") != 0)) {
            snprintf(err, errlen, "%s: partition must be \"online\" or \"batch\"", op);
            return SPX_E_BAD_PARAM;
        }
        batch = strcmp(name, "batch") == 0;
        if (batch && !a->have_batch) {
            snprintf(err, errlen, "%s: no batch partition yet (call recluster)", op);
            return SPX_E_BAD_PARAM;
        }
    }
    pt->batch = batch;
    if (batch) {
        pt->g = &a->batch;
        return SPX_OK;
    }
    int rc = spx_svdcluster_online_groups(a->c, &pt->online);
    if (rc != 0) {
        snprintf(err, errlen, "%s: %s", op, errno_text(rc));
        return SPX_E_INTERNAL;
    }
    pt->g = &pt->online;
    return SPX_OK;
}

static void pack_members(msgpack_packer *pk, const svdc_adapter *a, const spx_svdcluster_groups *g,
                         size_t k)
{
    size_t n = g->start[k + 1] - g->start[k];
    spx_pack_cstr(pk, "blocks");
    pack_indices(pk, g->member + g->start[k], n);
    spx_pack_cstr(pk, "block_ids");
    msgpack_pack_array(pk, n);
    for (size_t i = g->start[k]; i < g->start[k + 1]; i++)
        pack_block_id(pk, a, g->member[i]);
}

static void pack_partition(msgpack_packer *pk, svdc_adapter *a, const partition *pt)
{
    const spx_svdcluster_groups *g = pt->g;
    spx_svdcluster_blocks b;
    spx_svdcluster_retained(a->c, &b);
    msgpack_pack_map(pk, 10);
    spx_pack_key_cstr(pk, "partition", pt->batch ? "batch" : "online");
    spx_pack_key_cstr(pk, "method",
                      pt->batch ? spx_svdcluster_method_name(a->batch_method) : "online");
    spx_pack_key_uint(pk, "blocks", g->blocks);
    spx_pack_key_uint(pk, "count", g->count);
    spx_pack_key_uint(pk, "rank", a->p.rank);
    spx_pack_key_double(pk, "eps", a->p.eps);
    spx_pack_key_double(pk, "max_bound", max_bound(g));
    spx_pack_cstr(pk, "compression");
    if (pt->batch)
        msgpack_pack_double(pk, a->batch_compression);
    else if (b.count == g->blocks)
        msgpack_pack_double(pk, spx_svdcluster_compression(&b, g, a->p.rank));
    else
        msgpack_pack_nil(pk);      /* some blocks were not retained: their columns are gone */
    spx_pack_cstr(pk, "labels");
    pack_indices(pk, g->label, g->blocks);
    spx_pack_cstr(pk, "groups");
    msgpack_pack_array(pk, g->count);
    for (size_t k = 0; k < g->count; k++) {
        uint64_t cols = 0;
        for (size_t i = g->start[k]; i < g->start[k + 1]; i++)
            cols += a->rec[g->member[i]].cols;
        msgpack_pack_map(pk, pt->batch ? 5 : 6);
        spx_pack_key_uint(pk, "group", k);
        spx_pack_key_double(pk, "bound", g->bound[k]);
        spx_pack_key_uint(pk, "columns", cols);
        if (!pt->batch)
            spx_pack_key_bool(pk, "open", spx_svdcluster_group_basis(a->c, k, NULL, NULL) == 0);
        pack_members(pk, a, g, k);
    }
}

static spx_errcode cmd_groups(svdc_adapter *a, const msgpack_object *args, msgpack_packer *pk,
                              char *err, size_t errlen)
{
    static const char *const allowed[] = {"partition", NULL};
    spx_errcode code = args_check(args, "groups", allowed, err, errlen);
    partition pt;
    if (code == SPX_OK)
        code = partition_get(a, args, "groups", &pt, err, errlen);
    if (code != SPX_OK)
        return code;
    pack_partition(pk, a, &pt);
    partition_free(&pt);
    return SPX_OK;
}

static spx_errcode cmd_recluster(svdc_adapter *a, const msgpack_object *args, msgpack_packer *pk,
                                 char *err, size_t errlen)
{
    static const char *const allowed[] = {"method", NULL};
    spx_errcode code = args_check(args, "recluster", allowed, err, errlen);
    if (code != SPX_OK)
        return code;
    spx_svdcluster_method method = a->p.method;
    const msgpack_object *m = arg(args, "method");
    char name[16];
    if (m && (spx_obj_str(m, name, sizeof name) != 0 ||
              spx_svdcluster_method_parse(name, &method) != 0)) {
        snprintf(err, errlen, "recluster: method must be \"approx\", \"residual\" or \"maxnorm\"");
        return SPX_E_BAD_PARAM;
    }
    int rc = recluster(a, method);
    if (rc != 0) {
        snprintf(err, errlen, "recluster: %s", errno_text(rc));
        return SPX_E_INTERNAL;
    }
    partition pt = {.g = &a->batch, .batch = true};
    pack_partition(pk, a, &pt);
    return SPX_OK;
}

/* Row-major copy of the column-major rows x cols matrix src (leading dimension ld). */
static void transpose_into(double *dst, const double *src, size_t rows, size_t cols, size_t ld)
{
    for (size_t i = 0; i < rows; i++)
        for (size_t j = 0; j < cols; j++)
            dst[i * cols + j] = src[i + j * ld];
}

static spx_errcode cmd_factors(svdc_adapter *a, const msgpack_object *args, msgpack_packer *pk,
                               char *err, size_t errlen)
{
    static const char *const allowed[] = {"group", "partition", NULL};
    spx_errcode code = args_check(args, "factors", allowed, err, errlen);
    uint64_t group = 0;
    const msgpack_object *go = arg(args, "group");
    if (code == SPX_OK && (!go || spx_obj_uint(go, &group) != 0)) {
        snprintf(err, errlen, "factors: args need \"group\": a group number");
        code = SPX_E_BAD_PARAM;
    }
    partition pt;
    if (code == SPX_OK)
        code = partition_get(a, args, "factors", &pt, err, errlen);
    if (code != SPX_OK)
        return code;
    const spx_svdcluster_groups *g = pt.g;
    spx_svdcluster_blocks b;
    spx_svdcluster_retained(a->c, &b);
    if (group >= g->count) {
        snprintf(err, errlen, "factors: no group %" PRIu64 " (the %s partition has %zu)", group,
                 pt.batch ? "batch" : "online", g->count);
        partition_free(&pt);
        return SPX_E_BAD_PARAM;
    }
    const size_t *member = g->member + g->start[group];
    size_t nmember = g->start[group + 1] - g->start[group], cols = 0;
    for (size_t i = 0; i < nmember; i++) {
        if (member[i] >= b.count) {
            snprintf(err, errlen, "factors: block '%.*s' of group %" PRIu64 " was not retained "
                     "(max_blocks=%zu)", (int)a->rec[member[i]].id_len,
                     a->ids + a->rec[member[i]].id_at, group, a->p.max_blocks);
            partition_free(&pt);
            return SPX_E_BAD_PARAM;
        }
        cols += b.col_offset[member[i] + 1] - b.col_offset[member[i]];
    }
    size_t m = a->p.rows, r = a->p.rank;
    double *u = malloc(m * r * sizeof *u), *s = malloc(r * sizeof *s);
    double *coef = malloc(r * cols * sizeof *coef), *out = malloc((m > cols ? m : cols) * r *
                                                                  sizeof *out);
    double rel = 0.0;
    int rc = u && s && coef && out
                 ? spx_svdcluster_factors(&b, member, nmember, r, u, s, coef, &rel)
                 : -ENOMEM;
    if (rc != 0) {
        snprintf(err, errlen, "factors: %s", errno_text(rc));
        code = SPX_E_INTERNAL;
    } else {
        size_t shape[2] = {m, r};
        msgpack_pack_map(pk, 11);
        spx_pack_key_cstr(pk, "partition", pt.batch ? "batch" : "online");
        spx_pack_key_uint(pk, "group", group);
        spx_pack_key_uint(pk, "rank", r);
        spx_pack_key_uint(pk, "rows", m);
        spx_pack_key_double(pk, "bound", g->bound[group]);
        spx_pack_key_double(pk, "rel_error", rel);
        spx_pack_cstr(pk, "u");
        transpose_into(out, u, m, r, m);
        spx_pack_ndarray_f64(pk, out, 2, shape);
        spx_pack_cstr(pk, "s");
        spx_pack_ndarray_f64(pk, s, 1, &r);
        pack_members(pk, a, g, group);
        spx_pack_cstr(pk, "coefficients");
        msgpack_pack_array(pk, nmember);
        size_t col = 0;
        for (size_t i = 0; i < nmember; i++) {
            size_t nc = a->rec[member[i]].cols, cshape[2] = {r, nc};
            transpose_into(out, coef + col * r, r, nc, r);
            spx_pack_ndarray_f64(pk, out, 2, cshape);
            col += nc;
        }
    }
    free(u);
    free(s);
    free(coef);
    free(out);
    partition_free(&pt);
    return code;
}

static spx_errcode svdc_command(void *state, const char *name, const msgpack_object *args,
                                msgpack_packer *pk, char *err, size_t errlen)
{
    svdc_adapter *a = state;
    if (strcmp(name, "groups") == 0)
        return cmd_groups(a, args, pk, err, errlen);
    if (strcmp(name, "factors") == 0)
        return cmd_factors(a, args, pk, err, errlen);
    if (strcmp(name, "recluster") == 0)
        return cmd_recluster(a, args, pk, err, errlen);
    return SPX_E_UNKNOWN_OP;
}

/* ---- durable state ---------------------------------------------------------------------------- */

/* One flat map: the clusterer's snapshot (svdcluster.h), then the block ids, the newest assignment
 * and the newest batch partition. Every key is always present (empty arrays when there is nothing),
 * so a missing key always means a damaged save. */
#define SVDC_STATE_KEYS 37

static void pack_sizes_as_u64s(msgpack_packer *pk, const char *key, const size_t *x, size_t n)
{
    spx_pack_cstr(pk, key);
    msgpack_pack_bin(pk, n * 8);
    for (size_t i = 0; i < n; i++) {
        uint64_t v = x[i];
        msgpack_pack_bin_body(pk, &v, 8);   /* little-endian host (state_codec.h) */
    }
}

static int svdc_save(void *state, msgpack_packer *pk, char *err, size_t errlen)
{
    svdc_adapter *a = state;
    spx_svdcluster_snapshot sn;
    spx_svdcluster_snapshot_get(a->c, &sn);
    size_t m = sn.rows, q = sn.capacity;
    spx_svdcluster_slot_state *slot = malloc((sn.open ? sn.open : 1) * sizeof *slot);
    spx_svdcluster_group_state *group = malloc((sn.groups ? sn.groups : 1) * sizeof *group);
    uint64_t *u64 = malloc((a->nblocks ? a->nblocks : 1) * sizeof *u64);
    unsigned char *id_len = malloc(a->nblocks ? a->nblocks : 1);
    size_t most = sn.open > sn.groups ? sn.open : sn.groups;
    double *f64 = malloc((most ? most : 1) * sizeof *f64);
    if (!slot || !group || !u64 || !id_len || !f64) {
        free(slot);
        free(group);
        free(u64);
        free(id_len);
        free(f64);
        snprintf(err, errlen, "svdcluster: out of memory");
        return -1;
    }
    spx_svdcluster_snapshot_records(a->c, slot, group);
    msgpack_pack_map(pk, SVDC_STATE_KEYS);
    spx_state_pack_u64(pk, "rows", m);
    spx_state_pack_u64(pk, "capacity", q);
    spx_state_pack_u64(pk, "open", sn.open);
    spx_state_pack_u64(pk, "groups", sn.groups);
    spx_state_pack_u64(pk, "blocks", sn.blocks);
    spx_state_pack_u64(pk, "retained", sn.retained);
    spx_state_pack_f64s(pk, "u", sn.u, m * q * sn.open);
    spx_state_pack_f64s(pk, "s", sn.s, q * sn.open);
#define SLOT_FIELD(key, field, packer, arr)                                                         \
    do {                                                                                            \
        for (size_t i = 0; i < sn.open; i++)                                                        \
            arr[i] = slot[i].field;                                                                 \
        packer(pk, key, arr, sn.open);                                                              \
    } while (0)
    SLOT_FIELD("slot_group", group, spx_state_pack_u64s, u64);
    SLOT_FIELD("slot_touched", touched, spx_state_pack_u64s, u64);
    SLOT_FIELD("slot_cur", cur, spx_state_pack_u64s, u64);
    SLOT_FIELD("slot_energy", energy, spx_state_pack_f64s, f64);
    SLOT_FIELD("slot_discarded", discarded, spx_state_pack_f64s, f64);
#undef SLOT_FIELD
    for (size_t g = 0; g < sn.groups; g++)
        u64[g] = group[g].blocks;
    spx_state_pack_u64s(pk, "group_blocks", u64, sn.groups);
    for (size_t g = 0; g < sn.groups; g++)
        f64[g] = group[g].bound;
    spx_state_pack_f64s(pk, "group_bound", f64, sn.groups);
    spx_state_pack_u64s(pk, "label", sn.label, (size_t)sn.blocks);
    pack_sizes_as_u64s(pk, "offset", sn.offset, sn.retained + 1);
    spx_state_pack_f64s(pk, "store", sn.store, m * sn.retained_cols);

    for (size_t b = 0; b < a->nblocks; b++) {
        u64[b] = a->rec[b].cols;
        id_len[b] = a->rec[b].id_len;
    }
    spx_state_pack_u64s(pk, "block_cols", u64, a->nblocks);
    spx_state_pack_bytes(pk, "id_len", id_len, a->nblocks);
    spx_state_pack_bytes(pk, "ids", a->ids, a->ids_len);
    spx_state_pack_bool(pk, "have_last", a->have_last);
    spx_state_pack_u64(pk, "last_block", a->last.block);
    spx_state_pack_u64(pk, "last_group", a->last.group);
    spx_state_pack_f64(pk, "last_bound", a->last.bound);
    spx_state_pack_bool(pk, "last_opened", a->last.opened != 0);
    spx_state_pack_i64(pk, "last_closed", a->last.closed);

    const spx_svdcluster_groups *bt = &a->batch;
    spx_state_pack_bool(pk, "have_batch", a->have_batch);
    spx_state_pack_u64(pk, "batch_method", (uint64_t)a->batch_method);
    spx_state_pack_f64(pk, "batch_compression", a->batch_compression);
    spx_pack_key_cstr(pk, "batch_error", a->batch_error);
    spx_state_pack_u64(pk, "batch_count", a->have_batch ? bt->count : 0);
    spx_state_pack_u64(pk, "batch_blocks", a->have_batch ? bt->blocks : 0);
    pack_sizes_as_u64s(pk, "batch_start", bt->start, a->have_batch ? bt->count + 1 : 0);
    pack_sizes_as_u64s(pk, "batch_member", bt->member, a->have_batch ? bt->blocks : 0);
    pack_sizes_as_u64s(pk, "batch_label", bt->label, a->have_batch ? bt->blocks : 0);
    spx_state_pack_f64s(pk, "batch_bound", bt->bound, a->have_batch ? bt->count : 0);
    free(slot);
    free(group);
    free(u64);
    free(id_len);
    free(f64);
    return 0;
}


/* u64 values into size_t, each at most hi. */
static int read_sizes(const msgpack_object *map, const char *key, size_t n, size_t hi, size_t **out,
                      char *err, size_t errlen)
{
    uint64_t *v;
    *out = NULL;
    if (spx_state_read_alloc(map, key, sizeof *v, n, (void **)&v, err, errlen) != 0) {
        free(v);
        return -1;
    }
    size_t *s = malloc((n ? n : 1) * sizeof *s);
    int rc = s ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (v[i] > hi) {
            snprintf(err, errlen, "state: %s: value %zu out of range", key, i);
            rc = -1;
        } else {
            s[i] = (size_t)v[i];
        }
    }
    if (!s)
        snprintf(err, errlen, "state: %s: out of memory", key);
    free(v);
    if (rc)
        free(s);
    else
        *out = s;
    return rc;
}

/* The batch partition: a partition of blocks 0..blocks-1 that the adapter could have made. */
static int batch_valid(const spx_svdcluster_groups *g, size_t retained, char *err, size_t errlen)
{
    if (g->blocks > retained || g->count > g->blocks || (g->blocks > 0 && g->count == 0)) {
        snprintf(err, errlen, "state: batch: %zu groups of %zu blocks (%zu retained)", g->count,
                 g->blocks, retained);
        return -1;
    }
    if (g->start[0] != 0 || g->start[g->count] != g->blocks) {
        snprintf(err, errlen, "state: batch_start: does not span the blocks");
        return -1;
    }
    for (size_t k = 0; k < g->count; k++) {
        if (g->start[k + 1] <= g->start[k] || !(isfinite(g->bound[k]) && g->bound[k] >= 0.0)) {
            snprintf(err, errlen, "state: batch: group %zu is empty or its bound is not finite",
                     k);
            return -1;
        }
        for (size_t i = g->start[k]; i < g->start[k + 1]; i++)
            if (g->member[i] >= g->blocks || g->label[g->member[i]] != k) {
                snprintf(err, errlen, "state: batch_member: members and labels disagree");
                return -1;
            }
    }
    /* every member names its own group's label, and each group holds start[k+1]-start[k] of
     * them; a block named twice would leave another unnamed, which the labels reveal */
    for (size_t b = 0; b < g->blocks; b++) {
        size_t k = g->label[b];
        bool found = false;
        for (size_t i = k < g->count ? g->start[k] : 0; k < g->count && i < g->start[k + 1]; i++)
            found = found || g->member[i] == b;
        if (!found) {
            snprintf(err, errlen, "state: batch_label: block %zu is not a member of its group", b);
            return -1;
        }
    }
    return 0;
}

static int load_batch(svdc_adapter *a, const msgpack_object *saved, size_t retained, char *err,
                      size_t errlen)
{
    bool have;
    uint64_t method, count, blocks;
    double compression;
    if (spx_state_read_bool(saved, "have_batch", &have, err, errlen) ||
        spx_state_read_range(saved, "batch_method", 0, 2, &method, err, errlen) ||
        spx_state_read_f64(saved, "batch_compression", &compression, err, errlen) ||
        spx_state_read_range(saved, "batch_blocks", 0, have ? retained : 0, &blocks, err,
                             errlen) ||
        spx_state_read_range(saved, "batch_count", 0, have ? blocks : 0, &count, err, errlen))
        return -1;
    const msgpack_object *msg = spx_state_get(saved, "batch_error", MSGPACK_OBJECT_STR, err, errlen);
    if (!msg)
        return -1;
    if (msg->via.str.size >= sizeof a->batch_error ||
        memchr(msg->via.str.ptr, '\0', msg->via.str.size)) {
        snprintf(err, errlen, "state: batch_error: too long or not text");
        return -1;
    }
    spx_svdcluster_groups g;
    memset(&g, 0, sizeof g);
    g.count = (size_t)count;
    g.blocks = (size_t)blocks;
    double *bound = NULL;
    int rc = read_sizes(saved, "batch_start", have ? g.count + 1 : 0, g.blocks, &g.start, err,
                        errlen);
    if (!rc)
        rc = read_sizes(saved, "batch_member", have ? g.blocks : 0, SIZE_MAX, &g.member, err,
                        errlen);
    if (!rc)
        rc = read_sizes(saved, "batch_label", have ? g.blocks : 0, SIZE_MAX, &g.label, err,
                        errlen);
    if (!rc)
        rc = spx_state_read_alloc(saved, "batch_bound", sizeof *bound, have ? g.count : 0,
                                  (void **)&bound,
                        err, errlen);
    g.bound = bound;
    if (!rc && have)
        rc = batch_valid(&g, retained, err, errlen);
    if (!rc && have && !isfinite(compression)) {
        snprintf(err, errlen, "state: batch_compression: not finite");
        rc = -1;
    }
    if (rc) {
        spx_svdcluster_groups_free(&g);
        return -1;
    }
    spx_svdcluster_groups_free(&a->batch);
    if (have) {
        a->batch = g;
    } else {
        spx_svdcluster_groups_free(&g);
    }
    a->have_batch = have;
    a->batch_method = (spx_svdcluster_method)method;
    a->batch_compression = compression;
    memcpy(a->batch_error, msg->via.str.ptr, msg->via.str.size);
    a->batch_error[msg->via.str.size] = '\0';
    return 0;
}

/* Block ids and widths, and the newest assignment. */
static int load_blocks(svdc_adapter *a, const msgpack_object *saved, const uint64_t *label,
                       const size_t *offset, size_t retained, char *err, size_t errlen)
{
    size_t n = a->nblocks, total = 0;
    uint64_t *cols = NULL;
    unsigned char *id_len = NULL;
    int rc = spx_state_read_alloc(saved, "block_cols", sizeof *cols, n, (void **)&cols, err,
                                  errlen);
    if (!rc)
        rc = spx_state_read_alloc(saved, "id_len", 1, n, (void **)&id_len, err, errlen);
    for (size_t b = 0; !rc && b < n; b++) {
        uint64_t want = b < retained ? offset[b + 1] - offset[b] : cols[b];
        if (cols[b] == 0 || cols[b] > a->p.max_cols || cols[b] != want ||
            id_len[b] > SPX_LABEL_MAX) {
            snprintf(err, errlen, "state: block %zu: width or id length out of range", b);
            rc = -1;
        }
        total += id_len[b];
    }
    size_t have_ids = 0;
    if (!rc && (rc = spx_state_count(saved, "ids", 1, &have_ids, err, errlen)) == 0 &&
        have_ids != total) {
        snprintf(err, errlen, "state: ids: %zu bytes, the id lengths add up to %zu", have_ids,
                 total);
        rc = -1;
    }
    if (!rc && total > a->cap_ids) {
        char *ids = realloc(a->ids, total);
        if (!ids) {
            snprintf(err, errlen, "state: ids: out of memory");
            rc = -1;
        } else {
            a->ids = ids;
            a->cap_ids = total;
        }
    }
    if (!rc && n > a->cap_rec) {
        block_rec *rec = realloc(a->rec, n * sizeof *rec);
        if (!rec) {
            snprintf(err, errlen, "state: blocks: out of memory");
            rc = -1;
        } else {
            a->rec = rec;
            a->cap_rec = n;
        }
    }
    if (!rc)
        rc = spx_state_read_bytes(saved, "ids", a->ids, total, err, errlen);
    bool have_last = false, opened = false;
    uint64_t block = 0, group = 0;
    int64_t closed = -1;
    double bound = 0.0;
    if (!rc && (spx_state_read_bool(saved, "have_last", &have_last, err, errlen) ||
                spx_state_read_u64(saved, "last_block", &block, err, errlen) ||
                spx_state_read_u64(saved, "last_group", &group, err, errlen) ||
                spx_state_read_f64(saved, "last_bound", &bound, err, errlen) ||
                spx_state_read_bool(saved, "last_opened", &opened, err, errlen) ||
                spx_state_read_i64(saved, "last_closed", &closed, err, errlen)))
        rc = -1;
    if (!rc && have_last &&
        (block >= n || group != label[block] || closed < -1 || closed >= (int64_t)a->ngroups ||
         closed == (int64_t)group)) {
        snprintf(err, errlen, "state: last assignment names a block or group that does not exist");
        rc = -1;
    }
    if (!rc) {
        size_t at = 0;
        for (size_t b = 0; b < n; b++) {
            a->rec[b] = (block_rec){.id_at = at, .cols = (uint32_t)cols[b],
                                    .id_len = id_len[b]};
            at += id_len[b];
        }
        a->ids_len = total;
        a->have_last = have_last;
        a->last = (spx_svdcluster_assignment){.block = block, .group = group, .bound = bound,
                                              .opened = opened, .closed = closed};
    }
    free(cols);
    free(id_len);
    return rc;
}

static int svdc_load(void *state, const msgpack_object *saved, char *err, size_t errlen)
{
    svdc_adapter *a = state;
    spx_svdcluster_snapshot want, sn;
    spx_svdcluster_snapshot_get(a->c, &want);
    memset(&sn, 0, sizeof sn);
    uint64_t rows, capacity, open, groups, blocks, retained;
    /* Sizes first, each bounded before anything is allocated for it: blocks by the label bin's
     * own length, the rest by the params and by blocks. */
    size_t label_count = 0;
    if (spx_state_read_range(saved, "rows", want.rows, want.rows, &rows, err, errlen) ||
        spx_state_read_range(saved, "capacity", want.capacity, want.capacity, &capacity, err,
                             errlen) ||
        spx_state_count(saved, "label", sizeof(uint64_t), &label_count, err, errlen) ||
        spx_state_read_range(saved, "blocks", label_count, label_count, &blocks, err, errlen) ||
        spx_state_read_range(saved, "open", 0, a->p.max_open, &open, err, errlen) ||
        spx_state_read_range(saved, "groups", open, blocks, &groups, err, errlen) ||
        spx_state_read_range(saved, "retained", 0, blocks, &retained, err, errlen))
        return -1;
    size_t m = (size_t)rows, q = (size_t)capacity;
    sn.rows = m;
    sn.capacity = q;
    sn.open = (size_t)open;
    sn.groups = (size_t)groups;
    sn.blocks = blocks;
    sn.retained = (size_t)retained;
    double *u = NULL, *s = NULL, *energy = NULL, *discarded = NULL, *bound = NULL, *store = NULL;
    uint64_t *sgroup = NULL, *touched = NULL, *cur = NULL, *gblocks = NULL, *label = NULL;
    size_t *offset = NULL;
    spx_svdcluster_slot_state *slot = NULL;
    spx_svdcluster_group_state *group = NULL;
    int rc = spx_state_read_alloc(saved, "u", sizeof *u, m * q * sn.open, (void **)&u, err, errlen);
    if (!rc)
        rc = spx_state_read_alloc(saved, "s", sizeof *s, q * sn.open, (void **)&s, err, errlen);
    if (!rc)
        rc = spx_state_read_alloc(saved, "slot_group", 8, sn.open, (void **)&sgroup, err, errlen);
    if (!rc)
        rc = spx_state_read_alloc(saved, "slot_touched", 8, sn.open, (void **)&touched, err,
                                  errlen);
    if (!rc)
        rc = spx_state_read_alloc(saved, "slot_cur", 8, sn.open, (void **)&cur, err, errlen);
    if (!rc)
        rc = spx_state_read_alloc(saved, "slot_energy", 8, sn.open, (void **)&energy, err, errlen);
    if (!rc)
        rc = spx_state_read_alloc(saved, "slot_discarded", 8, sn.open, (void **)&discarded, err,
                                  errlen);
    if (!rc)
        rc = spx_state_read_alloc(saved, "group_blocks", 8, sn.groups, (void **)&gblocks, err,
                                  errlen);
    if (!rc)
        rc = spx_state_read_alloc(saved, "group_bound", 8, sn.groups, (void **)&bound, err, errlen);
    if (!rc)
        rc = spx_state_read_alloc(saved, "label", 8, (size_t)blocks, (void **)&label, err, errlen);
    if (!rc)
        rc = read_sizes(saved, "offset", sn.retained + 1, (size_t)a->p.max_cols * sn.retained,
                        &offset, err, errlen);
    if (!rc) {
        sn.retained_cols = offset[sn.retained];
        rc = spx_state_read_alloc(saved, "store", sizeof *store, m * sn.retained_cols,
                                  (void **)&store, err,
                        errlen);
    }
    if (!rc) {
        slot = malloc((sn.open ? sn.open : 1) * sizeof *slot);
        group = malloc((sn.groups ? sn.groups : 1) * sizeof *group);
        if (!slot || !group) {
            snprintf(err, errlen, "svdcluster: out of memory");
            rc = -1;
        }
    }
    for (size_t i = 0; !rc && i < sn.open; i++) {
        if (cur[i] > q) {
            snprintf(err, errlen, "state: slot_cur: %zu directions, capacity %zu", (size_t)cur[i],
                     q);
            rc = -1;
            break;
        }
        slot[i] = (spx_svdcluster_slot_state){.group = sgroup[i], .touched = touched[i],
                                              .cur = (size_t)cur[i], .energy = energy[i],
                                              .discarded = discarded[i]};
    }
    for (size_t g = 0; !rc && g < sn.groups; g++)
        group[g] = (spx_svdcluster_group_state){.blocks = gblocks[g], .bound = bound[g]};
    if (!rc) {
        sn.u = u;
        sn.s = s;
        sn.slot = slot;
        sn.group = group;
        sn.label = label;
        sn.offset = offset;
        sn.store = store;
        const char *why = "";
        int arc = spx_svdcluster_snapshot_set(a->c, &sn, &why);
        if (arc != 0) {
            snprintf(err, errlen, "state: %s", arc == -ENOMEM ? "out of memory" : why);
            rc = -1;
        }
    }
    if (!rc) {
        a->nblocks = (size_t)blocks;
        a->ngroups = groups;
        rc = load_blocks(a, saved, label, offset, sn.retained, err, errlen);
    }
    if (!rc)
        rc = load_batch(a, saved, sn.retained, err, errlen);
    free(u);
    free(s);
    free(sgroup);
    free(touched);
    free(cur);
    free(energy);
    free(discarded);
    free(gblocks);
    free(bound);
    free(label);
    free(offset);
    free(store);
    free(slot);
    free(group);
    return rc;
}

const spx_pipeline_ops spx_svdcluster_ops = {
    .algo = "svdcluster",
    .summary = "error-constrained clustering of matrix blocks (online; recluster in batch)",
    .kinds = SPX_KIND_BLOCKS,
    .create = svdc_create,
    .update = svdc_update,
    .result = svdc_result,
    .destroy = svdc_destroy,
    .command = svdc_command,
    .commands = "groups,factors,recluster",
    .save = svdc_save,
    .load = svdc_load,
    .state_version = 1,
};
