/* bench.c — instructions per q15 GRU step on emulated Cortex-M cores (make -C csrc mcu-bench;
 * docs/EMBEDDING.md, "Instruction counts"). For each one-layer q15 GRU model of bench_models.h
 * (gen_bench.c) it runs one warm-up step and then STEPS timed grt_stream_step_q15 calls on
 * deterministic int16 inputs, and prints the instructions per step and per multiply-accumulate, and the
 * CRC-32 of all outputs. Under QEMU with -icount shift=0 every instruction advances virtual time by
 * exactly 1 ns, so the SysTick timer (counting the core clock) counts instructions: the program first
 * times a loop of known length (2 instructions an iteration) to get instructions per tick on the board
 * at hand, then converts. Built for the host too, where it prints only the CRCs (the reference the
 * Cortex-M results must equal bit for bit). No printf with floating point (iprintf on newlib). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "bench_models.h"
#include "gru_rt.h"

#ifdef BENCH_TRACE
/* make mcu-cycles: one step per model between the marks, traced by QEMU (port/cortex-m/cycles.py);
 * the blob's CRC is not checked, so that the trace stays short. */
#define STEPS 1
#define LOAD_FLAGS GRT_LOAD_SKIP_CHECKSUM
#else
#define STEPS 8 /* timed steps per model */
#define LOAD_FLAGS 0
#endif
#define MAX_WIDTH 256    /* input or units */
#define STREAM_BYTES 16384

#if defined(__arm__)
#define PRINT iprintf
int iprintf(const char *format, ...); /* newlib's integer-only printf (hidden by -std=c99) */
#else
#define PRINT printf
#endif

grt_model model;
grt_stream stream;
static union {
    uint8_t bytes[STREAM_BYTES];
    uint64_t align;
} stream_mem;
static int16_t x[MAX_WIDTH], y[MAX_WIDTH];

static uint32_t lcg = 12345u;

static int16_t next_input(void)
{
    lcg = lcg * 1664525u + 1013904223u;
    return (int16_t)((int32_t)(lcg >> 17) - 16384); /* [-16384, 16383] */
}

#if defined(__arm__)
/* SysTick (Armv6-M/Armv7-M/Armv8-M): a 24-bit down-counter on the core clock. */
#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
#define SYST_MASK 0xFFFFFFu

static uint32_t ticks_since(uint32_t start)
{
    return (start - SYST_CVR) & SYST_MASK; /* down-counter; intervals below 2^24 ticks */
}

#define CAL_LOOPS 200000u

/* Ticks of a loop of exactly 2 * CAL_LOOPS instructions (subs, bne). */
static uint32_t calibration_ticks(void)
{
    uint32_t n = CAL_LOOPS;
    uint32_t start = SYST_CVR;
    __asm__ volatile(".syntax unified\n1: subs %0, %0, #1\n\tbne 1b" : "+l"(n) : : "cc");
    return ticks_since(start);
}
#endif

#ifdef BENCH_TRACE
/* The marks around each timed step (cycles.py finds them by address). */
__attribute__((noinline)) void trace_begin(void)
{
    __asm__ volatile("");
}

__attribute__((noinline)) void trace_end(void)
{
    __asm__ volatile("");
}
#else
#define trace_begin() ((void)0)
#define trace_end() ((void)0)
#endif

static int bench(unsigned k)
{
    grt_diag diag;
    grt_status st = grt_model_load(&model, bench_models[k].blob, bench_models[k].size, LOAD_FLAGS, &diag);
    if (st != GRT_OK || model.input_size > MAX_WIDTH || model.output_size > MAX_WIDTH ||
        grt_stream_size(&model) > STREAM_BYTES) {
        PRINT("bench: model %u: %s %s\n", k, grt_status_name(st), diag.field ? diag.field : "-");
        return 1;
    }
    if (grt_stream_init(&stream, &model, stream_mem.bytes, sizeof stream_mem.bytes) != GRT_OK)
        return 1;
    const uint32_t I = model.input_size, H = model.output_size, macs = 3 * H * (I + H);
    uint32_t crc = 0;
    for (uint32_t i = 0; i < I; i++)
        x[i] = next_input();
    if (grt_stream_step_q15(&stream, x, y) != GRT_OK) /* warm-up (first call: the isa choice) */
        return 1;
    crc = grt_crc32(crc, y, H * sizeof y[0]);
#if defined(__arm__)
    uint32_t ticks = 0;
#endif
    for (unsigned t = 0; t < STEPS; t++) {
        for (uint32_t i = 0; i < I; i++)
            x[i] = next_input();
#if defined(__arm__)
        uint32_t start = SYST_CVR;
#endif
        trace_begin();
        st = grt_stream_step_q15(&stream, x, y);
        trace_end();
#if defined(__arm__)
        ticks += ticks_since(start);
#endif
        if (st != GRT_OK)
            return 1;
        crc = grt_crc32(crc, y, H * sizeof y[0]);
    }
#if defined(__arm__)
    /* instructions = ticks * (2 * CAL_LOOPS / cal) */
    uint64_t cal = calibration_ticks();
    uint64_t scaled = (uint64_t)ticks * 2u * CAL_LOOPS;
    uint32_t per_step10 = (uint32_t)((scaled * 10u + cal * STEPS / 2u) / (cal * STEPS));
    uint32_t per_mac100 = (uint32_t)((scaled * 100u + cal * STEPS * macs / 2u) / (cal * STEPS * macs));
    PRINT("bench %3u->%-3u macs %6u  insns/step %7u.%u  insns/mac %2u.%02u  crc32 %08lx\n", (unsigned)I,
          (unsigned)H, (unsigned)macs, (unsigned)(per_step10 / 10u), (unsigned)(per_step10 % 10u),
          (unsigned)(per_mac100 / 100u), (unsigned)(per_mac100 % 100u), (unsigned long)crc);
#else
    PRINT("bench %3u->%-3u macs %6u  crc32 %08lx\n", (unsigned)I, (unsigned)H, (unsigned)macs, (unsigned long)crc);
#endif
    return 0;
}

int main(void)
{
#if defined(__arm__)
    SYST_RVR = SYST_MASK;
    SYST_CVR = 0;
    SYST_CSR = 5u; /* enable, core clock, no interrupt */
    uint32_t cal = calibration_ticks();
    uint32_t per_tick100 = (uint32_t)(((uint64_t)2u * CAL_LOOPS * 100u + cal / 2u) / cal);
    PRINT("# gru_rt q15 bench: isa %s, %u.%02u instructions per SysTick tick (calibration loop), %u steps timed\n",
          grt_isa_name(grt_isa_active()), (unsigned)(per_tick100 / 100u), (unsigned)(per_tick100 % 100u),
          (unsigned)STEPS);
#endif
    for (unsigned k = 0; k < BENCH_MODELS; k++)
        if (bench(k) != 0)
            return 1;
    return 0;
}
