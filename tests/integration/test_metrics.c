/* The Prometheus endpoint of a real spectrad: scraped over plain HTTP before, during and after a
 * push, the counters move with the input (messages, rows, bytes per stream; updates, published
 * results; the update-latency histogram's count equals the updates and its buckets are cumulative);
 * refused input shows up by error code; other paths and methods are refused; no endpoint unless
 * asked for. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "daemon_harness.h"
#include "spectra.h"

/* The port the daemon logged in "metrics: serving http://127.0.0.1:PORT/metrics". */
static int metrics_port(const spx_daemon_proc *d)
{
    FILE *f = fopen(d->log_path, "r");
    cr_assert_not_null(f);
    char line[1024];
    int port = 0;
    while (fgets(line, sizeof line, f)) {
        const char *at = strstr(line, "metrics: serving http://127.0.0.1:");
        if (at)
            port = atoi(at + strlen("metrics: serving http://127.0.0.1:"));
    }
    fclose(f);
    return port;
}

/* One HTTP/1.1 request with Connection: close; returns the status and the body (malloc'd). */
static int http_request(int port, const char *method, const char *path, char **body)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0, "connect to metrics port %d", port);
    struct timeval tv = {30, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char req[256];
    int n = snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
                     method, path);
    cr_assert_eq(send(fd, req, (size_t)n, 0), n);
    size_t len = 0, cap = 1 << 16;
    char *buf = malloc(cap);
    for (;;) {
        if (len + 1 == cap)
            cr_assert_not_null(buf = realloc(buf, cap *= 2));
        ssize_t got = recv(fd, buf + len, cap - len - 1, 0);
        if (got <= 0)
            break;
        len += (size_t)got;
    }
    close(fd);
    buf[len] = '\0';
    int status = 0;
    cr_assert_eq(sscanf(buf, "HTTP/1.%*d %d", &status), 1, "no status line: %.200s", buf);
    char *start = strstr(buf, "\r\n\r\n");
    cr_assert_not_null(start);
    if (!strncmp(path, "/metrics", 8) && status == 200)
        cr_assert_not_null(strstr(buf, "Content-Type: text/plain; version=0.0.4"), "%.400s", buf);
    *body = strdup(start + 4);
    free(buf);
    return status;
}

static double sample(const char *page, const char *series);

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* A page rendered after this call began: the daemon serves its previous rendering when the loop is
 * too busy to answer within its wait (valgrind, a loaded machine), so look at the render time. */
static char *scrape(int port)
{
    double asked = wall_now();
    for (int tries = 0;; tries++) {
        char *body;
        cr_assert_eq(http_request(port, "GET", "/metrics", &body), 200);
        if (sample(body, "spectrad_metrics_render_timestamp_seconds") >= asked - 1e-3 || tries == 60)
            return body;
        free(body);
    }
}

/* The value of the sample line that starts with `series` followed by a space; NAN when absent. */
static double sample(const char *page, const char *series)
{
    size_t n = strlen(series);
    for (const char *p = page; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (!strncmp(p, series, n) && p[n] == ' ')
            return strtod(p + n + 1, NULL);
    return NAN;
}

#define PIPE_LABELS "{stream=\"m\",pipeline=\"top\"}"
#define HIST "spectrad_pipeline_update_duration_seconds"

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

Test(metrics, counters_move_with_a_push, .timeout = 300)
{
    spx_daemon_proc d;
    const char *const args[] = {"--metrics-listen", "127.0.0.1:0", NULL};
    spx_daemon_start(&d, args);
    int port = metrics_port(&d);
    cr_assert_gt(port, 0, "no 'metrics: serving' line in the log");

    spectra_options o;
    spectra_options_init(&o);
    o.control = d.control;
    o.ingest = d.ingest;
    o.publish = d.publish;
    o.timeout_ms = 120000;
    spectra_client *c = spectra_connect(&o);
    cr_assert_not_null(c);
    enum { DIM = 8, ROWS = 50, MESSAGES = 40 };
    cr_assert_eq(spectra_create(c, "m", SPECTRA_ROWS, DIM, 0, NULL, 0), 0, "%s", spectra_last_error(c));
    cr_assert_eq(spectra_attach(c, "m", "top", "topeig", NULL, 0, 100, -1), 0, "%s",
                 spectra_last_error(c));

    char *before = scrape(port);
    cr_assert_eq(sample(before, "spectrad_stream_messages_total{stream=\"m\"}"), 0, "%s", before);
    cr_assert_eq(sample(before, "spectrad_pipeline_updates_total" PIPE_LABELS), 0);
    cr_assert_eq(sample(before, HIST "_count" PIPE_LABELS), 0);
    cr_assert_eq(sample(before, "spectrad_pipeline_info{stream=\"m\",pipeline=\"top\",algo=\"topeig\"}"), 1);
    cr_assert_gt(sample(before, "process_resident_memory_bytes"), 1 << 20);
    double ingest_before = sample(before, "spectrad_ingest_messages_total");
    free(before);

    double rows[ROWS * DIM];
    unsigned x = 12345;
    for (size_t i = 0; i < ROWS * DIM; i++) {
        x = x * 1103515245u + 12345u;
        rows[i] = (double)(x >> 8) / (double)(1u << 24) - 0.5;
    }
    for (int i = 0; i < MESSAGES / 2; i++)
        cr_assert_eq(spectra_push_rows(c, "m", SPECTRA_F64, rows, ROWS, DIM), 0, "%s",
                     spectra_last_error(c));
    /* During the push: the first half shows up before the second half is sent. */
    double during = 0;
    for (int tries = 0; tries < 600 && during < MESSAGES / 2; tries++) {
        char *page = scrape(port);
        during = sample(page, "spectrad_stream_messages_total{stream=\"m\"}");
        free(page);
        if (during < MESSAGES / 2)
            sleep_ms(50);
    }
    cr_assert_eq(during, MESSAGES / 2, "messages seen while pushing");
    for (int i = MESSAGES / 2; i < MESSAGES; i++)
        cr_assert_eq(spectra_push_rows(c, "m", SPECTRA_F64, rows, ROWS, DIM), 0, "%s",
                     spectra_last_error(c));
    /* A refused message (not finite): counted by code, globally and on the stream. */
    double bad[DIM] = {0};
    bad[3] = NAN;
    cr_assert_eq(spectra_push_rows(c, "m", SPECTRA_F64, bad, 1, DIM), 0, "%s", spectra_last_error(c));
    /* `get` answers once the pipeline applied everything accepted before it. */
    for (int tries = 0; tries < 600; tries++) {
        char *page = scrape(port);
        double refused = sample(page, "spectrad_stream_errors_total{stream=\"m\",code=\"not_finite\"}");
        free(page);
        if (refused == 1)
            break;
        sleep_ms(50);
    }
    spectra_msg *got = NULL;
    cr_assert_eq(spectra_get(c, "m", "top", &got), 0, "%s", spectra_last_error(c));
    spectra_msg_free(got);

    char *after = scrape(port);
    cr_assert_eq(sample(after, "spectrad_stream_messages_total{stream=\"m\"}"), MESSAGES, "%s", after);
    cr_assert_eq(sample(after, "spectrad_stream_rows_total{stream=\"m\"}"), MESSAGES * ROWS);
    cr_assert_eq(sample(after, "spectrad_stream_bytes_total{stream=\"m\"}"),
                 MESSAGES * ROWS * DIM * sizeof(double));
    cr_assert_eq(sample(after, "spectrad_stream_rejected_total{stream=\"m\"}"), 1);
    cr_assert_eq(sample(after, "spectrad_stream_errors_total{stream=\"m\",code=\"not_finite\"}"), 1);
    cr_assert_eq(sample(after, "spectrad_ingest_errors_total{code=\"not_finite\"}"), 1);
    cr_assert_eq(sample(after, "spectrad_ingest_messages_total") - ingest_before, MESSAGES);
    double updates = sample(after, "spectrad_pipeline_updates_total" PIPE_LABELS);
    cr_assert_eq(updates, MESSAGES);
    cr_assert_eq(sample(after, "spectrad_pipeline_rows_total" PIPE_LABELS), MESSAGES * ROWS);
    cr_assert_eq(sample(after, "spectrad_pipeline_queued_inputs" PIPE_LABELS), 0);
    /* every=100 rows: two results per 50-row message pair, so at least MESSAGES * ROWS / 100. */
    double published = sample(after, "spectrad_pipeline_published_total" PIPE_LABELS);
    cr_assert_geq(published, MESSAGES * ROWS / 100);
    cr_assert_gt(sample(after, "spectrad_pipeline_published_bytes_total" PIPE_LABELS), published * 50);
    /* The histogram: one observation per update, cumulative buckets ending at the count. */
    cr_assert_eq(sample(after, HIST "_count" PIPE_LABELS), updates);
    cr_assert_eq(sample(after, HIST "_bucket{stream=\"m\",pipeline=\"top\",le=\"+Inf\"}"), updates);
    cr_assert_gt(sample(after, HIST "_sum" PIPE_LABELS), 0);
    double prev = 0;
    const char *les[] = {"1e-05", "0.0001", "0.001", "0.01", "0.1", "1", "10", "+Inf"};
    for (size_t i = 0; i < sizeof les / sizeof les[0]; i++) {
        char series[160];
        snprintf(series, sizeof series, HIST "_bucket{stream=\"m\",pipeline=\"top\",le=\"%s\"}", les[i]);
        double v = sample(after, series);
        cr_assert(!isnan(v), "missing %s", series);
        cr_assert_geq(v, prev, "%s below the bucket before it", series);
        prev = v;
    }
    double results_before_stop = sample(after, "spectrad_results_messages_total");
    cr_assert_gt(results_before_stop + sample(after, "spectrad_results_dropped_total"), 0);
    free(after);

    /* `stats` carries the same histogram (non-cumulative counts) and the new keys. */
    spectra_msg *st = NULL;
    cr_assert_eq(spectra_stats(c, &st), 0, "%s", spectra_last_error(c));
    size_t n_counts = 0;
    cr_assert_eq(spectra_msg_size(st, "streams.m.pipelines.top.latency.counts", &n_counts), 0);
    cr_assert_eq(n_counts, 20);
    uint64_t total = 0, v = 0;
    for (size_t i = 0; i < n_counts; i++) {
        char path[96];
        snprintf(path, sizeof path, "streams.m.pipelines.top.latency.counts.%zu", i);
        cr_assert_eq(spectra_msg_uint(st, path, &v), 0, "%s", path);
        total += v;
    }
    cr_assert_eq(total, MESSAGES);
    cr_assert_eq(spectra_msg_uint(st, "memory.rss_bytes", &v), 0);
    cr_assert_gt(v, 1 << 20);
    cr_assert_eq(spectra_msg_uint(st, "streams.m.pipelines.top.published_bytes", &v), 0);
    cr_assert_gt(v, 0);
    double paused = -1;
    cr_assert_eq(spectra_msg_double(st, "ingest.paused_seconds", &paused), 0);
    cr_assert_geq(paused, 0);
    spectra_msg_free(st);

    spectra_close(c);
    cr_assert_eq(spx_daemon_stop(&d), 0);
}

Test(metrics, refuses_other_paths_and_methods, .timeout = 120)
{
    spx_daemon_proc d;
    const char *const args[] = {"--metrics-listen", "127.0.0.1:0", NULL};
    spx_daemon_start(&d, args);
    int port = metrics_port(&d);
    cr_assert_gt(port, 0);
    char *body;
    cr_assert_eq(http_request(port, "GET", "/nope", &body), 404);
    free(body);
    cr_assert_eq(http_request(port, "POST", "/metrics", &body), 405);
    free(body);
    cr_assert_eq(http_request(port, "HEAD", "/metrics", &body), 200);
    cr_assert_str_eq(body, "");
    free(body);
    cr_assert_eq(spx_daemon_stop(&d), 0);
}

Test(metrics, off_unless_configured, .timeout = 120)
{
    spx_daemon_proc d;
    spx_daemon_start(&d, NULL);
    cr_assert_eq(metrics_port(&d), 0);
    cr_assert_not(spx_daemon_log_contains(&d, "metrics:"));
    cr_assert_eq(spx_daemon_stop(&d), 0);
}
