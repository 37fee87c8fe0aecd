/* Control requests: pre-scan, unpack, and the one rule every op shares (a map with a str "op"). */
#include <string.h>

#include "codec.h"
#include "codec_internal.h"

static void request_init(spx_request *req)
{
    memset(req, 0, sizeof *req);
    msgpack_unpacked_init(&req->unpacked);
}

spx_errcode spx_decode_request(const void *buf, size_t len, spx_request *req, char *err,
                               size_t errlen)
{
    request_init(req);
    spx_codec_errf(err, errlen, "%s", "");
    if (len > SPX_REQUEST_MAX_BYTES) {
        spx_codec_errf(err, errlen, "request of %zu bytes exceeds the limit of %d", len,
                       SPX_REQUEST_MAX_BYTES);
        return SPX_E_BAD_REQUEST;
    }
    if (spx_msgpack_prescan(buf, len, SPX_MSGPACK_MAX_DEPTH, err, errlen) != SPX_OK)
        return SPX_E_BAD_REQUEST;

    size_t off = 0;
    msgpack_unpack_return ur = msgpack_unpack_next(&req->unpacked, buf, len, &off);
    if (ur != MSGPACK_UNPACK_SUCCESS || off != len) {
        spx_request_clear(req);
        if (ur == MSGPACK_UNPACK_NOMEM_ERROR) {
            spx_codec_errf(err, errlen, "out of memory unpacking the request");
            return SPX_E_INTERNAL;
        }
        spx_codec_errf(err, errlen, "msgpack: unpack failed (%d)", (int)ur);
        return SPX_E_BAD_REQUEST;
    }
    if (req->unpacked.data.type != MSGPACK_OBJECT_MAP) {
        spx_request_clear(req);
        spx_codec_errf(err, errlen, "request must be a msgpack map");
        return SPX_E_BAD_REQUEST;
    }

    /* root lives in the zone, not in the struct, so copying an spx_request keeps it valid. */
    msgpack_object *root = msgpack_zone_malloc(req->unpacked.zone, sizeof *root);
    if (!root) {
        spx_request_clear(req);
        spx_codec_errf(err, errlen, "out of memory unpacking the request");
        return SPX_E_INTERNAL;
    }
    *root = req->unpacked.data;
    req->root = root;
    req->id = spx_map_get(root, "id");

    /* On failure nothing is kept (the caller has nothing to free), at the price of not echoing the
     * id of a request whose op is bad. */
    const msgpack_object *op = spx_map_get(root, "op");
    if (!op) {
        spx_request_clear(req);
        spx_codec_errf(err, errlen, "missing key \"op\"");
        return SPX_E_BAD_REQUEST;
    }
    if (op->type != MSGPACK_OBJECT_STR || op->via.str.size == 0 ||
        spx_obj_str(op, req->op, sizeof req->op) != 0) {
        spx_request_clear(req);
        spx_codec_errf(err, errlen, "key \"op\" must be a str of 1..%zu bytes",
                       sizeof req->op - 1);
        return SPX_E_BAD_REQUEST;
    }
    return SPX_OK;
}

void spx_request_clear(spx_request *req)
{
    if (!req)
        return;
    msgpack_unpacked_destroy(&req->unpacked);
    request_init(req);
}
