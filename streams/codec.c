/* Names, wire strings and small parsers of the codec. */
#include "codec.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "codec_internal.h"

void spx_codec_errf(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static const char *const errcode_names[SPX_E_COUNT] = {
    [SPX_OK] = "ok",
    [SPX_E_BAD_FRAME] = "bad_frame",
    [SPX_E_BAD_MSGPACK] = "bad_msgpack",
    [SPX_E_BAD_HEADER] = "bad_header",
    [SPX_E_UNSUPPORTED_VERSION] = "unsupported_version",
    [SPX_E_BAD_NAME] = "bad_name",
    [SPX_E_UNKNOWN_STREAM] = "unknown_stream",
    [SPX_E_KIND_MISMATCH] = "kind_mismatch",
    [SPX_E_SHAPE_MISMATCH] = "shape_mismatch",
    [SPX_E_BAD_LENGTH] = "bad_length",
    [SPX_E_NOT_FINITE] = "not_finite",
    [SPX_E_TOO_LARGE] = "too_large",
    [SPX_E_BAD_REQUEST] = "bad_request",
    [SPX_E_UNKNOWN_OP] = "unknown_op",
    [SPX_E_UNKNOWN_PIPELINE] = "unknown_pipeline",
    [SPX_E_EXISTS] = "exists",
    [SPX_E_UNKNOWN_ALGO] = "unknown_algo",
    [SPX_E_BAD_PARAM] = "bad_param",
    [SPX_E_BUSY] = "busy",
    [SPX_E_INTERNAL] = "internal",
};

const char *spx_errcode_name(spx_errcode code)
{
    /* An out-of-range code is a bug on our side; "internal" is the honest wire answer. */
    if ((unsigned)code >= SPX_E_COUNT)
        return "internal";
    return errcode_names[code];
}

const char *spx_kind_name(spx_kind kind)
{
    switch (kind) {
    case SPX_KIND_ROWS: return "rows";
    case SPX_KIND_SERIES: return "series";
    case SPX_KIND_BLOCKS: return "blocks";
    }
    return "invalid";
}

const char *spx_dtype_name(spx_dtype dtype)
{
    switch (dtype) {
    case SPX_DTYPE_F32: return "f32";
    case SPX_DTYPE_F64: return "f64";
    case SPX_DTYPE_I16: return "i16";
    }
    return "invalid";
}

size_t spx_dtype_size(spx_dtype dtype)
{
    switch (dtype) {
    case SPX_DTYPE_F32: return 4;
    case SPX_DTYPE_F64: return 8;
    case SPX_DTYPE_I16: return 2;
    }
    return 0;
}

static bool text_equals(const char *s, size_t len, const char *lit)
{
    size_t n = strlen(lit);
    return s && len == n && memcmp(s, lit, n) == 0;
}

int spx_kind_parse(const char *s, size_t len, spx_kind *out)
{
    static const spx_kind kinds[] = {SPX_KIND_ROWS, SPX_KIND_SERIES, SPX_KIND_BLOCKS};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        if (text_equals(s, len, spx_kind_name(kinds[i]))) {
            *out = kinds[i];
            return 0;
        }
    }
    return -1;
}

int spx_dtype_parse(const char *s, size_t len, spx_dtype *out)
{
    static const spx_dtype dtypes[] = {SPX_DTYPE_F32, SPX_DTYPE_F64, SPX_DTYPE_I16};
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++) {
        if (text_equals(s, len, spx_dtype_name(dtypes[i]))) {
            *out = dtypes[i];
            return 0;
        }
    }
    return -1;
}

bool spx_name_valid(const char *s, size_t len)
{
    if (!s || len == 0 || len > SPX_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '-';
        if (!ok)
            return false;
    }
    return true;
}
