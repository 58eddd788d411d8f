/* bench_peak.c — this machine's bounds for a GRU step, measured on one core: read bandwidth from
 * buffers that fit L1, L2, L3 and DRAM (AVX2 256-bit loads, 4 independent accumulators), the f32
 * FMA throughput (10 independent accumulator registers, so the FMA latency is hidden; ymm, and zmm where
 * the CPU has AVX-512) and the int8
 * multiply-add throughput of the AVX2 sequence the q8 kernels use (vpmaddubsw + vpmaddwd + vpaddd) and
 * of the VNNI instructions where the CPU has them (vpdpbusd ymm/zmm, vpdpwssd ymm/zmm).
 * docs/BENCHMARKS.md divides the kernels' GB/s and GOP/s by these to give "% of bound".
 *
 *   cc -O2 -std=c99 csrc/bench/bench_peak.c -o bench_peak && ./bench_peak
 *
 * Each figure is the best of 200 short rounds (about 2 ms for a read, 0.3-1 ms for a compute rate): the
 * bound a kernel could reach, and on a shared machine the rounds that ran undisturbed. */
#define _POSIX_C_SOURCE 200112L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define HAVE_X86 1
#else
#define HAVE_X86 0
#endif

#define ROUNDS 200

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static volatile int64_t sink;

#if HAVE_X86
/* Sum the buffer as int32 lanes, 4 loads per iteration into 4 accumulators. */
__attribute__((target("avx2"))) static int64_t read_pass(const int32_t *buf, size_t n_ints)
{
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t k = 0; k + 32 <= n_ints; k += 32) {
        a0 = _mm256_add_epi32(a0, _mm256_load_si256((const __m256i *)(buf + k)));
        a1 = _mm256_add_epi32(a1, _mm256_load_si256((const __m256i *)(buf + k + 8)));
        a2 = _mm256_add_epi32(a2, _mm256_load_si256((const __m256i *)(buf + k + 16)));
        a3 = _mm256_add_epi32(a3, _mm256_load_si256((const __m256i *)(buf + k + 24)));
    }
    __m256i s = _mm256_add_epi32(_mm256_add_epi32(a0, a1), _mm256_add_epi32(a2, a3));
    int32_t lanes[8];
    _mm256_storeu_si256((__m256i *)lanes, s);
    int64_t t = 0;
    for (int i = 0; i < 8; i++)
        t += lanes[i];
    return t;
}

static double read_gbs(size_t bytes)
{
    void *mem = NULL;
    if (posix_memalign(&mem, 64, bytes) != 0)
        return 0;
    int32_t *buf = mem;
    for (size_t k = 0; k < bytes / 4; k++)
        buf[k] = (int32_t)k;
    size_t passes = 1;
    double best = 0;
    for (;;) { /* calibrate: a round of about 2 ms */
        double t0 = now_s();
        for (size_t p = 0; p < passes; p++)
            sink += read_pass(buf, bytes / 4);
        if (now_s() - t0 > 0.002)
            break;
        passes *= 2;
    }
    for (int r = 0; r < ROUNDS; r++) {
        double t0 = now_s();
        for (size_t p = 0; p < passes; p++)
            sink += read_pass(buf, bytes / 4);
        double gbs = (double)bytes * (double)passes / (now_s() - t0) / 1e9;
        best = gbs > best ? gbs : best;
    }
    free(buf);
    return best;
}

/* 10 independent FMA chains of LANES floats, 20·LANES flops per iteration (ymm: AVX2 + FMA; zmm:
 * AVX-512F). The chains are named variables, not an array: gcc -O2 keeps an array of vectors on the
 * stack (one load and store per FMA), which measured the store-forwarding latency instead of the FMA
 * units (36 instead of ~46 GFLOP/s here). */
#define FMA10(fma, m, c)                                                                            \
    a0 = fma(a0, m, c), a1 = fma(a1, m, c), a2 = fma(a2, m, c), a3 = fma(a3, m, c), a4 = fma(a4, m, c), \
    a5 = fma(a5, m, c), a6 = fma(a6, m, c), a7 = fma(a7, m, c), a8 = fma(a8, m, c), a9 = fma(a9, m, c)
#define FMA_RATE(name, target_isa, vec, set1, fma, add, LANES)                                      \
    __attribute__((target(target_isa))) static double name(void)                                     \
    {                                                                                                 \
        double best = 0;                                                                              \
        const long iters = 200 * 1000;                                                                \
        for (int r = 0; r < ROUNDS; r++) {                                                            \
            vec m = set1(0.999999f), c = set1(1e-7f);                                                 \
            vec a0 = set1(0.0f), a1 = set1(1.0f), a2 = set1(2.0f), a3 = set1(3.0f), a4 = set1(4.0f);  \
            vec a5 = set1(5.0f), a6 = set1(6.0f), a7 = set1(7.0f), a8 = set1(8.0f), a9 = set1(9.0f);  \
            double t0 = now_s();                                                                      \
            for (long k = 0; k < iters; k++)                                                          \
                FMA10(fma, m, c);                                                                     \
            double dt = now_s() - t0;                                                                 \
            vec s = add(add(add(a0, a1), add(a2, a3)), add(add(add(a4, a5), add(a6, a7)), add(a8, a9))); \
            float out;                                                                                \
            memcpy(&out, &s, sizeof out);                                                             \
            sink += (int64_t)out;                                                                     \
            double g = (double)iters * 20.0 * (LANES) / dt / 1e9;                                     \
            best = g > best ? g : best;                                                               \
        }                                                                                             \
        return best;                                                                                  \
    }

FMA_RATE(fma_gflops, "avx2,fma", __m256, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_add_ps, 8)
FMA_RATE(fma512_gflops, "avx512f", __m512, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_add_ps, 16)

/* int8 multiply-adds as the q8 kernels do them: 32 u8×s8 products per vpmaddubsw, summed to int32
 * by vpmaddwd and accumulated; 8 independent chains in named variables (as above), each with its own
 * weights so that no product is shared. Returns Gmac/s. */
#define MAC(acc, w) acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(w, x), ones))

__attribute__((target("avx2"))) static double int8_gmacs(void)
{
    double best = 0;
    const long iters = 100 * 1000;
    for (int r = 0; r < ROUNDS; r++) {
        __m256i x = _mm256_set1_epi8(5), ones = _mm256_set1_epi16(1);
        __m256i w0 = _mm256_set1_epi8(1), w1 = _mm256_set1_epi8(2), w2 = _mm256_set1_epi8(3),
                w3 = _mm256_set1_epi8(4), w4 = _mm256_set1_epi8(5), w5 = _mm256_set1_epi8(6),
                w6 = _mm256_set1_epi8(7), w7 = _mm256_set1_epi8(8);
        __m256i c0 = _mm256_setzero_si256(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0;
        double t0 = now_s();
        for (long k = 0; k < iters; k++) {
            MAC(c0, w0), MAC(c1, w1), MAC(c2, w2), MAC(c3, w3), MAC(c4, w4), MAC(c5, w5), MAC(c6, w6),
                MAC(c7, w7);
            x = _mm256_add_epi8(x, ones); /* keep the products from being hoisted */
        }
        double dt = now_s() - t0;
        __m256i s = _mm256_add_epi32(_mm256_add_epi32(_mm256_add_epi32(c0, c1), _mm256_add_epi32(c2, c3)),
                                     _mm256_add_epi32(_mm256_add_epi32(c4, c5), _mm256_add_epi32(c6, c7)));
        sink += _mm256_extract_epi32(s, 0);
        double g = (double)iters * 8 * 32 / dt / 1e9;
        best = g > best ? g : best;
    }
    return best;
}

/* The dot-product instructions of the VNNI levels: 10 independent chains (named variables, as above;
 * enough to cover a latency of 5 cycles at two per cycle; one weight vector for all, which no compiler
 * can share since each instruction also adds its own accumulator: 13 registers, no spills). MACS: the
 * multiply-adds of one instruction (vpdpbusd: 4 per int32 lane; vpdpwssd: 2). Gmac/s. */
#define DOT10(op)                                                                                   \
    c0 = op(c0, w, x), c1 = op(c1, w, x), c2 = op(c2, w, x), c3 = op(c3, w, x), c4 = op(c4, w, x),     \
    c5 = op(c5, w, x), c6 = op(c6, w, x), c7 = op(c7, w, x), c8 = op(c8, w, x), c9 = op(c9, w, x)
#define DOT_RATE(name, target_isa, vec, set1, add, op, macs)                                          \
    __attribute__((target(target_isa))) static double name(void)                                     \
    {                                                                                                 \
        double best = 0;                                                                              \
        const long iters = 100 * 1000;                                                                \
        for (int r = 0; r < ROUNDS; r++) {                                                            \
            vec x = set1(5), one = set1(1), w = set1(3);                                             \
            vec c0 = set1(0), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0, c8 = c0;  \
            vec c9 = c0;                                                                              \
            double t0 = now_s();                                                                      \
            for (long k = 0; k < iters; k++) {                                                        \
                DOT10(op);                                                                            \
                x = add(x, one); /* keep the products from being hoisted */                           \
            }                                                                                         \
            double dt = now_s() - t0;                                                                 \
            vec s = add(add(add(c0, c1), add(c2, c3)), add(add(add(c4, c5), add(c6, c7)), add(c8, c9))); \
            int32_t lane;                                                                             \
            memcpy(&lane, &s, sizeof lane);                                                           \
            sink += lane;                                                                             \
            double g = (double)iters * 10 * (macs) / dt / 1e9;                                        \
            best = g > best ? g : best;                                                               \
        }                                                                                             \
        return best;                                                                                  \
    }

DOT_RATE(vnni_ymm_gmacs, "avx2,avxvnni", __m256i, _mm256_set1_epi8, _mm256_add_epi8, _mm256_dpbusd_avx_epi32, 32)
DOT_RATE(vnni16_ymm_gmacs, "avx2,avxvnni", __m256i, _mm256_set1_epi16, _mm256_add_epi16, _mm256_dpwssd_avx_epi32, 16)
DOT_RATE(vnni_zmm_gmacs, "avx512f,avx512bw,avx512vnni", __m512i, _mm512_set1_epi8, _mm512_add_epi8,
         _mm512_dpbusd_epi32, 64)
DOT_RATE(vnni16_zmm_gmacs, "avx512f,avx512bw,avx512vnni", __m512i, _mm512_set1_epi16, _mm512_add_epi16,
         _mm512_dpwssd_epi32, 32)
#endif

int main(void)
{
#if HAVE_X86
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) {
        printf("bench_peak: needs AVX2 and FMA\n");
        return 0;
    }
    static const struct {
        const char *name;
        size_t bytes;
    } levels[] = {{"L1 (16 KiB)", 16u << 10}, {"L2 (256 KiB)", 256u << 10},
                  {"L3 (4 MiB)", 4u << 20}, {"DRAM (256 MiB)", 256u << 20}};
    printf("one core, best of %d rounds\n", ROUNDS);
    for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++)
        printf("read bandwidth %-15s %7.1f GB/s\n", levels[i].name, read_gbs(levels[i].bytes));
    printf("f32 FMA throughput          %7.1f GFLOP/s\n", fma_gflops());
    if (__builtin_cpu_supports("avx512f"))
        printf("f32 FMA throughput zmm      %7.1f GFLOP/s\n", fma512_gflops());
    printf("int8 multiply-add (AVX2)    %7.1f Gmac/s\n", int8_gmacs());
    /* The kernel flags say whether the OS saves the registers too (XCR0). */
    if (__builtin_cpu_supports("avxvnni"))
    {
        printf("int8 vpdpbusd ymm (AVX-VNNI) %6.1f Gmac/s\n", vnni_ymm_gmacs());
        printf("int16 vpdpwssd ymm (AVX-VNNI) %5.1f Gmac/s\n", vnni16_ymm_gmacs());
    }
    if (__builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512bw")) {
        printf("int8 vpdpbusd zmm (AVX-512) %7.1f Gmac/s\n", vnni_zmm_gmacs());
        printf("int16 vpdpwssd zmm (AVX-512) %6.1f Gmac/s\n", vnni16_zmm_gmacs());
    }
#else
    printf("bench_peak: x86-64 only\n");
#endif
    return 0;
}
