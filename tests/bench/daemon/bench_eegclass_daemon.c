/* The `eegclass` pipeline through spectrad: latency per window and throughput, end to end.
 *
 * Starts its own spectrad (free loopback ports). Data: EEGMMIDB S001 (64 channels, 160 Hz; runs 6
 * and 10 calibrate, run 14 is replayed live) when built with libbiosig (SPX_HAVE_BIOSIG) and
 * ../shared/data is there; otherwise synthetic 64-channel series of the same shape (15 cues per
 * 125-s run, classes with planted spatial covariances), and the output says so.
 *
 * Section "latency" (closed loop): for each configuration, a fresh stream and pipeline (1-s
 * windows every 125 ms, attach policy off), calibration pushed, `call fit`, then the test run in
 * 20-sample chunks, each sent only once the window the previous chunk completed has reached the
 * subscriber, so nothing queues. Per window: compute (covariance + classifier, timed in the
 * adapter), in daemon (receive of the completing chunk -> prediction made; includes filtering and
 * the ring) and end to end (client send -> subscriber receive over loopback TCP): p50 / p99.
 * Section "throughput": S streams (1, 2, 4), each with an OAS + MDM pipeline whose model is loaded
 * from bytes (get detail "model" / call "load_model": calibrated once), the test run pushed to all
 * as fast as the daemon takes it; windows per second received, and the in-daemon latency under
 * that load (queueing included).
 *
 * Usage: bench_eegclass_daemon [--section latency|throughput|all] [--quick] [--workers N]
 *          [--spectrad PATH]
 * Timings are the machine's (a shared 2-core box in docs/benchmarks.md); nothing is asserted
 * except that every window arrives. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <msgpack.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "rng.h"
#include "daemon_proc.h"
#include "spectra.h"
#include "testdata.h"

#ifdef SPX_HAVE_BIOSIG
#define SPX_EEG_EDF_NO_FILTER
#include "../eeg_edf.h"
#endif

#define RATE 160.0
#define CHUNK 20
#define C 64
#define RUN_SAMPLES 20000
#define T_BASE 1700000000.0

static double wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

#define die bench_die

/* ---- data ------------------------------------------------------------------------------------- */

typedef struct run_data {
    double *x;                  /* RUN_SAMPLES x C, time-major */
    size_t n_cues;
    size_t onset[32], duration[32];
    int cls[32];                /* 0 = T1, 1 = T2 */
} run_data;

typedef struct dataset {
    run_data run[3];            /* calibration, calibration, test */
    bool real;
} dataset;

#ifdef SPX_HAVE_BIOSIG
static bool load_real(dataset *ds)
{
    static const int runs[3] = {6, 10, 14};
    for (int i = 0; i < 3; i++) {
        char rel[128], path[4096];
        snprintf(rel, sizeof rel, "eeg/eegmmidb/S001/S001R%02d.edf", runs[i]);
        eeg_run r;
        if (!spx_test_data_path(path, sizeof path, rel) || eeg_run_load(path, &r) != 0)
            return false;
        if (r.channels != C || r.fs != RATE || r.samples < RUN_SAMPLES) {
            eeg_run_free(&r);
            return false;
        }
        run_data *d = &ds->run[i];
        d->x = malloc((size_t)RUN_SAMPLES * C * sizeof *d->x);
        for (size_t t = 0; t < RUN_SAMPLES; t++)
            for (size_t ch = 0; ch < C; ch++)
                d->x[t * C + ch] = r.data[ch * r.samples + t];
        d->n_cues = 0;
        for (size_t e = 0; e < r.n_events && d->n_cues < 32; e++)
            if (r.code[e] != 0) {
                d->onset[d->n_cues] = r.onset[e];
                d->duration[d->n_cues] = r.duration[e];
                d->cls[d->n_cues++] = r.code[e] - 1;
            }
        eeg_run_free(&r);
    }
    return true;
}
#endif

/* Rest: white noise through a fixed mixing; class k: channels 8k..8k+7 three times stronger. */
static void make_synthetic(dataset *ds)
{
    spx_rng rng;
    spx_rng_seed(&rng, 42);
    static double mix[C * C];
    for (size_t i = 0; i < C * C; i++)
        mix[i] = (i % (C + 1) == 0) + 0.05 * spx_rng_normal(&rng);
    for (int i = 0; i < 3; i++) {
        run_data *d = &ds->run[i];
        d->x = malloc((size_t)RUN_SAMPLES * C * sizeof *d->x);
        d->n_cues = 15;
        for (size_t k = 0; k < 15; k++) {
            d->onset[k] = (size_t)(RATE * (4.2 + 8.0 * (double)k));
            d->duration[k] = (size_t)(RATE * 4.1);
            d->cls[k] = (int)((k + (size_t)spx_rng_below(&rng, 2)) % 2);
        }
        for (size_t t = 0; t < RUN_SAMPLES; t++) {
            int cls = -1;
            for (size_t k = 0; k < d->n_cues; k++)
                if (t >= d->onset[k] && t < d->onset[k] + d->duration[k])
                    cls = d->cls[k];
            double z[C];
            spx_rng_normal_fill(&rng, z, C);
            if (cls >= 0)
                for (size_t ch = (size_t)cls * 8; ch < (size_t)cls * 8 + 8; ch++)
                    z[ch] *= 3.0;
            for (size_t ch = 0; ch < C; ch++) {
                double v = 0;
                for (size_t j = 0; j < C; j++)
                    v += mix[ch * C + j] * z[j];
                d->x[t * C + ch] = 10.0 * v;
            }
        }
    }
    ds->real = false;
}

/* ---- helpers ---------------------------------------------------------------------------------- */

static const char *const g_labels[2] = {"T1", "T2"};

/* Pushes chunk k (CHUNK samples from sample k*CHUNK) of a run with the cues starting in it. */
static void push_chunk(spectra_client *c, const char *stream, const run_data *r, size_t k,
                       double t_run)
{
    size_t s0 = k * CHUNK;
    spectra_event ev[4];
    size_t n_ev = 0;
    for (size_t e = 0; e < r->n_cues && n_ev < 4; e++)
        if (r->onset[e] >= s0 && r->onset[e] < s0 + CHUNK)
            ev[n_ev++] = (spectra_event){.t = t_run + (double)r->onset[e] / RATE,
                                         .label = g_labels[r->cls[e]], .value = NAN,
                                         .duration = (double)r->duration[e] / RATE};
    int rc = spectra_push_series(c, stream, SPECTRA_F64, r->x + s0 * C, CHUNK, C,
                                 t_run + (double)s0 / RATE, RATE, ev, n_ev);
    if (rc)
        die("push", spectra_last_error(c));
}

static void wait_accepted(spectra_client *c, const char *stream, uint64_t messages)
{
    char path[128];
    snprintf(path, sizeof path, "streams.%s.messages", stream);
    for (int i = 0; i < 60000; i++) {
        spectra_msg *st;
        uint64_t got = 0;
        if (spectra_stats(c, &st) != 0)
            die("stats", spectra_last_error(c));
        spectra_msg_uint(st, path, &got);
        spectra_msg_free(st);
        if (got >= messages)
            return;
        usleep(2000);
    }
    die("wait", "the daemon did not accept every message");
}

static int request(spectra_client *c, const char *op, const char *stream, const char *p,
                   const char *key, const char *name, const void *bin, size_t bin_len,
                   spectra_msg **reply)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, bin ? 5 : 4);
    const char *kv[8] = {"op", op, "stream", stream, "pipeline", p, key, name};
    for (int i = 0; i < 8; i++)
        msgpack_pack_str_with_body(&pk, kv[i], strlen(kv[i]));
    if (bin) {
        msgpack_pack_str_with_body(&pk, "args", 4);
        msgpack_pack_map(&pk, 1);
        msgpack_pack_str_with_body(&pk, "model", 5);
        msgpack_pack_bin_with_body(&pk, bin, bin_len);
    }
    int rc = spectra_request(c, sb.data, sb.size, reply);
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

/* A stream with an eegclass pipeline "clf", calibrated on runs 0 and 1 and fitted. */
static void calibrated_stream(spectra_client *c, const dataset *ds, const char *stream,
                              const char *const *params, size_t n_params, double *fit_s)
{
    if (spectra_create(c, stream, SPECTRA_SERIES, C, RATE, NULL, 0) != 0)
        die("create", spectra_last_error(c));
    if (spectra_attach(c, stream, "clf", "eegclass", params, n_params, 0, 0) != 0)
        die("attach", spectra_last_error(c));
    for (int i = 0; i < 2; i++)
        for (size_t k = 0; k < RUN_SAMPLES / CHUNK; k++)
            push_chunk(c, stream, &ds->run[i], k, T_BASE + 135.0 * i);
    wait_accepted(c, stream, 2 * RUN_SAMPLES / CHUNK);
    spectra_msg *reply;
    if (request(c, "call", stream, "clf", "method", "fit", NULL, 0, &reply) != 0)
        die("fit", spectra_last_error(c));
    spectra_msg_double(reply, "value.seconds", fit_s);
    spectra_msg_free(reply);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(double *v, size_t n, double q)
{
    qsort(v, n, sizeof *v, cmp_double);
    size_t i = (size_t)ceil(q * (double)n);
    return n ? v[i ? i - 1 : 0] : NAN;
}

/* ---- sections --------------------------------------------------------------------------------- */

static void section_latency(const daemon_proc *d, const dataset *ds, bool quick)
{
    static const struct { const char *name; const char *params[6]; size_t n; } configs[] = {
        {"OAS + MDM", {"classes=T1,T2", "min_trials=0", "mode=windows"}, 3},
        {"OAS + TS + LR", {"classes=T1,T2", "min_trials=0", "mode=windows", "classifier=ts"}, 4},
        {"ACM(2,2) + OAS + MDM", {"classes=T1,T2", "min_trials=0", "mode=windows", "order=2",
                                  "lag=2"}, 5},
    };
    printf("latency per window, closed loop (next chunk sent when the window arrived), 64 "
           "channels, 1-s windows every 125 ms, %s\n", ds->real ? "S001 run 14" :
           "synthetic test run");
    printf("%-22s %8s %8s %8s %8s %8s %8s %8s %7s\n", "pipeline", "windows", "cmp p50", "cmp p99",
           "dmn p50", "dmn p99", "e2e p50", "e2e p99", "fit s");
    size_t max_w = quick ? 200 : RUN_SAMPLES / CHUNK;
    double *cmp = malloc(max_w * sizeof *cmp), *dmn = malloc(max_w * sizeof *dmn),
           *e2e = malloc(max_w * sizeof *e2e);
    for (size_t k = 0; k < sizeof configs / sizeof configs[0]; k++) {
        spectra_client *c = client_for(d, 600000);
        char stream[32];
        snprintf(stream, sizeof stream, "lat%zu", k);
        double fit_s = NAN;
        calibrated_stream(c, ds, stream, configs[k].params, configs[k].n, &fit_s);
        char topic[64];
        snprintf(topic, sizeof topic, "%s.clf", stream);
        spectra_subscribe(c, topic);
        usleep(200000);   /* the subscription reaches the daemon asynchronously */
        size_t n = 0;
        double t_run = T_BASE + 270.0;
        for (size_t ch = 0; ch < RUN_SAMPLES / CHUNK && n < max_w; ch++) {
            double sent = wall();
            push_chunk(c, stream, &ds->run[2], ch, t_run);
            if ((ch + 1) * CHUNK < 240)   /* 0.5 s settling + 1 s window */
                continue;
            char tp[SPECTRA_TOPIC_MAX + 1];
            spectra_msg *body;
            int rc = spectra_recv_result(c, 60000, tp, sizeof tp, &body);
            double got = wall();
            if (rc)
                die("a window never arrived", spectra_strerror(rc));
            spectra_msg_double(body, "result.window.compute_ms", &cmp[n]);
            spectra_msg_double(body, "result.window.latency_ms", &dmn[n]);
            e2e[n++] = (got - sent) * 1e3;
            spectra_msg_free(body);
        }
        printf("%-22s %8zu %8.3f %8.3f %8.3f %8.3f %8.3f %8.3f %7.2f\n", configs[k].name, n,
               pct(cmp, n, 0.5), pct(cmp, n, 0.99), pct(dmn, n, 0.5), pct(dmn, n, 0.99),
               pct(e2e, n, 0.5), pct(e2e, n, 0.99), fit_s);
        fflush(stdout);
        spectra_drop(c, stream);
        spectra_close(c);
    }
    printf("(ms; cmp = covariance + classifier in the adapter, dmn = receive of the chunk -> "
           "prediction in the daemon, e2e = client send -> subscriber receive)\n\n");
    free(cmp);
    free(dmn);
    free(e2e);
}

static void section_throughput(const daemon_proc *d, const dataset *ds, bool quick)
{
    printf("throughput, OAS + MDM, S streams x 64 channels pushed as fast as the daemon takes "
           "them (model loaded from bytes into each), %s\n", ds->real ? "S001 run 14" :
           "synthetic test run");
    printf("%-8s %9s %11s %13s %9s %9s\n", "streams", "windows", "seconds", "windows/s",
           "dmn p50", "dmn p99");
    spectra_client *c = client_for(d, 600000);
    const char *params[] = {"classes=T1,T2", "min_trials=0", "mode=windows"};
    double fit_s;
    calibrated_stream(c, ds, "tp0", params, 3, &fit_s);
    spectra_msg *reply;
    if (request(c, "get", "tp0", "clf", "detail", "model", NULL, 0, &reply) != 0)
        die("model", spectra_last_error(c));
    const struct msgpack_object *model;
    spectra_msg_find(reply, "value", &model);
    size_t chunks = quick ? 400 : RUN_SAMPLES / CHUNK;
    static const size_t counts[] = {1, 2, 4};
    for (size_t t = 0; t < sizeof counts / sizeof counts[0]; t++) {
        size_t S = counts[t];
        char names[4][32];
        for (size_t s = 0; s < S; s++) {
            snprintf(names[s], sizeof names[s], "tp%zu_%zu", t, s);
            if (spectra_create(c, names[s], SPECTRA_SERIES, C, RATE, NULL, 0) != 0 ||
                spectra_attach(c, names[s], "clf", "eegclass", params, 3, 0, 0) != 0)
                die("create/attach", spectra_last_error(c));
            spectra_msg *r2;
            if (request(c, "call", names[s], "clf", "method", "load_model", model->via.bin.ptr,
                        model->via.bin.size, &r2) != 0)
                die("load_model", spectra_last_error(c));
            spectra_msg_free(r2);
        }
        spectra_client *sub = client_for(d, 600000);
        char prefix[32];
        snprintf(prefix, sizeof prefix, "tp%zu_", t);
        spectra_subscribe(sub, prefix);
        usleep(200000);
        size_t expect_per = (chunks * CHUNK - 240) / CHUNK + 1, got = 0;
        double *dmn = malloc(S * expect_per * sizeof *dmn);
        double start = wall();
        for (size_t k = 0; k < chunks; k++) {
            for (size_t s = 0; s < S; s++)
                push_chunk(c, names[s], &ds->run[2], k, T_BASE + 270.0);
            for (;;) {   /* read what is there, so the subscriber never holds the daemon back */
                char tp[SPECTRA_TOPIC_MAX + 1];
                spectra_msg *body;
                if (spectra_recv_result(sub, 0, tp, sizeof tp, &body) != 0)
                    break;
                if (got < S * expect_per)
                    spectra_msg_double(body, "result.window.latency_ms", &dmn[got]);
                got++;
                spectra_msg_free(body);
            }
        }
        while (got < S * expect_per) {
            char tp[SPECTRA_TOPIC_MAX + 1];
            spectra_msg *body;
            int rc = spectra_recv_result(sub, 60000, tp, sizeof tp, &body);
            if (rc)
                die("windows missing", spectra_strerror(rc));
            spectra_msg_double(body, "result.window.latency_ms", &dmn[got]);
            got++;
            spectra_msg_free(body);
        }
        double secs = wall() - start;
        printf("%-8zu %9zu %11.2f %13.0f %9.1f %9.1f\n", S, got, secs, (double)got / secs,
               pct(dmn, got, 0.5), pct(dmn, got, 0.99));
        fflush(stdout);
        free(dmn);
        spectra_close(sub);
        for (size_t s = 0; s < S; s++)
            spectra_drop(c, names[s]);
    }
    printf("(dmn: receive of the chunk -> prediction, ms, queueing included; real time is 8 "
           "windows/s per stream)\n\n");
    spectra_msg_free(reply);
    spectra_close(c);
}

int main(int argc, char **argv)
{
    bench_set_name("bench_eegclass_daemon");
    const char *section = "all", *workers = "4";
    char bin[4096];
    snprintf(bin, sizeof bin, "%s/spectrad", SPX_BIN_DIR);
    bool quick = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--section") && i + 1 < argc)
            section = argv[++i];
        else if (!strcmp(argv[i], "--workers") && i + 1 < argc)
            workers = argv[++i];
        else if (!strcmp(argv[i], "--spectrad") && i + 1 < argc)
            snprintf(bin, sizeof bin, "%s", argv[++i]);
        else if (!strcmp(argv[i], "--quick"))
            quick = true;
        else {
            fprintf(stderr, "usage: bench_eegclass_daemon [--section latency|throughput|all] "
                            "[--quick] [--workers N] [--spectrad PATH]\n");
            return 2;
        }
    }
    dataset ds;
    memset(&ds, 0, sizeof ds);
#ifdef SPX_HAVE_BIOSIG
    ds.real = load_real(&ds);
#endif
    if (!ds.real) {
        fprintf(stderr, "bench_eegclass_daemon: EEGMMIDB S001 not readable here (libbiosig or "
                        "../shared/data missing): synthetic 64-channel runs\n");
        make_synthetic(&ds);
    }
    daemon_proc d;
    daemon_start(&d, bin, workers);
    printf("spectrad --workers %s; data: %s\n\n", workers,
           ds.real ? "EEGMMIDB S001 runs 6+10 (calibration), 14 (test)" : "synthetic");
    if (!strcmp(section, "latency") || !strcmp(section, "all"))
        section_latency(&d, &ds, quick);
    if (!strcmp(section, "throughput") || !strcmp(section, "all"))
        section_throughput(&d, &ds, quick);
    daemon_stop(&d);
    for (int i = 0; i < 3; i++)
        free(ds.run[i].x);
    return 0;
}
