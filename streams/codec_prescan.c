/* The msgpack pre-scan: a bounded, allocation-free walk over untrusted bytes that runs before
 * msgpack-c sees them.
 *
 * msgpack-c 4.0 allocates count x 24 bytes as soon as it reads an array or map header, so the five
 * bytes `dd 00 ff ff ff` alone make it ask for 512 MiB. Here every container header is checked
 * against the bytes that remain: each element still owed by an open container needs at least one
 * byte, so the sum of all outstanding elements may never exceed the bytes left. A frame that passes
 * therefore makes msgpack-c allocate at most ~24 bytes per input byte. The walk is iterative with a
 * fixed stack of remaining element counts (one slot per nesting level) and touches each byte once. */
#include <stdint.h>

#include "codec.h"
#include "codec_internal.h"

/* Hard cap on max_depth: the size of the stack of remaining counts. */
#define PRESCAN_DEPTH_CAP 64

static uint64_t load_be(const unsigned char *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

/* What a type byte announces. */
typedef enum item_class {
    ITEM_SCALAR,     /* fixed payload of `fixed` bytes */
    ITEM_SIZED,      /* str/bin: a big-endian length of `lenbytes` bytes, then that many bytes */
    ITEM_ARRAY,      /* `fixed` elements, or a big-endian count of `lenbytes` bytes */
    ITEM_MAP,        /* as ITEM_ARRAY, in key/value pairs */
    ITEM_EXT,
    ITEM_RESERVED,   /* 0xc1, never used by the format */
} item_class;

typedef struct item_info {
    item_class cls;
    uint8_t lenbytes;
    uint8_t fixed;
} item_info;

static item_info classify(unsigned b)
{
    if (b <= 0x7f || b >= 0xe0)
        return (item_info){ITEM_SCALAR, 0, 0};          /* positive / negative fixint */
    if (b <= 0x8f)
        return (item_info){ITEM_MAP, 0, (uint8_t)(b & 0x0f)};
    if (b <= 0x9f)
        return (item_info){ITEM_ARRAY, 0, (uint8_t)(b & 0x0f)};
    if (b <= 0xbf)
        return (item_info){ITEM_SCALAR, 0, (uint8_t)(b & 0x1f)}; /* fixstr */
    switch (b) {
    case 0xc0: case 0xc2: case 0xc3: return (item_info){ITEM_SCALAR, 0, 0};
    case 0xc1: return (item_info){ITEM_RESERVED, 0, 0};
    case 0xc4: case 0xd9: return (item_info){ITEM_SIZED, 1, 0};  /* bin8, str8 */
    case 0xc5: case 0xda: return (item_info){ITEM_SIZED, 2, 0};  /* bin16, str16 */
    case 0xc6: case 0xdb: return (item_info){ITEM_SIZED, 4, 0};  /* bin32, str32 */
    case 0xca: return (item_info){ITEM_SCALAR, 0, 4};             /* float32 */
    case 0xcb: return (item_info){ITEM_SCALAR, 0, 8};             /* float64 */
    case 0xcc: case 0xd0: return (item_info){ITEM_SCALAR, 0, 1};  /* (u)int8 */
    case 0xcd: case 0xd1: return (item_info){ITEM_SCALAR, 0, 2};
    case 0xce: case 0xd2: return (item_info){ITEM_SCALAR, 0, 4};
    case 0xcf: case 0xd3: return (item_info){ITEM_SCALAR, 0, 8};
    case 0xdc: return (item_info){ITEM_ARRAY, 2, 0};
    case 0xdd: return (item_info){ITEM_ARRAY, 4, 0};
    case 0xde: return (item_info){ITEM_MAP, 2, 0};
    case 0xdf: return (item_info){ITEM_MAP, 4, 0};
    default: return (item_info){ITEM_EXT, 0, 0};                 /* c7-c9, d4-d8 */
    }
}

spx_errcode spx_msgpack_prescan(const void *buf, size_t len, int max_depth, char *err,
                                size_t errlen)
{
    const unsigned char *p = buf;
    uint64_t pending[PRESCAN_DEPTH_CAP]; /* elements still owed by each open container */
    uint64_t outstanding = 0;            /* sum of pending[0..depth) */
    int depth = 0;
    size_t pos = 0;

    if (max_depth < 0)
        max_depth = 0;
    if (max_depth > PRESCAN_DEPTH_CAP)
        max_depth = PRESCAN_DEPTH_CAP;
    if (!p || len == 0) {
        spx_codec_errf(err, errlen, "msgpack: empty input");
        return SPX_E_BAD_MSGPACK;
    }

    for (;;) {
        if (pos >= len) {
            spx_codec_errf(err, errlen, "msgpack: truncated: input ends at byte %zu inside an object",
                           len);
            return SPX_E_BAD_MSGPACK;
        }
        if (depth > 0) {
            pending[depth - 1]--;
            outstanding--;
        }
        size_t at = pos;
        unsigned b = p[pos++];
        item_info it = classify(b);
        uint64_t n = it.fixed;
        size_t left = len - pos;

        if (it.cls == ITEM_EXT) {
            spx_codec_errf(err, errlen, "msgpack: extension type 0x%02x at byte %zu is not allowed",
                           b, at);
            return SPX_E_BAD_MSGPACK;
        }
        if (it.cls == ITEM_RESERVED) {
            spx_codec_errf(err, errlen, "msgpack: reserved type byte 0xc1 at byte %zu", at);
            return SPX_E_BAD_MSGPACK;
        }
        if (it.lenbytes) {
            if (left < it.lenbytes) {
                spx_codec_errf(err, errlen, "msgpack: truncated length of the object at byte %zu",
                               at);
                return SPX_E_BAD_MSGPACK;
            }
            n = load_be(p + pos, it.lenbytes);
            pos += it.lenbytes;
            left -= it.lenbytes;
        }

        if (it.cls == ITEM_SCALAR || it.cls == ITEM_SIZED) {
            if (n > left) {
                spx_codec_errf(err, errlen,
                               "msgpack: truncated: the object at byte %zu needs %llu bytes, %zu "
                               "left", at, (unsigned long long)n, left);
                return SPX_E_BAD_MSGPACK;
            }
            pos += (size_t)n;
        } else {
            uint64_t elements = it.cls == ITEM_MAP ? 2 * n : n;
            if (depth >= max_depth) {
                spx_codec_errf(err, errlen, "msgpack: nesting deeper than %d at byte %zu",
                               max_depth, at);
                return SPX_E_BAD_MSGPACK;
            }
            /* Each owed element takes at least one byte: the bomb check. */
            if (elements > left || outstanding > left - elements) {
                spx_codec_errf(err, errlen,
                               "msgpack: %s of %llu entries at byte %zu does not fit in the %zu "
                               "bytes left", it.cls == ITEM_MAP ? "map" : "array",
                               (unsigned long long)n, at, left);
                return SPX_E_BAD_MSGPACK;
            }
            if (elements > 0) {
                pending[depth++] = elements;
                outstanding += elements;
                continue;
            }
        }

        /* One object is complete: close every container it completes. */
        while (depth > 0 && pending[depth - 1] == 0)
            depth--;
        if (depth == 0)
            break;
    }

    if (pos != len) {
        spx_codec_errf(err, errlen, "msgpack: %zu trailing bytes after the object", len - pos);
        return SPX_E_BAD_MSGPACK;
    }
    return SPX_OK;
}
