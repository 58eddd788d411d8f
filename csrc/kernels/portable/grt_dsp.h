/* grt_dsp.h — the Cortex-M DSP extension's pieces that the q15 and the q8 products share (compile time:
 * GRT_HAVE_ARM_DSP, grt_isa.h). sxtb16 sign-extends bytes 0 and 2 of a word into two 16-bit halves, and
 * bytes 1 and 3 after a rotation by 8; smlad adds the two 16x16-bit products of two such words to a
 * 32-bit sum. */
#ifndef GRT_DSP_H
#define GRT_DSP_H

#include "../../grt_internal.h"
#include "../../grt_isa.h"

#if GRT_HAVE_ARM_DSP
/* A word at any address (an unaligned-capable ldr). */
static inline uint32_t grt_dsp_load_u32(const void *p)
{
    uint32_t v;
    grt_memcpy(&v, p, sizeof v);
    return v;
}

/* sxtb16 with its built-in rotation by 8 (gcc 12 does not fold a rotation into the ACLE intrinsic). */
static inline int32_t grt_dsp_sxtb16_ror8(uint32_t w)
{
    int32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(w));
    return r;
}
#endif

#endif /* GRT_DSP_H */
