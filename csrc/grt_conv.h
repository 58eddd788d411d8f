/* grt_conv.h — the causal Conv1D cells (kernels/portable/grt_cell_conv.c; docs/FORMAT.md, "Conv1D
 * layers"). Not part of the public API.
 *
 * A chunk of c steps of B streams (rows b·c + t, stream by stream, as in grt_stream.c). win: B rows of
 * the layer's window state (ldwin elements apart), each the last (k − 1)·d input frames before the
 * chunk, oldest first; the cells read it, then move it on past the chunk. in: the chunk's c·B input rows
 * (I each); out: its c·B output rows (O each). cols: scratch for c·B window rows of k·I elements. */
#ifndef GRT_CONV_H
#define GRT_CONV_H

#include <stddef.h>
#include <stdint.h>

#include "include/gru_rt.h"

/* f32 and q8 layers: the products of the layer's precision (q8 quantizes each window row, or each
 * channel's k taps when depthwise, into xq with its scale in sx: c·B × k·I bytes, c·B floats), then
 * the Dense activation in place. */
void grt_conv_float(const grt_layer *L, float *win, size_t ldwin, const float *in, float *out, size_t c,
                    size_t B, float *cols, int8_t *xq, float *sx);

/* q15 layers: integer only. g: scratch for c·B rows of O int32 products. */
void grt_conv_q15(const grt_layer *L, int16_t *win, size_t ldwin, const int16_t *in, int16_t *out, size_t c,
                  size_t B, int32_t *g, int16_t *cols);

#endif /* GRT_CONV_H */
