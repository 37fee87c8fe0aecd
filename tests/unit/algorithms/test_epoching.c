/* Ring buffer, sliding windows and cue-relative epochs: every copied value is checked against the
 * sample index it must come from, across irregular chunkings and wrap-around. */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "epoching.h"

/* Sample t of channel c has the value t * 100 + c. */
static void fill(double *buf, uint64_t first, size_t n, size_t C)
{
    for (size_t t = 0; t < n; t++)
        for (size_t c = 0; c < C; c++)
            buf[t * C + c] = (double)(first + t) * 100.0 + (double)c;
}

static void check_block(const double *out, size_t ldo, uint64_t start, size_t len, size_t C)
{
    for (size_t c = 0; c < C; c++)
        for (size_t t = 0; t < len; t++)
            cr_assert_eq(out[c * ldo + t], (double)(start + t) * 100.0 + (double)c,
                         "c %zu t %zu start %llu", c, t, (unsigned long long)start);
}

Test(epoching, ring_copy_wraps_and_reports_range)
{
    enum { C = 3, CAP = 50 };
    spx_ring *r;
    cr_assert_eq(spx_ring_create(&r, C, CAP), 0);
    double in[37 * C], out[C * 40];
    uint64_t t = 0;
    for (int k = 0; k < 9; k++) {
        size_t n = (size_t)(5 + 4 * k) % 37 + 1;
        fill(in, t, n, C);
        cr_assert_eq(spx_ring_push(r, in, n), 0);
        t += n;
    }
    cr_assert_eq(spx_ring_end(r), t);
    cr_assert_eq(spx_ring_begin(r), t - CAP);
    cr_assert_eq(spx_ring_copy(r, t - 40, 40, out, 40), 0);
    check_block(out, 40, t - 40, 40, C);
    cr_assert_eq(spx_ring_copy(r, t - CAP, 10, out, 12), 0);
    check_block(out, 12, t - CAP, 10, C);
    cr_assert_eq(spx_ring_copy(r, t - CAP - 1, 10, out, 10), -ERANGE);
    cr_assert_eq(spx_ring_copy(r, t - 5, 10, out, 10), -EAGAIN);
    cr_assert_eq(spx_ring_copy(r, 0, CAP + 1, out, CAP + 1), -EINVAL);
    /* A push larger than the ring keeps its newest part. */
    double big[120 * C];
    fill(big, t, 120, C);
    cr_assert_eq(spx_ring_push(r, big, 120), 0);
    t += 120;
    double full[C * CAP];
    cr_assert_eq(spx_ring_copy(r, t - CAP, CAP, full, CAP), 0);
    check_block(full, CAP, t - CAP, CAP, C);
    cr_assert_eq(spx_ring_copy(r, t - CAP, CAP, full, CAP - 1), -EINVAL); /* ldo < len */
    spx_ring_free(r);
}

Test(epoching, big_push_keeps_newest)
{
    enum { C = 2, CAP = 16 };
    spx_ring *r;
    cr_assert_eq(spx_ring_create(&r, C, CAP), 0);
    double big[40 * C], out[C * CAP];
    fill(big, 0, 40, C);
    cr_assert_eq(spx_ring_push(r, big, 40), 0);
    cr_assert_eq(spx_ring_end(r), 40);
    cr_assert_eq(spx_ring_copy(r, 40 - CAP, CAP, out, CAP), 0);
    check_block(out, CAP, 40 - CAP, CAP, C);
    spx_ring_reset(r);
    cr_assert_eq(spx_ring_end(r), 0);
    spx_ring_free(r);
}

Test(epoching, sliding_windows_every_hop_any_chunking)
{
    enum { C = 4, CAP = 400, LEN = 160, HOP = 20, TOTAL = 2000 };
    spx_ring *r;
    cr_assert_eq(spx_ring_create(&r, C, CAP), 0);
    spx_windows w;
    cr_assert_eq(spx_windows_init(&w, LEN, HOP, 0), 0);
    double in[33 * C], out[C * LEN];
    uint64_t t = 0, expect_start = 0;
    size_t got = 0;
    while (t < TOTAL) {
        size_t n = 1 + (size_t)(t * 7 % 33);
        if (n > TOTAL - t) n = TOTAL - t;
        fill(in, t, n, C);
        cr_assert_eq(spx_ring_push(r, in, n), 0);
        t += n;
        uint64_t s;
        int rc;
        while ((rc = spx_windows_next(&w, r, out, LEN, &s)) == 1) {
            cr_assert_eq(s, expect_start);
            cr_assert_leq(s + LEN, t);
            check_block(out, LEN, s, LEN, C);
            expect_start += HOP;
            got++;
        }
        cr_assert_eq(rc, 0);
        /* Delivered as soon as complete: the next window is not complete yet. */
        cr_assert_gt(expect_start + LEN, t);
    }
    cr_assert_eq(got, (TOTAL - LEN) / HOP + 1);
    cr_assert_eq(w.skipped, 0);
    spx_ring_free(r);
}

Test(epoching, windows_skip_when_consumer_falls_behind)
{
    enum { C = 1, CAP = 100, LEN = 50, HOP = 10 };
    spx_ring *r;
    cr_assert_eq(spx_ring_create(&r, C, CAP), 0);
    spx_windows w;
    cr_assert_eq(spx_windows_init(&w, LEN, HOP, 0), 0);
    double in[300], out[LEN];
    fill(in, 0, 300, C);
    cr_assert_eq(spx_ring_push(r, in, 300), 0); /* ring holds [200, 300) */
    uint64_t s;
    cr_assert_eq(spx_windows_next(&w, r, out, LEN, &s), 1);
    cr_assert_eq(s, 200);
    cr_assert_eq(w.skipped, 20);
    check_block(out, LEN, 200, LEN, C);
    spx_ring_free(r);
}

Test(epoching, cue_epochs_with_offsets_and_drops)
{
    enum { C = 2, CAP = 1000 };
    spx_ring *r;
    cr_assert_eq(spx_ring_create(&r, C, CAP), 0);
    spx_cue_epochs *q;
    int64_t off = spx_epoch_samples(-0.5, 160.0);
    cr_assert_eq(off, -80);
    size_t len = (size_t)spx_epoch_samples(3.0, 160.0);
    cr_assert_eq(len, 480);
    cr_assert_eq(spx_cue_epochs_create(&q, 4, off, len), 0);
    cr_assert_eq(spx_cue_epochs_add(q, 50, 1), -ERANGE); /* would start before sample 0 */
    cr_assert_eq(spx_cue_epochs_add(q, 100, 0), 0);
    cr_assert_eq(spx_cue_epochs_add(q, 700, 1), 0);
    cr_assert_eq(spx_cue_epochs_add(q, 650, 1), -EINVAL);
    double *in = malloc(3000 * C * sizeof *in), *out = malloc(C * 480 * sizeof *out);
    fill(in, 0, 3000, C);
    double *ep = out;
    int lab;
    uint64_t cue;
    cr_assert_eq(spx_ring_push(r, in, 499), 0); /* epoch of cue 100 ends at 500 */
    cr_assert_eq(spx_cue_epochs_next(q, r, ep, 480, &lab, &cue), 0);
    cr_assert_eq(spx_ring_push(r, in + 499 * C, 1), 0);
    cr_assert_eq(spx_cue_epochs_next(q, r, ep, 480, &lab, &cue), 1);
    cr_assert_eq(lab, 0);
    cr_assert_eq(cue, 100);
    check_block(ep, 480, 20, 480, C);
    cr_assert_eq(spx_cue_epochs_pending(q), 1);
    /* The second cue's data gets overwritten before it is collected: dropped with -ERANGE. */
    cr_assert_eq(spx_ring_push(r, in + 500 * C, 2500), 0);
    cr_assert_eq(spx_cue_epochs_next(q, r, ep, 480, &lab, &cue), -ERANGE);
    cr_assert_eq(spx_cue_epochs_pending(q), 0);
    /* Queue capacity */
    for (int i = 0; i < 4; i++) cr_assert_eq(spx_cue_epochs_add(q, 3000 + (uint64_t)i, i), 0);
    cr_assert_eq(spx_cue_epochs_add(q, 3010, 0), -ENOSPC);
    spx_cue_epochs_free(q);
    spx_ring_free(r);
    free(in);
    free(out);
}
