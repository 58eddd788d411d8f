/* The input mask's integer quantization (grt_mask.c): grt_q15_quantize_bits equals the float boundary's
 * formula (round_away(clamp(x / s, ±32767)), float32 division, NaN -> 0), written here again in float,
 * for random values and scales, ties, signed zeros, subnormals, infinities and NaNs. */
#include <stdlib.h>
#include <string.h>

#include "grt_q15.h"
#include "test_util.h"
#include "test_writer.h"

#if GRT_HAS_Q15 && GRT_HAS_MASK

static float from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static uint32_t to_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

/* The boundary's formula (docs/QUANTIZATION.md, "Boundary"), independently in float. */
static int16_t float_quantize(float x, float s)
{
    volatile float v = x / s; /* volatile: one float32 rounding, as the boundary's division */
    float c = v > 32767.0f ? 32767.0f : v < -32767.0f ? -32767.0f : v;
    if (c != c)
        return 0;
    int32_t t = (int32_t)c;
    float d = c - (float)t;
    return (int16_t)(t + (d >= 0.5f) - (d <= -0.5f));
}

static long g_mismatches;

static void same(uint32_t x, uint32_t s)
{
    int16_t want = float_quantize(from_bits(x), from_bits(s)), got = grt_q15_quantize_bits(x, s);
    if (want != got && g_mismatches++ < 5)
        fprintf(stderr, "    quantize_bits(0x%08x, 0x%08x) = %d, float division gives %d\n", (unsigned)x,
                (unsigned)s, got, want);
}

static uint32_t random_scale(rng *r)
{
    uint32_t e = 1 + rng_u32(r) % 254; /* any positive normal */
    return e << 23 | (rng_u32(r) & 0x7fffffu);
}

static void test_quantize_bits(void)
{
    rng r = {0x5eed1234u};
    g_mismatches = 0;
    for (int i = 0; i < 400000; i++) {
        uint32_t s = random_scale(&r), x = rng_u32(&r);
        same(x, s);
        /* values near the scale's range: x = s·k for k up to ±40000, and the ties (k + 1/2)·s */
        float k = (float)((int32_t)(rng_u32(&r) % 80001u) - 40000);
        same(to_bits(k * from_bits(s)), s);
        same(to_bits((k + 0.5f) * from_bits(s)), s);
        same(to_bits((k + 0.5f) * from_bits(s)) + 1, s);
        same(to_bits((k + 0.5f) * from_bits(s)) - 1, s);
        /* typical calibrated scales (range / 32767) and inputs of a few units */
        uint32_t s2 = (uint32_t)(100 + rng_u32(&r) % 20) << 23 | (rng_u32(&r) & 0x7fffffu);
        same(to_bits(rng_uniform(&r, -8.0f, 8.0f)), s2);
    }
    const uint32_t specials[] = {0, 0x80000000u, 1, 0x80000001u, 0x007fffffu, 0x7f800000u, 0xff800000u,
                                 0x7fc00000u, 0xffc00000u, 0x7f7fffffu, 0x3f000000u, 0xbf000000u};
    for (size_t i = 0; i < sizeof specials / sizeof specials[0]; i++)
        for (uint32_t e = 1; e < 255; e += 7)
            same(specials[i], e << 23 | 0x12345u);
    CHECK(g_mismatches == 0);
    CHECK(grt_q15_quantize_bits(0x3f800000u, 0x38000000u) == 32767); /* 1.0 / 2^-15 clamps */
    CHECK(grt_q15_quantize_bits(0xbf000000u, 0x3f800000u) == -1);    /* -0.5 -> -1 (away from zero) */
    CHECK(grt_q15_quantize_bits(0x80000000u, 0x3f800000u) == 0);
}

#endif

#if GRT_HAS_F32 && GRT_HAS_MASK && GRT_HAS_LSTM
/* A masked step through the C API on an LSTM → GRU → Dense f32 model (mask value 0): the state (the
 * LSTM's h and c, the GRU's h) is unchanged and the output repeats; a step one feature off is real. */
static void test_masked_step_keeps_state(void)
{
    static const tw_layer L[] = {{GRT_LAYER_LSTM, GRT_ACT_TANH, GRT_ACT_SIGMOID, 0, 3, 5, GRT_PREC_F32},
                                 {GRT_LAYER_GRU, GRT_ACT_TANH, GRT_ACT_SIGMOID, 1, 5, 4, GRT_PREC_F32},
                                 {GRT_LAYER_DENSE, GRT_ACT_LINEAR, 0, 0, 4, 2, GRT_PREC_F32}};
    uint8_t *blob, *mem;
    void *blob_base = alloc_shifted(16384, 0, &blob), *mem_base = alloc_shifted(16384, 0, &mem);
    size_t n = tw_build(blob, 16384, L, 3, NULL, 0, NULL, 21, 0.7f);
    tw_put_u32(blob, 24, GRT_FILE_INPUT_MASK);
    tw_fix_crc(blob, n);
    grt_model m;
    grt_stream s;
    CHECK(grt_model_load(&m, blob, n, 0, NULL) == GRT_OK && m.has_mask == 1);
    CHECK(grt_stream_init(&s, &m, mem, 16384) == GRT_OK);
    float x[3] = {0.5f, -1.0f, 0.25f}, zero[3] = {0, 0, 0}, y[2], y2[2], state[14];
    grt_stream_step(&s, x, y);
    memcpy(state, s.state, sizeof state);
    grt_stream_step(&s, zero, y2);
    CHECK(memcmp(state, s.state, sizeof state) == 0 && memcmp(y, y2, sizeof y) == 0);
    zero[2] = 1e-3f;
    grt_stream_step(&s, zero, y2);
    CHECK(memcmp(state, s.state, sizeof state) != 0);
    free(blob_base);
    free(mem_base);
}
#endif

void test_mask(void)
{
#if GRT_HAS_Q15 && GRT_HAS_MASK
    test_quantize_bits();
#else
    SKIPPED("input mask quantization (q15)");
#endif
#if GRT_HAS_F32 && GRT_HAS_MASK && GRT_HAS_LSTM
    test_masked_step_keeps_state();
#endif
}
