/* grt_dispatch.c — run-time choice of the kernel variants (see grt_isa in gru_rt.h): the float
 * activations (f32 and q8), the f32 products, the q8 input quantization and products, the q15
 * products and the q15 GRU cell's element-wise steps. One process-wide
 * pointer to a table of kernels, set lazily to the best level on first use; every precision follows the
 * same level. A table holds the entries of the precisions this build keeps (gru_rt.h, "Build
 * configuration"); a level this build lacks (grt_isa.h: AVX2 outside x86-64, NEON outside AArch64, the
 * GRT_NO_*_SIMD switches) has an empty row, never chosen. */
#include "grt_kernels.h"
#include "grt_math.h"
#include "grt_q15.h"

#define FLOAT_ACT (GRT_HAS_F32 || GRT_HAS_Q8) /* the float activations exist */

/* The CPU check of neon_dot: the kernel's HWCAP_ASIMDDP bit on Linux (hosted builds: getauxval is
 * libc's). */
#if GRT_HAVE_NEON_DOT && !defined(__ARM_FEATURE_DOTPROD) && defined(__linux__) && __STDC_HOSTED__
#include <sys/auxv.h>
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1UL << 20) /* older libc headers */
#endif
#define GRT_DOTPROD_HWCAP 1
#endif

typedef struct isa_table {
#if FLOAT_ACT
    grt_act_fn act;
#endif
#if GRT_HAS_F32
    grt_matvec_fn matvec;
    grt_matmul_fn matmul;
    grt_matvec_fn matvec_p8;
    grt_matmul_fn matmul_p8;
#endif
#if GRT_HAS_Q8
    grt_q8_quantize_fn q8_quantize;
    grt_q8_matvec_fn q8_matvec;
    grt_q8_matmul_fn q8_matmul;
#endif
#if GRT_HAS_Q15
    grt_q15_matvec_fn q15_matvec;
    grt_q15_matmul_fn q15_matmul;
    const grt_q15_lanes *q15_lanes;
#endif
} isa_table;

#if FLOAT_ACT
#define ACT_ENTRIES(level) grt_act_apply_##level,
#else
#define ACT_ENTRIES(level)
#endif
#if GRT_HAS_F32
#define F32_ENTRIES(level)                                                                              \
    grt_matvec_f32_##level, grt_matmul_f32_##level, grt_matvec_f32_p8_##level, grt_matmul_f32_p8_##level,
#else
#define F32_ENTRIES(level)
#endif
#if GRT_HAS_Q8
#define Q8_ENTRIES(quant, prod) grt_q8_quantize_##quant, grt_matvec_q8_##prod, grt_matmul_q8_##prod,
#else
#define Q8_ENTRIES(quant, prod)
#endif
#if GRT_HAS_Q15
#define Q15_ENTRIES(prod, lanes) grt_q15_matvec_##prod, grt_q15_matmul_##prod, &grt_q15_lanes_##lanes,
#else
#define Q15_ENTRIES(prod, lanes)
#endif

/* A level not in this build: NULL pointers, never selected (supported() says 0). */
static const isa_table tables[GRT_ISA_COUNT] = {
    {ACT_ENTRIES(scalar) F32_ENTRIES(scalar) Q8_ENTRIES(scalar, scalar) Q15_ENTRIES(scalar, scalar)},
#if GRT_HAVE_AVX2
    {ACT_ENTRIES(avx2) F32_ENTRIES(avx2) Q8_ENTRIES(avx2, avx2) Q15_ENTRIES(avx2, avx2)},
#else
    {0},
#endif
    /* The NEON levels run the scalar float activations and the scalar q15 element-wise steps; neon_dot differs from neon in the q8 products only (sdot multiplies int8 by
     * int8; q15 inputs are int16). */
#if GRT_HAVE_NEON
    {ACT_ENTRIES(scalar) F32_ENTRIES(neon) Q8_ENTRIES(neon, neon) Q15_ENTRIES(neon, scalar)},
#else
    {0},
#endif
#if GRT_HAVE_NEON_DOT
    {ACT_ENTRIES(scalar) F32_ENTRIES(neon) Q8_ENTRIES(neon, neon_dot) Q15_ENTRIES(neon, scalar)},
#else
    {0},
#endif
    /* The VNNI levels are avx2 with their own q8 and q15 products; avx512vnni has its own f32 products
     * too (AVX-512F/VL, which the level implies; on the Zen core measured, no slower than AVX2's at any
     * size and the matrix products 2.1-2.8x as fast: docs/BENCHMARKS.md). */
#if GRT_HAVE_AVXVNNI
    {ACT_ENTRIES(avx2) F32_ENTRIES(avx2) Q8_ENTRIES(avx2, avxvnni) Q15_ENTRIES(avxvnni, avx2)},
#else
    {0},
#endif
#if GRT_HAVE_AVX512VNNI
    {ACT_ENTRIES(avx2) F32_ENTRIES(avx512) Q8_ENTRIES(avx2, avx512vnni) Q15_ENTRIES(avx512vnni, avx2)},
#else
    {0},
#endif
};

static const char *const names[GRT_ISA_COUNT] = {"scalar", "avx2", "neon", "neon_dot", "avxvnni", "avx512vnni"};

/* NULL until first use. Accessed with relaxed atomics where available, so that two threads doing the
 * lazy initialisation at once store the same value without a data race. */
static const isa_table *active;

#if defined(__GNUC__) || defined(__clang__)
#define LOAD_ACTIVE() __atomic_load_n(&active, __ATOMIC_RELAXED)
#define STORE_ACTIVE(t) __atomic_store_n(&active, (t), __ATOMIC_RELAXED)
#else
#define LOAD_ACTIVE() active
#define STORE_ACTIVE(t) (active = (t))
#endif

#if GRT_HAVE_NEON_DOT
static int cpu_has_dotprod(void)
{
#if defined(__ARM_FEATURE_DOTPROD)
    return 1; /* the build targets it: the CPU must have it anyway */
#elif defined(GRT_DOTPROD_HWCAP)
    return (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;
#else
    return 0; /* no portable question to ask: stay on neon */
#endif
}
#endif

#if GRT_HAVE_AVX2
#include <cpuid.h>

/* The x86 checks: cpuid feature bits, and XCR0 (xgetbv) for the register state the OS saves on a
 * context switch — a CPU feature is usable only with its state enabled there. */
static uint64_t xcr0(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 27))) /* OSXSAVE: xgetbv allowed */
        return 0;
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

#define XCR0_AVX 0x6u     /* XMM and YMM state */
#define XCR0_AVX512 0xE0u /* opmask, ZMM0-15 upper halves, ZMM16-31 */

static int cpu_has_avx2(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

/* cpuid leaf 7: ebx/ecx of subleaf 0 (AVX-512, AVX512_VNNI), eax of subleaf 1 (AVX-VNNI). */
static int cpu_has_vnni(int avx512)
{
    unsigned a, b, c, d;
    if (!cpu_has_avx2() || (xcr0() & XCR0_AVX) != XCR0_AVX || !__get_cpuid_count(7, 0, &a, &b, &c, &d))
        return 0;
    if (avx512) {
        const unsigned f_bw_vl = (1u << 16) | (1u << 30) | (1u << 31);
        return (b & f_bw_vl) == f_bw_vl && (c & (1u << 11)) && (xcr0() & XCR0_AVX512) == XCR0_AVX512;
    }
    return __get_cpuid_count(7, 1, &a, &b, &c, &d) && (a & (1u << 4));
}
#endif

static int supported(grt_isa isa)
{
    switch (isa) {
    case GRT_ISA_SCALAR:
        return 1;
    case GRT_ISA_AVX2:
#if GRT_HAVE_AVX2
        return cpu_has_avx2();
#else
        return 0;
#endif
    case GRT_ISA_AVXVNNI:
#if GRT_HAVE_AVXVNNI
        return cpu_has_vnni(0);
#else
        return 0;
#endif
    case GRT_ISA_AVX512VNNI:
#if GRT_HAVE_AVX512VNNI
        return cpu_has_vnni(1);
#else
        return 0;
#endif
    case GRT_ISA_NEON:
        return GRT_HAVE_NEON;
    case GRT_ISA_NEON_DOT:
#if GRT_HAVE_NEON_DOT
        return cpu_has_dotprod();
#else
        return 0;
#endif
    default:
        return 0;
    }
}

/* The levels of one architecture are numbered in increasing order of preference (x86-64: scalar, avx2,
 * avxvnni, avx512vnni). */
grt_isa grt_isa_best(void)
{
    for (unsigned k = GRT_ISA_COUNT - 1; k > 0; k--)
        if (supported((grt_isa)k))
            return (grt_isa)k;
    return GRT_ISA_SCALAR;
}

int grt_isa_supported(grt_isa isa)
{
    return (unsigned)isa < GRT_ISA_COUNT && supported(isa);
}

static const isa_table *get_active(void)
{
    const isa_table *t = LOAD_ACTIVE();
    if (!t) {
        t = &tables[grt_isa_best()];
        STORE_ACTIVE(t);
    }
    return t;
}

grt_isa grt_isa_active(void)
{
    return (grt_isa)(get_active() - tables);
}

grt_status grt_isa_select(grt_isa isa)
{
    if (!grt_isa_supported(isa))
        return GRT_E_ARG;
    STORE_ACTIVE(&tables[isa]);
    return GRT_OK;
}

const char *grt_isa_name(grt_isa isa)
{
    return (unsigned)isa < GRT_ISA_COUNT ? names[isa] : "?";
}

unsigned grt_build_features(void)
{
    return (GRT_HAS_F32 ? GRT_FEATURE_F32 : 0u) | (GRT_HAS_Q8 ? GRT_FEATURE_Q8 : 0u) |
           (GRT_HAS_Q15 ? GRT_FEATURE_Q15 : 0u) |
           (GRT_HAS_FLOAT_BOUNDARY ? GRT_FEATURE_FLOAT_BOUNDARY : 0u) |
           (GRT_HAVE_AVX2 ? GRT_FEATURE_AVX2 : 0u) | (GRT_HAVE_NEON ? GRT_FEATURE_NEON : 0u) |
           (GRT_HAVE_NEON_DOT ? GRT_FEATURE_NEON_DOT : 0u) | (GRT_HAVE_AVXVNNI ? GRT_FEATURE_AVXVNNI : 0u) |
           (GRT_HAVE_AVX512VNNI ? GRT_FEATURE_AVX512VNNI : 0u) | (GRT_HAS_LSTM ? GRT_FEATURE_LSTM : 0u) |
           (GRT_HAS_CONV1D ? GRT_FEATURE_CONV1D : 0u) | (GRT_HAS_LAYERNORM ? GRT_FEATURE_LAYERNORM : 0u) |
           (GRT_HAS_MASK ? GRT_FEATURE_MASK : 0u) | (GRT_HAS_BIDIR ? GRT_FEATURE_BIDIR : 0u);
}

/* ---- float activations (f32 and q8) ------------------------------------------------------------- */
#if FLOAT_ACT
grt_act_fn grt_isa_act(grt_isa isa)
{
    return (unsigned)isa < GRT_ISA_COUNT ? tables[isa].act : 0;
}

void grt_act_apply(unsigned act, float *v, size_t n)
{
    get_active()->act(act, v, n);
}
#endif

/* ---- f32 --------------------------------------------------------------------------------------- */
#if GRT_HAS_F32
grt_matvec_fn grt_isa_matvec(grt_isa isa)
{
    return (unsigned)isa < GRT_ISA_COUNT ? tables[isa].matvec : 0;
}

grt_matmul_fn grt_isa_matmul(grt_isa isa)
{
    return (unsigned)isa < GRT_ISA_COUNT ? tables[isa].matmul : 0;
}

grt_matvec_fn grt_isa_matvec_p8(grt_isa isa)
{
    return (unsigned)isa < GRT_ISA_COUNT ? tables[isa].matvec_p8 : 0;
}

grt_matmul_fn grt_isa_matmul_p8(grt_isa isa)
{
    return (unsigned)isa < GRT_ISA_COUNT ? tables[isa].matmul_p8 : 0;
}

void grt_matvec_f32_p8(float *restrict y, const float *restrict P, const float *restrict b,
                       const float *restrict x, size_t rows, size_t cols)
{
    get_active()->matvec_p8(y, P, b, x, rows, cols);
}

void grt_matmul_f32_p8(float *restrict Y, size_t ldy, const float *restrict P, const float *restrict b,
                       const float *restrict X, size_t ldx, size_t rows, size_t cols, size_t T)
{
    if (T == 1)
        get_active()->matvec_p8(Y, P, b, X, rows, cols);
    else
        get_active()->matmul_p8(Y, ldy, P, b, X, ldx, rows, cols, T);
}

void grt_matvec_f32(float *restrict y, const float *restrict W, const float *restrict b,
                    const float *restrict x, size_t rows, size_t cols)
{
    get_active()->matvec(y, W, b, x, rows, cols);
}

void grt_matmul_f32(float *restrict Y, size_t ldy, const float *restrict W, const float *restrict b,
                    const float *restrict X, size_t ldx, size_t rows, size_t cols, size_t T)
{
    if (T == 1)
        get_active()->matvec(Y, W, b, X, rows, cols);
    else
        get_active()->matmul(Y, ldy, W, b, X, ldx, rows, cols, T);
}
#endif

/* ---- q8 ---------------------------------------------------------------------------------------- */
#if GRT_HAS_Q8
grt_q8_quantize_fn grt_isa_q8_quantize(grt_isa isa)
{
    return (unsigned)isa < GRT_ISA_COUNT ? tables[isa].q8_quantize : 0;
}

grt_q8_matvec_fn grt_isa_q8_matvec(grt_isa isa)
{
    return (unsigned)isa < GRT_ISA_COUNT ? tables[isa].q8_matvec : 0;
}

grt_q8_matmul_fn grt_isa_q8_matmul(grt_isa isa)
{
    return (unsigned)isa < GRT_ISA_COUNT ? tables[isa].q8_matmul : 0;
}

float grt_q8_quantize(int8_t *restrict xq, const float *restrict x, size_t n)
{
    return get_active()->q8_quantize(xq, x, n);
}

void grt_matvec_q8_quantized(float *restrict y, const int8_t *restrict W, const uint16_t *restrict codes,
                             const float *restrict b, const int8_t *restrict xq, float sx, size_t rows,
                             size_t cols)
{
    get_active()->q8_matvec(y, W, codes, b, xq, sx, rows, cols);
}

void grt_matmul_q8_quantized(float *restrict Y, size_t ldy, const int8_t *restrict W,
                             const uint16_t *restrict codes, const float *restrict b,
                             const int8_t *restrict Xq, const float *restrict sx, size_t rows, size_t cols,
                             size_t T)
{
    if (T == 1)
        get_active()->q8_matvec(Y, W, codes, b, Xq, sx[0], rows, cols);
    else
        get_active()->q8_matmul(Y, ldy, W, codes, b, Xq, sx, rows, cols, T);
}
#endif

/* ---- q15 --------------------------------------------------------------------------------------- */
#if GRT_HAS_Q15
grt_q15_matvec_fn grt_isa_q15_matvec(grt_isa isa)
{
    return (unsigned)isa < GRT_ISA_COUNT ? tables[isa].q15_matvec : 0;
}

grt_q15_matmul_fn grt_isa_q15_matmul(grt_isa isa)
{
    return (unsigned)isa < GRT_ISA_COUNT ? tables[isa].q15_matmul : 0;
}

const grt_q15_lanes *grt_isa_q15_lanes(grt_isa isa)
{
    return (unsigned)isa < GRT_ISA_COUNT ? tables[isa].q15_lanes : 0;
}

const grt_q15_lanes *grt_q15_lanes_active(void)
{
    return get_active()->q15_lanes;
}

void grt_q15_matvec(int32_t *restrict y, const int8_t *restrict W, const uint16_t *restrict codes,
                    const int32_t *restrict b, const int16_t *restrict x, size_t rows, size_t cols)
{
    get_active()->q15_matvec(y, W, codes, b, x, rows, cols);
}

void grt_q15_matmul(int32_t *restrict Y, size_t ldy, const int8_t *restrict W,
                    const uint16_t *restrict codes, const int32_t *restrict b, const int16_t *restrict X,
                    size_t ldx, size_t rows, size_t cols, size_t T)
{
    if (T == 1)
        get_active()->q15_matvec(Y, W, codes, b, X, rows, cols);
    else
        get_active()->q15_matmul(Y, ldy, W, codes, b, X, ldx, rows, cols, T);
}
#endif
