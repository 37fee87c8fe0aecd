/* Text tables of numbers: CSV, other single-byte delimiters, or whitespace-separated columns.
 *
 * Lines are split in place (fields become NUL-terminated strings inside the line buffer) and only
 * the selected fields are converted, so a file can carry text columns (dates) that are not sent. A
 * batch is returned only when every one of its lines parsed: a bad line never leaks half a batch.
 * One column may be named the time column: it is never part of the selection, and its fields are
 * parsed with spectra_time_parse() for spectra_table_read_times(). */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define WHITESPACE_DELIM ' '

struct spectra_table {
    char delimiter_opt;
    int header_opt;
    char *columns_opt, *skip_opt, *time_opt;

    FILE *f;
    int own_file;
    char *name;
    char *line;
    size_t line_cap;
    uint64_t lineno;

    char delim;               /* resolved; WHITESPACE_DELIM for runs of blanks */
    size_t n_fields;          /* fields per line, fixed by the first line */
    char *header_text;        /* the header line, split: names point into it */
    char **names;             /* n_fields names, or NULL without a header */
    size_t *sel;              /* output column i comes from field sel[i] */
    size_t width;
    int has_time;
    size_t time_field;        /* the time column's field, when has_time */
    char **fields;            /* scratch for splitting */
    size_t fields_cap;

    int opened, pending, eof, failed;
    char err[SPECTRA__ERR_MAX];
};

static char *dup_str(const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p)
        memcpy(p, s, n);
    return p;
}

void spectra_table_options_init(spectra_table_options *o)
{
    memset(o, 0, sizeof *o);
    o->header = -1;
}

spectra_table *spectra_table_new(const spectra_table_options *opts)
{
    spectra_table_options defaults;
    spectra_table_options_init(&defaults);
    if (!opts)
        opts = &defaults;
    spectra_table *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->delimiter_opt = opts->delimiter;
    t->header_opt = opts->header;
    t->columns_opt = dup_str(opts->columns);
    t->skip_opt = dup_str(opts->skip_columns);
    t->time_opt = dup_str(opts->time_column);
    if ((opts->columns && !t->columns_opt) || (opts->skip_columns && !t->skip_opt) ||
        (opts->time_column && !t->time_opt)) {
        spectra_table_free(t);
        return NULL;
    }
    return t;
}

void spectra_table_free(spectra_table *t)
{
    if (!t)
        return;
    if (t->own_file && t->f)
        fclose(t->f);
    free(t->columns_opt);
    free(t->skip_opt);
    free(t->time_opt);
    free(t->name);
    free(t->line);
    free(t->header_text);
    free(t->names);
    free(t->sel);
    free(t->fields);
    free(t);
}

const char *spectra_table_error(const spectra_table *t)
{
    return t ? t->err : "no table";
}

size_t spectra_table_width(const spectra_table *t)
{
    return t ? t->width : 0;
}

const char *spectra_table_column_name(const spectra_table *t, size_t i)
{
    if (!t || i >= t->width || !t->names)
        return "";
    return t->names[t->sel[i]];
}

uint64_t spectra_table_line(const spectra_table *t)
{
    return t ? t->lineno : 0;
}

static int fail(spectra_table *t, int code, const char *fmt, ...) SPECTRA__PRINTF(3, 4);

static int fail(spectra_table *t, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->err, sizeof t->err, fmt, ap);
    va_end(ap);
    t->failed = code;
    return code;
}

/* "<name>:<line>: " + reason. */
static int fail_line(spectra_table *t, const char *fmt, ...) SPECTRA__PRINTF(2, 3);

static int fail_line(spectra_table *t, const char *fmt, ...)
{
    char reason[SPECTRA__ERR_MAX - 100];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    return fail(t, SPECTRA_EPARSE, "%s:%llu: %s", t->name, (unsigned long long)t->lineno, reason);
}

static int is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* Reads the next line that is neither empty nor a '#' comment. 1 read, 0 end of input, < 0 error. */
static int next_line(spectra_table *t)
{
    for (;;) {
        errno = 0;
        ssize_t n = getline(&t->line, &t->line_cap, t->f);
        if (n < 0) {
            if (ferror(t->f))
                return fail(t, SPECTRA_EIO, "%s: read error: %s", t->name,
                            strerror(errno ? errno : EIO));
            return 0;
        }
        t->lineno++;
        while (n > 0 && (t->line[n - 1] == '\n' || t->line[n - 1] == '\r'))
            t->line[--n] = '\0';
        if (t->lineno == 1 && n >= 3 && memcmp(t->line, "\xef\xbb\xbf", 3) == 0)
            memmove(t->line, t->line + 3, (size_t)n - 2); /* UTF-8 byte order mark */
        const char *p = t->line;
        while (is_blank(*p))
            p++;
        if (*p && *p != '#')
            return 1;
    }
}

static char *trim(char *s)
{
    while (is_blank(*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && is_blank(e[-1]))
        *--e = '\0';
    return s;
}

/* Removes CSV quotes in place: "a ""b""" -> a "b". */
static char *unquote(char *s)
{
    size_t n = strlen(s);
    if (n < 2 || s[0] != '"' || s[n - 1] != '"')
        return s;
    char *w = s;
    for (size_t i = 1; i + 1 < n; i++) {
        *w++ = s[i];
        if (s[i] == '"' && s[i + 1] == '"')
            i++;
    }
    *w = '\0';
    return s;
}

static int push_field(spectra_table *t, size_t *n, char *field)
{
    if (*n == t->fields_cap) {
        size_t cap = t->fields_cap ? 2 * t->fields_cap : 64;
        char **p = realloc(t->fields, cap * sizeof *p);
        if (!p)
            return fail(t, SPECTRA_ENOMEM, "out of memory");
        t->fields = p;
        t->fields_cap = cap;
    }
    t->fields[(*n)++] = field;
    return 0;
}

/* Splits s in place into t->fields; returns the count or a negative error. A delimiter inside
 * double quotes does not split. */
static long split(spectra_table *t, char *s)
{
    size_t n = 0;
    int rc;
    if (t->delim == WHITESPACE_DELIM) {
        char *p = s;
        for (;;) {
            while (is_blank(*p))
                *p++ = '\0';
            if (!*p)
                break;
            if ((rc = push_field(t, &n, p)))
                return rc;
            while (*p && !is_blank(*p))
                p++;
        }
        return (long)n;
    }
    char *start = s;
    int quoted = 0;
    for (char *p = s;; p++) {
        if (*p == '"')
            quoted = !quoted;
        if (*p == '\0' || (*p == t->delim && !quoted)) {
            int last = *p == '\0';
            *p = '\0';
            if ((rc = push_field(t, &n, unquote(trim(start)))))
                return rc;
            if (last)
                break;
            start = p + 1;
        }
    }
    return (long)n;
}

static int parse_number(const char *s, double *out)
{
    if (!*s)
        return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end != '\0')
        return -1;
    *out = v;
    return 0;
}

static char detect_delimiter(const char *line)
{
    if (strchr(line, ','))
        return ',';
    if (strchr(line, '\t'))
        return '\t';
    if (strchr(line, ';'))
        return ';';
    return WHITESPACE_DELIM;
}

/* A "N", "N-M", "N-" or "-M" token (1-based, inclusive). 1 when it is one, 0 when it is a name. */
static int parse_range(const char *tok, size_t n_fields, size_t *lo, size_t *hi)
{
    const char *dash = strchr(tok, '-');
    size_t len = strlen(tok);
    if (!len || strspn(tok, "0123456789-") != len || (dash && strchr(dash + 1, '-')) ||
        strcmp(tok, "-") == 0)
        return 0;
    *lo = 1;
    *hi = n_fields;
    if (dash != tok)
        *lo = (size_t)strtoull(tok, NULL, 10);
    if (!dash)
        *hi = *lo;
    else if (dash[1])
        *hi = (size_t)strtoull(dash + 1, NULL, 10);
    return 1;
}

static int add_column(spectra_table *t, size_t **list, size_t *n, size_t *cap, size_t field)
{
    if (*n == *cap) {
        size_t c = *cap ? 2 * *cap : 64;
        size_t *p = realloc(*list, c * sizeof *p);
        if (!p)
            return fail(t, SPECTRA_ENOMEM, "out of memory");
        *list = p;
        *cap = c;
    }
    (*list)[(*n)++] = field;
    return 0;
}

/* Resolves a --columns style spec into field indexes (in the order given). */
static int resolve_columns(spectra_table *t, const char *spec, const char *what, size_t **out,
                           size_t *n_out)
{
    size_t cap = 0;
    *out = NULL;
    *n_out = 0;
    char *copy = dup_str(spec);
    if (!copy)
        return fail(t, SPECTRA_ENOMEM, "out of memory");
    int rc = 0;
    char *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok && !rc; tok = strtok_r(NULL, ",", &save)) {
        tok = trim(tok);
        size_t lo, hi;
        if (parse_range(tok, t->n_fields, &lo, &hi)) {
            if (lo < 1 || hi < lo || hi > t->n_fields) {
                rc = fail(t, SPECTRA_EINVAL, "%s: %s '%s' is out of range (%s has %zu columns)",
                          t->name, what, tok, t->name, t->n_fields);
                break;
            }
            for (size_t f = lo; f <= hi && !rc; f++)
                rc = add_column(t, out, n_out, &cap, f - 1);
            continue;
        }
        if (!t->names) {
            rc = fail(t, SPECTRA_EINVAL, "%s: %s '%s' names a column, but there is no header line",
                      t->name, what, tok);
            break;
        }
        size_t f = 0;
        while (f < t->n_fields && strcmp(t->names[f], tok) != 0)
            f++;
        if (f == t->n_fields) {
            rc = fail(t, SPECTRA_EINVAL, "%s: %s '%s': no such column in the header", t->name,
                      what, tok);
            break;
        }
        rc = add_column(t, out, n_out, &cap, f);
    }
    free(copy);
    if (rc) {
        free(*out);
        *out = NULL;
        *n_out = 0;
    }
    return rc;
}

static int resolve_time_column(spectra_table *t)
{
    size_t *list, n;
    int rc = resolve_columns(t, t->time_opt, "time column", &list, &n);
    if (rc)
        return rc;
    if (n != 1) {
        free(list);
        return fail(t, SPECTRA_EINVAL, "%s: the time column '%s' must be one column", t->name,
                    t->time_opt);
    }
    t->has_time = 1;
    t->time_field = list[0];
    free(list);
    return 0;
}

static int select_columns(spectra_table *t)
{
    size_t *keep = NULL, n_keep = 0, *skip = NULL, n_skip = 0;
    int rc = 0;
    if (t->time_opt && (rc = resolve_time_column(t)))
        return rc;
    if (t->columns_opt) {
        rc = resolve_columns(t, t->columns_opt, "column", &keep, &n_keep);
        for (size_t i = 0; !rc && t->has_time && i < n_keep; i++)
            if (keep[i] == t->time_field)
                rc = fail(t, SPECTRA_EINVAL, "%s: column %zu is the time column, not a data column",
                          t->name, keep[i] + 1);
    } else {
        keep = malloc(t->n_fields * sizeof *keep);
        if (!keep)
            return fail(t, SPECTRA_ENOMEM, "out of memory");
        for (size_t i = 0; i < t->n_fields; i++)
            if (!t->has_time || i != t->time_field)
                keep[n_keep++] = i;
    }
    if (!rc && t->skip_opt)
        rc = resolve_columns(t, t->skip_opt, "skipped column", &skip, &n_skip);
    if (rc) {
        free(keep);
        return rc;
    }
    size_t w = 0;
    for (size_t i = 0; i < n_keep; i++) {
        int skipped = 0;
        for (size_t j = 0; j < n_skip && !skipped; j++)
            skipped = skip[j] == keep[i];
        if (!skipped)
            keep[w++] = keep[i];
    }
    free(skip);
    if (w == 0) {
        free(keep);
        return fail(t, SPECTRA_EINVAL, "%s: no columns selected", t->name);
    }
    t->sel = keep;
    t->width = w;
    return 0;
}

/* Reads the first line: delimiter, header or data, field count, column selection. */
static int read_first_line(spectra_table *t)
{
    int rc = next_line(t);
    if (rc < 0)
        return rc;
    if (rc == 0)
        return fail(t, SPECTRA_EPARSE, "%s: no data", t->name);
    t->delim = t->delimiter_opt ? t->delimiter_opt : detect_delimiter(t->line);
    if (t->delim == '\n' || t->delim == '\r' || t->delim == '"' || t->delim == '#')
        return fail(t, SPECTRA_EINVAL, "%s: unusable delimiter", t->name);
    t->header_text = dup_str(t->line);
    if (!t->header_text)
        return fail(t, SPECTRA_ENOMEM, "out of memory");
    long n = split(t, t->header_text);
    if (n < 0)
        return (int)n;
    t->n_fields = (size_t)n;
    int header = t->header_opt;
    if (header < 0) {
        header = 0;
        /* With a time column, a date field is data: "2016-07-01 00:00:00" is not a name. */
        for (size_t i = 0; i < t->n_fields && !header; i++) {
            double v;
            header = parse_number(t->fields[i], &v) != 0 &&
                     !(t->time_opt && spectra_time_parse(t->fields[i], &v) == 0);
        }
    }
    if (header) {
        t->names = malloc(t->n_fields * sizeof *t->names);
        if (!t->names)
            return fail(t, SPECTRA_ENOMEM, "out of memory");
        memcpy(t->names, t->fields, t->n_fields * sizeof *t->names);
    } else {
        t->pending = 1; /* t->line still holds the first data line, unsplit */
    }
    return select_columns(t);
}

int spectra_table_open_file(spectra_table *t, FILE *f, const char *name)
{
    if (!t || !f)
        return SPECTRA_EINVAL;
    if (t->opened)
        return fail(t, SPECTRA_EINVAL, "table already open");
    t->opened = 1;
    t->f = f;
    t->name = dup_str(name ? name : "<input>");
    if (!t->name)
        return fail(t, SPECTRA_ENOMEM, "out of memory");
    return read_first_line(t);
}

int spectra_table_open(spectra_table *t, const char *path)
{
    if (!t || !path)
        return SPECTRA_EINVAL;
    if (strcmp(path, "-") == 0)
        return spectra_table_open_file(t, stdin, "<stdin>");
    FILE *f = fopen(path, "r");
    if (!f) {
        t->opened = 1;
        return fail(t, SPECTRA_EIO, "%s: %s", path, strerror(errno));
    }
    int rc = spectra_table_open_file(t, f, path);
    t->own_file = 1;
    return rc;
}

static int parse_line(spectra_table *t, double *row, double *time)
{
    long n = split(t, t->line);
    if (n < 0)
        return (int)n;
    if ((size_t)n != t->n_fields)
        return fail_line(t, "%ld fields, expected %zu", n, t->n_fields);
    for (size_t i = 0; i < t->width; i++) {
        const char *s = t->fields[t->sel[i]];
        if (parse_number(s, &row[i]))
            return fail_line(t, "column %zu: '%.40s' is not a number", t->sel[i] + 1, s);
        if (!isfinite(row[i]))
            return fail_line(t, "column %zu: '%.40s' is not a finite number", t->sel[i] + 1, s);
    }
    if (time && spectra_time_parse(t->fields[t->time_field], time))
        return fail_line(t, "column %zu: '%.40s' is not a time (YYYY-MM-DD HH:MM:SS or seconds)",
                         t->time_field + 1, t->fields[t->time_field]);
    return 0;
}

int spectra_table_read(spectra_table *t, double *rows, size_t max_rows, size_t *n_rows)
{
    return spectra_table_read_times(t, rows, NULL, max_rows, n_rows);
}

int spectra_table_has_time(const spectra_table *t)
{
    return t && t->has_time;
}

int spectra_table_read_times(spectra_table *t, double *rows, double *times, size_t max_rows,
                             size_t *n_rows)
{
    if (n_rows)
        *n_rows = 0;
    if (!t || !n_rows || (max_rows && !rows))
        return SPECTRA_EINVAL;
    if (!t->opened)
        return fail(t, SPECTRA_EINVAL, "table not open");
    if (times && !t->has_time)
        return fail(t, SPECTRA_EINVAL, "%s: no time column", t->name);
    if (t->failed)
        return t->failed;
    size_t got = 0;
    while (got < max_rows && !t->eof) {
        if (t->pending) {
            t->pending = 0;
        } else {
            int rc = next_line(t);
            if (rc < 0)
                return rc;
            if (rc == 0) {
                t->eof = 1;
                break;
            }
        }
        int rc = parse_line(t, rows + got * t->width, times ? times + got : NULL);
        if (rc)
            return rc;
        got++;
    }
    *n_rows = got;
    return 0;
}
