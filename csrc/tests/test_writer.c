#include "test_writer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gru_rt.h"
#include "test_util.h"

void tw_put_u8(uint8_t *buf, size_t off, uint8_t v)
{
    buf[off] = v;
}

void tw_put_u16(uint8_t *buf, size_t off, uint16_t v)
{
    buf[off] = (uint8_t)v;
    buf[off + 1] = (uint8_t)(v >> 8);
}

void tw_put_u32(uint8_t *buf, size_t off, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        buf[off + (size_t)i] = (uint8_t)(v >> (8 * i));
}

uint16_t tw_get_u16(const uint8_t *buf, size_t off)
{
    return (uint16_t)(buf[off] | (buf[off + 1] << 8));
}

uint32_t tw_get_u32(const uint8_t *buf, size_t off)
{
    return (uint32_t)buf[off] | ((uint32_t)buf[off + 1] << 8) | ((uint32_t)buf[off + 2] << 16) |
           ((uint32_t)buf[off + 3] << 24);
}

void tw_fix_crc(uint8_t *buf, size_t size)
{
    tw_put_u32(buf, 20, 0);
    tw_put_u32(buf, 20, grt_crc32(0, buf, size));
}

size_t tw_layer_field(uint32_t i, size_t field)
{
    return 64 + 32 * (size_t)i + field;
}

size_t tw_tensor_field(const uint8_t *buf, uint32_t k, size_t field)
{
    return tw_get_u32(buf, 40) + 32 * (size_t)k + field;
}

size_t tw_tensor_data(const uint8_t *buf, uint32_t k)
{
    return tw_get_u32(buf, 52) + tw_get_u32(buf, tw_tensor_field(buf, k, 16));
}

uint32_t tw_f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

float tw_bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

uint16_t tw_bf16_up(float f)
{
    uint32_t u = tw_f32_bits(f);
    if (u & 0xFFFFu)
        u = (u + 0x10000u) & 0xFFFF0000u;
    return (uint16_t)(u >> 16);
}

static size_t round64(size_t v)
{
    return (v + 63) / 64 * 64;
}

typedef struct tw_tensor {
    uint8_t role, dtype;
    uint32_t layer, rows, cols;
    uint32_t stored_rows; /* rows in the file: a multiple of 8 for panel8 weight matrices */
} tw_tensor;

static size_t dtype_size(uint8_t dtype)
{
    return dtype == GRT_DTYPE_I8 ? 1 : dtype == GRT_DTYPE_I16 || dtype == GRT_DTYPE_BF16 ? 2 : 4;
}

#define MAX_TENSORS (8 * GRT_MAX_LAYERS)

/* A GRU's direction and merge (packed as test_writer.h says). */
static uint8_t gru_dir(const tw_layer *L)
{
    return L->kind == GRT_LAYER_GRU ? (uint8_t)(L->reset_after >> 1 & 3) : GRT_DIR_FORWARD;
}

static uint8_t gru_merge(const tw_layer *L)
{
    return L->kind == GRT_LAYER_GRU ? (uint8_t)(L->reset_after >> 3) : GRT_MERGE_NONE;
}

/* A layer's units: its outputs, one direction's hidden size H for a bidirectional concat GRU (2H). */
static uint32_t units(const tw_layer *L)
{
    return gru_dir(L) == GRT_DIR_BIDIRECTIONAL && gru_merge(L) == GRT_MERGE_CONCAT ? L->out / 2 : L->out;
}

/* Tensor sets of a layer: two for a bidirectional GRU (forward, then backward), else one. */
static uint32_t directions(const tw_layer *L)
{
    return gru_dir(L) == GRT_DIR_BIDIRECTIONAL ? 2u : 1u;
}

/* Rows of a layer's w_ih: the gate blocks of a recurrent layer (GRU 3, LSTM 4), the outputs of a Dense. */
static uint32_t gate_rows(const tw_layer *L)
{
    return (L->kind == GRT_LAYER_LSTM ? 4u : L->kind == GRT_LAYER_GRU ? 3u : 1u) * units(L);
}

/* The weight layout tw_build gives a layer. */
/* A Conv1D layer's kernel size, dilation and depthwise flag (packed as test_writer.h says). */
static uint32_t conv_k(const tw_layer *L)
{
    return L->gate;
}

static uint32_t conv_d(const tw_layer *L)
{
    return (uint32_t)L->reset_after >> 1;
}

static int conv_dw(const tw_layer *L)
{
    return L->reset_after & 1;
}

/* Columns of w_ih: I, or a Conv1D's k·I (k when depthwise). */
static uint32_t w_cols(const tw_layer *L)
{
    if (L->kind != GRT_LAYER_CONV1D)
        return L->in;
    return conv_dw(L) ? conv_k(L) : conv_k(L) * L->in;
}

static uint8_t layer_layout(const tw_layer *L, const tw_options *opt)
{
    int eligible = L->prec == GRT_PREC_F32 && L->kind != GRT_LAYER_NORM && L->kind != GRT_LAYER_CONV1D &&
                   L->kind != GRT_LAYER_EMBEDDING &&
                   (L->kind == GRT_LAYER_DENSE || L->out % 8 == 0);
    return opt->panel8 && eligible && gru_dir(L) == GRT_DIR_FORWARD ? GRT_LAYOUT_PANEL8 : GRT_LAYOUT_ROW_MAJOR;
}

/* The tensors of the layers, in file order (the loader's recipes); returns their count. */
static size_t list_tensors(const tw_layer *layers, size_t n_layers, const tw_options *opt, tw_tensor *t)
{
    size_t k = 0;
    for (size_t i = 0; i < n_layers; i++) {
        const tw_layer *L = &layers[i];
        uint32_t li = (uint32_t)i, I = L->in, R = gate_rows(L);
        if (L->kind == GRT_LAYER_EMBEDDING) { /* 1.5: q8 [row scales], q15 [in_scale, out_scale], table */
            uint8_t tt = L->prec == GRT_PREC_Q15 ? GRT_DTYPE_I16 : L->prec == GRT_PREC_Q8 ? GRT_DTYPE_I8
                                                                                           : GRT_DTYPE_F32;
            if (L->prec == GRT_PREC_Q8)
                t[k++] = (tw_tensor){GRT_ROLE_W_IH_SCALE, GRT_DTYPE_BF16, li, L->gate, 1, 0};
            if (L->prec == GRT_PREC_Q15) {
                t[k++] = (tw_tensor){GRT_ROLE_IN_SCALE, GRT_DTYPE_F32, li, 1, 1, 0};
                t[k++] = (tw_tensor){GRT_ROLE_OUT_SCALE, GRT_DTYPE_F32, li, L->out, 1, 0};
            }
            t[k++] = (tw_tensor){GRT_ROLE_TABLE, tt, li, L->gate, L->out, 0};
            continue;
        }
        if (L->kind == GRT_LAYER_NORM) { /* 1.4: [in_scale, out_scale (q15)], gamma, beta */
            uint8_t gt = L->prec == GRT_PREC_Q15 ? GRT_DTYPE_I32 : GRT_DTYPE_F32;
            if (L->prec == GRT_PREC_Q15) {
                t[k++] = (tw_tensor){GRT_ROLE_IN_SCALE, GRT_DTYPE_F32, li, I, 1, 0};
                t[k++] = (tw_tensor){GRT_ROLE_OUT_SCALE, GRT_DTYPE_F32, li, L->out, 1, 0};
            }
            t[k++] = (tw_tensor){GRT_ROLE_GAMMA, gt, li, L->out, 1, 0};
            t[k++] = (tw_tensor){GRT_ROLE_BETA, gt, li, L->out, 1, 0};
            continue;
        }
        int gru = L->kind == GRT_LAYER_GRU || L->kind == GRT_LAYER_LSTM; /* w_hh and b_hh too */
        uint8_t wt = L->prec == GRT_PREC_Q8 || L->prec == GRT_PREC_Q15 ? GRT_DTYPE_I8 : GRT_DTYPE_F32;
        uint8_t bt = L->prec == GRT_PREC_Q15 ? GRT_DTYPE_I32 : GRT_DTYPE_F32;
        for (uint32_t dir = 0; dir < directions(L); dir++) {
            t[k++] = (tw_tensor){GRT_ROLE_W_IH, wt, li, R, w_cols(L), 0};
            if (gru)
                t[k++] = (tw_tensor){GRT_ROLE_W_HH, wt, li, R, units(L), 0};
            t[k++] = (tw_tensor){GRT_ROLE_B_IH, bt, li, R, 1, 0};
            if (gru)
                t[k++] = (tw_tensor){GRT_ROLE_B_HH, bt, li, R, 1, 0};
            if (wt == GRT_DTYPE_I8) {
                t[k++] = (tw_tensor){GRT_ROLE_W_IH_SCALE, GRT_DTYPE_BF16, li, R, 1, 0};
                if (gru)
                    t[k++] = (tw_tensor){GRT_ROLE_W_HH_SCALE, GRT_DTYPE_BF16, li, R, 1, 0};
            }
            if (L->prec == GRT_PREC_Q15) {
                t[k++] = (tw_tensor){GRT_ROLE_IN_SCALE, GRT_DTYPE_F32, li, I, 1, 0};
                t[k++] = (tw_tensor){GRT_ROLE_OUT_SCALE, GRT_DTYPE_F32, li, units(L), 1, 0};
            }
        }
    }
    for (size_t j = 0; j < k; j++) {
        int panel = layer_layout(&layers[t[j].layer], opt) == GRT_LAYOUT_PANEL8 &&
                    (t[j].role == GRT_ROLE_W_IH || t[j].role == GRT_ROLE_W_HH);
        t[j].stored_rows = panel ? (t[j].rows + 7) / 8 * 8 : t[j].rows;
    }
    return k;
}

/* ---- content ------------------------------------------------------------------------------------ */

typedef struct writer {
    uint8_t *buf;
    size_t data_offset;
    const size_t *offsets; /* per tensor, relative to data_offset */
    size_t k;              /* next tensor */
    rng r;
    float scale;
    uint32_t fill;
    float *chain;    /* q15: the previous layer's out_scale (GRT_MAX_DIM floats) */
    float *chain_in; /* q15: the in_scale just written (a bidirectional backward set's too) */
} writer;

static uint8_t *next_data(writer *w)
{
    return w->buf + w->data_offset + w->offsets[w->k++];
}

static float *random_floats(writer *w, size_t n)
{
    float *v = malloc((n ? n : 1) * sizeof(float));
    for (size_t j = 0; j < n; j++)
        v[j] = rng_uniform(&w->r, -w->scale, w->scale);
    return v;
}

static void put_floats(uint8_t *p, const float *v, size_t n)
{
    for (size_t j = 0; j < n; j++)
        tw_put_u32(p, 4 * j, tw_f32_bits(v[j]));
}

static uint32_t pick(writer *w, const uint32_t *choices, size_t n)
{
    return choices[rng_u32(&w->r) % n];
}

static int8_t extreme_weight(writer *w)
{
    static const uint32_t c[] = {(uint32_t)-128, (uint32_t)-127, 127, 127};
    return (int8_t)(int32_t)pick(w, c, 4);
}

/* q8: per row s = max|W|/127 rounded up to bf16, Wq = round(W / s). */
static void q8_matrix(writer *w, const float *W, size_t rows, size_t cols, uint8_t *wq, uint8_t *codes)
{
    static const uint32_t extreme_codes[] = {0x7F7F, 0x0001, 0, 0x3F80, 0x7F7F};
    for (size_t j = 0; j < rows; j++) {
        float mx = 0.0f;
        for (size_t k = 0; k < cols; k++)
            mx = fabsf(W[j * cols + k]) > mx ? fabsf(W[j * cols + k]) : mx;
        uint16_t code = mx > 0.0f ? tw_bf16_up(mx / 127.0f) : 0;
        if (w->fill == TW_FILL_EXTREME)
            code = (uint16_t)pick(w, extreme_codes, 5);
        float s = tw_bits_f32((uint32_t)code << 16);
        tw_put_u16(codes, 2 * j, code);
        for (size_t k = 0; k < cols; k++) {
            double q = s > 0.0f ? rint((double)W[j * cols + k] / s) : 0.0;
            q = q > 127 ? 127 : q < -127 ? -127 : q;
            wq[j * cols + k] = (uint8_t)(int8_t)q;
            if (w->fill == TW_FILL_EXTREME)
                wq[j * cols + k] = (uint8_t)extreme_weight(w);
        }
    }
}

static void q8_biases(writer *w, const float *b, size_t n, uint8_t *p)
{
    static const uint32_t extreme[] = {0x7F61B1E6u /* 3e38 */, 0xFF61B1E6u, 0};
    for (size_t j = 0; j < n; j++)
        tw_put_u32(p, 4 * j, w->fill == TW_FILL_EXTREME ? pick(w, extreme, 3) : tw_f32_bits(b[j]));
}

static void write_q8_layer(writer *w, const tw_layer *L)
{
    int gru = L->kind == GRT_LAYER_GRU || L->kind == GRT_LAYER_LSTM; /* recurrent */
    size_t I = w_cols(L), H = units(L), R = gate_rows(L);
    float *Wf = random_floats(w, R * I), *Uf = gru ? random_floats(w, R * H) : NULL;
    float *bi = random_floats(w, R), *bh = gru ? random_floats(w, R) : NULL;
    uint8_t *pw = next_data(w), *pu = gru ? next_data(w) : NULL;
    uint8_t *pbi = next_data(w), *pbh = gru ? next_data(w) : NULL;
    uint8_t *pws = next_data(w), *pus = gru ? next_data(w) : NULL;
    q8_matrix(w, Wf, R, I, pw, pws);
    q8_biases(w, bi, R, pbi);
    if (gru) {
        q8_matrix(w, Uf, R, H, pu, pus);
        q8_biases(w, bh, R, pbh);
    }
    free(Wf), free(Uf), free(bi), free(bh);
}

/* q15 (the quantizer of docs/QUANTIZATION.md): W' = W·diag(colscale); per row s = max|W'|/127,
 * multiplier m = s·target (target 2^16 for Q16 rows, 1/out_scale for Dense linear/relu) rounded up to
 * bf16; s = m/target, Wq = round(W'/s). A multiplier below 2^-55 gives a zero row; one above 255 is
 * clamped (the tests' weights never need that). */
static void q15_matrix(writer *w, const float *W, size_t rows, size_t cols, const float *colscale,
                       const double *target, uint8_t *wq, uint8_t *codes)
{
    static const uint32_t extreme_codes[] = {0x437F, 0x437F, 0x437F, 0x4300, 0x2400, 0x247F, 0};
    for (size_t j = 0; j < rows; j++) {
        double mx = 0.0;
        for (size_t k = 0; k < cols; k++)
            mx = fmax(mx, fabs((double)W[j * cols + k] * colscale[k]));
        double m = mx / 127.0 * target[j];
        uint16_t code = 0;
        if (m >= ldexp(1.0, -55)) {
            float mf = (float)m;
            if ((double)mf < m)
                mf = nextafterf(mf, INFINITY);
            code = tw_bf16_up(mf);
            if (((code >> 7) & 255) > 134)
                code = 0x437F;
        }
        if (w->fill == TW_FILL_EXTREME)
            code = (uint16_t)pick(w, extreme_codes, 7);
        tw_put_u16(codes, 2 * j, code);
        double mult = code ? ldexp(128.0 + (code & 127), -(134 - ((code >> 7) & 255))) : 0.0;
        double s = mult / target[j];
        for (size_t k = 0; k < cols; k++) {
            double q = s > 0 ? rint((double)W[j * cols + k] * colscale[k] / s) : 0.0;
            q = q > 127 ? 127 : q < -127 ? -127 : q;
            wq[j * cols + k] = (uint8_t)(int8_t)q;
            if (w->fill == TW_FILL_EXTREME)
                wq[j * cols + k] = (uint8_t)extreme_weight(w);
        }
    }
}

static void q15_biases(writer *w, const float *b, const double *target, size_t n, uint8_t *p)
{
    static const uint32_t extreme[] = {0x80000000u, 0x7FFFFFFFu, 0x7FFFFFFFu, 0, 0xFFFFFFFFu};
    for (size_t j = 0; j < n; j++) {
        double q = rint((double)b[j] * target[j]);
        q = q > 2147483647.0 ? 2147483647.0 : q < -2147483648.0 ? -2147483648.0 : q;
        uint32_t v = (uint32_t)(int32_t)q;
        tw_put_u32(p, 4 * j, w->fill == TW_FILL_EXTREME ? pick(w, extreme, 5) : v);
    }
}

/* An extreme but valid q15 scale: the smallest normal, the largest finite, or 1. */
static float extreme_scale(writer *w)
{
    static const uint32_t c[] = {0x00800000u, 0x7F7FFFFFu, 0x3F800000u};
    return tw_bits_f32(pick(w, c, 3));
}

static void write_q15_layer(writer *w, const tw_layer *L, int first)
{
    int gru = L->kind == GRT_LAYER_GRU || L->kind == GRT_LAYER_LSTM; /* recurrent */
    int unit = gru || (L->act != GRT_ACT_LINEAR && L->act != GRT_ACT_RELU);
    size_t I = L->in, H = units(L), R = (L->kind == GRT_LAYER_LSTM ? 4 : gru ? 3 : 1) * H, C = w_cols(L);
    float *Wf = random_floats(w, R * C), *Uf = gru ? random_floats(w, R * H) : NULL;
    float *bi = random_floats(w, R), *bh = gru ? random_floats(w, R) : NULL;
    float *in_scale = malloc(I * sizeof(float)), *out_scale = malloc(H * sizeof(float));
    float *col_scale = calloc(C ? C : 1, sizeof(float));
    float *u_scale = malloc(H * sizeof(float));
    double *target = malloc(R * sizeof(double));
    for (size_t k = 0; k < I; k++) {
        if (!first)
            in_scale[k] = w->chain[k];
        else
            in_scale[k] = w->fill == TW_FILL_EXTREME ? extreme_scale(w) : (float)((2 + k % 3) * 1.25 / 32767);
    }
    for (size_t j = 0; j < H; j++) {
        out_scale[j] = unit ? 0x1p-15f : w->fill == TW_FILL_EXTREME ? extreme_scale(w) : (float)(10.0 / 32767);
        u_scale[j] = 0x1p-15f;
    }
    for (size_t j = 0; j < R; j++)
        target[j] = unit ? 65536.0 : 1.0 / out_scale[j];

    uint8_t *pw = next_data(w), *pu = gru ? next_data(w) : NULL;
    uint8_t *pbi = next_data(w), *pbh = gru ? next_data(w) : NULL;
    uint8_t *pws = next_data(w), *pus = gru ? next_data(w) : NULL;
    uint8_t *pin = next_data(w), *pout = next_data(w);
    /* a Conv1D window row's column i·k + j holds channel i (depthwise: the tests' files give every
     * row channel 0's scale, which loads as well) */
    for (size_t c = 0; c < C; c++)
        col_scale[c] = in_scale[L->kind != GRT_LAYER_CONV1D ? c : conv_dw(L) ? 0 : c / conv_k(L)];
    q15_matrix(w, Wf, R, C, col_scale, target, pw, pws);
    q15_biases(w, bi, target, R, pbi);
    if (gru) {
        q15_matrix(w, Uf, R, H, u_scale, target, pu, pus);
        q15_biases(w, bh, target, R, pbh);
    }
    put_floats(pin, in_scale, I);
    put_floats(pout, out_scale, H);
    memcpy(w->chain, out_scale, H * sizeof(float));
    memcpy(w->chain_in, in_scale, I * sizeof(float));
    free(Wf), free(Uf), free(bi), free(bh), free(in_scale), free(out_scale), free(u_scale), free(target);
    free(col_scale);
}

/* A q15 layer's tensor sets: a bidirectional GRU's backward set has the forward one's in_scale, and
 * the next layer reads out_scale once per half after a concat (every GRU's out_scale is 2^-15). */
static void write_q15_directions(writer *w, const tw_layer *L, int first)
{
    write_q15_layer(w, L, first);
    if (gru_dir(L) != GRT_DIR_BIDIRECTIONAL)
        return;
    memcpy(w->chain, w->chain_in, L->in * sizeof(float));
    write_q15_layer(w, L, 0);
    for (size_t j = 0; j < L->out; j++)
        w->chain[j] = 0x1p-15f;
}

/* A q15 LayerNorm: in_scale uniform (the chain's, or one value for the first layer), out_scale
 * 10/32767, gamma/beta random in their units (extreme fill: extreme scales and int32 values). */
static void write_q15_norm(writer *w, const tw_layer *L, int first)
{
    static const uint32_t extreme[] = {0x80000001u, 0x7FFFFFFFu, 0, 1, 0xFFFFFFFFu};
    size_t D = L->in;
    float unit_in = !first ? w->chain[0] : w->fill == TW_FILL_EXTREME ? extreme_scale(w) : (float)(3 * 1.25 / 32767);
    uint8_t *pin = next_data(w), *pout = next_data(w), *pg = next_data(w), *pb = next_data(w);
    for (size_t j = 0; j < D; j++) {
        float out = w->fill == TW_FILL_EXTREME ? extreme_scale(w) : (float)(10.0 / 32767);
        float g = rng_uniform(&w->r, -w->scale, w->scale), b = rng_uniform(&w->r, -w->scale, w->scale);
        tw_put_u32(pin, 4 * j, tw_f32_bits(unit_in));
        tw_put_u32(pout, 4 * j, tw_f32_bits(out));
        tw_put_u32(pg, 4 * j, w->fill == TW_FILL_EXTREME ? pick(w, extreme, 5) : (uint32_t)(int32_t)(g / out * 32768.0f));
        tw_put_u32(pb, 4 * j, w->fill == TW_FILL_EXTREME ? pick(w, extreme, 5) : (uint32_t)(int32_t)(b / out));
        w->chain[j] = out;
    }
}

/* An Embedding (1.5): q8 int8 rows with a scale each (q8_matrix); q15 in_scale 1, out_scale 10/32767
 * (extreme fill: extreme scales) and random int16 rows over the whole range. */
static void write_embed(writer *w, const tw_layer *L)
{
    size_t V = L->gate, D = L->out;
    if (L->prec == GRT_PREC_Q8) {
        float *Tf = random_floats(w, V * D);
        uint8_t *pcodes = next_data(w), *ptable = next_data(w);
        q8_matrix(w, Tf, V, D, ptable, pcodes);
        free(Tf);
        return;
    }
    uint8_t *pin = next_data(w), *pout = next_data(w), *ptable = next_data(w);
    tw_put_u32(pin, 0, 0x3F800000u);
    for (size_t j = 0; j < D; j++) {
        w->chain[j] = w->fill == TW_FILL_EXTREME ? extreme_scale(w) : (float)(10.0 / 32767);
        tw_put_u32(pout, 4 * j, tw_f32_bits(w->chain[j]));
    }
    for (size_t e = 0; e < V * D; e++)
        tw_put_u16(ptable, 2 * e, (uint16_t)(int16_t)(rng_u32(&w->r) % 65535u - 32767));
}

/* The same random values in either layout: a panel8 matrix stores row i, column c at
 * (i / 8)·8·cols + 8c + i mod 8, the padding lanes stay zero. */
static void write_f32_layer(writer *w, size_t n_tensors)
{
    for (size_t t = 0; t < n_tensors; t++) {
        size_t k = w->k;
        uint8_t *e = w->buf + tw_get_u32(w->buf, 40) + 32 * k;
        size_t rows = tw_get_u32(e, 8), cols = tw_get_u32(e, 12), n = rows * cols;
        int panel = w->buf[tw_layer_field(tw_get_u32(e, 4), 5)] == GRT_LAYOUT_PANEL8 &&
                    (e[0] == GRT_ROLE_W_IH || e[0] == GRT_ROLE_W_HH);
        float *v = random_floats(w, n);
        uint8_t *p = next_data(w);
        if (!panel)
            put_floats(p, v, n);
        for (size_t i = 0; panel && i < rows; i++)
            for (size_t c = 0; c < cols; c++)
                tw_put_u32(p, 4 * ((i / 8) * 8 * cols + 8 * c + i % 8), tw_f32_bits(v[i * cols + c]));
        free(v);
    }
}

size_t tw_build(uint8_t *buf, size_t cap, const tw_layer *layers, size_t n_layers, const tw_meta *meta,
                size_t n_meta, const tw_options *opt, uint32_t seed, float scale)
{
    static const uint8_t magic[8] = {0x89, 'G', 'R', 'T', 0x0D, 0x0A, 0x1A, 0x0A};
    tw_options none = {0, 0, 0, TW_FILL_RANDOM, 0};
    tw_tensor tensors[MAX_TENSORS];
    if (opt == NULL)
        opt = &none;
    if (n_layers > GRT_MAX_LAYERS)
        return 0;
    size_t n_real = list_tensors(layers, n_layers, opt, tensors);
    size_t n_tensors = n_real + opt->extra_tensor_entries;
    size_t tensor_table = 64 + 32 * n_layers;
    size_t meta_offset = tensor_table + 32 * n_tensors;
    size_t meta_size = 4 + opt->extra_meta_bytes;
    for (size_t i = 0; i < n_meta; i++)
        meta_size += 8 + strlen(meta[i].key) + strlen(meta[i].value);
    size_t data_offset = round64(meta_offset + meta_size);
    size_t end = 0, offsets[MAX_TENSORS];
    for (size_t k = 0; k < n_real; k++) {
        offsets[k] = round64(end);
        end = offsets[k] + dtype_size(tensors[k].dtype) * tensors[k].stored_rows * tensors[k].cols;
    }
    size_t data_size = round64(end) + opt->extra_data_bytes;
    size_t file_size = data_offset + data_size;
    if (file_size > cap)
        return 0;
    memset(buf, 0, file_size);

    memcpy(buf, magic, 8);
    tw_put_u16(buf, 8, GRT_VERSION_MAJOR);
    tw_put_u16(buf, 10, GRT_VERSION_MINOR);
    tw_put_u32(buf, 12, 64);
    tw_put_u32(buf, 16, (uint32_t)file_size);
    tw_put_u32(buf, 28, (uint32_t)n_layers);
    tw_put_u32(buf, 32, (uint32_t)n_tensors);
    tw_put_u32(buf, 36, 64);
    tw_put_u32(buf, 40, (uint32_t)tensor_table);
    tw_put_u32(buf, 44, (uint32_t)meta_offset);
    tw_put_u32(buf, 48, (uint32_t)meta_size);
    tw_put_u32(buf, 52, (uint32_t)data_offset);
    tw_put_u32(buf, 56, (uint32_t)data_size);

    uint32_t counts[GRT_MAX_LAYERS] = {0};
    for (size_t k = 0; k < n_real; k++)
        counts[tensors[k].layer]++;
    uint32_t first = 0;
    for (size_t i = 0; i < n_layers; i++) {
        uint8_t *e = buf + 64 + 32 * i;
        e[0] = layers[i].kind;
        e[1] = layers[i].prec;
        e[2] = layers[i].act;
        e[3] = layers[i].gate;
        e[4] = layers[i].reset_after;
        e[5] = layer_layout(&layers[i], opt);
        if (layers[i].kind == GRT_LAYER_GRU) {
            e[4] = layers[i].reset_after & 1;
            e[6] = gru_dir(&layers[i]);
            e[7] = gru_merge(&layers[i]);
        }
        tw_put_u32(e, 8, layers[i].in);
        tw_put_u32(e, 12, layers[i].out);
        tw_put_u32(e, 16, first);
        tw_put_u32(e, 20, counts[i]);
        if (layers[i].kind == GRT_LAYER_NORM) /* eps: 1e-5 (f32/q8 bits), or eps_q (q15) */
            tw_put_u32(e, 24, layers[i].prec != GRT_PREC_Q15 ? 0x3727C5ACu
                              : opt->fill == TW_FILL_EXTREME ? 0xFFFFFFFFu : 1000u);
        if (layers[i].kind == GRT_LAYER_EMBEDDING) {
            e[3] = 0;
            tw_put_u32(e, 24, layers[i].gate); /* the vocabulary */
        }
        if (layers[i].kind == GRT_LAYER_LSTM && layers[i].prec == GRT_PREC_Q15) /* 1.5: cell_bits */
            tw_put_u32(e, 24, opt->fill == TW_FILL_EXTREME ? 14u : 2u);
        if (layers[i].kind == GRT_LAYER_CONV1D) {
            e[3] = 0;
            e[4] = (uint8_t)conv_dw(&layers[i]);
            tw_put_u16(e, 28, (uint16_t)conv_k(&layers[i]));
            tw_put_u16(e, 30, (uint16_t)conv_d(&layers[i]));
        }
        first += counts[i];
    }

    for (size_t k = 0; k < n_real; k++) {
        uint8_t *e = buf + tensor_table + 32 * k;
        e[0] = tensors[k].role;
        e[1] = tensors[k].dtype;
        tw_put_u32(e, 4, tensors[k].layer);
        tw_put_u32(e, 8, tensors[k].rows);
        tw_put_u32(e, 12, tensors[k].cols);
        tw_put_u32(e, 16, (uint32_t)offsets[k]);
        tw_put_u32(e, 20, (uint32_t)(dtype_size(tensors[k].dtype) * tensors[k].stored_rows * tensors[k].cols));
    }

    writer w;
    w.buf = buf;
    w.data_offset = data_offset;
    w.offsets = offsets;
    w.k = 0;
    w.r.s = 0x9E3779B97F4A7C15ULL ^ seed;
    w.scale = scale;
    w.fill = opt->fill;
    w.chain = calloc(GRT_MAX_DIM, sizeof(float));
    w.chain_in = calloc(GRT_MAX_DIM, sizeof(float));
    for (size_t i = 0; i < n_layers; i++) {
        if (layers[i].kind == GRT_LAYER_EMBEDDING && layers[i].prec != GRT_PREC_F32)
            write_embed(&w, &layers[i]);
        else if (layers[i].kind == GRT_LAYER_NORM && layers[i].prec == GRT_PREC_Q15)
            write_q15_norm(&w, &layers[i], i == 0);
        else if (layers[i].kind == GRT_LAYER_NORM) /* f32 and q8: float gamma, beta */
            write_f32_layer(&w, counts[i]);
        else if (layers[i].prec == GRT_PREC_Q8)
            for (uint32_t dir = 0; dir < directions(&layers[i]); dir++)
                write_q8_layer(&w, &layers[i]);
        else if (layers[i].prec == GRT_PREC_Q15)
            write_q15_directions(&w, &layers[i], i == 0);
        else
            write_f32_layer(&w, counts[i]);
    }
    free(w.chain);
    free(w.chain_in);

    uint8_t *m = buf + meta_offset;
    tw_put_u32(m, 0, (uint32_t)n_meta);
    m += 4;
    for (size_t i = 0; i < n_meta; i++) {
        size_t kl = strlen(meta[i].key), vl = strlen(meta[i].value);
        tw_put_u32(m, 0, (uint32_t)kl);
        tw_put_u32(m, 4, (uint32_t)vl);
        memcpy(m + 8, meta[i].key, kl);
        memcpy(m + 8 + kl, meta[i].value, vl);
        m += 8 + kl + vl;
    }
    tw_fix_crc(buf, file_size);
    return file_size;
}

int tw_built(const tw_layer *layers, size_t n_layers)
{
    for (size_t i = 0; i < n_layers; i++) {
        unsigned p = layers[i].prec;
        unsigned k = layers[i].kind;
        if ((p == GRT_PREC_F32 && !GRT_HAS_F32) || (p == GRT_PREC_Q8 && !GRT_HAS_Q8) ||
            (p == GRT_PREC_Q15 && !GRT_HAS_Q15))
            return 0;
        if ((k == GRT_LAYER_LSTM && !GRT_HAS_LSTM) || (k == GRT_LAYER_CONV1D && !GRT_HAS_CONV1D) ||
            (k == GRT_LAYER_NORM && !GRT_HAS_LAYERNORM))
            return 0;
    }
    return 1;
}
