/* The spectra command-line tool: shared declarations of its subcommands. */
#ifndef SPECTRA_CLI_H
#define SPECTRA_CLI_H

#include <stddef.h>
#include <stdint.h>

#include "spectra.h"

#define CLI_OK 0
#define CLI_FAIL 1    /* the daemon or the operation failed */
#define CLI_USAGE 2   /* bad command line */
#define CLI_HELP (-100) /* --help was printed: exit 0 */

#if defined(__GNUC__)
#define CLI_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define CLI_PRINTF(f, a)
#endif

/* Global settings: endpoints and timeout from the environment, then from global options. */
typedef struct cli_ctx {
    const char *cmd;            /* subcommand name, for messages */
    spectra_options opts;
} cli_ctx;

/* One option of a subcommand, e.g. {"--every", 1, OPT_EVERY}. */
typedef struct cli_spec {
    const char *name;
    int has_value;
    int id;
} cli_spec;

typedef int (*cli_option_fn)(cli_ctx *ctx, void *state, int id, const char *value);

/* Parses a subcommand's arguments. Its own options go to on_option (which returns 0 or CLI_USAGE),
 * the global options (--control, --ingest, --publish, --timeout, --server-key, --key) update ctx unless the subcommand
 * defines an option of the same name, "--help" prints usage and returns CLI_HELP. Positional
 * arguments (and everything after "--") are returned in pos (malloc'd array of argv pointers).
 * Prints "spectra: <cmd>: ..." and returns CLI_USAGE on a bad command line. */
int cli_parse(cli_ctx *ctx, int argc, char **argv, const cli_spec *specs, cli_option_fn on_option,
              void *state, const char *usage, char ***pos, size_t *n_pos);

/* Handles a global option; 1 when name is one, 0 when not, CLI_USAGE for a bad value. */
int cli_global_option(cli_ctx *ctx, const char *name, const char *value);
int cli_is_global_option(const char *name);

/* "spectra: <cmd>: <message>" on stderr. */
void cli_error(const cli_ctx *ctx, const char *fmt, ...) CLI_PRINTF(2, 3);
/* Prints the error and returns CLI_USAGE, with a hint to --help. */
int cli_usage_error(const cli_ctx *ctx, const char *fmt, ...) CLI_PRINTF(2, 3);
/* Reports a failed library call on client and returns CLI_FAIL. */
int cli_client_error(const cli_ctx *ctx, spectra_client *client, int rc);

int cli_parse_u64(const cli_ctx *ctx, const char *opt, const char *value, uint64_t lo, uint64_t hi,
                  uint64_t *out);
int cli_parse_double(const cli_ctx *ctx, const char *opt, const char *value, double lo, double hi,
                     double *out);
/* Seconds (fractions allowed) -> milliseconds, at least 1. */
int cli_parse_seconds_ms(const cli_ctx *ctx, const char *opt, const char *value, int *ms);

/* Prints obj (a msgpack_object) as JSON and a newline; keys listed in skip (NULL-terminated) are
 * left out of a top-level map. Returns CLI_OK or CLI_FAIL. */
int cli_print_json(const cli_ctx *ctx, const struct msgpack_object *obj, const char *const *skip,
                   int pretty);

/* Makes a client from ctx->opts (prints the error and returns NULL when out of memory). */
spectra_client *cli_connect(const cli_ctx *ctx);

double cli_now(void); /* monotonic seconds */

/* Where `spectra push` gets its numbers: text tables (rows, or series with a time column), EDF
 * recordings (series with annotations), and raw or .npy block files. Every source delivers doubles,
 * row-major; cmd_push converts to the wire dtype and sends one message per chunk. */

/* One message's worth of input. */
typedef struct push_chunk {
    size_t n;                      /* rows, samples, or the block's rows (m) */
    double t0;                     /* series: time of the first sample */
    const spectra_event *events;   /* series: markers whose onset lies in this chunk (owned by the
                                      source, valid until the next read); a chunk with n == 0 and
                                      events is an events-only message */
    size_t n_events;
    int64_t block_index;           /* blocks: 0-based */
} push_chunk;

typedef struct push_source {
    spectra_kind kind;
    size_t width;                  /* values per row: d, channels C, or block columns n */
    size_t block_rows;             /* blocks: m, the rows of every block (one block per read) */
    double rate;                   /* series: nominal sample rate, Hz */
    const char *const *names;      /* series: width channel names, or NULL */
    spectra_dtype natural_dtype;   /* the file's number type (the wire's unless --dtype) */
    int binary;                    /* values were not checked for finiteness by the reader */
    uint64_t time_breaks;          /* series: chunks cut short where the time stamps jump */
    /* Reads the next chunk of at most max_rows rows (blocks: exactly block_rows) into rows
     * (row-major doubles). chunk->n == 0 and no events: end of input. */
    int (*read)(struct push_source *src, double *rows, size_t max_rows, push_chunk *chunk);
    const char *(*error)(const struct push_source *src);
    void (*close)(struct push_source *src);
    void *impl;
} push_source;

/* Options that shape what a source reads. */
typedef struct push_source_opts {
    spectra_table_options table;   /* text files */
    spectra_dtype dtype;           /* raw block files: the type of their values */
    size_t block_shape[2];         /* raw block files: m x n (required); .npy: checked if set */
    const char *channels;          /* EDF: labels and/or 1-based ranges; NULL: every signal of the
                                      common sample rate */
    double sample_rate;            /* series from text: Hz; 0: from the first two time stamps */
    double t0;                     /* series: start time override; NaN: from the file */
    uint64_t normalize_rows;       /* series from text: z-score with the first N rows; 0: off */
} push_source_opts;

/* Each opener fills src (which must be zeroed) or returns an error with the message in *err
 * (static or owned by the source, valid until close); src->close must still be called when
 * src->impl is set. SPECTRA_EINVAL means a bad request (wrong option for the file). */
int push_source_text_open(push_source *src, const char *path, const spectra_table_options *opts,
                          const char **err);
int push_source_series_text_open(push_source *src, const char *path, const push_source_opts *opts,
                                 const char **err);
int push_source_edf_open(push_source *src, const char *path, const push_source_opts *opts,
                         const char **err);
int push_source_raw_blocks_open(push_source *src, const char *path, const push_source_opts *opts,
                                const char **err);
int push_source_npy_open(push_source *src, const char *path, const push_source_opts *opts,
                         const char **err);

int cmd_ping(cli_ctx *ctx, int argc, char **argv);
int cmd_create(cli_ctx *ctx, int argc, char **argv);
int cmd_drop(cli_ctx *ctx, int argc, char **argv);
int cmd_attach(cli_ctx *ctx, int argc, char **argv);
int cmd_detach(cli_ctx *ctx, int argc, char **argv);
int cmd_list(cli_ctx *ctx, int argc, char **argv);
int cmd_stats(cli_ctx *ctx, int argc, char **argv);
int cmd_get(cli_ctx *ctx, int argc, char **argv);
int cmd_call(cli_ctx *ctx, int argc, char **argv);
int cmd_algos(cli_ctx *ctx, int argc, char **argv);
int cmd_get_detail(cli_ctx *ctx, const char *stream, const char *pipeline, const char *detail,
                   char **words, size_t n_words, const char *output, int pretty);
int cmd_save(cli_ctx *ctx, int argc, char **argv);
int cmd_position(cli_ctx *ctx, int argc, char **argv);
int cmd_push(cli_ctx *ctx, int argc, char **argv);
int cmd_sub(cli_ctx *ctx, int argc, char **argv);
int cmd_bench(cli_ctx *ctx, int argc, char **argv);
int cmd_keygen(cli_ctx *ctx, int argc, char **argv);

#endif
