/* Batches of streams (grt_streams_step/run and their q15 variants): per stream bit-identical to
 * grt_stream_step/run on that stream, under every instruction-set level this CPU supports, for f32, q8,
 * f32+q8 and q15 models (both reset_after modes, several gate activations, q15 LSTM layers, Dense layers before and
 * after, a q15 layer of 600 inputs, f32 layers in the panel8 weight layout), B in {1, 2, 3, 7, 16, 33}, from different random starting states,
 * with single steps and resets of members between batch steps, in every chunking of the run; the work
 * sizes; every error, each leaving the streams and outputs untouched. */
#include <stdlib.h>
#include <string.h>

#include "test_util.h"
#include "test_writer.h"

#define CAP (4 << 20)
#define GRU_L(prec, act, gate, ra, i, o) {GRT_LAYER_GRU, act, gate, ra, i, o, prec}
#define DENSE_L(prec, act, i, o) {GRT_LAYER_DENSE, act, 0, 0, i, o, prec}
/* a causal Conv1D: kernel k, dilation d, depthwise dw (1.4) */
#define CONV_L TW_CONV
#define F GRT_PREC_F32
#define Q8 GRT_PREC_Q8
#define Q15 GRT_PREC_Q15

static const tw_layer m_f32[] = {GRU_L(F, GRT_ACT_TANH, GRT_ACT_SIGMOID, 1, 6, 17),
                                 GRU_L(F, GRT_ACT_RELU, GRT_ACT_HARD_SIGMOID, 0, 17, 9),
                                 DENSE_L(F, GRT_ACT_SOFTMAX, 9, 5)};
static const tw_layer m_mixed[] = {DENSE_L(F, GRT_ACT_TANH, 4, 33),
                                   GRU_L(Q8, GRT_ACT_TANH, GRT_ACT_HARD_SIGMOID_K2, 0, 33, 8),
                                   GRU_L(F, GRT_ACT_TANH, GRT_ACT_SIGMOID, 1, 8, 40),
                                   DENSE_L(Q8, GRT_ACT_SIGMOID, 40, 3)};
static const tw_layer m_dense[] = {DENSE_L(F, GRT_ACT_RELU, 7, 3)};
static const tw_layer m_q8[] = {GRU_L(Q8, GRT_ACT_TANH, GRT_ACT_SIGMOID, 1, 12, 48),
                                GRU_L(Q8, GRT_ACT_TANH, GRT_ACT_HARD_SIGMOID, 0, 48, 33),
                                DENSE_L(Q8, GRT_ACT_SOFTMAX, 33, 5)};
static const tw_layer m_q15[] = {GRU_L(Q15, GRT_ACT_TANH, GRT_ACT_SIGMOID, 1, 12, 48),
                                 GRU_L(Q15, GRT_ACT_TANH, GRT_ACT_HARD_SIGMOID_K2, 0, 48, 31),
                                 DENSE_L(Q15, GRT_ACT_SOFTMAX, 31, 6)};
static const tw_layer m_q15_wide[] = {GRU_L(Q15, GRT_ACT_TANH, GRT_ACT_SIGMOID, 0, 600, 9),
                                      DENSE_L(Q15, GRT_ACT_LINEAR, 9, 257)};
/* q15 LSTM layers (1.5; the test writer's cell_bits 2) beside a GRU */
static const tw_layer m_lstm_q15[] = {{GRT_LAYER_LSTM, GRT_ACT_TANH, GRT_ACT_SIGMOID, 0, 12, 20, Q15},
                                      GRU_L(Q15, GRT_ACT_TANH, GRT_ACT_SIGMOID, 1, 20, 9),
                                      {GRT_LAYER_LSTM, GRT_ACT_TANH, GRT_ACT_HARD_SIGMOID, 0, 9, 33, Q15},
                                      DENSE_L(Q15, GRT_ACT_SOFTMAX, 33, 5)};
/* written with the panel8 layout (every f32 layer here may have it: H % 8 = 0) */
static const tw_layer m_panel8[] = {GRU_L(F, GRT_ACT_TANH, GRT_ACT_SIGMOID, 1, 6, 16),
                                    GRU_L(F, GRT_ACT_TANH, GRT_ACT_HARD_SIGMOID, 0, 16, 40),
                                    DENSE_L(F, GRT_ACT_SOFTMAX, 40, 5)};

typedef struct model_case {
    const tw_layer *layers;
    size_t n;
    const char *name;
    uint32_t panel8; /* tw_options.panel8 */
} model_case;

/* Conv1D windows (of 4 and 9 frames) in front of a GRU, in each precision. */
static const tw_layer m_conv[] = {CONV_L(F, GRT_ACT_RELU, 0, 3, 8, 3, 2), GRU_L(F, GRT_ACT_TANH, GRT_ACT_SIGMOID, 1, 8, 6),
                                  CONV_L(F, GRT_ACT_TANH, 1, 6, 12, 4, 3), DENSE_L(F, GRT_ACT_SOFTMAX, 12, 4)};
static const tw_layer m_conv_q8[] = {CONV_L(Q8, GRT_ACT_RELU, 0, 3, 8, 3, 2),
                                     GRU_L(Q8, GRT_ACT_TANH, GRT_ACT_SIGMOID, 1, 8, 6),
                                     CONV_L(Q8, GRT_ACT_TANH, 1, 6, 12, 4, 3), DENSE_L(Q8, GRT_ACT_SOFTMAX, 12, 4)};
static const tw_layer m_conv_q15[] = {CONV_L(Q15, GRT_ACT_RELU, 0, 3, 8, 3, 2),
                                      GRU_L(Q15, GRT_ACT_TANH, GRT_ACT_SIGMOID, 1, 8, 6),
                                      CONV_L(Q15, GRT_ACT_TANH, 1, 6, 12, 4, 3), DENSE_L(Q15, GRT_ACT_SOFTMAX, 12, 4)};

static const model_case models[] = {{m_f32, 3, "f32", 0},   {m_mixed, 4, "f32+q8", 0}, {m_dense, 1, "dense", 0},
                                    {m_q8, 3, "q8", 0},     {m_q15, 3, "q15", 0},      {m_q15_wide, 2, "q15 wide", 0},
                                    {m_panel8, 3, "f32 panel8", 1}, {m_conv, 4, "f32 conv1d", 0},
                                    {m_conv_q8, 4, "q8 conv1d", 0}, {m_conv_q15, 4, "q15 conv1d", 0},
                                    {m_lstm_q15, 4, "q15 lstm", 0}};
#define N_MODELS (sizeof models / sizeof models[0])

static const size_t batch_sizes[] = {1, 2, 3, 7, 16, 33};

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return p;
}

/* The model of case k in blob memory *mem (to free); 0 if this build leaves one of its precisions out. */
static int load_case(grt_model *m, void **mem, size_t k)
{
    uint8_t *blob;
    *mem = NULL;
    if (!tw_built(models[k].layers, models[k].n))
        return 0;
    *mem = alloc_shifted(CAP, 0, &blob);
    tw_options opt = {0, 0, 0, TW_FILL_RANDOM, models[k].panel8};
    size_t size = tw_build(blob, CAP, models[k].layers, models[k].n, NULL, 0, &opt, 60 + (uint32_t)k, 0.5f);
    int ok = size > 0 && grt_model_load(m, blob, size, 0, NULL) == GRT_OK;
    CHECK(ok);
    CHECK(!ok || !models[k].panel8 || m->layers[0].weight_layout == GRT_LAYOUT_PANEL8);
    return ok;
}

static size_t state_elem(const grt_model *m)
{
    return m->q15 ? sizeof(int16_t) : sizeof(float);
}

/* B streams stepped as a batch (`bat`, through ptrs) and their twins stepped alone (`ref`), with equal
 * random starting states. ptrs[b] = &bat[B - 1 - b]: against memory order, so the distinctness check
 * sorts for real; ref_ptrs[b] is ptrs[b]'s twin. */
typedef struct twins {
    size_t B, ssize;
    void *mem[2];
    grt_stream *bat, *ref;
    grt_stream **ptrs, **ref_ptrs;
} twins;

static void twins_init(twins *t, const grt_model *m, size_t B, rng *r)
{
    uint8_t *bm, *rm;
    t->B = B;
    t->ssize = grt_stream_size(m);
    t->mem[0] = alloc_shifted(B * t->ssize, 0, &bm);
    t->mem[1] = alloc_shifted(B * t->ssize, 4, &rm);
    t->bat = xmalloc(B * sizeof(grt_stream));
    t->ref = xmalloc(B * sizeof(grt_stream));
    t->ptrs = xmalloc(B * sizeof(grt_stream *));
    t->ref_ptrs = xmalloc(B * sizeof(grt_stream *));
    for (size_t k = 0; k < B; k++) {
        CHECK(grt_stream_init(&t->bat[k], m, bm + k * t->ssize, t->ssize) == GRT_OK);
        CHECK(grt_stream_init(&t->ref[k], m, rm + k * t->ssize, t->ssize) == GRT_OK);
        for (size_t i = 0; i < m->state_size; i++) {
            if (m->q15)
                ((int16_t *)t->bat[k].state)[i] = (int16_t)(int32_t)(rng_u32(r) % 60001u - 30000u);
            else
                ((float *)t->bat[k].state)[i] = rng_uniform(r, -1.0f, 1.0f);
        }
        memcpy(t->ref[k].state, t->bat[k].state, m->state_size * state_elem(m));
    }
    for (size_t b = 0; b < B; b++) {
        t->ptrs[b] = &t->bat[B - 1 - b];
        t->ref_ptrs[b] = &t->ref[B - 1 - b];
    }
}

static void twins_free(twins *t)
{
    free(t->mem[0]), free(t->mem[1]), free(t->bat), free(t->ref), free(t->ptrs), free(t->ref_ptrs);
}

static int twins_states_equal(const twins *t, const grt_model *m)
{
    int ok = 1;
    for (size_t k = 0; k < t->B; k++)
        ok &= memcmp(t->bat[k].state, t->ref[k].state, m->state_size * state_elem(m)) == 0;
    return ok;
}

/* n inputs: floats in [-2, 2], or int16 values in [-20000, 20000]. */
static void fill_inputs(rng *r, void *x, size_t n, int q15_api)
{
    for (size_t i = 0; i < n; i++) {
        if (q15_api)
            ((int16_t *)x)[i] = (int16_t)(int32_t)(rng_u32(r) % 40001u - 20000u);
        else
            ((float *)x)[i] = rng_uniform(r, -2.0f, 2.0f);
    }
}

static grt_status batch_step(twins *t, int q15_api, const void *xs, void *ys, void *work, size_t wsize)
{
    if (q15_api)
        return grt_streams_step_q15(t->ptrs, t->B, (const int16_t *)xs, (int16_t *)ys, work, wsize);
    return grt_streams_step(t->ptrs, t->B, (const float *)xs, (float *)ys, work, wsize);
}

static void single_step(grt_stream *s, int q15_api, const void *x, void *y)
{
    if (q15_api)
        CHECK(grt_stream_step_q15(s, (const int16_t *)x, (int16_t *)y) == GRT_OK);
    else
        grt_stream_step(s, (const float *)x, (float *)y);
}

/* Batch steps against single steps, with a single step of one member and a reset of another between
 * them; then one step with xs and ys the same array. */
static int check_steps(const grt_model *m, twins *t, int q15_api, rng *r)
{
    size_t B = t->B, e = q15_api ? sizeof(int16_t) : sizeof(float);
    size_t I = m->input_size, O = m->output_size, W = I > O ? I : O;
    size_t wsize = grt_batch_work_size(m, B);
    uint8_t *work;
    void *wmem = alloc_shifted(wsize, 0, &work);
    uint8_t *xs = xmalloc(B * W * e), *ys = xmalloc(B * O * e), *yr = xmalloc(B * O * e);
    int ok = 1;
    for (int step = 0; step < 6; step++) {
        fill_inputs(r, xs, B * I, q15_api);
        ok &= batch_step(t, q15_api, xs, ys, work, wsize) == GRT_OK;
        for (size_t b = 0; b < B; b++)
            single_step(t->ref_ptrs[b], q15_api, xs + b * I * e, yr + b * O * e);
        ok &= memcmp(ys, yr, B * O * e) == 0 && twins_states_equal(t, m);
        if (step == 2) { /* members used on their own between batch steps */
            single_step(&t->bat[0], q15_api, xs, ys);
            single_step(&t->ref[0], q15_api, xs, yr);
            grt_stream_reset(&t->bat[B - 1]);
            grt_stream_reset(&t->ref[B - 1]);
        }
    }
    fill_inputs(r, xs, B * I, q15_api); /* xs = ys: inputs read before outputs are written */
    for (size_t b = 0; b < B; b++)
        single_step(t->ref_ptrs[b], q15_api, xs + b * I * e, yr + b * O * e);
    ok &= batch_step(t, q15_api, xs, xs, work, wsize) == GRT_OK;
    ok &= memcmp(xs, yr, B * O * e) == 0 && twins_states_equal(t, m);
    free(wmem), free(xs), free(ys), free(yr);
    return ok;
}

/* T steps as one batch run (chunks of 1, 4 and T steps) against grt_stream_run of each member. */
static int check_runs(const grt_model *m, twins *t, int q15_api, rng *r)
{
    static const size_t chunks[] = {1, 4, 0 /* = T */};
    const size_t T = 9, B = t->B, e = q15_api ? sizeof(int16_t) : sizeof(float);
    size_t I = m->input_size, O = m->output_size;
    uint8_t *xs = xmalloc(B * T * I * e), *ys = xmalloc(B * T * O * e), *yr = xmalloc(B * T * O * e);
    size_t rsize = grt_run_work_size(m, 2);
    uint8_t *rwork;
    void *rmem = alloc_shifted(rsize, 0, &rwork);
    int ok = 1;
    for (size_t k = 0; k < sizeof chunks / sizeof chunks[0]; k++) {
        size_t wsize = grt_batch_run_work_size(m, B, chunks[k] ? chunks[k] : T);
        uint8_t *work;
        void *wmem = alloc_shifted(wsize, 0, &work);
        fill_inputs(r, xs, B * T * I, q15_api);
        grt_status st = q15_api ? grt_streams_run_q15(t->ptrs, B, (const int16_t *)xs, T, (int16_t *)ys, work, wsize)
                                : grt_streams_run(t->ptrs, B, (const float *)xs, T, (float *)ys, work, wsize);
        ok &= st == GRT_OK;
        for (size_t b = 0; b < B; b++) {
            const void *x = xs + b * T * I * e;
            void *y = yr + b * T * O * e;
            st = q15_api ? grt_stream_run_q15(t->ref_ptrs[b], x, T, y, rwork, rsize)
                         : grt_stream_run(t->ref_ptrs[b], x, T, y, rwork, rsize);
            ok &= st == GRT_OK;
        }
        ok &= memcmp(ys, yr, B * T * O * e) == 0 && twins_states_equal(t, m);
        free(wmem);
    }
    free(rmem), free(xs), free(ys), free(yr);
    return ok;
}

/* Ragged runs (member b runs (7b + 3) mod 12 steps: some 0, some equal, most longer than a chunk) in
 * chunks of 1, 4 and 12 steps, each member's inputs and outputs in its own allocation of exactly its
 * length, against grt_stream_run of each member. */
static int check_ragged(const grt_model *m, twins *t, int q15_api, rng *r)
{
    static const size_t chunks[] = {1, 4, 12};
    const size_t B = t->B, e = q15_api ? sizeof(int16_t) : sizeof(float);
    size_t I = m->input_size, O = m->output_size;
    size_t *lengths = xmalloc(B * sizeof(size_t));
    void **xs = xmalloc(B * sizeof(void *)), **ys = xmalloc(B * sizeof(void *)), **yr = xmalloc(B * sizeof(void *));
    size_t rsize = grt_run_work_size(m, 3);
    uint8_t *rwork;
    void *rmem = alloc_shifted(rsize, 0, &rwork);
    int ok = 1;
    for (size_t k = 0; k < sizeof chunks / sizeof chunks[0]; k++) {
        size_t wsize = grt_batch_run_work_size(m, B, chunks[k]);
        uint8_t *work;
        void *wmem = alloc_shifted(wsize, 0, &work);
        for (size_t b = 0; b < B; b++) {
            lengths[b] = (7 * b + 3 + k) % 12;
            xs[b] = lengths[b] ? xmalloc(lengths[b] * I * e) : NULL;
            ys[b] = lengths[b] ? xmalloc(lengths[b] * O * e) : NULL;
            yr[b] = xmalloc(lengths[b] * O * e);
            fill_inputs(r, xs[b], lengths[b] * I, q15_api);
        }
        grt_status st = q15_api ? grt_streams_run_ragged_q15(t->ptrs, B, (const int16_t *const *)xs, lengths,
                                                             (int16_t *const *)ys, work, wsize)
                                : grt_streams_run_ragged(t->ptrs, B, (const float *const *)xs, lengths,
                                                         (float *const *)ys, work, wsize);
        ok &= st == GRT_OK;
        for (size_t b = 0; b < B; b++) {
            st = q15_api ? grt_stream_run_q15(t->ref_ptrs[b], xs[b], lengths[b], yr[b], rwork, rsize)
                         : grt_stream_run(t->ref_ptrs[b], xs[b], lengths[b], yr[b], rwork, rsize);
            ok &= st == GRT_OK && (lengths[b] == 0 || memcmp(ys[b], yr[b], lengths[b] * O * e) == 0);
            free(xs[b]), free(ys[b]), free(yr[b]);
        }
        ok &= twins_states_equal(t, m);
        free(wmem);
    }
    free(rmem), free(lengths), free(xs), free(ys), free(yr);
    return ok;
}

/* Every model, B and API under the active level. */
static void test_equivalence(void)
{
    for (size_t k = 0; k < N_MODELS; k++) {
        grt_model m;
        void *mem;
        if (!load_case(&m, &mem, k))
            continue;
        for (int q15_api = 0; q15_api < 2; q15_api++) {
            if (q15_api ? !m.q15 : m.q15 && !GRT_HAS_FLOAT_BOUNDARY)
                continue;
            for (size_t j = 0; j < sizeof batch_sizes / sizeof batch_sizes[0]; j++) {
                rng r = {1000 + 37 * k + j};
                twins t;
                twins_init(&t, &m, batch_sizes[j], &r);
                int ok = check_steps(&m, &t, q15_api, &r) && check_runs(&m, &t, q15_api, &r) &&
                         check_ragged(&m, &t, q15_api, &r);
                if (!ok)
                    fprintf(stderr, "  batch of %zu, model %s (%s API, %s) differs from single streams\n",
                            batch_sizes[j], models[k].name, q15_api ? "int16" : "float",
                            grt_isa_name(grt_isa_active()));
                CHECK(ok);
                twins_free(&t);
            }
        }
        free(mem);
    }
}

static void test_sizes(const grt_model *m)
{
    grt_model zero;
    memset(&zero, 0, sizeof zero);
    const size_t saturated = (SIZE_MAX - 64) / 64 * 64;
    CHECK(grt_batch_work_size(NULL, 3) == 0 && grt_batch_work_size(&zero, 3) == 0);
    CHECK(grt_batch_work_size(m, 0) == 0 && grt_batch_run_work_size(m, 3, 0) == 0);
    CHECK(grt_batch_run_work_size(m, 0, 5) == 0 && grt_batch_run_work_size(NULL, 3, 5) == 0);
    for (size_t B = 1; B < 40; B += 3) {
        size_t one = grt_batch_work_size(m, B);
        CHECK(one % 64 == 0 && one == grt_batch_run_work_size(m, B, 1));
        CHECK(grt_batch_work_size(m, B + 1) >= one && grt_batch_run_work_size(m, B, 2) >= one);
        CHECK(grt_batch_work_size(m, B + 64) > one && grt_batch_run_work_size(m, B, 64) > one);
        /* at least the states, and the run work of B steps of one stream */
        CHECK(one >= B * m->state_size * state_elem(m) + grt_run_work_size(m, B) - 64);
    }
    CHECK(grt_batch_work_size(m, SIZE_MAX) == saturated);
    CHECK(grt_batch_run_work_size(m, 2, SIZE_MAX) == saturated);
    CHECK(grt_batch_run_work_size(m, SIZE_MAX / 2, SIZE_MAX / 2) == saturated);
}

/* One failing call must leave states and outputs untouched. */
typedef struct probe {
    const grt_model *m;
    grt_stream *s;
    size_t n;
    float *ys;
    size_t ny;
    uint8_t *saved;
} probe;

static void probe_arm(probe *p)
{
    size_t bytes = p->m->state_size * state_elem(p->m);
    for (size_t k = 0; k < p->n; k++)
        memcpy(p->saved + k * bytes, p->s[k].state, bytes);
    memset(p->ys, 0x5A, p->ny * sizeof(float));
}

static int probe_untouched(const probe *p)
{
    size_t bytes = p->m->state_size * state_elem(p->m);
    int ok = 1;
    for (size_t k = 0; k < p->n; k++)
        ok &= memcmp(p->saved + k * bytes, p->s[k].state, bytes) == 0;
    for (size_t i = 0; i < p->ny * sizeof(float); i++)
        ok &= ((const uint8_t *)p->ys)[i] == 0x5A;
    return ok;
}

#define EXPECT(call, status)                                                                             \
    do {                                                                                                 \
        probe_arm(&p);                                                                                   \
        CHECK((call) == (status));                                                                       \
        CHECK(probe_untouched(&p));                                                                      \
    } while (0)

/* Errors of the ragged runs (p: the probe over the streams and ys of test_errors). */
static void test_ragged_errors(const grt_model *m, probe *pr, grt_stream **ok3, grt_stream **twice, uint8_t *work,
                               size_t wsize)
{
    probe p = *pr;
    const size_t B = 3, I = m->input_size, O = m->output_size;
    static float x[3 * 2 * 64];
    float *ys = p.ys;
    const float *xp[3] = {x, x + 2 * I, x + 4 * I};
    float *yp[3] = {ys, ys + 2 * O, ys + 4 * O};
    size_t lengths[3] = {2, 1, 2}, zeros[3] = {0};
    const int16_t *xp16[3] = {NULL, NULL, NULL};
    int16_t *yp16[3] = {NULL, NULL, NULL};
    EXPECT(grt_streams_run_ragged(NULL, 0, NULL, NULL, NULL, NULL, 0), GRT_OK);
    EXPECT(grt_streams_run_ragged(NULL, B, xp, lengths, yp, work, wsize), GRT_E_ARG);
    EXPECT(grt_streams_run_ragged_q15(ok3, B, xp16, zeros, yp16, work, wsize), GRT_E_PRECISION);
    EXPECT(grt_streams_run_ragged(ok3, B, NULL, lengths, yp, work, wsize), GRT_E_ARG);
    EXPECT(grt_streams_run_ragged(ok3, B, xp, NULL, yp, work, wsize), GRT_E_ARG);
    EXPECT(grt_streams_run_ragged(ok3, B, xp, lengths, NULL, work, wsize), GRT_E_ARG);
    const float *x_null[3] = {x, NULL, x + 4 * I};
    float *y_null[3] = {ys, ys + 2 * O, NULL};
    EXPECT(grt_streams_run_ragged(ok3, B, x_null, lengths, yp, work, wsize), GRT_E_ARG);
    EXPECT(grt_streams_run_ragged(ok3, B, xp, lengths, y_null, work, wsize), GRT_E_ARG);
    EXPECT(grt_streams_run_ragged(ok3, B, xp, lengths, yp, NULL, wsize), GRT_E_ARG);
    EXPECT(grt_streams_run_ragged(ok3, B, xp, lengths, yp, work + 2, wsize), GRT_E_BUFFER);
    EXPECT(grt_streams_run_ragged(ok3, B, xp, lengths, yp, work, grt_batch_work_size(m, B) - 64), GRT_E_BUFFER);
    EXPECT(grt_streams_run_ragged(ok3, B, xp, zeros, yp, work, 0), GRT_E_BUFFER); /* even with nothing to run */
    EXPECT(grt_streams_run_ragged(twice, B, xp, lengths, yp, work, wsize), GRT_E_ARG);
    EXPECT(grt_streams_run_ragged(twice, B, xp, zeros, yp, work, wsize), GRT_E_ARG);
    EXPECT(grt_streams_run_ragged(ok3, B, x_null, zeros, y_null, work, wsize), GRT_OK); /* nothing to run */
    /* A member of length 0 may have NULL pointers, and keeps its state (the others run). */
    size_t one_empty[3] = {2, 0, 1};
    probe_arm(&p);
    CHECK(grt_streams_run_ragged(ok3, B, x_null, one_empty, y_null, work, wsize) == GRT_E_ARG); /* ys[2] */
    CHECK(probe_untouched(&p));
    size_t bytes = m->state_size * sizeof(float);
    CHECK(grt_streams_run_ragged(ok3, B, x_null, one_empty, yp, work, wsize) == GRT_OK);
    CHECK(memcmp(p.saved + bytes, ok3[1]->state, bytes) == 0);
    CHECK(m->state_size == 0 || memcmp(p.saved, ok3[0]->state, bytes) != 0);
}

/* Errors of a float model, and the checks' order. */
static void test_errors(const grt_model *m)
{
    const size_t B = 3, ssize = grt_stream_size(m), I = m->input_size, O = m->output_size;
    uint8_t *mem, *work;
    void *mm = alloc_shifted(4 * ssize + 64, 0, &mem);
    size_t wsize = grt_batch_run_work_size(m, B, 2);
    void *wm = alloc_shifted(wsize + 8, 0, &work);
    grt_stream s[4], unbound, copy;
    rng r = {77};
    for (size_t i = 0; i < 4; i++)
        CHECK(grt_stream_init(&s[i], m, mem + i * ssize, ssize) == GRT_OK);
    for (size_t i = 0; i < 4 * ssize / sizeof(float); i++) /* some state (rewritten below for overlap) */
        ((float *)(void *)mem)[i] = rng_uniform(&r, -1.0f, 1.0f);
    memset(&unbound, 0, sizeof unbound);
    copy = s[1];
    float xs[2 * 3 * 64] = {0}, ys[2 * 3 * 64];
    int16_t x16[3 * 64] = {0}, y16[3 * 64];
    CHECK(I <= 64 && O <= 64);
    uint8_t saved[4 * 4096];
    CHECK(4 * m->state_size * sizeof(float) <= sizeof saved);
    probe p = {m, s, 4, ys, sizeof ys / sizeof ys[0], saved};

    grt_stream *ok3[3] = {&s[0], &s[1], &s[2]};
    EXPECT(grt_streams_step(ok3, 0, NULL, NULL, NULL, 0), GRT_OK); /* B = 0: nothing to do */
    EXPECT(grt_streams_step(NULL, 0, xs, ys, work, wsize), GRT_OK);
    EXPECT(grt_streams_run(NULL, 0, NULL, 5, NULL, NULL, 0), GRT_OK);
    EXPECT(grt_streams_step(NULL, B, xs, ys, work, wsize), GRT_E_ARG);
    grt_stream *with_null[3] = {&s[0], NULL, &s[2]};
    EXPECT(grt_streams_step(with_null, B, xs, ys, work, wsize), GRT_E_ARG);
    grt_stream *with_unbound[3] = {&s[0], &s[1], &unbound};
    EXPECT(grt_streams_step(with_unbound, B, xs, ys, work, wsize), GRT_E_ARG);
    grt_stream *first_unbound[3] = {&unbound, &s[1], &s[2]};
    EXPECT(grt_streams_step(first_unbound, B, xs, ys, work, wsize), GRT_E_ARG);

    /* Another grt_model struct, even of the same blob, is another model. */
    grt_model m2;
    CHECK(grt_model_load(&m2, m->blob, m->size, 0, NULL) == GRT_OK);
    grt_stream other;
    CHECK(grt_stream_init(&other, &m2, mem + 3 * ssize, ssize) == GRT_OK);
    grt_stream *mixed[3] = {&s[0], &other, &s[2]};
    EXPECT(grt_streams_step(mixed, B, xs, ys, work, wsize), GRT_E_ARG);
    CHECK(grt_stream_init(&s[3], m, mem + 3 * ssize, ssize) == GRT_OK);

    /* The API: int16 on a float model. */
    EXPECT(grt_streams_step_q15(ok3, B, x16, y16, work, wsize), GRT_E_PRECISION);
    EXPECT(grt_streams_run_q15(ok3, B, x16, 1, y16, work, wsize), GRT_E_PRECISION);
    EXPECT(grt_streams_run(ok3, B, NULL, 0, NULL, NULL, 0), GRT_OK); /* T = 0 */
    EXPECT(grt_streams_step(ok3, B, NULL, ys, work, wsize), GRT_E_ARG);
    EXPECT(grt_streams_step(ok3, B, xs, NULL, work, wsize), GRT_E_ARG);
    EXPECT(grt_streams_step(ok3, B, xs, ys, NULL, wsize), GRT_E_ARG);
    EXPECT(grt_streams_step(ok3, B, xs, ys, work + 2, wsize), GRT_E_BUFFER);
    EXPECT(grt_streams_step(ok3, B, xs, ys, work, 0), GRT_E_BUFFER);
    EXPECT(grt_streams_step(ok3, B, xs, ys, work, grt_batch_work_size(m, B) - 64), GRT_E_BUFFER);
    EXPECT(grt_streams_run(ok3, B, xs, 2, ys, work, grt_batch_work_size(m, B) - 64), GRT_E_BUFFER);

    /* Distinct streams: the same stream twice, a copy of a stream, overlapping stream memories. */
    grt_stream *twice[3] = {&s[0], &s[1], &s[0]};
    EXPECT(grt_streams_step(twice, B, xs, ys, work, wsize), GRT_E_ARG);
    grt_stream *copied[3] = {&s[2], &s[1], &copy};
    EXPECT(grt_streams_run(copied, B, xs, 2, ys, work, wsize), GRT_E_ARG);
    EXPECT(grt_streams_step(twice, B, xs, ys, work, 0), GRT_E_BUFFER); /* the buffer is checked first */
    if (m->state_size > 1) {
        grt_stream overlap;
        CHECK(grt_stream_init(&overlap, m, mem + ssize + 4, ssize) == GRT_OK); /* zeroes part of s[1]'s state */
        grt_stream *over[3] = {&s[0], &overlap, &s[1]};
        EXPECT(grt_streams_step(over, B, xs, ys, work, wsize), GRT_E_ARG);
    }
    test_ragged_errors(m, &p, ok3, twice, work, wsize);

    /* The same streams step fine after the failures. */
    CHECK(grt_streams_step(ok3, B, xs, ys, work, wsize) == GRT_OK);
    CHECK(grt_streams_step(ok3, B, xs, ys, work + 4, wsize - 4) == GRT_OK); /* float alignment is enough */
    free(mm), free(wm);
}
#undef EXPECT

#if GRT_HAS_Q15
/* A q15 model: the float API exists only with the boundary. */
static void test_q15_api(const grt_model *m)
{
    size_t ssize = grt_stream_size(m), wsize = grt_batch_work_size(m, 2);
    uint8_t *mem, *work;
    void *mm = alloc_shifted(2 * ssize, 0, &mem), *wm = alloc_shifted(wsize, 0, &work);
    grt_stream s[2];
    CHECK(grt_stream_init(&s[0], m, mem, ssize) == GRT_OK && grt_stream_init(&s[1], m, mem + ssize, ssize) == GRT_OK);
    grt_stream *ptrs[2] = {&s[0], &s[1]};
    float *xs = xmalloc(2 * m->input_size * sizeof(float)), *ys = xmalloc(2 * m->output_size * sizeof(float));
    memset(xs, 0, 2 * m->input_size * sizeof(float));
    CHECK(grt_streams_step(ptrs, 2, xs, ys, work, wsize) == (GRT_HAS_FLOAT_BOUNDARY ? GRT_OK : GRT_E_PRECISION));
    CHECK(grt_streams_run(ptrs, 2, xs, 1, ys, work, wsize) == (GRT_HAS_FLOAT_BOUNDARY ? GRT_OK : GRT_E_PRECISION));
    free(xs), free(ys), free(mm), free(wm);
}
#endif

void test_batch(void)
{
    grt_isa prev = grt_isa_active();
    for (unsigned level = 0; level < GRT_ISA_COUNT; level++) {
        if (grt_isa_select((grt_isa)level) != GRT_OK) {
            printf("  isa %s (batches): not available on this CPU/build, skipped\n", grt_isa_name((grt_isa)level));
            continue;
        }
        test_equivalence();
    }
    CHECK(grt_isa_select(prev) == GRT_OK);
    for (size_t k = 0; k < N_MODELS; k++) {
        grt_model m;
        void *mem;
        if (!load_case(&m, &mem, k))
            continue;
        test_sizes(&m);
        if (!m.q15 && m.input_size <= 64 && m.output_size <= 64 && m.state_size <= 256)
            test_errors(&m);
#if GRT_HAS_Q15
        if (m.q15)
            test_q15_api(&m);
#endif
        free(mem);
    }
}
