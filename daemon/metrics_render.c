/* Every counter of the daemon as Prometheus metrics (docs/operations.md lists them). Families are
 * written one at a time, each followed by all its samples, as the text format requires. Streams and
 * pipelines are labelled stream=, pipeline=; error counters code=. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "metrics.h"
#include "server.h"

int spx_process_memory(uint64_t *rss_bytes, uint64_t *vm_bytes)
{
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        return -errno;
    unsigned long long size = 0, resident = 0;
    int n = fscanf(f, "%llu %llu", &size, &resident);
    fclose(f);
    if (n != 2)
        return -EIO;
    long page = sysconf(_SC_PAGESIZE);
    *vm_bytes = size * (uint64_t)(page > 0 ? page : 4096);
    *rss_bytes = resident * (uint64_t)(page > 0 ? page : 4096);
    return 0;
}

double spx_ingest_paused_seconds(const spx_server *srv)
{
    uint64_t ns = srv->c.ingest_paused_ns;
    if (srv->ingest_paused)
        ns += uv_hrtime() - srv->ingest_paused_at_ns;
    return (double)ns * 1e-9;
}

typedef struct counter_field {
    const char *name, *help;
    size_t offset;
} counter_field;

#define STREAM_FIELD(n, field, help) {"spectrad_stream_" n, help, offsetof(spx_stream_counters, field)}
static const counter_field stream_counters[] = {
    STREAM_FIELD("messages_total", messages, "Messages accepted on the stream."),
    STREAM_FIELD("rows_total", count, "Rows, samples or blocks accepted on the stream."),
    STREAM_FIELD("bytes_total", bytes, "Payload bytes accepted on the stream."),
    STREAM_FIELD("events_total", events, "Series event markers accepted on the stream."),
    STREAM_FIELD("rejected_total", rejected, "Messages refused on the stream (by code in spectrad_stream_errors_total)."),
    STREAM_FIELD("seq_gaps_total", seq_gaps, "Producer seq values that jumped forward."),
    STREAM_FIELD("seq_repeats_total", seq_repeats, "Producer seq values that did not advance."),
    STREAM_FIELD("time_gaps_total", time_gaps, "Series chunks starting later than the previous one ended."),
    STREAM_FIELD("time_overlaps_total", time_overlaps, "Series chunks starting before the previous one ended."),
};

#define PIPELINE_FIELD(n, field, help) {"spectrad_pipeline_" n, help, offsetof(spx_pipeline_stats, field)}
static const counter_field pipeline_counters[] = {
    PIPELINE_FIELD("updates_total", updates, "Inputs applied by the pipeline."),
    PIPELINE_FIELD("update_errors_total", errors, "Inputs the pipeline's algorithm refused."),
    PIPELINE_FIELD("rows_total", count, "Rows, samples or blocks applied by the pipeline."),
    PIPELINE_FIELD("published_total", published, "Result bodies made by the pipeline."),
    PIPELINE_FIELD("published_bytes_total", published_bytes, "Bytes of the result bodies made by the pipeline."),
};

static uint64_t field_at(const void *base, size_t offset)
{
    uint64_t v;
    memcpy(&v, (const char *)base + offset, sizeof v);
    return v;
}

static void server_counter(spx_metrics_buf *b, const char *name, const char *help, uint64_t v)
{
    spx_metrics_family(b, name, "counter", help);
    spx_metrics_sample_u64(b, name, NULL, 0, v);
}

static void server_gauge(spx_metrics_buf *b, const char *name, const char *help, double v)
{
    spx_metrics_family(b, name, "gauge", help);
    spx_metrics_sample_double(b, name, NULL, 0, v);
}

static void render_process(const spx_server *srv, spx_metrics_buf *b)
{
    spx_metrics_family(b, "spectrad_build_info", "gauge", "Version of this daemon (value 1).");
    spx_metric_label version = {"version", SPX_VERSION};
    spx_metrics_sample_u64(b, "spectrad_build_info", &version, 1, 1);
    server_gauge(b, "process_start_time_seconds", "Start time of the process since the Unix epoch.",
                 srv->started);
    uint64_t rss = 0, vm = 0;
    if (spx_process_memory(&rss, &vm) == 0) {
        server_gauge(b, "process_resident_memory_bytes", "Resident memory size in bytes.", (double)rss);
        server_gauge(b, "process_virtual_memory_bytes", "Virtual memory size in bytes.", (double)vm);
    }
    server_gauge(b, "spectrad_queued_bytes", "Payload bytes held by accepted messages not yet applied "
                 "by every pipeline.", (double)*spx_registry_bytes_held(srv->reg));
    server_gauge(b, "spectrad_jobs_in_flight", "Pipeline jobs running on the worker pool.",
                 (double)srv->jobs_in_flight);
    server_gauge(b, "spectrad_streams", "Streams that exist.", (double)spx_registry_count(srv->reg));
}

static void render_ingest(const spx_server *srv, spx_metrics_buf *b)
{
    const spx_server_counters *c = &srv->c;
    server_counter(b, "spectrad_ingest_messages_total", "Ingest messages accepted.", c->ingest_messages);
    server_counter(b, "spectrad_ingest_bytes_total", "Ingest payload bytes accepted.", c->ingest_bytes);
    server_counter(b, "spectrad_ingest_rows_total", "Rows, samples or blocks accepted.", c->ingest_rows);
    server_counter(b, "spectrad_ingest_rejected_total", "Ingest messages refused.", c->ingest_rejected);
    spx_metrics_family(b, "spectrad_ingest_errors_total", "counter",
                       "Ingest messages refused, by error code.");
    /* Every code, zeros included, so that rate() sees a series from the first scrape on. */
    for (int i = 1; i < SPX_E_COUNT; i++) {
        spx_metric_label code = {"code", spx_errcode_name((spx_errcode)i)};
        spx_metrics_sample_u64(b, "spectrad_ingest_errors_total", &code, 1, c->ingest_errors[i]);
    }
    server_gauge(b, "spectrad_ingest_paused", "1 while ingest is paused because of the backlog.",
                 srv->ingest_paused ? 1 : 0);
    server_counter(b, "spectrad_ingest_pauses_total",
                   "Times ingest stopped reading because of the backlog.", c->ingest_pauses);
    spx_metrics_family(b, "spectrad_ingest_paused_seconds_total", "counter",
                       "Time ingest spent paused because of the backlog.");
    spx_metrics_sample_double(b, "spectrad_ingest_paused_seconds_total", NULL, 0,
                              spx_ingest_paused_seconds(srv));
    server_counter(b, "spectrad_results_messages_total", "Result messages published.",
                   c->results_messages);
    server_counter(b, "spectrad_results_bytes_total", "Result body bytes published.", c->results_bytes);
    server_counter(b, "spectrad_results_dropped_total",
                   "Results the publish socket could not take (no subscriber or high-water mark).",
                   c->results_dropped);
    server_counter(b, "spectrad_control_requests_total", "Control requests answered.",
                   c->control_requests);
    server_counter(b, "spectrad_control_errors_total", "Control requests answered with an error.",
                   c->control_errors);
}

static void render_streams(const spx_server *srv, spx_metrics_buf *b)
{
    spx_registry *reg = srv->reg;
    size_t n = spx_registry_count(reg);
    for (size_t f = 0; f < sizeof stream_counters / sizeof stream_counters[0]; f++) {
        spx_metrics_family(b, stream_counters[f].name, "counter", stream_counters[f].help);
        for (size_t i = 0; i < n; i++) {
            const spx_stream *s = spx_registry_at(reg, i);
            spx_metric_label l = {"stream", s->name};
            spx_metrics_sample_u64(b, stream_counters[f].name, &l, 1,
                                   field_at(&s->c, stream_counters[f].offset));
        }
    }
    /* Per stream only the codes that occurred: streams x codes of zeros would drown the page. */
    spx_metrics_family(b, "spectrad_stream_errors_total", "counter",
                       "Messages refused on the stream, by error code.");
    for (size_t i = 0; i < n; i++) {
        const spx_stream *s = spx_registry_at(reg, i);
        for (int e = 1; e < SPX_E_COUNT; e++) {
            if (!s->c.errors[e])
                continue;
            spx_metric_label l[2] = {{"stream", s->name}, {"code", spx_errcode_name((spx_errcode)e)}};
            spx_metrics_sample_u64(b, "spectrad_stream_errors_total", l, 2, s->c.errors[e]);
        }
    }
}

static void render_pipelines(const spx_server *srv, spx_metrics_buf *b)
{
    spx_registry *reg = srv->reg;
    size_t n = spx_registry_count(reg);
    spx_metrics_family(b, "spectrad_pipeline_info", "gauge",
                       "The algorithm each pipeline runs (value 1).");
    for (size_t i = 0; i < n; i++) {
        const spx_stream *s = spx_registry_at(reg, i);
        for (size_t j = 0; j < s->n_pipelines; j++) {
            const spx_pipeline *p = s->pipelines[j];
            spx_metric_label l[3] = {{"stream", s->name}, {"pipeline", p->name}, {"algo", p->ops->algo}};
            spx_metrics_sample_u64(b, "spectrad_pipeline_info", l, 3, 1);
        }
    }
    spx_metrics_family(b, "spectrad_pipeline_queued_inputs", "gauge",
                       "Accepted messages waiting to be applied by the pipeline.");
    for (size_t i = 0; i < n; i++) {
        const spx_stream *s = spx_registry_at(reg, i);
        for (size_t j = 0; j < s->n_pipelines; j++) {
            spx_metric_label l[2] = {{"stream", s->name}, {"pipeline", s->pipelines[j]->name}};
            spx_metrics_sample_u64(b, "spectrad_pipeline_queued_inputs", l, 2, s->pipelines[j]->q_len);
        }
    }
    for (size_t f = 0; f < sizeof pipeline_counters / sizeof pipeline_counters[0]; f++) {
        spx_metrics_family(b, pipeline_counters[f].name, "counter", pipeline_counters[f].help);
        for (size_t i = 0; i < n; i++) {
            const spx_stream *s = spx_registry_at(reg, i);
            for (size_t j = 0; j < s->n_pipelines; j++) {
                const spx_pipeline *p = s->pipelines[j];
                spx_metric_label l[2] = {{"stream", s->name}, {"pipeline", p->name}};
                spx_metrics_sample_u64(b, pipeline_counters[f].name, l, 2,
                                       field_at(&p->stats, pipeline_counters[f].offset));
            }
        }
    }
    spx_metrics_family(b, "spectrad_pipeline_update_duration_seconds", "histogram",
                       "Worker time of each update call (one per input, refused inputs included).");
    for (size_t i = 0; i < n; i++) {
        const spx_stream *s = spx_registry_at(reg, i);
        for (size_t j = 0; j < s->n_pipelines; j++) {
            const spx_pipeline *p = s->pipelines[j];
            spx_metric_label l[2] = {{"stream", s->name}, {"pipeline", p->name}};
            spx_metrics_histogram(b, "spectrad_pipeline_update_duration_seconds", l, 2,
                                  &p->stats.latency, p->stats.update_seconds);
        }
    }
}

void spx_metrics_render(const spx_server *srv, spx_metrics_buf *b)
{
    render_process(srv, b);
    render_ingest(srv, b);
    render_streams(srv, b);
    render_pipelines(srv, b);
    spx_metrics_family(b, "spectrad_metrics_render_timestamp_seconds", "gauge",
                       "When the loop rendered this page (a stale value means the loop was busy).");
    spx_metrics_sample_double(b, "spectrad_metrics_render_timestamp_seconds", NULL, 0, spx_now());
}
