/* spectrad workers on NATS JetStream: aggregate rows/s with 1, 2 and 3 workers, and the JetStream
 * ingest rate alone for the same bytes, in one run (docs/scaling.md).
 *
 * One nats-server with JetStream (temporary dir, loopback). Per phase: 12 rows streams of spambase
 * (4601 x 57 f64, repeated REPEAT times, batches of 256 rows), each with topeig (adaoja). A phase
 * with N workers starts them, waits until the 12 partitions are spread, then publishes everything
 * (asynchronous JetStream publishes, as `spectra push --nats` does) and times from the first
 * publish until every stream's pipeline has applied every row (read from the workers' stats).
 * "JetStream alone" publishes the same bytes with no worker running and times until every message
 * is acknowledged (stored).
 *
 * Usage: bench_nats [REPEAT]   (default 4: 18404 rows per stream, 220848 rows per phase) */
#include <fcntl.h>
#include <nats/nats.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "daemon_proc.h"
#include "free_ports.h"
#include "spectra.h"
#include "testdata.h"

#define STREAMS 12
#define PARTITIONS 12
#define BATCH 256
#define DIM 57

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void nap(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

static int free_port_or_die(void)
{
    int port;
    if (spx_free_ports(&port, 1) != 0)
        bench_die("free port", "socket");
    return port;
}

static pid_t spawn(const char *const *argv, const char *log)
{
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    return pid;
}

static unsigned partition_of(const char *s)
{
    uint32_t h = 2166136261u;
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        h ^= *c;
        h *= 16777619u;
    }
    return h % PARTITIONS;
}

typedef struct bench {
    char dir[64], url[64];
    pid_t server;
    natsConnection *nc;
    jsCtx *js;
    double *rows;         /* spambase features, n x DIM */
    size_t n, repeat;
} bench;

/* Publishes every stream of `tag`; returns the seconds until all were acknowledged. */
static double publish_all(bench *b, const char *tag, size_t *bytes_out)
{
    size_t per_stream = b->n * b->repeat, bytes = 0;
    unsigned char *buf = malloc(4 + 1024 + BATCH * DIM * sizeof(double));
    double t0 = now_s();
    for (int s = 0; s < STREAMS; s++) {
        char name[32], subj[64];
        snprintf(name, sizeof name, "%s_s%d", tag, s);
        snprintf(subj, sizeof subj, "spectra.in.%u.%s", partition_of(name), name);
        uint64_t seq = 1;
        for (size_t r0 = 0; r0 < per_stream; r0 += BATCH, seq++) {
            size_t k = per_stream - r0 < BATCH ? per_stream - r0 : BATCH;
            spectra_ingest m = {0};
            m.stream = name;
            m.kind = SPECTRA_ROWS;
            m.dtype = SPECTRA_F64;
            m.shape[0] = k;
            m.shape[1] = DIM;
            m.data = b->rows;   /* only checked for presence: the rows are copied below */
            size_t hl = 0;
            if (spectra_encode_header(&m, seq, buf + 4, 1024, &hl))
                bench_die("header", "encode");
            buf[0] = (unsigned char)hl;
            buf[1] = (unsigned char)(hl >> 8);
            buf[2] = buf[3] = 0;
            double *dst = (double *)(void *)(buf + 4 + hl);
            for (size_t i = 0; i < k; i++)
                memcpy(dst + i * DIM, b->rows + ((r0 + i) % b->n) * DIM, DIM * sizeof(double));
            size_t len = 4 + hl + k * DIM * sizeof(double);
            natsMsg *msg = NULL;
            char id[64];
            snprintf(id, sizeof id, "%s:%llu", name, (unsigned long long)seq);
            natsMsg_Create(&msg, subj, NULL, (const char *)buf, (int)len);
            natsMsgHeader_Set(msg, "Nats-Msg-Id", id);
            if (js_PublishMsgAsync(b->js, &msg, NULL) != NATS_OK)
                bench_die("publish", nats_GetLastError(NULL));
            natsMsg_Destroy(msg);
            bytes += len;
        }
    }
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = 120000;
    if (js_PublishAsyncComplete(b->js, &po) != NATS_OK)
        bench_die("publish", "not every message was acknowledged");
    free(buf);
    *bytes_out = bytes;
    return now_s() - t0;
}

static void write_config(const char *path, const bench *b, const char *tag, int w)
{
    FILE *f = fopen(path, "w");
    if (!f)
        bench_die(path, "cannot write");
    fprintf(f, "[spectrad]\ntransport = nats\nnats_url = %s\npartitions = %d\nlease_ttl_ms = 3000\n"
               "worker_id = %s_w%d\ndurability = none\nnats_snapshot_interval_ms = 2000\n"
               "log_level = warn\n\n", b->url, PARTITIONS, tag, w);
    for (int s = 0; s < STREAMS; s++)
        fprintf(f, "[stream %s_s%d]\nkind = rows\ndim = %d\n\n[pipeline %s_s%d.top]\nalgo = topeig\n"
                   "method = adaoja\nevery = 0\n\n", tag, s, DIM, tag, s);
    fclose(f);
}

static int owned_partitions(bench *b)
{
    kvStore *kv = NULL;
    if (js_KeyValue(&kv, b->js, "spectra_leases") != NATS_OK)
        return 0;
    int held = 0;
    for (int p = 0; p < PARTITIONS; p++) {
        char key[32];
        snprintf(key, sizeof key, "partition.%d", p);
        kvEntry *e = NULL;
        if (kvStore_Get(&e, kv, key) == NATS_OK) {
            held++;
            kvEntry_Destroy(e);
        }
    }
    kvStore_Destroy(kv);
    return held;
}

/* Rows applied by the pipelines of `tag`'s streams, summed over the workers' stats. */
static uint64_t applied(spectra_client **cl, int n_workers, const char *tag)
{
    uint64_t total = 0;
    for (int w = 0; w < n_workers; w++) {
        spectra_msg *st = NULL;
        if (spectra_stats(cl[w], &st))
            continue;
        for (int s = 0; s < STREAMS; s++) {
            char path[96];
            uint64_t v = 0;
            snprintf(path, sizeof path, "streams.%s_s%d.pipelines.top.count", tag, s);
            if (spectra_msg_uint(st, path, &v) == 0)
                total += v;
        }
        spectra_msg_free(st);
    }
    return total;
}

static double run_workers(bench *b, int n_workers, double *owned_wait)
{
    char tag[16];
    snprintf(tag, sizeof tag, "w%d", n_workers);
    pid_t pids[3];
    spectra_client *cl[3];
    int ctl_port[3];
    if (spx_free_ports(ctl_port, (size_t)n_workers) != 0)
        bench_die("free ports", "socket");
    for (int w = 0; w < n_workers; w++) {
        char conf[128], log[128], ctl[64];
        snprintf(conf, sizeof conf, "%s/%s_%d.conf", b->dir, tag, w);
        snprintf(log, sizeof log, "%s/%s_%d.log", b->dir, tag, w);
        snprintf(ctl, sizeof ctl, "tcp://127.0.0.1:%d", ctl_port[w]);
        write_config(conf, b, tag, w);
        static char bin[4096];
        snprintf(bin, sizeof bin, "%s/spectrad", SPX_BIN_DIR);
        const char *argv[] = {bin, "--config", conf, "--control", ctl, NULL};
        pids[w] = spawn(argv, log);
        spectra_options o;
        spectra_options_init(&o);
        o.control = strdup(ctl);
        o.timeout_ms = 5000;
        cl[w] = spectra_connect(&o);
    }
    /* Spread: every partition owned, and each worker's share settled (ceil(P/N)). */
    double t = now_s();
    while (owned_partitions(b) < PARTITIONS && now_s() - t < 60)
        nap(0.05);
    nap(3.0 * n_workers);   /* releases to late joiners finish (rounds every TTL/3) */
    *owned_wait = now_s() - t;
    uint64_t want = (uint64_t)STREAMS * b->n * b->repeat;
    size_t bytes;
    double t0 = now_s();
    publish_all(b, tag, &bytes);
    while (applied(cl, n_workers, tag) < want && now_s() - t0 < 600)
        nap(0.02);
    double secs = now_s() - t0;
    for (int w = 0; w < n_workers; w++) {
        kill(pids[w], SIGTERM);
        waitpid(pids[w], NULL, 0);
        spectra_close(cl[w]);
    }
    return (double)want / secs;
}

int main(int argc, char **argv)
{
    bench_set_name("bench_nats");
    bench b = {0};
    b.repeat = argc > 1 ? (size_t)atoi(argv[1]) : 4;
    char path[4096];
    if (!spx_test_data_path(path, sizeof path, "matrices/spambase.data"))
        bench_die("spambase", "no ../shared/data/matrices/spambase.data");
    double *all = NULL;
    if (spx_test_load_text_matrix(path, 0, DIM, &all, &b.n))
        bench_die("spambase", "unreadable");
    b.rows = all;
    const char *server = access("/usr/bin/nats-server", X_OK) == 0 ? "/usr/bin/nats-server" : "/usr/sbin/nats-server";
    if (access(server, X_OK))
        bench_die("nats-server", "not installed (apt-get install nats-server)");
    snprintf(b.dir, sizeof b.dir, "/tmp/bench-nats-XXXXXX");
    if (!mkdtemp(b.dir))
        bench_die("temp dir", "mkdtemp");
    int port = free_port_or_die();
    snprintf(b.url, sizeof b.url, "nats://127.0.0.1:%d", port);
    char conf[128], log[128], text[512];
    snprintf(conf, sizeof conf, "%s/nats.conf", b.dir);
    snprintf(log, sizeof log, "%s/nats.log", b.dir);
    snprintf(text, sizeof text, "listen: 127.0.0.1:%d\nmax_payload: 8MB\n"
             "jetstream { store_dir: \"%s/js\", max_file_store: 8GB }\n", port, b.dir);
    FILE *f = fopen(conf, "w");
    fputs(text, f);
    fclose(f);
    const char *sargv[] = {server, "-c", conf, NULL};
    b.server = spawn(sargv, log);
    natsStatus s = NATS_ERR;
    for (int i = 0; i < 100 && s != NATS_OK; i++) {
        nap(0.1);
        s = natsConnection_ConnectTo(&b.nc, b.url);
    }
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.PublishAsync.MaxPending = 4096;
    if (s != NATS_OK || natsConnection_JetStream(&b.js, b.nc, &jo) != NATS_OK)
        bench_die("nats", "cannot connect");
    /* The stream the workers use (they would create it too). */
    jsStreamConfig sc;
    jsStreamConfig_Init(&sc);
    const char *subjects[] = {"spectra.in.>"};
    sc.Name = "SPECTRA_IN";
    sc.Subjects = subjects;
    sc.SubjectsLen = 1;
    sc.Storage = js_FileStorage;
    if (js_AddStream(NULL, b.js, &sc, NULL, NULL) != NATS_OK)
        bench_die("nats", "cannot create the stream");

    size_t rows = (size_t)STREAMS * b.n * b.repeat, bytes = 0;
    printf("bench_nats: %d streams x %zu rows x %d f64 (spambase x %zu), batches of %d rows, "
           "topeig adaoja per stream, %d partitions, one nats-server (JetStream, file storage)\n",
           STREAMS, b.n * b.repeat, DIM, b.repeat, BATCH, PARTITIONS);
    double js_secs = publish_all(&b, "alone", &bytes);
    printf("  JetStream ingest alone   : %9.0f rows/s  (%.1f MB/s, %zu rows, %.2f s)\n",
           (double)rows / js_secs, (double)bytes / js_secs / 1e6, rows, js_secs);
    double base = 0;
    for (int n = 1; n <= 3; n++) {
        double settle;
        double rps = run_workers(&b, n, &settle);
        if (n == 1)
            base = rps;
        printf("  %d worker%s               : %9.0f rows/s aggregate, %7.0f per worker (x%.2f of 1)\n",
               n, n > 1 ? "s" : " ", rps, rps / n, rps / base);
    }
    jsCtx_Destroy(b.js);
    natsConnection_Destroy(b.nc);
    kill(b.server, SIGTERM);
    waitpid(b.server, NULL, 0);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", b.dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench_nats: could not remove %s\n", b.dir);
    free(all);
    return 0;
}
