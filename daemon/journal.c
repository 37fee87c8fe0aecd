#include "journal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "crc32c.h"

#define SEGMENT_MAGIC "SPXWAL1"          /* 8 bytes with its NUL */
#define SEGMENT_HEADER 16u
#define RECORD_MAGIC 0x4c4a5053u
#define RECORD_PREFIX 12u                /* magic, length, crc */
#define RECORD_FIXED 20u                 /* seq, receive time, header length */
#define SEGMENT_NAME_MAX 64

struct spx_journal {
    char dir[4096];
    int fd;
    uint64_t first_seq;
    off_t size;                /* bytes in the current segment */
    off_t last_record;         /* offset of the last appended record, for undo */
    bool dirty;
    uint64_t bytes;
};

const char *spx_journal_sync_name(spx_journal_sync s)
{
    return s == SPX_JOURNAL_SYNC_ALWAYS ? "always" : s == SPX_JOURNAL_SYNC_INTERVAL ? "interval"
                                                                                     : "os";
}

int spx_journal_sync_parse(const char *s, spx_journal_sync *out)
{
    for (int i = SPX_JOURNAL_SYNC_ALWAYS; i <= SPX_JOURNAL_SYNC_OS; i++)
        if (!strcmp(s, spx_journal_sync_name((spx_journal_sync)i))) {
            *out = (spx_journal_sync)i;
            return 0;
        }
    return -1;
}

static void segment_path(char *buf, size_t len, const char *dir, uint64_t first)
{
    snprintf(buf, len, "%s/journal-%020" PRIu64 ".wal", dir, first);
}

static int sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) == 0 ? 0 : -errno;
    close(fd);
    return rc;
}

static int open_segment(spx_journal *j, uint64_t first, char *err, size_t errlen)
{
    char path[4200];
    segment_path(path, sizeof path, j->dir, first);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0) {
        snprintf(err, errlen, "journal %s: %s", path, strerror(errno));
        return -1;
    }
    unsigned char h[SEGMENT_HEADER] = {0};
    memcpy(h, SEGMENT_MAGIC, 8);
    memcpy(h + 8, &first, 8);
    if (write(fd, h, sizeof h) != (ssize_t)sizeof h || fdatasync(fd) != 0 || sync_dir(j->dir) != 0) {
        snprintf(err, errlen, "journal %s: %s", path, strerror(errno));
        close(fd);
        unlink(path);
        return -1;
    }
    j->fd = fd;
    j->first_seq = first;
    j->size = SEGMENT_HEADER;
    j->last_record = -1;
    j->dirty = false;
    return 0;
}

int spx_journal_open(spx_journal **out, const char *dir, uint64_t next_seq, char *err,
                     size_t errlen)
{
    *out = NULL;
    if (mkdir(dir, 0750) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "journal dir %s: %s", dir, strerror(errno));
        return -1;
    }
    spx_journal *j = calloc(1, sizeof *j);
    if (!j) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    snprintf(j->dir, sizeof j->dir, "%s", dir);
    if (open_segment(j, next_seq, err, errlen) != 0) {
        free(j);
        return -1;
    }
    *out = j;
    return 0;
}

void spx_journal_close(spx_journal *j)
{
    if (!j)
        return;
    if (j->dirty)
        fdatasync(j->fd);
    close(j->fd);
    free(j);
}

int spx_journal_append(spx_journal *j, uint64_t seq, double recv_time, const void *head,
                       size_t head_len, const void *payload, size_t payload_len)
{
    uint64_t rest = RECORD_FIXED + (uint64_t)head_len + payload_len;
    if (rest > UINT32_MAX)
        return -EFBIG;
    unsigned char fixed[RECORD_FIXED], prefix[RECORD_PREFIX];
    uint32_t hl = (uint32_t)head_len, magic = RECORD_MAGIC, len = (uint32_t)rest;
    memcpy(fixed, &seq, 8);
    memcpy(fixed + 8, &recv_time, 8);
    memcpy(fixed + 16, &hl, 4);
    uint32_t crc = spx_crc32c(0, fixed, sizeof fixed);
    crc = spx_crc32c(crc, head, head_len);
    if (payload_len)
        crc = spx_crc32c(crc, payload, payload_len);
    memcpy(prefix, &magic, 4);
    memcpy(prefix + 4, &len, 4);
    memcpy(prefix + 8, &crc, 4);
    struct iovec iov[4] = {{prefix, sizeof prefix}, {fixed, sizeof fixed},
                           {(void *)head, head_len}, {(void *)payload, payload_len}};
    size_t total = RECORD_PREFIX + rest, done = 0;
    int iovcnt = payload_len ? 4 : 3;
    struct iovec *v = iov;
    while (done < total) {
        ssize_t n = writev(j->fd, v, iovcnt);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            /* Leave the segment as it was: no half record for a replay to trip over. */
            if (ftruncate(j->fd, j->size) != 0 || lseek(j->fd, j->size, SEEK_SET) < 0)
                return -EIO;
            return -e;
        }
        done += (size_t)n;
        while (iovcnt && (size_t)n >= v->iov_len) {
            n -= (ssize_t)v->iov_len;
            v++;
            iovcnt--;
        }
        if (iovcnt) {
            v->iov_base = (char *)v->iov_base + n;
            v->iov_len -= (size_t)n;
        }
    }
    j->last_record = j->size;
    j->size += (off_t)total;
    j->bytes += total;
    j->dirty = true;
    return 0;
}

int spx_journal_undo_last(spx_journal *j)
{
    if (j->last_record < 0)
        return -EINVAL;
    if (ftruncate(j->fd, j->last_record) != 0 || lseek(j->fd, j->last_record, SEEK_SET) < 0)
        return -errno;
    j->bytes -= (uint64_t)(j->size - j->last_record);
    j->size = j->last_record;
    j->last_record = -1;
    return 0;
}

int spx_journal_sync_now(spx_journal *j)
{
    if (!j->dirty)
        return 0;
    if (fdatasync(j->fd) != 0)
        return -errno;
    j->dirty = false;
    return 0;
}

bool spx_journal_dirty(const spx_journal *j) { return j->dirty; }
uint64_t spx_journal_bytes(const spx_journal *j) { return j->bytes; }

int spx_journal_rotate(spx_journal *j, uint64_t next_seq, char *err, size_t errlen)
{
    if (next_seq == j->first_seq && j->size == SEGMENT_HEADER)
        return 0;   /* the current segment is empty and already starts there */
    int old = j->fd;
    if (j->dirty && fdatasync(old) != 0) {
        snprintf(err, errlen, "journal: fdatasync: %s", strerror(errno));
        return -1;
    }
    if (open_segment(j, next_seq, err, errlen) != 0) {
        j->fd = old;
        return -1;
    }
    close(old);
    return 0;
}

/* The segments of dir, sorted by first seq (the zero-padded names sort as numbers). */
static int list_segments(const char *dir, uint64_t **firsts, size_t *n)
{
    *firsts = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? 0 : -errno;
    size_t cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        uint64_t first;
        char tail[8];
        if (strlen(e->d_name) != 8 + 20 + 4 ||
            sscanf(e->d_name, "journal-%20" SCNu64 "%7s", &first, tail) != 2 ||
            strcmp(tail, ".wal") != 0)
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            uint64_t *nf = realloc(*firsts, cap * sizeof *nf);
            if (!nf) {
                closedir(d);
                return -ENOMEM;
            }
            *firsts = nf;
        }
        (*firsts)[(*n)++] = first;
    }
    closedir(d);
    for (size_t i = 1; i < *n; i++)   /* few segments: insertion sort */
        for (size_t k = i; k > 0 && (*firsts)[k - 1] > (*firsts)[k]; k--) {
            uint64_t t = (*firsts)[k];
            (*firsts)[k] = (*firsts)[k - 1];
            (*firsts)[k - 1] = t;
        }
    return 0;
}

void spx_journal_compact(const char *dir, uint64_t covers)
{
    uint64_t *firsts;
    size_t n;
    if (list_segments(dir, &firsts, &n) != 0)
        return;
    /* Segment i holds [firsts[i], firsts[i+1]); the newest segment is never deleted here. */
    for (size_t i = 0; i + 1 < n; i++)
        if (firsts[i + 1] - 1 <= covers) {
            char path[4200];
            segment_path(path, sizeof path, dir, firsts[i]);
            unlink(path);
        }
    free(firsts);
    sync_dir(dir);
}

static int read_full(int fd, void *buf, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = read(fd, (char *)buf + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        done += (size_t)n;
    }
    return 0;
}

/* Keeps the damaged tail [off, end) of a segment beside it and truncates the segment at off. */
static void set_tail_aside(const char *path, int fd, off_t off, off_t end)
{
    char aside[4300];
    snprintf(aside, sizeof aside, "%s.damaged-%jd", path, (intmax_t)off);
    int out = open(aside, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (out >= 0) {
        char buf[65536];
        for (off_t pos = off; pos < end;) {
            size_t want = (size_t)(end - pos < (off_t)sizeof buf ? end - pos : (off_t)sizeof buf);
            ssize_t n = pread(fd, buf, want, pos);
            if (n <= 0 || write(out, buf, (size_t)n) != n)
                break;
            pos += n;
        }
        fsync(out);
        close(out);
    }
    if (truncate(path, off) == 0) {
        int f = open(path, O_WRONLY | O_CLOEXEC);
        if (f >= 0) {
            fsync(f);
            close(f);
        }
    }
}

static int replay_segment(const char *path, uint64_t after_seq, spx_journal_record_fn fn,
                          void *ctx, spx_journal_replay_report *rep)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    off_t end = st.st_size, off = SEGMENT_HEADER;
    unsigned char h[SEGMENT_HEADER];
    if (end < (off_t)SEGMENT_HEADER || read_full(fd, h, sizeof h) != 0 ||
        memcmp(h, SEGMENT_MAGIC, 8) != 0) {
        rep->damaged = true;
        snprintf(rep->damage, sizeof rep->damage, "%.64s: not a journal segment (bad header)",
                 strrchr(path, '/') + 1);
        close(fd);
        return 0;
    }
    unsigned char *buf = NULL;
    size_t cap = 0;
    int rc = 0;
    while (off < end) {
        unsigned char prefix[RECORD_PREFIX];
        uint32_t magic, len, crc;
        const char *what = NULL;
        if (end - off < (off_t)RECORD_PREFIX || pread(fd, prefix, sizeof prefix, off) !=
                                                     (ssize_t)sizeof prefix) {
            what = "record header cut short";
        } else {
            memcpy(&magic, prefix, 4);
            memcpy(&len, prefix + 4, 4);
            memcpy(&crc, prefix + 8, 4);
            if (magic != RECORD_MAGIC)
                what = "bad record magic";
            else if (len < RECORD_FIXED || (off_t)len > end - off - (off_t)RECORD_PREFIX)
                what = "record cut short";
        }
        if (!what) {
            if (len > cap) {
                unsigned char *nb = realloc(buf, len);
                if (!nb) {
                    rc = -ENOMEM;
                    break;
                }
                buf = nb;
                cap = len;
            }
            if (pread(fd, buf, len, off + (off_t)RECORD_PREFIX) != (ssize_t)len)
                what = "record cut short";
            else if (spx_crc32c(0, buf, len) != crc)
                what = "checksum mismatch";
        }
        uint32_t hl = 0;
        if (!what) {
            memcpy(&hl, buf + 16, 4);
            if (hl > len - RECORD_FIXED)
                what = "header length out of range";
        }
        if (what) {
            rep->damaged = true;
            snprintf(rep->damage, sizeof rep->damage, "%.64s at byte %jd after seq %" PRIu64
                     ": %s; %jd bytes set aside", strrchr(path, '/') + 1, (intmax_t)off,
                     rep->last_seq, what,
                     (intmax_t)(end - off));
            set_tail_aside(path, fd, off, end);
            break;
        }
        uint64_t seq;
        double t;
        memcpy(&seq, buf, 8);
        memcpy(&t, buf + 8, 8);
        rep->last_seq = seq;
        if (seq <= after_seq) {
            rep->skipped++;
        } else {
            rc = fn(ctx, seq, t, buf + RECORD_FIXED, hl, buf + RECORD_FIXED + hl,
                    len - RECORD_FIXED - hl);
            if (rc != 0)
                break;
            rep->records++;
        }
        off += (off_t)RECORD_PREFIX + len;
    }
    free(buf);
    close(fd);
    return rc;
}

int spx_journal_replay(const char *dir, uint64_t after_seq, spx_journal_record_fn fn, void *ctx,
                       spx_journal_replay_report *rep)
{
    memset(rep, 0, sizeof *rep);
    uint64_t *firsts;
    size_t n;
    int rc = list_segments(dir, &firsts, &n);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < n && rc == 0; i++) {
        char path[4200];
        segment_path(path, sizeof path, dir, firsts[i]);
        if (rep->damaged) {
            /* After a damaged record the rest cannot follow on: keep it, but out of the way. */
            char aside[4300];
            snprintf(aside, sizeof aside, "%s.unreplayed", path);
            rename(path, aside);
            continue;
        }
        rc = replay_segment(path, after_seq, fn, ctx, rep);
    }
    free(firsts);
    return rc;
}
