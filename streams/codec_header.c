/* Ingest headers: decode + validate (protocol section 1) and the inverse encoder. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "codec_internal.h"

static spx_errcode err_missing(char *err, size_t errlen, const char *shown, const char *why)
{
    spx_codec_errf(err, errlen, "missing key \"%s\"%s", shown, why ? why : "");
    return SPX_E_BAD_HEADER;
}

static spx_errcode err_type(char *err, size_t errlen, const char *shown, const char *want)
{
    spx_codec_errf(err, errlen, "key \"%s\" must be %s", shown, want);
    return SPX_E_BAD_HEADER;
}

/* Optional keys: SPX_OK with *present false when absent; a present key of another type (nil
 * included) is an error. */
static spx_errcode opt_uint(const msgpack_object *map, const char *key, const char *shown,
                            bool *present, uint64_t *out, char *err, size_t errlen)
{
    const msgpack_object *o = spx_map_get(map, key);
    *present = o != NULL;
    if (o && spx_obj_uint(o, out) != 0)
        return err_type(err, errlen, shown, "a uint");
    return SPX_OK;
}

static spx_errcode opt_finite(const msgpack_object *map, const char *key, const char *shown,
                              bool *present, double *out, char *err, size_t errlen)
{
    const msgpack_object *o = spx_map_get(map, key);
    *present = o != NULL;
    if (o && (spx_obj_double(o, out) != 0 || !isfinite(*out)))
        return err_type(err, errlen, shown, "a finite number");
    return SPX_OK;
}

static spx_errcode decode_event(const msgpack_object *e, size_t i, spx_event *ev, char *err,
                                size_t errlen)
{
    char shown[48];
    bool present;
    spx_errcode rc;

    if (e->type != MSGPACK_OBJECT_MAP) {
        snprintf(shown, sizeof shown, "events[%zu]", i);
        return err_type(err, errlen, shown, "a map");
    }
    snprintf(shown, sizeof shown, "events[%zu].t", i);
    if ((rc = opt_finite(e, "t", shown, &present, &ev->t, err, errlen)))
        return rc;
    if (!present)
        return err_missing(err, errlen, shown, NULL);

    snprintf(shown, sizeof shown, "events[%zu].label", i);
    const msgpack_object *label = spx_map_get(e, "label");
    if (!label)
        return err_missing(err, errlen, shown, NULL);
    if (spx_obj_str(label, ev->label, sizeof ev->label) != 0)
        return err_type(err, errlen, shown, "a str of at most 64 bytes without NUL");

    snprintf(shown, sizeof shown, "events[%zu].value", i);
    if ((rc = opt_finite(e, "value", shown, &present, &ev->value, err, errlen)))
        return rc;
    if (!present)
        ev->value = NAN;

    snprintf(shown, sizeof shown, "events[%zu].duration", i);
    if ((rc = opt_finite(e, "duration", shown, &present, &ev->duration, err, errlen)))
        return rc;
    if (!present)
        ev->duration = 0.0;
    if (ev->duration < 0)
        return err_type(err, errlen, shown, "a finite number >= 0");
    return SPX_OK;
}

static spx_errcode decode_events(const msgpack_object *o, spx_ingest_header *h, char *err,
                                 size_t errlen)
{
    if (o->type != MSGPACK_OBJECT_ARRAY)
        return err_type(err, errlen, "events", "an array of maps");
    uint32_t n = o->via.array.size;
    if (n > SPX_MAX_EVENTS) {
        spx_codec_errf(err, errlen, "%" PRIu32 " events exceed the limit of %d per message", n,
                       SPX_MAX_EVENTS);
        return SPX_E_TOO_LARGE;
    }
    if (n == 0)
        return SPX_OK;
    h->events = calloc(n, sizeof *h->events);
    if (!h->events) {
        spx_codec_errf(err, errlen, "out of memory for %" PRIu32 " events", n);
        return SPX_E_INTERNAL;
    }
    h->n_events = n;
    for (uint32_t i = 0; i < n; i++) {
        spx_errcode rc = decode_event(&o->via.array.ptr[i], i, &h->events[i], err, errlen);
        if (rc)
            return rc;
    }
    return SPX_OK;
}

static spx_errcode decode_block_id(const msgpack_object *o, spx_ingest_header *h, char *err,
                                   size_t errlen)
{
    switch (o->type) {
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        snprintf(h->block_id, sizeof h->block_id, "%" PRIu64, o->via.u64);
        return SPX_OK;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        snprintf(h->block_id, sizeof h->block_id, "%" PRId64, o->via.i64);
        return SPX_OK;
    case MSGPACK_OBJECT_STR:
        if (o->via.str.size > 0 && spx_obj_str(o, h->block_id, sizeof h->block_id) == 0)
            return SPX_OK;
        break;
    default:
        break;
    }
    return err_type(err, errlen, "id", "an int or a str of 1..64 bytes without NUL");
}

static spx_errcode decode_shape(const msgpack_object *root, spx_ingest_header *h, char *err,
                                size_t errlen)
{
    const msgpack_object *o = spx_map_get(root, "shape");
    if (!o)
        return err_missing(err, errlen, "shape", NULL);
    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != 2 ||
        spx_obj_uint(&o->via.array.ptr[0], &h->shape[0]) != 0 ||
        spx_obj_uint(&o->via.array.ptr[1], &h->shape[1]) != 0)
        return err_type(err, errlen, "shape", "[uint, uint]");

    /* The stream's fixed dimension: d of rows, C of series, m (rows of every block) of blocks. */
    bool blocks = h->kind == SPX_KIND_BLOCKS;
    uint64_t dim = spx_ingest_header_dim(h);
    const char *dim_name = blocks ? "shape[0] (block rows)" : "shape[1] (dimension)";
    if (dim == 0) {
        spx_codec_errf(err, errlen, "%s must be >= 1", dim_name);
        return SPX_E_BAD_HEADER;
    }
    if (dim > SPX_DIM_MAX) {
        spx_codec_errf(err, errlen, "%s = %" PRIu64 " exceeds the limit of %d", dim_name, dim,
                       SPX_DIM_MAX);
        return SPX_E_TOO_LARGE;
    }
    uint64_t other = blocks ? h->shape[1] : h->shape[0];
    uint64_t max_elems = (uint64_t)SPX_PAYLOAD_MAX_BYTES / spx_dtype_size(h->dtype);
    if (other > max_elems / dim) {
        spx_codec_errf(err, errlen,
                       "shape [%" PRIu64 ", %" PRIu64 "] of %s is larger than the %d-byte limit",
                       h->shape[0], h->shape[1], spx_dtype_name(h->dtype), SPX_PAYLOAD_MAX_BYTES);
        return SPX_E_TOO_LARGE;
    }
    return SPX_OK;
}

static spx_errcode decode_fields(const msgpack_object *root, spx_ingest_header *h, char *err,
                                 size_t errlen)
{
    spx_errcode rc;
    bool present;
    const msgpack_object *o;

    if (root->type != MSGPACK_OBJECT_MAP) {
        spx_codec_errf(err, errlen, "header must be a msgpack map");
        return SPX_E_BAD_HEADER;
    }

    /* v first: a header of another version may not follow any other rule here. */
    uint64_t v;
    if ((rc = opt_uint(root, "v", "v", &present, &v, err, errlen)))
        return rc;
    if (!present)
        return err_missing(err, errlen, "v", NULL);
    if (v != SPX_PROTOCOL_VERSION) {
        spx_codec_errf(err, errlen, "protocol version %" PRIu64 " is not supported (speaks %d)", v,
                       SPX_PROTOCOL_VERSION);
        return SPX_E_UNSUPPORTED_VERSION;
    }
    h->version = (unsigned)v;

    if (!(o = spx_map_get(root, "stream")))
        return err_missing(err, errlen, "stream", NULL);
    if (o->type != MSGPACK_OBJECT_STR)
        return err_type(err, errlen, "stream", "a str");
    if (!spx_name_valid(o->via.str.ptr, o->via.str.size)) {
        spx_codec_errf(err, errlen, "stream name must be 1..%d bytes of [A-Za-z0-9_-]",
                       SPX_NAME_MAX);
        return SPX_E_BAD_NAME;
    }
    memcpy(h->stream, o->via.str.ptr, o->via.str.size);
    h->stream[o->via.str.size] = '\0';

    if (!(o = spx_map_get(root, "kind")))
        return err_missing(err, errlen, "kind", NULL);
    if (o->type != MSGPACK_OBJECT_STR || spx_kind_parse(o->via.str.ptr, o->via.str.size, &h->kind))
        return err_type(err, errlen, "kind", "\"rows\", \"series\" or \"blocks\"");

    if (!(o = spx_map_get(root, "dtype")))
        return err_missing(err, errlen, "dtype", NULL);
    if (o->type != MSGPACK_OBJECT_STR ||
        spx_dtype_parse(o->via.str.ptr, o->via.str.size, &h->dtype))
        return err_type(err, errlen, "dtype", "\"f32\", \"f64\" or \"i16\"");
    if (h->dtype == SPX_DTYPE_I16 && h->kind != SPX_KIND_SERIES) {
        spx_codec_errf(err, errlen, "dtype \"i16\" is only allowed for kind \"series\"");
        return SPX_E_BAD_HEADER;
    }

    if ((rc = decode_shape(root, h, err, errlen)))
        return rc;

    if ((rc = opt_uint(root, "seq", "seq", &h->has_seq, &h->seq, err, errlen)))
        return rc;
    if ((rc = opt_finite(root, "t", "t", &h->has_t, &h->t, err, errlen)))
        return rc;
    if ((rc = opt_finite(root, "t0", "t0", &h->has_t0, &h->t0, err, errlen)))
        return rc;
    bool has_rate;
    if ((rc = opt_finite(root, "rate", "rate", &has_rate, &h->rate, err, errlen)))
        return rc;
    if (has_rate && h->rate <= 0)
        return err_type(err, errlen, "rate", "a finite number > 0");
    if (h->kind == SPX_KIND_SERIES && h->shape[0] > 0) {
        if (!h->has_t0)
            return err_missing(err, errlen, "t0", " (required for a series with samples)");
        if (!has_rate)
            return err_missing(err, errlen, "rate", " (required for a series with samples)");
    }

    bool has_scale;
    if ((rc = opt_finite(root, "scale", "scale", &has_scale, &h->scale, err, errlen)))
        return rc;
    if (h->dtype == SPX_DTYPE_I16) {
        if (!has_scale)
            return err_missing(err, errlen, "scale", " (required for dtype \"i16\")");
    } else {
        /* A producer that sends scale != 1 with float data expects scaling that would not happen. */
        if (has_scale && h->scale != 1.0) {
            spx_codec_errf(err, errlen, "key \"scale\" applies only to dtype \"i16\"");
            return SPX_E_BAD_HEADER;
        }
        h->scale = 1.0;
    }

    if ((o = spx_map_get(root, "id"))) {
        if ((rc = decode_block_id(o, h, err, errlen)))
            return rc;
        h->has_id = true;
    } else if (h->kind == SPX_KIND_BLOCKS) {
        return err_missing(err, errlen, "id", " (required for kind \"blocks\")");
    }

    if ((o = spx_map_get(root, "end")) && spx_obj_bool(o, &h->end) != 0)
        return err_type(err, errlen, "end", "a bool");

    if ((o = spx_map_get(root, "events"))) {
        if (h->kind != SPX_KIND_SERIES) {
            spx_codec_errf(err, errlen, "key \"events\" is only allowed for kind \"series\"");
            return SPX_E_BAD_HEADER;
        }
        if ((rc = decode_events(o, h, err, errlen)))
            return rc;
    }
    return SPX_OK;
}

spx_errcode spx_decode_ingest_header(const void *buf, size_t len, spx_ingest_header *h,
                                     char *err, size_t errlen)
{
    memset(h, 0, sizeof *h);
    spx_codec_errf(err, errlen, "%s", "");
    if (len > SPX_HEADER_MAX_BYTES) {
        spx_codec_errf(err, errlen, "header frame of %zu bytes exceeds the limit of %d", len,
                       SPX_HEADER_MAX_BYTES);
        return SPX_E_BAD_FRAME;
    }
    spx_errcode rc = spx_msgpack_prescan(buf, len, SPX_MSGPACK_MAX_DEPTH, err, errlen);
    if (rc)
        return rc;

    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    size_t off = 0;
    msgpack_unpack_return ur = msgpack_unpack_next(&up, buf, len, &off);
    if (ur != MSGPACK_UNPACK_SUCCESS || off != len) {
        msgpack_unpacked_destroy(&up);
        if (ur == MSGPACK_UNPACK_NOMEM_ERROR) {
            spx_codec_errf(err, errlen, "out of memory unpacking the header");
            return SPX_E_INTERNAL;
        }
        spx_codec_errf(err, errlen, "msgpack: unpack failed (%d)", (int)ur);
        return SPX_E_BAD_MSGPACK;
    }
    rc = decode_fields(&up.data, h, err, errlen);
    msgpack_unpacked_destroy(&up);
    if (rc)
        spx_ingest_header_clear(h);
    return rc;
}

void spx_ingest_header_clear(spx_ingest_header *h)
{
    if (!h)
        return;
    free(h->events);
    memset(h, 0, sizeof *h);
}

uint64_t spx_ingest_header_dim(const spx_ingest_header *h)
{
    return h->kind == SPX_KIND_BLOCKS ? h->shape[0] : h->shape[1];
}

/* Records a failed write so the void spx_pack_* helpers can be used and an out-of-memory still be
 * reported. */
typedef struct tracked_sbuffer {
    msgpack_sbuffer *sb;
    bool failed;
} tracked_sbuffer;

static int tracked_write(void *data, const char *buf, size_t len)
{
    tracked_sbuffer *t = data;
    if (t->failed || msgpack_sbuffer_write(t->sb, buf, len) != 0) {
        t->failed = true;
        return -1;
    }
    return 0;
}

int spx_encode_ingest_header(const spx_ingest_header *h, msgpack_sbuffer *out)
{
    if (!h || !out || spx_dtype_size(h->dtype) == 0 ||
        strcmp(spx_kind_name(h->kind), "invalid") == 0 || (h->n_events > 0 && !h->events) ||
        h->n_events > SPX_MAX_EVENTS)
        return -EINVAL;

    bool has_rate = h->rate != 0;
    bool has_scale = h->dtype == SPX_DTYPE_I16;
    size_t n_keys = 5 + (size_t)h->has_seq + (size_t)h->has_t + (size_t)h->has_t0 +
                    (size_t)has_rate + (size_t)has_scale + (size_t)h->has_id +
                    (size_t)(h->n_events > 0) + (size_t)h->end;

    size_t start = out->size;
    tracked_sbuffer t = {out, false};
    msgpack_packer pk;
    msgpack_packer_init(&pk, &t, tracked_write);

    /* Key order follows the protocol table (and the worked example of section 4). */
    msgpack_pack_map(&pk, n_keys);
    spx_pack_key_uint(&pk, "v", h->version);
    spx_pack_key_cstr(&pk, "stream", h->stream);
    spx_pack_key_cstr(&pk, "kind", spx_kind_name(h->kind));
    spx_pack_key_cstr(&pk, "dtype", spx_dtype_name(h->dtype));
    spx_pack_cstr(&pk, "shape");
    msgpack_pack_array(&pk, 2);
    msgpack_pack_uint64(&pk, h->shape[0]);
    msgpack_pack_uint64(&pk, h->shape[1]);
    if (h->has_seq)
        spx_pack_key_uint(&pk, "seq", h->seq);
    if (h->has_t)
        spx_pack_key_double(&pk, "t", h->t);
    if (h->has_t0)
        spx_pack_key_double(&pk, "t0", h->t0);
    if (has_rate)
        spx_pack_key_double(&pk, "rate", h->rate);
    if (has_scale)
        spx_pack_key_double(&pk, "scale", h->scale);
    if (h->has_id)
        spx_pack_key_cstr(&pk, "id", h->block_id);
    if (h->n_events > 0) {
        spx_pack_cstr(&pk, "events");
        msgpack_pack_array(&pk, h->n_events);
        for (size_t i = 0; i < h->n_events; i++) {
            const spx_event *ev = &h->events[i];
            bool has_value = !isnan(ev->value), has_duration = ev->duration != 0;
            msgpack_pack_map(&pk, 2 + (size_t)has_value + (size_t)has_duration);
            spx_pack_key_double(&pk, "t", ev->t);
            spx_pack_key_cstr(&pk, "label", ev->label);
            if (has_value)
                spx_pack_key_double(&pk, "value", ev->value);
            if (has_duration)
                spx_pack_key_double(&pk, "duration", ev->duration);
        }
    }
    if (h->end)
        spx_pack_key_bool(&pk, "end", true);

    if (t.failed) {
        out->size = start;
        return -ENOMEM;
    }
    return 0;
}
