#include "nats_uv.h"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-prototypes"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wsign-compare"
#include <nats/adapters/libuv.h>
#pragma GCC diagnostic pop

void spx_nats_uv_init(uv_loop_t *loop)
{
    natsLibuv_Init();
    natsLibuv_SetThreadLocalLoop(loop);
}

natsStatus spx_nats_uv_attach(natsOptions *opts, uv_loop_t *loop)
{
    return natsOptions_SetEventLoop(opts, loop, natsLibuv_Attach, natsLibuv_Read, natsLibuv_Write,
                                    natsLibuv_Detach);
}
