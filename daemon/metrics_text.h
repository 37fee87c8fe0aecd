/* Writing the Prometheus text exposition format 0.0.4: a growable buffer, metric families with their
 * HELP and TYPE lines, samples with escaped labels, and histograms as _bucket{le=...}/_sum/_count.
 * Pure formatting: no daemon state, so it is unit-tested on its own (tests/unit/daemon). */
#ifndef SPX_METRICS_TEXT_H
#define SPX_METRICS_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "latency_hist.h"

typedef struct spx_metrics_buf {
    char *data;                /* NUL-terminated when len > 0 */
    size_t len, cap;
    bool failed;               /* an allocation failed: the text is incomplete, do not serve it */
} spx_metrics_buf;

typedef struct spx_metric_label {
    const char *name;          /* a valid label name ([a-zA-Z_][a-zA-Z0-9_]*), written as is */
    const char *value;         /* any UTF-8, escaped */
} spx_metric_label;

void spx_metrics_buf_free(spx_metrics_buf *b);
/* Appends formatted text (sets b->failed on allocation failure). */
void spx_metrics_printf(spx_metrics_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* "# HELP name help" and "# TYPE name type" (type: counter, gauge, histogram). Every sample of the
 * family must follow before the next family starts. */
void spx_metrics_family(spx_metrics_buf *b, const char *name, const char *type, const char *help);
/* One sample line: name{labels} value. */
void spx_metrics_sample_u64(spx_metrics_buf *b, const char *name, const spx_metric_label *labels,
                            size_t n_labels, uint64_t value);
void spx_metrics_sample_double(spx_metrics_buf *b, const char *name, const spx_metric_label *labels,
                               size_t n_labels, double value);
/* name_bucket{labels,le="..."} cumulative counts (le="+Inf" equals the total), name_sum, name_count.
 * At most 7 labels besides le. */
void spx_metrics_histogram(spx_metrics_buf *b, const char *name, const spx_metric_label *labels,
                           size_t n_labels, const spx_latency_hist *h, double sum);

/* Escapes a label value (\ " and newline) into out (always NUL-terminated; truncated if small).
 * Returns the length the escaped text needs, without the NUL. */
size_t spx_metrics_escape_label(char *out, size_t cap, const char *value);

#endif
