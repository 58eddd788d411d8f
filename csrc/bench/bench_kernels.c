/* bench_kernels.c — the q8 and q15 products alone, per ISA level this CPU has: the matrix-vector
 * product (one step) and the matrix product of T steps (per step), on random weights. The levels'
 * rounds alternate and each figure is the fastest round (a round: 5 matrix-vector products, or one
 * matrix product), so that a shared machine's load disturbs every level alike and mostly drops out.
 * GOP/s = 2·rows·cols / time.
 *
 *   make -C csrc bench-kernels                     rows x cols = 384x128, 768x256, 1536x512 (3H x H)
 *   ./build/bench_kernels ROWS COLS [T [ROUNDS]]   one shape (T default 16, ROUNDS default 2000) */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "grt_kernels.h"
#include "grt_q15.h"

static double now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

enum { Q8_MV, Q15_MV, Q8_MM, Q15_MM, F32_MV, F32_MM, P8_MV, P8_MM, N_KINDS };

static void bench(size_t rows, size_t cols, size_t T, int rounds)
{
    int8_t *W = malloc(rows * cols), *x8 = malloc(cols * T);
    int16_t *x16 = malloc(cols * T * sizeof(int16_t));
    uint16_t *codes = malloc(rows * sizeof(uint16_t));
    float *b = calloc(rows, sizeof(float)), *y = malloc(rows * T * sizeof(float)), *sx = malloc(T * sizeof(float));
    int32_t *bi = calloc(rows, sizeof(int32_t)), *yi = malloc(rows * T * sizeof(int32_t));
    size_t padded = (rows + 7) / 8 * 8; /* panel8 rows */
    float *Wf = malloc(padded * cols * sizeof(float)), *xf = malloc(cols * T * sizeof(float));
    srand(1);
    for (size_t i = 0; i < padded * cols; i++)
        Wf[i] = (float)(rand() % 2001 - 1000) * 1e-3f;
    for (size_t i = 0; i < cols * T; i++)
        xf[i] = (float)(rand() % 2001 - 1000) * 1e-3f;
    for (size_t i = 0; i < rows * cols; i++)
        W[i] = (int8_t)(rand() % 255 - 127);
    for (size_t i = 0; i < rows; i++)
        codes[i] = 0x3C00;
    for (size_t i = 0; i < cols * T; i++) {
        x8[i] = (int8_t)(rand() % 255 - 127);
        x16[i] = (int16_t)(rand() % 60001 - 30000);
    }
    for (size_t t = 0; t < T; t++)
        sx[t] = 0.01f;
    double best[GRT_ISA_COUNT][N_KINDS];
    for (int k = 0; k < GRT_ISA_COUNT; k++)
        for (int j = 0; j < N_KINDS; j++)
            best[k][j] = 1e300;
    for (int r = 0; r < rounds; r++) {
        for (int k = 0; k < GRT_ISA_COUNT; k++) {
            grt_isa isa = (grt_isa)k;
            if (!grt_isa_supported(isa))
                continue;
            double t0 = now_ns(), d[N_KINDS];
            for (int i = 0; i < 5; i++)
                grt_isa_q8_matvec(isa)(y, W, codes, b, x8, sx[0], rows, cols);
            d[Q8_MV] = (now_ns() - t0) / 5, t0 = now_ns();
            for (int i = 0; i < 5; i++)
                grt_isa_q15_matvec(isa)(yi, W, codes, bi, x16, rows, cols);
            d[Q15_MV] = (now_ns() - t0) / 5, t0 = now_ns();
            grt_isa_q8_matmul(isa)(y, rows, W, codes, b, x8, sx, rows, cols, T);
            d[Q8_MM] = (now_ns() - t0) / (double)T, t0 = now_ns();
            grt_isa_q15_matmul(isa)(yi, rows, W, codes, bi, x16, cols, rows, cols, T);
            d[Q15_MM] = (now_ns() - t0) / (double)T, t0 = now_ns();
            for (int i = 0; i < 5; i++)
                grt_isa_matvec(isa)(y, Wf, b, xf, rows, cols);
            d[F32_MV] = (now_ns() - t0) / 5, t0 = now_ns();
            grt_isa_matmul(isa)(y, rows, Wf, b, xf, cols, rows, cols, T);
            d[F32_MM] = (now_ns() - t0) / (double)T, t0 = now_ns();
            for (int i = 0; i < 5; i++)
                grt_isa_matvec_p8(isa)(y, Wf, b, xf, rows, cols);
            d[P8_MV] = (now_ns() - t0) / 5, t0 = now_ns();
            grt_isa_matmul_p8(isa)(y, rows, Wf, b, xf, cols, rows, cols, T);
            d[P8_MM] = (now_ns() - t0) / (double)T;
            for (int j = 0; j < N_KINDS; j++)
                best[k][j] = d[j] < best[k][j] ? d[j] : best[k][j];
        }
    }
    double ops = 2.0 * (double)rows * (double)cols;
    for (int k = 0; k < GRT_ISA_COUNT; k++) {
        if (best[k][0] > 1e299)
            continue;
        printf("%5zux%-5zu %-10s | q8 %8.0f ns %5.0f GOP/s | q15 %8.0f ns %5.0f GOP/s | T=%zu, per step: q8 %8.0f "
               "ns %5.0f GOP/s | q15 %8.0f ns %5.0f GOP/s\n",
               rows, cols, grt_isa_name((grt_isa)k), best[k][Q8_MV], ops / best[k][Q8_MV], best[k][Q15_MV],
               ops / best[k][Q15_MV], T, best[k][Q8_MM], ops / best[k][Q8_MM], best[k][Q15_MM],
               ops / best[k][Q15_MM]);
        printf("%5zux%-5zu %-10s | f32 %7.0f ns %5.0f GOP/s | panel8 %7.0f ns %5.0f GOP/s | T=%zu, per step: f32 %7.0f "
               "ns %5.0f GOP/s | panel8 %7.0f ns %5.0f GOP/s\n",
               rows, cols, grt_isa_name((grt_isa)k), best[k][F32_MV], ops / best[k][F32_MV], best[k][P8_MV],
               ops / best[k][P8_MV], T, best[k][F32_MM], ops / best[k][F32_MM], best[k][P8_MM],
               ops / best[k][P8_MM]);
    }
    free(Wf), free(xf);
    free(W), free(x8), free(x16), free(codes), free(b), free(y), free(sx), free(bi), free(yi);
}

int main(int argc, char **argv)
{
    printf("q8/q15 products: matrix-vector (one step) and matrix product of T steps (per step); the fastest of "
           "the alternating rounds\n");
    if (argc >= 3) {
        size_t T = argc > 3 ? (size_t)atol(argv[3]) : 16;
        int rounds = argc > 4 ? atoi(argv[4]) : 2000;
        bench((size_t)atol(argv[1]), (size_t)atol(argv[2]), T < 1 ? 1 : T, rounds < 1 ? 1 : rounds);
        return 0;
    }
    static const size_t shapes[][2] = {{96, 32}, {192, 64}, {384, 128}, {768, 256}, {1536, 512}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        bench(shapes[i][0], shapes[i][1], 16, shapes[i][0] >= 1536 ? 300 : 2000);
    return 0;
}
