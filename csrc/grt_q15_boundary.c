/* grt_q15_boundary.c — the float boundary of a q15 model (docs/QUANTIZATION.md, "Boundary"): the only
 * float code of the q15 path, kept out of the integer translation units.
 *
 *   xq_k = round_away(clamp(x_k / in_scale_k, -32767, 32767)), NaN -> 0     (float32 division)
 *   y_j  = (float)yq_j * out_scale_j
 *
 * round_away(v), |v| < 2^23, without libm: t = trunc(v) (the float -> int conversion truncates), d = v - t
 * (exact), t + 1 if d >= 0.5, t - 1 if d <= -0.5, else t. */
#include "grt_q15.h"

#if GRT_HAS_FLOAT_BOUNDARY /* the whole file (GRT_NO_Q15 or GRT_NO_FLOAT_BOUNDARY: empty) */

static inline int16_t quantize_one(float x, float scale)
{
    float v = x / scale;
    v = v > 32767.0f ? 32767.0f : v;
    v = v < -32767.0f ? -32767.0f : v;
    v = v == v ? v : 0.0f; /* NaN (also inf/inf and 0/0 cannot occur: scale is a positive normal) */
    int32_t t = (int32_t)v;
    float d = v - (float)t;
    t += (d >= 0.5f) - (d <= -0.5f);
    return (int16_t)t;
}

void grt_q15_quantize_input(const grt_model *model, const float *x, int16_t *xq)
{
    if (model == NULL || !model->q15 || x == NULL || xq == NULL)
        return;
    const float *scale = (const float *)model->layers[0].tensor[GRT_ROLE_IN_SCALE];
    for (size_t k = 0; k < model->input_size; k++)
        xq[k] = quantize_one(x[k], scale[k]);
}

void grt_q15_dequantize_output(const grt_model *model, const int16_t *yq, float *y)
{
    if (model == NULL || !model->q15 || yq == NULL || y == NULL)
        return;
    const grt_layer *last = &model->layers[model->n_layers - 1];
    const float *scale = (const float *)last->tensor[GRT_ROLE_OUT_SCALE];
    /* a bidirectional concat GRU: the forward set's out_scale (H values) serves both halves, which
     * the loader checked are all 2^-15 */
    size_t units = last->merge == GRT_MERGE_CONCAT ? model->output_size / 2 : model->output_size;
    for (size_t j = 0; j < model->output_size; j++)
        y[j] = (float)yq[j] * scale[j % units];
}

#else
typedef int grt_no_q15_boundary; /* ISO C forbids an empty translation unit */
#endif
