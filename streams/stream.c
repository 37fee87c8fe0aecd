#include "stream.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Streams in creation order plus an open-addressing index by name. Lookups happen once per ingest
 * message; drops are rare, so a drop simply rebuilds the index. */
struct spx_registry {
    spx_stream **streams;
    size_t n, cap;
    size_t *index;             /* slot -> position + 1; 0 = empty */
    size_t index_cap;          /* power of two, >= 2n */
    size_t bytes_held;
    void (*on_free)(spx_stream *s);
};

static uint64_t name_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;   /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static int index_rebuild(spx_registry *r, size_t cap)
{
    size_t *idx = calloc(cap, sizeof *idx);
    if (!idx)
        return -ENOMEM;
    for (size_t i = 0; i < r->n; i++) {
        size_t slot = name_hash(r->streams[i]->name) & (cap - 1);
        while (idx[slot])
            slot = (slot + 1) & (cap - 1);
        idx[slot] = i + 1;
    }
    free(r->index);
    r->index = idx;
    r->index_cap = cap;
    return 0;
}

spx_registry *spx_registry_new(void)
{
    spx_registry *r = calloc(1, sizeof *r);
    if (r && index_rebuild(r, 16) != 0) {
        free(r);
        return NULL;
    }
    return r;
}

static void free_strings(char **v, uint32_t n)
{
    if (!v)
        return;
    for (uint32_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* dim copies of the given strings, or NULL on allocation failure. */
static char **copy_strings(const char *const *v, uint32_t n)
{
    char **out = calloc(n, sizeof *out);
    for (uint32_t i = 0; out && i < n; i++)
        if (!(out[i] = strdup(v[i]))) {
            free_strings(out, n);
            return NULL;
        }
    return out;
}

static void stream_free(spx_registry *r, spx_stream *s)
{
    if (r->on_free && s->durable)
        r->on_free(s);
    for (size_t i = 0; i < s->n_pipelines; i++)
        spx_pipeline_free(s->pipelines[i]);
    free_strings(s->channel_names, s->dim);
    free_strings(s->channel_units, s->dim);
    free(s);
}

spx_errcode spx_stream_set_units(spx_stream *s, const char *const *units, size_t n, char *err,
                                 size_t errlen)
{
    if (s->kind != SPX_KIND_SERIES || n != s->dim) {
        snprintf(err, errlen, "channel_units: need exactly dim=%u units on a series stream", s->dim);
        return SPX_E_BAD_REQUEST;
    }
    char **copy = copy_strings(units, s->dim);
    if (!copy) {
        snprintf(err, errlen, "out of memory");
        return SPX_E_INTERNAL;
    }
    free_strings(s->channel_units, s->dim);
    s->channel_units = copy;
    return SPX_OK;
}

void spx_registry_free(spx_registry *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++)
        stream_free(r, r->streams[i]);
    free(r->streams);
    free(r->index);
    free(r);
}

spx_stream *spx_registry_find(spx_registry *r, const char *name)
{
    size_t slot = name_hash(name) & (r->index_cap - 1);
    while (r->index[slot]) {
        spx_stream *s = r->streams[r->index[slot] - 1];
        if (strcmp(s->name, name) == 0)
            return s;
        slot = (slot + 1) & (r->index_cap - 1);
    }
    return NULL;
}

spx_errcode spx_registry_create(spx_registry *r, const char *name, spx_kind kind, uint32_t dim,
                                double rate, const char *const *channel_names,
                                size_t n_channel_names, spx_stream **out, char *err,
                                size_t errlen)
{
    if (!spx_name_valid(name, strlen(name))) {
        snprintf(err, errlen, "stream name '%.64s' must be 1-64 characters of [A-Za-z0-9_-]", name);
        return SPX_E_BAD_NAME;
    }
    if (spx_registry_find(r, name)) {
        snprintf(err, errlen, "stream %s exists", name);
        return SPX_E_EXISTS;
    }
    if (dim == 0 || dim > (1u << 20)) {
        snprintf(err, errlen, "dim must be in [1, %u]", 1u << 20);
        return SPX_E_BAD_REQUEST;
    }
    if (!(rate >= 0.0) || !isfinite(rate)) {
        snprintf(err, errlen, "rate must be a non-negative number");
        return SPX_E_BAD_REQUEST;
    }
    if (n_channel_names && (kind != SPX_KIND_SERIES || n_channel_names != dim)) {
        snprintf(err, errlen, "channel_names: need exactly dim=%u names on a series stream", dim);
        return SPX_E_BAD_REQUEST;
    }
    spx_stream *s = calloc(1, sizeof *s);
    if (!s)
        goto oom;
    snprintf(s->name, sizeof s->name, "%s", name);
    s->kind = kind;
    s->dim = dim;
    s->rate = rate;
    if (n_channel_names && !(s->channel_names = copy_strings(channel_names, dim)))
        goto oom_stream;
    if (r->n == r->cap) {
        size_t ncap = r->cap ? r->cap * 2 : 16;
        spx_stream **ns = realloc(r->streams, ncap * sizeof *ns);
        if (!ns)
            goto oom_stream;
        r->streams = ns;
        r->cap = ncap;
    }
    if (2 * (r->n + 1) > r->index_cap && index_rebuild(r, r->index_cap * 2) != 0)
        goto oom_stream;
    r->streams[r->n++] = s;
    size_t slot = name_hash(name) & (r->index_cap - 1);
    while (r->index[slot])
        slot = (slot + 1) & (r->index_cap - 1);
    r->index[slot] = r->n;
    if (out)
        *out = s;
    return SPX_OK;
oom_stream:
    stream_free(r, s);
oom:
    snprintf(err, errlen, "out of memory");
    return SPX_E_INTERNAL;
}

size_t spx_registry_drop(spx_registry *r, spx_stream *s, spx_pipeline **orphans,
                         size_t max_orphans)
{
    size_t n_orphans = 0;
    while (s->n_pipelines) {
        spx_pipeline *busy = spx_stream_detach(s, s->pipelines[s->n_pipelines - 1]);
        if (busy && n_orphans < max_orphans)
            orphans[n_orphans++] = busy;
    }
    for (size_t i = 0; i < r->n; i++)
        if (r->streams[i] == s) {
            memmove(&r->streams[i], &r->streams[i + 1], (r->n - i - 1) * sizeof *r->streams);
            r->n--;
            break;
        }
    stream_free(r, s);
    /* Rebuilding in place cannot fail for want of memory: reuse the current capacity. */
    memset(r->index, 0, r->index_cap * sizeof *r->index);
    for (size_t i = 0; i < r->n; i++) {
        size_t slot = name_hash(r->streams[i]->name) & (r->index_cap - 1);
        while (r->index[slot])
            slot = (slot + 1) & (r->index_cap - 1);
        r->index[slot] = i + 1;
    }
    return n_orphans;
}

void spx_registry_on_stream_free(spx_registry *r, void (*hook)(spx_stream *s)) { r->on_free = hook; }
size_t spx_registry_count(const spx_registry *r) { return r->n; }
spx_stream *spx_registry_at(spx_registry *r, size_t i) { return i < r->n ? r->streams[i] : NULL; }
size_t *spx_registry_bytes_held(spx_registry *r) { return &r->bytes_held; }

spx_pipeline *spx_stream_find_pipeline(spx_stream *s, const char *name)
{
    for (size_t i = 0; i < s->n_pipelines; i++)
        if (strcmp(s->pipelines[i]->name, name) == 0)
            return s->pipelines[i];
    return NULL;
}

spx_errcode spx_stream_attach(spx_stream *s, spx_pipeline *p, char *err, size_t errlen)
{
    if (spx_stream_find_pipeline(s, p->name)) {
        snprintf(err, errlen, "pipeline %s.%s exists", s->name, p->name);
        return SPX_E_EXISTS;
    }
    if (s->n_pipelines == SPX_STREAM_PIPELINES_MAX) {
        snprintf(err, errlen, "stream %s has the maximum of %d pipelines", s->name,
                 SPX_STREAM_PIPELINES_MAX);
        return SPX_E_BAD_REQUEST;
    }
    s->pipelines[s->n_pipelines++] = p;
    return SPX_OK;
}

spx_pipeline *spx_stream_detach(spx_stream *s, spx_pipeline *p)
{
    for (size_t i = 0; i < s->n_pipelines; i++)
        if (s->pipelines[i] == p) {
            memmove(&s->pipelines[i], &s->pipelines[i + 1],
                    (s->n_pipelines - i - 1) * sizeof *s->pipelines);
            s->n_pipelines--;
            break;
        }
    if (p->busy) {
        p->detached = true;
        return p;
    }
    spx_pipeline_free(p);
    return NULL;
}

void spx_stream_get_info(const spx_stream *s, spx_stream_info *info)
{
    *info = (spx_stream_info){.name = s->name, .kind = s->kind, .dim = s->dim, .rate = s->rate};
}

spx_errcode spx_stream_check(const spx_stream *s, const spx_ingest_header *h, char *err,
                             size_t errlen)
{
    if (h->kind != s->kind) {
        snprintf(err, errlen, "stream %s is %s, message is %s", s->name, spx_kind_name(s->kind),
                 spx_kind_name(h->kind));
        return SPX_E_KIND_MISMATCH;
    }
    if (spx_ingest_header_dim(h) != s->dim) {   /* d, C, or m rows of every block */
        snprintf(err, errlen, "stream %s has dim %u, message shape is [%llu, %llu]", s->name,
                 s->dim, (unsigned long long)h->shape[0], (unsigned long long)h->shape[1]);
        return SPX_E_SHAPE_MISMATCH;
    }
    return SPX_OK;
}

/* Producer sequence numbers: a jump forward means the producer (or the network) lost messages
 * before they reached us; no advance means a duplicate or a restarted producer. Both are counted and
 * the message is still accepted: the producer owns its numbering. */
static void track_seq(spx_stream *s, const spx_ingest_header *h)
{
    if (!h->has_seq)
        return;
    if (s->has_last_seq) {
        if (h->seq > s->last_seq + 1)
            s->c.seq_gaps++;
        else if (h->seq <= s->last_seq)
            s->c.seq_repeats++;
    }
    s->has_last_seq = true;
    s->last_seq = h->seq;
}

/* Series timing: each chunk should start where the previous one ended, within half a sample. Gaps and
 * overlaps are counted, never re-timed: the producer's clock is the truth we report. */
static void track_time(spx_stream *s, const spx_ingest_header *h)
{
    if (s->kind != SPX_KIND_SERIES || h->shape[0] == 0 || !h->has_t0 || h->rate <= 0)
        return;
    if (s->has_next_t0) {
        double slack = 0.5 / h->rate;
        if (h->t0 > s->next_t0 + slack)
            s->c.time_gaps++;
        else if (h->t0 < s->next_t0 - slack)
            s->c.time_overlaps++;
    }
    s->next_t0 = h->t0 + (double)h->shape[0] / h->rate;
    s->has_next_t0 = true;
}

int spx_stream_accept(spx_stream *s, const spx_ingest_header *h, spx_batch *b)
{
    for (size_t i = 0; i < s->n_pipelines; i++)
        if (spx_pipeline_reserve(s->pipelines[i]) != 0) {
            spx_stream_reject(s, SPX_E_INTERNAL);
            spx_batch_unref(b);
            return -ENOMEM;
        }
    track_seq(s, h);
    track_time(s, h);
    s->c.messages++;
    s->c.count += spx_units(h->kind, h->shape[0], h->shape[1]);
    s->c.bytes += b->bytes;
    s->c.events += h->n_events;
    b->in.seq = s->c.messages;
    for (size_t i = 0; i < s->n_pipelines; i++)
        spx_pipeline_enqueue(s->pipelines[i], b);
    spx_batch_unref(b);
    return 0;
}

bool spx_stream_is_duplicate(spx_stream *s, const spx_ingest_header *h)
{
    if (!s->dedupe || !h->has_seq || !s->has_last_seq || h->seq > s->last_seq)
        return false;
    s->c.duplicates++;
    return true;
}

void spx_stream_reject(spx_stream *s, spx_errcode code)
{
    s->c.rejected++;
    if (code > SPX_OK && code < SPX_E_COUNT)
        s->c.errors[code]++;
}
