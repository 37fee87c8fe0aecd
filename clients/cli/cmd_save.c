/* The durable-state subcommands: save (start snapshots, optionally wait until they are on disk)
 * and position (how far a stream is accepted, applied and durable). */
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

enum { OPT_PRETTY = 1, OPT_WAIT };

typedef struct save_opts {
    int pretty, wait;
} save_opts;

static int on_option(cli_ctx *ctx, void *st, int id, const char *value)
{
    (void)ctx;
    (void)value;
    save_opts *o = st;
    switch (id) {
    case OPT_PRETTY: o->pretty = 1; return 0;
    case OPT_WAIT: o->wait = 1; return 0;
    }
    return CLI_USAGE;
}

static void pack_cstr(msgpack_packer *pk, const char *s)
{
    msgpack_pack_str(pk, strlen(s));
    msgpack_pack_str_body(pk, s, strlen(s));
}

/* Sends {"op": op, "stream"?: stream} and prints the reply without its envelope. */
static int print_op(const cli_ctx *ctx, spectra_client *c, const char *op, const char *stream,
                    int pretty, spectra_msg **keep)
{
    static const char *const envelope[] = {"ok", "id", NULL};
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, stream ? 2 : 1);
    pack_cstr(&pk, "op");
    pack_cstr(&pk, op);
    if (stream) {
        pack_cstr(&pk, "stream");
        pack_cstr(&pk, stream);
    }
    spectra_msg *reply = NULL;
    int rc = spectra_request(c, sb.data, sb.size, &reply);
    msgpack_sbuffer_destroy(&sb);
    int status = rc ? cli_client_error(ctx, c, rc)
                    : cli_print_json(ctx, spectra_msg_root(reply), envelope, pretty);
    if (status == CLI_OK && keep)
        *keep = reply;
    else
        spectra_msg_free(reply);
    return status;
}

/* A stream to wait for: done once a snapshot covering `messages` is on disk. */
typedef struct pending {
    char name[SPECTRA_NAME_MAX + 1];
    uint64_t messages;
    int done;
} pending;

/* Every stream and its message count (before the save: each snapshot it starts covers at least
 * that many, so waiting for them never waits for a later snapshot). */
static int list_streams(const cli_ctx *ctx, spectra_client *c, pending **out, size_t *n_out)
{
    *out = NULL;
    *n_out = 0;
    spectra_msg *reply;
    int rc = spectra_list(c, &reply);
    if (rc)
        return cli_client_error(ctx, c, rc);
    size_t n = 0;
    spectra_msg_size(reply, "streams", &n);
    pending *p = calloc(n ? n : 1, sizeof *p);
    if (!p) {
        spectra_msg_free(reply);
        cli_error(ctx, "out of memory");
        return CLI_FAIL;
    }
    for (size_t i = 0; i < n; i++) {
        char path[64];
        snprintf(path, sizeof path, "streams.%zu.stream", i);
        spectra_msg_str(reply, path, p[i].name, sizeof p[i].name);
        snprintf(path, sizeof path, "streams.%zu.messages", i);
        spectra_msg_uint(reply, path, &p[i].messages);
    }
    spectra_msg_free(reply);
    *out = p;
    *n_out = n;
    return CLI_OK;
}

/* Polls `position` until each stream's newest snapshot on disk covers its message count, within
 * the --timeout. A stream of durability none, or one dropped meanwhile, is not waited for. */
static int wait_snapshots(const cli_ctx *ctx, spectra_client *c, pending *p, size_t n)
{
    double patience = ctx->opts.timeout_ms / 1000.0, deadline = cli_now() + patience;
    for (;;) {
        size_t left = 0;
        for (size_t i = 0; i < n; i++) {
            if (p[i].done)
                continue;
            spectra_stream_position pos;
            int rc = spectra_position(c, p[i].name, &pos);
            if (rc == SPECTRA_EDAEMON && strcmp(spectra_last_error_code(c), "unknown_stream") == 0) {
                p[i].done = 1;
                continue;
            }
            if (rc)
                return cli_client_error(ctx, c, rc);
            if (pos.durability == SPECTRA_DURABILITY_NONE ||
                (pos.has_snapshot_messages && pos.snapshot_messages >= p[i].messages))
                p[i].done = 1;
            else
                left++;
        }
        if (!left)
            return CLI_OK;
        if (cli_now() > deadline)
            break;
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    for (size_t i = 0; i < n; i++)
        if (!p[i].done)
            cli_error(ctx, "%s: no snapshot covering message %llu on disk within %.3g s (see "
                           "'spectra stats': durable.snapshot_failures)",
                      p[i].name, (unsigned long long)p[i].messages, patience);
    return CLI_FAIL;
}

int cmd_save(cli_ctx *ctx, int argc, char **argv)
{
    static const char usage[] =
        "usage: spectra save [STREAM] [--wait] [--pretty]\n"
        "\n"
        "Starts a snapshot of STREAM now (without STREAM: of every durable stream) and prints the\n"
        "reply as JSON: {\"snapshots\": N started, \"messages\": the stream message number the\n"
        "snapshot covers (with STREAM)}. The daemon needs a state dir, and STREAM a durability\n"
        "other than none.\n"
        "Snapshots are written in the background; with --wait, polls 'spectra position' until\n"
        "each is on disk (snapshot_messages covers the stream's messages at the save), for at\n"
        "most --timeout seconds (exit 1 after that).\n";
    static const cli_spec specs[] = {
        {"--pretty", 0, OPT_PRETTY}, {"--wait", 0, OPT_WAIT}, {NULL, 0, 0}};
    save_opts o = {0};
    char **pos;
    size_t n;
    int rc = cli_parse(ctx, argc, argv, specs, on_option, &o, usage, &pos, &n);
    if (rc)
        return rc;
    const char *stream = n ? pos[0] : NULL;
    if (n > 1)
        rc = cli_usage_error(ctx, "unexpected argument '%s'", pos[1]);
    else if (stream && !spectra_name_valid(stream))
        rc = cli_usage_error(ctx, "bad stream name '%s' (1 to 64 of [A-Za-z0-9_-])", stream);
    spectra_client *c = rc ? NULL : cli_connect(ctx);
    if (!rc && !c)
        rc = CLI_FAIL;
    pending *waits = NULL;
    size_t n_waits = 0;
    if (!rc && o.wait && !stream)
        rc = list_streams(ctx, c, &waits, &n_waits);
    spectra_msg *reply = NULL;
    if (!rc)
        rc = print_op(ctx, c, "save", stream, o.pretty, &reply);
    if (!rc && o.wait && stream) {
        n_waits = 1;
        if (!(waits = calloc(1, sizeof *waits))) {
            cli_error(ctx, "out of memory");
            rc = CLI_FAIL;
        } else if (spectra_msg_uint(reply, "messages", &waits[0].messages)) {
            cli_error(ctx, "the save reply has no \"messages\"");
            rc = CLI_FAIL;
        } else {
            snprintf(waits[0].name, sizeof waits[0].name, "%s", stream);
        }
    }
    if (!rc && o.wait) {
        fflush(stdout);
        rc = wait_snapshots(ctx, c, waits, n_waits);
    }
    spectra_msg_free(reply);
    free(waits);
    spectra_close(c);
    free(pos);
    return rc;
}

int cmd_position(cli_ctx *ctx, int argc, char **argv)
{
    static const char usage[] =
        "usage: spectra position STREAM [--pretty]\n"
        "\n"
        "Prints how far STREAM is accepted, applied and durable, as JSON:\n"
        "  {\"stream\", \"durability\": \"none\"|\"snapshot\"|\"journal\", \"messages\",\n"
        "   \"last_seq\", \"applied_messages\", \"durable_messages\", \"durable_seq\",\n"
        "   \"snapshot_messages\", \"snapshot_seq\"}\n"
        "messages count accepted messages (1, 2, ...); *_seq are producer sequence numbers, null\n"
        "when there is none. A producer that restarts resumes after durable_seq\n"
        "('spectra push --resume').\n";
    static const cli_spec specs[] = {{"--pretty", 0, OPT_PRETTY}, {NULL, 0, 0}};
    save_opts o = {0};
    char **pos;
    size_t n;
    int rc = cli_parse(ctx, argc, argv, specs, on_option, &o, usage, &pos, &n);
    if (rc)
        return rc;
    if (n != 1)
        rc = n ? cli_usage_error(ctx, "unexpected argument '%s'", pos[1])
               : cli_usage_error(ctx, "need STREAM");
    else if (!spectra_name_valid(pos[0]))
        rc = cli_usage_error(ctx, "bad stream name '%s' (1 to 64 of [A-Za-z0-9_-])", pos[0]);
    spectra_client *c = rc ? NULL : cli_connect(ctx);
    if (!rc && !c)
        rc = CLI_FAIL;
    if (!rc)
        rc = print_op(ctx, c, "position", pos[0], o.pretty, NULL);
    spectra_close(c);
    free(pos);
    return rc;
}
