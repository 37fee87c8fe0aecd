/* The ZeroMQ-in-libuv socket driver: ZMQ_FD is edge-triggered, so messages queued before the loop
 * looks, or many at once, must all be received without another wake-up. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>
#include <zmq.h>

#include "zsock.h"

typedef struct counter {
    unsigned received;
    unsigned expected;
    unsigned max_per_call;
    unsigned calls;
    uv_timer_t timeout;
    bool timed_out;
    spx_zsock *zs;
} counter;

static unsigned on_read(spx_zsock *zs, unsigned budget)
{
    counter *c = zs->data;
    unsigned n = 0;
    c->calls++;
    while (n < budget) {
        char buf[64];
        if (zmq_recv(zs->sock, buf, sizeof buf, ZMQ_DONTWAIT) < 0)
            break;
        n++;
        c->received++;
    }
    if (n > c->max_per_call)
        c->max_per_call = n;
    if (c->received == c->expected)
        spx_zsock_close(zs, true, NULL);
    return n;
}

static void on_timeout(uv_timer_t *t)
{
    counter *c = t->data;
    c->timed_out = true;
    spx_zsock_close(c->zs, true, NULL);
}

static void on_timer_closed(uv_handle_t *h) { (void)h; }

/* Queues `n` messages on a PUSH/PULL pair before the loop starts, then runs the loop. */
static void run_queued(unsigned n, unsigned budget, counter *c)
{
    void *ctx = zmq_ctx_new();
    void *pull = zmq_socket(ctx, ZMQ_PULL);
    void *push = zmq_socket(ctx, ZMQ_PUSH);
    int hwm = 0;   /* unlimited: all n must be queued before the loop runs */
    zmq_setsockopt(pull, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(push, ZMQ_SNDHWM, &hwm, sizeof hwm);
    cr_assert_eq(zmq_bind(pull, "inproc://zsock-test"), 0);
    cr_assert_eq(zmq_connect(push, "inproc://zsock-test"), 0);
    for (unsigned i = 0; i < n; i++) {
        char msg[32];
        int len = snprintf(msg, sizeof msg, "message %u", i);
        cr_assert_eq(zmq_send(push, msg, (size_t)len, 0), len);
    }

    uv_loop_t loop;
    uv_loop_init(&loop);
    spx_zsock zs;
    memset(c, 0, sizeof *c);
    c->expected = n;
    c->zs = &zs;
    cr_assert_eq(spx_zsock_start(&loop, &zs, pull, on_read, budget, c), 0);
    uv_timer_init(&loop, &c->timeout);
    c->timeout.data = c;
    uv_timer_start(&c->timeout, on_timeout, 5000, 0);
    /* Run until the socket is closed (all received) or the timeout closes it. */
    while (!zs.closing)
        uv_run(&loop, UV_RUN_ONCE);
    uv_timer_stop(&c->timeout);
    uv_close((uv_handle_t *)&c->timeout, on_timer_closed);
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_assert_eq(uv_loop_close(&loop), 0);
    zmq_close(push);
    zmq_ctx_term(ctx);
}

Test(zsock, receives_every_message_queued_before_the_loop_runs)
{
    counter c;
    run_queued(10, 256, &c);
    cr_assert_not(c.timed_out, "only %u of 10 received", c.received);
    cr_assert_eq(c.received, 10);
}

Test(zsock, receives_a_large_burst_with_a_bounded_budget_per_turn)
{
    counter c;
    run_queued(5000, 64, &c);
    cr_assert_not(c.timed_out, "only %u of 5000 received", c.received);
    cr_assert_eq(c.received, 5000);
    cr_assert_leq(c.max_per_call, 64, "budget not respected: %u in one call", c.max_per_call);
    cr_assert_geq(c.calls, 5000 / 64, "the burst must take several loop turns");
}

Test(zsock, budget_of_one_still_drains_everything)
{
    counter c;
    run_queued(100, 1, &c);
    cr_assert_not(c.timed_out, "only %u of 100 received", c.received);
    cr_assert_eq(c.received, 100);
}

/* Paused: nothing is read; resumed: everything queued meanwhile arrives. */
typedef struct pause_state {
    counter c;
    spx_zsock zs;
    uv_timer_t resume;
    unsigned seen_while_paused;
} pause_state;

static unsigned on_read_pause(spx_zsock *zs, unsigned budget)
{
    return on_read(zs, budget);
}

static void on_resume(uv_timer_t *t)
{
    pause_state *ps = t->data;
    ps->seen_while_paused = ps->c.received;
    spx_zsock_resume(&ps->zs);
}

Test(zsock, pause_holds_messages_in_zeromq_until_resume)
{
    void *ctx = zmq_ctx_new();
    void *pull = zmq_socket(ctx, ZMQ_PULL);
    void *push = zmq_socket(ctx, ZMQ_PUSH);
    cr_assert_eq(zmq_bind(pull, "inproc://zsock-pause"), 0);
    cr_assert_eq(zmq_connect(push, "inproc://zsock-pause"), 0);
    for (int i = 0; i < 20; i++)
        cr_assert_eq(zmq_send(push, "x", 1, 0), 1);

    uv_loop_t loop;
    uv_loop_init(&loop);
    pause_state ps;
    memset(&ps, 0, sizeof ps);
    ps.c.expected = 20;
    ps.c.zs = &ps.zs;
    cr_assert_eq(spx_zsock_start(&loop, &ps.zs, pull, on_read_pause, 8, &ps.c), 0);
    spx_zsock_pause(&ps.zs);
    uv_timer_init(&loop, &ps.resume);
    ps.resume.data = &ps;
    uv_timer_start(&ps.resume, on_resume, 100, 0);
    uv_timer_init(&loop, &ps.c.timeout);
    ps.c.timeout.data = &ps.c;
    uv_timer_start(&ps.c.timeout, on_timeout, 5000, 0);
    while (!ps.zs.closing)
        uv_run(&loop, UV_RUN_ONCE);
    uv_timer_stop(&ps.c.timeout);
    uv_close((uv_handle_t *)&ps.c.timeout, on_timer_closed);
    uv_close((uv_handle_t *)&ps.resume, on_timer_closed);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    zmq_close(push);
    zmq_ctx_term(ctx);
    cr_assert_eq(ps.seen_while_paused, 0, "read %u messages while paused", ps.seen_while_paused);
    cr_assert_not(ps.c.timed_out);
    cr_assert_eq(ps.c.received, 20);
}
