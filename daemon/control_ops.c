#include "control_ops.h"

#include "durable.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

static spx_errcode find_stream(spx_server *srv, const char *name, spx_stream **s, char *err,
                               size_t errlen)
{
    if (!(*s = spx_registry_find(srv->reg, name))) {
        snprintf(err, errlen, "no stream %s", name);
        return SPX_E_UNKNOWN_STREAM;
    }
    return SPX_OK;
}

spx_errcode spx_find_target(spx_server *srv, const spx_target_args *t, spx_stream **s,
                            spx_pipeline **p, char *err, size_t errlen)
{
    spx_errcode code = find_stream(srv, t->stream, s, err, errlen);
    if (code != SPX_OK)
        return code;
    if (!(*p = spx_stream_find_pipeline(*s, t->pipeline))) {
        snprintf(err, errlen, "no pipeline %s on stream %s", t->pipeline, (*s)->name);
        return SPX_E_UNKNOWN_PIPELINE;
    }
    return SPX_OK;
}

spx_errcode spx_lookup_pipeline(spx_server *srv, const spx_request *req, spx_stream **s,
                                spx_pipeline **p, char *err, size_t errlen)
{
    spx_target_args t;
    spx_errcode code = spx_control_parse_target(req, &t, err, errlen);
    return code == SPX_OK ? spx_find_target(srv, &t, s, p, err, errlen) : code;
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

spx_errcode spx_op_create(spx_server *srv, spx_request *req, msgpack_packer *pk, char *err,
                          size_t errlen)
{
    /* 130 KiB of channel labels: static, as only the loop thread runs control ops. */
    static spx_create_args a;
    spx_errcode code = spx_control_parse_create(req, &a, err, errlen);
    if (code != SPX_OK)
        return code;
    const char *names[SPX_CREATE_CHANNELS_MAX], *units[SPX_CREATE_CHANNELS_MAX];
    for (size_t i = 0; i < a.n_names; i++)
        names[i] = a.names[i];
    for (size_t i = 0; i < a.n_units; i++)
        units[i] = a.units[i];
    spx_stream *created;
    code = spx_registry_create(srv->reg, a.stream, a.kind, a.dim, a.rate, names, a.n_names,
                               &created, err, errlen);
    if (code == SPX_OK && a.n_units &&
        (code = spx_stream_set_units(created, units, a.n_units, err, errlen)) != SPX_OK)
        spx_registry_drop(srv->reg, created, NULL, 0);   /* all or nothing */
    if (code != SPX_OK)
        return code;
    created->durability = a.has_durability ? a.durability : srv->cfg.durability;
    created->dedupe = a.dedupe;
    spx_durable_stream_created(srv, created);
    spx_info("stream=%s: created (%s, dim %u, durability %s%s)", a.stream, spx_kind_name(a.kind),
             (unsigned)a.dim, spx_durability_name(created->durability), a.dedupe ? ", dedupe" : "");
    spx_reply_begin(pk, req, 0);
    return SPX_OK;
}

spx_errcode spx_op_drop(spx_server *srv, spx_request *req, msgpack_packer *pk, char *err,
                        size_t errlen)
{
    spx_target_args t;
    spx_stream *s;
    spx_errcode code = spx_control_parse_stream(req, &t, err, errlen);
    if (code == SPX_OK)
        code = find_stream(srv, t.stream, &s, err, errlen);
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
    spx_attach_args a;
    spx_stream *s;
    spx_errcode code = spx_control_parse_attach(req, &a, err, errlen);
    if (code == SPX_OK)
        code = find_stream(srv, a.stream, &s, err, errlen);
    if (code != SPX_OK)
        return code;
    const spx_pipeline_ops *ops = spx_pipeline_kind_find(a.algo);
    if (!ops) {
        int off = snprintf(err, errlen, "no algorithm '%s' (", a.algo);
        const spx_pipeline_ops *const *k = spx_pipeline_kinds();
        for (size_t i = 0; k[i] && off > 0 && (size_t)off < errlen; i++)
            off += snprintf(err + off, errlen - (size_t)off, "%s%s", i ? ", " : "", k[i]->algo);
        if (off > 0 && (size_t)off < errlen)
            snprintf(err + off, errlen - (size_t)off, ")");
        return SPX_E_UNKNOWN_ALGO;
    }
    if (spx_stream_find_pipeline(s, a.pipeline)) {
        snprintf(err, errlen, "pipeline %s.%s exists", s->name, a.pipeline);
        return SPX_E_EXISTS;
    }
    spx_param params[SPX_PARAMS_MAX];
    size_t n_params = spx_attach_args_params(&a, params);
    spx_stream_info info;
    spx_stream_get_info(s, &info);
    spx_pipeline *p;
    code = spx_pipeline_create(&p, s->name, &info, a.pipeline, ops, params, n_params, a.policy,
                               err, errlen);
    if (code == SPX_OK && (code = spx_stream_attach(s, p, err, errlen)) != SPX_OK)
        spx_pipeline_free(p);
    if (code != SPX_OK)
        return code;
    spx_info("stream=%s pipeline=%s: %s attached", s->name, a.pipeline, a.algo);
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
        spx_target_args t;
        spx_errcode code = spx_control_parse_stream(req, &t, err, errlen);
        if (code == SPX_OK)
            code = find_stream(srv, t.stream, &s, err, errlen);
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
    spx_target_args t;
    spx_stream *s;
    spx_errcode code = spx_control_parse_stream(req, &t, err, errlen);
    if (code == SPX_OK)
        code = find_stream(srv, t.stream, &s, err, errlen);
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
