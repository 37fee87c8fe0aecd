/* spectra push: getting the stream ready, then one message per chunk of the source, paced. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "push.h"

/* Events per message: a label takes up to 64 bytes, so 256 events stay well inside the 64 KiB
 * header limit; more events in one chunk go out first as events-only messages. */
#define PUSH_EVENTS_PER_MESSAGE 256
#define PUSH_NAME_MAX 64 /* the daemon's limit for a channel name */

typedef struct stream_info {
    int exists;
    char kind[16];
    uint64_t dim;
    double rate;
} stream_info;

static int find_stream(const cli_ctx *ctx, spectra_client *c, const char *stream,
                       stream_info *info)
{
    memset(info, 0, sizeof *info);
    spectra_msg *reply;
    int rc = spectra_list(c, &reply);
    if (rc)
        return cli_client_error(ctx, c, rc);
    size_t n = 0;
    spectra_msg_size(reply, "streams", &n);
    for (size_t i = 0; i < n; i++) {
        char path[64], name[SPECTRA_NAME_MAX + 1];
        snprintf(path, sizeof path, "streams.%zu.stream", i);
        if (spectra_msg_str(reply, path, name, sizeof name) || strcmp(name, stream) != 0)
            continue;
        info->exists = 1;
        snprintf(path, sizeof path, "streams.%zu.kind", i);
        spectra_msg_str(reply, path, info->kind, sizeof info->kind);
        snprintf(path, sizeof path, "streams.%zu.dim", i);
        spectra_msg_uint(reply, path, &info->dim);
        snprintf(path, sizeof path, "streams.%zu.rate", i);
        spectra_msg_double(reply, path, &info->rate);
        break;
    }
    spectra_msg_free(reply);
    return CLI_OK;
}

static uint64_t source_dim(const push_source *src)
{
    return src->kind == SPECTRA_BLOCKS ? src->block_rows : src->width;
}

/* The ingest path has no reply, so a kind or dimension mismatch would be dropped silently. */
static int check_existing(const cli_ctx *ctx, const char *stream, const stream_info *info,
                          const push_source *src)
{
    const char *kind = spectra_kind_name(src->kind);
    if (strcmp(info->kind, kind) != 0) {
        cli_error(ctx, "stream '%s' is of kind %s, not %s", stream, info->kind, kind);
        return CLI_FAIL;
    }
    if (info->dim != source_dim(src)) {
        if (src->kind == SPECTRA_BLOCKS)
            cli_error(ctx, "stream '%s' takes blocks of %llu rows, not %zu", stream,
                      (unsigned long long)info->dim, src->block_rows);
        else if (src->kind == SPECTRA_SERIES)
            cli_error(ctx, "stream '%s' has %llu channels but %zu are selected", stream,
                      (unsigned long long)info->dim, src->width);
        else
            cli_error(ctx, "stream '%s' has dim %llu but %zu columns are selected", stream,
                      (unsigned long long)info->dim, src->width);
        return CLI_FAIL;
    }
    if (src->kind == SPECTRA_SERIES && info->rate > 0 &&
        fabs(info->rate - src->rate) > 1e-9 * src->rate)
        cli_error(ctx, "note: stream '%s' was created with rate %.9g Hz; the data's is %.9g Hz "
                       "(messages carry their own rate)", stream, info->rate, src->rate);
    return CLI_OK;
}

static int create_series(const cli_ctx *ctx, spectra_client *c, const char *stream,
                         const push_source *src)
{
    const char *const *names = src->names;
    for (size_t i = 0; names && i < src->width; i++)
        if (strlen(names[i]) > PUSH_NAME_MAX) {
            cli_error(ctx, "note: channel name '%.40s...' is longer than %d bytes; creating '%s' "
                           "without channel names", names[i], PUSH_NAME_MAX, stream);
            names = NULL;
        }
    int rc = spectra_create(c, stream, SPECTRA_SERIES, (uint32_t)src->width, src->rate, names,
                            names ? src->width : 0);
    if (rc == SPECTRA_EDAEMON && strcmp(spectra_last_error_code(c), "exists") == 0)
        return 1; /* another producer was quicker: check what it made */
    if (rc)
        return cli_client_error(ctx, c, rc);
    return CLI_OK;
}

int push_prepare_stream(const cli_ctx *ctx, spectra_client *c, const char *stream,
                        const push_source *src, int *existed)
{
    *existed = 0;
    if (src->width > UINT32_MAX || source_dim(src) > UINT32_MAX) {
        cli_error(ctx, "%zu columns are more than a stream can have", src->width);
        return CLI_FAIL;
    }
    stream_info info;
    int rc = find_stream(ctx, c, stream, &info);
    if (rc)
        return rc;
    if (info.exists) {
        *existed = 1;
        return check_existing(ctx, stream, &info, src);
    }
    if (src->kind != SPECTRA_SERIES)
        return CLI_OK;
    rc = create_series(ctx, c, stream, src);
    if (rc != 1)
        return rc;
    if ((rc = find_stream(ctx, c, stream, &info)))
        return rc;
    *existed = info.exists;
    return info.exists ? check_existing(ctx, stream, &info, src) : CLI_OK;
}

int push_continue_seq(const cli_ctx *ctx, spectra_client *c, const char *stream,
                      const push_opts *o, uint64_t *skip)
{
    *skip = 0;
    spectra_stream_position pos;
    int rc = spectra_position(c, stream, &pos);
    if (rc == SPECTRA_EDAEMON && strcmp(spectra_last_error_code(c), "unknown_stream") == 0)
        return CLI_OK;   /* dropped meanwhile: a fresh stream numbers from 1 */
    if (rc == SPECTRA_EDAEMON && strcmp(spectra_last_error_code(c), "unknown_op") == 0 &&
        !o->resume)
        return CLI_OK;   /* a daemon from before durable state */
    if (rc)
        return cli_client_error(ctx, c, rc);
    uint64_t after = 0;
    if (o->resume) {
        after = pos.has_durable_seq ? pos.durable_seq : 0;
        *skip = after;
        /* Accepted but not yet durable: sent again, and applied again unless dedupe drops it. */
        if (pos.has_last_seq && pos.last_seq > after)
            cli_error(ctx, "note: stream '%s' has accepted up to seq %llu but holds only up to "
                           "%llu durably; the messages in between are sent again (a --dedupe "
                           "stream drops them)",
                      stream, (unsigned long long)pos.last_seq, (unsigned long long)after);
    } else if (pos.has_last_seq) {
        after = pos.last_seq;
    }
    if (after && (rc = spectra_set_next_seq(c, stream, after + 1)))
        return cli_client_error(ctx, c, rc);
    return CLI_OK;
}

static void sleep_until(double deadline)
{
    struct timespec ts;
    ts.tv_sec = (time_t)deadline;
    ts.tv_nsec = (long)((deadline - (double)ts.tv_sec) * 1e9);
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
    }
}

/* Binary sources are not checked by their readers; the daemon refuses a message holding any
 * non-finite value, so say where it is instead of sending it. */
static int check_finite(const cli_ctx *ctx, const push_opts *o, const push_source *src,
                        const double *rows, const push_chunk *chunk, const push_totals *tot)
{
    size_t count = chunk->n * src->width;
    for (size_t i = 0; i < count; i++) {
        if (isfinite(rows[i]))
            continue;
        size_t r = i / src->width, col = i % src->width;
        if (src->kind == SPECTRA_BLOCKS)
            cli_error(ctx, "%s: block %lld, row %zu, column %zu: %g is not finite", o->path,
                      (long long)chunk->block_index, r, col, rows[i]);
        else
            cli_error(ctx, "%s: sample %llu, channel %s: %g is not finite", o->path,
                      (unsigned long long)(tot->skipped_rows + tot->rows + r),
                      src->names ? src->names[col] : "?", rows[i]);
        return CLI_FAIL;
    }
    return CLI_OK;
}

typedef struct sender {
    const cli_ctx *ctx;
    spectra_client *c;
    const char *stream;
    const push_source *src;
    const push_opts *o;
    push_totals *tot;
    uint64_t skip;    /* messages still to leave out (--resume) */
    float *rows32;
    double start;
    double pace;      /* units per second, 0: no pacing */
} sender;

static int send_message(sender *s, const spectra_ingest *m)
{
    if (s->skip) {
        s->skip--;
        s->tot->skipped++;
        return CLI_OK;
    }
    int rc = spectra_push(s->c, m);
    if (rc)
        return cli_client_error(s->ctx, s->c, rc);
    s->tot->messages++;
    s->tot->bytes += m->shape[0] * m->shape[1] * spectra_dtype_size(m->dtype);
    s->tot->events += m->n_events;
    return CLI_OK;
}

static int send_chunk(sender *s, const double *rows, const push_chunk *chunk, int end)
{
    const push_source *src = s->src;
    const push_opts *o = s->o;
    spectra_ingest m = {0};
    m.stream = s->stream;
    m.kind = src->kind;
    m.dtype = o->dtype;
    m.shape[1] = src->width;
    int rc;
    if (src->binary && (rc = check_finite(s->ctx, o, src, rows, chunk, s->tot)))
        return rc;

    const spectra_event *events = chunk->events;
    size_t n_events = chunk->n_events;
    while (n_events > PUSH_EVENTS_PER_MESSAGE) {
        m.events = events;
        m.n_events = PUSH_EVENTS_PER_MESSAGE;
        if ((rc = send_message(s, &m)))
            return rc;
        events += PUSH_EVENTS_PER_MESSAGE;
        n_events -= PUSH_EVENTS_PER_MESSAGE;
    }
    m.events = events;
    m.n_events = n_events;
    if (chunk->n == 0)
        return n_events ? send_message(s, &m) : CLI_OK;

    const void *data = rows;
    if (s->rows32) {
        for (size_t i = 0; i < chunk->n * src->width; i++)
            s->rows32[i] = (float)rows[i];
        data = s->rows32;
    }
    m.data = data;
    m.shape[0] = chunk->n;
    m.end = end;
    char id[SPECTRA_NAME_MAX + 32];
    if (src->kind == SPECTRA_SERIES) {
        m.t0 = chunk->t0;
        m.rate = src->rate;
        /* Like live acquisition: a chunk leaves when its last sample would have been taken. */
        if (s->pace > 0 && !s->skip)
            sleep_until(s->start + (double)(s->tot->rows + chunk->n) / s->pace);
    } else {
        if (src->kind == SPECTRA_BLOCKS) {
            m.shape[0] = src->block_rows;
            m.id_num = chunk->block_index;
            if (o->id_prefix) {
                snprintf(id, sizeof id, "%s%lld", o->id_prefix, (long long)chunk->block_index);
                m.id = id;
            }
        }
        if (s->pace > 0 && !s->skip)
            sleep_until(s->start + (double)s->tot->rows / s->pace);
    }
    int skipped = s->skip > 0;
    if ((rc = send_message(s, &m)))
        return rc;
    uint64_t units = src->kind == SPECTRA_BLOCKS ? 1 : chunk->n;
    if (skipped)
        s->tot->skipped_rows += units;
    else
        s->tot->rows += units;
    return CLI_OK;
}

static int read_failed(sender *s, push_source *src)
{
    cli_error(s->ctx, "%s", src->error(src));
    if (s->tot->messages)
        cli_error(s->ctx, "%llu %s in %llu messages were sent before the error",
                  (unsigned long long)s->tot->rows,
                  src->kind == SPECTRA_BLOCKS ? "blocks" : src->kind == SPECTRA_SERIES ? "samples"
                                                                                      : "rows",
                  (unsigned long long)s->tot->messages);
    return CLI_FAIL;
}

/* Rows and series: one message per chunk, then an empty end message when asked. */
static int send_stream(sender *s, push_source *src, double *rows, size_t batch)
{
    for (;;) {
        push_chunk chunk = {0};
        if (src->read(src, rows, batch, &chunk))
            return read_failed(s, src);
        if (chunk.n == 0 && chunk.n_events == 0)
            break;
        int rc = send_chunk(s, rows, &chunk, 0);
        if (rc)
            return rc;
    }
    if (s->o->end && s->skip) {
        s->skip--;
        s->tot->skipped++;
    } else if (s->o->end) {
        int rc = spectra_push_end(s->c, s->stream, src->kind, src->width);
        if (rc)
            return cli_client_error(s->ctx, s->c, rc);
        s->tot->messages++;
    }
    return CLI_OK;
}

/* Blocks: the daemon has no empty block, so --end rides on the last block; with --end the next
 * block is read before the current one is sent, to know which is last. */
static int send_blocks(sender *s, push_source *src, double *bufs[2], size_t batch)
{
    int lookahead = s->o->end;
    push_chunk cur = {0}, next = {0};
    if (src->read(src, bufs[0], batch, &cur))
        return read_failed(s, src);
    if (cur.n == 0 && s->o->end)
        cli_error(s->ctx, "note: %s holds no blocks, so no end-of-stream was sent", s->o->path);
    while (cur.n) {
        int read_rc = 0;
        if (lookahead)
            read_rc = src->read(src, bufs[1], batch, &next);
        int rc = send_chunk(s, bufs[0], &cur, lookahead && !read_rc && next.n == 0);
        if (rc)
            return rc;
        if (!lookahead) {
            read_rc = src->read(src, bufs[0], batch, &next);
        } else {
            double *t = bufs[0];
            bufs[0] = bufs[1];
            bufs[1] = t;
        }
        if (read_rc)
            return read_failed(s, src);
        cur = next;
    }
    return CLI_OK;
}

int push_send_all(const cli_ctx *ctx, spectra_client *c, const char *stream, push_source *src,
                  const push_opts *o, uint64_t skip, push_totals *tot)
{
    size_t width = src->width;
    size_t batch = src->kind == SPECTRA_BLOCKS ? src->block_rows : (size_t)o->batch;
    int two = src->kind == SPECTRA_BLOCKS && o->end;
    double *bufs[2] = {malloc(batch * width * sizeof(double)),
                       two ? malloc(batch * width * sizeof(double)) : NULL};
    sender s = {ctx, c, stream, src, o, tot, skip, NULL, 0, 0};
    if (o->dtype == SPECTRA_F32)
        s.rows32 = malloc(batch * width * sizeof *s.rows32);
    if (!bufs[0] || (two && !bufs[1]) || (o->dtype == SPECTRA_F32 && !s.rows32)) {
        free(bufs[0]);
        free(bufs[1]);
        free(s.rows32);
        cli_error(ctx, "out of memory for a batch of %zu x %zu", batch, width);
        return CLI_FAIL;
    }
    s.pace = o->realtime ? src->rate : o->rate;
    s.start = cli_now();
    int status = src->kind == SPECTRA_BLOCKS ? send_blocks(&s, src, bufs, batch)
                                             : send_stream(&s, src, bufs[0], batch);
    free(bufs[0]);
    free(bufs[1]);
    free(s.rows32);
    return status;
}
