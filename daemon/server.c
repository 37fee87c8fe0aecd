#include "server.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "durable.h"
#include "log.h"
#include "metrics.h"
#include "service.h"

#define TICK_MS 20
#define JOB_MAX_INPUTS 64

/* ---- pipeline jobs on the worker pool ---------------------------------------------------------- */

typedef struct job_req {
    uv_work_t req;
    spx_job *job;
    spx_server *srv;
} job_req;

static void job_work(uv_work_t *req) { spx_job_run(((job_req *)req)->job); }

static void publish_bodies(spx_server *srv, const spx_job *job)
{
    for (size_t i = 0; i < job->n_bodies; i++) {
        if (srv->transport->ops->publish(srv->transport, job->p->topic, job->bodies[i],
                                         job->body_lens[i]) < 0) {
            srv->c.results_dropped++;
            continue;
        }
        srv->c.results_messages++;
        srv->c.results_bytes += job->body_lens[i];
    }
}

static void maybe_resume_ingest(spx_server *srv)
{
    if (srv->ingest_paused && !srv->stopping &&
        *spx_registry_bytes_held(srv->reg) <= srv->cfg.max_queued_bytes / 2) {
        srv->ingest_paused = false;
        srv->c.ingest_paused_ns += uv_hrtime() - srv->ingest_paused_at_ns;
        srv->transport->ops->resume(srv->transport);
        spx_debug("ingest resumed: backlog below %zu bytes", srv->cfg.max_queued_bytes / 2);
    }
}

static void maybe_finish_stop(spx_server *srv);

static void job_done(uv_work_t *req, int status)
{
    job_req *jr = (job_req *)req;
    spx_server *srv = jr->srv;
    spx_job *job = jr->job;
    spx_pipeline *p = job->p;
    (void)status;   /* jobs are never cancelled */
    srv->jobs_in_flight--;
    spx_job_finish(job);
    spx_durable_job_done(srv, job);
    spx_transport_job_done(srv->transport, job);
    if (job->failed) {
        srv->c.pipeline_errors += job->failed;
        spx_log_limited(SPX_LOG_WARN, "pipeline-update", "stream=%s pipeline=%s: %llu input(s) "
                        "refused: %s", p->stream_name, p->name, (unsigned long long)job->failed,
                        p->work.last_error);
    }
    if (!p->detached)
        publish_bodies(srv, job);
    spx_control_commands_done(srv, job->commands);
    job->commands = NULL;
    spx_job_free(job);
    free(jr);
    if (p->detached) {
        spx_control_answer_gets(srv, p, true);
        spx_control_fail_commands(srv, p);
        spx_pipeline_free(p);
    } else {
        spx_control_answer_gets(srv, p, false);
        spx_server_schedule(srv, p);
    }
    maybe_resume_ingest(srv);
    maybe_finish_stop(srv);
}

void spx_server_schedule(spx_server *srv, spx_pipeline *p)
{
    spx_job *job = spx_pipeline_take_job(p, JOB_MAX_INPUTS, spx_now());
    if (!job)
        return;
    job_req *jr = calloc(1, sizeof *jr);
    if (!jr) {
        /* Out of memory for the request itself: nothing ran; the inputs are lost, said loudly. */
        spx_job_finish(job);
        for (spx_command *c = job->commands; c; c = c->next) {
            c->code = SPX_E_INTERNAL;
            snprintf(c->err, sizeof c->err, "out of memory");
        }
        spx_control_commands_done(srv, job->commands);
        job->commands = NULL;
        spx_job_free(job);
        spx_error("stream=%s pipeline=%s: out of memory scheduling a job", p->stream_name, p->name);
        return;
    }
    jr->job = job;
    jr->srv = srv;
    srv->jobs_in_flight++;
    uv_queue_work(srv->loop, &jr->req, job_work, job_done);
}

void spx_server_schedule_stream(spx_server *srv, spx_stream *s)
{
    for (size_t i = 0; i < s->n_pipelines; i++)
        spx_server_schedule(srv, s->pipelines[i]);
}

/* ---- periodic work -------------------------------------------------------------------------------- */

static void on_watchdog(uv_timer_t *t)
{
    (void)t;
    spx_service_watchdog_ping();
}

/* Every STATUS_EVERY_TICKS ticks: a one-line status for `systemctl status`. */
#define STATUS_EVERY_TICKS 250
static void update_status(spx_server *srv)
{
    if (++srv->ticks % STATUS_EVERY_TICKS)
        return;
    double now = spx_now(), dt = now - srv->status_time;
    uint64_t msgs = srv->c.ingest_messages, rows = srv->c.ingest_rows;
    if (dt > 0 && srv->status_time > 0)
        spx_service_status("%zu streams; ingest %.0f msg/s, %.0f rows/s; %llu rejected; %llu results",
                           spx_registry_count(srv->reg), (double)(msgs - srv->status_msgs) / dt,
                           (double)(rows - srv->status_rows) / dt,
                           (unsigned long long)srv->c.ingest_rejected,
                           (unsigned long long)srv->c.results_messages);
    srv->status_time = now;
    srv->status_msgs = msgs;
    srv->status_rows = rows;
}

static void on_tick(uv_timer_t *t)
{
    spx_server *srv = t->data;
    size_t n = spx_registry_count(srv->reg);
    for (size_t i = 0; i < n; i++)
        spx_server_schedule_stream(srv, spx_registry_at(srv->reg, i));
    maybe_resume_ingest(srv);
    spx_durable_tick(srv, spx_now());
    update_status(srv);
    maybe_finish_stop(srv);
}

/* ---- startup ----------------------------------------------------------------------------------- */

static void *open_socket(spx_server *srv, int type, const char *endpoint, const char *what,
                         char *err, size_t errlen)
{
    void *s = zmq_socket(srv->zctx, type);
    if (!s) {
        snprintf(err, errlen, "%s socket: %s", what, zmq_strerror(zmq_errno()));
        return NULL;
    }
    /* Two limits: a frame up to max_message_bytes is read; up to twice that it is read, refused
     * with too_large and counted; beyond, ZeroMQ drops the connection before allocating it. */
    int64_t maxmsg = 2 * (int64_t)srv->cfg.max_message_bytes;
    int linger = 0;
    if (type == ZMQ_PULL || type == ZMQ_ROUTER)
        zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
    if (type == ZMQ_PULL)
        zmq_setsockopt(s, ZMQ_RCVHWM, &srv->cfg.ingest_hwm, sizeof srv->cfg.ingest_hwm);
    if (type == ZMQ_PUB) {
        zmq_setsockopt(s, ZMQ_SNDHWM, &srv->cfg.publish_hwm, sizeof srv->cfg.publish_hwm);
        linger = 1000;   /* let final results reach subscribers on shutdown */
    }
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    spx_role role = type == ZMQ_PULL ? SPX_ROLE_INGEST : type == ZMQ_PUB ? SPX_ROLE_RESULTS
                                                                         : SPX_ROLE_CONTROL;
    if (spx_zap_secure_socket(&srv->zap, s, role, err, errlen) != 0) {
        zmq_close(s);
        return NULL;
    }
    if (zmq_bind(s, endpoint) != 0) {
        snprintf(err, errlen, "%s: cannot bind %s: %s", what, endpoint, zmq_strerror(zmq_errno()));
        zmq_close(s);
        return NULL;
    }
    return s;
}

static int prepare_state_dir(const char *dir, char *err, size_t errlen)
{
    if (!dir[0]) {
        spx_info("no state dir configured: nothing is persisted across restarts");
        return 0;
    }
    if (mkdir(dir, 0750) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "state dir %s: %s", dir, strerror(errno));
        return -1;
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "state dir %s: not a directory", dir);
        return -1;
    }
    return 0;
}

static void on_signal(uv_signal_t *h, int signum)
{
    spx_server *srv = h->data;
    if (signum == SIGHUP) {
        spx_server_reload(srv);
        return;
    }
    if (srv->stopping) {
        spx_warn("second %s: exiting now without finishing queued work", strsignal(signum));
        _exit(1);
    }
    spx_info("%s: shutting down (applying accepted input first)", strsignal(signum));
    spx_server_stop(srv);
}

int spx_server_init(spx_server *srv, const spx_config *cfg, uv_loop_t *loop, char *err,
                    size_t errlen)
{
    memset(srv, 0, sizeof *srv);
    srv->cfg = *cfg;
    srv->loop = loop;
    srv->started = spx_now();
    if (prepare_state_dir(cfg->state_dir, err, errlen) != 0)
        return -1;
    if (!(srv->reg = spx_registry_new())) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    srv->zctx = zmq_ctx_new();
    if (!srv->zctx) {
        snprintf(err, errlen, "zmq_ctx_new: %s", zmq_strerror(zmq_errno()));
        goto fail;
    }
    /* Before any socket binds: a CURVE handshake that found no handler would be let in. */
    if (spx_zap_start(&srv->zap, loop, srv->zctx, &cfg->security, srv, err, errlen) != 0)
        goto fail;
    /* The ingest and results sockets exist only with the ZeroMQ transport; control is always ZeroMQ. */
    bool zmq_io = cfg->tr.kind == SPX_TRANSPORT_ZMQ;
    void *ingest = NULL, *pub = NULL;
    if (zmq_io && !(ingest = open_socket(srv, ZMQ_PULL, cfg->ingest, "ingest", err, errlen)))
        goto fail;
    if (zmq_io && !(pub = open_socket(srv, ZMQ_PUB, cfg->publish, "publish", err, errlen))) {
        zmq_close(ingest);
        goto fail;
    }
    void *control = open_socket(srv, ZMQ_ROUTER, cfg->control, "control", err, errlen);
    if (!control) {
        if (zmq_io) {
            zmq_close(ingest);
            zmq_close(pub);
        }
        goto fail;
    }
    if (!(srv->transport = spx_transport_open(srv, ingest, pub, err, errlen))) {
        zmq_close(control);
        goto fail;
    }
    /* State first (snapshots, the config's declarations, then journals), so the first message read
     * from the socket lands on the state the last run left. */
    if (spx_durable_restore(srv, err, errlen) != 0 ||
        spx_server_apply_declarations(srv, &srv->cfg, err, errlen) != 0 ||
        spx_durable_replay(srv, err, errlen) != 0) {
        zmq_close(control);
        return -1;   /* the transport's handles are registered with the loop; the process exits */
    }
    srv->ready = true;
    spx_zap_forget_secret(&srv->zap);
    int rc = spx_zsock_start(loop, &srv->control, control, spx_control_on_read, 64, srv);
    if (rc != 0) {
        snprintf(err, errlen, "watching sockets: %s", uv_strerror(rc));
        return -1;   /* handles are registered with the loop; the process exits */
    }
    srv->open_handles = 2 + srv->zap.enabled;   /* the zsocks; signals and the timer are counted
                                                   as they close */
    uv_signal_init(loop, &srv->sig_int);
    uv_signal_init(loop, &srv->sig_term);
    uv_signal_init(loop, &srv->sig_hup);
    srv->sig_int.data = srv->sig_term.data = srv->sig_hup.data = srv;
    uv_signal_start(&srv->sig_int, on_signal, SIGINT);
    uv_signal_start(&srv->sig_term, on_signal, SIGTERM);
    uv_signal_start(&srv->sig_hup, on_signal, SIGHUP);
    uv_timer_init(loop, &srv->tick);
    srv->tick.data = srv;
    uv_timer_start(&srv->tick, on_tick, TICK_MS, TICK_MS);
    srv->open_handles += 4;
    if (spx_metrics_http_start(srv, err, errlen) != 0)
        return -1;
    spx_info("spectrad %s listening: ingest %s, results %s, control %s", SPX_VERSION, cfg->ingest,
             cfg->publish, cfg->control);
    spx_zap_log_mode(&srv->zap, &cfg->security,
                     (const char *const[3]){cfg->ingest, cfg->publish, cfg->control});
    uint64_t wd = spx_service_watchdog_usec();
    if (wd) {
        /* Fed from the loop, so a wedged loop stops the pings and systemd restarts the daemon. */
        uv_timer_init(loop, &srv->watchdog);
        srv->watchdog.data = srv;
        uv_timer_start(&srv->watchdog, on_watchdog, 0, wd / 2000 ? wd / 2000 : 1);
        srv->open_handles++;
        srv->watchdog_on = true;
    }
    spx_service_ready();
    spx_service_status("listening on %s", cfg->ingest);
    return 0;
fail:
    spx_zap_abort(&srv->zap);
    if (srv->zctx)
        zmq_ctx_term(srv->zctx);
    spx_registry_free(srv->reg);
    srv->reg = NULL;
    srv->zctx = NULL;
    return -1;
}

/* Same pipeline as declared? (algo and every parameter) */
static bool pipeline_matches(const spx_pipeline *p, const spx_config_pipeline *cp)
{
    if (strcmp(p->ops->algo, cp->algo) != 0 || p->n_params != cp->n_params)
        return false;
    for (size_t k = 0; k < cp->n_params; k++) {
        bool found = false;
        for (size_t j = 0; j < p->n_params && !found; j++)
            found = !strcmp(p->param_keys[j], cp->keys[k]) && !strcmp(p->param_values[j], cp->values[k]);
        if (!found)
            return false;
    }
    return true;
}

int spx_server_apply_declarations(spx_server *srv, const spx_config *cfg, char *err, size_t errlen)
{
    for (size_t i = 0; i < cfg->n_streams; i++) {
        const spx_config_stream *cs = &cfg->streams[i];
        if (!spx_transport_owns(srv->transport, cs->name))
            continue;   /* another worker's partition */
        spx_kind kind;
        spx_kind_parse(cs->kind, strlen(cs->kind), &kind);
        spx_stream *existing = spx_registry_find(srv->reg, cs->name);
        spx_durability durability = cs->has_durability ? cs->durability : cfg->durability;
        if (existing) {
            if (existing->durability != durability || existing->dedupe != cs->dedupe) {
                spx_info("stream=%s: durability %s%s (from %s)", cs->name,
                         spx_durability_name(durability), cs->dedupe ? ", dedupe" : "",
                         cfg->config_file);
                existing->durability = durability;
                existing->dedupe = cs->dedupe;
                if (srv->ready)
                    spx_durable_stream_created(srv, existing);
            }
            /* Only on reload: a running stream is never recreated under its data. */
            if (existing->kind != kind || existing->dim != cs->dim)
                spx_warn("reload: [stream %s] now says %s dim %u, the running stream is %s dim %u: "
                         "drop it to change it", cs->name, cs->kind, cs->dim,
                         spx_kind_name(existing->kind), existing->dim);
            continue;
        }
        char why[256];
        spx_stream *created;
        if (spx_registry_create(srv->reg, cs->name, kind, cs->dim, cs->rate, NULL, 0, &created, why,
                                sizeof why) != SPX_OK) {
            snprintf(err, errlen, "%s:%d: [stream %s]: %s", cfg->config_file, cs->line, cs->name,
                     why);
            return -1;
        }
        created->durability = durability;
        created->dedupe = cs->dedupe;
        if (srv->ready)   /* at start-up, spx_durable_replay sets every stream up */
            spx_durable_stream_created(srv, created);
        spx_info("stream=%s: created from the config file (%s, dim %u)", cs->name, cs->kind, cs->dim);
    }
    for (size_t i = 0; i < cfg->n_pipelines; i++) {
        const spx_config_pipeline *cp = &cfg->pipelines[i];
        char why[256];
        if (!spx_transport_owns(srv->transport, cp->stream))
            continue;
        spx_stream *s = spx_registry_find(srv->reg, cp->stream);
        const spx_pipeline_ops *ops = spx_pipeline_kind_find(cp->algo);
        if (!s) {
            snprintf(err, errlen, "%s:%d: [pipeline %s.%s]: no [stream %s] declared",
                     cfg->config_file, cp->line, cp->stream, cp->name, cp->stream);
            return -1;
        }
        if (!ops) {
            snprintf(err, errlen, "%s:%d: [pipeline %s.%s]: unknown algo '%s'", cfg->config_file,
                     cp->line, cp->stream, cp->name, cp->algo);
            return -1;
        }
        spx_pipeline *running = spx_stream_find_pipeline(s, cp->name);
        if (running) {
            if (!pipeline_matches(running, cp))
                spx_warn("reload: [pipeline %s.%s] changed; the running instance keeps its state and "
                         "parameters (detach and reload to apply)", cp->stream, cp->name);
            continue;
        }
        spx_param params[SPX_CONFIG_PARAMS_MAX];
        for (size_t k = 0; k < cp->n_params; k++)
            params[k] = (spx_param){cp->keys[k], cp->values[k]};
        spx_publish_policy policy = {.every = cp->has_every ? cp->every : 0,
                                     .interval_ms = cp->has_interval ? cp->interval_ms : 250};
        spx_stream_info info;
        spx_stream_get_info(s, &info);
        spx_pipeline *p;
        if (spx_pipeline_create(&p, s->name, &info, cp->name, ops, params, cp->n_params, policy, why,
                                sizeof why) != SPX_OK) {
            snprintf(err, errlen, "%s:%d: [pipeline %s.%s]: %s", cfg->config_file, cp->line,
                     cp->stream, cp->name, why);
            return -1;
        }
        if (spx_stream_attach(s, p, why, sizeof why) != SPX_OK) {
            spx_pipeline_free(p);
            snprintf(err, errlen, "%s:%d: [pipeline %s.%s]: %s", cfg->config_file, cp->line,
                     cp->stream, cp->name, why);
            return -1;
        }
        spx_info("stream=%s pipeline=%s: %s attached from the config file", s->name, p->name,
                 ops->algo);
        if (srv->ready)
            spx_durable_structure_changed(srv, s);
    }
    return 0;
}

/* SIGHUP: re-read the config file. Live: log level, auto_create, max_queued_bytes, new streams and
 * pipelines. Needing a restart (logged, not applied): endpoints, state dir, workers, message size,
 * high-water marks. A file with an error changes nothing. */
void spx_server_reload(spx_server *srv)
{
    spx_service_reloading();
    if (!srv->cfg.config_file[0]) {
        spx_info("SIGHUP: no config file to reload (started without --config)");
        spx_service_ready();
        return;
    }
    spx_config *next = calloc(1, sizeof *next);
    char err[1024];
    if (!next) {
        spx_error("reload: out of memory");
        spx_service_ready();
        return;
    }
    spx_config_defaults(next);
    if (spx_config_load_file(next, srv->cfg.config_file, err, sizeof err) != 0 ||
        (spx_config_keep_cli(next, &srv->cfg), spx_config_validate(next, err, sizeof err)) != 0) {
        spx_error("reload: %s (the running configuration is unchanged)", err);
        free(next);
        spx_service_ready();
        return;
    }
    const spx_config *cur = &srv->cfg;
    struct { const char *name; bool changed; } restart[] = {
        {"ingest", strcmp(cur->ingest, next->ingest) != 0},
        {"publish", strcmp(cur->publish, next->publish) != 0},
        {"control", strcmp(cur->control, next->control) != 0},
        {"state_dir", strcmp(cur->state_dir, next->state_dir) != 0},
        {"workers", cur->workers != next->workers},
        {"max_message_bytes", cur->max_message_bytes != next->max_message_bytes},
        {"ingest_hwm", cur->ingest_hwm != next->ingest_hwm},
        {"publish_hwm", cur->publish_hwm != next->publish_hwm},
        {"curve_secret_key", strcmp(cur->security.secret_key_file,
                                    next->security.secret_key_file) != 0},
        {"metrics_listen", strcmp(cur->metrics_listen, next->metrics_listen) != 0},
    };
    for (size_t i = 0; i < sizeof restart / sizeof restart[0]; i++)
        if (restart[i].changed)
            spx_warn("reload: %s changed in %s; it takes effect after a restart", restart[i].name,
                     cur->config_file);
    if (spx_server_apply_declarations(srv, next, err, sizeof err) != 0)
        spx_error("reload: %s", err);
    spx_zap_reload(&srv->zap, &next->security);
    srv->cfg.log_level = next->log_level;
    srv->cfg.auto_create = next->auto_create;
    srv->cfg.max_queued_bytes = next->max_queued_bytes;
    memcpy(srv->cfg.streams, next->streams, sizeof next->streams);
    srv->cfg.n_streams = next->n_streams;
    memcpy(srv->cfg.pipelines, next->pipelines, sizeof next->pipelines);
    srv->cfg.n_pipelines = next->n_pipelines;
    spx_log_set_level(srv->cfg.log_level);
    spx_info("reloaded %s", cur->config_file);
    free(next);
    spx_service_ready();
}

/* ---- shutdown ---------------------------------------------------------------------------------- */

static void on_handle_closed(uv_handle_t *h)
{
    spx_server *srv = h->data;
    srv->open_handles--;
}

static void on_zsock_closed(spx_zsock *zs)
{
    spx_server *srv = zs->data;
    srv->open_handles--;
}

static void on_transport_closed(spx_transport *t)
{
    t->srv->open_handles--;
}

static bool all_applied(spx_server *srv)
{
    if (srv->jobs_in_flight)
        return false;
    size_t n = spx_registry_count(srv->reg);
    for (size_t i = 0; i < n; i++) {
        spx_stream *s = spx_registry_at(srv->reg, i);
        for (size_t j = 0; j < s->n_pipelines; j++)
            if (s->pipelines[j]->q_len || s->pipelines[j]->busy || s->pipelines[j]->snapshot_pending ||
                (s->pipelines[j]->publish_requested && s->pipelines[j]->work.dirty))
                return false;
    }
    return true;
}

static void maybe_finish_stop(spx_server *srv)
{
    if (!srv->stopping || srv->transport_closing || !all_applied(srv) ||
        !spx_durable_shutdown_done(srv))
        return;
    spx_info("all accepted input applied; closing");
    spx_control_free_gets(srv);
    uv_timer_stop(&srv->tick);
    uv_close((uv_handle_t *)&srv->tick, on_handle_closed);
    uv_close((uv_handle_t *)&srv->sig_int, on_handle_closed);
    uv_close((uv_handle_t *)&srv->sig_term, on_handle_closed);
    uv_close((uv_handle_t *)&srv->sig_hup, on_handle_closed);
    spx_metrics_http_stop(srv);
    if (srv->watchdog_on) {
        uv_timer_stop(&srv->watchdog);
        uv_close((uv_handle_t *)&srv->watchdog, on_handle_closed);
    }
    srv->transport_closing = true;
    srv->transport->ops->close(srv->transport, on_transport_closed);
    spx_zsock_close(&srv->control, true, on_zsock_closed);
    spx_zap_close(&srv->zap, on_zsock_closed);
}

void spx_server_stop(spx_server *srv)
{
    if (srv->stopping)
        return;
    srv->stopping = true;
    spx_service_stopping();
    srv->transport->ops->pause(srv->transport);
    /* Every pipeline publishes its final state once its queue is applied. */
    size_t n = spx_registry_count(srv->reg);
    for (size_t i = 0; i < n; i++) {
        spx_stream *s = spx_registry_at(srv->reg, i);
        for (size_t j = 0; j < s->n_pipelines; j++) {
            s->pipelines[j]->publish_requested = true;
            spx_server_schedule(srv, s->pipelines[j]);
        }
    }
    maybe_finish_stop(srv);
}

int spx_server_run(spx_server *srv)
{
    uv_run(srv->loop, UV_RUN_DEFAULT);
    if (srv->transport) {
        srv->transport->ops->destroy(srv->transport);   /* delivers the final results (bounded) */
        srv->transport = NULL;
    }
    spx_registry_free(srv->reg);
    srv->reg = NULL;
    zmq_ctx_term(srv->zctx);
    srv->zctx = NULL;
    spx_info("stopped");
    return srv->exit_code;
}
