# Mirrors csrc/include/gru_rt.h (the part Python uses). Every extern is nogil: the C core holds no Python state.
from libc.stdint cimport int16_t, int32_t, uint8_t, uint16_t, uint32_t, uint64_t


cdef extern from "gru_rt.h" nogil:
    ctypedef enum grt_status:
        GRT_OK
        GRT_E_ARG
        GRT_E_BUFFER
        GRT_E_TENSOR_ROLE
        GRT_STATUS_COUNT

    enum:
        GRT_LAYER_GRU
        GRT_LAYER_DENSE
        GRT_LAYER_LSTM
        GRT_LAYER_NORM
        GRT_LAYER_EMBEDDING
        GRT_PREC_Q15
        GRT_ROLE_W_IH
        GRT_ROLE_W_HH
        GRT_ROLE_B_IH
        GRT_ROLE_B_HH
        GRT_ROLE_IN_SCALE
        GRT_ROLE_OUT_SCALE
        GRT_ROLE_MAX
        GRT_LOAD_SKIP_CHECKSUM
        GRT_MAX_LAYERS
        GRT_MAX_DIM
        GRT_VERSION_MAJOR
        GRT_VERSION_MINOR

    ctypedef struct grt_diag:
        grt_status status
        const char *field
        int32_t index
        int has_values
        uint64_t actual
        uint64_t expected

    ctypedef enum grt_weight_layout:
        GRT_LAYOUT_ROW_MAJOR
        GRT_LAYOUT_PANEL8

    ctypedef struct grt_layer:
        uint8_t kind
        uint8_t precision
        uint8_t activation
        uint8_t gate_activation
        uint8_t reset_after
        uint8_t weight_layout
        uint8_t direction
        uint8_t merge
        uint32_t input_size
        uint32_t output_size
        uint32_t first_tensor
        uint32_t n_tensors
        size_t state_offset
        const void *tensor[9]
        uint32_t act_param
        uint16_t kernel_size
        uint16_t dilation
        uint8_t depthwise
        uint32_t vocab_size

    ctypedef struct grt_model:
        const uint8_t *blob
        size_t size
        uint16_t version_major
        uint16_t version_minor
        uint32_t checksum
        int checksum_verified
        uint32_t n_layers
        uint32_t n_tensors
        uint32_t input_size
        uint32_t output_size
        size_t state_size
        uint8_t q15
        uint8_t has_mask
        uint32_t mask_bits
        uint8_t needs_future
        size_t max_width
        size_t max_gates
        uint32_t meta_count
        uint32_t n_inputs
        grt_layer layers[32]

    ctypedef struct grt_input_info:
        const char *name
        uint32_t name_len
        uint32_t width
        uint32_t offset

    ctypedef struct grt_tensor_info:
        const void *data
        uint32_t index
        uint8_t role
        uint8_t dtype
        uint8_t layout
        uint8_t ndim
        uint32_t rows
        uint32_t cols
        uint32_t stored_rows
        uint32_t nbytes

    ctypedef struct grt_stream:
        const grt_model *model
        void *state

    ctypedef enum grt_isa:
        GRT_ISA_SCALAR
        GRT_ISA_AVX2
        GRT_ISA_NEON
        GRT_ISA_NEON_DOT
        GRT_ISA_AVXVNNI
        GRT_ISA_AVX512VNNI
        GRT_ISA_COUNT

    grt_isa grt_isa_best()
    grt_isa grt_isa_active()
    int grt_isa_supported(grt_isa isa)
    grt_status grt_isa_select(grt_isa isa)
    const char *grt_isa_name(grt_isa isa)
    unsigned grt_build_features()
    unsigned GRT_FEATURE_AVX2, GRT_FEATURE_NEON, GRT_FEATURE_NEON_DOT, GRT_FEATURE_AVXVNNI
    unsigned GRT_FEATURE_AVX512VNNI

    const char *grt_status_name(grt_status status)
    const char *grt_status_message(grt_status status)
    const char *grt_activation_name(unsigned code)
    const char *grt_role_name(unsigned role)
    grt_status grt_model_load(grt_model *model, const void *blob, size_t size, unsigned flags,
                              grt_diag *diag)
    grt_status grt_model_meta(const grt_model *model, uint32_t i, const char **key,
                              uint32_t *key_len, const char **value, uint32_t *value_len)
    grt_status grt_model_input(const grt_model *model, uint32_t i, grt_input_info *out)
    grt_status grt_layer_tensor(const grt_model *model, uint32_t layer, unsigned role,
                                grt_tensor_info *out)
    grt_status grt_kind_tensor(unsigned kind, unsigned precision, unsigned weight_layout,
                               uint32_t input_size, uint32_t output_size, unsigned role,
                               grt_tensor_info *out)
    size_t grt_stream_size(const grt_model *model)
    grt_status grt_stream_init(grt_stream *stream, const grt_model *model, void *mem,
                               size_t mem_size)
    void grt_stream_reset(grt_stream *stream)
    void grt_stream_step(grt_stream *stream, const float *x, float *y)
    size_t grt_run_work_size(const grt_model *model, size_t chunk_steps)
    grt_status grt_stream_run(grt_stream *stream, const float *xs, size_t T, float *ys, void *work,
                              size_t work_size)
    grt_status grt_stream_step_q15(grt_stream *stream, const int16_t *x, int16_t *y)
    grt_status grt_stream_run_q15(grt_stream *stream, const int16_t *xs, size_t T, int16_t *ys,
                                  void *work, size_t work_size)
    # (the C prototypes take grt_stream *const *: a grt_stream ** converts implicitly)
    size_t grt_batch_work_size(const grt_model *model, size_t B)
    size_t grt_batch_run_work_size(const grt_model *model, size_t B, size_t chunk_steps)
    grt_status grt_streams_step(grt_stream **streams, size_t B, const float *xs, float *ys,
                                void *work, size_t work_size)
    grt_status grt_streams_step_q15(grt_stream **streams, size_t B, const int16_t *xs,
                                    int16_t *ys, void *work, size_t work_size)
    grt_status grt_streams_run(grt_stream **streams, size_t B, const float *xs, size_t T,
                               float *ys, void *work, size_t work_size)
    grt_status grt_streams_run_q15(grt_stream **streams, size_t B, const int16_t *xs, size_t T,
                                   int16_t *ys, void *work, size_t work_size)
    grt_status grt_streams_run_ragged(grt_stream **streams, size_t B, const float **xs,
                                      const size_t *lengths, float **ys, void *work, size_t work_size)
    grt_status grt_streams_run_ragged_q15(grt_stream **streams, size_t B, const int16_t **xs,
                                          const size_t *lengths, int16_t **ys, void *work,
                                          size_t work_size)
    grt_status grt_layer_tensor_dir(const grt_model *model, uint32_t layer, unsigned dir, unsigned role,
                                    grt_tensor_info *out)
    size_t grt_model_run_work_size(const grt_model *model, size_t T)
    grt_status grt_model_run(const grt_model *model, const float *xs, size_t T, float *ys, void *work,
                             size_t work_size)
    grt_status grt_model_run_q15(const grt_model *model, const int16_t *xs, size_t T, int16_t *ys,
                                 void *work, size_t work_size)
