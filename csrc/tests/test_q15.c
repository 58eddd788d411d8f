/* q15 primitives (docs/QUANTIZATION.md): RSHR and the saturations, multiplier decoding, the tables,
 * the interpolated activations at hand-computed points, saturation at ±(2^31 - 1), symmetry and
 * monotonicity over a sweep, the hard sigmoids, the Dense outputs and softmax, and the matrix product
 * (exact, blocked) against a plain int64 reference at extreme values. */
#include <stdlib.h>
#include <string.h>

#include "grt_q15.h"
#include "test_util.h"

#if GRT_HAS_Q15 /* the whole file (GRT_NO_Q15: skipped) */

#define MAX32 2147483647
#define MIN32 (-2147483647 - 1)

static void test_rshr(void)
{
    CHECK(grt_q15_rshr(5, 0) == 5 && grt_q15_rshr(-5, 0) == -5);
    /* ties go up: 1.5 -> 2, -1.5 -> -1, 0.5 -> 1, -0.5 -> 0 */
    CHECK(grt_q15_rshr(6, 2) == 2 && grt_q15_rshr(-6, 2) == -1);
    CHECK(grt_q15_rshr(1, 1) == 1 && grt_q15_rshr(-1, 1) == 0);
    CHECK(grt_q15_rshr(5, 2) == 1 && grt_q15_rshr(-5, 2) == -1 && grt_q15_rshr(7, 2) == 2);
    CHECK(grt_q15_rshr(-7, 2) == -2 && grt_q15_rshr(-2, 2) == 0 && grt_q15_rshr(-3, 2) == -1);
    CHECK(grt_q15_rshr(-32768, 15) == -1 && grt_q15_rshr(-16384, 15) == 0 && grt_q15_rshr(16384, 15) == 1);
    /* large magnitudes and shifts (|v| < 2^62, s <= 62) */
    int64_t big = (int64_t)1 << 61;
    CHECK(grt_q15_rshr(big, 62) == 1 && grt_q15_rshr(-big, 62) == 0 && grt_q15_rshr(-big - 1, 62) == -1);
    CHECK(grt_q15_rshr(((int64_t)1 << 44) - 1, 1) == (int64_t)1 << 43);
    CHECK(grt_q15_rshr(-((int64_t)1 << 44), 44) == -1 && grt_q15_rshr(((int64_t)1 << 44), 62) == 0);
    /* against floor((v + 2^(s-1)) / 2^s) written with division, over a sweep */
    int ok = 1;
    rng r = {77};
    for (int i = 0; i < 20000; i++) {
        int64_t v = (int64_t)(int32_t)rng_u32(&r) * (int64_t)(rng_u32(&r) % 4096);
        unsigned s = 1 + rng_u32(&r) % 40;
        int64_t t = v + ((int64_t)1 << (s - 1)), d = (int64_t)1 << s;
        int64_t want = t >= 0 ? t / d : -((-t + d - 1) / d);
        ok &= grt_q15_rshr(v, s) == want;
    }
    CHECK(ok);
}

static void test_saturation_and_decode(void)
{
    CHECK(grt_q15_sat32((int64_t)1 << 40) == MAX32 && grt_q15_sat32(-((int64_t)1 << 40)) == -MAX32);
    CHECK(grt_q15_sat32(MIN32) == -MAX32 && grt_q15_sat32(MAX32) == MAX32 && grt_q15_sat32(-5) == -5);
    CHECK(grt_q15_add_sat32(MAX32, 1) == MAX32 && grt_q15_add_sat32(MIN32, 0) == -MAX32);
    CHECK(grt_q15_add_sat32(MIN32, -1) == -MAX32 && grt_q15_add_sat32(-MAX32, -1) == -MAX32);
    CHECK(grt_q15_add_sat32(MIN32, MAX32) == -1 && grt_q15_add_sat32(5, -7) == -2);
    CHECK(grt_q15_add_sat32(1 << 30, 1 << 30) == MAX32 && grt_q15_add_sat32(-(1 << 30), -(1 << 30)) == -MAX32);
    CHECK(grt_q15_sat16(40000) == 32767 && grt_q15_sat16(-40000) == -32768 && grt_q15_sat16(-32768) == -32768);
    grt_q15_mult m = grt_q15_decode(0);
    CHECK(m.M == 0 && m.sh == 0);
    m = grt_q15_decode(0x437F); /* e = 134, mantissa 127: M = 255, sh = 0 */
    CHECK(m.M == 255 && m.sh == 0);
    m = grt_q15_decode(0x2400); /* e = 72: M = 128, sh = 62 */
    CHECK(m.M == 128 && m.sh == 62);
    m = grt_q15_decode(0x3F80); /* 1.0 = 128 · 2^-7 */
    CHECK(m.M == 128 && m.sh == 7);
    m = grt_q15_decode(0x3FC0); /* 1.5 = 192 · 2^-7 */
    CHECK(m.M == 192 && m.sh == 7);
}

/* grt_q15_requant (its 32-bit path for acc within int32 and 9 <= sh <= 32, the 64-bit one otherwise)
 * against sat32(floor((acc·M + 2^(sh-1)) / 2^sh) + b) written with division, over every exponent and
 * accumulators at the int32 limits and beyond. */
static void test_requant(void)
{
    static const int64_t edges[] = {0, 1, -1, MAX32, MIN32, (int64_t)MAX32 + 1, (int64_t)MIN32 - 1,
                                    (int64_t)1 << 36, -((int64_t)1 << 36)};
    rng r = {91};
    int ok = 1;
    for (int i = 0; i < 40000; i++) {
        unsigned e = 72 + rng_u32(&r) % 63;
        uint16_t code = (uint16_t)((e << 7) | (rng_u32(&r) & 127u));
        int64_t acc = i % 4 == 0 ? edges[rng_u32(&r) % 9] : (int64_t)(int32_t)rng_u32(&r) / ((int64_t)1 << (rng_u32(&r) % 31));
        int32_t b = i % 8 == 1 ? (rng_u32(&r) % 2 ? MAX32 : MIN32) : (int32_t)rng_u32(&r);
        grt_q15_mult m = grt_q15_decode(code);
        int64_t v = acc * m.M;
        if (m.sh) {
            int64_t t = v + ((int64_t)1 << (m.sh - 1)), d = (int64_t)1 << m.sh;
            v = t >= 0 ? t / d : -((-t + d - 1) / d);
        }
        v += b;
        v = v > MAX32 ? MAX32 : v < -MAX32 ? -MAX32 : v;
        ok &= grt_q15_requant(acc, code, b) == (int32_t)v;
    }
    CHECK(ok);
}

static void test_tables(void)
{
    /* Each table ends at the first entry of its final run (the one before differs). */
    CHECK(GRT_Q15_SIGMOID[0] == 16384 && GRT_Q15_SIGMOID[GRT_Q15_SIGMOID_LAST] == 32768 &&
          GRT_Q15_SIGMOID[GRT_Q15_SIGMOID_LAST - 1] == 32767);
    CHECK(GRT_Q15_TANH[0] == 0 && GRT_Q15_TANH[GRT_Q15_TANH_LAST] == 32768 &&
          GRT_Q15_TANH[GRT_Q15_TANH_LAST - 1] == 32767);
    CHECK(GRT_Q15_EXP[0] == 32768 && GRT_Q15_EXP[GRT_Q15_EXP_LAST] == 0 && GRT_Q15_EXP[GRT_Q15_EXP_LAST - 1] == 1);
    int mono = 1;
    for (int i = 0; i < GRT_Q15_SIGMOID_LAST; i++)
        mono &= GRT_Q15_SIGMOID[i] <= GRT_Q15_SIGMOID[i + 1];
    for (int i = 0; i < GRT_Q15_TANH_LAST; i++)
        mono &= GRT_Q15_TANH[i] <= GRT_Q15_TANH[i + 1];
    for (int i = 0; i < GRT_Q15_EXP_LAST; i++)
        mono &= GRT_Q15_EXP[i] >= GRT_Q15_EXP[i + 1];
    CHECK(mono); /* the interpolation relies on it: all its terms are non-negative */
}

/* ---- the trimmed tables against the full ones, over every input the lookups see ------------------
 * A table over the whole domain (sigmoid and tanh 513 entries, exp 1,025: FULL + 1) is the trimmed one
 * with its last entry repeated; interp_full is the lookup over it as it was before the trim (past FULL:
 * one, or zero for exp). The inputs a = |v| (or exp's argument) of an activation are visited as: every a
 * whose index a >> bits is at most FULL (every table entry and every fraction), then for every larger
 * index up to the largest input, its smallest and its largest a (there the result cannot depend on the
 * fraction: both lookups return a constant). Over that set the library's lookups must equal interp_full,
 * and the CRC-32 of the results (int32 little-endian, in that order; sigmoid and tanh as f(a), f(-a)
 * pairs, a <= 2^31 - 1) must equal the golden model's over the same set (tests/test_golden.py,
 * test_trimmed_tables_exhaustive, holds the same three values). */
#define Q15_FULL_SIGMOID 512u
#define Q15_FULL_TANH 512u
#define Q15_FULL_EXP 1024u
#define Q15_CRC_SIGMOID 0x00ee1555u
#define Q15_CRC_TANH 0x1fc0015fu
#define Q15_CRC_EXP 0x6f079be9u

static uint32_t interp_full(const uint16_t *T, uint32_t last, uint32_t full, uint32_t a, unsigned bits)
{
    uint32_t i = a >> bits, f = a & ((1u << bits) - 1u), half = 1u << (bits - 1);
    if (i >= full)
        return T[last];
    uint32_t lo = T[i < last ? i : last], hi = T[i + 1 < last ? i + 1 : last];
    return hi >= lo ? lo + (((hi - lo) * f + half) >> bits) : lo - (((lo - hi) * f + half) >> bits);
}

static uint32_t crc_i32(uint32_t crc, int32_t v)
{
    uint8_t b[4] = {(uint8_t)v, (uint8_t)((uint32_t)v >> 8), (uint8_t)((uint32_t)v >> 16), (uint8_t)((uint32_t)v >> 24)};
    return grt_crc32(crc, b, sizeof b);
}

/* The visiting order above: the dense range, then each larger index's smallest a, then its largest. */
typedef struct visit {
    uint32_t full, bits;
    uint64_t amax, a;
    int phase;
} visit;

static int visit_next(visit *it, uint32_t *a)
{
    const uint64_t mask = ((uint64_t)1 << it->bits) - 1u, dense = (uint64_t)(it->full + 1u) << it->bits;
    if (it->phase == 0 && it->a >= dense)
        it->phase = 1, it->a = dense;
    if (it->phase == 1 && it->a > it->amax)
        it->phase = 2, it->a = dense + mask;
    if (it->phase == 2 && it->a > it->amax)
        return 0;
    *a = (uint32_t)it->a;
    it->a += it->phase == 0 ? 1u : mask + 1u;
    return 1;
}

static void test_tables_trimmed(void)
{
    uint32_t a, crc_s = 0, crc_t = 0, crc_e = 0;
    int ok = 1;
    visit s = {Q15_FULL_SIGMOID, 11, MAX32, 0, 0};
    while (visit_next(&s, &a)) {
        int32_t y = (int32_t)interp_full(GRT_Q15_SIGMOID, GRT_Q15_SIGMOID_LAST, Q15_FULL_SIGMOID, a, 11);
        int32_t p = grt_q15_sigmoid((int32_t)a), n = grt_q15_sigmoid(-(int32_t)a);
        ok &= p == y && n == 32768 - y;
        crc_s = crc_i32(crc_i32(crc_s, p), n);
    }
    visit t = {Q15_FULL_TANH, 10, MAX32, 0, 0};
    while (visit_next(&t, &a)) {
        int32_t y = (int32_t)interp_full(GRT_Q15_TANH, GRT_Q15_TANH_LAST, Q15_FULL_TANH, a, 10);
        int32_t p = grt_q15_tanh((int32_t)a), n = grt_q15_tanh(-(int32_t)a);
        ok &= p == y && n == -y;
        crc_t = crc_i32(crc_i32(crc_t, p), n);
    }
    visit e = {Q15_FULL_EXP, 10, 0xFFFFFFFFu, 0, 0};
    while (visit_next(&e, &a)) {
        int32_t y = grt_q15_exp_neg(a);
        ok &= y == (int32_t)interp_full(GRT_Q15_EXP, GRT_Q15_EXP_LAST, Q15_FULL_EXP, a, 10);
        crc_e = crc_i32(crc_e, y);
    }
    /* INT32_MIN (|v| = 2^31, outside the visits): the saturated ends. */
    ok &= grt_q15_sigmoid(MIN32) == 0 && grt_q15_tanh(MIN32) == -32768;
    CHECK(ok);
    printf("  q15 tables, trimmed lookups over every input: crc32 sigmoid %08lx tanh %08lx exp %08lx\n",
           (unsigned long)crc_s, (unsigned long)crc_t, (unsigned long)crc_e);
    CHECK_EQ_U(crc_s, Q15_CRC_SIGMOID);
    CHECK_EQ_U(crc_t, Q15_CRC_TANH);
    CHECK_EQ_U(crc_e, Q15_CRC_EXP);
}

static void test_activations(void)
{
    /* Hand-computed from the contract and the table entries SIGMOID[0..2] = 16384, 16640, 16896,
     * TANH[0..2] = 0, 512, 1024, EXP[0..2] = 32768, 32260, 31760. */
    CHECK_EQ_U(grt_q15_sigmoid(0), 16384);
    CHECK_EQ_U(grt_q15_sigmoid(2048), 16640);                   /* i = 1, f = 0 */
    CHECK_EQ_U(grt_q15_sigmoid(1024), 16512);                   /* 16384 + (256·1024 + 1024) >> 11 */
    CHECK_EQ_U(grt_q15_sigmoid(-1024), 32768 - 16512);
    CHECK_EQ_U(grt_q15_sigmoid(3048), 16765);                   /* 16640 + (256·1000 + 1024) >> 11 */
    CHECK_EQ_U(grt_q15_tanh(512), 256);                         /* (512·512 + 512) >> 10 = 256 */
    CHECK(grt_q15_tanh(-512) == -256);
    CHECK_EQ_U(grt_q15_tanh(1801), 901);                        /* 512 + (512·777 + 512) >> 10 */
    CHECK(grt_q15_tanh(-1801) == -901);
    CHECK_EQ_U(grt_q15_exp_neg(0), 32768);
    CHECK_EQ_U(grt_q15_exp_neg(512), 32514);                    /* 32768 - (508·512 + 512) >> 10 */
    CHECK_EQ_U(grt_q15_exp_neg(1324), 32114);                   /* 32260 - (500·300 + 512) >> 10 */
    CHECK_EQ_U(grt_q15_exp_neg(1024), 32260);

    /* Saturation: the domain's ends (i >= 512 / 1024), the trimmed tables' ends and the int32 extremes. */
    CHECK_EQ_U(grt_q15_sigmoid(GRT_Q15_SIGMOID_LAST << 11), 32768);
    CHECK_EQ_U(grt_q15_sigmoid((GRT_Q15_SIGMOID_LAST << 11) - 1), 32768); /* rounds up to the last entry */
    CHECK_EQ_U(grt_q15_tanh((GRT_Q15_TANH_LAST - 1) << 10), 32767);
    CHECK_EQ_U(grt_q15_sigmoid(512 << 11), 32768);
    CHECK_EQ_U(grt_q15_sigmoid(MAX32), 32768);
    CHECK_EQ_U(grt_q15_sigmoid(-MAX32), 0);
    CHECK_EQ_U(grt_q15_sigmoid(MIN32), 0);
    CHECK_EQ_U(grt_q15_tanh(MAX32), 32768);
    CHECK(grt_q15_tanh(-MAX32) == -32768 && grt_q15_tanh(MIN32) == -32768);
    CHECK_EQ_U(grt_q15_tanh(512 << 10), 32768);
    CHECK_EQ_U(grt_q15_exp_neg(1024u << 10), 0);
    CHECK_EQ_U(grt_q15_exp_neg(0xFFFFFFFFu), 0);
    CHECK_EQ_U(grt_q15_exp_neg((1024u << 10) - 1), 0);
    CHECK_EQ_U(grt_q15_exp_neg((GRT_Q15_EXP_LAST - 1u) << 10), 1); /* EXP[LAST - 1] */

    /* Hard sigmoids: x/6 + 1/2 and 0.2x + 1/2 in Q16 -> Q15. */
    CHECK_EQ_U(grt_q15_hard_sigmoid(0), 16384);
    CHECK_EQ_U(grt_q15_hard_sigmoid(65536), 16384 + 5461);     /* 1.0 -> 0.6667 */
    CHECK_EQ_U(grt_q15_hard_sigmoid(3 * 65536), 32767);        /* RSHR(3·5461·65536, 16) = 16383 */
    CHECK_EQ_U(grt_q15_hard_sigmoid(-3 * 65536), 1);
    CHECK_EQ_U(grt_q15_hard_sigmoid(4 * 65536), 32768);
    CHECK_EQ_U(grt_q15_hard_sigmoid(MAX32), 32768);
    CHECK_EQ_U(grt_q15_hard_sigmoid(MIN32), 0);
    CHECK_EQ_U(grt_q15_hard_sigmoid(-6), 16384);               /* RSHR(-32766, 16) = 0 */
    CHECK_EQ_U(grt_q15_hard_sigmoid_k2(65536), 16384 + 6554);
    CHECK_EQ_U(grt_q15_hard_sigmoid_k2(-65536), 16384 - 6554);
    CHECK_EQ_U(grt_q15_hard_sigmoid_k2(MAX32), 32768);
    CHECK_EQ_U(grt_q15_hard_sigmoid_k2(-MAX32), 0);
    CHECK_EQ_U(grt_q15_gate(GRT_ACT_SIGMOID, 1024), 16512);
    CHECK_EQ_U(grt_q15_gate(GRT_ACT_HARD_SIGMOID, 65536), 21845);
    CHECK_EQ_U(grt_q15_gate(GRT_ACT_HARD_SIGMOID_K2, 65536), 22938);

    /* Symmetry and monotonicity over a sweep of Q16 inputs (every 37th in [-2^21, 2^21] plus random). */
    int sym = 1, mono = 1, range = 1;
    int32_t prev_s = -1, prev_t = -32769, prev_e = 32769;
    for (int32_t v = -(1 << 21); v <= (1 << 21); v += 37) {
        int32_t s = grt_q15_sigmoid(v), t = grt_q15_tanh(v);
        sym &= grt_q15_sigmoid(-v) == 32768 - s && grt_q15_tanh(-v) == -t;
        mono &= s >= prev_s && t >= prev_t;
        range &= s >= 0 && s <= 32768 && t >= -32768 && t <= 32768;
        prev_s = s, prev_t = t;
    }
    for (uint32_t a = 0; a <= (1u << 21); a += 29) {
        int32_t e = grt_q15_exp_neg(a);
        mono &= e <= prev_e;
        range &= e >= 0 && e <= 32768;
        prev_e = e;
    }
    rng r = {5};
    for (int i = 0; i < 10000; i++) {
        int32_t v = (int32_t)(rng_u32(&r) & 0x7FFFFFFFu);
        sym &= grt_q15_sigmoid(-v) == 32768 - grt_q15_sigmoid(v) && grt_q15_tanh(-v) == -grt_q15_tanh(v);
    }
    CHECK(sym);
    CHECK(mono);
    CHECK(range);
}

static void test_dense_out(void)
{
    int16_t y[4];
    int32_t g[4] = {40000, -40000, 123, -123};
    grt_q15_dense_out(GRT_ACT_LINEAR, g, y, 4);
    CHECK(y[0] == 32767 && y[1] == -32768 && y[2] == 123 && y[3] == -123);
    grt_q15_dense_out(GRT_ACT_RELU, g, y, 4);
    CHECK(y[0] == 32767 && y[1] == 0 && y[2] == 123 && y[3] == 0);
    int32_t big[2] = {MAX32, -MAX32};
    grt_q15_dense_out(GRT_ACT_SIGMOID, big, y, 2);
    CHECK(y[0] == 32767 && y[1] == 0); /* 32768 is capped */
    grt_q15_dense_out(GRT_ACT_TANH, big, y, 2);
    CHECK(y[0] == 32767 && y[1] == -32768);
    grt_q15_dense_out(GRT_ACT_HARD_SIGMOID, big, y, 2);
    CHECK(y[0] == 32767 && y[1] == 0);
    /* softmax: equal inputs; one output; extremes; a hand-computed pair. */
    int32_t eq[4] = {7, 7, 7, 7};
    grt_q15_dense_out(GRT_ACT_SOFTMAX, eq, y, 4); /* (32768·32768 + 65536) / 131072 = 8192 */
    CHECK(y[0] == 8192 && y[1] == 8192 && y[2] == 8192 && y[3] == 8192);
    grt_q15_dense_out(GRT_ACT_SOFTMAX, eq, y, 1);
    CHECK(y[0] == 32767);
    grt_q15_dense_out(GRT_ACT_SOFTMAX, big, y, 2); /* difference 2^32 - 2 -> capped at 2^31 - 1 -> e = 0 */
    CHECK(y[0] == 32767 && y[1] == 0);
    int32_t pair[2] = {512, 0}; /* e = 32768 and exp(-512) = 32514; S = 65282 */
    grt_q15_dense_out(GRT_ACT_SOFTMAX, pair, y, 2);
    CHECK(y[0] == (int16_t)((32768ull * 32768 + 32641) / 65282) && y[1] == (int16_t)((32514ull * 32768 + 32641) / 65282));
    int32_t mins[3] = {MIN32, MIN32, MIN32};
    grt_q15_dense_out(GRT_ACT_SOFTMAX, mins, y, 3); /* 32768·32768 + 49152 over 98304: 10923 */
    CHECK(y[0] == 10923 && y[1] == 10923 && y[2] == 10923);
}

/* The product against a plain int64 reference, at sizes around the block length and with extreme
 * values (weights -128/127, inputs -32768/32767, biases INT32_MIN/MAX, every kind of multiplier). The
 * small sizes cover the Cortex-M DSP loops' cases (every number of 8-column blocks modulo 4 in the fused
 * pass, a 4-column group, a tail of 1-3 columns); W starts one byte past an aligned address for every
 * odd index c, so that rows whose length is a multiple of 4 come both word-aligned and not. */
static void test_matvec(void)
{
    /* Odd entries offset W by a byte (rows not word-aligned); the last seven add the last 1-7 columns
     * after whole 8-column blocks with both offsets (the Cortex-M DSP passes handle them in assembly). */
    static const size_t colss[] = {1,   7,   8,   8,   16,  16,  24,   24, 32, 12, 48, 33, 64, 64, 168,
                                   255, 256, 257, 511, 512, 513, 1100, 12, 9,  20, 41, 44, 15, 255};
    static const uint16_t codes_pool[] = {0, 0x437F, 0x4300, 0x2400, 0x247F, 0x3F80, 0x3B21};
    rng r = {31};
    int ok = 1, matmul_ok = 1;
    for (size_t c = 0; c < sizeof colss / sizeof colss[0]; c++) {
        size_t cols = colss[c], rows = 9, T = 3;
        int8_t *Wmem = malloc(rows * cols + 1), *W = Wmem + (c & 1);
        int16_t *X = malloc(T * cols * sizeof(int16_t));
        int32_t b[9], y[9], Y[3 * 9];
        uint16_t codes[9];
        for (int mode = 0; mode < 3; mode++) {
            for (size_t i = 0; i < rows * cols; i++)
                W[i] = mode == 0 ? (int8_t)(rng_u32(&r) % 255 - 127) : mode == 1 ? -128 : 127;
            for (size_t i = 0; i < T * cols; i++)
                X[i] = mode == 0 ? (int16_t)(int32_t)(rng_u32(&r) & 0xFFFF) : mode == 1 ? -32768 : 32767;
            for (size_t j = 0; j < rows; j++) {
                codes[j] = codes_pool[(j + (size_t)mode) % 7];
                b[j] = mode == 0 ? (int32_t)rng_u32(&r) : j % 2 ? MAX32 : MIN32;
            }
            grt_q15_matmul(Y, rows, W, codes, b, X, cols, rows, cols, T);
            for (size_t t = 0; t < T; t++) {
                grt_q15_matvec(y, W, codes, b, X + t * cols, rows, cols);
                matmul_ok &= memcmp(y, Y + t * rows, sizeof y) == 0;
                for (size_t j = 0; j < rows; j++) {
                    int64_t acc = 0;
                    for (size_t k = 0; k < cols; k++)
                        acc += (int64_t)W[j * cols + k] * X[t * cols + k];
                    grt_q15_mult m = grt_q15_decode(codes[j]);
                    int64_t v = acc * m.M;
                    if (m.sh) {
                        int64_t t2 = v + ((int64_t)1 << (m.sh - 1)), d = (int64_t)1 << m.sh;
                        v = t2 >= 0 ? t2 / d : -((-t2 + d - 1) / d);
                    }
                    v += b[j];
                    v = v > MAX32 ? MAX32 : v < -MAX32 ? -MAX32 : v;
                    ok &= y[j] == (int32_t)v;
                }
            }
        }
        free(Wmem), free(X);
    }
    CHECK(ok);
    CHECK(matmul_ok);
}

void test_q15(void)
{
    test_rshr();
    test_saturation_and_decode();
    test_requant();
    test_tables();
    test_tables_trimmed();
    test_activations();
    test_dense_out();
    test_matvec();
}

#else
void test_q15(void)
{
    SKIPPED("q15 primitives (GRT_NO_Q15)");
}
#endif
