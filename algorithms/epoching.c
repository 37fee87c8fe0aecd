#include "epoching.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct spx_ring {
    size_t channels, capacity;
    uint64_t end;   /* samples pushed so far */
    double *data;   /* capacity x channels, slot = index % capacity */
};

int64_t spx_epoch_samples(double seconds, double fs) { return (int64_t)llround(seconds * fs); }

int spx_ring_create(spx_ring **out, size_t channels, size_t capacity)
{
    if (!out || channels == 0 || capacity == 0 || channels > 1u << 20 ||
        capacity > (SIZE_MAX / sizeof(double)) / channels)
        return -EINVAL;
    *out = NULL;
    spx_ring *r = calloc(1, sizeof *r);
    if (!r)
        return -ENOMEM;
    r->channels = channels;
    r->capacity = capacity;
    r->data = calloc(channels * capacity, sizeof *r->data);
    if (!r->data) {
        free(r);
        return -ENOMEM;
    }
    *out = r;
    return 0;
}

void spx_ring_free(spx_ring *r)
{
    if (!r)
        return;
    free(r->data);
    free(r);
}

void spx_ring_reset(spx_ring *r)
{
    if (r)
        r->end = 0;
}

size_t spx_ring_channels(const spx_ring *r) { return r ? r->channels : 0; }
size_t spx_ring_capacity(const spx_ring *r) { return r ? r->capacity : 0; }
uint64_t spx_ring_end(const spx_ring *r) { return r ? r->end : 0; }

uint64_t spx_ring_begin(const spx_ring *r)
{
    if (!r)
        return 0;
    return r->end > r->capacity ? r->end - r->capacity : 0;
}

int spx_ring_push(spx_ring *r, const double *samples, size_t n)
{
    if (!r || (n > 0 && !samples))
        return -EINVAL;
    const size_t C = r->channels;
    if (n > r->capacity) { /* only the newest capacity samples can survive */
        samples += (n - r->capacity) * C;
        r->end += n - r->capacity;
        n = r->capacity;
    }
    while (n > 0) {
        size_t slot = (size_t)(r->end % r->capacity);
        size_t run = r->capacity - slot;
        if (run > n)
            run = n;
        memcpy(r->data + slot * C, samples, run * C * sizeof *samples);
        samples += run * C;
        r->end += run;
        n -= run;
    }
    return 0;
}

int spx_ring_copy(const spx_ring *r, uint64_t start, size_t len, double *out, size_t ldo)
{
    if (!r || !out || len == 0 || len > r->capacity || ldo < len)
        return -EINVAL;
    if (start + len > r->end)
        return -EAGAIN;
    if (start < spx_ring_begin(r))
        return -ERANGE;
    const size_t C = r->channels;
    size_t slot = (size_t)(start % r->capacity);
    size_t done = 0;
    while (done < len) {
        size_t run = r->capacity - slot;
        if (run > len - done)
            run = len - done;
        for (size_t t = 0; t < run; t++) {
            const double *src = r->data + (slot + t) * C;
            for (size_t c = 0; c < C; c++)
                out[c * ldo + done + t] = src[c];
        }
        done += run;
        slot = 0;
    }
    return 0;
}

int spx_windows_init(spx_windows *w, size_t length, size_t hop, uint64_t first_start)
{
    if (!w || length == 0 || hop == 0)
        return -EINVAL;
    w->length = length;
    w->hop = hop;
    w->next_start = first_start;
    w->skipped = 0;
    return 0;
}

int spx_windows_next(spx_windows *w, const spx_ring *r, double *out, size_t ldo, uint64_t *start)
{
    if (!w || !r || !out || w->length > r->capacity)
        return -EINVAL;
    uint64_t begin = spx_ring_begin(r);
    if (w->next_start < begin) {
        uint64_t lost = (begin - w->next_start + w->hop - 1) / w->hop;
        w->next_start += lost * w->hop;
        w->skipped += lost;
    }
    int rc = spx_ring_copy(r, w->next_start, w->length, out, ldo);
    if (rc == -EAGAIN)
        return 0;
    if (rc)
        return rc;
    if (start)
        *start = w->next_start;
    w->next_start += w->hop;
    return 1;
}

struct spx_cue_epochs {
    size_t cap, head, count;
    int64_t offset;
    size_t length;
    uint64_t *cue;
    int *label;
};

int spx_cue_epochs_create(spx_cue_epochs **out, size_t max_pending, int64_t offset, size_t length)
{
    if (!out || max_pending == 0 || length == 0 || max_pending > 1u << 20)
        return -EINVAL;
    *out = NULL;
    spx_cue_epochs *q = calloc(1, sizeof *q);
    if (!q)
        return -ENOMEM;
    q->cap = max_pending;
    q->offset = offset;
    q->length = length;
    q->cue = malloc(max_pending * sizeof *q->cue);
    q->label = malloc(max_pending * sizeof *q->label);
    if (!q->cue || !q->label) {
        spx_cue_epochs_free(q);
        return -ENOMEM;
    }
    *out = q;
    return 0;
}

void spx_cue_epochs_free(spx_cue_epochs *q)
{
    if (!q)
        return;
    free(q->cue);
    free(q->label);
    free(q);
}

size_t spx_cue_epochs_pending(const spx_cue_epochs *q) { return q ? q->count : 0; }

int spx_cue_epochs_add(spx_cue_epochs *q, uint64_t cue_sample, int label)
{
    if (!q)
        return -EINVAL;
    if (q->offset < 0 && cue_sample < (uint64_t)(-q->offset))
        return -ERANGE;
    if (q->count > 0 && cue_sample < q->cue[(q->head + q->count - 1) % q->cap])
        return -EINVAL;
    if (q->count == q->cap)
        return -ENOSPC;
    size_t slot = (q->head + q->count) % q->cap;
    q->cue[slot] = cue_sample;
    q->label[slot] = label;
    q->count++;
    return 0;
}

int spx_cue_epochs_next(spx_cue_epochs *q, const spx_ring *r, double *out, size_t ldo, int *label,
                        uint64_t *cue_sample)
{
    if (!q || !r || !out)
        return -EINVAL;
    if (q->count == 0)
        return 0;
    uint64_t cue = q->cue[q->head];
    uint64_t start = q->offset < 0 ? cue - (uint64_t)(-q->offset) : cue + (uint64_t)q->offset;
    int rc = spx_ring_copy(r, start, q->length, out, ldo);
    if (rc == -EAGAIN)
        return 0;
    int lab = q->label[q->head];
    q->head = (q->head + 1) % q->cap;
    q->count--;
    if (rc)
        return rc; /* -ERANGE: dropped, or -EINVAL: epoch longer than the ring */
    if (label)
        *label = lab;
    if (cue_sample)
        *cue_sample = cue;
    return 1;
}

/* ---- durable state ----------------------------------------------------------------------------- */

size_t spx_ring_held(const spx_ring *r) { return r ? (size_t)(r->end - spx_ring_begin(r)) : 0; }

void spx_ring_state_get(const spx_ring *r, double *samples)
{
    const size_t C = r->channels;
    for (uint64_t i = spx_ring_begin(r); i < r->end; i++)
        memcpy(samples + (size_t)(i - spx_ring_begin(r)) * C,
               r->data + (size_t)(i % r->capacity) * C, C * sizeof *samples);
}

int spx_ring_state_set(spx_ring *r, uint64_t end, const double *samples, size_t n)
{
    if (!r || (n > 0 && !samples))
        return -EINVAL;
    uint64_t held = end < r->capacity ? end : r->capacity;
    if ((uint64_t)n != held)
        return -EINVAL;
    const size_t C = r->channels;
    for (size_t k = 0; k < n * C; k++)
        if (!isfinite(samples[k]))
            return -EINVAL;
    uint64_t begin = end - held;
    for (uint64_t i = begin; i < end; i++)
        memcpy(r->data + (size_t)(i % r->capacity) * C, samples + (size_t)(i - begin) * C,
               C * sizeof *samples);
    r->end = end;
    return 0;
}

void spx_cue_epochs_state_get(const spx_cue_epochs *q, uint64_t *cue_sample, int *label)
{
    for (size_t i = 0; i < q->count; i++) {
        size_t slot = (q->head + i) % q->cap;
        cue_sample[i] = q->cue[slot];
        label[i] = q->label[slot];
    }
}

int spx_cue_epochs_state_set(spx_cue_epochs *q, const uint64_t *cue_sample, const int *label,
                             size_t n)
{
    if (!q || n > q->cap || (n > 0 && (!cue_sample || !label)))
        return -EINVAL;
    for (size_t i = 0; i < n; i++)
        if ((q->offset < 0 && cue_sample[i] < (uint64_t)(-q->offset)) ||
            (i > 0 && cue_sample[i] < cue_sample[i - 1]))
            return -EINVAL;
    memcpy(q->cue, cue_sample, n * sizeof *cue_sample);
    memcpy(q->label, label, n * sizeof *label);
    q->head = 0;
    q->count = n;
    return 0;
}
