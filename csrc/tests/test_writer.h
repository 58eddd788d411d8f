/* test_writer.h — a minimal .grt writer for the C tests (docs/FORMAT.md), so the tests need no Python.
 * Options make deliberately broken-but-consistent files for checks that a byte patch cannot reach.
 * q8 and q15 layers get the tensors of their recipe with valid content made by a small quantizer
 * (docs/QUANTIZATION.md) from the same random float weights an f32 layer would get. */
#ifndef TEST_WRITER_H
#define TEST_WRITER_H

#include <stddef.h>
#include <stdint.h>

/* A Conv1D layer (1.4) packs its fields into the GRU ones: gate = kernel size (1 … 255), reset_after =
 * depthwise | dilation << 1 (dilation 1 … 127); TW_CONV makes one. A GRU packs its direction and merge
 * (1.4) into reset_after's high bits: reset_after | direction << 1 | merge << 3; TW_GRU_DIR makes one.
 * The file gets them where docs/FORMAT.md puts them. */
typedef struct tw_layer {
    uint8_t kind, act, gate, reset_after;
    uint32_t in, out;
    uint8_t prec; /* grt_precision: GRT_PREC_F32 (0), GRT_PREC_Q8, GRT_PREC_Q15 */
} tw_layer;

#define TW_CONV(prec, act, depthwise, in, out, k, d) \
    {GRT_LAYER_CONV1D, act, k, (uint8_t)((depthwise) | (d) << 1), in, out, prec}

/* An Embedding layer (1.5): the vocabulary (1 … 255 here) rides in gate; the file gets it in param. */
#define TW_EMBED(prec, vocab, dim) {GRT_LAYER_EMBEDDING, GRT_ACT_LINEAR, vocab, 0, 1, dim, prec}

/* A reverse (merge GRT_MERGE_NONE) or bidirectional GRU (1.4): tanh candidate, sigmoid gates; out is
 * the layer's output_size (2H for concat). A bidirectional layer gets two tensor sets, forward then
 * backward (q15: both with the previous layer's out_scale as in_scale). */
#define TW_GRU_DIR(prec, reset_after, in, out, dir, merge) \
    {GRT_LAYER_GRU, GRT_ACT_TANH, GRT_ACT_SIGMOID, (uint8_t)((reset_after) | (dir) << 1 | (merge) << 3), in, \
     out, prec}

typedef struct tw_meta {
    const char *key, *value;
} tw_meta;

enum tw_fill {
    TW_FILL_RANDOM = 0,  /* random weights, quantized validly */
    TW_FILL_EXTREME = 1, /* q8/q15 layers: extreme but loadable values (weights in {-128, -127, 127},
                            q15 biases INT32_MIN/MAX, multipliers sh = 0 M = 255 and sh = 62, q8 scales
                            up to the largest finite bf16, q15 scales from the smallest normal to the
                            largest finite float); f32 layers stay random */
};

typedef struct tw_options {
    uint32_t extra_tensor_entries; /* zero entries appended to the tensor table (counted in header) */
    uint32_t extra_meta_bytes;     /* zero bytes after the metadata entries (counted in meta_size) */
    uint32_t extra_data_bytes;     /* zero bytes after the data (counted in data_size) */
    uint32_t fill;                 /* enum tw_fill */
    uint32_t panel8;               /* 1: every f32 layer that may (Dense, GRU with H % 8 = 0) gets the
                                      panel8 weight layout */
} tw_options;

/* Writes the file into buf (capacity cap); returns its size, or 0 if cap is too small. Weights are
 * uniform in [-scale, scale] from seed. opt may be NULL. */
size_t tw_build(uint8_t *buf, size_t cap, const tw_layer *layers, size_t n_layers, const tw_meta *meta,
                size_t n_meta, const tw_options *opt, uint32_t seed, float scale);

void tw_put_u8(uint8_t *buf, size_t off, uint8_t v);
void tw_put_u16(uint8_t *buf, size_t off, uint16_t v);
void tw_put_u32(uint8_t *buf, size_t off, uint32_t v);
uint16_t tw_get_u16(const uint8_t *buf, size_t off);
uint32_t tw_get_u32(const uint8_t *buf, size_t off);
void tw_fix_crc(uint8_t *buf, size_t size);

/* Byte offset of a field of layer i / tensor k (field offsets from FORMAT.md). */
size_t tw_layer_field(uint32_t i, size_t field);
size_t tw_tensor_field(const uint8_t *buf, uint32_t k, size_t field);
/* Byte offset of tensor k's data in the file. */
size_t tw_tensor_data(const uint8_t *buf, uint32_t k);

/* 1 if every layer's precision and kind is compiled into the library (gru_rt.h, "Build configuration"). */
int tw_built(const tw_layer *layers, size_t n_layers);

/* float32 <-> bits; the bf16 code of a positive float rounded up (the quantizer's rule). */
uint32_t tw_f32_bits(float f);
float tw_bits_f32(uint32_t u);
uint16_t tw_bf16_up(float f);

#endif
