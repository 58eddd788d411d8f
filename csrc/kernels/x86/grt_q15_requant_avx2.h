/* grt_q15_requant_avx2.h — grt_q15_requant on four int64 lanes with AVX2, for the x86 q15 product files
 * (grt_kernels_q15_avx2.c and the VNNI levels). Integer-only. x86 only (its
 * includers guard it). Not part of the public API. */
#ifndef GRT_Q15_REQUANT_AVX2_H
#define GRT_Q15_REQUANT_AVX2_H

#include <immintrin.h>
#include <stdint.h>

#include "../../grt_q15.h"

#define GRT_AVX2 __attribute__((target("avx2")))

/* grt_q15_requant on four int64 lanes: sat32(RSHR(acc·M, sh) + b) with (M, sh) decoded from the codes
 * as grt_q15_decode does (M = 0 for code 0; sh = clamp(134 - e, 0, 62), and for code 0 whatever sh
 * comes out: RSHR(0, s) = 0 for every s). The product acc·M is exact: acc_small says |acc| < 2^31
 * (vpmuldq of the low halves); otherwise (|acc| < 2^37) acc = hi·2^32 + lo and acc·M = lo·M +
 * (hi·M)·2^32 (vpmuludq, vpmuldq), exact mod 2^64 with the true value inside int64. RSHR(v, s) =
 * ((v + 2^(s-1) + 2^63) >>> s) - 2^(63-s), the unsigned bias trick of grt_q15_rshr, with 2^(s-1) =
 * 2^63 >>> (64 - s) (zero for s = 0, where the formula gives v). */
static inline GRT_AVX2 __m128i grt_q15_requant4(__m256i acc, int acc_small, const uint16_t *codes, const int32_t *b)
{
    const __m256i top = _mm256_set1_epi64x((long long)0x8000000000000000ull);
    __m256i c = _mm256_cvtepu16_epi64(_mm_loadl_epi64((const __m128i *)(const void *)codes));
    __m256i zero_code = _mm256_cmpeq_epi64(c, _mm256_setzero_si256());
    __m256i M = _mm256_andnot_si256(zero_code, _mm256_add_epi64(_mm256_and_si256(c, _mm256_set1_epi64x(127)),
                                                               _mm256_set1_epi64x(128)));
    __m256i e = _mm256_and_si256(_mm256_srli_epi64(c, 7), _mm256_set1_epi64x(255));
    /* sh in the low dwords (the high dwords stay 0) */
    __m256i sh = _mm256_sub_epi32(_mm256_set1_epi64x(134), e);
    sh = _mm256_min_epi32(_mm256_max_epi32(sh, _mm256_setzero_si256()), _mm256_set1_epi64x(62));
    __m256i v = _mm256_mul_epi32(acc_small ? acc : _mm256_srli_epi64(acc, 32), M);
    if (!acc_small)
        v = _mm256_add_epi64(_mm256_mul_epu32(acc, M), _mm256_slli_epi64(v, 32));
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

/* y[i] = grt_q15_requant(acc[i], codes[i], b[i]) for the k rows of a pass of four (k < 4 at the last
 * pass: only those rows are read and written); acc_small as for grt_q15_requant4. */
static inline GRT_AVX2 void grt_q15_requant_store4(int32_t *y, __m256i acc, int acc_small, const uint16_t *codes,
                                                   const int32_t *b, size_t k)
{
    if (k >= 4) {
        _mm_storeu_si128((__m128i *)(void *)y, grt_q15_requant4(acc, acc_small, codes, b));
        return;
    }
    int64_t a[4];
    _mm256_storeu_si256((__m256i *)(void *)a, acc);
    for (size_t i = 0; i < k; i++)
        y[i] = grt_q15_requant(a[i], codes[i], b[i]);
}

#endif /* GRT_Q15_REQUANT_AVX2_H */
