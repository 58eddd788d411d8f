/* fuzz_load.c — libFuzzer target for the gru_rt loader and everything a loaded model reaches.
 *
 * Each input is copied into an exact-size, 64-byte-aligned heap buffer (so ASan catches any read past
 * its end) and loaded twice: with flags 0 and with GRT_LOAD_SKIP_CHECKSUM. When a load succeeds the
 * model is used: stream init, grt_stream_step with inputs from the fuzz data and with fixed extreme
 * values (large, NaN, Inf), grt_stream_run over 5 steps with a 2-step work buffer (so it runs in
 * several chunks) and every metadata entry. Besides the sanitizers, the target aborts when a
 * documented invariant is broken:
 *   - the returned status is a valid code, and diag agrees with it (status, field != NULL, index >= -1);
 *   - a failed load leaves *model zeroed;
 *   - a load that succeeds with the CRC checked also succeeds with it skipped (and vice versa when the
 *     failure was GRT_E_CHECKSUM, it is the only allowed difference);
 *   - grt_stream_run gives bit-identical outputs to the same number of grt_stream_step calls;
 *   - grt_layer_tensor finds each layer's n_tensors tensors, inside the blob, and refuses layer n_layers;
 *   - grt_model_meta succeeds for i < meta_count, fails for i == meta_count, and its key/value lie
 *     inside the blob;
 *   - grt_model_input succeeds for i < n_inputs with names inside the blob and offsets + widths that
 *     tile [0, input_size), and fails for i == n_inputs;
 *   - the int16 API returns GRT_E_PRECISION for f32/q8 models; for q15 models grt_stream_run_q15 is
 *     bit-identical to grt_stream_step_q15 calls, and the float step equals quantize -> integer step ->
 *     dequantize;
 *   - a batch of two streams (grt_streams_step, and grt_streams_run in chunks of 2 steps, with work
 *     buffers of exactly the reported size) is bit-identical to each stream stepped or run alone, and
 *     the same stream twice in a batch is GRT_E_ARG; a ragged run of the two (1 and RUN_STEPS steps,
 *     grt_streams_run_ragged) is bit-identical to each stream run alone.
 * Build: clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all (see Makefile). */
#define _POSIX_C_SOURCE 200112L
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gru_rt.h"

#define FAIL(...)                                                                                           \
    do {                                                                                                    \
        fprintf(stderr, "fuzz_load invariant broken: " __VA_ARGS__);                                       \
        fputc('\n', stderr);                                                                                \
        abort();                                                                                            \
    } while (0)

#define RUN_STEPS 5
#define STEP_CALLS 4

static void *aligned_exact(size_t n)
{
    /* aligned_alloc needs a size that is a multiple of the alignment, which would hide over-reads;
     * posix_memalign takes any size and ASan still poisons everything past n. */
    void *p = NULL;
    if (posix_memalign(&p, 64, n ? n : 1) != 0)
        abort();
    return p;
}

static void check_status_strings(grt_status st)
{
    const char *name = grt_status_name(st), *msg = grt_status_message(st);
    if (name == NULL || msg == NULL || name[0] == '\0')
        FAIL("status name/message NULL or empty for %d", (int)st);
    /* out-of-range codes must also give static strings, never NULL */
    if (grt_status_name((grt_status)(GRT_STATUS_COUNT + (st & 7))) == NULL ||
        grt_status_message((grt_status)-1) == NULL)
        FAIL("status name/message NULL for an unknown code");
}

static int same_float(float a, float b)
{
    if (isnan(a) && isnan(b))
        return 1; /* the NaN payload is not part of the contract */
    return memcmp(&a, &b, sizeof a) == 0;
}

/* The vocabulary of the model being exercised when its layer 0 is an Embedding (1.5), else 0: its
 * inputs are token ids, so the fill functions fold each value into 0 … vocab - 1 (ids out of range
 * are tried in exercise_bad_ids). */
static uint32_t g_vocab;

static void fill_values(float *x, size_t n, const uint8_t *data, size_t size, unsigned mode);

static uint32_t token_vocab(const grt_model *m)
{
    return m->layers[0].kind == GRT_LAYER_EMBEDDING ? m->layers[0].vocab_size : 0;
}

/* Fill n floats from the fuzz data (cycled), mixing in special values when selected. */
static void fill_inputs(float *x, size_t n, const uint8_t *data, size_t size, unsigned mode)
{
    fill_values(x, n, data, size, mode);
    for (size_t i = 0; g_vocab != 0 && i < n; i++) {
        uint32_t u;
        memcpy(&u, &x[i], sizeof u);
        x[i] = (float)(u % g_vocab);
    }
}

static void fill_values(float *x, size_t n, const uint8_t *data, size_t size, unsigned mode)
{
    static const float special[] = {0.0f, -0.0f, 1.0f, -1.0f, 1e30f, -1e30f, 3.4e38f, 1e-40f, NAN, INFINITY,
                                    -INFINITY, 88.7f, -88.7f, 6.0f, -3.0f, 2.5f};
    for (size_t i = 0; i < n; i++) {
        switch (mode) {
        case 0: /* raw bytes of the file reinterpreted as floats (anything, including NaN/Inf) */
            if (size >= 4) {
                size_t at = (i * 4) % (size - 3);
                memcpy(&x[i], data + at, 4);
            } else {
                x[i] = 0.0f;
            }
            break;
        case 1: /* bytes mapped to a moderate range */
            x[i] = size ? ((float)data[(i * 7 + 3) % size] - 128.0f) / 16.0f : 0.5f;
            break;
        case 2: /* special values */
            x[i] = special[(i + (size ? data[i % size] : 0)) % (sizeof special / sizeof special[0])];
            break;
        default: /* large finite values */
            x[i] = (i & 1) ? 1e30f : -3.0e38f;
            break;
        }
    }
}

/* Fill n int16 from the fuzz data: raw pairs of bytes, or the extremes. */
static void fill_int16(int16_t *x, size_t n, const uint8_t *data, size_t size, unsigned mode)
{
    static const int16_t special[] = {32767, -32768, -32767, 0, 1, -1};
    for (size_t i = 0; i < n; i++) {
        if (mode == 0 && size >= 2) {
            size_t at = (i * 2) % (size - 1);
            x[i] = (int16_t)(uint16_t)(data[at] | (data[at + 1] << 8));
        } else {
            x[i] = special[(i + mode + (size ? data[i % size] : 0)) % (sizeof special / sizeof special[0])];
        }
        if (g_vocab != 0)
            x[i] = (int16_t)((uint16_t)x[i] % g_vocab);
    }
}

/* The int16 API: GRT_E_PRECISION unless the model is q15; for q15, RUN_STEPS x grt_stream_step_q15 on
 * s1 vs one grt_stream_run_q15 on s2 (chunks of 2), bit for bit, and the float step equal to the
 * boundary around the integer step. */
static void exercise_q15(const grt_model *m, grt_stream *s1, grt_stream *s2, void *work, size_t wsize,
                         const uint8_t *data, size_t size)
{
    size_t in = m->input_size, out = m->output_size;
    int16_t *xq = malloc(RUN_STEPS * in * sizeof(int16_t));
    int16_t *yq_step = malloc(RUN_STEPS * out * sizeof(int16_t)), *yq_run = malloc(RUN_STEPS * out * sizeof(int16_t));
    float *x = malloc(in * sizeof(float)), *y1 = malloc(out * sizeof(float)), *y2 = malloc(out * sizeof(float));
    if (!xq || !yq_step || !yq_run || !x || !y1 || !y2)
        abort();
    for (unsigned t = 0; t < RUN_STEPS; t++)
        fill_int16(xq + t * in, in, data, size, t % 3);
    if (!m->q15) {
        if (grt_stream_step_q15(s1, xq, yq_step) != GRT_E_PRECISION ||
            grt_stream_run_q15(s2, xq, RUN_STEPS, yq_run, work, wsize) != GRT_E_PRECISION)
            FAIL("the int16 API accepted a model that is not q15");
        goto done;
    }
    grt_stream_reset(s1);
    grt_stream_reset(s2);
    for (unsigned t = 0; t < RUN_STEPS; t++)
        if (grt_stream_step_q15(s1, xq + t * in, yq_step + t * out) != GRT_OK)
            FAIL("grt_stream_step_q15 failed on a q15 model");
    if (grt_stream_run_q15(s2, xq, RUN_STEPS, yq_run, work, wsize) != GRT_OK)
        FAIL("grt_stream_run_q15 with grt_run_work_size(m, 2) bytes failed");
    if (memcmp(yq_step, yq_run, RUN_STEPS * out * sizeof(int16_t)) != 0 ||
        memcmp(s1->state, s2->state, m->state_size * sizeof(int16_t)) != 0)
        FAIL("grt_stream_run_q15 differs from grt_stream_step_q15");
    /* float step == quantize -> integer step -> dequantize, from the same state */
    for (unsigned t = 0; t < 2; t++) {
        fill_inputs(x, in, data, size, t ? 2 : 0);
        grt_stream_step(s1, x, y1);
        grt_q15_quantize_input(m, x, xq);
        if (grt_stream_step_q15(s2, xq, yq_step) != GRT_OK)
            abort();
        grt_q15_dequantize_output(m, yq_step, y2);
        if (memcmp(y1, y2, out * sizeof(float)) != 0)
            FAIL("float q15 step differs from boundary + integer step");
    }
done:
    free(xq), free(yq_step), free(yq_run), free(x), free(y1), free(y2);
}

static int same_state(const grt_model *m, const grt_stream *a, const grt_stream *b)
{
    if (m->q15)
        return memcmp(a->state, b->state, m->state_size * sizeof(int16_t)) == 0;
    for (size_t i = 0; i < m->state_size; i++)
        if (!same_float(((const float *)a->state)[i], ((const float *)b->state)[i]))
            return 0;
    return 1;
}

/* s1, s2 (any states) as a batch against twins with copies of their states, stepped alone. */
static void exercise_batch(const grt_model *m, grt_stream *s1, grt_stream *s2, const uint8_t *data, size_t size)
{
    size_t ssize = grt_stream_size(m), in = m->input_size, out = m->output_size;
    size_t wstep = grt_batch_work_size(m, 2), wrun = grt_batch_run_work_size(m, 2, 2), wone = grt_run_work_size(m, 2);
    void *mem[2] = {aligned_exact(ssize), aligned_exact(ssize)};
    void *work = aligned_exact(wrun > wstep ? wrun : wstep), *work_one = aligned_exact(wone);
    float *xs = malloc(2 * RUN_STEPS * in * sizeof(float));
    float *yb = malloc(2 * RUN_STEPS * out * sizeof(float)), *yt = malloc(2 * RUN_STEPS * out * sizeof(float));
    if (!xs || !yb || !yt)
        abort();
    grt_stream twin[2], *batch[2] = {s2, s1}, *dup[2] = {s1, s1};
    for (int k = 0; k < 2; k++) {
        if (grt_stream_init(&twin[k], m, mem[k], ssize) != GRT_OK)
            abort();
        memcpy(twin[k].state, batch[k]->state, m->state_size * (m->q15 ? sizeof(int16_t) : sizeof(float)));
    }
    fill_inputs(xs, 2 * in, data, size, 0);
    if (grt_streams_step(batch, 2, xs, yb, work, wstep) != GRT_OK)
        FAIL("grt_streams_step with grt_batch_work_size(m, 2) bytes failed");
    for (int k = 0; k < 2; k++)
        grt_stream_step(&twin[k], xs + k * in, yt + k * out);
    for (size_t i = 0; i < 2 * out; i++)
        if (!same_float(yb[i], yt[i]))
            FAIL("grt_streams_step differs from grt_stream_step at row %zu output %zu", i / out, i % out);
    for (unsigned t = 0; t < 2 * RUN_STEPS; t++)
        fill_inputs(xs + t * in, in, data, size, t % 3);
    if (grt_streams_run(batch, 2, xs, RUN_STEPS, yb, work, wrun) != GRT_OK)
        FAIL("grt_streams_run with grt_batch_run_work_size(m, 2, 2) bytes failed");
    for (int k = 0; k < 2; k++)
        if (grt_stream_run(&twin[k], xs + k * RUN_STEPS * in, RUN_STEPS, yt + k * RUN_STEPS * out, work_one, wone) !=
            GRT_OK)
            abort();
    for (size_t i = 0; i < 2 * RUN_STEPS * out; i++)
        if (!same_float(yb[i], yt[i]))
            FAIL("grt_streams_run differs from grt_stream_run at value %zu", i);
    for (int k = 0; k < 2; k++)
        if (!same_state(m, batch[k], &twin[k]))
            FAIL("state of batch member %d differs from its twin", k);
    /* ragged: member 0 runs 1 step, member 1 all RUN_STEPS (it runs alone after the first) */
    size_t lens[2] = {1, RUN_STEPS};
    const float *xp[2] = {xs, xs + RUN_STEPS * in};
    float *yp[2] = {yb, yb + RUN_STEPS * out};
    if (grt_streams_run_ragged(batch, 2, xp, lens, yp, work, wrun) != GRT_OK)
        FAIL("grt_streams_run_ragged with grt_batch_run_work_size(m, 2, 2) bytes failed");
    for (int k = 0; k < 2; k++) {
        if (grt_stream_run(&twin[k], xp[k], lens[k], yt + k * RUN_STEPS * out, work_one, wone) != GRT_OK)
            abort();
        for (size_t i = 0; i < lens[k] * out; i++)
            if (!same_float(yp[k][i], yt[k * RUN_STEPS * out + i]))
                FAIL("grt_streams_run_ragged differs from grt_stream_run: member %d value %zu", k, i);
        if (!same_state(m, batch[k], &twin[k]))
            FAIL("state of ragged batch member %d differs from its twin", k);
    }
    if (grt_streams_step(dup, 2, xs, yb, work, wstep) != GRT_E_ARG)
        FAIL("a batch with the same stream twice was accepted");
    free(mem[0]), free(mem[1]), free(work), free(work_one), free(xs), free(yb), free(yt);
}

/* A model with a reverse or bidirectional layer has no streams (grt_stream_size is 0 and
 * grt_stream_init refuses it): grt_model_run with grt_model_run_work_size bytes runs it, twice to the
 * same bits, and refuses a work buffer too small for one step. */
static void exercise_whole_run(const grt_model *m, const uint8_t *data, size_t size)
{
    g_vocab = token_vocab(m);
    grt_stream s;
    float probe[16];
    if (grt_stream_init(&s, m, probe, sizeof probe) == GRT_OK)
        FAIL("grt_stream_init accepted a model whose grt_stream_size is 0");
    size_t in = m->input_size, out = m->output_size, wsize = grt_model_run_work_size(m, RUN_STEPS);
    void *work = aligned_exact(wsize);
    float *xs = malloc(RUN_STEPS * in * sizeof(float));
    float *y1 = malloc(RUN_STEPS * out * sizeof(float)), *y2 = malloc(RUN_STEPS * out * sizeof(float));
    if (!xs || !y1 || !y2)
        abort();
    for (unsigned t = 0; t < RUN_STEPS; t++)
        fill_inputs(xs + t * in, in, data, size, t % 3);
    grt_status st = grt_model_run(m, xs, RUN_STEPS, y1, work, wsize);
    if (st != GRT_E_LAYER_KIND) { /* GRT_E_LAYER_KIND: a kind grt_model_run does not run (Conv1D) */
        if (st != GRT_OK)
            FAIL("grt_model_run with grt_model_run_work_size bytes failed: %s", grt_status_name(st));
        if (grt_model_run(m, xs, RUN_STEPS, y2, work, wsize) != GRT_OK)
            FAIL("grt_model_run failed the second time");
        for (size_t i = 0; i < RUN_STEPS * out; i++)
            if (!same_float(y1[i], y2[i]))
                FAIL("grt_model_run gave different outputs twice at step %zu output %zu", i / out, i % out);
        if (grt_model_run(m, xs, RUN_STEPS, y2, work, 3) != GRT_E_BUFFER)
            FAIL("grt_model_run accepted a 3-byte work buffer");
    }
    free(work), free(xs), free(y1), free(y2);
}

/* A token model refuses an id out of range (the vocabulary itself) and changes nothing: the step leaves
 * y and the state alone, the run returns GRT_E_ARG. */
static void exercise_bad_ids(const grt_model *m, grt_stream *s, void *work, size_t wsize)
{
    size_t out = m->output_size, bytes = m->state_size * (m->q15 ? sizeof(int16_t) : sizeof(float));
    float x = (float)g_vocab, *y = malloc(out * sizeof(float)), *before = malloc(bytes + 1);
    if (!y || !before)
        abort();
    memset(y, 0x5A, out * sizeof(float));
    memcpy(before, s->state, bytes);
    grt_stream_step(s, &x, y);
    for (size_t i = 0; i < out * sizeof(float); i++)
        if (((const uint8_t *)y)[i] != 0x5A)
            FAIL("grt_stream_step wrote an output for token id %u of a vocabulary of %u", g_vocab, g_vocab);
    if (memcmp(before, s->state, bytes) != 0)
        FAIL("grt_stream_step changed the state on an id out of range");
    if (grt_stream_run(s, &x, 1, y, work, wsize) != GRT_E_ARG)
        FAIL("grt_stream_run accepted token id %u of a vocabulary of %u", g_vocab, g_vocab);
    free(y), free(before);
}

static void exercise_model(const grt_model *m, const uint8_t *data, size_t size)
{
    g_vocab = token_vocab(m);
    const grt_model *mm = m;
    if (m->input_size == 0 || m->output_size == 0 || m->n_layers == 0 || m->n_layers > GRT_MAX_LAYERS)
        FAIL("loaded model has n_layers=%u input=%u output=%u", m->n_layers, m->input_size, m->output_size);

    /* metadata */
    for (uint32_t i = 0; i < m->meta_count; i++) {
        const char *k = NULL, *v = NULL;
        uint32_t kl = 0, vl = 0;
        grt_status st = grt_model_meta(m, i, &k, &kl, &v, &vl);
        if (st != GRT_OK)
            FAIL("grt_model_meta(%u) of %u failed: %s", i, m->meta_count, grt_status_name(st));
        const uint8_t *ku = (const uint8_t *)k, *vu = (const uint8_t *)v;
        if (kl == 0 || ku < m->blob || ku + kl > m->blob + m->size || vu < m->blob ||
            vu + vl > m->blob + m->size)
            FAIL("metadata entry %u outside the blob", i);
        volatile uint8_t sink = 0;
        for (uint32_t j = 0; j < kl; j++)
            sink ^= ku[j];
        for (uint32_t j = 0; j < vl; j++)
            sink ^= vu[j];
        (void)sink;
    }
    {
        const char *k, *v;
        uint32_t kl, vl;
        if (grt_model_meta(m, m->meta_count, &k, &kl, &v, &vl) == GRT_OK)
            FAIL("grt_model_meta(meta_count) succeeded");
    }

    /* the named inputs (1.4): each inside the blob, and together exactly the input vector */
    {
        grt_input_info in;
        uint32_t next = 0;
        for (uint32_t i = 0; i < m->n_inputs; i++) {
            if (grt_model_input(m, i, &in) != GRT_OK)
                FAIL("grt_model_input(%u) of %u failed", i, m->n_inputs);
            const uint8_t *nu = (const uint8_t *)in.name;
            if (in.name_len == 0 || nu < m->blob || nu + in.name_len > m->blob + m->size || in.width == 0 ||
                in.offset != next)
                FAIL("input %u: name outside the blob, width 0 or offset %u (expected %u)", i, in.offset, next);
            next += in.width;
        }
        if (m->n_inputs != 0 && next != m->input_size)
            FAIL("the inputs' widths sum to %u, not input_size %u", next, m->input_size);
        if (grt_model_input(m, m->n_inputs, &in) == GRT_OK)
            FAIL("grt_model_input(n_inputs) succeeded");
    }

    /* the tensor table: every layer's tensors lie inside the blob, as many as it has (a bidirectional
     * layer's two sets through grt_layer_tensor_dir; direction 0 is grt_layer_tensor) */
    for (uint32_t i = 0; i <= m->n_layers; i++) {
        uint32_t found = 0;
        unsigned sets = i < m->n_layers && m->layers[i].direction == GRT_DIR_BIDIRECTIONAL ? 2u : 1u;
        for (unsigned role = 0; role <= GRT_ROLE_MAX + 1; role++) {
            for (unsigned dir = 0; dir < 2; dir++) {
                grt_tensor_info t, t0;
                grt_status st = grt_layer_tensor_dir(m, i, dir, role, &t);
                if (dir == 0 && (grt_layer_tensor(m, i, role, &t0) != st || memcmp(&t, &t0, sizeof t) != 0))
                    FAIL("grt_layer_tensor_dir(layer %u, 0, role %u) differs from grt_layer_tensor", i, role);
                if (i == m->n_layers ? st != GRT_E_LAYER_COUNT
                    : dir >= sets  ? st != GRT_E_ARG
                                   : st != GRT_OK && st != GRT_E_TENSOR_ROLE)
                    FAIL("grt_layer_tensor_dir(layer %u, %u, role %u) gave %s", i, dir, role, grt_status_name(st));
                if (st != GRT_OK)
                    continue;
                const uint8_t *p = t.data;
                if (p < m->blob || t.nbytes > m->size || p + t.nbytes > m->blob + m->size || t.role != role ||
                    t.index >= m->n_tensors || t.stored_rows < t.rows || t.rows == 0 || t.cols == 0)
                    FAIL("grt_layer_tensor_dir(layer %u, %u, role %u): tensor outside the blob or inconsistent",
                         i, dir, role);
                found++;
            }
        }
        if (i < m->n_layers && found != m->layers[i].n_tensors)
            FAIL("layer %u: grt_layer_tensor_dir found %u tensors of %u", i, found, m->layers[i].n_tensors);
    }

    size_t ssize = grt_stream_size(m);
    if (ssize == 0) {
        exercise_whole_run(m, data, size);
        return;
    }
    size_t wsize = grt_run_work_size(m, 2);
    size_t in = m->input_size, out = m->output_size;
    void *mem1 = aligned_exact(ssize), *mem2 = aligned_exact(ssize), *work = aligned_exact(wsize);
    float *xs = malloc(RUN_STEPS * in * sizeof(float));
    float *ys_step = malloc(RUN_STEPS * out * sizeof(float));
    float *ys_run = malloc(RUN_STEPS * out * sizeof(float));
    if (!xs || !ys_step || !ys_run)
        abort();

    grt_stream s1, s2;
    grt_status st1 = grt_stream_init(&s1, mm, mem1, ssize);
    grt_status st2 = grt_stream_init(&s2, mm, mem2, ssize);
    if (st1 != GRT_OK || st2 != GRT_OK)
        FAIL("grt_stream_init with grt_stream_size bytes failed: %s", grt_status_name(st1));
    if (ssize > 0 && grt_stream_init(&s2, mm, mem2, ssize - 1) == GRT_OK)
        FAIL("grt_stream_init accepted ssize-1 bytes");
    if (grt_stream_init(&s2, mm, mem2, ssize) != GRT_OK)
        abort();

    /* a few single steps with fuzz-derived and extreme inputs */
    unsigned mode0 = size ? data[size / 2] : 0;
    for (unsigned t = 0; t < STEP_CALLS; t++) {
        fill_inputs(xs, in, data, size, (mode0 + t) & 3);
        grt_stream_step(&s1, xs, ys_step);
        grt_stream_step(&s2, xs, ys_run);
        for (size_t i = 0; i < out; i++)
            if (!same_float(ys_step[i], ys_run[i]))
                FAIL("two streams diverge on the same inputs (step %u, output %zu)", t, i);
    }

    /* reset both, then: RUN_STEPS x grt_stream_step on s1 vs one grt_stream_run on s2 */
    grt_stream_reset(&s1);
    grt_stream_reset(&s2);
    for (unsigned t = 0; t < RUN_STEPS; t++)
        fill_inputs(xs + t * in, in, data, size, t == RUN_STEPS - 1 ? 2 : 1);
    for (unsigned t = 0; t < RUN_STEPS; t++)
        grt_stream_step(&s1, xs + t * in, ys_step + t * out);
    grt_status rs = grt_stream_run(&s2, xs, RUN_STEPS, ys_run, work, wsize);
    if (rs != GRT_OK)
        FAIL("grt_stream_run with grt_run_work_size(m, 2) bytes failed: %s", grt_status_name(rs));
    for (size_t i = 0; i < RUN_STEPS * out; i++)
        if (!same_float(ys_step[i], ys_run[i]))
            FAIL("grt_stream_run differs from grt_stream_step at step %zu output %zu: %a vs %a", i / out,
                 i % out, (double)ys_step[i], (double)ys_run[i]);
    if (m->q15) {
        if (memcmp(s1.state, s2.state, m->state_size * sizeof(int16_t)) != 0)
            FAIL("q15 state after grt_stream_run differs from grt_stream_step");
    } else {
        for (size_t i = 0; i < m->state_size; i++)
            if (!same_float(((const float *)s1.state)[i], ((const float *)s2.state)[i]))
                FAIL("state after grt_stream_run differs from grt_stream_step at %zu", i);
    }

    /* a work buffer too small for one step must be refused (grt_run_work_size rounds up to 64 bytes,
     * so only a size below one float is certain to be too small) */
    if (grt_stream_run(&s2, xs, RUN_STEPS, ys_run, work, 3) != GRT_E_BUFFER)
        FAIL("grt_stream_run accepted a 3-byte work buffer");
    /* a run of zero steps with a valid buffer must leave the state alone */
    (void)grt_stream_run(&s2, xs, 0, ys_run, work, wsize);

    exercise_batch(m, &s1, &s2, data, size);
    exercise_q15(m, &s1, &s2, work, wsize, data, size);
    if (g_vocab != 0)
        exercise_bad_ids(m, &s1, work, wsize);

    free(mem1), free(mem2), free(work), free(xs), free(ys_step), free(ys_run);
}

static grt_status load_checked(grt_model *m, const uint8_t *blob, size_t size, unsigned flags)
{
    grt_diag d;
    memset(&d, 0xA5, sizeof d);
    grt_status st = grt_model_load(m, blob, size, flags, &d);
    if ((unsigned)st >= GRT_STATUS_COUNT)
        FAIL("status %d out of range", (int)st);
    check_status_strings(st);
    if (d.status != st || d.field == NULL || d.index < -1 || (d.has_values != 0 && d.has_values != 1))
        FAIL("diag inconsistent: status %d vs %d, field %p, index %d", (int)d.status, (int)st,
             (const void *)d.field, (int)d.index);
    volatile size_t fl = strlen(d.field);
    (void)fl;
    if (st != GRT_OK) {
        static const grt_model zero; /* all-zero */
        if (memcmp(m, &zero, sizeof *m) != 0)
            FAIL("failed load (%s) did not zero the model", grt_status_name(st));
    } else if (m->blob != blob || m->size != size) {
        FAIL("model blob/size do not match the input");
    } else if (m->checksum_verified != ((flags & GRT_LOAD_SKIP_CHECKSUM) ? 0 : 1)) {
        FAIL("checksum_verified=%d with flags %u", m->checksum_verified, flags);
    }
    return st;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *blob = aligned_exact(size);
    if (size)
        memcpy(blob, data, size);
    grt_model *m = malloc(sizeof *m);
    if (!m)
        abort();

    grt_status st_crc = load_checked(m, blob, size, 0);
    if (st_crc == GRT_OK)
        exercise_model(m, data, size);

    grt_status st_skip = load_checked(m, blob, size, GRT_LOAD_SKIP_CHECKSUM);
    if (st_skip == GRT_OK)
        exercise_model(m, data, size);

    /* skipping the CRC may only turn GRT_E_CHECKSUM into something else */
    if (st_crc != st_skip && st_crc != GRT_E_CHECKSUM)
        FAIL("load with CRC gave %s, without gave %s", grt_status_name(st_crc), grt_status_name(st_skip));

    /* the same bytes at a 4-byte (not 64-byte) aligned address must load the same way */
    if (size <= 4096) {
        uint8_t *shifted_base = aligned_exact(size + 4);
        memcpy(shifted_base + 4, data, size);
        grt_status st4 = load_checked(m, shifted_base + 4, size, GRT_LOAD_SKIP_CHECKSUM);
        if (st4 != st_skip)
            FAIL("load at offset 4 gave %s, at offset 0 %s", grt_status_name(st4), grt_status_name(st_skip));
        free(shifted_base);
    }

    /* caller errors: NULL pointers, unknown flags, a blob that is not 4-byte aligned */
    {
        grt_diag d;
        if (grt_model_load(NULL, blob, size, 0, &d) != GRT_E_ARG || d.status != GRT_E_ARG ||
            grt_model_load(m, NULL, size, 0, NULL) != GRT_E_ARG ||
            grt_model_load(m, blob, size, 2u | (size ? data[0] : 0u) << 1, NULL) != GRT_E_ARG)
            FAIL("a caller error was not GRT_E_ARG");
        if (size <= 4096) {
            uint8_t *odd_base = aligned_exact(size + 1);
            memcpy(odd_base + 1, data, size);
            grt_status st1 = grt_model_load(m, odd_base + 1, size, 0, &d);
            if (st1 != GRT_E_BLOB_ALIGN || d.status != st1)
                FAIL("a blob at an odd address gave %s", grt_status_name(st1));
            free(odd_base);
        }
    }
    /* name helpers for any byte-sized code */
    if (size) {
        if (grt_activation_name(data[0]) == NULL || grt_role_name(data[size - 1]) == NULL)
            FAIL("activation/role name NULL");
    }

    free(m);
    free(blob);
    return 0;
}
