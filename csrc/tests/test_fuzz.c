/* A small deterministic fuzzer for the loader: random byte flips, field overwrites with boundary
 * values, truncations and extensions of a valid file, with and without the checksum check (and with
 * the CRC fixed up, so corruptions reach the structural checks). Each blob is an exact-size heap copy,
 * so under `make sanitize` any read past its end is caught. Loads that succeed also run a few steps
 * (q15 models also through the int16 API). Bases: an f32 model, a mixed f32/q8 model, a q15 model. */
#include <stdlib.h>
#include <string.h>

#include "test_util.h"
#include "test_writer.h"

#define ITERATIONS 20000
#define CAP 16384

static const uint32_t interesting[] = {0, 1, 2, 3, 4, 7, 8, 31, 32, 33, 63, 64, 65, 127, 128, 255, 256,
                                       257, 4095, 4096, 16383, 16384, 16385, 65535, 65536, 0x7FFFFFFFu,
                                       0x80000000u, 0xFFFFFFFEu, 0xFFFFFFFFu};

static size_t mutate(rng *r, uint8_t *b, size_t n, size_t cap, size_t tables_end)
{
    switch (rng_u32(r) % 4) {
    case 0: { /* flip 1-4 bytes, mostly in the header, tables and metadata */
        unsigned flips = 1 + rng_u32(r) % 4;
        for (unsigned i = 0; i < flips; i++) {
            size_t at = rng_u32(r) % 4 ? rng_u32(r) % tables_end : rng_u32(r) % n;
            b[at] ^= (uint8_t)(1u << (rng_u32(r) % 8));
        }
        return n;
    }
    case 1: { /* a boundary value in a 32-bit field (or any aligned word) of the header/tables */
        size_t at = (rng_u32(r) % (tables_end / 4)) * 4;
        uint32_t v = rng_u32(r) % 3 ? interesting[rng_u32(r) % (sizeof interesting / sizeof interesting[0])]
                                    : rng_u32(r);
        if (rng_u32(r) % 4 == 0)
            b[at] = (uint8_t)v; /* a single byte: kinds, codes */
        else
            tw_put_u32(b, at, v);
        return n;
    }
    case 2: /* truncate */
        return rng_u32(r) % (n + 1);
    default: { /* extend with random bytes */
        size_t extra = 1 + rng_u32(r) % 64;
        if (n + extra > cap)
            return n;
        for (size_t i = 0; i < extra; i++)
            b[n + i] = (uint8_t)rng_u32(r);
        return n + extra;
    }
    }
}

/* A loaded model: a few float steps and a chunked run; q15 models also through the int16 API. */
static int exercise(const grt_model *m)
{
    int ok = 1;
    size_t ssize = grt_stream_size(m), wsize = grt_run_work_size(m, 3);
    float *mem = malloc(ssize), *work = malloc(wsize);
    float *xs = calloc(5 * m->input_size, sizeof(float)), *ys = malloc(5 * m->output_size * sizeof(float));
    int16_t *xq = calloc(5 * m->input_size, sizeof(int16_t)), *yq = malloc(5 * m->output_size * sizeof(int16_t));
    for (size_t i = 0; i < 5 * m->input_size; i++)
        xq[i] = (int16_t)(i % 3 == 0 ? -32768 : i % 3 == 1 ? 32767 : 5);
    grt_stream s;
    if (grt_stream_init(&s, m, mem, ssize) == GRT_OK) {
        for (int t = 0; t < 3; t++)
            grt_stream_step(&s, xs, ys);
        /* GRT_NO_FLOAT_BOUNDARY: no float API for a q15 model */
        grt_status want_float = m->q15 && !GRT_HAS_FLOAT_BOUNDARY ? GRT_E_PRECISION : GRT_OK;
        ok &= grt_stream_run(&s, xs, 5, ys, work, wsize) == want_float;
        grt_status want = m->q15 ? GRT_OK : GRT_E_PRECISION;
        ok &= grt_stream_step_q15(&s, xq, yq) == want;
        ok &= grt_stream_run_q15(&s, xq, 5, yq, work, wsize) == want;
    }
    free(mem), free(work), free(xs), free(ys), free(xq), free(yq);
    return ok;
}

static void fuzz_base(const tw_layer *layers, size_t n_layers, int iterations, uint64_t seed)
{
    static const tw_meta meta[] = {{"source.framework", "numpy"}, {"k", ""}, {"tool.name", "gru_rt"}};
    uint8_t *base, *scratch;
    void *base_mem = alloc_shifted(CAP, 0, &base), *scratch_mem = alloc_shifted(CAP, 0, &scratch);
    size_t size = tw_build(base, CAP, layers, n_layers, meta, 3, NULL, 99, 0.5f);
    CHECK(size > 0);
    size_t tables_end = tw_get_u32(base, 52); /* data_offset */
    rng r = {seed};
    long loaded = 0, diag_ok = 0, zeroed_ok = 0, failures = 0;
    int status_ok = 1;
    for (int it = 0; it < iterations; it++) {
        memcpy(scratch, base, size);
        /* the data section holds scale codes and q15 scales: flip bytes there too, sometimes */
        size_t limit = rng_u32(&r) % 4 == 0 ? size : tables_end;
        size_t n = mutate(&r, scratch, size, CAP, limit);
        if (rng_u32(&r) % 2)
            n = mutate(&r, scratch, n, CAP, tables_end);
        unsigned flags = it % 2 ? GRT_LOAD_SKIP_CHECKSUM : 0;
        if (!flags && n >= 24 && rng_u32(&r) % 4 != 0)
            tw_fix_crc(scratch, n);
        uint8_t *blob = malloc(n ? n : 1); /* exact size: ASan sees any over-read */
        memcpy(blob, scratch, n);
        grt_model m;
        grt_diag d;
        grt_status st = grt_model_load(&m, blob, n, flags, &d);
        status_ok &= (unsigned)st < GRT_STATUS_COUNT && d.status == st && d.field != NULL;
        if (st == GRT_OK) {
            loaded++;
            status_ok &= exercise(&m);
        } else {
            failures++;
            diag_ok += d.index >= -1;
            grt_model zero;
            memset(&zero, 0, sizeof zero);
            zeroed_ok += memcmp(&m, &zero, sizeof m) == 0;
        }
        free(blob);
    }
    CHECK(status_ok);
    CHECK(diag_ok == failures);
    CHECK(zeroed_ok == failures);
    CHECK(loaded > 0 && failures > iterations / 2); /* both outcomes are exercised */
    free(base_mem);
    free(scratch_mem);
}

void test_fuzz(void)
{
    static const tw_layer f32[] = {
        {GRT_LAYER_DENSE, GRT_ACT_RELU, 0, 0, 3, 4, GRT_PREC_F32},
        {GRT_LAYER_GRU, GRT_ACT_TANH, GRT_ACT_SIGMOID, 1, 4, 5, GRT_PREC_F32},
        {GRT_LAYER_GRU, GRT_ACT_RELU, GRT_ACT_HARD_SIGMOID, 0, 5, 3, GRT_PREC_F32},
        {GRT_LAYER_DENSE, GRT_ACT_SOFTMAX, 0, 0, 3, 2, GRT_PREC_F32},
    };
    static const tw_layer q8[] = { /* mixed f32/q8 (GRT_NO_F32: q8 only) */
        {GRT_LAYER_DENSE, GRT_ACT_RELU, 0, 0, 3, 4, GRT_PREC_Q8},
        {GRT_LAYER_GRU, GRT_ACT_TANH, GRT_ACT_SIGMOID, 1, 4, 5, GRT_HAS_F32 ? GRT_PREC_F32 : GRT_PREC_Q8},
        {GRT_LAYER_GRU, GRT_ACT_RELU, GRT_ACT_HARD_SIGMOID, 0, 5, 3, GRT_PREC_Q8},
        {GRT_LAYER_DENSE, GRT_ACT_SOFTMAX, 0, 0, 3, 2, GRT_PREC_Q8},
    };
    static const tw_layer q15[] = {
        {GRT_LAYER_DENSE, GRT_ACT_RELU, 0, 0, 3, 4, GRT_PREC_Q15},
        {GRT_LAYER_GRU, GRT_ACT_TANH, GRT_ACT_SIGMOID, 1, 4, 5, GRT_PREC_Q15},
        {GRT_LAYER_GRU, GRT_ACT_TANH, GRT_ACT_HARD_SIGMOID, 0, 5, 3, GRT_PREC_Q15},
        {GRT_LAYER_DENSE, GRT_ACT_SOFTMAX, 0, 0, 3, 2, GRT_PREC_Q15},
    };
    if (tw_built(f32, 4))
        fuzz_base(f32, 4, ITERATIONS, 2024);
    if (tw_built(q8, 4))
        fuzz_base(q8, 4, ITERATIONS / 2, 2025);
    if (tw_built(q15, 4))
        fuzz_base(q15, 4, ITERATIONS / 2, 2026);
}
