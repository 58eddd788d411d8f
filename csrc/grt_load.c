/* grt_load.c — the model loader: validates a blob against docs/FORMAT.md and fills a grt_model view;
 * status and name strings; metadata access.
 *
 * The blob is hostile until proven otherwise. Checks run in the order of FORMAT.md: header, counts,
 * layout of the regions, padding, each layer, each tensor, metadata, and last the rules on values
 * (precision mix, q15 activations, scale codes and q15 scales, the q15 scale chain). Every field is
 * read with explicit little-endian byte reads, every region is compared with the blob size before it
 * is read, and all arithmetic on file values is uint64_t on values already bounded by earlier checks.
 * No floating-point operation: float tensor values are checked on their bits (`make nofloat`). */
#include "grt_inputs.h"
#include "grt_internal.h"

#define MAGIC_LEN 8
static const uint8_t grt_magic[MAGIC_LEN] = {0x89, 'G', 'R', 'T', 0x0D, 0x0A, 0x1A, 0x0A};

#define META_ENTRY_HEADER 8u /* key_len, value_len */

/* ---- status and enum names ------------------------------------------------------------------- */

static const char *const status_names[GRT_STATUS_COUNT] = {
    "GRT_OK",           "GRT_E_ARG",          "GRT_E_BUFFER",       "GRT_E_BLOB_ALIGN",
    "GRT_E_TRUNCATED",  "GRT_E_MAGIC",        "GRT_E_VERSION",      "GRT_E_HEADER",
    "GRT_E_FILE_SIZE",  "GRT_E_CHECKSUM",     "GRT_E_LAYER_COUNT",  "GRT_E_TENSOR_COUNT",
    "GRT_E_LAYOUT",     "GRT_E_PADDING",      "GRT_E_LAYER_KIND",   "GRT_E_PRECISION",
    "GRT_E_ACTIVATION", "GRT_E_LAYER_FIELD",  "GRT_E_DIMS",         "GRT_E_CHAIN",
    "GRT_E_TENSOR_ROLE", "GRT_E_TENSOR_DTYPE", "GRT_E_TENSOR_SHAPE", "GRT_E_TENSOR_ALIGN",
    "GRT_E_TENSOR_OFFSET", "GRT_E_METADATA", "GRT_E_TENSOR_VALUE",
};

static const char *const status_messages[GRT_STATUS_COUNT] = {
    "ok",
    "invalid argument",
    "buffer too small or not float-aligned",
    "model blob not 4-byte aligned",
    "file truncated",
    "bad magic number (not a .grt file)",
    "unsupported format version",
    "invalid header field",
    "trailing bytes after the file",
    "checksum mismatch (file corrupted)",
    "invalid layer count",
    "invalid tensor count",
    "invalid file layout",
    "non-zero padding byte",
    "unknown layer kind",
    "unknown or unsupported precision",
    "unknown or disallowed activation",
    "invalid layer field",
    "invalid layer dimensions",
    "layers do not chain",
    "unexpected tensor role or owner",
    "wrong tensor dtype",
    "wrong tensor shape",
    "misaligned tensor",
    "tensor offset out of place",
    "malformed metadata",
    "a tensor value outside its allowed range",
};

const char *grt_status_name(grt_status status)
{
    return (unsigned)status < GRT_STATUS_COUNT ? status_names[status] : "GRT_E_UNKNOWN";
}

const char *grt_status_message(grt_status status)
{
    return (unsigned)status < GRT_STATUS_COUNT ? status_messages[status] : "unknown status";
}

static const char *const activation_names[GRT_ACT_COUNT] = {
    "linear", "relu", "tanh", "sigmoid", "softmax", "hard_sigmoid", "hard_sigmoid_k2",
    "leaky_relu", "elu", "gelu", "gelu_tanh", "silu", "softplus", "log_softmax",
};

const char *grt_activation_name(unsigned code)
{
    return code < GRT_ACT_COUNT ? activation_names[code] : "?";
}

static const char *const role_names[GRT_ROLE_MAX + 1] = {
    [GRT_ROLE_W_IH] = "w_ih",           [GRT_ROLE_W_HH] = "w_hh",           [GRT_ROLE_B_IH] = "b_ih",
    [GRT_ROLE_B_HH] = "b_hh",           [GRT_ROLE_W_IH_SCALE] = "w_ih_scale", [GRT_ROLE_W_HH_SCALE] = "w_hh_scale",
    [GRT_ROLE_IN_SCALE] = "in_scale",   [GRT_ROLE_OUT_SCALE] = "out_scale", [GRT_ROLE_GAMMA] = "gamma",
    [GRT_ROLE_BETA] = "beta",           [GRT_ROLE_TABLE] = "table",
};

const char *grt_role_name(unsigned role)
{
    return role <= GRT_ROLE_MAX && role_names[role] != NULL ? role_names[role] : "?";
}

/* ---- what each (kind, precision) needs ---------------------------------------------------------
 * One table, the description of a layer kind: for each (kind, precision) the layer's tensors in file
 * order (ascending role), each with its dtype and its shape as rules over the layer's dims, and the
 * elements of hidden state and of gate scratch the kind needs. n_tensors per layer, role order, dtype
 * and shape checks, the stream sizes (fill_model_sizes) and grt_layer_tensor() all come from it.
 * Adding a precision or a kind = adding a recipe here (plus kernels). */

enum dim_rule {
    DIM_ZERO, DIM_ONE, DIM_IN, DIM_OUT, DIM_3OUT, DIM_2OUT, DIM_4OUT,
    DIM_CONV_COLS,   /* Conv1D weight columns: k·I, or k when depthwise */
    DIM_CONV_WINDOW, /* Conv1D state: the last (k − 1)·d input frames, (k − 1)·d·I elements */
    DIM_CONV_SCRATCH, /* Conv1D scratch: a row of k·I window values and O products */
    DIM_VOCAB         /* Embedding (1.5): rows of the table, the entry's param */
};

typedef struct tensor_rule {
    uint8_t role, dtype, rows, cols; /* rows/cols: enum dim_rule */
} tensor_rule;

typedef struct layer_recipe {
    uint8_t kind, precision, n_tensors;
    uint8_t state; /* enum dim_rule: elements of hidden state (float, or int16 for q15) */
    uint8_t gates; /* enum dim_rule: rows of the gate pre-activations a step computes (scratch) */
    tensor_rule tensors[GRT_ROLE_MAX];
} layer_recipe;

#define T_(role, dtype, rows, cols) {GRT_ROLE_##role, GRT_DTYPE_##dtype, DIM_##rows, DIM_##cols}
#define GRU_(precision, n) GRT_LAYER_GRU, GRT_PREC_##precision, n, DIM_OUT, DIM_3OUT
#define DENSE_(precision, n) GRT_LAYER_DENSE, GRT_PREC_##precision, n, DIM_ZERO, DIM_ZERO
#define LSTM_(precision, n) GRT_LAYER_LSTM, GRT_PREC_##precision, n, DIM_2OUT, DIM_4OUT /* state h, c */
#define NORM_(precision, n) GRT_LAYER_NORM, GRT_PREC_##precision, n, DIM_ZERO, DIM_ZERO
#define CONV_(precision, n) GRT_LAYER_CONV1D, GRT_PREC_##precision, n, DIM_CONV_WINDOW, DIM_CONV_SCRATCH
#define EMBED_(precision, n) GRT_LAYER_EMBEDDING, GRT_PREC_##precision, n, DIM_ZERO, DIM_ZERO

/* Only the precisions this build keeps (gru_rt.h, "Build configuration"): a layer of a dropped one
 * finds no recipe and is refused with GRT_E_PRECISION, like an unknown precision code. */
static const layer_recipe recipes[] = {
#if GRT_HAS_F32
    {GRU_(F32, 4),
     {T_(W_IH, F32, 3OUT, IN), T_(W_HH, F32, 3OUT, OUT), T_(B_IH, F32, 3OUT, ONE), T_(B_HH, F32, 3OUT, ONE)}},
    {DENSE_(F32, 2), {T_(W_IH, F32, OUT, IN), T_(B_IH, F32, OUT, ONE)}},
#if GRT_HAS_LSTM
    {LSTM_(F32, 4),
     {T_(W_IH, F32, 4OUT, IN), T_(W_HH, F32, 4OUT, OUT), T_(B_IH, F32, 4OUT, ONE), T_(B_HH, F32, 4OUT, ONE)}},
#endif
#if GRT_HAS_LAYERNORM
    {NORM_(F32, 2), {T_(GAMMA, F32, OUT, ONE), T_(BETA, F32, OUT, ONE)}},
#endif
#if GRT_HAS_CONV1D
    {CONV_(F32, 2), {T_(W_IH, F32, OUT, CONV_COLS), T_(B_IH, F32, OUT, ONE)}},
#endif
    {EMBED_(F32, 1), {T_(TABLE, F32, VOCAB, OUT)}},
#endif
#if GRT_HAS_Q8
    {GRU_(Q8, 6),
     {T_(W_IH, I8, 3OUT, IN), T_(W_HH, I8, 3OUT, OUT), T_(B_IH, F32, 3OUT, ONE), T_(B_HH, F32, 3OUT, ONE),
      T_(W_IH_SCALE, BF16, 3OUT, ONE), T_(W_HH_SCALE, BF16, 3OUT, ONE)}},
    {DENSE_(Q8, 3), {T_(W_IH, I8, OUT, IN), T_(B_IH, F32, OUT, ONE), T_(W_IH_SCALE, BF16, OUT, ONE)}},
#if GRT_HAS_LSTM
    {LSTM_(Q8, 6),
     {T_(W_IH, I8, 4OUT, IN), T_(W_HH, I8, 4OUT, OUT), T_(B_IH, F32, 4OUT, ONE), T_(B_HH, F32, 4OUT, ONE),
      T_(W_IH_SCALE, BF16, 4OUT, ONE), T_(W_HH_SCALE, BF16, 4OUT, ONE)}},
#endif
#if GRT_HAS_LAYERNORM
    {NORM_(Q8, 2), {T_(GAMMA, F32, OUT, ONE), T_(BETA, F32, OUT, ONE)}}, /* float math, as f32 */
#endif
#if GRT_HAS_CONV1D
    {CONV_(Q8, 3), {T_(W_IH, I8, OUT, CONV_COLS), T_(B_IH, F32, OUT, ONE), T_(W_IH_SCALE, BF16, OUT, ONE)}},
#endif
    {EMBED_(Q8, 2), {T_(W_IH_SCALE, BF16, VOCAB, ONE), T_(TABLE, I8, VOCAB, OUT)}}, /* a scale per row */
#endif
#if GRT_HAS_Q15
    {GRU_(Q15, 8),
     {T_(W_IH, I8, 3OUT, IN), T_(W_HH, I8, 3OUT, OUT), T_(B_IH, I32, 3OUT, ONE), T_(B_HH, I32, 3OUT, ONE),
      T_(W_IH_SCALE, BF16, 3OUT, ONE), T_(W_HH_SCALE, BF16, 3OUT, ONE), T_(IN_SCALE, F32, IN, ONE),
      T_(OUT_SCALE, F32, OUT, ONE)}},
#if GRT_HAS_LSTM
    {LSTM_(Q15, 8), /* 1.5; param: the cell state's integer bits */
     {T_(W_IH, I8, 4OUT, IN), T_(W_HH, I8, 4OUT, OUT), T_(B_IH, I32, 4OUT, ONE), T_(B_HH, I32, 4OUT, ONE),
      T_(W_IH_SCALE, BF16, 4OUT, ONE), T_(W_HH_SCALE, BF16, 4OUT, ONE), T_(IN_SCALE, F32, IN, ONE),
      T_(OUT_SCALE, F32, OUT, ONE)}},
#endif
    {DENSE_(Q15, 5),
     {T_(W_IH, I8, OUT, IN), T_(B_IH, I32, OUT, ONE), T_(W_IH_SCALE, BF16, OUT, ONE), T_(IN_SCALE, F32, IN, ONE),
      T_(OUT_SCALE, F32, OUT, ONE)}},
#if GRT_HAS_LAYERNORM
    {NORM_(Q15, 4),
     {T_(IN_SCALE, F32, IN, ONE), T_(OUT_SCALE, F32, OUT, ONE), T_(GAMMA, I32, OUT, ONE), T_(BETA, I32, OUT, ONE)}},
#endif
#if GRT_HAS_CONV1D
    {CONV_(Q15, 5),
     {T_(W_IH, I8, OUT, CONV_COLS), T_(B_IH, I32, OUT, ONE), T_(W_IH_SCALE, BF16, OUT, ONE),
      T_(IN_SCALE, F32, IN, ONE), T_(OUT_SCALE, F32, OUT, ONE)}},
#endif
    {EMBED_(Q15, 3), {T_(IN_SCALE, F32, IN, ONE), T_(OUT_SCALE, F32, OUT, ONE), T_(TABLE, I16, VOCAB, OUT)}},
#endif
};

#undef T_
#undef GRU_
#undef DENSE_
#undef LSTM_
#undef NORM_
#undef CONV_
#undef EMBED_

static const layer_recipe *find_recipe(unsigned kind, unsigned precision)
{
    for (size_t i = 0; i < sizeof recipes / sizeof recipes[0]; i++)
        if (recipes[i].kind == kind && recipes[i].precision == precision)
            return &recipes[i];
    return NULL;
}

/* The kinds of the format that this build leaves out (gru_rt.h, "Build configuration"): the field a
 * layer of such a kind is refused with, naming the switch; NULL for a kind the build runs. */
static const char *dropped_kind(unsigned kind)
{
    if (!GRT_HAS_LSTM && kind == GRT_LAYER_LSTM)
        return "layer.kind (GRT_NO_LSTM)";
    if (!GRT_HAS_CONV1D && kind == GRT_LAYER_CONV1D)
        return "layer.kind (GRT_NO_CONV1D)";
    if (!GRT_HAS_LAYERNORM && kind == GRT_LAYER_NORM)
        return "layer.kind (GRT_NO_LAYERNORM)";
    return NULL;
}

/* A kind of the format that this build runs. */
static int known_kind(unsigned kind)
{
    return (kind == GRT_LAYER_GRU || kind == GRT_LAYER_DENSE || kind == GRT_LAYER_LSTM || kind == GRT_LAYER_NORM ||
            kind == GRT_LAYER_CONV1D || kind == GRT_LAYER_EMBEDDING) &&
           dropped_kind(kind) == NULL;
}

/* A layer's rows per direction: a GRU's hidden size H (output_size / 2 for a bidirectional concat
 * layer, 1.4), a Dense layer's output_size. The recipes' DIM_OUT. */
static uint64_t layer_units(const grt_layer *L)
{
    return L->kind == GRT_LAYER_GRU && L->merge == GRT_MERGE_CONCAT ? L->output_size / 2u : L->output_size;
}

/* Tensor sets of a layer: two for a bidirectional GRU (forward, then backward; 1.4), else one. */
static uint32_t layer_directions(const grt_layer *L)
{
    return L->direction == GRT_DIR_BIDIRECTIONAL ? 2u : 1u;
}

static uint64_t dim_value(unsigned rule, const grt_layer *L)
{
    switch (rule) {
    case DIM_ZERO: return 0;
    case DIM_IN: return L->input_size;
    case DIM_OUT: return layer_units(L);
    case DIM_2OUT: return 2u * layer_units(L);
    case DIM_3OUT: return 3u * layer_units(L);
    case DIM_4OUT: return 4u * layer_units(L);
    case DIM_CONV_COLS: return L->depthwise ? L->kernel_size : (uint64_t)L->kernel_size * L->input_size;
    case DIM_CONV_WINDOW: return (uint64_t)(L->kernel_size - 1u) * L->dilation * L->input_size;
    case DIM_CONV_SCRATCH: return (uint64_t)L->kernel_size * L->input_size + L->output_size;
    case DIM_VOCAB: return L->vocab_size;
    default: return 1;
    }
}

static uint64_t dtype_size(unsigned dtype)
{
    switch (dtype) {
    case GRT_DTYPE_I8: return 1;
    case GRT_DTYPE_I16: return 2;
    case GRT_DTYPE_BF16: return 2;
    default: return 4; /* f32, i32 */
    }
}

/* Is this tensor a weight matrix stored in panels? */
static int is_panel_matrix(const grt_layer *L, unsigned role)
{
    return L->weight_layout == GRT_LAYOUT_PANEL8 && (role == GRT_ROLE_W_IH || role == GRT_ROLE_W_HH);
}

/* Bytes of a tensor, in 64 bits: an LSTM's f32 4H x I matrix at GRT_MAX_DIM is 2^32 bytes, one more than a
 * u32 holds. */
static uint64_t tensor_bytes(const grt_layer *L, const tensor_rule *rule)
{
    uint64_t rows = dim_value(rule->rows, L);
    if (is_panel_matrix(L, rule->role))
        rows = grt_panel_rows(rows);
    return rows * dim_value(rule->cols, L) * dtype_size(rule->dtype);
}

/* The tensor a rule gives in layer L (data not set). Sizes are bounded by GRT_MAX_DIM (checked before),
 * so rows and cols fit a u32; nbytes is tensor_bytes, which check_tensor has compared with the file's u32
 * (a tensor of 2^32 bytes or more never loads). */
static grt_tensor_info tensor_info(const grt_layer *L, const tensor_rule *rule)
{
    grt_tensor_info t;
    grt_memset(&t, 0, sizeof t);
    t.role = rule->role;
    t.dtype = rule->dtype;
    t.layout = is_panel_matrix(L, rule->role) ? GRT_LAYOUT_PANEL8 : GRT_LAYOUT_ROW_MAJOR;
    t.ndim = rule->cols == DIM_ONE ? 1 : 2;
    t.rows = (uint32_t)dim_value(rule->rows, L);
    t.cols = (uint32_t)dim_value(rule->cols, L);
    t.stored_rows = t.layout == GRT_LAYOUT_PANEL8 ? (uint32_t)grt_panel_rows(t.rows) : t.rows;
    t.nbytes = (uint32_t)tensor_bytes(L, rule);
    return t;
}

/* ---- diagnostics -------------------------------------------------------------------------------- */

typedef struct loader {
    const uint8_t *blob;
    uint64_t size; /* == file_size once the header is checked */
    grt_diag *diag;
} loader;

static grt_status fail(loader *ld, grt_status status, const char *field, int64_t index)
{
    ld->diag->status = status;
    ld->diag->field = field;
    ld->diag->index = (int32_t)index;
    ld->diag->has_values = 0;
    ld->diag->actual = 0;
    ld->diag->expected = 0;
    return status;
}

static grt_status fail_values(loader *ld, grt_status status, const char *field, int64_t index,
                              uint64_t actual, uint64_t expected)
{
    fail(ld, status, field, index);
    ld->diag->has_values = 1;
    ld->diag->actual = actual;
    ld->diag->expected = expected;
    return status;
}

/* ---- header ------------------------------------------------------------------------------------- */

/* Header fields (offsets from FORMAT.md). */
enum {
    H_VERSION_MAJOR = 8, H_VERSION_MINOR = 10, H_HEADER_SIZE = 12, H_FILE_SIZE = 16, H_CHECKSUM = 20,
    H_FLAGS = 24, H_N_LAYERS = 28, H_N_TENSORS = 32, H_LAYER_TABLE = 36, H_TENSOR_TABLE = 40,
    H_META_OFFSET = 44, H_META_SIZE = 48, H_DATA_OFFSET = 52, H_DATA_SIZE = 56, H_RESERVED = 60
};

static uint32_t hdr(const loader *ld, unsigned offset)
{
    return grt_rd_u32(ld->blob + offset);
}

/* Magic, version, fixed fields and the blob size against file_size. */
static grt_status check_header(loader *ld)
{
    /* Magic first, as far as the blob goes: a file that is not a model at all says so. */
    size_t magic_len = ld->size < MAGIC_LEN ? (size_t)ld->size : MAGIC_LEN;
    if (!grt_bytes_equal(ld->blob, grt_magic, magic_len))
        return fail(ld, GRT_E_MAGIC, "header.magic", -1);
    if (ld->size < GRT_HEADER_SIZE)
        return fail_values(ld, GRT_E_TRUNCATED, "blob.size", -1, ld->size, GRT_HEADER_SIZE);
    uint16_t major = grt_rd_u16(ld->blob + H_VERSION_MAJOR);
    if (major != GRT_VERSION_MAJOR)
        return fail_values(ld, GRT_E_VERSION, "header.version_major", -1, major, GRT_VERSION_MAJOR);
    if (hdr(ld, H_HEADER_SIZE) != GRT_HEADER_SIZE)
        return fail_values(ld, GRT_E_HEADER, "header.header_size", -1, hdr(ld, H_HEADER_SIZE),
                           GRT_HEADER_SIZE);
    uint32_t flags = hdr(ld, H_FLAGS);
    uint32_t known = GRT_FILE_INPUT_MASK | GRT_FILE_NAMED_INPUTS;
    if ((flags & ~known) != 0)
        return fail_values(ld, GRT_E_HEADER, "header.flags", -1, flags, flags & known);
    if (!GRT_HAS_MASK && (flags & GRT_FILE_INPUT_MASK))
        return fail_values(ld, GRT_E_HEADER, "header.flags (GRT_NO_MASK)", -1, flags, flags & ~GRT_FILE_INPUT_MASK);
    if (!(flags & GRT_FILE_INPUT_MASK) && hdr(ld, H_RESERVED) != 0)
        return fail_values(ld, GRT_E_HEADER, "header.reserved", -1, hdr(ld, H_RESERVED), 0);
    /* The mask value (1.4): any float32 but a NaN, which no input equals. */
    if ((flags & GRT_FILE_INPUT_MASK) && (hdr(ld, H_RESERVED) & 0x7fffffffu) > 0x7f800000u)
        return fail_values(ld, GRT_E_HEADER, "header.mask_value", -1, hdr(ld, H_RESERVED), 0);
    uint32_t file_size = hdr(ld, H_FILE_SIZE);
    if (ld->size < file_size)
        return fail_values(ld, GRT_E_TRUNCATED, "blob.size", -1, ld->size, file_size);
    if (ld->size > file_size)
        return fail_values(ld, GRT_E_FILE_SIZE, "blob.size", -1, ld->size, file_size);
    return GRT_OK;
}

/* CRC-32 of the whole file with the checksum field taken as zero. */
static uint32_t file_crc(const loader *ld)
{
    static const uint8_t zeros[4] = {0, 0, 0, 0};
    uint32_t crc = grt_crc32(0, ld->blob, H_CHECKSUM);
    crc = grt_crc32(crc, zeros, sizeof zeros);
    return grt_crc32(crc, ld->blob + H_CHECKSUM + 4, (size_t)(ld->size - (H_CHECKSUM + 4)));
}

static grt_status check_counts(loader *ld)
{
    uint32_t n_layers = hdr(ld, H_N_LAYERS), n_tensors = hdr(ld, H_N_TENSORS);
    if (n_layers == 0 || n_layers > GRT_MAX_LAYERS)
        return fail_values(ld, GRT_E_LAYER_COUNT, "header.n_layers", -1, n_layers,
                           n_layers == 0 ? 1 : GRT_MAX_LAYERS);
    if (n_tensors == 0 || n_tensors > GRT_MAX_TENSORS)
        return fail_values(ld, GRT_E_TENSOR_COUNT, "header.n_tensors", -1, n_tensors,
                           n_tensors == 0 ? 1 : GRT_MAX_TENSORS);
    return GRT_OK;
}

static grt_status expect_field(loader *ld, unsigned offset, const char *field, uint64_t expected)
{
    uint32_t actual = hdr(ld, offset);
    if (actual != expected)
        return fail_values(ld, GRT_E_LAYOUT, field, -1, actual, expected);
    return GRT_OK;
}

/* Every stated offset must be the one the counts give, and every region must lie inside the file.
 * Counts are bounded (checked above), so the sums below are < 2^33. */
static grt_status check_layout(loader *ld)
{
    grt_status st;
    uint64_t n_layers = hdr(ld, H_N_LAYERS), n_tensors = hdr(ld, H_N_TENSORS);
    uint64_t tensor_table = GRT_HEADER_SIZE + GRT_LAYER_ENTRY_SIZE * n_layers;
    uint64_t meta_offset = tensor_table + GRT_TENSOR_ENTRY_SIZE * n_tensors;
    if ((st = expect_field(ld, H_LAYER_TABLE, "header.layer_table_offset", GRT_HEADER_SIZE)) ||
        (st = expect_field(ld, H_TENSOR_TABLE, "header.tensor_table_offset", tensor_table)) ||
        (st = expect_field(ld, H_META_OFFSET, "header.meta_offset", meta_offset)))
        return st;
    uint64_t meta_size = hdr(ld, H_META_SIZE);
    if (meta_size < 4)
        return fail_values(ld, GRT_E_LAYOUT, "header.meta_size", -1, meta_size, 4);
    uint64_t meta_end = meta_offset + meta_size;
    if (meta_end > ld->size)
        return fail_values(ld, GRT_E_LAYOUT, "header.meta_size", -1, meta_end, ld->size);
    uint64_t data_offset = grt_round_up64(meta_end);
    if ((st = expect_field(ld, H_DATA_OFFSET, "header.data_offset", data_offset)))
        return st;
    if (data_offset > ld->size)
        return fail_values(ld, GRT_E_LAYOUT, "header.data_offset", -1, data_offset, ld->size);
    return expect_field(ld, H_DATA_SIZE, "header.data_size", ld->size - data_offset);
}

/* Bytes [begin, end) must be zero; index names the tensor the padding follows (-1: none). */
static grt_status check_zero(loader *ld, uint64_t begin, uint64_t end, const char *field, int64_t index)
{
    for (uint64_t i = begin; i < end; i++)
        if (ld->blob[i] != 0)
            return fail_values(ld, GRT_E_PADDING, field, index, ld->blob[i], 0);
    return GRT_OK;
}

/* ---- layers ------------------------------------------------------------------------------------- */

enum {
    L_KIND = 0, L_PRECISION = 1, L_ACTIVATION = 2, L_GATE = 3, L_RESET_AFTER = 4, L_WEIGHT_LAYOUT = 5,
    L_DIRECTION = 6, L_MERGE = 7, L_INPUT = 8, L_OUTPUT = 12, L_FIRST_TENSOR = 16, L_N_TENSORS = 20, L_PARAM = 24,
    L_RESERVED32 = 28,
    /* Conv1D (1.4): byte 4 (reset_after of a GRU) is `depthwise`; the u32 at 28 holds kernel_size (u16)
     * and dilation (u16) */
    L_DEPTHWISE = 4, L_KERNEL = 28, L_DILATION = 30
};

/* GRU candidate, LSTM g and c activation */
static int gru_activation_ok(unsigned a)
{
    return a == GRT_ACT_TANH || a == GRT_ACT_RELU;
}

static int gate_activation_ok(unsigned a)
{
    return a == GRT_ACT_SIGMOID || a == GRT_ACT_HARD_SIGMOID || a == GRT_ACT_HARD_SIGMOID_K2;
}

/* Dense: the original five, and (1.3) the float-only ones, which q15 has no table for. */
static int dense_activation_ok(unsigned a, unsigned precision)
{
    return a <= GRT_ACT_SOFTMAX || (a >= GRT_ACT_LEAKY_RELU && a < GRT_ACT_COUNT && precision != GRT_PREC_Q15);
}

#define NORM_EPS_1E5_BITS 0x3727C5ACu /* 1e-5 as float32 bits: the expected value a bad eps reports */

/* Activations whose parameter is the layer entry's param field (the float32 bits of alpha). */
static int has_act_param(unsigned kind, unsigned act)
{
    return (kind == GRT_LAYER_DENSE || kind == GRT_LAYER_CONV1D) && (act == GRT_ACT_LEAKY_RELU || act == GRT_ACT_ELU);
}

static grt_status check_activations(loader *ld, const uint8_t *e, int64_t i)
{
    unsigned act = e[L_ACTIVATION], gate = e[L_GATE];
    if (e[L_KIND] == GRT_LAYER_GRU || e[L_KIND] == GRT_LAYER_LSTM) {
        if (!gru_activation_ok(act))
            return fail_values(ld, GRT_E_ACTIVATION, "layer.activation", i, act, GRT_ACT_TANH);
        if (!gate_activation_ok(gate))
            return fail_values(ld, GRT_E_ACTIVATION, "layer.gate_activation", i, gate, GRT_ACT_SIGMOID);
    } else if (e[L_KIND] == GRT_LAYER_NORM || e[L_KIND] == GRT_LAYER_EMBEDDING
                   ? act != GRT_ACT_LINEAR
                   : !dense_activation_ok(act, e[L_PRECISION])) {
        /* Dense, and Conv1D (the same set) */
        return fail_values(ld, GRT_E_ACTIVATION, "layer.activation", i, act, GRT_ACT_LINEAR);
    }
    return GRT_OK;
}

/* panel8 is an f32 layout; a GRU's or LSTM's gate blocks (H rows each) must start on panel boundaries */
static int layout_ok(unsigned layout, unsigned kind, unsigned precision, uint32_t output_size)
{
    if (layout == GRT_LAYOUT_PANEL8) /* not Conv1D: its products are row-major only */
        return precision == GRT_PREC_F32 &&
               (kind == GRT_LAYER_DENSE ||
                ((kind == GRT_LAYER_GRU || kind == GRT_LAYER_LSTM) && output_size % GRT_PANEL_ROWS == 0));
    return layout == GRT_LAYOUT_ROW_MAJOR;
}

/* 1.4: a GRU's direction (0..2) and, when bidirectional, its merge (1..4; q15 has no sum, whose
 * Q15 result could leave [-1, 1]; concat needs an even output_size, 2H); Dense: both 0. */
static grt_status check_direction(loader *ld, const uint8_t *e, int64_t i)
{
    unsigned dir = e[L_DIRECTION], merge = e[L_MERGE], gru = e[L_KIND] == GRT_LAYER_GRU;
    if (dir > (gru ? (unsigned)GRT_DIR_BIDIRECTIONAL : 0u))
        return fail_values(ld, GRT_E_LAYER_FIELD, "layer.direction", i, dir, GRT_DIR_FORWARD);
    if (!GRT_HAS_BIDIR && dir != GRT_DIR_FORWARD)
        return fail_values(ld, GRT_E_LAYER_FIELD, "layer.direction (GRT_NO_BIDIR)", i, dir, GRT_DIR_FORWARD);
    if (dir != GRT_DIR_BIDIRECTIONAL) {
        if (merge != GRT_MERGE_NONE)
            return fail_values(ld, GRT_E_LAYER_FIELD, "layer.merge", i, merge, GRT_MERGE_NONE);
        return GRT_OK;
    }
    if (merge < GRT_MERGE_CONCAT || merge > GRT_MERGE_MUL ||
        (merge == GRT_MERGE_SUM && e[L_PRECISION] == GRT_PREC_Q15))
        return fail_values(ld, GRT_E_LAYER_FIELD, "layer.merge", i, merge, GRT_MERGE_CONCAT);
    uint32_t out = grt_rd_u32(e + L_OUTPUT);
    if (merge == GRT_MERGE_CONCAT && out % 2u != 0)
        return fail_values(ld, GRT_E_DIMS, "layer.output_size", i, out, out + 1u);
    return GRT_OK;
}

static grt_status check_layer_fields(loader *ld, const uint8_t *e, int64_t i)
{
    grt_status st;
    int conv = e[L_KIND] == GRT_LAYER_CONV1D;
    unsigned reset_after_max = e[L_KIND] == GRT_LAYER_GRU || conv ? 1u : 0u; /* Conv1D: depthwise 0 or 1 */
    if (e[L_KIND] != GRT_LAYER_GRU && e[L_KIND] != GRT_LAYER_LSTM && e[L_GATE] != 0)
        return fail_values(ld, GRT_E_LAYER_FIELD, "layer.gate_activation", i, e[L_GATE], 0);
    if (e[L_RESET_AFTER] > reset_after_max)
        return fail_values(ld, GRT_E_LAYER_FIELD, conv ? "layer.depthwise" : "layer.reset_after", i,
                           e[L_RESET_AFTER], 0);
    unsigned layout = e[L_WEIGHT_LAYOUT];
    if (!layout_ok(layout, e[L_KIND], e[L_PRECISION], grt_rd_u32(e + L_OUTPUT)))
        return fail_values(ld, GRT_E_LAYER_FIELD, "layer.weight_layout", i, layout, GRT_LAYOUT_ROW_MAJOR);
    if ((st = check_direction(ld, e, i)))
        return st;
    uint32_t param = grt_rd_u32(e + L_PARAM);
    if (e[L_KIND] == GRT_LAYER_NORM) {
        /* f32/q8: eps a positive normal float32 (so var + eps > 0 and its rsqrt is finite); q15: any
         * integer (docs/QUANTIZATION.md) */
        uint32_t exponent = (param >> 23) & 255u;
        if (e[L_PRECISION] != GRT_PREC_Q15 && ((param >> 31) != 0 || exponent == 0 || exponent == 255))
            return fail_values(ld, GRT_E_LAYER_FIELD, "layer.param", i, param, NORM_EPS_1E5_BITS);
    } else if (e[L_KIND] == GRT_LAYER_LSTM && e[L_PRECISION] == GRT_PREC_Q15) {
        /* 1.5: the cell state's integer bits p (c = c_q·2^(p−15)); p <= 14 keeps c in Q16 within ±2^30 */
        if (param > GRT_Q15_LSTM_MAX_CELL_BITS)
            return fail_values(ld, GRT_E_LAYER_FIELD, "layer.param", i, param, GRT_Q15_LSTM_MAX_CELL_BITS);
    } else if (e[L_KIND] == GRT_LAYER_EMBEDDING) {
        /* the vocabulary: every id exact as a float32 input, or as an int16 input for q15 */
        uint32_t max = e[L_PRECISION] == GRT_PREC_Q15 ? GRT_MAX_VOCAB_Q15 : GRT_MAX_VOCAB;
        if (param == 0 || param > max)
            return fail_values(ld, GRT_E_LAYER_FIELD, "layer.vocab_size", i, param, param == 0 ? 1 : max);
    } else if (has_act_param(e[L_KIND], e[L_ACTIVATION])) {
        if ((param & 0x7F800000u) == 0x7F800000u) /* alpha must be finite */
            return fail_values(ld, GRT_E_LAYER_FIELD, "layer.param", i, param, 0);
    } else if (param != 0) {
        return fail_values(ld, GRT_E_LAYER_FIELD, "layer.param", i, param, 0);
    }
    if (conv) {
        if (grt_rd_u16(e + L_KERNEL) == 0)
            return fail_values(ld, GRT_E_LAYER_FIELD, "layer.kernel_size", i, 0, 1);
        if (grt_rd_u16(e + L_DILATION) == 0)
            return fail_values(ld, GRT_E_LAYER_FIELD, "layer.dilation", i, 0, 1);
    } else if (grt_rd_u32(e + L_RESERVED32) != 0) {
        return fail_values(ld, GRT_E_LAYER_FIELD, "layer.reserved", i, grt_rd_u32(e + L_RESERVED32), 0);
    }
    return GRT_OK;
}

/* A Conv1D layer's sizes (dims already in range): depthwise output_size = m·input_size; the product's
 * columns k·I within GRT_MAX_DIM; the window (k − 1)·d·I within GRT_MAX_CONV_WINDOW. All < 2^48. */
static grt_status check_conv(loader *ld, const grt_layer *L, int64_t i)
{
    uint64_t cols = (uint64_t)L->kernel_size * L->input_size;
    if (L->depthwise && L->output_size % L->input_size != 0)
        return fail_values(ld, GRT_E_DIMS, "layer.output_size", i, L->output_size,
                           (L->output_size / L->input_size + 1) * (uint64_t)L->input_size);
    if (cols > GRT_MAX_DIM)
        return fail_values(ld, GRT_E_DIMS, "layer.kernel_size", i, L->kernel_size, GRT_MAX_DIM / L->input_size);
    if (dim_value(DIM_CONV_WINDOW, L) > GRT_MAX_CONV_WINDOW)
        return fail_values(ld, GRT_E_LAYER_FIELD, "layer.dilation", i, L->dilation,
                           GRT_MAX_CONV_WINDOW / ((uint64_t)(L->kernel_size - 1u) * L->input_size));
    return GRT_OK;
}

static grt_status check_dim(loader *ld, uint32_t v, const char *field, int64_t i)
{
    if (v == 0 || v > GRT_MAX_DIM)
        return fail_values(ld, GRT_E_DIMS, field, i, v, v == 0 ? 1 : GRT_MAX_DIM);
    return GRT_OK;
}

/* Layer i: checks its table entry (given the layer before it) and fills model->layers[i] except the
 * tensor pointers. *next_tensor is where its tensors must start; it is advanced past them. */
static grt_status check_layer(loader *ld, grt_model *m, uint32_t i, uint32_t *next_tensor)
{
    const uint8_t *e = ld->blob + GRT_HEADER_SIZE + (size_t)i * GRT_LAYER_ENTRY_SIZE;
    grt_layer *L = &m->layers[i];
    grt_status st;
    if (!known_kind(e[L_KIND]))
        return fail_values(ld, GRT_E_LAYER_KIND, dropped_kind(e[L_KIND]) ? dropped_kind(e[L_KIND]) : "layer.kind", i,
                           e[L_KIND], GRT_LAYER_GRU);
    const layer_recipe *recipe = find_recipe(e[L_KIND], e[L_PRECISION]);
    if (recipe == NULL)
        return fail_values(ld, GRT_E_PRECISION, "layer.precision", i, e[L_PRECISION],
                           recipes[0].precision);
    if ((st = check_activations(ld, e, i)) || (st = check_layer_fields(ld, e, i)))
        return st;
    /* after the direction check: a bidirectional GRU stores its recipe twice */
    uint32_t n_tensors = grt_rd_u32(e + L_N_TENSORS);
    uint32_t want_tensors = recipe->n_tensors * (e[L_DIRECTION] == GRT_DIR_BIDIRECTIONAL ? 2u : 1u);
    if (n_tensors != want_tensors)
        return fail_values(ld, GRT_E_TENSOR_COUNT, "layer.n_tensors", i, n_tensors, want_tensors);
    uint32_t in = grt_rd_u32(e + L_INPUT), out = grt_rd_u32(e + L_OUTPUT);
    if ((st = check_dim(ld, in, "layer.input_size", i)) || (st = check_dim(ld, out, "layer.output_size", i)))
        return st;
    if (e[L_KIND] == GRT_LAYER_NORM && out != in) /* a LayerNorm keeps the width */
        return fail_values(ld, GRT_E_DIMS, "layer.output_size", i, out, in);
    if (e[L_KIND] == GRT_LAYER_EMBEDDING) { /* 1.5: the model's input, one token id per step */
        if (i > 0)
            return fail(ld, GRT_E_LAYER_KIND, "layer.kind (Embedding not the first layer)", i);
        if (in != 1)
            return fail_values(ld, GRT_E_DIMS, "layer.input_size", i, in, 1);
    }
    if (i > 0 && in != m->layers[i - 1].output_size)
        return fail_values(ld, GRT_E_CHAIN, "layer.input_size", i, in, m->layers[i - 1].output_size);
    uint32_t first = grt_rd_u32(e + L_FIRST_TENSOR);
    if (first != *next_tensor)
        return fail_values(ld, GRT_E_CHAIN, "layer.first_tensor", i, first, *next_tensor);
    *next_tensor += n_tensors; /* <= 32 layers x 16 tensors: no overflow */

    L->kind = e[L_KIND];
    L->precision = e[L_PRECISION];
    L->activation = e[L_ACTIVATION];
    L->gate_activation = e[L_GATE];
    L->reset_after = e[L_RESET_AFTER];
    L->weight_layout = e[L_WEIGHT_LAYOUT];
    L->direction = e[L_DIRECTION];
    L->merge = e[L_MERGE];
    L->input_size = in;
    L->output_size = out;
    L->first_tensor = first;
    L->n_tensors = n_tensors;
    L->act_param = grt_rd_u32(e + L_PARAM);
    L->kernel_size = 1;
    L->dilation = 1;
    L->vocab_size = L->kind == GRT_LAYER_EMBEDDING ? L->act_param : 0;
    if (L->kind == GRT_LAYER_CONV1D) {
        L->depthwise = e[L_DEPTHWISE];
        L->reset_after = 0;
        L->kernel_size = grt_rd_u16(e + L_KERNEL);
        L->dilation = grt_rd_u16(e + L_DILATION);
        return check_conv(ld, L, i);
    }
    return GRT_OK;
}

/* ---- tensors ------------------------------------------------------------------------------------ */

enum { T_ROLE = 0, T_DTYPE = 1, T_RESERVED16 = 2, T_LAYER = 4, T_ROWS = 8, T_COLS = 12, T_OFFSET = 16,
       T_NBYTES = 20, T_RESERVED_A = 24, T_RESERVED_B = 28 };

/* The data of tensor k of a blob whose tensor table has been checked. */
static const uint8_t *tensor_data(const uint8_t *blob, uint32_t k)
{
    const uint8_t *e = blob + grt_rd_u32(blob + H_TENSOR_TABLE) + (size_t)k * GRT_TENSOR_ENTRY_SIZE;
    return blob + grt_rd_u32(blob + H_DATA_OFFSET) + grt_rd_u32(e + T_OFFSET);
}

/* The lanes of a panel8 matrix's last panel past its rows hold zero bytes (like all padding). */
static grt_status check_panel_padding(loader *ld, const uint8_t *w, uint64_t rows, uint64_t cols, int64_t k)
{
    uint64_t lanes = rows % GRT_PANEL_ROWS, last = rows / GRT_PANEL_ROWS * GRT_PANEL_ROWS * cols;
    if (lanes == 0)
        return GRT_OK;
    for (uint64_t c = 0; c < cols; c++) {
        const uint8_t *pad = w + (size_t)(4 * (last + c * GRT_PANEL_ROWS + lanes));
        if (grt_has_nonzero_byte(pad, (size_t)(4 * (GRT_PANEL_ROWS - lanes))))
            return fail(ld, GRT_E_PADDING, "tensor.panel_padding", k);
    }
    return GRT_OK;
}

/* Tensor k, the j-th of layer li: role, owner, dtype, reserved fields, shape, offset. *end is the end
 * of the previous tensor relative to data_offset; it is advanced past this one. */
static grt_status check_tensor(loader *ld, grt_model *m, uint32_t li, uint32_t j, uint64_t *end)
{
    grt_layer *L = &m->layers[li];
    const layer_recipe *recipe = find_recipe(L->kind, L->precision);
    const tensor_rule *rule = &recipe->tensors[j % recipe->n_tensors]; /* the backward set repeats it */
    uint32_t k = L->first_tensor + j;
    const uint8_t *e = ld->blob + hdr(ld, H_TENSOR_TABLE) + (size_t)k * GRT_TENSOR_ENTRY_SIZE;
    if (e[T_ROLE] != rule->role)
        return fail_values(ld, GRT_E_TENSOR_ROLE, "tensor.role", k, e[T_ROLE], rule->role);
    if (grt_rd_u32(e + T_LAYER) != li)
        return fail_values(ld, GRT_E_TENSOR_ROLE, "tensor.layer", k, grt_rd_u32(e + T_LAYER), li);
    if (e[T_DTYPE] != rule->dtype)
        return fail_values(ld, GRT_E_TENSOR_DTYPE, "tensor.dtype", k, e[T_DTYPE], rule->dtype);
    if (grt_rd_u16(e + T_RESERVED16) != 0 || grt_rd_u32(e + T_RESERVED_A) != 0 ||
        grt_rd_u32(e + T_RESERVED_B) != 0)
        return fail(ld, GRT_E_LAYER_FIELD, "tensor.reserved", k);

    uint64_t rows = grt_rd_u32(e + T_ROWS), cols = grt_rd_u32(e + T_COLS), nbytes = grt_rd_u32(e + T_NBYTES);
    grt_tensor_info want = tensor_info(L, rule);
    if (rows != want.rows)
        return fail_values(ld, GRT_E_TENSOR_SHAPE, "tensor.rows", k, rows, want.rows);
    if (cols != want.cols)
        return fail_values(ld, GRT_E_TENSOR_SHAPE, "tensor.cols", k, cols, want.cols);
    uint64_t want_bytes = tensor_bytes(L, rule);
    if (nbytes != want_bytes)
        return fail_values(ld, GRT_E_TENSOR_SHAPE, "tensor.nbytes", k, nbytes, want_bytes);

    uint64_t offset = grt_rd_u32(e + T_OFFSET);
    uint64_t want_offset = grt_round_up64(*end);
    if (offset % GRT_ALIGN != 0)
        return fail_values(ld, GRT_E_TENSOR_ALIGN, "tensor.offset", k, offset, want_offset);
    if (offset != want_offset)
        return fail_values(ld, GRT_E_TENSOR_OFFSET, "tensor.offset", k, offset, want_offset);
    uint64_t data_size = hdr(ld, H_DATA_SIZE);
    if (offset + nbytes > data_size)
        return fail_values(ld, GRT_E_TENSOR_OFFSET, "tensor.nbytes", k, offset + nbytes, data_size);

    uint64_t data_offset = hdr(ld, H_DATA_OFFSET);
    grt_status st = check_zero(ld, data_offset + *end, data_offset + offset, "padding.data", (int64_t)k - 1);
    if (st)
        return st;
    if (want.layout == GRT_LAYOUT_PANEL8 &&
        (st = check_panel_padding(ld, ld->blob + data_offset + offset, rows, cols, (int64_t)k)))
        return st;
    if (j < recipe->n_tensors) /* the forward (or only) set; grt_layer_direction finds the backward one */
        L->tensor[rule->role] = ld->blob + data_offset + offset;
    *end = offset + nbytes;
    return GRT_OK;
}

/* All tensors in table order, then: the data section ends at the last tensor rounded up to 64, and the
 * bytes after it are zero. */
static grt_status check_tensors(loader *ld, grt_model *m)
{
    uint64_t end = 0;
    grt_status st;
    for (uint32_t li = 0; li < m->n_layers; li++)
        for (uint32_t j = 0; j < m->layers[li].n_tensors; j++)
            if ((st = check_tensor(ld, m, li, j, &end)))
                return st;
    uint64_t data_size = hdr(ld, H_DATA_SIZE), data_offset = hdr(ld, H_DATA_OFFSET);
    if (data_size != grt_round_up64(end))
        return fail_values(ld, GRT_E_LAYOUT, "header.data_size", -1, data_size, grt_round_up64(end));
    return check_zero(ld, data_offset + end, data_offset + data_size, "padding.data",
                      (int64_t)m->n_tensors - 1);
}

/* ---- metadata ----------------------------------------------------------------------------------- */

/* Does an entry before cur (all already validated) have this key? */
static int key_repeats(const uint8_t *first, const uint8_t *cur, const uint8_t *key, uint32_t key_len)
{
    for (const uint8_t *p = first; p < cur;) {
        uint32_t klen = grt_rd_u32(p), vlen = grt_rd_u32(p + 4);
        if (klen == key_len && grt_bytes_equal(p + META_ENTRY_HEADER, key, key_len))
            return 1;
        p += META_ENTRY_HEADER + (size_t)klen + vlen;
    }
    return 0;
}

static grt_status check_metadata(loader *ld, grt_model *m)
{
    const uint8_t *meta = ld->blob + hdr(ld, H_META_OFFSET);
    uint64_t size = hdr(ld, H_META_SIZE) - 4u, pos = 0; /* meta_size >= 4 checked in layout */
    const uint8_t *entries = meta + 4;
    uint32_t count = grt_rd_u32(meta);
    /* Each entry takes at least 9 bytes (8 of lengths, a key of >= 1 byte); the cap bounds the O(n²)
     * duplicate-key search. */
    uint64_t max_count = size / (META_ENTRY_HEADER + 1);
    max_count = max_count < GRT_MAX_META_ENTRIES ? max_count : GRT_MAX_META_ENTRIES;
    if (count > max_count)
        return fail_values(ld, GRT_E_METADATA, "meta.count", -1, count, max_count);
    for (uint32_t i = 0; i < count; i++) {
        if (size - pos < META_ENTRY_HEADER)
            return fail_values(ld, GRT_E_METADATA, "meta.entry", i, pos + META_ENTRY_HEADER, size);
        const uint8_t *e = entries + pos;
        uint64_t klen = grt_rd_u32(e), vlen = grt_rd_u32(e + 4);
        if (klen == 0 || klen > GRT_MAX_META_KEY)
            return fail_values(ld, GRT_E_METADATA, "meta.key_len", i, klen, klen == 0 ? 1 : GRT_MAX_META_KEY);
        if (vlen > GRT_MAX_META_VALUE)
            return fail_values(ld, GRT_E_METADATA, "meta.value_len", i, vlen, GRT_MAX_META_VALUE);
        pos += META_ENTRY_HEADER;
        if (klen + vlen > size - pos)
            return fail_values(ld, GRT_E_METADATA, "meta.value_len", i, pos + klen + vlen, size);
        const uint8_t *key = entries + pos, *value = key + klen;
        if (grt_has_zero_byte(key, (size_t)klen))
            return fail(ld, GRT_E_METADATA, "meta.key", i);
        if (grt_has_zero_byte(value, (size_t)vlen))
            return fail(ld, GRT_E_METADATA, "meta.value", i);
        if (key_repeats(entries, e, key, (uint32_t)klen))
            return fail(ld, GRT_E_METADATA, "meta.key", i);
        pos += klen + vlen;
    }
    if (pos != size)
        return fail_values(ld, GRT_E_METADATA, "meta.size", -1, pos + 4, size + 4);
    m->meta_count = count;
    m->meta = entries;
    m->meta_size = (uint32_t)size;
    return GRT_OK;
}

/* ---- named inputs (1.4) ------------------------------------------------------------------------ */

/* With header flag GRT_FILE_NAMED_INPUTS, the metadata entry "model.inputs" (checked metadata) must
 * exist and name inputs whose widths sum to layer 0's input_size (grt_inputs.c). Without the flag the
 * model has no named inputs, whatever its metadata holds. */
static grt_status check_inputs(loader *ld, grt_model *m)
{
    if (!(hdr(ld, H_FLAGS) & GRT_FILE_NAMED_INPUTS))
        return GRT_OK;
    const uint8_t *p = m->meta;
    for (uint32_t i = 0; i < m->meta_count; i++) {
        uint32_t klen = grt_rd_u32(p), vlen = grt_rd_u32(p + 4);
        const uint8_t *key = p + META_ENTRY_HEADER;
        if (klen == GRT_INPUTS_KEY_LEN && grt_bytes_equal(key, (const uint8_t *)GRT_INPUTS_KEY, klen)) {
            grt_inputs_error bad;
            grt_status st = grt_inputs_check(key + klen, vlen, m->layers[0].input_size, &m->n_inputs, &bad);
            if (st == GRT_OK) {
                m->inputs = key + klen;
                m->inputs_len = vlen;
                return GRT_OK;
            }
            return bad.has_values ? fail_values(ld, st, bad.field, bad.index, bad.actual, bad.expected)
                                  : fail(ld, st, bad.field, bad.index);
        }
        p += META_ENTRY_HEADER + (size_t)klen + vlen;
    }
    return fail(ld, GRT_E_METADATA, "inputs.record", -1); /* the flag is set, the entry missing */
}

/* ---- values ------------------------------------------------------------------------------------
 * Rules on the contents of a structurally valid file (docs/QUANTIZATION.md), on integer bits only:
 *   - a model with a q15 layer has only q15 layers (GRT_E_PRECISION, layer.precision);
 *   - a q15 GRU's candidate activation is tanh (GRT_E_ACTIVATION, layer.activation);
 *   - bf16 row-scale codes: q8 sign 0 and exponent != 255; q15 code 0, or sign 0 and
 *     72 <= exponent <= 134 (GRT_E_TENSOR_VALUE, tensor.value);
 *   - q15 in_scale/out_scale: sign 0, exponent 1..254 (positive, finite, normal); out_scale exactly
 *     2^-15 (0x38000000) for a GRU and for a Dense sigmoid/tanh/softmax/hard sigmoid output
 *     (GRT_E_TENSOR_VALUE, tensor.value);
 *   - q15 layer l > 0: in_scale equals layer l-1's out_scale bit for bit (GRT_E_CHAIN, tensor.in_scale).
 *   - a q15 Embedding's in_scale is exactly 1 (0x3F800000; GRT_E_TENSOR_VALUE, tensor.value, 1.5).
 * A value failure reports the tensor index, actual = the offending code/bits and expected = the nearest
 * allowed one in the sense "sign cleared, exponent field clamped into its range, mantissa kept" (0 for
 * a q15 code whose magnitude bits are 0; 0x38000000 where 2^-15 is required). */

#define Q15_UNIT_BITS 0x38000000u /* 2^-15 as float32 bits */
#define Q15_ID_UNIT_BITS 0x3F800000u /* 1 as float32 bits: an Embedding's in_scale (1.5) */

/* The nearest allowed bf16 code (see above); equal to the code iff it is allowed. */
static uint16_t nearest_scale_code(unsigned precision, uint16_t code)
{
    unsigned mag = code & 0x7FFFu, e = mag >> 7, mant = mag & 127u;
    if (precision == GRT_PREC_Q8)
        return (uint16_t)(e == 255u ? (254u << 7) | mant : mag);
    if (mag == 0)
        return 0;
    e = e < 72u ? 72u : e > 134u ? 134u : e;
    return (uint16_t)((e << 7) | mant);
}

/* The nearest positive normal float32 (bits); equal to bits iff they are one. */
static uint32_t nearest_q15_scale(uint32_t bits)
{
    uint32_t e = (bits >> 23) & 255u, mant = bits & 0x7FFFFFu;
    e = e < 1u ? 1u : e > 254u ? 254u : e;
    return (e << 23) | mant;
}

/* Must this layer's out_scale be 2^-15 (Q15 outputs)? */
static int q15_unit_output(const grt_layer *L)
{
    switch (L->kind == GRT_LAYER_GRU ? GRT_ACT_TANH : L->activation) {
    case GRT_ACT_SIGMOID:
    case GRT_ACT_TANH:
    case GRT_ACT_SOFTMAX:
    case GRT_ACT_HARD_SIGMOID:
    case GRT_ACT_HARD_SIGMOID_K2: return 1;
    default: return 0; /* linear, relu: output units of their own */
    }
}

/* Tensor k (rule, data p) of layer L: its values against the rules above. */
static grt_status check_tensor_values(loader *ld, const grt_layer *L, const tensor_rule *rule,
                                      const uint8_t *p, uint32_t k)
{
    uint64_t n = dim_value(rule->rows, L) * dim_value(rule->cols, L);
    if (rule->dtype == GRT_DTYPE_BF16) {
        for (uint64_t e = 0; e < n; e++) {
            uint16_t code = grt_rd_u16(p + 2 * e), want = nearest_scale_code(L->precision, code);
            if (code != want)
                return fail_values(ld, GRT_E_TENSOR_VALUE, "tensor.value", k, code, want);
        }
    } else if (L->precision == GRT_PREC_Q15 &&
               (rule->role == GRT_ROLE_IN_SCALE || rule->role == GRT_ROLE_OUT_SCALE)) {
        int unit = rule->role == GRT_ROLE_OUT_SCALE && q15_unit_output(L);
        /* an Embedding's input is the token id itself: in_scale 1 (1.5) */
        int id_unit = rule->role == GRT_ROLE_IN_SCALE && L->kind == GRT_LAYER_EMBEDDING;
        for (uint64_t e = 0; e < n; e++) {
            uint32_t bits = grt_rd_u32(p + 4 * e);
            uint32_t want = id_unit ? Q15_ID_UNIT_BITS : unit ? Q15_UNIT_BITS : nearest_q15_scale(bits);
            if (bits != want)
                return fail_values(ld, GRT_E_TENSOR_VALUE, "tensor.value", k, bits, want);
        }
    }
    return GRT_OK;
}

/* A q15 LayerNorm averages its inputs, so they share one unit: every in_scale value equals the first. */
static grt_status check_norm_in_scale(loader *ld, const grt_layer *L, uint32_t in_scale_index)
{
    if (L->kind != GRT_LAYER_NORM || L->precision != GRT_PREC_Q15)
        return GRT_OK;
    const uint8_t *in = L->tensor[GRT_ROLE_IN_SCALE];
    for (uint32_t e = 1; e < L->input_size; e++)
        if (grt_rd_u32(in + 4 * e) != grt_rd_u32(in))
            return fail_values(ld, GRT_E_TENSOR_VALUE, "tensor.value", in_scale_index, grt_rd_u32(in + 4 * e),
                               grt_rd_u32(in));
    return GRT_OK;
}

/* Layer i > 0 of a q15 model, one direction's in_scale (tensor in_index): equal to the previous layer's
 * output scales bit for bit (a bidirectional concat layer's outputs are its two directions' in turn,
 * each with the out_scale of its set, all 2^-15). */
static grt_status check_q15_chain(loader *ld, const grt_model *m, uint32_t i, uint32_t in_index)
{
    const grt_layer *L = &m->layers[i], *P = &m->layers[i - 1];
    const uint8_t *in = tensor_data(ld->blob, in_index), *prev = P->tensor[GRT_ROLE_OUT_SCALE];
    uint64_t units = layer_units(P);
    for (uint32_t e = 0; e < L->input_size; e++) /* == P->output_size */
        if (grt_rd_u32(in + 4 * e) != grt_rd_u32(prev + 4 * (e % units)))
            return fail_values(ld, GRT_E_CHAIN, "tensor.in_scale", in_index, grt_rd_u32(in + 4 * e),
                               grt_rd_u32(prev + 4 * (e % units)));
    return GRT_OK;
}

/* The first layer's backward in_scale (tensor k; 1.4): the forward one's (tensor first) bit for bit,
 * as both directions read the same quantized input (later layers' are checked by the chain). */
static grt_status check_same_in_scale(loader *ld, const grt_layer *L, uint32_t first, uint32_t k)
{
    const uint8_t *in = tensor_data(ld->blob, k), *fwd = tensor_data(ld->blob, first);
    for (uint32_t e = 0; e < L->input_size; e++)
        if (grt_rd_u32(in + 4 * e) != grt_rd_u32(fwd + 4 * e))
            return fail_values(ld, GRT_E_CHAIN, "tensor.in_scale", k, grt_rd_u32(in + 4 * e),
                               grt_rd_u32(fwd + 4 * e));
    return GRT_OK;
}

static grt_status check_values(loader *ld, grt_model *m)
{
    grt_status st;
    int any_q15 = 0;
    for (uint32_t i = 0; i < m->n_layers; i++)
        any_q15 |= m->layers[i].precision == GRT_PREC_Q15;
    for (uint32_t i = 0; any_q15 && i < m->n_layers; i++)
        if (m->layers[i].precision != GRT_PREC_Q15)
            return fail_values(ld, GRT_E_PRECISION, "layer.precision", i, m->layers[i].precision,
                               GRT_PREC_Q15);
    for (uint32_t i = 0; i < m->n_layers; i++) {
        const grt_layer *L = &m->layers[i];
        const layer_recipe *recipe = find_recipe(L->kind, L->precision);
        if (L->precision == GRT_PREC_Q15 && (L->kind == GRT_LAYER_GRU || L->kind == GRT_LAYER_LSTM) &&
            L->activation != GRT_ACT_TANH)
            return fail_values(ld, GRT_E_ACTIVATION, "layer.activation", i, L->activation, GRT_ACT_TANH);
        uint32_t in_scale_index = 0;
        for (uint32_t j = 0; j < L->n_tensors; j++) { /* each direction's set (1.4) */
            const tensor_rule *rule = &recipe->tensors[j % recipe->n_tensors];
            uint32_t k = L->first_tensor + j;
            if (rule->role == GRT_ROLE_IN_SCALE && j < recipe->n_tensors)
                in_scale_index = k;
            if ((st = check_tensor_values(ld, L, rule, tensor_data(ld->blob, k), k)))
                return st;
            if (L->precision == GRT_PREC_Q15 && i > 0 && rule->role == GRT_ROLE_IN_SCALE &&
                (st = check_q15_chain(ld, m, i, k)))
                return st;
            if (L->precision == GRT_PREC_Q15 && i == 0 && rule->role == GRT_ROLE_IN_SCALE &&
                j >= recipe->n_tensors && (st = check_same_in_scale(ld, L, in_scale_index, k)))
                return st;
        }
        if ((st = check_norm_in_scale(ld, L, in_scale_index)))
            return st;
    }
    return GRT_OK;
}

/* An input mask (header flags bit 0) needs a recurrent layer (GRU or LSTM): a masked step is one that
 * keeps their states. */
static grt_status check_mask_layers(loader *ld, const grt_model *m)
{
    if (!(hdr(ld, H_FLAGS) & GRT_FILE_INPUT_MASK))
        return GRT_OK;
    for (uint32_t i = 0; i < m->n_layers; i++)
        if (m->layers[i].kind == GRT_LAYER_GRU || m->layers[i].kind == GRT_LAYER_LSTM)
            return GRT_OK;
    return fail_values(ld, GRT_E_HEADER, "header.flags", -1, hdr(ld, H_FLAGS), 0);
}

/* A Conv1D layer runs only in streams, one frame at a time: it cannot be in a model that needs
 * whole sequences (a reverse or bidirectional layer: grt_model_run only), nor in a model with an
 * input mask (its window would take in the masked frames). Either model could not run at all, or
 * would run wrong, so such a file is refused. */
static grt_status check_conv_context(loader *ld, const grt_model *m)
{
    int whole = 0;
    for (uint32_t i = 0; i < m->n_layers; i++)
        whole |= m->layers[i].direction != GRT_DIR_FORWARD;
    for (uint32_t i = 0; i < m->n_layers; i++) {
        if (m->layers[i].kind != GRT_LAYER_CONV1D)
            continue;
        if (whole)
            return fail(ld, GRT_E_LAYER_KIND, "layer.kind (Conv1D in a model with a reverse or "
                        "bidirectional layer)", i);
        if (hdr(ld, H_FLAGS) & GRT_FILE_INPUT_MASK)
            return fail(ld, GRT_E_LAYER_KIND, "layer.kind (Conv1D in a model with an input mask)", i);
    }
    return GRT_OK;
}

/* ---- the model ---------------------------------------------------------------------------------- */

/* Sizes the stream needs, from the validated layers. */
static void fill_model_sizes(grt_model *m)
{
    size_t state = 0, width = 0, gates = 0;
    for (uint32_t i = 0; i < m->n_layers; i++) {
        grt_layer *L = &m->layers[i];
        const layer_recipe *recipe = find_recipe(L->kind, L->precision);
        size_t layer_gates = (size_t)dim_value(recipe->gates, L);
        width = L->input_size > width ? L->input_size : width;
        width = L->output_size > width ? L->output_size : width;
        if (L->kind == GRT_LAYER_CONV1D) /* a window row (k·I): q8 quantizes it into the width regions */
            width = (size_t)L->kernel_size * L->input_size > width ? (size_t)L->kernel_size * L->input_size : width;
        gates = layer_gates > gates ? layer_gates : gates;
        L->state_offset = recipe->state != DIM_ZERO ? state : 0;
        state += (size_t)dim_value(recipe->state, L) * layer_directions(L);
        m->needs_future |= L->direction != GRT_DIR_FORWARD;
    }
    m->input_size = m->layers[0].input_size;
    m->output_size = m->layers[m->n_layers - 1].output_size;
    m->state_size = state;
    m->max_width = width;
    m->max_gates = gates;
    m->q15 = m->layers[0].precision == GRT_PREC_Q15; /* then every layer is (check_values) */
}

static grt_status load_checked(loader *ld, grt_model *m, unsigned flags)
{
    grt_status st;
    if ((st = check_header(ld)))
        return st;
    uint32_t stored_crc = hdr(ld, H_CHECKSUM);
    if (!(flags & GRT_LOAD_SKIP_CHECKSUM)) {
        uint32_t crc = file_crc(ld);
        if (crc != stored_crc)
            return fail_values(ld, GRT_E_CHECKSUM, "header.checksum", -1, stored_crc, crc);
        m->checksum_verified = 1;
    }
    if ((st = check_counts(ld)) || (st = check_layout(ld)))
        return st;
    uint64_t meta_end = (uint64_t)hdr(ld, H_META_OFFSET) + hdr(ld, H_META_SIZE);
    if ((st = check_zero(ld, meta_end, hdr(ld, H_DATA_OFFSET), "padding.meta", -1)))
        return st;

    m->n_layers = hdr(ld, H_N_LAYERS);
    m->n_tensors = hdr(ld, H_N_TENSORS);
    uint32_t next_tensor = 0;
    for (uint32_t i = 0; i < m->n_layers; i++)
        if ((st = check_layer(ld, m, i, &next_tensor)))
            return st;
    if (next_tensor != m->n_tensors)
        return fail_values(ld, GRT_E_TENSOR_COUNT, "header.n_tensors", -1, m->n_tensors, next_tensor);
    if ((st = check_tensors(ld, m)) || (st = check_metadata(ld, m)) || (st = check_inputs(ld, m)) ||
        (st = check_values(ld, m)))
        return st;
    if ((st = check_mask_layers(ld, m)))
        return st;
    if ((st = check_conv_context(ld, m)))
        return st;

    m->blob = ld->blob;
    m->size = (size_t)ld->size;
    m->version_major = grt_rd_u16(ld->blob + H_VERSION_MAJOR);
    m->version_minor = grt_rd_u16(ld->blob + H_VERSION_MINOR);
    m->checksum = stored_crc;
    m->has_mask = (uint8_t)(hdr(ld, H_FLAGS) & GRT_FILE_INPUT_MASK);
    m->mask_bits = m->has_mask ? hdr(ld, H_RESERVED) : 0;
    fill_model_sizes(m);
    return GRT_OK;
}

uint32_t grt_build_max_layers(void)
{
    return GRT_MAX_LAYERS;
}

grt_status grt_model_load(grt_model *model, const void *blob, size_t size, unsigned flags, grt_diag *diag)
{
    grt_diag local;
    loader ld;
    ld.blob = (const uint8_t *)blob;
    ld.size = size;
    ld.diag = diag != NULL ? diag : &local;
    fail(&ld, GRT_OK, "", -1);

    if (model == NULL)
        return fail(&ld, GRT_E_ARG, "model", -1);
    grt_memset(model, 0, sizeof *model);
    if (blob == NULL)
        return fail(&ld, GRT_E_ARG, "blob", -1);
    if ((flags & ~GRT_LOAD_SKIP_CHECKSUM) != 0)
        return fail_values(&ld, GRT_E_ARG, "flags", -1, flags, GRT_LOAD_SKIP_CHECKSUM);
    if ((uintptr_t)blob % 4 != 0)
        return fail_values(&ld, GRT_E_BLOB_ALIGN, "blob", -1, (uintptr_t)blob % 4, 0);

    grt_status st = load_checked(&ld, model, flags);
    if (st != GRT_OK)
        grt_memset(model, 0, sizeof *model);
    return st;
}

grt_status grt_model_meta(const grt_model *model, uint32_t i, const char **key, uint32_t *key_len,
                          const char **value, uint32_t *value_len)
{
    if (model == NULL || model->meta == NULL || key == NULL || key_len == NULL || value == NULL ||
        value_len == NULL || i >= model->meta_count)
        return GRT_E_ARG;
    /* Entries were validated by the loader: the walk stays inside the metadata region. */
    const uint8_t *p = model->meta;
    for (uint32_t k = 0; k < i; k++)
        p += META_ENTRY_HEADER + (size_t)grt_rd_u32(p) + grt_rd_u32(p + 4);
    *key_len = grt_rd_u32(p);
    *value_len = grt_rd_u32(p + 4);
    *key = (const char *)(p + META_ENTRY_HEADER);
    *value = (const char *)(p + META_ENTRY_HEADER + *key_len);
    return GRT_OK;
}

/* The tensor `role` of layer L (loaded, or described by grt_kind_tensor): GRT_E_TENSOR_ROLE if it has
 * none. */
static grt_status find_tensor(const grt_layer *L, unsigned role, grt_tensor_info *out)
{
    const layer_recipe *recipe = find_recipe(L->kind, L->precision);
    for (uint32_t j = 0; j < recipe->n_tensors; j++) {
        if (recipe->tensors[j].role == role) {
            *out = tensor_info(L, &recipe->tensors[j]);
            out->data = L->tensor[role];
            out->index = L->first_tensor + j;
            return GRT_OK;
        }
    }
    return GRT_E_TENSOR_ROLE;
}

void grt_layer_direction(const grt_model *model, uint32_t layer, unsigned dir, grt_layer *out)
{
    const grt_layer *L = &model->layers[layer];
    const layer_recipe *recipe = find_recipe(L->kind, L->precision);
    *out = *L;
    out->output_size = (uint32_t)layer_units(L);
    out->direction = GRT_DIR_FORWARD;
    out->merge = GRT_MERGE_NONE;
    out->n_tensors = recipe->n_tensors;
    if (dir == 1) {
        out->first_tensor = L->first_tensor + recipe->n_tensors;
        for (uint32_t j = 0; j < recipe->n_tensors; j++)
            out->tensor[recipe->tensors[j].role] = tensor_data(model->blob, out->first_tensor + j);
    }
}

/* The argument checks of grt_layer_tensor(_dir): *out zeroed (when not NULL) first, so that it is all
 * zero bytes on any error. */
static grt_status check_tensor_query(const grt_model *model, uint32_t layer, grt_tensor_info *out)
{
    if (out == NULL)
        return GRT_E_ARG;
    grt_memset(out, 0, sizeof *out);
    if (model == NULL || model->n_layers == 0)
        return GRT_E_ARG;
    return layer < model->n_layers ? GRT_OK : GRT_E_LAYER_COUNT;
}

grt_status grt_layer_tensor(const grt_model *model, uint32_t layer, unsigned role, grt_tensor_info *out)
{
    grt_status status = check_tensor_query(model, layer, out);
    return status != GRT_OK ? status : find_tensor(&model->layers[layer], role, out);
}

grt_status grt_layer_tensor_dir(const grt_model *model, uint32_t layer, unsigned dir, unsigned role,
                               grt_tensor_info *out)
{
    grt_status status = check_tensor_query(model, layer, out);
    if (status != GRT_OK)
        return status;
    if (dir >= layer_directions(&model->layers[layer]))
        return GRT_E_ARG;
    grt_layer D;
    grt_layer_direction(model, layer, dir, &D);
    return find_tensor(&D, role, out);
}

grt_status grt_kind_tensor(unsigned kind, unsigned precision, unsigned weight_layout, uint32_t input_size,
                           uint32_t output_size, unsigned role, grt_tensor_info *out)
{
    if (out == NULL)
        return GRT_E_ARG;
    grt_memset(out, 0, sizeof *out);
    if (!known_kind(kind))
        return GRT_E_LAYER_KIND;
    if (find_recipe(kind, precision) == NULL)
        return GRT_E_PRECISION;
    if (input_size == 0 || input_size > GRT_MAX_DIM || output_size == 0 || output_size > GRT_MAX_DIM)
        return GRT_E_DIMS;
    if (!layout_ok(weight_layout, kind, precision, output_size))
        return GRT_E_LAYER_FIELD;
    grt_layer L;
    grt_memset(&L, 0, sizeof L); /* no tensors: data stays NULL, first_tensor 0 */
    L.kind = (uint8_t)kind;
    L.precision = (uint8_t)precision;
    L.weight_layout = (uint8_t)weight_layout;
    L.input_size = input_size;
    L.output_size = output_size;
    L.kernel_size = 1; /* a Conv1D described without a file: kernel 1, groups 1 */
    L.dilation = 1;
    L.vocab_size = kind == GRT_LAYER_EMBEDDING ? 1u : 0u; /* an Embedding without a file: vocab 1 */
    grt_status st = find_tensor(&L, role, out);
    out->index = 0; /* no file */
    return st;
}
