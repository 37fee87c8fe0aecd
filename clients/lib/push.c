/* Ingest: header encoding (protocol section 1) and sending header + raw payload frames.
 *
 * The payload goes out as its own frame straight from the caller's buffer (zmq_send copies it once
 * into the message); numbers are never packed as msgpack arrays. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

typedef struct fixed_writer {
    uint8_t *buf;
    size_t cap, len;
    int overflow;
} fixed_writer;

static int fixed_write(void *data, const char *src, size_t n)
{
    fixed_writer *w = data;
    if (w->overflow || n > w->cap - w->len) {
        w->overflow = 1;
        return -1;
    }
    memcpy(w->buf + w->len, src, n);
    w->len += n;
    return 0;
}

static void pack_cstr(msgpack_packer *pk, const char *s)
{
    size_t n = strlen(s);
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

static int has_samples(const spectra_ingest *m)
{
    return m->shape[0] > 0;
}

static int series_timing(const spectra_ingest *m)
{
    return m->kind == SPECTRA_SERIES && (has_samples(m) || m->t0 != 0 || m->rate > 0);
}

/* Checks what the header rules of protocol section 1 require of a message; returns 0 or
 * SPECTRA_EINVAL with the reason in why. */
static int validate(const spectra_ingest *m, const char **why)
{
    if (!m || !spectra_name_valid(m->stream))
        return *why = "bad stream name (1 to 64 of [A-Za-z0-9_-])", SPECTRA_EINVAL;
    if (!spectra_kind_name(m->kind))
        return *why = "unknown kind", SPECTRA_EINVAL;
    if (!spectra_dtype_name(m->dtype))
        return *why = "unknown dtype", SPECTRA_EINVAL;
    if (m->dtype == SPECTRA_I16 && m->kind != SPECTRA_SERIES)
        return *why = "dtype i16 is for series only", SPECTRA_EINVAL;
    if (m->dtype == SPECTRA_I16 && (!isfinite(m->scale) || m->scale == 0))
        return *why = "dtype i16 needs a finite, non-zero scale", SPECTRA_EINVAL;
    if (m->shape[1] == 0 || m->shape[1] > UINT32_MAX || m->shape[0] > UINT32_MAX)
        return *why = "shape out of range", SPECTRA_EINVAL;
    if (has_samples(m) && !m->data)
        return *why = "no data for a non-empty shape", SPECTRA_EINVAL;
    if (!isfinite(m->t) || !isfinite(m->t0))
        return *why = "times must be finite", SPECTRA_EINVAL;
    if (m->kind == SPECTRA_SERIES && has_samples(m) && !(m->rate > 0 && isfinite(m->rate)))
        return *why = "a series message with samples needs a rate > 0", SPECTRA_EINVAL;
    if (m->n_events && (m->kind != SPECTRA_SERIES || !m->events))
        return *why = "events belong to series messages", SPECTRA_EINVAL;
    for (size_t i = 0; i < m->n_events; i++) {
        const spectra_event *e = &m->events[i];
        if (!e->label || !isfinite(e->t) || isinf(e->value) || isinf(e->duration) ||
            e->duration < 0)
            return *why = "bad event (needs a label, a finite time, duration >= 0)", SPECTRA_EINVAL;
    }
    return 0;
}

int spectra_encode_header(const spectra_ingest *m, uint64_t seq, void *buf, size_t cap,
                          size_t *len)
{
    const char *why;
    if (!buf || !len || validate(m, &why))
        return SPECTRA_EINVAL;
    fixed_writer w = {buf, cap, 0, 0};
    msgpack_packer pk;
    msgpack_packer_init(&pk, &w, fixed_write);

    int timing = series_timing(m);
    uint32_t keys = 5 + (seq > 0) + (m->t != 0) + 2 * timing + (m->dtype == SPECTRA_I16) +
                    (m->kind == SPECTRA_BLOCKS) + (m->n_events > 0) + (m->end != 0);
    msgpack_pack_map(&pk, keys);
    pack_cstr(&pk, "v");
    msgpack_pack_uint64(&pk, SPECTRA_PROTOCOL_VERSION);
    pack_cstr(&pk, "stream");
    pack_cstr(&pk, m->stream);
    pack_cstr(&pk, "kind");
    pack_cstr(&pk, spectra_kind_name(m->kind));
    pack_cstr(&pk, "dtype");
    pack_cstr(&pk, spectra_dtype_name(m->dtype));
    pack_cstr(&pk, "shape");
    msgpack_pack_array(&pk, 2);
    msgpack_pack_uint64(&pk, m->shape[0]);
    msgpack_pack_uint64(&pk, m->shape[1]);
    if (seq > 0) {
        pack_cstr(&pk, "seq");
        msgpack_pack_uint64(&pk, seq);
    }
    if (m->t != 0) {
        pack_cstr(&pk, "t");
        msgpack_pack_double(&pk, m->t);
    }
    if (timing) {
        pack_cstr(&pk, "t0");
        msgpack_pack_double(&pk, m->t0);
        pack_cstr(&pk, "rate");
        msgpack_pack_double(&pk, m->rate);
    }
    if (m->dtype == SPECTRA_I16) {
        pack_cstr(&pk, "scale");
        msgpack_pack_double(&pk, m->scale);
    }
    if (m->kind == SPECTRA_BLOCKS) {
        pack_cstr(&pk, "id");
        if (m->id)
            pack_cstr(&pk, m->id);
        else
            msgpack_pack_int64(&pk, m->id_num);
    }
    if (m->n_events) {
        pack_cstr(&pk, "events");
        msgpack_pack_array(&pk, m->n_events);
        for (size_t i = 0; i < m->n_events; i++) {
            const spectra_event *e = &m->events[i];
            int has_value = !isnan(e->value);
            int has_duration = !isnan(e->duration) && e->duration != 0;
            msgpack_pack_map(&pk, 2 + has_value + has_duration);
            pack_cstr(&pk, "t");
            msgpack_pack_double(&pk, e->t);
            pack_cstr(&pk, "label");
            pack_cstr(&pk, e->label);
            if (has_value) {
                pack_cstr(&pk, "value");
                msgpack_pack_double(&pk, e->value);
            }
            if (has_duration) {
                pack_cstr(&pk, "duration");
                msgpack_pack_double(&pk, e->duration);
            }
        }
    }
    if (m->end) {
        pack_cstr(&pk, "end");
        msgpack_pack_true(&pk);
    }
    if (w.overflow || w.len > SPECTRA_HEADER_MAX)
        return SPECTRA_ERANGE;
    *len = w.len;
    return 0;
}

static int send_frames(spectra_client *c, void *s, const void *hdr, size_t hdr_len,
                       const void *payload, size_t payload_len)
{
    while (zmq_send(s, hdr, hdr_len, payload_len ? ZMQ_SNDMORE : 0) < 0) {
        if (errno == EAGAIN)
            return spectra__fail(c, SPECTRA_ETIMEDOUT,
                                 "ingest: the daemon did not take the message within %d ms",
                                 spectra__send_timeout(c));
        if (errno == EINTR)
            return spectra__fail(c, SPECTRA_EINTR, "interrupted");
        return spectra__fail(c, SPECTRA_EZMQ, "ingest send: %s", zmq_strerror(errno));
    }
    /* The first frame was queued, so ZeroMQ takes the rest of the message without blocking; only a
     * signal can interrupt it, and the message must not be left half sent. */
    while (payload_len && zmq_send(s, payload, payload_len, 0) < 0) {
        if (errno != EINTR)
            return spectra__fail(c, SPECTRA_EZMQ, "ingest send: %s", zmq_strerror(errno));
    }
    return 0;
}

int spectra_push(spectra_client *c, const spectra_ingest *m)
{
    if (!c)
        return SPECTRA_EINVAL;
    const char *why;
    if (validate(m, &why))
        return spectra__fail(c, SPECTRA_EINVAL, "push: %s", why);
    size_t elsize = spectra_dtype_size(m->dtype);
    if (m->shape[0] && m->shape[1] > SIZE_MAX / elsize / m->shape[0])
        return spectra__fail(c, SPECTRA_EINVAL, "push: shape too large");
    size_t payload_len = m->shape[0] * m->shape[1] * elsize;
    uint64_t seq = m->seq ? m->seq : spectra__seq_peek(c, m->stream);

    uint8_t small[1024];
    uint8_t *hdr = small;
    size_t hdr_len;
    int rc = spectra_encode_header(m, seq, small, sizeof small, &hdr_len);
    if (rc == SPECTRA_ERANGE) {
        hdr = malloc(SPECTRA_HEADER_MAX);
        if (!hdr)
            return spectra__fail(c, SPECTRA_ENOMEM, "out of memory");
        rc = spectra_encode_header(m, seq, hdr, SPECTRA_HEADER_MAX, &hdr_len);
    }
    if (rc) {
        if (hdr != small)
            free(hdr);
        return spectra__fail(c, rc, "push: header larger than %d bytes (too many events)",
                             SPECTRA_HEADER_MAX);
    }
    rc = spectra__sink_send(c, m->stream, seq, hdr, hdr_len, m->data, payload_len);
    if (rc == 1) {
        void *s = spectra__ingest_socket(c);
        rc = s ? send_frames(c, s, hdr, hdr_len, m->data, payload_len) : spectra__socket_error(c);
    }
    if (hdr != small)
        free(hdr);
    if (rc)
        return rc;
    if (spectra__seq_set(c, m->stream, seq + 1))
        return spectra__fail(c, SPECTRA_ENOMEM, "out of memory");
    return 0;
}

int spectra_push_rows(spectra_client *c, const char *stream, spectra_dtype dtype,
                      const void *data, size_t n, size_t d)
{
    spectra_ingest m = {0};
    m.stream = stream;
    m.kind = SPECTRA_ROWS;
    m.dtype = dtype;
    m.shape[0] = n;
    m.shape[1] = d;
    m.data = data;
    return spectra_push(c, &m);
}

int spectra_push_series(spectra_client *c, const char *stream, spectra_dtype dtype,
                        const void *data, size_t samples, size_t channels, double t0, double rate,
                        const spectra_event *events, size_t n_events)
{
    spectra_ingest m = {0};
    m.stream = stream;
    m.kind = SPECTRA_SERIES;
    m.dtype = dtype;
    m.shape[0] = samples;
    m.shape[1] = channels;
    m.data = data;
    m.t0 = t0;
    m.rate = rate;
    m.events = events;
    m.n_events = n_events;
    return spectra_push(c, &m);
}

int spectra_push_block(spectra_client *c, const char *stream, spectra_dtype dtype,
                       const void *data, size_t rows, size_t cols, const char *id)
{
    spectra_ingest m = {0};
    m.stream = stream;
    m.kind = SPECTRA_BLOCKS;
    m.dtype = dtype;
    m.shape[0] = rows;
    m.shape[1] = cols;
    m.data = data;
    m.id = id;
    return spectra_push(c, &m);
}

int spectra_push_end(spectra_client *c, const char *stream, spectra_kind kind, size_t dim)
{
    /* shape [0, dim] would name a blocks stream of 0 rows, which the daemon refuses. */
    if (c && kind == SPECTRA_BLOCKS)
        return spectra__fail(c, SPECTRA_EINVAL, "push_end: a blocks stream is ended by setting "
                                                "end on its last block");
    spectra_ingest m = {0};
    m.stream = stream;
    m.kind = kind;
    m.dtype = SPECTRA_F64;
    m.shape[0] = 0;
    m.shape[1] = dim;
    m.end = 1;
    return spectra_push(c, &m);
}
