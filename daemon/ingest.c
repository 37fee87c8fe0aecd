/* The ingest socket: receive, decode, validate, accept. A message is accepted whole or not at all;
 * a refused message is counted (globally and per stream when the stream is known) and logged with
 * rate limiting, and the daemon carries on. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "durable.h"
#include "log.h"
#include "server.h"

#define INGEST_MAX_FRAMES 2

static void reject(spx_server *srv, spx_stream *s, const char *stream_name, spx_errcode code,
                   const char *why)
{
    srv->c.ingest_rejected++;
    srv->c.ingest_errors[code]++;
    if (s)
        spx_stream_reject(s, code);
    spx_log_limited(SPX_LOG_WARN, spx_errcode_name(code), "ingest: stream=%s: rejected (%s): %s",
                    stream_name && *stream_name ? stream_name : "?", spx_errcode_name(code), why);
}

static void release_zmq_msg(void *owner)
{
    zmq_msg_close(owner);
    free(owner);
}

/* Receives the rest of a multipart message we will not use, so the next recv starts a new one. */
static void discard_rest(void *sock)
{
    int more = 1;
    size_t len = sizeof more;
    while (more) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, sock, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&m);
            return;
        }
        zmq_getsockopt(sock, ZMQ_RCVMORE, &more, &len);
        zmq_msg_close(&m);
    }
}

static spx_stream *stream_for(spx_server *srv, const spx_ingest_header *h, bool replay,
                              spx_errcode *code, char *why, size_t whylen)
{
    spx_stream *s = spx_registry_find(srv->reg, h->stream);
    if (s) {
        *code = spx_stream_check(s, h, why, whylen);
        return *code == SPX_OK ? s : NULL;
    }
    if (!srv->cfg.auto_create && !replay) {
        *code = SPX_E_UNKNOWN_STREAM;
        snprintf(why, whylen, "no stream %s (auto_create is off)", h->stream);
        return NULL;
    }
    *code = spx_registry_create(srv->reg, h->stream, h->kind, (uint32_t)spx_ingest_header_dim(h),
                                h->rate, NULL, 0, &s, why, whylen);
    if (*code != SPX_OK)
        return NULL;
    s->durability = srv->cfg.durability;
    spx_info("stream=%s: created by a %s (%s, dim %u)", s->name, replay ? "journal replay" : "push",
             spx_kind_name(s->kind), s->dim);
    if (!replay)
        spx_durable_stream_created(srv, s);
    return s;
}

spx_errcode spx_ingest_frames(spx_server *srv, const void *head, size_t head_len,
                              const void *data, size_t data_len, void *owner,
                              void (*release)(void *owner), double recv_time, bool replay,
                              char *why, size_t whylen)
{
    spx_ingest_header h;
    spx_errcode code = spx_decode_ingest_header(head, head_len, &h, why, whylen);
    if (code != SPX_OK) {
        if (release)
            release(owner);
        reject(srv, NULL, NULL, code, why);
        return code;
    }
    spx_stream *s = NULL;
    if ((code = spx_validate_payload(&h, data, data_len, why, whylen)) != SPX_OK ||
        !(s = stream_for(srv, &h, replay, &code, why, whylen))) {
        reject(srv, spx_registry_find(srv->reg, h.stream), h.stream, code, why);
        if (release)
            release(owner);
        spx_ingest_header_clear(&h);
        return code;
    }
    if (spx_stream_is_duplicate(s, &h)) {
        /* A producer resending what was already accepted (dedupe streams): not an error. */
        srv->c.ingest_duplicates++;
        spx_debug("ingest: stream=%s: seq %llu already accepted; dropped as a duplicate", s->name,
                  (unsigned long long)h.seq);
        if (release)
            release(owner);
        spx_ingest_header_clear(&h);
        return SPX_OK;
    }
    /* Journaled before it is accepted, so nothing is applied that a restart could not replay. */
    if (!replay && spx_durable_journal(srv, s, head, head_len, data, data_len, recv_time, why,
                                       whylen) != 0) {
        reject(srv, s, h.stream, SPX_E_INTERNAL, why);
        if (release)
            release(owner);
        spx_ingest_header_clear(&h);
        return SPX_E_INTERNAL;
    }
    spx_batch *b = spx_batch_new(&h, data, data_len, recv_time, owner, release,
                                 spx_registry_bytes_held(srv->reg));
    if (!b || spx_stream_accept(s, &h, b) != 0) {
        if (!replay)
            spx_durable_unjournal(s);
        if (!b)
            spx_stream_reject(s, SPX_E_INTERNAL);
        snprintf(why, whylen, "out of memory accepting the message");
        reject(srv, NULL, h.stream, SPX_E_INTERNAL, why);
        spx_ingest_header_clear(&h);
        return SPX_E_INTERNAL;
    }
    srv->c.ingest_messages++;
    srv->c.ingest_bytes += data_len;
    srv->c.ingest_rows += h.shape[0];
    spx_ingest_header_clear(&h);
    if (replay || !spx_durable_defer(srv, s))
        spx_server_schedule_stream(srv, s);
    return SPX_OK;
}

/* Handles one message whose first frame is in `head`. */
static void handle_message(spx_server *srv, zmq_msg_t *head)
{
    void *sock = srv->ingest.sock;
    int more = 0;
    size_t len = sizeof more;
    char why[512];
    zmq_getsockopt(sock, ZMQ_RCVMORE, &more, &len);

    zmq_msg_t *payload = NULL;
    if (more) {
        payload = malloc(sizeof *payload);
        if (!payload) {
            discard_rest(sock);
            reject(srv, NULL, NULL, SPX_E_INTERNAL, "out of memory");
            return;
        }
        zmq_msg_init(payload);
        if (zmq_msg_recv(payload, sock, ZMQ_DONTWAIT) < 0) {
            release_zmq_msg(payload);
            reject(srv, NULL, NULL, SPX_E_BAD_FRAME, "payload frame missing");
            return;
        }
        zmq_getsockopt(sock, ZMQ_RCVMORE, &more, &len);
        if (more) {
            discard_rest(sock);
            release_zmq_msg(payload);
            reject(srv, NULL, NULL, SPX_E_BAD_FRAME, "more than 2 frames");
            return;
        }
        if (zmq_msg_size(payload) > srv->cfg.max_message_bytes) {
            snprintf(why, sizeof why, "payload of %zu bytes exceeds max_message_bytes %zu",
                     zmq_msg_size(payload), srv->cfg.max_message_bytes);
            release_zmq_msg(payload);
            reject(srv, NULL, NULL, SPX_E_TOO_LARGE, why);
            return;
        }
    }
    spx_ingest_frames(srv, zmq_msg_data(head), zmq_msg_size(head),
                      payload ? zmq_msg_data(payload) : NULL, payload ? zmq_msg_size(payload) : 0,
                      payload, payload ? release_zmq_msg : NULL, spx_now(), false, why,
                      sizeof why);
}

unsigned spx_ingest_on_read(spx_zsock *zs, unsigned budget)
{
    spx_server *srv = zs->data;
    unsigned handled = 0;
    while (handled < budget) {
        if (*spx_registry_bytes_held(srv->reg) > srv->cfg.max_queued_bytes) {
            /* Pipelines are behind: leave messages in ZeroMQ so its high-water mark pushes back on
             * producers, instead of growing without bound. Resumed from job completion. */
            spx_zsock_pause(zs);
            srv->ingest_paused = true;
            srv->c.ingest_pauses++;
            spx_debug("ingest paused: %zu bytes queued", *spx_registry_bytes_held(srv->reg));
            break;
        }
        zmq_msg_t head;
        zmq_msg_init(&head);
        if (zmq_msg_recv(&head, zs->sock, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&head);
            if (zmq_errno() != EAGAIN)
                spx_log_limited(SPX_LOG_WARN, "ingest-recv", "ingest: recv: %s",
                                zmq_strerror(zmq_errno()));
            break;
        }
        handle_message(srv, &head);
        zmq_msg_close(&head);
        handled++;
    }
    spx_durable_flush(srv);
    return handled;
}
