/* Streams: sizes and argument errors, reset, and grt_stream_run == a loop of grt_stream_step, bit for
 * bit, at several chunk sizes and from a non-zero state. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"
#include "test_writer.h"

#if GRT_HAS_F32 /* the whole file: f32 fixtures (GRT_NO_F32: skipped) */

#define CAP 65536

typedef struct fixture {
    void *blob_mem;
    uint8_t *blob;
    grt_model m;
} fixture;

static int fixture_load_opt(fixture *f, const tw_layer *layers, size_t n, const tw_options *opt, uint32_t seed,
                            float scale)
{
    f->blob_mem = alloc_shifted(CAP, 0, &f->blob);
    size_t size = tw_build(f->blob, CAP, layers, n, NULL, 0, opt, seed, scale);
    return size > 0 && grt_model_load(&f->m, f->blob, size, 0, NULL) == GRT_OK;
}

static int fixture_load(fixture *f, const tw_layer *layers, size_t n, uint32_t seed, float scale)
{
    return fixture_load_opt(f, layers, n, NULL, seed, scale);
}

static void fill_inputs(float *xs, size_t n, uint32_t seed)
{
    rng r = {seed};
    for (size_t i = 0; i < n; i++)
        xs[i] = rng_uniform(&r, -2.0f, 2.0f);
}

/* Step T times from the current state of s. */
static void step_loop(grt_stream *s, const float *xs, size_t T, float *ys)
{
    const grt_model *m = s->model;
    for (size_t t = 0; t < T; t++)
        grt_stream_step(s, xs + t * m->input_size, ys + t * m->output_size);
}

/* run at work sizes for chunk steps == step loop, twice in a row (the second from a non-zero state). */
static void check_run_equals_step(const grt_model *m, size_t T)
{
    static const size_t chunks[] = {1, 2, 7, 0 /* = T */};
    size_t I = m->input_size, O = m->output_size, ssize = grt_stream_size(m);
    float *xs = malloc(2 * T * I * sizeof(float));
    float *ys_step = malloc(2 * T * O * sizeof(float)), *ys_run = malloc(2 * T * O * sizeof(float));
    uint8_t *mem_a, *mem_b;
    void *ma = alloc_shifted(ssize, 0, &mem_a), *mb = alloc_shifted(ssize, 4, &mem_b);
    grt_stream a, b;
    fill_inputs(xs, 2 * T * I, (uint32_t)T);
    CHECK(grt_stream_init(&a, m, mem_a, ssize) == GRT_OK);
    step_loop(&a, xs, 2 * T, ys_step);
    for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
        size_t chunk = chunks[c] ? chunks[c] : T;
        size_t wsize = grt_run_work_size(m, chunk);
        uint8_t *work;
        void *wm = alloc_shifted(wsize, 0, &work);
        memset(ys_run, 0xFF, 2 * T * O * sizeof(float));
        CHECK(grt_stream_init(&b, m, mem_b, ssize) == GRT_OK);
        CHECK(grt_stream_run(&b, xs, T, ys_run, work, wsize) == GRT_OK);
        CHECK(grt_stream_run(&b, xs + T * I, T, ys_run + T * O, work, wsize) == GRT_OK);
        CHECK(memcmp(ys_run, ys_step, 2 * T * O * sizeof(float)) == 0);
        CHECK(m->state_size == 0 || memcmp(a.state, b.state, m->state_size * sizeof(float)) == 0);
        free(wm);
    }
    /* the whole-sequence entry point from a zero state: the first T steps, bit for bit */
    size_t wsize = grt_model_run_work_size(m, T);
    uint8_t *work;
    void *wm = alloc_shifted(wsize, 0, &work);
    memset(ys_run, 0xFF, T * O * sizeof(float));
    memset(work, 0x5A, wsize); /* a Conv1D's window starts from zeros whatever the work held */
    CHECK(grt_model_run(m, xs, T, ys_run, work, wsize) == GRT_OK);
    CHECK(memcmp(ys_run, ys_step, T * O * sizeof(float)) == 0);
    CHECK(grt_model_run(m, xs, T, ys_run, work, wsize - 1) == GRT_E_BUFFER);
    CHECK(grt_model_run(m, xs, T, ys_run, work + 2, wsize) == GRT_E_BUFFER);
    CHECK(grt_model_run(m, xs, T, NULL, work, wsize) == GRT_E_ARG);
    CHECK(grt_model_run(m, NULL, 0, NULL, NULL, 0) == GRT_OK);
    CHECK(grt_model_run(NULL, xs, T, ys_run, work, wsize) == GRT_E_ARG);
    CHECK(grt_model_run_q15(m, NULL, T, NULL, work, wsize) == GRT_E_PRECISION);
    CHECK(grt_model_run_work_size(m, 0) == 0 && grt_model_run_work_size(NULL, T) == 0);
    free(wm);
    free(ma), free(mb), free(xs), free(ys_step), free(ys_run);
}

/* A reverse GRU (layer entry byte 6 = 1): grt_model_run of xs equals, reversed in time, a forward
 * stream over xs reversed in time; such a model has no streams (1.4). */
#if GRT_HAS_BIDIR
static void test_reverse_run(void)
{
    static const tw_layer layers[] = {{GRT_LAYER_GRU, GRT_ACT_TANH, GRT_ACT_SIGMOID, 1, 5, 7, GRT_PREC_F32}};
    enum { T = 13, I = 5, H = 7 };
    fixture f;
    CHECK(fixture_load(&f, layers, 1, 21, 0.5f));
    float xs[T * I], xr[T * I], ys[T * H], yr[T * H];
    fill_inputs(xs, T * I, 3);
    for (size_t t = 0; t < T; t++)
        memcpy(xr + t * I, xs + (T - 1 - t) * I, I * sizeof(float));
    size_t ssize = grt_stream_size(&f.m);
    uint8_t *mem;
    void *mm = alloc_shifted(ssize, 0, &mem);
    grt_stream s;
    CHECK(grt_stream_init(&s, &f.m, mem, ssize) == GRT_OK);
    step_loop(&s, xr, T, yr);
    /* the same file with direction = reverse */
    size_t size = f.m.size;
    tw_put_u8(f.blob, tw_layer_field(0, 6), GRT_DIR_REVERSE);
    tw_fix_crc(f.blob, size);
    CHECK(grt_model_load(&f.m, f.blob, size, 0, NULL) == GRT_OK);
    CHECK(f.m.needs_future == 1 && f.m.layers[0].direction == GRT_DIR_REVERSE);
    CHECK(grt_stream_size(&f.m) == 0);
    CHECK(grt_stream_init(&s, &f.m, mem, ssize) == GRT_E_LAYER_FIELD);
    size_t wsize = grt_model_run_work_size(&f.m, T);
    uint8_t *work;
    void *wm = alloc_shifted(wsize, 0, &work);
    CHECK(grt_model_run(&f.m, xs, T, ys, work, wsize) == GRT_OK);
    int same = 1;
    for (size_t t = 0; t < T; t++)
        same &= memcmp(ys + t * H, yr + (T - 1 - t) * H, H * sizeof(float)) == 0;
    CHECK(same);
    free(wm);
    free(mm);
    free(f.blob_mem);
}
#endif

/* Also run by test_isa under every instruction-set level. */
void test_run_equals_step(void)
{
    static const tw_layer three[] = {
        {GRT_LAYER_GRU, GRT_ACT_TANH, GRT_ACT_SIGMOID, 1, 6, 17, GRT_PREC_F32},
        {GRT_LAYER_GRU, GRT_ACT_RELU, GRT_ACT_HARD_SIGMOID, 0, 17, 9, GRT_PREC_F32},
        {GRT_LAYER_DENSE, GRT_ACT_SOFTMAX, 0, 0, 9, 5, GRT_PREC_F32},
    };
    static const tw_layer mixed[] = {
        {GRT_LAYER_DENSE, GRT_ACT_TANH, 0, 0, 4, 33, GRT_PREC_F32},
        {GRT_LAYER_GRU, GRT_ACT_TANH, GRT_ACT_HARD_SIGMOID_K2, 0, 33, 8, GRT_PREC_F32},
        {GRT_LAYER_GRU, GRT_ACT_TANH, GRT_ACT_SIGMOID, 1, 8, 40, GRT_PREC_F32},
        {GRT_LAYER_DENSE, GRT_ACT_SIGMOID, 0, 0, 40, 3, GRT_PREC_F32},
    };
    static const tw_layer dense_only[] = {{GRT_LAYER_DENSE, GRT_ACT_RELU, 0, 0, 7, 3, GRT_PREC_F32}};
    /* LSTM layers (1.4) of both float precisions, beside a GRU */
    static const tw_layer lstm[] = {
        {GRT_LAYER_LSTM, GRT_ACT_TANH, GRT_ACT_SIGMOID, 0, 6, 17, GRT_PREC_F32},
        {GRT_LAYER_GRU, GRT_ACT_TANH, GRT_ACT_SIGMOID, 1, 17, 9, GRT_PREC_F32},
        {GRT_LAYER_LSTM, GRT_ACT_RELU, GRT_ACT_HARD_SIGMOID, 0, 9, 33, GRT_HAS_Q8 ? GRT_PREC_Q8 : GRT_PREC_F32},
        {GRT_LAYER_DENSE, GRT_ACT_SOFTMAX, 0, 0, 33, 5, GRT_PREC_F32},
    };
    /* Conv1D (1.4): windows of 4, 9 and 0 frames, depthwise, chunks shorter than a window */
    static const tw_layer conv[] = {
        TW_CONV(GRT_PREC_F32, GRT_ACT_RELU, 0, 3, 8, 3, 2),
        {GRT_LAYER_GRU, GRT_ACT_TANH, GRT_ACT_SIGMOID, 1, 8, 6, GRT_PREC_F32},
        TW_CONV(GRT_PREC_F32, GRT_ACT_TANH, 1, 6, 12, 4, 3),
        TW_CONV(GRT_PREC_F32, GRT_ACT_SOFTMAX, 0, 12, 4, 1, 1),
    };
    fixture f;
    CHECK(fixture_load(&f, three, 3, 11, 0.4f));
    check_run_equals_step(&f.m, 50);
    check_run_equals_step(&f.m, 1);
    free(f.blob_mem);
    CHECK(fixture_load(&f, mixed, 4, 12, 0.3f));
    check_run_equals_step(&f.m, 23);
    free(f.blob_mem);
    if (tw_built(lstm, 4)) {
        CHECK(fixture_load(&f, lstm, 4, 14, 0.4f));
        CHECK(f.m.state_size == 2 * 17 + 9 + 2 * 33 && f.m.max_gates == 4 * 33);
        check_run_equals_step(&f.m, 37);
        free(f.blob_mem);
    }
    CHECK(fixture_load(&f, dense_only, 1, 13, 1.0f));
    CHECK(f.m.state_size == 0 && f.m.max_gates == 0);
    check_run_equals_step(&f.m, 9);
    free(f.blob_mem);
    if (tw_built(conv, 4)) {
        CHECK(fixture_load(&f, conv, 4, 14, 0.5f));
        CHECK(f.m.state_size == 4 * 3 + 6 + 9 * 6 && f.m.layers[2].state_offset == 12 + 6);
        check_run_equals_step(&f.m, 30);
        check_run_equals_step(&f.m, 1);
        free(f.blob_mem);
    }
}

/* A panel8 model computes what the row-major model with the same weights does (up to the
 * summation order: within 1e-5 over 40 steps), and its run equals its steps bit for bit. */
void test_panel_layout_stream(void)
{
    static const tw_layer layers[] = {
        {GRT_LAYER_GRU, GRT_ACT_TANH, GRT_ACT_SIGMOID, 1, 6, 16, GRT_PREC_F32},
        {GRT_LAYER_GRU, GRT_ACT_TANH, GRT_ACT_HARD_SIGMOID, 0, 16, 40, GRT_PREC_F32},
        {GRT_LAYER_DENSE, GRT_ACT_SOFTMAX, 0, 0, 40, 5, GRT_PREC_F32},
    };
    enum { T = 40 };
    tw_options panel8 = {0, 0, 0, TW_FILL_RANDOM, 1};
    fixture rm, p8;
    CHECK(fixture_load(&rm, layers, 3, 21, 0.4f));
    CHECK(fixture_load_opt(&p8, layers, 3, &panel8, 21, 0.4f));
    CHECK(p8.m.layers[0].weight_layout == GRT_LAYOUT_PANEL8 && p8.m.layers[2].weight_layout == GRT_LAYOUT_PANEL8);
    size_t ssize = grt_stream_size(&rm.m);
    CHECK(ssize == grt_stream_size(&p8.m));
    float xs[T * 6], ya[T * 5], yb[T * 5];
    fill_inputs(xs, T * 6, 77);
    uint8_t *ma, *mb;
    void *a_mem = alloc_shifted(ssize, 0, &ma), *b_mem = alloc_shifted(ssize, 0, &mb);
    grt_stream a, b;
    CHECK(grt_stream_init(&a, &rm.m, ma, ssize) == GRT_OK && grt_stream_init(&b, &p8.m, mb, ssize) == GRT_OK);
    step_loop(&a, xs, T, ya);
    step_loop(&b, xs, T, yb);
    double worst = 0;
    for (size_t i = 0; i < T * 5; i++)
        worst = fabs((double)ya[i] - yb[i]) > worst ? fabs((double)ya[i] - yb[i]) : worst;
    CHECK(worst < 1e-5);
    check_run_equals_step(&p8.m, 23);
    free(a_mem), free(b_mem), free(rm.blob_mem), free(p8.blob_mem);
}

static void test_sizes_and_errors(void)
{
    static const tw_layer one[] = {{GRT_LAYER_GRU, GRT_ACT_TANH, GRT_ACT_SIGMOID, 1, 3, 5, GRT_PREC_F32},
                                   {GRT_LAYER_DENSE, GRT_ACT_LINEAR, 0, 0, 5, 2, GRT_PREC_F32}};
    fixture f;
    CHECK(fixture_load(&f, one, 2, 5, 0.5f));
    const grt_model *m = &f.m;
    size_t ssize = grt_stream_size(m);
    CHECK(ssize > 0 && ssize % 64 == 0);
    CHECK(ssize >= (m->state_size + 2 * m->max_gates + 3 * m->max_width) * sizeof(float));

    grt_model zero;
    memset(&zero, 0, sizeof zero);
    CHECK(grt_stream_size(NULL) == 0 && grt_stream_size(&zero) == 0);
    CHECK(grt_run_work_size(NULL, 4) == 0 && grt_run_work_size(&zero, 4) == 0);
    CHECK(grt_run_work_size(m, 0) == 0);
    CHECK(grt_run_work_size(m, 3) % 64 == 0 && grt_run_work_size(m, 3) >= 3 * (15 + 10) * sizeof(float));
    CHECK(grt_run_work_size(m, SIZE_MAX) > 0); /* saturates, does not wrap */

    uint8_t *mem;
    void *mm = alloc_shifted(ssize + 8, 0, &mem);
    grt_stream s;
    CHECK(grt_stream_init(NULL, m, mem, ssize) == GRT_E_ARG);
    CHECK(grt_stream_init(&s, NULL, mem, ssize) == GRT_E_ARG);
    CHECK(grt_stream_init(&s, &zero, mem, ssize) == GRT_E_ARG);
    CHECK(grt_stream_init(&s, m, NULL, ssize) == GRT_E_ARG);
    CHECK(grt_stream_init(&s, m, mem, ssize - 1) == GRT_E_BUFFER);
    CHECK(grt_stream_init(&s, m, mem + 2, ssize) == GRT_E_BUFFER);
    CHECK(grt_stream_init(&s, m, mem + 4, ssize) == GRT_OK); /* float alignment is enough */
    memset(mem, 0x7F, ssize);
    CHECK(grt_stream_init(&s, m, mem, ssize) == GRT_OK);
    int zeroed = 1;
    for (size_t i = 0; i < m->state_size; i++)
        zeroed &= ((const float *)s.state)[i] == 0.0f;
    CHECK(zeroed);

    /* Reset: state back to zero, and the next output equals a fresh stream's. */
    float x[3] = {0.5f, -1.0f, 2.0f}, y0[2], y1[2];
    grt_stream_step(&s, x, y0);
    grt_stream_step(&s, x, y1);
    grt_stream_reset(&s);
    zeroed = 1;
    for (size_t i = 0; i < m->state_size; i++)
        zeroed &= ((const float *)s.state)[i] == 0.0f;
    CHECK(zeroed);
    grt_stream_step(&s, x, y1);
    CHECK(memcmp(y0, y1, sizeof y0) == 0);
    grt_stream_reset(NULL);
    grt_stream_step(NULL, x, y1); /* cannot fail: ignored */

    /* x and y may be the same array when the sizes allow it. */
    float xy[3] = {0.5f, -1.0f, 2.0f};
    grt_stream_reset(&s);
    grt_stream_step(&s, xy, xy);
    CHECK(memcmp(xy, y0, sizeof y0) == 0);

    /* run: arguments and buffers. */
    size_t wsize = grt_run_work_size(m, 2);
    uint8_t *work;
    void *wm = alloc_shifted(wsize + 8, 0, &work);
    float xs[6] = {0}, ys[4];
    CHECK(grt_stream_run(NULL, xs, 2, ys, work, wsize) == GRT_E_ARG);
    CHECK(grt_stream_run(&s, NULL, 0, NULL, NULL, 0) == GRT_OK); /* T = 0: nothing to do */
    CHECK(grt_stream_run(&s, NULL, 2, ys, work, wsize) == GRT_E_ARG);
    CHECK(grt_stream_run(&s, xs, 2, NULL, work, wsize) == GRT_E_ARG);
    CHECK(grt_stream_run(&s, xs, 2, ys, NULL, wsize) == GRT_E_ARG);
    size_t one_step = (m->max_gates + 2 * m->max_width) * sizeof(float);
    CHECK(grt_stream_run(&s, xs, 2, ys, work, one_step - 4) == GRT_E_BUFFER);
    CHECK(grt_stream_run(&s, xs, 2, ys, work, one_step) == GRT_OK);
    CHECK(grt_stream_run(&s, xs, 2, ys, work + 1, wsize) == GRT_E_BUFFER);
    CHECK(grt_stream_run(&s, xs, 2, ys, work, grt_run_work_size(m, 1)) == GRT_OK); /* chunks of 1 */
    CHECK(grt_stream_run(&s, xs, 2, ys, work + 4, wsize) == GRT_OK);
    free(wm);
    free(mm);
    free(f.blob_mem);
}

void test_stream(void)
{
    test_sizes_and_errors();
    test_run_equals_step();
#if GRT_HAS_BIDIR
    test_reverse_run();
#else
    SKIPPED("reverse GRU (GRT_NO_BIDIR)");
#endif
}

#else
void test_run_equals_step(void)
{
    SKIPPED("f32 run == step (GRT_NO_F32)");
}

void test_panel_layout_stream(void)
{
    SKIPPED("f32 panel8 streams (GRT_NO_F32)");
}

void test_stream(void)
{
    SKIPPED("f32 streams (GRT_NO_F32)");
}
#endif
