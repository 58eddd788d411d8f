/* grt_cell_lstm_q15.c — the q15 LSTM cell (format 1.5; docs/QUANTIZATION.md, "q15 LSTM"), integer only,
 * written once for every ISA level over the level's q15 products (grt_q15_layer_product) and gate lanes
 * (grt_q15_lanes add_act). `make nofloat` compiles this file with -mgeneral-regs-only.
 *
 * Gate blocks of a 4H row: i = [0,H), f = [H,2H), g = [2H,3H), o = [3H,4H). h is Q15; the cell state c
 * is int16 with 15 − p fraction bits, p = L->act_param (the entry's param, 0..14, checked by the loader):
 * c = c_q·2^(p−15), so |c| < 2^p. With gi = g(W_ih, b_ih; x), gh = g(W_hh, b_hh; h) (Q16):
 *     i, f, o = σ(sat32(gi + gh))     g = tanh(sat32(gi + gh))                        (Q15)
 *     c' = sat16(RSHR(f·c·2^p + i·g, 15 + p))        (one rounding; |f·c·2^p| <= 2^44, int64)
 *     h' = sat16(RSHR(o·tanh(c'·2^(p+1)), 15))       (c'·2^(p+1) is c' in Q16, exact: |.| <= 2^30)
 * The state row of a layer is h (H int16) followed by c (H int16). */
#include "../../grt_internal.h"

#include "../../grt_q15.h"

#if GRT_HAS_Q15 && GRT_HAS_LSTM /* the whole file (GRT_NO_Q15, GRT_NO_LSTM: empty) */

/* The cell and output update of one row from its gate values g = [i | f | g | o] (4H, Q15). */
static void lstm_q15_row(int32_t p, const int32_t *restrict g, int16_t *restrict h, int16_t *restrict c, size_t H)
{
    const int32_t *gi = g, *gf = g + H, *gg = g + 2 * H, *go = g + 3 * H;
    const int64_t up = (int64_t)1 << p;
    for (size_t k = 0; k < H; k++) {
        int64_t v = (int64_t)gf[k] * c[k] * up + (int64_t)gi[k] * gg[k];
        c[k] = grt_q15_sat16(grt_q15_rshr(v, 15u + (unsigned)p));
        int32_t t = grt_q15_tanh((int32_t)c[k] * (int32_t)(2 * up));
        h[k] = grt_q15_sat16(grt_q15_rshr((int64_t)go[k] * t, 15));
    }
}

void grt_q15_lstm_recur(const grt_layer *L, int32_t *restrict gi, size_t ldgi, int16_t *restrict hc, size_t ldh,
                        size_t B, int32_t *restrict gh)
{
    const size_t H = L->output_size, G = 4 * H;
    const grt_q15_lanes *k = grt_q15_lanes_active();

    grt_q15_layer_product(L, GRT_ROLE_W_HH, 0, G, gh, G, hc, ldh, B);
    for (size_t b = 0; b < B; b++) {
        int32_t *g = gi + b * ldgi;
        const int32_t *a = gh + b * G;
        int16_t *h = hc + b * ldh;
        k->add_act(L->gate_activation, g, a, 2 * H); /* i and f */
        k->add_act(GRT_ACT_TANH, g + 2 * H, a + 2 * H, H);
        k->add_act(L->gate_activation, g + 3 * H, a + 3 * H, H);
        lstm_q15_row((int32_t)L->act_param, g, h, h + H, H);
    }
}

#else
typedef int grt_no_q15_lstm_cells; /* ISO C forbids an empty translation unit */
#endif
