/* End to end: spectrad on free ports, a rows stream with topeig attached, the 57 feature columns of
 * the real spambase matrix pushed through the `spectra` CLI, and the estimate checked against the
 * exact top eigenvector of A^T A from LAPACK. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include "daemon_harness.h"
#include "testdata.h"

#define SPAMBASE_FEATURES 57

static const msgpack_object *get(const msgpack_object *m, const char *key)
{
    if (!m || m->type != MSGPACK_OBJECT_MAP)
        return NULL;
    for (uint32_t i = 0; i < m->via.map.size; i++) {
        const msgpack_object *k = &m->via.map.ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == strlen(key) &&
            !memcmp(k->via.str.ptr, key, k->via.str.size))
            return &m->via.map.ptr[i].val;
    }
    return NULL;
}

/* Decodes an ndarray {"dtype": "f64", "shape": [d], "data": bin} into out[d]. */
static size_t ndarray_f64(const msgpack_object *nd, double *out, size_t max)
{
    const msgpack_object *dtype = get(nd, "dtype"), *data = get(nd, "data");
    cr_assert(dtype && dtype->type == MSGPACK_OBJECT_STR && dtype->via.str.size == 3 &&
              !memcmp(dtype->via.str.ptr, "f64", 3), "vector must be an f64 ndarray");
    cr_assert(data && data->type == MSGPACK_OBJECT_BIN);
    size_t n = data->via.bin.size / 8;
    cr_assert_leq(n, max);
    memcpy(out, data->via.bin.ptr, n * 8);
    return n;
}

static void check_against_lapack(double min_corr)
{
    char path[4096];
    SPX_REQUIRE_DATA(path, "matrices/spambase.data");
    double *a;
    size_t n;
    cr_assert_eq(spx_test_load_text_matrix(path, 0, SPAMBASE_FEATURES, &a, &n), 0);
    cr_assert_eq(n, 4601);
    double exact_val, exact_vec[SPAMBASE_FEATURES];
    cr_assert_eq(spx_test_exact_top_eig(a, n, SPAMBASE_FEATURES, 1, &exact_val, exact_vec), 0);

    spx_daemon_proc d;
    spx_daemon_start(&d, NULL);
    const char *create[] = {"create", "spam", "--kind", "rows", "--dim", "57", NULL};
    cr_assert_eq(spx_run_cli(&d, create, NULL, 0), 0);
    /* No publish policy: results appear only when asked for. */
    const char *attach[] = {"attach", "spam", "top", "topeig", "method=adaoja", "--every", "0",
                            "--interval-ms", "0", NULL};
    cr_assert_eq(spx_run_cli(&d, attach, NULL, 0), 0);
    const char *push[] = {"push", "spam", path, "--columns", "1-57", "--batch", "256", NULL};
    cr_assert_eq(spx_run_cli(&d, push, NULL, 0), 0);

    /* Wait until the daemon has accepted all 18 messages; then one `get` must reflect every row,
     * because get applies everything accepted before it. */
    static const char *const p_msgs[] = {"streams", "spam", "messages", NULL};
    double accepted = 0;
    for (int i = 0; i < 300 && accepted < 18; i++) {
        msgpack_unpacked st;
        cr_assert_eq(spx_ctl_simple(&d, "stats", NULL, NULL, &st), 0);
        accepted = spx_reply_number(&st.data, p_msgs);
        msgpack_unpacked_destroy(&st);
        if (accepted < 18)
            usleep(20000);
    }
    cr_assert_eq(accepted, 18, "4601 rows in batches of 256");
    msgpack_unpacked r;
    cr_assert_eq(spx_ctl_simple(&d, "get", "spam", "top", &r), 0);
    char code[64];
    cr_assert(spx_reply_ok(&r, code, sizeof code), "get failed: %s", code);
    static const char *const p_count[] = {"result", "count", NULL};
    double count = spx_reply_number(&r.data, p_count);
    cr_assert_eq(count, 4601, "all rows applied");
    const msgpack_object *body = get(&r.data, "result");
    const msgpack_object *result = get(body, "result");
    double v[SPAMBASE_FEATURES];
    cr_assert_eq(ndarray_f64(get(result, "vector"), v, SPAMBASE_FEATURES), SPAMBASE_FEATURES);
    double dot = 0, norm = 0;
    for (size_t i = 0; i < SPAMBASE_FEATURES; i++) {
        dot += v[i] * exact_vec[i];
        norm += v[i] * v[i];
    }
    cr_assert_float_eq(norm, 1.0, 1e-9, "unit vector");
    cr_assert_geq(dot * dot, min_corr, "<v, v1>^2 = %.6f", dot * dot);
    static const char *const p_rows[] = {"result", "rows_seen", NULL};
    cr_assert_eq(spx_reply_number(body, p_rows), 4601);
    static const char *const p_eig[] = {"result", "eigenvalue", NULL};
    double lam = spx_reply_number(body, p_eig);
    cr_expect_float_eq(lam, exact_val / 4601.0, 0.05 * exact_val / 4601.0,
                       "eigenvalue %.6g vs exact s1^2/n %.6g", lam, exact_val / 4601.0);
    msgpack_unpacked_destroy(&r);
    free(a);
    cr_assert_eq(spx_daemon_stop(&d), 0);
}

Test(topeig_e2e, spambase_raw_matches_lapack, .timeout = 300)
{
    check_against_lapack(0.99);
}

/* Frequent Directions with l = d keeps A^T A exactly: through the daemon, its top 3 eigenpairs must
 * match LAPACK's to rounding. Also: a bad parameter is refused by the CLI with the daemon's reason. */
Test(topeig_e2e, spambase_fd_top3_matches_lapack, .timeout = 300)
{
    char path[4096];
    SPX_REQUIRE_DATA(path, "matrices/spambase.data");
    double *a;
    size_t n;
    cr_assert_eq(spx_test_load_text_matrix(path, 0, SPAMBASE_FEATURES, &a, &n), 0);
    double vals[3], vecs[3 * SPAMBASE_FEATURES];
    cr_assert_eq(spx_test_exact_top_eig(a, n, SPAMBASE_FEATURES, 3, vals, vecs), 0);

    spx_daemon_proc d;
    spx_daemon_start(&d, NULL);
    const char *create[] = {"create", "spam", "--kind", "rows", "--dim", "57", NULL};
    cr_assert_eq(spx_run_cli(&d, create, NULL, 0), 0);
    const char *bad[] = {"attach", "spam", "x", "topeig", "method=fd", "k=0", NULL};
    cr_assert_eq(spx_run_cli(&d, bad, NULL, 0), 1, "k=0 is refused");
    const char *attach[] = {"attach", "spam", "fd", "topeig", "method=fd", "k=3", "sketch_rows=57",
                            "--every", "0", "--interval-ms", "0", NULL};
    cr_assert_eq(spx_run_cli(&d, attach, NULL, 0), 0);
    const char *push[] = {"push", "spam", path, "--columns", "1-57", "--batch", "500", "--wait",
                          NULL};
    cr_assert_eq(spx_run_cli(&d, push, NULL, 0), 0);
    msgpack_unpacked r;
    cr_assert_eq(spx_ctl_simple(&d, "get", "spam", "fd", &r), 0);
    cr_assert(spx_reply_ok(&r, NULL, 0));
    const msgpack_object *result = get(get(&r.data, "result"), "result");
    double ev[3], v[3 * SPAMBASE_FEATURES];
    cr_assert_eq(ndarray_f64(get(result, "eigenvalues"), ev, 3), 3);
    cr_assert_eq(ndarray_f64(get(result, "vectors"), v, 3 * SPAMBASE_FEATURES),
                 3 * SPAMBASE_FEATURES);
    for (int j = 0; j < 3; j++) {
        cr_assert_float_eq(ev[j], vals[j] / (double)n, 1e-7 * vals[j] / (double)n,
                           "eigenvalue %d: %.10g vs %.10g", j, ev[j], vals[j] / (double)n);
        double dot = 0;
        for (size_t i = 0; i < SPAMBASE_FEATURES; i++)
            dot += v[j * SPAMBASE_FEATURES + i] * vecs[j * SPAMBASE_FEATURES + i];
        cr_assert_geq(dot * dot, 1 - 1e-8, "eigenvector %d: <v, v_exact>^2 = %.12f", j, dot * dot);
    }
    msgpack_unpacked_destroy(&r);
    free(a);
    cr_assert_eq(spx_daemon_stop(&d), 0);
}
