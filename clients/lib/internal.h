/* Shared internals of libspectra (not installed). Internal names use the spectra__ prefix. */
#ifndef SPECTRA_INTERNAL_H
#define SPECTRA_INTERNAL_H

#include <msgpack.h>
#include <stdarg.h>
#include <stdint.h>
#include <zmq.h>

#include "spectra.h"

#define SPECTRA__MAX_DEPTH 16
#define SPECTRA__ERR_MAX 512

#if defined(__GNUC__)
#define SPECTRA__PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define SPECTRA__PRINTF(f, a)
#endif

/* A decoded msgpack message. The tree points into the bytes, which the message owns: either a
 * received zmq_msg_t (no copy of large result bodies) or a malloc'd copy. */
struct spectra_msg {
    zmq_msg_t zmsg;
    int has_zmsg;
    void *copy;
    const uint8_t *bytes;
    size_t len;
    msgpack_unpacked unpacked;
};

/* Checks a msgpack buffer before it is unpacked: exactly one complete object, every container count
 * within the bytes that remain (msgpack-c allocates count x 24 bytes up front, so 5 bytes could ask
 * for 512 MiB), nesting depth <= max_depth, no ext types. Returns 0 or SPECTRA_EPROTO with a reason
 * in err (may be NULL). */
int spectra__prescan(const void *buf, size_t len, int max_depth, char *err, size_t errlen);

/* Takes ownership of *zmsg (it is moved, and left empty) and decodes it. On failure the reason is in
 * err and *out is NULL. */
int spectra__msg_from_zmq(zmq_msg_t *zmsg, spectra_msg **out, char *err, size_t errlen);

/* Map lookup by a key of n bytes; NULL when absent or obj is not a map. */
const msgpack_object *spectra__map_get(const msgpack_object *map, const char *key, size_t n);

/* Unaligned little-endian loads, independent of the host's byte order. */
double spectra__load_f64(const uint8_t *p);
float spectra__load_f32(const uint8_t *p);
int64_t spectra__load_i64(const uint8_t *p);

/* Recognises an ndarray map {"dtype","shape","data"} (exactly those keys) whose data length is
 * prod(shape) x element size. dtype: 0 f64, 1 f32, 2 i64. Returns 0 or SPECTRA_ETYPE. */
int spectra__ndarray_view(const msgpack_object *o, int *dtype, size_t *elsize, size_t *ndim,
                          const msgpack_object **shape, size_t *count, const uint8_t **data);

/* A growable byte buffer; out-of-memory is sticky and reported once at the end. */
typedef struct spectra__buf {
    char *p;
    size_t len, cap;
    int oom;
} spectra__buf;

void spectra__buf_reserve(spectra__buf *b, size_t extra);
void spectra__buf_put(spectra__buf *b, const void *data, size_t n);
void spectra__buf_putc(spectra__buf *b, char c);
void spectra__buf_puts(spectra__buf *b, const char *s);
void spectra__buf_printf(spectra__buf *b, const char *fmt, ...) SPECTRA__PRINTF(2, 3);
void spectra__buf_free(spectra__buf *b);

/* Client error reporting: records a message (and clears the daemon code) and returns code. */
int spectra__fail(spectra_client *c, int code, const char *fmt, ...) SPECTRA__PRINTF(3, 4);

/* The client's sockets, opened and connected on first use (NULL with the error recorded). */
void *spectra__ingest_socket(spectra_client *c);
/* Hands the message to the ingest sink when one is set: 1 when none is (send on ZeroMQ), else 0 or
 * the sink's error (recorded). */
int spectra__sink_send(spectra_client *c, const char *stream, uint64_t seq, const void *hdr,
                       size_t hdr_len, const void *payload, size_t payload_len);
void *spectra__sub_socket(spectra_client *c);
int spectra__send_timeout(const spectra_client *c);
/* The code to return when one of those is NULL: a key file's error, else SPECTRA_EZMQ. */
int spectra__socket_error(const spectra_client *c);

/* A fresh request id, and one control round trip for an encoded request carrying that id:
 * 0 / SPECTRA_EDAEMON with the reply (or NULL) in *reply, or a transport error. */
uint64_t spectra__take_id(spectra_client *c);
int spectra__roundtrip(spectra_client *c, const void *req, size_t len, uint64_t id,
                       spectra_msg **reply);

/* Per-stream producer sequence numbers. */
uint64_t spectra__seq_peek(const spectra_client *c, const char *stream);
int spectra__seq_set(spectra_client *c, const char *stream, uint64_t next);

double spectra__now_realtime(void);
/* Milliseconds on the monotonic clock. */
int64_t spectra__now_ms(void);

#endif
