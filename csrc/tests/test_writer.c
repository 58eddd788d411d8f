#include "test_writer.h"

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

static size_t round64(size_t v)
{
    return (v + 63) / 64 * 64;
}

typedef struct tw_tensor {
    uint8_t role;
    uint32_t layer, rows, cols;
} tw_tensor;

/* The tensors of the layers, in file order; returns their count. */
static size_t list_tensors(const tw_layer *layers, size_t n_layers, tw_tensor *t)
{
    size_t k = 0;
    for (size_t i = 0; i < n_layers; i++) {
        const tw_layer *L = &layers[i];
        uint32_t li = (uint32_t)i;
        if (L->kind == GRT_LAYER_GRU) {
            t[k++] = (tw_tensor){GRT_ROLE_W_IH, li, 3 * L->out, L->in};
            t[k++] = (tw_tensor){GRT_ROLE_W_HH, li, 3 * L->out, L->out};
            t[k++] = (tw_tensor){GRT_ROLE_B_IH, li, 3 * L->out, 1};
            t[k++] = (tw_tensor){GRT_ROLE_B_HH, li, 3 * L->out, 1};
        } else {
            t[k++] = (tw_tensor){GRT_ROLE_W_IH, li, L->out, L->in};
            t[k++] = (tw_tensor){GRT_ROLE_B_IH, li, L->out, 1};
        }
    }
    return k;
}

size_t tw_build(uint8_t *buf, size_t cap, const tw_layer *layers, size_t n_layers, const tw_meta *meta,
                size_t n_meta, const tw_options *opt, uint32_t seed, float scale)
{
    static const uint8_t magic[8] = {0x89, 'G', 'R', 'T', 0x0D, 0x0A, 0x1A, 0x0A};
    tw_options none = {0, 0, 0};
    tw_tensor tensors[4 * GRT_MAX_LAYERS];
    if (opt == NULL)
        opt = &none;
    if (n_layers > GRT_MAX_LAYERS)
        return 0;
    size_t n_real = list_tensors(layers, n_layers, tensors);
    size_t n_tensors = n_real + opt->extra_tensor_entries;
    size_t tensor_table = 64 + 32 * n_layers;
    size_t meta_offset = tensor_table + 32 * n_tensors;
    size_t meta_size = 4 + opt->extra_meta_bytes;
    for (size_t i = 0; i < n_meta; i++)
        meta_size += 8 + strlen(meta[i].key) + strlen(meta[i].value);
    size_t data_offset = round64(meta_offset + meta_size);
    size_t end = 0, offsets[4 * GRT_MAX_LAYERS];
    for (size_t k = 0; k < n_real; k++) {
        offsets[k] = round64(end);
        end = offsets[k] + 4 * (size_t)tensors[k].rows * tensors[k].cols;
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

    uint32_t first = 0;
    for (size_t i = 0; i < n_layers; i++) {
        uint8_t *e = buf + 64 + 32 * i;
        uint32_t count = layers[i].kind == GRT_LAYER_GRU ? 4 : 2;
        e[0] = layers[i].kind;
        e[2] = layers[i].act;
        e[3] = layers[i].gate;
        e[4] = layers[i].reset_after;
        tw_put_u32(e, 8, layers[i].in);
        tw_put_u32(e, 12, layers[i].out);
        tw_put_u32(e, 16, first);
        tw_put_u32(e, 20, count);
        first += count;
    }

    rng r = {0x9E3779B97F4A7C15ULL ^ seed};
    for (size_t k = 0; k < n_real; k++) {
        uint8_t *e = buf + tensor_table + 32 * k;
        e[0] = tensors[k].role;
        tw_put_u32(e, 4, tensors[k].layer);
        tw_put_u32(e, 8, tensors[k].rows);
        tw_put_u32(e, 12, tensors[k].cols);
        tw_put_u32(e, 16, (uint32_t)offsets[k]);
        tw_put_u32(e, 20, 4 * tensors[k].rows * tensors[k].cols);
        size_t n = (size_t)tensors[k].rows * tensors[k].cols;
        for (size_t j = 0; j < n; j++) {
            float f = rng_uniform(&r, -scale, scale);
            uint32_t u;
            memcpy(&u, &f, 4);
            tw_put_u32(buf, data_offset + offsets[k] + 4 * j, u);
        }
    }

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
