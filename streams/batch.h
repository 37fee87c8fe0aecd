/* An accepted ingest message, shared read-only by every pipeline of its stream.
 *
 * Reference counts are touched on the loop thread only (jobs are handed out and returned there), so
 * they need no atomics; workers only read the data. The payload memory belongs to whoever produced it
 * (the daemon hands over a received ZeroMQ message without copying when it is aligned): `release` is
 * called with `owner` when the last reference goes. */
#ifndef SPX_BATCH_H
#define SPX_BATCH_H

#include <stddef.h>

#include "codec.h"
#include "pipeline_kind.h"

typedef struct spx_batch {
    spx_input in;              /* what pipelines see; in.data points into the payload */
    unsigned refs;
    size_t bytes;              /* payload bytes, for queue accounting */
    void *owner;
    void (*release)(void *owner);
    size_t *bytes_held;        /* the registry's counter of payload bytes held by live batches */
    spx_event *events;         /* owned */
    char block_id[SPX_LABEL_MAX + 1];
} spx_batch;

/* Builds a batch from a validated header and payload. If the payload is not aligned for its dtype,
 * or is i16 (converted to f32 x scale here), it is copied into an owned aligned buffer and `release`
 * is called at once; otherwise the batch keeps `owner` until the last reference goes. Takes the
 * header's events (h->events becomes NULL). in.seq is set when the stream accepts the batch. Returns NULL on allocation failure (owner released). */
spx_batch *spx_batch_new(spx_ingest_header *h, const void *payload, size_t len, double recv_time,
                         void *owner, void (*release)(void *owner),
                         size_t *bytes_held);
void spx_batch_ref(spx_batch *b);
void spx_batch_unref(spx_batch *b);

#endif
