/* CURVE key files and allow-list directories.
 *
 * Key files use CZMQ's zcert text format (ZPL), so zcert files users already have work as they are:
 *
 *     metadata
 *     curve
 *         public-key = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"
 *         secret-key = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6"     (secret files only)
 *
 * Keys are 40 characters of Z85 (32 bytes). '#' starts a comment; values may be quoted or not;
 * keys of the `curve` section are indented (ZPL uses 4 spaces). A secret file must also carry the
 * matching public key. `spectra keygen NAME` writes NAME.key (public) and NAME.key_secret. */
#ifndef SPX_CURVE_KEYS_H
#define SPX_CURVE_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SPX_CURVE_KEY_BYTES 32
#define SPX_CURVE_Z85_LEN 40
#define SPX_CURVE_FILE_MAX 65536   /* a key file is a few hundred bytes; refuse anything huge */

typedef struct spx_curve_keypair {
    uint8_t public_key[SPX_CURVE_KEY_BYTES];
    uint8_t secret_key[SPX_CURVE_KEY_BYTES];
    bool has_secret;
} spx_curve_keypair;

/* Parses the text of a key file (`name` is used in messages). Returns 0, or -1 with
 * "NAME:LINE: reason" (or "NAME: reason") in err. A secret key is checked against the public key. */
int spx_curve_key_parse(const char *text, size_t len, const char *name, spx_curve_keypair *out,
                        char *err, size_t errlen);
/* Reads and parses a key file; want_secret: the file must hold a secret key. */
int spx_curve_key_load(const char *path, bool want_secret, spx_curve_keypair *out, char *err,
                       size_t errlen);
/* Wipes a keypair's secret (the compiler may not drop it). */
void spx_curve_keypair_wipe(spx_curve_keypair *kp);

/* A set of client public keys: every key file of a directory. */
typedef struct spx_keyset {
    size_t n;
    uint8_t (*keys)[SPX_CURVE_KEY_BYTES];   /* sorted, no duplicates */
} spx_keyset;

/* Loads every regular file of dir whose name does not start with '.' or end with '~'. A file ending
 * in "_secret" is an error: a client's secret key never belongs on the server. Returns 0, or -1
 * with the reason (naming the file and line) in err; *out is untouched on error. */
int spx_keyset_load_dir(const char *dir, spx_keyset *out, char *err, size_t errlen);
bool spx_keyset_contains(const spx_keyset *ks, const uint8_t key[SPX_CURVE_KEY_BYTES]);
void spx_keyset_free(spx_keyset *ks);

/* The first `chars` Z85 characters of a key (for logs), NUL-terminated into out (chars + 1). */
void spx_curve_key_prefix(const uint8_t key[SPX_CURVE_KEY_BYTES], char *out, size_t chars);

#endif
