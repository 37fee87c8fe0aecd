/* A push source reading an EDF/EDF+/BDF recording with libbiosig: the signals of the common sample
 * rate as channels, the recording's start as the time origin, and its annotations as events, each
 * sent in the message whose samples span its onset. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#ifndef SPX_HAVE_BIOSIG

int push_source_edf_open(push_source *src, const char *path, const push_source_opts *opts,
                         const char **err)
{
    (void)src;
    (void)path;
    (void)opts;
    *err = "this spectra was built without libbiosig: install libbiosig-dev and rebuild to push "
           "EDF files";
    return SPECTRA_EINVAL;
}

#else

#include <biosig.h>
#include <ctype.h>
#include <math.h>
#include <stdint.h>
#include <sys/stat.h>

#define EDF_LABEL_MAX 64            /* the daemon's limit for event labels and channel names */
#define BIOSIG_SEGMENT_BREAK 0x7ffe /* event type biosig gives the records of EDF+D/BDF+D files */
#define GDF_DAY_UNITS 4294967296.0  /* gdf_time: 2^32 units per day since 0000-01-01 */
#define GDF_UNIX_EPOCH_DAY 719529   /* 1970-01-01 in gdf_time days */

typedef struct edf_event {
    uint64_t sample;       /* the sample whose time span holds the onset (clamped to >= 0) */
    size_t order;          /* position in biosig's table, to keep simultaneous events in order */
    spectra_event ev;
    char label[EDF_LABEL_MAX + 1];
} edf_event;

typedef struct edf_source {
    HDRTYPE *hdr;
    const char *path;
    size_t n_signals;              /* data signals (biosig leaves annotation signals out) */
    CHANNEL_TYPE **channel;        /* each data signal's biosig channel, by 0-based number */
    char (*labels)[EDF_LABEL_MAX + 1];
    size_t width;
    size_t *signal;                /* the signal number of each channel, in --channels order */
    size_t *column;                /* each channel's column in biosig's data block */
    const char **names;
    uint64_t samples;              /* per channel */
    uint64_t pos;
    uint32_t spr;                  /* samples per data record of the chosen signals */
    uint32_t repeat;               /* hdr->SPR / spr: biosig repeats each sample this often */
    double rate;
    double start;                  /* epoch seconds of sample 0 */
    size_t loaded_first, loaded_end; /* data records now in hdr->data.block */
    edf_event *events;
    spectra_event *out_events;
    size_t n_events, next_event;
    char err[512];
} edf_source;

static int fail(edf_source *e, int code, const char *fmt, ...) CLI_PRINTF(3, 4);

static int fail(edf_source *e, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->err, sizeof e->err, fmt, ap);
    va_end(ap);
    return code;
}

/* libbiosig's message for the open error on hdr, without its trailing newline (biosig's own
 * serror2() would also print it to stderr, which the CLI does itself). */
static int fail_biosig(edf_source *e, const char *what)
{
    char *msg = biosig_get_errormsg(e->hdr);
    size_t n = msg ? strlen(msg) : 0;
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
        msg[--n] = '\0';
    fail(e, SPECTRA_EIO, "%s: %s (libbiosig error %d: %s)", e->path, what,
         biosig_check_error(e->hdr), n ? msg : "no message");
    free(msg);
    return SPECTRA_EIO;
}

static void trim_label(const char *in, char *out, size_t cap)
{
    while (*in == ' ')
        in++;
    size_t n = strlen(in);
    while (n > 0 && in[n - 1] == ' ')
        n--;
    if (n >= cap)
        n = cap - 1;
    memcpy(out, in, n);
    out[n] = '\0';
}

/* Copies at most EDF_LABEL_MAX bytes without splitting a UTF-8 sequence. */
static void copy_label(char *out, const char *in)
{
    size_t n = strlen(in);
    if (n > EDF_LABEL_MAX) {
        n = EDF_LABEL_MAX;
        while (n > 0 && ((unsigned char)in[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(out, in, n);
    out[n] = '\0';
}

/* "C3" matches "C3", and also "C3.." (EEGMMIDB pads labels with dots), case-insensitively. */
static int label_matches(const char *label, const char *want)
{
    if (strcmp(label, want) == 0)
        return 2;
    size_t a = strlen(label), b = strlen(want);
    while (a > 0 && label[a - 1] == '.')
        a--;
    while (b > 0 && want[b - 1] == '.')
        b--;
    if (a != b || a == 0)
        return 0;
    for (size_t i = 0; i < a; i++)
        if (tolower((unsigned char)label[i]) != tolower((unsigned char)want[i]))
            return 0;
    return 1;
}

static int add_channel(edf_source *e, size_t signal)
{
    for (size_t i = 0; i < e->width; i++)
        if (e->signal[i] == signal)
            return fail(e, SPECTRA_EINVAL, "%s: --channels names '%s' twice", e->path,
                        e->labels[signal]);
    e->signal[e->width++] = signal;
    return 0;
}

/* --channels: labels and/or 1-based signal numbers and ranges ("1-8,Cz,C3"), in that order. */
static int select_listed(edf_source *e, const char *list)
{
    long n_sig = (long)e->n_signals;
    char *copy = strdup(list);
    if (!copy)
        return fail(e, SPECTRA_ENOMEM, "out of memory");
    int rc = 0;
    char *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok && !rc; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ')
            tok++;
        size_t len = strlen(tok);
        while (len && tok[len - 1] == ' ')
            tok[--len] = '\0';
        if (len && strspn(tok, "0123456789-") == len && strcmp(tok, "-") != 0 &&
            !strchr(strchr(tok, '-') ? strchr(tok, '-') + 1 : tok + len, '-')) {
            const char *dash = strchr(tok, '-');
            long lo = dash == tok ? 1 : strtol(tok, NULL, 10);
            long hi = !dash ? lo : dash[1] ? strtol(dash + 1, NULL, 10) : n_sig;
            if (lo < 1 || hi < lo || hi > n_sig) {
                rc = fail(e, SPECTRA_EINVAL, "%s: --channels '%s' is out of range (%ld signals)",
                          e->path, tok, n_sig);
                break;
            }
            for (long s = lo; s <= hi && !rc; s++)
                rc = add_channel(e, (size_t)s - 1);
            continue;
        }
        long found = -1;
        int best = 0, ambiguous = 0;
        for (long s = 0; s < n_sig; s++) {
            int m = label_matches(e->labels[s], tok);
            if (m > best) {
                best = m;
                found = s;
                ambiguous = 0;
            } else if (m && m == best) {
                ambiguous = 1;
            }
        }
        if (found < 0)
            rc = fail(e, SPECTRA_EINVAL, "%s: no signal labelled '%s'", e->path, tok);
        else if (ambiguous)
            rc = fail(e, SPECTRA_EINVAL, "%s: '%s' matches several signal labels", e->path, tok);
        else
            rc = add_channel(e, (size_t)found);
    }
    free(copy);
    if (!rc && e->width == 0)
        rc = fail(e, SPECTRA_EINVAL, "%s: --channels selects nothing", e->path);
    return rc;
}

/* Without --channels: every signal at the sample rate most signals share (ties: the first
 * signal's); the others are reported and left out, since a series has one rate. */
static int select_common_rate(edf_source *e)
{
    size_t best = 0, best_count = 0;
    for (size_t s = 0; s < e->n_signals; s++) {
        size_t count = 0;
        for (size_t t = 0; t < e->n_signals; t++)
            count += e->channel[t]->SPR == e->channel[s]->SPR;
        if (count > best_count) {
            best_count = count;
            best = s;
        }
    }
    uint32_t spr = e->channel[best]->SPR;
    int skipped = 0;
    for (size_t s = 0; s < e->n_signals; s++) {
        if (e->channel[s]->SPR == spr) {
            e->signal[e->width++] = s;
            continue;
        }
        if (skipped++ == 0)
            fprintf(stderr, "spectra: push: %s: leaving out signals at another sample rate:",
                    e->path);
        fprintf(stderr, " %s (%u per record)", e->labels[s], (unsigned)e->channel[s]->SPR);
    }
    if (skipped)
        fputc('\n', stderr);
    return 0;
}

/* Seconds of the day from a gdf_time fraction of a day. biosig truncates a start time to 2^-32
 * day (about 20 us) when it stores it, so 16:15:00 comes back as 16:14:59.99999; the start is
 * taken as the whole second, else the millisecond, that lies within one such unit, as EDF
 * headers and EDF+ start offsets are written, and as the stored value otherwise. */
static double gdf_seconds_of_day(uint32_t fraction)
{
    const double unit = 86400.0 / GDF_DAY_UNITS;
    double s = (double)fraction * unit; /* exact: 86400 * 2^32 < 2^53 */
    static const double grid[] = {1.0, 1e-3};
    for (size_t i = 0; i < sizeof grid / sizeof grid[0]; i++) {
        double snapped = round(s / grid[i]) * grid[i];
        if (fabs(snapped - s) < unit)
            return snapped;
    }
    return s;
}

/* The recording's start in epoch seconds (the header's date and time read as UTC, plus the
 * EDF+ start offset), and that offset alone: biosig counts annotation onsets from the header's
 * whole second, not from the first sample. */
static void start_time(const HDRTYPE *h, double *start, double *offset)
{
    *start = 0.0;
    *offset = 0.0;
    if (h->T0 == 0) /* biosig's "unknown" */
        return;
    int64_t days = (int64_t)(h->T0 >> 32) - GDF_UNIX_EPOCH_DAY;
    double of_day = gdf_seconds_of_day((uint32_t)(h->T0 & 0xffffffffu));
    *offset = of_day - floor(of_day);
    *start = (double)days * 86400.0 + of_day;
}

static int compare_events(const void *a, const void *b)
{
    const edf_event *x = a, *y = b;
    if (x->sample != y->sample)
        return x->sample < y->sample ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

/* biosig's event table holds onsets and durations in samples at EVENT.SampleRate (the file's
 * highest rate): an onset between two samples comes back moved to the nearer one. */
static int load_events(edf_source *e, double offset)
{
    const HDRTYPE *h = e->hdr;
    size_t n = h->EVENT.N;
    if (n == 0)
        return 0;
    e->events = calloc(n, sizeof *e->events);
    e->out_events = calloc(n, sizeof *e->out_events);
    if (!e->events || !e->out_events)
        return fail(e, SPECTRA_ENOMEM, "out of memory for %zu annotations", n);
    double event_rate = h->EVENT.SampleRate > 0 ? h->EVENT.SampleRate : h->SampleRate;
    /* The usual case, onsets on the recording's own grid: sample indices exactly in integers. */
    int exact = offset == 0.0 && event_rate == h->SampleRate;
    for (size_t i = 0; i < n; i++) {
        const char *desc = GetEventDescription(e->hdr, i);
        edf_event *ev = &e->events[e->n_events];
        if (desc)
            copy_label(ev->label, desc);
        else
            snprintf(ev->label, sizeof ev->label, "0x%04x", (unsigned)h->EVENT.TYP[i]);
        double onset = (double)h->EVENT.POS[i] / event_rate - offset; /* from sample 0 */
        if (exact)
            ev->sample = (uint64_t)h->EVENT.POS[i] * e->spr / h->SPR;
        else /* 1e-9: an onset on a sample may land a rounding error below it */
            ev->sample = onset > 0 ? (uint64_t)floor(onset * e->rate + 1e-9) : 0;
        ev->order = i;
        ev->ev.t = e->start + onset;
        ev->ev.value = NAN;
        ev->ev.duration = h->EVENT.DUR ? (double)h->EVENT.DUR[i] / event_rate : 0.0;
        e->n_events++;
    }
    qsort(e->events, e->n_events, sizeof *e->events, compare_events);
    for (size_t i = 0; i < e->n_events; i++) {
        e->out_events[i] = e->events[i].ev;
        e->out_events[i].label = e->events[i].label;
    }
    return 0;
}

/* Makes data records [first, end) the contents of hdr->data.block (one column per chosen signal,
 * in the file's order, hdr->SPR rows per record).
 *
 * sread() decodes from the raw records cached at hdr->AS.rawdata, which hold records
 * [AS.first, AS.first + AS.length) (biosig-dev.h). libbiosig 2.5.0's sread_raw() reads the
 * records but leaves AS.first at 0, so that sread(START > 0) decodes START records too far into
 * the cache: records [2 START, ...), past the buffer's end (wrong values, and a crash). Reading
 * the raw records first and recording where they start, as documented, makes sread() decode the
 * right ones; with a fixed libbiosig the two assignments change nothing. */
static int load_records(edf_source *e, size_t first, size_t end)
{
    if (first >= e->loaded_first && end <= e->loaded_end)
        return 0;
    HDRTYPE *h = e->hdr;
    size_t want = end - first;
    size_t got = sread_raw(first, want, h, 0, NULL, 0);
    if (got == want && !biosig_check_error(h)) {
        h->AS.first = first;
        h->AS.length = got;
        got = sread(NULL, first, want, h);
    }
    if (got != want || biosig_check_error(h))
        return fail(e, SPECTRA_EIO, "%s: libbiosig read %zu of %zu data records from record %zu",
                    e->path, got, want, first);
    if (h->data.size[0] != want * h->SPR || h->data.size[1] != e->width)
        return fail(e, SPECTRA_EIO, "%s: libbiosig returned %zu x %zu values for %zu records of "
                    "%zu channels", e->path, h->data.size[0], h->data.size[1], want, e->width);
    e->loaded_first = first;
    e->loaded_end = end;
    return 0;
}

static int edf_read(push_source *src, double *rows, size_t max_rows, push_chunk *chunk)
{
    edf_source *e = src->impl;
    chunk->n = 0;
    chunk->n_events = 0;
    if (e->pos >= e->samples) {
        /* Annotations after the last sample go out as one events-only message. */
        chunk->events = e->out_events + e->next_event;
        chunk->n_events = e->n_events - e->next_event;
        e->next_event = e->n_events;
        return 0;
    }
    uint64_t left = e->samples - e->pos;
    size_t n = (uint64_t)max_rows < left ? max_rows : (size_t)left;
    uint64_t end = e->pos + n;
    size_t first = (size_t)(e->pos / e->spr);
    int rc = load_records(e, first, (size_t)((end + e->spr - 1) / e->spr));
    if (rc)
        return rc;
    const double *block = e->hdr->data.block;
    size_t block_rows = e->hdr->data.size[0];
    size_t at = (size_t)(e->pos - (uint64_t)e->loaded_first * e->spr) * e->repeat;
    for (size_t c = 0; c < e->width; c++) {
        const double *col = block + e->column[c] * block_rows + at;
        for (size_t i = 0; i < n; i++)
            rows[i * e->width + c] = col[i * e->repeat];
    }
    chunk->n = n;
    chunk->t0 = e->start + (double)e->pos / e->rate;
    size_t first_event = e->next_event;
    while (e->next_event < e->n_events && e->events[e->next_event].sample < end)
        e->next_event++;
    chunk->events = e->out_events + first_event;
    chunk->n_events = e->next_event - first_event;
    e->pos = end;
    return 0;
}

static const char *edf_error(const push_source *src)
{
    return ((const edf_source *)src->impl)->err;
}

static void edf_close(push_source *src)
{
    edf_source *e = src->impl;
    if (e) {
        if (e->hdr) {
            sclose(e->hdr);
            destructHDR(e->hdr);
        }
        free(e->channel);
        free(e->labels);
        free(e->signal);
        free(e->column);
        free(e->names);
        free(e->events);
        free(e->out_events);
        free(e);
    }
    src->impl = NULL;
}

/* biosig reads a short file's missing records as nothing; edflib refused such files and so does
 * this source, before sending anything. */
static int check_size(edf_source *e)
{
    const HDRTYPE *h = e->hdr;
    struct stat st;
    if (stat(e->path, &st) != 0)
        return fail(e, SPECTRA_EIO, "%s: cannot stat it", e->path);
    unsigned long long want = h->HeadLen + (unsigned long long)h->NRec * h->AS.bpb;
    if ((unsigned long long)st.st_size < want)
        return fail(e, SPECTRA_EIO, "%s: %lld bytes, but the header announces %llu (truncated)",
                    e->path, (long long)st.st_size, want);
    return 0;
}

/* Turns off the signals not chosen, so that biosig reads only those, and finds each chosen
 * signal's column in its data block (the chosen ones in the file's order). */
static void choose_columns(edf_source *e)
{
    for (size_t s = 0; s < e->n_signals; s++)
        e->channel[s]->OnOff = 0;
    for (size_t c = 0; c < e->width; c++)
        e->channel[e->signal[c]]->OnOff = 1;
    for (size_t c = 0; c < e->width; c++) {
        size_t column = 0;
        for (size_t k = 0; k < e->width; k++)
            column += e->signal[k] < e->signal[c];
        e->column[c] = column;
    }
}

int push_source_edf_open(push_source *src, const char *path, const push_source_opts *opts,
                         const char **err)
{
    src->kind = SPECTRA_SERIES;
    src->read = edf_read;
    src->error = edf_error;
    src->close = edf_close;
    src->binary = 1;
    edf_source *e = calloc(1, sizeof *e);
    src->impl = e;
    if (!e) {
        *err = "out of memory";
        return SPECTRA_ENOMEM;
    }
    *err = e->err;
    e->path = path;
    e->hdr = sopen(path, "r", NULL);
    if (!e->hdr)
        return fail(e, SPECTRA_ENOMEM, "%s: libbiosig could not allocate a header", path);
    HDRTYPE *h = e->hdr;
    if (biosig_check_error(h))
        return fail_biosig(e, "cannot read it as EDF/EDF+/BDF");
    if (h->TYPE != EDF && h->TYPE != BDF) {
        const char *type = GetFileTypeString(h->TYPE);
        return fail(e, SPECTRA_EIO, "%s: the file is not valid EDF/EDF+/BDF (libbiosig reads it "
                    "as %s)", path, type ? type : "an unknown format");
    }
    for (size_t i = 0; i < h->EVENT.N; i++)
        if (h->EVENT.TYP[i] == BIOSIG_SEGMENT_BREAK)
            return fail(e, SPECTRA_EIO, "%s: discontinuous EDF+D/BDF+D files are not supported",
                        path);
    long n_sig = biosig_get_number_of_channels(h);
    if (n_sig < 1)
        return fail(e, SPECTRA_EINVAL, "%s: no signals besides annotations", path);
    if (!(h->SampleRate > 0) || h->SPR == 0)
        return fail(e, SPECTRA_EINVAL, "%s: data records of duration 0 have no sample rate", path);
    if (h->NRec < 0)
        return fail(e, SPECTRA_EIO, "%s: the number of data records is unknown", path);
    int rc = check_size(e);
    if (rc)
        return rc;
    e->n_signals = (size_t)n_sig;
    e->channel = calloc(e->n_signals, sizeof *e->channel);
    e->labels = calloc(e->n_signals, sizeof *e->labels);
    e->signal = calloc(e->n_signals, sizeof *e->signal);
    e->column = calloc(e->n_signals, sizeof *e->column);
    e->names = calloc(e->n_signals, sizeof *e->names);
    if (!e->channel || !e->labels || !e->signal || !e->column || !e->names)
        return fail(e, SPECTRA_ENOMEM, "out of memory");
    for (size_t s = 0; s < e->n_signals; s++) {
        e->channel[s] = biosig_get_channel(h, (int)s);
        if (!e->channel[s] || e->channel[s]->SPR == 0 || h->SPR % e->channel[s]->SPR)
            return fail(e, SPECTRA_EINVAL, "%s: signal %zu has no regular sample rate", path,
                        s + 1);
        char label[EDF_LABEL_MAX + 1];
        trim_label(biosig_channel_get_label(e->channel[s]), label, sizeof label);
        copy_label(e->labels[s], label);
    }
    rc = opts->channels ? select_listed(e, opts->channels) : select_common_rate(e);
    if (rc)
        return rc;
    e->spr = e->channel[e->signal[0]]->SPR;
    for (size_t c = 0; c < e->width; c++) {
        uint32_t spr = e->channel[e->signal[c]]->SPR;
        if (spr != e->spr)
            return fail(e, SPECTRA_EINVAL,
                        "%s: --channels mixes sample rates (%s: %u, %s: %u samples per record); "
                        "a series has one rate", path, e->labels[e->signal[0]], (unsigned)e->spr,
                        e->labels[e->signal[c]], (unsigned)spr);
        e->names[c] = e->labels[e->signal[c]];
    }
    choose_columns(e);
    /* Calibrated (physical) values, channel-major blocks, no overflow marking: edflib's values. */
    h->FLAG.UCAL = 0;
    h->FLAG.OVERFLOWDETECTION = 0;
    h->FLAG.ROW_BASED_CHANNELS = 0;
    e->repeat = h->SPR / e->spr;
    e->samples = (uint64_t)h->NRec * e->spr;
    e->rate = e->spr == h->SPR ? h->SampleRate : h->SampleRate * e->spr / h->SPR;
    double file_start, offset;
    start_time(h, &file_start, &offset);
    e->start = isfinite(opts->t0) ? opts->t0 : file_start;
    if ((rc = load_events(e, offset)))
        return rc;
    src->width = e->width;
    src->names = e->names;
    src->rate = e->rate;
    return 0;
}

#endif
