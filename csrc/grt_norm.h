/* grt_norm.h — the LayerNorm cells (kind 6, format 1.4): y = gamma ⊙ (x − mean) / sqrt(var + eps) + beta
 * over the features of each row, var the population variance. Scalar code, the same at every ISA level
 * (so every level gives the same bits); docs/QUANTIZATION.md gives the exact arithmetic, gru_rt/golden.py
 * repeats it. Not part of the public API. */
#ifndef GRT_NORM_H
#define GRT_NORM_H

#include <stddef.h>
#include <stdint.h>

#include "include/gru_rt.h"

/* f32 and q8 layers (float math; eps the float32 bits in L->act_param): n rows of L->input_size floats
 * from x to y (x == y allowed). grt_cell_norm.c. */
void grt_norm_float(const grt_layer *L, const float *x, float *y, size_t n);

/* q15 layers (integer only; eps an integer in (input unit)² in L->act_param): n rows of int16 from x to
 * y (x == y allowed). grt_cell_norm_q15.c. */
void grt_norm_q15(const grt_layer *L, const int16_t *x, int16_t *y, size_t n);

#endif /* GRT_NORM_H */
