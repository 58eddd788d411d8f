/* grt_internal.h — shared internals of the C core: little-endian readers and layout helpers.
 * Not part of the public API. */
#ifndef GRT_INTERNAL_H
#define GRT_INTERNAL_H

#include "gru_rt.h"

/* File fields are read byte by byte: no alignment or endianness assumptions, no struct casts. */
static inline uint16_t grt_rd_u16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static inline uint32_t grt_rd_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

/* Round up to a multiple of GRT_ALIGN; callers pass values < 2^33, so this cannot overflow. */
static inline uint64_t grt_round_up64(uint64_t v)
{
    return (v + (GRT_ALIGN - 1)) & ~(uint64_t)(GRT_ALIGN - 1);
}

/* Floats per 64 bytes: stream and work regions start on 64-byte multiples (relative to the buffer)
 * so the kernels see equally aligned vectors in every region. */
#define GRT_FLOATS_PER_LINE (GRT_ALIGN / sizeof(float))

static inline size_t grt_round_floats(size_t n)
{
    return (n + GRT_FLOATS_PER_LINE - 1) / GRT_FLOATS_PER_LINE * GRT_FLOATS_PER_LINE;
}

#endif /* GRT_INTERNAL_H */
