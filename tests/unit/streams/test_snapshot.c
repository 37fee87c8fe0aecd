/* Stream snapshot files (streams/snapshot.h): a stream's metadata, counters and sequence numbers
 * come back exactly; any damage (a flipped byte anywhere, a cut anywhere, a well-formed body with
 * bad values) is refused with a reason and leaves the registry as it was. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline_snapshot.h"
#include "snapshot.h"

static spx_stream *make_stream(spx_registry *r)
{
    const char *names[3] = {"C3", "Cz", "C4"};
    const char *units[3] = {"uV", "uV", "mV"};
    spx_stream *s;
    char err[256];
    cr_assert_eq(spx_registry_create(r, "eeg-1", SPX_KIND_SERIES, 3, 160.0, names, 3, &s, err,
                                     sizeof err), SPX_OK, "%s", err);
    cr_assert_eq(spx_stream_set_units(s, units, 3, err, sizeof err), SPX_OK);
    s->durability = SPX_DURABILITY_JOURNAL;
    s->dedupe = true;
    s->c = (spx_stream_counters){.messages = 1234, .count = 99999, .bytes = 1ull << 33,
                                 .events = 17, .rejected = 5, .seq_gaps = 2, .seq_repeats = 3,
                                 .time_gaps = 4, .time_overlaps = 6, .duplicates = 7};
    s->c.errors[SPX_E_NOT_FINITE] = 3;
    s->c.errors[SPX_E_SHAPE_MISMATCH] = 2;
    s->has_last_seq = true;
    s->last_seq = 4321;
    s->has_next_t0 = true;
    s->next_t0 = 1700000000.123456789;
    return s;
}

static void image_of(spx_stream *s, uint64_t covers, unsigned char **img, size_t *len)
{
    unsigned char *part;
    size_t part_len;
    cr_assert_eq(spx_snapshot_pack_stream(s, &part, &part_len), 0);
    cr_assert_eq(spx_snapshot_encode(part, part_len, NULL, NULL, 0, covers, 1.5, img, len), 0);
    free(part);
}

/* Decodes and restores into r; returns the code (SPX_OK or the refusal). */
static spx_errcode load(spx_registry *r, const unsigned char *img, size_t len, spx_stream **out,
                        char *err, size_t errlen)
{
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    uint64_t covers;
    spx_errcode code = SPX_E_BAD_REQUEST;
    if (spx_snapshot_decode(img, len, &up, &covers, err, errlen) == 0)
        code = spx_snapshot_restore(r, &up.data, out, err, errlen);
    msgpack_unpacked_destroy(&up);
    return code;
}

Test(snapshot, a_stream_comes_back_exactly)
{
    spx_registry *a = spx_registry_new(), *b = spx_registry_new();
    spx_stream *s = make_stream(a);
    unsigned char *img;
    size_t len;
    image_of(s, 1234, &img, &len);
    spx_stream *t = NULL;
    char err[256] = "";
    cr_assert_eq(load(b, img, len, &t, err, sizeof err), SPX_OK, "%s", err);
    cr_assert_str_eq(t->name, "eeg-1");
    cr_assert_eq(t->kind, SPX_KIND_SERIES);
    cr_assert_eq(t->dim, 3);
    cr_assert_eq(t->rate, 160.0);
    cr_assert_str_eq(t->channel_names[2], "C4");
    cr_assert_str_eq(t->channel_units[2], "mV");
    cr_assert_eq(t->durability, SPX_DURABILITY_JOURNAL);
    cr_assert(t->dedupe);
    cr_assert_eq(memcmp(&t->c, &s->c, sizeof s->c), 0, "every counter restored");
    cr_assert(t->has_last_seq && t->last_seq == 4321);
    cr_assert(t->has_next_t0 && t->next_t0 == s->next_t0, "doubles are exact");
    /* The restored stream packs the same bytes. */
    unsigned char *img2;
    size_t len2;
    image_of(t, 1234, &img2, &len2);
    cr_assert(len == len2 && !memcmp(img, img2, len));
    free(img);
    free(img2);
    spx_registry_free(a);
    spx_registry_free(b);
}

Test(snapshot, every_flipped_byte_and_every_cut_is_refused)
{
    spx_registry *a = spx_registry_new();
    unsigned char *img;
    size_t len;
    image_of(make_stream(a), 1234, &img, &len);
    unsigned char *bad = malloc(len);
    for (size_t i = 0; i < len; i++) {
        memcpy(bad, img, len);
        bad[i] ^= 0x01;
        spx_registry *r = spx_registry_new();
        spx_stream *t = NULL;
        char err[256] = "";
        cr_assert_neq(load(r, bad, len, &t, err, sizeof err), SPX_OK, "byte %zu flipped: loaded", i);
        cr_assert(err[0]);
        cr_assert_eq(spx_registry_count(r), 0, "nothing half-loaded");
        spx_registry_free(r);
    }
    for (size_t cut = 0; cut < len; cut++) {
        spx_registry *r = spx_registry_new();
        spx_stream *t = NULL;
        char err[256] = "";
        cr_assert_neq(load(r, img, cut, &t, err, sizeof err), SPX_OK, "cut at %zu: loaded", cut);
        cr_assert_eq(spx_registry_count(r), 0);
        spx_registry_free(r);
    }
    free(bad);
    free(img);
    spx_registry_free(a);
}

Test(snapshot, a_well_checksummed_body_with_bad_values_is_refused_whole)
{
    /* A pipeline entry naming an unknown algorithm: the stream must not be left behind. */
    spx_registry *a = spx_registry_new();
    unsigned char *part;
    size_t part_len;
    cr_assert_eq(spx_snapshot_pack_stream(make_stream(a), &part, &part_len), 0);
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 3);
    spx_pack_key_cstr(&pk, "name", "p");
    spx_pack_key_cstr(&pk, "algo", "no-such-algorithm");
    spx_pack_key_uint(&pk, "state_version", 1);
    unsigned char *pipes[1] = {(unsigned char *)sb.data};
    size_t lens[1] = {sb.size};
    unsigned char *img;
    size_t len;
    cr_assert_eq(spx_snapshot_encode(part, part_len, pipes, lens, 1, 1234, 0, &img, &len), 0);
    spx_registry *r = spx_registry_new();
    spx_stream *t = NULL;
    char err[256] = "";
    cr_assert_eq(load(r, img, len, &t, err, sizeof err), SPX_E_UNKNOWN_ALGO, "%s", err);
    cr_assert(strstr(err, "no-such-algorithm"), "%s", err);
    cr_assert_eq(spx_registry_count(r), 0);
    free(img);
    free(part);
    msgpack_sbuffer_destroy(&sb);
    spx_registry_free(r);
    spx_registry_free(a);
}
