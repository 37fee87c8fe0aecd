#include "control_args.h"

#include <stdio.h>
#include <string.h>

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

/* An optional array of at most SPX_CREATE_CHANNELS_MAX strings of at most SPX_LABEL_MAX bytes. */
static spx_errcode str_array(const spx_request *req, const char *key,
                             char (*buf)[SPX_LABEL_MAX + 1], size_t *n, char *err, size_t errlen)
{
    const msgpack_object *o = spx_map_get(req->root, key);
    *n = 0;
    if (!o)
        return SPX_OK;
    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size > SPX_CREATE_CHANNELS_MAX) {
        snprintf(err, errlen, "%s: \"%s\" must be an array of at most %d strings", req->op, key,
                 SPX_CREATE_CHANNELS_MAX);
        return SPX_E_BAD_REQUEST;
    }
    for (uint32_t i = 0; i < o->via.array.size; i++) {
        if (spx_obj_str(&o->via.array.ptr[i], buf[i], SPX_LABEL_MAX + 1) != 0) {
            snprintf(err, errlen, "%s: %s[%u] must be a string of at most %d bytes", req->op, key,
                     i, SPX_LABEL_MAX);
            return SPX_E_BAD_REQUEST;
        }
    }
    *n = o->via.array.size;
    return SPX_OK;
}

/* A detail or method name: 1..SPX_DETAIL_NAME_MAX bytes. */
static spx_errcode command_name(const spx_request *req, const msgpack_object *o, const char *what,
                                char *name, char *err, size_t errlen)
{
    if (!o || spx_obj_str(o, name, SPX_DETAIL_NAME_MAX + 1) != 0 || !name[0]) {
        snprintf(err, errlen, "%s: \"%s\" must be a string of 1-%d bytes", req->op, what,
                 SPX_DETAIL_NAME_MAX);
        return SPX_E_BAD_REQUEST;
    }
    return SPX_OK;
}

static spx_errcode command_map_args(const spx_request *req, spx_command_args *out, char *err,
                                    size_t errlen)
{
    const msgpack_object *args = spx_map_get(req->root, "args");
    if (args && args->type != MSGPACK_OBJECT_MAP && args->type != MSGPACK_OBJECT_NIL) {
        snprintf(err, errlen, "%s: \"args\" must be a map", req->op);
        return SPX_E_BAD_REQUEST;
    }
    out->args = args && args->type == MSGPACK_OBJECT_MAP ? args : NULL;
    return SPX_OK;
}

spx_errcode spx_control_parse_stream(const spx_request *req, spx_target_args *out, char *err,
                                     size_t errlen)
{
    memset(out, 0, sizeof *out);
    return need_str(req, "stream", out->stream, sizeof out->stream, err, errlen);
}

spx_errcode spx_control_parse_target(const spx_request *req, spx_target_args *out, char *err,
                                     size_t errlen)
{
    spx_errcode code = spx_control_parse_stream(req, out, err, errlen);
    if (code == SPX_OK)
        code = need_str(req, "pipeline", out->pipeline, sizeof out->pipeline, err, errlen);
    return code;
}

spx_errcode spx_control_parse_create(const spx_request *req, spx_create_args *out, char *err,
                                     size_t errlen)
{
    char kind_text[16];
    out->stream[0] = '\0';
    out->dim = 0;
    out->rate = 0;
    out->n_names = out->n_units = 0;
    spx_errcode code = need_str(req, "stream", out->stream, sizeof out->stream, err, errlen);
    if (code == SPX_OK)
        code = need_str(req, "kind", kind_text, sizeof kind_text, err, errlen);
    if (code != SPX_OK)
        return code;
    if (spx_kind_parse(kind_text, strlen(kind_text), &out->kind) != 0) {
        snprintf(err, errlen, "create: kind '%s' is not rows, series or blocks", kind_text);
        return SPX_E_BAD_REQUEST;
    }
    uint64_t dim = 0;
    const msgpack_object *o = spx_map_get(req->root, "dim");
    if (!o || spx_obj_uint(o, &dim) != 0 || dim == 0 || dim > SPX_DIM_MAX) {
        snprintf(err, errlen, "create: \"dim\" must be an integer in [1, %d]", SPX_DIM_MAX);
        return SPX_E_BAD_REQUEST;
    }
    out->dim = (uint32_t)dim;
    if ((o = spx_map_get(req->root, "rate")) && spx_obj_double(o, &out->rate) != 0) {
        snprintf(err, errlen, "create: \"rate\" must be a number");
        return SPX_E_BAD_REQUEST;
    }
    if ((code = str_array(req, "channel_names", out->names, &out->n_names, err, errlen)) !=
            SPX_OK ||
        (code = str_array(req, "channel_units", out->units, &out->n_units, err, errlen)) != SPX_OK)
        return code;
    if (out->n_units && (out->kind != SPX_KIND_SERIES || out->n_units != dim)) {
        snprintf(err, errlen, "create: channel_units: need exactly dim=%llu units on a series stream",
                 (unsigned long long)dim);
        return SPX_E_BAD_REQUEST;
    }
    out->has_durability = false;
    out->dedupe = false;
    char dur_text[16];
    if ((o = spx_map_get(req->root, "durability")) && o->type != MSGPACK_OBJECT_NIL) {
        if (spx_obj_str(o, dur_text, sizeof dur_text) != 0 ||
            spx_durability_parse(dur_text, &out->durability) != 0) {
            snprintf(err, errlen, "create: \"durability\" must be none, snapshot or journal");
            return SPX_E_BAD_REQUEST;
        }
        out->has_durability = true;
    }
    if ((o = spx_map_get(req->root, "dedupe")) && o->type != MSGPACK_OBJECT_NIL &&
        spx_obj_bool(o, &out->dedupe) != 0) {
        snprintf(err, errlen, "create: \"dedupe\" must be a bool");
        return SPX_E_BAD_REQUEST;
    }
    return SPX_OK;
}

spx_errcode spx_control_parse_attach(const spx_request *req, spx_attach_args *out, char *err,
                                     size_t errlen)
{
    memset(out, 0, sizeof *out);
    out->policy = (spx_publish_policy){.every = 0, .interval_ms = 250};
    spx_errcode code = need_str(req, "stream", out->stream, sizeof out->stream, err, errlen);
    if (code == SPX_OK)
        code = need_str(req, "pipeline", out->pipeline, sizeof out->pipeline, err, errlen);
    if (code == SPX_OK)
        code = need_str(req, "algo", out->algo, sizeof out->algo, err, errlen);
    if (code == SPX_OK)
        code = opt_uint(req, "every", &out->policy.every, err, errlen);
    if (code == SPX_OK)
        code = opt_uint(req, "interval_ms", &out->policy.interval_ms, err, errlen);
    if (code != SPX_OK)
        return code;

    const msgpack_object *o = spx_map_get(req->root, "params");
    if (!o || o->type == MSGPACK_OBJECT_NIL)
        return SPX_OK;
    if (o->type != MSGPACK_OBJECT_MAP || o->via.map.size > SPX_PARAMS_MAX) {
        snprintf(err, errlen, "attach: \"params\" must be a map of at most %d entries",
                 SPX_PARAMS_MAX);
        return SPX_E_BAD_REQUEST;
    }
    for (uint32_t i = 0; i < o->via.map.size; i++) {
        const msgpack_object_kv *kv = &o->via.map.ptr[i];
        if (spx_obj_str(&kv->key, out->keys[i], sizeof out->keys[i]) != 0 ||
            spx_obj_scalar_text(&kv->val, out->values[i], sizeof out->values[i]) != 0) {
            snprintf(err, errlen, "attach: params entry %u must be a string key with a "
                     "string, number or bool value", i);
            return SPX_E_BAD_REQUEST;
        }
    }
    out->n_params = o->via.map.size;
    return SPX_OK;
}

size_t spx_attach_args_params(const spx_attach_args *args, spx_param *params)
{
    for (size_t i = 0; i < args->n_params; i++)
        params[i] = (spx_param){args->keys[i], args->values[i]};
    return args->n_params;
}

spx_errcode spx_control_parse_get(const spx_request *req, spx_command_args *out, char *err,
                                  size_t errlen)
{
    memset(out, 0, sizeof *out);
    spx_errcode code = spx_control_parse_target(req, &out->target, err, errlen);
    if (code != SPX_OK)
        return code;
    const msgpack_object *detail = spx_map_get(req->root, "detail");
    if (!detail || detail->type == MSGPACK_OBJECT_NIL)
        return SPX_OK;
    if ((code = command_name(req, detail, "detail", out->name, err, errlen)) != SPX_OK)
        return code;
    return command_map_args(req, out, err, errlen);
}

spx_errcode spx_control_parse_call(const spx_request *req, spx_command_args *out, char *err,
                                   size_t errlen)
{
    memset(out, 0, sizeof *out);
    spx_errcode code = spx_control_parse_target(req, &out->target, err, errlen);
    if (code == SPX_OK)
        code = command_name(req, spx_map_get(req->root, "method"), "method", out->name, err,
                            errlen);
    if (code == SPX_OK)
        code = command_map_args(req, out, err, errlen);
    return code;
}
