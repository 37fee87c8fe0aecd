/* The control subcommands: ping, create, drop, attach, detach, list, stats, get. */
#include <stdint.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char *const reply_envelope[] = {"ok", "id", NULL};

enum {
    OPT_PRETTY = 1, OPT_KIND, OPT_DIM, OPT_RATE, OPT_CHANNELS, OPT_EVERY, OPT_INTERVAL, OPT_DETAIL,
    OPT_OUTPUT, OPT_UNITS, OPT_DURABILITY, OPT_DEDUPE
};

typedef struct op_state {
    int pretty;
    const char *kind;
    uint64_t dim;
    int has_dim;
    double rate;
    const char *channels, *units;
    int64_t every, interval_ms;
    const char *detail, *output;
    spectra_durability durability;
    int dedupe;
} op_state;

static int on_option(cli_ctx *ctx, void *st, int id, const char *value)
{
    op_state *s = st;
    uint64_t u;
    switch (id) {
    case OPT_PRETTY: s->pretty = 1; return 0;
    case OPT_KIND: s->kind = value; return 0;
    case OPT_DIM:
        s->has_dim = 1;
        return cli_parse_u64(ctx, "--dim", value, 1, UINT32_MAX, &s->dim);
    case OPT_RATE: return cli_parse_double(ctx, "--rate", value, 1e-9, 1e12, &s->rate);
    case OPT_CHANNELS: s->channels = value; return 0;
    case OPT_UNITS: s->units = value; return 0;
    case OPT_DURABILITY:
        if (spectra_durability_parse(value, &s->durability))
            return cli_usage_error(ctx, "--durability: '%s' is not none, snapshot or journal",
                                   value);
        return 0;
    case OPT_DEDUPE: s->dedupe = 1; return 0;
    case OPT_DETAIL: s->detail = value; return 0;
    case OPT_OUTPUT: s->output = value; return 0;
    case OPT_EVERY:
        if (cli_parse_u64(ctx, "--every", value, 0, INT64_MAX, &u))
            return CLI_USAGE;
        s->every = (int64_t)u;
        return 0;
    case OPT_INTERVAL:
        if (cli_parse_u64(ctx, "--interval-ms", value, 0, INT64_MAX, &u))
            return CLI_USAGE;
        s->interval_ms = (int64_t)u;
        return 0;
    }
    return CLI_USAGE;
}

static const cli_spec pretty_specs[] = {{"--pretty", 0, OPT_PRETTY}, {NULL, 0, 0}};

/* Parses args with specs and checks the positional count is within [min, max]. */
static int parse(cli_ctx *ctx, int argc, char **argv, const cli_spec *specs, op_state *s,
                 const char *usage, char ***pos, size_t *n, size_t min, size_t max)
{
    memset(s, 0, sizeof *s);
    s->every = -1;
    s->interval_ms = -1;
    int rc = cli_parse(ctx, argc, argv, specs, on_option, s, usage, pos, n);
    if (rc)
        return rc;
    if (*n < min || *n > max) {
        rc = *n < min ? cli_usage_error(ctx, "missing arguments")
                      : cli_usage_error(ctx, "unexpected argument '%s'", (*pos)[max]);
        free(*pos);
        *pos = NULL;
        return rc;
    }
    return 0;
}

/* Runs one op that returns a reply and prints it (fields other than ok/id, or the value of
 * `field` alone). */
static int print_reply_op(cli_ctx *ctx, int pretty, const char *field,
                          int (*op)(spectra_client *, void *, spectra_msg **), void *arg)
{
    spectra_client *c = cli_connect(ctx);
    if (!c)
        return CLI_FAIL;
    spectra_msg *reply = NULL;
    int rc = op(c, arg, &reply);
    int status;
    if (rc) {
        status = cli_client_error(ctx, c, rc);
    } else if (field) {
        const struct msgpack_object *o;
        if (spectra_msg_find(reply, field, &o) == 0) {
            status = cli_print_json(ctx, o, NULL, pretty);
        } else {
            cli_error(ctx, "reply has no \"%s\"", field);
            status = CLI_FAIL;
        }
    } else {
        status = cli_print_json(ctx, spectra_msg_root(reply), reply_envelope, pretty);
    }
    spectra_msg_free(reply);
    spectra_close(c);
    return status;
}

static int op_ping(spectra_client *c, void *arg, spectra_msg **reply)
{
    (void)arg;
    return spectra_ping(c, reply);
}

static int op_list(spectra_client *c, void *arg, spectra_msg **reply)
{
    (void)arg;
    return spectra_list(c, reply);
}

static int op_stats(spectra_client *c, void *arg, spectra_msg **reply)
{
    (void)arg;
    return spectra_stats(c, reply);
}

static int op_get(spectra_client *c, void *arg, spectra_msg **reply)
{
    char **pos = arg;
    return spectra_get(c, pos[0], pos[1], reply);
}

int cmd_ping(cli_ctx *ctx, int argc, char **argv)
{
    static const char usage[] =
        "usage: spectra ping [--pretty]\n"
        "\n"
        "Asks the daemon for its version and uptime, and prints the reply as JSON:\n"
        "  {\"version\": \"0.1.0\", \"protocol\": 1, \"uptime_s\": 12.5}\n"
        "Exits 1 when no reply comes within --timeout seconds.\n";
    op_state s;
    char **pos;
    size_t n;
    int rc = parse(ctx, argc, argv, pretty_specs, &s, usage, &pos, &n, 0, 0);
    if (rc)
        return rc;
    free(pos);
    return print_reply_op(ctx, s.pretty, NULL, op_ping, NULL);
}

int cmd_list(cli_ctx *ctx, int argc, char **argv)
{
    static const char usage[] =
        "usage: spectra list [--pretty]\n"
        "\n"
        "Prints the streams and their pipelines as JSON:\n"
        "  {\"streams\": [{\"stream\", \"kind\", \"dim\", \"messages\", \"count\",\n"
        "                \"pipelines\": [{\"pipeline\", \"algo\", \"params\", \"every\",\n"
        "                               \"interval_ms\", \"published\"}]}]}\n";
    op_state s;
    char **pos;
    size_t n;
    int rc = parse(ctx, argc, argv, pretty_specs, &s, usage, &pos, &n, 0, 0);
    if (rc)
        return rc;
    free(pos);
    return print_reply_op(ctx, s.pretty, NULL, op_list, NULL);
}

int cmd_stats(cli_ctx *ctx, int argc, char **argv)
{
    static const char usage[] =
        "usage: spectra stats [--pretty]\n"
        "\n"
        "Prints the daemon's counters as JSON: uptime, ingest messages/bytes/rows and rejections\n"
        "by error code, results published, control requests, and per stream and pipeline counts.\n";
    op_state s;
    char **pos;
    size_t n;
    int rc = parse(ctx, argc, argv, pretty_specs, &s, usage, &pos, &n, 0, 0);
    if (rc)
        return rc;
    free(pos);
    return print_reply_op(ctx, s.pretty, NULL, op_stats, NULL);
}

int cmd_get(cli_ctx *ctx, int argc, char **argv)
{
    static const char usage[] =
        "usage: spectra get STREAM PIPELINE [--pretty]\n"
        "       spectra get STREAM PIPELINE --detail NAME [key=value ...] [--output FILE]\n"
        "\n"
        "Applies every input the daemon has accepted, then prints the pipeline's current result\n"
        "body as JSON ({\"v\", \"stream\", \"pipeline\", \"algo\", \"seq\", \"input_seq\", \"count\",\n"
        "\"t_in\", \"t_pub\", \"result\": {...}}), or null when nothing has been applied yet.\n"
        "ndarrays are printed as nested arrays of numbers.\n"
        "With --detail, prints a named view of the pipeline's state instead (e.g. left_vectors of\n"
        "isvd, factors group=3 of svdcluster, model of eegclass; `spectra algos` lists them);\n"
        "--output FILE writes it to FILE (binary values, like a model, as raw bytes).\n";
    static const cli_spec specs[] = {{"--pretty", 0, OPT_PRETTY}, {"--detail", 1, OPT_DETAIL},
                                     {"--output", 1, OPT_OUTPUT}, {NULL, 0, 0}};
    op_state s;
    char **pos;
    size_t n;
    int rc = parse(ctx, argc, argv, specs, &s, usage, &pos, &n, 2, SIZE_MAX);
    if (rc)
        return rc;
    if (s.detail)
        rc = cmd_get_detail(ctx, pos[0], pos[1], s.detail, pos + 2, n - 2, s.output, s.pretty);
    else if (n > 2 || s.output)
        rc = cli_usage_error(ctx, "key=value arguments and --output need --detail");
    else
        rc = print_reply_op(ctx, s.pretty, "result", op_get, pos);
    free(pos);
    return rc;
}

/* Runs a control op whose reply carries nothing to print. */
static int simple_op(cli_ctx *ctx, int rc, spectra_client *c)
{
    int status = rc ? cli_client_error(ctx, c, rc) : CLI_OK;
    spectra_close(c);
    return status;
}

int cmd_drop(cli_ctx *ctx, int argc, char **argv)
{
    static const char usage[] =
        "usage: spectra drop STREAM\n"
        "\n"
        "Drops a stream: its pipelines are detached and their queued inputs discarded.\n";
    op_state s;
    char **pos;
    size_t n;
    int rc = parse(ctx, argc, argv, NULL, &s, usage, &pos, &n, 1, 1);
    if (rc)
        return rc;
    spectra_client *c = cli_connect(ctx);
    rc = c ? simple_op(ctx, spectra_drop(c, pos[0]), c) : CLI_FAIL;
    free(pos);
    return rc;
}

int cmd_detach(cli_ctx *ctx, int argc, char **argv)
{
    static const char usage[] = "usage: spectra detach STREAM PIPELINE\n"
                                "\n"
                                "Detaches a pipeline from a stream.\n";
    op_state s;
    char **pos;
    size_t n;
    int rc = parse(ctx, argc, argv, NULL, &s, usage, &pos, &n, 2, 2);
    if (rc)
        return rc;
    spectra_client *c = cli_connect(ctx);
    rc = c ? simple_op(ctx, spectra_detach(c, pos[0], pos[1]), c) : CLI_FAIL;
    free(pos);
    return rc;
}

/* Splits "a,b,c" into a malloc'd array of pointers into *copy (also malloc'd). */
static char **split_list(const char *text, size_t *n, char **copy)
{
    size_t len = strlen(text);
    *copy = malloc(len + 1);
    char **items = malloc((len / 2 + 2) * sizeof *items);
    if (!*copy || !items) {
        free(*copy);
        free(items);
        return NULL;
    }
    memcpy(*copy, text, len + 1);
    *n = 0;
    char *p = *copy;
    for (;;) {
        items[(*n)++] = p;
        char *comma = strchr(p, ',');
        if (!comma)
            break;
        *comma = '\0';
        p = comma + 1;
    }
    return items;
}

int cmd_create(cli_ctx *ctx, int argc, char **argv)
{
    static const char usage[] =
        "usage: spectra create STREAM --kind rows|series|blocks --dim D [--rate HZ]\n"
        "                      [--channels a,b,c] [--units uV|uV,uV,mV]\n"
        "                      [--durability none|snapshot|journal] [--dedupe]\n"
        "\n"
        "Creates a stream. --dim is the row dimension d (rows), the channel count C (series) or\n"
        "the rows per block m (blocks); with --channels it defaults to the number of names.\n"
        "--rate is the nominal sample rate of a series in Hz; --units the physical unit of its\n"
        "channels (one for all, or one per channel).\n"
        "--durability: how the stream survives a daemon restart (the daemon needs a state dir):\n"
        "none (lost), snapshot (restored from its newest snapshot: 'spectra save'), journal\n"
        "(snapshot plus every message accepted since). Default: the daemon's 'durability'.\n"
        "--dedupe: drop a message whose producer seq the stream has already accepted, so a\n"
        "producer may resend after a failure ('spectra push --resume').\n"
        "Streams are also created by the first push when the daemon allows it (auto_create).\n";
    static const cli_spec specs[] = {{"--kind", 1, OPT_KIND},
                                     {"--dim", 1, OPT_DIM},
                                     {"--rate", 1, OPT_RATE},
                                     {"--channels", 1, OPT_CHANNELS},
                                     {"--units", 1, OPT_UNITS},
                                     {"--durability", 1, OPT_DURABILITY},
                                     {"--dedupe", 0, OPT_DEDUPE},
                                     {NULL, 0, 0}};
    op_state s;
    char **pos;
    size_t n;
    int rc = parse(ctx, argc, argv, specs, &s, usage, &pos, &n, 1, 1);
    if (rc)
        return rc;
    spectra_kind kind = SPECTRA_ROWS;
    char *copy = NULL, *units_copy = NULL;
    char **names = NULL, **units = NULL;
    size_t n_names = 0, n_units = 0;
    rc = CLI_USAGE;
    if (!s.kind)
        cli_usage_error(ctx, "--kind is required");
    else if (spectra_kind_parse(s.kind, &kind))
        cli_usage_error(ctx, "--kind: '%s' is not rows, series or blocks", s.kind);
    else if (s.channels && !(names = split_list(s.channels, &n_names, &copy)))
        cli_error(ctx, "out of memory");
    else if (!s.has_dim && !names)
        cli_usage_error(ctx, "--dim is required");
    else if (s.has_dim && names && s.dim != n_names)
        cli_usage_error(ctx, "--dim %llu but %zu channel names", (unsigned long long)s.dim,
                        n_names);
    else if (s.rate > 0 && kind != SPECTRA_SERIES)
        cli_usage_error(ctx, "--rate is for series streams");
    else if (s.units && kind != SPECTRA_SERIES)
        cli_usage_error(ctx, "--units is for series streams");
    else if (s.units && !(units = split_list(s.units, &n_units, &units_copy)))
        cli_error(ctx, "out of memory");
    else
        rc = CLI_OK;
    uint32_t dim = (uint32_t)(s.has_dim ? s.dim : n_names);
    if (rc == CLI_OK && units && n_units == 1 && dim > 1) {
        /* One unit for every channel. */
        char **all = malloc(dim * sizeof *all);
        if (!all) {
            cli_error(ctx, "out of memory");
            rc = CLI_FAIL;
        } else {
            for (uint32_t i = 0; i < dim; i++)
                all[i] = units[0];
            free(units);
            units = all;
            n_units = dim;
        }
    }
    if (rc == CLI_OK && units && n_units != dim)
        rc = cli_usage_error(ctx, "--units: one unit, or one per channel (%u), not %zu", dim,
                             n_units);
    if (rc == CLI_OK) {
        spectra_create_options co;
        spectra_create_options_init(&co);
        co.rate = s.rate;
        co.channel_names = (const char *const *)names;
        co.n_names = n_names;
        co.channel_units = (const char *const *)units;
        co.n_units = n_units;
        co.durability = s.durability;
        co.dedupe = s.dedupe;
        spectra_client *c = cli_connect(ctx);
        rc = c ? simple_op(ctx, spectra_create_with(c, pos[0], kind, dim, &co), c) : CLI_FAIL;
    }
    free(names);
    free(copy);
    free(units);
    free(units_copy);
    free(pos);
    return rc;
}

int cmd_attach(cli_ctx *ctx, int argc, char **argv)
{
    static const char usage[] =
        "usage: spectra attach STREAM PIPELINE ALGO [KEY=VALUE ...] [--every N]\n"
        "                      [--interval-ms T]\n"
        "\n"
        "Starts algorithm ALGO on STREAM as pipeline PIPELINE; it sees the inputs accepted after\n"
        "the attach. KEY=VALUE pairs are the algorithm's parameters (docs/algorithms.md).\n"
        "Publish policy: after every N inputs and/or when T ms have passed since the last\n"
        "publish; both 0 publishes only on 'get' and at end of stream. Daemon defaults:\n"
        "--every 0 --interval-ms 250.\n"
        "Example: spectra attach spambase top topeig k=3 --every 1000\n";
    static const cli_spec specs[] = {
        {"--every", 1, OPT_EVERY}, {"--interval-ms", 1, OPT_INTERVAL}, {NULL, 0, 0}};
    op_state s;
    char **pos;
    size_t n;
    int rc = parse(ctx, argc, argv, specs, &s, usage, &pos, &n, 3, (size_t)argc);
    if (rc)
        return rc;
    for (size_t i = 3; i < n; i++) {
        const char *eq = strchr(pos[i], '=');
        if (!eq || eq == pos[i]) {
            rc = cli_usage_error(ctx, "parameter '%s' is not KEY=VALUE", pos[i]);
            free(pos);
            return rc;
        }
    }
    spectra_client *c = cli_connect(ctx);
    rc = c ? simple_op(ctx,
                       spectra_attach(c, pos[0], pos[1], pos[2], (const char *const *)pos + 3,
                                      n - 3, s.every, s.interval_ms),
                       c)
           : CLI_FAIL;
    free(pos);
    return rc;
}
