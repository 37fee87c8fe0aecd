/* spectra push: send a file to a stream in batches, optionally paced and confirmed. Text tables
 * become rows or series, EDF recordings series with events, raw and .npy files blocks. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nats_io.h"
#include "push.h"

enum {
    OPT_COLUMNS = 1, OPT_SKIP, OPT_DELIM, OPT_HEADER, OPT_NO_HEADER, OPT_DTYPE, OPT_BATCH,
    OPT_RATE, OPT_KIND, OPT_END, OPT_WAIT, OPT_SEND_TIMEOUT, OPT_QUIET, OPT_FORMAT,
    OPT_TIME_COLUMN, OPT_SAMPLE_RATE, OPT_T0, OPT_NORMALIZE, OPT_CHUNK, OPT_CHANNELS,
    OPT_BLOCK_SHAPE, OPT_ID_PREFIX, OPT_RESUME, OPT_NATS, OPT_PARTITIONS, OPT_NATS_CREDS
};

/* Which option belongs to which input, to refuse one that would be silently ignored. */
enum {
    FOR_TEXT = 1,         /* text tables (rows or series) */
    FOR_TEXT_SERIES = 2,  /* series from a text table */
    FOR_SERIES = 4,       /* any series */
    FOR_EDF = 8,
    FOR_BLOCKS = 16,
    FOR_STREAM = 32,      /* rows and series, not blocks */
};

typedef struct push_cmd {
    push_opts o;
    const char *nats_url, *nats_creds;   /* --nats: publish to JetStream instead of ZeroMQ */
    uint64_t partitions;
    const char *given[8];   /* the first option given for each FOR_ bit, for messages */
} push_cmd;

static const char usage[] =
    "usage: spectra push STREAM FILE [options]\n"
    "\n"
    "Sends FILE ('-' for stdin) to STREAM and prints a summary on stderr. What FILE holds:\n"
    "\n"
    "  text (default)  one row per line, fields separated by commas, another delimiter or\n"
    "                  whitespace. A first line with any non-numeric field is a header;\n"
    "                  empty lines and lines starting with '#' are skipped. Every selected\n"
    "                  field must be a finite number: a bad line stops the push with\n"
    "                  FILE:LINE and is never sent.\n"
    "                  Sent as rows, or with --kind series as a time series (see below).\n"
    "  EDF (*.edf, *.bdf)  an EDF/EDF+/BDF recording, sent as a series: the signals sharing the\n"
    "                  most common sample rate (annotation signals excluded) are the channels,\n"
    "                  named by their labels; time starts at the recording's start date and time\n"
    "                  (read as UTC); every annotation becomes an event {t, label, duration} in\n"
    "                  the message whose samples span its onset.\n"
    "  npy (*.npy)     a NumPy array of shape (K, M, N), sent as K blocks of M x N, or (M, N),\n"
    "                  one block: little-endian float64 or float32, C order.\n"
    "  raw             with --kind blocks, any other file: consecutive C-order M x N blocks of\n"
    "                  little-endian --dtype values (--block-shape MxN required).\n"
    "\n"
    "A series stream that does not exist is created with its channel names and sample rate;\n"
    "an existing stream must have the same kind and dimension (channels, or block rows).\n"
    "\n"
    "Text options:\n"
    "  --columns LIST       columns to send, in this order: header names and/or 1-based\n"
    "                       ranges as in cut(1), e.g. 1-57 or HUFL,OT or 2-\n"
    "  --skip-columns LIST  columns to leave out (same syntax), e.g. --skip-columns date\n"
    "  --delimiter C        field delimiter: a character, 'tab', or 'space' for runs of\n"
    "                       blanks (default: detected from the first line)\n"
    "  --header, --no-header  force the first line to be / not to be a header\n"
    "\n"
    "Series from text (--kind series):\n"
    "  --time-column COL    the column of time stamps (name or number), never sent as a\n"
    "                       channel: 'YYYY-MM-DD HH:MM:SS' (ISO 8601, UTC unless an offset\n"
    "                       is given) or seconds. Each message starts at its first row's time;\n"
    "                       a message ends early where the stamps leave the regular grid, so\n"
    "                       gaps in the data stay gaps\n"
    "  --sample-rate HZ     the sample rate (default: from the first two time stamps);\n"
    "                       without --time-column, times are --t0 (default now) + i / HZ\n"
    "  --normalize train=N  z-score every column with the mean and std (ddof 0) of its first\n"
    "                       N rows, as the forecasting benchmarks do; the statistics are\n"
    "                       printed on stderr\n"
    "\n"
    "Series (text or EDF):\n"
    "  --channels LIST      EDF: signals to send, in this order: labels (\"C3\" also matches\n"
    "                       \"C3..\") and/or 1-based ranges; they must share one sample rate\n"
    "  --t0 TIME            start time (seconds or ISO 8601) instead of the file's\n"
    "  --chunk SECONDS      samples per message as a duration (default: 1024 samples, or\n"
    "                       about 50 ms of data when paced)\n"
    "  --rate realtime      pace at the data's own sample rate: a message leaves when its last\n"
    "                       sample would have been recorded (monotonic clock)\n"
    "\n"
    "Blocks (--kind blocks, implied by .npy):\n"
    "  --block-shape MxN    rows x columns of every block (raw files; checked for .npy)\n"
    "  --id-prefix P        block ids \"P0\", \"P1\", ... (default: the 0-based block index)\n"
    "  --end                the last block carries the end-of-stream marker\n"
    "\n"
    "Common options:\n"
    "  --kind rows|series|blocks  what to send (default rows for text)\n"
    "  --format text|edf|npy|raw  how to read FILE (default: from its name and --kind)\n"
    "  --dtype f32|f64      number type on the wire, and of a raw block file (default f64;\n"
    "                       .npy: the file's type)\n"
    "  --batch N            rows or samples per message (default 1024; with --rate, about\n"
    "                       50 ms worth)\n"
    "  --rate R|fast        pace to R rows, samples or blocks per second (monotonic clock);\n"
    "                       fast (the default): as fast as the daemon takes them\n"
    "  --end                finish with an end-of-stream message (blocks: see above)\n"
    "  --wait               wait until the daemon has taken every message and report\n"
    "                       rejections (exit 1 if any)\n"
    "  --send-timeout SEC   fail when the daemon does not take a message within SEC\n"
    "                       (default: wait; the daemon applies backpressure)\n"
    "  --quiet              no summary\n"
    "  --nats URL[,URL...]  publish to NATS JetStream (spectra.in.<partition>.STREAM, one\n"
    "                       Nats-Msg-Id per message) instead of the ingest socket; the stream\n"
    "                       is created by its first message on the worker that owns it\n"
    "  --partitions P       the workers' partitions= (default 16); with --nats\n"
    "  --nats-creds FILE    NATS credentials (.creds); with --nats\n"
    "\n"
    "Sequence numbers: the messages carry producer seq numbers. A push to a stream that\n"
    "already has some continues after the stream's last_seq (see 'spectra position'), so a\n"
    "--dedupe stream does not take it for a resend.\n"
    "  --resume             resend FILE after a failure: skip its first N messages, N the\n"
    "                       stream's durable_seq, and number the rest N+1, N+2, ... (the\n"
    "                       stream's messages must have come from FILE, pushed with the same\n"
    "                       options from seq 1); says on stderr how many were skipped\n"
    "\n"
    "Examples:\n"
    "  spectra push etth1 ETTh1.csv --kind series --time-column date --normalize train=8640\n"
    "  spectra push eeg S001R04.edf --rate realtime --channels C3,Cz,C4\n"
    "  spectra push isvd synth_K400_m128_n8.f64 --kind blocks --block-shape 128x8 --end\n";

static void mark(push_cmd *p, int bits, const char *name)
{
    for (int b = 0; b < 8; b++)
        if ((bits >> b & 1) && !p->given[b])
            p->given[b] = name;
}

static int parse_block_shape(cli_ctx *ctx, const char *v, size_t shape[2])
{
    char *end;
    unsigned long long m = strtoull(v, &end, 10);
    if (end == v || (*end != 'x' && *end != 'X' && *end != ',') || !isdigit((unsigned char)end[1]))
        return cli_usage_error(ctx, "--block-shape: '%s' is not MxN (e.g. 128x8)", v);
    const char *second = end + 1;
    unsigned long long n = strtoull(second, &end, 10);
    if (*end || m == 0 || n == 0 || m > (1u << 20) || n > (1u << 30))
        return cli_usage_error(ctx, "--block-shape: '%s' is not MxN with M in [1, 2^20] and N >= 1",
                               v);
    shape[0] = (size_t)m;
    shape[1] = (size_t)n;
    return 0;
}

static int on_option(cli_ctx *ctx, void *st, int id, const char *v)
{
    push_cmd *p = st;
    push_opts *o = &p->o;
    spectra_table_options *t = &o->src.table;
    switch (id) {
    case OPT_COLUMNS: mark(p, FOR_TEXT, "--columns"); t->columns = v; return 0;
    case OPT_SKIP: mark(p, FOR_TEXT, "--skip-columns"); t->skip_columns = v; return 0;
    case OPT_DELIM:
        mark(p, FOR_TEXT, "--delimiter");
        if (strcmp(v, "tab") == 0 || strcmp(v, "\\t") == 0)
            t->delimiter = '\t';
        else if (strcmp(v, "space") == 0 || strcmp(v, "whitespace") == 0 || strcmp(v, " ") == 0)
            t->delimiter = ' ';
        else if (strlen(v) == 1 && strchr("\"#\r\n", v[0]) == NULL)
            t->delimiter = v[0];
        else
            return cli_usage_error(ctx, "--delimiter: '%s' is not one character, tab or space", v);
        return 0;
    case OPT_HEADER: mark(p, FOR_TEXT, "--header"); t->header = 1; return 0;
    case OPT_NO_HEADER: mark(p, FOR_TEXT, "--no-header"); t->header = 0; return 0;
    case OPT_DTYPE:
        if (spectra_dtype_parse(v, &o->dtype) || o->dtype == SPECTRA_I16)
            return cli_usage_error(ctx, "--dtype: '%s' is not f32 or f64", v);
        o->dtype_given = 1;
        return 0;
    case OPT_BATCH:
        mark(p, FOR_STREAM, "--batch");
        o->batch_given = 1;
        return cli_parse_u64(ctx, "--batch", v, 1, 1u << 24, &o->batch);
    case OPT_RATE:
        if (strcmp(v, "realtime") == 0) {
            mark(p, FOR_SERIES, "--rate realtime");
            o->realtime = 1;
            o->rate = 0;
            return 0;
        }
        o->realtime = 0;
        if (strcmp(v, "fast") == 0) {
            o->rate = 0;
            return 0;
        }
        return cli_parse_double(ctx, "--rate", v, 1e-6, 1e12, &o->rate);
    case OPT_KIND:
        if (spectra_kind_parse(v, &o->kind))
            return cli_usage_error(ctx, "--kind: '%s' is not rows, series or blocks", v);
        o->kind_given = 1;
        return 0;
    case OPT_FORMAT:
        if (strcmp(v, "text") == 0) o->format = PUSH_FORMAT_TEXT;
        else if (strcmp(v, "edf") == 0) o->format = PUSH_FORMAT_EDF;
        else if (strcmp(v, "npy") == 0) o->format = PUSH_FORMAT_NPY;
        else if (strcmp(v, "raw") == 0) o->format = PUSH_FORMAT_RAW;
        else return cli_usage_error(ctx, "--format: '%s' is not text, edf, npy or raw", v);
        return 0;
    case OPT_TIME_COLUMN:
        mark(p, FOR_TEXT_SERIES, "--time-column");
        t->time_column = v;
        return 0;
    case OPT_SAMPLE_RATE:
        mark(p, FOR_TEXT_SERIES, "--sample-rate");
        return cli_parse_double(ctx, "--sample-rate", v, 1e-12, 1e12, &o->src.sample_rate);
    case OPT_T0:
        mark(p, FOR_SERIES, "--t0");
        if (spectra_time_parse(v, &o->src.t0))
            return cli_usage_error(ctx, "--t0: '%s' is not seconds or YYYY-MM-DD HH:MM:SS", v);
        return 0;
    case OPT_NORMALIZE:
        mark(p, FOR_TEXT_SERIES, "--normalize");
        if (strncmp(v, "train=", 6) != 0)
            return cli_usage_error(ctx, "--normalize: '%s' is not train=ROWS", v);
        return cli_parse_u64(ctx, "--normalize train", v + 6, 1, 1ull << 40,
                             &o->src.normalize_rows);
    case OPT_CHUNK:
        mark(p, FOR_SERIES, "--chunk");
        return cli_parse_double(ctx, "--chunk", v, 1e-9, 1e9, &o->chunk_seconds);
    case OPT_CHANNELS: mark(p, FOR_EDF, "--channels"); o->src.channels = v; return 0;
    case OPT_BLOCK_SHAPE:
        mark(p, FOR_BLOCKS, "--block-shape");
        return parse_block_shape(ctx, v, o->src.block_shape);
    case OPT_NATS:
        p->nats_url = v;
        return 0;
    case OPT_NATS_CREDS:
        p->nats_creds = v;
        return 0;
    case OPT_PARTITIONS:
        return cli_parse_u64(ctx, "--partitions", v, 1, 1024, &p->partitions);
    case OPT_ID_PREFIX:
        mark(p, FOR_BLOCKS, "--id-prefix");
        if (!*v || strlen(v) > 40)
            return cli_usage_error(ctx, "--id-prefix: '%s' must be 1 to 40 bytes", v);
        o->id_prefix = v;
        return 0;
    case OPT_END: o->end = 1; return 0;
    case OPT_WAIT: o->wait = 1; return 0;
    case OPT_RESUME: o->resume = 1; return 0;
    case OPT_QUIET: o->quiet = 1; return 0;
    case OPT_SEND_TIMEOUT:
        return cli_parse_seconds_ms(ctx, "--send-timeout", v, &o->send_timeout_ms);
    }
    return CLI_USAGE;
}

static int has_suffix(const char *path, const char *suffix)
{
    size_t n = strlen(path), k = strlen(suffix);
    return n > k && strcasecmp(path + n - k, suffix) == 0;
}

static const char *format_name(push_format f)
{
    switch (f) {
    case PUSH_FORMAT_TEXT: return "a text file";
    case PUSH_FORMAT_EDF: return "an EDF file";
    case PUSH_FORMAT_NPY: return "an .npy file";
    case PUSH_FORMAT_RAW: return "a raw block file";
    default: return "this file";
    }
}

/* Settles format and kind from the file name and the options, and refuses options that do not
 * apply to them. */
static int resolve_input(cli_ctx *ctx, push_cmd *p, const char *path)
{
    push_opts *o = &p->o;
    if (o->format == PUSH_FORMAT_AUTO) {
        if (has_suffix(path, ".edf") || has_suffix(path, ".bdf"))
            o->format = PUSH_FORMAT_EDF;
        else if (has_suffix(path, ".npy"))
            o->format = PUSH_FORMAT_NPY;
        else
            o->format = o->kind_given && o->kind == SPECTRA_BLOCKS ? PUSH_FORMAT_RAW
                                                                  : PUSH_FORMAT_TEXT;
    }
    spectra_kind implied = SPECTRA_BLOCKS;
    if (o->format == PUSH_FORMAT_EDF)
        implied = SPECTRA_SERIES;
    else if (o->format == PUSH_FORMAT_TEXT)
        implied = o->kind_given ? o->kind : SPECTRA_ROWS;
    if (o->format == PUSH_FORMAT_TEXT && o->kind == SPECTRA_BLOCKS && o->kind_given)
        return cli_usage_error(ctx, "--kind blocks reads raw or .npy files, not text "
                                    "(use --format raw)");
    if (o->kind_given && o->kind != implied)
        return cli_usage_error(ctx, "--kind %s: %s holds %s", spectra_kind_name(o->kind),
                               format_name(o->format), spectra_kind_name(implied));
    o->kind = implied;
    int allowed = 0;
    if (o->format == PUSH_FORMAT_TEXT)
        allowed |= FOR_TEXT | FOR_STREAM;
    if (o->format == PUSH_FORMAT_TEXT && o->kind == SPECTRA_SERIES)
        allowed |= FOR_TEXT_SERIES;
    if (o->kind == SPECTRA_SERIES)
        allowed |= FOR_SERIES | FOR_STREAM;
    if (o->format == PUSH_FORMAT_EDF)
        allowed |= FOR_EDF;
    if (o->kind == SPECTRA_BLOCKS)
        allowed |= FOR_BLOCKS;
    for (int b = 0; b < 8; b++)
        if (p->given[b] && !(allowed >> b & 1))
            return cli_usage_error(ctx, "%s does not apply to %s sent as %s", p->given[b],
                                   format_name(o->format), spectra_kind_name(o->kind));
    return 0;
}

static int open_source(push_source *src, const char *path, const push_opts *o, const char **err)
{
    switch (o->format) {
    case PUSH_FORMAT_EDF: return push_source_edf_open(src, path, &o->src, err);
    case PUSH_FORMAT_NPY: return push_source_npy_open(src, path, &o->src, err);
    case PUSH_FORMAT_RAW: return push_source_raw_blocks_open(src, path, &o->src, err);
    default:
        if (o->kind == SPECTRA_SERIES)
            return push_source_series_text_open(src, path, &o->src, err);
        return push_source_text_open(src, path, &o->src.table, err);
    }
}

/* Rows or samples per message, once the source (and so a series' rate) is known. */
static void settle_batch(push_opts *o, const push_source *src)
{
    if (src->kind == SPECTRA_BLOCKS || o->batch_given)
        return;
    double pace = o->realtime ? src->rate : o->rate;
    if (o->chunk_seconds > 0) {
        double b = round(o->chunk_seconds * src->rate);
        o->batch = b < 1 ? 1 : b > (1u << 24) ? (1u << 24) : (uint64_t)b;
    } else if (pace > 0) {
        double b = ceil(pace / 20.0);
        o->batch = b < 1 ? 1 : b > 1024 ? 1024 : (uint64_t)b;
    }
}

/* Per-stream counters from `stats` (all 0 when the stream is unknown). */
typedef struct stream_counts {
    uint64_t messages, rejected, duplicates;
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
    snprintf(path, sizeof path, "streams.%s.duplicates", stream);
    spectra_msg_uint(reply, path, &out->duplicates);
    spectra_msg_free(reply);
    return 0;
}

/* Polls stats until the daemon has counted `sent` more messages (accepted, rejected or dropped as
 * duplicates) than in
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
        uint64_t total = (now.messages - before->messages) + (now.rejected - before->rejected) +
                         (now.duplicates - before->duplicates);
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


static void print_summary(const char *stream, const push_source *src, const push_opts *o,
                          const push_totals *tot, double secs)
{
    double per_s = secs > 0 ? (double)tot->rows / secs : 0.0;
    const char *dtype = spectra_dtype_name(o->dtype);
    switch (src->kind) {
    case SPECTRA_SERIES:
        fprintf(stderr,
                "spectra: push: %s: %llu samples x %zu channels (%s, %.9g Hz) in %llu messages "
                "with %llu events, %llu bytes, %.3f s, %.0f samples/s\n",
                stream, (unsigned long long)tot->rows, src->width, dtype, src->rate,
                (unsigned long long)tot->messages, (unsigned long long)tot->events,
                (unsigned long long)tot->bytes, secs, per_s);
        if (src->time_breaks)
            fprintf(stderr, "spectra: push: %s: %llu messages end early where the time stamps "
                            "leave the %.9g Hz grid (gaps in the data)\n",
                    stream, (unsigned long long)src->time_breaks, src->rate);
        break;
    case SPECTRA_BLOCKS:
        fprintf(stderr,
                "spectra: push: %s: %llu blocks of %zu x %zu (%s) in %llu messages, %llu bytes, "
                "%.3f s, %.0f blocks/s\n",
                stream, (unsigned long long)tot->rows, src->block_rows, src->width, dtype,
                (unsigned long long)tot->messages, (unsigned long long)tot->bytes, secs, per_s);
        break;
    default:
        fprintf(stderr,
                "spectra: push: %s: %llu rows x %zu (%s) in %llu messages, %llu bytes, %.3f s, "
                "%.0f rows/s\n",
                stream, (unsigned long long)tot->rows, src->width, dtype,
                (unsigned long long)tot->messages, (unsigned long long)tot->bytes, secs, per_s);
    }
}

static void print_resumed(const char *stream, const push_source *src, const push_totals *tot,
                          uint64_t durable_seq)
{
    const char *unit = src->kind == SPECTRA_BLOCKS   ? "blocks"
                       : src->kind == SPECTRA_SERIES ? "samples"
                                                     : "rows";
    fprintf(stderr, "spectra: push: %s: resumed after seq %llu: skipped %llu messages (%llu %s)\n",
            stream, (unsigned long long)durable_seq, (unsigned long long)tot->skipped,
            (unsigned long long)tot->skipped_rows, unit);
    if (tot->skipped < durable_seq)
        fprintf(stderr, "spectra: push: %s: the input has only %llu messages, fewer than the "
                        "stream's durable_seq %llu (another file, or other options?)\n",
                stream, (unsigned long long)tot->skipped, (unsigned long long)durable_seq);
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
        {"--quiet", 0, OPT_QUIET}, {"--format", 1, OPT_FORMAT},
        {"--time-column", 1, OPT_TIME_COLUMN}, {"--sample-rate", 1, OPT_SAMPLE_RATE},
        {"--t0", 1, OPT_T0}, {"--normalize", 1, OPT_NORMALIZE},
        {"--chunk", 1, OPT_CHUNK}, {"--channels", 1, OPT_CHANNELS},
        {"--block-shape", 1, OPT_BLOCK_SHAPE}, {"--id-prefix", 1, OPT_ID_PREFIX},
        {"--resume", 0, OPT_RESUME}, {"--nats", 1, OPT_NATS}, {"--partitions", 1, OPT_PARTITIONS},
        {"--nats-creds", 1, OPT_NATS_CREDS}, {NULL, 0, 0}};
    push_cmd p;
    memset(&p, 0, sizeof p);
    push_opts *o = &p.o;
    spectra_table_options_init(&o->src.table);
    o->src.t0 = NAN;
    o->dtype = SPECTRA_F64;
    o->batch = 1024;
    o->kind = SPECTRA_ROWS;
    o->send_timeout_ms = -1;
    p.partitions = 16;
    char **pos;
    size_t n;
    int rc = cli_parse(ctx, argc, argv, specs, on_option, &p, usage, &pos, &n);
    if (rc)
        return rc;
    if (n != 2) {
        rc = n < 2 ? cli_usage_error(ctx, "need STREAM and FILE")
                   : cli_usage_error(ctx, "unexpected argument '%s'", pos[2]);
        free(pos);
        return rc;
    }
    const char *stream = pos[0], *path = pos[1];
    o->path = path;
    if (p.nats_url && (o->wait || o->resume)) {
        free(pos);
        return cli_usage_error(ctx, "--wait and --resume need the control socket: not with --nats");
    }
    if (!spectra_name_valid(stream)) {
        rc = cli_usage_error(ctx, "bad stream name '%s' (1 to 64 of [A-Za-z0-9_-])", stream);
        free(pos);
        return rc;
    }
    if ((rc = resolve_input(ctx, &p, path))) {
        free(pos);
        return rc;
    }
    o->src.dtype = o->dtype;

    push_source src = {0};
    const char *err = NULL;
    rc = open_source(&src, path, o, &err);
    if (rc) {
        cli_error(ctx, "%s", err);
        if (src.impl)
            src.close(&src);
        free(pos);
        return rc == SPECTRA_EINVAL ? CLI_USAGE : CLI_FAIL;
    }
    if (!o->dtype_given)
        o->dtype = src.natural_dtype;
    settle_batch(o, &src);

    /* Queue at most ~64 MiB in the socket: ZeroMQ's high-water mark counts messages, not bytes. */
    size_t rows_per_msg = src.kind == SPECTRA_BLOCKS ? src.block_rows : (size_t)o->batch;
    size_t msg_bytes = rows_per_msg * src.width * spectra_dtype_size(o->dtype);
    size_t hwm = ((size_t)64 << 20) / (msg_bytes ? msg_bytes : 1);
    ctx->opts.send_hwm = hwm < 4 ? 4 : hwm > 1000 ? 1000 : (int)hwm;
    ctx->opts.send_timeout_ms = o->send_timeout_ms;
    ctx->opts.linger_ms = o->send_timeout_ms; /* < 0: deliver everything before exiting */
    spectra_client *c = cli_connect(ctx);
    if (!c) {
        src.close(&src);
        free(pos);
        return CLI_FAIL;
    }
    stream_counts before = {0};
    push_totals tot = {0};
    int status = CLI_OK;
    int existed = 0;
    uint64_t skip = 0;
    cli_nats *nats = NULL;
    if (p.nats_url) {
        /* JetStream stores the messages; whichever worker owns the stream applies them. */
        if (!(nats = cli_nats_open(ctx, p.nats_url, p.nats_creds, (unsigned)p.partitions)))
            status = CLI_FAIL;
        else
            spectra_set_ingest_sink(c, cli_nats_sink, nats);
    } else {
        /* A daemon that is not running would let the pushes queue up and block forever. */
        rc = spectra_ping(c, NULL);
        if (rc)
            status = cli_client_error(ctx, c, rc);
        if (status == CLI_OK)
            status = push_prepare_stream(ctx, c, stream, &src, &existed);
        if (status == CLI_OK && existed)
            status = push_continue_seq(ctx, c, stream, o, &skip);
    }
    if (status == CLI_OK && o->wait && (rc = read_counts(c, stream, &before)))
        status = cli_client_error(ctx, c, rc);
    double start = cli_now();
    if (status == CLI_OK)
        status = push_send_all(ctx, c, stream, &src, o, skip, &tot);
    if (status == CLI_OK && o->resume && !o->quiet)
        print_resumed(stream, &src, &tot, skip);
    if (status == CLI_OK && o->wait)
        status = wait_taken(ctx, c, stream, &before, tot.messages);
    if (nats) {
        int closed = cli_nats_close(ctx, nats);   /* every message acknowledged by JetStream */
        if (status == CLI_OK)
            status = closed;
    }
    spectra_close(c); /* waits until queued messages are delivered */
    double secs = cli_now() - start;
    if (!o->quiet && status == CLI_OK)
        print_summary(stream, &src, o, &tot, secs);
    src.close(&src);
    free(pos);
    return status;
}
