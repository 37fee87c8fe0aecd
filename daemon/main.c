/* spectrad: the streaming estimator daemon. */
#include <cblas.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "config.h"
#include "log.h"
#include "metrics.h"
#include "server.h"

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: spectrad [OPTIONS]\n"
            "Streaming estimator daemon: ingests rows, series and blocks over ZeroMQ, runs online\n"
            "estimators on them and publishes live results (see docs/protocol.md).\n"
            "\n"
            "Options (override the config file, which overrides the built-in defaults):\n"
            "  --ingest EP          ingest endpoint, PULL (default %s)\n"
            "  --publish EP         results endpoint, PUB (default %s)\n"
            "  --control EP         control endpoint, ROUTER (default %s)\n"
            "  --state-dir DIR      where snapshots and journals are kept, restored on start\n"
            "                       (default $STATE_DIRECTORY, else none: nothing survives)\n"
            "  --config FILE        INI configuration file (see docs/operations.md)\n"
            "  --check-config FILE  validate FILE, explain any error with its line, and exit\n"
            "  --log-level LEVEL    error, warn, info (default) or debug\n"
            "  --workers N          worker threads for pipeline updates (default 4)\n"
            "  --no-auto-create     refuse pushes to streams that were not created first\n"
            "  --metrics-listen HOST:PORT\n"
            "                       serve Prometheus metrics at http://HOST:PORT/metrics\n"
            "                       (e.g. 127.0.0.1:9464; \"\" = off, the default)\n"
            "  -h, --help           show this help and exit\n"
            "  -V, --version        show the version and exit\n"
            "\n"
            "Endpoints are ZeroMQ addresses: tcp://HOST:PORT or ipc:///path.\n"
            "SIGINT/SIGTERM stop cleanly: accepted input is applied, final results published and\n"
            "durable streams snapshotted (durability, journal_sync: docs/reliability.md).\n"
            "SIGHUP reloads the config file: what can change live is applied, the rest is logged.\n",
            SPX_DEFAULT_INGEST, SPX_DEFAULT_PUBLISH, SPX_DEFAULT_CONTROL);
}

enum {
    OPT_INGEST = 256, OPT_PUBLISH, OPT_CONTROL, OPT_STATE_DIR, OPT_CONFIG, OPT_CHECK_CONFIG,
    OPT_LOG_LEVEL, OPT_WORKERS, OPT_NO_AUTO_CREATE, OPT_METRICS_LISTEN,
};

static const struct option long_options[] = {
    {"ingest", required_argument, NULL, OPT_INGEST},
    {"publish", required_argument, NULL, OPT_PUBLISH},
    {"control", required_argument, NULL, OPT_CONTROL},
    {"state-dir", required_argument, NULL, OPT_STATE_DIR},
    {"config", required_argument, NULL, OPT_CONFIG},
    {"check-config", required_argument, NULL, OPT_CHECK_CONFIG},
    {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
    {"workers", required_argument, NULL, OPT_WORKERS},
    {"no-auto-create", no_argument, NULL, OPT_NO_AUTO_CREATE},
    {"metrics-listen", required_argument, NULL, OPT_METRICS_LISTEN},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0},
};

static int copy_arg(char *dst, size_t len, const char *arg, const char *what)
{
    if (strlen(arg) >= len) {
        fprintf(stderr, "spectrad: %s: too long\n", what);
        return -1;
    }
    snprintf(dst, len, "%s", arg);
    return 0;
}

static int run(spx_config *cfg, int argc, char **argv);

int main(int argc, char **argv)
{
    /* The config (with its declared pipelines) and the server are too big for a comfortable stack. */
    spx_config *cfg = calloc(1, sizeof *cfg);
    if (!cfg) {
        fputs("spectrad: out of memory\n", stderr);
        return 1;
    }
    int rc = run(cfg, argc, argv);
    free(cfg);
    return rc;
}

static int run(spx_config *cfg, int argc, char **argv)
{
    spx_config_defaults(cfg);
    char err[1024];

    /* The config file goes first, so that command-line options override it wherever they stand. */
    for (int i = 1; i < argc; i++) {
        const char *file = NULL;
        bool check = false;
        if (!strcmp(argv[i], "--config") || !strcmp(argv[i], "--check-config")) {
            check = !strcmp(argv[i], "--check-config");
            if (i + 1 < argc)
                file = argv[++i];
        } else if (!strncmp(argv[i], "--config=", 9)) {
            file = argv[i] + 9;
        } else if (!strncmp(argv[i], "--check-config=", 15)) {
            file = argv[i] + 15;
            check = true;
        }
        if (!file)
            continue;
        if (spx_config_load_file(cfg, file, err, sizeof err) != 0) {
            fprintf(stderr, "spectrad: %s\n", err);
            return 2;
        }
        if (check) {
            if (spx_config_validate(cfg, err, sizeof err) != 0) {
                fprintf(stderr, "spectrad: %s: %s\n", file, err);
                return 2;
            }
            /* Build the declared streams and pipelines in a scratch registry: that checks every
             * algorithm name and parameter exactly as a start would. */
            spx_log_set_level(SPX_LOG_WARN);
            spx_server *scratch = calloc(1, sizeof *scratch);
            int bad = !scratch || !(scratch->reg = spx_registry_new()) ||
                      spx_server_apply_declarations(scratch, cfg, err, sizeof err) != 0;
            if (scratch)
                spx_registry_free(scratch->reg);
            free(scratch);
            if (bad) {
                fprintf(stderr, "spectrad: %s\n", err);
                return 2;
            }
            printf("%s: OK (%zu streams, %zu pipelines)\n", file, cfg->n_streams, cfg->n_pipelines);
            return 0;
        }
    }

    int opt;
    while ((opt = getopt_long(argc, argv, "hV", long_options, NULL)) != -1) {
        int rc = 0;
        switch (opt) {
        case OPT_INGEST:
            rc = copy_arg(cfg->ingest, sizeof cfg->ingest, optarg, "--ingest");
            cfg->cli_set |= SPX_CLI_INGEST;
            break;
        case OPT_PUBLISH:
            rc = copy_arg(cfg->publish, sizeof cfg->publish, optarg, "--publish");
            cfg->cli_set |= SPX_CLI_PUBLISH;
            break;
        case OPT_CONTROL:
            rc = copy_arg(cfg->control, sizeof cfg->control, optarg, "--control");
            cfg->cli_set |= SPX_CLI_CONTROL;
            break;
        case OPT_STATE_DIR:
            rc = copy_arg(cfg->state_dir, sizeof cfg->state_dir, optarg, "--state-dir");
            cfg->cli_set |= SPX_CLI_STATE_DIR;
            break;
        case OPT_CONFIG: case OPT_CHECK_CONFIG: break;   /* read above */
        case OPT_LOG_LEVEL:
            if (spx_log_level_parse(optarg, &cfg->log_level) != 0) {
                fprintf(stderr, "spectrad: --log-level %s: expected error, warn, info or debug\n",
                        optarg);
                return 2;
            }
            cfg->cli_set |= SPX_CLI_LOG_LEVEL;
            break;
        case OPT_WORKERS: {
            char *end;
            long n = strtol(optarg, &end, 10);
            if (*end || n < 1 || n > 128) {
                fprintf(stderr, "spectrad: --workers %s: expected 1..128\n", optarg);
                return 2;
            }
            cfg->workers = (unsigned)n;
            cfg->cli_set |= SPX_CLI_WORKERS;
            break;
        }
        case OPT_NO_AUTO_CREATE:
            cfg->auto_create = false;
            cfg->cli_set |= SPX_CLI_AUTO_CREATE;
            break;
        case OPT_METRICS_LISTEN: {
            char host[64], why[256];
            uint16_t port;
            if (optarg[0] &&
                spx_metrics_parse_listen(optarg, host, sizeof host, &port, why, sizeof why) != 0) {
                fprintf(stderr, "spectrad: --metrics-listen %s\n", why);
                return 2;
            }
            rc = copy_arg(cfg->metrics_listen, sizeof cfg->metrics_listen, optarg,
                          "--metrics-listen");
            cfg->cli_set |= SPX_CLI_METRICS;
            break;
        }
        case 'h': usage(stdout); return 0;
        case 'V': printf("spectrad %s (protocol %d)\n", SPX_VERSION, SPX_PROTOCOL_VERSION); return 0;
        default:
            fprintf(stderr, "Try 'spectrad --help' for more information.\n");
            return 2;
        }
        if (rc != 0)
            return 2;
    }
    if (optind < argc) {
        fprintf(stderr, "spectrad: unexpected argument '%s'\nTry 'spectrad --help' for more "
                "information.\n", argv[optind]);
        return 2;
    }
    if (spx_config_validate(cfg, err, sizeof err) != 0) {
        fprintf(stderr, "spectrad: %s\n", err);
        return 2;
    }
    spx_log_set_level(cfg->log_level);

    /* Parallelism comes from running pipelines side by side on the worker pool; BLAS threads inside
     * each small update only contend with them. */
    openblas_set_num_threads(1);
    /* Ingest messages are hundreds of KiB to MiB, received on ZeroMQ's I/O thread and freed on the
     * loop thread. With glibc's defaults each one is a fresh mmap (page faults on every byte) or is
     * trimmed back to the kernel on free; keep such blocks in the heap for reuse instead. Measured
     * in `make bench` (docs/benchmarks.md). */
    mallopt(M_MMAP_THRESHOLD, 64 << 20);
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
    char pool[16];
    snprintf(pool, sizeof pool, "%u", cfg->workers);
    setenv("UV_THREADPOOL_SIZE", pool, 1);
    signal(SIGPIPE, SIG_IGN);

    uv_loop_t loop;
    uv_loop_init(&loop);
    spx_server *srv = calloc(1, sizeof *srv);
    if (!srv || spx_server_init(srv, cfg, &loop, err, sizeof err) != 0) {
        spx_error("%s", srv ? err : "out of memory");
        free(srv);
        return 1;
    }
    int rc = spx_server_run(srv);
    uv_loop_close(&loop);
    free(srv);
    return rc;
}
