/* The file-format pieces of libspectra behind `spectra push`: time stamps (checked against the C
 * library's timegm over many dates), the time column of text tables, and .npy headers made here
 * byte for byte as numpy.save writes them, plus malformed and unsupported ones. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "spectra.h"

static double parse_ok(const char *text)
{
    double t = NAN;
    int rc = spectra_time_parse(text, &t);
    cr_assert_eq(rc, 0, "'%s' did not parse (rc %d)", text, rc);
    return t;
}

Test(time_parse, iso_and_seconds)
{
    cr_assert_eq(parse_ok("2016-07-01 00:00:00"), 1467331200.0);
    cr_assert_eq(parse_ok("2016-07-01 01:00:00"), 1467331200.0 + 3600);
    cr_assert_eq(parse_ok("2016-07-01T00:00:00Z"), 1467331200.0);
    cr_assert_eq(parse_ok("2016-07-01"), 1467331200.0, "a date alone is midnight");
    cr_assert_eq(parse_ok("2016-07-01 00:15"), 1467331200.0 + 900, "seconds may be left out");
    cr_assert_eq(parse_ok(" 2016-07-01 00:00:00.25 "), 1467331200.25, "fraction and blanks");
    cr_assert_eq(parse_ok("2016-07-01 02:00:00+02:00"), 1467331200.0, "offset east of UTC");
    cr_assert_eq(parse_ok("2016-06-30T22:30:00-0130"), 1467331200.0, "offset without colon");
    cr_assert_eq(parse_ok("1970-01-01 00:00:00"), 0.0);
    cr_assert_eq(parse_ok("1969-12-31 23:59:59"), -1.0, "before the epoch");
    cr_assert_eq(parse_ok("2000-02-29"), 951782400.0, "2000 is a leap year");
    cr_assert_eq(parse_ok("12.5"), 12.5, "a plain number is seconds");
    cr_assert_eq(parse_ok("1467331200"), 1467331200.0);
    cr_assert_eq(parse_ok("-3"), -3.0);
}

Test(time_parse, rejects_what_is_not_a_time)
{
    const char *bad[] = {"", "   ", "date", "2016-13-01", "2016-00-10", "2016-02-30",
                         "2015-02-29", "1900-02-29", "2016-07-01 24:00:00", "2016-07-01 00:60:00",
                         "2016-07-01 00:00:60", "2016/07/01", "16-07-01", "2016-7-1",
                         "2016-07-01 00:00:00 x", "2016-07-01 0:00", "2016-07-01 00:00:00.",
                         "2016-07-01+25:00", "inf", "nan", "12abc", "2016-07-01 00:00:00+"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        double t = 42;
        cr_assert_eq(spectra_time_parse(bad[i], &t), SPECTRA_EPARSE, "'%s' parsed", bad[i]);
        cr_assert_eq(t, 42, "'%s' wrote a result", bad[i]);
    }
    cr_assert_eq(spectra_time_parse(NULL, NULL), SPECTRA_EINVAL);
}

/* Every day from 1890 to 2110 at a varying time of day, formatted by strftime and compared with
 * timegm, under a TZ that is not UTC (the parser must not consult it). */
Test(time_parse, agrees_with_timegm_over_two_centuries)
{
    setenv("TZ", "America/New_York", 1);
    tzset();
    struct tm tm = {0};
    tm.tm_year = 1890 - 1900;
    tm.tm_mon = 0;
    tm.tm_mday = 1;
    time_t t = timegm(&tm);
    size_t checked = 0;
    for (; t < (time_t)4417977600; t += 86400 + 3607) { /* up to 2110, drifting through the day */
        struct tm u;
        cr_assert_not_null(gmtime_r(&t, &u));
        char text[64];
        strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S", &u);
        cr_assert_eq(parse_ok(text), (double)t, "%s", text);
        strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &u);
        cr_assert_eq(parse_ok(text), (double)t, "%s", text);
        checked++;
    }
    cr_assert_gt(checked, 70000);
    unsetenv("TZ");
    tzset();
}

/* ------------------------------------------------------------------------------------------- */

static spectra_table *open_text(const char *text, const spectra_table_options *opts, FILE **f,
                                int *rc)
{
    *f = fmemopen((void *)text, strlen(text), "r");
    cr_assert_not_null(*f);
    spectra_table *t = spectra_table_new(opts);
    cr_assert_not_null(t);
    *rc = spectra_table_open_file(t, *f, "mem.csv");
    return t;
}

Test(table_times, time_column_is_read_and_left_out_of_the_selection)
{
    const char *text = "date,HUFL,OT\n"
                       "2016-07-01 00:00:00,5.8,30.5\n"
                       "2016-07-01 01:00:00,5.6,27.7\n"
                       "2016-07-01 03:00:00,5.0,27.0\n";
    spectra_table_options o;
    spectra_table_options_init(&o);
    o.time_column = "date";
    FILE *f;
    int rc;
    spectra_table *t = open_text(text, &o, &f, &rc);
    cr_assert_eq(rc, 0, "%s", spectra_table_error(t));
    cr_assert_eq(spectra_table_has_time(t), 1);
    cr_assert_eq(spectra_table_width(t), 2, "date is not a channel");
    cr_assert_str_eq(spectra_table_column_name(t, 0), "HUFL");
    cr_assert_str_eq(spectra_table_column_name(t, 1), "OT");
    double rows[8], times[4];
    size_t n;
    cr_assert_eq(spectra_table_read_times(t, rows, times, 2, &n), 0);
    cr_assert_eq(n, 2);
    cr_assert_eq(times[0], 1467331200.0);
    cr_assert_eq(times[1], 1467334800.0);
    cr_assert_eq(rows[0], 5.8);
    cr_assert_eq(rows[3], 27.7);
    cr_assert_eq(spectra_table_read_times(t, rows, times, 4, &n), 0);
    cr_assert_eq(n, 1);
    cr_assert_eq(times[0], 1467331200.0 + 3 * 3600);
    spectra_table_free(t);
    fclose(f);
}

Test(table_times, headerless_first_line_with_a_date_is_data)
{
    spectra_table_options o;
    spectra_table_options_init(&o);
    o.time_column = "1";
    FILE *f;
    int rc;
    spectra_table *t = open_text("2016-07-01 00:00:00,1,2\n2016-07-01 00:00:01,3,4\n", &o, &f, &rc);
    cr_assert_eq(rc, 0, "%s", spectra_table_error(t));
    cr_assert_str_eq(spectra_table_column_name(t, 0), "", "no header");
    double rows[4], times[2];
    size_t n;
    cr_assert_eq(spectra_table_read_times(t, rows, times, 2, &n), 0);
    cr_assert_eq(n, 2);
    cr_assert_eq(times[1] - times[0], 1.0);
    cr_assert_eq(rows[2], 3);
    spectra_table_free(t);
    fclose(f);

    /* Without a time column the same line is a header, as before. */
    t = open_text("2016-07-01 00:00:00,1,2\n", NULL, &f, &rc);
    cr_assert_eq(rc, 0);
    cr_assert_str_eq(spectra_table_column_name(t, 1), "1");
    double row[3];
    cr_assert_eq(spectra_table_read_times(t, row, times, 1, &n), SPECTRA_EINVAL,
                 "read_times needs a time column");
    spectra_table_free(t);
    fclose(f);
}

Test(table_times, bad_time_and_bad_options)
{
    spectra_table_options o;
    spectra_table_options_init(&o);
    o.time_column = "date";
    FILE *f;
    int rc;
    spectra_table *t = open_text("date,a\n2016-07-01,1\nyesterday,2\n", &o, &f, &rc);
    cr_assert_eq(rc, 0);
    double rows[2], times[2];
    size_t n;
    cr_assert_eq(spectra_table_read_times(t, rows, times, 2, &n), SPECTRA_EPARSE);
    cr_assert_eq(n, 0, "the batch with the bad line is not returned");
    cr_assert_str_eq(spectra_table_error(t), "mem.csv:3: column 1: 'yesterday' is not a time "
                                             "(YYYY-MM-DD HH:MM:SS or seconds)");
    spectra_table_free(t);
    fclose(f);

    o.columns = "date,a";
    t = open_text("date,a\n2016-07-01,1\n", &o, &f, &rc);
    cr_assert_eq(rc, SPECTRA_EINVAL);
    cr_assert_str_eq(spectra_table_error(t), "mem.csv: column 1 is the time column, not a data "
                                             "column");
    spectra_table_free(t);
    fclose(f);

    o.columns = NULL;
    o.time_column = "when";
    t = open_text("date,a\n2016-07-01,1\n", &o, &f, &rc);
    cr_assert_eq(rc, SPECTRA_EINVAL);
    cr_assert_str_eq(spectra_table_error(t), "mem.csv: time column 'when': no such column in the "
                                             "header");
    spectra_table_free(t);
    fclose(f);

    o.time_column = "1-2";
    t = open_text("date,a\n2016-07-01,1\n", &o, &f, &rc);
    cr_assert_eq(rc, SPECTRA_EINVAL);
    spectra_table_free(t);
    fclose(f);
}

/* ------------------------------------------------------------------------------------------- */

/* An .npy preamble + dict padded with spaces to a multiple of 64 bytes and ended by '\n', as
 * numpy.save writes it. Returns the total length written to buf. */
static size_t make_npy(unsigned char *buf, size_t cap, int major, const char *dict)
{
    size_t pre = major == 1 ? 10 : 12;
    size_t len = pre + strlen(dict) + 1;
    size_t total = (len + 63) / 64 * 64;
    cr_assert_leq(total, cap);
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (unsigned char)major;
    buf[7] = 0;
    size_t hlen = total - pre;
    buf[8] = (unsigned char)(hlen & 0xff);
    buf[9] = (unsigned char)(hlen >> 8);
    if (major >= 2) {
        buf[10] = (unsigned char)(hlen >> 16);
        buf[11] = (unsigned char)(hlen >> 24);
    }
    memset(buf + pre, ' ', hlen);
    memcpy(buf + pre, dict, strlen(dict));
    buf[total - 1] = '\n';
    return total;
}

Test(npy, header_as_numpy_writes_it)
{
    unsigned char buf[256];
    size_t len = make_npy(buf, sizeof buf, 1,
                          "{'descr': '<f8', 'fortran_order': False, 'shape': (400, 128, 8), }");
    cr_assert_eq(len, 128, "numpy.save writes a 128-byte header for this array");
    spectra_npy_header h;
    char err[256];
    cr_assert_eq(spectra_npy_parse_header(buf, len, &h, err, sizeof err), 0, "%s", err);
    cr_assert_eq(h.dtype, SPECTRA_F64);
    cr_assert_eq(h.ndim, 3);
    cr_assert_eq(h.shape[0], 400);
    cr_assert_eq(h.shape[1], 128);
    cr_assert_eq(h.shape[2], 8);
    cr_assert_eq(h.count, 400 * 128 * 8);
    cr_assert_eq(h.data_offset, 128);

    /* The whole file may be passed: bytes after the header are data, not header. */
    unsigned char file[256 + 16];
    memcpy(file, buf, len);
    memset(file + len, 0x7f, 16);
    cr_assert_eq(spectra_npy_parse_header(file, len + 16, &h, err, sizeof err), 0, "%s", err);
    cr_assert_eq(h.data_offset, 128);
}

Test(npy, other_good_headers)
{
    unsigned char buf[256];
    spectra_npy_header h;
    char err[256];
    size_t len = make_npy(buf, sizeof buf, 2,
                          "{\"shape\": (3,), \"descr\": \"<f4\", \"fortran_order\": False}");
    cr_assert_eq(spectra_npy_parse_header(buf, len, &h, err, sizeof err), 0, "v2: %s", err);
    cr_assert_eq(h.dtype, SPECTRA_F32);
    cr_assert_eq(h.ndim, 1);
    cr_assert_eq(h.shape[0], 3);
    cr_assert_eq(h.data_offset, len);

    len = make_npy(buf, sizeof buf, 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (), }");
    cr_assert_eq(spectra_npy_parse_header(buf, len, &h, err, sizeof err), 0, "0-d: %s", err);
    cr_assert_eq(h.ndim, 0);
    cr_assert_eq(h.count, 1);

    len = make_npy(buf, sizeof buf, 1,
                   "{'descr': '<f8', 'fortran_order': False, 'shape': (0, 128, 8), }");
    cr_assert_eq(spectra_npy_parse_header(buf, len, &h, err, sizeof err), 0, "empty: %s", err);
    cr_assert_eq(h.count, 0);
}

Test(npy, truncated_header_asks_for_more)
{
    unsigned char buf[256];
    size_t len = make_npy(buf, sizeof buf, 1,
                          "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), }");
    spectra_npy_header h;
    cr_assert_eq(spectra_npy_parse_header(buf, 4, &h, NULL, 0), SPECTRA_ERANGE);
    cr_assert_geq(h.data_offset, 10, "at least the preamble");
    cr_assert_eq(spectra_npy_parse_header(buf, 12, &h, NULL, 0), SPECTRA_ERANGE);
    cr_assert_eq(h.data_offset, len, "the preamble tells the header's length");
    cr_assert_eq(spectra_npy_parse_header(buf, len - 1, &h, NULL, 0), SPECTRA_ERANGE);
    cr_assert_eq(spectra_npy_parse_header(buf, len, &h, NULL, 0), 0);
}

typedef struct bad_header {
    int major;
    const char *dict;
    int rc;
    const char *reason; /* a substring of the message */
} bad_header;

Test(npy, unsupported_and_malformed_headers_say_why)
{
    const bad_header cases[] = {
        {1, "{'descr': '>f8', 'fortran_order': False, 'shape': (2, 2), }", SPECTRA_EINVAL,
         "big-endian"},
        {1, "{'descr': '<i8', 'fortran_order': False, 'shape': (2, 2), }", SPECTRA_EINVAL,
         "integer"},
        {1, "{'descr': '<f2', 'fortran_order': False, 'shape': (2, 2), }", SPECTRA_EINVAL,
         "only little-endian float64"},
        {1, "{'descr': '<f8', 'fortran_order': True, 'shape': (2, 3), }", SPECTRA_EINVAL,
         "Fortran-order"},
        {1, "{'descr': [('a', '<f8')], 'fortran_order': False, 'shape': (2,), }",
         SPECTRA_EINVAL, "structured"},
        {3, "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), }", SPECTRA_EINVAL,
         "version 3.0"},
        {1, "{'descr': '<f8', 'fortran_order': False, }", SPECTRA_EPARSE, "lacks 'shape'"},
        {1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), 'x': 1}", SPECTRA_EPARSE,
         "unexpected or repeated key 'x'"},
        {1, "{'descr': '<f8', 'descr': '<f8', 'fortran_order': False, 'shape': (2,)}",
         SPECTRA_EPARSE, "repeated"},
        {1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2, -2), }", SPECTRA_EPARSE,
         "non-negative integers"},
        {1, "{'descr': '<f8', 'fortran_order': False, 'shape': [2, 2], }", SPECTRA_EPARSE,
         "not a tuple"},
        {1, "{'descr': '<f8', 'fortran_order': 0, 'shape': (2, 2), }", SPECTRA_EPARSE,
         "not a bool"},
        {1, "['descr', '<f8']", SPECTRA_EPARSE, "not a dict"},
        {1, "{'descr': '<f8', 'fortran_order': False, 'shape': (1, 1, 1, 1, 1, 1, 1, 1, 1), }",
         SPECTRA_ERANGE, "more than 8 dimensions"},
        {1, "{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296), }",
         SPECTRA_ERANGE, "too large"},
        {1, "{'descr': '<f8', 'fortran_order': False, 'shape': (99999999999999999999999,), }",
         SPECTRA_ERANGE, "too large"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        unsigned char buf[256];
        size_t len = make_npy(buf, sizeof buf, cases[i].major, cases[i].dict);
        spectra_npy_header h;
        char err[256];
        int rc = spectra_npy_parse_header(buf, len, &h, err, sizeof err);
        cr_assert_eq(rc, cases[i].rc, "%s: rc %d (%s)", cases[i].dict, rc, err);
        cr_assert(strstr(err, cases[i].reason) != NULL, "%s: message '%s' lacks '%s'",
                  cases[i].dict, err, cases[i].reason);
    }
}

Test(npy, broken_framing)
{
    unsigned char buf[256];
    spectra_npy_header h;
    char err[256];
    size_t len = make_npy(buf, sizeof buf, 1,
                          "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), }");
    buf[0] = 'X';
    cr_assert_eq(spectra_npy_parse_header(buf, len, &h, err, sizeof err), SPECTRA_EPARSE);
    cr_assert(strstr(err, "not an .npy file") != NULL, "%s", err);

    len = make_npy(buf, sizeof buf, 1,
                   "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), }");
    buf[len - 1] = ' ';
    cr_assert_eq(spectra_npy_parse_header(buf, len, &h, err, sizeof err), SPECTRA_EPARSE);
    cr_assert(strstr(err, "newline") != NULL, "%s", err);

    len = make_npy(buf, sizeof buf, 1,
                   "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), } trailing");
    cr_assert_eq(spectra_npy_parse_header(buf, len, &h, err, sizeof err), SPECTRA_EPARSE);
    cr_assert(strstr(err, "text after") != NULL, "%s", err);

    /* A header length that points past any sane header is refused, not allocated. */
    len = make_npy(buf, sizeof buf, 2,
                   "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), }");
    buf[11] = 0x7f;
    cr_assert_eq(spectra_npy_parse_header(buf, len, &h, err, sizeof err), SPECTRA_EPARSE);
    cr_assert_eq(spectra_npy_parse_header(NULL, 0, &h, NULL, 0), SPECTRA_ERANGE);
}
