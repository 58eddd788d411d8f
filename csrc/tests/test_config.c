/* The build configuration (gru_rt.h, "Build configuration"), checked in whatever configuration the
 * tests are compiled with (make -C csrc switches builds several): grt_build_features() agrees with the
 * GRT_HAS_* macros; a model of each precision loads when the precision is built and is refused with
 * GRT_E_PRECISION (field layer.precision, the layer index, its precision code) otherwise, also when
 * the dropped layer is not the first; without a SIMD level in the build the dispatch is scalar, with
 * NEON it is neon or neon_dot; the int16 API of a q15 model works in every configuration that has q15,
 * and without the float boundary its float API changes nothing (grt_stream_step) or refuses
 * (grt_stream_run: GRT_E_PRECISION); a model needing a kind or feature of a GRT_NO_LSTM, GRT_NO_CONV1D,
 * GRT_NO_LAYERNORM, GRT_NO_MASK or GRT_NO_BIDIR build is refused with the field naming the switch, and
 * loads when it is built. */
#include <stdlib.h>
#include <string.h>

#include "grt_isa.h" /* GRT_HAVE_AVX2, GRT_HAVE_NEON, GRT_HAVE_NEON_DOT */
#include "test_util.h"
#include "test_writer.h"

#define CAP 16384

static int has(unsigned features, unsigned flag)
{
    return (features & flag) != 0;
}

static void test_features(void)
{
    unsigned f = grt_build_features();
    CHECK(has(f, GRT_FEATURE_F32) == GRT_HAS_F32);
    CHECK(has(f, GRT_FEATURE_Q8) == GRT_HAS_Q8);
    CHECK(has(f, GRT_FEATURE_Q15) == GRT_HAS_Q15);
    CHECK(has(f, GRT_FEATURE_FLOAT_BOUNDARY) == GRT_HAS_FLOAT_BOUNDARY);
    CHECK(has(f, GRT_FEATURE_AVX2) == GRT_HAVE_AVX2);
    CHECK(has(f, GRT_FEATURE_NEON) == GRT_HAVE_NEON);
    CHECK(has(f, GRT_FEATURE_NEON_DOT) == GRT_HAVE_NEON_DOT);
    CHECK(!has(f, GRT_FEATURE_NEON_DOT) || has(f, GRT_FEATURE_NEON));
    CHECK(has(f, GRT_FEATURE_AVXVNNI) == GRT_HAVE_AVXVNNI);
    CHECK(has(f, GRT_FEATURE_AVX512VNNI) == GRT_HAVE_AVX512VNNI);
    CHECK(has(f, GRT_FEATURE_LSTM) == GRT_HAS_LSTM);
    CHECK(has(f, GRT_FEATURE_CONV1D) == GRT_HAS_CONV1D);
    CHECK(has(f, GRT_FEATURE_LAYERNORM) == GRT_HAS_LAYERNORM);
    CHECK(has(f, GRT_FEATURE_MASK) == GRT_HAS_MASK);
    CHECK(has(f, GRT_FEATURE_BIDIR) == GRT_HAS_BIDIR);
    CHECK(!has(f, GRT_FEATURE_AVXVNNI | GRT_FEATURE_AVX512VNNI) || has(f, GRT_FEATURE_AVX2));
    CHECK(grt_build_max_layers() == GRT_MAX_LAYERS); /* the value that sizes grt_model */
    CHECK((f & ~(GRT_FEATURE_F32 | GRT_FEATURE_Q8 | GRT_FEATURE_Q15 | GRT_FEATURE_FLOAT_BOUNDARY |
                 GRT_FEATURE_AVX2 | GRT_FEATURE_NEON | GRT_FEATURE_NEON_DOT | GRT_FEATURE_AVXVNNI |
                 GRT_FEATURE_AVX512VNNI | GRT_FEATURE_LSTM | GRT_FEATURE_CONV1D | GRT_FEATURE_LAYERNORM |
                 GRT_FEATURE_MASK | GRT_FEATURE_BIDIR)) == 0);
    /* Cortex-M, GRT_NO_X86_SIMD on x86-64, GRT_NO_ARM_SIMD on AArch64: one level */
    if (!has(f, GRT_FEATURE_AVX2) && !has(f, GRT_FEATURE_NEON))
        CHECK(grt_isa_best() == GRT_ISA_SCALAR && grt_isa_active() == GRT_ISA_SCALAR);
    if (has(f, GRT_FEATURE_NEON)) /* every AArch64 CPU has NEON */
        CHECK(grt_isa_best() == GRT_ISA_NEON || grt_isa_best() == GRT_ISA_NEON_DOT);
    printf("  build:%s%s%s%s%s%s%s%s%s%s%s%s%s%s; isa best %s\n", has(f, GRT_FEATURE_F32) ? " f32" : "",
           has(f, GRT_FEATURE_Q8) ? " q8" : "", has(f, GRT_FEATURE_Q15) ? " q15" : "",
           has(f, GRT_FEATURE_FLOAT_BOUNDARY) ? " float-boundary" : "",
           has(f, GRT_FEATURE_AVX2) ? " avx2" : "", has(f, GRT_FEATURE_NEON) ? " neon" : "",
           has(f, GRT_FEATURE_NEON_DOT) ? " neon_dot" : "", has(f, GRT_FEATURE_AVXVNNI) ? " avxvnni" : "",
           has(f, GRT_FEATURE_AVX512VNNI) ? " avx512vnni" : "", has(f, GRT_FEATURE_LSTM) ? " lstm" : "",
           has(f, GRT_FEATURE_CONV1D) ? " conv1d" : "", has(f, GRT_FEATURE_LAYERNORM) ? " layernorm" : "",
           has(f, GRT_FEATURE_MASK) ? " mask" : "", has(f, GRT_FEATURE_BIDIR) ? " bidir" : "",
           grt_isa_name(grt_isa_best()));
}

static int built(unsigned prec)
{
    return prec == GRT_PREC_F32 ? GRT_HAS_F32 : prec == GRT_PREC_Q8 ? GRT_HAS_Q8 : GRT_HAS_Q15;
}

/* A two-layer model: loads iff both precisions are built; else the first dropped layer is named. */
static void check_load(unsigned p0, unsigned p1)
{
    tw_layer layers[] = {{GRT_LAYER_GRU, GRT_ACT_TANH, GRT_ACT_SIGMOID, 1, 3, 5, (uint8_t)p0},
                         {GRT_LAYER_DENSE, GRT_ACT_LINEAR, 0, 0, 5, 2, (uint8_t)p1}};
    uint8_t *blob;
    void *mem = alloc_shifted(CAP, 0, &blob);
    size_t size = tw_build(blob, CAP, layers, 2, NULL, 0, NULL, 3, 0.5f);
    CHECK(size > 0);
    grt_model m;
    grt_diag d;
    grt_status st = grt_model_load(&m, blob, size, 0, &d);
    if (built(p0) && built(p1)) {
        CHECK(st == GRT_OK);
    } else {
        int32_t index = built(p0) ? 1 : 0;
        int ok = st == GRT_E_PRECISION && d.status == st && strcmp(d.field, "layer.precision") == 0 &&
                 d.index == index && d.has_values && d.actual == (index ? p1 : p0);
        CHECK(ok);
        if (!ok)
            fprintf(stderr, "  precisions %u/%u: got %s field %s index %d\n", p0, p1, grt_status_name(st),
                    d.field, d.index);
    }
    free(mem);
}

static void test_precisions(void)
{
    check_load(GRT_PREC_F32, GRT_PREC_F32);
    check_load(GRT_PREC_Q8, GRT_PREC_Q8);
    check_load(GRT_PREC_Q15, GRT_PREC_Q15);
    check_load(GRT_PREC_F32, GRT_PREC_Q8); /* f32 and q8 layers may mix */
    check_load(GRT_PREC_Q8, GRT_PREC_F32);
}

/* The first precision of this build. */
static uint8_t any_prec(void)
{
    return GRT_HAS_F32 ? GRT_PREC_F32 : GRT_HAS_Q8 ? GRT_PREC_Q8 : GRT_PREC_Q15;
}

/* A model that needs a kind or feature (layers, then patched by `patch` when not NULL): it loads when
 * the build has it (built), else it is refused with `status`, diag.field naming the switch, the layer
 * `index` and the value found (`actual`). */
static void check_feature(const char *what, const tw_layer *layers, size_t n, void (*patch)(uint8_t *), int built,
                          grt_status status, const char *field, int32_t index, uint64_t actual)
{
    uint8_t *blob;
    void *mem = alloc_shifted(CAP, 0, &blob);
    size_t size = tw_build(blob, CAP, layers, n, NULL, 0, NULL, 5, 0.5f);
    CHECK(size > 0);
    if (patch != NULL) {
        patch(blob);
        tw_fix_crc(blob, size);
    }
    grt_model m;
    grt_diag d;
    grt_status st = grt_model_load(&m, blob, size, 0, &d);
    int ok = built ? st == GRT_OK
                   : st == status && d.status == st && strcmp(d.field, field) == 0 && d.index == index &&
                         d.has_values && d.actual == actual;
    CHECK(ok);
    if (!ok)
        fprintf(stderr, "  %s: got %s field %s index %d\n", what, grt_status_name(st), d.field, (int)d.index);
    free(mem);
}

static void set_mask_flag(uint8_t *blob)
{
    tw_put_u32(blob, 24, GRT_FILE_INPUT_MASK);
}

static void set_reverse(uint8_t *blob)
{
    tw_put_u8(blob, tw_layer_field(0, 6), GRT_DIR_REVERSE);
}

static void set_lstm_kind(uint8_t *blob) /* layer 0's kind byte: checked before its tensors */
{
    tw_put_u8(blob, tw_layer_field(0, 0), GRT_LAYER_LSTM);
}

/* The kind and feature switches (GRT_NO_LSTM, GRT_NO_CONV1D, GRT_NO_LAYERNORM, GRT_NO_MASK,
 * GRT_NO_BIDIR): a model needing a dropped one never loads. */
static void test_kind_switches(void)
{
    uint8_t p = any_prec();
    const tw_layer gru[] = {{GRT_LAYER_GRU, GRT_ACT_TANH, GRT_ACT_SIGMOID, 1, 3, 5, p},
                            {GRT_LAYER_DENSE, GRT_ACT_LINEAR, 0, 0, 5, 2, p}};
    const tw_layer norm[] = {gru[0], {GRT_LAYER_NORM, GRT_ACT_LINEAR, 0, 0, 5, 5, p}, gru[1]};
    const tw_layer conv[] = {TW_CONV(p, GRT_ACT_RELU, 0, 3, 3, 3, 2), gru[0], gru[1]};
    check_feature("LayerNorm", norm, 3, NULL, GRT_HAS_LAYERNORM, GRT_E_LAYER_KIND, "layer.kind (GRT_NO_LAYERNORM)",
                  1, GRT_LAYER_NORM);
    check_feature("Conv1D", conv, 3, NULL, GRT_HAS_CONV1D, GRT_E_LAYER_KIND, "layer.kind (GRT_NO_CONV1D)", 0,
                  GRT_LAYER_CONV1D);
    check_feature("input mask", gru, 2, set_mask_flag, GRT_HAS_MASK, GRT_E_HEADER, "header.flags (GRT_NO_MASK)", -1,
                  GRT_FILE_INPUT_MASK);
    check_feature("reverse GRU", gru, 2, set_reverse, GRT_HAS_BIDIR, GRT_E_LAYER_FIELD,
                  "layer.direction (GRT_NO_BIDIR)", 0, GRT_DIR_REVERSE);
    if (p != GRT_PREC_Q15) { /* the writer's LSTM layers are f32 or q8 */
        const tw_layer lstm[] = {{GRT_LAYER_LSTM, GRT_ACT_TANH, GRT_ACT_SIGMOID, 0, 3, 5, p}, gru[1]};
        check_feature("LSTM", lstm, 2, NULL, GRT_HAS_LSTM, GRT_E_LAYER_KIND, "layer.kind (GRT_NO_LSTM)", 0,
                      GRT_LAYER_LSTM);
    } else if (!GRT_HAS_LSTM) { /* a GRU file whose kind byte says LSTM: refused by its kind first */
        check_feature("LSTM", gru, 2, set_lstm_kind, 0, GRT_E_LAYER_KIND, "layer.kind (GRT_NO_LSTM)", 0,
                      GRT_LAYER_LSTM);
    }
}

#if GRT_HAS_Q15
/* The int16 API in this configuration, and the float API of a q15 model with or without the boundary. */
static void test_q15_api(void)
{
    static const tw_layer layers[] = {{GRT_LAYER_GRU, GRT_ACT_TANH, GRT_ACT_SIGMOID, 1, 3, 5, GRT_PREC_Q15},
                                      {GRT_LAYER_DENSE, GRT_ACT_SOFTMAX, 0, 0, 5, 2, GRT_PREC_Q15}};
    enum { T = 6 };
    uint8_t *blob, *mem, *work;
    void *pb = alloc_shifted(CAP, 0, &blob);
    size_t size = tw_build(blob, CAP, layers, 2, NULL, 0, NULL, 4, 0.5f);
    grt_model m;
    CHECK(size > 0 && grt_model_load(&m, blob, size, 0, NULL) == GRT_OK && m.q15 == 1);
    size_t ssize = grt_stream_size(&m), wsize = grt_run_work_size(&m, 4);
    void *pm = alloc_shifted(ssize, 0, &mem), *pw = alloc_shifted(wsize, 0, &work);
    grt_stream s;
    CHECK(grt_stream_init(&s, &m, mem, ssize) == GRT_OK);

    int16_t xs[T * 3], ys[T * 2], ys_run[T * 2];
    for (size_t i = 0; i < T * 3; i++)
        xs[i] = (int16_t)((int32_t)(i * 7919u % 60001u) - 30000);
    for (size_t t = 0; t < T; t++)
        CHECK(grt_stream_step_q15(&s, xs + 3 * t, ys + 2 * t) == GRT_OK);
    int sums_to_one = 1; /* softmax outputs in Q15: each step's pair adds up to about 2^15 */
    for (size_t t = 0; t < T; t++)
        sums_to_one &= abs(ys[2 * t] + ys[2 * t + 1] - 32768) <= 2;
    CHECK(sums_to_one);
    grt_stream_reset(&s);
    CHECK(grt_stream_run_q15(&s, xs, T, ys_run, work, wsize) == GRT_OK);
    CHECK(memcmp(ys, ys_run, sizeof ys) == 0);
    CHECK(grt_stream_step_q15(&s, NULL, ys) == GRT_E_ARG && grt_stream_step_q15(NULL, xs, ys) == GRT_E_ARG);
    CHECK(grt_stream_run_q15(&s, xs, T, ys, work, 1) == GRT_E_BUFFER);

    float x[3] = {0.5f, -0.25f, 1.0f}, y[2] = {-7.0f, -7.0f}, xs_f[T * 3] = {0}, ys_f[T * 2];
    uint8_t *state = malloc(m.state_size * sizeof(int16_t));
    memcpy(state, s.state, m.state_size * sizeof(int16_t));
#if GRT_HAS_FLOAT_BOUNDARY
    grt_stream_step(&s, x, y);
    CHECK(y[0] >= 0.0f && y[0] <= 1.0f && y[1] >= 0.0f && y[1] <= 1.0f);
    CHECK(grt_stream_run(&s, xs_f, T, ys_f, work, wsize) == GRT_OK);
#else
    /* No float API for a q15 model: step changes neither y nor the state, run refuses. */
    grt_stream_step(&s, x, y);
    CHECK(y[0] == -7.0f && y[1] == -7.0f);
    CHECK(memcmp(state, s.state, m.state_size * sizeof(int16_t)) == 0);
    CHECK(grt_stream_run(&s, xs_f, T, ys_f, work, wsize) == GRT_E_PRECISION);
    CHECK(grt_stream_run(&s, xs_f, 0, ys_f, work, wsize) == GRT_E_PRECISION);
    CHECK(memcmp(state, s.state, m.state_size * sizeof(int16_t)) == 0);
#endif
    free(state), free(pb), free(pm), free(pw);
}
#endif

void test_config(void)
{
    test_features();
    test_precisions();
    test_kind_switches();
#if GRT_HAS_Q15
    test_q15_api();
#endif
}
