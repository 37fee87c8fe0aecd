/* The arguments of the control ops (docs/protocol.md section 3), read from a decoded request without
 * touching the daemon: key presence, types, lengths and ranges. Whether a stream, pipeline or
 * algorithm exists, and whether an algorithm likes its params, is for the op to find out afterwards.
 *
 * Kept apart from the ops so that every byte a client can send reaches this parser in the fuzz
 * harness (tests/fuzz/fuzz_control.c) without sockets, a loop or a registry. No allocation; every
 * string is copied into the args struct, so the request may be cleared before the args are used.
 * Every failure is SPX_E_BAD_REQUEST with the reason in err (prefixed with the op's name). */
#ifndef SPX_CONTROL_ARGS_H
#define SPX_CONTROL_ARGS_H

#include <stdint.h>

#include "codec.h"
#include "stream.h"
#include "pipeline.h"

#define SPX_CREATE_CHANNELS_MAX 1024
#define SPX_DETAIL_NAME_MAX 31          /* `get` details and `call` methods: 1..31 bytes */

/* drop {stream}; detach and get {stream, pipeline}. */
typedef struct spx_target_args {
    char stream[SPX_NAME_MAX + 1];
    char pipeline[SPX_NAME_MAX + 1];    /* "" when only a stream was asked for */
} spx_target_args;

/* create {stream, kind, dim, rate?, channel_names?, channel_units?}. About 130 KiB: keep it static
 * or on the heap, not on a worker's stack. */
typedef struct spx_create_args {
    char stream[SPX_NAME_MAX + 1];
    spx_kind kind;
    uint32_t dim;                       /* [1, SPX_DIM_MAX] */
    double rate;                        /* 0 when absent */
    size_t n_names, n_units;            /* 0 when absent; units: exactly dim, series only */
    char names[SPX_CREATE_CHANNELS_MAX][SPX_LABEL_MAX + 1];
    char units[SPX_CREATE_CHANNELS_MAX][SPX_LABEL_MAX + 1];
    bool has_durability;                /* absent: the daemon's default */
    spx_durability durability;
    bool dedupe;                        /* false when absent */
} spx_create_args;

/* attach {stream, pipeline, algo, params?, every?, interval_ms?}. */
typedef struct spx_attach_args {
    char stream[SPX_NAME_MAX + 1];
    char pipeline[SPX_NAME_MAX + 1];
    char algo[SPX_NAME_MAX + 1];
    spx_publish_policy policy;          /* default every 0, interval_ms 250 */
    size_t n_params;
    char keys[SPX_PARAMS_MAX][SPX_NAME_MAX + 1];
    char values[SPX_PARAMS_MAX][SPX_PARAM_TEXT_MAX];   /* scalars rendered as text */
} spx_attach_args;

/* get with a detail, or call: {stream, pipeline, detail | method, args?}. */
typedef struct spx_command_args {
    spx_target_args target;
    char name[SPX_DETAIL_NAME_MAX + 1]; /* the detail or method; "" for a plain get */
    const msgpack_object *args;         /* a map, or NULL when absent or nil; points into the
                                           request, so it lives as long as the request does */
} spx_command_args;

spx_errcode spx_control_parse_stream(const spx_request *req, spx_target_args *out, char *err,
                                     size_t errlen);
spx_errcode spx_control_parse_target(const spx_request *req, spx_target_args *out, char *err,
                                     size_t errlen);
spx_errcode spx_control_parse_create(const spx_request *req, spx_create_args *out, char *err,
                                     size_t errlen);
spx_errcode spx_control_parse_attach(const spx_request *req, spx_attach_args *out, char *err,
                                     size_t errlen);
/* `get`: name is the detail ("" for a plain get, whose args are then ignored). */
spx_errcode spx_control_parse_get(const spx_request *req, spx_command_args *out, char *err,
                                  size_t errlen);
spx_errcode spx_control_parse_call(const spx_request *req, spx_command_args *out, char *err,
                                   size_t errlen);

/* The params of an attach as the pipeline takes them (pointing into args). */
size_t spx_attach_args_params(const spx_attach_args *args, spx_param *params);

#endif
