/* Times in text files: seconds since the epoch, or ISO 8601 calendar date-times (UTC unless an
 * offset is given). The calendar arithmetic is done here, not with timegm()/mktime(), so the
 * result does not depend on the TZ environment or the C library's range of time_t. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (H. Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;                                        /* [0, 399] */
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;       /* [0, 365] */
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;                /* [0, 146096] */
    return era * 146097 + doe - 719468;
}

static int days_in_month(int64_t y, int m)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return days[m - 1] + (m == 2 && leap);
}

/* Exactly n digits at *p, advancing it; -1 when they are not there. */
static int64_t digits(const char **p, int n)
{
    int64_t v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return -1;
        v = v * 10 + (c - '0');
    }
    *p += n;
    return v;
}

static int is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* "YYYY-MM-DD[( |T)HH:MM[:SS[.fff]]][Z|+HH:MM|-HH:MM|+HHMM|-HHMM]" after leading blanks. */
static int parse_iso(const char *p, double *out)
{
    int64_t y = digits(&p, 4);
    if (y < 0 || *p++ != '-')
        return SPECTRA_EPARSE;
    int64_t mo = digits(&p, 2);
    if (mo < 1 || mo > 12 || *p++ != '-')
        return SPECTRA_EPARSE;
    int64_t d = digits(&p, 2);
    if (d < 1 || d > days_in_month(y, (int)mo))
        return SPECTRA_EPARSE;
    int64_t h = 0, mi = 0, s = 0;
    double frac = 0;
    if ((*p == ' ' || *p == 'T') && p[1] >= '0' && p[1] <= '9') {
        p++;
        h = digits(&p, 2);
        if (h < 0 || h > 23 || *p++ != ':')
            return SPECTRA_EPARSE;
        mi = digits(&p, 2);
        if (mi < 0 || mi > 59)
            return SPECTRA_EPARSE;
        if (*p == ':') {
            p++;
            s = digits(&p, 2);
            if (s < 0 || s > 59)
                return SPECTRA_EPARSE;
            if (*p == '.' || *p == ',') {
                const char *start = ++p;
                while (*p >= '0' && *p <= '9') {
                    frac = frac * 10 + (*p - '0');
                    p++;
                }
                if (p == start || p - start > 15)
                    return SPECTRA_EPARSE;
                frac /= pow(10.0, (double)(p - start));
            }
        }
    }
    int64_t offset = 0;
    if (*p == 'Z') {
        p++;
    } else if ((*p == '+' || *p == '-') && p[1] >= '0' && p[1] <= '9') {
        int sign = *p++ == '-' ? -1 : 1;
        int64_t oh = digits(&p, 2);
        if (*p == ':')
            p++;
        int64_t om = digits(&p, 2);
        if (oh < 0 || oh > 23 || om < 0 || om > 59)
            return SPECTRA_EPARSE;
        offset = sign * (oh * 3600 + om * 60);
    }
    while (is_blank(*p))
        p++;
    if (*p)
        return SPECTRA_EPARSE;
    int64_t secs = days_from_civil(y, (int)mo, (int)d) * 86400 + h * 3600 + mi * 60 + s - offset;
    *out = (double)secs + frac;
    return 0;
}

int spectra_time_parse(const char *text, double *out)
{
    if (!text || !out)
        return SPECTRA_EINVAL;
    const char *p = text;
    while (is_blank(*p))
        p++;
    if (!*p)
        return SPECTRA_EPARSE;
    char *end;
    errno = 0;
    double v = strtod(p, &end);
    if (end != p) {
        while (is_blank(*end))
            end++;
        if (*end == '\0') {
            if (!isfinite(v))
                return SPECTRA_EPARSE;
            *out = v;
            return 0;
        }
    }
    return parse_iso(p, out);
}
