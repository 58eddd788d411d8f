/* demo.c — a model on a Cortex-M, bit for bit against x86. gen_demo.py writes the model (the
 * JapaneseVowels demo model, 12 -> GRU(48) -> Dense(9) softmax, exported with `gru-rt export-c` as
 * demo_model.c/.h) and the frames (demo_frames.h): int16 frames for a q15 model, which this program
 * streams with grt_stream_step_q15 (the integer path, on Cortex-M3/M0+ builds without any floating
 * point), or float32 frames for an f32 or q8 model, streamed with grt_stream_step (Cortex-M4F, FPU).
 * The stream is reset at the start of each utterance and lives in a static buffer (no heap). The
 * outputs go to the semihosting console:
 *
 *     y <t>: <9 outputs>      one line per frame: int16 values (q15), or float32 bits in hex
 *     crc32 <hex>             CRC-32 of all outputs (little-endian bytes, frame by frame)
 *     # ...                   information (build, memory, stack), not compared
 *
 * gen_demo.py writes the same y/crc32 lines from the Python API on x86, and `make -C csrc mps2-run`
 * (tests/test_cross.py) compares them. No printf: newlib's pulls in software floating point, and the
 * q15 programs, like the library in its q15-only configuration, have none (their link maps are checked
 * too). Runs on QEMU's mps2-an385 (Cortex-M3) and mps2-an386 (Cortex-M4F); startup.c, mps2.ld. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "demo_frames.h"
#include "demo_model.h"
#include "gru_rt.h"

#define I DEMO_MODEL_INPUT_SIZE
#define O DEMO_MODEL_OUTPUT_SIZE

#if DEMO_Q15
typedef int16_t value; /* the int16 API */
#else
typedef float value; /* the float API */
#endif

grt_model model;
grt_stream stream;
static union {
    uint8_t bytes[DEMO_MODEL_STREAM_BYTES];
    uint32_t align; /* grt_stream_init needs float (4-byte) alignment */
} stream_mem;
static value outputs[DEMO_FRAMES][O];

/* ---- output without printf ------------------------------------------------------------------------ */

static char line[256];
static size_t len;

static void put_str(const char *s)
{
    while (*s && len < sizeof line - 1)
        line[len++] = *s++;
}

static void put_uint(uint32_t v, unsigned base)
{
    char digits[12];
    size_t n = 0;
    do {
        digits[n++] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v != 0);
    while (n > 0 && len < sizeof line - 1)
        line[len++] = digits[--n];
}

#if DEMO_Q15
static void put_int(int32_t v)
{
    if (v < 0) {
        put_str("-");
        put_uint((uint32_t)0 - (uint32_t)v, 10);
    } else {
        put_uint((uint32_t)v, 10);
    }
}
#endif

static void put_hex32(uint32_t v)
{
    char hex[9];
    for (int k = 7; k >= 0; k--, v >>= 4)
        hex[k] = "0123456789abcdef"[v & 15u];
    hex[8] = '\0';
    put_str(hex);
}

#if !DEMO_Q15
static uint32_t float_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}
#endif

static void end_line(void)
{
    line[len++] = '\n';
    (void)write(1, line, len);
    len = 0;
}

/* ---- stack high-water mark -------------------------------------------------------------------------- */

#define STACK_PAINT 8192 /* bytes below the current stack pointer painted before the steps */
#define PAINT 0xA5u

/* Paint the stack below this function's frame; measured() later finds the deepest byte changed. Both
 * are noinline so that their own frames sit at the same depth, next to main's. */
__attribute__((noinline)) static uintptr_t paint_stack(void)
{
    uintptr_t top = (uintptr_t)__builtin_frame_address(0);
    volatile uint8_t *p = (volatile uint8_t *)top;
    for (size_t k = 64; k < STACK_PAINT; k++)
        p[-(ptrdiff_t)k] = PAINT;
    return top;
}

__attribute__((noinline)) static size_t stack_used(uintptr_t top)
{
    volatile const uint8_t *p = (volatile const uint8_t *)top;
    size_t k = STACK_PAINT - 1;
    while (k >= 64 && p[-(ptrdiff_t)k] == PAINT)
        k--;
    return k;
}

int main(void)
{
    size_t size;
    const void *blob = demo_model_blob(&size);
    grt_diag diag;
    grt_status st = grt_model_load(&model, blob, size, 0, &diag);
    if (st != GRT_OK || model.q15 != DEMO_Q15 || model.input_size != I || model.output_size != O) {
        put_str("# model: ");
        put_str(grt_status_name(st));
        put_str(" ");
        put_str(diag.field != NULL ? diag.field : "-");
        end_line();
        return 1;
    }
    st = grt_stream_init(&stream, &model, stream_mem.bytes, sizeof stream_mem.bytes);
    if (st != GRT_OK) {
        put_str("# stream: ");
        put_str(grt_status_name(st));
        end_line();
        return 1;
    }

    uintptr_t top = paint_stack();
    size_t next = 0; /* index into demo_starts */
    for (size_t t = 0; t < DEMO_FRAMES; t++) {
        if (next < DEMO_UTTERANCES && demo_starts[next] == t) {
            grt_stream_reset(&stream);
            next++;
        }
#if DEMO_Q15
        if (grt_stream_step_q15(&stream, demo_frames[t], outputs[t]) != GRT_OK)
            return 2;
#else
        grt_stream_step(&stream, demo_frames[t], outputs[t]);
#endif
    }
    size_t stack = stack_used(top);

    put_str("# gru_rt " DEMO_PRECISION " on Cortex-M: isa ");
    put_str(grt_isa_name(grt_isa_active()));
    put_str(", features 0x");
    put_uint(grt_build_features(), 16);
    put_str(", ");
    put_uint(DEMO_FRAMES, 10);
    put_str(" frames in ");
    put_uint(DEMO_UTTERANCES, 10);
    put_str(" utterances");
    end_line();
    put_str("# memory: model blob ");
    put_uint((uint32_t)size, 10);
    put_str(" B (flash), stream ");
    put_uint((uint32_t)grt_stream_size(&model), 10);
    put_str(" B, grt_model ");
    put_uint((uint32_t)sizeof model, 10);
    put_str(" B, stack of the steps <= ");
    put_uint((uint32_t)stack, 10);
    put_str(" B");
    end_line();
    for (size_t t = 0; t < DEMO_FRAMES; t++) {
        put_str("y ");
        put_uint((uint32_t)t, 10);
        put_str(":");
        for (size_t j = 0; j < O; j++) {
            put_str(" ");
#if DEMO_Q15
            put_int(outputs[t][j]);
#else
            put_hex32(float_bits(outputs[t][j]));
#endif
        }
        end_line();
    }
    /* The CRC over the little-endian bytes, as Python's zlib.crc32 of the outputs as '<i2' or '<f4'. */
    uint32_t crc = 0;
    for (size_t t = 0; t < DEMO_FRAMES; t++)
        for (size_t j = 0; j < O; j++) {
#if DEMO_Q15
            uint32_t bits = (uint16_t)outputs[t][j];
#else
            uint32_t bits = float_bits(outputs[t][j]);
#endif
            uint8_t le[4] = {(uint8_t)(bits & 0xFFu), (uint8_t)((bits >> 8) & 0xFFu), (uint8_t)((bits >> 16) & 0xFFu),
                             (uint8_t)(bits >> 24)};
            crc = grt_crc32(crc, le, sizeof(value));
        }
    put_str("crc32 ");
    put_hex32(crc);
    end_line();
    return 0;
}
