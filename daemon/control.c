/* The control socket (ROUTER): msgpack requests {op: ...} answered {ok: true, ...} or
 * {ok: false, error: {code, message}} (docs/protocol.md section 3). Every request gets exactly one
 * reply, malformed ones included, unless the envelope itself is unusable. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "control_ops.h"
#include "log.h"
#include "server.h"

#define CONTROL_MAX_FRAMES 8

/* A request answered later: its envelope and its id (already packed) are kept. */
typedef struct parked {
    spx_envelope env;
    char *id;                  /* the request's id as msgpack bytes, or NULL */
    size_t id_len;
} parked;

/* A `get` waiting for its pipeline to apply what was accepted before it. */
struct spx_pending_get {
    spx_pending_get *next;
    spx_pipeline *p;
    parked req;
};

void spx_envelope_free(spx_envelope *env)
{
    for (size_t i = 0; i < env->n; i++)
        free(env->frames[i]);
    env->n = 0;
}

static void send_reply(spx_server *srv, const spx_envelope *env, const msgpack_sbuffer *body)
{
    void *sock = srv->control.sock;
    for (size_t i = 0; i < env->n; i++)
        if (zmq_send(sock, env->frames[i], env->lens[i], ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
            goto fail;
    if (zmq_send(sock, body->data, body->size, ZMQ_DONTWAIT) >= 0)
        return;
fail:
    /* The client went away (ROUTER drops to unknown peers) or its queue is full. */
    spx_log_limited(SPX_LOG_WARN, "control-send", "control: reply not sent: %s",
                    zmq_strerror(zmq_errno()));
}

void spx_reply_begin(msgpack_packer *pk, const spx_request *req, size_t n_extra)
{
    msgpack_pack_map(pk, 1 + (req && req->id ? 1 : 0) + n_extra);
    spx_pack_key_bool(pk, "ok", true);
    if (req && req->id) {
        spx_pack_cstr(pk, "id");
        msgpack_pack_object(pk, *req->id);
    }
}

/* ---- parked requests: get, get with detail, call ------------------------------------------------ */

/* Moves the envelope (env->n becomes 0) and a packed copy of the id into *pr. */
static int park(parked *pr, const spx_request *req, spx_envelope *env)
{
    memset(pr, 0, sizeof *pr);
    if (req->id) {
        msgpack_sbuffer sb;
        msgpack_packer pk;
        msgpack_sbuffer_init(&sb);
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        msgpack_pack_object(&pk, *req->id);
        if (!sb.data)
            return -1;
        pr->id = sb.data;
        pr->id_len = sb.size;
    }
    pr->env = *env;
    env->n = 0;
    return 0;
}

static void unpark(parked *pr)
{
    spx_envelope_free(&pr->env);
    free(pr->id);
    pr->id = NULL;
}

/* {ok: true, [id,] key: <raw msgpack value or nil>} */
static void answer_value(spx_server *srv, parked *pr, const char *key, const void *value,
                         size_t value_len)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, pr->id ? 3 : 2);
    spx_pack_key_bool(&pk, "ok", true);
    if (pr->id) {
        spx_pack_cstr(&pk, "id");
        msgpack_sbuffer_write(&sb, pr->id, pr->id_len);   /* packed msgpack, inserted as is */
    }
    spx_pack_cstr(&pk, key);
    if (value)
        msgpack_sbuffer_write(&sb, value, value_len);
    else
        msgpack_pack_nil(&pk);
    send_reply(srv, &pr->env, &sb);
    msgpack_sbuffer_destroy(&sb);
}

static void answer_error(spx_server *srv, parked *pr, spx_errcode code, const char *message)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, pr->id ? 3 : 2);
    spx_pack_key_bool(&pk, "ok", false);
    if (pr->id) {
        spx_pack_cstr(&pk, "id");
        msgpack_sbuffer_write(&sb, pr->id, pr->id_len);
    }
    spx_pack_cstr(&pk, "error");
    msgpack_pack_map(&pk, 2);
    spx_pack_key_cstr(&pk, "code", spx_errcode_name(code));
    spx_pack_key_cstr(&pk, "message", message);
    send_reply(srv, &pr->env, &sb);
    msgpack_sbuffer_destroy(&sb);
    srv->c.control_errors++;
}

static bool caught_up(const spx_pipeline *p)
{
    return !p->busy && p->q_len == 0 && !(p->publish_requested && p->work.dirty);
}

/* A named pipeline operation (`get` with "detail", or `call`): queued on the pipeline, run by its
 * worker after the inputs accepted so far, answered from spx_control_commands_done. */
static spx_errcode queue_command(spx_server *srv, spx_pipeline *p, const spx_command_args *a,
                                 const spx_request *req, spx_envelope *env, char *err,
                                 size_t errlen)
{
    const msgpack_object *args = a->args;
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    if (args)
        msgpack_pack_object(&pk, *args);
    parked *pr = calloc(1, sizeof *pr);
    spx_command *c = pr ? spx_command_new(a->name, sb.data, sb.size, pr) : NULL;
    msgpack_sbuffer_destroy(&sb);
    if (!c || park(pr, req, env) != 0) {
        free(pr);
        spx_command_free(c);
        snprintf(err, errlen, "out of memory");
        return SPX_E_INTERNAL;
    }
    spx_pipeline_add_command(p, c);
    spx_server_schedule(srv, p);
    return SPX_OK;
}

void spx_control_commands_done(spx_server *srv, spx_command *list)
{
    while (list) {
        spx_command *c = list;
        list = c->next;
        parked *pr = c->owner;
        if (c->code == SPX_OK)
            answer_value(srv, pr, "value", c->value, c->value_len);
        else
            answer_error(srv, pr, c->code, c->err);
        unpark(pr);
        free(pr);
        spx_command_free(c);
    }
}

void spx_control_fail_commands(spx_server *srv, spx_pipeline *p)
{
    while (p->commands) {
        spx_command *c = p->commands;
        p->commands = c->next;
        c->next = NULL;
        c->code = SPX_E_UNKNOWN_PIPELINE;
        snprintf(c->err, sizeof c->err, "the pipeline was detached before it got to '%s'",
                 c->name);
        spx_control_commands_done(srv, c);
    }
}

spx_errcode spx_op_get(spx_server *srv, spx_request *req, spx_envelope *env, char *err,
                       size_t errlen)
{
    spx_command_args a;
    spx_stream *s;
    spx_pipeline *p;
    spx_errcode code = spx_control_parse_get(req, &a, err, errlen);
    if (code == SPX_OK)
        code = spx_find_target(srv, &a.target, &s, &p, err, errlen);
    if (code != SPX_OK)
        return code;
    if (a.name[0])
        return queue_command(srv, p, &a, req, env, err, errlen);
    spx_pending_get *g = calloc(1, sizeof *g);
    if (!g || park(&g->req, req, env) != 0) {
        free(g);
        snprintf(err, errlen, "out of memory");
        return SPX_E_INTERNAL;
    }
    g->p = p;
    g->next = srv->gets;
    srv->gets = g;
    /* Something accepted or applied since the last body: have the pipeline make a fresh one. */
    if (p->busy || p->q_len || p->work.dirty) {
        p->publish_requested = true;
        spx_server_schedule(srv, p);
    }
    spx_control_answer_gets(srv, p, false);
    return SPX_OK;
}

spx_errcode spx_op_call(spx_server *srv, spx_request *req, spx_envelope *env, char *err,
                        size_t errlen)
{
    spx_command_args a;
    spx_stream *s;
    spx_pipeline *p;
    spx_errcode code = spx_control_parse_call(req, &a, err, errlen);
    if (code == SPX_OK)
        code = spx_find_target(srv, &a.target, &s, &p, err, errlen);
    if (code != SPX_OK)
        return code;
    if (srv->stopping) {
        snprintf(err, errlen, "shutting down");
        return SPX_E_BUSY;
    }
    return queue_command(srv, p, &a, req, env, err, errlen);
}

void spx_control_answer_gets(spx_server *srv, spx_pipeline *p, bool pipeline_gone)
{
    if (!pipeline_gone && !caught_up(p))
        return;
    if (!pipeline_gone && !p->work.dirty)
        p->publish_requested = false;   /* served (or nothing new since the last body) */
    spx_pending_get **link = &srv->gets;
    while (*link) {
        spx_pending_get *g = *link;
        if (g->p != p) {
            link = &g->next;
            continue;
        }
        *link = g->next;
        if (pipeline_gone)
            answer_error(srv, &g->req, SPX_E_UNKNOWN_PIPELINE,
                         "the pipeline was detached before it caught up");
        else
            answer_value(srv, &g->req, "result", p->latest, p->latest_len);
        unpark(&g->req);
        free(g);
    }
}

void spx_control_free_gets(spx_server *srv)
{
    while (srv->gets) {
        spx_pending_get *g = srv->gets;
        srv->gets = g->next;
        unpark(&g->req);
        free(g);
    }
}

/* ---- dispatch ---------------------------------------------------------------------------------- */

static const spx_control_op g_ops[] = {
    {"ping", spx_op_ping, false},     {"create", spx_op_create, true},
    {"drop", spx_op_drop, true},      {"list", spx_op_list, false},
    {"attach", spx_op_attach, true},  {"detach", spx_op_detach, true},
    {"stats", spx_op_stats, false},   {"algos", spx_op_algos, false},
    {"save", spx_op_save, false},     {"position", spx_op_position, false},
};

static void handle_request(spx_server *srv, spx_envelope *env, const void *body, size_t len)
{
    char err[512] = "";
    spx_request req;
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    srv->c.control_requests++;

    spx_errcode code = spx_decode_request(body, len, &req, err, sizeof err);
    if (code != SPX_OK) {
        /* A map without a usable op still has its id echoed, so the client can match the error. */
        spx_pack_error_reply(&pk, req.id, code, err);
        spx_request_clear(&req);
        goto reply;
    }
    if (!strcmp(req.op, "get") || !strcmp(req.op, "call")) {
        code = !strcmp(req.op, "get") ? spx_op_get(srv, &req, env, err, sizeof err)
                                      : spx_op_call(srv, &req, env, err, sizeof err);
        if (code == SPX_OK) {
            spx_request_clear(&req);
            msgpack_sbuffer_destroy(&sb);
            return;          /* answered now, or later when the pipeline has caught up */
        }
        spx_pack_error_reply(&pk, req.id, code, err);
        spx_request_clear(&req);
        goto reply;
    }
    const spx_control_op *op = NULL;
    for (size_t i = 0; i < sizeof g_ops / sizeof g_ops[0]; i++)
        if (!strcmp(g_ops[i].name, req.op))
            op = &g_ops[i];
    if (!op) {
        code = SPX_E_UNKNOWN_OP;
        snprintf(err, sizeof err, "unknown op '%s' (ping, create, drop, list, attach, detach, get, "
                 "call, stats, algos)", req.op);
    } else if (op->mutates && srv->stopping) {
        code = SPX_E_BUSY;
        snprintf(err, sizeof err, "shutting down");
    } else {
        code = op->fn(srv, &req, &pk, err, sizeof err);
    }
    if (code != SPX_OK) {
        /* Handlers pack nothing before they fail, so the buffer is still empty here. */
        msgpack_sbuffer_clear(&sb);
        spx_pack_error_reply(&pk, req.id, code, err);
    }
    spx_request_clear(&req);
reply:
    if (code != SPX_OK) {
        srv->c.control_errors++;
        spx_log_limited(SPX_LOG_INFO, "control-error", "control: %s: %s", spx_errcode_name(code),
                        err);
    }
    send_reply(srv, env, &sb);
    msgpack_sbuffer_destroy(&sb);
}

unsigned spx_control_on_read(spx_zsock *zs, unsigned budget)
{
    spx_server *srv = zs->data;
    unsigned handled = 0;
    while (handled < budget) {
        spx_envelope env = {0};
        zmq_msg_t frames[CONTROL_MAX_FRAMES];
        size_t n = 0;
        int more = 1;
        size_t len = sizeof more;
        bool overflow = false;
        while (more) {
            zmq_msg_t m;
            zmq_msg_init(&m);
            if (zmq_msg_recv(&m, zs->sock, ZMQ_DONTWAIT) < 0) {
                zmq_msg_close(&m);
                break;
            }
            zmq_getsockopt(zs->sock, ZMQ_RCVMORE, &more, &len);
            if (n < CONTROL_MAX_FRAMES)
                frames[n++] = m;
            else {
                zmq_msg_close(&m);
                overflow = true;
            }
        }
        if (n == 0)
            break;
        handled++;
        /* ROUTER prepends the peer identity; REQ adds an empty delimiter; the body is the last
         * frame. Everything before the body is mirrored back as the envelope. */
        bool copied = n >= 2 && n <= SPX_ENVELOPE_MAX + 1 && !overflow;
        for (size_t i = 0; copied && i + 1 < n; i++) {
            env.lens[i] = zmq_msg_size(&frames[i]);
            env.frames[i] = malloc(env.lens[i] ? env.lens[i] : 1);
            if (!env.frames[i])
                copied = false;
            else
                memcpy(env.frames[i], zmq_msg_data(&frames[i]), env.lens[i]);
            env.n = i + 1;
        }
        if (copied) {
            handle_request(srv, &env, zmq_msg_data(&frames[n - 1]), zmq_msg_size(&frames[n - 1]));
            spx_envelope_free(&env);
        } else {
            spx_envelope_free(&env);
            srv->c.control_requests++;
            srv->c.control_errors++;
            spx_log_limited(SPX_LOG_WARN, "control-frames", "control: dropped a message of %zu "
                            "frames (expected identity, optional delimiter, body)", n);
        }
        for (size_t i = 0; i < n; i++)
            zmq_msg_close(&frames[i]);
    }
    return handled;
}
