/* The `stats` op: every counter the daemon keeps, as one msgpack map (docs/protocol.md). */
#include <stdio.h>
#include <string.h>

#include "control_ops.h"
#include "metrics.h"
#include "durable.h"

/* Packs {code: count} for the non-zero entries of an errcode-indexed array. */
static void pack_error_counts(msgpack_packer *pk, const uint64_t *errors)
{
    size_t n = 0;
    for (int i = 1; i < SPX_E_COUNT; i++)
        n += errors[i] != 0;
    msgpack_pack_map(pk, n);
    for (int i = 1; i < SPX_E_COUNT; i++)
        if (errors[i])
            spx_pack_key_uint(pk, spx_errcode_name((spx_errcode)i), errors[i]);
}

/* auth: {curve: bool, failures: {ingest, results, control}, keys: {...}} (refused handshakes and
 * allow-list sizes per role). */
static void pack_auth_stats(msgpack_packer *pk, const spx_zap *z)
{
    spx_pack_cstr(pk, "auth");
    msgpack_pack_map(pk, 3);
    spx_pack_key_bool(pk, "curve", z->enabled);
    spx_pack_cstr(pk, "failures");
    msgpack_pack_map(pk, SPX_ROLE_COUNT);
    for (int r = 0; r < SPX_ROLE_COUNT; r++)
        spx_pack_key_uint(pk, spx_role_name((spx_role)r), z->failures[r]);
    spx_pack_cstr(pk, "keys");
    msgpack_pack_map(pk, SPX_ROLE_COUNT);
    for (int r = 0; r < SPX_ROLE_COUNT; r++)
        spx_pack_key_uint(pk, spx_role_name((spx_role)r), z->allow[r].n);
}

/* {"le": [upper bounds, s], "counts": [per bucket, not cumulative; one more: above the last bound]} */
static void pack_latency(msgpack_packer *pk, const spx_latency_hist *h)
{
    msgpack_pack_map(pk, 2);
    spx_pack_cstr(pk, "le");
    msgpack_pack_array(pk, SPX_LATENCY_BOUNDS);
    for (size_t i = 0; i < SPX_LATENCY_BOUNDS; i++)
        msgpack_pack_double(pk, spx_latency_bound(i));
    spx_pack_cstr(pk, "counts");
    msgpack_pack_array(pk, SPX_LATENCY_BOUNDS + 1);
    for (size_t i = 0; i <= SPX_LATENCY_BOUNDS; i++)
        msgpack_pack_uint64(pk, h->counts[i]);
}

static void pack_pipeline_stats(msgpack_packer *pk, const spx_pipeline *p)
{
    msgpack_pack_map(pk, 10);
    spx_pack_key_cstr(pk, "algo", p->ops->algo);
    spx_pack_key_uint(pk, "updates", p->stats.updates);
    spx_pack_key_uint(pk, "errors", p->stats.errors);
    spx_pack_key_uint(pk, "published", p->stats.published);
    spx_pack_key_uint(pk, "count", p->stats.count);
    spx_pack_key_uint(pk, "input_seq", p->stats.input_seq);
    spx_pack_key_uint(pk, "queued", p->q_len);
    spx_pack_key_double(pk, "update_seconds", p->stats.update_seconds);
    spx_pack_key_uint(pk, "published_bytes", p->stats.published_bytes);
    spx_pack_cstr(pk, "latency");
    pack_latency(pk, &p->stats.latency);
}

static void pack_stream_stats(msgpack_packer *pk, spx_stream *s)
{
    const spx_stream_counters *c = &s->c;
    msgpack_pack_map(pk, 15);
    spx_pack_key_cstr(pk, "kind", spx_kind_name(s->kind));
    spx_pack_key_uint(pk, "dim", s->dim);
    spx_pack_key_uint(pk, "messages", c->messages);
    spx_pack_key_uint(pk, "count", c->count);
    spx_pack_key_uint(pk, "bytes", c->bytes);
    spx_pack_key_uint(pk, "events", c->events);
    spx_pack_key_uint(pk, "rejected", c->rejected);
    spx_pack_cstr(pk, "errors");
    pack_error_counts(pk, c->errors);
    spx_pack_key_uint(pk, "seq_gaps", c->seq_gaps);
    spx_pack_key_uint(pk, "seq_repeats", c->seq_repeats);
    spx_pack_key_uint(pk, "duplicates", c->duplicates);
    spx_pack_cstr(pk, "durable");
    msgpack_pack_map(pk, 4);
    spx_durable_pack_stats(s, pk);
    spx_pack_cstr(pk, "last_seq");
    if (s->has_last_seq)
        msgpack_pack_uint64(pk, s->last_seq);
    else
        msgpack_pack_nil(pk);
    spx_pack_cstr(pk, "time");
    msgpack_pack_map(pk, 2);
    spx_pack_key_uint(pk, "gaps", c->time_gaps);
    spx_pack_key_uint(pk, "overlaps", c->time_overlaps);
    spx_pack_cstr(pk, "pipelines");
    msgpack_pack_map(pk, s->n_pipelines);
    for (size_t i = 0; i < s->n_pipelines; i++) {
        spx_pack_cstr(pk, s->pipelines[i]->name);
        pack_pipeline_stats(pk, s->pipelines[i]);
    }
}

spx_errcode spx_op_stats(spx_server *srv, spx_request *req, msgpack_packer *pk, char *err,
                         size_t errlen)
{
    const spx_server_counters *c = &srv->c;
    spx_reply_begin(pk, req, 10);
    spx_pack_key_double(pk, "uptime_s", spx_now() - srv->started);
    spx_pack_cstr(pk, "ingest");
    msgpack_pack_map(pk, 9);
    spx_pack_key_uint(pk, "messages", c->ingest_messages);
    spx_pack_key_uint(pk, "bytes", c->ingest_bytes);
    spx_pack_key_uint(pk, "rows", c->ingest_rows);
    spx_pack_key_uint(pk, "rejected", c->ingest_rejected);
    spx_pack_cstr(pk, "errors");
    pack_error_counts(pk, c->ingest_errors);
    spx_pack_key_bool(pk, "paused", srv->ingest_paused);
    spx_pack_key_uint(pk, "pauses", c->ingest_pauses);
    spx_pack_key_double(pk, "paused_seconds", spx_ingest_paused_seconds(srv));
    spx_pack_key_uint(pk, "duplicates", c->ingest_duplicates);
    spx_pack_cstr(pk, "results");
    msgpack_pack_map(pk, 3);
    spx_pack_key_uint(pk, "messages", c->results_messages);
    spx_pack_key_uint(pk, "bytes", c->results_bytes);
    spx_pack_key_uint(pk, "dropped", c->results_dropped);
    spx_pack_cstr(pk, "control");
    msgpack_pack_map(pk, 2);
    spx_pack_key_uint(pk, "requests", c->control_requests);
    spx_pack_key_uint(pk, "errors", c->control_errors);
    pack_auth_stats(pk, &srv->zap);
    spx_pack_key_uint(pk, "pipeline_errors", c->pipeline_errors);
    spx_pack_key_uint(pk, "queued_bytes", *spx_registry_bytes_held(srv->reg));
    spx_pack_key_uint(pk, "jobs_in_flight", srv->jobs_in_flight);
    uint64_t rss = 0, vm = 0;
    spx_process_memory(&rss, &vm);   /* 0 where /proc is not mounted */
    spx_pack_cstr(pk, "memory");
    msgpack_pack_map(pk, 3);
    spx_pack_key_uint(pk, "rss_bytes", rss);
    spx_pack_key_uint(pk, "vm_bytes", vm);
    spx_pack_key_uint(pk, "queued_bytes", *spx_registry_bytes_held(srv->reg));
    size_t n = spx_registry_count(srv->reg);
    spx_pack_cstr(pk, "streams");
    msgpack_pack_map(pk, n);
    for (size_t i = 0; i < n; i++) {
        spx_stream *s = spx_registry_at(srv->reg, i);
        spx_pack_cstr(pk, s->name);
        pack_stream_stats(pk, s);
    }
    return SPX_OK;
}
