/*
 * gru_rt.h — the public C API of gru_rt: load a validated model file and run GRU/Dense stacks one time
 * step at a time. The only header of the library (docs/EMBEDDING.md: building, configurations, memory
 * budgets; docs/FORMAT.md: the file; docs/QUANTIZATION.md: q8 and q15).
 *
 * Memory and lifetimes: the library never allocates and keeps no pointer beyond what is stated here.
 * The caller owns every buffer:
 *   - the model blob (the bytes of a .grt file, e.g. a const array from `gru-rt export-c` in flash):
 *     4-byte aligned (64 recommended: the kernels read the tensors in place at full speed), read only,
 *     never copied; it must stay alive and unchanged while the grt_model or any stream made from it is
 *     used (grt_model and grt_layer hold pointers into it, so do the key/value of grt_model_meta);
 *   - the grt_model struct (sizeof grows with GRT_MAX_LAYERS: about 2 KB with the default 32 layers on
 *     a 32-bit target), filled by grt_model_load(), read-only afterwards. Streams keep a pointer to it:
 *     it must stay alive at the same address while they are used;
 *   - each stream's memory: grt_stream_size() bytes (a multiple of 64), float-aligned (4 bytes; 64
 *     recommended), handed to grt_stream_init(); it holds the hidden state of every GRU layer plus
 *     per-step scratch, belongs to that stream alone until the caller stops using the stream, and may
 *     be static, stack or heap memory. Nothing needs to be released: to end a stream, stop using it;
 *   - the work buffer of grt_stream_run()/grt_stream_run_q15(): grt_run_work_size() bytes,
 *     float-aligned, used only during the call (any stream may reuse it afterwards); the same for the
 *     work buffer of the batch functions (grt_streams_step and friends: grt_batch_work_size() bytes)
 *     and for their array of stream pointers;
 *   - the input and output vectors of each call, used only during the call;
 *   - the grt_diag filled by grt_model_load (its field is a static string).
 * Sizes are in bytes unless a field says elements (grt_model.state_size and friends).
 *
 * Threads: no function keeps global state except the kernel dispatch (grt_isa_select, below). A loaded
 * grt_model is read-only, so any number of threads may share it, each stepping its own grt_stream
 * (with its own stream memory and work buffer), or stepping its own batch of streams. One stream must
 * not be used by two threads at once, alone or as a member of a batch.
 * grt_model_load may run in several threads at once on different grt_model structs (and the same
 * blob). The library is reentrant and uses no interrupts, locks or thread-local storage.
 *
 * Precisions (docs/QUANTIZATION.md): f32, q8 (int8 weights, float activations; f32 and q8 layers may
 * mix) and q15 (integer-only from input to output; every layer q15). The float API works for all
 * three; a q15 model converts at its boundary (grt_q15_quantize_input / grt_q15_dequantize_output)
 * around the integer step, which is also callable directly (grt_stream_step_q15/grt_stream_run_q15).
 * A build may leave precisions out (Build configuration, below).
 *
 * Units: float inputs and outputs are float32 vectors in the units the model was trained with (the
 * library applies no normalization); for f32 and q8 layers NaN/Inf inputs propagate, they are not
 * checked; a q15 model's boundary saturates them (NaN counts as 0). int16 values of the q15 API are
 * in the units given by the model's in_scale/out_scale tensors (grt_stream_step_q15). Results are
 * deterministic: the same inputs give the same bits on every run; on every target for q8 and q15
 * (checked on x86-64, aarch64 and Cortex-M3/M0+) and for f32 at the scalar level.
 *
 * Targets: C99, 8-bit bytes, little-endian (the tensors are read in place; a big-endian target is
 * refused at compile time), IEEE-754 binary32 float for f32 and q8; no libm, no stdio; memcpy and
 * memset are the only C library functions called (and, in hosted AArch64 Linux builds, getauxval to
 * ask for the dot product: see grt_isa below).
 *
 * Errors: every function that can fail returns a grt_status (GRT_OK = 0; the meaning of each code is
 * next to it below, and each function says which it returns); functions that cannot fail return void
 * and ignore NULL arguments. grt_status_name/grt_status_message give static text for any value.
 */
#ifndef GRU_RT_H
#define GRU_RT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Build configuration (docs/EMBEDDING.md). Compile-time switches drop code to save flash. Define them
 * (to any value, or none) when compiling the library AND every file that includes this header: CMake's
 * options do both (PUBLIC definitions of the target gru_rt); with make, pass the same CPPFLAGS to the
 * library (make -C csrc CPPFLAGS="-DGRT_NO_F32 -DGRT_NO_Q8") and to your own files.
 *   GRT_NO_F32        no f32 layers: no f32 kernels
 *   GRT_NO_Q8         no q8 layers: no q8 kernels (with GRT_NO_F32 too: no float activations either)
 *   GRT_NO_Q15        no q15 models: no integer step, activation tables or float boundary
 *                     (at least one of the three precisions must remain: #error otherwise)
 *   GRT_NO_X86_SIMD   no AVX2 kernels and no dispatch entries for them: grt_isa_best() is scalar
 *                     on x86-64
 *   GRT_NO_ARM_SIMD   no NEON kernels (levels neon, neon_dot) and no dispatch entries for them:
 *                     grt_isa_best() is scalar on AArch64
 *   GRT_NO_FLOAT_BOUNDARY  no float API for q15 models: grt_q15_quantize_input and
 *                     grt_q15_dequantize_output are neither declared nor defined, grt_stream_step leaves
 *                     the stream and y unchanged for a q15 model and grt_stream_run returns
 *                     GRT_E_PRECISION for one; the int16 API (grt_stream_step_q15, grt_stream_run_q15)
 *                     remains. With GRT_NO_F32 and GRT_NO_Q8 as well, the library contains no
 *                     floating-point operation at all (an FPU-less core links no soft-float routine).
 * grt_model_load refuses a model with a layer of a dropped precision: GRT_E_PRECISION, diag.field
 * "layer.precision", diag.index the first such layer, diag.actual its precision code.
 * Kinds and features (1.4 content a small firmware may not need; each drops its code from the layer
 * loop, so that --gc-sections can leave it out):
 *   GRT_NO_LSTM       no LSTM layers        refused: GRT_E_LAYER_KIND, field "layer.kind (GRT_NO_LSTM)"
 *   GRT_NO_CONV1D     no Conv1D layers      refused: GRT_E_LAYER_KIND, field "layer.kind (GRT_NO_CONV1D)"
 *   GRT_NO_LAYERNORM  no LayerNorm layers   refused: GRT_E_LAYER_KIND, field "layer.kind (GRT_NO_LAYERNORM)"
 *   GRT_NO_MASK       no input mask         refused: GRT_E_HEADER, field "header.flags (GRT_NO_MASK)"
 *   GRT_NO_BIDIR      no reverse or bidirectional GRU layers (and no direction or merge code in
 *                     grt_model_run)    refused: GRT_E_LAYER_FIELD, field "layer.direction (GRT_NO_BIDIR)"
 * (diag.index the layer, diag.actual the kind, flags or direction found). Everything else (file format,
 * stream memory sizes, results for what remains) is the same in every configuration.
 * grt_build_features() tells what a compiled library contains.
 */
#if defined(GRT_NO_F32) && defined(GRT_NO_Q8) && defined(GRT_NO_Q15)
#error "gru_rt: GRT_NO_F32, GRT_NO_Q8 and GRT_NO_Q15 together leave no precision"
#endif
#ifdef GRT_NO_F32
#define GRT_HAS_F32 0
#else
#define GRT_HAS_F32 1
#endif
#ifdef GRT_NO_Q8
#define GRT_HAS_Q8 0
#else
#define GRT_HAS_Q8 1
#endif
#ifdef GRT_NO_Q15
#define GRT_HAS_Q15 0
#define GRT_HAS_FLOAT_BOUNDARY 0
#else
#define GRT_HAS_Q15 1
#ifdef GRT_NO_FLOAT_BOUNDARY
#define GRT_HAS_FLOAT_BOUNDARY 0
#else
#define GRT_HAS_FLOAT_BOUNDARY 1 /* the float API (and boundary functions) for q15 models */
#endif
#endif

#ifdef GRT_NO_LSTM
#define GRT_HAS_LSTM 0
#else
#define GRT_HAS_LSTM 1
#endif
#ifdef GRT_NO_CONV1D
#define GRT_HAS_CONV1D 0
#else
#define GRT_HAS_CONV1D 1
#endif
#ifdef GRT_NO_LAYERNORM
#define GRT_HAS_LAYERNORM 0
#else
#define GRT_HAS_LAYERNORM 1
#endif
#ifdef GRT_NO_MASK
#define GRT_HAS_MASK 0
#else
#define GRT_HAS_MASK 1
#endif
#ifdef GRT_NO_BIDIR
#define GRT_HAS_BIDIR 0
#else
#define GRT_HAS_BIDIR 1
#endif

#define GRT_VERSION_MAJOR 1 /* file format version this library reads (major) */
#define GRT_VERSION_MINOR 5 /* ... and writes (minor): 1.1 adds q8 and q15, 1.2 the panel8 layout,
                             * 1.3 the Dense activations 7-13 (leaky_relu ... log_softmax), 1.4 the LSTM,
                             * Conv1D and LayerNorm kinds, the input mask (GRT_FILE_INPUT_MASK) and named
                             * inputs (GRT_FILE_NAMED_INPUTS), the GRU direction and merge; 1.5 the
                             * Embedding kind (token inputs) and the q15 LSTM */

#define GRT_HEADER_SIZE 64
#define GRT_LAYER_ENTRY_SIZE 32
#define GRT_TENSOR_ENTRY_SIZE 32
#define GRT_ALIGN 64 /* tensor alignment inside the file */
#define GRT_FILE_INPUT_MASK 1u /* header flags bit 0 (1.4): the model has an input mask (grt_model.has_mask) */
#define GRT_FILE_NAMED_INPUTS 2u /* header flags bit 1 (1.4): the metadata entry "model.inputs" names
                                 * the model's inputs (grt_model_input) */

#ifndef GRT_MAX_LAYERS
#define GRT_MAX_LAYERS 32 /* layers per model; sizes grt_model */
#endif
#define GRT_MAX_TENSORS 256
#define GRT_MAX_DIM 16384          /* largest input/output/hidden size */
#define GRT_MAX_META_ENTRIES 4096  /* metadata entries per file */
#define GRT_MAX_META_KEY 255       /* bytes of a metadata key (at least 1) */
#define GRT_MAX_META_VALUE 65535   /* bytes of a metadata value */
#define GRT_MAX_INPUTS 64          /* named inputs per model (1.4, header flag GRT_FILE_NAMED_INPUTS) */
#define GRT_MAX_INPUT_NAME 64      /* bytes of an input's name (at least 1) */

typedef enum grt_status {
    GRT_OK = 0,
    GRT_E_ARG,           /* NULL pointer or invalid argument from the caller */
    GRT_E_BUFFER,        /* caller memory too small or not float-aligned */
    GRT_E_BLOB_ALIGN,    /* blob not 4-byte aligned */
    GRT_E_TRUNCATED,     /* blob shorter than the header or than file_size */
    GRT_E_MAGIC,         /* wrong magic number */
    GRT_E_VERSION,       /* unsupported major version */
    GRT_E_HEADER,        /* header_size, flags or reserved invalid */
    GRT_E_FILE_SIZE,     /* blob longer than file_size */
    GRT_E_CHECKSUM,      /* CRC-32 mismatch */
    GRT_E_LAYER_COUNT,   /* n_layers 0 or above GRT_MAX_LAYERS; a layer index >= n_layers */
    GRT_E_TENSOR_COUNT,  /* n_tensors wrong */
    GRT_E_LAYOUT,        /* a region offset/size differs from the rule or runs past the file */
    GRT_E_PADDING,       /* a padding byte is not zero */
    GRT_E_LAYER_KIND,    /* unknown layer kind */
    GRT_E_PRECISION,     /* unknown precision, one this build leaves out (GRT_NO_*), q15 mixed with
                            another, or a call for another precision (the int16 API on a non-q15
                            model; grt_stream_run of a q15 model under GRT_NO_FLOAT_BOUNDARY) */
    GRT_E_ACTIVATION,    /* unknown activation, or not allowed there */
    GRT_E_LAYER_FIELD,   /* reset_after, weight_layout, reserved or param field invalid */
    GRT_E_DIMS,          /* a size is 0 or above GRT_MAX_DIM */
    GRT_E_CHAIN,         /* layer input size != previous output size, or tensor ranges not consecutive */
    GRT_E_TENSOR_ROLE,   /* tensor role/layer not the one expected at its position; a role the layer
                            does not have (grt_layer_tensor) */
    GRT_E_TENSOR_DTYPE,  /* tensor dtype wrong for its role and precision */
    GRT_E_TENSOR_SHAPE,  /* tensor rows/cols/nbytes wrong */
    GRT_E_TENSOR_ALIGN,  /* tensor offset not a multiple of 64 */
    GRT_E_TENSOR_OFFSET, /* tensor overlaps, leaves a hole, or runs past the data section */
    GRT_E_METADATA,      /* malformed metadata */
    GRT_E_TENSOR_VALUE,  /* a tensor value outside its allowed range (scale codes, q15 scales) */
    GRT_STATUS_COUNT
} grt_status;

typedef enum grt_layer_kind {
    GRT_LAYER_GRU = 1,
    GRT_LAYER_DENSE = 2,
    GRT_LAYER_LSTM = 3,   /* 1.4: gates i, f, g, o; state h then c (2H) */
    GRT_LAYER_CONV1D = 4, /* 1.4: causal Conv1D (docs/FORMAT.md, "Conv1D layers") */
    GRT_LAYER_EMBEDDING = 5, /* 1.5: token id -> a row of the table; layer 0 only (docs/FORMAT.md, "Embedding") */
    GRT_LAYER_NORM = 6    /* 1.4: LayerNorm over the features (y = gamma·(x − mean)/sqrt(var + eps) + beta) */
} grt_layer_kind;

/* Conv1D limits (1.4): the kernel and dilation are u16 fields; a layer's window of past input frames,
 * (kernel_size - 1) * dilation * input_size elements, is part of the stream state, at most this many;
 * and its product's columns, kernel_size * input_size (kernel_size when depthwise), at most GRT_MAX_DIM. */
#define GRT_MAX_CONV_WINDOW 1048576u

/* Embedding limits (1.5): the vocabulary (rows of the table, the entry's param) of an f32 or q8 layer
 * is at most 2^24, so that every id is exact as a float32 input; of a q15 layer at most 32768, so that
 * every id is an int16 input (docs/FORMAT.md, "Embedding"). */
#define GRT_MAX_VOCAB 16777216u
#define GRT_MAX_VOCAB_Q15 32768u

typedef enum grt_precision { GRT_PREC_F32 = 0, GRT_PREC_Q8 = 1, GRT_PREC_Q15 = 2 } grt_precision;

typedef enum grt_activation {
    GRT_ACT_LINEAR = 0,
    GRT_ACT_RELU = 1,
    GRT_ACT_TANH = 2,
    GRT_ACT_SIGMOID = 3,
    GRT_ACT_SOFTMAX = 4,
    GRT_ACT_HARD_SIGMOID = 5,    /* clip(x/6 + 0.5, 0, 1) */
    GRT_ACT_HARD_SIGMOID_K2 = 6, /* clip(0.2x + 0.5, 0, 1) */
    /* 1.3, Dense only (f32, q8): */
    GRT_ACT_LEAKY_RELU = 7, /* x < 0 ? alpha·x : x, alpha in the layer entry's param */
    GRT_ACT_ELU = 8,        /* x > 0 ? x : alpha·(e^x − 1), alpha in param */
    GRT_ACT_GELU = 9,       /* x·Φ(x) = x/2·(1 + erf(x/√2)) */
    GRT_ACT_GELU_TANH = 10, /* x/2·(1 + tanh(√(2/π)·(x + 0.044715x³))) */
    GRT_ACT_SILU = 11,      /* x·sigmoid(x) (swish) */
    GRT_ACT_SOFTPLUS = 12,  /* ln(1 + e^x) */
    GRT_ACT_LOG_SOFTMAX = 13, /* x − max − ln Σ e^(x − max), over the vector */
    GRT_ACT_COUNT
} grt_activation;

typedef enum grt_role {
    GRT_ROLE_W_IH = 1, /* GRU: 3H x I (gates r, z, n); LSTM: 4H x I (gates i, f, g, o); Dense: O x I */
    GRT_ROLE_W_HH = 2, /* GRU: 3H x H; LSTM: 4H x H */
    GRT_ROLE_B_IH = 3, /* GRU: 3H; LSTM: 4H; Dense: O */
    GRT_ROLE_B_HH = 4, /* GRU: 3H; LSTM: 4H */
    GRT_ROLE_W_IH_SCALE = 5, /* q8/q15: bf16 code per row of w_ih */
    GRT_ROLE_W_HH_SCALE = 6, /* q8/q15 GRU: bf16 code per row of w_hh */
    GRT_ROLE_IN_SCALE = 7,   /* q15: f32 real value of one input unit, per input feature */
    GRT_ROLE_OUT_SCALE = 8,  /* q15: f32 real value of one output unit, per output */
    GRT_ROLE_GAMMA = 9,      /* LayerNorm (1.4): scale per feature (q15: int32, see QUANTIZATION.md) */
    GRT_ROLE_BETA = 10,      /* LayerNorm (1.4): offset per feature (q15: int32 in output units) */
    GRT_ROLE_TABLE = 11,     /* Embedding (1.5): vocab x D rows (f32; q8 int8, row scales in w_ih_scale;
                              * q15 int16 in out_scale units) */
    GRT_ROLE_MAX = 11
} grt_role;

/* How a layer's weight matrices (w_ih, w_hh) are stored (docs/FORMAT.md, "Weight layouts"). */
typedef enum grt_weight_layout {
    GRT_LAYOUT_ROW_MAJOR = 0, /* row r at W + r·cols */
    GRT_LAYOUT_PANEL8 = 1     /* f32 only: panels of 8 rows, column-interleaved (1.2) */
} grt_weight_layout;

/* Which way a GRU layer runs over a sequence (layer entry byte 6, 1.4; docs/FORMAT.md). A reverse or
 * bidirectional layer needs the whole sequence: such a model runs with grt_model_run, not streams. */
typedef enum grt_direction {
    GRT_DIR_FORWARD = 0,
    GRT_DIR_REVERSE = 1,      /* from the last step to the first; outputs stay in time order */
    GRT_DIR_BIDIRECTIONAL = 2 /* a forward and a reverse GRU on the same input, outputs merged */
} grt_direction;

/* How a bidirectional layer merges its two directions' outputs (byte 7, 1.4; 0 otherwise). */
typedef enum grt_merge {
    GRT_MERGE_NONE = 0,
    GRT_MERGE_CONCAT = 1, /* [forward, backward]: output_size = 2H */
    GRT_MERGE_SUM = 2,    /* forward + backward (f32 and q8 only) */
    GRT_MERGE_AVE = 3,    /* (forward + backward) / 2 */
    GRT_MERGE_MUL = 4     /* forward · backward */
} grt_merge;

typedef enum grt_dtype {
    GRT_DTYPE_F32 = 0,
    GRT_DTYPE_I8 = 1,
    GRT_DTYPE_I16 = 2,
    GRT_DTYPE_I32 = 3,
    GRT_DTYPE_BF16 = 4 /* the upper 16 bits of an IEEE float32 */
} grt_dtype;

/* Load flags. */
#define GRT_LOAD_SKIP_CHECKSUM 1u /* trust the payload (e.g. flash already verified); structure is still checked */

/* Where a load failed. field is a static string naming the field ("layer.input_size"); index is the
 * layer or tensor index (-1 if none); actual/expected are the values involved (0 when not meaningful,
 * has_values says whether they are). */
typedef struct grt_diag {
    grt_status status;
    const char *field;
    int32_t index;
    int has_values;
    uint64_t actual;
    uint64_t expected;
} grt_diag;

/* A validated layer: sizes, codes and pointers into the blob (tensor[role], NULL when absent). */
typedef struct grt_layer {
    uint8_t kind;            /* grt_layer_kind */
    uint8_t precision;       /* grt_precision */
    uint8_t activation;      /* GRU: candidate phi; LSTM: phi of g and of c; Dense: output activation */
    uint8_t gate_activation; /* GRU, LSTM: sigma */
    uint8_t reset_after;     /* GRU: 0 or 1 */
    uint8_t weight_layout;   /* grt_weight_layout */
    uint8_t direction;       /* GRU: grt_direction (1.4); Dense: 0 */
    uint8_t merge;           /* GRU bidirectional: grt_merge (1.4); otherwise 0 */
    uint32_t input_size;
    uint32_t output_size;    /* GRU, LSTM: hidden size H (GRU: 2H for a bidirectional concat layer) */
    uint32_t first_tensor;
    uint32_t n_tensors;
    size_t state_offset;     /* GRU, LSTM: offset in elements of its state inside a stream's state (LSTM:
                              * h there, c right after it) */
    const void *tensor[GRT_ROLE_MAX + 1];
    uint32_t act_param;      /* the float32 bits of Dense leaky_relu's negative slope or elu's alpha;
                              * LayerNorm (1.4): f32/q8 the float32 bits of eps, q15 eps as an integer
                              * in (input unit)²; otherwise 0 (bits, so that the loader stays float-free) */
    uint16_t kernel_size;    /* Conv1D (1.4): taps k >= 1; 1 for other kinds */
    uint16_t dilation;       /* Conv1D: frames between taps d >= 1; 1 for other kinds */
    uint8_t depthwise;       /* Conv1D: 1 = groups == input_size (output_size = m·input_size), 0 = groups 1 */
    uint32_t vocab_size;     /* Embedding (1.5): rows of the table (the entry's param); 0 for other kinds */
} grt_layer;

/* A validated, read-only view of a model blob. Fill with grt_model_load(); never modify. */
typedef struct grt_model {
    const uint8_t *blob;
    size_t size;
    uint16_t version_major, version_minor;
    uint32_t checksum;        /* the stored CRC-32 */
    int checksum_verified;    /* 1 if the CRC was computed and matched, 0 if skipped */
    uint32_t n_layers;
    uint32_t n_tensors;
    uint32_t input_size;      /* layer 0 input_size */
    uint32_t output_size;     /* last layer output_size */
    size_t state_size;        /* elements of state (H per GRU, 2H per LSTM layer, a Conv1D layer's input
                                 window): float for f32/q8 models, int16_t (Q15) for q15 models */
    size_t max_width;         /* largest input/output size of any layer, or k·I of a Conv1D layer */
    size_t max_gates;         /* largest 3H of any GRU layer, 4H of any LSTM layer, k·I + O of any Conv1D
                                 layer (0 if none) */
    uint32_t meta_count;
    const uint8_t *meta;      /* first metadata entry (after the count) */
    uint32_t meta_size;       /* bytes of the entries (meta_size - 4) */
    uint32_t n_inputs;        /* named inputs (1.4): 0 when the file names none (one plain vector) */
    const uint8_t *inputs;    /* the checked value of the "model.inputs" metadata entry */
    uint32_t inputs_len;      /* its bytes */
    grt_layer layers[GRT_MAX_LAYERS];
    uint8_t q15;              /* 1 when the model is integer-only (every layer q15), else 0 */
    uint8_t has_mask;         /* 1 when the model has an input mask (1.4; see "Input mask" below), else 0 */
    uint32_t mask_bits;       /* its mask value v as float32 bits (never a NaN); 0 without a mask */
    uint8_t needs_future;     /* 1 when a layer runs in reverse or both directions: the model runs
                                 with grt_model_run only (no streams) */
} grt_model;

/* One live sequence: pointers into caller memory. Fill with grt_stream_init(). */
typedef struct grt_stream {
    const grt_model *model;
    void *state;   /* model->state_size elements (float, or int16_t when model->q15): the GRU hidden
                      states and LSTM (h, c) pairs, layer by layer */
    void *scratch; /* per-step working memory */
} grt_stream;

/* Static names: "GRT_E_MAGIC" and a short sentence ("bad magic number"). Never NULL. */
const char *grt_status_name(grt_status status);
const char *grt_status_message(grt_status status);
const char *grt_activation_name(unsigned code); /* "tanh"; "?" for an unknown code */
const char *grt_role_name(unsigned role);       /* "w_ih"; "?" for an unknown role */

/* CRC-32 (ISO-HDLC / zlib). Start with crc = 0; feed chunks in order. Reads data[0, n) only. */
uint32_t grt_crc32(uint32_t crc, const void *data, size_t n);

/*
 * Validate blob[0, size) as a model file and fill *model with a view of it. blob must be 4-byte aligned
 * and must outlive the model (and its streams); it is never written. flags: 0 or
 * GRT_LOAD_SKIP_CHECKSUM. diag may be NULL; when given it is always filled (status GRT_OK on success).
 * Reads nothing outside blob[0, size) whatever the bytes; cost O(size) (the CRC) plus the tables.
 * Errors: GRT_E_ARG (model or blob NULL, unknown flags), GRT_E_BLOB_ALIGN, GRT_E_PRECISION for a
 * precision this build leaves out (or an unknown one), and one of the format errors of the grt_status
 * list for a malformed file (docs/FORMAT.md); on any error *model is all zero bytes (not loaded).
 */
grt_status grt_model_load(grt_model *model, const void *blob, size_t size, unsigned flags, grt_diag *diag);

/* The GRT_MAX_LAYERS this library was compiled with: it sizes grt_model, so code compiled with another
 * value must not share grt_model structs with this library (compare with your own GRT_MAX_LAYERS). */
uint32_t grt_build_max_layers(void);

/* Metadata entry i < model->meta_count: key/value pointers into the blob (UTF-8, not NUL-terminated;
 * valid as long as the blob). GRT_E_ARG for a NULL argument, an unloaded model or i out of range. */
grt_status grt_model_meta(const grt_model *model, uint32_t i, const char **key, uint32_t *key_len,
                          const char **value, uint32_t *value_len);

/*
 * Named inputs (1.4, docs/FORMAT.md "Named inputs"): a model whose input vector is several inputs
 * concatenated (a multimodal model) names each one. Input i < model->n_inputs (0 for a file that
 * names none) is model input elements [offset, offset + width), in file order; name points into
 * the blob (UTF-8, name_len bytes, not NUL-terminated; valid as long as the blob). The loader has
 * checked the names (1 ... GRT_MAX_INPUT_NAME bytes, unique) and that the widths sum to
 * input_size. GRT_E_ARG for a NULL argument, an unloaded model or i out of range (then *out is all
 * zero bytes). Reads only the model: safe from any thread.
 */
typedef struct grt_input_info {
    const char *name;
    uint32_t name_len;
    uint32_t width;
    uint32_t offset;
} grt_input_info;

grt_status grt_model_input(const grt_model *model, uint32_t i, grt_input_info *out);

/*
 * The tensors of a layer kind (docs/FORMAT.md, "Tensors"): the loader's table, the one description of
 * each (kind, precision): which roles a layer has, in file order, and for each its dtype, its shape
 * from the layer's sizes, and how it is stored.
 *
 * grt_layer_tensor: the tensor `role` (grt_role) of layer `layer` of a loaded model. data points into
 * the blob (valid as long as it is); index is its position in the file's tensor table. rows x cols is
 * the logical shape (vectors have cols = 1 and ndim 1, matrices ndim 2); layout is GRT_LAYOUT_PANEL8 for the w_ih/w_hh of a panel8
 * layer (data then holds stored_rows = rows rounded up to a multiple of 8, in panels), otherwise
 * GRT_LAYOUT_ROW_MAJOR (stored_rows = rows); nbytes = stored_rows x cols x the dtype's size.
 * Errors (then *out is all zero bytes): GRT_E_ARG for a NULL argument or an unloaded model,
 * GRT_E_LAYER_COUNT for layer >= model->n_layers, GRT_E_TENSOR_ROLE for a role the layer does not have
 * (e.g. w_hh of a Dense layer, in_scale of an f32 layer, or no role at all).
 *
 * grt_kind_tensor: the same description without a model, for a layer of this kind, precision, weight
 * layout and sizes (a tool checking or writing tensors before a file exists); data is NULL and index 0.
 * A Conv1D layer is described with kernel_size 1 and groups 1 (w_ih O x I); its real w_ih has k·I
 * columns (k when depthwise), as grt_layer_tensor reports.
 * Errors (then *out is all zero bytes): GRT_E_ARG if out is NULL, GRT_E_LAYER_KIND, GRT_E_PRECISION
 * (unknown, or left out of this build), GRT_E_DIMS (a size 0 or above GRT_MAX_DIM), GRT_E_LAYER_FIELD
 * (a weight layout the layer may not have: panel8 is for f32 layers, and a GRU's or LSTM's hidden size
 * must be a multiple of 8), GRT_E_TENSOR_ROLE as above.
 * Both read only their arguments: safe from any thread.
 */
typedef struct grt_tensor_info {
    const void *data;     /* the tensor inside the blob (grt_layer_tensor), else NULL */
    uint32_t index;       /* its index in the file's tensor table (grt_layer_tensor), else 0 */
    uint8_t role;         /* grt_role */
    uint8_t dtype;        /* grt_dtype */
    uint8_t layout;       /* grt_weight_layout of this tensor's bytes */
    uint8_t ndim;         /* 2 for a matrix (w_ih, w_hh: even with 1 column), 1 for a vector */
    uint32_t rows, cols;  /* logical shape; cols = 1 for a vector */
    uint32_t stored_rows; /* rows in the file: rows, or rows rounded up to 8 for a panel8 matrix */
    uint32_t nbytes;      /* stored_rows x cols x dtype size */
} grt_tensor_info;

grt_status grt_layer_tensor(const grt_model *model, uint32_t layer, unsigned role, grt_tensor_info *out);
/* grt_layer_tensor for one direction's tensor set (1.4): dir 0 the forward (or only) set, exactly
 * grt_layer_tensor; dir 1 a bidirectional GRU's backward set (its shapes are those of one direction:
 * 3H rows). GRT_E_ARG also for dir 1 on a layer with one set. */
grt_status grt_layer_tensor_dir(const grt_model *model, uint32_t layer, unsigned dir, unsigned role,
                                grt_tensor_info *out);
grt_status grt_kind_tensor(unsigned kind, unsigned precision, unsigned weight_layout, uint32_t input_size,
                           uint32_t output_size, unsigned role, grt_tensor_info *out);

/* Bytes of caller memory one stream needs (state + scratch), for any precision; a multiple of 64.
 * 0 for a NULL or unloaded model, and for a model that needs the future (grt_model_run). The formulas per precision are in docs/EMBEDDING.md ("Memory
 * budget"); gru-rt export-c writes the value into the exported header (NAME_STREAM_BYTES). */
size_t grt_stream_size(const grt_model *model);

/* Bind a stream to a model and caller memory (>= grt_stream_size bytes, float-aligned); state zeroed.
 * The stream keeps pointers to *model and mem (see "Memory and lifetimes"); a stream struct may be
 * re-initialized at any time, and copying one makes a second handle on the same memory (use one).
 * GRT_E_ARG for NULLs or an unloaded model, GRT_E_LAYER_FIELD for a model with a reverse or
 * bidirectional layer (it has no streams: grt_model_run), GRT_E_BUFFER if mem is too small or not
 * float-aligned. */
grt_status grt_stream_init(grt_stream *stream, const grt_model *model, void *mem, size_t mem_size);

/* Zero every hidden state (float or int16). NULL or an unbound stream: nothing happens. */
void grt_stream_reset(grt_stream *stream);

/*
 * Input mask (1.4; Keras Masking(mask_value=v) as the first layer; docs/CONVENTIONS.md, "Masking"):
 * in a model with has_mask, a step whose input equals v in every feature is masked: every GRU and LSTM
 * layer keeps its state (an LSTM's h and c) and outputs its h again (its previous output, or its
 * initial state before any step), the layers after the last of them run on that as usual, and what
 * the layers before the first of them compute is not used. So a masked step changes no state and, after a first real step, repeats the previous output.
 * Every step and run function applies it, per step and per stream (a chunk, batch or ragged run
 * gives the bits of the steps one by one). f32 and q8 models compare the float input with v (==, so
 * -0 equals 0 and a NaN input is never masked). q15 models compare the int16 input, given
 * (grt_*_q15) or made by the float boundary, with v quantized as the boundary quantizes an input
 * (per feature, with layer 0's in_scale; computed in integers): the float API of a q15 model stays
 * exactly boundary -> int16 step -> boundary, and a float input within half a quantization step of v
 * in every feature is masked too.
 */

/* One time step, any precision: x has model->input_size floats, y receives model->output_size floats.
 * x and y may be the same array but may not overlap the stream's memory. For a q15 model this is
 * exactly grt_q15_quantize_input -> grt_stream_step_q15 -> grt_q15_dequantize_output; in a
 * GRT_NO_FLOAT_BOUNDARY build it leaves the stream and y unchanged for a q15 model (use
 * grt_stream_step_q15). No allocation, cannot fail (NULL arguments are ignored). */
void grt_stream_step(grt_stream *stream, const float *x, float *y);

/* Work buffer bytes grt_stream_run (and grt_stream_run_q15) needs to process up to chunk_steps steps
 * per pass, for any precision; a multiple of 64, saturating instead of wrapping. 0 for a NULL or
 * unloaded model or chunk_steps 0. */
size_t grt_run_work_size(const grt_model *model, size_t chunk_steps);

/*
 * Run T steps from the stream's current state: xs is T x input_size, ys receives T x output_size
 * (row-major). The sequence is processed in chunks of as many steps as work (work_size bytes,
 * float-aligned) holds: per chunk, each layer's input projections for all steps are one matrix
 * product, then the recurrence runs. Results are identical, bit for bit, to T calls of
 * grt_stream_step, for every precision (a q15 model converts each step at its boundary). The state is
 * left after the last step. GRT_E_ARG for NULL stream/xs/ys/work (T = 0 is GRT_OK), GRT_E_BUFFER if
 * work is not float-aligned or holds < 1 step, GRT_E_PRECISION for a q15 model in a
 * GRT_NO_FLOAT_BOUNDARY build (nothing changes). xs and ys must not overlap each other, the stream's
 * memory or work.
 */
grt_status grt_stream_run(grt_stream *stream, const float *xs, size_t T, float *ys, void *work,
                          size_t work_size);

/*
 * q15 integer pipeline (model->q15 == 1 only), in every build that keeps q15 (with or without the
 * float boundary; no floating point at all). Units: every int16 value is in the unit of the layer
 * that produces or consumes it: x[k] is x_real[k] / in_scale[k] of layer 0, y[j] is y_real[j] /
 * out_scale[j] of the last layer (Q15 for GRU outputs and Dense sigmoid/tanh/softmax outputs). The
 * scales are the f32 tensors GRT_ROLE_IN_SCALE of model->layers[0] and GRT_ROLE_OUT_SCALE of the last
 * layer (Python: Model.input_scale/output_scale); a program without float can compute its int16
 * inputs offline.
 *
 * grt_stream_step_q15: one step, x has input_size int16, y receives output_size int16 (x and y may be
 * the same array; neither may overlap the stream's memory). GRT_E_ARG if stream, its model, x or y is
 * NULL; GRT_E_PRECISION if the model is not q15 (nothing changes).
 *
 * grt_stream_run_q15: T steps, xs is T x input_size, ys receives T x output_size (row-major), in
 * chunks of as many steps as work (work_size bytes from grt_run_work_size, float-aligned) holds;
 * bit-identical to T calls of grt_stream_step_q15. Errors as grt_stream_run (GRT_E_ARG,
 * GRT_E_BUFFER; T = 0 is GRT_OK and touches nothing), plus GRT_E_PRECISION if the model is not q15.
 * xs and ys must not overlap each other, the stream's memory or work.
 */
grt_status grt_stream_step_q15(grt_stream *stream, const int16_t *x, int16_t *y);
grt_status grt_stream_run_q15(grt_stream *stream, const int16_t *xs, size_t T, int16_t *ys, void *work,
                              size_t work_size);

/*
 * Token inputs (1.5): a model whose layer 0 is an Embedding (model->layers[0].kind ==
 * GRT_LAYER_EMBEDDING) has input_size 1, one token id per step, and vocab =
 * model->layers[0].vocab_size. Every step and run function takes the ids in its input rows: a float
 * holding an integer 0 <= id < vocab in the float API, an int16 0 <= id < vocab in the int16 API (a
 * q15 layer's in_scale is 1, so the float boundary passes the id unchanged). Before anything is
 * touched, every function checks every id of the call: one that is out of range, not an integer or
 * NaN is GRT_E_ARG (nothing changes; grt_stream_step, which returns no status, leaves the stream and y
 * unchanged). Checked after the function's other errors.
 *
 * grt_stream_step_token: one step on token id (float API, any precision a float step runs);
 * grt_stream_step_token_q15: the same through the int16 API (q15 models). Errors and results as
 * grt_stream_step_q15 on x = {id}, plus GRT_E_LAYER_KIND if layer 0 is not an Embedding and GRT_E_ARG
 * if id >= vocab; grt_stream_step_token returns GRT_E_PRECISION where grt_stream_step would change
 * nothing (a q15 model in a GRT_NO_FLOAT_BOUNDARY build).
 */
grt_status grt_stream_step_token(grt_stream *stream, uint32_t id, float *y);
grt_status grt_stream_step_token_q15(grt_stream *stream, uint32_t id, int16_t *y);

/*
 * Batches: B streams of one model stepped together (a server with many live sessions). Each layer's
 * weight matrices are read once per step for all B streams instead of B times: the input projections
 * of the B rows are one matrix product, and so is each recurrent product U·h. Each stream keeps its
 * own state and can still be stepped, run, reset or read on its own between batch calls; a batch is
 * just the array of stream pointers the caller passes (it may change from call to call).
 *
 * grt_streams_step: one step of each stream. streams[0, B) are B distinct streams bound to the same
 * grt_model struct (the same pointer: another grt_model loaded from the same blob does not count); xs
 * is B x input_size floats (row-major: row b feeds streams[b]), ys receives B x output_size floats.
 * For every stream the outputs and the new state are bit-identical to grt_stream_step on that stream
 * (at the same grt_isa level), for every precision; a q15 model converts at its boundary, as
 * grt_stream_step does. xs and ys may be the same array (x is read completely before y is written);
 * neither may overlap the streams' memory, the work or the pointer array. work: work_size bytes,
 * float-aligned, at least grt_batch_work_size(model, B), used only during the call.
 * grt_streams_step_q15: the same on raw int16 values (q15 models only), bit-identical to
 * grt_stream_step_q15.
 *
 * grt_streams_run: T steps of each stream, stream by stream in memory: xs is B x T x input_size (stream
 * b's sequence at xs + b·T·input_size), ys receives B x T x output_size; bit-identical to
 * grt_stream_run(streams[b], xs + b·T·input_size, T, ys + b·T·output_size, ...) for each b. The steps
 * go in chunks of as many steps as work holds (grt_batch_run_work_size(model, B, chunk_steps) bytes for
 * chunks of chunk_steps; grt_batch_work_size(model, B), i.e. chunks of one step, is enough). xs and ys
 * must not overlap each other, the streams' memory, the work or the pointer array.
 * grt_streams_run_q15: the same on int16 values.
 *
 * Errors, checked in this order, before anything is written: B = 0 is GRT_OK and touches nothing (any
 * other argument may then be NULL); GRT_E_ARG if streams or a member is NULL or unbound, if the members
 * are bound to different grt_model structs, or if B >= 2^32; GRT_E_PRECISION for an API the model or
 * the build does not have (the int16 functions on a model that is not q15; the float ones on a q15
 * model under GRT_NO_FLOAT_BOUNDARY); T = 0 (run) is GRT_OK and touches nothing; GRT_E_ARG if xs, ys or
 * work is NULL; GRT_E_BUFFER if work is not float-aligned or holds less than one step; GRT_E_ARG if
 * two members' states overlap (the same stream twice, two copies of one grt_stream, or stream memories
 * that overlap: checked by sorting the B states by address in the work, O(B log B)). No allocation.
 * Threads: the call uses every member stream and the work; nothing else, so separate threads may step
 * separate batches (disjoint sets of streams, each with its own work buffer) of one shared model.
 *
 * grt_batch_work_size / grt_batch_run_work_size: bytes of that work (a multiple of 64; saturating
 * instead of wrapping; 0 for a NULL or unloaded model, B = 0 or chunk_steps = 0): for chunks of one
 * step about B x (state_size + 2 x max_gates + 3 x max_width) elements; the exact formula is in
 * docs/EMBEDDING.md ("Memory budget"), the layout in grt_stream.c.
 */
size_t grt_batch_work_size(const grt_model *model, size_t B);
size_t grt_batch_run_work_size(const grt_model *model, size_t B, size_t chunk_steps);
grt_status grt_streams_step(grt_stream *const *streams, size_t B, const float *xs, float *ys, void *work,
                            size_t work_size);
grt_status grt_streams_step_q15(grt_stream *const *streams, size_t B, const int16_t *xs, int16_t *ys, void *work,
                                size_t work_size);
grt_status grt_streams_run(grt_stream *const *streams, size_t B, const float *xs, size_t T, float *ys, void *work,
                           size_t work_size);
grt_status grt_streams_run_q15(grt_stream *const *streams, size_t B, const int16_t *xs, size_t T, int16_t *ys,
                               void *work, size_t work_size);

/*
 * Ragged batches: sequences of different lengths (recorded sequences scored offline, a classifier's
 * batch), stepped in lockstep as grt_streams_run does, each stream dropping out after its own last
 * step. xs[b] points to lengths[b] x input_size floats (row-major) for streams[b], ys[b] receives
 * lengths[b] x output_size floats; nothing is copied to join them (a zero-padded N x T x input_size
 * array is passed as pointers to its rows, xs[b] = x + b·T·input_size, and then ys past each length is
 * left untouched). For every stream the outputs and the state left after its own last step are
 * bit-identical to grt_stream_run(streams[b], xs[b], lengths[b], ys[b], ...), for every precision; a
 * member of length 0 keeps its state, and its xs[b] and ys[b] may be NULL. The streams are run in
 * order of decreasing length (sorted in the work, O(B log B)), the ones still running being stepped
 * together, in chunks of as many steps as work holds (the same work as grt_streams_run:
 * grt_batch_run_work_size(model, B, chunk_steps) bytes). The sequences must not overlap each other's
 * outputs, the streams' memory, the work or the pointer arrays.
 * grt_streams_run_ragged_q15: the same on int16 values (q15 models only), bit-identical to
 * grt_stream_run_q15.
 *
 * Errors, checked in this order, before anything is written: B = 0 is GRT_OK and touches nothing;
 * GRT_E_ARG for the streams as grt_streams_run; GRT_E_PRECISION as grt_streams_run; GRT_E_ARG if xs,
 * lengths or ys is NULL, or xs[b] or ys[b] is NULL for a member of length > 0; then, even when every
 * length is 0, as grt_streams_run: GRT_E_ARG if work is NULL, GRT_E_BUFFER if it is misaligned or
 * holds less than one step, GRT_E_ARG if two members' states overlap; every length 0 is then GRT_OK
 * and touches nothing. No allocation; threads as grt_streams_run.
 */
grt_status grt_streams_run_ragged(grt_stream *const *streams, size_t B, const float *const *xs, const size_t *lengths,
                                  float *const *ys, void *work, size_t work_size);
grt_status grt_streams_run_ragged_q15(grt_stream *const *streams, size_t B, const int16_t *const *xs,
                                      const size_t *lengths, int16_t *const *ys, void *work, size_t work_size);

/*
 * Whole sequences (1.4): a model with a reverse or bidirectional GRU layer (model->needs_future)
 * needs every step of the sequence before its first output, so it has no streams (grt_stream_size
 * is 0 for it and grt_stream_init returns GRT_E_LAYER_FIELD); it runs here, layer by layer over the
 * whole sequence. Any model may: for a forward-only model (Conv1D layers too, their windows starting
 * from zeros as in a new stream) the outputs are bit-identical to grt_stream_run from a zero state.
 *
 * grt_model_run: xs is T x input_size floats (row-major), ys receives T x output_size floats, from a
 * zero state; for a q15 model each step converts at the float boundary, as grt_stream_step does. A
 * reverse layer starts at step T - 1 and ends at step 0, writing each output at its own step; a
 * bidirectional one runs both directions (the forward tensor set, then the backward one) and merges
 * them per step (grt_merge; q15: ave = sat16(RSHR(a + b, 1)), mul = sat16(RSHR(a·b, 15))). Sequences
 * of different lengths are separate calls (each with its own T): the backward direction then starts
 * at each sequence's own last step. work: work_size bytes, float-aligned, at least
 * grt_model_run_work_size(model, T), used only during the call; the results do not depend on it.
 * grt_model_run_q15: the same on int16 values (q15 models only), without floating point.
 * Errors, in this order: GRT_E_ARG for a NULL or unloaded model; GRT_E_PRECISION as grt_stream_run
 * (the int16 form on a model that is not q15; the float form on a q15 model under
 * GRT_NO_FLOAT_BOUNDARY); T = 0 is GRT_OK and touches nothing; GRT_E_ARG if xs, ys or work is NULL;
 * GRT_E_BUFFER if work is misaligned or smaller than grt_model_run_work_size(model, T). xs and ys
 * must not overlap each other or work. No allocation; reads only the model: any number of threads
 * may run one model at once, each with its own work.
 *
 * grt_model_run_work_size: bytes of that work for T steps (a multiple of 64, saturating instead of
 * wrapping; 0 for a NULL or unloaded model or T = 0): about T x (max_gates·4 + 2·max_width·elem)
 * plus one step's scratch (docs/EMBEDDING.md, "Memory budget").
 */
size_t grt_model_run_work_size(const grt_model *model, size_t T);
grt_status grt_model_run(const grt_model *model, const float *xs, size_t T, float *ys, void *work,
                         size_t work_size);
grt_status grt_model_run_q15(const grt_model *model, const int16_t *xs, size_t T, int16_t *ys, void *work,
                             size_t work_size);

/*
 * The float boundary of a q15 model (docs/QUANTIZATION.md), for integer pipelines that convert
 * elsewhere. quantize: xq[k] = round_away(clamp(x[k] / in_scale[k], -32767, 32767)), NaN -> 0, for
 * the model's input_size features (layer 0's in_scale). dequantize: y[j] = (float)yq[j] *
 * out_scale[j] for the last layer's output_size outputs. Nothing is written if the model is NULL or
 * not q15 or a pointer is NULL. Cannot fail. Not declared in a GRT_NO_FLOAT_BOUNDARY build. Read only
 * the model: safe from any thread.
 */
#if GRT_HAS_FLOAT_BOUNDARY
void grt_q15_quantize_input(const grt_model *model, const float *x, int16_t *xq);
void grt_q15_dequantize_output(const grt_model *model, const int16_t *yq, float *y);
#endif

/*
 * Instruction-set levels of the kernels (every precision follows one level), chosen at run time. A
 * scalar level always exists (plain C that the compiler may vectorize) and is the only one on other
 * targets (Cortex-M, ...). x86-64 gcc/clang builds without GRT_NO_X86_SIMD add avx2 (AVX2 + FMA),
 * usable when the CPU has both. AArch64 builds without GRT_NO_ARM_SIMD add neon (always usable there)
 * and neon_dot (neon with the int8 dot product sdot for the q8 products; usable when the CPU has
 * FEAT_DotProd, asked with getauxval(AT_HWCAP) on Linux: elsewhere only when the build targets it,
 * -march=...+dotprod; compiled with gcc >= 8, or any compiler given such a -march). q8 and q15 give
 * the same bits at every level. The active level is one process-wide table of kernel pointers, set
 * lazily to grt_isa_best() on first use. Results within one level are deterministic (run == step bit
 * for bit); f32 results of different levels agree to rounding only (each level has its own summation
 * order, and avx2/neon use fused multiply-adds; neon and neon_dot share their f32 kernels).
 * x86-64 also has two int8 dot-product levels, avx2 with the VNNI instructions for the q8 and q15
 * products (f32 and the activations stay avx2's): avxvnni (AVX-VNNI, the VEX form; gcc >= 11 or
 * clang >= 13) and avx512vnni (AVX-512F/BW/VL + AVX512_VNNI, with the OS saving the AVX-512 state
 * (XCR0); gcc or clang >= 9). Preferred in that order when the CPU has them.
 * Threads: grt_isa_select() must not be called while any thread is stepping or running a stream;
 * select once at start-up, before any model is used.
 */
typedef enum grt_isa {
    GRT_ISA_SCALAR = 0,
    GRT_ISA_AVX2 = 1,
    GRT_ISA_NEON = 2,
    GRT_ISA_NEON_DOT = 3,
    GRT_ISA_AVXVNNI = 4,
    GRT_ISA_AVX512VNNI = 5,
    GRT_ISA_COUNT
} grt_isa;

/* The best level this build and CPU support (the levels of one architecture are numbered in
 * increasing order of preference). */
grt_isa grt_isa_best(void);

/* The level in use (grt_isa_best() until grt_isa_select() is called). */
grt_isa grt_isa_active(void);

/* 1 if this build and CPU support isa (grt_isa_select(isa) would succeed), else 0 (also for an unknown
 * value). Changes nothing. */
int grt_isa_supported(grt_isa isa);

/* Force a level. GRT_E_ARG if isa is unknown or not supported by this build/CPU (then nothing
 * changes). Not thread-safe against running kernels: see above. */
grt_status grt_isa_select(grt_isa isa);

/* "scalar", "avx2", "neon", "neon_dot", "avxvnni", "avx512vnni"; "?" for an unknown value. Never NULL. */
const char *grt_isa_name(grt_isa isa);

/* What this compiled library contains (see "Build configuration" above): an OR of the flags below.
 * Compare with the GRT_HAS_* macros of your own compilation to catch a library built with other
 * switches than your code. */
#define GRT_FEATURE_F32 1u            /* f32 layers */
#define GRT_FEATURE_Q8 2u             /* q8 layers */
#define GRT_FEATURE_Q15 4u            /* q15 models */
#define GRT_FEATURE_FLOAT_BOUNDARY 8u /* float API for q15 models */
#define GRT_FEATURE_AVX2 16u          /* AVX2 kernels compiled in (x86-64 gcc/clang, no GRT_NO_X86_SIMD) */
#define GRT_FEATURE_NEON 32u          /* NEON kernels compiled in (AArch64, no GRT_NO_ARM_SIMD) */
#define GRT_FEATURE_NEON_DOT 64u      /* and the sdot ones of the neon_dot level (see grt_isa above) */
#define GRT_FEATURE_AVXVNNI 128u      /* the avxvnni level's kernels compiled in */
#define GRT_FEATURE_AVX512VNNI 256u   /* the avx512vnni level's kernels compiled in */
#define GRT_FEATURE_LSTM 512u         /* LSTM layers (no GRT_NO_LSTM) */
#define GRT_FEATURE_CONV1D 1024u      /* Conv1D layers (no GRT_NO_CONV1D) */
#define GRT_FEATURE_LAYERNORM 2048u   /* LayerNorm layers (no GRT_NO_LAYERNORM) */
#define GRT_FEATURE_MASK 4096u        /* the input mask (no GRT_NO_MASK) */
#define GRT_FEATURE_BIDIR 8192u       /* reverse and bidirectional GRU layers (no GRT_NO_BIDIR) */
unsigned grt_build_features(void);

#ifdef __cplusplus
}
#endif
#endif /* GRU_RT_H */
