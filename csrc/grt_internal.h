/* grt_internal.h — shared internals of the C core: little-endian readers and layout helpers.
 * Not part of the public API. */
#ifndef GRT_INTERNAL_H
#define GRT_INTERNAL_H

#include "include/gru_rt.h"

/* Tensors are read in place as native int8/int16/int32/float arrays: the file is little-endian, so is
 * every supported target. */
#if defined(__BYTE_ORDER__) && defined(__ORDER_BIG_ENDIAN__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#error "gru_rt: big-endian targets are not supported (model tensors are little-endian and read in place)"
#endif

/* memcpy and memset are the only C library functions the core calls. Through the compiler builtins
 * with gcc/clang, so no <string.h> is needed (a freestanding implementation need not have one); the
 * compiler may still emit calls to memcpy/memset (and memmove/memcmp), as it may in any freestanding
 * program, so every C environment provides them. */
#if defined(__GNUC__) || defined(__clang__)
#define grt_memcpy __builtin_memcpy
#define grt_memset __builtin_memset
#else
#include <string.h>
#define grt_memcpy memcpy
#define grt_memset memset
#endif

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

/* Rows per panel of the panel8 weight layout, and a matrix's stored rows (a multiple of 8). */
#define GRT_PANEL_ROWS 8u

/* A q15 LSTM's cell state c has 15 − p fraction bits, p = its entry's param (1.5): at most 14, so that c
 * in Q16 (c_q·2^(p+1), the tanh input) stays within ±2^30. */
#define GRT_Q15_LSTM_MAX_CELL_BITS 14u

static inline uint64_t grt_panel_rows(uint64_t rows)
{
    return (rows + GRT_PANEL_ROWS - 1) / GRT_PANEL_ROWS * GRT_PANEL_ROWS;
}

/* Does p[0, n) contain a non-zero byte? */
static inline int grt_has_nonzero_byte(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != 0)
            return 1;
    return 0;
}

/* a[0, n) == b[0, n) (the loader's few byte comparisons, without memcmp). */
static inline int grt_bytes_equal(const uint8_t *a, const uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (a[i] != b[i])
            return 0;
    return 1;
}

/* Does p[0, n) contain a zero byte? (without memchr) */
static inline int grt_has_zero_byte(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] == 0)
            return 1;
    return 0;
}

/* The input mask (grt_mask.c): masked[r] = 1 where row r of rows (n rows of the model's input, in its
 * elements: float, or int16 for a q15 model) is a masked step of a model with has_mask, else 0. */
void grt_mask_rows(const grt_model *m, const void *rows, size_t n, uint8_t *masked);

/* One direction of a loaded GRU layer (grt_load.c): a copy of layer `layer` of the model with
 * output_size the hidden size H, direction forward and no merge, and the tensors of set `dir` (0: the
 * forward or only set; 1: a bidirectional layer's backward set). Any other layer is copied as is. */
void grt_layer_direction(const grt_model *model, uint32_t layer, unsigned dir, grt_layer *out);

#endif /* GRT_INTERNAL_H */
