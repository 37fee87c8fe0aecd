/* Results: a SUB socket on the daemon's PUB, topic prefixes, and decoding of [topic, body]. */
#include <errno.h>
#include <string.h>

#include "internal.h"

static int set_subscription(spectra_client *c, int opt, const char *prefix)
{
    if (!c)
        return SPECTRA_EINVAL;
    void *s = spectra__sub_socket(c);
    if (!s)
        return spectra__socket_error(c);
    const char *p = prefix ? prefix : "";
    if (zmq_setsockopt(s, opt, p, strlen(p)) != 0)
        return spectra__fail(c, SPECTRA_EZMQ, "subscribe '%s': %s", p, zmq_strerror(errno));
    return 0;
}

int spectra_subscribe(spectra_client *c, const char *prefix)
{
    return set_subscription(c, ZMQ_SUBSCRIBE, prefix);
}

int spectra_unsubscribe(spectra_client *c, const char *prefix)
{
    return set_subscription(c, ZMQ_UNSUBSCRIBE, prefix);
}

/* Reads the rest of a multipart message so the next receive starts at a message boundary. */
static void drain_parts(void *s)
{
    int more = 1;
    size_t sz = sizeof more;
    while (zmq_getsockopt(s, ZMQ_RCVMORE, &more, &sz) == 0 && more) {
        zmq_msg_t part;
        zmq_msg_init(&part);
        if (zmq_msg_recv(&part, s, 0) < 0 && errno != EINTR) {
            zmq_msg_close(&part);
            return;
        }
        zmq_msg_close(&part);
    }
}

static int recv_part(spectra_client *c, void *s, zmq_msg_t *part)
{
    while (zmq_msg_recv(part, s, 0) < 0) {
        if (errno != EINTR)
            return spectra__fail(c, SPECTRA_EZMQ, "results receive: %s", zmq_strerror(errno));
    }
    return 0;
}

int spectra_recv_result(spectra_client *c, int timeout_ms, char *topic, size_t topic_cap,
                        spectra_msg **body)
{
    if (body)
        *body = NULL;
    if (!c || !body)
        return SPECTRA_EINVAL;
    void *s = spectra__sub_socket(c);
    if (!s)
        return spectra__socket_error(c);
    zmq_pollitem_t item = {s, 0, ZMQ_POLLIN, 0};
    int n = zmq_poll(&item, 1, timeout_ms < 0 ? -1 : timeout_ms);
    if (n < 0) {
        if (errno == EINTR)
            return spectra__fail(c, SPECTRA_EINTR, "interrupted");
        return spectra__fail(c, SPECTRA_EZMQ, "results poll: %s", zmq_strerror(errno));
    }
    if (n == 0)
        return spectra__fail(c, SPECTRA_ETIMEDOUT, "no result within %d ms", timeout_ms);

    zmq_msg_t t, b;
    zmq_msg_init(&t);
    zmq_msg_init(&b);
    int rc = recv_part(c, s, &t);
    if (!rc && !zmq_msg_more(&t))
        rc = spectra__fail(c, SPECTRA_EPROTO, "result message with one frame (want topic, body)");
    if (!rc)
        rc = recv_part(c, s, &b);
    if (!rc && zmq_msg_more(&b)) {
        drain_parts(s);
        rc = spectra__fail(c, SPECTRA_EPROTO, "result message with more than two frames");
    }
    if (!rc && topic) {
        size_t tn = zmq_msg_size(&t);
        if (tn >= topic_cap)
            rc = spectra__fail(c, SPECTRA_ERANGE, "topic of %zu bytes does not fit", tn);
        else {
            memcpy(topic, zmq_msg_data(&t), tn);
            topic[tn] = '\0';
        }
    }
    if (!rc) {
        char why[200];
        rc = spectra__msg_from_zmq(&b, body, why, sizeof why);
        if (rc)
            spectra__fail(c, rc, "bad result body: %s", why);
        else if (spectra_msg_root(*body)->type != MSGPACK_OBJECT_MAP) {
            spectra_msg_free(*body);
            *body = NULL;
            rc = spectra__fail(c, SPECTRA_EPROTO, "result body is not a map");
        }
    }
    zmq_msg_close(&t);
    zmq_msg_close(&b);
    return rc;
}
