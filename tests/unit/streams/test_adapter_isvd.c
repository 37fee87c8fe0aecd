/* The `isvd` and `svdcluster` pipeline adapters driven through their ops, without a daemon:
 * parameter errors, result maps decoded and checked against LAPACK, refused inputs leaving the
 * state unchanged, and the named operations (left_vectors; groups, recluster, factors). */
#include <criterion/criterion.h>
#include <lapacke.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapter_msgpack.h"
#include "codec_test_util.h"
#include "pipeline_kind.h"
#include "rng.h"

/* ---- helpers ---------------------------------------------------------------------------------- */

static const spx_pipeline_ops *kind(const char *algo)
{
    const spx_pipeline_ops *ops = spx_pipeline_kind_find(algo);
    cr_assert(ops, "%s is registered in pipeline_kinds.c", algo);
    return ops;
}

static void *create_ok(const spx_pipeline_ops *ops, uint32_t m, const char *const *kv)
{
    spx_param params[16];
    char keys[16][64], vals[16][64];
    size_t n = 0;
    for (; kv && kv[n]; n++) {
        const char *eq = strchr(kv[n], '=');
        cr_assert(eq);
        snprintf(keys[n], sizeof keys[n], "%.*s", (int)(eq - kv[n]), kv[n]);
        snprintf(vals[n], sizeof vals[n], "%s", eq + 1);
        params[n].key = keys[n];
        params[n].value = vals[n];
    }
    spx_stream_info info = {.name = "s", .kind = SPX_KIND_BLOCKS, .dim = m};
    void *st = NULL;
    char err[256] = "";
    cr_assert_eq(ops->create(&st, &info, params, n, err, sizeof err), 0, "create: %s", err);
    cr_assert(st);
    return st;
}

/* Creating with one parameter must fail with a message containing `needle`. */
static void create_fails(const spx_pipeline_ops *ops, uint32_t m, const char *key, const char *value,
                         const char *needle)
{
    spx_param p = {key, value};
    spx_stream_info info = {.name = "s", .kind = SPX_KIND_BLOCKS, .dim = m};
    void *st = NULL;
    char err[256] = "";
    cr_assert_eq(ops->create(&st, &info, &p, 1, err, sizeof err), -1, "%s=%s accepted", key, value);
    cr_assert_null(st);
    cr_assert(strstr(err, needle), "%s=%s: error '%s' lacks '%s'", key, value, err, needle);
}

static spx_input block_input(const void *data, spx_dtype dtype, uint32_t m, uint32_t n,
                             const char *id, int end)
{
    static uint64_t seq;
    spx_input in = {.kind = SPX_KIND_BLOCKS, .dtype = dtype, .n = m, .d = n, .data = data,
                    .block_id = id, .end = end, .seq = ++seq};
    return in;
}

/* A packed result or command value, unpacked. */
typedef struct packed {
    msgpack_sbuffer sb;
    msgpack_unpacked up;
    const msgpack_object *root;
} packed;

static void packed_open(packed *p)
{
    msgpack_unpacked_init(&p->up);
    p->root = NULL;
    if (p->sb.size) {
        cr_assert_eq(msgpack_unpack_next(&p->up, p->sb.data, p->sb.size, NULL),
                     MSGPACK_UNPACK_SUCCESS);
        p->root = &p->up.data;
    }
}

static void packed_free(packed *p)
{
    msgpack_unpacked_destroy(&p->up);
    msgpack_sbuffer_destroy(&p->sb);
}

static void result_of(const spx_pipeline_ops *ops, void *st, packed *p)
{
    msgpack_packer pk;
    msgpack_sbuffer_init(&p->sb);
    msgpack_packer_init(&pk, &p->sb, msgpack_sbuffer_write);
    cr_assert_eq(ops->result(st, &pk), 0);
    packed_open(p);
    cr_assert(p->root && p->root->type == MSGPACK_OBJECT_MAP);
}

/* Runs a command; args is a literal of codec_test_util.h or NULL. Returns its code; on failure
 * asserts that nothing was packed. */
static spx_errcode command_of(const spx_pipeline_ops *ops, void *st, const char *name,
                              const char *args, packed *p, char *err, size_t errlen)
{
    msgpack_sbuffer asb;
    msgpack_unpacked aup;
    msgpack_sbuffer_init(&asb);
    msgpack_unpacked_init(&aup);
    const msgpack_object *argp = NULL;
    if (args) {
        mp_build(&asb, args);
        cr_assert_eq(msgpack_unpack_next(&aup, asb.data, asb.size, NULL), MSGPACK_UNPACK_SUCCESS);
        argp = &aup.data;
    }
    msgpack_packer pk;
    msgpack_sbuffer_init(&p->sb);
    msgpack_packer_init(&pk, &p->sb, msgpack_sbuffer_write);
    err[0] = '\0';
    spx_errcode code = ops->command(st, name, argp, &pk, err, errlen);
    if (code != SPX_OK)
        cr_assert_eq(p->sb.size, 0, "%s failed (%s) but packed %zu bytes", name, err, p->sb.size);
    packed_open(p);
    msgpack_unpacked_destroy(&aup);
    msgpack_sbuffer_destroy(&asb);
    return code;
}

/* f64 or i64 ndarrays (labels are i64) as doubles. */
static double *ndarray(const msgpack_object *nd, size_t *shape, size_t *ndim)
{
    return ndarray_decode(nd, true, shape, ndim);
}

/* Singular values of the column-major m x n matrix a (copied), descending, into sv (min(m,n)). */
static void lapack_sv(const double *a, size_t m, size_t n, double *sv)
{
    double *w = malloc(m * n * sizeof *w);
    cr_assert(w);
    memcpy(w, a, m * n * sizeof *w);
    cr_assert_eq(LAPACKE_dgesdd(LAPACK_COL_MAJOR, 'N', (lapack_int)m, (lapack_int)n, w,
                                (lapack_int)m, sv, NULL, 1, NULL, 1),
                 0);
    free(w);
}

/* True relative rank-r error of the column-major m x n matrix a. */
static double true_error(const double *a, size_t m, size_t n, size_t r)
{
    size_t ns = m < n ? m : n;
    double *sv = malloc(ns * sizeof *sv), total = 0.0, tail = 0.0;
    cr_assert(sv);
    lapack_sv(a, m, n, sv);
    for (size_t k = 0; k < m * n; k++)
        total += a[k] * a[k];
    for (size_t i = ns; i > r; i--)
        tail += sv[i - 1] * sv[i - 1];
    free(sv);
    return total > 0.0 ? sqrt(tail / total) : 0.0;
}

/* Blocks of a mixture: block i (m x n, row-major) = B_{g(i)} C_i + noise, B_g an m x k random
 * basis of latent group g, so blocks of one group concatenate to a nearly rank-k matrix. A
 * negative noise makes B and C small integers instead (exactly rank k, exact in float). */
typedef struct mixture {
    size_t m, n, count;
    double *rows;              /* count blocks, each m x n row-major */
    double *cols;              /* the same blocks side by side, column-major m x (count n) */
} mixture;

static void mixture_make(mixture *mx, size_t m, size_t n, size_t count, size_t groups, size_t k,
                         double noise, uint64_t seed)
{
    spx_rng rng;
    spx_rng_seed(&rng, seed);
    mx->m = m;
    mx->n = n;
    mx->count = count;
    mx->rows = malloc(count * m * n * sizeof *mx->rows);
    mx->cols = malloc(count * m * n * sizeof *mx->cols);
    double *basis = malloc(groups * m * k * sizeof *basis), *c = malloc(k * n * sizeof *c);
    cr_assert(mx->rows && mx->cols && basis && c);
    spx_rng_normal_fill(&rng, basis, groups * m * k);
    if (noise < 0.0)           /* small integers: exactly rank k, and exact in f32 too */
        for (size_t i = 0; i < groups * m * k; i++)
            basis[i] = (double)spx_rng_below(&rng, 7) - 3.0;
    for (size_t b = 0; b < count; b++) {
        const double *bg = basis + (b % groups) * m * k;
        spx_rng_normal_fill(&rng, c, k * n);
        double scale = 0.5 + spx_rng_uniform(&rng);
        if (noise < 0.0) {
            for (size_t i = 0; i < k * n; i++)
                c[i] = (double)spx_rng_below(&rng, 5) - 2.0;
            scale = 1.0;
        }
        for (size_t i = 0; i < m; i++)
            for (size_t j = 0; j < n; j++) {
                double v = 0.0;
                for (size_t l = 0; l < k; l++)
                    v += bg[i * k + l] * c[l * n + j];
                if (noise > 0.0)
                    v += noise * spx_rng_normal(&rng);
                v *= scale;
                mx->rows[b * m * n + i * n + j] = v;
                mx->cols[(b * n + j) * m + i] = v;
            }
    }
    free(basis);
    free(c);
}

static void mixture_free(mixture *mx)
{
    free(mx->rows);
    free(mx->cols);
}

/* ---- isvd ------------------------------------------------------------------------------------- */

Test(adapter_isvd, registered_for_blocks)
{
    const spx_pipeline_ops *ops = kind("isvd");
    cr_assert_eq(ops->kinds, SPX_KIND_BLOCKS);
    cr_assert(ops->command);
    cr_assert_str_eq(ops->commands, "left_vectors");
}

Test(adapter_isvd, bad_params)
{
    const spx_pipeline_ops *ops = kind("isvd");
    create_fails(ops, 16, "rank", "0", "rank=0");
    create_fails(ops, 16, "rank", "17", "[1, 16]");
    create_fails(ops, 16, "rank", "-1", "not a non-negative integer");
    create_fails(ops, 16, "oversample", "x", "not a non-negative integer");
    create_fails(ops, 16, "chunk_cols", "0", "chunk_cols");
    create_fails(ops, 16, "forget", "0", "(0, 1]");
    create_fails(ops, 16, "forget", "1.5", "forget");
    create_fails(ops, 16, "forget", "nan", "not a number");
    create_fails(ops, 16, "rank_tol", "0.1", "rank_tol");
    create_fails(ops, 16, "rows", "16", "stream's dim");
    create_fails(ops, 16, "colour", "red", "unknown parameter colour");
    /* the state size guard: m = 2^20 rows with chunks of 4096 columns is tens of GiB */
    create_fails(ops, 1u << 20, "chunk_cols", "4096", "GiB");
    const char *good[] = {"rank=3", "oversample=2", "chunk_cols=5", "forget=0.5",
                          "reorth_every=0", "rank_tol=0", NULL};
    void *st = create_ok(ops, 16, good);
    ops->destroy(st);
    /* rank defaults to min(10, m) */
    st = create_ok(ops, 4, NULL);
    packed r;
    result_of(ops, st, &r);
    cr_assert_eq(get_uint(r.root, "rank"), 4);
    cr_assert_eq(get_uint(r.root, "updates"), 0);
    packed_free(&r);
    ops->destroy(st);
}

/* Exactly rank-5 data in blocks of 7 columns (wider than chunk_cols=4 so blocks are split, and
 * half of them f32): the singular values match dgesdd of the concatenation and the left vectors
 * are orthonormal and span the data. */
Test(adapter_isvd, low_rank_matches_lapack)
{
    const spx_pipeline_ops *ops = kind("isvd");
    const size_t m = 40, n = 7, nb = 12, k = 5;
    mixture mx;
    mixture_make(&mx, m, n, nb, 1, k, -1.0, 7);
    const char *params[] = {"rank=6", "chunk_cols=4", NULL};
    void *st = create_ok(ops, (uint32_t)m, params);
    float *f32 = malloc(m * n * sizeof *f32);
    cr_assert(f32);
    char err[256];
    for (size_t b = 0; b < nb; b++) {
        const double *blk = mx.rows + b * m * n;
        spx_input in;
        if (b % 2) {
            for (size_t i = 0; i < m * n; i++)
                f32[i] = (float)blk[i];   /* exact: the data are small integers */
            in = block_input(f32, SPX_DTYPE_F32, (uint32_t)m, (uint32_t)n, "b", 0);
        } else {
            in = block_input(blk, SPX_DTYPE_F64, (uint32_t)m, (uint32_t)n, "b", 0);
        }
        cr_assert_eq(ops->update(st, &in, err, sizeof err), 0, "%s", err);
    }
    double sv[40];
    lapack_sv(mx.cols, m, n * nb, sv);
    packed r;
    result_of(ops, st, &r);
    size_t shape[2], ndim;
    double *s = ndarray(get(r.root, "singular_values"), shape, &ndim);
    cr_assert_eq(ndim, 1);
    cr_assert_eq(shape[0], 6);
    for (size_t i = 0; i < 6; i++)
        cr_assert_float_eq(s[i], sv[i], 1e-9 * sv[0], "sigma_%zu %.15g vs %.15g", i, s[i], sv[i]);
    cr_assert_eq(get_uint(r.root, "updates"), nb);
    cr_assert_eq(get_uint(r.root, "columns"), nb * n);
    cr_assert_eq(get_uint(r.root, "rows"), m);
    cr_assert_leq(get_double(r.root, "rel_error"), 1e-7);
    free(s);
    packed_free(&r);

    packed lv;
    cr_assert_eq(command_of(ops, st, "left_vectors", NULL, &lv, err, sizeof err), SPX_OK, "%s",
                 err);
    double *u = ndarray(get(lv.root, "u"), shape, &ndim);
    cr_assert_eq(ndim, 2);
    cr_assert_eq(shape[0], m);
    cr_assert_eq(shape[1], 6);
    /* the first k columns (row-major m x 6) are orthonormal and U_k U_k^T M = M */
    for (size_t a = 0; a < k; a++)
        for (size_t b = 0; b < k; b++) {
            double dot = 0.0;
            for (size_t i = 0; i < m; i++)
                dot += u[i * 6 + a] * u[i * 6 + b];
            cr_assert_float_eq(dot, a == b ? 1.0 : 0.0, 1e-12);
        }
    double resid = 0.0, total = 0.0;
    for (size_t j = 0; j < n * nb; j++) {
        const double *col = mx.cols + j * m;
        double c[5] = {0};
        for (size_t a = 0; a < k; a++)
            for (size_t i = 0; i < m; i++)
                c[a] += u[i * 6 + a] * col[i];
        for (size_t i = 0; i < m; i++) {
            double v = col[i];
            for (size_t a = 0; a < k; a++)
                v -= u[i * 6 + a] * c[a];
            resid += v * v;
            total += col[i] * col[i];
        }
    }
    cr_assert_leq(sqrt(resid / total), 1e-10);
    free(u);
    packed_free(&lv);
    ops->destroy(st);
    free(f32);
    mixture_free(&mx);
}

/* Refused inputs leave the result byte for byte as it was; a bare end marker is accepted. */
Test(adapter_isvd, refused_inputs_change_nothing)
{
    const spx_pipeline_ops *ops = kind("isvd");
    const size_t m = 8, n = 3;
    mixture mx;
    mixture_make(&mx, m, n, 2, 1, 2, 0.1, 3);
    void *st = create_ok(ops, (uint32_t)m, NULL);
    char err[256];
    spx_input in = block_input(mx.rows, SPX_DTYPE_F64, (uint32_t)m, (uint32_t)n, "a", 0);
    cr_assert_eq(ops->update(st, &in, err, sizeof err), 0);
    packed before, after;
    result_of(ops, st, &before);

    in = block_input(mx.rows, SPX_DTYPE_F64, (uint32_t)m, 0, "empty", 0);
    err[0] = '\0';
    cr_assert_eq(ops->update(st, &in, err, sizeof err), -1);
    cr_assert(strstr(err, "no columns") && strstr(err, "empty"), "%s", err);
    in = block_input(mx.rows, SPX_DTYPE_F64, (uint32_t)m - 1, (uint32_t)n, "short", 0);
    cr_assert_eq(ops->update(st, &in, err, sizeof err), -1);
    cr_assert(strstr(err, "rows"), "%s", err);
    in = block_input(NULL, SPX_DTYPE_F64, (uint32_t)m, 0, "end", 1);
    cr_assert_eq(ops->update(st, &in, err, sizeof err), 0, "a bare end marker is fine");

    result_of(ops, st, &after);
    cr_assert_eq(before.sb.size, after.sb.size);
    cr_assert(memcmp(before.sb.data, after.sb.data, before.sb.size) == 0);
    packed_free(&before);
    packed_free(&after);

    packed p;
    cr_assert_eq(command_of(ops, st, "factors", NULL, &p, err, sizeof err), SPX_E_UNKNOWN_OP);
    packed_free(&p);
    cr_assert_eq(command_of(ops, st, "left_vectors", "{rank:2}", &p, err, sizeof err),
                 SPX_E_BAD_PARAM);
    cr_assert(strstr(err, "no arguments"), "%s", err);
    packed_free(&p);
    ops->destroy(st);
    mixture_free(&mx);
}

/* With forgetting, old blocks decay: the result is that of the weighted concatenation
 * [lambda^(T-1) A_1, ..., lambda A_{T-1}, A_T]. */
Test(adapter_isvd, forgetting_weights_old_blocks)
{
    const spx_pipeline_ops *ops = kind("isvd");
    const size_t m = 10, n = 2, nb = 4;
    const double lambda = 0.5;
    mixture mx;
    mixture_make(&mx, m, n, nb, 1, 2, -1.0, 11);
    const char *params[] = {"rank=2", "forget=0.5", NULL};
    void *st = create_ok(ops, (uint32_t)m, params);
    char err[256];
    for (size_t b = 0; b < nb; b++) {
        spx_input in = block_input(mx.rows + b * m * n, SPX_DTYPE_F64, (uint32_t)m, (uint32_t)n,
                                   "b", 0);
        cr_assert_eq(ops->update(st, &in, err, sizeof err), 0);
        double w = pow(lambda, (double)(nb - 1 - b));
        for (size_t j = 0; j < m * n; j++)
            mx.cols[b * m * n + j] *= w;
    }
    double sv[10];
    lapack_sv(mx.cols, m, n * nb, sv);
    packed r;
    result_of(ops, st, &r);
    size_t shape[2], ndim;
    double *s = ndarray(get(r.root, "singular_values"), shape, &ndim);
    for (size_t i = 0; i < 2; i++)
        cr_assert_float_eq(s[i], sv[i], 1e-9 * sv[0]);
    cr_assert_float_eq(get_double(r.root, "forget"), 0.5, 0.0);
    free(s);
    packed_free(&r);
    ops->destroy(st);
    mixture_free(&mx);
}

/* ---- svdcluster ------------------------------------------------------------------------------- */

Test(adapter_svdcluster, registered_for_blocks)
{
    const spx_pipeline_ops *ops = kind("svdcluster");
    cr_assert_eq(ops->kinds, SPX_KIND_BLOCKS);
    cr_assert_str_eq(ops->commands, "groups,factors,recluster");
}

Test(adapter_svdcluster, bad_params)
{
    const spx_pipeline_ops *ops = kind("svdcluster");
    create_fails(ops, 16, "rank", "0", "rank=0");
    create_fails(ops, 16, "rank", "17", "[1, 16]");
    create_fails(ops, 16, "eps", "0", "(0, 1)");
    create_fails(ops, 16, "eps", "1", "(0, 1)");
    create_fails(ops, 16, "eps", "-0.1", "eps");
    create_fails(ops, 16, "method", "kmeans", "approx, residual, maxnorm");
    create_fails(ops, 16, "max_open", "0", "max_open");
    create_fails(ops, 16, "max_cols", "4097", "max_cols");
    create_fails(ops, 16, "oversample", "17", "oversample");
    create_fails(ops, 16, "rows", "16", "stream's dim");
    create_fails(ops, 16, "k", "3", "unknown parameter k");
    create_fails(ops, 1u << 16, "max_open", "100000", "GiB");
    const char *good[] = {"rank=4", "eps=0.1", "oversample=0", "patience=0", "method=maxnorm",
                          "max_open=3", "max_cols=4", "screen_depth=0", "max_blocks=0", NULL};
    void *st = create_ok(ops, 16, good);
    packed r;
    result_of(ops, st, &r);
    cr_assert_eq(get(r.root, "assignment")->type, MSGPACK_OBJECT_NIL);
    cr_assert_eq(get(r.root, "batch")->type, MSGPACK_OBJECT_NIL);
    cr_assert_eq(get_uint(r.root, "blocks"), 0);
    cr_assert_eq(get_uint(r.root, "rank"), 4);
    packed_free(&r);
    ops->destroy(st);
}

typedef struct feed {
    const spx_pipeline_ops *ops;
    void *st;
    mixture mx;
    char ids[64][32];
    uint64_t *label;           /* online group of each block, from the published assignments */
} feed;

/* Feeds the mixture block by block (odd blocks as f32) and checks each published assignment. */
static void feed_blocks(feed *f, const char *const *params, size_t m, size_t n, size_t count,
                        size_t groups, size_t k, double eps)
{
    cr_assert_leq(count, sizeof f->ids / sizeof f->ids[0]);
    f->ops = kind("svdcluster");
    mixture_make(&f->mx, m, n, count, groups, k, 1e-3, 5);
    f->st = create_ok(f->ops, (uint32_t)m, params);
    f->label = malloc(count * sizeof *f->label);
    float *f32 = malloc(m * n * sizeof *f32);
    cr_assert(f->label && f32);
    uint64_t opened = 0;
    char err[256];
    for (size_t b = 0; b < count; b++) {
        double *blk = f->mx.rows + b * m * n;
        snprintf(f->ids[b], sizeof f->ids[b], "blk-%zu", b);
        spx_input in = block_input(blk, SPX_DTYPE_F64, (uint32_t)m, (uint32_t)n, f->ids[b], 0);
        if (b % 2) {
            for (size_t i = 0; i < m * n; i++) {
                f32[i] = (float)blk[i];
                blk[i] = (double)f32[i];
            }
            for (size_t i = 0; i < m; i++)
                for (size_t j = 0; j < n; j++)
                    f->mx.cols[(b * n + j) * m + i] = blk[i * n + j];
            in = block_input(f32, SPX_DTYPE_F32, (uint32_t)m, (uint32_t)n, f->ids[b], 0);
        }
        cr_assert_eq(f->ops->update(f->st, &in, err, sizeof err), 0, "%s", err);
        packed r;
        result_of(f->ops, f->st, &r);
        const msgpack_object *as = get(r.root, "assignment");
        cr_assert(str_is(get(as, "block_id"), f->ids[b]));
        cr_assert_eq(get_uint(as, "block"), b);
        uint64_t g = get_uint(as, "group");
        bool op;
        cr_assert_eq(spx_obj_bool(get(as, "opened"), &op), 0);
        cr_assert_eq(op, g == opened, "a block opens exactly the next group number");
        opened += op;
        cr_assert_leq(get_double(as, "bound"), eps);
        cr_assert_eq(get(as, "closed")->type == MSGPACK_OBJECT_NEGATIVE_INTEGER ||
                         get(as, "closed")->type == MSGPACK_OBJECT_POSITIVE_INTEGER,
                     1);
        cr_assert_eq(get_uint(r.root, "blocks"), b + 1);
        cr_assert_eq(get_uint(r.root, "groups"), opened);
        cr_assert_leq(get_uint(r.root, "open_groups"), opened);
        f->label[b] = g;
        packed_free(&r);
    }
    free(f32);
}

static void feed_free(feed *f)
{
    f->ops->destroy(f->st);
    mixture_free(&f->mx);
    free(f->label);
}

/* Concatenates the blocks of one group (column-major) and returns its true rank-r error. */
static double group_true_error(const mixture *mx, const double *blocks, size_t nmember, size_t r)
{
    double *a = malloc(mx->m * mx->n * nmember * sizeof *a);
    cr_assert(a);
    for (size_t i = 0; i < nmember; i++)
        memcpy(a + i * mx->m * mx->n, mx->cols + (size_t)blocks[i] * mx->m * mx->n,
               mx->m * mx->n * sizeof *a);
    double e = true_error(a, mx->m, mx->n * nmember, r);
    free(a);
    return e;
}

/* A partition value (groups / recluster): every block exactly once, labels and ids agree, bounds
 * within eps and never below the true error. Returns the group count. */
static size_t check_partition(const feed *f, const msgpack_object *v, size_t count, size_t r,
                              double eps)
{
    cr_assert_eq(get_uint(v, "blocks"), count);
    size_t shape[2], ndim;
    double *labels = ndarray(get(v, "labels"), shape, &ndim);
    cr_assert_eq(shape[0], count);
    const msgpack_object *groups = get(v, "groups");
    cr_assert_eq(groups->type, MSGPACK_OBJECT_ARRAY);
    size_t ng = groups->via.array.size;
    cr_assert_eq(get_uint(v, "count"), ng);
    int *seen = calloc(count, sizeof *seen);
    cr_assert(seen);
    double mx_bound = 0.0;
    for (size_t g = 0; g < ng; g++) {
        const msgpack_object *grp = &groups->via.array.ptr[g];
        cr_assert_eq(get_uint(grp, "group"), g);
        double *blocks = ndarray(get(grp, "blocks"), shape, &ndim);
        size_t nm = shape[0];
        const msgpack_object *ids = get(grp, "block_ids");
        cr_assert_eq(ids->via.array.size, nm);
        cr_assert_eq(get_uint(grp, "columns"), nm * f->mx.n);
        for (size_t i = 0; i < nm; i++) {
            size_t b = (size_t)blocks[i];
            cr_assert_lt(b, count);
            seen[b]++;
            cr_assert_eq(labels[b], (double)g);
            cr_assert(str_is(&ids->via.array.ptr[i], f->ids[b]));
        }
        double bound = get_double(grp, "bound"), te = group_true_error(&f->mx, blocks, nm, r);
        cr_assert_leq(bound, eps);
        cr_assert_leq(te, bound + 1e-9, "group %zu: true error %.6g above its bound %.6g", g, te,
                      bound);
        mx_bound = fmax(mx_bound, bound);
        free(blocks);
    }
    for (size_t b = 0; b < count; b++)
        cr_assert_eq(seen[b], 1, "block %zu in %d groups", b, seen[b]);
    cr_assert_float_eq(get_double(v, "max_bound"), mx_bound, 0.0);
    free(seen);
    free(labels);
    return ng;
}

Test(adapter_svdcluster, online_groups_recluster_factors)
{
    const size_t m = 24, n = 3, count = 36, r = 4;
    const double eps = 0.05;
    const char *params[] = {"rank=4", "eps=0.05", "max_cols=5", NULL};
    feed f;
    feed_blocks(&f, params, m, n, count, 3, 3, eps);
    char err[256];
    packed p;

    /* the online partition agrees with the assignments published block by block */
    cr_assert_eq(command_of(f.ops, f.st, "groups", NULL, &p, err, sizeof err), SPX_OK, "%s", err);
    cr_assert(str_is(get(p.root, "partition"), "online"));
    size_t online = check_partition(&f, p.root, count, r, eps);
    cr_assert_geq(online, 3);
    size_t shape[2], ndim;
    double *labels = ndarray(get(p.root, "labels"), shape, &ndim);
    for (size_t b = 0; b < count; b++)
        cr_assert_eq(labels[b], (double)f.label[b]);
    free(labels);
    cr_assert_gt(get_double(p.root, "compression"), 1.0);
    packed_free(&p);

    /* bad arguments: nothing packed, clear codes */
    cr_assert_eq(command_of(f.ops, f.st, "recluster", "{method:'kmeans'}", &p, err, sizeof err),
                 SPX_E_BAD_PARAM);
    packed_free(&p);
    cr_assert_eq(command_of(f.ops, f.st, "recluster", "{speed:1}", &p, err, sizeof err),
                 SPX_E_BAD_PARAM);
    cr_assert(strstr(err, "speed"), "%s", err);
    packed_free(&p);
    cr_assert_eq(command_of(f.ops, f.st, "groups", "{partition:'batch'}", &p, err, sizeof err),
                 SPX_E_BAD_PARAM, "no batch partition before a recluster");
    packed_free(&p);
    cr_assert_eq(command_of(f.ops, f.st, "factors", NULL, &p, err, sizeof err), SPX_E_BAD_PARAM);
    packed_free(&p);
    cr_assert_eq(command_of(f.ops, f.st, "factors", "{group:9999}", &p, err, sizeof err),
                 SPX_E_BAD_PARAM);
    packed_free(&p);
    cr_assert_eq(command_of(f.ops, f.st, "fit", NULL, &p, err, sizeof err), SPX_E_UNKNOWN_OP);
    packed_free(&p);

    /* every method's batch partition is valid; approx is the default */
    static const char *const methods[] = {"maxnorm", "residual", "approx"};
    size_t batch_count = 0;
    for (size_t i = 0; i < 3; i++) {
        char args[64];
        snprintf(args, sizeof args, "{method:'%s'}", methods[i]);
        cr_assert_eq(command_of(f.ops, f.st, "recluster", args, &p, err, sizeof err), SPX_OK,
                     "%s", err);
        cr_assert(str_is(get(p.root, "partition"), "batch"));
        cr_assert(str_is(get(p.root, "method"), methods[i]));
        batch_count = check_partition(&f, p.root, count, r, eps);
        packed_free(&p);
    }
    cr_assert_leq(batch_count, online + 1, "approx re-clustering is not much worse than online");

    /* groups now defaults to the (current) batch partition, and the result says so */
    cr_assert_eq(command_of(f.ops, f.st, "groups", NULL, &p, err, sizeof err), SPX_OK);
    cr_assert(str_is(get(p.root, "partition"), "batch"));
    packed_free(&p);
    packed res;
    result_of(f.ops, f.st, &res);
    const msgpack_object *batch = get(res.root, "batch");
    cr_assert(str_is(get(batch, "method"), "approx"));
    cr_assert_eq(get_uint(batch, "groups"), batch_count);
    cr_assert_eq(get(batch, "error")->type, MSGPACK_OBJECT_NIL);
    double *bl = ndarray(get(batch, "labels"), shape, &ndim);
    cr_assert_eq(shape[0], count);
    free(bl);
    packed_free(&res);

    /* factors of every batch group reconstruct its blocks to within the bound */
    for (size_t g = 0; g < batch_count; g++) {
        char args[64];
        snprintf(args, sizeof args, "{group:%zu}", g);
        cr_assert_eq(command_of(f.ops, f.st, "factors", args, &p, err, sizeof err), SPX_OK, "%s",
                     err);
        cr_assert_eq(get_uint(p.root, "group"), g);
        double bound = get_double(p.root, "bound"), rel = get_double(p.root, "rel_error");
        double *u = ndarray(get(p.root, "u"), shape, &ndim);
        cr_assert_eq(shape[0], m);
        cr_assert_eq(shape[1], r);
        double *s = ndarray(get(p.root, "s"), shape, &ndim);
        cr_assert_eq(shape[0], r);
        double *blocks = ndarray(get(p.root, "blocks"), shape, &ndim);
        size_t nm = shape[0];
        const msgpack_object *coefs = get(p.root, "coefficients");
        cr_assert_eq(coefs->via.array.size, nm);
        for (size_t a = 0; a < r; a++)
            for (size_t b = 0; b < r; b++) {
                double dot = 0.0;
                for (size_t i = 0; i < m; i++)
                    dot += u[i * r + a] * u[i * r + b];
                cr_assert_float_eq(dot, a == b ? 1.0 : 0.0, 1e-10);
            }
        double resid = 0.0, total = 0.0, cnorm = 0.0, snorm = 0.0;
        for (size_t i = 0; i < nm; i++) {
            double *c = ndarray(&coefs->via.array.ptr[i], shape, &ndim);
            cr_assert_eq(ndim, 2);
            cr_assert_eq(shape[0], r);
            cr_assert_eq(shape[1], n);
            const double *blk = f.mx.rows + (size_t)blocks[i] * m * n;
            for (size_t row = 0; row < m; row++)
                for (size_t j = 0; j < n; j++) {
                    double v = blk[row * n + j];
                    for (size_t a = 0; a < r; a++)
                        v -= u[row * r + a] * c[a * n + j];
                    resid += v * v;
                    total += blk[row * n + j] * blk[row * n + j];
                }
            for (size_t a = 0; a < r * n; a++)
                cnorm += c[a] * c[a];
            free(c);
        }
        for (size_t a = 0; a < r; a++)
            snorm += s[a] * s[a];
        double recon = sqrt(resid / total);
        cr_assert_float_eq(recon, rel, 1e-6, "reconstruction %.3g vs reported %.3g", recon, rel);
        cr_assert_leq(recon, bound + 1e-9, "group %zu: %.3g above bound %.3g", g, recon, bound);
        cr_assert_float_eq(cnorm, snorm, 1e-9 * snorm, "||coef||_F^2 = sum s^2");
        free(u);
        free(s);
        free(blocks);
        packed_free(&p);
    }
    /* the online partition stays available, and its open groups have factors too */
    cr_assert_eq(command_of(f.ops, f.st, "factors", "{group:0, partition:'online'}", &p, err,
                            sizeof err),
                 SPX_OK, "%s", err);
    cr_assert(str_is(get(p.root, "partition"), "online"));
    packed_free(&p);
    feed_free(&f);
}

/* Refused blocks (no columns, too wide, wrong rows) change nothing; end=1 re-clusters. */
Test(adapter_svdcluster, refused_blocks_and_end_of_stream)
{
    const size_t m = 16, n = 2, count = 10;
    const char *params[] = {"rank=3", "eps=0.1", "max_cols=4", "method=residual", NULL};
    feed f;
    feed_blocks(&f, params, m, n, count, 2, 2, 0.1);
    char err[256];
    packed before, after;
    result_of(f.ops, f.st, &before);
    double wide[16 * 5] = {0};
    wide[0] = 1.0;
    spx_input in = block_input(wide, SPX_DTYPE_F64, (uint32_t)m, 0, "nothing", 0);
    cr_assert_eq(f.ops->update(f.st, &in, err, sizeof err), -1);
    cr_assert(strstr(err, "no columns"), "%s", err);
    in = block_input(wide, SPX_DTYPE_F64, (uint32_t)m, 5, "wide", 0);
    cr_assert_eq(f.ops->update(f.st, &in, err, sizeof err), -1);
    cr_assert(strstr(err, "max_cols=4") && strstr(err, "wide"), "%s", err);
    in = block_input(wide, SPX_DTYPE_F64, (uint32_t)m - 1, 2, "short", 0);
    cr_assert_eq(f.ops->update(f.st, &in, err, sizeof err), -1);
    result_of(f.ops, f.st, &after);
    cr_assert_eq(before.sb.size, after.sb.size);
    cr_assert(memcmp(before.sb.data, after.sb.data, before.sb.size) == 0);
    packed_free(&before);
    packed_free(&after);

    /* a bare end marker: no assignment, a current batch partition with the stream's method */
    in = block_input(NULL, SPX_DTYPE_F64, (uint32_t)m, 0, "end", 1);
    cr_assert_eq(f.ops->update(f.st, &in, err, sizeof err), 0, "%s", err);
    packed r;
    result_of(f.ops, f.st, &r);
    cr_assert_eq(get(r.root, "assignment")->type, MSGPACK_OBJECT_NIL);
    cr_assert_eq(get_uint(r.root, "blocks"), count);
    const msgpack_object *batch = get(r.root, "batch");
    cr_assert(str_is(get(batch, "method"), "residual"));
    bool current;
    cr_assert_eq(spx_obj_bool(get(batch, "current"), &current), 0);
    cr_assert(current);
    cr_assert_eq(get_uint(batch, "blocks"), count);
    size_t shape[2], ndim;
    double *labels = ndarray(get(batch, "labels"), shape, &ndim);
    double *bounds = ndarray(get(batch, "bounds"), shape, &ndim);
    cr_assert_eq(shape[0], get_uint(batch, "groups"));
    for (size_t b = 0; b < count; b++)
        cr_assert_lt(labels[b], (double)shape[0]);
    for (size_t g = 0; g < shape[0]; g++)
        cr_assert_leq(bounds[g], 0.1);
    free(labels);
    free(bounds);
    packed_free(&r);

    /* a block after the batch: the batch partition is no longer current, groups is online again */
    in = block_input(f.mx.rows, SPX_DTYPE_F64, (uint32_t)m, (uint32_t)n, "late", 0);
    cr_assert_eq(f.ops->update(f.st, &in, err, sizeof err), 0);
    result_of(f.ops, f.st, &r);
    batch = get(r.root, "batch");
    cr_assert_eq(spx_obj_bool(get(batch, "current"), &current), 0);
    cr_assert(!current);
    cr_assert_null(spx_map_get(batch, "labels"));
    packed_free(&r);
    packed p;
    cr_assert_eq(command_of(f.ops, f.st, "groups", NULL, &p, err, sizeof err), SPX_OK);
    cr_assert(str_is(get(p.root, "partition"), "online"));
    cr_assert_eq(get_uint(p.root, "blocks"), count + 1);
    packed_free(&p);
    cr_assert_eq(command_of(f.ops, f.st, "groups", "{partition:'batch'}", &p, err, sizeof err),
                 SPX_OK);
    cr_assert_eq(get_uint(p.root, "blocks"), count);
    packed_free(&p);

    /* a last block carrying end=1 is assigned and then everything is re-clustered */
    in = block_input(f.mx.rows + m * n, SPX_DTYPE_F64, (uint32_t)m, (uint32_t)n, "last", 1);
    cr_assert_eq(f.ops->update(f.st, &in, err, sizeof err), 0);
    result_of(f.ops, f.st, &r);
    cr_assert(str_is(get(get(r.root, "assignment"), "block_id"), "last"));
    batch = get(r.root, "batch");
    cr_assert_eq(get_uint(batch, "blocks"), count + 2);
    packed_free(&r);
    feed_free(&f);
}

/* Blocks past max_blocks are assigned online but not retained: the batch covers the retained
 * ones, factors of a group with a dropped block are refused, compression is unknown (nil). */
Test(adapter_svdcluster, max_blocks_limits_retention)
{
    const size_t m = 12, n = 2, count = 6;
    const char *params[] = {"rank=2", "eps=0.2", "max_blocks=3", "max_cols=2", NULL};
    feed f;
    feed_blocks(&f, params, m, n, count, 1, 2, 0.2);
    char err[256];
    packed r;
    result_of(f.ops, f.st, &r);
    cr_assert_eq(get_uint(r.root, "retained"), 3);
    packed_free(&r);
    packed p;
    cr_assert_eq(command_of(f.ops, f.st, "groups", NULL, &p, err, sizeof err), SPX_OK);
    cr_assert_eq(get(p.root, "compression")->type, MSGPACK_OBJECT_NIL);
    cr_assert_eq(get_uint(p.root, "count"), 1, "one latent group of rank 2");
    packed_free(&p);
    cr_assert_eq(command_of(f.ops, f.st, "factors", "{group:0}", &p, err, sizeof err),
                 SPX_E_BAD_PARAM);
    cr_assert(strstr(err, "not retained") && strstr(err, "blk-3"), "%s", err);
    packed_free(&p);
    cr_assert_eq(command_of(f.ops, f.st, "recluster", NULL, &p, err, sizeof err), SPX_OK);
    cr_assert_eq(get_uint(p.root, "blocks"), 3);
    packed_free(&p);
    feed_free(&f);
}

/* Re-clustering before any block: an empty partition, not an error. */
Test(adapter_svdcluster, recluster_empty)
{
    const spx_pipeline_ops *ops = kind("svdcluster");
    void *st = create_ok(ops, 8, NULL);
    char err[256];
    packed p;
    cr_assert_eq(command_of(ops, st, "recluster", NULL, &p, err, sizeof err), SPX_OK, "%s", err);
    cr_assert_eq(get_uint(p.root, "count"), 0);
    cr_assert_eq(get_uint(p.root, "blocks"), 0);
    packed_free(&p);
    spx_input in = block_input(NULL, SPX_DTYPE_F64, 8, 0, "end", 1);
    cr_assert_eq(ops->update(st, &in, err, sizeof err), 0);
    packed r;
    result_of(ops, st, &r);
    cr_assert_eq(get_uint(get(r.root, "batch"), "groups"), 0);
    packed_free(&r);
    ops->destroy(st);
}
