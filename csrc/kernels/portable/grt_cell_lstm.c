/* grt_cell_lstm.c — the LSTM cell of the float-activation precisions (f32 and q8), written once for every
 * ISA level over the products of grt_cell_float.c (grt_float_layer_product: the active level's f32 or q8
 * matrix products) and the element-wise activations of grt_math.c.
 *
 * The canonical LSTM (docs/FORMAT.md). Gate blocks of a 4H row: i = [0,H), f = [H,2H), g = [2H,3H),
 * o = [3H,4H) (PyTorch's order). σ is the layer's gate_activation, φ its activation:
 *     i = σ(W_i x + b_ii + U_i h + b_hi)     f = σ(...)     g = φ(...)     o = σ(...)
 *     c' = f ⊙ c + i ⊙ g                     h' = o ⊙ φ(c')
 * The state row of a layer is h (H floats) followed by c (H floats); the layer's output is h'. */
#include "../../grt_internal.h"
#include "../../grt_kernels.h"
#include "../../grt_math.h"

#if (GRT_HAS_F32 || GRT_HAS_Q8) && GRT_HAS_LSTM /* the whole file (GRT_NO_LSTM: empty) */

/* One row: gx holds W_ih·x + b_ih (4H; overwritten with the gate values and φ(c')), gh holds
 * U·h + b_hh (4H), hc the row's h and c (updated). Each product is rounded before the sum (no
 * contraction: -ffp-contract=off), the order golden.py repeats. */
static void lstm_row(const grt_layer *L, float *restrict gx, const float *restrict gh, float *restrict hc)
{
    const size_t H = L->output_size;
    float *restrict i = gx, *restrict f = gx + H, *restrict g = gx + 2 * H, *restrict o = gx + 3 * H;
    float *restrict h = hc, *restrict c = hc + H;
    for (size_t k = 0; k < 4 * H; k++)
        gx[k] += gh[k];
    grt_act_apply(L->gate_activation, i, 2 * H); /* i and f */
    grt_act_apply(L->gate_activation, o, H);
    grt_act_apply(L->activation, g, H);
    for (size_t k = 0; k < H; k++)
        c[k] = f[k] * c[k] + i[k] * g[k];
    /* φ(c') in the g block, which is consumed */
    for (size_t k = 0; k < H; k++)
        g[k] = c[k];
    grt_act_apply(L->activation, g, H);
    for (size_t k = 0; k < H; k++)
        h[k] = o[k] * g[k];
}

/* The U·h products of all B rows first (each weight row read once for the B rows; q8: each h quantized
 * once), then the gate math row by row. */
void grt_lstm_recur_float(const grt_layer *L, float *restrict gx, size_t ldgx, float *restrict hc, size_t ldh,
                          size_t B, grt_gru_scratch s)
{
    const size_t G = 4 * (size_t)L->output_size;
    grt_float_layer_product(L, GRT_ROLE_W_HH, 0, G, s.gh, G, hc, ldh, B, s.hq, s.sx);
    for (size_t b = 0; b < B; b++)
        lstm_row(L, gx + b * ldgx, s.gh + b * G, hc + b * ldh);
}

#else
typedef int grt_no_lstm_float_cells; /* ISO C forbids an empty translation unit */
#endif
