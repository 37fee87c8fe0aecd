/* CURVE key files (daemon/curve_keys.c): the CZMQ zcert text format, Z85 checks, allow-list
 * directories. Reference pair: libzmq's test vector (tests/testutil_security), whose public key is
 * derived from the secret by zmq_curve_public() in the test itself. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "curve_keys.h"

#define PUB "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"
#define SEC "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6"
#define OTHER_PUB "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID"

static int parse(const char *text, spx_curve_keypair *kp, char *err)
{
    return spx_curve_key_parse(text, strlen(text), "k", kp, err, 512);
}

static void expect_error(const char *text, const char *needle)
{
    spx_curve_keypair kp;
    char err[512] = "";
    cr_assert_eq(parse(text, &kp, err), -1, "accepted: %s", text);
    cr_assert(strstr(err, needle), "expected '%s' in '%s'", needle, err);
}

Test(curve_keys, reference_pair_matches_libzmq)
{
    char derived[41];
    cr_assert_eq(zmq_curve_public(derived, SEC), 0);
    cr_assert_str_eq(derived, PUB);
    uint8_t raw[32];
    cr_assert_not_null(zmq_z85_decode(raw, PUB));

    /* a CZMQ secret certificate as zcert_save() writes it */
    const char *czmq = "#   ****  Generated on 2024-01-01 by CZMQ  ****\n"
                       "#   ZeroMQ CURVE **Secret** Certificate\n"
                       "#   DO NOT PROVIDE THIS FILE TO OTHER USERS nor change its permissions.\n"
                       "\n"
                       "metadata\n"
                       "    name = \"server\"\n"
                       "curve\n"
                       "    public-key = \"" PUB "\"\n"
                       "    secret-key = \"" SEC "\"\n";
    spx_curve_keypair kp;
    char err[512];
    cr_assert_eq(parse(czmq, &kp, err), 0, "%s", err);
    cr_assert(kp.has_secret);
    cr_assert_eq(memcmp(kp.public_key, raw, 32), 0, "our Z85 decoder agrees with libzmq's");
    uint8_t sec_raw[32];
    cr_assert_not_null(zmq_z85_decode(sec_raw, SEC));
    cr_assert_eq(memcmp(kp.secret_key, sec_raw, 32), 0);
    char prefix[9];
    spx_curve_key_prefix(kp.public_key, prefix, 8);
    cr_assert_str_eq(prefix, "rq:rM>}U");
    spx_curve_keypair_wipe(&kp);
    for (int i = 0; i < 32; i++)
        cr_assert_eq(kp.secret_key[i], 0);
}

Test(curve_keys, format_variants)
{
    spx_curve_keypair kp;
    char err[512];
    /* unquoted, single quotes, CRLF, comment after the value, no trailing newline */
    cr_assert_eq(parse("curve\n    public-key = " PUB "\n", &kp, err), 0, "%s", err);
    cr_assert_eq(parse("curve\r\n    public-key = '" PUB "'   # alice\r\n", &kp, err), 0, "%s", err);
    cr_assert_eq(parse("curve\n\tpublic-key=\"" PUB "\"", &kp, err), 0, "%s", err);
    cr_assert(!kp.has_secret);
    /* keys in another section do not count; a later curve section does */
    cr_assert_eq(parse("metadata\n    public-key = \"" OTHER_PUB "\"\ncurve\n    public-key = \"" PUB
                       "\"\n", &kp, err), 0, "%s", err);
    uint8_t raw[32];
    zmq_z85_decode(raw, PUB);
    cr_assert_eq(memcmp(kp.public_key, raw, 32), 0);
}

Test(curve_keys, malformed_files_are_refused_with_line)
{
    expect_error("metadata\n    name = \"x\"\n", "k: no 'curve' section");
    expect_error("", "no 'curve' section");
    expect_error("curve\n    secret-key = \"" SEC "\"\n", "no public-key");
    expect_error("curve\n    public-key = \"rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf\"\n",
                 "k:2: public-key: 39 characters, a Z85 CURVE key has 40");
    expect_error("curve\n    public-key = \"" PUB "0\"\n", "41 characters");
    expect_error("curve\n    public-key = \"\"\n", "0 characters");
    expect_error("# c\ncurve\n    public-key = \"rq:rM>}U?@Lns47E1%kR.o@n%Fcm~sL/@{H8]yf7\"\n",
                 "k:3: public-key: character '~' at position 29 is not Z85");
    expect_error("curve\n    public-key = \"rq:rM>}U?@Lns47E1%kR.o\\@n%FcmmsL/@{H8]yf\"\n",
                 "character '\\' at position 23");
    /* "#####" is 85^5 - 1 > 2^32 - 1: no such 4-byte group */
    expect_error("curve\n    public-key = \"#####>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7\"\n",
                 "characters 1-5 are not valid Z85");
    expect_error("curve\n    public-key = \"" PUB "\n", "k:2: unterminated quoted value");
    expect_error("curve\n    public-key \"" PUB "\"\n", "k:2: expected 'name = value'");
    expect_error("curve\n    public-key = \"" PUB "\" x\n", "unexpected text after the value");
    expect_error("curve\n    public-key = \"" PUB "\"\n    public-key = \"" PUB "\"\n",
                 "k:3: public-key given twice");
    expect_error("curve\n    public-key = \"" OTHER_PUB "\"\n    secret-key = \"" SEC "\"\n",
                 "public-key does not belong to secret-key");
    const char bin[] = "curve\n\0 public-key";
    spx_curve_keypair kp;
    char err[512];
    cr_assert_eq(spx_curve_key_parse(bin, sizeof bin - 1, "k", &kp, err, sizeof err), -1);
    cr_assert(strstr(err, "binary"), "%s", err);
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

Test(curve_keys, load_secret_and_directories)
{
    char dir[] = "/tmp/spx-keys-XXXXXX", path[256], err[1024];
    cr_assert_not_null(mkdtemp(dir));
    spx_curve_keypair kp;

    snprintf(path, sizeof path, "%s/server.key_secret", dir);
    write_text(path, "curve\n    public-key = \"" PUB "\"\n    secret-key = \"" SEC "\"\n");
    cr_assert_eq(spx_curve_key_load(path, true, &kp, err, sizeof err), 0, "%s", err);
    cr_assert(kp.has_secret);
    snprintf(path, sizeof path, "%s/missing", dir);
    cr_assert_eq(spx_curve_key_load(path, true, &kp, err, sizeof err), -1);
    cr_assert(strstr(err, "No such file"), "%s", err);

    char keys[160];
    snprintf(keys, sizeof keys, "%s/keys", dir);
    cr_assert_eq(mkdir(keys, 0755), 0);
    spx_keyset ks;
    cr_assert_eq(spx_keyset_load_dir(keys, &ks, err, sizeof err), 0, "%s", err);
    cr_assert_eq(ks.n, 0, "an empty directory allows nobody");
    snprintf(path, sizeof path, "%s/a.key", keys);
    write_text(path, "curve\n    public-key = \"" PUB "\"\n");
    snprintf(path, sizeof path, "%s/b.cert", keys);
    write_text(path, "curve\n    public-key = \"" OTHER_PUB "\"\n");
    snprintf(path, sizeof path, "%s/a-copy.key", keys);
    write_text(path, "curve\n    public-key = \"" PUB "\"\n");
    snprintf(path, sizeof path, "%s/.hidden", keys);
    write_text(path, "junk");
    snprintf(path, sizeof path, "%s/b.key~", keys);
    write_text(path, "junk");
    cr_assert_eq(spx_keyset_load_dir(keys, &ks, err, sizeof err), 0, "%s", err);
    cr_assert_eq(ks.n, 2, "duplicates merged, hidden and backup files skipped");
    uint8_t a[32], b[32], c[32];
    zmq_z85_decode(a, PUB);
    zmq_z85_decode(b, OTHER_PUB);
    char cz[41], cs[41];
    zmq_curve_keypair(cz, cs);
    zmq_z85_decode(c, cz);
    cr_assert(spx_keyset_contains(&ks, a));
    cr_assert(spx_keyset_contains(&ks, b));
    cr_assert(!spx_keyset_contains(&ks, c));
    spx_keyset_free(&ks);

    /* one bad file fails the whole directory, naming file and line */
    snprintf(path, sizeof path, "%s/broken.key", keys);
    write_text(path, "metadata\ncurve\n    public-key = \"short\"\n");
    cr_assert_eq(spx_keyset_load_dir(keys, &ks, err, sizeof err), -1);
    cr_assert(strstr(err, "broken.key:3: public-key: 5 characters"), "%s", err);
    unlink(path);
    snprintf(path, sizeof path, "%s/alice.key_secret", keys);
    write_text(path, "curve\n    public-key = \"" PUB "\"\n    secret-key = \"" SEC "\"\n");
    cr_assert_eq(spx_keyset_load_dir(keys, &ks, err, sizeof err), -1);
    cr_assert(strstr(err, "does not belong in an allow-list"), "%s", err);
    snprintf(path, sizeof path, "%s/nope", dir);
    cr_assert_eq(spx_keyset_load_dir(path, &ks, err, sizeof err), -1);

    snprintf(path, sizeof path, "rm -rf '%s'", dir);
    cr_assert_eq(system(path), 0);
}
