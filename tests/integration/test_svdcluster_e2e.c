/* End to end: issue 4 through a real spectrad, driven with libspectra.
 *
 * svdcluster: the 400 synthetic blocks of ../shared/data/isvd/synth_K400_m128_n8.f64 (m = 128,
 * 8 columns each, ids "b0".."b399", the last one carrying end=1) into a blocks stream with
 * svdcluster (r = 20, eps = 0.05) publishing after every block. Every assignment is received on a
 * SUB socket; the online partition (get detail "groups") agrees with them; `call recluster`
 * (approx) gives a partition whose every group has a TRUE error (dgesdd of the concatenation, here)
 * <= eps, and it equals the partition published at end of stream; the factors of a group
 * reconstruct its blocks to the predicted error.
 *
 * isvd: exactly low-rank blocks; the published singular values match dgesdd and the left vectors
 * (get detail "left_vectors") are orthonormal and span the data. */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <lapacke.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daemon_harness.h"
#include "spectra.h"
#include "testdata.h"

#define K400_BLOCKS 400
#define K400_ROWS 128
#define K400_COLS 8
#define K400_REF_GROUPS 18       /* the reference code's approx/residual-order clusters */
#define RANK 20
#define EPS 0.05

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Test data without algorithms/ (not linked here): splitmix64 and an approximately normal value
 * (sum of 12 uniforms). */
static uint64_t splitmix(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void fill_normal(uint64_t *state, double *x, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        double v = -6.0;
        for (int k = 0; k < 12; k++)
            v += (double)(splitmix(state) >> 11) * 0x1.0p-53;
        x[i] = v;
    }
}

static spectra_client *client_for(const spx_daemon_proc *d)
{
    spectra_options o;
    spectra_options_init(&o);
    o.control = d->control;
    o.ingest = d->ingest;
    o.publish = d->publish;
    o.timeout_ms = 120000;     /* re-clustering under ASan takes a while */
    spectra_client *c = spectra_connect(&o);
    cr_assert(c);
    return c;
}

/* `get` with a detail (call = 0) or `call` (call = 1) of a named operation. args_key may be NULL;
 * otherwise one argument, a string (sval) or an unsigned number (uval). */
static spectra_msg *operation(spectra_client *c, int call, const char *stream, const char *pipeline,
                              const char *name, const char *args_key, const char *sval,
                              uint64_t uval)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, args_key ? 5 : 4);
    const char *kv[][2] = {{"op", call ? "call" : "get"}, {"stream", stream},
                           {"pipeline", pipeline}, {call ? "method" : "detail", name}};
    for (size_t i = 0; i < 4; i++)
        for (size_t j = 0; j < 2; j++) {
            msgpack_pack_str(&pk, strlen(kv[i][j]));
            msgpack_pack_str_body(&pk, kv[i][j], strlen(kv[i][j]));
        }
    if (args_key) {
        msgpack_pack_str(&pk, 4);
        msgpack_pack_str_body(&pk, "args", 4);
        msgpack_pack_map(&pk, 1);
        msgpack_pack_str(&pk, strlen(args_key));
        msgpack_pack_str_body(&pk, args_key, strlen(args_key));
        if (sval) {
            msgpack_pack_str(&pk, strlen(sval));
            msgpack_pack_str_body(&pk, sval, strlen(sval));
        } else {
            msgpack_pack_uint64(&pk, uval);
        }
    }
    spectra_msg *reply = NULL;
    int rc = spectra_request(c, sb.data, sb.size, &reply);
    msgpack_sbuffer_destroy(&sb);
    cr_assert_eq(rc, 0, "%s %s: %s (%s)", call ? "call" : "get", name, spectra_last_error(c),
                 spectra_last_error_code(c));
    return reply;
}

static double msg_double(const spectra_msg *m, const char *path)
{
    double v;
    cr_assert_eq(spectra_msg_double(m, path, &v), 0, "%s", path);
    return v;
}

static uint64_t msg_uint(const spectra_msg *m, const char *path)
{
    uint64_t v;
    cr_assert_eq(spectra_msg_uint(m, path, &v), 0, "%s", path);
    return v;
}

static double *msg_array(const spectra_msg *m, const char *path, size_t *shape, size_t *ndim)
{
    double *x = NULL;
    cr_assert_eq(spectra_msg_ndarray(m, path, &x, shape, 2, ndim), 0, "%s", path);
    return x;
}

/* Subscriptions reach a PUB socket asynchronously: results are published on a probe stream until
 * one arrives, after which the earlier subscription to `prefix` is in effect too. */
static void subscribe_and_settle(spectra_client *c, const char *prefix)
{
    cr_assert_eq(spectra_subscribe(c, prefix), 0);
    cr_assert_eq(spectra_subscribe(c, "probe."), 0);
    cr_assert_eq(spectra_create(c, "probe", SPECTRA_ROWS, 2, 0, NULL, 0), 0);
    cr_assert_eq(spectra_attach(c, "probe", "p", "topeig", NULL, 0, 1, 0), 0);
    const double row[2] = {1.0, 2.0};
    for (int attempt = 0; attempt < 100; attempt++) {
        cr_assert_eq(spectra_push_rows(c, "probe", SPECTRA_F64, row, 1, 2), 0);
        char topic[SPECTRA_TOPIC_MAX + 1];
        spectra_msg *body = NULL;
        if (spectra_recv_result(c, 100, topic, sizeof topic, &body) == 0) {
            spectra_msg_free(body);
            cr_assert_eq(spectra_unsubscribe(c, "probe."), 0);
            cr_assert_eq(spectra_drop(c, "probe"), 0);
            return;
        }
    }
    cr_assert(0, "no result on the probe stream in 10 s");
}

/* The true relative rank-r error of blocks `members` (indices into the row-major block file):
 * dgesdd of their concatenation, the tail summed from the smallest singular value. */
static double true_error(const double *blocks, size_t m, size_t n, const double *members,
                         size_t nmember, size_t r)
{
    size_t cols = n * nmember, ns = m < cols ? m : cols;
    double *a = malloc(m * cols * sizeof *a), *sv = malloc(ns * sizeof *sv), total = 0.0;
    cr_assert(a && sv);
    for (size_t k = 0; k < nmember; k++) {
        const double *blk = blocks + (size_t)members[k] * m * n;
        for (size_t i = 0; i < m; i++)
            for (size_t j = 0; j < n; j++) {
                double v = blk[i * n + j];
                a[(k * n + j) * m + i] = v;
                total += v * v;
            }
    }
    cr_assert_eq(LAPACKE_dgesdd(LAPACK_COL_MAJOR, 'N', (lapack_int)m, (lapack_int)cols, a,
                                (lapack_int)m, sv, NULL, 1, NULL, 1),
                 0);
    double tail = 0.0;
    for (size_t i = ns; i > r; i--)
        tail += sv[i - 1] * sv[i - 1];
    free(a);
    free(sv);
    return sqrt(tail / total);
}

/* Checks a partition value (path "value"): every block exactly once, block ids "b<i>", labels
 * consistent, and the TRUE error of every group <= eps and <= its bound. Fills label[] and returns
 * the group count; *max_true receives the largest true error. */
static size_t check_partition(const spectra_msg *reply, const double *blocks, size_t *label,
                              double *max_true)
{
    size_t shape[2], ndim, ng;
    cr_assert_eq(msg_uint(reply, "value.blocks"), K400_BLOCKS);
    cr_assert_eq(spectra_msg_size(reply, "value.groups", &ng), 0);
    cr_assert_eq(msg_uint(reply, "value.count"), ng);
    double *labels = msg_array(reply, "value.labels", shape, &ndim);
    cr_assert_eq(shape[0], K400_BLOCKS);
    int seen[K400_BLOCKS] = {0};
    *max_true = 0.0;
    for (size_t g = 0; g < ng; g++) {
        char path[96], id[32], want[32];
        snprintf(path, sizeof path, "value.groups.%zu.blocks", g);
        double *members = msg_array(reply, path, shape, &ndim);
        size_t nm = shape[0];
        for (size_t i = 0; i < nm; i++) {
            size_t b = (size_t)members[i];
            cr_assert_lt(b, K400_BLOCKS);
            seen[b]++;
            label[b] = g;
            cr_assert_eq(labels[b], (double)g);
            snprintf(path, sizeof path, "value.groups.%zu.block_ids.%zu", g, i);
            cr_assert_eq(spectra_msg_str(reply, path, id, sizeof id), 0);
            snprintf(want, sizeof want, "b%zu", b);
            cr_assert_str_eq(id, want);
        }
        snprintf(path, sizeof path, "value.groups.%zu.bound", g);
        double bound = msg_double(reply, path);
        double te = true_error(blocks, K400_ROWS, K400_COLS, members, nm, RANK);
        cr_assert_leq(te, EPS, "group %zu: true error %.5f > eps", g, te);
        cr_assert_leq(te, bound + 1e-9, "group %zu: true error %.6f above its bound %.6f", g, te,
                      bound);
        *max_true = fmax(*max_true, te);
        free(members);
    }
    for (size_t b = 0; b < K400_BLOCKS; b++)
        cr_assert_eq(seen[b], 1, "block b%zu is in %d groups", b, seen[b]);
    free(labels);
    return ng;
}

/* Factors of one group: U orthonormal, and U coef reconstructs every block of the group to the
 * reported error, which is within the group's bound. */
static void check_factors(spectra_client *c, const double *blocks, uint64_t group)
{
    spectra_msg *f = operation(c, 0, "blk", "sc", "factors", "group", NULL, group);
    size_t shape[2], ndim;
    double *u = msg_array(f, "value.u", shape, &ndim);
    cr_assert_eq(ndim, 2);
    cr_assert_eq(shape[0], K400_ROWS);
    cr_assert_eq(shape[1], RANK);
    for (size_t a = 0; a < RANK; a++)
        for (size_t b = 0; b < RANK; b++) {
            double dot = 0.0;
            for (size_t i = 0; i < K400_ROWS; i++)
                dot += u[i * RANK + a] * u[i * RANK + b];
            cr_assert_float_eq(dot, a == b ? 1.0 : 0.0, 1e-10);
        }
    double *members = msg_array(f, "value.blocks", shape, &ndim);
    size_t nm = shape[0], ncoef;
    cr_assert_eq(spectra_msg_size(f, "value.coefficients", &ncoef), 0);
    cr_assert_eq(ncoef, nm);
    double resid = 0.0, total = 0.0;
    for (size_t k = 0; k < nm; k++) {
        char path[64];
        snprintf(path, sizeof path, "value.coefficients.%zu", k);
        double *coef = msg_array(f, path, shape, &ndim);
        cr_assert_eq(shape[0], RANK);
        cr_assert_eq(shape[1], K400_COLS);
        const double *blk = blocks + (size_t)members[k] * K400_ROWS * K400_COLS;
        for (size_t i = 0; i < K400_ROWS; i++)
            for (size_t j = 0; j < K400_COLS; j++) {
                double v = blk[i * K400_COLS + j];
                total += v * v;
                for (size_t a = 0; a < RANK; a++)
                    v -= u[i * RANK + a] * coef[a * K400_COLS + j];
                resid += v * v;
            }
        free(coef);
    }
    double recon = sqrt(resid / total), rel = msg_double(f, "value.rel_error");
    double bound = msg_double(f, "value.bound");
    cr_assert_float_eq(recon, rel, 1e-7, "reconstruction %.6g vs reported %.6g", recon, rel);
    cr_assert_leq(recon, bound + 1e-9, "group %" PRIu64 ": %.6g above bound %.6g", group, recon,
                  bound);
    cr_log_info("factors of group %" PRIu64 ": %zu blocks, reconstruction error %.5f (bound %.5f)",
                group, nm, recon, bound);
    free(u);
    free(members);
    spectra_msg_free(f);
}

Test(svdcluster_e2e, golden_K400_through_the_daemon, .timeout = 600)
{
    char path[4096];
    SPX_REQUIRE_DATA(path, "isvd/synth_K400_m128_n8.f64");
    const size_t per = K400_ROWS * K400_COLS;
    double *blocks = malloc(K400_BLOCKS * per * sizeof *blocks);
    cr_assert(blocks);
    FILE *fp = fopen(path, "rb");
    cr_assert(fp);
    cr_assert_eq(fread(blocks, sizeof *blocks, K400_BLOCKS * per, fp), K400_BLOCKS * per);
    fclose(fp);

    spx_daemon_proc d;
    spx_daemon_start(&d, NULL);
    spectra_client *c = client_for(&d);
    cr_assert_eq(spectra_create(c, "blk", SPECTRA_BLOCKS, K400_ROWS, 0, NULL, 0), 0);
    const char *params[] = {"rank=20", "eps=0.05"};
    cr_assert_eq(spectra_attach(c, "blk", "sc", "svdcluster", params, 2, 1, 0), 0,
                 "%s", spectra_last_error(c));
    subscribe_and_settle(c, "blk.sc");

    /* a block wider than max_cols (64) is refused by the pipeline, which carries on */
    double *wide = calloc(K400_ROWS * 65, sizeof *wide);
    cr_assert(wide);
    cr_assert_eq(spectra_push_block(c, "blk", SPECTRA_F64, wide, K400_ROWS, 65, "wide"), 0);
    free(wide);

    double t0 = now_seconds();
    for (size_t b = 0; b < K400_BLOCKS; b++) {
        char id[16];
        snprintf(id, sizeof id, "b%zu", b);
        spectra_ingest m = {.stream = "blk", .kind = SPECTRA_BLOCKS, .dtype = SPECTRA_F64,
                            .shape = {K400_ROWS, K400_COLS}, .data = blocks + b * per, .id = id,
                            .end = b + 1 == K400_BLOCKS};
        cr_assert_eq(spectra_push(c, &m), 0, "%s", spectra_last_error(c));
    }

    /* every block's assignment, in order, one body per block */
    size_t online_label[K400_BLOCKS], end_label[K400_BLOCKS];
    uint64_t groups_opened = 0;
    double max_online_bound = 0.0;
    for (size_t b = 0; b < K400_BLOCKS; b++) {
        char topic[SPECTRA_TOPIC_MAX + 1], id[32], want[32];
        spectra_msg *body = NULL;
        cr_assert_eq(spectra_recv_result(c, 60000, topic, sizeof topic, &body), 0,
                     "no result for block %zu", b);
        cr_assert_str_eq(topic, "blk.sc");
        cr_assert_eq(msg_uint(body, "seq"), b + 1, "no result was lost");
        cr_assert_eq(spectra_msg_str(body, "result.assignment.block_id", id, sizeof id), 0);
        snprintf(want, sizeof want, "b%zu", b);
        cr_assert_str_eq(id, want);
        cr_assert_eq(msg_uint(body, "result.assignment.block"), b);
        uint64_t g = msg_uint(body, "result.assignment.group");
        int opened = 0;
        cr_assert_eq(spectra_msg_bool(body, "result.assignment.opened", &opened), 0);
        cr_assert_eq(opened != 0, g == groups_opened, "block %zu opens the next group", b);
        groups_opened += (uint64_t)(opened != 0);
        double bound = msg_double(body, "result.assignment.bound");
        cr_assert_leq(bound, EPS);
        max_online_bound = fmax(max_online_bound, bound);
        cr_assert_eq(msg_uint(body, "result.blocks"), b + 1);
        online_label[b] = (size_t)g;
        if (b + 1 == K400_BLOCKS) {
            /* end=1: the body after the last block carries the batch partition */
            size_t shape[2], ndim;
            int current = 0;
            cr_assert_eq(spectra_msg_bool(body, "result.batch.current", &current), 0);
            cr_assert(current);
            double *labels = msg_array(body, "result.batch.labels", shape, &ndim);
            cr_assert_eq(shape[0], K400_BLOCKS);
            for (size_t i = 0; i < K400_BLOCKS; i++)
                end_label[i] = (size_t)labels[i];
            free(labels);
        }
        spectra_msg_free(body);
    }
    double seconds = now_seconds() - t0;
    cr_log_info("svdcluster through spectrad: %d blocks (128 x 8) assigned and published in "
                "%.3f s (%.0f blocks/s), %" PRIu64 " online groups, max online bound %.5f",
                K400_BLOCKS, seconds, K400_BLOCKS / seconds, groups_opened, max_online_bound);
    cr_expect_leq(groups_opened, K400_REF_GROUPS, "online groups %" PRIu64 " vs the reference's %d",
                  groups_opened, K400_REF_GROUPS);

    /* the online partition agrees with the published assignments; true errors within eps */
    size_t label[K400_BLOCKS];
    double max_true = 0.0;
    spectra_msg *online = operation(c, 0, "blk", "sc", "groups", "partition", "online", 0);
    size_t n_online = check_partition(online, blocks, label, &max_true);
    cr_assert_eq(n_online, groups_opened);
    for (size_t b = 0; b < K400_BLOCKS; b++)
        cr_assert_eq(label[b], online_label[b], "block %zu", b);
    cr_log_info("online: %zu groups, max true error %.5f, compression %.3f", n_online, max_true,
                msg_double(online, "value.compression"));
    spectra_msg_free(online);

    /* batch re-clustering: every group's true error within eps, same as at end of stream */
    spectra_msg *batch = operation(c, 1, "blk", "sc", "recluster", "method", "approx", 0);
    size_t n_batch = check_partition(batch, blocks, label, &max_true);
    cr_assert_leq(n_batch, K400_REF_GROUPS, "batch approx: %zu groups vs the reference's %d",
                  n_batch, K400_REF_GROUPS);
    for (size_t b = 0; b < K400_BLOCKS; b++)
        cr_assert_eq(label[b], end_label[b], "the end-of-stream partition is the same");
    cr_log_info("batch approx: %zu groups, max true error %.5f, max bound %.5f, compression %.3f",
                n_batch, max_true, msg_double(batch, "value.max_bound"),
                msg_double(batch, "value.compression"));
    /* factors of the largest batch group */
    size_t best = 0, best_n = 0;
    for (size_t g = 0; g < n_batch; g++) {
        char p[64];
        size_t nm;
        snprintf(p, sizeof p, "value.groups.%zu.block_ids", g);
        cr_assert_eq(spectra_msg_size(batch, p, &nm), 0);
        if (nm > best_n) {
            best_n = nm;
            best = g;
        }
    }
    spectra_msg_free(batch);
    check_factors(c, blocks, best);

    /* the other methods are available too, each with a valid partition */
    spectra_msg *mx = operation(c, 1, "blk", "sc", "recluster", "method", "maxnorm", 0);
    size_t n_maxnorm = check_partition(mx, blocks, label, &max_true);
    cr_log_info("batch maxnorm: %zu groups (reference 388), max true error %.5f", n_maxnorm,
                max_true);
    spectra_msg_free(mx);

    /* the refused block is counted as the pipeline's error; nothing else was */
    spectra_msg *st = NULL;
    cr_assert_eq(spectra_stats(c, &st), 0);
    cr_assert_eq(msg_uint(st, "streams.blk.pipelines.sc.errors"), 1);
    cr_assert_eq(msg_uint(st, "streams.blk.pipelines.sc.count"), K400_BLOCKS);
    spectra_msg_free(st);

    spectra_close(c);
    free(blocks);
    cr_assert_eq(spx_daemon_stop(&d), 0);
}

Test(isvd_e2e, low_rank_blocks_match_lapack, .timeout = 300)
{
    const size_t m = 64, n = 5, nb = 40, k = 6, rank = 8;
    uint64_t seed = 42;
    double *basis = malloc(m * k * sizeof *basis), *coef = malloc(k * n * sizeof *coef);
    double *rows = malloc(nb * m * n * sizeof *rows), *cols = malloc(nb * m * n * sizeof *cols);
    cr_assert(basis && coef && rows && cols);
    fill_normal(&seed, basis, m * k);
    for (size_t b = 0; b < nb; b++) {
        fill_normal(&seed, coef, k * n);
        for (size_t i = 0; i < m; i++)
            for (size_t j = 0; j < n; j++) {
                double v = 0.0;
                for (size_t l = 0; l < k; l++)
                    v += basis[i * k + l] * coef[l * n + j];
                rows[b * m * n + i * n + j] = v;
                cols[(b * n + j) * m + i] = v;
            }
    }
    double sv[64], *work = malloc(nb * m * n * sizeof *work);
    cr_assert(work);
    memcpy(work, cols, nb * m * n * sizeof *work);
    cr_assert_eq(LAPACKE_dgesdd(LAPACK_COL_MAJOR, 'N', (lapack_int)m, (lapack_int)(nb * n), work,
                                (lapack_int)m, sv, NULL, 1, NULL, 1),
                 0);
    free(work);

    spx_daemon_proc d;
    spx_daemon_start(&d, NULL);
    spectra_client *c = client_for(&d);
    cr_assert_eq(spectra_create(c, "lr", SPECTRA_BLOCKS, (uint32_t)m, 0, NULL, 0), 0);
    const char *params[] = {"rank=8"};
    cr_assert_eq(spectra_attach(c, "lr", "sv", "isvd", params, 1, 0, 0), 0, "%s",
                 spectra_last_error(c));
    for (size_t b = 0; b < nb; b++) {
        char id[16];
        snprintf(id, sizeof id, "lr%zu", b);
        cr_assert_eq(spectra_push_block(c, "lr", SPECTRA_F64, rows + b * m * n, m, n, id), 0);
    }
    /* wait until every block is accepted: get applies everything accepted before it */
    uint64_t accepted = 0;
    for (int i = 0; i < 500 && accepted < nb; i++) {
        spectra_msg *st = NULL;
        cr_assert_eq(spectra_stats(c, &st), 0);
        accepted = msg_uint(st, "streams.lr.messages");
        spectra_msg_free(st);
        if (accepted < nb)
            usleep(20000);
    }
    cr_assert_eq(accepted, nb);
    spectra_msg *r = NULL;
    cr_assert_eq(spectra_get(c, "lr", "sv", &r), 0);
    cr_assert_eq(msg_uint(r, "result.count"), nb);
    cr_assert_eq(msg_uint(r, "result.result.columns"), nb * n);
    size_t shape[2], ndim;
    double *s = msg_array(r, "result.result.singular_values", shape, &ndim);
    cr_assert_eq(shape[0], rank);
    for (size_t i = 0; i < rank; i++)
        cr_assert_float_eq(s[i], sv[i], 1e-8, "sigma_%zu: %.12g vs dgesdd %.12g", i, s[i], sv[i]);
    cr_assert_leq(msg_double(r, "result.result.rel_error"), 1e-7);
    free(s);
    spectra_msg_free(r);

    spectra_msg *lv = operation(c, 0, "lr", "sv", "left_vectors", NULL, NULL, 0);
    double *u = msg_array(lv, "value.u", shape, &ndim);
    cr_assert_eq(shape[0], m);
    cr_assert_eq(shape[1], rank);
    size_t tracked = (size_t)msg_uint(lv, "value.tracked");
    cr_assert_eq(tracked, k, "exactly rank %zu data", k);
    for (size_t a = 0; a < rank; a++)
        for (size_t b = 0; b < rank; b++) {
            double dot = 0.0;
            for (size_t i = 0; i < m; i++)
                dot += u[i * rank + a] * u[i * rank + b];
            double want = a == b && a < tracked ? 1.0 : 0.0;
            cr_assert_float_eq(dot, want, 1e-12, "U^T U (%zu, %zu) = %.3g", a, b, dot);
        }
    double resid = 0.0, total = 0.0;
    for (size_t j = 0; j < nb * n; j++) {
        const double *col = cols + j * m;
        double proj[8] = {0};
        for (size_t a = 0; a < rank; a++)
            for (size_t i = 0; i < m; i++)
                proj[a] += u[i * rank + a] * col[i];
        for (size_t i = 0; i < m; i++) {
            double v = col[i];
            for (size_t a = 0; a < rank; a++)
                v -= u[i * rank + a] * proj[a];
            resid += v * v;
            total += col[i] * col[i];
        }
    }
    cr_assert_leq(sqrt(resid / total), 1e-12, "U U^T M = M");
    free(u);
    spectra_msg_free(lv);

    /* an unknown detail is unknown_op, with the pipeline's list of operations */
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 4);
    const char *kv[] = {"op", "get", "stream", "lr", "pipeline", "sv", "detail", "factors"};
    for (size_t i = 0; i < 8; i++) {
        msgpack_pack_str(&pk, strlen(kv[i]));
        msgpack_pack_str_body(&pk, kv[i], strlen(kv[i]));
    }
    spectra_msg *bad = NULL;
    cr_assert_eq(spectra_request(c, sb.data, sb.size, &bad), SPECTRA_EDAEMON);
    char code[32], message[256];
    spectra_reply_status(bad, code, sizeof code, message, sizeof message);
    cr_assert_str_eq(code, "unknown_op");
    cr_assert(strstr(message, "left_vectors"), "%s", message);
    spectra_msg_free(bad);
    msgpack_sbuffer_destroy(&sb);

    spectra_close(c);
    free(basis);
    free(coef);
    free(rows);
    free(cols);
    cr_assert_eq(spx_daemon_stop(&d), 0);
}
