/* libFuzzer harness for the wire codec: every input goes through the pre-scan, the ingest header
 * decoder (+ payload validation and an encode/decode round trip when it decodes) and the control
 * request decoder (+ the error reply that echoes its id). Any crash, sanitizer report or broken
 * invariant (abort) is a finding.
 *
 * Not part of the CMake build. By hand, from the repository root:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_DEFAULT_SOURCE -Istreams \
 *         streams/codec*.c tests/fuzz/fuzz_codec.c -lmsgpackc -lm -o /tmp/fuzz_codec
 *   python3 tests/fuzz/make-seeds.py          # (re)writes tests/fuzz/corpus/
 *   mkdir -p /tmp/fuzz-corpus && /tmp/fuzz_codec -max_total_time=120 -max_len=4096 \
 *         /tmp/fuzz-corpus tests/fuzz/corpus/ingest_header tests/fuzz/corpus/control_request
 * (new inputs go to the first directory, so the seed corpus in the tree stays small). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                       \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            fprintf(stderr, "invariant failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
            abort();                                                                      \
        }                                                                                 \
    } while (0)

static void check_header(const spx_ingest_header *h)
{
    CHECK(h->version == SPX_PROTOCOL_VERSION);
    CHECK(spx_name_valid(h->stream, strlen(h->stream)));
    uint64_t dim = spx_ingest_header_dim(h);
    CHECK(dim >= 1 && dim <= SPX_DIM_MAX);
    uint64_t bytes = h->shape[0] * h->shape[1] * spx_dtype_size(h->dtype);
    CHECK(h->shape[1] == 0 || bytes / h->shape[1] / spx_dtype_size(h->dtype) == h->shape[0]);
    CHECK(bytes <= SPX_PAYLOAD_MAX_BYTES);
    CHECK(h->n_events <= SPX_MAX_EVENTS);
    CHECK(h->n_events == 0 || h->kind == SPX_KIND_SERIES);
    if (h->kind == SPX_KIND_SERIES && h->shape[0] > 0)
        CHECK(h->has_t0 && isfinite(h->t0) && h->rate > 0 && isfinite(h->rate));
    if (h->kind == SPX_KIND_BLOCKS)
        CHECK(h->has_id && h->block_id[0] != '\0');
    CHECK(isfinite(h->scale));
}

static void check_round_trip(const spx_ingest_header *h)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    CHECK(spx_encode_ingest_header(h, &sb) == 0);
    spx_ingest_header back;
    char err[256];
    CHECK(spx_decode_ingest_header(sb.data, sb.size, &back, err, sizeof err) == SPX_OK);
    CHECK(strcmp(back.stream, h->stream) == 0 && back.kind == h->kind && back.dtype == h->dtype);
    CHECK(back.shape[0] == h->shape[0] && back.shape[1] == h->shape[1]);
    CHECK(back.has_seq == h->has_seq && back.seq == h->seq && back.end == h->end);
    CHECK(back.has_t == h->has_t && back.t == h->t && back.has_t0 == h->has_t0);
    CHECK(back.t0 == h->t0 && back.rate == h->rate && back.scale == h->scale);
    CHECK(back.has_id == h->has_id && strcmp(back.block_id, h->block_id) == 0);
    CHECK(back.n_events == h->n_events);
    for (size_t i = 0; i < h->n_events; i++) {
        CHECK(back.events[i].t == h->events[i].t);
        CHECK(strcmp(back.events[i].label, h->events[i].label) == 0);
        CHECK(back.events[i].duration == h->events[i].duration);
        CHECK(isnan(back.events[i].value) ? isnan(h->events[i].value)
                                          : back.events[i].value == h->events[i].value);
    }
    spx_ingest_header_clear(&back);
    msgpack_sbuffer_destroy(&sb);
}

/* A payload of the right length made from the input's bytes, one byte off alignment; then the
 * same with one byte too few and too many. */
static void check_payload(const spx_ingest_header *h, const uint8_t *data, size_t size)
{
    uint64_t bytes = h->shape[0] * h->shape[1] * spx_dtype_size(h->dtype);
    if (bytes > (1u << 20))
        return;
    unsigned char *buf = malloc((size_t)bytes + 2);
    CHECK(buf);
    for (size_t i = 0; i < bytes + 1; i++)
        buf[1 + i] = size ? data[i % size] : 0;
    char err[256];
    spx_errcode rc = spx_validate_payload(h, buf + 1, (size_t)bytes, err, sizeof err);
    CHECK(rc == SPX_OK || (rc == SPX_E_NOT_FINITE && h->dtype != SPX_DTYPE_I16));
    CHECK(spx_validate_payload(h, buf + 1, (size_t)bytes + 1, err, sizeof err) ==
          SPX_E_BAD_LENGTH);
    if (bytes > 0)
        CHECK(spx_validate_payload(h, buf + 1, (size_t)bytes - 1, err, sizeof err) ==
              SPX_E_BAD_LENGTH);
    free(buf);
}

static void exercise_request(const spx_request *req)
{
    static const char *keys[] = {"stream", "pipeline", "algo", "kind", "dim", "rate", "every",
                                 "interval_ms", "params", "channel_names"};
    char text[256];
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const msgpack_object *o = spx_map_get(req->root, keys[i]);
        uint64_t u;
        double d;
        bool b;
        (void)spx_obj_str(o, text, sizeof text);
        (void)spx_obj_uint(o, &u);
        (void)spx_obj_double(o, &d);
        (void)spx_obj_bool(o, &b);
        (void)spx_obj_scalar_text(o, text, sizeof text);
    }
    const msgpack_object *params = spx_map_get(req->root, "params");
    if (params && params->type == MSGPACK_OBJECT_MAP)
        for (uint32_t i = 0; i < params->via.map.size; i++)
            (void)spx_obj_scalar_text(&params->via.map.ptr[i].val, text, sizeof text);
}

static void check_error_reply(const msgpack_object *id)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    spx_pack_error_reply(&pk, id, SPX_E_UNKNOWN_OP, "fuzz");
    /* what we send must pass our own pre-scan (ids nest at most 15 deep inside the request) */
    CHECK(spx_msgpack_prescan(sb.data, sb.size, SPX_MSGPACK_MAX_DEPTH + 1, NULL, 0) == SPX_OK);
    msgpack_sbuffer_destroy(&sb);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    (void)spx_msgpack_prescan(data, size, SPX_MSGPACK_MAX_DEPTH, err, sizeof err);

    spx_ingest_header h;
    if (spx_decode_ingest_header(data, size, &h, err, sizeof err) == SPX_OK) {
        check_header(&h);
        check_payload(&h, data, size);
        check_round_trip(&h);
        spx_ingest_header_clear(&h);
    } else {
        CHECK(h.events == NULL && h.n_events == 0 && err[0] != '\0');
    }

    spx_request req;
    spx_errcode rc = spx_decode_request(data, size, &req, err, sizeof err);
    if (rc == SPX_OK) {
        CHECK(req.root && req.root->type == MSGPACK_OBJECT_MAP);
        CHECK(strlen(req.op) >= 1 && strlen(req.op) <= 31);
        exercise_request(&req);
        check_error_reply(req.id);
        spx_request_clear(&req);
    } else {
        /* a failed decode leaves nothing to free */
        CHECK(rc == SPX_E_BAD_REQUEST && req.op[0] == '\0' && !req.root && !req.unpacked.zone);
    }
    return 0;
}
