/* The spectra command line, run as a child process against a stand-in daemon (ROUTER answering
 * ping/list/stats, PULL recording ingest frames, PUB for results): exit codes, one-line errors,
 * what `push` puts on the wire, and the JSON lines of `sub`. */
#include "cli_stand_in.h"

TestSuite(cli, .init = setup, .fini = teardown, .timeout = 60);

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
