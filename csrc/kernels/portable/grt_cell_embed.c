/* grt_cell_embed.c — the Embedding cell of the float-activation precisions (f32, q8) and the check of
 * float ids (also the float API of q15 models). A lookup: no arithmetic in f32; in q8 one float32
 * product per value, (float)q · scale, which gru_rt/golden.py repeats. */
#include "../../grt_embed.h"
#include "../../grt_internal.h"
#include "../../grt_kernels.h"

#if GRT_HAS_F32 || GRT_HAS_Q8 || GRT_HAS_FLOAT_BOUNDARY

/* An integer in [0, vocab)? vocab <= 2^24, so (float)vocab is exact; a NaN fails the first test. */
static int float_id_ok(float x, uint32_t vocab)
{
    return x >= 0.0f && x < (float)vocab && x == (float)(uint32_t)x;
}

int grt_embed_ids_float(const grt_layer *L, const float *ids, size_t n)
{
    for (size_t r = 0; r < n; r++)
        if (!float_id_ok(ids[r], L->vocab_size))
            return 0;
    return 1;
}
#endif

#if GRT_HAS_F32 || GRT_HAS_Q8
void grt_embed_float(const grt_layer *L, const float *ids, float *y, size_t n)
{
    size_t D = L->output_size;
    const void *table = L->tensor[GRT_ROLE_TABLE];
    for (size_t r = 0; r < n; r++) {
        float *row = y + r * D;
        if (!float_id_ok(ids[r], L->vocab_size)) { /* checked before the run: never taken */
            grt_memset(row, 0, D * sizeof(float));
            continue;
        }
        size_t id = (size_t)ids[r];
#if GRT_HAS_Q8
        if (L->precision == GRT_PREC_Q8) {
            const int8_t *q = (const int8_t *)table + id * D;
            float s = grt_q8_scale(((const uint16_t *)L->tensor[GRT_ROLE_W_IH_SCALE])[id]);
            for (size_t j = 0; j < D; j++)
                row[j] = (float)q[j] * s;
            continue;
        }
#endif
        grt_memcpy(row, (const float *)table + id * D, D * sizeof(float)); /* f32 */
    }
}
#endif

#if !(GRT_HAS_F32 || GRT_HAS_Q8 || GRT_HAS_FLOAT_BOUNDARY)
typedef int grt_no_float_embed; /* ISO C forbids an empty translation unit */
#endif
