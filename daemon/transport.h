/* How ingest messages reach the daemon and results leave it, behind one small interface.
 *
 * A transport is an input source and a result sink. ZeroMQ (PULL + PUB, transport_zmq.c) is the
 * default; NATS JetStream (transport_nats.c, when built with SPX_HAVE_NATS) is the second. Every
 * transport hands each ingest message (a msgpack header and an optional raw payload) to
 * spx_ingest_frames(), the one decode/validate/accept path, on the loop thread; it never decodes or
 * accepts by itself. A Kafka backend would be a third file implementing these ops. */
#ifndef SPX_TRANSPORT_H
#define SPX_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>

#include "codec.h"

struct spx_server;
struct spx_stream;
struct spx_job;
typedef struct spx_transport spx_transport;

typedef struct spx_transport_ops {
    const char *name;
    /* Stops reading input (what is not read stays with the transport, so producers feel the
     * pressure) / resumes. Idempotent. */
    void (*pause)(spx_transport *t);
    void (*resume)(spx_transport *t);
    /* Sends one result body on `topic` ("<stream>.<pipeline>"). Never blocks: a result that cannot
     * be sent now is dropped (returns a negative value; the caller counts it). */
    int (*publish)(spx_transport *t, const char *topic, const void *body, size_t len);
    /* Clean shutdown: the daemon has applied everything accepted and published its final results.
     * Drops input not yet accepted, closes the loop handles, then calls on_closed(t). */
    void (*close)(spx_transport *t, void (*on_closed)(spx_transport *t));
    /* After the loop has ended: flushes results still in flight (bounded) and frees t. */
    void (*destroy)(spx_transport *t);
    /* Optional: whether this daemon serves `stream` now (partitioned transports); NULL = all. */
    bool (*owns)(spx_transport *t, const char *stream);
    /* Optional: a pipeline job came back (it may carry a snapshot part the transport asked for). */
    void (*job_done)(spx_transport *t, struct spx_job *job);
} spx_transport_ops;

struct spx_transport {
    const spx_transport_ops *ops;
    struct spx_server *srv;
};

/* The shared accept path is spx_ingest_frames() (server.h, daemon/ingest.c). */
/* Counts and logs a message refused before it could be decoded (frame errors found by a
 * transport). */
void spx_ingest_refuse(struct spx_server *srv, spx_errcode code, const char *why);
/* True when the pipelines' backlog is above max_queued_bytes: transports stop reading. */
bool spx_ingest_backlogged(const struct spx_server *srv);

/* Opens the transport srv->cfg.tr selects. ZeroMQ takes ownership of the bound PULL and PUB
 * sockets; other transports get NULLs. NULL with err filled on failure. */
spx_transport *spx_transport_open(struct spx_server *srv, void *ingest_sock, void *pub_sock,
                                  char *err, size_t errlen);
/* Whether streams named `stream` are served here (see ops.owns). */
bool spx_transport_owns(spx_transport *t, const char *stream);
/* Forwards a finished job to ops.job_done when the transport has one. */
void spx_transport_job_done(spx_transport *t, struct spx_job *job);

/* ZeroMQ: takes ownership of the bound PULL and PUB sockets. NULL on failure (sockets closed). */
spx_transport *spx_transport_zmq_new(struct spx_server *srv, void *ingest_sock, void *pub_sock,
                                     char *err, size_t errlen);

#ifdef SPX_HAVE_NATS
/* NATS JetStream (transport_nats.c). */
spx_transport *spx_transport_nats_new(struct spx_server *srv, char *err, size_t errlen);
#endif

#endif
