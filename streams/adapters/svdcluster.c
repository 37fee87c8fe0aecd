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
};
