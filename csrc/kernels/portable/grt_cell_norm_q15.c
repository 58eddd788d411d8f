/* grt_cell_norm_q15.c — the q15 LayerNorm cell, integer only (docs/QUANTIZATION.md, "q15 LayerNorm";
 * `make nofloat` compiles this file with -mgeneral-regs-only). The inputs of a row are D int16 values q_i
 * in one unit (the loader checks that in_scale is uniform); LayerNorm does not depend on that unit except
 * through eps, which the file gives in it squared (eps_q in L->act_param). With S = Σ q_i and
 * V = D·Σ q_i² − S² (= D²·var, exact in 64 bits), and d_i = D·q_i − S (= D·(q_i − mean)):
 *   x̂_i = d_i / sqrt(W),  W = V + D²·eps_q                                       (W < 2^61)
 * W is scaled by 4^t into [2^60, 2^62) (W = 0: every x̂_i = 0), r = isqrt(W·4^t) is in [2^30, 2^31),
 * inv = round(2^54 / r) in (2^23, 2^24], and in Q16
 *   x̂_i = RSHR(d_i·2^t·inv, 38)        (|d_i·2^t| <= sqrt(D·W·4^t) < 2^38, so the product is < 2^62)
 *   y_i = sat16(RSHR(x̂_i·gamma_i, 31) + beta_i)   (gamma_i = gamma/out_scale·2^15, beta_i = beta/out_scale)
 * with |x̂_i| < 2^24 and |gamma_i| < 2^31: no intermediate leaves int64, whatever the file holds. */
#include "../../grt_internal.h"
#include "../../grt_norm.h"
#include "../../grt_q15.h"

#if GRT_HAS_Q15 && GRT_HAS_LAYERNORM /* the whole file (GRT_NO_Q15, GRT_NO_LAYERNORM: empty) */

/* floor(sqrt(w)), bit by bit (no division, no float) */
static uint64_t isqrt_u64(uint64_t w)
{
    uint64_t root = 0, bit = (uint64_t)1 << 62;
    while (bit > w)
        bit >>= 2;
    while (bit != 0) {
        if (w >= root + bit) {
            w -= root + bit;
            root = (root >> 1) + bit;
        } else {
            root >>= 1;
        }
        bit >>= 2;
    }
    return root;
}

void grt_norm_q15(const grt_layer *L, const int16_t *x, int16_t *y, size_t n)
{
    const size_t D = L->input_size; /* <= 2^14 */
    const int32_t *gamma = (const int32_t *)L->tensor[GRT_ROLE_GAMMA];
    const int32_t *beta = (const int32_t *)L->tensor[GRT_ROLE_BETA];
    const uint64_t eps_term = (uint64_t)D * D * L->act_param; /* < 2^28 · 2^32 */
    for (size_t row = 0; row < n; row++, x += D, y += D) {
        int64_t S = 0, Q = 0;
        for (size_t i = 0; i < D; i++) {
            S += x[i];
            Q += (int64_t)x[i] * x[i];
        }
        uint64_t W = (uint64_t)((int64_t)D * Q - S * S) + eps_term; /* D·Q >= S² (Cauchy-Schwarz) */
        unsigned t = 0;
        int64_t inv = 0;
        if (W != 0) {
            while (W < (uint64_t)1 << 60) {
                W <<= 2;
                t++;
            }
            uint64_t r = isqrt_u64(W);
            inv = (int64_t)((((uint64_t)1 << 54) + r / 2) / r);
        }
        for (size_t i = 0; i < D; i++) {
            int64_t d = (int64_t)D * x[i] - S;
            int64_t xhat = grt_q15_rshr(d * ((int64_t)1 << t) * inv, 38);
            y[i] = grt_q15_sat16(grt_q15_rshr(xhat * gamma[i], 31) + beta[i]);
        }
    }
}

#else
typedef int grt_no_q15_norm; /* ISO C forbids an empty translation unit */
#endif
