#include "snapshot.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crc32c.h"
#include "pipeline_snapshot.h"
#include "state_codec.h"

static const char magic[8] = {'S', 'P', 'X', 'S', 'N', 'A', 'P', '1'};

static void pack_strings(msgpack_packer *pk, const char *key, char *const *v, uint32_t n)
{
    spx_pack_cstr(pk, key);
    if (!v) {
        msgpack_pack_nil(pk);
        return;
    }
    msgpack_pack_array(pk, n);
    for (uint32_t i = 0; i < n; i++)
        spx_pack_cstr(pk, v[i]);
}

int spx_snapshot_pack_stream(const spx_stream *s, unsigned char **out, size_t *out_len)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    const spx_stream_counters *c = &s->c;
    msgpack_pack_map(&pk, 23);
    spx_pack_key_cstr(&pk, "name", s->name);
    spx_pack_key_cstr(&pk, "kind", spx_kind_name(s->kind));
    spx_state_pack_u64(&pk, "dim", s->dim);
    spx_state_pack_f64(&pk, "rate", s->rate);
    pack_strings(&pk, "channel_names", s->channel_names, s->dim);
    pack_strings(&pk, "channel_units", s->channel_units, s->dim);
    spx_pack_key_cstr(&pk, "durability", spx_durability_name(s->durability));
    spx_state_pack_bool(&pk, "dedupe", s->dedupe);
    spx_state_pack_u64(&pk, "messages", c->messages);
    spx_state_pack_u64(&pk, "count", c->count);
    spx_state_pack_u64(&pk, "bytes", c->bytes);
    spx_state_pack_u64(&pk, "events", c->events);
    spx_state_pack_u64(&pk, "rejected", c->rejected);
    /* Errors by name, so a build with more error codes still reads an older file. */
    spx_pack_cstr(&pk, "errors");
    uint32_t nonzero = 0;
    for (int e = 1; e < SPX_E_COUNT; e++)
        nonzero += c->errors[e] != 0;
    msgpack_pack_map(&pk, nonzero);
    for (int e = 1; e < SPX_E_COUNT; e++)
        if (c->errors[e])
            spx_pack_key_uint(&pk, spx_errcode_name((spx_errcode)e), c->errors[e]);
    spx_state_pack_u64(&pk, "seq_gaps", c->seq_gaps);
    spx_state_pack_u64(&pk, "seq_repeats", c->seq_repeats);
    spx_state_pack_u64(&pk, "time_gaps", c->time_gaps);
    spx_state_pack_u64(&pk, "time_overlaps", c->time_overlaps);
    spx_state_pack_u64(&pk, "duplicates", c->duplicates);
    spx_state_pack_bool(&pk, "has_last_seq", s->has_last_seq);
    spx_state_pack_u64(&pk, "last_seq", s->last_seq);
    spx_state_pack_bool(&pk, "has_next_t0", s->has_next_t0);
    spx_state_pack_f64(&pk, "next_t0", s->next_t0);
    if (!sb.data) {
        msgpack_sbuffer_destroy(&sb);
        return -ENOMEM;
    }
    *out = (unsigned char *)sb.data;
    *out_len = sb.size;
    return 0;
}

static void put_u32(unsigned char *p, uint32_t v) { memcpy(p, &v, 4); }   /* little-endian host */
static void put_u64(unsigned char *p, uint64_t v) { memcpy(p, &v, 8); }
static uint32_t get_u32(const unsigned char *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t get_u64(const unsigned char *p) { uint64_t v; memcpy(&v, p, 8); return v; }

int spx_snapshot_encode(const unsigned char *stream_part, size_t stream_len,
                        unsigned char *const *pipelines, const size_t *pipeline_lens, size_t n,
                        uint64_t covers, double created, unsigned char **out, size_t *out_len)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    /* Room for the fixed header, filled in once the body's length and checksum are known. */
    static const unsigned char zeros[SPX_SNAPSHOT_HEADER_BYTES];
    msgpack_sbuffer_write(&sb, (const char *)zeros, sizeof zeros);
    msgpack_pack_map(&pk, 6);
    spx_state_pack_u64(&pk, "format", SPX_SNAPSHOT_FORMAT);
    spx_pack_key_cstr(&pk, "spectrad", SPX_VERSION);
    spx_state_pack_f64(&pk, "created", created);
    spx_state_pack_u64(&pk, "covers", covers);
    spx_pack_cstr(&pk, "stream");
    msgpack_sbuffer_write(&sb, (const char *)stream_part, stream_len);   /* already one map */
    spx_pack_cstr(&pk, "pipelines");
    msgpack_pack_array(&pk, n);
    for (size_t i = 0; i < n; i++)
        msgpack_sbuffer_write(&sb, (const char *)pipelines[i], pipeline_lens[i]);
    if (!sb.data) {
        msgpack_sbuffer_destroy(&sb);
        return -ENOMEM;
    }
    unsigned char *img = (unsigned char *)sb.data;
    size_t body_len = sb.size - SPX_SNAPSHOT_HEADER_BYTES;
    memcpy(img, magic, sizeof magic);
    put_u32(img + 8, SPX_SNAPSHOT_FORMAT);
    put_u32(img + 12, spx_crc32c(0, img + SPX_SNAPSHOT_HEADER_BYTES, body_len));
    put_u64(img + 16, body_len);
    put_u64(img + 24, covers);
    *out = img;
    *out_len = sb.size;
    return 0;
}

int spx_snapshot_decode(const void *buf, size_t len, msgpack_unpacked *up, uint64_t *covers,
                        char *err, size_t errlen)
{
    const unsigned char *p = buf;
    if (len < SPX_SNAPSHOT_HEADER_BYTES || memcmp(p, magic, sizeof magic) != 0) {
        snprintf(err, errlen, "not a spectrad snapshot (bad magic or shorter than its header)");
        return -1;
    }
    uint32_t format = get_u32(p + 8);
    if (format != SPX_SNAPSHOT_FORMAT) {
        snprintf(err, errlen, "snapshot format %u, this build reads %u", format,
                 SPX_SNAPSHOT_FORMAT);
        return -1;
    }
    uint64_t body_len = get_u64(p + 16);
    if (body_len != len - SPX_SNAPSHOT_HEADER_BYTES) {
        snprintf(err, errlen, "truncated or padded: header says %llu body bytes, file has %zu",
                 (unsigned long long)body_len, len - SPX_SNAPSHOT_HEADER_BYTES);
        return -1;
    }
    const unsigned char *body = p + SPX_SNAPSHOT_HEADER_BYTES;
    if (spx_crc32c(0, body, body_len) != get_u32(p + 12)) {
        snprintf(err, errlen, "checksum mismatch (the file is damaged)");
        return -1;
    }
    char why[200];
    if (spx_msgpack_prescan(body, body_len, 32, why, sizeof why) != SPX_OK) {
        snprintf(err, errlen, "body: %s", why);
        return -1;
    }
    size_t off = 0;
    if (msgpack_unpack_next(up, (const char *)body, body_len, &off) != MSGPACK_UNPACK_SUCCESS ||
        off != body_len || up->data.type != MSGPACK_OBJECT_MAP) {
        snprintf(err, errlen, "body is not one msgpack map");
        return -1;
    }
    uint64_t inner;
    if (spx_state_read_u64(&up->data, "covers", &inner, err, errlen) != 0)
        return -1;
    if (inner != get_u64(p + 24)) {
        snprintf(err, errlen, "header and body disagree on the message number covered");
        return -1;
    }
    *covers = inner;
    return 0;
}

/* Reads an optional array of dim strings (nil = absent). */
static int read_strings(const msgpack_object *m, const char *key, uint32_t dim, char ***out,
                        size_t *n, char *err, size_t errlen)
{
    *out = NULL;
    *n = 0;
    const msgpack_object *o = spx_map_get(m, key);
    if (!o || o->type == MSGPACK_OBJECT_NIL)
        return o ? 0 : (snprintf(err, errlen, "snapshot: stream.%s missing", key), -1);
    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != dim) {
        snprintf(err, errlen, "snapshot: stream.%s: not an array of %u strings", key, dim);
        return -1;
    }
    char **v = calloc(dim, sizeof *v);
    for (uint32_t i = 0; v && i < dim; i++) {
        char buf[SPX_LABEL_MAX + 1];
        if (spx_obj_str(&o->via.array.ptr[i], buf, sizeof buf) != 0 || !(v[i] = strdup(buf))) {
            for (uint32_t j = 0; j < i; j++)
                free(v[j]);
            free(v);
            snprintf(err, errlen, "snapshot: stream.%s[%u]: not a short string", key, i);
            return -1;
        }
    }
    if (!v) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    *out = v;
    *n = dim;
    return 0;
}

static void free_strings(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

static int read_counters(const msgpack_object *m, spx_stream *s, char *err, size_t errlen)
{
    spx_stream_counters *c = &s->c;
    struct { const char *key; uint64_t *dst; } u[] = {
        {"messages", &c->messages},       {"count", &c->count},
        {"bytes", &c->bytes},             {"events", &c->events},
        {"rejected", &c->rejected},       {"seq_gaps", &c->seq_gaps},
        {"seq_repeats", &c->seq_repeats}, {"time_gaps", &c->time_gaps},
        {"time_overlaps", &c->time_overlaps}, {"duplicates", &c->duplicates},
        {"last_seq", &s->last_seq},
    };
    for (size_t i = 0; i < sizeof u / sizeof u[0]; i++)
        if (spx_state_read_u64(m, u[i].key, u[i].dst, err, errlen) != 0)
            return -1;
    if (spx_state_read_bool(m, "has_last_seq", &s->has_last_seq, err, errlen) != 0 ||
        spx_state_read_bool(m, "has_next_t0", &s->has_next_t0, err, errlen) != 0 ||
        spx_state_read_f64(m, "next_t0", &s->next_t0, err, errlen) != 0 ||
        spx_state_read_bool(m, "dedupe", &s->dedupe, err, errlen) != 0)
        return -1;
    const msgpack_object *e = spx_state_get(m, "errors", MSGPACK_OBJECT_MAP, err, errlen);
    if (!e)
        return -1;
    for (uint32_t i = 0; i < e->via.map.size; i++)
        for (int code = 1; code < SPX_E_COUNT; code++) {
            const msgpack_object *k = &e->via.map.ptr[i].key;
            const char *name = spx_errcode_name((spx_errcode)code);
            if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == strlen(name) &&
                !memcmp(k->via.str.ptr, name, k->via.str.size))
                spx_obj_uint(&e->via.map.ptr[i].val, &c->errors[code]);
        }
    return 0;
}

spx_errcode spx_snapshot_restore(spx_registry *r, const msgpack_object *body, spx_stream **out,
                                 char *err, size_t errlen)
{
    *out = NULL;
    const msgpack_object *m = spx_state_get(body, "stream", MSGPACK_OBJECT_MAP, err, errlen);
    const msgpack_object *pl = spx_state_get(body, "pipelines", MSGPACK_OBJECT_ARRAY, err, errlen);
    if (!m || !pl)
        return SPX_E_BAD_REQUEST;
    char name[SPX_NAME_MAX + 1], kind_s[16], dur_s[16];
    spx_kind kind;
    spx_durability dur;
    uint64_t dim;
    double rate;
    if (spx_obj_str(spx_map_get(m, "name"), name, sizeof name) != 0 ||
        spx_obj_str(spx_map_get(m, "kind"), kind_s, sizeof kind_s) != 0 ||
        spx_kind_parse(kind_s, strlen(kind_s), &kind) != 0 ||
        spx_obj_str(spx_map_get(m, "durability"), dur_s, sizeof dur_s) != 0 ||
        spx_durability_parse(dur_s, &dur) != 0) {
        snprintf(err, errlen, "snapshot: stream name/kind/durability missing or invalid");
        return SPX_E_BAD_REQUEST;
    }
    if (spx_state_read_range(m, "dim", 1, 1u << 20, &dim, err, errlen) != 0 ||
        spx_state_read_f64(m, "rate", &rate, err, errlen) != 0)
        return SPX_E_BAD_REQUEST;
    if (pl->via.array.size > SPX_STREAM_PIPELINES_MAX) {
        snprintf(err, errlen, "snapshot: %u pipelines (max %d)", pl->via.array.size,
                 SPX_STREAM_PIPELINES_MAX);
        return SPX_E_BAD_REQUEST;
    }
    char **names = NULL, **units = NULL;
    size_t n_names = 0, n_units = 0;
    if (read_strings(m, "channel_names", (uint32_t)dim, &names, &n_names, err, errlen) != 0)
        return SPX_E_BAD_REQUEST;
    if (read_strings(m, "channel_units", (uint32_t)dim, &units, &n_units, err, errlen) != 0) {
        free_strings(names, n_names);
        return SPX_E_BAD_REQUEST;
    }
    spx_stream *s = NULL;
    spx_errcode code = spx_registry_create(r, name, kind, (uint32_t)dim, rate,
                                           (const char *const *)names, n_names, &s, err, errlen);
    free_strings(names, n_names);
    if (code == SPX_OK && n_units)
        code = spx_stream_set_units(s, (const char *const *)units, n_units, err, errlen);
    free_strings(units, n_units);
    if (code != SPX_OK)
        goto fail;
    s->durability = dur;
    code = SPX_E_BAD_REQUEST;
    if (read_counters(m, s, err, errlen) != 0)
        goto fail;
    spx_stream_info info;
    spx_stream_get_info(s, &info);
    for (uint32_t i = 0; i < pl->via.array.size; i++) {
        spx_pipeline *p;
        code = spx_pipeline_restore(&p, s->name, &info, &pl->via.array.ptr[i], err, errlen);
        if (code != SPX_OK)
            goto fail;
        if ((code = spx_stream_attach(s, p, err, errlen)) != SPX_OK) {
            spx_pipeline_free(p);
            goto fail;
        }
    }
    *out = s;
    return SPX_OK;
fail:
    if (s)
        spx_registry_drop(r, s, NULL, 0);   /* nothing is busy: a restored stream never ran */
    return code == SPX_OK ? SPX_E_INTERNAL : code;
}
