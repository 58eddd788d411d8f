/*
 * static_model — a model compiled into the program (gru-rt export-c), its stream in a static buffer:
 * no heap at all, as on a microcontroller. Streams float32 frames from stdin to float32 outputs on
 * stdout, like stream_file.
 *
 *     gru-rt export-c MODEL.grt -o build/model_data      # writes model_data.c / model_data.h
 *     cc -std=c99 -O2 -I../../csrc/include -Ibuild static_model.c build/model_data.c \
 *        ../../csrc/build/libgru_rt.a -o static_model
 *     ./static_model < frames.f32 > outputs.f32
 */
#include <stdio.h>

#include "gru_rt.h"
#include "model_data.h"

/* Sized at compile time from the exported header; 64-byte aligned like the model itself. */
static union {
    unsigned char bytes[MODEL_DATA_STREAM_BYTES];
    long double align_; /* at least float/int32 alignment on any C99 compiler */
} stream_mem;
static grt_model model;
static grt_stream stream;
static float x[MODEL_DATA_INPUT_SIZE];
static float y[MODEL_DATA_OUTPUT_SIZE];

int main(void)
{
    size_t size;
    const void *blob = model_data_blob(&size);
    grt_diag diag;
    grt_status status = grt_model_load(&model, blob, size, 0, &diag);
    if (status != GRT_OK) {
        fprintf(stderr, "model: %s (%s)\n", grt_status_name(status), diag.field ? diag.field : "-");
        return 1;
    }
    /* The stream's memory is the static buffer: grt_stream_init checks that it is large enough. */
    status = grt_stream_init(&stream, &model, stream_mem.bytes, sizeof stream_mem.bytes);
    if (status != GRT_OK) {
        fprintf(stderr, "stream: %s\n", grt_status_name(status));
        return 1;
    }
    size_t got;
    while ((got = fread(x, sizeof(float), MODEL_DATA_INPUT_SIZE, stdin)) == MODEL_DATA_INPUT_SIZE) {
        grt_stream_step(&stream, x, y);
        if (fwrite(y, sizeof(float), MODEL_DATA_OUTPUT_SIZE, stdout) != MODEL_DATA_OUTPUT_SIZE)
            return 2;
    }
    if (got != 0) {
        fprintf(stderr, "truncated last frame: %zu values\n", got);
        return 3;
    }
    return ferror(stdin) ? 2 : 0;
}
