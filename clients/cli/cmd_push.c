/* spectra push: send a file of numbers to a stream in batches, optionally paced and confirmed. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

enum {
    OPT_COLUMNS = 1, OPT_SKIP, OPT_DELIM, OPT_HEADER, OPT_NO_HEADER, OPT_DTYPE, OPT_BATCH,
    OPT_RATE, OPT_KIND, OPT_END, OPT_WAIT, OPT_SEND_TIMEOUT, OPT_QUIET
};

typedef struct push_opts {
    spectra_table_options table;
    spectra_dtype dtype;
    uint64_t batch;
    int batch_given;
    double rate;
    spectra_kind kind;
    int end, wait, quiet;
    int send_timeout_ms;
} push_opts;

static const char usage[] =
    "usage: spectra push STREAM FILE [options]\n"
    "\n"
    "Sends the rows of FILE ('-' for stdin) to STREAM: text with one row per line, fields\n"
    "separated by commas, another delimiter or whitespace. A first line with any non-numeric\n"
    "field is a header; empty lines and lines starting with '#' are skipped. Every selected\n"
    "field must be a finite number: a bad line stops the push with FILE:LINE and is never sent.\n"
    "Prints a summary (rows, messages, bytes, seconds, rows/s) on stderr.\n"
    "\n"
    "Options:\n"
    "  --columns LIST       columns to send, in this order: header names and/or 1-based\n"
    "                       ranges as in cut(1), e.g. 1-57 or HUFL,OT or 2-\n"
    "  --skip-columns LIST  columns to leave out (same syntax), e.g. --skip-columns date\n"
    "  --delimiter C        field delimiter: a character, 'tab', or 'space' for runs of\n"
    "                       blanks (default: detected from the first line)\n"
    "  --header, --no-header  force the first line to be / not to be a header\n"
    "  --dtype f32|f64      number type on the wire (default f64)\n"
    "  --batch N            rows per message (default 1024; with --rate, about rate/20)\n"
    "  --rate R             pace to R rows per second (monotonic clock)\n"
    "  --kind rows          stream kind (rows; series and blocks files come later)\n"
    "  --end                finish with an end-of-stream message\n"
    "  --wait               wait until the daemon has taken every message and report\n"
    "                       rejections (exit 1 if any)\n"
    "  --send-timeout SEC   fail when the daemon does not take a message within SEC\n"
    "                       (default: wait; the daemon applies backpressure)\n"
    "  --quiet              no summary\n";

static int on_option(cli_ctx *ctx, void *st, int id, const char *v)
{
    push_opts *o = st;
    switch (id) {
    case OPT_COLUMNS: o->table.columns = v; return 0;
    case OPT_SKIP: o->table.skip_columns = v; return 0;
    case OPT_DELIM:
        if (strcmp(v, "tab") == 0 || strcmp(v, "\\t") == 0)
            o->table.delimiter = '\t';
        else if (strcmp(v, "space") == 0 || strcmp(v, "whitespace") == 0 || strcmp(v, " ") == 0)
            o->table.delimiter = ' ';
        else if (strlen(v) == 1 && strchr("\"#\r\n", v[0]) == NULL)
            o->table.delimiter = v[0];
        else
            return cli_usage_error(ctx, "--delimiter: '%s' is not one character, tab or space", v);
        return 0;
    case OPT_HEADER: o->table.header = 1; return 0;
    case OPT_NO_HEADER: o->table.header = 0; return 0;
    case OPT_DTYPE:
        if (spectra_dtype_parse(v, &o->dtype) || o->dtype == SPECTRA_I16)
            return cli_usage_error(ctx, "--dtype: '%s' is not f32 or f64", v);
        return 0;
    case OPT_BATCH:
        o->batch_given = 1;
        return cli_parse_u64(ctx, "--batch", v, 1, 1u << 24, &o->batch);
    case OPT_RATE: return cli_parse_double(ctx, "--rate", v, 1e-6, 1e12, &o->rate);
    case OPT_KIND:
        if (spectra_kind_parse(v, &o->kind))
            return cli_usage_error(ctx, "--kind: '%s' is not rows, series or blocks", v);
        if (o->kind != SPECTRA_ROWS)
            return cli_usage_error(ctx, "--kind %s: only rows files can be pushed so far", v);
        return 0;
    case OPT_END: o->end = 1; return 0;
    case OPT_WAIT: o->wait = 1; return 0;
    case OPT_QUIET: o->quiet = 1; return 0;
    case OPT_SEND_TIMEOUT: return cli_parse_seconds_ms(ctx, "--send-timeout", v, &o->send_timeout_ms);
    }
    return CLI_USAGE;
}

static void sleep_until(double deadline)
{
    struct timespec ts;
    ts.tv_sec = (time_t)deadline;
    ts.tv_nsec = (long)((deadline - (double)ts.tv_sec) * 1e9);
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
    }
}

/* Per-stream counters from `stats` (all 0 when the stream is unknown). */
typedef struct stream_counts {
    uint64_t messages, rejected;
    int known;
} stream_counts;

static int read_counts(spectra_client *c, const char *stream, stream_counts *out)
{
    spectra_msg *reply;
    int rc = spectra_stats(c, &reply);
    if (rc)
        return rc;
    char path[SPECTRA_NAME_MAX + 64];
    memset(out, 0, sizeof *out);
    snprintf(path, sizeof path, "streams.%s.messages", stream);
    out->known = spectra_msg_uint(reply, path, &out->messages) == 0;
    snprintf(path, sizeof path, "streams.%s.rejected", stream);
    spectra_msg_uint(reply, path, &out->rejected);
    spectra_msg_free(reply);
    return 0;
}

/* Checks an existing stream's kind and dimension against what will be pushed: the ingest path has
 * no reply, so a mismatch would otherwise be dropped silently. */
static int check_stream(const cli_ctx *ctx, spectra_client *c, const char *stream,
                        spectra_kind kind, size_t width)
{
    spectra_msg *reply;
    int rc = spectra_list(c, &reply);
    if (rc)
        return cli_client_error(ctx, c, rc);
    size_t n = 0;
    spectra_msg_size(reply, "streams", &n);
    for (size_t i = 0; i < n; i++) {
        char path[64], name[SPECTRA_NAME_MAX + 1], kind_name[16] = "";
        uint64_t dim = 0;
        snprintf(path, sizeof path, "streams.%zu.stream", i);
        if (spectra_msg_str(reply, path, name, sizeof name) || strcmp(name, stream) != 0)
            continue;
        snprintf(path, sizeof path, "streams.%zu.kind", i);
        spectra_msg_str(reply, path, kind_name, sizeof kind_name);
        snprintf(path, sizeof path, "streams.%zu.dim", i);
        spectra_msg_uint(reply, path, &dim);
        spectra_msg_free(reply);
        if (strcmp(kind_name, spectra_kind_name(kind)) != 0) {
            cli_error(ctx, "stream '%s' is of kind %s, not %s", stream, kind_name,
                      spectra_kind_name(kind));
            return CLI_FAIL;
        }
        if (dim != width) {
            cli_error(ctx, "stream '%s' has dim %llu but %zu columns are selected", stream,
                      (unsigned long long)dim, width);
            return CLI_FAIL;
        }
        return CLI_OK;
    }
    spectra_msg_free(reply);
    return CLI_OK;
}

/* Polls stats until the daemon has counted `sent` more messages (accepted or rejected) than in
 * `before`; gives up when the counters stop moving for the request timeout. */
static int wait_taken(const cli_ctx *ctx, spectra_client *c, const char *stream,
                      const stream_counts *before, uint64_t sent)
{
    stream_counts now = {0};
    uint64_t last_total = UINT64_MAX;
    double idle_since = cli_now();
    double patience = ctx->opts.timeout_ms / 1000.0;
    for (;;) {
        int rc = read_counts(c, stream, &now);
        if (rc)
            return cli_client_error(ctx, c, rc);
        uint64_t total = (now.messages - before->messages) + (now.rejected - before->rejected);
        if (total >= sent)
            break;
        if (total != last_total) {
            last_total = total;
            idle_since = cli_now();
        } else if (cli_now() - idle_since > patience) {
            if (!now.known)
                cli_error(ctx, "the daemon has no stream '%s' (auto_create off? see spectra stats)",
                          stream);
            else
                cli_error(ctx, "the daemon counted %llu of %llu messages, then nothing for %.3g s",
                          (unsigned long long)total, (unsigned long long)sent, patience);
            return CLI_FAIL;
        }
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    uint64_t rejected = now.rejected - before->rejected;
    if (rejected) {
        cli_error(ctx, "the daemon rejected %llu of %llu messages (see 'spectra stats')",
                  (unsigned long long)rejected, (unsigned long long)sent);
        return CLI_FAIL;
    }
    return CLI_OK;
}

typedef struct push_totals {
    uint64_t rows, messages, bytes;
} push_totals;

static int push_all(const cli_ctx *ctx, spectra_client *c, const char *stream, push_source *src,
                    const push_opts *o, push_totals *tot)
{
    size_t width = src->width;
    size_t batch = (size_t)o->batch;
    double *rows = malloc(batch * width * sizeof *rows);
    float *rows32 = o->dtype == SPECTRA_F32 ? malloc(batch * width * sizeof *rows32) : NULL;
    if (!rows || (o->dtype == SPECTRA_F32 && !rows32)) {
        free(rows);
        free(rows32);
        cli_error(ctx, "out of memory for a batch of %zu x %zu", batch, width);
        return CLI_FAIL;
    }
    double start = cli_now();
    int status = CLI_OK;
    for (;;) {
        size_t n;
        int rc = src->read(src, rows, batch, &n);
        if (rc) {
            cli_error(ctx, "%s", src->error(src));
            if (tot->messages)
                cli_error(ctx, "%llu rows in %llu messages were sent before the error",
                          (unsigned long long)tot->rows, (unsigned long long)tot->messages);
            status = CLI_FAIL;
            break;
        }
        if (n == 0)
            break;
        const void *data = rows;
        if (rows32) {
            for (size_t i = 0; i < n * width; i++)
                rows32[i] = (float)rows[i];
            data = rows32;
        }
        if (o->rate > 0)
            sleep_until(start + (double)tot->rows / o->rate);
        rc = spectra_push_rows(c, stream, o->dtype, data, n, width);
        if (rc) {
            status = cli_client_error(ctx, c, rc);
            break;
        }
        tot->rows += n;
        tot->messages++;
        tot->bytes += n * width * spectra_dtype_size(o->dtype);
    }
    free(rows);
    free(rows32);
    if (status == CLI_OK && o->end) {
        int rc = spectra_push_end(c, stream, o->kind, width);
        if (rc)
            return cli_client_error(ctx, c, rc);
        tot->messages++;
    }
    return status;
}

int cmd_push(cli_ctx *ctx, int argc, char **argv)
{
    static const cli_spec specs[] = {
        {"--columns", 1, OPT_COLUMNS}, {"--skip-columns", 1, OPT_SKIP},
        {"--delimiter", 1, OPT_DELIM}, {"--header", 0, OPT_HEADER},
        {"--no-header", 0, OPT_NO_HEADER}, {"--dtype", 1, OPT_DTYPE},
        {"--batch", 1, OPT_BATCH}, {"--rate", 1, OPT_RATE},
        {"--kind", 1, OPT_KIND}, {"--end", 0, OPT_END},
        {"--wait", 0, OPT_WAIT}, {"--send-timeout", 1, OPT_SEND_TIMEOUT},
        {"--quiet", 0, OPT_QUIET}, {NULL, 0, 0}};
    push_opts o;
    memset(&o, 0, sizeof o);
    spectra_table_options_init(&o.table);
    o.dtype = SPECTRA_F64;
    o.batch = 1024;
    o.kind = SPECTRA_ROWS;
    o.send_timeout_ms = -1;
    char **pos;
    size_t n;
    int rc = cli_parse(ctx, argc, argv, specs, on_option, &o, usage, &pos, &n);
    if (rc)
        return rc;
    if (n != 2) {
        rc = n < 2 ? cli_usage_error(ctx, "need STREAM and FILE")
                   : cli_usage_error(ctx, "unexpected argument '%s'", pos[2]);
        free(pos);
        return rc;
    }
    const char *stream = pos[0], *path = pos[1];
    if (!spectra_name_valid(stream)) {
        rc = cli_usage_error(ctx, "bad stream name '%s' (1 to 64 of [A-Za-z0-9_-])", stream);
        free(pos);
        return rc;
    }
    if (o.rate > 0 && !o.batch_given) {
        double b = ceil(o.rate / 20.0);
        o.batch = b < 1 ? 1 : b > 1024 ? 1024 : (uint64_t)b;
    }

    push_source src = {0};
    const char *err = NULL;
    rc = push_source_text_open(&src, path, &o.table, &err);
    if (rc) {
        cli_error(ctx, "%s", err);
        if (src.impl)
            src.close(&src);
        free(pos);
        return rc == SPECTRA_EINVAL ? CLI_USAGE : CLI_FAIL;
    }

    /* Queue at most ~64 MiB in the socket: ZeroMQ's high-water mark counts messages, not bytes. */
    size_t msg_bytes = (size_t)o.batch * src.width * spectra_dtype_size(o.dtype);
    size_t hwm = ((size_t)64 << 20) / (msg_bytes ? msg_bytes : 1);
    ctx->opts.send_hwm = hwm < 4 ? 4 : hwm > 1000 ? 1000 : (int)hwm;
    ctx->opts.send_timeout_ms = o.send_timeout_ms;
    ctx->opts.linger_ms = o.send_timeout_ms; /* < 0: deliver everything before exiting */
    spectra_client *c = cli_connect(ctx);
    if (!c) {
        src.close(&src);
        free(pos);
        return CLI_FAIL;
    }
    stream_counts before = {0};
    push_totals tot = {0};
    /* A daemon that is not running would let the pushes queue up and block forever. */
    int status = CLI_OK;
    rc = spectra_ping(c, NULL);
    if (rc)
        status = cli_client_error(ctx, c, rc);
    if (status == CLI_OK)
        status = check_stream(ctx, c, stream, o.kind, src.width);
    if (status == CLI_OK && o.wait && (rc = read_counts(c, stream, &before)))
        status = cli_client_error(ctx, c, rc);
    double start = cli_now();
    if (status == CLI_OK)
        status = push_all(ctx, c, stream, &src, &o, &tot);
    if (status == CLI_OK && o.wait)
        status = wait_taken(ctx, c, stream, &before, tot.messages);
    spectra_close(c); /* waits until queued messages are delivered */
    double secs = cli_now() - start;
    if (!o.quiet && status == CLI_OK)
        fprintf(stderr,
                "spectra: push: %s: %llu rows x %zu (%s) in %llu messages, %llu bytes, %.3f s, "
                "%.0f rows/s\n",
                stream, (unsigned long long)tot.rows, src.width, spectra_dtype_name(o.dtype),
                (unsigned long long)tot.messages, (unsigned long long)tot.bytes, secs,
                secs > 0 ? (double)tot.rows / secs : 0.0);
    src.close(&src);
    free(pos);
    return status;
}
