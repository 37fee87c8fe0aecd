#include "rng.h"

#include <math.h>

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

/* splitmix64 expands one seed into the four words of state, as the xoshiro authors recommend. */
static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void spx_rng_seed(spx_rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&seed);
}

uint64_t spx_rng_next(spx_rng *r)
{
    uint64_t *s = r->s;
    const uint64_t result = rotl(s[1] * 5, 7) * 9;
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double spx_rng_uniform(spx_rng *r) { return (double)(spx_rng_next(r) >> 11) * 0x1.0p-53; }

double spx_rng_normal(spx_rng *r)
{
    double u1;
    do
        u1 = spx_rng_uniform(r);
    while (u1 <= 0.0);
    double u2 = spx_rng_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

void spx_rng_normal_fill(spx_rng *r, double *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] = spx_rng_normal(r);
}

uint64_t spx_rng_below(spx_rng *r, uint64_t n)
{
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do
        x = spx_rng_next(r);
    while (x >= limit);
    return x % n;
}
