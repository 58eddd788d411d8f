/* grt_math.h — float32 activations without libm. Every function keeps |error| <= 1e-6 against the
 * exact value for every float input (see tests/test_math.c); NaN in gives NaN out. */
#ifndef GRT_MATH_H
#define GRT_MATH_H

#include <stddef.h>
#include <stdint.h>

#include "grt_internal.h"

/* The bits of a float and back, without breaking aliasing rules (float code only: the q15 integer
 * units never include this header). */
static inline uint32_t grt_float_bits(float f)
{
    uint32_t u;
    grt_memcpy(&u, &f, sizeof u);
    return u;
}

static inline float grt_bits_float(uint32_t u)
{
    float f;
    grt_memcpy(&f, &u, sizeof f);
    return f;
}

float grt_expf(float x);     /* e^x, input clamped to [-87.33, 88.37]: never inf, never denormal */
float grt_sigmoidf(float x); /* 1 / (1 + e^-x) */
float grt_tanhf(float x);

/* v[i] = act(v[i]) in place for one activation code (grt_activation). Softmax acts on the whole
 * vector. An unknown code leaves v unchanged (the loader never lets one through). */
void grt_act_apply(unsigned act, float *v, size_t n);

#endif /* GRT_MATH_H */
