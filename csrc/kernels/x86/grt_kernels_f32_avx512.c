/* grt_kernels_f32_avx512.c — the f32 products of the avx512vnni level (AVX-512F/VL: 16-lane FMA,
 * 32 vector registers, masked tails), compiled for any x86-64 target through function target
 * attributes and only called after the dispatcher (grt_dispatch.c) found AVX-512 on the CPU with the
 * OS saving its state.
 *
 * Row-major (weight_layout 0), the level's own summation order of a dot product w·x of length n: one
 * 16-lane accumulator a = 0; a = fma(w[j:j+16], x[j:j+16], a) for j = 0, 16, ... while j + 16 <= n;
 * the t = n - j < 16 remaining elements are fused into lanes 0..t-1 only (the other lanes keep their
 * value); then s = a[0:8] + a[8:16], q = s[0:4] + s[4:8], dot = (q0 + q2) + (q1 + q3), and the bias
 * is added last. Rows of fewer than MIN_COLS columns take the AVX2 products (their order), which are
 * faster there.
 *
 * Panel8 (weight_layout 1): 16 consecutive floats of a panel are its 8 rows at an even k and at k + 1,
 * so one zmm accumulator holds a row's even-k chain e (lanes 0..7) and odd-k chain o (lanes 8..15)
 * against x[k] broadcast to the low half and x[k + 1] to the high half: per row exactly the order of
 * grt_kernels.h with fused multiply-adds, i.e. the same bits as the AVX2 panel8 products.
 *
 * Register blocking: each product runs blocks of up to four weight rows (row-major) or four panels
 * (panel8) × up to four steps, one accumulator per (row or panel, step), each weight vector loaded once
 * per block and each input vector once per block. A block's element gets the same operations in the
 * same order whatever the block's shape, so the matrix product equals the matrix-vector product bit for
 * bit (tests/test_isa.c), with the matrix-vector product being the blocks of one step.
 *
 * Bounds: the matrix-vector product reads 4 bytes of weights per multiply-add and is bound by the cache
 * level the matrix fits in; the matrix product (up to four steps per weight load) by the zmm FMA rate
 * (bench_peak.c). */
#include "../../grt_kernels.h"

#if GRT_HAVE_AVX512VNNI && GRT_HAS_F32

#include <immintrin.h>
#include <string.h>

#define GRT_AVX512 __attribute__((target("avx2,fma,avx512f,avx512vl")))
/* The block functions take their shape as constants: inlined, each shape gets its own registers. */
#define BLOCK_INLINE static inline __attribute__((always_inline)) GRT_AVX512

enum { MAX_ROWS = 4, MAX_STEPS = 4 };

/* Steps per chunk of a matrix product: each block of weight rows is used for all the chunk's steps
 * while it stays in L1; the chunk's inputs stay in L2. */
#define STEP_CHUNK 64

static inline GRT_AVX512 __mmask16 first_lanes(size_t t)
{
    return (__mmask16)((1u << t) - 1u);
}

/* The fixed horizontal sum of one 16-lane accumulator (order above). */
static inline GRT_AVX512 float hsum16(__m512 a)
{
    __m256 hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(a), 1));
    __m256 s = _mm256_add_ps(_mm512_castps512_ps256(a), hi);
    __m128 q = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
    __m128 p = _mm_add_ps(q, _mm_movehl_ps(q, q));
    return _mm_cvtss_f32(_mm_add_ss(p, _mm_shuffle_ps(p, p, 1)));
}

/* ---- row-major ------------------------------------------------------------------------------------- */

/* Y[t·ldy + i] = b[i] + W[i,:]·X[t·ldx, +n) for i < NR rows, t < NT steps. */
BLOCK_INLINE void rows_block(float *Y, size_t ldy, const float *W, const float *b, const float *X, size_t ldx,
                             size_t n, const size_t NR, const size_t NT)
{
    __m512 acc[MAX_ROWS][MAX_STEPS];
    for (size_t i = 0; i < NR; i++)
        for (size_t t = 0; t < NT; t++)
            acc[i][t] = _mm512_setzero_ps();
    size_t j = 0;
    for (; j + 16 <= n; j += 16) {
        __m512 x[MAX_STEPS];
        for (size_t t = 0; t < NT; t++)
            x[t] = _mm512_loadu_ps(X + t * ldx + j);
        for (size_t i = 0; i < NR; i++) {
            __m512 w = _mm512_loadu_ps(W + i * n + j);
            for (size_t t = 0; t < NT; t++)
                acc[i][t] = _mm512_fmadd_ps(w, x[t], acc[i][t]);
        }
    }
    if (j < n) {
        __mmask16 m = first_lanes(n - j);
        __m512 x[MAX_STEPS];
        for (size_t t = 0; t < NT; t++)
            x[t] = _mm512_maskz_loadu_ps(m, X + t * ldx + j);
        for (size_t i = 0; i < NR; i++) {
            __m512 w = _mm512_maskz_loadu_ps(m, W + i * n + j);
            for (size_t t = 0; t < NT; t++)
                acc[i][t] = _mm512_mask3_fmadd_ps(w, x[t], acc[i][t], m);
        }
    }
    for (size_t t = 0; t < NT; t++)
        for (size_t i = 0; i < NR; i++)
            Y[t * ldy + i] = b[i] + hsum16(acc[i][t]);
}

/* Rows [0, rows) for NT steps: blocks of four rows, then single rows. */
BLOCK_INLINE void rows_steps(float *Y, size_t ldy, const float *W, const float *b, const float *X, size_t ldx,
                             size_t rows, size_t cols, const size_t NT)
{
    size_t r = 0;
    for (; r + 4 <= rows; r += 4)
        rows_block(Y + r, ldy, W + r * cols, b + r, X, ldx, cols, 4, NT);
    for (; r < rows; r++)
        rows_block(Y + r, ldy, W + r * cols, b + r, X, ldx, cols, 1, NT);
}

/* Below this many columns the AVX2 row-major matrix-vector product is faster on Zen cores (one 16-lane
 * reduction per row of few multiply-adds; 192x64: 0.93x, 96x32: 0.78x; bench_kernels): short rows take
 * AVX2's products, the matrix product too, so that both keep one order. */
#define MIN_COLS 128

GRT_AVX512 void grt_matvec_f32_avx512(float *restrict y, const float *restrict W, const float *restrict b,
                                      const float *restrict x, size_t rows, size_t cols)
{
    if (cols < MIN_COLS) {
        grt_matvec_f32_avx2(y, W, b, x, rows, cols);
        return;
    }
    rows_steps(y, 0, W, b, x, 0, rows, cols, 1);
}

GRT_AVX512 void grt_matmul_f32_avx512(float *restrict Y, size_t ldy, const float *restrict W,
                                      const float *restrict b, const float *restrict X, size_t ldx, size_t rows,
                                      size_t cols, size_t T)
{
    if (cols < MIN_COLS) {
        grt_matmul_f32_avx2(Y, ldy, W, b, X, ldx, rows, cols, T);
        return;
    }
    for (size_t t0 = 0; t0 < T; t0 += STEP_CHUNK) {
        size_t t1 = T - t0 < STEP_CHUNK ? T : t0 + STEP_CHUNK;
        for (size_t r = 0; r < rows; r += 4) {
            size_t nr = rows - r < 4 ? rows - r : 4;
            const float *Wr = W + r * cols;
            size_t t = t0;
            for (; t + 4 <= t1; t += 4)
                rows_steps(Y + t * ldy + r, ldy, Wr, b + r, X + t * ldx, ldx, nr, cols, 4);
            switch (t1 - t) {
            case 3: rows_steps(Y + t * ldy + r, ldy, Wr, b + r, X + t * ldx, ldx, nr, cols, 3); break;
            case 2: rows_steps(Y + t * ldy + r, ldy, Wr, b + r, X + t * ldx, ldx, nr, cols, 2); break;
            case 1: rows_steps(Y + t * ldy + r, ldy, Wr, b + r, X + t * ldx, ldx, nr, cols, 1); break;
            default: break;
            }
        }
    }
}

/* ---- panel8 ---------------------------------------------------------------------------------------- */

/* x[k] in lanes 0..7 and x[k + 1] in lanes 8..15. */
static inline GRT_AVX512 __m512 pair(const float *x, __m512i halves)
{
    double two;
    memcpy(&two, x, sizeof two);
    return _mm512_permutexvar_ps(halves, _mm512_castpd_ps(_mm512_set1_pd(two)));
}

/* Y[t·ldy + i] = b[i] + W[i,:]·X[t·ldx, +cols) for the rows of NP panels at P (the last one's first
 * `last` rows stored), t < NT steps. */
BLOCK_INLINE void panels_block(float *Y, size_t ldy, const float *P, const float *b, const float *X, size_t ldx,
                               size_t cols, size_t last, const size_t NP, const size_t NT)
{
    const __m512i halves = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
    __m512 acc[MAX_ROWS][MAX_STEPS];
    for (size_t p = 0; p < NP; p++)
        for (size_t t = 0; t < NT; t++)
            acc[p][t] = _mm512_setzero_ps();
    size_t k = 0;
    for (; k + 2 <= cols; k += 2) {
        __m512 x[MAX_STEPS];
        for (size_t t = 0; t < NT; t++)
            x[t] = pair(X + t * ldx + k, halves);
        for (size_t p = 0; p < NP; p++) {
            __m512 w = _mm512_loadu_ps(P + p * 8 * cols + 8 * k);
            for (size_t t = 0; t < NT; t++)
                acc[p][t] = _mm512_fmadd_ps(w, x[t], acc[p][t]);
        }
    }
    if (k < cols) { /* the last even k: low halves only */
        for (size_t t = 0; t < NT; t++) {
            __m512 x = _mm512_set1_ps(X[t * ldx + k]);
            for (size_t p = 0; p < NP; p++)
                acc[p][t] = _mm512_mask3_fmadd_ps(_mm512_maskz_loadu_ps(0x00FF, P + p * 8 * cols + 8 * k), x,
                                                  acc[p][t], 0x00FF);
        }
    }
    for (size_t t = 0; t < NT; t++) {
        float *y = Y + t * ldy;
        for (size_t p = 0; p < NP; p++) {
            __m256 e = _mm512_castps512_ps256(acc[p][t]);
            __m256 o = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(acc[p][t]), 1));
            if (p + 1 < NP || last == 8) {
                _mm256_storeu_ps(y + 8 * p, _mm256_add_ps(_mm256_loadu_ps(b + 8 * p), _mm256_add_ps(e, o)));
            } else {
                __mmask8 m = (__mmask8)((1u << last) - 1u);
                _mm256_mask_storeu_ps(y + 8 * p, m,
                                      _mm256_add_ps(_mm256_maskz_loadu_ps(m, b + 8 * p), _mm256_add_ps(e, o)));
            }
        }
    }
}

/* Rows [0, rows) for NT steps: blocks of four full panels, then single panels (the last maybe partial). */
BLOCK_INLINE void panels_steps(float *Y, size_t ldy, const float *P, const float *b, const float *X, size_t ldx,
                               size_t rows, size_t cols, const size_t NT)
{
    size_t r = 0;
    for (; r + 32 <= rows; r += 32)
        panels_block(Y + r, ldy, P + r * cols, b + r, X, ldx, cols, 8, 4, NT);
    for (; r < rows; r += 8)
        panels_block(Y + r, ldy, P + r * cols, b + r, X, ldx, cols, rows - r < 8 ? rows - r : 8, 1, NT);
}

GRT_AVX512 void grt_matvec_f32_p8_avx512(float *restrict y, const float *restrict P, const float *restrict b,
                                         const float *restrict x, size_t rows, size_t cols)
{
    panels_steps(y, 0, P, b, x, 0, rows, cols, 1);
}

GRT_AVX512 void grt_matmul_f32_p8_avx512(float *restrict Y, size_t ldy, const float *restrict P,
                                         const float *restrict b, const float *restrict X, size_t ldx,
                                         size_t rows, size_t cols, size_t T)
{
    for (size_t t0 = 0; t0 < T; t0 += STEP_CHUNK) {
        size_t t1 = T - t0 < STEP_CHUNK ? T : t0 + STEP_CHUNK;
        for (size_t r = 0; r < rows; r += 32) {
            size_t n = rows - r < 32 ? rows - r : 32;
            const float *Pr = P + r * cols;
            size_t t = t0;
            for (; t + 4 <= t1; t += 4)
                panels_steps(Y + t * ldy + r, ldy, Pr, b + r, X + t * ldx, ldx, n, cols, 4);
            switch (t1 - t) {
            case 3: panels_steps(Y + t * ldy + r, ldy, Pr, b + r, X + t * ldx, ldx, n, cols, 3); break;
            case 2: panels_steps(Y + t * ldy + r, ldy, Pr, b + r, X + t * ldx, ldx, n, cols, 2); break;
            case 1: panels_steps(Y + t * ldy + r, ldy, Pr, b + r, X + t * ldx, ldx, n, cols, 1); break;
            default: break;
            }
        }
    }
}

#else
typedef int grt_no_f32_avx512_variant; /* ISO C forbids an empty translation unit */
#endif
