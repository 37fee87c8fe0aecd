/* The table of pipeline kinds: how streams/ reaches every algorithm.
 *
 * An adapter (streams/adapters/<algo>.c) wraps one estimator from algorithms/ behind these ops and
 * one row in pipeline_kinds.c registers it. Adding an algorithm is one adapter file and one row.
 *
 * Threading contract: create/destroy and describe run on the loop thread; update and result run on a
 * worker thread, never concurrently for the same instance (the daemon keeps at most one job in
 * flight per pipeline), so adapters need no locks. */
#ifndef SPX_PIPELINE_KIND_H
#define SPX_PIPELINE_KIND_H

#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

#include "codec.h"

/* What a pipeline knows of the stream it is attached to. */
typedef struct spx_stream_info {
    const char *name;
    spx_kind kind;
    uint32_t dim;              /* d (rows), C channels (series), m rows per block (blocks) */
    double rate;               /* series: nominal rate in Hz, 0 if unknown */
} spx_stream_info;

/* One accepted ingest message as pipelines see it. Read-only, shared by every pipeline of the
 * stream; the data is aligned for its dtype and already validated (shape, finiteness). i16 series
 * are converted to f32 (times scale) on accept, so adapters see f32 or f64 only. */
typedef struct spx_input {
    spx_kind kind;
    spx_dtype dtype;           /* SPX_DTYPE_F32 or SPX_DTYPE_F64 */
    uint32_t n;                /* rows / samples / block rows (m) */
    uint32_t d;                /* dim / channels / block cols */
    const void *data;          /* n x d, row-major */
    double t;                  /* producer time, or receive time */
    double t0, rate;           /* series */
    const spx_event *events;   /* series */
    size_t n_events;
    const char *block_id;      /* blocks; "" when absent */
    int end;                   /* end-of-stream marker */
    uint64_t seq;              /* stream-local message number, 1-based */

    /* Publishing from inside an update, for pipelines with one result per window or per sample
     * (several per input): publish(publish_ctx, applied, t) packs a result body from the state as it
     * is now, with `applied` rows/samples of this input counted and `t` as its input time (e.g. the
     * window's end). Returns 0 or -1. Set by the pipeline runner for each update; NULL elsewhere.
     * The publish policy then only counts what was applied after the last such publish. */
    int (*publish)(void *publish_ctx, uint32_t applied, double t);
    void *publish_ctx;
} spx_input;

/* Inputs a message carries, as counted in `count`: rows, samples, or one block (none for the
 * empty block [m, 0] that only carries an end-of-stream marker). */
static inline uint64_t spx_units(spx_kind kind, uint64_t n, uint64_t d)
{
    return kind == SPX_KIND_BLOCKS ? (d > 0 ? 1 : 0) : n;
}

typedef struct spx_param {
    const char *key;
    const char *value;
} spx_param;

typedef struct spx_pipeline_ops {
    const char *algo;          /* name used in attach, e.g. "topeig" */
    const char *summary;       /* one line for `spectra algos` and docs */
    unsigned kinds;            /* bitmask of spx_kind this algorithm accepts */

    /* Parses params (unknown keys and bad values are errors, with the reason in err) and builds an
     * instance. Returns 0 or -1. */
    int (*create)(void **state, const spx_stream_info *stream, const spx_param *params,
                  size_t n_params, char *err, size_t errlen);
    /* Applies one input. Returns 0, or -1 with err filled: the input is then counted as a pipeline
     * error and the state must be as if the input had not been applied. */
    int (*update)(void *state, const spx_input *in, char *err, size_t errlen);
    /* Packs the current estimate as one msgpack map (the "result" of a result body). */
    int (*result)(void *state, msgpack_packer *pk);
    void (*destroy)(void *state);

    /* Optional: named operations beyond the published result, asked for with the `get` op's
     * "detail" or the `call` op (e.g. "factors", "fit", "recluster", "model"). Runs on the worker,
     * in order with the inputs: after every input accepted before the request. `args` is the
     * request's "args" map (or NULL). Packs exactly one msgpack object, the reply's "value".
     * Returns SPX_OK, SPX_E_UNKNOWN_OP for a name it does not know, or another code with err
     * filled; on failure it must pack nothing. */
    spx_errcode (*command)(void *state, const char *name, const msgpack_object *args,
                           msgpack_packer *pk, char *err, size_t errlen);
    /* Names accepted by `command`, comma separated, for errors and `algos` ("" when none). */
    const char *commands;

    /* Durable state (snapshots, streams/snapshot.h). Every shipped kind implements both.
     * save packs ONE msgpack map holding everything later updates and results depend on (running
     * sums, bases, RNG state, counters, the "previous estimate" used for `change`...), so that an
     * instance restored from it continues bit for bit like the original. Use streams/state_codec.h
     * (arrays as raw little-endian bins, so doubles round-trip exactly). Worker thread, in order
     * with the inputs; must not change the state. Returns 0, or -1 with err filled.
     * load restores a saved map into an instance freshly made by create() with the same stream and
     * params. The map comes from a file: check every key, type and size and return -1 with err
     * filled on anything unexpected (never crash, never read out of bounds); after a failed load the
     * caller destroys the instance. Loop thread, at start-up. */
    int (*save)(void *state, msgpack_packer *pk, char *err, size_t errlen);
    int (*load)(void *state, const msgpack_object *saved, char *err, size_t errlen);
    /* Bumped whenever save's layout changes: a snapshot with another version is set aside. */
    uint32_t state_version;
} spx_pipeline_ops;

/* Looks an algorithm up by name; NULL when unknown. */
const spx_pipeline_ops *spx_pipeline_kind_find(const char *algo);
/* The table, NULL-terminated, for listing. */
const spx_pipeline_ops *const *spx_pipeline_kinds(void);

/* Helpers for adapters: parse one parameter value. Return 0, or -1 with a message naming the key. */
int spx_param_double(const spx_param *p, double lo, double hi, double *out, char *err,
                     size_t errlen);
int spx_param_uint(const spx_param *p, uint64_t lo, uint64_t hi, uint64_t *out, char *err,
                   size_t errlen);

#endif
