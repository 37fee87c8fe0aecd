/* spectra: command-line client of spectrad. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

typedef struct command {
    const char *name;
    int (*run)(cli_ctx *ctx, int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"ping", cmd_ping, "check that the daemon answers; print its version and uptime"},
    {"create", cmd_create, "create a stream (rows, series or blocks)"},
    {"drop", cmd_drop, "drop a stream and its pipelines"},
    {"attach", cmd_attach, "attach an algorithm to a stream as a named pipeline"},
    {"detach", cmd_detach, "detach a pipeline"},
    {"list", cmd_list, "list streams and their pipelines (JSON)"},
    {"stats", cmd_stats, "daemon counters (JSON)"},
    {"get", cmd_get, "the current result of a pipeline, or a named detail of it (JSON)"},
    {"call", cmd_call, "run a named operation of a pipeline (fit, recluster, load_model, ...)"},
    {"algos", cmd_algos, "the algorithms the daemon can attach and their operations (JSON)"},
    {"save", cmd_save, "snapshot a stream (or every durable stream) now; --wait until on disk"},
    {"position", cmd_position, "how far a stream is accepted, applied and durable (JSON)"},
    {"push", cmd_push, "send a file (text, EDF, .npy, raw blocks) to a stream"},
    {"sub", cmd_sub, "print published results, one JSON object per line"},
    {"bench", cmd_bench, "measure end-to-end ingest throughput against raw ZeroMQ"},
    {"keygen", cmd_keygen, "write a CURVE key pair NAME.key / NAME.key_secret"},
};

#define N_COMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *out)
{
    fputs("usage: spectra [GLOBAL OPTIONS] COMMAND [ARGS]\n"
          "\n"
          "Client of spectrad, the streaming estimation daemon (protocol version 1).\n"
          "\n"
          "Commands:\n",
          out);
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(out, "  %-9s %s\n", commands[i].name, commands[i].summary);
    fputs("\n"
          "Global options (also accepted after the command):\n"
          "  --control EP   control endpoint  (env SPECTRA_CONTROL, default " SPECTRA_DEFAULT_CONTROL
          ")\n"
          "  --ingest EP    ingest endpoint   (env SPECTRA_INGEST,  default " SPECTRA_DEFAULT_INGEST
          ")\n"
          "  --publish EP   results endpoint  (env SPECTRA_PUBLISH, default " SPECTRA_DEFAULT_PUBLISH
          ")\n"
          "  --timeout SEC  control request timeout (default 5)\n"
          "  --server-key FILE  the daemon's public key file: use CURVE (env SPECTRA_SERVER_KEY)\n"
          "  --key FILE     this client's secret key file, NAME.key_secret (env SPECTRA_KEY)\n"
          "  --version      print the version\n"
          "  --help         this help; 'spectra COMMAND --help' for a command\n"
          "\n"
          "Exit status: 0 success, 1 the daemon or the operation failed, 2 bad command line.\n",
          out);
}

static const command *find_command(const char *name)
{
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

static void env_endpoints(cli_ctx *ctx)
{
    const char *v;
    if ((v = getenv("SPECTRA_CONTROL")) && *v)
        ctx->opts.control = v;
    if ((v = getenv("SPECTRA_INGEST")) && *v)
        ctx->opts.ingest = v;
    if ((v = getenv("SPECTRA_PUBLISH")) && *v)
        ctx->opts.publish = v;
    if ((v = getenv("SPECTRA_SERVER_KEY")) && *v)
        ctx->opts.server_key = v;
    if ((v = getenv("SPECTRA_KEY")) && *v)
        ctx->opts.client_key = v;
}

int main(int argc, char **argv)
{
    cli_ctx ctx = {0};
    spectra_options_init(&ctx.opts);
    env_endpoints(&ctx);

    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            usage(stdout);
            return CLI_OK;
        }
        if (strcmp(arg, "--version") == 0) {
            printf("spectra %s (protocol %d)\n", spectra_version(), SPECTRA_PROTOCOL_VERSION);
            return CLI_OK;
        }
        const char *eq = strchr(arg, '=');
        char name[64];
        size_t n = eq ? (size_t)(eq - arg) : strlen(arg);
        snprintf(name, sizeof name, "%.*s", (int)(n < 63 ? n : 63), arg);
        if (!cli_is_global_option(name))
            return cli_usage_error(&ctx, "unknown option '%s'", name);
        const char *value = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!value)
            return cli_usage_error(&ctx, "%s needs a value", name);
        if (cli_global_option(&ctx, name, value) != 1)
            return CLI_USAGE;
    }
    if (i >= argc) {
        usage(stderr);
        return CLI_USAGE;
    }
    const char *name = argv[i];
    if (strcmp(name, "help") == 0) {
        if (i + 1 >= argc) {
            usage(stdout);
            return CLI_OK;
        }
        const command *cmd = find_command(argv[i + 1]);
        if (!cmd)
            return cli_usage_error(&ctx, "unknown command '%s'", argv[i + 1]);
        char help[] = "--help";
        char *args[] = {help, NULL};
        ctx.cmd = cmd->name;
        int rc = cmd->run(&ctx, 1, args);
        return rc == CLI_HELP ? CLI_OK : rc;
    }
    const command *cmd = find_command(name);
    if (!cmd)
        return cli_usage_error(&ctx, "unknown command '%s'", name);
    ctx.cmd = cmd->name;
    int rc = cmd->run(&ctx, argc - i - 1, argv + i + 1);
    return rc == CLI_HELP ? CLI_OK : rc;
}
