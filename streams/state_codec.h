/* Packing and reading pipeline state for snapshots (spx_pipeline_ops.save / .load).
 *
 * A saved state is one msgpack map. Numbers that must come back bit for bit go in as msgpack
 * float64 (exact) or, for arrays, as a bin of raw little-endian values (exact, and 8 bytes per
 * double instead of 9). Readers check the key's presence, its type and the exact element count the
 * caller expects, and say which key was wrong in err ("state: <key>: ..."), so a stale or damaged
 * snapshot is refused with a reason instead of being half-loaded. */
#ifndef SPX_STATE_CODEC_H
#define SPX_STATE_CODEC_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- writing: each packs one key and its value into the map being built ---------------------- */
void spx_state_pack_f64s(msgpack_packer *pk, const char *key, const double *x, size_t n);
void spx_state_pack_f32s(msgpack_packer *pk, const char *key, const float *x, size_t n);
void spx_state_pack_u64s(msgpack_packer *pk, const char *key, const uint64_t *x, size_t n);
void spx_state_pack_bytes(msgpack_packer *pk, const char *key, const void *x, size_t n);
void spx_state_pack_f64(msgpack_packer *pk, const char *key, double v);
void spx_state_pack_u64(msgpack_packer *pk, const char *key, uint64_t v);
void spx_state_pack_i64(msgpack_packer *pk, const char *key, int64_t v);
void spx_state_pack_bool(msgpack_packer *pk, const char *key, bool v);

/* ---- reading: 0, or -1 with err "state: <key>: <what is wrong>" ------------------------------ */
/* Arrays: the bin must hold exactly n values. */
int spx_state_read_f64s(const msgpack_object *map, const char *key, double *dst, size_t n,
                        char *err, size_t errlen);
int spx_state_read_f32s(const msgpack_object *map, const char *key, float *dst, size_t n,
                        char *err, size_t errlen);
int spx_state_read_u64s(const msgpack_object *map, const char *key, uint64_t *dst, size_t n,
                        char *err, size_t errlen);
int spx_state_read_bytes(const msgpack_object *map, const char *key, void *dst, size_t n,
                         char *err, size_t errlen);
/* A variable-size array of exactly n values (n checked against your limits first) into a fresh
 * malloc (at least one element, so empty arrays need no special case); *out is the caller's to free,
 * also when the read fails after allocating. */
int spx_state_read_alloc(const msgpack_object *map, const char *key, size_t elem_size, size_t n,
                         void **out, char *err, size_t errlen);
/* How many values of elem_size bytes an array key holds (for states whose size varies, e.g. the
 * number of open groups): check the count against your limits before allocating. */
int spx_state_count(const msgpack_object *map, const char *key, size_t elem_size, size_t *n,
                    char *err, size_t errlen);
int spx_state_read_f64(const msgpack_object *map, const char *key, double *out, char *err,
                       size_t errlen);
int spx_state_read_u64(const msgpack_object *map, const char *key, uint64_t *out, char *err,
                       size_t errlen);
/* A u64 that must lie in [lo, hi] (sizes, indices, enum values). */
int spx_state_read_range(const msgpack_object *map, const char *key, uint64_t lo, uint64_t hi,
                         uint64_t *out, char *err, size_t errlen);
int spx_state_read_i64(const msgpack_object *map, const char *key, int64_t *out, char *err,
                       size_t errlen);
int spx_state_read_bool(const msgpack_object *map, const char *key, bool *out, char *err,
                        size_t errlen);
/* A nested value of the given msgpack type (MSGPACK_OBJECT_MAP, _ARRAY, ...). NULL + err if absent
 * or of another type. */
const msgpack_object *spx_state_get(const msgpack_object *map, const char *key,
                                    msgpack_object_type type, char *err, size_t errlen);

#endif
