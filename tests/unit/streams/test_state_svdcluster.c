/* Durable state of the `svdcluster` kind: the shared round-trip contract (state_roundtrip.h) on
 * streams of blocks from a few latent low-rank groups, with so few open slots that groups are
 * closed (LRU) along the way, a retention limit, an end-of-stream re-clustering in the middle (so
 * the batch partition is part of the state), f64 and f32 blocks and ids of every length; the
 * `groups`, `factors` and `recluster` answers of a restored instance; and hostile values the
 * per-key damage of the contract does not reach. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "pipeline_kind.h"
#include "rng.h"
#include "state_commands.h"
#include "state_roundtrip.h"

enum { MAX_INPUTS = 48, M_MAX = 16 };

typedef struct blocks {
    spx_stream_info info;
    spx_input in[MAX_INPUTS];
    char ids[MAX_INPUTS][24];
    size_t count;
    void *data[MAX_INPUTS];
} blocks;

/* count blocks of m rows: block i belongs to latent group (i * 7 / 3) % groups (so groups come
 * back after others, which exercises LRU closing), is B_g C_i (rank 2) plus small noise, has
 * 2 + i % 3 columns, is f32 when i % 4 == 3 (if mix_f32) and carries end = 1 when i == end_at. */
static void blocks_make(blocks *b, uint32_t m, size_t count, size_t groups, int mix_f32,
                        size_t end_at, uint64_t seed)
{
    cr_assert_leq(count, MAX_INPUTS);
    cr_assert_leq(m, M_MAX);
    memset(b, 0, sizeof *b);
    b->info = (spx_stream_info){.name = "blocks", .kind = SPX_KIND_BLOCKS, .dim = m};
    spx_rng rng;
    spx_rng_seed(&rng, seed);
    double basis[8][M_MAX * 2];
    cr_assert_leq(groups, 8);
    for (size_t g = 0; g < groups; g++)
        spx_rng_normal_fill(&rng, basis[g], (size_t)m * 2);
    for (size_t i = 0; i < count; i++) {
        uint32_t n = 2 + (uint32_t)(i % 3);
        const double *bg = basis[(i * 7 / 3) % groups];
        int f32 = mix_f32 && i % 4 == 3;
        b->data[i] = malloc((size_t)m * n * (f32 ? sizeof(float) : sizeof(double)));
        cr_assert(b->data[i]);
        for (uint32_t r = 0; r < m; r++)
            for (uint32_t c = 0; c < n; c++) {
                double v = 1e-3 * spx_rng_normal(&rng);
                for (int l = 0; l < 2; l++)
                    v += bg[r * 2 + l] * spx_rng_normal(&rng);
                if (f32)
                    ((float *)b->data[i])[r * n + c] = (float)v;
                else
                    ((double *)b->data[i])[r * n + c] = v;
            }
        /* ids of 0 .. 20 bytes */
        snprintf(b->ids[i], sizeof b->ids[i], "%.*s", (int)(i % 21),
                 "blk-0123456789abcdefghij");
        b->in[i] = (spx_input){.kind = SPX_KIND_BLOCKS,
                               .dtype = f32 ? SPX_DTYPE_F32 : SPX_DTYPE_F64, .n = m, .d = n,
                               .data = b->data[i], .block_id = b->ids[i], .end = i == end_at,
                               .t = 10.0 + (double)i, .seq = i + 1};
    }
    b->count = count;
}

static void blocks_free(blocks *b)
{
    for (size_t i = 0; i < b->count; i++)
        free(b->data[i]);
}

static const spx_pipeline_ops *svdc_ops(void)
{
    const spx_pipeline_ops *ops = spx_pipeline_kind_find("svdcluster");
    cr_assert(ops);
    return ops;
}

static void feed(const spx_pipeline_ops *ops, void *st, const blocks *b, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++) {
        char err[256] = "";
        cr_assert_eq(ops->update(st, &b->in[i], err, sizeof err), 0, "update %zu: %s", i, err);
    }
}

/* The number in `key` of a's result. */
static uint64_t result_uint(const spx_pipeline_ops *ops, void *st, const char *key)
{
    msgpack_sbuffer sb;
    rt_result(ops, st, &sb);
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    cr_assert_eq(msgpack_unpack_next(&up, sb.data, sb.size, NULL), MSGPACK_UNPACK_SUCCESS);
    uint64_t v = 0;
    cr_assert_eq(spx_obj_uint(spx_map_get(&up.data, key), &v), 0, "%s", key);
    msgpack_unpacked_destroy(&up);
    msgpack_sbuffer_destroy(&sb);
    return v;
}

Test(state_svdcluster, declares_a_version)
{
    const spx_pipeline_ops *ops = svdc_ops();
    cr_assert(ops->save && ops->load);
    cr_assert_eq(ops->state_version, 1);
}

Test(state_svdcluster, roundtrip_open_and_closed_groups_with_batch)
{
    const spx_pipeline_ops *ops = svdc_ops();
    spx_param params[] = {{"rank", "2"}, {"eps", "0.05"}, {"max_open", "2"}, {"max_cols", "6"},
                          {"oversample", "2"}};
    blocks b;
    blocks_make(&b, 10, 26, 4, 1, 14, 21);
    /* the set-up must reach what the test is about: closed groups before the first split that
     * is checked after them, and a batch partition from the end marker */
    void *probe = rt_create(ops, &b.info, params, 5);
    feed(ops, probe, &b, 0, 8);
    cr_assert_gt(result_uint(ops, probe, "groups"), 2, "groups were closed by split 8");
    ops->destroy(probe);
    size_t splits[] = {0, 1, 8, 14, 15, 25, b.count};
    for (size_t i = 0; i < sizeof splits / sizeof splits[0]; i++)
        check_state_roundtrip(ops, &b.info, params, 5, b.in, b.count, splits[i]);
    blocks_free(&b);
}

Test(state_svdcluster, roundtrip_retention_limit_f32_full_screen)
{
    const spx_pipeline_ops *ops = svdc_ops();
    /* only 5 blocks retained; every open group screened; residual re-clustering at the end */
    spx_param params[] = {{"rank", "2"},        {"eps", "0.1"},          {"max_open", "3"},
                          {"max_blocks", "5"},  {"screen_depth", "0"},   {"method", "residual"},
                          {"oversample", "1"}};
    blocks b;
    blocks_make(&b, 8, 20, 5, 1, 6, 22);
    size_t splits[] = {3, 5, 7, 12};
    for (size_t i = 0; i < sizeof splits / sizeof splits[0]; i++)
        check_state_roundtrip(ops, &b.info, params, 7, b.in, b.count, splits[i]);
    blocks_free(&b);
}

Test(state_svdcluster, commands_after_restore)
{
    const spx_pipeline_ops *ops = svdc_ops();
    spx_param params[] = {{"rank", "2"}, {"eps", "0.05"}, {"max_open", "2"}, {"max_cols", "6"}};
    blocks b;
    blocks_make(&b, 10, 24, 4, 1, 9, 23);
    void *a = rt_create(ops, &b.info, params, 4);
    feed(ops, a, &b, 0, 12);
    void *r = rt_restore(ops, &b.info, params, 4, a);
    size_t groups = (size_t)result_uint(ops, a, "groups");
    cr_assert_geq(groups, 3);

    rt_args args;
    /* groups: default (online now: the batch is from block 9 and no longer current), both named */
    cr_assert_eq(rt_command_same(ops, a, r, "groups", NULL), SPX_OK);
    static const char *const parts[] = {"online", "batch"};
    for (size_t i = 0; i < 2; i++) {
        rt_args_begin(&args, 1);
        spx_pack_cstr(&args.pk, "partition");
        spx_pack_cstr(&args.pk, parts[i]);
        cr_assert_eq(rt_command_same(ops, a, r, "groups", rt_args_end(&args)), SPX_OK);
        rt_args_free(&args);
    }
    /* factors of every online group (closed ones too: their blocks are retained) */
    for (size_t g = 0; g < groups; g++) {
        rt_args_begin(&args, 2);
        spx_pack_cstr(&args.pk, "group");
        msgpack_pack_uint64(&args.pk, g);
        spx_pack_cstr(&args.pk, "partition");
        spx_pack_cstr(&args.pk, "online");
        cr_assert_eq(rt_command_same(ops, a, r, "factors", rt_args_end(&args)), SPX_OK);
        rt_args_free(&args);
    }
    /* a re-clustering on both, then more blocks: the results stay identical */
    rt_args_begin(&args, 1);
    spx_pack_cstr(&args.pk, "method");
    spx_pack_cstr(&args.pk, "maxnorm");
    cr_assert_eq(rt_command_same(ops, a, r, "recluster", rt_args_end(&args)), SPX_OK);
    rt_args_free(&args);
    feed(ops, a, &b, 12, b.count);
    feed(ops, r, &b, 12, b.count);
    msgpack_sbuffer ra, rb;
    rt_result(ops, a, &ra);
    rt_result(ops, r, &rb);
    cr_assert(ra.size == rb.size && !memcmp(ra.data, rb.data, ra.size));
    msgpack_sbuffer_destroy(&ra);
    msgpack_sbuffer_destroy(&rb);
    cr_assert_eq(rt_command_same(ops, a, r, "groups", NULL), SPX_OK);
    ops->destroy(a);
    ops->destroy(r);
    blocks_free(&b);
}

/* ---- hostile values: right keys and types, wrong contents ------------------------------------ */

/* a's save with key `key` replaced by the object packed in val. */
static void save_with(const spx_pipeline_ops *ops, void *a, const char *key,
                      const msgpack_sbuffer *val, msgpack_sbuffer *out)
{
    msgpack_sbuffer s;
    rt_save(ops, a, &s);
    msgpack_unpacked up, v;
    msgpack_unpacked_init(&up);
    msgpack_unpacked_init(&v);
    cr_assert_eq(msgpack_unpack_next(&up, s.data, s.size, NULL), MSGPACK_UNPACK_SUCCESS);
    cr_assert_eq(msgpack_unpack_next(&v, val->data, val->size, NULL), MSGPACK_UNPACK_SUCCESS);
    msgpack_sbuffer_init(out);
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, msgpack_sbuffer_write);
    const msgpack_object *o = &up.data;
    msgpack_pack_map(&pk, o->via.map.size);
    int found = 0;
    for (uint32_t i = 0; i < o->via.map.size; i++) {
        const msgpack_object_kv *kv = &o->via.map.ptr[i];
        msgpack_pack_object(&pk, kv->key);
        bool hit = kv->key.via.str.size == strlen(key) &&
                   !memcmp(kv->key.via.str.ptr, key, strlen(key));
        msgpack_pack_object(&pk, hit ? v.data : kv->val);
        found |= hit;
    }
    cr_assert(found, "no key %s in the save", key);
    msgpack_unpacked_destroy(&up);
    msgpack_unpacked_destroy(&v);
    msgpack_sbuffer_destroy(&s);
}

/* The bin of key `key` in a's save, as u64 values (malloc'd), and its count. */
static uint64_t *saved_u64s(const spx_pipeline_ops *ops, void *a, const char *key, size_t *n)
{
    msgpack_sbuffer s;
    rt_save(ops, a, &s);
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    cr_assert_eq(msgpack_unpack_next(&up, s.data, s.size, NULL), MSGPACK_UNPACK_SUCCESS);
    const msgpack_object *o = spx_map_get(&up.data, key);
    cr_assert(o && o->type == MSGPACK_OBJECT_BIN && o->via.bin.size % 8 == 0, "%s", key);
    *n = o->via.bin.size / 8;
    uint64_t *v = malloc(o->via.bin.size + 8);
    memcpy(v, o->via.bin.ptr, o->via.bin.size);
    msgpack_unpacked_destroy(&up);
    msgpack_sbuffer_destroy(&s);
    return v;
}

static void expect_refused(const spx_pipeline_ops *ops, void *a, const blocks *b,
                           const spx_param *params, size_t n_params, const char *key,
                           const uint64_t *vals, size_t n, const char *needle)
{
    msgpack_sbuffer val, save;
    msgpack_sbuffer_init(&val);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &val, msgpack_sbuffer_write);
    msgpack_pack_bin(&pk, n * 8);
    msgpack_pack_bin_body(&pk, vals, n * 8);
    save_with(ops, a, key, &val, &save);
    void *c = rt_create(ops, &b->info, params, n_params);
    char err[256] = "";
    cr_assert_eq(rt_load_bytes(ops, c, save.data, save.size, err, sizeof err), -1,
                 "%s: accepted a save that should fail with '%s'", key, needle);
    cr_assert(strstr(err, needle), "%s: error '%s' lacks '%s'", key, err, needle);
    ops->destroy(c);
    msgpack_sbuffer_destroy(&val);
    msgpack_sbuffer_destroy(&save);
}

Test(state_svdcluster, hostile_values_are_refused)
{
    const spx_pipeline_ops *ops = svdc_ops();
    spx_param params[] = {{"rank", "2"}, {"eps", "0.05"}, {"max_open", "2"}, {"max_cols", "6"}};
    blocks b;
    blocks_make(&b, 10, 12, 4, 0, 7, 24);
    void *a = rt_create(ops, &b.info, params, 4);
    feed(ops, a, &b, 0, b.count);
    size_t n;

    uint64_t *label = saved_u64s(ops, a, "label", &n);
    cr_assert_eq(n, 12);
    label[3] = 999;   /* a group that does not exist */
    expect_refused(ops, a, &b, params, 4, "label", label, n, "label");
    free(label);
    label = saved_u64s(ops, a, "label", &n);
    size_t other = 0;
    while (label[other] == label[0])
        other++;
    label[0] = label[other];   /* counts no longer match the group records */
    expect_refused(ops, a, &b, params, 4, "label", label, n, "disagree");
    free(label);

    uint64_t *slot_group = saved_u64s(ops, a, "slot_group", &n);
    cr_assert_eq(n, 2);
    slot_group[1] = slot_group[0];   /* one group in two slots */
    expect_refused(ops, a, &b, params, 4, "slot_group", slot_group, n, "two slots");
    free(slot_group);

    uint64_t *cur = saved_u64s(ops, a, "slot_cur", &n);
    cur[0] = 99;   /* more directions than the capacity */
    expect_refused(ops, a, &b, params, 4, "slot_cur", cur, n, "capacity");
    free(cur);

    uint64_t *offset = saved_u64s(ops, a, "offset", &n);
    offset[2] = offset[1];   /* an empty retained block */
    expect_refused(ops, a, &b, params, 4, "offset", offset, n, "retained");
    free(offset);

    uint64_t *member = saved_u64s(ops, a, "batch_member", &n);
    cr_assert_geq(n, 2);
    member[1] = member[0];   /* a block twice in the batch partition */
    expect_refused(ops, a, &b, params, 4, "batch_member", member, n, "batch");
    free(member);

    uint64_t *cols = saved_u64s(ops, a, "block_cols", &n);
    cols[2] += 1;   /* a width that disagrees with the retained block */
    expect_refused(ops, a, &b, params, 4, "block_cols", cols, n, "width");
    free(cols);

    ops->destroy(a);
    blocks_free(&b);
}
