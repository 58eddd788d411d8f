/* grt_kernels_q15_neon.c — the NEON products of the q15 levels neon and neon_dot (docs/QUANTIZATION.md,
 * "q15"), AArch64 only. (sdot multiplies int8 by int8; the q15 inputs are int16, so both levels use
 * these. The GRU cell's element-wise steps of both are the scalar ones, grt_q15_lanes_scalar.)
 *
 * Integer-only, like grt_kernels_q15.c: no floating-point type or operation (poisoned below). It cannot
 * take part in `make nofloat` (-mgeneral-regs-only forbids the vector registers it exists for, so that
 * build leaves the NEON levels out).
 *
 * Dot products, exact, so equal to the scalar level's whatever the order: 8 columns at a time per row,
 * sxtl widens 8 int8 weights to int16 and smlal/smlal2 multiply them with 8 int16 inputs into two int32
 * accumulators of four lanes (each product |w·x| <= 128·32768 = 2^22). Four rows per pass share each
 * x load. The lanes are int32 within blocks of BLOCK columns: a lane then holds at most BLOCK/8 + 1
 * products (the tail joins the last block), |lane| <= 129·2^22 < 2^29.1, and the two accumulators'
 * sum stays below 2^31; after each block that sum is widened pairwise (sadalp) into two int64 lanes
 * per row. The requantization (grt_q15_requant) is the scalar one, per row: it needs 64-bit products,
 * which NEON lacks.
 *
 * Row tails (cols mod 8 columns) use a zero-padded copy of x's tail: weight bytes past the row end
 * then multiply zeros, so the tail load of a row may run into the next row; where it would pass the
 * end of the matrix the tail is copied to a zeroed buffer instead. */
#include "../../grt_internal.h"

#include "../../grt_q15.h"

#if GRT_HAVE_NEON && GRT_HAS_Q15

#include <arm_neon.h>

/* From here on, any floating-point type in this file is a compile error. */
#pragma GCC poison float double float32x4_t float64x2_t float32x2_t float64x1_t

#define BLOCK 1024 /* columns per int32 lane sum (see above); a multiple of 8 */

/* 8 weight bytes from p whose first t (< 8) are the row's tail: a direct load while it stays inside
 * the matrix (the bytes after the tail meet zeros of x), else the t bytes and zeros. */
static inline int8x8_t w_tail(const int8_t *p, size_t t, const int8_t *end)
{
    if ((size_t)(end - p) >= 8)
        return vld1_s8(p);
    int8_t buf[8] = {0};
    grt_memcpy(buf, p, t);
    return vld1_s8(buf);
}

/* x[0:t] (t < 8) and zeros. */
static inline int16x8_t x_tail(const int16_t *x, size_t t)
{
    int16_t buf[8] = {0};
    grt_memcpy(buf, x, t * sizeof(int16_t));
    return vld1q_s16(buf);
}

/* One row's two int32 accumulators of a block. */
typedef struct acc2 {
    int32x4_t lo, hi;
} acc2;

/* a + the products of 8 weights (int8) and 8 inputs (int16). */
static inline acc2 mac8(acc2 a, int8x8_t w, int16x8_t x)
{
    int16x8_t w16 = vmovl_s8(w);
    a.lo = vmlal_s16(a.lo, vget_low_s16(w16), vget_low_s16(x));
    a.hi = vmlal_high_s16(a.hi, w16, x);
    return a;
}

/* s + the block's sum of one row, in two int64 lanes. */
static inline int64x2_t widen(int64x2_t s, acc2 a)
{
    return vpadalq_s32(s, vaddq_s32(a.lo, a.hi));
}

/* The exact dot products of rows w0..w3 (n columns each) with x into s[0..3]; xt is x's tail
 * (n mod 8 columns) zero-padded, end the end of the matrix. */
static inline void dot4(int64_t s[4], const int8_t *w0, const int8_t *w1, const int8_t *w2, const int8_t *w3,
                        const int16_t *x, size_t n, int16x8_t xt, const int8_t *end)
{
    const size_t nfull = n & ~(size_t)7;
    const acc2 zero = {vdupq_n_s32(0), vdupq_n_s32(0)};
    int64x2_t s0 = vdupq_n_s64(0), s1 = s0, s2 = s0, s3 = s0;
    size_t j = 0;
    do {
        size_t jb = nfull - j > BLOCK ? j + BLOCK : nfull;
        acc2 a0 = zero, a1 = zero, a2 = zero, a3 = zero;
        for (; j < jb; j += 8) {
            int16x8_t xv = vld1q_s16(x + j);
            a0 = mac8(a0, vld1_s8(w0 + j), xv);
            a1 = mac8(a1, vld1_s8(w1 + j), xv);
            a2 = mac8(a2, vld1_s8(w2 + j), xv);
            a3 = mac8(a3, vld1_s8(w3 + j), xv);
        }
        if (j == nfull && j < n) {
            size_t t = n - j;
            a0 = mac8(a0, w_tail(w0 + j, t, end), xt);
            a1 = mac8(a1, w_tail(w1 + j, t, end), xt);
            a2 = mac8(a2, w_tail(w2 + j, t, end), xt);
            a3 = mac8(a3, w_tail(w3 + j, t, end), xt);
        }
        s0 = widen(s0, a0), s1 = widen(s1, a1), s2 = widen(s2, a2), s3 = widen(s3, a3);
    } while (j < nfull);
    s[0] = vaddvq_s64(s0), s[1] = vaddvq_s64(s1), s[2] = vaddvq_s64(s2), s[3] = vaddvq_s64(s3);
}

/* The pass at row r: rows r .. r+3, or the last rows - r < 4 with the last one repeated; requantized
 * into y[0 .. min(4, rows - r)). */
static inline void pass4(int32_t *y, const int8_t *W, const uint16_t *codes, const int32_t *b,
                         const int16_t *x, size_t r, size_t rows, size_t cols, int16x8_t xt, const int8_t *end)
{
    const int8_t *w0 = W + r * cols, *w1 = r + 1 < rows ? w0 + cols : w0;
    const int8_t *w2 = r + 2 < rows ? w1 + cols : w1, *w3 = r + 3 < rows ? w2 + cols : w2;
    int64_t s[4];
    dot4(s, w0, w1, w2, w3, x, cols, xt, end);
    for (size_t k = 0; k < 4 && r + k < rows; k++)
        y[k] = grt_q15_requant(s[k], codes[r + k], b[r + k]);
}

void grt_q15_matvec_neon(int32_t *restrict y, const int8_t *restrict W, const uint16_t *restrict codes,
                         const int32_t *restrict b, const int16_t *restrict x, size_t rows, size_t cols)
{
    const int8_t *end = W + rows * cols;
    size_t jt = cols & ~(size_t)7;
    int16x8_t xt = x_tail(x + jt, cols - jt);
    for (size_t r = 0; r < rows; r += 4)
        pass4(y + r, W, codes, b, x, r, rows, cols, xt, end);
}

/* Steps per block: the block's four weight rows stay in L1 while they are used for its steps. */
#define STEP_BLOCK 8

void grt_q15_matmul_neon(int32_t *restrict Y, size_t ldy, const int8_t *restrict W,
                         const uint16_t *restrict codes, const int32_t *restrict b, const int16_t *restrict X,
                         size_t ldx, size_t rows, size_t cols, size_t T)
{
    const int8_t *end = W + rows * cols;
    size_t jt = cols & ~(size_t)7;
    int16x8_t xt[STEP_BLOCK];
    for (size_t t0 = 0; t0 < T; t0 += STEP_BLOCK) {
        size_t nt = T - t0 < STEP_BLOCK ? T - t0 : STEP_BLOCK;
        for (size_t t = 0; t < nt; t++)
            xt[t] = x_tail(X + (t0 + t) * ldx + jt, cols - jt);
        for (size_t r = 0; r < rows; r += 4)
            for (size_t t = 0; t < nt; t++)
                pass4(Y + (t0 + t) * ldy + r, W, codes, b, X + (t0 + t) * ldx, r, rows, cols, xt[t], end);
    }
}

#else
typedef int grt_no_q15_neon_variant; /* ISO C forbids an empty translation unit */
#endif
