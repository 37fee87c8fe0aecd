/* msgpack -> JSON: escaping, numbers, ndarrays, nesting, and that the output is valid JSON. */
#include <criterion/criterion.h>
#include <math.h>
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

#include "spectra.h"

typedef struct packed {
    msgpack_sbuffer sb;
    msgpack_packer pk;
} packed;

static void packed_init(packed *p)
{
    msgpack_sbuffer_init(&p->sb);
    msgpack_packer_init(&p->pk, &p->sb, msgpack_sbuffer_write);
}

static void pack_cstr(msgpack_packer *pk, const char *s)
{
    msgpack_pack_str(pk, strlen(s));
    msgpack_pack_str_body(pk, s, strlen(s));
}

static void pack_bytes_str(msgpack_packer *pk, const char *s, size_t n)
{
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

/* Converts what p holds and compares with want; frees p. */
static void expect_json(packed *p, int flags, const char *want)
{
    char *json = NULL;
    size_t len = 0;
    int rc = spectra_msgpack_to_json(p->sb.data, p->sb.size, flags, &json, &len);
    cr_assert_eq(rc, 0, "conversion failed: %s", spectra_strerror(rc));
    cr_assert_str_eq(json, want);
    cr_assert_eq(len, strlen(want));
    free(json);
    msgpack_sbuffer_destroy(&p->sb);
}

static void pack_le_f64(uint8_t *out, double v)
{
    uint64_t u;
    memcpy(&u, &v, 8);
    for (int i = 0; i < 8; i++)
        out[i] = (uint8_t)(u >> (8 * i));
}

static void pack_ndarray(msgpack_packer *pk, const char *dtype, const size_t *shape, size_t ndim,
                         const void *data, size_t bytes)
{
    msgpack_pack_map(pk, 3);
    pack_cstr(pk, "dtype");
    pack_cstr(pk, dtype);
    pack_cstr(pk, "shape");
    msgpack_pack_array(pk, ndim);
    for (size_t i = 0; i < ndim; i++)
        msgpack_pack_uint64(pk, shape[i]);
    pack_cstr(pk, "data");
    msgpack_pack_bin(pk, bytes);
    msgpack_pack_bin_body(pk, data, bytes);
}

Test(json, scalars)
{
    packed p;
    packed_init(&p);
    msgpack_pack_array(&p.pk, 9);
    msgpack_pack_nil(&p.pk);
    msgpack_pack_true(&p.pk);
    msgpack_pack_false(&p.pk);
    msgpack_pack_uint64(&p.pk, UINT64_MAX);
    msgpack_pack_int64(&p.pk, INT64_MIN);
    msgpack_pack_double(&p.pk, 0.1);
    msgpack_pack_float(&p.pk, 0.1f);
    msgpack_pack_double(&p.pk, -0.0);
    msgpack_pack_double(&p.pk, 1e300);
    expect_json(&p, 0,
                "[null,true,false,18446744073709551615,-9223372036854775808,"
                "0.10000000000000001,0.100000001,-0,1.0000000000000001e+300]");
}

Test(json, nan_and_infinity_become_null)
{
    packed p;
    packed_init(&p);
    msgpack_pack_map(&p.pk, 3);
    pack_cstr(&p.pk, "nan");
    msgpack_pack_double(&p.pk, NAN);
    pack_cstr(&p.pk, "inf");
    msgpack_pack_double(&p.pk, INFINITY);
    pack_cstr(&p.pk, "minf32");
    msgpack_pack_float(&p.pk, -INFINITY);
    expect_json(&p, 0, "{\"nan\":null,\"inf\":null,\"minf32\":null}");
}

Test(json, doubles_round_trip)
{
    const double values[] = {M_PI, 1.0 / 3.0, 6.02214076e23, 5e-324, -2.5e-308, 123456789.125};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        packed p;
        packed_init(&p);
        msgpack_pack_double(&p.pk, values[i]);
        char *json;
        cr_assert_eq(spectra_msgpack_to_json(p.sb.data, p.sb.size, 0, &json, NULL), 0);
        cr_assert_eq(strtod(json, NULL), values[i], "%s does not read back as %.17g", json,
                     values[i]);
        free(json);
        msgpack_sbuffer_destroy(&p.sb);
    }
}

Test(json, string_escaping_rfc8259)
{
    packed p;
    packed_init(&p);
    const char s[] = "q\"b\\s/\b\f\n\r\t\x01\x1f\x7f";
    pack_bytes_str(&p.pk, s, sizeof s - 1);
    expect_json(&p, 0, "\"q\\\"b\\\\s/\\b\\f\\n\\r\\t\\u0001\\u001f\x7f\"");
}

Test(json, embedded_nul_is_escaped)
{
    packed p;
    packed_init(&p);
    pack_bytes_str(&p.pk, "a\0b", 3);
    expect_json(&p, 0, "\"a\\u0000b\"");
}

Test(json, utf8_kept_and_invalid_replaced)
{
    packed p;
    packed_init(&p);
    msgpack_pack_array(&p.pk, 2);
    pack_cstr(&p.pk, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"); /* e-acute, euro, emoji */
    /* lone continuation byte, overlong '/', UTF-16 surrogate, truncated 3-byte sequence */
    pack_bytes_str(&p.pk, "\x80" "a" "\xc0\xaf" "\xed\xa0\x80" "\xe2\x82", 9);
    expect_json(&p, 0,
                "[\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\","
                "\"\\ufffda\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\"]");
}

Test(json, bin_is_base64)
{
    const char *cases[][2] = {{"", "\"\""},       {"f", "\"Zg==\""},         {"fo", "\"Zm8=\""},
                              {"foo", "\"Zm9v\""}, {"foob", "\"Zm9vYg==\""}, {"fooba", "\"Zm9vYmE=\""},
                              {"foobar", "\"Zm9vYmFy\""}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        packed p;
        packed_init(&p);
        msgpack_pack_bin(&p.pk, strlen(cases[i][0]));
        msgpack_pack_bin_body(&p.pk, cases[i][0], strlen(cases[i][0]));
        expect_json(&p, 0, cases[i][1]);
    }
    packed p;
    packed_init(&p);
    const uint8_t bytes[] = {0xff, 0xfe, 0x00};
    msgpack_pack_bin(&p.pk, 3);
    msgpack_pack_bin_body(&p.pk, bytes, 3);
    expect_json(&p, 0, "\"//4A\"");
}

Test(json, nested_maps_and_non_string_keys)
{
    packed p;
    packed_init(&p);
    msgpack_pack_map(&p.pk, 3);
    pack_cstr(&p.pk, "a");
    msgpack_pack_map(&p.pk, 2);
    pack_cstr(&p.pk, "b");
    msgpack_pack_array(&p.pk, 0);
    pack_cstr(&p.pk, "c");
    msgpack_pack_map(&p.pk, 1);
    pack_cstr(&p.pk, "d");
    msgpack_pack_array(&p.pk, 2);
    msgpack_pack_map(&p.pk, 0);
    pack_cstr(&p.pk, "x\"y");
    msgpack_pack_uint64(&p.pk, 7);
    pack_cstr(&p.pk, "seven");
    msgpack_pack_true(&p.pk);
    msgpack_pack_nil(&p.pk);
    expect_json(&p, 0, "{\"a\":{\"b\":[],\"c\":{\"d\":[{},\"x\\\"y\"]}},\"7\":\"seven\",\"true\":null}");
}

Test(json, ndarray_f64_matrix)
{
    packed p;
    packed_init(&p);
    const double x[6] = {1, -2.5, 0.1, 1e-300, 3, NAN};
    uint8_t raw[48];
    for (int i = 0; i < 6; i++)
        pack_le_f64(raw + 8 * i, x[i]);
    msgpack_pack_map(&p.pk, 1);
    pack_cstr(&p.pk, "vectors");
    pack_ndarray(&p.pk, "f64", (size_t[]){2, 3}, 2, raw, sizeof raw);
    expect_json(&p, 0, "{\"vectors\":[[1,-2.5,0.10000000000000001],[1e-300,3,null]]}");
}

Test(json, ndarray_f32_i64_and_3d)
{
    packed p;
    packed_init(&p);
    const float f[3] = {0.5f, -1.25f, 0.1f};
    const int64_t i64[2] = {-3, INT64_MAX};
    uint8_t fraw[12], iraw[16], craw[8 * 8];
    for (int i = 0; i < 3; i++) {
        uint32_t u;
        memcpy(&u, &f[i], 4);
        for (int b = 0; b < 4; b++)
            fraw[4 * i + b] = (uint8_t)(u >> (8 * b));
    }
    for (int i = 0; i < 2; i++)
        for (int b = 0; b < 8; b++)
            iraw[8 * i + b] = (uint8_t)((uint64_t)i64[i] >> (8 * b));
    for (int i = 0; i < 8; i++)
        pack_le_f64(craw + 8 * i, i);
    msgpack_pack_array(&p.pk, 3);
    pack_ndarray(&p.pk, "f32", (size_t[]){3}, 1, fraw, sizeof fraw);
    pack_ndarray(&p.pk, "i64", (size_t[]){2}, 1, iraw, sizeof iraw);
    pack_ndarray(&p.pk, "f64", (size_t[]){2, 2, 2}, 3, craw, sizeof craw);
    expect_json(&p, 0,
                "[[0.5,-1.25,0.100000001],[-3,9223372036854775807],[[[0,1],[2,3]],[[4,5],[6,7]]]]");
}

Test(json, ndarray_empty_and_scalar_shapes)
{
    packed p;
    packed_init(&p);
    uint8_t one[8];
    pack_le_f64(one, 42);
    msgpack_pack_array(&p.pk, 4);
    pack_ndarray(&p.pk, "f64", (size_t[]){0}, 1, NULL, 0);
    pack_ndarray(&p.pk, "f64", (size_t[]){2, 0}, 2, NULL, 0);
    pack_ndarray(&p.pk, "f64", (size_t[]){0, 3}, 2, NULL, 0);
    pack_ndarray(&p.pk, "f64", NULL, 0, one, 8);
    expect_json(&p, 0, "[[],[[],[]],[],42]");
}

Test(json, map_that_only_looks_like_an_ndarray_stays_a_map)
{
    packed p;
    packed_init(&p);
    uint8_t raw[8] = {0};
    /* data length does not match the shape: shown as a map with base64 data */
    pack_ndarray(&p.pk, "f64", (size_t[]){2}, 1, raw, sizeof raw);
    expect_json(&p, 0, "{\"dtype\":\"f64\",\"shape\":[2],\"data\":\"AAAAAAAAAAA=\"}");
    packed_init(&p);
    pack_ndarray(&p.pk, "u8", (size_t[]){8}, 1, raw, sizeof raw);
    expect_json(&p, 0, "{\"dtype\":\"u8\",\"shape\":[8],\"data\":\"AAAAAAAAAAA=\"}");
}

Test(json, pretty_output)
{
    packed p;
    packed_init(&p);
    uint8_t raw[32];
    for (int i = 0; i < 4; i++)
        pack_le_f64(raw + 8 * i, i + 1);
    msgpack_pack_map(&p.pk, 3);
    pack_cstr(&p.pk, "a");
    msgpack_pack_array(&p.pk, 2);
    msgpack_pack_uint64(&p.pk, 1);
    msgpack_pack_uint64(&p.pk, 2);
    pack_cstr(&p.pk, "m");
    pack_ndarray(&p.pk, "f64", (size_t[]){2, 2}, 2, raw, sizeof raw);
    pack_cstr(&p.pk, "e");
    msgpack_pack_map(&p.pk, 0);
    expect_json(&p, SPECTRA_JSON_PRETTY,
                "{\n  \"a\": [1, 2],\n  \"m\": [\n    [1, 2],\n    [3, 4]\n  ],\n  \"e\": {}\n}");
}

Test(json, hostile_msgpack_is_rejected_before_allocation)
{
    char *json = (char *)1;
    /* array32 claiming 16 M elements in 5 bytes: msgpack-c would allocate 400 MB */
    const uint8_t bomb[] = {0xdd, 0x00, 0xff, 0xff, 0xff};
    cr_assert_eq(spectra_msgpack_to_json(bomb, sizeof bomb, 0, &json, NULL), SPECTRA_EPROTO);
    cr_assert_null(json);
    const uint8_t ext[] = {0xd4, 0x01, 0x00};
    cr_assert_eq(spectra_msgpack_to_json(ext, sizeof ext, 0, &json, NULL), SPECTRA_EPROTO);
    const uint8_t trailing[] = {0xc0, 0xc0};
    cr_assert_eq(spectra_msgpack_to_json(trailing, sizeof trailing, 0, &json, NULL),
                 SPECTRA_EPROTO);
    const uint8_t truncated[] = {0x92, 0x01};
    cr_assert_eq(spectra_msgpack_to_json(truncated, sizeof truncated, 0, &json, NULL),
                 SPECTRA_EPROTO);
    uint8_t deep[18];
    memset(deep, 0x91, 17); /* 17 nested one-element arrays */
    deep[17] = 0xc0;
    cr_assert_eq(spectra_msgpack_to_json(deep, sizeof deep, 0, &json, NULL), SPECTRA_EPROTO);
    cr_assert_eq(spectra_msgpack_to_json(deep + 1, sizeof deep - 1, 0, &json, NULL), 0,
                 "16 levels are allowed");
    cr_assert_str_eq(json, "[[[[[[[[[[[[[[[[null]]]]]]]]]]]]]]]]");
    free(json);
}
