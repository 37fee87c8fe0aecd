#include "curve_keys.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zmq.h>

static const char z85_chars[] =
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

static int z85_value(char c)
{
    const char *p = c ? strchr(z85_chars, c) : NULL;
    return p ? (int)(p - z85_chars) : -1;
}

/* Decodes exactly 40 Z85 characters. Our own decoder, so every malformed key gets a precise reason
 * (and a 5-character group above 2^32 - 1 is refused rather than wrapped). */
static int z85_decode_key(const char *s, size_t len, uint8_t out[SPX_CURVE_KEY_BYTES], char *why,
                          size_t whylen)
{
    if (len != SPX_CURVE_Z85_LEN) {
        snprintf(why, whylen, "%zu characters, a Z85 CURVE key has %d", len, SPX_CURVE_Z85_LEN);
        return -1;
    }
    for (size_t g = 0; g < len / 5; g++) {
        uint64_t v = 0;
        for (size_t i = 0; i < 5; i++) {
            int d = z85_value(s[5 * g + i]);
            if (d < 0) {
                snprintf(why, whylen, "character '%c' at position %zu is not Z85", s[5 * g + i],
                         5 * g + i + 1);
                return -1;
            }
            v = v * 85 + (uint64_t)d;
        }
        if (v > UINT32_MAX) {
            snprintf(why, whylen, "characters %zu-%zu are not valid Z85 (value too large)",
                     5 * g + 1, 5 * g + 5);
            return -1;
        }
        for (int b = 0; b < 4; b++)
            out[4 * g + (size_t)b] = (uint8_t)(v >> (24 - 8 * b));
    }
    return 0;
}

static void z85_encode_key(const uint8_t key[SPX_CURVE_KEY_BYTES], char out[SPX_CURVE_Z85_LEN + 1])
{
    for (size_t g = 0; g < SPX_CURVE_KEY_BYTES / 4; g++) {
        uint32_t v = (uint32_t)key[4 * g] << 24 | (uint32_t)key[4 * g + 1] << 16 |
                     (uint32_t)key[4 * g + 2] << 8 | key[4 * g + 3];
        for (int i = 4; i >= 0; i--) {
            out[5 * g + (size_t)i] = z85_chars[v % 85];
            v /= 85;
        }
    }
    out[SPX_CURVE_Z85_LEN] = '\0';
}

void spx_curve_key_prefix(const uint8_t key[SPX_CURVE_KEY_BYTES], char *out, size_t chars)
{
    char z85[SPX_CURVE_Z85_LEN + 1];
    z85_encode_key(key, z85);
    if (chars > SPX_CURVE_Z85_LEN)
        chars = SPX_CURVE_Z85_LEN;
    memcpy(out, z85, chars);
    out[chars] = '\0';
}

void spx_curve_keypair_wipe(spx_curve_keypair *kp)
{
    volatile uint8_t *p = kp->secret_key;
    for (size_t i = 0; i < sizeof kp->secret_key; i++)
        p[i] = 0;
    kp->has_secret = false;
}

/* One "name = value" line of ZPL: value quoted ("..." or '...') or bare up to a blank; after it only
 * blanks and an optional comment. */
static int parse_assignment(const char *p, const char *end, const char **name, size_t *name_len,
                            const char **value, size_t *value_len, char *why, size_t whylen)
{
    *name = p;
    while (p < end && *p != '=' && *p != ' ' && *p != '\t')
        p++;
    *name_len = (size_t)(p - *name);
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    if (p == end || *p != '=' || *name_len == 0) {
        snprintf(why, whylen, "expected 'name = value'");
        return -1;
    }
    p++;
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    if (p < end && (*p == '"' || *p == '\'')) {
        char quote = *p++;
        *value = p;
        while (p < end && *p != quote)
            p++;
        if (p == end) {
            snprintf(why, whylen, "unterminated quoted value");
            return -1;
        }
        *value_len = (size_t)(p - *value);
        p++;
    } else {
        *value = p;
        while (p < end && *p != ' ' && *p != '\t')
            p++;
        *value_len = (size_t)(p - *value);
    }
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    if (p < end && *p != '#') {
        snprintf(why, whylen, "unexpected text after the value");
        return -1;
    }
    return 0;
}

#define PFAIL(line, ...)                                                                       \
    do {                                                                                       \
        char why_[160];                                                                        \
        snprintf(why_, sizeof why_, __VA_ARGS__);                                              \
        if (line)                                                                              \
            snprintf(err, errlen, "%s:%d: %s", name, line, why_);                              \
        else                                                                                   \
            snprintf(err, errlen, "%s: %s", name, why_);                                       \
        spx_curve_keypair_wipe(&kp);                                                           \
        return -1;                                                                             \
    } while (0)

int spx_curve_key_parse(const char *text, size_t len, const char *name, spx_curve_keypair *out,
                        char *err, size_t errlen)
{
    spx_curve_keypair kp = {0};
    bool in_curve = false, saw_curve = false, has_public = false;
    int line = 0;
    const char *p = text, *end = text + len;
    if (memchr(text, '\0', len))
        PFAIL(0, "binary data: not a key file");
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *le = eol ? eol : end;
        line++;
        if (le > p && le[-1] == '\r')
            le--;
        const char *q = p;
        while (q < le && (*q == ' ' || *q == '\t'))
            q++;
        bool indented = q > p;
        if (q == le || *q == '#') {
            /* blank or comment */
        } else if (!indented) {
            /* A top-level section name (metadata, curve) or, rarely, a top-level assignment. */
            const char *w = q;
            while (w < le && *w != ' ' && *w != '\t' && *w != '#' && *w != '=')
                w++;
            in_curve = (size_t)(w - q) == 5 && !memcmp(q, "curve", 5);
            saw_curve |= in_curve;
        } else if (in_curve) {
            const char *key, *value;
            size_t key_len, value_len;
            char why[120];
            if (parse_assignment(q, le, &key, &key_len, &value, &value_len, why, sizeof why))
                PFAIL(line, "%s", why);
            bool is_public = key_len == 10 && !memcmp(key, "public-key", 10);
            bool is_secret = key_len == 10 && !memcmp(key, "secret-key", 10);
            if (is_public || is_secret) {
                if (is_public ? has_public : kp.has_secret)
                    PFAIL(line, "%.*s given twice", (int)key_len, key);
                if (z85_decode_key(value, value_len, is_public ? kp.public_key : kp.secret_key,
                                   why, sizeof why))
                    PFAIL(line, "%.*s: %s", (int)key_len, key, why);
                if (is_public)
                    has_public = true;
                else
                    kp.has_secret = true;
            }
        }
        p = eol ? eol + 1 : end;
    }
    if (!saw_curve)
        PFAIL(0, "no 'curve' section: not a CZMQ zcert key file (see docs/operations.md, Security)");
    if (!has_public)
        PFAIL(0, "the 'curve' section has no public-key");
    if (kp.has_secret) {
        /* A secret file whose public key does not match would make clients trust the wrong key. */
        char secret_z85[SPX_CURVE_Z85_LEN + 1], derived[SPX_CURVE_Z85_LEN + 1];
        char public_z85[SPX_CURVE_Z85_LEN + 1];
        z85_encode_key(kp.secret_key, secret_z85);
        z85_encode_key(kp.public_key, public_z85);
        int rc = zmq_curve_public(derived, secret_z85);
        memset(secret_z85, 0, sizeof secret_z85);
        if (rc != 0)
            PFAIL(0, "cannot derive the public key: %s", zmq_strerror(zmq_errno()));
        if (strcmp(derived, public_z85) != 0)
            PFAIL(0, "public-key does not belong to secret-key");
    }
    *out = kp;
    spx_curve_keypair_wipe(&kp);
    return 0;
}

int spx_curve_key_load(const char *path, bool want_secret, spx_curve_keypair *out, char *err,
                       size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    char *buf = malloc(SPX_CURVE_FILE_MAX + 1);
    if (!buf) {
        fclose(f);
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    size_t n = fread(buf, 1, SPX_CURVE_FILE_MAX + 1, f);
    int read_error = ferror(f);
    fclose(f);
    int rc = -1;
    if (read_error)
        snprintf(err, errlen, "%s: read error", path);
    else if (n > SPX_CURVE_FILE_MAX)
        snprintf(err, errlen, "%s: larger than %d bytes: not a key file", path, SPX_CURVE_FILE_MAX);
    else
        rc = spx_curve_key_parse(buf, n, path, out, err, errlen);
    memset(buf, 0, n < SPX_CURVE_FILE_MAX + 1 ? n : SPX_CURVE_FILE_MAX + 1);
    free(buf);
    if (rc == 0 && want_secret && !out->has_secret) {
        snprintf(err, errlen, "%s: no secret-key (this is a public key file; give the secret file, "
                 "usually NAME.key_secret)", path);
        return -1;
    }
    if (rc == 0 && !want_secret)
        spx_curve_keypair_wipe(out);   /* an allow-list needs public keys only */
    return rc;
}

static int key_cmp(const void *a, const void *b)
{
    return memcmp(a, b, SPX_CURVE_KEY_BYTES);
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

int spx_keyset_load_dir(const char *dir, spx_keyset *out, char *err, size_t errlen)
{
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(err, errlen, "%s: %s", dir, strerror(errno));
        return -1;
    }
    spx_keyset ks = {0};
    size_t cap = 0;
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || ends_with(e->d_name, "~"))
            continue;
        char path[4096];
        if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= sizeof path) {
            snprintf(err, errlen, "%s/%s: path too long", dir, e->d_name);
            rc = -1;
            break;
        }
        struct stat st;
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        if (ends_with(e->d_name, "_secret")) {
            snprintf(err, errlen, "%s: a secret key file does not belong in an allow-list "
                     "directory (copy only the public NAME.key here, and keep the secret with "
                     "the client)", path);
            rc = -1;
            break;
        }
        spx_curve_keypair kp;
        if (spx_curve_key_load(path, false, &kp, err, errlen) != 0) {
            rc = -1;
            break;
        }
        if (ks.n == cap) {
            size_t ncap = cap ? 2 * cap : 16;
            void *p = realloc(ks.keys, ncap * sizeof *ks.keys);
            if (!p) {
                snprintf(err, errlen, "%s: out of memory", dir);
                rc = -1;
                break;
            }
            ks.keys = p;
            cap = ncap;
        }
        memcpy(ks.keys[ks.n++], kp.public_key, SPX_CURVE_KEY_BYTES);
    }
    closedir(d);
    if (rc != 0) {
        free(ks.keys);
        return -1;
    }
    if (ks.n) {
        qsort(ks.keys, ks.n, sizeof *ks.keys, key_cmp);
        size_t w = 1;
        for (size_t i = 1; i < ks.n; i++)
            if (memcmp(ks.keys[i], ks.keys[w - 1], SPX_CURVE_KEY_BYTES) != 0)
                memcpy(ks.keys[w++], ks.keys[i], SPX_CURVE_KEY_BYTES);
        ks.n = w;
    }
    *out = ks;
    return 0;
}

bool spx_keyset_contains(const spx_keyset *ks, const uint8_t key[SPX_CURVE_KEY_BYTES])
{
    return ks->n && bsearch(key, ks->keys, ks->n, sizeof *ks->keys, key_cmp) != NULL;
}

void spx_keyset_free(spx_keyset *ks)
{
    free(ks->keys);
    ks->keys = NULL;
    ks->n = 0;
}
