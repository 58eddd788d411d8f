/* grt_embed.h — the Embedding cells (kind 5, format 1.5): each row's token id selects a row of the
 * table. A table lookup, the same at every ISA level; docs/FORMAT.md ("Embedding") states the ids and
 * the table, gru_rt/golden.py repeats the arithmetic. Not part of the public API.
 *
 * The ids are checked before a run touches anything (grt_embed_ids_*: every entry point of
 * grt_stream.c), and the cells check them again: a row whose id is out of range gets zeros, never a
 * read outside the table. */
#ifndef GRT_EMBED_H
#define GRT_EMBED_H

#include <stddef.h>
#include <stdint.h>

#include "include/gru_rt.h"

/* Are the n ids all integers in [0, L->vocab_size)? Float ids (the float API, NaN never) in
 * grt_cell_embed.c, int16 ids (the int16 API) in grt_cell_embed_q15.c. */
int grt_embed_ids_float(const grt_layer *L, const float *ids, size_t n);
int grt_embed_ids_q15(const grt_layer *L, const int16_t *ids, size_t n);

/* f32 layers: y = table[id]; q8 layers: y_j = (float)table[id][j] · scale(code[id]) (grt_q8_scale).
 * n rows of one float id to n rows of L->output_size floats. grt_cell_embed.c. */
void grt_embed_float(const grt_layer *L, const float *ids, float *y, size_t n);

/* q15 layers (integer only): n rows of one int16 id to n rows of the table's int16 row.
 * grt_cell_embed_q15.c. */
void grt_embed_q15(const grt_layer *L, const int16_t *ids, int16_t *y, size_t n);

#endif /* GRT_EMBED_H */
