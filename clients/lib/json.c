/* msgpack -> JSON text (RFC 8259), for people and for tools such as jq.
 *
 * Numbers: %.17g for float64 and %.9g for float32 (the shortest fixed precisions that round-trip),
 * null for NaN and infinities (JSON has no spelling for them). ndarray maps become nested arrays so
 * that `spectra get ... | jq .result.values` yields numbers, not base64. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

typedef struct json_writer {
    spectra__buf *b;
    int pretty;
} json_writer;

static int write_value(json_writer *w, const msgpack_object *o, int depth);

static void newline_indent(json_writer *w, int depth)
{
    if (!w->pretty)
        return;
    spectra__buf_putc(w->b, '\n');
    for (int i = 0; i < depth; i++)
        spectra__buf_put(w->b, "  ", 2);
}

static void put_separator(json_writer *w)
{
    if (w->pretty)
        spectra__buf_put(w->b, ", ", 2);
    else
        spectra__buf_putc(w->b, ',');
}

static void put_double(spectra__buf *b, double v, int digits)
{
    if (!isfinite(v)) {
        spectra__buf_put(b, "null", 4);
        return;
    }
    char tmp[40];
    int n = snprintf(tmp, sizeof tmp, "%.*g", digits, v);
    /* A caller's setlocale(LC_NUMERIC) must not turn the decimal point into a comma. */
    for (int i = 0; i < n; i++)
        if (tmp[i] == ',')
            tmp[i] = '.';
    spectra__buf_put(b, tmp, (size_t)n);
}

/* Length of a well-formed UTF-8 sequence at s (RFC 3629 table), or 0 when it is not one. */
static size_t utf8_seq_len(const uint8_t *s, size_t n)
{
    uint8_t c = s[0];
    size_t len;
    uint8_t lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        if (c == 0xe0)
            lo = 0xa0;
        else if (c == 0xed)
            hi = 0x9f; /* no UTF-16 surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f;
    } else
        return 0;
    if (len > n || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xbf)
            return 0;
    return len;
}

static void put_string(spectra__buf *b, const char *str, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const uint8_t *s = (const uint8_t *)str;
    spectra__buf_reserve(b, n + 2);
    spectra__buf_putc(b, '"');
    size_t i = 0;
    while (i < n) {
        size_t run = i;
        while (run < n && s[run] >= 0x20 && s[run] < 0x80 && s[run] != '"' && s[run] != '\\')
            run++;
        if (run > i) {
            spectra__buf_put(b, s + i, run - i);
            i = run;
            continue;
        }
        uint8_t c = s[i];
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            spectra__buf_put(b, esc, 2);
            i++;
        } else if (c < 0x20) {
            const char *short_form = c == '\b' ? "\\b" : c == '\f' ? "\\f" : c == '\n' ? "\\n"
                                   : c == '\r' ? "\\r" : c == '\t' ? "\\t" : NULL;
            if (short_form) {
                spectra__buf_put(b, short_form, 2);
            } else {
                char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
                spectra__buf_put(b, esc, 6);
            }
            i++;
        } else {
            size_t len = utf8_seq_len(s + i, n - i);
            if (len) {
                spectra__buf_put(b, s + i, len);
                i += len;
            } else {
                spectra__buf_put(b, "\\ufffd", 6);
                i++;
            }
        }
    }
    spectra__buf_putc(b, '"');
}

static void put_base64(spectra__buf *b, const uint8_t *s, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    spectra__buf_reserve(b, (n + 2) / 3 * 4 + 2);
    spectra__buf_putc(b, '"');
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
        char q[4] = {tab[v >> 18], tab[(v >> 12) & 63], tab[(v >> 6) & 63], tab[v & 63]};
        spectra__buf_put(b, q, 4);
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)s[i] << 16;
        char q[4] = {tab[v >> 18], tab[(v >> 12) & 63], '=', '='};
        spectra__buf_put(b, q, 4);
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8;
        char q[4] = {tab[v >> 18], tab[(v >> 12) & 63], tab[(v >> 6) & 63], '='};
        spectra__buf_put(b, q, 4);
    }
    spectra__buf_putc(b, '"');
}

static void put_ndarray_element(spectra__buf *b, int dtype, const uint8_t *p)
{
    if (dtype == 0)
        put_double(b, spectra__load_f64(p), 17);
    else if (dtype == 1)
        put_double(b, (double)spectra__load_f32(p), 9);
    else
        spectra__buf_printf(b, "%" PRId64, spectra__load_i64(p));
}

/* Writes dimension `dim` of an ndarray whose element block starts at data; stride = elements per
 * index of this dimension. The innermost dimension stays on one line in pretty output. */
static void put_ndarray_dim(json_writer *w, int dtype, size_t elsize, const msgpack_object *shape,
                            size_t dim, const uint8_t *data, size_t stride, int depth)
{
    size_t n = (size_t)shape->via.array.ptr[dim].via.u64;
    size_t ndim = shape->via.array.size;
    int innermost = dim + 1 == ndim;
    size_t sub = innermost ? 1 : stride / (n ? n : 1);
    spectra__buf_putc(w->b, '[');
    for (size_t i = 0; i < n; i++) {
        if (i)
            innermost ? put_separator(w) : spectra__buf_putc(w->b, ',');
        if (innermost) {
            put_ndarray_element(w->b, dtype, data + i * elsize);
        } else {
            newline_indent(w, depth + 1);
            put_ndarray_dim(w, dtype, elsize, shape, dim + 1, data + i * sub * elsize, sub,
                            depth + 1);
        }
    }
    if (!innermost && n)
        newline_indent(w, depth);
    spectra__buf_putc(w->b, ']');
}

static int try_ndarray(json_writer *w, const msgpack_object *o, int depth)
{
    int dtype;
    size_t elsize, ndim, count;
    const msgpack_object *shape;
    const uint8_t *data;
    if (spectra__ndarray_view(o, &dtype, &elsize, &ndim, &shape, &count, &data))
        return 0;
    if (ndim == 0) {
        put_ndarray_element(w->b, dtype, data);
        return 1;
    }
    put_ndarray_dim(w, dtype, elsize, shape, 0, data, count, depth);
    return 1;
}

static int is_scalar(const msgpack_object *o)
{
    return o->type != MSGPACK_OBJECT_ARRAY && o->type != MSGPACK_OBJECT_MAP;
}

static int write_key(json_writer *w, const msgpack_object *key)
{
    if (key->type == MSGPACK_OBJECT_STR) {
        put_string(w->b, key->via.str.ptr, key->via.str.size);
        return 0;
    }
    /* JSON keys are strings: render the key as JSON, then quote that text. */
    spectra__buf tmp = {0};
    json_writer kw = {&tmp, 0};
    int rc = write_value(&kw, key, 0);
    if (!rc && tmp.oom)
        rc = SPECTRA_ENOMEM;
    if (!rc)
        put_string(w->b, tmp.p, tmp.len);
    spectra__buf_free(&tmp);
    return rc;
}

static int write_map(json_writer *w, const msgpack_object *o, int depth)
{
    uint32_t n = o->via.map.size;
    spectra__buf_putc(w->b, '{');
    for (uint32_t i = 0; i < n; i++) {
        if (i)
            spectra__buf_putc(w->b, ',');
        newline_indent(w, depth + 1);
        int rc = write_key(w, &o->via.map.ptr[i].key);
        if (rc)
            return rc;
        spectra__buf_put(w->b, ": ", w->pretty ? 2 : 1);
        rc = write_value(w, &o->via.map.ptr[i].val, depth + 1);
        if (rc)
            return rc;
    }
    if (n)
        newline_indent(w, depth);
    spectra__buf_putc(w->b, '}');
    return 0;
}

static int write_array(json_writer *w, const msgpack_object *o, int depth)
{
    uint32_t n = o->via.array.size;
    int inline_items = 1;
    for (uint32_t i = 0; i < n && inline_items; i++)
        inline_items = is_scalar(&o->via.array.ptr[i]);
    spectra__buf_putc(w->b, '[');
    for (uint32_t i = 0; i < n; i++) {
        if (i)
            inline_items ? put_separator(w) : spectra__buf_putc(w->b, ',');
        if (!inline_items)
            newline_indent(w, depth + 1);
        int rc = write_value(w, &o->via.array.ptr[i], depth + 1);
        if (rc)
            return rc;
    }
    if (n && !inline_items)
        newline_indent(w, depth);
    spectra__buf_putc(w->b, ']');
    return 0;
}

static int write_value(json_writer *w, const msgpack_object *o, int depth)
{
    if (depth > 64)
        return SPECTRA_EPROTO;
    switch (o->type) {
    case MSGPACK_OBJECT_NIL: spectra__buf_put(w->b, "null", 4); return 0;
    case MSGPACK_OBJECT_BOOLEAN:
        spectra__buf_puts(w->b, o->via.boolean ? "true" : "false");
        return 0;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        spectra__buf_printf(w->b, "%" PRIu64, o->via.u64);
        return 0;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        spectra__buf_printf(w->b, "%" PRId64, o->via.i64);
        return 0;
    case MSGPACK_OBJECT_FLOAT32: put_double(w->b, o->via.f64, 9); return 0;
    case MSGPACK_OBJECT_FLOAT64: put_double(w->b, o->via.f64, 17); return 0;
    case MSGPACK_OBJECT_STR: put_string(w->b, o->via.str.ptr, o->via.str.size); return 0;
    case MSGPACK_OBJECT_BIN:
        put_base64(w->b, (const uint8_t *)o->via.bin.ptr, o->via.bin.size);
        return 0;
    case MSGPACK_OBJECT_ARRAY: return write_array(w, o, depth);
    case MSGPACK_OBJECT_MAP:
        if (try_ndarray(w, o, depth))
            return 0;
        return write_map(w, o, depth);
    default: return SPECTRA_EPROTO; /* ext types have no JSON form */
    }
}

int spectra_object_to_json(const struct msgpack_object *obj, int flags, char **out, size_t *out_len)
{
    if (!obj || !out)
        return SPECTRA_EINVAL;
    *out = NULL;
    spectra__buf b = {0};
    json_writer w = {&b, (flags & SPECTRA_JSON_PRETTY) != 0};
    spectra__buf_reserve(&b, 64);
    int rc = write_value(&w, obj, 0);
    if (!rc && b.oom)
        rc = SPECTRA_ENOMEM;
    if (rc) {
        spectra__buf_free(&b);
        return rc;
    }
    *out = b.p;
    if (out_len)
        *out_len = b.len;
    return 0;
}

int spectra_msg_to_json(const spectra_msg *msg, int flags, char **out, size_t *out_len)
{
    if (!msg)
        return SPECTRA_EINVAL;
    return spectra_object_to_json(spectra_msg_root(msg), flags, out, out_len);
}

int spectra_msgpack_to_json(const void *buf, size_t len, int flags, char **out, size_t *out_len)
{
    spectra_msg *m;
    if (out)
        *out = NULL;
    int rc = spectra_msg_parse(buf, len, &m);
    if (rc)
        return rc;
    rc = spectra_msg_to_json(m, flags, out, out_len);
    spectra_msg_free(m);
    return rc;
}
