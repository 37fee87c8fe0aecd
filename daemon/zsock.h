/* A ZeroMQ socket driven by the libuv loop.
 *
 * ZMQ_FD is edge-triggered and signals only "something changed", so a plain uv_poll callback with one
 * recv loses messages. The working pattern (as in flux-core's ev_zmq): a uv_poll on ZMQ_FD whose
 * callback does nothing but wake the loop; a uv_prepare that reads ZMQ_EVENTS before the loop blocks
 * and starts a no-op uv_idle when the socket is readable (so the loop polls instead of blocking); a
 * uv_check that does the reading with a bounded budget per turn, for fairness between sockets.
 * Sockets are touched on the loop thread only. */
#ifndef SPX_ZSOCK_H
#define SPX_ZSOCK_H

#include <stdbool.h>
#include <uv.h>

typedef struct spx_zsock spx_zsock;
/* Called from the check phase while the socket is readable and not paused. Receive at most `budget`
 * messages; return how many were handled. */
typedef unsigned (*spx_zsock_read_cb)(spx_zsock *zs, unsigned budget);

struct spx_zsock {
    void *sock;                /* the zmq socket (owned: closed by spx_zsock_close) */
    void *data;                /* user pointer */
    spx_zsock_read_cb on_read;
    unsigned budget;
    bool paused;
    bool closing;
    int open_handles;
    uv_poll_t poll;
    uv_prepare_t prepare;
    uv_check_t check;
    uv_idle_t idle;
    void (*on_closed)(spx_zsock *zs);
};

/* Starts watching `sock`. Returns 0 or a negative errno / libuv error. */
int spx_zsock_start(uv_loop_t *loop, spx_zsock *zs, void *sock, spx_zsock_read_cb on_read,
                    unsigned budget, void *data);
/* Stops reading (messages stay queued in ZeroMQ, so producers feel backpressure) / resumes. */
void spx_zsock_pause(spx_zsock *zs);
void spx_zsock_resume(spx_zsock *zs);
/* True if ZMQ_EVENTS says a message can be received now. */
bool spx_zsock_readable(spx_zsock *zs);
/* Closes the libuv handles, then the zmq socket (with linger 0 when `discard`), then calls on_closed. */
void spx_zsock_close(spx_zsock *zs, bool discard, void (*on_closed)(spx_zsock *zs));

#endif
