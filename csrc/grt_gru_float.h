/* grt_gru_float.h — the element-wise part of the float GRU recurrence, one row (one stream) at a time,
 * shared by the f32 and the q8 recurrences (grt_kernels_f32.c, grt_kernels_q8.c): they differ only in
 * their U·h products, which they compute for all B rows at once around these steps. Not part of the
 * public API.
 *
 * The canonical GRU (docs/FORMAT.md). Gate blocks of a 3H row: r = [0,H), z = [H,2H), n = [2H,3H). The
 * update is computed as h' = n + z·(h − n), equal to (1 − z)·n + z·h in exact arithmetic (the form
 * PyTorch uses); it gives exactly n at z = 0 and exactly h at z = 1. */
#ifndef GRT_GRU_FLOAT_H
#define GRT_GRU_FLOAT_H

#include "grt_kernels.h"
#include "grt_math.h"

/* a[i] += b[i] */
static inline void grt_add_f32(float *restrict a, const float *restrict b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        a[i] += b[i];
}

/* The gates of one row, in place in gx (W_ih·x + b_ih) given gh (U·h + b_hh; its n block only with
 * reset_after = 1): r and z; then n += r ⊙ gh_n (reset_after = 1) or rh = r ⊙ h, the input of the
 * U_n product (reset_after = 0). */
static inline void grt_gru_gates_row(const grt_layer *L, float *restrict gx, const float *restrict gh,
                                     const float *restrict h, float *restrict rh)
{
    const size_t H = L->output_size;
    float *restrict n = gx + 2 * H;
    grt_add_f32(gx, gh, 2 * H);
    grt_act_apply(L->gate_activation, gx, 2 * H);
    if (L->reset_after) {
        for (size_t i = 0; i < H; i++)
            n[i] += gx[i] * gh[2 * H + i];
    } else {
        for (size_t i = 0; i < H; i++)
            rh[i] = gx[i] * h[i];
    }
}

/* The candidate and the new h of one row, after grt_gru_gates_row (and, with reset_after = 0, the
 * U_n·(r ⊙ h) + b_hn product in gh's n block). */
static inline void grt_gru_update_row(const grt_layer *L, float *restrict gx, const float *restrict gh,
                                      float *restrict h)
{
    const size_t H = L->output_size;
    float *restrict n = gx + 2 * H;
    const float *z = gx + H;
    if (!L->reset_after)
        grt_add_f32(n, gh + 2 * H, H);
    grt_act_apply(L->activation, n, H);
    for (size_t i = 0; i < H; i++)
        h[i] = n[i] + z[i] * (h[i] - n[i]);
}

#endif /* GRT_GRU_FLOAT_H */
