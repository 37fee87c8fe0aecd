/* Stream snapshots: one file per stream holding its metadata, counters and sequence numbers and
 * every pipeline's state (streams/pipeline_snapshot.h), consistent at one stream message number.
 *
 * File layout (all integers little-endian), docs/reliability.md:
 *   offset 0   8 bytes  magic "SPXSNAP1"
 *          8   u32      format version (SPX_SNAPSHOT_FORMAT)
 *         12   u32      CRC-32C of the body
 *         16   u64      body length in bytes
 *         24   u64      covers: the stream message number the state includes (1-based; 0 = none)
 *         32   body     one msgpack map {"format", "spectrad", "created", "covers", "stream": {...},
 *                       "pipelines": [{...}, ...]}
 * A file that fails any check (magic, version, length, checksum, schema, an algorithm refusing its
 * state) is refused whole: the caller sets it aside and starts the stream without it. */
#ifndef SPX_SNAPSHOT_H
#define SPX_SNAPSHOT_H

#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

#include "stream.h"

#define SPX_SNAPSHOT_FORMAT 1u
#define SPX_SNAPSHOT_HEADER_BYTES 32u

/* Loop thread: packs the stream's own part (metadata, counters, sequence numbers, durability) as
 * of now into *out (caller frees). 0 or -ENOMEM. */
int spx_snapshot_pack_stream(const spx_stream *s, unsigned char **out, size_t *out_len);

/* Assembles a snapshot file image from the stream part and the pipelines' snapshot maps (each a
 * complete msgpack map). *out is malloc'd. 0 or -ENOMEM. */
int spx_snapshot_encode(const unsigned char *stream_part, size_t stream_len,
                        unsigned char *const *pipelines, const size_t *pipeline_lens, size_t n,
                        uint64_t covers, double created, unsigned char **out, size_t *out_len);

/* Checks a file image (magic, version, length, checksum, msgpack structure) and unpacks its body
 * into `up` (the caller destroys it; its objects point into buf). 0, or -1 with err filled. */
int spx_snapshot_decode(const void *buf, size_t len, msgpack_unpacked *up, uint64_t *covers,
                        char *err, size_t errlen);

/* Rebuilds the stream and its pipelines in r from a decoded body. All or nothing: on failure
 * nothing is left in r and err says what was refused. The stream must not exist yet. */
spx_errcode spx_snapshot_restore(spx_registry *r, const msgpack_object *body, spx_stream **out,
                                 char *err, size_t errlen);

#endif
