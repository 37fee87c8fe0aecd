/* libnats' libuv adapter (nats/adapters/libuv.h defines its functions in the header, so it is
 * compiled once, in nats_uv.c, with the warnings it would raise under our flags silenced). */
#ifndef SPX_NATS_UV_H
#define SPX_NATS_UV_H

#include <nats/nats.h>
#include <uv.h>

/* Loop thread, once before connecting: registers `loop` as this thread's loop. */
void spx_nats_uv_init(uv_loop_t *loop);
/* Points the options at `loop`: socket I/O of the connection runs on the loop thread. */
natsStatus spx_nats_uv_attach(natsOptions *opts, uv_loop_t *loop);

#endif
