/* grt_cell_float.c — the cells of the float-activation precisions (f32 and q8), written once for every
 * ISA level: the products of a layer's weight matrices, the GRU update and the Dense output. The two
 * precisions differ only in their products (grt_float_layer_product); the element-wise math is the f32
 * one of grt_math.c. Products and activations are those of the active level (grt_dispatch.c).
 *
 * The canonical GRU (docs/FORMAT.md). Gate blocks of a 3H row: r = [0,H), z = [H,2H), n = [2H,3H). The
 * update is computed as h' = n + z·(h − n), equal to (1 − z)·n + z·h in exact arithmetic (the form
 * PyTorch uses); it gives exactly n at z = 0 and exactly h at z = 1. */
#include "../../grt_kernels.h"

#include "../../grt_internal.h"
#include "../../grt_math.h"

#if GRT_HAS_F32 || GRT_HAS_Q8 /* the whole file */

void grt_float_layer_product(const grt_layer *L, unsigned role, size_t row0, size_t rows, float *restrict Y,
                             size_t ldy, const float *restrict X, size_t ldx, size_t B, int8_t *restrict xq,
                             float *restrict sx)
{
    int hh = role == GRT_ROLE_W_HH;
    size_t cols = hh ? L->output_size : L->input_size;
    const float *b = (const float *)L->tensor[hh ? GRT_ROLE_B_HH : GRT_ROLE_B_IH] + row0;
    /* The loader admits only the precisions of this build: each branch exists when needed. */
#if GRT_HAS_Q8
    if (L->precision == GRT_PREC_Q8) {
        const int8_t *W = (const int8_t *)L->tensor[role] + row0 * cols;
        const uint16_t *codes = (const uint16_t *)L->tensor[hh ? GRT_ROLE_W_HH_SCALE : GRT_ROLE_W_IH_SCALE] + row0;
        grt_matmul_q8(Y, ldy, W, codes, b, X, ldx, rows, cols, B, xq, sx);
        return;
    }
#else
    (void)xq, (void)sx;
#endif
#if GRT_HAS_F32
    /* panel8: a block of whole panels (row0 and rows multiples of 8) starts at the row-major offset */
    const float *W = (const float *)L->tensor[role] + row0 * cols;
    if (L->weight_layout == GRT_LAYOUT_PANEL8)
        grt_matmul_f32_p8(Y, ldy, W, b, X, ldx, rows, cols, B);
    else
        grt_matmul_f32(Y, ldy, W, b, X, ldx, rows, cols, B);
#endif
}

/* a[i] += b[i] */
static inline void add_f32(float *restrict a, const float *restrict b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        a[i] += b[i];
}

/* The gates of one row, in place in gx (W_ih·x + b_ih) given gh (U·h + b_hh; its n block only with
 * reset_after = 1): r and z; then n += r ⊙ gh_n (reset_after = 1) or rh = r ⊙ h, the input of the
 * U_n product (reset_after = 0). */
static void gates_row(const grt_layer *L, float *restrict gx, const float *restrict gh, const float *restrict h,
                      float *restrict rh)
{
    const size_t H = L->output_size;
    float *restrict n = gx + 2 * H;
    add_f32(gx, gh, 2 * H);
    grt_act_apply(L->gate_activation, gx, 2 * H);
    if (L->reset_after) {
        for (size_t i = 0; i < H; i++)
            n[i] += gx[i] * gh[2 * H + i];
    } else {
        for (size_t i = 0; i < H; i++)
            rh[i] = gx[i] * h[i];
    }
}

/* The candidate and the new h of one row, after gates_row (and, with reset_after = 0, the
 * U_n·(r ⊙ h) + b_hn product in gh's n block). */
static void update_row(const grt_layer *L, float *restrict gx, const float *restrict gh, float *restrict h)
{
    const size_t H = L->output_size;
    float *restrict n = gx + 2 * H;
    const float *z = gx + H;
    if (!L->reset_after)
        add_f32(n, gh + 2 * H, H);
    grt_act_apply(L->activation, n, H);
    for (size_t i = 0; i < H; i++)
        h[i] = n[i] + z[i] * (h[i] - n[i]);
}

/* The products of all rows first (each weight row read once for the B rows), then the gate math row by
 * row; reset_after = 0 needs r before U_n·(r ⊙ h), hence a second product between the two row passes. */
void grt_gru_recur_float(const grt_layer *L, float *restrict gx, size_t ldgx, float *restrict h, size_t ldh,
                         size_t B, grt_gru_scratch s)
{
    const size_t H = L->output_size, G = 3 * H;
    grt_float_layer_product(L, GRT_ROLE_W_HH, 0, L->reset_after ? G : 2 * H, s.gh, G, h, ldh, B, s.hq, s.sx);
    for (size_t b = 0; b < B; b++)
        gates_row(L, gx + b * ldgx, s.gh + b * G, h + b * ldh, s.rh + b * H);
    if (!L->reset_after)
        grt_float_layer_product(L, GRT_ROLE_W_HH, 2 * H, H, s.gh + 2 * H, G, s.rh, H, B, s.hq, s.sx);
    for (size_t b = 0; b < B; b++)
        update_row(L, gx + b * ldgx, s.gh + b * G, h + b * ldh);
}

void grt_dense_out_float(const grt_layer *L, float *y, size_t n)
{
    const size_t O = L->output_size;
    for (size_t r = 0; r < n; r++)
        grt_act_apply_param(L->activation, grt_bits_float(L->act_param), y + r * O, O);
}

#else
typedef int grt_no_float_cells; /* ISO C forbids an empty translation unit */
#endif
