/* A pipeline: one algorithm instance attached to a stream, its input queue, its publish policy and
 * its results.
 *
 * The work is split so the daemon can run numerics on a worker thread without locks:
 *   loop thread:   spx_pipeline_enqueue()  -> spx_pipeline_take_job()  -> (hand job to a worker)
 *   worker thread: spx_job_run()  (updates the algorithm, packs result bodies)
 *   loop thread:   spx_job_finish() (publishes counters, returns the bodies to send, frees inputs)
 * At most one job per pipeline is in flight, so results come out in input order. While a job is in
 * flight the worker owns `work`; the loop thread reads only `stats` and the queue. */
#ifndef SPX_PIPELINE_H
#define SPX_PIPELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "batch.h"
#include "latency_hist.h"
#include "pipeline_kind.h"

#define SPX_PARAMS_MAX 32
#define SPX_PARAM_TEXT_MAX 256

typedef struct spx_publish_policy {
    uint64_t every;            /* publish after this many inputs (rows/samples/blocks); 0 = off */
    uint64_t interval_ms;      /* publish when this long has passed and something changed; 0 = off */
} spx_publish_policy;

/* Counters the loop thread may read at any time (written in spx_job_finish). */
typedef struct spx_pipeline_stats {
    uint64_t updates;          /* inputs applied */
    uint64_t errors;           /* inputs the algorithm refused */
    uint64_t published;        /* result bodies made */
    uint64_t published_bytes;  /* bytes of those bodies */
    uint64_t count;            /* rows/samples/blocks applied */
    uint64_t input_seq;        /* stream message number of the newest input applied */
    double update_seconds;     /* total worker time spent in update */
    spx_latency_hist latency;  /* time of each update call, refused inputs included */
} spx_pipeline_stats;

/* State owned by whichever thread runs the pipeline's job (loop thread when idle). */
typedef struct spx_pipeline_work {
    spx_pipeline_stats stats;
    uint64_t count_since_publish;
    double last_publish;       /* CLOCK_REALTIME seconds */
    double t_in;               /* t of the newest input applied */
    bool dirty;                /* applied something since the last body */
    char last_error[256];
} spx_pipeline_work;

/* A named operation waiting for (or done by) the pipeline's worker: see spx_pipeline_ops.command.
 * `owner` is the caller's (the daemon's parked request); streams/ never looks into it. */
typedef struct spx_command {
    struct spx_command *next;
    char name[32];
    unsigned char *args;       /* packed msgpack "args" map (owned), or NULL */
    size_t args_len;
    void *owner;
    /* filled by the worker */
    spx_errcode code;
    char err[256];
    unsigned char *value;      /* packed msgpack value (owned) on success */
    size_t value_len;
} spx_command;

/* Builds a command; copies args. NULL on allocation failure. */
spx_command *spx_command_new(const char *name, const void *args, size_t args_len, void *owner);
void spx_command_free(spx_command *c);

typedef struct spx_pipeline {
    char name[SPX_NAME_MAX + 1];
    char stream_name[SPX_NAME_MAX + 1];
    char topic[2 * SPX_NAME_MAX + 2];
    const spx_pipeline_ops *ops;
    void *state;
    spx_publish_policy policy;
    size_t n_params;
    char param_keys[SPX_PARAMS_MAX][SPX_NAME_MAX + 1];
    char param_values[SPX_PARAMS_MAX][SPX_PARAM_TEXT_MAX];

    /* loop thread */
    spx_batch **queue;         /* ring buffer of pending inputs */
    size_t q_head, q_len, q_cap;
    bool busy;                 /* a job is in flight */
    bool detached;             /* free when the job in flight returns */
    bool publish_requested;    /* next job packs a body even if the policy would not */
    spx_command *commands;     /* FIFO of commands waiting for the next job */
    spx_pipeline_stats stats;
    unsigned char *latest;     /* the newest result body (msgpack), for `get` */
    size_t latest_len;
    bool snapshot_pending;     /* a snapshot covering stream messages <= snapshot_at is wanted */
    uint64_t snapshot_at;

    spx_pipeline_work work;
} spx_pipeline;

/* Creates an instance: validates the algorithm's params (bad_param with the reason in err). */
spx_errcode spx_pipeline_create(spx_pipeline **out, const char *stream_name,
                                const spx_stream_info *info, const char *name,
                                const spx_pipeline_ops *ops, const spx_param *params,
                                size_t n_params, spx_publish_policy policy, char *err,
                                size_t errlen);
/* Frees the pipeline and drops its queue. Only when !busy. */
void spx_pipeline_free(spx_pipeline *p);

/* Makes room for one more queued input. Returns 0 or -ENOMEM. Reserving on every pipeline first
 * lets a stream queue a message on all of them or none. */
int spx_pipeline_reserve(spx_pipeline *p);
/* Appends an input (takes a reference); room must have been reserved. */
void spx_pipeline_enqueue(spx_pipeline *p, spx_batch *b);
/* True when the pipeline is idle but has something to do: queued input, a requested publish, or an
 * interval publish that has come due at `now`. */
bool spx_pipeline_wants_job(const spx_pipeline *p, double now);

/* A unit of work handed to a worker. */
typedef struct spx_job {
    spx_pipeline *p;
    spx_batch **inputs;
    size_t n_inputs;
    bool force_publish;
    /* outputs, filled by spx_job_run */
    spx_command *commands;     /* run after the inputs, in order; handed back done */
    unsigned char **bodies;    /* packed result bodies, in order */
    size_t *body_lens;
    size_t n_bodies, cap_bodies;
    uint64_t failed;           /* inputs refused by the algorithm */
    /* A snapshot packed after the inputs (spx_pipeline_request_snapshot): the pipeline's saved map
     * (streams/pipeline_snapshot.h) covering stream messages <= snapshot_seq, or an error. */
    bool snapshot;
    uint64_t snapshot_seq;
    int snapshot_rc;
    unsigned char *snapshot_data;
    size_t snapshot_len;
    char snapshot_err[256];
} spx_job;

/* Loop thread: asks for the pipeline's state exactly after stream message `at_seq` (the stream's
 * newest): the job that applies that input packs a snapshot into job->snapshot_data. Replaces an
 * earlier request that was not served yet. */
void spx_pipeline_request_snapshot(spx_pipeline *p, uint64_t at_seq);

/* Appends a command to run after the inputs queued so far (loop thread). */
void spx_pipeline_add_command(spx_pipeline *p, spx_command *c);

/* Loop thread: takes up to max_inputs queued inputs (and a requested publish, and the waiting
 * commands once no input is left) into a job; marks the pipeline busy. NULL when there is nothing to
 * do or on allocation failure. */
spx_job *spx_pipeline_take_job(spx_pipeline *p, size_t max_inputs, double now);
/* Worker thread. */
void spx_job_run(spx_job *job);
/* Loop thread: copies counters back, keeps the newest body as `latest`, releases the inputs, marks the
 * pipeline idle. The caller sends job->bodies and then calls spx_job_free. */
void spx_job_finish(spx_job *job);
void spx_job_free(spx_job *job);

/* Current wall-clock time in seconds (CLOCK_REALTIME). */
double spx_now(void);

#endif
