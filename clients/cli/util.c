/* Argument parsing, error messages and JSON printing shared by the subcommands. */
#include <errno.h>
#include <math.h>
#include <msgpack.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

void cli_error(const cli_ctx *ctx, const char *fmt, ...)
{
    va_list ap;
    fflush(stdout);
    if (ctx && ctx->cmd)
        fprintf(stderr, "spectra: %s: ", ctx->cmd);
    else
        fputs("spectra: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int cli_usage_error(const cli_ctx *ctx, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (ctx && ctx->cmd)
        cli_error(ctx, "%s (see 'spectra %s --help')", msg, ctx->cmd);
    else
        cli_error(ctx, "%s (see 'spectra --help')", msg);
    return CLI_USAGE;
}

int cli_client_error(const cli_ctx *ctx, spectra_client *client, int rc)
{
    const char *msg = spectra_last_error(client);
    cli_error(ctx, "%s", msg && *msg ? msg : spectra_strerror(rc));
    return CLI_FAIL;
}

int cli_parse_u64(const cli_ctx *ctx, const char *opt, const char *value, uint64_t lo, uint64_t hi,
                  uint64_t *out)
{
    char *end;
    errno = 0;
    if (!value || !*value || *value == '-' || *value == '+')
        return cli_usage_error(ctx, "%s: '%s' is not a whole number", opt, value ? value : "");
    unsigned long long v = strtoull(value, &end, 10);
    if (*end || errno == ERANGE)
        return cli_usage_error(ctx, "%s: '%s' is not a whole number", opt, value);
    if (v < lo || v > hi)
        return cli_usage_error(ctx, "%s: %llu is out of range [%llu, %llu]", opt, v,
                               (unsigned long long)lo, (unsigned long long)hi);
    *out = v;
    return 0;
}

int cli_parse_double(const cli_ctx *ctx, const char *opt, const char *value, double lo, double hi,
                     double *out)
{
    char *end;
    if (!value || !*value)
        return cli_usage_error(ctx, "%s: missing number", opt);
    double v = strtod(value, &end);
    if (*end || !isfinite(v))
        return cli_usage_error(ctx, "%s: '%s' is not a number", opt, value);
    if (v < lo || v > hi)
        return cli_usage_error(ctx, "%s: %g is out of range [%g, %g]", opt, v, lo, hi);
    *out = v;
    return 0;
}

int cli_parse_seconds_ms(const cli_ctx *ctx, const char *opt, const char *value, int *ms)
{
    double s;
    int rc = cli_parse_double(ctx, opt, value, 0.001, 86400.0 * 24, &s);
    if (rc)
        return rc;
    *ms = (int)ceil(s * 1000.0);
    return 0;
}

int cli_is_global_option(const char *name)
{
    return strcmp(name, "--control") == 0 || strcmp(name, "--ingest") == 0 ||
           strcmp(name, "--publish") == 0 || strcmp(name, "--timeout") == 0 ||
           strcmp(name, "--server-key") == 0 || strcmp(name, "--key") == 0;
}

int cli_global_option(cli_ctx *ctx, const char *name, const char *value)
{
    if (strcmp(name, "--control") == 0)
        ctx->opts.control = value;
    else if (strcmp(name, "--ingest") == 0)
        ctx->opts.ingest = value;
    else if (strcmp(name, "--publish") == 0)
        ctx->opts.publish = value;
    else if (strcmp(name, "--server-key") == 0 || strcmp(name, "--key") == 0) {
        if (!value || !*value)
            return cli_usage_error(ctx, "%s needs a key file", name);
        if (name[2] == 's')
            ctx->opts.server_key = value;
        else
            ctx->opts.client_key = value;
        return 1;
    } else if (strcmp(name, "--timeout") == 0)
        return cli_parse_seconds_ms(ctx, "--timeout", value, &ctx->opts.timeout_ms) ? CLI_USAGE : 1;
    else
        return 0;
    if (!value || !*value)
        return cli_usage_error(ctx, "%s needs an endpoint", name);
    return 1;
}

static const cli_spec *find_spec(const cli_spec *specs, const char *name, size_t n)
{
    for (; specs && specs->name; specs++)
        if (strlen(specs->name) == n && strncmp(specs->name, name, n) == 0)
            return specs;
    return NULL;
}

int cli_parse(cli_ctx *ctx, int argc, char **argv, const cli_spec *specs, cli_option_fn on_option,
              void *state, const char *usage, char ***pos, size_t *n_pos)
{
    char **out = calloc((size_t)argc + 1, sizeof *out);
    size_t n = 0;
    int only_positional = 0;
    if (!out) {
        cli_error(ctx, "out of memory");
        return CLI_FAIL;
    }
    for (int i = 0; i < argc; i++) {
        char *arg = argv[i];
        if (only_positional || arg[0] != '-' || arg[1] == '\0' ||
            (arg[1] != '-' && strcmp(arg, "-h") != 0)) {
            out[n++] = arg; /* "-" (stdin) and negative numbers are positional */
            continue;
        }
        if (strcmp(arg, "--") == 0) {
            only_positional = 1;
            continue;
        }
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            fputs(usage, stdout);
            free(out);
            return CLI_HELP;
        }
        const char *eq = strchr(arg, '=');
        size_t name_len = eq ? (size_t)(eq - arg) : strlen(arg);
        const cli_spec *spec = find_spec(specs, arg, name_len);
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)(name_len < 63 ? name_len : 63), arg);
        int global = !spec && cli_is_global_option(name);
        if (!spec && !global) {
            free(out);
            return cli_usage_error(ctx, "unknown option '%s'", name);
        }
        int has_value = spec ? spec->has_value : 1;
        const char *value = NULL;
        if (has_value) {
            if (eq)
                value = eq + 1;
            else if (i + 1 < argc)
                value = argv[++i];
            else {
                free(out);
                return cli_usage_error(ctx, "%s needs a value", name);
            }
        } else if (eq) {
            free(out);
            return cli_usage_error(ctx, "%s takes no value", name);
        }
        int rc = global ? (cli_global_option(ctx, name, value) == 1 ? 0 : CLI_USAGE)
                        : on_option(ctx, state, spec->id, value);
        if (rc) {
            free(out);
            return rc;
        }
    }
    *pos = out;
    *n_pos = n;
    return 0;
}

spectra_client *cli_connect(const cli_ctx *ctx)
{
    spectra_client *c = spectra_connect(&ctx->opts);
    if (!c) {
        cli_error(ctx, "out of memory");
        return NULL;
    }
    /* A key file that cannot be used is reported now, not as the failure of the first request. */
    if ((ctx->opts.server_key || ctx->opts.client_key) &&
        spectra_set_curve_keys(c, ctx->opts.server_key, ctx->opts.client_key) != 0) {
        if (!ctx->opts.server_key || !ctx->opts.client_key)
            cli_error(ctx, "CURVE needs both --server-key FILE and --key FILE");
        else
            cli_error(ctx, "%s", spectra_last_error(c));
        spectra_close(c);
        return NULL;
    }
    return c;
}

int cli_print_json(const cli_ctx *ctx, const struct msgpack_object *obj, const char *const *skip,
                   int pretty)
{
    msgpack_object shown = *obj;
    msgpack_object_kv *kept = NULL;
    if (skip && obj->type == MSGPACK_OBJECT_MAP && obj->via.map.size) {
        kept = malloc(obj->via.map.size * sizeof *kept);
        if (!kept) {
            cli_error(ctx, "out of memory");
            return CLI_FAIL;
        }
        uint32_t n = 0;
        for (uint32_t i = 0; i < obj->via.map.size; i++) {
            const msgpack_object_kv *kv = &obj->via.map.ptr[i];
            int drop = 0;
            for (const char *const *s = skip; *s && !drop; s++)
                drop = kv->key.type == MSGPACK_OBJECT_STR && kv->key.via.str.size == strlen(*s) &&
                       memcmp(kv->key.via.str.ptr, *s, kv->key.via.str.size) == 0;
            if (!drop)
                kept[n++] = *kv;
        }
        shown.via.map.ptr = kept;
        shown.via.map.size = n;
    }
    char *json;
    int rc = spectra_object_to_json(&shown, pretty ? SPECTRA_JSON_PRETTY : 0, &json, NULL);
    free(kept);
    if (rc) {
        cli_error(ctx, "cannot render JSON: %s", spectra_strerror(rc));
        return CLI_FAIL;
    }
    puts(json);
    free(json);
    if (fflush(stdout) != 0) {
        cli_error(ctx, "write error: %s", strerror(errno));
        return CLI_FAIL;
    }
    return CLI_OK;
}

double cli_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
