/* grt_kernels_f32_avx2.c — the AVX2 + FMA variants of the f32 products, compiled for any x86-64 target
 * through function target attributes (the build uses no -march flag) and only called after the
 * dispatcher (grt_dispatch.c) found both features on the CPU.
 *
 * Summation order of every dot product w·x of length n (the contract that makes grt_matmul_f32_avx2
 * bit-identical to grt_matvec_f32_avx2): two 8-lane accumulators a0 = a1 = 0;
 *   for j = 0, 16, 32, ... while j + 16 <= n:  a0 = fma(w[j:j+8], x[j:j+8], a0);
 *                                              a1 = fma(w[j+8:j+16], x[j+8:j+16], a1);
 *   if 8 more remain:                          a0 = fma(w[j:j+8], x[j:j+8], a0), j += 8;
 *   if t = n - j > 0 remain (t < 8):           a1 = fma(w[j:j+t] and zeros, x[j:j+t] and zeros, a1);
 * then s = a0 + a1 (lane-wise), s' = s[0:4] + s[4:8], and the dot is (s'0 + s'2) + (s'1 + s'3);
 * the bias is added last. Rows are computed four at a time (eight accumulator chains) and the left-over
 * rows one at a time, with the same per-row operations, so a row's result depends only on that row
 * and x — not on which block it fell in.
 *
 * Panel8 (order in grt_kernels.h): the matrix-vector product takes four panels per pass (eight
 * accumulator chains), the matrix product one panel × six steps (twelve chains, each weight vector
 * loaded once for the six steps); per row and step the same operations. */
#include "../../grt_kernels.h"

#if GRT_HAVE_AVX2 && GRT_HAS_F32

#include <immintrin.h>
#include <stdint.h>

#define GRT_AVX2 __attribute__((target("avx2,fma")))

/* 8 ones then 8 zeros: loading 8 int32 from mask_src + 8 - t gives a mask of the first t lanes. */
static const int32_t mask_src[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};

static inline GRT_AVX2 __m256i tail_mask(size_t t)
{
    return _mm256_loadu_si256((const __m256i *)(const void *)(mask_src + 8 - t));
}

/* The fixed horizontal sum of a0 + a1 (see the order above). */
static inline GRT_AVX2 float hsum2(__m256 a0, __m256 a1)
{
    __m256 s = _mm256_add_ps(a0, a1);
    __m128 q = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
    __m128 p = _mm_add_ps(q, _mm_movehl_ps(q, q));                /* (q0 + q2, q1 + q3, ...) */
    return _mm_cvtss_f32(_mm_add_ss(p, _mm_shuffle_ps(p, p, 1))); /* (q0 + q2) + (q1 + q3) */
}

/* One row: y = b + w·x. */
static inline GRT_AVX2 float dot1(const float *w, const float *x, size_t n, float b)
{
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    size_t j = 0;
    for (; j + 16 <= n; j += 16) {
        __m256 x0 = _mm256_loadu_ps(x + j), x1 = _mm256_loadu_ps(x + j + 8);
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + j), x0, a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(w + j + 8), x1, a1);
    }
    if (j + 8 <= n) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + j), _mm256_loadu_ps(x + j), a0);
        j += 8;
    }
    if (j < n) {
        __m256i m = tail_mask(n - j);
        a1 = _mm256_fmadd_ps(_mm256_maskload_ps(w + j, m), _mm256_maskload_ps(x + j, m), a1);
    }
    return b + hsum2(a0, a1);
}

/* Four consecutive rows w, w + n, w + 2n, w + 3n: y[k] = b[k] + row k · x, each row exactly as dot1. */
static inline GRT_AVX2 void dot4(float *y, const float *w, const float *x, size_t n, const float *b)
{
    const float *w0 = w, *w1 = w + n, *w2 = w + 2 * n, *w3 = w + 3 * n;
    __m256 a00 = _mm256_setzero_ps(), a01 = _mm256_setzero_ps();
    __m256 a10 = _mm256_setzero_ps(), a11 = _mm256_setzero_ps();
    __m256 a20 = _mm256_setzero_ps(), a21 = _mm256_setzero_ps();
    __m256 a30 = _mm256_setzero_ps(), a31 = _mm256_setzero_ps();
    size_t j = 0;
    for (; j + 16 <= n; j += 16) {
        __m256 x0 = _mm256_loadu_ps(x + j), x1 = _mm256_loadu_ps(x + j + 8);
        a00 = _mm256_fmadd_ps(_mm256_loadu_ps(w0 + j), x0, a00);
        a01 = _mm256_fmadd_ps(_mm256_loadu_ps(w0 + j + 8), x1, a01);
        a10 = _mm256_fmadd_ps(_mm256_loadu_ps(w1 + j), x0, a10);
        a11 = _mm256_fmadd_ps(_mm256_loadu_ps(w1 + j + 8), x1, a11);
        a20 = _mm256_fmadd_ps(_mm256_loadu_ps(w2 + j), x0, a20);
        a21 = _mm256_fmadd_ps(_mm256_loadu_ps(w2 + j + 8), x1, a21);
        a30 = _mm256_fmadd_ps(_mm256_loadu_ps(w3 + j), x0, a30);
        a31 = _mm256_fmadd_ps(_mm256_loadu_ps(w3 + j + 8), x1, a31);
    }
    if (j + 8 <= n) {
        __m256 x0 = _mm256_loadu_ps(x + j);
        a00 = _mm256_fmadd_ps(_mm256_loadu_ps(w0 + j), x0, a00);
        a10 = _mm256_fmadd_ps(_mm256_loadu_ps(w1 + j), x0, a10);
        a20 = _mm256_fmadd_ps(_mm256_loadu_ps(w2 + j), x0, a20);
        a30 = _mm256_fmadd_ps(_mm256_loadu_ps(w3 + j), x0, a30);
        j += 8;
    }
    if (j < n) {
        __m256i m = tail_mask(n - j);
        __m256 x0 = _mm256_maskload_ps(x + j, m);
        a01 = _mm256_fmadd_ps(_mm256_maskload_ps(w0 + j, m), x0, a01);
        a11 = _mm256_fmadd_ps(_mm256_maskload_ps(w1 + j, m), x0, a11);
        a21 = _mm256_fmadd_ps(_mm256_maskload_ps(w2 + j, m), x0, a21);
        a31 = _mm256_fmadd_ps(_mm256_maskload_ps(w3 + j, m), x0, a31);
    }
    y[0] = b[0] + hsum2(a00, a01);
    y[1] = b[1] + hsum2(a10, a11);
    y[2] = b[2] + hsum2(a20, a21);
    y[3] = b[3] + hsum2(a30, a31);
}

GRT_AVX2 void grt_matvec_f32_avx2(float *restrict y, const float *restrict W, const float *restrict b,
                                  const float *restrict x, size_t rows, size_t cols)
{
    size_t r = 0;
    for (; r + 4 <= rows; r += 4)
        dot4(y + r, W + r * cols, x, cols, b + r);
    for (; r < rows; r++)
        y[r] = dot1(W + r * cols, x, cols, b[r]);
}

/* Steps per block: the block's four weight rows stay in L1 while they are used for its steps. */
#define STEP_BLOCK 8

GRT_AVX2 void grt_matmul_f32_avx2(float *restrict Y, size_t ldy, const float *restrict W,
                                  const float *restrict b, const float *restrict X, size_t ldx, size_t rows,
                                  size_t cols, size_t T)
{
    float y4[4];
    for (size_t t0 = 0; t0 < T; t0 += STEP_BLOCK) {
        size_t t1 = T - t0 < STEP_BLOCK ? T : t0 + STEP_BLOCK;
        size_t r = 0;
        for (; r + 4 <= rows; r += 4) {
            for (size_t t = t0; t < t1; t++) {
                dot4(y4, W + r * cols, X + t * ldx, cols, b + r);
                float *yt = Y + t * ldy + r;
                yt[0] = y4[0], yt[1] = y4[1], yt[2] = y4[2], yt[3] = y4[3];
            }
        }
        for (; r < rows; r++)
            for (size_t t = t0; t < t1; t++)
                Y[t * ldy + r] = dot1(W + r * cols, X + t * ldx, cols, b[r]);
    }
}

/* ---- panel8 (order in grt_kernels.h) ---------------------------------------------------------------- */

/* b + (e + o) for the n <= 8 rows of one panel. */
static inline GRT_AVX2 void store_panel(float *y, const float *b, __m256 e, __m256 o, size_t n)
{
    if (n == 8) {
        _mm256_storeu_ps(y, _mm256_add_ps(_mm256_loadu_ps(b), _mm256_add_ps(e, o)));
        return;
    }
    __m256i m = tail_mask(n);
    _mm256_maskstore_ps(y, m, _mm256_add_ps(_mm256_maskload_ps(b, m), _mm256_add_ps(e, o)));
}

/* A panel block takes its number of steps as a constant: inlined, each gets its own registers. */
#define BLOCK_INLINE static inline __attribute__((always_inline)) GRT_AVX2

/* One panel's e and o chains for step x: (e, o) += (w[8k:8k+8]·x[k], w[8k+8:8k+16]·x[k+1]). */
#define PAIR_FMA(e, o, x)                                                                               \
    do {                                                                                                \
        e = _mm256_fmadd_ps(we, _mm256_broadcast_ss((x) + k), e);                                       \
        o = _mm256_fmadd_ps(wo, _mm256_broadcast_ss((x) + k + 1), o);                                   \
    } while (0)

/* Y[t·ldy + i] = b[i] + W[i,:]·X[t·ldx, +cols) for the first n rows of one panel P and NT <= 6 steps:
 * 2·NT accumulator chains in named registers (gcc keeps arrays of them in memory), each weight vector
 * loaded once for the NT steps. */
BLOCK_INLINE void panel_block(float *Y, size_t ldy, const float *P, const float *b, const float *X, size_t ldx,
                              size_t cols, size_t n, const size_t NT)
{
    const float *x0 = X, *x1 = X + ldx, *x2 = X + 2 * ldx, *x3 = X + 3 * ldx, *x4 = X + 4 * ldx,
                *x5 = X + 5 * ldx;
    __m256 e0 = _mm256_setzero_ps(), e1 = e0, e2 = e0, e3 = e0, e4 = e0, e5 = e0;
    __m256 o0 = e0, o1 = e0, o2 = e0, o3 = e0, o4 = e0, o5 = e0;
    size_t k = 0;
    for (; k + 2 <= cols; k += 2) {
        __m256 we = _mm256_loadu_ps(P + 8 * k), wo = _mm256_loadu_ps(P + 8 * k + 8);
        PAIR_FMA(e0, o0, x0);
        if (NT > 1) PAIR_FMA(e1, o1, x1);
        if (NT > 2) PAIR_FMA(e2, o2, x2);
        if (NT > 3) PAIR_FMA(e3, o3, x3);
        if (NT > 4) PAIR_FMA(e4, o4, x4);
        if (NT > 5) PAIR_FMA(e5, o5, x5);
    }
    if (k < cols) { /* the last even k: e only */
        __m256 we = _mm256_loadu_ps(P + 8 * k);
        e0 = _mm256_fmadd_ps(we, _mm256_broadcast_ss(x0 + k), e0);
        if (NT > 1) e1 = _mm256_fmadd_ps(we, _mm256_broadcast_ss(x1 + k), e1);
        if (NT > 2) e2 = _mm256_fmadd_ps(we, _mm256_broadcast_ss(x2 + k), e2);
        if (NT > 3) e3 = _mm256_fmadd_ps(we, _mm256_broadcast_ss(x3 + k), e3);
        if (NT > 4) e4 = _mm256_fmadd_ps(we, _mm256_broadcast_ss(x4 + k), e4);
        if (NT > 5) e5 = _mm256_fmadd_ps(we, _mm256_broadcast_ss(x5 + k), e5);
    }
    store_panel(Y, b, e0, o0, n);
    if (NT > 1) store_panel(Y + ldy, b, e1, o1, n);
    if (NT > 2) store_panel(Y + 2 * ldy, b, e2, o2, n);
    if (NT > 3) store_panel(Y + 3 * ldy, b, e3, o3, n);
    if (NT > 4) store_panel(Y + 4 * ldy, b, e4, o4, n);
    if (NT > 5) store_panel(Y + 5 * ldy, b, e5, o5, n);
}

/* Four full panels (32 rows) for one step: eight accumulator chains, x[k] broadcast once; per row the
 * operations of panel_block. */
static inline GRT_AVX2 void panels4(float *y, const float *P, const float *b, const float *x, size_t cols)
{
    const float *p0 = P, *p1 = P + 8 * cols, *p2 = P + 16 * cols, *p3 = P + 24 * cols;
    __m256 e0 = _mm256_setzero_ps(), e1 = e0, e2 = e0, e3 = e0, o0 = e0, o1 = e0, o2 = e0, o3 = e0;
    size_t k = 0;
    for (; k + 2 <= cols; k += 2) {
        __m256 xe = _mm256_broadcast_ss(x + k), xo = _mm256_broadcast_ss(x + k + 1);
        size_t j = 8 * k;
        e0 = _mm256_fmadd_ps(_mm256_loadu_ps(p0 + j), xe, e0);
        e1 = _mm256_fmadd_ps(_mm256_loadu_ps(p1 + j), xe, e1);
        e2 = _mm256_fmadd_ps(_mm256_loadu_ps(p2 + j), xe, e2);
        e3 = _mm256_fmadd_ps(_mm256_loadu_ps(p3 + j), xe, e3);
        o0 = _mm256_fmadd_ps(_mm256_loadu_ps(p0 + j + 8), xo, o0);
        o1 = _mm256_fmadd_ps(_mm256_loadu_ps(p1 + j + 8), xo, o1);
        o2 = _mm256_fmadd_ps(_mm256_loadu_ps(p2 + j + 8), xo, o2);
        o3 = _mm256_fmadd_ps(_mm256_loadu_ps(p3 + j + 8), xo, o3);
    }
    if (k < cols) {
        __m256 xe = _mm256_broadcast_ss(x + k);
        size_t j = 8 * k;
        e0 = _mm256_fmadd_ps(_mm256_loadu_ps(p0 + j), xe, e0);
        e1 = _mm256_fmadd_ps(_mm256_loadu_ps(p1 + j), xe, e1);
        e2 = _mm256_fmadd_ps(_mm256_loadu_ps(p2 + j), xe, e2);
        e3 = _mm256_fmadd_ps(_mm256_loadu_ps(p3 + j), xe, e3);
    }
    store_panel(y, b, e0, o0, 8);
    store_panel(y + 8, b + 8, e1, o1, 8);
    store_panel(y + 16, b + 16, e2, o2, 8);
    store_panel(y + 24, b + 24, e3, o3, 8);
}

GRT_AVX2 void grt_matvec_f32_p8_avx2(float *restrict y, const float *restrict P, const float *restrict b,
                                     const float *restrict x, size_t rows, size_t cols)
{
    size_t r = 0;
    for (; r + 32 <= rows; r += 32)
        panels4(y + r, P + r * cols, b + r, x, cols);
    for (; r < rows; r += 8)
        panel_block(y + r, 0, P + r * cols, b + r, x, 0, cols, rows - r < 8 ? rows - r : 8, 1);
}

/* Steps per chunk of the matrix product: a panel (8·cols floats) stays in L1 while it is used for all
 * of the chunk's steps, whose inputs stay in L2. */
#define STEP_CHUNK 64

/* One panel for steps [t, t1) of X and Y (already offset to the panel's rows), six at a time. */
static inline GRT_AVX2 void panel_steps(float *Y, size_t ldy, const float *P, const float *b, const float *X,
                                        size_t ldx, size_t cols, size_t n, size_t t, size_t t1)
{
    for (; t + 6 <= t1; t += 6)
        panel_block(Y + t * ldy, ldy, P, b, X + t * ldx, ldx, cols, n, 6);
    switch (t1 - t) {
    case 5: panel_block(Y + t * ldy, ldy, P, b, X + t * ldx, ldx, cols, n, 5); break;
    case 4: panel_block(Y + t * ldy, ldy, P, b, X + t * ldx, ldx, cols, n, 4); break;
    case 3: panel_block(Y + t * ldy, ldy, P, b, X + t * ldx, ldx, cols, n, 3); break;
    case 2: panel_block(Y + t * ldy, ldy, P, b, X + t * ldx, ldx, cols, n, 2); break;
    case 1: panel_block(Y + t * ldy, ldy, P, b, X + t * ldx, ldx, cols, n, 1); break;
    default: break;
    }
}

GRT_AVX2 void grt_matmul_f32_p8_avx2(float *restrict Y, size_t ldy, const float *restrict P,
                                     const float *restrict b, const float *restrict X, size_t ldx,
                                     size_t rows, size_t cols, size_t T)
{
    for (size_t t0 = 0; t0 < T; t0 += STEP_CHUNK) {
        size_t t1 = T - t0 < STEP_CHUNK ? T : t0 + STEP_CHUNK;
        for (size_t r = 0; r < rows; r += 8)
            panel_steps(Y + r, ldy, P + r * cols, b + r, X, ldx, cols, rows - r < 8 ? rows - r : 8, t0, t1);
    }
}

#else
typedef int grt_no_avx2_variant; /* ISO C forbids an empty translation unit */
#endif
