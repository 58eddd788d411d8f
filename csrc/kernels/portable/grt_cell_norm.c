/* grt_cell_norm.c — the LayerNorm cell of the float-activation precisions (f32 and q8: a LayerNorm has
 * no weight matrix, so both run the same float32 math). Operations in this order, each rounded to
 * float32 (no contraction: -ffp-contract=off), which gru_rt/golden.py repeats:
 *   mean = (Σ x_i, in index order) / D;  v = (Σ (x_i − mean)², in index order) / D + eps;
 *   r = rsqrt(v) (below);  y_i = ((x_i − mean)·r)·gamma_i + beta_i. */
#include "../../grt_internal.h"
#include "../../grt_math.h"
#include "../../grt_norm.h"

#if (GRT_HAS_F32 || GRT_HAS_Q8) && GRT_HAS_LAYERNORM /* the whole file (GRT_NO_LAYERNORM: empty) */

/* 1/sqrt(v) for a positive normal v without libm: the classic bit estimate, then three Newton steps
 * y·(1.5 − (0.5·v)·y·y), which bring it within a few float32 ulps. v >= eps, a positive normal (the
 * loader checks eps), so the estimate is finite. */
static float rsqrt_f32(float v)
{
    float half = 0.5f * v, y = grt_bits_float(0x5F3759DFu - (grt_float_bits(v) >> 1));
    for (int k = 0; k < 3; k++)
        y = y * (1.5f - half * y * y);
    return y;
}

void grt_norm_float(const grt_layer *L, const float *x, float *y, size_t n)
{
    const size_t D = L->input_size;
    const float *gamma = (const float *)L->tensor[GRT_ROLE_GAMMA], *beta = (const float *)L->tensor[GRT_ROLE_BETA];
    const float eps = grt_bits_float(L->act_param), fd = (float)D;
    for (size_t row = 0; row < n; row++, x += D, y += D) {
        float sum = 0.0f, ss = 0.0f;
        for (size_t i = 0; i < D; i++)
            sum += x[i];
        const float mean = sum / fd;
        for (size_t i = 0; i < D; i++) {
            float d = x[i] - mean;
            ss += d * d;
        }
        const float r = rsqrt_f32(ss / fd + eps);
        for (size_t i = 0; i < D; i++)
            y[i] = (x[i] - mean) * r * gamma[i] + beta[i];
    }
}

#else
typedef int grt_no_float_norm; /* ISO C forbids an empty translation unit */
#endif
