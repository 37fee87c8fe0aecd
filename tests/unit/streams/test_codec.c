/* The codec's names and parsers, the msgpack object and packing helpers, and control requests.
 * (Ingest headers, the pre-scan and payloads have their own suites: test_codec_*.c.) */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "codec.h"
#include "codec_test_util.h"
#include "rng.h"

/* ---- names ---------------------------------------------------------------------------------- */

Test(codec, errcode_names_are_the_wire_strings)
{
    static const char *const want[SPX_E_COUNT] = {
        "ok", "bad_frame", "bad_msgpack", "bad_header", "unsupported_version", "bad_name",
        "unknown_stream", "kind_mismatch", "shape_mismatch", "bad_length", "not_finite",
        "too_large", "bad_request", "unknown_op", "unknown_pipeline", "exists", "unknown_algo",
        "bad_param", "busy", "internal",
    };
    for (int c = 0; c < SPX_E_COUNT; c++)
        cr_assert_str_eq(spx_errcode_name((spx_errcode)c), want[c], "code %d", c);
    cr_assert_str_eq(spx_errcode_name(SPX_E_COUNT), "internal");
    cr_assert_str_eq(spx_errcode_name((spx_errcode)-1), "internal");
}

Test(codec, kind_and_dtype_names_sizes_and_parsers)
{
    cr_assert_str_eq(spx_kind_name(SPX_KIND_ROWS), "rows");
    cr_assert_str_eq(spx_kind_name(SPX_KIND_SERIES), "series");
    cr_assert_str_eq(spx_kind_name(SPX_KIND_BLOCKS), "blocks");
    cr_assert_str_eq(spx_kind_name((spx_kind)3), "invalid");
    cr_assert_str_eq(spx_dtype_name(SPX_DTYPE_F32), "f32");
    cr_assert_str_eq(spx_dtype_name(SPX_DTYPE_F64), "f64");
    cr_assert_str_eq(spx_dtype_name(SPX_DTYPE_I16), "i16");
    cr_assert_str_eq(spx_dtype_name((spx_dtype)3), "invalid");
    cr_assert_eq(spx_dtype_size(SPX_DTYPE_F32), 4);
    cr_assert_eq(spx_dtype_size(SPX_DTYPE_F64), 8);
    cr_assert_eq(spx_dtype_size(SPX_DTYPE_I16), 2);
    cr_assert_eq(spx_dtype_size((spx_dtype)3), 0);

    spx_kind k = 0;
    cr_assert_eq(spx_kind_parse("series", 6, &k), 0);
    cr_assert_eq(k, SPX_KIND_SERIES);
    cr_assert_eq(spx_kind_parse("blocks!", 6, &k), 0, "only len bytes are read");
    cr_assert_eq(k, SPX_KIND_BLOCKS);
    const char *bad_kinds[] = {"row", "rowsx", "Rows", "", "series "};
    for (size_t i = 0; i < 5; i++)
        cr_assert_eq(spx_kind_parse(bad_kinds[i], strlen(bad_kinds[i]), &k), -1, "%s", bad_kinds[i]);
    cr_assert_eq(spx_kind_parse(NULL, 0, &k), -1);

    spx_dtype d = 0;
    cr_assert_eq(spx_dtype_parse("i16", 3, &d), 0);
    cr_assert_eq(d, SPX_DTYPE_I16);
    cr_assert_eq(spx_dtype_parse("f64", 3, &d), 0);
    cr_assert_eq(d, SPX_DTYPE_F64);
    cr_assert_eq(spx_dtype_parse("f3", 2, &d), -1);
    cr_assert_eq(spx_dtype_parse("i64", 3, &d), -1);
}

Test(codec, names_are_1_to_64_of_the_allowed_bytes)
{
    char name[80];
    memset(name, 'a', sizeof name);
    cr_assert(spx_name_valid(name, 1));
    cr_assert(spx_name_valid(name, SPX_NAME_MAX));
    cr_assert_not(spx_name_valid(name, SPX_NAME_MAX + 1));
    cr_assert_not(spx_name_valid(name, 0));
    cr_assert_not(spx_name_valid(NULL, 3));
    cr_assert(spx_name_valid("AZaz09_-", 8));
    for (int c = 0; c < 256; c++) {
        char one[1] = {(char)c};
        bool allowed = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                       c == '_' || c == '-';
        cr_assert_eq(spx_name_valid(one, 1), allowed, "byte 0x%02x", c);
    }
}

/* ---- object helpers ------------------------------------------------------------------------- */

typedef struct unpacked_lit {
    msgpack_sbuffer sb;
    msgpack_unpacked up;
} unpacked_lit;

static const msgpack_object *unpack_lit(unpacked_lit *u, const char *lit)
{
    mp_build(&u->sb, lit);
    msgpack_unpacked_init(&u->up);
    size_t off = 0;
    cr_assert_eq(msgpack_unpack_next(&u->up, u->sb.data, u->sb.size, &off), MSGPACK_UNPACK_SUCCESS);
    return &u->up.data;
}

static void unpacked_free(unpacked_lit *u)
{
    msgpack_unpacked_destroy(&u->up);
    msgpack_sbuffer_destroy(&u->sb);
}

Test(codec, map_get_and_typed_access)
{
    unpacked_lit u;
    const msgpack_object *m = unpack_lit(
        &u, "{a: 1, b: -2, c: 2.5, d: 'text', e: true, f: nil, g: [1], h: 1.5f, a: 99, "
            "'': 7, big: 18446744073709551615}");
    uint64_t uv;
    double dv;
    bool bv;
    char s[8];

    cr_assert_null(spx_map_get(m, "zz"));
    cr_assert_null(spx_map_get(NULL, "a"));
    cr_assert_null(spx_map_get(spx_map_get(m, "g"), "a"), "not a map");
    cr_assert_eq(spx_obj_uint(spx_map_get(m, "a"), &uv), 0);
    cr_assert_eq(uv, 1, "the first of duplicate keys wins");
    cr_assert_eq(spx_obj_uint(spx_map_get(m, ""), &uv), 0);
    cr_assert_eq(uv, 7);
    cr_assert_eq(spx_obj_uint(spx_map_get(m, "big"), &uv), 0);
    cr_assert_eq(uv, UINT64_MAX);
    cr_assert_eq(spx_obj_uint(spx_map_get(m, "b"), &uv), -1, "negative is not a uint");
    cr_assert_eq(spx_obj_uint(spx_map_get(m, "c"), &uv), -1);
    cr_assert_eq(spx_obj_uint(NULL, &uv), -1);

    cr_assert_eq(spx_obj_double(spx_map_get(m, "a"), &dv), 0);
    cr_assert_eq(dv, 1.0);
    cr_assert_eq(spx_obj_double(spx_map_get(m, "b"), &dv), 0);
    cr_assert_eq(dv, -2.0);
    cr_assert_eq(spx_obj_double(spx_map_get(m, "c"), &dv), 0);
    cr_assert_eq(dv, 2.5);
    cr_assert_eq(spx_obj_double(spx_map_get(m, "h"), &dv), 0);
    cr_assert_eq(dv, 1.5);
    cr_assert_eq(spx_obj_double(spx_map_get(m, "d"), &dv), -1);
    cr_assert_eq(spx_obj_double(spx_map_get(m, "f"), &dv), -1);

    cr_assert_eq(spx_obj_bool(spx_map_get(m, "e"), &bv), 0);
    cr_assert(bv);
    cr_assert_eq(spx_obj_bool(spx_map_get(m, "a"), &bv), -1);

    cr_assert_eq(spx_obj_str(spx_map_get(m, "d"), s, sizeof s), 0);
    cr_assert_str_eq(s, "text");
    cr_assert_eq(spx_obj_str(spx_map_get(m, "d"), s, 5), 0, "4 bytes + NUL fit in 5");
    cr_assert_eq(spx_obj_str(spx_map_get(m, "d"), s, 4), -1, "too long");
    cr_assert_eq(spx_obj_str(spx_map_get(m, "a"), s, sizeof s), -1, "not a str");
    unpacked_free(&u);

    /* a str with an embedded NUL, and a map whose keys are not all str */
    const char raw[] = "\x82\x01\xa1x\xa1k\xa3" "a\0b";
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    size_t off = 0;
    cr_assert_eq(msgpack_unpack_next(&up, raw, sizeof raw - 1, &off), MSGPACK_UNPACK_SUCCESS);
    cr_assert_not_null(spx_map_get(&up.data, "k"), "non-str keys are skipped");
    cr_assert_eq(spx_obj_str(spx_map_get(&up.data, "k"), s, sizeof s), -1, "NUL refused");
    msgpack_unpacked_destroy(&up);
}

Test(codec, scalar_text)
{
    unpacked_lit u;
    const msgpack_object *m = unpack_lit(
        &u, "{s: 'abc', u: 42, n: -7, t: true, f: false, x: 0.1, y: 1e300, z: 0.1f, w: 256.0, "
            "nan: nan, inf: -inf, arr: [1], nil: nil, min: -9223372036854775808, "
            "max: 18446744073709551615}");
    const struct {
        const char *key;
        const char *text;
    } cases[] = {
        {"s", "abc"}, {"u", "42"}, {"n", "-7"}, {"t", "true"}, {"f", "false"}, {"x", "0.1"},
        {"y", "1e+300"}, {"z", "0.1"}, {"w", "256"}, {"nan", "nan"}, {"inf", "-inf"},
        {"min", "-9223372036854775808"}, {"max", "18446744073709551615"},
    };
    char buf[64];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cr_assert_eq(spx_obj_scalar_text(spx_map_get(m, cases[i].key), buf, sizeof buf), 0,
                     "%s", cases[i].key);
        cr_assert_str_eq(buf, cases[i].text, "%s", cases[i].key);
    }
    cr_assert_eq(spx_obj_scalar_text(spx_map_get(m, "arr"), buf, sizeof buf), -1);
    cr_assert_eq(spx_obj_scalar_text(spx_map_get(m, "nil"), buf, sizeof buf), -1);
    cr_assert_eq(spx_obj_scalar_text(spx_map_get(m, "u"), buf, 2), -1, "too small");
    cr_assert_eq(spx_obj_scalar_text(spx_map_get(m, "u"), buf, 3), 0);
    cr_assert_eq(spx_obj_scalar_text(spx_map_get(m, "x"), buf, 3), -1);
    unpacked_free(&u);

    /* random doubles survive text and back */
    spx_rng rng;
    spx_rng_seed(&rng, 3);
    for (int i = 0; i < 2000; i++) {
        msgpack_object o = {.type = MSGPACK_OBJECT_FLOAT64};
        o.via.f64 = spx_rng_normal(&rng) * pow(10, (double)spx_rng_below(&rng, 40) - 20);
        cr_assert_eq(spx_obj_scalar_text(&o, buf, sizeof buf), 0);
        cr_assert_eq(strtod(buf, NULL), o.via.f64, "%s", buf);
    }
}

/* ---- packing -------------------------------------------------------------------------------- */

Test(codec, pack_helpers_and_ndarrays)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    double x[6] = {1, -2, 3.5, 0, 1e-300, 6};
    int64_t labels[3] = {-1, 0, INT64_MAX};
    size_t shape2[2] = {2, 3}, shape1[1] = {3};
    msgpack_pack_map(&pk, 6);
    spx_pack_key_cstr(&pk, "name", "x");
    spx_pack_key_uint(&pk, "n", UINT64_MAX);
    spx_pack_key_double(&pk, "d", 0.25);
    spx_pack_key_bool(&pk, "b", false);
    spx_pack_cstr(&pk, "m");
    spx_pack_ndarray_f64(&pk, x, 2, shape2);
    spx_pack_cstr(&pk, "l");
    spx_pack_ndarray_i64(&pk, labels, 1, shape1);

    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    size_t off = 0;
    cr_assert_eq(msgpack_unpack_next(&up, sb.data, sb.size, &off), MSGPACK_UNPACK_SUCCESS);
    cr_assert_eq(off, sb.size);
    const msgpack_object *root = &up.data;
    char s[16];
    uint64_t u;
    double d;
    bool b = true;
    cr_assert_eq(spx_obj_str(spx_map_get(root, "name"), s, sizeof s), 0);
    cr_assert_str_eq(s, "x");
    cr_assert_eq(spx_obj_uint(spx_map_get(root, "n"), &u), 0);
    cr_assert_eq(u, UINT64_MAX);
    cr_assert_eq(spx_obj_double(spx_map_get(root, "d"), &d), 0);
    cr_assert_eq(d, 0.25);
    cr_assert_eq(spx_obj_bool(spx_map_get(root, "b"), &b), 0);
    cr_assert_not(b);

    const msgpack_object *m = spx_map_get(root, "m");
    cr_assert_eq(spx_obj_str(spx_map_get(m, "dtype"), s, sizeof s), 0);
    cr_assert_str_eq(s, "f64");
    const msgpack_object *shape = spx_map_get(m, "shape");
    cr_assert_eq(shape->via.array.size, 2);
    cr_assert_eq(shape->via.array.ptr[0].via.u64, 2);
    cr_assert_eq(shape->via.array.ptr[1].via.u64, 3);
    const msgpack_object *data = spx_map_get(m, "data");
    cr_assert_eq(data->type, MSGPACK_OBJECT_BIN);
    cr_assert_eq(data->via.bin.size, sizeof x);
    /* little-endian on the wire: byte 7 of 1.0 is 0x3f */
    cr_assert_eq((unsigned char)data->via.bin.ptr[7], 0x3f);
    cr_assert_arr_eq(data->via.bin.ptr, x, sizeof x);

    const msgpack_object *l = spx_map_get(root, "l");
    cr_assert_eq(spx_obj_str(spx_map_get(l, "dtype"), s, sizeof s), 0);
    cr_assert_str_eq(s, "i64");
    cr_assert_eq(spx_map_get(l, "data")->via.bin.size, sizeof labels);
    cr_assert_arr_eq(spx_map_get(l, "data")->via.bin.ptr, labels, sizeof labels);
    cr_assert_eq(spx_msgpack_prescan(sb.data, sb.size, SPX_MSGPACK_MAX_DEPTH, NULL, 0), SPX_OK);
    msgpack_unpacked_destroy(&up);
    msgpack_sbuffer_destroy(&sb);
}

Test(codec, empty_ndarray)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    size_t shape[2] = {0, 5};
    spx_pack_ndarray_f64(&pk, NULL, 2, shape);
    unsigned char want[] = {0x83, 0xa5, 'd', 't', 'y', 'p', 'e', 0xa3, 'f', '6', '4', 0xa5, 's',
                            'h', 'a', 'p', 'e', 0x92, 0x00, 0x05, 0xa4, 'd', 'a', 't', 'a', 0xc4,
                            0x00};
    cr_assert_eq(sb.size, sizeof want);
    cr_assert_arr_eq(sb.data, want, sizeof want);
    msgpack_sbuffer_destroy(&sb);
}

/* ---- control requests ----------------------------------------------------------------------- */

static spx_errcode request_lit(const char *lit, spx_request *req, msgpack_sbuffer *sb, char *err,
                               size_t errlen)
{
    mp_build(sb, lit);
    return spx_decode_request(sb->data, sb->size, req, err, errlen);
}

Test(codec, request_ok_with_and_without_id)
{
    spx_request req;
    msgpack_sbuffer sb;
    char err[256];
    cr_assert_eq(request_lit("{op: 'ping'}", &req, &sb, err, sizeof err), SPX_OK, "%s", err);
    cr_assert_str_eq(req.op, "ping");
    cr_assert_null(req.id);
    cr_assert_eq(req.root->type, MSGPACK_OBJECT_MAP);
    spx_request_clear(&req);
    msgpack_sbuffer_destroy(&sb);

    cr_assert_eq(request_lit("{id: {corr: [1, 'x']}, op: 'attach', stream: 's', pipeline: 'top', "
                             "algo: 'topeig', params: {k: 3, eta: 0.5, name: 'x', on: true}}",
                             &req, &sb, err, sizeof err), SPX_OK, "%s", err);
    cr_assert_str_eq(req.op, "attach");
    cr_assert_not_null(req.id);
    cr_assert_eq(req.id->type, MSGPACK_OBJECT_MAP);
    char text[32];
    cr_assert_eq(spx_obj_str(spx_map_get(req.root, "pipeline"), text, sizeof text), 0);
    cr_assert_str_eq(text, "top");
    cr_assert_eq(spx_obj_scalar_text(spx_map_get(spx_map_get(req.root, "params"), "eta"), text,
                                     sizeof text), 0);
    cr_assert_str_eq(text, "0.5");

    /* the struct can be copied: root lives in the zone, not in the struct */
    spx_request copy = req;
    memset(&req, 0xee, sizeof req);
    cr_assert_eq(spx_obj_str(spx_map_get(copy.root, "algo"), text, sizeof text), 0);
    cr_assert_str_eq(text, "topeig");
    spx_request_clear(&copy);
    cr_assert_null(copy.root);
    spx_request_clear(&copy); /* clearing twice is harmless */
    msgpack_sbuffer_destroy(&sb);
}

Test(codec, request_op_rules)
{
    char op31[40], lit[128];
    memset(op31, 'o', 31);
    op31[31] = '\0';
    spx_request req;
    msgpack_sbuffer sb;
    char err[256];
    snprintf(lit, sizeof lit, "{op: '%s'}", op31);
    cr_assert_eq(request_lit(lit, &req, &sb, err, sizeof err), SPX_OK);
    cr_assert_eq(strlen(req.op), 31);
    spx_request_clear(&req);
    msgpack_sbuffer_destroy(&sb);

    const char *bad[] = {
        "{op: 'ooooooooooooooooooooooooooooooooo'}", /* 33 bytes */
        "{op: 'oooooooooooooooooooooooooooooooo'}",  /* 32 bytes */
        "{op: ''}", "{op: 1}", "{op: nil}", "{op: ['ping']}", "{op: bin:70696e67}", "{}",
        "{Op: 'ping'}", "{id: 5}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(request_lit(bad[i], &req, &sb, err, sizeof err), SPX_E_BAD_REQUEST, "%s",
                     bad[i]);
        cr_assert(strstr(err, "\"op\""), "%s: %s", bad[i], err);
        cr_assert_eq(req.op[0], '\0');
        cr_assert_null(req.root, "a failed decode keeps nothing");
        cr_assert_null(req.unpacked.zone);
        spx_request_clear(&req);
        msgpack_sbuffer_destroy(&sb);
    }
}

Test(codec, error_reply_echoes_the_id)
{
    spx_request req;
    msgpack_sbuffer sb;
    char err[256];
    /* a failed decode keeps nothing */
    cr_assert_eq(request_lit("{id: 'req-7', op: 5}", &req, &sb, err, sizeof err),
                 SPX_E_BAD_REQUEST);
    cr_assert_null(req.id);
    cr_assert_null(req.root);
    cr_assert_null(req.unpacked.zone);
    msgpack_sbuffer_destroy(&sb);

    /* a good request's id goes into the reply of an op that fails later */
    cr_assert_eq(request_lit("{id: 'req-7', op: 'frobnicate'}", &req, &sb, err, sizeof err), SPX_OK);
    msgpack_sbuffer reply;
    msgpack_sbuffer_init(&reply);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &reply, msgpack_sbuffer_write);
    spx_pack_error_reply(&pk, req.id, SPX_E_UNKNOWN_OP, "unknown op 'frobnicate'");
    spx_request_clear(&req);
    msgpack_sbuffer_destroy(&sb);

    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    size_t off = 0;
    cr_assert_eq(msgpack_unpack_next(&up, reply.data, reply.size, &off), MSGPACK_UNPACK_SUCCESS);
    char text[64];
    bool ok = true;
    cr_assert_eq(up.data.via.map.size, 3);
    cr_assert_eq(spx_obj_bool(spx_map_get(&up.data, "ok"), &ok), 0);
    cr_assert_not(ok);
    cr_assert_eq(spx_obj_str(spx_map_get(&up.data, "id"), text, sizeof text), 0);
    cr_assert_str_eq(text, "req-7");
    const msgpack_object *e = spx_map_get(&up.data, "error");
    cr_assert_eq(spx_obj_str(spx_map_get(e, "code"), text, sizeof text), 0);
    cr_assert_str_eq(text, "unknown_op");
    cr_assert_eq(spx_obj_str(spx_map_get(e, "message"), text, sizeof text), 0);
    cr_assert_str_eq(text, "unknown op 'frobnicate'");
    msgpack_unpacked_destroy(&up);
    msgpack_sbuffer_destroy(&reply);

    /* without an id: two keys, and a NULL message is an empty str */
    msgpack_sbuffer_init(&reply);
    msgpack_packer_init(&pk, &reply, msgpack_sbuffer_write);
    spx_pack_error_reply(&pk, NULL, SPX_E_BUSY, NULL);
    unsigned char want[] = {0x82, 0xa2, 'o', 'k', 0xc2, 0xa5, 'e', 'r', 'r', 'o', 'r', 0x82, 0xa4,
                            'c', 'o', 'd', 'e', 0xa4, 'b', 'u', 's', 'y', 0xa7, 'm', 'e', 's', 's',
                            'a', 'g', 'e', 0xa0};
    cr_assert_eq(reply.size, sizeof want);
    cr_assert_arr_eq(reply.data, want, sizeof want);
    msgpack_sbuffer_destroy(&reply);
}

Test(codec, request_rejections)
{
    spx_request req;
    char err[256];
    msgpack_sbuffer sb;
    const char *not_maps[] = {"['ping']", "'ping'", "nil", "1"};
    for (size_t i = 0; i < 4; i++) {
        cr_assert_eq(request_lit(not_maps[i], &req, &sb, err, sizeof err), SPX_E_BAD_REQUEST);
        cr_assert(strstr(err, "map"), "%s", err);
        cr_assert_null(req.root);
        cr_assert_null(req.id);
        spx_request_clear(&req);
        msgpack_sbuffer_destroy(&sb);
    }
    static const struct {
        const char *bytes;
        size_t len;
    } bad[] = {
        {"", 0}, {"\x81\xa2op", 4}, {"\x81\xa2op\xa4ping\x00", 10}, {"\xdd\x00\xff\xff\xff", 5},
        {"\x81\xa2op\xd4\x00\x00", 7}, {"\xc1", 1},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(spx_decode_request(bad[i].bytes, bad[i].len, &req, err, sizeof err),
                     SPX_E_BAD_REQUEST, "case %zu", i);
        cr_assert(strlen(err) > 0);
        spx_request_clear(&req);
    }
    /* nesting beyond 16 */
    unsigned char deep[64] = {0x82, 0xa2, 'o', 'p', 0xa1, 'x', 0xa1, 'y'};
    size_t n = 8;
    for (int i = 0; i < 16; i++)
        deep[n++] = 0x91;
    deep[n++] = 0x01;
    cr_assert_eq(spx_decode_request(deep, n, &req, err, sizeof err), SPX_E_BAD_REQUEST);
    cr_assert(strstr(err, "nesting"), "%s", err);
    spx_request_clear(&req);
    cr_assert_eq(spx_decode_request(deep, n - 2, &req, err, sizeof err), SPX_E_BAD_REQUEST);
    spx_request_clear(&req);
}

Test(codec, request_size_limit)
{
    /* {op: 'ping', pad: bin of the size that makes the frame exactly the limit} */
    size_t limit = SPX_REQUEST_MAX_BYTES;
    unsigned char *buf = calloc(1, limit + 1);
    const unsigned char head[] = {0x82, 0xa2, 'o', 'p', 0xa4, 'p', 'i', 'n', 'g', 0xa3, 'p', 'a',
                                  'd', 0xc6};
    memcpy(buf, head, sizeof head);
    size_t pad = limit - sizeof head - 4;
    buf[sizeof head] = (unsigned char)(pad >> 24);
    buf[sizeof head + 1] = (unsigned char)(pad >> 16);
    buf[sizeof head + 2] = (unsigned char)(pad >> 8);
    buf[sizeof head + 3] = (unsigned char)pad;
    spx_request req;
    char err[256];
    cr_assert_eq(spx_decode_request(buf, limit, &req, err, sizeof err), SPX_OK, "%s", err);
    spx_request_clear(&req);
    pad++;
    buf[sizeof head + 3] = (unsigned char)pad;
    buf[sizeof head + 2] = (unsigned char)(pad >> 8);
    cr_assert_eq(spx_decode_request(buf, limit + 1, &req, err, sizeof err), SPX_E_BAD_REQUEST);
    cr_assert(strstr(err, "exceeds"), "%s", err);
    spx_request_clear(&req);
    free(buf);
}

Test(codec, request_noise_never_crashes, .timeout = 120)
{
    spx_rng rng;
    spx_rng_seed(&rng, 11);
    msgpack_sbuffer sb;
    mp_build(&sb, "{op: 'attach', id: [1, 'a'], stream: 's', params: {k: 3, eta: 0.5}}");
    size_t ok = 0;
    for (int iter = 0; iter < 20000; iter++) {
        size_t len = sb.size;
        unsigned char *buf = malloc(len);
        memcpy(buf, sb.data, len);
        int edits = 1 + (int)spx_rng_below(&rng, 3);
        for (int e = 0; e < edits; e++)
            buf[spx_rng_below(&rng, len)] = (unsigned char)spx_rng_next(&rng);
        if (spx_rng_below(&rng, 4) == 0)
            len = spx_rng_below(&rng, len + 1);
        spx_request req;
        char err[256];
        spx_errcode rc = spx_decode_request(buf, len, &req, err, sizeof err);
        if (rc == SPX_OK) {
            cr_assert(strlen(req.op) >= 1 && strlen(req.op) <= 31);
            cr_assert_eq(req.root->type, MSGPACK_OBJECT_MAP);
            ok++;
        } else {
            cr_assert_eq(rc, SPX_E_BAD_REQUEST);
            cr_assert(req.root == NULL && req.id == NULL && req.unpacked.zone == NULL);
        }
        spx_request_clear(&req);
        free(buf);
    }
    msgpack_sbuffer_destroy(&sb);
    cr_assert(ok > 0);
}
