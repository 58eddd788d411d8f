/* grt_mask.c — the input mask (gru_rt.h, "Input mask"; docs/FORMAT.md 1.4): the one place that decides
 * which steps are masked. grt_stream.c's layer loop marks each chunk's rows with grt_mask_rows, then
 * every layer with state keeps it on the marked rows.
 *
 * q15 models compare int16 inputs with the mask value quantized as the float boundary quantizes an
 * input (grt_q15_boundary.c), computed here in integers so that the q15 path stays free of floating
 * point: grt_q15_quantize_bits equals the boundary's quantize_one bit for bit (csrc/tests/test_mask.c
 * compares them). */
#include "grt_internal.h"
#include "grt_q15.h"

#define FLOAT_ACT (GRT_HAS_F32 || GRT_HAS_Q8)

#if GRT_HAS_MASK /* the whole file (GRT_NO_MASK: empty) */

#if GRT_HAS_Q15
/* round_away(clamp(x / s, ±32767)) for the float32 bits of x (NaN gives 0, as at the boundary) and of a
 * positive normal s: the quotient rounded to float32 (nearest, ties to even: what the float division
 * gives), then to an integer, ties away from zero. */
int16_t grt_q15_quantize_bits(uint32_t x, uint32_t s)
{
    uint32_t ex = (x >> 23) & 255, mx = x & 0x7fffffu, ms = (s & 0x7fffffu) | 0x800000u;
    int32_t e = ex == 0 ? 1 : (int32_t)ex, es = (int32_t)((s >> 23) & 255);
    uint32_t mag;
    if (ex == 255) {
        mag = mx != 0 ? 0 : 32767; /* NaN, ±inf */
    } else if (ex == 0 && mx == 0) {
        mag = 0;
    } else {
        mx = ex == 0 ? mx : mx | 0x800000u;
        while (mx < 0x800000u) { /* a subnormal x: normalized, so that mx / ms is in (1/2, 2) */
            mx <<= 1;
            e--;
        }
        /* q = floor(mx·2^25 / ms), 2^24 <= q < 2^26, by restoring division (no 64-bit divide on small
         * targets); r the remainder. x / s = (mx / ms)·2^(e - es). */
        uint32_t q = mx >= ms, r = mx - (mx >= ms ? ms : 0);
        for (int i = 0; i < 25; i++) {
            r <<= 1;
            q = q << 1 | (r >= ms);
            r -= r >= ms ? ms : 0;
        }
        unsigned drop = q >= (1u << 25) ? 2 : 1; /* bits below the 24 of a float32 significand */
        uint32_t m = q >> drop, guard = (q >> (drop - 1)) & 1;
        int sticky = (q & ((1u << (drop - 1)) - 1)) != 0 || r != 0;
        m += guard && (sticky || (m & 1)); /* float32 rounding: fl(x / s) = m·2^p */
        int32_t p = e - es + (int32_t)drop - 25;
        if (m == 1u << 24) { /* rounded up to the next power of two: keep m below 2^24 */
            m >>= 1;
            p++;
        }
        if (p >= 0) {
            mag = 32767; /* m >= 2^23: beyond the clamp */
        } else if (p < -24) {
            mag = 0; /* m·2^p < 2^24·2^-25 = 1/2 */
        } else {
            mag = (m >> -p) + ((m >> (-p - 1)) & 1); /* ties away from zero */
            mag = mag > 32767 ? 32767 : mag;
        }
    }
    return (int16_t)(x >> 31 ? -(int32_t)mag : (int32_t)mag);
}

/* Does the int16 row x equal the quantized mask value in every feature? */
static int q15_row_masked(const grt_model *m, const int16_t *x)
{
    const uint8_t *scale = (const uint8_t *)m->layers[0].tensor[GRT_ROLE_IN_SCALE];
    for (size_t k = 0; k < m->input_size; k++)
        if (x[k] != grt_q15_quantize_bits(m->mask_bits, grt_rd_u32(scale + 4 * k)))
            return 0;
    return 1;
}
#endif

#if FLOAT_ACT
static int float_row_masked(const grt_model *m, const float *x)
{
    float v;
    grt_memcpy(&v, &m->mask_bits, sizeof v);
    for (size_t k = 0; k < m->input_size; k++)
        if (!(x[k] == v))
            return 0;
    return 1;
}
#endif

void grt_mask_rows(const grt_model *m, const void *rows, size_t n, uint8_t *masked)
{
    size_t I = m->input_size;
    for (size_t r = 0; r < n; r++) {
#if GRT_HAS_Q15
        if (m->q15) {
            masked[r] = (uint8_t)q15_row_masked(m, (const int16_t *)rows + r * I);
            continue;
        }
#endif
#if FLOAT_ACT
        masked[r] = (uint8_t)float_row_masked(m, (const float *)rows + r * I);
#else
        masked[r] = 0; /* not reached: this build loads no float model */
#endif
    }
}
#else
typedef int grt_no_mask; /* ISO C forbids an empty translation unit */
#endif
