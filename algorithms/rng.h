/* A small deterministic PRNG (xoshiro256**, Blackman & Vigna) so every estimator is reproducible
 * from its seed, independent of the C library's rand(). */
#ifndef SPX_RNG_H
#define SPX_RNG_H

#include <stddef.h>
#include <stdint.h>

typedef struct spx_rng {
    uint64_t s[4];
} spx_rng;

void spx_rng_seed(spx_rng *r, uint64_t seed);
uint64_t spx_rng_next(spx_rng *r);
/* Uniform in [0, 1). */
double spx_rng_uniform(spx_rng *r);
/* Standard normal (Box-Muller, one value per call). */
double spx_rng_normal(spx_rng *r);
/* Fills x[0..n) with standard normals. */
void spx_rng_normal_fill(spx_rng *r, double *x, size_t n);
/* Uniform integer in [0, n), n > 0, without modulo bias. */
uint64_t spx_rng_below(spx_rng *r, uint64_t n);

#endif
