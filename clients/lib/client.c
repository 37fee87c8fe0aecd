/* The client handle: options, sockets (opened on first use), errors, and the control round trip.
 *
 * Control uses a DEALER socket with an explicit empty delimiter frame instead of REQ: a REQ socket
 * whose reply never comes is stuck in its send/receive state machine, while a DEALER can always send.
 * Replies are matched by the "id" the library puts in every request, and a request that times out
 * also resets the socket, so a late reply can never be taken for the answer to a later request. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

typedef struct seq_entry {
    char name[SPECTRA_NAME_MAX + 1];
    uint64_t next;
} seq_entry;

struct spectra_client {
    void *ctx;
    void *control, *ingest, *sub;
    char *control_ep, *ingest_ep, *publish_ep;
    int timeout_ms;
    int send_timeout_ms;
    int send_hwm;
    int linger_ms;
    uint64_t next_id;
    seq_entry *seqs;
    size_t n_seqs, cap_seqs;
    char err[SPECTRA__ERR_MAX];
    char err_code[64];
    spectra_ingest_sink sink;
    void *sink_ctx;
    /* CURVE: set when both key files were read; a failure to read them is kept in key_error and
     * returned by every socket open, since spectra_connect() cannot fail for it. */
    int curve;
    char server_public[SPECTRA_KEY_Z85_LEN + 1];
    char client_public[SPECTRA_KEY_Z85_LEN + 1];
    char client_secret[SPECTRA_KEY_Z85_LEN + 1];
    int key_rc;
    char key_error[SPECTRA__ERR_MAX];
};

void spectra_set_ingest_sink(spectra_client *c, spectra_ingest_sink send, void *ctx)
{
    if (!c)
        return;
    c->sink = send;
    c->sink_ctx = ctx;
}

int spectra__sink_send(spectra_client *c, const char *stream, uint64_t seq, const void *hdr,
                       size_t hdr_len, const void *payload, size_t payload_len)
{
    if (!c->sink)
        return 1;
    int rc = c->sink(c->sink_ctx, stream, seq, hdr, hdr_len, payload, payload_len);
    return rc ? spectra__fail(c, rc, "push: the ingest sink refused the message") : 0;
}

void spectra_options_init(spectra_options *o)
{
    memset(o, 0, sizeof *o);
    o->control = SPECTRA_DEFAULT_CONTROL;
    o->ingest = SPECTRA_DEFAULT_INGEST;
    o->publish = SPECTRA_DEFAULT_PUBLISH;
    o->timeout_ms = SPECTRA_DEFAULT_TIMEOUT_MS;
    o->send_timeout_ms = -1;
    o->send_hwm = 0;
    o->linger_ms = -1;
}

static char *dup_or(const char *s, const char *fallback)
{
    const char *src = s && *s ? s : fallback;
    size_t n = strlen(src) + 1;
    char *p = malloc(n);
    if (p)
        memcpy(p, src, n);
    return p;
}

spectra_client *spectra_connect(const spectra_options *opts)
{
    spectra_options defaults;
    spectra_options_init(&defaults);
    if (!opts)
        opts = &defaults;
    spectra_client *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->control_ep = dup_or(opts->control, SPECTRA_DEFAULT_CONTROL);
    c->ingest_ep = dup_or(opts->ingest, SPECTRA_DEFAULT_INGEST);
    c->publish_ep = dup_or(opts->publish, SPECTRA_DEFAULT_PUBLISH);
    c->timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : SPECTRA_DEFAULT_TIMEOUT_MS;
    c->send_timeout_ms = opts->send_timeout_ms < 0 ? -1 : opts->send_timeout_ms;
    c->send_hwm = opts->send_hwm > 0 ? opts->send_hwm : 0;
    c->linger_ms = opts->linger_ms < 0 ? -1 : opts->linger_ms;
    c->next_id = 1;
    if (opts->server_key || opts->client_key)
        spectra_set_curve_keys(c, opts->server_key, opts->client_key);
    c->ctx = zmq_ctx_new();
    if (!c->control_ep || !c->ingest_ep || !c->publish_ep || !c->ctx) {
        spectra_close(c);
        return NULL;
    }
    return c;
}

static void close_socket(void **s)
{
    if (*s) {
        zmq_close(*s);
        *s = NULL;
    }
}

void spectra_close(spectra_client *c)
{
    if (!c)
        return;
    close_socket(&c->control);
    close_socket(&c->sub);
    close_socket(&c->ingest);
    if (c->ctx) {
        /* Blocks for at most linger_ms while queued ingest messages are delivered. */
        while (zmq_ctx_term(c->ctx) != 0 && errno == EINTR) {
        }
    }
    free(c->control_ep);
    free(c->ingest_ep);
    free(c->publish_ep);
    free(c->seqs);
    memset(c->client_secret, 0, sizeof c->client_secret);
    free(c);
}

int spectra_set_curve_keys(spectra_client *c, const char *server_key, const char *client_key)
{
    if (!c)
        return SPECTRA_EINVAL;
    c->curve = 0;
    c->key_rc = 0;
    c->key_error[0] = '\0';
    memset(c->client_secret, 0, sizeof c->client_secret);
    if (!server_key && !client_key)
        return 0;
    int rc;
    char why[SPECTRA__ERR_MAX - 32];
    if (!server_key || !client_key || !*server_key || !*client_key) {
        rc = SPECTRA_EINVAL;
        snprintf(why, sizeof why, "CURVE needs both the server's public key file and this "
                 "client's secret key file");
    } else if ((rc = spectra_key_read(server_key, c->server_public, NULL, why, sizeof why)) == 0 &&
               (rc = spectra_key_read(client_key, c->client_public, c->client_secret, why,
                                      sizeof why)) == 0) {
        c->curve = 1;
        return 0;
    }
    c->key_rc = rc;
    snprintf(c->key_error, sizeof c->key_error, "key: %s", why);
    return spectra__fail(c, rc, "%s", c->key_error);
}

const char *spectra_last_error(const spectra_client *c)
{
    return c ? c->err : "no client";
}

const char *spectra_last_error_code(const spectra_client *c)
{
    return c ? c->err_code : "";
}

int spectra__fail(spectra_client *c, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, sizeof c->err, fmt, ap);
    va_end(ap);
    c->err_code[0] = '\0';
    return code;
}

static void clear_error(spectra_client *c)
{
    c->err[0] = '\0';
    c->err_code[0] = '\0';
}

int spectra_set_timeout(spectra_client *c, int timeout_ms)
{
    if (!c || timeout_ms <= 0)
        return SPECTRA_EINVAL;
    c->timeout_ms = timeout_ms;
    if (c->control)
        zmq_setsockopt(c->control, ZMQ_SNDTIMEO, &timeout_ms, sizeof timeout_ms);
    return 0;
}

int spectra_set_send_timeout(spectra_client *c, int timeout_ms)
{
    if (!c)
        return SPECTRA_EINVAL;
    c->send_timeout_ms = timeout_ms < 0 ? -1 : timeout_ms;
    if (c->ingest)
        zmq_setsockopt(c->ingest, ZMQ_SNDTIMEO, &c->send_timeout_ms, sizeof c->send_timeout_ms);
    return 0;
}

int spectra__socket_error(const spectra_client *c)
{
    return c->key_rc ? c->key_rc : SPECTRA_EZMQ;
}

int spectra__send_timeout(const spectra_client *c)
{
    return c->send_timeout_ms;
}

static void *open_socket(spectra_client *c, int type, const char *what, const char *ep,
                         int linger, int sndtimeo, int sndhwm)
{
    if (c->key_rc) {
        spectra__fail(c, c->key_rc, "%s", c->key_error);
        return NULL;
    }
    void *s = zmq_socket(c->ctx, type);
    if (!s) {
        spectra__fail(c, SPECTRA_EZMQ, "%s socket: %s", what, zmq_strerror(errno));
        return NULL;
    }
    if (c->curve && (zmq_setsockopt(s, ZMQ_CURVE_SERVERKEY, c->server_public, SPECTRA_KEY_Z85_LEN) ||
                     zmq_setsockopt(s, ZMQ_CURVE_PUBLICKEY, c->client_public, SPECTRA_KEY_Z85_LEN) ||
                     zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, c->client_secret, SPECTRA_KEY_Z85_LEN))) {
        spectra__fail(c, SPECTRA_EZMQ, "%s socket: cannot enable CURVE: %s", what,
                      zmq_strerror(errno));
        zmq_close(s);
        return NULL;
    }
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    if (sndtimeo >= 0)
        zmq_setsockopt(s, ZMQ_SNDTIMEO, &sndtimeo, sizeof sndtimeo);
    if (sndhwm > 0)
        zmq_setsockopt(s, ZMQ_SNDHWM, &sndhwm, sizeof sndhwm);
    if (zmq_connect(s, ep) != 0) {
        spectra__fail(c, SPECTRA_EZMQ, "%s endpoint '%s': %s", what, ep, zmq_strerror(errno));
        zmq_close(s);
        return NULL;
    }
    return s;
}

static void *control_socket(spectra_client *c)
{
    if (!c->control)
        c->control = open_socket(c, ZMQ_DEALER, "control", c->control_ep, 0, c->timeout_ms, 0);
    return c->control;
}

void *spectra__ingest_socket(spectra_client *c)
{
    if (!c->ingest)
        c->ingest = open_socket(c, ZMQ_PUSH, "ingest", c->ingest_ep, c->linger_ms,
                                c->send_timeout_ms, c->send_hwm);
    return c->ingest;
}

void *spectra__sub_socket(spectra_client *c)
{
    if (!c->sub)
        c->sub = open_socket(c, ZMQ_SUB, "results", c->publish_ep, 0, -1, 0);
    return c->sub;
}

/* ---- sequence numbers per stream ---------------------------------------------------------- */

static seq_entry *seq_find(const spectra_client *c, const char *stream)
{
    for (size_t i = 0; i < c->n_seqs; i++)
        if (strcmp(c->seqs[i].name, stream) == 0)
            return &c->seqs[i];
    return NULL;
}

uint64_t spectra__seq_peek(const spectra_client *c, const char *stream)
{
    const seq_entry *e = seq_find(c, stream);
    return e ? e->next : 1;
}

int spectra__seq_set(spectra_client *c, const char *stream, uint64_t next)
{
    seq_entry *e = seq_find(c, stream);
    if (!e) {
        if (strlen(stream) > SPECTRA_NAME_MAX)
            return SPECTRA_EINVAL;
        if (c->n_seqs == c->cap_seqs) {
            size_t cap = c->cap_seqs ? 2 * c->cap_seqs : 8;
            seq_entry *p = realloc(c->seqs, cap * sizeof *p);
            if (!p)
                return SPECTRA_ENOMEM;
            c->seqs = p;
            c->cap_seqs = cap;
        }
        e = &c->seqs[c->n_seqs++];
        strcpy(e->name, stream);
    }
    e->next = next;
    return 0;
}

uint64_t spectra_next_seq(const spectra_client *c, const char *stream)
{
    return c && stream ? spectra__seq_peek(c, stream) : 0;
}

int spectra_set_next_seq(spectra_client *c, const char *stream, uint64_t next)
{
    if (!c)
        return SPECTRA_EINVAL;
    if (!spectra_name_valid(stream) || next == 0)
        return spectra__fail(c, SPECTRA_EINVAL, "set_next_seq: needs a stream name and seq >= 1");
    if (spectra__seq_set(c, stream, next))
        return spectra__fail(c, SPECTRA_ENOMEM, "out of memory");
    return 0;
}

/* ---- control round trip ------------------------------------------------------------------- */

/* Drops the socket and whatever it still holds (linger 0): the next request reconnects. */
static void reset_control(spectra_client *c)
{
    close_socket(&c->control);
}

static int fail_timeout(spectra_client *c)
{
    reset_control(c);
    return spectra__fail(c, SPECTRA_ETIMEDOUT, "no reply from %s within %.3g s (is spectrad running%s?)",
                         c->control_ep, c->timeout_ms / 1000.0,
                         c->curve ? ", and is this key in its operator allow-list" : "");
}

static int send_envelope(spectra_client *c, const void *req, size_t len)
{
    for (;;) {
        if (zmq_send(c->control, "", 0, ZMQ_SNDMORE) == 0)
            break;
        if (errno == EAGAIN)
            return fail_timeout(c);
        reset_control(c);
        if (errno == EINTR)
            return spectra__fail(c, SPECTRA_EINTR, "interrupted");
        return spectra__fail(c, SPECTRA_EZMQ, "control send: %s", zmq_strerror(errno));
    }
    /* Once the first frame is queued the rest of the message is accepted; retry on signals. */
    while (zmq_send(c->control, req, len, 0) < 0) {
        if (errno != EINTR) {
            reset_control(c);
            return spectra__fail(c, SPECTRA_EZMQ, "control send: %s", zmq_strerror(errno));
        }
    }
    return 0;
}

/* Receives one whole multipart message; keeps its last frame in *last. */
static int recv_last_frame(spectra_client *c, zmq_msg_t *last, int *frames)
{
    *frames = 0;
    for (;;) {
        zmq_msg_close(last);
        zmq_msg_init(last);
        while (zmq_msg_recv(last, c->control, 0) < 0) {
            if (errno != EINTR) {
                reset_control(c);
                return spectra__fail(c, SPECTRA_EZMQ, "control receive: %s", zmq_strerror(errno));
            }
        }
        (*frames)++;
        if (!zmq_msg_more(last))
            return 0;
    }
}

static int reply_id_matches(const spectra_msg *reply, uint64_t id)
{
    const msgpack_object *rid = spectra__map_get(spectra_msg_root(reply), "id", 2);
    /* A daemon that could not read the request cannot echo its id: such a reply is ours, since a
     * timed-out request's socket is gone. */
    if (!rid)
        return 1;
    return rid->type == MSGPACK_OBJECT_POSITIVE_INTEGER && rid->via.u64 == id;
}

static int roundtrip(spectra_client *c, const void *req, size_t len, uint64_t id,
                     spectra_msg **reply_out)
{
    if (!control_socket(c))
        return spectra__socket_error(c);
    int64_t deadline = spectra__now_ms() + c->timeout_ms;
    int rc = send_envelope(c, req, len);
    if (rc)
        return rc;
    for (;;) {
        int64_t left = deadline - spectra__now_ms();
        if (left <= 0)
            return fail_timeout(c);
        zmq_pollitem_t item = {c->control, 0, ZMQ_POLLIN, 0};
        int n = zmq_poll(&item, 1, (long)left);
        if (n < 0) {
            reset_control(c);
            if (errno == EINTR)
                return spectra__fail(c, SPECTRA_EINTR, "interrupted");
            return spectra__fail(c, SPECTRA_EZMQ, "control poll: %s", zmq_strerror(errno));
        }
        if (n == 0)
            continue;
        zmq_msg_t frame;
        int frames;
        zmq_msg_init(&frame);
        rc = recv_last_frame(c, &frame, &frames);
        if (rc) {
            zmq_msg_close(&frame);
            return rc;
        }
        spectra_msg *reply;
        char why[200];
        rc = spectra__msg_from_zmq(&frame, &reply, why, sizeof why);
        zmq_msg_close(&frame);
        if (rc)
            return spectra__fail(c, rc, "bad reply from %s: %s", c->control_ep, why);
        if (spectra_msg_root(reply)->type != MSGPACK_OBJECT_MAP) {
            spectra_msg_free(reply);
            return spectra__fail(c, SPECTRA_EPROTO, "bad reply from %s: not a map", c->control_ep);
        }
        if (!reply_id_matches(reply, id)) {
            spectra_msg_free(reply); /* a late answer to an earlier request */
            continue;
        }
        char code[64], message[SPECTRA__ERR_MAX - 80];
        rc = spectra_reply_status(reply, code, sizeof code, message, sizeof message);
        if (rc == SPECTRA_EDAEMON) {
            snprintf(c->err, sizeof c->err, "%s: %s", code, message);
            snprintf(c->err_code, sizeof c->err_code, "%s", code);
        } else if (rc) {
            spectra__fail(c, rc, "bad reply from %s: %s", c->control_ep, message);
            spectra_msg_free(reply);
            return rc;
        }
        if (reply_out)
            *reply_out = reply;
        else
            spectra_msg_free(reply);
        return rc;
    }
}

uint64_t spectra__take_id(spectra_client *c)
{
    return c->next_id++;
}

int spectra__roundtrip(spectra_client *c, const void *req, size_t len, uint64_t id,
                       spectra_msg **reply)
{
    if (reply)
        *reply = NULL;
    clear_error(c);
    return roundtrip(c, req, len, id, reply);
}
