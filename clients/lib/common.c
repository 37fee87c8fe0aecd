/* Error names, wire names of kinds and dtypes, name rules, clocks. */
#include <string.h>
#include <time.h>

#include "internal.h"

#ifndef SPX_VERSION
#define SPX_VERSION "unknown"
#endif

const char *spectra_strerror(int code)
{
    switch (code) {
    case SPECTRA_OK: return "success";
    case SPECTRA_EINVAL: return "invalid argument";
    case SPECTRA_ENOMEM: return "out of memory";
    case SPECTRA_ETIMEDOUT: return "timed out";
    case SPECTRA_EZMQ: return "socket error";
    case SPECTRA_EPROTO: return "protocol error";
    case SPECTRA_EDAEMON: return "daemon error";
    case SPECTRA_EIO: return "i/o error";
    case SPECTRA_EPARSE: return "parse error";
    case SPECTRA_ENOTFOUND: return "not found";
    case SPECTRA_ETYPE: return "wrong type";
    case SPECTRA_ERANGE: return "out of range";
    case SPECTRA_EINTR: return "interrupted";
    default: return "unknown error";
    }
}

const char *spectra_version(void)
{
    return SPX_VERSION;
}

const char *spectra_kind_name(spectra_kind kind)
{
    switch (kind) {
    case SPECTRA_ROWS: return "rows";
    case SPECTRA_SERIES: return "series";
    case SPECTRA_BLOCKS: return "blocks";
    }
    return NULL;
}

const char *spectra_dtype_name(spectra_dtype dtype)
{
    switch (dtype) {
    case SPECTRA_F64: return "f64";
    case SPECTRA_F32: return "f32";
    case SPECTRA_I16: return "i16";
    }
    return NULL;
}

size_t spectra_dtype_size(spectra_dtype dtype)
{
    switch (dtype) {
    case SPECTRA_F64: return 8;
    case SPECTRA_F32: return 4;
    case SPECTRA_I16: return 2;
    }
    return 0;
}

int spectra_kind_parse(const char *name, spectra_kind *out)
{
    static const spectra_kind kinds[] = {SPECTRA_ROWS, SPECTRA_SERIES, SPECTRA_BLOCKS};
    for (size_t i = 0; name && i < sizeof kinds / sizeof kinds[0]; i++) {
        if (strcmp(name, spectra_kind_name(kinds[i])) == 0) {
            *out = kinds[i];
            return 0;
        }
    }
    return SPECTRA_EINVAL;
}

const char *spectra_durability_name(spectra_durability durability)
{
    switch (durability) {
    case SPECTRA_DURABILITY_NONE: return "none";
    case SPECTRA_DURABILITY_SNAPSHOT: return "snapshot";
    case SPECTRA_DURABILITY_JOURNAL: return "journal";
    case SPECTRA_DURABILITY_DEFAULT: break;
    }
    return NULL;
}

int spectra_durability_parse(const char *name, spectra_durability *out)
{
    static const spectra_durability all[] = {SPECTRA_DURABILITY_NONE, SPECTRA_DURABILITY_SNAPSHOT,
                                             SPECTRA_DURABILITY_JOURNAL};
    for (size_t i = 0; name && i < sizeof all / sizeof all[0]; i++) {
        if (strcmp(name, spectra_durability_name(all[i])) == 0) {
            *out = all[i];
            return 0;
        }
    }
    return SPECTRA_EINVAL;
}

int spectra_dtype_parse(const char *name, spectra_dtype *out)
{
    static const spectra_dtype dtypes[] = {SPECTRA_F64, SPECTRA_F32, SPECTRA_I16};
    for (size_t i = 0; name && i < sizeof dtypes / sizeof dtypes[0]; i++) {
        if (strcmp(name, spectra_dtype_name(dtypes[i])) == 0) {
            *out = dtypes[i];
            return 0;
        }
    }
    return SPECTRA_EINVAL;
}

int spectra_name_valid(const char *name)
{
    if (!name)
        return 0;
    size_t n = 0;
    for (; name[n]; n++) {
        char c = name[n];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '_' || c == '-';
        if (!ok || n >= SPECTRA_NAME_MAX)
            return 0;
    }
    return n > 0;
}

double spectra__now_realtime(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int64_t spectra__now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
