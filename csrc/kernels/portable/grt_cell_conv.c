/* grt_cell_conv.c — the causal Conv1D cells (docs/FORMAT.md, "Conv1D layers"), written once for every
 * ISA level over the matrix products of the layer's precision (grt_dispatch.c picks their level):
 *
 *   groups 1:   y[t][o] = act(b[o] + Σ_i Σ_j W[o][i·k + j] · x[t − (k − 1 − j)·d][i])
 *   depthwise:  y[t][o] = act(b[o] + Σ_j W[o][j] · x[t − (k − 1 − j)·d][o / m]),  m = O / I
 *
 * (PyTorch's weight layout, O × I × k, flattened). Frames before the first are zeros (causal padding).
 * A chunk first gathers, for each of its rows, the window row: k·I values, channel-major (element
 * i·k + j is tap j of channel i, tap 0 the oldest), from the layer's state (the last (k − 1)·d frames
 * before the chunk) and the chunk's own input rows; then the state moves on past the chunk; then one
 * product over all window rows (depthwise: one per channel, over its k taps). The products are those
 * of a Dense layer, matmul equal row by row to matvec, so a step, a run and a batch give the same bits.
 *
 * The window is kept in order (oldest frame first) rather than as a ring with a head index: the state
 * then holds only frames (reset = zeros, get/set and batch gathering as for a GRU), and moving it costs
 * (k − 1)·d·I element copies per chunk, fewer than the product's O·k·I multiply-adds per step.
 * No floating-point operation in this file (`make nofloat`): the float cell only passes pointers. */
#include "../../grt_conv.h"

#include "../../grt_internal.h"
#include "../../grt_kernels.h"
#include "../../grt_q15.h"

#if GRT_HAS_CONV1D /* the whole file (GRT_NO_CONV1D: empty) */

/* dst[s·i] = src[i] for i < n, elements of es bytes (4: float, 2: int16). */
static void copy_strided(uint8_t *dst, size_t stride, const uint8_t *src, size_t n, size_t es)
{
    if (es == 4) {
        for (size_t i = 0; i < n; i++)
            grt_memcpy(dst + i * stride * 4, src + i * 4, 4);
    } else {
        for (size_t i = 0; i < n; i++)
            grt_memcpy(dst + i * stride * 2, src + i * 2, 2);
    }
}

/* The window rows of the chunk into cols (c·B rows of k·I elements of es bytes). */
static void gather(const grt_layer *L, const uint8_t *win, size_t ldwin, const uint8_t *in, size_t c, size_t B,
                   uint8_t *cols, size_t es)
{
    const size_t I = L->input_size, k = L->kernel_size, d = L->dilation, W = (k - 1) * d, F = I * es;
    for (size_t b = 0; b < B; b++)
        for (size_t t = 0; t < c; t++) {
            uint8_t *row = cols + (b * c + t) * k * F;
            for (size_t j = 0; j < k; j++) {
                size_t back = (k - 1 - j) * d; /* tap j is frame t − back: in the chunk, or in the window */
                const uint8_t *frame = t >= back ? in + (b * c + t - back) * F : win + b * ldwin * es + (W + t - back) * F;
                copy_strided(row + j * es, k, frame, I, es);
            }
        }
}

/* Each window row becomes the last (k − 1)·d frames of itself followed by the stream's c input rows. */
static void advance(const grt_layer *L, uint8_t *win, size_t ldwin, const uint8_t *in, size_t c, size_t B, size_t es)
{
    const size_t W = (size_t)(L->kernel_size - 1u) * L->dilation, F = L->input_size * es;
    for (size_t b = 0; b < B && W > 0; b++) {
        uint8_t *w = win + b * ldwin * es;
        const uint8_t *x = in + b * c * F;
        if (c >= W) {
            grt_memcpy(w, x + (c - W) * F, W * F);
            continue;
        }
        for (size_t f = 0; f + c < W; f++) /* frame by frame: source and destination never overlap */
            grt_memcpy(w + f * F, w + (f + c) * F, F);
        grt_memcpy(w + (W - c) * F, x, c * F);
    }
}

/* The groups of a product: groups 1 is one product of all O rows over k·I columns; depthwise is one
 * per channel i, its m rows over its k taps (columns i·k … i·k + k − 1 of the window row). */
typedef struct conv_groups {
    size_t n, rows, cols; /* groups, rows and columns per group */
} conv_groups;

static conv_groups groups_of(const grt_layer *L)
{
    conv_groups g = {1, L->output_size, (size_t)L->kernel_size * L->input_size};
    if (L->depthwise) {
        g.n = L->input_size;
        g.rows = L->output_size / L->input_size;
        g.cols = L->kernel_size;
    }
    return g;
}

#if GRT_HAS_F32 || GRT_HAS_Q8
void grt_conv_float(const grt_layer *L, float *win, size_t ldwin, const float *in, float *out, size_t c,
                    size_t B, float *cols, int8_t *xq, float *sx)
{
    const size_t n = c * B, O = L->output_size, KI = (size_t)L->kernel_size * L->input_size;
    gather(L, (const uint8_t *)win, ldwin, (const uint8_t *)in, c, B, (uint8_t *)cols, sizeof(float));
    advance(L, (uint8_t *)win, ldwin, (const uint8_t *)in, c, B, sizeof(float));
    conv_groups g = groups_of(L);
    const float *b = (const float *)L->tensor[GRT_ROLE_B_IH];
    for (size_t q = 0; q < g.n; q++) {
        size_t row0 = q * g.rows;
        const float *X = cols + q * g.cols;
#if GRT_HAS_Q8
        if (L->precision == GRT_PREC_Q8) {
            const int8_t *W = (const int8_t *)L->tensor[GRT_ROLE_W_IH] + row0 * g.cols;
            const uint16_t *codes = (const uint16_t *)L->tensor[GRT_ROLE_W_IH_SCALE] + row0;
            grt_matmul_q8(out + row0, O, W, codes, b + row0, X, KI, g.rows, g.cols, n, xq, sx);
            continue;
        }
#else
        (void)xq, (void)sx;
#endif
#if GRT_HAS_F32
        const float *W = (const float *)L->tensor[GRT_ROLE_W_IH] + row0 * g.cols;
        grt_matmul_f32(out + row0, O, W, b + row0, X, KI, g.rows, g.cols, n);
#endif
    }
    grt_dense_out_float(L, out, n);
}
#endif

#if GRT_HAS_Q15
void grt_conv_q15(const grt_layer *L, int16_t *win, size_t ldwin, const int16_t *in, int16_t *out, size_t c,
                  size_t B, int32_t *g, int16_t *cols)
{
    const size_t n = c * B, O = L->output_size, KI = (size_t)L->kernel_size * L->input_size;
    gather(L, (const uint8_t *)win, ldwin, (const uint8_t *)in, c, B, (uint8_t *)cols, sizeof(int16_t));
    advance(L, (uint8_t *)win, ldwin, (const uint8_t *)in, c, B, sizeof(int16_t));
    conv_groups gr = groups_of(L);
    for (size_t q = 0; q < gr.n; q++) {
        size_t row0 = q * gr.rows;
        const int8_t *W = (const int8_t *)L->tensor[GRT_ROLE_W_IH] + row0 * gr.cols;
        const uint16_t *codes = (const uint16_t *)L->tensor[GRT_ROLE_W_IH_SCALE] + row0;
        const int32_t *b = (const int32_t *)L->tensor[GRT_ROLE_B_IH] + row0;
        grt_q15_matmul(g + row0, O, W, codes, b, cols + q * gr.cols, KI, gr.rows, gr.cols, n);
    }
    for (size_t r = 0; r < n; r++)
        grt_q15_dense_out(L->activation, g + r * O, out + r * O, O);
}
#endif
#else
typedef int grt_no_conv_cells; /* ISO C forbids an empty translation unit */
#endif
