/* Hostile and broken input on every socket: each is refused with a clear error (a control reply, or a
 * counter in stats plus a log line), the daemon keeps serving, and state already accepted is intact. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zmq.h>

#include "daemon_harness.h"

static void pack_str(msgpack_packer *pk, const char *s) { msgpack_pack_str_with_body(pk, s, strlen(s)); }

/* A rows header {v, stream, kind, dtype, shape:[n,d]}. */
static void rows_header(msgpack_sbuffer *sb, const char *stream, const char *dtype, uint64_t n,
                        uint64_t d)
{
    msgpack_packer pk;
    msgpack_sbuffer_init(sb);
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 5);
    pack_str(&pk, "v"); msgpack_pack_uint8(&pk, 1);
    pack_str(&pk, "stream"); pack_str(&pk, stream);
    pack_str(&pk, "kind"); pack_str(&pk, "rows");
    pack_str(&pk, "dtype"); pack_str(&pk, dtype);
    pack_str(&pk, "shape"); msgpack_pack_array(&pk, 2);
    msgpack_pack_uint64(&pk, n); msgpack_pack_uint64(&pk, d);
}

static void *push_socket(spx_daemon_proc *d)
{
    void *push = zmq_socket(d->zctx, ZMQ_PUSH);
    int linger = 5000;
    zmq_setsockopt(push, ZMQ_LINGER, &linger, sizeof linger);
    cr_assert_eq(zmq_connect(push, d->ingest), 0);
    return push;
}

static void send_frames(void *push, const void *a, size_t alen, const void *b, size_t blen)
{
    if (b) {
        cr_assert_geq(zmq_send(push, a, alen, ZMQ_SNDMORE), 0);
        cr_assert_geq(zmq_send(push, b, blen, 0), 0);
    } else {
        cr_assert_geq(zmq_send(push, a, alen, 0), 0);
    }
}

static double stat_at(spx_daemon_proc *d, const char *const *path)
{
    msgpack_unpacked r;
    cr_assert_eq(spx_ctl_simple(d, "stats", NULL, NULL, &r), 0);
    double v = spx_reply_number(&r.data, path);
    msgpack_unpacked_destroy(&r);
    return v;
}

/* Polls stats until ingest.messages + ingest.rejected reaches `total` (ingest is asynchronous). */
static void wait_ingested(spx_daemon_proc *d, double total)
{
    static const char *const msgs[] = {"ingest", "messages", NULL};
    static const char *const rej[] = {"ingest", "rejected", NULL};
    for (int i = 0; i < 300; i++) {
        if (stat_at(d, msgs) + stat_at(d, rej) >= total)
            return;
        usleep(20000);
    }
    cr_assert_fail("daemon did not take %g ingest messages", total);
}

static void ctl_expect_error(spx_daemon_proc *d, const void *body, size_t len, const char *code)
{
    msgpack_unpacked r;
    cr_assert_eq(spx_ctl_raw(d, body, len, &r, 10000), 0, "no reply (expected %s)", code);
    char got[64];
    cr_assert_not(spx_reply_ok(&r, got, sizeof got), "expected error %s, got ok", code);
    if (strcmp(got, code) != 0)
        msgpack_object_print(stderr, r.data);
    cr_assert_str_eq(got, code);
    msgpack_unpacked_destroy(&r);
}

static void ctl_expect_ok(spx_daemon_proc *d, const char *op, const char *stream,
                          const char *pipeline)
{
    msgpack_unpacked r;
    char code[64];
    cr_assert_eq(spx_ctl_simple(d, op, stream, pipeline, &r), 0);
    cr_assert(spx_reply_ok(&r, code, sizeof code), "%s failed: %s", op, code);
    msgpack_unpacked_destroy(&r);
}

Test(bad_input, ingest_refuses_each_kind_of_bad_message_and_keeps_state, .timeout = 240)
{
    spx_daemon_proc d;
    spx_daemon_start(&d, NULL);
    void *push = push_socket(&d);
    msgpack_sbuffer h;
    double good[6] = {1, 2, 3, 4, 5, 6};

    /* A valid message first: stream s (rows, d = 3) with 2 rows. */
    rows_header(&h, "s", "f64", 2, 3);
    send_frames(push, h.data, h.size, good, sizeof good);
    msgpack_sbuffer_destroy(&h);
    wait_ingested(&d, 1);

    static const char garbage[] = "\x13\x37 this is not msgpack at all \xc1\xff";
    static const unsigned char bomb[] = {0xdd, 0x00, 0xff, 0xff, 0xff};
    send_frames(push, garbage, sizeof garbage - 1, NULL, 0);                  /* bad_msgpack */
    send_frames(push, bomb, sizeof bomb, NULL, 0);                            /* bad_msgpack */
    rows_header(&h, "s", "f64", 2, 3);
    send_frames(push, h.data, h.size - 3, good, sizeof good);                 /* truncated */
    send_frames(push, h.data, h.size, good, sizeof good - 8);                 /* bad_length */
    double nan_rows[6] = {1, 2, NAN, 4, 5, 6};
    send_frames(push, h.data, h.size, nan_rows, sizeof nan_rows);             /* not_finite */
    double inf_rows[6] = {1, 2, 3, 4, 5, INFINITY};
    send_frames(push, h.data, h.size, inf_rows, sizeof inf_rows);             /* not_finite */
    cr_assert_geq(zmq_send(push, h.data, h.size, ZMQ_SNDMORE), 0);            /* 3 frames */
    cr_assert_geq(zmq_send(push, good, sizeof good, ZMQ_SNDMORE), 0);
    cr_assert_geq(zmq_send(push, good, sizeof good, 0), 0);
    msgpack_sbuffer_destroy(&h);
    rows_header(&h, "s", "f64", 3, 2);                                        /* shape_mismatch */
    send_frames(push, h.data, h.size, good, sizeof good);
    msgpack_sbuffer_destroy(&h);
    rows_header(&h, "bad.name", "f64", 2, 3);                                 /* bad_name */
    send_frames(push, h.data, h.size, good, sizeof good);
    msgpack_sbuffer_destroy(&h);
    rows_header(&h, "s", "f16", 2, 3);                                        /* bad_header */
    send_frames(push, h.data, h.size, good, sizeof good);
    msgpack_sbuffer_destroy(&h);
    char *big = calloc(1, 70000);                                             /* header > 64 KiB */
    send_frames(push, big, 70000, NULL, 0);
    free(big);

    wait_ingested(&d, 12);
    static const char *const p_bad_msgpack[] = {"ingest", "errors", "bad_msgpack", NULL};
    static const char *const p_bad_length[] = {"ingest", "errors", "bad_length", NULL};
    static const char *const p_not_finite[] = {"ingest", "errors", "not_finite", NULL};
    static const char *const p_bad_frame[] = {"ingest", "errors", "bad_frame", NULL};
    static const char *const p_shape[] = {"ingest", "errors", "shape_mismatch", NULL};
    static const char *const p_name[] = {"ingest", "errors", "bad_name", NULL};
    static const char *const p_header[] = {"ingest", "errors", "bad_header", NULL};
    static const char *const p_rejected[] = {"ingest", "rejected", NULL};
    static const char *const p_stream_rej[] = {"streams", "s", "rejected", NULL};
    static const char *const p_stream_count[] = {"streams", "s", "count", NULL};
    cr_expect_eq(stat_at(&d, p_bad_msgpack), 3, "garbage, bomb, truncated");
    cr_expect_eq(stat_at(&d, p_bad_length), 1);
    cr_expect_eq(stat_at(&d, p_not_finite), 2);
    cr_expect_eq(stat_at(&d, p_bad_frame), 2, "3 frames, oversized header");
    cr_expect_eq(stat_at(&d, p_shape), 1);
    cr_expect_eq(stat_at(&d, p_name), 1);
    cr_expect_eq(stat_at(&d, p_header), 1);
    cr_expect_eq(stat_at(&d, p_rejected), 11);
    cr_expect_eq(stat_at(&d, p_stream_rej), 4, "length, 2 x finite, shape are known to stream s");
    cr_expect_eq(stat_at(&d, p_stream_count), 2, "only the valid rows were accepted");
    cr_expect(spx_daemon_log_contains(&d, "rejected (not_finite)"));
    cr_expect(spx_daemon_log_contains(&d, "rejected (bad_msgpack)"));

    /* Still serving: another valid message is accepted. */
    rows_header(&h, "s", "f64", 2, 3);
    send_frames(push, h.data, h.size, good, sizeof good);
    msgpack_sbuffer_destroy(&h);
    wait_ingested(&d, 13);
    cr_expect_eq(stat_at(&d, p_stream_count), 4);
    zmq_close(push);
    cr_assert_eq(spx_daemon_stop(&d), 0, "daemon must exit cleanly");
}

Test(bad_input, control_answers_every_bad_request_with_an_error, .timeout = 240)
{
    spx_daemon_proc d;
    spx_daemon_start(&d, NULL);
    static const char garbage[] = "\xc1\xc1\xc1 garbage";
    static const unsigned char bomb[] = {0xdf, 0xff, 0xff, 0xff, 0xff};
    static const unsigned char array[] = {0x91, 0x01};                    /* [1] */
    static const char no_op[] = "\x81\xa1x\x01";                          /* {x: 1} */
    static const char unknown_op[] = "\x81\xa2op\xa4nope";                /* {op: "nope"} */
    static const char drop_missing[] = "\x81\xa2op\xa4" "drop";           /* no stream */
    ctl_expect_error(&d, garbage, sizeof garbage - 1, "bad_request");
    ctl_expect_error(&d, bomb, sizeof bomb, "bad_request");
    ctl_expect_error(&d, array, sizeof array, "bad_request");
    ctl_expect_error(&d, no_op, sizeof no_op - 1, "bad_request");
    ctl_expect_error(&d, unknown_op, sizeof unknown_op - 1, "unknown_op");
    ctl_expect_error(&d, drop_missing, sizeof drop_missing - 1, "bad_request");

    msgpack_unpacked r;
    char code[64];
    cr_assert_eq(spx_ctl_simple(&d, "drop", "nosuch", NULL, &r), 0);
    cr_assert_not(spx_reply_ok(&r, code, sizeof code));
    cr_assert_str_eq(code, "unknown_stream");
    msgpack_unpacked_destroy(&r);
    cr_assert_eq(spx_ctl_simple(&d, "get", "nosuch", "p", &r), 0);
    cr_assert_not(spx_reply_ok(&r, code, sizeof code));
    cr_assert_str_eq(code, "unknown_stream");
    msgpack_unpacked_destroy(&r);

    /* attach with an unknown algorithm and with a bad parameter. */
    static const char create[] = "\x84\xa2op\xa6" "create\xa6stream\xa1s\xa4kind\xa4rows\xa3" "dim\x03";
    msgpack_unpacked ok;
    cr_assert_eq(spx_ctl_raw(&d, create, sizeof create - 1, &ok, 10000), 0);
    cr_assert(spx_reply_ok(&ok, code, sizeof code), "create: %s", code);
    msgpack_unpacked_destroy(&ok);
    static const char attach_algo[] =
        "\x84\xa2op\xa6" "attach\xa6stream\xa1s\xa8pipeline\xa1p\xa4" "algo\xa4nope";
    ctl_expect_error(&d, attach_algo, sizeof attach_algo - 1, "unknown_algo");
    static const char attach_param[] =
        "\x85\xa2op\xa6" "attach\xa6stream\xa1s\xa8pipeline\xa1p\xa4" "algo\xa6topeig"
        "\xa6params\x81\xa6method\xa5magic";
    ctl_expect_error(&d, attach_param, sizeof attach_param - 1, "bad_param");
    static const char create_again[] = "\x84\xa2op\xa6" "create\xa6stream\xa1s\xa4kind\xa4rows\xa3" "dim\x03";
    ctl_expect_error(&d, create_again, sizeof create_again - 1, "exists");

    /* An oversized request (2 MiB string) is refused, not unpacked. */
    size_t big_len = 2u << 20;
    unsigned char *big = malloc(big_len + 16);
    size_t off = 0;
    big[off++] = 0x81;
    big[off++] = 0xa2; big[off++] = 'o'; big[off++] = 'p';
    big[off++] = 0xdb;
    uint32_t n = htonl((uint32_t)big_len);
    memcpy(big + off, &n, 4);
    off += 4;
    memset(big + off, 'a', big_len);
    ctl_expect_error(&d, big, off + big_len, "bad_request");
    free(big);

    /* Too many frames: no usable envelope, dropped and counted; the socket keeps working. */
    for (int i = 0; i < 6; i++)
        zmq_send(d.ctl, "x", 1, ZMQ_SNDMORE);
    zmq_send(d.ctl, "x", 1, 0);
    ctl_expect_ok(&d, "ping", NULL, NULL);
    static const char *const p_ctl_err[] = {"control", "errors", NULL};
    cr_expect_eq(stat_at(&d, p_ctl_err), 13, "12 bad requests and one bad envelope");
    cr_assert_eq(spx_daemon_stop(&d), 0);
}

/* Raw TCP garbage (not even ZMTP) on each of the three ports: the connection is refused by ZeroMQ's
 * handshake and the daemon carries on. */
Test(bad_input, garbage_bytes_on_every_port_do_not_hurt, .timeout = 240)
{
    spx_daemon_proc d;
    spx_daemon_start(&d, NULL);
    const char *eps[3] = {d.ingest, d.publish, d.control};
    unsigned char junk[4096];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (unsigned char)(i * 2654435761u >> 13);
    for (int e = 0; e < 3; e++) {
        int port = atoi(strrchr(eps[e], ':') + 1);
        for (int rep = 0; rep < 5; rep++) {
            int fd = socket(AF_INET, SOCK_STREAM, 0);
            struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                                    .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
            cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
            ssize_t w = write(fd, junk, sizeof junk);
            (void)w;
            close(fd);
        }
    }
    usleep(200000);
    ctl_expect_ok(&d, "ping", NULL, NULL);
    ctl_expect_ok(&d, "stats", NULL, NULL);
    cr_assert_eq(spx_daemon_stop(&d), 0);
}

Test(bad_input, unknown_stream_is_refused_when_auto_create_is_off, .timeout = 120)
{
    spx_daemon_proc d;
    static const char *const args[] = {"--no-auto-create", NULL};
    spx_daemon_start(&d, args);
    void *push = push_socket(&d);
    msgpack_sbuffer h;
    double rows[3] = {1, 2, 3};
    rows_header(&h, "ghost", "f64", 1, 3);
    send_frames(push, h.data, h.size, rows, sizeof rows);
    msgpack_sbuffer_destroy(&h);
    wait_ingested(&d, 1);
    static const char *const p[] = {"ingest", "errors", "unknown_stream", NULL};
    cr_assert_eq(stat_at(&d, p), 1);
    zmq_close(push);
    cr_assert_eq(spx_daemon_stop(&d), 0);
}

Test(bad_input, oversized_payloads_are_refused_or_dropped_and_serving_goes_on, .timeout = 120)
{
    char cfg_path[] = "/tmp/spectrad-cfg-XXXXXX";
    int fd = mkstemp(cfg_path);
    cr_assert_geq(fd, 0);
    static const char cfg[] = "[spectrad]\nmax_message_bytes = 1M\n";
    cr_assert_eq(write(fd, cfg, sizeof cfg - 1), (ssize_t)(sizeof cfg - 1));
    close(fd);
    spx_daemon_proc d;
    const char *const args[] = {"--config", cfg_path, NULL};
    spx_daemon_start(&d, args);
    void *push = push_socket(&d);
    size_t n_rows = 1536 * 1024 / 8 / 4;          /* 1.5 MiB of f64 rows of dimension 4 */
    double *rows = calloc(n_rows * 4, sizeof *rows);
    msgpack_sbuffer h;
    rows_header(&h, "big", "f64", n_rows, 4);
    send_frames(push, h.data, h.size, rows, n_rows * 4 * sizeof *rows);
    msgpack_sbuffer_destroy(&h);
    wait_ingested(&d, 1);
    static const char *const p_large[] = {"ingest", "errors", "too_large", NULL};
    cr_assert_eq(stat_at(&d, p_large), 1);
    cr_assert(spx_daemon_log_contains(&d, "exceeds max_message_bytes"));

    /* 3 MiB: over the hard limit; ZeroMQ drops that producer's connection. */
    void *push2 = push_socket(&d);
    size_t huge_rows = 3 * n_rows;
    double *huge = calloc(huge_rows * 4, sizeof *huge);
    rows_header(&h, "big", "f64", huge_rows, 4);
    send_frames(push2, h.data, h.size, huge, huge_rows * 4 * sizeof *huge);
    msgpack_sbuffer_destroy(&h);
    usleep(300000);
    ctl_expect_ok(&d, "ping", NULL, NULL);
    /* A small valid message from the first producer still gets through. */
    rows_header(&h, "big", "f64", 1, 4);
    send_frames(push, h.data, h.size, rows, 4 * sizeof *rows);
    msgpack_sbuffer_destroy(&h);
    wait_ingested(&d, 2);
    static const char *const p_msgs[] = {"ingest", "messages", NULL};
    cr_assert_eq(stat_at(&d, p_msgs), 1);
    free(rows);
    free(huge);
    int zero = 0;
    zmq_setsockopt(push2, ZMQ_LINGER, &zero, sizeof zero);
    zmq_close(push2);
    zmq_close(push);
    unlink(cfg_path);
    cr_assert_eq(spx_daemon_stop(&d), 0);
}

/* `get` with a detail and `call` reach the pipeline's named operations, in order with its inputs;
 * names the algorithm does not have are refused with unknown_op, and every request is answered. */
Test(bad_input, pipeline_operations_unknown_to_the_algorithm_are_refused, .timeout = 120)
{
    spx_daemon_proc d;
    spx_daemon_start(&d, NULL);
    static const char create[] = "\x84\xa2op\xa6" "create\xa6stream\xa1s\xa4kind\xa4rows\xa3" "dim\x03";
    static const char attach[] =
        "\x84\xa2op\xa6" "attach\xa6stream\xa1s\xa8pipeline\xa1p\xa4" "algo\xa6topeig";
    msgpack_unpacked r;
    char code[64];
    cr_assert_eq(spx_ctl_raw(&d, create, sizeof create - 1, &r, 10000), 0);
    cr_assert(spx_reply_ok(&r, code, sizeof code));
    msgpack_unpacked_destroy(&r);
    cr_assert_eq(spx_ctl_raw(&d, attach, sizeof attach - 1, &r, 10000), 0);
    cr_assert(spx_reply_ok(&r, code, sizeof code));
    msgpack_unpacked_destroy(&r);
    static const char detail[] =
        "\x84\xa2op\xa3get\xa6stream\xa1s\xa8pipeline\xa1p\xa6" "detail\xa7nothing";
    ctl_expect_error(&d, detail, sizeof detail - 1, "unknown_op");
    static const char call[] = "\x85\xa2op\xa4" "call\xa6stream\xa1s\xa8pipeline\xa1p\xa6method"
                               "\xa3" "fit\xa4" "args\x81\xa1k\x01";
    ctl_expect_error(&d, call, sizeof call - 1, "unknown_op");
    static const char call_no_method[] = "\x83\xa2op\xa4" "call\xa6stream\xa1s\xa8pipeline\xa1p";
    ctl_expect_error(&d, call_no_method, sizeof call_no_method - 1, "bad_request");
    static const char call_bad_args[] = "\x85\xa2op\xa4" "call\xa6stream\xa1s\xa8pipeline\xa1p"
                                        "\xa6method\xa3" "fit\xa4" "args\x01";
    ctl_expect_error(&d, call_bad_args, sizeof call_bad_args - 1, "bad_request");
    ctl_expect_ok(&d, "get", "s", "p");
    cr_assert_eq(spx_daemon_stop(&d), 0);
}

/* Channel names and units are declared at creation: all or nothing. */
static void pack_create_series(msgpack_sbuffer *sb, const char *stream, unsigned dim,
                               const char *const *units, unsigned n_units)
{
    msgpack_packer pk;
    msgpack_sbuffer_init(sb);
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 6);
    pack_str(&pk, "op"); pack_str(&pk, "create");
    pack_str(&pk, "stream"); pack_str(&pk, stream);
    pack_str(&pk, "kind"); pack_str(&pk, "series");
    pack_str(&pk, "dim"); msgpack_pack_uint32(&pk, dim);
    pack_str(&pk, "rate"); msgpack_pack_double(&pk, 160.0);
    pack_str(&pk, "channel_units");
    msgpack_pack_array(&pk, n_units);
    for (unsigned i = 0; i < n_units; i++)
        pack_str(&pk, units[i]);
}

Test(bad_input, channel_units_are_declared_all_or_nothing, .timeout = 120)
{
    spx_daemon_proc d;
    spx_daemon_start(&d, NULL);
    static const char *const units[3] = {"uV", "uV", "mV"};
    msgpack_sbuffer sb;
    pack_create_series(&sb, "short", 3, units, 2);
    ctl_expect_error(&d, sb.data, sb.size, "bad_request");
    msgpack_sbuffer_destroy(&sb);
    pack_create_series(&sb, "eeg", 3, units, 3);
    msgpack_unpacked r;
    char code[64];
    cr_assert_eq(spx_ctl_raw(&d, sb.data, sb.size, &r, 10000), 0);
    cr_assert(spx_reply_ok(&r, code, sizeof code), "%s", code);
    msgpack_unpacked_destroy(&r);
    msgpack_sbuffer_destroy(&sb);
    cr_assert_eq(spx_ctl_simple(&d, "list", NULL, NULL, &r), 0);
    const msgpack_object *streams = NULL;
    for (uint32_t i = 0; i < r.data.via.map.size; i++)
        if (r.data.via.map.ptr[i].key.via.str.size == 7 &&
            !memcmp(r.data.via.map.ptr[i].key.via.str.ptr, "streams", 7))
            streams = &r.data.via.map.ptr[i].val;
    cr_assert(streams && streams->type == MSGPACK_OBJECT_ARRAY);
    cr_assert_eq(streams->via.array.size, 1, "the refused create left no stream behind");
    const msgpack_object *s = &streams->via.array.ptr[0];
    const msgpack_object *got = NULL;
    for (uint32_t i = 0; i < s->via.map.size; i++)
        if (s->via.map.ptr[i].key.via.str.size == 13 &&
            !memcmp(s->via.map.ptr[i].key.via.str.ptr, "channel_units", 13))
            got = &s->via.map.ptr[i].val;
    cr_assert(got && got->type == MSGPACK_OBJECT_ARRAY && got->via.array.size == 3);
    for (unsigned i = 0; i < 3; i++)
        cr_assert(got->via.array.ptr[i].via.str.size == strlen(units[i]) &&
                  !memcmp(got->via.array.ptr[i].via.str.ptr, units[i], strlen(units[i])));
    msgpack_unpacked_destroy(&r);
    cr_assert_eq(spx_daemon_stop(&d), 0);
}
