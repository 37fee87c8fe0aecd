/* The [spectrad] keys that choose and configure the transport (docs/operations.md). Parsed by
 * transport_config.c so config.c only forwards keys it does not know. */
#ifndef SPX_TRANSPORT_CONFIG_H
#define SPX_TRANSPORT_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { SPX_TRANSPORT_ZMQ = 0, SPX_TRANSPORT_NATS = 1 } spx_transport_kind;

#define SPX_NATS_URLS_MAX 1024
#define SPX_WORKER_ID_MAX 64
#define SPX_PARTITIONS_MAX 1024

typedef struct spx_transport_config {
    spx_transport_kind kind;           /* transport = zmq | nats */
    char nats_url[SPX_NATS_URLS_MAX];  /* comma-separated nats:// URLs */
    char nats_creds[PATH_MAX];         /* a .creds file (JWT + nkey seed) */
    char nats_nkey[64];                /* an nkey public key (U...), with nats_nkey_seed */
    char nats_nkey_seed[PATH_MAX];     /* the file holding its seed (SU...) */
    char nats_tls_ca[PATH_MAX];        /* CA bundle: enables TLS */
    char nats_tls_cert[PATH_MAX];      /* client certificate chain (mutual TLS) */
    char nats_tls_key[PATH_MAX];
    char nats_stream[33];              /* JetStream stream holding ingest (default SPECTRA_IN) */
    unsigned nats_replicas;            /* replicas of the stream and buckets this worker creates */
    unsigned partitions;               /* P: every worker and producer must agree */
    uint64_t lease_ttl_ms;
    uint64_t nats_snapshot_interval_ms;    /* how often an owned partition's state is saved (0: never) */
    char worker_id[SPX_WORKER_ID_MAX + 1];
} spx_transport_config;

void spx_transport_config_defaults(spx_transport_config *t);
/* Returns 1 when `name` is a transport key (then 0 on success is written to *bad, or -1 with err
 * filled), 0 when it is not one. */
int spx_transport_config_key(spx_transport_config *t, const char *name, const char *value, int *bad,
                             char *err, size_t errlen);
/* Checks the combination (e.g. nats without a URL, or NATS support not built). 0 or -1 + err. */
int spx_transport_config_validate(const spx_transport_config *t, char *err, size_t errlen);

/* FNV-1a 32-bit of the stream name, mod P: the partition a stream belongs to (docs/protocol.md). */
unsigned spx_partition_of(const char *stream, unsigned partitions);

#endif
