/* grt_math_avx2.c — the float activations on eight AVX2 lanes, bit-identical to the scalar ones in
 * grt_math.c: every lane performs the same IEEE operations in the same order (multiply and add
 * separately rounded, never fused; a correctly rounded division; selections by comparison masks with
 * the same NaN behaviour). So the f32 kernels and the q8 contract (whose golden model repeats the
 * scalar float operations) give the same bits at every level. The constants are grt_math.h's. Only
 * called after the dispatcher (grt_dispatch.c) found AVX2 on the CPU. */
#include "../../grt_math.h"

#include "../../grt_kernels.h"

#if GRT_HAVE_AVX2 && (GRT_HAS_F32 || GRT_HAS_Q8)

#include <immintrin.h>

#define GRT_AVX2 __attribute__((target("avx2")))

/* cond ? a : b per lane (cond: an all-ones or all-zeros comparison mask). */
static inline GRT_AVX2 __m256 select8(__m256 cond, __m256 a, __m256 b)
{
    return _mm256_blendv_ps(b, a, cond);
}

static inline GRT_AVX2 __m256 exp8(__m256 x)
{
    const __m256 magic = _mm256_set1_ps(GRT_EXP_ROUND_MAGIC);
    /* Ordered comparisons: false for NaN, which passes through as in the scalar select. */
    x = select8(_mm256_cmp_ps(x, _mm256_set1_ps(GRT_EXP_HI), _CMP_GT_OQ), _mm256_set1_ps(GRT_EXP_HI), x);
    x = select8(_mm256_cmp_ps(x, _mm256_set1_ps(GRT_EXP_LO), _CMP_LT_OQ), _mm256_set1_ps(GRT_EXP_LO), x);
    __m256 shifted = _mm256_add_ps(_mm256_mul_ps(x, _mm256_set1_ps(GRT_LOG2E)), magic);
    __m256 n = _mm256_sub_ps(shifted, magic);
    __m256i n_int = _mm256_sub_epi32(_mm256_castps_si256(shifted), _mm256_castps_si256(magic));
    __m256 r = _mm256_sub_ps(x, _mm256_mul_ps(n, _mm256_set1_ps(GRT_LN2_HI)));
    r = _mm256_sub_ps(r, _mm256_mul_ps(n, _mm256_set1_ps(GRT_LN2_LO)));
    __m256 r2 = _mm256_mul_ps(r, r);
    __m256 p = _mm256_set1_ps(GRT_EXP_P0);
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(GRT_EXP_P1));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(GRT_EXP_P2));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(GRT_EXP_P3));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(GRT_EXP_P4));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(GRT_EXP_P5));
    p = _mm256_add_ps(_mm256_add_ps(_mm256_mul_ps(p, r2), r), _mm256_set1_ps(1.0f));
    __m256i two_n = _mm256_slli_epi32(_mm256_add_epi32(n_int, _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(two_n));
}

static inline GRT_AVX2 __m256 sigmoid8(__m256 x)
{
    __m256 neg = _mm256_xor_ps(x, _mm256_set1_ps(-0.0f));
    __m256 one = _mm256_set1_ps(1.0f);
    return _mm256_div_ps(one, _mm256_add_ps(one, exp8(neg)));
}

static inline GRT_AVX2 __m256 tanh8(__m256 x)
{
    const __m256 sign = _mm256_set1_ps(-0.0f), one = _mm256_set1_ps(1.0f), two = _mm256_set1_ps(2.0f);
    __m256 ax = _mm256_andnot_ps(sign, x);
    __m256 z = _mm256_mul_ps(x, x);
    __m256 p = _mm256_set1_ps(GRT_TANH_P0);
    p = _mm256_add_ps(_mm256_mul_ps(p, z), _mm256_set1_ps(GRT_TANH_P1));
    p = _mm256_add_ps(_mm256_mul_ps(p, z), _mm256_set1_ps(GRT_TANH_P2));
    p = _mm256_add_ps(_mm256_mul_ps(p, z), _mm256_set1_ps(GRT_TANH_P3));
    p = _mm256_add_ps(_mm256_mul_ps(p, z), _mm256_set1_ps(GRT_TANH_P4));
    __m256 small = _mm256_add_ps(_mm256_mul_ps(_mm256_mul_ps(p, z), x), x);
    __m256 big = _mm256_sub_ps(one, _mm256_div_ps(two, _mm256_add_ps(exp8(_mm256_mul_ps(two, ax)), one)));
    big = _mm256_or_ps(big, _mm256_and_ps(x, sign));
    return select8(_mm256_cmp_ps(ax, _mm256_set1_ps(GRT_TANH_POLY_LIMIT), _CMP_LT_OQ), small, big);
}

static inline GRT_AVX2 __m256 relu8(__m256 x)
{
    __m256 zero = _mm256_setzero_ps();
    return select8(_mm256_cmp_ps(x, zero, _CMP_LT_OQ), zero, x);
}

/* clip(t, 0, 1) as the scalar code: t < 0 -> 0, then t > 1 -> 1; NaN stays NaN. */
static inline GRT_AVX2 __m256 clip01(__m256 t)
{
    __m256 zero = _mm256_setzero_ps(), one = _mm256_set1_ps(1.0f);
    t = select8(_mm256_cmp_ps(t, zero, _CMP_LT_OQ), zero, t);
    return select8(_mm256_cmp_ps(t, one, _CMP_GT_OQ), one, t);
}

static inline GRT_AVX2 __m256 hard_sigmoid8(__m256 x)
{
    return clip01(_mm256_add_ps(_mm256_div_ps(x, _mm256_set1_ps(6.0f)), _mm256_set1_ps(0.5f)));
}

static inline GRT_AVX2 __m256 hard_sigmoid_k2_8(__m256 x)
{
    return clip01(_mm256_add_ps(_mm256_mul_ps(_mm256_set1_ps(0.2f), x), _mm256_set1_ps(0.5f)));
}

/* v[i] = f(v[i]) for one lane function: whole vectors, then the tail through a padded copy (the
 * padding lanes compute on zeros and are dropped). One loop per function, so each is inlined. */
#define DEFINE_MAP8(name, f)                                                                         \
    static GRT_AVX2 void name(float *v, size_t n)                                                    \
    {                                                                                                \
        size_t i = 0;                                                                                \
        for (; i + 8 <= n; i += 8)                                                                   \
            _mm256_storeu_ps(v + i, f(_mm256_loadu_ps(v + i)));                                      \
        if (i < n) {                                                                                 \
            float tail[8] = {0};                                                                     \
            grt_memcpy(tail, v + i, (n - i) * sizeof(float));                                        \
            _mm256_storeu_ps(tail, f(_mm256_loadu_ps(tail)));                                        \
            grt_memcpy(v + i, tail, (n - i) * sizeof(float));                                        \
        }                                                                                            \
    }

DEFINE_MAP8(relu_vec, relu8)
DEFINE_MAP8(tanh_vec, tanh8)
DEFINE_MAP8(sigmoid_vec, sigmoid8)
DEFINE_MAP8(hard_sigmoid_vec, hard_sigmoid8)
DEFINE_MAP8(hard_sigmoid_k2_vec, hard_sigmoid_k2_8)

/* The scalar softmax's operations: the max and the sum in index order (scalar), the exponentials
 * e^(v - max) and the divisions by the sum on eight lanes. */
static GRT_AVX2 void softmax8(float *v, size_t n)
{
    if (n == 0)
        return;
    float m = v[0];
    for (size_t i = 1; i < n; i++)
        m = v[i] > m ? v[i] : m;
    size_t i = 0;
    __m256 mv = _mm256_set1_ps(m);
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(v + i, exp8(_mm256_sub_ps(_mm256_loadu_ps(v + i), mv)));
    for (; i < n; i++)
        v[i] = grt_expf(v[i] - m);
    float sum = 0.0f;
    for (i = 0; i < n; i++)
        sum += v[i];
    __m256 sv = _mm256_set1_ps(sum);
    for (i = 0; i + 8 <= n; i += 8)
        _mm256_storeu_ps(v + i, _mm256_div_ps(_mm256_loadu_ps(v + i), sv));
    for (; i < n; i++)
        v[i] /= sum;
}

GRT_AVX2 void grt_act_apply_avx2(unsigned act, float *v, size_t n)
{
    switch (act) {
    case GRT_ACT_RELU: relu_vec(v, n); break;
    case GRT_ACT_TANH: tanh_vec(v, n); break;
    case GRT_ACT_SIGMOID: sigmoid_vec(v, n); break;
    case GRT_ACT_SOFTMAX: softmax8(v, n); break;
    case GRT_ACT_HARD_SIGMOID: hard_sigmoid_vec(v, n); break;
    case GRT_ACT_HARD_SIGMOID_K2: hard_sigmoid_k2_vec(v, n); break;
    default: break; /* linear (and unknown codes): identity, as the scalar level */
    }
}

#else
typedef int grt_no_avx2_math; /* ISO C forbids an empty translation unit */
#endif
