#include "pipeline_snapshot.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state_codec.h"

static void sbuffer_take(msgpack_sbuffer *sb, unsigned char **out, size_t *out_len)
{
    *out = (unsigned char *)sb->data;   /* ownership moves to the caller */
    *out_len = sb->size;
}

spx_errcode spx_pipeline_pack_state(spx_pipeline *p, unsigned char **out, size_t *out_len,
                                    char *err, size_t errlen)
{
    if (!p->ops->save) {
        snprintf(err, errlen, "%s cannot save its state", p->ops->algo);
        return SPX_E_UNKNOWN_OP;
    }
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    if (p->ops->save(p->state, &pk, err, errlen) != 0 || sb.size == 0) {
        msgpack_sbuffer_destroy(&sb);
        if (!err[0])
            snprintf(err, errlen, "%s: save packed nothing", p->ops->algo);
        return SPX_E_INTERNAL;
    }
    sbuffer_take(&sb, out, out_len);
    return SPX_OK;
}

int spx_pipeline_pack_snapshot(spx_pipeline *p, unsigned char **out, size_t *out_len, char *err,
                               size_t errlen)
{
    if (!p->ops->save) {
        snprintf(err, errlen, "%s cannot save its state", p->ops->algo);
        return -1;
    }
    const spx_pipeline_work *w = &p->work;
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 17);
    spx_pack_key_cstr(&pk, "name", p->name);
    spx_pack_key_cstr(&pk, "algo", p->ops->algo);
    spx_pack_key_uint(&pk, "state_version", p->ops->state_version);
    spx_pack_cstr(&pk, "params");
    msgpack_pack_map(&pk, p->n_params);
    for (size_t i = 0; i < p->n_params; i++) {
        spx_pack_cstr(&pk, p->param_keys[i]);
        spx_pack_cstr(&pk, p->param_values[i]);
    }
    spx_state_pack_u64(&pk, "every", p->policy.every);
    spx_state_pack_u64(&pk, "interval_ms", p->policy.interval_ms);
    spx_state_pack_u64(&pk, "updates", w->stats.updates);
    spx_state_pack_u64(&pk, "errors", w->stats.errors);
    spx_state_pack_u64(&pk, "published", w->stats.published);
    spx_state_pack_u64(&pk, "count", w->stats.count);
    spx_state_pack_u64(&pk, "input_seq", w->stats.input_seq);
    spx_state_pack_f64(&pk, "update_seconds", w->stats.update_seconds);
    spx_state_pack_u64(&pk, "count_since_publish", w->count_since_publish);
    spx_state_pack_f64(&pk, "t_in", w->t_in);
    spx_state_pack_bool(&pk, "dirty", w->dirty);
    spx_pack_cstr(&pk, "latest");
    /* The loop thread replaces `latest` only in spx_job_finish, never while this job runs. */
    if (p->latest) {
        msgpack_pack_bin(&pk, p->latest_len);
        msgpack_pack_bin_body(&pk, p->latest, p->latest_len);
    } else {
        msgpack_pack_nil(&pk);
    }
    spx_pack_cstr(&pk, "state");
    size_t before = sb.size;
    if (p->ops->save(p->state, &pk, err, errlen) != 0 || sb.size == before) {
        if (!err[0])
            snprintf(err, errlen, "%s: save packed nothing", p->ops->algo);
        msgpack_sbuffer_destroy(&sb);
        return -1;
    }
    sbuffer_take(&sb, out, out_len);
    return 0;
}

/* The saved params as key/value pairs pointing into `text` storage. */
static int read_params(const msgpack_object *map, spx_param *params, size_t *n,
                       char (*keys)[SPX_NAME_MAX + 1], char (*values)[SPX_PARAM_TEXT_MAX],
                       char *err, size_t errlen)
{
    const msgpack_object *o = spx_state_get(map, "params", MSGPACK_OBJECT_MAP, err, errlen);
    if (!o)
        return -1;
    if (o->via.map.size > SPX_PARAMS_MAX) {
        snprintf(err, errlen, "snapshot: %u params (max %d)", o->via.map.size, SPX_PARAMS_MAX);
        return -1;
    }
    for (uint32_t i = 0; i < o->via.map.size; i++) {
        if (spx_obj_str(&o->via.map.ptr[i].key, keys[i], SPX_NAME_MAX + 1) != 0 ||
            spx_obj_str(&o->via.map.ptr[i].val, values[i], SPX_PARAM_TEXT_MAX) != 0) {
            snprintf(err, errlen, "snapshot: params: entry %u is not a short string pair", i);
            return -1;
        }
        params[i].key = keys[i];
        params[i].value = values[i];
    }
    *n = o->via.map.size;
    return 0;
}

spx_errcode spx_pipeline_restore(spx_pipeline **out, const char *stream_name,
                                 const spx_stream_info *info, const msgpack_object *saved,
                                 char *err, size_t errlen)
{
    *out = NULL;
    char name[SPX_NAME_MAX + 1], algo[SPX_NAME_MAX + 1];
    if (spx_obj_str(spx_map_get(saved, "name"), name, sizeof name) != 0 ||
        spx_obj_str(spx_map_get(saved, "algo"), algo, sizeof algo) != 0) {
        snprintf(err, errlen, "snapshot: pipeline without a valid name/algo");
        return SPX_E_BAD_REQUEST;
    }
    const spx_pipeline_ops *ops = spx_pipeline_kind_find(algo);
    if (!ops) {
        snprintf(err, errlen, "pipeline %s: algorithm %s is unknown to this version", name, algo);
        return SPX_E_UNKNOWN_ALGO;
    }
    uint64_t version;
    if (spx_state_read_u64(saved, "state_version", &version, err, errlen) != 0)
        return SPX_E_BAD_REQUEST;
    if (version != ops->state_version || !ops->load) {
        snprintf(err, errlen, "pipeline %s: %s state version %llu, this build reads %u", name,
                 algo, (unsigned long long)version, ops->state_version);
        return SPX_E_UNSUPPORTED_VERSION;
    }
    spx_param params[SPX_PARAMS_MAX];
    static _Thread_local char keys[SPX_PARAMS_MAX][SPX_NAME_MAX + 1];
    static _Thread_local char values[SPX_PARAMS_MAX][SPX_PARAM_TEXT_MAX];
    size_t n_params = 0;
    spx_publish_policy policy;
    spx_pipeline_stats st = {0};
    uint64_t since_publish;
    double t_in;
    bool dirty;
    const msgpack_object *state = spx_state_get(saved, "state", MSGPACK_OBJECT_MAP, err, errlen);
    const msgpack_object *latest = spx_map_get(saved, "latest");
    if (read_params(saved, params, &n_params, keys, values, err, errlen) != 0 || !state ||
        spx_state_read_u64(saved, "every", &policy.every, err, errlen) != 0 ||
        spx_state_read_u64(saved, "interval_ms", &policy.interval_ms, err, errlen) != 0 ||
        spx_state_read_u64(saved, "updates", &st.updates, err, errlen) != 0 ||
        spx_state_read_u64(saved, "errors", &st.errors, err, errlen) != 0 ||
        spx_state_read_u64(saved, "published", &st.published, err, errlen) != 0 ||
        spx_state_read_u64(saved, "count", &st.count, err, errlen) != 0 ||
        spx_state_read_u64(saved, "input_seq", &st.input_seq, err, errlen) != 0 ||
        spx_state_read_f64(saved, "update_seconds", &st.update_seconds, err, errlen) != 0 ||
        spx_state_read_u64(saved, "count_since_publish", &since_publish, err, errlen) != 0 ||
        spx_state_read_f64(saved, "t_in", &t_in, err, errlen) != 0 ||
        spx_state_read_bool(saved, "dirty", &dirty, err, errlen) != 0)
        return SPX_E_BAD_REQUEST;
    if (!latest || (latest->type != MSGPACK_OBJECT_NIL && latest->type != MSGPACK_OBJECT_BIN)) {
        snprintf(err, errlen, "snapshot: pipeline %s: latest: not a bin or nil", name);
        return SPX_E_BAD_REQUEST;
    }
    spx_pipeline *p;
    char cerr[256] = "";
    spx_errcode code = spx_pipeline_create(&p, stream_name, info, name, ops, params, n_params,
                                           policy, cerr, sizeof cerr);
    if (code != SPX_OK) {
        snprintf(err, errlen, "pipeline %s: %s", name, cerr);
        return code;
    }
    char lerr[256] = "";
    if (ops->load(p->state, state, lerr, sizeof lerr) != 0) {
        snprintf(err, errlen, "pipeline %s: %s", name, lerr[0] ? lerr : "load failed");
        spx_pipeline_free(p);
        return SPX_E_BAD_REQUEST;
    }
    if (latest->type == MSGPACK_OBJECT_BIN && latest->via.bin.size) {
        if (!(p->latest = malloc(latest->via.bin.size))) {
            snprintf(err, errlen, "out of memory");
            spx_pipeline_free(p);
            return SPX_E_INTERNAL;
        }
        memcpy(p->latest, latest->via.bin.ptr, latest->via.bin.size);
        p->latest_len = latest->via.bin.size;
    }
    p->work.stats = st;
    p->stats = st;
    p->work.count_since_publish = since_publish;
    p->work.t_in = t_in;
    p->work.dirty = dirty;
    *out = p;
    return SPX_OK;
}
