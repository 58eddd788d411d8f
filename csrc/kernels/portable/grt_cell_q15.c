/* grt_cell_q15.c — the q15 cells (docs/QUANTIZATION.md, "q15"), written once for every ISA level: the
 * products of a layer's weight matrices, the GRU update and the Dense output. They run on the
 * products (grt_q15_matvec/grt_q15_matmul) and the GRU's element-wise steps (grt_q15_lanes) of the
 * active level (grt_dispatch.c); the per-level code is in grt_kernels_q15*.c.
 *
 * No floating-point type or operation anywhere in this file (`make nofloat` proves it by compiling it
 * with -mgeneral-regs-only). */
#include "../../grt_internal.h"

#include "../../grt_q15.h"

#if GRT_HAS_Q15 /* the whole file (GRT_NO_Q15: empty) */

void grt_q15_layer_product(const grt_layer *L, unsigned role, size_t row0, size_t rows, int32_t *restrict Y,
                           size_t ldy, const int16_t *restrict X, size_t ldx, size_t B)
{
    int hh = role == GRT_ROLE_W_HH;
    size_t cols = hh ? L->output_size : L->input_size;
    const int8_t *W = (const int8_t *)L->tensor[role] + row0 * cols;
    const uint16_t *codes = (const uint16_t *)L->tensor[hh ? GRT_ROLE_W_HH_SCALE : GRT_ROLE_W_IH_SCALE] + row0;
    const int32_t *b = (const int32_t *)L->tensor[hh ? GRT_ROLE_B_HH : GRT_ROLE_B_IH] + row0;
    grt_q15_matmul(Y, ldy, W, codes, b, X, ldx, rows, cols, B);
}

/*
 * Gate blocks of a 3H row: r = [0,H), z = [H,2H), n = [2H,3H). The products of all rows first, then the
 * element-wise steps row by row; reset_after = 0 needs r before U_n·(r ⊙ h), hence a second product
 * between the two row passes.
 */
void grt_q15_gru_recur(const grt_layer *L, int32_t *restrict gi, size_t ldgi, int16_t *restrict h, size_t ldh,
                       size_t B, grt_q15_gru_scratch s)
{
    const size_t H = L->output_size, G = 3 * H;
    const grt_q15_lanes *k = grt_q15_lanes_active();

    grt_q15_layer_product(L, GRT_ROLE_W_HH, 0, L->reset_after ? G : 2 * H, s.gh, G, h, ldh, B);
    if (L->reset_after && L->gate_activation == GRT_ACT_SIGMOID && k->gru_after) {
        for (size_t b = 0; b < B; b++)
            k->gru_after(h + b * ldh, gi + b * ldgi, s.gh + b * G, H);
        return;
    }
    for (size_t b = 0; b < B; b++) {
        int32_t *g = gi + b * ldgi;
        const int32_t *gh = s.gh + b * G;
        k->add_act(L->gate_activation, g, gh, 2 * H); /* r and z */
        if (L->reset_after)
            k->cand_after(g + 2 * H, g, gh + 2 * H, H);
        else
            k->reset(s.rh + b * H, g, h + b * ldh, H);
    }
    if (!L->reset_after)
        grt_q15_layer_product(L, GRT_ROLE_W_HH, 2 * H, H, s.gh + 2 * H, G, s.rh, H, B);
    for (size_t b = 0; b < B; b++) {
        int32_t *g = gi + b * ldgi;
        if (!L->reset_after)
            k->add_act(GRT_ACT_TANH, g + 2 * H, s.gh + b * G + 2 * H, H);
        k->update(h + b * ldh, g + 2 * H, g + H, H);
    }
}

static inline int16_t min_q15(int32_t v)
{
    return (int16_t)(v > 32767 ? 32767 : v); /* v >= -32768 for every activation */
}

/* mx = max g; e_j = exp(-min(mx - g_j, 2^31 - 1)); S = sum e_j >= 32768 (e = 32768 at the max), at most
 * 16384·32768 = 2^29; y_j = min((e_j·32768 + S/2) / S, 32767). e_j is computed twice (cheap, exact). */
static void softmax_q15(const int32_t *restrict g, int16_t *restrict y, size_t O)
{
    int32_t mx = g[0];
    for (size_t j = 1; j < O; j++)
        mx = g[j] > mx ? g[j] : mx;
    uint64_t S = 0;
    for (size_t j = 0; j < O; j++) {
        int64_t d = (int64_t)mx - g[j];
        S += (uint64_t)grt_q15_exp_neg((uint32_t)(d > GRT_Q15_SAT32 ? GRT_Q15_SAT32 : d));
    }
    for (size_t j = 0; j < O; j++) {
        int64_t d = (int64_t)mx - g[j];
        uint64_t e = (uint64_t)grt_q15_exp_neg((uint32_t)(d > GRT_Q15_SAT32 ? GRT_Q15_SAT32 : d));
        uint64_t q = (e * 32768u + S / 2u) / S;
        y[j] = (int16_t)(q > 32767u ? 32767u : q);
    }
}

void grt_q15_dense_out(unsigned act, const int32_t *restrict g, int16_t *restrict y, size_t O)
{
    switch (act) {
    case GRT_ACT_RELU:
        for (size_t j = 0; j < O; j++)
            y[j] = grt_q15_sat16(g[j] > 0 ? g[j] : 0);
        break;
    case GRT_ACT_SIGMOID:
        for (size_t j = 0; j < O; j++)
            y[j] = min_q15(grt_q15_sigmoid(g[j]));
        break;
    case GRT_ACT_TANH:
        for (size_t j = 0; j < O; j++)
            y[j] = min_q15(grt_q15_tanh(g[j]));
        break;
    case GRT_ACT_HARD_SIGMOID:
        for (size_t j = 0; j < O; j++)
            y[j] = min_q15(grt_q15_hard_sigmoid(g[j]));
        break;
    case GRT_ACT_HARD_SIGMOID_K2:
        for (size_t j = 0; j < O; j++)
            y[j] = min_q15(grt_q15_hard_sigmoid_k2(g[j]));
        break;
    case GRT_ACT_SOFTMAX:
        softmax_q15(g, y, O);
        break;
    default: /* linear */
        for (size_t j = 0; j < O; j++)
            y[j] = grt_q15_sat16(g[j]);
        break;
    }
}

#else
typedef int grt_no_q15_cells; /* ISO C forbids an empty translation unit */
#endif
