/* The text table reader behind `spectra push`: header and delimiter detection, column selection,
 * and bad lines reported by file:line without returning any part of their batch. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spectra.h"
#include "testdata.h"

/* A table over an in-memory text (fmemopen), opened with the given options. */
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

static void close_text(spectra_table *t, FILE *f)
{
    spectra_table_free(t);
    fclose(f);
}

Test(table, csv_with_header_is_detected)
{
    FILE *f;
    int rc;
    spectra_table *t = open_text("a,b,c\n1,2,3\n4.5,-6e2,0x10\n", NULL, &f, &rc);
    cr_assert_eq(rc, 0, "%s", spectra_table_error(t));
    cr_assert_eq(spectra_table_width(t), 3);
    cr_assert_str_eq(spectra_table_column_name(t, 0), "a");
    cr_assert_str_eq(spectra_table_column_name(t, 2), "c");
    double rows[6];
    size_t n;
    cr_assert_eq(spectra_table_read(t, rows, 10, &n), 0);
    cr_assert_eq(n, 2);
    const double want[6] = {1, 2, 3, 4.5, -600, 16};
    for (int i = 0; i < 6; i++)
        cr_assert_eq(rows[i], want[i], "value %d: %g", i, rows[i]);
    cr_assert_eq(spectra_table_read(t, rows, 10, &n), 0);
    cr_assert_eq(n, 0, "end of input");
    close_text(t, f);
}

Test(table, numeric_first_line_is_data_and_whitespace_detected)
{
    FILE *f;
    int rc;
    /* spambase style: spaces, a trailing blank, a comment and an empty line */
    spectra_table *t = open_text("0 0.64  1 \n# note\n\n\t2 3 4\r\n", NULL, &f, &rc);
    cr_assert_eq(rc, 0, "%s", spectra_table_error(t));
    cr_assert_eq(spectra_table_width(t), 3);
    cr_assert_str_eq(spectra_table_column_name(t, 0), "");
    double rows[6];
    size_t n;
    cr_assert_eq(spectra_table_read(t, rows, 1, &n), 0);
    cr_assert_eq(n, 1, "batches stop at max_rows");
    cr_assert_eq(rows[1], 0.64);
    cr_assert_eq(spectra_table_read(t, rows, 5, &n), 0);
    cr_assert_eq(n, 1);
    cr_assert_eq(rows[0], 2);
    cr_assert_eq(rows[2], 4);
    cr_assert_eq(spectra_table_line(t), 4);
    close_text(t, f);
}

Test(table, forced_header_and_no_header)
{
    spectra_table_options o;
    spectra_table_options_init(&o);
    o.header = 1;
    FILE *f;
    int rc;
    spectra_table *t = open_text("1;2\n3;4\n", &o, &f, &rc);
    cr_assert_eq(rc, 0);
    cr_assert_str_eq(spectra_table_column_name(t, 1), "2");
    double rows[4];
    size_t n;
    cr_assert_eq(spectra_table_read(t, rows, 4, &n), 0);
    cr_assert_eq(n, 1);
    cr_assert_eq(rows[0], 3);
    close_text(t, f);

    o.header = 0;
    t = open_text("x,y\n1,2\n", &o, &f, &rc);
    cr_assert_eq(rc, 0);
    cr_assert_eq(spectra_table_read(t, rows, 4, &n), SPECTRA_EPARSE,
                 "a header read as data must fail");
    cr_assert_str_eq(spectra_table_error(t), "mem.csv:1: column 1: 'x' is not a number");
    close_text(t, f);
}

Test(table, columns_by_name_and_range_skip_text_columns)
{
    const char *text = "date,HUFL,HULL,OT\n"
                       "2016-07-01 00:00:00,5.8,2.0,30.5\n"
                       "2016-07-01 01:00:00,5.6,2.1,27.7\n";
    spectra_table_options o;
    spectra_table_options_init(&o);
    o.columns = "OT,2-3";
    FILE *f;
    int rc;
    spectra_table *t = open_text(text, &o, &f, &rc);
    cr_assert_eq(rc, 0, "%s", spectra_table_error(t));
    cr_assert_eq(spectra_table_width(t), 3);
    cr_assert_str_eq(spectra_table_column_name(t, 0), "OT");
    cr_assert_str_eq(spectra_table_column_name(t, 1), "HUFL");
    double rows[6];
    size_t n;
    cr_assert_eq(spectra_table_read(t, rows, 8, &n), 0, "%s", spectra_table_error(t));
    cr_assert_eq(n, 2);
    cr_assert_eq(rows[0], 30.5);
    cr_assert_eq(rows[1], 5.8);
    cr_assert_eq(rows[5], 2.1);
    close_text(t, f);

    spectra_table_options_init(&o);
    o.skip_columns = "date";
    t = open_text(text, &o, &f, &rc);
    cr_assert_eq(rc, 0, "%s", spectra_table_error(t));
    cr_assert_eq(spectra_table_width(t), 3);
    cr_assert_str_eq(spectra_table_column_name(t, 2), "OT");
    close_text(t, f);

    spectra_table_options_init(&o);
    o.columns = "2-";
    o.skip_columns = "3";
    t = open_text(text, &o, &f, &rc);
    cr_assert_eq(rc, 0, "%s", spectra_table_error(t));
    cr_assert_eq(spectra_table_width(t), 2);
    cr_assert_eq(spectra_table_read(t, rows, 8, &n), 0);
    cr_assert_eq(rows[0], 5.8);
    cr_assert_eq(rows[1], 30.5);
    close_text(t, f);

    spectra_table_options_init(&o);
    o.columns = "-2";
    t = open_text("1 2 3\n", &o, &f, &rc);
    cr_assert_eq(rc, 0);
    cr_assert_eq(spectra_table_width(t), 2);
    close_text(t, f);
}

Test(table, bad_column_specs)
{
    const char *text = "a,b\n1,2\n";
    spectra_table_options o;
    FILE *f;
    int rc;
    const char *specs[][2] = {
        {"c", "mem.csv: column 'c': no such column in the header"},
        {"0-1", "mem.csv: column '0-1' is out of range (mem.csv has 2 columns)"},
        {"3", "mem.csv: column '3' is out of range (mem.csv has 2 columns)"},
        {"2-1", "mem.csv: column '2-1' is out of range (mem.csv has 2 columns)"},
    };
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
        spectra_table_options_init(&o);
        o.columns = specs[i][0];
        spectra_table *t = open_text(text, &o, &f, &rc);
        cr_assert_eq(rc, SPECTRA_EINVAL, "spec %s", specs[i][0]);
        cr_assert_str_eq(spectra_table_error(t), specs[i][1]);
        close_text(t, f);
    }
    spectra_table_options_init(&o);
    o.skip_columns = "1-2";
    spectra_table *t = open_text(text, &o, &f, &rc);
    cr_assert_eq(rc, SPECTRA_EINVAL);
    cr_assert_str_eq(spectra_table_error(t), "mem.csv: no columns selected");
    close_text(t, f);

    spectra_table_options_init(&o);
    o.columns = "a";
    t = open_text("1 2\n", &o, &f, &rc);
    cr_assert_eq(rc, SPECTRA_EINVAL);
    cr_assert_str_eq(spectra_table_error(t),
                     "mem.csv: column 'a' names a column, but there is no header line");
    close_text(t, f);
}

/* Reads in batches of 2 until an error; returns the rows returned before it. */
static size_t read_until_error(spectra_table *t, int *rc)
{
    double rows[2 * 8];
    size_t n, total = 0;
    while ((*rc = spectra_table_read(t, rows, 2, &n)) == 0 && n)
        total += n;
    return total;
}

Test(table, bad_lines_name_file_and_line)
{
    const struct {
        const char *text, *error;
        size_t rows_before;
    } cases[] = {
        {"a,b\n1,2\n3,4\n5,x\n", "mem.csv:4: column 2: 'x' is not a number", 2},
        {"a,b\n1,2\n3\n", "mem.csv:3: 1 fields, expected 2", 0},
        {"1 2\n3 4\n5 6\n\n7 8 9\n", "mem.csv:5: 3 fields, expected 2", 2},
        {"a,b\n1,nan\n", "mem.csv:2: column 2: 'nan' is not a finite number", 0},
        {"a,b\n1,1e999\n", "mem.csv:2: column 2: '1e999' is not a finite number", 0},
        {"a,b\n1,\n", "mem.csv:2: column 2: '' is not a number", 0},
        {"a,b\n1,2 3\n", "mem.csv:2: column 2: '2 3' is not a number", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        FILE *f;
        int rc;
        spectra_table *t = open_text(cases[i].text, NULL, &f, &rc);
        cr_assert_eq(rc, 0, "case %zu: %s", i, spectra_table_error(t));
        size_t before = read_until_error(t, &rc);
        cr_assert_eq(rc, SPECTRA_EPARSE, "case %zu", i);
        cr_assert_str_eq(spectra_table_error(t), cases[i].error, "case %zu", i);
        /* The batch holding the bad line is withheld: only whole good batches came out. */
        cr_assert_eq(before, cases[i].rows_before, "case %zu: %zu rows", i, before);
        double row[2];
        size_t n = 99;
        cr_assert_eq(spectra_table_read(t, row, 1, &n), SPECTRA_EPARSE, "errors are sticky");
        cr_assert_eq(n, 0);
        close_text(t, f);
    }
}

Test(table, bad_field_outside_the_selection_is_ignored)
{
    spectra_table_options o;
    spectra_table_options_init(&o);
    o.columns = "2";
    FILE *f;
    int rc;
    spectra_table *t = open_text("x 1\ny 2\n", &o, &f, &rc);
    cr_assert_eq(rc, 0);
    double rows[2];
    size_t n;
    cr_assert_eq(spectra_table_read(t, rows, 2, &n), 0, "%s", spectra_table_error(t));
    cr_assert_eq(n, 1, "'x 1' is a header: its first field is not a number");
    cr_assert_eq(rows[0], 2);
    close_text(t, f);
}

Test(table, quoted_csv_bom_and_explicit_delimiter)
{
    FILE *f;
    int rc;
    spectra_table *t =
        open_text("\xef\xbb\xbf\"a,1\",\"b \"\"q\"\"\"\n\"1.5\", 2 \n", NULL, &f, &rc);
    cr_assert_eq(rc, 0, "%s", spectra_table_error(t));
    cr_assert_eq(spectra_table_width(t), 2);
    cr_assert_str_eq(spectra_table_column_name(t, 0), "a,1");
    cr_assert_str_eq(spectra_table_column_name(t, 1), "b \"q\"");
    double rows[4];
    size_t n;
    cr_assert_eq(spectra_table_read(t, rows, 2, &n), 0, "%s", spectra_table_error(t));
    cr_assert_eq(rows[0], 1.5);
    cr_assert_eq(rows[1], 2);
    close_text(t, f);

    spectra_table_options o;
    spectra_table_options_init(&o);
    o.delimiter = '|';
    t = open_text("1|2\n3|2,5\n", &o, &f, &rc);
    cr_assert_eq(rc, 0);
    cr_assert_eq(spectra_table_width(t), 2);
    cr_assert_eq(spectra_table_read(t, rows, 2, &n), SPECTRA_EPARSE);
    cr_assert_str_eq(spectra_table_error(t), "mem.csv:2: column 2: '2,5' is not a number");
    close_text(t, f);
}

Test(table, empty_input_and_missing_file)
{
    FILE *f;
    int rc;
    spectra_table *t = open_text("# only a comment\n\n", NULL, &f, &rc);
    cr_assert_eq(rc, SPECTRA_EPARSE);
    cr_assert_str_eq(spectra_table_error(t), "mem.csv: no data");
    close_text(t, f);

    t = spectra_table_new(NULL);
    cr_assert_eq(spectra_table_open(t, "/nonexistent/x.csv"), SPECTRA_EIO);
    cr_assert_str_eq(spectra_table_error(t), "/nonexistent/x.csv: No such file or directory");
    spectra_table_free(t);
}

Test(table, spambase_matches_independent_loader)
{
    char path[4096];
    SPX_REQUIRE_DATA(path, "matrices/spambase.data");
    double *ref;
    size_t ref_rows;
    cr_assert_eq(spx_test_load_text_matrix(path, 0, 57, &ref, &ref_rows), 0);
    spectra_table_options o;
    spectra_table_options_init(&o);
    o.columns = "1-57";
    spectra_table *t = spectra_table_new(&o);
    cr_assert_eq(spectra_table_open(t, path), 0, "%s", spectra_table_error(t));
    cr_assert_eq(spectra_table_width(t), 57);
    double *rows = malloc(1000 * 57 * sizeof *rows);
    size_t n, total = 0, batches = 0;
    while (spectra_table_read(t, rows, 1000, &n) == 0 && n) {
        cr_assert_eq(memcmp(rows, ref + total * 57, n * 57 * sizeof *rows), 0,
                     "batch %zu differs", batches);
        total += n;
        batches++;
    }
    cr_assert_str_eq(spectra_table_error(t), "");
    cr_assert_eq(total, 4601);
    cr_assert_eq(total, ref_rows);
    cr_assert_eq(batches, 5);
    free(rows);
    free(ref);
    spectra_table_free(t);
}

Test(table, etth1_skipping_the_date_column)
{
    char path[4096];
    SPX_REQUIRE_DATA(path, "forecast/ETTh1.csv");
    spectra_table_options o;
    spectra_table_options_init(&o);
    o.skip_columns = "date";
    spectra_table *t = spectra_table_new(&o);
    cr_assert_eq(spectra_table_open(t, path), 0, "%s", spectra_table_error(t));
    cr_assert_eq(spectra_table_width(t), 7);
    cr_assert_str_eq(spectra_table_column_name(t, 6), "OT");
    double *rows = malloc(4096 * 7 * sizeof *rows);
    size_t n, total = 0;
    double first_ot = NAN;
    while (spectra_table_read(t, rows, 4096, &n) == 0 && n) {
        if (total == 0)
            first_ot = rows[6];
        total += n;
    }
    cr_assert_str_eq(spectra_table_error(t), "");
    cr_assert_eq(total, 17420);
    cr_assert_eq(first_ot, 30.5310001373291);
    free(rows);
    spectra_table_free(t);
}
