/* grt_stream.c — streams over a validated model: memory sizes, init/reset, one step, and whole
 * sequences in chunks (batched input projections, then the recurrence with the step's own code).
 *
 * Stream memory, in floats, each region starting on a 64-byte multiple from the start:
 *   state   model->state_size   the GRU hidden states, layer by layer (layer.state_offset)
 *   gx      max_gates           W_ih·x + b_ih of the current GRU layer, then its gate values
 *   gh      max_gates           W_hh·h + b_hh
 *   rh      max_width           r ⊙ h (reset_after = 0)
 *   buf0/1  max_width each      layer outputs, ping-pong
 * Work memory of grt_stream_run, per chunk of c steps: proj (c × max_gates), seq0 and seq1
 * (c × max_width each): the layers' input projections and output sequences, row-major by step. */
#include <string.h>

#include "grt_internal.h"
#include "grt_kernels.h"
#include "grt_math.h"

typedef struct stream_layout {
    size_t state, gx, gh, rh, buf0, buf1, total; /* offsets and total, in floats */
} stream_layout;

static stream_layout layout_of(const grt_model *m)
{
    stream_layout s;
    s.state = 0;
    s.gx = s.state + grt_round_floats(m->state_size);
    s.gh = s.gx + grt_round_floats(m->max_gates);
    s.rh = s.gh + grt_round_floats(m->max_gates);
    s.buf0 = s.rh + grt_round_floats(m->max_width);
    s.buf1 = s.buf0 + grt_round_floats(m->max_width);
    s.total = s.buf1 + grt_round_floats(m->max_width);
    return s;
}

static int model_ok(const grt_model *m)
{
    return m != NULL && m->n_layers >= 1 && m->n_layers <= GRT_MAX_LAYERS;
}

static int float_aligned(const void *p)
{
    return (uintptr_t)p % sizeof(float) == 0;
}

size_t grt_stream_size(const grt_model *model)
{
    if (!model_ok(model))
        return 0;
    return layout_of(model).total * sizeof(float); /* a multiple of 64 bytes */
}

grt_status grt_stream_init(grt_stream *stream, const grt_model *model, void *mem, size_t mem_size)
{
    if (stream == NULL || !model_ok(model) || mem == NULL)
        return GRT_E_ARG;
    if (!float_aligned(mem) || mem_size < grt_stream_size(model))
        return GRT_E_BUFFER;
    stream_layout s = layout_of(model);
    float *f = (float *)mem;
    stream->model = model;
    stream->state = f + s.state;
    stream->scratch = f + s.gx;
    grt_stream_reset(stream);
    return GRT_OK;
}

void grt_stream_reset(grt_stream *stream)
{
    if (stream == NULL || stream->model == NULL)
        return;
    if (stream->model->state_size > 0)
        memset(stream->state, 0, stream->model->state_size * sizeof(float));
}

/* The scratch pointers of a stream (scratch begins at the gx region). */
static float *scratch_at(const grt_stream *stream, size_t offset)
{
    stream_layout s = layout_of(stream->model);
    return stream->scratch + (offset - s.gx);
}

static grt_gru_scratch gru_scratch(const grt_stream *stream)
{
    stream_layout s = layout_of(stream->model);
    grt_gru_scratch g;
    g.gh = scratch_at(stream, s.gh);
    g.rh = scratch_at(stream, s.rh);
    return g;
}

static const float *weights(const grt_layer *L, unsigned role)
{
    return (const float *)L->tensor[role];
}

static size_t run_floats_per_step(const grt_model *m)
{
    return m->max_gates + 2 * m->max_width;
}

size_t grt_run_work_size(const grt_model *model, size_t chunk_steps)
{
    if (!model_ok(model))
        return 0;
    size_t per_step = run_floats_per_step(model) * sizeof(float);
    size_t max = SIZE_MAX - GRT_ALIGN;
    if (chunk_steps > max / per_step)
        return max / GRT_ALIGN * GRT_ALIGN; /* saturate: no caller can provide this much anyway */
    return (chunk_steps * per_step + GRT_ALIGN - 1) / GRT_ALIGN * GRT_ALIGN;
}

/* c steps (xs: c × input_size, ys: c × output_size) through every layer; proj and seq[] are work
 * memory for c steps. Per element the same kernels and summation order as grt_stream_step. */
static void run_chunk(grt_stream *stream, const float *xs, float *ys, size_t c, float *proj, float *seq[2])
{
    const grt_model *m = stream->model;
    grt_gru_scratch g = gru_scratch(stream);
    const float *in = xs;
    for (uint32_t l = 0; l < m->n_layers; l++) {
        const grt_layer *L = &m->layers[l];
        float *out = seq[l & 1];
        size_t I = L->input_size, O = L->output_size;
        if (L->kind == GRT_LAYER_GRU) {
            float *h = stream->state + L->state_offset;
            size_t G = 3 * O;
            grt_matmul_f32(proj, G, weights(L, GRT_ROLE_W_IH), weights(L, GRT_ROLE_B_IH), in, I, G, I, c);
            for (size_t t = 0; t < c; t++) {
                grt_gru_recur_f32(L, proj + t * G, h, g);
                memcpy(out + t * O, h, O * sizeof(float));
            }
        } else {
            grt_matmul_f32(out, O, weights(L, GRT_ROLE_W_IH), weights(L, GRT_ROLE_B_IH), in, I, O, I, c);
            for (size_t t = 0; t < c; t++)
                grt_act_apply(L->activation, out + t * O, O);
        }
        in = out;
    }
    memcpy(ys, in, c * m->output_size * sizeof(float));
}

void grt_stream_step(grt_stream *stream, const float *x, float *y)
{
    if (stream == NULL || stream->model == NULL || x == NULL || y == NULL)
        return;
    /* One step is a chunk of one step: gx is its projection buffer, buf0/buf1 its sequences. The
     * last layer writes to a buffer, then y: x and y may even be the same array. */
    stream_layout s = layout_of(stream->model);
    float *buf[2] = {scratch_at(stream, s.buf0), scratch_at(stream, s.buf1)};
    run_chunk(stream, x, y, 1, scratch_at(stream, s.gx), buf);
}

grt_status grt_stream_run(grt_stream *stream, const float *xs, size_t T, float *ys, void *work,
                          size_t work_size)
{
    if (stream == NULL || !model_ok(stream->model))
        return GRT_E_ARG;
    if (T == 0)
        return GRT_OK;
    if (xs == NULL || ys == NULL || work == NULL)
        return GRT_E_ARG;
    const grt_model *m = stream->model;
    size_t per_step = run_floats_per_step(m);
    size_t chunk = work_size / sizeof(float) / per_step;
    if (!float_aligned(work) || chunk < 1)
        return GRT_E_BUFFER;
    chunk = chunk < T ? chunk : T;
    float *proj = (float *)work;
    float *seq[2] = {proj + chunk * m->max_gates, proj + chunk * m->max_gates + chunk * m->max_width};
    for (size_t t0 = 0; t0 < T; t0 += chunk) {
        size_t c = T - t0 < chunk ? T - t0 : chunk;
        run_chunk(stream, xs + t0 * m->input_size, ys + t0 * m->output_size, c, proj, seq);
    }
    return GRT_OK;
}
