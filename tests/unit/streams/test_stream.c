/* The stream registry and the pipeline job cycle, driven without a daemon: a fake algorithm counts
 * what it is given, so queueing, ordering, publish policies and error isolation can be checked. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stream.h"

/* ---- a fake algorithm: sums rows; refuses inputs whose first value is negative -------------------- */

typedef struct fake_state {
    double sum;
    uint64_t rows;
} fake_state;

static int fake_create(void **state, const spx_stream_info *stream, const spx_param *params,
                       size_t n_params, char *err, size_t errlen)
{
    for (size_t i = 0; i < n_params; i++)
        if (strcmp(params[i].key, "ok") != 0) {
            snprintf(err, errlen, "unknown parameter %s", params[i].key);
            return -1;
        }
    *state = calloc(1, sizeof(fake_state));
    return *state ? 0 : -1;
}

static int fake_update(void *state, const spx_input *in, char *err, size_t errlen)
{
    fake_state *f = state;
    const double *x = in->data;
    if (in->n && x[0] < 0) {
        snprintf(err, errlen, "negative input");
        return -1;
    }
    for (size_t i = 0; i < (size_t)in->n * in->d; i++)
        f->sum += x[i];
    f->rows += in->n;
    return 0;
}

static int fake_result(void *state, msgpack_packer *pk)
{
    fake_state *f = state;
    msgpack_pack_map(pk, 2);
    spx_pack_key_double(pk, "sum", f->sum);
    spx_pack_key_uint(pk, "rows", f->rows);
    return 0;
}

static void fake_destroy(void *state) { free(state); }

static const spx_pipeline_ops fake_ops = {
    .algo = "fake", .summary = "test", .kinds = SPX_KIND_ROWS,
    .create = fake_create, .update = fake_update, .result = fake_result, .destroy = fake_destroy,
};

/* ---- helpers ---------------------------------------------------------------------------------- */

static spx_ingest_header rows_header(const char *stream, uint64_t n, uint64_t d, uint64_t seq)
{
    spx_ingest_header h;
    memset(&h, 0, sizeof h);
    h.version = 1;
    snprintf(h.stream, sizeof h.stream, "%s", stream);
    h.kind = SPX_KIND_ROWS;
    h.dtype = SPX_DTYPE_F64;
    h.shape[0] = n;
    h.shape[1] = d;
    h.has_seq = seq != 0;
    h.seq = seq;
    h.scale = 1;
    return h;
}

static void push_rows(spx_registry *r, spx_stream *s, const double *x, uint64_t n, uint64_t seq)
{
    spx_ingest_header h = rows_header(s->name, n, s->dim, seq);
    double *copy = malloc(n * s->dim * sizeof *copy + 1);
    memcpy(copy, x, n * s->dim * sizeof *copy);
    spx_batch *b = spx_batch_new(&h, copy, n * s->dim * sizeof *copy, 1.0, copy, free,
                                 spx_registry_bytes_held(r));
    cr_assert_not_null(b);
    cr_assert_eq(spx_stream_accept(s, &h, b), 0);
}

/* Runs every pending job of p to completion on this thread; returns the bodies made. */
static size_t drain(spx_pipeline *p, double now)
{
    size_t bodies = 0;
    spx_job *job;
    while ((job = spx_pipeline_take_job(p, 3, now))) {
        spx_job_run(job);
        spx_job_finish(job);
        bodies += job->n_bodies;
        spx_job_free(job);
    }
    return bodies;
}

static double body_double(const unsigned char *body, size_t len, const char *key)
{
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    cr_assert_eq(msgpack_unpack_next(&up, (const char *)body, len, NULL), MSGPACK_UNPACK_SUCCESS);
    const msgpack_object *res = spx_map_get(&up.data, "result");
    cr_assert_not_null(res);
    double v = NAN;
    const msgpack_object *o = spx_map_get(res, key);
    if (!o)
        o = spx_map_get(&up.data, key);
    cr_assert_not_null(o, "no key %s in body", key);
    cr_assert_eq(spx_obj_double(o, &v), 0);
    msgpack_unpacked_destroy(&up);
    return v;
}

static spx_pipeline *attach_fake(spx_stream *s, const char *name, spx_publish_policy policy)
{
    spx_stream_info info;
    spx_stream_get_info(s, &info);
    spx_pipeline *p;
    char err[256];
    cr_assert_eq(spx_pipeline_create(&p, s->name, &info, name, &fake_ops, NULL, 0, policy, err,
                                     sizeof err), SPX_OK, "%s", err);
    cr_assert_eq(spx_stream_attach(s, p, err, sizeof err), SPX_OK, "%s", err);
    return p;
}

/* ---- registry ----------------------------------------------------------------------------------- */

Test(registry, create_find_and_drop_many_streams)
{
    spx_registry *r = spx_registry_new();
    char err[256], name[32];
    for (int i = 0; i < 500; i++) {
        snprintf(name, sizeof name, "s%d", i);
        cr_assert_eq(spx_registry_create(r, name, SPX_KIND_ROWS, 4, 0, NULL, 0, NULL, err,
                                         sizeof err), SPX_OK, "%s", err);
    }
    cr_assert_eq(spx_registry_count(r), 500);
    for (int i = 0; i < 500; i += 2) {
        snprintf(name, sizeof name, "s%d", i);
        spx_stream *s = spx_registry_find(r, name);
        cr_assert_not_null(s);
        spx_registry_drop(r, s, NULL, 0);
    }
    cr_assert_eq(spx_registry_count(r), 250);
    for (int i = 0; i < 500; i++) {
        snprintf(name, sizeof name, "s%d", i);
        spx_stream *s = spx_registry_find(r, name);
        if (i % 2)
            cr_assert(s && !strcmp(s->name, name), "lost %s", name);
        else
            cr_assert_null(s, "%s should be gone", name);
    }
    /* Creation order is kept for listing. */
    cr_assert_str_eq(spx_registry_at(r, 0)->name, "s1");
    cr_assert_str_eq(spx_registry_at(r, 249)->name, "s499");
    spx_registry_free(r);
}

Test(registry, refuses_bad_names_duplicates_and_dims)
{
    spx_registry *r = spx_registry_new();
    char err[256];
    cr_assert_eq(spx_registry_create(r, "a.b", SPX_KIND_ROWS, 4, 0, NULL, 0, NULL, err, sizeof err),
                 SPX_E_BAD_NAME);
    cr_assert_eq(spx_registry_create(r, "", SPX_KIND_ROWS, 4, 0, NULL, 0, NULL, err, sizeof err),
                 SPX_E_BAD_NAME);
    char longname[80];
    memset(longname, 'x', 65);
    longname[65] = 0;
    cr_assert_eq(spx_registry_create(r, longname, SPX_KIND_ROWS, 4, 0, NULL, 0, NULL, err,
                                     sizeof err), SPX_E_BAD_NAME);
    cr_assert_eq(spx_registry_create(r, "ok", SPX_KIND_ROWS, 0, 0, NULL, 0, NULL, err, sizeof err),
                 SPX_E_BAD_REQUEST);
    cr_assert_eq(spx_registry_create(r, "ok", SPX_KIND_ROWS, 4, 0, NULL, 0, NULL, err, sizeof err),
                 SPX_OK);
    cr_assert_eq(spx_registry_create(r, "ok", SPX_KIND_ROWS, 4, 0, NULL, 0, NULL, err, sizeof err),
                 SPX_E_EXISTS);
    const char *names[2] = {"C3", "C4"};
    cr_assert_eq(spx_registry_create(r, "eeg", SPX_KIND_SERIES, 3, 160, names, 2, NULL, err,
                                     sizeof err), SPX_E_BAD_REQUEST, "3 channels need 3 names");
    cr_assert_eq(spx_registry_create(r, "eeg", SPX_KIND_SERIES, 2, 160, names, 2, NULL, err,
                                     sizeof err), SPX_OK, "%s", err);
    cr_assert_eq(spx_registry_count(r), 2);
    spx_registry_free(r);
}

Test(stream, check_refuses_wrong_kind_and_dim)
{
    spx_registry *r = spx_registry_new();
    spx_stream *s;
    char err[256];
    spx_registry_create(r, "rows", SPX_KIND_ROWS, 4, 0, NULL, 0, &s, err, sizeof err);
    spx_ingest_header h = rows_header("rows", 2, 4, 0);
    cr_assert_eq(spx_stream_check(s, &h, err, sizeof err), SPX_OK);
    h.shape[1] = 5;
    cr_assert_eq(spx_stream_check(s, &h, err, sizeof err), SPX_E_SHAPE_MISMATCH);
    h.shape[1] = 4;
    h.kind = SPX_KIND_SERIES;
    cr_assert_eq(spx_stream_check(s, &h, err, sizeof err), SPX_E_KIND_MISMATCH);
    spx_registry_free(r);
}

Test(stream, counts_producer_sequence_gaps_and_repeats)
{
    spx_registry *r = spx_registry_new();
    spx_stream *s;
    char err[256];
    spx_registry_create(r, "s", SPX_KIND_ROWS, 2, 0, NULL, 0, &s, err, sizeof err);
    double x[4] = {1, 2, 3, 4};
    uint64_t seqs[] = {1, 2, 3, 5, 6, 6, 2, 3};   /* one gap (4), one repeat (6), one restart (2) */
    for (size_t i = 0; i < sizeof seqs / sizeof seqs[0]; i++)
        push_rows(r, s, x, 2, seqs[i]);
    cr_assert_eq(s->c.messages, 8);
    cr_assert_eq(s->c.count, 16);
    cr_assert_eq(s->c.seq_gaps, 1);
    cr_assert_eq(s->c.seq_repeats, 2);
    cr_assert_eq(s->last_seq, 3);
    cr_assert_eq(*spx_registry_bytes_held(r), 0, "no pipeline: nothing held");
    spx_registry_free(r);
}

Test(stream, series_timing_gaps_and_overlaps_are_counted)
{
    spx_registry *r = spx_registry_new();
    spx_stream *s;
    char err[256];
    spx_registry_create(r, "eeg", SPX_KIND_SERIES, 1, 100, NULL, 0, &s, err, sizeof err);
    double x[10] = {0};
    double t0s[] = {0.0, 0.1, 0.2, 0.35, 0.40, 0.5};  /* gap before 0.35, overlap at 0.40 */
    for (size_t i = 0; i < 6; i++) {
        spx_ingest_header h = rows_header("eeg", 10, 1, 0);
        h.kind = SPX_KIND_SERIES;
        h.has_t0 = true;
        h.t0 = t0s[i];
        h.rate = 100;
        spx_batch *b = spx_batch_new(&h, x, sizeof x, 1.0, NULL, NULL, spx_registry_bytes_held(r));
        cr_assert_eq(spx_stream_accept(s, &h, b), 0);
    }
    cr_assert_eq(s->c.time_gaps, 1);
    cr_assert_eq(s->c.time_overlaps, 1);
    spx_registry_free(r);
}

/* ---- pipelines ---------------------------------------------------------------------------------- */

Test(pipeline, applies_every_input_in_order_and_publishes_on_request)
{
    spx_registry *r = spx_registry_new();
    spx_stream *s;
    char err[256];
    spx_registry_create(r, "s", SPX_KIND_ROWS, 2, 0, NULL, 0, &s, err, sizeof err);
    spx_pipeline *p = attach_fake(s, "sum", (spx_publish_policy){0, 0});
    double expect = 0;
    for (int i = 0; i < 10; i++) {
        double x[2] = {i, 2 * i};
        expect += 3 * i;
        push_rows(r, s, x, 1, 0);
    }
    cr_assert_gt(*spx_registry_bytes_held(r), 0);
    cr_assert_eq(p->q_len, 10);
    cr_assert_eq(drain(p, spx_now()), 0, "no policy: nothing published by itself");
    cr_assert_eq(p->stats.updates, 10);
    cr_assert_eq(p->stats.input_seq, 10);
    cr_assert_eq(*spx_registry_bytes_held(r), 0, "applied inputs are released");
    cr_assert_null(p->latest);
    p->publish_requested = true;
    cr_assert_eq(drain(p, spx_now()), 1);
    cr_assert_not_null(p->latest);
    cr_assert_float_eq(body_double(p->latest, p->latest_len, "sum"), expect, 1e-12);
    cr_assert_float_eq(body_double(p->latest, p->latest_len, "seq"), 1, 0);
    cr_assert_float_eq(body_double(p->latest, p->latest_len, "count"), 10, 0);
    cr_assert_eq(drain(p, spx_now()), 0, "nothing new: no second body");
    spx_registry_free(r);
}

Test(pipeline, every_n_publishes_at_each_multiple)
{
    spx_registry *r = spx_registry_new();
    spx_stream *s;
    char err[256];
    spx_registry_create(r, "s", SPX_KIND_ROWS, 1, 0, NULL, 0, &s, err, sizeof err);
    spx_pipeline *p = attach_fake(s, "sum", (spx_publish_policy){.every = 5});
    double x[3] = {1, 1, 1};
    for (int i = 0; i < 10; i++)
        push_rows(r, s, x, 3, 0);   /* 30 rows: publishes after rows 6, 12, 18, 24, 30 */
    cr_assert_eq(drain(p, spx_now()), 5);
    cr_assert_eq(p->stats.published, 5);
    cr_assert_float_eq(body_double(p->latest, p->latest_len, "rows"), 30, 0);
    spx_registry_free(r);
}

Test(pipeline, interval_publish_comes_due_only_after_new_input)
{
    spx_registry *r = spx_registry_new();
    spx_stream *s;
    char err[256];
    spx_registry_create(r, "s", SPX_KIND_ROWS, 1, 0, NULL, 0, &s, err, sizeof err);
    spx_pipeline *p = attach_fake(s, "sum", (spx_publish_policy){.interval_ms = 100});
    double x[1] = {1};
    push_rows(r, s, x, 1, 0);
    double t = spx_now();
    drain(p, t);                                     /* applies; interval not yet due */
    cr_assert_eq(p->stats.updates, 1);
    cr_assert(spx_pipeline_wants_job(p, t + 1.0), "due one second later");
    cr_assert_eq(drain(p, t + 1.0), 1);
    cr_assert_not(spx_pipeline_wants_job(p, t + 10.0), "nothing new since the last publish");
    spx_registry_free(r);
}

Test(pipeline, refused_input_is_counted_and_leaves_state_alone)
{
    spx_registry *r = spx_registry_new();
    spx_stream *s;
    char err[256];
    spx_registry_create(r, "s", SPX_KIND_ROWS, 1, 0, NULL, 0, &s, err, sizeof err);
    spx_pipeline *p = attach_fake(s, "sum", (spx_publish_policy){0, 0});
    double good[1] = {2}, bad[1] = {-1};
    push_rows(r, s, good, 1, 0);
    push_rows(r, s, bad, 1, 0);
    push_rows(r, s, good, 1, 0);
    drain(p, spx_now());
    cr_assert_eq(p->stats.updates, 2);
    cr_assert_eq(p->stats.errors, 1);
    cr_assert_str_eq(p->work.last_error, "negative input");
    cr_assert_float_eq(((fake_state *)p->state)->sum, 4.0, 0);
    spx_registry_free(r);
}

Test(pipeline, attach_validates_name_kind_params_and_duplicates)
{
    spx_registry *r = spx_registry_new();
    spx_stream *s, *blocks;
    char err[256];
    spx_registry_create(r, "s", SPX_KIND_ROWS, 1, 0, NULL, 0, &s, err, sizeof err);
    spx_registry_create(r, "b", SPX_KIND_BLOCKS, 4, 0, NULL, 0, &blocks, err, sizeof err);
    spx_stream_info info;
    spx_pipeline *p;
    spx_stream_get_info(s, &info);
    spx_publish_policy pol = {0, 0};
    cr_assert_eq(spx_pipeline_create(&p, "s", &info, "bad.name", &fake_ops, NULL, 0, pol, err,
                                     sizeof err), SPX_E_BAD_NAME);
    spx_param unknown = {"nope", "1"};
    cr_assert_eq(spx_pipeline_create(&p, "s", &info, "x", &fake_ops, &unknown, 1, pol, err,
                                     sizeof err), SPX_E_BAD_PARAM);
    cr_assert_str_eq(err, "unknown parameter nope");
    spx_param twice[2] = {{"ok", "1"}, {"ok", "2"}};
    cr_assert_eq(spx_pipeline_create(&p, "s", &info, "x", &fake_ops, twice, 2, pol, err,
                                     sizeof err), SPX_E_BAD_PARAM);
    spx_stream_get_info(blocks, &info);
    cr_assert_eq(spx_pipeline_create(&p, "b", &info, "x", &fake_ops, NULL, 0, pol, err, sizeof err),
                 SPX_E_KIND_MISMATCH);
    attach_fake(s, "x", pol);
    spx_stream_get_info(s, &info);
    cr_assert_eq(spx_pipeline_create(&p, "s", &info, "x", &fake_ops, NULL, 0, pol, err, sizeof err),
                 SPX_OK);
    cr_assert_eq(spx_stream_attach(s, p, err, sizeof err), SPX_E_EXISTS);
    spx_pipeline_free(p);
    spx_registry_free(r);
}

Test(pipeline, detach_while_busy_defers_the_free_to_the_job)
{
    spx_registry *r = spx_registry_new();
    spx_stream *s;
    char err[256];
    spx_registry_create(r, "s", SPX_KIND_ROWS, 1, 0, NULL, 0, &s, err, sizeof err);
    spx_pipeline *p = attach_fake(s, "sum", (spx_publish_policy){0, 0});
    double x[1] = {1};
    push_rows(r, s, x, 1, 0);
    spx_job *job = spx_pipeline_take_job(p, 8, spx_now());
    cr_assert_not_null(job);
    cr_assert_eq(spx_stream_detach(s, p), p, "busy pipeline handed back");
    cr_assert(p->detached);
    cr_assert_eq(s->n_pipelines, 0);
    spx_job_run(job);
    spx_job_finish(job);
    spx_job_free(job);
    spx_pipeline_free(p);
    cr_assert_eq(*spx_registry_bytes_held(r), 0);
    spx_registry_free(r);
}

/* ---- publishing from inside an update -------------------------------------------------------- */

/* Publishes one body per `every_rows` rows from inside update, like a per-window pipeline. */
static int windowed_update(void *state, const spx_input *in, char *err, size_t errlen)
{
    fake_state *f = state;
    const double *x = in->data;
    for (uint32_t r = 0; r < in->n; r++) {
        f->sum += x[r];
        f->rows++;
        if (f->rows % 4 == 0 && in->publish(in->publish_ctx, r + 1, 100.0 + (double)f->rows) != 0) {
            snprintf(err, errlen, "publish failed");
            return -1;
        }
    }
    return 0;
}

static const spx_pipeline_ops windowed_ops = {
    .algo = "windowed", .summary = "test", .kinds = SPX_KIND_ROWS,
    .create = fake_create, .update = windowed_update, .result = fake_result,
    .destroy = fake_destroy,
};

Test(pipeline, update_can_publish_one_body_per_window)
{
    spx_registry *r = spx_registry_new();
    spx_stream *s;
    char err[256];
    spx_registry_create(r, "s", SPX_KIND_ROWS, 1, 0, NULL, 0, &s, err, sizeof err);
    spx_stream_info info;
    spx_stream_get_info(s, &info);
    spx_pipeline *p;
    cr_assert_eq(spx_pipeline_create(&p, "s", &info, "w", &windowed_ops, NULL, 0,
                                     (spx_publish_policy){.every = 0, .interval_ms = 0}, err,
                                     sizeof err), SPX_OK);
    cr_assert_eq(spx_stream_attach(s, p, err, sizeof err), SPX_OK);
    double x[10] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    push_rows(r, s, x, 10, 0);   /* windows end at rows 4 and 8 */
    push_rows(r, s, x, 6, 0);    /* rows 11..16: a window ends at 12 and 16 */
    spx_job *job = spx_pipeline_take_job(p, 8, spx_now());
    spx_job_run(job);
    cr_assert_eq(job->n_bodies, 4, "one body per window, none from the (empty) policy");
    double counts[4] = {4, 8, 12, 16}, sums[4] = {4, 8, 12, 16};
    for (size_t i = 0; i < 4; i++) {
        cr_assert_float_eq(body_double(job->bodies[i], job->body_lens[i], "count"), counts[i], 0);
        cr_assert_float_eq(body_double(job->bodies[i], job->body_lens[i], "sum"), sums[i], 0);
        cr_assert_float_eq(body_double(job->bodies[i], job->body_lens[i], "t_in"), 100 + counts[i],
                           0, "t_in is the window's time");
        cr_assert_float_eq(body_double(job->bodies[i], job->body_lens[i], "seq"), i + 1, 0);
    }
    spx_job_finish(job);
    spx_job_free(job);
    cr_assert_eq(p->stats.count, 16);
    cr_assert_eq(p->stats.published, 4);
    cr_assert_not(p->work.dirty, "the last window covered every row");
    push_rows(r, s, x, 2, 0);    /* rows 17, 18: no window ends */
    drain(p, spx_now());
    cr_assert(p->work.dirty, "rows after the last window are unpublished");
    spx_registry_free(r);
}
