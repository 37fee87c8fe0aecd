/* Ingest header encoding against docs/protocol.md: the worked example of section 4 byte for byte,
 * the optional keys of section 1, and the argument checks. */
#include <criterion/criterion.h>
#include <math.h>
#include <msgpack.h>
#include <string.h>

#include "spectra.h"

Test(header, protocol_worked_example_bytes)
{
    /* docs/protocol.md section 4: two f64 rows of dimension 3 to stream "s", seq 1. */
    static const uint8_t want[47] = {
        0x86,
        0xa1, 0x76, 0x01,
        0xa6, 0x73, 0x74, 0x72, 0x65, 0x61, 0x6d, 0xa1, 0x73,
        0xa4, 0x6b, 0x69, 0x6e, 0x64, 0xa4, 0x72, 0x6f, 0x77, 0x73,
        0xa5, 0x64, 0x74, 0x79, 0x70, 0x65, 0xa3, 0x66, 0x36, 0x34,
        0xa5, 0x73, 0x68, 0x61, 0x70, 0x65, 0x92, 0x02, 0x03,
        0xa3, 0x73, 0x65, 0x71, 0x01,
    };
    const double rows[6] = {1, 2, 3, 4, 5, 6};
    spectra_ingest m = {0};
    m.stream = "s";
    m.kind = SPECTRA_ROWS;
    m.dtype = SPECTRA_F64;
    m.shape[0] = 2;
    m.shape[1] = 3;
    m.data = rows;
    uint8_t buf[256];
    size_t len = 0;
    cr_assert_eq(spectra_encode_header(&m, 1, buf, sizeof buf, &len), 0);
    cr_assert_eq(len, 47);
    cr_assert_eq(memcmp(buf, want, sizeof want), 0);

    /* Without a sequence number the "seq" key is left out: a map of 5, 42 bytes. */
    cr_assert_eq(spectra_encode_header(&m, 0, buf, sizeof buf, &len), 0);
    cr_assert_eq(len, 42);
    cr_assert_eq(buf[0], 0x85);
    cr_assert_eq(memcmp(buf + 1, want + 1, 41), 0);
}

Test(header, too_small_buffer_is_erange)
{
    const double rows[6] = {0};
    spectra_ingest m = {0};
    m.stream = "s";
    m.kind = SPECTRA_ROWS;
    m.shape[0] = 2;
    m.shape[1] = 3;
    m.data = rows;
    uint8_t buf[46];
    size_t len;
    cr_assert_eq(spectra_encode_header(&m, 1, buf, sizeof buf, &len), SPECTRA_ERANGE);
}

/* Decodes an encoded header into a msgpack object kept in *up. */
static const msgpack_object *decode(const uint8_t *buf, size_t len, msgpack_unpacked *up)
{
    size_t off = 0;
    msgpack_unpacked_init(up);
    cr_assert_eq(msgpack_unpack_next(up, (const char *)buf, len, &off), MSGPACK_UNPACK_SUCCESS);
    cr_assert_eq(off, len);
    cr_assert_eq(up->data.type, MSGPACK_OBJECT_MAP);
    return &up->data;
}

static const msgpack_object *key_at(const msgpack_object *map, uint32_t i, const char *key)
{
    cr_assert_lt(i, map->via.map.size);
    const msgpack_object_kv *kv = &map->via.map.ptr[i];
    cr_assert_eq(kv->key.type, MSGPACK_OBJECT_STR);
    cr_assert_eq(kv->key.via.str.size, strlen(key), "key %u", i);
    cr_assert_eq(memcmp(kv->key.via.str.ptr, key, strlen(key)), 0, "key %u is not %s", i, key);
    return &kv->val;
}

static void assert_str(const msgpack_object *o, const char *s)
{
    cr_assert_eq(o->type, MSGPACK_OBJECT_STR);
    cr_assert_eq(o->via.str.size, strlen(s));
    cr_assert_eq(memcmp(o->via.str.ptr, s, strlen(s)), 0);
}

Test(header, series_with_events_i16_and_time)
{
    const int16_t samples[4] = {1, -2, 3, -4};
    const spectra_event events[2] = {{1700000000.25, "T1", NAN, 4.1}, {1700000001.0, "x", 2.5, 0}};
    spectra_ingest m = {0};
    m.stream = "eeg-S001_r4";
    m.kind = SPECTRA_SERIES;
    m.dtype = SPECTRA_I16;
    m.shape[0] = 2;
    m.shape[1] = 2;
    m.data = samples;
    m.t = 1700000002.5;
    m.t0 = 1700000000.0;
    m.rate = 160;
    m.scale = 0.5;
    m.events = events;
    m.n_events = 2;
    m.end = 1;
    uint8_t buf[1024];
    size_t len;
    cr_assert_eq(spectra_encode_header(&m, 42, buf, sizeof buf, &len), 0);
    msgpack_unpacked up;
    const msgpack_object *h = decode(buf, len, &up);
    cr_assert_eq(h->via.map.size, 12);
    cr_assert_eq(key_at(h, 0, "v")->via.u64, 1);
    assert_str(key_at(h, 1, "stream"), "eeg-S001_r4");
    assert_str(key_at(h, 2, "kind"), "series");
    assert_str(key_at(h, 3, "dtype"), "i16");
    const msgpack_object *shape = key_at(h, 4, "shape");
    cr_assert_eq(shape->via.array.size, 2);
    cr_assert_eq(shape->via.array.ptr[0].via.u64, 2);
    cr_assert_eq(key_at(h, 5, "seq")->via.u64, 42);
    cr_assert_eq(key_at(h, 6, "t")->via.f64, 1700000002.5);
    cr_assert_eq(key_at(h, 7, "t0")->via.f64, 1700000000.0);
    cr_assert_eq(key_at(h, 8, "rate")->via.f64, 160);
    cr_assert_eq(key_at(h, 9, "scale")->via.f64, 0.5);
    const msgpack_object *ev = key_at(h, 10, "events");
    cr_assert_eq(ev->type, MSGPACK_OBJECT_ARRAY);
    cr_assert_eq(ev->via.array.size, 2);
    const msgpack_object *e0 = &ev->via.array.ptr[0], *e1 = &ev->via.array.ptr[1];
    cr_assert_eq(e0->via.map.size, 3, "value NaN is left out");
    cr_assert_eq(key_at(e0, 0, "t")->via.f64, 1700000000.25);
    assert_str(key_at(e0, 1, "label"), "T1");
    cr_assert_eq(key_at(e0, 2, "duration")->via.f64, 4.1);
    cr_assert_eq(e1->via.map.size, 3, "duration 0 is left out");
    cr_assert_eq(key_at(e1, 2, "value")->via.f64, 2.5);
    cr_assert_eq(key_at(h, 11, "end")->via.boolean, true);
    msgpack_unpacked_destroy(&up);
}

Test(header, events_only_series_and_blocks_ids)
{
    const spectra_event ev = {5.0, "T0", NAN, 0};
    spectra_ingest m = {0};
    m.stream = "s";
    m.kind = SPECTRA_SERIES;
    m.dtype = SPECTRA_F32;
    m.shape[1] = 64;
    m.events = &ev;
    m.n_events = 1;
    uint8_t buf[256];
    size_t len;
    cr_assert_eq(spectra_encode_header(&m, 0, buf, sizeof buf, &len), 0,
                 "shape [0, C] with events needs no t0/rate");
    msgpack_unpacked up;
    const msgpack_object *h = decode(buf, len, &up);
    cr_assert_eq(h->via.map.size, 6);
    key_at(h, 5, "events");
    msgpack_unpacked_destroy(&up);

    const double block[4] = {1, 2, 3, 4};
    spectra_ingest b = {0};
    b.stream = "blk";
    b.kind = SPECTRA_BLOCKS;
    b.shape[0] = 2;
    b.shape[1] = 2;
    b.data = block;
    b.id = "block-7";
    cr_assert_eq(spectra_encode_header(&b, 3, buf, sizeof buf, &len), 0);
    h = decode(buf, len, &up);
    assert_str(key_at(h, 6, "id"), "block-7");
    msgpack_unpacked_destroy(&up);
    b.id = NULL;
    b.id_num = -12;
    cr_assert_eq(spectra_encode_header(&b, 3, buf, sizeof buf, &len), 0);
    h = decode(buf, len, &up);
    cr_assert_eq(key_at(h, 6, "id")->via.i64, -12);
    msgpack_unpacked_destroy(&up);
}

Test(header, invalid_messages_are_refused)
{
    const double x[4] = {0};
    uint8_t buf[256];
    size_t len;
    spectra_ingest base = {0};
    base.stream = "s";
    base.kind = SPECTRA_ROWS;
    base.shape[0] = 2;
    base.shape[1] = 2;
    base.data = x;
    spectra_ingest m = base;
    cr_assert_eq(spectra_encode_header(&m, 1, buf, sizeof buf, &len), 0);
    m.stream = "a.b";
    cr_assert_eq(spectra_encode_header(&m, 1, buf, sizeof buf, &len), SPECTRA_EINVAL, "dot");
    m.stream = "";
    cr_assert_eq(spectra_encode_header(&m, 1, buf, sizeof buf, &len), SPECTRA_EINVAL, "empty");
    m.stream = "xy123456789012345678901234567890123456789012345678901234567890123"; /* 65 */
    cr_assert_eq(spectra_encode_header(&m, 1, buf, sizeof buf, &len), SPECTRA_EINVAL, "long");
    m = base;
    m.dtype = SPECTRA_I16;
    m.scale = 1;
    cr_assert_eq(spectra_encode_header(&m, 1, buf, sizeof buf, &len), SPECTRA_EINVAL, "i16 rows");
    m = base;
    m.shape[1] = 0;
    cr_assert_eq(spectra_encode_header(&m, 1, buf, sizeof buf, &len), SPECTRA_EINVAL, "dim 0");
    m = base;
    m.data = NULL;
    cr_assert_eq(spectra_encode_header(&m, 1, buf, sizeof buf, &len), SPECTRA_EINVAL, "no data");
    m = base;
    m.kind = SPECTRA_SERIES;
    cr_assert_eq(spectra_encode_header(&m, 1, buf, sizeof buf, &len), SPECTRA_EINVAL, "no rate");
    m.rate = 100;
    cr_assert_eq(spectra_encode_header(&m, 1, buf, sizeof buf, &len), 0);
    m.t = NAN;
    cr_assert_eq(spectra_encode_header(&m, 1, buf, sizeof buf, &len), SPECTRA_EINVAL, "NaN t");
    m = base;
    const spectra_event ev = {1, "x", NAN, 0};
    m.events = &ev;
    m.n_events = 1;
    cr_assert_eq(spectra_encode_header(&m, 1, buf, sizeof buf, &len), SPECTRA_EINVAL,
                 "events on rows");
}

Test(header, wire_names)
{
    spectra_kind k;
    spectra_dtype d;
    cr_assert_eq(spectra_kind_parse("blocks", &k), 0);
    cr_assert_eq(k, SPECTRA_BLOCKS);
    cr_assert_eq(spectra_kind_parse("row", &k), SPECTRA_EINVAL);
    cr_assert_eq(spectra_dtype_parse("f32", &d), 0);
    cr_assert_eq(d, SPECTRA_F32);
    cr_assert_eq(spectra_dtype_size(SPECTRA_I16), 2);
    cr_assert_str_eq(spectra_kind_name(SPECTRA_SERIES), "series");
    cr_assert(spectra_name_valid("A-z_09"));
    cr_assert(!spectra_name_valid("a b"));
    cr_assert(!spectra_name_valid(NULL));
}
