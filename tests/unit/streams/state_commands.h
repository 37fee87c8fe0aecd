/* Named commands after a restore: helpers for the per-kind state tests (test_state_*.c). A
 * restored instance must answer `get` details and `call`s with the same bytes as the original. */
#ifndef SPX_TEST_STATE_COMMANDS_H
#define SPX_TEST_STATE_COMMANDS_H

#include <criterion/criterion.h>
#include <msgpack.h>
#include <string.h>

#include "state_roundtrip.h"

/* A fresh instance loaded from a's save. */
static inline void *rt_restore(const spx_pipeline_ops *ops, const spx_stream_info *info,
                               const spx_param *params, size_t n_params, void *a)
{
    msgpack_sbuffer s;
    rt_save(ops, a, &s);
    void *b = rt_create(ops, info, params, n_params);
    char err[256] = "";
    cr_assert_eq(rt_load_bytes(ops, b, s.data, s.size, err, sizeof err), 0, "%s load: %s",
                 ops->algo, err);
    msgpack_sbuffer_destroy(&s);
    return b;
}

/* Runs command `name` (args: a msgpack map packed into args_mp, or NULL) on st; returns its code
 * and the packed value in sb (initialised here; destroy it). */
static inline spx_errcode rt_command(const spx_pipeline_ops *ops, void *st, const char *name,
                                     const msgpack_object *args, msgpack_sbuffer *sb)
{
    msgpack_sbuffer_init(sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    char err[256] = "";
    return ops->command(st, name, args, &pk, err, sizeof err);
}

/* The same command on a and b gives the same code and the same bytes; returns the code. */
static inline spx_errcode rt_command_same(const spx_pipeline_ops *ops, void *a, void *b,
                                          const char *name, const msgpack_object *args)
{
    msgpack_sbuffer ra, rb;
    spx_errcode ca = rt_command(ops, a, name, args, &ra);
    spx_errcode cb = rt_command(ops, b, name, args, &rb);
    cr_assert_eq(ca, cb, "%s %s: codes differ (%d vs %d)", ops->algo, name, ca, cb);
    cr_assert(ra.size == rb.size && (ra.size == 0 || !memcmp(ra.data, rb.data, ra.size)),
              "%s %s: restored instance answers differently (%zu vs %zu bytes)", ops->algo, name,
              ra.size, rb.size);
    msgpack_sbuffer_destroy(&ra);
    msgpack_sbuffer_destroy(&rb);
    return ca;
}

/* Holds a msgpack map built by the caller (e.g. {"group": 1}) as an object. */
typedef struct rt_args {
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_unpacked up;
} rt_args;

static inline void rt_args_begin(rt_args *a, uint32_t n_keys)
{
    msgpack_sbuffer_init(&a->sb);
    msgpack_packer_init(&a->pk, &a->sb, msgpack_sbuffer_write);
    msgpack_unpacked_init(&a->up);
    msgpack_pack_map(&a->pk, n_keys);
}

static inline const msgpack_object *rt_args_end(rt_args *a)
{
    cr_assert_eq(msgpack_unpack_next(&a->up, a->sb.data, a->sb.size, NULL),
                 MSGPACK_UNPACK_SUCCESS);
    return &a->up.data;
}

static inline void rt_args_free(rt_args *a)
{
    msgpack_unpacked_destroy(&a->up);
    msgpack_sbuffer_destroy(&a->sb);
}

#endif
