/* bench_step.c — per-step latency of grt_stream_step for a single-layer GRU (reset_after = 1, tanh,
 * sigmoid) with random weights, built in memory by the test writer (tests/test_writer.c), for each
 * precision (f32, q8, q15) and each instruction-set level this CPU supports.
 *
 *   make -C csrc bench                           the default sizes
 *   ./build/bench_step [-s 16x32,64x128] [-r ROUNDS] [-m MS_PER_ROUND] [-p f32,f32p8,q8,q15]
 *                      [-i scalar,avx2,avxvnni,avx512vnni,neon,neon_dot] [-b B] [-t T]
 *
 * Each cell: the median over ROUNDS rounds of the mean time of one grt_stream_step (the float API, so
 * a q15 step includes its input/output boundary), the steps of a round chosen so that it lasts about
 * MS_PER_ROUND ms (and the fastest round, "min"); effective GOP/s = 2·(3H·I + 3H·H) multiply-adds per step (×2 ops) / time; GB/s =
 * the bytes of the layer's tensors (weights, row scales, biases) read per step / time. With -b B, also
 * grt_streams_step on B streams of the model: ns per stream (one call's time / B, measured the same
 * way, its rounds alternating with the single step's) and the single step's time over it (the
 * speed-up per stream), for the medians and for the fastest rounds. With -t T, also grt_stream_run of
 * T steps (work for chunks of 256 steps, as Model.run): ns per step and its ratio to the single step,
 * measured the same way. First, per level, the float
 * activations' cost (tanh, sigmoid: ns per element of grt_act_apply, the best round). */
#define _POSIX_C_SOURCE 199309L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "grt_math.h"
#include "gru_rt.h"
#include "tests/test_util.h"
#include "tests/test_writer.h"

#define MAX_SIZES 32
#define MAX_ROUNDS 64

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static volatile float sink;

/* What is timed: one step of a stream, one batch step of B streams (the stream memories one after
 * the other in mem), or a run of T steps of one stream. */
typedef struct stepper {
    grt_stream *streams;
    grt_stream **ptrs;
    size_t B;      /* 0: a single grt_stream_step */
    size_t T;      /* > 0: grt_stream_run of T steps (x, y: T rows) */
    void *work;
    size_t work_size;
    const float *x; /* B (or one) rows */
    float *y;
    size_t O;
} stepper;

static void step_once(const stepper *st)
{
    if (st->T > 0) {
        if (grt_stream_run(st->streams, st->x, st->T, st->y, st->work, st->work_size) != GRT_OK)
            abort();
    } else if (st->B == 0)
        grt_stream_step(st->streams, st->x, st->y);
    else if (grt_streams_step(st->ptrs, st->B, st->x, st->y, st->work, st->work_size) != GRT_OK)
        abort();
}

static void reset_all(const stepper *st)
{
    for (size_t b = 0; b < (st->B ? st->B : 1); b++)
        grt_stream_reset(&st->streams[b]);
}

/* Calls per round so that a round lasts about ms milliseconds (also the warm-up). */
static size_t calls_per_round(const stepper *st, double ms)
{
    size_t n = 16;
    for (;;) {
        double t0 = now_ns();
        for (size_t i = 0; i < n; i++)
            step_once(st);
        double dt = now_ns() - t0;
        if (dt >= ms * 1e6 / 4 || n >= ((size_t)1 << 30))
            return (size_t)(ms * 1e6 / (dt / (double)n)) + 1;
        n *= 2;
    }
}

/* ns per call of one round of n calls from reset streams. */
static double one_round(const stepper *st, size_t n)
{
    reset_all(st);
    double t0 = now_ns();
    for (size_t i = 0; i < n; i++)
        step_once(st);
    double dt = (now_ns() - t0) / (double)n;
    sink = st->y[st->O - 1];
    return dt;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof v[0], cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Median ns per call of each stepper (b, c may be NULL) over `rounds` rounds of about ms milliseconds
 * each, the rounds of a, b and c alternating so that all see the same machine load; fast[k] gets the
 * fastest round of each (steadier than the median on a shared machine). */
static void time_steps(const stepper *a, const stepper *b, const stepper *c, int rounds, double ms, double med[3],
                       double fast[3])
{
    double samples[3][MAX_ROUNDS];
    const stepper *st[3] = {a, b, c};
    size_t n[3];
    for (int k = 0; k < 3; k++)
        n[k] = st[k] ? calls_per_round(st[k], ms) : 0;
    for (int r = 0; r < rounds; r++)
        for (int k = 0; k < 3; k++)
            if (st[k])
                samples[k][r] = one_round(st[k], n[k]);
    for (int k = 0; k < 3; k++) {
        if (!st[k])
            continue;
        med[k] = median(samples[k], rounds);
        fast[k] = samples[k][0]; /* sorted by median() */
    }
}

/* Bytes of the layer's tensors read per step. */
static double param_bytes(unsigned prec, double I, double H)
{
    double w = 3 * H * (I + H), rows = 6 * H;
    switch (prec) {
    case GRT_PREC_Q8: return w + rows * (2 + 4);  /* int8 weights, bf16 scales, f32 biases */
    case GRT_PREC_Q15: return w + rows * (2 + 4); /* int8 weights, bf16 codes, int32 biases */
    default: return 4 * w + rows * 4;
    }
}

/* The benchmarked variants: a precision, and for f32 a weight layout. */
typedef struct variant {
    const char *name;
    unsigned prec, panel8;
} variant;

static const variant variants[] = {
    {"f32", GRT_PREC_F32, 0}, {"f32p8", GRT_PREC_F32, 1}, {"q8", GRT_PREC_Q8, 0}, {"q15", GRT_PREC_Q15, 0}};
#define N_VARIANTS (sizeof variants / sizeof variants[0])

/* Is name one of the comma-separated items of list? */
static int listed(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; (p = strstr(p, name)) != NULL; p += n)
        if ((p == list || p[-1] == ',') && (p[n] == ',' || p[n] == '\0'))
            return 1;
    return 0;
}

static void usage(const char *argv0)
{
    fprintf(stderr, "usage: %s [-s IxH,IxH,...] [-r ROUNDS] [-m MS_PER_ROUND] [-p f32,f32p8,q8,q15] "
                    "[-i scalar,avx2,avxvnni,avx512vnni,neon,neon_dot] [-b B] [-t T]\n",
            argv0);
    exit(2);
}

/* ns per element of grt_act_apply (tanh, sigmoid) on 256 values in [-3.8, 3.8) at the active level:
 * the best of `rounds` rounds of 20,000 calls, each on a fresh copy of the values (the copy is
 * timed too: ~0.1 ns per element). */
static void time_activations(int rounds)
{
    enum { N = 256, CALLS = 20000 };
    static const unsigned acts[] = {GRT_ACT_TANH, GRT_ACT_SIGMOID};
    float src[N], v[N];
    for (size_t i = 0; i < N; i++)
        src[i] = ((float)i - 128.0f) * 0.03f;
    printf("  activations (ns/element):");
    for (size_t a = 0; a < 2; a++) {
        double best = 1e30;
        for (int r = 0; r < rounds; r++) {
            double t0 = now_ns();
            for (int c = 0; c < CALLS; c++) {
                memcpy(v, src, sizeof v);
                grt_act_apply(acts[a], v, N);
            }
            double t = (now_ns() - t0) / CALLS / N;
            best = t < best ? t : best;
            sink += v[r % N];
        }
        printf(" %s %.2f", grt_activation_name(acts[a]), best);
    }
    printf("\n");
}

int main(int argc, char **argv)
{
    const char *sizes = "16x32,40x64,64x128,128x256,256x512,512x1024", *precs = "f32,f32p8,q8,q15", *isas = NULL;
    int rounds = 9;
    long batch = 0, steps = 0;
    double ms = 40.0;
    for (int a = 1; a < argc; a++) {
        if (a + 1 >= argc)
            usage(argv[0]);
        if (strcmp(argv[a], "-s") == 0)
            sizes = argv[++a];
        else if (strcmp(argv[a], "-r") == 0)
            rounds = atoi(argv[++a]);
        else if (strcmp(argv[a], "-m") == 0)
            ms = atof(argv[++a]);
        else if (strcmp(argv[a], "-p") == 0)
            precs = argv[++a];
        else if (strcmp(argv[a], "-i") == 0)
            isas = argv[++a];
        else if (strcmp(argv[a], "-b") == 0)
            batch = atol(argv[++a]);
        else if (strcmp(argv[a], "-t") == 0)
            steps = atol(argv[++a]);
        else
            usage(argv[0]);
    }
    if (rounds < 1 || rounds > MAX_ROUNDS || !(ms > 0) || batch < 0 || batch > 4096 || steps < 0 || steps > 100000)
        usage(argv[0]);

    const variant *plist[N_VARIANTS];
    size_t np = 0;
    for (size_t p = 0; p < N_VARIANTS; p++)
        if (listed(precs, variants[p].name))
            plist[np++] = &variants[p];
    size_t in[MAX_SIZES], hid[MAX_SIZES], ns = 0;
    for (const char *p = sizes; *p && ns < MAX_SIZES;) {
        char *e;
        unsigned long i = strtoul(p, &e, 10);
        if (*e != 'x' && *e != 'X')
            usage(argv[0]);
        unsigned long h = strtoul(e + 1, &e, 10);
        if (i == 0 || h == 0 || i > 16384 || h > 16384 || (*e != ',' && *e != '\0'))
            usage(argv[0]);
        in[ns] = i, hid[ns] = h, ns++;
        p = *e ? e + 1 : e;
    }

    grt_isa levels[GRT_ISA_COUNT];
    size_t nl = 0;
    grt_isa best = grt_isa_best();
    for (unsigned k = 0; k < GRT_ISA_COUNT; k++)
        if ((!isas || listed(isas, grt_isa_name((grt_isa)k))) && grt_isa_select((grt_isa)k) == GRT_OK)
            levels[nl++] = (grt_isa)k;

    printf("gru_rt C bench: one GRU layer (reset_after=1), grt_stream_step, median of %d rounds of ~%.0f ms;"
           " best level %s\n", rounds, ms, grt_isa_name(best));
    for (size_t li = 0; li < nl; li++) {
        grt_isa_select(levels[li]);
        printf("%s", grt_isa_name(levels[li]));
        time_activations(rounds);
    }
    if (batch)
        printf("with -b %ld: grt_streams_step of %ld streams, ns per stream, and ns/step over it\n", batch, batch);
    printf("%9s %5s %7s | %12s %8s %8s | %12s", "I×H", "prec", "isa", "ns/step", "GOP/s", "GB/s", "min ns/step");
    if (batch)
        printf(" | %14s %8s | %12s %8s", "batch ns/strm", "speed-up", "min ns/strm", "min sp-up");
    if (steps)
        printf(" | %12s %8s | %12s %8s", "run ns/step", "/step", "min ns/step", "min /step");
    printf("\n");
    if (steps)
        printf("with -t %ld: grt_stream_run of %ld steps, ns per step, and its ratio to ns/step\n", steps, steps);
    for (size_t si = 0; si < ns; si++) {
        size_t I = in[si], H = hid[si];
        double ops = 2.0 * (3.0 * (double)H * (double)I + 3.0 * (double)H * (double)H);
        for (size_t pi = 0; pi < np; pi++) {
            unsigned prec = plist[pi]->prec;
            tw_options opt = {0, 0, 0, TW_FILL_RANDOM, plist[pi]->panel8};
            tw_layer L = {GRT_LAYER_GRU, GRT_ACT_TANH, GRT_ACT_SIGMOID, 1, (uint32_t)I, (uint32_t)H,
                          (uint8_t)prec};
            size_t cap = (size_t)(param_bytes(GRT_PREC_F32, (double)I, (double)H) * 1.1) + (1u << 16);
            uint8_t *blob;
            void *blob_mem = alloc_shifted(cap, 0, &blob);
            size_t size = tw_build(blob, cap, &L, 1, NULL, 0, &opt, 7, 1.0f / sqrtf((float)H));
            grt_model m;
            grt_diag d;
            if (size == 0 || grt_model_load(&m, blob, size, 0, &d) != GRT_OK) {
                fprintf(stderr, "%zux%zu %s: cannot build/load the model\n", I, H, plist[pi]->name);
                return 1;
            }
            size_t ssize = grt_stream_size(&m), B = (size_t)batch, nstreams = B ? B : 1;
            uint8_t *smem, *work;
            void *smem_base = alloc_shifted(nstreams * ssize, 0, &smem);
            size_t wsize = grt_batch_work_size(&m, B);
            void *work_base = alloc_shifted(wsize, 0, &work);
            size_t rows = nstreams > (size_t)steps ? nstreams : (size_t)steps; /* of x and y */
            size_t rsize = steps ? grt_run_work_size(&m, 256) : 0;
            uint8_t *rwork;
            void *rwork_base = alloc_shifted(rsize ? rsize : 64, 0, &rwork);
            float *x = malloc(rows * I * sizeof(float)), *y = malloc(rows * H * sizeof(float));
            grt_stream *streams = malloc(nstreams * sizeof(grt_stream));
            grt_stream **ptrs = malloc(nstreams * sizeof(grt_stream *));
            rng r = {42};
            for (size_t i = 0; i < rows * I; i++)
                x[i] = rng_uniform(&r, -1.0f, 1.0f);
            for (size_t li = 0; li < nl; li++) {
                grt_isa_select(levels[li]);
                for (size_t b = 0; b < nstreams; b++) {
                    if (grt_stream_init(&streams[b], &m, smem + b * ssize, ssize) != GRT_OK) {
                        fprintf(stderr, "stream init failed\n");
                        return 1;
                    }
                    ptrs[b] = &streams[b];
                }
                stepper one = {streams, ptrs, 0, 0, NULL, 0, x, y, H}, many = {streams, ptrs, B, 0, work, wsize, x, y, H};
                stepper run = {streams, ptrs, 0, (size_t)steps, rwork, rsize, x, y, H};
                double med[3], fast[3];
                time_steps(&one, B ? &many : NULL, steps ? &run : NULL, rounds, ms, med, fast);
                double t = med[0];
                char name[32];
                snprintf(name, sizeof name, "%zux%zu", I, H);
                printf("%9s %5s %7s | %12.1f %8.2f %8.2f | %12.1f", name, plist[pi]->name,
                       grt_isa_name(levels[li]), t, ops / t, param_bytes(prec, (double)I, (double)H) / t, fast[0]);
                if (B)
                    printf(" | %14.1f %7.2fx | %12.1f %7.2fx", med[1] / (double)B, t / (med[1] / (double)B),
                           fast[1] / (double)B, fast[0] / (fast[1] / (double)B));
                if (steps) {
                    double T = (double)steps;
                    printf(" | %12.1f %7.2fx | %12.1f %7.2fx", med[2] / T, med[2] / T / t, fast[2] / T,
                           fast[2] / T / fast[0]);
                }
                printf("\n");
                fflush(stdout);
            }
            free(streams), free(ptrs), free(work_base), free(rwork_base);
            free(x), free(y), free(smem_base), free(blob_mem);
        }
    }
    grt_isa_select(best);
    return 0;
}
