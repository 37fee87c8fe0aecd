/* The durable-state side of the spectra command line against the stand-in daemon: create's
 * --durability and --dedupe on the wire, save [--wait] and position, and push numbering its
 * messages after the stream's last_seq, or with --resume skipping what is durable. */
#include "cli_stand_in.h"

TestSuite(cli, .init = setup, .fini = teardown, .timeout = 60);

/* Receives messages until none comes within 300 ms; returns how many, their seqs and first
 * values in seqs / firsts (up to cap). */
static size_t drain(uint64_t *seqs, double *firsts, size_t cap)
{
    size_t n = 0;
    for (;;) {
        zmq_pollitem_t item = {si.pull, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&item, 1, 300) <= 0)
            return n;
        double payload[16];
        size_t values;
        spectra_msg *h = recv_ingest(payload, 16, &values);
        cr_assert_lt(n, cap, "more messages than expected");
        seqs[n] = header_uint(h, "seq");
        firsts[n] = values ? payload[0] : -1;
        n++;
        spectra_msg_free(h);
    }
}

static const char *msg_str(const spectra_msg *m, const char *path, char *buf, size_t cap)
{
    cr_assert_eq(spectra_msg_str(m, path, buf, cap), 0, "no %s", path);
    return buf;
}

Test(cli, help_and_usage_errors)
{
    char help[8192], out[4096], err[1024];
    cr_assert_eq(run("--help", help, sizeof help, err, sizeof err), 0);
    cr_assert_not_null(strstr(help, "\n  save "));
    cr_assert_not_null(strstr(help, "\n  position "));
    cr_assert_eq(run("save --help", out, sizeof out, err, sizeof err), 0);
    cr_assert(strncmp(out, "usage: spectra save [STREAM] [--wait]", 37) == 0, "%s", out);
    cr_assert_eq(run("position --help", out, sizeof out, err, sizeof err), 0);
    cr_assert(strncmp(out, "usage: spectra position STREAM", 30) == 0, "%s", out);
    cr_assert_eq(run("create --help", out, sizeof out, err, sizeof err), 0);
    cr_assert_not_null(strstr(out, "[--durability none|snapshot|journal] [--dedupe]"));
    cr_assert_eq(run("push --help", help, sizeof help, err, sizeof err), 0);
    cr_assert_not_null(strstr(help, "\n  --resume "));

    cr_assert_eq(run("create s --kind rows --dim 3 --durability forever", out, sizeof out, err,
                     sizeof err),
                 2);
    cr_assert_str_eq(err, "spectra: create: --durability: 'forever' is not none, snapshot or "
                          "journal (see 'spectra create --help')\n");
    cr_assert_eq(run("create s --kind rows --dim 3 --durability", out, sizeof out, err,
                     sizeof err),
                 2);
    cr_assert_eq(run("position", out, sizeof out, err, sizeof err), 2);
    cr_assert_str_eq(err, "spectra: position: need STREAM (see 'spectra position --help')\n");
    cr_assert_eq(run("position a b", out, sizeof out, err, sizeof err), 2);
    cr_assert_str_eq(err, "spectra: position: unexpected argument 'b' "
                          "(see 'spectra position --help')\n");
    cr_assert_eq(run("save a b", out, sizeof out, err, sizeof err), 2);
    cr_assert_str_eq(err, "spectra: save: unexpected argument 'b' (see 'spectra save --help')\n");
    cr_assert_eq(run("save a.b", out, sizeof out, err, sizeof err), 2);
    cr_assert_str_eq(err, "spectra: save: bad stream name 'a.b' (1 to 64 of [A-Za-z0-9_-]) "
                          "(see 'spectra save --help')\n");
    cr_assert_eq(run("save --wait --bogus", out, sizeof out, err, sizeof err), 2);
    cr_assert_eq(run("position s --wait", out, sizeof out, err, sizeof err), 2,
                 "--wait belongs to save");
    cr_assert_eq(atomic_load(&si.positions), 0, "usage errors send nothing");
}

Test(cli, create_sends_durability_and_dedupe_only_when_given)
{
    char out[1024], err[1024], text[32];
    cr_assert_eq(run("create s --kind rows --dim 3 --durability journal --dedupe", out,
                     sizeof out, err, sizeof err),
                 0, "%s", err);
    pthread_mutex_lock(&si.lock);
    cr_assert_str_eq(msg_str(si.create, "durability", text, sizeof text), "journal");
    int dedupe = 0;
    cr_assert_eq(spectra_msg_bool(si.create, "dedupe", &dedupe), 0);
    cr_assert_eq(dedupe, 1);
    cr_assert_str_eq(msg_str(si.create, "kind", text, sizeof text), "rows");
    pthread_mutex_unlock(&si.lock);

    cr_assert_eq(run("create t --kind series --dim 2 --rate 100 --durability none", out,
                     sizeof out, err, sizeof err),
                 0, "%s", err);
    pthread_mutex_lock(&si.lock);
    cr_assert_str_eq(msg_str(si.create, "durability", text, sizeof text), "none");
    cr_assert_eq(spectra_msg_bool(si.create, "dedupe", &dedupe), SPECTRA_ENOTFOUND);
    pthread_mutex_unlock(&si.lock);

    cr_assert_eq(run("create u --kind rows --dim 1", out, sizeof out, err, sizeof err), 0);
    pthread_mutex_lock(&si.lock);
    const struct msgpack_object *o;
    cr_assert_eq(spectra_msg_find(si.create, "durability", &o), SPECTRA_ENOTFOUND,
                 "the daemon's default applies");
    cr_assert_eq(spectra_msg_find(si.create, "dedupe", &o), SPECTRA_ENOTFOUND);
    pthread_mutex_unlock(&si.lock);
}

Test(cli, position_prints_the_reply_with_nils)
{
    stand_in_set_stream(&(stand_in_stream){"s", 2, 7, 7, 4, -1});
    char out[1024], err[1024];
    cr_assert_eq(run("position s", out, sizeof out, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(out, "{\"stream\":\"s\",\"durability\":\"journal\",\"messages\":7,"
                          "\"last_seq\":7,\"applied_messages\":7,\"durable_messages\":4,"
                          "\"durable_seq\":4,\"snapshot_messages\":null,\"snapshot_seq\":null}\n");
}

Test(cli, save_waits_for_the_snapshot_or_times_out)
{
    stand_in_set_stream(&(stand_in_stream){"s", 2, 7, 7, 4, -1});
    char out[1024], err[1024];
    cr_assert_eq(run("save s", out, sizeof out, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(out, "{\"snapshots\":1,\"messages\":7}\n");
    cr_assert_eq(atomic_load(&si.positions), 0, "no wait without --wait");

    cr_assert_eq(run("--timeout 0.3 save s --wait", out, sizeof out, err, sizeof err), 1);
    cr_assert_str_eq(out, "{\"snapshots\":1,\"messages\":7}\n");
    cr_assert_str_eq(err, "spectra: save: s: no snapshot covering message 7 on disk within 0.3 s "
                          "(see 'spectra stats': durable.snapshot_failures)\n");
    cr_assert_gt(atomic_load(&si.positions), 1, "polled position");

    /* An older snapshot is not enough; one covering the messages at the save is. */
    stand_in_set_stream(&(stand_in_stream){"s", 2, 7, 7, 4, 6});
    cr_assert_eq(run("--timeout 0.3 save s --wait", out, sizeof out, err, sizeof err), 1);
    stand_in_set_stream(&(stand_in_stream){"s", 2, 7, 7, 7, 7});
    cr_assert_eq(run("--timeout 5 save s --wait", out, sizeof out, err, sizeof err), 0, "%s",
                 err);
    cr_assert_eq(run("--timeout 5 save --wait", out, sizeof out, err, sizeof err), 0, "%s", err);
}

Test(cli, push_continues_after_last_seq)
{
    write_file("rows.txt", "1 1\n2 2\n3 3\n4 4\n5 5\n6 6\n");
    stand_in_set_stream(&(stand_in_stream){"s", 2, 7, 7, 4, -1});
    char out[1024], err[1024], args[256];
    snprintf(args, sizeof args, "push s %s/rows.txt --batch 2", dir);
    cr_assert_eq(run(args, out, sizeof out, err, sizeof err), 0, "%s", err);
    uint64_t seqs[8];
    double firsts[8];
    cr_assert_eq(drain(seqs, firsts, 8), 3);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(seqs[i], 8u + (uint64_t)i);
        cr_assert_eq(firsts[i], 1 + 2 * i);
    }
    cr_assert_null(strstr(err, "resumed"));
    cr_assert_eq(atomic_load(&si.positions), 1);
}

Test(cli, push_resume_skips_the_durable_messages)
{
    write_file("rows.txt", "1 1\n2 2\n3 3\n4 4\n5 5\n6 6\n");
    stand_in_set_stream(&(stand_in_stream){"s", 2, 7, 7, 4, -1});
    char out[1024], err[2048], args[256];
    snprintf(args, sizeof args, "push s %s/rows.txt --batch 1 --resume", dir);
    cr_assert_eq(run(args, out, sizeof out, err, sizeof err), 0, "%s", err);
    uint64_t seqs[8];
    double firsts[8];
    cr_assert_eq(drain(seqs, firsts, 8), 2);
    cr_assert_eq(seqs[0], 5);
    cr_assert_eq(seqs[1], 6);
    cr_assert_eq(firsts[0], 5.0, "the 5th row is the first one sent");
    cr_assert_eq(firsts[1], 6.0);
    cr_assert_not_null(strstr(err, "spectra: push: note: stream 's' has accepted up to seq 7 but "
                                   "holds only up to 4 durably"),
                       "%s", err);
    cr_assert_not_null(strstr(err, "spectra: push: s: resumed after seq 4: skipped 4 messages "
                                   "(4 rows)\n"),
                       "%s", err);
    cr_assert_not_null(strstr(err, "s: 2 rows x 2 (f64) in 2 messages"), "%s", err);

    /* --end is a message too: durable_seq 7 covers 6 rows and the end marker. */
    stand_in_set_stream(&(stand_in_stream){"s", 2, 7, 7, 7, 7});
    snprintf(args, sizeof args, "push s %s/rows.txt --batch 1 --resume --end --quiet", dir);
    cr_assert_eq(run(args, out, sizeof out, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(err, "");
    cr_assert_eq(drain(seqs, firsts, 8), 0);

    /* More durable than this input holds: nothing sent, and said. */
    stand_in_set_stream(&(stand_in_stream){"s", 2, 9, 9, 9, 9});
    snprintf(args, sizeof args, "push s %s/rows.txt --batch 2 --resume", dir);
    cr_assert_eq(run(args, out, sizeof out, err, sizeof err), 0, "%s", err);
    cr_assert_eq(drain(seqs, firsts, 8), 0);
    cr_assert_not_null(strstr(err, "skipped 3 messages (6 rows)"), "%s", err);
    cr_assert_not_null(strstr(err, "the input has only 3 messages, fewer than the stream's "
                                   "durable_seq 9"),
                       "%s", err);
}

Test(cli, push_resume_to_a_new_stream_sends_everything_from_seq_1)
{
    write_file("rows.txt", "1 1\n2 2\n3 3\n");
    char out[1024], err[1024], args[256];
    snprintf(args, sizeof args, "push s %s/rows.txt --batch 1 --resume", dir);
    cr_assert_eq(run(args, out, sizeof out, err, sizeof err), 0, "%s", err);
    uint64_t seqs[8];
    double firsts[8];
    cr_assert_eq(drain(seqs, firsts, 8), 3);
    cr_assert_eq(seqs[0], 1);
    cr_assert_eq(seqs[2], 3);
    cr_assert_eq(atomic_load(&si.positions), 0, "no stream: nothing to ask");
    cr_assert_not_null(strstr(err, "resumed after seq 0: skipped 0 messages (0 rows)"), "%s",
                       err);
}
