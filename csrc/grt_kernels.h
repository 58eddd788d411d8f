/* grt_kernels.h — f32 and q8 kernels: matrix-vector and matrix-matrix products with a fixed summation order,
 * and the float cells over them (grt_cell_float.c). Weights are row-major (weight_layout 0: row r of W
 * starts at W + r·cols) except f32 layers stored in panel8 (weight_layout 1), which have their own
 * products (below).
 *
 * Scalar summation order (the contract that makes grt_matmul_f32 bit-identical to grt_matvec_f32): each dot
 * product keeps 8 partial sums, acc[k] += w[j+k]·x[j+k] for j = 0, 8, 16, ...; the tail (cols mod 8
 * elements) is added to acc[0..tail); the sums are combined as
 * ((acc0+acc4)+(acc1+acc5)) + ((acc2+acc6)+(acc3+acc7)), and the bias is added last. */
#ifndef GRT_KERNELS_H
#define GRT_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "grt_isa.h"
#include "include/gru_rt.h"

/* Run-time dispatch (grt_dispatch.c): grt_matvec_f32 and grt_matmul_f32 call the variant of the
 * active grt_isa level (one level for all precisions: the q8 products below and the q15 ones of
 * grt_q15.h switch with it). Each variant has its own summation order (above: the scalar one; the AVX2,
 * AVX-512 (avx512vnni level) and NEON ones are described in grt_kernels_f32_avx2.c,
 * grt_kernels_f32_avx512.c and grt_kernels_f32_neon.c), and within a variant matmul is bit-identical
 * to matvec: a product of one step (T = 1) takes the level's matvec (every product family here and in
 * grt_q15.h does). The levels a build contains: grt_isa.h. */

typedef void (*grt_matvec_fn)(float *restrict y, const float *restrict W, const float *restrict b,
                              const float *restrict x, size_t rows, size_t cols);
typedef void (*grt_matmul_fn)(float *restrict Y, size_t ldy, const float *restrict W,
                              const float *restrict b, const float *restrict X, size_t ldx, size_t rows,
                              size_t cols, size_t T);

void grt_matvec_f32_scalar(float *restrict y, const float *restrict W, const float *restrict b,
                           const float *restrict x, size_t rows, size_t cols);
void grt_matmul_f32_scalar(float *restrict Y, size_t ldy, const float *restrict W, const float *restrict b,
                           const float *restrict X, size_t ldx, size_t rows, size_t cols, size_t T);
#if GRT_HAVE_AVX2
/* Only callable when the CPU has AVX2 and FMA. */
void grt_matvec_f32_avx2(float *restrict y, const float *restrict W, const float *restrict b,
                         const float *restrict x, size_t rows, size_t cols);
void grt_matmul_f32_avx2(float *restrict Y, size_t ldy, const float *restrict W, const float *restrict b,
                         const float *restrict X, size_t ldx, size_t rows, size_t cols, size_t T);
#endif
#if GRT_HAVE_AVX512VNNI
/* The avx512vnni level's (grt_kernels_f32_avx512.c): only callable when the CPU has AVX-512F/VL. */
void grt_matvec_f32_avx512(float *restrict y, const float *restrict W, const float *restrict b,
                           const float *restrict x, size_t rows, size_t cols);
void grt_matmul_f32_avx512(float *restrict Y, size_t ldy, const float *restrict W, const float *restrict b,
                           const float *restrict X, size_t ldx, size_t rows, size_t cols, size_t T);
#endif
#if GRT_HAVE_NEON
/* AArch64 (neon and neon_dot levels). */
void grt_matvec_f32_neon(float *restrict y, const float *restrict W, const float *restrict b,
                         const float *restrict x, size_t rows, size_t cols);
void grt_matmul_f32_neon(float *restrict Y, size_t ldy, const float *restrict W, const float *restrict b,
                         const float *restrict X, size_t ldx, size_t rows, size_t cols, size_t T);
#endif

/* The variants of one level (NULL pointers if the level does not exist in this build); for tests. */
grt_matvec_fn grt_isa_matvec(grt_isa isa);
grt_matmul_fn grt_isa_matmul(grt_isa isa);

/* y[r] = b[r] + W[r,:]·x for r < rows. y must not overlap W, b or x. */
void grt_matvec_f32(float *restrict y, const float *restrict W, const float *restrict b,
                    const float *restrict x, size_t rows, size_t cols);

/* Y[t·ldy + r] = b[r] + W[r,:]·X[t·ldx : t·ldx + cols] for t < T, r < rows: T matvecs with the same
 * per-element results, each weight row reused for several steps. Y must not overlap W, b or X. */
void grt_matmul_f32(float *restrict Y, size_t ldy, const float *restrict W, const float *restrict b,
                    const float *restrict X, size_t ldx, size_t rows, size_t cols, size_t T);

/* ---- f32, panel8 layout (weight_layout 1; docs/FORMAT.md) ------------------------------------------
 * P holds ceil(rows/8) panels of 8 rows: W[8p + i][k] is P[8·cols·p + 8k + i] (rows past the end are
 * zeros). A panel's rows are computed together on 8 lanes, each weight read once and x[k] broadcast:
 * no horizontal sums, one contiguous stream of weights. The row offset of a GRU gate block (a multiple
 * of 8 rows, since H % 8 = 0) is the same pointer offset as in row-major.
 *
 * Summation order of every level (matmul bit-identical to matvec within a level): two partial sums
 * per row, e over the even k and o over the odd k, each in increasing k; y = b + (e + o). The scalar
 * level multiplies and adds (two roundings), the AVX2, AVX-512 and NEON levels fuse them (one rounding). */
void grt_matvec_f32_p8(float *restrict y, const float *restrict P, const float *restrict b,
                       const float *restrict x, size_t rows, size_t cols);
void grt_matmul_f32_p8(float *restrict Y, size_t ldy, const float *restrict P, const float *restrict b,
                       const float *restrict X, size_t ldx, size_t rows, size_t cols, size_t T);
void grt_matvec_f32_p8_scalar(float *restrict y, const float *restrict P, const float *restrict b,
                              const float *restrict x, size_t rows, size_t cols);
void grt_matmul_f32_p8_scalar(float *restrict Y, size_t ldy, const float *restrict P, const float *restrict b,
                              const float *restrict X, size_t ldx, size_t rows, size_t cols, size_t T);
#if GRT_HAVE_AVX2
void grt_matvec_f32_p8_avx2(float *restrict y, const float *restrict P, const float *restrict b,
                            const float *restrict x, size_t rows, size_t cols);
void grt_matmul_f32_p8_avx2(float *restrict Y, size_t ldy, const float *restrict P, const float *restrict b,
                            const float *restrict X, size_t ldx, size_t rows, size_t cols, size_t T);
#endif
#if GRT_HAVE_AVX512VNNI
void grt_matvec_f32_p8_avx512(float *restrict y, const float *restrict P, const float *restrict b,
                              const float *restrict x, size_t rows, size_t cols);
void grt_matmul_f32_p8_avx512(float *restrict Y, size_t ldy, const float *restrict P, const float *restrict b,
                              const float *restrict X, size_t ldx, size_t rows, size_t cols, size_t T);
#endif
#if GRT_HAVE_NEON
void grt_matvec_f32_p8_neon(float *restrict y, const float *restrict P, const float *restrict b,
                            const float *restrict x, size_t rows, size_t cols);
void grt_matmul_f32_p8_neon(float *restrict Y, size_t ldy, const float *restrict P, const float *restrict b,
                            const float *restrict X, size_t ldx, size_t rows, size_t cols, size_t T);
#endif
grt_matvec_fn grt_isa_matvec_p8(grt_isa isa);
grt_matmul_fn grt_isa_matmul_p8(grt_isa isa);

/* ---- q8 (grt_kernels_q8.c, grt_kernels_q8_{avx2,neon}.c; docs/QUANTIZATION.md, "q8") ------------
 * int8 weights with one bf16 scale code per row, f32 biases; each product's input vector is quantized
 * to int8 on the fly (per step), the dot products are exact int32, and
 * y[r] = b[r] + ((float)acc_r * s_r) * sx. The activations are the f32 ones (grt_math.c).
 *
 * Every level (scalar, AVX2, the VNNI levels, NEON) gives the same bits: the integer dot product is exact, so its order
 * is free, and the float operations (quantization, rescale) are the contract's, in its order, without
 * FMA. grt_q8_quantize, grt_matvec_q8_quantized and grt_matmul_q8_quantized call the variant of the
 * active grt_isa level (grt_dispatch.c); grt_matmul_q8_quantized equals T grt_matvec_q8_quantized calls
 * bit for bit (T = 1 is one). */

/* The q8 row scale of a bf16 code: the float with these upper 16 bits. */
float grt_q8_scale(uint16_t code);

typedef float (*grt_q8_quantize_fn)(int8_t *restrict xq, const float *restrict x, size_t n);
typedef void (*grt_q8_matvec_fn)(float *restrict y, const int8_t *restrict W, const uint16_t *restrict codes,
                                 const float *restrict b, const int8_t *restrict xq, float sx, size_t rows,
                                 size_t cols);
typedef void (*grt_q8_matmul_fn)(float *restrict Y, size_t ldy, const int8_t *restrict W,
                                 const uint16_t *restrict codes, const float *restrict b,
                                 const int8_t *restrict Xq, const float *restrict sx, size_t rows,
                                 size_t cols, size_t T);

/* Quantize x (n floats) to xq (n int8, each in [-127, 127]) as the contract says; returns the
 * vector's scale sx. */
float grt_q8_quantize(int8_t *restrict xq, const float *restrict x, size_t n);

/* y[r] = b[r] + ((float)(W[r,:]·xq) * scale(codes[r])) * sx for r < rows. xq in [-127, 127] (what
 * grt_q8_quantize makes; the AVX2 product relies on it). */
void grt_matvec_q8_quantized(float *restrict y, const int8_t *restrict W, const uint16_t *restrict codes,
                             const float *restrict b, const int8_t *restrict xq, float sx, size_t rows,
                             size_t cols);

/* T quantized products: Y[t·ldy + r] = grt_matvec_q8_quantized's y[r] for xq = Xq + t·cols and sx[t]. */
void grt_matmul_q8_quantized(float *restrict Y, size_t ldy, const int8_t *restrict W,
                             const uint16_t *restrict codes, const float *restrict b,
                             const int8_t *restrict Xq, const float *restrict sx, size_t rows, size_t cols,
                             size_t T);

/* T steps: each X row (stride ldx) is quantized into Xq (T x cols bytes) with its scale in sx[t], then
 * Y[t·ldy + r] = grt_matmul_q8_quantized's. Y must not overlap the other arrays. */
void grt_matmul_q8(float *restrict Y, size_t ldy, const int8_t *restrict W, const uint16_t *restrict codes,
                   const float *restrict b, const float *restrict X, size_t ldx, size_t rows, size_t cols,
                   size_t T, int8_t *restrict Xq, float *restrict sx);

/* The variants of each level (NULL if the level does not exist in this build); for tests. */
float grt_q8_quantize_scalar(int8_t *restrict xq, const float *restrict x, size_t n);
void grt_matvec_q8_scalar(float *restrict y, const int8_t *restrict W, const uint16_t *restrict codes,
                          const float *restrict b, const int8_t *restrict xq, float sx, size_t rows,
                          size_t cols);
void grt_matmul_q8_scalar(float *restrict Y, size_t ldy, const int8_t *restrict W,
                          const uint16_t *restrict codes, const float *restrict b, const int8_t *restrict Xq,
                          const float *restrict sx, size_t rows, size_t cols, size_t T);
#if GRT_HAVE_AVX2
/* Only callable when the CPU has AVX2. */
float grt_q8_quantize_avx2(int8_t *restrict xq, const float *restrict x, size_t n);
void grt_matvec_q8_avx2(float *restrict y, const int8_t *restrict W, const uint16_t *restrict codes,
                        const float *restrict b, const int8_t *restrict xq, float sx, size_t rows,
                        size_t cols);
void grt_matmul_q8_avx2(float *restrict Y, size_t ldy, const int8_t *restrict W,
                        const uint16_t *restrict codes, const float *restrict b, const int8_t *restrict Xq,
                        const float *restrict sx, size_t rows, size_t cols, size_t T);
#endif
#if GRT_HAVE_AVXVNNI
/* The avxvnni level's products (its quantization is AVX2's): only callable when the CPU has AVX-VNNI. */
void grt_matvec_q8_avxvnni(float *restrict y, const int8_t *restrict W, const uint16_t *restrict codes,
                           const float *restrict b, const int8_t *restrict xq, float sx, size_t rows,
                           size_t cols);
void grt_matmul_q8_avxvnni(float *restrict Y, size_t ldy, const int8_t *restrict W,
                           const uint16_t *restrict codes, const float *restrict b, const int8_t *restrict Xq,
                           const float *restrict sx, size_t rows, size_t cols, size_t T);
#endif
#if GRT_HAVE_AVX512VNNI
/* The avx512vnni level's products: only callable when the CPU has AVX-512F/BW/VL and AVX512_VNNI. */
void grt_matvec_q8_avx512vnni(float *restrict y, const int8_t *restrict W, const uint16_t *restrict codes,
                              const float *restrict b, const int8_t *restrict xq, float sx, size_t rows,
                              size_t cols);
void grt_matmul_q8_avx512vnni(float *restrict Y, size_t ldy, const int8_t *restrict W,
                              const uint16_t *restrict codes, const float *restrict b,
                              const int8_t *restrict Xq, const float *restrict sx, size_t rows, size_t cols,
                              size_t T);
#endif
#if GRT_HAVE_NEON
/* AArch64: the quantization of both NEON levels, and the products of the neon level. */
float grt_q8_quantize_neon(int8_t *restrict xq, const float *restrict x, size_t n);
void grt_matvec_q8_neon(float *restrict y, const int8_t *restrict W, const uint16_t *restrict codes,
                        const float *restrict b, const int8_t *restrict xq, float sx, size_t rows,
                        size_t cols);
void grt_matmul_q8_neon(float *restrict Y, size_t ldy, const int8_t *restrict W,
                        const uint16_t *restrict codes, const float *restrict b, const int8_t *restrict Xq,
                        const float *restrict sx, size_t rows, size_t cols, size_t T);
#endif
#if GRT_HAVE_NEON_DOT
/* The neon_dot level's products (sdot): only callable when the CPU has FEAT_DotProd. */
void grt_matvec_q8_neon_dot(float *restrict y, const int8_t *restrict W, const uint16_t *restrict codes,
                            const float *restrict b, const int8_t *restrict xq, float sx, size_t rows,
                            size_t cols);
void grt_matmul_q8_neon_dot(float *restrict Y, size_t ldy, const int8_t *restrict W,
                            const uint16_t *restrict codes, const float *restrict b,
                            const int8_t *restrict Xq, const float *restrict sx, size_t rows, size_t cols,
                            size_t T);
#endif
grt_q8_quantize_fn grt_isa_q8_quantize(grt_isa isa);
grt_q8_matvec_fn grt_isa_q8_matvec(grt_isa isa);
grt_q8_matmul_fn grt_isa_q8_matmul(grt_isa isa);

/* ---- the float cells (grt_cell_float.c): f32 and q8 layers ---------------------------------------- */

/* Y = b + W·X for a layer's weight matrix (`role`: GRT_ROLE_W_IH or GRT_ROLE_W_HH, with its bias and,
 * q8, its row codes), its rows [row0, row0 + rows) (multiples of 8 in panel8), and B rows of X (ldx
 * apart) into B rows of Y (ldy apart), in the layer's precision and layout. q8: the X rows are quantized
 * into xq (B x cols bytes) with their scales in sx (B floats); f32 ignores both. */
void grt_float_layer_product(const grt_layer *L, unsigned role, size_t row0, size_t rows, float *restrict Y,
                             size_t ldy, const float *restrict X, size_t ldx, size_t B, int8_t *restrict xq,
                             float *restrict sx);

/* Scratch of the GRU cell for B rows: the stream's memory for one row, the batch work for several
 * (grt_stream.c). */
typedef struct grt_gru_scratch {
    float *gh;  /* B x 3H: U·h + b_hh */
    float *rh;  /* B x H: r ⊙ h (reset_after = 0) */
    int8_t *hq; /* q8: B x H, the quantized h (or rh) rows */
    float *sx;  /* q8: B, their scales */
} grt_gru_scratch;

/* One GRU update of B independent rows (streams) of a validated f32 or q8 GRU layer L: row b of h (H
 * floats at h + b·ldh, updated in place) given its gx = W_ih·x + b_ih (3H floats at gx + b·ldgx,
 * overwritten: they hold the gate values afterwards). The U·h products of all rows are one
 * grt_float_layer_product (q8: h quantized once for the rows it multiplies, all 3H or r and z when
 * reset_after = 0, then r ⊙ h on its own for the n rows), the gate math runs row by row: each row's
 * result is bit-identical to a B = 1 update of that row. */
void grt_gru_recur_float(const grt_layer *L, float *restrict gx, size_t ldgx, float *restrict h, size_t ldh,
                         size_t B, grt_gru_scratch s);

/* One LSTM update (grt_cell_lstm.c) of B independent rows of a validated f32 or q8 LSTM layer L: row b of
 * hc (h then c, 2H floats at hc + b·ldh, updated in place) given its gx = W_ih·x + b_ih (4H floats at
 * gx + b·ldgx, overwritten). Scratch as the GRU's (rh unused; gh B x 4H). Each row's result is
 * bit-identical to a B = 1 update of that row. */
void grt_lstm_recur_float(const grt_layer *L, float *restrict gx, size_t ldgx, float *restrict hc, size_t ldh,
                          size_t B, grt_gru_scratch s);

/* The Dense output of n rows y (n x O, the layer's products) in place: its activation. */
void grt_dense_out_float(const grt_layer *L, float *y, size_t n);

#endif /* GRT_KERNELS_H */
