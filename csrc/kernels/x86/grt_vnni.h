/* grt_vnni.h — what the q8 and q15 products of the VNNI levels share (grt_kernels_q{8,15}_avxvnni.c,
 * grt_kernels_q{8,15}_avx512vnni.c): passes of four weight rows, the reduction of their four
 * accumulators, and the row length below which they leave a product to the AVX2 level. Integer-only.
 * x86 only (its includers guard it). Not part of the public API. */
#ifndef GRT_VNNI_H
#define GRT_VNNI_H

#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>

#include "../../grt_isa.h"

/* Below this many columns the AVX2 matrix-vector product is faster (the per-pass reduction of the
 * wide accumulators outweighs the saved multiply-adds; csrc/bench/bench_kernels.c, docs/BENCHMARKS.md)
 * and gives the same bits: the VNNI levels' matrix-vector products leave short rows to it. */
#define GRT_VNNI_MIN_COLS 128

/* The four row pointers of the pass at row r (the last pass repeats its last row where rows run out). */
static inline void grt_vnni_rows4(const int8_t *w[4], const int8_t *W, size_t r, size_t rows, size_t cols)
{
    w[0] = W + r * cols;
    w[1] = r + 1 < rows ? w[0] + cols : w[0];
    w[2] = r + 2 < rows ? w[1] + cols : w[1];
    w[3] = r + 3 < rows ? w[2] + cols : w[2];
}

/* (sum a0, sum a1, sum a2, sum a3) of four eight-lane int32 accumulators (each sum within int32). */
static inline __attribute__((target("avx2"))) __m128i grt_vnni_hsum4(__m256i a0, __m256i a1, __m256i a2,
                                                                      __m256i a3)
{
    __m256i s = _mm256_hadd_epi32(_mm256_hadd_epi32(a0, a1), _mm256_hadd_epi32(a2, a3));
    return _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
}

#if GRT_HAVE_AVX512VNNI
/* The same for four sixteen-lane accumulators. */
static inline __attribute__((target("avx2,avx512f"))) __m128i grt_vnni_hsum4_512(__m512i a0, __m512i a1,
                                                                                   __m512i a2, __m512i a3)
{
    return grt_vnni_hsum4(_mm256_add_epi32(_mm512_castsi512_si256(a0), _mm512_extracti64x4_epi64(a0, 1)),
                          _mm256_add_epi32(_mm512_castsi512_si256(a1), _mm512_extracti64x4_epi64(a1, 1)),
                          _mm256_add_epi32(_mm512_castsi512_si256(a2), _mm512_extracti64x4_epi64(a2, 1)),
                          _mm256_add_epi32(_mm512_castsi512_si256(a3), _mm512_extracti64x4_epi64(a3, 1)));
}
#endif

/* q8: 128·sum x_k, what the weights' +128 offset adds to every row's vpdpbusd sum (in four lanes). */
static inline __m128i grt_vnni_q8_offset(const int8_t *x, size_t n)
{
    int32_t s = 0;
    for (size_t k = 0; k < n; k++)
        s += x[k];
    return _mm_set1_epi32(128 * s);
}

#endif /* GRT_VNNI_H */
