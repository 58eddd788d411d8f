/* demo_q15.c — the q15 integer path on a Cortex-M, bit for bit against x86: the JapaneseVowels demo
 * model (12 -> GRU(48) -> Dense(9) softmax, q15, exported with `gru-rt export-c` as demo_model.c/.h)
 * streams the int16 frames of demo_frames.h with grt_stream_step_q15, the stream reset at the start
 * of each utterance, from a static stream buffer (no heap). The outputs go to the semihosting console:
 *
 *     y <t>: <9 int16 outputs>          one line per frame
 *     crc32 <hex>                       CRC-32 of all outputs (int16 little-endian, frame by frame)
 *     # ...                             information (build, memory, stack), not compared
 *
 * gen_demo.py writes the same y/crc32 lines from the Python API (Model.run_int16 on x86), and
 * `make -C csrc mps2-run` (tests/test_cross.py) compares them. No printf: newlib's pulls in software
 * floating point, and this program, like the library in its q15-only configuration, has none (its
 * link map is checked too). Runs on QEMU's mps2-an385 (Cortex-M3); startup.c, mps2.ld. */
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include "demo_frames.h"
#include "demo_model.h"
#include "gru_rt.h"

#define I DEMO_MODEL_INPUT_SIZE
#define O DEMO_MODEL_OUTPUT_SIZE

grt_model model;
grt_stream stream;
static union {
    uint8_t bytes[DEMO_MODEL_STREAM_BYTES];
    uint32_t align; /* grt_stream_init needs float (4-byte) alignment */
} stream_mem;
static int16_t outputs[DEMO_FRAMES][O];

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

static void put_int(int32_t v)
{
    if (v < 0) {
        put_str("-");
        put_uint((uint32_t)0 - (uint32_t)v, 10);
    } else {
        put_uint((uint32_t)v, 10);
    }
}

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
    if (st != GRT_OK || !model.q15 || model.input_size != I || model.output_size != O) {
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
        if (grt_stream_step_q15(&stream, demo_frames[t], outputs[t]) != GRT_OK)
            return 2;
    }
    size_t stack = stack_used(top);

    put_str("# gru_rt q15 on Cortex-M: isa ");
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
            put_int(outputs[t][j]);
        }
        end_line();
    }
    /* The CRC over the little-endian bytes, as Python's zlib.crc32(outputs.astype('<i2').tobytes()). */
    uint32_t crc = 0;
    for (size_t t = 0; t < DEMO_FRAMES; t++)
        for (size_t j = 0; j < O; j++) {
            uint8_t le[2] = {(uint8_t)((uint16_t)outputs[t][j] & 0xFFu), (uint8_t)((uint16_t)outputs[t][j] >> 8)};
            crc = grt_crc32(crc, le, 2);
        }
    put_str("crc32 ");
    char hex[9];
    for (int k = 7; k >= 0; k--, crc >>= 4)
        hex[k] = "0123456789abcdef"[crc & 15u];
    hex[8] = '\0';
    put_str(hex);
    end_line();
    return 0;
}
