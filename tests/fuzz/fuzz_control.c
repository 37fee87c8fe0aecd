/* libFuzzer harness for the control path up to the daemon's state: the request decoder
 * (spx_decode_request) and the argument parser of every op (daemon/control_args.c), which is all
 * the daemon does with a control frame before it looks a name up. Every input that decodes is
 * parsed as every op (the fuzzer need not guess the op's name to reach a parser), and must parse
 * the same after a re-pack. Any crash, leak, sanitizer report or broken invariant (abort) is a
 * finding.
 *
 * Built and run by CMake when clang has libFuzzer (ctest -L fuzz, tests/fuzz/run-fuzzer.sh); the
 * gcc build replays the committed corpus through it (replay_corpus). By hand:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_DEFAULT_SOURCE -Istreams -Idaemon \
 *         -Ialgorithms streams/codec*.c daemon/control_args.c tests/fuzz/fuzz_control.c \
 *         -lmsgpackc -lm -o /tmp/fuzz_control
 *   mkdir -p /tmp/fc && /tmp/fuzz_control -max_total_time=120 -max_len=4096 /tmp/fc \
 *         tests/fuzz/corpus/control_request tests/fuzz/corpus/control_args */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "control_args.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                       \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            fprintf(stderr, "invariant failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
            abort();                                                                      \
        }                                                                                 \
    } while (0)

/* What every op's parser made of one request, to compare two parses. */
typedef struct parsed {
    spx_errcode stream_rc, target_rc, create_rc, attach_rc, get_rc, call_rc;
    spx_target_args stream, target;
    spx_create_args create;
    spx_attach_args attach;
    spx_command_args get, call;
} parsed;

static void check_text(const char *s, size_t cap, bool nonempty)
{
    size_t n = strnlen(s, cap);
    CHECK(n < cap);
    CHECK(!nonempty || n > 0);
}

static void check_failure(spx_errcode rc, const char *err)
{
    CHECK(rc == SPX_E_BAD_REQUEST);
    CHECK(err[0] != '\0');
}

static void check_command(const spx_command_args *a, bool named)
{
    check_text(a->target.stream, sizeof a->target.stream, false);
    check_text(a->target.pipeline, sizeof a->target.pipeline, false);
    check_text(a->name, sizeof a->name, named);
    CHECK(!a->args || a->args->type == MSGPACK_OBJECT_MAP);
    CHECK(a->name[0] || !a->args);   /* a plain get ignores args */
}

static void parse_all(const spx_request *req, parsed *out)
{
    char err[512];
    err[0] = '\0';
    if ((out->stream_rc = spx_control_parse_stream(req, &out->stream, err, sizeof err)) == SPX_OK)
        check_text(out->stream.stream, sizeof out->stream.stream, false);
    else
        check_failure(out->stream_rc, err);

    err[0] = '\0';
    if ((out->target_rc = spx_control_parse_target(req, &out->target, err, sizeof err)) == SPX_OK)
        check_text(out->target.pipeline, sizeof out->target.pipeline, false);
    else
        check_failure(out->target_rc, err);

    err[0] = '\0';
    spx_create_args *c = &out->create;
    if ((out->create_rc = spx_control_parse_create(req, c, err, sizeof err)) == SPX_OK) {
        CHECK(c->kind == SPX_KIND_ROWS || c->kind == SPX_KIND_SERIES || c->kind == SPX_KIND_BLOCKS);
        CHECK(c->dim >= 1 && c->dim <= SPX_DIM_MAX);
        CHECK(c->n_names <= SPX_CREATE_CHANNELS_MAX && c->n_units <= SPX_CREATE_CHANNELS_MAX);
        CHECK(c->n_units == 0 || (c->kind == SPX_KIND_SERIES && c->n_units == c->dim));
        for (size_t i = 0; i < c->n_names; i++)
            check_text(c->names[i], sizeof c->names[i], false);
        for (size_t i = 0; i < c->n_units; i++)
            check_text(c->units[i], sizeof c->units[i], false);
    } else {
        check_failure(out->create_rc, err);
    }

    err[0] = '\0';
    spx_attach_args *a = &out->attach;
    if ((out->attach_rc = spx_control_parse_attach(req, a, err, sizeof err)) == SPX_OK) {
        check_text(a->algo, sizeof a->algo, false);
        CHECK(a->n_params <= SPX_PARAMS_MAX);
        spx_param params[SPX_PARAMS_MAX];
        CHECK(spx_attach_args_params(a, params) == a->n_params);
        for (size_t i = 0; i < a->n_params; i++) {
            check_text(params[i].key, sizeof a->keys[i], false);
            check_text(params[i].value, sizeof a->values[i], false);
        }
    } else {
        check_failure(out->attach_rc, err);
    }

    err[0] = '\0';
    if ((out->get_rc = spx_control_parse_get(req, &out->get, err, sizeof err)) == SPX_OK)
        check_command(&out->get, false);
    else
        check_failure(out->get_rc, err);

    err[0] = '\0';
    if ((out->call_rc = spx_control_parse_call(req, &out->call, err, sizeof err)) == SPX_OK)
        check_command(&out->call, true);
    else
        check_failure(out->call_rc, err);

    /* The error reply the daemon would send must pass its own pre-scan. */
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    spx_pack_error_reply(&pk, req->id, SPX_E_BAD_REQUEST, err);
    CHECK(spx_msgpack_prescan(sb.data, sb.size, SPX_MSGPACK_MAX_DEPTH + 1, NULL, 0) == SPX_OK);
    msgpack_sbuffer_destroy(&sb);
}

static bool same_bits(double a, double b)
{
    return memcmp(&a, &b, sizeof a) == 0;
}

static bool same_target(const spx_target_args *a, const spx_target_args *b)
{
    return !strcmp(a->stream, b->stream) && !strcmp(a->pipeline, b->pipeline);
}

static bool same_command(const spx_command_args *a, const spx_command_args *b)
{
    return same_target(&a->target, &b->target) && !strcmp(a->name, b->name) &&
           !a->args == !b->args && (!a->args || a->args->via.map.size == b->args->via.map.size);
}

static void check_same(const parsed *a, const parsed *b)
{
    CHECK(a->stream_rc == b->stream_rc && a->target_rc == b->target_rc);
    CHECK(a->create_rc == b->create_rc && a->attach_rc == b->attach_rc);
    CHECK(a->get_rc == b->get_rc && a->call_rc == b->call_rc);
    if (a->stream_rc == SPX_OK)
        CHECK(same_target(&a->stream, &b->stream));
    if (a->target_rc == SPX_OK)
        CHECK(same_target(&a->target, &b->target));
    if (a->create_rc == SPX_OK) {
        const spx_create_args *x = &a->create, *y = &b->create;
        CHECK(!strcmp(x->stream, y->stream) && x->kind == y->kind && x->dim == y->dim);
        CHECK(same_bits(x->rate, y->rate));
        CHECK(x->n_names == y->n_names && x->n_units == y->n_units);
        for (size_t i = 0; i < x->n_names; i++)
            CHECK(!strcmp(x->names[i], y->names[i]));
        for (size_t i = 0; i < x->n_units; i++)
            CHECK(!strcmp(x->units[i], y->units[i]));
    }
    if (a->attach_rc == SPX_OK) {
        const spx_attach_args *x = &a->attach, *y = &b->attach;
        CHECK(!strcmp(x->stream, y->stream) && !strcmp(x->pipeline, y->pipeline));
        CHECK(!strcmp(x->algo, y->algo) && x->n_params == y->n_params);
        CHECK(x->policy.every == y->policy.every && x->policy.interval_ms == y->policy.interval_ms);
        for (size_t i = 0; i < x->n_params; i++)
            CHECK(!strcmp(x->keys[i], y->keys[i]) && !strcmp(x->values[i], y->values[i]));
    }
    if (a->get_rc == SPX_OK)
        CHECK(same_command(&a->get, &b->get));
    if (a->call_rc == SPX_OK)
        CHECK(same_command(&a->call, &b->call));
}

/* Two parses (~530 KiB with the channel labels): static, the harness is single-threaded. */
static parsed first, second;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    spx_request req;
    spx_errcode rc = spx_decode_request(data, size, &req, err, sizeof err);
    if (rc != SPX_OK) {
        CHECK(rc == SPX_E_BAD_REQUEST && err[0] != '\0');
        CHECK(req.op[0] == '\0' && !req.root && !req.id && !req.unpacked.zone);
        return 0;
    }
    CHECK(req.root && req.root->type == MSGPACK_OBJECT_MAP);
    CHECK(strlen(req.op) >= 1 && strlen(req.op) < sizeof req.op);
    parse_all(&req, &first);

    /* What msgpack-c packs back from the unpacked request is a request too, and says the same. */
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_object(&pk, *req.root);
    spx_request again;
    CHECK(spx_decode_request(sb.data, sb.size, &again, err, sizeof err) == SPX_OK);
    CHECK(!strcmp(again.op, req.op) && !again.id == !req.id);
    parse_all(&again, &second);
    check_same(&first, &second);
    spx_request_clear(&again);
    msgpack_sbuffer_destroy(&sb);
    spx_request_clear(&req);
    return 0;
}
