/* Ingest headers: round trips, the worked example of docs/protocol.md section 4, and every way a
 * header is rejected (each code, each missing or mistyped key, truncation, garbage). */
#include <criterion/criterion.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "codec.h"
#include "codec_test_util.h"
#include "rng.h"

/* ---- helpers ------------------------------------------------------------------------------- */

static spx_errcode decode_bytes(const void *buf, size_t len, spx_ingest_header *h, char *err,
                                size_t errlen)
{
    memset(h, 0xab, sizeof *h); /* decode must not depend on (or free) what was there */
    spx_errcode rc = spx_decode_ingest_header(buf, len, h, err, errlen);
    if (rc != SPX_OK) {
        cr_assert_null(h->events, "a rejected header must be left cleared");
        cr_assert_eq(h->n_events, 0);
        cr_assert_eq(h->stream[0], '\0');
        cr_assert(strlen(err) > 0, "a rejection must say why");
    }
    return rc;
}

static spx_errcode decode_lit(const char *lit, spx_ingest_header *h, char *err, size_t errlen)
{
    msgpack_sbuffer sb;
    mp_build(&sb, lit);
    spx_errcode rc = decode_bytes(sb.data, sb.size, h, err, errlen);
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

static void expect_ok(const char *lit, spx_ingest_header *h)
{
    char err[256] = "";
    spx_errcode rc = decode_lit(lit, h, err, sizeof err);
    cr_assert_eq(rc, SPX_OK, "%s\n  rejected: %s (%s)", lit, spx_errcode_name(rc), err);
}

static void expect_reject(const char *lit, spx_errcode want, const char *needle)
{
    spx_ingest_header h;
    char err[256] = "";
    spx_errcode rc = decode_lit(lit, &h, err, sizeof err);
    cr_assert_eq(rc, want, "%s\n  got %s (%s), want %s", lit, spx_errcode_name(rc), err,
                 spx_errcode_name(want));
    if (needle)
        cr_assert(strstr(err, needle), "%s\n  message '%s' does not name '%s'", lit, err, needle);
}

typedef struct field {
    const char *key;
    const char *value;
} field;

#define N_FIELDS(a) (sizeof(a) / sizeof((a)[0]))

static const field rows_base[] = {
    {"v", "1"}, {"stream", "'s'"}, {"kind", "'rows'"}, {"dtype", "'f64'"}, {"shape", "[2, 3]"},
};
static const field series_base[] = {
    {"v", "1"},        {"stream", "'eeg'"},          {"kind", "'series'"},
    {"dtype", "'i16'"}, {"shape", "[256, 8]"},        {"t0", "1700000000.5"},
    {"rate", "256.0"}, {"scale", "0.5"},
};
static const field blocks_base[] = {
    {"v", "1"}, {"stream", "'b'"}, {"kind", "'blocks'"}, {"dtype", "'f32'"},
    {"shape", "[100, 5]"}, {"id", "7"},
};

/* Writes the base header as a literal with `key` replaced by `value` (appended when the base has
 * no such key; omitted when value is NULL). */
static void compose(char *out, size_t n, const field *base, size_t nb, const char *key,
                    const char *value)
{
    size_t used = (size_t)snprintf(out, n, "{");
    bool seen = false, first = true;
    for (size_t i = 0; i < nb; i++) {
        const char *v = base[i].value;
        if (key && !strcmp(base[i].key, key)) {
            seen = true;
            v = value;
        }
        if (!v)
            continue;
        used += (size_t)snprintf(out + used, n - used, "%s%s: %s", first ? "" : ", ", base[i].key, v);
        first = false;
    }
    if (key && !seen && value)
        used += (size_t)snprintf(out + used, n - used, "%s%s: %s", first ? "" : ", ", key, value);
    snprintf(out + used, n - used, "}");
    cr_assert(used + 1 < n);
}

static void assert_headers_equal(const spx_ingest_header *a, const spx_ingest_header *b)
{
    cr_assert_eq(a->version, b->version);
    cr_assert_str_eq(a->stream, b->stream);
    cr_assert_eq(a->kind, b->kind);
    cr_assert_eq(a->dtype, b->dtype);
    cr_assert_eq(a->shape[0], b->shape[0]);
    cr_assert_eq(a->shape[1], b->shape[1]);
    cr_assert_eq(a->has_seq, b->has_seq);
    if (a->has_seq)
        cr_assert_eq(a->seq, b->seq);
    cr_assert_eq(a->has_t, b->has_t);
    if (a->has_t)
        cr_assert_eq(a->t, b->t);
    cr_assert_eq(a->has_t0, b->has_t0);
    if (a->has_t0)
        cr_assert_eq(a->t0, b->t0);
    cr_assert_eq(a->rate, b->rate);
    cr_assert_eq(a->scale, b->scale);
    cr_assert_eq(a->has_id, b->has_id);
    if (a->has_id)
        cr_assert_str_eq(a->block_id, b->block_id);
    cr_assert_eq(a->end, b->end);
    cr_assert_eq(a->n_events, b->n_events);
    for (size_t i = 0; i < a->n_events; i++) {
        const spx_event *x = &a->events[i], *y = &b->events[i];
        cr_assert_eq(x->t, y->t, "event %zu", i);
        cr_assert_str_eq(x->label, y->label);
        cr_assert(isnan(x->value) ? isnan(y->value) : x->value == y->value, "event %zu value", i);
        cr_assert_eq(x->duration, y->duration);
    }
}

/* Encodes h, decodes the bytes, and checks the result equals h. */
static void round_trip(const spx_ingest_header *h)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    cr_assert_eq(spx_encode_ingest_header(h, &sb), 0);
    spx_ingest_header back;
    char err[256] = "";
    spx_errcode rc = decode_bytes(sb.data, sb.size, &back, err, sizeof err);
    cr_assert_eq(rc, SPX_OK, "round trip of '%s' rejected: %s (%s)", h->stream,
                 spx_errcode_name(rc), err);
    assert_headers_equal(h, &back);
    spx_ingest_header_clear(&back);
    msgpack_sbuffer_destroy(&sb);
}

static spx_ingest_header base_header(spx_kind kind, spx_dtype dtype, uint64_t n, uint64_t d)
{
    spx_ingest_header h;
    memset(&h, 0, sizeof h);
    h.version = SPX_PROTOCOL_VERSION;
    snprintf(h.stream, sizeof h.stream, "%s-stream", spx_kind_name(kind));
    h.kind = kind;
    h.dtype = dtype;
    h.shape[0] = n;
    h.shape[1] = d;
    h.scale = dtype == SPX_DTYPE_I16 ? 0.25 : 1.0;
    if (kind == SPX_KIND_SERIES && n > 0) {
        h.has_t0 = true;
        h.t0 = 1700000000.125;
        h.rate = 512.0;
    }
    if (kind == SPX_KIND_BLOCKS) {
        h.has_id = true;
        snprintf(h.block_id, sizeof h.block_id, "block-1");
    }
    return h;
}

/* ---- worked example and round trips --------------------------------------------------------- */

Test(codec_header, worked_example_encodes_to_the_documented_bytes)
{
    static const unsigned char expected[47] = {
        0x86,
        0xa1, 0x76, 0x01,
        0xa6, 0x73, 0x74, 0x72, 0x65, 0x61, 0x6d, 0xa1, 0x73,
        0xa4, 0x6b, 0x69, 0x6e, 0x64, 0xa4, 0x72, 0x6f, 0x77, 0x73,
        0xa5, 0x64, 0x74, 0x79, 0x70, 0x65, 0xa3, 0x66, 0x36, 0x34,
        0xa5, 0x73, 0x68, 0x61, 0x70, 0x65, 0x92, 0x02, 0x03,
        0xa3, 0x73, 0x65, 0x71, 0x01,
    };
    spx_ingest_header h = base_header(SPX_KIND_ROWS, SPX_DTYPE_F64, 2, 3);
    strcpy(h.stream, "s");
    h.has_seq = true;
    h.seq = 1;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    cr_assert_eq(spx_encode_ingest_header(&h, &sb), 0);
    cr_assert_eq(sb.size, sizeof expected, "header is %zu bytes, the document says 47", sb.size);
    cr_assert_arr_eq(sb.data, expected, sizeof expected);

    spx_ingest_header back;
    char err[128];
    cr_assert_eq(spx_decode_ingest_header(expected, sizeof expected, &back, err, sizeof err), SPX_OK);
    cr_assert_str_eq(back.stream, "s");
    cr_assert_eq(back.shape[0] * back.shape[1] * spx_dtype_size(back.dtype), 48,
                 "the document's payload frame is 48 bytes");
    spx_ingest_header_clear(&back);
    msgpack_sbuffer_destroy(&sb);
}

Test(codec_header, round_trip_every_kind_minimal)
{
    round_trip(&(spx_ingest_header){.version = 1, .stream = "r", .kind = SPX_KIND_ROWS,
                                    .dtype = SPX_DTYPE_F32, .shape = {1, 1}, .scale = 1});
    spx_ingest_header h = base_header(SPX_KIND_ROWS, SPX_DTYPE_F64, 10, 4);
    round_trip(&h);
    h = base_header(SPX_KIND_SERIES, SPX_DTYPE_F32, 128, 3);
    round_trip(&h);
    h = base_header(SPX_KIND_SERIES, SPX_DTYPE_F64, 128, 3);
    round_trip(&h);
    h = base_header(SPX_KIND_SERIES, SPX_DTYPE_I16, 128, 64);
    round_trip(&h);
    h = base_header(SPX_KIND_BLOCKS, SPX_DTYPE_F64, 50, 7);
    round_trip(&h);
    h = base_header(SPX_KIND_BLOCKS, SPX_DTYPE_F32, 50, 0); /* an empty block is allowed */
    round_trip(&h);
    h = base_header(SPX_KIND_ROWS, SPX_DTYPE_F64, 0, 4); /* a message that only ends the stream */
    h.end = true;
    round_trip(&h);
}

Test(codec_header, round_trip_every_optional_key)
{
    spx_event events[3] = {
        {.t = 1700000000.5, .label = "stimulus", .value = NAN, .duration = 0},
        {.t = 1700000001.25, .label = "", .value = -3.5, .duration = 0.75},
        {.t = -1e9, .label = "", .value = 1e300, .duration = 1e-300},
    };
    memset(events[2].label, 'L', SPX_LABEL_MAX); /* the longest label allowed */
    cr_assert_eq(strlen(events[2].label), SPX_LABEL_MAX);

    spx_ingest_header h = base_header(SPX_KIND_SERIES, SPX_DTYPE_I16, 1000, 19);
    h.has_seq = true;
    h.seq = UINT64_MAX;
    h.has_t = true;
    h.t = 1700000002.0625;
    h.scale = -1.5e-7;
    h.has_id = true; /* an id is accepted (and echoed) on any kind */
    strcpy(h.block_id, "0123456789012345678901234567890123456789012345678901234567890123");
    h.end = true;
    h.events = events;
    h.n_events = 3;
    round_trip(&h);

    /* events alone, on a series message with no samples (no t0/rate needed then) */
    h = base_header(SPX_KIND_SERIES, SPX_DTYPE_F32, 0, 8);
    h.events = events;
    h.n_events = 1;
    round_trip(&h);

    /* one key at a time, for every kind */
    spx_kind kinds[] = {SPX_KIND_ROWS, SPX_KIND_SERIES, SPX_KIND_BLOCKS};
    for (size_t k = 0; k < 3; k++) {
        for (int key = 0; key < 4; key++) {
            h = base_header(kinds[k], SPX_DTYPE_F64, 3, 2);
            if (key == 0) {
                h.has_seq = true;
                h.seq = 0;
            } else if (key == 1) {
                h.has_t = true;
                h.t = 0.5;
            } else if (key == 2) {
                h.end = true;
            } else {
                h.has_t0 = true;
                h.t0 = 12.0;
                h.rate = 1e-3;
            }
            round_trip(&h);
        }
    }
}

Test(codec_header, accepts_what_the_table_allows)
{
    spx_ingest_header h;
    /* ints where floats are expected, float32, extra keys of any type, keys in any order */
    expect_ok("{shape: [4, 2], kind: 'series', future: {a: [1, {b: nil}], c: bin:00ff}, v: 1, "
              "dtype: 'f32', 'x-y': nil, stream: 'A-z_09', t0: 17, rate: 250, t: 1.5f, seq: 3}", &h);
    cr_assert_eq(h.kind, SPX_KIND_SERIES);
    cr_assert_eq(h.t0, 17.0);
    cr_assert_eq(h.rate, 250.0);
    cr_assert_eq(h.t, 1.5);
    cr_assert_eq(h.scale, 1.0, "scale is 1 unless dtype is i16");
    cr_assert_eq(spx_ingest_header_dim(&h), 2);
    spx_ingest_header_clear(&h);

    /* block ids: ints are rendered in decimal */
    expect_ok("{v: 1, stream: 'b', kind: 'blocks', dtype: 'f64', shape: [3, 2], id: -42}", &h);
    cr_assert_str_eq(h.block_id, "-42");
    cr_assert_eq(spx_ingest_header_dim(&h), 3, "the dimension of blocks is m = shape[0]");
    expect_ok("{v: 1, stream: 'b', kind: 'blocks', dtype: 'f64', shape: [3, 2], "
              "id: 18446744073709551615}", &h);
    cr_assert_str_eq(h.block_id, "18446744073709551615");
    expect_ok("{v: 1, stream: 'b', kind: 'blocks', dtype: 'f64', shape: [3, 2], id: 'blk 1'}", &h);
    cr_assert_str_eq(h.block_id, "blk 1");

    /* scale given as 1 with float data is harmless */
    expect_ok("{v: 1, stream: 's', kind: 'rows', dtype: 'f32', shape: [1, 1], scale: 1}", &h);
    /* events: value and duration optional; an empty events array is fine */
    expect_ok("{v: 1, stream: 's', kind: 'series', dtype: 'f64', shape: [0, 2], "
              "events: [{t: 5, label: 'x', extra: 1}, {t: 6.5, label: 'y', value: 2, "
              "duration: 0}]}", &h);
    cr_assert_eq(h.n_events, 2);
    cr_assert(isnan(h.events[0].value));
    cr_assert_eq(h.events[1].value, 2.0);
    cr_assert_str_eq(h.events[1].label, "y");
    spx_ingest_header_clear(&h);
    cr_assert_null(h.events);
    expect_ok("{v: 1, stream: 's', kind: 'series', dtype: 'f64', shape: [0, 2], events: []}", &h);
    cr_assert_eq(h.n_events, 0);
    cr_assert_null(h.events);
}

/* ---- every required key: missing, mistyped -------------------------------------------------- */

typedef struct base_def {
    const char *name;
    const field *fields;
    size_t n;
} base_def;

static const base_def bases[] = {
    {"rows", rows_base, N_FIELDS(rows_base)},
    {"series", series_base, N_FIELDS(series_base)},
    {"blocks", blocks_base, N_FIELDS(blocks_base)},
};

Test(codec_header, the_bases_are_valid)
{
    char lit[512];
    for (size_t b = 0; b < N_FIELDS(bases); b++) {
        spx_ingest_header h;
        compose(lit, sizeof lit, bases[b].fields, bases[b].n, NULL, NULL);
        expect_ok(lit, &h);
        spx_ingest_header_clear(&h);
    }
}

Test(codec_header, every_missing_required_key_is_bad_header_naming_the_key)
{
    char lit[512];
    for (size_t b = 0; b < N_FIELDS(bases); b++) {
        for (size_t i = 0; i < bases[b].n; i++) {
            compose(lit, sizeof lit, bases[b].fields, bases[b].n, bases[b].fields[i].key, NULL);
            char needle[32];
            snprintf(needle, sizeof needle, "\"%s\"", bases[b].fields[i].key);
            expect_reject(lit, SPX_E_BAD_HEADER, needle);
        }
    }
}

typedef struct bad_value {
    const char *base;    /* "rows", "series", "blocks" */
    const char *key;
    const char *value;
    spx_errcode code;
} bad_value;

#define LONG65 "'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'"

static const bad_value bad_values[] = {
    /* v */
    {"rows", "v", "nil", SPX_E_BAD_HEADER}, {"rows", "v", "'1'", SPX_E_BAD_HEADER},
    {"rows", "v", "-1", SPX_E_BAD_HEADER}, {"rows", "v", "1.0", SPX_E_BAD_HEADER},
    {"rows", "v", "true", SPX_E_BAD_HEADER}, {"rows", "v", "[1]", SPX_E_BAD_HEADER},
    {"rows", "v", "{v: 1}", SPX_E_BAD_HEADER}, {"rows", "v", "bin:01", SPX_E_BAD_HEADER},
    {"rows", "v", "0", SPX_E_UNSUPPORTED_VERSION}, {"rows", "v", "2", SPX_E_UNSUPPORTED_VERSION},
    {"series", "v", "18446744073709551615", SPX_E_UNSUPPORTED_VERSION},
    /* stream */
    {"rows", "stream", "nil", SPX_E_BAD_HEADER}, {"rows", "stream", "1", SPX_E_BAD_HEADER},
    {"rows", "stream", "bin:73", SPX_E_BAD_HEADER}, {"rows", "stream", "['s']", SPX_E_BAD_HEADER},
    {"rows", "stream", "''", SPX_E_BAD_NAME}, {"rows", "stream", "'a.b'", SPX_E_BAD_NAME},
    {"rows", "stream", "'a b'", SPX_E_BAD_NAME}, {"rows", "stream", "'caf\xc3\xa9'", SPX_E_BAD_NAME},
    {"rows", "stream", "'a/b'", SPX_E_BAD_NAME}, {"rows", "stream", LONG65, SPX_E_BAD_NAME},
    /* kind */
    {"rows", "kind", "nil", SPX_E_BAD_HEADER}, {"rows", "kind", "1", SPX_E_BAD_HEADER},
    {"rows", "kind", "'row'", SPX_E_BAD_HEADER}, {"rows", "kind", "'ROWS'", SPX_E_BAD_HEADER},
    {"rows", "kind", "'rowsx'", SPX_E_BAD_HEADER}, {"rows", "kind", "''", SPX_E_BAD_HEADER},
    /* dtype */
    {"rows", "dtype", "nil", SPX_E_BAD_HEADER}, {"rows", "dtype", "8", SPX_E_BAD_HEADER},
    {"rows", "dtype", "'f16'", SPX_E_BAD_HEADER}, {"rows", "dtype", "'i64'", SPX_E_BAD_HEADER},
    {"rows", "dtype", "'i16'", SPX_E_BAD_HEADER}, {"blocks", "dtype", "'i16'", SPX_E_BAD_HEADER},
    /* shape */
    {"rows", "shape", "nil", SPX_E_BAD_HEADER}, {"rows", "shape", "6", SPX_E_BAD_HEADER},
    {"rows", "shape", "[]", SPX_E_BAD_HEADER}, {"rows", "shape", "[6]", SPX_E_BAD_HEADER},
    {"rows", "shape", "[1, 2, 3]", SPX_E_BAD_HEADER}, {"rows", "shape", "[-1, 3]", SPX_E_BAD_HEADER},
    {"rows", "shape", "[2, -3]", SPX_E_BAD_HEADER}, {"rows", "shape", "[2.0, 3]", SPX_E_BAD_HEADER},
    {"rows", "shape", "['2', 3]", SPX_E_BAD_HEADER}, {"rows", "shape", "[2, nil]", SPX_E_BAD_HEADER},
    {"rows", "shape", "{a: 2, b: 3}", SPX_E_BAD_HEADER}, {"rows", "shape", "[2, 0]", SPX_E_BAD_HEADER},
    {"series", "shape", "[0, 0]", SPX_E_BAD_HEADER}, {"blocks", "shape", "[0, 5]", SPX_E_BAD_HEADER},
    /* t0 and rate (series with samples) */
    {"series", "t0", "nil", SPX_E_BAD_HEADER}, {"series", "t0", "'now'", SPX_E_BAD_HEADER},
    {"series", "t0", "nan", SPX_E_BAD_HEADER}, {"series", "t0", "inf", SPX_E_BAD_HEADER},
    {"series", "t0", "-inf", SPX_E_BAD_HEADER}, {"series", "t0", "true", SPX_E_BAD_HEADER},
    {"series", "rate", "nil", SPX_E_BAD_HEADER}, {"series", "rate", "'256'", SPX_E_BAD_HEADER},
    {"series", "rate", "0", SPX_E_BAD_HEADER}, {"series", "rate", "0.0", SPX_E_BAD_HEADER},
    {"series", "rate", "-256", SPX_E_BAD_HEADER}, {"series", "rate", "nan", SPX_E_BAD_HEADER},
    {"series", "rate", "inf", SPX_E_BAD_HEADER}, {"rows", "rate", "-1.0", SPX_E_BAD_HEADER},
    /* scale (i16) */
    {"series", "scale", "nil", SPX_E_BAD_HEADER}, {"series", "scale", "'0.5'", SPX_E_BAD_HEADER},
    {"series", "scale", "nan", SPX_E_BAD_HEADER}, {"series", "scale", "inf", SPX_E_BAD_HEADER},
    {"rows", "scale", "2.0", SPX_E_BAD_HEADER}, {"rows", "scale", "nan", SPX_E_BAD_HEADER},
    /* id (blocks) */
    {"blocks", "id", "nil", SPX_E_BAD_HEADER}, {"blocks", "id", "1.5", SPX_E_BAD_HEADER},
    {"blocks", "id", "''", SPX_E_BAD_HEADER}, {"blocks", "id", "true", SPX_E_BAD_HEADER},
    {"blocks", "id", "[1]", SPX_E_BAD_HEADER}, {"blocks", "id", LONG65, SPX_E_BAD_HEADER},
    {"blocks", "id", "bin:01", SPX_E_BAD_HEADER}, {"rows", "id", "{}", SPX_E_BAD_HEADER},
    /* optional keys */
    {"rows", "seq", "-1", SPX_E_BAD_HEADER}, {"rows", "seq", "1.5", SPX_E_BAD_HEADER},
    {"rows", "seq", "'1'", SPX_E_BAD_HEADER}, {"rows", "seq", "nil", SPX_E_BAD_HEADER},
    {"rows", "t", "'now'", SPX_E_BAD_HEADER}, {"rows", "t", "nan", SPX_E_BAD_HEADER},
    {"rows", "t", "inf", SPX_E_BAD_HEADER}, {"rows", "t", "nil", SPX_E_BAD_HEADER},
    {"rows", "t0", "nan", SPX_E_BAD_HEADER},
    {"rows", "end", "1", SPX_E_BAD_HEADER}, {"rows", "end", "'true'", SPX_E_BAD_HEADER},
    {"rows", "end", "nil", SPX_E_BAD_HEADER},
    /* events */
    {"rows", "events", "[]", SPX_E_BAD_HEADER}, {"blocks", "events", "[]", SPX_E_BAD_HEADER},
    {"series", "events", "5", SPX_E_BAD_HEADER}, {"series", "events", "{}", SPX_E_BAD_HEADER},
    {"series", "events", "[1]", SPX_E_BAD_HEADER}, {"series", "events", "[nil]", SPX_E_BAD_HEADER},
    {"series", "events", "[{t: 1}]", SPX_E_BAD_HEADER},
    {"series", "events", "[{label: 'a'}]", SPX_E_BAD_HEADER},
    {"series", "events", "[{t: 'x', label: 'a'}]", SPX_E_BAD_HEADER},
    {"series", "events", "[{t: nan, label: 'a'}]", SPX_E_BAD_HEADER},
    {"series", "events", "[{t: -inf, label: 'a'}]", SPX_E_BAD_HEADER},
    {"series", "events", "[{t: 1, label: 1}]", SPX_E_BAD_HEADER},
    {"series", "events", "[{t: 1, label: nil}]", SPX_E_BAD_HEADER},
    {"series", "events", "[{t: 1, label: " LONG65 "}]", SPX_E_BAD_HEADER},
    {"series", "events", "[{t: 1, label: 'a', value: 'x'}]", SPX_E_BAD_HEADER},
    {"series", "events", "[{t: 1, label: 'a', value: nan}]", SPX_E_BAD_HEADER},
    {"series", "events", "[{t: 1, label: 'a', duration: -1}]", SPX_E_BAD_HEADER},
    {"series", "events", "[{t: 1, label: 'a', duration: inf}]", SPX_E_BAD_HEADER},
    {"series", "events", "[{t: 1, label: 'a'}, {t: 2, label: 'b', duration: -0.5}]",
     SPX_E_BAD_HEADER},
};

Test(codec_header, every_mistyped_or_invalid_value_is_rejected_naming_the_key)
{
    char lit[1024];
    for (size_t i = 0; i < N_FIELDS(bad_values); i++) {
        const bad_value *bv = &bad_values[i];
        const base_def *b = NULL;
        for (size_t j = 0; j < N_FIELDS(bases); j++)
            if (!strcmp(bases[j].name, bv->base))
                b = &bases[j];
        cr_assert_not_null(b);
        compose(lit, sizeof lit, b->fields, b->n, bv->key, bv->value);
        /* The message names the key (or the nested key, or the rule it broke). */
        const char *needle = bv->code == SPX_E_BAD_HEADER ? bv->key : NULL;
        expect_reject(lit, bv->code, needle);
    }
}

Test(codec_header, version_is_checked_before_anything_else)
{
    expect_reject("{v: 2}", SPX_E_UNSUPPORTED_VERSION, "2");
    expect_reject("{v: 2, stream: 'a.b', kind: 'nope'}", SPX_E_UNSUPPORTED_VERSION, NULL);
    expect_reject("{stream: 's'}", SPX_E_BAD_HEADER, "\"v\"");
}

Test(codec_header, root_must_be_a_map)
{
    expect_reject("[1, 2]", SPX_E_BAD_HEADER, "map");
    expect_reject("5", SPX_E_BAD_HEADER, "map");
    expect_reject("'v'", SPX_E_BAD_HEADER, "map");
    expect_reject("nil", SPX_E_BAD_HEADER, "map");
    expect_reject("{}", SPX_E_BAD_HEADER, "\"v\"");
}

Test(codec_header, labels_and_ids_with_nul_are_rejected)
{
    /* 'a\0b' packed by hand: the literal syntax cannot hold a NUL. */
    msgpack_sbuffer sb;
    mp_build(&sb, "{v: 1, stream: 'b', kind: 'blocks', dtype: 'f64', shape: [1, 1]}");
    ((unsigned char *)sb.data)[0] = 0x86; /* one more key */
    msgpack_sbuffer_write(&sb, "\xa2id\xa3" "a\0b", 7);
    spx_ingest_header h;
    char err[256];
    cr_assert_eq(decode_bytes(sb.data, sb.size, &h, err, sizeof err), SPX_E_BAD_HEADER);
    cr_assert(strstr(err, "id"));
    msgpack_sbuffer_destroy(&sb);
}

/* ---- limits --------------------------------------------------------------------------------- */

Test(codec_header, size_limits_are_too_large)
{
    spx_ingest_header h;
    /* dimension */
    expect_ok("{v: 1, stream: 's', kind: 'rows', dtype: 'f64', shape: [1, 1048576]}", &h);
    expect_reject("{v: 1, stream: 's', kind: 'rows', dtype: 'f64', shape: [1, 1048577]}",
                  SPX_E_TOO_LARGE, "shape");
    expect_reject("{v: 1, stream: 's', kind: 'blocks', dtype: 'f64', shape: [1048577, 1], id: 1}",
                  SPX_E_TOO_LARGE, "shape");
    expect_reject("{v: 1, stream: 's', kind: 'rows', dtype: 'f64', shape: [1, 18446744073709551615]}",
                  SPX_E_TOO_LARGE, NULL);
    /* payload bytes: exactly 1 GiB passes, one more row does not; no overflow on huge counts */
    expect_ok("{v: 1, stream: 's', kind: 'rows', dtype: 'f64', shape: [131072, 1024]}", &h);
    expect_reject("{v: 1, stream: 's', kind: 'rows', dtype: 'f64', shape: [131073, 1024]}",
                  SPX_E_TOO_LARGE, NULL);
    expect_ok("{v: 1, stream: 's', kind: 'series', dtype: 'i16', shape: [536870912, 1], t0: 0, "
              "rate: 1, scale: 1}", &h);
    expect_reject("{v: 1, stream: 's', kind: 'series', dtype: 'i16', shape: [536870913, 1], "
                  "t0: 0, rate: 1, scale: 1}", SPX_E_TOO_LARGE, NULL);
    expect_reject("{v: 1, stream: 's', kind: 'rows', dtype: 'f32', shape: [18446744073709551615, "
                  "1048576]}", SPX_E_TOO_LARGE, NULL);
    expect_reject("{v: 1, stream: 's', kind: 'rows', dtype: 'f32', shape: [4611686018427387904, 4]}",
                  SPX_E_TOO_LARGE, NULL);
    expect_reject("{v: 1, stream: 's', kind: 'blocks', dtype: 'f32', shape: [2, "
                  "9223372036854775808], id: 1}", SPX_E_TOO_LARGE, NULL);
}

static void events_literal(char *out, size_t n, size_t count)
{
    size_t used = (size_t)snprintf(out, n, "{v: 1, stream: 's', kind: 'series', dtype: 'f32', "
                                           "shape: [0, 1], events: [");
    for (size_t i = 0; i < count; i++)
        used += (size_t)snprintf(out + used, n - used, "%s{t: %zu, label: 'e'}", i ? ", " : "", i);
    snprintf(out + used, n - used, "]}");
}

Test(codec_header, at_most_max_events)
{
    size_t n = 64 + 24 * (SPX_MAX_EVENTS + 1);
    char *lit = malloc(n);
    spx_ingest_header h;
    events_literal(lit, n, SPX_MAX_EVENTS);
    expect_ok(lit, &h);
    cr_assert_eq(h.n_events, SPX_MAX_EVENTS);
    cr_assert_eq(h.events[SPX_MAX_EVENTS - 1].t, SPX_MAX_EVENTS - 1);
    spx_ingest_header_clear(&h);
    events_literal(lit, n, SPX_MAX_EVENTS + 1);
    expect_reject(lit, SPX_E_TOO_LARGE, "events");
    free(lit);
}

/* A valid header padded with an unknown str key to exactly `size` bytes (size >= 512). */
static void pack_padded(msgpack_sbuffer *sb, size_t pad)
{
    msgpack_sbuffer_init(sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 6);
    spx_pack_key_uint(&pk, "v", 1);
    spx_pack_key_cstr(&pk, "stream", "s");
    spx_pack_key_cstr(&pk, "kind", "rows");
    spx_pack_key_cstr(&pk, "dtype", "f64");
    spx_pack_cstr(&pk, "shape");
    msgpack_pack_array(&pk, 2);
    msgpack_pack_uint64(&pk, 2);
    msgpack_pack_uint64(&pk, 3);
    spx_pack_cstr(&pk, "pad");
    char *text = malloc(pad);
    memset(text, 'x', pad);
    msgpack_pack_str(&pk, pad);
    msgpack_pack_str_body(&pk, text, pad);
    free(text);
}

static void padded_header(msgpack_sbuffer *sb, size_t size)
{
    pack_padded(sb, 1000); /* measures the keys around the pad (str16 header for both) */
    size_t pad = 1000 + size - sb->size;
    msgpack_sbuffer_destroy(sb);
    cr_assert(pad >= 256 && pad < 65536);
    pack_padded(sb, pad);
    cr_assert_eq(sb->size, size);
}

Test(codec_header, frames_over_the_header_limit_are_bad_frame)
{
    spx_ingest_header h;
    char err[256];
    msgpack_sbuffer sb;
    padded_header(&sb, SPX_HEADER_MAX_BYTES);
    cr_assert_eq(decode_bytes(sb.data, sb.size, &h, err, sizeof err), SPX_OK, "%s", err);
    spx_ingest_header_clear(&h);
    msgpack_sbuffer_destroy(&sb);

    padded_header(&sb, SPX_HEADER_MAX_BYTES + 1);
    cr_assert_eq(decode_bytes(sb.data, sb.size, &h, err, sizeof err), SPX_E_BAD_FRAME);
    cr_assert(strstr(err, "65536"), "%s", err);
    msgpack_sbuffer_destroy(&sb);
}

/* ---- malformed msgpack ---------------------------------------------------------------------- */

static const char *rich_series =
    "{v: 1, stream: 'eeg-01', kind: 'series', dtype: 'i16', shape: [256, 19], seq: 77, "
    "t: 1700000000.5, t0: 1700000000.25, rate: 256.0, scale: 0.0625, end: false, "
    "events: [{t: 1700000000.3, label: 'eyes-closed', value: 1.5, duration: 2.0}, "
    "{t: 1700000000.4, label: 'spike'}], future: {nested: [1, [2, [3]]]}}";

Test(codec_header, truncation_at_every_byte_is_bad_msgpack)
{
    msgpack_sbuffer sb;
    mp_build(&sb, rich_series);
    spx_ingest_header h;
    char err[256];
    cr_assert_eq(decode_bytes(sb.data, sb.size, &h, err, sizeof err), SPX_OK, "%s", err);
    cr_assert_eq(h.n_events, 2);
    spx_ingest_header_clear(&h);
    for (size_t len = 0; len < sb.size; len++) {
        /* a fresh copy of exactly len bytes, so ASan sees any read past the end */
        unsigned char *cut = malloc(len ? len : 1);
        memcpy(cut, sb.data, len);
        spx_errcode rc = decode_bytes(cut, len, &h, err, sizeof err);
        cr_assert_eq(rc, SPX_E_BAD_MSGPACK, "prefix of %zu bytes: %s (%s)", len,
                     spx_errcode_name(rc), err);
        free(cut);
    }
    msgpack_sbuffer_destroy(&sb);
}

Test(codec_header, trailing_bytes_are_bad_msgpack)
{
    msgpack_sbuffer sb;
    mp_build(&sb, rich_series);
    const char *tails[] = {"\x00", "\xc0", "\x81\xa1v\x01", "\xff\xff"};
    for (size_t i = 0; i < 4; i++) {
        msgpack_sbuffer copy;
        msgpack_sbuffer_init(&copy);
        msgpack_sbuffer_write(&copy, sb.data, sb.size);
        msgpack_sbuffer_write(&copy, tails[i], i == 0 ? 1 : strlen(tails[i]));
        spx_ingest_header h;
        char err[256];
        cr_assert_eq(decode_bytes(copy.data, copy.size, &h, err, sizeof err), SPX_E_BAD_MSGPACK);
        cr_assert(strstr(err, "trailing"), "%s", err);
        msgpack_sbuffer_destroy(&copy);
    }
    msgpack_sbuffer_destroy(&sb);
}

Test(codec_header, ext_types_and_0xc1_and_deep_nesting_are_bad_msgpack)
{
    spx_ingest_header h;
    char err[256];
    /* {v: 1, x: <object>} with the object given as raw bytes */
    const struct {
        const char *bytes;
        size_t len;
    } objs[] = {
        {"\xd4\x01\x00", 3},             /* fixext1 */
        {"\xc7\x01\x05\x00", 4},         /* ext8 */
        {"\xd8\x01" "0123456789abcdef", 18}, /* fixext16 */
        {"\xc1", 1},
        {"\x91\xc1", 2},
    };
    for (size_t i = 0; i < sizeof objs / sizeof objs[0]; i++) {
        unsigned char buf[64] = {0x82, 0xa1, 'v', 0x01, 0xa1, 'x'};
        memcpy(buf + 6, objs[i].bytes, objs[i].len);
        cr_assert_eq(decode_bytes(buf, 6 + objs[i].len, &h, err, sizeof err), SPX_E_BAD_MSGPACK,
                     "object %zu", i);
    }
    /* nesting: the root map is depth 1, so 15 nested arrays fit in 16 and 16 do not */
    for (int arrays = 14; arrays <= 17; arrays++) {
        unsigned char buf[64];
        size_t n = 0;
        const char prefix[] = "\x86\xa1v\x01\xa6stream\xa1s\xa4kind\xa4rows\xa5" "dtype\xa3" "f64"
                              "\xa5shape\x92\x01\x01\xa1x";
        memcpy(buf, prefix, sizeof prefix - 1);
        n = sizeof prefix - 1;
        for (int a = 0; a < arrays; a++)
            buf[n++] = 0x91;
        buf[n++] = 0x00;
        spx_errcode rc = decode_bytes(buf, n, &h, err, sizeof err);
        if (arrays <= 15) {
            cr_assert_eq(rc, SPX_OK, "%d nested arrays: %s", arrays, err);
            spx_ingest_header_clear(&h);
        } else {
            cr_assert_eq(rc, SPX_E_BAD_MSGPACK, "%d nested arrays", arrays);
            cr_assert(strstr(err, "nesting"), "%s", err);
        }
    }
}

Test(codec_header, the_container_bomb_is_rejected_before_unpacking)
{
    spx_ingest_header h;
    char err[256];
    static const unsigned char bomb[] = {0xdd, 0x00, 0xff, 0xff, 0xff};
    cr_assert_eq(decode_bytes(bomb, sizeof bomb, &h, err, sizeof err), SPX_E_BAD_MSGPACK);
    static const unsigned char map_bomb[] = {0xdf, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00};
    cr_assert_eq(decode_bytes(map_bomb, sizeof map_bomb, &h, err, sizeof err), SPX_E_BAD_MSGPACK);
    /* inside a valid-looking header */
    static const unsigned char nested[] = {0x82, 0xa1, 'v', 0x01, 0xa1, 'x', 0xdd, 0x7f, 0xff,
                                           0xff, 0xff, 0x00};
    cr_assert_eq(decode_bytes(nested, sizeof nested, &h, err, sizeof err), SPX_E_BAD_MSGPACK);
}

Test(codec_header, null_or_empty_input)
{
    spx_ingest_header h;
    char err[64];
    cr_assert_eq(decode_bytes(NULL, 0, &h, err, sizeof err), SPX_E_BAD_MSGPACK);
    cr_assert_eq(decode_bytes("", 0, &h, err, sizeof err), SPX_E_BAD_MSGPACK);
    /* err may be NULL */
    cr_assert_eq(spx_decode_ingest_header("\xc1", 1, &h, NULL, 0), SPX_E_BAD_MSGPACK);
    /* a tiny err buffer is truncated, not overrun */
    char tiny[4];
    cr_assert_eq(spx_decode_ingest_header("\xc1", 1, &h, tiny, sizeof tiny), SPX_E_BAD_MSGPACK);
    cr_assert_eq(strlen(tiny), 3);
}

/* ---- garbage never crashes; whatever decodes is valid and round-trips ----------------------- */

static void check_decoded_invariants(const spx_ingest_header *h)
{
    cr_assert_eq(h->version, SPX_PROTOCOL_VERSION);
    cr_assert(spx_name_valid(h->stream, strlen(h->stream)));
    uint64_t dim = spx_ingest_header_dim(h);
    cr_assert(dim >= 1 && dim <= SPX_DIM_MAX);
    uint64_t other = h->kind == SPX_KIND_BLOCKS ? h->shape[1] : h->shape[0];
    cr_assert(other <= SPX_PAYLOAD_MAX_BYTES / spx_dtype_size(h->dtype) / dim);
    cr_assert(h->n_events <= SPX_MAX_EVENTS);
    cr_assert(h->kind == SPX_KIND_SERIES || h->n_events == 0);
    cr_assert(h->dtype != SPX_DTYPE_I16 || h->kind == SPX_KIND_SERIES);
    if (h->kind == SPX_KIND_SERIES && h->shape[0] > 0)
        cr_assert(h->has_t0 && h->rate > 0 && isfinite(h->rate));
    if (h->kind == SPX_KIND_BLOCKS)
        cr_assert(h->has_id && h->block_id[0] != '\0');
    for (size_t i = 0; i < h->n_events; i++)
        cr_assert(isfinite(h->events[i].t) && h->events[i].duration >= 0);
    round_trip(h);
}

static void mutate(spx_rng *rng, unsigned char *buf, size_t *len, size_t cap)
{
    int edits = 1 + (int)spx_rng_below(rng, 4);
    for (int e = 0; e < edits && *len > 0; e++) {
        size_t at = spx_rng_below(rng, *len);
        switch (spx_rng_below(rng, 6)) {
        case 0: buf[at] = (unsigned char)spx_rng_next(rng); break;
        case 1: buf[at] ^= (unsigned char)(1u << spx_rng_below(rng, 8)); break;
        case 2: /* an interesting type byte */
            buf[at] = (const unsigned char[]){0xc1, 0xc7, 0xd4, 0xdc, 0xdd, 0xde, 0xdf, 0xdb, 0xc6,
                                              0xff, 0x00, 0x7f, 0x9f, 0x8f, 0xbf}[spx_rng_below(rng, 15)];
            break;
        case 3: /* delete a byte */
            memmove(buf + at, buf + at + 1, *len - at - 1);
            (*len)--;
            break;
        case 4: /* insert a byte */
            if (*len < cap) {
                memmove(buf + at + 1, buf + at, *len - at);
                buf[at] = (unsigned char)spx_rng_next(rng);
                (*len)++;
            }
            break;
        default: *len = at; break; /* truncate */
        }
    }
}

Test(codec_header, mutated_and_random_bytes_never_crash, .timeout = 120)
{
    const char *seeds[] = {
        rich_series,
        "{v: 1, stream: 's', kind: 'rows', dtype: 'f64', shape: [2, 3], seq: 1}",
        "{v: 1, stream: 'b', kind: 'blocks', dtype: 'f32', shape: [10, 4], id: 'blk'}",
        "{v: 1, stream: 'e', kind: 'series', dtype: 'f32', shape: [0, 2], events: [{t: 1, "
        "label: 'a'}]}",
    };
    spx_rng rng;
    spx_rng_seed(&rng, 20240611);
    unsigned char buf[1024];
    size_t accepted = 0, total = 0;
    for (size_t s = 0; s < sizeof seeds / sizeof seeds[0]; s++) {
        msgpack_sbuffer sb;
        mp_build(&sb, seeds[s]);
        for (int iter = 0; iter < 5000; iter++) {
            size_t len = sb.size;
            memcpy(buf, sb.data, len);
            mutate(&rng, buf, &len, sizeof buf);
            unsigned char *exact = malloc(len ? len : 1); /* exact size: overreads hit ASan */
            memcpy(exact, buf, len);
            spx_ingest_header h;
            char err[256];
            if (decode_bytes(exact, len, &h, err, sizeof err) == SPX_OK) {
                check_decoded_invariants(&h);
                spx_ingest_header_clear(&h);
                accepted++;
            }
            free(exact);
            total++;
        }
        msgpack_sbuffer_destroy(&sb);
    }
    /* pure noise */
    for (int iter = 0; iter < 5000; iter++) {
        size_t len = spx_rng_below(&rng, 96);
        unsigned char *noise = malloc(len ? len : 1);
        for (size_t i = 0; i < len; i++)
            noise[i] = (unsigned char)spx_rng_next(&rng);
        spx_ingest_header h;
        char err[256];
        if (decode_bytes(noise, len, &h, err, sizeof err) == SPX_OK) {
            check_decoded_invariants(&h);
            spx_ingest_header_clear(&h);
            accepted++;
        }
        free(noise);
        total++;
    }
    cr_assert(accepted > 0 && accepted < total, "accepted %zu of %zu", accepted, total);
}

/* ---- encoder argument checks ---------------------------------------------------------------- */

Test(codec_header, encoder_refuses_invalid_structs)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    spx_ingest_header h = base_header(SPX_KIND_ROWS, SPX_DTYPE_F64, 1, 1);
    h.kind = (spx_kind)3;
    cr_assert_eq(spx_encode_ingest_header(&h, &sb), -EINVAL);
    h = base_header(SPX_KIND_ROWS, SPX_DTYPE_F64, 1, 1);
    h.dtype = (spx_dtype)7;
    cr_assert_eq(spx_encode_ingest_header(&h, &sb), -EINVAL);
    h = base_header(SPX_KIND_SERIES, SPX_DTYPE_F64, 1, 1);
    h.n_events = 2;
    cr_assert_eq(spx_encode_ingest_header(&h, &sb), -EINVAL);
    cr_assert_eq(spx_encode_ingest_header(NULL, &sb), -EINVAL);
    cr_assert_eq(sb.size, 0, "nothing is written on failure");
    msgpack_sbuffer_destroy(&sb);
}
