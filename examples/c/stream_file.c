/*
 * stream_file — load a .grt model file and stream frames through it: float32 frames in (stdin or a
 * raw file), float32 outputs out (stdout), one grt_stream_step per frame.
 *
 *     stream_file MODEL.grt [FRAMES.f32] > OUTPUTS.f32
 *
 * Frames are raw little-endian float32, input_size values each, back to back (e.g. numpy's
 * x.astype('<f4').tofile(path)); each output is output_size float32 values. Errors go to stderr
 * with a non-zero exit status: 1 for a bad model file (the loader's diagnosis is printed), 2 for
 * usage or I/O errors, 3 for a truncated last frame.
 *
 * Build: cc -std=c99 -O2 -I../../csrc/include stream_file.c ../../csrc/build/libgru_rt.a -o stream_file
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gru_rt.h"

/* The whole file in a heap buffer; malloc's alignment (>= 8) satisfies the loader's 4 bytes. */
static void *read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    void *buf = NULL;
    long n = -1;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
        buf = malloc(n > 0 ? (size_t)n : 1);
        if (buf != NULL && fread(buf, 1, (size_t)n, f) != (size_t)n) {
            free(buf);
            buf = NULL;
        }
    }
    fclose(f);
    *size = (size_t)(n > 0 ? n : 0);
    return buf;
}

static int load_model(grt_model *model, const void *blob, size_t size, const char *path)
{
    grt_diag diag;
    grt_status status = grt_model_load(model, blob, size, 0, &diag);
    if (status == GRT_OK)
        return 0;
    fprintf(stderr, "%s: %s: %s (field %s", path, grt_status_name(status),
            grt_status_message(status), diag.field ? diag.field : "-");
    if (diag.index >= 0)
        fprintf(stderr, ", index %ld", (long)diag.index);
    if (diag.has_values)
        fprintf(stderr, ", actual %llu, expected %llu", (unsigned long long)diag.actual,
                (unsigned long long)diag.expected);
    fprintf(stderr, ")\n");
    return 1;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: %s MODEL.grt [FRAMES.f32] > OUTPUTS.f32\n", argv[0]);
        return 2;
    }
    size_t size = 0;
    void *blob = read_file(argv[1], &size);
    if (blob == NULL) {
        perror(argv[1]);
        return 2;
    }
    grt_model model;
    if (load_model(&model, blob, size, argv[1]) != 0) {
        free(blob);
        return 1;
    }
    FILE *in = argc == 3 ? fopen(argv[2], "rb") : stdin;
    if (in == NULL) {
        perror(argv[2]);
        free(blob);
        return 2;
    }
    size_t mem_size = grt_stream_size(&model);
    void *mem = malloc(mem_size);
    float *x = malloc(model.input_size * sizeof(float));
    float *y = malloc(model.output_size * sizeof(float));
    grt_stream stream;
    int rc = 0;
    if (mem == NULL || x == NULL || y == NULL || grt_stream_init(&stream, &model, mem, mem_size) != GRT_OK) {
        fprintf(stderr, "out of memory\n");
        rc = 2;
    }
    size_t frames = 0;
    while (rc == 0) {
        size_t got = fread(x, sizeof(float), model.input_size, in);
        if (got == 0)
            break;
        if (got != model.input_size) {
            fprintf(stderr, "frame %zu: %zu of %u values (truncated input)\n", frames, got,
                    (unsigned)model.input_size);
            rc = 3;
            break;
        }
        grt_stream_step(&stream, x, y);
        if (fwrite(y, sizeof(float), model.output_size, stdout) != model.output_size) {
            perror("stdout");
            rc = 2;
        }
        frames++;
    }
    if (rc == 0 && ferror(in)) {
        perror("input");
        rc = 2;
    }
    if (in != stdin)
        fclose(in);
    free(y);
    free(x);
    free(mem);
    free(blob);
    return rc;
}
