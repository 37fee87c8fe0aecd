/* spectra get --detail / call / algos: a pipeline's named operations (docs/protocol.md: `get` with a
 * detail, `call`) and the algorithms a daemon offers. Arguments are key=value words: numbers and
 * true/false are sent as such, @FILE sends a file's bytes (e.g. a saved model), anything else as text. */
#include <errno.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

enum { OPT_PRETTY = 1, OPT_DETAIL, OPT_OUTPUT };

typedef struct call_opts {
    int pretty;
    const char *detail;
    const char *output;
} call_opts;

static int on_option(cli_ctx *ctx, void *st, int id, const char *value)
{
    call_opts *o = st;
    (void)ctx;
    switch (id) {
    case OPT_PRETTY: o->pretty = 1; return 0;
    case OPT_DETAIL: o->detail = value; return 0;
    case OPT_OUTPUT: o->output = value; return 0;
    }
    return CLI_USAGE;
}

static void pack_str(msgpack_packer *pk, const char *s) { msgpack_pack_str_with_body(pk, s, strlen(s)); }

/* Reads a whole file; NULL with errno on failure. */
static unsigned char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    unsigned char *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n == cap) {
            cap = cap ? cap * 2 : 65536;
            unsigned char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                errno = ENOMEM;
                return NULL;
            }
            buf = nb;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        errno = EIO;
        return NULL;
    }
    *len = n;
    return buf;
}

/* Packs one key=value word's value. */
static int pack_value(cli_ctx *ctx, msgpack_packer *pk, const char *v)
{
    char *end;
    if (v[0] == '@') {
        size_t len;
        unsigned char *data = read_file(v + 1, &len);
        if (!data) {
            cli_error(ctx, "%s: %s", v + 1, strerror(errno));
            return CLI_FAIL;
        }
        msgpack_pack_bin_with_body(pk, data, len);
        free(data);
        return 0;
    }
    if (!strcmp(v, "true") || !strcmp(v, "false")) {
        (v[0] == 't' ? msgpack_pack_true : msgpack_pack_false)(pk);
        return 0;
    }
    long long i = strtoll(v, &end, 10);
    if (*v && !*end) {
        msgpack_pack_int64(pk, i);
        return 0;
    }
    double d = strtod(v, &end);
    if (*v && !*end) {
        msgpack_pack_double(pk, d);
        return 0;
    }
    pack_str(pk, v);
    return 0;
}

/* {op, stream, pipeline, <name_key>: name, args: {k: v...}} */
static int build_request(cli_ctx *ctx, msgpack_sbuffer *sb, const char *op, const char *stream,
                         const char *pipeline, const char *name_key, const char *name,
                         char **words, size_t n_words)
{
    msgpack_packer pk;
    msgpack_sbuffer_init(sb);
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 5);
    pack_str(&pk, "op"); pack_str(&pk, op);
    pack_str(&pk, "stream"); pack_str(&pk, stream);
    pack_str(&pk, "pipeline"); pack_str(&pk, pipeline);
    pack_str(&pk, name_key); pack_str(&pk, name);
    pack_str(&pk, "args");
    msgpack_pack_map(&pk, n_words);
    for (size_t i = 0; i < n_words; i++) {
        char *eq = strchr(words[i], '=');
        if (!eq || eq == words[i])
            return cli_usage_error(ctx, "'%s': arguments are key=value", words[i]);
        msgpack_pack_str_with_body(&pk, words[i], (size_t)(eq - words[i]));
        int rc = pack_value(ctx, &pk, eq + 1);
        if (rc)
            return rc;
    }
    return 0;
}

/* Sends the request and prints reply["value"] as JSON, or writes it to --output (bin as raw bytes). */
static int run(cli_ctx *ctx, const call_opts *o, msgpack_sbuffer *sb)
{
    spectra_client *c = cli_connect(ctx);
    if (!c)
        return CLI_FAIL;
    spectra_msg *reply = NULL;
    int rc = spectra_request(c, sb->data, sb->size, &reply);
    int status = CLI_OK;
    const struct msgpack_object *value;
    if (rc) {
        status = cli_client_error(ctx, c, rc);
    } else if (spectra_msg_find(reply, "value", &value) != 0) {
        cli_error(ctx, "reply has no \"value\"");
        status = CLI_FAIL;
    } else if (o->output) {
        FILE *f = fopen(o->output, "wb");
        int ok = f != NULL;
        if (ok && value->type == MSGPACK_OBJECT_BIN)
            ok = fwrite(value->via.bin.ptr, 1, value->via.bin.size, f) == value->via.bin.size;
        else if (ok) {
            msgpack_sbuffer out;
            msgpack_packer pk;
            msgpack_sbuffer_init(&out);
            msgpack_packer_init(&pk, &out, msgpack_sbuffer_write);
            msgpack_pack_object(&pk, *value);
            ok = fwrite(out.data, 1, out.size, f) == out.size;
            msgpack_sbuffer_destroy(&out);
        }
        if (f && fclose(f) != 0)
            ok = 0;
        if (!ok) {
            cli_error(ctx, "%s: %s", o->output, strerror(errno));
            status = CLI_FAIL;
        }
    } else {
        status = cli_print_json(ctx, value, NULL, o->pretty);
    }
    spectra_msg_free(reply);
    spectra_close(c);
    return status;
}

static const cli_spec call_specs[] = {
    {"--pretty", 0, OPT_PRETTY}, {"--output", 1, OPT_OUTPUT}, {NULL, 0, 0}};

int cmd_call(cli_ctx *ctx, int argc, char **argv)
{
    static const char usage[] =
        "usage: spectra call STREAM PIPELINE METHOD [key=value ...] [--output FILE] [--pretty]\n"
        "\n"
        "Runs a named operation of a pipeline (e.g. `fit` of eegclass, `recluster` of svdcluster)\n"
        "after every input the daemon has accepted, and prints its value as JSON. Values: numbers\n"
        "and true/false are sent as such, @FILE sends the file's bytes, anything else as text.\n"
        "--output FILE writes the value to FILE (binary values as raw bytes).\n"
        "`spectra algos` lists each algorithm's operations.\n";
    call_opts o = {0};
    char **pos;
    size_t n;
    int rc = cli_parse(ctx, argc, argv, call_specs, on_option, &o, usage, &pos, &n);
    if (rc)
        return rc;
    if (n < 3) {
        free(pos);
        return cli_usage_error(ctx, "missing arguments");
    }
    msgpack_sbuffer sb;
    rc = build_request(ctx, &sb, "call", pos[0], pos[1], "method", pos[2], pos + 3, n - 3);
    if (!rc)
        rc = run(ctx, &o, &sb);
    msgpack_sbuffer_destroy(&sb);
    free(pos);
    return rc;
}

/* `spectra get STREAM PIPELINE --detail NAME [key=value ...]` (called by cmd_get). */
int cmd_get_detail(cli_ctx *ctx, const char *stream, const char *pipeline, const char *detail,
                   char **words, size_t n_words, const char *output, int pretty)
{
    call_opts o = {.pretty = pretty, .detail = detail, .output = output};
    msgpack_sbuffer sb;
    int rc = build_request(ctx, &sb, "get", stream, pipeline, "detail", detail, words, n_words);
    if (!rc)
        rc = run(ctx, &o, &sb);
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

int cmd_algos(cli_ctx *ctx, int argc, char **argv)
{
    static const char usage[] =
        "usage: spectra algos [--pretty]\n"
        "\n"
        "Lists the algorithms the daemon can attach, with the stream kinds each accepts and the\n"
        "named operations (get --detail / call) each offers, as JSON.\n";
    call_opts o = {0};
    char **pos;
    size_t n;
    int rc = cli_parse(ctx, argc, argv, call_specs, on_option, &o, usage, &pos, &n);
    if (rc)
        return rc;
    free(pos);
    if (n)
        return cli_usage_error(ctx, "unexpected argument");
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 1);
    pack_str(&pk, "op");
    pack_str(&pk, "algos");
    spectra_client *c = cli_connect(ctx);
    spectra_msg *reply = NULL;
    const struct msgpack_object *algos;
    if (!c) {
        rc = CLI_FAIL;
    } else if ((rc = spectra_request(c, sb.data, sb.size, &reply)) != 0) {
        rc = cli_client_error(ctx, c, rc);
    } else if (spectra_msg_find(reply, "algos", &algos) == 0) {
        rc = cli_print_json(ctx, algos, NULL, o.pretty);
    } else {
        cli_error(ctx, "reply has no \"algos\"");
        rc = CLI_FAIL;
    }
    spectra_msg_free(reply);
    if (c)
        spectra_close(c);
    msgpack_sbuffer_destroy(&sb);
    return rc;
}
