/* Test helpers for the codec suites: a tiny literal syntax for msgpack, so a test states the exact
 * message it sends:
 *
 *   {v:1, stream:'s', kind:'rows', dtype:'f64', shape:[2, 3], t:1.5, x:nil, y:[true, false]}
 *
 * Map keys are bare words (anything up to ':') or 'quoted'; values: unsigned/negative ints (packed in
 * the smallest form), floats (a '.', 'e', inf or nan; float64, or float32 with an 'f' suffix),
 * 'strings' (no escapes), nil, true, false, bin:HEX (e.g. bin:00ff), [arrays], {maps}. */
#ifndef SPX_CODEC_TEST_UTIL_H
#define SPX_CODEC_TEST_UTIL_H

#include <criterion/criterion.h>
#include <ctype.h>
#include <math.h>
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

static inline const char *mp_skip_ws(const char *s)
{
    while (*s == ' ' || *s == '\n' || *s == '\t')
        s++;
    return s;
}

static inline const char *mp_value(const char *s, msgpack_packer *pk);

static inline void mp_raw(msgpack_packer *pk, const msgpack_sbuffer *sb)
{
    if (sb->size)
        pk->callback(pk->data, sb->data, sb->size);
}

static inline const char *mp_container(const char *s, msgpack_packer *pk, bool is_map)
{
    msgpack_sbuffer inner;
    msgpack_sbuffer_init(&inner);
    msgpack_packer ipk;
    msgpack_packer_init(&ipk, &inner, msgpack_sbuffer_write);
    char close = is_map ? '}' : ']';
    size_t count = 0;
    s = mp_skip_ws(s + 1);
    while (*s != close) {
        cr_assert(*s, "msgpack literal: unterminated container");
        if (is_map) {
            const char *k = s, *kend;
            if (*s == '\'') {
                k = ++s;
                while (*s && *s != '\'')
                    s++;
                kend = s++;
            } else {
                while (*s && *s != ':' && *s != ' ')
                    s++;
                kend = s;
            }
            s = mp_skip_ws(s);
            cr_assert(*s == ':', "msgpack literal: expected ':' after a key");
            msgpack_pack_str(&ipk, (size_t)(kend - k));
            msgpack_pack_str_body(&ipk, k, (size_t)(kend - k));
            s = mp_skip_ws(s + 1);
        }
        s = mp_skip_ws(mp_value(s, &ipk));
        count++;
        if (*s == ',')
            s = mp_skip_ws(s + 1);
    }
    if (is_map)
        msgpack_pack_map(pk, count);
    else
        msgpack_pack_array(pk, count);
    mp_raw(pk, &inner);
    msgpack_sbuffer_destroy(&inner);
    return s + 1;
}

static inline const char *mp_value(const char *s, msgpack_packer *pk)
{
    s = mp_skip_ws(s);
    if (*s == '{' || *s == '[')
        return mp_container(s, pk, *s == '{');
    if (*s == '\'') {
        const char *b = ++s;
        while (*s && *s != '\'')
            s++;
        msgpack_pack_str(pk, (size_t)(s - b));
        msgpack_pack_str_body(pk, b, (size_t)(s - b));
        return *s ? s + 1 : s;
    }
    if (!strncmp(s, "nil", 3)) {
        msgpack_pack_nil(pk);
        return s + 3;
    }
    if (!strncmp(s, "true", 4)) {
        msgpack_pack_true(pk);
        return s + 4;
    }
    if (!strncmp(s, "false", 5)) {
        msgpack_pack_false(pk);
        return s + 5;
    }
    if (!strncmp(s, "bin:", 4)) {
        s += 4;
        const char *b = s;
        while (isxdigit((unsigned char)*s))
            s++;
        size_t n = (size_t)(s - b) / 2;
        msgpack_pack_bin(pk, n);
        for (size_t i = 0; i < n; i++) {
            char hex[3] = {b[2 * i], b[2 * i + 1], 0};
            char byte = (char)strtol(hex, NULL, 16);
            msgpack_pack_bin_body(pk, &byte, 1);
        }
        return s;
    }
    /* A number. */
    const char *b = s;
    if (*s == '-')
        s++;
    bool is_float = false;
    if (!strncmp(s, "inf", 3) || !strncmp(s, "nan", 3)) {
        is_float = true;
        s += 3;
    } else {
        cr_assert(isdigit((unsigned char)*s), "msgpack literal: unexpected '%.10s'", b);
        while (isdigit((unsigned char)*s) || *s == '.' || *s == 'e' || *s == 'E' ||
               ((*s == '-' || *s == '+') && (s[-1] == 'e' || s[-1] == 'E'))) {
            if (*s == '.' || *s == 'e' || *s == 'E')
                is_float = true;
            s++;
        }
    }
    char text[64];
    size_t n = (size_t)(s - b);
    cr_assert(n < sizeof text);
    memcpy(text, b, n);
    text[n] = '\0';
    if (*s == 'f') {
        msgpack_pack_float(pk, strtof(text, NULL));
        return s + 1;
    }
    if (is_float)
        msgpack_pack_double(pk, strtod(text, NULL));
    else if (text[0] == '-')
        msgpack_pack_int64(pk, strtoll(text, NULL, 10));
    else
        msgpack_pack_uint64(pk, strtoull(text, NULL, 10));
    return s;
}

/* Packs a literal into sb (initialised here; destroy with msgpack_sbuffer_destroy). */
static inline void mp_build(msgpack_sbuffer *sb, const char *literal)
{
    msgpack_sbuffer_init(sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    const char *end = mp_skip_ws(mp_value(literal, &pk));
    cr_assert(*end == '\0', "msgpack literal: trailing text '%s'", end);
}

#endif
