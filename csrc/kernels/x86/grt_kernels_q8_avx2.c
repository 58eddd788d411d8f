/* grt_kernels_q8_avx2.c — the AVX2 level of the q8 kernels (docs/QUANTIZATION.md, "q8"), compiled for
 * any x86-64 target through function target attributes (the build uses no -march flag) and only called
 * after the dispatcher (grt_dispatch.c) found AVX2 on the CPU. Bit-identical to the scalar level
 * (grt_kernels_q8.c):
 *
 *   - input quantization: max|x| on the bits (vpand, vpmaxud: the same unsigned order as the scalar
 *     loop), the two scalar divisions as written, then x_k·inv (vmulps: the same single rounding as
 *     mulss), clamp, NaN -> 0 and round_away on 8 lanes; only the resulting integers are stored, and
 *     they are the contract's for every float, so any exact way of rounding gives the same bytes;
 *   - dot products: exact int32 (the order of an exact sum is free). 32 columns at a time per row:
 *     vpmaddubsw(|w|, sign(x, w)) gives exact int16 pair sums (|w| <= 128 unsigned, |x| <= 127, so a
 *     pair is at most 2·128·127 = 32512: never saturates, -128 weights included), vpmaddwd with ones
 *     widens them to int32 lanes; |acc| <= 128·127·16384 < 2^31. Four rows per pass share each x load
 *     and their eight-lane accumulators are reduced together (three vphaddd); the matrix product
 *     takes two steps per pass (four rows × two steps), sharing each weight load and |w|. The offset
 *     trick of the VNNI levels (unsigned w + 128 against signed x, minus 128·sum x) does not fit
 *     vpmaddubsw: its int16 pair sums saturate (2·255·127 > 32767), so the sign work stays;
 *   - rescale: b + ((float)acc · s) · sx as vcvtdq2ps, vmulps, vmulps, vaddps — the scalar operations
 *     in the scalar order. No FMA: the target is "avx2" without "fma", so nothing can be contracted
 *     even without -ffp-contract=off.
 *
 * Row tails (cols mod 32 columns) use a zero-padded copy of x's tail: weight bytes past the row end
 * then multiply zeros (vpsignb gives 0 where x is 0), so the tail load of a row may run into the next
 * row; where it would pass the end of the matrix the tail is copied to a zeroed buffer instead. */
#include "../../grt_internal.h"

#include "../../grt_kernels.h"
#include "../../grt_math.h"

#if GRT_HAVE_AVX2 && GRT_HAS_Q8

#include <immintrin.h>

#define GRT_AVX2 __attribute__((target("avx2")))

/* ---- input quantization ------------------------------------------------------------------------ */

/* The scalar level's quantize_one, for the last n mod 8 elements. */
static inline int8_t quantize_one(float p)
{
    p = p > 127.0f ? 127.0f : p;
    p = p < -127.0f ? -127.0f : p;
    p = p == p ? p : 0.0f;
    int32_t t = (int32_t)p; /* truncates; |p| <= 127 */
    float d = p - (float)t; /* exact */
    return (int8_t)(t + (d >= 0.5f) - (d <= -0.5f));
}

/* round_away(clamp(p, -127, 127)), NaN -> 0, on 8 lanes (int32 results). The clamp is min/max (for a
 * non-NaN p the same value as the scalar comparisons; a NaN lane is zeroed by the mask either way). */
static inline GRT_AVX2 __m256i quantize8(__m256 p)
{
    __m256 nan = _mm256_cmp_ps(p, p, _CMP_UNORD_Q);
    p = _mm256_min_ps(p, _mm256_set1_ps(127.0f));
    p = _mm256_max_ps(p, _mm256_set1_ps(-127.0f));
    p = _mm256_andnot_ps(nan, p);
    __m256i t = _mm256_cvttps_epi32(p);                /* truncates */
    __m256 d = _mm256_sub_ps(p, _mm256_cvtepi32_ps(t)); /* exact */
    __m256i up = _mm256_castps_si256(_mm256_cmp_ps(d, _mm256_set1_ps(0.5f), _CMP_GE_OQ));
    __m256i down = _mm256_castps_si256(_mm256_cmp_ps(d, _mm256_set1_ps(-0.5f), _CMP_LE_OQ));
    return _mm256_add_epi32(_mm256_sub_epi32(t, up), down); /* the masks are -1 where true */
}

GRT_AVX2 float grt_q8_quantize_avx2(int8_t *restrict xq, const float *restrict x, size_t n)
{
    /* max|x_k| on the bits: sign-cleared floats compare as unsigned integers, NaN above +inf. */
    const __m256i abs_mask = _mm256_set1_epi32(0x7FFFFFFF);
    __m256i mv = _mm256_setzero_si256();
    size_t k = 0;
    for (; k + 8 <= n; k += 8)
        mv = _mm256_max_epu32(mv, _mm256_and_si256(_mm256_castps_si256(_mm256_loadu_ps(x + k)), abs_mask));
    __m128i m4 = _mm_max_epu32(_mm256_castsi256_si128(mv), _mm256_extracti128_si256(mv, 1));
    m4 = _mm_max_epu32(m4, _mm_shuffle_epi32(m4, 0x4E));
    m4 = _mm_max_epu32(m4, _mm_shuffle_epi32(m4, 0xB1));
    uint32_t mb = (uint32_t)_mm_cvtsi128_si32(m4);
    for (; k < n; k++) {
        uint32_t u = grt_float_bits(x[k]) & 0x7FFFFFFFu;
        mb = u > mb ? u : mb;
    }
    float m = grt_bits_float(mb);
    float inv = 0.0f, sx = m; /* m = 0 or NaN */
    if (m > 0.0f) {
        inv = 127.0f / m;
        sx = m / 127.0f;
    }

    const __m256 vinv = _mm256_set1_ps(inv);
    /* After the two packs, the dwords of a 32-byte block are q0[0:4] q1[0:4] q2[0:4] q3[0:4] q0[4:8]
     * q1[4:8] q2[4:8] q3[4:8]; the permutation puts them in order. Values are within int8 already. */
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    k = 0;
    for (; k + 32 <= n; k += 32) {
        __m256i q0 = quantize8(_mm256_mul_ps(_mm256_loadu_ps(x + k), vinv));
        __m256i q1 = quantize8(_mm256_mul_ps(_mm256_loadu_ps(x + k + 8), vinv));
        __m256i q2 = quantize8(_mm256_mul_ps(_mm256_loadu_ps(x + k + 16), vinv));
        __m256i q3 = quantize8(_mm256_mul_ps(_mm256_loadu_ps(x + k + 24), vinv));
        __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(q0, q1), _mm256_packs_epi32(q2, q3));
        _mm256_storeu_si256((__m256i *)(void *)(xq + k), _mm256_permutevar8x32_epi32(p, order));
    }
    for (; k + 8 <= n; k += 8) {
        __m256i q = quantize8(_mm256_mul_ps(_mm256_loadu_ps(x + k), vinv));
        __m128i p = _mm_packs_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
        _mm_storel_epi64((__m128i *)(void *)(xq + k), _mm_packs_epi16(p, p));
    }
    for (; k < n; k++)
        xq[k] = quantize_one(x[k] * inv);
    return sx;
}

/* ---- products ---------------------------------------------------------------------------------- */

static inline GRT_AVX2 __m256i load32(const int8_t *p)
{
    return _mm256_loadu_si256((const __m256i *)(const void *)p);
}

/* x[j0 : j0 + t] (t < 32) and zeros. */
static inline GRT_AVX2 __m256i x_tail(const int8_t *x, size_t t)
{
    int8_t buf[32] = {0};
    grt_memcpy(buf, x, t);
    return load32(buf);
}

/* 32 bytes from p whose first t (< 32) are the row's tail: a direct load while it stays inside the
 * matrix (the bytes after the tail meet zeros of x), else the t bytes and zeros. */
static inline GRT_AVX2 __m256i w_tail(const int8_t *p, size_t t, const int8_t *end)
{
    if ((size_t)(end - p) >= 32)
        return load32(p);
    return x_tail(p, t);
}

/* acc + the int32 pair sums of w·x over 32 columns (exact for |x| <= 127). */
static inline GRT_AVX2 __m256i mac(__m256i acc, __m256i w, __m256i x)
{
    __m256i pairs = _mm256_maddubs_epi16(_mm256_abs_epi8(w), _mm256_sign_epi8(x, w));
    return _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, _mm256_set1_epi16(1)));
}

/* (sum a0, sum a1, sum a2, sum a3) of four eight-lane accumulators. */
static inline GRT_AVX2 __m128i hsum4(__m256i a0, __m256i a1, __m256i a2, __m256i a3)
{
    __m256i s = _mm256_hadd_epi32(_mm256_hadd_epi32(a0, a1), _mm256_hadd_epi32(a2, a3));
    return _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
}

/* The exact dot products of rows w0..w3 (n columns each) with x; xt is x's tail (n mod 32 columns)
 * zero-padded, end the end of the matrix. */
static inline GRT_AVX2 __m128i dot4(const int8_t *w0, const int8_t *w1, const int8_t *w2, const int8_t *w3,
                                    const int8_t *x, size_t n, __m256i xt, const int8_t *end)
{
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
    size_t j = 0;
    for (; j + 32 <= n; j += 32) {
        __m256i xv = load32(x + j);
        a0 = mac(a0, load32(w0 + j), xv);
        a1 = mac(a1, load32(w1 + j), xv);
        a2 = mac(a2, load32(w2 + j), xv);
        a3 = mac(a3, load32(w3 + j), xv);
    }
    if (j < n) {
        size_t t = n - j;
        a0 = mac(a0, w_tail(w0 + j, t, end), xt);
        a1 = mac(a1, w_tail(w1 + j, t, end), xt);
        a2 = mac(a2, w_tail(w2 + j, t, end), xt);
        a3 = mac(a3, w_tail(w3 + j, t, end), xt);
    }
    return hsum4(a0, a1, a2, a3);
}

/* mac() of one weight vector with two steps' x (u, v) into a and b, |w| taken once. */
static inline GRT_AVX2 void mac2(__m256i *a, __m256i *b, __m256i w, __m256i u, __m256i v)
{
    const __m256i aw = _mm256_abs_epi8(w), ones = _mm256_set1_epi16(1);
    *a = _mm256_add_epi32(*a, _mm256_madd_epi16(_mm256_maddubs_epi16(aw, _mm256_sign_epi8(u, w)), ones));
    *b = _mm256_add_epi32(*b, _mm256_madd_epi16(_mm256_maddubs_epi16(aw, _mm256_sign_epi8(v, w)), ones));
}

/* dot4 for two steps x0, x1 at once (four rows × two steps, eight accumulators): each weight vector is
 * loaded and its |w| taken once for both steps. */
static inline GRT_AVX2 void dot4x2(__m128i out[2], const int8_t *const w[4], const int8_t *x0, const int8_t *x1,
                                   size_t n, __m256i xt0, __m256i xt1, const int8_t *end)
{
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
    size_t j = 0;
    for (; j + 32 <= n; j += 32) {
        __m256i u = load32(x0 + j), v = load32(x1 + j);
        mac2(&a0, &b0, load32(w[0] + j), u, v);
        mac2(&a1, &b1, load32(w[1] + j), u, v);
        mac2(&a2, &b2, load32(w[2] + j), u, v);
        mac2(&a3, &b3, load32(w[3] + j), u, v);
    }
    if (j < n) {
        size_t t = n - j;
        mac2(&a0, &b0, w_tail(w[0] + j, t, end), xt0, xt1);
        mac2(&a1, &b1, w_tail(w[1] + j, t, end), xt0, xt1);
        mac2(&a2, &b2, w_tail(w[2] + j, t, end), xt0, xt1);
        mac2(&a3, &b3, w_tail(w[3] + j, t, end), xt0, xt1);
    }
    out[0] = hsum4(a0, a1, a2, a3);
    out[1] = hsum4(b0, b1, b2, b3);
}

/* Four rows' b + ((float)acc · s) · sx. */
static inline GRT_AVX2 __m128 rescale4(__m128i acc, const uint16_t *codes, const float *b, __m128 vsx)
{
    __m128i c = _mm_cvtepu16_epi32(_mm_loadl_epi64((const __m128i *)(const void *)codes));
    __m128 s = _mm_castsi128_ps(_mm_slli_epi32(c, 16));
    return _mm_add_ps(_mm_loadu_ps(b), _mm_mul_ps(_mm_mul_ps(_mm_cvtepi32_ps(acc), s), vsx));
}

static inline float rescale(int32_t acc, uint16_t code, float b, float sx)
{
    return b + ((float)acc * grt_bits_float((uint32_t)code << 16)) * sx;
}

/* Rows r .. r + k - 1 (k = rows - r in 1..3, the last ones): one four-row pass in which the missing
 * rows repeat the last row, then the k results one at a time. */
static inline GRT_AVX2 void partial_rows(float *y, const int8_t *W, const uint16_t *codes, const float *b,
                                         const int8_t *x, float sx, size_t r, size_t rows, size_t cols,
                                         __m256i xt, const int8_t *end)
{
    const int8_t *w0 = W + r * cols, *w1 = r + 1 < rows ? w0 + cols : w0;
    const int8_t *w2 = r + 2 < rows ? w1 + cols : w1;
    int32_t acc[4];
    _mm_storeu_si128((__m128i *)(void *)acc, dot4(w0, w1, w2, w2, x, cols, xt, end));
    for (size_t k = 0; r + k < rows; k++)
        y[k] = rescale(acc[k], codes[r + k], b[r + k], sx);
}

GRT_AVX2 void grt_matvec_q8_avx2(float *restrict y, const int8_t *restrict W, const uint16_t *restrict codes,
                                 const float *restrict b, const int8_t *restrict xq, float sx, size_t rows,
                                 size_t cols)
{
    const int8_t *end = W + rows * cols;
    size_t jt = cols & ~(size_t)31;
    __m256i xt = x_tail(xq + jt, cols - jt);
    __m128 vsx = _mm_set1_ps(sx);
    size_t r = 0;
    for (; r + 4 <= rows; r += 4) {
        const int8_t *w = W + r * cols;
        __m128i acc = dot4(w, w + cols, w + 2 * cols, w + 3 * cols, xq, cols, xt, end);
        _mm_storeu_ps(y + r, rescale4(acc, codes + r, b + r, vsx));
    }
    if (r < rows)
        partial_rows(y + r, W, codes, b, xq, sx, r, rows, cols, xt, end);
}

/* Steps per block: the block's four weight rows stay in L1 while they are used for its steps. */
#define STEP_BLOCK 8

GRT_AVX2 void grt_matmul_q8_avx2(float *restrict Y, size_t ldy, const int8_t *restrict W,
                                 const uint16_t *restrict codes, const float *restrict b,
                                 const int8_t *restrict Xq, const float *restrict sx, size_t rows, size_t cols,
                                 size_t T)
{
    const int8_t *end = W + rows * cols;
    size_t jt = cols & ~(size_t)31;
    __m256i xt[STEP_BLOCK];
    for (size_t t0 = 0; t0 < T; t0 += STEP_BLOCK) {
        size_t nt = T - t0 < STEP_BLOCK ? T - t0 : STEP_BLOCK;
        for (size_t t = 0; t < nt; t++)
            xt[t] = x_tail(Xq + (t0 + t) * cols + jt, cols - jt);
        size_t r = 0;
        for (; r + 4 <= rows; r += 4) {
            const int8_t *w = W + r * cols, *w4[4] = {w, w + cols, w + 2 * cols, w + 3 * cols};
            size_t t = 0;
            for (; t + 2 <= nt; t += 2) {
                const int8_t *x = Xq + (t0 + t) * cols;
                __m128i acc[2];
                dot4x2(acc, w4, x, x + cols, cols, xt[t], xt[t + 1], end);
                _mm_storeu_ps(Y + (t0 + t) * ldy + r, rescale4(acc[0], codes + r, b + r, _mm_set1_ps(sx[t0 + t])));
                _mm_storeu_ps(Y + (t0 + t + 1) * ldy + r,
                              rescale4(acc[1], codes + r, b + r, _mm_set1_ps(sx[t0 + t + 1])));
            }
            if (t < nt) {
                const int8_t *x = Xq + (t0 + t) * cols;
                __m128i acc = dot4(w, w + cols, w + 2 * cols, w + 3 * cols, x, cols, xt[t], end);
                _mm_storeu_ps(Y + (t0 + t) * ldy + r, rescale4(acc, codes + r, b + r, _mm_set1_ps(sx[t0 + t])));
            }
        }
        if (r < rows)
            for (size_t t = 0; t < nt; t++)
                partial_rows(Y + (t0 + t) * ldy + r, W, codes, b, Xq + (t0 + t) * cols, sx[t0 + t], r, rows,
                             cols, xt[t], end);
    }
}

#else
typedef int grt_no_q8_avx2_variant; /* ISO C forbids an empty translation unit */
#endif
