/* Loading EEGMMIDB runs with edflib for the EEG benchmark and the accuracy test (header-only so
 * both programs share it without a library). Only compiled where SPX_HAVE_EDFLIB is defined.
 *
 * A run: 64 channels x N samples, channel-major, in microvolts, and its EDF+ annotations T0/T1/T2
 * as (onset sample, duration in samples, code 0/1/2). */
#ifndef SPX_EEG_EDF_H
#define SPX_EEG_EDF_H

#ifdef SPX_HAVE_EDFLIB
#include <edflib.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "iir_filter.h"

#define EEG_MAX_EVENTS 256

typedef struct eeg_run {
    size_t channels, samples;
    double fs;
    double *data;                       /* channels x samples */
    size_t n_events;
    uint64_t onset[EEG_MAX_EVENTS];     /* sample index */
    uint64_t duration[EEG_MAX_EVENTS];  /* samples */
    int code[EEG_MAX_EVENTS];           /* 0 = T0 rest, 1 = T1, 2 = T2 */
} eeg_run;

static inline void eeg_run_free(eeg_run *run)
{
    free(run->data);
    run->data = NULL;
}

/* Set when a file needed the prefilter work-around below. */
static int eeg_edf_prefilter_workaround_used;

/* edflib 1.23 rejects every EEGMMIDB file with EDFLIB_FILE_CONTAINS_FORMAT_ERRORS because the
 * "EDF Annotations" signal carries a prefilter text ("HP:0Hz LP:0Hz N:0Hz") where EDF+ wants
 * spaces (checked field by field: blanking that one field is enough). Rather than parse EDF here,
 * this opens a private temporary copy whose annotation-signal prefilter field is blanked; edflib
 * still does all the reading. The copy is unlinked as soon as edflib has it open. */
static inline int eeg_edf_open(const char *path, struct edf_hdr_struct *hdr)
{
    if (edfopen_file_readonly(path, hdr, EDFLIB_READ_ANNOTATIONS) == 0)
        return 0;
    if (hdr->filetype != EDFLIB_FILE_CONTAINS_FORMAT_ERRORS)
        return -1;
    FILE *in = fopen(path, "rb");
    if (!in)
        return -1;
    char tmpl[] = "/tmp/spx_eeg_XXXXXX";
    int fd = mkstemp(tmpl);
    FILE *out = fd >= 0 ? fdopen(fd, "w+b") : NULL;
    char head[256];
    int ok = out && fread(head, 1, 256, in) == 256;
    long ns = 0;
    if (ok) {
        char num[5] = {head[252], head[253], head[254], head[255], 0};
        ns = strtol(num, NULL, 10);
        ok = ns > 0 && ns <= EDFLIB_MAXSIGNALS;
    }
    char *sig = ok ? malloc((size_t)ns * 256) : NULL;
    ok = ok && sig && fread(sig, 1, (size_t)ns * 256, in) == (size_t)ns * 256;
    if (ok) {
        const size_t prefilter_at = (size_t)ns * (16 + 80 + 8 + 8 + 8 + 8 + 8);
        for (long i = 0; i < ns; i++)
            if (memcmp(sig + i * 16, "EDF Annotations ", 16) == 0)
                memset(sig + prefilter_at + (size_t)i * 80, ' ', 80);
        ok = fwrite(head, 1, 256, out) == 256 &&
             fwrite(sig, 1, (size_t)ns * 256, out) == (size_t)ns * 256;
        char buf[1 << 16];
        size_t got;
        while (ok && (got = fread(buf, 1, sizeof buf, in)) > 0)
            ok = fwrite(buf, 1, got, out) == got;
        ok = ok && fflush(out) == 0;
    }
    free(sig);
    fclose(in);
    if (out)
        fclose(out);
    else if (fd >= 0)
        close(fd);
    int rc = ok && edfopen_file_readonly(tmpl, hdr, EDFLIB_READ_ANNOTATIONS) == 0 ? 0 : -1;
    if (fd >= 0)
        unlink(tmpl);
    if (rc == 0)
        eeg_edf_prefilter_workaround_used = 1;
    return rc;
}

static inline int eeg_run_load(const char *path, eeg_run *run)
{
    memset(run, 0, sizeof *run);
    struct edf_hdr_struct hdr;
    if (eeg_edf_open(path, &hdr) != 0) {
        fprintf(stderr, "%s: edflib error %d\n", path, hdr.filetype);
        return -1;
    }
    int h = hdr.handle;
    size_t C = (size_t)hdr.edfsignals, N = (size_t)hdr.signalparam[0].smp_in_file;
    for (size_t c = 1; c < C; c++)
        if ((size_t)hdr.signalparam[c].smp_in_file != N) {
            fprintf(stderr, "%s: channels of different lengths\n", path);
            edfclose_file(h);
            return -1;
        }
    run->channels = C;
    run->samples = N;
    run->fs = (double)hdr.signalparam[0].smp_in_datarecord * (double)EDFLIB_TIME_DIMENSION /
              (double)hdr.datarecord_duration;
    run->data = malloc(C * N * sizeof *run->data);
    if (!run->data) {
        edfclose_file(h);
        return -1;
    }
    for (size_t c = 0; c < C; c++)
        if (edfread_physical_samples(h, (int)c, (int)N, run->data + c * N) != (int)N) {
            fprintf(stderr, "%s: short read on channel %zu\n", path, c);
            edfclose_file(h);
            eeg_run_free(run);
            return -1;
        }
    for (long long i = 0; i < hdr.annotations_in_file && run->n_events < EEG_MAX_EVENTS; i++) {
        struct edf_annotation_struct a;
        if (edf_get_annotation(h, (int)i, &a) != 0)
            continue;
        int code = -1;
        if (strcmp(a.annotation, "T0") == 0) code = 0;
        else if (strcmp(a.annotation, "T1") == 0) code = 1;
        else if (strcmp(a.annotation, "T2") == 0) code = 2;
        if (code < 0)
            continue;
        double onset_s = (double)a.onset / (double)EDFLIB_TIME_DIMENSION;
        double dur_s = a.duration_l > 0 ? (double)a.duration_l / (double)EDFLIB_TIME_DIMENSION
                                        : atof(a.duration);
        run->onset[run->n_events] = (uint64_t)llround(onset_s * run->fs);
        run->duration[run->n_events] = (uint64_t)llround(dur_s * run->fs);
        run->code[run->n_events] = code;
        run->n_events++;
    }
    edfclose_file(h);
    return 0;
}

/* Band-pass every channel in place: causal (one forward pass from zero state, as live) or
 * zero-phase (forward, then backward over the time-reversed output). */
static inline int eeg_run_filter(eeg_run *run, const double *sos, size_t ns, int zero_phase)
{
    size_t C = run->channels, N = run->samples;
    double *tm = malloc(C * N * sizeof *tm);
    spx_iir *f = NULL;
    if (!tm || spx_iir_create(&f, sos, ns, C) != 0) {
        free(tm);
        return -1;
    }
    for (size_t t = 0; t < N; t++)
        for (size_t c = 0; c < C; c++)
            tm[t * C + c] = run->data[c * N + t];
    spx_iir_process(f, tm, tm, N);
    if (zero_phase) {
        for (size_t t = 0; t < N / 2; t++)
            for (size_t c = 0; c < C; c++) {
                double v = tm[t * C + c];
                tm[t * C + c] = tm[(N - 1 - t) * C + c];
                tm[(N - 1 - t) * C + c] = v;
            }
        spx_iir_reset(f);
        spx_iir_process(f, tm, tm, N);
    }
    for (size_t t = 0; t < N; t++)
        for (size_t c = 0; c < C; c++)
            run->data[c * N + (zero_phase ? N - 1 - t : t)] = tm[t * C + c];
    spx_iir_free(f);
    free(tm);
    return 0;
}

/* Appends the epochs [onset + offset, onset + offset + len) of the T1 (label 0) and T2 (label 1)
 * cues to out (count x C x len) and labels; returns the new count. */
static inline size_t eeg_run_epochs(const eeg_run *run, int64_t offset, size_t len, double *out,
                                    int *labels, size_t count, size_t cap)
{
    size_t C = run->channels, N = run->samples;
    for (size_t e = 0; e < run->n_events && count < cap; e++) {
        if (run->code[e] == 0)
            continue;
        int64_t start = (int64_t)run->onset[e] + offset;
        if (start < 0 || (size_t)start + len > N)
            continue;
        for (size_t c = 0; c < C; c++)
            memcpy(out + (count * C + c) * len, run->data + c * N + start, len * sizeof *out);
        labels[count++] = run->code[e] - 1;
    }
    return count;
}
#endif /* SPX_HAVE_EDFLIB */
#endif
