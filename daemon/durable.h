/* Durable state: per-stream snapshots and write-ahead journals under <state_dir>/streams/<name>/
 * (docs/reliability.md). Loop thread only; file writes of snapshots run on the worker pool.
 *
 * A snapshot of a stream is consistent at one stream message number: the stream's own part is
 * packed when it is requested, and each pipeline packs its state in the job that applies exactly
 * the messages up to that number (spx_pipeline_request_snapshot). When all parts are in, the file
 * is written atomically (temp file, fsync, rename, fsync dir) and the journal segments it covers
 * are deleted. */
#ifndef SPX_DURABLE_H
#define SPX_DURABLE_H

#include <msgpack.h>
#include <stdbool.h>

#include "server.h"

/* Start-up, before the sockets are watched: restores every stream with a snapshot in the state dir
 * (a damaged one is reported and its directory set aside), leaving journals for spx_durable_replay.
 * 0, or -1 with err filled (only for an unusable state dir). */
int spx_durable_restore(spx_server *srv, char *err, size_t errlen);
/* Start-up, after the config's declarations: replays each stream's journal past its snapshot,
 * then sets every stream up for durability and snapshots those that need it. */
int spx_durable_replay(spx_server *srv, char *err, size_t errlen);

/* A stream created at run time (create op, auto-create, reload): applies its durability. */
void spx_durable_stream_created(spx_server *srv, spx_stream *s);
/* Pipelines attached/detached: the structure is made durable by a snapshot. */
void spx_durable_structure_changed(spx_server *srv, spx_stream *s);
/* The drop op: the stream's files go with it. Call before spx_registry_drop. */
void spx_durable_stream_dropped(spx_server *srv, spx_stream *s);

/* Ingest, for a message about to be accepted as stream message s->c.messages + 1: journals it
 * (journal durability). 0, or -1 with err filled: the message must then be refused. */
int spx_durable_journal(spx_server *srv, spx_stream *s, const void *head, size_t head_len,
                        const void *payload, size_t payload_len, double recv_time, char *err,
                        size_t errlen);
/* The journaled message could not be accepted after all: takes it back. */
void spx_durable_unjournal(spx_stream *s);
/* True when the stream's new input must wait for spx_durable_flush before it is applied
 * (journal_sync = always). */
bool spx_durable_defer(spx_server *srv, spx_stream *s);
/* End of an ingest batch: fdatasync the journals written to (journal_sync = always) and schedule
 * their streams. */
void spx_durable_flush(spx_server *srv);
/* Loop tick: interval fsyncs, interval and journal-size snapshots. */
void spx_durable_tick(spx_server *srv, double now);
/* A pipeline job came back: takes its snapshot part, if it packed one. */
void spx_durable_job_done(spx_server *srv, spx_job *job);

/* The `save` op: snapshots s now (or every durable stream when s is NULL). Returns how many
 * snapshots were started; *covers gets s's message number when s is given. */
size_t spx_durable_save(spx_server *srv, spx_stream *s, uint64_t *covers);
/* Shutdown: snapshot every durable stream once all input is applied. Returns true when every
 * snapshot has been written (the loop may close). */
bool spx_durable_shutdown_done(spx_server *srv);

/* The `position` op's fields for s: packs 9 key/value pairs. */
void spx_durable_pack_position(spx_server *srv, spx_stream *s, msgpack_packer *pk);
/* stats: per-stream {"durability", "snapshots", "snapshot_failures", "journal_bytes"}: 4 pairs. */
void spx_durable_pack_stats(spx_stream *s, msgpack_packer *pk);

#endif
