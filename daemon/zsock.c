#include "zsock.h"

#include <zmq.h>

bool spx_zsock_readable(spx_zsock *zs)
{
    int events = 0;
    size_t len = sizeof events;
    if (zmq_getsockopt(zs->sock, ZMQ_EVENTS, &events, &len) != 0)
        return false;
    return (events & ZMQ_POLLIN) != 0;
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    (void)h, (void)status, (void)events;   /* only here to wake the loop; check does the work */
}

static void on_idle(uv_idle_t *h) { (void)h; }

static void on_prepare(uv_prepare_t *h)
{
    spx_zsock *zs = h->data;
    if (!zs->paused && spx_zsock_readable(zs))
        uv_idle_start(&zs->idle, on_idle);
    else
        uv_idle_stop(&zs->idle);
}

static void on_check(uv_check_t *h)
{
    spx_zsock *zs = h->data;
    if (zs->paused || zs->closing || !spx_zsock_readable(zs))
        return;
    zs->on_read(zs, zs->budget);
}

int spx_zsock_start(uv_loop_t *loop, spx_zsock *zs, void *sock, spx_zsock_read_cb on_read,
                    unsigned budget, void *data)
{
    int fd;
    size_t len = sizeof fd;
    if (zmq_getsockopt(sock, ZMQ_FD, &fd, &len) != 0)
        return -zmq_errno();
    zs->sock = sock;
    zs->data = data;
    zs->on_read = on_read;
    zs->budget = budget ? budget : 1;
    zs->paused = false;
    zs->closing = false;
    int rc = uv_poll_init(loop, &zs->poll, fd);
    if (rc != 0)
        return rc;
    uv_prepare_init(loop, &zs->prepare);
    uv_check_init(loop, &zs->check);
    uv_idle_init(loop, &zs->idle);
    zs->poll.data = zs->prepare.data = zs->check.data = zs->idle.data = zs;
    zs->open_handles = 4;
    uv_poll_start(&zs->poll, UV_READABLE, on_poll);
    uv_prepare_start(&zs->prepare, on_prepare);
    uv_check_start(&zs->check, on_check);
    return 0;
}

void spx_zsock_pause(spx_zsock *zs)
{
    zs->paused = true;
    uv_idle_stop(&zs->idle);
}

void spx_zsock_resume(spx_zsock *zs) { zs->paused = false; }

static void on_handle_closed(uv_handle_t *h)
{
    spx_zsock *zs = h->data;
    if (--zs->open_handles > 0)
        return;
    /* The poll is closed, so the fd is no longer watched: now the zmq socket may go. */
    zmq_close(zs->sock);
    zs->sock = NULL;
    if (zs->on_closed)
        zs->on_closed(zs);
}

void spx_zsock_close(spx_zsock *zs, bool discard, void (*on_closed)(spx_zsock *zs))
{
    if (zs->closing)
        return;
    zs->closing = true;
    zs->on_closed = on_closed;
    if (discard) {
        int zero = 0;
        zmq_setsockopt(zs->sock, ZMQ_LINGER, &zero, sizeof zero);
    }
    uv_close((uv_handle_t *)&zs->poll, on_handle_closed);
    uv_close((uv_handle_t *)&zs->prepare, on_handle_closed);
    uv_close((uv_handle_t *)&zs->check, on_handle_closed);
    uv_close((uv_handle_t *)&zs->idle, on_handle_closed);
}
