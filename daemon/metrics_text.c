#include "metrics_text.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void spx_metrics_buf_free(spx_metrics_buf *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

static bool reserve(spx_metrics_buf *b, size_t more)
{
    if (b->failed)
        return false;
    if (b->len + more + 1 <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + more + 1)
        cap *= 2;
    char *d = realloc(b->data, cap);
    if (!d) {
        b->failed = true;
        return false;
    }
    b->data = d;
    b->cap = cap;
    return true;
}

static void append(spx_metrics_buf *b, const char *s, size_t n)
{
    if (!reserve(b, n))
        return;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void spx_metrics_printf(spx_metrics_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char small[256];
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = true;
        return;
    }
    if ((size_t)n < sizeof small) {
        append(b, small, (size_t)n);
        return;
    }
    if (!reserve(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

size_t spx_metrics_escape_label(char *out, size_t cap, const char *value)
{
    size_t need = 0;
    for (const char *p = value; *p; p++) {
        char esc[3] = {*p, 0, 0};
        size_t k = 1;
        if (*p == '\\' || *p == '"') {
            esc[0] = '\\';
            esc[1] = *p;
            k = 2;
        } else if (*p == '\n') {
            esc[0] = '\\';
            esc[1] = 'n';
            k = 2;
        }
        for (size_t j = 0; j < k; j++, need++)
            if (need + 1 < cap)
                out[need] = esc[j];
    }
    if (cap)
        out[need < cap ? need : cap - 1] = '\0';
    return need;
}

/* HELP text escapes only backslash and newline (format 0.0.4). */
static void append_help(spx_metrics_buf *b, const char *help)
{
    for (const char *p = help; *p; p++) {
        if (*p == '\\')
            append(b, "\\\\", 2);
        else if (*p == '\n')
            append(b, "\\n", 2);
        else
            append(b, p, 1);
    }
}

void spx_metrics_family(spx_metrics_buf *b, const char *name, const char *type, const char *help)
{
    spx_metrics_printf(b, "# HELP %s ", name);
    append_help(b, help);
    spx_metrics_printf(b, "\n# TYPE %s %s\n", name, type);
}

static void append_labels(spx_metrics_buf *b, const spx_metric_label *labels, size_t n)
{
    if (!n)
        return;
    append(b, "{", 1);
    for (size_t i = 0; i < n; i++) {
        size_t need = spx_metrics_escape_label(NULL, 0, labels[i].value);
        if (!reserve(b, strlen(labels[i].name) + need + 4))
            return;
        spx_metrics_printf(b, "%s%s=\"", i ? "," : "", labels[i].name);
        if (!reserve(b, need))
            return;
        spx_metrics_escape_label(b->data + b->len, need + 1, labels[i].value);
        b->len += need;
        append(b, "\"", 1);
    }
    append(b, "}", 1);
}

void spx_metrics_sample_u64(spx_metrics_buf *b, const char *name, const spx_metric_label *labels,
                            size_t n_labels, uint64_t value)
{
    spx_metrics_printf(b, "%s", name);
    append_labels(b, labels, n_labels);
    spx_metrics_printf(b, " %llu\n", (unsigned long long)value);
}

static void format_double(char *out, size_t cap, double v)
{
    if (isnan(v))
        snprintf(out, cap, "NaN");
    else if (isinf(v))
        snprintf(out, cap, v > 0 ? "+Inf" : "-Inf");
    else
        snprintf(out, cap, "%.17g", v);
}

void spx_metrics_sample_double(spx_metrics_buf *b, const char *name, const spx_metric_label *labels,
                               size_t n_labels, double value)
{
    char num[40];
    format_double(num, sizeof num, value);
    spx_metrics_printf(b, "%s", name);
    append_labels(b, labels, n_labels);
    spx_metrics_printf(b, " %s\n", num);
}

void spx_metrics_histogram(spx_metrics_buf *b, const char *name, const spx_metric_label *labels,
                           size_t n_labels, const spx_latency_hist *h, double sum)
{
    enum { MAX_LABELS = 8 };
    spx_metric_label with_le[MAX_LABELS];
    if (n_labels >= MAX_LABELS)
        n_labels = MAX_LABELS - 1;
    memcpy(with_le, labels, n_labels * sizeof *labels);
    char bucket[128], le[40];
    snprintf(bucket, sizeof bucket, "%s_bucket", name);
    with_le[n_labels] = (spx_metric_label){"le", le};
    uint64_t cumulative = 0;
    for (size_t i = 0; i <= SPX_LATENCY_BOUNDS; i++) {
        cumulative += h->counts[i];
        if (i < SPX_LATENCY_BOUNDS)
            snprintf(le, sizeof le, "%g", spx_latency_bound(i));   /* the table's exact decimals */
        else
            snprintf(le, sizeof le, "+Inf");
        spx_metrics_sample_u64(b, bucket, with_le, n_labels + 1, cumulative);
    }
    char other[128];
    snprintf(other, sizeof other, "%s_sum", name);
    spx_metrics_sample_double(b, other, labels, n_labels, sum);
    snprintf(other, sizeof other, "%s_count", name);
    spx_metrics_sample_u64(b, other, labels, n_labels, cumulative);
}
