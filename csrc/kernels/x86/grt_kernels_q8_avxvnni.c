/* grt_kernels_q8_avxvnni.c — the q8 products of the avxvnni level (docs/QUANTIZATION.md, "q8"): the
 * VEX vpdpbusd of AVX-VNNI on 32 columns (ymm; cores with AVX-VNNI but no AVX-512 have sixteen vector
 * registers). Compiled for any x86-64 target through function target attributes and only called after
 * the dispatcher (grt_dispatch.c) found AVX2 and AVX-VNNI on the CPU. The level's input quantization
 * is the AVX2 one. The arithmetic is grt_kernels_q8_avx512vnni.c's (see there why the weights, not the
 * activations, take the +128 offset, and the int32 bound): sum (w XOR 0x80)·x - 128·sum x = w·x exactly.
 *
 * Register blocking: four weight rows × two steps (eight accumulators) per pass of the matrix product,
 * four rows × one step otherwise. Row tails (cols mod 32) use a zero-padded copy of x's tail: the
 * offset weight bytes past the row end then multiply zeros, so the tail load of a row may run into the
 * next row; where it would pass the end of the matrix the tail is copied to a zeroed buffer instead.
 * The rescale is the scalar operations in the scalar order (target without FMA). */
#include "../../grt_internal.h"

#include "../../grt_kernels.h"
#include "../../grt_math.h"

#if GRT_HAVE_AVXVNNI && GRT_HAS_Q8

#include <immintrin.h>

#include "grt_vnni.h"

#define GRT_AVXVNNI __attribute__((target("avx2,avxvnni")))

static inline GRT_AVXVNNI __m256i load32(const int8_t *p)
{
    return _mm256_loadu_si256((const __m256i *)(const void *)p);
}

/* p[0 : t] (t < 32) and zeros. */
static inline GRT_AVXVNNI __m256i tail32(const int8_t *p, size_t t)
{
    int8_t buf[32] = {0};
    grt_memcpy(buf, p, t);
    return load32(buf);
}

/* 32 bytes from p whose first t (< 32) are the row's tail: a direct load while it stays inside the
 * matrix, else the t bytes and zeros. */
static inline GRT_AVXVNNI __m256i w_tail(const int8_t *p, size_t t, const int8_t *end)
{
    return (size_t)(end - p) >= 32 ? load32(p) : tail32(p, t);
}

static inline GRT_AVXVNNI __m256i flip(__m256i w)
{
    return _mm256_xor_si256(w, _mm256_set1_epi8(-128));
}

/* One step's x: its full 32-column blocks in place and its zero-padded tail. */
typedef struct xvec {
    const int8_t *x;
    __m256i tail;
} xvec;

static inline GRT_AVXVNNI xvec xvec_of(const int8_t *x, size_t n)
{
    size_t jt = n & ~(size_t)31;
    xvec v = {x, tail32(x + jt, n - jt)};
    return v;
}

#define DP(acc, w, x) _mm256_dpbusd_avx_epi32(acc, flip(w), x)

/* The dpbusd sums of rows w[0..3] (n columns) with x; end: the end of the matrix. Two accumulators per
 * row (even and odd 32-column chunks): one chain of vpdpbusd per row would wait on its latency. */
static inline GRT_AVXVNNI __m128i dot4x1(const int8_t *const w[4], xvec x, size_t n, const int8_t *end)
{
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
    size_t j = 0;
    for (; j + 64 <= n; j += 64) {
        __m256i u = load32(x.x + j), v = load32(x.x + j + 32);
        a0 = DP(a0, load32(w[0] + j), u), b0 = DP(b0, load32(w[0] + j + 32), v);
        a1 = DP(a1, load32(w[1] + j), u), b1 = DP(b1, load32(w[1] + j + 32), v);
        a2 = DP(a2, load32(w[2] + j), u), b2 = DP(b2, load32(w[2] + j + 32), v);
        a3 = DP(a3, load32(w[3] + j), u), b3 = DP(b3, load32(w[3] + j + 32), v);
    }
    if (j + 32 <= n) {
        __m256i u = load32(x.x + j);
        a0 = DP(a0, load32(w[0] + j), u), a1 = DP(a1, load32(w[1] + j), u);
        a2 = DP(a2, load32(w[2] + j), u), a3 = DP(a3, load32(w[3] + j), u);
        j += 32;
    }
    if (j < n) {
        size_t t = n - j;
        b0 = DP(b0, w_tail(w[0] + j, t, end), x.tail), b1 = DP(b1, w_tail(w[1] + j, t, end), x.tail);
        b2 = DP(b2, w_tail(w[2] + j, t, end), x.tail), b3 = DP(b3, w_tail(w[3] + j, t, end), x.tail);
    }
    return grt_vnni_hsum4(_mm256_add_epi32(a0, b0), _mm256_add_epi32(a1, b1), _mm256_add_epi32(a2, b2),
                          _mm256_add_epi32(a3, b3));
}

/* Four rows × two steps: each offset weight vector serves both steps. */
static inline GRT_AVXVNNI void dot4x2(__m128i out[2], const int8_t *const w[4], xvec x0, xvec x1, size_t n,
                                      const int8_t *end)
{
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
    size_t j = 0;
    for (; j + 32 <= n; j += 32) {
        __m256i u = load32(x0.x + j), v = load32(x1.x + j);
        __m256i w0 = flip(load32(w[0] + j)), w1 = flip(load32(w[1] + j));
        __m256i w2 = flip(load32(w[2] + j)), w3 = flip(load32(w[3] + j));
        a0 = _mm256_dpbusd_avx_epi32(a0, w0, u), b0 = _mm256_dpbusd_avx_epi32(b0, w0, v);
        a1 = _mm256_dpbusd_avx_epi32(a1, w1, u), b1 = _mm256_dpbusd_avx_epi32(b1, w1, v);
        a2 = _mm256_dpbusd_avx_epi32(a2, w2, u), b2 = _mm256_dpbusd_avx_epi32(b2, w2, v);
        a3 = _mm256_dpbusd_avx_epi32(a3, w3, u), b3 = _mm256_dpbusd_avx_epi32(b3, w3, v);
    }
    if (j < n) {
        size_t t = n - j;
        __m256i w0 = flip(w_tail(w[0] + j, t, end)), w1 = flip(w_tail(w[1] + j, t, end));
        __m256i w2 = flip(w_tail(w[2] + j, t, end)), w3 = flip(w_tail(w[3] + j, t, end));
        a0 = _mm256_dpbusd_avx_epi32(a0, w0, x0.tail), b0 = _mm256_dpbusd_avx_epi32(b0, w0, x1.tail);
        a1 = _mm256_dpbusd_avx_epi32(a1, w1, x0.tail), b1 = _mm256_dpbusd_avx_epi32(b1, w1, x1.tail);
        a2 = _mm256_dpbusd_avx_epi32(a2, w2, x0.tail), b2 = _mm256_dpbusd_avx_epi32(b2, w2, x1.tail);
        a3 = _mm256_dpbusd_avx_epi32(a3, w3, x0.tail), b3 = _mm256_dpbusd_avx_epi32(b3, w3, x1.tail);
    }
    out[0] = grt_vnni_hsum4(a0, a1, a2, a3);
    out[1] = grt_vnni_hsum4(b0, b1, b2, b3);
}

/* The k (<= 4) rows' b + ((float)(sum - off)·s)·sx from their dpbusd sums. */
static inline GRT_AVXVNNI void rescale_store(float *y, __m128i sum, __m128i off, const uint16_t *codes,
                                             const float *b, float sx, size_t k)
{
    __m128i acc = _mm_sub_epi32(sum, off);
    if (k >= 4) {
        __m128i c = _mm_cvtepu16_epi32(_mm_loadl_epi64((const __m128i *)(const void *)codes));
        __m128 s = _mm_castsi128_ps(_mm_slli_epi32(c, 16));
        _mm_storeu_ps(y, _mm_add_ps(_mm_loadu_ps(b), _mm_mul_ps(_mm_mul_ps(_mm_cvtepi32_ps(acc), s), _mm_set1_ps(sx))));
        return;
    }
    int32_t a[4];
    _mm_storeu_si128((__m128i *)(void *)a, acc);
    for (size_t i = 0; i < k; i++)
        y[i] = b[i] + ((float)a[i] * grt_bits_float((uint32_t)codes[i] << 16)) * sx;
}

GRT_AVXVNNI void grt_matvec_q8_avxvnni(float *restrict y, const int8_t *restrict W, const uint16_t *restrict codes,
                                       const float *restrict b, const int8_t *restrict xq, float sx, size_t rows,
                                       size_t cols)
{
    if (cols < GRT_VNNI_MIN_COLS) {
        grt_matvec_q8_avx2(y, W, codes, b, xq, sx, rows, cols);
        return;
    }
    const int8_t *end = W + rows * cols;
    __m128i off = grt_vnni_q8_offset(xq, cols);
    xvec x = xvec_of(xq, cols);
    for (size_t r = 0; r < rows; r += 4) {
        const int8_t *w[4];
        grt_vnni_rows4(w, W, r, rows, cols);
        rescale_store(y + r, dot4x1(w, x, cols, end), off, codes + r, b + r, sx, rows - r);
    }
}

/* Steps per block: the four weight rows of a pass stay in L1 for the block's steps. */
#define STEP_BLOCK 16

GRT_AVXVNNI void grt_matmul_q8_avxvnni(float *restrict Y, size_t ldy, const int8_t *restrict W,
                                       const uint16_t *restrict codes, const float *restrict b,
                                       const int8_t *restrict Xq, const float *restrict sx, size_t rows, size_t cols,
                                       size_t T)
{
    const int8_t *end = W + rows * cols;
    __m128i off[STEP_BLOCK];
    xvec x[STEP_BLOCK];
    for (size_t t0 = 0; t0 < T; t0 += STEP_BLOCK) {
        size_t nt = T - t0 < STEP_BLOCK ? T - t0 : STEP_BLOCK;
        for (size_t t = 0; t < nt; t++) {
            off[t] = grt_vnni_q8_offset(Xq + (t0 + t) * cols, cols);
            x[t] = xvec_of(Xq + (t0 + t) * cols, cols);
        }
        for (size_t r = 0; r < rows; r += 4) {
            const int8_t *w[4];
            grt_vnni_rows4(w, W, r, rows, cols);
            size_t t = 0;
            for (; t + 2 <= nt; t += 2) {
                __m128i sum[2];
                dot4x2(sum, w, x[t], x[t + 1], cols, end);
                rescale_store(Y + (t0 + t) * ldy + r, sum[0], off[t], codes + r, b + r, sx[t0 + t], rows - r);
                rescale_store(Y + (t0 + t + 1) * ldy + r, sum[1], off[t + 1], codes + r, b + r, sx[t0 + t + 1],
                              rows - r);
            }
            if (t < nt)
                rescale_store(Y + (t0 + t) * ldy + r, dot4x1(w, x[t], cols, end), off[t], codes + r, b + r,
                              sx[t0 + t], rows - r);
        }
    }
}

#else
typedef int grt_no_q8_avxvnni_variant; /* ISO C forbids an empty translation unit */
#endif
