#include "state_codec.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "codec_internal.h"   /* little-endian host: arrays are memcpy'd as they are */

void spx_state_pack_bytes(msgpack_packer *pk, const char *key, const void *x, size_t n)
{
    spx_pack_cstr(pk, key);
    msgpack_pack_bin(pk, n);
    if (n)
        msgpack_pack_bin_body(pk, x, n);
}

void spx_state_pack_f64s(msgpack_packer *pk, const char *key, const double *x, size_t n)
{
    spx_state_pack_bytes(pk, key, x, n * sizeof *x);
}

void spx_state_pack_f32s(msgpack_packer *pk, const char *key, const float *x, size_t n)
{
    spx_state_pack_bytes(pk, key, x, n * sizeof *x);
}

void spx_state_pack_u64s(msgpack_packer *pk, const char *key, const uint64_t *x, size_t n)
{
    spx_state_pack_bytes(pk, key, x, n * sizeof *x);
}

/* Scalars: msgpack float64/uint64 are exact, so these are the reply packers under state names. */
void spx_state_pack_f64(msgpack_packer *pk, const char *key, double v)
{
    spx_pack_key_double(pk, key, v);
}

void spx_state_pack_u64(msgpack_packer *pk, const char *key, uint64_t v)
{
    spx_pack_key_uint(pk, key, v);
}

void spx_state_pack_i64(msgpack_packer *pk, const char *key, int64_t v)
{
    spx_pack_cstr(pk, key);
    msgpack_pack_int64(pk, v);
}

void spx_state_pack_bool(msgpack_packer *pk, const char *key, bool v)
{
    spx_pack_key_bool(pk, key, v);
}

const msgpack_object *spx_state_get(const msgpack_object *map, const char *key,
                                    msgpack_object_type type, char *err, size_t errlen)
{
    if (!map || map->type != MSGPACK_OBJECT_MAP) {
        spx_codec_errf(err, errlen, "state: not a map (looking for %s)", key);
        return NULL;
    }
    const msgpack_object *o = spx_map_get(map, key);
    if (!o) {
        spx_codec_errf(err, errlen, "state: %s: missing", key);
        return NULL;
    }
    if (o->type != type) {
        spx_codec_errf(err, errlen, "state: %s: wrong type", key);
        return NULL;
    }
    return o;
}

int spx_state_count(const msgpack_object *map, const char *key, size_t elem_size, size_t *n,
                    char *err, size_t errlen)
{
    const msgpack_object *o = spx_state_get(map, key, MSGPACK_OBJECT_BIN, err, errlen);
    if (!o)
        return -1;
    if (elem_size == 0 || o->via.bin.size % elem_size != 0) {
        spx_codec_errf(err, errlen,
                       "state: %s: %" PRIu32 " bytes is not a whole number of %zu-byte values",
                       key, o->via.bin.size, elem_size);
        return -1;
    }
    *n = o->via.bin.size / elem_size;
    return 0;
}

int spx_state_read_bytes(const msgpack_object *map, const char *key, void *dst, size_t n,
                         char *err, size_t errlen)
{
    const msgpack_object *o = spx_state_get(map, key, MSGPACK_OBJECT_BIN, err, errlen);
    if (!o)
        return -1;
    if (o->via.bin.size != n) {
        spx_codec_errf(err, errlen, "state: %s: %" PRIu32 " bytes, expected %zu", key,
                       o->via.bin.size, n);
        return -1;
    }
    if (n)
        memcpy(dst, o->via.bin.ptr, n);
    return 0;
}

/* The array `key` must hold exactly n values of elem_size bytes. */
static int check_count(const msgpack_object *map, const char *key, size_t n, size_t elem_size,
                       char *err, size_t errlen)
{
    size_t have;
    if (spx_state_count(map, key, elem_size, &have, err, errlen) != 0)
        return -1;
    if (have != n) {
        spx_codec_errf(err, errlen, "state: %s: %zu values, expected %zu", key, have, n);
        return -1;
    }
    return 0;
}

static int read_array(const msgpack_object *map, const char *key, void *dst, size_t n,
                      size_t elem_size, char *err, size_t errlen)
{
    if (check_count(map, key, n, elem_size, err, errlen) != 0)
        return -1;
    return spx_state_read_bytes(map, key, dst, n * elem_size, err, errlen);
}

int spx_state_read_alloc(const msgpack_object *map, const char *key, size_t elem_size, size_t n,
                         void **out, char *err, size_t errlen)
{
    *out = NULL;
    if (check_count(map, key, n, elem_size, err, errlen) != 0)
        return -1;
    if (!(*out = malloc((n ? n : 1) * elem_size))) {
        spx_codec_errf(err, errlen, "state: %s: out of memory", key);
        return -1;
    }
    return spx_state_read_bytes(map, key, *out, n * elem_size, err, errlen);
}

int spx_state_read_f64s(const msgpack_object *map, const char *key, double *dst, size_t n,
                        char *err, size_t errlen)
{
    return read_array(map, key, dst, n, sizeof *dst, err, errlen);
}

int spx_state_read_f32s(const msgpack_object *map, const char *key, float *dst, size_t n,
                        char *err, size_t errlen)
{
    return read_array(map, key, dst, n, sizeof *dst, err, errlen);
}

int spx_state_read_u64s(const msgpack_object *map, const char *key, uint64_t *dst, size_t n,
                        char *err, size_t errlen)
{
    return read_array(map, key, dst, n, sizeof *dst, err, errlen);
}

int spx_state_read_f64(const msgpack_object *map, const char *key, double *out, char *err,
                       size_t errlen)
{
    if (!map || map->type != MSGPACK_OBJECT_MAP || !spx_map_get(map, key)) {
        spx_codec_errf(err, errlen, "state: %s: missing", key);
        return -1;
    }
    if (spx_obj_double(spx_map_get(map, key), out) != 0) {
        spx_codec_errf(err, errlen, "state: %s: not a number", key);
        return -1;
    }
    return 0;
}

int spx_state_read_u64(const msgpack_object *map, const char *key, uint64_t *out, char *err,
                       size_t errlen)
{
    const msgpack_object *o =
        spx_state_get(map, key, MSGPACK_OBJECT_POSITIVE_INTEGER, err, errlen);
    if (!o)
        return -1;
    *out = o->via.u64;
    return 0;
}

int spx_state_read_range(const msgpack_object *map, const char *key, uint64_t lo, uint64_t hi,
                         uint64_t *out, char *err, size_t errlen)
{
    uint64_t v;
    if (spx_state_read_u64(map, key, &v, err, errlen) != 0)
        return -1;
    if (v < lo || v > hi) {
        spx_codec_errf(err, errlen, "state: %s: %" PRIu64 " outside [%" PRIu64 ", %" PRIu64 "]",
                       key, v, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

int spx_state_read_i64(const msgpack_object *map, const char *key, int64_t *out, char *err,
                       size_t errlen)
{
    const msgpack_object *o = map && map->type == MSGPACK_OBJECT_MAP ? spx_map_get(map, key) : NULL;
    if (!o) {
        spx_codec_errf(err, errlen, "state: %s: missing", key);
        return -1;
    }
    if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        *out = o->via.i64;
        return 0;
    }
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 <= (uint64_t)INT64_MAX) {
        *out = (int64_t)o->via.u64;
        return 0;
    }
    spx_codec_errf(err, errlen, "state: %s: not a 64-bit signed integer", key);
    return -1;
}

int spx_state_read_bool(const msgpack_object *map, const char *key, bool *out, char *err,
                        size_t errlen)
{
    const msgpack_object *o = spx_state_get(map, key, MSGPACK_OBJECT_BOOLEAN, err, errlen);
    if (!o)
        return -1;
    *out = o->via.boolean;
    return 0;
}
