/* End to end: `spectra push` of the three file formats into a real spectrad, and the daemon's own
 * counters (`stats`) and stream table (`list`) compared with what the files hold, counted here
 * independently of the CLI: an ETTh1 CSV slice as a series (dates parsed with timegm), the
 * EEGMMIDB S001R04 EDF+ recording (header fields and annotation TALs read here without libbiosig),
 * and the synthetic isvd K400 blocks, raw and as .npy. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "daemon_harness.h"
#include "testdata.h"

/* Runs spectra against the daemon. Its stderr (push summaries, errors) is kept in err (may be
 * NULL) and copied to the test's stderr. */
static double stream_number(spx_daemon_proc *d, const char *op, const char *stream,
                            const char *a, const char *b)
{
    msgpack_unpacked r;
    cr_assert_eq(spx_ctl_simple(d, op, NULL, NULL, &r), 0, "%s", op);
    const char *const path[] = {"streams", stream, a, b, NULL};
    double v = spx_reply_number(&r.data, path);
    msgpack_unpacked_destroy(&r);
    return v;
}

#define STAT(d, s, key) stream_number((d), "stats", (s), (key), NULL)

/* The stream's entry in `list` (an array there, unlike stats). */
typedef struct listed {
    char kind[16];
    double dim, rate, messages, count;
} listed;

static int str_eq(const msgpack_object *o, const char *s)
{
    return o->type == MSGPACK_OBJECT_STR && o->via.str.size == strlen(s) &&
           memcmp(o->via.str.ptr, s, o->via.str.size) == 0;
}

static const msgpack_object *map_get(const msgpack_object *m, const char *key)
{
    for (uint32_t i = 0; m->type == MSGPACK_OBJECT_MAP && i < m->via.map.size; i++)
        if (str_eq(&m->via.map.ptr[i].key, key))
            return &m->via.map.ptr[i].val;
    return NULL;
}

static double as_number(const msgpack_object *o)
{
    if (!o)
        return NAN;
    switch (o->type) {
    case MSGPACK_OBJECT_POSITIVE_INTEGER: return (double)o->via.u64;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: return o->via.f64;
    default: return NAN;
    }
}

static listed list_stream(spx_daemon_proc *d, const char *stream)
{
    msgpack_unpacked r;
    cr_assert_eq(spx_ctl_simple(d, "list", NULL, NULL, &r), 0);
    const msgpack_object *streams = map_get(&r.data, "streams");
    cr_assert(streams && streams->type == MSGPACK_OBJECT_ARRAY);
    listed out = {.dim = NAN};
    for (uint32_t i = 0; i < streams->via.array.size; i++) {
        const msgpack_object *s = &streams->via.array.ptr[i];
        const msgpack_object *name = map_get(s, "stream");
        if (!name || !str_eq(name, stream))
            continue;
        const msgpack_object *kind = map_get(s, "kind");
        cr_assert(kind && kind->type == MSGPACK_OBJECT_STR && kind->via.str.size < 16);
        memcpy(out.kind, kind->via.str.ptr, kind->via.str.size);
        out.dim = as_number(map_get(s, "dim"));
        out.rate = as_number(map_get(s, "rate"));
        out.messages = as_number(map_get(s, "messages"));
        out.count = as_number(map_get(s, "count"));
    }
    msgpack_unpacked_destroy(&r);
    cr_assert(!isnan(out.dim), "list has no stream %s", stream);
    return out;
}

static void assert_clean(spx_daemon_proc *d, const char *stream)
{
    cr_assert_eq(STAT(d, stream, "rejected"), 0, "%s: rejected messages", stream);
    cr_assert_eq(STAT(d, stream, "seq_gaps"), 0);
    cr_assert_eq(STAT(d, stream, "seq_repeats"), 0);
    msgpack_unpacked r;
    cr_assert_eq(spx_ctl_simple(d, "stats", NULL, NULL, &r), 0);
    const char *const p_rej[] = {"ingest", "rejected", NULL};
    cr_assert_eq(spx_reply_number(&r.data, p_rej), 0, "the daemon rejected some message");
    msgpack_unpacked_destroy(&r);
}

static char tmpdir[64];

static void make_tmpdir(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/spx-push-formats-XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
}

static void remove_tmpdir(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    cr_assert_eq(system(cmd), 0);
}

/* ------------------------------------------------------------------------------------------- */

#define ETT_ROWS 2000
#define ETT_BATCH 256

/* "YYYY-MM-DD HH:MM:SS" -> epoch seconds with the C library (UTC), not libspectra's parser. */
static double ett_time(const char *line)
{
    struct tm tm = {0};
    cr_assert_eq(sscanf(line, "%d-%d-%d %d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                        &tm.tm_hour, &tm.tm_min, &tm.tm_sec), 6, "%.40s", line);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (double)timegm(&tm);
}

Test(push_formats, etth1_csv_slice_becomes_a_series, .timeout = 300)
{
    char src[4096];
    SPX_REQUIRE_DATA(src, "forecast/ETTh1.csv");
    make_tmpdir();
    char slice[128];
    snprintf(slice, sizeof slice, "%s/etth1.csv", tmpdir);
    FILE *in = fopen(src, "r"), *out = fopen(slice, "w");
    cr_assert(in && out);
    char line[1024];
    double times[ETT_ROWS];
    for (int i = 0; i <= ETT_ROWS; i++) {
        cr_assert_not_null(fgets(line, sizeof line, in));
        fputs(line, out);
        if (i == 0)
            cr_assert_eq(strncmp(line, "date,HUFL,HULL,MUFL,MULL,LUFL,LULL,OT", 37), 0);
        else
            times[i - 1] = ett_time(line);
    }
    fclose(in);
    fclose(out);
    /* Messages the CLI must make: at most ETT_BATCH rows, cut where the hourly grid breaks. */
    uint64_t messages = 0, gaps = 0;
    for (size_t i = 0; i < ETT_ROWS;) {
        size_t k = 1;
        while (i + k < ETT_ROWS && k < ETT_BATCH && times[i + k] - times[i] == 3600.0 * k)
            k++;
        if (i + k < ETT_ROWS && times[i + k] - times[i + k - 1] != 3600.0)
            gaps++;
        messages++;
        i += k;
    }

    spx_daemon_proc d;
    spx_daemon_start(&d, NULL);
    const char *push[] = {"push", "etth1", slice, "--kind", "series", "--time-column", "date",
                          "--batch", "256", "--normalize", "train=1000", "--wait", NULL};
    char err[4096];
    cr_assert_eq(spx_run_cli(&d, push, err, sizeof err), 0, "%s", err);
    cr_assert(strstr(err, "normalize OT: mean ") != NULL, "statistics on stderr: %s", err);
    cr_assert_eq(STAT(&d, "etth1", "messages"), (double)messages);
    cr_assert_eq(STAT(&d, "etth1", "count"), ETT_ROWS, "samples");
    cr_assert_eq(STAT(&d, "etth1", "bytes"), ETT_ROWS * 7 * 8);
    cr_assert_eq(STAT(&d, "etth1", "events"), 0);
    cr_assert_eq(stream_number(&d, "stats", "etth1", "time", "gaps"), (double)gaps);
    cr_assert_eq(stream_number(&d, "stats", "etth1", "time", "overlaps"), 0);
    assert_clean(&d, "etth1");
    listed l = list_stream(&d, "etth1");
    cr_assert_str_eq(l.kind, "series");
    cr_assert_eq(l.dim, 7, "the 7 columns after date");
    cr_assert_eq(l.rate, 1.0 / 3600, "hourly: %.17g", l.rate);
    cr_assert_eq(l.count, ETT_ROWS);
    cr_assert_eq(spx_daemon_stop(&d), 0);
    remove_tmpdir();
}

/* ------------------------------------------------------------------------------------------- */

/* What the test reads from an EDF+ file itself: the data record layout from the header, and the
 * annotations from the TALs of the "EDF Annotations" signal ("+onset[\x15dur]\x14text\x14...\0";
 * the first TAL of every record only keeps time and has no text). */
typedef struct edf_facts {
    long records, signals, annotation_signal;
    double record_seconds;
    long spr[128];             /* samples per record of each signal */
    char label[128][17];
    long annotations;
    double last_onset;
} edf_facts;

static long field_long(const char *p, size_t n)
{
    char buf[32] = {0};
    memcpy(buf, p, n < 31 ? n : 31);
    return strtol(buf, NULL, 10);
}

static void read_edf_facts(const char *path, edf_facts *e)
{
    memset(e, 0, sizeof *e);
    e->annotation_signal = -1;
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)size);
    cr_assert_not_null(b);
    cr_assert_eq(fread(b, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    e->records = field_long(b + 236, 8);
    char dur[9] = {0};
    memcpy(dur, b + 244, 8);
    e->record_seconds = strtod(dur, NULL);
    e->signals = field_long(b + 252, 4);
    cr_assert(e->signals > 0 && e->signals <= 128);
    const char *sig = b + 256;
    long ns = e->signals;
    long record_bytes = 0;
    for (long i = 0; i < ns; i++) {
        memcpy(e->label[i], sig + i * 16, 16);
        e->spr[i] = field_long(sig + ns * (16 + 80 + 8 * 5 + 80) + i * 8, 8);
        record_bytes += 2 * e->spr[i];
        if (strncmp(e->label[i], "EDF Annotations", 15) == 0)
            e->annotation_signal = i;
    }
    cr_assert_eq(256 + ns * 256 + e->records * record_bytes, size, "EDF size arithmetic");
    cr_assert_geq(e->annotation_signal, 0, "an EDF+ file with annotations");
    long offset = 0;
    for (long i = 0; i < e->annotation_signal; i++)
        offset += 2 * e->spr[i];
    long tal_bytes = 2 * e->spr[e->annotation_signal];
    for (long r = 0; r < e->records; r++) {
        const char *p = b + 256 + ns * 256 + r * record_bytes + offset, *end = p + tal_bytes;
        while (p < end && (*p == '+' || *p == '-')) {
            const char *tal_end = memchr(p, '\0', (size_t)(end - p));
            cr_assert_not_null(tal_end, "record %ld: unterminated TAL", r);
            double onset = strtod(p, NULL);
            const char *text = memchr(p, '\x14', (size_t)(tal_end - p));
            cr_assert_not_null(text);
            text++;
            while (text < tal_end) { /* each text ends with \x14 */
                const char *stop = memchr(text, '\x14', (size_t)(tal_end - text));
                cr_assert_not_null(stop);
                if (stop > text) {
                    e->annotations++;
                    if (onset > e->last_onset)
                        e->last_onset = onset;
                }
                text = stop + 1;
            }
            p = tal_end + 1;
            while (p < end && *p == '\0')
                p++;
        }
    }
    free(b);
}

Test(push_formats, s001r04_edf_fast_becomes_a_series_with_events, .timeout = 300)
{
    char edf[4096];
    SPX_REQUIRE_DATA(edf, "eeg/eegmmidb/S001/S001R04.edf");
    edf_facts e;
    read_edf_facts(edf, &e);
    long channels = 0, spr = e.spr[0];
    for (long i = 0; i < e.signals; i++)
        if (i != e.annotation_signal && e.spr[i] == spr)
            channels++;
    cr_assert_eq(channels, 64);
    double rate = (double)spr / e.record_seconds;
    double samples = (double)e.records * (double)spr;
    cr_assert_eq(samples, 20000, "125 records of 160 samples");
    cr_assert_gt(e.annotations, 0);
    /* 1024 samples per message by default, plus one events-only message for annotations whose
     * onset is at or after the last sample's span. */
    double messages = ceil(samples / 1024) + (e.last_onset * rate >= samples ? 1 : 0);

    spx_daemon_proc d;
    spx_daemon_start(&d, NULL);
    const char *push[] = {"push", "eeg", edf, "--rate", "fast", "--wait", NULL};
    char err[4096];
    int rc = spx_run_cli(&d, push, err, sizeof err);
    if (rc == 2 && strstr(err, "built without libbiosig")) {
        spx_daemon_stop(&d);
        cr_skip_test("spectra was built without libbiosig");
    }
    cr_assert_eq(rc, 0, "%s", err);
    cr_assert_eq(STAT(&d, "eeg", "count"), samples, "samples per channel");
    cr_assert_eq(STAT(&d, "eeg", "messages"), messages);
    cr_assert_eq(STAT(&d, "eeg", "events"), (double)e.annotations, "every annotation, once");
    cr_assert_eq(STAT(&d, "eeg", "bytes"), samples * 64 * 8);
    cr_assert_eq(stream_number(&d, "stats", "eeg", "time", "gaps"), 0);
    cr_assert_eq(stream_number(&d, "stats", "eeg", "time", "overlaps"), 0);
    assert_clean(&d, "eeg");
    listed l = list_stream(&d, "eeg");
    cr_assert_str_eq(l.kind, "series");
    cr_assert_eq(l.dim, 64);
    cr_assert_eq(l.rate, rate, "%.17g Hz", l.rate);
    cr_assert_eq(spx_daemon_stop(&d), 0);
}

/* ------------------------------------------------------------------------------------------- */

#define K400_BLOCKS 400
#define K400_M 128
#define K400_N 8
#define NPY_BLOCKS 10

Test(push_formats, isvd_k400_blocks_raw_and_npy, .timeout = 500)
{
    char raw[4096];
    SPX_REQUIRE_DATA(raw, "isvd/synth_K400_m128_n8.f64");
    make_tmpdir();
    /* The first blocks again as an .npy file, header as numpy.save writes it. */
    char npy[128];
    snprintf(npy, sizeof npy, "%s/first.npy", tmpdir);
    size_t values = (size_t)NPY_BLOCKS * K400_M * K400_N;
    double *v = malloc(values * sizeof *v);
    cr_assert_not_null(v);
    FILE *f = fopen(raw, "rb");
    cr_assert_not_null(f);
    cr_assert_eq(fread(v, sizeof *v, values, f), values);
    fseek(f, 0, SEEK_END);
    cr_assert_eq(ftell(f), (long)K400_BLOCKS * K400_M * K400_N * 8, "400 blocks of 128 x 8");
    fclose(f);
    char header[128];
    memset(header, ' ', sizeof header);
    memcpy(header, "\x93NUMPY\x01\x00\x76\x00", 10);
    const char *dict = "{'descr': '<f8', 'fortran_order': False, 'shape': (10, 128, 8), }";
    memcpy(header + 10, dict, strlen(dict));
    header[127] = '\n';
    f = fopen(npy, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(header, 1, sizeof header, f), sizeof header);
    cr_assert_eq(fwrite(v, sizeof *v, values, f), values);
    fclose(f);
    free(v);

    spx_daemon_proc d;
    spx_daemon_start(&d, NULL);
    /* A batch pipeline re-clusters every block when the end marker arrives. */
    const char *create[] = {"create", "isvd", "--kind", "blocks", "--dim", "128", NULL};
    cr_assert_eq(spx_run_cli(&d, create, NULL, 0), 0);
    const char *attach[] = {"attach", "isvd", "sc", "svdcluster", "--every", "0",
                            "--interval-ms", "0", NULL};
    cr_assert_eq(spx_run_cli(&d, attach, NULL, 0), 0);
    const char *push_raw[] = {"push", "isvd", raw, "--kind", "blocks", "--block-shape", "128x8",
                              "--end", "--wait", NULL};
    cr_assert_eq(spx_run_cli(&d, push_raw, NULL, 0), 0);
    /* The end marker rides on the last block: exactly one message per block. */
    cr_assert_eq(STAT(&d, "isvd", "messages"), K400_BLOCKS);
    cr_assert_eq(STAT(&d, "isvd", "count"), K400_BLOCKS, "blocks");
    cr_assert_eq(STAT(&d, "isvd", "bytes"), (double)K400_BLOCKS * K400_M * K400_N * 8);
    assert_clean(&d, "isvd");
    listed l = list_stream(&d, "isvd");
    cr_assert_str_eq(l.kind, "blocks");
    cr_assert_eq(l.dim, K400_M, "a blocks stream's dimension is the rows of every block");
    /* The pipeline may still be working through its queue (slowly under valgrind): wait until
     * it has applied the last message, so that `get` answers within the harness's timeout. */
    const char *const p_applied[] = {"streams", "isvd", "pipelines", "sc", "input_seq", NULL};
    msgpack_unpacked r;
    double applied = 0;
    for (int i = 0; i < 6000 && applied < K400_BLOCKS; i++) {
        cr_assert_eq(spx_ctl_simple(&d, "stats", NULL, NULL, &r), 0);
        applied = spx_reply_number(&r.data, p_applied);
        msgpack_unpacked_destroy(&r);
        if (applied < K400_BLOCKS)
            usleep(50000);
    }
    cr_assert_eq(applied, K400_BLOCKS, "the pipeline applied every block");
    cr_assert_eq(spx_ctl_simple(&d, "get", "isvd", "sc", &r), 0);
    char code[64];
    cr_assert(spx_reply_ok(&r, code, sizeof code), "get: %s", code);
    const char *const p_count[] = {"result", "count", NULL};
    cr_assert_eq(spx_reply_number(&r.data, p_count), K400_BLOCKS);
    const char *const p_batch[] = {"result", "result", "batch", "blocks", NULL};
    cr_assert_eq(spx_reply_number(&r.data, p_batch), K400_BLOCKS,
                 "the end marker on the last block started the batch re-clustering");
    msgpack_unpacked_destroy(&r);

    const char *push_npy[] = {"push", "isvd_npy", npy, "--id-prefix", "b", "--dtype", "f32",
                              "--wait", NULL};
    cr_assert_eq(spx_run_cli(&d, push_npy, NULL, 0), 0);
    cr_assert_eq(STAT(&d, "isvd_npy", "messages"), NPY_BLOCKS);
    cr_assert_eq(STAT(&d, "isvd_npy", "count"), NPY_BLOCKS);
    cr_assert_eq(STAT(&d, "isvd_npy", "bytes"), (double)NPY_BLOCKS * K400_M * K400_N * 4, "f32");
    assert_clean(&d, "isvd_npy");

    /* A second push into the same stream with another block height is refused by the CLI
     * before anything is sent. */
    const char *wrong[] = {"push", "isvd", raw, "--kind", "blocks", "--block-shape", "64x16",
                           NULL};
    char err[4096];
    cr_assert_eq(spx_run_cli(&d, wrong, err, sizeof err), 1);
    cr_assert_str_eq(err, "spectra: push: stream 'isvd' takes blocks of 128 rows, not 64\n");
    cr_assert_eq(STAT(&d, "isvd", "messages"), K400_BLOCKS, "nothing more was sent");
    assert_clean(&d, "isvd");
    cr_assert_eq(spx_daemon_stop(&d), 0);
    remove_tmpdir();
}
