/* Packing helpers for replies and result bodies. */
#include <string.h>

#include "codec.h"
#include "codec_internal.h"

void spx_pack_cstr(msgpack_packer *pk, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s ? s : "", n);
}

void spx_pack_key_cstr(msgpack_packer *pk, const char *key, const char *value)
{
    spx_pack_cstr(pk, key);
    spx_pack_cstr(pk, value);
}

void spx_pack_key_uint(msgpack_packer *pk, const char *key, uint64_t value)
{
    spx_pack_cstr(pk, key);
    msgpack_pack_uint64(pk, value);
}

void spx_pack_key_double(msgpack_packer *pk, const char *key, double value)
{
    spx_pack_cstr(pk, key);
    msgpack_pack_double(pk, value);
}

void spx_pack_key_bool(msgpack_packer *pk, const char *key, bool value)
{
    spx_pack_cstr(pk, key);
    if (value)
        msgpack_pack_true(pk);
    else
        msgpack_pack_false(pk);
}

/* The data of an ndarray is the host's bytes verbatim: the host is little-endian (codec_internal.h),
 * as the wire is. */
static void pack_ndarray(msgpack_packer *pk, const char *dtype, const void *x, size_t elem_size,
                         size_t ndim, const size_t *shape)
{
    size_t count = 1;
    msgpack_pack_map(pk, 3);
    spx_pack_key_cstr(pk, "dtype", dtype);
    spx_pack_cstr(pk, "shape");
    msgpack_pack_array(pk, ndim);
    for (size_t i = 0; i < ndim; i++) {
        msgpack_pack_uint64(pk, shape[i]);
        count *= shape[i];
    }
    spx_pack_cstr(pk, "data");
    msgpack_pack_bin(pk, count * elem_size);
    if (count > 0)
        msgpack_pack_bin_body(pk, x, count * elem_size);
}

void spx_pack_ndarray_f64(msgpack_packer *pk, const double *x, size_t ndim, const size_t *shape)
{
    pack_ndarray(pk, "f64", x, sizeof *x, ndim, shape);
}

void spx_pack_ndarray_i64(msgpack_packer *pk, const int64_t *x, size_t ndim, const size_t *shape)
{
    pack_ndarray(pk, "i64", x, sizeof *x, ndim, shape);
}

void spx_pack_error_reply(msgpack_packer *pk, const msgpack_object *id, spx_errcode code,
                          const char *message)
{
    msgpack_pack_map(pk, id ? 3 : 2);
    spx_pack_key_bool(pk, "ok", false);
    if (id) {
        spx_pack_cstr(pk, "id");
        msgpack_pack_object(pk, *id);
    }
    spx_pack_cstr(pk, "error");
    msgpack_pack_map(pk, 2);
    spx_pack_key_cstr(pk, "code", spx_errcode_name(code));
    spx_pack_key_cstr(pk, "message", message ? message : "");
}
