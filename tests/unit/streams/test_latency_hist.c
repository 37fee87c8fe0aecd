/* The fixed update-latency histogram: bounds, bucket edges (a bound belongs to its own bucket, as
 * Prometheus' le= means "less or equal"), overflow, totals. */
#include <criterion/criterion.h>
#include <math.h>

#include "latency_hist.h"

Test(latency_hist, bounds_increase_from_10us_to_10s)
{
    cr_assert_float_eq(spx_latency_bound(0), 10e-6, 1e-18);
    cr_assert_float_eq(spx_latency_bound(SPX_LATENCY_BOUNDS - 1), 10.0, 1e-12);
    for (size_t i = 1; i < SPX_LATENCY_BOUNDS; i++)
        cr_assert_gt(spx_latency_bound(i), spx_latency_bound(i - 1), "bound %zu", i);
}

Test(latency_hist, edges_overflow_and_total)
{
    spx_latency_hist h = {0};
    spx_latency_record(&h, 0.0);
    spx_latency_record(&h, 10e-6);            /* on the first bound: first bucket */
    spx_latency_record(&h, 10.5e-6);          /* just above: second */
    spx_latency_record(&h, 1.0);              /* on the 1 s bound */
    spx_latency_record(&h, 10.0);             /* the last bound */
    spx_latency_record(&h, 11.0);             /* overflow */
    spx_latency_record(&h, INFINITY);         /* overflow */
    spx_latency_record(&h, NAN);              /* not a duration: counted, in the first bucket */
    cr_assert_eq(h.counts[0], 3);
    cr_assert_eq(h.counts[1], 1);
    size_t one_second = 0;
    while (spx_latency_bound(one_second) != 1.0)
        one_second++;
    cr_assert_eq(h.counts[one_second], 1);
    cr_assert_eq(h.counts[SPX_LATENCY_BOUNDS - 1], 1);
    cr_assert_eq(h.counts[SPX_LATENCY_BOUNDS], 2);
    cr_assert_eq(spx_latency_total(&h), 8);
}
