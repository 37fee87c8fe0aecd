/* Decoded messages: parsing with the pre-scan, path lookups, ndarray extraction, reply status. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static int msg_decode(spectra_msg *m, char *err, size_t errlen)
{
    int rc = spectra__prescan(m->bytes, m->len, SPECTRA__MAX_DEPTH, err, errlen);
    if (rc)
        return rc;
    size_t off = 0;
    msgpack_unpacked_init(&m->unpacked);
    if (msgpack_unpack_next(&m->unpacked, (const char *)m->bytes, m->len, &off) !=
            MSGPACK_UNPACK_SUCCESS ||
        off != m->len) {
        if (err && errlen)
            snprintf(err, errlen, "bad msgpack: cannot decode");
        return SPECTRA_EPROTO;
    }
    return 0;
}

int spectra_msg_parse(const void *buf, size_t len, spectra_msg **out)
{
    if (!out || (!buf && len))
        return SPECTRA_EINVAL;
    *out = NULL;
    spectra_msg *m = calloc(1, sizeof *m);
    if (!m)
        return SPECTRA_ENOMEM;
    m->copy = malloc(len ? len : 1);
    if (!m->copy) {
        free(m);
        return SPECTRA_ENOMEM;
    }
    if (len)
        memcpy(m->copy, buf, len);
    m->bytes = m->copy;
    m->len = len;
    int rc = msg_decode(m, NULL, 0);
    if (rc) {
        spectra_msg_free(m);
        return rc;
    }
    *out = m;
    return 0;
}

int spectra__msg_from_zmq(zmq_msg_t *zmsg, spectra_msg **out, char *err, size_t errlen)
{
    *out = NULL;
    spectra_msg *m = calloc(1, sizeof *m);
    if (!m) {
        zmq_msg_close(zmsg);
        zmq_msg_init(zmsg);
        if (err && errlen)
            snprintf(err, errlen, "out of memory");
        return SPECTRA_ENOMEM;
    }
    zmq_msg_init(&m->zmsg);
    zmq_msg_move(&m->zmsg, zmsg);
    m->has_zmsg = 1;
    m->bytes = zmq_msg_data(&m->zmsg);
    m->len = zmq_msg_size(&m->zmsg);
    int rc = msg_decode(m, err, errlen);
    if (rc) {
        spectra_msg_free(m);
        return rc;
    }
    *out = m;
    return 0;
}

void spectra_msg_free(spectra_msg *m)
{
    if (!m)
        return;
    msgpack_unpacked_destroy(&m->unpacked);
    if (m->has_zmsg)
        zmq_msg_close(&m->zmsg);
    free(m->copy);
    free(m);
}

const void *spectra_msg_data(const spectra_msg *m, size_t *len)
{
    if (len)
        *len = m ? m->len : 0;
    return m ? m->bytes : NULL;
}

const struct msgpack_object *spectra_msg_root(const spectra_msg *m)
{
    return m ? &m->unpacked.data : NULL;
}

const msgpack_object *spectra__map_get(const msgpack_object *map, const char *key, size_t n)
{
    if (!map || map->type != MSGPACK_OBJECT_MAP)
        return NULL;
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object_kv *kv = &map->via.map.ptr[i];
        if (kv->key.type == MSGPACK_OBJECT_STR && kv->key.via.str.size == n &&
            memcmp(kv->key.via.str.ptr, key, n) == 0)
            return &kv->val;
    }
    return NULL;
}

/* Follows one path component: a key in a map, a decimal index in an array. */
static int step(const msgpack_object *cur, const char *comp, size_t n, const msgpack_object **next)
{
    if (cur->type == MSGPACK_OBJECT_MAP) {
        *next = spectra__map_get(cur, comp, n);
        return *next ? 0 : SPECTRA_ENOTFOUND;
    }
    if (cur->type == MSGPACK_OBJECT_ARRAY) {
        uint64_t idx = 0;
        if (n == 0 || n > 10)
            return SPECTRA_ENOTFOUND;
        for (size_t i = 0; i < n; i++) {
            if (comp[i] < '0' || comp[i] > '9')
                return SPECTRA_ENOTFOUND;
            idx = idx * 10 + (uint64_t)(comp[i] - '0');
        }
        if (idx >= cur->via.array.size)
            return SPECTRA_ENOTFOUND;
        *next = &cur->via.array.ptr[idx];
        return 0;
    }
    return SPECTRA_ETYPE;
}

int spectra_msg_find(const spectra_msg *m, const char *path, const struct msgpack_object **out)
{
    if (!m || !out)
        return SPECTRA_EINVAL;
    const msgpack_object *cur = &m->unpacked.data;
    while (path && *path) {
        const char *dot = strchr(path, '.');
        size_t n = dot ? (size_t)(dot - path) : strlen(path);
        int rc = step(cur, path, n, &cur);
        if (rc)
            return rc;
        path = dot ? dot + 1 : NULL;
    }
    *out = cur;
    return 0;
}

int spectra_msg_is_nil(const spectra_msg *m, const char *path)
{
    const msgpack_object *o;
    int rc = spectra_msg_find(m, path, &o);
    return rc ? rc : o->type == MSGPACK_OBJECT_NIL;
}

int spectra_msg_uint(const spectra_msg *m, const char *path, uint64_t *out)
{
    const msgpack_object *o;
    int rc = spectra_msg_find(m, path, &o);
    if (rc)
        return rc;
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
        *out = o->via.u64;
        return 0;
    }
    return o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER ? SPECTRA_ERANGE : SPECTRA_ETYPE;
}

int spectra_msg_int(const spectra_msg *m, const char *path, int64_t *out)
{
    const msgpack_object *o;
    int rc = spectra_msg_find(m, path, &o);
    if (rc)
        return rc;
    if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        *out = o->via.i64;
        return 0;
    }
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
        if (o->via.u64 > (uint64_t)INT64_MAX)
            return SPECTRA_ERANGE;
        *out = (int64_t)o->via.u64;
        return 0;
    }
    return SPECTRA_ETYPE;
}

int spectra_msg_double(const spectra_msg *m, const char *path, double *out)
{
    const msgpack_object *o;
    int rc = spectra_msg_find(m, path, &o);
    if (rc)
        return rc;
    switch (o->type) {
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: *out = o->via.f64; return 0;
    case MSGPACK_OBJECT_POSITIVE_INTEGER: *out = (double)o->via.u64; return 0;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: *out = (double)o->via.i64; return 0;
    default: return SPECTRA_ETYPE;
    }
}

int spectra_msg_bool(const spectra_msg *m, const char *path, int *out)
{
    const msgpack_object *o;
    int rc = spectra_msg_find(m, path, &o);
    if (rc)
        return rc;
    if (o->type != MSGPACK_OBJECT_BOOLEAN)
        return SPECTRA_ETYPE;
    *out = o->via.boolean ? 1 : 0;
    return 0;
}

static int copy_str(const msgpack_object *o, char *buf, size_t cap)
{
    if (o->type != MSGPACK_OBJECT_STR)
        return SPECTRA_ETYPE;
    if (!buf || cap <= o->via.str.size)
        return SPECTRA_ERANGE;
    memcpy(buf, o->via.str.ptr, o->via.str.size);
    buf[o->via.str.size] = '\0';
    return 0;
}

int spectra_msg_str(const spectra_msg *m, const char *path, char *buf, size_t cap)
{
    const msgpack_object *o;
    int rc = spectra_msg_find(m, path, &o);
    return rc ? rc : copy_str(o, buf, cap);
}

int spectra_msg_size(const spectra_msg *m, const char *path, size_t *out)
{
    const msgpack_object *o;
    int rc = spectra_msg_find(m, path, &o);
    if (rc)
        return rc;
    if (o->type == MSGPACK_OBJECT_ARRAY)
        *out = o->via.array.size;
    else if (o->type == MSGPACK_OBJECT_MAP)
        *out = o->via.map.size;
    else
        return SPECTRA_ETYPE;
    return 0;
}

/* Little-endian loads that do not depend on the host's byte order or the data's alignment. */
static uint64_t load_le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint32_t load_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

double spectra__load_f64(const uint8_t *p)
{
    uint64_t u = load_le64(p);
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

float spectra__load_f32(const uint8_t *p)
{
    uint32_t u = load_le32(p);
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

int64_t spectra__load_i64(const uint8_t *p)
{
    uint64_t u = load_le64(p);
    int64_t i;
    memcpy(&i, &u, sizeof i);
    return i;
}

int spectra__ndarray_view(const msgpack_object *o, int *dtype, size_t *elsize, size_t *ndim,
                          const msgpack_object **shape, size_t *count, const uint8_t **data)
{
    if (o->type != MSGPACK_OBJECT_MAP || o->via.map.size != 3)
        return SPECTRA_ETYPE;
    const msgpack_object *dt = spectra__map_get(o, "dtype", 5);
    const msgpack_object *sh = spectra__map_get(o, "shape", 5);
    const msgpack_object *da = spectra__map_get(o, "data", 4);
    if (!dt || !sh || !da || dt->type != MSGPACK_OBJECT_STR || sh->type != MSGPACK_OBJECT_ARRAY ||
        da->type != MSGPACK_OBJECT_BIN || dt->via.str.size != 3)
        return SPECTRA_ETYPE;
    if (memcmp(dt->via.str.ptr, "f64", 3) == 0) {
        *dtype = 0;
        *elsize = 8;
    } else if (memcmp(dt->via.str.ptr, "f32", 3) == 0) {
        *dtype = 1;
        *elsize = 4;
    } else if (memcmp(dt->via.str.ptr, "i64", 3) == 0) {
        *dtype = 2;
        *elsize = 8;
    } else {
        return SPECTRA_ETYPE;
    }
    uint64_t n = 1;
    for (uint32_t i = 0; i < sh->via.array.size; i++) {
        const msgpack_object *e = &sh->via.array.ptr[i];
        if (e->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
            return SPECTRA_ETYPE;
        if (e->via.u64 && n > UINT64_MAX / e->via.u64)
            return SPECTRA_ETYPE;
        n *= e->via.u64;
    }
    if (n > SIZE_MAX / *elsize || (uint64_t)da->via.bin.size != n * *elsize)
        return SPECTRA_ETYPE;
    *ndim = sh->via.array.size;
    *shape = sh;
    *count = (size_t)n;
    *data = (const uint8_t *)da->via.bin.ptr;
    return 0;
}

int spectra_msg_ndarray(const spectra_msg *m, const char *path, double **data, size_t *shape,
                        size_t max_ndim, size_t *ndim)
{
    const msgpack_object *o, *sh;
    int dtype;
    size_t elsize, nd, count;
    const uint8_t *raw;
    if (!data || !ndim)
        return SPECTRA_EINVAL;
    *data = NULL;
    int rc = spectra_msg_find(m, path, &o);
    if (rc)
        return rc;
    rc = spectra__ndarray_view(o, &dtype, &elsize, &nd, &sh, &count, &raw);
    if (rc)
        return rc;
    *ndim = nd;
    if (nd > max_ndim || (nd && !shape))
        return SPECTRA_ERANGE;
    for (size_t i = 0; i < nd; i++)
        shape[i] = (size_t)sh->via.array.ptr[i].via.u64;
    double *x = malloc(count ? count * sizeof *x : 1);
    if (!x)
        return SPECTRA_ENOMEM;
    for (size_t i = 0; i < count; i++) {
        const uint8_t *p = raw + i * elsize;
        x[i] = dtype == 0 ? spectra__load_f64(p)
             : dtype == 1 ? (double)spectra__load_f32(p)
                          : (double)spectra__load_i64(p);
    }
    *data = x;
    return 0;
}

static void copy_text(const msgpack_object *o, char *buf, size_t cap)
{
    if (!buf || !cap)
        return;
    size_t n = 0;
    if (o && o->type == MSGPACK_OBJECT_STR) {
        n = o->via.str.size < cap - 1 ? o->via.str.size : cap - 1;
        memcpy(buf, o->via.str.ptr, n);
    }
    buf[n] = '\0';
}

int spectra_reply_status(const spectra_msg *reply, char *code, size_t code_cap, char *message,
                         size_t message_cap)
{
    copy_text(NULL, code, code_cap);
    copy_text(NULL, message, message_cap);
    if (!reply)
        return SPECTRA_EINVAL;
    const msgpack_object *root = &reply->unpacked.data;
    const msgpack_object *ok = spectra__map_get(root, "ok", 2);
    if (!ok || ok->type != MSGPACK_OBJECT_BOOLEAN) {
        copy_text(NULL, code, code_cap);
        if (message && message_cap)
            snprintf(message, message_cap, "reply without a boolean \"ok\"");
        return SPECTRA_EPROTO;
    }
    if (ok->via.boolean)
        return 0;
    const msgpack_object *error = spectra__map_get(root, "error", 5);
    const msgpack_object *c = spectra__map_get(error, "code", 4);
    if (!c || c->type != MSGPACK_OBJECT_STR) {
        if (message && message_cap)
            snprintf(message, message_cap, "failed reply without an error code");
        return SPECTRA_EPROTO;
    }
    copy_text(c, code, code_cap);
    copy_text(spectra__map_get(error, "message", 7), message, message_cap);
    return SPECTRA_EDAEMON;
}
