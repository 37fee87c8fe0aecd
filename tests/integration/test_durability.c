/* Durable state through real crashes: the spambase matrix pushed as numbered messages while the
 * daemon is killed with SIGKILL at random points and restarted; the producer resumes after the
 * position the daemon reports. The final pipeline states must equal, byte for byte, those of an
 * uninterrupted run over the same messages, with no accepted message lost. Also: a damaged
 * snapshot and a cut journal are reported and survived. */
#define _XOPEN_SOURCE 700
#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "daemon_harness.h"
#include "spectra.h"
#include "testdata.h"

#define DIM 57
#define ROWS_PER_MSG 50

static double *rows;
static size_t n_rows, n_msgs;

static void load_spambase(void)
{
    char path[4096];
    SPX_REQUIRE_DATA(path, "matrices/spambase.data");
    cr_assert_eq(spx_test_load_text_matrix(path, 0, DIM, &rows, &n_rows), 0);
    n_msgs = (n_rows + ROWS_PER_MSG - 1) / ROWS_PER_MSG;
}

/* Requests are packed with msgpack-c directly, as another-language client would. */
static void pack_str(msgpack_packer *pk, const char *v)
{
    msgpack_pack_str_with_body(pk, v, strlen(v));
}

static void pack_kv_str(msgpack_packer *pk, const char *k, const char *v)
{
    pack_str(pk, k);
    pack_str(pk, v);
}

static void pack_kv_uint(msgpack_packer *pk, const char *k, uint64_t v)
{
    pack_str(pk, k);
    msgpack_pack_uint64(pk, v);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- control requests ---------------------------------------------------------------------- */

static void request(spx_daemon_proc *d, msgpack_sbuffer *sb, msgpack_unpacked *reply)
{
    cr_assert_eq(spx_ctl_raw(d, sb->data, sb->size, reply, 120000), 0, "no reply");
    char code[64] = "";
    if (!spx_reply_ok(reply, code, sizeof code)) {
        spx_daemon_dump_log(d);
        cr_assert_fail("request refused: %s", code);
    }
}

static void create_stream(spx_daemon_proc *d, const char *name, const char *durability)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 5);
    pack_kv_str(&pk, "op", "create");
    pack_kv_str(&pk, "stream", name);
    pack_kv_str(&pk, "kind", "rows");
    pack_kv_uint(&pk, "dim", DIM);
    pack_kv_str(&pk, "durability", durability);
    msgpack_unpacked r;
    request(d, &sb, &r);
    msgpack_unpacked_destroy(&r);
    msgpack_sbuffer_destroy(&sb);
}

static void attach(spx_daemon_proc *d, const char *stream, const char *name, const char *method)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 7);
    pack_kv_str(&pk, "op", "attach");
    pack_kv_str(&pk, "stream", stream);
    pack_kv_str(&pk, "pipeline", name);
    pack_kv_str(&pk, "algo", "topeig");
    /* Count-based publishing only: publish points (and so `change`) are the same in every run. */
    pack_kv_uint(&pk, "every", 500);
    pack_kv_uint(&pk, "interval_ms", 0);
    pack_str(&pk, "params");
    msgpack_pack_map(&pk, 2);
    pack_kv_str(&pk, "method", method);
    pack_kv_str(&pk, "k", strcmp(method, "power") ? "1" : "2");
    msgpack_unpacked r;
    request(d, &sb, &r);
    msgpack_unpacked_destroy(&r);
    msgpack_sbuffer_destroy(&sb);
}

typedef struct position {
    double messages, durable_messages, durable_seq, applied, snapshot_messages;
} position;

static position get_position(spx_daemon_proc *d, const char *stream)
{
    msgpack_unpacked r;
    cr_assert_eq(spx_ctl_simple(d, "position", stream, NULL, &r), 0);
    char code[64] = "";
    cr_assert(spx_reply_ok(&r, code, sizeof code), "position: %s", code);
    position p;
    const char *k1[] = {"messages", NULL}, *k2[] = {"durable_messages", NULL},
               *k3[] = {"durable_seq", NULL}, *k4[] = {"applied_messages", NULL},
               *k5[] = {"snapshot_messages", NULL};
    p.messages = spx_reply_number(&r.data, k1);
    p.durable_messages = spx_reply_number(&r.data, k2);
    p.durable_seq = spx_reply_number(&r.data, k3);   /* NaN when nil */
    p.applied = spx_reply_number(&r.data, k4);
    p.snapshot_messages = spx_reply_number(&r.data, k5);
    msgpack_unpacked_destroy(&r);
    return p;
}

/* The pipeline's saved state (the `state` call): what a restart must reproduce exactly. */
static void pipeline_state(spx_daemon_proc *d, const char *stream, const char *pipeline,
                           char **out, size_t *len)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 4);
    pack_kv_str(&pk, "op", "call");
    pack_kv_str(&pk, "stream", stream);
    pack_kv_str(&pk, "pipeline", pipeline);
    pack_kv_str(&pk, "method", "state");
    msgpack_unpacked r;
    request(d, &sb, &r);
    msgpack_sbuffer_destroy(&sb);
    const msgpack_object *v = spx_reply_get(&r.data, "value");
    cr_assert(v && v->type == MSGPACK_OBJECT_MAP, "call state: no value map");
    msgpack_sbuffer out_sb;
    msgpack_sbuffer_init(&out_sb);
    msgpack_packer opk;
    msgpack_packer_init(&opk, &out_sb, msgpack_sbuffer_write);
    msgpack_pack_object(&opk, *v);
    *out = out_sb.data;
    *len = out_sb.size;
    msgpack_unpacked_destroy(&r);
}

/* ---- pushing numbered messages --------------------------------------------------------------- */

static void *producer(spx_daemon_proc *d, void **zctx)
{
    *zctx = zmq_ctx_new();
    void *push = zmq_socket(*zctx, ZMQ_PUSH);
    int linger = 0;
    zmq_setsockopt(push, ZMQ_LINGER, &linger, sizeof linger);
    cr_assert_eq(zmq_connect(push, d->ingest), 0);
    return push;
}

static void producer_close(void *push, void *zctx)
{
    zmq_close(push);
    zmq_ctx_term(zctx);
}

/* Message k (1-based) carries rows [(k-1) * ROWS_PER_MSG, ...) with producer seq k. */
static void push_message(void *push, const char *stream, uint64_t k)
{
    size_t first = (size_t)(k - 1) * ROWS_PER_MSG;
    size_t n = n_rows - first < ROWS_PER_MSG ? n_rows - first : ROWS_PER_MSG;
    spectra_ingest m = {.stream = stream, .kind = SPECTRA_ROWS, .dtype = SPECTRA_F64,
                        .shape = {n, DIM}, .data = rows + first * DIM, .seq = k};
    unsigned char head[512];
    size_t hl;
    cr_assert_eq(spectra_encode_header(&m, k, head, sizeof head, &hl), 0);
    cr_assert_eq(zmq_send(push, head, hl, ZMQ_SNDMORE), (int)hl);
    cr_assert_eq(zmq_send(push, m.data, n * DIM * 8, 0), (int)(n * DIM * 8));
}

static void wait_applied(spx_daemon_proc *d, const char *stream, double messages)
{
    for (int i = 0; i < 6000; i++) {
        position p = get_position(d, stream);
        if (p.messages >= messages && p.applied >= messages)
            return;
        sleep_ms(20);
    }
    spx_daemon_dump_log(d);
    cr_assert_fail("%s: not all %g messages applied", stream, messages);
}

static const char *const pipelines[] = {"ada", "pow"};
static const char *const methods[] = {"adaoja", "power"};

static bool structure_durable(spx_daemon_proc *d, const char *stream)
{
    msgpack_unpacked r;
    cr_assert_eq(spx_ctl_simple(d, "position", stream, NULL, &r), 0);
    const msgpack_object *v = spx_reply_get(&r.data, "structure_durable");
    bool yes = v && v->type == MSGPACK_OBJECT_BOOLEAN && v->via.boolean;
    msgpack_unpacked_destroy(&r);
    return yes;
}

static void setup_stream(spx_daemon_proc *d, const char *name, const char *durability)
{
    create_stream(d, name, durability);
    for (int i = 0; i < 2; i++)
        attach(d, name, pipelines[i], methods[i]);
    if (!strcmp(durability, "none"))
        return;
    /* The pipelines survive a crash once the snapshot recording them is on disk. */
    for (int i = 0; i < 3000 && !structure_durable(d, name); i++)
        sleep_ms(10);
    cr_assert(structure_durable(d, name), "the stream's structure never became durable");
}

/* The states of an uninterrupted run over all messages. */
static void reference_states(char *states[2], size_t lens[2])
{
    spx_daemon_proc d;
    spx_daemon_start(&d, NULL);
    setup_stream(&d, "ref", "none");
    void *zctx, *push = producer(&d, &zctx);
    for (uint64_t k = 1; k <= n_msgs; k++)
        push_message(push, "ref", k);
    wait_applied(&d, "ref", (double)n_msgs);
    for (int i = 0; i < 2; i++)
        pipeline_state(&d, "ref", pipelines[i], &states[i], &lens[i]);
    producer_close(push, zctx);
    cr_assert_eq(spx_daemon_stop(&d), 0);
}

static void crash_and_resume(const char *durability, int kills, const char *const *args)
{
    load_spambase();
    char *ref[2];
    size_t ref_len[2];
    reference_states(ref, ref_len);

    spx_daemon_proc d;
    spx_daemon_start(&d, args);
    setup_stream(&d, "crash", durability);
    unsigned seed = 20261122;
    uint64_t lost_never_below = 0;   /* messages the daemon had reported accepted (journal) */
    for (int kill_no = 0; kill_no < kills; kill_no++) {
        position p = get_position(&d, "crash");
        cr_assert_geq(p.messages, (double)lost_never_below,
                      "kill %d: %g messages after restart, %llu were accepted before", kill_no,
                      p.messages, (unsigned long long)lost_never_below);
        uint64_t next = isnan(p.durable_seq) ? 1 : (uint64_t)p.durable_seq + 1;
        cr_assert_eq((double)next - 1, p.durable_messages, "seq and message numbers agree");
        void *zctx, *push = producer(&d, &zctx);
        uint64_t burst = 2 + rand_r(&seed) % 8;
        for (uint64_t k = next; k < next + burst && k <= n_msgs; k++)
            push_message(push, "crash", k);
        if (!strcmp(durability, "snapshot") && rand_r(&seed) % 2) {
            msgpack_unpacked r;
            cr_assert_eq(spx_ctl_simple(&d, "save", "crash", NULL, &r), 0);
            cr_assert(spx_reply_ok(&r, NULL, 0));
            msgpack_unpacked_destroy(&r);
        }
        sleep_ms((int)(rand_r(&seed) % 40));
        if (!strcmp(durability, "journal")) {
            /* Whatever is accepted now must survive the kill. */
            lost_never_below = (uint64_t)get_position(&d, "crash").messages;
        }
        spx_daemon_kill9(&d);
        producer_close(push, zctx);
        spx_daemon_restart(&d, args);
    }
    /* The rest, without crashes. */
    position p = get_position(&d, "crash");
    cr_assert_geq(p.messages, (double)lost_never_below);
    void *zctx, *push = producer(&d, &zctx);
    for (uint64_t k = isnan(p.durable_seq) ? 1 : (uint64_t)p.durable_seq + 1; k <= n_msgs; k++)
        push_message(push, "crash", k);
    wait_applied(&d, "crash", (double)n_msgs);
    producer_close(push, zctx);
    static const char *const p_rows[] = {"streams", "crash", "count", NULL};
    static const char *const p_rep[] = {"streams", "crash", "seq_repeats", NULL};
    msgpack_unpacked st;
    cr_assert_eq(spx_ctl_simple(&d, "stats", NULL, NULL, &st), 0);
    cr_assert_eq(spx_reply_number(&st.data, p_rows), (double)n_rows, "every row applied once");
    cr_assert_eq(spx_reply_number(&st.data, p_rep), 0, "no message applied twice");
    msgpack_unpacked_destroy(&st);
    for (int i = 0; i < 2; i++) {
        char *state;
        size_t len;
        pipeline_state(&d, "crash", pipelines[i], &state, &len);
        cr_assert(len == ref_len[i] && !memcmp(state, ref[i], len),
                  "%s: state after %d kills differs from the uninterrupted run (%zu vs %zu bytes)",
                  pipelines[i], kills, len, ref_len[i]);
        free(state);
        free(ref[i]);
    }
    cr_assert(spx_daemon_log_contains(&d, "replayed") || strcmp(durability, "journal"),
              "journal replays happened");
    cr_assert_eq(spx_daemon_stop(&d), 0);
    free(rows);
}

Test(durability, journal_survives_20_kills_with_nothing_lost, .timeout = 600)
{
    static const char *const args[] = {"--log-level", "debug", NULL};
    crash_and_resume("journal", 20, args);
}

Test(durability, snapshots_survive_kills_and_the_producer_resumes_exactly, .timeout = 600)
{
    crash_and_resume("snapshot", 8, NULL);
}

/* ---- damaged files -------------------------------------------------------------------------- */

static void path_in_state(const spx_daemon_proc *d, const char *rel, char *buf, size_t len)
{
    snprintf(buf, len, "%s/streams/%s", d->state_dir, rel);
}

Test(durability, a_damaged_snapshot_is_set_aside_and_the_daemon_carries_on, .timeout = 300)
{
    load_spambase();
    spx_daemon_proc d;
    spx_daemon_start(&d, NULL);
    setup_stream(&d, "snap", "snapshot");
    void *zctx, *push = producer(&d, &zctx);
    for (uint64_t k = 1; k <= 10; k++)
        push_message(push, "snap", k);
    wait_applied(&d, "snap", 10);
    producer_close(push, zctx);
    cr_assert_eq(spx_daemon_stop_keep_state(&d), 0);   /* the shutdown snapshot covers all 10 */

    char path[4200];
    path_in_state(&d, "snap/snapshot.spx", path, sizeof path);
    FILE *f = fopen(path, "r+b");
    cr_assert_not_null(f, "a snapshot was written at shutdown");
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    cr_assert_gt(size, 100);
    fseek(f, size / 2, SEEK_SET);
    int c = fgetc(f);
    fseek(f, size / 2, SEEK_SET);
    fputc(c ^ 0x40, f);
    fclose(f);

    spx_daemon_restart(&d, NULL);
    cr_assert(spx_daemon_log_contains(&d, "checksum mismatch"));
    cr_assert(spx_daemon_log_contains(&d, "set aside"));
    msgpack_unpacked r;
    cr_assert_eq(spx_ctl_simple(&d, "position", "snap", NULL, &r), 0);
    char code[64] = "";
    cr_assert(!spx_reply_ok(&r, code, sizeof code) && !strcmp(code, "unknown_stream"),
              "the damaged stream is not half-loaded (%s)", code);
    msgpack_unpacked_destroy(&r);
    DIR *dir = opendir(d.state_dir);
    cr_assert_not_null(dir);
    closedir(dir);
    char streams[4200];
    path_in_state(&d, "", streams, sizeof streams);
    dir = opendir(streams);
    struct dirent *e;
    bool aside = false;
    while ((e = readdir(dir)))
        aside |= !strncmp(e->d_name, "snap.damaged-", 13);
    closedir(dir);
    cr_assert(aside, "the damaged state is kept for inspection");
    /* The daemon works: the stream can be made again and fed. */
    setup_stream(&d, "snap", "snapshot");
    push = producer(&d, &zctx);
    push_message(push, "snap", 1);
    wait_applied(&d, "snap", 1);
    producer_close(push, zctx);
    cr_assert_eq(spx_daemon_stop(&d), 0);
    free(rows);
}

Test(durability, a_cut_journal_replays_its_good_prefix, .timeout = 300)
{
    load_spambase();
    spx_daemon_proc d;
    spx_daemon_start(&d, NULL);
    setup_stream(&d, "wal", "journal");
    void *zctx, *push = producer(&d, &zctx);
    for (uint64_t k = 1; k <= 12; k++)
        push_message(push, "wal", k);
    wait_applied(&d, "wal", 12);
    producer_close(push, zctx);
    spx_daemon_kill9(&d);   /* no shutdown snapshot: the journal holds messages 1..12 */

    /* Cut the newest journal segment 100 bytes short: message 12 is torn. */
    char dirpath[4200], newest[4500] = "";
    path_in_state(&d, "wal", dirpath, sizeof dirpath);
    DIR *dir = opendir(dirpath);
    struct dirent *e;
    while ((e = readdir(dir)))
        if (strstr(e->d_name, ".wal")) {   /* names sort by their first message number */
            char candidate[4500];
            snprintf(candidate, sizeof candidate, "%s/%.200s", dirpath, e->d_name);
            struct stat st;
            if (stat(candidate, &st) == 0 && st.st_size > 16 &&
                (!newest[0] || strcmp(candidate, newest) > 0))
                snprintf(newest, sizeof newest, "%s", candidate);
        }
    closedir(dir);
    cr_assert(newest[0], "a journal segment with records exists");
    struct stat st;
    cr_assert_eq(stat(newest, &st), 0);
    cr_assert_eq(truncate(newest, st.st_size - 100), 0);

    spx_daemon_restart(&d, NULL);
    cr_assert(spx_daemon_log_contains(&d, "journal damaged"));
    position p = get_position(&d, "wal");
    cr_assert_eq(p.messages, 11, "the 11 whole messages were replayed");
    cr_assert_eq(p.durable_seq, 11);
    /* The producer resends message 12 and the stream is whole again. */
    push = producer(&d, &zctx);
    push_message(push, "wal", 12);
    wait_applied(&d, "wal", 12);
    producer_close(push, zctx);
    cr_assert_eq(spx_daemon_stop(&d), 0);
    free(rows);
}

Test(durability, a_dropped_stream_leaves_nothing_behind, .timeout = 300)
{
    load_spambase();
    spx_daemon_proc d;
    spx_daemon_start(&d, NULL);
    setup_stream(&d, "gone", "journal");
    void *zctx, *push = producer(&d, &zctx);
    for (uint64_t k = 1; k <= 5; k++)
        push_message(push, "gone", k);
    wait_applied(&d, "gone", 5);
    msgpack_unpacked r;
    cr_assert_eq(spx_ctl_simple(&d, "drop", "gone", NULL, &r), 0);
    cr_assert(spx_reply_ok(&r, NULL, 0));
    msgpack_unpacked_destroy(&r);
    /* Made again at once under the same name: it starts empty and keeps its own files. */
    setup_stream(&d, "gone", "journal");
    push_message(push, "gone", 1);
    wait_applied(&d, "gone", 1);
    producer_close(push, zctx);
    cr_assert_eq(spx_daemon_stop_keep_state(&d), 0);
    char streams[4200];
    path_in_state(&d, "", streams, sizeof streams);
    DIR *dir = opendir(streams);
    struct dirent *e;
    int entries = 0;
    while ((e = readdir(dir)))
        if (e->d_name[0] != '.') {
            entries++;
            cr_assert_str_eq(e->d_name, "gone", "only the new stream's directory remains");
        }
    closedir(dir);
    cr_assert_eq(entries, 1);
    spx_daemon_restart(&d, NULL);
    position p = get_position(&d, "gone");
    cr_assert_eq(p.messages, 1, "the restart restores the new stream, not the dropped one");
    cr_assert_eq(spx_daemon_stop(&d), 0);
    free(rows);
}
