/* spectrad's configuration: built-in defaults, then the config file (--config, INI read with inih),
 * then command-line options, each overriding the one before. */
#ifndef SPX_CONFIG_H
#define SPX_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "journal.h"
#include "log.h"
#include "transport_config.h"
#include "stream.h"
#include "security.h"

#define SPX_ENDPOINT_MAX 256
#define SPX_CONFIG_STREAMS_MAX 64
#define SPX_CONFIG_PIPELINES_MAX 128
#define SPX_CONFIG_PARAMS_MAX 32

#define SPX_DEFAULT_INGEST "tcp://127.0.0.1:5555"
#define SPX_DEFAULT_PUBLISH "tcp://127.0.0.1:5556"
#define SPX_DEFAULT_CONTROL "tcp://127.0.0.1:5557"

/* A stream declared up front in the config file: [stream NAME]. */
typedef struct spx_config_stream {
    char name[65];
    char kind[16];
    uint32_t dim;
    double rate;
    bool has_durability;
    spx_durability durability;     /* overrides [spectrad] durability */
    bool dedupe;
    int line;
} spx_config_stream;

/* A pipeline declared up front: [pipeline STREAM.NAME] with algo=, every=, interval_ms= and any
 * other key passed to the algorithm as a parameter. */
typedef struct spx_config_pipeline {
    char stream[65];
    char name[65];
    char algo[65];
    uint64_t every;
    uint64_t interval_ms;
    bool has_every, has_interval;
    size_t n_params;
    char keys[SPX_CONFIG_PARAMS_MAX][65];
    char values[SPX_CONFIG_PARAMS_MAX][256];
    int line;
} spx_config_pipeline;

/* Settings given on the command line: they keep their value when the file is reloaded. */
enum {
    SPX_CLI_INGEST = 1 << 0, SPX_CLI_PUBLISH = 1 << 1, SPX_CLI_CONTROL = 1 << 2,
    SPX_CLI_STATE_DIR = 1 << 3, SPX_CLI_LOG_LEVEL = 1 << 4, SPX_CLI_WORKERS = 1 << 5,
    SPX_CLI_AUTO_CREATE = 1 << 6, SPX_CLI_METRICS = 1 << 7,
};

typedef struct spx_config {
    unsigned cli_set;              /* SPX_CLI_* bits */
    char ingest[SPX_ENDPOINT_MAX];
    char publish[SPX_ENDPOINT_MAX];
    char control[SPX_ENDPOINT_MAX];
    char state_dir[PATH_MAX];
    char metrics_listen[SPX_ENDPOINT_MAX];   /* Prometheus HOST:PORT; empty = no endpoint */
    char config_file[PATH_MAX];
    bool auto_create;              /* a push to an unknown stream creates it */
    size_t max_message_bytes;      /* ZMQ_MAXMSGSIZE on ingest and control */
    size_t max_queued_bytes;       /* stop reading ingest above this backlog */
    unsigned workers;              /* libuv threadpool size for pipeline jobs */
    unsigned ingest_budget;        /* messages read per loop turn */
    int ingest_hwm;                /* ZMQ_RCVHWM on ingest */
    int publish_hwm;               /* ZMQ_SNDHWM on results, per subscriber */
    spx_log_level log_level;
    spx_transport_config tr;       /* transport = zmq | nats and the NATS keys */
    /* Durable state (docs/reliability.md); only with a state dir. */
    spx_durability durability;     /* default for streams without their own durability= */
    unsigned snapshot_interval_s;  /* snapshot changed streams this often; 0 = only save/shutdown */
    size_t snapshot_journal_bytes; /* also snapshot when a journal grew this much since the last */
    spx_journal_sync journal_sync;
    unsigned journal_sync_ms;      /* journal_sync = interval */
    spx_security_config security;  /* CURVE keys, allow-lists, loopback default (security.h) */
    size_t n_streams;
    spx_config_stream streams[SPX_CONFIG_STREAMS_MAX];
    size_t n_pipelines;
    spx_config_pipeline pipelines[SPX_CONFIG_PIPELINES_MAX];
} spx_config;

void spx_config_defaults(spx_config *c);
/* Reads an INI file into c. On error returns -1 and writes "FILE:LINE: reason" into err. */
int spx_config_load_file(spx_config *c, const char *path, char *err, size_t errlen);
/* Copies the command-line settings of `from` (its cli_set bits) into `to`. */
void spx_config_keep_cli(spx_config *to, const spx_config *from);
/* Checks values that do not depend on the file syntax (endpoints, ranges). */
int spx_config_validate(const spx_config *c, char *err, size_t errlen);

#endif
