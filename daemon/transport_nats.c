/* The NATS JetStream transport: partitioned ingest with leases and snapshot handoff
 * (docs/protocol.md "NATS", docs/operations.md, docs/scaling.md).
 *
 * Threads. The connection's socket I/O runs on the daemon's libuv loop (libnats' libuv adapter).
 * libnats delivers subscription messages on its own threads: those only queue the message here and
 * wake the loop (uv_async); decoding and accepting happen on the loop thread, through the same
 * spx_ingest_frames() as ZeroMQ. JetStream API calls (key-value leases, consumer creation,
 * snapshots) block until their reply, which the loop itself reads, so they never run on the loop
 * thread: they run on the transport's two threads (lease rounds alone on one, consumers and
 * snapshots on the other) and their results are applied on the loop (uv_async).
 *
 * Subjects: producers publish an ingest message to spectra.in.<P>.<stream>, where P is
 * spx_partition_of(stream, partitions), with a Nats-Msg-Id header for de-duplication. The body is
 * a 4-byte little-endian header length, the msgpack header, then the raw payload. Results go to
 * spectra.out.<stream>.<pipeline> (core NATS).
 *
 * Ownership. Key "partition.<P>" of KV bucket spectra_leases holds the owner's worker id; the owner
 * rewrites it with revision compare-and-set every lease_ttl_ms/3 (a loop timer starts the round).
 * Another worker takes a partition when its key is absent or deleted, or when it has watched the
 * key's revision stay unchanged for lease_ttl_ms on its own clock. An owner whose renewal has not
 * succeeded for 0.8 x lease_ttl_ms drops the partition itself, before anyone may take it over.
 * Workers announce themselves under "worker.<id>" and each aims at ceil(P / live workers)
 * partitions, releasing extras (with a final snapshot) one per round.
 *
 * Exactly-once. Each owned partition has one ordered consumer filtered on spectra.in.<P>.*, so its
 * messages arrive in JetStream sequence order; `handled` is the sequence of the last one handed to
 * the accept path and anything at or below it is skipped. Periodically (and on release) every
 * stream of the partition is snapshotted at one point (streams/snapshot.h); the set is stored in
 * KV bucket spectra_snapshots under "partition.<P>" with the JetStream sequence it covers. A new
 * owner restores that set and starts its consumer just after the covered sequence, so inputs the
 * old owner applied after its last snapshot are applied again to the restored state, once. */
#include <errno.h>
#include <inttypes.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control_ops.h"
#include "durable.h"
#include "log.h"
#include "nats_uv.h"
#include "server.h"
#include "snapshot.h"
#include "transport.h"

#define LEASE_BUCKET "spectra_leases"
#define SNAP_BUCKET "spectra_snapshots"
#define QUEUE_CAP 8192                  /* messages handed over but not yet accepted */
#define QUEUE_MAX_BYTES (64u << 20)
#define SNAP_BUILD_TIMEOUT_S 30.0
#define DRAIN_BUDGET 512

typedef enum { P_FREE, P_OWNED, P_RELEASING } pstate;

/* A subscription's closure. Kept until the transport is destroyed: libnats may still be inside
 * a callback when the subscription is destroyed. */
typedef struct sub_ctx {
    struct nats_transport *nt;
    unsigned partition, epoch;
    struct sub_ctx *next;
} sub_ctx;

/* A snapshot of one partition being assembled from its streams' parts (loop thread). */
typedef struct snap_stream {
    char name[SPX_NAME_MAX + 1];
    uint64_t covers;
    unsigned char *stream_part;
    size_t stream_len;
    unsigned char **parts;
    size_t *part_lens;
    size_t n_parts, received;
} snap_stream;

typedef struct snap_build {
    bool active, for_release;
    uint64_t js_seq;
    double started;
    snap_stream *streams;
    size_t n, done;
} snap_build;

typedef struct partition {
    pstate state;
    unsigned epoch;              /* bumped whenever ownership changes: stale messages are dropped */
    uint64_t lease_rev;
    double renewed_at;           /* when the last successful renewal was sent (monotonic s) */
    uint64_t handled;            /* JetStream sequence of the last message handed to ingest */
    uint64_t covered;            /* JetStream sequence the newest stored snapshot covers */
    uint64_t snap_rev;           /* KV revision of that snapshot (compare-and-set on write) */
    bool snap_writing;
    bool release_pending;        /* hand over once the snapshot being written is back */
    double last_snapshot;
    natsSubscription *sub;
    sub_ctx *sub_ctx;
    bool subscribing;
    snap_build build;
} partition;

typedef struct qmsg {
    natsMsg *m;
    unsigned partition, epoch;
} qmsg;

/* What the lease round (worker thread) knows about a key across rounds. */
typedef struct observed {
    uint64_t rev;
    double since;                /* monotonic s when this revision was first seen */
} observed;

struct nats_work;

/* A thread running blocking JetStream calls in order. Two lanes: the lease rounds alone on one,
 * so renewals never wait behind consumer creation or snapshot writes; everything else on the
 * other. (Not the libuv pool: pipeline jobs share it, and a renewal must not queue behind them.) */
typedef struct lane {
    uv_thread_t thread;
    uv_mutex_t lock;
    uv_cond_t cond;
    struct nats_work *head, *tail;
    bool stop, started;
    struct nats_transport *nt;
} lane;

typedef struct nats_transport {
    spx_transport base;
    lane lanes[2];
    uv_mutex_t done_lock;
    struct nats_work *done_head, *done_tail;
    uv_async_t done_async;
    spx_transport_config cfg;
    natsConnection *nc;
    jsCtx *js;
    kvStore *leases, *snaps;
    uv_async_t wake;
    uv_timer_t lease_timer, fence_timer, snap_timer;
    int open_handles;
    void (*on_closed)(spx_transport *t);
    bool ready, paused, closing, round_busy, close_after_round;
    double round_started;
    sub_ctx *all_subs;
    double started;
    partition *parts;
    unsigned P;
    /* the hand-over queue: libnats threads push, the loop pops */
    uv_mutex_t qlock;
    uv_cond_t qroom;
    qmsg *q;
    size_t q_head, q_len, q_bytes;
    bool q_closed;
    /* lease-round state (touched by one round at a time, on a pool thread) */
    observed *obs_parts;
    struct { char id[SPX_WORKER_ID_MAX + 1]; observed o; } *obs_workers;
    size_t n_obs_workers;
    unsigned rounds;
    uint64_t skipped_dups, takeovers;
} nats_transport;

static double mono_now(void) { return (double)uv_hrtime() / 1e9; }

static const char *nats_err(natsStatus s)
{
    const char *t = nats_GetLastError(NULL);
    return t && *t ? t : natsStatus_GetText(s);
}

/* ---- message hand-over (libnats threads -> loop) ------------------------------------------------ */

static void on_msg(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *closure)
{
    (void)nc;
    (void)sub;
    sub_ctx *sc = closure;
    nats_transport *nt = sc->nt;
    size_t len = (size_t)natsMsg_GetDataLength(m);
    uv_mutex_lock(&nt->qlock);
    /* Blocking this delivery thread is the backpressure: JetStream flow control then stops
     * sending to this consumer until the loop catches up. */
    while (!nt->q_closed && (nt->q_len == QUEUE_CAP || nt->q_bytes > QUEUE_MAX_BYTES))
        uv_cond_wait(&nt->qroom, &nt->qlock);
    if (nt->q_closed) {
        uv_mutex_unlock(&nt->qlock);
        natsMsg_Destroy(m);
        return;
    }
    nt->q[(nt->q_head + nt->q_len) % QUEUE_CAP] = (qmsg){m, sc->partition, sc->epoch};
    nt->q_len++;
    nt->q_bytes += len;
    uv_mutex_unlock(&nt->qlock);
    uv_async_send(&nt->wake);
}

static bool queue_pop(nats_transport *nt, qmsg *out)
{
    uv_mutex_lock(&nt->qlock);
    bool got = nt->q_len > 0;
    if (got) {
        *out = nt->q[nt->q_head];
        nt->q_head = (nt->q_head + 1) % QUEUE_CAP;
        nt->q_len--;
        nt->q_bytes -= (size_t)natsMsg_GetDataLength(out->m);
        uv_cond_signal(&nt->qroom);
    }
    uv_mutex_unlock(&nt->qlock);
    return got;
}

static void release_nats_msg(void *owner) { natsMsg_Destroy(owner); }

/* Loop thread: one message of an owned partition. */
static void handle_msg(nats_transport *nt, qmsg *qm)
{
    spx_server *srv = nt->base.srv;
    partition *pt = &nt->parts[qm->partition];
    natsMsg *m = qm->m;
    if (pt->state != P_OWNED || qm->epoch != pt->epoch) {
        natsMsg_Destroy(m);   /* a partition we no longer (or not yet again) own */
        return;
    }
    jsMsgMetaData *meta = NULL;
    if (natsMsg_GetMetaData(&meta, m) != NATS_OK) {
        natsMsg_Destroy(m);
        spx_ingest_refuse(srv, SPX_E_BAD_FRAME, "NATS message without JetStream metadata");
        return;
    }
    uint64_t seq = meta->Sequence.Stream;
    jsMsgMetaData_Destroy(meta);
    if (seq <= pt->handled) {
        nt->skipped_dups++;   /* applied already (a consumer restart redelivers) */
        natsMsg_Destroy(m);
        return;
    }
    pt->handled = seq;
    const unsigned char *d = (const unsigned char *)natsMsg_GetData(m);
    size_t len = (size_t)natsMsg_GetDataLength(m);
    if (len < 4) {
        natsMsg_Destroy(m);
        spx_ingest_refuse(srv, SPX_E_BAD_FRAME, "NATS ingest message shorter than its 4-byte "
                          "header length");
        return;
    }
    size_t head_len = (size_t)d[0] | (size_t)d[1] << 8 | (size_t)d[2] << 16 | (size_t)d[3] << 24;
    if (head_len > len - 4) {
        natsMsg_Destroy(m);
        spx_ingest_refuse(srv, SPX_E_BAD_FRAME, "NATS ingest header length beyond the message");
        return;
    }
    size_t payload_len = len - 4 - head_len;
    if (payload_len > srv->cfg.max_message_bytes) {
        natsMsg_Destroy(m);
        spx_ingest_refuse(srv, SPX_E_TOO_LARGE, "payload exceeds max_message_bytes");
        return;
    }
    char why[512];
    spx_ingest_frames(srv, d + 4, head_len, payload_len ? d + 4 + head_len : NULL, payload_len, m,
                      release_nats_msg, spx_now(), false, why, sizeof why);
}

static void drain(nats_transport *nt)
{
    spx_server *srv = nt->base.srv;
    qmsg qm;
    for (unsigned n = 0; n < DRAIN_BUDGET; n++) {
        if (nt->paused || nt->closing)
            return;
        if (spx_ingest_backlogged(srv)) {
            nt->paused = true;
            srv->ingest_paused = true;
            srv->ingest_paused_at_ns = uv_hrtime();
            srv->c.ingest_pauses++;
            return;
        }
        if (!queue_pop(nt, &qm))
            break;
        handle_msg(nt, &qm);
    }
    spx_durable_flush(srv);
    uv_mutex_lock(&nt->qlock);
    bool more = nt->q_len > 0;
    uv_mutex_unlock(&nt->qlock);
    if (more)
        uv_async_send(&nt->wake);   /* fairness: come back after other loop work */
}

static void on_wake(uv_async_t *a) { drain(a->data); }

/* ---- work on the thread pool ------------------------------------------------------------------- */

typedef enum { W_SETUP, W_ROUND, W_SUBSCRIBE, W_UNSUBSCRIBE, W_SNAP_PUT, W_CLOSE } wkind;

typedef struct round_part {
    bool owned, releasing;       /* in: the loop's view */
    uint64_t rev;                /* in: our lease revision; out: the new one */
    enum { R_NONE, R_RENEWED, R_LOST, R_ACQUIRED, R_RELEASE } out;
    double sent_at;
    unsigned char *snap;         /* R_ACQUIRED: the stored snapshot set (or NULL) */
    size_t snap_len;
    uint64_t snap_rev;
} round_part;

typedef struct nats_work {
    uv_work_t req;
    struct nats_work *next;
    wkind kind;
    nats_transport *nt;
    natsStatus status;
    char err[256];
    unsigned partition, epoch;
    /* W_ROUND */
    round_part *rp;
    unsigned live_workers;
    /* W_SUBSCRIBE / W_UNSUBSCRIBE */
    uint64_t start_seq;
    natsSubscription *sub;
    sub_ctx *sc;
    /* W_SNAP_PUT */
    unsigned char *blob;
    size_t blob_len;
    uint64_t js_seq, prev_rev, new_rev;
    bool release;
} nats_work;

static void work_run(uv_work_t *req);
static void work_done(uv_work_t *req, int status);

static void queue_work(nats_transport *nt, nats_work *w)
{
    w->nt = nt;
    w->next = NULL;
    lane *l = &nt->lanes[w->kind == W_ROUND ? 0 : 1];
    uv_mutex_lock(&l->lock);
    if (l->tail)
        l->tail->next = w;
    else
        l->head = w;
    l->tail = w;
    uv_cond_signal(&l->cond);
    uv_mutex_unlock(&l->lock);
}

static void lane_main(void *arg)
{
    lane *l = arg;
    nats_transport *nt = l->nt;
    for (;;) {
        uv_mutex_lock(&l->lock);
        while (!l->head && !l->stop)
            uv_cond_wait(&l->cond, &l->lock);
        nats_work *w = l->head;
        if (w) {
            l->head = w->next;
            if (!l->head)
                l->tail = NULL;
        }
        uv_mutex_unlock(&l->lock);
        if (!w)
            return;
        work_run(&w->req);
        w->next = NULL;
        uv_mutex_lock(&nt->done_lock);
        if (nt->done_tail)
            nt->done_tail->next = w;
        else
            nt->done_head = w;
        nt->done_tail = w;
        uv_mutex_unlock(&nt->done_lock);
        uv_async_send(&nt->done_async);
    }
}

static void on_done_async(uv_async_t *a)
{
    nats_transport *nt = a->data;
    uv_mutex_lock(&nt->done_lock);
    nats_work *w = nt->done_head;
    nt->done_head = nt->done_tail = NULL;
    uv_mutex_unlock(&nt->done_lock);
    while (w) {
        nats_work *next = w->next;
        work_done(&w->req, 0);
        w = next;
    }
}

static void lanes_stop(nats_transport *nt)
{
    for (int i = 0; i < 2; i++) {
        lane *l = &nt->lanes[i];
        if (!l->started)
            continue;
        uv_mutex_lock(&l->lock);
        l->stop = true;
        uv_cond_signal(&l->cond);
        uv_mutex_unlock(&l->lock);
        uv_thread_join(&l->thread);
        while (l->head) {   /* never run: nothing to apply any more */
            nats_work *w = l->head;
            l->head = w->next;
            free(w->blob);
            free(w->rp);
            free(w);
        }
        uv_mutex_destroy(&l->lock);
        uv_cond_destroy(&l->cond);
        l->started = false;
    }
    nats_work *w = nt->done_head;
    while (w) {
        nats_work *next = w->next;
        free(w->blob);
        free(w->rp);
        free(w);
        w = next;
    }
    nt->done_head = nt->done_tail = NULL;
}

static nats_work *new_work(wkind kind)
{
    nats_work *w = calloc(1, sizeof *w);
    if (w)
        w->kind = kind;
    return w;
}

static natsStatus bind_bucket(nats_transport *nt, kvStore **kv, const char *bucket, int history)
{
    natsStatus s = js_KeyValue(kv, nt->js, bucket);
    if (s == NATS_OK)
        return s;
    kvConfig kc;
    kvConfig_Init(&kc);
    kc.Bucket = bucket;
    kc.History = (uint8_t)history;
    kc.Replicas = (int)nt->cfg.nats_replicas;
    return js_CreateKeyValue(kv, nt->js, &kc);
}

static void run_setup(nats_work *w)
{
    nats_transport *nt = w->nt;
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    natsStatus s = js_GetStreamInfo(&si, nt->js, nt->cfg.nats_stream, NULL, &jerr);
    if (s == NATS_NOT_FOUND || (s != NATS_OK && jerr == JSStreamNotFoundErr)) {
        jsStreamConfig sc;
        jsStreamConfig_Init(&sc);
        const char *subjects[] = {"spectra.in.>"};
        sc.Name = nt->cfg.nats_stream;
        sc.Subjects = subjects;
        sc.SubjectsLen = 1;
        sc.Storage = js_FileStorage;
        sc.Replicas = nt->cfg.nats_replicas;
        s = js_AddStream(&si, nt->js, &sc, NULL, &jerr);
        if (s != NATS_OK && jerr == JSStreamNameExistErr)   /* another worker was first */
            s = NATS_OK;
    }
    jsStreamInfo_Destroy(si);
    if (s != NATS_OK) {
        snprintf(w->err, sizeof w->err, "JetStream stream %s: %s", nt->cfg.nats_stream,
                 nats_err(s));
        w->status = s;
        return;
    }
    if ((s = bind_bucket(nt, &nt->leases, LEASE_BUCKET, 1)) != NATS_OK ||
        (s = bind_bucket(nt, &nt->snaps, SNAP_BUCKET, 1)) != NATS_OK) {
        snprintf(w->err, sizeof w->err, "key-value buckets: %s", nats_err(s));
        w->status = s;
        return;
    }
    /* Every worker and producer must hash into the same P: the first worker records it. */
    char pv[16];
    snprintf(pv, sizeof pv, "%u", nt->P);
    uint64_t rev;
    s = kvStore_Create(&rev, nt->leases, "config.partitions", pv, (int)strlen(pv));
    if (s != NATS_OK) {
        kvEntry *e = NULL;
        if (kvStore_Get(&e, nt->leases, "config.partitions") == NATS_OK) {
            char have[16] = "";
            snprintf(have, sizeof have, "%.*s", kvEntry_ValueLen(e), (const char *)kvEntry_Value(e));
            kvEntry_Destroy(e);
            if (strcmp(have, pv) != 0) {
                snprintf(w->err, sizeof w->err, "partitions=%u but the cluster uses %s (key "
                         "config.partitions of bucket " LEASE_BUCKET ")", nt->P, have);
                w->status = NATS_ERR;
                return;
            }
        }
        s = NATS_OK;
    }
    w->status = s;
}

static bool worker_live(nats_transport *nt, const char *id, uint64_t rev, double now)
{
    for (size_t i = 0; i < nt->n_obs_workers; i++)
        if (!strcmp(nt->obs_workers[i].id, id)) {
            observed *o = &nt->obs_workers[i].o;
            if (o->rev != rev) {
                o->rev = rev;
                o->since = now;
            }
            return now - o->since < (double)nt->cfg.lease_ttl_ms / 1000.0;
        }
    void *grown = realloc(nt->obs_workers, (nt->n_obs_workers + 1) * sizeof *nt->obs_workers);
    if (!grown)
        return true;
    nt->obs_workers = grown;
    snprintf(nt->obs_workers[nt->n_obs_workers].id, SPX_WORKER_ID_MAX + 1, "%s", id);
    nt->obs_workers[nt->n_obs_workers].o = (observed){rev, now};
    nt->n_obs_workers++;
    return true;   /* first sight: live until it fails to change for a TTL */
}

/* Live workers (including us). Listing keys costs a consumer on the server, so new workers are
 * discovered every fourth round; the known ones are read every round. */
static unsigned count_live_workers(nats_transport *nt, double now)
{
    if (nt->rounds % 4 == 0) {
        kvKeysList keys = {0};
        if (kvStore_Keys(&keys, nt->leases, NULL) == NATS_OK) {
            for (int i = 0; i < keys.Count; i++) {
                const char *k = keys.Keys[i];
                if (strncmp(k, "worker.", 7) || !strcmp(k + 7, nt->cfg.worker_id))
                    continue;
                bool known = false;
                for (size_t j = 0; j < nt->n_obs_workers && !known; j++)
                    known = !strcmp(nt->obs_workers[j].id, k + 7);
                if (!known)
                    worker_live(nt, k + 7, 0, now);   /* registers it; read below */
            }
            kvKeysList_Destroy(&keys);
        }
    }
    unsigned live = 1;   /* ourselves */
    for (size_t i = 0; i < nt->n_obs_workers; i++) {
        char key[96];
        snprintf(key, sizeof key, "worker.%s", nt->obs_workers[i].id);
        kvEntry *e = NULL;
        if (kvStore_Get(&e, nt->leases, key) != NATS_OK)
            continue;   /* gone (deleted on a clean stop) */
        live += worker_live(nt, nt->obs_workers[i].id, kvEntry_Revision(e), now);
        kvEntry_Destroy(e);
    }
    return live;
}

static void fetch_snapshot(nats_transport *nt, unsigned p, round_part *r)
{
    char key[32];
    snprintf(key, sizeof key, "partition.%u", p);
    kvEntry *e = NULL;
    if (kvStore_Get(&e, nt->snaps, key) != NATS_OK)
        return;
    r->snap_rev = kvEntry_Revision(e);
    int n = kvEntry_ValueLen(e);
    if (n > 0 && (r->snap = malloc((size_t)n))) {
        memcpy(r->snap, kvEntry_Value(e), (size_t)n);
        r->snap_len = (size_t)n;
    }
    kvEntry_Destroy(e);
}

static void run_round(nats_work *w)
{
    nats_transport *nt = w->nt;
    double now = mono_now(), ttl = (double)nt->cfg.lease_ttl_ms / 1000.0;
    const char *me = nt->cfg.worker_id;
    int me_len = (int)strlen(me);
    char key[96];
    uint64_t rev;
    snprintf(key, sizeof key, "worker.%s", me);
    kvStore_Put(&rev, nt->leases, key, me, me_len);
    unsigned live = count_live_workers(nt, now);
    unsigned target = (nt->P + live - 1) / live;
    w->live_workers = live;
    /* A worker just started has not seen the others' heartbeats change yet: it waits two rounds
     * before taking free partitions, so simultaneous starts do not all grab everything. */
    bool settled = now - nt->started >= 2.0 * ttl / 3.0;
    unsigned owned = 0;
    for (unsigned p = 0; p < nt->P; p++)
        owned += w->rp[p].owned && !w->rp[p].releasing;
    bool released_one = false;
    for (unsigned p = 0; p < nt->P; p++) {
        round_part *r = &w->rp[p];
        snprintf(key, sizeof key, "partition.%u", p);
        if (r->owned) {
            r->sent_at = mono_now();
            natsStatus s = kvStore_Update(&rev, nt->leases, key, me, me_len, r->rev);
            if (s == NATS_OK) {
                r->rev = rev;
                r->out = R_RENEWED;
                if (!r->releasing && owned > target && !released_one) {
                    r->out = R_RELEASE;   /* renewed, and handed on after a final snapshot */
                    released_one = true;
                    owned--;
                }
            } else if (s != NATS_TIMEOUT) {
                r->out = R_LOST;          /* someone else's revision now: not ours any more */
            }
            continue;
        }
        /* Watched every round, even when we want no more partitions: an owner's death must be
         * judged from the first round after its last renewal, not from when we start to care. */
        kvEntry *e = NULL;
        natsStatus s = kvStore_Get(&e, nt->leases, key);
        bool take = false, want = settled && owned < target;
        uint64_t last = 0;
        if (s == NATS_NOT_FOUND && want) {
            r->sent_at = mono_now();
            take = kvStore_Create(&rev, nt->leases, key, me, me_len) == NATS_OK;
        } else if (s == NATS_OK) {
            last = kvEntry_Revision(e);
            bool mine = kvEntry_ValueLen(e) == me_len && !memcmp(kvEntry_Value(e), me, (size_t)me_len);
            observed *o = &nt->obs_parts[p];
            if (o->rev != last) {
                o->rev = last;
                o->since = now;
            }
            if (want && (mine || now - o->since >= ttl)) {
                r->sent_at = mono_now();
                take = kvStore_Update(&rev, nt->leases, key, me, me_len, last) == NATS_OK;
                if (take && !mine)
                    nt->takeovers++;
            }
        }
        kvEntry_Destroy(e);
        if (take) {
            r->out = R_ACQUIRED;
            r->rev = rev;
            owned++;
            fetch_snapshot(nt, p, r);
        }
    }
    nt->rounds++;
}

static void run_subscribe(nats_work *w)
{
    nats_transport *nt = w->nt;
    char subj[64];
    snprintf(subj, sizeof subj, "spectra.in.%u.*", w->partition);
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = nt->cfg.nats_stream;
    so.Ordered = true;
    if (w->start_seq > 1) {
        so.Config.DeliverPolicy = js_DeliverByStartSequence;
        so.Config.OptStartSeq = w->start_seq;
    } else {
        so.Config.DeliverPolicy = js_DeliverAll;
    }
    jsErrCode jerr = 0;
    w->status = js_Subscribe(&w->sub, nt->js, subj, on_msg, w->sc, NULL, &so, &jerr);
    if (w->status == NATS_OK)
        natsSubscription_SetPendingLimits(w->sub, -1, -1);   /* bounded by flow control + our queue */
    else
        snprintf(w->err, sizeof w->err, "%s", nats_err(w->status));
}

static void run_snap_put(nats_work *w)
{
    nats_transport *nt = w->nt;
    char key[32];
    snprintf(key, sizeof key, "partition.%u", w->partition);
    if (w->blob) {
        w->status = w->prev_rev
                        ? kvStore_Update(&w->new_rev, nt->snaps, key, w->blob, (int)w->blob_len,
                                         w->prev_rev)
                        : kvStore_Create(&w->new_rev, nt->snaps, key, w->blob, (int)w->blob_len);
        if (w->status != NATS_OK)
            snprintf(w->err, sizeof w->err, "%s", nats_err(w->status));
    }
    if (w->release)
        kvStore_Delete(nt->leases, key);   /* the next owner may start at once */
}

static void run_close(nats_work *w)
{
    nats_transport *nt = w->nt;
    char key[96];
    for (unsigned p = 0; p < nt->P; p++) {
        partition *pt = &nt->parts[p];
        if (pt->sub) {
            natsSubscription_Unsubscribe(pt->sub);
            natsSubscription_Destroy(pt->sub);
            pt->sub = NULL;
        }
        if (pt->state != P_FREE && nt->leases) {
            snprintf(key, sizeof key, "partition.%u", p);
            kvStore_Delete(nt->leases, key);
        }
    }
    if (nt->leases) {
        snprintf(key, sizeof key, "worker.%s", nt->cfg.worker_id);
        kvStore_Delete(nt->leases, key);
    }
    natsConnection_FlushTimeout(nt->nc, 2000);   /* the final results */
    natsConnection_Close(nt->nc);
}

static void work_run(uv_work_t *req)
{
    nats_work *w = (nats_work *)req;
    switch (w->kind) {
    case W_SETUP: run_setup(w); break;
    case W_ROUND: run_round(w); break;
    case W_SUBSCRIBE: run_subscribe(w); break;
    case W_UNSUBSCRIBE:
        if (w->sub) {
            natsSubscription_Unsubscribe(w->sub);
            natsSubscription_Destroy(w->sub);
        }
        break;
    case W_SNAP_PUT: run_snap_put(w); break;
    case W_CLOSE: run_close(w); break;
    }
}

/* ---- partitions on the loop thread ------------------------------------------------------------- */

static void unsubscribe(nats_transport *nt, partition *pt)
{
    if (!pt->sub)
        return;
    nats_work *w = new_work(W_UNSUBSCRIBE);
    if (!w)
        return;   /* leaks the subscription; its messages are dropped by epoch */
    w->sub = pt->sub;
    w->sc = pt->sub_ctx;
    pt->sub = NULL;
    pt->sub_ctx = NULL;
    queue_work(nt, w);
}

static void subscribe(nats_transport *nt, unsigned p)
{
    partition *pt = &nt->parts[p];
    nats_work *w = new_work(W_SUBSCRIBE);
    sub_ctx *sc = calloc(1, sizeof *sc);
    if (!w || !sc) {
        free(w);
        free(sc);
        spx_error("nats: partition %u: out of memory subscribing", p);
        return;
    }
    *sc = (sub_ctx){nt, p, pt->epoch, nt->all_subs};
    nt->all_subs = sc;
    w->sc = sc;
    w->partition = p;
    w->epoch = pt->epoch;
    w->start_seq = pt->handled + 1;
    pt->subscribing = true;
    queue_work(nt, w);
}

static void drop_stream(spx_server *srv, spx_stream *s)
{
    spx_pipeline *orphans[SPX_STREAM_PIPELINES_MAX];
    for (size_t i = 0; i < s->n_pipelines; i++) {
        spx_control_fail_commands(srv, s->pipelines[i]);
        if (!s->pipelines[i]->busy)
            spx_control_answer_gets(srv, s->pipelines[i], true);
    }
    spx_registry_drop(srv->reg, s, orphans, SPX_STREAM_PIPELINES_MAX);
}

static void drop_partition_streams(nats_transport *nt, unsigned p)
{
    spx_server *srv = nt->base.srv;
    for (size_t i = spx_registry_count(srv->reg); i-- > 0;) {
        spx_stream *s = spx_registry_at(srv->reg, i);
        if (spx_partition_of(s->name, nt->P) == p)
            drop_stream(srv, s);
    }
}

static void build_free(snap_build *b)
{
    for (size_t i = 0; i < b->n; i++) {
        snap_stream *ss = &b->streams[i];
        free(ss->stream_part);
        for (size_t j = 0; j < ss->n_parts; j++)
            free(ss->parts[j]);
        free(ss->parts);
        free(ss->part_lens);
    }
    free(b->streams);
    memset(b, 0, sizeof *b);
}

/* Gives a partition up here (lost, fenced, released): nothing more of it is applied. */
static void drop_partition(nats_transport *nt, unsigned p, const char *why)
{
    partition *pt = &nt->parts[p];
    if (pt->state == P_FREE)
        return;
    pt->state = P_FREE;
    pt->epoch++;
    unsubscribe(nt, pt);
    build_free(&pt->build);
    drop_partition_streams(nt, p);
    pt->handled = pt->covered = pt->snap_rev = 0;
    pt->release_pending = false;
    spx_info("nats: partition %u released (%s)", p, why);
}

/* Restores a stored snapshot set; on any refusal nothing of it stays and the partition replays
 * from the start of the JetStream stream. */
static void restore_partition(nats_transport *nt, unsigned p, const unsigned char *buf, size_t len,
                              uint64_t rev)
{
    spx_server *srv = nt->base.srv;
    partition *pt = &nt->parts[p];
    pt->covered = pt->handled = 0;
    pt->snap_rev = rev;
    if (!buf)
        return;
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    char err[512] = "malformed snapshot set";
    bool ok = msgpack_unpack_next(&up, (const char *)buf, len, NULL) == MSGPACK_UNPACK_SUCCESS &&
              up.data.type == MSGPACK_OBJECT_MAP;
    uint64_t js_seq = 0;
    const msgpack_object *streams = NULL;
    if (ok) {
        const msgpack_object_map *m = &up.data.via.map;
        for (uint32_t i = 0; i < m->size; i++) {
            const msgpack_object *k = &m->ptr[i].key, *v = &m->ptr[i].val;
            if (k->type != MSGPACK_OBJECT_STR)
                continue;
            if (k->via.str.size == 6 && !memcmp(k->via.str.ptr, "js_seq", 6) &&
                v->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
                js_seq = v->via.u64;
            else if (k->via.str.size == 7 && !memcmp(k->via.str.ptr, "streams", 7) &&
                     v->type == MSGPACK_OBJECT_ARRAY)
                streams = v;
        }
        ok = streams != NULL;
    }
    size_t restored = 0;
    for (uint32_t i = 0; ok && i < streams->via.array.size; i++) {
        const msgpack_object *img = &streams->via.array.ptr[i];
        if (img->type != MSGPACK_OBJECT_BIN) {
            ok = false;
            break;
        }
        msgpack_unpacked one;
        msgpack_unpacked_init(&one);
        uint64_t covers;
        spx_stream *s = NULL;
        ok = spx_snapshot_decode(img->via.bin.ptr, img->via.bin.size, &one, &covers, err,
                                 sizeof err) == 0 &&
             spx_snapshot_restore(srv->reg, &one.data, &s, err, sizeof err) == SPX_OK;
        msgpack_unpacked_destroy(&one);
        if (ok && spx_partition_of(s->name, nt->P) != p) {
            snprintf(err, sizeof err, "stream %s is not in partition %u", s->name, p);
            drop_stream(srv, s);
            ok = false;
        }
        restored += ok;
    }
    msgpack_unpacked_destroy(&up);
    if (!ok) {
        spx_error("nats: partition %u: snapshot refused (%s); replaying the partition from the "
                  "start of stream %s", p, err, nt->cfg.nats_stream);
        drop_partition_streams(nt, p);
        return;
    }
    pt->covered = pt->handled = js_seq;
    spx_info("nats: partition %u: restored %zu stream(s) from the snapshot covering sequence %"
             PRIu64, p, restored, js_seq);
}

static void acquire_partition(nats_transport *nt, unsigned p, round_part *r)
{
    spx_server *srv = nt->base.srv;
    partition *pt = &nt->parts[p];
    drop_partition_streams(nt, p);   /* nothing stale of an earlier ownership */
    build_free(&pt->build);
    pt->state = P_OWNED;
    pt->epoch++;
    pt->lease_rev = r->rev;
    pt->renewed_at = r->sent_at;
    pt->last_snapshot = mono_now();
    restore_partition(nt, p, r->snap, r->snap_len, r->snap_rev);
    char err[1024];
    if (spx_server_apply_declarations(srv, &srv->cfg, err, sizeof err) != 0)
        spx_error("nats: partition %u: %s", p, err);
    spx_info("nats: partition %u acquired by %s (lease revision %" PRIu64 "), consuming after "
             "sequence %" PRIu64, p, nt->cfg.worker_id, r->rev, pt->handled);
    subscribe(nt, p);
}

/* ---- snapshots of a partition ----------------------------------------------------------------- */

static void finish_build(nats_transport *nt, unsigned p);

static void begin_build(nats_transport *nt, unsigned p, bool for_release)
{
    spx_server *srv = nt->base.srv;
    partition *pt = &nt->parts[p];
    snap_build *b = &pt->build;
    if (b->active)
        return;
    if (pt->snap_writing) {
        if (for_release)
            pt->release_pending = true;
        return;
    }
    memset(b, 0, sizeof *b);
    b->active = true;
    b->for_release = for_release;
    b->js_seq = pt->handled;
    b->started = mono_now();
    size_t n = spx_registry_count(srv->reg), k = 0;
    b->streams = calloc(n ? n : 1, sizeof *b->streams);
    bool oom = !b->streams;
    for (size_t i = 0; !oom && i < n; i++) {
        spx_stream *s = spx_registry_at(srv->reg, i);
        if (spx_partition_of(s->name, nt->P) != p)
            continue;
        snap_stream *ss = &b->streams[k++];
        b->n = k;
        snprintf(ss->name, sizeof ss->name, "%s", s->name);
        ss->covers = s->c.messages;
        ss->n_parts = s->n_pipelines;
        ss->parts = calloc(ss->n_parts ? ss->n_parts : 1, sizeof *ss->parts);
        ss->part_lens = calloc(ss->n_parts ? ss->n_parts : 1, sizeof *ss->part_lens);
        if (!ss->parts || !ss->part_lens ||
            spx_snapshot_pack_stream(s, &ss->stream_part, &ss->stream_len) != 0) {
            oom = true;
            break;
        }
        if (ss->n_parts == 0)
            b->done++;
    }
    if (oom) {
        spx_error("nats: partition %u: out of memory starting a snapshot", p);
        build_free(b);
        return;
    }
    for (size_t i = 0; i < b->n; i++) {
        spx_stream *s = spx_registry_find(srv->reg, b->streams[i].name);
        for (size_t j = 0; j < s->n_pipelines; j++)
            spx_pipeline_request_snapshot(s->pipelines[j], b->streams[i].covers);
        spx_server_schedule_stream(srv, s);
    }
    if (b->done == b->n)
        finish_build(nt, p);
}

static void nt_job_done(spx_transport *t, spx_job *job)
{
    nats_transport *nt = (nats_transport *)t;
    if (!job->snapshot || job->p->detached)
        return;
    unsigned p = spx_partition_of(job->p->stream_name, nt->P);
    snap_build *b = &nt->parts[p].build;
    if (!b->active)
        return;
    if (job->snapshot_rc != 0) {
        spx_log_limited(SPX_LOG_ERROR, "nats-snapshot", "nats: partition %u: stream=%s pipeline=%s: "
                        "no snapshot: %s", p, job->p->stream_name, job->p->name, job->snapshot_err);
        return;   /* the build times out; the partition then replays from an older snapshot */
    }
    spx_stream *s = spx_registry_find(nt->base.srv->reg, job->p->stream_name);
    for (size_t i = 0; s && i < b->n; i++) {
        snap_stream *ss = &b->streams[i];
        if (strcmp(ss->name, s->name) || job->snapshot_seq != ss->covers)
            continue;
        size_t j = 0;
        while (j < s->n_pipelines && s->pipelines[j] != job->p)
            j++;
        if (j >= ss->n_parts || ss->parts[j])
            return;
        ss->parts[j] = job->snapshot_data;
        ss->part_lens[j] = job->snapshot_len;
        job->snapshot_data = NULL;
        if (++ss->received == ss->n_parts && ++b->done == b->n)
            finish_build(nt, p);
        return;
    }
}

static void finish_build(nats_transport *nt, unsigned p)
{
    partition *pt = &nt->parts[p];
    snap_build *b = &pt->build;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 5);
    spx_pack_key_uint(&pk, "v", 1);
    spx_pack_key_uint(&pk, "partition", p);
    spx_pack_key_uint(&pk, "js_seq", b->js_seq);
    spx_pack_key_cstr(&pk, "worker", nt->cfg.worker_id);
    spx_pack_cstr(&pk, "streams");
    msgpack_pack_array(&pk, b->n);
    bool ok = true;
    for (size_t i = 0; i < b->n && ok; i++) {
        snap_stream *ss = &b->streams[i];
        unsigned char *img = NULL;
        size_t img_len = 0;
        ok = spx_snapshot_encode(ss->stream_part, ss->stream_len, ss->parts, ss->part_lens,
                                 ss->n_parts, ss->covers, spx_now(), &img, &img_len) == 0;
        if (ok) {
            msgpack_pack_bin(&pk, img_len);
            msgpack_pack_bin_body(&pk, img, img_len);
        }
        free(img);
    }
    bool for_release = b->for_release;
    uint64_t js_seq = b->js_seq;
    build_free(b);
    nats_work *w = ok ? new_work(W_SNAP_PUT) : NULL;
    if (!w) {
        msgpack_sbuffer_destroy(&sb);
        spx_error("nats: partition %u: snapshot not stored: out of memory", p);
        if (!for_release)
            return;
        w = new_work(W_SNAP_PUT);   /* still give the lease back */
        if (!w)
            return;
    } else {
        w->blob = (unsigned char *)sb.data;
        w->blob_len = sb.size;
    }
    w->partition = p;
    w->epoch = pt->epoch;
    w->js_seq = js_seq;
    w->prev_rev = pt->snap_rev;
    w->release = for_release;
    pt->snap_writing = true;
    queue_work(nt, w);
}

/* ---- loop timers -------------------------------------------------------------------------------- */

static void start_round(nats_transport *nt)
{
    if (!nt->ready || nt->closing || nt->round_busy)
        return;
    nats_work *w = new_work(W_ROUND);
    if (w)
        w->rp = calloc(nt->P, sizeof *w->rp);
    if (!w || !w->rp) {
        free(w);
        return;
    }
    for (unsigned p = 0; p < nt->P; p++) {
        partition *pt = &nt->parts[p];
        w->rp[p].owned = pt->state != P_FREE;
        w->rp[p].releasing = pt->state == P_RELEASING;
        w->rp[p].rev = pt->lease_rev;
    }
    nt->round_busy = true;
    nt->round_started = mono_now();
    queue_work(nt, w);
}

static void on_lease_timer(uv_timer_t *t) { start_round(t->data); }

static void on_fence_timer(uv_timer_t *t)
{
    nats_transport *nt = t->data;
    double now = mono_now(), limit = 0.8 * (double)nt->cfg.lease_ttl_ms / 1000.0;
    for (unsigned p = 0; p < nt->P; p++) {
        partition *pt = &nt->parts[p];
        if (pt->state != P_FREE && now - pt->renewed_at > limit) {
            spx_warn("nats: partition %u: lease not renewed for %.1f s; stopping before another "
                     "worker may take it", p, now - pt->renewed_at);
            drop_partition(nt, p, "lease expired");
        }
        snap_build *b = &pt->build;
        if (b->active && now - b->started > SNAP_BUILD_TIMEOUT_S) {
            spx_error("nats: partition %u: snapshot abandoned after %.0f s", p, SNAP_BUILD_TIMEOUT_S);
            bool rel = b->for_release;
            build_free(b);
            nats_work *w = rel ? new_work(W_SNAP_PUT) : NULL;
            if (w) {   /* hand over without it: the next owner replays from the older snapshot */
                w->partition = p;
                w->epoch = pt->epoch;
                w->release = true;
                pt->snap_writing = true;
                queue_work(nt, w);
            }
        }
    }
}

static void on_snap_timer(uv_timer_t *t)
{
    nats_transport *nt = t->data;
    for (unsigned p = 0; p < nt->P; p++) {
        partition *pt = &nt->parts[p];
        if (pt->state == P_OWNED && pt->handled > pt->covered)
            begin_build(nt, p, false);
    }
}

static void queue_close(nats_transport *nt);

static void round_done(nats_transport *nt, nats_work *w)
{
    nt->round_busy = false;
    double took = mono_now() - nt->round_started;
    if (took > (double)nt->cfg.lease_ttl_ms / 3000.0)
        spx_log_limited(SPX_LOG_WARN, "nats-round", "nats: a lease round took %.2f s (lease ttl "
                        "%.1f s): JetStream answers slowly", took,
                        (double)nt->cfg.lease_ttl_ms / 1000.0);
    if (nt->closing) {
        for (unsigned p = 0; p < nt->P; p++)
            free(w->rp[p].snap);
        if (nt->close_after_round)
            queue_close(nt);
        return;
    }
    for (unsigned p = 0; p < nt->P; p++) {
        round_part *r = &w->rp[p];
        partition *pt = &nt->parts[p];
        switch (r->out) {
        case R_NONE:
            break;
        case R_RENEWED:
        case R_RELEASE:
            if (pt->state == P_FREE)
                break;   /* fenced meanwhile: the next round gives it up or takes it again */
            pt->lease_rev = r->rev;
            pt->renewed_at = r->sent_at;
            if (r->out == R_RELEASE && pt->state == P_OWNED) {
                spx_info("nats: partition %u: handing over (%u live workers)", p, w->live_workers);
                pt->state = P_RELEASING;
                pt->epoch++;
                unsubscribe(nt, pt);
                build_free(&pt->build);
                begin_build(nt, p, true);
            }
            break;
        case R_LOST:
            drop_partition(nt, p, "lease taken by another worker");
            break;
        case R_ACQUIRED:
            if (pt->state == P_FREE)
                acquire_partition(nt, p, r);
            break;
        }
        free(r->snap);
    }
}

static void work_done(uv_work_t *req, int status)
{
    (void)status;
    nats_work *w = (nats_work *)req;
    nats_transport *nt = w->nt;
    switch (w->kind) {
    case W_SETUP:
        if (w->status != NATS_OK) {
            spx_error("nats: %s", w->err);
            nt->base.srv->exit_code = 1;
            spx_server_stop(nt->base.srv);
            break;
        }
        nt->ready = true;
        spx_info("nats: worker %s ready: stream %s, %u partitions, lease ttl %" PRIu64 " ms",
                 nt->cfg.worker_id, nt->cfg.nats_stream, nt->P, nt->cfg.lease_ttl_ms);
        start_round(nt);
        break;
    case W_ROUND:
        round_done(nt, w);
        free(w->rp);
        break;
    case W_SUBSCRIBE: {
        partition *pt = &nt->parts[w->partition];
        pt->subscribing = false;
        if (w->status != NATS_OK) {
            spx_error("nats: partition %u: cannot consume: %s", w->partition, w->err);
            drop_partition(nt, w->partition, "no consumer");
        } else if (nt->closing) {
            natsSubscription_Destroy(w->sub);   /* the connection is closing with it */
        } else if (pt->state != P_OWNED || pt->epoch != w->epoch) {
            nats_work *u = new_work(W_UNSUBSCRIBE);   /* ownership moved while subscribing */
            if (u) {
                u->sub = w->sub;
                u->sc = w->sc;
                queue_work(nt, u);
            }
        } else {
            pt->sub = w->sub;
            pt->sub_ctx = w->sc;
        }
        break;
    }
    case W_UNSUBSCRIBE:
        break;
    case W_SNAP_PUT: {
        partition *pt = &nt->parts[w->partition];
        pt->snap_writing = false;
        if (w->blob && w->status == NATS_OK && pt->state != P_FREE) {
            if (pt->epoch == w->epoch || pt->state == P_RELEASING)
                pt->covered = w->js_seq;
            pt->snap_rev = w->new_rev;
            pt->last_snapshot = mono_now();
            spx_debug("nats: partition %u: snapshot stored (sequence %" PRIu64 ", %zu bytes)",
                      w->partition, w->js_seq, w->blob_len);
        } else if (w->blob && w->status != NATS_OK) {
            spx_log_limited(SPX_LOG_ERROR, "nats-snapshot", "nats: partition %u: snapshot not "
                            "stored: %s", w->partition, w->err);
        }
        if (w->release && !nt->closing)
            drop_partition(nt, w->partition, "handed over");
        else if (pt->release_pending && pt->state == P_RELEASING && !nt->closing) {
            pt->release_pending = false;
            begin_build(nt, w->partition, true);
        }
        free(w->blob);
        break;
    }
    case W_CLOSE:
        uv_close((uv_handle_t *)&nt->wake, NULL);
        uv_close((uv_handle_t *)&nt->done_async, NULL);
        nt->open_handles = 0;
        nt->on_closed(&nt->base);
        break;
    }
    free(w);
}

/* ---- the transport ops --------------------------------------------------------------------------- */

static void nt_pause(spx_transport *t) { ((nats_transport *)t)->paused = true; }

static void nt_resume(spx_transport *t)
{
    nats_transport *nt = (nats_transport *)t;
    if (!nt->paused || nt->closing)
        return;
    nt->paused = false;
    uv_async_send(&nt->wake);
}

static int nt_publish(spx_transport *t, const char *topic, const void *body, size_t len)
{
    nats_transport *nt = (nats_transport *)t;
    char subj[2 * SPX_NAME_MAX + 16];
    snprintf(subj, sizeof subj, "spectra.out.%s", topic);
    return natsConnection_Publish(nt->nc, subj, body, (int)len) == NATS_OK ? 0 : -1;
}

static bool nt_owns(spx_transport *t, const char *stream)
{
    nats_transport *nt = (nats_transport *)t;
    return nt->parts[spx_partition_of(stream, nt->P)].state == P_OWNED;
}

static void nt_close(spx_transport *t, void (*on_closed)(spx_transport *t))
{
    nats_transport *nt = (nats_transport *)t;
    nt->closing = true;
    nt->on_closed = on_closed;
    uv_timer_stop(&nt->lease_timer);
    uv_timer_stop(&nt->fence_timer);
    uv_timer_stop(&nt->snap_timer);
    uv_close((uv_handle_t *)&nt->lease_timer, NULL);
    uv_close((uv_handle_t *)&nt->fence_timer, NULL);
    uv_close((uv_handle_t *)&nt->snap_timer, NULL);
    uv_mutex_lock(&nt->qlock);
    nt->q_closed = true;   /* input not accepted yet is dropped: the next owner replays it */
    uv_cond_broadcast(&nt->qroom);
    uv_mutex_unlock(&nt->qlock);
    for (unsigned p = 0; p < nt->P; p++)
        nt->parts[p].epoch++;
    if (nt->round_busy)
        nt->close_after_round = true;   /* the round may still write leases: close after it */
    else
        queue_close(nt);
}

static void queue_close(nats_transport *nt)
{
    nats_work *w = new_work(W_CLOSE);
    if (!w) {
        uv_close((uv_handle_t *)&nt->wake, NULL);
        uv_close((uv_handle_t *)&nt->done_async, NULL);
        nt->on_closed(&nt->base);
        return;
    }
    queue_work(nt, w);
}

static void nt_destroy(spx_transport *t)
{
    nats_transport *nt = (nats_transport *)t;
    lanes_stop(nt);
    uv_mutex_destroy(&nt->done_lock);
    qmsg qm;
    while (queue_pop(nt, &qm))
        natsMsg_Destroy(qm.m);
    for (unsigned p = 0; p < nt->P; p++)
        build_free(&nt->parts[p].build);
    while (nt->all_subs) {
        sub_ctx *sc = nt->all_subs;
        nt->all_subs = sc->next;
        free(sc);
    }
    kvStore_Destroy(nt->leases);
    kvStore_Destroy(nt->snaps);
    jsCtx_Destroy(nt->js);
    natsConnection_Destroy(nt->nc);
    uv_mutex_destroy(&nt->qlock);
    uv_cond_destroy(&nt->qroom);
    free(nt->q);
    free(nt->parts);
    free(nt->obs_parts);
    free(nt->obs_workers);
    free(nt);
    nats_Close();
}

static const spx_transport_ops nats_ops = {
    .name = "nats",
    .pause = nt_pause,
    .resume = nt_resume,
    .publish = nt_publish,
    .close = nt_close,
    .destroy = nt_destroy,
    .owns = nt_owns,
    .job_done = nt_job_done,
};

/* Options shared by the daemon and the CLI: URLs, credentials, TLS. */
static natsStatus set_options(natsOptions *o, const spx_transport_config *c, char *err,
                              size_t errlen)
{
    char urls[SPX_NATS_URLS_MAX];
    snprintf(urls, sizeof urls, "%s", c->nats_url);
    const char *list[64];
    int n = 0;
    for (char *save = NULL, *tok = strtok_r(urls, ",", &save); tok && n < 64;
         tok = strtok_r(NULL, ",", &save))
        list[n++] = tok;
    natsStatus s = natsOptions_SetServers(o, list, n);
    if (s == NATS_OK && c->nats_creds[0])
        s = natsOptions_SetUserCredentialsFromFiles(o, c->nats_creds, NULL);
    if (s == NATS_OK && c->nats_nkey_seed[0])
        s = natsOptions_SetNKeyFromSeed(o, c->nats_nkey, c->nats_nkey_seed);
    if (s == NATS_OK && c->nats_tls_ca[0]) {
        s = natsOptions_SetSecure(o, true);
        if (s == NATS_OK)
            s = natsOptions_LoadCATrustedCertificates(o, c->nats_tls_ca);
        if (s == NATS_OK && c->nats_tls_cert[0])
            s = natsOptions_LoadCertificatesChain(o, c->nats_tls_cert, c->nats_tls_key);
    }
    if (s == NATS_OK)
        s = natsOptions_SetMaxReconnect(o, -1);   /* a cluster node going away is routine */
    if (s == NATS_OK)
        s = natsOptions_SetReconnectWait(o, 250);
    if (s != NATS_OK)
        snprintf(err, errlen, "NATS options: %s", nats_err(s));
    return s;
}

spx_transport *spx_transport_nats_new(spx_server *srv, char *err, size_t errlen)
{
    nats_transport *nt = calloc(1, sizeof *nt);
    if (!nt) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    nt->base.ops = &nats_ops;
    nt->base.srv = srv;
    nt->cfg = srv->cfg.tr;
    nt->P = nt->cfg.partitions;
    nt->started = mono_now();
    nt->parts = calloc(nt->P, sizeof *nt->parts);
    nt->obs_parts = calloc(nt->P, sizeof *nt->obs_parts);
    nt->q = calloc(QUEUE_CAP, sizeof *nt->q);
    if (!nt->parts || !nt->obs_parts || !nt->q) {
        free(nt->parts);
        free(nt->obs_parts);
        free(nt->q);
        free(nt);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    uv_mutex_init(&nt->qlock);
    uv_cond_init(&nt->qroom);
    spx_nats_uv_init(srv->loop);
    natsOptions *o = NULL;
    natsStatus s = natsOptions_Create(&o);
    if (s == NATS_OK)
        s = set_options(o, &nt->cfg, err, errlen);
    if (s == NATS_OK)
        s = spx_nats_uv_attach(o, srv->loop);
    if (s == NATS_OK) {
        s = natsConnection_Connect(&nt->nc, o);
        if (s != NATS_OK)
            snprintf(err, errlen, "cannot connect to %s: %s", nt->cfg.nats_url, nats_err(s));
    }
    natsOptions_Destroy(o);
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = (int64_t)(nt->cfg.lease_ttl_ms / 3 > 1000 ? nt->cfg.lease_ttl_ms / 3 : 1000);
    if (s == NATS_OK && (s = natsConnection_JetStream(&nt->js, nt->nc, &jo)) != NATS_OK)
        snprintf(err, errlen, "JetStream: %s", nats_err(s));
    if (s != NATS_OK) {
        natsConnection_Destroy(nt->nc);
        uv_mutex_destroy(&nt->qlock);
        uv_cond_destroy(&nt->qroom);
        free(nt->parts);
        free(nt->obs_parts);
        free(nt->q);
        free(nt);
        return NULL;
    }
    uv_async_init(srv->loop, &nt->wake, on_wake);
    nt->wake.data = nt;
    uv_mutex_init(&nt->done_lock);
    uv_async_init(srv->loop, &nt->done_async, on_done_async);
    nt->done_async.data = nt;
    for (int i = 0; i < 2; i++) {
        lane *l = &nt->lanes[i];
        l->nt = nt;
        uv_mutex_init(&l->lock);
        uv_cond_init(&l->cond);
        l->started = uv_thread_create(&l->thread, lane_main, l) == 0;
        if (!l->started) {
            snprintf(err, errlen, "cannot start a NATS thread");
            return NULL;   /* handles are registered with the loop; the process exits */
        }
    }
    uint64_t ttl = nt->cfg.lease_ttl_ms;
    uv_timer_init(srv->loop, &nt->lease_timer);
    uv_timer_init(srv->loop, &nt->fence_timer);
    uv_timer_init(srv->loop, &nt->snap_timer);
    nt->lease_timer.data = nt->fence_timer.data = nt->snap_timer.data = nt;
    uv_timer_start(&nt->lease_timer, on_lease_timer, ttl / 3, ttl / 3);
    uv_timer_start(&nt->fence_timer, on_fence_timer, ttl / 10, ttl / 10);
    if (nt->cfg.nats_snapshot_interval_ms)
        uv_timer_start(&nt->snap_timer, on_snap_timer, nt->cfg.nats_snapshot_interval_ms,
                       nt->cfg.nats_snapshot_interval_ms);
    nats_work *w = new_work(W_SETUP);
    if (!w) {
        snprintf(err, errlen, "out of memory");
        return NULL;   /* handles are registered with the loop; the process exits */
    }
    queue_work(nt, w);
    spx_info("nats: connected to %s as worker %s", nt->cfg.nats_url, nt->cfg.worker_id);
    return &nt->base;
}
