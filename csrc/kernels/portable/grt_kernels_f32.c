/* grt_kernels_f32.c — the f32 kernels: plain loops with restrict and fixed-width partial sums that
 * gcc/clang -O3 vectorize without -ffast-math. The summation order is documented in grt_kernels.h. */
#include "../../grt_kernels.h"

#include "../../grt_internal.h"

#if GRT_HAS_F32 /* the whole file (GRT_NO_F32: empty) */

#define LANES 8 /* partial sums per dot product: part of the summation-order contract */

/* The fixed combination tree of the 8 partial sums. */
static inline float combine(const float acc[LANES])
{
    return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

static inline float dot_f32(const float *restrict w, const float *restrict x, size_t n)
{
    float acc[LANES] = {0};
    size_t j = 0;
    for (; j + LANES <= n; j += LANES)
        for (size_t k = 0; k < LANES; k++)
            acc[k] += w[j + k] * x[j + k];
    for (size_t k = 0; j + k < n; k++)
        acc[k] += w[j + k] * x[j + k];
    return combine(acc);
}

void grt_matvec_f32_scalar(float *restrict y, const float *restrict W, const float *restrict b,
                    const float *restrict x, size_t rows, size_t cols)
{
    for (size_t r = 0; r < rows; r++)
        y[r] = b[r] + dot_f32(W + r * cols, x, cols);
}

/* Steps per block of grt_matmul_f32_scalar: each weight row is read from memory once per block and then
 * reused from L1 for the block's other steps (the inputs of a block stay in L1 too). Every element
 * goes through dot_f32, so the result is bit-identical to grt_matvec_f32_scalar. (A variant keeping four
 * steps' partial sums in registers was slower with gcc 12's auto-vectorization; that kind of
 * blocking belongs in explicit SIMD variants.) */
#define STEP_BLOCK 8

void grt_matmul_f32_scalar(float *restrict Y, size_t ldy, const float *restrict W, const float *restrict b,
                    const float *restrict X, size_t ldx, size_t rows, size_t cols, size_t T)
{
    for (size_t t0 = 0; t0 < T; t0 += STEP_BLOCK) {
        size_t t1 = T - t0 < STEP_BLOCK ? T : t0 + STEP_BLOCK;
        for (size_t r = 0; r < rows; r++) {
            const float *w = W + r * cols;
            for (size_t t = t0; t < t1; t++)
                Y[t * ldy + r] = b[r] + dot_f32(w, X + t * ldx, cols);
        }
    }
}

/* ---- panel8 ---------------------------------------------------------------------------------------- */

/* y[0, n) = b + W·x for one panel p (8·cols floats), n <= 8 rows of it; the order of grt_kernels.h. */
static inline void panel_f32(float *restrict y, const float *restrict p, const float *restrict b,
                             const float *restrict x, size_t cols, size_t n)
{
    float e[GRT_PANEL_ROWS] = {0}, o[GRT_PANEL_ROWS] = {0};
    size_t k = 0;
    for (; k + 2 <= cols; k += 2) {
        const float *w = p + GRT_PANEL_ROWS * k;
        for (size_t i = 0; i < GRT_PANEL_ROWS; i++) {
            e[i] += w[i] * x[k];
            o[i] += w[GRT_PANEL_ROWS + i] * x[k + 1];
        }
    }
    if (k < cols)
        for (size_t i = 0; i < GRT_PANEL_ROWS; i++)
            e[i] += p[GRT_PANEL_ROWS * k + i] * x[k];
    for (size_t i = 0; i < n; i++)
        y[i] = b[i] + (e[i] + o[i]);
}

void grt_matvec_f32_p8_scalar(float *restrict y, const float *restrict P, const float *restrict b,
                              const float *restrict x, size_t rows, size_t cols)
{
    for (size_t r = 0; r < rows; r += GRT_PANEL_ROWS)
        panel_f32(y + r, P + r * cols, b + r, x, cols, rows - r < GRT_PANEL_ROWS ? rows - r : GRT_PANEL_ROWS);
}

void grt_matmul_f32_p8_scalar(float *restrict Y, size_t ldy, const float *restrict P, const float *restrict b,
                              const float *restrict X, size_t ldx, size_t rows, size_t cols, size_t T)
{
    for (size_t t0 = 0; t0 < T; t0 += STEP_BLOCK) {
        size_t t1 = T - t0 < STEP_BLOCK ? T : t0 + STEP_BLOCK;
        for (size_t r = 0; r < rows; r += GRT_PANEL_ROWS) {
            size_t n = rows - r < GRT_PANEL_ROWS ? rows - r : GRT_PANEL_ROWS;
            for (size_t t = t0; t < t1; t++)
                panel_f32(Y + t * ldy + r, P + r * cols, b + r, X + t * ldx, cols, n);
        }
    }
}

#else
typedef int grt_no_f32_kernels; /* ISO C forbids an empty translation unit */
#endif
