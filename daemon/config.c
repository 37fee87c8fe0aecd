#include "config.h"

#include "metrics.h"

#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void spx_config_defaults(spx_config *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->ingest, sizeof c->ingest, "%s", SPX_DEFAULT_INGEST);
    snprintf(c->publish, sizeof c->publish, "%s", SPX_DEFAULT_PUBLISH);
    snprintf(c->control, sizeof c->control, "%s", SPX_DEFAULT_CONTROL);
    const char *sd = getenv("STATE_DIRECTORY");   /* set by systemd's StateDirectory= */
    if (sd && *sd)
        snprintf(c->state_dir, sizeof c->state_dir, "%s", sd);
    c->auto_create = true;
    c->max_message_bytes = 64u << 20;
    c->max_queued_bytes = 256u << 20;
    c->workers = 4;
    c->ingest_budget = 256;
    c->ingest_hwm = 1000;
    c->publish_hwm = 10000;
    c->log_level = SPX_LOG_INFO;
    spx_transport_config_defaults(&c->tr);
    c->durability = SPX_DURABILITY_SNAPSHOT;
    c->snapshot_interval_s = 60;
    c->snapshot_journal_bytes = 256u << 20;
    c->journal_sync = SPX_JOURNAL_SYNC_INTERVAL;
    c->journal_sync_ms = 200;
}

typedef struct parse_ctx {
    spx_config *c;
    char err[512];
    FILE *f;
    int lineno;                /* line being parsed: inih reads through line_reader */
} parse_ctx;

/* inih's reader hook, counting lines so declarations can name theirs in later messages. */
static char *line_reader(char *str, int num, void *stream)
{
    parse_ctx *ctx = stream;
    char *line = fgets(str, num, ctx->f);
    if (line)
        ctx->lineno++;
    return line;
}

static int parse_size(const char *v, size_t *out)
{
    char *end;
    errno = 0;
    if (*v == '-')
        return -1;
    unsigned long long n = strtoull(v, &end, 10);
    if (end == v || errno)
        return -1;
    unsigned long long mult = 1;
    if (*end == 'K' || *end == 'k') mult = 1ULL << 10, end++;
    else if (*end == 'M' || *end == 'm') mult = 1ULL << 20, end++;
    else if (*end == 'G' || *end == 'g') mult = 1ULL << 30, end++;
    if (*end == 'i' && mult > 1) end++;
    if (*end == 'B') end++;
    if (*end || n > SIZE_MAX / mult)
        return -1;
    *out = (size_t)(n * mult);
    return 0;
}

static int parse_bool(const char *v, bool *out)
{
    if (!strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "on") || !strcmp(v, "1"))
        *out = true;
    else if (!strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "off") || !strcmp(v, "0"))
        *out = false;
    else
        return -1;
    return 0;
}

static int parse_uint(const char *v, uint64_t max, uint64_t *out)
{
    size_t s;
    if (parse_size(v, &s) != 0 || s > max)
        return -1;
    *out = s;
    return 0;
}

static int endpoint_ok(const char *ep)
{
    return !strncmp(ep, "tcp://", 6) || !strncmp(ep, "ipc://", 6) || !strncmp(ep, "inproc://", 9);
}

#define FAIL(...) do { snprintf(ctx->err, sizeof ctx->err, __VA_ARGS__); return 0; } while (0)

static int daemon_key(parse_ctx *ctx, const char *name, const char *value)
{
    spx_config *c = ctx->c;
    uint64_t u;
    if (!strcmp(name, "ingest") || !strcmp(name, "publish") || !strcmp(name, "control")) {
        char *dst = !strcmp(name, "ingest") ? c->ingest : !strcmp(name, "publish") ? c->publish
                                                                                   : c->control;
        if (strlen(value) >= SPX_ENDPOINT_MAX)
            FAIL("%s: endpoint too long", name);
        if (!endpoint_ok(value))
            FAIL("%s = %s: expected tcp://HOST:PORT or ipc://PATH", name, value);
        snprintf(dst, SPX_ENDPOINT_MAX, "%s", value);
    } else if (!strcmp(name, "metrics_listen")) {
        char host[64], why[256];
        uint16_t port;
        if (strlen(value) >= SPX_ENDPOINT_MAX)
            FAIL("metrics_listen: too long");
        if (value[0] && spx_metrics_parse_listen(value, host, sizeof host, &port, why, sizeof why))
            FAIL("metrics_listen = %s", why);
        snprintf(c->metrics_listen, sizeof c->metrics_listen, "%s", value);
    } else if (!strcmp(name, "state_dir")) {
        snprintf(c->state_dir, sizeof c->state_dir, "%s", value);
    } else if (!strcmp(name, "auto_create")) {
        if (parse_bool(value, &c->auto_create))
            FAIL("auto_create=%s: expected true or false", value);
    } else if (!strcmp(name, "max_message_bytes")) {
        if (parse_size(value, &c->max_message_bytes) || c->max_message_bytes < 4096)
            FAIL("max_message_bytes=%s: expected a size >= 4096 (e.g. 64M)", value);
    } else if (!strcmp(name, "max_queued_bytes")) {
        if (parse_size(value, &c->max_queued_bytes) || c->max_queued_bytes < (1u << 20))
            FAIL("max_queued_bytes=%s: expected a size >= 1M", value);
    } else if (!strcmp(name, "workers")) {
        if (parse_uint(value, 128, &u) || u == 0)
            FAIL("workers=%s: expected 1..128", value);
        c->workers = (unsigned)u;
    } else if (!strcmp(name, "ingest_hwm")) {
        if (parse_uint(value, 10000000, &u))
            FAIL("ingest_hwm=%s: expected 0..10000000", value);
        c->ingest_hwm = (int)u;
    } else if (!strcmp(name, "publish_hwm")) {
        if (parse_uint(value, 10000000, &u))
            FAIL("publish_hwm=%s: expected 0..10000000", value);
        c->publish_hwm = (int)u;
    } else if (!strcmp(name, "durability")) {
        if (spx_durability_parse(value, &c->durability))
            FAIL("durability=%s: expected none, snapshot or journal", value);
    } else if (!strcmp(name, "snapshot_interval")) {
        if (parse_uint(value, 86400, &u))
            FAIL("snapshot_interval=%s: expected 0..86400 seconds", value);
        c->snapshot_interval_s = (unsigned)u;
    } else if (!strcmp(name, "snapshot_journal_bytes")) {
        if (parse_size(value, &c->snapshot_journal_bytes) || c->snapshot_journal_bytes < (1u << 20))
            FAIL("snapshot_journal_bytes=%s: expected a size >= 1M", value);
    } else if (!strcmp(name, "journal_sync")) {
        if (spx_journal_sync_parse(value, &c->journal_sync))
            FAIL("journal_sync=%s: expected always, interval or os", value);
    } else if (!strcmp(name, "journal_sync_ms")) {
        if (parse_uint(value, 60000, &u) || u == 0)
            FAIL("journal_sync_ms=%s: expected 1..60000", value);
        c->journal_sync_ms = (unsigned)u;
    } else if (!strcmp(name, "log_level")) {
        if (spx_log_level_parse(value, &c->log_level))
            FAIL("log_level=%s: expected error, warn, info or debug", value);
    } else {
        int taken = spx_security_config_key(&c->security, name, value, ctx->lineno, ctx->err,
                                            sizeof ctx->err);
        if (taken < 0)
            return 0;
        int bad = 0;
        if (taken == 0 &&
            !spx_transport_config_key(&c->tr, name, value, &bad, ctx->err, sizeof ctx->err))
            FAIL("unknown key '%s' in [spectrad]", name);
        if (bad)
            return 0;
    }
    return 1;
}

static int stream_key(parse_ctx *ctx, const char *stream, const char *name, const char *value)
{
    spx_config *c = ctx->c;
    spx_config_stream *s = NULL;
    for (size_t i = 0; i < c->n_streams; i++)
        if (!strcmp(c->streams[i].name, stream))
            s = &c->streams[i];
    if (!s) {
        if (c->n_streams == SPX_CONFIG_STREAMS_MAX)
            FAIL("too many [stream] sections (max %d)", SPX_CONFIG_STREAMS_MAX);
        if (strlen(stream) > 64 || !*stream)
            FAIL("[stream %s]: name must be 1-64 characters", stream);
        s = &c->streams[c->n_streams++];
        snprintf(s->name, sizeof s->name, "%s", stream);
        s->line = ctx->lineno;
    }
    uint64_t u;
    if (!strcmp(name, "kind")) {
        if (strcmp(value, "rows") && strcmp(value, "series") && strcmp(value, "blocks"))
            FAIL("kind=%s: expected rows, series or blocks", value);
        snprintf(s->kind, sizeof s->kind, "%s", value);
    } else if (!strcmp(name, "dim")) {
        if (parse_uint(value, 1u << 20, &u) || u == 0)
            FAIL("dim=%s: expected 1..%u", value, 1u << 20);
        s->dim = (uint32_t)u;
    } else if (!strcmp(name, "rate")) {
        char *end;
        s->rate = strtod(value, &end);
        if (end == value || *end || !(s->rate >= 0))
            FAIL("rate=%s: expected a non-negative number (Hz)", value);
    } else if (!strcmp(name, "durability")) {
        if (spx_durability_parse(value, &s->durability))
            FAIL("durability=%s: expected none, snapshot or journal", value);
        s->has_durability = true;
    } else if (!strcmp(name, "dedupe")) {
        if (parse_bool(value, &s->dedupe))
            FAIL("dedupe=%s: expected true or false", value);
    } else {
        FAIL("unknown key '%s' in [stream %s] (kind, dim, rate, durability, dedupe)", name, stream);
    }
    return 1;
}

static int pipeline_key(parse_ctx *ctx, const char *section, const char *name, const char *value)
{
    spx_config *c = ctx->c;
    spx_config_pipeline *p = NULL;
    const char *dot = strchr(section, '.');
    if (!dot || dot == section || !dot[1] || dot - section > 64 || strlen(dot + 1) > 64)
        FAIL("[pipeline %s]: expected [pipeline STREAM.NAME]", section);
    for (size_t i = 0; i < c->n_pipelines; i++)
        if (!strncmp(c->pipelines[i].stream, section, (size_t)(dot - section)) &&
            c->pipelines[i].stream[dot - section] == '\0' && !strcmp(c->pipelines[i].name, dot + 1))
            p = &c->pipelines[i];
    if (!p) {
        if (c->n_pipelines == SPX_CONFIG_PIPELINES_MAX)
            FAIL("too many [pipeline] sections (max %d)", SPX_CONFIG_PIPELINES_MAX);
        p = &c->pipelines[c->n_pipelines++];
        snprintf(p->stream, sizeof p->stream, "%.*s", (int)(dot - section), section);
        snprintf(p->name, sizeof p->name, "%s", dot + 1);
        p->line = ctx->lineno;
    }
    uint64_t u;
    if (!strcmp(name, "algo")) {
        snprintf(p->algo, sizeof p->algo, "%s", value);
    } else if (!strcmp(name, "every")) {
        if (parse_uint(value, UINT64_MAX, &u))
            FAIL("every=%s: expected a non-negative integer", value);
        p->every = u;
        p->has_every = true;
    } else if (!strcmp(name, "interval_ms")) {
        if (parse_uint(value, 86400000, &u))
            FAIL("interval_ms=%s: expected 0..86400000", value);
        p->interval_ms = u;
        p->has_interval = true;
    } else {
        if (p->n_params == SPX_CONFIG_PARAMS_MAX)
            FAIL("[pipeline %s]: too many parameters", section);
        if (strlen(name) > 64 || strlen(value) > 255)
            FAIL("%s: key or value too long", name);
        snprintf(p->keys[p->n_params], sizeof p->keys[0], "%s", name);
        snprintf(p->values[p->n_params], sizeof p->values[0], "%s", value);
        p->n_params++;
    }
    return 1;
}

/* inih handler: returning 0 makes ini_parse stop and return the current line number. */
static int on_ini(void *user, const char *section, const char *name, const char *value)
{
    parse_ctx *ctx = user;
    if (!name)       /* a section with no keys yet (inih calls with name NULL only if configured) */
        return 1;
    if (!strcmp(section, "spectrad"))
        return daemon_key(ctx, name, value);
    if (!strncmp(section, "stream ", 7))
        return stream_key(ctx, section + 7, name, value);
    if (!strncmp(section, "pipeline ", 9))
        return pipeline_key(ctx, section + 9, name, value);
    if (!*section)
        FAIL("key '%s' outside any section (start with [spectrad])", name);
    FAIL("unknown section [%s] (spectrad, stream NAME, pipeline STREAM.NAME)", section);
}

int spx_config_load_file(spx_config *c, const char *path, char *err, size_t errlen)
{
    parse_ctx ctx = {.c = c};
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    ctx.f = f;
    int rc = ini_parse_stream(line_reader, &ctx, on_ini, &ctx);
    fclose(f);
    if (rc != 0) {
        snprintf(err, errlen, "%s:%d: %s", path, rc, ctx.err[0] ? ctx.err : "syntax error");
        return -1;
    }
    for (size_t i = 0; i < c->n_streams; i++)
        if (!c->streams[i].kind[0] || !c->streams[i].dim) {
            snprintf(err, errlen, "%s:%d: [stream %s] needs kind= and dim=", path,
                     c->streams[i].line, c->streams[i].name);
            return -1;
        }
    for (size_t i = 0; i < c->n_pipelines; i++)
        if (!c->pipelines[i].algo[0]) {
            snprintf(err, errlen, "%s:%d: [pipeline %s.%s] needs algo=", path,
                     c->pipelines[i].line, c->pipelines[i].stream, c->pipelines[i].name);
            return -1;
        }
    if (spx_security_check_file(&c->security, path, err, errlen) != 0)
        return -1;
    snprintf(c->config_file, sizeof c->config_file, "%s", path);
    return 0;
}


int spx_config_validate(const spx_config *c, char *err, size_t errlen)
{
    const char *names[3] = {"ingest", "publish", "control"};
    const char *eps[3] = {c->ingest, c->publish, c->control};
    for (int i = 0; i < 3; i++) {
        if (!endpoint_ok(eps[i])) {
            snprintf(err, errlen, "%s endpoint '%s': expected tcp://HOST:PORT or ipc://PATH",
                     names[i], eps[i]);
            return -1;
        }
        for (int j = 0; j < i; j++)
            if (!strcmp(eps[i], eps[j])) {
                snprintf(err, errlen, "%s and %s endpoints are both '%s'", names[j], names[i],
                         eps[i]);
                return -1;
            }
    }
    if (spx_security_validate(&c->security, eps, err, errlen) != 0)
        return -1;
    return spx_transport_config_validate(&c->tr, err, errlen);
}

void spx_config_keep_cli(spx_config *to, const spx_config *from)
{
    unsigned b = from->cli_set;
    if (b & SPX_CLI_INGEST) memcpy(to->ingest, from->ingest, sizeof to->ingest);
    if (b & SPX_CLI_PUBLISH) memcpy(to->publish, from->publish, sizeof to->publish);
    if (b & SPX_CLI_CONTROL) memcpy(to->control, from->control, sizeof to->control);
    if (b & SPX_CLI_STATE_DIR) memcpy(to->state_dir, from->state_dir, sizeof to->state_dir);
    if (b & SPX_CLI_LOG_LEVEL) to->log_level = from->log_level;
    if (b & SPX_CLI_WORKERS) to->workers = from->workers;
    if (b & SPX_CLI_AUTO_CREATE) to->auto_create = from->auto_create;
    if (b & SPX_CLI_METRICS) memcpy(to->metrics_listen, from->metrics_listen, sizeof to->metrics_listen);
    to->cli_set = b;
}
