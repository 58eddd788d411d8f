/* Embedding layers (kind 5, 1.5): the table row of each id in every precision, token ids through every
 * entry point (single steps, runs, batches, ragged batches, grt_model_run), and ids out of range,
 * fractional or NaN refused with GRT_E_ARG before anything changes. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"
#include "test_writer.h"

#define V 7
#define D 5
#define CAP (1u << 16)

static size_t build(uint8_t *buf, unsigned prec, int with_gru)
{
    tw_layer L[2] = {TW_EMBED(prec, V, D),
                     {GRT_LAYER_GRU, GRT_ACT_TANH, GRT_ACT_SIGMOID, 1, D, 4, prec}};
    return tw_build(buf, CAP, L, with_gru ? 2 : 1, NULL, 0, NULL, 5, 0.8f);
}

static int load(grt_model *m, const uint8_t *buf, size_t n)
{
    grt_diag d;
    grt_status st = grt_model_load(m, buf, n, 0, &d);
    if (st != GRT_OK)
        fprintf(stderr, "    load: %s %s\n", grt_status_name(st), d.field ? d.field : "");
    return st == GRT_OK;
}

/* The embedding alone gives the table's row of each id, as its precision defines it. */
static void table_rows(unsigned prec)
{
    static union { uint8_t b[CAP]; double align; } blob;
    uint8_t *buf = blob.b;
    grt_model m;
    if (!load(&m, buf, build(buf, prec, 0))) {
        CHECK(0);
        return;
    }
    CHECK_EQ_U(m.input_size, 1);
    CHECK_EQ_U(m.layers[0].vocab_size, V);
    CHECK_EQ_U(m.state_size, 0);
    grt_tensor_info t, sc;
    CHECK(grt_layer_tensor(&m, 0, GRT_ROLE_TABLE, &t) == GRT_OK);
    CHECK_EQ_U(t.rows, V);
    CHECK_EQ_U(t.cols, D);
    static union { uint8_t b[4096]; double align; } mem;
    grt_stream s;
    CHECK(grt_stream_init(&s, &m, mem.b, sizeof mem.b) == GRT_OK);
    int bad = 0;
    for (uint32_t id = 0; id < V; id++) {
        if (prec == GRT_PREC_Q15) {
            int16_t y[D];
            CHECK(grt_stream_step_token_q15(&s, id, y) == GRT_OK);
            bad += memcmp(y, (const int16_t *)t.data + id * D, sizeof y) != 0;
            continue;
        }
        float y[D];
        CHECK(grt_stream_step_token(&s, id, y) == GRT_OK);
        for (int j = 0; j < D; j++) {
            float want = ((const float *)t.data)[id * D + j];
            if (prec == GRT_PREC_Q8) {
                CHECK(grt_layer_tensor(&m, 0, GRT_ROLE_W_IH_SCALE, &sc) == GRT_OK);
                uint32_t bits = (uint32_t)((const uint16_t *)sc.data)[id] << 16;
                float scale;
                memcpy(&scale, &bits, sizeof scale);
                want = (float)((const int8_t *)t.data)[id * D + j] * scale;
            }
            bad += memcmp(&y[j], &want, sizeof want) != 0;
        }
    }
    CHECK_EQ_U(bad, 0);
}

#if GRT_HAS_FLOAT_BOUNDARY || !GRT_HAS_Q15 /* the float API (the int16 one of q15 models too) */
/* ids 0..V-1 then the same as floats: step == token step == run == batch == model_run; bad ids refused. */
static void token_paths(unsigned prec)
{
    static union { uint8_t b[CAP]; double align; } blob;
    uint8_t *buf = blob.b;
    grt_model m;
    if (!load(&m, buf, build(buf, prec, 1))) {
        CHECK(0);
        return;
    }
    enum { T = 12, O = 4 };
    float xs[T], ys_step[T * O], ys_tok[T * O], ys_run[T * O], ys_model[T * O], ys_batch[2 * T * O];
    for (int t = 0; t < T; t++)
        xs[t] = (float)((t * 5 + 3) % V);
    size_t need = grt_stream_size(&m);
    uint8_t *mem;
    void *mem_base = alloc_shifted((need + 63) / 64 * 64 * 3, 0, &mem);
    grt_stream a, b, c;
    CHECK(grt_stream_init(&a, &m, mem, need) == GRT_OK);
    CHECK(grt_stream_init(&b, &m, mem + (need + 63) / 64 * 64, need) == GRT_OK);
    CHECK(grt_stream_init(&c, &m, mem + 2 * ((need + 63) / 64 * 64), need) == GRT_OK);
    for (int t = 0; t < T; t++) {
        grt_stream_step(&a, &xs[t], ys_step + t * O);
        CHECK(grt_stream_step_token(&b, (uint32_t)xs[t], ys_tok + t * O) == GRT_OK);
    }
    CHECK(memcmp(ys_step, ys_tok, sizeof ys_step) == 0);
    size_t wsize = grt_model_run_work_size(&m, 2 * T) + grt_batch_run_work_size(&m, 2, 4);
    uint8_t *work;
    void *work_base = alloc_shifted(wsize, 0, &work);
    grt_stream_reset(&c);
    CHECK(grt_stream_run(&c, xs, T, ys_run, work, grt_run_work_size(&m, 5)) == GRT_OK);
    CHECK(memcmp(ys_step, ys_run, sizeof ys_step) == 0);
    CHECK(grt_model_run(&m, xs, T, ys_model, work, grt_model_run_work_size(&m, T)) == GRT_OK);
    CHECK(memcmp(ys_step, ys_model, sizeof ys_step) == 0);
    float xs2[2 * T];
    memcpy(xs2, xs, sizeof xs);
    memcpy(xs2 + T, xs, sizeof xs);
    grt_stream_reset(&a);
    grt_stream_reset(&b);
    grt_stream *pair[2] = {&a, &b};
    CHECK(grt_streams_run(pair, 2, xs2, T, ys_batch, work, grt_batch_run_work_size(&m, 2, 4)) == GRT_OK);
    CHECK(memcmp(ys_step, ys_batch, sizeof ys_step) == 0 && memcmp(ys_step, ys_batch + T * O, sizeof ys_step) == 0);

    /* bad ids: nothing changes, GRT_E_ARG everywhere */
    const float bad_ids[] = {(float)V, -1.0f, 1.5f, NAN, 1e30f};
    uint8_t *before = malloc(need);
    for (size_t k = 0; k < sizeof bad_ids / sizeof bad_ids[0]; k++) {
        float x[T], y[T * O], y0[O] = {42, 42, 42, 42};
        memcpy(x, xs, sizeof x);
        x[T - 1] = bad_ids[k];
        memcpy(before, mem, need);
        grt_stream_step(&a, &x[T - 1], y0);
        CHECK(y0[0] == 42 && memcmp(before, mem, need) == 0);
        CHECK(grt_stream_run(&a, x, T, y, work, grt_run_work_size(&m, 5)) == GRT_E_ARG);
        CHECK(memcmp(before, mem, need) == 0);
        CHECK(grt_model_run(&m, x, T, y, work, grt_model_run_work_size(&m, T)) == GRT_E_ARG);
        float x2[2 * T];
        memcpy(x2, xs, sizeof xs);
        memcpy(x2 + T, x, sizeof x);
        CHECK(grt_streams_run(pair, 2, x2, T, ys_batch, work, grt_batch_run_work_size(&m, 2, 4)) == GRT_E_ARG);
        const float *rx[2] = {xs, x};
        float *ry[2] = {ys_batch, ys_batch + T * O};
        size_t lens[2] = {T, T};
        CHECK(grt_streams_run_ragged(pair, 2, rx, lens, ry, work, grt_batch_run_work_size(&m, 2, 4)) ==
              GRT_E_ARG);
        CHECK(memcmp(before, mem, need) == 0);
    }
    float y[O];
    CHECK(grt_stream_step_token(&a, V, y) == GRT_E_ARG);
    if (prec == GRT_PREC_Q15) {
        int16_t xq[T], yq[T * O], yq_tok[T * O];
        for (int t = 0; t < T; t++)
            xq[t] = (int16_t)xs[t];
        grt_stream_reset(&a);
        grt_stream_reset(&b);
        CHECK(grt_stream_run_q15(&a, xq, T, yq, work, grt_run_work_size(&m, 5)) == GRT_OK);
        for (int t = 0; t < T; t++)
            CHECK(grt_stream_step_token_q15(&b, (uint32_t)xq[t], yq_tok + t * O) == GRT_OK);
        CHECK(memcmp(yq, yq_tok, sizeof yq) == 0);
        int16_t bad = V, neg = -1;
        CHECK(grt_stream_step_q15(&a, &bad, yq) == GRT_E_ARG);
        CHECK(grt_stream_step_q15(&a, &neg, yq) == GRT_E_ARG);
        CHECK(grt_stream_step_token_q15(&a, 40000u, yq) == GRT_E_ARG);
    }
    free(before);
    free(work_base);
    free(mem_base);
}

#endif

/* A model without an Embedding has no token steps. */
static void not_a_token_model(void)
{
    static union { uint8_t b[CAP]; double align; } blob, mem;
    tw_layer L[1] = {{GRT_LAYER_GRU, GRT_ACT_TANH, GRT_ACT_SIGMOID, 1, 1, 4, GRT_PREC_F32}};
    grt_model m;
    grt_stream s;
    float y[4];
    if (!tw_built(L, 1) || !load(&m, blob.b, tw_build(blob.b, CAP, L, 1, NULL, 0, NULL, 3, 0.5f)))
        return;
    CHECK(grt_stream_init(&s, &m, mem.b, sizeof mem.b) == GRT_OK);
    CHECK(grt_stream_step_token(&s, 0, y) == GRT_E_LAYER_KIND);
    CHECK(grt_stream_step_token(NULL, 0, y) == GRT_E_ARG);
}

void test_embed(void)
{
    static const unsigned precs[] = {GRT_PREC_F32, GRT_PREC_Q8, GRT_PREC_Q15};
    long before = g_passed;
    for (size_t k = 0; k < 3; k++) {
        tw_layer L[1] = {TW_EMBED(precs[k], V, D)};
        if (!tw_built(L, 1)) {
            SKIPPED("embedding precision");
            continue;
        }
        table_rows(precs[k]);
#if GRT_HAS_FLOAT_BOUNDARY || !GRT_HAS_Q15
        token_paths(precs[k]);
#endif
    }
    not_a_token_model();
    printf("  embedding (1.5): %ld checks passed\n", g_passed - before);
}
