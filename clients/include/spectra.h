/* libspectra: the C client of spectrad, wire protocol version 1 (docs/protocol.md).
 *
 * One header, opaque handles, names prefixed spectra_.
 *
 * Errors: every call that can fail returns 0 or a negative SPECTRA_E* code; spectra_strerror() names
 * the code. Calls on a handle that can fail for a reason worth reading (a spectra_client, a
 * spectra_table) also keep a one-line message, read with spectra_last_error() /
 * spectra_table_error(), valid until the next call on that handle. When the daemon answers a control
 * request with {"ok": false, "error": {"code", "message"}}, the call returns SPECTRA_EDAEMON, the
 * message reads "<code>: <message>" (e.g. "unknown_stream: no stream 'x'") and
 * spectra_last_error_code() gives the code alone ("unknown_stream") for branching.
 *
 * Handles are not thread-safe: use one spectra_client per thread (ZeroMQ sockets are single-threaded).
 *
 * Decoded messages (replies, result bodies) are spectra_msg handles. Simple values are read by path
 * ("result.count", "streams.0.pipelines.1.algo": dots separate map keys, numbers index arrays); a
 * caller that wants to walk the tree includes <msgpack.h> and uses spectra_msg_root(). */
#ifndef SPECTRA_H
#define SPECTRA_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SPECTRA_PROTOCOL_VERSION 1
#define SPECTRA_DEFAULT_CONTROL "tcp://127.0.0.1:5557"
#define SPECTRA_DEFAULT_INGEST "tcp://127.0.0.1:5555"
#define SPECTRA_DEFAULT_PUBLISH "tcp://127.0.0.1:5556"
#define SPECTRA_DEFAULT_TIMEOUT_MS 5000
#define SPECTRA_NAME_MAX 64          /* stream and pipeline names: 1..64 bytes of [A-Za-z0-9_-] */
#define SPECTRA_TOPIC_MAX (2 * SPECTRA_NAME_MAX + 1) /* "<stream>.<pipeline>" */
#define SPECTRA_HEADER_MAX 65536     /* an ingest header frame */

enum spectra_error {
    SPECTRA_OK = 0,
    SPECTRA_EINVAL = -1,     /* bad argument (name, shape, option) */
    SPECTRA_ENOMEM = -2,
    SPECTRA_ETIMEDOUT = -3,  /* no reply / no message / could not send within the timeout */
    SPECTRA_EZMQ = -4,       /* a ZeroMQ call failed (bad endpoint, context terminated, ...) */
    SPECTRA_EPROTO = -5,     /* the peer sent something that is not protocol version 1 */
    SPECTRA_EDAEMON = -6,    /* the daemon answered {"ok": false}; see spectra_last_error_code() */
    SPECTRA_EIO = -7,        /* reading a file failed */
    SPECTRA_EPARSE = -8,     /* a text table line could not be read as numbers */
    SPECTRA_ENOTFOUND = -9,  /* a path names no value in a message */
    SPECTRA_ETYPE = -10,     /* the value at a path has another type */
    SPECTRA_ERANGE = -11,    /* a value does not fit the caller's buffer or type */
    SPECTRA_EINTR = -12,     /* a blocking call was interrupted by a signal */
};

/* Name of an error code ("timed out", ...); never NULL. */
const char *spectra_strerror(int code);
/* The library version ("0.1.0"). */
const char *spectra_version(void);

typedef enum spectra_kind {
    SPECTRA_ROWS = 1,     /* matrix rows: shape [n rows, d] */
    SPECTRA_SERIES = 2,   /* multichannel samples: shape [n samples, C channels] */
    SPECTRA_BLOCKS = 3,   /* one matrix block per message: shape [m rows, n cols] */
} spectra_kind;

typedef enum spectra_dtype {
    SPECTRA_F64 = 0,
    SPECTRA_F32 = 1,
    SPECTRA_I16 = 2,      /* series only, with a scale */
} spectra_dtype;

/* Wire names ("rows", "f64") and their inverses (0, or SPECTRA_EINVAL for an unknown name). */
const char *spectra_kind_name(spectra_kind kind);
const char *spectra_dtype_name(spectra_dtype dtype);
size_t spectra_dtype_size(spectra_dtype dtype);
int spectra_kind_parse(const char *name, spectra_kind *out);
int spectra_dtype_parse(const char *name, spectra_dtype *out);
/* 1 when name is 1..64 bytes of [A-Za-z0-9_-], else 0. */
int spectra_name_valid(const char *name);

/* ---------------------------------------------------------------------------------------------
 * Decoded messages */

typedef struct spectra_msg spectra_msg;
struct msgpack_object;

/* Checks (container counts within the bytes, depth <= 16, no ext types, exactly one object) and
 * decodes one msgpack object; the bytes are copied. */
int spectra_msg_parse(const void *buf, size_t len, spectra_msg **out);
void spectra_msg_free(spectra_msg *msg);
/* The message's msgpack bytes. */
const void *spectra_msg_data(const spectra_msg *msg, size_t *len);
/* The decoded tree (a msgpack_object from <msgpack.h>), valid until spectra_msg_free(). */
const struct msgpack_object *spectra_msg_root(const spectra_msg *msg);

/* Path lookups. path NULL or "" is the root. Return SPECTRA_ENOTFOUND when a key is absent (or an
 * index is out of range), SPECTRA_ETYPE when the value has another type. */
int spectra_msg_find(const spectra_msg *msg, const char *path, const struct msgpack_object **out);
int spectra_msg_is_nil(const spectra_msg *msg, const char *path); /* 1 nil, 0 other, <0 error */
int spectra_msg_uint(const spectra_msg *msg, const char *path, uint64_t *out);
int spectra_msg_int(const spectra_msg *msg, const char *path, int64_t *out);
int spectra_msg_double(const spectra_msg *msg, const char *path, double *out); /* ints too */
int spectra_msg_bool(const spectra_msg *msg, const char *path, int *out);
/* Copies a str value with a terminating NUL; SPECTRA_ERANGE when it does not fit in cap. */
int spectra_msg_str(const spectra_msg *msg, const char *path, char *buf, size_t cap);
/* Number of elements of an array or pairs of a map. */
int spectra_msg_size(const spectra_msg *msg, const char *path, size_t *out);

/* An ndarray map {"dtype": "f64"|"f32"|"i64", "shape": [...], "data": bin} converted to a malloc'd
 * row-major array of doubles (free() it). Writes up to max_ndim dimensions into shape and the
 * dimension count into *ndim (SPECTRA_ERANGE when max_ndim is too small). i64 values above 2^53
 * lose precision. */
int spectra_msg_ndarray(const spectra_msg *msg, const char *path, double **data, size_t *shape,
                        size_t max_ndim, size_t *ndim);

/* For a control reply: 0 when "ok" is true; SPECTRA_EDAEMON when false, with the error's code and
 * message copied (truncated to fit; either buffer may be NULL); SPECTRA_EPROTO when the map has no
 * boolean "ok" or a failed reply has no error map. */
int spectra_reply_status(const spectra_msg *reply, char *code, size_t code_cap, char *message,
                         size_t message_cap);

/* ---------------------------------------------------------------------------------------------
 * msgpack -> JSON (RFC 8259)
 *
 * Strings are escaped per RFC 8259 (invalid UTF-8 becomes U+FFFD); floats are printed with %.17g
 * (float32 with %.9g: both round-trip exactly), NaN and infinities as null; an ndarray map
 * {"dtype","shape","data"} becomes nested arrays of numbers; any other bin becomes a base64 string;
 * non-string map keys are rendered as strings. Output is one line unless SPECTRA_JSON_PRETTY.
 * *out is malloc'd and NUL-terminated (free() it); len may be NULL. */
#define SPECTRA_JSON_PRETTY 1
int spectra_msgpack_to_json(const void *buf, size_t len, int flags, char **out, size_t *out_len);
int spectra_msg_to_json(const spectra_msg *msg, int flags, char **out, size_t *out_len);
int spectra_object_to_json(const struct msgpack_object *obj, int flags, char **out,
                           size_t *out_len);

/* ---------------------------------------------------------------------------------------------
 * Client */

typedef struct spectra_client spectra_client;

typedef struct spectra_options {
    const char *control;    /* endpoints; NULL: the defaults above */
    const char *ingest;
    const char *publish;
    int timeout_ms;         /* control request timeout; 0: SPECTRA_DEFAULT_TIMEOUT_MS */
    int send_timeout_ms;    /* ingest sends: < 0 block until the daemon takes the message
                               (backpressure, the default), else fail with SPECTRA_ETIMEDOUT */
    int send_hwm;           /* ingest high-water mark in messages; 0: ZeroMQ's default (1000) */
    int linger_ms;          /* how long spectra_close() waits to deliver queued ingest messages;
                               < 0 until delivered (the default), 0 drop them */
    /* CURVE (both or neither; see "CURVE keys" below): the daemon's public key file and this
     * client's secret key file. NULL: plain sockets, as a daemon without keys expects. */
    const char *server_key;
    const char *client_key;
} spectra_options;

/* Fills the defaults. */
void spectra_options_init(spectra_options *opts);

/* Makes a client (opts NULL: defaults). Sockets are connected on first use, so this only fails for
 * lack of memory (NULL). Key files named in opts are read here; if one cannot be used, every call
 * that needs a socket fails with that reason (SPECTRA_EIO / SPECTRA_EPARSE / SPECTRA_EINVAL). */
spectra_client *spectra_connect(const spectra_options *opts);
void spectra_close(spectra_client *client);

const char *spectra_last_error(const spectra_client *client);
/* The daemon's error code of the last SPECTRA_EDAEMON, else "". */
const char *spectra_last_error_code(const spectra_client *client);

int spectra_set_timeout(spectra_client *client, int timeout_ms);
/* Sets (or with two NULLs clears) the CURVE key files for sockets opened from now on; call it
 * before the first request, push or subscribe. Returns 0 or the error of reading a file. */
int spectra_set_curve_keys(spectra_client *client, const char *server_key, const char *client_key);
int spectra_set_send_timeout(spectra_client *client, int timeout_ms);

/* Control: one request map out, one reply map back, matched by "id" (the library sets "id", so a
 * reply that arrives after its request timed out is recognised and dropped). A request that times out
 * resets the control socket, so the next request starts clean.
 *
 * spectra_request() sends a caller-encoded msgpack map. Returns 0 for {"ok": true} and
 * SPECTRA_EDAEMON for {"ok": false}; in both cases *reply (may be NULL) receives the reply map, to
 * be freed with spectra_msg_free(). Otherwise *reply is NULL. */
int spectra_request(spectra_client *client, const void *request, size_t len, spectra_msg **reply);

/* The ops of protocol section 3. reply parameters may be NULL; on failure *reply is NULL. */
int spectra_ping(spectra_client *client, spectra_msg **reply);
/* dim: d (rows), channels C (series), block rows m (blocks). rate <= 0: none. channel_names: NULL
 * or n_channels names. */
int spectra_create(spectra_client *client, const char *stream, spectra_kind kind, uint32_t dim,
                   double rate, const char *const *channel_names, size_t n_channels);
/* The same with the physical unit of each channel ("uV", "degC"; series streams; NULL = none).
 * Both are spectra_create_with() with the other options at their defaults. */
int spectra_create_ex(spectra_client *client, const char *stream, spectra_kind kind, uint32_t dim,
                      double rate, const char *const *channel_names, size_t n_names,
                      const char *const *channel_units, size_t n_units);

/* How a stream survives a daemon restart (the daemon needs a state dir for any of it). */
typedef enum spectra_durability {
    SPECTRA_DURABILITY_DEFAULT = 0,  /* create: the daemon's configured default (not sent) */
    SPECTRA_DURABILITY_NONE = 1,     /* lost on restart */
    SPECTRA_DURABILITY_SNAPSHOT = 2, /* restored from its newest snapshot */
    SPECTRA_DURABILITY_JOURNAL = 3,  /* snapshot plus every message accepted since, replayed */
} spectra_durability;

/* Wire names ("none", "snapshot", "journal"; NULL for DEFAULT or an unknown value) and the inverse
 * (0, or SPECTRA_EINVAL). */
const char *spectra_durability_name(spectra_durability durability);
int spectra_durability_parse(const char *name, spectra_durability *out);

/* Everything `create` takes besides stream, kind and dim. Zero-initialised (or
 * spectra_create_options_init) means: no rate, no names, no units, the daemon's durability, no
 * dedupe. */
typedef struct spectra_create_options {
    double rate;                          /* series: Hz; <= 0: none */
    const char *const *channel_names;     /* NULL or n_names names (series) */
    size_t n_names;
    const char *const *channel_units;     /* NULL or n_units units (series) */
    size_t n_units;
    spectra_durability durability;
    int dedupe;                           /* nonzero: drop messages whose seq the stream has
                                             already accepted (producer resends) */
} spectra_create_options;

void spectra_create_options_init(spectra_create_options *opts);
/* opts NULL: all defaults. */
int spectra_create_with(spectra_client *client, const char *stream, spectra_kind kind,
                        uint32_t dim, const spectra_create_options *opts);
int spectra_drop(spectra_client *client, const char *stream);

/* The `save` op: starts a snapshot of stream (NULL: of every durable stream) now. *snapshots
 * (may be NULL) gets how many were started; *messages (may be NULL) the stream message number the
 * stream's snapshot covers (0 when stream is NULL). The snapshot is written in the background:
 * it is on disk once spectra_position() shows snapshot_messages >= *messages. Daemon errors:
 * bad_request (no state dir, or the stream's durability is none), unknown_stream. */
int spectra_save(spectra_client *client, const char *stream, uint64_t *snapshots,
                 uint64_t *messages);

/* The `position` op, decoded. Sequence numbers are the producers' header "seq"; message numbers
 * count the stream's accepted messages (1, 2, ...). A has_* of 0 means the daemon sent nil. */
typedef struct spectra_stream_position {
    char stream[SPECTRA_NAME_MAX + 1];
    spectra_durability durability;
    uint64_t messages;            /* accepted so far */
    int has_last_seq;
    uint64_t last_seq;            /* newest producer seq accepted */
    uint64_t applied_messages;    /* applied by every pipeline */
    uint64_t durable_messages;    /* would survive a restart now */
    int has_durable_seq;
    uint64_t durable_seq;         /* producer seq of the newest durable message: resume after it */
    int has_snapshot_messages;
    uint64_t snapshot_messages;   /* covered by the newest snapshot on disk */
    int has_snapshot_seq;
    uint64_t snapshot_seq;
    int structure_durable;        /* the stream's pipelines survive a crash (their snapshot is on disk) */
} spectra_stream_position;

/* SPECTRA_EPROTO when the reply lacks a field or has one of another type. */
int spectra_position(spectra_client *client, const char *stream, spectra_stream_position *out);
/* params: "key=value" strings (split at the first '='). every / interval_ms < 0: daemon default. */
int spectra_attach(spectra_client *client, const char *stream, const char *pipeline,
                   const char *algo, const char *const *params, size_t n_params, int64_t every,
                   int64_t interval_ms);
int spectra_detach(spectra_client *client, const char *stream, const char *pipeline);
int spectra_list(spectra_client *client, spectra_msg **reply);
int spectra_stats(spectra_client *client, spectra_msg **reply);
/* reply's "result" is the result body of protocol section 2, or nil before any input. */
int spectra_get(spectra_client *client, const char *stream, const char *pipeline,
                spectra_msg **reply);

/* ---------------------------------------------------------------------------------------------
 * Ingest */

typedef struct spectra_event {
    double t;               /* seconds since the epoch */
    const char *label;
    double value;           /* NaN: absent */
    double duration;        /* 0 (or NaN): absent */
} spectra_event;

/* One ingest message. Zero-initialise, then fill what the kind needs. */
typedef struct spectra_ingest {
    const char *stream;
    spectra_kind kind;
    spectra_dtype dtype;
    size_t shape[2];        /* rows: [n, d]; series: [samples, channels]; blocks: [m, n] */
    const void *data;       /* shape[0] x shape[1] values, row-major, little-endian */
    double t;               /* producer time; 0: omitted (the daemon uses the receive time) */
    double t0;              /* series with samples: time of the first sample */
    double rate;            /* series with samples: Hz */
    double scale;           /* dtype i16: physical value = int16 x scale */
    const char *id;         /* blocks: the block id as text, or NULL to send id_num */
    int64_t id_num;
    const spectra_event *events; /* series only */
    size_t n_events;
    int end;                /* end of stream */
    uint64_t seq;           /* 0: the client's next number for this stream (1, 2, 3, ...) */
} spectra_ingest;

/* Encodes the header frame of m with sequence number seq (0: no "seq" key). Keys come in the order
 * v, stream, kind, dtype, shape, seq, t, t0, rate, scale, id, events, end, as in the protocol's
 * worked example. Returns 0 with *len set, SPECTRA_ERANGE when cap is too small, SPECTRA_EINVAL for
 * an invalid message. */
int spectra_encode_header(const spectra_ingest *m, uint64_t seq, void *buf, size_t cap,
                          size_t *len);

/* Sends one message (header frame, then the payload frame if the shape has elements). Blocks while
 * the daemon applies backpressure unless a send timeout is set. The stream's sequence number advances
 * only when the message was queued. */
int spectra_push(spectra_client *client, const spectra_ingest *m);
int spectra_push_rows(spectra_client *client, const char *stream, spectra_dtype dtype,
                      const void *data, size_t n, size_t d);
int spectra_push_series(spectra_client *client, const char *stream, spectra_dtype dtype,
                        const void *data, size_t samples, size_t channels, double t0, double rate,
                        const spectra_event *events, size_t n_events);
int spectra_push_block(spectra_client *client, const char *stream, spectra_dtype dtype,
                       const void *data, size_t m, size_t n, const char *id);
/* An empty message with "end": true (shape [0, dim]). For rows and series only: the daemon takes a
 * blocks stream's dimension from shape[0] and every block needs an id, so a blocks stream is ended
 * by setting `end` on its last block (spectra_push() with m.end = 1). */
int spectra_push_end(spectra_client *client, const char *stream, spectra_kind kind, size_t dim);
/* The sequence number the next message to stream will carry. */
uint64_t spectra_next_seq(const spectra_client *client, const char *stream);
/* Makes the next message to stream carry seq next (>= 1), e.g. last_seq + 1 from
 * spectra_position() so that a new producer continues the stream's numbering (a dedupe stream
 * drops a message whose seq it has already accepted). */
int spectra_set_next_seq(spectra_client *client, const char *stream, uint64_t next);

/* Another way out for ingest messages (e.g. NATS JetStream, see the CLI's --nats): when set,
 * spectra_push() hands each encoded message (header, payload, its sequence number) to `send`
 * instead of the ZeroMQ ingest socket; `send` returns 0 or a SPECTRA_E* code. NULL restores
 * ZeroMQ. */
typedef int (*spectra_ingest_sink)(void *ctx, const char *stream, uint64_t seq, const void *hdr,
                                   size_t hdr_len, const void *payload, size_t payload_len);
void spectra_set_ingest_sink(spectra_client *client, spectra_ingest_sink send, void *ctx);

/* ---------------------------------------------------------------------------------------------
 * Results */

/* Subscribes to results whose topic starts with prefix ("" or NULL: all; "s." every pipeline of
 * stream s; "s.top" pipeline top, and also top2). ZeroMQ forwards subscriptions asynchronously:
 * results published in the first milliseconds after the call may be missed. */
int spectra_subscribe(spectra_client *client, const char *prefix);
int spectra_unsubscribe(spectra_client *client, const char *prefix);
/* Waits up to timeout_ms (< 0: forever) for one result. topic receives "<stream>.<pipeline>"
 * (SPECTRA_TOPIC_MAX + 1 bytes suffice), *body the decoded body map. */
int spectra_recv_result(spectra_client *client, int timeout_ms, char *topic, size_t topic_cap,
                        spectra_msg **body);

/* ---------------------------------------------------------------------------------------------
 * CURVE keys
 *
 * A daemon configured with keys (docs/operations.md, "Security") accepts only CURVE clients whose
 * public key is in the allow-list of the socket's role: producers (ingest), subscribers (results),
 * operators (control). Key files use CZMQ's zcert text format, so existing zcert files work:
 *
 *     curve
 *         public-key = "<40 Z85 characters>"
 *         secret-key = "<40 Z85 characters>"     (only in NAME.key_secret)
 */
#define SPECTRA_KEY_Z85_LEN 40

/* Writes a new key pair: BASE.key (public, mode 0644) and BASE.key_secret (mode 0600). Refuses
 * (SPECTRA_EIO) when either file exists. err (may be NULL) receives the reason. */
int spectra_keygen(const char *base, char *err, size_t errlen);
/* Reads a key file: its public key into public_z85 (SPECTRA_KEY_Z85_LEN + 1 bytes) and, when
 * secret_z85 is not NULL, its secret key (the file must then be a secret file). Returns 0,
 * SPECTRA_EIO (cannot read), SPECTRA_EPARSE (bad format: "FILE:LINE: reason" in err). */
int spectra_key_read(const char *path, char *public_z85, char *secret_z85, char *err,
                     size_t errlen);
/* The same from text in memory; name is used in messages. */
int spectra_key_parse(const char *text, size_t len, const char *name, char *public_z85,
                      char *secret_z85, char *err, size_t errlen);

/* ---------------------------------------------------------------------------------------------
 * Text tables: numbers in CSV / delimited / whitespace-separated text, read in batches of rows
 *
 * The first non-empty line is a header when any of its fields is not a number (or as forced by
 * options). Empty lines and lines starting with '#' are skipped. Only selected columns are parsed,
 * so a date column can be skipped. Every selected field must be a finite number; a bad line stops
 * the reader with "<file>:<line>: <reason>" and the batch that contained it is not returned.
 *
 * A time column (time_column) is read with spectra_time_parse() by spectra_table_read_times(); it
 * is never among the selected columns. With a time column, a first line whose non-numeric fields
 * are all times is data, not a header. */

typedef struct spectra_table spectra_table;

typedef struct spectra_table_options {
    char delimiter;         /* 0: detect from the first line (',' then '\t' then ';', else
                               whitespace runs); ' ': whitespace runs; else that byte */
    int header;             /* < 0 detect (default), 0 no header, > 0 the first line is one */
    const char *columns;    /* NULL: all; else "a,b" names and/or 1-based ranges "1-57,60,3-" */
    const char *skip_columns; /* same syntax; removed from the selection */
    const char *time_column;  /* NULL: none; else one column (a name or a 1-based number) */
} spectra_table_options;

void spectra_table_options_init(spectra_table_options *opts);
spectra_table *spectra_table_new(const spectra_table_options *opts);
void spectra_table_free(spectra_table *table);
const char *spectra_table_error(const spectra_table *table);

/* Opens path ("-": stdin) and reads the first line to settle the delimiter, header and columns. */
int spectra_table_open(spectra_table *table, const char *path);
/* Reads from an open stream instead (not closed by the table); name is used in messages. */
int spectra_table_open_file(spectra_table *table, FILE *f, const char *name);
/* Selected columns per row, and their header names ("" without a header). */
size_t spectra_table_width(const spectra_table *table);
const char *spectra_table_column_name(const spectra_table *table, size_t i);
/* Reads up to max_rows rows into rows (max_rows x width, row-major). *n_rows is 0 at end of input. */
int spectra_table_read(spectra_table *table, double *rows, size_t max_rows, size_t *n_rows);
/* Like spectra_table_read(), and times[i] receives the time of row i (seconds since the epoch).
 * SPECTRA_EINVAL when the table has no time column. A field that is not a time stops the reader
 * like a bad number. */
int spectra_table_read_times(spectra_table *table, double *rows, double *times, size_t max_rows,
                             size_t *n_rows);
/* 1 when the table was opened with a time column. */
int spectra_table_has_time(const spectra_table *table);
/* Line number of the last line read (1-based). */
uint64_t spectra_table_line(const spectra_table *table);

/* Parses a time into seconds since the Unix epoch: a plain number is taken as seconds
 * ("1467331200", "12.5"); otherwise an ISO 8601 date or date-time "YYYY-MM-DD",
 * "YYYY-MM-DD HH:MM", "YYYY-MM-DD HH:MM:SS[.fff]" ('T' may replace the space), optionally followed
 * by "Z", "+HH:MM", "-HH:MM", "+HHMM" or "-HHMM". A time without an offset is read as UTC, whatever
 * TZ says. Blanks around the text are ignored. Returns 0 or SPECTRA_EPARSE. */
int spectra_time_parse(const char *text, double *out);

/* ---------------------------------------------------------------------------------------------
 * NumPy .npy headers
 *
 * The header of an .npy file (format versions 1.0 and 2.0) holding little-endian float64 ('<f8')
 * or float32 ('<f4') numbers in C order; anything else (other dtypes, big-endian, Fortran order,
 * structured arrays) is refused with a message saying why. The data follows the header: count
 * values of dtype starting at byte data_offset. */
#define SPECTRA_NPY_MAX_DIMS 8

typedef struct spectra_npy_header {
    spectra_dtype dtype;          /* SPECTRA_F64 or SPECTRA_F32 */
    size_t ndim;
    size_t shape[SPECTRA_NPY_MAX_DIMS];
    size_t count;                 /* prod(shape): 1 for a 0-d array */
    size_t data_offset;           /* bytes before the data (magic, version, length, dict) */
} spectra_npy_header;

/* Parses the start of an .npy file held in buf (len bytes). Returns 0; SPECTRA_ERANGE when buf
 * ends before the header does, with out->data_offset set to the number of bytes to read and try
 * again with; SPECTRA_EPARSE for a malformed file, SPECTRA_EINVAL for a well-formed header of an
 * array this library does not take. err (may be NULL) receives a one-line reason. */
int spectra_npy_parse_header(const void *buf, size_t len, spectra_npy_header *out, char *err,
                             size_t errlen);

#ifdef __cplusplus
}
#endif

#endif
