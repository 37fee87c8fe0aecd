/* spx_msgpack_prescan: every msgpack type byte, every rejection, and agreement with msgpack-c on
 * random valid objects and on noise. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "codec.h"
#include "codec_test_util.h"
#include "rng.h"

typedef struct raw {
    const char *bytes;
    size_t len;
    const char *what;
} raw;

#define RAW(s, what) {s, sizeof(s) - 1, what}

static spx_errcode scan(const void *buf, size_t len, int depth, char *err, size_t errlen)
{
    /* an exact-size copy, so that any read past the end is an ASan error */
    unsigned char *copy = malloc(len ? len : 1);
    if (len)
        memcpy(copy, buf, len);
    spx_errcode rc = spx_msgpack_prescan(len ? copy : buf, len, depth, err, errlen);
    free(copy);
    return rc;
}

/* msgpack-c must parse what the pre-scan accepts, to the last byte. */
static void assert_msgpack_c_agrees(const void *buf, size_t len)
{
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    size_t off = 0;
    msgpack_unpack_return ur = msgpack_unpack_next(&up, buf, len, &off);
    cr_assert_eq(ur, MSGPACK_UNPACK_SUCCESS, "msgpack-c refused what the pre-scan accepted");
    cr_assert_eq(off, len);
    msgpack_unpacked_destroy(&up);
}

static const raw valid_objects[] = {
    RAW("\x00", "positive fixint 0"), RAW("\x7f", "positive fixint 127"),
    RAW("\xe0", "negative fixint -32"), RAW("\xff", "negative fixint -1"),
    RAW("\x80", "empty fixmap"), RAW("\x81\xa1k\x01", "fixmap"),
    RAW("\x8f\x00\x00\x01\x00\x02\x00\x03\x00\x04\x00\x05\x00\x06\x00\x07\x00\x08\x00\x09\x00"
        "\x0a\x00\x0b\x00\x0c\x00\x0d\x00\x0e\x00", "fixmap of 15"),
    RAW("\x90", "empty fixarray"), RAW("\x93\x01\x02\x03", "fixarray"),
    RAW("\xa0", "empty fixstr"), RAW("\xa3" "abc", "fixstr"),
    RAW("\xbf" "0123456789012345678901234567890", "fixstr of 31"),
    RAW("\xc0", "nil"), RAW("\xc2", "false"), RAW("\xc3", "true"),
    RAW("\xc4\x02\x00\xff", "bin8"), RAW("\xc4\x00", "empty bin8"),
    RAW("\xc5\x00\x01\x7f", "bin16"), RAW("\xc6\x00\x00\x00\x01\x7f", "bin32"),
    RAW("\xca\x3f\x80\x00\x00", "float32"), RAW("\xcb\x3f\xf0\x00\x00\x00\x00\x00\x00", "float64"),
    RAW("\xcc\xff", "uint8"), RAW("\xcd\xff\xff", "uint16"), RAW("\xce\xff\xff\xff\xff", "uint32"),
    RAW("\xcf\xff\xff\xff\xff\xff\xff\xff\xff", "uint64"),
    RAW("\xd0\x80", "int8"), RAW("\xd1\x80\x00", "int16"), RAW("\xd2\x80\x00\x00\x00", "int32"),
    RAW("\xd3\x80\x00\x00\x00\x00\x00\x00\x00", "int64"),
    RAW("\xd9\x01z", "str8"), RAW("\xda\x00\x01z", "str16"), RAW("\xdb\x00\x00\x00\x01z", "str32"),
    RAW("\xd9\x00", "empty str8"),
    RAW("\xdc\x00\x02\x01\x02", "array16"), RAW("\xdc\x00\x00", "empty array16"),
    RAW("\xdd\x00\x00\x00\x02\x01\x02", "array32"), RAW("\xdd\x00\x00\x00\x00", "empty array32"),
    RAW("\xde\x00\x01\xa1k\xc0", "map16"), RAW("\xdf\x00\x00\x00\x01\xa1k\xc0", "map32"),
    RAW("\xdf\x00\x00\x00\x00", "empty map32"),
    RAW("\x82\xa1" "a\x92\x91\x90\x80\xa1" "b\xdc\x00\x01\xde\x00\x01\xc0\xc0", "nested"),
};

Test(codec_prescan, accepts_every_type_byte_and_msgpack_c_agrees)
{
    char err[256];
    for (size_t i = 0; i < sizeof valid_objects / sizeof valid_objects[0]; i++) {
        const raw *r = &valid_objects[i];
        spx_errcode rc = scan(r->bytes, r->len, 16, err, sizeof err);
        cr_assert_eq(rc, SPX_OK, "%s rejected: %s", r->what, err);
        assert_msgpack_c_agrees(r->bytes, r->len);
        /* every proper prefix is truncated */
        for (size_t cut = 0; cut < r->len; cut++)
            cr_assert_eq(scan(r->bytes, cut, 16, err, sizeof err), SPX_E_BAD_MSGPACK,
                         "%s cut to %zu bytes accepted", r->what, cut);
        /* and one byte more is trailing garbage */
        unsigned char longer[64];
        cr_assert(r->len < sizeof longer);
        memcpy(longer, r->bytes, r->len);
        longer[r->len] = 0x00;
        cr_assert_eq(scan(longer, r->len + 1, 16, err, sizeof err), SPX_E_BAD_MSGPACK);
        cr_assert(strstr(err, "trailing"), "%s: %s", r->what, err);
    }
}

typedef struct reject_case {
    raw in;
    const char *needle;
} reject_case;

static const reject_case rejects[] = {
    {RAW("\xc1", "reserved"), "0xc1"},
    {RAW("\x91\xc1", "reserved in an array"), "0xc1"},
    {RAW("\xd4\x01\x00", "fixext1"), "extension"},
    {RAW("\xd5\x01\x00\x00", "fixext2"), "extension"},
    {RAW("\xd6\x01\x00\x00\x00\x00", "fixext4"), "extension"},
    {RAW("\xd7\x01\x00\x00\x00\x00\x00\x00\x00\x00", "fixext8"), "extension"},
    {RAW("\xd8\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00", "fixext16"),
     "extension"},
    {RAW("\xc7\x01\x05\x00", "ext8"), "extension"},
    {RAW("\xc8\x00\x01\x05\x00", "ext16"), "extension"},
    {RAW("\xc9\x00\x00\x00\x01\x05\x00", "ext32"), "extension"},
    {RAW("\x81\xa1k\xd4\x01\x00", "ext as a map value"), "extension"},
    {RAW("\xdd\x00\xff\xff\xff", "the array32 bomb"), "does not fit"},
    {RAW("\xdd\xff\xff\xff\xff\x00\x00\x00\x00", "array32 of 4G"), "does not fit"},
    {RAW("\xdf\xff\xff\xff\xff\x00\x00", "map32 of 4G"), "does not fit"},
    {RAW("\xdc\xff\xff\x00", "array16 of 65535"), "does not fit"},
    {RAW("\xde\x00\x02\x01\x02\x03", "map16 of 2 in 3 bytes"), "does not fit"},
    {RAW("\x92\x01", "fixarray of 2 with 1 byte"), "does not fit"},
    {RAW("\x81\x01", "fixmap of 1 with 1 byte"), "does not fit"},
    {RAW("\x92\x93\x01\x01\x01", "inner array leaves no byte for the outer"), "does not fit"},
    {RAW("\x91\xdd\x00\x00\x00\x02\x01", "inner array32 too long"), "does not fit"},
    {RAW("\xa3" "ab", "fixstr cut"), "truncated"},
    {RAW("\xd9\x05" "abc", "str8 cut"), "truncated"},
    {RAW("\xdb\xff\xff\xff\xff" "abc", "str32 of 4G"), "truncated"},
    {RAW("\xc6\x7f\xff\xff\xff\x00", "bin32 of 2G"), "truncated"},
    {RAW("\xda\x00", "str16 length cut"), "truncated"},
    {RAW("\xcb\x00\x00", "float64 cut"), "truncated"},
    {RAW("\x91", "array missing its element"), "does not fit"},
    {RAW("\x01\x02", "two objects"), "trailing"},
    {RAW("\x90\x90", "two arrays"), "trailing"},
};

Test(codec_prescan, rejects_with_a_reason)
{
    char err[256];
    for (size_t i = 0; i < sizeof rejects / sizeof rejects[0]; i++) {
        const reject_case *r = &rejects[i];
        spx_errcode rc = scan(r->in.bytes, r->in.len, 16, err, sizeof err);
        cr_assert_eq(rc, SPX_E_BAD_MSGPACK, "%s accepted", r->in.what);
        cr_assert(strstr(err, r->needle), "%s: '%s' lacks '%s'", r->in.what, err, r->needle);
    }
    cr_assert_eq(spx_msgpack_prescan(NULL, 0, 16, err, sizeof err), SPX_E_BAD_MSGPACK);
    cr_assert_eq(spx_msgpack_prescan("", 0, 16, NULL, 0), SPX_E_BAD_MSGPACK);
}

Test(codec_prescan, every_ext_and_reserved_type_byte_is_rejected_anywhere)
{
    char err[256];
    const unsigned char bad[] = {0xc1, 0xc7, 0xc8, 0xc9, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8};
    for (size_t i = 0; i < sizeof bad; i++) {
        /* [0, <bad> followed by enough zero bytes for any payload] */
        unsigned char buf[40] = {0x92, 0x00, bad[i]};
        cr_assert_eq(scan(buf, sizeof buf, 16, err, sizeof err), SPX_E_BAD_MSGPACK);
        cr_assert(strstr(err, "byte 2"), "type 0x%02x: %s", bad[i], err);
    }
}

static size_t nested_arrays(unsigned char *buf, int depth, bool empty_innermost)
{
    size_t n = 0;
    for (int i = 0; i < depth - (empty_innermost ? 1 : 0); i++)
        buf[n++] = 0x91;
    buf[n++] = empty_innermost ? 0x90 : 0x2a;
    return n;
}

Test(codec_prescan, depth_is_bounded)
{
    char err[256];
    unsigned char buf[128];
    for (int max = 0; max <= 20; max++) {
        for (int depth = 0; depth <= max + 1; depth++) {
            for (int empty = 0; empty <= 1; empty++) {
                if (empty && depth == 0)
                    continue;
                size_t n = nested_arrays(buf, depth, empty);
                spx_errcode rc = scan(buf, n, max, err, sizeof err);
                if (depth <= max) {
                    cr_assert_eq(rc, SPX_OK, "depth %d max %d: %s", depth, max, err);
                } else {
                    cr_assert_eq(rc, SPX_E_BAD_MSGPACK, "depth %d max %d accepted", depth, max);
                    cr_assert(strstr(err, "nesting"), "%s", err);
                }
            }
        }
    }
    /* max_depth is clamped to [0, 64] */
    size_t n = nested_arrays(buf, 64, false);
    cr_assert_eq(scan(buf, n, 1000, err, sizeof err), SPX_OK);
    n = nested_arrays(buf, 65, false);
    cr_assert_eq(scan(buf, n, 1000, err, sizeof err), SPX_E_BAD_MSGPACK);
    cr_assert_eq(scan("\x90", 1, -5, err, sizeof err), SPX_E_BAD_MSGPACK);
    cr_assert_eq(scan("\x05", 1, -5, err, sizeof err), SPX_OK);
    /* siblings do not add depth */
    const char wide[] = "\x93\x91\x91\x01\x91\x91\x02\x91\x91\x03";
    cr_assert_eq(scan(wide, sizeof wide - 1, 3, err, sizeof err), SPX_OK, "%s", err);
    cr_assert_eq(scan(wide, sizeof wide - 1, 2, err, sizeof err), SPX_E_BAD_MSGPACK);
}

Test(codec_prescan, large_flat_objects_pass)
{
    /* an array32 of 1M fixints and a map of 64K entries: linear, no allocation */
    size_t n = 1u << 20;
    unsigned char *buf = malloc(5 + n);
    buf[0] = 0xdd;
    buf[1] = 0x00;
    buf[2] = 0x10;
    buf[3] = 0x00;
    buf[4] = 0x00;
    memset(buf + 5, 0x07, n);
    char err[256];
    cr_assert_eq(scan(buf, 5 + n, 16, err, sizeof err), SPX_OK, "%s", err);
    cr_assert_eq(scan(buf, 4 + n, 16, err, sizeof err), SPX_E_BAD_MSGPACK);
    free(buf);
}

/* ---- random valid objects: the pre-scan and msgpack-c agree --------------------------------- */

typedef struct gen {
    spx_rng *rng;
    msgpack_packer *pk;
    int max_depth_seen;
    bool has_ext;
} gen;

static void gen_raw(gen *g, const void *p, size_t n)
{
    g->pk->callback(g->pk->data, p, n);
}

/* Writes one random object at nesting level `depth` (0 = top). Uses the widest encodings too, which
 * packers never choose on their own. */
static void gen_object(gen *g, int depth, int budget)
{
    spx_rng *r = g->rng;
    if (depth > g->max_depth_seen)
        g->max_depth_seen = depth;
    unsigned choice = (unsigned)spx_rng_below(r, budget > 0 ? 12 : 8);
    unsigned char b[9];
    switch (choice) {
    case 0: msgpack_pack_uint64(g->pk, spx_rng_next(r) >> spx_rng_below(r, 64)); break;
    case 1: msgpack_pack_int64(g->pk, -(int64_t)(spx_rng_next(r) >> (1 + spx_rng_below(r, 63)))); break;
    case 2: msgpack_pack_double(g->pk, spx_rng_normal(r)); break;
    case 3: msgpack_pack_float(g->pk, (float)spx_rng_normal(r)); break;
    case 4: {
        size_t n = spx_rng_below(r, 300);
        char text[300];
        memset(text, 'q', n);
        if (spx_rng_below(r, 2)) {
            msgpack_pack_str(g->pk, n);
            msgpack_pack_str_body(g->pk, text, n);
        } else {
            b[0] = 0xdb; /* str32 */
            b[1] = b[2] = 0;
            b[3] = (unsigned char)(n >> 8);
            b[4] = (unsigned char)n;
            gen_raw(g, b, 5);
            gen_raw(g, text, n);
        }
        break;
    }
    case 5: {
        size_t n = spx_rng_below(r, 70000);
        char *data = calloc(1, n + 1);
        msgpack_pack_bin(g->pk, n);
        msgpack_pack_bin_body(g->pk, data, n);
        free(data);
        break;
    }
    case 6:
        if (spx_rng_below(r, 3) == 0)
            msgpack_pack_nil(g->pk);
        else if (spx_rng_below(r, 2))
            msgpack_pack_true(g->pk);
        else
            msgpack_pack_false(g->pk);
        break;
    case 7:
        if (spx_rng_below(r, 20) == 0) {
            g->has_ext = true;
            msgpack_pack_ext(g->pk, 1, 5);
            msgpack_pack_ext_body(g->pk, "abcde", 5);
        } else {
            msgpack_pack_uint8(g->pk, 1);
        }
        break;
    case 8: case 9: { /* array, sometimes array32 */
        uint32_t n = (uint32_t)spx_rng_below(r, 6);
        if (spx_rng_below(r, 3) == 0) {
            b[0] = 0xdd;
            b[1] = b[2] = b[3] = 0;
            b[4] = (unsigned char)n;
            gen_raw(g, b, 5);
        } else {
            msgpack_pack_array(g->pk, n);
        }
        if (depth + 1 > g->max_depth_seen)
            g->max_depth_seen = depth + 1;
        for (uint32_t i = 0; i < n; i++)
            gen_object(g, depth + 1, budget - 1);
        break;
    }
    default: { /* map, sometimes map32 */
        uint32_t n = (uint32_t)spx_rng_below(r, 5);
        if (spx_rng_below(r, 3) == 0) {
            b[0] = 0xdf;
            b[1] = b[2] = b[3] = 0;
            b[4] = (unsigned char)n;
            gen_raw(g, b, 5);
        } else {
            msgpack_pack_map(g->pk, n);
        }
        if (depth + 1 > g->max_depth_seen)
            g->max_depth_seen = depth + 1;
        for (uint32_t i = 0; i < n; i++) {
            msgpack_pack_str(g->pk, 1);
            msgpack_pack_str_body(g->pk, "k", 1);
            gen_object(g, depth + 1, budget - 1);
        }
        break;
    }
    }
}

Test(codec_prescan, random_valid_objects_agree_with_msgpack_c, .timeout = 120)
{
    spx_rng rng;
    spx_rng_seed(&rng, 7);
    size_t ok = 0, deep = 0, ext = 0;
    for (int iter = 0; iter < 3000; iter++) {
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        msgpack_packer pk;
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        gen g = {&rng, &pk, 0, false};
        /* sometimes wrapped in a chain of one-element arrays, to reach the depth limit */
        int wrap = spx_rng_below(&rng, 3) == 0 ? 1 + (int)spx_rng_below(&rng, 14) : 0;
        for (int w = 0; w < wrap; w++)
            msgpack_pack_array(&pk, 1);
        gen_object(&g, wrap, 1 + (int)spx_rng_below(&rng, 24));
        char err[256];
        spx_errcode rc = scan(sb.data, sb.size, SPX_MSGPACK_MAX_DEPTH, err, sizeof err);
        if (g.has_ext) {
            cr_assert_eq(rc, SPX_E_BAD_MSGPACK, "ext accepted");
            ext++;
        } else if (g.max_depth_seen > SPX_MSGPACK_MAX_DEPTH) {
            cr_assert_eq(rc, SPX_E_BAD_MSGPACK, "depth %d accepted", g.max_depth_seen);
            deep++;
        } else {
            cr_assert_eq(rc, SPX_OK, "valid object (depth %d, %zu bytes) rejected: %s",
                         g.max_depth_seen, sb.size, err);
            assert_msgpack_c_agrees(sb.data, sb.size);
            ok++;
        }
        msgpack_sbuffer_destroy(&sb);
    }
    cr_assert(ok > 1000 && deep > 10 && ext > 10, "ok %zu deep %zu ext %zu", ok, deep, ext);
}

Test(codec_prescan, noise_is_never_accepted_unless_msgpack_c_parses_it, .timeout = 120)
{
    spx_rng rng;
    spx_rng_seed(&rng, 99);
    size_t accepted = 0;
    for (int iter = 0; iter < 20000; iter++) {
        size_t len = spx_rng_below(&rng, 48);
        unsigned char buf[48];
        for (size_t i = 0; i < len; i++)
            buf[i] = (unsigned char)spx_rng_next(&rng);
        /* bias towards container headers, the dangerous ones */
        if (len > 0 && spx_rng_below(&rng, 2))
            buf[0] = (const unsigned char[]){0xdc, 0xdd, 0xde, 0xdf, 0x9f, 0x8f}[spx_rng_below(&rng, 6)];
        char err[256];
        if (scan(buf, len, SPX_MSGPACK_MAX_DEPTH, err, sizeof err) == SPX_OK) {
            /* Only now may msgpack-c see it: it would try to allocate for any count. */
            assert_msgpack_c_agrees(buf, len);
            accepted++;
        }
    }
    cr_assert(accepted > 0, "noise of short lengths includes valid objects (e.g. a fixint)");
}
