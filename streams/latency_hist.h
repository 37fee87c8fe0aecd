/* A fixed histogram of durations: log-spaced upper bounds 10 us .. 10 s (1-2-5 per decade) plus an
 * overflow bucket. Fixed bounds keep every pipeline's histogram comparable and aggregatable across
 * pipelines and daemons (Prometheus sums buckets with equal `le`), and recording is allocation-free
 * on the worker's hot path. */
#ifndef SPX_LATENCY_HIST_H
#define SPX_LATENCY_HIST_H

#include <stddef.h>
#include <stdint.h>

#define SPX_LATENCY_BOUNDS 19

typedef struct spx_latency_hist {
    /* counts[i] for i < SPX_LATENCY_BOUNDS: durations in (bound(i-1), bound(i)];
     * counts[SPX_LATENCY_BOUNDS]: durations above the largest bound. Not cumulative. */
    uint64_t counts[SPX_LATENCY_BOUNDS + 1];
} spx_latency_hist;

/* Upper bound of bucket i in seconds, i < SPX_LATENCY_BOUNDS (increasing in i). */
double spx_latency_bound(size_t i);
/* Counts one duration (seconds; negative or NaN counts in the first bucket). */
void spx_latency_record(spx_latency_hist *h, double seconds);
/* Number of durations recorded. */
uint64_t spx_latency_total(const spx_latency_hist *h);

#endif
