/* grt_kernels_q15_avx2.c — the AVX2 level of the q15 products (docs/QUANTIZATION.md, "q15"), compiled
 * for any x86-64 target through function target attributes (the build uses no -march flag) and only
 * called after the dispatcher (grt_dispatch.c) found AVX2 on the CPU.
 *
 * Integer-only, like grt_kernels_q15.c: no floating-point type or operation (only __m256i/__m128i
 * integer intrinsics). It cannot take part in `make nofloat` (an x86 file, and -mgeneral-regs-only
 * forbids the vector registers it exists for); `make nofloat-x86` checks its object code instead.
 *
 * Dot products, exact, so equal to the scalar level's whatever the order: 16 columns at a time per
 * row, vpmovsxbw widens 16 int8 weights to int16 and vpmaddwd multiplies them with 16 int16 inputs into
 * eight int32 pair sums (|pair| <= 2·128·32768 = 2^23). Four rows per pass share each x load. The
 * int32 lanes cover blocks of at most GRT_Q15_BLOCK + 15 columns: a block's whole sum (all eight lanes
 * of a row) is at most 271·2^22 < 2^31, so the four rows' lanes are reduced in int32 (vphaddd) once
 * per block, sign-extended (vpmovsxdq) and added to four int64 sums. The requantization
 * (grt_q15_requant) runs on the four int64 lanes too (requant4).
 *
 * Row tails (cols mod 16 columns) use a zero-padded copy of x's tail: weight bytes past the row end
 * then multiply zeros, so the tail load of a row may run into the next row; where it would pass the
 * end of the matrix the tail is copied to a zeroed buffer instead. */
#include <string.h>

#include "grt_q15.h"

#if GRT_HAVE_AVX2

#include <immintrin.h>

/* From here on, any floating-point type in this file is a compile error. */
#pragma GCC poison float double __m128 __m256 __m128d __m256d

#define GRT_AVX2 __attribute__((target("avx2")))

static inline GRT_AVX2 __m128i load16(const void *p)
{
    return _mm_loadu_si128((const __m128i *)p);
}

/* x[j0 : j0 + t] (t < 16) and zeros, as 16 int16. */
static inline GRT_AVX2 __m256i x_tail(const int16_t *x, size_t t)
{
    int16_t buf[16] = {0};
    memcpy(buf, x, t * sizeof(int16_t));
    return _mm256_loadu_si256((const __m256i *)(const void *)buf);
}

/* 16 weight bytes from p whose first t (< 16) are the row's tail: a direct load while it stays inside
 * the matrix (the bytes after the tail meet zeros of x), else the t bytes and zeros. */
static inline GRT_AVX2 __m128i w_tail(const int8_t *p, size_t t, const int8_t *end)
{
    if ((size_t)(end - p) >= 16)
        return load16(p);
    int8_t buf[16] = {0};
    memcpy(buf, p, t);
    return load16(buf);
}

/* acc + the int32 pair sums of 16 weights (int8) times 16 inputs (int16). */
static inline GRT_AVX2 __m256i mac(__m256i acc, __m128i w, __m256i x)
{
    return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_cvtepi8_epi16(w), x));
}

/* (sum a0, sum a1, sum a2, sum a3) of four eight-lane accumulators (each sum < 2^31 in magnitude). */
static inline GRT_AVX2 __m128i hsum4(__m256i a0, __m256i a1, __m256i a2, __m256i a3)
{
    __m256i s = _mm256_hadd_epi32(_mm256_hadd_epi32(a0, a1), _mm256_hadd_epi32(a2, a3));
    return _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
}

/* The exact dot products of rows w0..w3 (n columns each) with x, in int64; xt is x's tail (n mod 16
 * columns) zero-padded, end the end of the matrix. */
static inline GRT_AVX2 __m256i dot4(const int8_t *w0, const int8_t *w1, const int8_t *w2, const int8_t *w3,
                                    const int16_t *x, size_t n, __m256i xt, const int8_t *end)
{
    const size_t nfull = n & ~(size_t)15;
    __m256i acc = _mm256_setzero_si256();
    size_t j = 0;
    do {
        size_t jb = nfull - j > GRT_Q15_BLOCK ? j + GRT_Q15_BLOCK : nfull;
        __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
        for (; j < jb; j += 16) {
            __m256i xv = _mm256_loadu_si256((const __m256i *)(const void *)(x + j));
            a0 = mac(a0, load16(w0 + j), xv);
            a1 = mac(a1, load16(w1 + j), xv);
            a2 = mac(a2, load16(w2 + j), xv);
            a3 = mac(a3, load16(w3 + j), xv);
        }
        if (j == nfull && j < n) { /* the tail joins the last block: at most 256 + 15 columns */
            size_t t = n - j;
            a0 = mac(a0, w_tail(w0 + j, t, end), xt);
            a1 = mac(a1, w_tail(w1 + j, t, end), xt);
            a2 = mac(a2, w_tail(w2 + j, t, end), xt);
            a3 = mac(a3, w_tail(w3 + j, t, end), xt);
        }
        acc = _mm256_add_epi64(acc, _mm256_cvtepi32_epi64(hsum4(a0, a1, a2, a3)));
    } while (j < nfull);
    return acc;
}

/* grt_q15_requant on four int64 lanes: sat32(RSHR(acc·M, sh) + b) with (M, sh) decoded from the codes
 * as grt_q15_decode does. acc·M (|acc| < 2^37, M <= 255) is lo·M + (hi·M)·2^32 with acc = hi·2^32 + lo
 * (vpmuludq on the unsigned low half, vpmuldq on the signed high half; exact mod 2^64 and the true
 * product fits int64). RSHR(v, s) = ((v + 2^(s-1) + 2^63) >>> s) - 2^(63-s), the unsigned bias trick
 * of grt_q15_rshr, with 2^(s-1) = 2^63 >>> (64 - s) (zero for s = 0, where the formula gives v). */
static inline GRT_AVX2 __m128i requant4(__m256i acc, const uint16_t *codes, const int32_t *b)
{
    const __m256i top = _mm256_set1_epi64x((long long)0x8000000000000000ull);
    __m256i c = _mm256_cvtepu16_epi64(_mm_loadl_epi64((const __m128i *)(const void *)codes));
    __m256i nonzero = _mm256_xor_si256(_mm256_cmpeq_epi64(c, _mm256_setzero_si256()), _mm256_set1_epi64x(-1));
    __m256i M = _mm256_and_si256(_mm256_add_epi64(_mm256_and_si256(c, _mm256_set1_epi64x(127)),
                                                  _mm256_set1_epi64x(128)), nonzero);
    __m256i e = _mm256_and_si256(_mm256_srli_epi64(c, 7), _mm256_set1_epi64x(255));
    /* sh = clamp(134 - e, 0, 62) in the low dwords (the high dwords stay 0), 0 for a zero code */
    __m256i sh = _mm256_sub_epi32(_mm256_set1_epi64x(134), e);
    sh = _mm256_min_epi32(_mm256_max_epi32(sh, _mm256_setzero_si256()), _mm256_set1_epi64x(62));
    sh = _mm256_and_si256(sh, nonzero);
    __m256i v = _mm256_add_epi64(_mm256_mul_epu32(acc, M),
                                 _mm256_slli_epi64(_mm256_mul_epi32(_mm256_srli_epi64(acc, 32), M), 32));
    __m256i half = _mm256_srlv_epi64(top, _mm256_sub_epi64(_mm256_set1_epi64x(64), sh));
    v = _mm256_add_epi64(v, _mm256_add_epi64(half, top));
    v = _mm256_sub_epi64(_mm256_srlv_epi64(v, sh), _mm256_srlv_epi64(top, sh));
    v = _mm256_add_epi64(v, _mm256_cvtepi32_epi64(_mm_loadu_si128((const __m128i *)(const void *)b)));
    const __m256i hi = _mm256_set1_epi64x(2147483647), lo = _mm256_set1_epi64x(-2147483647);
    v = _mm256_blendv_epi8(v, hi, _mm256_cmpgt_epi64(v, hi));
    v = _mm256_blendv_epi8(v, lo, _mm256_cmpgt_epi64(lo, v));
    v = _mm256_permutevar8x32_epi32(v, _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6));
    return _mm256_castsi256_si128(v);
}

/* Rows r .. r + k - 1 of one four-row pass (k = 4, or the last 1..3 rows with the missing rows
 * repeating the last one): y[i] = the requantized product of row r + i. */
static inline GRT_AVX2 void rows4(int32_t *y, const int8_t *W, const uint16_t *codes, const int32_t *b,
                                  const int16_t *x, size_t r, size_t rows, size_t cols, __m256i xt,
                                  const int8_t *end)
{
    if (rows - r >= 4) {
        const int8_t *w = W + r * cols;
        __m256i acc = dot4(w, w + cols, w + 2 * cols, w + 3 * cols, x, cols, xt, end);
        _mm_storeu_si128((__m128i *)(void *)y, requant4(acc, codes + r, b + r));
        return;
    }
    size_t k = rows - r;
    const int8_t *w0 = W + r * cols, *w1 = k > 1 ? w0 + cols : w0, *w2 = k > 2 ? w1 + cols : w1;
    uint16_t c4[4] = {0, 0, 0, 0};
    int32_t b4[4] = {0, 0, 0, 0}, y4[4];
    memcpy(c4, codes + r, k * sizeof(uint16_t));
    memcpy(b4, b + r, k * sizeof(int32_t));
    _mm_storeu_si128((__m128i *)(void *)y4, requant4(dot4(w0, w1, w2, w2, x, cols, xt, end), c4, b4));
    memcpy(y, y4, k * sizeof(int32_t));
}

GRT_AVX2 void grt_q15_matvec_avx2(int32_t *restrict y, const int8_t *restrict W, const uint16_t *restrict codes,
                                  const int32_t *restrict b, const int16_t *restrict x, size_t rows,
                                  size_t cols)
{
    const int8_t *end = W + rows * cols;
    size_t jt = cols & ~(size_t)15;
    __m256i xt = x_tail(x + jt, cols - jt);
    for (size_t r = 0; r < rows; r += 4)
        rows4(y + r, W, codes, b, x, r, rows, cols, xt, end);
}

/* Steps per block: the block's four weight rows stay in L1 while they are used for its steps. */
#define STEP_BLOCK 8

GRT_AVX2 void grt_q15_matmul_avx2(int32_t *restrict Y, size_t ldy, const int8_t *restrict W,
                                  const uint16_t *restrict codes, const int32_t *restrict b,
                                  const int16_t *restrict X, size_t ldx, size_t rows, size_t cols, size_t T)
{
    const int8_t *end = W + rows * cols;
    size_t jt = cols & ~(size_t)15;
    __m256i xt[STEP_BLOCK];
    for (size_t t0 = 0; t0 < T; t0 += STEP_BLOCK) {
        size_t nt = T - t0 < STEP_BLOCK ? T - t0 : STEP_BLOCK;
        for (size_t t = 0; t < nt; t++)
            xt[t] = x_tail(X + (t0 + t) * ldx + jt, cols - jt);
        for (size_t r = 0; r < rows; r += 4)
            for (size_t t = 0; t < nt; t++)
                rows4(Y + (t0 + t) * ldy + r, W, codes, b, X + (t0 + t) * ldx, r, rows, cols, xt[t], end);
    }
}

#else
typedef int grt_no_q15_avx2_variant; /* ISO C forbids an empty translation unit */
#endif
