/* make_corpus.c — writes the seed corpus of fuzz_load into a directory (default: fuzz/corpus).
 * Valid files cover every layer kind / activation / reset mode that matters, at f32, q8 (also mixed
 * with f32) and q15, plus extreme-valued q8/q15 files; malformed ones each break one rule of
 * docs/FORMAT.md or of the quantized recipes (CRC fixed up afterwards unless the CRC is the point), so
 * the fuzzer starts deep inside the loader. Reuses the C tests' writer (tests/test_writer.c). Deterministic output.
 * Build and run: make fuzz-corpus (from csrc/). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gru_rt.h"
#include "tests/test_writer.h"

#define CAP 65536

static const char *g_dir = "fuzz/corpus";
static int g_errors;
static size_t g_total;

static void write_file(const char *name, const uint8_t *buf, size_t n)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || (n && fwrite(buf, 1, n, f) != n) || fclose(f) != 0) {
        fprintf(stderr, "make_corpus: cannot write %s\n", path);
        g_errors++;
        return;
    }
    g_total += n;
}

/* Check that a file meant to be valid loads, and one meant to be broken fails with the expected code. */
static void expect(const char *name, const uint8_t *buf, size_t n, unsigned flags, grt_status want)
{
    uint8_t *copy = malloc(n ? n : 1);
    memcpy(copy, buf, n);
    grt_model m;
    grt_diag d;
    grt_status st = grt_model_load(&m, copy, n, flags, &d);
    if (st != want) {
        fprintf(stderr, "make_corpus: %s loads as %s (field %s), expected %s\n", name, grt_status_name(st),
                d.field, grt_status_name(want));
        g_errors++;
    }
    free(copy);
}

static const tw_meta META[] = {{"source.framework", "numpy"},
                               {"source.convention", "torch: gates r,z,n; reset after"},
                               {"tool.name", "gru_rt"},
                               {"k", ""}};

typedef struct valid_spec {
    const char *name;
    tw_layer layers[4];
    size_t n_layers;
    int with_meta;
} valid_spec;

#define GRU(act, gate, ra, i, o) {GRT_LAYER_GRU, act, gate, ra, i, o, GRT_PREC_F32}
#define DENSE(act, i, o) {GRT_LAYER_DENSE, act, 0, 0, i, o, GRT_PREC_F32}
#define GRU8(act, gate, ra, i, o) {GRT_LAYER_GRU, act, gate, ra, i, o, GRT_PREC_Q8}
#define DENSE8(act, i, o) {GRT_LAYER_DENSE, act, 0, 0, i, o, GRT_PREC_Q8}
#define GRU15(gate, ra, i, o) {GRT_LAYER_GRU, GRT_ACT_TANH, gate, ra, i, o, GRT_PREC_Q15}
#define DENSE15(act, i, o) {GRT_LAYER_DENSE, act, 0, 0, i, o, GRT_PREC_Q15}
#define NORM(prec, d) {GRT_LAYER_NORM, GRT_ACT_LINEAR, 0, 0, d, d, prec}

static const valid_spec VALID[] = {
    {"valid-gru-tanh-sigmoid-ra1.grt", {GRU(GRT_ACT_TANH, GRT_ACT_SIGMOID, 1, 3, 4)}, 1, 0},
    {"valid-gru-tanh-sigmoid-ra0.grt", {GRU(GRT_ACT_TANH, GRT_ACT_SIGMOID, 0, 3, 4)}, 1, 1},
    {"valid-gru-relu-hardsig-ra1.grt", {GRU(GRT_ACT_RELU, GRT_ACT_HARD_SIGMOID, 1, 2, 3)}, 1, 0},
    {"valid-gru-relu-hardsigk2-ra0.grt", {GRU(GRT_ACT_RELU, GRT_ACT_HARD_SIGMOID_K2, 0, 2, 3)}, 1, 1},
    {"valid-gru-tanh-hardsigk2-ra1-1x1.grt", {GRU(GRT_ACT_TANH, GRT_ACT_HARD_SIGMOID_K2, 1, 1, 1)}, 1, 0},
    {"valid-gru-dense-softmax.grt",
     {GRU(GRT_ACT_TANH, GRT_ACT_SIGMOID, 1, 4, 5), DENSE(GRT_ACT_SOFTMAX, 5, 3)}, 2, 1},
    {"valid-gru-dense-softmax-nometa.grt",
     {GRU(GRT_ACT_TANH, GRT_ACT_SIGMOID, 0, 4, 5), DENSE(GRT_ACT_SOFTMAX, 5, 3)}, 2, 0},
    {"valid-dense-linear.grt", {DENSE(GRT_ACT_LINEAR, 3, 2)}, 1, 0},
    {"valid-dense-relu.grt", {DENSE(GRT_ACT_RELU, 2, 4)}, 1, 1},
    {"valid-dense-tanh.grt", {DENSE(GRT_ACT_TANH, 4, 4)}, 1, 0},
    {"valid-dense-sigmoid.grt", {DENSE(GRT_ACT_SIGMOID, 5, 1)}, 1, 0},
    {"valid-dense-softmax-1.grt", {DENSE(GRT_ACT_SOFTMAX, 1, 1)}, 1, 0},
    {"valid-3layers-dense-gru-dense.grt",
     {DENSE(GRT_ACT_RELU, 3, 4), GRU(GRT_ACT_TANH, GRT_ACT_SIGMOID, 1, 4, 5), DENSE(GRT_ACT_SOFTMAX, 5, 2)},
     3,
     1},
    {"valid-3layers-gru-gru-dense.grt",
     {GRU(GRT_ACT_TANH, GRT_ACT_HARD_SIGMOID, 0, 2, 3), GRU(GRT_ACT_RELU, GRT_ACT_SIGMOID, 1, 3, 4),
      DENSE(GRT_ACT_LINEAR, 4, 2)},
     3,
     0},
    {"valid-4layers-mixed.grt",
     {DENSE(GRT_ACT_RELU, 3, 4), GRU(GRT_ACT_TANH, GRT_ACT_SIGMOID, 1, 4, 5),
      GRU(GRT_ACT_RELU, GRT_ACT_HARD_SIGMOID, 0, 5, 3), DENSE(GRT_ACT_SOFTMAX, 3, 2)},
     4,
     1},
    {"valid-gru-wide-16.grt", {GRU(GRT_ACT_TANH, GRT_ACT_SIGMOID, 1, 16, 16)}, 1, 0},
    /* the 1.3 Dense activations (leaky_relu/elu with param 0: alpha 0.0) */
    {"valid-gru-dense-leaky-relu.grt",
     {GRU(GRT_ACT_TANH, GRT_ACT_SIGMOID, 1, 3, 4), DENSE(GRT_ACT_LEAKY_RELU, 4, 2)}, 2, 0},
    {"valid-dense-elu.grt", {DENSE(GRT_ACT_ELU, 3, 3)}, 1, 0},
    {"valid-dense-gelu.grt", {DENSE(GRT_ACT_GELU, 3, 3)}, 1, 0},
    {"valid-dense-gelu-tanh.grt", {DENSE(GRT_ACT_GELU_TANH, 3, 3)}, 1, 0},
    {"valid-dense-silu.grt", {DENSE(GRT_ACT_SILU, 3, 3)}, 1, 0},
    {"valid-dense-softplus.grt", {DENSE(GRT_ACT_SOFTPLUS, 3, 3)}, 1, 0},
    {"valid-gru-dense-log-softmax.grt",
     {GRU(GRT_ACT_TANH, GRT_ACT_SIGMOID, 0, 4, 5), DENSE(GRT_ACT_LOG_SOFTMAX, 5, 3)}, 2, 1},
    /* q8: every GRU activation/gate/reset mode, every Dense activation, stacks */
    {"valid-q8-gru-tanh-sigmoid-ra1.grt", {GRU8(GRT_ACT_TANH, GRT_ACT_SIGMOID, 1, 3, 4)}, 1, 1},
    {"valid-q8-gru-tanh-hardsig-ra0.grt", {GRU8(GRT_ACT_TANH, GRT_ACT_HARD_SIGMOID, 0, 3, 4)}, 1, 0},
    {"valid-q8-gru-relu-hardsigk2-ra1.grt", {GRU8(GRT_ACT_RELU, GRT_ACT_HARD_SIGMOID_K2, 1, 2, 3)}, 1, 0},
    {"valid-q8-gru-relu-sigmoid-ra0.grt", {GRU8(GRT_ACT_RELU, GRT_ACT_SIGMOID, 0, 2, 3)}, 1, 0},
    {"valid-q8-dense-linear.grt", {DENSE8(GRT_ACT_LINEAR, 3, 2)}, 1, 0},
    {"valid-q8-dense-relu.grt", {DENSE8(GRT_ACT_RELU, 2, 4)}, 1, 0},
    {"valid-q8-dense-tanh.grt", {DENSE8(GRT_ACT_TANH, 4, 4)}, 1, 0},
    {"valid-q8-dense-sigmoid.grt", {DENSE8(GRT_ACT_SIGMOID, 5, 1)}, 1, 0},
    {"valid-q8-dense-softmax.grt", {DENSE8(GRT_ACT_SOFTMAX, 4, 3)}, 1, 0},
    {"valid-q8-dense-gelu.grt", {DENSE8(GRT_ACT_GELU, 4, 3)}, 1, 0},
    {"valid-q8-dense-log-softmax.grt", {DENSE8(GRT_ACT_LOG_SOFTMAX, 4, 3)}, 1, 0},
    {"valid-q8-gru-dense-softmax.grt",
     {GRU8(GRT_ACT_TANH, GRT_ACT_SIGMOID, 1, 4, 5), DENSE8(GRT_ACT_SOFTMAX, 5, 3)}, 2, 1},
    /* f32 and q8 mixed, both ways round */
    {"valid-mixed-f32-q8-3layers.grt",
     {DENSE(GRT_ACT_RELU, 3, 4), GRU8(GRT_ACT_TANH, GRT_ACT_SIGMOID, 1, 4, 5), DENSE(GRT_ACT_SOFTMAX, 5, 2)},
     3,
     1},
    {"valid-mixed-q8-f32-4layers.grt",
     {DENSE8(GRT_ACT_TANH, 3, 4), GRU(GRT_ACT_TANH, GRT_ACT_HARD_SIGMOID, 0, 4, 5),
      GRU8(GRT_ACT_RELU, GRT_ACT_HARD_SIGMOID_K2, 0, 5, 3), DENSE8(GRT_ACT_LINEAR, 3, 2)},
     4,
     0},
    /* q15: every gate and reset mode, every Dense activation, stacks */
    {"valid-q15-gru-sigmoid-ra1.grt", {GRU15(GRT_ACT_SIGMOID, 1, 3, 4)}, 1, 1},
    {"valid-q15-gru-sigmoid-ra0.grt", {GRU15(GRT_ACT_SIGMOID, 0, 3, 4)}, 1, 0},
    {"valid-q15-gru-hardsig-ra1.grt", {GRU15(GRT_ACT_HARD_SIGMOID, 1, 2, 3)}, 1, 0},
    {"valid-q15-gru-hardsigk2-ra0.grt", {GRU15(GRT_ACT_HARD_SIGMOID_K2, 0, 2, 3)}, 1, 0},
    {"valid-q15-gru-1x1.grt", {GRU15(GRT_ACT_SIGMOID, 1, 1, 1)}, 1, 0},
    {"valid-q15-dense-linear.grt", {DENSE15(GRT_ACT_LINEAR, 3, 2)}, 1, 0},
    {"valid-q15-dense-relu.grt", {DENSE15(GRT_ACT_RELU, 2, 4)}, 1, 0},
    {"valid-q15-dense-tanh.grt", {DENSE15(GRT_ACT_TANH, 4, 4)}, 1, 0},
    {"valid-q15-dense-sigmoid.grt", {DENSE15(GRT_ACT_SIGMOID, 5, 1)}, 1, 0},
    {"valid-q15-dense-softmax.grt", {DENSE15(GRT_ACT_SOFTMAX, 4, 3)}, 1, 0},
    {"valid-q15-dense-softmax-1.grt", {DENSE15(GRT_ACT_SOFTMAX, 1, 1)}, 1, 0},
    {"valid-q15-gru-dense-softmax.grt", {GRU15(GRT_ACT_SIGMOID, 1, 4, 5), DENSE15(GRT_ACT_SOFTMAX, 5, 3)}, 2, 1},
    {"valid-q15-4layers.grt",
     {DENSE15(GRT_ACT_RELU, 3, 4), GRU15(GRT_ACT_SIGMOID, 1, 4, 5), GRU15(GRT_ACT_HARD_SIGMOID, 0, 5, 3),
      DENSE15(GRT_ACT_LINEAR, 3, 2)},
     4,
     1},
    {"valid-q15-dense-chain.grt",
     {DENSE15(GRT_ACT_LINEAR, 3, 4), DENSE15(GRT_ACT_RELU, 4, 4), DENSE15(GRT_ACT_TANH, 4, 2)}, 3, 0},
    /* 1.4 LayerNorm: alone, first, after a GRU, between layers, in each precision */
    {"valid-norm-f32-1.grt", {NORM(GRT_PREC_F32, 1)}, 1, 0},
    {"valid-norm-f32-gru-norm-dense.grt",
     {NORM(GRT_PREC_F32, 3), GRU(GRT_ACT_TANH, GRT_ACT_SIGMOID, 1, 3, 4), NORM(GRT_PREC_F32, 4),
      DENSE(GRT_ACT_SOFTMAX, 4, 2)},
     4,
     1},
    {"valid-norm-q8-gru-norm.grt", {GRU8(GRT_ACT_TANH, GRT_ACT_SIGMOID, 0, 3, 5), NORM(GRT_PREC_Q8, 5)}, 2, 0},
    {"valid-norm-q15-1.grt", {NORM(GRT_PREC_Q15, 1)}, 1, 0},
    {"valid-norm-q15-stack.grt",
     {GRU15(GRT_ACT_SIGMOID, 1, 3, 4), NORM(GRT_PREC_Q15, 4), DENSE15(GRT_ACT_LINEAR, 4, 4), NORM(GRT_PREC_Q15, 4)},
     4,
     0},
    /* causal Conv1D (1.4): windows, dilation, depthwise, kernel 1, in every precision */
    {"valid-conv1d-gru-dense.grt",
     {TW_CONV(GRT_PREC_F32, GRT_ACT_RELU, 0, 3, 4, 3, 2), GRU(GRT_ACT_TANH, GRT_ACT_SIGMOID, 1, 4, 5),
      DENSE(GRT_ACT_SOFTMAX, 5, 2)}, 3, 1},
    {"valid-conv1d-depthwise-k1.grt",
     {TW_CONV(GRT_PREC_F32, GRT_ACT_LEAKY_RELU, 1, 3, 6, 4, 3), TW_CONV(GRT_PREC_F32, GRT_ACT_TANH, 0, 6, 2, 1, 1)},
     2, 0},
    {"valid-q8-conv1d.grt",
     {TW_CONV(GRT_PREC_Q8, GRT_ACT_GELU, 0, 3, 4, 2, 5), TW_CONV(GRT_PREC_Q8, GRT_ACT_LINEAR, 1, 4, 8, 3, 1),
      GRU8(GRT_ACT_TANH, GRT_ACT_SIGMOID, 0, 8, 3)}, 3, 0},
    {"valid-q15-conv1d.grt",
     {TW_CONV(GRT_PREC_Q15, GRT_ACT_RELU, 0, 3, 4, 3, 2), TW_CONV(GRT_PREC_Q15, GRT_ACT_TANH, 1, 4, 4, 2, 3),
      GRU15(GRT_ACT_SIGMOID, 1, 4, 3), DENSE15(GRT_ACT_SOFTMAX, 3, 2)}, 4, 1},
};

/* The base file the malformed ones are made from: GRU + Dense softmax with metadata. */
static size_t base_file(uint8_t *buf)
{
    static const tw_layer L[] = {GRU(GRT_ACT_TANH, GRT_ACT_SIGMOID, 1, 3, 4), DENSE(GRT_ACT_SOFTMAX, 4, 2)};
    return tw_build(buf, CAP, L, 2, META, 4, NULL, 7, 0.5f);
}

/* A malformed variant: copy the base, let patch() change it, fix the CRC unless told not to. */
typedef size_t (*patch_fn)(uint8_t *b, size_t n);

static void bad(const char *name, patch_fn patch, int fix_crc, unsigned flags, grt_status want)
{
    static uint8_t b[CAP];
    size_t n = base_file(b);
    n = patch(b, n);
    if (fix_crc)
        tw_fix_crc(b, n);
    expect(name, b, n, flags, want);
    write_file(name, b, n);
}

static size_t p_trunc_half(uint8_t *b, size_t n) { (void)b; return n / 2; }
static size_t p_trunc_63(uint8_t *b, size_t n) { (void)b; (void)n; return 63; }
static size_t p_trunc_8(uint8_t *b, size_t n) { (void)b; (void)n; return 8; }
static size_t p_trunc_last(uint8_t *b, size_t n) { (void)b; return n - 1; }
static size_t p_trailing(uint8_t *b, size_t n) { memset(b + n, 0, 64); return n + 64; }
static size_t p_magic(uint8_t *b, size_t n) { b[1] = 'g'; return n; }
static size_t p_version(uint8_t *b, size_t n) { tw_put_u16(b, 8, 2); return n; }
static size_t p_header_size(uint8_t *b, size_t n) { tw_put_u32(b, 12, 128); return n; }
static size_t p_flags(uint8_t *b, size_t n) { tw_put_u32(b, 24, 0x80000000u); return n; }
static size_t p_reserved(uint8_t *b, size_t n) { tw_put_u32(b, 60, 0x3F800000u); return n; }
/* the input mask (1.4): header flags bit 0, its float32 value at 60 */
static size_t p_mask_zero(uint8_t *b, size_t n) { tw_put_u32(b, 24, 1); return n; }
static size_t p_mask_minus1(uint8_t *b, size_t n) { tw_put_u32(b, 24, 1); tw_put_u32(b, 60, 0xBF800000u); return n; }
static size_t p_mask_nan(uint8_t *b, size_t n) { tw_put_u32(b, 24, 1); tw_put_u32(b, 60, 0x7FC00000u); return n; }
static size_t p_crc(uint8_t *b, size_t n) { b[20] ^= 0x01; return n; }
static size_t p_crc_data(uint8_t *b, size_t n) { b[n - 1] ^= 0x80; return n; }
static size_t p_n_layers0(uint8_t *b, size_t n) { tw_put_u32(b, 28, 0); return n; }
static size_t p_n_layers_big(uint8_t *b, size_t n) { tw_put_u32(b, 28, 33); return n; }
static size_t p_n_tensors(uint8_t *b, size_t n) { tw_put_u32(b, 32, 7); return n; }
static size_t p_tensor_table_off(uint8_t *b, size_t n) { tw_put_u32(b, 40, tw_get_u32(b, 40) + 32); return n; }
static size_t p_meta_off(uint8_t *b, size_t n) { tw_put_u32(b, 44, tw_get_u32(b, 44) + 4); return n; }
static size_t p_meta_size_huge(uint8_t *b, size_t n) { tw_put_u32(b, 48, 0xFFFFFFF0u); return n; }
static size_t p_data_off(uint8_t *b, size_t n) { tw_put_u32(b, 52, tw_get_u32(b, 52) + 64); return n; }
static size_t p_data_size(uint8_t *b, size_t n) { tw_put_u32(b, 56, tw_get_u32(b, 56) - 64); return n; }
static size_t p_file_size(uint8_t *b, size_t n) { tw_put_u32(b, 16, (uint32_t)n + 64); return n; }
static size_t p_padding(uint8_t *b, size_t n)
{
    size_t meta_end = tw_get_u32(b, 44) + tw_get_u32(b, 48);
    if (meta_end < tw_get_u32(b, 52))
        b[meta_end] = 1;
    return n;
}
static size_t p_kind(uint8_t *b, size_t n) { b[tw_layer_field(0, 0)] = 255; return n; }
static size_t p_precision_unknown(uint8_t *b, size_t n) { b[tw_layer_field(0, 1)] = 3; return n; }
static size_t p_gru_softmax(uint8_t *b, size_t n) { b[tw_layer_field(0, 2)] = GRT_ACT_SOFTMAX; return n; }
static size_t p_act_unknown(uint8_t *b, size_t n) { b[tw_layer_field(1, 2)] = GRT_ACT_COUNT; return n; }
static size_t p_gate_linear(uint8_t *b, size_t n) { b[tw_layer_field(0, 3)] = GRT_ACT_LINEAR; return n; }
static size_t p_dense_gate(uint8_t *b, size_t n) { b[tw_layer_field(1, 3)] = GRT_ACT_SIGMOID; return n; }
static size_t p_reset_after2(uint8_t *b, size_t n) { b[tw_layer_field(0, 4)] = 2; return n; }
static size_t p_weight_layout(uint8_t *b, size_t n) { b[tw_layer_field(0, 5)] = 1; return n; }
static size_t p_param(uint8_t *b, size_t n) { tw_put_u32(b, tw_layer_field(1, 24), 1); return n; }
static size_t p_leaky_alpha_inf(uint8_t *b, size_t n)
{
    b[tw_layer_field(1, 2)] = GRT_ACT_LEAKY_RELU;
    tw_put_u32(b, tw_layer_field(1, 24), 0x7F800000u);
    return n;
}
static size_t p_gru_gelu(uint8_t *b, size_t n) { b[tw_layer_field(0, 2)] = GRT_ACT_GELU; return n; }
static size_t p_dims0(uint8_t *b, size_t n) { tw_put_u32(b, tw_layer_field(0, 8), 0); return n; }
static size_t p_dims_big(uint8_t *b, size_t n) { tw_put_u32(b, tw_layer_field(0, 12), GRT_MAX_DIM + 1); return n; }
static size_t p_chain(uint8_t *b, size_t n) { tw_put_u32(b, tw_layer_field(1, 8), 5); return n; }
static size_t p_first_tensor(uint8_t *b, size_t n) { tw_put_u32(b, tw_layer_field(1, 16), 3); return n; }
static size_t p_layer_ntensors(uint8_t *b, size_t n) { tw_put_u32(b, tw_layer_field(1, 20), 4); return n; }
static size_t p_role(uint8_t *b, size_t n) { b[tw_tensor_field(b, 1, 0)] = GRT_ROLE_B_IH; return n; }
static size_t p_tensor_layer(uint8_t *b, size_t n) { tw_put_u32(b, tw_tensor_field(b, 4, 4), 0); return n; }
static size_t p_dtype(uint8_t *b, size_t n) { b[tw_tensor_field(b, 0, 1)] = GRT_DTYPE_I8; return n; }
static size_t p_shape(uint8_t *b, size_t n) { tw_put_u32(b, tw_tensor_field(b, 0, 12), 4); return n; }
static size_t p_nbytes(uint8_t *b, size_t n)
{
    size_t f = tw_tensor_field(b, 2, 20);
    tw_put_u32(b, f, tw_get_u32(b, f) + 4);
    return n;
}
static size_t p_misaligned(uint8_t *b, size_t n)
{
    size_t f = tw_tensor_field(b, 1, 16);
    tw_put_u32(b, f, tw_get_u32(b, f) + 4);
    return n;
}
static size_t p_overlap(uint8_t *b, size_t n) { tw_put_u32(b, tw_tensor_field(b, 1, 16), 0); return n; }
static size_t p_hole(uint8_t *b, size_t n)
{
    size_t f = tw_tensor_field(b, 2, 16);
    tw_put_u32(b, f, tw_get_u32(b, f) + 64);
    return n;
}
static size_t p_past_data(uint8_t *b, size_t n)
{
    size_t f = tw_tensor_field(b, 5, 16); /* last tensor pushed past the data section */
    tw_put_u32(b, f, tw_get_u32(b, 56));
    return n;
}
static size_t p_tensor_offset_huge(uint8_t *b, size_t n) { tw_put_u32(b, tw_tensor_field(b, 3, 16), 0xFFFFFFC0u); return n; }
static size_t p_tensor_reserved(uint8_t *b, size_t n) { tw_put_u32(b, tw_tensor_field(b, 0, 24), 1); return n; }
/* metadata: base meta region is count, then entries {klen, vlen, key, value} */
static size_t meta_at(const uint8_t *b) { return tw_get_u32(b, 44); }
static size_t p_meta_count(uint8_t *b, size_t n) { tw_put_u32(b, meta_at(b), 5); return n; }
static size_t p_meta_count_huge(uint8_t *b, size_t n) { tw_put_u32(b, meta_at(b), 0xFFFFFFFFu); return n; }
static size_t p_meta_keylen(uint8_t *b, size_t n) { tw_put_u32(b, meta_at(b) + 4, 0x7FFFFFFFu); return n; }
static size_t p_meta_vallen(uint8_t *b, size_t n) { tw_put_u32(b, meta_at(b) + 8, 0xFFFFFFF8u); return n; }
static size_t p_meta_key_empty(uint8_t *b, size_t n)
{
    /* first key "source.framework" (16) -> length 0, value length 16 + 5: same total */
    tw_put_u32(b, meta_at(b) + 4, 0);
    tw_put_u32(b, meta_at(b) + 8, 21);
    return n;
}
static size_t p_meta_nul(uint8_t *b, size_t n) { b[meta_at(b) + 12 + 3] = 0; return n; }
static size_t p_meta_nul_value(uint8_t *b, size_t n) { b[meta_at(b) + 12 + 16 + 1] = 0; return n; }
static size_t p_meta_dup(uint8_t *b, size_t n)
{
    /* second entry's key "source.convention" (17) -> "source.framework" + 1 byte moved to the value */
    size_t e2 = meta_at(b) + 4 + 8 + 16 + 5;
    tw_put_u32(b, e2, 16);
    tw_put_u32(b, e2 + 4, tw_get_u32(b, e2 + 4) + 1);
    memcpy(b + e2 + 8, "source.framework", 16);
    return n;
}
static size_t p_meta_size_short(uint8_t *b, size_t n) { tw_put_u32(b, 48, tw_get_u32(b, 48) - 1); return n; }
static size_t p_meta_size_3(uint8_t *b, size_t n) { tw_put_u32(b, 48, 3); return n; }

static void malformed(void)
{
    bad("bad-truncated-half.grt", p_trunc_half, 0, 0, GRT_E_TRUNCATED);
    bad("bad-truncated-63.grt", p_trunc_63, 0, 0, GRT_E_TRUNCATED);
    bad("bad-truncated-8.grt", p_trunc_8, 0, 0, GRT_E_TRUNCATED);
    bad("bad-truncated-last-byte.grt", p_trunc_last, 0, 0, GRT_E_TRUNCATED);
    bad("bad-trailing-bytes.grt", p_trailing, 0, 0, GRT_E_FILE_SIZE);
    bad("bad-magic.grt", p_magic, 1, 0, GRT_E_MAGIC);
    bad("bad-version.grt", p_version, 1, 0, GRT_E_VERSION);
    bad("bad-header-size.grt", p_header_size, 1, 0, GRT_E_HEADER);
    bad("bad-flags.grt", p_flags, 1, 0, GRT_E_HEADER);
    bad("bad-header-reserved.grt", p_reserved, 1, 0, GRT_E_HEADER);
    bad("bad-mask-value-nan.grt", p_mask_nan, 1, 0, GRT_E_HEADER);
    bad("valid-mask-zero.grt", p_mask_zero, 1, 0, GRT_OK);
    bad("bad-crc-field.grt", p_crc, 0, 0, GRT_E_CHECKSUM);
    bad("bad-crc-data.grt", p_crc_data, 0, 0, GRT_E_CHECKSUM);
    bad("bad-file-size-field.grt", p_file_size, 1, 0, GRT_E_TRUNCATED);
    bad("bad-n-layers-0.grt", p_n_layers0, 1, 0, GRT_E_LAYER_COUNT);
    bad("bad-n-layers-33.grt", p_n_layers_big, 1, 0, GRT_E_LAYER_COUNT);
    bad("bad-n-tensors.grt", p_n_tensors, 1, 0, GRT_E_LAYOUT); /* meta_offset no longer matches */
    bad("bad-layer-n-tensors.grt", p_layer_ntensors, 1, 0, GRT_E_TENSOR_COUNT);
    bad("bad-offset-tensor-table.grt", p_tensor_table_off, 1, 0, GRT_E_LAYOUT);
    bad("bad-offset-meta.grt", p_meta_off, 1, 0, GRT_E_LAYOUT);
    bad("bad-meta-size-huge.grt", p_meta_size_huge, 1, 0, GRT_E_LAYOUT);
    bad("bad-offset-data.grt", p_data_off, 1, 0, GRT_E_LAYOUT);
    bad("bad-data-size.grt", p_data_size, 1, 0, GRT_E_LAYOUT);
    bad("bad-padding.grt", p_padding, 1, 0, GRT_E_PADDING);
    bad("bad-layer-kind.grt", p_kind, 1, 0, GRT_E_LAYER_KIND);
    bad("bad-precision-unknown.grt", p_precision_unknown, 1, 0, GRT_E_PRECISION);
    bad("bad-act-gru-softmax.grt", p_gru_softmax, 1, 0, GRT_E_ACTIVATION);
    bad("bad-act-unknown.grt", p_act_unknown, 1, 0, GRT_E_ACTIVATION);
    bad("bad-act-gru-gelu.grt", p_gru_gelu, 1, 0, GRT_E_ACTIVATION);
    bad("bad-param-leaky-relu-inf.grt", p_leaky_alpha_inf, 1, 0, GRT_E_LAYER_FIELD);
    bad("bad-gate-linear.grt", p_gate_linear, 1, 0, GRT_E_ACTIVATION);
    bad("bad-dense-gate-set.grt", p_dense_gate, 1, 0, GRT_E_LAYER_FIELD);
    bad("bad-reset-after-2.grt", p_reset_after2, 1, 0, GRT_E_LAYER_FIELD);
    bad("bad-weight-layout.grt", p_weight_layout, 1, 0, GRT_E_LAYER_FIELD);
    bad("bad-param.grt", p_param, 1, 0, GRT_E_LAYER_FIELD);
    bad("bad-dims-0.grt", p_dims0, 1, 0, GRT_E_DIMS);
    bad("bad-dims-too-big.grt", p_dims_big, 1, 0, GRT_E_DIMS);
    bad("bad-chain.grt", p_chain, 1, 0, GRT_E_CHAIN);
    bad("bad-first-tensor.grt", p_first_tensor, 1, 0, GRT_E_CHAIN);
    bad("bad-tensor-role.grt", p_role, 1, 0, GRT_E_TENSOR_ROLE);
    bad("bad-tensor-layer.grt", p_tensor_layer, 1, 0, GRT_E_TENSOR_ROLE);
    bad("bad-tensor-dtype.grt", p_dtype, 1, 0, GRT_E_TENSOR_DTYPE);
    bad("bad-tensor-shape.grt", p_shape, 1, 0, GRT_E_TENSOR_SHAPE);
    bad("bad-tensor-nbytes.grt", p_nbytes, 1, 0, GRT_E_TENSOR_SHAPE);
    bad("bad-tensor-reserved.grt", p_tensor_reserved, 1, 0, GRT_E_LAYER_FIELD);
    bad("bad-tensor-misaligned.grt", p_misaligned, 1, 0, GRT_E_TENSOR_ALIGN);
    bad("bad-tensor-overlap.grt", p_overlap, 1, 0, GRT_E_TENSOR_OFFSET);
    bad("bad-tensor-hole.grt", p_hole, 1, 0, GRT_E_TENSOR_OFFSET);
    bad("bad-tensor-past-data.grt", p_past_data, 1, 0, GRT_E_TENSOR_OFFSET);
    bad("bad-tensor-offset-huge.grt", p_tensor_offset_huge, 1, 0, GRT_E_TENSOR_OFFSET);
    bad("bad-meta-count.grt", p_meta_count, 1, 0, GRT_E_METADATA);
    bad("bad-meta-count-huge.grt", p_meta_count_huge, 1, 0, GRT_E_METADATA);
    bad("bad-meta-key-len.grt", p_meta_keylen, 1, 0, GRT_E_METADATA);
    bad("bad-meta-value-len.grt", p_meta_vallen, 1, 0, GRT_E_METADATA);
    bad("bad-meta-key-empty.grt", p_meta_key_empty, 1, 0, GRT_E_METADATA);
    bad("bad-meta-key-nul.grt", p_meta_nul, 1, 0, GRT_E_METADATA);
    bad("bad-meta-value-nul.grt", p_meta_nul_value, 1, 0, GRT_E_METADATA);
    bad("bad-meta-key-dup.grt", p_meta_dup, 1, 0, GRT_E_METADATA);
    bad("bad-meta-size-short.grt", p_meta_size_short, 1, 0, GRT_E_PADDING /* last meta byte becomes padding */);
    bad("bad-meta-size-3.grt", p_meta_size_3, 1, 0, GRT_E_LAYOUT);
    write_file("bad-empty.grt", (const uint8_t *)"", 0);
}

/* ---- q8 / q15 ---------------------------------------------------------------------------------------
 * Bases: q8 GRU 3->4 + Dense softmax 4->2 (tensors 0-5 GRU: 4 w_ih_scale, 5 w_hh_scale; 6 w_ih, 7 b_ih,
 * 8 w_ih_scale) and q15 GRU 3->4 + Dense softmax 4->2 (tensors 0-7 GRU: 4 w_ih_scale, 5 w_hh_scale,
 * 6 in_scale, 7 out_scale; 8 w_ih, 9 b_ih, 10 w_ih_scale, 11 in_scale, 12 out_scale). */

static size_t q8_file(uint8_t *buf)
{
    static const tw_layer L[] = {GRU8(GRT_ACT_TANH, GRT_ACT_SIGMOID, 1, 3, 4), DENSE8(GRT_ACT_SOFTMAX, 4, 2)};
    return tw_build(buf, CAP, L, 2, META, 2, NULL, 8, 0.5f);
}

static size_t q15_file(uint8_t *buf)
{
    static const tw_layer L[] = {GRU15(GRT_ACT_SIGMOID, 1, 3, 4), DENSE15(GRT_ACT_SOFTMAX, 4, 2)};
    return tw_build(buf, CAP, L, 2, META, 2, NULL, 9, 0.5f);
}

static size_t dense_file(uint8_t *buf)
{
    static const tw_layer L[] = {DENSE(GRT_ACT_TANH, 3, 2)};
    return tw_build(buf, CAP, L, 1, NULL, 0, NULL, 10, 0.5f);
}

static void bad_q(const char *name, size_t (*base)(uint8_t *), patch_fn patch, grt_status want)
{
    static uint8_t b[CAP];
    size_t n = base(b);
    n = patch(b, n);
    tw_fix_crc(b, n);
    expect(name, b, n, 0, want);
    write_file(name, b, n);
}

static void put16(uint8_t *b, uint32_t k, size_t e, uint16_t v) { tw_put_u16(b, tw_tensor_data(b, k) + 2 * e, v); }
static void put32(uint8_t *b, uint32_t k, size_t e, uint32_t v) { tw_put_u32(b, tw_tensor_data(b, k) + 4 * e, v); }

static size_t p_q8_scale_negative(uint8_t *b, size_t n) { put16(b, 4, 2, 0xBF80); return n; }
static size_t p_q8_scale_inf(uint8_t *b, size_t n) { put16(b, 5, 11, 0x7F80); return n; }
static size_t p_q8_scale_nan(uint8_t *b, size_t n) { put16(b, 8, 1, 0x7FC0); return n; }
static size_t p_q8_dtype(uint8_t *b, size_t n) { b[tw_tensor_field(b, 6, 1)] = GRT_DTYPE_F32; return n; }
static size_t p_q8_n_tensors(uint8_t *b, size_t n) { tw_put_u32(b, tw_layer_field(1, 20), 2); return n; }
static size_t p_q15_mixed_f32(uint8_t *b, size_t n) { b[tw_layer_field(0, 1)] = GRT_PREC_F32; return n; }
static size_t p_q15_gru_relu(uint8_t *b, size_t n) { b[tw_layer_field(0, 2)] = GRT_ACT_RELU; return n; }
static size_t p_q15_code_sign(uint8_t *b, size_t n) { put16(b, 4, 0, 0xBF80); return n; }
static size_t p_q15_code_exp_low(uint8_t *b, size_t n) { put16(b, 5, 3, 0x2380); return n; }
static size_t p_q15_code_exp_high(uint8_t *b, size_t n) { put16(b, 10, 1, 0x4380); return n; }
static size_t p_q15_in_zero(uint8_t *b, size_t n) { put32(b, 6, 0, 0); return n; }
static size_t p_q15_in_negative(uint8_t *b, size_t n) { put32(b, 6, 1, 0xB9000000u); return n; }
static size_t p_q15_in_inf(uint8_t *b, size_t n) { put32(b, 6, 2, 0x7F800000u); return n; }
static size_t p_q15_in_denormal(uint8_t *b, size_t n) { put32(b, 6, 2, 0x00000001u); return n; }
static size_t p_q15_out_gru(uint8_t *b, size_t n) { put32(b, 7, 3, 0x38800000u); return n; }
static size_t p_q15_out_softmax(uint8_t *b, size_t n) { put32(b, 12, 0, 0x3F800000u); return n; }
static size_t p_q15_chain(uint8_t *b, size_t n) { put32(b, 11, 1, 0x37800000u); return n; }
static size_t p_q15_bias_dtype(uint8_t *b, size_t n) { b[tw_tensor_field(b, 9, 1)] = GRT_DTYPE_F32; return n; }
static size_t p_q15_scale_role(uint8_t *b, size_t n) { b[tw_tensor_field(b, 11, 0)] = GRT_ROLE_OUT_SCALE; return n; }

static void quantized(void)
{
    static uint8_t b[CAP];
    /* extreme but valid contents (weights -128/127, q15 biases INT32_MIN/MAX, sh = 0 M = 255 ...) */
    static const tw_layer x15[] = {DENSE15(GRT_ACT_LINEAR, 3, 4), GRU15(GRT_ACT_SIGMOID, 1, 4, 5),
                                   GRU15(GRT_ACT_HARD_SIGMOID_K2, 0, 5, 3), DENSE15(GRT_ACT_SOFTMAX, 3, 2)};
    static const tw_layer x8[] = {GRU8(GRT_ACT_RELU, GRT_ACT_SIGMOID, 0, 3, 4), DENSE8(GRT_ACT_SOFTMAX, 4, 2)};
    tw_options ext = {0, 0, 0, TW_FILL_EXTREME, 0};
    size_t n = tw_build(b, CAP, x15, 4, NULL, 0, &ext, 11, 0.5f);
    expect("valid-q15-extreme.grt", b, n, 0, GRT_OK);
    write_file("valid-q15-extreme.grt", b, n);
    n = tw_build(b, CAP, x8, 2, NULL, 0, &ext, 12, 0.5f);
    expect("valid-q8-extreme.grt", b, n, 0, GRT_OK);
    write_file("valid-q8-extreme.grt", b, n);
    /* a q15 model with an f32 or q8 layer (consistent files: the writer's tensors for each) */
    static const tw_layer m1[] = {GRU15(GRT_ACT_SIGMOID, 1, 3, 4), DENSE(GRT_ACT_LINEAR, 4, 2)};
    static const tw_layer m2[] = {DENSE8(GRT_ACT_TANH, 3, 4), DENSE15(GRT_ACT_LINEAR, 4, 2)};
    n = tw_build(b, CAP, m1, 2, NULL, 0, NULL, 13, 0.5f);
    expect("bad-q15-with-f32-layer.grt", b, n, 0, GRT_E_PRECISION);
    write_file("bad-q15-with-f32-layer.grt", b, n);
    n = tw_build(b, CAP, m2, 2, NULL, 0, NULL, 14, 0.5f);
    expect("bad-q15-with-q8-layer.grt", b, n, 0, GRT_E_PRECISION);
    write_file("bad-q15-with-q8-layer.grt", b, n);

    /* the panel8 layout: a valid f32 model (GRU H = 8, a Dense head with a padded panel), and the
     * same with a non-zero padding lane in the head's last panel */
    static const tw_layer p8[] = {GRU(GRT_ACT_TANH, GRT_ACT_SIGMOID, 0, 3, 8), DENSE(GRT_ACT_SOFTMAX, 8, 3)};
    tw_options panel8 = {0, 0, 0, TW_FILL_RANDOM, 1};
    n = tw_build(b, CAP, p8, 2, NULL, 0, &panel8, 15, 0.5f);
    expect("valid-panel8.grt", b, n, 0, GRT_OK);
    write_file("valid-panel8.grt", b, n);
    tw_put_u32(b, tw_tensor_data(b, 4) + 4 * (8 * 7 + 5), 1);
    tw_fix_crc(b, n);
    expect("bad-panel8-padding.grt", b, n, 0, GRT_E_PADDING);
    write_file("bad-panel8-padding.grt", b, n);

    bad_q("bad-q8-scale-negative.grt", q8_file, p_q8_scale_negative, GRT_E_TENSOR_VALUE);
    bad_q("bad-q8-scale-inf.grt", q8_file, p_q8_scale_inf, GRT_E_TENSOR_VALUE);
    bad_q("bad-q8-scale-nan.grt", q8_file, p_q8_scale_nan, GRT_E_TENSOR_VALUE);
    bad_q("bad-q8-weight-dtype.grt", q8_file, p_q8_dtype, GRT_E_TENSOR_DTYPE);
    bad_q("bad-q8-n-tensors.grt", q8_file, p_q8_n_tensors, GRT_E_TENSOR_COUNT);
    bad_q("bad-q15-layer-f32-tensors.grt", q15_file, p_q15_mixed_f32, GRT_E_TENSOR_COUNT);
    bad_q("bad-q15-gru-relu.grt", q15_file, p_q15_gru_relu, GRT_E_ACTIVATION);
    bad_q("bad-q15-code-sign.grt", q15_file, p_q15_code_sign, GRT_E_TENSOR_VALUE);
    bad_q("bad-q15-code-exponent-low.grt", q15_file, p_q15_code_exp_low, GRT_E_TENSOR_VALUE);
    bad_q("bad-q15-code-exponent-high.grt", q15_file, p_q15_code_exp_high, GRT_E_TENSOR_VALUE);
    bad_q("bad-q15-in-scale-zero.grt", q15_file, p_q15_in_zero, GRT_E_TENSOR_VALUE);
    bad_q("bad-q15-in-scale-negative.grt", q15_file, p_q15_in_negative, GRT_E_TENSOR_VALUE);
    bad_q("bad-q15-in-scale-inf.grt", q15_file, p_q15_in_inf, GRT_E_TENSOR_VALUE);
    bad_q("bad-q15-in-scale-denormal.grt", q15_file, p_q15_in_denormal, GRT_E_TENSOR_VALUE);
    bad_q("bad-q15-out-scale-gru.grt", q15_file, p_q15_out_gru, GRT_E_TENSOR_VALUE);
    bad_q("bad-q15-out-scale-softmax.grt", q15_file, p_q15_out_softmax, GRT_E_TENSOR_VALUE);
    bad_q("bad-q15-chain.grt", q15_file, p_q15_chain, GRT_E_CHAIN);
    bad_q("bad-q15-bias-dtype.grt", q15_file, p_q15_bias_dtype, GRT_E_TENSOR_DTYPE);
    bad_q("bad-q15-scale-role.grt", q15_file, p_q15_scale_role, GRT_E_TENSOR_ROLE);
    bad_q("valid-q8-mask.grt", q8_file, p_mask_minus1, GRT_OK);
    bad_q("valid-q15-mask.grt", q15_file, p_mask_minus1, GRT_OK);
    bad_q("bad-mask-without-gru.grt", dense_file, p_mask_zero, GRT_E_HEADER);
}

/* The LSTM kind (1.4): valid f32, q8 and mixed stacks, and one file per rule of its own. */
#define LSTM(act, gate, i, o) {GRT_LAYER_LSTM, act, gate, 0, i, o, GRT_PREC_F32}
#define LSTM8(act, gate, i, o) {GRT_LAYER_LSTM, act, gate, 0, i, o, GRT_PREC_Q8}
#define LSTM15(gate, i, o) {GRT_LAYER_LSTM, GRT_ACT_TANH, gate, 0, i, o, GRT_PREC_Q15} /* 1.5 */

/* The file of L with one patch (none for field < 0): byte `field` of layer 0's entry set to value, or
 * with tensor >= 0 the u32 at `field` of that tensor's entry. */
static void lstm_file(uint8_t *b, const char *name, const tw_layer *L, size_t n_layers, grt_status want,
                      int tensor, int field, uint32_t value)
{
    tw_options panel8 = {0, 0, 0, TW_FILL_RANDOM, 1};
    size_t n = tw_build(b, CAP, L, n_layers, META, 2, &panel8, 21, 0.5f);
    if (field >= 0) {
        if (tensor >= 0)
            tw_put_u32(b, tw_tensor_field(b, (uint32_t)tensor, (size_t)field), value);
        else
            b[tw_layer_field(0, (size_t)field)] = (uint8_t)value;
        tw_fix_crc(b, n);
    }
    expect(name, b, n, 0, want);
    write_file(name, b, n);
}

static void lstm_files(void)
{
    static uint8_t b[CAP];
    static const tw_layer one[] = {LSTM(GRT_ACT_TANH, GRT_ACT_SIGMOID, 3, 4)};
    static const tw_layer stack[] = {LSTM(GRT_ACT_RELU, GRT_ACT_HARD_SIGMOID, 3, 8),
                                     GRU(GRT_ACT_TANH, GRT_ACT_SIGMOID, 1, 8, 5),
                                     LSTM(GRT_ACT_TANH, GRT_ACT_HARD_SIGMOID_K2, 5, 3), DENSE(GRT_ACT_SOFTMAX, 3, 2)};
    static const tw_layer q8[] = {LSTM8(GRT_ACT_TANH, GRT_ACT_SIGMOID, 3, 4), LSTM(GRT_ACT_TANH, GRT_ACT_SIGMOID, 4, 8),
                                  DENSE8(GRT_ACT_LINEAR, 8, 2)};
    lstm_file(b, "valid-lstm.grt", one, 1, GRT_OK, -1, -1, 0);
    lstm_file(b, "valid-lstm-gru-lstm-dense-panel8.grt", stack, 4, GRT_OK, -1, -1, 0);
    lstm_file(b, "valid-lstm-q8-mixed.grt", q8, 3, GRT_OK, -1, -1, 0);
    lstm_file(b, "bad-lstm-reset-after.grt", one, 1, GRT_E_LAYER_FIELD, -1, 4, 1);
    lstm_file(b, "bad-lstm-activation.grt", one, 1, GRT_E_ACTIVATION, -1, 2, GRT_ACT_SIGMOID);
    /* a f32 LSTM's 4 tensors marked q15 (1.5: whose recipe has 8) */
    lstm_file(b, "bad-lstm-q15.grt", one, 1, GRT_E_TENSOR_COUNT, -1, 1, GRT_PREC_Q15);
    lstm_file(b, "bad-lstm-f32-param.grt", one, 1, GRT_E_LAYER_FIELD, -1, 24, 1); /* cell_bits: q15 only */
    lstm_file(b, "bad-lstm-reserved.grt", one, 1, GRT_E_LAYER_FIELD, -1, 6, 1);
    lstm_file(b, "bad-lstm-gru-rows.grt", one, 1, GRT_E_TENSOR_SHAPE, 1, 8, 12); /* w_hh 3H rows */

    /* q15 (1.5): the writer's cell_bits is 2 (14 with extreme values) */
    static const tw_layer q15[] = {LSTM15(GRT_ACT_SIGMOID, 3, 4), GRU15(GRT_ACT_SIGMOID, 1, 4, 5),
                                   LSTM15(GRT_ACT_HARD_SIGMOID, 5, 3), DENSE15(GRT_ACT_SOFTMAX, 3, 2)};
    lstm_file(b, "valid-lstm-q15-stack.grt", q15, 4, GRT_OK, -1, -1, 0);
    lstm_file(b, "valid-lstm-q15-cell-bits-0.grt", q15, 4, GRT_OK, -1, 24, 0);
    lstm_file(b, "bad-lstm-q15-cell-bits.grt", q15, 4, GRT_E_LAYER_FIELD, -1, 24, 15);
    lstm_file(b, "bad-lstm-q15-relu.grt", q15, 4, GRT_E_ACTIVATION, -1, 2, GRT_ACT_RELU);
    lstm_file(b, "bad-lstm-q15-reserved.grt", q15, 4, GRT_E_LAYER_FIELD, -1, 28, 1);
    tw_options ext = {0, 0, 0, TW_FILL_EXTREME, 0};
    size_t n = tw_build(b, CAP, q15, 4, NULL, 0, &ext, 22, 0.5f);
    expect("valid-lstm-q15-extreme.grt", b, n, 0, GRT_OK);
    write_file("valid-lstm-q15-extreme.grt", b, n);
}

/* ---- LayerNorm (1.4) ---------------------------------------------------------------------------------
 * Bases: f32 LayerNorm 3 + GRU 3->4, and q15 LayerNorm 3 (tensors 0 in_scale, 1 out_scale, 2 gamma,
 * 3 beta) + GRU 3->4. */

static size_t norm_file(uint8_t *buf)
{
    static const tw_layer L[] = {NORM(GRT_PREC_F32, 3), GRU(GRT_ACT_TANH, GRT_ACT_SIGMOID, 1, 3, 4)};
    return tw_build(buf, CAP, L, 2, NULL, 0, NULL, 16, 0.5f);
}

static size_t norm15_file(uint8_t *buf)
{
    static const tw_layer L[] = {NORM(GRT_PREC_Q15, 3), GRU15(GRT_ACT_SIGMOID, 1, 3, 4)};
    return tw_build(buf, CAP, L, 2, NULL, 0, NULL, 17, 0.5f);
}

static size_t p_norm_eps0(uint8_t *b, size_t n) { tw_put_u32(b, tw_layer_field(0, 24), 0); return n; }
static size_t p_norm_eps_inf(uint8_t *b, size_t n) { tw_put_u32(b, tw_layer_field(0, 24), 0x7F800000u); return n; }
static size_t p_norm_eps_neg(uint8_t *b, size_t n) { tw_put_u32(b, tw_layer_field(0, 24), 0xB727C5ACu); return n; }
static size_t p_norm_width(uint8_t *b, size_t n) { tw_put_u32(b, tw_layer_field(0, 12), 4); return n; }
static size_t p_norm_gate(uint8_t *b, size_t n) { b[tw_layer_field(0, 3)] = GRT_ACT_SIGMOID; return n; }
static size_t p_norm_act(uint8_t *b, size_t n) { b[tw_layer_field(0, 2)] = GRT_ACT_TANH; return n; }
static size_t p_norm_panel8(uint8_t *b, size_t n) { b[tw_layer_field(0, 5)] = GRT_LAYOUT_PANEL8; return n; }
static size_t p_norm_role(uint8_t *b, size_t n) { b[tw_tensor_field(b, 0, 0)] = GRT_ROLE_BETA; return n; }
static size_t p_norm15_units(uint8_t *b, size_t n) { put32(b, 0, 2, 0x38000000u); return n; }
static size_t p_norm15_gamma_dtype(uint8_t *b, size_t n) { b[tw_tensor_field(b, 2, 1)] = GRT_DTYPE_F32; return n; }

static void norms(void)
{
    static uint8_t b[CAP];
    static const tw_layer x15[] = {NORM(GRT_PREC_Q15, 5), GRU15(GRT_ACT_SIGMOID, 0, 5, 3)};
    tw_options ext = {0, 0, 0, TW_FILL_EXTREME, 0};
    size_t n = tw_build(b, CAP, x15, 2, NULL, 0, &ext, 18, 0.5f);
    expect("valid-norm-q15-extreme.grt", b, n, 0, GRT_OK);
    write_file("valid-norm-q15-extreme.grt", b, n);
    bad_q("bad-norm-eps-zero.grt", norm_file, p_norm_eps0, GRT_E_LAYER_FIELD);
    bad_q("bad-norm-eps-inf.grt", norm_file, p_norm_eps_inf, GRT_E_LAYER_FIELD);
    bad_q("bad-norm-eps-negative.grt", norm_file, p_norm_eps_neg, GRT_E_LAYER_FIELD);
    bad_q("bad-norm-width.grt", norm_file, p_norm_width, GRT_E_DIMS);
    bad_q("bad-norm-gate-set.grt", norm_file, p_norm_gate, GRT_E_LAYER_FIELD);
    bad_q("bad-norm-activation.grt", norm_file, p_norm_act, GRT_E_ACTIVATION);
    bad_q("bad-norm-panel8.grt", norm_file, p_norm_panel8, GRT_E_LAYER_FIELD);
    bad_q("bad-norm-role.grt", norm_file, p_norm_role, GRT_E_TENSOR_ROLE);
    bad_q("bad-norm-q15-mixed-units.grt", norm15_file, p_norm15_units, GRT_E_TENSOR_VALUE);
    bad_q("bad-norm-q15-gamma-dtype.grt", norm15_file, p_norm15_gamma_dtype, GRT_E_TENSOR_DTYPE);
}

/* ---- named inputs (1.4): header flag GRT_FILE_NAMED_INPUTS and its "model.inputs" record ---------- */

static void named_input_file(const char *name, uint32_t flags, const char *value, grt_status want)
{
    static uint8_t b[CAP];
    static const tw_layer L[] = {GRU(GRT_ACT_TANH, GRT_ACT_SIGMOID, 1, 4, 3), DENSE(GRT_ACT_SOFTMAX, 3, 2)};
    tw_meta meta[] = {{"model.inputs", value}, {"tool.name", "gru_rt"}};
    size_t n = tw_build(b, CAP, L, 2, value ? meta : meta + 1, value ? 2 : 1, NULL, 21, 0.5f);
    tw_put_u32(b, 24, flags);
    tw_fix_crc(b, n);
    expect(name, b, n, 0, want);
    write_file(name, b, n);
}

static void named_inputs(void)
{
    named_input_file("valid-inputs-two.grt", GRT_FILE_NAMED_INPUTS, "acc=3\ngyro=1", GRT_OK);
    named_input_file("valid-inputs-utf8.grt", GRT_FILE_NAMED_INPUTS, "\xC3\xA9t\xC3\xA9:0=2\nb c=1\nd=1", GRT_OK);
    named_input_file("valid-inputs-entry-no-flag.grt", 0, "not a record", GRT_OK);
    named_input_file("bad-inputs-record-missing.grt", GRT_FILE_NAMED_INPUTS, NULL, GRT_E_METADATA);
    named_input_file("bad-inputs-flag-unknown.grt", GRT_FILE_NAMED_INPUTS | 4u, "a=4", GRT_E_HEADER);
    named_input_file("bad-inputs-no-equals.grt", GRT_FILE_NAMED_INPUTS, "a=1\nb", GRT_E_METADATA);
    named_input_file("bad-inputs-trailing-newline.grt", GRT_FILE_NAMED_INPUTS, "a=4\n", GRT_E_METADATA);
    named_input_file("bad-inputs-name-empty.grt", GRT_FILE_NAMED_INPUTS, "=4", GRT_E_METADATA);
    named_input_file("bad-inputs-name-control.grt", GRT_FILE_NAMED_INPUTS, "a\tb=4", GRT_E_METADATA);
    named_input_file("bad-inputs-name-utf8.grt", GRT_FILE_NAMED_INPUTS, "\xED\xA0\x80=4", GRT_E_METADATA);
    named_input_file("bad-inputs-name-repeated.grt", GRT_FILE_NAMED_INPUTS, "a=2\na=2", GRT_E_METADATA);
    named_input_file("bad-inputs-width-zero.grt", GRT_FILE_NAMED_INPUTS, "a=0\nb=4", GRT_E_METADATA);
    named_input_file("bad-inputs-width-huge.grt", GRT_FILE_NAMED_INPUTS, "a=99999", GRT_E_METADATA);
    named_input_file("bad-inputs-width-sum.grt", GRT_FILE_NAMED_INPUTS, "a=3\nb=2", GRT_E_METADATA);
}

/* ---- reverse and bidirectional GRUs (1.4): layer bytes 6 (direction) and 7 (merge) ---------------- */

#define BI(prec, in, out, merge) TW_GRU_DIR(prec, 1, in, out, GRT_DIR_BIDIRECTIONAL, merge)
#define REV(prec, in, out) TW_GRU_DIR(prec, 0, in, out, GRT_DIR_REVERSE, GRT_MERGE_NONE)

typedef struct dir_spec {
    const char *name;
    tw_layer layers[3];
    size_t n_layers;
} dir_spec;

/* Every merge in every precision it has (q15: no sum), a reverse layer, bidirectional layers in a row
 * and before a Dense (the q15 chain of a concat: out_scale once per half). */
static const dir_spec DIR_VALID[] = {
    {"valid-gru-reverse.grt", {REV(GRT_PREC_F32, 3, 4), DENSE(GRT_ACT_SOFTMAX, 4, 2)}, 2},
    {"valid-bidir-concat.grt", {BI(GRT_PREC_F32, 3, 8, GRT_MERGE_CONCAT), REV(GRT_PREC_F32, 8, 3)}, 2},
    {"valid-bidir-sum.grt", {BI(GRT_PREC_F32, 3, 4, GRT_MERGE_SUM), DENSE(GRT_ACT_LINEAR, 4, 2)}, 2},
    {"valid-bidir-ave.grt", {BI(GRT_PREC_F32, 2, 5, GRT_MERGE_AVE)}, 1},
    {"valid-bidir-mul.grt", {BI(GRT_PREC_F32, 3, 4, GRT_MERGE_MUL), BI(GRT_PREC_F32, 4, 6, GRT_MERGE_CONCAT)}, 2},
    {"valid-q8-gru-reverse.grt", {REV(GRT_PREC_Q8, 3, 4), DENSE8(GRT_ACT_TANH, 4, 2)}, 2},
    {"valid-q8-bidir-concat.grt", {BI(GRT_PREC_Q8, 3, 8, GRT_MERGE_CONCAT), DENSE8(GRT_ACT_LINEAR, 8, 2)}, 2},
    {"valid-q8-bidir-sum.grt", {BI(GRT_PREC_Q8, 3, 4, GRT_MERGE_SUM)}, 1},
    {"valid-q8-bidir-ave.grt", {BI(GRT_PREC_Q8, 3, 4, GRT_MERGE_AVE), REV(GRT_PREC_Q8, 4, 3)}, 2},
    {"valid-q8-bidir-mul.grt", {BI(GRT_PREC_Q8, 3, 4, GRT_MERGE_MUL), DENSE(GRT_ACT_SOFTMAX, 4, 2)}, 2},
    {"valid-q15-gru-reverse.grt", {REV(GRT_PREC_Q15, 3, 4), DENSE15(GRT_ACT_SOFTMAX, 4, 2)}, 2},
    {"valid-q15-bidir-concat.grt",
     {BI(GRT_PREC_Q15, 3, 8, GRT_MERGE_CONCAT), BI(GRT_PREC_Q15, 8, 4, GRT_MERGE_AVE), DENSE15(GRT_ACT_LINEAR, 4, 2)},
     3},
    {"valid-q15-bidir-ave.grt", {BI(GRT_PREC_Q15, 3, 4, GRT_MERGE_AVE), REV(GRT_PREC_Q15, 4, 3)}, 2},
    {"valid-q15-bidir-mul.grt", {BI(GRT_PREC_Q15, 3, 4, GRT_MERGE_MUL), DENSE15(GRT_ACT_RELU, 4, 2)}, 2},
};

/* The base of the malformed ones: a bidirectional concat GRU 3 -> 2x4 then a reverse GRU 8 -> 3. */
static size_t bidir_file(uint8_t *buf)
{
    static const tw_layer L[] = {BI(GRT_PREC_F32, 3, 8, GRT_MERGE_CONCAT), REV(GRT_PREC_F32, 8, 3)};
    return tw_build(buf, CAP, L, 2, META, 2, NULL, 23, 0.5f);
}

static size_t bidir15_file(uint8_t *buf)
{
    static const tw_layer L[] = {BI(GRT_PREC_Q15, 3, 8, GRT_MERGE_CONCAT), DENSE15(GRT_ACT_LINEAR, 8, 2)};
    return tw_build(buf, CAP, L, 2, NULL, 0, NULL, 24, 0.5f);
}

static size_t p_dir_3(uint8_t *b, size_t n) { b[tw_layer_field(1, 6)] = 3; return n; }
static size_t p_dir_255(uint8_t *b, size_t n) { b[tw_layer_field(0, 6)] = 255; return n; }
static size_t p_merge_0(uint8_t *b, size_t n) { b[tw_layer_field(0, 7)] = 0; return n; }
static size_t p_merge_5(uint8_t *b, size_t n) { b[tw_layer_field(0, 7)] = 5; return n; }
static size_t p_merge_on_reverse(uint8_t *b, size_t n) { b[tw_layer_field(1, 7)] = GRT_MERGE_CONCAT; return n; }
static size_t p_merge_on_forward(uint8_t *b, size_t n) { b[tw_layer_field(1, 6)] = 0, b[tw_layer_field(1, 7)] = 3; return n; }
static size_t p_concat_odd(uint8_t *b, size_t n) { tw_put_u32(b, tw_layer_field(0, 12), 7); return n; }
static size_t p_bidir_one_set(uint8_t *b, size_t n) { b[tw_layer_field(0, 6)] = GRT_DIR_FORWARD, b[tw_layer_field(0, 7)] = 0; return n; }
static size_t p_reverse_to_bidir(uint8_t *b, size_t n) { b[tw_layer_field(1, 6)] = 2, b[tw_layer_field(1, 7)] = 3; return n; }
static size_t p_bidir_n_tensors(uint8_t *b, size_t n) { tw_put_u32(b, tw_layer_field(0, 20), 4); return n; }
static size_t p_dir_on_dense(uint8_t *b, size_t n) { b[tw_layer_field(1, 6)] = GRT_DIR_REVERSE; return n; }
static size_t p_q15_sum(uint8_t *b, size_t n) { b[tw_layer_field(0, 7)] = GRT_MERGE_SUM; return n; }
/* the backward set's in_scale (tensor 6 + 8 = 14 of the q15 file: w_ih … out_scale, 8 per set) */
static size_t p_q15_backward_chain(uint8_t *b, size_t n) { put32(b, 14, 1, 0x38000000u); return n; }
/* the Dense's in_scale, second half: the backward set's out_scale */
static size_t p_q15_concat_chain(uint8_t *b, size_t n) { put32(b, 19, 6, 0x38800000u); return n; }

static void directions(void)
{
    static uint8_t b[CAP];
    for (size_t i = 0; i < sizeof DIR_VALID / sizeof DIR_VALID[0]; i++) {
        const dir_spec *v = &DIR_VALID[i];
        size_t n = tw_build(b, CAP, v->layers, v->n_layers, i % 2 ? META : NULL, i % 2 ? 2 : 0, NULL,
                            (uint32_t)(30 + i), 0.7f);
        expect(v->name, b, n, 0, GRT_OK);
        write_file(v->name, b, n);
    }
    static const tw_layer x8[] = {BI(GRT_PREC_Q8, 3, 8, GRT_MERGE_CONCAT), REV(GRT_PREC_Q8, 8, 2)};
    static const tw_layer x15[] = {BI(GRT_PREC_Q15, 3, 4, GRT_MERGE_MUL), BI(GRT_PREC_Q15, 4, 6, GRT_MERGE_CONCAT)};
    tw_options ext = {0, 0, 0, TW_FILL_EXTREME, 0};
    size_t n = tw_build(b, CAP, x8, 2, NULL, 0, &ext, 25, 0.5f);
    expect("valid-q8-bidir-extreme.grt", b, n, 0, GRT_OK);
    write_file("valid-q8-bidir-extreme.grt", b, n);
    n = tw_build(b, CAP, x15, 2, NULL, 0, &ext, 26, 0.5f);
    expect("valid-q15-bidir-extreme.grt", b, n, 0, GRT_OK);
    write_file("valid-q15-bidir-extreme.grt", b, n);
    bad_q("bad-direction-3.grt", bidir_file, p_dir_3, GRT_E_LAYER_FIELD);
    bad_q("bad-direction-255.grt", bidir_file, p_dir_255, GRT_E_LAYER_FIELD);
    bad_q("bad-bidir-merge-0.grt", bidir_file, p_merge_0, GRT_E_LAYER_FIELD);
    bad_q("bad-bidir-merge-5.grt", bidir_file, p_merge_5, GRT_E_LAYER_FIELD);
    bad_q("bad-reverse-merge-set.grt", bidir_file, p_merge_on_reverse, GRT_E_LAYER_FIELD);
    bad_q("bad-forward-merge-set.grt", bidir_file, p_merge_on_forward, GRT_E_LAYER_FIELD);
    bad_q("bad-bidir-concat-odd.grt", bidir_file, p_concat_odd, GRT_E_DIMS);
    bad_q("bad-bidir-as-forward.grt", bidir_file, p_bidir_one_set, GRT_E_TENSOR_COUNT);
    bad_q("bad-reverse-as-bidir.grt", bidir_file, p_reverse_to_bidir, GRT_E_TENSOR_COUNT);
    bad_q("bad-bidir-n-tensors.grt", bidir_file, p_bidir_n_tensors, GRT_E_TENSOR_COUNT);
    bad_q("bad-direction-on-dense.grt", bidir15_file, p_dir_on_dense, GRT_E_LAYER_FIELD);
    bad_q("bad-q15-bidir-sum.grt", bidir15_file, p_q15_sum, GRT_E_LAYER_FIELD);
    bad_q("bad-q15-bidir-backward-chain.grt", bidir15_file, p_q15_backward_chain, GRT_E_CHAIN);
    bad_q("bad-q15-bidir-concat-chain.grt", bidir15_file, p_q15_concat_chain, GRT_E_CHAIN);
}

/* Conv1D (1.4): each field rule broken once, on an f32 Conv1D 3 -> 4 (k 3, d 2) before a GRU. */
static size_t conv_file(uint8_t *buf)
{
    static const tw_layer L[] = {TW_CONV(GRT_PREC_F32, GRT_ACT_RELU, 0, 3, 4, 3, 2),
                                 GRU(GRT_ACT_TANH, GRT_ACT_SIGMOID, 1, 4, 5)};
    return tw_build(buf, CAP, L, 2, META, 2, NULL, 11, 0.5f);
}

static size_t p_conv_kernel0(uint8_t *b, size_t n) { tw_put_u16(b, tw_layer_field(0, 28), 0); return n; }
static size_t p_conv_dilation0(uint8_t *b, size_t n) { tw_put_u16(b, tw_layer_field(0, 30), 0); return n; }
static size_t p_conv_window(uint8_t *b, size_t n) /* (9 - 1)·65535·3 values > 2^20 */
{
    tw_put_u16(b, tw_layer_field(0, 28), 9);
    tw_put_u16(b, tw_layer_field(0, 30), 65535);
    return n;
}
static size_t p_conv_depthwise2(uint8_t *b, size_t n) { b[tw_layer_field(0, 4)] = 2; return n; }
static size_t p_conv_depthwise_o(uint8_t *b, size_t n) { b[tw_layer_field(0, 4)] = 1; return n; }
static size_t p_conv_panel8(uint8_t *b, size_t n) { b[tw_layer_field(0, 5)] = 1; return n; }
static size_t p_conv_kernel_wide(uint8_t *b, size_t n) { tw_put_u16(b, tw_layer_field(0, 28), 9000); return n; }
static size_t p_conv_as_dense(uint8_t *b, size_t n) { b[tw_layer_field(0, 0)] = GRT_LAYER_DENSE; return n; }
static size_t p_gru_conv_field(uint8_t *b, size_t n) { tw_put_u16(b, tw_layer_field(1, 28), 3); return n; }

static void conv1d(void)
{
    bad_q("bad-conv1d-kernel-0.grt", conv_file, p_conv_kernel0, GRT_E_LAYER_FIELD);
    bad_q("bad-conv1d-dilation-0.grt", conv_file, p_conv_dilation0, GRT_E_LAYER_FIELD);
    bad_q("bad-conv1d-window-too-big.grt", conv_file, p_conv_window, GRT_E_LAYER_FIELD);
    bad_q("bad-conv1d-depthwise-2.grt", conv_file, p_conv_depthwise2, GRT_E_LAYER_FIELD);
    bad_q("bad-conv1d-depthwise-outputs.grt", conv_file, p_conv_depthwise_o, GRT_E_DIMS);
    bad_q("bad-conv1d-panel8.grt", conv_file, p_conv_panel8, GRT_E_LAYER_FIELD);
    bad_q("bad-conv1d-kernel-wide.grt", conv_file, p_conv_kernel_wide, GRT_E_DIMS);
    bad_q("bad-conv1d-as-dense.grt", conv_file, p_conv_as_dense, GRT_E_LAYER_FIELD);
    bad_q("bad-gru-conv1d-field.grt", conv_file, p_gru_conv_field, GRT_E_LAYER_FIELD);
}

/* Embedding (1.5): valid files in every precision, then each rule broken once on an f32 Embedding
 * (vocab 9, D 4) before a GRU, or on its q15 form. */
#define EMBED_GRU(prec) {TW_EMBED(prec, 9, 4), {GRT_LAYER_GRU, GRT_ACT_TANH, GRT_ACT_SIGMOID, 1, 4, 3, prec}}
static size_t embed_file(uint8_t *buf)
{
    static const tw_layer L[] = EMBED_GRU(GRT_PREC_F32);
    return tw_build(buf, CAP, L, 2, META, 2, NULL, 12, 0.5f);
}

static size_t embed15_file(uint8_t *buf)
{
    static const tw_layer L[] = EMBED_GRU(GRT_PREC_Q15);
    return tw_build(buf, CAP, L, 2, NULL, 0, NULL, 13, 0.5f);
}

static size_t p_embed_vocab0(uint8_t *b, size_t n) { tw_put_u32(b, tw_layer_field(0, 24), 0); return n; }
static size_t p_embed_vocab_rows(uint8_t *b, size_t n) { tw_put_u32(b, tw_layer_field(0, 24), 8); return n; }
static size_t p_embed_vocab_huge(uint8_t *b, size_t n) { tw_put_u32(b, tw_layer_field(0, 24), 0x1000001u); return n; }
static size_t p_embed15_vocab(uint8_t *b, size_t n) { tw_put_u32(b, tw_layer_field(0, 24), 32769u); return n; }
static size_t p_embed_input2(uint8_t *b, size_t n) { tw_put_u32(b, tw_layer_field(0, 8), 2); return n; }
static size_t p_embed_act(uint8_t *b, size_t n) { b[tw_layer_field(0, 2)] = GRT_ACT_TANH; return n; }
static size_t p_embed_gate(uint8_t *b, size_t n) { b[tw_layer_field(0, 3)] = GRT_ACT_SIGMOID; return n; }
static size_t p_embed_panel8(uint8_t *b, size_t n) { b[tw_layer_field(0, 5)] = GRT_LAYOUT_PANEL8; return n; }
static size_t p_embed_dtype(uint8_t *b, size_t n) { b[tw_tensor_field(b, 0, 1)] = GRT_DTYPE_I8; return n; }
static size_t p_embed_role(uint8_t *b, size_t n) { b[tw_tensor_field(b, 0, 0)] = GRT_ROLE_W_IH; return n; }
static size_t p_embed15_in_scale(uint8_t *b, size_t n) { put32(b, 0, 0, 0x3F000000u); return n; }
static size_t p_embed15_chain(uint8_t *b, size_t n) { put32(b, 1, 2, 0x3F000000u); return n; }

static void embeddings(void)
{
    static uint8_t b[CAP];
    static const tw_layer q8[] = EMBED_GRU(GRT_PREC_Q8), f32only[] = {TW_EMBED(GRT_PREC_F32, 200, 6)};
    static const tw_layer x15[] = EMBED_GRU(GRT_PREC_Q15);
    static const tw_layer second[] = {DENSE(GRT_ACT_LINEAR, 3, 1), TW_EMBED(GRT_PREC_F32, 5, 4)};
    tw_options ext = {0, 0, 0, TW_FILL_EXTREME, 0};
    size_t n = embed_file(b);
    expect("valid-embedding-f32.grt", b, n, 0, GRT_OK);
    write_file("valid-embedding-f32.grt", b, n);
    n = tw_build(b, CAP, q8, 2, NULL, 0, NULL, 14, 0.5f);
    expect("valid-embedding-q8.grt", b, n, 0, GRT_OK);
    write_file("valid-embedding-q8.grt", b, n);
    n = embed15_file(b);
    expect("valid-embedding-q15.grt", b, n, 0, GRT_OK);
    write_file("valid-embedding-q15.grt", b, n);
    n = tw_build(b, CAP, x15, 2, NULL, 0, &ext, 15, 0.5f);
    expect("valid-embedding-q15-extreme.grt", b, n, 0, GRT_OK);
    write_file("valid-embedding-q15-extreme.grt", b, n);
    n = tw_build(b, CAP, f32only, 1, NULL, 0, NULL, 16, 0.5f);
    expect("valid-embedding-only.grt", b, n, 0, GRT_OK);
    write_file("valid-embedding-only.grt", b, n);
    n = tw_build(b, CAP, second, 2, NULL, 0, NULL, 17, 0.5f);
    expect("bad-embedding-not-first.grt", b, n, 0, GRT_E_LAYER_KIND);
    write_file("bad-embedding-not-first.grt", b, n);
    bad_q("bad-embedding-vocab-0.grt", embed_file, p_embed_vocab0, GRT_E_LAYER_FIELD);
    bad_q("bad-embedding-vocab-rows.grt", embed_file, p_embed_vocab_rows, GRT_E_TENSOR_SHAPE);
    bad_q("bad-embedding-vocab-huge.grt", embed_file, p_embed_vocab_huge, GRT_E_LAYER_FIELD);
    bad_q("bad-embedding-q15-vocab.grt", embed15_file, p_embed15_vocab, GRT_E_LAYER_FIELD);
    bad_q("bad-embedding-input-size.grt", embed_file, p_embed_input2, GRT_E_DIMS);
    bad_q("bad-embedding-activation.grt", embed_file, p_embed_act, GRT_E_ACTIVATION);
    bad_q("bad-embedding-gate-set.grt", embed_file, p_embed_gate, GRT_E_LAYER_FIELD);
    bad_q("bad-embedding-panel8.grt", embed_file, p_embed_panel8, GRT_E_LAYER_FIELD);
    bad_q("bad-embedding-table-dtype.grt", embed_file, p_embed_dtype, GRT_E_TENSOR_DTYPE);
    bad_q("bad-embedding-role.grt", embed_file, p_embed_role, GRT_E_TENSOR_ROLE);
    bad_q("bad-embedding-q15-in-scale.grt", embed15_file, p_embed15_in_scale, GRT_E_TENSOR_VALUE);
    bad_q("bad-embedding-q15-chain.grt", embed15_file, p_embed15_chain, GRT_E_CHAIN);
}

int main(int argc, char **argv)
{
    static uint8_t buf[CAP];
    if (argc > 1)
        g_dir = argv[1];
    for (size_t i = 0; i < sizeof VALID / sizeof VALID[0]; i++) {
        const valid_spec *v = &VALID[i];
        size_t n = tw_build(buf, CAP, v->layers, v->n_layers, v->with_meta ? META : NULL,
                            v->with_meta ? 4 : 0, NULL, (uint32_t)(i + 1), 0.7f);
        if (n == 0) {
            fprintf(stderr, "make_corpus: %s does not fit\n", v->name);
            g_errors++;
            continue;
        }
        expect(v->name, buf, n, 0, GRT_OK);
        write_file(v->name, buf, n);
    }
    /* consistent-but-invalid files a byte patch cannot make (writer options) */
    {
        static const tw_layer L[] = {GRU(GRT_ACT_TANH, GRT_ACT_SIGMOID, 1, 2, 2)};
        tw_options o1 = {1, 0, 0, TW_FILL_RANDOM, 0}, o2 = {0, 3, 0, TW_FILL_RANDOM, 0},
                   o3 = {0, 0, 64, TW_FILL_RANDOM, 0};
        size_t n = tw_build(buf, CAP, L, 1, META, 1, &o1, 3, 0.5f);
        expect("bad-extra-tensor-entry.grt", buf, n, 0, GRT_E_TENSOR_COUNT);
        write_file("bad-extra-tensor-entry.grt", buf, n);
        n = tw_build(buf, CAP, L, 1, META, 1, &o2, 3, 0.5f);
        expect("bad-meta-extra-bytes.grt", buf, n, 0, GRT_E_METADATA);
        write_file("bad-meta-extra-bytes.grt", buf, n);
        n = tw_build(buf, CAP, L, 1, META, 1, &o3, 3, 0.5f);
        expect("bad-data-extra-bytes.grt", buf, n, 0, GRT_E_LAYOUT);
        write_file("bad-data-extra-bytes.grt", buf, n);
    }
    malformed();
    quantized();
    lstm_files();
    norms();
    named_inputs();
    conv1d();
    embeddings();
    directions();
    printf("make_corpus: wrote %zu bytes to %s, %d problem(s)\n", g_total, g_dir, g_errors);
    return g_errors ? 1 : 0;
}
