#include "latency_hist.h"

static const double bounds[SPX_LATENCY_BOUNDS] = {
    10e-6, 20e-6, 50e-6, 100e-6, 200e-6, 500e-6, 1e-3, 2e-3, 5e-3, 10e-3,
    20e-3, 50e-3, 100e-3, 200e-3, 500e-3, 1.0, 2.0, 5.0, 10.0,
};

double spx_latency_bound(size_t i) { return i < SPX_LATENCY_BOUNDS ? bounds[i] : 0.0; }

void spx_latency_record(spx_latency_hist *h, double seconds)
{
    size_t i = 0;
    /* Linear: most updates fall in the first few buckets, and 19 compares are nothing next to one. */
    while (i < SPX_LATENCY_BOUNDS && seconds > bounds[i])
        i++;
    h->counts[i]++;
}

uint64_t spx_latency_total(const spx_latency_hist *h)
{
    uint64_t n = 0;
    for (size_t i = 0; i <= SPX_LATENCY_BOUNDS; i++)
        n += h->counts[i];
    return n;
}
