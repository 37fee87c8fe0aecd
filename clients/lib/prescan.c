/* The msgpack pre-scan: a bounded walk over the bytes before msgpack-c is allowed to allocate. */
#include <stdio.h>

#include "internal.h"

static uint64_t be_uint(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

static int fail(char *err, size_t errlen, size_t pos, const char *what)
{
    if (err && errlen)
        snprintf(err, errlen, "bad msgpack at byte %zu: %s", pos, what);
    return SPECTRA_EPROTO;
}

int spectra__prescan(const void *buf, size_t len, int max_depth, char *err, size_t errlen)
{
    const uint8_t *p = buf;
    uint64_t left[SPECTRA__MAX_DEPTH + 1];
    int top = 0;
    size_t pos = 0;

    if (max_depth > SPECTRA__MAX_DEPTH)
        max_depth = SPECTRA__MAX_DEPTH;
    left[0] = 1;
    while (top >= 0) {
        if (left[top] == 0) {
            top--;
            continue;
        }
        left[top]--;
        if (pos >= len)
            return fail(err, errlen, pos, "truncated");
        size_t at = pos;
        uint8_t b = p[pos++];
        uint64_t skip = 0;     /* payload bytes after the type byte(s) */
        uint64_t elems = 0;    /* child objects of a container */
        int container = 0;
        int lenbytes = 0;      /* size of a big-endian length/count field */

        if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) {
            /* fixint, nil, bool */
        } else if (b >= 0x80 && b <= 0x8f) {
            container = 1;
            elems = 2u * (b & 0x0fu);
        } else if (b >= 0x90 && b <= 0x9f) {
            container = 1;
            elems = b & 0x0fu;
        } else if (b >= 0xa0 && b <= 0xbf) {
            skip = b & 0x1fu;
        } else {
            switch (b) {
            case 0xc4: case 0xd9: lenbytes = 1; break;
            case 0xc5: case 0xda: lenbytes = 2; break;
            case 0xc6: case 0xdb: lenbytes = 4; break;
            case 0xca: skip = 4; break;
            case 0xcb: skip = 8; break;
            case 0xcc: case 0xd0: skip = 1; break;
            case 0xcd: case 0xd1: skip = 2; break;
            case 0xce: case 0xd2: skip = 4; break;
            case 0xcf: case 0xd3: skip = 8; break;
            case 0xdc: case 0xdd: case 0xde: case 0xdf: {
                int n = (b == 0xdc || b == 0xde) ? 2 : 4;
                if ((size_t)n > len - pos)
                    return fail(err, errlen, at, "truncated");
                elems = be_uint(p + pos, n);
                if (b >= 0xde)
                    elems *= 2;
                pos += (size_t)n;
                container = 1;
                break;
            }
            case 0xc1:
                return fail(err, errlen, at, "reserved type byte 0xc1");
            default: /* 0xc7-0xc9, 0xd4-0xd8 */
                return fail(err, errlen, at, "extension types are not allowed");
            }
        }
        if (lenbytes) {
            if ((size_t)lenbytes > len - pos)
                return fail(err, errlen, at, "truncated");
            skip = be_uint(p + pos, lenbytes);
            pos += (size_t)lenbytes;
        }
        if (skip > len - pos)
            return fail(err, errlen, at, "truncated");
        pos += (size_t)skip;
        if (container) {
            /* Every element takes at least one byte. */
            if (elems > len - pos)
                return fail(err, errlen, at, "container count exceeds the bytes left");
            if (top + 1 > max_depth)
                return fail(err, errlen, at, "nesting too deep");
            left[++top] = elems;
        }
    }
    if (pos != len)
        return fail(err, errlen, pos, "trailing bytes after the object");
    return 0;
}
