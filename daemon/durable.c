#define _XOPEN_SOURCE 700   /* nftw */
#include "durable.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "journal.h"
#include "log.h"
#include "snapshot.h"

#define SNAPSHOT_FILE "snapshot.spx"

typedef struct stream_durable {
    spx_server *srv;
    spx_stream *stream;        /* NULL once the stream is gone and a write is still in flight */
    char dir[PATH_MAX];
    spx_journal *journal;      /* journal durability only */
    bool flush_pending;        /* journaled input waiting for its fdatasync (journal_sync=always) */
    double last_sync;
    uint64_t journal_bytes_at_snapshot;
    /* the snapshot being assembled */
    bool active;
    uint64_t covers;
    bool covers_has_seq;
    uint64_t covers_seq;
    unsigned char *stream_part;
    size_t stream_len;
    unsigned char **parts;     /* one per pipeline, in the stream's order */
    size_t *part_lens;
    size_t n_parts, received;
    bool again;                /* another snapshot was asked for while one was under way */
    /* Structure (the stream, its pipelines and their parameters) changes are durable once a
     * snapshot begun after them is written. */
    uint64_t structure_gen, snap_gen, written_gen;
    bool writing;
    bool remove_files;         /* dropped: delete `tomb` once no write is in flight */
    char tomb[PATH_MAX + 64];  /* where a dropped stream's directory was moved */
    /* the newest snapshot on disk */
    bool has_written;
    uint64_t written_covers;
    bool written_has_seq;
    uint64_t written_seq;
    double last_snapshot;
    uint64_t snapshots, failures;
} stream_durable;

static bool enabled(const spx_server *srv) { return srv->cfg.state_dir[0] != '\0'; }

/* a + "/" + b into buf; false when it does not fit (then nothing is done with the path). */
static bool join_path(char *buf, size_t len, const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la + 1 + lb >= len)
        return false;
    memcpy(buf, a, la);
    buf[la] = '/';
    memcpy(buf + la + 1, b, lb + 1);
    return true;
}

static void streams_dir(const spx_server *srv, char *buf, size_t len)
{
    if (!join_path(buf, len, srv->cfg.state_dir, "streams"))
        buf[0] = '\0';
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st; (void)flag; (void)ftw;
    return remove(path);
}

static void free_parts(stream_durable *d)
{
    for (size_t i = 0; i < d->n_parts; i++)
        free(d->parts ? d->parts[i] : NULL);
    free(d->parts);
    free(d->part_lens);
    free(d->stream_part);
    d->parts = NULL;
    d->part_lens = NULL;
    d->stream_part = NULL;
    d->n_parts = d->received = 0;
    d->active = false;
}

static void durable_free(stream_durable *d)
{
    free_parts(d);
    spx_journal_close(d->journal);
    if (d->remove_files)
        nftw(d->tomb, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(d);
}

/* The registry's hook: the stream is being freed (drop, or the daemon's exit). */
static void on_stream_free(spx_stream *s)
{
    stream_durable *d = s->durable;
    s->durable = NULL;
    d->stream = NULL;
    if (!d->writing)
        durable_free(d);   /* else the write's completion frees it */
}

static stream_durable *ctx_for(spx_server *srv, spx_stream *s)
{
    if (s->durable)
        return s->durable;
    stream_durable *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->srv = srv;
    d->stream = s;
    char base[PATH_MAX];
    streams_dir(srv, base, sizeof base);
    if ((size_t)snprintf(d->dir, sizeof d->dir, "%s/%s", base, s->name) >= sizeof d->dir) {
        free(d);
        return NULL;
    }
    d->last_snapshot = spx_now();
    s->durable = d;
    spx_registry_on_stream_free(srv->reg, on_stream_free);
    return d;
}

/* ---- writing a snapshot --------------------------------------------------------------------- */

typedef struct write_req {
    uv_work_t req;
    stream_durable *d;
    unsigned char *image;
    size_t len;
    uint64_t covers;
    bool has_seq;              /* the producer seq the snapshot covers, for `position` */
    uint64_t seq;
    uint64_t gen;
    int rc;
    char err[256];
} write_req;

static int write_all(int fd, const unsigned char *p, size_t len)
{
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Worker pool: temp file, fsync, rename over the old snapshot, fsync the directory; then the
 * journal segments the new snapshot covers are no longer needed. */
static void write_work(uv_work_t *req)
{
    write_req *w = (write_req *)req;
    char tmp[PATH_MAX + 16], path[PATH_MAX + 16];
    join_path(tmp, sizeof tmp, w->d->dir, SNAPSHOT_FILE ".tmp");   /* dir < PATH_MAX: fits */
    join_path(path, sizeof path, w->d->dir, SNAPSHOT_FILE);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    const char *step = "open";
    if (fd >= 0) {
        step = "write";
        if (write_all(fd, w->image, w->len) == 0 && (step = "fsync", fsync(fd) == 0)) {
            close(fd);
            fd = -1;
            step = "rename";
            if (rename(tmp, path) == 0) {
                int dfd = open(w->d->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                step = "fsync dir";
                if (dfd >= 0 && fsync(dfd) == 0) {
                    close(dfd);
                    spx_journal_compact(w->d->dir, w->covers);
                    w->rc = 0;
                    return;
                }
                if (dfd >= 0)
                    close(dfd);
            }
        }
    }
    w->rc = -errno;
    int e = errno;
    snprintf(w->err, sizeof w->err, "%s %.160s: %s", step, SNAPSHOT_FILE, strerror(e));
    if (fd >= 0)
        close(fd);
    unlink(tmp);
}

static void begin_snapshot(stream_durable *d);

static void write_done(uv_work_t *req, int status)
{
    (void)status;
    write_req *w = (write_req *)req;
    stream_durable *d = w->d;
    d->writing = false;
    if (w->rc == 0) {
        d->has_written = true;
        d->written_covers = w->covers;
        d->written_has_seq = w->has_seq;
        d->written_seq = w->seq;
        d->written_gen = w->gen;
        d->snapshots++;
        spx_debug("stream=%s: snapshot written (covers message %" PRIu64 ", %zu bytes)",
                  d->stream ? d->stream->name : "?", w->covers, w->len);
    } else if (d->stream) {
        d->failures++;
        spx_log_limited(SPX_LOG_ERROR, "snapshot-write", "stream=%s: snapshot not written: %s",
                        d->stream->name, w->err);
    }
    free(w->image);
    free(w);
    if (!d->stream) {
        durable_free(d);
        return;
    }
    if (d->again) {
        d->again = false;
        begin_snapshot(d);
    }
}

static void finish_snapshot(stream_durable *d)
{
    spx_server *srv = d->srv;
    write_req *w = calloc(1, sizeof *w);
    int rc = w ? spx_snapshot_encode(d->stream_part, d->stream_len, d->parts, d->part_lens,
                                     d->n_parts, d->covers, spx_now(), &w->image, &w->len)
               : -ENOMEM;
    uint64_t covers = d->covers;
    free_parts(d);
    if (rc != 0) {
        free(w);
        d->failures++;
        spx_error("stream=%s: snapshot not written: out of memory", d->stream->name);
        return;
    }
    w->d = d;
    w->covers = covers;
    w->has_seq = d->covers_has_seq;
    w->seq = d->covers_seq;
    w->gen = d->snap_gen;
    d->writing = true;
    d->last_snapshot = spx_now();
    d->journal_bytes_at_snapshot = d->journal ? spx_journal_bytes(d->journal) : 0;
    uv_queue_work(srv->loop, &w->req, write_work, write_done);
}

static void abort_snapshot(stream_durable *d, const char *why)
{
    if (!d->active)
        return;
    spx_log_limited(SPX_LOG_ERROR, "snapshot-abort", "stream=%s: snapshot at message %" PRIu64
                    " abandoned: %s", d->stream ? d->stream->name : "?", d->covers, why);
    d->failures++;
    free_parts(d);
}

/* Asks for a snapshot at the stream's newest message. */
static void begin_snapshot(stream_durable *d)
{
    spx_stream *s = d->stream;
    if (!s || s->durability == SPX_DURABILITY_NONE)
        return;
    if (d->active || d->writing) {
        d->again = true;
        return;
    }
    d->covers = s->c.messages;
    d->covers_has_seq = s->has_last_seq;
    d->covers_seq = s->last_seq;
    d->n_parts = s->n_pipelines;
    d->received = 0;
    d->parts = calloc(d->n_parts ? d->n_parts : 1, sizeof *d->parts);
    d->part_lens = calloc(d->n_parts ? d->n_parts : 1, sizeof *d->part_lens);
    if (!d->parts || !d->part_lens ||
        spx_snapshot_pack_stream(s, &d->stream_part, &d->stream_len) != 0) {
        d->active = true;
        abort_snapshot(d, "out of memory");
        return;
    }
    d->active = true;
    d->snap_gen = d->structure_gen;
    spx_debug("stream=%s: snapshot at message %" PRIu64 " requested (%zu pipelines)", s->name,
              d->covers, d->n_parts);
    if (d->journal) {
        /* Records after `covers` start a new segment, so the old ones can go once this is written. */
        char err[256];
        if (spx_journal_rotate(d->journal, d->covers + 1, err, sizeof err) != 0)
            spx_log_limited(SPX_LOG_ERROR, "journal-rotate", "stream=%s: %s", s->name, err);
    }
    if (d->n_parts == 0) {
        finish_snapshot(d);
        return;
    }
    for (size_t i = 0; i < s->n_pipelines; i++)
        spx_pipeline_request_snapshot(s->pipelines[i], d->covers);
    spx_server_schedule_stream(d->srv, s);
}

void spx_durable_job_done(spx_server *srv, spx_job *job)
{
    if (!job->snapshot || job->p->detached)
        return;
    spx_pipeline *p = job->p;
    spx_stream *s = spx_registry_find(srv->reg, p->stream_name);
    stream_durable *d = s ? s->durable : NULL;
    if (!d || !d->active || job->snapshot_seq != d->covers)
        return;   /* an abandoned snapshot's part */
    size_t i = 0;
    while (i < s->n_pipelines && s->pipelines[i] != p)
        i++;
    if (i >= d->n_parts || d->parts[i])
        return;
    if (job->snapshot_rc != 0) {
        char why[400];
        snprintf(why, sizeof why, "pipeline %s: %s", p->name, job->snapshot_err);
        abort_snapshot(d, why);
        return;
    }
    d->parts[i] = job->snapshot_data;
    d->part_lens[i] = job->snapshot_len;
    job->snapshot_data = NULL;
    if (++d->received == d->n_parts)
        finish_snapshot(d);
}

/* ---- run-time hooks ------------------------------------------------------------------------ */

/* Brings the stream's files in line with its durability (journal opened or closed). */
static void apply_durability(spx_server *srv, spx_stream *s)
{
    if (!enabled(srv) || s->durability == SPX_DURABILITY_NONE) {
        s->durability = SPX_DURABILITY_NONE;
        if (s->durable) {
            stream_durable *d = s->durable;
            spx_journal_close(d->journal);
            d->journal = NULL;
        }
        return;
    }
    stream_durable *d = ctx_for(srv, s);
    if (!d) {
        spx_error("stream=%s: out of memory setting up durability; it is not durable", s->name);
        s->durability = SPX_DURABILITY_NONE;
        return;
    }
    char base[PATH_MAX];
    streams_dir(srv, base, sizeof base);
    mkdir(base, 0750);
    if (mkdir(d->dir, 0750) != 0 && errno != EEXIST)
        spx_error("stream=%s: %s: %s", s->name, d->dir, strerror(errno));
    if (s->durability == SPX_DURABILITY_JOURNAL && !d->journal) {
        char err[512];
        if (spx_journal_open(&d->journal, d->dir, s->c.messages + 1, err, sizeof err) != 0) {
            spx_error("stream=%s: %s; falling back to snapshot durability", s->name, err);
            s->durability = SPX_DURABILITY_SNAPSHOT;
        }
        d->last_sync = spx_now();
    } else if (s->durability != SPX_DURABILITY_JOURNAL && d->journal) {
        spx_journal_close(d->journal);
        d->journal = NULL;
    }
}

void spx_durable_stream_created(spx_server *srv, spx_stream *s)
{
    apply_durability(srv, s);   /* without a state dir: durability none, said as such */
    if (!enabled(srv))
        return;
    if (s->durable) {
        ((stream_durable *)s->durable)->structure_gen++;
        begin_snapshot(s->durable);   /* the stream itself survives a restart from now on */
    }
}

void spx_durable_structure_changed(spx_server *srv, spx_stream *s)
{
    stream_durable *d = s->durable;
    if (!enabled(srv) || !d)
        return;
    d->structure_gen++;
    abort_snapshot(d, "pipelines changed while it was taken (a new one follows)");
    begin_snapshot(d);
}

void spx_durable_stream_dropped(spx_server *srv, spx_stream *s)
{
    (void)srv;
    stream_durable *d = s->durable;
    if (!d)
        return;
    free_parts(d);
    d->again = false;
    /* Out of the way at once (a stream of the same name may be created before a snapshot write in
     * flight comes back; that write now fails harmlessly), deleted once nothing uses it. */
    snprintf(d->tomb, sizeof d->tomb, "%s.dropped-%p", d->dir, (void *)d);
    if (rename(d->dir, d->tomb) == 0)
        d->remove_files = true;
    else if (errno != ENOENT)
        spx_error("stream=%s: could not remove its state (%s): %s", s->name, d->dir,
                  strerror(errno));
    spx_journal_close(d->journal);
    d->journal = NULL;
}

int spx_durable_journal(spx_server *srv, spx_stream *s, const void *head, size_t head_len,
                        const void *payload, size_t payload_len, double recv_time, char *err,
                        size_t errlen)
{
    stream_durable *d = s->durable;
    if (!d || !d->journal)
        return 0;
    int rc = spx_journal_append(d->journal, s->c.messages + 1, recv_time, head, head_len, payload,
                                payload_len);
    if (rc != 0) {
        snprintf(err, errlen, "journal write failed (%s): message refused, not accepted",
                 strerror(-rc));
        return -1;
    }
    if (srv->cfg.journal_sync == SPX_JOURNAL_SYNC_ALWAYS)
        d->flush_pending = true;
    return 0;
}

void spx_durable_unjournal(spx_stream *s)
{
    stream_durable *d = s->durable;
    if (d && d->journal)
        spx_journal_undo_last(d->journal);
}

bool spx_durable_defer(spx_server *srv, spx_stream *s)
{
    stream_durable *d = s->durable;
    return d && d->journal && srv->cfg.journal_sync == SPX_JOURNAL_SYNC_ALWAYS;
}

static void sync_journal(stream_durable *d)
{
    int rc = spx_journal_sync_now(d->journal);
    if (rc != 0)
        spx_log_limited(SPX_LOG_ERROR, "journal-sync", "stream=%s: journal fdatasync: %s",
                        d->stream->name, strerror(-rc));
    d->last_sync = spx_now();
}

void spx_durable_flush(spx_server *srv)
{
    if (!enabled(srv) || srv->cfg.journal_sync != SPX_JOURNAL_SYNC_ALWAYS)
        return;
    size_t n = spx_registry_count(srv->reg);
    for (size_t i = 0; i < n; i++) {
        spx_stream *s = spx_registry_at(srv->reg, i);
        stream_durable *d = s->durable;
        if (!d || !d->flush_pending)
            continue;
        d->flush_pending = false;
        if (d->journal)
            sync_journal(d);
        spx_server_schedule_stream(srv, s);
    }
}

void spx_durable_tick(spx_server *srv, double now)
{
    if (!enabled(srv))
        return;
    size_t n = spx_registry_count(srv->reg);
    for (size_t i = 0; i < n; i++) {
        spx_stream *s = spx_registry_at(srv->reg, i);
        stream_durable *d = s->durable;
        if (!d || s->durability == SPX_DURABILITY_NONE)
            continue;
        if (d->journal && srv->cfg.journal_sync == SPX_JOURNAL_SYNC_INTERVAL &&
            spx_journal_dirty(d->journal) &&
            (now - d->last_sync) * 1000.0 >= (double)srv->cfg.journal_sync_ms)
            sync_journal(d);
        if (d->active || d->writing || srv->stopping)
            continue;
        bool changed = !d->has_written || s->c.messages != d->written_covers;
        bool due = srv->cfg.snapshot_interval_s &&
                   now - d->last_snapshot >= (double)srv->cfg.snapshot_interval_s;
        bool journal_big = d->journal && spx_journal_bytes(d->journal) -
                                                 d->journal_bytes_at_snapshot >=
                                             srv->cfg.snapshot_journal_bytes;
        if (changed && (due || journal_big))
            begin_snapshot(d);
    }
}

size_t spx_durable_save(spx_server *srv, spx_stream *s, uint64_t *covers)
{
    if (!enabled(srv))
        return 0;
    size_t started = 0;
    size_t n = s ? 1 : spx_registry_count(srv->reg);
    for (size_t i = 0; i < n; i++) {
        spx_stream *t = s ? s : spx_registry_at(srv->reg, i);
        if (!t->durable || t->durability == SPX_DURABILITY_NONE)
            continue;
        begin_snapshot(t->durable);
        started++;
    }
    if (s && covers)
        *covers = s->c.messages;
    return started;
}

bool spx_durable_shutdown_done(spx_server *srv)
{
    if (!enabled(srv))
        return true;
    size_t n = spx_registry_count(srv->reg);
    if (!srv->durable_final) {
        srv->durable_final = true;
        for (size_t i = 0; i < n; i++) {
            spx_stream *s = spx_registry_at(srv->reg, i);
            stream_durable *d = s->durable;
            if (d && s->durability != SPX_DURABILITY_NONE &&
                (!d->has_written || d->written_covers != s->c.messages || d->active))
                begin_snapshot(d);
            else if (d && d->journal)
                sync_journal(d);
        }
    }
    for (size_t i = 0; i < n; i++) {
        stream_durable *d = spx_registry_at(srv->reg, i)->durable;
        if (d && (d->active || d->writing || d->again))
            return false;
    }
    return true;
}

/* ---- start-up ------------------------------------------------------------------------------ */

static int read_file(const char *path, unsigned char **out, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size < 0) {
        close(fd);
        return -EIO;
    }
    unsigned char *buf = malloc((size_t)st.st_size + 1);
    size_t done = 0;
    while (buf && done < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + done, (size_t)st.st_size - done);
        if (n <= 0) {
            if (n < 0 && errno == EINTR)
                continue;
            break;
        }
        done += (size_t)n;
    }
    close(fd);
    if (!buf || done != (size_t)st.st_size) {
        free(buf);
        return buf ? -EIO : -ENOMEM;
    }
    *out = buf;
    *len = done;
    return 0;
}

/* Moves a stream's directory out of the way, keeping it for inspection. */
static void set_aside(const char *base, const char *name, const char *why)
{
    char from[PATH_MAX], to[PATH_MAX + 64];
    snprintf(from, sizeof from, "%s/%s", base, name);
    snprintf(to, sizeof to, "%s/%s.damaged-%lld", base, name, (long long)spx_now());
    if (rename(from, to) == 0)
        spx_error("stream=%s: %s; its state was set aside in %s and the stream starts empty",
                  name, why, to);
    else
        spx_error("stream=%s: %s; could not set it aside (%s)", name, why, strerror(errno));
}

static void restore_one(spx_server *srv, const char *base, const char *name)
{
    char path[PATH_MAX + 80];
    snprintf(path, sizeof path, "%s/%s/" SNAPSHOT_FILE, base, name);
    unsigned char *buf = NULL;
    size_t len = 0;
    int rc = read_file(path, &buf, &len);
    if (rc == -ENOENT)
        return;   /* a journal alone (crash before the first snapshot): spx_durable_replay */
    char err[512], why[600];
    if (rc != 0) {
        snprintf(why, sizeof why, "snapshot unreadable: %s", strerror(-rc));
        set_aside(base, name, why);
        return;
    }
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    uint64_t covers = 0;
    spx_stream *s = NULL;
    if (spx_snapshot_decode(buf, len, &up, &covers, err, sizeof err) != 0 ||
        spx_snapshot_restore(srv->reg, &up.data, &s, err, sizeof err) != SPX_OK) {
        snprintf(why, sizeof why, "snapshot refused: %s", err);
        set_aside(base, name, why);
    } else if (strcmp(s->name, name) != 0) {
        snprintf(why, sizeof why, "snapshot is of stream '%s'", s->name);
        spx_registry_drop(srv->reg, s, NULL, 0);
        set_aside(base, name, why);
    } else {
        stream_durable *d = ctx_for(srv, s);
        if (d) {
            d->has_written = true;
            d->written_covers = covers;
            d->written_has_seq = s->has_last_seq;
            d->written_seq = s->last_seq;
        }
        spx_info("stream=%s: restored from its snapshot (message %" PRIu64 ", %zu pipelines)",
                 s->name, covers, s->n_pipelines);
    }
    msgpack_unpacked_destroy(&up);
    free(buf);
}

int spx_durable_restore(spx_server *srv, char *err, size_t errlen)
{
    if (!enabled(srv))
        return 0;
    char base[PATH_MAX];
    streams_dir(srv, base, sizeof base);
    if (mkdir(base, 0750) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "%s: %s", base, strerror(errno));
        return -1;
    }
    DIR *dir = opendir(base);
    if (!dir) {
        snprintf(err, errlen, "%s: %s", base, strerror(errno));
        return -1;
    }
    struct dirent *e;
    while ((e = readdir(dir))) {
        char tomb[PATH_MAX];
        if (strstr(e->d_name, ".dropped-") && join_path(tomb, sizeof tomb, base, e->d_name))
            nftw(tomb, rm_entry, 16, FTW_DEPTH | FTW_PHYS);   /* a drop the last run left */
        else if (spx_name_valid(e->d_name, strlen(e->d_name)))   /* skips ".", "..", set-aside */
            restore_one(srv, base, e->d_name);
    }
    closedir(dir);
    return 0;
}

typedef struct replay_ctx {
    spx_server *srv;
    const char *name;
    uint64_t expected;         /* next stream message number */
    bool warned;
} replay_ctx;

static int replay_record(void *ctx, uint64_t seq, double recv_time, const void *head,
                         size_t head_len, const void *payload, size_t payload_len)
{
    replay_ctx *rc = ctx;
    spx_server *srv = rc->srv;
    spx_stream *s = spx_registry_find(srv->reg, rc->name);
    uint64_t expected = s ? s->c.messages + 1 : 1;
    if (seq != expected && !rc->warned) {
        spx_warn("stream=%s: journal record %" PRIu64 " follows message %" PRIu64
                 ": messages in between are missing", rc->name, seq, expected - 1);
        rc->warned = true;
    }
    /* The payload must outlive this call (queued for the pipelines): an aligned copy. */
    void *copy = NULL;
    if (payload_len && !(copy = aligned_alloc(16, (payload_len + 15) & ~(size_t)15)))
        return -ENOMEM;
    if (payload_len)
        memcpy(copy, payload, payload_len);
    char why[512];
    spx_ingest_frames(srv, head, head_len, copy, payload_len, copy, copy ? free : NULL, recv_time,
                      true, why, sizeof why);
    /* Keep the replayed backlog within the configured bound: let the workers catch up. */
    while (*spx_registry_bytes_held(srv->reg) > srv->cfg.max_queued_bytes && srv->jobs_in_flight)
        uv_run(srv->loop, UV_RUN_ONCE);
    return 0;
}

int spx_durable_replay(spx_server *srv, char *err, size_t errlen)
{
    if (!enabled(srv)) {
        for (size_t i = 0; i < spx_registry_count(srv->reg); i++)
            spx_registry_at(srv->reg, i)->durability = SPX_DURABILITY_NONE;
        return 0;
    }
    (void)err; (void)errlen;
    char base[PATH_MAX];
    streams_dir(srv, base, sizeof base);
    DIR *dir = opendir(base);
    if (dir) {
        struct dirent *e;
        while ((e = readdir(dir))) {
            if (!spx_name_valid(e->d_name, strlen(e->d_name)))
                continue;
            spx_stream *s = spx_registry_find(srv->reg, e->d_name);
            stream_durable *d = s ? s->durable : NULL;
            uint64_t after = d && d->has_written ? d->written_covers : 0;
            char path[PATH_MAX];
            if (!join_path(path, sizeof path, base, e->d_name))
                continue;
            replay_ctx ctx = {.srv = srv, .name = e->d_name};
            spx_journal_replay_report rep;
            int rc = spx_journal_replay(path, after, replay_record, &ctx, &rep);
            if (rc != 0)
                spx_error("stream=%s: journal replay stopped: %s", e->d_name, strerror(-rc));
            if (rep.damaged)
                spx_error("stream=%s: journal damaged: %s; replayed up to message %" PRIu64,
                          e->d_name, rep.damage, rep.last_seq);
            if (rep.records)
                spx_info("stream=%s: replayed %" PRIu64 " journaled messages after message %" PRIu64,
                         e->d_name, rep.records, after);
            s = spx_registry_find(srv->reg, e->d_name);
            if (s && (rep.records || rep.damaged) && ctx_for(srv, s))
                ((stream_durable *)s->durable)->again = true;   /* snapshot below */
            else if (!s)
                spx_warn("stream=%s: state directory without a snapshot or journal; ignored",
                         e->d_name);
        }
        closedir(dir);
    }
    /* Every stream now gets its durability; those replayed or never snapshotted are snapshotted
     * at once, which also retires the replayed journal segments. */
    size_t n = spx_registry_count(srv->reg);
    for (size_t i = 0; i < n; i++) {
        spx_stream *s = spx_registry_at(srv->reg, i);
        apply_durability(srv, s);
        stream_durable *d = s->durable;
        if (d && s->durability != SPX_DURABILITY_NONE && (d->again || !d->has_written)) {
            d->again = false;
            begin_snapshot(d);
        }
    }
    return 0;
}

/* ---- reporting ----------------------------------------------------------------------------- */

static void pack_opt_u64(msgpack_packer *pk, const char *key, bool has, uint64_t v)
{
    spx_pack_cstr(pk, key);
    if (has)
        msgpack_pack_uint64(pk, v);
    else
        msgpack_pack_nil(pk);
}

void spx_durable_pack_position(spx_server *srv, spx_stream *s, msgpack_packer *pk)
{
    (void)srv;
    stream_durable *d = s->durable;
    bool journal = d && d->journal;
    bool written = d && d->has_written && s->durability != SPX_DURABILITY_NONE;
    uint64_t applied = s->c.messages;
    for (size_t i = 0; i < s->n_pipelines; i++)
        if (s->pipelines[i]->stats.input_seq < applied)
            applied = s->pipelines[i]->stats.input_seq;
    spx_pack_key_cstr(pk, "durability", spx_durability_name(s->durability));
    spx_pack_key_uint(pk, "messages", s->c.messages);
    pack_opt_u64(pk, "last_seq", s->has_last_seq, s->last_seq);
    spx_pack_key_uint(pk, "applied_messages", applied);
    /* Journaled input is durable once accepted (synced before it is applied with
     * journal_sync=always; see docs/reliability.md for the other sync modes). */
    spx_pack_key_uint(pk, "durable_messages",
                      journal ? s->c.messages : written ? d->written_covers : 0);
    pack_opt_u64(pk, "durable_seq", journal ? s->has_last_seq : written && d->written_has_seq,
                 journal ? s->last_seq : written ? d->written_seq : 0);
    pack_opt_u64(pk, "snapshot_messages", written, written ? d->written_covers : 0);
    pack_opt_u64(pk, "snapshot_seq", written && d->written_has_seq, written ? d->written_seq : 0);
    /* False from a create/attach/detach until the snapshot recording it is on disk. */
    spx_pack_key_bool(pk, "structure_durable", written && d->written_gen == d->structure_gen);
}

void spx_durable_pack_stats(spx_stream *s, msgpack_packer *pk)
{
    stream_durable *d = s->durable;
    spx_pack_key_cstr(pk, "durability", spx_durability_name(s->durability));
    spx_pack_key_uint(pk, "snapshots", d ? d->snapshots : 0);
    spx_pack_key_uint(pk, "snapshot_failures", d ? d->failures : 0);
    spx_pack_key_uint(pk, "journal_bytes", d && d->journal ? spx_journal_bytes(d->journal) : 0);
}
