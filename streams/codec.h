/* The wire codec of protocol version 1 (docs/protocol.md): msgpack <-> structs.
 *
 * Everything that reads bytes from a socket goes through here first. Nothing is unpacked before
 * spx_msgpack_prescan() has checked that every container count fits in the bytes left (msgpack-c
 * allocates count x 24 bytes for a container header before reading its elements, so 5 bytes could
 * otherwise ask for 512 MiB), that nesting is bounded and that no extension type is present. */
#ifndef SPX_CODEC_H
#define SPX_CODEC_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SPX_PROTOCOL_VERSION 1
#define SPX_NAME_MAX 64                  /* stream and pipeline names: 1..64 of [A-Za-z0-9_-] */
#define SPX_LABEL_MAX 64                 /* event labels, block ids (as text) */
#define SPX_HEADER_MAX_BYTES 65536       /* an ingest header frame */
#define SPX_REQUEST_MAX_BYTES (1 << 20)  /* a control request frame */
#define SPX_MSGPACK_MAX_DEPTH 16
#define SPX_MAX_EVENTS 1024              /* events in one ingest message */
#define SPX_DIM_MAX (1 << 20)            /* a stream's dimension (d, C channels, m block rows) */
#define SPX_PAYLOAD_MAX_BYTES (1 << 30)  /* shape[0] x shape[1] x dtype size of one message */

typedef enum spx_kind {
    SPX_KIND_ROWS = 1,
    SPX_KIND_SERIES = 2,
    SPX_KIND_BLOCKS = 4,
} spx_kind;

typedef enum spx_dtype {
    SPX_DTYPE_F32 = 0,
    SPX_DTYPE_F64 = 1,
    SPX_DTYPE_I16 = 2,
} spx_dtype;

/* Error codes shared by ingest counters and control replies; names are the wire strings. */
typedef enum spx_errcode {
    SPX_OK = 0,
    SPX_E_BAD_FRAME,          /* "bad_frame" */
    SPX_E_BAD_MSGPACK,        /* "bad_msgpack" */
    SPX_E_BAD_HEADER,         /* "bad_header" */
    SPX_E_UNSUPPORTED_VERSION,/* "unsupported_version" */
    SPX_E_BAD_NAME,           /* "bad_name" */
    SPX_E_UNKNOWN_STREAM,     /* "unknown_stream" */
    SPX_E_KIND_MISMATCH,      /* "kind_mismatch" */
    SPX_E_SHAPE_MISMATCH,     /* "shape_mismatch" */
    SPX_E_BAD_LENGTH,         /* "bad_length" */
    SPX_E_NOT_FINITE,         /* "not_finite" */
    SPX_E_TOO_LARGE,          /* "too_large" */
    SPX_E_BAD_REQUEST,        /* "bad_request" */
    SPX_E_UNKNOWN_OP,         /* "unknown_op" */
    SPX_E_UNKNOWN_PIPELINE,   /* "unknown_pipeline" */
    SPX_E_EXISTS,             /* "exists" */
    SPX_E_UNKNOWN_ALGO,       /* "unknown_algo" */
    SPX_E_BAD_PARAM,          /* "bad_param" */
    SPX_E_BUSY,               /* "busy" */
    SPX_E_INTERNAL,           /* "internal" */
    SPX_E_COUNT
} spx_errcode;

const char *spx_errcode_name(spx_errcode code);
const char *spx_kind_name(spx_kind kind);
const char *spx_dtype_name(spx_dtype dtype);
size_t spx_dtype_size(spx_dtype dtype);
/* Parses "rows"/"series"/"blocks" (or "f32"/"f64"/"i16"); returns 0 or -1. */
int spx_kind_parse(const char *s, size_t len, spx_kind *out);
int spx_dtype_parse(const char *s, size_t len, spx_dtype *out);
/* 1..SPX_NAME_MAX bytes of [A-Za-z0-9_-]. */
bool spx_name_valid(const char *s, size_t len);

/* Checks a msgpack buffer before unpacking: exactly one complete object, every container count
 * <= bytes remaining, depth <= max_depth, no ext types. Returns SPX_OK or SPX_E_BAD_MSGPACK with a
 * reason in err (which may be NULL). Depth counts containers: a map root is depth 1. max_depth is
 * clamped to [0, 64]. O(len), no allocation, no recursion. */
spx_errcode spx_msgpack_prescan(const void *buf, size_t len, int max_depth, char *err,
                                size_t errlen);

typedef struct spx_event {
    double t;
    char label[SPX_LABEL_MAX + 1];
    double value;              /* NAN when absent */
    double duration;           /* 0 when absent */
} spx_event;

/* A decoded, validated ingest header. Owns `events` (free with spx_ingest_header_clear); every
 * other field is a copy, so the header frame may be released as soon as decoding returns. */
typedef struct spx_ingest_header {
    unsigned version;
    char stream[SPX_NAME_MAX + 1];
    spx_kind kind;
    spx_dtype dtype;
    uint64_t shape[2];
    bool has_seq;
    uint64_t seq;
    bool has_t;
    double t;                  /* producer time; 0 when absent */
    bool has_t0;
    double t0;
    double rate;               /* 0 when absent */
    double scale;              /* 1 unless dtype is i16 */
    bool has_id;
    char block_id[SPX_LABEL_MAX + 1]; /* ints are rendered in decimal */
    bool end;
    spx_event *events;
    size_t n_events;
} spx_ingest_header;

/* Pre-scans, unpacks and validates an ingest header frame against the rules of protocol section 1
 * (types, required keys per kind, name rules, shape limits). Does not look at the payload.
 * On failure returns the code and writes a one-line reason into err; *h is left cleared (zeroed,
 * nothing to free). *h need not be initialised before the call (it is overwritten, not freed).
 * Rules beyond the protocol table: unknown keys are ignored; a present key of the wrong type (nil
 * included) is bad_header; `scale` other than 1 with f32/f64 is bad_header; `events` on a kind other
 * than series is bad_header; block ids are 1..64 bytes; labels and ids may not contain NUL.
 * Codes: bad_frame (frame > SPX_HEADER_MAX_BYTES), bad_msgpack, bad_header, unsupported_version,
 * bad_name, too_large (dimension > SPX_DIM_MAX, payload > SPX_PAYLOAD_MAX_BYTES, events >
 * SPX_MAX_EVENTS), internal (out of memory). */
spx_errcode spx_decode_ingest_header(const void *buf, size_t len, spx_ingest_header *h,
                                     char *err, size_t errlen);
void spx_ingest_header_clear(spx_ingest_header *h);
/* The stream's fixed dimension the header carries: shape[1] (d, C) for rows and series, shape[0]
 * (m, the rows of every block) for blocks. Always in [1, SPX_DIM_MAX] after a successful decode. */
uint64_t spx_ingest_header_dim(const spx_ingest_header *h);

/* Checks that the payload matches the header: length == shape[0] x shape[1] x dtype size (and no
 * payload frame when that is 0), and every value finite. The payload may be unaligned. Returns
 * bad_length or not_finite (first bad element as row,col in err); i16 is always finite. */
spx_errcode spx_validate_payload(const spx_ingest_header *h, const void *payload, size_t len,
                                 char *err, size_t errlen);

/* Encodes an ingest header (the inverse of spx_decode_ingest_header; used by tests and tools).
 * Appends to out; optional keys are written when has_* is set, rate != 0, dtype is i16 (scale),
 * n_events > 0, end is true; block ids are written as str. Returns 0, -EINVAL or -ENOMEM (out is
 * then left as it was). */
int spx_encode_ingest_header(const spx_ingest_header *h, msgpack_sbuffer *out);

/* A control request: a msgpack map with a string "op". Owns its unpacked zone.
 * Lifetimes: str and bin objects under root (and id) point INTO the request buffer passed to
 * spx_decode_request, so that buffer (the zmq_msg_t) must outlive every use of root/id, including
 * packing id into the reply. The objects themselves live in the zone, so the struct may be copied
 * by value (clear exactly one copy). */
typedef struct spx_request {
    msgpack_unpacked unpacked;
    const msgpack_object *root;   /* the map */
    char op[32];
    const msgpack_object *id;     /* NULL when absent */
} spx_request;

/* Pre-scans (limit SPX_REQUEST_MAX_BYTES) and unpacks; root must be a map with a str "op" of
 * 1..31 bytes. Every failure is bad_request (internal when out of memory) and leaves *req cleared
 * (root and id NULL, nothing to free; clearing it again is harmless). *req need not be initialised
 * before the call (it is overwritten, not freed). On success call spx_request_clear when done. */
spx_errcode spx_decode_request(const void *buf, size_t len, spx_request *req, char *err,
                               size_t errlen);
void spx_request_clear(spx_request *req);

/* Map access helpers for validated msgpack objects. They return NULL / -1 when the key is absent
 * or has another type, so schema checks read as one line each. */
const msgpack_object *spx_map_get(const msgpack_object *map, const char *key);
/* Copies a str into buf (len includes the NUL): -1 if not str, too long or containing NUL. */
int spx_obj_str(const msgpack_object *o, char *buf, size_t len);
int spx_obj_uint(const msgpack_object *o, uint64_t *out);         /* non-negative ints only */
int spx_obj_double(const msgpack_object *o, double *out);         /* ints or floats */
int spx_obj_bool(const msgpack_object *o, bool *out);
/* Renders a scalar (str, int, float, bool) as text, for key=value parameters. Floats use the
 * shortest text that reads back to the same value ("0.1", not "0.10000000000000001"). -1 for other
 * types or when buf is too small. */
int spx_obj_scalar_text(const msgpack_object *o, char *buf, size_t len);

/* Packing helpers. They ignore write errors (msgpack_sbuffer fails only when out of memory). */
void spx_pack_cstr(msgpack_packer *pk, const char *s);
void spx_pack_key_cstr(msgpack_packer *pk, const char *key, const char *value);
void spx_pack_key_uint(msgpack_packer *pk, const char *key, uint64_t value);
void spx_pack_key_double(msgpack_packer *pk, const char *key, double value);
void spx_pack_key_bool(msgpack_packer *pk, const char *key, bool value);
/* An ndarray map {"dtype": "f64", "shape": [...], "data": bin} of row-major little-endian data. */
void spx_pack_ndarray_f64(msgpack_packer *pk, const double *x, size_t ndim, const size_t *shape);
void spx_pack_ndarray_i64(msgpack_packer *pk, const int64_t *x, size_t ndim, const size_t *shape);
/* {"ok": false, ["id": id,] "error": {"code": ..., "message": ...}} */
void spx_pack_error_reply(msgpack_packer *pk, const msgpack_object *id, spx_errcode code,
                          const char *message);

#endif
