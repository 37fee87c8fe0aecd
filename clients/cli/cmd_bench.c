/* spectra bench: end-to-end ingest throughput of a running daemon (push -> topeig -> get), next to
 * the raw ZeroMQ PUSH -> PULL rate for the same message sizes, so the daemon's cost shows as a
 * ratio rather than as an absolute number that depends on the machine. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "cli.h"

#define MAX_DIMS 16
#define POOL_BATCHES 4

enum { OPT_DIM = 1, OPT_ROWS, OPT_BATCH, OPT_DTYPE, OPT_DURABILITY };

typedef struct bench_opts {
    uint64_t dims[MAX_DIMS];
    size_t n_dims;
    uint64_t rows, batch;
    spectra_dtype dtype;
    spectra_durability durability;
} bench_opts;

static const char usage[] =
    "usage: spectra bench [--dim D ...] [--rows N] [--batch B] [--dtype f32|f64]\n"
    "                     [--durability none|snapshot|journal]\n"
    "\n"
    "Against a running daemon, for each dimension D (default 100 and 1000): creates a scratch\n"
    "stream, attaches topeig (every=0, interval_ms=0), pushes N random rows (default 100000)\n"
    "in messages of B rows (default 1024), then polls 'get' until the pipeline has applied all\n"
    "N rows, and reports rows/s and MB/s from the first push to that moment. The same bytes in\n"
    "the same message sizes are then sent over a raw ZeroMQ PUSH -> PULL pair on loopback TCP\n"
    "(a receiver thread), and daemon/raw is the ratio of the two rates. Scratch streams are\n"
    "dropped at the end. --dim can be repeated or given as a list (--dim 10,100,1000).\n"
    "--durability creates the scratch streams with that durability (default: the daemon's),\n"
    "to measure what a journal costs (the daemon needs a state dir; see its journal_sync).\n";

static int on_option(cli_ctx *ctx, void *st, int id, const char *v)
{
    bench_opts *o = st;
    switch (id) {
    case OPT_DIM: {
        char buf[256];
        snprintf(buf, sizeof buf, "%s", v);
        char *save = NULL;
        for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            if (o->n_dims == MAX_DIMS)
                return cli_usage_error(ctx, "at most %d dimensions", MAX_DIMS);
            if (cli_parse_u64(ctx, "--dim", tok, 1, 1u << 20, &o->dims[o->n_dims]))
                return CLI_USAGE;
            o->n_dims++;
        }
        return 0;
    }
    case OPT_ROWS: return cli_parse_u64(ctx, "--rows", v, 1, UINT32_MAX, &o->rows);
    case OPT_BATCH: return cli_parse_u64(ctx, "--batch", v, 1, 1u << 20, &o->batch);
    case OPT_DTYPE:
        if (spectra_dtype_parse(v, &o->dtype) || o->dtype == SPECTRA_I16)
            return cli_usage_error(ctx, "--dtype: '%s' is not f32 or f64", v);
        return 0;
    case OPT_DURABILITY:
        if (spectra_durability_parse(v, &o->durability))
            return cli_usage_error(ctx, "--durability: '%s' is not none, snapshot or journal", v);
        return 0;
    }
    return CLI_USAGE;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* POOL_BATCHES batches of uniform(-1, 1) rows (xorshift64*), cycled through while sending: the
 * generator stays out of the timed loop. */
static void *make_pool(size_t rows, size_t dim, spectra_dtype dtype)
{
    size_t n = rows * dim;
    void *pool = malloc(n * spectra_dtype_size(dtype));
    if (!pool)
        return NULL;
    uint64_t s = 0x9e3779b97f4a7c15ull ^ (uint64_t)dim;
    for (size_t i = 0; i < n; i++) {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        double u = (double)((s * 0x2545f4914f6cdd1dull) >> 11) * (1.0 / 9007199254740992.0);
        if (dtype == SPECTRA_F32)
            ((float *)pool)[i] = (float)(2 * u - 1);
        else
            ((double *)pool)[i] = 2 * u - 1;
    }
    return pool;
}

typedef struct bench_result {
    double daemon_s, raw_s;
} bench_result;

/* ---- the daemon path ------------------------------------------------------------------------ */

static int wait_count(const cli_ctx *ctx, spectra_client *c, const char *stream, uint64_t want)
{
    uint64_t last = UINT64_MAX;
    double idle_since = cli_now();
    int had_result = 0;
    for (;;) {
        spectra_msg *reply;
        int rc = spectra_get(c, stream, "top", &reply);
        if (rc)
            return cli_client_error(ctx, c, rc);
        uint64_t count = 0;
        if (spectra_msg_uint(reply, "result.count", &count) == 0)
            had_result = 1;
        spectra_msg_free(reply);
        if (count >= want)
            return CLI_OK;
        if (count != last) {
            last = count;
            idle_since = cli_now();
        } else if (cli_now() - idle_since > 30.0) {
            if (had_result)
                cli_error(ctx, "%s: the pipeline applied %llu of %llu rows, then nothing for 30 s",
                          stream, (unsigned long long)count, (unsigned long long)want);
            else
                cli_error(ctx, "%s: 'get' returned no result for 30 s after %llu rows were pushed",
                          stream, (unsigned long long)want);
            return CLI_FAIL;
        }
        sleep_ms(2);
    }
}

static int bench_daemon(const cli_ctx *ctx, spectra_client *c, const char *stream, size_t dim,
                        const bench_opts *o, const void *pool, double *secs)
{
    spectra_drop(c, stream); /* a leftover of an interrupted run */
    spectra_create_options copts;
    spectra_create_options_init(&copts);
    copts.durability = o->durability;
    int rc = spectra_create_with(c, stream, SPECTRA_ROWS, (uint32_t)dim, &copts);
    if (!rc)
        rc = spectra_attach(c, stream, "top", "topeig", NULL, 0, 0, 0);
    if (rc)
        return cli_client_error(ctx, c, rc);
    size_t elsize = spectra_dtype_size(o->dtype);
    double t0 = cli_now();
    uint64_t sent = 0;
    for (uint64_t k = 0; sent < o->rows; k++) {
        size_t n = (size_t)(o->rows - sent < o->batch ? o->rows - sent : o->batch);
        const char *data = (const char *)pool + (k % POOL_BATCHES) * o->batch * dim * elsize;
        rc = spectra_push_rows(c, stream, o->dtype, data, n, dim);
        if (rc)
            return cli_client_error(ctx, c, rc);
        sent += n;
    }
    rc = wait_count(ctx, c, stream, o->rows);
    *secs = cli_now() - t0;
    return rc;
}

/* ---- the raw ZeroMQ path -------------------------------------------------------------------- */

typedef struct receiver {
    void *pull;
    uint64_t expect;           /* messages, after the warm-up one */
    atomic_uint_fast64_t got;
    double t_last;
    int failed;
} receiver;

static void *receive_all(void *arg)
{
    receiver *r = arg;
    zmq_msg_t part;
    zmq_msg_init(&part);
    while (atomic_load(&r->got) < r->expect + 1) {
        if (zmq_msg_recv(&part, r->pull, 0) < 0) {
            if (errno == EINTR)
                continue;
            r->failed = 1;
            break;
        }
        if (!zmq_msg_more(&part))
            atomic_fetch_add(&r->got, 1);
    }
    r->t_last = cli_now();
    zmq_msg_close(&part);
    return NULL;
}

static int bench_raw(const cli_ctx *ctx, const char *stream, size_t dim, const bench_opts *o,
                     const void *pool, int hwm, double *secs)
{
    void *zctx = zmq_ctx_new();
    void *pull = zctx ? zmq_socket(zctx, ZMQ_PULL) : NULL;
    void *push = zctx ? zmq_socket(zctx, ZMQ_PUSH) : NULL;
    char ep[256];
    size_t ep_len = sizeof ep;
    int linger = 0, status = CLI_FAIL;
    pthread_t th;
    int started = 0;
    receiver r = {pull, 0, 0, 0, 0};
    uint64_t messages = (o->rows + o->batch - 1) / o->batch;
    r.expect = messages;
    if (!pull || !push || zmq_bind(pull, "tcp://127.0.0.1:*") != 0 ||
        zmq_getsockopt(pull, ZMQ_LAST_ENDPOINT, ep, &ep_len) != 0 ||
        zmq_setsockopt(push, ZMQ_SNDHWM, &hwm, sizeof hwm) != 0 || zmq_connect(push, ep) != 0) {
        cli_error(ctx, "raw zeromq pair: %s", zmq_strerror(errno));
        goto out;
    }
    zmq_setsockopt(push, ZMQ_LINGER, &linger, sizeof linger);
    if (pthread_create(&th, NULL, receive_all, &r) != 0) {
        cli_error(ctx, "cannot start the receiver thread");
        goto out;
    }
    started = 1;
    /* Warm-up message: the connection is up before the clock starts. */
    zmq_send(push, "", 0, 0);
    while (atomic_load(&r.got) < 1)
        sleep_ms(1);

    size_t elsize = spectra_dtype_size(o->dtype);
    uint8_t hdr[512];
    double t0 = cli_now();
    uint64_t sent = 0;
    for (uint64_t k = 0; sent < o->rows; k++) {
        size_t n = (size_t)(o->rows - sent < o->batch ? o->rows - sent : o->batch);
        spectra_ingest m = {0};
        m.stream = stream;
        m.kind = SPECTRA_ROWS;
        m.dtype = o->dtype;
        m.shape[0] = n;
        m.shape[1] = dim;
        m.data = (const char *)pool + (k % POOL_BATCHES) * o->batch * dim * elsize;
        size_t hdr_len;
        spectra_encode_header(&m, k + 1, hdr, sizeof hdr, &hdr_len);
        if (zmq_send(push, hdr, hdr_len, ZMQ_SNDMORE) < 0 ||
            zmq_send(push, m.data, n * dim * elsize, 0) < 0) {
            cli_error(ctx, "raw zeromq send: %s", zmq_strerror(errno));
            goto out;
        }
        sent += n;
    }
    pthread_join(th, NULL);
    started = 0;
    if (r.failed) {
        cli_error(ctx, "raw zeromq receive failed");
        goto out;
    }
    *secs = r.t_last - t0;
    status = CLI_OK;
out:
    if (push)
        zmq_close(push);
    if (started) {
        /* Unblocks the receiver: closing the context makes its zmq_msg_recv fail with ETERM. */
        if (pull)
            zmq_ctx_shutdown(zctx);
        pthread_join(th, NULL);
    }
    if (pull)
        zmq_close(pull);
    if (zctx)
        zmq_ctx_term(zctx);
    return status;
}

int cmd_bench(cli_ctx *ctx, int argc, char **argv)
{
    static const cli_spec specs[] = {{"--dim", 1, OPT_DIM},
                                     {"--rows", 1, OPT_ROWS},
                                     {"--batch", 1, OPT_BATCH},
                                     {"--dtype", 1, OPT_DTYPE},
                                     {"--durability", 1, OPT_DURABILITY},
                                     {NULL, 0, 0}};
    bench_opts o;
    memset(&o, 0, sizeof o);
    o.rows = 100000;
    o.batch = 1024;
    o.dtype = SPECTRA_F64;
    char **pos;
    size_t n;
    int rc = cli_parse(ctx, argc, argv, specs, on_option, &o, usage, &pos, &n);
    if (rc)
        return rc;
    if (n) {
        rc = cli_usage_error(ctx, "unexpected argument '%s'", pos[0]);
        free(pos);
        return rc;
    }
    free(pos);
    if (o.n_dims == 0) {
        o.dims[0] = 100;
        o.dims[1] = 1000;
        o.n_dims = 2;
    }
    spectra_client *c = cli_connect(ctx);
    if (!c)
        return CLI_FAIL;
    if ((rc = spectra_ping(c, NULL))) {
        int status = cli_client_error(ctx, c, rc);
        spectra_close(c);
        return status;
    }
    size_t elsize = spectra_dtype_size(o.dtype);
    printf("spectra bench: %llu rows per dim, %llu rows per message, %s, topeig every=0 "
           "interval_ms=0\n",
           (unsigned long long)o.rows, (unsigned long long)o.batch, spectra_dtype_name(o.dtype));
    printf("%8s %10s %14s %12s %14s %12s %11s\n", "dim", "msg bytes", "daemon rows/s",
           "daemon MB/s", "raw rows/s", "raw MB/s", "daemon/raw");
    fflush(stdout);
    int status = CLI_OK;
    for (size_t i = 0; i < o.n_dims && status == CLI_OK; i++) {
        size_t dim = (size_t)o.dims[i];
        size_t msg_bytes = (size_t)o.batch * dim * elsize;
        size_t hwm_z = ((size_t)64 << 20) / msg_bytes;
        int hwm = hwm_z < 4 ? 4 : hwm_z > 1000 ? 1000 : (int)hwm_z;
        void *pool = make_pool(POOL_BATCHES * (size_t)o.batch, dim, o.dtype);
        if (!pool) {
            cli_error(ctx, "out of memory for dim %zu", dim);
            status = CLI_FAIL;
            break;
        }
        char stream[SPECTRA_NAME_MAX + 1];
        snprintf(stream, sizeof stream, "bench-%ld-%zu", (long)getpid(), dim);
        spectra_options so = ctx->opts;
        so.send_hwm = hwm;
        spectra_client *pc = spectra_connect(&so);
        double daemon_s = 0, raw_s = 0;
        status = pc ? bench_daemon(ctx, pc, stream, dim, &o, pool, &daemon_s) : CLI_FAIL;
        if (pc) {
            spectra_drop(pc, stream);
            spectra_close(pc);
        }
        if (status == CLI_OK)
            status = bench_raw(ctx, stream, dim, &o, pool, hwm, &raw_s);
        free(pool);
        if (status != CLI_OK)
            break;
        double bytes = (double)o.rows * (double)dim * (double)elsize;
        double d_rate = (double)o.rows / daemon_s, r_rate = (double)o.rows / raw_s;
        printf("%8zu %10zu %14.0f %12.1f %14.0f %12.1f %11.3f\n", dim, msg_bytes, d_rate,
               bytes / daemon_s / 1e6, r_rate, bytes / raw_s / 1e6, d_rate / r_rate);
        fflush(stdout);
    }
    spectra_close(c);
    return status;
}
