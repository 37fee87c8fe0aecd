/* Reading packed adapter results in the adapter tests: map lookups that fail the test when a key
 * is missing or mistyped, and ndarray decoding (docs/protocol.md: {"dtype", "shape", "data"}). */
#ifndef SPX_TEST_ADAPTER_MSGPACK_H
#define SPX_TEST_ADAPTER_MSGPACK_H

#include <criterion/criterion.h>
#include <msgpack.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"

static inline const msgpack_object *get(const msgpack_object *m, const char *key)
{
    cr_assert(m && m->type == MSGPACK_OBJECT_MAP, "not a map looking for %s", key);
    const msgpack_object *v = spx_map_get(m, key);
    cr_assert(v, "key %s missing", key);
    return v;
}

static inline uint64_t get_uint(const msgpack_object *m, const char *key)
{
    uint64_t v;
    cr_assert_eq(spx_obj_uint(get(m, key), &v), 0, "%s is not a uint", key);
    return v;
}

static inline double get_double(const msgpack_object *m, const char *key)
{
    double v;
    cr_assert_eq(spx_obj_double(get(m, key), &v), 0, "%s is not a number", key);
    return v;
}

static inline bool get_bool(const msgpack_object *m, const char *key)
{
    bool v;
    cr_assert_eq(spx_obj_bool(get(m, key), &v), 0, "%s is not a bool", key);
    return v;
}

static inline bool str_is(const msgpack_object *o, const char *s)
{
    return o->type == MSGPACK_OBJECT_STR && o->via.str.size == strlen(s) &&
           memcmp(o->via.str.ptr, s, o->via.str.size) == 0;
}

/* Decodes a 1-D or 2-D ndarray into malloc'd doubles. dtype must be f64, or also i64 when
 * allow_i64; shape has room for 2 dimensions. */
static inline double *ndarray_decode(const msgpack_object *nd, bool allow_i64, size_t *shape,
                                     size_t *ndim)
{
    const msgpack_object *dtype = get(nd, "dtype"), *sh = get(nd, "shape"), *data = get(nd, "data");
    bool i64 = allow_i64 && str_is(dtype, "i64");
    cr_assert(i64 || str_is(dtype, "f64"), "unexpected ndarray dtype");
    cr_assert(sh->type == MSGPACK_OBJECT_ARRAY && sh->via.array.size >= 1 &&
              sh->via.array.size <= 2);
    *ndim = sh->via.array.size;
    size_t count = 1;
    for (size_t i = 0; i < *ndim; i++) {
        uint64_t d;
        cr_assert_eq(spx_obj_uint(&sh->via.array.ptr[i], &d), 0);
        shape[i] = (size_t)d;
        count *= (size_t)d;
    }
    cr_assert(data->type == MSGPACK_OBJECT_BIN);
    cr_assert_eq(data->via.bin.size, count * 8);
    double *x = malloc((count ? count : 1) * sizeof *x);
    cr_assert(x);
    for (size_t i = 0; i < count; i++) {
        const unsigned char *b = (const unsigned char *)data->via.bin.ptr + 8 * i;
        uint64_t u = 0;
        for (int k = 7; k >= 0; k--)   /* little-endian on the wire */
            u = (u << 8) | b[k];
        if (i64)
            x[i] = (double)(int64_t)u;
        else
            memcpy(&x[i], &u, 8);
    }
    return x;
}

#endif
