/* spectra sub: print published results as JSON lines. */
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "nats_io.h"

enum { OPT_COUNT = 1, OPT_TIMEOUT, OPT_PRETTY, OPT_NATS };

typedef struct sub_opts {
    const char *nats_url;  /* --nats: results from NATS subjects spectra.out.<topic> */
    uint64_t count;        /* 0: unlimited */
    int timeout_ms;        /* < 0: none */
    int pretty;
} sub_opts;

static const char usage[] =
    "usage: spectra sub [TOPIC ...] [--count N] [--timeout SEC]\n"
    "\n"
    "Subscribes to results whose topic (\"<stream>.<pipeline>\") starts with one of the TOPIC\n"
    "prefixes (default: all) and prints each as one JSON object per line on stdout:\n"
    "  {\"topic\": \"s.top\", \"v\": 1, \"stream\": \"s\", \"pipeline\": \"top\", ..., \"result\": {...}}\n"
    "Use 's.' for every pipeline of stream s ('s.top' also matches 's.top2').\n"
    "\n"
    "  --count N      exit 0 after N results\n"
    "  --timeout SEC  stop after SEC seconds in total: exit 0 if at least one result was\n"
    "                 printed, else 1 with 'spectra: sub: timeout'\n"
    "  --pretty       indented JSON (then one object spans several lines)\n"
    "  --nats URL     read results from NATS (spectra.out.STREAM.PIPELINE) instead of the\n"
    "                 results socket; TOPIC is then STREAM or STREAM.PIPELINE (NATS\n"
    "                 wildcards * and > allowed), not a prefix\n";

static int on_option(cli_ctx *ctx, void *st, int id, const char *v)
{
    sub_opts *o = st;
    switch (id) {
    case OPT_COUNT: return cli_parse_u64(ctx, "--count", v, 1, UINT64_MAX, &o->count);
    case OPT_TIMEOUT: return cli_parse_seconds_ms(ctx, "--timeout", v, &o->timeout_ms);
    case OPT_PRETTY: o->pretty = 1; return 0;
    case OPT_NATS: o->nats_url = v; return 0;
    }
    return CLI_USAGE;
}

/* Prints {"topic": topic, ...body fields} as one line. */
static int print_result(const cli_ctx *ctx, const char *topic, const spectra_msg *body, int pretty)
{
    const msgpack_object *root = spectra_msg_root(body);
    uint32_t n = root->via.map.size;
    msgpack_object_kv *kv = malloc((n + 1) * sizeof *kv);
    if (!kv) {
        cli_error(ctx, "out of memory");
        return CLI_FAIL;
    }
    kv[0].key.type = MSGPACK_OBJECT_STR;
    kv[0].key.via.str.ptr = "topic";
    kv[0].key.via.str.size = 5;
    kv[0].val.type = MSGPACK_OBJECT_STR;
    kv[0].val.via.str.ptr = topic;
    kv[0].val.via.str.size = (uint32_t)strlen(topic);
    uint32_t k = 1;
    for (uint32_t i = 0; i < n; i++) {
        const msgpack_object *key = &root->via.map.ptr[i].key;
        if (key->type == MSGPACK_OBJECT_STR && key->via.str.size == 5 &&
            memcmp(key->via.str.ptr, "topic", 5) == 0)
            continue;
        kv[k++] = root->via.map.ptr[i];
    }
    msgpack_object line;
    line.type = MSGPACK_OBJECT_MAP;
    line.via.map.size = k;
    line.via.map.ptr = kv;
    int rc = cli_print_json(ctx, &line, NULL, pretty);
    free(kv);
    return rc;
}

int cmd_sub(cli_ctx *ctx, int argc, char **argv)
{
    static const cli_spec specs[] = {{"--count", 1, OPT_COUNT},
                                     {"--timeout", 1, OPT_TIMEOUT},
                                     {"--pretty", 0, OPT_PRETTY},
                                     {"--nats", 1, OPT_NATS},
                                     {NULL, 0, 0}};
    sub_opts o = {NULL, 0, -1, 0};
    char **pos;
    size_t n;
    int rc = cli_parse(ctx, argc, argv, specs, on_option, &o, usage, &pos, &n);
    if (rc)
        return rc;
    spectra_client *c = cli_connect(ctx);
    if (!c) {
        free(pos);
        return CLI_FAIL;
    }
    int status = CLI_OK;
    cli_nats *nats = NULL;
    if (o.nats_url) {
        if (!(nats = cli_nats_open(ctx, o.nats_url, NULL, 1)))
            status = CLI_FAIL;
        for (size_t i = 0; i < n && status == CLI_OK; i++)
            status = cli_nats_subscribe(ctx, nats, pos[i]);
        if (status == CLI_OK && n == 0)
            status = cli_nats_subscribe(ctx, nats, NULL);
    } else {
        for (size_t i = 0; i < n && status == CLI_OK; i++)
            if ((rc = spectra_subscribe(c, pos[i])))
                status = cli_client_error(ctx, c, rc);
        if (status == CLI_OK && n == 0 && (rc = spectra_subscribe(c, "")))
            status = cli_client_error(ctx, c, rc);
    }

    double deadline = o.timeout_ms >= 0 ? cli_now() + o.timeout_ms / 1000.0 : 0;
    uint64_t got = 0;
    while (status == CLI_OK && (o.count == 0 || got < o.count)) {
        int wait_ms = -1;
        if (o.timeout_ms >= 0) {
            double left = deadline - cli_now();
            if (left <= 0) {
                if (got == 0) {
                    cli_error(ctx, "timeout");
                    status = CLI_FAIL;
                }
                break;
            }
            wait_ms = (int)(left * 1000.0) + 1;
        }
        char topic[SPECTRA_TOPIC_MAX + 1];
        spectra_msg *body;
        rc = nats ? cli_nats_next(nats, wait_ms, topic, sizeof topic, &body)
                  : spectra_recv_result(c, wait_ms, topic, sizeof topic, &body);
        if (rc == SPECTRA_ETIMEDOUT)
            continue;
        if (rc == SPECTRA_EPROTO || rc == SPECTRA_ERANGE) {
            cli_error(ctx, "skipped a message: %s", spectra_last_error(c));
            continue;
        }
        if (rc && nats) {
            cli_error(ctx, "NATS connection lost");
            status = CLI_FAIL;
            break;
        }
        if (rc) {
            status = cli_client_error(ctx, c, rc);
            break;
        }
        status = print_result(ctx, topic, body, o.pretty);
        spectra_msg_free(body);
        got++;
    }
    if (nats)
        cli_nats_close(ctx, nats);
    spectra_close(c);
    free(pos);
    return status;
}
