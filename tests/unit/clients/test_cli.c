/* The spectra command line, run as a child process against a stand-in daemon (ROUTER answering
 * ping/list/stats, PULL recording ingest frames, PUB for results): exit codes, one-line errors,
 * what `push` puts on the wire, and the JSON lines of `sub`. */
#include <criterion/criterion.h>
#include <msgpack.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include "spectra.h"

#define CLI SPX_BIN_DIR "/spectra"

typedef struct stand_in {
    void *ctx, *router, *pull, *pub;
    char control[128], ingest[128], publish[128];
    pthread_t thread;
    atomic_int stop;
    atomic_int publish_now;    /* results to publish when asked by a test */
} stand_in;

static stand_in si;
static char dir[64];

static void pack_cstr(msgpack_packer *pk, const char *s)
{
    msgpack_pack_str(pk, strlen(s));
    msgpack_pack_str_body(pk, s, strlen(s));
}

static void *bind_any(void *ctx, int type, char *ep, size_t cap)
{
    void *s = zmq_socket(ctx, type);
    int linger = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    cr_assert_eq(zmq_bind(s, "tcp://127.0.0.1:*"), 0);
    zmq_getsockopt(s, ZMQ_LAST_ENDPOINT, ep, &cap);
    return s;
}

/* Answers every request {"ok": true, "id": id, "streams": []} (enough for ping, list, stats). */
static void *serve(void *arg)
{
    (void)arg;
    while (!atomic_load(&si.stop)) {
        zmq_pollitem_t item = {si.router, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&item, 1, 10) <= 0)
            continue;
        zmq_msg_t identity, delim, req;
        zmq_msg_init(&identity);
        zmq_msg_init(&delim);
        zmq_msg_init(&req);
        zmq_msg_recv(&identity, si.router, 0);
        zmq_msg_recv(&delim, si.router, 0);
        zmq_msg_recv(&req, si.router, 0);
        msgpack_unpacked up;
        msgpack_unpacked_init(&up);
        size_t off = 0;
        msgpack_unpack_next(&up, zmq_msg_data(&req), zmq_msg_size(&req), &off);
        const msgpack_object *id = NULL;
        for (uint32_t i = 0; up.data.type == MSGPACK_OBJECT_MAP && i < up.data.via.map.size; i++)
            if (up.data.via.map.ptr[i].key.via.str.size == 2 &&
                memcmp(up.data.via.map.ptr[i].key.via.str.ptr, "id", 2) == 0)
                id = &up.data.via.map.ptr[i].val;
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        msgpack_packer pk;
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        msgpack_pack_map(&pk, id ? 3 : 2);
        pack_cstr(&pk, "ok");
        msgpack_pack_true(&pk);
        if (id) {
            pack_cstr(&pk, "id");
            msgpack_pack_object(&pk, *id);
        }
        pack_cstr(&pk, "streams");
        msgpack_pack_array(&pk, 0);
        zmq_msg_send(&identity, si.router, ZMQ_SNDMORE);
        zmq_send(si.router, "", 0, ZMQ_SNDMORE);
        zmq_send(si.router, sb.data, sb.size, 0);
        msgpack_sbuffer_destroy(&sb);
        msgpack_unpacked_destroy(&up);
        zmq_msg_close(&identity);
        zmq_msg_close(&delim);
        zmq_msg_close(&req);
    }
    return NULL;
}

static void setup(void)
{
    memset(&si, 0, sizeof si);
    si.ctx = zmq_ctx_new();
    si.router = bind_any(si.ctx, ZMQ_ROUTER, si.control, sizeof si.control);
    si.pull = bind_any(si.ctx, ZMQ_PULL, si.ingest, sizeof si.ingest);
    si.pub = bind_any(si.ctx, ZMQ_PUB, si.publish, sizeof si.publish);
    setenv("SPECTRA_CONTROL", si.control, 1);
    setenv("SPECTRA_INGEST", si.ingest, 1);
    setenv("SPECTRA_PUBLISH", si.publish, 1);
    snprintf(dir, sizeof dir, "/tmp/spectra-test-cli-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    cr_assert_eq(pthread_create(&si.thread, NULL, serve, NULL), 0);
}

static void teardown(void)
{
    atomic_store(&si.stop, 1);
    pthread_join(si.thread, NULL);
    zmq_close(si.router);
    zmq_close(si.pull);
    zmq_close(si.pub);
    zmq_ctx_term(si.ctx);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(cli, .init = setup, .fini = teardown, .timeout = 60);

/* Runs `spectra <args>` with stdout and stderr captured; returns the exit status. */
static int run(const char *args, char *out, size_t out_cap, char *err, size_t err_cap)
{
    char cmd[2048];
    cr_assert_eq(access(CLI, X_OK), 0, "%s is not built (target spectra_cli)", CLI);
    snprintf(cmd, sizeof cmd, "%s %s > %s/out 2> %s/err", CLI, args, dir, dir);
    int status = system(cmd);
    cr_assert(WIFEXITED(status), "spectra did not exit normally: %s", cmd);
    const char *names[2] = {"out", "err"};
    char *bufs[2] = {out, err};
    size_t caps[2] = {out_cap, err_cap};
    for (int i = 0; i < 2; i++) {
        char path[128];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        FILE *f = fopen(path, "r");
        cr_assert_not_null(f);
        size_t n = fread(bufs[i], 1, caps[i] - 1, f);
        bufs[i][n] = '\0';
        fclose(f);
    }
    return WEXITSTATUS(status);
}

static void write_file(const char *name, const char *text)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

Test(cli, help_version_and_usage_errors)
{
    char help[8192], out[8192], err[1024];
    cr_assert_eq(run("--help", help, sizeof help, err, sizeof err), 0);
    const char *cmds[] = {"ping", "create", "drop", "attach", "detach", "list", "stats", "get",
                          "push", "sub", "bench"};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        char line[32];
        snprintf(line, sizeof line, "\n  %s ", cmds[i]);
        cr_assert(strstr(help, line) != NULL, "--help does not list %s", cmds[i]);
        char args[64];
        snprintf(args, sizeof args, "%s --help", cmds[i]);
        cr_assert_eq(run(args, out, sizeof out, err, sizeof err), 0, "%s --help", cmds[i]);
        cr_assert(strncmp(out, "usage: spectra ", 15) == 0, "%s --help: %s", cmds[i], out);
    }
    cr_assert_eq(run("--version", out, sizeof out, err, sizeof err), 0);
    cr_assert(strncmp(out, "spectra ", 8) == 0);
    cr_assert_eq(run("frob", out, sizeof out, err, sizeof err), 2);
    cr_assert_str_eq(err, "spectra: unknown command 'frob' (see 'spectra --help')\n");
    cr_assert_eq(run("push s", out, sizeof out, err, sizeof err), 2);
    cr_assert_str_eq(err, "spectra: push: need STREAM and FILE (see 'spectra push --help')\n");
    cr_assert_eq(run("attach s p topeig k3", out, sizeof out, err, sizeof err), 2);
    cr_assert_eq(run("create s --kind rows --dim x", out, sizeof out, err, sizeof err), 2);
    cr_assert_str_eq(err, "spectra: create: --dim: 'x' is not a whole number "
                          "(see 'spectra create --help')\n");
    cr_assert_eq(run("ping --bogus", out, sizeof out, err, sizeof err), 2);
}

Test(cli, daemon_errors_exit_1)
{
    char out[1024], err[1024];
    cr_assert_eq(run("--timeout 0.2 --control tcp://127.0.0.1:1 ping", out, sizeof out, err,
                     sizeof err),
                 1);
    cr_assert_str_eq(err, "spectra: ping: no reply from tcp://127.0.0.1:1 within 0.2 s "
                          "(is spectrad running?)\n");
    cr_assert_eq(run("ping", out, sizeof out, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(out, "{\"streams\":[]}\n", "ok and id are not printed");
}

/* Receives one ingest message: the header decoded (a copy), the payload copied. */
static spectra_msg *recv_ingest(double *payload, size_t cap, size_t *n_values)
{
    int timeout = 5000;
    zmq_setsockopt(si.pull, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    zmq_msg_t hdr;
    zmq_msg_init(&hdr);
    cr_assert_geq(zmq_msg_recv(&hdr, si.pull, 0), 0, "no ingest message");
    spectra_msg *h;
    cr_assert_eq(spectra_msg_parse(zmq_msg_data(&hdr), zmq_msg_size(&hdr), &h), 0);
    *n_values = 0;
    if (zmq_msg_more(&hdr)) {
        int n = zmq_recv(si.pull, payload, cap * sizeof *payload, 0);
        cr_assert_geq(n, 0);
        *n_values = (size_t)n / sizeof *payload;
    }
    zmq_msg_close(&hdr);
    return h;
}

static uint64_t header_uint(const spectra_msg *h, const char *path)
{
    uint64_t v = 0;
    cr_assert_eq(spectra_msg_uint(h, path, &v), 0, "header has no %s", path);
    return v;
}

Test(cli, push_sends_batches_with_sequence_numbers)
{
    write_file("rows.csv", "date,a,b\nd1,1,2\nd2,3,4\nd3,5,6.5\n");
    char out[1024], err[1024], args[256];
    snprintf(args, sizeof args, "push s %s/rows.csv --skip-columns date --batch 2", dir);
    cr_assert_eq(run(args, out, sizeof out, err, sizeof err), 0, "%s", err);
    cr_assert(strstr(err, "spectra: push: s: 3 rows x 2 (f64) in 2 messages, 48 bytes, ") == err,
              "%s", err);
    const double want[2][4] = {{1, 2, 3, 4}, {5, 6.5}};
    for (int m = 0; m < 2; m++) {
        double payload[8];
        size_t n;
        spectra_msg *h = recv_ingest(payload, 8, &n);
        char stream[8], dtype[8];
        cr_assert_eq(spectra_msg_str(h, "stream", stream, sizeof stream), 0);
        cr_assert_str_eq(stream, "s");
        cr_assert_eq(spectra_msg_str(h, "dtype", dtype, sizeof dtype), 0);
        cr_assert_str_eq(dtype, "f64");
        cr_assert_eq(header_uint(h, "seq"), (uint64_t)m + 1);
        cr_assert_eq(header_uint(h, "shape.0"), m == 0 ? 2 : 1);
        cr_assert_eq(header_uint(h, "shape.1"), 2);
        cr_assert_eq(n, m == 0 ? 4 : 2);
        cr_assert_eq(memcmp(payload, want[m], n * sizeof *payload), 0, "message %d payload", m);
        spectra_msg_free(h);
    }
}

Test(cli, push_bad_line_stops_before_its_batch)
{
    write_file("bad.txt", "1 2\n3 4\n5 6\n7 oops\n9 10\n");
    char out[1024], err[1024], args[256];
    snprintf(args, sizeof args, "push s %s/bad.txt --batch 2 --dtype f32", dir);
    cr_assert_eq(run(args, out, sizeof out, err, sizeof err), 1);
    char want[512];
    snprintf(want, sizeof want,
             "spectra: push: %s/bad.txt:4: column 2: 'oops' is not a number\n"
             "spectra: push: 2 rows in 1 messages were sent before the error\n",
             dir);
    cr_assert_str_eq(err, want);
    double payload[8];
    size_t n;
    spectra_msg *h = recv_ingest(payload, 8, &n);
    cr_assert_eq(n, 2, "one f32 message of 2 x 2 = 16 bytes");
    float f[4];
    memcpy(f, payload, sizeof f);
    cr_assert_eq(f[3], 4.0f);
    spectra_msg_free(h);
    int timeout = 300;
    zmq_setsockopt(si.pull, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    char buf[64];
    cr_assert_lt(zmq_recv(si.pull, buf, sizeof buf, 0), 0, "the batch with line 4 was sent");
}

static void *publish_results(void *arg)
{
    (void)arg;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 2);
    pack_cstr(&pk, "stream");
    pack_cstr(&pk, "s");
    pack_cstr(&pk, "x");
    msgpack_pack_double(&pk, 0.5);
    /* The subscriber joins asynchronously: keep publishing until the test has its lines. */
    while (!atomic_load(&si.publish_now)) {
        zmq_send(si.pub, "t.top", 5, ZMQ_SNDMORE);
        zmq_send(si.pub, sb.data, sb.size, 0);
        zmq_send(si.pub, "s.top", 5, ZMQ_SNDMORE);
        zmq_send(si.pub, sb.data, sb.size, 0);
        usleep(5000);
    }
    msgpack_sbuffer_destroy(&sb);
    return NULL;
}

Test(cli, sub_prints_json_lines_and_times_out)
{
    char out[4096], err[1024];
    cr_assert_eq(run("sub s. --timeout 0.2", out, sizeof out, err, sizeof err), 1);
    cr_assert_str_eq(err, "spectra: sub: timeout\n");
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, publish_results, NULL), 0);
    int rc = run("sub s. --count 2 --timeout 20", out, sizeof out, err, sizeof err);
    atomic_store(&si.publish_now, 1);
    pthread_join(th, NULL);
    cr_assert_eq(rc, 0, "%s", err);
    cr_assert_str_eq(out, "{\"topic\":\"s.top\",\"stream\":\"s\",\"x\":0.5}\n"
                          "{\"topic\":\"s.top\",\"stream\":\"s\",\"x\":0.5}\n");
}
