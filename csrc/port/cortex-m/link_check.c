/* link_check.c — a Cortex-M program that calls every public function the build configuration has
 * (gru_rt.h, "Build configuration"), so that its link map shows everything the library pulls in:
 * `make -C csrc cortex-m` links it for each configuration, checks the map for software floating point
 * (none may appear in the FPU-less q15 builds; no double-precision routine anywhere) and reports the
 * sizes of the library objects linked. It is built, never run: the blob below is not a model.
 * `model` and `stream` are globals so that `nm -S` gives sizeof(grt_model) and sizeof(grt_stream)
 * for the target. */
#include <stddef.h>
#include <stdint.h>

#include "gru_rt.h"

grt_model model;
grt_stream stream;
static uint32_t blob[16];
static uint32_t mem[256];
static uint32_t work[256];

int main(void)
{
    grt_diag diag;
    volatile unsigned sink = grt_build_features() + (unsigned)grt_isa_best();
    sink += grt_crc32(0, blob, sizeof blob);
    grt_status st = grt_model_load(&model, blob, sizeof blob, 0, &diag);
    sink += (unsigned)grt_status_name(st)[0] + (unsigned)grt_status_message(st)[0];
    sink += (unsigned)grt_activation_name(1)[0] + (unsigned)grt_role_name(1)[0];
    sink += (unsigned)grt_isa_name(grt_isa_active())[0] + (unsigned)grt_isa_select(GRT_ISA_SCALAR);
    const char *key, *value;
    uint32_t key_len, value_len;
    sink += (unsigned)grt_model_meta(&model, 0, &key, &key_len, &value, &value_len);
    grt_tensor_info tensor;
    sink += (unsigned)grt_layer_tensor(&model, 0, GRT_ROLE_W_IH, &tensor) + tensor.nbytes;
    sink += (unsigned)grt_kind_tensor(GRT_LAYER_GRU, GRT_PREC_Q15, 0, 4, 8, GRT_ROLE_B_IH, &tensor);
    sink += (unsigned)grt_stream_size(&model) + (unsigned)grt_run_work_size(&model, 4);
    sink += (unsigned)grt_stream_init(&stream, &model, mem, sizeof mem);

    int16_t xq[64] = {0}, yq[64];
    sink += (unsigned)grt_stream_step_q15(&stream, xq, yq);
    sink += (unsigned)grt_stream_run_q15(&stream, xq, 1, yq, work, sizeof work);
    grt_stream_reset(&stream);
    /* The float API exists in every configuration (for a q15 model without the float boundary it
     * changes nothing or returns GRT_E_PRECISION). Pointers only: this program itself does no
     * floating-point arithmetic. */
    static float x[64], y[64];
    grt_stream_step(&stream, x, y);
    sink += (unsigned)grt_stream_run(&stream, x, 1, y, work, sizeof work);
#if GRT_HAS_FLOAT_BOUNDARY
    grt_q15_quantize_input(&model, x, xq);
    grt_q15_dequantize_output(&model, yq, y);
#endif
    return (int)(sink & 1u);
}
