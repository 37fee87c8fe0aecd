#include "pipeline.h"

#include "pipeline_snapshot.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

double spx_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double monotonic_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

spx_errcode spx_pipeline_create(spx_pipeline **out, const char *stream_name,
                                const spx_stream_info *info, const char *name,
                                const spx_pipeline_ops *ops, const spx_param *params,
                                size_t n_params, spx_publish_policy policy, char *err,
                                size_t errlen)
{
    *out = NULL;
    if (!spx_name_valid(name, strlen(name))) {
        snprintf(err, errlen, "pipeline name '%.64s' must be 1-64 characters of [A-Za-z0-9_-]",
                 name);
        return SPX_E_BAD_NAME;
    }
    if (!(ops->kinds & info->kind)) {
        snprintf(err, errlen, "algorithm %s does not accept %s streams", ops->algo,
                 spx_kind_name(info->kind));
        return SPX_E_KIND_MISMATCH;
    }
    if (n_params > SPX_PARAMS_MAX) {
        snprintf(err, errlen, "at most %d parameters", SPX_PARAMS_MAX);
        return SPX_E_BAD_PARAM;
    }
    spx_pipeline *p = calloc(1, sizeof *p);
    if (!p) {
        snprintf(err, errlen, "out of memory");
        return SPX_E_INTERNAL;
    }
    for (size_t i = 0; i < n_params; i++) {
        if (strlen(params[i].key) > SPX_NAME_MAX || strlen(params[i].value) >= SPX_PARAM_TEXT_MAX) {
            snprintf(err, errlen, "parameter %.64s: key or value too long", params[i].key);
            free(p);
            return SPX_E_BAD_PARAM;
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp(params[i].key, params[j].key) == 0) {
                snprintf(err, errlen, "parameter %s given twice", params[i].key);
                free(p);
                return SPX_E_BAD_PARAM;
            }
        snprintf(p->param_keys[i], sizeof p->param_keys[i], "%s", params[i].key);
        snprintf(p->param_values[i], sizeof p->param_values[i], "%s", params[i].value);
    }
    p->n_params = n_params;
    if (ops->create(&p->state, info, params, n_params, err, errlen) != 0) {
        free(p);
        return SPX_E_BAD_PARAM;
    }
    snprintf(p->name, sizeof p->name, "%s", name);
    snprintf(p->stream_name, sizeof p->stream_name, "%s", stream_name);
    snprintf(p->topic, sizeof p->topic, "%s.%s", stream_name, name);
    p->ops = ops;
    p->policy = policy;
    p->work.last_publish = spx_now();
    *out = p;
    return SPX_OK;
}

spx_command *spx_command_new(const char *name, const void *args, size_t args_len, void *owner)
{
    spx_command *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    snprintf(c->name, sizeof c->name, "%s", name);
    if (args && args_len) {
        if (!(c->args = malloc(args_len))) {
            free(c);
            return NULL;
        }
        memcpy(c->args, args, args_len);
        c->args_len = args_len;
    }
    c->owner = owner;
    return c;
}

void spx_command_free(spx_command *c)
{
    if (!c)
        return;
    free(c->args);
    free(c->value);
    free(c);
}

void spx_pipeline_request_snapshot(spx_pipeline *p, uint64_t at_seq)
{
    p->snapshot_pending = true;
    p->snapshot_at = at_seq;
}

void spx_pipeline_add_command(spx_pipeline *p, spx_command *c)
{
    spx_command **link = &p->commands;
    while (*link)
        link = &(*link)->next;
    c->next = NULL;
    *link = c;
}

void spx_pipeline_free(spx_pipeline *p)
{
    if (!p)
        return;
    /* Commands still waiting here belong to requests the caller answers (see spx_stream_detach). */
    for (size_t i = 0; i < p->q_len; i++)
        spx_batch_unref(p->queue[(p->q_head + i) % p->q_cap]);
    free(p->queue);
    free(p->latest);
    if (p->state)
        p->ops->destroy(p->state);
    free(p);
}

int spx_pipeline_reserve(spx_pipeline *p)
{
    if (p->q_len == p->q_cap) {
        size_t ncap = p->q_cap ? p->q_cap * 2 : 16;
        spx_batch **nq = malloc(ncap * sizeof *nq);
        if (!nq)
            return -ENOMEM;
        for (size_t i = 0; i < p->q_len; i++)
            nq[i] = p->queue[(p->q_head + i) % p->q_cap];
        free(p->queue);
        p->queue = nq;
        p->q_cap = ncap;
        p->q_head = 0;
    }
    return 0;
}

void spx_pipeline_enqueue(spx_pipeline *p, spx_batch *b)
{
    spx_batch_ref(b);
    p->queue[(p->q_head + p->q_len) % p->q_cap] = b;
    p->q_len++;
}

static bool interval_due(const spx_pipeline *p, double now)
{
    return p->policy.interval_ms && p->work.dirty &&
           (now - p->work.last_publish) * 1000.0 >= (double)p->policy.interval_ms;
}

bool spx_pipeline_wants_job(const spx_pipeline *p, double now)
{
    if (p->busy || p->detached)
        return false;
    return p->q_len > 0 || p->commands || p->snapshot_pending ||
           (p->publish_requested && p->work.dirty) || interval_due(p, now);
}

spx_job *spx_pipeline_take_job(spx_pipeline *p, size_t max_inputs, double now)
{
    if (!spx_pipeline_wants_job(p, now))
        return NULL;
    spx_job *job = calloc(1, sizeof *job);
    size_t n = p->q_len < max_inputs ? p->q_len : max_inputs;
    bool snapshot = false;
    if (p->snapshot_pending) {
        /* Only inputs the snapshot covers go in; the snapshot is packed once the last one has. */
        size_t covered = 0;
        while (covered < p->q_len &&
               p->queue[(p->q_head + covered) % p->q_cap]->in.seq <= p->snapshot_at)
            covered++;
        if (covered <= n) {
            n = covered;
            snapshot = true;
        }
    }
    if (!job || (n && !(job->inputs = malloc(n * sizeof *job->inputs)))) {
        free(job);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        job->inputs[i] = p->queue[p->q_head];
        p->q_head = (p->q_head + 1) % p->q_cap;
    }
    p->q_len -= n;
    job->n_inputs = n;
    job->p = p;
    if (snapshot) {
        job->snapshot = true;
        job->snapshot_seq = p->snapshot_at;
        p->snapshot_pending = false;
    }
    /* A requested publish is served by the job that applies the last queued input. */
    job->force_publish = p->publish_requested && p->q_len == 0;
    if (job->force_publish)
        p->publish_requested = false;
    if (p->q_len == 0) {       /* commands run once every input queued before them is in the job */
        job->commands = p->commands;
        p->commands = NULL;
    }
    p->busy = true;
    return job;
}

/* Packs the result body of protocol section 2. Worker thread. `extra` inputs of the current input are
 * counted on top of the applied ones (publishing from inside an update). */
static int pack_body_at(spx_job *job, uint64_t extra, double t_in)
{
    spx_pipeline *p = job->p;
    spx_pipeline_work *w = &p->work;
    if (job->n_bodies == job->cap_bodies) {
        size_t ncap = job->cap_bodies ? job->cap_bodies * 2 : 4;
        unsigned char **nb = realloc(job->bodies, ncap * sizeof *nb);
        if (!nb)
            return -ENOMEM;
        job->bodies = nb;
        size_t *nl = realloc(job->body_lens, ncap * sizeof *nl);
        if (!nl)
            return -ENOMEM;
        job->body_lens = nl;
        job->cap_bodies = ncap;
    }
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    double now = spx_now();
    msgpack_pack_map(&pk, 10);
    spx_pack_key_uint(&pk, "v", SPX_PROTOCOL_VERSION);
    spx_pack_key_cstr(&pk, "stream", p->stream_name);
    spx_pack_key_cstr(&pk, "pipeline", p->name);
    spx_pack_key_cstr(&pk, "algo", p->ops->algo);
    spx_pack_key_uint(&pk, "seq", w->stats.published + 1);
    spx_pack_key_uint(&pk, "input_seq", w->stats.input_seq);
    spx_pack_key_uint(&pk, "count", w->stats.count + extra);
    spx_pack_key_double(&pk, "t_in", t_in);
    spx_pack_key_double(&pk, "t_pub", now);
    spx_pack_cstr(&pk, "result");
    if (p->ops->result(p->state, &pk) != 0) {
        msgpack_sbuffer_destroy(&sb);
        return -EINVAL;
    }
    w->stats.published++;
    w->stats.published_bytes += sb.size;
    w->count_since_publish = 0;
    w->last_publish = now;
    w->dirty = false;
    job->bodies[job->n_bodies] = (unsigned char *)sb.data;   /* ownership moves to the job */
    job->body_lens[job->n_bodies] = sb.size;
    job->n_bodies++;
    return 0;
}

/* Worker thread: one named operation, its reply value packed into c->value. */
static void run_command(spx_pipeline *p, spx_command *c)
{
    if (!strcmp(c->name, SPX_STATE_COMMAND)) {
        c->code = spx_pipeline_pack_state(p, &c->value, &c->value_len, c->err, sizeof c->err);
        return;
    }
    if (!p->ops->command) {
        c->code = SPX_E_UNKNOWN_OP;
        snprintf(c->err, sizeof c->err, "%s has no operations beyond its result", p->ops->algo);
        return;
    }
    msgpack_unpacked args;
    msgpack_unpacked_init(&args);
    const msgpack_object *argp = NULL;
    if (c->args) {
        /* The daemon packed these bytes itself from a pre-scanned request. */
        if (msgpack_unpack_next(&args, (const char *)c->args, c->args_len, NULL) !=
            MSGPACK_UNPACK_SUCCESS) {
            c->code = SPX_E_INTERNAL;
            snprintf(c->err, sizeof c->err, "could not unpack the arguments");
            msgpack_unpacked_destroy(&args);
            return;
        }
        argp = &args.data;
    }
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    c->code = p->ops->command(p->state, c->name, argp, &pk, c->err, sizeof c->err);
    if (c->code == SPX_E_UNKNOWN_OP && !c->err[0])
        snprintf(c->err, sizeof c->err, "%s has no operation '%s' (%s)", p->ops->algo, c->name,
                 p->ops->commands ? p->ops->commands : "");
    if (c->code == SPX_OK && sb.size > 0) {
        c->value = (unsigned char *)sb.data;   /* ownership moves to the command */
        c->value_len = sb.size;
    } else {
        if (c->code == SPX_OK) {
            c->code = SPX_E_INTERNAL;
            snprintf(c->err, sizeof c->err, "%s: operation '%s' packed no value", p->ops->algo,
                     c->name);
        }
        msgpack_sbuffer_destroy(&sb);
    }
    msgpack_unpacked_destroy(&args);
}

static int pack_body(spx_job *job) { return pack_body_at(job, 0, job->p->work.t_in); }

/* What an adapter's update reaches through spx_input.publish. */
typedef struct publish_ctx {
    spx_job *job;
    uint64_t applied_at_last;  /* rows of the current input counted by the last publish */
    bool published;
} publish_ctx;

static int publish_from_update(void *ctx, uint32_t applied, double t)
{
    publish_ctx *pc = ctx;
    if (pack_body_at(pc->job, applied, t) != 0)
        return -1;
    pc->applied_at_last = applied;
    pc->published = true;
    return 0;
}

void spx_job_run(spx_job *job)
{
    spx_pipeline *p = job->p;
    spx_pipeline_work *w = &p->work;
    for (size_t i = 0; i < job->n_inputs; i++) {
        /* A per-pipeline copy of the shared input, carrying this job's publish hook. */
        spx_input in = job->inputs[i]->in;
        publish_ctx pc = {.job = job};
        in.publish = publish_from_update;
        in.publish_ctx = &pc;
        w->stats.input_seq = in.seq;
        double t0 = monotonic_seconds();
        int rc = p->ops->update(p->state, &in, w->last_error, sizeof w->last_error);
        double took = monotonic_seconds() - t0;
        w->stats.update_seconds += took;
        spx_latency_record(&w->stats.latency, took);
        if (rc != 0) {
            w->stats.errors++;
            job->failed++;
            continue;
        }
        w->stats.updates++;
        uint64_t units = spx_units(in.kind, in.n, in.d);
        w->stats.count += units;
        w->t_in = in.t;
        if (pc.published) {   /* only what came after the update's own last publish is new */
            uint64_t rest = units > pc.applied_at_last ? units - pc.applied_at_last : 0;
            w->count_since_publish = rest;
            w->dirty = rest > 0;
        } else {
            w->count_since_publish += units;
            w->dirty = true;
        }
        const spx_input *inp = &in;
        if ((p->policy.every && w->count_since_publish >= p->policy.every) ||
            (inp->end && w->dirty))
            pack_body(job);
    }
    if (w->dirty && (job->force_publish || interval_due(p, spx_now())))
        pack_body(job);
    if (job->snapshot)
        job->snapshot_rc = spx_pipeline_pack_snapshot(p, &job->snapshot_data, &job->snapshot_len,
                                                      job->snapshot_err,
                                                      sizeof job->snapshot_err);
    for (spx_command *c = job->commands; c; c = c->next)
        run_command(p, c);
}

void spx_job_finish(spx_job *job)
{
    spx_pipeline *p = job->p;
    p->stats = p->work.stats;
    if (job->n_bodies) {
        size_t last = job->n_bodies - 1;
        unsigned char *copy = malloc(job->body_lens[last]);
        if (copy) {
            memcpy(copy, job->bodies[last], job->body_lens[last]);
            free(p->latest);
            p->latest = copy;
            p->latest_len = job->body_lens[last];
        }
    }
    for (size_t i = 0; i < job->n_inputs; i++)
        spx_batch_unref(job->inputs[i]);
    job->n_inputs = 0;
    p->busy = false;
}

void spx_job_free(spx_job *job)
{
    if (!job)
        return;
    for (size_t i = 0; i < job->n_inputs; i++)
        spx_batch_unref(job->inputs[i]);
    for (size_t i = 0; i < job->n_bodies; i++)
        free(job->bodies[i]);
    free(job->bodies);
    free(job->body_lens);
    free(job->inputs);
    free(job->snapshot_data);
    while (job->commands) {
        spx_command *c = job->commands;
        job->commands = c->next;
        spx_command_free(c);
    }
    free(job);
}
