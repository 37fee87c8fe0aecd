/* The spectrad process: one libuv loop owning the ZeroMQ sockets, the stream registry and the
 * scheduling of pipeline jobs onto the libuv worker pool.
 *
 * Data path (one way): ingest socket -> codec -> stream -> pipeline queue -> worker job -> result
 * body -> results socket. Control requests are answered on the loop thread, except `get`, which
 * waits for the pipeline to apply what was accepted before it. */
#ifndef SPX_SERVER_H
#define SPX_SERVER_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "codec.h"
#include "config.h"
#include "stream.h"
#include "transport.h"
#include "zap.h"
#include "zsock.h"

typedef struct spx_pending_get spx_pending_get;

typedef struct spx_server_counters {
    uint64_t ingest_messages, ingest_bytes, ingest_rows, ingest_rejected;
    uint64_t ingest_errors[SPX_E_COUNT];
    uint64_t results_messages, results_bytes, results_dropped;
    uint64_t control_requests, control_errors;
    uint64_t pipeline_errors;
    uint64_t ingest_pauses;        /* times ingest stopped reading because of the backlog */
    uint64_t ingest_paused_ns;     /* time spent paused, finished pauses (uv_hrtime) */
    uint64_t ingest_duplicates;    /* dedupe streams: resent messages dropped */
} spx_server_counters;

typedef struct spx_server {
    spx_config cfg;
    uv_loop_t *loop;
    void *zctx;
    spx_transport *transport;      /* ingest in, results out (ZeroMQ or NATS) */
    bool transport_closing;
    spx_zsock control;
    spx_zap zap;                   /* CURVE allow-lists, when configured (zap.h) */
    spx_registry *reg;
    uv_signal_t sig_int, sig_term, sig_hup;
    uv_timer_t tick;               /* interval publishes, backpressure release, shutdown progress */
    uv_timer_t watchdog;           /* systemd keep-alives, when WatchdogSec= is set */
    bool watchdog_on;
    uint64_t ticks;
    double status_time;            /* last STATUS= line and the counters then */
    uint64_t status_msgs, status_rows;
    double started;                /* CLOCK_REALTIME seconds */
    spx_server_counters c;
    size_t jobs_in_flight;
    spx_pending_get *gets;         /* `get` requests waiting for their pipeline */
    bool ingest_paused;
    uint64_t ingest_paused_at_ns;  /* uv_hrtime() when the current pause began */
    struct spx_metrics_http *metrics;   /* the Prometheus endpoint, NULL when off */
    bool stopping;
    bool durable_final;            /* shutdown snapshots requested */
    bool ready;                    /* start-up (restore, declarations, replay) is done */
    int open_handles;
    int exit_code;
} spx_server;

/* Binds the sockets, creates the declared streams and pipelines. Returns 0, or -1 with err filled. */
int spx_server_init(spx_server *srv, const spx_config *cfg, uv_loop_t *loop, char *err,
                    size_t errlen);
/* Runs the loop until a clean shutdown; returns the process exit code. */
int spx_server_run(spx_server *srv);
/* Starts a clean shutdown: stop accepting input, apply everything accepted, publish final results,
 * answer waiting requests, close. Idempotent. */
void spx_server_stop(spx_server *srv);

/* Internal entry points shared by the daemon's files. */
/* Decodes, validates and accepts one ingest message (header frame + payload) however it arrived:
 * the ingest socket, or a journal replay (replay: not journaled again, the stream is created even
 * with auto_create off). Takes `owner` (release is called once the payload is no longer needed,
 * also on refusal). SPX_OK (also for a dropped duplicate), or the refusal's code with why filled
 * (already counted and logged). */
spx_errcode spx_ingest_frames(spx_server *srv, const void *head, size_t head_len,
                              const void *data, size_t data_len, void *owner,
                              void (*release)(void *owner), double recv_time, bool replay,
                              char *why, size_t whylen);
unsigned spx_control_on_read(spx_zsock *zs, unsigned budget);
void spx_server_schedule(spx_server *srv, spx_pipeline *p);
void spx_server_schedule_stream(spx_server *srv, spx_stream *s);
/* Answers the `get` requests parked on p once p has applied everything queued before them. */
void spx_control_answer_gets(spx_server *srv, spx_pipeline *p, bool pipeline_gone);
void spx_control_free_gets(spx_server *srv);
/* Answers the commands a job ran (and frees them). */
void spx_control_commands_done(spx_server *srv, spx_command *list);
/* Answers the commands still queued on a pipeline that is going away with unknown_pipeline. */
void spx_control_fail_commands(spx_server *srv, spx_pipeline *p);
/* Creates the streams and pipelines declared in cfg that do not exist yet; for those that do, logs
 * a difference instead of touching them. Returns 0, or -1 with "FILE:LINE: reason" in err. */
int spx_server_apply_declarations(spx_server *srv, const spx_config *cfg, char *err,
                                  size_t errlen);
/* SIGHUP: re-read the config file and apply what can change without a restart. */
void spx_server_reload(spx_server *srv);

#endif
