/* grt_kernels_q15_avx512vnni.c — the q15 products of the avx512vnni level (docs/QUANTIZATION.md,
 * "q15"): vpdpwssd on 32 columns (zmm), AVX-512BW masked loads for the row tails. Compiled for any
 * x86-64 target through function target attributes and only called after the dispatcher
 * (grt_dispatch.c) found AVX-512F/BW/VL and AVX512_VNNI on the CPU with the OS saving their state. The
 * level's GRU element-wise steps are the AVX2 ones (grt_q15_lanes_avx2).
 *
 * Integer-only, like grt_kernels_q15.c (`make nofloat-x86` checks the object code). Dot products are
 * exact, so equal to the scalar level's: vpmovsxbw widens 32 int8 weights to int16 and vpdpwssd adds
 * the pair products w·x of int16 lanes into sixteen int32 lanes (no saturation). The int32 bound of
 * grt_kernels_q15.c's dot_q15 holds as there: |w·x| <= 128·32768 = 2^22, and a lane (or the lanes added
 * up) sums the products of one block of GRT_Q15_BLOCK = 256 columns at most, so |partial| <= 2^30;
 * each block's four row sums are sign-extended and added in int64 (|acc| <= 2^36).
 *
 * Register blocking: four weight rows × four steps (sixteen accumulators) per pass of the matrix
 * product, four rows × one step otherwise; the missing rows of the last pass repeat its last row. The
 * requantization runs on four int64 lanes (grt_q15_requant4). */
#include "../../grt_internal.h"

#include "../../grt_q15.h"

#if GRT_HAVE_AVX512VNNI && GRT_HAS_Q15

#include <immintrin.h>

#include "grt_q15_requant_avx2.h"
#include "grt_vnni.h"

/* From here on, any floating-point type in this file is a compile error. */
#pragma GCC poison float double __m128 __m256 __m512 __m128d __m256d __m512d

#define GRT_VNNI512 __attribute__((target("avx2,avx512f,avx512bw,avx512vl,avx512vnni")))

static inline __mmask32 mask32(size_t n)
{
    return n >= 32 ? ~(__mmask32)0 : (((__mmask32)1 << n) - 1);
}

/* The first n (<= 32) weights from p widened to int16, zeros after; nothing past p + n is read. */
static inline GRT_VNNI512 __m512i wload(const int8_t *p, size_t n)
{
    return _mm512_cvtepi8_epi16(_mm256_maskz_loadu_epi8(mask32(n), p));
}

static inline GRT_VNNI512 __m512i xload(const int16_t *p, size_t n)
{
    return _mm512_maskz_loadu_epi16(mask32(n), p);
}

#define DP(acc, w, x) _mm512_dpwssd_epi32(acc, w, x)

/* The four rows' block sums (grt_vnni_hsum4_512), sign-extended to int64. */
static inline GRT_VNNI512 __m256i sums64(__m512i a0, __m512i a1, __m512i a2, __m512i a3)
{
    return _mm256_cvtepi32_epi64(grt_vnni_hsum4_512(a0, a1, a2, a3));
}

/* The exact sums of rows w[0..3] (n columns) with x, in int64. Two accumulators per row (even and odd
 * 32-column chunks of a block): one chain of vpdpwssd per row would wait on its latency. */
static inline GRT_VNNI512 __m256i dot4x1(const int8_t *const w[4], const int16_t *x, size_t n)
{
    __m256i acc = _mm256_setzero_si256();
    for (size_t j0 = 0; j0 < n; j0 += GRT_Q15_BLOCK) {
        size_t jb = n - j0 < GRT_Q15_BLOCK ? n : j0 + GRT_Q15_BLOCK, j = j0;
        __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
        for (; j + 64 <= jb; j += 64) {
            __m512i u = xload(x + j, 32), v = xload(x + j + 32, 32);
            a0 = DP(a0, wload(w[0] + j, 32), u), b0 = DP(b0, wload(w[0] + j + 32, 32), v);
            a1 = DP(a1, wload(w[1] + j, 32), u), b1 = DP(b1, wload(w[1] + j + 32, 32), v);
            a2 = DP(a2, wload(w[2] + j, 32), u), b2 = DP(b2, wload(w[2] + j + 32, 32), v);
            a3 = DP(a3, wload(w[3] + j, 32), u), b3 = DP(b3, wload(w[3] + j + 32, 32), v);
        }
        for (; j < jb; j += 32) {
            size_t m = jb - j;
            __m512i xv = xload(x + j, m);
            a0 = DP(a0, wload(w[0] + j, m), xv);
            a1 = DP(a1, wload(w[1] + j, m), xv);
            a2 = DP(a2, wload(w[2] + j, m), xv);
            a3 = DP(a3, wload(w[3] + j, m), xv);
        }
        acc = _mm256_add_epi64(acc, sums64(_mm512_add_epi32(a0, b0), _mm512_add_epi32(a1, b1),
                                           _mm512_add_epi32(a2, b2), _mm512_add_epi32(a3, b3)));
    }
    return acc;
}

/* One 32-column chunk of dot4x4: the four widened weight vectors against one step's x vector. */
#define DP4(a0, a1, a2, a3, xv)                                                                         \
    do {                                                                                                \
        __m512i xv_ = (xv);                                                                             \
        a0 = DP(a0, w0, xv_), a1 = DP(a1, w1, xv_), a2 = DP(a2, w2, xv_), a3 = DP(a3, w3, xv_);         \
    } while (0)

/* Columns [j, jb) of dot4x4 (m of them in the last, maybe partial, chunk of 32 columns). */
#define CHUNK4(m)                                                                                       \
    do {                                                                                                \
        __m512i w0 = wload(w[0] + j, m), w1 = wload(w[1] + j, m);                                       \
        __m512i w2 = wload(w[2] + j, m), w3 = wload(w[3] + j, m);                                       \
        DP4(a00, a01, a02, a03, xload(x + j, m));                                                       \
        DP4(a10, a11, a12, a13, xload(x + ldx + j, m));                                                 \
        DP4(a20, a21, a22, a23, xload(x + 2 * ldx + j, m));                                             \
        DP4(a30, a31, a32, a33, xload(x + 3 * ldx + j, m));                                             \
    } while (0)

/* The same for four steps x[0..3] (ldx apart) at once: out[s] for x[s]. Each widened weight vector
 * serves the four steps. Sixteen accumulators in named registers: gcc keeps an array of them in
 * memory and copies it every chunk. */
static inline GRT_VNNI512 void dot4x4(__m256i out[4], const int8_t *const w[4], const int16_t *x, size_t ldx,
                                      size_t n)
{
    for (int s = 0; s < 4; s++)
        out[s] = _mm256_setzero_si256();
    for (size_t j0 = 0; j0 < n; j0 += GRT_Q15_BLOCK) {
        size_t jb = n - j0 < GRT_Q15_BLOCK ? n : j0 + GRT_Q15_BLOCK;
        __m512i a00 = _mm512_setzero_si512(), a01 = a00, a02 = a00, a03 = a00, a10 = a00, a11 = a00, a12 = a00;
        __m512i a13 = a00, a20 = a00, a21 = a00, a22 = a00, a23 = a00, a30 = a00, a31 = a00, a32 = a00;
        __m512i a33 = a00;
        size_t j = j0;
        for (; j + 32 <= jb; j += 32)
            CHUNK4(32);
        if (j < jb)
            CHUNK4(jb - j);
        out[0] = _mm256_add_epi64(out[0], sums64(a00, a01, a02, a03));
        out[1] = _mm256_add_epi64(out[1], sums64(a10, a11, a12, a13));
        out[2] = _mm256_add_epi64(out[2], sums64(a20, a21, a22, a23));
        out[3] = _mm256_add_epi64(out[3], sums64(a30, a31, a32, a33));
    }
}

/* The k (<= 4) rows' requantized values from their int64 sums (|sum| < 2^31 when n <= 256 columns). */
static inline GRT_VNNI512 void requant_store(int32_t *y, __m256i acc, size_t n, const uint16_t *codes,
                                             const int32_t *b, size_t k)
{
    grt_q15_requant_store4(y, acc, n <= GRT_Q15_BLOCK, codes, b, k);
}

GRT_VNNI512 void grt_q15_matvec_avx512vnni(int32_t *restrict y, const int8_t *restrict W,
                                           const uint16_t *restrict codes, const int32_t *restrict b,
                                           const int16_t *restrict x, size_t rows, size_t cols)
{
    if (cols < GRT_VNNI_MIN_COLS) {
        grt_q15_matvec_avx2(y, W, codes, b, x, rows, cols);
        return;
    }
    for (size_t r = 0; r < rows; r += 4) {
        const int8_t *w[4];
        grt_vnni_rows4(w, W, r, rows, cols);
        requant_store(y + r, dot4x1(w, x, cols), cols, codes + r, b + r, rows - r);
    }
}

/* Steps per block: the four weight rows of a pass stay in L1 for the block's steps. */
#define STEP_BLOCK 16

GRT_VNNI512 void grt_q15_matmul_avx512vnni(int32_t *restrict Y, size_t ldy, const int8_t *restrict W,
                                           const uint16_t *restrict codes, const int32_t *restrict b,
                                           const int16_t *restrict X, size_t ldx, size_t rows, size_t cols,
                                           size_t T)
{
    for (size_t t0 = 0; t0 < T; t0 += STEP_BLOCK) {
        size_t nt = T - t0 < STEP_BLOCK ? T - t0 : STEP_BLOCK;
        for (size_t r = 0; r < rows; r += 4) {
            const int8_t *w[4];
            grt_vnni_rows4(w, W, r, rows, cols);
            size_t t = 0;
            for (; t + 4 <= nt; t += 4) {
                __m256i acc[4];
                dot4x4(acc, w, X + (t0 + t) * ldx, ldx, cols);
                for (size_t s = 0; s < 4; s++)
                    requant_store(Y + (t0 + t + s) * ldy + r, acc[s], cols, codes + r, b + r, rows - r);
            }
            for (; t < nt; t++)
                requant_store(Y + (t0 + t) * ldy + r, dot4x1(w, X + (t0 + t) * ldx, cols), cols, codes + r, b + r,
                              rows - r);
        }
    }
}

#else
typedef int grt_no_q15_avx512vnni_variant; /* ISO C forbids an empty translation unit */
#endif
