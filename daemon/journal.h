/* A stream's write-ahead journal: accepted ingest messages (header and payload frames exactly as
 * received, with the stream message number and receive time), appended before they are applied,
 * so that a restart replays what the last snapshot does not cover.
 *
 * A journal is a directory of segment files journal-<first seq, 20 digits>.wal. A segment starts
 * with a 16-byte header ("SPXWAL1\0", u64 first seq) followed by records:
 *   u32 magic 0x4c4a5053 ("SPJL")   u32 length of the rest   u32 CRC-32C of the rest
 *   rest: u64 seq, f64 receive time, u32 header length, header bytes, payload bytes
 * (little-endian). A new segment is started when a snapshot is requested; segments wholly covered
 * by a written snapshot are deleted. A record that is cut short or fails its checksum ends the
 * replay: the damaged tail is moved aside and the journal truncated to its last good record. */
#ifndef SPX_JOURNAL_H
#define SPX_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct spx_journal spx_journal;

/* How journaled data is pushed to stable storage (docs/reliability.md). */
typedef enum spx_journal_sync {
    SPX_JOURNAL_SYNC_ALWAYS,   /* fdatasync after each ingest batch, before it is applied */
    SPX_JOURNAL_SYNC_INTERVAL, /* fdatasync every journal_sync_ms */
    SPX_JOURNAL_SYNC_OS        /* never: the kernel writes back when it likes */
} spx_journal_sync;

const char *spx_journal_sync_name(spx_journal_sync s);
int spx_journal_sync_parse(const char *s, spx_journal_sync *out);

/* Opens a new segment in dir (created if missing) whose first record will be next_seq. */
int spx_journal_open(spx_journal **out, const char *dir, uint64_t next_seq, char *err,
                     size_t errlen);
void spx_journal_close(spx_journal *j);
/* Appends one record (one write). On failure the segment is left as it was. 0 or -errno. */
int spx_journal_append(spx_journal *j, uint64_t seq, double recv_time, const void *head,
                       size_t head_len, const void *payload, size_t payload_len);
/* Takes the last appended record back (the message could not be accepted after all). */
int spx_journal_undo_last(spx_journal *j);
/* fdatasync when something was appended since the last sync. 0 or -errno. */
int spx_journal_sync_now(spx_journal *j);
bool spx_journal_dirty(const spx_journal *j);
/* Closes the current segment and starts one whose first record is next_seq. */
int spx_journal_rotate(spx_journal *j, uint64_t next_seq, char *err, size_t errlen);
/* Deletes the segments of dir holding only records <= covers (the segment being written stays). */
void spx_journal_compact(const char *dir, uint64_t covers);
/* Bytes appended since open (all segments), for stats. */
uint64_t spx_journal_bytes(const spx_journal *j);

/* What a replay found. */
typedef struct spx_journal_replay_report {
    uint64_t records;          /* records handed to the callback */
    uint64_t skipped;          /* records <= after_seq (covered by the snapshot) */
    uint64_t last_seq;         /* seq of the last good record seen, 0 if none */
    bool damaged;              /* a record was cut short or failed its checksum */
    char damage[256];          /* where and what, when damaged */
} spx_journal_replay_report;

typedef int (*spx_journal_record_fn)(void *ctx, uint64_t seq, double recv_time, const void *head,
                                     size_t head_len, const void *payload, size_t payload_len);

/* Replays the records of dir with seq > after_seq, in order, through fn (a non-zero return stops
 * the replay and is returned). A damaged record ends the replay: its segment is truncated to the
 * last good record (the tail is kept beside it as <segment>.damaged-<offset>) and later segments are
 * renamed *.unreplayed. Returns 0 (also when damaged: see the report), fn's code, or -errno. */
int spx_journal_replay(const char *dir, uint64_t after_seq, spx_journal_record_fn fn, void *ctx,
                       spx_journal_replay_report *rep);

#endif
