/* CURVE with a ZAP allow-list per role: a real spectrad with keys from `spectra_keygen`, allow-list
 * directories for producers (ingest), subscribers (results) and operators (control), and clients
 * through libspectra. Unknown keys, keys of another role and plain clients are refused on every
 * socket and the refusals counted; allowed keys work; a key added on SIGHUP works without a
 * restart while connected clients stay connected. */
#include <criterion/criterion.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "daemon_harness.h"
#include "spectra.h"

typedef struct curve_env {
    char dir[64];
    char conf[128];
    spx_daemon_proc d;
} curve_env;

static void path_of(const curve_env *e, const char *name, const char *suffix, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%s%s", e->dir, name, suffix);
}

static void keygen(const curve_env *e, const char *name)
{
    char base[128], err[512];
    path_of(e, name, "", base, sizeof base);
    cr_assert_eq(spectra_keygen(base, err, sizeof err), 0, "%s", err);
}

/* Copies NAME.key (the public file) into an allow-list directory. */
static void allow(const curve_env *e, const char *name, const char *dir)
{
    char src[128], dst[160], text[1024];
    path_of(e, name, ".key", src, sizeof src);
    snprintf(dst, sizeof dst, "%s/%s/%s.key", e->dir, dir, name);
    FILE *f = fopen(src, "r");
    cr_assert_not_null(f);
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    spx_write_file(dst, text);
}

static void setup_env(curve_env *e)
{
    snprintf(e->dir, sizeof e->dir, "/tmp/spectrad-curve-XXXXXX");
    cr_assert_not_null(mkdtemp(e->dir));
    const char *names[] = {"server", "producer", "subscriber", "operator", "stranger"};
    for (size_t i = 0; i < 5; i++)
        keygen(e, names[i]);
    const char *dirs[] = {"producers", "subscribers", "operators"};
    for (size_t i = 0; i < 3; i++) {
        char p[128];
        path_of(e, dirs[i], "", p, sizeof p);
        cr_assert_eq(mkdir(p, 0755), 0);
    }
    allow(e, "producer", "producers");
    allow(e, "subscriber", "subscribers");
    allow(e, "operator", "operators");
    path_of(e, "spectrad", ".conf", e->conf, sizeof e->conf);
    char text[1024];
    snprintf(text, sizeof text,
             "[spectrad]\ncurve_secret_key = %s/server.key_secret\nproducer_keys = %s/producers\n"
             "subscriber_keys = %s/subscribers\noperator_keys = %s/operators\n",
             e->dir, e->dir, e->dir, e->dir);
    spx_write_file(e->conf, text);

    spx_daemon_keys keys;
    char err[512], path[128];
    path_of(e, "server", ".key", path, sizeof path);
    cr_assert_eq(spectra_key_read(path, keys.server_public, NULL, err, sizeof err), 0, "%s", err);
    path_of(e, "operator", ".key_secret", path, sizeof path);
    cr_assert_eq(spectra_key_read(path, keys.client_public, keys.client_secret, err, sizeof err), 0,
                 "%s", err);
    const char *const args[] = {"--config", e->conf, NULL};
    spx_daemon_start_keys(&e->d, args, &keys);
}

static void teardown_env(curve_env *e)
{
    cr_assert_eq(spx_daemon_stop(&e->d), 0, "clean exit");
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", e->dir);
    cr_assert_eq(system(cmd), 0);
}

/* A client with `who`'s secret key (NULL: no CURVE at all). */
static spectra_client *client_as(const curve_env *e, const char *who, int timeout_ms)
{
    char server[128], secret[128];
    spectra_options o;
    spectra_options_init(&o);
    o.control = e->d.control;
    o.ingest = e->d.ingest;
    o.publish = e->d.publish;
    o.timeout_ms = timeout_ms;
    o.send_timeout_ms = timeout_ms;
    o.linger_ms = 0;
    if (who) {
        path_of(e, "server", ".key", server, sizeof server);
        path_of(e, who, ".key_secret", secret, sizeof secret);
        o.server_key = server;
        o.client_key = secret;
    }
    spectra_client *c = spectra_connect(&o);
    cr_assert_not_null(c);
    return c;
}

static double stat_at(spectra_client *op, const char *path)
{
    spectra_msg *reply;
    cr_assert_eq(spectra_stats(op, &reply), 0, "%s", spectra_last_error(op));
    double v = NAN;
    spectra_msg_double(reply, path, &v);
    spectra_msg_free(reply);
    return v;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Waits up to 10 s for a stats counter to reach at least `want`; returns its last value. */
static double wait_stat(spectra_client *op, const char *path, double want)
{
    double v = NAN;
    for (int i = 0; i < 200; i++) {
        v = stat_at(op, path);
        if (v >= want)
            break;
        sleep_ms(50);
    }
    return v;
}

static void make_stream(spectra_client *op)
{
    cr_assert_eq(spectra_create(op, "s", SPECTRA_ROWS, 3, 0, NULL, 0), 0, "%s",
                 spectra_last_error(op));
    cr_assert_eq(spectra_attach(op, "s", "p", "topeig", NULL, 0, 1, -1), 0, "%s",
                 spectra_last_error(op));
}

static const double rows[6] = {1, 2, 3, 4, 5, 7};

/* A SUB misses what is published before its subscription reaches the daemon: push until a result
 * arrives (or 10 s pass). Returns the number of messages pushed, 0 when `sub` received nothing. */
static int push_until_received(spectra_client *producer, spectra_client *sub)
{
    for (int i = 1; i <= 50; i++) {
        cr_assert_eq(spectra_push_rows(producer, "s", SPECTRA_F64, rows, 2, 3), 0, "%s",
                     spectra_last_error(producer));
        char topic[SPECTRA_TOPIC_MAX + 1];
        spectra_msg *body;
        if (spectra_recv_result(sub, 200, topic, sizeof topic, &body) == 0) {
            cr_assert_str_eq(topic, "s.p");
            spectra_msg_free(body);
            return i;
        }
    }
    return 0;
}

Test(curve, unknown_key_refused_on_every_socket_allowed_keys_work, .timeout = 120)
{
    curve_env e;
    setup_env(&e);
    spectra_client *op = client_as(&e, "operator", 30000);
    spectra_client *stranger = client_as(&e, "stranger", 500);
    make_stream(op);

    /* control: no answer for an unknown key, and the refusal is counted */
    cr_assert_eq(spectra_ping(stranger, NULL), SPECTRA_ETIMEDOUT);
    cr_assert_geq(wait_stat(op, "auth.failures.control", 1), 1);

    /* ingest: the stranger's rows never reach the stream */
    int rc = spectra_push_rows(stranger, "s", SPECTRA_F64, rows, 2, 3);
    cr_assert(rc == 0 || rc == SPECTRA_ETIMEDOUT, "%s", spectra_last_error(stranger));
    cr_assert_geq(wait_stat(op, "auth.failures.ingest", 1), 1);

    /* results: the allowed subscriber gets results, the stranger nothing */
    cr_assert_eq(spectra_subscribe(stranger, ""), 0);
    spectra_client *sub = client_as(&e, "subscriber", 5000);
    cr_assert_eq(spectra_subscribe(sub, ""), 0);
    spectra_client *producer = client_as(&e, "producer", 5000);
    int pushed = push_until_received(producer, sub);
    cr_assert_gt(pushed, 0, "the allowed subscriber received a result");
    char topic[SPECTRA_TOPIC_MAX + 1];
    spectra_msg *body = NULL;
    cr_assert_eq(spectra_recv_result(stranger, 500, topic, sizeof topic, &body), SPECTRA_ETIMEDOUT);
    cr_assert_geq(wait_stat(op, "auth.failures.results", 1), 1);

    /* exactly the producer's messages were applied, not the stranger's */
    cr_assert_eq(stat_at(op, "streams.s.messages"), pushed);
    cr_assert_eq(stat_at(op, "streams.s.count"), 2 * pushed);
    spectra_msg *stats;
    int curve_on = 0;
    cr_assert_eq(spectra_stats(op, &stats), 0);
    cr_assert_eq(spectra_msg_bool(stats, "auth.curve", &curve_on), 0);
    cr_assert(curve_on);
    spectra_msg_free(stats);
    cr_assert_eq(stat_at(op, "auth.keys.control"), 1);

    /* the refusal is logged with the key's Z85 prefix */
    char path[128], pub[SPECTRA_KEY_Z85_LEN + 1], needle[64];
    path_of(&e, "stranger", ".key", path, sizeof path);
    cr_assert_eq(spectra_key_read(path, pub, NULL, NULL, 0), 0);
    snprintf(needle, sizeof needle, "refused key %.8s", pub);
    cr_assert(spx_daemon_log_contains(&e.d, needle), "log names %s", needle);
    cr_assert(spx_daemon_log_contains(&e.d, "sockets use CURVE"));

    spectra_close(stranger);
    spectra_close(sub);
    spectra_close(producer);
    spectra_close(op);
    teardown_env(&e);
}

Test(curve, keys_of_other_roles_are_refused, .timeout = 120)
{
    curve_env e;
    setup_env(&e);
    spectra_client *op = client_as(&e, "operator", 30000);
    make_stream(op);
    double before = stat_at(op, "auth.failures.control");

    /* a producer key cannot use control ops, nor a subscriber key */
    spectra_client *producer = client_as(&e, "producer", 500);
    cr_assert_eq(spectra_create(producer, "x", SPECTRA_ROWS, 2, 0, NULL, 0), SPECTRA_ETIMEDOUT);
    spectra_client *sub = client_as(&e, "subscriber", 500);
    cr_assert_eq(spectra_drop(sub, "s"), SPECTRA_ETIMEDOUT);
    cr_assert_geq(wait_stat(op, "auth.failures.control", before + 2), before + 2);
    spectra_msg *reply;
    cr_assert_eq(spectra_list(op, &reply), 0);
    size_t n = 0;
    cr_assert_eq(spectra_msg_size(reply, "streams", &n), 0);
    cr_assert_eq(n, 1, "no stream created by the producer, none dropped by the subscriber");
    spectra_msg_free(reply);

    /* a subscriber key cannot push, an operator key cannot push either */
    int rc = spectra_push_rows(sub, "s", SPECTRA_F64, rows, 2, 3);
    cr_assert(rc == 0 || rc == SPECTRA_ETIMEDOUT);
    cr_assert_geq(wait_stat(op, "auth.failures.ingest", 1), 1);
    rc = spectra_push_rows(op, "s", SPECTRA_F64, rows, 2, 3);
    cr_assert(rc == 0 || rc == SPECTRA_ETIMEDOUT);
    cr_assert_geq(wait_stat(op, "auth.failures.ingest", 2), 2);
    cr_assert_eq(stat_at(op, "streams.s.messages"), 0);

    spectra_close(producer);
    spectra_close(sub);
    spectra_close(op);
    teardown_env(&e);
}

Test(curve, key_added_on_sighup_works_without_restart, .timeout = 120)
{
    curve_env e;
    setup_env(&e);
    spectra_client *op = client_as(&e, "operator", 30000);
    make_stream(op);
    /* connected before the reload: must stay connected through it */
    spectra_client *sub = client_as(&e, "subscriber", 5000);
    cr_assert_eq(spectra_subscribe(sub, ""), 0);
    spectra_client *producer = client_as(&e, "producer", 5000);
    cr_assert_gt(push_until_received(producer, sub), 0);

    keygen(&e, "newop");
    spectra_client *newop = client_as(&e, "newop", 500);
    cr_assert_eq(spectra_ping(newop, NULL), SPECTRA_ETIMEDOUT, "not allowed yet");
    allow(&e, "newop", "operators");
    pid_t pid = e.d.pid;
    cr_assert_eq(kill(pid, SIGHUP), 0);
    for (int i = 0; i < 200 && stat_at(op, "auth.keys.control") < 2; i++)
        sleep_ms(50);
    cr_assert_eq(stat_at(op, "auth.keys.control"), 2);
    cr_assert_eq(spectra_set_timeout(newop, 10000), 0);
    cr_assert_eq(spectra_ping(newop, NULL), 0, "%s", spectra_last_error(newop));
    cr_assert_eq(e.d.pid, pid);
    cr_assert(spx_daemon_log_contains(&e.d, "reload: allow-lists: 1 producer, 1 subscriber, 2 operator"));

    /* the subscriber and producer connected before the reload still work */
    double before = stat_at(op, "streams.s.messages");
    cr_assert_eq(spectra_push_rows(producer, "s", SPECTRA_F64, rows, 2, 3), 0);
    char topic[SPECTRA_TOPIC_MAX + 1];
    spectra_msg *body = NULL;
    int got = 0;
    for (int i = 0; i < 50 && !got; i++)
        got = spectra_recv_result(sub, 200, topic, sizeof topic, &body) == 0;
    cr_assert(got, "the subscriber was not dropped by the reload");
    spectra_msg_free(body);
    cr_assert_geq(wait_stat(op, "streams.s.messages", before + 1), before + 1);

    /* a broken key file on reload keeps the lists as they were */
    char bad[160];
    snprintf(bad, sizeof bad, "%s/operators/broken.key", e.dir);
    spx_write_file(bad, "curve\n    public-key = \"tooshort\"\n");
    cr_assert_eq(kill(pid, SIGHUP), 0);
    for (int i = 0; i < 200 && !spx_daemon_log_contains(&e.d, "the allow-lists are unchanged"); i++)
        sleep_ms(50);
    cr_assert(spx_daemon_log_contains(&e.d, "broken.key:2: public-key: 8 characters"));
    cr_assert_eq(spectra_ping(newop, NULL), 0, "still allowed: %s", spectra_last_error(newop));

    spectra_close(newop);
    spectra_close(producer);
    spectra_close(sub);
    spectra_close(op);
    teardown_env(&e);
}

Test(curve, plain_clients_are_refused, .timeout = 120)
{
    curve_env e;
    setup_env(&e);
    spectra_client *op = client_as(&e, "operator", 30000);
    make_stream(op);

    spectra_client *plain = client_as(&e, NULL, 500);
    cr_assert_eq(spectra_ping(plain, NULL), SPECTRA_ETIMEDOUT);
    int rc = spectra_push_rows(plain, "s", SPECTRA_F64, rows, 2, 3);
    cr_assert(rc == 0 || rc == SPECTRA_ETIMEDOUT);
    cr_assert_eq(spectra_subscribe(plain, ""), 0);
    spectra_client *sub = client_as(&e, "subscriber", 5000);
    cr_assert_eq(spectra_subscribe(sub, ""), 0);
    spectra_client *producer = client_as(&e, "producer", 5000);
    int pushed = push_until_received(producer, sub);
    cr_assert_gt(pushed, 0);
    char topic[SPECTRA_TOPIC_MAX + 1];
    spectra_msg *body = NULL;
    cr_assert_eq(spectra_recv_result(plain, 500, topic, sizeof topic, &body), SPECTRA_ETIMEDOUT);
    cr_assert_eq(stat_at(op, "streams.s.messages"), pushed, "the plain client's rows were refused");

    /* a raw ZeroMQ DEALER without CURVE, as a client in another language would start */
    void *ctx = zmq_ctx_new();
    void *dealer = zmq_socket(ctx, ZMQ_DEALER);
    int linger = 0;
    zmq_setsockopt(dealer, ZMQ_LINGER, &linger, sizeof linger);
    cr_assert_eq(zmq_connect(dealer, e.d.control), 0);
    static const char ping[] = "\x81\xa2op\xa4ping";
    zmq_send(dealer, "", 0, ZMQ_SNDMORE | ZMQ_DONTWAIT);
    zmq_send(dealer, ping, sizeof ping - 1, ZMQ_DONTWAIT);
    zmq_pollitem_t item = {dealer, 0, ZMQ_POLLIN, 0};
    cr_assert_eq(zmq_poll(&item, 1, 1000), 0, "no reply to a plain client");
    zmq_close(dealer);
    zmq_ctx_term(ctx);

    spectra_close(plain);
    spectra_close(sub);
    spectra_close(producer);
    spectra_close(op);
    teardown_env(&e);
}

Test(curve, client_key_errors_are_reported, .timeout = 60)
{
    char dir[] = "/tmp/spectra-keys-XXXXXX", base[64], err[512];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(base, sizeof base, "%s/k", dir);
    cr_assert_eq(spectra_keygen(base, err, sizeof err), 0, "%s", err);
    struct stat st;
    char secret[80], pub[80];
    snprintf(secret, sizeof secret, "%s.key_secret", base);
    snprintf(pub, sizeof pub, "%s.key", base);
    cr_assert_eq(stat(secret, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0600, "secret key mode %o", st.st_mode & 0777);
    cr_assert_eq(spectra_keygen(base, err, sizeof err), SPECTRA_EIO, "refuses to overwrite");
    cr_assert(strstr(err, "refusing to overwrite"), "%s", err);

    /* the public file as the client's secret: said at the first use, not a hang */
    spectra_options o;
    spectra_options_init(&o);
    o.server_key = pub;
    o.client_key = pub;
    spectra_client *c = spectra_connect(&o);
    cr_assert_not_null(c);
    cr_assert_eq(spectra_ping(c, NULL), SPECTRA_EPARSE);
    cr_assert(strstr(spectra_last_error(c), "no secret-key"), "%s", spectra_last_error(c));
    cr_assert_eq(spectra_set_curve_keys(c, pub, NULL), SPECTRA_EINVAL);
    cr_assert_eq(spectra_set_curve_keys(c, pub, secret), 0);
    spectra_close(c);
    unlink(pub);
    unlink(secret);
    rmdir(dir);
}
