/* The control ops (docs/protocol.md section 3). Each handler either fails without packing anything
 * (returning the code, with the reason in err) or packs a whole reply starting with spx_reply_begin. */
#ifndef SPX_CONTROL_OPS_H
#define SPX_CONTROL_OPS_H

#include <msgpack.h>
#include <stdbool.h>

#include "codec.h"
#include "control_args.h"
#include "server.h"

#define SPX_ENVELOPE_MAX 4

/* The routing frames of a request (peer identity, delimiter), mirrored on the reply. */
typedef struct spx_envelope {
    char *frames[SPX_ENVELOPE_MAX];
    size_t lens[SPX_ENVELOPE_MAX];
    size_t n;
} spx_envelope;

void spx_envelope_free(spx_envelope *env);

typedef spx_errcode (*spx_control_fn)(spx_server *srv, spx_request *req, msgpack_packer *pk,
                                      char *err, size_t errlen);
typedef struct spx_control_op {
    const char *name;
    spx_control_fn fn;
    bool mutates;              /* refused with `busy` while shutting down */
} spx_control_op;

/* Packs {ok: true, [id,] ...} with room for n_extra more key/value pairs. */
void spx_reply_begin(msgpack_packer *pk, const spx_request *req, size_t n_extra);

/* Finds the stream and pipeline a request names. */
spx_errcode spx_find_target(spx_server *srv, const spx_target_args *t, spx_stream **s,
                            spx_pipeline **p, char *err, size_t errlen);
/* Reads "stream" and "pipeline" from the request and finds them. */
spx_errcode spx_lookup_pipeline(spx_server *srv, const spx_request *req, spx_stream **s,
                                spx_pipeline **p, char *err, size_t errlen);

spx_errcode spx_op_ping(spx_server *, spx_request *, msgpack_packer *, char *, size_t);
spx_errcode spx_op_create(spx_server *, spx_request *, msgpack_packer *, char *, size_t);
spx_errcode spx_op_drop(spx_server *, spx_request *, msgpack_packer *, char *, size_t);
spx_errcode spx_op_list(spx_server *, spx_request *, msgpack_packer *, char *, size_t);
spx_errcode spx_op_attach(spx_server *, spx_request *, msgpack_packer *, char *, size_t);
spx_errcode spx_op_detach(spx_server *, spx_request *, msgpack_packer *, char *, size_t);
spx_errcode spx_op_stats(spx_server *, spx_request *, msgpack_packer *, char *, size_t);
spx_errcode spx_op_algos(spx_server *, spx_request *, msgpack_packer *, char *, size_t);
/* Durable state: `save` starts snapshots (one stream or all); `position` says what of a stream is
 * accepted, applied and durable, so a producer can resume after a restart. */
spx_errcode spx_op_save(spx_server *, spx_request *, msgpack_packer *, char *, size_t);
spx_errcode spx_op_position(spx_server *, spx_request *, msgpack_packer *, char *, size_t);
/* `get` and `call` park the request: on success they take the envelope (env->n becomes 0) and the
 * reply is sent when the pipeline has applied what was accepted before the request. */
spx_errcode spx_op_get(spx_server *srv, spx_request *req, spx_envelope *env, char *err,
                       size_t errlen);
spx_errcode spx_op_call(spx_server *srv, spx_request *req, spx_envelope *env, char *err,
                        size_t errlen);

#endif
