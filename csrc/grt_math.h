/* grt_math.h — float32 activations without libm (max errors in ulps: docs/ACCURACY.md). Every
 * function keeps |error| <= 1e-6 against the exact value for every float input (see
 * tests/test_math.c; the 1.3 Dense activations: 1e-6·max(1, |y|), tests/test_dense_activations.py);
 * NaN in gives NaN out. */
#ifndef GRT_MATH_H
#define GRT_MATH_H

#include <stddef.h>
#include <stdint.h>

#include "grt_internal.h"

/* The bits of a float and back, without breaking aliasing rules (float code only: the q15 integer
 * units never include this header). */
static inline uint32_t grt_float_bits(float f)
{
    uint32_t u;
    grt_memcpy(&u, &f, sizeof u);
    return u;
}

static inline float grt_bits_float(uint32_t u)
{
    float f;
    grt_memcpy(&f, &u, sizeof f);
    return f;
}

/* The constants of the exp and tanh schemes (grt_math.c), shared by every vector level so that each
 * lane repeats the scalar operations exactly. The exp is the Cephes expf scheme: n = round(x / ln2),
 * r = x - n·ln2 with ln2 split hi/lo, e^r by a degree-6 polynomial, 2^n built in the exponent bits. */
#define GRT_EXP_HI 88.3762626647949f    /* largest x with round(x/ln2) = 127: 2^n stays finite */
#define GRT_EXP_LO (-87.3365478515625f) /* smallest x with round(x/ln2) = -126: 2^n stays normal */
#define GRT_LOG2E 1.44269504088896341f
#define GRT_LN2_HI 0.693359375f /* few mantissa bits: n·GRT_LN2_HI is exact */
#define GRT_LN2_LO (-2.12194440e-4f)
#define GRT_EXP_ROUND_MAGIC 12582912.0f /* 1.5·2^23: adding it rounds to an integer in the low bits */
#define GRT_EXP_P0 1.9875691500e-4f     /* e^r ~ 1 + r + r^2·P(r), P = P0·r^5 + ... + P5 */
#define GRT_EXP_P1 1.3981999507e-3f
#define GRT_EXP_P2 8.3334519073e-3f
#define GRT_EXP_P3 4.1665795894e-2f
#define GRT_EXP_P4 1.6666665459e-1f
#define GRT_EXP_P5 5.0000001201e-1f
#define GRT_TANH_POLY_LIMIT 0.625f /* |x| below: x + x^3·Q(x^2) (no cancellation); above: via exp */
#define GRT_TANH_P0 (-5.70498872745e-3f) /* Q = P0·z^4 + ... + P4 */
#define GRT_TANH_P1 2.06390887954e-2f
#define GRT_TANH_P2 (-5.37397155531e-2f)
#define GRT_TANH_P3 1.33314422036e-1f
#define GRT_TANH_P4 (-3.33332819422e-1f)

/* ln x for a positive normal x: x = 2^e·m with m in [√½, √2), ln m = 2·atanh(s), s = (m − 1)/(m + 1),
 * by the odd series 2s + s·R·(c1 + R·(c2 + R·(c3 + R·c4))), R = s²; e·ln2 added with ln2 split hi/lo. */
#define GRT_SQRT2 1.41421356237f
#define GRT_LOG_C1 0.666666666667f /* 2/3, 2/5, 2/7, 2/9 */
#define GRT_LOG_C2 0.4f
#define GRT_LOG_C3 0.285714285714f
#define GRT_LOG_C4 0.222222222222f
/* erf for gelu (Abramowitz & Stegun 7.1.26, |error| <= 1.5e-7): for y >= 0,
 * erfc(y) = t·(A1 + t·(A2 + t·(A3 + t·(A4 + t·A5))))·e^(−y²), t = 1/(1 + P·y). */
#define GRT_ERF_P 0.3275911f
#define GRT_ERF_A1 0.254829592f
#define GRT_ERF_A2 (-0.284496736f)
#define GRT_ERF_A3 1.421413741f
#define GRT_ERF_A4 (-1.453152027f)
#define GRT_ERF_A5 1.061405429f
#define GRT_SQRT1_2 0.707106781187f   /* 1/√2 */
#define GRT_GELU_K0 0.797884560803f   /* √(2/π) */
#define GRT_GELU_K1 0.044715f
#define GRT_EXPM1_POLY_LIMIT 0.34657359f /* |x| below (ln2/2): e^x − 1 = x + x²·P(x), no cancellation */

float grt_expf(float x);     /* e^x, input clamped to [-87.33, 88.37]: never inf, never denormal */
float grt_sigmoidf(float x); /* 1 / (1 + e^-x) */
float grt_tanhf(float x);

/* v[i] = act(v[i]) in place for one activation code (grt_activation). Softmax acts on the whole
 * vector. An unknown code leaves v unchanged (the loader never lets one through). Calls the variant
 * of the active grt_isa level (grt_dispatch.c); every level gives the same bits (NaN in, NaN out). */
void grt_act_apply(unsigned act, float *v, size_t n);

typedef void (*grt_act_fn)(unsigned act, float *v, size_t n);
void grt_act_apply_scalar(unsigned act, float *v, size_t n);
/* grt_act_apply with the activation's parameter (a Dense layer's act_param: leaky_relu's slope, elu's
 * alpha; ignored by the others). The 1.3 Dense activations (leaky_relu ... log_softmax) run the same
 * scalar code at every level, so every level gives the same bits; the others go to grt_act_apply. */
void grt_act_apply_param(unsigned act, float param, float *v, size_t n);
/* Only callable when the CPU has AVX2 (GRT_HAVE_AVX2 builds; grt_math_avx2.c). */
void grt_act_apply_avx2(unsigned act, float *v, size_t n);
/* The variant of a level (NULL if this build lacks it); for tests. */
grt_act_fn grt_isa_act(grt_isa isa);

#endif /* GRT_MATH_H */
