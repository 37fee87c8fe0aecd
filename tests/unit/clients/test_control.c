/* The client's sockets against a scripted stand-in for the daemon (ROUTER, PULL and PUB on
 * loopback ports): request encoding, reply and error decoding, id matching, timeouts that do not
 * wedge the control socket, ingest frames and sequence numbers, result subscription. */
#include <criterion/criterion.h>
#include <msgpack.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "spectra.h"

typedef struct fake_daemon {
    void *ctx, *router;
    char control_ep[128];
    pthread_t thread;
    atomic_int stop;
    atomic_int requests;
    pthread_mutex_t lock;
    uint8_t last_request[4096];   /* the newest request, for encoding checks */
    size_t last_len;
} fake_daemon;

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void pack_cstr(msgpack_packer *pk, const char *s)
{
    msgpack_pack_str(pk, strlen(s));
    msgpack_pack_str_body(pk, s, strlen(s));
}

static int str_is(const msgpack_object *o, const char *s)
{
    return o && o->type == MSGPACK_OBJECT_STR && o->via.str.size == strlen(s) &&
           memcmp(o->via.str.ptr, s, o->via.str.size) == 0;
}

static const msgpack_object *get(const msgpack_object *map, const char *key)
{
    if (!map || map->type != MSGPACK_OBJECT_MAP)
        return NULL;
    for (uint32_t i = 0; i < map->via.map.size; i++)
        if (str_is(&map->via.map.ptr[i].key, key))
            return &map->via.map.ptr[i].val;
    return NULL;
}

static void pack_error(msgpack_packer *pk, const msgpack_object *id, const char *code,
                       const char *message)
{
    msgpack_pack_map(pk, id ? 3 : 2);
    pack_cstr(pk, "ok");
    msgpack_pack_false(pk);
    if (id) {
        pack_cstr(pk, "id");
        msgpack_pack_object(pk, *id);
    }
    pack_cstr(pk, "error");
    msgpack_pack_map(pk, 2);
    pack_cstr(pk, "code");
    pack_cstr(pk, code);
    pack_cstr(pk, "message");
    pack_cstr(pk, message);
}

/* {"ok": true, "id": id, ...extra} where extra is written by the caller after n_extra. */
static void pack_ok(msgpack_packer *pk, const msgpack_object *id, uint32_t n_extra)
{
    msgpack_pack_map(pk, 1 + (id ? 1 : 0) + n_extra);
    pack_cstr(pk, "ok");
    msgpack_pack_true(pk);
    if (id) {
        pack_cstr(pk, "id");
        msgpack_pack_object(pk, *id);
    }
}

static void send_reply(void *router, zmq_msg_t *identity, int delimited, const void *buf,
                       size_t len)
{
    zmq_msg_t copy; /* sending empties a zmq_msg_t, and "stale" replies twice */
    zmq_msg_init(&copy);
    zmq_msg_copy(&copy, identity);
    zmq_msg_send(&copy, router, ZMQ_SNDMORE);
    zmq_msg_close(&copy);
    if (delimited)
        zmq_send(router, "", 0, ZMQ_SNDMORE);
    zmq_send(router, buf, len, 0);
}

/* Answers one request according to its op (the script of these tests). */
static void answer(fake_daemon *d, zmq_msg_t *identity, int delimited, const void *req, size_t len)
{
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    size_t off = 0;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    if (msgpack_unpack_next(&up, req, len, &off) != MSGPACK_UNPACK_SUCCESS) {
        pack_error(&pk, NULL, "bad_request", "not msgpack");
        send_reply(d->router, identity, delimited, sb.data, sb.size);
        goto out;
    }
    const msgpack_object *root = &up.data, *id = get(root, "id"), *op = get(root, "op");
    if (str_is(op, "ping")) {
        pack_ok(&pk, id, 3);
        pack_cstr(&pk, "version");
        pack_cstr(&pk, "0.1.0");
        pack_cstr(&pk, "protocol");
        msgpack_pack_uint64(&pk, 1);
        pack_cstr(&pk, "uptime_s");
        msgpack_pack_double(&pk, 1.5);
    } else if (str_is(op, "drop") && str_is(get(root, "stream"), "nope")) {
        pack_error(&pk, id, "unknown_stream", "no stream 'nope'");
    } else if (str_is(op, "slow")) {
        sleep_ms(300);
        pack_ok(&pk, id, 0);
    } else if (str_is(op, "stale")) {
        /* First an answer to some earlier request, then the real one. */
        msgpack_pack_map(&pk, 3);
        pack_cstr(&pk, "ok");
        msgpack_pack_false(&pk);
        pack_cstr(&pk, "id");
        msgpack_pack_uint64(&pk, 999999);
        pack_cstr(&pk, "error");
        msgpack_pack_map(&pk, 0);
        send_reply(d->router, identity, delimited, sb.data, sb.size);
        msgpack_sbuffer_clear(&sb);
        pack_ok(&pk, id, 1);
        pack_cstr(&pk, "fresh");
        msgpack_pack_true(&pk);
    } else if (str_is(op, "noid")) {
        pack_ok(&pk, NULL, 0);
    } else if (str_is(op, "garbage")) {
        const uint8_t bomb[] = {0xdd, 0x00, 0xff, 0xff, 0xff};
        msgpack_sbuffer_write(&sb, (const char *)bomb, sizeof bomb);
    } else if (str_is(op, "notok")) {
        msgpack_pack_map(&pk, 1);
        pack_cstr(&pk, "id");
        msgpack_pack_object(&pk, *id);
    } else if (str_is(op, "get")) {
        double v[3] = {0.6, 0.8, 0.0};
        pack_ok(&pk, id, 1);
        pack_cstr(&pk, "result");
        msgpack_pack_map(&pk, 2);
        pack_cstr(&pk, "count");
        msgpack_pack_uint64(&pk, 1234);
        pack_cstr(&pk, "result");
        msgpack_pack_map(&pk, 1);
        pack_cstr(&pk, "vector");
        msgpack_pack_map(&pk, 3);
        pack_cstr(&pk, "dtype");
        pack_cstr(&pk, "f64");
        pack_cstr(&pk, "shape");
        msgpack_pack_array(&pk, 1);
        msgpack_pack_uint64(&pk, 3);
        pack_cstr(&pk, "data");
        msgpack_pack_bin(&pk, sizeof v);
        msgpack_pack_bin_body(&pk, v, sizeof v); /* little-endian host */
    } else if (str_is(op, "save")) {
        int one = get(root, "stream") != NULL;
        pack_ok(&pk, id, 1 + one);
        pack_cstr(&pk, "snapshots");
        msgpack_pack_uint64(&pk, one ? 1 : 3);
        if (one) {
            pack_cstr(&pk, "messages");
            msgpack_pack_uint64(&pk, 12);
        }
    } else if (str_is(op, "position")) {
        /* Stream "s": journal, no snapshot yet; "short": no applied_messages; "str": a str
         * where a uint belongs. */
        int full = str_is(get(root, "stream"), "s"), mistyped = str_is(get(root, "stream"), "str");
        pack_ok(&pk, id, full || mistyped ? 9 : 8);
        pack_cstr(&pk, "stream");
        msgpack_pack_object(&pk, *get(root, "stream"));
        pack_cstr(&pk, "durability");
        pack_cstr(&pk, "journal");
        pack_cstr(&pk, "messages");
        msgpack_pack_uint64(&pk, 12);
        pack_cstr(&pk, "last_seq");
        msgpack_pack_uint64(&pk, 40);
        if (full || mistyped) {
            pack_cstr(&pk, "applied_messages");
            msgpack_pack_uint64(&pk, 11);
        }
        pack_cstr(&pk, "durable_messages");
        msgpack_pack_uint64(&pk, 12);
        pack_cstr(&pk, "durable_seq");
        if (mistyped)
            pack_cstr(&pk, "40");
        else
            msgpack_pack_uint64(&pk, 40);
        pack_cstr(&pk, "snapshot_messages");
        msgpack_pack_nil(&pk);
        pack_cstr(&pk, "snapshot_seq");
        msgpack_pack_nil(&pk);
    } else if (op && op->type == MSGPACK_OBJECT_STR) {
        pack_ok(&pk, id, 0);
    } else {
        pack_error(&pk, id, "bad_request", "no op");
    }
    send_reply(d->router, identity, delimited, sb.data, sb.size);
out:
    msgpack_sbuffer_destroy(&sb);
    msgpack_unpacked_destroy(&up);
}

static void *serve(void *arg)
{
    fake_daemon *d = arg;
    while (!atomic_load(&d->stop)) {
        zmq_pollitem_t item = {d->router, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&item, 1, 10) <= 0)
            continue;
        zmq_msg_t identity, part;
        zmq_msg_init(&identity);
        zmq_msg_init(&part);
        zmq_msg_recv(&identity, d->router, 0);
        zmq_msg_recv(&part, d->router, 0);
        int delimited = zmq_msg_size(&part) == 0 && zmq_msg_more(&part);
        if (delimited)
            zmq_msg_recv(&part, d->router, 0);
        pthread_mutex_lock(&d->lock);
        d->last_len = zmq_msg_size(&part) < sizeof d->last_request ? zmq_msg_size(&part) : 0;
        memcpy(d->last_request, zmq_msg_data(&part), d->last_len);
        pthread_mutex_unlock(&d->lock);
        atomic_fetch_add(&d->requests, 1);
        answer(d, &identity, delimited, zmq_msg_data(&part), zmq_msg_size(&part));
        zmq_msg_close(&identity);
        zmq_msg_close(&part);
    }
    return NULL;
}

static fake_daemon daemon_;

static void daemon_start(void)
{
    fake_daemon *d = &daemon_;
    memset(d, 0, sizeof *d);
    pthread_mutex_init(&d->lock, NULL);
    d->ctx = zmq_ctx_new();
    d->router = zmq_socket(d->ctx, ZMQ_ROUTER);
    int linger = 0;
    zmq_setsockopt(d->router, ZMQ_LINGER, &linger, sizeof linger);
    cr_assert_eq(zmq_bind(d->router, "tcp://127.0.0.1:*"), 0);
    size_t n = sizeof d->control_ep;
    zmq_getsockopt(d->router, ZMQ_LAST_ENDPOINT, d->control_ep, &n);
    cr_assert_eq(pthread_create(&d->thread, NULL, serve, d), 0);
}

static void daemon_stop(void)
{
    fake_daemon *d = &daemon_;
    atomic_store(&d->stop, 1);
    pthread_join(d->thread, NULL);
    zmq_close(d->router);
    zmq_ctx_term(d->ctx);
    pthread_mutex_destroy(&d->lock);
}

static spectra_client *client_for(int timeout_ms)
{
    spectra_options o;
    spectra_options_init(&o);
    o.control = daemon_.control_ep;
    o.timeout_ms = timeout_ms;
    spectra_client *c = spectra_connect(&o);
    cr_assert_not_null(c);
    return c;
}

/* The newest request the stand-in received, decoded (caller destroys up). */
static const msgpack_object *last_request(msgpack_unpacked *up)
{
    size_t off = 0;
    msgpack_unpacked_init(up);
    pthread_mutex_lock(&daemon_.lock);
    int rc = msgpack_unpack_next(up, (const char *)daemon_.last_request, daemon_.last_len, &off);
    pthread_mutex_unlock(&daemon_.lock);
    cr_assert_eq(rc, MSGPACK_UNPACK_SUCCESS);
    return &up->data;
}

TestSuite(control, .init = daemon_start, .fini = daemon_stop);

Test(control, ping_reply_fields)
{
    spectra_client *c = client_for(2000);
    spectra_msg *reply = NULL;
    cr_assert_eq(spectra_ping(c, &reply), 0, "%s", spectra_last_error(c));
    char version[16];
    uint64_t protocol;
    double uptime;
    cr_assert_eq(spectra_msg_str(reply, "version", version, sizeof version), 0);
    cr_assert_str_eq(version, "0.1.0");
    cr_assert_eq(spectra_msg_uint(reply, "protocol", &protocol), 0);
    cr_assert_eq(protocol, 1);
    cr_assert_eq(spectra_msg_double(reply, "uptime_s", &uptime), 0);
    cr_assert_eq(uptime, 1.5);
    int ok;
    cr_assert_eq(spectra_msg_bool(reply, "ok", &ok), 0);
    cr_assert_eq(ok, 1);
    cr_assert_eq(spectra_msg_uint(reply, "missing", &protocol), SPECTRA_ENOTFOUND);
    cr_assert_eq(spectra_msg_uint(reply, "version", &protocol), SPECTRA_ETYPE);
    cr_assert_eq(spectra_msg_str(reply, "version", version, 5), SPECTRA_ERANGE);
    spectra_msg_free(reply);

    msgpack_unpacked up;
    const msgpack_object *req = last_request(&up);
    cr_assert_eq(req->via.map.size, 2, "{op, id}");
    cr_assert(str_is(get(req, "op"), "ping"));
    cr_assert_eq(get(req, "id")->type, MSGPACK_OBJECT_POSITIVE_INTEGER);
    msgpack_unpacked_destroy(&up);
    spectra_close(c);
}

Test(control, daemon_error_becomes_code_and_message)
{
    spectra_client *c = client_for(2000);
    cr_assert_eq(spectra_drop(c, "nope"), SPECTRA_EDAEMON);
    cr_assert_str_eq(spectra_last_error(c), "unknown_stream: no stream 'nope'");
    cr_assert_str_eq(spectra_last_error_code(c), "unknown_stream");
    cr_assert_eq(spectra_drop(c, "fine"), 0);
    cr_assert_str_eq(spectra_last_error_code(c), "", "cleared by the next request");
    spectra_close(c);
}

Test(control, raw_request_keeps_failed_reply_and_replaces_id)
{
    spectra_client *c = client_for(2000);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 3);
    pack_cstr(&pk, "op");
    pack_cstr(&pk, "drop");
    pack_cstr(&pk, "id");
    pack_cstr(&pk, "mine");
    pack_cstr(&pk, "stream");
    pack_cstr(&pk, "nope");
    spectra_msg *reply = NULL;
    cr_assert_eq(spectra_request(c, sb.data, sb.size, &reply), SPECTRA_EDAEMON);
    cr_assert_not_null(reply, "a failed reply is handed out by the raw call");
    char code[32], message[64];
    cr_assert_eq(spectra_reply_status(reply, code, sizeof code, message, sizeof message),
                 SPECTRA_EDAEMON);
    cr_assert_str_eq(code, "unknown_stream");
    cr_assert_str_eq(message, "no stream 'nope'");
    spectra_msg_free(reply);
    msgpack_unpacked up;
    const msgpack_object *req = last_request(&up);
    cr_assert_eq(req->via.map.size, 3);
    cr_assert_eq(get(req, "id")->type, MSGPACK_OBJECT_POSITIVE_INTEGER,
                 "the library's id replaces the caller's");
    cr_assert(str_is(get(req, "stream"), "nope"));
    msgpack_unpacked_destroy(&up);

    const uint8_t not_a_map[] = {0x91, 0x01};
    cr_assert_eq(spectra_request(c, not_a_map, sizeof not_a_map, NULL), SPECTRA_EINVAL);
    msgpack_sbuffer_destroy(&sb);
    spectra_close(c);
}

static void raw_op(spectra_client *c, const char *op, int want)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 1);
    pack_cstr(&pk, "op");
    pack_cstr(&pk, op);
    spectra_msg *reply = NULL;
    int rc = spectra_request(c, sb.data, sb.size, &reply);
    cr_assert_eq(rc, want, "op %s: %d %s", op, rc, spectra_last_error(c));
    if (!rc) {
        cr_assert_not_null(reply);
        spectra_msg_free(reply);
    }
    msgpack_sbuffer_destroy(&sb);
}

Test(control, timeout_does_not_wedge_the_socket)
{
    spectra_client *c = client_for(100);
    raw_op(c, "slow", SPECTRA_ETIMEDOUT);
    cr_assert(strstr(spectra_last_error(c), "no reply from tcp://127.0.0.1:") != NULL, "%s",
              spectra_last_error(c));
    cr_assert_eq(spectra_set_timeout(c, 3000), 0);
    /* The late answer to "slow" must not be taken as the answer to this ping. */
    spectra_msg *reply = NULL;
    cr_assert_eq(spectra_ping(c, &reply), 0, "%s", spectra_last_error(c));
    cr_assert_eq(spectra_msg_is_nil(reply, "version"), 0);
    spectra_msg_free(reply);
    cr_assert_eq(spectra_ping(c, NULL), 0);
    spectra_close(c);
}

Test(control, stale_reply_is_skipped_by_id)
{
    spectra_client *c = client_for(2000);
    spectra_msg *reply = NULL;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 1);
    pack_cstr(&pk, "op");
    pack_cstr(&pk, "stale");
    cr_assert_eq(spectra_request(c, sb.data, sb.size, &reply), 0, "%s", spectra_last_error(c));
    int fresh = 0;
    cr_assert_eq(spectra_msg_bool(reply, "fresh", &fresh), 0);
    cr_assert_eq(fresh, 1);
    spectra_msg_free(reply);
    msgpack_sbuffer_destroy(&sb);
    spectra_close(c);
}

Test(control, malformed_replies)
{
    spectra_client *c = client_for(2000);
    raw_op(c, "noid", 0); /* a reply without id is accepted */
    raw_op(c, "garbage", SPECTRA_EPROTO);
    cr_assert(strstr(spectra_last_error(c), "container count exceeds") != NULL, "%s",
              spectra_last_error(c));
    raw_op(c, "notok", SPECTRA_EPROTO);
    cr_assert(strstr(spectra_last_error(c), "without a boolean \"ok\"") != NULL, "%s",
              spectra_last_error(c));
    raw_op(c, "anything", 0);
    spectra_close(c);
}

Test(control, no_daemon_times_out)
{
    spectra_options o;
    spectra_options_init(&o);
    o.control = "tcp://127.0.0.1:1"; /* nothing listens on port 1 */
    o.timeout_ms = 150;
    spectra_client *c = spectra_connect(&o);
    cr_assert_eq(spectra_ping(c, NULL), SPECTRA_ETIMEDOUT);
    cr_assert_str_eq(spectra_last_error(c),
                     "no reply from tcp://127.0.0.1:1 within 0.15 s (is spectrad running?)");
    spectra_close(c);

    o.control = "nonsense://x";
    c = spectra_connect(&o);
    cr_assert_eq(spectra_ping(c, NULL), SPECTRA_EZMQ);
    cr_assert(strstr(spectra_last_error(c), "control endpoint 'nonsense://x'") != NULL);
    spectra_close(c);
}

Test(control, attach_and_create_encoding)
{
    spectra_client *c = client_for(2000);
    const char *params[] = {"k=3", "method=adaoja", "eta0=0.5=x"};
    cr_assert_eq(spectra_attach(c, "s", "top", "topeig", params, 3, 1000, 0), 0, "%s",
                 spectra_last_error(c));
    msgpack_unpacked up;
    const msgpack_object *req = last_request(&up);
    cr_assert_eq(req->via.map.size, 8);
    cr_assert(str_is(get(req, "op"), "attach"));
    cr_assert(str_is(get(req, "stream"), "s"));
    cr_assert(str_is(get(req, "pipeline"), "top"));
    cr_assert(str_is(get(req, "algo"), "topeig"));
    const msgpack_object *p = get(req, "params");
    cr_assert_eq(p->via.map.size, 3);
    cr_assert(str_is(get(p, "k"), "3"));
    cr_assert(str_is(get(p, "method"), "adaoja"));
    cr_assert(str_is(get(p, "eta0"), "0.5=x"), "split at the first '='");
    cr_assert_eq(get(req, "every")->via.u64, 1000);
    cr_assert_eq(get(req, "interval_ms")->via.u64, 0);
    msgpack_unpacked_destroy(&up);

    cr_assert_eq(spectra_attach(c, "s", "top", "topeig", NULL, 0, -1, -1), 0);
    req = last_request(&up);
    cr_assert_eq(req->via.map.size, 5, "defaults leave params/every/interval_ms out");
    msgpack_unpacked_destroy(&up);

    const char *bad[] = {"novalue"};
    cr_assert_eq(spectra_attach(c, "s", "top", "topeig", bad, 1, -1, -1), SPECTRA_EINVAL);
    cr_assert_str_eq(spectra_last_error(c), "parameter 'novalue' is not key=value");
    cr_assert_eq(spectra_attach(c, "s", "a.b", "topeig", NULL, 0, -1, -1), SPECTRA_EINVAL);

    const char *names[] = {"C3", "Cz", "C4"};
    cr_assert_eq(spectra_create(c, "eeg", SPECTRA_SERIES, 3, 160, names, 3), 0);
    req = last_request(&up);
    cr_assert_eq(req->via.map.size, 7);
    cr_assert(str_is(get(req, "kind"), "series"));
    cr_assert_eq(get(req, "dim")->via.u64, 3);
    cr_assert_eq(get(req, "rate")->via.f64, 160);
    cr_assert(str_is(&get(req, "channel_names")->via.array.ptr[1], "Cz"));
    msgpack_unpacked_destroy(&up);
    spectra_close(c);
}

Test(control, create_with_durability_and_dedupe)
{
    spectra_client *c = client_for(2000);
    spectra_create_options o;
    spectra_create_options_init(&o);
    o.durability = SPECTRA_DURABILITY_JOURNAL;
    o.dedupe = 1;
    cr_assert_eq(spectra_create_with(c, "s", SPECTRA_ROWS, 4, &o), 0, "%s", spectra_last_error(c));
    msgpack_unpacked up;
    const msgpack_object *req = last_request(&up);
    cr_assert_eq(req->via.map.size, 7, "op, id, stream, kind, dim, durability, dedupe");
    cr_assert(str_is(get(req, "durability"), "journal"));
    cr_assert_eq(get(req, "dedupe")->type, MSGPACK_OBJECT_BOOLEAN);
    cr_assert(get(req, "dedupe")->via.boolean);
    msgpack_unpacked_destroy(&up);

    cr_assert_eq(spectra_create_with(c, "s", SPECTRA_ROWS, 4, NULL), 0);
    req = last_request(&up);
    cr_assert_eq(req->via.map.size, 5, "defaults are left to the daemon");
    cr_assert_null(get(req, "durability"));
    msgpack_unpacked_destroy(&up);

    o.durability = (spectra_durability)7;
    cr_assert_eq(spectra_create_with(c, "s", SPECTRA_ROWS, 4, &o), SPECTRA_EINVAL);
    cr_assert_str_eq(spectra_last_error(c), "unknown durability 7");
    o.durability = SPECTRA_DURABILITY_NONE;
    o.rate = -1;
    cr_assert_eq(spectra_create_with(c, "s", SPECTRA_ROWS, 4, &o), SPECTRA_EINVAL);

    spectra_durability d;
    cr_assert_eq(spectra_durability_parse("snapshot", &d), 0);
    cr_assert_eq(d, SPECTRA_DURABILITY_SNAPSHOT);
    cr_assert_eq(spectra_durability_parse("always", &d), SPECTRA_EINVAL);
    cr_assert_null(spectra_durability_name(SPECTRA_DURABILITY_DEFAULT));
    cr_assert_str_eq(spectra_durability_name(SPECTRA_DURABILITY_NONE), "none");
    spectra_close(c);
}

Test(control, save_and_position_decoding)
{
    spectra_client *c = client_for(2000);
    uint64_t snapshots = 99, messages = 99;
    cr_assert_eq(spectra_save(c, "s", &snapshots, &messages), 0, "%s", spectra_last_error(c));
    cr_assert_eq(snapshots, 1);
    cr_assert_eq(messages, 12);
    msgpack_unpacked up;
    const msgpack_object *req = last_request(&up);
    cr_assert(str_is(get(req, "op"), "save"));
    cr_assert(str_is(get(req, "stream"), "s"));
    msgpack_unpacked_destroy(&up);
    cr_assert_eq(spectra_save(c, NULL, &snapshots, &messages), 0, "%s", spectra_last_error(c));
    cr_assert_eq(snapshots, 3);
    cr_assert_eq(messages, 0, "no stream, no message number");
    req = last_request(&up);
    cr_assert_eq(req->via.map.size, 2, "{op, id}");
    msgpack_unpacked_destroy(&up);
    cr_assert_eq(spectra_save(c, "a.b", NULL, NULL), SPECTRA_EINVAL);

    spectra_stream_position p;
    cr_assert_eq(spectra_position(c, "s", &p), 0, "%s", spectra_last_error(c));
    cr_assert_str_eq(p.stream, "s");
    cr_assert_eq(p.durability, SPECTRA_DURABILITY_JOURNAL);
    cr_assert_eq(p.messages, 12);
    cr_assert(p.has_last_seq);
    cr_assert_eq(p.last_seq, 40);
    cr_assert_eq(p.applied_messages, 11);
    cr_assert_eq(p.durable_messages, 12);
    cr_assert(p.has_durable_seq);
    cr_assert_eq(p.durable_seq, 40);
    cr_assert_not(p.has_snapshot_messages, "nil");
    cr_assert_not(p.has_snapshot_seq, "nil");

    cr_assert_eq(spectra_position(c, "short", &p), SPECTRA_EPROTO);
    cr_assert_str_eq(spectra_last_error(c),
                     "position reply: \"applied_messages\" is missing or mistyped");
    cr_assert_eq(p.messages, 0, "cleared on failure");
    cr_assert_eq(spectra_position(c, "str", &p), SPECTRA_EPROTO);
    cr_assert_str_eq(spectra_last_error(c),
                     "position reply: \"durable_seq\" is missing or mistyped");
    cr_assert_eq(spectra_position(c, NULL, &p), SPECTRA_EINVAL);
    cr_assert_eq(spectra_position(c, "s", NULL), SPECTRA_EINVAL);

    cr_assert_eq(spectra_next_seq(c, "s"), 1);
    cr_assert_eq(spectra_set_next_seq(c, "s", 41), 0);
    cr_assert_eq(spectra_next_seq(c, "s"), 41);
    cr_assert_eq(spectra_set_next_seq(c, "s", 0), SPECTRA_EINVAL);
    spectra_close(c);
}

Test(control, get_result_ndarray)
{
    spectra_client *c = client_for(2000);
    spectra_msg *reply = NULL;
    cr_assert_eq(spectra_get(c, "s", "top", &reply), 0, "%s", spectra_last_error(c));
    uint64_t count;
    cr_assert_eq(spectra_msg_uint(reply, "result.count", &count), 0);
    cr_assert_eq(count, 1234);
    double *v;
    size_t shape[2], ndim;
    cr_assert_eq(spectra_msg_ndarray(reply, "result.result.vector", &v, shape, 2, &ndim), 0);
    cr_assert_eq(ndim, 1);
    cr_assert_eq(shape[0], 3);
    cr_assert_eq(v[0], 0.6);
    cr_assert_eq(v[1], 0.8);
    free(v);
    cr_assert_eq(spectra_msg_ndarray(reply, "result.result.vector", &v, shape, 0, &ndim),
                 SPECTRA_ERANGE);
    cr_assert_eq(spectra_msg_ndarray(reply, "result.count", &v, shape, 2, &ndim), SPECTRA_ETYPE);
    char *json;
    cr_assert_eq(spectra_msg_to_json(reply, 0, &json, NULL), 0);
    cr_assert(strstr(json, "\"vector\":[0.59999999999999998,0.80000000000000004,0]") != NULL, "%s",
              json);
    free(json);
    spectra_msg_free(reply);
    spectra_close(c);
}

Test(reply, status_decoding)
{
    const struct {
        const char *hex_desc;
        uint8_t bytes[64];
        size_t len;
        int want;
        const char *code, *message;
    } cases[] = {
        {"{ok: true}", {0x81, 0xa2, 'o', 'k', 0xc3}, 5, 0, "", ""},
        {"{ok: false, error: {code: exists, message: m}}",
         {0x82, 0xa2, 'o', 'k', 0xc2, 0xa5, 'e', 'r', 'r', 'o', 'r', 0x82, 0xa4, 'c', 'o', 'd', 'e',
          0xa6, 'e', 'x', 'i', 's', 't', 's', 0xa7, 'm', 'e', 's', 's', 'a', 'g', 'e', 0xa1, 'm'},
         34, SPECTRA_EDAEMON, "exists", "m"},
        {"{ok: false}", {0x81, 0xa2, 'o', 'k', 0xc2}, 5, SPECTRA_EPROTO, "", ""},
        {"{ok: 1}", {0x81, 0xa2, 'o', 'k', 0x01}, 5, SPECTRA_EPROTO, "", ""},
        {"[]", {0x90}, 1, SPECTRA_EPROTO, "", ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        spectra_msg *m;
        cr_assert_eq(spectra_msg_parse(cases[i].bytes, cases[i].len, &m), 0, "%s",
                     cases[i].hex_desc);
        char code[16] = "x", message[64] = "x";
        int rc = spectra_reply_status(m, code, sizeof code, message, sizeof message);
        cr_assert_eq(rc, cases[i].want, "%s: %d", cases[i].hex_desc, rc);
        cr_assert_str_eq(code, cases[i].code, "%s", cases[i].hex_desc);
        if (rc != SPECTRA_EPROTO)
            cr_assert_str_eq(message, cases[i].message, "%s", cases[i].hex_desc);
        spectra_msg_free(m);
    }
}

/* ---- ingest and results ------------------------------------------------------------------- */

static void *bind_any(void *ctx, int type, char *ep, size_t cap)
{
    void *s = zmq_socket(ctx, type);
    int linger = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    cr_assert_eq(zmq_bind(s, "tcp://127.0.0.1:*"), 0);
    zmq_getsockopt(s, ZMQ_LAST_ENDPOINT, ep, &cap);
    return s;
}

static size_t recv_frame(void *s, void *buf, size_t cap, int *more)
{
    int timeout = 5000;
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    int n = zmq_recv(s, buf, cap, 0);
    cr_assert_geq(n, 0, "no frame: %s", zmq_strerror(zmq_errno()));
    int m = 0;
    size_t sz = sizeof m;
    zmq_getsockopt(s, ZMQ_RCVMORE, &m, &sz);
    *more = m;
    return (size_t)n;
}

Test(ingest, frames_and_sequence_numbers)
{
    void *ctx = zmq_ctx_new();
    char ep[128];
    void *pull = bind_any(ctx, ZMQ_PULL, ep, sizeof ep);
    spectra_options o;
    spectra_options_init(&o);
    o.ingest = ep;
    spectra_client *c = spectra_connect(&o);

    const double rows[6] = {1, 2, 3, 4, 5, 6};
    const float rows32[3] = {1.5f, 2.5f, 3.5f};
    cr_assert_eq(spectra_next_seq(c, "s"), 1);
    cr_assert_eq(spectra_push_rows(c, "s", SPECTRA_F64, rows, 2, 3), 0, "%s",
                 spectra_last_error(c));
    cr_assert_eq(spectra_push_rows(c, "t", SPECTRA_F32, rows32, 1, 3), 0);
    cr_assert_eq(spectra_push_rows(c, "s", SPECTRA_F64, rows, 1, 3), 0);
    cr_assert_eq(spectra_push_end(c, "s", SPECTRA_ROWS, 3), 0);
    cr_assert_eq(spectra_next_seq(c, "s"), 4);
    cr_assert_eq(spectra_next_seq(c, "t"), 2);
    cr_assert_eq(spectra_push_rows(c, "s", SPECTRA_F64, NULL, 1, 3), SPECTRA_EINVAL);
    cr_assert_eq(spectra_next_seq(c, "s"), 4, "a refused message takes no number");
    cr_assert_eq(spectra_push_end(c, "b", SPECTRA_BLOCKS, 8), SPECTRA_EINVAL,
                 "a blocks stream ends with its last block");
    cr_assert(strstr(spectra_last_error(c), "last block") != NULL, "%s", spectra_last_error(c));

    struct {
        const char *stream;
        spectra_dtype dtype;
        size_t n;
        uint64_t seq;
        const void *data;
        int end;
    } want[] = {{"s", SPECTRA_F64, 2, 1, rows, 0},
                {"t", SPECTRA_F32, 1, 1, rows32, 0},
                {"s", SPECTRA_F64, 1, 2, rows, 0},
                {"s", SPECTRA_F64, 0, 3, NULL, 1}};
    for (size_t i = 0; i < 4; i++) {
        uint8_t hdr[256], expect_hdr[256], payload[256];
        int more;
        size_t hn = recv_frame(pull, hdr, sizeof hdr, &more);
        spectra_ingest m = {0};
        m.stream = want[i].stream;
        m.kind = SPECTRA_ROWS;
        m.dtype = want[i].dtype;
        m.shape[0] = want[i].n;
        m.shape[1] = 3;
        m.data = want[i].data;
        m.end = want[i].end;
        size_t en;
        cr_assert_eq(spectra_encode_header(&m, want[i].seq, expect_hdr, sizeof expect_hdr, &en), 0);
        cr_assert_eq(hn, en, "message %zu header length", i);
        cr_assert_eq(memcmp(hdr, expect_hdr, en), 0, "message %zu header", i);
        size_t bytes = want[i].n * 3 * spectra_dtype_size(want[i].dtype);
        cr_assert_eq(more, bytes > 0, "message %zu: payload frame iff elements", i);
        if (bytes) {
            size_t pn = recv_frame(pull, payload, sizeof payload, &more);
            cr_assert_eq(pn, bytes);
            cr_assert_eq(more, 0);
            cr_assert_eq(memcmp(payload, want[i].data, bytes), 0);
        }
    }
    spectra_close(c);
    zmq_close(pull);
    zmq_ctx_term(ctx);
}

Test(ingest, send_timeout_when_nobody_takes_messages)
{
    spectra_options o;
    spectra_options_init(&o);
    o.ingest = "tcp://127.0.0.1:1";
    o.send_hwm = 1;
    o.send_timeout_ms = 50;
    o.linger_ms = 0;
    spectra_client *c = spectra_connect(&o);
    const double row[2] = {1, 2};
    int rc = 0;
    for (int i = 0; i < 2000 && rc == 0; i++)
        rc = spectra_push_rows(c, "s", SPECTRA_F64, row, 1, 2);
    cr_assert_eq(rc, SPECTRA_ETIMEDOUT, "%s", spectra_last_error(c));
    cr_assert_str_eq(spectra_last_error(c),
                     "ingest: the daemon did not take the message within 50 ms");
    spectra_close(c);
}

static void publish(void *pub, const char *topic, uint64_t seq)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 2);
    pack_cstr(&pk, "v");
    msgpack_pack_uint64(&pk, 1);
    pack_cstr(&pk, "seq");
    msgpack_pack_uint64(&pk, seq);
    zmq_send(pub, topic, strlen(topic), ZMQ_SNDMORE);
    zmq_send(pub, sb.data, sb.size, 0);
    msgpack_sbuffer_destroy(&sb);
}

Test(results, subscribe_by_prefix)
{
    void *ctx = zmq_ctx_new();
    char ep[128];
    void *pub = bind_any(ctx, ZMQ_PUB, ep, sizeof ep);
    spectra_options o;
    spectra_options_init(&o);
    o.publish = ep;
    spectra_client *c = spectra_connect(&o);
    cr_assert_eq(spectra_subscribe(c, "s."), 0);

    char topic[SPECTRA_TOPIC_MAX + 1];
    spectra_msg *body = NULL;
    cr_assert_eq(spectra_recv_result(c, 20, topic, sizeof topic, &body), SPECTRA_ETIMEDOUT);
    /* Subscriptions travel asynchronously: publish until the first one arrives. */
    int rc = SPECTRA_ETIMEDOUT;
    for (int i = 0; i < 200 && rc == SPECTRA_ETIMEDOUT; i++) {
        publish(pub, "other.top", 1);
        publish(pub, "s.top", 7);
        rc = spectra_recv_result(c, 20, topic, sizeof topic, &body);
    }
    cr_assert_eq(rc, 0, "%s", spectra_last_error(c));
    cr_assert_str_eq(topic, "s.top", "'other.' is filtered out");
    uint64_t seq;
    cr_assert_eq(spectra_msg_uint(body, "seq", &seq), 0);
    cr_assert_eq(seq, 7);
    spectra_msg_free(body);

    /* A one-frame message is a protocol error and does not desynchronise the next receive. */
    zmq_send(pub, "s.bad", 5, 0);
    publish(pub, "s.top", 8);
    cr_assert_eq(spectra_recv_result(c, 2000, topic, sizeof topic, &body), SPECTRA_EPROTO);
    cr_assert_eq(spectra_recv_result(c, 2000, topic, sizeof topic, &body), 0);
    cr_assert_eq(spectra_msg_uint(body, "seq", &seq), 0);
    cr_assert_eq(seq, 8);
    spectra_msg_free(body);
    spectra_close(c);
    zmq_close(pub);
    zmq_ctx_term(ctx);
}
