#include "batch.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void free_owned(void *p) { free(p); }

/* Converts little-endian int16 samples to f32 x scale into an aligned buffer. */
static float *convert_i16(const void *payload, size_t count, double scale)
{
    float *out = malloc(count ? count * sizeof *out : 1);
    if (!out)
        return NULL;
    const unsigned char *p = payload;
    for (size_t i = 0; i < count; i++) {
        int16_t v;
        memcpy(&v, p + 2 * i, sizeof v);
        out[i] = (float)(v * scale);
    }
    return out;
}

spx_batch *spx_batch_new(spx_ingest_header *h, const void *payload, size_t len, double recv_time,
                         void *owner, void (*release)(void *owner),
                         size_t *bytes_held)
{
    spx_batch *b = calloc(1, sizeof *b);
    if (!b) {
        if (release)
            release(owner);
        return NULL;
    }
    size_t count = (size_t)(h->shape[0] * h->shape[1]);
    spx_dtype dtype = h->dtype;
    const void *data = payload;

    if (dtype == SPX_DTYPE_I16) {
        float *conv = convert_i16(payload, count, h->scale);
        if (release)
            release(owner);
        if (!conv) {
            free(b);
            return NULL;
        }
        data = conv;
        owner = conv;
        release = free_owned;
        dtype = SPX_DTYPE_F32;
        len = count * sizeof(float);
    } else if (len && ((uintptr_t)payload % spx_dtype_size(dtype)) != 0) {
        /* ZeroMQ gives no alignment promise; pipelines read doubles directly. */
        void *copy = malloc(len);
        if (!copy) {
            if (release)
                release(owner);
            free(b);
            return NULL;
        }
        memcpy(copy, payload, len);
        if (release)
            release(owner);
        data = copy;
        owner = copy;
        release = free_owned;
    }

    b->refs = 1;
    b->bytes = len;
    b->owner = owner;
    b->release = release;
    b->bytes_held = bytes_held;
    if (bytes_held)
        *bytes_held += len;
    b->events = h->events;
    h->events = NULL;
    snprintf(b->block_id, sizeof b->block_id, "%s", h->has_id ? h->block_id : "");

    b->in = (spx_input){
        .kind = h->kind,
        .dtype = dtype,
        .n = (uint32_t)h->shape[0],
        .d = (uint32_t)h->shape[1],
        .data = data,
        .t = h->has_t ? h->t : recv_time,
        .t0 = h->t0,
        .rate = h->rate,
        .events = b->events,
        .n_events = h->n_events,
        .block_id = b->block_id,
        .end = h->end,
    };
    return b;
}

void spx_batch_ref(spx_batch *b) { b->refs++; }

void spx_batch_unref(spx_batch *b)
{
    if (!b || --b->refs > 0)
        return;
    if (b->bytes_held)
        *b->bytes_held -= b->bytes;
    if (b->release)
        b->release(b->owner);
    free(b->events);
    free(b);
}
