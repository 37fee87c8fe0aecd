/* Typed access to unpacked msgpack objects, so schema checks read as one line each. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "codec_internal.h"

const msgpack_object *spx_map_get(const msgpack_object *map, const char *key)
{
    if (!map || map->type != MSGPACK_OBJECT_MAP || !key)
        return NULL;
    size_t klen = strlen(key);
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object_kv *kv = &map->via.map.ptr[i];
        if (kv->key.type == MSGPACK_OBJECT_STR && kv->key.via.str.size == klen &&
            memcmp(kv->key.via.str.ptr, key, klen) == 0)
            return &kv->val;
    }
    return NULL;
}

int spx_obj_str(const msgpack_object *o, char *buf, size_t len)
{
    if (!o || o->type != MSGPACK_OBJECT_STR || !buf || len == 0)
        return -1;
    size_t n = o->via.str.size;
    /* An embedded NUL would silently shorten the C string, so such a str is refused. */
    if (n >= len || (n > 0 && memchr(o->via.str.ptr, '\0', n)))
        return -1;
    if (n > 0)
        memcpy(buf, o->via.str.ptr, n);
    buf[n] = '\0';
    return 0;
}

int spx_obj_uint(const msgpack_object *o, uint64_t *out)
{
    if (!o || o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        return -1;
    *out = o->via.u64;
    return 0;
}

int spx_obj_double(const msgpack_object *o, double *out)
{
    if (!o)
        return -1;
    switch (o->type) {
    case MSGPACK_OBJECT_POSITIVE_INTEGER: *out = (double)o->via.u64; return 0;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: *out = (double)o->via.i64; return 0;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: *out = o->via.f64; return 0;
    default: return -1;
    }
}

int spx_obj_bool(const msgpack_object *o, bool *out)
{
    if (!o || o->type != MSGPACK_OBJECT_BOOLEAN)
        return -1;
    *out = o->via.boolean;
    return 0;
}

/* The shortest %g text that reads back as the same value (float32 values read back as float), so
 * 0.1 shows as "0.1" rather than "0.10000000000000001". */
static int format_shortest(double v, bool is_float32, char *buf, size_t len)
{
    char tmp[40];
    if (!isfinite(v)) {
        snprintf(tmp, sizeof tmp, "%s", isnan(v) ? "nan" : v > 0 ? "inf" : "-inf");
    } else {
        for (int prec = 1; prec <= 17; prec++) {
            snprintf(tmp, sizeof tmp, "%.*g", prec, v);
            double back = is_float32 ? (double)strtof(tmp, NULL) : strtod(tmp, NULL);
            if (back == v)
                break;
        }
    }
    size_t n = strlen(tmp);
    if (n >= len)
        return -1;
    memcpy(buf, tmp, n + 1);
    return 0;
}

int spx_obj_scalar_text(const msgpack_object *o, char *buf, size_t len)
{
    if (!o || !buf || len == 0)
        return -1;
    int n;
    switch (o->type) {
    case MSGPACK_OBJECT_STR:
        return spx_obj_str(o, buf, len);
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        n = snprintf(buf, len, "%" PRIu64, o->via.u64);
        break;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        n = snprintf(buf, len, "%" PRId64, o->via.i64);
        break;
    case MSGPACK_OBJECT_BOOLEAN:
        n = snprintf(buf, len, "%s", o->via.boolean ? "true" : "false");
        break;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        return format_shortest(o->via.f64, o->type == MSGPACK_OBJECT_FLOAT32, buf, len);
    default:
        return -1;
    }
    if (n < 0 || (size_t)n >= len) {
        buf[0] = '\0';
        return -1;
    }
    return 0;
}
