/* A stand-in daemon for running the spectra command line as a child process: a ROUTER answering
 * every control request {"ok": true, "id", "streams": []} (enough for ping, list, stats, create;
 * the last create request is kept), a PULL recording ingest frames, a PUB for results. Shared by
 * the CLI tests; each includes it once and declares TestSuite(cli, .init = setup, .fini = teardown).
 * A test may script one existing stream (stand_in_set_stream): `list` then shows it,
 * and `position` and `save` answer for it. */
#ifndef SPX_TEST_CLI_STAND_IN_H
#define SPX_TEST_CLI_STAND_IN_H

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

/* One scripted stream; a nil field is -1. */
typedef struct stand_in_stream {
    const char *name;          /* NULL: no stream scripted */
    uint64_t dim, messages;
    int64_t last_seq, durable_seq, snapshot_messages;
} stand_in_stream;

typedef struct stand_in {
    void *ctx, *router, *pull, *pub;
    char control[128], ingest[128], publish[128];
    pthread_t thread;
    atomic_int stop;
    atomic_int publish_now;    /* results to publish when asked by a test */
    pthread_mutex_t lock;
    spectra_msg *create;       /* the last "create" request, under lock */
    stand_in_stream script;
    atomic_int positions;      /* `position` requests answered */
} stand_in;

static stand_in si;
static char dir[64];

static inline void pack_cstr(msgpack_packer *pk, const char *s)
{
    msgpack_pack_str(pk, strlen(s));
    msgpack_pack_str_body(pk, s, strlen(s));
}

static inline void pack_opt_seq(msgpack_packer *pk, const char *key, int64_t v)
{
    pack_cstr(pk, key);
    if (v < 0)
        msgpack_pack_nil(pk);
    else
        msgpack_pack_uint64(pk, (uint64_t)v);
}

/* The op-specific part of a reply to op for the scripted stream: n pairs packed after the map
 * header the caller wrote with 1 + (id != NULL) + stand_in_pairs(op). */
static inline uint32_t stand_in_pairs(const char *op)
{
    if (si.script.name && strcmp(op, "position") == 0)
        return 9;
    if (si.script.name && strcmp(op, "save") == 0)
        return 2;
    return 1;
}

static inline void stand_in_pack(msgpack_packer *pk, const char *op)
{
    const stand_in_stream *t = &si.script;
    if (t->name && strcmp(op, "position") == 0) {
        atomic_fetch_add(&si.positions, 1);
        pack_cstr(pk, "stream");
        pack_cstr(pk, t->name);
        pack_cstr(pk, "durability");
        pack_cstr(pk, "journal");
        pack_cstr(pk, "messages");
        msgpack_pack_uint64(pk, t->messages);
        pack_opt_seq(pk, "last_seq", t->last_seq);
        pack_cstr(pk, "applied_messages");
        msgpack_pack_uint64(pk, t->messages);
        pack_cstr(pk, "durable_messages");
        msgpack_pack_uint64(pk, t->durable_seq < 0 ? 0 : (uint64_t)t->durable_seq);
        pack_opt_seq(pk, "durable_seq", t->durable_seq);
        pack_opt_seq(pk, "snapshot_messages", t->snapshot_messages);
        pack_opt_seq(pk, "snapshot_seq", t->snapshot_messages);
    } else if (t->name && strcmp(op, "save") == 0) {
        pack_cstr(pk, "snapshots");
        msgpack_pack_uint64(pk, 1);
        pack_cstr(pk, "messages");
        msgpack_pack_uint64(pk, t->messages);
    } else {
        pack_cstr(pk, "streams");
        msgpack_pack_array(pk, t->name ? 1 : 0);
        if (t->name) {
            msgpack_pack_map(pk, 5);
            pack_cstr(pk, "stream");
            pack_cstr(pk, t->name);
            pack_cstr(pk, "kind");
            pack_cstr(pk, "rows");
            pack_cstr(pk, "dim");
            msgpack_pack_uint64(pk, t->dim);
            pack_cstr(pk, "rate");
            msgpack_pack_double(pk, 0);
            pack_cstr(pk, "messages");
            msgpack_pack_uint64(pk, t->messages);
        }
    }
}

static inline void *bind_any(void *ctx, int type, char *ep, size_t cap)
{
    void *s = zmq_socket(ctx, type);
    int linger = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    cr_assert_eq(zmq_bind(s, "tcp://127.0.0.1:*"), 0);
    zmq_getsockopt(s, ZMQ_LAST_ENDPOINT, ep, &cap);
    return s;
}

/* Answers every request {"ok": true, "id": id, "streams": []} (enough for ping, list, stats). */
static inline void *serve(void *arg)
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
        spectra_msg *copy;
        char op[16] = "";
        if (spectra_msg_parse(zmq_msg_data(&req), zmq_msg_size(&req), &copy) == 0) {
            spectra_msg_str(copy, "op", op, sizeof op);
            pthread_mutex_lock(&si.lock);
            if (strcmp(op, "create") == 0) {
                spectra_msg_free(si.create);
                si.create = copy;
                copy = NULL;
            }
            pthread_mutex_unlock(&si.lock);
            spectra_msg_free(copy);
        }
        const msgpack_object *id = NULL;
        for (uint32_t i = 0; up.data.type == MSGPACK_OBJECT_MAP && i < up.data.via.map.size; i++)
            if (up.data.via.map.ptr[i].key.via.str.size == 2 &&
                memcmp(up.data.via.map.ptr[i].key.via.str.ptr, "id", 2) == 0)
                id = &up.data.via.map.ptr[i].val;
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        msgpack_packer pk;
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        pthread_mutex_lock(&si.lock);   /* si.script is set by the test thread */
        msgpack_pack_map(&pk, (id ? 2 : 1) + stand_in_pairs(op));
        pack_cstr(&pk, "ok");
        msgpack_pack_true(&pk);
        if (id) {
            pack_cstr(&pk, "id");
            msgpack_pack_object(&pk, *id);
        }
        stand_in_pack(&pk, op);
        pthread_mutex_unlock(&si.lock);
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

static inline void setup(void)
{
    memset(&si, 0, sizeof si);
    pthread_mutex_init(&si.lock, NULL);
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

static inline void teardown(void)
{
    atomic_store(&si.stop, 1);
    pthread_join(si.thread, NULL);
    zmq_close(si.router);
    zmq_close(si.pull);
    zmq_close(si.pub);
    zmq_ctx_term(si.ctx);
    spectra_msg_free(si.create);
    pthread_mutex_destroy(&si.lock);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

/* Scripts the one existing stream of the stand-in. */
static inline void stand_in_set_stream(const stand_in_stream *t)
{
    pthread_mutex_lock(&si.lock);
    si.script = *t;
    pthread_mutex_unlock(&si.lock);
}

/* Runs `spectra <args>` with stdout and stderr captured; returns the exit status. */
static inline int run(const char *args, char *out, size_t out_cap, char *err, size_t err_cap)
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

static inline void write_file(const char *name, const char *text)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

/* Receives one ingest message: the header decoded (a copy), the payload copied. */
static inline spectra_msg *recv_ingest(double *payload, size_t cap, size_t *n_values)
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

static inline uint64_t header_uint(const spectra_msg *h, const char *path)
{
    uint64_t v = 0;
    cr_assert_eq(spectra_msg_uint(h, path, &v), 0, "header has no %s", path);
    return v;
}

#endif
