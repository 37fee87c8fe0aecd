/* The CLI's NATS side (--nats URL): ingest published to JetStream, results read from core NATS.
 * Subjects and framing: docs/protocol.md "NATS JetStream transport". */
#ifndef SPECTRA_CLI_NATS_IO_H
#define SPECTRA_CLI_NATS_IO_H

#include <stddef.h>
#include <stdint.h>

#include "cli.h"

typedef struct cli_nats cli_nats;

/* Connects to the comma-separated URLs (creds: a .creds file or NULL). partitions is the daemons'
 * `partitions`. NULL with the reason printed. */
cli_nats *cli_nats_open(const cli_ctx *ctx, const char *urls, const char *creds,
                        unsigned partitions);
/* A spectra_ingest_sink: publishes asynchronously with Nats-Msg-Id "<stream>:<seq>". */
int cli_nats_sink(void *nats, const char *stream, uint64_t seq, const void *hdr, size_t hdr_len,
                  const void *payload, size_t payload_len);
/* Subscribes to results of `topic` (STREAM, STREAM.PIPELINE, NATS wildcards allowed; NULL: all). */
int cli_nats_subscribe(const cli_ctx *ctx, cli_nats *n, const char *topic);
/* Next result: 0, SPECTRA_ETIMEDOUT, or another SPECTRA_E* code. */
int cli_nats_next(cli_nats *n, int timeout_ms, char *topic, size_t topic_cap, spectra_msg **body);
/* Waits until JetStream acknowledged every published message; closes. Returns CLI_OK, or CLI_FAIL
 * (printed) when some were not stored. */
int cli_nats_close(const cli_ctx *ctx, cli_nats *n);

/* FNV-1a 32 of the stream name mod partitions (the daemon's spx_partition_of). */
unsigned cli_partition_of(const char *stream, unsigned partitions);

#endif
