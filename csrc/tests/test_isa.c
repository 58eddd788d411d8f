/* Run-time ISA dispatch: for every level this CPU supports, matvec/matmul against the scalar variant
 * at awkward sizes, matmul == matvec bit for bit within the level, and grt_stream_run == T ×
 * grt_stream_step bit for bit with the level active; grt_isa_select rejects unknown levels and agrees
 * with grt_isa_supported. Levels the CPU lacks are skipped (listed, not failed). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "grt_kernels.h"
#include "grt_math.h"
#include "test_util.h"

#if GRT_HAS_F32
static const size_t sizes[] = {1, 2, 3, 5, 7, 8, 15, 16, 17, 31, 33, 63, 65, 127, 129, 257, 300};
#define N_SIZES (sizeof sizes / sizeof sizes[0])
#define REL_TOL 1e-6

static void fill(rng *r, float *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        v[i] = rng_uniform(r, -1.0f, 1.0f);
}

/* Is the level usable here? Selecting it is the test (restores the previous level). */
static int isa_available(grt_isa isa)
{
    grt_isa prev = grt_isa_active();
    if (grt_isa_select(isa) != GRT_OK)
        return 0;
    CHECK(grt_isa_select(prev) == GRT_OK);
    return 1;
}
#endif

/* What the build says about a level's presence (the CPU may still lack it). */
static int in_build(grt_isa isa)
{
    switch (isa) {
    case GRT_ISA_SCALAR: return 1;
    case GRT_ISA_AVX2: return GRT_HAVE_AVX2;
    case GRT_ISA_NEON: return GRT_HAVE_NEON;
    case GRT_ISA_NEON_DOT: return GRT_HAVE_NEON_DOT;
    case GRT_ISA_AVXVNNI: return GRT_HAVE_AVXVNNI;
    case GRT_ISA_AVX512VNNI: return GRT_HAVE_AVX512VNNI;
    default: return 0;
    }
}

static void test_api(void)
{
    static const char *const expected[GRT_ISA_COUNT] = {"scalar", "avx2", "neon", "neon_dot", "avxvnni",
                                                              "avx512vnni"};
    grt_isa best = grt_isa_best(), prev = grt_isa_active();
    CHECK((unsigned)best < GRT_ISA_COUNT);
    for (unsigned k = 0; k < GRT_ISA_COUNT; k++)
        CHECK(strcmp(grt_isa_name((grt_isa)k), expected[k]) == 0);
    CHECK(strcmp(grt_isa_name((grt_isa)GRT_ISA_COUNT), "?") == 0);
    CHECK(strcmp(grt_isa_name((grt_isa)-1), "?") == 0);
    CHECK(grt_isa_select((grt_isa)GRT_ISA_COUNT) == GRT_E_ARG);
    CHECK(grt_isa_select((grt_isa)99) == GRT_E_ARG);
    CHECK(grt_isa_select((grt_isa)-1) == GRT_E_ARG);
    CHECK(!grt_isa_supported((grt_isa)GRT_ISA_COUNT) && !grt_isa_supported((grt_isa)-1));
    CHECK(grt_isa_active() == prev); /* a rejected select changes nothing */
    CHECK(grt_isa_select(GRT_ISA_SCALAR) == GRT_OK);
    CHECK(grt_isa_active() == GRT_ISA_SCALAR);
    /* grt_isa_supported says what grt_isa_select does; a level missing from the build is never
     * supported; best is the highest supported level. */
    for (unsigned k = 0; k < GRT_ISA_COUNT; k++) {
        grt_isa isa = (grt_isa)k;
        int sup = grt_isa_supported(isa);
        CHECK(sup == (grt_isa_select(isa) == GRT_OK));
        CHECK(in_build(isa) || !sup);
        CHECK(!sup || k <= (unsigned)best);
        CHECK(grt_isa_active() == (sup ? isa : GRT_ISA_SCALAR));
        CHECK(grt_isa_select(GRT_ISA_SCALAR) == GRT_OK);
    }
    CHECK(grt_isa_supported(best));
    CHECK(grt_isa_select(best) == GRT_OK);
    CHECK(grt_isa_active() == best);
#if GRT_HAS_F32
    CHECK(grt_isa_matvec(GRT_ISA_SCALAR) == grt_matvec_f32_scalar);
    CHECK(grt_isa_matvec((grt_isa)GRT_ISA_COUNT) == NULL);
#if GRT_HAVE_NEON
    CHECK(grt_isa_matvec(GRT_ISA_NEON) == grt_matvec_f32_neon);
    CHECK(grt_isa_matmul(GRT_ISA_NEON) == grt_matmul_f32_neon);
    CHECK(grt_isa_matvec_p8(GRT_ISA_NEON) == grt_matvec_f32_p8_neon);
    CHECK(grt_isa_matmul_p8(GRT_ISA_NEON) == grt_matmul_f32_p8_neon);
#endif
#if GRT_HAVE_NEON_DOT /* f32 has no dot-product variant: the same kernels */
    CHECK(grt_isa_matvec(GRT_ISA_NEON_DOT) == grt_matvec_f32_neon);
    CHECK(grt_isa_matmul(GRT_ISA_NEON_DOT) == grt_matmul_f32_neon);
    CHECK(grt_isa_matvec_p8(GRT_ISA_NEON_DOT) == grt_matvec_f32_p8_neon);
    CHECK(grt_isa_matmul_p8(GRT_ISA_NEON_DOT) == grt_matmul_f32_p8_neon);
#endif
#if GRT_HAVE_NEON /* no NEON activations yet: the scalar ones at both levels */
    CHECK(grt_isa_act(GRT_ISA_NEON) == grt_act_apply_scalar);
    CHECK(!GRT_HAVE_NEON_DOT || grt_isa_act(GRT_ISA_NEON_DOT) == grt_act_apply_scalar);
#endif
#endif
    /* AArch64 always has NEON; without a SIMD level in the build (other targets, GRT_NO_*_SIMD) the
     * scalar level is the only one. */
    if (GRT_HAVE_NEON)
        CHECK(grt_isa_supported(GRT_ISA_NEON) && (best == GRT_ISA_NEON || best == GRT_ISA_NEON_DOT));
    if (!GRT_HAVE_AVX2 && !GRT_HAVE_NEON)
        CHECK(best == GRT_ISA_SCALAR);
    CHECK(grt_isa_select(prev) == GRT_OK);
}

#if GRT_HAS_F32
/* W (rows x cols, row-major) in the panel8 layout (docs/FORMAT.md): zero rows pad the last panel. */
static float *to_panels(const float *W, size_t rows, size_t cols)
{
    size_t padded = (rows + 7) / 8 * 8;
    float *P = calloc(padded * cols, sizeof(float));
    for (size_t i = 0; i < rows; i++)
        for (size_t k = 0; k < cols; k++)
            P[(i / 8) * 8 * cols + 8 * k + i % 8] = W[i * cols + k];
    return P;
}

/* matvec of the level (row-major, or panel8 on the same matrix) vs the scalar row-major variant,
 * and matmul == matvec within the level; neither writes past its rows. */
static void test_kernels_vs_scalar(grt_isa isa, int panel)
{
    static const size_t steps[] = {1, 3, 4, 9, 17};
    grt_matvec_fn mv = panel ? grt_isa_matvec_p8(isa) : grt_isa_matvec(isa);
    grt_matmul_fn mm = panel ? grt_isa_matmul_p8(isa) : grt_isa_matmul(isa);
    const char *what = panel ? "panel8" : "row-major";
    rng r = {1234};
    int close_ok = 1, exact_ok = 1;
    CHECK(mv != NULL && mm != NULL);
    if (!mv || !mm)
        return;
    for (size_t a = 0; a < N_SIZES; a++) {
        for (size_t c = 0; c < N_SIZES; c++) {
            size_t rows = sizes[a], cols = sizes[c];
            float *W = malloc(rows * cols * sizeof(float)), *b = malloc(rows * sizeof(float));
            float *x = malloc(cols * sizeof(float));
            float *y = malloc((rows + 1) * sizeof(float)), *ys = malloc(rows * sizeof(float));
            fill(&r, W, rows * cols);
            fill(&r, b, rows);
            fill(&r, x, cols);
            float *M = panel ? to_panels(W, rows, cols) : W; /* what the kernels read */
            y[rows] = 12345.0f;
            mv(y, M, b, x, rows, cols);
            CHECK(y[rows] == 12345.0f);
            grt_matvec_f32_scalar(ys, W, b, x, rows, cols);
            for (size_t i = 0; i < rows; i++) {
                double mag = fabs((double)b[i]);
                for (size_t j = 0; j < cols; j++)
                    mag += fabs((double)W[i * cols + j] * x[j]);
                if (fabs((double)y[i] - (double)ys[i]) > REL_TOL * mag) {
                    close_ok = 0;
                    fprintf(stderr, "  %s %s matvec %zux%zu row %zu: %.9g vs scalar %.9g\n",
                            grt_isa_name(isa), what, rows, cols, i, y[i], ys[i]);
                }
            }
            for (size_t s = 0; s < sizeof steps / sizeof steps[0]; s++) {
                size_t T = steps[s], ldx = cols + 3, ldy = rows + 2;
                float *X = malloc(T * ldx * sizeof(float)), *Y = malloc(T * ldy * sizeof(float));
                float *yt = malloc(rows * sizeof(float));
                fill(&r, X, T * ldx);
                memset(Y, 0x7F, T * ldy * sizeof(float));
                mm(Y, ldy, M, b, X, ldx, rows, cols, T);
                for (size_t t = 0; t < T; t++) {
                    mv(yt, M, b, X + t * ldx, rows, cols);
                    if (memcmp(yt, Y + t * ldy, rows * sizeof(float)) != 0) {
                        exact_ok = 0;
                        fprintf(stderr, "  %s %s matmul %zux%zu T=%zu step %zu differs from matvec\n",
                                grt_isa_name(isa), what, rows, cols, T, t);
                    }
                    for (size_t k = rows; k < ldy; k++) { /* padding untouched */
                        uint32_t bits;
                        memcpy(&bits, Y + t * ldy + k, 4);
                        if (bits != 0x7F7F7F7Fu)
                            exact_ok = 0;
                    }
                }
                free(X), free(Y), free(yt);
            }
            if (panel)
                free(M);
            free(W), free(b), free(x), free(y), free(ys);
        }
    }
    CHECK(close_ok);
    CHECK(exact_ok);
}

#endif /* GRT_HAS_F32 */

void test_isa(void)
{
    test_api();
#if GRT_HAS_F32
    grt_isa prev = grt_isa_active();
    printf("  isa levels tested (f32):");
    for (unsigned k = 0; k < GRT_ISA_COUNT; k++) {
        grt_isa isa = (grt_isa)k;
        if (!isa_available(isa))
            continue;
        printf(" %s", grt_isa_name(isa));
        fflush(stdout);
        test_kernels_vs_scalar(isa, 0);
        test_kernels_vs_scalar(isa, 1);
        CHECK(grt_isa_select(isa) == GRT_OK);
        test_run_equals_step();
        test_panel_layout_stream();
    }
    printf("; not available on this CPU/build:");
    for (unsigned k = 0; k < GRT_ISA_COUNT; k++)
        if (!isa_available((grt_isa)k))
            printf(" %s", grt_isa_name((grt_isa)k));
    printf("\n");
    CHECK(grt_isa_select(prev) == GRT_OK);
#else
    SKIPPED("f32 kernels per level (GRT_NO_F32)");
#endif
}
