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
 * and x — not on which block it fell in. */
#include "grt_kernels.h"

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

/* Four consecutive full panels (32 rows) at P: eight accumulator chains, x[k] broadcast once. */
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

/* One panel, its first n rows stored: per row the same operations as in panels4. */
static inline GRT_AVX2 void panel1(float *y, const float *p, const float *b, const float *x, size_t cols,
                                   size_t n)
{
    __m256 e = _mm256_setzero_ps(), o = e;
    size_t k = 0;
    for (; k + 2 <= cols; k += 2) {
        e = _mm256_fmadd_ps(_mm256_loadu_ps(p + 8 * k), _mm256_broadcast_ss(x + k), e);
        o = _mm256_fmadd_ps(_mm256_loadu_ps(p + 8 * k + 8), _mm256_broadcast_ss(x + k + 1), o);
    }
    if (k < cols)
        e = _mm256_fmadd_ps(_mm256_loadu_ps(p + 8 * k), _mm256_broadcast_ss(x + k), e);
    store_panel(y, b, e, o, n);
}

/* Rows [r, rows) of one product: groups of four full panels, then single panels. */
static inline GRT_AVX2 void panel_rows(float *y, const float *P, const float *b, const float *x, size_t rows,
                                       size_t cols)
{
    size_t r = 0;
    for (; r + 32 <= rows; r += 32)
        panels4(y + r, P + r * cols, b + r, x, cols);
    for (; r < rows; r += 8)
        panel1(y + r, P + r * cols, b + r, x, cols, rows - r < 8 ? rows - r : 8);
}

GRT_AVX2 void grt_matvec_f32_p8_avx2(float *restrict y, const float *restrict P, const float *restrict b,
                                     const float *restrict x, size_t rows, size_t cols)
{
    panel_rows(y, P, b, x, rows, cols);
}

/* Steps per block, and rows per slice: a slice's panels stay in L1 while they are used for the
 * block's steps. */
#define PANEL_SLICE 32

GRT_AVX2 void grt_matmul_f32_p8_avx2(float *restrict Y, size_t ldy, const float *restrict P,
                                     const float *restrict b, const float *restrict X, size_t ldx,
                                     size_t rows, size_t cols, size_t T)
{
    for (size_t t0 = 0; t0 < T; t0 += STEP_BLOCK) {
        size_t t1 = T - t0 < STEP_BLOCK ? T : t0 + STEP_BLOCK;
        for (size_t r = 0; r < rows; r += PANEL_SLICE) {
            size_t n = rows - r < PANEL_SLICE ? rows - r : PANEL_SLICE;
            for (size_t t = t0; t < t1; t++)
                panel_rows(Y + t * ldy + r, P + r * cols, b + r, X + t * ldx, n, cols);
        }
    }
}

#else
typedef int grt_no_avx2_variant; /* ISO C forbids an empty translation unit */
#endif
