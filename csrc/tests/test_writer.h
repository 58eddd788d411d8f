/* test_writer.h — a minimal .grt writer for the C tests (docs/FORMAT.md), so the tests need no Python.
 * Options make deliberately broken-but-consistent files for checks that a byte patch cannot reach. */
#ifndef TEST_WRITER_H
#define TEST_WRITER_H

#include <stddef.h>
#include <stdint.h>

typedef struct tw_layer {
    uint8_t kind, act, gate, reset_after;
    uint32_t in, out;
} tw_layer;

typedef struct tw_meta {
    const char *key, *value;
} tw_meta;

typedef struct tw_options {
    uint32_t extra_tensor_entries; /* zero entries appended to the tensor table (counted in header) */
    uint32_t extra_meta_bytes;     /* zero bytes after the metadata entries (counted in meta_size) */
    uint32_t extra_data_bytes;     /* zero bytes after the data (counted in data_size) */
} tw_options;

/* Writes the file into buf (capacity cap); returns its size, or 0 if cap is too small. Weights are
 * uniform in [-scale, scale] from seed. opt may be NULL. */
size_t tw_build(uint8_t *buf, size_t cap, const tw_layer *layers, size_t n_layers, const tw_meta *meta,
                size_t n_meta, const tw_options *opt, uint32_t seed, float scale);

void tw_put_u8(uint8_t *buf, size_t off, uint8_t v);
void tw_put_u16(uint8_t *buf, size_t off, uint16_t v);
void tw_put_u32(uint8_t *buf, size_t off, uint32_t v);
uint32_t tw_get_u32(const uint8_t *buf, size_t off);
void tw_fix_crc(uint8_t *buf, size_t size);

/* Byte offset of a field of layer i / tensor k (field offsets from FORMAT.md). */
size_t tw_layer_field(uint32_t i, size_t field);
size_t tw_tensor_field(const uint8_t *buf, uint32_t k, size_t field);

#endif
