/* q8 and q15 streams: each model against a plain reference written from docs/QUANTIZATION.md (bit for
 * bit), grt_stream_run == T x grt_stream_step (float and int16 APIs, chunks 1, 2, 7 and T, from zero
 * and non-zero states), the float q15 step == boundary + integer step, the boundary's rounding and
 * saturation, reset, argument and precision errors, extreme-value models (run under the sanitizers by
 * `make sanitize`), and the accuracy of q8/q15 against the f32 model with the same weights. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "grt_kernels.h"
#include "grt_math.h"
#include "grt_q15.h"
#include "test_util.h"
#include "test_writer.h"

#if GRT_HAS_Q8 || GRT_HAS_Q15 /* the whole file (f32-only builds: skipped) */

#define CAP (4 << 20)
#define GRU_L(prec, act, gate, ra, i, o) {GRT_LAYER_GRU, act, gate, ra, i, o, prec}
#define DENSE_L(prec, act, i, o) {GRT_LAYER_DENSE, act, 0, 0, i, o, prec}
#define CONV_L TW_CONV
#define MAX32 2147483647

typedef struct fixture {
    void *mem;
    uint8_t *blob;
    grt_model m;
} fixture;

static int load(fixture *f, const tw_layer *layers, size_t n, uint32_t seed, float scale, uint32_t fill)
{
    tw_options opt = {0, 0, 0, fill, 0};
    f->mem = alloc_shifted(CAP, 0, &f->blob);
    size_t size = tw_build(f->blob, CAP, layers, n, NULL, 0, &opt, seed, scale);
    grt_diag d;
    if (size == 0) {
        fprintf(stderr, "  fixture does not fit in %d bytes\n", CAP);
        return 0;
    }
    int ok = grt_model_load(&f->m, f->blob, size, 0, &d) == GRT_OK;
    if (!ok)
        fprintf(stderr, "  fixture does not load: %s %s %d\n", grt_status_name(d.status), d.field, (int)d.index);
    return ok;
}

static int same_float(float a, float b)
{
    return (isnan(a) && isnan(b)) || memcmp(&a, &b, sizeof a) == 0;
}

static int same_floats(const float *a, const float *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!same_float(a[i], b[i]))
            return 0;
    return 1;
}

/* ---- a plain q8 reference ----------------------------------------------------------------------- */
#if GRT_HAS_Q8

static float ref_q8_quantize(const float *x, size_t n, int8_t *xq)
{
    float m = 0.0f;
    int any_nan = 0;
    for (size_t k = 0; k < n; k++) {
        if (isnan(x[k]))
            any_nan = 1;
        else if (fabsf(x[k]) > m)
            m = fabsf(x[k]);
    }
    if (any_nan)
        m = NAN;
    float inv = 0.0f, sx = m;
    if (m > 0.0f) {
        inv = 127.0f / m;
        sx = m / 127.0f;
    }
    for (size_t k = 0; k < n; k++) {
        float p = x[k] * inv;
        if (isnan(p)) {
            xq[k] = 0;
            continue;
        }
        p = fminf(fmaxf(p, -127.0f), 127.0f);
        float t = truncf(p), d = p - t;
        xq[k] = (int8_t)(d >= 0.5f ? t + 1.0f : d <= -0.5f ? t - 1.0f : t);
    }
    return sx;
}

/* y[j] = b[j] + ((float)acc * s_j) * sx for rows [r0, r0 + rows) of W. */
static void ref_q8_product(float *y, const grt_layer *L, unsigned wrole, unsigned srole, const float *b,
                           size_t r0, size_t rows, const float *x, size_t cols)
{
    const int8_t *W = L->tensor[wrole];
    const uint16_t *codes = L->tensor[srole];
    int8_t *xq = malloc(cols);
    float sx = ref_q8_quantize(x, cols, xq);
    for (size_t j = r0; j < r0 + rows; j++) {
        int32_t acc = 0;
        for (size_t k = 0; k < cols; k++)
            acc += W[j * cols + k] * xq[k];
        float s = tw_bits_f32((uint32_t)codes[j] << 16);
        y[j - r0] = b[j] + ((float)acc * s) * sx;
    }
    free(xq);
}

static void ref_q8_layer(const grt_layer *L, float *h, const float *x, float *out)
{
    size_t I = L->input_size, H = L->output_size;
    const float *bi = L->tensor[GRT_ROLE_B_IH], *bh = L->tensor[GRT_ROLE_B_HH];
    if (L->kind == GRT_LAYER_DENSE) {
        ref_q8_product(out, L, GRT_ROLE_W_IH, GRT_ROLE_W_IH_SCALE, bi, 0, H, x, I);
        grt_act_apply(L->activation, out, H);
        return;
    }
    float *gx = malloc(3 * H * sizeof(float)), *gh = malloc(3 * H * sizeof(float));
    float *rz = malloc(2 * H * sizeof(float)), *rh = malloc(H * sizeof(float)), *n = malloc(H * sizeof(float));
    ref_q8_product(gx, L, GRT_ROLE_W_IH, GRT_ROLE_W_IH_SCALE, bi, 0, 3 * H, x, I);
    ref_q8_product(gh, L, GRT_ROLE_W_HH, GRT_ROLE_W_HH_SCALE, bh, 0, L->reset_after ? 3 * H : 2 * H, h, H);
    for (size_t i = 0; i < 2 * H; i++)
        rz[i] = gx[i] + gh[i];
    grt_act_apply(L->gate_activation, rz, 2 * H);
    for (size_t i = 0; i < H; i++)
        rh[i] = rz[i] * h[i];
    if (L->reset_after) {
        for (size_t i = 0; i < H; i++)
            n[i] = gx[2 * H + i] + rz[i] * gh[2 * H + i];
    } else {
        ref_q8_product(gh + 2 * H, L, GRT_ROLE_W_HH, GRT_ROLE_W_HH_SCALE, bh, 2 * H, H, rh, H);
        for (size_t i = 0; i < H; i++)
            n[i] = gx[2 * H + i] + gh[2 * H + i];
    }
    grt_act_apply(L->activation, n, H);
    for (size_t i = 0; i < H; i++) {
        h[i] = n[i] + rz[H + i] * (h[i] - n[i]);
        out[i] = h[i];
    }
    free(gx), free(gh), free(rz), free(rh), free(n);
}

/* A whole model whose layers are all q8. */
static void ref_q8_step(const grt_model *m, float *state, const float *x, float *y)
{
    float *a = malloc(m->max_width * sizeof(float)), *b = malloc(m->max_width * sizeof(float));
    memcpy(a, x, m->input_size * sizeof(float));
    for (uint32_t l = 0; l < m->n_layers; l++) {
        const grt_layer *L = &m->layers[l];
        ref_q8_layer(L, state + L->state_offset, a, b);
        memcpy(a, b, L->output_size * sizeof(float));
    }
    memcpy(y, a, m->output_size * sizeof(float));
    free(a), free(b);
}

#endif /* GRT_HAS_Q8 */

/* ---- a plain q15 reference ---------------------------------------------------------------------- */
#if GRT_HAS_Q15

static int64_t ref_rshr(int64_t v, unsigned s)
{
    if (s == 0)
        return v;
    int64_t t = v + ((int64_t)1 << (s - 1)), d = (int64_t)1 << s;
    return t >= 0 ? t / d : -((-t + d - 1) / d);
}

static int32_t ref_sat32(int64_t v)
{
    return (int32_t)(v > MAX32 ? MAX32 : v < -MAX32 ? -MAX32 : v);
}

static int16_t ref_sat16(int64_t v)
{
    return (int16_t)(v > 32767 ? 32767 : v < -32768 ? -32768 : v);
}

/* g = sat32(RSHR(acc·M, sh) + b) for row j of the (wrole, srole, brole) product with x (cols). */
static int32_t ref_g(const grt_layer *L, unsigned wrole, unsigned srole, unsigned brole, size_t j,
                     const int16_t *x, size_t cols)
{
    const int8_t *W = L->tensor[wrole];
    const uint16_t *codes = L->tensor[srole];
    const int32_t *b = L->tensor[brole];
    int64_t acc = 0;
    for (size_t k = 0; k < cols; k++)
        acc += (int64_t)W[j * cols + k] * x[k];
    uint16_t c = codes[j];
    int64_t M = c ? 128 + (c & 127) : 0;
    unsigned sh = c ? 134u - ((c >> 7) & 255u) : 0;
    return ref_sat32(ref_rshr(acc * M, sh) + b[j]);
}

static void ref_q15_layer(const grt_layer *L, int16_t *h, const int16_t *x, int16_t *out)
{
    size_t I = L->input_size, H = L->output_size;
    if (L->kind == GRT_LAYER_DENSE) {
        int32_t *g = malloc(H * sizeof(int32_t));
        int32_t mx = -MAX32;
        for (size_t j = 0; j < H; j++) {
            g[j] = ref_g(L, GRT_ROLE_W_IH, GRT_ROLE_W_IH_SCALE, GRT_ROLE_B_IH, j, x, I);
            mx = g[j] > mx ? g[j] : mx;
        }
        uint64_t S = 0;
        for (size_t j = 0; j < H; j++) {
            int64_t d = (int64_t)mx - g[j];
            S += (uint64_t)grt_q15_exp_neg((uint32_t)(d < MAX32 ? d : MAX32));
        }
        for (size_t j = 0; j < H; j++) {
            int32_t v = g[j], a;
            switch (L->activation) {
            case GRT_ACT_LINEAR: out[j] = ref_sat16(v); break;
            case GRT_ACT_RELU: out[j] = ref_sat16(v < 0 ? 0 : v); break;
            case GRT_ACT_SOFTMAX: {
                int64_t d = (int64_t)mx - v;
                uint64_t e = (uint64_t)grt_q15_exp_neg((uint32_t)(d < MAX32 ? d : MAX32));
                uint64_t q = (e * 32768 + S / 2) / S;
                out[j] = (int16_t)(q < 32767 ? q : 32767);
                break;
            }
            default:
                a = L->activation == GRT_ACT_TANH ? grt_q15_tanh(v) : grt_q15_sigmoid(v);
                out[j] = (int16_t)(a < 32767 ? a : 32767);
                break;
            }
        }
        free(g);
        return;
    }
    int16_t *hn = malloc(H * sizeof(int16_t));
    for (size_t i = 0; i < H; i++) {
        int32_t gi_r = ref_g(L, GRT_ROLE_W_IH, GRT_ROLE_W_IH_SCALE, GRT_ROLE_B_IH, i, x, I);
        int32_t gi_z = ref_g(L, GRT_ROLE_W_IH, GRT_ROLE_W_IH_SCALE, GRT_ROLE_B_IH, H + i, x, I);
        int32_t gi_n = ref_g(L, GRT_ROLE_W_IH, GRT_ROLE_W_IH_SCALE, GRT_ROLE_B_IH, 2 * H + i, x, I);
        int32_t gh_r = ref_g(L, GRT_ROLE_W_HH, GRT_ROLE_W_HH_SCALE, GRT_ROLE_B_HH, i, h, H);
        int32_t gh_z = ref_g(L, GRT_ROLE_W_HH, GRT_ROLE_W_HH_SCALE, GRT_ROLE_B_HH, H + i, h, H);
        int64_t r = grt_q15_gate(L->gate_activation, ref_sat32((int64_t)gi_r + gh_r));
        int64_t z = grt_q15_gate(L->gate_activation, ref_sat32((int64_t)gi_z + gh_z));
        int64_t n;
        if (L->reset_after) {
            int32_t gh_n = ref_g(L, GRT_ROLE_W_HH, GRT_ROLE_W_HH_SCALE, GRT_ROLE_B_HH, 2 * H + i, h, H);
            n = grt_q15_tanh(ref_sat32(gi_n + ref_rshr(r * gh_n, 15)));
        } else {
            /* r ⊙ h needs every r_k: recompute them (the reference favours plainness over speed) */
            int16_t *rh = malloc(H * sizeof(int16_t));
            for (size_t k = 0; k < H; k++) {
                int32_t a = ref_g(L, GRT_ROLE_W_IH, GRT_ROLE_W_IH_SCALE, GRT_ROLE_B_IH, k, x, I);
                int32_t b = ref_g(L, GRT_ROLE_W_HH, GRT_ROLE_W_HH_SCALE, GRT_ROLE_B_HH, k, h, H);
                int64_t rk = grt_q15_gate(L->gate_activation, ref_sat32((int64_t)a + b));
                rh[k] = ref_sat16(ref_rshr(rk * h[k], 15));
            }
            int32_t gh_n = ref_g(L, GRT_ROLE_W_HH, GRT_ROLE_W_HH_SCALE, GRT_ROLE_B_HH, 2 * H + i, rh, H);
            n = grt_q15_tanh(ref_sat32((int64_t)gi_n + gh_n));
            free(rh);
        }
        hn[i] = ref_sat16(n + ref_rshr(z * ((int64_t)h[i] - n), 15));
    }
    memcpy(h, hn, H * sizeof(int16_t));
    memcpy(out, hn, H * sizeof(int16_t));
    free(hn);
}

static void ref_q15_step(const grt_model *m, int16_t *state, const int16_t *x, int16_t *y)
{
    int16_t *a = malloc(m->max_width * sizeof(int16_t)), *b = malloc(m->max_width * sizeof(int16_t));
    memcpy(a, x, m->input_size * sizeof(int16_t));
    for (uint32_t l = 0; l < m->n_layers; l++) {
        const grt_layer *L = &m->layers[l];
        ref_q15_layer(L, state + L->state_offset, a, b);
        memcpy(a, b, L->output_size * sizeof(int16_t));
    }
    memcpy(y, a, m->output_size * sizeof(int16_t));
    free(a), free(b);
}

#endif /* GRT_HAS_Q15 */

/* ---- inputs --------------------------------------------------------------------------------------- */

static void fill_floats(float *x, size_t n, uint32_t seed, int extreme)
{
    static const float special[] = {0.0f, -0.0f, 1e30f, -3e38f, 1e-40f, 3.0f, -2.5f, 0.5f};
    rng r = {seed};
    for (size_t i = 0; i < n; i++) {
        x[i] = rng_uniform(&r, -2.0f, 2.0f);
        if (extreme && rng_u32(&r) % 3 == 0)
            x[i] = special[rng_u32(&r) % 8];
    }
}

static void fill_int16(int16_t *x, size_t n, uint32_t seed, int extreme)
{
    static const int16_t special[] = {32767, -32768, -32767, 0};
    rng r = {seed};
    for (size_t i = 0; i < n; i++)
        x[i] = extreme ? special[rng_u32(&r) % 4] : (int16_t)(int32_t)(rng_u32(&r) % 40001 - 20000);
}

/* ---- checks ---------------------------------------------------------------------------------------- */

/* Step T times with a fresh stream and compare with the reference, bit for bit. */
static void check_against_reference(const grt_model *m, size_t T, int extreme)
{
    size_t I = m->input_size, O = m->output_size, ssize = grt_stream_size(m);
    uint8_t *mem;
    void *base = alloc_shifted(ssize, 0, &mem);
    grt_stream s;
    CHECK(grt_stream_init(&s, m, mem, ssize) == GRT_OK);
    int ok = 1;
#if GRT_HAS_Q15
    if (m->q15) {
        int16_t *x = malloc(I * sizeof(int16_t)), *y = malloc(O * sizeof(int16_t)), *yr = malloc(O * sizeof(int16_t));
        int16_t *state = calloc(m->state_size + 1, sizeof(int16_t));
        for (size_t t = 0; t < T; t++) {
            fill_int16(x, I, (uint32_t)(t + 1), extreme);
            CHECK(grt_stream_step_q15(&s, x, y) == GRT_OK);
            ref_q15_step(m, state, x, yr);
            ok &= memcmp(y, yr, O * sizeof(int16_t)) == 0;
        }
        ok &= m->state_size == 0 || memcmp(state, s.state, m->state_size * sizeof(int16_t)) == 0;
        free(x), free(y), free(yr), free(state);
    }
#endif
#if GRT_HAS_Q8
    if (!m->q15) {
        float *x = malloc(I * sizeof(float)), *y = malloc(O * sizeof(float)), *yr = malloc(O * sizeof(float));
        float *state = calloc(m->state_size + 1, sizeof(float));
        for (size_t t = 0; t < T; t++) {
            fill_floats(x, I, (uint32_t)(t + 1), extreme);
            grt_stream_step(&s, x, y);
            ref_q8_step(m, state, x, yr);
            ok &= same_floats(y, yr, O);
        }
        ok &= same_floats(state, s.state, m->state_size);
        free(x), free(y), free(yr), free(state);
    }
#endif
    CHECK(ok);
    free(base);
}

/* run (float API, and for q15 the int16 API) at chunk sizes 1, 2, 7 and T == T steps, twice in a row. */
static void check_run_equals_step(const grt_model *m, size_t T, int extreme)
{
    static const size_t chunks[] = {1, 2, 7, 0 /* = T */};
    int float_api = !m->q15 || GRT_HAS_FLOAT_BOUNDARY; /* GRT_NO_FLOAT_BOUNDARY: int16 only */
    size_t I = m->input_size, O = m->output_size, ssize = grt_stream_size(m);
    size_t elem = m->q15 ? sizeof(int16_t) : sizeof(float);
    float *xs = malloc(2 * T * I * sizeof(float));
    float *ys_step = malloc(2 * T * O * sizeof(float)), *ys_run = malloc(2 * T * O * sizeof(float));
    int16_t *xq = malloc(2 * T * I * sizeof(int16_t));
    int16_t *yq_step = malloc(2 * T * O * sizeof(int16_t)), *yq_run = malloc(2 * T * O * sizeof(int16_t));
    uint8_t *mem_a, *mem_b;
    void *ma = alloc_shifted(ssize, 0, &mem_a), *mb = alloc_shifted(ssize, 4, &mem_b);
    grt_stream a, b;
    fill_floats(xs, 2 * T * I, (uint32_t)T + 100, extreme);
    fill_int16(xq, 2 * T * I, (uint32_t)T + 200, extreme);
    CHECK(grt_stream_init(&a, m, mem_a, ssize) == GRT_OK);
    for (size_t t = 0; float_api && t < 2 * T; t++)
        grt_stream_step(&a, xs + t * I, ys_step + t * O);
    uint8_t *state_float = malloc(m->state_size * elem + 1);
    memcpy(state_float, a.state, m->state_size * elem);
    if (m->q15) {
        grt_stream_reset(&a);
        for (size_t t = 0; t < 2 * T; t++)
            CHECK(grt_stream_step_q15(&a, xq + t * I, yq_step + t * O) == GRT_OK);
    }
    int ok = 1;
    for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
        size_t chunk = chunks[c] ? chunks[c] : T;
        size_t wsize = grt_run_work_size(m, chunk);
        uint8_t *work;
        void *wm = alloc_shifted(wsize, 0, &work);
        CHECK(grt_stream_init(&b, m, mem_b, ssize) == GRT_OK);
        if (float_api) {
            memset(ys_run, 0xFF, 2 * T * O * sizeof(float));
            CHECK(grt_stream_run(&b, xs, T, ys_run, work, wsize) == GRT_OK);
            CHECK(grt_stream_run(&b, xs + T * I, T, ys_run + T * O, work, wsize) == GRT_OK);
            ok &= same_floats(ys_run, ys_step, 2 * T * O);
            ok &= memcmp(state_float, b.state, m->state_size * elem) == 0;
        }
        if (m->q15) {
            memset(yq_run, 0x55, 2 * T * O * sizeof(int16_t));
            grt_stream_reset(&b);
            CHECK(grt_stream_run_q15(&b, xq, T, yq_run, work, wsize) == GRT_OK);
            CHECK(grt_stream_run_q15(&b, xq + T * I, T, yq_run + T * O, work, wsize) == GRT_OK);
            ok &= memcmp(yq_run, yq_step, 2 * T * O * sizeof(int16_t)) == 0;
            ok &= memcmp(a.state, b.state, m->state_size * elem) == 0;
        }
        free(wm);
    }
    /* grt_model_run(_q15), the whole sequence from a zero state (Conv1D windows too): the first T steps */
    size_t wsize = grt_model_run_work_size(m, T);
    uint8_t *work;
    void *wm = alloc_shifted(wsize, 0, &work);
    memset(work, 0x5A, wsize);
    if (float_api) {
        memset(ys_run, 0xFF, T * O * sizeof(float));
        CHECK(grt_model_run(m, xs, T, ys_run, work, wsize) == GRT_OK);
        ok &= same_floats(ys_run, ys_step, T * O);
    }
    if (m->q15) {
        memset(yq_run, 0x55, T * O * sizeof(int16_t));
        CHECK(grt_model_run_q15(m, xq, T, yq_run, work, wsize) == GRT_OK);
        ok &= memcmp(yq_run, yq_step, T * O * sizeof(int16_t)) == 0;
    }
    free(wm);
    CHECK(ok);
    free(ma), free(mb), free(xs), free(ys_step), free(ys_run), free(xq), free(yq_step), free(yq_run);
    free(state_float);
}

#if GRT_HAS_FLOAT_BOUNDARY
/* q15: the float step is exactly quantize -> integer step -> dequantize. */
static void check_boundary_composition(const grt_model *m, size_t T, int extreme)
{
    size_t I = m->input_size, O = m->output_size, ssize = grt_stream_size(m);
    uint8_t *ma, *mb;
    void *pa = alloc_shifted(ssize, 0, &ma), *pb = alloc_shifted(ssize, 0, &mb);
    grt_stream a, b;
    CHECK(grt_stream_init(&a, m, ma, ssize) == GRT_OK && grt_stream_init(&b, m, mb, ssize) == GRT_OK);
    float *x = malloc(I * sizeof(float)), *y = malloc(O * sizeof(float)), *y2 = malloc(O * sizeof(float));
    int16_t *xq = malloc(I * sizeof(int16_t)), *yq = malloc(O * sizeof(int16_t));
    int ok = 1;
    for (size_t t = 0; t < T; t++) {
        fill_floats(x, I, (uint32_t)(t + 7), extreme);
        grt_stream_step(&a, x, y);
        grt_q15_quantize_input(m, x, xq);
        ok &= grt_stream_step_q15(&b, xq, yq) == GRT_OK;
        grt_q15_dequantize_output(m, yq, y2);
        ok &= memcmp(y, y2, O * sizeof(float)) == 0;
    }
    ok &= memcmp(a.state, b.state, m->state_size * sizeof(int16_t)) == 0;
    CHECK(ok);
    free(pa), free(pb), free(x), free(y), free(y2), free(xq), free(yq);
}

#endif

#if GRT_HAS_F32
/* Max |q - f| over T steps between a quantized model and the f32 model with the same float weights. */
static double max_error_vs_f32(const grt_model *q, const grt_model *f, size_t T)
{
    size_t I = q->input_size, O = q->output_size;
    uint8_t *mq, *mf;
    void *pq = alloc_shifted(grt_stream_size(q), 0, &mq), *pf = alloc_shifted(grt_stream_size(f), 0, &mf);
    grt_stream sq, sf;
    grt_stream_init(&sq, q, mq, grt_stream_size(q));
    grt_stream_init(&sf, f, mf, grt_stream_size(f));
    float *x = malloc(I * sizeof(float)), *yq = malloc(O * sizeof(float)), *yf = malloc(O * sizeof(float));
    double worst = 0;
    for (size_t t = 0; t < T; t++) {
        fill_floats(x, I, (uint32_t)(t + 3), 0);
        grt_stream_step(&sq, x, yq);
        grt_stream_step(&sf, x, yf);
        for (size_t j = 0; j < O; j++)
            worst = fmax(worst, fabs((double)yq[j] - yf[j]));
    }
    free(pq), free(pf), free(x), free(yq), free(yf);
    return worst;
}
#endif

/* ---- models ---------------------------------------------------------------------------------------- */

#define P8 GRT_PREC_Q8
#define P15 GRT_PREC_Q15

static const tw_layer q8_stack[] = {GRU_L(P8, GRT_ACT_TANH, GRT_ACT_SIGMOID, 1, 6, 17),
                                    GRU_L(P8, GRT_ACT_RELU, GRT_ACT_HARD_SIGMOID, 0, 17, 9),
                                    DENSE_L(P8, GRT_ACT_SOFTMAX, 9, 5)};
static const tw_layer q8_stack2[] = {DENSE_L(P8, GRT_ACT_TANH, 4, 33),
                                     GRU_L(P8, GRT_ACT_TANH, GRT_ACT_HARD_SIGMOID_K2, 0, 33, 8),
                                     GRU_L(P8, GRT_ACT_TANH, GRT_ACT_SIGMOID, 1, 8, 40),
                                     DENSE_L(P8, GRT_ACT_SIGMOID, 40, 3)};
static const tw_layer q8_dense[] = {DENSE_L(P8, GRT_ACT_RELU, 7, 5), DENSE_L(P8, GRT_ACT_LINEAR, 5, 3)};
static const tw_layer mixed[] = {DENSE_L(GRT_PREC_F32, GRT_ACT_TANH, 4, 33),
                                 GRU_L(P8, GRT_ACT_TANH, GRT_ACT_HARD_SIGMOID_K2, 0, 33, 8),
                                 GRU_L(GRT_PREC_F32, GRT_ACT_TANH, GRT_ACT_SIGMOID, 1, 8, 40),
                                 DENSE_L(P8, GRT_ACT_SIGMOID, 40, 3)};
static const tw_layer q15_stack[] = {GRU_L(P15, GRT_ACT_TANH, GRT_ACT_SIGMOID, 1, 6, 17),
                                     GRU_L(P15, GRT_ACT_TANH, GRT_ACT_HARD_SIGMOID, 0, 17, 9),
                                     DENSE_L(P15, GRT_ACT_SOFTMAX, 9, 5)};
static const tw_layer q15_stack2[] = {DENSE_L(P15, GRT_ACT_RELU, 4, 33),
                                      GRU_L(P15, GRT_ACT_TANH, GRT_ACT_HARD_SIGMOID_K2, 0, 33, 8),
                                      GRU_L(P15, GRT_ACT_TANH, GRT_ACT_SIGMOID, 1, 8, 40),
                                      DENSE_L(P15, GRT_ACT_LINEAR, 40, 3)};
static const tw_layer q15_dense[] = {DENSE_L(P15, GRT_ACT_LINEAR, 7, 6), DENSE_L(P15, GRT_ACT_TANH, 6, 4),
                                     DENSE_L(P15, GRT_ACT_SIGMOID, 4, 3)};
/* Wide inputs: products over several blocks of columns, so int32 partial sums matter. */
static const tw_layer q15_wide[] = {GRU_L(P15, GRT_ACT_TANH, GRT_ACT_SIGMOID, 1, 1100, 4),
                                    GRU_L(P15, GRT_ACT_TANH, GRT_ACT_HARD_SIGMOID_K2, 0, 4, 600),
                                    DENSE_L(P15, GRT_ACT_SOFTMAX, 600, 3)};
static const tw_layer q8_wide[] = {GRU_L(P8, GRT_ACT_TANH, GRT_ACT_SIGMOID, 0, 1100, 4),
                                   DENSE_L(P8, GRT_ACT_LINEAR, 4, 600)};

/* Conv1D (1.4): windows of 4 and 9 frames, wide windows (k·I = 1200 columns), depthwise. */
static const tw_layer q8_conv[] = {CONV_L(P8, GRT_ACT_RELU, 0, 3, 8, 3, 2),
                                   GRU_L(P8, GRT_ACT_TANH, GRT_ACT_SIGMOID, 1, 8, 6),
                                   CONV_L(P8, GRT_ACT_TANH, 1, 6, 12, 4, 3), CONV_L(P8, GRT_ACT_LINEAR, 0, 12, 5, 100, 1)};
static const tw_layer q15_conv[] = {CONV_L(P15, GRT_ACT_RELU, 0, 3, 8, 3, 2),
                                    GRU_L(P15, GRT_ACT_TANH, GRT_ACT_SIGMOID, 1, 8, 6),
                                    CONV_L(P15, GRT_ACT_TANH, 1, 6, 12, 4, 3),
                                    CONV_L(P15, GRT_ACT_LINEAR, 0, 12, 5, 100, 1)};

typedef struct model_case {
    const char *name;
    const tw_layer *layers;
    size_t n;
    int reference; /* all layers quantized: compare with the reference */
} model_case;

static const model_case cases[] = {
    {"q8 stack", q8_stack, 3, 1},     {"q8 stack2", q8_stack2, 4, 1}, {"q8 dense", q8_dense, 2, 1},
    {"mixed f32/q8", mixed, 4, 0},    {"q15 stack", q15_stack, 3, 1}, {"q15 stack2", q15_stack2, 4, 1},
    {"q15 dense", q15_dense, 3, 1},   {"q15 wide", q15_wide, 3, 1},   {"q8 wide", q8_wide, 2, 1},
    {"q8 conv1d", q8_conv, 4, 0},     {"q15 conv1d", q15_conv, 4, 0},
};

static void test_models(void)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const model_case *mc = &cases[i];
        if (!tw_built(mc->layers, mc->n))
            continue;
        for (uint32_t fill = TW_FILL_RANDOM; fill <= TW_FILL_EXTREME; fill++) {
            fixture f;
            int ok = load(&f, mc->layers, mc->n, 40 + (uint32_t)i, 0.4f, fill);
            CHECK(ok);
            if (!ok) {
                free(f.mem);
                continue;
            }
            long failed = g_failed;
            int extreme = fill == TW_FILL_EXTREME;
            if (mc->reference)
                check_against_reference(&f.m, mc->layers == q15_wide || mc->layers == q8_wide ? 6 : 30, extreme);
            check_run_equals_step(&f.m, 50, extreme);
            check_run_equals_step(&f.m, 1, extreme);
#if GRT_HAS_FLOAT_BOUNDARY
            if (f.m.q15)
                check_boundary_composition(&f.m, 20, extreme);
#endif
            if (g_failed != failed)
                fprintf(stderr, "  (model %s, fill %u)\n", mc->name, (unsigned)fill);
            free(f.mem);
        }
    }
}

#if GRT_HAS_F32
static void test_accuracy(void)
{
    static const tw_layer *quant[] = {q8_stack, q8_stack2, q15_stack, q15_stack2};
    static const size_t nl[] = {3, 4, 3, 4};
    for (size_t i = 0; i < 4; i++) {
        if (!tw_built(quant[i], nl[i]) || (quant[i][0].prec == P15 && !GRT_HAS_FLOAT_BOUNDARY))
            continue;
        tw_layer f32[4];
        memcpy(f32, quant[i], nl[i] * sizeof(tw_layer));
        for (size_t l = 0; l < nl[i]; l++)
            f32[l].prec = GRT_PREC_F32;
        fixture fq, ff;
        CHECK(load(&fq, quant[i], nl[i], 9, 0.4f, TW_FILL_RANDOM) && load(&ff, f32, nl[i], 9, 0.4f, TW_FILL_RANDOM));
        double e = max_error_vs_f32(&fq.m, &ff.m, 100);
        /* int8 weights (and, for q15, int16 activations and table activations): ~1 % of full scale */
        double tol = quant[i][nl[i] - 1].act == GRT_ACT_LINEAR ? 0.1 : 0.03;
        CHECK(e < tol);
        if (e >= tol)
            fprintf(stderr, "  accuracy case %zu: max error %g\n", i, e);
        free(fq.mem), free(ff.mem);
    }
}

#endif /* GRT_HAS_F32 */

#if GRT_HAS_FLOAT_BOUNDARY
/* The boundary: rounding half away from zero, saturation, NaN -> 0; the output scale. */
static void test_boundary(void)
{
    static const tw_layer one[] = {DENSE_L(P15, GRT_ACT_LINEAR, 12, 2)};
    fixture f;
    CHECK(load(&f, one, 1, 3, 0.5f, TW_FILL_RANDOM));
    /* in_scale: 1.0 for features 0..9, 0.5 for 10, 2^-15 for 11 (valid: only the chain constrains it) */
    size_t size = tw_get_u32(f.blob, 16), in_at = tw_tensor_data(f.blob, 3), out_at = tw_tensor_data(f.blob, 4);
    for (size_t k = 0; k < 12; k++)
        tw_put_u32(f.blob, in_at + 4 * k, k < 10 ? 0x3F800000u : k == 10 ? 0x3F000000u : 0x38000000u);
    tw_put_u32(f.blob, out_at, 0x38000000u);
    tw_put_u32(f.blob, out_at + 4, 0x3E800000u); /* 0.25 */
    tw_fix_crc(f.blob, size);
    CHECK(grt_model_load(&f.m, f.blob, size, 0, NULL) == GRT_OK);
    float x[12] = {2.5f, -2.5f, 2.4999998f, 0.5f, -0.5f, 40000.0f, -1e30f, NAN, INFINITY, -INFINITY, 1.25f,
                   2.0f};
    int16_t xq[12];
    static const int16_t want[12] = {3, -3, 2, 1, -1, 32767, -32767, 0, 32767, -32767, 3, 32767};
    grt_q15_quantize_input(&f.m, x, xq);
    CHECK(memcmp(xq, want, sizeof want) == 0);
    x[0] = -0.49999997f, x[1] = 32766.5f, x[2] = -32767.5f, x[3] = 1e-45f, x[4] = -0.0f;
    grt_q15_quantize_input(&f.m, x, xq);
    CHECK(xq[0] == 0 && xq[1] == 32767 && xq[2] == -32767 && xq[3] == 0 && xq[4] == 0);
    int16_t yq[2] = {32767, -32768};
    float y[2];
    grt_q15_dequantize_output(&f.m, yq, y);
    CHECK(y[0] == 32767.0f / 32768.0f && y[1] == -8192.0f);
    /* nothing written for NULLs or a non-q15 model */
    int16_t guard[12];
    memset(guard, 0x5A, sizeof guard);
    grt_q15_quantize_input(NULL, x, guard);
    grt_q15_quantize_input(&f.m, NULL, guard);
    grt_q15_dequantize_output(&f.m, NULL, y);
    grt_q15_dequantize_output(NULL, yq, y);
    grt_model zero;
    memset(&zero, 0, sizeof zero);
    grt_q15_quantize_input(&zero, x, guard);
    CHECK(guard[0] == 0x5A5A && guard[11] == 0x5A5A);
    free(f.mem);
}

#endif /* GRT_HAS_FLOAT_BOUNDARY */

#if GRT_HAS_F32 && GRT_HAS_Q8 && GRT_HAS_Q15
static void test_api_errors(void)
{
    static const tw_layer f32l[] = {GRU_L(GRT_PREC_F32, GRT_ACT_TANH, GRT_ACT_SIGMOID, 1, 3, 5)};
    static const tw_layer q8l[] = {GRU_L(P8, GRT_ACT_TANH, GRT_ACT_SIGMOID, 1, 3, 5)};
    static const tw_layer q15l[] = {GRU_L(P15, GRT_ACT_TANH, GRT_ACT_SIGMOID, 1, 3, 5),
                                    DENSE_L(P15, GRT_ACT_LINEAR, 5, 2)};
    fixture ff, f8, f15;
    CHECK(load(&ff, f32l, 1, 1, 0.5f, 0) && load(&f8, q8l, 1, 1, 0.5f, 0) && load(&f15, q15l, 2, 1, 0.5f, 0));
    const grt_model *m = &f15.m;
    CHECK(m->q15 == 1 && ff.m.q15 == 0 && f8.m.q15 == 0);

    /* sizes: q15 state and buffers are int16/int32; q8 adds its int8 scratch to the f32 layout */
    size_t s15 = grt_stream_size(m), s32 = grt_stream_size(&ff.m), s8 = grt_stream_size(&f8.m);
    CHECK(s15 % 64 == 0 && s8 % 64 == 0 && s8 > s32);
    CHECK(s15 >= m->state_size * 2 + (15 + 15) * 4 + 3 * 5 * 2);
    CHECK(grt_run_work_size(m, 3) == (3 * (15 * 4 + 2 * 5 * 2) + 63) / 64 * 64);
    CHECK(grt_run_work_size(&f8.m, 3) == (3 * ((15 + 2 * 5) * 4 + 4 + 5) + 63) / 64 * 64);
    CHECK(grt_run_work_size(&ff.m, 3) == (3 * (15 + 2 * 5) * 4 + 63) / 64 * 64);
    CHECK(grt_run_work_size(m, SIZE_MAX) > 0);

    uint8_t *mem;
    void *pm = alloc_shifted(s15 + 64, 0, &mem);
    grt_stream s, sf;
    CHECK(grt_stream_init(&s, m, mem, s15 - 1) == GRT_E_BUFFER);
    CHECK(grt_stream_init(&s, m, mem + 2, s15) == GRT_E_BUFFER);
    memset(mem, 0x7F, s15);
    CHECK(grt_stream_init(&s, m, mem, s15) == GRT_OK);
    int16_t x[3] = {1000, -20000, 32767}, y[2], y0[2];
    int zero = 1;
    for (size_t i = 0; i < m->state_size; i++)
        zero &= ((int16_t *)s.state)[i] == 0;
    CHECK(zero);
    CHECK(grt_stream_step_q15(&s, x, y0) == GRT_OK);
    CHECK(grt_stream_step_q15(&s, x, y) == GRT_OK);
    int nonzero = 0;
    for (size_t i = 0; i < m->state_size; i++)
        nonzero |= ((int16_t *)s.state)[i] != 0;
    CHECK(nonzero);
    /* reset zeroes the int16 state (and only it: the bytes after it are scratch) */
    grt_stream_reset(&s);
    zero = 1;
    for (size_t i = 0; i < m->state_size; i++)
        zero &= ((int16_t *)s.state)[i] == 0;
    CHECK(zero);
    CHECK(grt_stream_step_q15(&s, x, y) == GRT_OK && memcmp(y, y0, sizeof y) == 0);
    /* x and y may be the same array */
    int16_t xy[3] = {1000, -20000, 32767};
    grt_stream_reset(&s);
    CHECK(grt_stream_step_q15(&s, xy, xy) == GRT_OK && memcmp(xy, y0, sizeof y0) == 0);

    CHECK(grt_stream_step_q15(NULL, x, y) == GRT_E_ARG);
    CHECK(grt_stream_step_q15(&s, NULL, y) == GRT_E_ARG);
    CHECK(grt_stream_step_q15(&s, x, NULL) == GRT_E_ARG);
    grt_stream unbound = {NULL, NULL, NULL};
    CHECK(grt_stream_step_q15(&unbound, x, y) == GRT_E_ARG);

    /* f32 and q8 models: the integer API refuses, the state is untouched */
    uint8_t *memf;
    void *pf = alloc_shifted(grt_stream_size(&f8.m), 0, &memf);
    CHECK(grt_stream_init(&sf, &ff.m, memf, grt_stream_size(&ff.m)) == GRT_OK);
    CHECK(grt_stream_step_q15(&sf, x, y) == GRT_E_PRECISION);
    uint8_t *work;
    size_t wsize = grt_run_work_size(m, 4);
    void *pw = alloc_shifted(wsize + 64, 0, &work);
    CHECK(grt_stream_run_q15(&sf, x, 1, y, work, wsize) == GRT_E_PRECISION);
    CHECK(grt_stream_run_q15(&sf, x, 0, y, work, wsize) == GRT_E_PRECISION);
    CHECK(grt_stream_init(&sf, &f8.m, memf, grt_stream_size(&f8.m)) == GRT_OK);
    CHECK(grt_stream_step_q15(&sf, x, y) == GRT_E_PRECISION);
    zero = 1;
    for (size_t i = 0; i < f8.m.state_size; i++)
        zero &= ((float *)sf.state)[i] == 0.0f;
    CHECK(zero);

    /* run_q15: arguments and buffers, like grt_stream_run */
    int16_t xs[3 * 4] = {0}, ys[2 * 4];
    CHECK(grt_stream_run_q15(NULL, xs, 4, ys, work, wsize) == GRT_E_ARG);
    CHECK(grt_stream_run_q15(&s, NULL, 0, NULL, NULL, 0) == GRT_OK);
    CHECK(grt_stream_run_q15(&s, NULL, 4, ys, work, wsize) == GRT_E_ARG);
    CHECK(grt_stream_run_q15(&s, xs, 4, NULL, work, wsize) == GRT_E_ARG);
    CHECK(grt_stream_run_q15(&s, xs, 4, ys, NULL, wsize) == GRT_E_ARG);
    size_t one_step = 15 * 4 + 2 * 5 * 2;
    CHECK(grt_stream_run_q15(&s, xs, 4, ys, work, one_step - 1) == GRT_E_BUFFER);
    CHECK(grt_stream_run_q15(&s, xs, 4, ys, work, one_step) == GRT_OK);
    CHECK(grt_stream_run_q15(&s, xs, 4, ys, work + 2, wsize) == GRT_E_BUFFER);
    CHECK(grt_stream_run_q15(&s, xs, 4, ys, work + 4, wsize) == GRT_OK);
    float fx[3 * 4] = {0}, fy[2 * 4];
#if GRT_HAS_FLOAT_BOUNDARY
    CHECK(grt_stream_run(&s, fx, 4, fy, work, one_step - 1) == GRT_E_BUFFER);
    CHECK(grt_stream_run(&s, fx, 4, fy, work, one_step) == GRT_OK);
#else
    CHECK(grt_stream_run(&s, fx, 4, fy, work, one_step) == GRT_E_PRECISION); /* no float API */
#endif
    free(pm), free(pf), free(pw), free(ff.mem), free(f8.mem), free(f15.mem);
}
#endif

#if GRT_HAS_Q8
/* The q8 products of the scalar level (on a Cortex-M with the DSP extension its smlad/sxtb16 path,
 * grt_kernels_q8.c) against the plain sum in int64 and the same rescaling, bit for bit: 1 to 1,100
 * columns (every tail length, any row alignment), weights and activations random or at their extremes
 * (-128/127 against ±127). port/cortex-m/test_quant_main.c runs it on an emulated Cortex-M4F. */
void test_q8_dot_exact(void)
{
    static const size_t cols_list[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 15, 16, 17, 33, 63, 64, 65, 255, 256, 257, 1100};
    enum { ROWS = 3, MAXC = 1100 };
    static int8_t W[ROWS * MAXC], xq[MAXC];
    static const uint16_t codes[ROWS] = {0x3c00u, 0x3b80u, 0x4000u}; /* bf16 codes of 2^-7, 2^-8, 2.0 */
    static const float b[ROWS] = {0.25f, -1.5f, 0.0f};
    rng r = {12345};
    int same = 1;
    for (size_t extreme = 0; extreme < 2; extreme++) {
        for (size_t c = 0; c < sizeof cols_list / sizeof cols_list[0]; c++) {
            size_t cols = cols_list[c];
            for (size_t k = 0; k < ROWS * cols; k++)
                W[k] = extreme ? (int8_t)(k % 3 == 0 ? -128 : 127) : (int8_t)(rng_u32(&r) & 255u);
            for (size_t k = 0; k < cols; k++)
                xq[k] = extreme ? (int8_t)(k % 5 == 0 ? 127 : -127) : (int8_t)((int32_t)(rng_u32(&r) % 255u) - 127);
            float y[ROWS], sx = 0.0078125f;
            grt_matvec_q8_scalar(y, W, codes, b, xq, sx, ROWS, cols);
            for (size_t i = 0; i < ROWS; i++) {
                int64_t acc = 0;
                for (size_t k = 0; k < cols; k++)
                    acc += (int64_t)W[i * cols + k] * xq[k];
                float want = b[i] + ((float)acc * grt_q8_scale(codes[i])) * sx;
                same &= memcmp(&want, &y[i], sizeof want) == 0;
            }
        }
    }
    CHECK(same);
}
#endif

void test_quant(void)
{
#if GRT_HAS_Q8
    test_q8_dot_exact();
#endif
#if GRT_HAS_FLOAT_BOUNDARY
    test_boundary();
#else
    SKIPPED("q15 float boundary (GRT_NO_FLOAT_BOUNDARY)");
#endif
#if GRT_HAS_F32 && GRT_HAS_Q8 && GRT_HAS_Q15
    test_api_errors();
#else
    SKIPPED("int16 API errors across precisions (a precision dropped; see test_config)");
#endif
    test_models();
#if GRT_HAS_F32
    test_accuracy();
#else
    SKIPPED("accuracy against f32 (GRT_NO_F32)");
#endif
}

#else
void test_quant(void)
{
    SKIPPED("q8/q15 models (GRT_NO_Q8 and GRT_NO_Q15)");
}
#endif
