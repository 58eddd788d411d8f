/* grt_stream.c — streams over a validated model: memory sizes, init/reset, one step, and whole
 * sequences in chunks (batched input projections, then the recurrence with the step's own code), for
 * every precision. The q15 integer step itself is grt_q15_run_chunk (grt_kernels_q15.c); this file only
 * lays out its memory and converts at the float boundary.
 *
 * Stream memory, each region starting on a 64-byte multiple from the start (sizes in elements):
 *   f32 and q8 models (float activations)     q15 models (integer-only)
 *   state  state_size  float                  state  state_size                int16 (Q15)
 *   gx     max_gates   float                  gx     max(max_gates, max_width) int32 (projections)
 *   gh     max_gates   float                  gh     max_gates                 int32
 *   rh     max_width   float                  rh     max_width                 int16
 *   buf0/1 max_width   float each             buf0/1 max_width                 int16 each
 *   with a q8 layer, also:
 *   sx     1           float    the scale of the quantized input (a chunk of one step)
 *   xq     max_width   int8     the quantized layer input (a chunk of one step)
 *   hq     max_width   int8     the quantized h or r ⊙ h of the q8 recurrence
 * A single step is a chunk of one step over gx (projections) and buf0/buf1 (sequences).
 *
 * Work memory of grt_stream_run / grt_stream_run_q15 for chunks of c steps, regions one after the other
 * (each c × its per-step size; only the whole is rounded up to 64 bytes):
 *   f32/q8: proj c·max_gates float, seq0/seq1 c·max_width float each, then with a q8 layer
 *           sx c float and xq c·max_width int8;
 *   q15:    proj c·max(max_gates, max_width) int32, seq0/seq1 c·max_width int16 each (the float run
 *           quantizes a chunk's inputs into seq1 and dequantizes its outputs from the last sequence).
 *
 * The layouts and sizes are the same in every build configuration (gru_rt.h); the code of a dropped
 * precision is left out: FLOAT_ACT below is the f32/q8 path (float activations), GRT_HAS_Q15 the
 * integer one, GRT_HAS_FLOAT_BOUNDARY the float API of q15 models. */
#include "grt_internal.h"
#include "grt_kernels.h"
#include "grt_math.h"
#include "grt_q15.h"

#define FLOAT_ACT (GRT_HAS_F32 || GRT_HAS_Q8)

static int model_ok(const grt_model *m)
{
    return m != NULL && m->n_layers >= 1 && m->n_layers <= GRT_MAX_LAYERS;
}

static int float_aligned(const void *p)
{
    return (uintptr_t)p % sizeof(float) == 0;
}

static int has_q8(const grt_model *m)
{
    for (uint32_t i = 0; i < m->n_layers; i++)
        if (m->layers[i].precision == GRT_PREC_Q8)
            return 1;
    return 0;
}

static size_t q15_rows(const grt_model *m)
{
    return m->max_gates > m->max_width ? m->max_gates : m->max_width;
}

static size_t round_line(size_t bytes)
{
    return (bytes + GRT_ALIGN - 1) / GRT_ALIGN * GRT_ALIGN;
}

/* ---- stream memory ------------------------------------------------------------------------------- */

typedef struct stream_layout {
    size_t state, gx, gh, rh, buf0, buf1, sx, xq, hq, total; /* byte offsets and total */
} stream_layout;

static stream_layout layout_of(const grt_model *m)
{
    stream_layout s;
    int q15 = m->q15 != 0;
    size_t act = q15 ? sizeof(int16_t) : sizeof(float); /* state and sequence elements */
    size_t acc = q15 ? sizeof(int32_t) : sizeof(float); /* projection elements */
    s.state = 0;
    s.gx = s.state + round_line(m->state_size * act);
    s.gh = s.gx + round_line((q15 ? q15_rows(m) : m->max_gates) * acc);
    s.rh = s.gh + round_line(m->max_gates * acc);
    s.buf0 = s.rh + round_line(m->max_width * act);
    s.buf1 = s.buf0 + round_line(m->max_width * act);
    s.sx = s.buf1 + round_line(m->max_width * act);
    s.xq = s.hq = s.total = s.sx;
    if (!q15 && has_q8(m)) {
        s.xq = s.sx + round_line(sizeof(float));
        s.hq = s.xq + round_line(m->max_width);
        s.total = s.hq + round_line(m->max_width);
    }
    return s;
}

size_t grt_stream_size(const grt_model *model)
{
    if (!model_ok(model))
        return 0;
    return layout_of(model).total; /* a multiple of 64 bytes */
}

grt_status grt_stream_init(grt_stream *stream, const grt_model *model, void *mem, size_t mem_size)
{
    if (stream == NULL || !model_ok(model) || mem == NULL)
        return GRT_E_ARG;
    if (!float_aligned(mem) || mem_size < grt_stream_size(model))
        return GRT_E_BUFFER;
    stream_layout s = layout_of(model);
    uint8_t *b = (uint8_t *)mem;
    stream->model = model;
    stream->state = b + s.state;
    stream->scratch = b + s.gx;
    grt_stream_reset(stream);
    return GRT_OK;
}

void grt_stream_reset(grt_stream *stream)
{
    if (stream == NULL || stream->model == NULL)
        return;
    size_t elem = stream->model->q15 ? sizeof(int16_t) : sizeof(float);
    if (stream->model->state_size > 0)
        grt_memset(stream->state, 0, stream->model->state_size * elem);
}

/* A region of a stream's scratch (which begins at the gx region). */
static void *scratch_at(const grt_stream *stream, const stream_layout *s, size_t offset)
{
    return (uint8_t *)stream->scratch + (offset - s->gx);
}

/* ---- work memory --------------------------------------------------------------------------------- */

static size_t run_bytes_per_step(const grt_model *m)
{
    if (m->q15)
        return q15_rows(m) * sizeof(int32_t) + 2 * m->max_width * sizeof(int16_t);
    size_t f32 = (m->max_gates + 2 * m->max_width) * sizeof(float);
    return has_q8(m) ? f32 + sizeof(float) + m->max_width : f32;
}

size_t grt_run_work_size(const grt_model *model, size_t chunk_steps)
{
    if (!model_ok(model))
        return 0;
    size_t per_step = run_bytes_per_step(model);
    size_t max = SIZE_MAX - GRT_ALIGN;
    if (chunk_steps > max / per_step)
        return max / GRT_ALIGN * GRT_ALIGN; /* saturate: no caller can provide this much anyway */
    return round_line(chunk_steps * per_step);
}

/* The chunk size a work buffer allows (0: not even one step), and the regions for chunks of c. */
static size_t work_chunk(const grt_model *m, const void *work, size_t work_size)
{
    return float_aligned(work) ? work_size / run_bytes_per_step(m) : 0;
}

/* ---- f32 / q8 ------------------------------------------------------------------------------------- */
#if FLOAT_ACT

typedef struct chunk_mem {
    float *proj;
    float *seq[2];
    float *sx;  /* q8: c scales */
    int8_t *xq; /* q8: c × max_width */
} chunk_mem;

static chunk_mem work_regions(const grt_model *m, void *work, size_t c)
{
    chunk_mem w;
    w.proj = (float *)work;
    w.seq[0] = w.proj + c * m->max_gates;
    w.seq[1] = w.seq[0] + c * m->max_width;
    w.sx = w.seq[1] + c * m->max_width;
    w.xq = (int8_t *)(w.sx + c);
    return w;
}

/* c steps (xs: c × input_size, ys: c × output_size) through every layer. Per element the same kernels
 * and summation order as grt_stream_step (a chunk of one). */
static void run_chunk(grt_stream *stream, const float *xs, float *ys, size_t c, chunk_mem w)
{
    const grt_model *m = stream->model;
    stream_layout s = layout_of(m);
    float *gh = (float *)scratch_at(stream, &s, s.gh), *rh = (float *)scratch_at(stream, &s, s.rh);
#if GRT_HAS_F32
    grt_gru_scratch g = {gh, rh};
#endif
#if GRT_HAS_Q8
    grt_q8_gru_scratch g8 = {gh, rh, (int8_t *)scratch_at(stream, &s, s.hq)};
#endif
    const float *in = xs;
    for (uint32_t l = 0; l < m->n_layers; l++) {
        const grt_layer *L = &m->layers[l];
        float *out = w.seq[l & 1];
        size_t I = L->input_size, O = L->output_size;
        int q8 = L->precision == GRT_PREC_Q8;
        size_t rows = L->kind == GRT_LAYER_GRU ? 3 * O : O;
        float *proj = L->kind == GRT_LAYER_GRU ? w.proj : out;
        const float *b = (const float *)L->tensor[GRT_ROLE_B_IH];
        /* The loader admits only the precisions of this build: each branch exists when needed. */
#if GRT_HAS_Q8
        if (q8)
            grt_matmul_q8(proj, rows, (const int8_t *)L->tensor[GRT_ROLE_W_IH],
                          (const uint16_t *)L->tensor[GRT_ROLE_W_IH_SCALE], b, in, I, rows, I, c, w.xq,
                          w.sx);
#endif
#if GRT_HAS_F32
        if (!q8)
            grt_matmul_f32_layout(L->weight_layout, proj, rows, (const float *)L->tensor[GRT_ROLE_W_IH], b, in,
                                  I, rows, I, c);
#endif
        if (L->kind == GRT_LAYER_GRU) {
            float *h = (float *)stream->state + L->state_offset;
            for (size_t t = 0; t < c; t++) {
#if GRT_HAS_Q8
                if (q8)
                    grt_gru_recur_q8(L, proj + t * rows, h, g8);
#endif
#if GRT_HAS_F32
                if (!q8)
                    grt_gru_recur_f32(L, proj + t * rows, h, g);
#endif
                grt_memcpy(out + t * O, h, O * sizeof(float));
            }
        } else {
            for (size_t t = 0; t < c; t++)
                grt_act_apply(L->activation, out + t * O, O);
        }
        in = out;
    }
    grt_memcpy(ys, in, c * m->output_size * sizeof(float));
}

/* grt_stream_run of an f32/q8 model, in chunks of `chunk` steps. */
static void float_run(grt_stream *stream, const float *xs, size_t T, float *ys, void *work, size_t chunk)
{
    const grt_model *m = stream->model;
    chunk_mem w = work_regions(m, work, chunk);
    for (size_t t0 = 0; t0 < T; t0 += chunk) {
        size_t c = T - t0 < chunk ? T - t0 : chunk;
        run_chunk(stream, xs + t0 * m->input_size, ys + t0 * m->output_size, c, w);
    }
}
#endif /* FLOAT_ACT */

/* ---- q15 ------------------------------------------------------------------------------------------- */
#if GRT_HAS_Q15

static grt_q15_chunk_mem q15_stream_regions(const grt_stream *stream)
{
    stream_layout s = layout_of(stream->model);
    grt_q15_chunk_mem q;
    q.proj = (int32_t *)scratch_at(stream, &s, s.gx);
    q.seq[0] = (int16_t *)scratch_at(stream, &s, s.buf0);
    q.seq[1] = (int16_t *)scratch_at(stream, &s, s.buf1);
    q.gru.gh = (int32_t *)scratch_at(stream, &s, s.gh);
    q.gru.rh = (int16_t *)scratch_at(stream, &s, s.rh);
    return q;
}

static grt_q15_chunk_mem q15_work_regions(const grt_stream *stream, void *work, size_t c)
{
    const grt_model *m = stream->model;
    grt_q15_chunk_mem q = q15_stream_regions(stream); /* the recurrence scratch */
    q.proj = (int32_t *)work;
    q.seq[0] = (int16_t *)(q.proj + c * q15_rows(m));
    q.seq[1] = q.seq[0] + c * m->max_width;
    return q;
}

/* One step of a q15 model over the stream's own memory; x may be the stream's seq[1]. */
static const int16_t *q15_step(grt_stream *stream, const int16_t *x, grt_q15_chunk_mem q)
{
    return grt_q15_run_chunk(stream->model, (int16_t *)stream->state, x, 1, q);
}

#if GRT_HAS_FLOAT_BOUNDARY
/* grt_stream_run of a q15 model: each chunk converted at the boundary around the integer step. */
static void q15_float_run(grt_stream *stream, const float *xs, size_t T, float *ys, void *work,
                          size_t chunk)
{
    const grt_model *m = stream->model;
    size_t I = m->input_size, O = m->output_size;
    grt_q15_chunk_mem q = q15_work_regions(stream, work, chunk);
    for (size_t t0 = 0; t0 < T; t0 += chunk) {
        size_t c = T - t0 < chunk ? T - t0 : chunk;
        for (size_t t = 0; t < c; t++)
            grt_q15_quantize_input(m, xs + (t0 + t) * I, q.seq[1] + t * I);
        const int16_t *out = grt_q15_run_chunk(m, (int16_t *)stream->state, q.seq[1], c, q);
        for (size_t t = 0; t < c; t++)
            grt_q15_dequantize_output(m, out + t * O, ys + (t0 + t) * O);
    }
}
#endif
#endif /* GRT_HAS_Q15 */

static int stream_ok(const grt_stream *stream)
{
    return stream != NULL && model_ok(stream->model);
}

/* ---- the API -------------------------------------------------------------------------------------- */

void grt_stream_step(grt_stream *stream, const float *x, float *y)
{
    if (stream == NULL || stream->model == NULL || x == NULL || y == NULL)
        return;
    const grt_model *m = stream->model;
    if (m->q15) {
#if GRT_HAS_FLOAT_BOUNDARY
        /* The boundary around the integer step: x is read completely before y is written, so x and
         * y may be the same array. */
        grt_q15_chunk_mem q = q15_stream_regions(stream);
        grt_q15_quantize_input(m, x, q.seq[1]);
        grt_q15_dequantize_output(m, q15_step(stream, q.seq[1], q), y);
#endif
        return; /* GRT_NO_FLOAT_BOUNDARY: no float API for a q15 model, nothing changes */
    }
#if FLOAT_ACT
    /* One step is a chunk of one step: gx is its projection buffer, buf0/buf1 its sequences. The
     * last layer writes to a buffer, then y: x and y may even be the same array. */
    stream_layout s = layout_of(m);
    chunk_mem w;
    w.proj = (float *)scratch_at(stream, &s, s.gx);
    w.seq[0] = (float *)scratch_at(stream, &s, s.buf0);
    w.seq[1] = (float *)scratch_at(stream, &s, s.buf1);
    w.sx = (float *)scratch_at(stream, &s, s.sx);
    w.xq = (int8_t *)scratch_at(stream, &s, s.xq);
    run_chunk(stream, x, y, 1, w);
#endif
}

grt_status grt_stream_step_q15(grt_stream *stream, const int16_t *x, int16_t *y)
{
    if (!stream_ok(stream) || x == NULL || y == NULL)
        return GRT_E_ARG;
    if (!stream->model->q15)
        return GRT_E_PRECISION;
#if GRT_HAS_Q15
    const int16_t *out = q15_step(stream, x, q15_stream_regions(stream));
    grt_memcpy(y, out, stream->model->output_size * sizeof(int16_t));
#endif
    return GRT_OK;
}

/* The checks both run functions make, in this order: a usable stream (GRT_E_ARG), an API the model
 * and build support (api_ok, else GRT_E_PRECISION), T = 0 (GRT_OK, nothing touched), the pointers
 * (GRT_E_ARG), a work buffer holding at least one step (GRT_E_BUFFER). *chunk: steps per pass. */
static grt_status run_chunk_steps(const grt_stream *stream, int api_ok, const void *xs, size_t T,
                                  const void *ys, const void *work, size_t work_size, size_t *chunk)
{
    if (!stream_ok(stream))
        return GRT_E_ARG;
    if (!api_ok)
        return GRT_E_PRECISION;
    if (T == 0)
        return GRT_OK;
    if (xs == NULL || ys == NULL || work == NULL)
        return GRT_E_ARG;
    size_t c = work_chunk(stream->model, work, work_size);
    if (c < 1)
        return GRT_E_BUFFER;
    *chunk = c < T ? c : T;
    return GRT_OK;
}

grt_status grt_stream_run(grt_stream *stream, const float *xs, size_t T, float *ys, void *work,
                          size_t work_size)
{
    size_t chunk = 0;
    /* GRT_NO_FLOAT_BOUNDARY: no float API for a q15 model */
    int api_ok = stream_ok(stream) && (stream->model->q15 ? GRT_HAS_FLOAT_BOUNDARY : FLOAT_ACT);
    grt_status st = run_chunk_steps(stream, api_ok, xs, T, ys, work, work_size, &chunk);
    if (st != GRT_OK || T == 0)
        return st;
#if GRT_HAS_FLOAT_BOUNDARY
    if (stream->model->q15)
        q15_float_run(stream, xs, T, ys, work, chunk);
#endif
#if FLOAT_ACT
    if (!stream->model->q15)
        float_run(stream, xs, T, ys, work, chunk);
#endif
    return GRT_OK;
}

grt_status grt_stream_run_q15(grt_stream *stream, const int16_t *xs, size_t T, int16_t *ys, void *work,
                              size_t work_size)
{
    size_t chunk = 0;
    grt_status st = run_chunk_steps(stream, stream_ok(stream) && stream->model->q15, xs, T, ys, work,
                                    work_size, &chunk);
    if (st != GRT_OK || T == 0)
        return st;
#if GRT_HAS_Q15
    const grt_model *m = stream->model;
    grt_q15_chunk_mem q = q15_work_regions(stream, work, chunk);
    size_t I = m->input_size, O = m->output_size;
    for (size_t t0 = 0; t0 < T; t0 += chunk) {
        size_t c = T - t0 < chunk ? T - t0 : chunk;
        const int16_t *out = grt_q15_run_chunk(m, (int16_t *)stream->state, xs + t0 * I, c, q);
        grt_memcpy(ys + t0 * O, out, c * O * sizeof(int16_t));
    }
#endif
    return GRT_OK;
}
