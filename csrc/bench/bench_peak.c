/* bench_peak.c — this machine's bounds for a GRU step, measured on one core: read bandwidth from
 * buffers that fit L1, L2, L3 and DRAM (AVX2 256-bit loads, 4 independent accumulators), the f32
 * FMA throughput (10 independent accumulator registers, so the FMA latency is hidden) and the int8
 * multiply-add throughput of the AVX2 sequence the q8 kernels use (vpmaddubsw + vpmaddwd + vpaddd).
 * docs/BENCHMARKS.md divides the kernels' GB/s and GOP/s by these to give "% of bound".
 *
 *   cc -O2 -std=c99 csrc/bench/bench_peak.c -o bench_peak && ./bench_peak
 *
 * Each figure is the best of 7 rounds (a round lasts about 50 ms): the bound a kernel could reach. */
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

#define ROUNDS 7

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
    for (;;) { /* calibrate: a round of about 50 ms */
        double t0 = now_s();
        for (size_t p = 0; p < passes; p++)
            sink += read_pass(buf, bytes / 4);
        if (now_s() - t0 > 0.05)
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

/* 10 independent FMA chains of 8 floats: 160 flops per iteration. */
__attribute__((target("avx2,fma"))) static double fma_gflops(void)
{
    double best = 0;
    const long iters = 20 * 1000 * 1000;
    for (int r = 0; r < ROUNDS; r++) {
        __m256 m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
        __m256 a[10];
        for (int i = 0; i < 10; i++)
            a[i] = _mm256_set1_ps((float)i);
        double t0 = now_s();
        for (long k = 0; k < iters; k++)
            for (int i = 0; i < 10; i++)
                a[i] = _mm256_fmadd_ps(a[i], m, c);
        double dt = now_s() - t0;
        float out[8];
        __m256 s = a[0];
        for (int i = 1; i < 10; i++)
            s = _mm256_add_ps(s, a[i]);
        _mm256_storeu_ps(out, s);
        sink += (int64_t)out[0];
        double g = (double)iters * 160.0 / dt / 1e9;
        best = g > best ? g : best;
    }
    return best;
}

/* int8 multiply-adds as the q8 kernels do them: 32 u8×s8 products per vpmaddubsw, summed to int32
 * by vpmaddwd and accumulated; 8 independent chains. Returns Gmac/s. */
__attribute__((target("avx2"))) static double int8_gmacs(void)
{
    double best = 0;
    const long iters = 10 * 1000 * 1000;
    for (int r = 0; r < ROUNDS; r++) {
        __m256i w = _mm256_set1_epi8(3), x = _mm256_set1_epi8(5), ones = _mm256_set1_epi16(1);
        __m256i acc[8];
        for (int i = 0; i < 8; i++)
            acc[i] = _mm256_setzero_si256();
        double t0 = now_s();
        for (long k = 0; k < iters; k++) {
            for (int i = 0; i < 8; i++) {
                __m256i p = _mm256_maddubs_epi16(w, x);
                acc[i] = _mm256_add_epi32(acc[i], _mm256_madd_epi16(p, ones));
            }
            x = _mm256_add_epi8(x, ones); /* keep the products from being hoisted */
        }
        double dt = now_s() - t0;
        __m256i s = acc[0];
        for (int i = 1; i < 8; i++)
            s = _mm256_add_epi32(s, acc[i]);
        sink += _mm256_extract_epi32(s, 0);
        double g = (double)iters * 8 * 32 / dt / 1e9;
        best = g > best ? g : best;
    }
    return best;
}
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
    printf("int8 multiply-add (AVX2)    %7.1f Gmac/s\n", int8_gmacs());
#else
    printf("bench_peak: x86-64 only\n");
#endif
    return 0;
}
