/* The control ops of protocol section 3, encoded as msgpack maps, and the raw request. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

typedef struct request {
    msgpack_sbuffer sb;
    msgpack_packer pk;
    uint64_t id;
    int oom;
} request;

static int request_write(void *data, const char *buf, size_t len)
{
    request *r = data;
    if (msgpack_sbuffer_write(&r->sb, buf, len) != 0) {
        r->oom = 1;
        return -1;
    }
    return 0;
}

static void request_init(request *r, spectra_client *c)
{
    msgpack_sbuffer_init(&r->sb);
    msgpack_packer_init(&r->pk, r, request_write);
    r->id = spectra__take_id(c);
    r->oom = 0;
}

static void pack_str(msgpack_packer *pk, const char *s, size_t n)
{
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

static void pack_cstr(msgpack_packer *pk, const char *s)
{
    pack_str(pk, s, strlen(s));
}

static void pack_key_cstr(msgpack_packer *pk, const char *key, const char *value)
{
    pack_cstr(pk, key);
    pack_cstr(pk, value);
}

/* Starts {"op": op, "id": <fresh>, ...n_more keys}. */
static void request_begin(request *r, spectra_client *c, const char *op, uint32_t n_more)
{
    request_init(r, c);
    msgpack_pack_map(&r->pk, 2 + n_more);
    pack_key_cstr(&r->pk, "op", op);
    pack_cstr(&r->pk, "id");
    msgpack_pack_uint64(&r->pk, r->id);
}

/* Sends the request and frees it. keep_failed: hand out the reply of {"ok": false} too. */
static int request_finish(request *r, spectra_client *c, spectra_msg **reply, int keep_failed)
{
    int rc;
    if (r->oom)
        rc = spectra__fail(c, SPECTRA_ENOMEM, "out of memory");
    else
        rc = spectra__roundtrip(c, r->sb.data, r->sb.size, r->id, reply);
    msgpack_sbuffer_destroy(&r->sb);
    if (rc && !keep_failed && reply && *reply) {
        spectra_msg_free(*reply);
        *reply = NULL;
    }
    return rc;
}

static int check_name(spectra_client *c, const char *what, const char *name)
{
    if (spectra_name_valid(name))
        return 0;
    return spectra__fail(c, SPECTRA_EINVAL, "bad %s name '%s' (1 to %d of [A-Za-z0-9_-])", what,
                         name ? name : "(null)", SPECTRA_NAME_MAX);
}

int spectra_request(spectra_client *c, const void *req, size_t len, spectra_msg **reply)
{
    if (reply)
        *reply = NULL;
    if (!c)
        return SPECTRA_EINVAL;
    spectra_msg *m;
    int rc = spectra_msg_parse(req, len, &m);
    if (rc)
        return spectra__fail(c, rc, "request is not well-formed msgpack");
    const msgpack_object *root = spectra_msg_root(m);
    if (root->type != MSGPACK_OBJECT_MAP) {
        spectra_msg_free(m);
        return spectra__fail(c, SPECTRA_EINVAL, "request is not a msgpack map");
    }
    /* Same map with the library's "id" in place of (or added to) the caller's. */
    request r;
    request_init(&r, c);
    int has_id = spectra__map_get(root, "id", 2) != NULL;
    msgpack_pack_map(&r.pk, root->via.map.size + (has_id ? 0 : 1));
    for (uint32_t i = 0; i < root->via.map.size; i++) {
        const msgpack_object_kv *kv = &root->via.map.ptr[i];
        int is_id = kv->key.type == MSGPACK_OBJECT_STR && kv->key.via.str.size == 2 &&
                    memcmp(kv->key.via.str.ptr, "id", 2) == 0;
        msgpack_pack_object(&r.pk, kv->key);
        if (is_id)
            msgpack_pack_uint64(&r.pk, r.id);
        else
            msgpack_pack_object(&r.pk, kv->val);
    }
    if (!has_id) {
        pack_cstr(&r.pk, "id");
        msgpack_pack_uint64(&r.pk, r.id);
    }
    spectra_msg_free(m);
    return request_finish(&r, c, reply, 1);
}

int spectra_ping(spectra_client *c, spectra_msg **reply)
{
    request r;
    if (!c)
        return SPECTRA_EINVAL;
    request_begin(&r, c, "ping", 0);
    return request_finish(&r, c, reply, 0);
}

int spectra_create(spectra_client *c, const char *stream, spectra_kind kind, uint32_t dim,
                   double rate, const char *const *channel_names, size_t n_channels)
{
    return spectra_create_ex(c, stream, kind, dim, rate, channel_names,
                             channel_names ? n_channels : 0, NULL, 0);
}

/* Packs "key": [str, ...] after checking every entry. */
static int check_strings(spectra_client *c, const char *what, const char *const *v, size_t n)
{
    if (v && n > UINT32_MAX)
        return spectra__fail(c, SPECTRA_EINVAL, "too many %s", what);
    for (size_t i = 0; v && i < n; i++)
        if (!v[i])
            return spectra__fail(c, SPECTRA_EINVAL, "%s %zu is NULL", what, i);
    return 0;
}

int spectra_create_ex(spectra_client *c, const char *stream, spectra_kind kind, uint32_t dim,
                      double rate, const char *const *channel_names, size_t n_names,
                      const char *const *channel_units, size_t n_units)
{
    spectra_create_options o;
    spectra_create_options_init(&o);
    o.rate = rate;
    o.channel_names = channel_names;
    o.n_names = n_names;
    o.channel_units = channel_units;
    o.n_units = n_units;
    return spectra_create_with(c, stream, kind, dim, &o);
}

void spectra_create_options_init(spectra_create_options *opts)
{
    if (opts)
        memset(opts, 0, sizeof *opts);
}

int spectra_create_with(spectra_client *c, const char *stream, spectra_kind kind, uint32_t dim,
                        const spectra_create_options *opts)
{
    if (!c)
        return SPECTRA_EINVAL;
    spectra_create_options defaults;
    spectra_create_options_init(&defaults);
    const spectra_create_options *o = opts ? opts : &defaults;
    int rc = check_name(c, "stream", stream);
    if (rc)
        return rc;
    const char *kind_name = spectra_kind_name(kind);
    if (!kind_name)
        return spectra__fail(c, SPECTRA_EINVAL, "unknown stream kind %d", (int)kind);
    double rate = o->rate;
    if (!(rate >= 0) || isinf(rate))
        return spectra__fail(c, SPECTRA_EINVAL, "rate must be a finite number >= 0");
    if ((rc = check_strings(c, "channel names", o->channel_names, o->n_names)) ||
        (rc = check_strings(c, "channel units", o->channel_units, o->n_units)))
        return rc;
    const char *durability = spectra_durability_name(o->durability);
    if (o->durability != SPECTRA_DURABILITY_DEFAULT && !durability)
        return spectra__fail(c, SPECTRA_EINVAL, "unknown durability %d", (int)o->durability);
    int with_names = o->channel_names != NULL, with_units = o->channel_units != NULL;
    request r;
    request_begin(&r, c, "create",
                  3 + (rate > 0) + with_names + with_units + (durability != NULL) +
                      (o->dedupe != 0));
    pack_key_cstr(&r.pk, "stream", stream);
    pack_key_cstr(&r.pk, "kind", kind_name);
    pack_cstr(&r.pk, "dim");
    msgpack_pack_uint32(&r.pk, dim);
    if (rate > 0) {
        pack_cstr(&r.pk, "rate");
        msgpack_pack_double(&r.pk, rate);
    }
    if (with_names) {
        pack_cstr(&r.pk, "channel_names");
        msgpack_pack_array(&r.pk, o->n_names);
        for (size_t i = 0; i < o->n_names; i++)
            pack_cstr(&r.pk, o->channel_names[i]);
    }
    if (with_units) {
        pack_cstr(&r.pk, "channel_units");
        msgpack_pack_array(&r.pk, o->n_units);
        for (size_t i = 0; i < o->n_units; i++)
            pack_cstr(&r.pk, o->channel_units[i]);
    }
    if (durability)
        pack_key_cstr(&r.pk, "durability", durability);
    if (o->dedupe) {
        pack_cstr(&r.pk, "dedupe");
        msgpack_pack_true(&r.pk);
    }
    return request_finish(&r, c, NULL, 0);
}

static int stream_op(spectra_client *c, const char *op, const char *stream, const char *pipeline,
                     spectra_msg **reply)
{
    if (reply)
        *reply = NULL;
    if (!c)
        return SPECTRA_EINVAL;
    int rc = check_name(c, "stream", stream);
    if (!rc && pipeline)
        rc = check_name(c, "pipeline", pipeline);
    if (rc)
        return rc;
    request r;
    request_begin(&r, c, op, pipeline ? 2 : 1);
    pack_key_cstr(&r.pk, "stream", stream);
    if (pipeline)
        pack_key_cstr(&r.pk, "pipeline", pipeline);
    return request_finish(&r, c, reply, 0);
}

int spectra_drop(spectra_client *c, const char *stream)
{
    return stream_op(c, "drop", stream, NULL, NULL);
}

int spectra_detach(spectra_client *c, const char *stream, const char *pipeline)
{
    if (!pipeline)
        return c ? check_name(c, "pipeline", pipeline) : SPECTRA_EINVAL;
    return stream_op(c, "detach", stream, pipeline, NULL);
}

int spectra_get(spectra_client *c, const char *stream, const char *pipeline, spectra_msg **reply)
{
    if (!pipeline) {
        if (reply)
            *reply = NULL;
        return c ? check_name(c, "pipeline", pipeline) : SPECTRA_EINVAL;
    }
    return stream_op(c, "get", stream, pipeline, reply);
}

int spectra_attach(spectra_client *c, const char *stream, const char *pipeline, const char *algo,
                   const char *const *params, size_t n_params, int64_t every, int64_t interval_ms)
{
    if (!c)
        return SPECTRA_EINVAL;
    int rc = check_name(c, "stream", stream);
    if (!rc)
        rc = check_name(c, "pipeline", pipeline);
    if (rc)
        return rc;
    if (!algo || !*algo)
        return spectra__fail(c, SPECTRA_EINVAL, "no algorithm given");
    if (n_params > UINT32_MAX || (n_params && !params))
        return spectra__fail(c, SPECTRA_EINVAL, "bad parameter list");
    for (size_t i = 0; i < n_params; i++) {
        const char *eq = params[i] ? strchr(params[i], '=') : NULL;
        if (!eq || eq == params[i])
            return spectra__fail(c, SPECTRA_EINVAL, "parameter '%s' is not key=value",
                                 params[i] ? params[i] : "(null)");
    }
    request r;
    request_begin(&r, c, "attach",
                  3 + (n_params > 0) + (every >= 0) + (interval_ms >= 0));
    pack_key_cstr(&r.pk, "stream", stream);
    pack_key_cstr(&r.pk, "pipeline", pipeline);
    pack_key_cstr(&r.pk, "algo", algo);
    if (n_params) {
        pack_cstr(&r.pk, "params");
        msgpack_pack_map(&r.pk, n_params);
        for (size_t i = 0; i < n_params; i++) {
            const char *eq = strchr(params[i], '=');
            pack_str(&r.pk, params[i], (size_t)(eq - params[i]));
            pack_cstr(&r.pk, eq + 1);
        }
    }
    if (every >= 0) {
        pack_cstr(&r.pk, "every");
        msgpack_pack_uint64(&r.pk, (uint64_t)every);
    }
    if (interval_ms >= 0) {
        pack_cstr(&r.pk, "interval_ms");
        msgpack_pack_uint64(&r.pk, (uint64_t)interval_ms);
    }
    return request_finish(&r, c, NULL, 0);
}

int spectra_list(spectra_client *c, spectra_msg **reply)
{
    request r;
    if (!c)
        return SPECTRA_EINVAL;
    request_begin(&r, c, "list", 0);
    return request_finish(&r, c, reply, 0);
}

int spectra_stats(spectra_client *c, spectra_msg **reply)
{
    request r;
    if (!c)
        return SPECTRA_EINVAL;
    request_begin(&r, c, "stats", 0);
    return request_finish(&r, c, reply, 0);
}

int spectra_save(spectra_client *c, const char *stream, uint64_t *snapshots, uint64_t *messages)
{
    if (snapshots)
        *snapshots = 0;
    if (messages)
        *messages = 0;
    if (!c)
        return SPECTRA_EINVAL;
    int rc = stream ? check_name(c, "stream", stream) : 0;
    if (rc)
        return rc;
    request r;
    request_begin(&r, c, "save", stream != NULL);
    if (stream)
        pack_key_cstr(&r.pk, "stream", stream);
    spectra_msg *reply;
    if ((rc = request_finish(&r, c, &reply, 0)))
        return rc;
    uint64_t started = 0, covers = 0;
    if (spectra_msg_uint(reply, "snapshots", &started) ||
        (stream && spectra_msg_uint(reply, "messages", &covers)))
        rc = spectra__fail(c, SPECTRA_EPROTO, "save reply: no unsigned \"snapshots\"%s",
                           stream ? " and \"messages\"" : "");
    spectra_msg_free(reply);
    if (!rc && snapshots)
        *snapshots = started;
    if (!rc && messages)
        *messages = covers;
    return rc;
}

/* An unsigned field that may be nil: 0 with *has set, or the lookup's error. */
static int opt_uint(const spectra_msg *m, const char *key, int *has, uint64_t *out)
{
    *has = 0;
    *out = 0;
    int nil = spectra_msg_is_nil(m, key);
    if (nil < 0)
        return nil;
    if (nil)
        return 0;
    int rc = spectra_msg_uint(m, key, out);
    *has = rc == 0;
    return rc;
}

int spectra_position(spectra_client *c, const char *stream, spectra_stream_position *out)
{
    if (out)
        memset(out, 0, sizeof *out);
    if (!c || !out)
        return SPECTRA_EINVAL;
    spectra_msg *reply;
    int rc = stream_op(c, "position", stream, NULL, &reply);
    if (rc)
        return rc;
    char durability[16];
    const char *bad = NULL;
    if (spectra_msg_str(reply, "stream", out->stream, sizeof out->stream))
        bad = "stream";
    else if (spectra_msg_str(reply, "durability", durability, sizeof durability) ||
             spectra_durability_parse(durability, &out->durability))
        bad = "durability";
    else if (spectra_msg_uint(reply, "messages", &out->messages))
        bad = "messages";
    else if (opt_uint(reply, "last_seq", &out->has_last_seq, &out->last_seq))
        bad = "last_seq";
    else if (spectra_msg_uint(reply, "applied_messages", &out->applied_messages))
        bad = "applied_messages";
    else if (spectra_msg_uint(reply, "durable_messages", &out->durable_messages))
        bad = "durable_messages";
    else if (opt_uint(reply, "durable_seq", &out->has_durable_seq, &out->durable_seq))
        bad = "durable_seq";
    else if (opt_uint(reply, "snapshot_messages", &out->has_snapshot_messages,
                      &out->snapshot_messages))
        bad = "snapshot_messages";
    else if (opt_uint(reply, "snapshot_seq", &out->has_snapshot_seq, &out->snapshot_seq))
        bad = "snapshot_seq";
    spectra_msg_free(reply);
    if (bad) {
        memset(out, 0, sizeof *out);
        return spectra__fail(c, SPECTRA_EPROTO, "position reply: \"%s\" is missing or mistyped",
                             bad);
    }
    return 0;
}
