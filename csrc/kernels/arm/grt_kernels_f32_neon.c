/* grt_kernels_f32_neon.c — the NEON variants of the f32 products (AArch64, levels neon and neon_dot).
 * NEON is part of the base architecture there: no target attribute, no CPU check.
 *
 * Summation order of every dot product w·x of length n (the contract that makes grt_matmul_f32_neon
 * bit-identical to grt_matvec_f32_neon): two 4-lane accumulators a0 = a1 = 0;
 *   for j = 0, 8, 16, ... while j + 8 <= n:  a0 = fma(w[j:j+4], x[j:j+4], a0);
 *                                            a1 = fma(w[j+4:j+8], x[j+4:j+8], a1);
 *   if 4 more remain:                        a0 = fma(w[j:j+4], x[j:j+4], a0), j += 4;
 *   if t = n - j > 0 remain (t < 4):         a1 = fma(w[j:j+t] and zeros, x[j:j+t] and zeros, a1);
 * then s = a0 + a1 (lane-wise), the dot is (s0 + s1) + (s2 + s3), and the bias is added last. Rows
 * are computed four at a time (eight accumulator chains: enough to cover the FMA latency of two
 * pipes, and each FMA needs a weight load anyway); the last pass repeats its last row where rows run
 * out, so every row goes through the same operations whichever pass it falls in.
 *
 * The panel8 products (weight_layout 1) follow the order of grt_kernels.h with fused multiply-adds
 * (the operations of the AVX2 level): per row e over the even k and o over the odd k in increasing k,
 * y = b + (e + o); a panel's 8 rows are two 4-lane halves. */
#include "../../grt_kernels.h"

#include "../../grt_internal.h"

#if GRT_HAVE_NEON && GRT_HAS_F32

#include <arm_neon.h>

/* p[0:t] and zeros (1 <= t < 4). Zeros, not the next row's weights: 0 · inf would be a NaN. Lane
 * loads: no memcpy call (which would spill the accumulators). */
static inline float32x4_t load_tail(const float *p, size_t t)
{
    float32x4_t v = vld1q_lane_f32(p, vdupq_n_f32(0.0f), 0);
    if (t > 1)
        v = vld1q_lane_f32(p + 1, v, 1);
    if (t > 2)
        v = vld1q_lane_f32(p + 2, v, 2);
    return v;
}

/* ((s0 + s1) + (s2 + s3)) of s = a0 + a1 for each of four rows, as one vector (pairwise adds). */
static inline float32x4_t hsum4(float32x4_t a00, float32x4_t a01, float32x4_t a10, float32x4_t a11,
                                float32x4_t a20, float32x4_t a21, float32x4_t a30, float32x4_t a31)
{
    float32x4_t p01 = vpaddq_f32(vaddq_f32(a00, a01), vaddq_f32(a10, a11));
    float32x4_t p23 = vpaddq_f32(vaddq_f32(a20, a21), vaddq_f32(a30, a31));
    return vpaddq_f32(p01, p23);
}

/* The dot products of rows w0..w3 (n columns each) with x, without bias. */
static inline float32x4_t dot4(const float *w0, const float *w1, const float *w2, const float *w3,
                               const float *x, size_t n)
{
    float32x4_t a00 = vdupq_n_f32(0.0f), a01 = a00, a10 = a00, a11 = a00;
    float32x4_t a20 = a00, a21 = a00, a30 = a00, a31 = a00;
    size_t j = 0;
    for (; j + 8 <= n; j += 8) {
        float32x4_t x0 = vld1q_f32(x + j), x1 = vld1q_f32(x + j + 4);
        a00 = vfmaq_f32(a00, vld1q_f32(w0 + j), x0);
        a01 = vfmaq_f32(a01, vld1q_f32(w0 + j + 4), x1);
        a10 = vfmaq_f32(a10, vld1q_f32(w1 + j), x0);
        a11 = vfmaq_f32(a11, vld1q_f32(w1 + j + 4), x1);
        a20 = vfmaq_f32(a20, vld1q_f32(w2 + j), x0);
        a21 = vfmaq_f32(a21, vld1q_f32(w2 + j + 4), x1);
        a30 = vfmaq_f32(a30, vld1q_f32(w3 + j), x0);
        a31 = vfmaq_f32(a31, vld1q_f32(w3 + j + 4), x1);
    }
    if (j + 4 <= n) {
        float32x4_t x0 = vld1q_f32(x + j);
        a00 = vfmaq_f32(a00, vld1q_f32(w0 + j), x0);
        a10 = vfmaq_f32(a10, vld1q_f32(w1 + j), x0);
        a20 = vfmaq_f32(a20, vld1q_f32(w2 + j), x0);
        a30 = vfmaq_f32(a30, vld1q_f32(w3 + j), x0);
        j += 4;
    }
    if (j < n) {
        size_t t = n - j;
        float32x4_t x1 = load_tail(x + j, t);
        a01 = vfmaq_f32(a01, load_tail(w0 + j, t), x1);
        a11 = vfmaq_f32(a11, load_tail(w1 + j, t), x1);
        a21 = vfmaq_f32(a21, load_tail(w2 + j, t), x1);
        a31 = vfmaq_f32(a31, load_tail(w3 + j, t), x1);
    }
    return hsum4(a00, a01, a10, a11, a20, a21, a30, a31);
}

/* The four row pointers of the pass at row r (the last pass repeats its last row). */
static inline void rows_of(const float *w[4], const float *W, size_t r, size_t rows, size_t cols)
{
    w[0] = W + r * cols;
    w[1] = r + 1 < rows ? w[0] + cols : w[0];
    w[2] = r + 2 < rows ? w[1] + cols : w[1];
    w[3] = r + 3 < rows ? w[2] + cols : w[2];
}

/* y[k] = b[k] + d[k] for the k < rows - r rows of the pass at r. */
static inline void store_rows(float *y, const float *b, float32x4_t d, size_t r, size_t rows)
{
    if (rows - r >= 4) {
        vst1q_f32(y, vaddq_f32(vld1q_f32(b), d));
        return;
    }
    float d4[4];
    vst1q_f32(d4, d);
    for (size_t k = 0; r + k < rows; k++)
        y[k] = b[k] + d4[k];
}

void grt_matvec_f32_neon(float *restrict y, const float *restrict W, const float *restrict b,
                         const float *restrict x, size_t rows, size_t cols)
{
    const float *w[4];
    for (size_t r = 0; r < rows; r += 4) {
        rows_of(w, W, r, rows, cols);
        store_rows(y + r, b + r, dot4(w[0], w[1], w[2], w[3], x, cols), r, rows);
    }
}

/* Steps per block: the block's four weight rows stay in L1 while they are used for its steps. */
#define STEP_BLOCK 8

void grt_matmul_f32_neon(float *restrict Y, size_t ldy, const float *restrict W, const float *restrict b,
                         const float *restrict X, size_t ldx, size_t rows, size_t cols, size_t T)
{
    const float *w[4];
    for (size_t t0 = 0; t0 < T; t0 += STEP_BLOCK) {
        size_t t1 = T - t0 < STEP_BLOCK ? T : t0 + STEP_BLOCK;
        for (size_t r = 0; r < rows; r += 4) {
            rows_of(w, W, r, rows, cols);
            for (size_t t = t0; t < t1; t++)
                store_rows(Y + t * ldy + r, b + r, dot4(w[0], w[1], w[2], w[3], X + t * ldx, cols), r, rows);
        }
    }
}

/* ---- panel8 ------------------------------------------------------------------------------------ */

/* The accumulators of one panel: even and odd k, rows 0-3 (lo) and 4-7 (hi). */
typedef struct panel_acc {
    float32x4_t elo, ehi, olo, ohi;
} panel_acc;

static inline panel_acc panel_zero(void)
{
    panel_acc a;
    a.elo = a.ehi = a.olo = a.ohi = vdupq_n_f32(0.0f);
    return a;
}

/* a + column k (8 weights at w) times xe into e, column k + 1 (at w + 8) times xo into o. */
static inline panel_acc panel_fma2(panel_acc a, const float *w, float32x4_t xe, float32x4_t xo)
{
    a.elo = vfmaq_f32(a.elo, vld1q_f32(w), xe);
    a.ehi = vfmaq_f32(a.ehi, vld1q_f32(w + 4), xe);
    a.olo = vfmaq_f32(a.olo, vld1q_f32(w + 8), xo);
    a.ohi = vfmaq_f32(a.ohi, vld1q_f32(w + 12), xo);
    return a;
}

/* The last column when cols is odd: into e only. */
static inline panel_acc panel_fma1(panel_acc a, const float *w, float32x4_t xe)
{
    a.elo = vfmaq_f32(a.elo, vld1q_f32(w), xe);
    a.ehi = vfmaq_f32(a.ehi, vld1q_f32(w + 4), xe);
    return a;
}

/* y[i] = b[i] + (e[i] + o[i]) for the first n <= 8 rows (b holds only those). */
static inline void panel_store(float *y, const float *b, panel_acc a, size_t n)
{
    float32x4_t slo = vaddq_f32(a.elo, a.olo), shi = vaddq_f32(a.ehi, a.ohi);
    if (n == GRT_PANEL_ROWS) {
        vst1q_f32(y, vaddq_f32(vld1q_f32(b), slo));
        vst1q_f32(y + 4, vaddq_f32(vld1q_f32(b + 4), shi));
        return;
    }
    float s[8];
    vst1q_f32(s, slo);
    vst1q_f32(s + 4, shi);
    for (size_t i = 0; i < n; i++)
        y[i] = b[i] + s[i];
}

/* Two consecutive full panels (16 rows) at P: eight accumulator chains, x[k] broadcast once. */
static inline void panels2(float *y, const float *P, const float *b, const float *x, size_t cols)
{
    const float *p0 = P, *p1 = P + GRT_PANEL_ROWS * cols;
    panel_acc a0 = panel_zero(), a1 = a0;
    size_t k = 0;
    for (; k + 2 <= cols; k += 2) {
        float32x4_t xe = vdupq_n_f32(x[k]), xo = vdupq_n_f32(x[k + 1]);
        a0 = panel_fma2(a0, p0 + GRT_PANEL_ROWS * k, xe, xo);
        a1 = panel_fma2(a1, p1 + GRT_PANEL_ROWS * k, xe, xo);
    }
    if (k < cols) {
        float32x4_t xe = vdupq_n_f32(x[k]);
        a0 = panel_fma1(a0, p0 + GRT_PANEL_ROWS * k, xe);
        a1 = panel_fma1(a1, p1 + GRT_PANEL_ROWS * k, xe);
    }
    panel_store(y, b, a0, GRT_PANEL_ROWS);
    panel_store(y + GRT_PANEL_ROWS, b + GRT_PANEL_ROWS, a1, GRT_PANEL_ROWS);
}

/* One panel (zero rows pad it to 8 in P), its first n rows stored: per row the operations of panels2. */
static inline void panel1(float *y, const float *p, const float *b, const float *x, size_t cols, size_t n)
{
    panel_acc a = panel_zero();
    size_t k = 0;
    for (; k + 2 <= cols; k += 2)
        a = panel_fma2(a, p + GRT_PANEL_ROWS * k, vdupq_n_f32(x[k]), vdupq_n_f32(x[k + 1]));
    if (k < cols)
        a = panel_fma1(a, p + GRT_PANEL_ROWS * k, vdupq_n_f32(x[k]));
    panel_store(y, b, a, n);
}

/* Rows [0, rows) of one product at P: pairs of full panels, then single panels. */
static inline void panel_rows(float *y, const float *P, const float *b, const float *x, size_t rows, size_t cols)
{
    size_t r = 0;
    for (; r + 2 * GRT_PANEL_ROWS <= rows; r += 2 * GRT_PANEL_ROWS)
        panels2(y + r, P + r * cols, b + r, x, cols);
    for (; r < rows; r += GRT_PANEL_ROWS)
        panel1(y + r, P + r * cols, b + r, x, cols, rows - r < GRT_PANEL_ROWS ? rows - r : GRT_PANEL_ROWS);
}

void grt_matvec_f32_p8_neon(float *restrict y, const float *restrict P, const float *restrict b,
                            const float *restrict x, size_t rows, size_t cols)
{
    panel_rows(y, P, b, x, rows, cols);
}

/* Rows per slice: a slice's panels stay in L1 while they are used for the block's steps. */
#define PANEL_SLICE 32

void grt_matmul_f32_p8_neon(float *restrict Y, size_t ldy, const float *restrict P, const float *restrict b,
                            const float *restrict X, size_t ldx, size_t rows, size_t cols, size_t T)
{
    for (size_t t0 = 0; t0 < T; t0 += STEP_BLOCK) {
        size_t t1 = T - t0 < STEP_BLOCK ? T : t0 + STEP_BLOCK;
        for (size_t r = 0; r < rows; r += PANEL_SLICE) {
            size_t n = rows - r < PANEL_SLICE ? rows - r : PANEL_SLICE;
            for (size_t t = t0; t < t1; t++)
                panel_rows(Y + t * ldy + r, P + r * cols, b + r, X + t * ldx, n, cols);
        }
    }
}

#else
typedef int grt_no_f32_neon_variant; /* ISO C forbids an empty translation unit */
#endif
