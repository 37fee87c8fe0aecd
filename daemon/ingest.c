/* The one accept path for ingest messages, whatever transport carried them: decode, validate,
 * accept. A message is accepted whole or not at all; a refused message is counted (globally and per
 * stream when the stream is known) and logged with rate limiting, and the daemon carries on. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static spx_stream *stream_for(spx_server *srv, const spx_ingest_header *h, spx_errcode *code,
                              char *why, size_t whylen)
{
    spx_stream *s = spx_registry_find(srv->reg, h->stream);
    if (s) {
        *code = spx_stream_check(s, h, why, whylen);
        return *code == SPX_OK ? s : NULL;
    }
    if (!srv->cfg.auto_create) {
        *code = SPX_E_UNKNOWN_STREAM;
        snprintf(why, whylen, "no stream %s (auto_create is off)", h->stream);
        return NULL;
    }
    *code = spx_registry_create(srv->reg, h->stream, h->kind, (uint32_t)spx_ingest_header_dim(h),
                                h->rate, NULL, 0, &s, why, whylen);
    if (*code != SPX_OK)
        return NULL;
    spx_info("stream=%s: created by a push (%s, dim %u)", s->name, spx_kind_name(s->kind), s->dim);
    return s;
}

spx_errcode spx_ingest_deliver(spx_server *srv, const void *head, size_t head_len,
                               const void *payload, size_t payload_len, void *owner,
                               void (*release)(void *owner), spx_stream **accepted)
{
    char why[512];
    if (payload && payload_len > srv->cfg.max_message_bytes) {
        snprintf(why, sizeof why, "payload of %zu bytes exceeds max_message_bytes %zu", payload_len,
                 srv->cfg.max_message_bytes);
        if (release)
            release(owner);
        reject(srv, NULL, NULL, SPX_E_TOO_LARGE, why);
        return SPX_E_TOO_LARGE;
    }
    spx_ingest_header h;
    spx_errcode code = spx_decode_ingest_header(head, head_len, &h, why, sizeof why);
    if (code != SPX_OK) {
        if (release)
            release(owner);
        reject(srv, NULL, NULL, code, why);
        return code;
    }
    spx_stream *s = NULL;
    if ((code = spx_validate_payload(&h, payload, payload_len, why, sizeof why)) != SPX_OK ||
        !(s = stream_for(srv, &h, &code, why, sizeof why))) {
        reject(srv, spx_registry_find(srv->reg, h.stream), h.stream, code, why);
        if (release)
            release(owner);
        spx_ingest_header_clear(&h);
        return code;
    }
    double now = spx_now();
    spx_batch *b = spx_batch_new(&h, payload, payload_len, now, owner, release,
                                 spx_registry_bytes_held(srv->reg));
    if (!b || spx_stream_accept(s, &h, b) != 0) {
        if (!b)
            spx_stream_reject(s, SPX_E_INTERNAL);
        reject(srv, NULL, h.stream, SPX_E_INTERNAL, "out of memory accepting the message");
        spx_ingest_header_clear(&h);
        return SPX_E_INTERNAL;
    }
    srv->c.ingest_messages++;
    srv->c.ingest_bytes += payload_len;
    srv->c.ingest_rows += h.shape[0];
    spx_ingest_header_clear(&h);
    spx_server_schedule_stream(srv, s);
    if (accepted)
        *accepted = s;
    return SPX_OK;
}
