/* The one accept path for ingest messages, whatever carried them (a transport: daemon/transport.h,
 * or a journal replay): decode, validate, accept. A message is accepted whole or not at all; a
 * refused message is counted (globally and per stream when the stream is known) and logged with
 * rate limiting, and the daemon carries on. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "durable.h"
#include "log.h"
#include "server.h"
#include "transport.h"

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

void spx_ingest_refuse(spx_server *srv, spx_errcode code, const char *why)
{
    reject(srv, NULL, NULL, code, why);
}

bool spx_ingest_backlogged(const spx_server *srv)
{
    return *spx_registry_bytes_held(srv->reg) > srv->cfg.max_queued_bytes;
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
