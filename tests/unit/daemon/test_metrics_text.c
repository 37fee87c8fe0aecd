/* The Prometheus text rendering: label and HELP escaping, histogram buckets (cumulative, monotone in
 * le, +Inf equal to _count), and a whole page of a server with a declared stream and pipeline checked
 * line by line against the exposition format 0.0.4 (every sample under its own family's HELP/TYPE,
 * no family twice, values that parse). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "metrics_text.h"
#include "server.h"

Test(metrics_text, escapes_label_values)
{
    char out[64];
    size_t need = spx_metrics_escape_label(out, sizeof out, "a\\b\"c\nd");
    cr_assert_str_eq(out, "a\\\\b\\\"c\\nd");
    cr_assert_eq(need, strlen("a\\\\b\\\"c\\nd"));
    /* Too small: truncated, terminated, and the needed length still reported. */
    char small[4];
    cr_assert_eq(spx_metrics_escape_label(small, sizeof small, "\"\"\""), 6);
    cr_assert_str_eq(small, "\\\"\\");
    cr_assert_eq(spx_metrics_escape_label(NULL, 0, "plain"), 5);
}

Test(metrics_text, sample_lines_and_help_escaping)
{
    spx_metrics_buf b = {0};
    spx_metrics_family(&b, "x_total", "counter", "back\\slash and\nnewline");
    spx_metric_label l[2] = {{"stream", "s\"1"}, {"code", "a\\b"}};
    spx_metrics_sample_u64(&b, "x_total", l, 2, 18446744073709551615ULL);
    spx_metrics_sample_double(&b, "y", NULL, 0, 0.25);
    spx_metrics_sample_double(&b, "z", NULL, 0, NAN);
    spx_metrics_sample_double(&b, "w", NULL, 0, -INFINITY);
    cr_assert_not(b.failed);
    cr_assert_str_eq(b.data,
                     "# HELP x_total back\\\\slash and\\nnewline\n"
                     "# TYPE x_total counter\n"
                     "x_total{stream=\"s\\\"1\",code=\"a\\\\b\"} 18446744073709551615\n"
                     "y 0.25\n"
                     "z NaN\n"
                     "w -Inf\n");
    spx_metrics_buf_free(&b);
}

Test(metrics_text, long_lines_grow_the_buffer)
{
    char name[600];
    memset(name, 'n', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    spx_metrics_buf b = {0};
    for (int i = 0; i < 100; i++)
        spx_metrics_sample_u64(&b, name, NULL, 0, (uint64_t)i);
    cr_assert_not(b.failed);
    cr_assert_eq(b.len, 100 * (sizeof name - 1) + 10 * 3 + 90 * 4);
    cr_assert_eq(strlen(b.data), b.len);
    spx_metrics_buf_free(&b);
}

Test(metrics_text, histogram_buckets_are_cumulative_and_monotone)
{
    spx_latency_hist h = {0};
    const double samples[] = {5e-6, 30e-6, 30e-6, 0.004, 0.3, 0.3, 0.3, 7.0, 42.0};
    double sum = 0;
    for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
        spx_latency_record(&h, samples[i]);
        sum += samples[i];
    }
    spx_metrics_buf b = {0};
    spx_metric_label l[2] = {{"stream", "s"}, {"pipeline", "p"}};
    spx_metrics_histogram(&b, "lat_seconds", l, 2, &h, sum);
    cr_assert_not(b.failed);

    double prev_le = -1;
    unsigned long long prev_count = 0, inf_count = 0, count = 0;
    double got_sum = NAN;
    size_t buckets = 0;
    char *save = NULL;
    for (char *line = strtok_r(b.data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        static const char bucket[] = "lat_seconds_bucket{stream=\"s\",pipeline=\"p\",le=\"";
        static const char sum_l[] = "lat_seconds_sum{stream=\"s\",pipeline=\"p\"} ";
        static const char count_l[] = "lat_seconds_count{stream=\"s\",pipeline=\"p\"} ";
        if (!strncmp(line, bucket, sizeof bucket - 1)) {
            char le[32];
            unsigned long long v;
            cr_assert_eq(sscanf(line + sizeof bucket - 1, "%31[^\"]\"} %llu", le, &v), 2, "%s", line);
            double le_v = !strcmp(le, "+Inf") ? INFINITY : strtod(le, NULL);
            cr_assert_gt(le_v, prev_le, "le not increasing: %s", line);
            cr_assert_geq(v, prev_count, "bucket not cumulative: %s", line);
            prev_le = le_v;
            prev_count = v;
            if (isinf(le_v))
                inf_count = v;
            if (le_v == 0.001)   /* 5us, 30us, 30us */
                cr_assert_eq(v, 3);
            if (le_v == 0.5)
                cr_assert_eq(v, 7);
            buckets++;
        } else if (!strncmp(line, sum_l, sizeof sum_l - 1)) {
            got_sum = strtod(line + sizeof sum_l - 1, NULL);
        } else if (!strncmp(line, count_l, sizeof count_l - 1)) {
            count = strtoull(line + sizeof count_l - 1, NULL, 10);
        } else {
            cr_assert_fail("unexpected line: %s", line);
        }
    }
    cr_assert_eq(buckets, SPX_LATENCY_BOUNDS + 1);
    cr_assert_eq(inf_count, 9);
    cr_assert_eq(count, 9);
    cr_assert_eq(got_sum, sum);   /* %.17g round-trips exactly */
    spx_metrics_buf_free(&b);
}

/* Checks a whole page against the format: returns the number of samples. */
static size_t check_exposition(char *text)
{
    char family[128] = "", type[32] = "", help_for[128] = "";
    char seen[128][128];
    size_t n_seen = 0, samples = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char name[128];
        if (!strncmp(line, "# HELP ", 7)) {
            cr_assert_eq(sscanf(line + 7, "%127s", help_for), 1);
            continue;
        }
        if (!strncmp(line, "# TYPE ", 7)) {
            cr_assert_eq(sscanf(line + 7, "%127s %31s", family, type), 2, "%s", line);
            cr_assert_str_eq(help_for, family, "TYPE %s without its HELP", family);
            cr_assert(!strcmp(type, "counter") || !strcmp(type, "gauge") || !strcmp(type, "histogram"),
                      "%s", line);
            for (size_t i = 0; i < n_seen; i++)
                cr_assert_str_neq(seen[i], family, "family %s twice", family);
            cr_assert_lt(n_seen, 128);
            snprintf(seen[n_seen++], sizeof seen[0], "%s", family);
            continue;
        }
        cr_assert_neq(line[0], '#', "%s", line);
        size_t len = strcspn(line, "{ ");
        cr_assert_lt(len, sizeof name);
        memcpy(name, line, len);
        name[len] = '\0';
        bool ok = !strcmp(name, family);
        if (!strcmp(type, "histogram")) {
            size_t fl = strlen(family);
            ok = !strncmp(name, family, fl) && (!strcmp(name + fl, "_bucket") ||
                                                !strcmp(name + fl, "_sum") ||
                                                !strcmp(name + fl, "_count"));
        }
        cr_assert(ok, "sample %s outside its family (current: %s)", line, family);
        if (!strcmp(type, "counter"))
            cr_assert(strstr(name, "_total"), "counter %s without _total", name);
        const char *value = strrchr(line, ' ');
        cr_assert_not_null(value, "%s", line);
        char *end;
        double v = strtod(value + 1, &end);
        cr_assert(*end == '\0' && (v == v || !strcmp(value + 1, "NaN")), "value in %s", line);
        samples++;
    }
    return samples;
}

Test(metrics_text, server_page_follows_the_format)
{
    spx_config *cfg = calloc(1, sizeof *cfg);
    spx_server *srv = calloc(1, sizeof *srv);
    cr_assert(cfg && srv);
    spx_config_defaults(cfg);
    cfg->n_streams = 1;
    snprintf(cfg->streams[0].name, sizeof cfg->streams[0].name, "sensors");
    snprintf(cfg->streams[0].kind, sizeof cfg->streams[0].kind, "rows");
    cfg->streams[0].dim = 4;
    cfg->n_pipelines = 1;
    snprintf(cfg->pipelines[0].stream, sizeof cfg->pipelines[0].stream, "sensors");
    snprintf(cfg->pipelines[0].name, sizeof cfg->pipelines[0].name, "top");
    snprintf(cfg->pipelines[0].algo, sizeof cfg->pipelines[0].algo, "topeig");
    srv->reg = spx_registry_new();
    cr_assert_not_null(srv->reg);
    char err[512];
    cr_assert_eq(spx_server_apply_declarations(srv, cfg, err, sizeof err), 0, "%s", err);
    spx_stream *s = spx_registry_find(srv->reg, "sensors");
    spx_pipeline *p = s->pipelines[0];
    s->c.messages = 7;
    s->c.errors[SPX_E_NOT_FINITE] = 2;
    srv->c.ingest_errors[SPX_E_BAD_HEADER] = 3;
    p->stats.updates = 5;
    p->stats.published_bytes = 1234;
    for (int i = 0; i < 5; i++)
        spx_latency_record(&p->stats.latency, 1e-3 * (i + 1));
    p->stats.update_seconds = 0.015;

    spx_metrics_buf b = {0};
    spx_metrics_render(srv, &b);
    cr_assert_not(b.failed);
    cr_assert(b.len > 0 && b.data[b.len - 1] == '\n');
    const char *expect[] = {
        "spectrad_stream_messages_total{stream=\"sensors\"} 7\n",
        "spectrad_stream_errors_total{stream=\"sensors\",code=\"not_finite\"} 2\n",
        "spectrad_ingest_errors_total{code=\"bad_header\"} 3\n",
        "spectrad_ingest_errors_total{code=\"too_large\"} 0\n",
        "spectrad_pipeline_info{stream=\"sensors\",pipeline=\"top\",algo=\"topeig\"} 1\n",
        "spectrad_pipeline_queued_inputs{stream=\"sensors\",pipeline=\"top\"} 0\n",
        "spectrad_pipeline_published_bytes_total{stream=\"sensors\",pipeline=\"top\"} 1234\n",
        "spectrad_pipeline_update_duration_seconds_bucket{stream=\"sensors\",pipeline=\"top\",le=\"0.002\"} 2\n",
        "spectrad_pipeline_update_duration_seconds_bucket{stream=\"sensors\",pipeline=\"top\",le=\"+Inf\"} 5\n",
        "spectrad_pipeline_update_duration_seconds_count{stream=\"sensors\",pipeline=\"top\"} 5\n",
        "process_resident_memory_bytes ",
        "spectrad_ingest_paused_seconds_total 0\n",
    };
    for (size_t i = 0; i < sizeof expect / sizeof expect[0]; i++)
        cr_assert_not_null(strstr(b.data, expect[i]), "missing: %s\n%s", expect[i], b.data);
    cr_assert_gt(check_exposition(b.data), 60);
    spx_metrics_buf_free(&b);
    spx_registry_free(srv->reg);
    free(srv);
    free(cfg);
}

Test(metrics_text, parses_listen_addresses)
{
    char host[64], err[256];
    uint16_t port = 1;
    cr_assert_eq(spx_metrics_parse_listen("127.0.0.1:9464", host, sizeof host, &port, err, sizeof err), 0);
    cr_assert_str_eq(host, "127.0.0.1");
    cr_assert_eq(port, 9464);
    cr_assert_eq(spx_metrics_parse_listen("[::1]:0", host, sizeof host, &port, err, sizeof err), 0);
    cr_assert_str_eq(host, "::1");
    cr_assert_eq(port, 0);
    const char *bad[] = {"127.0.0.1", "127.0.0.1:", ":9464", "localhost:9464", "1.2.3.4:70000",
                         "1.2.3.4:12x", "tcp://127.0.0.1:9464"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_eq(spx_metrics_parse_listen(bad[i], host, sizeof host, &port, err, sizeof err), -1,
                     "%s accepted", bad[i]);
}
