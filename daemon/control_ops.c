#include "control_ops.h"

#include "durable.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

static spx_errcode need_str(const spx_request *req, const char *key, char *buf, size_t len,
                            char *err, size_t errlen)
{
    const msgpack_object *o = spx_map_get(req->root, key);
    if (!o) {
        snprintf(err, errlen, "%s: missing \"%s\"", req->op, key);
        return SPX_E_BAD_REQUEST;
    }
    if (spx_obj_str(o, buf, len) != 0) {
        snprintf(err, errlen, "%s: \"%s\" must be a string of at most %zu bytes", req->op, key,
                 len - 1);
        return SPX_E_BAD_REQUEST;
    }
    return SPX_OK;
}

static spx_errcode lookup_stream(spx_server *srv, const spx_request *req, spx_stream **s, char *err,
                                 size_t errlen)
{
    char name[SPX_NAME_MAX + 1];
    spx_errcode code = need_str(req, "stream", name, sizeof name, err, errlen);
    if (code != SPX_OK)
        return code;
    if (!(*s = spx_registry_find(srv->reg, name))) {
        snprintf(err, errlen, "no stream %s", name);
        return SPX_E_UNKNOWN_STREAM;
    }
    return SPX_OK;
}

spx_errcode spx_lookup_pipeline(spx_server *srv, const spx_request *req, spx_stream **s,
                                spx_pipeline **p, char *err, size_t errlen)
{
    char name[SPX_NAME_MAX + 1];
    spx_errcode code = lookup_stream(srv, req, s, err, errlen);
    if (code == SPX_OK)
        code = need_str(req, "pipeline", name, sizeof name, err, errlen);
    if (code != SPX_OK)
        return code;
    if (!(*p = spx_stream_find_pipeline(*s, name))) {
        snprintf(err, errlen, "no pipeline %s on stream %s", name, (*s)->name);
        return SPX_E_UNKNOWN_PIPELINE;
    }
    return SPX_OK;
}

/* Optional uint key: absent leaves *out alone. */
static spx_errcode opt_uint(const spx_request *req, const char *key, uint64_t *out, char *err,
                            size_t errlen)
{
    const msgpack_object *o = spx_map_get(req->root, key);
    if (o && spx_obj_uint(o, out) != 0) {
        snprintf(err, errlen, "%s: \"%s\" must be a non-negative integer", req->op, key);
        return SPX_E_BAD_REQUEST;
    }
    return SPX_OK;
}

spx_errcode spx_op_ping(spx_server *srv, spx_request *req, msgpack_packer *pk, char *err,
                        size_t errlen)
{
    spx_reply_begin(pk, req, 3);
    spx_pack_key_cstr(pk, "version", SPX_VERSION);
    spx_pack_key_uint(pk, "protocol", SPX_PROTOCOL_VERSION);
    spx_pack_key_double(pk, "uptime_s", spx_now() - srv->started);
    return SPX_OK;
}

#define SPX_CREATE_CHANNELS_MAX 1024

/* An optional array of at most 1024 strings of at most SPX_LABEL_MAX bytes under `key`; the loop
 * thread is the only caller, so the text lives in the caller's static buffers. */
static spx_errcode str_array(const spx_request *req, const char *key, const char **out,
                             char (*buf)[SPX_LABEL_MAX + 1], size_t *n, char *err, size_t errlen)
{
    const msgpack_object *o = spx_map_get(req->root, key);
    *n = 0;
    if (!o)
        return SPX_OK;
    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size > SPX_CREATE_CHANNELS_MAX) {
        snprintf(err, errlen, "create: \"%s\" must be an array of at most %d strings", key,
                 SPX_CREATE_CHANNELS_MAX);
        return SPX_E_BAD_REQUEST;
    }
    for (uint32_t i = 0; i < o->via.array.size; i++) {
        if (spx_obj_str(&o->via.array.ptr[i], buf[i], SPX_LABEL_MAX + 1) != 0) {
            snprintf(err, errlen, "create: %s[%u] must be a string of at most %d bytes", key, i,
                     SPX_LABEL_MAX);
            return SPX_E_BAD_REQUEST;
        }
        out[i] = buf[i];
    }
    *n = o->via.array.size;
    return SPX_OK;
}

spx_errcode spx_op_create(spx_server *srv, spx_request *req, msgpack_packer *pk, char *err,
                          size_t errlen)
{
    char name[SPX_NAME_MAX + 1], kind_text[16];
    spx_kind kind;
    uint64_t dim = 0;
    double rate = 0;
    spx_errcode code = need_str(req, "stream", name, sizeof name, err, errlen);
    if (code == SPX_OK)
        code = need_str(req, "kind", kind_text, sizeof kind_text, err, errlen);
    if (code != SPX_OK)
        return code;
    if (spx_kind_parse(kind_text, strlen(kind_text), &kind) != 0) {
        snprintf(err, errlen, "create: kind '%s' is not rows, series or blocks", kind_text);
        return SPX_E_BAD_REQUEST;
    }
    const msgpack_object *o = spx_map_get(req->root, "dim");
    if (!o || spx_obj_uint(o, &dim) != 0 || dim == 0 || dim > (1u << 20)) {
        snprintf(err, errlen, "create: \"dim\" must be an integer in [1, %u]", 1u << 20);
        return SPX_E_BAD_REQUEST;
    }
    if ((o = spx_map_get(req->root, "rate")) && spx_obj_double(o, &rate) != 0) {
        snprintf(err, errlen, "create: \"rate\" must be a number");
        return SPX_E_BAD_REQUEST;
    }
    /* Channel names and units: arrays of dim strings, copied by the stream. */
    static char names_buf[SPX_CREATE_CHANNELS_MAX][SPX_LABEL_MAX + 1];
    static char units_buf[SPX_CREATE_CHANNELS_MAX][SPX_LABEL_MAX + 1];
    const char *names[SPX_CREATE_CHANNELS_MAX], *units[SPX_CREATE_CHANNELS_MAX];
    size_t n_names = 0, n_units = 0;
    if ((code = str_array(req, "channel_names", names, names_buf, &n_names, err, errlen)) != SPX_OK ||
        (code = str_array(req, "channel_units", units, units_buf, &n_units, err, errlen)) != SPX_OK)
        return code;
    if (n_units && (kind != SPX_KIND_SERIES || n_units != dim)) {
        snprintf(err, errlen, "create: channel_units: need exactly dim=%llu units on a series stream",
                 (unsigned long long)dim);
        return SPX_E_BAD_REQUEST;
    }
    /* Durability and dedupe: the daemon's default unless the request says otherwise. */
    spx_durability durability = srv->cfg.durability;
    bool dedupe = false;
    char dur_text[16];
    if ((o = spx_map_get(req->root, "durability")) && o->type != MSGPACK_OBJECT_NIL &&
        (spx_obj_str(o, dur_text, sizeof dur_text) != 0 ||
         spx_durability_parse(dur_text, &durability) != 0)) {
        snprintf(err, errlen, "create: \"durability\" must be none, snapshot or journal");
        return SPX_E_BAD_REQUEST;
    }
    if ((o = spx_map_get(req->root, "dedupe")) && o->type != MSGPACK_OBJECT_NIL &&
        spx_obj_bool(o, &dedupe) != 0) {
        snprintf(err, errlen, "create: \"dedupe\" must be a bool");
        return SPX_E_BAD_REQUEST;
    }
    spx_stream *created;
    code = spx_registry_create(srv->reg, name, kind, (uint32_t)dim, rate, names, n_names, &created,
                               err, errlen);
    if (code == SPX_OK && n_units &&
        (code = spx_stream_set_units(created, units, n_units, err, errlen)) != SPX_OK)
        spx_registry_drop(srv->reg, created, NULL, 0);   /* all or nothing */
    if (code != SPX_OK)
        return code;
    created->durability = durability;
    created->dedupe = dedupe;
    spx_durable_stream_created(srv, created);
    spx_info("stream=%s: created (%s, dim %llu, durability %s%s)", name, kind_text,
             (unsigned long long)dim, spx_durability_name(created->durability),
             dedupe ? ", dedupe" : "");
    spx_reply_begin(pk, req, 0);
    return SPX_OK;
}

spx_errcode spx_op_drop(spx_server *srv, spx_request *req, msgpack_packer *pk, char *err,
                        size_t errlen)
{
    spx_stream *s;
    spx_errcode code = lookup_stream(srv, req, &s, err, errlen);
    if (code != SPX_OK)
        return code;
    spx_pipeline *orphans[SPX_STREAM_PIPELINES_MAX];
    /* Answer the gets parked on idle pipelines before they are freed; busy ones (orphans) answer
     * theirs when their job returns. */
    for (size_t i = 0; i < s->n_pipelines; i++) {
        spx_control_fail_commands(srv, s->pipelines[i]);
        if (!s->pipelines[i]->busy)
            spx_control_answer_gets(srv, s->pipelines[i], true);
    }
    char name[SPX_NAME_MAX + 1];
    snprintf(name, sizeof name, "%s", s->name);
    spx_durable_stream_dropped(srv, s);   /* its snapshot and journal go with it */
    spx_registry_drop(srv->reg, s, orphans, SPX_STREAM_PIPELINES_MAX);
    spx_info("stream=%s: dropped", name);
    spx_reply_begin(pk, req, 0);
    return SPX_OK;
}

static void pack_pipeline_summary(msgpack_packer *pk, const spx_pipeline *p)
{
    msgpack_pack_map(pk, 6);
    spx_pack_key_cstr(pk, "pipeline", p->name);
    spx_pack_key_cstr(pk, "algo", p->ops->algo);
    spx_pack_cstr(pk, "params");
    msgpack_pack_map(pk, p->n_params);
    for (size_t i = 0; i < p->n_params; i++)
        spx_pack_key_cstr(pk, p->param_keys[i], p->param_values[i]);
    spx_pack_key_uint(pk, "every", p->policy.every);
    spx_pack_key_uint(pk, "interval_ms", p->policy.interval_ms);
    spx_pack_key_uint(pk, "published", p->stats.published);
}

spx_errcode spx_op_list(spx_server *srv, spx_request *req, msgpack_packer *pk, char *err,
                        size_t errlen)
{
    size_t n = spx_registry_count(srv->reg);
    spx_reply_begin(pk, req, 1);
    spx_pack_cstr(pk, "streams");
    msgpack_pack_array(pk, n);
    for (size_t i = 0; i < n; i++) {
        spx_stream *s = spx_registry_at(srv->reg, i);
        msgpack_pack_map(pk, 9);
        spx_pack_key_cstr(pk, "stream", s->name);
        spx_pack_key_cstr(pk, "kind", spx_kind_name(s->kind));
        spx_pack_key_uint(pk, "dim", s->dim);
        spx_pack_key_double(pk, "rate", s->rate);
        spx_pack_cstr(pk, "channel_names");
        if (s->channel_names) {
            msgpack_pack_array(pk, s->dim);
            for (uint32_t c = 0; c < s->dim; c++)
                spx_pack_cstr(pk, s->channel_names[c]);
        } else {
            msgpack_pack_nil(pk);
        }
        spx_pack_cstr(pk, "channel_units");
        if (s->channel_units) {
            msgpack_pack_array(pk, s->dim);
            for (uint32_t c = 0; c < s->dim; c++)
                spx_pack_cstr(pk, s->channel_units[c]);
        } else {
            msgpack_pack_nil(pk);
        }
        spx_pack_key_uint(pk, "messages", s->c.messages);
        spx_pack_key_uint(pk, "count", s->c.count);
        spx_pack_cstr(pk, "pipelines");
        msgpack_pack_array(pk, s->n_pipelines);
        for (size_t j = 0; j < s->n_pipelines; j++)
            pack_pipeline_summary(pk, s->pipelines[j]);
    }
    return SPX_OK;
}

spx_errcode spx_op_attach(spx_server *srv, spx_request *req, msgpack_packer *pk, char *err,
                          size_t errlen)
{
    spx_stream *s;
    char name[SPX_NAME_MAX + 1], algo[SPX_NAME_MAX + 1];
    spx_errcode code = lookup_stream(srv, req, &s, err, errlen);
    if (code == SPX_OK)
        code = need_str(req, "pipeline", name, sizeof name, err, errlen);
    if (code == SPX_OK)
        code = need_str(req, "algo", algo, sizeof algo, err, errlen);
    if (code != SPX_OK)
        return code;
    const spx_pipeline_ops *ops = spx_pipeline_kind_find(algo);
    if (!ops) {
        int off = snprintf(err, errlen, "no algorithm '%s' (", algo);
        const spx_pipeline_ops *const *k = spx_pipeline_kinds();
        for (size_t i = 0; k[i] && off > 0 && (size_t)off < errlen; i++)
            off += snprintf(err + off, errlen - (size_t)off, "%s%s", i ? ", " : "", k[i]->algo);
        if (off > 0 && (size_t)off < errlen)
            snprintf(err + off, errlen - (size_t)off, ")");
        return SPX_E_UNKNOWN_ALGO;
    }
    if (spx_stream_find_pipeline(s, name)) {
        snprintf(err, errlen, "pipeline %s.%s exists", s->name, name);
        return SPX_E_EXISTS;
    }
    spx_publish_policy policy = {.every = 0, .interval_ms = 250};
    if ((code = opt_uint(req, "every", &policy.every, err, errlen)) != SPX_OK ||
        (code = opt_uint(req, "interval_ms", &policy.interval_ms, err, errlen)) != SPX_OK)
        return code;

    spx_param params[SPX_PARAMS_MAX];
    char keys[SPX_PARAMS_MAX][SPX_NAME_MAX + 1], values[SPX_PARAMS_MAX][SPX_PARAM_TEXT_MAX];
    size_t n_params = 0;
    const msgpack_object *o = spx_map_get(req->root, "params");
    if (o && o->type != MSGPACK_OBJECT_NIL) {
        if (o->type != MSGPACK_OBJECT_MAP || o->via.map.size > SPX_PARAMS_MAX) {
            snprintf(err, errlen, "attach: \"params\" must be a map of at most %d entries",
                     SPX_PARAMS_MAX);
            return SPX_E_BAD_REQUEST;
        }
        for (uint32_t i = 0; i < o->via.map.size; i++) {
            const msgpack_object_kv *kv = &o->via.map.ptr[i];
            if (spx_obj_str(&kv->key, keys[i], sizeof keys[i]) != 0 ||
                spx_obj_scalar_text(&kv->val, values[i], sizeof values[i]) != 0) {
                snprintf(err, errlen, "attach: params entry %u must be a string key with a "
                         "string, number or bool value", i);
                return SPX_E_BAD_REQUEST;
            }
            params[i] = (spx_param){keys[i], values[i]};
        }
        n_params = o->via.map.size;
    }
    spx_stream_info info;
    spx_stream_get_info(s, &info);
    spx_pipeline *p;
    code = spx_pipeline_create(&p, s->name, &info, name, ops, params, n_params, policy, err, errlen);
    if (code == SPX_OK && (code = spx_stream_attach(s, p, err, errlen)) != SPX_OK)
        spx_pipeline_free(p);
    if (code != SPX_OK)
        return code;
    spx_info("stream=%s pipeline=%s: %s attached", s->name, name, algo);
    spx_durable_structure_changed(srv, s);
    spx_reply_begin(pk, req, 0);
    return SPX_OK;
}

spx_errcode spx_op_detach(spx_server *srv, spx_request *req, msgpack_packer *pk, char *err,
                          size_t errlen)
{
    spx_stream *s;
    spx_pipeline *p;
    spx_errcode code = spx_lookup_pipeline(srv, req, &s, &p, err, errlen);
    if (code != SPX_OK)
        return code;
    spx_info("stream=%s pipeline=%s: detached", s->name, p->name);
    spx_control_fail_commands(srv, p);
    if (!p->busy)
        spx_control_answer_gets(srv, p, true);
    spx_stream_detach(s, p);   /* a busy pipeline is freed when its job returns */
    spx_durable_structure_changed(srv, s);
    spx_reply_begin(pk, req, 0);
    return SPX_OK;
}

spx_errcode spx_op_save(spx_server *srv, spx_request *req, msgpack_packer *pk, char *err,
                        size_t errlen)
{
    spx_stream *s = NULL;
    if (spx_map_get(req->root, "stream")) {
        spx_errcode code = lookup_stream(srv, req, &s, err, errlen);
        if (code != SPX_OK)
            return code;
    }
    if (!srv->cfg.state_dir[0]) {
        snprintf(err, errlen, "save: no state dir configured (--state-dir or state_dir=)");
        return SPX_E_BAD_REQUEST;
    }
    if (s && s->durability == SPX_DURABILITY_NONE) {
        snprintf(err, errlen, "save: stream %s has durability none", s->name);
        return SPX_E_BAD_REQUEST;
    }
    uint64_t covers = 0;
    size_t started = spx_durable_save(srv, s, &covers);
    spx_reply_begin(pk, req, s ? 2 : 1);
    spx_pack_key_uint(pk, "snapshots", started);
    if (s)
        spx_pack_key_uint(pk, "messages", covers);
    return SPX_OK;
}

spx_errcode spx_op_position(spx_server *srv, spx_request *req, msgpack_packer *pk, char *err,
                            size_t errlen)
{
    spx_stream *s;
    spx_errcode code = lookup_stream(srv, req, &s, err, errlen);
    if (code != SPX_OK)
        return code;
    spx_reply_begin(pk, req, 10);
    spx_pack_key_cstr(pk, "stream", s->name);
    spx_durable_pack_position(srv, s, pk);
    return SPX_OK;
}

spx_errcode spx_op_algos(spx_server *srv, spx_request *req, msgpack_packer *pk, char *err,
                         size_t errlen)
{
    const spx_pipeline_ops *const *k = spx_pipeline_kinds();
    size_t n = 0;
    while (k[n])
        n++;
    spx_reply_begin(pk, req, 1);
    spx_pack_cstr(pk, "algos");
    msgpack_pack_array(pk, n);
    for (size_t i = 0; i < n; i++) {
        msgpack_pack_map(pk, 4);
        spx_pack_key_cstr(pk, "algo", k[i]->algo);
        spx_pack_key_cstr(pk, "commands", k[i]->commands ? k[i]->commands : "");
        spx_pack_key_cstr(pk, "summary", k[i]->summary);
        spx_pack_cstr(pk, "kinds");
        size_t nk = 0;
        for (unsigned bit = 1; bit <= SPX_KIND_BLOCKS; bit <<= 1)
            nk += (k[i]->kinds & bit) != 0;
        msgpack_pack_array(pk, nk);
        for (unsigned bit = 1; bit <= SPX_KIND_BLOCKS; bit <<= 1)
            if (k[i]->kinds & bit)
                spx_pack_cstr(pk, spx_kind_name((spx_kind)bit));
    }
    return SPX_OK;
}
