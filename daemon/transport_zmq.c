/* The ZeroMQ transport: a PULL socket for ingest (1 or 2 frames per message) and a PUB socket for
 * results (topic frame, body frame). Both are bound by the daemon (server.c opens them). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "durable.h"
#include "log.h"
#include "server.h"
#include "transport.h"
#include "zsock.h"

typedef struct zmq_transport {
    spx_transport base;
    spx_zsock ingest;
    void *pub;                 /* PUB: only written, never watched */
    void (*on_closed)(spx_transport *t);
} zmq_transport;

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

/* Handles one message whose first frame is in `head`. */
static void handle_message(spx_server *srv, void *sock, zmq_msg_t *head)
{
    int more = 0;
    size_t len = sizeof more;
    zmq_getsockopt(sock, ZMQ_RCVMORE, &more, &len);

    zmq_msg_t *payload = NULL;
    if (more) {
        payload = malloc(sizeof *payload);
        if (!payload) {
            discard_rest(sock);
            spx_ingest_refuse(srv, SPX_E_INTERNAL, "out of memory");
            return;
        }
        zmq_msg_init(payload);
        if (zmq_msg_recv(payload, sock, ZMQ_DONTWAIT) < 0) {
            release_zmq_msg(payload);
            spx_ingest_refuse(srv, SPX_E_BAD_FRAME, "payload frame missing");
            return;
        }
        zmq_getsockopt(sock, ZMQ_RCVMORE, &more, &len);
        if (more) {
            discard_rest(sock);
            release_zmq_msg(payload);
            spx_ingest_refuse(srv, SPX_E_BAD_FRAME, "more than 2 frames");
            return;
        }
        if (zmq_msg_size(payload) > srv->cfg.max_message_bytes) {
            char why[160];
            snprintf(why, sizeof why, "payload of %zu bytes exceeds max_message_bytes %zu",
                     zmq_msg_size(payload), srv->cfg.max_message_bytes);
            release_zmq_msg(payload);
            spx_ingest_refuse(srv, SPX_E_TOO_LARGE, why);
            return;
        }
    }
    char why[512];
    spx_ingest_frames(srv, zmq_msg_data(head), zmq_msg_size(head),
                      payload ? zmq_msg_data(payload) : NULL, payload ? zmq_msg_size(payload) : 0,
                      payload, payload ? release_zmq_msg : NULL, spx_now(), false, why,
                      sizeof why);
}

static unsigned on_read(spx_zsock *zs, unsigned budget)
{
    zmq_transport *zt = zs->data;
    spx_server *srv = zt->base.srv;
    unsigned handled = 0;
    while (handled < budget) {
        if (spx_ingest_backlogged(srv)) {
            /* Pipelines are behind: leave messages in ZeroMQ so its high-water mark pushes back on
             * producers, instead of growing without bound. Resumed from job completion. */
            spx_zsock_pause(zs);
            srv->ingest_paused = true;
            srv->ingest_paused_at_ns = uv_hrtime();
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
        handle_message(srv, zs->sock, &head);
        zmq_msg_close(&head);
        handled++;
    }
    spx_durable_flush(srv);
    return handled;
}

static void zt_pause(spx_transport *t) { spx_zsock_pause(&((zmq_transport *)t)->ingest); }
static void zt_resume(spx_transport *t) { spx_zsock_resume(&((zmq_transport *)t)->ingest); }

static int zt_publish(spx_transport *t, const char *topic, const void *body, size_t len)
{
    zmq_transport *zt = (zmq_transport *)t;
    /* PUB never blocks: a subscriber past its high-water mark loses this result and sees a gap in
     * `seq`. */
    if (zmq_send(zt->pub, topic, strlen(topic), ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
        zmq_send(zt->pub, body, len, ZMQ_DONTWAIT) < 0)
        return -1;
    return 0;
}

static void on_ingest_closed(spx_zsock *zs)
{
    zmq_transport *zt = zs->data;
    zt->on_closed(&zt->base);
}

static void zt_close(spx_transport *t, void (*on_closed)(spx_transport *t))
{
    zmq_transport *zt = (zmq_transport *)t;
    zt->on_closed = on_closed;
    /* Messages still queued in ZeroMQ were never accepted: drop them rather than wait. */
    spx_zsock_close(&zt->ingest, true, on_ingest_closed);
}

static void zt_destroy(spx_transport *t)
{
    zmq_transport *zt = (zmq_transport *)t;
    if (zt->pub)
        zmq_close(zt->pub);   /* lingers up to 1 s to deliver the final results */
    free(zt);
}

static const spx_transport_ops zmq_ops = {
    .name = "zmq",
    .pause = zt_pause,
    .resume = zt_resume,
    .publish = zt_publish,
    .close = zt_close,
    .destroy = zt_destroy,
};

spx_transport *spx_transport_zmq_new(spx_server *srv, void *ingest_sock, void *pub_sock, char *err,
                                     size_t errlen)
{
    zmq_transport *zt = calloc(1, sizeof *zt);
    if (!zt) {
        snprintf(err, errlen, "out of memory");
        zmq_close(ingest_sock);
        zmq_close(pub_sock);
        return NULL;
    }
    zt->base.ops = &zmq_ops;
    zt->base.srv = srv;
    zt->pub = pub_sock;
    int rc = spx_zsock_start(srv->loop, &zt->ingest, ingest_sock, on_read, srv->cfg.ingest_budget,
                             zt);
    if (rc != 0) {
        snprintf(err, errlen, "watching the ingest socket: %s", uv_strerror(rc));
        zmq_close(ingest_sock);
        zmq_close(pub_sock);
        free(zt);
        return NULL;
    }
    return &zt->base;
}
