/* grt_kernels_q8_neon.c — the NEON levels of the q8 kernels (docs/QUANTIZATION.md, "q8"), AArch64
 * only. Bit-identical to the scalar level (grt_kernels_q8.c):
 *
 *   - input quantization (both levels): max|x| on the bits (and, umax: the scalar loop's unsigned
 *     order), the two scalar divisions as written, then x_k·inv (fmul: one rounding, as the scalar
 *     multiply), clamp (fmin/fmax), NaN -> 0 (a mask) and round_away, which is exactly fcvtas (round
 *     to nearest, ties away from zero) for |p| <= 127; only the resulting integers are stored;
 *   - dot products: exact int32, so their order is free. 16 columns at a time per row. neon: smull and
 *     smlal2 give int16 pair sums (|pair| <= 2·128·127 = 32512 for |x| <= 127: never wraps, -128
 *     weights included), sadalp adds them to int32 lanes. neon_dot: sdot adds four products to each
 *     int32 lane (only when the CPU has FEAT_DotProd: grt_dispatch.c asks). |acc| <= 128·127·16384 <
 *     2^31. Four rows per pass share each x load, and their accumulators are reduced together (addp);
 *   - rescale: b + ((float)acc · s) · sx as scvtf, fmul, fmul, fadd — the scalar operations in the
 *     scalar order, never fused (-ffp-contract=off, as for the scalar level: gcc's vmulq_f32/vaddq_f32
 *     are plain C operators).
 *
 * The products of both levels are one code (the *_impl functions, always inlined) with the 16-column
 * step passed in, so the two cannot drift apart. Row tails (cols mod 16 columns) use a zero-padded copy
 * of x's tail: weight bytes past the row end then multiply zeros, so the tail load of a row may run
 * into the next row; where it would pass the end of the matrix the tail is copied to a zeroed buffer. */
#include "../../grt_internal.h"

#include "../../grt_kernels.h"
#include "../../grt_math.h"

#if GRT_HAVE_NEON && GRT_HAS_Q8

#include <arm_neon.h>

#if defined(__GNUC__) || defined(__clang__)
#define GRT_INLINE static inline __attribute__((always_inline))
#else
#define GRT_INLINE static inline
#endif

/* ---- input quantization ------------------------------------------------------------------------ */

/* round_away(clamp(p, -127, 127)), NaN -> 0, on 4 lanes (int32 results). */
static inline int32x4_t quantize4(float32x4_t p)
{
    uint32x4_t is_num = vceqq_f32(p, p);
    p = vmaxq_f32(vminq_f32(p, vdupq_n_f32(127.0f)), vdupq_n_f32(-127.0f));
    p = vreinterpretq_f32_u32(vandq_u32(vreinterpretq_u32_f32(p), is_num));
    return vcvtaq_s32_f32(p);
}

/* 16 quantized values of x[0:16] (already in int8 range: the narrowing never saturates). */
static inline int8x16_t quantize16(const float *x, float32x4_t vinv)
{
    int32x4_t q0 = quantize4(vmulq_f32(vld1q_f32(x), vinv));
    int32x4_t q1 = quantize4(vmulq_f32(vld1q_f32(x + 4), vinv));
    int32x4_t q2 = quantize4(vmulq_f32(vld1q_f32(x + 8), vinv));
    int32x4_t q3 = quantize4(vmulq_f32(vld1q_f32(x + 12), vinv));
    int16x8_t h0 = vcombine_s16(vqmovn_s32(q0), vqmovn_s32(q1));
    int16x8_t h1 = vcombine_s16(vqmovn_s32(q2), vqmovn_s32(q3));
    return vcombine_s8(vqmovn_s16(h0), vqmovn_s16(h1));
}

/* The bits of max|x_k|: sign-cleared floats compare as unsigned integers, every NaN above +inf. The
 * last n mod 4 values go through a zero-padded copy (zeros cannot raise the maximum). */
static inline uint32_t abs_max_bits(const float *x, size_t n)
{
    const uint32x4_t abs_mask = vdupq_n_u32(0x7FFFFFFFu);
    uint32x4_t mv = vdupq_n_u32(0);
    size_t k = 0;
    for (; k + 4 <= n; k += 4)
        mv = vmaxq_u32(mv, vandq_u32(vreinterpretq_u32_f32(vld1q_f32(x + k)), abs_mask));
    if (k < n) {
        float buf[4] = {0.0f, 0.0f, 0.0f, 0.0f};
        grt_memcpy(buf, x + k, (n - k) * sizeof(float));
        mv = vmaxq_u32(mv, vandq_u32(vreinterpretq_u32_f32(vld1q_f32(buf)), abs_mask));
    }
    return vmaxvq_u32(mv);
}

float grt_q8_quantize_neon(int8_t *restrict xq, const float *restrict x, size_t n)
{
    float m = grt_bits_float(abs_max_bits(x, n));
    float inv = 0.0f, sx = m; /* m = 0 or NaN */
    if (m > 0.0f) {
        inv = 127.0f / m;
        sx = m / 127.0f;
    }
    const float32x4_t vinv = vdupq_n_f32(inv);
    size_t k = 0;
    for (; k + 16 <= n; k += 16)
        vst1q_s8(xq + k, quantize16(x + k, vinv));
    if (k < n) { /* the last n mod 16 values through zero-padded copies (0 · inv = 0) */
        float buf[16] = {0.0f};
        int8_t out[16];
        grt_memcpy(buf, x + k, (n - k) * sizeof(float));
        vst1q_s8(out, quantize16(buf, vinv));
        grt_memcpy(xq + k, out, n - k);
    }
    return sx;
}

/* ---- products ---------------------------------------------------------------------------------- */

/* acc + the products of 16 weights and 16 inputs, in int32 lanes (which lane gets which product is
 * free: only the lanes' total is used). */
typedef int32x4_t (*mac_fn)(int32x4_t acc, int8x16_t w, int8x16_t x);

static inline int32x4_t mac_neon(int32x4_t acc, int8x16_t w, int8x16_t x)
{
    int16x8_t pairs = vmlal_high_s8(vmull_s8(vget_low_s8(w), vget_low_s8(x)), w, x);
    return vpadalq_s16(acc, pairs);
}

#if GRT_HAVE_NEON_DOT
static inline GRT_DOTPROD int32x4_t mac_dot(int32x4_t acc, int8x16_t w, int8x16_t x)
{
    return vdotq_s32(acc, w, x);
}
#endif

/* p[0:t] (t < 16) and zeros. */
static inline int8x16_t tail16(const int8_t *p, size_t t)
{
    int8_t buf[16] = {0};
    grt_memcpy(buf, p, t);
    return vld1q_s8(buf);
}

/* 16 weight bytes from p whose first t (< 16) are the row's tail: a direct load while it stays inside
 * the matrix (the bytes after the tail meet zeros of x), else the t bytes and zeros. */
static inline int8x16_t w_tail(const int8_t *p, size_t t, const int8_t *end)
{
    return (size_t)(end - p) >= 16 ? vld1q_s8(p) : tail16(p, t);
}

/* The exact dot products of rows w0..w3 (n columns each) with x; xt is x's tail (n mod 16 columns)
 * zero-padded, end the end of the matrix. */
GRT_INLINE int32x4_t dot4(mac_fn mac, const int8_t *w0, const int8_t *w1, const int8_t *w2,
                          const int8_t *w3, const int8_t *x, size_t n, int8x16_t xt, const int8_t *end)
{
    int32x4_t a0 = vdupq_n_s32(0), a1 = a0, a2 = a0, a3 = a0;
    size_t j = 0;
    for (; j + 16 <= n; j += 16) {
        int8x16_t xv = vld1q_s8(x + j);
        a0 = mac(a0, vld1q_s8(w0 + j), xv);
        a1 = mac(a1, vld1q_s8(w1 + j), xv);
        a2 = mac(a2, vld1q_s8(w2 + j), xv);
        a3 = mac(a3, vld1q_s8(w3 + j), xv);
    }
    if (j < n) {
        size_t t = n - j;
        a0 = mac(a0, w_tail(w0 + j, t, end), xt);
        a1 = mac(a1, w_tail(w1 + j, t, end), xt);
        a2 = mac(a2, w_tail(w2 + j, t, end), xt);
        a3 = mac(a3, w_tail(w3 + j, t, end), xt);
    }
    return vpaddq_s32(vpaddq_s32(a0, a1), vpaddq_s32(a2, a3)); /* (sum a0, sum a1, sum a2, sum a3) */
}

/* Four rows' b + ((float)acc · s) · sx, s the float of each code's bits << 16. */
static inline float32x4_t rescale4(int32x4_t acc, const uint16_t *codes, const float *b, float32x4_t vsx)
{
    float32x4_t s = vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(codes), 16));
    return vaddq_f32(vld1q_f32(b), vmulq_f32(vmulq_f32(vcvtq_f32_s32(acc), s), vsx));
}

/* The pass at row r: rows r .. r+3, or the last k = rows - r < 4 rows with the last one repeated (its
 * codes and biases through padded copies, its k results stored). */
GRT_INLINE void pass4(mac_fn mac, float *y, const int8_t *W, const uint16_t *codes, const float *b,
                      const int8_t *x, float sx, size_t r, size_t rows, size_t cols, int8x16_t xt,
                      const int8_t *end)
{
    const int8_t *w0 = W + r * cols, *w1 = r + 1 < rows ? w0 + cols : w0;
    const int8_t *w2 = r + 2 < rows ? w1 + cols : w1, *w3 = r + 3 < rows ? w2 + cols : w2;
    int32x4_t acc = dot4(mac, w0, w1, w2, w3, x, cols, xt, end);
    if (rows - r >= 4) {
        vst1q_f32(y, rescale4(acc, codes + r, b + r, vdupq_n_f32(sx)));
        return;
    }
    uint16_t c4[4] = {0, 0, 0, 0};
    float b4[4] = {0.0f, 0.0f, 0.0f, 0.0f}, y4[4];
    grt_memcpy(c4, codes + r, (rows - r) * sizeof(uint16_t));
    grt_memcpy(b4, b + r, (rows - r) * sizeof(float));
    vst1q_f32(y4, rescale4(acc, c4, b4, vdupq_n_f32(sx)));
    grt_memcpy(y, y4, (rows - r) * sizeof(float));
}

GRT_INLINE void matvec_impl(mac_fn mac, float *restrict y, const int8_t *restrict W,
                            const uint16_t *restrict codes, const float *restrict b,
                            const int8_t *restrict xq, float sx, size_t rows, size_t cols)
{
    const int8_t *end = W + rows * cols;
    size_t jt = cols & ~(size_t)15;
    int8x16_t xt = tail16(xq + jt, cols - jt);
    for (size_t r = 0; r < rows; r += 4)
        pass4(mac, y + r, W, codes, b, xq, sx, r, rows, cols, xt, end);
}

/* Steps per block: the block's four weight rows stay in L1 while they are used for its steps. */
#define STEP_BLOCK 8

GRT_INLINE void matmul_impl(mac_fn mac, float *restrict Y, size_t ldy, const int8_t *restrict W,
                            const uint16_t *restrict codes, const float *restrict b,
                            const int8_t *restrict Xq, const float *restrict sx, size_t rows, size_t cols,
                            size_t T)
{
    const int8_t *end = W + rows * cols;
    size_t jt = cols & ~(size_t)15;
    int8x16_t xt[STEP_BLOCK];
    for (size_t t0 = 0; t0 < T; t0 += STEP_BLOCK) {
        size_t nt = T - t0 < STEP_BLOCK ? T - t0 : STEP_BLOCK;
        for (size_t t = 0; t < nt; t++)
            xt[t] = tail16(Xq + (t0 + t) * cols + jt, cols - jt);
        for (size_t r = 0; r < rows; r += 4)
            for (size_t t = 0; t < nt; t++)
                pass4(mac, Y + (t0 + t) * ldy + r, W, codes, b, Xq + (t0 + t) * cols, sx[t0 + t], r, rows,
                      cols, xt[t], end);
    }
}

void grt_matvec_q8_neon(float *restrict y, const int8_t *restrict W, const uint16_t *restrict codes,
                        const float *restrict b, const int8_t *restrict xq, float sx, size_t rows,
                        size_t cols)
{
    matvec_impl(mac_neon, y, W, codes, b, xq, sx, rows, cols);
}

void grt_matmul_q8_neon(float *restrict Y, size_t ldy, const int8_t *restrict W,
                        const uint16_t *restrict codes, const float *restrict b, const int8_t *restrict Xq,
                        const float *restrict sx, size_t rows, size_t cols, size_t T)
{
    matmul_impl(mac_neon, Y, ldy, W, codes, b, Xq, sx, rows, cols, T);
}

#if GRT_HAVE_NEON_DOT
GRT_DOTPROD void grt_matvec_q8_neon_dot(float *restrict y, const int8_t *restrict W,
                                        const uint16_t *restrict codes, const float *restrict b,
                                        const int8_t *restrict xq, float sx, size_t rows, size_t cols)
{
    matvec_impl(mac_dot, y, W, codes, b, xq, sx, rows, cols);
}

GRT_DOTPROD void grt_matmul_q8_neon_dot(float *restrict Y, size_t ldy, const int8_t *restrict W,
                                        const uint16_t *restrict codes, const float *restrict b,
                                        const int8_t *restrict Xq, const float *restrict sx, size_t rows,
                                        size_t cols, size_t T)
{
    matmul_impl(mac_dot, Y, ldy, W, codes, b, Xq, sx, rows, cols, T);
}
#endif

#else
typedef int grt_no_q8_neon_variant; /* ISO C forbids an empty translation unit */
#endif
