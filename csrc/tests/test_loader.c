/* The loader: a valid file loads with the right view; each status of FORMAT.md is produced by a
 * minimal corruption, with its diag (field, index, actual/expected). Corruptions of anything after
 * the checksum recompute the CRC so the structural check is the one that fires. */
#include <stdlib.h>
#include <string.h>

#include "test_util.h"
#include "test_writer.h"

#if GRT_HAS_F32 /* the structural tests use an f32 file (GRT_NO_F32: skipped; see test_config) */

#define CAP 8192

/* GRU 2→3 (tensors 0-3), then Dense 3→2 softmax (tensors 4-5); two metadata entries.
 * Layout: tensor table 128, metadata 320 (56 bytes, then 8 padding bytes), data 384; tensors at
 * 0, 128, 256, 320, 384, 448 (relative), data_size 512. */
static const tw_layer base_layers[] = {
    {GRT_LAYER_GRU, GRT_ACT_TANH, GRT_ACT_SIGMOID, 1, 2, 3, GRT_PREC_F32},
    {GRT_LAYER_DENSE, GRT_ACT_SOFTMAX, 0, 0, 3, 2, GRT_PREC_F32},
};
static const tw_meta base_meta[] = {{"source.framework", "numpy"}, {"tool.name", "gru_rt"}};

static uint8_t *g_base, *g_work;
static size_t g_size;

enum { T_ROLE = 0, T_DTYPE = 1, T_RES16 = 2, T_LAYER = 4, T_ROWS = 8, T_COLS = 12, T_OFFSET = 16,
       T_NBYTES = 20, T_RES_A = 24, T_RES_B = 28 };
enum { META_OFFSET = 320, DATA_OFFSET = 384 };

/* A fresh copy of the valid file in the 64-aligned work buffer. */
static uint8_t *fresh(void)
{
    memcpy(g_work, g_base, g_size);
    return g_work;
}

static size_t build(uint8_t *buf, const tw_layer *layers, size_t n, const tw_meta *meta, size_t n_meta,
                    const tw_options *opt)
{
    return tw_build(buf, CAP, layers, n, meta, n_meta, opt, 1, 1.0f);
}

static int all_zero(const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i])
            return 0;
    return 1;
}

/* Load and compare the status and diag; values are compared when has_values is 1. */
static void expect_at(const uint8_t *blob, size_t size, unsigned flags, grt_status st, const char *field,
                      int32_t index, int has_values, uint64_t actual, uint64_t expected, int line)
{
    grt_model m;
    grt_diag d;
    memset(&m, 0xA5, sizeof m);
    grt_status got = grt_model_load(&m, blob, size, flags, &d);
    int ok = got == st && d.status == st && d.field != NULL && strcmp(d.field, field) == 0 &&
             d.index == index && d.has_values == has_values &&
             (!has_values || (d.actual == actual && d.expected == expected));
    ok = ok && (st == GRT_OK || st == GRT_E_ARG || all_zero(&m, sizeof m));
    check_impl(ok, "load diagnosis", __FILE__, line);
    if (!ok)
        fprintf(stderr, "    got %s field=%s index=%d values=%d actual=%llu expected=%llu\n",
                grt_status_name(got), d.field ? d.field : "(null)", d.index, d.has_values,
                (unsigned long long)d.actual, (unsigned long long)d.expected);
}

#define EXPECT(blob, size, st, field, index) expect_at(blob, size, 0, st, field, index, 0, 0, 0, __LINE__)
#define EXPECT_V(blob, size, st, field, index, actual, expected) \
    expect_at(blob, size, 0, st, field, index, 1, actual, expected, __LINE__)

/* Patch a field and recompute the CRC. */
static uint8_t *patch8(size_t off, uint8_t v)
{
    uint8_t *b = fresh();
    tw_put_u8(b, off, v);
    tw_fix_crc(b, g_size);
    return b;
}

static uint8_t *patch16(size_t off, uint16_t v)
{
    uint8_t *b = fresh();
    tw_put_u16(b, off, v);
    tw_fix_crc(b, g_size);
    return b;
}

static uint8_t *patch32(size_t off, uint32_t v)
{
    uint8_t *b = fresh();
    tw_put_u32(b, off, v);
    tw_fix_crc(b, g_size);
    return b;
}

#if GRT_HAS_Q8 && GRT_HAS_Q15
/* In-place patches of g_q (the quantized tests' buffer), CRC fixed. */
static uint8_t *g_q;
static size_t g_qsize;

static uint8_t *patch_q8(size_t off, uint8_t v)
{
    tw_put_u8(g_q, off, v);
    tw_fix_crc(g_q, g_qsize);
    return g_q;
}

static uint8_t *patch_q32(size_t off, uint32_t v)
{
    tw_put_u32(g_q, off, v);
    tw_fix_crc(g_q, g_qsize);
    return g_q;
}
#endif

static size_t TF(uint32_t k, size_t field)
{
    return tw_tensor_field(g_base, k, field);
}

/* ---- a valid file --------------------------------------------------------------------------------- */

static void test_valid(void)
{
    grt_model m;
    grt_diag d;
    CHECK(grt_model_load(&m, g_base, g_size, 0, &d) == GRT_OK);
    CHECK(d.status == GRT_OK && d.index == -1 && d.field != NULL);
    CHECK(m.blob == g_base && m.size == g_size && m.version_major == 1 && m.version_minor == GRT_VERSION_MINOR);
    CHECK(m.checksum == tw_get_u32(g_base, 20) && m.checksum_verified == 1);
    CHECK(m.n_layers == 2 && m.n_tensors == 6 && m.input_size == 2 && m.output_size == 2);
    CHECK(m.state_size == 3 && m.max_width == 3 && m.max_gates == 9);
    CHECK(m.layers[0].kind == GRT_LAYER_GRU && m.layers[0].reset_after == 1);
    CHECK(m.layers[0].activation == GRT_ACT_TANH && m.layers[0].gate_activation == GRT_ACT_SIGMOID);
    CHECK(m.layers[0].state_offset == 0 && m.layers[0].first_tensor == 0 && m.layers[0].n_tensors == 4);
    CHECK(m.layers[1].kind == GRT_LAYER_DENSE && m.layers[1].first_tensor == 4);
    CHECK(m.layers[0].tensor[GRT_ROLE_W_IH] == g_base + DATA_OFFSET);
    CHECK(m.layers[0].tensor[GRT_ROLE_W_HH] == g_base + DATA_OFFSET + 128);
    CHECK(m.layers[0].tensor[GRT_ROLE_B_IH] == g_base + DATA_OFFSET + 256);
    CHECK(m.layers[0].tensor[GRT_ROLE_B_HH] == g_base + DATA_OFFSET + 320);
    CHECK(m.layers[1].tensor[GRT_ROLE_W_IH] == g_base + DATA_OFFSET + 384);
    CHECK(m.layers[1].tensor[GRT_ROLE_W_HH] == NULL && m.layers[1].tensor[GRT_ROLE_B_HH] == NULL);
    CHECK(m.layers[1].tensor[GRT_ROLE_B_IH] == g_base + DATA_OFFSET + 448);
    CHECK(tw_get_u32(g_base, 52) == DATA_OFFSET && tw_get_u32(g_base, 44) == META_OFFSET);

    /* Metadata access. */
    const char *k, *v;
    uint32_t kl, vl;
    CHECK(m.meta_count == 2 && m.meta_size == 52);
    CHECK(grt_model_meta(&m, 0, &k, &kl, &v, &vl) == GRT_OK);
    CHECK(kl == 16 && memcmp(k, "source.framework", 16) == 0 && vl == 5 && memcmp(v, "numpy", 5) == 0);
    CHECK(grt_model_meta(&m, 1, &k, &kl, &v, &vl) == GRT_OK);
    CHECK(kl == 9 && memcmp(k, "tool.name", 9) == 0 && vl == 6 && memcmp(v, "gru_rt", 6) == 0);
    CHECK(grt_model_meta(&m, 2, &k, &kl, &v, &vl) == GRT_E_ARG);
    CHECK(grt_model_meta(NULL, 0, &k, &kl, &v, &vl) == GRT_E_ARG);
    CHECK(grt_model_meta(&m, 0, NULL, &kl, &v, &vl) == GRT_E_ARG);

    /* No diag pointer is fine; skipping the checksum is recorded. */
    CHECK(grt_model_load(&m, g_base, g_size, 0, NULL) == GRT_OK);
    CHECK(grt_model_load(&m, g_base, g_size, GRT_LOAD_SKIP_CHECKSUM, NULL) == GRT_OK);
    CHECK(m.checksum_verified == 0);

    /* A 4-byte (not 64-byte) aligned blob is accepted. */
    uint8_t *p;
    void *mem = alloc_shifted(g_size, 4, &p);
    memcpy(p, g_base, g_size);
    CHECK(grt_model_load(&m, p, g_size, 0, NULL) == GRT_OK);
    free(mem);

    /* No metadata entries at all (meta_size 4). */
    uint8_t *b = g_work;
    size_t n = build(b, base_layers, 2, NULL, 0, NULL);
    CHECK(grt_model_load(&m, b, n, 0, NULL) == GRT_OK && m.meta_count == 0);
    CHECK(grt_model_meta(&m, 0, &k, &kl, &v, &vl) == GRT_E_ARG);

    /* Names. */
    CHECK(strcmp(grt_status_name(GRT_E_TENSOR_OFFSET), "GRT_E_TENSOR_OFFSET") == 0);
    CHECK(strcmp(grt_status_name(GRT_E_METADATA), "GRT_E_METADATA") == 0);
    CHECK(strcmp(grt_status_name(GRT_OK), "GRT_OK") == 0);
    CHECK(grt_status_name((grt_status)999) != NULL && grt_status_message((grt_status)999) != NULL);
    int all_named = 1;
    for (int s = 0; s < GRT_STATUS_COUNT; s++)
        all_named &= grt_status_message((grt_status)s)[0] != 0 && strncmp(grt_status_name((grt_status)s), "GRT_", 4) == 0;
    CHECK(all_named);
    CHECK(strcmp(grt_activation_name(GRT_ACT_HARD_SIGMOID_K2), "hard_sigmoid_k2") == 0);
    CHECK(strcmp(grt_activation_name(GRT_ACT_LEAKY_RELU), "leaky_relu") == 0);
    CHECK(strcmp(grt_activation_name(GRT_ACT_LOG_SOFTMAX), "log_softmax") == 0);
    CHECK(strcmp(grt_activation_name(GRT_ACT_COUNT), "?") == 0);
    CHECK(strcmp(grt_role_name(GRT_ROLE_B_HH), "b_hh") == 0 && strcmp(grt_role_name(0), "?") == 0 &&
          strcmp(grt_role_name(GRT_ROLE_MAX + 1), "?") == 0);
    CHECK(strcmp(grt_role_name(GRT_ROLE_GAMMA), "gamma") == 0 && strcmp(grt_role_name(GRT_ROLE_BETA), "beta") == 0);
    CHECK(strcmp(grt_role_name(GRT_ROLE_W_IH_SCALE), "w_ih_scale") == 0 &&
          strcmp(grt_role_name(GRT_ROLE_W_HH_SCALE), "w_hh_scale") == 0 &&
          strcmp(grt_role_name(GRT_ROLE_IN_SCALE), "in_scale") == 0 &&
          strcmp(grt_role_name(GRT_ROLE_OUT_SCALE), "out_scale") == 0);
    CHECK(strcmp(grt_status_name(GRT_E_TENSOR_VALUE), "GRT_E_TENSOR_VALUE") == 0 &&
          strcmp(grt_status_message(GRT_E_TENSOR_VALUE), "a tensor value outside its allowed range") == 0);
    CHECK(GRT_E_TENSOR_VALUE + 1 == GRT_STATUS_COUNT && GRT_E_TENSOR_VALUE == GRT_E_METADATA + 1);
}

/* ---- grt_layer_tensor / grt_kind_tensor ----------------------------------------------------------
 * Checked against the file's own tensor table (what the writer wrote): for every layer and every role
 * 0 … GRT_ROLE_MAX + 1, either the tensor entry of that role in the layer's range (role, dtype, rows,
 * cols, nbytes, data pointer, index; stored rows from nbytes) or GRT_E_TENSOR_ROLE with *out zeroed; the
 * present roles are exactly the layer's n_tensors; grt_kind_tensor gives the same description. */

static size_t dtype_bytes(unsigned dtype)
{
    return dtype == GRT_DTYPE_I8 ? 1 : dtype == GRT_DTYPE_I16 || dtype == GRT_DTYPE_BF16 ? 2 : 4;
}

/* Equal but for data and index (and padding bytes). */
static int same_shape(const grt_tensor_info *a, const grt_tensor_info *b)
{
    return a->role == b->role && a->dtype == b->dtype && a->layout == b->layout && a->ndim == b->ndim &&
           a->rows == b->rows &&
           a->cols == b->cols && a->stored_rows == b->stored_rows && a->nbytes == b->nbytes;
}

static int tensor_info_matches_file(const grt_model *m, const uint8_t *blob)
{
    int ok = 1;
    grt_tensor_info t, zero;
    memset(&zero, 0, sizeof zero);
    for (uint32_t i = 0; i < m->n_layers; i++) {
        const grt_layer *L = &m->layers[i];
        uint32_t found = 0;
        for (unsigned role = 0; role <= GRT_ROLE_MAX + 1; role++) {
            memset(&t, 0xA5, sizeof t);
            grt_status st = grt_layer_tensor(m, i, role, &t);
            uint32_t k = L->first_tensor;
            while (k < L->first_tensor + L->n_tensors && blob[tw_tensor_field(blob, k, 0)] != role)
                k++;
            if (k == L->first_tensor + L->n_tensors) {
                ok &= st == GRT_E_TENSOR_ROLE && memcmp(&t, &zero, sizeof t) == 0;
                continue;
            }
            found++;
            size_t elem = dtype_bytes(t.dtype);
            ok &= st == GRT_OK && t.role == role && t.index == k && t.dtype == blob[tw_tensor_field(blob, k, 1)];
            ok &= t.rows == tw_get_u32(blob, tw_tensor_field(blob, k, 8)) &&
                  t.cols == tw_get_u32(blob, tw_tensor_field(blob, k, 12)) &&
                  t.nbytes == tw_get_u32(blob, tw_tensor_field(blob, k, 20));
            ok &= t.data == blob + tw_tensor_data(blob, k) && t.data == L->tensor[role];
            ok &= (size_t)t.stored_rows * t.cols * elem == t.nbytes && t.stored_rows >= t.rows;
            int panel = L->weight_layout == GRT_LAYOUT_PANEL8 && (role == GRT_ROLE_W_IH || role == GRT_ROLE_W_HH);
            ok &= t.layout == (panel ? GRT_LAYOUT_PANEL8 : GRT_LAYOUT_ROW_MAJOR);
            ok &= t.ndim == (role == GRT_ROLE_W_IH || role == GRT_ROLE_W_HH ? 2 : 1);
            ok &= panel ? t.stored_rows % 8 == 0 && t.stored_rows - t.rows < 8 : t.stored_rows == t.rows;
            grt_tensor_info u;
            ok &= grt_kind_tensor(L->kind, L->precision, L->weight_layout, L->input_size, L->output_size, role,
                                  &u) == GRT_OK;
            ok &= same_shape(&t, &u) && u.data == NULL && u.index == 0;
        }
        ok &= found == L->n_tensors;
    }
    ok &= grt_layer_tensor(m, m->n_layers, GRT_ROLE_W_IH, &t) == GRT_E_LAYER_COUNT &&
          memcmp(&t, &zero, sizeof t) == 0;
    ok &= grt_layer_tensor(m, UINT32_MAX, GRT_ROLE_W_IH, &t) == GRT_E_LAYER_COUNT;
    return ok;
}

static void test_layer_tensor(void)
{
    grt_model m;
    grt_tensor_info t;
    CHECK(grt_model_load(&m, g_base, g_size, 0, NULL) == GRT_OK);
    CHECK(tensor_info_matches_file(&m, g_base));
    /* GRU 2→3: w_hh 9x3 f32 at data + 128, tensor 1; Dense 3→2 has no w_hh */
    CHECK(grt_layer_tensor(&m, 0, GRT_ROLE_W_HH, &t) == GRT_OK && t.rows == 9 && t.cols == 3 &&
          t.stored_rows == 9 && t.nbytes == 108 && t.dtype == GRT_DTYPE_F32 && t.index == 1 &&
          t.data == g_base + DATA_OFFSET + 128 && t.layout == GRT_LAYOUT_ROW_MAJOR);
    CHECK(grt_layer_tensor(&m, 1, GRT_ROLE_B_IH, &t) == GRT_OK && t.rows == 2 && t.cols == 1 && t.index == 5 &&
          t.ndim == 1);
    CHECK(grt_layer_tensor(&m, 1, GRT_ROLE_W_HH, &t) == GRT_E_TENSOR_ROLE && t.data == NULL);
    CHECK(grt_layer_tensor(&m, 0, GRT_ROLE_IN_SCALE, &t) == GRT_E_TENSOR_ROLE);
    CHECK(grt_layer_tensor(&m, 2, GRT_ROLE_W_IH, &t) == GRT_E_LAYER_COUNT);
    CHECK(grt_layer_tensor(NULL, 0, GRT_ROLE_W_IH, &t) == GRT_E_ARG);
    CHECK(grt_layer_tensor(&m, 0, GRT_ROLE_W_IH, NULL) == GRT_E_ARG);
    grt_model unloaded;
    memset(&unloaded, 0, sizeof unloaded);
    CHECK(grt_layer_tensor(&unloaded, 0, GRT_ROLE_W_IH, &t) == GRT_E_ARG);

    /* Without a model: the same table, and each argument refused with its own status. */
    CHECK(grt_kind_tensor(GRT_LAYER_GRU, GRT_PREC_F32, GRT_LAYOUT_PANEL8, 5, 8, GRT_ROLE_W_HH, &t) == GRT_OK &&
          t.rows == 24 && t.cols == 8 && t.stored_rows == 24 && t.nbytes == 768 && t.layout == GRT_LAYOUT_PANEL8 &&
          t.data == NULL);
    CHECK(grt_kind_tensor(GRT_LAYER_DENSE, GRT_PREC_F32, GRT_LAYOUT_PANEL8, 8, 3, GRT_ROLE_W_IH, &t) == GRT_OK &&
          t.rows == 3 && t.stored_rows == 8 && t.nbytes == 256);
    /* one input: still a matrix */
    CHECK(grt_kind_tensor(GRT_LAYER_DENSE, GRT_PREC_F32, 0, 1, 3, GRT_ROLE_W_IH, &t) == GRT_OK && t.cols == 1 &&
          t.ndim == 2);
    CHECK(grt_kind_tensor(GRT_LAYER_DENSE, GRT_PREC_F32, GRT_LAYOUT_PANEL8, 8, 3, GRT_ROLE_B_IH, &t) == GRT_OK &&
          t.rows == 3 && t.stored_rows == 3 && t.layout == GRT_LAYOUT_ROW_MAJOR);
    /* LayerNorm (1.4): gamma/beta per feature, f32 at f32 and q8, int32 after the scales at q15; no weight
     * matrix, so no panel8 */
#if GRT_HAS_LAYERNORM
#if GRT_HAS_Q8
    CHECK(grt_kind_tensor(GRT_LAYER_NORM, GRT_PREC_Q8, 0, 5, 5, GRT_ROLE_BETA, &t) == GRT_OK && t.rows == 5 &&
          t.cols == 1 && t.dtype == GRT_DTYPE_F32 && t.nbytes == 20);
#endif
#if GRT_HAS_Q15
    CHECK(grt_kind_tensor(GRT_LAYER_NORM, GRT_PREC_Q15, 0, 5, 5, GRT_ROLE_GAMMA, &t) == GRT_OK &&
          t.dtype == GRT_DTYPE_I32 && t.rows == 5);
#endif
    CHECK(grt_kind_tensor(GRT_LAYER_NORM, GRT_PREC_F32, 0, 5, 5, GRT_ROLE_W_IH, &t) == GRT_E_TENSOR_ROLE);
    CHECK(grt_kind_tensor(GRT_LAYER_NORM, GRT_PREC_F32, GRT_LAYOUT_PANEL8, 8, 8, GRT_ROLE_GAMMA, &t) ==
          GRT_E_LAYER_FIELD);
#else
    CHECK(grt_kind_tensor(GRT_LAYER_NORM, GRT_PREC_F32, 0, 5, 5, GRT_ROLE_GAMMA, &t) == GRT_E_LAYER_KIND);
#endif
    CHECK(grt_kind_tensor(0, GRT_PREC_F32, 0, 2, 3, GRT_ROLE_W_IH, &t) == GRT_E_LAYER_KIND);
    CHECK(grt_kind_tensor(255, GRT_PREC_F32, 0, 2, 3, GRT_ROLE_W_IH, &t) == GRT_E_LAYER_KIND);
    CHECK(grt_kind_tensor(GRT_LAYER_GRU, 3, 0, 2, 3, GRT_ROLE_W_IH, &t) == GRT_E_PRECISION);
    CHECK(grt_kind_tensor(GRT_LAYER_GRU, 256 + GRT_PREC_F32, 0, 2, 3, GRT_ROLE_W_IH, &t) == GRT_E_PRECISION);
    CHECK(grt_kind_tensor(GRT_LAYER_GRU, GRT_PREC_F32, 0, 0, 3, GRT_ROLE_W_IH, &t) == GRT_E_DIMS);
    CHECK(grt_kind_tensor(GRT_LAYER_GRU, GRT_PREC_F32, 0, 2, GRT_MAX_DIM + 1, GRT_ROLE_W_IH, &t) == GRT_E_DIMS);
    CHECK(grt_kind_tensor(GRT_LAYER_GRU, GRT_PREC_F32, 0, GRT_MAX_DIM, GRT_MAX_DIM, GRT_ROLE_W_IH, &t) == GRT_OK &&
          t.nbytes == 3u * GRT_MAX_DIM * GRT_MAX_DIM * 4u);
    CHECK(grt_kind_tensor(GRT_LAYER_GRU, GRT_PREC_F32, GRT_LAYOUT_PANEL8, 2, 3, GRT_ROLE_W_IH, &t) ==
          GRT_E_LAYER_FIELD);
    CHECK(grt_kind_tensor(GRT_LAYER_GRU, GRT_PREC_F32, 2, 2, 8, GRT_ROLE_W_IH, &t) == GRT_E_LAYER_FIELD);
    CHECK(grt_kind_tensor(GRT_LAYER_GRU, GRT_PREC_F32, 0, 2, 3, GRT_ROLE_OUT_SCALE, &t) == GRT_E_TENSOR_ROLE);
    CHECK(grt_kind_tensor(GRT_LAYER_GRU, GRT_PREC_F32, 0, 2, 3, GRT_ROLE_W_IH, NULL) == GRT_E_ARG);
#if GRT_HAS_Q15
    CHECK(grt_kind_tensor(GRT_LAYER_DENSE, GRT_PREC_Q15, GRT_LAYOUT_ROW_MAJOR, 4, 3, GRT_ROLE_IN_SCALE, &t) ==
              GRT_OK && t.rows == 4 && t.cols == 1 && t.dtype == GRT_DTYPE_F32 && t.nbytes == 16);
    CHECK(grt_kind_tensor(GRT_LAYER_DENSE, GRT_PREC_Q15, GRT_LAYOUT_PANEL8, 4, 3, GRT_ROLE_W_IH, &t) ==
          GRT_E_LAYER_FIELD);
#endif
}

/* ---- arguments, header ---------------------------------------------------------------------------- */

static void test_args_and_header(void)
{
    grt_diag d;
    CHECK(grt_model_load(NULL, g_base, g_size, 0, &d) == GRT_E_ARG && d.status == GRT_E_ARG);
    EXPECT(NULL, g_size, GRT_E_ARG, "blob", -1);
    expect_at(g_base, g_size, 2, GRT_E_ARG, "flags", -1, 1, 2, GRT_LOAD_SKIP_CHECKSUM, __LINE__);

    /* Blob misaligned: one byte past an aligned buffer. */
    uint8_t *p;
    void *mem = alloc_shifted(g_size, 1, &p);
    memcpy(p, g_base, g_size);
    EXPECT_V(p, g_size, GRT_E_BLOB_ALIGN, "blob", -1, 1, 0);
    free(mem);

    /* Truncated at several sizes (size 0 with a valid pointer too). */
    EXPECT_V(fresh(), 0, GRT_E_TRUNCATED, "blob.size", -1, 0, 64);
    EXPECT_V(fresh(), 10, GRT_E_TRUNCATED, "blob.size", -1, 10, 64);
    EXPECT_V(fresh(), 63, GRT_E_TRUNCATED, "blob.size", -1, 63, 64);
    EXPECT_V(fresh(), 64, GRT_E_TRUNCATED, "blob.size", -1, 64, g_size);
    EXPECT_V(fresh(), 100, GRT_E_TRUNCATED, "blob.size", -1, 100, g_size);
    EXPECT_V(fresh(), g_size - 1, GRT_E_TRUNCATED, "blob.size", -1, g_size - 1, g_size);

    uint8_t *b = fresh();
    b[0] = 'G';
    EXPECT(b, g_size, GRT_E_MAGIC, "header.magic", -1);
    b = fresh();
    b[4] = '\n'; /* text-mode CRLF damage */
    EXPECT(b, g_size, GRT_E_MAGIC, "header.magic", -1);

    EXPECT_V(patch16(8, 2), g_size, GRT_E_VERSION, "header.version_major", -1, 2, 1);
    EXPECT_V(patch16(8, 0), g_size, GRT_E_VERSION, "header.version_major", -1, 0, 1);
    {   /* a newer minor loads */
        grt_model mm;
        CHECK(grt_model_load(&mm, patch16(10, 7), g_size, 0, NULL) == GRT_OK && mm.version_minor == 7);
    }
    EXPECT_V(patch32(12, 65), g_size, GRT_E_HEADER, "header.header_size", -1, 65, 64);
    EXPECT_V(patch32(24, 0x80000000u), g_size, GRT_E_HEADER, "header.flags", -1, 0x80000000u, 0);
    EXPECT_V(patch32(24, 0x80000001u), g_size, GRT_E_HEADER, "header.flags", -1, 0x80000001u, 1);
    EXPECT_V(patch32(60, 9), g_size, GRT_E_HEADER, "header.reserved", -1, 9, 0);
#if GRT_HAS_MASK
    {   /* the input mask (1.4): flags bit 0, its float32 value at 60; any value but a NaN */
        const uint32_t values[] = {0, 0x80000000u, 0x3f800000u, 0xc2c80000u, 0x7f800000u, 0xff800000u, 1};
        for (size_t k = 0; k < sizeof values / sizeof values[0]; k++) {
            grt_model mm;
            b = fresh();
            tw_put_u32(b, 24, 1);
            tw_put_u32(b, 60, values[k]);
            tw_fix_crc(b, g_size);
            CHECK(grt_model_load(&mm, b, g_size, 0, NULL) == GRT_OK && mm.has_mask == 1 &&
                  mm.mask_bits == values[k]);
        }
        const uint32_t nans[] = {0x7fc00000u, 0x7f800001u, 0xffffffffu};
        for (size_t k = 0; k < sizeof nans / sizeof nans[0]; k++) {
            b = fresh();
            tw_put_u32(b, 24, 1);
            tw_put_u32(b, 60, nans[k]);
            tw_fix_crc(b, g_size);
            EXPECT_V(b, g_size, GRT_E_HEADER, "header.mask_value", -1, nans[k], 0);
        }
        grt_model mm;
        CHECK(grt_model_load(&mm, fresh(), g_size, 0, NULL) == GRT_OK && mm.has_mask == 0 && mm.mask_bits == 0);
    }
#endif

    /* Trailing byte. */
    b = fresh();
    b[g_size] = 0;
    EXPECT_V(b, g_size + 1, GRT_E_FILE_SIZE, "blob.size", -1, g_size + 1, g_size);

    /* Checksum: one flipped data bit; loads when the check is skipped. */
    b = fresh();
    b[g_size - 60] ^= 1;
    uint32_t stored = tw_get_u32(b, 20);
    uint32_t computed;
    {
        uint8_t z[4] = {0, 0, 0, 0};
        computed = grt_crc32(grt_crc32(grt_crc32(0, b, 20), z, 4), b + 24, g_size - 24);
    }
    EXPECT_V(b, g_size, GRT_E_CHECKSUM, "header.checksum", -1, stored, computed);
    expect_at(b, g_size, GRT_LOAD_SKIP_CHECKSUM, GRT_OK, "", -1, 0, 0, 0, __LINE__);
    b = fresh();
    tw_put_u32(b, 20, stored ^ 0x80000000u);
    EXPECT_V(b, g_size, GRT_E_CHECKSUM, "header.checksum", -1, stored ^ 0x80000000u, stored);
}

/* ---- counts, layout, padding ---------------------------------------------------------------------- */

static void test_counts_and_layout(void)
{
    EXPECT_V(patch32(28, 0), g_size, GRT_E_LAYER_COUNT, "header.n_layers", -1, 0, 1);
    EXPECT_V(patch32(28, GRT_MAX_LAYERS + 1), g_size, GRT_E_LAYER_COUNT, "header.n_layers", -1,
             GRT_MAX_LAYERS + 1, GRT_MAX_LAYERS);
    EXPECT_V(patch32(32, 0), g_size, GRT_E_TENSOR_COUNT, "header.n_tensors", -1, 0, 1);
    EXPECT_V(patch32(32, 257), g_size, GRT_E_TENSOR_COUNT, "header.n_tensors", -1, 257, 256);

    /* n_tensors not the sum of the layers' counts (an extra, consistent, table entry). */
    tw_options extra = {1, 0, 0, TW_FILL_RANDOM, 0};
    uint8_t *b = g_work;
    size_t n = build(b, base_layers, 2, base_meta, 2, &extra);
    EXPECT_V(b, n, GRT_E_TENSOR_COUNT, "header.n_tensors", -1, 7, 6);
    /* A layer's n_tensors not what its kind needs. */
    EXPECT_V(patch32(tw_layer_field(1, 20), 3), g_size, GRT_E_TENSOR_COUNT, "layer.n_tensors", 1, 3, 2);
    EXPECT_V(patch32(tw_layer_field(0, 20), 2), g_size, GRT_E_TENSOR_COUNT, "layer.n_tensors", 0, 2, 4);

    /* Stated offsets differ from the rule. */
    EXPECT_V(patch32(36, 65), g_size, GRT_E_LAYOUT, "header.layer_table_offset", -1, 65, 64);
    EXPECT_V(patch32(40, 160), g_size, GRT_E_LAYOUT, "header.tensor_table_offset", -1, 160, 128);
    EXPECT_V(patch32(44, 321), g_size, GRT_E_LAYOUT, "header.meta_offset", -1, 321, 320);
    /* n_tensors changed alone: the stated meta offset no longer matches. */
    EXPECT_V(patch32(32, 5), g_size, GRT_E_LAYOUT, "header.meta_offset", -1, 320, 288);
    EXPECT_V(patch32(48, 3), g_size, GRT_E_LAYOUT, "header.meta_size", -1, 3, 4);
    EXPECT_V(patch32(48, 0xFFFFFFFFu), g_size, GRT_E_LAYOUT, "header.meta_size", -1,
             320ull + 0xFFFFFFFFull, g_size);
    /* meta_size 60 still gives data_offset 384: the layout holds, the entries then do not fill it. */
    EXPECT_V(patch32(48, 60), g_size, GRT_E_METADATA, "meta.size", -1, 56, 60);
    EXPECT_V(patch32(48, 72), g_size, GRT_E_LAYOUT, "header.data_offset", -1, 384, 448);
    EXPECT_V(patch32(52, 448), g_size, GRT_E_LAYOUT, "header.data_offset", -1, 448, 384);
    EXPECT_V(patch32(56, 448), g_size, GRT_E_LAYOUT, "header.data_size", -1, 448, 512);

    /* Regions run past the file: 32 layers claimed, offsets made consistent with that (a build with
     * GRT_MAX_LAYERS < 32 refuses the count first). */
    b = fresh();
    tw_put_u32(b, 28, 32);
    tw_put_u32(b, 40, 64 + 32 * 32);
    tw_put_u32(b, 44, 64 + 32 * 32 + 32 * 6);
    tw_fix_crc(b, g_size);
    if (GRT_MAX_LAYERS >= 32)
        EXPECT_V(b, g_size, GRT_E_LAYOUT, "header.meta_size", -1, 64 + 32 * 32 + 32 * 6 + 56, g_size);
    else
        EXPECT_V(b, g_size, GRT_E_LAYER_COUNT, "header.n_layers", -1, 32, GRT_MAX_LAYERS);

    /* data_offset (consistent with the metadata size) past the end of the file. */
    b = fresh();
    tw_put_u32(b, 48, (uint32_t)g_size - META_OFFSET); /* metadata up to the end of the file */
    tw_put_u32(b, 52, (uint32_t)g_size);
    tw_put_u32(b, 56, 0);
    tw_fix_crc(b, g_size);
    {   /* meta_end == file size, so data_offset == file size is allowed; the tensors do not fit */
        grt_diag d;
        grt_model m;
        CHECK(grt_model_load(&m, b, g_size, 0, &d) == GRT_E_TENSOR_OFFSET);
    }
    b = fresh();
    tw_put_u32(b, 48, (uint32_t)g_size - META_OFFSET - 4); /* meta end 4 bytes before the file end */
    tw_put_u32(b, 52, (uint32_t)g_size + 64);
    tw_fix_crc(b, g_size);
    EXPECT_V(b, g_size, GRT_E_LAYOUT, "header.data_offset", -1, g_size + 64, g_size);

    /* A data section longer than the tensors (consistent header): data_size vs last tensor end. */
    tw_options more = {0, 0, 64, TW_FILL_RANDOM, 0};
    b = g_work;
    n = build(b, base_layers, 2, base_meta, 2, &more);
    EXPECT_V(b, n, GRT_E_LAYOUT, "header.data_size", -1, 576, 512);

    /* Padding: after the metadata, between tensors, after the last tensor. */
    EXPECT_V(patch8(META_OFFSET + 56 + 3, 1), g_size, GRT_E_PADDING, "padding.meta", -1, 1, 0);
    EXPECT_V(patch8(DATA_OFFSET + 72, 0xFF), g_size, GRT_E_PADDING, "padding.data", 0, 0xFF, 0);
    EXPECT_V(patch8(DATA_OFFSET + 255, 2), g_size, GRT_E_PADDING, "padding.data", 1, 2, 0);
    EXPECT_V(patch8(g_size - 1, 3), g_size, GRT_E_PADDING, "padding.data", 5, 3, 0);
}

/* ---- layers --------------------------------------------------------------------------------------- */

static void test_layers(void)
{
    EXPECT_V(patch8(tw_layer_field(0, 0), 7), g_size, GRT_E_LAYER_KIND, "layer.kind", 0, 7, 1);
    EXPECT_V(patch8(tw_layer_field(1, 0), 0), g_size, GRT_E_LAYER_KIND, "layer.kind", 1, 0, 1);

    EXPECT_V(patch8(tw_layer_field(0, 1), 3), g_size, GRT_E_PRECISION, "layer.precision", 0, 3, 0);
    /* q8/q15 exist now: an f32 layer relabelled as one has the wrong tensor count for its recipe (a
     * precision left out of the build is refused as such). */
#if GRT_HAS_Q8
    EXPECT_V(patch8(tw_layer_field(0, 1), 1), g_size, GRT_E_TENSOR_COUNT, "layer.n_tensors", 0, 4, 6);
    EXPECT_V(patch8(tw_layer_field(1, 1), 1), g_size, GRT_E_TENSOR_COUNT, "layer.n_tensors", 1, 2, 3);
#else
    EXPECT_V(patch8(tw_layer_field(0, 1), 1), g_size, GRT_E_PRECISION, "layer.precision", 0, 1, 0);
    EXPECT_V(patch8(tw_layer_field(1, 1), 1), g_size, GRT_E_PRECISION, "layer.precision", 1, 1, 0);
#endif
#if GRT_HAS_Q15
    EXPECT_V(patch8(tw_layer_field(0, 1), 2), g_size, GRT_E_TENSOR_COUNT, "layer.n_tensors", 0, 4, 8);
#else
    EXPECT_V(patch8(tw_layer_field(0, 1), 2), g_size, GRT_E_PRECISION, "layer.precision", 0, 2, 0);
#endif
    EXPECT_V(patch8(tw_layer_field(1, 1), 99), g_size, GRT_E_PRECISION, "layer.precision", 1, 99, 0);

    /* GRU activation: softmax, sigmoid, linear, unknown; gate: tanh, relu, linear, unknown. */
    static const uint8_t bad_gru_act[] = {GRT_ACT_SOFTMAX, GRT_ACT_SIGMOID, GRT_ACT_LINEAR,
                                          GRT_ACT_HARD_SIGMOID, GRT_ACT_LEAKY_RELU, GRT_ACT_GELU,
                                          GRT_ACT_LOG_SOFTMAX, GRT_ACT_COUNT, 200};
    for (size_t i = 0; i < sizeof bad_gru_act; i++)
        EXPECT_V(patch8(tw_layer_field(0, 2), bad_gru_act[i]), g_size, GRT_E_ACTIVATION,
                 "layer.activation", 0, bad_gru_act[i], GRT_ACT_TANH);
    static const uint8_t bad_gate[] = {GRT_ACT_TANH, GRT_ACT_RELU, GRT_ACT_LINEAR, GRT_ACT_SOFTMAX,
                                       GRT_ACT_SILU, GRT_ACT_ELU, GRT_ACT_COUNT};
    for (size_t i = 0; i < sizeof bad_gate; i++)
        EXPECT_V(patch8(tw_layer_field(0, 3), bad_gate[i]), g_size, GRT_E_ACTIVATION,
                 "layer.gate_activation", 0, bad_gate[i], GRT_ACT_SIGMOID);
    static const uint8_t bad_dense_act[] = {GRT_ACT_HARD_SIGMOID, GRT_ACT_HARD_SIGMOID_K2, GRT_ACT_COUNT, 255};
    for (size_t i = 0; i < sizeof bad_dense_act; i++)
        EXPECT_V(patch8(tw_layer_field(1, 2), bad_dense_act[i]), g_size, GRT_E_ACTIVATION,
                 "layer.activation", 1, bad_dense_act[i], GRT_ACT_LINEAR);
    /* Every allowed value loads. */
    int all_ok = 1;
    grt_model m;
    for (uint8_t a = 0; a < GRT_ACT_COUNT; a++)
        if (a <= GRT_ACT_SOFTMAX || a >= GRT_ACT_LEAKY_RELU)
            all_ok &= grt_model_load(&m, patch8(tw_layer_field(1, 2), a), g_size, 0, NULL) == GRT_OK;
    all_ok &= grt_model_load(&m, patch8(tw_layer_field(0, 2), GRT_ACT_RELU), g_size, 0, NULL) == GRT_OK;
    all_ok &= grt_model_load(&m, patch8(tw_layer_field(0, 3), GRT_ACT_HARD_SIGMOID), g_size, 0, NULL) == GRT_OK;
    all_ok &= grt_model_load(&m, patch8(tw_layer_field(0, 3), GRT_ACT_HARD_SIGMOID_K2), g_size, 0, NULL) == GRT_OK;
    all_ok &= grt_model_load(&m, patch8(tw_layer_field(0, 4), 0), g_size, 0, NULL) == GRT_OK;
    CHECK(all_ok);

    EXPECT_V(patch8(tw_layer_field(0, 4), 2), g_size, GRT_E_LAYER_FIELD, "layer.reset_after", 0, 2, 0);
    EXPECT_V(patch8(tw_layer_field(1, 4), 1), g_size, GRT_E_LAYER_FIELD, "layer.reset_after", 1, 1, 0);
    EXPECT_V(patch8(tw_layer_field(1, 3), GRT_ACT_SIGMOID), g_size, GRT_E_LAYER_FIELD,
             "layer.gate_activation", 1, GRT_ACT_SIGMOID, 0);
    /* panel8 on a GRU with H = 3 (not a multiple of 8); an unknown layout code */
    EXPECT_V(patch8(tw_layer_field(0, 5), 1), g_size, GRT_E_LAYER_FIELD, "layer.weight_layout", 0, 1, 0);
    EXPECT_V(patch8(tw_layer_field(1, 5), 2), g_size, GRT_E_LAYER_FIELD, "layer.weight_layout", 1, 2, 0);
    /* 1.4: direction (byte 6) and merge (byte 7). Layer 0 is a GRU with H = 3, layer 1 a Dense. */
    EXPECT_V(patch8(tw_layer_field(1, 6), GRT_DIR_REVERSE), g_size, GRT_E_LAYER_FIELD, "layer.direction", 1, 1, 0);
    EXPECT_V(patch8(tw_layer_field(1, 7), GRT_MERGE_SUM), g_size, GRT_E_LAYER_FIELD, "layer.merge", 1, 2, 0);
    EXPECT_V(patch8(tw_layer_field(0, 6), 3), g_size, GRT_E_LAYER_FIELD, "layer.direction", 0, 3, 0);
    EXPECT_V(patch8(tw_layer_field(0, 7), GRT_MERGE_CONCAT), g_size, GRT_E_LAYER_FIELD, "layer.merge", 0, 1, 0);
#if GRT_HAS_BIDIR
    EXPECT_V(patch8(tw_layer_field(0, 6), GRT_DIR_BIDIRECTIONAL), g_size, GRT_E_LAYER_FIELD, "layer.merge", 0, 0,
             1);
    {
        uint8_t *b = patch8(tw_layer_field(0, 6), GRT_DIR_BIDIRECTIONAL);
        tw_put_u8(b, tw_layer_field(0, 7), 5);
        tw_fix_crc(b, g_size);
        EXPECT_V(b, g_size, GRT_E_LAYER_FIELD, "layer.merge", 0, 5, 1);
        b = patch8(tw_layer_field(0, 6), GRT_DIR_BIDIRECTIONAL);
        tw_put_u8(b, tw_layer_field(0, 7), GRT_MERGE_CONCAT); /* 2H = 3: odd */
        tw_fix_crc(b, g_size);
        EXPECT_V(b, g_size, GRT_E_DIMS, "layer.output_size", 0, 3, 4);
        b = patch8(tw_layer_field(0, 6), GRT_DIR_BIDIRECTIONAL);
        tw_put_u8(b, tw_layer_field(0, 7), GRT_MERGE_AVE); /* needs a second tensor set */
        tw_fix_crc(b, g_size);
        EXPECT_V(b, g_size, GRT_E_TENSOR_COUNT, "layer.n_tensors", 0, 4, 8);
        CHECK(grt_model_load(&m, patch8(tw_layer_field(0, 6), GRT_DIR_REVERSE), g_size, 0, NULL) == GRT_OK &&
              m.needs_future == 1);
    }
#endif
    EXPECT_V(patch32(tw_layer_field(0, 24), 5), g_size, GRT_E_LAYER_FIELD, "layer.param", 0, 5, 0);
    EXPECT_V(patch32(tw_layer_field(1, 24), 0x3C23D70Au), g_size, GRT_E_LAYER_FIELD, "layer.param", 1,
             0x3C23D70Au, 0); /* a parameter on a Dense linear layer */
    /* leaky_relu and elu keep their alpha in param (any finite float); inf and NaN are refused. */
    static const uint8_t param_acts[] = {GRT_ACT_LEAKY_RELU, GRT_ACT_ELU};
    for (size_t i = 0; i < sizeof param_acts; i++) {
        uint8_t *b = patch8(tw_layer_field(1, 2), param_acts[i]);
        tw_put_u32(b, tw_layer_field(1, 24), 0x3C23D70Au); /* 0.01f */
        tw_fix_crc(b, g_size);
        CHECK(grt_model_load(&m, b, g_size, 0, NULL) == GRT_OK && m.layers[1].act_param == 0x3C23D70Au);
        static const uint32_t bad_alpha[] = {0x7F800000u, 0xFF800000u, 0x7FC00000u};
        for (size_t k = 0; k < 3; k++) {
            b = patch8(tw_layer_field(1, 2), param_acts[i]);
            tw_put_u32(b, tw_layer_field(1, 24), bad_alpha[k]);
            tw_fix_crc(b, g_size);
            EXPECT_V(b, g_size, GRT_E_LAYER_FIELD, "layer.param", 1, bad_alpha[k], 0);
        }
    }
    EXPECT_V(patch32(tw_layer_field(1, 28), 1u << 31), g_size, GRT_E_LAYER_FIELD, "layer.reserved", 1,
             1u << 31, 0);

    EXPECT_V(patch32(tw_layer_field(0, 8), 0), g_size, GRT_E_DIMS, "layer.input_size", 0, 0, 1);
    EXPECT_V(patch32(tw_layer_field(0, 8), 16385), g_size, GRT_E_DIMS, "layer.input_size", 0, 16385, 16384);
    EXPECT_V(patch32(tw_layer_field(0, 12), 0), g_size, GRT_E_DIMS, "layer.output_size", 0, 0, 1);
    EXPECT_V(patch32(tw_layer_field(1, 12), 0xFFFFFFFFu), g_size, GRT_E_DIMS, "layer.output_size", 1,
             0xFFFFFFFFu, 16384);

    EXPECT_V(patch32(tw_layer_field(1, 8), 4), g_size, GRT_E_CHAIN, "layer.input_size", 1, 4, 3);
    EXPECT_V(patch32(tw_layer_field(1, 16), 3), g_size, GRT_E_CHAIN, "layer.first_tensor", 1, 3, 4);
    EXPECT_V(patch32(tw_layer_field(0, 16), 1), g_size, GRT_E_CHAIN, "layer.first_tensor", 0, 1, 0);
}

/* ---- tensors -------------------------------------------------------------------------------------- */

static void test_tensors(void)
{
    EXPECT_V(patch8(TF(1, T_ROLE), GRT_ROLE_B_IH), g_size, GRT_E_TENSOR_ROLE, "tensor.role", 1, 3, 2);
    EXPECT_V(patch8(TF(5, T_ROLE), 9), g_size, GRT_E_TENSOR_ROLE, "tensor.role", 5, 9, 3);
    EXPECT_V(patch32(TF(4, T_LAYER), 0), g_size, GRT_E_TENSOR_ROLE, "tensor.layer", 4, 0, 1);
    EXPECT_V(patch8(TF(0, T_DTYPE), GRT_DTYPE_I8), g_size, GRT_E_TENSOR_DTYPE, "tensor.dtype", 0, 1, 0);
    EXPECT_V(patch8(TF(3, T_DTYPE), 9), g_size, GRT_E_TENSOR_DTYPE, "tensor.dtype", 3, 9, 0);
    EXPECT(patch16(TF(2, T_RES16), 1), g_size, GRT_E_LAYER_FIELD, "tensor.reserved", 2);
    EXPECT(patch32(TF(2, T_RES_A), 1), g_size, GRT_E_LAYER_FIELD, "tensor.reserved", 2);
    EXPECT(patch32(TF(5, T_RES_B), 1), g_size, GRT_E_LAYER_FIELD, "tensor.reserved", 5);

    EXPECT_V(patch32(TF(0, T_ROWS), 6), g_size, GRT_E_TENSOR_SHAPE, "tensor.rows", 0, 6, 9);
    EXPECT_V(patch32(TF(1, T_COLS), 2), g_size, GRT_E_TENSOR_SHAPE, "tensor.cols", 1, 2, 3);
    EXPECT_V(patch32(TF(5, T_COLS), 2), g_size, GRT_E_TENSOR_SHAPE, "tensor.cols", 5, 2, 1);
    EXPECT_V(patch32(TF(4, T_NBYTES), 23), g_size, GRT_E_TENSOR_SHAPE, "tensor.nbytes", 4, 23, 24);

    EXPECT_V(patch32(TF(1, T_OFFSET), 132), g_size, GRT_E_TENSOR_ALIGN, "tensor.offset", 1, 132, 128);
    EXPECT_V(patch32(TF(0, T_OFFSET), 1), g_size, GRT_E_TENSOR_ALIGN, "tensor.offset", 0, 1, 0);
    EXPECT_V(patch32(TF(5, T_OFFSET), 1u << 20), g_size, GRT_E_TENSOR_OFFSET, "tensor.offset", 5,
             1u << 20, 448);
    EXPECT_V(patch32(TF(2, T_OFFSET), 192), g_size, GRT_E_TENSOR_OFFSET, "tensor.offset", 2, 192, 256);
    EXPECT_V(patch32(TF(2, T_OFFSET), 320), g_size, GRT_E_TENSOR_OFFSET, "tensor.offset", 2, 320, 256);
    EXPECT_V(patch32(TF(0, T_OFFSET), 64), g_size, GRT_E_TENSOR_OFFSET, "tensor.offset", 0, 64, 0);

    /* The last tensor runs past a (consistently shortened) data section. */
    uint8_t *b = fresh();
    size_t n = g_size - 64;
    tw_put_u32(b, 16, (uint32_t)n);
    tw_put_u32(b, 56, 448);
    tw_fix_crc(b, n);
    EXPECT_V(b, n, GRT_E_TENSOR_OFFSET, "tensor.nbytes", 5, 456, 448);
}

/* ---- metadata ------------------------------------------------------------------------------------- */

static void test_metadata(void)
{
    const size_t count = META_OFFSET, e0 = META_OFFSET + 4, e1 = e0 + 8 + 16 + 5;
    EXPECT_V(patch32(count, 0xFFFFFFFFu), g_size, GRT_E_METADATA, "meta.count", -1, 0xFFFFFFFFu, 52 / 9);
    EXPECT_V(patch32(count, 3), g_size, GRT_E_METADATA, "meta.entry", 2, 60, 52);
    EXPECT_V(patch32(count, 1), g_size, GRT_E_METADATA, "meta.size", -1, 33, 56);
    EXPECT_V(patch32(count, 0), g_size, GRT_E_METADATA, "meta.size", -1, 4, 56);
    EXPECT_V(patch32(e0, 0), g_size, GRT_E_METADATA, "meta.key_len", 0, 0, 1);
    EXPECT_V(patch32(e1, 256), g_size, GRT_E_METADATA, "meta.key_len", 1, 256, 255);
    EXPECT_V(patch32(e0 + 4, 65536), g_size, GRT_E_METADATA, "meta.value_len", 0, 65536, 65535);
    EXPECT_V(patch32(e1 + 4, 7), g_size, GRT_E_METADATA, "meta.value_len", 1, 29 + 8 + 9 + 7, 52);
    /* value 0 one byte short: entry 1 is read from "y" + its key_len bytes, 0x0979 */
    EXPECT_V(patch32(e0 + 4, 4), g_size, GRT_E_METADATA, "meta.key_len", 1, 0x0979, 255);
    EXPECT(patch8(e0 + 8 + 3, 0), g_size, GRT_E_METADATA, "meta.key", 0);
    EXPECT(patch8(e1 + 8 + 9 + 5, 0), g_size, GRT_E_METADATA, "meta.value", 1);

    /* Duplicate key; entries not filling meta_size (trailing bytes). */
    static const tw_meta dup[] = {{"a", "1"}, {"b", "2"}, {"a", "3"}};
    uint8_t *b = g_work;
    size_t n = build(b, base_layers, 2, dup, 3, NULL);
    EXPECT(b, n, GRT_E_METADATA, "meta.key", 2);
    static const tw_meta prefix[] = {{"ab", "1"}, {"a", "2"}, {"abc", ""}};
    n = build(b, base_layers, 2, prefix, 3, NULL);
    grt_model m;
    CHECK(grt_model_load(&m, b, n, 0, NULL) == GRT_OK && m.meta_count == 3);
    tw_options trailing = {0, 3, 0, TW_FILL_RANDOM, 0};
    n = build(b, base_layers, 2, base_meta, 2, &trailing);
    EXPECT_V(b, n, GRT_E_METADATA, "meta.size", -1, 56, 59);
}

/* ---- q8 and q15 (format 1.1) ---------------------------------------------------------------------- */
/* The panel8 weight layout (1.2): stored sizes, zero padding lanes, which layers may use it. */
static void test_panel_layout(void)
{
    static const tw_layer layers[] = {
        {GRT_LAYER_GRU, GRT_ACT_TANH, GRT_ACT_SIGMOID, 0, 5, 8, GRT_PREC_F32},
        {GRT_LAYER_DENSE, GRT_ACT_SOFTMAX, 0, 0, 8, 3, GRT_PREC_F32},
    };
    tw_options panel8 = {0, 0, 0, TW_FILL_RANDOM, 1};
    uint8_t *b;
    void *mem = alloc_shifted(CAP, 0, &b);
    size_t size = tw_build(b, CAP, layers, 2, NULL, 0, &panel8, 3, 0.5f);
    grt_model m;
    CHECK(size > 0 && grt_model_load(&m, b, size, 0, NULL) == GRT_OK);
    CHECK(m.layers[0].weight_layout == GRT_LAYOUT_PANEL8 && m.layers[1].weight_layout == GRT_LAYOUT_PANEL8);
    /* logical rows in the table, stored rows (a multiple of 8) in nbytes: w_ih 24x5, dense w 3x8 -> 8x8 */
    CHECK(tw_get_u32(b, tw_tensor_field(b, 0, 8)) == 24 && tw_get_u32(b, tw_tensor_field(b, 0, 20)) == 480);
    CHECK(tw_get_u32(b, tw_tensor_field(b, 4, 8)) == 3 && tw_get_u32(b, tw_tensor_field(b, 4, 20)) == 256);
    CHECK(tensor_info_matches_file(&m, b));

    /* a padding lane of the Dense matrix's last panel (row 3, column 5) */
    size_t lane = tw_tensor_data(b, 4) + 4 * (8 * 5 + 3);
    tw_put_u32(b, lane, 0x80000000u); /* -0.0: not zero bytes */
    tw_fix_crc(b, size);
    EXPECT(b, size, GRT_E_PADDING, "tensor.panel_padding", 4);
    tw_put_u32(b, lane, 0);
    /* the row-major size is wrong for a panel8 matrix */
    tw_put_u32(b, tw_tensor_field(b, 4, 20), 96);
    tw_fix_crc(b, size);
    EXPECT_V(b, size, GRT_E_TENSOR_SHAPE, "tensor.nbytes", 4, 96, 256);
    free(mem);

#if GRT_HAS_Q8 /* panel8 is an f32 layout */
    static const tw_layer q8[] = {{GRT_LAYER_DENSE, GRT_ACT_LINEAR, 0, 0, 4, 8, GRT_PREC_Q8}};
    mem = alloc_shifted(CAP, 0, &b);
    size = tw_build(b, CAP, q8, 1, NULL, 0, NULL, 3, 0.5f);
    tw_put_u8(b, tw_layer_field(0, 5), GRT_LAYOUT_PANEL8);
    tw_fix_crc(b, size);
    EXPECT_V(b, size, GRT_E_LAYER_FIELD, "layer.weight_layout", 0, 1, 0);
    free(mem);
#endif
#if GRT_HAS_MASK
    /* an input mask without a GRU layer: nothing for a masked step to keep */
    static const tw_layer dense[] = {{GRT_LAYER_DENSE, GRT_ACT_LINEAR, 0, 0, 4, 3, GRT_PREC_F32}};
    mem = alloc_shifted(CAP, 0, &b);
    size = tw_build(b, CAP, dense, 1, NULL, 0, NULL, 3, 0.5f);
    tw_put_u32(b, 24, 1);
    tw_fix_crc(b, size);
    EXPECT_V(b, size, GRT_E_HEADER, "header.flags", -1, 1, 0);
    free(mem);
#endif
}

#if GRT_HAS_LSTM
/* The LSTM kind (1.4): 4H-row tensors, state h and c, its field rules, panel8 like the GRU's. */
static void test_lstm_layer(void)
{
    static const tw_layer layers[] = {
        {GRT_LAYER_LSTM, GRT_ACT_TANH, GRT_ACT_SIGMOID, 0, 5, 8, GRT_PREC_F32},
        {GRT_LAYER_GRU, GRT_ACT_TANH, GRT_ACT_SIGMOID, 1, 8, 3, GRT_PREC_F32},
        {GRT_LAYER_LSTM, GRT_ACT_RELU, GRT_ACT_HARD_SIGMOID, 0, 3, 6, GRT_PREC_F32},
    };
    tw_options panel8 = {0, 0, 0, TW_FILL_RANDOM, 1};
    uint8_t *b;
    void *mem = alloc_shifted(CAP, 0, &b);
    size_t size = tw_build(b, CAP, layers, 3, NULL, 0, &panel8, 3, 0.5f);
    grt_model m;
    CHECK(size > 0 && grt_model_load(&m, b, size, 0, NULL) == GRT_OK);
    CHECK(m.layers[0].kind == GRT_LAYER_LSTM && m.layers[0].weight_layout == GRT_LAYOUT_PANEL8 &&
          m.layers[2].weight_layout == GRT_LAYOUT_ROW_MAJOR); /* H = 6: not whole panels */
    /* state: h, c of layer 0 (16), h of the GRU (3), h, c of layer 2 (12); gates: 4·8 */
    CHECK(m.state_size == 31 && m.layers[1].state_offset == 16 && m.layers[2].state_offset == 19 &&
          m.max_gates == 32);
    CHECK(tw_get_u32(b, tw_tensor_field(b, 0, 8)) == 32 && tw_get_u32(b, tw_tensor_field(b, 1, 8)) == 32 &&
          tw_get_u32(b, tw_tensor_field(b, 1, 12)) == 8);
    CHECK(tensor_info_matches_file(&m, b));
    grt_tensor_info t;
    CHECK(grt_kind_tensor(GRT_LAYER_LSTM, GRT_PREC_F32, 0, 5, 6, GRT_ROLE_W_HH, &t) == GRT_OK && t.rows == 24 &&
          t.cols == 6 && t.nbytes == 576);
    CHECK(grt_kind_tensor(GRT_LAYER_LSTM, GRT_PREC_F32, GRT_LAYOUT_PANEL8, 5, 6, GRT_ROLE_W_IH, &t) ==
          GRT_E_LAYER_FIELD);
#if GRT_HAS_Q15
    CHECK(grt_kind_tensor(GRT_LAYER_LSTM, GRT_PREC_Q15, 0, 5, 6, GRT_ROLE_W_IH, &t) == GRT_OK && t.rows == 24 &&
          t.cols == 5 && t.dtype == GRT_DTYPE_I8); /* 1.5 */
#endif

    /* each field rule of the kind */
    uint8_t *w = g_work;
    memcpy(w, b, size);
    tw_put_u8(w, tw_layer_field(0, 4), 1);
    tw_fix_crc(w, size);
    EXPECT_V(w, size, GRT_E_LAYER_FIELD, "layer.reset_after", 0, 1, 0);
    memcpy(w, b, size);
    tw_put_u8(w, tw_layer_field(2, 2), GRT_ACT_SIGMOID);
    tw_fix_crc(w, size);
    EXPECT_V(w, size, GRT_E_ACTIVATION, "layer.activation", 2, GRT_ACT_SIGMOID, GRT_ACT_TANH);
    memcpy(w, b, size);
    tw_put_u8(w, tw_layer_field(0, 3), GRT_ACT_TANH);
    tw_fix_crc(w, size);
    EXPECT_V(w, size, GRT_E_ACTIVATION, "layer.gate_activation", 0, GRT_ACT_TANH, GRT_ACT_SIGMOID);
    memcpy(w, b, size);
    tw_put_u8(w, tw_layer_field(2, 1), GRT_PREC_Q15); /* q15 (1.5) has 8 tensors */
    tw_fix_crc(w, size);
    EXPECT_V(w, size, GRT_HAS_Q15 ? GRT_E_TENSOR_COUNT : GRT_E_PRECISION,
             GRT_HAS_Q15 ? "layer.n_tensors" : "layer.precision", 2, GRT_HAS_Q15 ? 4 : GRT_PREC_Q15,
             GRT_HAS_Q15 ? 8 : GRT_PREC_F32);
    memcpy(w, b, size);
    tw_put_u32(w, tw_layer_field(0, 24), 1); /* cell_bits: q15 only (1.5) */
    tw_fix_crc(w, size);
    EXPECT_V(w, size, GRT_E_LAYER_FIELD, "layer.param", 0, 1, 0);
    memcpy(w, b, size);
    tw_put_u8(w, tw_layer_field(0, 6), GRT_DIR_REVERSE); /* LSTMs run forward only (1.4) */
    tw_fix_crc(w, size);
    EXPECT_V(w, size, GRT_E_LAYER_FIELD, "layer.direction", 0, 1, 0);
    memcpy(w, b, size);
    tw_put_u8(w, tw_layer_field(0, 7), GRT_MERGE_CONCAT);
    tw_fix_crc(w, size);
    EXPECT_V(w, size, GRT_E_LAYER_FIELD, "layer.merge", 0, 1, 0);
    /* a GRU's 3H rows where the LSTM has 4H */
    memcpy(w, b, size);
    tw_put_u32(w, tw_tensor_field(w, 0, 8), 24);
    tw_fix_crc(w, size);
    EXPECT_V(w, size, GRT_E_TENSOR_SHAPE, "tensor.rows", 0, 24, 32);
#if GRT_HAS_Q15
    /* q15 (1.5): cell_bits in param, 0 ... 14; tanh only */
    static const tw_layer q15[] = {
        {GRT_LAYER_LSTM, GRT_ACT_TANH, GRT_ACT_SIGMOID, 0, 5, 8, GRT_PREC_Q15},
        {GRT_LAYER_DENSE, GRT_ACT_SOFTMAX, 0, 0, 8, 3, GRT_PREC_Q15},
    };
    size = tw_build(b, CAP, q15, 2, NULL, 0, NULL, 4, 0.5f);
    CHECK(size > 0 && grt_model_load(&m, b, size, 0, NULL) == GRT_OK);
    CHECK(m.layers[0].act_param == 2 && m.state_size == 16 && m.max_gates == 32); /* the writer's 2 */
    memcpy(w, b, size);
    tw_put_u32(w, tw_layer_field(0, 24), 14);
    tw_fix_crc(w, size);
    CHECK(grt_model_load(&m, w, size, 0, NULL) == GRT_OK);
    tw_put_u32(w, tw_layer_field(0, 24), 15);
    tw_fix_crc(w, size);
    EXPECT_V(w, size, GRT_E_LAYER_FIELD, "layer.param", 0, 15, 14);
    memcpy(w, b, size);
    tw_put_u8(w, tw_layer_field(0, 2), GRT_ACT_RELU);
    tw_fix_crc(w, size);
    EXPECT_V(w, size, GRT_E_ACTIVATION, "layer.activation", 0, GRT_ACT_RELU, GRT_ACT_TANH);
#endif
    free(mem);
}
#endif

#if GRT_HAS_Q8 && GRT_HAS_Q15 /* files that mix the precisions */

#define QCAP 16384
#define Q15_UNIT 0x38000000u /* 2^-15 */

#define GRU_L(prec, act, gate, ra, i, o) {GRT_LAYER_GRU, act, gate, ra, i, o, prec}
#define DENSE_L(prec, act, i, o) {GRT_LAYER_DENSE, act, 0, 0, i, o, prec}


static size_t qbuild(const tw_layer *layers, size_t n)
{
    g_qsize = tw_build(g_q, QCAP, layers, n, NULL, 0, NULL, 5, 0.8f);
    return g_qsize;
}

/* Patch element e of tensor k's data (u16 or u32) in g_q and fix the CRC. */
static uint8_t *qpatch16(uint32_t k, size_t e, uint16_t v)
{
    tw_put_u16(g_q, tw_tensor_data(g_q, k) + 2 * e, v);
    tw_fix_crc(g_q, g_qsize);
    return g_q;
}

static uint8_t *qpatch32(uint32_t k, size_t e, uint32_t v)
{
    tw_put_u32(g_q, tw_tensor_data(g_q, k) + 4 * e, v);
    tw_fix_crc(g_q, g_qsize);
    return g_q;
}

#define QEXPECT_V(st, field, index, actual, expected) \
    expect_at(g_q, g_qsize, 0, st, field, index, 1, actual, expected, __LINE__)

/* Every tensor pointer of a loaded model is where the tensor table says, and roles follow the recipe. */
static int pointers_match(const grt_model *m, const uint8_t *blob, const uint8_t *const *roles_per_layer)
{
    int ok = 1;
    for (uint32_t i = 0; i < m->n_layers; i++) {
        const grt_layer *L = &m->layers[i];
        const uint8_t *roles = roles_per_layer[i];
        size_t j = 0;
        for (unsigned role = 1; role <= GRT_ROLE_MAX; role++) {
            int present = 0;
            for (size_t q = 0; roles[q]; q++)
                present |= roles[q] == role;
            if (!present) {
                ok &= L->tensor[role] == NULL;
                continue;
            }
            uint32_t k = L->first_tensor + (uint32_t)j++;
            ok &= blob[tw_tensor_field(blob, k, 0)] == role;
            ok &= L->tensor[role] == blob + tw_tensor_data(blob, k);
        }
        ok &= j == L->n_tensors;
    }
    return ok;
}

static void test_quant_valid(void)
{
    static const uint8_t gru_f32[] = {1, 2, 3, 4, 0}, dense_f32[] = {1, 3, 0};
    static const uint8_t gru_q8[] = {1, 2, 3, 4, 5, 6, 0}, dense_q8[] = {1, 3, 5, 0};
    static const uint8_t gru_q15[] = {1, 2, 3, 4, 5, 6, 7, 8, 0}, dense_q15[] = {1, 3, 5, 7, 8, 0};
    grt_model m;

    /* q8: GRU + Dense; and every q8 tensor's dtype/shape. */
    static const tw_layer q8[] = {GRU_L(GRT_PREC_Q8, GRT_ACT_RELU, GRT_ACT_SIGMOID, 0, 5, 7),
                                  DENSE_L(GRT_PREC_Q8, GRT_ACT_SOFTMAX, 7, 3)};
    CHECK(qbuild(q8, 2) > 0);
    CHECK(grt_model_load(&m, g_q, g_qsize, 0, NULL) == GRT_OK);
    const uint8_t *r_q8[] = {gru_q8, dense_q8};
    CHECK(m.q15 == 0 && m.n_tensors == 9 && m.layers[0].n_tensors == 6 && m.layers[1].n_tensors == 3);
    CHECK(m.layers[0].precision == GRT_PREC_Q8 && m.state_size == 7 && m.max_gates == 21);
    CHECK(pointers_match(&m, g_q, r_q8) && tensor_info_matches_file(&m, g_q));
    CHECK(g_q[tw_tensor_field(g_q, 4, 1)] == GRT_DTYPE_BF16 && tw_get_u32(g_q, tw_tensor_field(g_q, 4, 20)) == 42);
    CHECK(g_q[tw_tensor_field(g_q, 0, 1)] == GRT_DTYPE_I8 && tw_get_u32(g_q, tw_tensor_field(g_q, 0, 20)) == 105);

    /* q15: GRU + GRU + Dense linear. */
    static const tw_layer q15[] = {GRU_L(GRT_PREC_Q15, GRT_ACT_TANH, GRT_ACT_HARD_SIGMOID, 1, 4, 6),
                                   GRU_L(GRT_PREC_Q15, GRT_ACT_TANH, GRT_ACT_SIGMOID, 0, 6, 5),
                                   DENSE_L(GRT_PREC_Q15, GRT_ACT_LINEAR, 5, 2)};
    CHECK(qbuild(q15, 3) > 0);
    CHECK(grt_model_load(&m, g_q, g_qsize, 0, NULL) == GRT_OK);
    const uint8_t *r_q15[] = {gru_q15, gru_q15, dense_q15};
    CHECK(m.q15 == 1 && m.n_tensors == 21 && m.state_size == 11 && m.layers[1].state_offset == 6);
    CHECK(m.layers[2].first_tensor == 16 && m.layers[2].n_tensors == 5);
    CHECK(pointers_match(&m, g_q, r_q15) && tensor_info_matches_file(&m, g_q));
    CHECK(tw_get_u32(g_q, tw_tensor_data(g_q, 7)) == Q15_UNIT && tw_get_u32(g_q, tw_tensor_data(g_q, 14)) == Q15_UNIT);
    CHECK(g_q[tw_tensor_field(g_q, 2, 1)] == GRT_DTYPE_I32 && g_q[tw_tensor_field(g_q, 6, 1)] == GRT_DTYPE_F32);

    /* Mixed f32 / q8, both ways round; q8 GRU with relu is allowed. */
    static const tw_layer mixed[] = {DENSE_L(GRT_PREC_F32, GRT_ACT_TANH, 3, 4),
                                     GRU_L(GRT_PREC_Q8, GRT_ACT_TANH, GRT_ACT_HARD_SIGMOID_K2, 1, 4, 4),
                                     GRU_L(GRT_PREC_F32, GRT_ACT_RELU, GRT_ACT_SIGMOID, 0, 4, 3),
                                     DENSE_L(GRT_PREC_Q8, GRT_ACT_LINEAR, 3, 2)};
    CHECK(qbuild(mixed, 4) > 0);
    CHECK(grt_model_load(&m, g_q, g_qsize, 0, NULL) == GRT_OK);
    const uint8_t *r_mixed[] = {dense_f32, gru_q8, gru_f32, dense_q8};
    CHECK(m.q15 == 0 && m.n_tensors == 15 && pointers_match(&m, g_q, r_mixed));
    CHECK(tensor_info_matches_file(&m, g_q));

    /* Every Dense activation at q8 and q15; every gate and reset mode of a q15 GRU. */
    int all_ok = 1;
    for (uint8_t a = 0; a <= GRT_ACT_SOFTMAX; a++) {
        tw_layer d8[] = {DENSE_L(GRT_PREC_Q8, a, 3, 2)};
        tw_layer d15[] = {DENSE_L(GRT_PREC_Q15, a, 3, 2)};
        all_ok &= qbuild(d8, 1) > 0 && grt_model_load(&m, g_q, g_qsize, 0, NULL) == GRT_OK;
        all_ok &= qbuild(d15, 1) > 0 && grt_model_load(&m, g_q, g_qsize, 0, NULL) == GRT_OK && m.q15;
    }
    static const uint8_t gates[] = {GRT_ACT_SIGMOID, GRT_ACT_HARD_SIGMOID, GRT_ACT_HARD_SIGMOID_K2};
    for (size_t g = 0; g < 3; g++)
        for (uint8_t ra = 0; ra < 2; ra++) {
            tw_layer l15[] = {GRU_L(GRT_PREC_Q15, GRT_ACT_TANH, gates[g], ra, 2, 3)};
            all_ok &= qbuild(l15, 1) > 0 && grt_model_load(&m, g_q, g_qsize, 0, NULL) == GRT_OK;
        }
    CHECK(all_ok);

    /* Recipe checks apply to the new roles: dtype, shape, nbytes, role order. */
    CHECK(qbuild(q15, 3) > 0);
    EXPECT_V(patch_q8(tw_tensor_field(g_q, 4, 1), GRT_DTYPE_F32), g_qsize, GRT_E_TENSOR_DTYPE, "tensor.dtype", 4,
             GRT_DTYPE_F32, GRT_DTYPE_BF16);
    CHECK(qbuild(q15, 3) > 0);
    EXPECT_V(patch_q8(tw_tensor_field(g_q, 2, 1), GRT_DTYPE_F32), g_qsize, GRT_E_TENSOR_DTYPE, "tensor.dtype", 2,
             GRT_DTYPE_F32, GRT_DTYPE_I32);
    CHECK(qbuild(q15, 3) > 0);
    EXPECT_V(patch_q32(tw_tensor_field(g_q, 6, 8), 6), g_qsize, GRT_E_TENSOR_SHAPE, "tensor.rows", 6, 6, 4);
    CHECK(qbuild(q15, 3) > 0);
    EXPECT_V(patch_q32(tw_tensor_field(g_q, 5, 20), 72), g_qsize, GRT_E_TENSOR_SHAPE, "tensor.nbytes", 5, 72, 36);
    CHECK(qbuild(q15, 3) > 0);
    EXPECT_V(patch_q8(tw_tensor_field(g_q, 7, 0), GRT_ROLE_IN_SCALE), g_qsize, GRT_E_TENSOR_ROLE, "tensor.role", 7,
             GRT_ROLE_IN_SCALE, GRT_ROLE_OUT_SCALE);
}

static void test_quant_rules(void)
{
    /* 1. A model with a q15 layer has only q15 layers (the first other layer is named). */
    static const tw_layer mix_a[] = {GRU_L(GRT_PREC_Q15, GRT_ACT_TANH, GRT_ACT_SIGMOID, 1, 2, 3),
                                     DENSE_L(GRT_PREC_F32, GRT_ACT_LINEAR, 3, 2)};
    static const tw_layer mix_b[] = {DENSE_L(GRT_PREC_Q8, GRT_ACT_LINEAR, 2, 3),
                                     DENSE_L(GRT_PREC_Q15, GRT_ACT_TANH, 3, 2)};
    qbuild(mix_a, 2);
    QEXPECT_V(GRT_E_PRECISION, "layer.precision", 1, GRT_PREC_F32, GRT_PREC_Q15);
    qbuild(mix_b, 2);
    QEXPECT_V(GRT_E_PRECISION, "layer.precision", 0, GRT_PREC_Q8, GRT_PREC_Q15);

    /* 2. A q15 GRU's candidate activation is tanh (relu is fine at f32/q8). */
    static const tw_layer relu15[] = {GRU_L(GRT_PREC_Q15, GRT_ACT_TANH, GRT_ACT_SIGMOID, 0, 2, 3),
                                      GRU_L(GRT_PREC_Q15, GRT_ACT_RELU, GRT_ACT_SIGMOID, 0, 3, 3)};
    qbuild(relu15, 2);
    QEXPECT_V(GRT_E_ACTIVATION, "layer.activation", 1, GRT_ACT_RELU, GRT_ACT_TANH);

    /* 3. q8 scale codes: sign 0, exponent != 255. Tensors: 0 w_ih, 1 w_hh, 2 b_ih, 3 b_hh, 4 w_ih_scale,
     * 5 w_hh_scale, then the Dense: 6 w_ih, 7 b_ih, 8 w_ih_scale. */
    static const tw_layer q8[] = {GRU_L(GRT_PREC_Q8, GRT_ACT_TANH, GRT_ACT_SIGMOID, 1, 2, 3),
                                  DENSE_L(GRT_PREC_Q8, GRT_ACT_SOFTMAX, 3, 2)};
    grt_model m;
    static const uint16_t q8_ok[] = {0x0000, 0x0001, 0x3F80, 0x7F7F, 0x0080};
    int all_ok = 1;
    for (size_t i = 0; i < sizeof q8_ok / sizeof q8_ok[0]; i++) {
        qbuild(q8, 2);
        all_ok &= grt_model_load(&m, qpatch16(5, 8, q8_ok[i]), g_qsize, 0, NULL) == GRT_OK;
    }
    CHECK(all_ok);
    qbuild(q8, 2);
    qpatch16(4, 3, 0xBF80); /* -1.0 */
    QEXPECT_V(GRT_E_TENSOR_VALUE, "tensor.value", 4, 0xBF80, 0x3F80);
    qbuild(q8, 2);
    qpatch16(5, 8, 0x7F80); /* +inf */
    QEXPECT_V(GRT_E_TENSOR_VALUE, "tensor.value", 5, 0x7F80, 0x7F00);
    qbuild(q8, 2);
    qpatch16(8, 1, 0x7FC1); /* NaN */
    QEXPECT_V(GRT_E_TENSOR_VALUE, "tensor.value", 8, 0x7FC1, 0x7F41);
    qbuild(q8, 2);
    qpatch16(8, 0, 0x8000); /* -0 */
    QEXPECT_V(GRT_E_TENSOR_VALUE, "tensor.value", 8, 0x8000, 0);

    /* 4. q15 multiplier codes: 0, or sign 0 and 72 <= exponent <= 134. Tensors: 0-7 GRU (4 w_ih_scale,
     * 5 w_hh_scale, 6 in_scale, 7 out_scale), 8 w_ih, 9 b_ih, 10 w_ih_scale, 11 in_scale, 12 out_scale. */
    static const tw_layer q15[] = {GRU_L(GRT_PREC_Q15, GRT_ACT_TANH, GRT_ACT_SIGMOID, 1, 2, 3),
                                   DENSE_L(GRT_PREC_Q15, GRT_ACT_SOFTMAX, 3, 2)};
    static const uint16_t q15_ok[] = {0x0000, 0x2400, 0x247F, 0x437F, 0x4300, 0x3F80};
    all_ok = 1;
    for (size_t i = 0; i < sizeof q15_ok / sizeof q15_ok[0]; i++) {
        qbuild(q15, 2);
        all_ok &= grt_model_load(&m, qpatch16(10, 1, q15_ok[i]), g_qsize, 0, NULL) == GRT_OK;
    }
    CHECK(all_ok);
    qbuild(q15, 2);
    qpatch16(4, 2, 0x2380); /* exponent 71: sh = 63 */
    QEXPECT_V(GRT_E_TENSOR_VALUE, "tensor.value", 4, 0x2380, 0x2400);
    qbuild(q15, 2);
    qpatch16(5, 8, 0x43FF); /* exponent 135: sh = -1 */
    QEXPECT_V(GRT_E_TENSOR_VALUE, "tensor.value", 5, 0x43FF, 0x437F);
    qbuild(q15, 2);
    qpatch16(10, 0, 0xBF80); /* negative */
    QEXPECT_V(GRT_E_TENSOR_VALUE, "tensor.value", 10, 0xBF80, 0x3F80);
    qbuild(q15, 2);
    qpatch16(10, 1, 0x8000); /* -0 */
    QEXPECT_V(GRT_E_TENSOR_VALUE, "tensor.value", 10, 0x8000, 0);
    qbuild(q15, 2);
    qpatch16(10, 1, 0x0001); /* a q8-valid denormal is not a q15 multiplier */
    QEXPECT_V(GRT_E_TENSOR_VALUE, "tensor.value", 10, 0x0001, 0x2401);

    /* 5. q15 in_scale/out_scale: positive normal floats; Q15 outputs exactly 2^-15. */
    static const uint32_t bad_scale[][2] = {
        {0x00000000u, 0x00800000u}, {0x80800000u, 0x00800000u}, {0x007FFFFFu, 0x00FFFFFFu},
        {0x7F800000u, 0x7F000000u}, {0x7FC00000u, 0x7F400000u}, {0xBF800000u, 0x3F800000u}};
    for (size_t i = 0; i < sizeof bad_scale / sizeof bad_scale[0]; i++) {
        qbuild(q15, 2);
        qpatch32(6, 1, bad_scale[i][0]);
        QEXPECT_V(GRT_E_TENSOR_VALUE, "tensor.value", 6, bad_scale[i][0], bad_scale[i][1]);
    }
    qbuild(q15, 2);
    CHECK(grt_model_load(&m, qpatch32(6, 0, 0x00800000u), g_qsize, 0, NULL) == GRT_OK); /* smallest normal */
    qbuild(q15, 2);
    CHECK(grt_model_load(&m, qpatch32(6, 1, 0x7F7FFFFFu), g_qsize, 0, NULL) == GRT_OK); /* largest */
    qbuild(q15, 2);
    qpatch32(7, 2, 0x38000001u); /* GRU out_scale not exactly 2^-15 */
    QEXPECT_V(GRT_E_TENSOR_VALUE, "tensor.value", 7, 0x38000001u, Q15_UNIT);
    qbuild(q15, 2);
    qpatch32(12, 1, 0x3F800000u); /* softmax out_scale */
    QEXPECT_V(GRT_E_TENSOR_VALUE, "tensor.value", 12, 0x3F800000u, Q15_UNIT);
    static const uint8_t unit_acts[] = {GRT_ACT_TANH, GRT_ACT_SIGMOID};
    for (size_t i = 0; i < 2; i++) {
        tw_layer d[] = {DENSE_L(GRT_PREC_Q15, unit_acts[i], 3, 2)};
        qbuild(d, 1);
        qpatch32(4, 0, 0x37800000u); /* 2^-16 */
        QEXPECT_V(GRT_E_TENSOR_VALUE, "tensor.value", 4, 0x37800000u, Q15_UNIT);
    }
    static const uint8_t free_acts[] = {GRT_ACT_LINEAR, GRT_ACT_RELU};
    for (size_t i = 0; i < 2; i++) {
        tw_layer d[] = {DENSE_L(GRT_PREC_Q15, free_acts[i], 3, 2)};
        qbuild(d, 1);
        CHECK(grt_model_load(&m, qpatch32(4, 1, 0x3F800000u), g_qsize, 0, NULL) == GRT_OK);
        qbuild(d, 1);
        qpatch32(4, 1, 0xC0000000u);
        QEXPECT_V(GRT_E_TENSOR_VALUE, "tensor.value", 4, 0xC0000000u, 0x40000000u);
    }

    /* 6. The chain: layer l's in_scale equals layer l-1's out_scale bit for bit. */
    qbuild(q15, 2);
    qpatch32(11, 2, 0x38000001u);
    QEXPECT_V(GRT_E_CHAIN, "tensor.in_scale", 11, 0x38000001u, Q15_UNIT);
    static const tw_layer lin2[] = {DENSE_L(GRT_PREC_Q15, GRT_ACT_LINEAR, 2, 3),
                                    DENSE_L(GRT_PREC_Q15, GRT_ACT_RELU, 3, 2)};
    qbuild(lin2, 2);
    uint32_t out1 = tw_get_u32(g_q, tw_tensor_data(g_q, 4) + 4);
    CHECK(out1 != Q15_UNIT && grt_model_load(&m, g_q, g_qsize, 0, NULL) == GRT_OK);
    qpatch32(4, 1, out1 + 1); /* out_scale changed alone: the next layer's in_scale no longer matches */
    QEXPECT_V(GRT_E_CHAIN, "tensor.in_scale", 8, out1, out1 + 1);
    /* Values are checked before the chain: an invalid in_scale is a value error. */
    qbuild(q15, 2);
    qpatch32(11, 0, 0);
    QEXPECT_V(GRT_E_TENSOR_VALUE, "tensor.value", 11, 0, 0x00800000u);

    /* The value rules come after the structure: a layer error elsewhere wins. */
    qbuild(q15, 2);
    qpatch32(11, 0, 0);
    EXPECT_V(patch_q8(tw_layer_field(1, 4), 1), g_qsize, GRT_E_LAYER_FIELD, "layer.reset_after", 1, 1, 0);
}

#endif /* GRT_HAS_Q8 && GRT_HAS_Q15 */

#if GRT_HAS_BIDIR && GRT_HAS_Q15
/* A q15 bidirectional concat GRU 3 -> 2x4, then a Dense 8 -> 2 (the writer's TW_GRU_DIR):
 * grt_layer_tensor_dir's direction 0 is grt_layer_tensor, direction 1 the backward set (its own
 * tensors, one direction's shapes), each argument refused with its own status and *out zeroed; the
 * first layer's backward in_scale must be the forward one's (both read the same input). */
static void test_bidir_tensors(void)
{
    static const tw_layer L[] = {TW_GRU_DIR(GRT_PREC_Q15, 1, 3, 8, GRT_DIR_BIDIRECTIONAL, GRT_MERGE_CONCAT),
                                 {GRT_LAYER_DENSE, GRT_ACT_LINEAR, 0, 0, 8, 2, GRT_PREC_Q15}};
    size_t size = build(g_work, L, 2, NULL, 0, NULL);
    grt_model m;
    grt_tensor_info a, b, zero;
    memset(&zero, 0, sizeof zero);
    CHECK(size > 0 && grt_model_load(&m, g_work, size, 0, NULL) == GRT_OK);
    CHECK(m.layers[0].n_tensors == 16 && m.layers[0].output_size == 8 && m.layers[1].first_tensor == 16);
    int same = 1, back = 1;
    for (unsigned role = 0; role <= GRT_ROLE_MAX; role++) {
        grt_status st = grt_layer_tensor(&m, 0, role, &a);
        same &= grt_layer_tensor_dir(&m, 0, 0, role, &b) == st && memcmp(&a, &b, sizeof a) == 0;
        if (st != GRT_OK)
            continue;
        back &= grt_layer_tensor_dir(&m, 0, 1, role, &b) == GRT_OK && b.index == a.index + 8 &&
                same_shape(&a, &b) && b.data == g_work + tw_tensor_data(g_work, b.index);
    }
    CHECK(same && back);
    CHECK(grt_layer_tensor_dir(&m, 0, 1, GRT_ROLE_W_HH, &b) == GRT_OK && b.rows == 12 && b.cols == 4);
    memset(&b, 0xA5, sizeof b);
    CHECK(grt_layer_tensor_dir(&m, 1, 1, GRT_ROLE_W_IH, &b) == GRT_E_ARG && memcmp(&b, &zero, sizeof b) == 0);
    memset(&b, 0xA5, sizeof b);
    CHECK(grt_layer_tensor_dir(&m, 2, 0, GRT_ROLE_W_IH, &b) == GRT_E_LAYER_COUNT &&
          memcmp(&b, &zero, sizeof b) == 0);
    CHECK(grt_layer_tensor_dir(&m, 0, 2, GRT_ROLE_W_IH, &b) == GRT_E_ARG);
    CHECK(grt_layer_tensor_dir(NULL, 0, 0, GRT_ROLE_W_IH, &b) == GRT_E_ARG);
    CHECK(grt_layer_tensor_dir(&m, 0, 0, GRT_ROLE_W_IH, NULL) == GRT_E_ARG);
    CHECK(grt_layer_tensor_dir(&m, 0, 1, GRT_ROLE_MAX + 1, &b) == GRT_E_TENSOR_ROLE);
    /* the backward in_scale (tensor 14), its element 2 changed: GRT_E_CHAIN at that tensor */
    uint32_t fwd = tw_get_u32(g_work, tw_tensor_data(g_work, 6) + 8);
    tw_put_u32(g_work, tw_tensor_data(g_work, 14) + 8, fwd + 1);
    tw_fix_crc(g_work, size);
    EXPECT_V(g_work, size, GRT_E_CHAIN, "tensor.in_scale", 14, fwd + 1, fwd);
}
#endif

void test_loader(void)
{
    void *base_mem = alloc_shifted(CAP, 0, &g_base);
    void *work_mem = alloc_shifted(CAP + 64, 0, &g_work);
    g_size = build(g_base, base_layers, 2, base_meta, 2, NULL);
    CHECK(g_size == DATA_OFFSET + 512);
    test_valid();
    test_layer_tensor();
    test_args_and_header();
    test_counts_and_layout();
    test_layers();
    test_tensors();
    test_metadata();
    test_panel_layout();
#if GRT_HAS_LSTM
    test_lstm_layer();
#else
    SKIPPED("LSTM loader rules (GRT_NO_LSTM)");
#endif
#if GRT_HAS_BIDIR && GRT_HAS_Q15
    test_bidir_tensors();
#else
    SKIPPED("bidirectional tensor sets (GRT_NO_BIDIR or GRT_NO_Q15)");
#endif
#if GRT_HAS_Q8 && GRT_HAS_Q15
    void *q_mem = alloc_shifted(QCAP, 0, &g_q);
    test_quant_valid();
    test_quant_rules();
    free(q_mem);
#else
    SKIPPED("q8/q15 loader rules (GRT_NO_Q8 or GRT_NO_Q15)");
#endif
    free(base_mem);
    free(work_mem);
}

#else
void test_loader(void)
{
    SKIPPED("loader structure tests (GRT_NO_F32)");
}
#endif
