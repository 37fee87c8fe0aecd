/* A push source reading an EDF/EDF+/BDF recording with edflib: the signals of the common sample
 * rate as channels, the recording's start as the time origin, and its annotations as events, each
 * sent in the message whose samples span its onset. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#ifndef SPX_HAVE_EDFLIB

int push_source_edf_open(push_source *src, const char *path, const push_source_opts *opts,
                         const char **err)
{
    (void)src;
    (void)path;
    (void)opts;
    *err = "this spectra was built without edflib: install libedf-dev and rebuild to push EDF "
           "files";
    return SPECTRA_EINVAL;
}

#else

#include <ctype.h>
#include <edflib.h>
#include <limits.h>
#include <math.h>
#include <time.h>
#include <unistd.h>

#define EDF_LABEL_MAX 64   /* the daemon's limit for event labels and channel names */

typedef struct edf_event {
    long long sample;      /* the sample whose time span holds the onset (clamped to >= 0) */
    size_t order;          /* position in the file, to keep simultaneous events in order */
    spectra_event ev;
    char label[EDF_LABEL_MAX + 1];
} edf_event;

typedef struct edf_source {
    struct edf_hdr_struct *hdr;
    int handle;
    const char *path;
    size_t width;
    int *signal;                 /* edflib signal number of each channel */
    char (*labels)[17];         /* signal labels, trimmed (edflib's are at most 16 bytes) */
    const char **names;
    long long samples;           /* per channel */
    long long pos;
    long long spr;               /* samples per data record of the chosen signals */
    long long record_100ns;      /* data record duration in units of 100 ns */
    double start;                /* epoch seconds of sample 0 */
    edf_event *events;
    spectra_event *out_events;
    size_t n_events, next_event;
    double *scratch;
    size_t scratch_cap;
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

static const char *edflib_reason(int code)
{
    switch (code) {
    case EDFLIB_MALLOC_ERROR: return "out of memory";
    case EDFLIB_NO_SUCH_FILE_OR_DIRECTORY: return "cannot open the file";
    case EDFLIB_FILE_CONTAINS_FORMAT_ERRORS: return "the file is not valid EDF/EDF+/BDF";
    case EDFLIB_MAXFILES_REACHED: return "edflib has too many files open";
    case EDFLIB_FILE_READ_ERROR: return "read error";
    case EDFLIB_FILE_ALREADY_OPENED: return "the file is already open";
    case EDFLIB_FILETYPE_ERROR: return "unknown file type";
    case EDFLIB_FILE_IS_DISCONTINUOUS: return "discontinuous EDF+D/BDF+D files are not supported";
    case EDFLIB_INVALID_READ_ANNOTS_VALUE: return "bad annotation mode";
    default: return "edflib error";
    }
}

/* edflib 1.23 refuses files whose annotation signal has a non-blank prefilter field, which EDF+
 * requires blank; PhysioNet's EEGMMIDB files carry "HP:0Hz LP:0Hz N:0Hz" there and are otherwise
 * valid. Rather than parse EDF here, such a file is opened through a private temporary copy with
 * that one field blanked (unlinked as soon as edflib has it open), and edflib does all the reading.
 * Returns 0 when the copy opened, else -1 (the original error stands). */
static int open_blanked_copy(const char *path, struct edf_hdr_struct *hdr)
{
    FILE *in = fopen(path, "rb");
    if (!in)
        return -1;
    const char *dir = getenv("TMPDIR");
    char tmpl[4096];
    snprintf(tmpl, sizeof tmpl, "%s/spectra-edf-XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(tmpl);
    FILE *out = fd >= 0 ? fdopen(fd, "w+b") : NULL;
    char head[256];
    int ok = out && fread(head, 1, sizeof head, in) == sizeof head;
    long ns = 0;
    if (ok) {
        char num[5] = {head[252], head[253], head[254], head[255], 0};
        ns = strtol(num, NULL, 10);
        ok = ns > 0 && ns <= EDFLIB_MAXSIGNALS;
    }
    size_t sig_bytes = (size_t)ns * 256;
    char *sig = ok ? malloc(sig_bytes) : NULL;
    ok = ok && sig && fread(sig, 1, sig_bytes, in) == sig_bytes;
    int patched = 0;
    if (ok) {
        /* Signal header fields, each ns entries: label 16, transducer 80, dimension 8, physical
         * min/max 8+8, digital min/max 8+8, prefilter 80, ... */
        const size_t prefilter_at = (size_t)ns * (16 + 80 + 8 + 8 + 8 + 8 + 8);
        for (long i = 0; i < ns; i++)
            if (memcmp(sig + i * 16, "EDF Annotations ", 16) == 0 ||
                memcmp(sig + i * 16, "BDF Annotations ", 16) == 0) {
                memset(sig + prefilter_at + (size_t)i * 80, ' ', 80);
                patched = 1;
            }
        ok = patched && fwrite(head, 1, sizeof head, out) == sizeof head &&
             fwrite(sig, 1, sig_bytes, out) == sig_bytes;
        char buf[1 << 16];
        size_t got;
        while (ok && (got = fread(buf, 1, sizeof buf, in)) > 0)
            ok = fwrite(buf, 1, got, out) == got;
        ok = ok && !ferror(in) && fflush(out) == 0;
    }
    free(sig);
    fclose(in);
    if (out)
        fclose(out);
    else if (fd >= 0)
        close(fd);
    int rc = -1;
    if (ok) {
        struct edf_hdr_struct copy_hdr;
        rc = edfopen_file_readonly(tmpl, &copy_hdr, EDFLIB_READ_ALL_ANNOTATIONS) == 0 ? 0 : -1;
        if (rc == 0)
            *hdr = copy_hdr;
    }
    if (fd >= 0)
        unlink(tmpl);
    return rc;
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

static int add_channel(edf_source *e, int signal)
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
    int n_sig = e->hdr->edfsignals;
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
                rc = fail(e, SPECTRA_EINVAL, "%s: --channels '%s' is out of range (%d signals)",
                          e->path, tok, n_sig);
                break;
            }
            for (long s = lo; s <= hi && !rc; s++)
                rc = add_channel(e, (int)s - 1);
            continue;
        }
        int found = -1, best = 0, ambiguous = 0;
        for (int s = 0; s < n_sig; s++) {
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
            rc = add_channel(e, found);
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
    const struct edf_hdr_struct *h = e->hdr;
    int best = 0, best_count = 0;
    for (int s = 0; s < h->edfsignals; s++) {
        int count = 0;
        for (int t = 0; t < h->edfsignals; t++)
            count += h->signalparam[t].smp_in_datarecord == h->signalparam[s].smp_in_datarecord;
        if (count > best_count) {
            best_count = count;
            best = s;
        }
    }
    int spr = h->signalparam[best].smp_in_datarecord;
    int skipped = 0;
    for (int s = 0; s < h->edfsignals; s++) {
        if (h->signalparam[s].smp_in_datarecord == spr) {
            e->signal[e->width++] = s;
            continue;
        }
        if (skipped++ == 0)
            fprintf(stderr, "spectra: push: %s: leaving out signals at another sample rate:",
                    e->path);
        fprintf(stderr, " %s (%d per record)", e->labels[s], h->signalparam[s].smp_in_datarecord);
    }
    if (skipped)
        fputc('\n', stderr);
    return 0;
}

static int compare_events(const void *a, const void *b)
{
    const edf_event *x = a, *y = b;
    if (x->sample != y->sample)
        return x->sample < y->sample ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

/* The sample of the chosen rate whose span [k, k + 1) / rate holds time t (100 ns units), exactly
 * in integers: k = floor(t * spr / record). */
static long long sample_at(const edf_source *e, long long t)
{
    if (t <= 0)
        return 0;
    long long whole = t / e->record_100ns, part = t % e->record_100ns;
    return whole * e->spr + part * e->spr / e->record_100ns; /* part * spr: checked at open */
}

static int load_annotations(edf_source *e)
{
    long long n = e->hdr->annotations_in_file;
    if (n <= 0)
        return 0;
    e->events = calloc((size_t)n, sizeof *e->events);
    e->out_events = calloc((size_t)n, sizeof *e->out_events);
    if (!e->events || !e->out_events)
        return fail(e, SPECTRA_ENOMEM, "out of memory for %lld annotations", n);
    for (long long i = 0; i < n; i++) {
        struct edf_annotation_struct a;
        if (edf_get_annotation(e->handle, (int)i, &a) != 0)
            return fail(e, SPECTRA_EIO, "%s: edflib could not read annotation %lld", e->path, i);
        edf_event *ev = &e->events[e->n_events];
        copy_label(ev->label, a.annotation);
        ev->order = (size_t)i;
        ev->sample = sample_at(e, a.onset);
        ev->ev.t = e->start + (double)a.onset / (double)EDFLIB_TIME_DIMENSION;
        ev->ev.value = NAN;
        /* duration_l is -EDFLIB_TIME_DIMENSION when the annotation has no duration. */
        ev->ev.duration = a.duration_l > 0 ? (double)a.duration_l / EDFLIB_TIME_DIMENSION : 0.0;
        e->n_events++;
    }
    qsort(e->events, e->n_events, sizeof *e->events, compare_events);
    for (size_t i = 0; i < e->n_events; i++) {
        e->out_events[i] = e->events[i].ev;
        e->out_events[i].label = e->events[i].label;
    }
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
    long long left = e->samples - e->pos;
    size_t n = (long long)max_rows < left ? max_rows : (size_t)left;
    if (n > e->scratch_cap) {
        double *p = realloc(e->scratch, n * sizeof *p);
        if (!p)
            return fail(e, SPECTRA_ENOMEM, "out of memory");
        e->scratch = p;
        e->scratch_cap = n;
    }
    for (size_t c = 0; c < e->width; c++) {
        int got = edfread_physical_samples(e->handle, e->signal[c], (int)n, e->scratch);
        if (got != (int)n)
            return fail(e, SPECTRA_EIO, "%s: edflib read %d of %zu samples of %s at sample %lld",
                        e->path, got, n, e->names[c], e->pos);
        for (size_t i = 0; i < n; i++)
            rows[i * e->width + c] = e->scratch[i];
    }
    chunk->n = n;
    chunk->t0 = e->start + (double)e->pos * (double)e->record_100ns /
                               ((double)e->spr * (double)EDFLIB_TIME_DIMENSION);
    long long end = e->pos + (long long)n;
    size_t first = e->next_event;
    while (e->next_event < e->n_events && e->events[e->next_event].sample < end)
        e->next_event++;
    chunk->events = e->out_events + first;
    chunk->n_events = e->next_event - first;
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
        if (e->handle >= 0)
            edfclose_file(e->handle);
        free(e->hdr);
        free(e->signal);
        free(e->labels);
        free(e->names);
        free(e->events);
        free(e->out_events);
        free(e->scratch);
        free(e);
    }
    src->impl = NULL;
}

static double start_time(const struct edf_hdr_struct *h)
{
    struct tm tm = {0};
    tm.tm_year = h->startdate_year - 1900;
    tm.tm_mon = h->startdate_month - 1;
    tm.tm_mday = h->startdate_day;
    tm.tm_hour = h->starttime_hour;
    tm.tm_min = h->starttime_minute;
    tm.tm_sec = h->starttime_second;
    return (double)timegm(&tm) + (double)h->starttime_subsecond / (double)EDFLIB_TIME_DIMENSION;
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
    e->handle = -1;
    e->path = path;
    e->hdr = calloc(1, sizeof *e->hdr);
    if (!e->hdr)
        return fail(e, SPECTRA_ENOMEM, "out of memory");
    if (edfopen_file_readonly(path, e->hdr, EDFLIB_READ_ALL_ANNOTATIONS) != 0) {
        int code = e->hdr->filetype;
        if (code != EDFLIB_FILE_CONTAINS_FORMAT_ERRORS || open_blanked_copy(path, e->hdr) != 0)
            return fail(e, SPECTRA_EIO, "%s: %s (edflib error %d)", path, edflib_reason(code),
                        code);
        fprintf(stderr, "spectra: push: %s: edflib refuses the non-blank prefilter field of its "
                        "annotation signal; reading a copy with that field blanked\n", path);
    }
    struct edf_hdr_struct *h = e->hdr;
    e->handle = h->handle;
    if (h->edfsignals < 1)
        return fail(e, SPECTRA_EINVAL, "%s: no signals besides annotations", path);
    if (h->datarecord_duration <= 0)
        return fail(e, SPECTRA_EINVAL, "%s: data records of duration 0 have no sample rate", path);
    int n_sig = h->edfsignals;
    e->signal = calloc((size_t)n_sig, sizeof *e->signal);
    e->labels = calloc((size_t)n_sig, sizeof *e->labels);
    e->names = calloc((size_t)n_sig, sizeof *e->names);
    if (!e->signal || !e->labels || !e->names)
        return fail(e, SPECTRA_ENOMEM, "out of memory");
    for (int s = 0; s < n_sig; s++)
        trim_label(h->signalparam[s].label, e->labels[s], sizeof e->labels[s]);
    int rc = opts->channels ? select_listed(e, opts->channels) : select_common_rate(e);
    if (rc)
        return rc;
    e->spr = h->signalparam[e->signal[0]].smp_in_datarecord;
    e->samples = h->signalparam[e->signal[0]].smp_in_file;
    for (size_t c = 0; c < e->width; c++) {
        const struct edf_param_struct *p = &h->signalparam[e->signal[c]];
        if (p->smp_in_datarecord != e->spr)
            return fail(e, SPECTRA_EINVAL,
                        "%s: --channels mixes sample rates (%s: %d, %s: %d samples per record); "
                        "a series has one rate", path, e->labels[e->signal[0]], (int)e->spr,
                        e->labels[e->signal[c]], p->smp_in_datarecord);
        e->names[c] = e->labels[e->signal[c]];
    }
    e->record_100ns = h->datarecord_duration;
    if (e->spr < 1 || e->spr > LLONG_MAX / e->record_100ns)
        return fail(e, SPECTRA_EINVAL, "%s: %lld samples per record is out of range", path,
                    e->spr);
    e->start = isfinite(opts->t0) ? opts->t0 : start_time(h);
    if ((rc = load_annotations(e)))
        return rc;
    src->width = e->width;
    src->names = e->names;
    src->rate = (double)e->spr * (double)EDFLIB_TIME_DIMENSION / (double)e->record_100ns;
    return 0;
}

#endif
