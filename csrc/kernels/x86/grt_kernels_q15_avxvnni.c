/* grt_kernels_q15_avxvnni.c — the q15 products of the avxvnni level (docs/QUANTIZATION.md, "q15"): the
 * VEX vpdpwssd of AVX-VNNI on 16 columns (ymm). Compiled for any x86-64 target through function target
 * attributes and only called after the dispatcher (grt_dispatch.c) found AVX2 and AVX-VNNI on the CPU.
 * The level's GRU element-wise steps are the AVX2 ones (grt_q15_lanes_avx2).
 *
 * Integer-only (`make nofloat-x86` checks the object code). The arithmetic and its int32 bound are
 * grt_kernels_q15_avx512vnni.c's: exact pair products of int16 lanes (weights widened by vpmovsxbw)
 * added into int32 lanes over blocks of at most GRT_Q15_BLOCK = 256 columns (|partial| <= 2^30), each
 * block's row sums added in int64.
 *
 * Register blocking: four weight rows × two steps (eight accumulators; these cores have sixteen vector
 * registers) per pass of the matrix product, four rows × one step otherwise. Row tails (cols mod 16)
 * use a zero-padded copy of x's tail: weight bytes past the row end then multiply zeros, so the tail
 * load of a row may run into the next row; where it would pass the end of the matrix the tail is copied
 * to a zeroed buffer instead. */
#include "../../grt_internal.h"

#include "../../grt_q15.h"

#if GRT_HAVE_AVXVNNI && GRT_HAS_Q15

#include <immintrin.h>

#include "grt_q15_requant_avx2.h"
#include "grt_vnni.h"

/* From here on, any floating-point type in this file is a compile error. */
#pragma GCC poison float double __m128 __m256 __m128d __m256d

#define GRT_AVXVNNI __attribute__((target("avx2,avxvnni")))

static inline GRT_AVXVNNI __m256i wload(const int8_t *p)
{
    return _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)p));
}

static inline GRT_AVXVNNI __m256i xload(const int16_t *p)
{
    return _mm256_loadu_si256((const __m256i *)(const void *)p);
}

/* 16 weights from p whose first t (< 16) are the row's tail: a direct load while it stays inside the
 * matrix, else the t bytes and zeros. */
static inline GRT_AVXVNNI __m256i w_tail(const int8_t *p, size_t t, const int8_t *end)
{
    if ((size_t)(end - p) >= 16)
        return wload(p);
    int8_t buf[16] = {0};
    grt_memcpy(buf, p, t);
    return wload(buf);
}

/* One step's x: its full 16-column blocks in place and its zero-padded tail. */
typedef struct xvec {
    const int16_t *x;
    __m256i tail;
} xvec;

static inline GRT_AVXVNNI xvec xvec_of(const int16_t *x, size_t n)
{
    size_t jt = n & ~(size_t)15;
    int16_t buf[16] = {0};
    grt_memcpy(buf, x + jt, (n - jt) * sizeof(int16_t));
    xvec v = {x, xload(buf)};
    return v;
}

#define DP(acc, w, x) _mm256_dpwssd_avx_epi32(acc, w, x)

/* The exact sums of rows w[0..3] (n columns) with x, in int64; end: the end of the matrix. Two
 * accumulators per row (even and odd 16-column chunks of a block): one chain of vpdpwssd per row would
 * wait on its latency. */
static inline GRT_AVXVNNI __m256i dot4x1(const int8_t *const w[4], xvec x, size_t n, const int8_t *end)
{
    const size_t nfull = n & ~(size_t)15;
    __m256i acc = _mm256_setzero_si256();
    size_t j = 0;
    do {
        size_t jb = nfull - j > GRT_Q15_BLOCK ? j + GRT_Q15_BLOCK : nfull;
        __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
        for (; j + 32 <= jb; j += 32) {
            __m256i u = xload(x.x + j), v = xload(x.x + j + 16);
            a0 = DP(a0, wload(w[0] + j), u), b0 = DP(b0, wload(w[0] + j + 16), v);
            a1 = DP(a1, wload(w[1] + j), u), b1 = DP(b1, wload(w[1] + j + 16), v);
            a2 = DP(a2, wload(w[2] + j), u), b2 = DP(b2, wload(w[2] + j + 16), v);
            a3 = DP(a3, wload(w[3] + j), u), b3 = DP(b3, wload(w[3] + j + 16), v);
        }
        if (j < jb) { /* one 16-column chunk left in the block */
            __m256i u = xload(x.x + j);
            a0 = DP(a0, wload(w[0] + j), u), a1 = DP(a1, wload(w[1] + j), u);
            a2 = DP(a2, wload(w[2] + j), u), a3 = DP(a3, wload(w[3] + j), u);
            j += 16;
        }
        if (j == nfull && j < n) { /* the tail joins the last block: at most 271 columns */
            size_t t = n - j;
            b0 = DP(b0, w_tail(w[0] + j, t, end), x.tail), b1 = DP(b1, w_tail(w[1] + j, t, end), x.tail);
            b2 = DP(b2, w_tail(w[2] + j, t, end), x.tail), b3 = DP(b3, w_tail(w[3] + j, t, end), x.tail);
        }
        __m128i s = grt_vnni_hsum4(_mm256_add_epi32(a0, b0), _mm256_add_epi32(a1, b1), _mm256_add_epi32(a2, b2),
                                   _mm256_add_epi32(a3, b3));
        acc = _mm256_add_epi64(acc, _mm256_cvtepi32_epi64(s));
    } while (j < nfull);
    return acc;
}

/* Four rows × two steps: each widened weight vector serves both steps. */
static inline GRT_AVXVNNI void dot4x2(__m256i out[2], const int8_t *const w[4], xvec x0, xvec x1, size_t n,
                                      const int8_t *end)
{
    const size_t nfull = n & ~(size_t)15;
    out[0] = out[1] = _mm256_setzero_si256();
    size_t j = 0;
    do {
        size_t jb = nfull - j > GRT_Q15_BLOCK ? j + GRT_Q15_BLOCK : nfull;
        __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
        for (; j < jb; j += 16) {
            __m256i u = xload(x0.x + j), v = xload(x1.x + j);
            __m256i w0 = wload(w[0] + j), w1 = wload(w[1] + j), w2 = wload(w[2] + j), w3 = wload(w[3] + j);
            a0 = DP(a0, w0, u), b0 = DP(b0, w0, v), a1 = DP(a1, w1, u), b1 = DP(b1, w1, v);
            a2 = DP(a2, w2, u), b2 = DP(b2, w2, v), a3 = DP(a3, w3, u), b3 = DP(b3, w3, v);
        }
        if (j == nfull && j < n) {
            size_t t = n - j;
            __m256i w0 = w_tail(w[0] + j, t, end), w1 = w_tail(w[1] + j, t, end);
            __m256i w2 = w_tail(w[2] + j, t, end), w3 = w_tail(w[3] + j, t, end);
            a0 = DP(a0, w0, x0.tail), b0 = DP(b0, w0, x1.tail), a1 = DP(a1, w1, x0.tail), b1 = DP(b1, w1, x1.tail);
            a2 = DP(a2, w2, x0.tail), b2 = DP(b2, w2, x1.tail), a3 = DP(a3, w3, x0.tail), b3 = DP(b3, w3, x1.tail);
        }
        out[0] = _mm256_add_epi64(out[0], _mm256_cvtepi32_epi64(grt_vnni_hsum4(a0, a1, a2, a3)));
        out[1] = _mm256_add_epi64(out[1], _mm256_cvtepi32_epi64(grt_vnni_hsum4(b0, b1, b2, b3)));
    } while (j < nfull);
}

/* The k (<= 4) rows' requantized values from their int64 sums (|sum| < 2^31 when n <= 271 columns). */
static inline GRT_AVXVNNI void requant_store(int32_t *y, __m256i acc, size_t n, const uint16_t *codes,
                                             const int32_t *b, size_t k)
{
    grt_q15_requant_store4(y, acc, n <= GRT_Q15_BLOCK + 15, codes, b, k);
}

GRT_AVXVNNI void grt_q15_matvec_avxvnni(int32_t *restrict y, const int8_t *restrict W,
                                        const uint16_t *restrict codes, const int32_t *restrict b,
                                        const int16_t *restrict x, size_t rows, size_t cols)
{
    if (cols < GRT_VNNI_MIN_COLS) {
        grt_q15_matvec_avx2(y, W, codes, b, x, rows, cols);
        return;
    }
    const int8_t *end = W + rows * cols;
    xvec xv = xvec_of(x, cols);
    for (size_t r = 0; r < rows; r += 4) {
        const int8_t *w[4];
        grt_vnni_rows4(w, W, r, rows, cols);
        requant_store(y + r, dot4x1(w, xv, cols, end), cols, codes + r, b + r, rows - r);
    }
}

/* Steps per block: the four weight rows of a pass stay in L1 for the block's steps. */
#define STEP_BLOCK 16

GRT_AVXVNNI void grt_q15_matmul_avxvnni(int32_t *restrict Y, size_t ldy, const int8_t *restrict W,
                                        const uint16_t *restrict codes, const int32_t *restrict b,
                                        const int16_t *restrict X, size_t ldx, size_t rows, size_t cols, size_t T)
{
    const int8_t *end = W + rows * cols;
    xvec x[STEP_BLOCK];
    for (size_t t0 = 0; t0 < T; t0 += STEP_BLOCK) {
        size_t nt = T - t0 < STEP_BLOCK ? T - t0 : STEP_BLOCK;
        for (size_t t = 0; t < nt; t++)
            x[t] = xvec_of(X + (t0 + t) * ldx, cols);
        for (size_t r = 0; r < rows; r += 4) {
            const int8_t *w[4];
            grt_vnni_rows4(w, W, r, rows, cols);
            size_t t = 0;
            for (; t + 2 <= nt; t += 2) {
                __m256i acc[2];
                dot4x2(acc, w, x[t], x[t + 1], cols, end);
                requant_store(Y + (t0 + t) * ldy + r, acc[0], cols, codes + r, b + r, rows - r);
                requant_store(Y + (t0 + t + 1) * ldy + r, acc[1], cols, codes + r, b + r, rows - r);
            }
            if (t < nt)
                requant_store(Y + (t0 + t) * ldy + r, dot4x1(w, x[t], cols, end), cols, codes + r, b + r, rows - r);
        }
    }
}

#else
typedef int grt_no_q15_avxvnni_variant; /* ISO C forbids an empty translation unit */
#endif
