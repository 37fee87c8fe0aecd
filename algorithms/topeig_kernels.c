/* Per-row kernels of the top-eigenvector methods. The rows stream from memory once; these loops
 * must keep up with it, which the x86-64 baseline (SSE2, two doubles per instruction) cannot at
 * d >= 1000, so each kernel is also compiled for AVX2 and picked at load time (target_clones).
 * Explicit 4-wide vectors with independent accumulators fix the reduction order in the source:
 * both versions compute the same sums in the same order (GCC does not contract to FMA under
 * -std=c11), so results do not depend on the machine. Unaligned loads go through memcpy. f32 lanes
 * are widened element by element: GCC 12 lowers __builtin_convertvector(v4f -> v4d) to two 2-wide
 * conversions through the stack (AVX2 clone), the element-wise form to one vcvtps2pd (both exact).
 * Measured at d = 1000, oja on f32 rows: 330 -> 220 ns per row. */
#include "topeig_internal.h"

#include <immintrin.h>
#include <string.h>

typedef double v4d __attribute__((vector_size(32)));
typedef float v4f __attribute__((vector_size(16)));

#define LOAD_D(dst, p) memcpy(&(dst), (p), sizeof(v4d))
#define LOAD_F(dst, p)                                                                           \
    do {                                                                                         \
        v4f f_;                                                                                  \
        memcpy(&f_, (p), sizeof f_);                                                             \
        (dst) = (v4d){f_[0], f_[1], f_[2], f_[3]};                                               \
    } while (0)
#define STORE_D(p, v) memcpy((p), &(v), sizeof(v4d))
#define CLONES __attribute__((target_clones("avx2", "default")))

/* Oja's kernels (the dot/norm/axpy-dot family below and their AVX-512 versions) all do one
 * canonical arithmetic, bit for bit: element i of a row is added into lane i mod 8 of each
 * accumulator, in order of i; a last partial group of 8 is padded with zeros (its missing elements
 * add +0 to their lanes); the lanes are combined as ((l0 + l4) + (l2 + l6)) + ((l1 + l5) + (l3 + l7)).
 * The tail goes through the vector lanes and the lanes are combined in vector form, where scalar
 * tail loops and an element-wise reduction were a large share of a short row's instructions
 * (d = 100, f32 oja: 34 -> 36-37 M rows/s, docs/benchmarks.md). */
typedef double v2d __attribute__((vector_size(16)));

/* ((a0 + b0) + (a2 + b2)) + ((a1 + b1) + (a3 + b3)): the 8 lanes lo = a, hi = b in canonical order.
 * By pointer: vector arguments to a function compiled for the baseline would change the ABI
 * (-Wpsabi) where it is not inlined (-O0). */
#define hsum8(a, b) hsum8_ptr(&(a), &(b))
static inline double hsum8_ptr(const v4d *a, const v4d *b)
{
    v4d t = *a + *b;
    v2d h = __builtin_shufflevector(t, t, 0, 1) + __builtin_shufflevector(t, t, 2, 3);
    return h[0] + h[1];
}

/* One group of 8 elements at X, XP, W, R: w += c xp first when AXPY (the previous row's pending
 * update), then <x, w>, <x, r> when WITH_R, and ||x||^2 with the updated w. LDX / LDD load 4 row /
 * double elements from p + k (p, k, n: the partial forms read only elements k.. < n and put zeros
 * in the other lanes); STD stores 4 doubles (STD1: all, STDP1: those < n; STD0 / STDP0: no-ops for
 * the kernels that do not write w, where w is const). */
#define OJA_GROUP(LDX, LDD, STD, n, X, XP, W, R, AXPY, WITH_R, S0, S1, T0, T1, Q0, Q1)       \
    do {                                                                                         \
        v4d w0_, w1_, a0_, a1_;                                                                  \
        LDD(w0_, (W), 0, n);                                                                     \
        LDD(w1_, (W), 4, n);                                                                     \
        if (AXPY) {                                                                              \
            v4d p0_, p1_;                                                                        \
            LDX(p0_, (XP), 0, n);                                                                \
            LDX(p1_, (XP), 4, n);                                                                \
            w0_ += cv * p0_;                                                                     \
            w1_ += cv * p1_;                                                                     \
            STD##AXPY((W), 0, w0_, n);                                                           \
            STD##AXPY((W), 4, w1_, n);                                                           \
        }                                                                                        \
        LDX(a0_, (X), 0, n);                                                                     \
        LDX(a1_, (X), 4, n);                                                                     \
        S0 += a0_ * w0_;                                                                         \
        S1 += a1_ * w1_;                                                                         \
        if (WITH_R) {                                                                            \
            v4d r0_, r1_;                                                                        \
            LDD(r0_, (R), 0, n);                                                                 \
            LDD(r1_, (R), 4, n);                                                                 \
            T0 += a0_ * r0_;                                                                     \
            T1 += a1_ * r1_;                                                                     \
        }                                                                                        \
        Q0 += a0_ * a0_;                                                                         \
        Q1 += a1_ * a1_;                                                                         \
    } while (0)

#define GLD_D(dst, p, k, n) LOAD_D(dst, (p) + (k))
#define GLD_F(dst, p, k, n) LOAD_F(dst, (p) + (k))
#define GST1(p, k, v, n) STORE_D((p) + (k), v)
#define GST0(p, k, v, n) ((void)0)
/* The last, partial group: elements k.. < n of p in lanes 0-3, zeros above, loaded with SSE2 scalar
 * and pair loads. Not a variable-length memcpy into a zeroed buffer (a libc call per row: f64 rows
 * at d = 100 ran 30% slower), nor element-wise stores into a buffer read back as a vector (a
 * store-forwarding stall on the row-to-row chain: 2x slower), nor a vector built from scalars (GCC
 * then emits the register form of vmovq, VEX 66 0F D6, which valgrind cannot decode: SIGILL in the
 * integration tests run under it). */
/* (Vectors by pointer: 32-byte vectors by value would change the ABI of these baseline functions
 * where they are not inlined, -Wpsabi.) */
static inline void join2(v4d *out, v2d lo, v2d hi) { *out = __builtin_shufflevector(lo, hi, 0, 1, 2, 3); }

static inline void part_d(v4d *out, const double *p, size_t m) /* m elements present (0-4+) */
{
    const v2d zero = {0, 0};
    if (m >= 4)
        join2(out, (v2d)_mm_loadu_pd(p), (v2d)_mm_loadu_pd(p + 2));
    else if (m == 3)
        join2(out, (v2d)_mm_loadu_pd(p), (v2d)_mm_load_sd(p + 2));
    else if (m == 2)
        join2(out, (v2d)_mm_loadu_pd(p), zero);
    else if (m == 1)
        join2(out, (v2d)_mm_load_sd(p), zero);
    else
        join2(out, zero, zero);
}

static inline void part_f(v4d *out, const float *p, size_t m)
{
    __m128 f;
    if (m >= 4)
        f = _mm_loadu_ps(p);
    else if (m == 3)
        f = _mm_movelh_ps(_mm_castsi128_ps(_mm_loadu_si64(p)), _mm_load_ss(p + 2));
    else if (m == 2)
        f = _mm_castsi128_ps(_mm_loadu_si64(p)); /* two floats, any alignment */
    else if (m == 1)
        f = _mm_load_ss(p);
    else
        f = _mm_setzero_ps();
    join2(out, (v2d)_mm_cvtps_pd(f), (v2d)_mm_cvtps_pd(_mm_movehl_ps(f, f)));
}

#define PART_LOAD(out, p, m)                                                                     \
    _Generic((p), const float *: part_f, float *: part_f, default: part_d)(&(out), (p), (m))
#define PLD(dst, p, k, n) PART_LOAD(dst, (p) + (k), (n) > (k) ? (n) - (k) : 0)
#define PST1(p, k, v, n)                                                                         \
    do {                                                                                         \
        for (size_t j_ = 0; j_ < 4 && (k) + j_ < (n); j_++)                                      \
            (p)[(k) + j_] = (v)[j_];                                                             \
    } while (0)
#define PST0(p, k, v, n) ((void)0)

/* The kernels' body. x, xp (row type T), w, r, c, d, xr, xx in scope; xp and r are never NULL
 * (the kernels without them pass x and w, unread). Prefetching: see AXPY_BODY. */
#define OJA_BODY(LOAD_X, AXPY, WITH_R)                                                           \
    const v4d cv = {c, c, c, c};                                                                 \
    v4d s0 = {0, 0, 0, 0}, s1 = s0, t0 = s0, t1 = s0, q0 = s0, q1 = s0;                          \
    const size_t ahead = d < 512 ? 512 : d;                                                      \
    size_t i = 0;                                                                                \
    for (; i + 8 <= d; i += 8) {                                                                 \
        __builtin_prefetch(x + ahead + i);                                                       \
        OJA_GROUP(LOAD_X, GLD_D, GST, 8, x + i, xp + i, w + i, r + i, AXPY, WITH_R, s0, s1, t0,  \
                  t1, q0, q1);                                                                   \
    }                                                                                            \
    if (i < d)                                                                                   \
        OJA_GROUP(PLD, PLD, PST, d - i, x + i, xp + i, w + i, r + i, AXPY, WITH_R, s0, s1, t0,   \
                  t1, q0, q1);                                                                   \
    if (WITH_R)                                                                                  \
        *xr = hsum8(t0, t1);                                                                     \
    *xx = hsum8(q0, q1);                                                                         \
    return hsum8(s0, s1);

CLONES double spx_topeig_dot_norm_f64(const double *x, const double *w, size_t d, double *xx)
{
    const double c = 0.0, *xp = x, *r = w;
    double *xr = NULL;
    OJA_BODY(GLD_D, 0, 0)
}

CLONES double spx_topeig_dot_norm_f32(const float *x, const double *w, size_t d, double *xx)
{
    const double c = 0.0, *r = w;
    const float *xp = x;
    double *xr = NULL;
    OJA_BODY(GLD_F, 0, 0)
}

CLONES double spx_topeig_dot2_norm_f64(const double *x, const double *w, const double *r, size_t d,
                                       double *xr, double *xx)
{
    const double c = 0.0, *xp = x;
    OJA_BODY(GLD_D, 0, 1)
}

CLONES double spx_topeig_dot2_norm_f32(const float *x, const double *w, const double *r, size_t d,
                                       double *xr, double *xx)
{
    const double c = 0.0;
    const float *xp = x;
    OJA_BODY(GLD_F, 0, 1)
}

/* The axpy re-reads x from cache; meanwhile the memory system would idle, so it prefetches what
 * follows: the next row, or for short rows the data at least 512 elements ahead (rows are
 * contiguous; a prefetch past the end of the caller's buffer is only a hint and never faults).
 * Measured at d = 1000: 1.9 -> 2.7-3.2 M rows/s. */
#define AXPY_BODY(LOAD)                                                                          \
    v4d cv = {c, c, c, c};                                                                       \
    const size_t ahead = d < 512 ? 512 : d;                                                      \
    size_t i = 0;                                                                                \
    for (; i + 8 <= d; i += 8) {                                                                 \
        v4d a0, a1, w0, w1;                                                                      \
        __builtin_prefetch(x + ahead + i);                                                       \
        LOAD(a0, x + i);                                                                         \
        LOAD(a1, x + i + 4);                                                                     \
        LOAD_D(w0, w + i);                                                                       \
        LOAD_D(w1, w + i + 4);                                                                   \
        w0 += cv * a0;                                                                           \
        w1 += cv * a1;                                                                           \
        STORE_D(w + i, w0);                                                                      \
        STORE_D(w + i + 4, w1);                                                                  \
    }                                                                                            \
    for (; i < d; i++)                                                                           \
        w[i] += c * (double)x[i];

CLONES void spx_topeig_axpy_f64(double *w, double c, const double *x, size_t d) { AXPY_BODY(LOAD_D) }

CLONES void spx_topeig_axpy_f32(double *w, double c, const float *x, size_t d) { AXPY_BODY(LOAD_F) }

/* Oja: the previous row's update w += c xp fused with the next row's first read (<x, w>, ||x||^2,
 * optionally <x, r>): one pass over w per row instead of two. Element for element the same w as
 * spx_topeig_axpy_*, and the same sums as spx_topeig_dot(2)_norm_* with that w. */
CLONES double spx_topeig_axpy_dot_norm_f64(double *w, double c, const double *xp, const double *x,
                                           size_t d, double *xx)
{
    const double *r = w;
    double *xr = NULL;
    OJA_BODY(GLD_D, 1, 0)
}

CLONES double spx_topeig_axpy_dot_norm_f32(double *w, double c, const float *xp, const float *x,
                                           size_t d, double *xx)
{
    const double *r = w;
    double *xr = NULL;
    OJA_BODY(GLD_F, 1, 0)
}

CLONES double spx_topeig_axpy_dot2_norm_f64(double *w, double c, const double *xp, const double *x,
                                            const double *r, size_t d, double *xr, double *xx)
{
    OJA_BODY(GLD_D, 1, 1)
}

CLONES double spx_topeig_axpy_dot2_norm_f32(double *w, double c, const float *xp, const float *x,
                                            const double *r, size_t d, double *xr, double *xx)
{
    OJA_BODY(GLD_F, 1, 1)
}

/* Mini-batch kernels. The portable dots4 is the single-row kernels four times (the same bits by
 * construction); the AVX-512 set has a real four-row pass (below). */
static void dots4_f64(const double *x, const double *w, const double *r, size_t d, double y[4],
                      double xx[4], double *xr)
{
    y[0] = spx_topeig_dot2_norm_f64(x, w, r, d, xr, &xx[0]);
    for (size_t j = 1; j < 4; j++)
        y[j] = spx_topeig_dot_norm_f64(x + j * d, w, d, &xx[j]);
}

static void dots4_f32(const float *x, const double *w, const double *r, size_t d, double y[4],
                      double xx[4], double *xr, double *wide)
{
    (void)wide; /* the portable axpy4_f32 widens x again */
    y[0] = spx_topeig_dot2_norm_f32(x, w, r, d, xr, &xx[0]);
    for (size_t j = 1; j < 4; j++)
        y[j] = spx_topeig_dot_norm_f32(x + j * d, w, d, &xx[j]);
}

/* Each element: (((h + c0 x0) + c1 x1) + c2 x2) + c3 x3, as four axpys, with h read and written
 * once. */
#define AXPY4_BODY(LOAD)                                                                         \
    const v4d c0 = {c[0], c[0], c[0], c[0]}, c1 = {c[1], c[1], c[1], c[1]};                      \
    const v4d c2 = {c[2], c[2], c[2], c[2]}, c3 = {c[3], c[3], c[3], c[3]};                      \
    size_t i = 0;                                                                                \
    for (; i + 4 <= d; i += 4) {                                                                 \
        v4d hv, a0, a1, a2, a3;                                                                  \
        LOAD_D(hv, h + i);                                                                       \
        LOAD(a0, x + i);                                                                         \
        LOAD(a1, x + d + i);                                                                     \
        LOAD(a2, x + 2 * d + i);                                                                 \
        LOAD(a3, x + 3 * d + i);                                                                 \
        hv += c0 * a0;                                                                           \
        hv += c1 * a1;                                                                           \
        hv += c2 * a2;                                                                           \
        hv += c3 * a3;                                                                           \
        STORE_D(h + i, hv);                                                                      \
    }                                                                                            \
    for (; i < d; i++) {                                                                         \
        double hi = h[i];                                                                        \
        hi += c[0] * (double)x[i];                                                               \
        hi += c[1] * (double)x[d + i];                                                           \
        hi += c[2] * (double)x[2 * d + i];                                                       \
        hi += c[3] * (double)x[3 * d + i];                                                       \
        h[i] = hi;                                                                               \
    }

CLONES static void axpy4_f64(double *h, const double c[4], const double *x, size_t d)
{
    AXPY4_BODY(LOAD_D)
}

CLONES static void axpy4_f32(double *h, const double c[4], const float *x, const double *wide,
                             size_t d)
{
    (void)wide;
    AXPY4_BODY(LOAD_F)
}

/* w += a h element by element (as spx_topeig_axpy_f64), h zeroed, and ||w||^2 of the new w summed
 * in the canonical lane order (as spx_topeig_dot_norm_f64(w, w, ...)). */
CLONES double spx_topeig_apply_batch(double *w, double a, double *h, size_t d)
{
    const v4d av = {a, a, a, a}, zero = {0, 0, 0, 0};
    v4d q0 = zero, q1 = zero;
    size_t i = 0;
    for (; i + 8 <= d; i += 8) {
        v4d w0, w1, h0, h1;
        LOAD_D(w0, w + i);
        LOAD_D(w1, w + i + 4);
        LOAD_D(h0, h + i);
        LOAD_D(h1, h + i + 4);
        w0 += av * h0;
        w1 += av * h1;
        STORE_D(w + i, w0);
        STORE_D(w + i + 4, w1);
        STORE_D(h + i, zero);
        STORE_D(h + i + 4, zero);
        q0 += w0 * w0;
        q1 += w1 * w1;
    }
    double tail[8] = {0};
    for (size_t j = 0; i + j < d; j++) {
        w[i + j] += a * h[i + j];
        h[i + j] = 0.0;
        tail[j] = w[i + j];
    }
    v4d t0, t1;
    LOAD_D(t0, tail);
    LOAD_D(t1, tail + 4);
    q0 += t0 * t0;
    q1 += t1 * t1;
    return hsum8(q0, q1);
}

/* Oja's f32 kernels once more with 8-lane vectors, for CPUs with AVX-512
 * (spx_topeig_oja_kernels_get picks them at create time): half the instructions per element;
 * oja on f32 rows at d = 1000 went from ~3.0M to ~5.2M rows/s (bench_topeig_speed). One 8-lane
 * accumulator holds exactly the two 4-lane accumulators of the kernels above (lanes 0-3 and 4-7),
 * the last partial group is read with masked loads (zeros in the missing lanes, as the padding
 * above) and written back with a masked store, so both sets return the same bits. f64 rows keep
 * the 4-lane kernels: their 64-byte loads split cache lines unless the caller's rows are 64-byte
 * aligned, and measured slower. These are not target_clones of the kernels above because GCC
 * lowers 8-lane vectors on AVX2 / SSE2 through the stack. */
typedef double v8d __attribute__((vector_size(64)));
typedef float v8f __attribute__((vector_size(32)));

#define AVX512 __attribute__((target("avx512f")))

/* Loads and stores of one group of 8 (the stores: STORE8_D1, or the no-op STORE8_D0 for kernels
 * that do not write w); the masked forms touch only the lanes in m. */
#define LOAD8_D(dst, p, m) memcpy(&(dst), (p), sizeof(v8d))
#define LOAD8_F(dst, p, m)                                                                       \
    do {                                                                                         \
        v8f f_;                                                                                  \
        memcpy(&f_, (p), sizeof f_);                                                             \
        (dst) = (v8d){f_[0], f_[1], f_[2], f_[3], f_[4], f_[5], f_[6], f_[7]};                   \
    } while (0)
#define STORE8_D1(p, v, m) memcpy((p), &(v), sizeof(v8d))
#define STORE8_D0(p, v, m) ((void)0)
#define LOAD8M_D(dst, p, m) (dst) = (v8d)_mm512_maskz_loadu_pd((m), (p))
#define LOAD8M_F(dst, p, m)                                                                      \
    (dst) = (v8d)_mm512_cvtps_pd(_mm512_castps512_ps256(_mm512_maskz_loadu_ps((m), (p))))
#define STORE8M_D1(p, v, m) _mm512_mask_storeu_pd((p), (__mmask8)(m), (__m512d)(v))
#define STORE8M_D0(p, v, m) ((void)0)

/* As hsum8 on the two halves of a. */
AVX512 static inline double hsum8_512(v8d a)
{
    v4d lo = __builtin_shufflevector(a, a, 0, 1, 2, 3), hi = __builtin_shufflevector(a, a, 4, 5, 6, 7);
    return hsum8(lo, hi);
}

/* As OJA_GROUP, on one 8-lane vector. */
#define OJA_GROUP8(LDX, LDD, STD, m, X, XP, W, R, AXPY, WITH_R, S, U, Q)                         \
    do {                                                                                         \
        v8d wv_, a_;                                                                             \
        LDD(wv_, (W), m);                                                                        \
        if (AXPY) {                                                                              \
            v8d p_;                                                                              \
            LDX(p_, (XP), m);                                                                    \
            wv_ += cv * p_;                                                                      \
            STD##AXPY((W), wv_, m);                                                              \
        }                                                                                        \
        LDX(a_, (X), m);                                                                         \
        S += a_ * wv_;                                                                           \
        if (WITH_R) {                                                                            \
            v8d rv_;                                                                             \
            LDD(rv_, (R), m);                                                                    \
            U += a_ * rv_;                                                                       \
        }                                                                                        \
        Q += a_ * a_;                                                                            \
    } while (0)

/* As OJA_BODY, for f32 rows. */
#define OJA8_BODY(AXPY, WITH_R)                                                                  \
    const v8d cv = {c, c, c, c, c, c, c, c};                                                     \
    v8d s = {0, 0, 0, 0, 0, 0, 0, 0}, u = s, q = s;                                              \
    const size_t ahead = d < 512 ? 512 : d;                                                      \
    size_t i = 0;                                                                                \
    for (; i + 8 <= d; i += 8) {                                                                 \
        __builtin_prefetch(x + ahead + i);                                                       \
        OJA_GROUP8(LOAD8_F, LOAD8_D, STORE8_D, 0, x + i, xp + i, w + i, r + i, AXPY, WITH_R, s,  \
                   u, q);                                                                        \
    }                                                                                            \
    if (i < d) {                                                                                 \
        const __mmask8 m = (__mmask8)((1u << (d - i)) - 1u);                                     \
        OJA_GROUP8(LOAD8M_F, LOAD8M_D, STORE8M_D, m, x + i, xp + i, w + i, r + i, AXPY, WITH_R,  \
                   s, u, q);                                                                     \
    }                                                                                            \
    if (WITH_R)                                                                                  \
        *xr = hsum8_512(u);                                                                 \
    *xx = hsum8_512(q);                                                                     \
    return hsum8_512(s);

AVX512 static double dot_norm8_f32(const float *x, const double *w, size_t d, double *xx)
{
    const double c = 0.0, *r = w;
    const float *xp = x;
    double *xr = NULL;
    OJA8_BODY(0, 0)
}

AVX512 static double dot2_norm8_f32(const float *x, const double *w, const double *r, size_t d,
                                    double *xr, double *xx)
{
    const double c = 0.0;
    const float *xp = x;
    OJA8_BODY(0, 1)
}

AVX512 static double axpy_dot_norm8_f32(double *w, double c, const float *xp, const float *x,
                                        size_t d, double *xx)
{
    const double *r = w;
    double *xr = NULL;
    OJA8_BODY(1, 0)
}

AVX512 static double axpy_dot2_norm8_f32(double *w, double c, const float *xp, const float *x,
                                         const double *r, size_t d, double *xr, double *xx)
{
    OJA8_BODY(1, 1)
}

/* As dots4_f32, in one pass: w and r are loaded once for the four rows. Each row's lanes see the
 * same operations in the same order as in dot_norm8_f32 / dot2_norm8_f32. The next four rows are
 * prefetched, one 64-byte line per 16 floats. The widened rows are stored in `wide` for
 * axpy4_8_f32: widening is as costly as a multiply here (the f64 arithmetic runs at the FP units'
 * rate), and a store is not: d = 100, f32, batch 16: 43-46 -> 44-48 M rows/s (bench_topeig_speed).
 * Only while the four widened rows stay in L1 (d <= SPX_TOPEIG_WIDE_MAX_DIM): at d = 1000 the
 * copy made a batch 6.0 -> 3.7 M rows/s. */
#define DOTS4_GROUP(LDX, LDD, STW, m)                                                            \
    do {                                                                                         \
        v8d wv_, rv_, a_;                                                                        \
        LDD(wv_, w + i, m);                                                                      \
        LDD(rv_, r + i, m);                                                                      \
        LDX(a_, x + i, m);                                                                       \
        STW(wide + i, a_, m);                                                                    \
        s0 += a_ * wv_;                                                                          \
        u += a_ * rv_;                                                                           \
        q0 += a_ * a_;                                                                           \
        LDX(a_, x + d + i, m);                                                                   \
        STW(wide + ws + i, a_, m);                                                               \
        s1 += a_ * wv_;                                                                          \
        q1 += a_ * a_;                                                                           \
        LDX(a_, x + 2 * d + i, m);                                                               \
        STW(wide + 2 * ws + i, a_, m);                                                           \
        s2 += a_ * wv_;                                                                          \
        q2 += a_ * a_;                                                                           \
        LDX(a_, x + 3 * d + i, m);                                                               \
        STW(wide + 3 * ws + i, a_, m);                                                           \
        s3 += a_ * wv_;                                                                          \
        q3 += a_ * a_;                                                                           \
    } while (0)

#define DOTS4_BODY(STW)                                                                          \
    const size_t ws = SPX_TOPEIG_WIDE_STRIDE(d);                                                 \
    const v8d zero = {0, 0, 0, 0, 0, 0, 0, 0};                                                   \
    v8d s0 = zero, s1 = zero, s2 = zero, s3 = zero, q0 = zero, q1 = zero, q2 = zero, q3 = zero;  \
    v8d u = zero;                                                                                \
    size_t i = 0;                                                                                \
    for (; i + 8 <= d; i += 8) {                                                                 \
        __builtin_prefetch(x + 4 * d + 4 * i);                                                   \
        __builtin_prefetch(x + 4 * d + 4 * i + 16);                                              \
        DOTS4_GROUP(LOAD8_F, LOAD8_D, STW, 0);                                                   \
    }                                                                                            \
    if (i < d) {                                                                                 \
        const __mmask8 m = (__mmask8)((1u << (d - i)) - 1u);                                     \
        DOTS4_GROUP(LOAD8M_F, LOAD8M_D, STW, m);                                                 \
    }                                                                                            \
    y[0] = hsum8_512(s0), y[1] = hsum8_512(s1), y[2] = hsum8_512(s2), y[3] = hsum8_512(s3);     \
    xx[0] = hsum8_512(q0), xx[1] = hsum8_512(q1), xx[2] = hsum8_512(q2), xx[3] = hsum8_512(q3); \
    *xr = hsum8_512(u);

AVX512 static void dots4_8_wide_f32(const float *x, const double *w, const double *r, size_t d,
                                    double y[4], double xx[4], double *xr, double *wide)
{
    DOTS4_BODY(STORE8_D1)
}

AVX512 static void dots4_8_plain_f32(const float *x, const double *w, const double *r, size_t d,
                                     double y[4], double xx[4], double *xr, double *wide)
{
    DOTS4_BODY(STORE8_D0)
    (void)wide, (void)ws;
}

/* wide = NULL: no widened copy (axpy4_8_f32 then widens x again). */
AVX512 static void dots4_8_f32(const float *x, const double *w, const double *r, size_t d,
                               double y[4], double xx[4], double *xr, double *wide)
{
    if (wide)
        dots4_8_wide_f32(x, w, r, d, y, xx, xr, wide);
    else
        dots4_8_plain_f32(x, w, r, d, y, xx, xr, wide);
}

/* As axpy4_f32 (each element's operations are the same, so are the bits), reading the rows
 * dots4_8_f32 widened into `wide` (the whole last group: lanes past d hold zeros there), or x when
 * wide is NULL. */
#define AXPY4_8_BODY(LDA, A, S)                                                                  \
    const v8d c0 = {c[0], c[0], c[0], c[0], c[0], c[0], c[0], c[0]};                             \
    const v8d c1 = {c[1], c[1], c[1], c[1], c[1], c[1], c[1], c[1]};                             \
    const v8d c2 = {c[2], c[2], c[2], c[2], c[2], c[2], c[2], c[2]};                             \
    const v8d c3 = {c[3], c[3], c[3], c[3], c[3], c[3], c[3], c[3]};                             \
    size_t i = 0;                                                                                \
    for (; i + 8 <= d; i += 8) {                                                                 \
        v8d hv, a;                                                                               \
        LOAD8_D(hv, h + i, 0);                                                                   \
        LDA(a, (A) + i, 0);                                                                      \
        hv += c0 * a;                                                                            \
        LDA(a, (A) + (S) + i, 0);                                                                \
        hv += c1 * a;                                                                            \
        LDA(a, (A) + 2 * (S) + i, 0);                                                            \
        hv += c2 * a;                                                                            \
        LDA(a, (A) + 3 * (S) + i, 0);                                                            \
        hv += c3 * a;                                                                            \
        STORE8_D1(h + i, hv, 0);                                                                 \
    }                                                                                            \
    if (i < d) {                                                                                 \
        const __mmask8 m = (__mmask8)((1u << (d - i)) - 1u);                                     \
        v8d hv, a;                                                                               \
        LOAD8M_D(hv, h + i, m);                                                                  \
        LDA##M(a, (A) + i, m);                                                                   \
        hv += c0 * a;                                                                            \
        LDA##M(a, (A) + (S) + i, m);                                                             \
        hv += c1 * a;                                                                            \
        LDA##M(a, (A) + 2 * (S) + i, m);                                                         \
        hv += c2 * a;                                                                            \
        LDA##M(a, (A) + 3 * (S) + i, m);                                                         \
        hv += c3 * a;                                                                            \
        STORE8M_D1(h + i, hv, m);                                                                \
    }

/* The widened rows' last group is whole (zeros past d): read it unmasked. */
#define LOAD8_DM(dst, p, m) LOAD8_D(dst, p, m)
#define LOAD8_FM(dst, p, m) LOAD8M_F(dst, p, m)

AVX512 static void axpy4_8_f32(double *h, const double c[4], const float *x, const double *wide,
                               size_t d)
{
    if (wide) {
        AXPY4_8_BODY(LOAD8_D, wide, SPX_TOPEIG_WIDE_STRIDE(d))
    } else {
        AXPY4_8_BODY(LOAD8_F, x, d)
    }
}

static const spx_topeig_oja_kernels oja_kernels_portable = {
    .dot_norm_f64 = spx_topeig_dot_norm_f64,
    .dot_norm_f32 = spx_topeig_dot_norm_f32,
    .dot2_norm_f64 = spx_topeig_dot2_norm_f64,
    .dot2_norm_f32 = spx_topeig_dot2_norm_f32,
    .axpy_dot_norm_f64 = spx_topeig_axpy_dot_norm_f64,
    .axpy_dot_norm_f32 = spx_topeig_axpy_dot_norm_f32,
    .axpy_dot2_norm_f64 = spx_topeig_axpy_dot2_norm_f64,
    .axpy_dot2_norm_f32 = spx_topeig_axpy_dot2_norm_f32,
    .dots4_f64 = dots4_f64,
    .dots4_f32 = dots4_f32,
    .axpy4_f64 = axpy4_f64,
    .axpy4_f32 = axpy4_f32,
};

static const spx_topeig_oja_kernels oja_kernels_avx512 = {
    .dot_norm_f64 = spx_topeig_dot_norm_f64,
    .dot_norm_f32 = dot_norm8_f32,
    .dot2_norm_f64 = spx_topeig_dot2_norm_f64,
    .dot2_norm_f32 = dot2_norm8_f32,
    .axpy_dot_norm_f64 = spx_topeig_axpy_dot_norm_f64,
    .axpy_dot_norm_f32 = axpy_dot_norm8_f32,
    .axpy_dot2_norm_f64 = spx_topeig_axpy_dot2_norm_f64,
    .axpy_dot2_norm_f32 = axpy_dot2_norm8_f32,
    .dots4_f64 = dots4_f64,
    .dots4_f32 = dots4_8_f32,
    .axpy4_f64 = axpy4_f64,
    .axpy4_f32 = axpy4_8_f32,
};

const spx_topeig_oja_kernels *spx_topeig_oja_kernels_get(int allow_avx512)
{
    __builtin_cpu_init();
    if (allow_avx512 && __builtin_cpu_supports("avx512f"))
        return &oja_kernels_avx512;
    return &oja_kernels_portable;
}

/* Block methods with few columns (p <= 4, the default p = 3): per row, y = Z^T x in one read of x
 * and S += x y^T in a second, the p columns of Z and S staying in cache. A GEMM with 3 columns
 * runs far below the machine's peak, so this is ~4x faster than the two skinny GEMMs per group.
 * P is a compile-time constant in each instance and the column loops are unrolled explicitly
 * (without it GCC -O2 keeps the accumulators on the stack: 3x slower). */
#define PROJ_BODY(P)                                                                             \
    v4d acc[P];                                                                                  \
    double tail[P];                                                                              \
    _Pragma("GCC unroll 4") for (size_t j = 0; j < (P); j++) {                                   \
        acc[j] = (v4d){0, 0, 0, 0};                                                              \
        tail[j] = 0.0;                                                                           \
    }                                                                                            \
    size_t i = 0;                                                                                \
    for (; i + 4 <= d; i += 4) {                                                                 \
        v4d a, z;                                                                                \
        LOAD_D(a, x + i);                                                                        \
        _Pragma("GCC unroll 4") for (size_t j = 0; j < (P); j++) {                               \
            LOAD_D(z, Z + j * d + i);                                                            \
            acc[j] += a * z;                                                                     \
        }                                                                                        \
    }                                                                                            \
    for (; i < d; i++)                                                                           \
        _Pragma("GCC unroll 4") for (size_t j = 0; j < (P); j++)                                 \
            tail[j] += x[i] * Z[j * d + i];                                                      \
    _Pragma("GCC unroll 4") for (size_t j = 0; j < (P); j++)                                     \
        y[j] = ((acc[j][0] + acc[j][2]) + (acc[j][1] + acc[j][3])) + tail[j];

#define RANK_BODY(P, LOAD)                                                                       \
    v4d yv[P];                                                                                   \
    _Pragma("GCC unroll 4") for (size_t j = 0; j < (P); j++)                                     \
        yv[j] = (v4d){y[j], y[j], y[j], y[j]};                                                   \
    size_t i = 0;                                                                                \
    for (; i + 4 <= d; i += 4) {                                                                 \
        v4d a, s;                                                                                \
        LOAD(a, x + i);                                                                          \
        _Pragma("GCC unroll 4") for (size_t j = 0; j < (P); j++) {                               \
            LOAD_D(s, S + j * d + i);                                                            \
            s += yv[j] * a;                                                                      \
            STORE_D(S + j * d + i, s);                                                           \
        }                                                                                        \
    }                                                                                            \
    for (; i < d; i++)                                                                           \
        _Pragma("GCC unroll 4") for (size_t j = 0; j < (P); j++)                                 \
            S[j * d + i] += y[j] * (double)x[i];

/* PROJ_BODY plus <x, r> and ||x||^2 in the same read of x (a row's first touch). */
#define PROJ_EX_BODY(P, LOAD, XT)                                                                \
    v4d acc[P], ar = {0, 0, 0, 0}, aq = ar;                                                      \
    double tail[P], tr = 0.0, tq = 0.0;                                                          \
    _Pragma("GCC unroll 4") for (size_t j = 0; j < (P); j++) {                                   \
        acc[j] = (v4d){0, 0, 0, 0};                                                              \
        tail[j] = 0.0;                                                                           \
    }                                                                                            \
    const size_t ahead = d < 512 ? 512 : d;                                                      \
    size_t i = 0;                                                                                \
    for (; i + 4 <= d; i += 4) {                                                                 \
        v4d a, z;                                                                                \
        __builtin_prefetch(x + ahead + i);                                                       \
        LOAD(a, x + i);                                                                          \
        _Pragma("GCC unroll 4") for (size_t j = 0; j < (P); j++) {                               \
            LOAD_D(z, Z + j * d + i);                                                            \
            acc[j] += a * z;                                                                     \
        }                                                                                        \
        LOAD_D(z, r + i);                                                                        \
        ar += a * z;                                                                             \
        aq += a * a;                                                                             \
    }                                                                                            \
    for (; i < d; i++) {                                                                         \
        double xi = (XT)x[i];                                                                    \
        _Pragma("GCC unroll 4") for (size_t j = 0; j < (P); j++)                                 \
            tail[j] += xi * Z[j * d + i];                                                        \
        tr += xi * r[i];                                                                         \
        tq += xi * xi;                                                                           \
    }                                                                                            \
    _Pragma("GCC unroll 4") for (size_t j = 0; j < (P); j++)                                     \
        y[j] = ((acc[j][0] + acc[j][2]) + (acc[j][1] + acc[j][3])) + tail[j];                    \
    *xr = ((ar[0] + ar[2]) + (ar[1] + ar[3])) + tr;                                              \
    *xx = ((aq[0] + aq[2]) + (aq[1] + aq[3])) + tq;

#define DEFINE_PROJ_RANK(P)                                                                      \
    CLONES static void proj_##P(const double *x, const double *Z, size_t d, double *y)           \
    {                                                                                            \
        PROJ_BODY(P)                                                                             \
    }                                                                                            \
    CLONES static void projx_##P(const double *x, const double *Z, const double *r, size_t d,    \
                                 double *y, double *xr, double *xx)                              \
    {                                                                                            \
        PROJ_EX_BODY(P, LOAD_D, double)                                                          \
    }                                                                                            \
    CLONES static void rank_##P(double *S, const double *x, const double *y, size_t d)           \
    {                                                                                            \
        RANK_BODY(P, LOAD_D)                                                                     \
    }                                                                                            \
    CLONES static void projx_f32_##P(const float *x, const double *Z, const double *r, size_t d, \
                                     double *y, double *xr, double *xx)                          \
    {                                                                                            \
        PROJ_EX_BODY(P, LOAD_F, double)                                                          \
    }                                                                                            \
    CLONES static void rank_f32_##P(double *S, const float *x, const double *y, size_t d)        \
    {                                                                                            \
        RANK_BODY(P, LOAD_F)                                                                     \
    }

DEFINE_PROJ_RANK(1)
DEFINE_PROJ_RANK(2)
DEFINE_PROJ_RANK(3)
DEFINE_PROJ_RANK(4)

void spx_topeig_project_small(const double *x, const double *Z, size_t d, size_t p, double *y)
{
    switch (p) {
    case 1: proj_1(x, Z, d, y); break;
    case 2: proj_2(x, Z, d, y); break;
    case 3: proj_3(x, Z, d, y); break;
    default: proj_4(x, Z, d, y); break;
    }
}

void spx_topeig_project_small_ex(const double *x, const double *Z, const double *r, size_t d,
                                 size_t p, double *y, double *xr, double *xx)
{
    switch (p) {
    case 1: projx_1(x, Z, r, d, y, xr, xx); break;
    case 2: projx_2(x, Z, r, d, y, xr, xx); break;
    case 3: projx_3(x, Z, r, d, y, xr, xx); break;
    default: projx_4(x, Z, r, d, y, xr, xx); break;
    }
}

void spx_topeig_rank_update_small(double *S, const double *x, const double *y, size_t d, size_t p)
{
    switch (p) {
    case 1: rank_1(S, x, y, d); break;
    case 2: rank_2(S, x, y, d); break;
    case 3: rank_3(S, x, y, d); break;
    default: rank_4(S, x, y, d); break;
    }
}

/* f32 rows read as they are (widened in registers): the same sums as widening the row first. */
void spx_topeig_project_small_ex_f32(const float *x, const double *Z, const double *r, size_t d,
                                     size_t p, double *y, double *xr, double *xx)
{
    switch (p) {
    case 1: projx_f32_1(x, Z, r, d, y, xr, xx); break;
    case 2: projx_f32_2(x, Z, r, d, y, xr, xx); break;
    case 3: projx_f32_3(x, Z, r, d, y, xr, xx); break;
    default: projx_f32_4(x, Z, r, d, y, xr, xx); break;
    }
}

void spx_topeig_rank_update_small_f32(double *S, const float *x, const double *y, size_t d,
                                      size_t p)
{
    switch (p) {
    case 1: rank_f32_1(S, x, y, d); break;
    case 2: rank_f32_2(S, x, y, d); break;
    case 3: rank_f32_3(S, x, y, d); break;
    default: rank_f32_4(S, x, y, d); break;
    }
}
