/* `spectra push` of series and blocks files, run as a child process against the stand-in daemon:
 * the create request of a series stream, time stamps and gaps, z-score normalisation (statistics
 * recomputed here), EDF chunks and event placement, .npy and raw blocks with ids and the end
 * marker, and the messages for files and options that cannot be pushed. */
#include <math.h>
#include <stdarg.h>
#include <time.h>

#include "cli_stand_in.h"
#include "testdata.h"

TestSuite(cli, .init = setup, .fini = teardown, .timeout = 120);

static double header_double(const spectra_msg *h, const char *path)
{
    double v = NAN;
    cr_assert_eq(spectra_msg_double(h, path, &v), 0, "header has no %s", path);
    return v;
}

static int header_has(const spectra_msg *h, const char *path)
{
    const struct msgpack_object *o;
    return spectra_msg_find(h, path, &o) == 0;
}

/* The last create request the stand-in answered (freed by the caller). */
static spectra_msg *take_create(void)
{
    pthread_mutex_lock(&si.lock);
    spectra_msg *m = si.create;
    si.create = NULL;
    pthread_mutex_unlock(&si.lock);
    cr_assert_not_null(m, "no create request reached the daemon");
    return m;
}

static void assert_no_more_ingest(void)
{
    int timeout = 200;
    zmq_setsockopt(si.pull, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    char buf[64];
    cr_assert_lt(zmq_recv(si.pull, buf, sizeof buf, 0), 0, "an unexpected extra message");
}

static void write_bytes(const char *name, const void *data, size_t len)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(data, 1, len, f), len);
    fclose(f);
}

/* ------------------------------------------------------------------------------------------- */

#define T_2016_07_01 1467331200.0

Test(cli, series_csv_creates_the_stream_splits_at_gaps_and_normalizes)
{
    /* Hourly rows with one missing hour (04:00): 4 rows, a gap, 2 rows. */
    write_file("ett.csv", "date,a,b\n"
                          "2016-07-01 00:00:00,1,10\n"
                          "2016-07-01 01:00:00,2,14\n"
                          "2016-07-01 02:00:00,4,12\n"
                          "2016-07-01 03:00:00,8,11\n"
                          "2016-07-01 05:00:00,16,13\n"
                          "2016-07-01 06:00:00,32,15\n");
    const double x[6][2] = {{1, 10}, {2, 14}, {4, 12}, {8, 11}, {16, 13}, {32, 15}};
    char out[1024], err[4096], args[512];
    snprintf(args, sizeof args,
             "push ett %s/ett.csv --kind series --time-column date --normalize train=3", dir);
    cr_assert_eq(run(args, out, sizeof out, err, sizeof err), 0, "%s", err);

    spectra_msg *c = take_create();
    char text[32];
    cr_assert_eq(spectra_msg_str(c, "kind", text, sizeof text), 0);
    cr_assert_str_eq(text, "series");
    cr_assert_eq(header_uint(c, "dim"), 2);
    cr_assert_eq(header_double(c, "rate"), 1.0 / 3600);
    cr_assert_eq(spectra_msg_str(c, "channel_names.0", text, sizeof text), 0);
    cr_assert_str_eq(text, "a");
    cr_assert_eq(spectra_msg_str(c, "channel_names.1", text, sizeof text), 0);
    cr_assert_str_eq(text, "b");
    spectra_msg_free(c);

    /* Statistics of the first 3 rows, ddof 0, and the lines the CLI printed for them. */
    double mean[2], sd[2];
    for (int j = 0; j < 2; j++) {
        mean[j] = (x[0][j] + x[1][j] + x[2][j]) / 3;
        double ss = 0;
        for (int i = 0; i < 3; i++)
            ss += (x[i][j] - mean[j]) * (x[i][j] - mean[j]);
        sd[j] = sqrt(ss / 3);
        char line[128];
        snprintf(line, sizeof line, "spectra: push: normalize %s: mean %.17g std %.17g\n",
                 j == 0 ? "a" : "b", mean[j], sd[j]);
        cr_assert(strstr(err, line) != NULL, "stderr lacks '%s':\n%s", line, err);
    }
    cr_assert(strstr(err, "of the first 3 rows") != NULL, "%s", err);
    cr_assert(strstr(err, "ett: 6 samples x 2 channels (f64, 0.000277777778 Hz) in 2 messages "
                          "with 0 events") != NULL, "%s", err);
    cr_assert(strstr(err, "1 messages end early") != NULL, "%s", err);

    const size_t first[2] = {0, 4}, count[2] = {4, 2};
    const double t0[2] = {T_2016_07_01, T_2016_07_01 + 5 * 3600};
    for (int m = 0; m < 2; m++) {
        double payload[16];
        size_t n;
        spectra_msg *h = recv_ingest(payload, 16, &n);
        cr_assert_eq(spectra_msg_str(h, "kind", text, sizeof text), 0);
        cr_assert_str_eq(text, "series");
        cr_assert_eq(header_uint(h, "shape.0"), count[m]);
        cr_assert_eq(header_uint(h, "shape.1"), 2);
        cr_assert_eq(header_double(h, "t0"), t0[m], "message %d", m);
        cr_assert_eq(header_double(h, "rate"), 1.0 / 3600);
        cr_assert_eq(n, 2 * count[m]);
        for (size_t i = 0; i < count[m]; i++)
            for (int j = 0; j < 2; j++) {
                double want = (x[first[m] + i][j] - mean[j]) / sd[j];
                cr_assert_float_eq(payload[i * 2 + j], want, 1e-15 * (1 + fabs(want)),
                                   "row %zu col %d: %.17g vs %.17g", first[m] + i, j,
                                   payload[i * 2 + j], want);
            }
        spectra_msg_free(h);
    }
    assert_no_more_ingest();
}

Test(cli, series_csv_sample_rate_t0_and_realtime_pacing)
{
    /* No time column: times from --t0 and --sample-rate; paced at the data's rate (50 ms). */
    char text[4096] = "";
    for (int i = 0; i < 50; i++)
        snprintf(text + strlen(text), sizeof text - strlen(text), "%d\n", i);
    write_file("ramp.txt", text);
    char out[1024], err[1024], args[512];
    snprintf(args, sizeof args,
             "push r %s/ramp.txt --kind series --sample-rate 1000 --t0 '2016-07-01 00:00:01' "
             "--rate realtime --dtype f32 --end",
             dir);
    cr_assert_eq(run(args, out, sizeof out, err, sizeof err), 0, "%s", err);
    spectra_msg_free(take_create());
    /* About 50 ms per message when paced: ceil(1000 / 20) = 50 samples, so one message. */
    double payload[64];
    size_t n;
    spectra_msg *h = recv_ingest(payload, 64, &n);
    cr_assert_eq(header_uint(h, "shape.0"), 50);
    cr_assert_eq(header_double(h, "t0"), T_2016_07_01 + 1);
    cr_assert_eq(header_double(h, "rate"), 1000);
    float f[50];
    cr_assert_eq(n * sizeof(double), sizeof f, "50 f32 values");
    memcpy(f, payload, sizeof f);
    cr_assert_eq(f[49], 49.0f);
    spectra_msg_free(h);
    h = recv_ingest(payload, 64, &n);
    cr_assert_eq(header_uint(h, "shape.0"), 0, "then the end message");
    int end = 0;
    cr_assert_eq(spectra_msg_bool(h, "end", &end), 0);
    cr_assert(end);
    spectra_msg_free(h);
    assert_no_more_ingest();
}

Test(cli, series_and_blocks_usage_errors)
{
    write_file("ett.csv", "date,a\n2016-07-01 00:00:00,1\n2016-07-01 01:00:00,2\n");
    struct {
        const char *args;
        int status;
        const char *err;
    } cases[] = {
        {"push s %s/ett.csv --kind series --skip-columns date", 2,
         "spectra: push: %s/ett.csv: a series needs --time-column NAME or --sample-rate HZ\n"},
        {"push s %s/ett.csv --kind series --time-column date --normalize train=5", 2,
         "spectra: push: %s/ett.csv: --normalize train=5, but the file has only 2 rows\n"},
        {"push s %s/ett.csv --kind series --time-column date --channels C3", 2,
         "spectra: push: --channels does not apply to a text file sent as series "
         "(see 'spectra push --help')\n"},
        {"push s %s/ett.csv --time-column date", 2,
         "spectra: push: --time-column does not apply to a text file sent as rows "
         "(see 'spectra push --help')\n"},
        {"push s %s/ett.csv --rate realtime", 2,
         "spectra: push: --rate realtime does not apply to a text file sent as rows "
         "(see 'spectra push --help')\n"},
        {"push s %s/ett.csv --kind blocks --format text", 2,
         "spectra: push: --kind blocks reads raw or .npy files, not text (use --format raw) "
         "(see 'spectra push --help')\n"},
        {"push s %s/ett.csv --kind blocks", 2,
         "spectra: push: %s/ett.csv: a raw block file needs --block-shape MxN\n"},
        {"push s %s/ett.csv --kind blocks --block-shape 3", 2,
         "spectra: push: --block-shape: '3' is not MxN (e.g. 128x8) "
         "(see 'spectra push --help')\n"},
        {"push s %s/x.npy --kind rows", 2,
         "spectra: push: --kind rows: an .npy file holds blocks (see 'spectra push --help')\n"},
        {"push s %s/x.edf --kind blocks", 2,
         "spectra: push: --kind blocks: an EDF file holds series (see 'spectra push --help')\n"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[1024], err[1024], args[512], want[1024];
        snprintf(args, sizeof args, cases[i].args, dir);
        snprintf(want, sizeof want, cases[i].err, dir, dir);
        cr_assert_eq(run(args, out, sizeof out, err, sizeof err), cases[i].status, "%s: %s", args,
                     err);
        cr_assert_str_eq(err, want, "%s", args);
    }
}

/* ------------------------------------------------------------------------------------------- */

/* An .npy file: the header as numpy.save writes it (padded to 64 bytes), then the values. */
static void write_npy(const char *name, const char *descr, const char *shape, const void *data,
                      size_t data_len)
{
    char dict[256];
    snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr,
             shape);
    size_t total = (10 + strlen(dict) + 1 + 63) / 64 * 64;
    unsigned char *buf = malloc(total + data_len);
    cr_assert_not_null(buf);
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (unsigned char)((total - 10) & 0xff);
    buf[9] = (unsigned char)((total - 10) >> 8);
    memset(buf + 10, ' ', total - 10);
    memcpy(buf + 10, dict, strlen(dict));
    buf[total - 1] = '\n';
    if (data_len)
        memcpy(buf + total, data, data_len);
    write_bytes(name, buf, total + data_len);
    free(buf);
}

Test(cli, npy_blocks_with_id_prefix_and_end_on_the_last_block)
{
    double v[3 * 2 * 2];
    for (int i = 0; i < 12; i++)
        v[i] = i + 0.5;
    write_npy("b.npy", "<f8", "(3, 2, 2)", v, sizeof v);
    char out[1024], err[1024], args[512];
    snprintf(args, sizeof args, "push blk %s/b.npy --id-prefix b --end", dir);
    cr_assert_eq(run(args, out, sizeof out, err, sizeof err), 0, "%s", err);
    cr_assert(strstr(err, "blk: 3 blocks of 2 x 2 (f64) in 3 messages, 96 bytes") != NULL, "%s",
              err);
    for (int k = 0; k < 3; k++) {
        double payload[8];
        size_t n;
        spectra_msg *h = recv_ingest(payload, 8, &n);
        char text[16];
        cr_assert_eq(spectra_msg_str(h, "kind", text, sizeof text), 0);
        cr_assert_str_eq(text, "blocks");
        cr_assert_eq(header_uint(h, "shape.0"), 2);
        cr_assert_eq(header_uint(h, "shape.1"), 2);
        char id[16], want[16];
        snprintf(want, sizeof want, "b%d", k);
        cr_assert_eq(spectra_msg_str(h, "id", id, sizeof id), 0);
        cr_assert_str_eq(id, want);
        cr_assert_eq(header_has(h, "end"), k == 2, "end only on the last block (%d)", k);
        cr_assert_eq(n, 4);
        cr_assert_eq(memcmp(payload, v + 4 * k, sizeof(double) * 4), 0, "block %d", k);
        spectra_msg_free(h);
    }
    assert_no_more_ingest();
}

Test(cli, npy_f32_single_block_is_sent_as_f32_or_converted)
{
    const float v[6] = {1.5f, -2, 3, 4, 5, 6.25f};
    write_npy("one.npy", "<f4", "(2, 3)", v, sizeof v);
    char out[1024], err[1024], args[512];
    snprintf(args, sizeof args, "push blk %s/one.npy", dir);
    cr_assert_eq(run(args, out, sizeof out, err, sizeof err), 0, "%s", err);
    double payload[8];
    size_t n;
    spectra_msg *h = recv_ingest(payload, 8, &n);
    char dtype[8];
    cr_assert_eq(spectra_msg_str(h, "dtype", dtype, sizeof dtype), 0);
    cr_assert_str_eq(dtype, "f32", "the file's type by default");
    cr_assert_eq(header_uint(h, "id"), 0);
    cr_assert_eq(n * sizeof(double), sizeof v);
    cr_assert_eq(memcmp(payload, v, sizeof v), 0);
    spectra_msg_free(h);

    snprintf(args, sizeof args, "push blk %s/one.npy --dtype f64", dir);
    cr_assert_eq(run(args, out, sizeof out, err, sizeof err), 0, "%s", err);
    h = recv_ingest(payload, 8, &n);
    cr_assert_eq(n, 6);
    for (int i = 0; i < 6; i++)
        cr_assert_eq(payload[i], (double)v[i]);
    spectra_msg_free(h);
}

Test(cli, raw_blocks_ids_and_bad_sizes)
{
    double v[2 * 2 * 3];
    for (int i = 0; i < 12; i++)
        v[i] = -i;
    write_bytes("b.f64", v, sizeof v);
    char out[1024], err[1024], args[512], want[512];
    snprintf(args, sizeof args, "push blk %s/b.f64 --kind blocks --block-shape 2x3", dir);
    cr_assert_eq(run(args, out, sizeof out, err, sizeof err), 0, "%s", err);
    for (int k = 0; k < 2; k++) {
        double payload[8];
        size_t n;
        spectra_msg *h = recv_ingest(payload, 8, &n);
        cr_assert_eq(header_uint(h, "id"), (uint64_t)k);
        cr_assert_eq(header_uint(h, "shape.0"), 2);
        cr_assert_eq(header_uint(h, "shape.1"), 3);
        cr_assert_eq(header_has(h, "end"), 0);
        cr_assert_eq(memcmp(payload, v + 6 * k, sizeof(double) * 6), 0);
        spectra_msg_free(h);
    }
    assert_no_more_ingest();

    snprintf(args, sizeof args, "push blk %s/b.f64 --kind blocks --block-shape 5x1", dir);
    cr_assert_eq(run(args, out, sizeof out, err, sizeof err), 1);
    snprintf(want, sizeof want,
             "spectra: push: %s/b.f64: 96 bytes is not a whole number of 5 x 1 f64 blocks "
             "(40 bytes each)\n", dir);
    cr_assert_str_eq(err, want);

    /* A non-finite value is refused with its place, after the blocks before it. */
    v[8] = NAN;
    write_bytes("nan.f64", v, sizeof v);
    snprintf(args, sizeof args, "push blk %s/nan.f64 --kind blocks --block-shape 2x3", dir);
    cr_assert_eq(run(args, out, sizeof out, err, sizeof err), 1);
    snprintf(want, sizeof want,
             "spectra: push: %s/nan.f64: block 1, row 0, column 2: nan is not finite\n", dir);
    cr_assert_str_eq(err, want);
    double payload[8];
    size_t n;
    spectra_msg_free(recv_ingest(payload, 8, &n));
    assert_no_more_ingest();
}

Test(cli, npy_files_that_cannot_be_pushed)
{
    const double v[4] = {1, 2, 3, 4};
    write_npy("be.npy", ">f8", "(2, 2)", v, sizeof v);
    write_npy("short.npy", "<f8", "(2, 2)", v, sizeof v - 8);
    write_npy("vec.npy", "<f8", "(4,)", v, sizeof v);
    write_bytes("junk.npy", "not numpy at all", 16);
    struct {
        const char *file;
        int status;
        const char *err;
    } cases[] = {
        {"be.npy", 2, "npy: dtype '>f8': big-endian data is not supported; save it little-endian "
                      "(arr.astype('<f8'))"},
        {"short.npy", 1, "152 bytes, but the header announces 160 (truncated)"},
        {"vec.npy", 2, "a 1-dimensional array; blocks come from shape (K, M, N) or (M, N)"},
        {"junk.npy", 1, "not an .npy file (no \\x93NUMPY magic)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[1024], err[1024], args[512], want[512];
        snprintf(args, sizeof args, "push blk %s/%s", dir, cases[i].file);
        snprintf(want, sizeof want, "spectra: push: %s/%s: %s\n", dir, cases[i].file,
                 cases[i].err);
        cr_assert_eq(run(args, out, sizeof out, err, sizeof err), cases[i].status, "%s: %s",
                     cases[i].file, err);
        cr_assert_str_eq(err, want);
    }
    assert_no_more_ingest();
}

/* ------------------------------------------------------------------------------------------- */

/* The recording's start from the EDF header's fixed fields (dd.mm.yy at byte 168, hh.mm.ss at
 * 176; years 85-99 are 19xx), read here without libbiosig. */
static double edf_start_time(const char *path)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f);
    char head[256];
    cr_assert_eq(fread(head, 1, sizeof head, f), sizeof head);
    fclose(f);
    struct tm tm = {0};
    cr_assert_eq(sscanf(head + 168, "%2d.%2d.%2d%2d.%2d.%2d", &tm.tm_mday, &tm.tm_mon,
                        &tm.tm_year, &tm.tm_hour, &tm.tm_min, &tm.tm_sec), 6);
    tm.tm_mon -= 1;
    if (tm.tm_year < 85)
        tm.tm_year += 100;
    return (double)timegm(&tm);
}

Test(cli, edf_chunks_names_and_events_in_the_message_that_spans_them)
{
    char edf[4096];
    SPX_REQUIRE_DATA(edf, "eeg/eegmmidb/S001/S001R04.edf");
    char out[1024], err[4096], args[4096 + 128];
    snprintf(args, sizeof args, "push eeg %s --chunk 1", edf);
    int status = run(args, out, sizeof out, err, sizeof err);
    if (strstr(err, "built without libbiosig"))
        cr_skip_test("spectra was built without libbiosig");
    cr_assert_eq(status, 0, "%s", err);

    spectra_msg *c = take_create();
    cr_assert_eq(header_uint(c, "dim"), 64);
    cr_assert_eq(header_double(c, "rate"), 160);
    size_t n_names = 0;
    cr_assert_eq(spectra_msg_size(c, "channel_names", &n_names), 0);
    cr_assert_eq(n_names, 64);
    char name[32];
    cr_assert_eq(spectra_msg_str(c, "channel_names.0", name, sizeof name), 0);
    cr_assert_str_eq(name, "Fc5.", "EEGMMIDB's first label, trimmed");
    cr_assert_eq(spectra_msg_str(c, "channel_names.63", name, sizeof name), 0);
    cr_assert_str_eq(name, "Iz..");
    spectra_msg_free(c);

    /* 125 one-second records of 160 samples: one message each, back to back from the start. */
    double start = edf_start_time(edf);
    cr_assert_eq(start, 1250093700.0, "2009-08-12 16:15:00 UTC");
    static double payload[160 * 64];
    uint64_t samples = 0, events = 0, messages = 0;
    double expect_t0 = start;
    while (samples < 20000) {
        size_t n;
        spectra_msg *h = recv_ingest(payload, 160 * 64, &n);
        messages++;
        uint64_t k = header_uint(h, "shape.0");
        cr_assert_eq(k, 160, "message %llu", (unsigned long long)messages);
        cr_assert_eq(n, 160 * 64);
        double t0 = header_double(h, "t0");
        cr_assert_float_eq(t0, expect_t0, 1e-6, "message %llu", (unsigned long long)messages);
        size_t ne = 0;
        if (spectra_msg_size(h, "events", &ne) == 0) {
            for (size_t i = 0; i < ne; i++) {
                char path[64], label[16];
                snprintf(path, sizeof path, "events.%zu.t", i);
                double t = header_double(h, path);
                cr_assert(t >= t0 && t < t0 + 1.0, "event at %.3f outside [%.3f, %.3f)", t, t0,
                          t0 + 1);
                snprintf(path, sizeof path, "events.%zu.label", i);
                cr_assert_eq(spectra_msg_str(h, path, label, sizeof label), 0);
                cr_assert(strcmp(label, "T0") == 0 || strcmp(label, "T1") == 0 ||
                              strcmp(label, "T2") == 0, "label %s", label);
                snprintf(path, sizeof path, "events.%zu.duration", i);
                double d = header_double(h, path);
                cr_assert(d > 4.0 && d < 4.3, "duration %g (the runs' cues last about 4.1 s)", d);
            }
            events += ne;
        }
        samples += k;
        expect_t0 = start + (double)samples / 160.0;
        spectra_msg_free(h);
    }
    cr_assert_eq(messages, 125);
    cr_assert_eq(events, 30, "S001R04 has 30 annotations (15 rest, 15 cues)");
    char summary[256];
    snprintf(summary, sizeof summary,
             "eeg: 20000 samples x 64 channels (f64, 160 Hz) in 125 messages with 30 events");
    cr_assert(strstr(err, summary) != NULL, "%s", err);
    assert_no_more_ingest();

    /* --channels picks labels in the given order; "C3" matches "C3..". */
    snprintf(args, sizeof args, "push eeg2 %s --channels C4,c3,1 --chunk 100 --t0 100", edf);
    cr_assert_eq(run(args, out, sizeof out, err, sizeof err), 0, "%s", err);
    c = take_create();
    const char *want_names[3] = {"C4..", "C3..", "Fc5."};
    for (int i = 0; i < 3; i++) {
        char path[32];
        snprintf(path, sizeof path, "channel_names.%d", i);
        cr_assert_eq(spectra_msg_str(c, path, name, sizeof name), 0);
        cr_assert_str_eq(name, want_names[i]);
    }
    spectra_msg_free(c);
    size_t n;
    spectra_msg *h = recv_ingest(payload, 160 * 64, &n);
    cr_assert_eq(header_uint(h, "shape.0"), 16000, "100 s of 160 Hz");
    cr_assert_eq(header_double(h, "t0"), 100.0, "--t0 overrides the start");
    spectra_msg_free(h);
    h = recv_ingest(payload, 160 * 64, &n);
    cr_assert_eq(header_uint(h, "shape.0"), 4000);
    spectra_msg_free(h);

    snprintf(args, sizeof args, "push eeg3 %s --channels C3,Nope", edf);
    cr_assert_eq(run(args, out, sizeof out, err, sizeof err), 2);
    cr_assert(strstr(err, ": no signal labelled 'Nope'\n") != NULL, "%s", err);
}

/* ------------------------------------------------------------------------------------------- */

/* An EDF header field: text left-aligned and padded with spaces to its width. */
static char *edf_field(char *p, size_t width, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static char *edf_field(char *p, size_t width, const char *fmt, ...)
{
    char buf[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    cr_assert(n >= 0 && (size_t)n <= width, "EDF field '%s' wider than %zu", buf, width);
    memset(p, ' ', width);
    memcpy(p, buf, (size_t)n);
    return p + width;
}

/* A physical value from a digital one by the EDF definition: the linear map of [digmin, digmax]
 * onto [physmin, physmax]. */
static double edf_physical(double dig, double dmin, double dmax, double pmin, double pmax)
{
    return pmin + (dig - dmin) * (pmax - pmin) / (dmax - dmin);
}

Test(cli, edf_values_are_the_files_physical_values_at_any_chunk_boundary)
{
    char edf[4096];
    SPX_REQUIRE_DATA(edf, "eeg/eegmmidb/S001/S001R04.edf");
    /* The file decoded here from its header and int16 records (64 EEG signals of 160 samples per
     * record, then the 80-sample annotation signal). */
    FILE *f = fopen(edf, "rb");
    cr_assert_not_null(f);
    static char file[2596896];
    cr_assert_eq(fread(file, 1, sizeof file, f), sizeof file, "S001R04 is 2,596,896 bytes");
    fclose(f);
    const int ns = 65, records = 125, spr = 160, record_bytes = 2 * (64 * 160 + 80);
    const char *sig = file + 256;
    char field[9] = {0};
    double range[64][4]; /* physmin, physmax, digmin, digmax */
    for (int s = 0; s < 64; s++)
        for (int k = 0; k < 4; k++) {
            memcpy(field, sig + ns * (16 + 80 + 8) + (k * ns + s) * 8, 8);
            range[s][k] = strtod(field, NULL);
        }
    cr_assert_eq(memcmp(sig + 64 * 16, "EDF Annotations", 15), 0);

    /* 112-sample messages cut records (160 samples) at every possible place; columns in the
     * order asked: C4.., C3.., then signal 1 (Fc5.). */
    int signal[3] = {-1, -1, 0};
    for (int s = 0; s < 64; s++) {
        if (memcmp(sig + s * 16, "C4..            ", 16) == 0)
            signal[0] = s;
        if (memcmp(sig + s * 16, "C3..            ", 16) == 0)
            signal[1] = s;
    }
    cr_assert(signal[0] > signal[1] && signal[1] > 0, "C3.. comes before C4.. in the file");
    char out[1024], err[4096], args[4096 + 128];
    snprintf(args, sizeof args, "push eeg %s --channels C4,c3,1 --batch 112", edf);
    int status = run(args, out, sizeof out, err, sizeof err);
    if (strstr(err, "built without libbiosig"))
        cr_skip_test("spectra was built without libbiosig");
    cr_assert_eq(status, 0, "%s", err);
    spectra_msg_free(take_create());
    static double payload[112 * 3];
    long sample = 0;
    while (sample < (long)records * spr) {
        size_t n;
        spectra_msg *h = recv_ingest(payload, 112 * 3, &n);
        size_t k = (size_t)header_uint(h, "shape.0");
        cr_assert_eq(n, 3 * k);
        for (size_t i = 0; i < k; i++, sample++) {
            long r = sample / spr, j = sample % spr;
            for (int c = 0; c < 3; c++) {
                int s = signal[c];
                const unsigned char *p =
                    (const unsigned char *)file + 256 * (ns + 1) + r * record_bytes +
                    (s * spr + j) * 2;
                int16_t dig = (int16_t)(p[0] | p[1] << 8);
                double want = edf_physical(dig, range[s][2], range[s][3], range[s][0],
                                           range[s][1]);
                cr_assert_float_eq(payload[i * 3 + c], want, 1e-9, "sample %ld, column %d: %.17g",
                                   sample, c, payload[i * 3 + c]);
            }
        }
        spectra_msg_free(h);
    }
    cr_assert_eq(sample, 20000);
    assert_no_more_ingest();
}

/* A small EDF+ file unlike EEGMMIDB: a 0.5 s start offset in the first record's time-keeping
 * annotation, two signals of 256 samples per 1 s record with scaled calibrations, a third at
 * 1 sample per record, and annotations with and without durations, one between samples and one
 * after the last sample. */
#define MIX_RECORDS 4
#define MIX_SPR 256
static const struct mix_signal {
    const char *label;
    int spr;
    double pmin, pmax, dmin, dmax;
} mix_signals[4] = {
    {"EEG A", MIX_SPR, -3276.8, 3276.7, -32768, 32767},
    {"EEG B", MIX_SPR, -500, 500, -2048, 2047},
    {"Resp", 1, -1.5, 2.5, -100, 100},
    {"EDF Annotations", 30, -1, 1, -32768, 32767},
};

static int16_t mix_digital(int s, long sample)
{
    if (s == 0)
        return (int16_t)(sample * 37 % 65536 - 32768);
    if (s == 1)
        return (int16_t)(sample * 11 % 4096 - 2048);
    return (int16_t)(sample * 10 - 20);
}

static void write_mixed_edf(const char *name)
{
    const int ns = 4;
    static char head[256 * 5];
    char *p = head;
    p = edf_field(p, 8, "0");
    p = edf_field(p, 80, "X X X X");
    p = edf_field(p, 80, "Startdate 12-AUG-2009 X X X");
    p = edf_field(p, 8, "12.08.09");
    p = edf_field(p, 8, "16.15.00");
    p = edf_field(p, 8, "%d", 256 * (ns + 1));
    p = edf_field(p, 44, "EDF+C");
    p = edf_field(p, 8, "%d", MIX_RECORDS);
    p = edf_field(p, 8, "1");
    p = edf_field(p, 4, "%d", ns);
    for (int s = 0; s < ns; s++)
        p = edf_field(p, 16, "%s", mix_signals[s].label);
    for (int s = 0; s < ns; s++)
        p = edf_field(p, 80, " ");
    for (int s = 0; s < ns; s++)
        p = edf_field(p, 8, s < 2 ? "uV" : " ");
    for (int s = 0; s < ns; s++)
        p = edf_field(p, 8, "%g", mix_signals[s].pmin);
    for (int s = 0; s < ns; s++)
        p = edf_field(p, 8, "%g", mix_signals[s].pmax);
    for (int s = 0; s < ns; s++)
        p = edf_field(p, 8, "%g", mix_signals[s].dmin);
    for (int s = 0; s < ns; s++)
        p = edf_field(p, 8, "%g", mix_signals[s].dmax);
    for (int s = 0; s < ns; s++)
        p = edf_field(p, 80, s < 3 ? "HP:0Hz LP:0Hz" : " ");
    for (int s = 0; s < ns; s++)
        p = edf_field(p, 8, "%d", mix_signals[s].spr);
    for (int s = 0; s < ns; s++)
        p = edf_field(p, 32, " ");
    cr_assert_eq(p - head, (long)sizeof head);

    /* TAL onsets count from the header's 16:15:00; the first sample is at +0.5 s. Every record
     * starts with its time-keeping TAL; annotations may sit in any record. */
#define MIX_TAL0 "+0.5\x14\x14"
#define MIX_TAL1 "+1.5\x14\x14\0+1\x15" "1.25\x14" "Cue A\x14\0+1.5041\x14NoDur\x14"
#define MIX_TAL2 "+2.5\x14\x14"
#define MIX_TAL3 "+3.5\x14\x14\0+3.25\x15" "0.5\x14" "Cue B\x14\0+4.75\x15" "0.25\x14" "After\x14"
    static const struct {
        const char *text;
        size_t len; /* the TAL's final NUL comes from the zeroed rest of the signal */
    } tals[MIX_RECORDS] = {{MIX_TAL0, sizeof MIX_TAL0 - 1}, {MIX_TAL1, sizeof MIX_TAL1 - 1},
                           {MIX_TAL2, sizeof MIX_TAL2 - 1}, {MIX_TAL3, sizeof MIX_TAL3 - 1}};
    static char data[MIX_RECORDS * (2 * (2 * MIX_SPR + 1) + 60)];
    char *d = data;
    for (int r = 0; r < MIX_RECORDS; r++) {
        for (int s = 0; s < 3; s++)
            for (int j = 0; j < mix_signals[s].spr; j++) {
                int16_t v = mix_digital(s, (long)r * mix_signals[s].spr + j);
                *d++ = (char)(v & 0xff);
                *d++ = (char)((uint16_t)v >> 8);
            }
        cr_assert_lt(tals[r].len, 60, "TAL %d fits the annotation signal", r);
        memset(d, 0, 60);
        memcpy(d, tals[r].text, tals[r].len);
        d += 60;
    }
    cr_assert_eq(d - data, (long)sizeof data);
    char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *out = fopen(path, "wb");
    cr_assert_not_null(out);
    cr_assert_eq(fwrite(head, 1, sizeof head, out), sizeof head);
    cr_assert_eq(fwrite(data, 1, sizeof data, out), sizeof data);
    fclose(out);
}

Test(cli, edf_plus_start_offset_scaled_signals_and_a_signal_at_another_rate)
{
    write_mixed_edf("mixed.edf");
    char out[1024], err[4096], args[512];
    snprintf(args, sizeof args, "push mix %s/mixed.edf --batch 100", dir);
    int status = run(args, out, sizeof out, err, sizeof err);
    if (strstr(err, "built without libbiosig"))
        cr_skip_test("spectra was built without libbiosig");
    cr_assert_eq(status, 0, "%s", err);
    cr_assert(strstr(err, "/mixed.edf: leaving out signals at another sample rate: Resp (1 per "
                          "record)\n") != NULL, "%s", err);
    cr_assert(strstr(err, "mix: 1024 samples x 2 channels (f64, 256 Hz) in 12 messages with 4 "
                          "events") != NULL, "%s", err);
    spectra_msg *c = take_create();
    cr_assert_eq(header_uint(c, "dim"), 2);
    cr_assert_eq(header_double(c, "rate"), 256);
    char text[32];
    cr_assert_eq(spectra_msg_str(c, "channel_names.1", text, sizeof text), 0);
    cr_assert_str_eq(text, "EEG B");
    spectra_msg_free(c);

    /* 2009-08-12 16:15:00 UTC plus the 0.5 s offset; events as {onset from the first sample,
     * duration, message}: on the sample grid exactly, NoDur (1.0041 s, between samples 257 and
     * 258) within half a sample, After (past the 4 s of data) in an events-only message. */
    const double start = 1250093700.5;
    const struct {
        const char *label;
        double onset, duration;
        int message;
    } want[4] = {{"Cue A", 0.5, 1.25, 1}, {"NoDur", 1.0041, 0, 2}, {"Cue B", 2.75, 0.5, 7},
                 {"After", 4.25, 0.25, 11}};
    size_t next_event = 0;
    double payload[200];
    long sample = 0;
    for (int m = 0; m < 12; m++) {
        size_t n;
        spectra_msg *h = recv_ingest(payload, 200, &n);
        size_t k = m < 11 ? (m < 10 ? 100 : 24) : 0;
        cr_assert_eq(n, 2 * k, "message %d", m);
        if (k) {
            cr_assert_eq(header_uint(h, "shape.0"), k);
            cr_assert_float_eq(header_double(h, "t0"), start + (double)sample / 256, 1e-9,
                               "message %d", m);
        }
        for (size_t i = 0; i < k; i++, sample++)
            for (int s = 0; s < 2; s++) {
                const struct mix_signal *g = &mix_signals[s];
                double v = edf_physical(mix_digital(s, sample), g->dmin, g->dmax, g->pmin,
                                        g->pmax);
                cr_assert_float_eq(payload[2 * i + (size_t)s], v, 1e-9 * (g->pmax - g->pmin),
                                   "sample %ld, %s", sample, g->label);
            }
        size_t ne = 0;
        if (spectra_msg_size(h, "events", &ne) != 0)
            ne = 0;
        for (size_t i = 0; i < ne; i++, next_event++) {
            cr_assert_lt(next_event, 4);
            char path[64], label[16];
            snprintf(path, sizeof path, "events.%zu.label", i);
            cr_assert_eq(spectra_msg_str(h, path, label, sizeof label), 0);
            cr_assert_str_eq(label, want[next_event].label);
            cr_assert_eq(m, want[next_event].message, "%s", label);
            snprintf(path, sizeof path, "events.%zu.t", i);
            double tol = strcmp(label, "NoDur") == 0 ? 0.5 / 256 : 1e-9;
            cr_assert_float_eq(header_double(h, path), start + want[next_event].onset, tol,
                               "%s", label);
            snprintf(path, sizeof path, "events.%zu.duration", i);
            if (want[next_event].duration > 0)
                cr_assert_float_eq(header_double(h, path), want[next_event].duration, 1e-9,
                                   "%s", label);
            else
                cr_assert_eq(header_has(h, path), 0, "%s has no duration", label);
        }
        spectra_msg_free(h);
    }
    cr_assert_eq(next_event, 4);
    assert_no_more_ingest();

    /* The 1-sample-per-record signal alone: one sample per second (libbiosig hands it over
     * repeated at the file's 256 Hz). Mixing it with the others is refused. */
    snprintf(args, sizeof args, "push resp %s/mixed.edf --channels Resp", dir);
    cr_assert_eq(run(args, out, sizeof out, err, sizeof err), 0, "%s", err);
    c = take_create();
    cr_assert_eq(header_double(c, "rate"), 1);
    spectra_msg_free(c);
    size_t n;
    spectra_msg *h = recv_ingest(payload, 200, &n);
    cr_assert_eq(n, MIX_RECORDS);
    for (int r = 0; r < MIX_RECORDS; r++) {
        const struct mix_signal *g = &mix_signals[2];
        cr_assert_float_eq(payload[r], edf_physical(mix_digital(2, r), g->dmin, g->dmax, g->pmin,
                                                    g->pmax), 1e-12, "Resp sample %d", r);
    }
    spectra_msg_free(h);
    spectra_msg_free(recv_ingest(payload, 200, &n)); /* the 4 events, after the last sample */
    cr_assert_eq(n, 0);
    assert_no_more_ingest();
    snprintf(args, sizeof args, "push bad %s/mixed.edf --channels 'EEG A,Resp'", dir);
    cr_assert_eq(run(args, out, sizeof out, err, sizeof err), 2, "%s", err);
    cr_assert(strstr(err, "--channels mixes sample rates (EEG A: 256, Resp: 1 samples per "
                          "record); a series has one rate\n") != NULL, "%s", err);
}
