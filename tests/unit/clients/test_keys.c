/* libspectra's CURVE key files: spectra_keygen() writes what spectra_key_read() and the daemon
 * read (CZMQ zcert format), and malformed files are refused with FILE:LINE. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "spectra.h"

#define PUB "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"
#define SEC "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6"

static void expect_error(const char *text, int want_secret, int code, const char *needle)
{
    char pub[41], sec[41], err[512] = "";
    cr_assert_eq(spectra_key_parse(text, strlen(text), "k", pub, want_secret ? sec : NULL, err,
                                   sizeof err), code, "%s", err);
    cr_assert(strstr(err, needle), "expected '%s' in '%s'", needle, err);
}

Test(keys, keygen_round_trip)
{
    char dir[] = "/tmp/spectra-keygen-XXXXXX", base[64], path[96], err[512];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(base, sizeof base, "%s/alice", dir);
    cr_assert_eq(spectra_keygen(base, err, sizeof err), 0, "%s", err);

    char pub[41], pub2[41], sec[41], derived[41];
    snprintf(path, sizeof path, "%s.key", base);
    cr_assert_eq(spectra_key_read(path, pub, NULL, err, sizeof err), 0, "%s", err);
    cr_assert_eq(spectra_key_read(path, pub2, sec, err, sizeof err), SPECTRA_EPARSE,
                 "the public file has no secret");
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0644);
    snprintf(path, sizeof path, "%s.key_secret", base);
    cr_assert_eq(spectra_key_read(path, pub2, sec, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(pub, pub2, "both files carry the same public key");
    cr_assert_eq(zmq_curve_public(derived, sec), 0);
    cr_assert_str_eq(derived, pub, "the public key belongs to the secret");
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0600);

    /* never overwrites, and a new name gives a new key */
    cr_assert_eq(spectra_keygen(base, err, sizeof err), SPECTRA_EIO);
    cr_assert(strstr(err, "refusing to overwrite"), "%s", err);
    unlink(path);   /* even with only the public file left */
    cr_assert_eq(spectra_keygen(base, err, sizeof err), SPECTRA_EIO);
    snprintf(base, sizeof base, "%s/bob", dir);
    cr_assert_eq(spectra_keygen(base, err, sizeof err), 0, "%s", err);
    snprintf(path, sizeof path, "%s.key", base);
    cr_assert_eq(spectra_key_read(path, pub2, NULL, err, sizeof err), 0, "%s", err);
    cr_assert_str_neq(pub, pub2);
    snprintf(path, sizeof path, "%s/none/x", dir);
    cr_assert_eq(spectra_keygen(path, err, sizeof err), SPECTRA_EIO);
    cr_assert_eq(spectra_key_read(path, pub, NULL, err, sizeof err), SPECTRA_EIO);

    snprintf(path, sizeof path, "rm -rf '%s'", dir);
    cr_assert_eq(system(path), 0);
}

Test(keys, parse_reference_and_errors)
{
    char pub[41], sec[41], err[512];
    const char *czmq = "#   ZeroMQ CURVE **Secret** Certificate\n\nmetadata\n    name = \"s\"\ncurve\n"
                       "    public-key = \"" PUB "\"\n    secret-key = \"" SEC "\"\n";
    cr_assert_eq(spectra_key_parse(czmq, strlen(czmq), "k", pub, sec, err, sizeof err), 0, "%s",
                 err);
    cr_assert_str_eq(pub, PUB);
    cr_assert_str_eq(sec, SEC);
    expect_error("metadata\n", 0, SPECTRA_EPARSE, "k: no 'curve' section");
    expect_error("curve\n    public-key = \"" PUB "x\"\n", 0, SPECTRA_EPARSE,
                 "k:2: public-key: 41 characters, a Z85 CURVE key has 40");
    expect_error("curve\n    public-key = \"rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]y~7\"\n", 0,
                 SPECTRA_EPARSE, "k:2: public-key: character '~' at position 39 is not Z85");
    expect_error("curve\n    public-key = \"#####>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7\"\n", 0,
                 SPECTRA_EPARSE, "value too large");
    expect_error("curve\n    secret-key = \"" SEC "\"\n", 1, SPECTRA_EPARSE, "no public-key");
    expect_error("curve\n    public-key = \"" PUB "\"\n", 1, SPECTRA_EPARSE, "no secret-key");
    expect_error("curve\n    public-key = \"Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID\"\n"
                 "    secret-key = \"" SEC "\"\n", 1, SPECTRA_EPARSE, "does not belong");
}
