/* step_path.c — the smallest q15 firmware: load a model (validation and CRC-32), bind a stream, step
 * it through the int16 API. `make -C csrc mcu-size` links it with --gc-sections against a q15-only
 * library built with one section per function, and port/cortex-m/step_size.sh sums what the link map
 * kept of each library object: the step path (q15 kernels and tables, stream, dispatch) apart from the
 * loader and the CRC. Built, never run: the blob below is not a model. */
#include <stddef.h>
#include <stdint.h>

#include "gru_rt.h"

static grt_model model;
static grt_stream stream;
static uint32_t blob[16];
static uint32_t mem[256];

int main(void)
{
    grt_diag diag;
    int16_t x[64] = {0}, y[64];
    if (grt_model_load(&model, blob, sizeof blob, 0, &diag) != GRT_OK ||
        grt_stream_init(&stream, &model, mem, sizeof mem) != GRT_OK)
        return 1;
    return grt_stream_step_q15(&stream, x, y) == GRT_OK ? 0 : 1;
}
