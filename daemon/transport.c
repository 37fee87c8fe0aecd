#include "transport.h"

#include <stdio.h>

#include "server.h"

spx_transport *spx_transport_open(spx_server *srv, void *ingest_sock, void *pub_sock, char *err,
                                  size_t errlen)
{
    switch (srv->cfg.tr.kind) {
    case SPX_TRANSPORT_ZMQ:
        return spx_transport_zmq_new(srv, ingest_sock, pub_sock, err, errlen);
    case SPX_TRANSPORT_NATS:
#ifdef SPX_HAVE_NATS
        return spx_transport_nats_new(srv, err, errlen);
#else
        break;
#endif
    }
    snprintf(err, errlen, "transport: not built into this spectrad");
    return NULL;
}

bool spx_transport_owns(spx_transport *t, const char *stream)
{
    return !t || !t->ops->owns || t->ops->owns(t, stream);
}

void spx_transport_job_done(spx_transport *t, struct spx_job *job)
{
    if (t && t->ops->job_done)
        t->ops->job_done(t, job);
}
