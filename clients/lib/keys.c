/* CURVE key files: CZMQ's zcert text format, read and written.
 *
 * The daemon reads the same format (daemon/curve_keys.c); like the msgpack pre-scan, the reader is
 * kept here too so that libspectra stands alone. Keys are 40 Z85 characters; '#' starts a comment;
 * values may be quoted; the keys of the `curve` section are indented:
 *
 *     curve
 *         public-key = "..."
 *         secret-key = "..."      (secret files only) */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define KEY_FILE_MAX 65536

static const char z85_chars[] =
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

/* Checks 40 Z85 characters (and that every 5-character group fits in 32 bits, which libzmq's own
 * decoder does not check in every version). */
static int check_z85(const char *s, size_t len, char *why, size_t whylen)
{
    if (len != SPECTRA_KEY_Z85_LEN) {
        snprintf(why, whylen, "%zu characters, a Z85 CURVE key has %d", len, SPECTRA_KEY_Z85_LEN);
        return -1;
    }
    for (size_t g = 0; g < len / 5; g++) {
        uint64_t v = 0;
        for (size_t i = 0; i < 5; i++) {
            char c = s[5 * g + i];
            const char *p = c ? strchr(z85_chars, c) : NULL;
            if (!p) {
                snprintf(why, whylen, "character '%c' at position %zu is not Z85", c, 5 * g + i + 1);
                return -1;
            }
            v = v * 85 + (uint64_t)(p - z85_chars);
        }
        if (v > UINT32_MAX) {
            snprintf(why, whylen, "characters %zu-%zu are not valid Z85 (value too large)",
                     5 * g + 1, 5 * g + 5);
            return -1;
        }
    }
    return 0;
}

/* "name = value" (value quoted or bare), then only blanks or a comment. */
static int split_assignment(const char *p, const char *end, const char **name, size_t *name_len,
                            const char **value, size_t *value_len)
{
    *name = p;
    while (p < end && *p != '=' && *p != ' ' && *p != '\t')
        p++;
    *name_len = (size_t)(p - *name);
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    if (p == end || *p != '=' || !*name_len)
        return -1;
    for (p++; p < end && (*p == ' ' || *p == '\t'); p++) {
    }
    if (p < end && (*p == '"' || *p == '\'')) {
        char quote = *p++;
        *value = p;
        while (p < end && *p != quote)
            p++;
        if (p == end)
            return -1;
        *value_len = (size_t)(p++ - *value);
    } else {
        for (*value = p; p < end && *p != ' ' && *p != '\t'; p++) {
        }
        *value_len = (size_t)(p - *value);
    }
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    return p < end && *p != '#' ? -1 : 0;
}

int spectra_key_parse(const char *text, size_t len, const char *name, char *public_z85,
                      char *secret_z85, char *err, size_t errlen)
{
    char pub[SPECTRA_KEY_Z85_LEN + 1] = "", sec[SPECTRA_KEY_Z85_LEN + 1] = "";
    int in_curve = 0, saw_curve = 0, line = 0, rc = SPECTRA_EPARSE;
    char why[160];
    const char *p = text, *end = text + len;
    if (memchr(text, '\0', len)) {
        snprintf(err, errlen, "%s: binary data: not a key file", name);
        return SPECTRA_EPARSE;
    }
    for (; p < end; line++) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *le = eol ? eol : end, *q = p;
        if (le > p && le[-1] == '\r')
            le--;
        while (q < le && (*q == ' ' || *q == '\t'))
            q++;
        if (q < le && *q != '#') {
            if (q == p) {   /* a section name at the top level */
                const char *w = q;
                while (w < le && *w != ' ' && *w != '\t' && *w != '#' && *w != '=')
                    w++;
                in_curve = w - q == 5 && !memcmp(q, "curve", 5);
                saw_curve |= in_curve;
            } else if (in_curve) {
                const char *k, *v;
                size_t kl, vl;
                if (split_assignment(q, le, &k, &kl, &v, &vl)) {
                    snprintf(err, errlen, "%s:%d: expected 'name = value'", name, line + 1);
                    goto out;
                }
                char *dst = kl == 10 && !memcmp(k, "public-key", 10)   ? pub
                            : kl == 10 && !memcmp(k, "secret-key", 10) ? sec
                                                                      : NULL;
                if (dst && *dst) {
                    snprintf(err, errlen, "%s:%d: %.*s given twice", name, line + 1, (int)kl, k);
                    goto out;
                }
                if (dst && check_z85(v, vl, why, sizeof why)) {
                    snprintf(err, errlen, "%s:%d: %.*s: %s", name, line + 1, (int)kl, k, why);
                    goto out;
                }
                if (dst) {
                    memcpy(dst, v, vl);
                    dst[vl] = '\0';
                }
            }
        }
        p = eol ? eol + 1 : end;
    }
    if (!saw_curve) {
        snprintf(err, errlen, "%s: no 'curve' section: not a CZMQ zcert key file", name);
        goto out;
    }
    if (!*pub) {
        snprintf(err, errlen, "%s: the 'curve' section has no public-key", name);
        goto out;
    }
    if (secret_z85 && !*sec) {
        snprintf(err, errlen, "%s: no secret-key (this is a public key file; give the secret "
                 "file, usually NAME.key_secret)", name);
        goto out;
    }
    if (*sec) {
        char derived[SPECTRA_KEY_Z85_LEN + 1];
        if (zmq_curve_public(derived, sec) != 0 || strcmp(derived, pub) != 0) {
            snprintf(err, errlen, "%s: public-key does not belong to secret-key", name);
            goto out;
        }
    }
    memcpy(public_z85, pub, sizeof pub);
    if (secret_z85)
        memcpy(secret_z85, sec, sizeof sec);
    rc = 0;
out:
    memset(sec, 0, sizeof sec);
    return rc;
}

int spectra_key_read(const char *path, char *public_z85, char *secret_z85, char *err,
                     size_t errlen)
{
    char scratch[SPECTRA__ERR_MAX];
    if (!err) {
        err = scratch;
        errlen = sizeof scratch;
    }
    if (!path || !public_z85) {
        snprintf(err, errlen, "no key file given");
        return SPECTRA_EINVAL;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return SPECTRA_EIO;
    }
    char *buf = malloc(KEY_FILE_MAX + 1);
    if (!buf) {
        fclose(f);
        snprintf(err, errlen, "out of memory");
        return SPECTRA_ENOMEM;
    }
    size_t n = fread(buf, 1, KEY_FILE_MAX + 1, f);
    int bad = ferror(f);
    fclose(f);
    int rc;
    if (bad) {
        snprintf(err, errlen, "%s: read error", path);
        rc = SPECTRA_EIO;
    } else if (n > KEY_FILE_MAX) {
        snprintf(err, errlen, "%s: larger than %d bytes: not a key file", path, KEY_FILE_MAX);
        rc = SPECTRA_EPARSE;
    } else {
        rc = spectra_key_parse(buf, n, path, public_z85, secret_z85, err, errlen);
    }
    memset(buf, 0, n);
    free(buf);
    return rc;
}

/* Writes one file with O_EXCL (never over an existing file). */
static int write_new(const char *path, mode_t mode, const char *text, char *err, size_t errlen)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s%s", path, strerror(errno),
                 errno == EEXIST ? " (refusing to overwrite a key)" : "");
        return SPECTRA_EIO;
    }
    size_t len = strlen(text), off = 0;
    while (off < len) {
        ssize_t w = write(fd, text + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            snprintf(err, errlen, "%s: %s", path, strerror(errno));
            close(fd);
            unlink(path);
            return SPECTRA_EIO;
        }
        off += (size_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        unlink(path);
        return SPECTRA_EIO;
    }
    return 0;
}

int spectra_keygen(const char *base, char *err, size_t errlen)
{
    char scratch[SPECTRA__ERR_MAX];
    if (!err) {
        err = scratch;
        errlen = sizeof scratch;
    }
    if (!base || !*base) {
        snprintf(err, errlen, "no key name given");
        return SPECTRA_EINVAL;
    }
    char pub_path[4096], sec_path[4096];
    if ((size_t)snprintf(pub_path, sizeof pub_path, "%s.key", base) >= sizeof pub_path ||
        (size_t)snprintf(sec_path, sizeof sec_path, "%s.key_secret", base) >= sizeof sec_path) {
        snprintf(err, errlen, "%s: name too long", base);
        return SPECTRA_EINVAL;
    }
    if (access(pub_path, F_OK) == 0 || access(sec_path, F_OK) == 0) {
        snprintf(err, errlen, "%s: exists (refusing to overwrite a key)",
                 access(pub_path, F_OK) == 0 ? pub_path : sec_path);
        return SPECTRA_EIO;
    }
    char pub[SPECTRA_KEY_Z85_LEN + 1], sec[SPECTRA_KEY_Z85_LEN + 1];
    if (zmq_curve_keypair(pub, sec) != 0) {
        snprintf(err, errlen, "cannot make a key pair: %s (libzmq without CURVE?)",
                 zmq_strerror(errno));
        return SPECTRA_EZMQ;
    }
    const char *slash = strrchr(base, '/'), *name = slash ? slash + 1 : base;
    char when[32];
    time_t now = time(NULL);
    struct tm tm;
    strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", gmtime_r(&now, &tm));
    char meta[160] = "";
    if (!strpbrk(name, "\"\n\r") && strlen(name) < 100)
        snprintf(meta, sizeof meta, "    name = \"%s\"\n", name);
    char text[1024];
    snprintf(text, sizeof text,
             "#   ****  Generated on %s UTC by spectra keygen  ****\n"
             "#   ZeroMQ CURVE **Secret** Certificate\n"
             "#   DO NOT PROVIDE THIS FILE TO OTHER USERS nor change its permissions.\n\n"
             "metadata\n%scurve\n    public-key = \"%s\"\n    secret-key = \"%s\"\n",
             when, meta, pub, sec);
    int rc = write_new(sec_path, 0600, text, err, errlen);
    memset(text, 0, sizeof text);
    memset(sec, 0, sizeof sec);
    if (rc)
        return rc;
    snprintf(text, sizeof text,
             "#   ****  Generated on %s UTC by spectra keygen  ****\n"
             "#   ZeroMQ CURVE Public Certificate\n"
             "#   Exchange securely, or use a secure mechanism to verify the contents\n"
             "#   of this file after exchange.\n\n"
             "metadata\n%scurve\n    public-key = \"%s\"\n",
             when, meta, pub);
    rc = write_new(pub_path, 0644, text, err, errlen);
    if (rc)
        unlink(sec_path);   /* a secret without its public file is of no use: leave nothing */
    return rc;
}
