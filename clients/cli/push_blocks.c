/* Push sources reading matrix blocks from binary files: raw little-endian values of consecutive
 * C-order m x n blocks, or an .npy array of shape (K, m, n) (K blocks) or (m, n) (one block).
 * Both are read sequentially, so '-' (stdin) works; a regular file's size is checked against its
 * shape before anything is sent. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"

typedef struct block_file {
    FILE *f;
    int own_file;
    const char *path;
    spectra_dtype dtype;         /* of the values in the file */
    size_t m, n;
    int count_known;
    uint64_t count;              /* blocks in the file, when known */
    int size_checked;            /* a regular file whose size matched the shape */
    int64_t next;                /* index of the next block */
    float *f32;                  /* read buffer for f32 files */
    char err[512];
} block_file;

static int fail(block_file *b, int code, const char *fmt, ...) CLI_PRINTF(3, 4);

static int fail(block_file *b, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b->err, sizeof b->err, fmt, ap);
    va_end(ap);
    return code;
}

static size_t block_bytes(const block_file *b)
{
    return b->m * b->n * spectra_dtype_size(b->dtype);
}

static int blocks_read(push_source *src, double *rows, size_t max_rows, push_chunk *chunk)
{
    block_file *b = src->impl;
    chunk->n = 0;
    if (max_rows < b->m)
        return fail(b, SPECTRA_EINVAL, "internal: a read of %zu rows for blocks of %zu", max_rows,
                    b->m);
    if (b->count_known && (uint64_t)b->next == b->count) {
        if (!b->size_checked && fgetc(b->f) != EOF)
            return fail(b, SPECTRA_EPARSE, "%s: data after the %llu blocks the header announces",
                        b->path, (unsigned long long)b->count);
        return 0;
    }
    size_t values = b->m * b->n;
    void *dst = b->dtype == SPECTRA_F32 ? (void *)b->f32 : (void *)rows;
    size_t got = fread(dst, spectra_dtype_size(b->dtype), values, b->f);
    if (got != values) {
        if (ferror(b->f))
            return fail(b, SPECTRA_EIO, "%s: read error: %s", b->path, strerror(errno));
        if (got == 0 && !b->count_known)
            return 0;
        return fail(b, SPECTRA_EPARSE, "%s: the file ends inside block %lld (%zu of %zu values)",
                    b->path, (long long)b->next, got, values);
    }
    /* Host order is little-endian: libspectra sends payloads as they are in memory. */
    if (b->dtype == SPECTRA_F32)
        for (size_t i = 0; i < values; i++)
            rows[i] = b->f32[i];
    chunk->n = b->m;
    chunk->block_index = b->next++;
    return 0;
}

static const char *blocks_error(const push_source *src)
{
    return ((const block_file *)src->impl)->err;
}

static void blocks_close(push_source *src)
{
    block_file *b = src->impl;
    if (b) {
        if (b->own_file && b->f)
            fclose(b->f);
        free(b->f32);
        free(b);
    }
    src->impl = NULL;
}

/* Common setup; opens path ('-': stdin). *size is the file's size, or -1 when it is not a regular
 * file. */
static int open_file(push_source *src, const char *path, const char **err, long long *size)
{
    src->kind = SPECTRA_BLOCKS;
    src->read = blocks_read;
    src->error = blocks_error;
    src->close = blocks_close;
    src->binary = 1;
    block_file *b = calloc(1, sizeof *b);
    src->impl = b;
    if (!b) {
        *err = "out of memory";
        return SPECTRA_ENOMEM;
    }
    *err = b->err;
    b->path = path;
    *size = -1;
    if (strcmp(path, "-") == 0) {
        b->f = stdin;
        b->path = "<stdin>";
    } else {
        b->f = fopen(path, "rb");
        if (!b->f)
            return fail(b, SPECTRA_EIO, "%s: %s", path, strerror(errno));
        b->own_file = 1;
    }
    struct stat st;
    if (fstat(fileno(b->f), &st) == 0 && S_ISREG(st.st_mode))
        *size = (long long)st.st_size;
    return 0;
}

/* Finishes setup once dtype and m x n are known. */
static int set_shape(push_source *src, block_file *b, size_t m, size_t n)
{
    if (m == 0 || n == 0)
        return fail(b, SPECTRA_EINVAL, "%s: blocks of %zu x %zu hold no values", b->path, m, n);
    if (m > SIZE_MAX / n / sizeof(double))
        return fail(b, SPECTRA_EINVAL, "%s: blocks of %zu x %zu are too large", b->path, m, n);
    b->m = m;
    b->n = n;
    src->natural_dtype = b->dtype;
    if (b->dtype == SPECTRA_F32 && !(b->f32 = malloc(m * n * sizeof *b->f32)))
        return fail(b, SPECTRA_ENOMEM, "out of memory for a block of %zu x %zu", m, n);
    src->width = n;
    src->block_rows = m;
    return 0;
}

int push_source_raw_blocks_open(push_source *src, const char *path, const push_source_opts *opts,
                                const char **err)
{
    long long size;
    int rc = open_file(src, path, err, &size);
    if (rc)
        return rc;
    block_file *b = src->impl;
    if (!opts->block_shape[0])
        return fail(b, SPECTRA_EINVAL, "%s: a raw block file needs --block-shape MxN", path);
    b->dtype = opts->dtype;
    if ((rc = set_shape(src, b, opts->block_shape[0], opts->block_shape[1])))
        return rc;
    if (size >= 0) {
        size_t bb = block_bytes(b);
        if ((unsigned long long)size % bb != 0)
            return fail(b, SPECTRA_EPARSE,
                        "%s: %lld bytes is not a whole number of %zu x %zu %s blocks (%zu bytes "
                        "each)", path, size, b->m, b->n, spectra_dtype_name(b->dtype), bb);
        b->count_known = 1;
        b->count = (unsigned long long)size / bb;
        b->size_checked = 1;
    }
    return 0;
}

int push_source_npy_open(push_source *src, const char *path, const push_source_opts *opts,
                         const char **err)
{
    long long size;
    int rc = open_file(src, path, err, &size);
    if (rc)
        return rc;
    block_file *b = src->impl;
    /* Read the preamble, then exactly the rest of the header, so no data byte is consumed. */
    size_t have = 0, want = 12;
    unsigned char *head = NULL;
    spectra_npy_header h;
    char why[256];
    for (;;) {
        unsigned char *p = realloc(head, want);
        if (!p) {
            free(head);
            return fail(b, SPECTRA_ENOMEM, "out of memory");
        }
        head = p;
        have += fread(head + have, 1, want - have, b->f);
        rc = spectra_npy_parse_header(head, have, &h, why, sizeof why);
        if (rc != SPECTRA_ERANGE || have < want || h.data_offset <= have)
            break;
        want = h.data_offset;
    }
    free(head);
    if (rc == SPECTRA_ERANGE)
        return fail(b, SPECTRA_EPARSE, "%s: truncated .npy header", b->path);
    if (rc)
        return fail(b, rc == SPECTRA_EINVAL ? SPECTRA_EINVAL : SPECTRA_EPARSE, "%s: %s", b->path,
                    why);
    size_t k, m, n;
    if (h.ndim == 3) {
        k = h.shape[0], m = h.shape[1], n = h.shape[2];
    } else if (h.ndim == 2) {
        k = 1, m = h.shape[0], n = h.shape[1];
    } else {
        return fail(b, SPECTRA_EINVAL,
                    "%s: a %zu-dimensional array; blocks come from shape (K, M, N) or (M, N)",
                    b->path, h.ndim);
    }
    if (opts->block_shape[0] && (opts->block_shape[0] != m || opts->block_shape[1] != n))
        return fail(b, SPECTRA_EINVAL, "%s: blocks are %zu x %zu, not %zu x %zu (--block-shape)",
                    b->path, m, n, opts->block_shape[0], opts->block_shape[1]);
    b->dtype = h.dtype;
    if ((rc = set_shape(src, b, m, n)))
        return rc;
    b->count_known = 1;
    b->count = k;
    if (size >= 0) {
        unsigned long long expect = (unsigned long long)h.data_offset +
                                    (unsigned long long)h.count * spectra_dtype_size(h.dtype);
        if ((unsigned long long)size != expect)
            return fail(b, SPECTRA_EPARSE, "%s: %lld bytes, but the header announces %llu (%s)",
                        b->path, size, expect,
                        (unsigned long long)size < expect ? "truncated" : "trailing data");
        b->size_checked = 1;
    }
    return 0;
}
