/* Epoching of a multichannel sample stream: a ring buffer of recent samples, cue-relative epochs
 * [cue + offset, cue + offset + length) and sliding windows (length, hop).
 *
 * Samples are addressed by their absolute index in the stream (0 = first sample ever pushed), so
 * cues (markers) and windows are expressed in samples whatever the chunking. Input is time-major
 * (n x C, as on the wire); epochs and windows are copied out channel-major (C x length, leading
 * dimension ldo >= length), the layout the covariance module reads.
 *
 * Everything is allocated at create time; push / copy / next never allocate. Seconds-to-samples
 * conversion is the caller's (spx_epoch_samples helps: round(t * fs)). */
#ifndef SPX_EPOCHING_H
#define SPX_EPOCHING_H

#include <stddef.h>
#include <stdint.h>

/* round(seconds * fs) as a signed sample count. */
int64_t spx_epoch_samples(double seconds, double fs);

/* --- ring buffer ------------------------------------------------------------------------ */
typedef struct spx_ring spx_ring;

int spx_ring_create(spx_ring **out, size_t channels, size_t capacity);
void spx_ring_free(spx_ring *r);
void spx_ring_reset(spx_ring *r);
size_t spx_ring_channels(const spx_ring *r);
size_t spx_ring_capacity(const spx_ring *r);
/* Appends n time-major samples. Older samples beyond the capacity are overwritten. */
int spx_ring_push(spx_ring *r, const double *samples, size_t n);
/* Index one past the newest sample (= samples pushed so far). */
uint64_t spx_ring_end(const spx_ring *r);
/* Index of the oldest sample still held. */
uint64_t spx_ring_begin(const spx_ring *r);
/* Copies samples [start, start + len) channel-major into out (C x len, leading dimension ldo).
 * Returns 0, -EAGAIN (not all arrived yet), -ERANGE (partly overwritten) or -EINVAL. */
int spx_ring_copy(const spx_ring *r, uint64_t start, size_t len, double *out, size_t ldo);
/* Durable state: the samples held, [begin, end), time-major (held x C), oldest first. state_set
 * installs them for a ring that has pushed `end` samples: n must be min(end, capacity) and every
 * value finite, else -EINVAL (ring unchanged). */
size_t spx_ring_held(const spx_ring *r);
void spx_ring_state_get(const spx_ring *r, double *samples);
int spx_ring_state_set(spx_ring *r, uint64_t end, const double *samples, size_t n);

/* --- sliding windows -------------------------------------------------------------------- */
typedef struct spx_windows {
    size_t length, hop;
    uint64_t next_start;    /* start index of the next window to deliver */
    uint64_t skipped;       /* windows lost because the consumer fell behind the ring */
} spx_windows;

/* Windows start at first_start, first_start + hop, ... Returns 0 or -EINVAL. */
int spx_windows_init(spx_windows *w, size_t length, size_t hop, uint64_t first_start);
/* Returns 1 and copies the next window (and its start index, may be NULL) once it is complete,
 * 0 while it is not. Windows already overwritten are skipped (counted in w->skipped). */
int spx_windows_next(spx_windows *w, const spx_ring *r, double *out, size_t ldo, uint64_t *start);

/* --- cue-relative epochs ---------------------------------------------------------------- */
typedef struct spx_cue_epochs spx_cue_epochs;

/* Epoch of a cue at sample s: [s + offset, s + offset + length). offset may be negative (a
 * pre-cue baseline). At most max_pending cues wait for their data at once. */
int spx_cue_epochs_create(spx_cue_epochs **out, size_t max_pending, int64_t offset, size_t length);
void spx_cue_epochs_free(spx_cue_epochs *q);
size_t spx_cue_epochs_pending(const spx_cue_epochs *q);
/* Cues must arrive in non-decreasing sample order. Returns 0, -ENOSPC (queue full), -ERANGE (the
 * epoch would start before sample 0) or -EINVAL (out of order). */
int spx_cue_epochs_add(spx_cue_epochs *q, uint64_t cue_sample, int label);
/* Returns 1 and copies the oldest pending cue's epoch once complete (label / cue may be NULL),
 * 0 while it is not complete, -ERANGE if its data was already overwritten (the cue is dropped). */
int spx_cue_epochs_next(spx_cue_epochs *q, const spx_ring *r, double *out, size_t ldo, int *label,
                        uint64_t *cue_sample);
/* Durable state: the pending cues oldest first (pending() of them). state_set replaces the queue
 * with n cues: -EINVAL (queue unchanged) when n exceeds max_pending, the samples decrease, or an
 * epoch would start before sample 0. */
void spx_cue_epochs_state_get(const spx_cue_epochs *q, uint64_t *cue_sample, int *label);
int spx_cue_epochs_state_set(spx_cue_epochs *q, const uint64_t *cue_sample, const int *label,
                             size_t n);

#endif
