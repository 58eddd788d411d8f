/* grt_math.c — float32 exp, sigmoid, tanh and the scalar level of the vector activations.
 *
 * The scalar functions are static inline bodies in branch-free loops (no calls, no libm). Choices
 * between two values are made with bit masks (select below), not ?: — with ?: gcc duplicates the
 * following float code into each arm. gcc 12 -O3 (no -march) still keeps these loops scalar
 * (measured: tanh 3.5 ns, sigmoid 2.0 ns per element), so grt_math_avx2.c repeats the same operations
 * on eight lanes. The scheme and its constants are described in grt_math.h. */
#include "../../grt_math.h"

#include <stdint.h>

#include "../../grt_internal.h"

#if GRT_HAS_F32 || GRT_HAS_Q8 /* float activations (GRT_NO_F32 and GRT_NO_Q8: empty) */

/* cond ? a : b, computed on the bits: both values are always computed, nothing branches. */
static inline float select(int cond, float a, float b)
{
    uint32_t mask = 0u - (uint32_t)(cond != 0);
    return grt_bits_float((grt_float_bits(a) & mask) | (grt_float_bits(b) & ~mask));
}

static inline float exp_inline(float x)
{
    /* Comparisons written so NaN fails both and passes through unchanged. */
    x = select(x > GRT_EXP_HI, GRT_EXP_HI, x);
    x = select(x < GRT_EXP_LO, GRT_EXP_LO, x);
    /* n = round(x·log2 e). The integer is read from the bits of (t + magic), never converted from
     * float to int, so a NaN input is not undefined behaviour. */
    float shifted = x * GRT_LOG2E + GRT_EXP_ROUND_MAGIC;
    float n = shifted - GRT_EXP_ROUND_MAGIC;
    uint32_t n_int = grt_float_bits(shifted) - grt_float_bits(GRT_EXP_ROUND_MAGIC);
    float r = x - n * GRT_LN2_HI;
    r = r - n * GRT_LN2_LO;
    float r2 = r * r;
    float p = GRT_EXP_P0;
    p = p * r + GRT_EXP_P1;
    p = p * r + GRT_EXP_P2;
    p = p * r + GRT_EXP_P3;
    p = p * r + GRT_EXP_P4;
    p = p * r + GRT_EXP_P5;
    p = p * r2 + r + 1.0f;
    return p * grt_bits_float((n_int + 127u) << 23);
}

static inline float sigmoid_inline(float x)
{
    return 1.0f / (1.0f + exp_inline(-x));
}

static inline float tanh_inline(float x)
{
    float ax = grt_bits_float(grt_float_bits(x) & 0x7FFFFFFFu);
    /* Small |x|: x + x^3·P(x^2) keeps full relative accuracy near 0. */
    float z = x * x;
    float p = GRT_TANH_P0;
    p = p * z + GRT_TANH_P1;
    p = p * z + GRT_TANH_P2;
    p = p * z + GRT_TANH_P3;
    p = p * z + GRT_TANH_P4;
    float small = p * z * x + x;
    /* Large |x|: 1 - 2/(e^{2|x|} + 1); exp is clamped, so this saturates to exactly 1. */
    float big = 1.0f - 2.0f / (exp_inline(2.0f * ax) + 1.0f);
    big = grt_bits_float(grt_float_bits(big) | (grt_float_bits(x) & 0x80000000u)); /* sign of x */
    return select(ax < GRT_TANH_POLY_LIMIT, small, big);
}

float grt_expf(float x)
{
    return exp_inline(x);
}

float grt_sigmoidf(float x)
{
    return sigmoid_inline(x);
}

float grt_tanhf(float x)
{
    return tanh_inline(x);
}

static void relu_vec(float *restrict v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        v[i] = v[i] < 0.0f ? 0.0f : v[i];
}

static void tanh_vec(float *restrict v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        v[i] = tanh_inline(v[i]);
}

static void sigmoid_vec(float *restrict v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        v[i] = sigmoid_inline(v[i]);
}

/* clip(v·scale + 0.5, 0, 1); NaN stays NaN. scale is 1/6 as a division (hard_sigmoid) or 0.2. */
static void hard_sigmoid_vec(float *restrict v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float t = v[i] / 6.0f + 0.5f;
        t = t < 0.0f ? 0.0f : t;
        v[i] = t > 1.0f ? 1.0f : t;
    }
}

static void hard_sigmoid_k2_vec(float *restrict v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float t = 0.2f * v[i] + 0.5f;
        t = t < 0.0f ? 0.0f : t;
        v[i] = t > 1.0f ? 1.0f : t;
    }
}

/* max v[i] in index order (n >= 1), the first of the softmaxes' steps. */
static inline float max_of(const float *restrict v, size_t n)
{
    float m = v[0];
    for (size_t i = 1; i < n; i++)
        m = v[i] > m ? v[i] : m;
    return m;
}

/* Softmax: subtract the max so exp never overflows; the sum runs in index order (deterministic). */
static void softmax_vec(float *restrict v, size_t n)
{
    if (n == 0)
        return;
    float m = max_of(v, n);
    float sum = 0.0f;
    for (size_t i = 0; i < n; i++) {
        v[i] = exp_inline(v[i] - m);
        sum += v[i];
    }
    for (size_t i = 0; i < n; i++)
        v[i] /= sum; /* a division, not a multiply by 1/sum: one rounding instead of two */
}

/* ---- the 1.3 Dense activations: scalar code only, used at every ISA level -------------------------- */

/* ln x for x >= 1 (finite): the sums and 1 + e^x it is used on. */
static float log_ge1(float x)
{
    uint32_t bits = grt_float_bits(x);
    int e = (int)(bits >> 23) - 127;
    float m = grt_bits_float((bits & 0x7FFFFFu) | 0x3F800000u); /* [1, 2) */
    if (m > GRT_SQRT2) {
        m = m * 0.5f; /* exact */
        e += 1;
    }
    float f = m - 1.0f; /* exact (Sterbenz) */
    float s = f / (2.0f + f);
    float R = s * s;
    float p = GRT_LOG_C4;
    p = p * R + GRT_LOG_C3;
    p = p * R + GRT_LOG_C2;
    p = p * R + GRT_LOG_C1;
    float ln_m = 2.0f * s + s * (R * p);
    float fe = (float)e;
    return (fe * GRT_LN2_LO + ln_m) + fe * GRT_LN2_HI;
}

/* e^x − 1 without the cancellation near 0: the exp polynomial without its 1 (n = 0 there). */
static float expm1_inline(float x)
{
    float ax = grt_bits_float(grt_float_bits(x) & 0x7FFFFFFFu);
    if (!(ax < GRT_EXPM1_POLY_LIMIT))
        return exp_inline(x) - 1.0f;
    float p = GRT_EXP_P0;
    p = p * x + GRT_EXP_P1;
    p = p * x + GRT_EXP_P2;
    p = p * x + GRT_EXP_P3;
    p = p * x + GRT_EXP_P4;
    p = p * x + GRT_EXP_P5;
    return p * (x * x) + x;
}

static float leaky_relu1(float x, float alpha)
{
    return x < 0.0f ? alpha * x : x;
}

static float elu1(float x, float alpha)
{
    return x > 0.0f || x != x ? x : alpha * expm1_inline(x);
}

/* x·Φ(x): with q = erfc(|x|/√2), x < 0 gives x/2·q (no cancellation), x >= 0 gives x − x/2·q. */
static float gelu1(float x)
{
    float y = grt_bits_float(grt_float_bits(x) & 0x7FFFFFFFu) * GRT_SQRT1_2;
    float t = 1.0f / (1.0f + GRT_ERF_P * y);
    float p = GRT_ERF_A5;
    p = p * t + GRT_ERF_A4;
    p = p * t + GRT_ERF_A3;
    p = p * t + GRT_ERF_A2;
    p = p * t + GRT_ERF_A1;
    float q = p * t * exp_inline(-(y * y));
    float half = 0.5f * x * q;
    return x < 0.0f ? half : x - half;
}

static float gelu_tanh1(float x)
{
    float u = GRT_GELU_K0 * (x + GRT_GELU_K1 * (x * x * x));
    return 0.5f * x * (1.0f + tanh_inline(u));
}

static float silu1(float x)
{
    return x / (1.0f + exp_inline(-x));
}

/* ln(1 + e^x) = max(x, 0) + log1p(e^−|x|); log1p(u) = ln(w)·u/(w − 1), w = 1 + u, keeps the bits of a
 * small u that w rounds away. */
static float softplus1(float x)
{
    if (x != x)
        return x;
    float u = exp_inline(-grt_bits_float(grt_float_bits(x) & 0x7FFFFFFFu));
    float w = 1.0f + u;
    float log1p_u = w == 1.0f ? u : log_ge1(w) * (u / (w - 1.0f));
    return (x > 0.0f ? x : 0.0f) + log1p_u;
}

/* The softmax's max and sum (index order), then (v − max) − ln(sum); the sum is >= 1. */
static void log_softmax_vec(float *restrict v, size_t n)
{
    if (n == 0)
        return;
    float m = max_of(v, n);
    float sum = 0.0f;
    for (size_t i = 0; i < n; i++)
        sum += exp_inline(v[i] - m);
    float ls = sum != sum ? sum : log_ge1(sum); /* NaN in, NaN out */
    for (size_t i = 0; i < n; i++)
        v[i] = (v[i] - m) - ls;
}

void grt_act_apply_param(unsigned act, float param, float *v, size_t n)
{
    size_t i;
    switch (act) {
    case GRT_ACT_LEAKY_RELU: for (i = 0; i < n; i++) v[i] = leaky_relu1(v[i], param); break;
    case GRT_ACT_ELU: for (i = 0; i < n; i++) v[i] = elu1(v[i], param); break;
    case GRT_ACT_GELU: for (i = 0; i < n; i++) v[i] = gelu1(v[i]); break;
    case GRT_ACT_GELU_TANH: for (i = 0; i < n; i++) v[i] = gelu_tanh1(v[i]); break;
    case GRT_ACT_SILU: for (i = 0; i < n; i++) v[i] = silu1(v[i]); break;
    case GRT_ACT_SOFTPLUS: for (i = 0; i < n; i++) v[i] = softplus1(v[i]); break;
    case GRT_ACT_LOG_SOFTMAX: log_softmax_vec(v, n); break;
    default: grt_act_apply(act, v, n); break;
    }
}

void grt_act_apply_scalar(unsigned act, float *v, size_t n)
{
    switch (act) {
    case GRT_ACT_RELU: relu_vec(v, n); break;
    case GRT_ACT_TANH: tanh_vec(v, n); break;
    case GRT_ACT_SIGMOID: sigmoid_vec(v, n); break;
    case GRT_ACT_SOFTMAX: softmax_vec(v, n); break;
    case GRT_ACT_HARD_SIGMOID: hard_sigmoid_vec(v, n); break;
    case GRT_ACT_HARD_SIGMOID_K2: hard_sigmoid_k2_vec(v, n); break;
    default: break; /* linear (and, defensively, unknown codes): identity */
    }
}

#else
typedef int grt_no_float_math; /* ISO C forbids an empty translation unit */
#endif
