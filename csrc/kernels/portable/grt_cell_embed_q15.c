/* grt_cell_embed_q15.c — the q15 Embedding cell, integer only (`make nofloat` compiles this file with
 * -mgeneral-regs-only): the table's int16 row of each id, already in the layer's out_scale units. */
#include "../../grt_embed.h"
#include "../../grt_internal.h"

#if GRT_HAS_Q15 /* the whole file (GRT_NO_Q15: empty) */

int grt_embed_ids_q15(const grt_layer *L, const int16_t *ids, size_t n)
{
    for (size_t r = 0; r < n; r++)
        if (ids[r] < 0 || (uint32_t)ids[r] >= L->vocab_size)
            return 0;
    return 1;
}

void grt_embed_q15(const grt_layer *L, const int16_t *ids, int16_t *y, size_t n)
{
    size_t D = L->output_size;
    const int16_t *table = (const int16_t *)L->tensor[GRT_ROLE_TABLE];
    for (size_t r = 0; r < n; r++) {
        int16_t *row = y + r * D;
        if (ids[r] < 0 || (uint32_t)ids[r] >= L->vocab_size) /* checked before the run: never taken */
            grt_memset(row, 0, D * sizeof(int16_t));
        else
            grt_memcpy(row, table + (size_t)ids[r] * D, D * sizeof(int16_t));
    }
}

#else
typedef int grt_no_q15_embed; /* ISO C forbids an empty translation unit */
#endif
