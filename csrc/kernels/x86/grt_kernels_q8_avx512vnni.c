/* grt_kernels_q8_avx512vnni.c — the q8 products of the avx512vnni level (docs/QUANTIZATION.md, "q8"):
 * vpdpbusd on 64 columns (zmm), AVX-512BW masked loads for the row tails. Compiled for any x86-64
 * target through function target attributes and only called after the dispatcher (grt_dispatch.c)
 * found AVX-512F/BW/VL and AVX512_VNNI on the CPU with the OS saving their state. The level's input
 * quantization is the AVX2 one (grt_kernels_q8_avx2.c). Bit-identical to the scalar level:
 *
 *   - vpdpbusd multiplies unsigned by signed bytes. The weights are made unsigned on the fly,
 *     w XOR 0x80 = w + 128 in [0, 255], and the activations stay signed: sum (w + 128)·x = w·x +
 *     128·sum x, and sum x is computed once per activation vector (not per row), so the exact w·x is
 *     the dpbusd sum minus 128·sum x. This needs no per-row sum of the weights and so no format
 *     change; the offset of the activations instead (x + 128, signed weights) would need sum w per
 *     row, i.e. either a second vpdpbusd per row chunk or a precomputed sum in the file. The XOR costs
 *     one cheap integer operation per weight vector (any of four ALU ports on Zen 4, while vpdpbusd has
 *     two).
 *   - Exact in int32: |(w + 128)·x| <= 255·127 and cols <= 16384, so every partial sum (a lane, or the
 *     lanes added up) is below 255·127·2^14 < 2^31, and |128·sum x| <= 128·127·2^14 < 2^28.
 *   - Register blocking: four weight rows × four steps (sixteen zmm accumulators) per pass of the matrix
 *     product, four rows × one step for the matrix-vector product and the leftover steps; the missing
 *     rows of the last pass repeat its last row. Each pass reduces its accumulators together.
 *   - The rescale b + ((float)acc·s)·sx is the scalar operations in the scalar order on four lanes; the
 *     target includes FMA (AVX-512F implies it), so an empty asm keeps the product from being fused
 *     with the addition even in a build without -ffp-contract=off. */
#include "../../grt_internal.h"

#include "../../grt_kernels.h"
#include "../../grt_math.h"

#if GRT_HAVE_AVX512VNNI && GRT_HAS_Q8

#include <immintrin.h>

#include "grt_vnni.h"

#define GRT_VNNI512 __attribute__((target("avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni")))

/* The first n (<= 64) bytes from p and zeros; nothing past p + n is read. */
static inline GRT_VNNI512 __m512i load64(const int8_t *p, size_t n)
{
    __mmask64 m = n >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << n) - 1);
    return _mm512_maskz_loadu_epi8(m, p);
}

/* acc + sum over groups of four bytes of (w + 128)·x. */
static inline GRT_VNNI512 __m512i dp(__m512i acc, __m512i w, __m512i x)
{
    return _mm512_dpbusd_epi32(acc, _mm512_xor_si512(w, _mm512_set1_epi8(-128)), x);
}

static inline GRT_VNNI512 __m512i loadu64(const int8_t *p)
{
    return _mm512_loadu_si512((const void *)p);
}

/* The dpbusd sums of rows w[0..3] (n columns) with one x. Two accumulators per row (even and odd
 * 64-column chunks): one chain of vpdpbusd per row would wait on its latency. */
static inline GRT_VNNI512 __m128i dot4x1(const int8_t *const w[4], const int8_t *x, size_t n)
{
    __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
    size_t j = 0;
    for (; j + 128 <= n; j += 128) {
        __m512i u = loadu64(x + j), v = loadu64(x + j + 64);
        a0 = dp(a0, loadu64(w[0] + j), u), b0 = dp(b0, loadu64(w[0] + j + 64), v);
        a1 = dp(a1, loadu64(w[1] + j), u), b1 = dp(b1, loadu64(w[1] + j + 64), v);
        a2 = dp(a2, loadu64(w[2] + j), u), b2 = dp(b2, loadu64(w[2] + j + 64), v);
        a3 = dp(a3, loadu64(w[3] + j), u), b3 = dp(b3, loadu64(w[3] + j + 64), v);
    }
    for (; j < n; j += 64) {
        size_t m = n - j;
        __m512i xv = load64(x + j, m);
        a0 = dp(a0, load64(w[0] + j, m), xv);
        a1 = dp(a1, load64(w[1] + j, m), xv);
        a2 = dp(a2, load64(w[2] + j, m), xv);
        a3 = dp(a3, load64(w[3] + j, m), xv);
    }
    return grt_vnni_hsum4_512(_mm512_add_epi32(a0, b0), _mm512_add_epi32(a1, b1), _mm512_add_epi32(a2, b2),
                              _mm512_add_epi32(a3, b3));
}

/* One 64-column chunk of dot4x4: the four offset weight vectors against step s's x vector. */
#define DP4(a0, a1, a2, a3, xv)                                                                         \
    do {                                                                                                \
        __m512i xv_ = (xv);                                                                             \
        a0 = _mm512_dpbusd_epi32(a0, w0, xv_), a1 = _mm512_dpbusd_epi32(a1, w1, xv_);                   \
        a2 = _mm512_dpbusd_epi32(a2, w2, xv_), a3 = _mm512_dpbusd_epi32(a3, w3, xv_);                   \
    } while (0)

/* The same for four steps x[0..3] at once: out[s] holds the four rows' sums with x[s]. Each weight
 * vector is loaded and offset once for the four steps. Sixteen accumulators in named registers: gcc
 * keeps an array of them in memory and copies it every chunk (measured 1.5-2x slower). */
static inline GRT_VNNI512 void dot4x4(__m128i out[4], const int8_t *const w[4], const int8_t *const x[4], size_t n)
{
    __m512i a00 = _mm512_setzero_si512(), a01 = a00, a02 = a00, a03 = a00, a10 = a00, a11 = a00, a12 = a00;
    __m512i a13 = a00, a20 = a00, a21 = a00, a22 = a00, a23 = a00, a30 = a00, a31 = a00, a32 = a00, a33 = a00;
    const __m512i flip = _mm512_set1_epi8(-128);
    size_t j = 0;
    for (; j + 64 <= n; j += 64) {
        __m512i w0 = _mm512_xor_si512(loadu64(w[0] + j), flip), w1 = _mm512_xor_si512(loadu64(w[1] + j), flip);
        __m512i w2 = _mm512_xor_si512(loadu64(w[2] + j), flip), w3 = _mm512_xor_si512(loadu64(w[3] + j), flip);
        DP4(a00, a01, a02, a03, loadu64(x[0] + j));
        DP4(a10, a11, a12, a13, loadu64(x[1] + j));
        DP4(a20, a21, a22, a23, loadu64(x[2] + j));
        DP4(a30, a31, a32, a33, loadu64(x[3] + j));
    }
    if (j < n) {
        size_t m = n - j;
        __m512i w0 = _mm512_xor_si512(load64(w[0] + j, m), flip), w1 = _mm512_xor_si512(load64(w[1] + j, m), flip);
        __m512i w2 = _mm512_xor_si512(load64(w[2] + j, m), flip), w3 = _mm512_xor_si512(load64(w[3] + j, m), flip);
        DP4(a00, a01, a02, a03, load64(x[0] + j, m)); /* x's zeros meet the offset weights' 128s */
        DP4(a10, a11, a12, a13, load64(x[1] + j, m));
        DP4(a20, a21, a22, a23, load64(x[2] + j, m));
        DP4(a30, a31, a32, a33, load64(x[3] + j, m));
    }
    out[0] = grt_vnni_hsum4_512(a00, a01, a02, a03);
    out[1] = grt_vnni_hsum4_512(a10, a11, a12, a13);
    out[2] = grt_vnni_hsum4_512(a20, a21, a22, a23);
    out[3] = grt_vnni_hsum4_512(a30, a31, a32, a33);
}

/* The k (<= 4) rows' b + ((float)(sum - off)·s)·sx from their dpbusd sums. */
static inline GRT_VNNI512 void rescale_store(float *y, __m128i sum, __m128i off, const uint16_t *codes,
                                             const float *b, float sx, size_t k)
{
    if (k >= 4) {
        __m128i c = _mm_cvtepu16_epi32(_mm_loadl_epi64((const __m128i *)(const void *)codes));
        __m128 s = _mm_castsi128_ps(_mm_slli_epi32(c, 16));
        __m128 p = _mm_mul_ps(_mm_mul_ps(_mm_cvtepi32_ps(_mm_sub_epi32(sum, off)), s), _mm_set1_ps(sx));
        __asm__("" : "+x"(p)); /* no fused multiply-add (see the top of the file) */
        _mm_storeu_ps(y, _mm_add_ps(_mm_loadu_ps(b), p));
        return;
    }
    int32_t acc[4];
    _mm_storeu_si128((__m128i *)(void *)acc, _mm_sub_epi32(sum, off));
    for (size_t i = 0; i < k; i++) {
        float p = ((float)acc[i] * grt_bits_float((uint32_t)codes[i] << 16)) * sx;
        __asm__("" : "+x"(p));
        y[i] = b[i] + p;
    }
}

GRT_VNNI512 void grt_matvec_q8_avx512vnni(float *restrict y, const int8_t *restrict W,
                                          const uint16_t *restrict codes, const float *restrict b,
                                          const int8_t *restrict xq, float sx, size_t rows, size_t cols)
{
    if (cols < GRT_VNNI_MIN_COLS) {
        grt_matvec_q8_avx2(y, W, codes, b, xq, sx, rows, cols);
        return;
    }
    __m128i off = grt_vnni_q8_offset(xq, cols);
    for (size_t r = 0; r < rows; r += 4) {
        const int8_t *w[4];
        grt_vnni_rows4(w, W, r, rows, cols);
        rescale_store(y + r, dot4x1(w, xq, cols), off, codes + r, b + r, sx, rows - r);
    }
}

/* Steps per block: the four weight rows of a pass (at most 64 KiB) stay in L1 for the block's steps. */
#define STEP_BLOCK 16

GRT_VNNI512 void grt_matmul_q8_avx512vnni(float *restrict Y, size_t ldy, const int8_t *restrict W,
                                          const uint16_t *restrict codes, const float *restrict b,
                                          const int8_t *restrict Xq, const float *restrict sx, size_t rows,
                                          size_t cols, size_t T)
{
    __m128i off[STEP_BLOCK];
    for (size_t t0 = 0; t0 < T; t0 += STEP_BLOCK) {
        size_t nt = T - t0 < STEP_BLOCK ? T - t0 : STEP_BLOCK;
        for (size_t t = 0; t < nt; t++)
            off[t] = grt_vnni_q8_offset(Xq + (t0 + t) * cols, cols);
        for (size_t r = 0; r < rows; r += 4) {
            const int8_t *w[4];
            grt_vnni_rows4(w, W, r, rows, cols);
            size_t t = 0;
            for (; t + 4 <= nt; t += 4) {
                const int8_t *x[4];
                __m128i sum[4];
                for (int s = 0; s < 4; s++)
                    x[s] = Xq + (t0 + t + (size_t)s) * cols;
                dot4x4(sum, w, x, cols);
                for (size_t s = 0; s < 4; s++)
                    rescale_store(Y + (t0 + t + s) * ldy + r, sum[s], off[t + s], codes + r, b + r,
                                  sx[t0 + t + s], rows - r);
            }
            for (; t < nt; t++)
                rescale_store(Y + (t0 + t) * ldy + r, dot4x1(w, Xq + (t0 + t) * cols, cols), off[t], codes + r,
                              b + r, sx[t0 + t], rows - r);
        }
    }
}

#else
typedef int grt_no_q8_avx512vnni_variant; /* ISO C forbids an empty translation unit */
#endif
