/* A push source reading a multichannel time series from a text table: one row per sample, a time
 * column (or a given sample rate), the other selected columns as channels.
 *
 * A series message carries only t0 and the rate, so the daemon places sample i at t0 + i / rate.
 * A chunk therefore ends where the file's time stamps leave that grid (a gap or a step back by more
 * than half a sample): the next chunk starts at the true time, and the daemon counts the gap. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

typedef struct series_text {
    spectra_table *table;
    const char *path;
    size_t width;
    int has_time;
    /* Rows read ahead: [head, head + len) of rows (width each) and times. */
    double *rows, *times;
    size_t cap, head, len;
    int eof;
    double time_shift;          /* added to every time stamp (--t0 with a time column) */
    double next_time;           /* without a time column: the next row's time */
    double *mean, *std;         /* z-score statistics, or NULL */
    const char **names;
    char err[512];
} series_text;

static int fail(series_text *s, int code, const char *fmt, ...) CLI_PRINTF(3, 4);

static int fail(series_text *s, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->err, sizeof s->err, fmt, ap);
    va_end(ap);
    return code;
}

static double wall_clock(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int table_fail(series_text *s, int code)
{
    return fail(s, code, "%s", spectra_table_error(s->table));
}

/* Grows the read-ahead so it can hold n rows from head 0. */
static int reserve(series_text *s, size_t n)
{
    if (n <= s->cap)
        return 0;
    size_t cap = s->cap ? s->cap : 256;
    while (cap < n)
        cap *= 2;
    double *rows = realloc(s->rows, cap * s->width * sizeof *rows);
    if (!rows)
        return fail(s, SPECTRA_ENOMEM, "out of memory for %zu rows of %zu", cap, s->width);
    s->rows = rows;
    double *times = realloc(s->times, cap * sizeof *times);
    if (!times)
        return fail(s, SPECTRA_ENOMEM, "out of memory for %zu rows of %zu", cap, s->width);
    s->times = times;
    s->cap = cap;
    return 0;
}

/* Reads until at least want rows are ahead (fewer at the end of input). */
static int fill(series_text *s, size_t want)
{
    if (s->len >= want || s->eof)
        return 0;
    if (s->head) {
        memmove(s->rows, s->rows + s->head * s->width, s->len * s->width * sizeof *s->rows);
        memmove(s->times, s->times + s->head, s->len * sizeof *s->times);
        s->head = 0;
    }
    int rc = reserve(s, want);
    if (rc)
        return rc;
    while (s->len < want && !s->eof) {
        size_t got;
        double *rows = s->rows + s->len * s->width, *times = s->times + s->len;
        rc = s->has_time ? spectra_table_read_times(s->table, rows, times, want - s->len, &got)
                         : spectra_table_read(s->table, rows, want - s->len, &got);
        if (rc)
            return table_fail(s, rc);
        if (got == 0)
            s->eof = 1;
        s->len += got;
    }
    return 0;
}

static int series_read(push_source *src, double *out, size_t max_rows, push_chunk *chunk)
{
    series_text *s = src->impl;
    chunk->n = 0;
    int rc = fill(s, max_rows);
    if (rc)
        return rc;
    size_t limit = s->len < max_rows ? s->len : max_rows;
    if (limit == 0)
        return 0;
    const double *times = s->times + s->head;
    double step = 1.0 / src->rate;
    size_t n = 1;
    if (s->has_time) {
        while (n < limit && fabs(times[n] - (times[0] + (double)n * step)) <= 0.5 * step)
            n++;
        if (n < limit)
            src->time_breaks++;
        chunk->t0 = times[0] + s->time_shift;
    } else {
        n = limit;
        chunk->t0 = s->next_time;
        s->next_time += (double)n * step;
    }
    const double *in = s->rows + s->head * s->width;
    if (s->mean) {
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < s->width; j++)
                out[i * s->width + j] = (in[i * s->width + j] - s->mean[j]) / s->std[j];
    } else {
        memcpy(out, in, n * s->width * sizeof *out);
    }
    chunk->n = n;
    s->head += n;
    s->len -= n;
    return 0;
}

static const char *series_error(const push_source *src)
{
    return ((const series_text *)src->impl)->err;
}

static void series_close(push_source *src)
{
    series_text *s = src->impl;
    if (s) {
        spectra_table_free(s->table);
        free(s->rows);
        free(s->times);
        free(s->mean);
        free(s->std);
        free(s->names);
        free(s);
    }
    src->impl = NULL;
}

/* Per-channel mean and population standard deviation (ddof 0, as the forecasting benchmarks'
 * StandardScaler) of the first n rows ahead, in two passes for accuracy. A constant channel keeps
 * std 1 so it is only centred. */
static int fit_normalization(series_text *s, size_t n)
{
    size_t w = s->width;
    s->mean = calloc(w, sizeof *s->mean);
    s->std = calloc(w, sizeof *s->std);
    if (!s->mean || !s->std)
        return fail(s, SPECTRA_ENOMEM, "out of memory");
    const double *x = s->rows + s->head * w;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < w; j++)
            s->mean[j] += x[i * w + j];
    for (size_t j = 0; j < w; j++)
        s->mean[j] /= (double)n;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < w; j++) {
            double d = x[i * w + j] - s->mean[j];
            s->std[j] += d * d;
        }
    fprintf(stderr, "spectra: push: normalize: z-scores with the mean and std (ddof 0) of the "
                    "first %zu rows\n", n);
    for (size_t j = 0; j < w; j++) {
        s->std[j] = sqrt(s->std[j] / (double)n);
        int constant = !(s->std[j] > 0);
        if (constant)
            s->std[j] = 1.0;
        char num[24];
        snprintf(num, sizeof num, "%zu", j + 1);
        fprintf(stderr, "spectra: push: normalize %s: mean %.17g std %.17g%s\n",
                s->names && s->names[j][0] ? s->names[j] : num, s->mean[j], s->std[j],
                constant ? " (constant: only centred)" : "");
    }
    return 0;
}

int push_source_series_text_open(push_source *src, const char *path, const push_source_opts *opts,
                                 const char **err)
{
    src->kind = SPECTRA_SERIES;
    src->read = series_read;
    src->error = series_error;
    src->close = series_close;
    series_text *s = calloc(1, sizeof *s);
    src->impl = s;
    if (!s) {
        *err = "out of memory";
        return SPECTRA_ENOMEM;
    }
    *err = s->err;
    s->path = path;
    s->table = spectra_table_new(&opts->table);
    if (!s->table)
        return fail(s, SPECTRA_ENOMEM, "out of memory");
    int rc = spectra_table_open(s->table, path);
    if (rc)
        return table_fail(s, rc);
    s->has_time = spectra_table_has_time(s->table);
    if (!s->has_time && !(opts->sample_rate > 0))
        return fail(s, SPECTRA_EINVAL,
                    "%s: a series needs --time-column NAME or --sample-rate HZ", path);
    s->width = spectra_table_width(s->table);
    src->width = s->width;
    s->names = calloc(s->width, sizeof *s->names);
    if (!s->names)
        return fail(s, SPECTRA_ENOMEM, "out of memory");
    int named = 0;
    for (size_t j = 0; j < s->width; j++) {
        s->names[j] = spectra_table_column_name(s->table, j);
        named |= s->names[j][0] != '\0';
    }
    src->names = named ? s->names : NULL;

    size_t ahead = opts->normalize_rows > 2 ? (size_t)opts->normalize_rows : 2;
    if ((rc = fill(s, ahead)))
        return rc;
    if (s->len == 0)
        return fail(s, SPECTRA_EPARSE, "%s: no data rows", path);
    if (opts->sample_rate > 0) {
        src->rate = opts->sample_rate;
    } else {
        if (s->len < 2)
            return fail(s, SPECTRA_EINVAL,
                        "%s: one row is not enough to infer the sample rate; give --sample-rate",
                        path);
        double dt = s->times[1] - s->times[0];
        if (!(dt > 0))
            return fail(s, SPECTRA_EPARSE,
                        "%s: the first two time stamps do not increase (%.17g, %.17g); give "
                        "--sample-rate", path, s->times[0], s->times[1]);
        src->rate = 1.0 / dt;
    }
    if (s->has_time) {
        if (isfinite(opts->t0))
            s->time_shift = opts->t0 - s->times[0];
    } else {
        s->next_time = isfinite(opts->t0) ? opts->t0 : wall_clock();
    }
    if (opts->normalize_rows) {
        if (s->len < opts->normalize_rows)
            return fail(s, SPECTRA_EINVAL,
                        "%s: --normalize train=%llu, but the file has only %zu rows", path,
                        (unsigned long long)opts->normalize_rows, s->len);
        if ((rc = fit_normalization(s, (size_t)opts->normalize_rows)))
            return rc;
    }
    return 0;
}
