/* grt_kernels_q8.c — the q8 kernels (docs/QUANTIZATION.md, "q8"): per-step input quantization, exact
 * int8 x int8 -> int32 dot products and the float rescale (the q8 GRU cell, with the f32 activations of
 * grt_math.c, is grt_cell_float.c).
 *
 * Every float operation is the contract's, in its order (IEEE single, -ffp-contract=off: no FMA):
 *   m = max|x_k| (NaN if any x_k is NaN);  m > 0: inv = 127/m, sx = m/127;  else inv = 0, sx = m
 *   xq_k = round_away(clamp(x_k·inv, -127, 127)), NaN -> 0
 *   y_j = b_j + ((float)acc_j · s_j) · sx
 * This file is the scalar level (plain loops; gcc -O3 vectorizes the int8 dot product for the baseline
 * target, and the sum is exact, so any order gives the same integer) and the level-independent parts:
 * grt_matmul_q8 calls grt_q8_quantize and the quantized products, which dispatch to the active level
 * (grt_dispatch.c; the AVX2 level is grt_kernels_q8_avx2.c). */
#include "../../grt_internal.h"

#include "../../grt_kernels.h"
#include "../../grt_math.h"
#include "grt_dsp.h"

#if GRT_HAS_Q8 /* the whole file (GRT_NO_Q8: empty) */

float grt_q8_scale(uint16_t code)
{
    return grt_bits_float((uint32_t)code << 16);
}

/* max|x_k| on the bits: for sign-cleared floats the unsigned order is the numeric order, and every
 * NaN is above +inf, so a NaN anywhere makes the maximum a NaN. */
static inline float abs_max(const float *restrict x, size_t n)
{
    uint32_t mb = 0;
    for (size_t k = 0; k < n; k++) {
        uint32_t u = grt_float_bits(x[k]) & 0x7FFFFFFFu;
        mb = u > mb ? u : mb;
    }
    return grt_bits_float(mb);
}

/* round_away(clamp(p, -127, 127)), NaN -> 0. The clamp comparisons leave a NaN unchanged. */
static inline int8_t quantize_one(float p)
{
    p = p > 127.0f ? 127.0f : p;
    p = p < -127.0f ? -127.0f : p;
    p = p == p ? p : 0.0f;
    int32_t t = (int32_t)p; /* truncates; |p| <= 127 */
    float d = p - (float)t; /* exact */
    return (int8_t)(t + (d >= 0.5f) - (d <= -0.5f));
}

float grt_q8_quantize_scalar(int8_t *restrict xq, const float *restrict x, size_t n)
{
    float m = abs_max(x, n);
    float inv = 0.0f, sx = m; /* m = 0 or NaN */
    if (m > 0.0f) {
        inv = 127.0f / m;
        sx = m / 127.0f;
    }
    for (size_t k = 0; k < n; k++)
        xq[k] = quantize_one(x[k] * inv);
    return sx;
}

/* Exact: |w·x| <= 128·127 < 2^14, cols <= 16384 = 2^14, so |acc| < 2^28. On the Cortex-M DSP extension
 * (grt_dsp.h) four columns a step: sxtb16 and sxtb16 ror #8 turn a word of weights and a word of
 * activations each into the pairs (0, 2) and (1, 3), two smlad add the four products; the same exact sum
 * (every partial sum is within the bound), so the same bits. */
static inline int32_t dot_i8(const int8_t *restrict w, const int8_t *restrict x, size_t n)
{
    int32_t acc = 0;
    size_t k = 0;
#if GRT_HAVE_ARM_DSP
    for (; k + 4 <= n; k += 4) {
        uint32_t wk = grt_dsp_load_u32(w + k), xk = grt_dsp_load_u32(x + k);
        acc = __smlad(__sxtb16((int32_t)wk), __sxtb16((int32_t)xk), acc);
        acc = __smlad(grt_dsp_sxtb16_ror8(wk), grt_dsp_sxtb16_ror8(xk), acc);
    }
#endif
    for (; k < n; k++)
        acc += (int32_t)w[k] * (int32_t)x[k];
    return acc;
}

static inline float rescale(int32_t acc, uint16_t code, float b, float sx)
{
    return b + ((float)acc * grt_q8_scale(code)) * sx;
}

void grt_matvec_q8_scalar(float *restrict y, const int8_t *restrict W, const uint16_t *restrict codes,
                          const float *restrict b, const int8_t *restrict xq, float sx, size_t rows,
                          size_t cols)
{
    for (size_t r = 0; r < rows; r++)
        y[r] = rescale(dot_i8(W + r * cols, xq, cols), codes[r], b[r], sx);
}

#define STEP_BLOCK 8 /* steps per weight-row pass (cache reuse only: results do not depend on it) */

void grt_matmul_q8_scalar(float *restrict Y, size_t ldy, const int8_t *restrict W,
                          const uint16_t *restrict codes, const float *restrict b, const int8_t *restrict Xq,
                          const float *restrict sx, size_t rows, size_t cols, size_t T)
{
    for (size_t t0 = 0; t0 < T; t0 += STEP_BLOCK) {
        size_t t1 = T - t0 < STEP_BLOCK ? T : t0 + STEP_BLOCK;
        for (size_t r = 0; r < rows; r++) {
            const int8_t *w = W + r * cols;
            for (size_t t = t0; t < t1; t++)
                Y[t * ldy + r] = rescale(dot_i8(w, Xq + t * cols, cols), codes[r], b[r], sx[t]);
        }
    }
}

void grt_matmul_q8(float *restrict Y, size_t ldy, const int8_t *restrict W, const uint16_t *restrict codes,
                   const float *restrict b, const float *restrict X, size_t ldx, size_t rows, size_t cols,
                   size_t T, int8_t *restrict Xq, float *restrict sx)
{
    for (size_t t = 0; t < T; t++)
        sx[t] = grt_q8_quantize(Xq + t * cols, X + t * ldx, cols);
    grt_matmul_q8_quantized(Y, ldy, W, codes, b, Xq, sx, rows, cols, T);
}

#else
typedef int grt_no_q8_kernels; /* ISO C forbids an empty translation unit */
#endif
