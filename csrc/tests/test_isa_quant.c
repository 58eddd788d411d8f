/* The q8 and q15 kernels under every instruction-set level this CPU supports, against the scalar level
 * bit for bit: q8 input quantization (random, huge, tiny, ±0, NaN, ±Inf, exact rounding ties), q8 and
 * q15 products at awkward sizes with random and extreme values (weights all -128 / 127 / ±127, q8
 * inputs ±127, q15 inputs ±32767/-32768, extreme row scales, multipliers and biases), unaligned
 * pointers, matmul == matvec within each level (and == the scalar matmul), the AVX2 lane activations
 * (a sweep of int32) and the q15 GRU recurrence on hand-made layers, and whole q8/q15 models
 * (random and extreme files; float and int16 APIs, run and step) stepped under each level == scalar.
 * Every level's arrays are allocated to their exact size, so `make sanitize` catches any read past a
 * matrix or vector. Levels the CPU lacks are skipped (reported, not failed). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "grt_kernels.h"
#include "grt_q15.h"
#include "test_util.h"
#include "test_writer.h"

#if GRT_HAS_Q8 || GRT_HAS_Q15 /* the whole file (f32-only builds: skipped) */

static const size_t colss[] = {1, 2, 3, 5, 7, 8, 9, 15, 16, 17, 31, 33, 63, 64, 65, 127, 129, 255, 256, 257, 300, 513, 600};
static const size_t rowss[] = {1, 2, 3, 5, 7, 8, 17};
static const size_t stepss[] = {1, 3, 8, 9, 17};
#define N_COLS (sizeof colss / sizeof colss[0])
#define N_ROWS (sizeof rowss / sizeof rowss[0])
#define N_STEPS (sizeof stepss / sizeof stepss[0])
#define MAX32 2147483647
#define MIN32 (-MAX32 - 1)

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return p;
}

static int isa_available(grt_isa isa)
{
    grt_isa prev = grt_isa_active();
    if (grt_isa_select(isa) != GRT_OK)
        return 0;
    CHECK(grt_isa_select(prev) == GRT_OK);
    return 1;
}

#if GRT_HAS_Q8
static float bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}
#endif

/* ---- dispatch tables ----------------------------------------------------------------------------- */

static void test_tables(void)
{
#if GRT_HAS_Q8
    CHECK(grt_isa_q8_quantize(GRT_ISA_SCALAR) == grt_q8_quantize_scalar);
    CHECK(grt_isa_q8_matvec(GRT_ISA_SCALAR) == grt_matvec_q8_scalar);
    CHECK(grt_isa_q8_matmul(GRT_ISA_SCALAR) == grt_matmul_q8_scalar);
#if GRT_HAVE_AVX2
    CHECK(grt_isa_q8_quantize(GRT_ISA_AVX2) == grt_q8_quantize_avx2);
    CHECK(grt_isa_q8_matvec(GRT_ISA_AVX2) == grt_matvec_q8_avx2);
    CHECK(grt_isa_q8_matmul(GRT_ISA_AVX2) == grt_matmul_q8_avx2);
#else
    CHECK(grt_isa_q8_matvec(GRT_ISA_AVX2) == NULL);
#endif
#if GRT_HAVE_NEON
    CHECK(grt_isa_q8_quantize(GRT_ISA_NEON) == grt_q8_quantize_neon);
    CHECK(grt_isa_q8_matvec(GRT_ISA_NEON) == grt_matvec_q8_neon);
    CHECK(grt_isa_q8_matmul(GRT_ISA_NEON) == grt_matmul_q8_neon);
#else
    CHECK(grt_isa_q8_matvec(GRT_ISA_NEON) == NULL);
#endif
#if GRT_HAVE_NEON_DOT
    CHECK(grt_isa_q8_quantize(GRT_ISA_NEON_DOT) == grt_q8_quantize_neon);
    CHECK(grt_isa_q8_matvec(GRT_ISA_NEON_DOT) == grt_matvec_q8_neon_dot);
    CHECK(grt_isa_q8_matmul(GRT_ISA_NEON_DOT) == grt_matmul_q8_neon_dot);
#else
    CHECK(grt_isa_q8_matvec(GRT_ISA_NEON_DOT) == NULL);
#endif
#if GRT_HAVE_AVXVNNI /* the VNNI levels: AVX2's quantization, their own products */
    CHECK(grt_isa_q8_quantize(GRT_ISA_AVXVNNI) == grt_q8_quantize_avx2);
    CHECK(grt_isa_q8_matvec(GRT_ISA_AVXVNNI) == grt_matvec_q8_avxvnni);
    CHECK(grt_isa_q8_matmul(GRT_ISA_AVXVNNI) == grt_matmul_q8_avxvnni);
#else
    CHECK(grt_isa_q8_matvec(GRT_ISA_AVXVNNI) == NULL);
#endif
#if GRT_HAVE_AVX512VNNI
    CHECK(grt_isa_q8_quantize(GRT_ISA_AVX512VNNI) == grt_q8_quantize_avx2);
    CHECK(grt_isa_q8_matvec(GRT_ISA_AVX512VNNI) == grt_matvec_q8_avx512vnni);
    CHECK(grt_isa_q8_matmul(GRT_ISA_AVX512VNNI) == grt_matmul_q8_avx512vnni);
#else
    CHECK(grt_isa_q8_matvec(GRT_ISA_AVX512VNNI) == NULL);
#endif
    CHECK(grt_isa_q8_quantize((grt_isa)GRT_ISA_COUNT) == NULL);
    CHECK(grt_isa_q8_matvec((grt_isa)GRT_ISA_COUNT) == NULL);
    CHECK(grt_isa_q8_matmul((grt_isa)-1) == NULL);
#endif
#if GRT_HAS_Q15
    CHECK(grt_isa_q15_matvec(GRT_ISA_SCALAR) == grt_q15_matvec_scalar);
    CHECK(grt_isa_q15_matmul(GRT_ISA_SCALAR) == grt_q15_matmul_scalar);
    CHECK(grt_isa_q15_lanes(GRT_ISA_SCALAR) == &grt_q15_lanes_scalar);
#if GRT_HAVE_AVX2
    CHECK(grt_isa_q15_matvec(GRT_ISA_AVX2) == grt_q15_matvec_avx2);
    CHECK(grt_isa_q15_matmul(GRT_ISA_AVX2) == grt_q15_matmul_avx2);
    CHECK(grt_isa_q15_lanes(GRT_ISA_AVX2) == &grt_q15_lanes_avx2);
#else
    CHECK(grt_isa_q15_matvec(GRT_ISA_AVX2) == NULL);
#endif
#if GRT_HAVE_NEON /* both NEON levels: the NEON products, the scalar element-wise steps */
    for (int k = 0; k < 1 + GRT_HAVE_NEON_DOT; k++) {
        grt_isa isa = k ? GRT_ISA_NEON_DOT : GRT_ISA_NEON;
        CHECK(grt_isa_q15_matvec(isa) == grt_q15_matvec_neon);
        CHECK(grt_isa_q15_matmul(isa) == grt_q15_matmul_neon);
        CHECK(grt_isa_q15_lanes(isa) == &grt_q15_lanes_scalar);
    }
#else
    CHECK(grt_isa_q15_matvec(GRT_ISA_NEON) == NULL);
#endif
#if !GRT_HAVE_NEON_DOT
    CHECK(grt_isa_q15_matvec(GRT_ISA_NEON_DOT) == NULL);
#endif
#if GRT_HAVE_AVXVNNI /* the VNNI levels: their own products, the AVX2 element-wise steps */
    CHECK(grt_isa_q15_matvec(GRT_ISA_AVXVNNI) == grt_q15_matvec_avxvnni);
    CHECK(grt_isa_q15_matmul(GRT_ISA_AVXVNNI) == grt_q15_matmul_avxvnni);
    CHECK(grt_isa_q15_lanes(GRT_ISA_AVXVNNI) == &grt_q15_lanes_avx2);
#else
    CHECK(grt_isa_q15_matvec(GRT_ISA_AVXVNNI) == NULL);
#endif
#if GRT_HAVE_AVX512VNNI
    CHECK(grt_isa_q15_matvec(GRT_ISA_AVX512VNNI) == grt_q15_matvec_avx512vnni);
    CHECK(grt_isa_q15_matmul(GRT_ISA_AVX512VNNI) == grt_q15_matmul_avx512vnni);
    CHECK(grt_isa_q15_lanes(GRT_ISA_AVX512VNNI) == &grt_q15_lanes_avx2);
#else
    CHECK(grt_isa_q15_matvec(GRT_ISA_AVX512VNNI) == NULL);
#endif
    CHECK(grt_isa_q15_matvec((grt_isa)GRT_ISA_COUNT) == NULL);
    CHECK(grt_isa_q15_matmul((grt_isa)99) == NULL);
    CHECK(grt_isa_q15_lanes((grt_isa)GRT_ISA_COUNT) == NULL);
#endif
}

/* ---- q8 input quantization ---------------------------------------------------------------------- */
#if GRT_HAS_Q8

enum { QX_RANDOM, QX_WIDE, QX_SPECIAL, QX_NAN, QX_INF, QX_ZERO, QX_TIES, QX_TINY, QX_MODES };

static void fill_qx(rng *r, float *x, size_t n, int mode)
{
    static const float special[] = {0.0f, -0.0f, 1e30f, -3e38f, 1e-40f, -1e-45f, 3.0f, -2.5f, 0.5f, 127.0f};
    for (size_t i = 0; i < n; i++) {
        float v = rng_uniform(r, -2.0f, 2.0f);
        switch (mode) {
        case QX_WIDE: /* random sign, exponent and mantissa, finite */
            v = bits_f32((rng_u32(r) & 0x80000000u) | ((rng_u32(r) % 254u) << 23) | (rng_u32(r) & 0x7FFFFFu));
            break;
        case QX_SPECIAL: v = special[rng_u32(r) % 10]; break;
        case QX_NAN: v = i == n / 2 ? bits_f32(0x7FC00001u | (rng_u32(r) & 0x3FFFFFu)) : v; break;
        case QX_INF: v = i == n - 1 ? (rng_u32(r) & 1 ? INFINITY : -INFINITY) : v; break;
        case QX_ZERO: v = rng_u32(r) & 1 ? 0.0f : -0.0f; break;
        case QX_TIES: /* max 127 makes inv exactly 1: halves are exact ties, and their neighbours */
            v = i == 0 ? 127.0f : (float)((int)(rng_u32(r) % 255) - 127) + (rng_u32(r) % 3 == 0 ? 0.5f : rng_u32(r) % 2 ? 0.49999997f : -0.5f);
            v = v > 127.0f ? 127.0f : v < -127.0f ? -127.0f : v;
            break;
        case QX_TINY: v = bits_f32((rng_u32(r) & 0x80000000u) | (rng_u32(r) % 0x00800000u)); break; /* subnormals */
        default: break;
        }
        x[i] = v;
    }
}

static void test_q8_quantize(grt_isa isa)
{
    grt_q8_quantize_fn q = grt_isa_q8_quantize(isa);
    rng r = {77};
    static const size_t extra[] = {2, 4, 5, 8, 9, 24, 32, 40, 64, 100};
    for (int mode = 0; mode < QX_MODES; mode++) {
        int ok = 1;
        for (size_t c = 0; c < N_COLS + sizeof extra / sizeof extra[0]; c++) {
            size_t n = c < N_COLS ? colss[c] : extra[c - N_COLS];
            for (size_t shift = 0; shift < 2; shift++) {
                float *xb = xmalloc((n + 1) * sizeof(float)), *x = xb + shift;
                int8_t *qa = xmalloc(n + 1), *qs = xmalloc(n);
                fill_qx(&r, x, n, mode);
                float sa = q(qa + shift, x, n), ss = grt_q8_quantize_scalar(qs, x, n);
                if (memcmp(&sa, &ss, 4) != 0 || memcmp(qa + shift, qs, n) != 0) {
                    ok = 0;
                    fprintf(stderr, "  %s q8 quantize n=%zu mode %d differs from scalar\n", grt_isa_name(isa), n,
                            mode);
                }
                for (size_t i = 0; i < n; i++)
                    ok &= qs[i] != -128;
                free(xb), free(qa), free(qs);
            }
        }
        CHECK(ok);
    }
}

#endif /* GRT_HAS_Q8 */

/* ---- q8 products ----------------------------------------------------------------------------------- */

enum { W_RANDOM, W_MIN, W_MAX, W_PM127, W_MODES };

static int8_t w_value(rng *r, int mode, size_t i)
{
    switch (mode) {
    case W_MIN: return -128;
    case W_MAX: return 127;
    case W_PM127: return (int8_t)((i + rng_u32(r)) % 3 == 0 ? -128 : rng_u32(r) & 1 ? 127 : -127);
    default: return (int8_t)(int32_t)(rng_u32(r) % 256u - 128u);
    }
}

#if GRT_HAS_Q8
/* A valid q8 scale code: sign 0, exponent != 255. */
static uint16_t q8_code(rng *r, size_t j)
{
    static const uint16_t pool[] = {0, 0x7F7F, 0x0001, 0x3F80, 0x3C00, 0x0080, 0x7F00, 0x4300};
    if (j % 3 == 0)
        return pool[rng_u32(r) % 8];
    uint16_t c = (uint16_t)(rng_u32(r) & 0x7FFFu);
    return (c >> 7) == 255u ? (uint16_t)(c - 0x80u) : c;
}

#endif /* GRT_HAS_Q8 */

static int same_bits(const float *a, const float *b, size_t n)
{
    return memcmp(a, b, n * sizeof(float)) == 0;
}

#if GRT_HAS_Q8

static void test_q8_products(grt_isa isa)
{
    grt_q8_matvec_fn mv = grt_isa_q8_matvec(isa);
    grt_q8_matmul_fn mm = grt_isa_q8_matmul(isa);
    static const float sxs[] = {1.0f / 127.0f, 3e38f, 1e-45f, 0.0f, INFINITY, NAN};
    rng r = {99};
    for (size_t a = 0; a < N_ROWS; a++) {
        for (size_t c = 0; c < N_COLS; c++) {
            size_t rows = rowss[a], cols = colss[c];
            int mv_ok = 1, mm_ok = 1;
            for (int mode = 0; mode < W_MODES; mode++) {
                size_t shift = (size_t)mode % 3;
                int8_t *Wb = xmalloc(rows * cols + shift), *W = Wb + shift;
                uint16_t *codes = xmalloc(rows * sizeof(uint16_t));
                float *b = xmalloc(rows * sizeof(float)), *y = xmalloc(rows * sizeof(float));
                float *ys = xmalloc(rows * sizeof(float));
                int8_t *xq = xmalloc(cols);
                for (size_t i = 0; i < rows * cols; i++)
                    W[i] = w_value(&r, mode, i);
                for (size_t j = 0; j < rows; j++) {
                    codes[j] = mode == W_RANDOM ? q8_code(&r, j) : 0x7F7F; /* the largest finite bf16 */
                    b[j] = rng_uniform(&r, -4.0f, 4.0f);
                }
                for (int xmode = 0; xmode < 3; xmode++) {
                    for (size_t i = 0; i < cols; i++)
                        xq[i] = xmode == 0 ? (int8_t)(int32_t)(rng_u32(&r) % 255u - 127u)
                                : xmode == 1 ? -127 : (int8_t)(i % 2 ? 127 : -127);
                    float sx = sxs[(size_t)(mode * 3 + xmode) % 6];
                    mv(y, W, codes, b, xq, sx, rows, cols);
                    grt_matvec_q8_scalar(ys, W, codes, b, xq, sx, rows, cols);
                    if (!same_bits(y, ys, rows)) {
                        mv_ok = 0;
                        fprintf(stderr, "  %s q8 matvec %zux%zu w%d x%d differs from scalar\n", grt_isa_name(isa),
                                rows, cols, mode, xmode);
                    }
                }
                for (size_t s = 0; s < N_STEPS && mode < 2; s++) {
                    size_t T = stepss[s], ldy = rows + 3;
                    int8_t *Xq = xmalloc(T * cols);
                    float *sx = xmalloc(T * sizeof(float));
                    float *Y = xmalloc(T * ldy * sizeof(float)), *Ys = xmalloc(T * ldy * sizeof(float));
                    for (size_t i = 0; i < T * cols; i++)
                        Xq[i] = mode == W_MIN ? 127 : (int8_t)(int32_t)(rng_u32(&r) % 255u - 127u);
                    for (size_t t = 0; t < T; t++)
                        sx[t] = t == 2 ? NAN : rng_uniform(&r, 0.0f, 0.1f);
                    memset(Y, 0x7F, T * ldy * sizeof(float));
                    memset(Ys, 0x7F, T * ldy * sizeof(float));
                    mm(Y, ldy, W, codes, b, Xq, sx, rows, cols, T);
                    grt_matmul_q8_scalar(Ys, ldy, W, codes, b, Xq, sx, rows, cols, T);
                    mm_ok &= same_bits(Y, Ys, T * ldy); /* padding untouched in both */
                    for (size_t t = 0; t < T; t++) {
                        mv(y, W, codes, b, Xq + t * cols, sx[t], rows, cols);
                        mm_ok &= same_bits(y, Y + t * ldy, rows);
                    }
                    free(Xq), free(sx), free(Y), free(Ys);
                }
                free(Wb), free(codes), free(b), free(y), free(ys), free(xq);
            }
            CHECK(mv_ok);
            CHECK(mm_ok);
        }
    }
}

#endif /* GRT_HAS_Q8 */

/* ---- q15 products ------------------------------------------------------------------------------------ */
#if GRT_HAS_Q15

/* A q15 multiplier code: 0, or sign 0 and exponent 72..134. */
static uint16_t q15_code(rng *r, size_t j)
{
    static const uint16_t pool[] = {0, 0x437F, 0x4300, 0x2400, 0x247F, 0x3F80, 0x3B21};
    if (j % 2 == 0)
        return pool[rng_u32(r) % 7];
    return (uint16_t)(((72u + rng_u32(r) % 63u) << 7) | (rng_u32(r) & 127u));
}

static void test_q15_products(grt_isa isa)
{
    grt_q15_matvec_fn mv = grt_isa_q15_matvec(isa);
    grt_q15_matmul_fn mm = grt_isa_q15_matmul(isa);
    rng r = {1515};
    for (size_t a = 0; a < N_ROWS; a++) {
        for (size_t c = 0; c < N_COLS; c++) {
            size_t rows = rowss[a], cols = colss[c];
            int mv_ok = 1, mm_ok = 1;
            for (int mode = 0; mode < W_MODES; mode++) {
                size_t shift = (size_t)mode % 3;
                int8_t *Wb = xmalloc(rows * cols + shift), *W = Wb + shift;
                uint16_t *codes = xmalloc(rows * sizeof(uint16_t));
                int32_t *b = xmalloc(rows * sizeof(int32_t)), *y = xmalloc(rows * sizeof(int32_t));
                int32_t *ys = xmalloc(rows * sizeof(int32_t));
                int16_t *xb = xmalloc((cols + 1) * sizeof(int16_t)), *x = xb + (mode & 1);
                for (size_t i = 0; i < rows * cols; i++)
                    W[i] = w_value(&r, mode, i);
                for (int xmode = 0; xmode < 4; xmode++) {
                    for (size_t j = 0; j < rows; j++) {
                        codes[j] = mode == W_RANDOM ? q15_code(&r, j) : xmode % 2 ? 0x437F : 0x2400;
                        b[j] = mode == W_RANDOM ? (int32_t)rng_u32(&r) : j % 2 ? MAX32 : MIN32;
                    }
                    for (size_t i = 0; i < cols; i++)
                        x[i] = xmode == 0   ? (int16_t)(int32_t)(rng_u32(&r) & 0xFFFFu) /* any int16 */
                               : xmode == 1 ? -32768
                               : xmode == 2 ? 32767
                                            : (int16_t)(i % 2 ? 32767 : -32768);
                    mv(y, W, codes, b, x, rows, cols);
                    grt_q15_matvec_scalar(ys, W, codes, b, x, rows, cols);
                    if (memcmp(y, ys, rows * sizeof(int32_t)) != 0) {
                        mv_ok = 0;
                        fprintf(stderr, "  %s q15 matvec %zux%zu w%d x%d differs from scalar\n", grt_isa_name(isa),
                                rows, cols, mode, xmode);
                    }
                }
                for (size_t s = 0; s < N_STEPS && mode < 2; s++) {
                    size_t T = stepss[s], ldx = cols + 5, ldy = rows + 3;
                    int16_t *X = xmalloc(T * ldx * sizeof(int16_t));
                    int32_t *Y = xmalloc(T * ldy * sizeof(int32_t)), *Ys = xmalloc(T * ldy * sizeof(int32_t));
                    for (size_t i = 0; i < T * ldx; i++)
                        X[i] = mode == W_MIN ? -32768 : (int16_t)(int32_t)(rng_u32(&r) & 0xFFFFu);
                    memset(Y, 0x7F, T * ldy * sizeof(int32_t));
                    memset(Ys, 0x7F, T * ldy * sizeof(int32_t));
                    mm(Y, ldy, W, codes, b, X, ldx, rows, cols, T);
                    grt_q15_matmul_scalar(Ys, ldy, W, codes, b, X, ldx, rows, cols, T);
                    mm_ok &= memcmp(Y, Ys, T * ldy * sizeof(int32_t)) == 0; /* padding untouched in both */
                    for (size_t t = 0; t < T; t++) {
                        mv(y, W, codes, b, X + t * ldx, rows, cols);
                        mm_ok &= memcmp(y, Y + t * ldy, rows * sizeof(int32_t)) == 0;
                    }
                    free(X), free(Y), free(Ys);
                }
                free(Wb), free(codes), free(b), free(y), free(ys), free(xb);
            }
            CHECK(mv_ok);
            CHECK(mm_ok);
        }
    }
}

/* The int32 partial sums at their limit: every column (-128)·(-32768) = 2^22 (or (-128)·32767, the most
 * negative). 1100 of them add up to more than 2^32, so only int64 block sums give the right integer;
 * the other lengths sit on and just past the block boundaries of the levels (256 + 15 for AVX2,
 * 1024 + 7 for NEON), where an int32 lane or the sum of a row's accumulators is fullest. The
 * multipliers shift by 12 .. 40 only, so that a wrong sum shows in the result (shifts near 62 would
 * round every sum to 0), and the result is checked against a plain int64 computation. */
static void test_q15_wide_sum(grt_isa isa)
{
    static const size_t colss_wide[] = {1100, 271, 272, 1024, 1031, 1032, 2048, 2055, 3079};
    static const int16_t xs[] = {-32768, 32767};
    enum { ROWS = 5 };
    int32_t y[ROWS], ys[ROWS], b[ROWS] = {0, 1, -1, 1000, -100000};
    uint16_t codes[ROWS] = {122u << 7, (120u << 7) | 127u, (114u << 7) | 1u, 104u << 7, (94u << 7) | 64u};
    for (size_t c = 0; c < sizeof colss_wide / sizeof colss_wide[0]; c++) {
        size_t cols = colss_wide[c];
        int8_t *W = xmalloc(ROWS * cols);
        int16_t *x = xmalloc(cols * sizeof(int16_t));
        memset(W, 0x80, ROWS * cols);
        for (size_t k = 0; k < 2; k++) {
            for (size_t i = 0; i < cols; i++)
                x[i] = xs[k];
            grt_isa_q15_matvec(isa)(y, W, codes, b, x, ROWS, cols);
            grt_q15_matvec_scalar(ys, W, codes, b, x, ROWS, cols);
            CHECK(memcmp(y, ys, sizeof y) == 0);
            for (size_t j = 0; j < ROWS; j++)
                CHECK(y[j] == grt_q15_requant((int64_t)cols * -128 * xs[k], codes[j], b[j]));
        }
        free(W), free(x);
    }
}

/* ---- q15 activations and recurrence ------------------------------------------------------------------ */

#if GRT_HAVE_AVX2
/* The AVX2 "g = act(sat32(g + a))" step against the scalar functions: every int32 g with a stride (a
 * prime, so all residues of the table index and fraction come by), every table knot ±1 and the extremes
 * (a = 0 in those rounds: the activation alone), then with addends that also overflow, in arrays whose
 * lengths are not multiples of 8. (An exhaustive run of the activations over all 2^32 inputs agreed as
 * well.) */
static void test_q15_act_avx2(void)
{
    static const unsigned acts[] = {GRT_ACT_TANH, GRT_ACT_SIGMOID, GRT_ACT_HARD_SIGMOID, GRT_ACT_HARD_SIGMOID_K2};
    const size_t n = 4099;
    int32_t *v = xmalloc(n * sizeof(int32_t)), *x = xmalloc(n * sizeof(int32_t)), *d = xmalloc(n * sizeof(int32_t));
    rng r = {77};
    for (size_t a = 0; a < 4; a++) {
        int ok = 1;
        uint64_t u = 0;
        for (int round = 0; round < 300; round++) {
            size_t len = n - (size_t)round % 8;
            for (size_t i = 0; i < len; i++, u += 1048573u) { /* ~2^20: 300 rounds cover the int32 range */
                x[i] = (int32_t)(uint32_t)u;
                d[i] = round < 100 ? 0 : (int32_t)rng_u32(&r) / (1 << rng_u32(&r) % 31);
            }
            if (round < 2) { /* the knots of tanh (round 0) or sigmoid (round 1), and the extremes */
                size_t k = 0;
                for (int32_t knot = -514; knot <= 514; knot++) { /* 3·1029 + 5 <= len */
                    int32_t base = knot * (round == 0 ? 1024 : 2048);
                    x[k++] = base, x[k++] = base - 1, x[k++] = base + 1;
                }
                x[k++] = MAX32, x[k++] = MIN32, x[k++] = MIN32 + 1, x[k++] = -MAX32, x[k++] = 0;
            }
            memcpy(v, x, len * sizeof(int32_t));
            grt_q15_lanes_avx2.add_act(acts[a], v, d, len);
            for (size_t i = 0; i < len; i++) {
                int32_t s = grt_q15_add_sat32(x[i], d[i]);
                ok &= v[i] == (acts[a] == GRT_ACT_TANH ? grt_q15_tanh(s) : grt_q15_gate(acts[a], s));
            }
        }
        CHECK(ok);
    }
    free(v), free(x), free(d);
}
#endif

/* A hand-made q15 GRU layer (only what the recurrence reads). */
typedef struct recur_case {
    grt_layer L;
    int8_t *U;
    uint16_t *codes;
    int32_t *bh;
} recur_case;

static void make_recur_case(recur_case *c, rng *r, size_t H, int reset_after, unsigned gate, int mode)
{
    memset(&c->L, 0, sizeof c->L);
    c->L.kind = GRT_LAYER_GRU;
    c->L.precision = GRT_PREC_Q15;
    c->L.activation = GRT_ACT_TANH;
    c->L.gate_activation = (uint8_t)gate;
    c->L.reset_after = (uint8_t)reset_after;
    c->L.input_size = (uint32_t)H;
    c->L.output_size = (uint32_t)H;
    c->U = xmalloc(3 * H * H);
    c->codes = xmalloc(3 * H * sizeof(uint16_t));
    c->bh = xmalloc(3 * H * sizeof(int32_t));
    for (size_t i = 0; i < 3 * H * H; i++)
        c->U[i] = w_value(r, mode == 0 ? W_RANDOM : W_PM127, i);
    for (size_t j = 0; j < 3 * H; j++) {
        c->codes[j] = mode == 0 ? q15_code(r, j) : j % 3 ? 0x437F : (uint16_t)((120u << 7) | (rng_u32(r) & 127u));
        c->bh[j] = mode == 0 ? (int32_t)(rng_u32(r) % 200001u) - 100000 : j % 2 ? MAX32 - (int32_t)(j % 5) : MIN32;
    }
    c->L.tensor[GRT_ROLE_W_HH] = c->U;
    c->L.tensor[GRT_ROLE_W_HH_SCALE] = c->codes;
    c->L.tensor[GRT_ROLE_B_HH] = c->bh;
}

/* The GRU cell with a level's products and element-wise steps on RECUR_B rows at once (rows padded
 * apart, as in a batch's state block) vs with the scalar level's, row by row (B = 1), on the same gi
 * and h, three steps in a row (h carried). */
#define RECUR_B 3

static void test_q15_recur(grt_isa isa)
{
    static const size_t Hs[] = {1, 2, 3, 5, 7, 8, 9, 16, 17, 33, 64, 100};
    static const unsigned gates[] = {GRT_ACT_SIGMOID, GRT_ACT_HARD_SIGMOID, GRT_ACT_HARD_SIGMOID_K2};
    static const int32_t gi_special[] = {MAX32, -MAX32, 0, 1 << 20, -(1 << 20), 65536, -65536};
    static const int16_t h_special[] = {32767, -32768, 0, 16384, -1};
    grt_isa prev = grt_isa_active();
    rng r = {4242};
    for (size_t k = 0; k < sizeof Hs / sizeof Hs[0]; k++) {
        const size_t H = Hs[k], B = RECUR_B, ldgi = 3 * H + 5, ldh = H + 2;
        int ok = 1;
        for (int mode = 0; mode < 3; mode++) {
            for (int ra = 0; ra < 2; ra++) {
                for (size_t g = 0; g < 3; g++) {
                    recur_case c;
                    make_recur_case(&c, &r, H, ra, gates[g], mode);
                    int32_t *gi_a = xmalloc(B * ldgi * sizeof(int32_t)), *gi_s = xmalloc(B * ldgi * sizeof(int32_t));
                    int32_t *gh_a = xmalloc(B * 3 * H * sizeof(int32_t)), *gh_s = xmalloc(3 * H * sizeof(int32_t));
                    int16_t *h_a = xmalloc(B * ldh * sizeof(int16_t)), *h_s = xmalloc(B * ldh * sizeof(int16_t));
                    int16_t *rh_a = xmalloc(B * H * sizeof(int16_t)), *rh_s = xmalloc(H * sizeof(int16_t));
                    for (size_t i = 0; i < B * ldh; i++)
                        h_s[i] = mode == 2 ? h_special[rng_u32(&r) % 5] : (int16_t)(int32_t)(rng_u32(&r) & 0xFFFFu);
                    memcpy(h_a, h_s, B * ldh * sizeof(int16_t));
                    for (int step = 0; step < 3; step++) {
                        for (size_t i = 0; i < B * ldgi; i++)
                            gi_s[i] = mode == 0 ? (int32_t)(rng_u32(&r) % 400001u) - 200000
                                                : mode == 1 ? (int32_t)rng_u32(&r) : gi_special[rng_u32(&r) % 7];
                        memcpy(gi_a, gi_s, B * ldgi * sizeof(int32_t));
                        grt_q15_gru_scratch sa = {gh_a, rh_a}, ss = {gh_s, rh_s};
                        CHECK(grt_isa_select(isa) == GRT_OK);
                        grt_q15_gru_recur(&c.L, gi_a, ldgi, h_a, ldh, B, sa);
                        CHECK(grt_isa_select(GRT_ISA_SCALAR) == GRT_OK);
                        for (size_t b = 0; b < B; b++) {
                            grt_q15_gru_recur(&c.L, gi_s + b * ldgi, 3 * H, h_s + b * ldh, H, 1, ss);
                            ok &= ra || memcmp(rh_a + b * H, rh_s, H * sizeof(int16_t)) == 0;
                        }
                        /* h and the gate values of every row; the padding between rows untouched */
                        ok &= memcmp(h_a, h_s, B * ldh * sizeof(int16_t)) == 0;
                        ok &= memcmp(gi_a, gi_s, B * ldgi * sizeof(int32_t)) == 0;
                    }
                    if (!ok)
                        fprintf(stderr, "  %s q15 recurrence H=%zu mode %d reset_after %d gate %u differs\n",
                                grt_isa_name(isa), H, mode, ra, gates[g]);
                    free(gi_a), free(gi_s), free(gh_a), free(gh_s), free(h_a), free(h_s), free(rh_a), free(rh_s);
                    free(c.U), free(c.codes), free(c.bh);
                }
            }
        }
        CHECK(ok);
    }
    CHECK(grt_isa_select(prev) == GRT_OK);
}

#endif /* GRT_HAS_Q15 */

/* ---- whole models -------------------------------------------------------------------------------------- */

#define GRU_L(prec, act, gate, ra, i, o) {GRT_LAYER_GRU, act, gate, ra, i, o, prec}
#define DENSE_L(prec, act, i, o) {GRT_LAYER_DENSE, act, 0, 0, i, o, prec}
#define CAP (4 << 20)

typedef struct model_case {
    const tw_layer *layers;
    size_t n;
    const char *name;
} model_case;

static const tw_layer m_q8[] = {GRU_L(GRT_PREC_Q8, GRT_ACT_TANH, GRT_ACT_SIGMOID, 1, 12, 48),
                                GRU_L(GRT_PREC_Q8, GRT_ACT_TANH, GRT_ACT_HARD_SIGMOID, 0, 48, 33),
                                DENSE_L(GRT_PREC_Q8, GRT_ACT_SOFTMAX, 33, 5)};
/* q8 only: f32 layers differ between levels (their own summation orders), q8 layers must not. */
static const tw_layer m_q8b[] = {DENSE_L(GRT_PREC_Q8, GRT_ACT_TANH, 7, 65),
                                   GRU_L(GRT_PREC_Q8, GRT_ACT_RELU, GRT_ACT_SIGMOID, 0, 65, 17),
                                   DENSE_L(GRT_PREC_Q8, GRT_ACT_LINEAR, 17, 3)};
static const tw_layer m_q15[] = {GRU_L(GRT_PREC_Q15, GRT_ACT_TANH, GRT_ACT_SIGMOID, 1, 12, 48),
                                 GRU_L(GRT_PREC_Q15, GRT_ACT_TANH, GRT_ACT_HARD_SIGMOID_K2, 0, 48, 31),
                                 DENSE_L(GRT_PREC_Q15, GRT_ACT_SOFTMAX, 31, 6)};
static const tw_layer m_q15_wide[] = {GRU_L(GRT_PREC_Q15, GRT_ACT_TANH, GRT_ACT_SIGMOID, 0, 600, 9),
                                      DENSE_L(GRT_PREC_Q15, GRT_ACT_LINEAR, 9, 257)};
static const model_case models[] = {
    {m_q8, 3, "q8"}, {m_q8b, 3, "q8 dense+gru"}, {m_q15, 3, "q15"}, {m_q15_wide, 2, "q15 wide"}};

static void fill_model_input(rng *r, float *x, size_t n, int extreme, size_t t)
{
    static const float special[] = {0.0f, -0.0f, 1e30f, -3e38f, 1e-40f, 3.0f, -2.5f, 0.5f};
    for (size_t i = 0; i < n; i++) {
        x[i] = rng_uniform(r, -2.0f, 2.0f);
        if (extreme && rng_u32(r) % 3 == 0)
            x[i] = special[rng_u32(r) % 8];
    }
    if (extreme && t == 5) /* a NaN and an Inf step (q8: NaN output until the stream's next reset) */
        x[0] = NAN;
    if (extreme && t == 6)
        x[n - 1] = -INFINITY;
}

/* T steps (float API) and a run of the same inputs from a fresh stream under the active level. */
static void run_model(const grt_model *m, size_t T, int extreme, float *ys_step, float *ys_run, void *state)
{
    size_t I = m->input_size, O = m->output_size, ssize = grt_stream_size(m);
    float *xs = xmalloc(T * I * sizeof(float));
    rng r = {5 + (uint64_t)extreme};
    for (size_t t = 0; t < T; t++)
        fill_model_input(&r, xs + t * I, I, extreme, t);
    uint8_t *mem;
    void *base = alloc_shifted(ssize, 0, &mem);
    grt_stream s;
    CHECK(grt_stream_init(&s, m, mem, ssize) == GRT_OK);
    for (size_t t = 0; t < T; t++)
        grt_stream_step(&s, xs + t * I, ys_step + t * O);
    memcpy(state, s.state, m->state_size * (m->q15 ? sizeof(int16_t) : sizeof(float)));
    size_t wsize = grt_run_work_size(m, 4);
    uint8_t *work;
    void *wbase = alloc_shifted(wsize, 0, &work);
    grt_stream_reset(&s);
    CHECK(grt_stream_run(&s, xs, T, ys_run, work, wsize) == GRT_OK);
    free(xs), free(base), free(wbase);
}

/* T int16 steps of a q15 model under the active level. */
static void run_model_q15(const grt_model *m, size_t T, int extreme, int16_t *ys)
{
    static const int16_t special[] = {32767, -32768, -32767, 0};
    size_t I = m->input_size, O = m->output_size, ssize = grt_stream_size(m);
    int16_t *x = xmalloc(I * sizeof(int16_t));
    rng r = {9};
    uint8_t *mem;
    void *base = alloc_shifted(ssize, 0, &mem);
    grt_stream s;
    CHECK(grt_stream_init(&s, m, mem, ssize) == GRT_OK);
    for (size_t t = 0; t < T; t++) {
        for (size_t i = 0; i < I; i++)
            x[i] = extreme ? special[rng_u32(&r) % 4] : (int16_t)(int32_t)(rng_u32(&r) % 40001u - 20000u);
        CHECK(grt_stream_step_q15(&s, x, ys + t * O) == GRT_OK);
    }
    free(x), free(base);
}

static void test_models(grt_isa isa)
{
    const size_t T = 20;
    grt_isa prev = grt_isa_active();
    for (size_t k = 0; k < sizeof models / sizeof models[0]; k++) {
        for (int extreme = 0; extreme < 2; extreme++) {
            if (!tw_built(models[k].layers, models[k].n))
                continue;
            tw_options opt = {0, 0, 0, extreme ? TW_FILL_EXTREME : TW_FILL_RANDOM, 0};
            uint8_t *blob;
            void *mem = alloc_shifted(CAP, 0, &blob);
            size_t size = tw_build(blob, CAP, models[k].layers, models[k].n, NULL, 0, &opt, 40 + (uint32_t)k, 0.5f);
            grt_model m;
            grt_diag d;
            int loaded = size > 0 && grt_model_load(&m, blob, size, 0, &d) == GRT_OK;
            CHECK(loaded);
            if (!loaded) {
                free(mem);
                continue;
            }
            size_t O = m.output_size, ss = m.state_size * sizeof(float) + 1;
            float *a_step = xmalloc(T * O * sizeof(float)), *a_run = xmalloc(T * O * sizeof(float));
            float *s_step = xmalloc(T * O * sizeof(float)), *s_run = xmalloc(T * O * sizeof(float));
            void *a_state = xmalloc(ss), *s_state = xmalloc(ss);
            if (!m.q15 || GRT_HAS_FLOAT_BOUNDARY) { /* the float API */
                CHECK(grt_isa_select(GRT_ISA_SCALAR) == GRT_OK);
                run_model(&m, T, extreme, s_step, s_run, s_state);
                CHECK(grt_isa_select(isa) == GRT_OK);
                run_model(&m, T, extreme, a_step, a_run, a_state);
                int ok = same_bits(a_step, s_step, T * O) && same_bits(a_run, s_run, T * O) &&
                         same_bits(a_run, a_step, T * O) &&
                         memcmp(a_state, s_state, m.state_size * (m.q15 ? sizeof(int16_t) : sizeof(float))) == 0;
                if (!ok)
                    fprintf(stderr, "  %s model %s%s differs from scalar\n", grt_isa_name(isa), models[k].name,
                            extreme ? " (extreme)" : "");
                CHECK(ok);
            }
            if (m.q15) {
                int16_t *qa = xmalloc(T * O * sizeof(int16_t)), *qs = xmalloc(T * O * sizeof(int16_t));
                CHECK(grt_isa_select(GRT_ISA_SCALAR) == GRT_OK);
                run_model_q15(&m, T, extreme, qs);
                CHECK(grt_isa_select(isa) == GRT_OK);
                run_model_q15(&m, T, extreme, qa);
                CHECK(memcmp(qa, qs, T * O * sizeof(int16_t)) == 0);
                free(qa), free(qs);
            }
            free(a_step), free(a_run), free(s_step), free(s_run), free(a_state), free(s_state), free(mem);
        }
    }
    CHECK(grt_isa_select(prev) == GRT_OK);
}

void test_isa_quant(void)
{
    test_tables();
#if GRT_HAVE_AVX2 && GRT_HAS_Q15
    if (isa_available(GRT_ISA_AVX2))
        test_q15_act_avx2();
#endif
    printf("  isa levels tested (q8/q15):");
    for (unsigned k = 0; k < GRT_ISA_COUNT; k++) {
        grt_isa isa = (grt_isa)k;
        if (!isa_available(isa))
            continue;
        printf(" %s", grt_isa_name(isa));
        fflush(stdout);
#if GRT_HAS_Q8
        test_q8_quantize(isa);
        test_q8_products(isa);
#endif
#if GRT_HAS_Q15
        test_q15_products(isa);
        test_q15_wide_sum(isa);
        test_q15_recur(isa);
#endif
        test_models(isa);
    }
    printf("\n");
}

#else
void test_isa_quant(void)
{
    SKIPPED("q8/q15 kernels per level (GRT_NO_Q8 and GRT_NO_Q15)");
}
#endif
