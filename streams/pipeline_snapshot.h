/* A pipeline's durable state: its identity (name, algorithm, parameters, publish policy), its
 * counters and newest result, and the algorithm's own saved map (spx_pipeline_ops.save).
 *
 *   {"name", "algo", "state_version", "params": {key: value}, "every", "interval_ms",
 *    "updates", "errors", "published", "count", "input_seq", "update_seconds",
 *    "count_since_publish", "t_in", "dirty", "latest": bin | nil, "state": {...}}
 *
 * Packed on the worker thread that owns the pipeline (in order with its inputs), restored on the
 * loop thread at start-up. */
#ifndef SPX_PIPELINE_SNAPSHOT_H
#define SPX_PIPELINE_SNAPSHOT_H

#include <msgpack.h>

#include "pipeline.h"

/* The `call` name that returns the algorithm's saved map (the same bytes a snapshot holds), so an
 * operator or a test can compare two instances' states exactly. */
#define SPX_STATE_COMMAND "state"

/* Worker thread: packs the snapshot map into a new buffer (*out, owned by the caller). 0, or -1
 * with err filled (nothing allocated). */
int spx_pipeline_pack_snapshot(spx_pipeline *p, unsigned char **out, size_t *out_len, char *err,
                               size_t errlen);
/* Worker thread: the algorithm's saved map alone (the SPX_STATE_COMMAND value). */
spx_errcode spx_pipeline_pack_state(spx_pipeline *p, unsigned char **out, size_t *out_len,
                                    char *err, size_t errlen);
/* Loop thread: rebuilds a pipeline of stream `stream_name` from a snapshot map: creates it with the
 * saved algorithm and parameters, loads the algorithm's state, restores counters and the newest
 * result. SPX_OK, or an error code with err filled (nothing is created). */
spx_errcode spx_pipeline_restore(spx_pipeline **out, const char *stream_name,
                                 const spx_stream_info *info, const msgpack_object *saved,
                                 char *err, size_t errlen);

#endif
