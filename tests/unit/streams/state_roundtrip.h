/* The durable-state contract every pipeline kind must keep (spx_pipeline_ops.save/load), checked
 * the same way for each kind:
 *   - save does not change the state (two saves give the same bytes);
 *   - an instance loaded from a save saves the same bytes, and from then on gives byte-identical
 *     result bodies to the original for the same inputs (a restart is invisible);
 *   - a damaged save is refused with a message, never half-loaded and never a crash: every
 *     top-level key removed, every bin cut short by one byte, every value replaced by nil.
 * Include from one test file per kind; uses Criterion asserts. */
#ifndef SPX_TEST_STATE_ROUNDTRIP_H
#define SPX_TEST_STATE_ROUNDTRIP_H

#include <criterion/criterion.h>
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline_kind.h"

static inline void *rt_create(const spx_pipeline_ops *ops, const spx_stream_info *info,
                              const spx_param *params, size_t n_params)
{
    void *st = NULL;
    char err[256] = "";
    cr_assert_eq(ops->create(&st, info, params, n_params, err, sizeof err), 0, "create: %s", err);
    return st;
}

static inline void rt_save(const spx_pipeline_ops *ops, void *st, msgpack_sbuffer *sb)
{
    msgpack_sbuffer_init(sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    char err[256] = "";
    cr_assert(ops->save && ops->load, "%s has no save/load", ops->algo);
    cr_assert_eq(ops->save(st, &pk, err, sizeof err), 0, "%s save: %s", ops->algo, err);
    cr_assert_gt(sb->size, 0);
}

static inline void rt_result(const spx_pipeline_ops *ops, void *st, msgpack_sbuffer *sb)
{
    msgpack_sbuffer_init(sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    cr_assert_eq(ops->result(st, &pk), 0);
}

static inline int rt_load_bytes(const spx_pipeline_ops *ops, void *st, const void *buf, size_t len,
                                char *err, size_t errlen)
{
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    size_t off = 0;
    cr_assert_eq(msgpack_unpack_next(&up, buf, len, &off), MSGPACK_UNPACK_SUCCESS);
    int rc = ops->load(st, &up.data, err, errlen);
    msgpack_unpacked_destroy(&up);
    return rc;
}

/* Applies inputs [from, to) to st; after each, packs a result into `results` (appending) so the
 * state's publish-dependent parts (e.g. `change`) are exercised too. */
static inline void rt_feed(const spx_pipeline_ops *ops, void *st, const spx_input *in, size_t from,
                           size_t to, msgpack_sbuffer *results)
{
    for (size_t i = from; i < to; i++) {
        char err[256] = "";
        cr_assert_eq(ops->update(st, &in[i], err, sizeof err), 0, "update %zu: %s", i, err);
        msgpack_sbuffer r;
        rt_result(ops, st, &r);
        msgpack_sbuffer_write(results, r.data, r.size);
        msgpack_sbuffer_destroy(&r);
    }
}

/* Packs `o` into sb, leaving out top-level key `skip` (or none when skip < 0), cutting bin value
 * `cut` short by one byte, and replacing value `nil_at` by nil. */
static inline void rt_pack_damaged(const msgpack_object *o, long skip, long cut, long nil_at,
                                   msgpack_sbuffer *sb)
{
    msgpack_sbuffer_init(sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    uint32_t n = o->via.map.size;
    msgpack_pack_map(&pk, n - (skip >= 0 ? 1 : 0));
    for (uint32_t i = 0; i < n; i++) {
        if ((long)i == skip)
            continue;
        const msgpack_object_kv *kv = &o->via.map.ptr[i];
        msgpack_pack_object(&pk, kv->key);
        if ((long)i == nil_at) {
            msgpack_pack_nil(&pk);
        } else if ((long)i == cut && kv->val.type == MSGPACK_OBJECT_BIN && kv->val.via.bin.size) {
            msgpack_pack_bin(&pk, kv->val.via.bin.size - 1);
            msgpack_pack_bin_body(&pk, kv->val.via.bin.ptr, kv->val.via.bin.size - 1);
        } else {
            msgpack_pack_object(&pk, kv->val);
        }
    }
}

/* The whole contract on one input sequence, saved after `split` inputs. */
static inline void check_state_roundtrip(const spx_pipeline_ops *ops, const spx_stream_info *info,
                                         const spx_param *params, size_t n_params,
                                         const spx_input *inputs, size_t n_inputs, size_t split)
{
    cr_assert_leq(split, n_inputs);
    void *a = rt_create(ops, info, params, n_params);
    msgpack_sbuffer ra, rb;
    msgpack_sbuffer_init(&ra);
    msgpack_sbuffer_init(&rb);
    rt_feed(ops, a, inputs, 0, split, &ra);
    msgpack_sbuffer_clear(&ra);

    msgpack_sbuffer s1, s2, s3;
    rt_save(ops, a, &s1);
    rt_save(ops, a, &s2);
    cr_assert(s1.size == s2.size && !memcmp(s1.data, s2.data, s1.size),
              "%s: save changed the state (two saves differ)", ops->algo);

    void *b = rt_create(ops, info, params, n_params);
    char err[256] = "";
    cr_assert_eq(rt_load_bytes(ops, b, s1.data, s1.size, err, sizeof err), 0, "%s load: %s",
                 ops->algo, err);
    rt_save(ops, b, &s3);
    cr_assert(s1.size == s3.size && !memcmp(s1.data, s3.data, s1.size),
              "%s: a loaded instance saves different bytes (%zu vs %zu)", ops->algo, s3.size,
              s1.size);

    rt_feed(ops, a, inputs, split, n_inputs, &ra);
    rt_feed(ops, b, inputs, split, n_inputs, &rb);
    cr_assert(ra.size == rb.size && (ra.size == 0 || !memcmp(ra.data, rb.data, ra.size)),
              "%s: results after restore differ from the uninterrupted run", ops->algo);
    msgpack_sbuffer rfa, rfb;
    rt_result(ops, a, &rfa);
    rt_result(ops, b, &rfb);
    cr_assert(rfa.size == rfb.size && !memcmp(rfa.data, rfb.data, rfa.size),
              "%s: final results differ after restore", ops->algo);
    msgpack_sbuffer_destroy(&rfa);
    msgpack_sbuffer_destroy(&rfb);

    /* Damaged saves: each must be refused with a message. */
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    cr_assert_eq(msgpack_unpack_next(&up, s1.data, s1.size, NULL), MSGPACK_UNPACK_SUCCESS);
    cr_assert_eq(up.data.type, MSGPACK_OBJECT_MAP, "%s: save must pack one map", ops->algo);
    uint32_t nkeys = up.data.via.map.size;
    for (uint32_t i = 0; i < nkeys; i++) {
        const msgpack_object *key = &up.data.via.map.ptr[i].key;
        for (int damage = 0; damage < 3; damage++) {
            /* an empty bin cannot be cut short: packed unchanged it would (rightly) load */
            if (damage == 1 && (up.data.via.map.ptr[i].val.type != MSGPACK_OBJECT_BIN ||
                                up.data.via.map.ptr[i].val.via.bin.size == 0))
                continue;
            if (damage == 2 && up.data.via.map.ptr[i].val.type == MSGPACK_OBJECT_NIL)
                continue;
            msgpack_sbuffer d;
            rt_pack_damaged(&up.data, damage == 0 ? (long)i : -1, damage == 1 ? (long)i : -1,
                            damage == 2 ? (long)i : -1, &d);
            void *c = rt_create(ops, info, params, n_params);
            char derr[256] = "";
            int rc = rt_load_bytes(ops, c, d.data, d.size, derr, sizeof derr);
            cr_assert_eq(rc, -1, "%s: load accepted a save with key '%.*s' %s", ops->algo,
                         (int)key->via.str.size, key->via.str.ptr,
                         damage == 0 ? "removed" : damage == 1 ? "cut short" : "set to nil");
            cr_assert(derr[0], "%s: refused load gave no message", ops->algo);
            ops->destroy(c);
            msgpack_sbuffer_destroy(&d);
        }
    }
    msgpack_unpacked_destroy(&up);

    msgpack_sbuffer_destroy(&s1);
    msgpack_sbuffer_destroy(&s2);
    msgpack_sbuffer_destroy(&s3);
    msgpack_sbuffer_destroy(&ra);
    msgpack_sbuffer_destroy(&rb);
    ops->destroy(a);
    ops->destroy(b);
}

#endif
