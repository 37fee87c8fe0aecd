/* Streams and the registry that names them.
 *
 * A stream has a name, a kind (rows / series / blocks), a dimension, counters and sequence numbers,
 * and the pipelines attached to it. spx_stream_accept() is the single door through which validated
 * input enters: it numbers the message, checks producer sequence numbers and series timing, and hands
 * the batch to every pipeline. Loop thread only. */
#ifndef SPX_STREAM_H
#define SPX_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "batch.h"
#include "codec.h"
#include "pipeline.h"

#define SPX_STREAM_PIPELINES_MAX 64

typedef struct spx_stream_counters {
    uint64_t messages;         /* accepted */
    uint64_t count;            /* rows / samples / blocks accepted */
    uint64_t bytes;            /* payload bytes accepted */
    uint64_t events;           /* series markers accepted */
    uint64_t rejected;         /* messages refused (by code in errors[]) */
    uint64_t errors[SPX_E_COUNT];
    uint64_t seq_gaps;         /* producer seq jumped forward */
    uint64_t seq_repeats;      /* producer seq did not advance (duplicate or restart) */
    uint64_t time_gaps;        /* series: a chunk started later than the previous one ended */
    uint64_t time_overlaps;    /* series: a chunk started before the previous one ended */
    uint64_t duplicates;       /* dedupe streams: messages dropped because seq <= last_seq */
} spx_stream_counters;

/* What survives a restart (docs/reliability.md states each guarantee precisely). */
typedef enum spx_durability {
    SPX_DURABILITY_NONE = 0,   /* nothing: a restart starts empty */
    SPX_DURABILITY_SNAPSHOT,   /* the state as of the last snapshot (interval, `save`, shutdown) */
    SPX_DURABILITY_JOURNAL     /* + every accepted message, journaled before it is applied */
} spx_durability;

const char *spx_durability_name(spx_durability d);
int spx_durability_parse(const char *s, spx_durability *out);

typedef struct spx_stream {
    char name[SPX_NAME_MAX + 1];
    spx_kind kind;
    uint32_t dim;
    double rate;
    char **channel_names;      /* series, optional: dim names */
    char **channel_units;      /* series, optional: dim physical units ("uV", "degC") */
    spx_stream_counters c;
    bool has_last_seq;
    uint64_t last_seq;         /* newest producer seq */
    bool has_next_t0;
    double next_t0;            /* series: when the next chunk should start */
    spx_pipeline *pipelines[SPX_STREAM_PIPELINES_MAX];
    size_t n_pipelines;
    spx_durability durability;
    bool dedupe;               /* drop messages whose producer seq <= last_seq (exactly-once resume) */
    void *durable;             /* the daemon's per-stream journal/snapshot bookkeeping, or NULL */
} spx_stream;

typedef struct spx_registry spx_registry;

spx_registry *spx_registry_new(void);
/* Frees every stream and pipeline; no job may be in flight. */
void spx_registry_free(spx_registry *r);

spx_stream *spx_registry_find(spx_registry *r, const char *name);
spx_errcode spx_registry_create(spx_registry *r, const char *name, spx_kind kind, uint32_t dim,
                                double rate, const char *const *channel_names,
                                size_t n_channel_names, spx_stream **out, char *err,
                                size_t errlen);
/* Removes a stream. Its idle pipelines are freed; busy ones are marked detached and returned through
 * `orphans` (the caller frees each when its job returns). Returns the number of orphans. */
size_t spx_registry_drop(spx_registry *r, spx_stream *s, spx_pipeline **orphans,
                         size_t max_orphans);
/* Called for every stream with a non-NULL `durable` just before it is freed (drop or registry free). */
void spx_registry_on_stream_free(spx_registry *r, void (*hook)(spx_stream *s));
size_t spx_registry_count(const spx_registry *r);
/* Iteration in creation order: i from 0 to count-1. */
spx_stream *spx_registry_at(spx_registry *r, size_t i);
/* Payload bytes held by live batches of this registry. */
size_t *spx_registry_bytes_held(spx_registry *r);

spx_pipeline *spx_stream_find_pipeline(spx_stream *s, const char *name);
spx_errcode spx_stream_attach(spx_stream *s, spx_pipeline *p, char *err, size_t errlen);
/* Removes a pipeline from the stream; frees it when idle, else marks it detached and returns it (the
 * caller frees it when its job returns). */
spx_pipeline *spx_stream_detach(spx_stream *s, spx_pipeline *p);
void spx_stream_get_info(const spx_stream *s, spx_stream_info *info);

/* Checks a decoded header against this stream (kind, dimension) without changing anything. */
/* Declares the physical unit of each channel of a series stream (n == dim). Returns SPX_OK, or
 * SPX_E_BAD_REQUEST with err filled (the stream is unchanged). */
spx_errcode spx_stream_set_units(spx_stream *s, const char *const *units, size_t n, char *err,
                                 size_t errlen);
spx_errcode spx_stream_check(const spx_stream *s, const spx_ingest_header *h, char *err,
                             size_t errlen);
/* Accepts a validated message: numbers it, updates counters and sequence/timing checks, queues it on
 * every pipeline. Takes ownership of the batch reference. Returns 0 or -ENOMEM (counted, nothing
 * queued anywhere: a message is applied to all pipelines or none). */
int spx_stream_accept(spx_stream *s, const spx_ingest_header *h, spx_batch *b);
/* True when a dedupe stream has already accepted this producer seq (the message is then counted as a
 * duplicate and dropped by the caller). */
bool spx_stream_is_duplicate(spx_stream *s, const spx_ingest_header *h);
/* Counts a refused message against the stream. */
void spx_stream_reject(spx_stream *s, spx_errcode code);

#endif
