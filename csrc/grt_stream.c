/* grt_stream.c — streams over a validated model: memory sizes, init/reset, one step, whole sequences in
 * chunks, and batches of streams of one model stepped together, for every precision: one loop over the
 * layers (run_chunk), each layer run by the cells of its precision (grt_cell_float.c, grt_cell_q15.c),
 * and the float boundary of q15 models.
 *
 * Everything runs as chunks: c steps of B streams, n = c·B rows, ordered stream by stream (row b·c + t
 * is step t of stream b). Per layer, the input projections of the n rows are one matrix product; then
 * the recurrence runs step by step, each step one update of the B streams' rows (grt_gru_recur_float,
 * grt_q15_gru_recur: one product per weight matrix for all B rows, then the gate math row by row). Per
 * row the kernels are those of a single step (the products are documented bit-identical to their
 * matrix-vector form), so every way of running gives the same bits:
 *   - grt_stream_step: c = B = 1, in the stream's own memory;
 *   - grt_stream_run: B = 1, c up to what the work buffer holds;
 *   - the batch functions (grt_streams_step/run): the B states are gathered into the work, run as
 *     chunks of c steps of B rows, and scattered back;
 *   - ragged batches (grt_streams_run_ragged): as a batch, with the rows sorted longest sequence first,
 *     so that the streams still running are the first rows: each chunk runs that prefix only, and no
 *     chunk crosses the end of a sequence.
 *
 * Stream memory, each region starting on a 64-byte multiple from the start (sizes in elements):
 *   f32 and q8 models (float activations)     q15 models (integer-only)
 *   state  state_size  float                  state  state_size                int16 (Q15)
 *   gx     max_gates   float                  gx     max(max_gates, max_width) int32 (projections)
 *   gh     max_gates   float                  gh     max_gates                 int32
 *   rh     max_width   float                  rh     max_width                 int16
 *   buf0/1 max_width   float each             buf0/1 max_width                 int16 each
 *   with a q8 layer, also:
 *   sx     1           float    the scale of the quantized input (a chunk of one step), then of h
 *   xq     max_width   int8     the quantized layer input (a chunk of one step)
 *   hq     max_width   int8     the quantized h or r ⊙ h of the q8 recurrence
 *   with an input mask, also (either kind of model):
 *   mask   1           uint8    the step's masked flag (grt_mask.c)
 * A single step is a chunk of one row over gx (projections) and buf0/buf1 (sequences); gh, rh and hq
 * are the recurrence's scratch for one row (also during grt_stream_run).
 *
 * Work memory of grt_stream_run / grt_stream_run_q15 for chunks of n rows (n = c steps of one stream),
 * regions one after the other (each n × its per-row size; only the whole is rounded up to 64 bytes):
 *   f32/q8: proj n·max_gates float, seq0/seq1 n·max_width float each, then with a q8 layer
 *           sx n float and xq n·max_width int8;
 *   with an input mask (both): after those, mask n uint8 (each row's masked flag);
 *   q15:    proj n·max(max_gates, max_width) int32, seq0/seq1 n·max_width int16 each (the float run
 *           quantizes a chunk's inputs into seq1 and dequantizes its outputs from the last sequence).
 *
 * Work memory of the batch functions for B streams and chunks of c steps: first the regions of B rows,
 * each starting on a 64-byte multiple from the start of the work,
 *   f32/q8: state B·state_size float, gh B·max_gates float, rh B·max_width float, then with a q8 layer
 *           hq B·max_width int8 and hsx B float (the recurrence's quantized h rows and their scales);
 *   q15:    state B·state_size int16, gh B·max_gates int32, rh B·max_width int16;
 *   both:   order B uint32 (stream indices sorted by state address: the check that they are distinct;
 *           a ragged run then sorts them longest sequence first, its row order);
 * then, on the next 64-byte multiple, the run work above for n = c·B rows.
 *
 * The layouts and sizes are the same in every build configuration (gru_rt.h); the code of a dropped
 * precision is left out: FLOAT_ACT below is the f32/q8 path (float activations), GRT_HAS_Q15 the
 * integer one, GRT_HAS_FLOAT_BOUNDARY the float API of q15 models. */
#include "grt_conv.h"
#include "grt_embed.h"
#include "grt_internal.h"
#include "grt_kernels.h"
#include "grt_math.h"
#include "grt_norm.h"
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

/* A model with an input mask: never in a GRT_NO_MASK build (the loader refuses one), which then
 * leaves out the code of masked steps. */
static int has_mask(const grt_model *m)
{
    return GRT_HAS_MASK && m->has_mask;
}

static int has_q8(const grt_model *m)
{
    if (!GRT_HAS_Q8)
        return 0;
    for (uint32_t i = 0; i < m->n_layers; i++)
        if (m->layers[i].precision == GRT_PREC_Q8)
            return 1;
    return 0;
}

/* Rows of a chunk's projection region: a q15 Dense layer's products go there too. */
static size_t proj_rows(const grt_model *m)
{
    if (!m->q15)
        return m->max_gates;
    return m->max_gates > m->max_width ? m->max_gates : m->max_width;
}

/* Bytes of a state or sequence element: int16 in q15 models, else float. */
static size_t elem_of(const grt_model *m)
{
    return m->q15 ? sizeof(int16_t) : sizeof(float);
}

static size_t round_line(size_t bytes)
{
    return (bytes + GRT_ALIGN - 1) / GRT_ALIGN * GRT_ALIGN;
}

/* Saturating size arithmetic for the work sizes: SIZE_MAX stands for "more than any buffer". */
static size_t mul_sat(size_t a, size_t b)
{
    return b != 0 && a > SIZE_MAX / b ? SIZE_MAX : a * b;
}

static size_t add_sat(size_t a, size_t b)
{
    return a > SIZE_MAX - b ? SIZE_MAX : a + b;
}

static size_t line_sat(size_t bytes)
{
    return bytes > SIZE_MAX - GRT_ALIGN ? SIZE_MAX : round_line(bytes);
}

/* The largest multiple of 64 that cannot wrap: what the size functions return instead of overflowing
 * (no caller can provide this much anyway). */
#define SATURATED_SIZE ((SIZE_MAX - GRT_ALIGN) / GRT_ALIGN * GRT_ALIGN)

/* ---- stream memory ------------------------------------------------------------------------------- */

typedef struct stream_layout {
    size_t state, gx, gh, rh, buf0, buf1, sx, xq, hq, mask, total; /* byte offsets and total */
} stream_layout;

static stream_layout layout_of(const grt_model *m)
{
    stream_layout s;
    size_t act = elem_of(m), acc = sizeof(int32_t); /* state and sequence; projection (float or int32) */
    s.state = 0;
    s.gx = s.state + round_line(m->state_size * act);
    s.gh = s.gx + round_line(proj_rows(m) * acc);
    s.rh = s.gh + round_line(m->max_gates * acc);
    s.buf0 = s.rh + round_line(m->max_width * act);
    s.buf1 = s.buf0 + round_line(m->max_width * act);
    s.sx = s.buf1 + round_line(m->max_width * act);
    s.xq = s.hq = s.mask = s.sx;
    if (has_q8(m)) {
        s.xq = s.sx + round_line(sizeof(float));
        s.hq = s.xq + round_line(m->max_width);
        s.mask = s.hq + round_line(m->max_width);
    }
    s.total = s.mask + (has_mask(m) ? round_line(1) : 0);
    return s;
}

size_t grt_stream_size(const grt_model *model)
{
    if (!model_ok(model) || model->needs_future)
        return 0;
    return layout_of(model).total; /* a multiple of 64 bytes */
}

grt_status grt_stream_init(grt_stream *stream, const grt_model *model, void *mem, size_t mem_size)
{
    if (stream == NULL || !model_ok(model) || mem == NULL)
        return GRT_E_ARG;
    if (model->needs_future)
        return GRT_E_LAYER_FIELD; /* a reverse or bidirectional layer: grt_model_run */
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
    if (stream->model->state_size > 0)
        grt_memset(stream->state, 0, stream->model->state_size * elem_of(stream->model));
}

/* A region of a stream's scratch (which begins at the gx region). */
static void *scratch_at(const grt_stream *stream, const stream_layout *s, size_t offset)
{
    return (uint8_t *)stream->scratch + (offset - s->gx);
}

/* ---- work memory --------------------------------------------------------------------------------- */

static size_t run_bytes_per_step(const grt_model *m)
{
    size_t bytes = proj_rows(m) * sizeof(int32_t) + 2 * m->max_width * elem_of(m) + (has_mask(m) ? 1 : 0);
    return has_q8(m) ? bytes + sizeof(float) + m->max_width : bytes;
}

size_t grt_run_work_size(const grt_model *model, size_t chunk_steps)
{
    if (!model_ok(model))
        return 0;
    size_t per_step = run_bytes_per_step(model);
    size_t max = SIZE_MAX - GRT_ALIGN;
    if (chunk_steps > max / per_step)
        return SATURATED_SIZE;
    return round_line(chunk_steps * per_step);
}

/* The chunk size a work buffer allows (0: not even one step). */
static size_t work_chunk(const grt_model *m, const void *work, size_t work_size)
{
    return float_aligned(work) ? work_size / run_bytes_per_step(m) : 0;
}

/* The regions of B rows of the batch work (byte offsets); `run` is where the run work begins. */
typedef struct batch_layout {
    size_t state, gh, rh, hq, hsx, order, run;
} batch_layout;

/* 0 if the regions' size overflows size_t. */
static int batch_layout_of(const grt_model *m, size_t B, batch_layout *bl)
{
    int q8 = has_q8(m);
    size_t act = elem_of(m);
    size_t *offset[] = {&bl->state, &bl->gh, &bl->rh, &bl->hq, &bl->hsx, &bl->order, &bl->run};
    const size_t row_bytes[] = {m->state_size * act, m->max_gates * sizeof(float) /* or int32 */,
                                m->max_width * act, q8 ? m->max_width : 0, q8 ? sizeof(float) : 0,
                                sizeof(uint32_t)};
    size_t at = 0;
    for (size_t k = 0; k < sizeof row_bytes / sizeof row_bytes[0]; k++) {
        *offset[k] = at;
        at = add_sat(at, line_sat(mul_sat(B, row_bytes[k])));
    }
    bl->run = at;
    return at != SIZE_MAX;
}

size_t grt_batch_run_work_size(const grt_model *model, size_t B, size_t chunk_steps)
{
    batch_layout bl;
    if (!model_ok(model) || B == 0 || chunk_steps == 0)
        return 0;
    if (!batch_layout_of(model, B, &bl))
        return SATURATED_SIZE;
    size_t run = line_sat(mul_sat(mul_sat(B, chunk_steps), run_bytes_per_step(model)));
    size_t total = add_sat(bl.run, run);
    return total > SATURATED_SIZE ? SATURATED_SIZE : total;
}

size_t grt_batch_work_size(const grt_model *model, size_t B)
{
    return grt_batch_run_work_size(model, B, 1);
}

/* The steps per chunk a batch work buffer holds (0: misaligned, or not even one step). */
static size_t batch_chunk(const grt_model *m, size_t B, const void *work, size_t work_size)
{
    batch_layout bl;
    if (!float_aligned(work) || !batch_layout_of(m, B, &bl) || work_size < bl.run)
        return 0;
    size_t per_step = mul_sat(B, run_bytes_per_step(m));
    return per_step == SIZE_MAX ? 0 : (work_size - bl.run) / per_step;
}

/* ---- moving rows between the callers' arrays and a chunk ----------------------------------------- */

/* Where the callers' sequences are: either one array per direction, stream b's T steps starting at
 * row b·T (the padded form), or one pointer per stream (the ragged form: stream b's rows at
 * xp[order[b]] and yp[order[b]], order putting the longest sequences first). */
typedef struct seq_io {
    const void *xs;
    void *ys;
    size_t T;
    const void *const *xp; /* non-NULL: the ragged form */
    void *const *yp;
    const uint32_t *order;
} seq_io;

static const uint8_t *in_row(const seq_io *io, size_t b, size_t t, size_t row_bytes)
{
    if (io->xp != NULL)
        return (const uint8_t *)io->xp[io->order[b]] + t * row_bytes;
    return (const uint8_t *)io->xs + (b * io->T + t) * row_bytes;
}

static uint8_t *out_row(const seq_io *io, size_t b, size_t t, size_t row_bytes)
{
    if (io->yp != NULL)
        return (uint8_t *)io->yp[io->order[b]] + t * row_bytes;
    return (uint8_t *)io->ys + (b * io->T + t) * row_bytes;
}

/* The chunk's input rows (row b·c + t: step t0 + t of stream b; rows of row_bytes): read in place when
 * the caller's array already has that order (one stream, or padded sequences in one chunk), else
 * copied into buf. */
static const void *chunk_in(const seq_io *io, size_t B, size_t t0, size_t c, size_t row_bytes, void *buf)
{
    if (B == 1 || (io->xp == NULL && c == io->T))
        return in_row(io, 0, t0, row_bytes);
    for (size_t b = 0; b < B; b++)
        grt_memcpy((uint8_t *)buf + b * c * row_bytes, in_row(io, b, t0, row_bytes), c * row_bytes);
    return buf;
}

/* The chunk's output rows (same order) to their places in the caller's arrays. */
static void chunk_out(const seq_io *io, const void *out, size_t B, size_t t0, size_t c, size_t row_bytes)
{
    for (size_t b = 0; b < B; b++)
        grt_memcpy(out_row(io, b, t0, row_bytes), (const uint8_t *)out + b * c * row_bytes, c * row_bytes);
}

/* ---- the layer loop -------------------------------------------------------------------------------- */

/* Memory of a chunk of n = c·B rows: the n-row regions (from the run work, or the stream's for one row)
 * and the recurrence scratch of B rows. Elements: float in f32/q8 models; int32 (proj, gh) and int16
 * (seq, rh) in q15 models. */
typedef struct chunk_mem {
    void *proj;    /* n rows: the input projections */
    void *seq[2];  /* n rows each: layer outputs */
    void *xq, *sx; /* q8: n × max_width int8 (the quantized inputs), n float (their scales) */
    void *gh, *rh; /* B rows: the recurrence's scratch */
    void *hq, *hsx; /* q8: B × max_width int8 (the quantized h rows), B float (their scales) */
    uint8_t *masked; /* n rows: 1 where the step is masked (grt_mask_rows); NULL without an input mask */
} chunk_mem;

/* The cells of a precision on a chunk's memory: the GRU/LSTM input projections of n rows (gate_rows
 * each, into w->proj), one GRU or LSTM update of B rows (grt_gru_recur_float, grt_q15_gru_recur,
 * grt_lstm_recur_float, grt_q15_lstm_recur), a whole Dense layer for n rows. elem:
 * bytes of a state or sequence element; acc: of a projection element. */
typedef void (*recur_cell)(const grt_layer *L, void *gi, size_t ldgi, void *h, size_t ldh, size_t B,
                           const chunk_mem *w);
typedef struct precision_cells {
    size_t elem, acc;
    void (*norm)(const grt_layer *L, const void *in, void *out, size_t n); /* a LayerNorm of n rows */
    void (*project)(const grt_layer *L, const void *in, size_t n, const chunk_mem *w);
    recur_cell gru, lstm;
    void (*dense)(const grt_layer *L, const void *in, void *out, size_t n, const chunk_mem *w);
    /* a Conv1D layer (grt_conv.h) over c steps of B streams; win: their B window states, ldwin apart */
    void (*conv)(const grt_layer *L, void *win, size_t ldwin, const void *in, void *out, size_t c, size_t B,
                 const chunk_mem *w);
    void (*embed)(const grt_layer *L, const void *in, void *out, size_t n); /* Embedding rows (1.5) */
} precision_cells;

/* Rows of a recurrent layer's gate pre-activations: 3H (GRU r, z, n) or 4H (LSTM i, f, g, o). */
static size_t gate_rows(const grt_layer *L)
{
    return (L->kind == GRT_LAYER_LSTM ? 4u : 3u) * (size_t)L->output_size;
}

/* The cells of a kind or feature that the build leaves out (GRT_NO_LSTM, ...) are not compiled, and the
 * layer loop's branches to them neither: a model needing them is refused by the loader. */
#if FLOAT_ACT
static void float_project(const grt_layer *L, const void *in, size_t n, const chunk_mem *w)
{
    size_t rows = gate_rows(L);
    grt_float_layer_product(L, GRT_ROLE_W_IH, 0, rows, (float *)w->proj, rows, (const float *)in, L->input_size,
                            n, (int8_t *)w->xq, (float *)w->sx);
}

static void float_gru(const grt_layer *L, void *gi, size_t ldgi, void *h, size_t ldh, size_t B, const chunk_mem *w)
{
    grt_gru_scratch s = {(float *)w->gh, (float *)w->rh, (int8_t *)w->hq, (float *)w->hsx};
    grt_gru_recur_float(L, (float *)gi, ldgi, (float *)h, ldh, B, s);
}

#if GRT_HAS_LSTM
static void float_lstm(const grt_layer *L, void *gi, size_t ldgi, void *h, size_t ldh, size_t B, const chunk_mem *w)
{
    grt_gru_scratch s = {(float *)w->gh, (float *)w->rh, (int8_t *)w->hq, (float *)w->hsx};
    grt_lstm_recur_float(L, (float *)gi, ldgi, (float *)h, ldh, B, s);
}
#endif

/* The products go to the outputs, which the activation then updates in place. */
static void float_dense(const grt_layer *L, const void *in, void *out, size_t n, const chunk_mem *w)
{
    size_t O = L->output_size;
    grt_float_layer_product(L, GRT_ROLE_W_IH, 0, O, (float *)out, O, (const float *)in, L->input_size, n,
                            (int8_t *)w->xq, (float *)w->sx);
    grt_dense_out_float(L, (float *)out, n);
}

#if GRT_HAS_LAYERNORM
static void float_norm(const grt_layer *L, const void *in, void *out, size_t n)
{
    grt_norm_float(L, (const float *)in, (float *)out, n);
}
#endif

#if GRT_HAS_CONV1D
/* The window rows go to w->proj (k·I floats a row: max_gates >= k·I + O), the outputs to out. */
static void float_conv(const grt_layer *L, void *win, size_t ldwin, const void *in, void *out, size_t c, size_t B,
                       const chunk_mem *w)
{
    grt_conv_float(L, (float *)win, ldwin, (const float *)in, (float *)out, c, B, (float *)w->proj, (int8_t *)w->xq,
                   (float *)w->sx);
}
#endif

static void float_embed(const grt_layer *L, const void *in, void *out, size_t n)
{
    grt_embed_float(L, (const float *)in, (float *)out, n);
}

/* f32 and q8 layers (which may mix in a model): each layer's precision picks its products. */
static const precision_cells float_cells = {
    .elem = sizeof(float), .acc = sizeof(float), .project = float_project, .gru = float_gru, .dense = float_dense,
    .embed = float_embed,
#if GRT_HAS_LAYERNORM
    .norm = float_norm,
#endif
#if GRT_HAS_LSTM
    .lstm = float_lstm,
#endif
#if GRT_HAS_CONV1D
    .conv = float_conv,
#endif
};
#endif

#if GRT_HAS_Q15
static void q15_project(const grt_layer *L, const void *in, size_t n, const chunk_mem *w)
{
    size_t rows = gate_rows(L);
    grt_q15_layer_product(L, GRT_ROLE_W_IH, 0, rows, (int32_t *)w->proj, rows, (const int16_t *)in, L->input_size,
                          n);
}

static void q15_gru(const grt_layer *L, void *gi, size_t ldgi, void *h, size_t ldh, size_t B, const chunk_mem *w)
{
    grt_q15_gru_scratch s = {(int32_t *)w->gh, (int16_t *)w->rh};
    grt_q15_gru_recur(L, (int32_t *)gi, ldgi, (int16_t *)h, ldh, B, s);
}

#if GRT_HAS_LSTM
static void q15_lstm(const grt_layer *L, void *gi, size_t ldgi, void *h, size_t ldh, size_t B, const chunk_mem *w)
{
    grt_q15_lstm_recur(L, (int32_t *)gi, ldgi, (int16_t *)h, ldh, B, (int32_t *)w->gh);
}
#endif

/* The products (int32) go to w->proj, the outputs (int16) to out. */
static void q15_dense(const grt_layer *L, const void *in, void *out, size_t n, const chunk_mem *w)
{
    size_t O = L->output_size;
    int32_t *g = (int32_t *)w->proj;
    grt_q15_layer_product(L, GRT_ROLE_W_IH, 0, O, g, O, (const int16_t *)in, L->input_size, n);
    for (size_t r = 0; r < n; r++)
        grt_q15_dense_out(L->activation, g + r * O, (int16_t *)out + r * O, O);
}

#if GRT_HAS_LAYERNORM
static void q15_norm(const grt_layer *L, const void *in, void *out, size_t n)
{
    grt_norm_q15(L, (const int16_t *)in, (int16_t *)out, n);
}
#endif

#if GRT_HAS_CONV1D
/* The products (n·O int32) to w->proj, the window rows (n·k·I int16) after them: max_gates >= k·I + O. */
static void q15_conv(const grt_layer *L, void *win, size_t ldwin, const void *in, void *out, size_t c, size_t B,
                     const chunk_mem *w)
{
    int32_t *g = (int32_t *)w->proj;
    grt_conv_q15(L, (int16_t *)win, ldwin, (const int16_t *)in, (int16_t *)out, c, B, g,
                 (int16_t *)(void *)(g + c * B * L->output_size));
}
#endif

static void q15_embed(const grt_layer *L, const void *in, void *out, size_t n)
{
    grt_embed_q15(L, (const int16_t *)in, (int16_t *)out, n);
}

static const precision_cells q15_cells = {
    .elem = sizeof(int16_t), .acc = sizeof(int32_t), .project = q15_project, .gru = q15_gru, .dense = q15_dense,
    .embed = q15_embed,
#if GRT_HAS_LAYERNORM
    .norm = q15_norm,
#endif
#if GRT_HAS_LSTM
    .lstm = q15_lstm,
#endif
#if GRT_HAS_CONV1D
    .conv = q15_conv,
#endif
};
#endif

/* The cells of each precision of this build (the loader admits no other layer). */
static const precision_cells *const cells[GRT_PREC_Q15 + 1] = {
#if GRT_HAS_F32
    [GRT_PREC_F32] = &float_cells,
#endif
#if GRT_HAS_Q8
    [GRT_PREC_Q8] = &float_cells,
#endif
#if GRT_HAS_Q15
    [GRT_PREC_Q15] = &q15_cells,
#endif
};

/* The input mask (grt_mask.c) in a layer's recurrence, step t of B streams (row b's state at state + b·ld
 * bytes: h, then an LSTM's c). Before the update each masked row's state is held: h in its output row
 * (free until then: the input was consumed by the projection), an LSTM's c in the rh scratch (B rows of
 * H: the LSTM update does not use it). After the update a masked row gets it back and outputs h, any
 * other row outputs its new h. So a masked step keeps the state and repeats h. w->masked NULL: no mask. */
static void hold_masked(const grt_layer *L, const chunk_mem *w, uint8_t *out, const uint8_t *state, size_t ld,
                        size_t elem, size_t B, size_t c, size_t t)
{
    size_t bytes = L->output_size * elem;
    for (size_t b = 0; GRT_HAS_MASK && w->masked != NULL && b < B; b++) {
        if (!w->masked[b * c + t])
            continue;
        grt_memcpy(out + (b * c + t) * bytes, state + b * ld, bytes);
        if (L->kind == GRT_LAYER_LSTM)
            grt_memcpy((uint8_t *)w->rh + b * bytes, state + b * ld + bytes, bytes);
    }
}

static void emit_or_restore(const grt_layer *L, const chunk_mem *w, uint8_t *out, uint8_t *state, size_t ld,
                            size_t elem, size_t B, size_t c, size_t t)
{
    size_t bytes = L->output_size * elem;
    for (size_t b = 0; b < B; b++) {
        uint8_t *y = out + (b * c + t) * bytes, *s = state + b * ld;
        if (!GRT_HAS_MASK || w->masked == NULL || !w->masked[b * c + t]) {
            grt_memcpy(y, s, bytes);
            continue;
        }
        grt_memcpy(s, y, bytes);
        if (L->kind == GRT_LAYER_LSTM)
            grt_memcpy(s + bytes, (const uint8_t *)w->rh + b * bytes, bytes);
    }
}

/* c steps of B streams (state: B rows of state_size elements; xs: c·B rows of input_size, stream by
 * stream, may be w->seq[1]) through every layer. Returns the last layer's c·B rows of output_size
 * inside w->seq. */
static const void *run_chunk(const grt_model *m, void *state, size_t B, const void *xs, size_t c,
                             const chunk_mem *w)
{
    const size_t n = c * B, S = m->state_size;
    const void *in = xs;
    for (uint32_t l = 0; l < m->n_layers; l++) {
        const grt_layer *L = &m->layers[l];
        const precision_cells *k = cells[L->precision];
        uint8_t *out = (uint8_t *)w->seq[l & 1];
        if (L->kind == GRT_LAYER_GRU || L->kind == GRT_LAYER_LSTM) {
            size_t rows = gate_rows(L);
            recur_cell recur = L->kind == GRT_LAYER_GRU ? k->gru : k->lstm;
            uint8_t *h = (uint8_t *)state + L->state_offset * k->elem; /* LSTM: h, then c */
            /* The whole chunk's input projection first: it consumes `in` (even when it is w->seq[1])
             * before anything writes `out`. Then step t of every stream: projection rows b·c + t, c·rows
             * apart. */
            k->project(L, in, n, w);
            for (size_t t = 0; t < c; t++) {
                hold_masked(L, w, out, h, S * k->elem, k->elem, B, c, t);
                recur(L, (uint8_t *)w->proj + t * rows * k->acc, c * rows, h, S, B, w);
                emit_or_restore(L, w, out, h, S * k->elem, k->elem, B, c, t);
            }
        } else if (GRT_HAS_LAYERNORM && L->kind == GRT_LAYER_NORM) {
            k->norm(L, in, out, n);
        } else if (GRT_HAS_CONV1D && L->kind == GRT_LAYER_CONV1D) {
            k->conv(L, (uint8_t *)state + L->state_offset * k->elem, S, in, out, c, B, w);
        } else if (L->kind == GRT_LAYER_EMBEDDING) {
            k->embed(L, in, out, n);
        } else {
            k->dense(L, in, out, n, w);
        }
        in = out;
    }
    return in;
}

/* The chunk's input rows in the model's elements (order as chunk_in): a q15 model's float inputs
 * (boundary) quantized into buf, else the caller's rows as they are. */
static const void *model_chunk_in(const grt_model *m, const seq_io *io, int boundary, size_t B, size_t t0,
                                  size_t c, void *buf)
{
    size_t I = m->input_size;
#if GRT_HAS_Q15 && GRT_HAS_FLOAT_BOUNDARY
    if (boundary) {
        int16_t *q = (int16_t *)buf;
        for (size_t b = 0; b < B; b++)
            for (size_t t = 0; t < c; t++)
                grt_q15_quantize_input(m, (const float *)(const void *)in_row(io, b, t0 + t, I * sizeof(float)),
                                       q + (b * c + t) * I);
        return buf;
    }
#else
    (void)boundary;
#endif
    return chunk_in(io, B, t0, c, I * elem_of(m), buf);
}

/* The chunk's outputs to the caller's rows: dequantized (boundary) or copied. */
static void model_chunk_out(const grt_model *m, const seq_io *io, int boundary, const void *out, size_t B,
                            size_t t0, size_t c)
{
    size_t O = m->output_size;
#if GRT_HAS_Q15 && GRT_HAS_FLOAT_BOUNDARY
    if (boundary) {
        const int16_t *q = (const int16_t *)out;
        for (size_t b = 0; b < B; b++)
            for (size_t t = 0; t < c; t++)
                grt_q15_dequantize_output(m, q + (b * c + t) * O,
                                          (float *)(void *)out_row(io, b, t0 + t, O * sizeof(float)));
        return;
    }
#else
    (void)boundary;
#endif
    chunk_out(io, out, B, t0, c, O * elem_of(m));
}

/* The n-row regions of w from the run work. */
static void work_regions(chunk_mem *w, const grt_model *m, void *work, size_t n)
{
    uint8_t *p = (uint8_t *)work;
    w->proj = p;
    w->seq[0] = p += n * proj_rows(m) * sizeof(int32_t);
    w->seq[1] = p += n * m->max_width * elem_of(m);
    w->sx = p += n * m->max_width * elem_of(m);
    w->xq = p += has_q8(m) ? n * sizeof(float) : 0;
    w->masked = has_mask(m) ? p + (has_q8(m) ? n * m->max_width : 0) : NULL;
}

/* One row in the stream's own memory: a single step, and the recurrence scratch of grt_stream_run. */
static chunk_mem stream_regions(const grt_stream *stream)
{
    stream_layout s = layout_of(stream->model);
    chunk_mem w;
    w.proj = scratch_at(stream, &s, s.gx);
    w.seq[0] = scratch_at(stream, &s, s.buf0);
    w.seq[1] = scratch_at(stream, &s, s.buf1);
    w.sx = scratch_at(stream, &s, s.sx);
    w.xq = scratch_at(stream, &s, s.xq);
    w.gh = scratch_at(stream, &s, s.gh);
    w.rh = scratch_at(stream, &s, s.rh);
    w.hq = scratch_at(stream, &s, s.hq);
    w.hsx = w.sx; /* the recurrence's one scale: the input projection is done with sx by then */
    w.masked = has_mask(stream->model) ? (uint8_t *)scratch_at(stream, &s, s.mask) : NULL;
    return w;
}

/* Where a run's memory comes from: the stream's own for what the others leave NULL (a single step is
 * all in the stream; grt_stream_run adds its run work; a batch gives everything from its work). */
typedef struct run_mem {
    const grt_stream *stream; /* NULL for a batch */
    void *run;                /* the run work for chunk·B rows; NULL: one row in the stream's memory */
    void *gh, *rh, *hq, *hsx; /* the recurrence scratch of B rows; NULL: the stream's (B = 1) */
} run_mem;

/* Steps [t_begin, t_end) of B streams whose states are the B rows of `state` (rows in io; int16 with
 * q15_api, else float, converted at the boundary for a q15 model), in chunks of `chunk` steps. The
 * callers have checked that this build runs the model through this API. */
static void run_rows(const grt_model *m, void *state, size_t B, const seq_io *io, size_t t_begin, size_t t_end,
                     int q15_api, size_t chunk, run_mem r)
{
    chunk_mem w = r.stream ? stream_regions(r.stream) : (chunk_mem){0};
    if (r.run)
        work_regions(&w, m, r.run, chunk * B);
    if (r.gh) {
        w.gh = r.gh;
        w.rh = r.rh;
        w.hq = r.hq;
        w.hsx = r.hsx;
    }
    int boundary = m->q15 && !q15_api;
    for (size_t t0 = t_begin; t0 < t_end; t0 += chunk) {
        size_t c = t_end - t0 < chunk ? t_end - t0 : chunk;
        const void *in = model_chunk_in(m, io, boundary, B, t0, c, w.seq[1]);
        if (GRT_HAS_MASK && w.masked != NULL)
            grt_mask_rows(m, in, c * B, w.masked);
        model_chunk_out(m, io, boundary, run_chunk(m, state, B, in, c, &w), B, t0, c);
    }
}

/* Padded sequences: stream b's T steps start at row b·T of xs and ys. */
static seq_io padded_io(const void *xs, size_t T, void *ys)
{
    seq_io io = {xs, ys, T, NULL, NULL, NULL};
    return io;
}

/* A stream's own memory, plus a run work buffer (or NULL). */
static run_mem stream_mem(const grt_stream *stream, void *run)
{
    run_mem r = {stream, run, NULL, NULL, NULL, NULL};
    return r;
}

static int stream_ok(const grt_stream *stream)
{
    return stream != NULL && model_ok(stream->model);
}

/* Does this build run the model through this API (float or int16)? */
static int api_ok(const grt_model *m, int q15_api)
{
    if (q15_api)
        return m->q15;
    return m->q15 ? GRT_HAS_FLOAT_BOUNDARY : FLOAT_ACT; /* GRT_NO_FLOAT_BOUNDARY: no float API for q15 */
}

/* The token ids of n input rows (1.5: a model whose layer 0 is an Embedding has input_size 1, one id a
 * row): all integers in [0, vocab)? Always 1 for other models. The float API's ids are floats, also
 * for a q15 model (the boundary passes them unchanged: in_scale 1). */
static int ids_ok(const grt_model *m, int q15_api, const void *xs, size_t n)
{
    const grt_layer *L = &m->layers[0];
    if (L->kind != GRT_LAYER_EMBEDDING)
        return 1;
#if GRT_HAS_Q15
    if (q15_api)
        return grt_embed_ids_q15(L, (const int16_t *)xs, n);
#endif
#if FLOAT_ACT || GRT_HAS_FLOAT_BOUNDARY
    if (!q15_api)
        return grt_embed_ids_float(L, (const float *)xs, n);
#endif
    return 0;
}

/* ---- one stream ----------------------------------------------------------------------------------- */

void grt_stream_step(grt_stream *stream, const float *x, float *y)
{
    if (stream == NULL || stream->model == NULL || x == NULL || y == NULL)
        return;
    /* GRT_NO_FLOAT_BOUNDARY: no float API for a q15 model, nothing changes. x is read completely (the
     * first projection, or the boundary) before y is written, so x and y may be the same array. */
    if (api_ok(stream->model, 0) && ids_ok(stream->model, 0, x, 1)) {
        seq_io io = padded_io(x, 1, y);
        run_rows(stream->model, stream->state, 1, &io, 0, 1, 0, 1, stream_mem(stream, NULL));
    }
}

grt_status grt_stream_step_q15(grt_stream *stream, const int16_t *x, int16_t *y)
{
    if (!stream_ok(stream) || x == NULL || y == NULL)
        return GRT_E_ARG;
    if (!stream->model->q15)
        return GRT_E_PRECISION;
    if (!ids_ok(stream->model, 1, x, 1))
        return GRT_E_ARG;
    seq_io io = padded_io(x, 1, y);
    run_rows(stream->model, stream->state, 1, &io, 0, 1, 1, 1, stream_mem(stream, NULL));
    return GRT_OK;
}

/* One step on a token id (1.5): x = {id} through the float or the int16 API. */
static grt_status step_token(grt_stream *stream, uint32_t id, int q15_api, void *y)
{
    if (!stream_ok(stream) || y == NULL)
        return GRT_E_ARG;
    const grt_model *m = stream->model;
    if (m->layers[0].kind != GRT_LAYER_EMBEDDING)
        return GRT_E_LAYER_KIND;
    if (!api_ok(m, q15_api))
        return GRT_E_PRECISION;
    if (id >= m->layers[0].vocab_size) /* <= 2^24 (f32, q8) or 2^15 (q15): exact as a float, an int16 */
        return GRT_E_ARG;
#if GRT_HAS_Q15
    if (q15_api) {
        int16_t x = (int16_t)id;
        return grt_stream_step_q15(stream, &x, (int16_t *)y);
    }
#endif
#if FLOAT_ACT || GRT_HAS_FLOAT_BOUNDARY
    float x = (float)id;
    grt_stream_step(stream, &x, (float *)y);
#endif
    return GRT_OK;
}

grt_status grt_stream_step_token(grt_stream *stream, uint32_t id, float *y)
{
    return step_token(stream, id, 0, y);
}

grt_status grt_stream_step_token_q15(grt_stream *stream, uint32_t id, int16_t *y)
{
    return step_token(stream, id, 1, y);
}

/* The checks both run functions make, in this order: a usable stream (GRT_E_ARG), an API the model
 * and build support (GRT_E_PRECISION), T = 0 (GRT_OK, nothing touched), the pointers (GRT_E_ARG), a
 * work buffer holding at least one step (GRT_E_BUFFER). *chunk: steps per pass. */
static grt_status run_chunk_steps(const grt_stream *stream, int q15_api, const void *xs, size_t T, const void *ys,
                                  const void *work, size_t work_size, size_t *chunk)
{
    if (!stream_ok(stream))
        return GRT_E_ARG;
    if (!api_ok(stream->model, q15_api))
        return GRT_E_PRECISION;
    if (T == 0)
        return GRT_OK;
    if (xs == NULL || ys == NULL || work == NULL)
        return GRT_E_ARG;
    size_t c = work_chunk(stream->model, work, work_size);
    if (c < 1)
        return GRT_E_BUFFER;
    if (!ids_ok(stream->model, q15_api, xs, T))
        return GRT_E_ARG;
    *chunk = c < T ? c : T;
    return GRT_OK;
}

static grt_status stream_run(grt_stream *stream, int q15_api, const void *xs, size_t T, void *ys, void *work,
                             size_t work_size)
{
    size_t chunk = 0;
    grt_status st = run_chunk_steps(stream, q15_api, xs, T, ys, work, work_size, &chunk);
    if (st == GRT_OK && T > 0) {
        seq_io io = padded_io(xs, T, ys);
        run_rows(stream->model, stream->state, 1, &io, 0, T, q15_api, chunk, stream_mem(stream, work));
    }
    return st;
}

grt_status grt_stream_run(grt_stream *stream, const float *xs, size_t T, float *ys, void *work, size_t work_size)
{
    return stream_run(stream, 0, xs, T, ys, work, work_size);
}

grt_status grt_stream_run_q15(grt_stream *stream, const int16_t *xs, size_t T, int16_t *ys, void *work,
                              size_t work_size)
{
    return stream_run(stream, 1, xs, T, ys, work, work_size);
}

/* ---- batches of streams --------------------------------------------------------------------------- */

static size_t state_bytes(const grt_model *m)
{
    return m->state_size * elem_of(m);
}

/* Sorting stream indices (heapsort: O(B log B), no allocation) by a key: the state's address (the
 * distinctness check) or the sequence length (ragged runs, longest first). */
typedef uintmax_t (*sort_key)(const void *ctx, uint32_t i);

static uintmax_t state_address(const void *streams, uint32_t i)
{
    return (uintptr_t)((grt_stream *const *)streams)[i]->state;
}

static uintmax_t longest_first(const void *lengths, uint32_t i)
{
    return ~(uintmax_t)((const size_t *)lengths)[i];
}

/* Heapsort step: move order[root] down until both children sort before it. */
static void sift_down(uint32_t *order, size_t root, size_t n, sort_key key, const void *ctx)
{
    for (;;) {
        size_t child = 2 * root + 1;
        if (child >= n)
            return;
        if (child + 1 < n && key(ctx, order[child]) < key(ctx, order[child + 1]))
            child++;
        if (key(ctx, order[root]) >= key(ctx, order[child]))
            return;
        uint32_t t = order[root];
        order[root] = order[child];
        order[child] = t;
        root = child;
    }
}

/* order[0, B) = 0 .. B - 1 sorted by increasing key. */
static void sort_indices(uint32_t *order, size_t B, sort_key key, const void *ctx)
{
    for (size_t i = 0; i < B; i++)
        order[i] = (uint32_t)i;
    for (size_t i = B / 2; i-- > 0;)
        sift_down(order, i, B, key, ctx);
    for (size_t end = B; end-- > 1;) {
        uint32_t t = order[0];
        order[0] = order[end];
        order[end] = t;
        sift_down(order, 0, end, key, ctx);
    }
}

/* Are the B streams' states pairwise disjoint (`bytes` each; equal addresses count as overlapping
 * even for an empty state)? The indices are sorted by address in order[0, B), then neighbours
 * compared. Two handles on one stream's memory (the same grt_stream twice, or a copy of one) share
 * their state. */
static int states_disjoint(grt_stream *const *streams, size_t B, size_t bytes, uint32_t *order)
{
    sort_indices(order, B, state_address, (const void *)streams);
    size_t gap = bytes > 0 ? bytes : 1;
    for (size_t k = 0; k + 1 < B; k++)
        if (state_address(streams, order[k + 1]) - state_address(streams, order[k]) < gap)
            return 0;
    return 1;
}

/* The model of a batch: that of every member, or NULL (a NULL array or member, an unbound stream,
 * members bound to different grt_model structs, more than 2^32 - 1 streams). */
static const grt_model *batch_model(grt_stream *const *streams, size_t B)
{
    /* B == (uint32_t)B: at most 2^32 - 1 streams, without a comparison that 32-bit targets flag as
     * always false */
    if (streams == NULL || B != (size_t)(uint32_t)B || !stream_ok(streams[0]))
        return NULL;
    const grt_model *m = streams[0]->model;
    for (size_t b = 1; b < B; b++)
        if (streams[b] == NULL || streams[b]->model != m)
            return NULL;
    return m;
}

/* The checks of the batch functions, in this order: B = 0 (GRT_OK, nothing touched); the streams
 * (batch_model: GRT_E_ARG); an API the model and build support (GRT_E_PRECISION); T = 0 (GRT_OK); the
 * other pointers (GRT_E_ARG); a work buffer holding at least one step (GRT_E_BUFFER); distinct streams
 * (GRT_E_ARG). *chunk: steps per pass, 0 when there is nothing to do. */
static grt_status batch_checks(grt_stream *const *streams, size_t B, int q15_api, const void *xs, size_t T,
                               const void *ys, void *work, size_t work_size, size_t *chunk)
{
    *chunk = 0;
    if (B == 0)
        return GRT_OK;
    const grt_model *m = batch_model(streams, B);
    if (m == NULL)
        return GRT_E_ARG;
    if (!api_ok(m, q15_api))
        return GRT_E_PRECISION;
    if (T == 0)
        return GRT_OK;
    if (xs == NULL || ys == NULL || work == NULL)
        return GRT_E_ARG;
    size_t c = batch_chunk(m, B, work, work_size);
    if (c < 1)
        return GRT_E_BUFFER;
    batch_layout bl;
    batch_layout_of(m, B, &bl); /* cannot overflow: batch_chunk succeeded */
    if (!states_disjoint(streams, B, state_bytes(m), (uint32_t *)(void *)((uint8_t *)work + bl.order)))
        return GRT_E_ARG;
    *chunk = c < T ? c : T;
    return GRT_OK;
}

/* Run the B streams (checked by batch_checks, steps per pass `chunk`) over the sequences of io, after
 * gathering their states as B contiguous rows (so that each layer's U·h is one product over them),
 * then scatter the states back. Row b is stream order[b] (NULL: stream b). Padded (lengths NULL): T
 * steps of every stream. Ragged: lengths[order[b]] steps of row b, the lengths not increasing along
 * the rows; the rows still running are a prefix, which shrinks as sequences end. */
static void run_batch(grt_stream *const *streams, size_t B, const uint32_t *order, const size_t *lengths,
                      const seq_io *io, int q15_api, size_t chunk, void *work)
{
    const grt_model *m = streams[0]->model;
    batch_layout bl;
    batch_layout_of(m, B, &bl);
    uint8_t *w = (uint8_t *)work;
    size_t bytes = state_bytes(m);
    for (size_t b = 0; b < B; b++)
        grt_memcpy(w + bl.state + b * bytes, streams[order ? order[b] : b]->state, bytes);
    run_mem r = {NULL, w + bl.run, w + bl.gh, w + bl.rh, w + bl.hq, w + bl.hsx};
    if (lengths == NULL) {
        run_rows(m, w + bl.state, B, io, 0, io->T, q15_api, chunk, r);
    } else {
        size_t t = 0, active = B;
        for (;;) {
            while (active > 0 && lengths[order[active - 1]] <= t)
                active--;
            if (active == 0)
                break;
            size_t end = lengths[order[active - 1]];
            run_rows(m, w + bl.state, active, io, t, end, q15_api, chunk, r);
            t = end;
        }
    }
    for (size_t b = 0; b < B; b++)
        grt_memcpy(streams[order ? order[b] : b]->state, w + bl.state + b * bytes, bytes);
}

static grt_status streams_run(grt_stream *const *streams, size_t B, int q15_api, const void *xs, size_t T, void *ys,
                              void *work, size_t work_size)
{
    size_t chunk;
    grt_status st = batch_checks(streams, B, q15_api, xs, T, ys, work, work_size, &chunk);
    if (st != GRT_OK || chunk == 0)
        return st;
    if (!ids_ok(streams[0]->model, q15_api, xs, B * T))
        return GRT_E_ARG;
    seq_io io = padded_io(xs, T, ys);
    run_batch(streams, B, NULL, NULL, &io, q15_api, chunk, work);
    return GRT_OK;
}

/* Ragged sequences: the checks of batch_checks plus the per-member pointers (in the order of
 * gru_rt.h), then the rows sorted longest first in the work's order region (after batch_checks'
 * distinctness check, which used it). */
static grt_status streams_run_ragged(grt_stream *const *streams, size_t B, int q15_api, const void *const *xs,
                                     const size_t *lengths, void *const *ys, void *work, size_t work_size)
{
    if (B == 0)
        return GRT_OK;
    const grt_model *m = batch_model(streams, B);
    if (m == NULL)
        return GRT_E_ARG;
    if (!api_ok(m, q15_api))
        return GRT_E_PRECISION;
    if (xs == NULL || lengths == NULL || ys == NULL)
        return GRT_E_ARG;
    size_t longest = 0;
    for (size_t b = 0; b < B; b++) {
        if (lengths[b] > 0 && (xs[b] == NULL || ys[b] == NULL))
            return GRT_E_ARG;
        longest = lengths[b] > longest ? lengths[b] : longest;
    }
    size_t chunk;
    /* longest = 0: GRT_OK with nothing to do, once work has been checked (xs stands for a non-NULL
     * pointer there) */
    grt_status st = batch_checks(streams, B, q15_api, xs, longest > 0 ? longest : 1, ys, work, work_size, &chunk);
    if (st != GRT_OK || longest == 0)
        return st;
    for (size_t b = 0; b < B; b++)
        if (lengths[b] > 0 && !ids_ok(m, q15_api, xs[b], lengths[b]))
            return GRT_E_ARG;
    batch_layout bl;
    batch_layout_of(m, B, &bl);
    uint32_t *order = (uint32_t *)(void *)((uint8_t *)work + bl.order);
    sort_indices(order, B, longest_first, (const void *)lengths);
    seq_io io = {NULL, NULL, 0, xs, ys, order};
    run_batch(streams, B, order, lengths, &io, q15_api, chunk, work);
    return GRT_OK;
}

grt_status grt_streams_step(grt_stream *const *streams, size_t B, const float *xs, float *ys, void *work,
                            size_t work_size)
{
    return streams_run(streams, B, 0, xs, 1, ys, work, work_size);
}

grt_status grt_streams_step_q15(grt_stream *const *streams, size_t B, const int16_t *xs, int16_t *ys, void *work,
                                size_t work_size)
{
    return streams_run(streams, B, 1, xs, 1, ys, work, work_size);
}

grt_status grt_streams_run(grt_stream *const *streams, size_t B, const float *xs, size_t T, float *ys, void *work,
                           size_t work_size)
{
    return streams_run(streams, B, 0, xs, T, ys, work, work_size);
}

grt_status grt_streams_run_q15(grt_stream *const *streams, size_t B, const int16_t *xs, size_t T, int16_t *ys,
                               void *work, size_t work_size)
{
    return streams_run(streams, B, 1, xs, T, ys, work, work_size);
}

grt_status grt_streams_run_ragged(grt_stream *const *streams, size_t B, const float *const *xs, const size_t *lengths,
                                  float *const *ys, void *work, size_t work_size)
{
    return streams_run_ragged(streams, B, 0, (const void *const *)xs, lengths, (void *const *)ys, work, work_size);
}

grt_status grt_streams_run_ragged_q15(grt_stream *const *streams, size_t B, const int16_t *const *xs,
                                      const size_t *lengths, int16_t *const *ys, void *work, size_t work_size)
{
    return streams_run_ragged(streams, B, 1, (const void *const *)xs, lengths, (void *const *)ys, work, work_size);
}

/* ---- whole sequences: grt_model_run ------------------------------------------------------------
 * Layer by layer over all T steps (a reverse layer needs the last step first). Work memory for T
 * steps: the run work of grt_stream_run for n = T rows (proj, seq0/seq1, with a q8 layer sx and xq,
 * with an input mask the masked flags), then, each on a 64-byte multiple, one row of recurrence
 * scratch: h 2·max_width elements (one direction's state: H <= max_width, an LSTM's h and c), gh max_gates int32/float, rh max_width elements, and with a q8
 * layer hq max_width int8 and hsx one float; with a Conv1D layer, a zeroed stream state (state_size
 * elements) for its window of past frames: zeros before step 0, as in a new stream. Every step uses
 * the cells of the streams, so a forward layer gives the bits of grt_stream_run. */

typedef struct whole_layout {
    size_t h, gh, rh, hq, hsx, win, total; /* byte offsets after the run work of T rows, and the total */
} whole_layout;

static int has_conv(const grt_model *m)
{
    for (uint32_t i = 0; GRT_HAS_CONV1D && i < m->n_layers; i++)
        if (m->layers[i].kind == GRT_LAYER_CONV1D)
            return 1;
    return 0;
}

static whole_layout whole_layout_of(const grt_model *m, size_t T)
{
    whole_layout wl;
    size_t act = elem_of(m);
    int q8 = has_q8(m);
    size_t run = mul_sat(T, run_bytes_per_step(m));
    wl.h = line_sat(run);
    wl.gh = add_sat(wl.h, round_line(2 * m->max_width * act)); /* an LSTM's h and c */
    wl.rh = add_sat(wl.gh, round_line(m->max_gates * sizeof(int32_t)));
    wl.hq = add_sat(wl.rh, round_line(m->max_width * act));
    wl.hsx = add_sat(wl.hq, q8 ? round_line(m->max_width) : 0);
    wl.win = add_sat(wl.hsx, q8 ? round_line(sizeof(float)) : 0);
    wl.total = add_sat(wl.win, has_conv(m) ? round_line(m->state_size * act) : 0);
    return wl;
}

size_t grt_model_run_work_size(const grt_model *model, size_t T)
{
    if (!model_ok(model) || T == 0)
        return 0;
    size_t total = whole_layout_of(model, T).total;
    return total > SATURATED_SIZE ? SATURATED_SIZE : total;
}

/* Step t's h (H elements) into output row y (of the layer's merged outputs): the forward or only
 * direction (dir 0) writes its part, the backward one (dir 1) its concat half or the merge. */
static void merge_step(const grt_layer *L, unsigned dir, size_t H, uint8_t *y, const uint8_t *h, size_t elem)
{
    if (!GRT_HAS_BIDIR || dir == 0 || L->merge == GRT_MERGE_CONCAT) {
        grt_memcpy(y + dir * H * elem, h, H * elem);
        return;
    }
#if GRT_HAS_Q15
    if (L->precision == GRT_PREC_Q15) {
        int16_t *a = (int16_t *)(void *)y;
        const int16_t *b = (const int16_t *)(const void *)h;
        for (size_t j = 0; j < H; j++)
            a[j] = grt_q15_sat16(L->merge == GRT_MERGE_AVE ? grt_q15_rshr((int64_t)a[j] + b[j], 1)
                                                           : grt_q15_rshr((int64_t)a[j] * b[j], 15));
        return;
    }
#endif
#if FLOAT_ACT
    float *a = (float *)(void *)y;
    const float *b = (const float *)(const void *)h;
    for (size_t j = 0; j < H; j++)
        a[j] = L->merge == GRT_MERGE_SUM ? a[j] + b[j]
             : L->merge == GRT_MERGE_AVE ? (a[j] + b[j]) * 0.5f
                                         : a[j] * b[j];
#endif
}

/* Recurrent layer l (GRU or LSTM) over the whole sequence (in: T rows, out: T rows of output_size),
 * each direction from a zero state h (an LSTM's h then c). A masked step (w->masked, the input mask)
 * keeps the state and outputs it, in either direction, as in run_chunk. */
static void whole_recurrent(const grt_model *m, uint32_t l, const void *in, size_t T, uint8_t *out, void *h,
                            const chunk_mem *w)
{
    const grt_layer *L = &m->layers[l];
    const precision_cells *k = cells[L->precision];
    recur_cell recur = L->kind == GRT_LAYER_GRU ? k->gru : k->lstm;
    size_t out_bytes = L->output_size * k->elem;
    unsigned dirs = GRT_HAS_BIDIR && L->direction == GRT_DIR_BIDIRECTIONAL ? 2u : 1u;
    for (unsigned dir = 0; dir < dirs; dir++) {
        grt_layer D;
        grt_layer_direction(m, l, dir, &D);
        int backwards = GRT_HAS_BIDIR && (L->direction == GRT_DIR_REVERSE || dir == 1);
        size_t H = D.output_size, rows = gate_rows(&D), S = L->kind == GRT_LAYER_LSTM ? 2 * H : H;
        grt_memset(h, 0, S * k->elem);
        k->project(&D, in, T, w);
        for (size_t s = 0; s < T; s++) {
            size_t t = backwards ? T - 1 - s : s;
            if (!GRT_HAS_MASK || w->masked == NULL || !w->masked[t])
                recur(&D, (uint8_t *)w->proj + t * rows * k->acc, rows, h, S, 1, w);
            merge_step(L, dir, H, out + t * out_bytes, (const uint8_t *)h, k->elem);
        }
    }
}

static grt_status model_run(const grt_model *m, int q15_api, const void *xs, size_t T, void *ys, void *work,
                            size_t work_size)
{
    if (!model_ok(m))
        return GRT_E_ARG;
    if (!api_ok(m, q15_api))
        return GRT_E_PRECISION;
    if (T == 0)
        return GRT_OK;
    if (xs == NULL || ys == NULL || work == NULL)
        return GRT_E_ARG;
    if (!float_aligned(work) || work_size < grt_model_run_work_size(m, T) ||
        grt_model_run_work_size(m, T) == SATURATED_SIZE)
        return GRT_E_BUFFER;
    if (!ids_ok(m, q15_api, xs, T))
        return GRT_E_ARG;
    whole_layout wl = whole_layout_of(m, T);
    uint8_t *p = (uint8_t *)work;
    chunk_mem w;
    work_regions(&w, m, work, T);
    w.gh = p + wl.gh;
    w.rh = p + wl.rh;
    w.hq = p + wl.hq;
    w.hsx = p + wl.hsx;
    seq_io io = padded_io(xs, T, ys);
    int boundary = m->q15 && !q15_api;
    const void *in = model_chunk_in(m, &io, boundary, 1, 0, T, w.seq[1]);
    if (GRT_HAS_MASK && w.masked != NULL)
        grt_mask_rows(m, in, T, w.masked);
    if (has_conv(m))
        grt_memset(p + wl.win, 0, m->state_size * elem_of(m));
    for (uint32_t l = 0; l < m->n_layers; l++) {
        const grt_layer *L = &m->layers[l];
        uint8_t *out = (uint8_t *)w.seq[l & 1];
        if (L->kind == GRT_LAYER_GRU || L->kind == GRT_LAYER_LSTM)
            whole_recurrent(m, l, in, T, out, p + wl.h, &w);
        else if (GRT_HAS_CONV1D && L->kind == GRT_LAYER_CONV1D) /* the causal window over all T steps */
            cells[L->precision]->conv(L, p + wl.win + L->state_offset * elem_of(m), m->state_size, in, out, T, 1,
                                      &w);
        else if (GRT_HAS_LAYERNORM && L->kind == GRT_LAYER_NORM)
            cells[L->precision]->norm(L, in, out, T);
        else if (L->kind == GRT_LAYER_EMBEDDING)
            cells[L->precision]->embed(L, in, out, T);
        else
            cells[L->precision]->dense(L, in, out, T, &w);
        in = out;
    }
    model_chunk_out(m, &io, boundary, in, 1, 0, T);
    return GRT_OK;
}

grt_status grt_model_run(const grt_model *model, const float *xs, size_t T, float *ys, void *work, size_t work_size)
{
    return model_run(model, 0, xs, T, ys, work, work_size);
}

grt_status grt_model_run_q15(const grt_model *model, const int16_t *xs, size_t T, int16_t *ys, void *work,
                             size_t work_size)
{
    return model_run(model, 1, xs, T, ys, work, work_size);
}
