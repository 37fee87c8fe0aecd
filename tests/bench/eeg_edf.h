/* Loading EEGMMIDB runs with libbiosig for the EEG benchmarks and tests (header-only so every
 * program shares it without a library). Only compiled where SPX_HAVE_BIOSIG is defined.
 *
 * libbiosig reads the PhysioNet EDF+ files as they are (edflib 1.23 refuses them because their
 * annotation signal carries a non-blank prefilter field) and turns the "EDF Annotations" signal off
 * itself: the data are the 64 EEG channels and the annotations come back as its event table.
 *
 * Define SPX_EEG_EDF_NO_FILTER before including it to read runs without algorithms/ (no
 * eeg_run_filter).
 *
 * A run: 64 channels x N samples, channel-major, in microvolts, and its EDF+ annotations T0/T1/T2
 * as (onset sample, duration in samples, code 0/1/2). */
#ifndef SPX_EEG_EDF_H
#define SPX_EEG_EDF_H

#ifdef SPX_HAVE_BIOSIG
#include <biosig.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static inline int eeg_edf_code(const char *desc)
{
    if (!desc)
        return -1;
    if (strcmp(desc, "T0") == 0)
        return 0;
    if (strcmp(desc, "T1") == 0)
        return 1;
    if (strcmp(desc, "T2") == 0)
        return 2;
    return -1;
}

static inline int eeg_run_load(const char *path, eeg_run *run)
{
    memset(run, 0, sizeof *run);
    HDRTYPE *hdr = sopen(path, "r", NULL);
    if (!hdr || serror2(hdr)) {
        fprintf(stderr, "%s: libbiosig cannot open it\n", path);
        if (hdr) {
            sclose(hdr);
            destructHDR(hdr);
        }
        return -1;
    }
    long channels = biosig_get_number_of_channels(hdr);
    double fs = biosig_get_samplerate(hdr);
    size_t records = hdr->NRec > 0 ? (size_t)hdr->NRec : 0;
    size_t samples = records * hdr->SPR;
    /* Channels of one rate only: with mixed rates biosig resamples to the common SPR. */
    int ok = channels > 0 && fs > 0 && samples > 0;
    for (uint16_t k = 0; ok && k < hdr->NS; k++)
        if (hdr->CHANNEL[k].OnOff)
            ok = hdr->CHANNEL[k].SPR == hdr->SPR;
    /* Column-based channels (the default): the block is samples x channels in column-major
     * order, so each channel is contiguous: block[c * samples + t], the layout of eeg_run. */
    hdr->FLAG.ROW_BASED_CHANNELS = 0;
    if (ok && sread(NULL, 0, records, hdr) != records) {
        fprintf(stderr, "%s: short read\n", path);
        ok = 0;
    }
    if (ok && (hdr->data.size[0] != samples || hdr->data.size[1] != (size_t)channels))
        ok = 0;
    if (ok) {
        run->channels = (size_t)channels;
        run->samples = samples;
        run->fs = fs;
        run->data = malloc(run->channels * samples * sizeof *run->data);
        ok = run->data != NULL;
    }
    if (ok)
        memcpy(run->data, hdr->data.block, run->channels * samples * sizeof *run->data);
    double event_rate = hdr->EVENT.SampleRate > 0 ? hdr->EVENT.SampleRate : fs;
    for (size_t i = 0; ok && i < hdr->EVENT.N && run->n_events < EEG_MAX_EVENTS; i++) {
        int code = eeg_edf_code(GetEventDescription(hdr, i));
        if (code < 0)
            continue;
        run->onset[run->n_events] = (uint64_t)llround(hdr->EVENT.POS[i] * fs / event_rate);
        run->duration[run->n_events] =
            hdr->EVENT.DUR ? (uint64_t)llround(hdr->EVENT.DUR[i] * fs / event_rate) : 0;
        run->code[run->n_events] = code;
        run->n_events++;
    }
    sclose(hdr);
    destructHDR(hdr);
    if (!ok) {
        fprintf(stderr, "%s: not a recording of equally sampled channels\n", path);
        eeg_run_free(run);
        return -1;
    }
    return 0;
}

#ifndef SPX_EEG_EDF_NO_FILTER /* programs that only read runs (not linked with algorithms/) */
#include "iir_filter.h"

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
#endif /* SPX_EEG_EDF_NO_FILTER */

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
#endif /* SPX_HAVE_BIOSIG */
#endif
