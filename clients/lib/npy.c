/* NumPy .npy headers (numpy.lib.format, versions 1.0 and 2.0):
 *
 *   "\x93NUMPY" major minor HEADER_LEN (uint16 LE in 1.0, uint32 LE in 2.0) HEADER
 *
 * where HEADER is an ASCII Python dict literal {'descr': '<f8', 'fortran_order': False,
 * 'shape': (K, M, N), } padded with spaces and ended by '\n'. Only what a producer of numbers
 * needs is accepted: little-endian float64/float32, C order. The dict is read by a small tokenizer
 * for exactly that grammar (strings, True/False, tuples of integers), never evaluated. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

#define NPY_MAGIC "\x93NUMPY"
#define NPY_MAGIC_LEN 6
#define NPY_HEADER_LIMIT (1u << 20) /* a sane dict is < 1 KiB; refuse absurd lengths early */

static int fail(char *err, size_t errlen, int code, const char *fmt, ...) SPECTRA__PRINTF(4, 5);

static int fail(char *err, size_t errlen, int code, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return code;
}

typedef struct cursor {
    const char *p, *end;
} cursor;

static void skip_space(cursor *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

static int accept_char(cursor *c, char ch)
{
    skip_space(c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return 1;
    }
    return 0;
}

/* A quoted string ('...' or "...", no escapes: none of the values we accept need them). */
static int read_string(cursor *c, const char **s, size_t *n)
{
    skip_space(c);
    if (c->p >= c->end || (*c->p != '\'' && *c->p != '"'))
        return -1;
    char q = *c->p++;
    const char *start = c->p;
    while (c->p < c->end && *c->p != q) {
        if (*c->p == '\\')
            return -1;
        c->p++;
    }
    if (c->p >= c->end)
        return -1;
    *s = start;
    *n = (size_t)(c->p - start);
    c->p++;
    return 0;
}

static int read_word(cursor *c, const char *word)
{
    skip_space(c);
    size_t n = strlen(word);
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, word, n) != 0)
        return 0;
    c->p += n;
    return 1;
}

/* "(3,)", "()", "(400, 128, 8)", trailing comma allowed. */
static int read_shape(cursor *c, spectra_npy_header *h, char *err, size_t errlen)
{
    if (!accept_char(c, '('))
        return fail(err, errlen, SPECTRA_EPARSE, "npy: 'shape' is not a tuple");
    h->ndim = 0;
    for (;;) {
        if (accept_char(c, ')'))
            return 0;
        skip_space(c);
        if (c->p >= c->end || *c->p < '0' || *c->p > '9')
            return fail(err, errlen, SPECTRA_EPARSE, "npy: 'shape' holds something other than "
                                                     "non-negative integers");
        size_t v = 0;
        while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
            size_t digit = (size_t)(*c->p++ - '0');
            if (v > (SIZE_MAX - digit) / 10)
                return fail(err, errlen, SPECTRA_ERANGE, "npy: a dimension is too large");
            v = v * 10 + digit;
        }
        if (c->p < c->end && *c->p == 'L') /* Python 2 longs */
            c->p++;
        if (h->ndim == SPECTRA_NPY_MAX_DIMS)
            return fail(err, errlen, SPECTRA_ERANGE, "npy: more than %d dimensions",
                        SPECTRA_NPY_MAX_DIMS);
        h->shape[h->ndim++] = v;
        if (!accept_char(c, ',')) {
            if (accept_char(c, ')'))
                return 0;
            return fail(err, errlen, SPECTRA_EPARSE, "npy: 'shape' is not a tuple of integers");
        }
    }
}

static int read_descr(cursor *c, spectra_npy_header *h, char *err, size_t errlen)
{
    const char *s;
    size_t n;
    skip_space(c);
    if (c->p < c->end && *c->p == '[')
        return fail(err, errlen, SPECTRA_EINVAL, "npy: structured arrays are not supported "
                                                 "(need a plain '<f8' or '<f4' array)");
    if (read_string(c, &s, &n))
        return fail(err, errlen, SPECTRA_EPARSE, "npy: 'descr' is not a string");
    if (n == 3 && memcmp(s, "<f8", 3) == 0) {
        h->dtype = SPECTRA_F64;
        return 0;
    }
    if (n == 3 && memcmp(s, "<f4", 3) == 0) {
        h->dtype = SPECTRA_F32;
        return 0;
    }
    const char *why = "only little-endian float64 ('<f8') and float32 ('<f4') are supported";
    if (n == 3 && s[0] == '>' && s[1] == 'f')
        why = "big-endian data is not supported; save it little-endian (arr.astype('<f8'))";
    else if (n >= 2 && strchr("<>|=", s[0]) && strchr("iubc", s[1]))
        why = "integer, boolean or complex data is not supported: convert to float64 first";
    return fail(err, errlen, SPECTRA_EINVAL, "npy: dtype '%.*s': %s", (int)(n < 32 ? n : 32), s,
                why);
}

static int parse_dict(cursor *c, spectra_npy_header *h, char *err, size_t errlen)
{
    if (!accept_char(c, '{'))
        return fail(err, errlen, SPECTRA_EPARSE, "npy: the header is not a dict");
    int seen_descr = 0, seen_order = 0, seen_shape = 0;
    while (!accept_char(c, '}')) {
        const char *key;
        size_t n;
        if (read_string(c, &key, &n))
            return fail(err, errlen, SPECTRA_EPARSE, "npy: bad dict key in the header");
        if (!accept_char(c, ':'))
            return fail(err, errlen, SPECTRA_EPARSE, "npy: no ':' after key '%.*s'",
                        (int)(n < 32 ? n : 32), key);
        int rc = 0;
        if (n == 5 && memcmp(key, "descr", 5) == 0 && !seen_descr) {
            seen_descr = 1;
            rc = read_descr(c, h, err, errlen);
        } else if (n == 13 && memcmp(key, "fortran_order", 13) == 0 && !seen_order) {
            seen_order = 1;
            if (read_word(c, "True"))
                return fail(err, errlen, SPECTRA_EINVAL,
                            "npy: Fortran-order arrays are not supported; save a C-order array "
                            "(np.ascontiguousarray)");
            if (!read_word(c, "False"))
                return fail(err, errlen, SPECTRA_EPARSE, "npy: 'fortran_order' is not a bool");
        } else if (n == 5 && memcmp(key, "shape", 5) == 0 && !seen_shape) {
            seen_shape = 1;
            rc = read_shape(c, h, err, errlen);
        } else {
            return fail(err, errlen, SPECTRA_EPARSE, "npy: unexpected or repeated key '%.*s'",
                        (int)(n < 32 ? n : 32), key);
        }
        if (rc)
            return rc;
        if (!accept_char(c, ',')) {
            if (accept_char(c, '}'))
                break;
            return fail(err, errlen, SPECTRA_EPARSE, "npy: expected ',' or '}' in the header");
        }
    }
    if (!seen_descr || !seen_order || !seen_shape)
        return fail(err, errlen, SPECTRA_EPARSE, "npy: the header lacks '%s'",
                    !seen_descr ? "descr" : !seen_order ? "fortran_order" : "shape");
    skip_space(c);
    if (c->p != c->end)
        return fail(err, errlen, SPECTRA_EPARSE, "npy: text after the header dict");
    return 0;
}

int spectra_npy_parse_header(const void *buf, size_t len, spectra_npy_header *out, char *err,
                             size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    if (!out || (!buf && len))
        return SPECTRA_EINVAL;
    memset(out, 0, sizeof *out);
    const uint8_t *b = buf;
    size_t have = len < NPY_MAGIC_LEN ? len : NPY_MAGIC_LEN;
    if (have && memcmp(b, NPY_MAGIC, have) != 0)
        return fail(err, errlen, SPECTRA_EPARSE, "not an .npy file (no \\x93NUMPY magic)");
    if (len < NPY_MAGIC_LEN + 2) {
        out->data_offset = NPY_MAGIC_LEN + 6; /* enough for either version's preamble */
        return fail(err, errlen, SPECTRA_ERANGE, "npy: truncated before the version");
    }
    unsigned major = b[6], minor = b[7];
    if ((major != 1 && major != 2) || minor != 0)
        return fail(err, errlen, SPECTRA_EINVAL,
                    "npy: format version %u.%u is not supported (1.0 or 2.0)", major, minor);
    size_t pre = major == 1 ? 10 : 12;
    if (len < pre) {
        out->data_offset = pre;
        return fail(err, errlen, SPECTRA_ERANGE, "npy: truncated before the header length");
    }
    size_t hlen = (size_t)b[8] | (size_t)b[9] << 8;
    if (major == 2)
        hlen |= (size_t)b[10] << 16 | (size_t)b[11] << 24;
    if (hlen > NPY_HEADER_LIMIT)
        return fail(err, errlen, SPECTRA_EPARSE, "npy: header length %zu is implausible", hlen);
    out->data_offset = pre + hlen;
    if (len < pre + hlen)
        return fail(err, errlen, SPECTRA_ERANGE, "npy: truncated header (%zu of %zu bytes)", len,
                    pre + hlen);
    const char *text = (const char *)b + pre;
    if (hlen == 0 || text[hlen - 1] != '\n')
        return fail(err, errlen, SPECTRA_EPARSE, "npy: the header does not end with a newline");
    for (size_t i = 0; i < hlen; i++)
        if ((unsigned char)text[i] >= 0x80 || text[i] == '\0')
            return fail(err, errlen, SPECTRA_EPARSE, "npy: the header is not ASCII text");
    cursor c = {text, text + hlen};
    int rc = parse_dict(&c, out, err, errlen);
    if (rc) {
        size_t keep = out->data_offset;
        memset(out, 0, sizeof *out);
        out->data_offset = keep;
        return rc;
    }
    size_t count = 1;
    for (size_t i = 0; i < out->ndim; i++) {
        if (out->shape[i] && count > SIZE_MAX / spectra_dtype_size(out->dtype) / out->shape[i])
            return fail(err, errlen, SPECTRA_ERANGE, "npy: the array is too large");
        count *= out->shape[i];
    }
    out->count = count;
    return 0;
}
