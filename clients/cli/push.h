/* spectra push: what the command line decided, shared by the option parser (cmd_push.c) and the
 * sender (push_send.c). */
#ifndef SPECTRA_CLI_PUSH_H
#define SPECTRA_CLI_PUSH_H

#include "cli.h"

typedef enum push_format {
    PUSH_FORMAT_AUTO = 0,   /* from the file name, then --kind */
    PUSH_FORMAT_TEXT,
    PUSH_FORMAT_EDF,
    PUSH_FORMAT_NPY,
    PUSH_FORMAT_RAW,
} push_format;

typedef struct push_opts {
    push_source_opts src;
    push_format format;
    spectra_kind kind;
    int kind_given;
    spectra_dtype dtype;          /* on the wire (and of a raw block file) */
    int dtype_given;
    uint64_t batch;               /* rows or samples per message */
    int batch_given;
    double chunk_seconds;         /* series: samples per message as seconds; 0: unset */
    double rate;                  /* pace: rows, samples or blocks per second; 0: as fast as the
                                     daemon takes them */
    int realtime;                 /* series: pace at the data's own sample rate */
    const char *id_prefix;        /* blocks: ids "<prefix><index>" instead of the index */
    int end, wait, quiet;
    int resume;                   /* skip what the stream already holds durably */
    int send_timeout_ms;
    const char *path;             /* for messages */
} push_opts;

typedef struct push_totals {
    uint64_t rows;                /* rows, samples or blocks sent */
    uint64_t messages, bytes, events;
    uint64_t skipped, skipped_rows; /* --resume: messages (and their rows) left out */
} push_totals;

/* Makes sure the stream can take what src produces: an existing stream must have the same kind and
 * dimension; a missing series stream is created with its channel names and rate (rows and blocks
 * streams are created by the first message). *existed: the stream was there before. Returns
 * CLI_OK or CLI_FAIL (printed). */
int push_prepare_stream(const cli_ctx *ctx, spectra_client *c, const char *stream,
                        const push_source *src, int *existed);

/* Continues an existing stream's producer numbering: asks `position`, then numbers this push's
 * messages from last_seq + 1 or, with o->resume, from durable_seq + 1 with *skip set to
 * durable_seq (the messages of the input the stream already holds durably). A daemon without the
 * position op is left alone unless o->resume. Returns CLI_OK or CLI_FAIL (printed). */
int push_continue_seq(const cli_ctx *ctx, spectra_client *c, const char *stream,
                      const push_opts *o, uint64_t *skip);

/* Sends everything src yields, one message per chunk, paced as o says; the first `skip` messages
 * are left out (counted in tot->skipped). */
int push_send_all(const cli_ctx *ctx, spectra_client *c, const char *stream, push_source *src,
                  const push_opts *o, uint64_t skip, push_totals *tot);

#endif
