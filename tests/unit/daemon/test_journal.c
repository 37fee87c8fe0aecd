/* The write-ahead journal (daemon/journal.h): records come back exactly as written and in order,
 * the covered prefix is skipped, and a journal cut short or damaged anywhere is detected,
 * reported, truncated to its last good record (the tail kept aside) and never crashes. */
#define _XOPEN_SOURCE 700
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "journal.h"

static char dir[64];

static int rm_entry(const char *p, const struct stat *st, int f, struct FTW *ftw)
{
    (void)st; (void)f; (void)ftw;
    return remove(p);
}

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/spx-journal-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void) { nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS); }

TestSuite(journal, .init = setup, .fini = teardown);

/* Record i: a header of 5 + i % 7 bytes and a payload of 8 * (i % 5) bytes, contents from i. */
static void record_bytes(uint64_t i, unsigned char *head, size_t *hl, unsigned char *pl, size_t *pll)
{
    *hl = 5 + i % 7;
    *pll = 8 * (i % 5);
    for (size_t k = 0; k < *hl; k++)
        head[k] = (unsigned char)(i * 31 + k);
    for (size_t k = 0; k < *pll; k++)
        pl[k] = (unsigned char)(i * 17 + k * 3);
}

typedef struct seen {
    uint64_t n, first, last;
    bool bad;
} seen;

static int check_record(void *ctx, uint64_t seq, double t, const void *head, size_t hl,
                        const void *payload, size_t pl)
{
    seen *s = ctx;
    unsigned char eh[16], ep[64];
    size_t ehl, epl;
    record_bytes(seq, eh, &ehl, ep, &epl);
    if (hl != ehl || pl != epl || memcmp(head, eh, hl) || (pl && memcmp(payload, ep, pl)) ||
        t != (double)seq * 0.5 || (s->n && seq != s->last + 1))
        s->bad = true;
    if (!s->n)
        s->first = seq;
    s->last = seq;
    s->n++;
    return 0;
}

static void write_records(spx_journal *j, uint64_t from, uint64_t to)
{
    for (uint64_t i = from; i <= to; i++) {
        unsigned char h[16], p[64];
        size_t hl, pl;
        record_bytes(i, h, &hl, p, &pl);
        cr_assert_eq(spx_journal_append(j, i, (double)i * 0.5, h, hl, p, pl), 0);
    }
}

static char *only_segment(void)
{
    static char path[400];
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".wal") && !strstr(e->d_name, "damaged")) {
            snprintf(path, sizeof path, "%s/%.300s", dir, e->d_name);
            n++;
        }
    closedir(d);
    cr_assert_eq(n, 1);
    return path;
}

Test(journal, records_round_trip_in_order_and_skip_the_covered_prefix)
{
    spx_journal *j;
    char err[256];
    cr_assert_eq(spx_journal_open(&j, dir, 1, err, sizeof err), 0, "%s", err);
    write_records(j, 1, 200);
    cr_assert_eq(spx_journal_sync_now(j), 0);
    spx_journal_close(j);
    seen s = {0};
    spx_journal_replay_report rep;
    cr_assert_eq(spx_journal_replay(dir, 0, check_record, &s, &rep), 0);
    cr_assert(!s.bad && !rep.damaged);
    cr_assert_eq(s.n, 200);
    cr_assert_eq(rep.last_seq, 200);
    seen s2 = {0};
    cr_assert_eq(spx_journal_replay(dir, 150, check_record, &s2, &rep), 0);
    cr_assert_eq(s2.n, 50);
    cr_assert_eq(s2.first, 151);
    cr_assert_eq(rep.skipped, 150);
}

Test(journal, rotation_and_compaction_keep_exactly_what_a_snapshot_does_not_cover)
{
    spx_journal *j;
    char err[256];
    cr_assert_eq(spx_journal_open(&j, dir, 1, err, sizeof err), 0);
    write_records(j, 1, 40);
    cr_assert_eq(spx_journal_rotate(j, 41, err, sizeof err), 0, "%s", err);   /* snapshot at 40 */
    write_records(j, 41, 70);
    spx_journal_compact(dir, 40);    /* the snapshot covering 40 is written */
    seen s = {0};
    spx_journal_replay_report rep;
    cr_assert_eq(spx_journal_replay(dir, 40, check_record, &s, &rep), 0);
    cr_assert(!s.bad);
    cr_assert_eq(s.n, 30);
    cr_assert_eq(rep.skipped, 0, "the covered segment was deleted");
    /* A compaction for a snapshot that does not cover the older segment keeps it. */
    cr_assert_eq(spx_journal_rotate(j, 71, err, sizeof err), 0);
    write_records(j, 71, 80);
    spx_journal_compact(dir, 60);
    seen s2 = {0};
    cr_assert_eq(spx_journal_replay(dir, 60, check_record, &s2, &rep), 0);
    cr_assert_eq(s2.n, 20);
    cr_assert_eq(s2.first, 61);
    spx_journal_close(j);
}

Test(journal, undo_takes_the_last_record_back)
{
    spx_journal *j;
    char err[256];
    cr_assert_eq(spx_journal_open(&j, dir, 1, err, sizeof err), 0);
    write_records(j, 1, 10);
    cr_assert_eq(spx_journal_undo_last(j), 0);
    cr_assert_neq(spx_journal_undo_last(j), 0, "only one record can be taken back");
    write_records(j, 10, 12);
    spx_journal_close(j);
    seen s = {0};
    spx_journal_replay_report rep;
    cr_assert_eq(spx_journal_replay(dir, 0, check_record, &s, &rep), 0);
    cr_assert(!s.bad);
    cr_assert_eq(s.n, 12);
}

/* Cut the journal at every byte of its last three records: each time the replay gives exactly
 * the whole records before the cut, flags the damage, and leaves a journal that replays clean. */
Test(journal, a_journal_cut_anywhere_is_detected_and_truncated_to_its_good_prefix)
{
    spx_journal *j;
    char err[256];
    cr_assert_eq(spx_journal_open(&j, dir, 1, err, sizeof err), 0);
    write_records(j, 1, 20);
    spx_journal_close(j);
    char *seg = only_segment();
    char segpath[400];
    snprintf(segpath, sizeof segpath, "%s", seg);
    struct stat st;
    cr_assert_eq(stat(segpath, &st), 0);
    size_t full = (size_t)st.st_size;
    unsigned char *orig = malloc(full);
    FILE *f = fopen(segpath, "rb");
    cr_assert_eq(fread(orig, 1, full, f), full);
    fclose(f);
    /* Offsets of record ends, to know how many records a cut leaves whole. */
    size_t ends[21], off = 16;
    ends[0] = 16;
    for (uint64_t i = 1; i <= 20; i++) {
        uint32_t len;
        memcpy(&len, orig + off + 4, 4);
        off += 12 + len;
        ends[i] = off;
    }
    cr_assert_eq(off, full);
    for (size_t cut = ends[17] + 1; cut < full; cut++) {
        f = fopen(segpath, "wb");
        fwrite(orig, 1, cut, f);
        fclose(f);
        uint64_t whole = 0;
        while (whole < 20 && ends[whole + 1] <= cut)
            whole++;
        seen s = {0};
        spx_journal_replay_report rep;
        cr_assert_eq(spx_journal_replay(dir, 0, check_record, &s, &rep), 0);
        cr_assert(!s.bad);
        cr_assert_eq(s.n, whole, "cut at %zu: %llu records, expected %llu", cut,
                     (unsigned long long)s.n, (unsigned long long)whole);
        bool at_boundary = cut == ends[whole];
        cr_assert_eq(rep.damaged, !at_boundary, "cut at %zu: damage %s", cut, rep.damage);
        cr_assert_eq(stat(segpath, &st), 0);
        cr_assert_eq((size_t)st.st_size, ends[whole], "truncated to the last good record");
        seen again = {0};
        cr_assert_eq(spx_journal_replay(dir, 0, check_record, &again, &rep), 0);
        cr_assert(!rep.damaged && again.n == whole);
    }
    free(orig);
}

Test(journal, a_flipped_bit_is_caught_by_the_checksum_and_later_segments_are_set_aside)
{
    spx_journal *j;
    char err[256];
    cr_assert_eq(spx_journal_open(&j, dir, 1, err, sizeof err), 0);
    write_records(j, 1, 10);
    char first[400];
    snprintf(first, sizeof first, "%s", only_segment());
    cr_assert_eq(spx_journal_rotate(j, 11, err, sizeof err), 0);
    write_records(j, 11, 20);
    spx_journal_close(j);
    /* Flip one payload bit of record 5 in the first segment. */
    int fd = open(first, O_RDWR);
    off_t off = 16;
    for (int i = 1; i < 5; i++) {
        uint32_t len;
        cr_assert_eq(pread(fd, &len, 4, off + 4), 4);
        off += 12 + len;
    }
    unsigned char b;
    cr_assert_eq(pread(fd, &b, 1, off + 12 + 21), 1);
    b ^= 0x10;
    cr_assert_eq(pwrite(fd, &b, 1, off + 12 + 21), 1);
    close(fd);
    seen s = {0};
    spx_journal_replay_report rep;
    cr_assert_eq(spx_journal_replay(dir, 0, check_record, &s, &rep), 0);
    cr_assert(rep.damaged);
    cr_assert(strstr(rep.damage, "checksum"), "%s", rep.damage);
    cr_assert_eq(s.n, 4, "records after the damage are not applied");
    /* The second segment cannot follow on from a hole: it was renamed, not replayed. */
    char moved[300];
    snprintf(moved, sizeof moved, "%s/journal-%020d.wal.unreplayed", dir, 11);
    cr_assert_eq(access(moved, F_OK), 0);
}

Test(journal, garbage_files_are_refused_not_trusted)
{
    char path[128];
    snprintf(path, sizeof path, "%s/journal-%020d.wal", dir, 1);
    FILE *f = fopen(path, "wb");
    for (int i = 0; i < 1000; i++)
        fputc((i * 7919) & 0xff, f);
    fclose(f);
    seen s = {0};
    spx_journal_replay_report rep;
    cr_assert_eq(spx_journal_replay(dir, 0, check_record, &s, &rep), 0);
    cr_assert(rep.damaged);
    cr_assert_eq(s.n, 0);
}
