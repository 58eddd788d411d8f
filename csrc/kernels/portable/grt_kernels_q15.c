/* grt_kernels_q15.c — the q15 integer kernels (docs/QUANTIZATION.md, "q15"): table activations, and the
 * scalar level of the requantized int8 x int16 products and of the GRU cell's element-wise steps
 * (grt_q15_matvec, grt_q15_matmul and grt_q15_lanes_active dispatch to them or to the other levels,
 * grt_dispatch.c, with equal results). The cells that use them: grt_cell_q15.c.
 *
 * No floating-point type or operation anywhere in this file (`make nofloat` proves it by compiling it
 * with -mgeneral-regs-only). No undefined behaviour for any loaded model and any int16 input: every
 * sum is bounded (see the comments) and no negative value is ever shifted right (grt_q15_rshr). */
#include "../../grt_internal.h"

#include "../../grt_q15.h"
#include "grt_dsp.h"

#if GRT_HAS_Q15 /* the whole file (GRT_NO_Q15: empty) */

/* ---- activations ------------------------------------------------------------------------------ */

/* T[i] + ((T[i+1] - T[i]) * f + 2^(bits-1)) >> bits, i = a >> bits, f = the low bits of a, for a
 * non-decreasing table (all terms non-negative), with a clamped to (last << bits) - 1 first: from i =
 * last on that gives T[last] (one), because the interpolation towards T[last] rounds to it at the largest
 * fraction (T[last] - T[last-1] = 1 <= 2^(bits-1)). tests/test_q15.c checks every input against the
 * lookup over the untrimmed table. One compare for the clamp, no select (a small core's cost). */
static inline uint32_t interp_up(const uint16_t *T, uint32_t last, uint32_t a, unsigned bits)
{
    const uint32_t top = (last << bits) - 1u;
    a = a < top ? a : top;
    uint32_t i = a >> bits, f = a & ((1u << bits) - 1u);
#if defined(__ARM_FEATURE_UNALIGNED) && !defined(__ARM_BIG_ENDIAN)
    uint32_t w; /* T[i] and T[i + 1] by one ldr (a word at any halfword), freeing a register */
    grt_memcpy(&w, T + i, sizeof w);
    uint32_t lo = w & 0xFFFFu, hi = w >> 16;
#else
    uint32_t lo = T[i], hi = T[i + 1];
#endif
    return lo + (((hi - lo) * f + (1u << (bits - 1))) >> bits);
}

/* |v| as unsigned (2^31 for INT32_MIN). The sign selections below are conditional moves (cmov, or
 * an IT block on Thumb-2), not branches. */
static inline uint32_t abs_u32(int32_t v)
{
    return v < 0 ? 0u - (uint32_t)v : (uint32_t)v;
}

/* Inline in the element-wise loops below (a call per element costs a fifth of the work on a small core). */
static inline int32_t sigmoid_q15(int32_t v)
{
    uint32_t s = interp_up(GRT_Q15_SIGMOID, GRT_Q15_SIGMOID_LAST, abs_u32(v), 11);
    return v < 0 ? (int32_t)(GRT_Q15_ONE - s) : (int32_t)s;
}

static inline int32_t tanh_q15(int32_t v)
{
    int32_t t = (int32_t)interp_up(GRT_Q15_TANH, GRT_Q15_TANH_LAST, abs_u32(v), 10);
    return v < 0 ? -t : t;
}

/* sat32(a + b) where only sigmoid_q15 or tanh_q15 reads the sum: on the DSP extension one qadd, whose
 * -2^31 (where sat32 gives -(2^31 - 1)) both activations map to the same saturated value. */
static inline int32_t add_sat32_act(int32_t a, int32_t b)
{
#if GRT_HAVE_ARM_DSP
    return __qadd(a, b);
#else
    return grt_q15_add_sat32(a, b);
#endif
}

/* RSHR(p, 15) for p = u·v within int32 (u, v int32): (p + 2^14) lies in (-2^31, 2^31) wherever it is
 * used below, so the biased unsigned sum (p + 2^14 + 2^31 mod 2^32) is exact and the shift sees no
 * negative value: floor((p + 2^14) / 2^15) + 2^16, less 2^16. */
static inline int32_t rshr15_32(int32_t p)
{
    return (int32_t)(((uint32_t)p + 0x80004000u) >> 15) - 65536;
}

/* n + RSHR(p, 15) under the same bound on p (|n| <= 2^16): on Thumb-2 two instructions, the second an
 * add with an arithmetic shift of its operand (floor division by 2^15, what RSHR needs). */
static inline int32_t add_rshr15_32(int32_t n, int32_t p)
{
#if defined(__thumb2__)
    int32_t t;
    __asm__("add %0, %1, #16384\n\t"
            "add %0, %2, %0, asr #15"
            : "=&r"(t)
            : "r"(p), "r"(n));
    return t;
#else
    return n + rshr15_32(p);
#endif
}

/* sat16 of an int32 (ssat on Armv7-M and later). */
static inline int16_t sat16_32(int32_t v)
{
#if defined(__arm__) && defined(__ARM_FEATURE_SAT)
    int32_t r;
    __asm__("ssat %0, #16, %1" : "=r"(r) : "r"(v));
    return (int16_t)r;
#else
    return grt_q15_sat16(v);
#endif
}

int32_t grt_q15_sigmoid(int32_t v)
{
    return sigmoid_q15(v);
}

int32_t grt_q15_tanh(int32_t v)
{
    return tanh_q15(v);
}

int32_t grt_q15_exp_neg(uint32_t a)
{
    uint32_t i = a >> 10, f = a & 1023u;
    if (i >= GRT_Q15_EXP_LAST) /* EXP[LAST] = 0 */
        return 0;
    uint32_t d = (uint32_t)GRT_Q15_EXP[i] - GRT_Q15_EXP[i + 1]; /* non-increasing table */
    return (int32_t)(GRT_Q15_EXP[i] - ((d * f + 512u) >> 10));
}

static inline int32_t clamp_q15_unit(int64_t v)
{
    return v < 0 ? 0 : v > GRT_Q15_ONE ? GRT_Q15_ONE : (int32_t)v;
}

int32_t grt_q15_hard_sigmoid(int32_t v)
{
    return clamp_q15_unit(grt_q15_rshr((int64_t)v * 5461, 16) + 16384); /* |v·5461| < 2^44 */
}

int32_t grt_q15_hard_sigmoid_k2(int32_t v)
{
    return clamp_q15_unit(grt_q15_rshr((int64_t)v * 6554, 16) + 16384);
}

int32_t grt_q15_gate(unsigned act, int32_t v)
{
    switch (act) {
    case GRT_ACT_HARD_SIGMOID: return grt_q15_hard_sigmoid(v);
    case GRT_ACT_HARD_SIGMOID_K2: return grt_q15_hard_sigmoid_k2(v);
    default: return grt_q15_sigmoid(v);
    }
}

/* ---- products ----------------------------------------------------------------------------------- */

/* sum_k w[k]·x[k], exact. |w·x| <= 128·32768 = 2^22 even for a -128 weight, so an int32 block sum of
 * GRT_Q15_BLOCK = 256 products stays within 2^30; the blocks add up in int64 (|acc| <= 2^36). The
 * block length is not observable: the sum is exact. */
static inline int64_t dot_q15(const int8_t *restrict w, const int16_t *restrict x, size_t n)
{
    int64_t acc = 0;
    for (size_t j0 = 0; j0 < n; j0 += GRT_Q15_BLOCK) {
        size_t len = n - j0 < GRT_Q15_BLOCK ? n - j0 : GRT_Q15_BLOCK;
        const int8_t *restrict wb = w + j0;
        const int16_t *restrict xb = x + j0;
        int32_t s = 0;
        for (size_t k = 0; k < len; k++)
            s += (int32_t)wb[k] * (int32_t)xb[k];
        acc += s;
    }
    return acc;
}

#define ROWS 4 /* rows per pass: each activation is loaded once for all of them */

/* s[i] += sum of w[i·cols + k]·x[k] for k in [j0, j1), i < ROWS: exact block sums (j1 - j0 <= GRT_Q15_BLOCK,
 * as in dot_q15). */
static inline void block4_q15(int32_t s[ROWS], const int8_t *restrict w, size_t cols, const int16_t *restrict x,
                              size_t j0, size_t j1)
{
    const int8_t *restrict w0 = w, *restrict w1 = w + cols, *restrict w2 = w1 + cols, *restrict w3 = w2 + cols;
    int32_t s0 = s[0], s1 = s[1], s2 = s[2], s3 = s[3];
    for (size_t k = j0; k < j1; k++) {
        int32_t xk = x[k];
        s0 += w0[k] * xk;
        s1 += w1[k] * xk;
        s2 += w2[k] * xk;
        s3 += w3[k] * xk;
    }
    s[0] = s0, s[1] = s1, s[2] = s2, s[3] = s3;
}

/* y[0..3] for ROWS consecutive rows of W (row length cols): one int32 sum per row when the row is one
 * block (the requantization then takes its 32-bit path), int64 sums of block sums otherwise. */
static void rows4_q15(int32_t *restrict y, const int8_t *restrict w, const uint16_t *restrict codes,
                      const int32_t *restrict b, const int16_t *restrict x, size_t cols)
{
    if (cols <= GRT_Q15_BLOCK) {
        int32_t s[ROWS] = {0, 0, 0, 0};
        block4_q15(s, w, cols, x, 0, cols);
        for (size_t i = 0; i < ROWS; i++)
            y[i] = grt_q15_requant(s[i], codes[i], b[i]);
        return;
    }
    int64_t a[ROWS] = {0, 0, 0, 0};
    for (size_t j0 = 0; j0 < cols; j0 += GRT_Q15_BLOCK) {
        int32_t s[ROWS] = {0, 0, 0, 0};
        block4_q15(s, w, cols, x, j0, cols - j0 < GRT_Q15_BLOCK ? cols : j0 + GRT_Q15_BLOCK);
        for (size_t i = 0; i < ROWS; i++)
            a[i] += s[i];
    }
    for (size_t i = 0; i < ROWS; i++)
        y[i] = grt_q15_requant(a[i], codes[i], b[i]);
}

#if GRT_HAVE_ARM_DSP && !GRT_HAVE_ARM_MVE
/* The Cortex-M DSP extension (Armv7E-M, Armv8-M with DSP): smlad adds two 16x16-bit products to a
 * 32-bit sum; sxtb16 sign-extends bytes 0 and 2 of a word into two 16-bit halves (bytes 1 and 3 after a
 * rotation by 8). Four weights w0..w3 in one word thus give the pairs (w0, w2) and (w1, w3), which
 * meet the activations in the order (x0, x2), (x1, x3): xp holds x in that order, made once per call,
 * so that the weights are used as stored. Same exact int32 sums as dot_q15 (one block: cols <= 256;
 * smlad's sum is exact while it stays within int32). */
#define DSP_MAX_COLS GRT_Q15_BLOCK

#define load_u32 grt_dsp_load_u32
#define sxtb16_ror8 grt_dsp_sxtb16_ror8

/* xp[2g], xp[2g+1] = (x[4g], x[4g+2]), (x[4g+1], x[4g+3]) as 16-bit halves (low first), g < n4: one
 * pkhbt and one pkhtb (pack halfword bottom-top / top-bottom, the second operand shifted). */
static void pairs_dsp(uint32_t *restrict xp, const int16_t *restrict x, size_t n4)
{
    for (size_t g = 0; g < n4; g++) {
        uint32_t x01 = load_u32(x + 4 * g), x23 = load_u32(x + 4 * g + 2), lo, hi;
        __asm__("pkhbt %0, %1, %2, lsl #16" : "=r"(lo) : "r"(x01), "r"(x23));
        __asm__("pkhtb %0, %1, %2, asr #16" : "=r"(hi) : "r"(x23), "r"(x01));
        xp[2 * g] = lo;
        xp[2 * g + 1] = hi;
    }
}

static inline int32_t smlad_w4(uint32_t w, uint32_t xa, uint32_t xb, int32_t s)
{
    s = __smlad(__sxtb16((int32_t)w), (int32_t)xa, s);
    return __smlad(sxtb16_ror8(w), (int32_t)xb, s);
}

/* One block of eight columns of two rows (the body of the fused passes' loop below, given its registers
 * by name): the eight activations as the pairs (x0, x2), (x1, x3), (x4, x6), (x5, x7) in four
 * registers a0..a3 by one ldm from q, shared by both rows; per row the eight weights into w0, w1
 * (LOADW0/LOADW1 from the rows' pointers: one ldrd where the rows are word-aligned, two ldr otherwise),
 * four sxtb16 (t: a scratch register), four smlad into the row's sum s0 or s1. */
#define DSP_MAC4(s, w, lo, hi, t) \
    "sxtb16 " t ", " w "\n\t" \
    "smlad " s ", " t ", " lo ", " s "\n\t" \
    "sxtb16 " w ", " w ", ror #8\n\t" \
    "smlad " s ", " w ", " hi ", " s "\n\t"
#define DSP_BLOCK8(q, a0, a1, a2, a3, LOADW0, LOADW1, s0, s1, w0, w1, t) \
    "ldm " q "!, {" a0 ", " a1 ", " a2 ", " a3 "}\n\t" \
    LOADW0 DSP_MAC4(s0, w0, a0, a1, t) DSP_MAC4(s0, w1, a2, a3, t) \
    LOADW1 DSP_MAC4(s1, w0, a0, a1, t) DSP_MAC4(s1, w1, a2, a3, t)
#define DSP_LDRD(w0, w1, p) "ldrd " w0 ", " w1 ", [" p "], #8\n\t"
#define DSP_LDR2(w0, w1, p) "ldr " w0 ", [" p "], #4\n\tldr " w1 ", [" p "], #4\n\t"

/* sum_k w[k]·x[k] of one row (the rows the fused passes below do not take): four columns a step
 * (smlad_w4 over the pairs xp), then the last cols % 4 one at a time. Any alignment. */
static int32_t row_dsp(const int8_t *w, const uint32_t *xp, const int16_t *x, size_t cols)
{
    int32_t s = 0;
    size_t k = 0;
    for (; k + 4 <= cols; k += 4)
        s = smlad_w4(load_u32(w + k), xp[k / 2], xp[k / 2 + 1], s);
    for (; k < cols; k++)
        s += w[k] * x[k];
    return s;
}

/* ---- the fused passes: every pair of rows of at least 8 columns -----------------------------------
 * One assembly function runs every pass of two rows: the 8-column blocks (DSP_BLOCK8), then both rows'
 * requantization on its usual path (grt_q15_requant: exponent 102..125, smmulr, qadd, -2^31 ->
 * -(2^31 - 1)) and one strd of the two outputs; a row whose code is outside that path calls
 * dsp_requant_slow. Per pass its state lives in a dsp_rows (loaded and stored with ldm/stm),
 * so the loop needs no other registers: 35 instructions of bookkeeping and requantization per pass. Its
 * block loop is unrolled four times (a pass enters at the copy that leaves a multiple of four). Two
 * functions from the same text: grt_q15_rows2_dsp for word-aligned rows of a multiple of 8 columns (one
 * ldrd for eight weights), grt_q15_rows2_dsp_any for the others (two ldr, which take any alignment,
 * then the last cols % 8 columns of both rows one at a time: ldrsh, two ldrsb, two mla). A build for
 * size (-Os, __OPTIMIZE_SIZE__) has only the second, its loop unrolled twice (about 750 bytes less). */
typedef struct dsp_rows {
    int32_t *y;             /*  0: the next pass's two outputs (y..b: one ldmdb/stmdb from 16) */
    const int32_t *y_end;   /*  4 */
    const uint16_t *codes;  /*  8 */
    const int32_t *b;       /* 12 */
    const uint32_t *xp;     /* 16: the activation pairs (xp..zero: what one ldm starts each pass with) */
    size_t cols;            /* 20 */
    int32_t zero[2];        /* 24: the two sums' start */
    uintptr_t entry;        /* 32: where a pass enters the unrolled loop (set by the function) */
    const uint32_t *xp_end; /* 36 */
    const int8_t *W;        /* 40: the first pass's first row */
    const int16_t *x_tail;  /* 44: x[8 * (cols / 8)] (grt_q15_rows2_dsp_any) */
    size_t tail;            /* 48: cols % 8 (grt_q15_rows2_dsp_any) */
} dsp_rows;
typedef char dsp_rows_layout[offsetof(dsp_rows, tail) == 48 ? 1 : -1]; /* the offsets the assembly uses */

/* Below; rows2 = y_end - y > 0 even, cols >= 8; grt_q15_rows2_dsp: W word-aligned, cols a multiple of 8. */
void grt_q15_rows2_dsp(dsp_rows *d);
void grt_q15_rows2_dsp_any(dsp_rows *d);

/* The general requantization of one row, for the assembly (AAPCS: acc in r0:r1, code r2, b r3). */
__attribute__((used)) static int32_t dsp_requant_slow(int64_t acc, uint32_t code, int32_t b)
{
    return grt_q15_requant(acc, (uint16_t)code, b);
}

#define DSP_A_BLOCK8(LOAD) \
    DSP_BLOCK8("r0", "r4", "r5", "r6", "r7", LOAD("r8", "r9", "r1"), LOAD("r8", "r9", "r2"), "r3", "r11", "r8", "r9", \
               "r10")
/* grt_q15_rows2_dsp_any's last cols % 8 columns of both rows (r1, r2 then point at the next pass's rows). */
#define DSP_A_TAIL \
    "ldr r10, [lr, #32]\n\t" /* tail */ \
    "cmp r10, #0\n\t" \
    "beq 3f\n\t" \
    "ldr r0, [lr, #28]\n" /* x_tail */ \
    "4:\n\t" \
    "ldrsh r4, [r0], #2\n\t" \
    "ldrsb r8, [r1], #1\n\t" \
    "ldrsb r9, [r2], #1\n\t" \
    "mla r3, r8, r4, r3\n\t" \
    "mla r11, r9, r4, r11\n\t" \
    "subs r10, r10, #1\n\t" \
    "bne 4b\n" \
    "3:\n\t"
/* One row's usual requantization: acc in s, the code in bits [lo, lo + 15) of r8, b in bias -> s. */
#define DSP_A_REQUANT(s, elo, mlo, bias, slow) \
    "ubfx r0, r8, #" elo ", #8\n\t" \
    "sub r0, r0, #102\n\t" \
    "cmp r0, #23\n\t" \
    "bhi " slow "\n\t" \
    "ubfx r2, r8, #" mlo ", #7\n\t" \
    "add r2, r2, #128\n\t" \
    "lsl r2, r2, r0\n\t" \
    "smmulr " s ", " s ", r2\n\t" \
    "qadd " s ", " s ", " bias "\n\t" \
    "cmp " s ", #0x80000000\n\t" \
    "it eq\n\t" \
    "addeq " s ", " s ", #1\n"

/* The block loop's copies and where a pass enters them (r9), by the number of blocks (r10 = 16 bytes
 * a block): four copies, or two where the build is for size (-Os). */
#if !defined(__OPTIMIZE_SIZE__)
#define DSP_A_ENTRY(NAME) \
    "adr r9, .L" NAME "_b1\n\t" \
    "ands r10, r10, #48\n\t" \
    "beq 1f\n\t" \
    "adr r9, .L" NAME "_b2\n\t" /* 3 mod 4: the last three copies first */ \
    "cmp r10, #48\n\t" \
    "beq 1f\n\t" \
    "adr r9, .L" NAME "_b3\n\t" \
    "cmp r10, #32\n\t" \
    "beq 1f\n\t" \
    "adr r9, .L" NAME "_b4\n"
#define DSP_A_BLOCKS(NAME, LOAD) \
    ".L" NAME "_b1:\n\t" DSP_A_BLOCK8(LOAD) "\n" \
    ".L" NAME "_b2:\n\t" DSP_A_BLOCK8(LOAD) "\n" \
    ".L" NAME "_b3:\n\t" DSP_A_BLOCK8(LOAD) "\n" \
    ".L" NAME "_b4:\n\t" DSP_A_BLOCK8(LOAD) "\n\t"
#else
#define DSP_A_ENTRY(NAME) \
    "adr r9, .L" NAME "_b1\n\t" \
    "tst r10, #16\n\t" \
    "beq 1f\n\t" \
    "adr r9, .L" NAME "_b2\n" /* an odd number: the last copy first */
#define DSP_A_BLOCKS(NAME, LOAD) \
    ".L" NAME "_b1:\n\t" DSP_A_BLOCK8(LOAD) "\n" \
    ".L" NAME "_b2:\n\t" DSP_A_BLOCK8(LOAD) "\n\t"
#endif

/* Registers: r0 activation pairs, r1/r2 the two rows' weights, r3/r11 their sums, r4-r7 four pairs,
 * r8/r9 eight weights, r10 sxtb16's result, r12 the end of the pairs, lr the dsp_rows. */
#define DSP_A_FUNCTION(NAME, LOAD, TAIL) \
    __asm__(".pushsection .text." NAME ", \"ax\", %progbits\n\t" /* gcc's own section stays current */ \
        ".syntax unified\n\t" \
        ".thumb\n\t" \
        ".balign 4\n\t" \
        ".global " NAME "\n\t" \
        ".hidden " NAME "\n\t" \
        ".type " NAME ", %function\n\t" \
        ".thumb_func\n" \
        NAME ":\n\t" \
        "push {r3-r11, lr}\n\t" /* ten words: the stack stays 8-byte aligned for the calls */ \
        "add lr, r0, #16\n\t" /* lr: the dsp_rows' xp */ \
        "ldr r12, [lr, #20]\n\t" \
        "ldr r1, [lr, #24]\n\t" \
        "ldr r0, [lr, #0]\n\t" \
        "sub r10, r12, r0\n\t" /* 16 bytes of pairs a block: bits 4-5 are the number of blocks mod 4 */ \
        DSP_A_ENTRY(NAME) \
        "1:\n\t" \
        "orr r9, r9, #1\n\t" /* a Thumb address for ldr pc */ \
        "str r9, [lr, #16]\n" \
        ".L" NAME "_pass:\n\t" \
        "ldm lr, {r0, r2, r3, r11}\n\t" /* xp, cols, 0, 0 */ \
        "add r2, r1, r2\n\t" \
        "ldr pc, [lr, #16]\n\t" \
        ".balign 4\n" \
        DSP_A_BLOCKS(NAME, LOAD) \
        "cmp r0, r12\n\t" \
        "bne .L" NAME "_b1\n\t" \
        TAIL \
        "mov r1, r2\n\t" /* the next pass's first row */ \
        "ldmdb lr, {r4, r5, r6, r7}\n\t" /* y, y_end, codes, b */ \
        "ldr r8, [r6], #4\n\t" \
        "ldrd r9, r10, [r7], #8\n\t" \
        DSP_A_REQUANT("r3", "7", "0", "r9", ".L" NAME "_slow0") \
        ".L" NAME "_back0:\n\t" \
        DSP_A_REQUANT("r11", "23", "16", "r10", ".L" NAME "_slow1") \
        ".L" NAME "_back1:\n\t" \
        "strd r3, r11, [r4], #8\n\t" \
        "stmdb lr, {r4, r5, r6, r7}\n\t" \
        "cmp r4, r5\n\t" \
        "bne .L" NAME "_pass\n\t" \
        "pop {r3-r11, pc}\n" \
        ".L" NAME "_slow0:\n\t" \
        "push {r1, r2, r12, lr}\n\t" \
        "mov r0, r3\n\t" \
        "asrs r1, r3, #31\n\t" \
        "uxth r2, r8\n\t" \
        "mov r3, r9\n\t" \
        "bl dsp_requant_slow\n\t" \
        "mov r3, r0\n\t" \
        "pop {r1, r2, r12, lr}\n\t" \
        "b .L" NAME "_back0\n" \
        ".L" NAME "_slow1:\n\t" \
        "push {r1, r3, r12, lr}\n\t" \
        "mov r0, r11\n\t" \
        "asrs r1, r11, #31\n\t" \
        "lsrs r2, r8, #16\n\t" \
        "mov r3, r10\n\t" \
        "bl dsp_requant_slow\n\t" \
        "mov r11, r0\n\t" \
        "pop {r1, r3, r12, lr}\n\t" \
        "b .L" NAME "_back1\n\t" \
        ".size " NAME ", . - " NAME "\n\t" \
        ".popsection")
#if !defined(__OPTIMIZE_SIZE__) /* for size: the second function takes every pair of rows */
DSP_A_FUNCTION("grt_q15_rows2_dsp", DSP_LDRD, "");
#endif
DSP_A_FUNCTION("grt_q15_rows2_dsp_any", DSP_LDR2, DSP_A_TAIL);

/* Rows of up to 256 columns (smlad's int32 sums are exact there). Every pair of rows of at least 8
 * columns takes a fused pass; an odd last row, or rows of fewer than 8 columns, row_dsp. The weights
 * are used as stored. */
static void matvec_dsp(int32_t *restrict y, const int8_t *restrict W, const uint16_t *restrict codes,
                       const int32_t *restrict b, const int16_t *restrict x, size_t rows, size_t cols)
{
    uint32_t xp[DSP_MAX_COLS / 2];
    size_t first = 0;
    pairs_dsp(xp, x, cols / 4);
    if (cols >= 8 && rows >= 2) {
        first = rows & ~(size_t)1;
        const size_t full = cols & ~(size_t)7;
        dsp_rows d = {y, y + first, codes, b, xp, cols, {0, 0}, 0, xp + full / 2, W, x + full, cols - full};
#if !defined(__OPTIMIZE_SIZE__)
        if (((uintptr_t)W & 3u) == 0 && full == cols) /* every row starts on a word: ldrd */
            grt_q15_rows2_dsp(&d);
        else
#endif
            grt_q15_rows2_dsp_any(&d);
    }
    for (size_t r = first; r < rows; r++)
        y[r] = grt_q15_requant(row_dsp(W + r * cols, xp, x, cols), codes[r], b[r]);
}
#endif

#if GRT_HAVE_ARM_MVE
/* Helium (M-profile Vector Extension, Cortex-M55/M85): eight int8 weights loaded sign-extended into
 * 16-bit lanes (vldrb.s16) meet eight activations (vldrh.s16) in one vmladava, which adds the eight
 * products to a 32-bit scalar sum; the last, partial vector is predicated (vctp16: lanes past the end
 * are neither loaded nor added). Same exact int32 sums as dot_q15 (one block: cols <= 256). */
#define MVE_MAX_COLS GRT_Q15_BLOCK

static void matvec_mve(int32_t *restrict y, const int8_t *restrict W, const uint16_t *restrict codes,
                       const int32_t *restrict b, const int16_t *restrict x, size_t rows, size_t cols)
{
    const size_t full = cols & ~(size_t)7;
    const mve_pred16_t p = vctp16q((uint32_t)(cols - full)); /* the partial vector's lanes */
    size_t r = 0;
    for (; r + ROWS <= rows; r += ROWS) {
        const int8_t *w0 = W + r * cols, *w1 = w0 + cols, *w2 = w1 + cols, *w3 = w2 + cols;
        int32_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        for (size_t k = 0; k < full; k += 8) {
            int16x8_t xv = vldrhq_s16(x + k);
            s0 = vmladavaq_s16(s0, vldrbq_s16(w0 + k), xv);
            s1 = vmladavaq_s16(s1, vldrbq_s16(w1 + k), xv);
            s2 = vmladavaq_s16(s2, vldrbq_s16(w2 + k), xv);
            s3 = vmladavaq_s16(s3, vldrbq_s16(w3 + k), xv);
        }
        if (full < cols) {
            int16x8_t xv = vldrhq_z_s16(x + full, p);
            s0 = vmladavaq_s16(s0, vldrbq_z_s16(w0 + full, p), xv);
            s1 = vmladavaq_s16(s1, vldrbq_z_s16(w1 + full, p), xv);
            s2 = vmladavaq_s16(s2, vldrbq_z_s16(w2 + full, p), xv);
            s3 = vmladavaq_s16(s3, vldrbq_z_s16(w3 + full, p), xv);
        }
        y[r] = grt_q15_requant(s0, codes[r], b[r]);
        y[r + 1] = grt_q15_requant(s1, codes[r + 1], b[r + 1]);
        y[r + 2] = grt_q15_requant(s2, codes[r + 2], b[r + 2]);
        y[r + 3] = grt_q15_requant(s3, codes[r + 3], b[r + 3]);
    }
    for (; r < rows; r++) {
        const int8_t *w = W + r * cols;
        int32_t s = 0;
        for (size_t k = 0; k < full; k += 8)
            s = vmladavaq_s16(s, vldrbq_s16(w + k), vldrhq_s16(x + k));
        if (full < cols)
            s = vmladavaq_s16(s, vldrbq_z_s16(w + full, p), vldrhq_z_s16(x + full, p));
        y[r] = grt_q15_requant(s, codes[r], b[r]);
    }
}
#endif

/* The scalar level (grt_q15_matvec/grt_q15_matmul dispatch to it or to grt_kernels_q15_avx2.c); on a
 * Cortex-M with Helium or the DSP extension it uses them (compile time). */
void grt_q15_matvec_scalar(int32_t *restrict y, const int8_t *restrict W, const uint16_t *restrict codes,
                           const int32_t *restrict b, const int16_t *restrict x, size_t rows, size_t cols)
{
#if GRT_HAVE_ARM_MVE
    if (cols <= MVE_MAX_COLS) {
        matvec_mve(y, W, codes, b, x, rows, cols);
        return;
    }
#elif GRT_HAVE_ARM_DSP
    if (cols <= DSP_MAX_COLS) {
        matvec_dsp(y, W, codes, b, x, rows, cols);
        return;
    }
#endif
    size_t r = 0;
    for (; r + ROWS <= rows; r += ROWS)
        rows4_q15(y + r, W + r * cols, codes + r, b + r, x, cols);
    for (; r < rows; r++)
        y[r] = grt_q15_requant(dot_q15(W + r * cols, x, cols), codes[r], b[r]);
}

/* T matvecs (the weights are read once per step: the level for small cores, where that costs nothing). */
void grt_q15_matmul_scalar(int32_t *restrict Y, size_t ldy, const int8_t *restrict W,
                           const uint16_t *restrict codes, const int32_t *restrict b,
                           const int16_t *restrict X, size_t ldx, size_t rows, size_t cols, size_t T)
{
    for (size_t t = 0; t < T; t++)
        grt_q15_matvec_scalar(Y + t * ldy, W, codes, b, X + t * ldx, rows, cols);
}

/* ---- the element-wise steps of the GRU cell (grt_q15_lanes, grt_q15.h): the scalar level --------- */

/* g[i] = act(sat32(g[i] + a[i])), the activation chosen once for the loop. */
static void add_act_scalar(unsigned act, int32_t *restrict g, const int32_t *restrict a, size_t n)
{
    switch (act) {
    case GRT_ACT_TANH:
        for (size_t i = 0; i < n; i++)
            g[i] = tanh_q15(add_sat32_act(g[i], a[i]));
        break;
    case GRT_ACT_HARD_SIGMOID:
        for (size_t i = 0; i < n; i++)
            g[i] = grt_q15_hard_sigmoid(grt_q15_add_sat32(g[i], a[i]));
        break;
    case GRT_ACT_HARD_SIGMOID_K2:
        for (size_t i = 0; i < n; i++)
            g[i] = grt_q15_hard_sigmoid_k2(grt_q15_add_sat32(g[i], a[i]));
        break;
    default:
        for (size_t i = 0; i < n; i++)
            g[i] = sigmoid_q15(add_sat32_act(g[i], a[i]));
        break;
    }
}

/* |r·gh| < 2^15·2^31: int64; the rounded quotient is within ±(2^31 - 1) (r <= 2^15). */
static void cand_after_scalar(int32_t *restrict n, const int32_t *restrict r, const int32_t *restrict gh,
                              size_t len)
{
    for (size_t i = 0; i < len; i++)
        n[i] = tanh_q15(add_sat32_act(n[i], (int32_t)grt_q15_rshr((int64_t)r[i] * gh[i], 15)));
}

/* |r·h| <= 2^15·2^15 = 2^30: within int32. */
static void reset_scalar(int16_t *restrict rh, const int32_t *restrict r, const int16_t *restrict h, size_t n)
{
    for (size_t i = 0; i < n; i++)
        rh[i] = sat16_32(add_rshr15_32(0, r[i] * h[i]));
}

/* z in [0, 2^15], h - n in [-2^16, 2^16 - 1]: z·(h - n) in [-2^31, 2^31 - 2^15], within int32, and so
 * is n + RSHR(.) (|.| <= 2^17). */
static void update_scalar(int16_t *restrict h, const int32_t *restrict n, const int32_t *restrict z, size_t len)
{
    for (size_t i = 0; i < len; i++)
        h[i] = sat16_32(add_rshr15_32(n[i], z[i] * (h[i] - n[i])));
}

/* gcc's induction-variable pass would give each of the six blocks its own pointer, more than a 32-bit
 * Arm core has registers for (spills in the loop); without it the blocks are offsets of three pointers.
 * In a build for size (-Os) the loop is still compiled at -O2 (except on Armv6-M, whose Thumb-1 code
 * grows by 900 bytes): there gcc would call the sigmoid and tanh and schedule the loop for size, about
 * 27 instructions more per unit (7 % of a 24->24 step on a Cortex-M4), for 270 bytes less there
 * (docs/EMBEDDING.md, "Instruction counts"). */
#if defined(__GNUC__) && !defined(__clang__) && defined(__OPTIMIZE_SIZE__) && !defined(__ARM_ARCH_6M__)
#define GRT_FEW_POINTERS __attribute__((optimize("O2", "no-ivopts")))
#elif defined(__GNUC__) && !defined(__clang__)
#define GRT_FEW_POINTERS __attribute__((optimize("no-ivopts")))
#else
#define GRT_FEW_POINTERS
#endif

/* add_act (sigmoid) of r and z, cand_after and update for one unit at a time: r, z and n stay in registers
 * (they are still stored as the gate values), one loop instead of three. */
GRT_FEW_POINTERS static void gru_after_scalar(int16_t *restrict h, int32_t *restrict g, const int32_t *restrict gh, size_t H)
{
    for (const int16_t *end = h + H; h != end; h++, g++, gh++) { /* the three blocks at offsets H, 2H */
        int32_t r = sigmoid_q15(add_sat32_act(g[0], gh[0]));
        int32_t z = sigmoid_q15(add_sat32_act(g[H], gh[H]));
        int32_t n = tanh_q15(add_sat32_act(g[2 * H], (int32_t)grt_q15_rshr((int64_t)r * gh[2 * H], 15)));
        g[0] = r, g[H] = z, g[2 * H] = n;
        *h = sat16_32(add_rshr15_32(n, z * (*h - n)));
    }
}

const grt_q15_lanes grt_q15_lanes_scalar = {add_act_scalar, cand_after_scalar, reset_scalar, update_scalar,
                                            gru_after_scalar};

#else
typedef int grt_no_q15_kernels; /* ISO C forbids an empty translation unit */
#endif
