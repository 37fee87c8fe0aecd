/* Load and backpressure through a real spectrad (issue 7, docs/reliability.md).
 *
 * Steady: N producer threads (one libspectra client each) push f64 rows to M `rows` streams
 * (stream i belongs to producer i mod N, so each stream has one producer and ordered seqs), each
 * stream with a cheap pipeline (topeig method=adaoja, k 1, d 8, a result per message) or none. It
 * runs in pairs of phases on the same daemon (--repeat pairs, the machine being noisy), each for a
 * bounded time: without and with a stalled
 * subscriber (a SUB subscribed to everything that never reads, small kernel and ZeroMQ buffers).
 * Ingest rate = the daemon's own accepted-rows counter (stats ingest.rows) over the phase. After
 * the stalled phase the stalled SUB is drained: results published in the phase (stats, per
 * pipeline) minus results it received = results it lost; seq gaps per pipeline are counted too.
 * The daemon's RSS is sampled from /proc/PID/status (VmRSS every 20 ms, VmHWM at the end).
 *
 * Burst: a second daemon with a small max_queued_bytes and ingest_hwm, a pipeline that applies far
 * slower than the loop accepts (topeig method=fd, d 128, k 16, 256-row messages), producers
 * pushing flat out. Reported: the rate producers got through, ingest pauses, peak queued_bytes
 * and peak RSS against the bound the configuration implies:
 *   RSS after setup + max_queued_bytes + one message (the one that crosses the threshold)
 *   + producers x (ingest_hwm + 2) x message bytes (ZeroMQ's receive pipe per producer, the
 *   message its I/O thread is decoding, one in flight) + 16 MiB (allocator, thread stacks).
 * Producers' own send HWM is set to ingest_hwm, so what they queue is close to what was taken.
 *
 * Usage: bench_load_daemon [--producers 8] [--streams 64] [--seconds 5] [--dim 8] [--rows 16]
 *          [--pipeline topeig|none] [--workers 2] [--repeat 3] [--burst-seconds 5]
 *          [--spectrad PATH]
 *          [--skip-steady] [--skip-burst] */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "daemon_proc.h"
#include "spectra.h"

#define MAX_PRODUCERS 64
#define MAX_STREAMS 4096

typedef struct opts {
    int producers, streams, dim, rows, workers, repeat;
    double seconds, burst_seconds;
    bool pipeline, steady, burst;
    char bin[512];
} opts;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void sleep_s(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* ---- the daemon's memory ------------------------------------------------------------------- */

/* A /proc/PID/status field in KiB, or 0. */
static uint64_t proc_status_kib(pid_t pid, const char *field)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    uint64_t kib = 0;
    size_t n = strlen(field);
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, field, n) && line[n] == ':')
            kib = strtoull(line + n + 1, NULL, 10);
    if (f)
        fclose(f);
    return kib;
}

typedef struct rss_sampler {
    pthread_t thread;
    pid_t pid;
    atomic_bool stop;
    atomic_uint_fast64_t peak_kib;
} rss_sampler;

static void *rss_sample_loop(void *arg)
{
    rss_sampler *s = arg;
    while (!atomic_load(&s->stop)) {
        uint64_t kib = proc_status_kib(s->pid, "VmRSS");
        if (kib > atomic_load(&s->peak_kib))
            atomic_store(&s->peak_kib, kib);
        sleep_s(0.02);
    }
    return NULL;
}

static void rss_start(rss_sampler *s, pid_t pid)
{
    s->pid = pid;
    atomic_store(&s->stop, false);
    atomic_store(&s->peak_kib, 0);
    pthread_create(&s->thread, NULL, rss_sample_loop, s);
}

static uint64_t rss_stop(rss_sampler *s)
{
    atomic_store(&s->stop, true);
    pthread_join(s->thread, NULL);
    return atomic_load(&s->peak_kib);
}

/* ---- producers ------------------------------------------------------------------------------ */

typedef struct producer {
    pthread_t thread;
    const daemon_proc *d;
    const opts *o;
    int index;
    int dim, rows;
    int send_hwm;              /* 0: ZeroMQ's default */
    const double *pool;        /* rows x dim values */
    atomic_bool *stop;
    uint64_t pushed;           /* messages queued by this producer */
} producer;

static void *producer_loop(void *arg)
{
    producer *p = arg;
    spectra_options so;
    spectra_options_init(&so);
    so.control = p->d->control;
    so.ingest = p->d->ingest;
    so.publish = p->d->publish;
    so.send_timeout_ms = 100;   /* blocked by backpressure: look at the stop flag now and then */
    so.linger_ms = 0;           /* what is still queued at the end was never accepted: drop it */
    so.send_hwm = p->send_hwm;
    spectra_client *c = spectra_connect(&so);
    if (!c)
        bench_die("spectra_connect", "out of memory");
    char name[32];
    for (int i = p->index; !atomic_load(p->stop); i += p->o->producers) {
        if (i >= p->o->streams)
            i = p->index;
        snprintf(name, sizeof name, "load-%d", i);
        int rc = spectra_push_rows(c, name, SPECTRA_F64, p->pool, (size_t)p->rows, (size_t)p->dim);
        if (rc == 0)
            p->pushed++;
        else if (rc != SPECTRA_ETIMEDOUT)
            bench_die("push", spectra_last_error(c));
    }
    spectra_close(c);
    return NULL;
}

static void producers_run(producer *ps, const daemon_proc *d, const opts *o, int dim, int rows,
                          int send_hwm, const double *pool, atomic_bool *stop)
{
    atomic_store(stop, false);
    for (int i = 0; i < o->producers; i++) {
        ps[i] = (producer){.d = d, .o = o, .index = i, .dim = dim, .rows = rows,
                           .send_hwm = send_hwm, .pool = pool, .stop = stop};
        pthread_create(&ps[i].thread, NULL, producer_loop, &ps[i]);
    }
}

static uint64_t producers_stop(producer *ps, const opts *o, atomic_bool *stop)
{
    atomic_store(stop, true);
    uint64_t pushed = 0;
    for (int i = 0; i < o->producers; i++) {
        pthread_join(ps[i].thread, NULL);
        pushed += ps[i].pushed;
    }
    return pushed;
}

/* ---- stats ---------------------------------------------------------------------------------- */

static spectra_msg *stats_of(spectra_client *c)
{
    spectra_msg *m = NULL;
    if (spectra_stats(c, &m) != 0)
        bench_die("stats", spectra_last_error(c));
    return m;
}

static uint64_t stat_uint(const spectra_msg *m, const char *path)
{
    uint64_t v = 0;
    if (spectra_msg_uint(m, path, &v) != 0)
        bench_die("stats: no number at", path);
    return v;
}

/* Results published so far, summed over the load pipelines, and per pipeline into out. */
static uint64_t published(spectra_client *c, const opts *o, uint64_t *out)
{
    spectra_msg *m = stats_of(c);
    uint64_t sum = 0;
    char path[128];
    for (int i = 0; i < o->streams; i++) {
        snprintf(path, sizeof path, "streams.load-%d.pipelines.top.published", i);
        out[i] = stat_uint(m, path);
        sum += out[i];
    }
    spectra_msg_free(m);
    return sum;
}

/* Waits until every accepted message has been applied (nothing queued, no job running). */
static void wait_drained(spectra_client *c)
{
    for (int i = 0; i < 6000; i++) {
        spectra_msg *m = stats_of(c);
        uint64_t q = stat_uint(m, "queued_bytes"), jobs = stat_uint(m, "jobs_in_flight");
        spectra_msg_free(m);
        if (q == 0 && jobs == 0)
            return;
        sleep_s(0.01);
    }
    bench_die("drain", "the daemon did not apply its backlog within 60 s");
}

/* ---- setup ---------------------------------------------------------------------------------- */

static void setup_streams(spectra_client *c, const opts *o, int dim, bool pipeline,
                          const char *const *params, size_t n_params)
{
    char name[32];
    for (int i = 0; i < o->streams; i++) {
        snprintf(name, sizeof name, "load-%d", i);
        if (spectra_create(c, name, SPECTRA_ROWS, (uint32_t)dim, 0, NULL, 0) != 0)
            bench_die("create", spectra_last_error(c));
        /* every 1: one result per message, so a stalled subscriber has plenty to lose */
        if (pipeline && spectra_attach(c, name, "top", "topeig", params, n_params, 1, 0) != 0)
            bench_die("attach", spectra_last_error(c));
    }
}

static double *random_pool(int rows, int dim)
{
    double *pool = malloc(sizeof *pool * (size_t)rows * (size_t)dim);
    if (!pool)
        bench_die("malloc", "out of memory");
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (size_t i = 0; i < (size_t)rows * (size_t)dim; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        pool[i] = (double)(x >> 11) / 9007199254740992.0 - 0.5;
    }
    return pool;
}

static const char *write_config(const char *body)
{
    static char path[64];
    snprintf(path, sizeof path, "/tmp/bench_load_daemon-%d.conf", (int)getpid());
    FILE *f = fopen(path, "w");
    if (!f || fputs(body, f) < 0 || fclose(f) != 0)
        bench_die("config", path);
    return path;
}

/* ---- steady load, without and with a stalled subscriber ----------------------------------- */

typedef struct phase_result {
    double rows_per_s, msgs_per_s;
    uint64_t peak_rss_kib;
    uint64_t published, received, lost, gapped_pipelines;
} phase_result;

/* Runs producers for o->seconds; the rate is taken from the daemon's counters after a 0.5 s
 * warm-up, so connection setup is not in it. */
static void run_phase(const daemon_proc *d, spectra_client *c, const opts *o, const double *pool,
                      phase_result *r)
{
    producer ps[MAX_PRODUCERS];
    atomic_bool stop;
    rss_sampler rs;
    rss_start(&rs, d->pid);
    producers_run(ps, d, o, o->dim, o->rows, 0, pool, &stop);
    sleep_s(0.5);
    spectra_msg *m = stats_of(c);
    uint64_t rows0 = stat_uint(m, "ingest.rows"), msgs0 = stat_uint(m, "ingest.messages");
    spectra_msg_free(m);
    double t0 = now_s();
    sleep_s(o->seconds);
    m = stats_of(c);
    double t1 = now_s();
    uint64_t rows1 = stat_uint(m, "ingest.rows"), msgs1 = stat_uint(m, "ingest.messages");
    spectra_msg_free(m);
    producers_stop(ps, o, &stop);
    wait_drained(c);
    r->peak_rss_kib = rss_stop(&rs);
    r->rows_per_s = (double)(rows1 - rows0) / (t1 - t0);
    r->msgs_per_s = (double)(msgs1 - msgs0) / (t1 - t0);
}

static void *stalled_subscriber(void *zctx, const daemon_proc *d)
{
    void *sub = zmq_socket(zctx, ZMQ_SUB);
    int small = 1, rcvbuf = 4096;
    zmq_setsockopt(sub, ZMQ_RCVHWM, &small, sizeof small);
    zmq_setsockopt(sub, ZMQ_RCVBUF, &rcvbuf, sizeof rcvbuf);
    zmq_setsockopt(sub, ZMQ_SUBSCRIBE, "", 0);
    if (zmq_connect(sub, d->publish) != 0)
        bench_die("stalled subscriber connect", zmq_strerror(zmq_errno()));
    return sub;
}

/* Reads what the stalled subscriber holds; counts results per pipeline and seq gaps. */
static void drain_stalled(void *sub, const opts *o, const uint64_t *before, const uint64_t *after,
                          phase_result *r)
{
    uint64_t *got = calloc((size_t)o->streams, sizeof *got);
    uint64_t *last = calloc((size_t)o->streams, sizeof *last);
    bool *gap = calloc((size_t)o->streams, sizeof *gap);
    int timeout = 1000;
    zmq_setsockopt(sub, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    for (;;) {
        zmq_msg_t topic, body;
        zmq_msg_init(&topic);
        zmq_msg_init(&body);
        if (zmq_msg_recv(&topic, sub, 0) < 0 || zmq_msg_recv(&body, sub, 0) < 0) {
            zmq_msg_close(&topic);
            zmq_msg_close(&body);
            break;
        }
        char t[SPECTRA_TOPIC_MAX + 1] = "";
        memcpy(t, zmq_msg_data(&topic), zmq_msg_size(&topic) < sizeof t - 1 ? zmq_msg_size(&topic)
                                                                           : sizeof t - 1);
        int i;
        spectra_msg *m = NULL;
        uint64_t seq;
        if (sscanf(t, "load-%d.top", &i) == 1 && i >= 0 && i < o->streams &&
            spectra_msg_parse(zmq_msg_data(&body), zmq_msg_size(&body), &m) == 0 &&
            spectra_msg_uint(m, "seq", &seq) == 0 && seq > before[i]) {
            got[i]++;
            if (seq != (last[i] ? last[i] + 1 : before[i] + 1))
                gap[i] = true;
            last[i] = seq;
        }
        spectra_msg_free(m);
        zmq_msg_close(&topic);
        zmq_msg_close(&body);
    }
    r->published = r->received = r->gapped_pipelines = 0;
    for (int i = 0; i < o->streams; i++) {
        if (last[i] != after[i])
            gap[i] = true;   /* the tail was lost */
        r->published += after[i] - before[i];
        r->received += got[i];
        r->gapped_pipelines += gap[i];
    }
    r->lost = r->published - r->received;
    free(got);
    free(last);
    free(gap);
}

static void steady(const opts *o)
{
    char conf[256];
    snprintf(conf, sizeof conf, "[spectrad]\nmax_queued_bytes = 256M\n");
    daemon_proc d;
    char workers[16];
    snprintf(workers, sizeof workers, "%d", o->workers);
    daemon_start_config(&d, o->bin, workers, write_config(conf));
    spectra_client *c = client_for(&d, 30000);
    const char *params[] = {"method=adaoja", "k=1", "seed=1"};
    setup_streams(c, o, o->dim, o->pipeline, params, 3);
    double *pool = random_pool(o->rows, o->dim);
    uint64_t *before = calloc((size_t)o->streams, sizeof *before);
    uint64_t *after = calloc((size_t)o->streams, sizeof *after);

    printf("steady: %d producers x %d streams, rows of d=%d, %d rows/message, %s, workers %d, "
           "%.0f s per phase, %d pairs\n", o->producers, o->streams, o->dim, o->rows,
           o->pipeline ? "topeig adaoja k=1 every=1" : "no pipeline", o->workers, o->seconds,
           o->repeat);
    double ratios[64];
    for (int pair = 0; pair < o->repeat; pair++) {
        phase_result free_run = {0}, stalled = {0};
        run_phase(&d, c, o, pool, &free_run);

        void *zctx = zmq_ctx_new();
        void *sub = stalled_subscriber(zctx, &d);
        sleep_s(0.3);   /* let the subscription reach the daemon */
        if (o->pipeline)
            published(c, o, before);
        run_phase(&d, c, o, pool, &stalled);
        if (o->pipeline) {
            published(c, o, after);
            drain_stalled(sub, o, before, after, &stalled);
        }
        zmq_close(sub);
        zmq_ctx_term(zctx);
        ratios[pair] = stalled.rows_per_s / free_run.rows_per_s;
        printf("  pair %d: no subscriber %9.0f rows/s (%7.0f msg/s, peak RSS %5.1f MiB); "
               "stalled %9.0f rows/s (%7.0f msg/s, peak RSS %5.1f MiB); ratio %.3f\n", pair + 1,
               free_run.rows_per_s, free_run.msgs_per_s, free_run.peak_rss_kib / 1024.0,
               stalled.rows_per_s, stalled.msgs_per_s, stalled.peak_rss_kib / 1024.0,
               ratios[pair]);
        if (o->pipeline)
            printf("          stalled subscriber: %llu results published in its phase, %llu "
                   "received, %llu lost; %llu of %d pipelines show seq gaps\n",
                   (unsigned long long)stalled.published, (unsigned long long)stalled.received,
                   (unsigned long long)stalled.lost,
                   (unsigned long long)stalled.gapped_pipelines, o->streams);
    }
    for (int i = 1; i < o->repeat; i++)   /* insertion sort for the median */
        for (int j = i; j > 0 && ratios[j] < ratios[j - 1]; j--) {
            double t = ratios[j];
            ratios[j] = ratios[j - 1];
            ratios[j - 1] = t;
        }
    printf("  median ratio stalled/free: %.3f (min %.3f, max %.3f)\n", ratios[o->repeat / 2],
           ratios[0], ratios[o->repeat - 1]);
    printf("  daemon VmHWM: %.1f MiB\n", proc_status_kib(d.pid, "VmHWM") / 1024.0);
    spectra_close(c);
    daemon_stop(&d);
    free(before);
    free(after);
    free(pool);
}

/* ---- burst: producers faster than the pipelines ------------------------------------------- */

static void burst(const opts *o)
{
    const size_t max_queued = 16u << 20;
    const int ingest_hwm = 4, dim = 128, rows = 256;
    const size_t msg_bytes = (size_t)dim * rows * sizeof(double);
    char conf[256];
    snprintf(conf, sizeof conf, "[spectrad]\nmax_queued_bytes = %zu\ningest_hwm = %d\n",
             max_queued, ingest_hwm);
    daemon_proc d;
    daemon_start_config(&d, o->bin, "1", write_config(conf));
    spectra_client *c = client_for(&d, 60000);
    opts bo = *o;
    bo.streams = o->producers;   /* one stream per producer: every producer feeds a slow pipeline */
    const char *params[] = {"method=fd", "k=16", "seed=1"};
    setup_streams(c, &bo, dim, true, params, 3);
    double *pool = random_pool(rows, dim);
    sleep_s(0.2);
    uint64_t base_kib = proc_status_kib(d.pid, "VmRSS");

    producer ps[MAX_PRODUCERS];
    atomic_bool stop;
    rss_sampler rs;
    rss_start(&rs, d.pid);
    double t0 = now_s();
    producers_run(ps, &d, &bo, dim, rows, ingest_hwm, pool, &stop);
    uint64_t peak_queued = 0;
    while (now_s() - t0 < o->burst_seconds) {
        spectra_msg *m = stats_of(c);
        uint64_t q = stat_uint(m, "queued_bytes");
        if (q > peak_queued)
            peak_queued = q;
        spectra_msg_free(m);
        sleep_s(0.05);
    }
    uint64_t pushed = producers_stop(ps, &bo, &stop);
    double t1 = now_s();
    wait_drained(c);
    uint64_t peak_kib = rss_stop(&rs);
    spectra_msg *m = stats_of(c);
    uint64_t accepted = stat_uint(m, "ingest.messages"), pauses = stat_uint(m, "ingest.pauses");
    uint64_t rejected = stat_uint(m, "ingest.rejected");
    spectra_msg_free(m);

    double bound_mib = base_kib / 1024.0 + 16.0 +
                       (double)(max_queued + msg_bytes +
                                (size_t)o->producers * (size_t)(ingest_hwm + 2) * msg_bytes) /
                           1048576.0;
    printf("burst: %d producers, one stream each, %d x %d f64 rows per message (%.0f KiB), "
           "topeig fd k=16, 1 worker, %.0f s\n", o->producers, rows, dim, msg_bytes / 1024.0,
           o->burst_seconds);
    printf("  config             : max_queued_bytes %zu MiB, ingest_hwm %d\n", max_queued >> 20,
           ingest_hwm);
    printf("  producers queued   : %llu messages (%.0f msg/s, %.1f MiB/s)\n",
           (unsigned long long)pushed, pushed / (t1 - t0),
           pushed * (double)msg_bytes / 1048576.0 / (t1 - t0));
    printf("  daemon accepted    : %llu messages, rejected %llu, ingest pauses %llu\n",
           (unsigned long long)accepted, (unsigned long long)rejected, (unsigned long long)pauses);
    printf("  peak queued_bytes  : %.1f MiB (max_queued_bytes %.1f MiB)\n",
           peak_queued / 1048576.0, max_queued / 1048576.0);
    printf("  RSS                : %.1f MiB after setup, peak %.1f MiB, bound %.1f MiB "
           "(setup + max_queued_bytes + 1 message + producers x (ingest_hwm + 2) x message "
           "+ 16 MiB)\n",
           base_kib / 1024.0, peak_kib / 1024.0, bound_mib);
    printf("  pushed without backpressure would have been %.0f MiB in the daemon\n",
           accepted * (double)msg_bytes / 1048576.0);
    spectra_close(c);
    daemon_stop(&d);
    free(pool);
}

int main(int argc, char **argv)
{
    bench_set_name("bench_load_daemon");
    opts o = {.producers = 8, .streams = 64, .dim = 8, .rows = 16, .workers = 2, .seconds = 5,
              .burst_seconds = 5, .repeat = 3, .pipeline = true, .steady = true, .burst = true};
    snprintf(o.bin, sizeof o.bin, "%s/spectrad", SPX_BIN_DIR);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--skip-steady"))
            o.steady = false;
        else if (!strcmp(a, "--skip-burst"))
            o.burst = false;
        else if (!v)
            bench_die(a, "needs a value (see the usage at the top of the source)");
        else if (!strcmp(a, "--producers") && ++i)
            o.producers = atoi(v);
        else if (!strcmp(a, "--streams") && ++i)
            o.streams = atoi(v);
        else if (!strcmp(a, "--seconds") && ++i)
            o.seconds = atof(v);
        else if (!strcmp(a, "--burst-seconds") && ++i)
            o.burst_seconds = atof(v);
        else if (!strcmp(a, "--dim") && ++i)
            o.dim = atoi(v);
        else if (!strcmp(a, "--rows") && ++i)
            o.rows = atoi(v);
        else if (!strcmp(a, "--repeat") && ++i)
            o.repeat = atoi(v);
        else if (!strcmp(a, "--workers") && ++i)
            o.workers = atoi(v);
        else if (!strcmp(a, "--pipeline") && ++i)
            o.pipeline = strcmp(v, "none") != 0;
        else if (!strcmp(a, "--spectrad") && ++i)
            snprintf(o.bin, sizeof o.bin, "%s", v);
        else
            bench_die(a, "unknown option");
    }
    if (o.producers < 1 || o.producers > MAX_PRODUCERS || o.streams < o.producers ||
        o.streams > MAX_STREAMS || o.dim < 1 || o.rows < 1 || o.workers < 1 || o.repeat < 1 ||
        o.repeat > 64)
        bench_die("options", "producers 1..64, streams producers..4096, dim, rows, workers >= 1");
    if (o.steady)
        steady(&o);
    if (o.burst)
        burst(&o);
    return 0;
}
