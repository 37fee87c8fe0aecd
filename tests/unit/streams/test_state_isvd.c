/* Durable state of the `isvd` kind: the shared round-trip contract (state_roundtrip.h) on block
 * streams split before, inside and after the run, with multi-chunk blocks, forgetting and
 * re-orthonormalisation due right after the split, in f64 and f32; the `left_vectors` detail of a
 * restored instance; and hostile values the per-key damage of the contract does not reach. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "pipeline_kind.h"
#include "rng.h"
#include "state_codec.h"
#include "state_commands.h"
#include "state_roundtrip.h"

enum { MAX_INPUTS = 32 };

typedef struct blocks {
    spx_stream_info info;
    spx_input in[MAX_INPUTS];
    size_t count;
    void *data;                /* all blocks, back to back */
} blocks;

/* count blocks of m rows and widths cycling through `widths`, nearly rank 4 plus noise, as f64 or
 * f32 row-major; the last input is a bare end-of-stream marker when with_end. */
static void blocks_make(blocks *b, uint32_t m, const uint32_t *widths, size_t n_widths,
                        size_t count, spx_dtype dtype, int with_end, uint64_t seed)
{
    cr_assert_leq(count + 1, MAX_INPUTS);
    memset(b, 0, sizeof *b);
    b->info = (spx_stream_info){.name = "blocks", .kind = SPX_KIND_BLOCKS, .dim = m};
    size_t total = 0;
    for (size_t i = 0; i < count; i++)
        total += (size_t)m * widths[i % n_widths];
    size_t elem = dtype == SPX_DTYPE_F32 ? sizeof(float) : sizeof(double);
    b->data = malloc(total * elem);
    cr_assert(b->data);
    spx_rng rng;
    spx_rng_seed(&rng, seed);
    double basis[64 * 4];
    cr_assert_leq(m, 64);
    spx_rng_normal_fill(&rng, basis, (size_t)m * 4);
    size_t at = 0;
    for (size_t i = 0; i < count; i++) {
        uint32_t n = widths[i % n_widths];
        for (uint32_t r = 0; r < m; r++)
            for (uint32_t c = 0; c < n; c++) {
                double v = 0.01 * spx_rng_normal(&rng);
                for (int l = 0; l < 4; l++)
                    v += basis[r * 4 + l] * spx_rng_normal(&rng) * (4.0 - l);
                if (dtype == SPX_DTYPE_F32)
                    ((float *)b->data)[at + (size_t)r * n + c] = (float)v;
                else
                    ((double *)b->data)[at + (size_t)r * n + c] = v;
            }
        b->in[i] = (spx_input){.kind = SPX_KIND_BLOCKS, .dtype = dtype, .n = m, .d = n,
                               .data = (const char *)b->data + at * elem, .block_id = "b",
                               .t = 1.0 + (double)i, .seq = i + 1};
        at += (size_t)m * n;
    }
    b->count = count;
    if (with_end)
        b->in[b->count++] = (spx_input){.kind = SPX_KIND_BLOCKS, .dtype = dtype, .n = m, .d = 0,
                                        .block_id = "", .end = 1, .seq = count + 1};
}

static void blocks_free(blocks *b) { free(b->data); }

static const spx_pipeline_ops *isvd_ops(void)
{
    const spx_pipeline_ops *ops = spx_pipeline_kind_find("isvd");
    cr_assert(ops);
    return ops;
}

Test(state_isvd, declares_a_version)
{
    const spx_pipeline_ops *ops = isvd_ops();
    cr_assert(ops->save && ops->load);
    cr_assert_eq(ops->state_version, 1);
}

Test(state_isvd, roundtrip_f64_chunks_forgetting_reorth)
{
    const spx_pipeline_ops *ops = isvd_ops();
    /* blocks of 5 and 7 columns applied in chunks of 3; re-orthonormalisation every 3 blocks, so a
     * split after 7 blocks restores since_reorth = 1 mid-period */
    spx_param params[] = {{"rank", "3"},       {"oversample", "2"}, {"chunk_cols", "3"},
                          {"forget", "0.9"},   {"reorth_every", "3"}};
    uint32_t widths[] = {5, 7, 1};
    blocks b;
    blocks_make(&b, 12, widths, 3, 14, SPX_DTYPE_F64, 1, 11);
    size_t splits[] = {0, 1, 7, 10, b.count};
    for (size_t i = 0; i < sizeof splits / sizeof splits[0]; i++)
        check_state_roundtrip(ops, &b.info, params, 5, b.in, b.count, splits[i]);
    blocks_free(&b);
}

Test(state_isvd, roundtrip_f32_full_capacity_no_reorth)
{
    const spx_pipeline_ops *ops = isvd_ops();
    /* q = m: the basis fills up and the core is truncated on every block after that */
    spx_param params[] = {{"rank", "4"}, {"oversample", "4"}, {"reorth_every", "0"}};
    uint32_t widths[] = {3, 2};
    blocks b;
    blocks_make(&b, 8, widths, 2, 12, SPX_DTYPE_F32, 0, 12);
    size_t splits[] = {2, 5, 11};
    for (size_t i = 0; i < sizeof splits / sizeof splits[0]; i++)
        check_state_roundtrip(ops, &b.info, params, 3, b.in, b.count, splits[i]);
    blocks_free(&b);
}

Test(state_isvd, left_vectors_after_restore)
{
    const spx_pipeline_ops *ops = isvd_ops();
    spx_param params[] = {{"rank", "3"}, {"chunk_cols", "4"}, {"reorth_every", "2"}};
    uint32_t widths[] = {6, 3};
    blocks b;
    blocks_make(&b, 10, widths, 2, 9, SPX_DTYPE_F64, 0, 13);
    void *a = rt_create(ops, &b.info, params, 3);
    for (size_t i = 0; i < 5; i++) {
        char err[256] = "";
        cr_assert_eq(ops->update(a, &b.in[i], err, sizeof err), 0, "%s", err);
    }
    void *r = rt_restore(ops, &b.info, params, 3, a);
    cr_assert_eq(rt_command_same(ops, a, r, "left_vectors", NULL), SPX_OK);
    for (size_t i = 5; i < b.count; i++) {
        char err[256] = "";
        cr_assert_eq(ops->update(a, &b.in[i], err, sizeof err), 0, "%s", err);
        cr_assert_eq(ops->update(r, &b.in[i], err, sizeof err), 0, "%s", err);
    }
    cr_assert_eq(rt_command_same(ops, a, r, "left_vectors", NULL), SPX_OK);
    ops->destroy(a);
    ops->destroy(r);
    blocks_free(&b);
}

/* ---- hostile values: right keys and types, wrong contents ------------------------------------ */

/* a's save with key `key` replaced by the packed value `val` (one msgpack object). */
static void save_with(const spx_pipeline_ops *ops, void *a, const char *key, const void *val,
                      size_t val_len, msgpack_sbuffer *out)
{
    msgpack_sbuffer s;
    rt_save(ops, a, &s);
    msgpack_unpacked up, v;
    msgpack_unpacked_init(&up);
    msgpack_unpacked_init(&v);
    cr_assert_eq(msgpack_unpack_next(&up, s.data, s.size, NULL), MSGPACK_UNPACK_SUCCESS);
    cr_assert_eq(msgpack_unpack_next(&v, val, val_len, NULL), MSGPACK_UNPACK_SUCCESS);
    msgpack_sbuffer_init(out);
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, msgpack_sbuffer_write);
    const msgpack_object *o = &up.data;
    msgpack_pack_map(&pk, o->via.map.size);
    int found = 0;
    for (uint32_t i = 0; i < o->via.map.size; i++) {
        const msgpack_object_kv *kv = &o->via.map.ptr[i];
        msgpack_pack_object(&pk, kv->key);
        if (kv->key.via.str.size == strlen(key) && !memcmp(kv->key.via.str.ptr, key, strlen(key))) {
            msgpack_pack_object(&pk, v.data);
            found = 1;
        } else {
            msgpack_pack_object(&pk, kv->val);
        }
    }
    cr_assert(found, "no key %s in the save", key);
    msgpack_unpacked_destroy(&up);
    msgpack_unpacked_destroy(&v);
    msgpack_sbuffer_destroy(&s);
}

static void refused(const spx_pipeline_ops *ops, const blocks *b, const spx_param *params,
                    size_t n_params, const msgpack_sbuffer *save, const char *needle)
{
    void *c = rt_create(ops, &b->info, params, n_params);
    char err[256] = "";
    cr_assert_eq(rt_load_bytes(ops, c, save->data, save->size, err, sizeof err), -1,
                 "accepted a save that should fail with '%s'", needle);
    cr_assert(strstr(err, needle), "error '%s' lacks '%s'", err, needle);
    ops->destroy(c);
}

Test(state_isvd, hostile_values_are_refused)
{
    const spx_pipeline_ops *ops = isvd_ops();
    spx_param params[] = {{"rank", "3"}, {"oversample", "1"}};
    uint32_t widths[] = {4};
    blocks b;
    blocks_make(&b, 9, widths, 1, 3, SPX_DTYPE_F64, 0, 14);
    void *a = rt_create(ops, &b.info, params, 2);
    for (size_t i = 0; i < b.count; i++) {
        char err[256] = "";
        cr_assert_eq(ops->update(a, &b.in[i], err, sizeof err), 0, "%s", err);
    }
    msgpack_sbuffer vb, save;
    msgpack_packer pk;

    /* another stream's size */
    msgpack_sbuffer_init(&vb);
    msgpack_packer_init(&pk, &vb, msgpack_sbuffer_write);
    msgpack_pack_uint64(&pk, 10);
    save_with(ops, a, "rows", vb.data, vb.size, &save);
    refused(ops, &b, params, 2, &save, "rows");
    msgpack_sbuffer_destroy(&save);
    msgpack_sbuffer_destroy(&vb);

    /* more directions than the capacity */
    msgpack_sbuffer_init(&vb);
    msgpack_packer_init(&pk, &vb, msgpack_sbuffer_write);
    msgpack_pack_uint64(&pk, 5);
    save_with(ops, a, "tracked", vb.data, vb.size, &save);
    refused(ops, &b, params, 2, &save, "tracked");
    msgpack_sbuffer_destroy(&save);
    msgpack_sbuffer_destroy(&vb);

    /* a basis that is not orthonormal, and singular values out of order or not finite */
    double u[9 * 4], s[4];
    for (size_t i = 0; i < 9 * 4; i++)
        u[i] = 1.0;
    const double bad_s[3][4] = {{1, 2, 0.5, 0.1}, {3, 2, 1, NAN}, {3, 2, 1, -0.5}};
    for (int k = 0; k < 4; k++) {
        msgpack_sbuffer_init(&vb);
        msgpack_packer_init(&pk, &vb, msgpack_sbuffer_write);
        const char *key = k == 0 ? "u" : "s";
        if (k == 0) {
            msgpack_pack_bin(&pk, sizeof u);
            msgpack_pack_bin_body(&pk, u, sizeof u);
        } else {
            memcpy(s, bad_s[k - 1], sizeof s);
            msgpack_pack_bin(&pk, sizeof s);
            msgpack_pack_bin_body(&pk, s, sizeof s);
        }
        save_with(ops, a, key, vb.data, vb.size, &save);
        refused(ops, &b, params, 2, &save, k == 0 ? "orthonormal" : "singular values");
        msgpack_sbuffer_destroy(&save);
        msgpack_sbuffer_destroy(&vb);
    }

    /* negative energy, and counters that cannot be */
    msgpack_sbuffer_init(&vb);
    msgpack_packer_init(&pk, &vb, msgpack_sbuffer_write);
    msgpack_pack_double(&pk, -1.0);
    save_with(ops, a, "energy", vb.data, vb.size, &save);
    refused(ops, &b, params, 2, &save, "energy");
    msgpack_sbuffer_destroy(&save);
    msgpack_sbuffer_destroy(&vb);
    msgpack_sbuffer_init(&vb);
    msgpack_packer_init(&pk, &vb, msgpack_sbuffer_write);
    msgpack_pack_uint64(&pk, 1);
    save_with(ops, a, "columns", vb.data, vb.size, &save);
    refused(ops, &b, params, 2, &save, "counters");
    msgpack_sbuffer_destroy(&save);
    msgpack_sbuffer_destroy(&vb);

    ops->destroy(a);
    blocks_free(&b);
}
